//! What a session does with what its server sends: notifications and progress are routed,
//! server requests answered by the client's [`Handlers`].

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
#[allow(deprecated)]
use rmcp::model::{
    ClientConfig, CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams,
    ElicitResult, ErrorCode, ErrorData, Implementation, ListRootsResult, ProgressNotificationParam,
    ResourceUpdatedNotificationParam, ServerNotification,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ClientHandler, RoleClient};

use crate::client::handlers::Handlers;
use crate::client::tool_cache::ToolCache;
use crate::runtime::jobs::{Jobs, Lost};
use crate::runtime::sync::Flag;
use crate::session::notify::{Bus, Notification, Progress, ProgressRoutes};

/// What a client's sessions share with it: where notifications and progress go, how server
/// requests are answered, and the tool cache a change drops.
pub(crate) struct Hooks {
    pub(crate) server: String,
    /// The client's subscribers.
    pub(crate) bus: Bus,
    /// A Hub's subscribers, for clients that belong to one.
    pub(crate) hub_bus: Option<Arc<Bus>>,
    pub(crate) progress: Arc<ProgressRoutes>,
    pub(crate) handlers: Handlers,
    /// The client's tool cache, dropped when the server says the list changed.
    pub(crate) tools: Arc<ToolCache>,
    /// Raised once the last server process started is stopped (for a close that cancels a
    /// connect in flight to wait for).
    pub(crate) starting: Mutex<Option<Arc<Flag>>>,
    /// The `subscriptions/listen` streams of 2026-07-28 sessions.
    pub(crate) listens: crate::session::listen::Listens,
    /// What the client has learnt of the server's protocol, for its later sessions.
    pub(crate) negotiation: crate::session::negotiation::Negotiation,
    /// Signing in to an HTTP server, and the authorization it gave, kept across sessions.
    #[cfg(feature = "oauth")]
    pub(crate) authorization: crate::oauth::Authorization,
}

impl Hooks {
    /// Delivers a notification that came on a `subscriptions/listen` stream as if it had
    /// come on the session.
    pub(crate) fn deliver(&self, notification: ServerNotification) {
        match notification {
            ServerNotification::ResourceUpdatedNotification(updated) => {
                self.changed(Change::Resource(updated.params.uri));
            }
            ServerNotification::ToolListChangedNotification(_) => self.changed(Change::Tools),
            ServerNotification::ResourceListChangedNotification(_) => {
                self.changed(Change::Resources);
            }
            ServerNotification::PromptListChangedNotification(_) => self.changed(Change::Prompts),
            // A stream carries only what its filter named.
            _ => {}
        }
    }

    /// Tells subscribers of a change the server reported (a changed tool list also drops
    /// the tool cache).
    fn changed(&self, change: Change) {
        let server = self.server.clone();
        self.publish(match change {
            Change::Resource(uri) => Notification::ResourceUpdated { server, uri },
            Change::Tools => {
                self.tools.changed();
                Notification::ToolListChanged { server }
            }
            Change::Resources => Notification::ResourceListChanged { server },
            Change::Prompts => Notification::PromptListChanged { server },
        });
    }

    fn publish(&self, notification: Notification) {
        self.bus.publish(&notification);
        if let Some(hub) = &self.hub_bus {
            hub.publish(&notification);
        }
    }

    /// Runs a server request's handler on the dispatcher and returns its answer.
    pub(crate) async fn answer<P, R>(
        &self,
        jobs: &Arc<Jobs>,
        handler: Option<&HandlerFn<P, R>>,
        params: P,
        method: &'static str,
    ) -> Result<R, ErrorData>
    where
        P: Send + 'static,
        R: Send + 'static,
    {
        let Some(handler) = handler else {
            return Err(ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("{method} is not supported by this client"),
                None,
            ));
        };
        let handler = handler.clone();
        // The handler's body runs as a job, never inline in rmcp's I/O task on the tokio
        // thread: user code there could block every session of the process.
        match jobs.run(async move { handler(params).await }).await {
            Ok(answer) => answer,
            Err(Lost::Panicked(message)) => {
                log::error!(
                    "mcp-dispatch: server `{}`: the {method} handler panicked: {message}",
                    self.server
                );
                Err(ErrorData::internal_error(
                    format!("the client's {method} handler failed"),
                    None,
                ))
            }
            Err(Lost::Dropped) => Err(ErrorData::internal_error(
                format!("the client's {method} handler was dropped"),
                None,
            )),
        }
    }
}

/// A change a server reports, on its session or on a listen stream.
enum Change {
    Resource(String),
    Tools,
    Resources,
    Prompts,
}

type HandlerFn<P, R> = Arc<dyn Fn(P) -> BoxFuture<'static, Result<R, ErrorData>> + Send + Sync>;

/// The rmcp client handler of one session: identifies us to the server, routes what the
/// server sends, and answers its requests.
pub(crate) struct Handler {
    hooks: Arc<Hooks>,
    /// Where handler bodies run: the client's jobs.
    jobs: Arc<Jobs>,
    /// Unique per session, to keep progress tokens of different sessions apart.
    session: u64,
    info: ClientConfig,
}

impl Handler {
    pub(crate) fn new(hooks: Arc<Hooks>, jobs: Arc<Jobs>) -> Handler {
        static SESSIONS: AtomicU64 = AtomicU64::new(0);
        let capabilities = hooks.handlers.capabilities();
        Handler {
            session: SESSIONS.fetch_add(1, Ordering::Relaxed),
            // What `initialize` offers, when a server does not know `server/discover`:
            // the newest version that has the handshake (2026-07-28 has none).
            info: ClientConfig::new(
                capabilities,
                Implementation::new("mcp-dispatch", env!("CARGO_PKG_VERSION")),
            )
            .with_protocol_version(rmcp::model::ProtocolVersion::LATEST_WITH_INITIALIZE),
            hooks,
            jobs,
        }
    }

    /// True when the session must open with `initialize` alone (see [`Hooks`]).
    pub(crate) fn initialize_only(&self) -> bool {
        self.hooks.negotiation.initialize_only()
    }

    /// The key of this session's progress routes.
    pub(crate) fn progress_session(&self) -> u64 {
        self.session
    }
}

#[allow(deprecated)]
impl ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        let progress = Progress {
            progress: params.progress,
            total: params.total,
            message: params.message,
        };
        self.hooks
            .progress
            .deliver(self.session, params.progress_token, progress);
        std::future::ready(())
    }

    #[allow(deprecated)]
    fn on_logging_message(
        &self,
        params: rmcp::model::LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        let level = serde_json::to_value(params.level)
            .ok()
            .and_then(|level| level.as_str().map(str::to_owned))
            .unwrap_or_else(|| "info".to_owned());
        self.hooks.publish(Notification::Log {
            server: self.hooks.server.clone(),
            level,
            logger: params.logger,
            data: params.data,
        });
        std::future::ready(())
    }

    fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        self.hooks.changed(Change::Resource(params.uri));
        std::future::ready(())
    }

    fn on_tool_list_changed(
        &self,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        self.hooks.changed(Change::Tools);
        std::future::ready(())
    }

    fn on_resource_list_changed(
        &self,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        self.hooks.changed(Change::Resources);
        std::future::ready(())
    }

    fn on_prompt_list_changed(
        &self,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        self.hooks.changed(Change::Prompts);
        std::future::ready(())
    }

    fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> impl Future<Output = Result<ElicitResult, ErrorData>> + Send + '_ {
        self.hooks.answer(
            &self.jobs,
            self.hooks.handlers.elicitation.as_ref(),
            request,
            "elicitation/create",
        )
    }

    fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> impl Future<Output = Result<CreateMessageResult, ErrorData>> + Send + '_ {
        self.hooks.answer(
            &self.jobs,
            self.hooks.handlers.sampling.as_ref(),
            params,
            "sampling/createMessage",
        )
    }

    fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> impl Future<Output = Result<ListRootsResult, ErrorData>> + Send + '_ {
        self.hooks.answer(
            &self.jobs,
            self.hooks.handlers.roots.as_ref(),
            (),
            "roots/list",
        )
    }
}
