//! Small synchronisation helpers shared by the modules.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, recovering from poisoning: our critical sections leave the data consistent
/// at every point a panic could occur, so a panic elsewhere must not cascade.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
