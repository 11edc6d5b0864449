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

/// What a blocking call allows beyond the timeouts of its work, for the hand-offs around it.
const BLOCKING_SLACK: Duration = Duration::from_secs(5);

/// How long a blocking call may wait for a request that can take `longest` once connected,
/// with `connect` to connect: a retry may connect and send again, so two rounds, plus slack.
pub(crate) fn request_bound(connect: Duration, longest: Duration) -> Duration {
    (connect + longest) * 2 + BLOCKING_SLACK
}

/// How long a blocking close may wait for closes that take `close` each: a close may have
/// to wait out a connect in flight and close that session too.
pub(crate) fn close_bound(close: Duration) -> Duration {
    close * 2 + BLOCKING_SLACK
}

/// How a [`wait_for_jobs`] ended.
pub(crate) enum Waited<T> {
    /// The future's output.
    Done(T),
    /// The bound elapsed after the dispatcher had started the first job.
    TimedOut,
    /// The bound elapsed and the dispatcher never started the first job.
    NotDispatched,
}

/// The longest a blocking call waits for the dispatcher to start its job before it warns.
const NOT_STARTED_WARNING: Duration = Duration::from_secs(5);

/// [`block_on_bounded`] for a future that dispatches a job on its first poll: tells a job
/// the dispatcher never started from one that ran out of time, and warns (naming `what`)
/// long before the bound when the job has not started: after a quarter of the bound, and at
/// most [`NOT_STARTED_WARNING`].
pub(crate) fn wait_for_jobs<F: Future>(
    what: &dyn Fn() -> String,
    bound: Duration,
    future: F,
) -> Waited<F::Output> {
    let (started, _watching) = watch_start();
    let mut future = pin!(future);
    let warn_after = (bound / 4).min(NOT_STARTED_WARNING);
    if let Some(output) = block_on_bounded(future.as_mut(), warn_after) {
        return Waited::Done(output);
    }
    if !started.load(Ordering::Acquire) {
        log::warn!(
            "mcp-dispatch: {}: the dispatcher has not started the call's job after {warn_after:?}; \
             a blocking call on a thread the dispatcher runs jobs on waits for itself \
             (await the async form there)",
            what()
        );
    }
    match block_on_bounded(future.as_mut(), bound.saturating_sub(warn_after)) {
        Some(output) => Waited::Done(output),
        None if started.load(Ordering::Acquire) => Waited::TimedOut,
        None => Waited::NotDispatched,
    }
}

thread_local! {
    /// The flag to set when the next job dispatched from this thread starts: set by a
    /// blocking wait for the job its future dispatches on its first poll.
    static WATCH: std::cell::RefCell<Option<Arc<AtomicBool>>> =
        const { std::cell::RefCell::new(None) };
}

/// The flag of the blocking wait on this thread, for the job being dispatched, if one
/// watches (then it no longer does).
pub(crate) fn take_watch() -> Option<Arc<AtomicBool>> {
    WATCH.with(|watch| watch.borrow_mut().take())
}

/// Watches, while the returned guard lives, for the start of the first job dispatched from
/// this thread; the flag is set when that job is first polled.
fn watch_start() -> (Arc<AtomicBool>, impl Drop) {
    struct Unwatch(Option<Arc<AtomicBool>>);

    impl Drop for Unwatch {
        fn drop(&mut self) {
            let previous = self.0.take();
            WATCH.with(|watch| *watch.borrow_mut() = previous);
        }
    }

    let started = Arc::new(AtomicBool::new(false));
    let previous = WATCH.with(|watch| watch.borrow_mut().replace(started.clone()));
    (started, Unwatch(previous))
}
