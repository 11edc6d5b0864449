//! The built-in executor: one task that polls every job, on the thread of the tokio runtime
//! that rmcp needs (or on async-std's runtime).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};

use crate::error::{Error, Result, panic_message};
use crate::runtime::Runtime;
use crate::runtime::blocking::block_on_bounded;
use crate::runtime::dispatcher::Job;
use crate::runtime::sync::{Flag, lock};

/// Name of the executor's task on async-std.
#[cfg(feature = "async-std")]
const EXECUTOR_TASK_NAME: &str = "mcp-dispatch";

/// Default bound of [`Executor::shutdown`].
const DEFAULT_SHUTDOWN_BOUND: Duration = Duration::from_secs(5);

/// Something that must be closed when its executor shuts down (a client's session).
pub(crate) trait OnShutdown: Send + Sync {
    /// Refuses later calls and starts closing what is open, as cleanup jobs on the executor;
    /// the flag is raised once it is closed.
    fn shut_down(&self) -> Option<Arc<Flag>>;
}

/// The built-in executor: one task that polls every job of its clients, on the one thread
/// (`mcp-dispatch-rt`) that drives the current-thread tokio runtime rmcp needs.
///
/// Jobs arrive on a channel and are all driven concurrently by that task, beside rmcp's own
/// tasks, so the number of threads does not grow with servers, calls or CPUs, and an answer
/// reaches its job without crossing threads. Clients use a shared
/// default executor, started on first use, unless they are given another executor
/// ([`ClientBuilder::executor`](crate::ClientBuilder::executor)) or a host's
/// [`Dispatcher`](crate::Dispatcher). Create your own when you want separate threads, or
/// control over their shutdown.
///
/// A job that panics is dropped; the executor and the other jobs carry on.
///
/// # Shutdown
///
/// [`shutdown`](Executor::shutdown), or dropping the last clone (clients hold clones):
///
/// 1. closes every session of the clients on this executor gracefully, within the bound,
///    then kills their process groups;
/// 2. drops the jobs still running, whose callers get [`Error::Shutdown`], as do later calls;
/// 3. waits for its task to finish and, for an executor of its own, joins its thread.
///
/// # Example
///
/// ```
/// use mcp_dispatch::{Client, Executor, ServerConfig};
///
/// let executor = Executor::new().unwrap();
/// let client = Client::builder(ServerConfig::stdio("my-mcp-server"))
///     .executor(executor.clone())
///     .build();
/// assert!(executor.shutdown());
/// assert!(matches!(
///     client.list_tools_blocking(),
///     Err(mcp_dispatch::Error::Shutdown { .. })
/// ));
/// ```
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

/// A job on the executor's queue.
enum Queued {
    /// A caller's job: dropped at shutdown, its caller then gets `Error::Shutdown`.
    Call(Job),
    /// Closing a session: run to completion even during shutdown (it is bounded itself).
    Cleanup(Job),
}

/// What polls an executor's jobs.
enum Driver {
    /// A task on the thread of the executor's tokio runtime.
    Tokio(crate::runtime::Task),
    /// A task on async-std's runtime.
    #[cfg(feature = "async-std")]
    AsyncStd(async_std::task::JoinHandle<()>),
}

impl Driver {
    /// True where waiting for the driver could never end: in the driver itself (a job), or
    /// on a thread the library drives.
    fn cannot_wait(&self) -> bool {
        let current = match self {
            Driver::Tokio(task) => task.is_current(),
            #[cfg(feature = "async-std")]
            Driver::AsyncStd(task) => async_std::task::try_current()
                .is_some_and(|current| current.id() == task.task().id()),
        };
        current || crate::runtime::blocking_would_deadlock()
    }

    /// Waits for the driver to finish, at most `bound`.
    fn join(self, bound: Duration) -> bool {
        let joined = match self {
            Driver::Tokio(task) => block_on_bounded(task, bound).is_some(),
            #[cfg(feature = "async-std")]
            Driver::AsyncStd(task) => block_on_bounded(task, bound).is_some(),
        };
        if !joined {
            log::warn!("mcp-dispatch: the executor's jobs did not stop within {bound:?}");
        }
        joined
    }
}

struct Inner {
    jobs: async_channel::Sender<Queued>,
    stop: Arc<AtomicBool>,
    driver: Mutex<Option<Driver>>,
    runtime: Arc<Runtime>,
    /// False for the shared executor, whose tokio thread is shared with host-dispatcher
    /// clients and stops only when the last of them is gone.
    owns_runtime: bool,
    shutdown_hooks: Mutex<Hooks>,
    shut_down: AtomicBool,
}

/// What must be closed on shutdown: one weak hook per client, dead ones pruned in batches.
///
/// Pruning on every registration would make registering `n` clients cost `O(n²)`. Pruning
/// only once the list has doubled since the last prune makes it `O(1)` amortised, and keeps
/// the list at most twice the peak number of live clients (a dead entry holds no more than
/// its allocation).
#[derive(Default)]
struct Hooks {
    hooks: Vec<Weak<dyn OnShutdown>>,
    /// Length of the list after the last prune.
    kept: usize,
}

/// The list is not pruned below this length.
const MIN_PRUNE_LEN: usize = 64;

impl Hooks {
    fn push(&mut self, hook: Weak<dyn OnShutdown>) {
        if self.hooks.len() >= MIN_PRUNE_LEN.max(2 * self.kept) {
            self.hooks.retain(|hook| hook.strong_count() > 0);
            self.kept = self.hooks.len();
        }
        self.hooks.push(hook);
    }

    fn take(&mut self) -> Vec<Weak<dyn OnShutdown>> {
        self.kept = 0;
        std::mem::take(&mut self.hooks)
    }
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("shut_down", &self.is_shut_down())
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// Starts a new executor: its job thread and its tokio thread.
    ///
    /// # Errors
    ///
    /// [`Error::Runtime`] if the operating system refuses to start a thread.
    pub fn new() -> Result<Executor> {
        let runtime = Runtime::start().map_err(runtime_error)?;
        Executor::with_runtime(Arc::new(runtime), true)
    }

    /// An executor whose jobs run as one task, named `mcp-dispatch`, on async-std's runtime,
    /// for async-std applications: it adds no job thread of its own, only the tokio thread
    /// that rmcp needs. It starts async-std's global pool if the application has not.
    ///
    /// It behaves as [`Executor::new`] does: shutdown closes every session, callers get
    /// [`Error::Shutdown`], and a blocking call from inside one of its jobs fails instead of
    /// deadlocking.
    ///
    /// ```
    /// use mcp_dispatch::{Client, Executor, ServerConfig};
    ///
    /// let executor = Executor::async_std().unwrap();
    /// let client = Client::builder(ServerConfig::stdio("my-mcp-server"))
    ///     .executor(executor.clone())
    ///     .build();
    /// assert!(executor.shutdown());
    /// # drop(client);
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Runtime`] if the operating system refuses to start the tokio thread.
    #[cfg(feature = "async-std")]
    pub fn async_std() -> Result<Executor> {
        let runtime = Runtime::start().map_err(runtime_error)?;
        Executor::start(Arc::new(runtime), true, |_, receiver, stop| {
            async_std::task::Builder::new()
                .name(EXECUTOR_TASK_NAME.into())
                .spawn(drive(receiver, stop))
                .map(Driver::AsyncStd)
        })
    }

    /// An executor whose jobs run as one task on `runtime`'s thread.
    fn with_runtime(runtime: Arc<Runtime>, owns_runtime: bool) -> Result<Executor> {
        Executor::start(runtime, owns_runtime, |runtime, receiver, stop| {
            Ok(Driver::Tokio(runtime.spawn_task(drive(receiver, stop))))
        })
    }

    /// An executor whose jobs `start_driver` starts polling.
    fn start(
        runtime: Arc<Runtime>,
        owns_runtime: bool,
        start_driver: impl FnOnce(
            &Runtime,
            async_channel::Receiver<Queued>,
            Arc<AtomicBool>,
        ) -> std::io::Result<Driver>,
    ) -> Result<Executor> {
        let (jobs, receiver) = async_channel::unbounded::<Queued>();
        let stop = Arc::new(AtomicBool::new(false));
        let driver = start_driver(&runtime, receiver, stop.clone()).map_err(runtime_error)?;
        Ok(Executor {
            inner: Arc::new(Inner {
                jobs,
                stop,
                driver: Mutex::new(Some(driver)),
                runtime,
                owns_runtime,
                shutdown_hooks: Mutex::new(Hooks::default()),
                shut_down: AtomicBool::new(false),
            }),
        })
    }

    /// The executor shared by every client built without an explicit dispatcher.
    ///
    /// It is started on first use and lives until the process exits (or until someone calls
    /// [`shutdown`](Executor::shutdown) on it).
    ///
    /// # Errors
    ///
    /// [`Error::Runtime`] if the threads cannot be started.
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
        // Its tokio thread is the one clients on host dispatchers use too, so a process never
        // has more than that one library thread.
        let runtime = Runtime::shared().map_err(runtime_error)?;
        let executor = Executor::with_runtime(runtime, false)?;
        Ok(SHARED.get_or_init(|| executor).clone())
    }

    /// Shuts the executor down (see [Shutdown](Executor#shutdown)), waiting at most 5 s.
    ///
    /// Returns `true` if everything closed, and the task finished and the thread was joined,
    /// within the bound (or had been already).
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread for at most the bound. Called where it would wait for
    /// itself (from a job, or on the library's thread), it starts the closes, signals the
    /// stop without waiting, and returns `false`.
    pub fn shutdown(&self) -> bool {
        self.shutdown_timeout(DEFAULT_SHUTDOWN_BOUND)
    }

    /// [`shutdown`](Executor::shutdown) with an explicit bound.
    pub fn shutdown_timeout(&self, bound: Duration) -> bool {
        self.inner.shutdown(bound)
    }

    /// True once the executor has been shut down.
    pub fn is_shut_down(&self) -> bool {
        self.inner.shut_down.load(Ordering::Acquire)
    }

    pub(crate) fn runtime(&self) -> Arc<Runtime> {
        self.inner.runtime.clone()
    }

    /// Queues a caller's job. After shutdown it is dropped, which resolves its caller with
    /// `Error::Shutdown`.
    pub(crate) fn dispatch_call(&self, job: Job) {
        if !self.is_shut_down() {
            let _ = self.inner.jobs.try_send(Queued::Call(job));
        }
    }

    /// Queues a cleanup job: it runs to completion even if the executor is shutting down.
    pub(crate) fn dispatch_cleanup(&self, job: Job) {
        let _ = self.inner.jobs.try_send(Queued::Cleanup(job));
    }

    /// Registers what must be closed on shutdown, in `O(1)` amortised time.
    pub(crate) fn on_shutdown(&self, hook: Weak<dyn OnShutdown>) {
        lock(&self.inner.shutdown_hooks).push(hook);
    }
}

impl Inner {
    fn shutdown(&self, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        let first = !self.shut_down.swap(true, Ordering::AcqRel);
        let Some(driver) = lock(&self.driver).take() else {
            return !first || self.stop_runtime(remaining(deadline));
        };
        if driver.cannot_wait() {
            // From a job we cannot wait for ourselves: start the closes, signal, and let the
            // driver wind down; a later shutdown from outside can still join it.
            if first {
                drop(self.start_closing_sessions());
            }
            self.stop.store(true, Ordering::Release);
            self.jobs.close();
            *lock(&self.driver) = Some(driver);
            return false;
        }
        let mut clean = true;
        if first {
            let closing = self.start_closing_sessions();
            let closed = futures::future::join_all(closing.iter().map(|closed| closed.wait()));
            clean &= block_on_bounded(closed, remaining(deadline)).is_some();
        }
        self.stop.store(true, Ordering::Release);
        self.jobs.close();
        clean &= driver.join(remaining(deadline));
        clean &= self.stop_runtime(remaining(deadline));
        clean
    }

    /// Stops the tokio thread if this executor owns it.
    fn stop_runtime(&self, bound: Duration) -> bool {
        !self.owns_runtime || self.runtime.stop(bound)
    }

    /// Refuses later calls of every client on this executor and starts closing their
    /// sessions, as cleanup jobs on the executor. Returns the flags raised as each is closed.
    fn start_closing_sessions(&self) -> Vec<Arc<Flag>> {
        let hooks = lock(&self.shutdown_hooks).take();
        hooks
            .iter()
            .filter_map(Weak::upgrade)
            .filter_map(|hook| hook.shut_down())
            .collect()
    }
}

fn runtime_error(source: std::io::Error) -> Error {
    Error::Runtime {
        source: Arc::new(source),
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown(DEFAULT_SHUTDOWN_BOUND);
    }
}

/// Receives jobs and polls them all until told to stop; then drops the callers' jobs and
/// finishes the cleanup jobs.
fn drive(
    receiver: async_channel::Receiver<Queued>,
    stop: Arc<AtomicBool>,
) -> impl std::future::Future<Output = ()> + Send {
    let mut receiver = Box::pin(receiver);
    let mut calls = Some(FuturesUnordered::new());
    let mut cleanups = FuturesUnordered::new();
    let mut receiving = true;
    futures::future::poll_fn(move |cx| {
        loop {
            let stopping = stop.load(Ordering::Acquire);
            if stopping && let Some(calls) = calls.take() {
                // Dropping the callers' jobs resolves them with `Error::Shutdown`.
                drop_jobs(calls);
            }
            while receiving {
                match receiver.poll_next_unpin(cx) {
                    // A job that panics is dropped; the others carry on.
                    Poll::Ready(Some(Queued::Call(job))) => match &mut calls {
                        Some(calls) => calls.push(AssertUnwindSafe(job).catch_unwind()),
                        None => drop_jobs([job]),
                    },
                    Poll::Ready(Some(Queued::Cleanup(job))) => {
                        cleanups.push(AssertUnwindSafe(job).catch_unwind())
                    }
                    Poll::Ready(None) => receiving = false,
                    Poll::Pending => break,
                }
            }
            if let Some(calls) = &mut calls {
                poll_all(calls, cx);
            }
            poll_all(&mut cleanups, cx);
            // A job may have set the stop flag (shutdown from inside a job): go round again.
            if stop.load(Ordering::Acquire) != stopping {
                continue;
            }
            let idle = calls.as_ref().is_none_or(FuturesUnordered::is_empty) && cleanups.is_empty();
            return if idle && (!receiving || stopping) {
                Poll::Ready(())
            } else {
                Poll::Pending
            };
        }
    })
}

fn poll_all<F>(jobs: &mut FuturesUnordered<F>, cx: &mut std::task::Context<'_>)
where
    F: std::future::Future<Output = std::thread::Result<()>> + Unpin,
{
    while let Poll::Ready(Some(outcome)) = jobs.poll_next_unpin(cx) {
        if let Err(payload) = outcome {
            log::error!(
                "mcp-dispatch: a job panicked on the executor: {}",
                panic_message(&*payload)
            );
        }
    }
}

fn drop_jobs<I: IntoIterator>(jobs: I) {
    for job in jobs {
        if std::panic::catch_unwind(AssertUnwindSafe(move || drop(job))).is_err() {
            log::error!("mcp-dispatch: a job panicked while being dropped at shutdown");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;

    impl OnShutdown for Nothing {
        fn shut_down(&self) -> Option<Arc<Flag>> {
            None
        }
    }

    fn hook() -> Arc<dyn OnShutdown> {
        Arc::new(Nothing)
    }

    #[test]
    fn hooks_keep_every_live_one_and_stay_within_twice_the_live_count() {
        let mut hooks = Hooks::default();
        let live: Vec<Arc<dyn OnShutdown>> = (0..100).map(|_| hook()).collect();
        for (i, live) in live.iter().enumerate() {
            hooks.push(Arc::downgrade(live));
            // Ten dead ones for each live one.
            for _ in 0..10 {
                hooks.push(Arc::downgrade(&hook()));
            }
            assert!(
                hooks.hooks.len() <= MIN_PRUNE_LEN.max(2 * (i + 1)) + 11,
                "{} hooks for {} live",
                hooks.hooks.len(),
                i + 1
            );
        }
        let kept = hooks.take();
        let upgraded: Vec<_> = kept.iter().filter_map(Weak::upgrade).collect();
        assert_eq!(upgraded.len(), live.len());
        for live in &live {
            assert!(upgraded.iter().any(|hook| Arc::ptr_eq(hook, live)));
        }
        assert!(hooks.hooks.is_empty());
    }
}
