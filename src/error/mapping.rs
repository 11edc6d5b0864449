//! Our errors from rmcp's: a request's failure, a refused or failed handshake, an HTTP
//! exchange that went wrong.

use std::sync::Arc;

use rmcp::model::ErrorData;
use rmcp::service::{ClientInitializeError, ServiceError};

use super::Error;

/// An error's message followed by its sources', so that "connection refused" is not hidden
/// behind "send message error". rmcp's transport errors name the transport's Rust type; only
/// what they wrap is kept.
#[cfg(feature = "http")]
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    if let Some(ClientInitializeError::TransportError { error, context }) =
        error.downcast_ref::<ClientInitializeError>()
    {
        return format!("{context}: {}", error_chain(&*error.error));
    }
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            message.push_str(": ");
            message.push_str(&cause_text);
        }
        source = cause.source();
    }
    message
}

/// The typed error for a failed HTTP exchange found in `error`'s chain: a refusal for 401 and
/// 403, the status for other HTTP errors, the operating system's error when no answer came.
#[cfg(feature = "http")]
fn http_error(server: &str, url: &str, error: &(dyn std::error::Error + 'static)) -> Option<Error> {
    use rmcp::transport::streamable_http_client::StreamableHttpError;

    // rmcp's initialize error does not report its transport error as its source.
    let mut cause = match error.downcast_ref::<ClientInitializeError>() {
        Some(ClientInitializeError::TransportError { error, .. }) => Some(&*error.error as _),
        _ => Some(error),
    };
    let http = loop {
        let current = cause?;
        if let Some(http) = current.downcast_ref::<StreamableHttpError<reqwest::Error>>() {
            break http;
        }
        cause = current.source();
    };
    let refused = |status: u16, message: String| Error::Refused {
        server: server.to_owned(),
        status: Some(status),
        message,
    };
    let failed = |status: Option<u16>, message: String| Error::Http {
        server: server.to_owned(),
        url: crate::config::redact_url(url),
        status,
        message,
    };
    let reason = |status: u16| {
        http::StatusCode::from_u16(status)
            .ok()
            .and_then(|status| status.canonical_reason())
            .unwrap_or("")
            .to_owned()
    };
    Some(match http {
        StreamableHttpError::AuthRequired(required) => refused(
            401,
            format!(
                "authorization required (WWW-Authenticate: {})",
                required.www_authenticate_header
            ),
        ),
        StreamableHttpError::InsufficientScope(scope) => refused(
            403,
            format!(
                "insufficient scope (WWW-Authenticate: {})",
                scope.www_authenticate_header
            ),
        ),
        StreamableHttpError::HttpStatus(status) => {
            failed(Some(status.status), reason(status.status))
        }
        StreamableHttpError::UnexpectedServerResponse(text) => {
            // rmcp writes `HTTP 500 Internal Server Error: body`.
            let rest = text.strip_prefix("HTTP ")?;
            let status: u16 = rest.get(..3)?.parse().ok()?;
            let message = rest[3..].trim_start().to_owned();
            if status == 401 || status == 403 {
                refused(status, message)
            } else {
                failed(Some(status), message)
            }
        }
        StreamableHttpError::Client(client) => match client.status() {
            Some(status) if status.as_u16() == 401 || status.as_u16() == 403 => {
                refused(status.as_u16(), reason(status.as_u16()))
            }
            Some(status) => failed(Some(status.as_u16()), reason(status.as_u16())),
            None => failed(None, os_cause(client)),
        },
        StreamableHttpError::Io(io) => failed(None, io.to_string()),
        _ => return None,
    })
}

/// The operating system's error behind `error` ("Connection refused (os error 111)"), or the
/// innermost cause's message.
#[cfg(feature = "http")]
fn os_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    let mut cause = Some(error);
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return io.to_string();
        }
        innermost = current;
        cause = current.source();
    }
    innermost.to_string()
}

/// What went wrong in a handshake, in words a user knows, and the foreign cause behind it
/// (once: the words do not repeat it). rmcp says only "connection closed: discover response"
/// for a server that went away before it answered, and its transport errors name the
/// transport's Rust type, so only what they wrap is kept as the cause.
fn handshake_failure(
    error: ClientInitializeError,
) -> (String, Option<Arc<dyn std::error::Error + Send + Sync>>) {
    match error {
        ClientInitializeError::ConnectionClosed(context) => {
            let request = match context.strip_suffix(" response").unwrap_or(&context) {
                "discover" => "`server/discover`",
                "initialize" => "`initialize`",
                _ => "the handshake",
            };
            let words = format!("the server closed the connection before it answered {request}");
            (words, None)
        }
        ClientInitializeError::TransportError { error, context } => (
            format!("the transport failed: {context}"),
            Some(Arc::from(error.error)),
        ),
        ClientInitializeError::NoCompatibleProtocolVersion { .. } => (
            "the server speaks no protocol version this client does".to_owned(),
            Some(Arc::new(error)),
        ),
        other => (
            "the server's answer to the handshake cannot be used".to_owned(),
            Some(Arc::new(other)),
        ),
    }
}

/// The error for a failed `initialize` of a stdio server, with the last lines it wrote to
/// stderr.
pub(crate) fn initialize(server: &str, error: ClientInitializeError, stderr: Vec<String>) -> Error {
    let error = settled(error);
    if let Some(refused) = refusal(server, &error) {
        return refused;
    }
    let (message, source) = handshake_failure(error);
    Error::Initialize {
        server: server.to_owned(),
        message,
        stderr,
        attempts: 1,
        source,
    }
}

/// The error for a failed `initialize` of an HTTP server at `url`: a refusal, the HTTP
/// failure, or the handshake's own error.
#[cfg(feature = "http")]
pub(crate) fn http_initialize(server: &str, url: &str, error: ClientInitializeError) -> Error {
    let error = settled(error);
    if let Some(refused) = refusal(server, &error) {
        return refused;
    }
    if let Some(http) = http_error(server, url, &error) {
        return http;
    }
    let (message, source) = handshake_failure(error);
    Error::Initialize {
        server: server.to_owned(),
        message,
        stderr: Vec::new(),
        attempts: 1,
        source,
    }
}

/// The error for an HTTP exchange with the server at `url` that failed before any MCP
/// message was answered (opening an HTTP+SSE event stream): the HTTP failure, or what went
/// wrong with the answer.
#[cfg(feature = "http")]
pub(crate) fn http_exchange(
    server: &str,
    url: &str,
    error: rmcp::transport::streamable_http_client::StreamableHttpError<reqwest::Error>,
) -> Error {
    if let Some(http) = http_error(server, url, &error) {
        return http;
    }
    Error::Initialize {
        server: server.to_owned(),
        message: format!(
            "{}: {}",
            crate::config::redact_url(url),
            error_chain(&error)
        ),
        stderr: Vec::new(),
        attempts: 1,
        source: Some(Arc::new(error)),
    }
}

/// The error for a request whose `POST` the HTTP server at `url` answered with an HTTP
/// error status (a 500, say): the server failed that request, the connection did not close.
/// `None` for any other failure.
#[cfg(feature = "http")]
pub(crate) fn sent_http_error(server: &str, url: &str, error: &ServiceError) -> Option<Error> {
    let ServiceError::TransportSend(sent) = error else {
        return None;
    };
    match http_error(server, url, sent)? {
        failed @ Error::Http {
            status: Some(_), ..
        } => Some(failed),
        _ => None,
    }
}

/// The error of the handshake the server settled on: for a server that answered
/// `server/discover` as an older server does, the error of the `initialize` that followed.
fn settled(error: ClientInitializeError) -> ClientInitializeError {
    match error {
        ClientInitializeError::LegacyFallbackFailed { fallback, .. } => settled(*fallback),
        other => other,
    }
}

/// The error for a deliberate refusal of `initialize`, which is final.
fn refusal(server: &str, error: &ClientInitializeError) -> Option<Error> {
    match error {
        ClientInitializeError::JsonRpcError(data) => Some(Error::Refused {
            server: server.to_owned(),
            status: None,
            message: format!("{} (JSON-RPC error {})", data.message, data.code.0),
        }),
        _ => None,
    }
}

/// The size and limit in an error response that stands for a message over the limit.
fn oversized(data: &ErrorData) -> Option<(u64, u64)> {
    let oversized = data
        .data
        .as_ref()?
        .get(crate::transport::line_limit::OVERSIZED_KEY)?;
    let field = |name: &str| oversized.get(name).and_then(serde_json::Value::as_u64);
    Some((field("size")?, field("limit")?))
}

/// Maps an rmcp request error. `TransportClosed` also tells the caller to invalidate.
pub(crate) fn request_error(server: &str, tool: Option<&str>, error: ServiceError) -> Error {
    let server = server.to_owned();
    let tool = tool.map(str::to_owned);
    match error {
        ServiceError::McpError(data) if oversized(&data).is_some() => {
            let (size, limit) = oversized(&data).unwrap_or_default();
            Error::MessageTooLarge {
                server,
                tool,
                size,
                limit,
            }
        }
        ServiceError::McpError(data) => Error::Server {
            server,
            tool,
            code: data.code.0,
            message: data.message.into_owned(),
            data: data.data,
        },
        ServiceError::TransportClosed => Error::TransportClosed {
            server,
            tool,
            source: None,
        },
        sent @ ServiceError::TransportSend(_) => Error::TransportClosed {
            server,
            tool,
            source: Some(Arc::new(sent)),
        },
        ServiceError::Timeout { timeout } => Error::Timeout {
            server,
            tool,
            timeout,
        },
        other => Error::Protocol {
            server,
            message: other.to_string(),
            source: Some(Arc::new(other)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_gone_before_its_answer_is_said_in_plain_words() {
        let closed = |context: &str| {
            let error = initialize(
                "files",
                ClientInitializeError::ConnectionClosed(context.to_owned()),
                Vec::new(),
            );
            match error {
                Error::Initialize { message, .. } => message,
                other => panic!("expected Error::Initialize, got {other:?}"),
            }
        };
        assert_eq!(
            closed("discover response"),
            "the server closed the connection before it answered `server/discover`"
        );
        assert_eq!(
            closed("initialize response"),
            "the server closed the connection before it answered `initialize`"
        );
        assert_eq!(
            closed("something new"),
            "the server closed the connection before it answered the handshake"
        );
    }

    #[test]
    fn a_failed_handshake_says_it_once_and_keeps_rmcps_error_as_its_source() {
        let error = initialize(
            "files",
            ClientInitializeError::NoCompatibleProtocolVersion {
                client_supported: Vec::new(),
                server_supported: Vec::new(),
            },
            Vec::new(),
        );
        let shown = error.to_string();
        let source = std::error::Error::source(&error).expect("rmcp's error");
        assert!(source.downcast_ref::<ClientInitializeError>().is_some());
        assert_eq!(
            shown,
            "server `files`: initialize failed: the server speaks no protocol version this \
             client does"
        );
        assert!(!shown.contains(&source.to_string()), "{shown}");
    }
}
