//! The tokio context that rmcp needs, kept out of sight of callers.
//!
//! rmcp spawns tokio tasks, uses tokio timers and `tokio::process`. We give it one
//! current-thread tokio runtime, driven by one named thread, and enter that runtime's handle
//! around every poll and every drop of the futures we run for rmcp ([`InContext`]). Besides
//! the transports (which build rmcp's tokio-based I/O) and the public `tokio_handle` setters
//! of the builders, this is the only module that names tokio: the others wait, sleep and
//! spawn through the functions here.

use std::cell::Cell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use crate::error::panic_message;
use crate::runtime::sync::lock;

/// Name of the thread that drives the tokio runtime.
pub(crate) const TOKIO_THREAD_NAME: &str = "mcp-dispatch-rt";

/// How long dropping the last handle waits for the tokio thread to finish.
const JOIN_BOUND: Duration = Duration::from_secs(2);

/// One current-thread tokio runtime driven by one named thread.
pub(crate) struct Runtime {
    handle: tokio::runtime::Handle,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
    finished: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

static SHARED: Mutex<Weak<Runtime>> = Mutex::new(Weak::new());

impl Runtime {
    /// The runtime shared by every client of this process, started if none is alive.
    ///
    /// The runtime stops, and its thread is joined, when the last `Arc` to it drops.
    pub(crate) fn shared() -> std::io::Result<Arc<Runtime>> {
        let mut shared = lock(&SHARED);
        if let Some(runtime) = shared.upgrade() {
            return Ok(runtime);
        }
        let runtime = Arc::new(Runtime::start()?);
        *shared = Arc::downgrade(&runtime);
        Ok(runtime)
    }

    /// Starts a runtime of its own (an [`Executor`](crate::Executor)'s).
    pub(crate) fn start() -> std::io::Result<Runtime> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name(TOKIO_THREAD_NAME)
            .build()?;
        let handle = runtime.handle().clone();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let finished = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let finished_in_thread = finished.clone();
        let thread = thread::Builder::new()
            .name(TOKIO_THREAD_NAME.into())
            .spawn(move || {
                mark_library_thread();
                let _ = runtime.block_on(stop_rx);
                // Give tasks spawned during teardown (child cleanup) a moment, bounded.
                runtime.shutdown_timeout(Duration::from_millis(500));
                let (done, cvar) = &*finished_in_thread;
                *lock(done) = true;
                cvar.notify_all();
            })?;
        Ok(Runtime {
            handle,
            stop: Mutex::new(Some(stop_tx)),
            thread: Mutex::new(Some(thread)),
            finished,
        })
    }

    /// A host's tokio runtime, which the library neither drives nor stops: it starts no
    /// thread.
    pub(crate) fn host(handle: tokio::runtime::Handle) -> Runtime {
        Runtime {
            handle,
            stop: Mutex::new(None),
            thread: Mutex::new(None),
            finished: Arc::new((Mutex::new(true), std::sync::Condvar::new())),
        }
    }

    /// Runs `job` as a task of this runtime.
    pub(crate) fn spawn_job(&self, job: crate::runtime::dispatcher::Job) {
        drop(self.handle.spawn(job));
    }

    /// Spawns `future` as a task on this runtime's thread, outside tokio's cooperative
    /// budget (it polls many jobs per wake, and must not be starved by the budget of one).
    pub(crate) fn spawn_task<F>(&self, future: F) -> Task
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Task(self.handle.spawn(tokio::task::unconstrained(future)))
    }

    /// Wraps `future` so that it is polled and dropped inside this runtime's context.
    pub(crate) fn wrap<F: Future>(&self, future: F) -> InContext<F> {
        InContext {
            handle: self.handle.clone(),
            future: Some(Box::pin(future)),
        }
    }
}

impl Runtime {
    /// Tells the runtime thread to stop, without waiting.
    fn signal_stop(&self) {
        if let Some(stop) = lock(&self.stop).take() {
            let _ = stop.send(());
        }
    }

    /// Stops the runtime and joins its thread, waiting at most `bound`. Returns `true` if the
    /// thread was joined (now or before).
    pub(crate) fn stop(&self, bound: Duration) -> bool {
        self.signal_stop();
        let Some(thread) = lock(&self.thread).take() else {
            return true;
        };
        if thread.thread().id() == thread::current().id() {
            // Stopped from a task on the runtime thread itself: it finishes on its own.
            return false;
        }
        let (done, cvar) = &*self.finished;
        let guard = lock(done);
        let (guard, _) = cvar
            .wait_timeout_while(guard, bound, |done| !*done)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *guard {
            drop(guard);
            let _ = thread.join();
            true
        } else {
            log::warn!("mcp-dispatch: the tokio thread did not stop within {bound:?}");
            *lock(&self.thread) = Some(thread);
            false
        }
    }
}

/// A task on a [`Runtime`]; awaiting it waits for the task to finish.
pub(crate) struct Task(tokio::task::JoinHandle<()>);

impl Task {
    /// True when called from inside this task.
    pub(crate) fn is_current(&self) -> bool {
        tokio::task::try_id() == Some(self.0.id())
    }
}

impl Future for Task {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop(JOIN_BOUND);
    }
}

thread_local! {
    static IN_JOB: Cell<bool> = const { Cell::new(false) };
    static LIBRARY_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// True while the current thread is polling or dropping one of this library's jobs.
pub(crate) fn in_job() -> bool {
    IN_JOB.with(Cell::get)
}

/// Marks the current thread as one the library drives (the executor or the tokio thread).
pub(crate) fn mark_library_thread() {
    LIBRARY_THREAD.with(|flag| flag.set(true));
}

/// True on a thread the library drives (its tokio runtime's thread).
pub(crate) fn on_library_thread() -> bool {
    LIBRARY_THREAD.with(Cell::get)
}

/// True where a blocking wait would deadlock: on a thread the library drives, or inside one
/// of its jobs on any thread.
pub(crate) fn blocking_would_deadlock() -> bool {
    in_job() || LIBRARY_THREAD.with(Cell::get)
}

struct JobMark(bool);

impl JobMark {
    fn enter() -> JobMark {
        JobMark(IN_JOB.with(|flag| flag.replace(true)))
    }
}

impl Drop for JobMark {
    fn drop(&mut self) {
        let previous = self.0;
        IN_JOB.with(|flag| flag.set(previous));
    }
}

/// A future polled and dropped with the tokio handle entered, and never unwinding.
///
/// A panic while polling or dropping the inner future is caught and logged; the future then
/// completes, so no panic from rmcp (or from user callbacks it runs) reaches the host's loop.
pub(crate) struct InContext<F: Future> {
    handle: tokio::runtime::Handle,
    future: Option<Pin<Box<F>>>,
}

impl<F: Future> InContext<F> {
    fn drop_inner(&mut self) {
        if let Some(future) = self.future.take() {
            let _enter = self.handle.enter();
            let _mark = JobMark::enter();
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(future))) {
                log::error!(
                    "mcp-dispatch: a job panicked while being dropped: {}",
                    panic_message(&*payload)
                );
            }
        }
    }
}

impl<F: Future> Future for InContext<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let this = self.get_mut();
        let Some(future) = this.future.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = {
            let _enter = this.handle.enter();
            let _mark = JobMark::enter();
            catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx)))
        };
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => {
                this.drop_inner();
                Poll::Ready(Some(output))
            }
            Err(payload) => {
                log::error!("mcp-dispatch: a job panicked: {}", panic_message(&*payload));
                this.drop_inner();
                Poll::Ready(None)
            }
        }
    }
}

impl<F: Future> Drop for InContext<F> {
    fn drop(&mut self) {
        self.drop_inner();
    }
}

/// `tokio::time::timeout`, for code that must not name tokio. `None` means it elapsed.
///
/// Must be polled inside an [`InContext`].
pub(crate) async fn timeout<F: Future>(duration: Duration, future: F) -> Option<F::Output> {
    tokio::time::timeout(duration, future).await.ok()
}

/// `tokio::time::sleep`, for code that must not name tokio. Must be polled inside an
/// [`InContext`].
pub(crate) async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await
}

/// Spawns `future` on the tokio runtime this thread is inside, if it is inside one (false if
/// not), for code that must not name tokio and may run outside the library's context.
#[cfg(feature = "oauth")]
pub(crate) fn spawn_if_in_context<F>(future: F) -> bool
where
    F: Future<Output = ()> + Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            drop(runtime.spawn(future));
            true
        }
        Err(_) => false,
    }
}

/// `tokio::task::spawn_blocking`, for code that must not name tokio: runs `work` on the
/// runtime's blocking pool and gives its output, or the panic as an error. Must be called
/// inside an [`InContext`].
#[cfg(feature = "oauth")]
pub(crate) async fn run_blocking<T, W>(work: W) -> std::io::Result<T>
where
    W: FnOnce() -> std::io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|error| Err(std::io::Error::other(error.to_string())))
}

/// `tokio::spawn` onto the runtime, for code that must not name tokio. Must be called inside
/// an [`InContext`].
pub(crate) fn spawn<F>(future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    drop(tokio::spawn(future));
}

/// Waits until the tokio thread has run the tasks queued before this call.
///
/// rmcp hands each notification to its own task, while it delivers a response directly, so
/// a progress report sent just before the answer can still be queued when the answer
/// arrives. The runtime runs tasks in order, so once a task spawned now has run, the queued
/// ones have too. Two rounds guard against the scheduler taking the remote queue first.
/// Must be polled inside an [`InContext`].
pub(crate) async fn after_queued_tasks() {
    for _ in 0..2 {
        let _ = tokio::spawn(async {}).await;
    }
}

/// Runs the future `make` returns on a thread of its own named `name`, inside this runtime's
/// context, and waits for its output; `None` if it panicked. The future need not be `Send`
/// (it never leaves that thread). Must be called inside an [`InContext`].
///
/// Dropping the wait cancels the work: the thread drops the future at once (releasing what
/// it holds, such as a lock) and ends.
#[cfg(feature = "oauth")]
pub(crate) async fn on_own_thread<M, F>(name: &str, make: M) -> Option<F::Output>
where
    M: FnOnce() -> F + Send + 'static,
    F: Future,
    F::Output: Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    let (mut reply, output) = futures::channel::oneshot::channel();
    let spawned = thread::Builder::new().name(name.to_owned()).spawn(move || {
        let _enter = handle.enter();
        let ran = catch_unwind(AssertUnwindSafe(|| {
            futures::executor::block_on(async {
                let work = std::pin::pin!(make());
                let abandoned = reply.cancellation();
                match futures::future::select(work, abandoned).await {
                    futures::future::Either::Left((output, _)) => Some(output),
                    futures::future::Either::Right(_) => None,
                }
            })
        }));
        match ran {
            Ok(Some(output)) => {
                let _ = reply.send(Some(output));
            }
            // Nobody waits any more.
            Ok(None) => {}
            Err(payload) => {
                log::error!("mcp-dispatch: a job panicked: {}", panic_message(&*payload));
                let _ = reply.send(None);
            }
        }
    });
    match spawned {
        Ok(_) => output.await.ok().flatten(),
        Err(error) => {
            log::error!("mcp-dispatch: cannot start a thread: {error}");
            None
        }
    }
}

/// Runs `future` as a task on the tokio thread and waits for its output; `None` if it
/// panicked. Dropping the wait aborts the task. Must be called inside an [`InContext`].
///
/// Used for work that blocks briefly in system calls, such as starting a process, so that it
/// never runs on a host's own loop.
pub(crate) async fn on_runtime_thread<F>(future: F) -> Option<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    struct AbortOnDrop(tokio::task::AbortHandle);

    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }

    let task = tokio::spawn(future);
    let _abort = AbortOnDrop(task.abort_handle());
    task.await.ok()
}
