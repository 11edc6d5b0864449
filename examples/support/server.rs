//! The MCP server bundled for tests and examples.
//!
//! Include it with `#[path = "support/server.rs"] mod server;` and call
//! [`run`]: it serves the test tools over stdio until stdin closes, then
//! returns. [`run_http`] serves the same server over streamable HTTP at
//! `http://ADDR/mcp` instead (loopback addresses only), printing
//! `listening on http://127.0.0.1:PORT/mcp` once bound, until stdin closes; it
//! also serves the HTTP+SSE transport of protocol 2024-11-05 at
//! `http://ADDR/sse` (see `sse.rs`).
//!
//! Besides tools it offers resources (`test://greeting`, `test://counter`,
//! template `test://item/{id}`, with subscriptions), the prompt `greet`, a
//! tool list that changes (`toggle_bonus`), and tools that send requests to
//! the client (`ask`: elicitation, `sample`: sampling, `roots`: roots).
//! On 2026-07-28, `touch` and `toggle_bonus` notify through the client's
//! `subscriptions/listen` streams instead of the session.
//! Per-session state (the `bonus` switch, resource subscriptions) lives in one
//! [`TestServer`] value: one per process over stdio, one per session over
//! HTTP. Counters (`cancellations`, `list_count`, `gather`, `test://counter`)
//! are process-wide.
//!
//! Environment switches, read once at start (for fault tests):
//!
//! - `MCP_TEST_PID_FILE=path`: write the process id to `path`.
//! - `MCP_TEST_STDERR_LINES=N`: write `N` lines `stderr line {i}` to stderr.
//! - `MCP_TEST_EXIT_BEFORE_INIT=code`: print a fatal message to stderr and
//!   exit with `code` without reading stdin.
//! - `MCP_TEST_HANG_INIT=1`: never answer; read stdin to EOF, then exit 0.
//! - `MCP_TEST_GARBAGE=1`: write the line `this is not json {` to stdout
//!   first, then serve normally.
//! - `MCP_TEST_RECORD_DIR=dir`: the `record` tool appends `key\n` to
//!   `dir/record.log`.
//! - `MCP_TEST_STUBBORN=1`: ignore SIGTERM, and keep running after stdin
//!   closes (with `MCP_TEST_HANG_INIT`, too): only SIGKILL stops it.
//! - `MCP_TEST_REFUSE_INIT=message`: answer `initialize` and `server/discover`
//!   with a JSON-RPC error carrying `message`.
//! - `MCP_TEST_HTTP_STATUS=code` (HTTP only): answer every request on the
//!   endpoint with that status and a plain-text body.
//! - `MCP_TEST_REQUIRE_AUTH=TOKEN` (HTTP only): any request without the
//!   header `Authorization: Bearer TOKEN` gets `401 Unauthorized`.
//! - `MCP_TEST_PROTOCOL=2025|2026`: answer only the `initialize` handshake
//!   (`server/discover` is an unknown method), or only `server/discover`
//!   (`initialize` is); by default both, so a client that probes gets
//!   2026-07-28. On 2026-07-28 the tools `ask`, `sample` and `roots` ask for
//!   input with an `input_required` result instead of a request to the client.
//!   `MCP_TEST_PROTOCOL=2025-empty` (stdio only) answers only `initialize`, and
//!   `server/discover` with an empty result.
//! - `MCP_TEST_NO_LISTEN=1`: refuse `subscriptions/listen` (2026-07-28) as an
//!   unknown method.
//! - `MCP_TEST_DUPLICATE_TOOL=name`: `tools/list` lists the tool `name` a
//!   second time, last, with the description `duplicate listing`.
//!
//! In HTTP mode `MCP_TEST_PID_FILE`, `MCP_TEST_STDERR_LINES` and
//! `MCP_TEST_EXIT_BEFORE_INIT` apply as over stdio; `MCP_TEST_HANG_INIT` and
//! `MCP_TEST_GARBAGE`, which fake broken stdio servers, are ignored.

use std::{
    collections::BTreeSet,
    convert::Infallible,
    io::Write,
    pin::Pin,
    sync::{
        Arc, LazyLock, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::{
        router::tool::ToolRouter,
        tool::{InputResponses, ToolCallContext},
        wrapper::Parameters,
    },
    model::{
        CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ClientResult,
        ContentBlock, ElicitRequest, ElicitRequestParams, ElicitResult, GetPromptRequestParams,
        GetPromptResponse, GetPromptResult, Implementation, InputRequest, InputRequests,
        InputRequiredResult, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
        ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, Prompt, PromptArgument,
        PromptMessage, ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse,
        ReadResourceResult, Resource, ResourceContents, ResourceTemplate,
        ResourceUpdatedNotificationParam, Role, ServerCapabilities, ServerConfig, ServerRequest,
        SubscribeRequestParams, Tool, UnsubscribeRequestParams,
    },
    service::{RequestContext, ServiceError},
    tool, tool_router,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, ReadBuf};

/// Name the server reports in its `initialize` answer.
const SERVER_NAME: &str = "mcp-dispatch-test-server";

/// How many `sleep` calls were cancelled (by `notifications/cancelled`, or by
/// their handler being dropped) since the process started.
static CANCELLATIONS: AtomicU64 = AtomicU64::new(0);

/// How many `sleep` and `slow_echo` calls are running right now.
static SLEEPING: AtomicU64 = AtomicU64::new(0);

/// How many `tools/list` requests this process has answered.
static LIST_TOOLS_CALLS: AtomicU64 = AtomicU64::new(0);

/// How many `server/discover` requests this process has received.
static DISCOVERS: AtomicU64 = AtomicU64::new(0);

/// How many times `test://counter` was read.
static COUNTER_READS: AtomicU64 = AtomicU64::new(0);

/// How many `gather` calls have arrived since the process started.
static GATHERED: LazyLock<tokio::sync::watch::Sender<u64>> =
    LazyLock::new(|| tokio::sync::watch::Sender::new(0));

/// The tool that `toggle_bonus` shows and hides.
const BONUS_TOOL: &str = "bonus";

const GREETING_URI: &str = "test://greeting";
const GREETING_TEXT: &str = "hello from the test server";
const COUNTER_URI: &str = "test://counter";
const ITEM_PREFIX: &str = "test://item/";
const ITEM_TEMPLATE: &str = "test://item/{id}";
/// On 2026-07-28, reads as the client's roots, which it asks for first.
const ROOTS_URI: &str = "test://roots";

/// Counts one running sleep for as long as it lives.
struct Sleeping;

impl Sleeping {
    fn start() -> Sleeping {
        SLEEPING.fetch_add(1, Ordering::SeqCst);
        Sleeping
    }
}

impl Drop for Sleeping {
    fn drop(&mut self) {
        SLEEPING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Set to `true` once stdin reaches end of file (or fails).
///
/// rmcp lets in-flight handlers finish for up to 5 s after stdin closes before
/// it cancels them; the waiting tools also watch this so that the server exits
/// at once instead.
static STDIN_CLOSED: LazyLock<tokio::sync::watch::Sender<bool>> =
    LazyLock::new(|| tokio::sync::watch::Sender::new(false));

/// Resolves once stdin has closed.
async fn stdin_closed() {
    let mut closed = STDIN_CLOSED.subscribe();
    // Only fails if the sender is dropped, which a static never is.
    let _ = closed.wait_for(|closed| *closed).await;
}

/// Passes reads through and raises [`STDIN_CLOSED`] at end of file.
struct EofSignal<R> {
    inner: R,
}

impl<R: AsyncRead + Unpin> AsyncRead for EofSignal<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let wanted = buf.remaining() > 0;
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        match &poll {
            Poll::Ready(Ok(())) if wanted && buf.filled().len() == before => {
                STDIN_CLOSED.send_replace(true);
            }
            Poll::Ready(Err(_)) => {
                STDIN_CLOSED.send_replace(true);
            }
            _ => {}
        }
        poll
    }
}

/// Counts one cancellation when dropped, unless disarmed first.
///
/// Armed when a `sleep` call starts and disarmed only when the sleep runs to
/// its end, so a call counts once whether rmcp fires its cancellation token
/// or drops its future, and never twice.
struct CancelGuard {
    armed: bool,
}

impl CancelGuard {
    fn armed() -> Self {
        Self { armed: true }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if self.armed {
            CANCELLATIONS.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    /// The text to send back.
    text: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct AddArgs {
    /// The first addend.
    a: f64,
    /// The second addend.
    b: f64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct SleepArgs {
    /// How long to sleep, in milliseconds.
    ms: u64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct RevokeArgs {
    /// Revoke only the access tokens, and leave the refresh tokens usable.
    #[serde(default)]
    access_only: bool,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct GatherArgs {
    /// How many calls to wait for, counting this one.
    n: u64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct BigArgs {
    /// How many bytes of text to return.
    bytes: usize,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct SlowEchoArgs {
    /// The text to return.
    text: String,
    /// Milliseconds to wait first.
    ms: u64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct CrashArgs {
    /// The exit code (default 3).
    #[serde(default)]
    code: Option<i32>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct FailArgs {
    /// The error text (default "tool failed on purpose").
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct RecordArgs {
    /// The key to record.
    key: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct EnvArgs {
    /// The name of the environment variable.
    name: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct ProgressArgs {
    /// How many progress notifications to send.
    steps: u32,
    /// The pause before each notification, in milliseconds.
    delay_ms: u64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct LogArgs {
    /// The MCP logging level, e.g. debug, info, warning or error (default info).
    #[serde(default)]
    level: Option<String>,
    /// The message to log.
    message: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct TouchArgs {
    /// The resource URI to report as updated.
    uri: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct AskArgs {
    /// The message shown to the user in the elicitation request.
    message: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct InsistArgs {
    /// How many rounds of input to ask for before answering.
    rounds: u32,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct SampleArgs {
    /// The text of the single user message sent for sampling.
    prompt: String,
}

fn text(value: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(value)])
}

fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// Sends one `notifications/message` to the client.
///
/// Logging is deprecated by SEP-2577 in rmcp, but still part of the protocol
/// versions that have an `initialize` handshake.
#[allow(deprecated)]
async fn send_log(
    context: &RequestContext<RoleServer>,
    level: &str,
    message: &str,
) -> Result<(), String> {
    use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam};

    let level: LoggingLevel = serde_json::from_value(serde_json::Value::from(level))
        .map_err(|_| format!("unknown logging level {level:?}"))?;
    let param = LoggingMessageNotificationParam::new(level, serde_json::Value::from(message))
        .with_logger(SERVER_NAME);
    context
        .peer
        .notify_logging_message(param)
        .await
        .map_err(|error| format!("could not send the log message: {error}"))
}

/// Which handshakes the server answers, from `MCP_TEST_PROTOCOL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProtocolMode {
    /// `initialize` (up to 2025-11-25) and `server/discover` (2026-07-28).
    Both,
    /// `2025`: only `initialize`; `server/discover` is an unknown method.
    Initialize,
    /// `2026`: only `server/discover`; `initialize` is an unknown method.
    Discover,
    /// `2025-empty` (stdio only): only `initialize`; `server/discover` gets an
    /// empty result, as some servers answer every method they do not know.
    EmptyDiscover,
}

fn protocol_mode() -> ProtocolMode {
    static MODE: LazyLock<ProtocolMode> =
        LazyLock::new(|| match std::env::var("MCP_TEST_PROTOCOL").as_deref() {
            Ok("2025") => ProtocolMode::Initialize,
            Ok("2026") => ProtocolMode::Discover,
            Ok("2025-empty") => ProtocolMode::EmptyDiscover,
            _ => ProtocolMode::Both,
        });
    *MODE
}

/// The JSON-RPC error for a method this server does not know.
fn unknown_method(method: &str) -> ErrorData {
    ErrorData::new(
        rmcp::model::ErrorCode::METHOD_NOT_FOUND,
        format!("Method not found: {method}"),
        None,
    )
}

/// The open `subscriptions/listen` streams of this process (2026-07-28), by a
/// key of their own. Process-wide: over HTTP a 2026-07-28 request belongs to
/// no session.
static LISTENERS: Mutex<Vec<(u64, rmcp::service::SubscriptionSink)>> = Mutex::new(Vec::new());

fn lock_listeners() -> std::sync::MutexGuard<'static, Vec<(u64, rmcp::service::SubscriptionSink)>> {
    LISTENERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Bumped by `end_listens`: every open listen stream then ends with its final
/// result, as when a server shuts a stream down.
static END_LISTENS: LazyLock<tokio::sync::watch::Sender<u64>> =
    LazyLock::new(|| tokio::sync::watch::Sender::new(0));

/// The open listen streams, for sending on without holding the lock.
fn listeners() -> Vec<rmcp::service::SubscriptionSink> {
    lock_listeners()
        .iter()
        .map(|(_, sink)| sink.clone())
        .collect()
}

/// True when the request belongs to a session of protocol 2026-07-28 or later,
/// where a server sends no requests to the client: it asks for input by
/// answering `input_required`, and the client calls again with the answers.
fn modern(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28)
}

/// In a 2026-07-28 session: the client's answer to `request`, which the
/// retried call carries under `key` in its `inputResponses`; or, on the first
/// round, the `input_required` result that asks for it (a tool error when the
/// answer does not parse).
#[allow(clippy::result_large_err)]
fn input_response<T: serde::de::DeserializeOwned>(
    responses: Option<rmcp::model::InputResponses>,
    key: &str,
    request: InputRequest,
) -> Result<T, CallToolResponse> {
    match responses.and_then(|mut responses| responses.remove(key)) {
        Some(answer) => serde_json::from_value(answer).map_err(|error| {
            tool_error(format!(
                "cannot read the client's answer to `{key}`: {error}"
            ))
            .into()
        }),
        None => {
            let requests = InputRequests::from([(key.to_owned(), request)]);
            Err(InputRequiredResult::from_input_requests(requests).into())
        }
    }
}

/// Describes a failed server-to-client request, with the JSON-RPC code and
/// message when the client answered with an error.
fn request_error(what: &str, error: &ServiceError) -> String {
    match error {
        ServiceError::McpError(data) => format!(
            "{what} failed: JSON-RPC error {}: {} ({error})",
            data.code.0, data.message
        ),
        other => format!("{what} failed: {other}"),
    }
}

/// State of one MCP session, shared by the clones of its [`TestServer`].
#[derive(Debug, Default)]
struct SessionState {
    /// Whether the `bonus` tool is listed and callable.
    bonus_on: AtomicBool,
    /// The URIs passed to `resources/subscribe` and not unsubscribed since.
    subscriptions: Mutex<BTreeSet<String>>,
}

/// The test server: process-wide counters, plus [`SessionState`].
#[derive(Debug, Clone)]
struct TestServer {
    tool_router: ToolRouter<Self>,
    session: Arc<SessionState>,
}

impl TestServer {
    fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
            session: Arc::default(),
        }
    }

    fn bonus_on(&self) -> bool {
        self.session.bonus_on.load(Ordering::SeqCst)
    }

    /// Whether `name` is a tool this session can see now.
    fn tool_visible(&self, name: &str) -> bool {
        name != BONUS_TOOL || self.bonus_on()
    }

    fn subscriptions(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.session
            .subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The contents of a resource, or `None` for an unknown URI.
fn read_resource_text(uri: &str) -> Option<String> {
    match uri {
        GREETING_URI => Some(GREETING_TEXT.to_owned()),
        COUNTER_URI => Some((COUNTER_READS.fetch_add(1, Ordering::SeqCst) + 1).to_string()),
        _ => uri
            .strip_prefix(ITEM_PREFIX)
            .filter(|id| !id.is_empty())
            .map(|id| format!("item {id}")),
    }
}

#[tool_router]
impl TestServer {
    #[tool(
        description = "Returns its text argument unchanged.",
        annotations(read_only_hint = true)
    )]
    fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        text
    }

    #[tool(
        description = "Adds two numbers; whole results print without a decimal point.",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    fn add(&self, Parameters(AddArgs { a, b }): Parameters<AddArgs>) -> String {
        // `Display` for f64 prints 5.0 as "5" and 2.5 as "2.5".
        (a + b).to_string()
    }

    #[tool(
        description = "Returns the server's process id.",
        annotations(read_only_hint = true)
    )]
    fn pid(&self) -> String {
        std::process::id().to_string()
    }

    #[tool(
        description = "Sleeps for ms milliseconds, then returns \"slept {ms}\". \
                          A cancelled sleep is counted (see the cancellations tool)."
    )]
    async fn sleep(
        &self,
        Parameters(SleepArgs { ms }): Parameters<SleepArgs>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let _sleeping = Sleeping::start();
        // Counts on drop unless the sleep completes: covers both the token
        // firing (the select below returns and drops it) and rmcp dropping
        // this future outright.
        let mut guard = CancelGuard::armed();
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(ms)) => {
                guard.disarm();
                text(format!("slept {ms}"))
            }
            () = context.ct.cancelled() => {
                drop(guard);
                // rmcp discards the answer to a cancelled request.
                tool_error("cancelled")
            }
            () = stdin_closed() => {
                // The client hung up: end now rather than hold the exit.
                guard.disarm();
                tool_error("stdin closed")
            }
        }
    }

    #[tool(
        description = "Returns how many sleep calls were cancelled since the server started.",
        annotations(read_only_hint = true)
    )]
    fn cancellations(&self) -> String {
        CANCELLATIONS.load(Ordering::SeqCst).to_string()
    }

    #[tool(
        description = "Exits the server process at once with the given code (default 3); \
                          never answers."
    )]
    fn crash(&self, Parameters(CrashArgs { code }): Parameters<CrashArgs>) -> String {
        std::process::exit(code.unwrap_or(3))
    }

    #[tool(
        description = "How many sleep and slow_echo calls are running now.",
        annotations(read_only_hint = true)
    )]
    fn sleeping(&self) -> String {
        SLEEPING.load(Ordering::SeqCst).to_string()
    }

    #[tool(
        description = "In OAuth mode: how many authorization requests, tokens and refreshes \
                       the server's authorization server has answered, as \
                       \"authorizations tokens refreshes\".",
        annotations(read_only_hint = true)
    )]
    fn authorizations(&self) -> String {
        format!(
            "{} {} {}",
            oauth::AUTHORIZATIONS.load(Ordering::SeqCst),
            oauth::TOKENS.load(Ordering::SeqCst),
            oauth::REFRESHES.load(Ordering::SeqCst)
        )
    }

    #[tool(
        description = "In OAuth mode: revokes every access token issued so far (later \
                          requests with one are refused with 401 `invalid_token`), and every \
                          refresh token unless access_only."
    )]
    fn revoke_tokens(
        &self,
        Parameters(RevokeArgs { access_only }): Parameters<RevokeArgs>,
    ) -> String {
        oauth::revoke(access_only);
        "revoked".to_owned()
    }

    #[tool(
        description = "Waits until n gather calls have arrived at this server since it started \
                       (counting this one), then returns \"gathered {n}\". n calls made at \
                       once all return only if the server ran them at the same time."
    )]
    async fn gather(
        &self,
        Parameters(GatherArgs { n }): Parameters<GatherArgs>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        GATHERED.send_modify(|arrived| *arrived += 1);
        let mut arrivals = GATHERED.subscribe();
        tokio::select! {
            // Only fails if the sender is dropped, which a static never is.
            _ = arrivals.wait_for(|arrived| *arrived >= n) => text(format!("gathered {n}")),
            () = context.ct.cancelled() => tool_error("cancelled"),
            () = stdin_closed() => tool_error("stdin closed"),
        }
    }

    #[tool(
        description = "Waits ms milliseconds, then returns text; read-only, so safe to retry.",
        annotations(read_only_hint = true)
    )]
    async fn slow_echo(
        &self,
        Parameters(SlowEchoArgs { text: message, ms }): Parameters<SlowEchoArgs>,
    ) -> String {
        let _sleeping = Sleeping::start();
        tokio::time::sleep(Duration::from_millis(ms)).await;
        message
    }

    #[tool(
        description = "Writes half a JSON-RPC message to stdout, then exits with code 4; \
                          never answers."
    )]
    fn half_line(&self) -> String {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(br#"{"jsonrpc":"2.0","id":1,"result":{"con"#);
        let _ = stdout.flush();
        std::process::exit(4)
    }

    #[tool(
        description = "Returns a text of `bytes` bytes (the letter x repeated).",
        annotations(read_only_hint = true)
    )]
    fn big(&self, Parameters(BigArgs { bytes }): Parameters<BigArgs>) -> String {
        "x".repeat(bytes)
    }

    #[tool(
        description = "Points stdout at /dev/null (the client sees it close) and never \
                          answers; the process keeps running."
    )]
    async fn close_stdout(&self) -> String {
        match std::fs::File::options().write(true).open("/dev/null") {
            Ok(null) => {
                if let Err(error) = nix::unistd::dup2_stdout(&null) {
                    eprintln!("test server: cannot redirect stdout: {error}");
                }
            }
            Err(error) => eprintln!("test server: cannot open /dev/null: {error}"),
        }
        std::future::pending().await
    }

    #[tool(description = "Returns a tool error (isError true) with the given message.")]
    fn fail(&self, Parameters(FailArgs { message }): Parameters<FailArgs>) -> CallToolResult {
        tool_error(message.unwrap_or_else(|| "tool failed on purpose".to_owned()))
    }

    #[tool(
        description = "Records a key: appends \"\\nkey done\\n\" to \
                       $MCP_TEST_RECORD_DIR/record.log when that variable is set. Not idempotent.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false
        )
    )]
    fn record(&self, Parameters(RecordArgs { key }): Parameters<RecordArgs>) -> CallToolResult {
        if let Some(dir) = std::env::var_os("MCP_TEST_RECORD_DIR") {
            let path = std::path::Path::new(&dir).join("record.log");
            // One write on an O_APPEND file, so processes sharing the directory do not
            // interleave their lines. A process killed in the middle of its write leaves a
            // torn line: the leading newline ends it, and it lacks the ` done` a complete
            // record ends with.
            let line = format!("\n{key} done\n");
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut file| file.write_all(line.as_bytes()));
            if let Err(error) = written {
                return tool_error(format!("cannot append to {}: {error}", path.display()));
            }
        }
        text(format!("recorded {key}"))
    }

    #[tool(
        description = "Returns the value of an environment variable of the server, \
                       or the empty string when it is unset.",
        annotations(read_only_hint = true)
    )]
    fn env(&self, Parameters(EnvArgs { name }): Parameters<EnvArgs>) -> String {
        std::env::var_os(name)
            .map(|value| value.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    #[tool(
        description = "Returns the server's current working directory.",
        annotations(read_only_hint = true)
    )]
    fn cwd(&self) -> CallToolResult {
        match std::env::current_dir() {
            Ok(dir) => text(dir.to_string_lossy().into_owned()),
            Err(error) => tool_error(format!("cannot read the working directory: {error}")),
        }
    }

    #[tool(
        description = "Sends steps progress notifications (progress 1..=steps, total steps), \
                       waiting delay_ms before each, when the request carries a progress \
                       token; then returns \"done {steps}\"."
    )]
    async fn progress(
        &self,
        Parameters(ProgressArgs { steps, delay_ms }): Parameters<ProgressArgs>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let token = context.meta.get_progress_token();
        for step in 1..=steps {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(delay_ms)) => {}
                () = context.ct.cancelled() => return tool_error("cancelled"),
                () = stdin_closed() => return tool_error("stdin closed"),
            }
            if let Some(token) = &token {
                let param = ProgressNotificationParam::new(token.clone(), f64::from(step))
                    .with_total(f64::from(steps));
                if let Err(error) = context.peer.notify_progress(param).await {
                    return tool_error(format!("could not send progress: {error}"));
                }
            }
        }
        text(format!("done {steps}"))
    }

    #[tool(
        description = "Sends a notifications/message log notification with the given level \
                       (default info) and message, then returns \"logged\"."
    )]
    async fn log(
        &self,
        Parameters(LogArgs { level, message }): Parameters<LogArgs>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let level = level.as_deref().unwrap_or("info");
        match send_log(&context, level, &message).await {
            Ok(()) => text("logged"),
            Err(error) => tool_error(error),
        }
    }

    #[tool(
        description = "Returns a JSON object of the HTTP request headers of this call \
                       (lowercase names; repeated headers joined by \", \"); {} over stdio.",
        annotations(read_only_hint = true)
    )]
    fn headers(&self, context: RequestContext<RoleServer>) -> String {
        let mut headers = serde_json::Map::new();
        // The streamable HTTP transport puts the request's head here.
        if let Some(parts) = context.extensions.get::<http::request::Parts>() {
            for name in parts.headers.keys() {
                let values: Vec<String> = parts
                    .headers
                    .get_all(name)
                    .iter()
                    .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                    .collect();
                headers.insert(name.as_str().to_owned(), Value::from(values.join(", ")));
            }
        }
        Value::Object(headers).to_string()
    }

    #[tool(
        description = "Shows or hides the bonus tool, sends notifications/tools/list_changed, \
                       then returns \"bonus on\" or \"bonus off\"."
    )]
    async fn toggle_bonus(&self, context: RequestContext<RoleServer>) -> CallToolResult {
        let on = !self.session.bonus_on.fetch_xor(true, Ordering::SeqCst);
        let state = if on { "bonus on" } else { "bonus off" };
        if modern(&context) {
            for sink in listeners() {
                let _ = sink.notify_tool_list_changed().await;
            }
            return text(state);
        }
        match context.peer.notify_tool_list_changed().await {
            Ok(()) => text(state),
            Err(error) => tool_error(format!(
                "{state}, but notifications/tools/list_changed failed: {error}"
            )),
        }
    }

    #[tool(
        description = "Returns \"bonus!\"; listed and callable only while toggle_bonus has it on.",
        annotations(read_only_hint = true)
    )]
    fn bonus(&self) -> String {
        "bonus!".to_owned()
    }

    #[tool(
        description = "Returns how many tools/list requests this process has received.",
        annotations(read_only_hint = true)
    )]
    fn list_count(&self) -> String {
        LIST_TOOLS_CALLS.load(Ordering::SeqCst).to_string()
    }

    #[tool(
        description = "Sends notifications/resources/updated for uri if this session subscribed \
                       to it, returning \"notified\"; otherwise returns \"not subscribed\"."
    )]
    async fn touch(
        &self,
        Parameters(TouchArgs { uri }): Parameters<TouchArgs>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        if modern(&context) {
            let mut notified = 0;
            for sink in listeners() {
                if sink.notify_resource_updated(uri.clone()).await.is_ok() {
                    notified += 1;
                }
            }
            return text(if notified > 0 {
                "notified"
            } else {
                "not subscribed"
            });
        }
        if !self.subscriptions().contains(&uri) {
            return text("not subscribed");
        }
        let param = ResourceUpdatedNotificationParam::new(uri);
        match context.peer.notify_resource_updated(param).await {
            Ok(()) => text("notified"),
            Err(error) => tool_error(format!(
                "could not send notifications/resources/updated: {error}"
            )),
        }
    }

    #[tool(
        description = "Ends every open subscriptions/listen stream of this process with its \
                       final result (2026-07-28) and returns \"ended N\"."
    )]
    fn end_listens(&self) -> String {
        let open = lock_listeners().len();
        END_LISTENS.send_modify(|generation| *generation += 1);
        format!("ended {open}")
    }

    #[tool(
        description = "How many server/discover requests this process has received.",
        annotations(read_only_hint = true)
    )]
    fn discovers(&self) -> String {
        DISCOVERS.load(Ordering::SeqCst).to_string()
    }

    #[tool(
        description = "How many subscriptions/listen streams of this process are open now \
                       (2026-07-28).",
        annotations(read_only_hint = true)
    )]
    fn listening(&self) -> String {
        lock_listeners().len().to_string()
    }

    #[tool(
        description = "Sends elicitation/create with the message and the schema \
                          {answer: string, default \"yes\"}; returns the client's result as \
                          JSON ({\"action\":..., \"content\":...}). A tool error when the client \
                          did not declare elicitation or the request failed."
    )]
    async fn ask(
        &self,
        Parameters(AskArgs { message }): Parameters<AskArgs>,
        InputResponses(responses): InputResponses,
        context: RequestContext<RoleServer>,
    ) -> CallToolResponse {
        // rmcp's `create_elicitation` (and this raw request) does not check
        // the client's capabilities; only its typed `elicit` does.
        let declared = context
            .client_capabilities()
            .is_some_and(|capabilities| capabilities.elicitation.is_some());
        if !declared {
            return tool_error(
                "elicitation failed: the client did not declare the elicitation capability",
            )
            .into();
        }
        let schema = json!({
            "type": "object",
            "properties": {"answer": {"type": "string", "default": "yes"}},
        });
        let requested_schema = match serde_json::from_value(schema) {
            Ok(schema) => schema,
            Err(error) => return tool_error(format!("bad elicitation schema: {error}")).into(),
        };
        let request = ElicitRequest::new(ElicitRequestParams::FormElicitationParams {
            meta: None,
            message,
            requested_schema,
        });
        let answer = if modern(&context) {
            match input_response(responses, "ask", InputRequest::Elicitation(request)) {
                Ok(answer) => Ok(answer),
                Err(ask) => return ask,
            }
        } else {
            match context
                .peer
                .send_request(ServerRequest::ElicitRequest(request))
                .await
            {
                Ok(ClientResult::ElicitResult(result)) => Ok(result),
                Ok(other) => Err(format!("elicitation failed: unexpected result {other:?}")),
                Err(error) => Err(request_error("elicitation", &error)),
            }
        };
        match answer.and_then(|result: ElicitResult| {
            serde_json::to_string(&result)
                .map_err(|error| format!("cannot encode the elicitation result: {error}"))
        }) {
            Ok(json) => text(json).into(),
            Err(message) => tool_error(message).into(),
        }
    }

    #[tool(
        description = "Sends sampling/createMessage with one user message (the prompt) and \
                          returns the text of the client's reply; a tool error when it fails."
    )]
    #[allow(deprecated)]
    async fn sample(
        &self,
        Parameters(SampleArgs { prompt }): Parameters<SampleArgs>,
        InputResponses(responses): InputResponses,
        context: RequestContext<RoleServer>,
    ) -> CallToolResponse {
        use rmcp::model::{
            CreateMessageRequest, CreateMessageRequestParams, SamplingMessage,
            SamplingMessageContentBlock,
        };

        let message = SamplingMessage::new(Role::User, SamplingMessageContentBlock::text(prompt));
        let params = CreateMessageRequestParams::new(vec![message], 256);
        let answer = if modern(&context) {
            let request = InputRequest::CreateMessage(CreateMessageRequest::new(params));
            match input_response(responses, "sample", request) {
                Ok(answer) => answer,
                Err(ask) => return ask,
            }
        } else {
            match context.peer.create_message(params).await {
                Ok(result) => result,
                Err(error) => return tool_error(request_error("sampling", &error)).into(),
            }
        };
        let texts: Vec<&str> = answer
            .message
            .content
            .iter()
            .filter_map(|block| match block {
                SamplingMessageContentBlock::Text(content) => Some(content.text.as_str()),
                _ => None,
            })
            .collect();
        text(texts.join("\n")).into()
    }

    #[tool(
        description = "On 2026-07-28: asks for roots with requestState \"round N\" and, while \
                       rounds is more than the rounds the client answered (counted from the \
                       state it echoes), asks again; then returns \"answered N rounds\". A tool \
                       error when the echoed state is not one it sent, or on older versions."
    )]
    #[allow(deprecated)]
    async fn insist(
        &self,
        Parameters(InsistArgs { rounds }): Parameters<InsistArgs>,
        InputResponses(responses): InputResponses,
        rmcp::handler::server::tool::RequestState(state): rmcp::handler::server::tool::RequestState,
        context: RequestContext<RoleServer>,
    ) -> CallToolResponse {
        if !modern(&context) {
            return tool_error("insist needs protocol 2026-07-28").into();
        }
        let answered = match state.as_deref().map(|state| state.strip_prefix("round ")) {
            None => 0,
            Some(Some(n)) => match n.parse::<u32>() {
                Ok(n) if responses.as_ref().is_some_and(|r| r.contains_key("roots")) => n,
                _ => return tool_error(format!("bad echoed state {state:?}")).into(),
            },
            Some(None) => return tool_error(format!("bad echoed state {state:?}")).into(),
        };
        if answered >= rounds {
            return text(format!("answered {answered} rounds")).into();
        }
        let request = InputRequest::ListRoots(rmcp::model::ListRootsRequest::default());
        let requests = InputRequests::from([("roots".to_owned(), request)]);
        InputRequiredResult::new(Some(requests), Some(format!("round {}", answered + 1))).into()
    }

    #[tool(
        description = "Sends roots/list to the client and returns the roots' URIs, one a line; \
                       a tool error when it fails.",
        annotations(read_only_hint = true)
    )]
    #[allow(deprecated)]
    async fn roots(
        &self,
        InputResponses(responses): InputResponses,
        context: RequestContext<RoleServer>,
    ) -> CallToolResponse {
        let answer: rmcp::model::ListRootsResult = if modern(&context) {
            let request = InputRequest::ListRoots(rmcp::model::ListRootsRequest::default());
            match input_response(responses, "roots", request) {
                Ok(answer) => answer,
                Err(ask) => return ask,
            }
        } else {
            match context.peer.list_roots().await {
                Ok(result) => result,
                Err(error) => return tool_error(request_error("roots/list", &error)).into(),
            }
        };
        let uris: Vec<&str> = answer.roots.iter().map(|root| root.uri.as_str()).collect();
        text(uris.join("\n")).into()
    }
}

impl ServerHandler for TestServer {
    #[allow(deprecated)]
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_logging()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_resources_list_changed()
                .enable_prompts()
                .build(),
        )
        .with_server_info(Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION")))
        .with_instructions("Test server for mcp-dispatch")
    }

    /// The versions `MCP_TEST_PROTOCOL` allows. A server that only has the
    /// `initialize` handshake keeps the full list, so that `server/discover`
    /// reaches [`discover`](Self::discover) and gets "method not found", as
    /// from a server written before 2026-07-28.
    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        match protocol_mode() {
            ProtocolMode::Both | ProtocolMode::Initialize | ProtocolMode::EmptyDiscover => {
                ProtocolVersion::KNOWN_VERSIONS.into()
            }
            ProtocolMode::Discover => vec![ProtocolVersion::V_2026_07_28].into(),
        }
    }

    /// Refuses the session when `MCP_TEST_REFUSE_INIT` is set; unknown to a
    /// server that only has the `initialize` handshake.
    async fn discover(
        &self,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::DiscoverResult, ErrorData> {
        DISCOVERS.fetch_add(1, Ordering::SeqCst);
        if let Ok(message) = std::env::var("MCP_TEST_REFUSE_INIT") {
            return Err(ErrorData::invalid_request(message, None));
        }
        if protocol_mode() == ProtocolMode::Initialize {
            return Err(unknown_method("server/discover"));
        }
        Ok(rmcp::model::DiscoverResult::from_server_info(
            self.supported_protocol_versions().into_owned(),
            self.get_info(),
        ))
    }

    /// Refuses the session when `MCP_TEST_REFUSE_INIT` is set; unknown to a
    /// server that only speaks 2026-07-28.
    async fn initialize(
        &self,
        request: rmcp::model::InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::InitializeResult, ErrorData> {
        if let Ok(message) = std::env::var("MCP_TEST_REFUSE_INIT") {
            return Err(ErrorData::invalid_request(message, None));
        }
        if protocol_mode() == ProtocolMode::Discover {
            return Err(unknown_method("initialize"));
        }
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    /// Accepts any level: the `log` tool sends whatever it is asked to.
    #[allow(deprecated)]
    async fn set_level(
        &self,
        _request: rmcp::model::SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Ok(())
    }

    /// What `#[tool_handler]` would generate, hiding `bonus` while it is off.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if !self.tool_visible(&request.name) {
            // The same answer the router gives for an unknown tool.
            return Err(ErrorData::invalid_params("tool not found", None));
        }
        let call = ToolCallContext::new(self, request, context);
        self.tool_router.call(call).await
    }

    /// Counts the request, then lists the visible tools as `#[tool_handler]`
    /// would.
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        LIST_TOOLS_CALLS.fetch_add(1, Ordering::SeqCst);
        let mut tools = self.tool_router.list_all();
        tools.retain(|tool| self.tool_visible(&tool.name));
        if let Ok(name) = std::env::var("MCP_TEST_DUPLICATE_TOOL")
            && let Some(tool) = tools.iter().find(|tool| tool.name == name.as_str())
        {
            let mut duplicate = tool.clone();
            duplicate.description = Some("duplicate listing".into());
            tools.push(duplicate);
        }
        let mut result = ListToolsResult::with_all_items(tools);
        if context
            .protocol_version()
            .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28)
        {
            result = result.with_ttl_ms(0).with_cache_scope(CacheScope::Public);
        }
        Ok(result)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        if !self.tool_visible(name) {
            return None;
        }
        self.tool_router.get(name).cloned()
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new(GREETING_URI, "greeting")
                .with_description("A fixed greeting.")
                .with_mime_type("text/plain"),
            Resource::new(COUNTER_URI, "counter")
                .with_description("How many times this resource has been read, this read included.")
                .with_mime_type("text/plain"),
        ]))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(ITEM_TEMPLATE, "item")
                .with_description("Reads to \"item {id}\".")
                .with_mime_type("text/plain"),
        ]))
    }

    /// On 2026-07-28, `test://roots` asks the client for its roots first
    /// (`input_required`), and reads as their URIs, one a line.
    #[allow(deprecated)]
    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri;
        if uri == ROOTS_URI && modern(&context) {
            let ask = InputRequest::ListRoots(rmcp::model::ListRootsRequest::default());
            let text = match input_response::<rmcp::model::ListRootsResult>(
                request.input_responses,
                "roots",
                ask,
            ) {
                Ok(answer) => answer
                    .roots
                    .iter()
                    .map(|root| root.uri.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                Err(CallToolResponse::InputRequired(asked)) => return Ok(asked.into()),
                Err(_) => return Err(ErrorData::invalid_params("unreadable roots answer", None)),
            };
            return Ok(ReadResourceResult::new(vec![ResourceContents::text(text, uri)]).into());
        }
        match read_resource_text(&uri) {
            Some(contents) => Ok(ReadResourceResult::new(vec![
                ResourceContents::text(contents, uri).with_mime_type("text/plain"),
            ])
            .into()),
            None => Err(ErrorData::resource_not_found(
                format!("resource not found: {uri}"),
                Some(json!({ "uri": uri })),
            )),
        }
    }

    /// Accepts whatever the client asks for (as far as the capabilities go);
    /// nothing with `MCP_TEST_NO_LISTEN=1` ("method not found").
    fn accepted_subscription_filter(
        &self,
        requested: &rmcp::model::SubscriptionFilter,
    ) -> Option<rmcp::model::SubscriptionFilter> {
        if switch_on("MCP_TEST_NO_LISTEN") {
            return None;
        }
        Some(requested.clone())
    }

    /// Keeps the stream for `touch` and `toggle_bonus` until the client
    /// cancels it or goes away.
    async fn listen(&self, context: rmcp::service::SubscriptionContext) -> Result<(), ErrorData> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let key = NEXT.fetch_add(1, Ordering::SeqCst);
        let mut ended = END_LISTENS.subscribe();
        lock_listeners().push((key, context.sink().clone()));
        tokio::select! {
            () = context.cancelled() => {}
            _ = ended.changed() => {}
        }
        lock_listeners().retain(|(held, _)| *held != key);
        Ok(())
    }

    /// Records the URI (any URI is accepted) for the `touch` tool.
    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscriptions().insert(request.uri);
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscriptions().remove(&request.uri);
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(vec![Prompt::new(
            "greet",
            Some("Asks for a greeting of someone."),
            Some(vec![
                PromptArgument::new("name")
                    .with_description("Who to greet.")
                    .with_required(true),
            ]),
        )]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if request.name != "greet" {
            return Err(ErrorData::invalid_params(
                format!("unknown prompt: {}", request.name),
                None,
            ));
        }
        let name = match request.arguments.as_ref().and_then(|args| args.get("name")) {
            Some(Value::String(name)) => name.clone(),
            Some(other) => other.to_string(),
            None => {
                return Err(ErrorData::invalid_params(
                    "missing required argument: name",
                    None,
                ));
            }
        };
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            format!("Please greet {name}."),
        )])
        .with_description("A greeting request.")
        .into())
    }
}

/// Prints `message` to stderr and exits with status 1.
fn fatal(message: impl std::fmt::Display) -> ! {
    eprintln!("test server: {message}");
    std::process::exit(1)
}

/// Whether a boolean switch is on: set, non-empty and not "0".
fn switch_on(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|value| !value.is_empty() && value != "0")
}

/// With `MCP_TEST_STUBBORN`, blocks SIGTERM in every thread (threads started
/// later inherit the mask), so that it stays pending and never stops the process.
fn ignore_sigterm_if_stubborn() {
    if switch_on("MCP_TEST_STUBBORN") {
        let mut set = nix::sys::signal::SigSet::empty();
        set.add(nix::sys::signal::Signal::SIGTERM);
        if let Err(error) = set.thread_block() {
            fatal(format!("cannot block SIGTERM: {error}"));
        }
    }
}

/// With `MCP_TEST_STUBBORN`, never returns: the process outlives its stdin.
fn outlive_stdin() {
    if switch_on("MCP_TEST_STUBBORN") {
        loop {
            std::thread::park();
        }
    }
}

/// Applies the `MCP_TEST_*` switches that act before serving: over HTTP, only
/// those that are not about the stdio stream.
fn apply_startup_switches(stdio: bool) {
    if let Some(path) = std::env::var_os("MCP_TEST_PID_FILE")
        && let Err(error) = std::fs::write(&path, std::process::id().to_string())
    {
        fatal(format!(
            "cannot write the pid file {}: {error}",
            std::path::Path::new(&path).display()
        ));
    }

    if let Ok(lines) = std::env::var("MCP_TEST_STDERR_LINES") {
        let count: u64 = lines
            .trim()
            .parse()
            .unwrap_or_else(|_| fatal(format!("MCP_TEST_STDERR_LINES is not a number: {lines}")));
        let mut stderr = std::io::stderr().lock();
        for i in 0..count {
            // stderr may be closed: nothing to do about it.
            let _ = writeln!(stderr, "stderr line {i}");
        }
        let _ = stderr.flush();
    }

    if let Ok(code) = std::env::var("MCP_TEST_EXIT_BEFORE_INIT") {
        eprintln!("fatal: refusing to start (MCP_TEST_EXIT_BEFORE_INIT)");
        std::process::exit(code.trim().parse().unwrap_or(1));
    }

    if !stdio {
        return;
    }

    if switch_on("MCP_TEST_HANG_INIT") {
        // Swallow everything, answer nothing.
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        outlive_stdin();
        std::process::exit(0);
    }

    if switch_on("MCP_TEST_GARBAGE") {
        let mut stdout = std::io::stdout().lock();
        if writeln!(stdout, "this is not json {{")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            fatal("cannot write to stdout");
        }
    }
}

/// Serves the test tools over stdio until stdin closes.
async fn serve() {
    if switch_on("MCP_TEST_STUBBORN") {
        // The plain handles write to descriptor 1 itself, so that `close_stdout` closes the
        // only copy of the pipe (rmcp's fast path reopens it).
        let transport = (
            EofSignal {
                inner: tokio::io::stdin(),
            },
            tokio::io::stdout(),
        );
        serve_on(transport).await
    } else {
        let (stdin, stdout) = rmcp::transport::stdio_pipes();
        serve_on((EofSignal { inner: stdin }, stdout)).await
    }
}

async fn serve_on<R, W>(transport: (R, W))
where
    R: AsyncRead + Send + Unpin + 'static,
    W: tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let running = match rmcp::serve_server(EmptyDiscover(TestServer::new()), transport).await {
        Ok(running) => running,
        // The client went away before initializing: a normal end.
        Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => return,
        Err(error) => fatal(format!("initialization failed: {error}")),
    };
    if let Err(error) = running.waiting().await {
        fatal(format!("the service task failed: {error}"));
    }
}

/// The test server, except that with `MCP_TEST_PROTOCOL=2025-empty` it answers
/// `server/discover` with an empty result.
struct EmptyDiscover(TestServer);

impl rmcp::Service<RoleServer> for EmptyDiscover {
    async fn handle_request(
        &self,
        request: rmcp::model::ClientRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ServerResult, ErrorData> {
        if protocol_mode() == ProtocolMode::EmptyDiscover
            && matches!(request, rmcp::model::ClientRequest::DiscoverRequest(_))
        {
            DISCOVERS.fetch_add(1, Ordering::SeqCst);
            return Ok(rmcp::model::ServerResult::empty(()));
        }
        rmcp::Service::handle_request(&self.0, request, context).await
    }

    async fn handle_notification(
        &self,
        notification: rmcp::model::ClientNotification,
        context: rmcp::service::NotificationContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        rmcp::Service::handle_notification(&self.0, notification, context).await
    }

    fn get_info(&self) -> ServerConfig {
        ServerHandler::get_info(&self.0)
    }

    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        ServerHandler::supported_protocol_versions(&self.0)
    }
}

/// Runs the test server on a current-thread tokio runtime, serving MCP over
/// stdio until stdin closes, then returns. Fatal errors print to stderr and
/// exit with status 1.
pub fn run() {
    ignore_sigterm_if_stubborn();
    apply_startup_switches(true);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|error| fatal(format!("cannot start the tokio runtime: {error}")));
    runtime.block_on(serve());
    // A blocking stdin read can outlive the service (when it ended for another
    // reason than EOF); do not wait for it.
    runtime.shutdown_background();
    outlive_stdin();
}

/// The body type of rmcp's HTTP responses.
type HttpBody = http_body_util::combinators::BoxBody<bytes::Bytes, Infallible>;

/// The endpoint path of the HTTP mode.
const HTTP_PATH: &str = "/mcp";

#[path = "oauth.rs"]
mod oauth;

#[path = "sse.rs"]
mod sse;

/// A plain-text response with `status`.
fn plain_response(status: http::StatusCode, body: &'static str) -> http::Response<HttpBody> {
    use http_body_util::BodyExt;

    let mut response = http::Response::new(
        http_body_util::Full::new(bytes::Bytes::from_static(body.as_bytes())).boxed(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Answers one HTTP request: 401 without the required bearer token, 404 off
/// [`HTTP_PATH`], else whatever rmcp's streamable HTTP service answers.
async fn answer_http<M>(
    service: rmcp::transport::StreamableHttpService<TestServer, M>,
    expected_authorization: Option<Arc<str>>,
    request: http::Request<hyper::body::Incoming>,
) -> http::Response<HttpBody>
where
    M: rmcp::transport::streamable_http_server::SessionManager,
{
    if oauth::enabled() {
        return match oauth::answer(request).await {
            Ok(answer) => answer,
            Err(request) => match sse::answer(request).await {
                Ok(answer) => answer,
                Err(request) => service.handle(request).await,
            },
        };
    }
    if let Some(expected) = expected_authorization {
        let authorized = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .is_some_and(|value| value.as_bytes() == expected.as_bytes());
        if !authorized {
            let mut response = plain_response(http::StatusCode::UNAUTHORIZED, "Unauthorized");
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
            return response;
        }
    }
    let request = match sse::answer(request).await {
        Ok(answer) => return answer,
        Err(request) => request,
    };
    if request.uri().path() != HTTP_PATH {
        return plain_response(http::StatusCode::NOT_FOUND, "Not Found");
    }
    if let Some(status) = std::env::var("MCP_TEST_HTTP_STATUS")
        .ok()
        .and_then(|status| status.parse().ok())
        .and_then(|status| http::StatusCode::from_u16(status).ok())
    {
        return plain_response(status, "failing on purpose");
    }
    service.handle(request).await
}

/// Resolves `addr`, refusing anything but loopback addresses.
fn loopback_address(addr: &str) -> std::net::SocketAddr {
    use std::net::ToSocketAddrs;

    let addresses: Vec<_> = addr
        .to_socket_addrs()
        .unwrap_or_else(|error| fatal(format!("bad address {addr:?}: {error}")))
        .collect();
    if addresses.is_empty() || !addresses.iter().all(|address| address.ip().is_loopback()) {
        fatal(format!(
            "refusing to listen on {addr:?}: loopback addresses only"
        ));
    }
    addresses[0]
}

/// Serves the test server over streamable HTTP until stdin closes.
async fn serve_http(address: std::net::SocketAddr) {
    use rmcp::transport::{
        StreamableHttpServerConfig, StreamableHttpService,
        streamable_http_server::session::local::LocalSessionManager,
    };

    let listener = tokio::net::TcpListener::bind(address)
        .await
        .unwrap_or_else(|error| fatal(format!("cannot listen on {address}: {error}")));
    let local = listener
        .local_addr()
        .unwrap_or_else(|error| fatal(format!("cannot read the listening address: {error}")));
    let expected_authorization: Option<Arc<str>> = std::env::var("MCP_TEST_REQUIRE_AUTH")
        .ok()
        .filter(|token| !token.is_empty())
        .map(|token| format!("Bearer {token}").into());
    let service = StreamableHttpService::new(
        || Ok(TestServer::new()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );

    // stdin only tells when to stop: a plain thread reads it to the end.
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        STDIN_CLOSED.send_replace(true);
    });

    {
        let mut stdout = std::io::stdout().lock();
        if writeln!(stdout, "listening on http://{local}{HTTP_PATH}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            fatal("cannot write to stdout");
        }
    }

    loop {
        let stream = tokio::select! {
            () = stdin_closed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    eprintln!("test server: accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let service = service.clone();
        let expected_authorization = expected_authorization.clone();
        tokio::spawn(async move {
            let hyper_service =
                hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let response =
                        answer_http(service.clone(), expected_authorization.clone(), request);
                    async move { Ok::<_, Infallible>(response.await) }
                });
            // A client that hangs up mid-request is no error of ours.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), hyper_service)
                .await;
        });
    }
}

/// Runs the test server on a current-thread tokio runtime, serving MCP over
/// streamable HTTP at `http://{addr}/mcp` (`addr` such as `127.0.0.1:0`;
/// loopback only, port 0 picks a free port). Once listening it prints the
/// single line `listening on http://IP:PORT/mcp` to stdout, then serves until
/// stdin reaches end of file and returns. Fatal errors print to stderr and
/// exit with status 1.
// The quickstart example includes this module but serves stdio only.
#[allow(dead_code)]
pub fn run_http(addr: &str) {
    apply_startup_switches(false);
    let address = loopback_address(addr);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|error| fatal(format!("cannot start the tokio runtime: {error}")));
    runtime.block_on(serve_http(address));
    // Open connections and sessions are simply dropped.
    runtime.shutdown_background();
}
