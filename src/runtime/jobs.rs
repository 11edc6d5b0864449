//! Where a client's work runs: jobs on its dispatcher, in the library's tokio context.
//!
//! Every piece of work the library does for a caller (a call, a connect, a tool-list fetch,
//! a close, a handler's answer to a server request) becomes a [`Job`] here and nowhere else:
//! it is wrapped in the tokio context rmcp needs, its panic is contained, and, when someone
//! waits for it, its outcome comes back over a oneshot channel.

use std::cell::RefCell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use futures::FutureExt;
use futures::future::Either;

use crate::error::{Error, panic_message};
use crate::runtime::Runtime;
use crate::runtime::dispatcher::{Dispatcher, Job, dispatch};
use crate::runtime::executor::Executor;

/// Why a job gave no outcome.
#[derive(Debug)]
pub(crate) enum Lost {
    /// The work panicked, with this message.
    Panicked(String),
    /// The dispatcher dropped the job unfinished (it shut down).
    Dropped,
}

impl Lost {
    /// The error a caller of `server` gets for a job that gave no outcome.
    pub(crate) fn into_error(self, server: String) -> Error {
        match self {
            Lost::Panicked(message) => Error::Panicked { server, message },
            Lost::Dropped => Error::Shutdown { server },
        }
    }
}

/// What runs a client's jobs.
#[derive(Clone)]
pub(crate) enum Target {
    /// The built-in executor: its shutdown also closes the client's sessions.
    Executor(Executor),
    /// A host's dispatcher.
    Host(Arc<dyn Dispatcher>),
    /// A host's tokio runtime: jobs are its tasks, and rmcp's tasks run there too.
    Tokio(Arc<Runtime>),
}

/// A dispatcher and the tokio runtime its jobs enter.
pub(crate) struct Jobs {
    target: Target,
    runtime: Arc<Runtime>,
}

impl Jobs {
    /// Jobs on `target`, entering `runtime`.
    pub(crate) fn new(target: Target, runtime: Arc<Runtime>) -> Jobs {
        Jobs { target, runtime }
    }

    /// The executor the jobs run on, if it is the built-in one.
    pub(crate) fn executor(&self) -> Option<&Executor> {
        match &self.target {
            Target::Executor(executor) => Some(executor),
            Target::Host(_) | Target::Tokio(_) => None,
        }
    }

    /// True if a blocking wait on this thread could keep these jobs from running: a thread
    /// that runs the library's jobs, or one the host's dispatcher has run them on.
    pub(crate) fn blocking_would_deadlock(&self) -> bool {
        crate::runtime::blocking_would_deadlock()
            || match &self.target {
                Target::Host(dispatcher) => host_thread_of(dispatcher),
                Target::Executor(_) | Target::Tokio(_) => false,
            }
    }

    /// Runs `work` as a job and returns a future of its outcome.
    ///
    /// `work` is boxed now, so the returned future stays a few words long however large
    /// `work` is (a caller's future is moved and kept on its stack). The job is dispatched
    /// when the returned future is first polled. Dropping that future stops the job at its
    /// next poll, dropping `work` (which cancels an rmcp request in flight).
    pub(crate) fn run<T, F>(
        self: &Arc<Self>,
        work: F,
    ) -> impl Future<Output = Result<T, Lost>> + Send + 'static
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let jobs = self.clone();
        let (job, outcome) = with_outcome(&self.runtime, work);
        async move {
            jobs.dispatch(job);
            outcome.await
        }
    }

    /// Runs `work` as a job without waiting for it. A panic is logged.
    pub(crate) fn spawn<F>(&self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.dispatch(self.job(work));
    }

    /// Runs `work`, which closes something, as a job without waiting for it.
    ///
    /// The job holds the tokio runtime until it is done, and on the built-in executor it runs
    /// to completion even through the executor's shutdown (`work` must bound itself).
    pub(crate) fn spawn_cleanup<F>(&self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let runtime = self.runtime.clone();
        let job = self.job(async move {
            work.await;
            drop(runtime);
        });
        match &self.target {
            Target::Executor(executor) => executor.dispatch_cleanup(job),
            Target::Host(dispatcher) => dispatch(&**dispatcher, job),
            Target::Tokio(runtime) => runtime.spawn_job(job),
        }
    }

    fn job<F>(&self, work: F) -> Job
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Box::pin(self.runtime.wrap(work).map(drop))
    }

    fn dispatch(&self, job: Job) {
        let started = crate::runtime::blocking::take_watch();
        match &self.target {
            Target::Executor(executor) => {
                // The executor runs every job it takes.
                started.inspect(|started| started.store(true, Ordering::Release));
                executor.dispatch_call(job)
            }
            Target::Host(dispatcher) => {
                let job = Box::pin(OnHostThread {
                    dispatcher: Arc::downgrade(dispatcher),
                    started,
                    job,
                });
                dispatch(&**dispatcher, job)
            }
            Target::Tokio(runtime) => {
                started.inspect(|started| started.store(true, Ordering::Release));
                runtime.spawn_job(job)
            }
        }
    }
}

/// How many host dispatchers a thread remembers running jobs for.
const HOST_MARKS: usize = 8;

thread_local! {
    /// The host dispatchers whose jobs this thread has run: a blocking wait here could keep
    /// their next job from running. Weak, so that no address is reused while it is here.
    static HOST_OF: RefCell<Vec<Weak<dyn Dispatcher>>> = const { RefCell::new(Vec::new()) };
}

/// True if this thread has run a job of `dispatcher`.
fn host_thread_of(dispatcher: &Arc<dyn Dispatcher>) -> bool {
    let dispatcher = Arc::downgrade(dispatcher);
    HOST_OF.with(|marks| marks.borrow().iter().any(|mark| mark.ptr_eq(&dispatcher)))
}

/// Remembers that this thread runs jobs of `dispatcher`.
fn mark_host_thread(dispatcher: &Weak<dyn Dispatcher>) {
    HOST_OF.with(|marks| {
        let mut marks = marks.borrow_mut();
        if marks.iter().any(|mark| mark.ptr_eq(dispatcher)) {
            return;
        }
        marks.retain(|mark| mark.strong_count() > 0);
        if marks.len() == HOST_MARKS {
            marks.remove(0);
        }
        marks.push(dispatcher.clone());
    });
}

/// A host dispatcher's job: it marks each thread that polls it as one of the dispatcher's,
/// and sets `started` (if a blocking wait watches it) on its first poll.
struct OnHostThread {
    dispatcher: Weak<dyn Dispatcher>,
    started: Option<Arc<AtomicBool>>,
    job: Job,
}

impl Future for OnHostThread {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(started) = self.started.take() {
            started.store(true, Ordering::Release);
        }
        mark_host_thread(&self.dispatcher);
        self.job.as_mut().poll(cx)
    }
}

/// `work` as a job for `runtime`, and the future of its outcome.
///
/// The job polls `work` inside the runtime's context, catches its panic, and sends the
/// outcome. If the outcome's future is dropped first, the job stops at its next poll and drops
/// `work`. If the job is dropped unfinished, the outcome is [`Lost::Dropped`].
fn with_outcome<T, F>(
    runtime: &Runtime,
    work: F,
) -> (Job, impl Future<Output = Result<T, Lost>> + Send + 'static)
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let (mut reply, outcome) = futures::channel::oneshot::channel::<Result<T, Lost>>();
    let job = runtime.wrap(async move {
        let work = AssertUnwindSafe(work).catch_unwind();
        let finished = {
            let abandoned = reply.cancellation();
            match futures::future::select(pin!(work), abandoned).await {
                Either::Left((finished, _)) => Some(finished),
                Either::Right(_) => None,
            }
        };
        if let Some(finished) = finished {
            let outcome = finished.map_err(|payload| Lost::Panicked(panic_message(&*payload)));
            let _ = reply.send(outcome);
        }
    });
    let outcome = async move { outcome.await.unwrap_or(Err(Lost::Dropped)) };
    (Box::pin(job.map(drop)), outcome)
}
