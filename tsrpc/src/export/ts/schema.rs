//! The TSBuffer schemas the export writes (`tsbuffer-schema`'s types, the
//! subset tsrpc produces) and TSRPC's `ServiceProto` that holds them.

use std::collections::BTreeMap;

use serde::Serialize;
/// A TSBuffer schema (`tsbuffer-schema`'s `TSBufferSchema`), the subset
/// the export produces.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type")]
pub(super) enum Schema {
    Boolean,
    Number {
        #[serde(rename = "scalarType", skip_serializing_if = "Option::is_none")]
        scalar_type: Option<&'static str>,
    },
    String,
    Array {
        #[serde(rename = "elementType")]
        element_type: Box<Schema>,
    },
    Tuple {
        #[serde(rename = "elementTypes")]
        element_types: Vec<Schema>,
    },
    Literal {
        literal: Option<String>,
    },
    Interface {
        #[serde(skip_serializing_if = "Vec::is_empty")]
        properties: Vec<Property>,
        #[serde(rename = "indexSignature", skip_serializing_if = "Option::is_none")]
        index_signature: Option<Box<IndexSignature>>,
        /// The struct (or struct variant) the properties are the fields
        /// of, whose ids they are.
        #[serde(skip)]
        origin: Option<Origin>,
    },
    Buffer {
        #[serde(rename = "arrayType")]
        array_type: &'static str,
    },
    Reference {
        target: String,
    },
    Union {
        members: Vec<Member>,
        /// The enum whose variants the members are.
        #[serde(skip)]
        origin: Option<String>,
    },
    Date,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub(super) struct Property {
    pub(super) id: u64,
    pub(super) name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) optional: bool,
    #[serde(rename = "type")]
    pub(super) schema: Schema,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub(super) struct IndexSignature {
    #[serde(rename = "keyType")]
    pub(super) key_type: &'static str,
    #[serde(rename = "type")]
    pub(super) schema: Schema,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub(super) struct Member {
    pub(super) id: u64,
    #[serde(rename = "type")]
    pub(super) schema: Schema,
}

impl Schema {
    pub(super) fn null() -> Self {
        Schema::Literal { literal: None }
    }

    /// The union `T | null` (members 0 and 1).
    pub(super) fn nullable(schema: Schema) -> Self {
        Schema::Union {
            members: vec![
                Member { id: 0, schema },
                Member {
                    id: 1,
                    schema: Schema::null(),
                },
            ],
            origin: None,
        }
    }

    pub(super) fn is_nullable(&self) -> bool {
        match self {
            Schema::Literal { literal: None } => true,
            Schema::Union { members, .. } => members.iter().any(|m| m.schema.is_nullable()),
            _ => false,
        }
    }
}

/// Where an interface's property ids come from: the fields of struct
/// `container`, or of its struct variant `variant`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Origin {
    pub(super) container: String,
    pub(super) variant: Option<String>,
}

/// TSRPC's `ServiceProto`.
#[derive(Serialize)]
pub(super) struct ServiceProtoJson<'a> {
    pub(super) version: u32,
    pub(super) services: Vec<ServiceDef<'a>>,
    pub(super) types: &'a BTreeMap<String, Schema>,
}

#[derive(Serialize)]
pub(super) struct ServiceDef<'a> {
    pub(super) id: u32,
    pub(super) name: &'a str,
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
}
