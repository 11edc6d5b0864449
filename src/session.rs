//! One live rmcp session with a server: starting it, mapping its errors, closing it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::FutureExt;
use futures::future::BoxFuture;
#[allow(deprecated)]
use rmcp::model::{
    ClientConfig, CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams,
    ElicitResult, ErrorCode, ErrorData, Implementation, ListRootsResult, ProgressNotificationParam,
    ResourceUpdatedNotificationParam, ServerPeerInfo, Tool,
};
use rmcp::service::{
    ClientInitializeError, NotificationContext, RequestContext, RunningService, ServiceError,
};
use rmcp::{ClientHandler, Peer, RoleClient};

use crate::config::{ServerConfig, TransportConfig};
use crate::dispatcher::Dispatcher;
use crate::error::{Error, Result};
use crate::handlers::Handlers;
use crate::notify::{Bus, Notification, Progress, ProgressRoutes};
use crate::runtime::Runtime;
use crate::single_flight::SingleFlight;
use crate::stdio::{self, Limits, StderrTail};
use crate::sync::{Flag, lock};

/// How long a failed initialize waits for the server's last stderr lines.
const STDERR_GRACE: Duration = Duration::from_millis(500);

/// What a client's sessions share with it: where notifications, progress and server
/// requests go.
pub(crate) struct Hooks {
    pub(crate) server: String,
    /// The client's subscribers.
    pub(crate) bus: Bus,
    /// A Hub's subscribers, for clients that belong to one.
    pub(crate) hub_bus: Option<Arc<Bus>>,
    pub(crate) progress: Arc<ProgressRoutes>,
    pub(crate) handlers: Handlers,
    /// The cached tool list, dropped when the server says it changed.
    pub(crate) tools: Arc<SingleFlight<Arc<Vec<Tool>>, Error>>,
    /// Bumped on every `tools/list_changed`, so a fetch that raced one is not kept.
    pub(crate) tool_changes: AtomicU64,
    /// Where handler futures run: the client's dispatcher, in the library's tokio context.
    pub(crate) runner: Option<(Arc<dyn Dispatcher>, Arc<Runtime>)>,
    /// Raised once the last server process started is stopped (for a close that cancels a
    /// connect in flight to wait for).
    pub(crate) starting: Mutex<Option<Arc<Flag>>>,
}

impl Hooks {
    fn publish(&self, notification: Notification) {
        self.bus.publish(&notification);
        if let Some(hub) = &self.hub_bus {
            hub.publish(&notification);
        }
    }

    /// Drops the cached tool list.
    pub(crate) fn tools_changed(&self) {
        self.tool_changes.fetch_add(1, Ordering::AcqRel);
        if let Some((_, generation)) = self.tools.current() {
            self.tools.invalidate(generation);
        }
    }

    /// Runs a server request's handler on the dispatcher and returns its answer.
    async fn answer<P, R>(
        &self,
        handler: Option<&HandlerFn<P, R>>,
        params: P,
        method: &'static str,
    ) -> Result<R, ErrorData>
    where
        P: Send + 'static,
        R: Send + 'static,
    {
        let Some(handler) = handler else {
            return Err(ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("{method} is not supported by this client"),
                None,
            ));
        };
        let Some((dispatcher, runtime)) = &self.runner else {
            return Err(ErrorData::internal_error(
                "the client has no dispatcher",
                None,
            ));
        };
        let (reply, answer) = futures::channel::oneshot::channel();
        let server = self.server.clone();
        let handler = handler.clone();
        // The handler's body runs inside the job too, never inline in rmcp's I/O task on the
        // tokio thread: user code there could block every session of the process.
        let job = runtime.wrap(async move {
            let outcome = AssertUnwindSafe(async move { handler(params).await })
                .catch_unwind()
                .await;
            let _ = reply.send(outcome.unwrap_or_else(|payload| {
                log::error!(
                    "mcp-dispatch: server `{server}`: the {method} handler panicked: {}",
                    crate::error::panic_message(&*payload)
                );
                Err(ErrorData::internal_error(
                    format!("the client's {method} handler failed"),
                    None,
                ))
            }));
        });
        crate::dispatcher::dispatch(&**dispatcher, crate::dispatcher::job(job.map(drop)));
        answer.await.unwrap_or_else(|_| {
            Err(ErrorData::internal_error(
                format!("the client's {method} handler was dropped"),
                None,
            ))
        })
    }
}

type HandlerFn<P, R> = Arc<dyn Fn(P) -> BoxFuture<'static, Result<R, ErrorData>> + Send + Sync>;

/// The rmcp client handler of one session: identifies us to the server, routes what the
/// server sends, and answers its requests.
pub(crate) struct Handler {
    hooks: Arc<Hooks>,
    /// Unique per session, to keep progress tokens of different sessions apart.
    session: u64,
    info: ClientConfig,
}

impl Handler {
    fn new(hooks: Arc<Hooks>) -> Handler {
        static SESSIONS: AtomicU64 = AtomicU64::new(0);
        let capabilities = hooks.handlers.capabilities();
        Handler {
            session: SESSIONS.fetch_add(1, Ordering::Relaxed),
            // The session opens with the `initialize` handshake, so it offers the newest
            // version that has one; 2026-07-28 has none.
            info: ClientConfig::new(
                capabilities,
                Implementation::new("mcp-dispatch", env!("CARGO_PKG_VERSION")),
            )
            .with_protocol_version(rmcp::model::ProtocolVersion::LATEST_WITH_INITIALIZE),
            hooks,
        }
    }
}

#[allow(deprecated)]
impl ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        let progress = Progress {
            progress: params.progress,
            total: params.total,
            message: params.message,
        };
        self.hooks
            .progress
            .deliver(self.session, params.progress_token, progress);
        std::future::ready(())
    }

    #[allow(deprecated)]
    fn on_logging_message(
        &self,
        params: rmcp::model::LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        let level = serde_json::to_value(params.level)
            .ok()
            .and_then(|level| level.as_str().map(str::to_owned))
            .unwrap_or_else(|| "info".to_owned());
        self.hooks.publish(Notification::Log {
            server: self.hooks.server.clone(),
            level,
            logger: params.logger,
            data: params.data,
        });
        std::future::ready(())
    }

    fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        self.hooks.publish(Notification::ResourceUpdated {
            server: self.hooks.server.clone(),
            uri: params.uri,
        });
        std::future::ready(())
    }

    fn on_tool_list_changed(
        &self,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        self.hooks.tools_changed();
        self.hooks.publish(Notification::ToolListChanged {
            server: self.hooks.server.clone(),
        });
        std::future::ready(())
    }

    fn on_resource_list_changed(
        &self,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        self.hooks.publish(Notification::ResourceListChanged {
            server: self.hooks.server.clone(),
        });
        std::future::ready(())
    }

    fn on_prompt_list_changed(
        &self,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        self.hooks.publish(Notification::PromptListChanged {
            server: self.hooks.server.clone(),
        });
        std::future::ready(())
    }

    fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> impl Future<Output = Result<ElicitResult, ErrorData>> + Send + '_ {
        self.hooks.answer(
            self.hooks.handlers.elicitation.as_ref(),
            request,
            "elicitation/create",
        )
    }

    fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> impl Future<Output = Result<CreateMessageResult, ErrorData>> + Send + '_ {
        self.hooks.answer(
            self.hooks.handlers.sampling.as_ref(),
            params,
            "sampling/createMessage",
        )
    }

    fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> impl Future<Output = Result<ListRootsResult, ErrorData>> + Send + '_ {
        self.hooks
            .answer(self.hooks.handlers.roots.as_ref(), (), "roots/list")
    }
}

type Service = RunningService<RoleClient, Handler>;

/// A live session. Calls clone its [`Peer`]; requests are multiplexed on it.
pub(crate) struct Session {
    pub(crate) peer: Peer<RoleClient>,
    pub(crate) generation: u64,
    pub(crate) pid: Option<u32>,
    /// The key of this session's progress routes.
    pub(crate) progress_session: u64,
    /// Raised when a stdio server's stdout ends, before rmcp has finished stopping it.
    stdout_closed: Option<Arc<Flag>>,
    service: Mutex<Option<Service>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("generation", &self.generation)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

/// A session that started but has no generation yet.
pub(crate) struct Started {
    service: Service,
    pid: Option<u32>,
    stdout_closed: Option<Arc<Flag>>,
}

impl Started {
    fn progress_session(&self) -> u64 {
        self.service.service().session
    }
}

impl Started {
    pub(crate) fn into_session(self, generation: u64) -> Arc<Session> {
        Arc::new(Session {
            peer: self.service.peer().clone(),
            generation,
            pid: self.pid,
            progress_session: self.progress_session(),
            stdout_closed: self.stdout_closed,
            service: Mutex::new(Some(self.service)),
        })
    }
}

impl Session {
    /// The server's answer to `initialize`.
    pub(crate) fn server_info(&self, server: &str) -> Result<ServerPeerInfo> {
        self.peer
            .peer_info()
            .map(|info| (*info).clone())
            .ok_or_else(|| Error::Protocol {
                server: server.to_owned(),
                message: "the session has no server info".to_owned(),
            })
    }

    /// True once the transport has closed: rmcp has seen it, or a stdio server's stdout ended.
    pub(crate) fn is_dead(&self) -> bool {
        self.peer.is_transport_closed() || self.stdout_closed.as_ref().is_some_and(|f| f.is_set())
    }

    /// Completes when the session is seen to die (never, for transports that cannot tell
    /// before rmcp does).
    pub(crate) async fn died(&self) {
        match &self.stdout_closed {
            Some(flag) => flag.wait().await,
            None => std::future::pending().await,
        }
    }

    /// Closes the session gracefully (stdin closed, then SIGTERM, then SIGKILL), waiting at
    /// most `bound`, then kills whatever is left of the server's process group (children a
    /// wrapper such as `sh -c` or `npx` started). Must run inside the library's tokio context.
    pub(crate) async fn close(&self, server: &str, bound: Duration) {
        let service = lock(&self.service).take();
        if let Some(mut service) = service {
            match service.close_with_timeout(bound).await {
                Ok(Some(_)) => log::info!(
                    "mcp-dispatch: server `{server}`: session {} closed",
                    self.generation
                ),
                Ok(None) => log::warn!(
                    "mcp-dispatch: server `{server}`: close did not finish within {bound:?}; \
                     killing its process group"
                ),
                Err(error) => log::warn!("mcp-dispatch: server `{server}`: close failed: {error}"),
            }
            crate::process::kill_group(self.pid);
        }
    }
}

/// How connect attempts back off after failures.
#[derive(Debug)]
pub(crate) struct Backoff {
    /// Failed connects since the last success (shared by all callers of one client).
    pub(crate) failures: std::sync::atomic::AtomicU32,
}

/// Attempts per connect when the server dies during start-up.
const CONNECT_ATTEMPTS: u32 = 3;
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff {
            failures: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// The delay before the next attempt: doubling from 100 ms per consecutive failure, capped
    /// at 5 s, with ±20% jitter so that many clients do not respawn in step.
    fn delay(&self) -> Duration {
        let failures = self.failures.load(std::sync::atomic::Ordering::Relaxed);
        if failures == 0 {
            return Duration::ZERO;
        }
        let exponential = BACKOFF_BASE.saturating_mul(1 << (failures - 1).min(16));
        let capped = exponential.min(BACKOFF_CAP);
        capped.mul_f64(0.8 + 0.4 * jitter())
    }
}

/// A number in [0, 1) that differs between calls.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    // Randomly keyed per process, fed the wall clock and a counter: differs per call, per
    // client and per process.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Starts the server and runs the MCP handshake, bounded by `timeout` in all.
///
/// A server that dies during start-up is tried up to three times, backing off between
/// attempts (and across calls, while connects keep failing), so a crashing server does not
/// get a hot respawn loop. A command that cannot be spawned at all is not retried. Must run
/// inside the library's tokio context.
pub(crate) async fn connect(
    server: &str,
    config: &ServerConfig,
    timeout: Duration,
    limits: Limits,
    backoff: &Backoff,
    hooks: &Arc<Hooks>,
) -> Result<Started> {
    use std::sync::atomic::Ordering;
    let started_at = Instant::now();
    let deadline = started_at + timeout;
    let mut attempts = 0;
    let outcome = loop {
        let delay = backoff.delay();
        if !delay.is_zero() {
            if Instant::now() + delay >= deadline {
                break None;
            }
            log::debug!("mcp-dispatch: server `{server}`: waiting {delay:?} before connecting");
            crate::runtime::sleep(delay).await;
        }
        attempts += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        // The process is started on the tokio thread, never on a host's loop.
        let starting = {
            let (server, config, hooks) = (server.to_owned(), config.clone(), hooks.clone());
            async move { start(&server, &config, limits, &hooks).await }
        };
        let started = crate::runtime::on_runtime_thread(starting);
        let outcome = crate::runtime::timeout(left, started).await.map(|started| {
            started.unwrap_or_else(|| {
                Err(Error::Panicked {
                    server: server.to_owned(),
                    message: "starting the server panicked".to_owned(),
                })
            })
        });
        match outcome {
            Some(Err(Error::Initialize {
                server: name,
                message,
                stderr,
                ..
            })) => {
                backoff.failures.fetch_add(1, Ordering::Relaxed);
                let error = Error::Initialize {
                    server: name,
                    message,
                    stderr,
                    attempts,
                };
                if attempts >= CONNECT_ATTEMPTS {
                    break Some(Err(error));
                }
                log::info!("mcp-dispatch: {error}; retrying");
            }
            Some(Err(error)) => {
                backoff.failures.fetch_add(1, Ordering::Relaxed);
                break Some(Err(error));
            }
            None => {
                backoff.failures.fetch_add(1, Ordering::Relaxed);
                break None;
            }
            Some(Ok(started)) => {
                backoff.failures.store(0, Ordering::Relaxed);
                break Some(Ok(started));
            }
        }
    };
    match outcome {
        None => {
            log::warn!("mcp-dispatch: server `{server}`: connect timed out after {timeout:?}");
            Err(Error::ConnectTimeout {
                server: server.to_owned(),
                timeout,
            })
        }
        Some(Err(error)) => {
            log::warn!("mcp-dispatch: {error}");
            Err(error)
        }
        Some(Ok(started)) => {
            log::info!(
                "mcp-dispatch: server `{server}`: connected (pid {}) in {:?}",
                started
                    .pid
                    .map_or_else(|| "unknown".to_owned(), |pid| pid.to_string()),
                started_at.elapsed()
            );
            Ok(started)
        }
    }
}

async fn start(
    server: &str,
    config: &ServerConfig,
    limits: Limits,
    hooks: &Arc<Hooks>,
) -> Result<Started> {
    let stdio = match &config.transport {
        TransportConfig::Stdio(stdio) => stdio,
        TransportConfig::Http(http) => return start_http(server, http, hooks).await,
    };
    let spawned = stdio::spawn(server, stdio, limits)?;
    let pid = spawned.pid;
    let stdout_closed = spawned.transport.stdout_closed();
    *lock(&hooks.starting) = Some(spawned.transport.stopped());
    match rmcp::serve_client(Handler::new(hooks.clone()), spawned.transport).await {
        Ok(service) => Ok(Started {
            service,
            pid,
            stdout_closed: Some(stdout_closed),
        }),
        Err(error) => Err(initialize_error(server, error, &spawned.stderr).await),
    }
}

#[cfg(feature = "http")]
async fn start_http(
    server: &str,
    config: &crate::config::HttpConfig,
    hooks: &Arc<Hooks>,
) -> Result<Started> {
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

    let header_error = |name: &str, message: String| Error::Config {
        server: Some(server.to_owned()),
        field: Some(format!("headers.{name}")),
        line: None,
        column: None,
        message,
    };
    let mut headers = std::collections::HashMap::new();
    for (name, value) in &config.headers {
        let header = http::HeaderName::try_from(name.as_str())
            .map_err(|error| header_error(name, format!("invalid header name: {error}")))?;
        let value = http::HeaderValue::try_from(value.as_str())
            .map_err(|error| header_error(name, format!("invalid header value: {error}")))?;
        headers.insert(header, value);
    }
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(config.url.as_str()).custom_headers(headers),
    );
    match rmcp::serve_client(Handler::new(hooks.clone()), transport).await {
        Ok(service) => Ok(Started {
            service,
            pid: None,
            stdout_closed: None,
        }),
        Err(error) if let Some(refused) = refusal(server, &error) => Err(refused),
        Err(error) if let Some(http) = http_error(server, &config.url, &error) => Err(http),
        Err(error) => Err(Error::Initialize {
            server: server.to_owned(),
            message: error_chain(&error),
            stderr: Vec::new(),
            attempts: 1,
        }),
    }
}

#[cfg(not(feature = "http"))]
async fn start_http(
    server: &str,
    _config: &crate::config::HttpConfig,
    _hooks: &Arc<Hooks>,
) -> Result<Started> {
    Err(Error::Unsupported {
        server: server.to_owned(),
        what: "streamable HTTP (the `http` feature is off)".to_owned(),
    })
}

/// An error's message followed by its sources', so that "connection refused" is not hidden
/// behind "send message error". rmcp's transport errors name the transport's Rust type; only
/// what they wrap is kept.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    if let Some(ClientInitializeError::TransportError { error, context }) =
        error.downcast_ref::<ClientInitializeError>()
    {
        return format!("{context}: {}", error_chain(&*error.error));
    }
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            message.push_str(": ");
            message.push_str(&cause_text);
        }
        source = cause.source();
    }
    message
}

/// The typed error for a failed HTTP exchange found in `error`'s chain: a refusal for 401 and
/// 403, the status for other HTTP errors, the operating system's error when no answer came.
#[cfg(feature = "http")]
fn http_error(server: &str, url: &str, error: &(dyn std::error::Error + 'static)) -> Option<Error> {
    use rmcp::transport::streamable_http_client::StreamableHttpError;

    // rmcp's initialize error does not report its transport error as its source.
    let mut cause = match error.downcast_ref::<ClientInitializeError>() {
        Some(ClientInitializeError::TransportError { error, .. }) => Some(&*error.error as _),
        _ => Some(error),
    };
    let http = loop {
        let current = cause?;
        if let Some(http) = current.downcast_ref::<StreamableHttpError<reqwest::Error>>() {
            break http;
        }
        cause = current.source();
    };
    let refused = |status: u16, message: String| Error::Refused {
        server: server.to_owned(),
        status: Some(status),
        message,
    };
    let failed = |status: Option<u16>, message: String| Error::Http {
        server: server.to_owned(),
        url: crate::config::redact_url(url),
        status,
        message,
    };
    let reason = |status: u16| {
        http::StatusCode::from_u16(status)
            .ok()
            .and_then(|status| status.canonical_reason())
            .unwrap_or("")
            .to_owned()
    };
    Some(match http {
        StreamableHttpError::AuthRequired(required) => refused(
            401,
            format!(
                "authorization required (WWW-Authenticate: {})",
                required.www_authenticate_header
            ),
        ),
        StreamableHttpError::InsufficientScope(scope) => refused(
            403,
            format!(
                "insufficient scope (WWW-Authenticate: {})",
                scope.www_authenticate_header
            ),
        ),
        StreamableHttpError::HttpStatus(status) => {
            failed(Some(status.status), reason(status.status))
        }
        StreamableHttpError::UnexpectedServerResponse(text) => {
            // rmcp writes `HTTP 500 Internal Server Error: body`.
            let rest = text.strip_prefix("HTTP ")?;
            let status: u16 = rest.get(..3)?.parse().ok()?;
            let message = rest[3..].trim_start().to_owned();
            if status == 401 || status == 403 {
                refused(status, message)
            } else {
                failed(Some(status), message)
            }
        }
        StreamableHttpError::Client(client) => match client.status() {
            Some(status) if status.as_u16() == 401 || status.as_u16() == 403 => {
                refused(status.as_u16(), reason(status.as_u16()))
            }
            Some(status) => failed(Some(status.as_u16()), reason(status.as_u16())),
            None => failed(None, os_cause(client)),
        },
        StreamableHttpError::Io(io) => failed(None, io.to_string()),
        _ => return None,
    })
}

#[cfg(not(feature = "http"))]
fn http_error(
    _server: &str,
    _url: &str,
    _error: &(dyn std::error::Error + 'static),
) -> Option<Error> {
    None
}

/// The operating system's error behind `error` ("Connection refused (os error 111)"), or the
/// innermost cause's message.
#[cfg(feature = "http")]
fn os_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    let mut cause = Some(error);
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return io.to_string();
        }
        innermost = current;
        cause = current.source();
    }
    innermost.to_string()
}

async fn initialize_error(
    server: &str,
    error: ClientInitializeError,
    stderr: &StderrTail,
) -> Error {
    if let Some(refused) = refusal(server, &error) {
        return refused;
    }
    Error::Initialize {
        server: server.to_owned(),
        message: error_chain(&error),
        stderr: stderr.lines_after_close(STDERR_GRACE).await,
        attempts: 1,
    }
}

/// The error for a deliberate refusal of `initialize`, which is final.
fn refusal(server: &str, error: &ClientInitializeError) -> Option<Error> {
    match error {
        ClientInitializeError::JsonRpcError(data) => Some(Error::Refused {
            server: server.to_owned(),
            status: None,
            message: format!("{} (JSON-RPC error {})", data.message, data.code.0),
        }),
        _ => None,
    }
}

/// The size and limit in an error response that stands for a message over the limit.
fn oversized(data: &ErrorData) -> Option<(u64, u64)> {
    let oversized = data.data.as_ref()?.get(crate::line_limit::OVERSIZED_KEY)?;
    let field = |name: &str| oversized.get(name).and_then(serde_json::Value::as_u64);
    Some((field("size")?, field("limit")?))
}

/// Maps an rmcp request error. `TransportClosed` also tells the caller to invalidate.
pub(crate) fn request_error(server: &str, tool: Option<&str>, error: ServiceError) -> Error {
    let server = server.to_owned();
    let tool = tool.map(str::to_owned);
    match error {
        ServiceError::McpError(data) if oversized(&data).is_some() => {
            let (size, limit) = oversized(&data).unwrap_or_default();
            Error::MessageTooLarge {
                server,
                tool,
                size,
                limit,
            }
        }
        ServiceError::McpError(data) => Error::Server {
            server,
            tool,
            code: data.code.0,
            message: data.message.into_owned(),
            data: data.data,
        },
        ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
            Error::TransportClosed { server, tool }
        }
        ServiceError::Timeout { timeout } => Error::Timeout {
            server,
            tool,
            timeout,
        },
        other => Error::Protocol {
            server,
            message: other.to_string(),
        },
    }
}
