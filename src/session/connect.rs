//! Connecting to a server: starting it (a child process over stdio, or streamable HTTP), the
//! MCP handshake, and the retries of a start-up that fails.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::RoleClient;

#[cfg(feature = "http")]
use crate::config::HttpTransport;
use crate::config::{HttpConfig, ServerConfig, TransportConfig};
use crate::error::{Error, Result};
use crate::runtime::jobs::Jobs;
use crate::runtime::sync::lock;
use crate::session::backoff::Backoff;
use crate::session::hooks::{Handler, Hooks};
use crate::session::{Service, Started};
use crate::transport::stdio::{self, Limits};
#[cfg(feature = "http")]
use futures::FutureExt;
#[cfg(feature = "http")]
use http::{HeaderName, HeaderValue};
#[cfg(feature = "http")]
use std::collections::HashMap;

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
    if let Some(misapplied) = config.misapplied_error() {
        return Err(misapplied);
    }
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
            Some(Ok(Attempt::Again)) => attempts -= 1,
            // A server that requires sign-in: not a failed start. The user's part is bounded
            // by the sign-in timeout, and the connect timeout starts again after it.
            Some(Ok(Attempt::SignIn(challenge, seen))) => {
                attempts -= 1;
                if signed_in {
                    break Some(Err(refused_after_sign_in(server, config)));
                }
                signed_in = true;
                if let Err(error) =
                    crate::oauth::sign_in(server, config, hooks, challenge, seen, timeout).await
                {
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
            let over = match started.pid() {
                Some(pid) => format!("pid {pid}"),
                None => format!("over {}", started.transport()),
            };
            let version = started
                .protocol_version()
                .unwrap_or_else(|| "unknown".to_owned());
            log::info!(
                "mcp-dispatch: server `{server}`: connected ({over}, protocol {version}) in {:?}",
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
    /// The server cannot be probed with `server/discover`: start again, with `initialize`.
    Again,
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
            return start_http(server, http, limits, &hooks, &jobs).await;
        }
    };
    let spawned = stdio::spawn(server, stdio, limits)?;
    let pid = spawned.pid;
    let stdout_closed = spawned.transport.stdout_closed();
    *lock(&hooks.starting) = Some(spawned.transport.stopped());
    match serve(Handler::new(hooks.clone(), jobs), spawned.transport).await {
        Ok(service) => Ok(Attempt::Started(Started::new(
            service,
            crate::TransportKind::Stdio,
            pid,
            Some(stdout_closed),
        ))),
        Err(error) if probe_misread(server, &error, &hooks) => Ok(Attempt::Again),
        Err(error) => {
            let stderr = spawned.stderr.lines_after_close(STDERR_GRACE).await;
            Err(crate::error::initialize(server, error, stderr))
        }
    }
}

/// True, once per client, when a server answered `server/discover` with something the
/// 2026-07-28 lifecycle cannot follow but an older server may say (an empty result, or only
/// versions that have the `initialize` handshake): its sessions then open with `initialize`
/// alone, starting with the next attempt.
fn probe_misread(
    server: &str,
    error: &rmcp::service::ClientInitializeError,
    hooks: &Hooks,
) -> bool {
    use rmcp::service::ClientInitializeError;

    let misread = matches!(
        error,
        ClientInitializeError::ExpectedInitResult(_)
            | ClientInitializeError::NoCompatibleProtocolVersion { .. }
    );
    if !misread || hooks.negotiation.settle_on_initialize() {
        return false;
    }
    log::info!(
        "mcp-dispatch: server `{server}` answered server/discover as protocol 2026-07-28 does \
         not ({error}); opening its sessions with the initialize handshake instead"
    );
    true
}

/// Runs the MCP handshake on `transport`: protocol 2026-07-28's `server/discover` first, and
/// the `initialize` handshake of 2025-11-25 when the server answers it as an older server does
/// (an error for the unknown method, or an HTTP 4xx without a session), or not within 10 s.
/// Only `initialize` for a server whose answer to the probe could not be followed (see
/// [`probe_misread`]).
fn serve<T, E, A>(
    handler: Handler,
    transport: T,
) -> impl Future<Output = std::result::Result<Service, rmcp::service::ClientInitializeError>> + Send
where
    T: rmcp::transport::IntoTransport<RoleClient, E, A> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    use rmcp::model::ProtocolVersion;
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};

    let lifecycle = if handler.initialize_only() {
        ClientLifecycleMode::Initialize
    } else {
        ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            legacy_version: Some(ProtocolVersion::LATEST_WITH_INITIALIZE),
        }
    };
    handler.serve_with_lifecycle(transport, lifecycle)
}

/// Starts a session with a remote server over the transport its settings name; with
/// [`HttpTransport::Either`], over HTTP+SSE when the streamable HTTP `POST` is refused with
/// 400, 404 or 405.
#[cfg(feature = "http")]
async fn start_http(
    server: &str,
    config: &HttpConfig,
    limits: Limits,
    hooks: &Arc<Hooks>,
    jobs: &Arc<Jobs>,
) -> Result<Attempt> {
    let headers = http_headers(server, config)?;
    let handler = || Handler::new(hooks.clone(), jobs.clone());
    match config.transport {
        HttpTransport::Streamable => {
            start_streamable(server, config, headers, handler(), hooks).await
        }
        HttpTransport::Sse => start_sse(server, config, headers, limits, handler(), hooks).await,
        HttpTransport::Either => {
            let streamable =
                start_streamable(server, config, headers.clone(), handler(), hooks).await;
            let Err(Error::Http {
                server: name,
                url,
                status: Some(status @ (400 | 404 | 405)),
                message,
            }) = streamable
            else {
                return streamable;
            };
            log::info!(
                "mcp-dispatch: server `{server}`: {url} refused the streamable HTTP `POST` \
                 with HTTP {status}; trying the HTTP+SSE transport"
            );
            match start_sse(server, config, headers, limits, handler(), hooks).await {
                Err(sse) => Err(Error::Http {
                    server: name,
                    url,
                    status: Some(status),
                    message: format!("{message}; the HTTP+SSE transport failed too: {sse}"),
                }),
                sse => sse,
            }
        }
    }
}

/// The custom headers of `config`, checked.
#[cfg(feature = "http")]
fn http_headers(server: &str, config: &HttpConfig) -> Result<HashMap<HeaderName, HeaderValue>> {
    let header_error = |name: &str, message: String| Error::Config {
        server: Some(server.to_owned()),
        field: Some(format!("headers.{name}")),
        line: None,
        column: None,
        message,
        path: None,
        source: None,
    };
    let mut headers = HashMap::new();
    for (name, value) in &config.headers {
        let header = HeaderName::try_from(name.as_str())
            .map_err(|error| header_error(name, format!("invalid header name: {error}")))?;
        let value = HeaderValue::try_from(value.as_str())
            .map_err(|error| header_error(name, format!("invalid header value: {error}")))?;
        headers.insert(header, value);
    }
    Ok(headers)
}

/// Starts a session over streamable HTTP.
#[cfg(feature = "http")]
async fn start_streamable(
    server: &str,
    config: &HttpConfig,
    headers: HashMap<HeaderName, HeaderValue>,
    handler: Handler,
    hooks: &Hooks,
) -> Result<Attempt> {
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

    let transport =
        StreamableHttpClientTransportConfig::with_uri(config.url.as_str()).custom_headers(headers);
    // Requests go through the client that adds (and refreshes) the token once there is one.
    let (seen, client) = authorized_client(server, config, hooks).await;
    let served = match client {
        Some(client) => {
            let transport = StreamableHttpClientTransport::with_client(client, transport);
            serve(handler, transport).await
        }
        None => {
            let transport = StreamableHttpClientTransport::from_config(transport);
            serve(handler, transport).await
        }
    };
    served_over(
        (server, config, hooks),
        crate::TransportKind::StreamableHttp,
        served,
        seen,
    )
}

/// The sign-ins completed so far, and the HTTP client that adds the token, once there is one.
#[cfg(feature = "oauth")]
async fn authorized_client(
    server: &str,
    config: &HttpConfig,
    hooks: &Hooks,
) -> (u64, Option<rmcp::transport::AuthClient<reqwest::Client>>) {
    let authorization = &hooks.authorization;
    let seen = authorization.generation();
    let client = authorization
        .client(server, &config.url, &config.oauth)
        .await;
    (seen, client)
}

/// Without the `oauth` feature there is never a token: no client of its own.
#[cfg(all(feature = "http", not(feature = "oauth")))]
async fn authorized_client(
    _server: &str,
    _config: &HttpConfig,
    _hooks: &Hooks,
) -> (u64, Option<reqwest::Client>) {
    (0, None)
}

/// Starts a session over HTTP+SSE.
#[cfg(feature = "http")]
async fn start_sse(
    server: &str,
    config: &HttpConfig,
    headers: HashMap<HeaderName, HeaderValue>,
    limits: Limits,
    handler: Handler,
    hooks: &Hooks,
) -> Result<Attempt> {
    use crate::transport::sse::SseTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpError;

    let (url, max) = (config.url.as_str(), limits.max_message_size);
    let (seen, client) = authorized_client(server, config, hooks).await;
    let opened = match client {
        Some(client) => SseTransport::open(client, server, url, headers, max)
            .await
            .map(|transport| serve(handler, transport).boxed()),
        None => SseTransport::open(reqwest::Client::default(), server, url, headers, max)
            .await
            .map(|transport| serve(handler, transport).boxed()),
    };
    match opened {
        Ok(serving) => served_over(
            (server, config, hooks),
            crate::TransportKind::Sse,
            serving.await,
            seen,
        ),
        Err(StreamableHttpError::AuthRequired(required)) => {
            Ok(Attempt::SignIn(required.www_authenticate_header, seen))
        }
        Err(error) => Err(crate::error::http_exchange(server, url, error)),
    }
}

/// What a handshake over HTTP came to: a session, a sign-in to do first, or an error.
#[cfg(feature = "http")]
fn served_over(
    (server, config, hooks): (&str, &HttpConfig, &Hooks),
    transport: crate::TransportKind,
    served: std::result::Result<Service, rmcp::service::ClientInitializeError>,
    seen: u64,
) -> Result<Attempt> {
    match served {
        Ok(service) => Ok(Attempt::Started(Started::new(
            service, transport, None, None,
        ))),
        Err(error) if probe_misread(server, &error, hooks) => Ok(Attempt::Again),
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
    _config: &HttpConfig,
    _limits: Limits,
    _hooks: &Arc<Hooks>,
    _jobs: &Arc<Jobs>,
) -> Result<Attempt> {
    Err(Error::Unsupported {
        server: server.to_owned(),
        what: "remote servers over HTTP (the `http` feature is off)".to_owned(),
    })
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

pub(crate) fn http_url(config: &ServerConfig) -> String {
    match &config.transport {
        TransportConfig::Http(http) => http.url.clone(),
        TransportConfig::Stdio(_) => String::new(),
    }
}
