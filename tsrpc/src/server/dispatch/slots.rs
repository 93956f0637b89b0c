//! [`CallSlots`]: how many API calls of one connection run at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// The running API calls of one connection, at most `max`. Cheaper than a
/// semaphore: one atomic operation to take a slot and one to give it back,
/// and none for a call that finishes where it started; only the
/// connection's reader ever takes one or waits for one.
pub(crate) struct CallSlots {
    running: AtomicUsize,
    max: usize,
    freed: Notify,
}

/// A taken slot, given back when dropped.
pub(crate) struct CallSlot(Arc<CallSlots>);

/// A taken slot that borrows its connection's slots: no reference count to
/// touch for a call that ends where it started.
pub(crate) struct CallSlotHere<'a>(&'a Arc<CallSlots>);

impl CallSlotHere<'_> {
    /// The same slot, carried on by a task of its own.
    pub(crate) fn keep(self) -> CallSlot {
        let slots = self.0.clone();
        std::mem::forget(self);
        CallSlot(slots)
    }
}

impl CallSlots {
    /// Slots for `max` calls (at least one).
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(CallSlots {
            running: AtomicUsize::new(0),
            max: max.max(1),
            freed: Notify::new(),
        })
    }

    /// True when a slot is free. Only the connection's reader takes slots,
    /// so one stays free until it takes it, with [`take`](Self::take).
    pub(crate) fn has_room(&self) -> bool {
        self.running.load(Ordering::Acquire) < self.max
    }

    /// The slot [`has_room`](Self::has_room) found free: a call that
    /// finishes at once needs none, one that waits takes it here.
    pub(crate) fn take(self: &Arc<Self>) -> CallSlot {
        self.running.fetch_add(1, Ordering::AcqRel);
        CallSlot(self.clone())
    }

    /// A slot if one is free.
    fn try_acquire(self: &Arc<Self>) -> Option<CallSlotHere<'_>> {
        let mut running = self.running.load(Ordering::Acquire);
        while running < self.max {
            match self.running.compare_exchange_weak(
                running,
                running + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(CallSlotHere(self)),
                Err(now) => running = now,
            }
        }
        None
    }

    /// A slot, once one is free.
    pub(crate) async fn acquire(self: &Arc<Self>) -> CallSlotHere<'_> {
        loop {
            // Created before looking, so a slot freed in between is not missed
            // (`notify_one` leaves a permit when nobody waits).
            let freed = self.freed.notified();
            if let Some(slot) = self.try_acquire() {
                return slot;
            }
            freed.await;
        }
    }

    fn give_back(&self) {
        if self.running.fetch_sub(1, Ordering::AcqRel) == self.max {
            self.freed.notify_one();
        }
    }

    /// Calls running now.
    #[cfg(test)]
    fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }
}

impl Drop for CallSlot {
    fn drop(&mut self) {
        self.0.give_back();
    }
}

impl Drop for CallSlotHere<'_> {
    fn drop(&mut self) {
        self.0.give_back();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn at_least_one_slot() {
        let slots = CallSlots::new(0);
        assert!(slots.has_room());
        let taken = slots.take();
        assert!(!slots.has_room());
        drop(taken);
        assert!(slots.has_room());
    }

    #[test]
    fn slots_are_counted_and_given_back() {
        let slots = CallSlots::new(2);
        let a = slots.try_acquire().expect("a free slot");
        let b = slots.take();
        assert_eq!(slots.running(), 2);
        assert!(!slots.has_room() && slots.try_acquire().is_none());
        let kept = a.keep();
        assert_eq!(slots.running(), 2, "keeping a slot does not give it back");
        drop(kept);
        drop(b);
        assert_eq!(slots.running(), 0);
    }

    #[tokio::test]
    async fn a_waiting_reader_wakes_when_a_slot_is_freed() {
        let slots = CallSlots::new(1);
        let held = slots.take();
        let waiter = {
            let slots = slots.clone();
            tokio::spawn(async move {
                let slot = slots.acquire().await;
                drop(slot);
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "no slot is free yet");
        drop(held);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken by the freed slot")
            .expect("the waiter ran");
        assert_eq!(slots.running(), 0);
    }

    #[tokio::test]
    async fn a_slot_freed_before_the_wait_is_not_missed() {
        let slots = CallSlots::new(1);
        let held = slots.take();
        // Freed while nobody waits: the permit it leaves serves the next wait.
        drop(held);
        let slot = tokio::time::timeout(Duration::from_secs(5), slots.acquire())
            .await
            .expect("a slot at once");
        assert_eq!(slots.running(), 1);
        drop(slot);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_than_max_run_at_once() {
        let slots = CallSlots::new(3);
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let slot = slots.acquire().await.keep();
            peak.fetch_max(slots.running(), Ordering::AcqRel);
            tasks.push(tokio::spawn(async move {
                tokio::task::yield_now().await;
                drop(slot);
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        assert!(peak.load(Ordering::Acquire) <= 3);
        assert_eq!(slots.running(), 0);
    }
}
