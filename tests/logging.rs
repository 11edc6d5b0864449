//! Logging goes through `log`: the library's own lines and the servers' stderr, at a rate no
//! server controls; rmcp's `tracing` events stay out of it.

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

/// Installs the capturing logger, once per test binary.
fn capture() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        log::set_logger(&CAPTURE).expect("the only logger of this test binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// The records so far whose message mentions `text`.
fn records_with(text: &str) -> Vec<(String, log::Level, String)> {
    let records = CAPTURE
        .0
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    records
        .iter()
        .filter(|(_, _, message)| message.contains(text))
        .cloned()
        .collect()
}

/// The messages captured so far that contain `text`.
fn captured(text: &str) -> Vec<String> {
    records_with(text)
        .into_iter()
        .map(|(_, _, message)| message)
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
fn a_server_flooding_its_event_stream_with_junk_gets_a_few_lines_and_a_count() {
    capture();
    const JUNK: usize = 100_000;
    let web = common::HttpServer::start("127.0.0.1:0", &[]);
    let client = Client::new(
        mcp_dispatch::ServerConfig::sse(format!("{}?junk={JUNK}", web.sse_url())).name("flood"),
    );
    let echo = client
        .call_tool_blocking("echo", json!({"text": "through"}))
        .unwrap();
    assert_eq!(common::text(&echo), "through");
    client.close_blocking().unwrap();
    let lines = records_with("server `flood`: skipping an event");
    assert!(
        (1..=20).contains(&lines.len()),
        "{} lines: {:#?}",
        lines.len(),
        &lines[..lines.len().min(30)]
    );
    // Every junk event is accounted for, in the lines written or in the counts they give.
    let counted: usize = records_with("server `flood`")
        .iter()
        .filter_map(|(_, _, message)| {
            let (before, _) = message
                .split_once(" more like it left out")
                .or_else(|| message.split_once(" more events that were not JSON-RPC"))?;
            before.rsplit(['(', ' ']).next()?.parse::<usize>().ok()
        })
        .sum();
    assert_eq!(lines.len() + counted, JUNK, "{lines:#?}");
}

#[test]
fn connects_closes_and_stderr_reach_log_and_rmcp_events_do_not() {
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
    // rmcp prints codes, tokens and URL queries at debug; none of its events reach `log`.
    let rmcp: Vec<_> = records
        .iter()
        .filter(|(target, _, _)| target.starts_with("rmcp"))
        .collect();
    assert!(rmcp.is_empty(), "{rmcp:#?}");
}

#[test]
fn a_job_the_dispatcher_never_runs_is_reported_as_such_with_an_early_warning() {
    capture();
    // A dispatcher that keeps its jobs and never runs them, as a loop blocked by the caller
    // itself would.
    let held = std::sync::Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    let client = Client::builder(common::server("stalled"))
        .dispatcher(move |job| keep.lock().unwrap().push(job))
        .connect_timeout(std::time::Duration::from_millis(200))
        .call_timeout(std::time::Duration::from_millis(200))
        .close_timeout(std::time::Duration::from_millis(200))
        .build();
    let error = client
        .call_tool_blocking("echo", json!({"text": "never sent"}))
        .unwrap_err();
    assert!(
        matches!(&error, mcp_dispatch::Error::NotDispatched { server, method: "call_tool_blocking", .. }
            if server == "stalled"),
        "{error:?}"
    );
    assert!(error.to_string().contains("never ran its job"), "{error}");
    let warned =
        records_with("server `stalled`: `call_tool_blocking`: the dispatcher has not started");
    assert_eq!(warned.len(), 1, "{warned:#?}");
    assert_eq!(warned[0].1, log::Level::Warn);
    assert_eq!(held.lock().unwrap().len(), 1, "one job, never run");
}
