//! Locks shared between connections, and the short blocking calls connections make.

use std::sync::{Mutex, MutexGuard};

/// Takes `mutex` even if a thread panicked while holding it. Every state the gateway keeps
/// behind a std `Mutex` (stream registry, file sets, caches) is updated in steps that leave
/// it usable, so losing one connection to a panic must not take every later one with it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs a short blocking call (a `stat`, a `canonicalize`) made from a connection's plain,
/// synchronous state: on tokio's multi-thread runtime the worker hands its other tasks to
/// the rest of the pool while the call runs, so a slow disk stalls this connection only.
/// Elsewhere (unit tests, a current-thread runtime) the call runs as it is.
pub fn off_runtime<T>(call: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(call)
        }
        _ => call(),
    }
}
