//! How to reach one server.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::oauth::OAuth;

/// How to start or reach one MCP server, and what to call it in errors and logs.
///
/// A server is either a child process spoken to over stdin/stdout ([`ServerConfig::stdio`])
/// or a remote endpoint (with the default `http` feature) spoken to over streamable HTTP
/// ([`ServerConfig::http`]), over the older HTTP+SSE transport ([`ServerConfig::sse`]), or
/// over whichever of the two the server speaks ([`ServerConfig::remote`]). The type is opaque so that other transports can be added without
/// breaking changes. Settings that do not apply to a server's transport (arguments for an
/// HTTP server, headers for a process) are ignored.
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
///
/// let remote = ServerConfig::http("http://127.0.0.1:8000/mcp").header("Authorization", "Bearer t");
/// assert_eq!(remote.server_name(), "127.0.0.1:8000");
/// ```
#[derive(Clone)]
pub struct ServerConfig {
    name: Option<String>,
    pub(crate) transport: TransportConfig,
    /// The first setter called that does not apply to this transport (`header` on a stdio
    /// server, `arg` on a remote one): every connect then fails saying so.
    misapplied: Option<&'static str>,
}

/// Shows the config without its secrets, so that it can be logged.
///
/// - Environment variables of a stdio server: their names, never their values.
/// - Arguments: each one, but not what looks like a secret in it. These are shown as
///   `<redacted>`: the argument after a flag whose name has `key`, `token`, `secret`,
///   `passw`, `pwd`, `auth`, `credential`, `cookie`, `session` or `private` in it, in any case
///   (`--api-key sk-1`); the value of `NAME=value` or `Name: value` when the name has one of
///   those (`--api-key=sk-1`, `GITHUB_TOKEN=ghp_1`, `Authorization: Bearer t`); and what
///   follows `Bearer ` or `Basic `. URLs lose their query, fragment and user credentials
///   (`postgresql://user:pw@db/app` shows as `postgresql://db/app`). A secret passed as a
///   bare argument, with nothing to say what it is, is shown: pass secrets in `env`.
/// - Headers of an HTTP server: their names, never their values; its URL without query,
///   fragment or user credentials; its [`OAuth`] client secret never.
///
/// ```
/// use mcp_dispatch::ServerConfig;
///
/// let config = ServerConfig::stdio("npx")
///     .args(["-y", "github-server", "--api-key=sk-123", "--token", "t0k"])
///     .env("GITHUB_TOKEN", "ghp_456");
/// let shown = format!("{config:?}");
/// assert!(shown.contains(r#""--api-key=<redacted>", "--token", "<redacted>""#), "{shown}");
/// assert!(shown.contains("GITHUB_TOKEN"), "{shown}");
/// for secret in ["sk-123", "t0k", "ghp_456"] {
///     assert!(!shown.contains(secret), "{shown}");
/// }
/// ```
impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("name", &self.name)
            .field("transport", &self.transport)
            .finish()
    }
}

#[derive(Clone, Debug)]
#[non_exhaustive]
pub(crate) enum TransportConfig {
    Stdio(StdioConfig),
    Http(HttpConfig),
}

/// Which HTTP transport a remote server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HttpTransport {
    /// Streamable HTTP (protocol 2025-03-26 and later).
    Streamable,
    /// The HTTP+SSE transport of protocol 2024-11-05.
    Sse,
    /// Streamable HTTP, falling back to HTTP+SSE when the server refuses the first `POST`
    /// with 400, 404 or 405.
    Either,
}

#[derive(Clone)]
pub(crate) struct HttpConfig {
    pub(crate) url: String,
    pub(crate) transport: HttpTransport,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) oauth: OAuth,
}

/// Header values (bearer tokens, API keys) and the URL's query and credentials never appear
/// in a Debug string.
impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("HttpConfig")
            .field("url", &redact_url(&self.url))
            .field("transport", &self.transport)
            .field("headers", &names)
            .field("oauth", &self.oauth)
            .finish()
    }
}

/// `url` without its query, fragment or user credentials, which may carry secrets: for logs,
/// Debug strings and error messages.
pub(crate) fn redact_url(url: &str) -> String {
    let base = url.split(['?', '#']).next().unwrap_or(url);
    match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{path}")
        }
        None => base.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug_strings() {
        let config = ServerConfig::http("https://user:pw@example.com/mcp?key=k3y#frag")
            .header("Authorization", "Bearer s3cret");
        let debug = format!("{config:?}");
        for secret in ["s3cret", "k3y", "pw", "user", "frag"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("https://example.com/mcp"), "{debug}");
        assert!(debug.contains("Authorization"), "{debug}");
        assert_eq!(
            redact_url("http://127.0.0.1:8/mcp"),
            "http://127.0.0.1:8/mcp"
        );
    }

    #[test]
    fn stdio_env_values_and_secret_arguments_stay_out_of_debug_strings() {
        let config = ServerConfig::stdio("node")
            .args([
                "server.js",
                "--api-key=<key>",
                "--token",
                "tok3n",
                "--Client-Secret",
                "s3cr3t",
                "--header",
                "Authorization: Bearer b3arer",
                "-e",
                "GITHUB_TOKEN=ghp_1",
                "postgresql://user:pa55@db.example/app?sslkey=k3y",
                "X-Trace: Basic ba51c",
                "--port",
                "8080",
                "--url=https://h.example/mcp?sig=s1g",
                "--verbose",
            ])
            .env("GITHUB_TOKEN", "<token>")
            .env("LOG_LEVEL", "debug-level");
        let builder = crate::Client::builder(config.clone());
        for shown in [format!("{config:?}"), format!("{builder:?}")] {
            for secret in [
                "<key>",
                "tok3n",
                "s3cr3t",
                "b3arer",
                "ghp_1",
                "pa55",
                "user",
                "k3y",
                "ba51c",
                "<token>",
                "debug-level",
            ] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
            assert!(
                shown.contains(
                    r#"args: ["server.js", "--api-key=<redacted>", "--token", "<redacted>", "--Client-Secret", "<redacted>", "--header", "Authorization: <redacted>", "-e", "GITHUB_TOKEN=<redacted>", "postgresql://db.example/app", "X-Trace: Basic <redacted>", "--port", "8080", "--url=https://h.example/mcp", "--verbose"]"#
                ),
                "{shown}"
            );
            assert!(
                shown.contains(r#"env: ["GITHUB_TOKEN", "LOG_LEVEL"]"#),
                "{shown}"
            );
            assert!(shown.contains(r#"command: "node""#), "{shown}");
        }
    }
}

#[derive(Clone)]
pub(crate) struct StdioConfig {
    pub(crate) command: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) cwd: Option<PathBuf>,
}

/// Environment values never appear in a Debug string, and arguments only with what looks
/// like a secret redacted (see [`redact_args`]).
impl std::fmt::Debug for StdioConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<&std::ffi::OsStr> =
            self.env.iter().map(|(name, _)| name.as_os_str()).collect();
        f.debug_struct("StdioConfig")
            .field("command", &self.command)
            .field("args", &redact_args(&self.args))
            .field("env", &env)
            .field("cwd", &self.cwd)
            .finish()
    }
}

/// What marks a flag or a name as one whose value is a secret, found in its lowercase form.
const SECRET_WORDS: [&str; 10] = [
    "key",
    "token",
    "secret",
    "passw",
    "pwd",
    "auth",
    "credential",
    "cookie",
    "session",
    "private",
];

/// Shown instead of a secret.
const REDACTED: &str = "<redacted>";

/// `args` for a Debug string, without what looks like a secret: the argument after a flag
/// with a [`SECRET_WORDS`] name, the value of `NAME=value` or `Name: value` with such a name,
/// what follows `Bearer ` or `Basic `, and the query, fragment and credentials of a URL.
/// `command` as errors show it: a whole command line given as the program's name loses what
/// looks like a secret in its arguments, as [`redact_args`] takes it out of `Debug`.
pub(crate) fn shown_command(command: &std::ffi::OsStr) -> String {
    let command = command.to_string_lossy();
    let mut words = command.split_whitespace();
    let program = words.next().unwrap_or_default();
    let args: Vec<OsString> = words.map(OsString::from).collect();
    if args.is_empty() {
        return command.into_owned();
    }
    let mut shown = program.to_owned();
    for arg in redact_args(&args) {
        shown.push(' ');
        shown.push_str(&arg);
    }
    shown
}

fn redact_args(args: &[OsString]) -> Vec<String> {
    let mut shown = Vec::with_capacity(args.len());
    let mut secret_next = false;
    for arg in args {
        let arg = arg.to_string_lossy();
        if std::mem::take(&mut secret_next) {
            shown.push(REDACTED.to_owned());
            continue;
        }
        let flag = arg.starts_with('-') && !arg.contains('=');
        secret_next = flag && names_a_secret(&arg);
        shown.push(redact_arg(&arg));
    }
    shown
}

/// One argument without what looks like a secret in it (see [`redact_args`]).
fn redact_arg(arg: &str) -> String {
    match arg.split_once('=') {
        Some((name, _)) if is_name(name) && names_a_secret(name) => format!("{name}={REDACTED}"),
        Some((name, value)) if is_name(name) => format!("{name}={}", redact_value(value)),
        _ => redact_value(arg),
    }
}

/// An argument, or the value of a `NAME=value` one, without what looks like a secret.
fn redact_value(value: &str) -> String {
    if value.contains("://") && !value.contains(char::is_whitespace) {
        return redact_url(value);
    }
    if let Some((name, _)) = value.split_once(':')
        && is_name(name)
        && names_a_secret(name)
    {
        return format!("{name}: {REDACTED}");
    }
    let lower = value.to_ascii_lowercase();
    for scheme in ["bearer ", "basic "] {
        if let Some(at) = lower.find(scheme) {
            return format!("{}{REDACTED}", &value[..at + scheme.len()]);
        }
    }
    value.to_owned()
}

/// Whether `name` can be a flag's, a variable's or a header's name: letters, digits, `-`,
/// `_` and `.`, at least one.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Whether a flag or name (`--api-key`, `GITHUB_TOKEN`) says its value is a secret.
fn names_a_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|word| name.contains(word))
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
            misapplied: None,
            transport: TransportConfig::Stdio(StdioConfig {
                command: command.into(),
                args: Vec::new(),
                env: Vec::new(),
                cwd: None,
            }),
        }
    }

    /// A remote server spoken to over MCP's streamable HTTP transport at `url`
    /// (for example `http://127.0.0.1:8000/mcp`).
    ///
    /// Nothing is contacted until the first call. An unreachable URL fails that call with
    /// [`Error::Initialize`](crate::Error::Initialize) (or
    /// [`Error::ConnectTimeout`](crate::Error::ConnectTimeout)); without the `http` feature,
    /// with [`Error::Unsupported`](crate::Error::Unsupported).
    pub fn http(url: impl Into<String>) -> ServerConfig {
        ServerConfig::remote_over(url.into(), HttpTransport::Streamable)
    }

    /// A remote server spoken to over the HTTP+SSE transport of protocol 2024-11-05, which
    /// servers written before streamable HTTP speak: a `GET` of `url` (for example
    /// `http://127.0.0.1:8000/sse`) opens an event stream that names where to `POST`
    /// messages. Headers and [`OAuth`] sign-in apply to the `GET` and every `POST`.
    ///
    /// Nothing is contacted until the first call. The session lives as long as the event
    /// stream: when the server drops it, the next call reconnects.
    ///
    /// ```
    /// use mcp_dispatch::ServerConfig;
    ///
    /// let old = ServerConfig::sse("http://127.0.0.1:8000/sse").header("X-Api-Key", "k");
    /// assert_eq!(old.server_name(), "127.0.0.1:8000");
    /// ```
    pub fn sse(url: impl Into<String>) -> ServerConfig {
        ServerConfig::remote_over(url.into(), HttpTransport::Sse)
    }

    /// A remote server at `url` over whichever HTTP transport it speaks, as the MCP
    /// specification asks of clients that support older servers: the `initialize` request is
    /// `POST`ed over streamable HTTP first, and if the server answers 400, 404 or 405, `url`
    /// is opened as an HTTP+SSE event stream instead ([`ServerConfig::sse`]). Config file
    /// entries with a `url` and no `type` use this.
    ///
    /// [`Client::stats`](crate::Client::stats) tells which transport the session uses.
    ///
    /// ```
    /// use mcp_dispatch::ServerConfig;
    ///
    /// let either = ServerConfig::remote("http://127.0.0.1:8000/mcp");
    /// assert_eq!(either.server_name(), "127.0.0.1:8000");
    /// ```
    pub fn remote(url: impl Into<String>) -> ServerConfig {
        ServerConfig::remote_over(url.into(), HttpTransport::Either)
    }

    fn remote_over(url: String, transport: HttpTransport) -> ServerConfig {
        ServerConfig {
            name: None,
            misapplied: None,
            transport: TransportConfig::Http(HttpConfig {
                url,
                transport,
                headers: Vec::new(),
                oauth: OAuth::default(),
            }),
        }
    }

    /// Adds an HTTP header sent with every request, such as `Authorization`.
    ///
    /// For remote servers only: on a stdio server every call fails with
    /// [`Error::Config`](crate::Error::Config) naming `header`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> ServerConfig {
        match &mut self.transport {
            TransportConfig::Http(http) => http.headers.push((name.into(), value.into())),
            TransportConfig::Stdio(_) => self.misapplied("header"),
        }
        self
    }

    /// How to identify this client when the server asks it to sign in (see [`OAuth`]). A
    /// server that answers 401 is signed in to with the defaults when this is not set.
    /// For remote servers only, as [`header`](ServerConfig::header) is.
    pub fn oauth(mut self, oauth: OAuth) -> ServerConfig {
        match &mut self.transport {
            TransportConfig::Http(http) => http.oauth = oauth,
            TransportConfig::Stdio(_) => self.misapplied("oauth"),
        }
        self
    }

    /// Appends one argument to the command line.
    ///
    /// For servers started with a command only: on a remote server every call fails with
    /// [`Error::Config`](crate::Error::Config) naming `arg`; so do `args`, `env` and `cwd`.
    pub fn arg(mut self, arg: impl Into<OsString>) -> ServerConfig {
        match &mut self.transport {
            TransportConfig::Stdio(stdio) => stdio.args.push(arg.into()),
            TransportConfig::Http(_) => self.misapplied("arg"),
        }
        self
    }

    /// Appends arguments to the command line.
    pub fn args<I, S>(mut self, args: I) -> ServerConfig
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        match &mut self.transport {
            TransportConfig::Stdio(stdio) => stdio.args.extend(args.into_iter().map(Into::into)),
            TransportConfig::Http(_) => self.misapplied("args"),
        }
        self
    }

    /// Sets an environment variable for the server process (on top of the inherited ones).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> ServerConfig {
        match &mut self.transport {
            TransportConfig::Stdio(stdio) => stdio.env.push((key.into(), value.into())),
            TransportConfig::Http(_) => self.misapplied("env"),
        }
        self
    }

    /// Sets the server process's working directory.
    ///
    /// A directory that does not exist gives [`Error::Spawn`](crate::Error::Spawn) naming it
    /// on the first call.
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> ServerConfig {
        match &mut self.transport {
            TransportConfig::Stdio(stdio) => stdio.cwd = Some(dir.as_ref().to_path_buf()),
            TransportConfig::Http(_) => self.misapplied("cwd"),
        }
        self
    }

    /// Remembers the first setter that does not apply to this transport.
    fn misapplied(&mut self, setter: &'static str) {
        self.misapplied.get_or_insert(setter);
    }

    /// The error of every connect of a config given a setting its transport cannot use.
    pub(crate) fn misapplied_error(&self) -> Option<crate::error::Error> {
        let setter = self.misapplied?;
        let (applies_to, this_one) = match self.transport {
            TransportConfig::Stdio(_) => ("remote servers", "is started with a command"),
            TransportConfig::Http(_) => ("servers started with a command", "is remote"),
        };
        Some(crate::error::Error::Config {
            server: Some(self.server_name()),
            field: Some(setter.to_owned()),
            line: None,
            column: None,
            message: format!("`.{setter}()` applies to {applies_to}, and this server {this_one}"),
            path: None,
            source: None,
        })
    }

    /// Names the server in errors and logs. Defaults to the package or script the command
    /// runs (`npx -y @modelcontextprotocol/server-everything` is `server-everything`, and
    /// `node .../server-everything/dist/index.js` too), else the command's file name; see
    /// [`server_name`](ServerConfig::server_name).
    pub fn name(mut self, name: impl Into<String>) -> ServerConfig {
        self.name = Some(name.into());
        self
    }

    /// The name used in errors and logs: the one given to [`name`](ServerConfig::name), else
    /// for a stdio server the package a runner runs (`npx`, `uvx`, `pipx`), the script an
    /// interpreter runs (`node`, `python`, `deno`; a generic `dist/index.js` is named by its
    /// folder), the module of `python -m`, or the command's file name; for a remote server,
    /// the URL's host and port.
    ///
    /// ```
    /// use mcp_dispatch::ServerConfig;
    ///
    /// let npx = ServerConfig::stdio("npx").args(["-y", "@modelcontextprotocol/server-everything"]);
    /// assert_eq!(npx.server_name(), "server-everything");
    /// let node = ServerConfig::stdio("node").arg("/opt/server-filesystem/dist/index.js");
    /// assert_eq!(node.server_name(), "server-filesystem");
    /// assert_eq!(ServerConfig::stdio("/usr/bin/my-server").server_name(), "my-server");
    /// assert_eq!(ServerConfig::http("https://mcp.example.com:8443/mcp").server_name(), "mcp.example.com:8443");
    /// ```
    pub fn server_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        match &self.transport {
            TransportConfig::Stdio(stdio) => {
                crate::config::default_name::default_name(&stdio.command, &stdio.args)
            }
            TransportConfig::Http(http) => {
                let rest = http
                    .url
                    .split_once("://")
                    .map_or(&*http.url, |(_, rest)| rest);
                rest.split(['/', '?', '#'])
                    .next()
                    .unwrap_or(rest)
                    .to_owned()
            }
        }
    }
}
