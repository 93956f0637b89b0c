//! The ids a protocol gives its services, properties and union members in
//! TSBuffer mode.
//!
//! Without a `serviceProto.json` they are positions: a service's id is its
//! index in the service table, a field's property id its position in the
//! struct, a variant's member id its index in the enum. A TSRPC project
//! keeps ids stable across edits instead (its generator reads the previous
//! `serviceProto.json`), so a server that answers its clients must use the
//! ids of that file: [`crate::export::use_service_proto`] checks the file
//! against the Rust types and installs its ids here, once per process (the
//! service table, which the ids belong to, is one per process too).
//!
//! Containers are found by serde name: the tracer and the export already
//! hold one serde name to one shape. The TSBuffer codec reads the ids
//! (`codec/tsbuffer/ids.rs`); the export writes and checks them.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use fnv::FnvHashMap;

/// Every id that is not a position.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ids {
    containers: FnvHashMap<String, ContainerIds>,
    /// Table id to the id on the wire, and back.
    to_wire: FnvHashMap<u32, u32>,
    from_wire: FnvHashMap<u32, u32>,
}

/// The ids of one struct or enum.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ContainerIds {
    /// A struct's property ids, by field position.
    pub(crate) fields: Option<Box<[u64]>>,
    /// An enum's member ids, by variant index.
    pub(crate) members: Option<Box<[u64]>>,
    /// The property ids of an enum's struct variants, by field position.
    pub(crate) variant_fields: FnvHashMap<String, Box<[u64]>>,
}

static INSTALLED: OnceLock<Ids> = OnceLock::new();

/// The ids in use, if a `serviceProto.json` was installed.
#[inline]
pub(crate) fn installed() -> Option<&'static Ids> {
    INSTALLED.get()
}

/// Installs `ids` for the rest of the process; an error when other ids
/// were installed before (the same ids again are fine).
pub(crate) fn install(ids: Ids) -> Result<(), String> {
    let mut fresh = Some(ids);
    let installed = INSTALLED.get_or_init(|| fresh.take().unwrap_or_default());
    match fresh {
        Some(ids) if ids != *installed => Err(
            "another serviceProto's ids are already in use in this process (one process serves one protocol)".into(),
        ),
        _ => Ok(()),
    }
}

/// Structs (and struct variants) whose fields have no positions TSBuffer
/// can number: serde lists `#[serde(alias)]` names among a struct's field
/// names, so the decoder's positions there are no longer the encoder's.
/// The tracer notes each one it meets, by serde name and variant (like the
/// ids above); the TSBuffer codec refuses them rather than read a field
/// into another.
static UNNUMBERED: RwLock<Option<Arc<Unnumbered>>> = RwLock::new(None);
/// Bumped by each note: a thread reads [`UNNUMBERED`] again (under its
/// lock) only when this moved, so the codec's check of every struct shares
/// no lock between threads, and costs one load while nothing is noted.
static UNNUMBERED_NOTES: AtomicU64 = AtomicU64::new(0);

type Unnumbered = BTreeSet<(&'static str, Option<&'static str>)>;

thread_local! {
    /// This thread's copy of [`UNNUMBERED`], as of a count of notes.
    static SEEN: RefCell<(u64, Option<Arc<Unnumbered>>)> = const { RefCell::new((0, None)) };
}

/// Notes that struct `name` (its `variant`, for an enum's struct variant)
/// has `#[serde(alias)]` names (see [`UNNUMBERED`]).
pub(crate) fn mark_unnumbered(name: &'static str, variant: Option<&'static str>) {
    let mut set = UNNUMBERED.write().unwrap_or_else(PoisonError::into_inner);
    let mut next = set.as_deref().cloned().unwrap_or_default();
    if next.insert((name, variant)) {
        *set = Some(Arc::new(next));
        UNNUMBERED_NOTES.fetch_add(1, Ordering::Release);
    }
}

/// True for a struct (or struct variant) TSBuffer cannot number the
/// fields of (see [`UNNUMBERED`]).
#[inline]
pub(crate) fn unnumbered(name: &str, variant: Option<&str>) -> bool {
    let notes = UNNUMBERED_NOTES.load(Ordering::Acquire);
    notes != 0 && noted(notes, name, variant)
}

fn noted(notes: u64, name: &str, variant: Option<&str>) -> bool {
    SEEN.with_borrow_mut(|(seen, set)| {
        if *seen != notes {
            *set = UNNUMBERED
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            *seen = notes;
        }
        let set: Option<&BTreeSet<(&str, Option<&str>)>> = set.as_deref();
        set.is_some_and(|set| set.contains(&(name, variant)))
    })
}

/// A property id (without TSBuffer's base of 10) of a struct's field.
#[inline]
pub(crate) fn id_at(ids: Option<&[u64]>, position: usize) -> u64 {
    ids.and_then(|ids| ids.get(position).copied())
        .unwrap_or(position as u64)
}

/// The field position of property id `id` (without the base).
#[inline]
pub(crate) fn index_of(ids: Option<&[u64]>, id: u64) -> Option<usize> {
    match ids {
        Some(ids) => ids.iter().position(|&x| x == id),
        None => usize::try_from(id).ok(),
    }
}

impl Ids {
    /// The ids of struct or enum `name`.
    #[inline]
    pub(crate) fn container(&self, name: &str) -> Option<&ContainerIds> {
        self.containers.get(name)
    }

    /// The fields' property ids of struct `name` (of its struct variant
    /// `variant`, for an enum), when not their positions.
    pub(crate) fn fields(&self, name: &str, variant: Option<&str>) -> Option<&[u64]> {
        let container = self.container(name)?;
        match variant {
            None => container.fields.as_deref(),
            Some(variant) => container.variant_fields.get(variant).map(|ids| &**ids),
        }
    }

    /// The ids of struct or enum `name`, created empty.
    pub(crate) fn container_mut(&mut self, name: &str) -> &mut ContainerIds {
        self.containers.entry(name.to_owned()).or_default()
    }

    /// Service `table_id` is `wire_id` on the wire.
    pub(crate) fn set_service(&mut self, table_id: u32, wire_id: u32) {
        self.to_wire.insert(table_id, wire_id);
        self.from_wire.insert(wire_id, table_id);
    }

    /// The wire id of service `table_id`, if it has one that is not its
    /// table id.
    pub(crate) fn service(&self, table_id: u32) -> Option<u32> {
        self.to_wire.get(&table_id).copied()
    }

    /// The table id of the service whose wire id is `wire_id`.
    pub(crate) fn service_of_wire(&self, wire_id: u32) -> Option<u32> {
        self.from_wire.get(&wire_id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::{mark_unnumbered, unnumbered};

    /// A thread that looked before a struct was noted sees the note after,
    /// in this thread and in another.
    #[test]
    fn a_note_reaches_threads_that_looked_before() {
        assert!(!unnumbered("LateNoted", None));
        mark_unnumbered("LateNoted", None);
        assert!(unnumbered("LateNoted", None));
        let other = std::thread::spawn(|| {
            let before = unnumbered("LateNotedElsewhere", Some("V"));
            mark_unnumbered("LateNotedElsewhere", Some("V"));
            (before, unnumbered("LateNotedElsewhere", Some("V")))
        });
        assert_eq!(other.join().unwrap(), (false, true));
        assert!(unnumbered("LateNotedElsewhere", Some("V")));
        assert!(!unnumbered("LateNotedElsewhere", None));
    }
}
