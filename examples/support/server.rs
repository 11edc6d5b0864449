//! The MCP server bundled for tests and examples.
//!
//! Include it with `#[path = "support/server.rs"] mod server;` and call
//! [`run`]: it serves the test tools over stdio until stdin closes, then
//! returns. It never touches the network.
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

use std::{
    io::Write,
    pin::Pin,
    sync::{
        LazyLock,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{
        CallToolResult, ContentBlock, Implementation, ProgressNotificationParam,
        ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
    tool, tool_handler, tool_router,
};
use serde::Deserialize;
use tokio::io::{AsyncRead, ReadBuf};

/// Name the server reports in its `initialize` answer.
const SERVER_NAME: &str = "mcp-dispatch-test-server";

/// How many `sleep` calls were cancelled (by `notifications/cancelled`, or by
/// their handler being dropped) since the process started.
static CANCELLATIONS: AtomicU64 = AtomicU64::new(0);

/// How many `sleep` and `slow_echo` calls are running right now.
static SLEEPING: AtomicU64 = AtomicU64::new(0);

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

/// The test server: stateless apart from the process-wide counters.
#[derive(Debug, Clone)]
struct TestServer {
    tool_router: ToolRouter<Self>,
}

impl TestServer {
    fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
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

    #[tool(description = "Returns a tool error (isError true) with the given message.")]
    fn fail(&self, Parameters(FailArgs { message }): Parameters<FailArgs>) -> CallToolResult {
        tool_error(message.unwrap_or_else(|| "tool failed on purpose".to_owned()))
    }

    #[tool(
        description = "Records a key: appends \"key\\n\" to $MCP_TEST_RECORD_DIR/record.log \
                       when that variable is set. Not idempotent.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false
        )
    )]
    fn record(&self, Parameters(RecordArgs { key }): Parameters<RecordArgs>) -> CallToolResult {
        if let Some(dir) = std::env::var_os("MCP_TEST_RECORD_DIR") {
            let path = std::path::Path::new(&dir).join("record.log");
            let line = format!("{key}\n");
            // One write on an O_APPEND file, so processes sharing the
            // directory do not interleave their lines.
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
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for TestServer {
    #[allow(deprecated)]
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_logging()
                .build(),
        )
        .with_server_info(Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION")))
        .with_instructions("Test server for mcp-dispatch")
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

/// Applies the `MCP_TEST_*` switches that act before serving.
fn apply_startup_switches() {
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

    if switch_on("MCP_TEST_HANG_INIT") {
        // Swallow everything, answer nothing.
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
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
    let (stdin, stdout) = rmcp::transport::stdio_pipes();
    let transport = (EofSignal { inner: stdin }, stdout);
    let running = match rmcp::serve_server(TestServer::new(), transport).await {
        Ok(running) => running,
        // The client went away before initializing: a normal end.
        Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => return,
        Err(error) => fatal(format!("initialization failed: {error}")),
    };
    if let Err(error) = running.waiting().await {
        fatal(format!("the service task failed: {error}"));
    }
}

/// Runs the test server on a current-thread tokio runtime, serving MCP over
/// stdio until stdin closes, then returns. Fatal errors print to stderr and
/// exit with status 1.
pub fn run() {
    apply_startup_switches();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|error| fatal(format!("cannot start the tokio runtime: {error}")));
    runtime.block_on(serve());
    // A blocking stdin read can outlive the service (when it ended for another
    // reason than EOF); do not wait for it.
    runtime.shutdown_background();
}
