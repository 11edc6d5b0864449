//! One live rmcp session with a server: starting it, mapping its errors, closing it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ServerPeerInfo};
use rmcp::service::{ClientInitializeError, RunningService, ServiceError};
use rmcp::{ClientHandler, Peer, RoleClient};

use crate::config::{ServerConfig, TransportConfig};
use crate::error::{Error, Result};
use crate::stdio::{self, StderrTail};
use crate::sync::lock;

/// How long a failed initialize waits for the server's last stderr lines.
const STDERR_GRACE: Duration = Duration::from_millis(500);

/// The rmcp client handler: identifies us to the server.
#[derive(Debug, Clone)]
pub(crate) struct Handler {
    info: ClientConfig,
}

impl Handler {
    fn new() -> Handler {
        Handler {
            info: ClientConfig::new(
                ClientCapabilities::default(),
                Implementation::new("mcp-dispatch", env!("CARGO_PKG_VERSION")),
            ),
        }
    }
}

impl ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }
}

type Service = RunningService<RoleClient, Handler>;

/// A live session. Calls clone its [`Peer`]; requests are multiplexed on it.
pub(crate) struct Session {
    pub(crate) peer: Peer<RoleClient>,
    pub(crate) generation: u64,
    pub(crate) pid: Option<u32>,
    service: Mutex<Option<Service>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("generation", &self.generation)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

/// A session that started but has no generation yet.
pub(crate) struct Started {
    service: Service,
    pid: Option<u32>,
}

impl Started {
    pub(crate) fn into_session(self, generation: u64) -> Arc<Session> {
        Arc::new(Session {
            peer: self.service.peer().clone(),
            generation,
            pid: self.pid,
            service: Mutex::new(Some(self.service)),
        })
    }
}

impl Session {
    /// The server's answer to `initialize`.
    pub(crate) fn server_info(&self, server: &str) -> Result<ServerPeerInfo> {
        self.peer
            .peer_info()
            .map(|info| (*info).clone())
            .ok_or_else(|| Error::Protocol {
                server: server.to_owned(),
                message: "the session has no server info".to_owned(),
            })
    }

    /// True once rmcp has seen the transport close.
    pub(crate) fn is_dead(&self) -> bool {
        self.peer.is_transport_closed()
    }

    /// Closes the session gracefully (stdin closed, then SIGTERM, then SIGKILL to the process
    /// group), waiting at most `bound`. Must run inside the library's tokio context.
    pub(crate) async fn close(&self, server: &str, bound: Duration) {
        let service = lock(&self.service).take();
        if let Some(mut service) = service {
            match service.close_with_timeout(bound).await {
                Ok(Some(_)) => log::info!("mcp-dispatch: server `{server}`: closed"),
                Ok(None) => log::warn!(
                    "mcp-dispatch: server `{server}`: close did not finish within {bound:?}; \
                     the process is killed"
                ),
                Err(error) => log::warn!("mcp-dispatch: server `{server}`: close failed: {error}"),
            }
        }
    }
}

/// Starts the server and runs the MCP handshake, bounded by `timeout`. Must run inside the
/// library's tokio context.
pub(crate) async fn connect(
    server: &str,
    config: &ServerConfig,
    timeout: Duration,
) -> Result<Started> {
    let started_at = Instant::now();
    let outcome = crate::runtime::timeout(timeout, start(server, config)).await;
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
                    .pid
                    .map_or_else(|| "unknown".to_owned(), |pid| pid.to_string()),
                started_at.elapsed()
            );
            Ok(started)
        }
    }
}

async fn start(server: &str, config: &ServerConfig) -> Result<Started> {
    let TransportConfig::Stdio(stdio) = &config.transport;
    let spawned = stdio::spawn(server, stdio)?;
    let pid = spawned.pid;
    match rmcp::serve_client(Handler::new(), spawned.transport).await {
        Ok(service) => Ok(Started { service, pid }),
        Err(error) => Err(initialize_error(server, error, &spawned.stderr).await),
    }
}

async fn initialize_error(
    server: &str,
    error: ClientInitializeError,
    stderr: &StderrTail,
) -> Error {
    Error::Initialize {
        server: server.to_owned(),
        message: error.to_string(),
        stderr: stderr.lines_after_close(STDERR_GRACE).await,
    }
}

/// Maps an rmcp request error. `TransportClosed` also tells the caller to invalidate.
pub(crate) fn request_error(server: &str, tool: Option<&str>, error: ServiceError) -> Error {
    let server = server.to_owned();
    let tool = tool.map(str::to_owned);
    match error {
        ServiceError::McpError(data) => Error::Server {
            server,
            tool,
            code: data.code.0,
            message: data.message.into_owned(),
            data: data.data,
        },
        ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
            Error::TransportClosed { server, tool }
        }
        ServiceError::Timeout { timeout } => Error::Timeout {
            server,
            tool,
            timeout,
        },
        other => Error::Protocol {
            server,
            message: other.to_string(),
        },
    }
}
