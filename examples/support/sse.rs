//! The HTTP+SSE transport of protocol 2024-11-05, served beside streamable HTTP by the test
//! server's HTTP mode, as servers written before streamable HTTP serve it:
//!
//! - `GET /sse` opens a session's event stream. Its first event, `endpoint`, names
//!   `/messages?sessionId=N`; the server's messages follow as `message` events.
//!   `GET /sse?silent` opens a stream that never names its endpoint; `GET /sse?junk=N` sends
//!   N events that are not JSON-RPC messages (`data: x`) right after the endpoint.
//! - `POST /messages?sessionId=N` carries one client message and is answered `202 Accepted`
//!   (`404` for an unknown session, `400` for a body that is not a JSON-RPC message).
//! - `POST /sse` is answered `405 Method Not Allowed`, as such a server answers a streamable
//!   HTTP client, so a client can fall back to `GET`.
//!
//! Two tool calls are not handed to the server. A `tools/call` of `hang_up` ends that
//! session's event stream at once, so the call is left without an answer (a stream dropped
//! mid-call). A `tools/call` of `http_error` with `{"status": N}` is answered with that HTTP
//! status, and the session carries on. Closing the event stream ends the session.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};

use futures::StreamExt;
use futures::channel::{mpsc, oneshot};
use http_body_util::BodyExt;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};

use super::{HttpBody, TestServer, plain_response};

/// Where the event streams are opened.
pub const SSE_PATH: &str = "/sse";
/// Where messages are posted.
const MESSAGES_PATH: &str = "/messages";
/// The tool whose call ends the session's event stream instead.
const HANG_UP_TOOL: &str = "hang_up";
/// The tool whose call is answered with an HTTP error status instead.
const HTTP_ERROR_TOOL: &str = "http_error";

/// An open session: where its client's messages go, and how to end its stream.
struct Session {
    to_server: mpsc::UnboundedSender<ClientJsonRpcMessage>,
    hang_up: Option<oneshot::Sender<()>>,
}

static SESSIONS: LazyLock<Mutex<HashMap<u64, Session>>> = LazyLock::new(Default::default);
static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

fn sessions() -> std::sync::MutexGuard<'static, HashMap<u64, Session>> {
    SESSIONS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes its session when the event stream is dropped (the client went away, or the
/// session hung up), which ends the session's server.
struct Forget(u64);

impl Drop for Forget {
    fn drop(&mut self) {
        sessions().remove(&self.0);
    }
}

/// Answers a request for the SSE transport's paths; any other request is handed back.
pub async fn answer<B>(
    request: http::Request<B>,
) -> Result<http::Response<HttpBody>, http::Request<B>>
where
    B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: std::fmt::Display,
{
    let path = request.uri().path();
    if path == SSE_PATH {
        return Ok(if request.method() == http::Method::GET {
            let query = request.uri().query().unwrap_or_default();
            if query == "silent" {
                silent()
            } else {
                let junk = query
                    .strip_prefix("junk=")
                    .and_then(|count| count.parse().ok())
                    .unwrap_or(0);
                open(junk)
            }
        } else {
            plain_response(http::StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        });
    }
    if path == MESSAGES_PATH && request.method() == http::Method::POST {
        return Ok(post(request).await);
    }
    Err(request)
}

/// An event stream that stays open and never names its endpoint (`GET /sse?silent`).
fn silent() -> http::Response<HttpBody> {
    let never = futures::stream::pending::<Result<hyper::body::Frame<bytes::Bytes>, Infallible>>();
    event_stream(BodyExt::boxed(http_body_util::StreamBody::new(never)))
}

/// `body` as an event stream response.
fn event_stream(body: HttpBody) -> http::Response<HttpBody> {
    let mut response = http::Response::new(body);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    response
}

/// Starts a session and returns its event stream, which sends `junk` events that are not
/// JSON-RPC messages right after its endpoint.
fn open(junk: usize) -> http::Response<HttpBody> {
    let id = NEXT_SESSION.fetch_add(1, Ordering::Relaxed);
    let (to_server, from_client) = mpsc::unbounded::<ClientJsonRpcMessage>();
    let (to_client, from_server) = mpsc::unbounded::<ServerJsonRpcMessage>();
    let (hang_up, hung_up) = oneshot::channel::<()>();
    sessions().insert(
        id,
        Session {
            to_server,
            hang_up: Some(hang_up),
        },
    );
    tokio::spawn(async move {
        if let Ok(running) = rmcp::serve_server(TestServer::new(), (to_client, from_client)).await {
            let _ = running.waiting().await;
        }
    });
    let endpoint = futures::stream::once(async move {
        format!("event: endpoint\ndata: {MESSAGES_PATH}?sessionId={id}\n\n")
    });
    let forget = Forget(id);
    let messages = from_server.map(move |message| {
        let _session = &forget;
        let json = serde_json::to_string(&message).unwrap_or_default();
        format!("event: message\ndata: {json}\n\n")
    });
    let junk = futures::stream::iter((0..junk).map(|_| "data: x\n\n".to_owned()));
    let events = endpoint
        .chain(junk)
        .chain(messages)
        .take_until(hung_up)
        .map(|event| Ok::<_, Infallible>(hyper::body::Frame::data(bytes::Bytes::from(event))));
    event_stream(BodyExt::boxed(http_body_util::StreamBody::new(events)))
}

/// Hands one posted message to its session's server.
async fn post<B>(request: http::Request<B>) -> http::Response<HttpBody>
where
    B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: std::fmt::Display,
{
    let id = request.uri().query().and_then(|query| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("sessionId="))
            .and_then(|id| id.parse::<u64>().ok())
    });
    let Some(id) = id.filter(|id| sessions().contains_key(id)) else {
        return plain_response(http::StatusCode::NOT_FOUND, "no such session");
    };
    let Ok(body) = request.into_body().collect().await else {
        return plain_response(http::StatusCode::BAD_REQUEST, "unreadable body");
    };
    let body = body.to_bytes();
    let Ok(message) = serde_json::from_slice::<ClientJsonRpcMessage>(&body) else {
        return plain_response(http::StatusCode::BAD_REQUEST, "not a JSON-RPC message");
    };
    let value = serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default();
    let calls = |tool: &str| value["method"] == "tools/call" && value["params"]["name"] == tool;
    if calls(HTTP_ERROR_TOOL) {
        let status = value["params"]["arguments"]["status"]
            .as_u64()
            .unwrap_or(500);
        let status = u16::try_from(status)
            .ok()
            .and_then(|status| http::StatusCode::from_u16(status).ok())
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        return plain_response(status, "failing on purpose");
    }
    let hang_up = calls(HANG_UP_TOOL);
    let mut sessions = sessions();
    let Some(session) = sessions.get_mut(&id) else {
        return plain_response(http::StatusCode::NOT_FOUND, "no such session");
    };
    if hang_up {
        if let Some(hang_up) = session.hang_up.take() {
            let _ = hang_up.send(());
        }
    } else if session.to_server.unbounded_send(message).is_err() {
        return plain_response(http::StatusCode::NOT_FOUND, "the session has ended");
    }
    plain_response(http::StatusCode::ACCEPTED, "Accepted")
}
