use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::*;
use crate::proto::{Api, Location, Message, ServiceDescriptor};
use crate::{Binary, Timestamp};

const HERE: Location = Location {
    path: "ts::tests",
    file: file!(),
    line: 0,
};

fn export(descriptors: &[&'static ServiceDescriptor]) -> Result<TsExport, TsExportError> {
    let table = ServiceTable::from_descriptors(descriptors.iter().copied()).unwrap();
    export_typescript(&table)
}

fn proto(export: &TsExport) -> Value {
    serde_json::from_str(export.service_proto_json()).unwrap()
}

fn text<'a>(export: &'a TsExport, path: &str) -> &'a str {
    &export
        .file(path)
        .unwrap_or_else(|| panic!("no {path} in {:?}", export.files()))
        .contents
}

/// The schema of property `name` of schema `id`.
fn property(proto: &Value, id: &str, name: &str) -> Value {
    let props = proto["types"][id]["properties"].as_array().unwrap();
    props
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no property {name} in {id}: {props:?}"))
        .clone()
}

macro_rules! api {
    ($static:ident, $req:ident, $res:ty, $name:literal, { $($f:ident: $t:ty),* $(,)? }) => {
        #[derive(Serialize, Deserialize)]
        #[allow(dead_code)]
        struct $req { $($f: $t),* }
        impl Api for $req {
            const NAME: &'static str = $name;
            type Res = $res;
        }
        pub(super) static $static: ServiceDescriptor = ServiceDescriptor::api::<$req>(HERE);
    };
}

#[derive(Serialize, Deserialize)]
struct ResEmpty {}

#[derive(Serialize, Deserialize, PartialEq, Eq, Hash)]
#[allow(dead_code)]
enum Color {
    Red,
    Green,
}

#[derive(Serialize, Deserialize)]
#[allow(dead_code)]
enum Shape {
    Dot,
    Circle(f64),
    Line(i32, i32),
    Rect { w: u32, label: Option<String> },
}

#[derive(Serialize, Deserialize)]
struct Point {
    x: i32,
    y: i32,
}

#[derive(Serialize, Deserialize, PartialEq, Eq, Hash)]
struct UserId(String);

#[derive(Serialize, Deserialize)]
struct Tree {
    label: String,
    children: Vec<Tree>,
}

api!(SCALARS, ReqScalars, ResEmpty, "Scalars", {
    s: String, c: char, b: bool,
    i8: i8, i16: i16, i32: i32, i64: i64,
    u8: u8, u16: u16, u32: u32, u64: u64,
    f32: f32, f64: f64, unit: (),
});

#[test]
fn scalars() {
    let export = export(&[&SCALARS]).unwrap();
    let proto = proto(&export);
    let id = "PtlScalars/ReqScalars";
    for (name, schema) in [
        ("s", json!({"type": "String"})),
        ("c", json!({"type": "String"})),
        ("b", json!({"type": "Boolean"})),
        ("f32", json!({"type": "Number"})),
        ("f64", json!({"type": "Number"})),
        ("unit", json!({"type": "Literal", "literal": null})),
    ] {
        assert_eq!(property(&proto, id, name)["type"], schema, "{name}");
    }
    for name in ["i8", "i16", "i32", "i64"] {
        let schema = json!({"type": "Number", "scalarType": "int"});
        assert_eq!(property(&proto, id, name)["type"], schema, "{name}");
    }
    for name in ["u8", "u16", "u32", "u64"] {
        let schema = json!({"type": "Number", "scalarType": "uint"});
        assert_eq!(property(&proto, id, name)["type"], schema, "{name}");
    }
    assert_eq!(
        property(&proto, id, "s"),
        json!({"id": 0, "name": "s", "type": {"type": "String"}})
    );
    let ts = text(&export, "PtlScalars.ts");
    assert!(
        ts.contains("import { int, uint } from 'tsrpc-proto';"),
        "{ts}"
    );
    for line in [
        "    s: string;",
        "    c: string;",
        "    b: boolean;",
        "    i64: int;",
        "    u8: uint;",
        "    f32: number;",
        "    unit: null;",
    ] {
        assert!(ts.contains(line), "{line} in {ts}");
    }
    assert!(ts.contains("export interface ResScalars {}"), "{ts}");
    assert_eq!(
        proto["types"]["PtlScalars/ResScalars"],
        json!({"type": "Interface"})
    );
}

api!(OPTIONS, ReqOptions, ResEmpty, "Options", {
    a: Option<String>,
    b: Option<Option<u32>>,
    list: Vec<Option<bool>>,
});

#[test]
fn options_are_optional_properties_and_nullable_elsewhere() {
    let export = export(&[&OPTIONS]).unwrap();
    let proto = proto(&export);
    let id = "PtlOptions/ReqOptions";
    assert_eq!(
        property(&proto, id, "a"),
        json!({"id": 0, "name": "a", "optional": true, "type": {"type": "String"}})
    );
    let nullable_uint = json!({"type": "Union", "members": [
        {"id": 0, "type": {"type": "Number", "scalarType": "uint"}},
        {"id": 1, "type": {"type": "Literal", "literal": null}},
    ]});
    assert_eq!(property(&proto, id, "b")["type"], nullable_uint);
    assert_eq!(property(&proto, id, "b")["optional"], true);
    assert_eq!(
        property(&proto, id, "list")["type"]["elementType"]["members"][1]["type"],
        json!({"type": "Literal", "literal": null})
    );
    let ts = text(&export, "PtlOptions.ts");
    assert!(ts.contains("    a?: string;"), "{ts}");
    assert!(ts.contains("    b?: uint | null;"), "{ts}");
    assert!(ts.contains("    list: (boolean | null)[];"), "{ts}");
}

#[derive(Serialize, Deserialize)]
struct MaybeCount(Option<u32>);

#[derive(Serialize, Deserialize)]
struct Chain(Option<Box<Chain>>);

api!(NULLABLE_NEWTYPE, ReqNullableNewtype, ResEmpty, "NullableNewtype", {
    count: MaybeCount,
    chain: Chain,
});

/// A newtype that may be `null` is written out where it is used, since
/// TSRPC does not follow references to ask whether `null` may be sent.
#[test]
fn nullable_newtypes_are_written_out() {
    let export = export(&[&NULLABLE_NEWTYPE]).unwrap();
    let proto = proto(&export);
    let count = property(&proto, "PtlNullableNewtype/ReqNullableNewtype", "count");
    assert_eq!(count["type"]["type"], "Union", "{count}");
    assert_eq!(count.get("optional"), None, "{count}");
    let ts = text(&export, "PtlNullableNewtype.ts");
    assert!(ts.contains("count: MaybeCount;"), "{ts}");
    assert!(text(&export, "types.ts").contains("export type MaybeCount = uint | null;"));
    // One that holds itself refers to itself inside.
    let chain = property(&proto, "PtlNullableNewtype/ReqNullableNewtype", "chain");
    assert_eq!(
        chain["type"]["members"][0]["type"],
        json!({"type": "Reference", "target": "types/Chain"}),
        "{chain}"
    );
}

api!(COLLECTIONS, ReqCollections, ResEmpty, "Collections", {
    tags: Vec<String>,
    matrix: Vec<Vec<f64>>,
    scores: HashMap<String, f64>,
    by_id: BTreeMap<u64, String>,
    by_user: HashMap<UserId, bool>,
    by_color: HashMap<Color, u8>,
    pair: (String, u8),
    rgb: [u8; 3],
    bytes: Vec<u8>,
});

#[test]
fn sequences_maps_and_tuples() {
    let export = export(&[&COLLECTIONS]).unwrap();
    let proto = proto(&export);
    let id = "PtlCollections/ReqCollections";
    assert_eq!(
        property(&proto, id, "tags")["type"],
        json!({"type": "Array", "elementType": {"type": "String"}})
    );
    assert_eq!(
        property(&proto, id, "matrix")["type"]["elementType"]["elementType"],
        json!({"type": "Number"})
    );
    assert_eq!(
        property(&proto, id, "scores")["type"],
        json!({"type": "Interface", "indexSignature": {"keyType": "String", "type": {"type": "Number"}}})
    );
    assert_eq!(
        property(&proto, id, "by_id")["type"]["indexSignature"]["keyType"],
        "Number"
    );
    assert_eq!(
        property(&proto, id, "by_user")["type"]["indexSignature"]["keyType"],
        "String"
    );
    assert_eq!(
        property(&proto, id, "by_color")["type"]["indexSignature"]["keyType"],
        "String"
    );
    assert_eq!(
        property(&proto, id, "pair")["type"],
        json!({"type": "Tuple", "elementTypes": [{"type": "String"}, {"type": "Number", "scalarType": "uint"}]})
    );
    assert_eq!(
        property(&proto, id, "rgb")["type"]["elementTypes"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        property(&proto, id, "bytes")["type"],
        json!({"type": "Array", "elementType": {"type": "Number", "scalarType": "uint"}})
    );
    let ts = text(&export, "PtlCollections.ts");
    for line in [
        "    tags: string[];",
        "    matrix: number[][];",
        "    scores: { [key: string]: number };",
        "    by_id: { [key: number]: string };",
        "    pair: [string, uint];",
        "    rgb: [uint, uint, uint];",
        "    bytes: uint[];",
    ] {
        assert!(ts.contains(line), "{line} in {ts}");
    }
}

api!(NAMED, ReqNamed, ResNamed, "user/Named", {
    at: Timestamp,
    data: Binary,
    maybe_data: Option<Binary>,
    point: Point,
    color: Color,
    shape: Shape,
    user: UserId,
    tree: Tree,
});

#[derive(Serialize, Deserialize)]
struct ResNamed {
    points: Vec<Point>,
}

#[test]
fn named_types_special_types_and_enums() {
    let export = export(&[&NAMED]).unwrap();
    let proto = proto(&export);
    let id = "user/PtlNamed/ReqNamed";
    assert_eq!(property(&proto, id, "at")["type"], json!({"type": "Date"}));
    assert_eq!(
        property(&proto, id, "data")["type"],
        json!({"type": "Buffer", "arrayType": "Uint8Array"})
    );
    assert_eq!(property(&proto, id, "maybe_data")["optional"], true);
    assert_eq!(
        property(&proto, id, "point")["type"],
        json!({"type": "Reference", "target": "types/Point"})
    );
    assert_eq!(
        proto["types"]["types/Point"],
        json!({"type": "Interface", "properties": [
            {"id": 0, "name": "x", "type": {"type": "Number", "scalarType": "int"}},
            {"id": 1, "name": "y", "type": {"type": "Number", "scalarType": "int"}},
        ]})
    );
    assert_eq!(
        proto["types"]["types/Color"],
        json!({"type": "Union", "members": [
            {"id": 0, "type": {"type": "Literal", "literal": "Red"}},
            {"id": 1, "type": {"type": "Literal", "literal": "Green"}},
        ]})
    );
    let shape = &proto["types"]["types/Shape"]["members"];
    assert_eq!(
        shape[0]["type"],
        json!({"type": "Literal", "literal": "Dot"})
    );
    assert_eq!(
        shape[1]["type"],
        json!({"type": "Interface", "properties": [
            {"id": 0, "name": "Circle", "type": {"type": "Number"}}
        ]})
    );
    assert_eq!(shape[2]["type"]["properties"][0]["type"]["type"], "Tuple");
    assert_eq!(
        shape[3]["type"]["properties"][0]["type"]["properties"][1],
        json!({"id": 1, "name": "label", "optional": true, "type": {"type": "String"}})
    );
    assert_eq!(proto["types"]["types/UserId"], json!({"type": "String"}));
    assert_eq!(
        proto["types"]["types/Tree"]["properties"][1]["type"],
        json!({"type": "Array", "elementType": {"type": "Reference", "target": "types/Tree"}})
    );
    assert_eq!(
        proto["types"]["user/PtlNamed/ResNamed"]["properties"][0]["type"]["elementType"],
        json!({"type": "Reference", "target": "types/Point"})
    );
    assert_eq!(
        proto["services"],
        json!([{"id": 0, "name": "user/Named", "type": "api"}])
    );

    let ptl = text(&export, "user/PtlNamed.ts");
    assert!(
        ptl.contains("import { Color, Point, Shape, Tree, UserId } from '../types';"),
        "{ptl}"
    );
    for line in [
        "    at: Date;",
        "    data: Uint8Array;",
        "    maybe_data?: Uint8Array;",
        "    point: Point;",
        "    color: Color;",
    ] {
        assert!(ptl.contains(line), "{line} in {ptl}");
    }
    let types = text(&export, "types.ts");
    for line in [
        "import { int, uint } from 'tsrpc-proto';",
        "export type Color = \"Red\" | \"Green\";",
        "export type Shape = \"Dot\" | { Circle: number } | { Line: [int, int] } | { Rect: { w: uint; label?: string } };",
        "export type UserId = string;",
        "export interface Tree {\n    label: string;\n    children: Tree[];\n}",
    ] {
        assert!(types.contains(line), "{line} in {types}");
    }
    let service_proto = text(&export, "serviceProto.ts");
    assert!(
        service_proto.contains("import { ReqNamed, ResNamed } from './user/PtlNamed';"),
        "{service_proto}"
    );
    assert!(
        service_proto.contains(
            "\"user/Named\": {\n            req: ReqNamed,\n            res: ResNamed\n        }"
        ),
        "{service_proto}"
    );
    assert!(
        service_proto.contains("export const serviceProto: ServiceProto<ServiceType> = {"),
        "{service_proto}"
    );
}

#[derive(Serialize, Deserialize)]
struct MsgNote {
    text: String,
    #[serde(rename = "my-field")]
    my_field: u8,
}
impl Message for MsgNote {
    const NAME: &'static str = "room/Note";
}
static NOTE: ServiceDescriptor = ServiceDescriptor::msg::<MsgNote>(HERE);

// Request type not named ReqXxx, and an API sharing the name of another
// service's folder.
api!(SEND_A, SendA, ResEmpty, "Send", { a: String });
api!(SEND_B, SendB, ResEmpty, "room/Send", { b: String });

#[test]
fn files_names_and_aliases_follow_tsrpc() {
    let export = export(&[&NOTE, &SEND_A, &SEND_B]).unwrap();
    let paths: Vec<&str> = export.files().iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "PtlSend.ts",
            "room/MsgNote.ts",
            "room/PtlSend.ts",
            "serviceProto.json",
            "serviceProto.ts"
        ]
    );
    let proto = proto(&export);
    let types: Vec<&String> = proto["types"].as_object().unwrap().keys().collect();
    assert_eq!(
        types,
        [
            "PtlSend/ReqSend",
            "PtlSend/ResSend",
            "room/MsgNote/MsgNote",
            "room/PtlSend/ReqSend",
            "room/PtlSend/ResSend"
        ]
    );
    let note = text(&export, "room/MsgNote.ts");
    assert!(note.contains("export interface MsgNote {"), "{note}");
    assert!(note.contains("    \"my-field\": uint;"), "{note}");
    let sp = text(&export, "serviceProto.ts");
    assert!(
        sp.contains("import { ReqSend, ResSend } from './PtlSend';"),
        "{sp}"
    );
    assert!(
        sp.contains("import { ReqSend as ReqSend_1, ResSend as ResSend_1 } from './room/PtlSend';"),
        "{sp}"
    );
    assert!(sp.contains("\"room/Note\": MsgNote"), "{sp}");
    let json_file = text(&export, "serviceProto.json");
    assert_eq!(json_file.trim_end(), export.service_proto_json());

    let dir = std::env::temp_dir().join(format!("tsrpc-ts-test-{}", std::process::id()));
    export.write_to(&dir).unwrap();
    let written = std::fs::read_to_string(dir.join("room").join("PtlSend.ts")).unwrap();
    assert_eq!(written, text(&export, "room/PtlSend.ts"));
    std::fs::remove_dir_all(&dir).unwrap();
}

mod user {
    use super::*;
    api!(LOGIN, ReqLogin, ResEmpty, "user/Login", { name: String });
}
mod admin {
    use super::*;
    api!(LOGIN, ReqLogin, ResEmpty, "admin/Login", { key: u64 });
}

#[test]
fn root_types_may_share_a_rust_name() {
    let export = export(&[&user::LOGIN, &admin::LOGIN]).unwrap();
    assert!(text(&export, "user/PtlLogin.ts").contains("    name: string;"));
    assert!(text(&export, "admin/PtlLogin.ts").contains("    key: uint;"));
    let sp = text(&export, "serviceProto.ts");
    assert!(
        sp.contains(
            "import { ReqLogin as ReqLogin_1, ResLogin as ResLogin_1 } from './user/PtlLogin';"
        ),
        "{sp}"
    );
}

// A root type used inside itself: shared in types.ts, aliased in its file.
api!(TREE, ReqTree, ResEmpty, "Tree", { children: Vec<ReqTree> });

#[test]
fn a_recursive_root_is_imported_under_another_name() {
    let export = export(&[&TREE]).unwrap();
    let ptl = text(&export, "PtlTree.ts");
    assert!(
        ptl.contains("import { ReqTree as ReqTree_1 } from './types';"),
        "{ptl}"
    );
    assert!(ptl.contains("    children: ReqTree_1[];"), "{ptl}");
    let proto = proto(&export);
    assert_eq!(
        proto["types"]["types/ReqTree"]["properties"][0]["type"]["elementType"]["target"],
        "types/ReqTree"
    );
}

#[derive(Serialize, Deserialize)]
#[serde(rename = "Date")]
struct MyDate {
    d: u8,
}
api!(BAD_KEYS, ReqBadKeys, ResEmpty, "BadKeys", { m: HashMap<bool, u8>, n: BTreeMap<(u8, u8), u8> });
api!(BAD_NAME, ReqBadName, ResEmpty, "BadName", { d: MyDate });
api!(BAD_SERVICE, ReqBadService, ResEmpty, "a/bad-name", { x: u8 });
api!(DOTS, ReqDots, ResEmpty, "../Dots", { x: u8 });

#[test]
fn shapes_without_a_typescript_form_are_left_out_and_named() {
    let export = export(&[&BAD_KEYS, &BAD_NAME, &BAD_SERVICE, &DOTS, &NAMED]).unwrap();
    let problems = export.left_out().join("\n");
    assert_eq!(export.left_out().len(), 4, "{problems}");
    // The rest is exported, and only the rest.
    assert!(export.file("user/PtlNamed.ts").is_some());
    assert!(export.file("PtlBadKeys.ts").is_none());
    assert!(!export.service_proto_json().contains("BadKeys"));
    assert!(
        problems.contains("API \"../Dots\": `..` in the name cannot be a folder"),
        "{problems}"
    );
    assert!(
        problems.contains(
            "API \"BadKeys\": `ReqBadKeys.m`: map keys of type `bool` have no TypeScript form"
        ),
        "{problems}"
    );
    assert!(
        problems.contains("type name `Date` is reserved"),
        "{problems}"
    );
    assert!(
        problems.contains("API \"a/bad-name\": the last segment of the name, `bad-name`"),
        "{problems}"
    );
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Loose {
    A(u32),
}
api!(LOOSE, ReqLoose, ResEmpty, "Loose", { l: Loose });

mod other {
    use serde::{Deserialize, Serialize};
    #[derive(Serialize, Deserialize)]
    pub(super) struct Point {
        pub(super) z: String,
    }
}
api!(CLASH, ReqClash, ResEmpty, "Clash", { p: other::Point });
api!(POISON, ReqPoison, ResEmpty, "APoison", { p: other::Point, m: HashMap<bool, u8> });

#[derive(Serialize, Deserialize)]
#[serde(tag = "type")]
#[allow(dead_code)]
enum Tagged {
    Circle { r: f64 },
    Square { side: f64 },
}
api!(TAGGED, ReqTagged, ResEmpty, "Tagged", { t: Tagged });

/// A shared type with no TypeScript form.
#[derive(Serialize, Deserialize)]
struct Keyed {
    m: HashMap<bool, u8>,
}
api!(KEYED_A, ReqKeyedA, ResEmpty, "KeyedA", { k: Keyed });
api!(KEYED_B, ReqKeyedB, ResEmpty, "KeyedB", { k: Keyed });

#[test]
fn untraceable_services_and_name_clashes_are_left_out_and_named() {
    let out = export(&[&LOOSE, &TAGGED, &NAMED]).unwrap();
    let left_out = out.left_out().join("\n");
    assert!(
        left_out.contains("API \"Loose\": cannot trace"),
        "{left_out}"
    );
    // An internally tagged enum needs the input to describe itself: the
    // tracer cannot learn its variants' fields.
    assert!(
        left_out.contains("API \"Tagged\": cannot trace"),
        "{left_out}"
    );
    assert!(out.file("user/PtlNamed.ts").is_some());

    let out = export(&[&NAMED, &CLASH]).unwrap();
    assert_eq!(
        out.left_out(),
        [
            "API \"user/Named\": `ReqNamed.point`: two different types are named `Point` (in API \"Clash\" and in API \"user/Named\"): rename one with #[serde(rename = \"...\")]"
        ]
    );
    assert!(out.file("PtlClash.ts").is_some());

    // A shared type that cannot be exported leaves out every service using it.
    let out = export(&[&KEYED_A, &KEYED_B, &NAMED]).unwrap();
    assert_eq!(out.left_out().len(), 2, "{:?}", out.left_out());
    assert!(
        out.left_out()[0].starts_with("API \"KeyedA\": type `Keyed` (used by API \"KeyedA\")"),
        "{:?}",
        out.left_out()
    );
    assert!(out.file("PtlKeyedB.ts").is_none());
    assert!(!out.file("types.ts").unwrap().contents.contains("Keyed"));
    assert!(out.file("user/PtlNamed.ts").is_some());
    // A service that fails after sharing a type does not hold that type
    // against the services after it.
    let out = export(&[&POISON, &NAMED]).unwrap();
    assert_eq!(out.left_out().len(), 1, "{:?}", out.left_out());
    assert!(out.left_out()[0].starts_with("API \"APoison\""));
    assert!(out.file("user/PtlNamed.ts").is_some());

    // Filtering exports one of them only.
    let table = ServiceTable::from_descriptors([&NAMED, &CLASH]).unwrap();
    let export = export_typescript_filtered(&table, |s| s.name() == "Clash").unwrap();
    assert!(export.file("PtlClash.ts").is_some());
    assert!(export.file("user/PtlNamed.ts").is_none());
}

api!(FOREST, ReqForest, ResEmpty, "ids/Forest", {
    tree: Tree,
    maybe: Option<i32>,
    shape: Shape,
});

/// The ids `previous` gives `table`'s types, or the differences.
fn keep_ids(descriptors: &[&'static ServiceDescriptor], previous: Value) -> Value {
    let table = ServiceTable::from_descriptors(descriptors.iter().copied()).unwrap();
    let export = export_typescript_keeping_ids(&table, &previous.to_string()).unwrap();
    proto(&export)
}

fn differences(descriptors: &[&'static ServiceDescriptor], previous: Value) -> Vec<String> {
    let table = ServiceTable::from_descriptors(descriptors.iter().copied()).unwrap();
    let services: Vec<&ServiceInfo> = table.iter().collect();
    learn_ids(&table, &services, &previous.to_string())
        .unwrap()
        .differences
}

/// A serviceProto of `ids/Forest` as the export writes it with
/// position ids, the types named as a TSRPC project might name them.
fn forest_proto() -> Value {
    let table = ServiceTable::from_descriptors([&FOREST]).unwrap();
    let text = export_typescript(&table)
        .unwrap()
        .service_proto_json()
        .replace("types/", "models/");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn ids_are_learned_through_references_and_recursion() {
    let mut previous = forest_proto();
    previous["services"][0]["id"] = json!(12);
    let tree = &mut previous["types"]["models/Tree"]["properties"];
    tree[0]["id"] = json!(7); // label
    tree[1]["id"] = json!(3); // children
    let shape = &mut previous["types"]["models/Shape"]["members"];
    shape[3]["id"] = json!(9); // Rect
    shape[3]["type"]["properties"][0]["type"]["properties"][1]["id"] = json!(4); // Rect.label
    // `maybe` is new to the file, which once had a field of id 8.
    let req = &mut previous["types"]["ids/PtlForest/ReqForest"]["properties"];
    req.as_array_mut().unwrap().remove(1);
    req.as_array_mut()
        .unwrap()
        .push(json!({ "id": 8, "name": "gone", "optional": true, "type": { "type": "String" } }));
    assert_eq!(
        differences(&[&FOREST], previous.clone()),
        Vec::<String>::new()
    );

    let out = keep_ids(&[&FOREST, &SCALARS], previous);
    assert_eq!(out["services"][0]["name"], "Scalars");
    // A service the file lacks: after the largest service id.
    assert_eq!(out["services"][0]["id"], 13);
    assert_eq!(out["services"][1]["id"], 12);
    assert_eq!(property(&out, "types/Tree", "label")["id"], 7);
    assert_eq!(property(&out, "types/Tree", "children")["id"], 3);
    let members = &out["types"]["types/Shape"]["members"];
    assert_eq!(
        members
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].clone())
            .collect::<Vec<_>>(),
        [json!(0), json!(1), json!(2), json!(9)]
    );
    assert_eq!(
        members[3]["type"]["properties"][0]["type"]["properties"][1]["id"],
        4
    );
    // `maybe` was not in the file: after the largest id it used, 8.
    assert_eq!(property(&out, "ids/PtlForest/ReqForest", "maybe")["id"], 9);
    assert_eq!(property(&out, "ids/PtlForest/ReqForest", "shape")["id"], 2);
}

#[test]
fn differences_are_named_where_they_are() {
    let base = forest_proto();

    // An optional property sent as a required `null | int`; a property
    // only the file has, optional, is no difference.
    let mut swapped = base.clone();
    swapped["types"]["models/Tree"]["properties"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "id": 5, "name": "note", "optional": true, "type": { "type": "String" } }));
    let maybe = &mut swapped["types"]["ids/PtlForest/ReqForest"]["properties"][1];
    maybe["optional"] = json!(false);
    maybe["type"] = json!({ "type": "Union", "members": [
        { "id": 0, "type": { "type": "Literal", "literal": null } },
        { "id": 1, "type": { "type": "Number", "scalarType": "int" } } ] });
    assert_eq!(
        differences(&[&FOREST], swapped),
        [
            "`ids/PtlForest/ReqForest.maybe`: Number (int) in Rust, Union in the serviceProto",
            "`ids/PtlForest/ReqForest.maybe`: optional in Rust, required in the serviceProto",
        ]
    );

    // An interface that extends another; a variant the Rust enum lacks; a
    // scalar of another kind.
    let mut other = base.clone();
    other["types"]["models/Tree"]["extends"] =
        json!([{ "id": 0, "type": { "type": "Reference", "target": "models/Base" } }]);
    other["types"]["models/Base"] = json!({ "type": "Interface", "properties": [
        { "id": 0, "name": "token", "optional": true, "type": { "type": "String" } }] });
    // An empty base, as TSRPC's templates write `BaseRequest`, changes no bytes.
    other["types"]["ids/PtlForest/ReqForest"]["extends"] =
        json!([{ "id": 0, "type": { "type": "Reference", "target": "models/Empty" } }]);
    other["types"]["models/Empty"] = json!({ "type": "Interface" });
    other["types"]["models/Shape"]["members"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "id": 4, "type": { "type": "Literal", "literal": "Star" } }));
    other["types"]["models/Shape"]["members"][1]["type"]["properties"][0]["type"] =
        json!({ "type": "Number", "scalarType": "int" });
    assert_eq!(
        differences(&[&FOREST], other),
        [
            "`ids/PtlForest/ReqForest.shape<Circle>.Circle`: Number (double) in Rust, Number (int) in the serviceProto",
            "`ids/PtlForest/ReqForest.shape`: the serviceProto's union has 1 member(s) that Rust does not",
            "`ids/PtlForest/ReqForest.tree`: the serviceProto's interface extends models/Base, whose properties TSBuffer writes in a block of their own, which a Rust struct has no form for yet (extending only empty interfaces, as TSRPC's `BaseRequest`, is fine)",
        ]
    );

    // Ids used twice would give two fields one block; ids too large for a
    // block header are refused.
    let mut twice = base.clone();
    twice["services"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "id": 0, "name": "ids/Other", "type": "api" }));
    twice["types"]["models/Tree"]["properties"][1]["id"] = json!(0);
    twice["types"]["models/Shape"]["members"][2]["id"] = json!(1u64 << 40);
    assert_eq!(
        differences(&[&FOREST], twice),
        [
            "`ids/PtlForest/ReqForest.tree`: property id 0 is used twice",
            "`ids/PtlForest/ReqForest.shape`: union member id 1099511627776 is larger than 2147483648",
            "`services`: service id 0 is used twice",
        ]
        .map(String::from)
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );

    // Not a serviceProto at all.
    let table = ServiceTable::from_descriptors([&FOREST]).unwrap();
    let err = export_typescript_keeping_ids(&table, "{").unwrap_err();
    assert!(
        err.problems()[0].starts_with("the serviceProto is neither JSON nor"),
        "{err}"
    );
    let err = export_typescript_keeping_ids(&table, "{}").unwrap_err();
    assert_eq!(err.problems(), ["the serviceProto has no `services` list"]);
}
