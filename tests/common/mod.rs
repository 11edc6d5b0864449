//! Shared helpers for the integration tests and `benches/compare.rs`: locating the bundled
//! test server, reading results, and watching processes and threads.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mcp_dispatch::ServerConfig;
use mcp_dispatch::model::CallToolResult;

/// Path of the bundled test server (`examples/test_server.rs`), building it if needed.
pub fn server_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| example_path("test_server")).clone()
}

/// Path of the example binary `name`, built (or found up to date) once per test process, so
/// that a test never runs a stale binary.
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !built.iter().any(|done| done == name) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut command = std::process::Command::new(cargo);
        command.args(["build", "--quiet", "--example", name]);
        if profile_dir.ends_with("release") {
            command.arg("--release");
        }
        let status = command.status().expect("run cargo build --example");
        assert!(status.success(), "building the example {name} failed");
        built.push(name.to_owned());
    }
    drop(built);
    assert!(
        path.exists(),
        "example {name} not found at {}",
        path.display()
    );
    path
}

/// A config for the test server, named `name`.
pub fn server(name: &str) -> ServerConfig {
    ServerConfig::stdio(server_path()).name(name)
}

/// The handshakes a test server answers (`MCP_TEST_PROTOCOL`).
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaks {
    /// `initialize` and `server/discover`: a client that probes gets 2026-07-28.
    Both,
    /// Only `initialize` (up to 2025-11-25).
    Old,
    /// Only `server/discover` (2026-07-28).
    New,
}

#[allow(dead_code)]
impl Speaks {
    pub const ALL: [Speaks; 3] = [Speaks::Both, Speaks::Old, Speaks::New];

    /// The protocol version a session with such a server settles on.
    pub fn version(self) -> &'static str {
        match self {
            Speaks::Old => "2025-11-25",
            Speaks::Both | Speaks::New => "2026-07-28",
        }
    }

    /// The environment that makes the test server speak so.
    pub fn env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Speaks::Both => &[],
            Speaks::Old => &[("MCP_TEST_PROTOCOL", "2025")],
            Speaks::New => &[("MCP_TEST_PROTOCOL", "2026")],
        }
    }
}

/// A config for the test server, named `name`, that speaks `speaks`.
#[allow(dead_code)]
pub fn server_speaking(name: &str, speaks: Speaks) -> ServerConfig {
    speaks
        .env()
        .iter()
        .fold(server(name), |config, (key, value)| {
            config.env(*key, *value)
        })
}

/// The text of the first content item of a tool result.
pub fn text(result: &CallToolResult) -> String {
    first_text(result).unwrap_or_else(|| panic!("no text content in {result:?}"))
}

/// The text of the first text content of a tool result, if it has any.
pub fn first_text(result: &CallToolResult) -> Option<String> {
    result
        .content
        .iter()
        .find_map(|content| content.as_text().map(|text| text.text.clone()))
}

/// True while `pid` is a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state is the first field after the parenthesised command name.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("X");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// Sends SIGKILL to `pid`.
pub fn kill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -KILL {pid} failed");
}

/// Polls `condition` every few milliseconds until it holds, failing the test after `bound`.
pub fn wait_until(bound: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {bound:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Names of this process's threads.
pub fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .filter_map(|entry| {
            let path = entry.ok()?.path().join("comm");
            Some(std::fs::read_to_string(path).ok()?.trim().to_owned())
        })
        .collect()
}

/// Names of this process's threads that the library started, sorted.
pub fn library_thread_names() -> Vec<String> {
    let mut names: Vec<_> = thread_names()
        .into_iter()
        .filter(|name| name.starts_with("mcp-dispatch"))
        .collect();
    names.sort();
    names
}

/// How many of this process's threads the library started.
pub fn library_threads() -> usize {
    library_thread_names().len()
}

/// Calls the `sleeping` tool: how many sleeps are running on the server.
pub fn sleeping(client: &mcp_dispatch::Client) -> u64 {
    let result = client
        .call_tool_blocking("sleeping", serde_json::json!({}))
        .expect("sleeping");
    text(&result).parse().expect("a count")
}

/// Calls the `cancellations` tool: how many requests the server saw cancelled.
pub fn cancellations(client: &mcp_dispatch::Client) -> u64 {
    let result = client
        .call_tool_blocking("cancellations", serde_json::json!({}))
        .expect("cancellations");
    text(&result).parse().expect("a count")
}

/// Calls the test server's `sleep` for 20 s, which must fail with `Error::Timeout` (the
/// client's call timeout is shorter), and waits until the server has seen it cancelled.
pub fn a_timed_out_call_is_cancelled(client: &mcp_dispatch::Client) {
    let before = cancellations(client);
    let slept = client.call_tool_blocking("sleep", serde_json::json!({"ms": 20_000}));
    assert!(
        matches!(slept, Err(mcp_dispatch::Error::Timeout { .. })),
        "expected Error::Timeout, got {slept:?}"
    );
    wait_until(Duration::from_secs(10), "the cancellation", || {
        cancellations(client) == before + 1
    });
}

/// A fresh directory under the system temp dir, unique to this test process and `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcp-dispatch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// The test server started through `sh`, which first appends a line to `log`, so a test can
/// count process starts independently of what the client reports.
pub fn counted_server(name: &str, log: &std::path::Path) -> ServerConfig {
    ServerConfig::stdio("sh")
        .args(["-c", "echo started >> \"$1\"; exec \"$0\""])
        .arg(server_path())
        .arg(log)
        .name(name)
}

/// How many lines `log` has (0 if it does not exist).
pub fn count_lines(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .map(|log| log.lines().count())
        .unwrap_or(0)
}

/// True while a process with this pid exists at all (a zombie counts: it is not reaped).
pub fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Process ids of this process's children.
pub fn children() -> Vec<u32> {
    let mut children = Vec::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
                children.extend(
                    list.split_whitespace()
                        .filter_map(|pid| pid.parse::<u32>().ok()),
                );
            }
        }
    }
    children
}

/// How many file descriptors this process has open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|fds| fds.count())
        .unwrap_or(0)
}

/// Extension for tests: the server's pid through the `pid` tool.
pub trait PidExt {
    /// Calls the `pid` tool.
    fn pid_blocking(&self) -> u32;
}

impl PidExt for mcp_dispatch::Client {
    fn pid_blocking(&self) -> u32 {
        let result = self
            .call_tool_blocking("pid", serde_json::json!({}))
            .expect("pid");
        text(&result).parse().expect("a pid")
    }
}

/// The bundled test server running in streamable HTTP mode on 127.0.0.1, killed on drop.
pub struct HttpServer {
    child: std::process::Child,
    /// The endpoint, `http://127.0.0.1:PORT/mcp`.
    pub url: String,
}

impl HttpServer {
    /// Starts the server on `addr` (`127.0.0.1:0` for an ephemeral port) with extra env.
    pub fn start(addr: &str, env: &[(&str, &str)]) -> HttpServer {
        use std::io::BufRead;
        let mut command = std::process::Command::new(server_path());
        command
            .args(["--http", addr])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start the HTTP test server");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let url = match line.trim().strip_prefix("listening on ") {
            Some(url) => url.to_owned(),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("unexpected first line from the HTTP test server: {line:?}");
            }
        };
        HttpServer { child, url }
    }

    /// The endpoint of its HTTP+SSE transport, `http://127.0.0.1:PORT/sse`.
    pub fn sse_url(&self) -> String {
        let base = self.url.strip_suffix("/mcp").expect("the URL ends in /mcp");
        format!("{base}/sse")
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit_once(':')
            .and_then(|(_, rest)| rest.split('/').next())
            .and_then(|port| port.parse().ok())
            .expect("a port in the URL")
    }

    /// Kills the server and waits for it.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port on 127.0.0.1 that nobody listens on (bound, then released).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Runs `work` on `executor`'s thread, inside one of its jobs (where the library's own
/// handlers run): as the body of the roots handler of a client on that executor, which the
/// test server's `roots` tool asks for. Returns the outcome of that tool call, once `work`
/// has run.
#[allow(deprecated)]
pub fn run_in_job(
    executor: &mcp_dispatch::Executor,
    work: impl FnOnce() + Send + 'static,
) -> mcp_dispatch::Result<CallToolResult> {
    let work = std::sync::Mutex::new(Some(work));
    let handlers = mcp_dispatch::Handlers::new().on_roots(move || {
        let work = work.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(work) = work {
            work();
        }
        async { Ok(mcp_dispatch::model::ListRootsResult::new(Vec::new())) }
    });
    let client = mcp_dispatch::Client::builder(server("in-job"))
        .executor(executor.clone())
        .handlers(handlers)
        .build();
    client.call_tool_blocking("roots", serde_json::json!({}))
}

#[path = "../../examples/support/browser.rs"]
pub mod browser;

pub mod oauth;
