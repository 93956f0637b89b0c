//! The message listener registry the server and the clients share: typed
//! listeners by service id, and listeners of every message whose name
//! matches a pattern (TSRPC's `listenMsg(/^room\//, ...)`), each with an id
//! to remove it by.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use regex::Regex;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh listener id, unique in the process.
fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Listeners of type `T` (typed) and `A` (by pattern).
pub(crate) struct Listeners<T, A> {
    typed: HashMap<u32, Vec<(u64, T)>>,
    matching: Vec<(u64, Regex, A)>,
}

impl<T, A> Default for Listeners<T, A> {
    fn default() -> Self {
        Listeners {
            typed: HashMap::new(),
            matching: Vec::new(),
        }
    }
}

impl<T: Clone, A: Clone> Listeners<T, A> {
    /// Adds a listener of service `service`; returns its id.
    pub(crate) fn add(&mut self, service: u32, listener: T) -> u64 {
        let id = next_id();
        self.typed.entry(service).or_default().push((id, listener));
        id
    }

    /// Adds a listener of every message whose name matches `pattern`.
    pub(crate) fn add_matching(&mut self, pattern: Regex, listener: A) -> u64 {
        let id = next_id();
        self.matching.push((id, pattern, listener));
        id
    }

    /// Removes a listener; false if it was not there.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        let before = self.len();
        self.matching.retain(|(i, _, _)| *i != id);
        for entries in self.typed.values_mut() {
            entries.retain(|(i, _)| *i != id);
        }
        self.typed.retain(|_, entries| !entries.is_empty());
        before != self.len()
    }

    /// Removes every typed listener of a service.
    pub(crate) fn remove_service(&mut self, service: u32) {
        self.typed.remove(&service);
    }

    /// Every listener, typed and matching.
    pub(crate) fn len(&self) -> usize {
        self.matching.len() + self.typed.values().map(Vec::len).sum::<usize>()
    }

    /// Every typed listener, of every service.
    pub(crate) fn typed(&self) -> impl Iterator<Item = &T> {
        self.typed.values().flatten().map(|(_, l)| l)
    }

    /// Copies of the listeners a message of `service` named `name` goes
    /// to, taken so that they run without the registry's lock.
    pub(crate) fn of(&self, service: u32, name: &str) -> (Vec<T>, Vec<A>) {
        let typed = self
            .typed
            .get(&service)
            .map(|entries| entries.iter().map(|(_, l)| l.clone()).collect())
            .unwrap_or_default();
        let matching = self
            .matching
            .iter()
            .filter(|(_, re, _)| re.is_match(name))
            .map(|(_, _, l)| l.clone())
            .collect();
        (typed, matching)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_finds_and_removes() {
        let mut l = Listeners::<&str, &str>::default();
        let a = l.add(1, "a");
        let b = l.add(1, "b");
        let m = l.add_matching(Regex::new("^room/").expect("regex"), "m");
        assert_eq!(l.of(1, "room/Chat"), (vec!["a", "b"], vec!["m"]));
        assert_eq!(l.of(2, "Other"), (vec![], vec![]));
        assert!(l.remove(a) && !l.remove(a));
        assert!(l.remove(m));
        assert_eq!(l.of(1, "room/Chat"), (vec!["b"], vec![]));
        assert_eq!(l.len(), 1);
        l.remove_service(1);
        assert_eq!(l.len(), 0);
        assert!(!l.remove(b));
    }
}
