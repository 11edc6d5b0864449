//! `HubBuilder`: a hub's servers, their filters and handlers, and the settings they share.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::client::ClientBuilder;
use crate::client::builder::Settings;
use crate::client::handlers::Handlers;
use crate::client::options::Retry;
use crate::config::ServerConfig;
use crate::config::file::SecretTakers;
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::hub::filter::ToolFilter;
use crate::hub::names::DEFAULT_SEPARATOR;
use crate::hub::names::is_valid_separator;
use crate::oauth::{CredentialStore, SignIn};
use crate::runtime::dispatcher::Dispatcher;
use crate::runtime::executor::Executor;
use crate::runtime::jobs::Target;

/// The settings every server of a hub shares.
#[derive(Clone)]
pub(crate) struct Defaults {
    /// Each server's client settings, as a [`ClientBuilder`] would have them.
    pub(crate) settings: Settings,
    pub(crate) separator: String,
}

impl Defaults {
    /// A client builder for `config` with these settings, and `handlers` if the server has
    /// its own.
    pub(crate) fn client(&self, config: ServerConfig, handlers: Option<Handlers>) -> ClientBuilder {
        let mut settings = self.settings.clone();
        if let Some(handlers) = handlers {
            settings.handlers = handlers;
        }
        ClientBuilder::with_settings(config, settings)
    }
}

/// How one server of a hub is set up beyond the hub's defaults.
pub(crate) struct ServerSetup {
    pub(crate) name: String,
    pub(crate) config: Result<ServerConfig>,
    pub(crate) filter: ToolFilter,
    pub(crate) handlers: Option<Handlers>,
}

impl ServerSetup {
    pub(crate) fn new(
        name: String,
        config: Result<ServerConfig>,
        filter: ToolFilter,
    ) -> ServerSetup {
        ServerSetup {
            name,
            config,
            filter,
            handlers: None,
        }
    }
}

/// Configures a [`Hub`]. Made by [`Hub::builder`].
///
/// Servers come from code ([`server`](HubBuilder::server)) or from config files
/// ([`servers_from_path`](HubBuilder::servers_from_path)); the settings apply to every
/// server. A server's [`filter`](HubBuilder::filter) and
/// [`handlers_for`](HubBuilder::handlers_for) may be given before or after the server itself.
///
/// # Example
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
    /// Filters given by name, applied at [`build`](HubBuilder::build).
    filters: BTreeMap<String, ToolFilter>,
    /// Handlers given by name, applied at [`build`](HubBuilder::build).
    handlers: BTreeMap<String, Handlers>,
    /// The config file entries that take `MCP_CLIENT_SECRET`, from every file read; refused
    /// at [`build`](HubBuilder::build) if there are several.
    secret_takers: SecretTakers,
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
    pub(crate) fn new() -> HubBuilder {
        HubBuilder {
            defaults: Defaults {
                settings: Settings::default(),
                separator: DEFAULT_SEPARATOR.to_owned(),
            },
            servers: Vec::new(),
            filters: BTreeMap::new(),
            handlers: BTreeMap::new(),
            secret_takers: SecretTakers::default(),
        }
    }

    /// Runs every server's jobs on `executor` instead of the shared one; its
    /// [shutdown](Executor#shutdown) closes every server of the hub. See
    /// [`ClientBuilder::executor`].
    pub fn executor(mut self, executor: Executor) -> HubBuilder {
        self.defaults.settings.target = Some(Target::Executor(executor));
        self
    }

    /// Runs every server's jobs on a host's `dispatcher` instead of the shared [`Executor`].
    /// See [`ClientBuilder::dispatcher`].
    pub fn dispatcher<D: Dispatcher>(mut self, dispatcher: D) -> HubBuilder {
        self.defaults.settings.target = Some(Target::Host(Arc::new(dispatcher)));
        self
    }

    /// Runs every server on a tokio application's own runtime, with no library thread. See
    /// [`ClientBuilder::tokio_handle`](crate::ClientBuilder::tokio_handle).
    pub fn tokio_handle(mut self, handle: tokio::runtime::Handle) -> HubBuilder {
        self.defaults.settings.target = Some(Target::Tokio(Arc::new(
            crate::runtime::Runtime::host(handle),
        )));
        self
    }

    /// The separator between server and tool in qualified names (default `__`). It must be
    /// 1 to 8 characters from `[a-zA-Z0-9_-]`; [`build`](HubBuilder::build) checks it.
    pub fn separator(mut self, separator: impl Into<String>) -> HubBuilder {
        self.defaults.separator = separator.into();
        self
    }

    /// The connect timeout of every server (default 30 s); see
    /// [`ClientBuilder::connect_timeout`].
    pub fn connect_timeout(mut self, timeout: Duration) -> HubBuilder {
        self.defaults.settings.policy.connect_timeout = timeout;
        self
    }

    /// The call timeout of every server (default 60 s); see [`ClientBuilder::call_timeout`].
    /// [`CallOptions::timeout`](crate::CallOptions::timeout) overrides it for one call.
    pub fn call_timeout(mut self, timeout: Duration) -> HubBuilder {
        self.defaults.settings.policy.call_timeout = timeout;
        self
    }

    /// How long every server's graceful close may take before its process group is killed
    /// (default 5 s); see [`ClientBuilder::close_timeout`]. It also bounds
    /// [`Hub::close_blocking`], which closes the servers concurrently.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcp_dispatch::{Hub, ServerConfig};
    ///
    /// let hub = Hub::builder()
    ///     .close_timeout(Duration::from_secs(1))
    ///     .server("files", ServerConfig::stdio("my-files-server"))
    ///     .build()?;
    /// hub.close_blocking()?; // nothing was started: returns at once
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn close_timeout(mut self, timeout: Duration) -> HubBuilder {
        self.defaults.settings.policy.close_timeout = timeout;
        self
    }

    /// The largest message every stdio server may send (default 64 MiB); see
    /// [`ClientBuilder::max_message_size`].
    pub fn max_message_size(mut self, bytes: usize) -> HubBuilder {
        self.defaults.settings.policy.max_message_size = bytes.max(1);
        self
    }

    /// Makes a tool that reports failure fail its call with
    /// [`Error::Tool`](crate::Error::Tool), on every server (default off): see
    /// [`ClientBuilder::tool_errors_as_err`](crate::ClientBuilder::tool_errors_as_err).
    pub fn tool_errors_as_err(mut self, as_err: bool) -> HubBuilder {
        self.defaults.settings.policy.tool_errors_as_err = as_err;
        self
    }

    /// The retry policy of every server (default [`Retry::IfSafe`]).
    pub fn retry(mut self, retry: Retry) -> HubBuilder {
        self.defaults.settings.policy.retry = retry;
        self
    }

    /// The host's sign-in step for every server that requires sign-in (see
    /// [`ClientBuilder::sign_in`](crate::ClientBuilder::sign_in)); each server signs in on its
    /// own, with the [`OAuth`](crate::OAuth) settings of its [`ServerConfig`].
    pub fn sign_in(mut self, sign_in: impl SignIn) -> HubBuilder {
        self.defaults.settings.sign_in = Some(Arc::new(sign_in));
        self
    }

    /// Bounds each server's sign-in step, the user's time in the browser (default 5 min):
    /// see [`ClientBuilder::sign_in_timeout`](crate::ClientBuilder::sign_in_timeout).
    pub fn sign_in_timeout(mut self, timeout: Duration) -> HubBuilder {
        self.defaults.settings.sign_in_timeout = timeout;
        self
    }

    /// Where every server's sign-in is kept between runs, under the server's name (see
    /// [`ClientBuilder::credential_store`](crate::ClientBuilder::credential_store)).
    pub fn credential_store(mut self, store: impl CredentialStore) -> HubBuilder {
        self.defaults.settings.credential_store = Some(Arc::new(store));
        self
    }

    /// Handlers for server-to-client requests, for every server without its own
    /// ([`handlers_for`](HubBuilder::handlers_for)).
    pub fn handlers(mut self, handlers: Handlers) -> HubBuilder {
        self.defaults.settings.handlers = handlers;
        self
    }

    /// Handlers for the server `name`, instead of the hub's.
    ///
    /// The server may be added before or after this call, in code or from a config file;
    /// given twice for one name, the last handlers win.
    ///
    /// # Errors
    ///
    /// None here; [`build`](HubBuilder::build) fails with [`Error::Config`] (`field`
    /// `"handlers"`, naming `name`) if no server of that name was added.
    ///
    /// # Example
    ///
    /// ```
    /// use mcp_dispatch::{Error, Handlers, Hub};
    ///
    /// let hub = Hub::builder()
    ///     .handlers_for("files", Handlers::new())
    ///     .servers_from_json_str(r#"{"mcpServers": {"files": {"command": "my-files-server"}}}"#)?
    ///     .build()?;
    /// assert_eq!(hub.server_names(), ["files"]);
    ///
    /// let misspelt = Hub::builder().handlers_for("flies", Handlers::new()).build();
    /// assert!(matches!(misspelt, Err(Error::Config { field: Some(field), .. }) if field == "handlers"));
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn handlers_for(mut self, name: impl Into<String>, handlers: Handlers) -> HubBuilder {
        self.handlers.insert(name.into(), handlers);
        self
    }

    /// Adds a server under `name`, offering all its tools (unless a
    /// [`filter`](HubBuilder::filter) is given for it).
    pub fn server(self, name: impl Into<String>, config: ServerConfig) -> HubBuilder {
        self.server_with_filter(name, config, ToolFilter::all())
    }

    /// Adds a server under `name`, offering the tools `filter` lets through (unless a
    /// [`filter`](HubBuilder::filter) is given for it, which wins).
    pub fn server_with_filter(
        mut self,
        name: impl Into<String>,
        config: ServerConfig,
        filter: ToolFilter,
    ) -> HubBuilder {
        self.servers
            .push(ServerSetup::new(name.into(), Ok(config), filter));
        self
    }

    /// Sets the tool filter of the server `name`, for example one read from a config file.
    ///
    /// The server may be added before or after this call. This filter replaces the one the
    /// server was added with, whichever came first; given twice for one name, the last
    /// filter wins.
    ///
    /// # Errors
    ///
    /// None here; [`build`](HubBuilder::build) fails with [`Error::Config`] (`field`
    /// `"filter"`, naming `name`) if no server of that name was added.
    ///
    /// # Example
    ///
    /// ```
    /// use mcp_dispatch::{Error, Hub, ToolFilter};
    ///
    /// let hub = Hub::builder()
    ///     .filter("files", ToolFilter::allow(["read_file"]))
    ///     .servers_from_json_str(r#"{"mcpServers": {"files": {"command": "my-files-server"}}}"#)?
    ///     .build()?;
    /// assert_eq!(hub.server_names(), ["files"]);
    ///
    /// let misspelt = Hub::builder().filter("flies", ToolFilter::all()).build();
    /// assert!(matches!(misspelt, Err(Error::Config { field: Some(field), .. }) if field == "filter"));
    /// # Ok::<(), mcp_dispatch::Error>(())
    /// ```
    pub fn filter(mut self, name: impl Into<String>, filter: ToolFilter) -> HubBuilder {
        self.filters.insert(name.into(), filter);
        self
    }

    /// Adds the servers of an `mcpServers` / `servers` config file's text.
    ///
    /// The text is JSON, or JSONC as VS Code writes it: `//` and `/* */` comments and
    /// trailing commas are accepted.
    ///
    /// `${VAR}` and `${VAR:-default}` are expanded from the environment. A server whose
    /// entry is wrong (or asks for an unsupported transport) is still added: its error is
    /// reported by [`Hub::list_tools`] and by calls to it, and the other servers work.
    ///
    /// An HTTP entry's sign-in settings become its [`OAuth`](crate::OAuth): Claude Code's
    /// and VS Code's `"oauth": {"clientId", "clientSecret", "callbackPort",
    /// "authServerMetadataUrl", "scopes": "read write"}`, or Cursor's `"auth": {"CLIENT_ID",
    /// "CLIENT_SECRET", "scopes": ["read", "write"]}`. An `oauth` with a `clientId` and no
    /// `clientSecret` takes the secret from the `MCP_CLIENT_SECRET` environment variable if
    /// it is set, as `claude mcp add --client-secret` does, unless several entries of the
    /// hub would (from this file or another): then [`build`](HubBuilder::build) makes each
    /// of them fail with [`Error::Config`], naming the others.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a file that is not valid at all (bad JSON, no server list, a
    /// server listed twice), with the line and column.
    pub fn servers_from_json_str(self, text: &str) -> Result<HubBuilder> {
        self.servers_from_text(text, None, &environment)
    }

    /// [`servers_from_json_str`](HubBuilder::servers_from_json_str) on a file's contents.
    ///
    /// # Errors
    ///
    /// As [`servers_from_json_str`](HubBuilder::servers_from_json_str), with the file's
    /// `path` in each [`Error::Config`] (shown as `path:line:column: message`), and
    /// [`Error::Config`] if it cannot be read (its `source` is the io error), or at the first
    /// byte that is not UTF-8.
    pub fn servers_from_path(self, path: impl AsRef<Path>) -> Result<HubBuilder> {
        self.servers_from_file(path.as_ref(), &environment)
    }

    /// [`servers_from_path`](HubBuilder::servers_from_path), with variables read by `lookup`.
    pub(crate) fn servers_from_file(
        self,
        path: &Path,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<HubBuilder> {
        let bytes = std::fs::read(path).map_err(|error| Error::Config {
            server: None,
            field: None,
            line: None,
            column: None,
            message: "cannot read the file".to_owned(),
            path: Some(std::sync::Arc::new(path.to_owned())),
            source: Some(std::sync::Arc::new(error)),
        })?;
        crate::config::file::text(&bytes)
            .and_then(|text| self.servers_from_text(text, Some(path), lookup))
            .map_err(|mut error| {
                if let Error::Config {
                    path: at @ None, ..
                } = &mut error
                {
                    *at = Some(std::sync::Arc::new(path.to_owned()));
                }
                error
            })
    }

    /// Adds the servers of a config file's `text`, read from `file` if it was, with variables
    /// read by `lookup`.
    fn servers_from_text(
        mut self,
        text: &str,
        file: Option<&Path>,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<HubBuilder> {
        let entries = crate::config::file::parse(text, lookup)?;
        self.secret_takers.add(&entries, file);
        for entry in entries {
            self.servers.push(ServerSetup::new(
                entry.name,
                entry.config,
                ToolFilter::all(),
            ));
        }
        Ok(self)
    }

    /// Builds the hub. No server is started until it is first used.
    ///
    /// As with [`ClientBuilder::build`](crate::ClientBuilder::build), the library's threads
    /// are not a reason to fail here: if they cannot be started, every call to the hub's
    /// servers returns [`Error::Runtime`].
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if the separator is invalid, two servers share a name, or a
    /// [`filter`](HubBuilder::filter) or [`handlers_for`](HubBuilder::handlers_for) names a
    /// server that was not added (`field` is `"filter"` or `"handlers"`). Config file entries
    /// that would share `MCP_CLIENT_SECRET` are not an error here: each of those servers
    /// fails on its own (see [`servers_from_json_str`](HubBuilder::servers_from_json_str)).
    pub fn build(mut self) -> Result<Hub> {
        if !is_valid_separator(&self.defaults.separator) {
            return Err(config_error(
                None,
                "separator",
                format!(
                    "`{}` is not a valid separator: use 1 to 8 characters from [a-zA-Z0-9_-]",
                    self.defaults.separator
                ),
            ));
        }
        let mut names = HashSet::with_capacity(self.servers.len());
        for setup in &self.servers {
            if !names.insert(setup.name.as_str()) {
                return Err(Error::Config {
                    server: Some(setup.name.clone()),
                    field: None,
                    line: None,
                    column: None,
                    message: "a server with this name was added twice".to_owned(),
                    path: None,
                    source: None,
                });
            }
        }
        only_known(&names, "filter", self.filters.keys())?;
        only_known(&names, "handlers", self.handlers.keys())?;
        let mut refusals: HashMap<&str, Error> = self.secret_takers.refusals().collect();
        for setup in &mut self.servers {
            if let Some(refusal) = refusals.remove(setup.name.as_str()) {
                setup.config = Err(refusal);
            }
            if let Some(filter) = self.filters.remove(&setup.name) {
                setup.filter = filter;
            }
            setup.handlers = self.handlers.remove(&setup.name);
        }
        let hub = Hub::new(self.defaults);
        for setup in self.servers {
            hub.insert(setup);
        }
        Ok(hub)
    }
}

/// Fails with the first of `given` that is not among `names`: a setting of `field` for a
/// server that was never added.
fn only_known<'a>(
    names: &HashSet<&str>,
    field: &str,
    mut given: impl Iterator<Item = &'a String>,
) -> Result<()> {
    match given.find(|name| !names.contains(name.as_str())) {
        Some(name) => Err(config_error(
            Some(name.clone()),
            field,
            "no server of this name was added".to_owned(),
        )),
        None => Ok(()),
    }
}

/// Reads an environment variable for a config file.
fn environment(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn config_error(server: Option<String>, field: &str, message: String) -> Error {
    Error::Config {
        server,
        field: Some(field.to_owned()),
        line: None,
        column: None,
        message,
        path: None,
        source: None,
    }
}
