//! Interoperability: the client against MCP servers written by others, with other SDKs, not
//! just the rmcp-based test server bundled with the crate.
//!
//! - `tests/interop/python_server.py`, written with the official Python SDK (`mcp` on PyPI);
//! - `@modelcontextprotocol/server-everything`, the reference Node server, installed into
//!   `tests/interop/node_modules` from `tests/interop/package-lock.json`.
//!
//! Install both from the crate root (`.ci/run` does the same):
//!
//! ```sh
//! python3 -m pip install mcp==2.3.0
//! npm ci --prefix tests/interop
//! ```
//!
//! A test whose server is not installed fails and says how to install it. To skip those tests
//! instead, set `MCP_DISPATCH_SKIP_INTEROP=1`. The tests never touch the network.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};

use common::text;
use mcp_dispatch::model::{CallToolResult, Tool};
use mcp_dispatch::{Client, Error, ServerConfig};
use serde_json::json;

/// The Python SDK release the tests are pinned to (also in `.ci/run`).
const PYTHON_INSTALL: &str = "python3 -m pip install mcp==2.3.0";
/// Installs the pinned Node server (version in `tests/interop/package.json`).
const NODE_INSTALL: &str = "npm ci --prefix tests/interop";

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Reports a server that is not installed: fails the test and says how to install it, unless
/// `MCP_DISPATCH_SKIP_INTEROP` is set, when the caller skips.
fn not_installed(what: &str, install: &str) {
    let message =
        format!("{what} is not installed; install it from the crate root with `{install}`");
    assert!(
        std::env::var_os("MCP_DISPATCH_SKIP_INTEROP").is_some_and(|skip| !skip.is_empty()),
        "{message}, or set MCP_DISPATCH_SKIP_INTEROP=1 to skip this test"
    );
    // Straight to fd 2: libtest captures `eprintln!` output of passing tests.
    let _ = writeln!(std::io::stderr(), "skipping: {message}");
}

/// True if `command args..` runs and exits successfully.
fn runs(command: &str, args: &[&str]) -> bool {
    Command::new(command)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The Python SDK server, or `None` (after [`not_installed`]) if the SDK is missing.
fn python_server() -> Option<ServerConfig> {
    if !runs("python3", &["-c", "import mcp"]) {
        not_installed("the Python MCP SDK (python3 module `mcp`)", PYTHON_INSTALL);
        return None;
    }
    let script = interop_dir().join("python_server.py");
    assert!(script.exists(), "{} is missing", script.display());
    Some(
        ServerConfig::stdio("python3")
            .arg(script)
            .name("python-sdk"),
    )
}

/// The reference Node server, or `None` (after [`not_installed`]) if it is missing.
fn everything_server() -> Option<ServerConfig> {
    let entry =
        interop_dir().join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    if !entry.exists() {
        not_installed(
            &format!(
                "@modelcontextprotocol/server-everything ({})",
                entry.display()
            ),
            NODE_INSTALL,
        );
        return None;
    }
    if !runs("node", &["--version"]) {
        not_installed(
            "node (needed by @modelcontextprotocol/server-everything)",
            "apt-get install nodejs",
        );
        return None;
    }
    Some(
        ServerConfig::stdio("node")
            .arg(entry)
            .arg("stdio")
            .name("server-everything"),
    )
}

/// Asserts `tools` includes every one of `names`, and returns the one named `names[0]`.
fn find_tools<'a>(tools: &'a [Tool], names: &[&str]) -> &'a Tool {
    let listed: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    for name in names {
        assert!(listed.contains(name), "no tool `{name}` in {listed:?}");
    }
    tools
        .iter()
        .find(|tool| tool.name == names[0])
        .expect("checked above")
}

/// Asserts `result` succeeded (`isError` absent or false).
fn assert_ok(result: &CallToolResult) {
    assert_ne!(result.is_error, Some(true), "tool failed: {result:?}");
}

/// Asserts the handshake named the server and settled on `version`.
fn assert_server_info(client: &Client, expected_name: &str, version: &str) {
    let info = client.server_info_blocking().unwrap();
    let implementation = info
        .server_info
        .as_ref()
        .unwrap_or_else(|| panic!("no serverInfo in {info:?}"));
    assert_eq!(implementation.name, expected_name, "{info:?}");
    assert_eq!(info.protocol_version.as_str(), version, "{info:?}");
    eprintln!(
        "{}: `{}` version {:?} negotiated protocol {}",
        client.server_name(),
        implementation.name,
        implementation.version,
        info.protocol_version
    );
}

/// Closes `client` and checks later calls are refused.
fn close(client: &Client) {
    client.close_blocking().unwrap();
    assert!(!client.is_connected());
    match client.call_tool_blocking("echo", json!({})) {
        Err(Error::Closed { .. }) => {}
        other => panic!("expected Error::Closed after close, got {other:?}"),
    }
}

#[test]
fn python_sdk_server_lists_calls_fails_and_closes() {
    let Some(config) = python_server() else {
        return;
    };
    let client = Client::new(config);

    let tools = client.list_tools_blocking().unwrap();
    let echo = find_tools(&tools, &["echo", "add", "fail"]);
    let properties = echo.input_schema.get("properties");
    assert!(
        properties.is_some_and(|properties| properties.get("text").is_some()),
        "echo's input schema has no `text`: {:?}",
        echo.input_schema
    );

    let message = "héllo from Rust ✓";
    let echoed = client
        .call_tool_blocking("echo", json!({ "text": message }))
        .unwrap();
    assert_ok(&echoed);
    assert_eq!(text(&echoed), message);

    // The SDK returns the float as text (`str(5.5)`) and as structured content.
    let sum = client
        .call_tool_blocking("add", json!({ "a": 2, "b": 3.5 }))
        .unwrap();
    assert_ok(&sum);
    assert_eq!(text(&sum), "5.5");
    assert_eq!(sum.structured_content, Some(json!({ "result": 5.5 })));

    // An exception in the tool is an `isError` result, not a protocol error.
    let failed = client
        .call_tool_blocking("fail", json!({ "message": "boom" }))
        .unwrap();
    assert_eq!(failed.is_error, Some(true), "{failed:?}");
    assert!(text(&failed).contains("fail"), "{failed:?}");

    // The session survives the failed call.
    let again = client
        .call_tool_blocking("echo", json!({ "text": "still here" }))
        .unwrap();
    assert_eq!(text(&again), "still here");

    // The Python SDK 2.3 answers `server/discover`.
    assert_server_info(&client, "interop-python", "2026-07-28");
    close(&client);
}

#[test]
fn eight_threads_share_one_python_sdk_session() {
    let Some(config) = python_server() else {
        return;
    };
    let client = Client::new(config);
    const THREADS: usize = 8;
    const CALLS: usize = 20;

    // All threads start together, so their first calls also race the connect.
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let client = client.clone();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                for call in 0..CALLS {
                    let message = format!("thread {thread} call {call}");
                    let echoed = client
                        .call_tool_blocking("echo", json!({ "text": message }))
                        .unwrap();
                    assert_ok(&echoed);
                    assert_eq!(text(&echoed), message);

                    let (a, b) = (thread as f64, call as f64 + 0.5);
                    let sum = client
                        .call_tool_blocking("add", json!({ "a": a, "b": b }))
                        .unwrap();
                    assert_ok(&sum);
                    let got: f64 = text(&sum)
                        .parse()
                        .unwrap_or_else(|_| panic!("not a number: {sum:?}"));
                    assert_eq!(got, a + b, "{a} + {b}: {sum:?}");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert!(client.is_connected());
    close(&client);
}

#[test]
fn everything_server_lists_calls_fails_and_closes() {
    let Some(config) = everything_server() else {
        return;
    };
    let client = Client::new(config);

    let tools = client.list_tools_blocking().unwrap();
    let echo = find_tools(&tools, &["echo", "get-sum"]);
    let properties = echo.input_schema.get("properties");
    assert!(
        properties.is_some_and(|properties| properties.get("message").is_some()),
        "echo's input schema has no `message`: {:?}",
        echo.input_schema
    );

    let message = "héllo from Rust ✓";
    let echoed = client
        .call_tool_blocking("echo", json!({ "message": message }))
        .unwrap();
    assert_ok(&echoed);
    assert_eq!(text(&echoed), format!("Echo: {message}"));

    let sum = client
        .call_tool_blocking("get-sum", json!({ "a": 2, "b": 3.5 }))
        .unwrap();
    assert_ok(&sum);
    assert_eq!(text(&sum), "The sum of 2 and 3.5 is 5.5.");

    // No tool of this server fails on purpose; arguments that fail its schema give an
    // `isError` result.
    let failed = client.call_tool_blocking("echo", json!({})).unwrap();
    assert_eq!(failed.is_error, Some(true), "{failed:?}");
    assert!(text(&failed).contains("echo"), "{failed:?}");

    let again = client
        .call_tool_blocking("echo", json!({ "message": "still here" }))
        .unwrap();
    assert_eq!(text(&again), "Echo: still here");

    // The reference Node server does not know `server/discover`: the probe falls back.
    assert_server_info(&client, "mcp-servers/everything", "2025-11-25");
    close(&client);
}
