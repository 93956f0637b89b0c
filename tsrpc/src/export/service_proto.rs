//! Reading TSRPC's `ServiceProto` JSON (a `serviceProto.json`, or the
//! object of a `serviceProto.ts`): what the ids check (`ts/ids.rs`) and
//! the Rust module writer (`rust/`) both need to know of it.

use serde_json::{Map, Value};

use crate::proto::ServiceKind;

/// The string at `key`.
pub(super) fn str_of<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.get(key).and_then(Value::as_str)
}

/// The array at `key`, empty when absent.
pub(super) fn list<'v>(value: &'v Value, key: &str) -> &'v [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A service of the file's `services` list: its name and kind, or what
/// is wrong with it (`at` names it then).
pub(super) fn service(value: &Value) -> Result<(&str, ServiceKind), (String, String)> {
    let (Some(name), Some(kind)) = (str_of(value, "name"), str_of(value, "type")) else {
        return Err((
            "services".into(),
            format!("a service without a name and type: {value}"),
        ));
    };
    match kind {
        "api" => Ok((name, ServiceKind::Api)),
        "msg" => Ok((name, ServiceKind::Msg)),
        other => Err((name.to_owned(), format!("unknown service type {other:?}"))),
    }
}

/// The schema keys of a service's root types, as TSRPC names them:
/// `{folder}Ptl{Name}/Req{Name}` and `.../Res{Name}` for an API,
/// `{folder}Msg{Name}/Msg{Name}` for a message.
pub(super) fn root_keys(kind: ServiceKind, name: &str) -> Vec<String> {
    let (folder, last) = match name.rfind('/') {
        Some(i) => (&name[..=i], &name[i + 1..]),
        None => ("", name),
    };
    match kind {
        ServiceKind::Api => vec![
            format!("{folder}Ptl{last}/Req{last}"),
            format!("{folder}Ptl{last}/Res{last}"),
        ],
        ServiceKind::Msg => vec![format!("{folder}Msg{last}/Msg{last}")],
    }
}

/// A union member as an enum variant: a string literal (a unit variant)
/// or an interface of one required property `{ Name: T }` (a variant
/// carrying `T`), references followed. Returns the variant's name, what it
/// carries, and the property (whose id must be 0, as the codec writes it).
pub(super) fn variant_of<'v>(
    types: &'v Map<String, Value>,
    mut member: &'v Value,
) -> Option<(&'v str, Option<(&'v Value, &'v Value)>)> {
    for _ in 0..64 {
        if str_of(member, "type") != Some("Reference") {
            break;
        }
        member = types.get(str_of(member, "target")?)?;
    }
    match (str_of(member, "type")?, list(member, "properties")) {
        ("Literal", _) => Some((member.get("literal")?.as_str()?, None)),
        ("Interface", [one])
            if list(member, "extends").is_empty()
                && member.get("indexSignature").is_none()
                && one.get("optional").and_then(Value::as_bool) != Some(true) =>
        {
            Some((str_of(one, "name")?, Some((one.get("type")?, one))))
        }
        _ => None,
    }
}

/// Why the interfaces `schema` extends change its bytes, if they do. An
/// empty base (TSRPC's project templates' `BaseRequest`, `BaseResponse`,
/// `BaseMessage`) changes none: TSBuffer leaves out an `extends` block
/// with nothing in it. A base with properties is written in a block of
/// its own, which a Rust struct has no form for.
pub(super) fn extends_problem(types: &Map<String, Value>, schema: &Value) -> Option<String> {
    let mut todo: Vec<&Value> = list(schema, "extends").iter().collect();
    let mut seen = 0;
    while let Some(extend) = todo.pop() {
        seen += 1;
        if seen > 64 {
            return Some("extends more than 64 interfaces".into());
        }
        let Some(target) = extend.get("type").and_then(|t| str_of(t, "target")) else {
            return Some("extends an interface that is not a reference to a named one".into());
        };
        let Some(base) = types.get(target) else {
            return Some(format!(
                "extends {target}, which is not in the serviceProto's types"
            ));
        };
        if !list(base, "properties").is_empty() || base.get("indexSignature").is_some() {
            return Some(format!(
                "extends {target}, whose properties TSBuffer writes in a block of their own, which a Rust struct has no form for yet (extending only empty interfaces, as TSRPC's `BaseRequest`, is fine)"
            ));
        }
        todo.extend(list(base, "extends"));
    }
    None
}

/// A `ServiceProto` read from its text: what the ids check and the Rust
/// module writer both read of it.
pub(super) struct Parsed<'t> {
    /// The object's own text (without a `serviceProto.ts`'s code around it).
    pub(super) text: &'t str,
    /// The file's `version`, if it has one.
    pub(super) version: Option<Value>,
    /// The schemas by key (`{folder}Ptl{Name}/Req{Name}`); none when absent.
    pub(super) types: Map<String, Value>,
    /// The `services` list, which every serviceProto has.
    pub(super) services: Vec<Value>,
}

/// Reads the `ServiceProto` object in `text`: the whole text (a
/// `serviceProto.json`), or the object assigned to `serviceProto` in a
/// `serviceProto.ts` as TSRPC's generator writes it (JSON text after
/// `export const serviceProto: ServiceProto<ServiceType> = `).
pub(super) fn parse(text: &str) -> Result<Parsed<'_>, String> {
    let (text, mut value) = object(text)?;
    let mut take = |key: &str| value.get_mut(key).map(Value::take);
    let version = take("version");
    let types = match take("types") {
        Some(Value::Object(types)) => types,
        _ => Map::new(),
    };
    let Some(Value::Array(services)) = take("services") else {
        return Err("the serviceProto has no `services` list".into());
    };
    Ok(Parsed {
        text,
        version,
        types,
        services,
    })
}

/// The object's own text and its value (see [`parse`]).
fn object(text: &str) -> Result<(&str, Value), String> {
    if let Ok(value) = serde_json::from_str(text) {
        return Ok((text, value));
    }
    let start = text
        .find("export const serviceProto")
        .and_then(|at| text[at..].find('=').map(|eq| at + eq + 1))
        .and_then(|after| text[after..].find('{').map(|brace| after + brace))
        .ok_or("the serviceProto is neither JSON nor a serviceProto.ts (`export const serviceProto ... = {...}`)")?;
    let mut values = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
    let value = values
        .next()
        .ok_or("no object after `export const serviceProto =`")?
        .map_err(|e| format!("the serviceProto object is not JSON: {e}"))?;
    Ok((&text[start..start + values.byte_offset()], value))
}
