//! What a server decodes from a client: a WebSocket frame, text or binary
//! (in tsrpc's binary mode and in TSRPC's, TSBuffer), and the payload it
//! carries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsrpc::WireFrame;
use tsrpc::__wire::{ClientFrame, decode_client_frame, decode_tsbuffer_client_frame};
use tsrpc_fuzz::{Zoo, frames};

fuzz_target!(|data: &[u8]| {
    for frame in frames(data) {
        let tsbuffer = match &frame {
            WireFrame::Binary(bytes) => Some(decode_tsbuffer_client_frame(bytes.clone())),
            WireFrame::Text(_) => None,
        };
        for decoded in [Some(decode_client_frame(frame)), tsbuffer].into_iter().flatten() {
            if let Ok(ClientFrame::ApiRequest { payload, .. } | ClientFrame::Message { payload, .. }) =
                decoded
            {
                let _ = payload.decode::<Zoo>();
            }
        }
    }
});
