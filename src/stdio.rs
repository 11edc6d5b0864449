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
async fn forward_stderr(server: &str, stderr: tokio::process::ChildStderr, tail: &StderrTail) {
    let mut reader = tokio::io::BufReader::new(stderr);
    let mut buffer = Vec::with_capacity(256);
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let end = buffer.len().min(STDERR_LINE_BYTES);
                let line = String::from_utf8_lossy(&buffer[..end]);
                let line = line.trim_end_matches(['\n', '\r']).to_owned();
                log::debug!(target: "mcp_dispatch::stderr", "[{server}] {line}");
                tail.push(line);
            }
        }
    }
}
