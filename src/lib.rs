//! Model Context Protocol (MCP) clients for Rust programs that do not run tokio: sync code,
//! async-std and smol applications, GUI and game loops, custom executors.
//!
//! ```no_run
//! use mcp_dispatch::{Client, ResultText, ServerConfig};
//! use serde_json::json;
//!
//! // Any MCP server that speaks stdio. Nothing starts until the first call.
//! let everything = ServerConfig::stdio("npx").args(["-y", "@modelcontextprotocol/server-everything"]);
//! // A tool that reports failure is an `Err`, so `?` stops there.
//! let client = Client::builder(everything).tool_errors_as_err(true).build();
//!
//! // From plain threads: the blocking forms.
//! for tool in client.list_tools_blocking()? {
//!     println!("{}", tool.name);
//! }
//! let sum = client.call_tool_blocking("get-sum", json!({"a": 2, "b": 3}))?;
//! println!("{}", sum.text());
//!
//! // From any executor: the same calls as `Send + 'static` futures.
//! let echo = futures::executor::block_on(client.call_tool("echo", json!({"message": "hi"})))?;
//! println!("{}", echo.text());
//! # Ok::<(), mcp_dispatch::Error>(())
//! ```
//!
//! `cargo run --example quickstart` runs the same thing against the demo server that ships with the
//! crate, from several threads at once.
//!
//! # Why
//!
//! rmcp, the official Rust MCP SDK, only runs inside a tokio runtime. This crate runs every
//! rmcp future for you on one small library thread, which drives a private current-thread
//! tokio runtime, so callers never see tokio. Each server gets one persistent
//! session, shared safely by every thread and task.
//!
//! # Many servers: the Hub
//!
//! A [`Hub`] holds a named set of clients that share one dispatcher. It reads the
//! `mcpServers` files of Claude Desktop and Cursor and the `servers` files of VS Code
//! ([`Hub::from_path`]), lists every server's tools concurrently, and names them
//! `server__tool` in the form LLM function-calling APIs accept ([`ToolNames`]). One broken
//! server is reported by name and does not hide the others.
//!
//! ```no_run
//! use mcp_dispatch::Hub;
//! use serde_json::json;
//!
//! let hub = Hub::from_path("mcp.json")?;
//! let listed = hub.list_tools_blocking();
//! assert!(listed.errors.is_empty(), "{:?}", listed.errors);
//! let result = hub.call_tool_blocking(&listed.tools[0].name, json!({}))?;
//! # drop(result);
//! # Ok::<(), mcp_dispatch::Error>(())
//! ```
//!
//! # Servers that need sign-in
//!
//! An HTTP server that answers 401 is signed in to with OAuth 2.1: discovery, registration,
//! PKCE and the token exchange are the library's, the browser step is the host's
//! ([`ClientBuilder::sign_in`], [`OAuth`] for the client's identity). Concurrent first calls
//! share one sign-in.
//!
//! # Notifications and server requests
//!
//! [`Client::notifications`] and [`Hub::notifications`] give a stream of log messages,
//! resource updates and list changes that never blocks a server; progress on one call goes to
//! that call's callback ([`CallOptions::on_progress`]). Requests from servers
//! (elicitation, sampling, roots) are answered by [`Handlers`].
//!
//! # Blocking or async
//!
//! Every [`Client`] method has an `async` form, whose future is `Send + 'static` and can be
//! awaited on any executor, and a `_blocking` form that waits on the calling thread. Both do
//! the same work on the dispatcher; they differ only in how the caller waits. Blocking calls
//! are bounded by the connect and call timeouts. A blocking call made where it would keep its
//! own job from running (the library's thread, inside any job or handler, a thread the
//! client's host dispatcher runs jobs on, or the client's own sign-in step) would deadlock,
//! so it returns [`Error::WouldDeadlock`] at once.
//!
//! # Choosing a dispatcher
//!
//! The work of each call runs as a [`Job`] on a [`Dispatcher`]:
//!
//! | your program | dispatcher | threads the library adds |
//! |---|---|---|
//! | sync code, smol, anything | the shared [`Executor`] (the default) | `mcp-dispatch-rt` |
//! | async-std | [`Executor::async_std`] (jobs as a task on async-std's runtime) | `mcp-dispatch-rt` |
//! | wants its own shutdown point | [`Executor::new`], passed to [`ClientBuilder::executor`] | one per executor |
//! | smol, or any executor with a spawn function | `\|job\| smol::spawn(job).detach()` | `mcp-dispatch-rt` |
//! | GUI or game loop | a closure that queues jobs for the loop to poll | `mcp-dispatch-rt` |
//! | tokio | [`ClientBuilder::tokio_handle`]: jobs and rmcp's tasks on the app's runtime | none |
//!
//! Jobs carry the tokio context rmcp needs and catch their own panics, so a host loop needs
//! no tokio and never sees an rmcp panic. The `mcp-dispatch-rt` thread drives a
//! current-thread tokio runtime for rmcp; it is shared by the default executor and by every
//! client on a host's dispatcher, so a process has that one library thread unless
//! it creates executors of its own. Run `cargo run --example event_loop` (or `smol_app`,
//! `tokio_app`) to see each pattern.
//!
//! ```
//! use mcp_dispatch::{Client, Job, ServerConfig};
//!
//! let (jobs, to_poll) = std::sync::mpsc::channel::<Job>();
//! let jobs = std::sync::Mutex::new(jobs);
//! let client = Client::builder(ServerConfig::stdio("my-mcp-server"))
//!     .dispatcher(move |job: Job| {
//!         let _ = jobs.lock().unwrap().send(job);
//!     })
//!     .build();
//! // ... the host's loop polls what arrives on `to_poll` between frames.
//! # drop((client, to_poll));
//! ```
//!
//! # The single-flight lock
//!
//! Each client holds at most one session with its server:
//!
//! - at most one connect is in flight; callers that arrive during it wait and share its
//!   outcome, the same session or the same error;
//! - a failed connect is not remembered: the next call tries again;
//! - calls on a live session run concurrently (requests are multiplexed, not serialised);
//! - when a session dies, the callers that saw it die cause exactly one new session: each
//!   session has a generation number, and only the first report of a generation's death
//!   retires it;
//! - the connect runs as its own job, so a caller dropped mid-connect leaves nothing stuck.
//!
//! # Reconnects and retry safety
//!
//! A session found dead before a request is sent is replaced transparently. A call whose
//! server dies while the call is in flight may already have run, so it is retried once, on a
//! new session, only when that is safe ([`Retry`]):
//!
//! - the request never left (the session was already closed);
//! - the tool's annotations say `readOnlyHint` or `idempotentHint` (as last seen by
//!   [`Client::list_tools`]; listing requests themselves are always safe);
//! - or the client or the call was configured with [`Retry::Always`].
//!
//! Otherwise the call returns [`Error::TransportClosed`] and the next call reconnects. A
//! server that dies during start-up is started up to three times per connect, with a
//! jittered, doubling backoff from 100 ms (capped at 5 s, and carried across calls while
//! connects keep failing), so a crashing server never gets a hot respawn loop; the error
//! says how many attempts were made. [`Client::stats`] counts connects and retries.
//!
//! # Timeouts and cancellation
//!
//! Connecting (start plus handshake, retries included) is bounded by the connect timeout
//! (30 s by default), and each request by the call timeout (60 s), both set on
//! [`ClientBuilder`]; [`CallOptions`] overrides them per call and can restart the timeout
//! whenever the server reports progress, up to a total. A request that times out, and a call
//! whose future is dropped, is cancelled on the server with `notifications/cancelled`; the
//! session stays usable.
//!
//! # Shutdown
//!
//! [`Client::close`] closes the session gracefully: stdin is closed, then SIGTERM, then
//! SIGKILL, each step bounded; then whatever is left of the server's process group is
//! killed, so wrappers such as `npx` or `sh -c` leave nothing behind. Dropping the last
//! clone of a client does the same in the background. [`Executor::shutdown`] (or dropping
//! the last handle of an executor) closes every session on it, fails calls in flight and
//! later calls with [`Error::Shutdown`], and joins both of its threads, all within a bound.
//! A server whose host exits without any of this sees its stdin close, which MCP servers
//! take as the signal to exit.
//!
//! # Errors
//!
//! One [`Error`] enum, whose variants name the server and, where relevant, the tool. A tool
//! that runs and reports failure (`isError: true`) is an `Ok` result with the flag set. A
//! panic in a job is caught: the caller gets [`Error::Panicked`] (or [`Error::Shutdown`] if
//! the dispatcher itself panicked) and everything else keeps working.
//!
//! # Logging
//!
//! The crate logs connects, reconnects, closes and errors through the `log` crate, and each
//! line a server writes to stderr at debug level under the target `mcp_dispatch::stderr`.
//! No authorization code, token, client secret or URL query reaches those lines.
//!
//! rmcp's own `tracing` events are not forwarded to `log`: at debug level rmcp prints the
//! authorization code it exchanges and the token response (ID token included), and at error
//! level the full URL of a failed connect, query and all. A host that wants rmcp's events
//! installs a `tracing` subscriber (or turns on the `tracing` crate's `log` feature in its own
//! `Cargo.toml`), and should then keep rmcp's targets below debug:
//! `rmcp=info` with `tracing-subscriber`'s `EnvFilter`. Even at info, a failed connect's
//! error line carries the URL's query.
#![deny(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod client;
mod config;
mod error;
mod hub;
mod oauth;
mod runtime;
mod session;
mod transport;

pub use client::builder::ClientBuilder;
pub use client::handle::Client;
pub use client::handlers::Handlers;
pub use client::options::{CallOptions, Retry, Stats, TransportKind};
pub use client::result_text::ResultText;
pub use config::server::ServerConfig;
pub use error::{Error, Result};
pub use hub::builder::HubBuilder;
pub use hub::filter::ToolFilter;
pub use hub::handle::Hub;
pub use hub::names::{ToolNames, is_valid_tool_name};
pub use hub::tool::{HubTool, HubTools};
#[cfg(feature = "oauth")]
pub use oauth::LoopbackSignIn;
pub use oauth::{
    CredentialStore, DEFAULT_REDIRECT_URI, EnterpriseLogin, FileCredentialStore, OAuth, SignIn,
    SignInRequest,
};
pub use runtime::dispatcher::{Dispatcher, Job};
pub use runtime::executor::Executor;
pub use session::notify::{Notification, Notifications, Progress};

/// The MCP data model, re-exported from rmcp unchanged: [`CallToolResult`](model::CallToolResult),
/// [`Tool`](model::Tool), [`ContentBlock`](model::ContentBlock),
/// [`ServerPeerInfo`](model::ServerPeerInfo) and the rest.
///
/// This is deliberate: the types are the protocol's, rmcp keeps them current with each
/// protocol version, and a program that also uses rmcp gets the very same types. The cost is
/// that this crate's semver follows rmcp's for them: a breaking change to rmcp's model is a
/// breaking release of this crate too.
pub mod model {
    pub use rmcp::model::*;
}

/// Compile-time checks that handles and returned futures can cross threads.
#[allow(dead_code)]
fn assert_send_sync() {
    fn is_send_sync<T: Send + Sync>() {}
    fn is_send_static<T: Send + 'static>(_: &T) {}
    is_send_sync::<Client>();
    is_send_sync::<Executor>();
    is_send_sync::<Error>();
    is_send_sync::<ServerConfig>();
    let client = Client::new(ServerConfig::stdio("x"));
    is_send_static(&client.list_tools());
    is_send_static(&client.call_tool("x", serde_json::Value::Null));
    is_send_static(&client.call_tool_with("x", serde_json::Value::Null, CallOptions::new()));
    is_send_static(&client.list_resources());
    is_send_static(&client.list_resource_templates());
    is_send_static(&client.read_resource("x"));
    is_send_static(&client.subscribe_resource("x"));
    is_send_static(&client.unsubscribe_resource("x"));
    is_send_static(&client.list_prompts());
    is_send_static(&client.get_prompt("x", serde_json::Value::Null));
    is_send_static(&client.server_info());
    is_send_static(&client.close());
    is_send_sync::<ClientBuilder>();
    is_send_sync::<CallOptions>();
    is_send_sync::<HubTools>();
    is_send_sync::<FileCredentialStore>();
    #[cfg(feature = "oauth")]
    is_send_sync::<LoopbackSignIn>();
    is_send_sync::<Hub>();
    is_send_sync::<HubBuilder>();
    is_send_sync::<Notifications>();
    is_send_sync::<Handlers>();
    let hub = Hub::builder().build().expect("an empty hub builds");
    is_send_static(&hub.list_tools());
    is_send_static(&hub.call_tool("x", serde_json::Value::Null));
    is_send_static(&hub.call_tool_with("x", serde_json::Value::Null, CallOptions::new()));
    is_send_static(&hub.close());
}

/// The README's code blocks, compiled (and run where they need no server) by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
