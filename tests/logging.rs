//! Logging goes through `log`: the library's own lines, the servers' stderr, and rmcp's
//! `tracing` events.

mod common;

use std::sync::Mutex;

use mcp_dispatch::Client;
use serde_json::json;

struct Capture(Mutex<Vec<(String, log::Level, String)>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let mut records = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        records.push((
            record.target().to_owned(),
            record.level(),
            record.args().to_string(),
        ));
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

/// Makes [`CAPTURE`] the logger of this test binary, once.
fn capture() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&CAPTURE).expect("the only logger of this test binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// The messages captured so far that contain `text`.
fn captured(text: &str) -> Vec<String> {
    let records = CAPTURE
        .0
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    records
        .iter()
        .filter(|(_, _, message)| message.contains(text))
        .map(|(_, _, message)| message.clone())
        .collect()
}

#[test]
fn unknown_config_fields_are_logged_once_per_name_and_file() {
    capture();
    let config = r#"{"mcpServers": {
      "one": { "command": "x", "autoApprove": [], "timeout": 5 },
      "two": { "command": "y", "autoApprove": ["t"] }
    }}"#;
    let hub = mcp_dispatch::Hub::from_json_str(config).unwrap();
    let logged = captured("field `autoApprove`");
    assert_eq!(
        logged,
        [
            "mcp-dispatch: config line 2 column 32: server `one`: field `autoApprove` is not \
          one mcp-dispatch reads; ignored"
        ]
    );
    assert_eq!(captured("field `timeout`").len(), 1);
    // Each file is logged on its own.
    let _again = mcp_dispatch::Hub::from_json_str(config).unwrap();
    assert_eq!(captured("field `autoApprove`").len(), 2);
    hub.close_blocking().unwrap();
}

#[test]
fn connects_closes_stderr_and_rmcp_events_reach_log() {
    capture();

    let client = Client::new(common::server("logged").env("MCP_TEST_STDERR_LINES", "2"));
    client
        .call_tool_blocking("echo", json!({"text": "x"}))
        .unwrap();
    client.close_blocking().unwrap();
    // An older server: only the `initialize` handshake.
    let web = common::HttpServer::start("127.0.0.1:0", &[("MCP_TEST_PROTOCOL", "2025")]);
    let remote = Client::new(mcp_dispatch::ServerConfig::remote(web.sse_url()).name("old"));
    remote
        .call_tool_blocking("echo", json!({"text": "y"}))
        .unwrap();
    remote.close_blocking().unwrap();
    let missing =
        Client::new(mcp_dispatch::ServerConfig::stdio("/nonexistent/server").name("gone"));
    missing.list_tools_blocking().unwrap_err();

    let records = CAPTURE.0.lock().unwrap().clone();
    let has = |target: &str, level: log::Level, text: &str| {
        records
            .iter()
            .any(|(t, l, m)| t.starts_with(target) && *l == level && m.contains(text))
    };
    assert!(
        has(
            "mcp_dispatch",
            log::Level::Info,
            "server `logged`: connected"
        ),
        "{records:#?}"
    );
    // The test server over stdio also speaks 2026-07-28, which the client prefers.
    assert!(
        has("mcp_dispatch", log::Level::Info, "protocol 2026-07-28) in"),
        "{records:#?}"
    );
    assert!(has(
        "mcp_dispatch",
        log::Level::Info,
        "server `logged`: session 1 closed"
    ));
    // Once per session: the transport a remote session speaks, and the protocol version.
    assert!(
        has(
            "mcp_dispatch",
            log::Level::Info,
            "server `old`: connected (over HTTP+SSE, protocol 2025-11-25)"
        ),
        "{records:#?}"
    );
    assert!(has(
        "mcp_dispatch",
        log::Level::Info,
        "trying the HTTP+SSE transport"
    ));
    assert!(has(
        "mcp_dispatch::stderr",
        log::Level::Debug,
        "[logged] stderr line"
    ));
    assert!(has(
        "mcp_dispatch",
        log::Level::Warn,
        "server `gone`: cannot start"
    ));
    assert!(
        records
            .iter()
            .any(|(target, _, _)| target.starts_with("rmcp")),
        "rmcp's tracing events are forwarded to log"
    );
}
