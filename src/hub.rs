//! Many servers behind one handle, with tool names an LLM API accepts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rmcp::model::{CallToolResult, Tool};

use crate::blocking::block_on_bounded;
use crate::client::{Client, ClientBuilder};
use crate::config::ServerConfig;
use crate::dispatcher::Dispatcher;
use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::handlers::Handlers;
use crate::jobs::Target;
use crate::names::{ToolNames, is_valid_separator};
use crate::notify::{Bus, Notifications};
use crate::options::Retry;
use crate::sync::lock;

const DEFAULT_SEPARATOR: &str = "__";
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);
const BLOCKING_SLACK: Duration = Duration::from_secs(5);

/// Which of a server's tools a [`Hub`] offers.
///
/// ```
/// use mcp_dispatch::ToolFilter;
/// use mcp_dispatch::model::Tool;
///
/// let tool = |name: &str| Tool::new(name.to_owned(), "", serde_json::Map::new());
/// let allow = ToolFilter::allow(["read_file", "list_dir"]);
/// assert!(allow.allows(&tool("read_file")));
/// assert!(!allow.allows(&tool("delete_file")));
/// let block = ToolFilter::block(["delete_file"]);
/// assert!(!block.allows(&tool("delete_file")));
/// let read_only = ToolFilter::predicate(|tool| tool.name.starts_with("read"));
/// assert!(read_only.allows(&tool("read_file")));
/// ```
#[derive(Clone)]
pub struct ToolFilter(Arc<dyn Fn(&Tool) -> bool + Send + Sync>);

impl std::fmt::Debug for ToolFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolFilter").finish_non_exhaustive()
    }
}

impl Default for ToolFilter {
    fn default() -> ToolFilter {
        ToolFilter::all()
    }
}

impl ToolFilter {
    /// Every tool.
    pub fn all() -> ToolFilter {
        ToolFilter(Arc::new(|_| true))
    }

    /// Only the tools named here (by their names on the server).
    pub fn allow<I, S>(names: I) -> ToolFilter
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: HashSet<String> = names.into_iter().map(Into::into).collect();
        ToolFilter(Arc::new(move |tool| names.contains(tool.name.as_ref())))
    }

    /// Every tool except those named here.
    pub fn block<I, S>(names: I) -> ToolFilter
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: HashSet<String> = names.into_iter().map(Into::into).collect();
        ToolFilter(Arc::new(move |tool| !names.contains(tool.name.as_ref())))
    }

    /// The tools for which `predicate` returns `true`.
    pub fn predicate(predicate: impl Fn(&Tool) -> bool + Send + Sync + 'static) -> ToolFilter {
        ToolFilter(Arc::new(predicate))
    }

    /// Whether `tool` passes the filter.
    pub fn allows(&self, tool: &Tool) -> bool {
        (self.0)(tool)
    }
}

/// One tool offered by a [`Hub`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HubTool {
    /// The qualified name to show an LLM and to pass to [`Hub::call_tool`]: matches
    /// `^[a-zA-Z0-9_-]{1,64}$`, unique across the hub (see [`Hub::list_tools`] for how
    /// duplicates and collisions are resolved).
    pub name: String,
    /// The server that offers it.
    pub server: String,
    /// The tool as the server describes it (its `name` is the server's own).
    pub tool: Tool,
}

impl HubTool {
    /// The tool in the shape LLM function-calling APIs take:
    /// `{"type": "function", "function": {"name", "description", "parameters"}}`, with the
    /// qualified name and the tool's input JSON schema as given by the server.
    ///
    /// ```
    /// use mcp_dispatch::HubTool;
    /// # fn show(tool: &HubTool) {
    /// let function = tool.function_json();
    /// assert_eq!(function["type"], "function");
    /// assert_eq!(function["function"]["name"], tool.name.as_str());
    /// # }
    /// ```
    pub fn function_json(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.tool.description.as_deref().unwrap_or_default(),
                "parameters": serde_json::Value::Object(self.tool.input_schema.as_ref().clone()),
            }
        })
    }
}

/// What [`Hub::list_tools`] found: the tools of every server that answered, and an error
/// for each server that did not.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct HubTools {
    /// The tools, sorted by qualified name; no two share a name.
    pub tools: Vec<HubTool>,
    /// One error per server that could not be listed; each names its server.
    pub errors: Vec<Error>,
}

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

/// How one server of a hub is set up beyond the hub's defaults.
struct ServerSetup {
    name: String,
    config: Result<ServerConfig>,
    filter: ToolFilter,
    handlers: Option<Handlers>,
}

impl ServerSetup {
    fn new(name: String, config: Result<ServerConfig>, filter: ToolFilter) -> ServerSetup {
        ServerSetup {
            name,
            config,
            filter,
            handlers: None,
        }
    }
}

struct HubInner {
    servers: RwLock<BTreeMap<String, Entry>>,
    /// The names from the last listing, to resolve qualified names.
    names: Mutex<ToolNames>,
    defaults: Defaults,
    bus: Arc<Bus>,
}

#[derive(Clone)]
struct Defaults {
    target: Option<Target>,
    separator: String,
    connect_timeout: Duration,
    call_timeout: Duration,
    max_message_size: Option<usize>,
    retry: Retry,
    handlers: Handlers,
}

/// Configures a [`Hub`]. Made by [`Hub::builder`].
///
/// ```
/// use std::time::Duration;
/// use mcp_dispatch::{Hub, ServerConfig, ToolFilter};
///
/// let hub = Hub::builder()
///     .separator("-")
///     .call_timeout(Duration::from_secs(30))
///     .server("files", ServerConfig::stdio("my-files-server"))
///     .server_with_filter("web", ServerConfig::http("http://127.0.0.1:8000/mcp"), ToolFilter::block(["delete"]))
///     .build()?;
/// assert_eq!(hub.server_names(), ["files", "web"]);
/// # Ok::<(), mcp_dispatch::Error>(())
/// ```
pub struct HubBuilder {
    defaults: Defaults,
    servers: Vec<ServerSetup>,
    /// Name to the position of its last setup in `servers`, so that setting a server's
    /// filter or handlers does not scan them all.
    positions: HashMap<String, usize>,
}

impl std::fmt::Debug for HubBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubBuilder")
            .field("separator", &self.defaults.separator)
            .field("servers", &self.servers.len())
            .finish_non_exhaustive()
    }
}

impl HubBuilder {
    /// Runs every server's jobs on `executor` instead of the shared one; its
    /// [shutdown](Executor#shutdown) closes every server of the hub. See
    /// [`ClientBuilder::executor`].
    pub fn executor(mut self, executor: Executor) -> HubBuilder {
        self.defaults.target = Some(Target::Executor(executor));
        self
    }

    /// Runs every server's jobs on a host's `dispatcher` instead of the shared [`Executor`].
    /// See [`ClientBuilder::dispatcher`].
    pub fn dispatcher<D: Dispatcher>(mut self, dispatcher: D) -> HubBuilder {
        self.defaults.target = Some(Target::Host(Arc::new(dispatcher)));
        self
    }

    /// The separator between server and tool in qualified names (default `__`). It must be
    /// 1 to 8 characters from `[a-zA-Z0-9_-]`.
    pub fn separator(mut self, separator: impl Into<String>) -> HubBuilder {
        self.defaults.separator = separator.into();
        self
    }

    /// The connect timeout of every server (default 30 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> HubBuilder {
        self.defaults.connect_timeout = timeout;
        self
    }

    /// The call timeout of every server (default 60 s).
    pub fn call_timeout(mut self, timeout: Duration) -> HubBuilder {
        self.defaults.call_timeout = timeout;
        self
    }

    /// The largest message every stdio server may send (default 64 MiB); see
    /// [`ClientBuilder::max_message_size`].
    pub fn max_message_size(mut self, bytes: usize) -> HubBuilder {
        self.defaults.max_message_size = Some(bytes);
        self
    }

    /// The retry policy of every server (default [`Retry::IfSafe`]).
    pub fn retry(mut self, retry: Retry) -> HubBuilder {
        self.defaults.retry = retry;
        self
    }

    /// Handlers for server-to-client requests, for every server without its own.
    pub fn handlers(mut self, handlers: Handlers) -> HubBuilder {
        self.defaults.handlers = handlers;
        self
    }

    /// Handlers for the server `name` (already added), instead of the hub's.
    pub fn handlers_for(mut self, name: &str, handlers: Handlers) -> HubBuilder {
        if let Some(setup) = self.setup_mut(name) {
            setup.handlers = Some(handlers);
        }
        self
    }

    /// Adds a server under `name`, offering all its tools.
    pub fn server(self, name: impl Into<String>, config: ServerConfig) -> HubBuilder {
        self.server_with_filter(name, config, ToolFilter::all())
    }

    /// Adds a server under `name`, offering the tools `filter` lets through.
    pub fn server_with_filter(
        mut self,
        name: impl Into<String>,
        config: ServerConfig,
        filter: ToolFilter,
    ) -> HubBuilder {
        self.push(ServerSetup::new(name.into(), Ok(config), filter));
        self
    }

    /// Sets the tool filter of a server already added (for example from a config file).
    pub fn filter(mut self, name: &str, filter: ToolFilter) -> HubBuilder {
        if let Some(setup) = self.setup_mut(name) {
            setup.filter = filter;
        }
        self
    }

    fn push(&mut self, setup: ServerSetup) {
        self.positions
            .insert(setup.name.clone(), self.servers.len());
        self.servers.push(setup);
    }

    /// The setup of `name`. A name added twice fails [`build`](HubBuilder::build), so the
    /// last setup is the one that matters.
    fn setup_mut(&mut self, name: &str) -> Option<&mut ServerSetup> {
        let position = *self.positions.get(name)?;
        self.servers.get_mut(position)
    }

    /// Adds the servers of an `mcpServers` / `servers` config file's text.
    ///
    /// `${VAR}` and `${VAR:-default}` are expanded from the environment. A server whose
    /// entry is wrong (or asks for an unsupported transport) is still added: its error is
    /// reported by [`Hub::list_tools`] and by calls to it, and the other servers work.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a file that is not valid at all (bad JSON, no server list, a
    /// server listed twice), with the line and column.
    pub fn servers_from_json_str(mut self, text: &str) -> Result<HubBuilder> {
        let entries = crate::config_file::parse(text, &|name| std::env::var(name).ok())?;
        for entry in entries {
            self.push(ServerSetup::new(
                entry.name,
                entry.config,
                ToolFilter::all(),
            ));
        }
        Ok(self)
    }

    /// [`servers_from_json_str`](HubBuilder::servers_from_json_str) on a file's contents.
    ///
    /// # Errors
    ///
    /// As [`servers_from_json_str`](HubBuilder::servers_from_json_str), and
    /// [`Error::Config`] naming the path if it cannot be read, or at the first byte that is
    /// not UTF-8.
    pub fn servers_from_path(self, path: impl AsRef<Path>) -> Result<HubBuilder> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|error| Error::Config {
            server: None,
            field: None,
            line: None,
            column: None,
            message: format!("cannot read {}: {error}", path.display()),
        })?;
        crate::config_file::text(&bytes)
            .and_then(|text| self.servers_from_json_str(text))
            .map_err(|error| match error {
                Error::Config {
                    server,
                    field,
                    line,
                    column,
                    message,
                } => Error::Config {
                    server,
                    field,
                    line,
                    column,
                    message: format!("{}: {message}", path.display()),
                },
                other => other,
            })
    }

    /// Builds the hub. No server is started until it is first used.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if the separator is invalid or two servers share a name.
    pub fn build(self) -> Result<Hub> {
        if !is_valid_separator(&self.defaults.separator) {
            return Err(Error::Config {
                server: None,
                field: Some("separator".to_owned()),
                line: None,
                column: None,
                message: format!(
                    "`{}` is not a valid separator: use 1 to 8 characters from [a-zA-Z0-9_-]",
                    self.defaults.separator
                ),
            });
        }
        let hub = Hub {
            inner: Arc::new(HubInner {
                servers: RwLock::new(BTreeMap::new()),
                names: Mutex::new(ToolNames::default()),
                defaults: self.defaults,
                bus: Arc::new(Bus::default()),
            }),
        };
        for setup in self.servers {
            if hub.contains(&setup.name) {
                return Err(Error::Config {
                    server: Some(setup.name),
                    field: None,
                    line: None,
                    column: None,
                    message: "a server with this name was added twice".to_owned(),
                });
            }
            hub.insert(setup);
        }
        Ok(hub)
    }
}

impl Hub {
    /// A builder, to add servers in code and choose the dispatcher, separator and timeouts.
    pub fn builder() -> HubBuilder {
        HubBuilder {
            defaults: Defaults {
                target: None,
                separator: DEFAULT_SEPARATOR.to_owned(),
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                call_timeout: DEFAULT_CALL_TIMEOUT,
                max_message_size: None,
                retry: Retry::default(),
                handlers: Handlers::default(),
            },
            servers: Vec::new(),
            positions: HashMap::new(),
        }
    }

    /// A hub of the servers in an `mcpServers` / `servers` config file's text, with default
    /// settings. See [`HubBuilder::servers_from_json_str`].
    ///
    /// # Errors
    ///
    /// As [`HubBuilder::servers_from_json_str`].
    pub fn from_json_str(text: &str) -> Result<Hub> {
        Hub::builder().servers_from_json_str(text)?.build()
    }

    /// A hub of the servers in a config file. See [`HubBuilder::servers_from_path`].
    ///
    /// # Errors
    ///
    /// As [`HubBuilder::servers_from_path`].
    pub fn from_path(path: impl AsRef<Path>) -> Result<Hub> {
        Hub::builder().servers_from_path(path)?.build()
    }

    /// The servers' names, sorted.
    pub fn server_names(&self) -> Vec<String> {
        read(&self.inner.servers).keys().cloned().collect()
    }

    /// The client of the server `name`, if the hub has it and its configuration is valid.
    pub fn client(&self, name: &str) -> Option<Client> {
        read(&self.inner.servers)
            .get(name)
            .and_then(|entry| entry.client.as_ref().ok().cloned())
    }

    /// Adds a server, or replaces the one of that name (which is closed in the background).
    pub fn add_server(&self, name: impl Into<String>, config: ServerConfig) {
        self.add_server_with_filter(name, config, ToolFilter::all());
    }

    /// [`add_server`](Hub::add_server) with a tool filter.
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

    /// Calls a tool by its qualified name (as in [`HubTool::name`]).
    ///
    /// If the name is not known from the last listing, the tools are listed first.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTool`] if no server offers a tool of that name (or the filter blocks
    /// it); the error of the server's configuration if it is invalid; otherwise as
    /// [`Client::call_tool`].
    pub fn call_tool(
        &self,
        name: impl Into<String>,
        arguments: serde_json::Value,
    ) -> impl Future<Output = Result<CallToolResult>> + Send + 'static {
        let hub = self.clone();
        let name = name.into();
        async move {
            let (server, tool) = match hub.resolve(&name) {
                Some(found) => found,
                None => {
                    hub.list_tools().await;
                    hub.resolve(&name)
                        .ok_or_else(|| Error::UnknownTool { name: name.clone() })?
                }
            };
            let client = read(&hub.inner.servers)
                .get(&server)
                .map(|entry| entry.client.clone())
                .ok_or_else(|| Error::UnknownTool { name: name.clone() })??;
            client.call_tool(tool, arguments).await
        }
    }

    /// Closes every server. Later calls fail with [`Error::Closed`].
    pub fn close(&self) -> impl Future<Output = ()> + Send + 'static {
        let clients: Vec<Client> = read(&self.inner.servers)
            .values()
            .filter_map(|entry| entry.client.as_ref().ok().cloned())
            .collect();
        async move {
            futures::future::join_all(clients.iter().map(Client::close)).await;
        }
    }

    /// Blocking form of [`list_tools`](Hub::list_tools).
    ///
    /// # Blocking
    ///
    /// Bounded by the connect and call timeouts. On a thread that runs this library's jobs,
    /// every server reports [`Error::WouldDeadlock`] instead; past the bound, every server
    /// reports [`Error::Timeout`].
    pub fn list_tools_blocking(&self) -> HubTools {
        let every_server = |error: &dyn Fn(String) -> Error| HubTools {
            tools: Vec::new(),
            errors: self.server_names().into_iter().map(error).collect(),
        };
        if on_library_thread() {
            return every_server(&|server| Error::WouldDeadlock {
                server,
                method: "list_tools_blocking",
            });
        }
        let bound = self.bound();
        block_on_bounded(self.list_tools(), bound).unwrap_or_else(|| {
            every_server(&|server| Error::Timeout {
                server,
                tool: None,
                timeout: bound,
            })
        })
    }

    /// Blocking form of [`call_tool`](Hub::call_tool). See
    /// [`list_tools_blocking`](Hub::list_tools_blocking) for how it blocks.
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Hub::call_tool), plus [`Error::WouldDeadlock`] and [`Error::Timeout`]
    /// naming the server (or, if the name is not resolved yet, the qualified name).
    pub fn call_tool_blocking(
        &self,
        name: impl Into<String>,
        arguments: serde_json::Value,
    ) -> Result<CallToolResult> {
        let name = name.into();
        if on_library_thread() {
            return Err(Error::WouldDeadlock {
                server: self.server_of(&name),
                method: "call_tool_blocking",
            });
        }
        // Listing, then calling: two rounds at most.
        let bound = self.bound() * 2;
        block_on_bounded(self.call_tool(name.clone(), arguments), bound).unwrap_or_else(|| {
            Err(Error::Timeout {
                server: self.server_of(&name),
                tool: Some(name),
                timeout: bound,
            })
        })
    }

    /// Blocking form of [`close`](Hub::close). See
    /// [`list_tools_blocking`](Hub::list_tools_blocking) for how it blocks.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`] on a thread that runs this library's jobs, and
    /// [`Error::Timeout`] if the servers did not close within the bound; both name the first
    /// server (the others are in the same state).
    pub fn close_blocking(&self) -> Result<()> {
        let first = self.server_names().into_iter().next().unwrap_or_default();
        if on_library_thread() {
            return Err(Error::WouldDeadlock {
                server: first,
                method: "close_blocking",
            });
        }
        let bound = self.bound();
        block_on_bounded(self.close(), bound).ok_or(Error::Timeout {
            server: first,
            tool: None,
            timeout: bound,
        })
    }

    /// The server behind a qualified name if it is known, else the name itself.
    fn server_of(&self, qualified: &str) -> String {
        self.resolve(qualified)
            .map_or_else(|| qualified.to_owned(), |(server, _)| server)
    }

    fn bound(&self) -> Duration {
        (self.inner.defaults.connect_timeout + self.inner.defaults.call_timeout) * 2
            + BLOCKING_SLACK
    }

    fn resolve(&self, qualified: &str) -> Option<(String, String)> {
        lock(&self.inner.names)
            .resolve(qualified)
            .map(|(server, tool)| (server.to_owned(), tool.to_owned()))
    }

    fn contains(&self, name: &str) -> bool {
        read(&self.inner.servers).contains_key(name)
    }

    /// Builds the client of a server and stores it, returning the one it replaces.
    fn insert(&self, setup: ServerSetup) -> Option<Client> {
        let defaults = &self.inner.defaults;
        let ServerSetup {
            name,
            config,
            filter,
            handlers,
        } = setup;
        let client = config.map(|config| {
            let builder: ClientBuilder = Client::builder(config.name(name.clone()))
                .connect_timeout(defaults.connect_timeout)
                .call_timeout(defaults.call_timeout)
                .retry(defaults.retry)
                .handlers(handlers.unwrap_or_else(|| defaults.handlers.clone()))
                .hub_bus(self.inner.bus.clone());
            let builder = match defaults.max_message_size {
                Some(bytes) => builder.max_message_size(bytes),
                None => builder,
            };
            builder.target(defaults.target.clone()).build()
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

/// True on a thread that runs this library's jobs, where blocking would deadlock.
fn on_library_thread() -> bool {
    crate::runtime::blocking_would_deadlock()
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
