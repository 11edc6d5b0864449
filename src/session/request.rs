//! Sending one request on a session: timeouts, cancellation, and telling "never sent" apart
//! from "lost in flight".

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use rmcp::model::{
    CallToolResult, CancelledNotificationParam, ClientRequest, GetPromptResult, ReadResourceResult,
    ServerResult,
};
use rmcp::service::{PeerRequestOptions, ServiceError};
use rmcp::{Peer, RoleClient};

use crate::session::notify::{Progress, ProgressRoutes};

/// How long to wait for a request's answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    /// Without an answer (or, with `reset_on_progress`, without progress) for this long, the
    /// request is cancelled.
    pub(crate) timeout: Duration,
    /// With `Some`, progress notifications restart the timeout, up to this total.
    pub(crate) reset_on_progress: Option<Duration>,
}

impl Deadline {
    /// rmcp's timeout options: only for a timeout that progress resets, which rmcp tracks. A
    /// plain timeout is kept by [`send`] itself, because rmcp's waits for the cancellation to
    /// be handed to the session, which a session being torn down does not do for seconds.
    fn options(&self) -> PeerRequestOptions {
        match self.reset_on_progress {
            Some(total) => PeerRequestOptions::with_timeout(self.timeout)
                .reset_timeout_on_progress()
                .with_max_total_timeout(total),
            None => PeerRequestOptions::no_options(),
        }
    }

    /// When [`send`] gives up whatever rmcp is doing: the timeout, or, when progress resets
    /// it, a little after rmcp's own total bound.
    fn bound(&self) -> Duration {
        match self.reset_on_progress {
            Some(_) => self.longest() + REQUEST_SLACK,
            None => self.timeout,
        }
    }

    /// What is left of this deadline `elapsed` after the request began (across the rounds
    /// of a request the server answers with `input_required`); `None` once it has passed.
    pub(crate) fn after(&self, elapsed: Duration) -> Option<Deadline> {
        match self.reset_on_progress {
            Some(total) => Some(Deadline {
                timeout: self.timeout,
                reset_on_progress: Some(total.checked_sub(elapsed).filter(|left| !left.is_zero())?),
            }),
            None => Some(Deadline {
                timeout: self
                    .timeout
                    .checked_sub(elapsed)
                    .filter(|left| !left.is_zero())?,
                reset_on_progress: None,
            }),
        }
    }

    /// The longest the request can take.
    pub(crate) fn longest(&self) -> Duration {
        self.reset_on_progress
            .map_or(self.timeout, |total| total.max(self.timeout))
    }
}

/// Where to send a call's progress: the routes, the session's key, and the caller's sink.
pub(crate) type ProgressRoute = (
    std::sync::Arc<ProgressRoutes>,
    u64,
    futures::channel::mpsc::UnboundedSender<Progress>,
);

/// Why a request failed.
pub(crate) enum Failure {
    /// The request never left: the session was already closed. Always safe to retry.
    NotSent,
    /// The request was handed to the session and then failed.
    Sent(ServiceError),
    /// The request failed on the client's side (a handler that answers the server's input
    /// requests failed): final, never retried.
    Failed(crate::Error),
}

/// How long past rmcp's own bound a request waits for rmcp to report its timeout.
const REQUEST_SLACK: Duration = Duration::from_millis(100);

/// Sends `request` and waits for its answer, at most until the deadline, or until `died`
/// completes (the session was seen to die: the request fails at once as closed).
///
/// A timeout, or dropping the returned future while waiting, sends
/// `notifications/cancelled` to the server. Must run inside the library's tokio context.
pub(crate) async fn send(
    peer: &Peer<RoleClient>,
    request: ClientRequest,
    deadline: Deadline,
    progress: Option<ProgressRoute>,
    died: impl Future<Output = ()>,
) -> Result<ServerResult, Failure> {
    let handle = match peer
        .send_cancellable_request(request, deadline.options())
        .await
    {
        Ok(handle) => handle,
        Err(ServiceError::TransportClosed) => return Err(Failure::NotSent),
        Err(error) => return Err(Failure::Sent(error)),
    };
    let route = progress.map(|(routes, session, sink)| {
        routes.register(session, handle.progress_token.clone(), sink)
    });
    let mut guard = CancelOnDrop {
        peer: Some(peer.clone()),
        id: handle.id.clone(),
    };
    let answer = {
        let mut response = pin!(handle.await_response());
        let mut died = pin!(died);
        let mut timer = pin!(crate::runtime::sleep(deadline.bound()));
        poll_fn(|cx| {
            if let Poll::Ready(answer) = response.as_mut().poll(cx) {
                // Answered, or timed out with progress (rmcp then sent the cancellation).
                return Poll::Ready(Some(answer));
            }
            if died.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Some(Err(ServiceError::TransportClosed)));
            }
            // Timed out: the guard sends the cancellation, without waiting for it.
            timer.as_mut().poll(cx).map(|()| None)
        })
        .await
    };
    let Some(answer) = answer else {
        return Err(Failure::Sent(ServiceError::Timeout {
            timeout: deadline.timeout,
        }));
    };
    guard.peer = None;
    if route.is_some() {
        // Let progress reports that arrived just before the answer reach the caller first.
        crate::runtime::after_queued_tasks().await;
    }
    drop(route);
    answer.map_err(Failure::Sent)
}

/// Sends `notifications/cancelled` for a request whose caller went away.
struct CancelOnDrop {
    peer: Option<Peer<RoleClient>>,
    id: rmcp::model::RequestId,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(peer) = self.peer.take() {
            let param = CancelledNotificationParam::new(
                Some(self.id.clone()),
                Some("request abandoned by the caller".to_owned()),
            );
            // Dropped inside a job, so the tokio context is entered.
            crate::runtime::spawn(async move {
                let _ = peer.notify_cancelled(param).await;
            });
        }
    }
}

/// The `CallToolResult` in a server's answer.
pub(crate) fn call_tool_result(result: ServerResult) -> Result<CallToolResult, Unexpected> {
    match result {
        ServerResult::CallToolResult(result) => Ok(result),
        ServerResult::CreateTaskResult(_) => Err(Unexpected::Task),
        // A result with no content can parse as another shape; read it as a tool result.
        other => reshape(other, "tools/call"),
    }
}

/// The `GetPromptResult` in a server's answer.
pub(crate) fn get_prompt_result(result: ServerResult) -> Result<GetPromptResult, Unexpected> {
    match result {
        ServerResult::GetPromptResult(result) => Ok(result),
        other => reshape(other, "prompts/get"),
    }
}

/// The `ReadResourceResult` in a server's answer.
pub(crate) fn read_resource_result(result: ServerResult) -> Result<ReadResourceResult, Unexpected> {
    match result {
        ServerResult::ReadResourceResult(result) => Ok(result),
        other => reshape(other, "resources/read"),
    }
}

/// An answer that parsed as another shape, read as the one `method` gives.
fn reshape<T: serde::de::DeserializeOwned>(
    result: ServerResult,
    method: &'static str,
) -> Result<T, Unexpected> {
    serde_json::to_value(&result)
        .and_then(serde_json::from_value::<T>)
        .map_err(|cause| Unexpected::Shape { method, cause })
}

/// An answer a request cannot take.
#[derive(Debug)]
pub(crate) enum Unexpected {
    /// A task (the Tasks extension), which this client does not follow.
    Task,
    /// Not of the shape the request's `method` gives, for the reason `cause`.
    Shape {
        method: &'static str,
        cause: serde_json::Error,
    },
}

impl Unexpected {
    /// The error a caller of `server` gets: what was wrong in our words, and serde's reason
    /// as its source.
    pub(crate) fn into_error(self, server: &str) -> crate::error::Error {
        let (message, source) = match self {
            Unexpected::Task => (
                "the server answered with a task, which is not supported".to_owned(),
                None,
            ),
            Unexpected::Shape { method, cause } => (
                format!("unexpected answer to {method}"),
                Some(std::sync::Arc::new(cause) as _),
            ),
        };
        crate::error::Error::Protocol {
            server: server.to_owned(),
            message,
            source,
        }
    }
}
