//! The HTTP+SSE transport of protocol 2024-11-05, for servers older than streamable HTTP.
//!
//! A `GET` opens an event stream. Its first `endpoint` event names the URL that the client
//! `POST`s each message to, and the server's messages arrive as `message` events on the
//! stream. The stream is the session: when it ends, the session is dead.
//!
//! The HTTP exchanges go through rmcp's [`StreamableHttpClient`] (reqwest), so custom headers,
//! OAuth tokens and their refresh, the SSE parsing with its bound on an event's size, and the
//! HTTP error types are rmcp's, as over streamable HTTP.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::task::Poll;

use futures::StreamExt;
use futures::channel::mpsc;
use http::{HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::service::RoleClient;
use rmcp::transport::Transport;
use rmcp::transport::common::client_side_sse::BoxedSseResponse;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};

/// The event that names the URL to post messages to.
const ENDPOINT_EVENT: &str = "endpoint";
/// The event that carries one JSON-RPC message (also the default of an unnamed event).
const MESSAGE_EVENT: &str = "message";

/// A session's event stream and the URL its messages are posted to.
pub(crate) struct SseTransport<C: StreamableHttpClient> {
    client: C,
    /// Where messages are posted: the `endpoint` event's URL, on the stream's origin.
    endpoint: Arc<str>,
    headers: HashMap<HeaderName, HeaderValue>,
    /// `None` once the stream has ended.
    events: Option<BoxedSseResponse>,
    /// Messages a server sent back in a `POST`'s own response rather than on the stream.
    answered: mpsc::UnboundedSender<ServerJsonRpcMessage>,
    answers: mpsc::UnboundedReceiver<ServerJsonRpcMessage>,
    /// The server's name, for logs.
    server: String,
    /// Lines about events skipped: a server can send them as fast as it likes.
    skipping: crate::transport::log_budget::LogBudget,
}

impl<C: StreamableHttpClient> SseTransport<C> {
    /// Opens the event stream at `url` and waits for its `endpoint` event. Events over
    /// `max_event_size` bytes end the stream.
    ///
    /// # Errors
    ///
    /// The `GET`'s HTTP error (with its status, or the 401 challenge of a server that wants
    /// sign-in), a stream that ends or breaks before its `endpoint` event, or an endpoint on
    /// another origin than `url` (the headers and token must not go elsewhere).
    pub(crate) async fn open(
        client: C,
        server: &str,
        url: &str,
        headers: HashMap<HeaderName, HeaderValue>,
        max_event_size: usize,
    ) -> Result<Self, StreamableHttpError<C::Error>> {
        let mut events = client
            .get_stream_with_max_sse_event_size(
                url.into(),
                None,
                None,
                None,
                headers.clone(),
                max_event_size,
            )
            .await?;
        let endpoint = loop {
            match events.next().await {
                Some(Ok(event)) if event.event.as_deref() == Some(ENDPOINT_EVENT) => {
                    break endpoint_url(url, event.data.as_deref().unwrap_or_default())?;
                }
                // Comments and other events before it are skipped.
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(StreamableHttpError::Sse(error)),
                None => {
                    return Err(unexpected(
                        "the event stream ended before its `endpoint` event".into(),
                    ));
                }
            }
        };
        log::debug!(
            "mcp-dispatch: server `{server}`: HTTP+SSE messages go to {}",
            crate::config::redact_url(&endpoint)
        );
        let (answered, answers) = mpsc::unbounded();
        Ok(SseTransport {
            client,
            endpoint: endpoint.into(),
            headers,
            events: Some(events),
            answered,
            answers,
            server: server.to_owned(),
            skipping: crate::transport::log_budget::LogBudget::new(10),
        })
    }
}

impl<C: StreamableHttpClient> Drop for SseTransport<C> {
    fn drop(&mut self) {
        let skipped = self.skipping.take_skipped();
        if skipped > 0 {
            log::warn!(
                "mcp-dispatch: server `{}`: the session ended{}",
                self.server,
                skipped_events(skipped)
            );
        }
    }
}

/// `"; N more events skipped"` for the events skipped without a line of their own.
fn skipped_events(skipped: u64) -> String {
    if skipped == 0 {
        String::new()
    } else {
        format!("; {skipped} more events that were not JSON-RPC messages were skipped")
    }
}

/// `data` of an `endpoint` event, resolved against the stream's `url`: it must stay on the
/// same origin (scheme, host and port).
fn endpoint_url<E>(url: &str, data: &str) -> Result<String, StreamableHttpError<E>>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let base = url::Url::parse(url).map_err(|error| unexpected(format!("bad URL: {error}")))?;
    let endpoint = base.join(data.trim()).map_err(|error| {
        unexpected(format!(
            "the `endpoint` event's URL `{}` is not valid: {error}",
            crate::config::redact_url(data.trim())
        ))
    })?;
    if endpoint.origin() != base.origin() {
        return Err(unexpected(format!(
            "the `endpoint` event names `{}`, on another origin than the event stream",
            crate::config::redact_url(endpoint.as_str())
        )));
    }
    Ok(endpoint.into())
}

fn unexpected<E>(message: String) -> StreamableHttpError<E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    StreamableHttpError::UnexpectedServerResponse(Cow::Owned(message))
}

impl<C: StreamableHttpClient> Transport<RoleClient> for SseTransport<C> {
    type Error = StreamableHttpError<C::Error>;

    fn send(
        &mut self,
        message: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let client = self.client.clone();
        let endpoint = self.endpoint.clone();
        let headers = self.headers.clone();
        let answered = self.answered.clone();
        async move {
            match client
                .post_message(endpoint, message, None, None, headers)
                .await?
            {
                StreamableHttpPostResponse::Accepted => {}
                StreamableHttpPostResponse::Json(answer, _) => {
                    let _ = answered.unbounded_send(answer);
                }
                StreamableHttpPostResponse::Sse(mut events, _) => {
                    while let Some(Ok(event)) = events.next().await {
                        if let Some(Ok(answer)) = message_of(&event) {
                            let _ = answered.unbounded_send(answer);
                        }
                    }
                }
                // Kinds of answer added to rmcp later carry nothing a legacy server sends.
                _ => {}
            }
            Ok(())
        }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        loop {
            let events = self.events.as_mut()?;
            let answers = &mut self.answers;
            let next = poll_fn(|cx| {
                if let Poll::Ready(Some(answer)) = answers.poll_next_unpin(cx) {
                    return Poll::Ready(Ok(answer));
                }
                events.poll_next_unpin(cx).map(Err)
            })
            .await;
            let event = match next {
                Ok(answer) => return Some(answer),
                Err(Some(Ok(event))) => event,
                Err(Some(Err(error))) => {
                    log::warn!(
                        "mcp-dispatch: server `{}`: the event stream broke: {error}{}",
                        self.server,
                        skipped_events(self.skipping.take_skipped())
                    );
                    self.events = None;
                    return None;
                }
                Err(None) => {
                    log::info!(
                        "mcp-dispatch: server `{}`: the event stream ended{}",
                        self.server,
                        skipped_events(self.skipping.take_skipped())
                    );
                    self.events = None;
                    return None;
                }
            };
            match message_of(&event) {
                Some(Ok(message)) => return Some(message),
                Some(Err(error)) => {
                    if let Some(skipped) = self.skipping.admit() {
                        log::warn!(
                            "mcp-dispatch: server `{}`: skipping an event that is not a JSON-RPC \
                             message: {error}{}",
                            self.server,
                            crate::transport::log_budget::left_out(skipped)
                        );
                    }
                }
                None => {
                    if let Some(skipped) = self.skipping.admit() {
                        log::debug!(
                            "mcp-dispatch: server `{}`: skipping a `{}` event{}",
                            self.server,
                            event.event.as_deref().unwrap_or_default(),
                            crate::transport::log_budget::left_out(skipped)
                        );
                    }
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        // Dropping the response body closes the stream, which ends the session on the server.
        self.events = None;
        Ok(())
    }
}

/// The JSON-RPC message a `message` event (or an unnamed one) carries; `None` for other
/// events.
fn message_of(event: &sse_stream::Sse) -> Option<serde_json::Result<ServerJsonRpcMessage>> {
    match event.event.as_deref() {
        None | Some(MESSAGE_EVENT) => Some(serde_json::from_str(
            event.data.as_deref().unwrap_or_default(),
        )),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Error = StreamableHttpError<std::io::Error>;

    fn resolved(url: &str, data: &str) -> Result<String, Error> {
        endpoint_url(url, data)
    }

    #[test]
    fn an_endpoint_resolves_against_the_stream_url_on_its_origin_only() {
        let url = "http://127.0.0.1:8000/sse";
        assert_eq!(
            resolved(url, "/messages?sessionId=7").unwrap(),
            "http://127.0.0.1:8000/messages?sessionId=7"
        );
        assert_eq!(
            resolved(url, " messages/?session_id=a b\n").unwrap(),
            "http://127.0.0.1:8000/messages/?session_id=a%20b"
        );
        assert_eq!(
            resolved(url, "http://127.0.0.1:8000/m").unwrap(),
            "http://127.0.0.1:8000/m"
        );
        for elsewhere in [
            "http://127.0.0.1:8001/m",
            "https://127.0.0.1:8000/m",
            "http://evil.example/m",
            "//evil.example/m",
        ] {
            let error = resolved(url, elsewhere).unwrap_err().to_string();
            assert!(error.contains("another origin"), "{elsewhere}: {error}");
        }
        let error = resolved("not a url", "/m").unwrap_err().to_string();
        assert!(error.contains("bad URL"), "{error}");
    }

    #[test]
    fn only_message_events_carry_messages() {
        let event = |name: Option<&str>, data: &str| sse_stream::Sse {
            event: name.map(str::to_owned),
            data: Some(data.to_owned()),
            id: None,
            retry: None,
        };
        let ping = r#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
        assert!(matches!(message_of(&event(None, ping)), Some(Ok(_))));
        assert!(matches!(
            message_of(&event(Some("message"), ping)),
            Some(Ok(_))
        ));
        assert!(message_of(&event(Some("endpoint"), "/m")).is_none());
        assert!(matches!(
            message_of(&event(Some("message"), "not json")),
            Some(Err(_))
        ));
    }
}
