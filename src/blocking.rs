//! Waiting for a future from synchronous code, with a bound: the caller side of blocking
//! calls, and the waits of shutdown.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// A waker that flags the wake-up (for the spin) and unparks the thread (for the park).
struct Signal {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

fn new_signal() -> Arc<Signal> {
    Arc::new(Signal {
        thread: thread::current(),
        woken: AtomicBool::new(false),
    })
}

thread_local! {
    /// One signal per thread, reused by every outermost wait on it.
    static SIGNAL: Arc<Signal> = new_signal();
    /// Whether a wait is running on this thread (a nested wait gets its own signal, so
    /// that it cannot swallow a wake-up meant for the outer one).
    static WAITING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks this thread as waiting for as long as it lives.
struct Waiting(bool);

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITING.with(|waiting| waiting.set(self.0));
    }
}

/// Polls `future` on the current thread until it completes, or `bound` elapses (`None`);
/// `None` as the bound waits as long as it takes. Between polls it spins for up to `spin`,
/// then parks.
pub(crate) fn block_on<F: Future>(
    future: F,
    bound: Option<Duration>,
    spin: Duration,
) -> Option<F::Output> {
    let deadline = bound.and_then(|bound| Instant::now().checked_add(bound));
    let nested = WAITING.with(|waiting| waiting.replace(true));
    let _waiting = Waiting(nested);
    let signal = if nested {
        new_signal()
    } else {
        SIGNAL.with(Arc::clone)
    };
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        signal.woken.store(false, Ordering::Release);
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
        if !spin.is_zero() {
            let spin_until = Instant::now() + spin;
            while !signal.woken.load(Ordering::Acquire) && Instant::now() < spin_until {
                // Yield rather than burn: when callers are waiting for a core, they get it.
                thread::yield_now();
            }
            if signal.woken.load(Ordering::Acquire) {
                continue;
            }
        }
        match deadline {
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return None;
                }
                thread::park_timeout(deadline - now);
            }
            None => thread::park(),
        }
    }
}

/// [`block_on`] with a bound.
pub(crate) fn block_on_bounded<F: Future>(future: F, bound: Duration) -> Option<F::Output> {
    block_on(future, Some(bound), Duration::ZERO)
}
