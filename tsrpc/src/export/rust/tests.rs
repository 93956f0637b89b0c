use serde_json::{Value, json};

use super::rust_protocol;

/// A serviceProto of one API `shop/Edit` whose request has `properties`,
/// with `types` besides.
fn proto(properties: Value, types: Value) -> String {
    let mut types = types;
    types["shop/PtlEdit/ReqEdit"] = json!({ "type": "Interface", "properties": properties });
    types["shop/PtlEdit/ResEdit"] = json!({ "type": "Interface" });
    json!({ "services": [{ "id": 3, "name": "shop/Edit", "type": "api" }], "types": types })
        .to_string()
}

fn module(properties: Value, types: Value) -> String {
    rust_protocol(&proto(properties, types), "serviceProto.json").unwrap()
}

fn problems(properties: Value, types: Value) -> Vec<String> {
    rust_protocol(&proto(properties, types), "serviceProto.json")
        .unwrap_err()
        .problems()
        .to_vec()
}

fn prop(id: u64, name: &str, ty: Value) -> Value {
    json!({ "id": id, "name": name, "type": ty })
}

#[test]
fn services_names_and_scalars() {
    let out = module(
        json!([
            prop(
                0,
                "userId",
                json!({ "type": "Number", "scalarType": "uint" })
            ),
            prop(1, "type", json!({ "type": "Number", "scalarType": "int" })),
            prop(2, "score", json!({ "type": "Number" })),
            prop(3, "ok", json!({ "type": "Boolean" })),
            prop(4, "at", json!({ "type": "Date" })),
            prop(
                5,
                "blob",
                json!({ "type": "Buffer", "arrayType": "Uint8Array" })
            ),
            prop(
                6,
                "pair",
                json!({ "type": "Tuple", "elementTypes": [{ "type": "String" }, { "type": "Number" }] })
            ),
            prop(
                7,
                "tags",
                json!({ "type": "Array", "elementType": { "type": "String" } })
            ),
            prop(
                8,
                "counts",
                json!({ "type": "Interface", "indexSignature": { "keyType": "String", "type": { "type": "Number", "scalarType": "uint" } } })
            ),
        ]),
        json!({}),
    );
    assert!(
        out.contains(
            "/// `shop/PtlEdit/ReqEdit` in the serviceProto.\n\
             #[tsrpc::api(name = \"shop/Edit\", res = ResEdit)]\n\
             #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]\n\
             pub struct ReqEdit {\n\
             \x20   #[serde(rename = \"userId\")]\n\
             \x20   pub user_id: u64,\n\
             \x20   pub r#type: i64,\n\
             \x20   pub score: f64,\n\
             \x20   pub ok: bool,\n\
             \x20   pub at: tsrpc::Timestamp,\n\
             \x20   pub blob: tsrpc::Binary,\n\
             \x20   pub pair: (String, f64),\n\
             \x20   pub tags: Vec<String>,\n\
             \x20   pub counts: std::collections::HashMap<String, u64>,\n\
             }\n"
        ),
        "{out}"
    );
    assert!(out.contains("pub struct ResEdit {\n}\n"), "{out}");
    assert!(
        out.contains("pub const SERVICE_PROTO: &str = r#\"{"),
        "{out}"
    );
}

#[test]
fn options_nullables_and_aliases() {
    let nullable = json!({ "type": "Union", "members": [
        { "id": 0, "type": { "type": "String" } },
        { "id": 1, "type": { "type": "Literal", "literal": null } } ] });
    let out = module(
        json!([
            { "id": 0, "name": "note", "optional": true, "type": { "type": "String" } },
            { "id": 1, "name": "maybe", "optional": true, "type": nullable },
            prop(2, "cleared", nullable.clone()),
            prop(3, "items", json!({ "type": "Array", "elementType": nullable })),
            prop(4, "owner", json!({ "type": "Reference", "target": "shop/models/UserId" })),
        ]),
        json!({ "shop/models/UserId": { "type": "String" } }),
    );
    assert!(out.contains("    pub note: Option<String>,\n"), "{out}");
    // Optional and nullable: an absent property, `null`, or a value.
    assert!(
        out.contains("    pub maybe: Option<Option<String>>,\n"),
        "{out}"
    );
    // Required and nullable: a newtype the export writes out in place.
    assert!(out.contains("    pub cleared: ReqEditCleared,\n"), "{out}");
    assert!(
        out.contains("pub struct ReqEditCleared(pub Option<String>);\n"),
        "{out}"
    );
    assert!(
        out.contains("    pub items: Vec<Option<String>>,\n"),
        "{out}"
    );
    assert!(out.contains("    pub owner: UserId,\n"), "{out}");
    assert!(
        out.contains("/// `shop/models/UserId` in the serviceProto.\n#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]\npub struct UserId(pub String);\n"),
        "{out}"
    );
}

#[test]
fn unions_become_enums_and_names_stay_unique() {
    let out = module(
        json!([
            prop(
                0,
                "kind",
                json!({ "type": "Reference", "target": "shop/models/Kind" })
            ),
            prop(
                1,
                "other",
                json!({ "type": "Reference", "target": "user/Kind" })
            ),
            prop(
                2,
                "mode",
                json!({ "type": "Union", "members": [
                { "id": 1, "type": { "type": "Literal", "literal": "read-only" } },
                { "id": 0, "type": { "type": "Literal", "literal": "Edit" } } ] })
            ),
            prop(
                3,
                "where",
                json!({ "type": "Interface", "properties": [prop(0, "x", json!({ "type": "Number" }))] })
            ),
        ]),
        json!({
            "shop/models/Kind": { "type": "Union", "members": [
                { "id": 0, "type": { "type": "Literal", "literal": "Pickup" } },
                { "id": 1, "type": { "type": "Interface", "properties": [
                    prop(0, "Delivery", json!({ "type": "Interface", "properties": [prop(0, "address", json!({ "type": "String" }))] })) ] } },
                { "id": 2, "type": { "type": "Interface", "properties": [
                    prop(0, "Gift", json!({ "type": "Reference", "target": "user/Kind" })) ] } } ] },
            "user/Kind": { "type": "Interface", "properties": [prop(0, "name", json!({ "type": "String" }))] },
        }),
    );
    assert!(
        out.contains(
            "pub enum Kind {\n    Pickup,\n    Delivery {\n        address: String,\n    },\n    Gift(UserKind),\n}\n"
        ),
        "{out}"
    );
    // The second `Kind` takes its folder's name in front.
    assert!(
        out.contains("pub struct UserKind {\n    pub name: String,\n}\n"),
        "{out}"
    );
    assert!(out.contains("    pub other: UserKind,\n"), "{out}");
    // An inline union and interface are named after their place; members
    // are written in id order, renamed where Rust's name differs.
    assert!(
        out.contains("pub enum ReqEditMode {\n    Edit,\n    #[serde(rename = \"read-only\")]\n    ReadOnly,\n}\n"),
        "{out}"
    );
    assert!(out.contains("    pub r#where: ReqEditWhere,\n"), "{out}");
    assert!(
        out.contains("pub struct ReqEditWhere {\n    pub x: f64,\n}\n"),
        "{out}"
    );
}

#[test]
fn what_has_no_rust_form_is_named_all_at_once() {
    let got = problems(
        json!([
            prop(
                0,
                "big",
                json!({ "type": "Number", "scalarType": "bigint" })
            ),
            prop(1, "flag", json!({ "type": "Literal", "literal": "on" })),
            prop(
                2,
                "level",
                json!({ "type": "Enum", "members": [{ "id": 0, "value": 1 }] })
            ),
            prop(
                3,
                "shape",
                json!({ "type": "Union", "members": [
                { "id": 0, "type": { "type": "Interface", "properties": [
                    prop(0, "type", json!({ "type": "Literal", "literal": "circle" })),
                    prop(1, "r", json!({ "type": "Number" })) ] } },
                { "id": 1, "type": { "type": "Interface", "properties": [
                    prop(0, "type", json!({ "type": "Literal", "literal": "square" })),
                    prop(1, "side", json!({ "type": "Number" })) ] } } ] })
            ),
            prop(
                4,
                "base",
                json!({ "type": "Reference", "target": "shop/Derived" })
            ),
            prop(
                5,
                "backwards",
                json!({ "type": "Union", "members": [
                { "id": 0, "type": { "type": "Literal", "literal": null } },
                { "id": 1, "type": { "type": "String" } } ] })
            ),
            prop(
                6,
                "gone",
                json!({ "type": "Reference", "target": "nowhere/X" })
            ),
        ]),
        json!({ "shop/Derived": { "type": "Interface",
            "extends": [{ "id": 0, "type": { "type": "Reference", "target": "shop/Base" } }],
            "properties": [] },
            "shop/Base": { "type": "Interface", "properties": [prop(0, "token", json!({ "type": "String" }))] } }),
    );
    assert_eq!(
        got,
        [
            "`shop/Derived`: extends shop/Base, whose properties TSBuffer writes in a block of their own, which a Rust struct has no form for yet (extending only empty interfaces, as TSRPC's `BaseRequest`, is fine)",
            "`shop/PtlEdit/ReqEdit.backwards`: `null | T` with null as member 0: tsrpc writes `T | null` (T member 0, null member 1)",
            "`shop/PtlEdit/ReqEdit.big`: a bigint has no Rust form in tsrpc yet",
            "`shop/PtlEdit/ReqEdit.flag`: a literal type outside a union has no Rust form yet (TSRPC never writes it in binary mode)",
            "`shop/PtlEdit/ReqEdit.gone`: refers to \"nowhere/X\", not in the serviceProto's types",
            "`shop/PtlEdit/ReqEdit.level`: Enum types have no Rust form in tsrpc",
            "`shop/PtlEdit/ReqEdit.shape`: a union whose members are not string literals and `{ Name: value }` interfaces has no Rust form (serde's untagged and internally tagged enums cannot be read without the input describing itself)",
        ]
    );
    let err = rust_protocol("{", "x.json").unwrap_err();
    assert!(
        err.problems()[0].starts_with("the serviceProto is neither JSON nor"),
        "{err}"
    );
    let err = rust_protocol("export const serviceProto = {,};", "x.ts").unwrap_err();
    assert!(
        err.problems()[0].starts_with("the serviceProto object is not JSON"),
        "{err}"
    );
}

#[test]
fn a_service_proto_ts_is_read_too() {
    let json = proto(
        json!([prop(0, "x", json!({ "type": "String" }))]),
        json!({}),
    );
    let ts = format!(
        "import {{ ServiceProto }} from 'tsrpc-proto';\n\nexport interface ServiceType {{}}\n\nexport const serviceProto: ServiceProto<ServiceType> = {json};"
    );
    let from_ts = rust_protocol(&ts, "serviceProto.ts").unwrap();
    // The module holds the object alone, as JSON.
    assert_eq!(from_ts, rust_protocol(&json, "serviceProto.ts").unwrap());
}

#[test]
fn recursive_types_are_boxed_and_odd_names_escaped() {
    let out = module(
        json!([
            prop(
                0,
                "root",
                json!({ "type": "Reference", "target": "tree/Node" })
            ),
            prop(
                1,
                "odd",
                json!({ "type": "Reference", "target": "tree/Odd\nName" })
            ),
        ]),
        json!({
            "tree/Node": { "type": "Interface", "properties": [
                { "id": 0, "name": "next", "optional": true, "type": { "type": "Reference", "target": "tree/Node" } },
                prop(1, "children", json!({ "type": "Array", "elementType": { "type": "Reference", "target": "tree/Node" } })),
                prop(2, "mode", json!({ "type": "Union", "members": [
                    { "id": 0, "type": { "type": "Literal", "literal": "self" } },
                    { "id": 1, "type": { "type": "Literal", "literal": "a\u{8}\"b" } } ] })),
            ] },
            "tree/Odd\nName": { "type": "String" },
        }),
    );
    // A doc comment stays on its line.
    assert!(
        out.contains("/// `tree/Odd Name` in the serviceProto.\n"),
        "{out}"
    );
    assert!(out.contains("pub struct OddName(pub String);\n"), "{out}");
    // Held by value, a type holding itself is boxed; in a `Vec`, not.
    assert!(out.contains("    pub next: Option<Box<Node>>,\n"), "{out}");
    assert!(out.contains("    pub children: Vec<Node>,\n"), "{out}");
    assert!(
        out.contains("    #[serde(rename = \"self\")]\n    Self_,\n"),
        "{out}"
    );
    assert!(
        out.contains("    #[serde(rename = \"a\\u{8}\\\"b\")]\n    AB,\n"),
        "{out}"
    );

    let got = problems(
        json!([prop(
            0,
            "kind",
            json!({ "type": "Union", "members": [
            { "id": 0, "type": { "type": "Interface", "properties": [prop(3, "Big", json!({ "type": "String" }))] } },
            { "id": 1, "type": { "type": "Literal", "literal": "Small" } } ] })
        )]),
        json!({}),
    );
    assert_eq!(
        got,
        [
            "`shop/PtlEdit/ReqEdit.kind<Big>`: the property of a `{ Name: value }` member must have id 0 (the codec writes a variant's value as property 0)"
        ]
    );
}

#[test]
fn raw_strings_hold_any_text() {
    assert_eq!(super::raw_string("a"), "r#\"a\"#");
    assert_eq!(super::raw_string("a\"#b"), "r##\"a\"#b\"##");
}
