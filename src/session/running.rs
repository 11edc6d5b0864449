//! One live rmcp session with a server: what calls use of it, how it is seen to die, and
//! its close.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::ServerPeerInfo;
use rmcp::service::RunningService;
use rmcp::{Peer, RoleClient};

use crate::error::{Error, Result};
use crate::runtime::sync::{Flag, lock};
use crate::session::hooks::Handler;

pub(crate) type Service = RunningService<RoleClient, Handler>;

/// A live session. Calls clone its [`Peer`]; requests are multiplexed on it.
pub(crate) struct Session {
    pub(crate) peer: Peer<RoleClient>,
    pub(crate) generation: u64,
    pub(crate) pid: Option<u32>,
    /// The key of this session's progress routes.
    pub(crate) progress_session: u64,
    /// Raised when a stdio server's stdout ends, before rmcp has finished stopping it.
    stdout_closed: Option<Arc<Flag>>,
    /// Raised when the session closes: its `subscriptions/listen` streams are cancelled.
    closing: Arc<Flag>,
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
    transport: crate::TransportKind,
    pid: Option<u32>,
    stdout_closed: Option<Arc<Flag>>,
    closing: Arc<Flag>,
}

impl Started {
    /// A session that started over `transport`: `pid` for a child process, and the flag
    /// raised when its stdout ends.
    pub(crate) fn new(
        service: Service,
        transport: crate::TransportKind,
        pid: Option<u32>,
        stdout_closed: Option<Arc<Flag>>,
    ) -> Started {
        Started {
            service,
            transport,
            pid,
            stdout_closed,
            closing: Arc::default(),
        }
    }

    /// Raised when the session closes, for its `subscriptions/listen` streams to cancel.
    pub(crate) fn closing(&self) -> Arc<Flag> {
        self.closing.clone()
    }

    /// The transport the session speaks.
    pub(crate) fn transport(&self) -> crate::TransportKind {
        self.transport
    }

    /// The session's peer.
    pub(crate) fn peer(&self) -> &Peer<RoleClient> {
        self.service.peer()
    }

    /// The protocol version the handshake settled on.
    pub(crate) fn protocol_version(&self) -> Option<String> {
        let info = self.service.peer().peer_info()?;
        Some(info.protocol_version.to_string())
    }

    /// The process id of a child server.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The session, with its generation.
    pub(crate) fn into_session(self, generation: u64) -> Arc<Session> {
        Arc::new(Session {
            peer: self.service.peer().clone(),
            generation,
            pid: self.pid,
            progress_session: self.service.service().progress_session(),
            stdout_closed: self.stdout_closed,
            closing: self.closing,
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
                source: None,
            })
    }

    /// True once the transport has closed: rmcp has seen it, or a stdio server's stdout ended.
    pub(crate) fn is_dead(&self) -> bool {
        self.peer.is_transport_closed() || self.stdout_closed.as_ref().is_some_and(|f| f.is_set())
    }

    /// Completes when the session is seen to die (never, for transports that cannot tell
    /// before rmcp does).
    pub(crate) async fn died(&self) {
        match &self.stdout_closed {
            Some(flag) => flag.wait().await,
            None => std::future::pending().await,
        }
    }

    /// Closes the session gracefully (stdin closed, then SIGTERM, then SIGKILL), waiting at
    /// most `bound`, then kills whatever is left of the server's process group (children a
    /// wrapper such as `sh -c` or `npx` started). Must run inside the library's tokio context.
    pub(crate) async fn close(&self, server: &str, bound: Duration) {
        let service = lock(&self.service).take();
        if let Some(mut service) = service {
            // Cancel the listen streams first: a server may hold its end of the session open
            // while a stream is.
            self.closing.set();
            crate::runtime::after_queued_tasks().await;
            match service.close_with_timeout(bound).await {
                Ok(Some(_)) => log::info!(
                    "mcp-dispatch: server `{server}`: session {} closed",
                    self.generation
                ),
                Ok(None) => log::warn!(
                    "mcp-dispatch: server `{server}`: close did not finish within {bound:?}; \
                     killing its process group"
                ),
                Err(error) => log::warn!("mcp-dispatch: server `{server}`: close failed: {error}"),
            }
            crate::transport::process::kill_group(self.pid);
        }
    }
}
