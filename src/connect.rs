//! Connecting to a server: starting it (a child process over stdio, or streamable HTTP), the
//! MCP handshake, and the retries of a start-up that fails.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backoff::Backoff;
use crate::config::{ServerConfig, TransportConfig};
use crate::error::{Error, Result};
use crate::handler::{Handler, Hooks};
use crate::jobs::Jobs;
use crate::session::Started;
use crate::stdio::{self, Limits};
use crate::sync::lock;

/// Attempts per connect when the server dies during start-up.
const CONNECT_ATTEMPTS: u32 = 3;

/// How long a failed initialize waits for the server's last stderr lines.
const STDERR_GRACE: Duration = Duration::from_millis(500);

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
    jobs: &Arc<Jobs>,
) -> Result<Started> {
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
            let (server, config) = (server.to_owned(), config.clone());
            let (hooks, jobs) = (hooks.clone(), jobs.clone());
            async move { start(&server, &config, limits, hooks, jobs).await }
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
                source,
                ..
            })) => {
                backoff.failed();
                let error = Error::Initialize {
                    server: name,
                    message,
                    stderr,
                    attempts,
                    source,
                };
                if attempts >= CONNECT_ATTEMPTS {
                    break Some(Err(error));
                }
                log::info!("mcp-dispatch: {error}; retrying");
            }
            Some(Err(error)) => {
                backoff.failed();
                break Some(Err(error));
            }
            None => {
                backoff.failed();
                break None;
            }
            Some(Ok(started)) => {
                backoff.succeeded();
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
                    .pid()
                    .map_or_else(|| "unknown".to_owned(), |pid| pid.to_string()),
                started_at.elapsed()
            );
            Ok(started)
        }
    }
}

/// Starts the server once and runs the handshake.
async fn start(
    server: &str,
    config: &ServerConfig,
    limits: Limits,
    hooks: Arc<Hooks>,
    jobs: Arc<Jobs>,
) -> Result<Started> {
    let stdio = match &config.transport {
        TransportConfig::Stdio(stdio) => stdio,
        TransportConfig::Http(http) => {
            return start_http(server, http, Handler::new(hooks, jobs)).await;
        }
    };
    let spawned = stdio::spawn(server, stdio, limits)?;
    let pid = spawned.pid;
    let stdout_closed = spawned.transport.stdout_closed();
    *lock(&hooks.starting) = Some(spawned.transport.stopped());
    match rmcp::serve_client(Handler::new(hooks, jobs), spawned.transport).await {
        Ok(service) => Ok(Started::new(service, pid, Some(stdout_closed))),
        Err(error) => {
            let stderr = spawned.stderr.lines_after_close(STDERR_GRACE).await;
            Err(crate::error::initialize(server, error, stderr))
        }
    }
}

#[cfg(feature = "http")]
async fn start_http(
    server: &str,
    config: &crate::config::HttpConfig,
    handler: Handler,
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
    match rmcp::serve_client(handler, transport).await {
        Ok(service) => Ok(Started::new(service, None, None)),
        Err(error) => Err(crate::error::http_initialize(server, &config.url, error)),
    }
}

#[cfg(not(feature = "http"))]
async fn start_http(
    server: &str,
    _config: &crate::config::HttpConfig,
    _handler: Handler,
) -> Result<Started> {
    Err(Error::Unsupported {
        server: server.to_owned(),
        what: "streamable HTTP (the `http` feature is off)".to_owned(),
    })
}
