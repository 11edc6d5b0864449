//! How to reach one server.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// How to start or reach one MCP server, and what to call it in errors and logs.
///
/// Today servers are child processes spoken to over stdin/stdout
/// ([`ServerConfig::stdio`]). The type is opaque so that other transports can be added
/// without breaking changes.
///
/// # Example
///
/// ```
/// use mcp_dispatch::ServerConfig;
///
/// let config = ServerConfig::stdio("npx")
///     .args(["-y", "@modelcontextprotocol/server-everything"])
///     .env("LOG_LEVEL", "debug")
///     .cwd("/tmp")
///     .name("everything");
/// assert_eq!(config.server_name(), "everything");
/// assert_eq!(ServerConfig::stdio("/usr/bin/my-server").server_name(), "my-server");
/// ```
#[derive(Clone, Debug)]
pub struct ServerConfig {
    name: Option<String>,
    pub(crate) transport: TransportConfig,
}

#[derive(Clone, Debug)]
#[non_exhaustive]
pub(crate) enum TransportConfig {
    Stdio(StdioConfig),
}

#[derive(Clone, Debug)]
pub(crate) struct StdioConfig {
    pub(crate) command: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) cwd: Option<PathBuf>,
}

impl ServerConfig {
    /// A server started as a child process running `command`, spoken to over its
    /// stdin/stdout. Its stderr is forwarded to `log` at debug level.
    ///
    /// The command is looked up on `PATH` like [`std::process::Command`] does. Nothing is
    /// started until the first call.
    pub fn stdio(command: impl Into<OsString>) -> ServerConfig {
        ServerConfig {
            name: None,
            transport: TransportConfig::Stdio(StdioConfig {
                command: command.into(),
                args: Vec::new(),
                env: Vec::new(),
                cwd: None,
            }),
        }
    }

    /// Appends one argument to the command line.
    pub fn arg(mut self, arg: impl Into<OsString>) -> ServerConfig {
        let TransportConfig::Stdio(stdio) = &mut self.transport;
        stdio.args.push(arg.into());
        self
    }

    /// Appends arguments to the command line.
    pub fn args<I, S>(mut self, args: I) -> ServerConfig
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let TransportConfig::Stdio(stdio) = &mut self.transport;
        stdio.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the server process (on top of the inherited ones).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> ServerConfig {
        let TransportConfig::Stdio(stdio) = &mut self.transport;
        stdio.env.push((key.into(), value.into()));
        self
    }

    /// Sets the server process's working directory.
    ///
    /// A directory that does not exist gives [`Error::Spawn`](crate::Error::Spawn) naming it
    /// on the first call.
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> ServerConfig {
        let TransportConfig::Stdio(stdio) = &mut self.transport;
        stdio.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Names the server in errors and logs. Defaults to the command's file name.
    pub fn name(mut self, name: impl Into<String>) -> ServerConfig {
        self.name = Some(name.into());
        self
    }

    /// The name used in errors and logs.
    pub fn server_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        match &self.transport {
            TransportConfig::Stdio(stdio) => Path::new(&stdio.command)
                .file_name()
                .unwrap_or(stdio.command.as_os_str())
                .to_string_lossy()
                .into_owned(),
        }
    }
}
