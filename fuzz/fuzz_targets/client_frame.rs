//! What a server decodes from a client: a WebSocket frame, text or binary,
//! and the payload it carries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsrpc::codec::{ClientFrame, WireFrame, decode_client_frame};
use tsrpc_fuzz::Zoo;

fuzz_target!(|data: &[u8]| {
    let frames = [
        std::str::from_utf8(data)
            .ok()
            .map(|text| WireFrame::Text(bytes::Bytes::copy_from_slice(text.as_bytes()))),
        Some(WireFrame::Binary(bytes::Bytes::copy_from_slice(data))),
    ];
    for frame in frames.into_iter().flatten() {
        if let Ok(ClientFrame::ApiRequest { payload, .. } | ClientFrame::Message { payload, .. }) =
            decode_client_frame(frame)
        {
            let _ = payload.decode::<Zoo>();
        }
    }
});
