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
            (0, Api, "Chat"),
            (1, Msg, "Chat"),
            (2, Msg, "Counted"),
            (3, Api, "Echo"),
            (4, Api, "Fragile"),
            (5, Api, "Kick"),
            (6, Api, "Nobody"),
            (7, Api, "Panic"),
            (8, Api, "Shout"),
            (9, Api, "Sleep"),
            (10, Api, "WhoAmI"),
            (11, Msg, "game/Move"),
            (12, Api, "room/Send"),
            (13, Msg, "room/Typing"),
        ]
    );
    assert_eq!(table.api("Chat").unwrap().id(), 0);
    assert_eq!(table.msg("Chat").unwrap().id(), 1);
    assert!(table.msg("Echo").is_none());
    assert!(table.get(14).is_none());
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
