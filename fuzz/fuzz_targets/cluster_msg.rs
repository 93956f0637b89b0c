//! What one server node hears from another through a cluster adapter
//! (Redis pub/sub, for `tsrpc-redis`): `ClusterMsg::from_bytes` must refuse
//! anything that is not a message, without a panic or a large allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsrpc::server::cluster::ClusterMsg;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = ClusterMsg::from_bytes(data) {
        // What decodes encodes back to a message that decodes the same.
        let again = ClusterMsg::from_bytes(&msg.to_bytes()).expect("a message decodes");
        assert_eq!(again, msg);
    }
});
