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
    let mut deadline = started_at + timeout;
    let mut attempts = 0;
    let mut signed_in = false;
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
            Some(Ok(Attempt::Started(started))) => {
                backoff.succeeded();
                break Some(Ok(started));
            }
            // A server that requires sign-in: not a failed start. The user's part is bounded
            // by the sign-in timeout, and the connect timeout starts again after it.
            Some(Ok(Attempt::SignIn(challenge, seen))) => {
                attempts -= 1;
                if signed_in {
                    break Some(Err(refused_after_sign_in(server, config)));
                }
                signed_in = true;
                if let Err(error) = sign_in(server, config, hooks, challenge, seen, timeout).await {
                    break Some(Err(error));
                }
                deadline = Instant::now() + timeout;
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

/// What one start of a server came to.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
enum Attempt {
    Started(Started),
    /// The server requires sign-in: its `WWW-Authenticate` challenge, and how many sign-ins
    /// had completed when the start began.
    SignIn(String, u64),
}

/// Starts the server once and runs the handshake.
async fn start(
    server: &str,
    config: &ServerConfig,
    limits: Limits,
    hooks: Arc<Hooks>,
    jobs: Arc<Jobs>,
) -> Result<Attempt> {
    let stdio = match &config.transport {
        TransportConfig::Stdio(stdio) => stdio,
        TransportConfig::Http(http) => {
            let handler = Handler::new(hooks.clone(), jobs);
            return start_http(server, http, handler, &hooks).await;
        }
    };
    let spawned = stdio::spawn(server, stdio, limits)?;
    let pid = spawned.pid;
    let stdout_closed = spawned.transport.stdout_closed();
    *lock(&hooks.starting) = Some(spawned.transport.stopped());
    match rmcp::serve_client(Handler::new(hooks, jobs), spawned.transport).await {
        Ok(service) => Ok(Attempt::Started(Started::new(
            service,
            pid,
            Some(stdout_closed),
        ))),
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
    hooks: &Hooks,
) -> Result<Attempt> {
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
    let transport =
        StreamableHttpClientTransportConfig::with_uri(config.url.as_str()).custom_headers(headers);
    // Requests go through the client that adds (and refreshes) the token once there is one.
    let seen = hooks.authorization.generation();
    let served = match hooks
        .authorization
        .client(server, &config.url, &config.oauth)
        .await
    {
        Some(client) => {
            let transport = StreamableHttpClientTransport::with_client(client, transport);
            rmcp::serve_client(handler, transport).await
        }
        None => {
            let transport = StreamableHttpClientTransport::from_config(transport);
            rmcp::serve_client(handler, transport).await
        }
    };
    match served {
        Ok(service) => Ok(Attempt::Started(Started::new(service, None, None))),
        Err(error) => match error.auth_challenge() {
            Some(challenge) if error.is_authorization_required() => {
                Ok(Attempt::SignIn(challenge.to_owned(), seen))
            }
            _ => Err(crate::error::http_initialize(server, &config.url, error)),
        },
    }
}

#[cfg(not(feature = "http"))]
async fn start_http(
    server: &str,
    _config: &crate::config::HttpConfig,
    _handler: Handler,
    _hooks: &Hooks,
) -> Result<Attempt> {
    Err(Error::Unsupported {
        server: server.to_owned(),
        what: "streamable HTTP (the `http` feature is off)".to_owned(),
    })
}

/// Signs in to the HTTP server of `config`, which answered with `challenge`, unless a sign-in
/// completed since `seen`.
#[cfg(feature = "http")]
pub(crate) async fn sign_in(
    server: &str,
    config: &ServerConfig,
    hooks: &Arc<Hooks>,
    challenge: String,
    seen: u64,
    timeout: Duration,
) -> Result<()> {
    let TransportConfig::Http(http) = &config.transport else {
        return Ok(());
    };
    let (name, http, signing) = (server.to_owned(), http.clone(), hooks.clone());
    let work = move || async move {
        let authorization = &signing.authorization;
        authorization
            .sign_in(&name, &http.url, &http.oauth, &challenge, seen)
            .await
    };
    authorizing(server, config, hooks, timeout, work).await
}

/// Signs in again with more scope after a 403 `insufficient_scope`, unless a sign-in
/// completed since `seen`.
#[cfg(feature = "http")]
pub(crate) async fn step_up(
    server: &str,
    config: &ServerConfig,
    hooks: &Arc<Hooks>,
    scope: Option<String>,
    seen: u64,
    timeout: Duration,
) -> Result<()> {
    let TransportConfig::Http(http) = &config.transport else {
        return Ok(());
    };
    let (name, url, signing) = (server.to_owned(), http.url.clone(), hooks.clone());
    let work = move || async move {
        let authorization = &signing.authorization;
        authorization
            .step_up(&name, &url, scope.as_deref(), seen)
            .await
    };
    authorizing(server, config, hooks, timeout, work).await
}

/// Runs a sign-in on a thread of its own (never on a host's loop; rmcp's machine-to-machine
/// exchange is not `Send`), bounded by the sign-in timeout plus `timeout` for the exchanges
/// around the user's part.
#[cfg(feature = "http")]
async fn authorizing<M, F>(
    server: &str,
    config: &ServerConfig,
    hooks: &Hooks,
    timeout: Duration,
    work: M,
) -> Result<()>
where
    M: FnOnce() -> F + Send + 'static,
    F: std::future::Future<Output = Result<()>>,
{
    let bound = hooks.authorization.timeout + timeout;
    let signing_in = crate::runtime::on_own_thread("mcp-dispatch-sign-in", work);
    match crate::runtime::timeout(bound, signing_in).await {
        Some(Some(outcome)) => outcome,
        Some(None) => Err(Error::Panicked {
            server: server.to_owned(),
            message: "signing in panicked".to_owned(),
        }),
        None => Err(Error::AuthorizationFailed {
            server: server.to_owned(),
            url: crate::config::redact_url(&http_url(config)),
            error: "sign-in timed out".to_owned(),
            description: Some(format!("no token within {bound:?}")),
        }),
    }
}

#[cfg(not(feature = "http"))]
async fn sign_in(
    _server: &str,
    _config: &ServerConfig,
    _hooks: &Arc<Hooks>,
    _challenge: String,
    _seen: u64,
    _timeout: Duration,
) -> Result<()> {
    Ok(())
}

/// The error for a server that still asks for sign-in right after one.
pub(crate) fn refused_after_sign_in(server: &str, config: &ServerConfig) -> Error {
    Error::AuthorizationFailed {
        server: server.to_owned(),
        url: crate::config::redact_url(&http_url(config)),
        error: "token refused".to_owned(),
        description: Some("the server asked for sign-in again right after one".to_owned()),
    }
}

fn http_url(config: &ServerConfig) -> String {
    match &config.transport {
        TransportConfig::Http(http) => http.url.clone(),
        TransportConfig::Stdio(_) => String::new(),
    }
}
