//! What a client decodes from a server: a WebSocket frame, text or binary
//! (an error return's payload included), and the payload it carries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsrpc::Encoding;
use tsrpc::__wire::{ServerFrame, decode_server_frame};
use tsrpc_fuzz::{Zoo, frames};

fuzz_target!(|data: &[u8]| {
    for (frame, encoding) in frames(data).flat_map(|f| Encoding::ALL.map(|e| (f.clone(), e))) {
        match decode_server_frame(encoding, frame) {
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
