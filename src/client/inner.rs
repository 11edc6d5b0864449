//! The state behind a [`Client`](crate::Client): its session slot, and the work its jobs do
//! (connecting, fetching the tool list, sending requests and retrying them, closing).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::future::Either;
use rmcp::model::{CallToolRequestParams, CallToolResult, ServerResult, Tool};
use rmcp::service::ServiceError;
use rmcp::{Peer, RoleClient};

use crate::client::builder::Policy;
use crate::client::counters::Counters;
use crate::client::options::{CallOptions, Retry};
use crate::config::ServerConfig;
use crate::error::{Error, Result};
use crate::runtime;
use crate::runtime::executor::OnShutdown;
use crate::runtime::jobs::Jobs;
use crate::runtime::single_flight::{Claim, SingleFlight};
use crate::runtime::sync::{Flag, RaiseOnDrop, lock};
use crate::session::Session;
use crate::session::backoff::Backoff;
use crate::session::hooks::Hooks;
use crate::session::input_rounds::{self, Rounds};
use crate::session::notify::Progress;
use crate::session::request::{self, Deadline, Failure};
use crate::transport::stdio::Limits;

pub(crate) struct Inner {
    pub(crate) name: String,
    pub(crate) config: ServerConfig,
    /// Where the client's work runs; an error if the library's threads could not start.
    pub(crate) jobs: Result<Arc<Jobs>>,
    pub(crate) slot: Arc<SingleFlight<Arc<Session>, Error>>,
    pub(crate) policy: Policy,
    pub(crate) backoff: Backoff,
    /// Set when the executor shut down: calls then fail with `Error::Shutdown`.
    pub(crate) shut_down: AtomicBool,
    pub(crate) counters: Counters,
    pub(crate) hooks: Arc<Hooks>,
    /// Raised by a close, a shutdown or the drop of the last handle: stops a connect in flight.
    pub(crate) closing: Flag,
}

impl Inner {
    /// True on the thread that runs this client's sign-in step, where a blocking call of
    /// the client would wait for the sign-in that waits for it.
    pub(crate) fn signing_in_here(&self) -> bool {
        #[cfg(feature = "oauth")]
        return self.hooks.authorization.step_runs_here();
        #[cfg(not(feature = "oauth"))]
        false
    }

    /// Where the client's work runs.
    pub(crate) fn jobs(&self) -> Result<&Arc<Jobs>> {
        self.jobs.as_ref().map_err(Clone::clone)
    }

    /// The live session, connecting (once, shared) if there is none or it died.
    pub(crate) async fn session(self: &Arc<Self>) -> Result<Arc<Session>> {
        let jobs = self.jobs()?;
        loop {
            let (session, generation) = self
                .slot
                .get_or_start(|claim| {
                    // The connect runs as its own job, so it finishes (or fails cleanly) even
                    // if this caller is dropped; this caller then waits for it like the others.
                    let inner = self.clone();
                    let jobs_of_session = jobs.clone();
                    jobs.spawn(async move { inner.connect(jobs_of_session, claim).await });
                })
                .await
                .map_err(|failure| failure.unwrap_or_else(|| self.closed()))?;
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
    }

    /// The connect job: starts a session and completes `claim` with it. A close stops it;
    /// dropping the connect stops the process it started.
    async fn connect(self: Arc<Self>, jobs: Arc<Jobs>, claim: Claim<Arc<Session>, Error>) {
        let connect = pin!(crate::session::connect::connect(
            &self.name,
            &self.config,
            self.policy.connect_timeout,
            self.limits(),
            &self.backoff,
            &self.hooks,
            &jobs,
        ));
        let outcome = match futures::future::select(connect, pin!(self.closing.wait())).await {
            Either::Left((outcome, _)) => outcome,
            Either::Right(_) => {
                log::info!(
                    "mcp-dispatch: server `{}`: connect stopped by close",
                    self.name
                );
                return claim.fail(self.closed());
            }
        };
        match outcome {
            Ok(started) => {
                self.counters.connected(started.transport());
                // A new session may serve a different tool list.
                self.hooks.tools.changed();
                // A server that settled on an older version is not probed again: its next
                // sessions open with `initialize` alone, saving the probe's round trip.
                if !crate::session::listen::modern(started.peer()) {
                    self.hooks.negotiation.settle_on_initialize();
                }
                // Before any call, so that no change after the connect goes unseen.
                self.hooks.listens.session_started(started.closing());
                let bound = self
                    .policy
                    .connect_timeout
                    .min(crate::session::listen::ACKNOWLEDGE_BOUND);
                crate::session::listen::list_changes(started.peer(), &self.hooks, bound).await;
                if claim
                    .succeed(|generation| started.into_session(generation))
                    .is_err()
                {
                    log::info!(
                        "mcp-dispatch: server `{}`: closed while connecting",
                        self.name
                    );
                }
            }
            Err(error) => {
                self.counters.connect_failed();
                claim.fail(error)
            }
        }
    }

    /// The server's tools: the cached list, or one fetch shared by every caller that asks
    /// while it runs.
    pub(crate) async fn tools(self: &Arc<Self>) -> Result<Arc<Vec<Tool>>> {
        let jobs = self.jobs()?;
        self.hooks
            .tools
            .get(|claim| {
                // Like connects, the fetch runs as its own job and every caller waits.
                let inner = self.clone();
                jobs.spawn(async move {
                    // Connect first: a new session drops the cache, and that must not count
                    // as a change during this fetch.
                    if let Err(error) = inner.session().await {
                        return claim.fail(error);
                    }
                    let fetch = inner.hooks.tools.begin(claim);
                    let listed = inner
                        .read_only(
                            "tools/list",
                            |peer| async move { peer.list_all_tools().await },
                        )
                        .await;
                    inner.hooks.tools.finish(fetch, listed);
                });
            })
            .await
            .map_err(|failure| failure.unwrap_or_else(|| self.closed()))
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
        let may_retry = || match options.retry.unwrap_or(self.policy.retry) {
            Retry::Never => false,
            Retry::IfSafe => self.hooks.tools.is_safe(tool),
            Retry::Always => true,
        };
        let answer = self
            .with_retry(Label::Tool(tool), deadline.timeout, may_retry, |session| {
                let route = progress
                    .clone()
                    .map(|sink| (self.hooks.progress.clone(), session.progress_session, sink));
                self.rounds(session, params.clone(), deadline, route, Some(tool))
            })
            .await?;
        request::call_tool_result(answer).map_err(|unexpected| unexpected.into_error(&self.name))
    }

    /// A read-only request that a 2026-07-28 server may answer with `input_required`
    /// (`prompts/get`, `resources/read`): bounded by the call timeout, and retried once on a
    /// new session if its session dies under it.
    pub(crate) async fn read_in_rounds<P: Rounds, T>(
        self: &Arc<Self>,
        what: &str,
        params: P,
        result: fn(ServerResult) -> std::result::Result<T, request::Unexpected>,
    ) -> Result<T> {
        let deadline = Deadline {
            timeout: self.policy.call_timeout,
            reset_on_progress: None,
        };
        let answer = self
            .with_retry(
                Label::Method(what),
                deadline.timeout,
                || true,
                |session| self.rounds(session, params.clone(), deadline, None, None),
            )
            .await?;
        result(answer).map_err(|unexpected| unexpected.into_error(&self.name))
    }

    /// Sends `params` on `session`, and while the server answers `input_required`, answers
    /// its input requests through the client's handlers and sends it again. `deadline`
    /// bounds all rounds together, the handlers included.
    async fn rounds<P: Rounds>(
        self: &Arc<Self>,
        session: Arc<Session>,
        mut params: P,
        deadline: Deadline,
        route: Option<request::ProgressRoute>,
        tool: Option<&str>,
    ) -> std::result::Result<ServerResult, Failure> {
        let timed_out = || {
            Failure::Sent(ServiceError::Timeout {
                timeout: deadline.timeout,
            })
        };
        let started = Instant::now();
        let mut rounds = input_rounds::RoundsSoFar::default();
        loop {
            let left = deadline.after(started.elapsed()).ok_or_else(timed_out)?;
            let answer = request::send(
                &session.peer,
                params.request(),
                left,
                route.clone(),
                session.died(),
            )
            .await?;
            let ServerResult::InputRequiredResult(asked) = answer else {
                return Ok(answer);
            };
            let jobs = self.jobs().map_err(Failure::Failed)?;
            let left = deadline
                .longest()
                .checked_sub(started.elapsed())
                .ok_or_else(timed_out)?;
            let answered = rounds.answer(&self.hooks, jobs, tool, asked, &mut params);
            match runtime::timeout(left, answered).await {
                Some(Ok(())) => {}
                Some(Err(error)) => return Err(Failure::Failed(error)),
                None => return Err(timed_out()),
            }
        }
    }

    /// A read-only request (listing, reading, getting): bounded by the call timeout, and
    /// retried once on a new session if its session dies under it.
    pub(crate) async fn read_only<T, F, Fut>(self: &Arc<Self>, what: &str, request: F) -> Result<T>
    where
        F: Fn(Peer<RoleClient>) -> Fut,
        Fut: Future<Output = std::result::Result<T, ServiceError>>,
    {
        let timeout = self.policy.call_timeout;
        self.with_retry(
            Label::Method(what),
            timeout,
            || true,
            move |session| {
                let request = request(session.peer.clone());
                async move {
                    let answer = runtime::timeout(timeout, async {
                        match futures::future::select(pin!(request), pin!(session.died())).await {
                            Either::Left((answer, _)) => answer,
                            Either::Right(_) => Err(ServiceError::TransportClosed),
                        }
                    })
                    .await;
                    match answer {
                        Some(answer) => answer.map_err(Failure::Sent),
                        None => Err(Failure::Sent(ServiceError::Timeout { timeout })),
                    }
                }
            },
        )
        .await
    }

    /// Sends a request with `send` on the live session. If the session dies under it, the
    /// session is retired and the request sent once more on a new session: always when it
    /// never left, and when `may_retry` says so when it did.
    async fn with_retry<T, S, Fut>(
        self: &Arc<Self>,
        label: Label<'_>,
        timeout: Duration,
        may_retry: impl Fn() -> bool,
        mut send: S,
    ) -> Result<T>
    where
        S: FnMut(Arc<Session>) -> Fut,
        Fut: Future<Output = std::result::Result<T, Failure>>,
    {
        let tool = label.tool();
        let mut retried = false;
        #[cfg(feature = "oauth")]
        let mut authorized = Authorized::default();
        loop {
            let session = self.session().await?;
            #[cfg(feature = "oauth")]
            let seen = self.hooks.authorization.generation();
            let (error, sent) = match send(session.clone()).await {
                Ok(answer) => return Ok(answer),
                Err(Failure::Failed(error)) => return Err(error),
                Err(Failure::NotSent) => (
                    Error::TransportClosed {
                        server: self.name.clone(),
                        tool: tool.map(str::to_owned),
                        source: None,
                    },
                    false,
                ),
                Err(Failure::Sent(error)) => {
                    // Refused for want of a token or of scope: sign in, then send again on
                    // the same session (its requests carry the new token).
                    #[cfg(feature = "oauth")]
                    if let Some(challenge) = crate::oauth::Challenge::of(&error) {
                        self.authorize(challenge, seen, &mut authorized).await?;
                        continue;
                    }
                    // An HTTP error status: the server failed this request, and the session
                    // is still there.
                    #[cfg(feature = "http")]
                    if let crate::config::TransportConfig::Http(http) = &self.config.transport
                        && let Some(failed) =
                            crate::error::sent_http_error(&self.name, &http.url, &error)
                    {
                        return Err(failed);
                    }
                    match crate::error::request_error(&self.name, tool, error) {
                        Error::Timeout { server, tool, .. } => {
                            return Err(Error::Timeout {
                                server,
                                tool,
                                timeout,
                            });
                        }
                        closed @ Error::TransportClosed { .. } => (closed, true),
                        other => return Err(other),
                    }
                }
            };
            self.retire(&session);
            let error = self.closed_under(error);
            if retried || !matches!(error, Error::TransportClosed { .. }) || (sent && !may_retry())
            {
                return Err(error);
            }
            retried = true;
            self.counters.retried();
            log::info!(
                "mcp-dispatch: server `{}`: retrying {label} on a new session",
                self.name
            );
        }
    }

    /// Signs in, or in again with more scope, for a request the server refused: at most one
    /// sign-in and two step-ups per request.
    #[cfg(feature = "oauth")]
    async fn authorize(
        self: &Arc<Self>,
        challenge: crate::oauth::Challenge,
        seen: u64,
        authorized: &mut Authorized,
    ) -> Result<()> {
        match challenge {
            crate::oauth::Challenge::SignIn(header) => {
                if authorized.sign_ins >= 1 {
                    return Err(crate::session::connect::refused_after_sign_in(
                        &self.name,
                        &self.config,
                    ));
                }
                authorized.sign_ins += 1;
                let (name, config, hooks) = (&self.name, &self.config, &self.hooks);
                crate::oauth::sign_in(
                    name,
                    config,
                    hooks,
                    header,
                    seen,
                    self.policy.connect_timeout,
                )
                .await
            }
            crate::oauth::Challenge::StepUp { scope } => {
                if authorized.step_ups >= MAX_STEP_UPS {
                    let url = match &self.config.transport {
                        crate::config::TransportConfig::Http(http) => {
                            crate::config::redact_url(&http.url)
                        }
                        crate::config::TransportConfig::Stdio(_) => String::new(),
                    };
                    return Err(crate::oauth::insufficient(
                        &self.name,
                        &url,
                        scope.as_deref(),
                    ));
                }
                authorized.step_ups += 1;
                let (name, config, hooks) = (&self.name, &self.config, &self.hooks);
                crate::oauth::step_up(
                    name,
                    config,
                    hooks,
                    scope,
                    seen,
                    self.policy.connect_timeout,
                )
                .await
            }
        }
    }

    /// How server processes are read from and stopped.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_message_size: self.policy.max_message_size,
            grace: self.policy.close_timeout / 2,
        }
    }

    /// The deadline of a call with `options`.
    pub(crate) fn deadline(&self, options: &CallOptions) -> Deadline {
        Deadline {
            timeout: options.timeout.unwrap_or(self.policy.call_timeout),
            reset_on_progress: options.reset_on_progress,
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

    /// The error for a call on a closed client: [`Error::Shutdown`] if its executor shut
    /// down, else [`Error::Closed`].
    pub(crate) fn closed(&self) -> Error {
        let server = self.name.clone();
        if self.shut_down.load(Ordering::Acquire) {
            Error::Shutdown { server }
        } else {
            Error::Closed { server }
        }
    }

    /// The error for a request whose session was closed under it: [`Error::Shutdown`] or
    /// [`Error::Closed`] if the client was shut down or closed meanwhile, else `error`.
    pub(crate) fn closed_under(&self, error: Error) -> Error {
        if self.shut_down.load(Ordering::Acquire) || self.slot.is_closed() {
            self.closed()
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

    /// Closes a session as a cleanup job, without waiting for it. The returned flag is raised
    /// once the close is over (or the job was dropped).
    fn close_in_background(&self, session: Arc<Session>) -> Arc<Flag> {
        let closed = Arc::new(Flag::default());
        let done = RaiseOnDrop(closed.clone());
        if let Ok(jobs) = &self.jobs {
            let (name, bound) = (self.name.clone(), self.policy.close_timeout);
            jobs.spawn_cleanup(async move {
                session.close(&name, bound).await;
                drop(done);
            });
        }
        closed
    }

    /// Called when the last handle to the client is dropped: stops a connect in flight and
    /// closes the session in the background.
    pub(crate) fn abandon(&self) {
        if let Some(session) = self.close_slot() {
            self.close_in_background(session);
        }
    }
}

/// Step-ups per request after a 403 `insufficient_scope`: with the first sign-in, at most
/// three authorizations for one request.
#[cfg(feature = "oauth")]
const MAX_STEP_UPS: u32 = 2;

/// The sign-ins one request has caused so far.
#[cfg(feature = "oauth")]
#[derive(Default)]
struct Authorized {
    sign_ins: u32,
    step_ups: u32,
}

/// What a request is, for errors and logs: a tool call, or another method.
#[derive(Clone, Copy)]
enum Label<'a> {
    Tool(&'a str),
    Method(&'a str),
}

impl<'a> Label<'a> {
    fn tool(self) -> Option<&'a str> {
        match self {
            Label::Tool(tool) => Some(tool),
            Label::Method(_) => None,
        }
    }
}

impl std::fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Label::Tool(tool) => write!(f, "tool `{tool}`"),
            Label::Method(method) => f.write_str(method),
        }
    }
}

impl OnShutdown for Inner {
    fn shut_down(&self) -> Option<Arc<Flag>> {
        self.shut_down.store(true, Ordering::Release);
        let session = self.close_slot()?;
        Some(self.close_in_background(session))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.abandon();
    }
}
