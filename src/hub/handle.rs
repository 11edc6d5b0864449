//! `Hub`: many servers behind one handle, with tool names an LLM API accepts.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rmcp::model::{CallToolResult, Tool};

use crate::client::Client;
use crate::client::options::CallOptions;
use crate::config::ServerConfig;
use crate::error::{Error, Result};
use crate::hub::builder::{Defaults, HubBuilder, ServerSetup};
use crate::hub::filter::ToolFilter;
use crate::hub::names::ToolNames;
use crate::hub::tool::{HubTool, HubTools};
use crate::runtime::blocking::{Waited, block_on_bounded, wait_for_jobs};
use crate::runtime::sync::{lock, read, write};
use crate::session::notify::{Bus, Notifications};

/// A named collection of [`Client`]s that share one dispatcher, with tools addressed by
/// qualified names (`server__tool`) that LLM function-calling APIs accept.
///
/// Build it in code with [`Hub::builder`], or from the `mcpServers` / `servers` config files
/// that Claude Desktop, Cursor and VS Code use ([`Hub::from_json_str`], [`Hub::from_path`]).
/// Like [`Client`], it is cheap to clone, and every method has an async form and a
/// `_blocking` form.
///
/// # Example
///
/// ```no_run
/// use mcp_dispatch::Hub;
/// use serde_json::json;
///
/// let hub = Hub::from_json_str(r#"{
///     "mcpServers": {
///         "files": { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"] },
///         "remote": { "type": "http", "url": "http://127.0.0.1:8000/mcp" }
///     }
/// }"#)?;
/// let listed = hub.list_tools_blocking();
/// for tool in &listed.tools {
///     println!("{} ({})", tool.name, tool.server);
/// }
/// for error in &listed.errors {
///     eprintln!("{error}");
/// }
/// let result = hub.call_tool_blocking("files__list_directory", json!({"path": "/tmp"}))?;
/// # drop(result);
/// # Ok::<(), mcp_dispatch::Error>(())
/// ```
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("servers", &self.server_names())
            .finish_non_exhaustive()
    }
}

struct Entry {
    client: Result<Client>,
    filter: ToolFilter,
}

struct HubInner {
    servers: RwLock<BTreeMap<String, Entry>>,
    /// The names from the last listing, to resolve qualified names.
    names: Mutex<ToolNames>,
    defaults: Defaults,
    bus: Arc<Bus>,
}

impl Hub {
    /// A builder, to add servers in code and choose the dispatcher, separator and timeouts.
    ///
    /// ```
    /// use mcp_dispatch::{Hub, ServerConfig};
    ///
    /// let hub = Hub::builder().server("files", ServerConfig::stdio("my-files-server")).build()?;
    /// assert_eq!(hub.server_names(), ["files"]);
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn builder() -> HubBuilder {
        HubBuilder::new()
    }

    /// A hub of the servers in an `mcpServers` / `servers` config file's text, with default
    /// settings. See [`HubBuilder::servers_from_json_str`].
    ///
    /// # Errors
    ///
    /// As [`HubBuilder::servers_from_json_str`].
    ///
    /// # Example
    ///
    /// ```
    /// use mcp_dispatch::Hub;
    ///
    /// let hub = Hub::from_json_str(r#"{"mcpServers": {"files": {"command": "my-files-server"}}}"#)?;
    /// assert_eq!(hub.server_names(), ["files"]);
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn from_json_str(text: &str) -> Result<Hub> {
        Hub::builder().servers_from_json_str(text)?.build()
    }

    /// A hub of the servers in a config file. See [`HubBuilder::servers_from_path`].
    ///
    /// # Errors
    ///
    /// As [`HubBuilder::servers_from_path`].
    ///
    /// # Example
    ///
    /// ```
    /// use mcp_dispatch::{Error, Hub};
    ///
    /// let missing = Hub::from_path("/nonexistent/mcp.json");
    /// assert!(matches!(missing, Err(Error::Config { .. })));
    /// ```
    pub fn from_path(path: impl AsRef<Path>) -> Result<Hub> {
        Hub::builder().servers_from_path(path)?.build()
    }

    /// A hub with these settings and no servers yet.
    pub(crate) fn new(defaults: Defaults) -> Hub {
        Hub {
            inner: Arc::new(HubInner {
                servers: RwLock::new(BTreeMap::new()),
                names: Mutex::new(ToolNames::default()),
                defaults,
                bus: Arc::new(Bus::default()),
            }),
        }
    }

    /// The servers' names, sorted.
    ///
    /// ```
    /// use mcp_dispatch::{Hub, ServerConfig};
    ///
    /// let hub = Hub::builder()
    ///     .server("web", ServerConfig::http("http://127.0.0.1:8000/mcp"))
    ///     .server("files", ServerConfig::stdio("my-files-server"))
    ///     .build()?;
    /// assert_eq!(hub.server_names(), ["files", "web"]);
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn server_names(&self) -> Vec<String> {
        read(&self.inner.servers).keys().cloned().collect()
    }

    /// The client of the server `name`, if the hub has it and its configuration is valid.
    ///
    /// The client shares the hub's session with the server; use it for what the hub does not
    /// offer, such as resources and prompts.
    ///
    /// ```
    /// use mcp_dispatch::{Hub, ServerConfig};
    ///
    /// let hub = Hub::builder().server("files", ServerConfig::stdio("my-files-server")).build()?;
    /// assert_eq!(hub.client("files").unwrap().server_name(), "files");
    /// assert!(hub.client("web").is_none());
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn client(&self, name: &str) -> Option<Client> {
        read(&self.inner.servers)
            .get(name)
            .and_then(|entry| entry.client.as_ref().ok().cloned())
    }

    /// Adds a server, or replaces the one of that name (which is closed in the background).
    ///
    /// The new server gets the hub's settings and handlers; nothing starts until it is used.
    ///
    /// ```
    /// use mcp_dispatch::{Hub, ServerConfig};
    ///
    /// let hub = Hub::builder().build()?;
    /// hub.add_server("files", ServerConfig::stdio("my-files-server"));
    /// assert_eq!(hub.server_names(), ["files"]);
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn add_server(&self, name: impl Into<String>, config: ServerConfig) {
        self.add_server_with_filter(name, config, ToolFilter::all());
    }

    /// [`add_server`](Hub::add_server) with a tool filter.
    ///
    /// ```
    /// use mcp_dispatch::{Hub, ServerConfig, ToolFilter};
    ///
    /// let hub = Hub::builder().build()?;
    /// hub.add_server_with_filter("files", ServerConfig::stdio("my-files-server"), ToolFilter::block(["delete"]));
    /// assert_eq!(hub.server_names(), ["files"]);
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn add_server_with_filter(
        &self,
        name: impl Into<String>,
        config: ServerConfig,
        filter: ToolFilter,
    ) {
        let setup = ServerSetup::new(name.into(), Ok(config), filter);
        if let Some(old) = self.insert(setup) {
            drop(old.close());
        }
    }

    /// Removes the server `name` and closes it in the background. Returns whether it was
    /// there.
    ///
    /// ```
    /// use mcp_dispatch::{Hub, ServerConfig};
    ///
    /// let hub = Hub::builder().server("files", ServerConfig::stdio("my-files-server")).build()?;
    /// assert!(hub.remove_server("files"));
    /// assert!(!hub.remove_server("files"));
    /// assert!(hub.server_names().is_empty());
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn remove_server(&self, name: &str) -> bool {
        let removed = write(&self.inner.servers).remove(name);
        match removed {
            Some(entry) => {
                if let Ok(client) = entry.client {
                    // Dropping the last handle closes the session in the background.
                    drop(client);
                }
                true
            }
            None => false,
        }
    }

    /// Subscribes to the [`Notification`](crate::Notification)s of every server in the hub.
    ///
    /// ```
    /// use mcp_dispatch::Hub;
    ///
    /// let hub = Hub::builder().build()?;
    /// let notifications = hub.notifications();
    /// assert!(notifications.try_recv().is_none());
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn notifications(&self) -> Notifications {
        self.inner.bus.subscribe()
    }

    /// Lists the tools of every server, asking them all concurrently.
    ///
    /// A server that fails does not hide the others: its error (naming it) goes into
    /// [`HubTools::errors`]. Each server's list is cached as described in
    /// [`Client::list_tools`].
    ///
    /// # Qualified names
    ///
    /// Every tool gets one qualified name, unique across the hub, made by [`ToolNames`]:
    /// `server__tool` (with the hub's separator), each char outside `[a-zA-Z0-9_-]` turned
    /// into `_`, at most 64 chars. Two rules keep the names unique:
    ///
    /// - A server that lists the same tool name more than once has only its *first* listing
    ///   offered; the later ones are dropped, with a `log::warn!`. Filters see only that
    ///   first listing.
    /// - Tools whose names come out the same after sanitising or cutting (the tools `a.b`
    ///   and `a_b` of one server, or the same tool of the servers `my.files` and
    ///   `my_files`) all get `_` and 8 hex digits of a hash of their original names, as
    ///   described under [`ToolNames`]. Tools that do not collide keep their plain names.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use mcp_dispatch::Hub;
    ///
    /// let hub = Hub::from_path("mcp.json")?;
    /// let listed = futures::executor::block_on(hub.list_tools());
    /// assert!(listed.errors.is_empty(), "{:?}", listed.errors);
    /// let functions: Vec<_> = listed.tools.iter().map(|tool| tool.function_json()).collect();
    /// # drop(functions);
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    ///
    /// [`ToolNames`]: crate::ToolNames
    pub fn list_tools(&self) -> impl Future<Output = HubTools> + Send + 'static {
        let inner = self.inner.clone();
        let servers: Vec<(String, Result<Client>, ToolFilter)> = read(&inner.servers)
            .iter()
            .map(|(name, entry)| (name.clone(), entry.client.clone(), entry.filter.clone()))
            .collect();
        async move {
            let listings = futures::future::join_all(servers.into_iter().map(
                |(name, client, filter)| async move {
                    let listed = match client {
                        Ok(client) => client.list_tools().await,
                        Err(error) => Err(error),
                    };
                    (name, listed, filter)
                },
            ))
            .await;
            let mut errors = Vec::new();
            let mut offered = Vec::new();
            for (server, listed, filter) in listings {
                match listed {
                    Ok(tools) => offered.extend(
                        first_of_each_name(&server, tools)
                            .filter(|tool| filter.allows(tool))
                            .map(|tool| (server.clone(), tool)),
                    ),
                    Err(error) => errors.push(error),
                }
            }
            let names = ToolNames::new(
                &inner.defaults.separator,
                offered
                    .iter()
                    .map(|(server, tool)| (server.as_str(), tool.name.as_ref())),
            );
            let mut tools: Vec<HubTool> = offered
                .into_iter()
                .map(|(server, tool)| HubTool {
                    name: names
                        .qualified(&server, &tool.name)
                        .expect("every listed tool is named")
                        .to_owned(),
                    server,
                    tool,
                })
                .collect();
            tools.sort_by(|a, b| a.name.cmp(&b.name));
            *lock(&inner.names) = names;
            HubTools { tools, errors }
        }
    }

    /// Calls a tool by its qualified name (as in [`HubTool::name`]), with the hub's call
    /// timeout and retry policy.
    ///
    /// If the name is not known from the last listing, the tools are listed first. The call
    /// itself is [`Client::call_tool`] on the server that offers the tool.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTool`] if no server offers a tool of that name (or the filter blocks
    /// it); the error of the server's configuration if it is invalid; otherwise as
    /// [`Client::call_tool`].
    ///
    /// # Example
    ///
    /// ```no_run
    /// use mcp_dispatch::Hub;
    /// use serde_json::json;
    ///
    /// let hub = Hub::from_path("mcp.json")?;
    /// let call = hub.call_tool("files__list_directory", json!({"path": "/tmp"}));
    /// let result = futures::executor::block_on(call)?;
    /// assert_ne!(result.is_error, Some(true));
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn call_tool(
        &self,
        name: impl Into<String>,
        arguments: serde_json::Value,
    ) -> impl Future<Output = Result<CallToolResult>> + Send + 'static {
        self.call_tool_with(name, arguments, CallOptions::new())
    }

    /// [`call_tool`](Hub::call_tool) with per-call options: timeout, timeout reset on
    /// progress, retry policy, and a callback for the server's progress reports
    /// ([`CallOptions::on_progress`]). The options apply to the call, not to the listing that
    /// may come first to resolve the name.
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Hub::call_tool); [`Error::Timeout`] names the server and its own name
    /// for the tool.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use mcp_dispatch::{CallOptions, Error, Hub};
    /// use serde_json::json;
    ///
    /// let hub = Hub::from_path("mcp.json")?;
    /// let options = CallOptions::new().timeout(Duration::from_secs(5));
    /// let call = hub.call_tool_with("search__query", json!({"q": "rust"}), options);
    /// match futures::executor::block_on(call) {
    ///     Err(Error::Timeout { server, .. }) => assert_eq!(server, "search"),
    ///     other => drop(other?),
    /// }
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn call_tool_with(
        &self,
        name: impl Into<String>,
        arguments: serde_json::Value,
        options: CallOptions,
    ) -> impl Future<Output = Result<CallToolResult>> + Send + 'static {
        let hub = self.clone();
        let name = name.into();
        async move {
            let (server, tool) = match hub.resolve(&name) {
                Some(found) => found,
                None => {
                    let listed = hub.list_tools().await;
                    match hub.resolve(&name) {
                        Some(found) => found,
                        // The server the name points at could not be listed: its error
                        // says why, where "unknown tool" would not.
                        None => return Err(hub.unlisted(&name, listed.errors)),
                    }
                }
            };
            let client = read(&hub.inner.servers)
                .get(&server)
                .map(|entry| entry.client.clone())
                .ok_or_else(|| hub.unknown_tool(&name))??;
            client.call_tool_with(tool, arguments, options).await
        }
    }

    /// Closes every server, concurrently, each as [`Client::close`] does. Later calls fail
    /// with [`Error::Closed`]. Closing twice is fine.
    ///
    /// A server whose configuration is invalid has nothing to close and is skipped.
    ///
    /// # Errors
    ///
    /// The first error in the order of [`server_names`](Hub::server_names), which names its
    /// server ([`Error::Shutdown`] if that server's dispatcher is gone). The other servers are
    /// closed all the same.
    ///
    /// # Example
    ///
    /// ```
    /// use mcp_dispatch::{Hub, ServerConfig};
    ///
    /// let hub = Hub::builder().server("files", ServerConfig::stdio("my-files-server")).build()?;
    /// futures::executor::block_on(hub.close())?; // nothing was started: returns at once
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn close(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        let clients: Vec<Client> = read(&self.inner.servers)
            .values()
            .filter_map(|entry| entry.client.as_ref().ok().cloned())
            .collect();
        async move {
            futures::future::join_all(clients.iter().map(Client::close))
                .await
                .into_iter()
                .collect()
        }
    }

    /// Blocking form of [`list_tools`](Hub::list_tools).
    ///
    /// Unlike [`Client::list_tools_blocking`], this does not return a `Result`: one server
    /// failing does not fail the others, so the [`HubTools`] holds the tools of those that
    /// answered and an error for each that did not. For `?`, use
    /// [`HubTools::into_result`], which fails on the first error.
    ///
    /// # Blocking
    ///
    /// Waits on the calling thread, bounded by the connect and call timeouts (plus a few
    /// seconds). Where a blocking call would deadlock (as for [`Client::list_tools_blocking`])
    /// it returns at once, every server reporting [`Error::WouldDeadlock`]; past the bound,
    /// every server reports [`Error::Timeout`].
    ///
    /// # Example
    ///
    /// ```no_run
    /// use mcp_dispatch::Hub;
    ///
    /// let hub = Hub::from_path("mcp.json")?;
    /// let listed = hub.list_tools_blocking();
    /// for error in &listed.errors {
    ///     eprintln!("{error}"); // each names its server
    /// }
    /// // Or: every server must answer.
    /// let tools = hub.list_tools_blocking().into_result()?;
    /// # drop(tools);
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn list_tools_blocking(&self) -> HubTools {
        let every_server = |error: &dyn Fn(String) -> Error| HubTools {
            tools: Vec::new(),
            errors: self.server_names().into_iter().map(error).collect(),
        };
        if self.blocking_would_deadlock(None) {
            return every_server(&|server| Error::WouldDeadlock {
                server,
                method: "list_tools_blocking",
            });
        }
        let bound = self.listing_bound();
        block_on_bounded(self.list_tools(), bound).unwrap_or_else(|| {
            every_server(&|server| Error::Timeout {
                server,
                tool: None,
                timeout: bound,
            })
        })
    }

    /// Blocking form of [`call_tool`](Hub::call_tool).
    ///
    /// # Blocking
    ///
    /// As [`call_tool_with_blocking`](Hub::call_tool_with_blocking) with the hub's call
    /// timeout.
    ///
    /// # Errors
    ///
    /// As [`call_tool_with_blocking`](Hub::call_tool_with_blocking).
    ///
    /// # Example
    ///
    /// ```no_run
    /// use mcp_dispatch::Hub;
    /// use serde_json::json;
    ///
    /// let hub = Hub::from_path("mcp.json")?;
    /// let result = hub.call_tool_blocking("files__list_directory", json!({"path": "/tmp"}))?;
    /// assert_ne!(result.is_error, Some(true));
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn call_tool_blocking(
        &self,
        name: impl Into<String>,
        arguments: serde_json::Value,
    ) -> Result<CallToolResult> {
        self.call_blocking(
            "call_tool_blocking",
            name.into(),
            arguments,
            CallOptions::new(),
        )
    }

    /// Blocking form of [`call_tool_with`](Hub::call_tool_with).
    ///
    /// # Blocking
    ///
    /// Waits on the calling thread. The bound covers a listing (as
    /// [`list_tools_blocking`](Hub::list_tools_blocking)) and then the call, which follows
    /// the call's own timeout: a longer [`CallOptions::timeout`] or
    /// [`CallOptions::reset_timeout_on_progress`] waits longer. Where waiting would keep the
    /// call's job from running it returns [`Error::WouldDeadlock`] at once, as
    /// [`Client::list_tools_blocking`] does, and a job the dispatcher never starts ends in
    /// [`Error::NotDispatched`].
    ///
    /// # Errors
    ///
    /// As [`call_tool_with`](Hub::call_tool_with), plus [`Error::WouldDeadlock`] and, past
    /// the bound, [`Error::Timeout`] or [`Error::NotDispatched`]; each names the server (or, if the name is not resolved
    /// yet, the qualified name).
    ///
    /// # Example
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use mcp_dispatch::{CallOptions, Hub};
    /// use serde_json::json;
    ///
    /// let hub = Hub::from_path("mcp.json")?;
    /// // A long job that reports progress: give up after 10 s of silence or 10 min in all.
    /// let options = CallOptions::new()
    ///     .timeout(Duration::from_secs(10))
    ///     .reset_timeout_on_progress(Duration::from_secs(600));
    /// let result = hub.call_tool_with_blocking("build__run", json!({}), options)?;
    /// assert_ne!(result.is_error, Some(true));
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn call_tool_with_blocking(
        &self,
        name: impl Into<String>,
        arguments: serde_json::Value,
        options: CallOptions,
    ) -> Result<CallToolResult> {
        self.call_blocking("call_tool_with_blocking", name.into(), arguments, options)
    }

    /// The blocking call behind `method`: refused where it would deadlock, else bounded by
    /// a listing and the call's own timeout.
    fn call_blocking(
        &self,
        method: &'static str,
        name: String,
        arguments: serde_json::Value,
        options: CallOptions,
    ) -> Result<CallToolResult> {
        let server = self.server_of(&name);
        if self.blocking_would_deadlock(Some(&server)) {
            return Err(Error::WouldDeadlock { server, method });
        }
        let longest = crate::session::request::Deadline {
            timeout: options
                .timeout
                .unwrap_or(self.inner.defaults.settings.policy.call_timeout),
            reset_on_progress: options.reset_on_progress,
        }
        .longest();
        // Listing (if the name is not resolved yet), then calling.
        let bound = self.listing_bound() + self.request_bound(longest);
        let call = self.call_tool_with(name.clone(), arguments, options);
        let what = || format!("server `{server}`: `{method}`");
        match wait_for_jobs(&what, bound, call) {
            Waited::Done(outcome) => outcome,
            Waited::TimedOut => Err(Error::Timeout {
                server,
                tool: Some(name),
                timeout: bound,
            }),
            Waited::NotDispatched => Err(Error::NotDispatched {
                server,
                method,
                waited: bound,
            }),
        }
    }

    /// True where a blocking call would deadlock: for `server`'s client, or for any of the
    /// hub's when no server is named (or the name is not one of them).
    fn blocking_would_deadlock(&self, server: Option<&str>) -> bool {
        if crate::runtime::blocking_would_deadlock() {
            return true;
        }
        let servers = read(&self.inner.servers);
        let would = |entry: &Entry| {
            entry
                .client
                .as_ref()
                .is_ok_and(Client::blocking_would_deadlock)
        };
        match server.and_then(|server| servers.get(server)) {
            Some(entry) => would(entry),
            None => servers.values().any(would),
        }
    }

    /// Blocking form of [`close`](Hub::close).
    ///
    /// # Blocking
    ///
    /// Waits on the calling thread, bounded by the close timeout
    /// ([`HubBuilder::close_timeout`]) plus a few seconds, as the servers close concurrently.
    ///
    /// # Errors
    ///
    /// As [`close`](Hub::close); [`Error::WouldDeadlock`] on a thread that runs this
    /// library's jobs, and [`Error::Timeout`] if the servers did not close within the bound;
    /// both name the first server (the others are in the same state).
    ///
    /// # Example
    ///
    /// ```
    /// use mcp_dispatch::{Hub, ServerConfig};
    ///
    /// let hub = Hub::builder().server("files", ServerConfig::stdio("my-files-server")).build()?;
    /// hub.close_blocking()?;
    /// hub.close_blocking()?; // closing twice is fine
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn close_blocking(&self) -> Result<()> {
        let Some(first) = self.server_names().into_iter().next() else {
            return Ok(()); // No server: nothing to close.
        };
        if self.blocking_would_deadlock(None) {
            return Err(Error::WouldDeadlock {
                server: first,
                method: "close_blocking",
            });
        }
        let bound = crate::runtime::blocking::close_bound(
            self.inner.defaults.settings.policy.close_timeout,
        );
        block_on_bounded(self.close(), bound).unwrap_or(Err(Error::Timeout {
            server: first,
            tool: None,
            timeout: bound,
        }))
    }

    /// The server behind a qualified name if it is known, else the name itself.
    fn server_of(&self, qualified: &str) -> String {
        self.resolve(qualified)
            .map_or_else(|| qualified.to_owned(), |(server, _)| server)
    }

    /// How long a blocking wait for one request may take when it can take `longest` once
    /// connected.
    fn request_bound(&self, longest: Duration) -> Duration {
        crate::runtime::blocking::request_bound(
            self.inner.defaults.settings.policy.connect_timeout,
            longest,
        )
    }

    /// How long listing every server may take: they are listed concurrently.
    fn listing_bound(&self) -> Duration {
        self.request_bound(self.inner.defaults.settings.policy.call_timeout)
    }

    /// The error for a qualified name that no listing resolved: the listing error of the
    /// server it names (`server` then the separator), if that server could not be listed, or
    /// else [`unknown_tool`](Hub::unknown_tool).
    fn unlisted(&self, name: &str, errors: Vec<Error>) -> Error {
        let separator = &self.inner.defaults.separator;
        errors
            .into_iter()
            .find(|error| {
                error.server().is_some_and(|server| {
                    name.strip_prefix(server)
                        .is_some_and(|rest| rest.starts_with(separator.as_str()))
                })
            })
            .unwrap_or_else(|| self.unknown_tool(name))
    }

    /// The error for a qualified name no server offers, with the names probably meant.
    fn unknown_tool(&self, name: &str) -> Error {
        Error::UnknownTool {
            name: name.to_owned(),
            did_you_mean: lock(&self.inner.names).similar(name),
        }
    }

    fn resolve(&self, qualified: &str) -> Option<(String, String)> {
        lock(&self.inner.names)
            .resolve(qualified)
            .map(|(server, tool)| (server.to_owned(), tool.to_owned()))
    }

    /// Builds the client of a server and stores it, returning the one it replaces.
    pub(crate) fn insert(&self, setup: ServerSetup) -> Option<Client> {
        let ServerSetup {
            name,
            config,
            filter,
            handlers,
        } = setup;
        let client = config.map(|config| {
            self.inner
                .defaults
                .client(config.name(name.clone()), handlers)
                .hub_bus(self.inner.bus.clone())
                .build()
        });
        let old = write(&self.inner.servers).insert(name, Entry { client, filter });
        old.and_then(|entry| entry.client.ok())
    }
}

/// The tools of one server's listing with each name once: the first listing of a name wins,
/// and each later one is dropped with a warning.
fn first_of_each_name(server: &str, tools: Vec<Tool>) -> impl Iterator<Item = Tool> + '_ {
    let mut seen = HashSet::with_capacity(tools.len());
    tools.into_iter().filter(move |tool| {
        let first = seen.insert(tool.name.clone());
        if !first {
            log::warn!(
                "mcp-dispatch: server `{server}` lists the tool `{}` more than once; \
                 the hub offers its first listing",
                tool.name
            );
        }
        first
    })
}
