//! The built-in executor: one named thread that polls every job.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Poll;
use std::thread;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::dispatcher::{Dispatcher, Job};
use crate::error::{Error, Result};
use crate::sync::lock;

/// Name of the executor thread.
pub(crate) const EXECUTOR_THREAD_NAME: &str = "mcp-dispatch";

/// Default bound of [`Executor::shutdown`].
const DEFAULT_SHUTDOWN_BOUND: Duration = Duration::from_secs(5);

/// The built-in [`Dispatcher`]: one named thread that polls every job it is given.
///
/// Jobs arrive on a channel and are all driven concurrently on that one thread, so the number
/// of threads does not grow with servers, calls or CPUs. Clients use a shared default
/// executor, started on first use, unless they are given another dispatcher. Create your own
/// when you want a separate thread, or control over its shutdown.
///
/// The executor stops when [`shutdown`](Executor::shutdown) is called or when the last clone
/// of it is dropped; jobs still running are dropped, and their callers get
/// [`Error::Shutdown`].
///
/// # Example
///
/// ```
/// use mcp_dispatch::{Client, Executor, ServerConfig};
///
/// let executor = Executor::new().unwrap();
/// let client = Client::builder(ServerConfig::stdio("my-mcp-server"))
///     .dispatcher(executor.clone())
///     .build();
/// # drop(client);
/// assert!(executor.shutdown());
/// ```
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: async_channel::Sender<Job>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").finish_non_exhaustive()
    }
}

impl Executor {
    /// Starts a new executor thread.
    ///
    /// # Errors
    ///
    /// [`Error::Runtime`] if the operating system refuses to start the thread.
    pub fn new() -> Result<Executor> {
        let (jobs, receiver) = async_channel::unbounded::<Job>();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_in_thread = stop.clone();
        let thread = thread::Builder::new()
            .name(EXECUTOR_THREAD_NAME.into())
            .spawn(move || run(receiver, stop_in_thread))
            .map_err(|source| Error::Runtime {
                source: Arc::new(source),
            })?;
        Ok(Executor {
            inner: Arc::new(Inner {
                jobs,
                stop,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// The executor shared by every client built without an explicit dispatcher.
    ///
    /// It is started on first use and lives until the process exits.
    ///
    /// # Errors
    ///
    /// [`Error::Runtime`] if the thread cannot be started.
    pub fn shared() -> Result<Executor> {
        static SHARED: OnceLock<Executor> = OnceLock::new();
        static START: Mutex<()> = Mutex::new(());
        if let Some(executor) = SHARED.get() {
            return Ok(executor.clone());
        }
        let _guard = lock(&START);
        if let Some(executor) = SHARED.get() {
            return Ok(executor.clone());
        }
        let executor = Executor::new()?;
        Ok(SHARED.get_or_init(|| executor).clone())
    }

    /// Stops the executor and joins its thread, waiting at most 5 seconds.
    ///
    /// Jobs still running are dropped (their callers get [`Error::Shutdown`]) and later jobs
    /// are refused the same way. Returns `true` if the thread was joined within the bound, or
    /// had already stopped.
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread for at most the bound. Called on the executor thread itself,
    /// it only signals the stop and returns `false`.
    pub fn shutdown(&self) -> bool {
        self.shutdown_timeout(DEFAULT_SHUTDOWN_BOUND)
    }

    /// [`shutdown`](Executor::shutdown) with an explicit bound.
    pub fn shutdown_timeout(&self, bound: Duration) -> bool {
        self.inner.signal_stop();
        let Some(thread) = lock(&self.inner.thread).take() else {
            return true;
        };
        if thread.thread().id() == thread::current().id() {
            return false;
        }
        join_bounded(thread, bound)
    }

    /// True once the executor has been told to stop.
    pub fn is_shut_down(&self) -> bool {
        self.inner.stop.load(Ordering::Acquire)
    }
}

impl Inner {
    fn signal_stop(&self) {
        self.stop.store(true, Ordering::Release);
        // Closing the channel wakes the thread, which then sees the stop flag.
        self.jobs.close();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.signal_stop();
        if let Some(thread) = lock(&self.thread).take()
            && thread.thread().id() != thread::current().id()
        {
            join_bounded(thread, DEFAULT_SHUTDOWN_BOUND);
        }
    }
}

impl Dispatcher for Executor {
    fn dispatch(&self, job: Job) {
        // A closed channel drops the job; its caller then sees `Error::Shutdown`.
        let _ = self.inner.jobs.try_send(job);
    }
}

/// Joins `thread`, giving up (and leaving it detached) after `bound`.
fn join_bounded(thread: thread::JoinHandle<()>, bound: Duration) -> bool {
    let deadline = std::time::Instant::now() + bound;
    while !thread.is_finished() {
        let now = std::time::Instant::now();
        if now >= deadline {
            log::warn!("mcp-dispatch: the executor thread did not stop within {bound:?}");
            return false;
        }
        thread::sleep((deadline - now).min(Duration::from_millis(1)));
    }
    let _ = thread.join();
    true
}

/// The executor thread's loop: receive jobs and poll them all until told to stop.
fn run(receiver: async_channel::Receiver<Job>, stop: Arc<AtomicBool>) {
    let mut receiver = Box::pin(receiver);
    let mut jobs = FuturesUnordered::new();
    let mut receiving = true;
    futures::executor::block_on(futures::future::poll_fn(|cx| {
        if stop.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        while receiving {
            match receiver.poll_next_unpin(cx) {
                Poll::Ready(Some(job)) => jobs.push(job),
                Poll::Ready(None) => receiving = false,
                Poll::Pending => break,
            }
        }
        if stop.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        while let Poll::Ready(Some(())) = jobs.poll_next_unpin(cx) {}
        if !receiving && jobs.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }));
    // Dropping the remaining jobs here resolves their callers with `Error::Shutdown`.
    drop(jobs);
}
