//! Interoperability: the client against MCP servers written by others, with other SDKs, not
//! just the rmcp-based test server bundled with the crate.
//!
//! - `tests/interop/python_server.py`, written with the official Python SDK (`mcp` on PyPI,
//!   pinned to 2.3.0);
//! - `@modelcontextprotocol/server-everything`, the reference Node server, at the version of
//!   `tests/interop/package-lock.json`.
//!
//! The tests install both themselves on first use, under the target directory
//! (`target/tmp/interop/`; see `tests/interop/install.rs`), with `python3 -m pip` and `npm`
//! from PyPI and npm, so they need `python3` (with pip) and Node on `PATH` and, the first
//! time, the network. Later runs find them installed and use no network. The Python server
//! always runs with that install on `PYTHONPATH` (and without the user's site packages), never
//! with an `mcp` installed elsewhere on the machine.
//!
//! When a server cannot be installed (no network, no `python3`, no `npm`), its tests print
//! `skipping: ...` to stderr and pass, unless `MCP_DISPATCH_REQUIRE_INTEROP=1` is set (as
//! `.ci/run` does): then they fail with the installer's error and the end of its stderr.
//! `MCP_DISPATCH_SKIP_INTEROP=1` skips them without trying to install anything, unless
//! `MCP_DISPATCH_REQUIRE_INTEROP=1` is set too.

mod common;
#[path = "interop/install.rs"]
mod install;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use common::text;
use mcp_dispatch::model::{CallToolResult, Tool};
use mcp_dispatch::{Client, Error, ServerConfig};
use serde_json::json;

/// Whether `variable` is set to something other than the empty string.
fn set(variable: &str) -> bool {
    std::env::var_os(variable).is_some_and(|value| !value.is_empty())
}

/// The installed server `what`, or `None` after saying why its test is skipped. Fails the
/// test instead if `MCP_DISPATCH_REQUIRE_INTEROP` is set.
fn installed<T>(what: &str, install: impl FnOnce() -> Result<T, String>) -> Option<T> {
    let required = set("MCP_DISPATCH_REQUIRE_INTEROP");
    let why = if set("MCP_DISPATCH_SKIP_INTEROP") && !required {
        "MCP_DISPATCH_SKIP_INTEROP is set".to_owned()
    } else {
        match install() {
            Ok(installed) => return Some(installed),
            Err(error) => error,
        }
    };
    assert!(
        !required,
        "{what} could not be installed (MCP_DISPATCH_REQUIRE_INTEROP is set): {why}"
    );
    // Straight to fd 2: libtest captures `eprintln!` output of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "skipping: {what} could not be installed (set MCP_DISPATCH_REQUIRE_INTEROP=1 to fail \
         instead): {why}"
    );
    None
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// The Python SDK server, or `None` (after [`installed`] said why) if the SDK is missing.
fn python_server() -> Option<ServerConfig> {
    let sdk = installed(
        &format!("the Python MCP SDK ({})", install::PYTHON_SDK),
        install::python_sdk,
    )?;
    let script = interop_dir().join("python_server.py");
    assert!(script.exists(), "{} is missing", script.display());
    Some(
        ServerConfig::stdio("python3")
            // Without the user's site packages; `PYTHONPATH` comes before the system's.
            .arg("-s")
            .arg(script)
            .env("PYTHONPATH", sdk)
            .name("python-sdk"),
    )
}

/// The reference Node server, or `None` (after [`installed`] said why) if it is missing.
fn everything_server() -> Option<ServerConfig> {
    let entry = installed(
        "@modelcontextprotocol/server-everything",
        install::everything_server,
    )?;
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

    // A missing tool, which this server reports as a tool error: with tool errors as `Err`,
    // `?` stops at it, naming the tool.
    let checked = || -> mcp_dispatch::Result<String> {
        let options = mcp_dispatch::CallOptions::new().tool_errors_as_err(true);
        let sum = client.call_tool_with_blocking("get_sum", json!({"a": 1, "b": 2}), options)?;
        Ok(text(&sum))
    };
    match checked() {
        Err(Error::Tool { tool, message, .. }) => {
            assert_eq!(tool, "get_sum");
            assert!(message.contains("get_sum"), "{message}");
        }
        other => panic!("a missing tool must be Error::Tool, got {other:?}"),
    }

    // The reference Node server does not know `server/discover`: the probe falls back.
    assert_server_info(&client, "mcp-servers/everything", "2025-11-25");
    close(&client);
}
