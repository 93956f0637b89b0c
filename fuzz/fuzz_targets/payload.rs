//! A payload on its own, in every encoding: it decodes or fails cleanly
//! (nesting past the limit included), and what decodes survives a round
//! trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsrpc::Encoding;
use tsrpc_fuzz::decode_and_round_trip;

fuzz_target!(|data: &[u8]| {
    let _ = decode_and_round_trip(Encoding::Binary, data);
    let _ = decode_and_round_trip(Encoding::Json, data);
    let _ = decode_and_round_trip(Encoding::Tsbuffer, data);
});
