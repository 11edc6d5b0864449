//! The one error type of the crate, how rmcp's errors map to it, and the hints it gives.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

mod mapping;
pub(crate) mod similar;

#[cfg(feature = "oauth")]
pub(crate) use mapping::error_chain;
#[cfg(feature = "http")]
pub(crate) use mapping::http_initialize;
#[cfg(feature = "http")]
pub(crate) use mapping::{http_exchange, sent_http_error};
pub(crate) use mapping::{initialize, request_error};

/// A specialised [`Result`](std::result::Result) whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when talking to an MCP server.
///
/// Every variant names the server (the name given in
/// [`ServerConfig::name`](crate::ServerConfig::name), or the command's file name), and, where a
/// tool was involved, the tool. Wrapped foreign errors stay reachable through
/// [`std::error::Error::source`]. The error is cheap to clone: waiters of one
/// connect attempt all receive the same error.
///
/// A tool that runs and reports failure (`isError: true`) is **not** an error: its
/// [`CallToolResult`](crate::model::CallToolResult) comes back as `Ok` with `is_error` set.
///
/// ```
/// use mcp_dispatch::{Client, Error, ServerConfig};
///
/// let client = Client::new(ServerConfig::stdio("/no/such/mcp-server").name("files"));
/// match client.list_tools_blocking() {
///     Err(Error::Spawn { server, command, .. }) => {
///         assert_eq!(server, "files");
///         assert_eq!(command, "/no/such/mcp-server");
///     }
///     other => panic!("expected a spawn error, got {other:?}"),
/// }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The server process could not be started.
    Spawn {
        /// The server's name.
        server: String,
        /// The command that was run.
        command: String,
        /// The operating system's error.
        source: Arc<std::io::Error>,
    },
    /// The server started but the MCP `initialize` handshake failed.
    Initialize {
        /// The server's name.
        server: String,
        /// What went wrong, in rmcp's words.
        message: String,
        /// The last lines the server wrote to stderr, oldest first (may be empty).
        stderr: Vec<String>,
        /// How many times the server was started before giving up.
        attempts: u32,
        /// rmcp's error, when the handshake itself failed.
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// The server refused the session: it answered `initialize` with a JSON-RPC error, or an
    /// HTTP server answered 401 or 403. A refusal is final: it is not retried.
    Refused {
        /// The server's name.
        server: String,
        /// The HTTP status, for HTTP servers.
        status: Option<u16>,
        /// The server's message (and JSON-RPC error code, if any).
        message: String,
    },
    /// A message from a stdio server was larger than the client's limit
    /// ([`ClientBuilder::max_message_size`](crate::ClientBuilder::max_message_size)). It was
    /// discarded as it arrived, so memory stays bounded, and the request it answered failed
    /// as soon as it had been read.
    MessageTooLarge {
        /// The server's name.
        server: String,
        /// The tool, for `tools/call`; `None` for other requests.
        tool: Option<String>,
        /// The size of the message, in bytes.
        size: u64,
        /// The limit it exceeded, in bytes.
        limit: u64,
    },
    /// The server requires sign-in, and the client has no [`SignIn`](crate::SignIn) to ask
    /// the user with ([`ClientBuilder::sign_in`](crate::ClientBuilder::sign_in)). Signing in
    /// at `authorization_url` is what the user would do.
    AuthorizationRequired {
        /// The server's name.
        server: String,
        /// The server's URL, without its query, fragment or credentials.
        url: String,
        /// Where the user would sign in.
        authorization_url: String,
    },
    /// Signing in to the server failed: the authorization server refused, discovery or
    /// registration failed, or the host's sign-in step gave up. It is not retried.
    AuthorizationFailed {
        /// The server's name.
        server: String,
        /// The server's URL, without its query, fragment or credentials.
        url: String,
        /// What failed: the authorization server's `error` code (such as `access_denied`),
        /// or a short description.
        error: String,
        /// The details: the authorization server's `error_description`, or the cause.
        description: Option<String>,
    },
    /// The server still refused a request for want of scope (HTTP 403 `insufficient_scope`)
    /// after the client signed in again with more, twice.
    InsufficientScope {
        /// The server's name.
        server: String,
        /// The server's URL, without its query, fragment or credentials.
        url: String,
        /// The scope the server asked for, if it said.
        scope: Option<String>,
    },
    /// An HTTP server could not be reached, or answered with an HTTP error.
    Http {
        /// The server's name.
        server: String,
        /// The server's URL, without its query, fragment or credentials.
        url: String,
        /// The HTTP status; `None` when no response came (the connection failed).
        status: Option<u16>,
        /// What went wrong: the status line and body, or the operating system's error.
        message: String,
    },
    /// The server did not finish starting and initializing in time.
    ConnectTimeout {
        /// The server's name.
        server: String,
        /// The connect timeout that elapsed.
        timeout: Duration,
    },
    /// A request did not get an answer in time. The request was cancelled on the server.
    Timeout {
        /// The server's name.
        server: String,
        /// The tool, for `tools/call`; `None` for other requests.
        tool: Option<String>,
        /// The call timeout that elapsed.
        timeout: Duration,
    },
    /// The server answered with a JSON-RPC error.
    Server {
        /// The server's name.
        server: String,
        /// The tool, for `tools/call`; `None` for other requests.
        tool: Option<String>,
        /// The JSON-RPC error code.
        code: i32,
        /// The server's error message.
        message: String,
        /// The error's `data` member, if any.
        data: Option<serde_json::Value>,
    },
    /// The connection to the server closed (the process exited or the stream broke).
    ///
    /// The next call starts a new session.
    TransportClosed {
        /// The server's name.
        server: String,
        /// The tool, for `tools/call`; `None` for other requests.
        tool: Option<String>,
        /// The transport's error, when it reported one (a write to a closed pipe, say).
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// The server broke the protocol (for example an answer of the wrong type).
    Protocol {
        /// The server's name.
        server: String,
        /// What was wrong.
        message: String,
        /// rmcp's error, when it reported the problem.
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// While answering a request, the server asked the client for input (protocol
    /// 2026-07-28's `input_required`: elicitation, sampling or roots), and the client's
    /// handler for it failed or is not set. The request is not sent again.
    Handler {
        /// The server's name.
        server: String,
        /// The tool, for `tools/call`; `None` for other requests.
        tool: Option<String>,
        /// What the server asked for: `elicitation/create`, `sampling/createMessage` or
        /// `roots/list`.
        method: &'static str,
        /// The JSON-RPC error code of the handler's error.
        code: i32,
        /// The handler's error message.
        message: String,
    },
    /// The arguments of a tool call were not a JSON object (or `null`).
    InvalidArguments {
        /// The server's name.
        server: String,
        /// The tool.
        tool: String,
        /// The JSON type that was passed instead.
        found: &'static str,
    },
    /// The client was closed with [`Client::close`](crate::Client::close).
    Closed {
        /// The server's name.
        server: String,
    },
    /// The dispatcher that runs this client's jobs has shut down, or dropped the job.
    Shutdown {
        /// The server's name.
        server: String,
    },
    /// A blocking call was made where waiting would keep its own job from running: a thread
    /// that runs this library's jobs, one the client's host dispatcher has run jobs on, or the
    /// client's own sign-in step. Use the async form of the call there.
    WouldDeadlock {
        /// The server's name.
        server: String,
        /// The blocking method that was called.
        method: &'static str,
    },
    /// A blocking call waited its whole bound and the host's dispatcher never started the
    /// call's job. That happens when the call blocks a thread the dispatcher needs to run
    /// its jobs (a blocking call inside a task of a single-threaded executor that is also
    /// the dispatcher), or when the dispatcher drops or queues jobs without running them.
    /// Nothing was sent to the server. Await the async form there, or dispatch elsewhere.
    NotDispatched {
        /// The server's name.
        server: String,
        /// The blocking method that was called.
        method: &'static str,
        /// How long the call waited.
        waited: std::time::Duration,
    },
    /// Code running a job for this server panicked. Other calls and servers are unaffected.
    Panicked {
        /// The server's name.
        server: String,
        /// The panic message, when it was a string.
        message: String,
    },
    /// A configuration file or string is invalid.
    Config {
        /// The server whose entry is wrong, if the error is about one.
        server: Option<String>,
        /// The field that is wrong (for example `command` or `url`), if known.
        field: Option<String>,
        /// Where in the text: the 1-based line, when the error is about a place in a text.
        line: Option<usize>,
        /// Where in the text: the 1-based column (in characters), with `line`.
        column: Option<usize>,
        /// What is wrong.
        message: String,
        /// The file, when the configuration was read from one.
        path: Option<Arc<std::path::PathBuf>>,
        /// Why the file could not be read, when it could not.
        source: Option<Arc<std::io::Error>>,
    },
    /// The server's configuration asks for something this build does not support (for
    /// example a remote server without the `http` feature).
    Unsupported {
        /// The server's name.
        server: String,
        /// What is not supported.
        what: String,
    },
    /// The tool ran and reported failure (`isError: true`), for a client or call that asked
    /// for tool failures as errors
    /// ([`ClientBuilder::tool_errors_as_err`](crate::ClientBuilder::tool_errors_as_err)).
    Tool {
        /// The server's name.
        server: String,
        /// The tool's name.
        tool: String,
        /// The result's text: what the server says went wrong.
        message: String,
        /// The whole result, as the server sent it.
        result: Box<rmcp::model::CallToolResult>,
    },
    /// No server of a [`Hub`](crate::Hub) offers a tool of this qualified name.
    UnknownTool {
        /// The qualified name that was asked for.
        name: String,
        /// Qualified names that were probably meant: those of the tools whose own name is
        /// `name` (a name given without its server), or that differ from it only slightly.
        /// At most three; may be empty.
        did_you_mean: Vec<String>,
    },
    /// The library's background threads could not be started.
    Runtime {
        /// The operating system's error.
        source: Arc<std::io::Error>,
    },
}

fn tool_part(tool: &Option<String>) -> String {
    match tool {
        Some(tool) => format!(" tool `{tool}`"),
        None => String::new(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Spawn {
                server,
                command,
                source,
            } => {
                write!(f, "server `{server}`: cannot start `{command}`: {source}")?;
                // A whole command line given as the program's name (its secrets already
                // redacted when the error was made).
                let mut words = command.split_whitespace();
                let program = words.next().unwrap_or_default();
                let args: Vec<String> = words.map(|word| format!("{word:?}")).collect();
                if source.kind() == std::io::ErrorKind::NotFound && !args.is_empty() {
                    write!(
                        f,
                        "; did you mean `ServerConfig::stdio({program:?}).args([{}])`?",
                        args.join(", ")
                    )?;
                }
                Ok(())
            }
            Error::Initialize {
                server,
                message,
                stderr,
                attempts,
                ..
            } => {
                write!(f, "server `{server}`: initialize failed")?;
                if *attempts > 1 {
                    write!(f, " after {attempts} attempts")?;
                }
                write!(f, ": {message}")?;
                if !stderr.is_empty() {
                    write!(f, "; its stderr ended with:")?;
                    for line in stderr {
                        write!(f, "\n  {line}")?;
                    }
                }
                Ok(())
            }
            Error::Refused {
                server,
                status,
                message,
            } => {
                write!(f, "server `{server}` refused the session")?;
                if let Some(status) = status {
                    write!(f, " (HTTP {status})")?;
                }
                write!(f, ": {message}")
            }
            Error::MessageTooLarge {
                server,
                tool,
                size,
                limit,
            } => write!(
                f,
                "server `{server}`{}: the answer is {size} bytes, over the {limit}-byte limit \
                 (see `max_message_size`)",
                tool_part(tool)
            ),
            Error::Http {
                server,
                url,
                status: Some(status),
                message,
            } => write!(
                f,
                "server `{server}`: {url} answered HTTP {status}: {message}"
            ),
            Error::Http {
                server,
                url,
                status: None,
                message,
            } => write!(f, "server `{server}`: cannot reach {url}: {message}"),
            Error::AuthorizationRequired {
                server,
                url,
                authorization_url,
            } => write!(
                f,
                "server `{server}` at {url} requires sign-in, and no sign-in step is set \
                 (`sign_in` on the builder); sign in at {authorization_url}"
            ),
            Error::AuthorizationFailed {
                server,
                url,
                error,
                description,
            } => {
                write!(f, "server `{server}` at {url}: sign-in failed: {error}")?;
                match description {
                    Some(description) => write!(f, ": {description}"),
                    None => Ok(()),
                }
            }
            Error::InsufficientScope { server, url, scope } => {
                write!(
                    f,
                    "server `{server}` at {url} refused the request for want of scope"
                )?;
                match scope {
                    Some(scope) => write!(f, " (it asks for `{scope}`)"),
                    None => Ok(()),
                }
            }
            Error::ConnectTimeout { server, timeout } => {
                write!(f, "server `{server}`: connect timed out after {timeout:?}")
            }
            Error::Timeout {
                server,
                tool,
                timeout,
            } => write!(
                f,
                "server `{server}`{}: request timed out after {timeout:?} and was cancelled",
                tool_part(tool)
            ),
            Error::Server {
                server,
                tool,
                code,
                message,
                ..
            } => write!(
                f,
                "server `{server}`{}: error {code}: {message}",
                tool_part(tool)
            ),
            Error::TransportClosed { server, tool, .. } => {
                write!(f, "server `{server}`{}: connection closed", tool_part(tool))
            }
            Error::Protocol {
                server, message, ..
            } => {
                write!(f, "server `{server}`: protocol error: {message}")
            }
            Error::Handler {
                server,
                tool,
                method,
                code,
                message,
            } => write!(
                f,
                "server `{server}`{}: the server asked for {method}, and the client's handler \
                 failed: {message} (error {code})",
                tool_part(tool)
            ),
            Error::InvalidArguments {
                server,
                tool,
                found,
            } => write!(
                f,
                "server `{server}` tool `{tool}`: arguments must be a JSON object, not {found}"
            ),
            Error::Closed { server } => write!(f, "server `{server}`: client is closed"),
            Error::Shutdown { server } => {
                write!(f, "server `{server}`: the dispatcher has shut down")
            }
            Error::WouldDeadlock { server, method } => write!(
                f,
                "server `{server}`: `{method}` called on a thread that runs mcp-dispatch jobs \
                 would deadlock; await the async form instead"
            ),
            Error::NotDispatched {
                server,
                method,
                waited,
            } => write!(
                f,
                "server `{server}`: `{method}` waited {waited:?} and the dispatcher never ran \
                 its job (nothing was sent); a blocking call on a thread the dispatcher runs \
                 jobs on waits for itself"
            ),
            Error::Panicked { server, message } => {
                write!(f, "server `{server}`: a job panicked: {message}")
            }
            Error::Config {
                server,
                field,
                line,
                column,
                message,
                path,
                ..
            } => {
                // `path:line:column:`, as compilers say it, which editors and terminals link.
                match (path, line) {
                    (Some(path), Some(line)) => {
                        write!(f, "{}:{line}:{}", path.display(), column.unwrap_or(1))?
                    }
                    (Some(path), None) => write!(f, "{}", path.display())?,
                    (None, Some(line)) => match column {
                        Some(column) => write!(f, "config line {line} column {column}")?,
                        None => write!(f, "config line {line}")?,
                    },
                    (None, None) => write!(f, "config")?,
                }
                if let Some(server) = server {
                    write!(f, ": server `{server}`")?;
                }
                if let Some(field) = field {
                    write!(f, ": field `{field}`")?;
                }
                write!(f, ": {message}")
            }
            Error::Unsupported { server, what } => {
                write!(f, "server `{server}`: {what} is not supported")
            }
            Error::Tool {
                server,
                tool,
                message,
                ..
            } => write!(f, "server `{server}` tool `{tool}` failed: {message}"),
            Error::UnknownTool { name, did_you_mean } => {
                write!(f, "no server offers a tool named `{name}`")?;
                let mut names = did_you_mean.iter();
                if let Some(first) = names.next() {
                    write!(f, "; did you mean `{first}`")?;
                    for other in names {
                        write!(f, " or `{other}`")?;
                    }
                    f.write_str("?")?;
                }
                Ok(())
            }
            Error::Runtime { source } => {
                write!(f, "cannot start the mcp-dispatch threads: {source}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Spawn { source, .. } | Error::Runtime { source } => Some(&**source),
            Error::Config {
                source: Some(source),
                ..
            } => Some(&**source),
            Error::Initialize { source, .. }
            | Error::Protocol { source, .. }
            | Error::TransportClosed { source, .. } => source.as_deref().map(|source| source as _),
            _ => None,
        }
    }
}

impl Error {
    /// The name of the server the error is about, if it is about one.
    ///
    /// ```
    /// use mcp_dispatch::Error;
    ///
    /// let error = Error::Closed { server: "files".into() };
    /// assert_eq!(error.server(), Some("files"));
    /// ```
    pub fn server(&self) -> Option<&str> {
        match self {
            Error::Spawn { server, .. }
            | Error::Initialize { server, .. }
            | Error::Refused { server, .. }
            | Error::MessageTooLarge { server, .. }
            | Error::Http { server, .. }
            | Error::AuthorizationRequired { server, .. }
            | Error::AuthorizationFailed { server, .. }
            | Error::InsufficientScope { server, .. }
            | Error::ConnectTimeout { server, .. }
            | Error::Timeout { server, .. }
            | Error::Server { server, .. }
            | Error::TransportClosed { server, .. }
            | Error::Protocol { server, .. }
            | Error::Handler { server, .. }
            | Error::InvalidArguments { server, .. }
            | Error::Closed { server }
            | Error::Shutdown { server }
            | Error::WouldDeadlock { server, .. }
            | Error::NotDispatched { server, .. }
            | Error::Tool { server, .. }
            | Error::Panicked { server, .. }
            | Error::Unsupported { server, .. } => Some(server),
            Error::Config { server, .. } => server.as_deref(),
            Error::Runtime { .. } | Error::UnknownTool { .. } => None,
        }
    }
}

/// Turns a caught panic payload into its message.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
