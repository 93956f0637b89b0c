//! What a client decodes from a server: a WebSocket frame, text or binary
//! (an error return's payload included), and the payload it carries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsrpc::codec::{ServerFrame, WireFrame, decode_server_frame};
use tsrpc_fuzz::Zoo;

fuzz_target!(|data: &[u8]| {
    let frames = [
        std::str::from_utf8(data)
            .ok()
            .map(|text| WireFrame::Text(bytes::Bytes::copy_from_slice(text.as_bytes()))),
        Some(WireFrame::Binary(bytes::Bytes::copy_from_slice(data))),
    ];
    for frame in frames.into_iter().flatten() {
        match decode_server_frame(frame) {
            Ok(ServerFrame::ApiReturn {
                result: Ok(payload),
                ..
            })
            | Ok(ServerFrame::Message { payload, .. }) => {
                let _ = payload.decode::<Zoo>();
            }
            _ => {}
        }
    }
});
