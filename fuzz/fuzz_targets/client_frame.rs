//! What a server decodes from a client: a WebSocket frame, text or binary,
//! and the payload it carries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsrpc::__wire::{ClientFrame, decode_client_frame};
use tsrpc_fuzz::{Zoo, frames};

fuzz_target!(|data: &[u8]| {
    for frame in frames(data) {
        if let Ok(ClientFrame::ApiRequest { payload, .. } | ClientFrame::Message { payload, .. }) =
            decode_client_frame(frame)
        {
            let _ = payload.decode::<Zoo>();
        }
    }
});
