//! A hash map for the runtime's own lookup tables (service names, service
//! ids), hashed with FNV-1a instead of SipHash.
//!
//! SipHash guards a map against keys chosen to collide; these maps are
//! built once from the program's own services and only *looked up* with
//! what peers send, so a peer cannot make them slower, and FNV-1a costs a
//! few instructions per byte of a short name where SipHash costs a few
//! dozen per lookup.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` keyed by the runtime's own names or ids.
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv1a>>;

/// The 64-bit FNV-1a hash.
pub(crate) struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use std::hash::Hasher;

    #[test]
    fn fnv1a_matches_the_reference_values() {
        let hash = |s: &str| {
            let mut h = super::Fnv1a::default();
            h.write(s.as_bytes());
            h.finish()
        };
        assert_eq!(hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_map_finds_what_was_inserted() {
        let mut map = super::FastMap::default();
        for (i, name) in ["Echo", "Login", "chat/Send", "Ping"].iter().enumerate() {
            map.insert(*name, i);
        }
        assert_eq!(map.get("chat/Send"), Some(&2));
        assert_eq!(map.get("Nope"), None);
    }
}
