//! Starting a server as a child process, in its own process group, with its stderr captured.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use event_listener::Event;
use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
use rmcp::transport::TokioChildProcess;
use tokio::io::AsyncBufReadExt;

use crate::config::StdioConfig;
use crate::error::{Error, Result};
use crate::sync::lock;

/// How many stderr lines are kept for error messages.
const STDERR_TAIL_LINES: usize = 20;
/// Longest stderr line kept or logged; the rest of the line is cut.
const STDERR_LINE_BYTES: usize = 4096;

/// The last lines a server wrote to stderr.
#[derive(Default)]
pub(crate) struct StderrTail {
    lines: Mutex<VecDeque<String>>,
    closed: AtomicBool,
    closed_event: Event,
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
        self.closed.store(true, Ordering::Release);
        self.closed_event.notify(usize::MAX);
    }

    /// The kept lines, after waiting at most `bound` for the stream to end (so that a server
    /// that just died has its last words read).
    pub(crate) async fn lines_after_close(&self, bound: Duration) -> Vec<String> {
        if !self.closed.load(Ordering::Acquire) {
            let listener = self.closed_event.listen();
            if !self.closed.load(Ordering::Acquire) {
                let _ = crate::runtime::timeout(bound, listener).await;
            }
        }
        lock(&self.lines).iter().cloned().collect()
    }
}

/// A started server process.
pub(crate) struct Spawned {
    pub(crate) transport: TokioChildProcess,
    pub(crate) pid: Option<u32>,
    pub(crate) stderr: Arc<StderrTail>,
}

/// Starts the server. Must run inside the library's tokio context.
pub(crate) fn spawn(server: &str, config: &StdioConfig) -> Result<Spawned> {
    let spawn_error = |source: std::io::Error| Error::Spawn {
        server: server.to_owned(),
        command: config.command.to_string_lossy().into_owned(),
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
    let mut command = CommandWrap::from(command);
    // Its own process group, so that closing or killing it reaches everything it started.
    command.wrap(ProcessGroup::leader());
    command.wrap(KillOnDrop);
    let (transport, stderr) = TokioChildProcess::builder(command)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    let pid = transport.id();
    let tail = Arc::new(StderrTail::default());
    if let Some(stderr) = stderr {
        let tail = tail.clone();
        let server = server.to_owned();
        crate::runtime::spawn(async move {
            forward_stderr(&server, stderr, &tail).await;
            tail.close();
        });
    } else {
        tail.close();
    }
    Ok(Spawned {
        transport,
        pid,
        stderr: tail,
    })
}

/// Reads the server's stderr to its end, logging each line at debug and keeping the last few.
///
/// Memory stays bounded whatever the server writes: a line is cut at 4 KiB and the rest of it
/// is skipped. Reading never stops early, so a chatty server never blocks on a full pipe.
async fn forward_stderr(server: &str, stderr: tokio::process::ChildStderr, tail: &StderrTail) {
    let mut reader = tokio::io::BufReader::with_capacity(16 * 1024, stderr);
    let mut line = Vec::with_capacity(256);
    let mut cut = false;
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
            emit(server, &line, cut, tail);
            line.clear();
            cut = false;
        }
    }
    if !line.is_empty() {
        emit(server, &line, cut, tail);
    }
}

fn emit(server: &str, line: &[u8], cut: bool, tail: &StderrTail) {
    let mut line = String::from_utf8_lossy(line)
        .trim_end_matches('\r')
        .to_owned();
    if cut {
        line.push_str(" [...]");
    }
    log::debug!(target: "mcp_dispatch::stderr", "[{server}] {line}");
    tail.push(line);
}
