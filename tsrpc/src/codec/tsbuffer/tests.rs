//! Byte-exact cases, each produced by TSRPC's own `tsbuffer` 2.2.23 and
//! `tsrpc` 3.4.21 in Node (the schemas are those the export writes for
//! the Rust types), and decoding bad input.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{ReturnTo, decode_client_frame, decode_payload, decode_server_frame, write_payload};
use crate::codec::{ClientFrame, Encoding, Payload, ServerFrame, ServiceRef};
use crate::error::{ErrorCode, TsrpcError};
use crate::{Binary, Timestamp};

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

fn encoded<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    write_payload(value, &mut out).unwrap();
    out
}

/// `value` encodes to `bytes`, and `bytes` decode to `value`.
#[track_caller]
fn both_ways<T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug>(
    value: T,
    bytes: &str,
) {
    assert_eq!(encoded(&value), hex(bytes), "encoding {value:?}");
    assert_eq!(decode_payload::<T>(&hex(bytes)).unwrap(), value);
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct ReqSend {
    content: String,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct ResSend {
    time: Timestamp,
}

#[test]
fn interfaces_of_scalars() {
    both_ways(
        ReqSend {
            content: "hi".into(),
        },
        "01 28 02 68 69",
    );
    both_ways(
        ResSend {
            time: Timestamp::from_unix_millis(1_700_000_000_000),
        },
        "01 29 80 d0 95 ff bc 31",
    );

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Numbers {
        d: Option<f64>,
        i: Option<i64>,
        u: Option<u64>,
        b: Option<bool>,
    }
    both_ways(
        Numbers {
            d: Some(1.5),
            i: Some(-3),
            u: Some(7),
            b: Some(true),
        },
        "04 2a 3f f8 00 00 00 00 00 00 2d 05 31 07 35 ff",
    );
    // Absent optional properties are left out.
    both_ways(
        Numbers {
            d: None,
            i: None,
            u: None,
            b: None,
        },
        "00",
    );
}

#[test]
fn arrays_tuples_and_maps() {
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Arr {
        arr: Vec<String>,
    }
    both_ways(
        Arr {
            arr: vec!["a".into(), "bc".into()],
        },
        "01 28 06 02 01 61 02 62 63",
    );
    both_ways(Arr { arr: vec![] }, "01 28 01 00");
    both_ways(vec![1u32, 2, 300], "03 01 02 ac 02");
    both_ways((1u32, "a".to_owned()), "03 01 01 61");
    both_ways(
        BTreeMap::from([("a".to_owned(), 1u32), ("b".to_owned(), 2)]),
        "02 01 01 61 01 01 01 62 02",
    );
    both_ways(
        BTreeMap::from([(1u32, "a".to_owned())]),
        "01 00 01 31 01 61",
    );
    // An entry's length prefix counts its key too.
    both_ways(
        BTreeMap::from([("k".to_owned(), vec![1u32, 2])]),
        "01 00 01 6b 05 02 01 02",
    );
}

#[test]
fn unions() {
    // `string | null`: member 1 is the literal null.
    both_ways(None::<String>, "01 04");
    both_ways(Some("x".to_owned()), "01 00 01 78");

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    enum Kind {
        A,
        B,
        N(u32),
        S { x: u32 },
    }
    both_ways(Kind::A, "01 00");
    both_ways(Kind::B, "01 04");
    // `{ N: uint }`, member 2: an interface of one property.
    both_ways(Kind::N(5), "01 0b 01 29 05");
    both_ways(Kind::S { x: 1 }, "01 0f 01 2b 01 29 01");
    // A newer peer's member this side does not know is an error here,
    // not a wrong value.
    assert!(decode_payload::<Kind>(&hex("01 10")).is_err());
}

#[test]
fn dates_and_buffers() {
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Blob {
        data: Binary,
        at: Timestamp,
    }
    both_ways(
        Blob {
            data: Binary::from(vec![1, 2, 255]),
            at: Timestamp::from_unix_millis(1000),
        },
        "02 28 03 01 02 ff 2d e8 07",
    );
    let before_1970 = Blob {
        data: Binary::from(vec![]),
        at: Timestamp::from_unix_millis(-1),
    };
    let mut out = Vec::new();
    let err = write_payload(&before_1970, &mut out).unwrap_err();
    assert!(err.to_string().contains("before 1970"), "{err}");
}

#[test]
fn unknown_properties_are_skipped() {
    // Property 1 (a string) and 2 (an interface) of a newer peer.
    let bytes = hex("03 28 02 68 69 2c 01 78 33 01 29 01");
    assert_eq!(
        decode_payload::<ReqSend>(&bytes).unwrap(),
        ReqSend {
            content: "hi".into()
        }
    );
}

#[test]
fn client_frames() {
    let frame = hex("03 29 00 2c 05 01 28 02 68 69 31 01");
    let ClientFrame::ApiRequest {
        service,
        sn,
        payload,
    } = decode_client_frame(Bytes::from(frame.clone())).unwrap()
    else {
        panic!("an API request");
    };
    assert_eq!((service, sn), (ServiceRef::Id(0), 1));
    assert_eq!(
        payload.decode::<ReqSend>().unwrap(),
        ReqSend {
            content: "hi".into()
        }
    );
    let built = super::encode_api_request_with(0, 1, |out| {
        write_payload(
            &ReqSend {
                content: "hi".into(),
            },
            out,
        )
    })
    .unwrap();
    assert_eq!(built.as_bytes(), frame);

    // A message (no sn), which is also how TSRPC posts an HTTP call.
    let msg = hex("02 29 01 2c 05 01 28 02 68 69");
    assert!(matches!(
        decode_client_frame(Bytes::from(msg.clone())).unwrap(),
        ClientFrame::Message {
            service: ServiceRef::Id(1),
            ..
        }
    ));
    let built = super::encode_client_message_with(1, |out| {
        out.extend_from_slice(&hex("01 28 02 68 69"));
        Ok(())
    })
    .unwrap();
    assert_eq!(built.as_bytes(), msg);
    assert_eq!(
        decode_client_frame(Bytes::from_static(&[0])).unwrap(),
        ClientFrame::Heartbeat
    );
}

#[test]
fn server_frames() {
    let res = |out: &mut Vec<u8>| {
        write_payload(
            &ResSend {
                time: Timestamp::from_unix_millis(1000),
            },
            out,
        )
    };
    let to = Some(ReturnTo {
        service_id: 1,
        sn: 1,
    });
    let ws = super::encode_api_success(to, res).unwrap();
    assert_eq!(ws.as_bytes(), hex("03 28 04 01 29 e8 07 31 01 35 01"));
    let http = super::encode_api_success(None, res).unwrap();
    assert_eq!(http.as_bytes(), hex("01 28 04 01 29 e8 07"));

    let err = TsrpcError::api("nope").with_code("E1");
    let to = Some(ReturnTo {
        service_id: 1,
        sn: 2,
    });
    let frame = super::encode_api_error(to, &err);
    assert_eq!(
        frame.as_bytes(),
        hex("03 2f 03 28 04 6e 6f 70 65 2d 03 33 01 00 02 45 31 31 01 35 02")
    );
    let err = TsrpcError::api("nope")
        .with_code(42)
        .with_data("extra", serde_json::json!({"a": [1]}));
    let to = Some(ReturnTo {
        service_id: 1,
        sn: 7,
    });
    let frame = super::encode_api_error(to, &err);
    let expected = "03 2f 04 28 04 6e 6f 70 65 2d 03 33 01 05 54 00 05 65 78 74 72 61 09 7b 22 61 22 3a 5b 31 5d 7d 31 01 35 07";
    assert_eq!(frame.as_bytes(), hex(expected));
    let ServerFrame::ApiReturn {
        sn,
        result: Err(back),
        ..
    } = decode_server_frame(frame.into_bytes()).unwrap()
    else {
        panic!("an error return");
    };
    assert_eq!(sn, 7);
    assert_eq!(back.code, Some(ErrorCode::Int(42)));
    assert_eq!(back, err);

    let msg = super::encode_server_message_with(1, |out| {
        out.extend_from_slice(&hex("01 28 02 68 69"));
        Ok(())
    })
    .unwrap();
    assert_eq!(msg.as_bytes(), hex("02 28 05 01 28 02 68 69 31 01"));
    let ServerFrame::Message { service, payload } = decode_server_frame(msg.into_bytes()).unwrap()
    else {
        panic!("a message");
    };
    assert_eq!(service, ServiceRef::Id(1));
    assert_eq!(payload.encoding(), Encoding::Tsbuffer);
}

#[test]
fn forged_and_truncated_input_is_an_error() {
    let cases: &[&[u8]] = &[
        &[],
        &[0x01],
        &[0x01, 0x28],
        // A string longer than the payload.
        &[0x01, 0x28, 0xff, 0xff, 0xff, 0xff, 0x0f],
        // A block count past the payload.
        &[0xff, 0xff, 0xff, 0xff, 0x0f],
        // An overlong varint.
        &[0xff; 11],
        // Not UTF-8.
        &[0x01, 0x28, 0x01, 0xff],
        // Trailing bytes.
        &[0x01, 0x28, 0x02, 0x68, 0x69, 0x00],
    ];
    for bytes in cases {
        assert!(decode_payload::<ReqSend>(bytes).is_err(), "{bytes:x?}");
    }
    // Unknown blocks nested deeper than the limit are refused, not
    // followed down the stack.
    let mut deep = hex("02 28 02 68 69");
    for _ in 0..10_000 {
        deep.extend_from_slice(&[0x2f, 0x01]);
    }
    assert!(decode_payload::<ReqSend>(&deep).is_err());
    // A count of zero-sized elements past the budget.
    let zeros = hex("ff ff ff ff 0f");
    assert!(decode_payload::<Vec<()>>(&zeros).is_err());

    for frame in [
        &[][..],
        &[0x00, 0x00],
        &[0x02, 0x29, 0x00],
        &[0x03, 0x29, 0x00, 0x2c, 0x05, 0x01, 0x31, 0x00],
        &[0x01, 0x2c, 0xff, 0xff, 0x03],
    ] {
        assert!(
            decode_client_frame(Bytes::copy_from_slice(frame)).is_err(),
            "{frame:x?}"
        );
    }
}

#[test]
fn a_payload_decodes_through_payload() {
    let payload = Payload::new(Encoding::Tsbuffer, Bytes::from(hex("01 28 02 68 69")));
    let decoded: ReqSend = payload.decode().unwrap();
    assert_eq!(decoded.content, "hi");
    let err = Payload::new(Encoding::Tsbuffer, Bytes::from(hex("01 29 05")))
        .decode::<ReqSend>()
        .unwrap_err();
    assert_eq!(err.path(), Some("content"), "{err}");
}

#[test]
fn unions_that_tsbuffer_writes_with_several_members() {
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    enum E {
        A(u32),
        B(Option<u32>),
        C(()),
    }
    // TSRPC writes `{A: 5}` as every member it passes: `{B?}` and `{C}`
    // have nothing to say against it.
    assert_eq!(
        decode_payload::<E>(&hex("03 03 01 29 05 07 00 0b 00")).unwrap(),
        E::A(5)
    );
    both_ways(E::B(None), "01 07 01 2b 01 04");
    both_ways(E::C(()), "01 0b 00");
}

#[test]
fn a_newtype_of_option_is_a_required_nullable_property() {
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct W(Option<u32>);
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct S {
        w: W,
    }
    // As TSRPC writes `{w: 5}` for `w: uint | null`.
    both_ways(S { w: W(Some(5)) }, "01 2b 01 01 05");
    both_ways(S { w: W(None) }, "01 2b 01 04");
}

#[test]
fn nested_options_are_one_nullable_union() {
    // The export writes `Option<Option<T>>` as one `T | null`, as TSRPC
    // writes `5` for it: `01 01 05`.
    both_ways(Some(Some(5u32)), "01 01 05");
    both_ways(None::<Option<u32>>, "01 04");
    // `Some(None)` is that union's null too (as in JSON).
    assert_eq!(encoded(&Some(None::<u32>)), hex("01 04"));
    both_ways(vec![Some(Some(1u32)), None], "02 01 01 01 01 04");
    // A field of it is an optional property of `T | null`.
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct F {
        f: Option<Option<u32>>,
    }
    both_ways(F { f: Some(None) }, "01 2b 01 04");
    both_ways(F { f: Some(Some(2)) }, "01 2b 01 01 02");
    both_ways(F { f: None }, "00");
}

/// A struct the tracer found `#[serde(alias)]` names in is refused both
/// ways, saying why, rather than read with its fields shifted.
#[test]
fn structs_with_aliases_are_refused() {
    #[derive(Serialize, Deserialize, Debug)]
    struct AliasedInCodec {
        #[serde(alias = "z")]
        b: u32,
        c: Option<u32>,
    }
    let bytes = encoded(&AliasedInCodec { b: 2, c: None });
    crate::schema::ids::mark_unnumbered("AliasedInCodec", None);
    let err = decode_payload::<AliasedInCodec>(&bytes).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot carry struct `AliasedInCodec`"),
        "{err}"
    );
    let mut out = Vec::new();
    let err = write_payload(&AliasedInCodec { b: 2, c: None }, &mut out).unwrap_err();
    assert!(err.to_string().contains("#[serde(alias)]"), "{err}");
}

/// The same for an enum's struct variant; its other variants still go.
#[test]
fn struct_variants_with_aliases_are_refused() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum AliasedVariantInCodec {
        Plain {
            x: u32,
        },
        Renamed {
            #[serde(alias = "old")]
            new: u32,
            more: Option<u32>,
        },
    }
    let renamed = AliasedVariantInCodec::Renamed { new: 1, more: None };
    let bytes = encoded(&renamed);
    crate::schema::ids::mark_unnumbered("AliasedVariantInCodec", Some("Renamed"));
    let err = decode_payload::<AliasedVariantInCodec>(&bytes).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot carry struct variant `AliasedVariantInCodec::Renamed`"),
        "{err}"
    );
    let mut out = Vec::new();
    assert!(write_payload(&renamed, &mut out).is_err());
    let plain = AliasedVariantInCodec::Plain { x: 3 };
    let bytes = encoded(&plain);
    assert_eq!(
        decode_payload::<AliasedVariantInCodec>(&bytes).unwrap(),
        plain
    );
}
