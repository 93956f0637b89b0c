//! HTTP bodies: a JSON request body (decoded as a payload), a binary
//! request body (one client frame), and what an `HttpClient` reads back
//! (a JSON return body).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsrpc::__wire::{ClientFrame, Payload, decode_client_frame, decode_http_json_return};
use tsrpc::{Encoding, WireFrame};
use tsrpc_fuzz::Zoo;

fuzz_target!(|data: &[u8]| {
    let body = bytes::Bytes::copy_from_slice(data);
    let _ = Payload::new(Encoding::Json, body.clone()).decode::<Zoo>();
    if let Ok(ClientFrame::ApiRequest { payload, .. }) =
        decode_client_frame(WireFrame::Binary(body.clone()))
    {
        let _ = payload.decode::<Zoo>();
    }
    if let Ok(Ok(payload)) = decode_http_json_return(body) {
        let _ = payload.decode::<Zoo>();
    }
});
