//! The client of one server: its calls, each in an async and a blocking form.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::Either;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, GetPromptRequestParams, GetPromptResult, Prompt,
    ReadResourceRequestParams, ReadResourceResult, Resource, ResourceTemplate, ServerPeerInfo,
    Tool,
};

pub(crate) use crate::client::builder::ClientBuilder;
use crate::client::inner::Inner;
use crate::client::options::{CallOptions, OnProgress, Stats};
use crate::config::ServerConfig;
use crate::error::{Error, Result, panic_message};
use crate::runtime;
use crate::runtime::blocking::{Waited, wait_for_jobs};
use crate::runtime::sync::lock;
use crate::session::notify::{Notifications, Progress};
use crate::session::request;

/// How long past the close timeout a close waits for a process stopped mid-connect.
const CLOSE_SLACK: Duration = Duration::from_secs(1);

/// A client of one MCP server: cheap to clone, usable from any thread and any executor.
///
/// The client is lazy: the first call starts the server and runs the MCP handshake. After that
/// every call reuses the session, and calls from many threads run concurrently on it
/// (requests are multiplexed). The session sits behind a single-flight lock: concurrent first
/// calls start exactly one server, and when a session dies, the callers that saw it die cause
/// exactly one replacement.
///
/// Every method comes in two forms. The `async` form returns a `Send + 'static` future that
/// can be awaited on any executor (async-std, smol, `futures::executor`, a hand-written one,
/// tokio). The `_blocking` form waits on the calling thread.
///
/// The work itself always runs on the client's [`Dispatcher`](crate::Dispatcher): the shared [`Executor`](crate::Executor) unless
/// another was given to [`ClientBuilder::dispatcher`].
///
/// # Example
///
/// ```no_run
/// use mcp_dispatch::{Client, ServerConfig};
/// use serde_json::json;
///
/// let client = Client::new(ServerConfig::stdio("my-mcp-server"));
/// let result = client.call_tool_blocking("add", json!({"a": 2, "b": 3}))?;
/// assert_ne!(result.is_error, Some(true));
/// # Ok::<(), mcp_dispatch::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// Shared by the user's handles only (jobs hold `inner`): its drop closes the client.
    #[allow(dead_code)]
    owner: Arc<Owner>,
}

/// Closes the client when the last user handle drops, even while jobs (a connect in flight)
/// still hold its state.
struct Owner(Arc<Inner>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.abandon();
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the server `config` describes, running on the shared [`Executor`](crate::Executor).
    ///
    /// Nothing is started until the first call. Like [`ClientBuilder::build`], this cannot
    /// fail: if the library's threads cannot start, every call returns [`Error::Runtime`].
    pub fn new(config: ServerConfig) -> Client {
        Client::builder(config).build()
    }

    /// A builder, to choose the dispatcher and the timeouts.
    pub fn builder(config: ServerConfig) -> ClientBuilder {
        ClientBuilder::new(config)
    }

    /// A client of the state `inner`, which it closes when its last clone drops.
    pub(crate) fn from_inner(inner: Arc<Inner>) -> Client {
        Client {
            owner: Arc::new(Owner(inner.clone())),
            inner,
        }
    }

    /// The server's name, as used in errors and logs.
    pub fn server_name(&self) -> &str {
        &self.inner.name
    }

    /// True while the client holds a session that has not been seen to close.
    ///
    /// ```
    /// use mcp_dispatch::{Client, ServerConfig};
    ///
    /// let client = Client::new(ServerConfig::stdio("my-mcp-server"));
    /// assert!(!client.is_connected(), "nothing starts before the first call");
    /// ```
    pub fn is_connected(&self) -> bool {
        self.inner
            .slot
            .current()
            .is_some_and(|(session, _)| !session.is_dead())
    }

    /// The process id of the server behind the live session, if there is one.
    ///
    /// ```
    /// use mcp_dispatch::{Client, ServerConfig};
    ///
    /// let client = Client::new(ServerConfig::stdio("my-mcp-server"));
    /// assert_eq!(client.pid(), None, "nothing starts before the first call");
    /// ```
    pub fn pid(&self) -> Option<u32> {
        self.inner
            .slot
            .current()
            .and_then(|(session, _)| session.pid)
    }

    /// Lists every tool the server offers (all pages).
    ///
    /// The list is cached: later calls return it without asking the server, until the server
    /// says it changed (`notifications/tools/list_changed`) or the session is replaced.
    /// Callers that ask while the list is being fetched share that one fetch.
    ///
    /// # Errors
    ///
    /// Connect errors ([`Error::Spawn`], [`Error::Initialize`], [`Error::ConnectTimeout`]),
    /// [`Error::Timeout`], [`Error::Server`], [`Error::TransportClosed`], and
    /// [`Error::Closed`] / [`Error::Shutdown`].
    pub fn list_tools(&self) -> impl Future<Output = Result<Vec<Tool>>> + Send + 'static {
        self.run(|inner| async move { Ok(inner.tools().await?.as_ref().clone()) })
    }

    /// Subscribes to the server's [`Notification`](crate::Notification)s: log messages,
    /// resource updates, list changes. Only notifications sent after this call are seen.
    pub fn notifications(&self) -> Notifications {
        self.inner.hooks.bus.subscribe()
    }

    /// Calls the tool `name` with `arguments`, a JSON object (or `null` for none).
    ///
    /// A tool that reports failure gives `Ok` with
    /// [`is_error`](crate::model::CallToolResult::is_error) set to `Some(true)`.
    ///
    /// Dropping the returned future cancels the call on the server
    /// (`notifications/cancelled`); the session stays usable.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArguments`] if `arguments` is not an object or `null`; otherwise as
    /// [`list_tools`](Client::list_tools), with the tool named.
    pub fn call_tool(
        &self,
        name: impl Into<String>,
        arguments: serde_json::Value,
    ) -> impl Future<Output = Result<CallToolResult>> + Send + 'static {
        self.call_tool_with(name, arguments, CallOptions::new())
    }

    /// [`call_tool`](Client::call_tool) with per-call options: timeout, timeout reset on
    /// progress, retry policy, and a callback for the server's progress reports
    /// ([`CallOptions::on_progress`]).
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Client::call_tool), plus [`Error::Panicked`] if the progress callback
    /// panics.
    pub fn call_tool_with(
        &self,
        name: impl Into<String>,
        arguments: serde_json::Value,
        mut options: CallOptions,
    ) -> impl Future<Output = Result<CallToolResult>> + Send + 'static {
        let name = name.into();
        let server = self.inner.name.clone();
        let arguments = self.arguments(&name, arguments);
        let on_progress = options.on_progress.take();
        let (sink, reports) = match on_progress {
            Some(_) => {
                let (sink, reports) = futures::channel::mpsc::unbounded::<Progress>();
                (Some(sink), Some(reports))
            }
            None => (None, None),
        };
        let call = self.run(move |inner| async move {
            let params = params(&name, arguments?);
            let result = inner.call_tool(&name, params, &options, sink).await?;
            let as_err = options
                .tool_errors_as_err
                .unwrap_or(inner.policy.tool_errors_as_err);
            if as_err && result.is_error == Some(true) {
                return Err(Error::Tool {
                    server: inner.name.clone(),
                    tool: name,
                    message: crate::client::result_text::ResultText::text(&result),
                    result: Box::new(result),
                });
            }
            Ok(result)
        });
        async move {
            let (Some(on_progress), Some(mut reports)) = (on_progress, reports) else {
                return call.await;
            };
            let mut call = std::pin::pin!(call);
            loop {
                match futures::future::select(call.as_mut(), reports.next()).await {
                    Either::Left((result, _)) => {
                        // Reports that arrived before the answer still go out, in order.
                        while let Ok(progress) = reports.try_recv() {
                            deliver(&on_progress, progress, &server)?;
                        }
                        return result;
                    }
                    Either::Right((Some(progress), _)) => {
                        deliver(&on_progress, progress, &server)?;
                    }
                    Either::Right((None, _)) => return call.await,
                }
            }
        }
    }

    /// Lists the server's resources (all pages).
    ///
    /// # Errors
    ///
    /// As [`list_tools`](Client::list_tools).
    pub fn list_resources(&self) -> impl Future<Output = Result<Vec<Resource>>> + Send + 'static {
        self.read_only("resources/list", |peer| async move {
            peer.list_all_resources().await
        })
    }

    /// Lists the server's resource templates (all pages).
    ///
    /// # Errors
    ///
    /// As [`list_tools`](Client::list_tools).
    pub fn list_resource_templates(
        &self,
    ) -> impl Future<Output = Result<Vec<ResourceTemplate>>> + Send + 'static {
        self.read_only("resources/templates/list", |peer| async move {
            peer.list_all_resource_templates().await
        })
    }

    /// Reads the resource at `uri`.
    ///
    /// # Errors
    ///
    /// As [`list_tools`](Client::list_tools); an unknown URI is the server's
    /// [`Error::Server`].
    pub fn read_resource(
        &self,
        uri: impl Into<String>,
    ) -> impl Future<Output = Result<ReadResourceResult>> + Send + 'static {
        let params = ReadResourceRequestParams::new(uri.into());
        self.run(move |inner| async move {
            inner
                .read_in_rounds("resources/read", params, request::read_resource_result)
                .await
        })
    }

    /// Subscribes to changes of the resource at `uri`: the server then sends
    /// [`Notification::ResourceUpdated`](crate::Notification::ResourceUpdated), received
    /// through [`notifications`](Client::notifications).
    ///
    /// On protocol 2026-07-28 the subscription is a `subscriptions/listen` stream of its own
    /// (opened again if the server ends it while the session lives); on older versions it is
    /// `resources/subscribe`. Either way it belongs to a session: after a reconnect,
    /// subscribe again.
    ///
    /// # Errors
    ///
    /// As [`list_tools`](Client::list_tools); a server that does not accept the subscription
    /// gives its [`Error::Server`].
    pub fn subscribe_resource(
        &self,
        uri: impl Into<String>,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let (uri, hooks) = (uri.into(), self.inner.hooks.clone());
        self.read_only("resources/subscribe", move |peer| {
            let (uri, hooks) = (uri.clone(), hooks.clone());
            async move { crate::session::listen::subscribe(&peer, &hooks, uri).await }
        })
    }

    /// Ends a subscription made with [`subscribe_resource`](Client::subscribe_resource); on
    /// protocol 2026-07-28, cancels its stream (and does nothing when there is none).
    ///
    /// # Errors
    ///
    /// As [`list_tools`](Client::list_tools).
    pub fn unsubscribe_resource(
        &self,
        uri: impl Into<String>,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let (uri, hooks) = (uri.into(), self.inner.hooks.clone());
        self.read_only("resources/unsubscribe", move |peer| {
            let (uri, hooks) = (uri.clone(), hooks.clone());
            async move { crate::session::listen::unsubscribe(&peer, &hooks, uri).await }
        })
    }

    /// Lists the server's prompts (all pages).
    ///
    /// # Errors
    ///
    /// As [`list_tools`](Client::list_tools).
    pub fn list_prompts(&self) -> impl Future<Output = Result<Vec<Prompt>>> + Send + 'static {
        self.read_only("prompts/list", |peer| async move {
            peer.list_all_prompts().await
        })
    }

    /// Gets the prompt `name`, filled in with `arguments` (a JSON object of strings, or
    /// `null`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArguments`] if `arguments` is not an object or `null`; otherwise as
    /// [`list_tools`](Client::list_tools).
    pub fn get_prompt(
        &self,
        name: impl Into<String>,
        arguments: serde_json::Value,
    ) -> impl Future<Output = Result<GetPromptResult>> + Send + 'static {
        let name = name.into();
        let arguments = self.arguments(&name, arguments);
        self.run(move |inner| async move {
            let mut params = GetPromptRequestParams::new(name);
            if let Some(arguments) = arguments? {
                params = params.with_arguments(arguments);
            }
            inner
                .read_in_rounds("prompts/get", params, request::get_prompt_result)
                .await
        })
    }

    /// Blocking form of [`list_resources`](Client::list_resources). See
    /// [`list_tools_blocking`](Client::list_tools_blocking) for how it blocks.
    pub fn list_resources_blocking(&self) -> Result<Vec<Resource>> {
        self.block("list_resources_blocking", None, self.list_resources())
    }

    /// Blocking form of [`list_resource_templates`](Client::list_resource_templates). See
    /// [`list_tools_blocking`](Client::list_tools_blocking) for how it blocks.
    pub fn list_resource_templates_blocking(&self) -> Result<Vec<ResourceTemplate>> {
        let future = self.list_resource_templates();
        self.block("list_resource_templates_blocking", None, future)
    }

    /// Blocking form of [`read_resource`](Client::read_resource). See
    /// [`list_tools_blocking`](Client::list_tools_blocking) for how it blocks.
    pub fn read_resource_blocking(&self, uri: impl Into<String>) -> Result<ReadResourceResult> {
        self.block("read_resource_blocking", None, self.read_resource(uri))
    }

    /// Blocking form of [`subscribe_resource`](Client::subscribe_resource). See
    /// [`list_tools_blocking`](Client::list_tools_blocking) for how it blocks.
    pub fn subscribe_resource_blocking(&self, uri: impl Into<String>) -> Result<()> {
        self.block(
            "subscribe_resource_blocking",
            None,
            self.subscribe_resource(uri),
        )
    }

    /// Blocking form of [`unsubscribe_resource`](Client::unsubscribe_resource). See
    /// [`list_tools_blocking`](Client::list_tools_blocking) for how it blocks.
    pub fn unsubscribe_resource_blocking(&self, uri: impl Into<String>) -> Result<()> {
        let future = self.unsubscribe_resource(uri);
        self.block("unsubscribe_resource_blocking", None, future)
    }

    /// Blocking form of [`list_prompts`](Client::list_prompts). See
    /// [`list_tools_blocking`](Client::list_tools_blocking) for how it blocks.
    pub fn list_prompts_blocking(&self) -> Result<Vec<Prompt>> {
        self.block("list_prompts_blocking", None, self.list_prompts())
    }

    /// Blocking form of [`get_prompt`](Client::get_prompt). See
    /// [`list_tools_blocking`](Client::list_tools_blocking) for how it blocks.
    pub fn get_prompt_blocking(
        &self,
        name: impl Into<String>,
        arguments: serde_json::Value,
    ) -> Result<GetPromptResult> {
        self.block(
            "get_prompt_blocking",
            None,
            self.get_prompt(name, arguments),
        )
    }

    /// Runs a read-only request as a job: bounded by the call timeout, retried once on a new
    /// session if its session dies under it.
    fn read_only<T, F, Fut>(
        &self,
        what: &'static str,
        request: F,
    ) -> impl Future<Output = Result<T>> + Send + 'static
    where
        T: Send + 'static,
        F: Fn(rmcp::Peer<rmcp::RoleClient>) -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, rmcp::service::ServiceError>> + Send,
    {
        self.run(move |inner| async move { inner.read_only(what, request).await })
    }

    /// Checks a call's arguments: a JSON object, or `null` for none.
    fn arguments(
        &self,
        tool: &str,
        arguments: serde_json::Value,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>> {
        match arguments {
            serde_json::Value::Object(map) => Ok(Some(map)),
            serde_json::Value::Null => Ok(None),
            other => Err(Error::InvalidArguments {
                server: self.inner.name.clone(),
                tool: tool.to_owned(),
                found: json_type(&other),
            }),
        }
    }
    /// What the server said about itself in the handshake: name, version, protocol version,
    /// capabilities and instructions. Connects if needed.
    ///
    /// # Errors
    ///
    /// Connect errors, and [`Error::Closed`] / [`Error::Shutdown`].
    pub fn server_info(&self) -> impl Future<Output = Result<ServerPeerInfo>> + Send + 'static {
        self.run(|inner| async move {
            let session = inner.session().await?;
            session.server_info(&inner.name)
        })
    }

    /// Closes the client: the session (if any) is shut down gracefully, bounded by the close
    /// timeout, after which its process group is killed. Later calls fail with
    /// [`Error::Closed`]. Closing twice is fine.
    ///
    /// # Errors
    ///
    /// [`Error::Shutdown`] if the dispatcher is gone (the session is then dropped, which also
    /// ends it).
    pub fn close(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        let session = self.inner.close_slot();
        self.run(move |inner| async move {
            match session {
                Some(session) => session.close(&inner.name, inner.policy.close_timeout).await,
                // A connect may have been in flight: wait for its process to be stopped.
                None => {
                    inner
                        .started_process_stopped(inner.policy.close_timeout + CLOSE_SLACK)
                        .await
                }
            }
            Ok(())
        })
    }

    /// Blocking form of [`list_tools`](Client::list_tools).
    ///
    /// # Blocking
    ///
    /// Waits on the calling thread, bounded by the connect and call timeouts (plus a few
    /// seconds). Called where waiting would keep the call's own job from running, it returns
    /// [`Error::WouldDeadlock`] at once: on the library's thread, inside a job on any
    /// dispatcher, on a thread this client's host dispatcher has run jobs on, or in this
    /// client's own sign-in step. If a host dispatcher never starts the job (the caller blocks
    /// the only thread it runs jobs on, before any job ran there), a warning is logged after
    /// a quarter of the bound (at most 5 s), and the call ends with
    /// [`Error::NotDispatched`] rather than [`Error::Timeout`].
    pub fn list_tools_blocking(&self) -> Result<Vec<Tool>> {
        self.block("list_tools_blocking", None, self.list_tools())
    }

    /// Blocking form of [`call_tool`](Client::call_tool). See
    /// [`list_tools_blocking`](Client::list_tools_blocking) for how it blocks.
    pub fn call_tool_blocking(
        &self,
        name: impl Into<String>,
        arguments: serde_json::Value,
    ) -> Result<CallToolResult> {
        let name = name.into();
        let call = self.call_tool(name.clone(), arguments);
        self.block("call_tool_blocking", Some(name), call)
    }

    /// Blocking form of [`call_tool_with`](Client::call_tool_with). See
    /// [`list_tools_blocking`](Client::list_tools_blocking) for how it blocks; the bound
    /// follows the call's own timeout.
    pub fn call_tool_with_blocking(
        &self,
        name: impl Into<String>,
        arguments: serde_json::Value,
        options: CallOptions,
    ) -> Result<CallToolResult> {
        let name = name.into();
        let longest = self.inner.deadline(&options).longest();
        let call = self.call_tool_with(name.clone(), arguments, options);
        self.block_for("call_tool_with_blocking", Some(name), longest, call)
    }

    /// What this client has done so far: connects, failed connects, retries.
    pub fn stats(&self) -> Stats {
        self.inner.counters.stats()
    }

    /// Blocking form of [`server_info`](Client::server_info). See
    /// [`list_tools_blocking`](Client::list_tools_blocking) for how it blocks.
    pub fn server_info_blocking(&self) -> Result<ServerPeerInfo> {
        self.block("server_info_blocking", None, self.server_info())
    }

    /// Blocking form of [`close`](Client::close). See
    /// [`list_tools_blocking`](Client::list_tools_blocking) for how it blocks.
    pub fn close_blocking(&self) -> Result<()> {
        self.block("close_blocking", None, self.close())
    }

    /// Waits for `future` on this thread, bounded, refusing where it would deadlock.
    fn block<T>(
        &self,
        method: &'static str,
        tool: Option<String>,
        future: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let longest = self
            .inner
            .policy
            .call_timeout
            .max(self.inner.policy.close_timeout);
        self.block_for(method, tool, longest, future)
    }

    /// [`block`](Client::block) for a request that can take `longest` once connected. A
    /// retry may connect and send again, so the bound covers two rounds.
    fn block_for<T>(
        &self,
        method: &'static str,
        tool: Option<String>,
        longest: Duration,
        future: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        if self.blocking_would_deadlock() {
            return Err(Error::WouldDeadlock {
                server: self.inner.name.clone(),
                method,
            });
        }
        let bound =
            crate::runtime::blocking::request_bound(self.inner.policy.connect_timeout, longest);
        let server = &self.inner.name;
        let what = || format!("server `{server}`: `{method}`");
        match wait_for_jobs(&what, bound, future) {
            Waited::Done(outcome) => outcome,
            Waited::TimedOut => Err(Error::Timeout {
                server: server.clone(),
                tool,
                timeout: bound,
            }),
            Waited::NotDispatched => Err(Error::NotDispatched {
                server: server.clone(),
                method,
                waited: bound,
            }),
        }
    }

    /// True where a blocking call of this client would deadlock: on a thread that runs the
    /// library's jobs, one its host dispatcher has run them on, or in its own sign-in step.
    pub(crate) fn blocking_would_deadlock(&self) -> bool {
        self.inner
            .jobs()
            .is_ok_and(|jobs| jobs.blocking_would_deadlock())
            || runtime::blocking_would_deadlock()
            || self.inner.signing_in_here()
    }

    /// Runs `work` as a job on the dispatcher and returns a future of its result.
    ///
    /// The job is dispatched on the first poll. Dropping the returned future drops the work
    /// (which cancels an rmcp request in flight); a job that panics gives
    /// [`Error::Panicked`]; a job the dispatcher drops gives [`Error::Shutdown`].
    fn run<T, W, F>(&self, work: W) -> impl Future<Output = Result<T>> + Send + 'static
    where
        T: Send + 'static,
        W: FnOnce(Arc<Inner>) -> F + Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let server = self.inner.name.clone();
        // The job is built here, not in the future below, so that future stays small.
        let job = match self.inner.jobs() {
            Ok(jobs) => Ok(jobs.run(work(self.inner.clone()))),
            Err(error) => Err(error),
        };
        async move {
            job?.await
                .unwrap_or_else(|lost| Err(lost.into_error(server)))
        }
    }
}

/// The `tools/call` parameters.
fn params(
    name: &str,
    arguments: Option<serde_json::Map<String, serde_json::Value>>,
) -> CallToolRequestParams {
    let params = CallToolRequestParams::new(name.to_owned());
    match arguments {
        Some(arguments) => params.with_arguments(arguments),
        None => params,
    }
}

/// Runs a progress callback, turning its panic into an error for this call.
fn deliver(on_progress: &OnProgress, progress: Progress, server: &str) -> Result<()> {
    std::panic::catch_unwind(AssertUnwindSafe(|| (lock(on_progress))(progress))).map_err(
        |payload| Error::Panicked {
            server: server.to_owned(),
            message: format!("progress callback: {}", panic_message(&*payload)),
        },
    )
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A caller keeps the returned future on its stack (the blocking forms pin it there) and
    /// moves it around; the request's own state, many kilobytes, lives in the boxed job.
    #[test]
    fn returned_futures_stay_small() {
        const BOUND: usize = 2048;
        let client = Client::new(ServerConfig::stdio("unused"));
        let sizes = [
            ("list_tools", size_of_val(&client.list_tools())),
            (
                "call_tool",
                size_of_val(&client.call_tool("t", serde_json::Value::Null)),
            ),
            (
                "call_tool_with",
                size_of_val(&client.call_tool_with(
                    "t",
                    serde_json::Value::Null,
                    CallOptions::new(),
                )),
            ),
            ("server_info", size_of_val(&client.server_info())),
            ("close", size_of_val(&client.close())),
        ];
        let hub = crate::Hub::builder().build().expect("an empty hub builds");
        let hub_sizes = [
            ("Hub::list_tools", size_of_val(&hub.list_tools())),
            (
                "Hub::call_tool",
                size_of_val(&hub.call_tool("t", serde_json::Value::Null)),
            ),
        ];
        for (method, size) in sizes.into_iter().chain(hub_sizes) {
            assert!(size <= BOUND, "the future of `{method}` is {size} bytes");
        }
    }
}
