//! Timeouts and cancellation: a timed-out or abandoned call is cancelled on the server and the
//! session stays healthy.

mod common;

use std::time::{Duration, Instant};

use common::{cancellations, sleeping, text, wait_until};
use mcp_dispatch::{CallOptions, Client, Error};
use serde_json::json;

const BOUND: Duration = Duration::from_secs(20);

#[test]
fn a_per_call_timeout_overrides_the_clients_and_cancels_on_the_server() {
    let client = Client::new(common::server("per-call"));
    let pid = client.call_tool_blocking("pid", json!({})).unwrap();
    let started = Instant::now();
    let error = client
        .call_tool_with_blocking(
            "sleep",
            json!({"ms": 30_000}),
            CallOptions::new().timeout(Duration::from_millis(200)),
        )
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    match &error {
        Error::Timeout {
            server,
            tool,
            timeout,
        } => {
            assert_eq!(server, "per-call");
            assert_eq!(tool.as_deref(), Some("sleep"));
            assert_eq!(*timeout, Duration::from_millis(200));
        }
        other => panic!("expected Error::Timeout, got {other:?}"),
    }
    assert!(error.to_string().contains("200ms"), "{error}");
    wait_until(BOUND, "the server to see the cancellation", || {
        cancellations(&client) == 1
    });
    assert_eq!(sleeping(&client), 0);
    // Same session, still healthy.
    assert_eq!(client.call_tool_blocking("pid", json!({})).unwrap(), pid);
    client.close_blocking().unwrap();
}

#[test]
fn progress_resets_the_timeout_when_asked_to() {
    let client = Client::new(common::server("progress"));
    // Five steps 150 ms apart: 750 ms in all, never 300 ms without progress.
    let steps = json!({"steps": 5, "delay_ms": 150});
    let short = CallOptions::new().timeout(Duration::from_millis(300));
    let result = client
        .call_tool_with_blocking(
            "progress",
            steps.clone(),
            short
                .clone()
                .reset_timeout_on_progress(Duration::from_secs(10)),
        )
        .unwrap();
    assert_eq!(text(&result), "done 5");
    let error = client
        .call_tool_with_blocking("progress", steps, short)
        .unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    client.close_blocking().unwrap();
}

#[test]
fn the_total_bound_still_applies_with_progress_resets() {
    let client = Client::new(common::server("total"));
    let error = client
        .call_tool_with_blocking(
            "progress",
            json!({"steps": 50, "delay_ms": 100}),
            CallOptions::new()
                .timeout(Duration::from_millis(400))
                .reset_timeout_on_progress(Duration::from_millis(800)),
        )
        .unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    client.close_blocking().unwrap();
}

#[test]
fn dropping_a_call_future_cancels_it_on_the_server() {
    let client = Client::new(common::server("dropped"));
    let pid = client.call_tool_blocking("pid", json!({})).unwrap();
    let task = smol::spawn(client.call_tool("sleep", json!({"ms": 30_000})));
    wait_until(BOUND, "the sleep to start", || sleeping(&client) == 1);
    drop(task);
    wait_until(BOUND, "the server to see the cancellation", || {
        cancellations(&client) == 1
    });
    assert_eq!(sleeping(&client), 0);
    assert_eq!(client.call_tool_blocking("pid", json!({})).unwrap(), pid);
    client.close_blocking().unwrap();
}

#[test]
fn a_blocking_caller_that_gives_up_cancels_the_call() {
    let client = Client::builder(common::server("impatient"))
        .call_timeout(Duration::from_millis(300))
        .build();
    let error = client
        .call_tool_blocking("sleep", json!({"ms": 30_000}))
        .unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    wait_until(BOUND, "the server to see the cancellation", || {
        cancellations(&client) == 1
    });
    // Other callers were not disturbed.
    let echo = client
        .call_tool_blocking("echo", json!({"text": "fine"}))
        .unwrap();
    assert_eq!(text(&echo), "fine");
    client.close_blocking().unwrap();
}

/// A server that closes its stdout but keeps running (and ignores stdin EOF and SIGTERM)
/// takes seconds to tear down; neither the call in flight nor the next call waits for that.
#[test]
fn call_timeouts_hold_while_a_server_that_closed_stdout_is_torn_down() {
    let client = Client::builder(common::server("half-dead").env("MCP_TEST_STUBBORN", "1"))
        .call_timeout(Duration::from_secs(1))
        .close_timeout(Duration::from_secs(4))
        .build();
    let first_pid = common::text(&client.call_tool_blocking("pid", json!({})).unwrap());
    let started = Instant::now();
    let error = client
        .call_tool_blocking("close_stdout", json!({}))
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(&error, Error::TransportClosed { tool: Some(tool), .. } if tool == "close_stdout"),
        "{error:?}"
    );
    assert!(
        took < Duration::from_millis(1500),
        "in flight: took {took:?}"
    );
    // The next call finds a new session within its own timeout (plus the connect).
    let started = Instant::now();
    let second_pid = common::text(&client.call_tool_blocking("pid", json!({})).unwrap());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "next call: took {took:?}");
    assert_ne!(first_pid, second_pid);
    assert_eq!(client.stats().connects, 2);
    client.close_blocking().unwrap();
}

/// A plain timeout is kept even while rmcp cannot hand the cancellation to the session.
#[test]
fn a_call_that_times_out_returns_at_its_timeout() {
    let client = Client::builder(common::server("slow"))
        .call_timeout(Duration::from_millis(300))
        .build();
    client.call_tool_blocking("pid", json!({})).unwrap();
    let started = Instant::now();
    let error = client
        .call_tool_blocking("sleep", json!({"ms": 10_000}))
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(1300),
        "took {took:?}"
    );
    // The server was told: the cancellation arrives shortly after.
    common::wait_until(Duration::from_secs(5), "the cancellation", || {
        common::cancellations(&client) >= 1
    });
    client.close_blocking().unwrap();
}
