//! The state behind a [`Client`](crate::Client): its session slot, and the work its jobs do.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Either};
use rmcp::model::{CallToolRequestParams, CallToolResult, Tool};

use crate::config::ServerConfig;
use crate::dispatcher::{Dispatcher, dispatch, job};
use crate::error::{Error, Result, panic_message};
use crate::executor::{Executor, OnShutdown};
use crate::notify::Progress;
use crate::options::{CallOptions, Retry};
use crate::request::{self, Deadline, Failure};
use crate::runtime::{self, Runtime};
use crate::session::{self, Backoff, Hooks, Session};
use crate::single_flight::{Acquired, SingleFlight};
use crate::stdio::Limits;
use crate::sync::{Flag, lock};

pub(crate) struct Backend {
    pub(crate) dispatcher: Arc<dyn Dispatcher>,
    pub(crate) runtime: Arc<Runtime>,
    /// Set when the dispatcher is an [`Executor`], which runs cleanup through shutdown.
    pub(crate) executor: Option<Executor>,
}

pub(crate) struct Inner {
    pub(crate) name: String,
    pub(crate) config: ServerConfig,
    pub(crate) backend: Result<Backend>,
    pub(crate) slot: Arc<SingleFlight<Arc<Session>, Error>>,
    pub(crate) connect_timeout: Duration,
    pub(crate) call_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) retry: Retry,
    pub(crate) backoff: Backoff,
    /// Tool name -> whether its annotations make a retry safe, from the last listing.
    pub(crate) safe_tools: Mutex<HashMap<String, bool>>,
    /// Set when the executor shut down: calls then fail with `Error::Shutdown`.
    pub(crate) shut_down: AtomicBool,
    pub(crate) connects: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) hooks: Arc<Hooks>,
    /// Longest message read from a stdio server.
    pub(crate) max_message_size: usize,
    /// Raised by a close, a shutdown or the drop of the last handle: stops a connect in flight.
    pub(crate) closing: Flag,
}

/// The body of every job: runs `work`, sends its result (or its panic), and stops early if
/// the caller has gone.
pub(crate) async fn run_job<T, W, F>(
    work: W,
    inner: Arc<Inner>,
    mut reply: futures::channel::oneshot::Sender<Result<T>>,
) where
    W: FnOnce(Arc<Inner>) -> F,
    F: Future<Output = Result<T>>,
{
    let server = inner.name.clone();
    let work = AssertUnwindSafe(work(inner)).catch_unwind();
    let outcome = {
        let abandoned = reply.cancellation();
        match futures::future::select(pin!(work), abandoned).await {
            Either::Left((outcome, _)) => Some(outcome),
            Either::Right(_) => None,
        }
    };
    if let Some(outcome) = outcome {
        let result = outcome.unwrap_or_else(|payload| {
            Err(Error::Panicked {
                server,
                message: panic_message(&*payload),
            })
        });
        let _ = reply.send(result);
    }
}

impl Inner {
    /// The live session, connecting (once, shared) if there is none or it died.
    pub(crate) async fn session(self: &Arc<Self>) -> Result<Arc<Session>> {
        let backend = self.backend.as_ref().map_err(Clone::clone)?;
        let mut handed_off = None;
        loop {
            match self.slot.acquire_after(handed_off.take()).await {
                Acquired::Ready(session, generation) => {
                    if !session.is_dead() {
                        return Ok(session);
                    }
                    if let Some(dead) = self.slot.invalidate(generation) {
                        log::info!(
                            "mcp-dispatch: server `{}`: session {generation} is dead; reconnecting",
                            self.name
                        );
                        self.close_in_background(dead);
                    }
                }
                Acquired::Claimed(claim) => {
                    // The connect runs as its own job, so it finishes (or fails cleanly) even
                    // if this caller is dropped; this caller then waits for it like the others.
                    handed_off = Some(claim.attempt());
                    let inner = self.clone();
                    dispatch(&*backend.dispatcher, job(backend.runtime.wrap(async move {
                        let connect = pin!(session::connect(
                            &inner.name,
                            &inner.config,
                            inner.connect_timeout,
                            inner.limits(),
                            &inner.backoff,
                            &inner.hooks,
                        ));
                        // A close stops the connect: dropping it stops the process it started.
                        let outcome = match futures::future::select(connect, pin!(inner.closing.wait())).await {
                            Either::Left((outcome, _)) => outcome,
                            Either::Right(_) => {
                                log::info!(
                                    "mcp-dispatch: server `{}`: connect stopped by close",
                                    inner.name
                                );
                                claim.fail(inner.closed_under(Error::Closed { server: inner.name.clone() }));
                                return;
                            }
                        };
                        match outcome {
                            Ok(started) => {
                                inner.connects.fetch_add(1, Ordering::Relaxed);
                                // A new session may serve a different tool list.
                                inner.hooks.tools_changed();
                                if claim.succeed(|generation| started.into_session(generation)).is_err() {
                                    log::info!(
                                        "mcp-dispatch: server `{}`: closed while connecting",
                                        inner.name
                                    );
                                }
                            }
                            Err(error) => {
                                inner.connect_failures.fetch_add(1, Ordering::Relaxed);
                                claim.fail(error)
                            }
                        }
                    }).map(drop)));
                }
                Acquired::Failed(error) => return Err(error),
                Acquired::Closed if self.shut_down.load(Ordering::Acquire) => {
                    return Err(Error::Shutdown {
                        server: self.name.clone(),
                    });
                }
                Acquired::Closed => {
                    return Err(Error::Closed {
                        server: self.name.clone(),
                    });
                }
            }
        }
    }

    /// How server processes are read from and stopped.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_message_size: self.max_message_size,
            grace: self.close_timeout / 2,
        }
    }

    /// Closes the client: stops a connect in flight, refuses later calls, and returns the
    /// session to close, if there was one.
    pub(crate) fn close_slot(&self) -> Option<Arc<Session>> {
        self.closing.set();
        self.slot.close()
    }

    /// Waits, at most `bound`, for the last server process started to be stopped (after a
    /// close that found a connect in flight rather than a session).
    pub(crate) async fn started_process_stopped(&self, bound: Duration) {
        let stopped = lock(&self.hooks.starting).clone();
        if let Some(stopped) = stopped {
            let _ = runtime::timeout(bound, stopped.wait()).await;
        }
    }

    /// The deadline of a call with `options`.
    pub(crate) fn deadline(&self, options: &CallOptions) -> Deadline {
        Deadline {
            timeout: options.timeout.unwrap_or(self.call_timeout),
            reset_on_progress: options.reset_on_progress,
        }
    }

    /// One `tools/call`, retried once on a new session when that is safe (see [`Retry`]).
    pub(crate) async fn call_tool(
        self: &Arc<Self>,
        tool: &str,
        params: CallToolRequestParams,
        options: &CallOptions,
        progress: Option<futures::channel::mpsc::UnboundedSender<Progress>>,
    ) -> Result<CallToolResult> {
        let deadline = self.deadline(options);
        let retry = options.retry.unwrap_or(self.retry);
        let mut retried = false;
        loop {
            let session = self.session().await?;
            let route = progress
                .clone()
                .map(|sink| (self.hooks.progress.clone(), session.progress_session, sink));
            let sent = request::send(
                &session.peer,
                request::call_tool_request(params.clone()),
                deadline,
                route,
                session.died(),
            )
            .await;
            let error = match sent {
                Ok(result) => {
                    return request::call_tool_result(result).map_err(|message| Error::Protocol {
                        server: self.name.clone(),
                        message,
                    });
                }
                Err(Failure::NotSent) => {
                    self.retire(&session);
                    Error::TransportClosed {
                        server: self.name.clone(),
                        tool: Some(tool.to_owned()),
                    }
                }
                Err(Failure::Sent(error)) => {
                    match session::request_error(&self.name, Some(tool), error) {
                        Error::Timeout { server, tool, .. } => {
                            return Err(Error::Timeout {
                                server,
                                tool,
                                timeout: deadline.timeout,
                            });
                        }
                        closed @ Error::TransportClosed { .. } => {
                            let closed = self.closed_under(closed);
                            if !matches!(closed, Error::TransportClosed { .. }) {
                                return Err(closed);
                            }
                            self.retire(&session);
                            let safe = match retry {
                                Retry::Never => false,
                                Retry::IfSafe => self.is_safe(tool),
                                Retry::Always => true,
                            };
                            if !safe {
                                return Err(closed);
                            }
                            closed
                        }
                        other => return Err(other),
                    }
                }
            };
            if retried {
                return Err(error);
            }
            retried = true;
            self.count_retry(Some(tool));
        }
    }

    /// A read-only request (listing, reading, getting): bounded by the call timeout and
    /// retried once on a new session if its session dies under it.
    pub(crate) async fn read_only<T, F, Fut>(self: &Arc<Self>, what: &str, request: F) -> Result<T>
    where
        F: Fn(rmcp::Peer<rmcp::RoleClient>) -> Fut,
        Fut: Future<Output = std::result::Result<T, rmcp::service::ServiceError>>,
    {
        let mut retried = false;
        loop {
            let session = self.session().await?;
            let request = request(session.peer.clone());
            let answer = runtime::timeout(self.call_timeout, async {
                let request = pin!(request);
                let died = pin!(session.died());
                match futures::future::select(request, died).await {
                    Either::Left((answer, _)) => answer,
                    Either::Right(_) => Err(rmcp::service::ServiceError::TransportClosed),
                }
            })
            .await;
            match self.finish(&session, None, answer) {
                Err(Error::TransportClosed { .. }) if !retried => {
                    retried = true;
                    self.count_retry(Some(what));
                }
                outcome => return outcome,
            }
        }
    }

    /// The server's tools: the cached list, or one fetch shared by every caller that asks
    /// while it runs.
    pub(crate) async fn tools(self: &Arc<Self>) -> Result<Arc<Vec<Tool>>> {
        let backend = self.backend.as_ref().map_err(Clone::clone)?;
        let mut handed_off = None;
        loop {
            match self.hooks.tools.acquire_after(handed_off.take()).await {
                Acquired::Ready(tools, _) => return Ok(tools),
                Acquired::Failed(error) => return Err(error),
                Acquired::Closed => {
                    return Err(self.closed_under(Error::Closed {
                        server: self.name.clone(),
                    }));
                }
                Acquired::Claimed(claim) => {
                    // Like connects, the fetch runs as its own job and every caller waits.
                    handed_off = Some(claim.attempt());
                    let inner = self.clone();
                    let fetch = backend.runtime.wrap(async move {
                        // Connect first: a new session drops the cache, and that must not
                        // count as a change during this fetch.
                        if let Err(error) = inner.session().await {
                            claim.fail(error);
                            return;
                        }
                        let changes = inner.hooks.tool_changes.load(Ordering::Acquire);
                        let listed = inner
                            .read_only(
                                "tools/list",
                                |peer| async move { peer.list_all_tools().await },
                            )
                            .await;
                        match listed {
                            Ok(tools) => {
                                inner.remember_hints(&tools);
                                let tools = Arc::new(tools);
                                if let Ok((_, generation)) = claim.succeed(|_| tools.clone())
                                    && inner.hooks.tool_changes.load(Ordering::Acquire) != changes
                                {
                                    // The list changed while it was fetched: serve this
                                    // answer to the callers waiting for it, but do not keep it.
                                    inner.hooks.tools.invalidate(generation);
                                }
                            }
                            Err(error) => claim.fail(error),
                        }
                    });
                    dispatch(&*backend.dispatcher, job(fetch.map(drop)));
                }
            }
        }
    }

    fn is_safe(&self, tool: &str) -> bool {
        lock(&self.safe_tools).get(tool).copied().unwrap_or(false)
    }

    pub(crate) fn remember_hints(&self, tools: &[Tool]) {
        let mut safe_tools = lock(&self.safe_tools);
        safe_tools.clear();
        for tool in tools {
            let safe = tool.annotations.as_ref().is_some_and(|hints| {
                hints.read_only_hint == Some(true) || hints.idempotent_hint == Some(true)
            });
            // A name listed twice keeps its first listing, as the Hub offers it.
            safe_tools.entry(tool.name.to_string()).or_insert(safe);
        }
    }

    pub(crate) fn count_retry(&self, tool: Option<&str>) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        log::info!(
            "mcp-dispatch: server `{}`: retrying {} on a new session",
            self.name,
            tool.map_or_else(|| "tools/list".to_owned(), |tool| format!("tool `{tool}`"))
        );
    }

    /// The error for a request whose session was closed under it: [`Error::Shutdown`] or
    /// [`Error::Closed`] if the client was shut down or closed meanwhile, else `error`.
    pub(crate) fn closed_under(&self, error: Error) -> Error {
        if self.shut_down.load(Ordering::Acquire) {
            Error::Shutdown {
                server: self.name.clone(),
            }
        } else if self.slot.is_closed() {
            Error::Closed {
                server: self.name.clone(),
            }
        } else {
            error
        }
    }

    /// Retires `session`'s generation (once, however many callers saw it die) and closes it.
    fn retire(&self, session: &Session) {
        if let Some(dead) = self.slot.invalidate(session.generation) {
            log::info!(
                "mcp-dispatch: server `{}`: session {} closed; reconnecting on the next call",
                self.name,
                session.generation
            );
            self.close_in_background(dead);
        }
    }

    /// Maps a request's outcome; a closed transport retires the session's generation.
    pub(crate) fn finish<T>(
        &self,
        session: &Session,
        tool: Option<&str>,
        outcome: Option<std::result::Result<T, rmcp::service::ServiceError>>,
    ) -> Result<T> {
        match outcome {
            Some(Ok(value)) => Ok(value),
            None => Err(Error::Timeout {
                server: self.name.clone(),
                tool: tool.map(str::to_owned),
                timeout: self.call_timeout,
            }),
            Some(Err(error)) => {
                let error = session::request_error(&self.name, tool, error);
                if matches!(error, Error::TransportClosed { .. }) {
                    self.retire(session);
                    return Err(self.closed_under(error));
                }
                Err(error)
            }
        }
    }

    /// Closes a retired session on the dispatcher without waiting for it.
    ///
    /// The job keeps the tokio runtime alive until the close is done, and on an [`Executor`]
    /// it runs even through the executor's shutdown.
    fn close_in_background(&self, session: Arc<Session>) {
        if let Ok(backend) = &self.backend {
            let name = self.name.clone();
            let bound = self.close_timeout;
            let runtime = backend.runtime.clone();
            let close = backend.runtime.wrap(async move {
                session.close(&name, bound).await;
                drop(runtime);
            });
            match &backend.executor {
                Some(executor) => executor.dispatch_cleanup(job(close.map(drop))),
                None => dispatch(&*backend.dispatcher, job(close.map(drop))),
            }
        }
    }
}

impl OnShutdown for Inner {
    fn shut_down(&self) -> Option<BoxFuture<'static, ()>> {
        self.shut_down.store(true, Ordering::Release);
        let session = self.close_slot()?;
        let name = self.name.clone();
        let bound = self.close_timeout;
        Some(async move { session.close(&name, bound).await }.boxed())
    }
}

impl Inner {
    /// Called when the last handle to the client is dropped: stops a connect in flight and
    /// closes the session in the background.
    pub(crate) fn abandon(&self) {
        if let Some(session) = self.close_slot() {
            self.close_in_background(session);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.abandon();
    }
}
