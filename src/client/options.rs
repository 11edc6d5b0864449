//! Per-server and per-call policy: retries, timeouts and progress.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::session::notify::Progress;

/// When a call whose session died mid-flight is retried on a new session.
///
/// A tool call that dies in flight may already have run on the server, so retrying it can run
/// it twice. Whatever the policy, a request that never left (the session was already dead) is
/// always retried, once, on a new session.
///
/// # Example
///
/// ```
/// use mcp_dispatch::{Client, Retry, ServerConfig};
///
/// // This server's tools are all safe to repeat.
/// let client = Client::builder(ServerConfig::stdio("my-mcp-server"))
///     .retry(Retry::Always)
///     .build();
/// # drop(client);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Retry {
    /// Never retry a call that was sent: return [`Error::TransportClosed`](crate::Error::TransportClosed).
    Never,
    /// Retry once if the tool says it is safe: `readOnlyHint` or `idempotentHint` in its
    /// annotations, as last seen by [`Client::list_tools`](crate::Client::list_tools).
    /// Listing requests are always safe. This is the default.
    #[default]
    IfSafe,
    /// Retry once, whatever the tool says.
    Always,
}

/// Options for one call, overriding the client's defaults: the timeout, the retry policy,
/// and a callback for the server's progress reports.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use mcp_dispatch::{CallOptions, Retry};
///
/// // A long job that reports progress: give up after 10 s of silence or 10 min in all.
/// let options = CallOptions::new()
///     .timeout(Duration::from_secs(10))
///     .reset_timeout_on_progress(Duration::from_secs(600))
///     .on_progress(|progress| println!("{} of {:?}", progress.progress, progress.total))
///     .retry(Retry::Never);
/// # drop(options);
/// ```
#[derive(Clone, Default)]
pub struct CallOptions {
    pub(crate) timeout: Option<Duration>,
    pub(crate) reset_on_progress: Option<Duration>,
    pub(crate) retry: Option<Retry>,
    pub(crate) tool_errors_as_err: Option<bool>,
    pub(crate) on_progress: Option<OnProgress>,
}

/// A progress callback, shared by the clones of the options that carry it.
pub(crate) type OnProgress = Arc<Mutex<dyn FnMut(Progress) + Send>>;

impl std::fmt::Debug for CallOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallOptions")
            .field("timeout", &self.timeout)
            .field("reset_on_progress", &self.reset_on_progress)
            .field("retry", &self.retry)
            .field("tool_errors_as_err", &self.tool_errors_as_err)
            .field("on_progress", &self.on_progress.is_some())
            .finish()
    }
}

impl CallOptions {
    /// The client's defaults.
    pub fn new() -> CallOptions {
        CallOptions::default()
    }

    /// How long to wait for the answer before cancelling the call.
    pub fn timeout(mut self, timeout: Duration) -> CallOptions {
        self.timeout = Some(timeout);
        self
    }

    /// Restarts the timeout whenever the server reports progress on this call, but gives up
    /// after `max_total` in all.
    pub fn reset_timeout_on_progress(mut self, max_total: Duration) -> CallOptions {
        self.reset_on_progress = Some(max_total);
        self
    }

    /// The retry policy for this call.
    pub fn retry(mut self, retry: Retry) -> CallOptions {
        self.retry = Some(retry);
        self
    }

    /// Whether a tool that reports failure (`isError: true`) makes this call an
    /// [`Error::Tool`](crate::Error::Tool) rather than an `Ok` result with the flag set,
    /// overriding the client's [`tool_errors_as_err`](crate::ClientBuilder::tool_errors_as_err).
    pub fn tool_errors_as_err(mut self, as_err: bool) -> CallOptions {
        self.tool_errors_as_err = Some(as_err);
        self
    }

    /// Reports the server's progress on this call to `on_progress`, in order.
    ///
    /// The callback runs in the caller's context, while the call's future is polled (for a
    /// `_blocking` call, on the calling thread), so a slow callback delays only this caller.
    /// Reports that arrive before the answer are all delivered before the call returns. If
    /// the callback panics, the call is cancelled and returns
    /// [`Error::Panicked`](crate::Error::Panicked). Clones of these options share the
    /// callback.
    ///
    /// ```no_run
    /// use mcp_dispatch::{CallOptions, Client, ServerConfig};
    /// use serde_json::json;
    ///
    /// let client = Client::new(ServerConfig::stdio("my-mcp-server"));
    /// let options = CallOptions::new().on_progress(|progress| {
    ///     eprintln!("{}/{:?}: {:?}", progress.progress, progress.total, progress.message);
    /// });
    /// let result = client.call_tool_with_blocking("index", json!({"path": "."}), options)?;
    /// # drop(result);
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn on_progress(
        mut self,
        on_progress: impl FnMut(Progress) + Send + 'static,
    ) -> CallOptions {
        self.on_progress = Some(Arc::new(Mutex::new(on_progress)));
        self
    }
}

/// Counters of what a client has done, for monitoring and tests.
///
/// ```
/// use mcp_dispatch::{Client, ServerConfig};
///
/// let client = Client::new(ServerConfig::stdio("my-mcp-server"));
/// assert_eq!(client.stats().connects, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Sessions started (the first connect and every reconnect).
    pub connects: u64,
    /// Connect attempts that failed.
    pub connect_failures: u64,
    /// Calls retried on a new session after theirs died.
    pub retries: u64,
    /// The transport of the latest session; `None` before the first connect.
    pub transport: Option<TransportKind>,
}

/// The transport a session speaks, in [`Stats::transport`].
///
/// A server configured with [`ServerConfig::remote`](crate::ServerConfig::remote), or a
/// config file entry with a `url` and no `type`, may turn out to speak either HTTP
/// transport; this says which one was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// A child process over stdin/stdout.
    Stdio,
    /// Streamable HTTP (protocol 2025-03-26 and later).
    StreamableHttp,
    /// The HTTP+SSE transport of protocol 2024-11-05.
    Sse,
}

impl TransportKind {
    /// The kind stored as `code` by [`TransportKind::code`]; `None` for 0 (no session yet).
    pub(crate) fn from_code(code: u8) -> Option<TransportKind> {
        match code {
            1 => Some(TransportKind::Stdio),
            2 => Some(TransportKind::StreamableHttp),
            3 => Some(TransportKind::Sse),
            _ => None,
        }
    }

    /// A non-zero code for an atomic.
    pub(crate) fn code(self) -> u8 {
        match self {
            TransportKind::Stdio => 1,
            TransportKind::StreamableHttp => 2,
            TransportKind::Sse => 3,
        }
    }
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportKind::Stdio => "stdio",
            TransportKind::StreamableHttp => "streamable HTTP",
            TransportKind::Sse => "HTTP+SSE",
        })
    }
}
