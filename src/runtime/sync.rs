//! Small synchronisation helpers shared by the modules.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `mutex`, recovering from poisoning: our critical sections leave the data consistent
/// at every point a panic could occur, so a panic elsewhere must not cascade.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads `lock`, recovering from poisoning, as [`lock`] does.
pub(crate) fn read<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes `lock`, recovering from poisoning, as [`lock`] does.
pub(crate) fn write<T: ?Sized>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A flag that is raised once and can be waited for.
#[derive(Default)]
pub(crate) struct Flag {
    raised: std::sync::atomic::AtomicBool,
    event: event_listener::Event,
}

impl Flag {
    /// Raises the flag and wakes every waiter.
    pub(crate) fn set(&self) {
        self.raised
            .store(true, std::sync::atomic::Ordering::Release);
        self.event.notify(usize::MAX);
    }

    /// True once raised.
    pub(crate) fn is_set(&self) -> bool {
        self.raised.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Waits until the flag is raised.
    pub(crate) async fn wait(&self) {
        loop {
            if self.is_set() {
                return;
            }
            let listener = self.event.listen();
            if self.is_set() {
                return;
            }
            listener.await;
        }
    }
}

/// Raises its flag when dropped: when the work that holds it finishes, fails, panics or is
/// dropped unfinished.
pub(crate) struct RaiseOnDrop(pub(crate) std::sync::Arc<Flag>);

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        self.0.set();
    }
}
