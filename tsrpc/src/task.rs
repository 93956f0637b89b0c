//! Small tools every layer uses: the boxed future, running a step with the
//! task's context, the panic guard and the poison-tolerant locks.
//!
//! Each exists once, here; `server/`, `client/`, `transport/` and `flow.rs`
//! use these instead of their own.

use std::any::Any;
use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::task::{Context, Poll};

use futures_util::FutureExt;

/// A boxed, sendable future; the return type of generated handler glue.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Runs `step` once with the task's context, to poll something in place
/// (a handler's first poll) from async code: ready at once.
pub(crate) fn with_context<T>(step: impl FnOnce(&mut Context<'_>) -> T) -> impl Future<Output = T> {
    let mut step = Some(step);
    // Never polled again once ready, so the step runs exactly once.
    poll_fn(move |cx| match step.take() {
        Some(step) => Poll::Ready(step(cx)),
        None => Poll::Pending,
    })
}

/// A panic caught by [`guard`] or [`guard_future`].
pub(crate) struct Panic(Box<dyn Any + Send>);

impl Panic {
    /// The panic's message, when it has a text payload.
    pub(crate) fn text(&self) -> &str {
        self.0
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| self.0.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("a non-string panic payload")
    }
}

impl std::fmt::Display for Panic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text())
    }
}

/// The panic guard: runs user code (a handler, a flow node, a listener, a
/// `Serialize` impl) so that its panic becomes a value to answer with
/// instead of unwinding through the runtime.
pub(crate) fn guard<T>(f: impl FnOnce() -> T) -> Result<T, Panic> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(Panic)
}

/// [`guard`] for a future: its creation is the caller's, its polls are
/// guarded here.
///
/// Not an `async fn`: one would keep `future` as its argument beside the
/// guarded copy it polls, twice the size, and every byte of a future is
/// copied each time it moves (an HTTP call's future was 2.3 KB instead of
/// 1.2 KB).
pub(crate) fn guard_future<F: Future>(future: F) -> impl Future<Output = Result<F::Output, Panic>> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .map(|result| result.map_err(Panic))
}

/// Locks a mutex; a panic of another holder does not make it unusable
/// (every value behind these locks is valid between statements).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// [`lock`] for reading a `RwLock`.
pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

/// [`lock`] for writing a `RwLock`.
pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_turns_a_panic_into_its_text() {
        let caught = guard(|| -> u8 { panic!("boom {}", 1) });
        assert_eq!(
            caught.err().map(|p| p.text().to_owned()).as_deref(),
            Some("boom 1")
        );
        assert_eq!(guard(|| 7).ok(), Some(7));
    }

    #[tokio::test]
    async fn guard_future_catches_a_panic_in_a_poll() {
        let caught = guard_future(async {
            tokio::task::yield_now().await;
            panic!("late")
        })
        .await;
        assert_eq!(
            caught.err().map(|p| p.text().to_owned()).as_deref(),
            Some("late")
        );
    }

    #[test]
    fn locks_survive_a_panicking_holder() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _held = m2.lock();
            panic!("poison");
        })
        .join();
        *lock(&m) += 1;
        assert_eq!(*lock(&m), 2);
    }
}
