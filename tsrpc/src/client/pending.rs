//! The calls a client has in flight, by sn: what resolves each, and its
//! abort key. Shared by both clients.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Which pending calls to abort.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AbortBy<'a> {
    Sn(u32),
    Key(&'a str),
    All,
}

pub(crate) struct PendingCalls<T> {
    next_sn: AtomicU32,
    calls: Mutex<HashMap<u32, (Option<String>, T)>>,
}

/// Removes a call's entry on every path, a dropped future included.
pub(crate) struct PendingGuard<'a, T> {
    pending: &'a PendingCalls<T>,
    sn: u32,
}

impl<T> Drop for PendingGuard<'_, T> {
    fn drop(&mut self) {
        self.pending.calls().remove(&self.sn);
    }
}

impl<T> PendingCalls<T> {
    pub(crate) fn new() -> Self {
        PendingCalls {
            next_sn: AtomicU32::new(1),
            calls: Mutex::new(HashMap::new()),
        }
    }

    fn calls(&self) -> MutexGuard<'_, HashMap<u32, (Option<String>, T)>> {
        crate::task::lock(&self.calls)
    }

    /// A fresh sn; never 0, which TSRPC does not use.
    pub(crate) fn next_sn(&self) -> u32 {
        loop {
            let sn = self.next_sn.fetch_add(1, Ordering::Relaxed);
            if sn != 0 {
                return sn;
            }
        }
    }

    /// The sn the last call was given.
    pub(crate) fn last_sn(&self) -> u32 {
        self.next_sn.load(Ordering::Relaxed).wrapping_sub(1)
    }

    /// Registers a call until the guard is dropped.
    pub(crate) fn insert(
        &self,
        sn: u32,
        abort_key: Option<String>,
        resolve: T,
    ) -> PendingGuard<'_, T> {
        self.calls().insert(sn, (abort_key, resolve));
        PendingGuard { pending: self, sn }
    }

    /// Takes the call with this sn, to resolve it.
    pub(crate) fn take(&self, sn: u32) -> Option<T> {
        self.calls().remove(&sn).map(|(_, resolve)| resolve)
    }

    /// Takes the calls to abort.
    pub(crate) fn take_aborted(&self, by: AbortBy<'_>) -> Vec<T> {
        let mut calls = self.calls();
        let sns: Vec<u32> = calls
            .iter()
            .filter(|(sn, (key, _))| match by {
                AbortBy::Sn(target) => **sn == target,
                AbortBy::Key(target) => key.as_deref() == Some(target),
                AbortBy::All => true,
            })
            .map(|(sn, _)| *sn)
            .collect();
        sns.iter()
            .filter_map(|sn| calls.remove(sn))
            .map(|(_, resolve)| resolve)
            .collect()
    }
}
