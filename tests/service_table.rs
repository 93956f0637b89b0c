//! The service table built from the protocols linked into this binary.

use tsrpc::{ServiceKind, ServiceTable};
use tsrpc_tests::proto::*;

#[test]
fn names_come_from_struct_names_or_attributes() {
    assert_eq!(<ReqEcho as tsrpc::Api>::NAME, "Echo");
    assert_eq!(<SendRequest as tsrpc::Api>::NAME, "room/Send");
    assert_eq!(<MsgChat as tsrpc::Message>::NAME, "Chat");
    assert_eq!(<MsgTyping as tsrpc::Message>::NAME, "room/Typing");
}

#[test]
fn services_are_ordered_by_name_with_ids_by_position() {
    let table = ServiceTable::global().unwrap();
    let listed: Vec<(u32, ServiceKind, &str)> =
        table.iter().map(|s| (s.id(), s.kind(), s.name())).collect();
    use ServiceKind::{Api, Msg};
    assert_eq!(
        listed,
        vec![
            (0, Api, "Burst"),
            (1, Api, "Chat"),
            (2, Msg, "Chat"),
            (3, Msg, "Counted"),
            (4, Api, "Echo"),
            (5, Api, "Fragile"),
            (6, Api, "Kick"),
            (7, Api, "Nobody"),
            (8, Api, "Panic"),
            (9, Api, "Shout"),
            (10, Api, "Sleep"),
            (11, Api, "Tree"),
            (12, Api, "WhoAmI"),
            (13, Msg, "game/Move"),
            (14, Api, "room/Send"),
            (15, Msg, "room/Typing"),
        ]
    );
    assert_eq!(table.api("Chat").unwrap().id(), 1);
    assert_eq!(table.msg("Chat").unwrap().id(), 2);
    assert!(table.msg("Echo").is_none());
    assert!(table.get(16).is_none());
    assert_eq!(
        table.api("room/Send").unwrap().location().path,
        "tsrpc_tests::proto::SendRequest"
    );
}

#[test]
fn shapes_and_fingerprint_are_visible() {
    let table = ServiceTable::global().unwrap();
    let shape = table.api("room/Send").unwrap().shape().unwrap().to_string();
    assert!(shape.contains("SendRequest { content: str }"), "{shape}");
    assert!(
        shape.contains("SendResult { time: tsrpc::Timestamp }"),
        "{shape}"
    );
    let shape = table.msg("Chat").unwrap().shape().unwrap().to_string();
    assert!(
        shape.contains("attachment: Option<tsrpc::Binary>"),
        "{shape}"
    );

    let fingerprint = table.fingerprint().to_string();
    assert_eq!(fingerprint.len(), 16);
    assert!(fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));
    let listing = table.to_string();
    assert!(listing.contains("room/Send"), "{listing}");
    assert!(
        listing.ends_with(&format!("fingerprint {fingerprint}")),
        "{listing}"
    );
}
