//! The client of one server.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::Either;
use rmcp::model::{CallToolRequestParams, CallToolResult, ServerPeerInfo, Tool};

use crate::blocking::block_on_bounded;
use crate::config::ServerConfig;
use crate::dispatcher::{Dispatcher, dispatch, job};
use crate::error::{Error, Result, panic_message};
use crate::executor::Executor;
use crate::runtime::{self, Runtime};
use crate::session::{self, Session};
use crate::single_flight::{Acquired, SingleFlight};

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
}

struct Inner {
    name: String,
    config: ServerConfig,
    backend: Result<Backend>,
    slot: Arc<SingleFlight<Arc<Session>, Error>>,
    connect_timeout: Duration,
    call_timeout: Duration,
    close_timeout: Duration,
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
    connect_timeout: Duration,
    call_timeout: Duration,
    close_timeout: Duration,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("connect_timeout", &self.connect_timeout)
            .field("call_timeout", &self.call_timeout)
            .field("close_timeout", &self.close_timeout)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Runs this client's jobs on `dispatcher` instead of the shared [`Executor`].
    pub fn dispatcher(mut self, dispatcher: impl Dispatcher) -> ClientBuilder {
        self.dispatcher = Some(Arc::new(dispatcher));
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
        let backend = (|| {
            let dispatcher = match self.dispatcher {
                Some(dispatcher) => dispatcher,
                None => Arc::new(Executor::shared()?) as Arc<dyn Dispatcher>,
            };
            let runtime = Runtime::shared().map_err(|source| Error::Runtime {
                source: Arc::new(source),
            })?;
            Ok(Backend {
                dispatcher,
                runtime,
            })
        })();
        let abandoned = Error::Shutdown {
            server: name.clone(),
        };
        Client {
            inner: Arc::new(Inner {
                name,
                config: self.config,
                backend,
                slot: SingleFlight::new(abandoned),
                connect_timeout: self.connect_timeout,
                call_timeout: self.call_timeout,
                close_timeout: self.close_timeout,
            }),
        }
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
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
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

    /// Lists every tool the server offers (all pages).
    ///
    /// # Errors
    ///
    /// Connect errors ([`Error::Spawn`], [`Error::Initialize`], [`Error::ConnectTimeout`]),
    /// [`Error::Timeout`], [`Error::Server`], [`Error::TransportClosed`], and
    /// [`Error::Closed`] / [`Error::Shutdown`].
    pub fn list_tools(&self) -> impl Future<Output = Result<Vec<Tool>>> + Send + 'static {
        self.run(|inner| async move {
            let session = inner.session().await?;
            let listed = runtime::timeout(inner.call_timeout, session.peer.list_all_tools()).await;
            inner.finish(&session, None, listed)
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
            let arguments = arguments?;
            let session = inner.session().await?;
            let mut params = CallToolRequestParams::new(name.clone());
            if let Some(arguments) = arguments {
                params = params.with_arguments(arguments);
            }
            let called = runtime::timeout(inner.call_timeout, session.peer.call_tool(params)).await;
            inner.finish(&session, Some(&name), called)
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
        if runtime::in_job() {
            return Err(Error::WouldDeadlock {
                server: self.inner.name.clone(),
                method,
            });
        }
        let bound = self.inner.connect_timeout
            + self.inner.call_timeout.max(self.inner.close_timeout)
            + BLOCKING_SLACK;
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
                        match session::connect(&inner.name, &inner.config, inner.connect_timeout)
                            .await
                        {
                            Ok(started) => {
                                if claim.succeed(|generation| started.into_session(generation)).is_err() {
                                    log::info!(
                                        "mcp-dispatch: server `{}`: closed while connecting",
                                        inner.name
                                    );
                                }
                            }
                            Err(error) => claim.fail(error),
                        }
                    }).map(drop)));
                }
                Acquired::Failed(error) => return Err(error),
                Acquired::Closed => {
                    return Err(Error::Closed {
                        server: self.name.clone(),
                    });
                }
            }
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
                if matches!(error, Error::TransportClosed { .. })
                    && let Some(dead) = self.slot.invalidate(session.generation)
                {
                    log::info!(
                        "mcp-dispatch: server `{}`: session {} closed; the next call reconnects",
                        self.name,
                        session.generation
                    );
                    self.close_in_background(dead);
                }
                Err(error)
            }
        }
    }

    /// Closes a retired session on the dispatcher without waiting for it.
    fn close_in_background(&self, session: Arc<Session>) {
        if let Ok(backend) = &self.backend {
            let name = self.name.clone();
            let bound = self.close_timeout;
            dispatch(
                &*backend.dispatcher,
                job(backend
                    .runtime
                    .wrap(async move { session.close(&name, bound).await })
                    .map(drop)),
            );
        }
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
