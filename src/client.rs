//! The client of one server.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Either};
use rmcp::model::{CallToolRequestParams, CallToolResult, ServerPeerInfo, Tool};

use crate::blocking::block_on_bounded;
use crate::config::ServerConfig;
use crate::dispatcher::{Dispatcher, dispatch, job};
use crate::error::{Error, Result, panic_message};
use crate::executor::{Executor, OnShutdown, on_executor_thread};
use crate::options::{CallOptions, Retry, Stats};
use crate::request::{self, Deadline, Failure};
use crate::runtime::{self, Runtime};
use crate::session::{self, Backoff, Session};
use crate::single_flight::{Acquired, SingleFlight};
use crate::sync::lock;

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Slack added to a blocking call's bound on top of the timeouts that already bound it.
const BLOCKING_SLACK: Duration = Duration::from_secs(5);

/// A client of one MCP server: cheap to clone, usable from any thread and any executor.
///
/// The client is lazy: the first call starts the server and runs the MCP handshake. After that
/// every call reuses the session, and calls from many threads run concurrently on it
/// (requests are multiplexed). The session sits behind a single-flight lock: concurrent first
/// calls start exactly one server, and when a session dies, the callers that saw it die cause
/// exactly one replacement.
///
/// Every method comes in two forms. The `async` form returns a `Send + 'static` future that
/// can be awaited on any executor (async-std, smol, `futures::executor`, a hand-written one,
/// tokio). The `_blocking` form waits on the calling thread.
///
/// The work itself always runs on the client's [`Dispatcher`]: the shared [`Executor`] unless
/// another was given to [`ClientBuilder::dispatcher`].
///
/// # Example
///
/// ```no_run
/// use mcp_dispatch::{Client, ServerConfig};
/// use serde_json::json;
///
/// let client = Client::new(ServerConfig::stdio("my-mcp-server"));
/// let result = client.call_tool_blocking("add", json!({"a": 2, "b": 3}))?;
/// assert_ne!(result.is_error, Some(true));
/// # Ok::<(), mcp_dispatch::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.inner.name)
            .finish_non_exhaustive()
    }
}

struct Backend {
    dispatcher: Arc<dyn Dispatcher>,
    runtime: Arc<Runtime>,
    /// Set when the dispatcher is an [`Executor`], which runs cleanup through shutdown.
    executor: Option<Executor>,
}

struct Inner {
    name: String,
    config: ServerConfig,
    backend: Result<Backend>,
    slot: Arc<SingleFlight<Arc<Session>, Error>>,
    connect_timeout: Duration,
    call_timeout: Duration,
    close_timeout: Duration,
    retry: Retry,
    backoff: Backoff,
    /// Tool name -> whether its annotations make a retry safe, from the last listing.
    safe_tools: Mutex<HashMap<String, bool>>,
    /// Set when the executor shut down: calls then fail with `Error::Shutdown`.
    shut_down: AtomicBool,
    connects: AtomicU64,
    connect_failures: AtomicU64,
    retries: AtomicU64,
}

/// Configures a [`Client`] before it is built. Made by [`Client::builder`].
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use mcp_dispatch::{Client, ServerConfig};
///
/// let client = Client::builder(ServerConfig::stdio("my-mcp-server"))
///     .connect_timeout(Duration::from_secs(10))
///     .call_timeout(Duration::from_secs(120))
///     .build();
/// assert_eq!(client.server_name(), "my-mcp-server");
/// ```
pub struct ClientBuilder {
    config: ServerConfig,
    dispatcher: Option<Arc<dyn Dispatcher>>,
    executor: Option<Executor>,
    connect_timeout: Duration,
    call_timeout: Duration,
    close_timeout: Duration,
    retry: Retry,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("connect_timeout", &self.connect_timeout)
            .field("call_timeout", &self.call_timeout)
            .field("close_timeout", &self.close_timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Runs this client's jobs on `dispatcher` instead of the shared [`Executor`].
    ///
    /// Given an [`Executor`], the client also uses that executor's tokio thread, and the
    /// executor's shutdown closes the client's session. Given any other dispatcher, the
    /// client uses a tokio thread shared by all such clients, stopped when the last of them
    /// is dropped.
    pub fn dispatcher<D: Dispatcher>(mut self, dispatcher: D) -> ClientBuilder {
        let any: &dyn Any = &dispatcher;
        if let Some(executor) = any.downcast_ref::<Executor>() {
            self.executor = Some(executor.clone());
            self.dispatcher = None;
        } else {
            self.executor = None;
            self.dispatcher = Some(Arc::new(dispatcher));
        }
        self
    }

    /// When a call whose session died mid-flight is retried. Default: [`Retry::IfSafe`].
    pub fn retry(mut self, retry: Retry) -> ClientBuilder {
        self.retry = retry;
        self
    }

    /// Bounds starting the server plus the MCP handshake. Default: 30 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.connect_timeout = timeout;
        self
    }

    /// Bounds each request (tool call, listing). Default: 60 s. A request that times out is
    /// cancelled on the server with `notifications/cancelled`.
    pub fn call_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.call_timeout = timeout;
        self
    }

    /// Bounds the graceful close of a session before its process group is killed.
    /// Default: 5 s.
    pub fn close_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.close_timeout = timeout;
        self
    }

    /// Builds the client. Nothing is started until the first call.
    ///
    /// If the library's threads cannot be started, every call returns
    /// [`Error::Runtime`].
    pub fn build(self) -> Client {
        let name = self.config.server_name();
        let (executor, backend) = match (self.dispatcher, self.executor) {
            (Some(dispatcher), _) => {
                let backend = Runtime::shared()
                    .map(|runtime| Backend {
                        dispatcher,
                        runtime,
                        executor: None,
                    })
                    .map_err(|source| Error::Runtime {
                        source: Arc::new(source),
                    });
                (None, backend)
            }
            (None, executor) => match executor.map_or_else(Executor::shared, Ok) {
                Ok(executor) => {
                    let backend = Backend {
                        runtime: executor.runtime(),
                        dispatcher: Arc::new(executor.clone()),
                        executor: Some(executor.clone()),
                    };
                    (Some(executor), Ok(backend))
                }
                Err(error) => (None, Err(error)),
            },
        };
        let abandoned = Error::Shutdown {
            server: name.clone(),
        };
        let inner = Arc::new(Inner {
            name,
            config: self.config,
            backend,
            slot: SingleFlight::new(abandoned),
            connect_timeout: self.connect_timeout,
            call_timeout: self.call_timeout,
            close_timeout: self.close_timeout,
            retry: self.retry,
            backoff: Backoff::new(),
            safe_tools: Mutex::new(HashMap::new()),
            shut_down: AtomicBool::new(false),
            connects: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        });
        if let Some(executor) = executor {
            let hook: Arc<dyn OnShutdown> = inner.clone();
            executor.on_shutdown(Arc::downgrade(&hook));
            if executor.is_shut_down() {
                inner.shut_down.store(true, Ordering::Release);
            }
        }
        Client { inner }
    }
}

impl Client {
    /// A client of the server `config` describes, running on the shared [`Executor`].
    ///
    /// Nothing is started until the first call.
    pub fn new(config: ServerConfig) -> Client {
        Client::builder(config).build()
    }

    /// A builder, to choose the dispatcher and the timeouts.
    pub fn builder(config: ServerConfig) -> ClientBuilder {
        ClientBuilder {
            config,
            dispatcher: None,
            executor: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            retry: Retry::default(),
        }
    }

    /// The server's name, as used in errors and logs.
    pub fn server_name(&self) -> &str {
        &self.inner.name
    }

    /// True while the client holds a session that has not been seen to close.
    ///
    /// ```
    /// use mcp_dispatch::{Client, ServerConfig};
    ///
    /// let client = Client::new(ServerConfig::stdio("my-mcp-server"));
    /// assert!(!client.is_connected(), "nothing starts before the first call");
    /// ```
    pub fn is_connected(&self) -> bool {
        self.inner
            .slot
            .current()
            .is_some_and(|(session, _)| !session.is_dead())
    }

    /// The process id of the server behind the live session, if there is one.
    ///
    /// ```
    /// use mcp_dispatch::{Client, ServerConfig};
    ///
    /// let client = Client::new(ServerConfig::stdio("my-mcp-server"));
    /// assert_eq!(client.pid(), None, "nothing starts before the first call");
    /// ```
    pub fn pid(&self) -> Option<u32> {
        self.inner
            .slot
            .current()
            .and_then(|(session, _)| session.pid)
    }

    /// Lists every tool the server offers (all pages).
    ///
    /// # Errors
    ///
    /// Connect errors ([`Error::Spawn`], [`Error::Initialize`], [`Error::ConnectTimeout`]),
    /// [`Error::Timeout`], [`Error::Server`], [`Error::TransportClosed`], and
    /// [`Error::Closed`] / [`Error::Shutdown`].
    pub fn list_tools(&self) -> impl Future<Output = Result<Vec<Tool>>> + Send + 'static {
        self.run(|inner| async move {
            let mut retried = false;
            loop {
                let session = inner.session().await?;
                let listed =
                    runtime::timeout(inner.call_timeout, session.peer.list_all_tools()).await;
                match inner.finish(&session, None, listed) {
                    Ok(tools) => {
                        inner.remember_hints(&tools);
                        return Ok(tools);
                    }
                    // Listing is read-only, so always safe to repeat once.
                    Err(Error::TransportClosed { .. }) if !retried => {
                        retried = true;
                        inner.count_retry(None);
                    }
                    Err(error) => return Err(error),
                }
            }
        })
    }

    /// Calls the tool `name` with `arguments`, a JSON object (or `null` for none).
    ///
    /// A tool that reports failure gives `Ok` with
    /// [`is_error`](crate::model::CallToolResult::is_error) set to `Some(true)`.
    ///
    /// Dropping the returned future cancels the call on the server
    /// (`notifications/cancelled`); the session stays usable.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArguments`] if `arguments` is not an object or `null`; otherwise as
    /// [`list_tools`](Client::list_tools), with the tool named.
    pub fn call_tool(
        &self,
        name: impl Into<String>,
        arguments: serde_json::Value,
    ) -> impl Future<Output = Result<CallToolResult>> + Send + 'static {
        self.call_tool_with(name, arguments, CallOptions::new())
    }

    /// [`call_tool`](Client::call_tool) with per-call options: timeout, timeout reset on
    /// progress, retry policy.
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Client::call_tool).
    pub fn call_tool_with(
        &self,
        name: impl Into<String>,
        arguments: serde_json::Value,
        options: CallOptions,
    ) -> impl Future<Output = Result<CallToolResult>> + Send + 'static {
        let name = name.into();
        let arguments = match arguments {
            serde_json::Value::Object(map) => Ok(Some(map)),
            serde_json::Value::Null => Ok(None),
            other => Err(Error::InvalidArguments {
                server: self.inner.name.clone(),
                tool: name.clone(),
                found: json_type(&other),
            }),
        };
        self.run(move |inner| async move {
            let mut params = CallToolRequestParams::new(name.clone());
            if let Some(arguments) = arguments? {
                params = params.with_arguments(arguments);
            }
            inner.call_tool(&name, params, &options).await
        })
    }
    /// What the server said about itself in the handshake: name, version, protocol version,
    /// capabilities and instructions. Connects if needed.
    ///
    /// # Errors
    ///
    /// Connect errors, and [`Error::Closed`] / [`Error::Shutdown`].
    pub fn server_info(&self) -> impl Future<Output = Result<ServerPeerInfo>> + Send + 'static {
        self.run(|inner| async move {
            let session = inner.session().await?;
            session.server_info(&inner.name)
        })
    }

    /// Closes the client: the session (if any) is shut down gracefully, bounded by the close
    /// timeout, after which its process group is killed. Later calls fail with
    /// [`Error::Closed`]. Closing twice is fine.
    ///
    /// # Errors
    ///
    /// [`Error::Shutdown`] if the dispatcher is gone (the session is then dropped, which also
    /// ends it).
    pub fn close(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        let session = self.inner.slot.close();
        self.run(move |inner| async move {
            if let Some(session) = session {
                session.close(&inner.name, inner.close_timeout).await;
            }
            Ok(())
        })
    }

    /// Blocking form of [`list_tools`](Client::list_tools).
    ///
    /// # Blocking
    ///
    /// Waits on the calling thread, bounded by the connect and call timeouts (plus a few
    /// seconds). Called from a thread that is running this library's jobs (the executor thread,
    /// or inside a job on any dispatcher) it returns [`Error::WouldDeadlock`] at once.
    pub fn list_tools_blocking(&self) -> Result<Vec<Tool>> {
        self.block("list_tools_blocking", None, self.list_tools())
    }

    /// Blocking form of [`call_tool`](Client::call_tool). See
    /// [`list_tools_blocking`](Client::list_tools_blocking) for how it blocks.
    pub fn call_tool_blocking(
        &self,
        name: impl Into<String>,
        arguments: serde_json::Value,
    ) -> Result<CallToolResult> {
        let name = name.into();
        let call = self.call_tool(name.clone(), arguments);
        self.block("call_tool_blocking", Some(name), call)
    }

    /// Blocking form of [`call_tool_with`](Client::call_tool_with). See
    /// [`list_tools_blocking`](Client::list_tools_blocking) for how it blocks; the bound
    /// follows the call's own timeout.
    pub fn call_tool_with_blocking(
        &self,
        name: impl Into<String>,
        arguments: serde_json::Value,
        options: CallOptions,
    ) -> Result<CallToolResult> {
        let name = name.into();
        let longest = self.inner.deadline(&options).longest();
        let call = self.call_tool_with(name.clone(), arguments, options);
        self.block_for("call_tool_with_blocking", Some(name), longest, call)
    }

    /// What this client has done so far: connects, failed connects, retries.
    pub fn stats(&self) -> Stats {
        Stats {
            connects: self.inner.connects.load(Ordering::Relaxed),
            connect_failures: self.inner.connect_failures.load(Ordering::Relaxed),
            retries: self.inner.retries.load(Ordering::Relaxed),
        }
    }

    /// Blocking form of [`server_info`](Client::server_info). See
    /// [`list_tools_blocking`](Client::list_tools_blocking) for how it blocks.
    pub fn server_info_blocking(&self) -> Result<ServerPeerInfo> {
        self.block("server_info_blocking", None, self.server_info())
    }

    /// Blocking form of [`close`](Client::close). See
    /// [`list_tools_blocking`](Client::list_tools_blocking) for how it blocks.
    pub fn close_blocking(&self) -> Result<()> {
        self.block("close_blocking", None, self.close())
    }

    /// Waits for `future` on this thread, bounded, refusing where it would deadlock.
    fn block<T>(
        &self,
        method: &'static str,
        tool: Option<String>,
        future: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let longest = self.inner.call_timeout.max(self.inner.close_timeout);
        self.block_for(method, tool, longest, future)
    }

    /// [`block`](Client::block) for a request that can take `longest` once connected. A
    /// retry may connect and send again, so the bound covers two rounds.
    fn block_for<T>(
        &self,
        method: &'static str,
        tool: Option<String>,
        longest: Duration,
        future: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        if runtime::in_job() || on_executor_thread() {
            return Err(Error::WouldDeadlock {
                server: self.inner.name.clone(),
                method,
            });
        }
        let bound = (self.inner.connect_timeout + longest) * 2 + BLOCKING_SLACK;
        block_on_bounded(future, bound).unwrap_or_else(|| {
            Err(Error::Timeout {
                server: self.inner.name.clone(),
                tool,
                timeout: bound,
            })
        })
    }

    /// Runs `work` as a job on the dispatcher and returns a future of its result.
    ///
    /// The job is dispatched on the first poll. Dropping the returned future drops the work
    /// (which cancels an rmcp request in flight); a job that panics gives
    /// [`Error::Panicked`]; a job the dispatcher drops gives [`Error::Shutdown`].
    fn run<T, W, F>(&self, work: W) -> impl Future<Output = Result<T>> + Send + 'static
    where
        T: Send + 'static,
        W: FnOnce(Arc<Inner>) -> F + Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let inner = self.inner.clone();
        async move {
            let backend = inner.backend.as_ref().map_err(Clone::clone)?;
            let server = inner.name.clone();
            let (reply, answer) = futures::channel::oneshot::channel::<Result<T>>();
            let dispatcher = backend.dispatcher.clone();
            let runtime = backend.runtime.clone();
            let task = runtime.wrap(run_job(work, inner, reply));
            dispatch(&*dispatcher, job(task.map(drop)));
            answer
                .await
                .unwrap_or_else(|_| Err(Error::Shutdown { server }))
        }
    }
}

/// The body of every job: runs `work`, sends its result (or its panic), and stops early if
/// the caller has gone.
async fn run_job<T, W, F>(
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
    async fn session(self: &Arc<Self>) -> Result<Arc<Session>> {
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
                        match session::connect(
                            &inner.name,
                            &inner.config,
                            inner.connect_timeout,
                            &inner.backoff,
                        )
                        .await
                        {
                            Ok(started) => {
                                inner.connects.fetch_add(1, Ordering::Relaxed);
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

    /// The deadline of a call with `options`.
    fn deadline(&self, options: &CallOptions) -> Deadline {
        Deadline {
            timeout: options.timeout.unwrap_or(self.call_timeout),
            reset_on_progress: options.reset_on_progress,
        }
    }

    /// One `tools/call`, retried once on a new session when that is safe (see [`Retry`]).
    async fn call_tool(
        self: &Arc<Self>,
        tool: &str,
        params: CallToolRequestParams,
        options: &CallOptions,
    ) -> Result<CallToolResult> {
        let deadline = self.deadline(options);
        let retry = options.retry.unwrap_or(self.retry);
        let mut retried = false;
        loop {
            let session = self.session().await?;
            let sent = request::send(
                &session.peer,
                request::call_tool_request(params.clone()),
                deadline,
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

    fn is_safe(&self, tool: &str) -> bool {
        lock(&self.safe_tools).get(tool).copied().unwrap_or(false)
    }

    fn remember_hints(&self, tools: &[Tool]) {
        let mut safe_tools = lock(&self.safe_tools);
        safe_tools.clear();
        for tool in tools {
            let safe = tool.annotations.as_ref().is_some_and(|hints| {
                hints.read_only_hint == Some(true) || hints.idempotent_hint == Some(true)
            });
            safe_tools.insert(tool.name.to_string(), safe);
        }
    }

    fn count_retry(&self, tool: Option<&str>) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        log::info!(
            "mcp-dispatch: server `{}`: retrying {} on a new session",
            self.name,
            tool.map_or_else(|| "tools/list".to_owned(), |tool| format!("tool `{tool}`"))
        );
    }

    /// The error for a request whose session was closed under it: [`Error::Shutdown`] or
    /// [`Error::Closed`] if the client was shut down or closed meanwhile, else `error`.
    fn closed_under(&self, error: Error) -> Error {
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
    fn finish<T>(
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
        let session = self.slot.close()?;
        let name = self.name.clone();
        let bound = self.close_timeout;
        Some(async move { session.close(&name, bound).await }.boxed())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(session) = self.slot.close() {
            self.close_in_background(session);
        }
    }
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
