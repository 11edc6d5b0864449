//! Streamable HTTP servers on 127.0.0.1: calls, headers, restarts, unreachable ports.

mod common;

use std::time::{Duration, Instant};

use common::{HttpServer, text};
use mcp_dispatch::{Client, Error, Hub, ServerConfig};
use serde_json::json;

#[test]
fn calls_and_lists_over_http_with_custom_headers() {
    let server = HttpServer::start("127.0.0.1:0", &[("MCP_TEST_REQUIRE_AUTH", "s3cret")]);
    let client = Client::new(
        ServerConfig::http(&server.url)
            .header("Authorization", "Bearer s3cret")
            .header("X-Trace", "abc-123")
            .name("remote"),
    );
    let tools = client.list_tools_blocking().unwrap();
    assert!(tools.iter().any(|tool| tool.name == "echo"));
    let sum = client
        .call_tool_blocking("add", json!({"a": 20, "b": 22}))
        .unwrap();
    assert_eq!(text(&sum), "42");
    let headers: serde_json::Value = serde_json::from_str(&text(
        &client.call_tool_blocking("headers", json!({})).unwrap(),
    ))
    .unwrap();
    assert_eq!(headers["x-trace"], "abc-123");
    assert_eq!(headers["authorization"], "Bearer s3cret");
    assert_eq!(client.pid(), None, "an HTTP server has no process of ours");
    client.close_blocking().unwrap();
}

#[test]
fn a_missing_token_with_no_way_to_sign_in_fails_once_naming_the_server() {
    // A bare `WWW-Authenticate: Bearer`, and no authorization server behind it: the sign-in
    // falls back to the 2025-03-26 default endpoints, whose registration is refused.
    let server = HttpServer::start("127.0.0.1:0", &[("MCP_TEST_REQUIRE_AUTH", "s3cret")]);
    let client = Client::new(ServerConfig::http(&server.url).name("guarded"));
    let started = Instant::now();
    let error = client.list_tools_blocking().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    match &error {
        Error::AuthorizationFailed {
            server: name,
            url,
            description,
            ..
        } => {
            assert_eq!(name, "guarded");
            assert_eq!(url, &server.url);
            let description = description.as_deref().unwrap_or_default();
            assert!(description.contains("401"), "{description}");
        }
        other => panic!("expected Error::AuthorizationFailed, got {other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains("sign-in failed") && !text.contains("rmcp::"),
        "{text}"
    );
    assert_eq!(client.stats().connect_failures, 1);
}

#[test]
fn a_port_nobody_listens_on_fails_quickly_with_the_os_error() {
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let client = Client::new(ServerConfig::http(&url).name("nobody"));
    let started = Instant::now();
    let error = client.list_tools_blocking().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    match &error {
        Error::Http {
            server,
            url: named,
            status,
            message,
        } => {
            assert_eq!(server, "nobody");
            assert_eq!(named, &url);
            assert_eq!(*status, None);
            assert!(message.contains("Connection refused"), "{message}");
        }
        other => panic!("expected Error::Http, got {other:?}"),
    }
    assert!(error.to_string().contains(&url), "{error}");
}

#[test]
fn an_http_500_is_reported_with_its_status_not_as_a_closed_connection() {
    let server = HttpServer::start("127.0.0.1:0", &[("MCP_TEST_HTTP_STATUS", "500")]);
    let client = Client::new(ServerConfig::http(&server.url).name("broken"));
    let error = client.list_tools_blocking().unwrap_err();
    match &error {
        Error::Http { server, status, .. } => {
            assert_eq!(server, "broken");
            assert_eq!(*status, Some(500));
        }
        other => panic!("expected Error::Http, got {other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains("HTTP 500") && !text.contains("closed"),
        "{text}"
    );
}

#[test]
fn a_restarted_server_is_reconnected() {
    let server = HttpServer::start("127.0.0.1:0", &[]);
    let port = server.port();
    let client = Client::builder(ServerConfig::http(&server.url).name("restarting"))
        .call_timeout(Duration::from_secs(10))
        .build();
    let first = client.call_tool_blocking("pid", json!({})).unwrap();
    server.stop();
    // Same address, new process: the old session is gone.
    let server = HttpServer::start(&format!("127.0.0.1:{port}"), &[]);
    // The old session is unknown to the new process; rmcp re-initializes the expired HTTP
    // session, so the call succeeds at once.
    let second = client.call_tool_blocking("pid", json!({})).unwrap();
    assert_ne!(text(&first), text(&second));
    client.close_blocking().unwrap();
    drop(server);
}

#[test]
fn a_server_that_was_down_is_reconnected_once_it_is_back() {
    let server = HttpServer::start("127.0.0.1:0", &[]);
    let port = server.port();
    let client = Client::builder(ServerConfig::http(&server.url).name("flaky"))
        .call_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .build();
    let first = text(&client.call_tool_blocking("pid", json!({})).unwrap());
    server.stop();
    match client.call_tool_blocking("pid", json!({})).unwrap_err() {
        Error::TransportClosed { server, tool, .. } => {
            assert_eq!(server, "flaky");
            assert_eq!(tool.as_deref(), Some("pid"));
        }
        other => panic!("expected Error::TransportClosed, got {other:?}"),
    }
    let server = HttpServer::start(&format!("127.0.0.1:{port}"), &[]);
    let back = text(&client.call_tool_blocking("pid", json!({})).unwrap());
    assert_eq!(
        client.stats().connects,
        2,
        "the dead session was replaced once"
    );
    assert_ne!(first, back);
    client.close_blocking().unwrap();
    drop(server);
}

#[test]
fn a_call_timeout_applies_over_http() {
    let server = HttpServer::start("127.0.0.1:0", &[]);
    let client = Client::builder(ServerConfig::http(&server.url).name("slow"))
        .call_timeout(Duration::from_millis(300))
        .build();
    client.call_tool_blocking("pid", json!({})).unwrap();
    common::a_timed_out_call_is_cancelled(&client);
    client.close_blocking().unwrap();
}

#[test]
fn a_mixed_hub_keeps_working_around_a_broken_server() {
    let web_a = HttpServer::start("127.0.0.1:0", &[]);
    let web_b = HttpServer::start("127.0.0.1:0", &[]);
    let config = json!({
        "mcpServers": {
            "one": { "command": common::server_path() },
            "two": { "command": common::server_path() },
            "three": { "command": common::server_path() },
            "web_a": { "type": "http", "url": web_a.url },
            "web_b": { "type": "streamable-http", "url": format!("http://127.0.0.1:{}/mcp", common::free_port()) },
        }
    });
    let hub = Hub::from_json_str(&config.to_string()).unwrap();
    drop(web_b);
    let listed = hub.list_tools_blocking();
    assert_eq!(listed.errors.len(), 1, "{:?}", listed.errors);
    assert_eq!(listed.errors[0].server(), Some("web_b"));
    for server in ["one", "two", "three", "web_a"] {
        let echo = hub
            .call_tool_blocking(format!("{server}__echo"), json!({"text": server}))
            .unwrap();
        assert_eq!(text(&echo), server);
    }
    assert!(
        hub.call_tool_blocking("web_b__echo", json!({"text": "x"}))
            .is_err()
    );
    hub.close_blocking().unwrap();
}
