//! Answers to requests that servers send to the client: elicitation, sampling, roots.
//!
//! rmcp marks sampling and roots deprecated (SEP-2577), but servers still send them on every
//! protocol version that has them, so a client must be able to answer.
#![allow(deprecated)]

use std::future::Future;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use rmcp::model::{
    ClientCapabilities, CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams,
    ElicitResult, ErrorData, ListRootsResult, Root,
};

type Handler<P, R> = Arc<dyn Fn(P) -> BoxFuture<'static, Result<R, ErrorData>> + Send + Sync>;

/// Handlers for the requests a server may send to the client.
///
/// A capability is advertised to servers only when its handler is set. A request with no
/// handler is answered with a JSON-RPC "method not found" error.
///
/// On protocol 2026-07-28 a server does not send these requests: it answers the tool call
/// (or `prompts/get`, `resources/read`) with `input_required`, and the client runs the same
/// handlers and sends the call again with their answers, all within the call's timeout. A
/// handler's error (or a missing handler) then fails the call with
/// [`Error::Handler`](crate::Error::Handler), where on older versions the error goes to the
/// server, which decides what the call answers.
///
/// Each handler is called, and its future run, as a job on the client's dispatcher (never on
/// the tokio thread), so it may await the host's own machinery, such as a reply from a UI
/// thread. It must not block the thread it runs on: a `_blocking` call made in a handler is
/// refused with [`Error::WouldDeadlock`](crate::Error::WouldDeadlock); await the async form
/// instead. A handler that panics answers the server with an internal error.
///
/// # Example
///
/// ```
/// use mcp_dispatch::Handlers;
/// use mcp_dispatch::model::{ElicitResult, ElicitationAction, Root};
///
/// let handlers = Handlers::new()
///     .roots(vec![Root::new("file:///home/me/project")])
///     .on_elicitation(|request| async move {
///         // Ask the user; here: accept with the schema's defaults.
///         let _ = request;
///         Ok(ElicitResult::new(ElicitationAction::Accept))
///     });
/// # drop(handlers);
/// ```
#[derive(Clone, Default)]
pub struct Handlers {
    pub(crate) elicitation: Option<Handler<ElicitRequestParams, ElicitResult>>,
    pub(crate) sampling: Option<Handler<CreateMessageRequestParams, CreateMessageResult>>,
    pub(crate) roots: Option<Handler<(), ListRootsResult>>,
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handlers")
            .field("elicitation", &self.elicitation.is_some())
            .field("sampling", &self.sampling.is_some())
            .field("roots", &self.roots.is_some())
            .finish()
    }
}

impl Handlers {
    /// No handlers: servers are told the client offers none of these capabilities.
    pub fn new() -> Handlers {
        Handlers::default()
    }

    /// Answers `elicitation/create`: a server asking the user for input.
    pub fn on_elicitation<F, Fut>(mut self, handler: F) -> Handlers
    where
        F: Fn(ElicitRequestParams) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ElicitResult, ErrorData>> + Send + 'static,
    {
        self.elicitation = Some(Arc::new(move |params| handler(params).boxed()));
        self
    }

    /// Answers `sampling/createMessage`: a server asking the host's LLM for a completion.
    pub fn on_sampling<F, Fut>(mut self, handler: F) -> Handlers
    where
        F: Fn(CreateMessageRequestParams) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CreateMessageResult, ErrorData>> + Send + 'static,
    {
        self.sampling = Some(Arc::new(move |params| handler(params).boxed()));
        self
    }

    /// Answers `roots/list` with whatever `handler` computes.
    pub fn on_roots<F, Fut>(mut self, handler: F) -> Handlers
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ListRootsResult, ErrorData>> + Send + 'static,
    {
        self.roots = Some(Arc::new(move |()| handler().boxed()));
        self
    }

    /// Answers `roots/list` with a fixed list.
    pub fn roots(self, roots: Vec<Root>) -> Handlers {
        self.on_roots(move || {
            let roots = roots.clone();
            async move { Ok(ListRootsResult::new(roots)) }
        })
    }

    /// The capabilities these handlers let the client advertise.
    #[allow(deprecated)]
    pub(crate) fn capabilities(&self) -> ClientCapabilities {
        let mut capabilities = ClientCapabilities::default();
        if self.roots.is_some() {
            capabilities.roots = Some(Default::default());
        }
        if self.sampling.is_some() {
            capabilities.sampling = Some(Default::default());
        }
        if self.elicitation.is_some() {
            capabilities.elicitation = Some(rmcp::model::ElicitationCapability::new());
        }
        capabilities
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_capabilities_with_a_handler_are_advertised() {
        let none = Handlers::new().capabilities();
        assert!(none.roots.is_none() && none.sampling.is_none() && none.elicitation.is_none());
        let roots = Handlers::new().roots(Vec::new()).capabilities();
        assert!(roots.roots.is_some() && roots.sampling.is_none() && roots.elicitation.is_none());
        let all = Handlers::new()
            .roots(Vec::new())
            .on_sampling(|_| async { Err(ErrorData::internal_error("unused", None)) })
            .on_elicitation(|_| async { Err(ErrorData::internal_error("unused", None)) })
            .capabilities();
        assert!(all.roots.is_some() && all.sampling.is_some() && all.elicitation.is_some());
    }
}
