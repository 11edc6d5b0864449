//! Configuring a [`Client`] and building it: timeouts, limits, handlers, and where its jobs
//! run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::client::Client;
use crate::client::counters::Counters;
use crate::client::handlers::Handlers;
use crate::client::inner::Inner;
use crate::client::options::Retry;
use crate::client::tool_cache::ToolCache;
use crate::config::ServerConfig;
use crate::error::{Error, Result};
use crate::oauth::{CredentialStore, SignIn};
use crate::runtime::Runtime;
use crate::runtime::dispatcher::Dispatcher;
use crate::runtime::executor::{Executor, OnShutdown};
use crate::runtime::jobs::{Jobs, Target};
use crate::runtime::single_flight::SingleFlight;
use crate::runtime::sync::Flag;
use crate::session::backoff::Backoff;
use crate::session::hooks::Hooks;
use crate::session::notify::{Bus, ProgressRoutes};

pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);
pub(crate) const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;
const DEFAULT_SIGN_IN_TIMEOUT: Duration = Duration::from_secs(300);

/// Configures a [`Client`] before it is built. Made by [`Client::builder`].
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use mcp_dispatch::{Client, ServerConfig};
///
/// let client = Client::builder(ServerConfig::stdio("my-mcp-server"))
///     .connect_timeout(Duration::from_secs(10))
///     .call_timeout(Duration::from_secs(120))
///     .build();
/// assert_eq!(client.server_name(), "my-mcp-server");
/// ```
pub struct ClientBuilder {
    config: ServerConfig,
    settings: Settings,
    hub_bus: Option<Arc<Bus>>,
}

/// Everything a [`ClientBuilder`] sets but the server: what a hub gives each of its servers.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) target: Option<Target>,
    pub(crate) policy: Policy,
    pub(crate) handlers: Handlers,
    pub(crate) sign_in: Option<Arc<dyn SignIn>>,
    pub(crate) sign_in_timeout: Duration,
    pub(crate) credential_store: Option<Arc<dyn CredentialStore>>,
}

/// How a client's requests are bounded and retried, and how their results are read: what
/// the client keeps of its settings once built.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) connect_timeout: Duration,
    pub(crate) call_timeout: Duration,
    pub(crate) close_timeout: Duration,
    /// Longest message read from a stdio server.
    pub(crate) max_message_size: usize,
    pub(crate) retry: Retry,
    /// Whether a result with `isError: true` is an [`Error::Tool`](crate::Error::Tool).
    pub(crate) tool_errors_as_err: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            retry: Retry::default(),
            tool_errors_as_err: false,
        }
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            target: None,
            policy: Policy::default(),
            handlers: Handlers::default(),
            sign_in: None,
            sign_in_timeout: DEFAULT_SIGN_IN_TIMEOUT,
            credential_store: None,
        }
    }
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("connect_timeout", &self.settings.policy.connect_timeout)
            .field("call_timeout", &self.settings.policy.call_timeout)
            .field("close_timeout", &self.settings.policy.close_timeout)
            .field("retry", &self.settings.policy.retry)
            .field(
                "tool_errors_as_err",
                &self.settings.policy.tool_errors_as_err,
            )
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    pub(crate) fn new(config: ServerConfig) -> ClientBuilder {
        ClientBuilder::with_settings(config, Settings::default())
    }

    /// A builder for `config` with `settings`: a hub's for one of its servers.
    pub(crate) fn with_settings(config: ServerConfig, settings: Settings) -> ClientBuilder {
        ClientBuilder {
            config,
            settings,
            hub_bus: None,
        }
    }

    /// Runs this client's jobs on `executor` instead of the shared one.
    ///
    /// The client uses the executor's tokio thread too, and the executor's
    /// [shutdown](Executor#shutdown) closes the client's session.
    ///
    /// ```
    /// use mcp_dispatch::{Client, Executor, ServerConfig};
    ///
    /// let executor = Executor::new()?;
    /// let client = Client::builder(ServerConfig::stdio("my-mcp-server"))
    ///     .executor(executor.clone())
    ///     .build();
    /// assert!(executor.shutdown());
    /// assert!(matches!(client.list_tools_blocking(), Err(mcp_dispatch::Error::Shutdown { .. })));
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn executor(mut self, executor: Executor) -> ClientBuilder {
        self.settings.target = Some(Target::Executor(executor));
        self
    }

    /// Runs this client's jobs on a host's `dispatcher` (its own loop or executor) instead of
    /// the shared [`Executor`].
    ///
    /// The client then uses a tokio thread shared by every client on a host dispatcher,
    /// stopped when the last of them is dropped. See [`Dispatcher`] for what a dispatcher
    /// must do.
    ///
    /// ```
    /// use mcp_dispatch::{Client, Job, ServerConfig};
    ///
    /// let (jobs, to_poll) = std::sync::mpsc::channel::<Job>();
    /// let jobs = std::sync::Mutex::new(jobs);
    /// let client = Client::builder(ServerConfig::stdio("my-mcp-server"))
    ///     .dispatcher(move |job: Job| {
    ///         let _ = jobs.lock().unwrap().send(job);
    ///     })
    ///     .build();
    /// # drop((client, to_poll));
    /// ```
    pub fn dispatcher<D: Dispatcher>(mut self, dispatcher: D) -> ClientBuilder {
        self.settings.target = Some(Target::Host(Arc::new(dispatcher)));
        self
    }

    /// Runs this client on a tokio application's own runtime: its jobs and rmcp's tasks
    /// become tasks of `handle`'s runtime, and the library starts no thread at all.
    ///
    /// Blocking methods must not be called from that runtime's worker threads (they would
    /// hold a worker while the call needs one); await the async forms there. On a
    /// multi-thread runtime, rmcp's tasks run in parallel, so a progress report that the
    /// server sends just before its result may reach
    /// [`on_progress`](crate::CallOptions::on_progress) after the result, and then not at
    /// all; on a current-thread runtime they keep their order.
    ///
    /// ```
    /// use mcp_dispatch::{Client, ServerConfig};
    ///
    /// let runtime = tokio::runtime::Runtime::new().unwrap();
    /// let client = Client::builder(ServerConfig::stdio("my-mcp-server"))
    ///     .tokio_handle(runtime.handle().clone())
    ///     .build();
    /// # drop(client);
    /// ```
    pub fn tokio_handle(mut self, handle: tokio::runtime::Handle) -> ClientBuilder {
        self.settings.target = Some(Target::Tokio(Arc::new(Runtime::host(handle))));
        self
    }

    /// Answers the requests the server may send (elicitation, sampling, roots). Only the
    /// capabilities with a handler are advertised. Default: none.
    pub fn handlers(mut self, handlers: Handlers) -> ClientBuilder {
        self.settings.handlers = handlers;
        self
    }

    /// Also publishes this client's notifications on a Hub's bus.
    pub(crate) fn hub_bus(mut self, bus: Arc<Bus>) -> ClientBuilder {
        self.hub_bus = Some(bus);
        self
    }

    /// How the user signs in to an HTTP server that requires it (answers 401): the host's
    /// browser step, given the authorization URL, returns where the browser was sent back
    /// to. See [`SignIn`].
    ///
    /// The rest of OAuth 2.1 is the library's: discovery from the server's challenge,
    /// registration (pre-registered, Client ID Metadata Document or dynamic, see
    /// [`OAuth`](crate::OAuth)), PKCE, the `resource` parameter and the token exchange.
    /// Concurrent first calls share one sign-in, as they share one connect. Without a
    /// sign-in step, such a server fails the connect with
    /// [`Error::AuthorizationRequired`], which carries the authorization URL.
    pub fn sign_in(mut self, sign_in: impl SignIn) -> ClientBuilder {
        self.settings.sign_in = Some(Arc::new(sign_in));
        self
    }

    /// Bounds the host's sign-in step (the user's time in the browser). Default: 5 min. It
    /// does not count against the connect timeout.
    pub fn sign_in_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.settings.sign_in_timeout = timeout;
        self
    }

    /// Where sign-ins are kept between runs (see [`CredentialStore`]), under the server's
    /// name: a sign-in is saved there, with each refreshed token, and the next client
    /// for the same server and URL starts with it instead of asking the user again. Without
    /// one, a sign-in lasts as long as the client.
    ///
    /// ```
    /// use mcp_dispatch::{Client, FileCredentialStore, ServerConfig};
    ///
    /// let client = Client::builder(ServerConfig::http("https://mcp.example.com/mcp"))
    ///     .credential_store(FileCredentialStore::new("/home/me/.config/my-app/sign-ins"))
    ///     .build();
    /// # drop(client);
    /// ```
    pub fn credential_store(mut self, store: impl CredentialStore) -> ClientBuilder {
        self.settings.credential_store = Some(Arc::new(store));
        self
    }

    /// Makes a tool that reports failure (`isError: true`, such as an unknown tool or
    /// arguments of the wrong type) fail its call with [`Error::Tool`](crate::Error::Tool),
    /// which names the server and the tool and carries the server's text and the whole
    /// result, so that `?` stops there. Default: off, and such a result is an `Ok` whose
    /// `is_error` is `Some(true)` (what an LLM agent hands back to its model).
    /// [`CallOptions::tool_errors_as_err`](crate::CallOptions::tool_errors_as_err) overrides
    /// it per call.
    ///
    /// ```no_run
    /// use mcp_dispatch::{Client, Error, ServerConfig};
    /// use serde_json::json;
    ///
    /// let client = Client::builder(ServerConfig::stdio("my-mcp-server"))
    ///     .tool_errors_as_err(true)
    ///     .build();
    /// match client.call_tool_blocking("no_such_tool", json!({})) {
    ///     Err(Error::Tool { tool, message, .. }) => eprintln!("{tool} failed: {message}"),
    ///     other => drop(other?),
    /// }
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn tool_errors_as_err(mut self, as_err: bool) -> ClientBuilder {
        self.settings.policy.tool_errors_as_err = as_err;
        self
    }

    /// When a call whose session died mid-flight is retried. Default: [`Retry::IfSafe`].
    pub fn retry(mut self, retry: Retry) -> ClientBuilder {
        self.settings.policy.retry = retry;
        self
    }

    /// Bounds starting the server plus the MCP handshake. Default: 30 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.settings.policy.connect_timeout = timeout;
        self
    }

    /// Bounds each request (tool call, listing). Default: 60 s. A request that times out is
    /// cancelled on the server with `notifications/cancelled`.
    pub fn call_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.settings.policy.call_timeout = timeout;
        self
    }

    /// Bounds the graceful close of a session before its process group is killed.
    /// Default: 5 s.
    pub fn close_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.settings.policy.close_timeout = timeout;
        self
    }

    /// The largest message a stdio server may send, in bytes. Default: 64 MiB.
    ///
    /// A longer message is discarded as it arrives (memory stays bounded whatever the server
    /// writes), and the request it answered fails at once with
    /// [`Error::MessageTooLarge`], which names the size and this limit. The default leaves
    /// room for what real tools return, such as a file's contents, a 4K screenshot as base64
    /// (15–35 MB) or a table dump, while keeping a runaway server from taking gigabytes.
    ///
    /// ```
    /// use mcp_dispatch::{Client, ServerConfig};
    ///
    /// let client = Client::builder(ServerConfig::stdio("my-mcp-server"))
    ///     .max_message_size(256 << 20)
    ///     .build();
    /// # drop(client);
    /// ```
    pub fn max_message_size(mut self, bytes: usize) -> ClientBuilder {
        self.settings.policy.max_message_size = bytes.max(1);
        self
    }

    /// Builds the client. Nothing is started until the first call.
    ///
    /// Building cannot fail. If the library's threads cannot be started (the operating
    /// system refuses a new thread), the client is built anyway and every call returns
    /// [`Error::Runtime`] with the system's error; a [`Hub`](crate::Hub) behaves the same.
    pub fn build(self) -> Client {
        let name = self.config.server_name();
        let jobs = jobs_on(self.settings.target);
        let abandoned = Error::Shutdown {
            server: name.clone(),
        };
        let hooks = Arc::new(Hooks {
            server: name.clone(),
            bus: Bus::default(),
            hub_bus: self.hub_bus,
            progress: Arc::new(ProgressRoutes::default()),
            handlers: self.settings.handlers,
            tools: Arc::new(ToolCache::new(abandoned.clone())),
            starting: Mutex::new(None),
            listens: Default::default(),
            negotiation: Default::default(),
            #[cfg(feature = "oauth")]
            authorization: crate::oauth::Authorization::new(
                self.settings.sign_in,
                self.settings.sign_in_timeout,
                self.settings.credential_store,
            ),
        });
        let inner = Arc::new(Inner {
            name,
            config: self.config,
            jobs,
            slot: SingleFlight::new(abandoned),
            policy: self.settings.policy,
            backoff: Backoff::new(),
            shut_down: AtomicBool::new(false),
            counters: Counters::default(),
            hooks,
            closing: Flag::default(),
        });
        if let Some(executor) = inner.jobs.as_ref().ok().and_then(|jobs| jobs.executor()) {
            let hook: Arc<dyn OnShutdown> = inner.clone();
            executor.on_shutdown(Arc::downgrade(&hook));
            if executor.is_shut_down() {
                inner.shut_down.store(true, Ordering::Release);
            }
        }
        Client::from_inner(inner)
    }
}

/// The jobs of a client on `target` (by default the shared executor), with the tokio
/// runtime they enter.
fn jobs_on(target: Option<Target>) -> Result<Arc<Jobs>> {
    let runtime_error = |source| Error::Runtime {
        source: Arc::new(source),
    };
    let jobs = match target {
        Some(Target::Host(dispatcher)) => {
            let runtime = Runtime::shared().map_err(runtime_error)?;
            Jobs::new(Target::Host(dispatcher), runtime)
        }
        Some(Target::Executor(executor)) => {
            let runtime = executor.runtime();
            Jobs::new(Target::Executor(executor), runtime)
        }
        Some(Target::Tokio(runtime)) => Jobs::new(Target::Tokio(runtime.clone()), runtime),
        None => {
            let executor = Executor::shared()?;
            let runtime = executor.runtime();
            Jobs::new(Target::Executor(executor), runtime)
        }
    };
    Ok(Arc::new(jobs))
}
