//! What a client decodes from a server: a WebSocket frame, text or binary
//! (an error return's payload included), and the payload it carries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsrpc::__wire::{ServerFrame, decode_server_frame};
use tsrpc_fuzz::{Zoo, frames};

fuzz_target!(|data: &[u8]| {
    for frame in frames(data) {
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
