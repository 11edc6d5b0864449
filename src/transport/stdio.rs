//! Starting a server as a child process, in its own process group, with its stderr captured,
//! and the transport that speaks to it and stops it.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::future::Future;

use process_wrap::tokio::{ChildWrapper, CommandWrap, KillOnDrop, ProcessGroup};
use rmcp::RoleClient;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::AsyncRwTransport;
use tokio::io::AsyncBufReadExt;
use tokio::process::{ChildStdin, ChildStdout};

use crate::config::StdioConfig;
use crate::error::{Error, Result};
use crate::runtime::sync::{Flag, lock};
use crate::transport::line_limit::LineLimit;
use crate::transport::log_budget::LogBudget;

/// How many stderr lines are kept for error messages.
const STDERR_TAIL_LINES: usize = 20;
/// Longest stderr line kept or logged; the rest of the line is cut.
const STDERR_LINE_BYTES: usize = 4096;

/// The last lines a server wrote to stderr.
#[derive(Default)]
pub(crate) struct StderrTail {
    lines: Mutex<VecDeque<String>>,
    closed: Flag,
}

impl StderrTail {
    fn push(&self, line: String) {
        let mut lines = lock(&self.lines);
        if lines.len() == STDERR_TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    fn close(&self) {
        self.closed.set();
    }

    /// The kept lines, after waiting at most `bound` for the stream to end (so that a server
    /// that just died has its last words read).
    pub(crate) async fn lines_after_close(&self, bound: Duration) -> Vec<String> {
        let _ = crate::runtime::timeout(bound, self.closed.wait()).await;
        lock(&self.lines).iter().cloned().collect()
    }
}

/// How a server process is started and stopped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Longest message read from the server, in bytes.
    pub(crate) max_message_size: usize,
    /// How long each step of stopping the process waits: after closing its stdin, then after
    /// SIGTERM, before SIGKILL.
    pub(crate) grace: Duration,
}

/// A started server process.
pub(crate) struct Spawned {
    pub(crate) transport: ChildTransport,
    pub(crate) pid: Option<u32>,
    pub(crate) stderr: Arc<StderrTail>,
}

/// Starts the server. Must run inside the library's tokio context, on the tokio thread (which
/// lives as long as the library, so the parent-death signal fires only when the host dies).
pub(crate) fn spawn(server: &str, config: &StdioConfig, limits: Limits) -> Result<Spawned> {
    let spawn_error = |source: std::io::Error| Error::Spawn {
        server: server.to_owned(),
        command: crate::config::shown_command(&config.command),
        source: Arc::new(source),
    };
    if let Some(dir) = &config.cwd
        && !dir.is_dir()
    {
        return Err(spawn_error(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("working directory {} does not exist", dir.display()),
        )));
    }
    let mut command = tokio::process::Command::new(&config.command);
    command.args(&config.args);
    for (key, value) in &config.env {
        command.env(key, value);
    }
    if let Some(dir) = &config.cwd {
        command.current_dir(dir);
    }
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::transport::process::die_with_parent(&mut command);
    let mut command = CommandWrap::from(command);
    // Its own process group, so that closing or killing it reaches everything it started.
    command.wrap(ProcessGroup::leader());
    command.wrap(KillOnDrop);
    let mut child = command.spawn().map_err(spawn_error)?;
    let pid = child.id();
    let (Some(stdin), Some(stdout)) = (child.stdin().take(), child.stdout().take()) else {
        crate::transport::process::kill_group(pid);
        return Err(spawn_error(std::io::Error::other(
            "the child has no stdin or stdout",
        )));
    };
    let tail = Arc::new(StderrTail::default());
    if let Some(stderr) = child.stderr().take() {
        let tail = tail.clone();
        let server = server.to_owned();
        crate::runtime::spawn(async move {
            forward_stderr(&server, stderr, &tail).await;
            tail.close();
        });
    } else {
        tail.close();
    }
    let stdout = LineLimit::new(stdout, server, limits.max_message_size);
    let transport = ChildTransport {
        // rmcp's own limit only has to admit what the filter lets through.
        rw: AsyncRwTransport::new_client(stdout, stdin)
            .with_max_line_length(limits.max_message_size.saturating_add(16)),
        child: Some(child),
        pid,
        stdout_closed: Arc::new(Flag::default()),
        stopped: Arc::new(Flag::default()),
        grace: limits.grace,
    };
    Ok(Spawned {
        transport,
        pid,
        stderr: tail,
    })
}

/// The rmcp transport of a server process: newline-delimited JSON over its stdin and stdout,
/// with a bound on each message, a flag raised the moment stdout ends, and a bounded stop.
pub(crate) struct ChildTransport {
    rw: AsyncRwTransport<RoleClient, LineLimit<ChildStdout>, ChildStdin>,
    child: Option<Box<dyn ChildWrapper>>,
    pid: Option<u32>,
    stdout_closed: Arc<Flag>,
    /// Raised once the process has been stopped (or killed).
    stopped: Arc<Flag>,
    grace: Duration,
}

impl ChildTransport {
    /// Raised once the process has been stopped, by a close or after a drop.
    pub(crate) fn stopped(&self) -> Arc<Flag> {
        self.stopped.clone()
    }

    /// Raised when the server's stdout ends. rmcp itself only reports the session closed
    /// once it has stopped the process, which can take seconds.
    pub(crate) fn stdout_closed(&self) -> Arc<Flag> {
        self.stdout_closed.clone()
    }
}

impl Transport<RoleClient> for ChildTransport {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = std::io::Result<()>> + Send + 'static {
        self.rw.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        let message = self.rw.receive().await;
        if message.is_none() {
            self.stdout_closed.set();
        }
        message
    }

    async fn close(&mut self) -> std::io::Result<()> {
        // Closing stdin is the first step of the stop.
        self.rw.close().await?;
        if let Some(child) = self.child.take() {
            stop(child, self.pid, self.grace, &self.stopped).await;
        }
        Ok(())
    }
}

impl Drop for ChildTransport {
    fn drop(&mut self) {
        // Dropped without a close (a connect cancelled or abandoned): stop the process in the
        // background with the same steps, or at once if there is no runtime to run them.
        let Some(child) = self.child.take() else {
            return;
        };
        let (pid, grace, stopped) = (self.pid, self.grace, self.stopped.clone());
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(async move {
                stop(child, pid, grace, &stopped).await;
            })),
            Err(_) => {
                crate::transport::process::kill_group(pid);
                drop(child);
                stopped.set();
            }
        }
    }
}

/// Stops a server whose stdin is closed (or about to be): waits `grace` for it to exit, sends
/// SIGTERM to its process group and waits `grace` again, then kills the group. Dropping this
/// future part-way kills the group at once.
async fn stop(mut child: Box<dyn ChildWrapper>, pid: Option<u32>, grace: Duration, stopped: &Flag) {
    let _kill = crate::transport::process::KillGroupOnDrop(pid, stopped);
    if crate::runtime::timeout(grace, child.inner_mut().wait())
        .await
        .is_some()
    {
        return;
    }
    if let Err(error) = child.signal(SIGTERM) {
        log::debug!("mcp-dispatch: SIGTERM to process group {pid:?} failed: {error}");
    }
    if crate::runtime::timeout(grace, child.inner_mut().wait())
        .await
        .is_some()
    {
        return;
    }
    log::debug!("mcp-dispatch: process group {pid:?} ignored SIGTERM; killing it");
    crate::transport::process::kill_group(pid);
    let _ = crate::runtime::timeout(grace, child.inner_mut().wait()).await;
}

#[cfg(unix)]
const SIGTERM: i32 = nix::sys::signal::Signal::SIGTERM as i32;
#[cfg(not(unix))]
const SIGTERM: i32 = 15;

/// Reads the server's stderr to its end, logging each line at debug and keeping the last few.
///
/// Memory stays bounded whatever the server writes: a line is cut at 4 KiB and the rest of it
/// is skipped. Reading never stops early, so a chatty server never blocks on a full pipe. The
/// log gets at most [`STDERR_LOG_BURST`] lines per ten seconds; the next line written says
/// how many were left out.
async fn forward_stderr(server: &str, stderr: tokio::process::ChildStderr, tail: &StderrTail) {
    let mut reader = tokio::io::BufReader::with_capacity(16 * 1024, stderr);
    let mut line = Vec::with_capacity(256);
    let mut cut = false;
    let mut budget = LogBudget::new(STDERR_LOG_BURST);
    loop {
        let chunk = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        let (used, end_of_line) = match chunk.iter().position(|&byte| byte == b'\n') {
            Some(newline) => (newline + 1, true),
            None => (chunk.len(), false),
        };
        let content = &chunk[..if end_of_line { used - 1 } else { used }];
        let room = STDERR_LINE_BYTES.saturating_sub(line.len());
        line.extend_from_slice(&content[..content.len().min(room)]);
        cut |= content.len() > room;
        reader.consume(used);
        if end_of_line {
            emit(server, &line, cut, tail, &mut budget);
            line.clear();
            cut = false;
        }
    }
    if !line.is_empty() {
        emit(server, &line, cut, tail, &mut budget);
    }
}

/// Lines of a server's stderr logged per ten seconds.
const STDERR_LOG_BURST: u32 = 1000;

fn emit(server: &str, line: &[u8], cut: bool, tail: &StderrTail, budget: &mut LogBudget) {
    let mut line = String::from_utf8_lossy(line)
        .trim_end_matches('\r')
        .to_owned();
    if cut {
        line.push_str(" [...]");
    }
    if let Some(skipped) = budget.admit() {
        if skipped > 0 {
            log::debug!(
                target: "mcp_dispatch::stderr",
                "[{server}] ({skipped} lines left out of the log)"
            );
        }
        log::debug!(target: "mcp_dispatch::stderr", "[{server}] {line}");
    }
    tail.push(line);
}
