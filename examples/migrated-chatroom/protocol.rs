//! The protocol of a TSRPC project, written by `tsrpc import` from
//! `serviceProto.ts`. Written again from a newer file rather than edited.
//!
//! Each type's TypeScript export is the file's schema again: a server
//! started with `.service_proto(SERVICE_PROTO)` answers the project's
//! clients unchanged (JSON and binary modes).

use serde::{Deserialize, Serialize};

/// The serviceProto of `serviceProto.ts`, as JSON: start the server with
/// `.service_proto(SERVICE_PROTO)` to use its service and property ids.
pub const SERVICE_PROTO: &str = r#"{
    "services": [
        {
            "id": 0,
            "name": "Chat",
            "type": "msg"
        },
        {
            "id": 1,
            "name": "Send",
            "type": "api"
        }
    ],
    "types": {
        "MsgChat/MsgChat": {
            "type": "Interface",
            "properties": [
                {
                    "id": 0,
                    "name": "content",
                    "type": {
                        "type": "String"
                    }
                },
                {
                    "id": 1,
                    "name": "time",
                    "type": {
                        "type": "Date"
                    }
                }
            ]
        },
        "PtlSend/ReqSend": {
            "type": "Interface",
            "properties": [
                {
                    "id": 0,
                    "name": "content",
                    "type": {
                        "type": "String"
                    }
                }
            ]
        },
        "PtlSend/ResSend": {
            "type": "Interface",
            "properties": [
                {
                    "id": 0,
                    "name": "time",
                    "type": {
                        "type": "Date"
                    }
                }
            ]
        }
    }
}"#;

/// `MsgChat/MsgChat` in the serviceProto.
#[tsrpc::msg(name = "Chat")]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct MsgChat {
    pub content: String,
    pub time: tsrpc::Timestamp,
}

/// `PtlSend/ReqSend` in the serviceProto.
#[tsrpc::api(name = "Send", res = ResSend)]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ReqSend {
    pub content: String,
}

/// `PtlSend/ResSend` in the serviceProto.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ResSend {
    pub time: tsrpc::Timestamp,
}
