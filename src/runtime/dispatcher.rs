//! The plug-in point for running this library's futures on a host's own loop.

use std::future::Future;
use std::pin::Pin;

/// A unit of work: a boxed future the dispatcher must poll to completion (or drop).
///
/// Jobs arrive already wrapped by the library: they enter the library's tokio context on every
/// poll and drop, and they catch their own panics. A dispatcher needs no tokio and never sees
/// an unwind from a job.
pub type Job = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs the library's jobs on a host's own loop or executor, in place of the built-in
/// [`Executor`](crate::Executor).
///
/// A dispatcher receives each job once and must poll it until it completes. Dropping a job
/// instead (for example because the host is shutting down) is allowed: the caller waiting on
/// it receives [`Error::Shutdown`](crate::Error::Shutdown).
///
/// Any `Fn(Job) + Send + Sync + 'static` closure is a dispatcher, so a smol application can
/// write `|job| smol::spawn(job).detach()`.
///
/// Jobs are ordinary futures and wake their waker when they can make progress, so a host loop
/// that sleeps between events only needs a waker that posts to its own event queue (for a GUI,
/// an event-loop proxy); polling every job once per frame with a no-op waker also works. The
/// process of a stdio server is started on the library's tokio thread, so no job blocks in
/// system calls for long.
///
/// The dispatcher, and whatever it captured, is dropped once the last client using it and
/// the last of its jobs are gone; a host can take its job channel closing as the sign that
/// the library is done with it.
///
/// # A dispatcher that does not poll
///
/// Every timeout of the library (connect, call, close) runs inside the job, so its clock
/// starts only when the dispatcher first polls the job. Until then:
///
/// - the `_blocking` methods are still bounded: each gives up after its own bound (derived
///   from the connect and call timeouts, as documented on it) and returns
///   [`Error::Timeout`](crate::Error::Timeout);
/// - the futures of the async methods are not: they resolve when the job completes or is
///   dropped (then with [`Error::Shutdown`](crate::Error::Shutdown)), and wait for ever on
///   a dispatcher that neither polls nor drops it.
///
/// To bound an async call against a dispatcher that may stall, wrap its future in your
/// runtime's timeout (`tokio::time::timeout`, `async_std::future::timeout`, or a race with
/// `smol::Timer`). Dropping the future when the timeout fires is safe: it abandons the call,
/// the job ends as soon as it is polled, and a request already sent is cancelled on the
/// server (`notifications/cancelled`), as with any dropped call future. The library puts
/// no bound of its own around that wait: only the caller knows how long a call may rightly
/// take (one whose timeout restarts on progress, see [`CallOptions`](crate::CallOptions),
/// may run well past its call timeout).
///
/// # Example
///
/// A dispatcher that queues jobs for a loop the host owns:
///
/// ```
/// use mcp_dispatch::{Dispatcher, Job};
///
/// let (tx, rx) = std::sync::mpsc::channel::<Job>();
/// let tx = std::sync::Mutex::new(tx);
/// let dispatcher = move |job: Job| {
///     let _ = tx.lock().unwrap().send(job);
/// };
/// dispatcher.dispatch(Box::pin(async {}));
/// let job = rx.try_recv().expect("the job was queued");
/// futures::executor::block_on(job);
/// ```
pub trait Dispatcher: Send + Sync + 'static {
    /// Takes `job` and arranges for it to be polled to completion.
    ///
    /// This is called from whatever thread makes a call, so it must not block for long.
    fn dispatch(&self, job: Job);
}

impl<F> Dispatcher for F
where
    F: Fn(Job) + Send + Sync + 'static,
{
    fn dispatch(&self, job: Job) {
        self(job)
    }
}

/// Hands `job` to `dispatcher`, containing a panic of the dispatcher itself (the job is then
/// dropped, and its caller sees [`Error::Shutdown`](crate::Error::Shutdown)). This matters
/// because jobs are also dispatched from `Drop`, where an unwind would abort.
pub(crate) fn dispatch(dispatcher: &dyn Dispatcher, job: Job) {
    let dispatched =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dispatcher.dispatch(job)));
    if let Err(payload) = dispatched {
        log::error!(
            "mcp-dispatch: the dispatcher panicked: {}",
            crate::error::panic_message(&*payload)
        );
    }
}
