//! Locks shared between connections.

use std::sync::{Mutex, MutexGuard};

/// Takes `mutex` even if a thread panicked while holding it. Every state the gateway keeps
/// behind a std `Mutex` (stream registry, file sets, caches) is updated in steps that leave
/// it usable, so losing one connection to a panic must not take every later one with it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
