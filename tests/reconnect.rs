//! Reconnect policy: dead sessions are replaced, in-flight deaths are retried only when safe,
//! and a server that dies at start-up is retried with a bounded backoff.

mod common;

use std::time::{Duration, Instant};

use common::{kill, sleeping, text, wait_until};
use mcp_dispatch::{CallOptions, Client, Error, Retry};
use serde_json::json;

const BOUND: Duration = Duration::from_secs(20);

/// Kills the server once the call under test is running on it. The count is read over the
/// same session, which stays usable while the call runs.
fn kill_during_sleep(client: &Client) {
    let pid = client.pid().expect("connected");
    wait_until(BOUND, "the call to be running on the server", || {
        sleeping(client) == 1
    });
    kill(pid);
}

#[test]
fn a_session_found_dead_is_replaced_before_the_call_is_sent() {
    let client = Client::new(common::server("dead-before"));
    let first = text(&client.call_tool_blocking("pid", json!({})).unwrap());
    kill(first.parse().unwrap());
    wait_until(BOUND, "the client to see the death", || {
        !client.is_connected()
    });
    let second = text(&client.call_tool_blocking("pid", json!({})).unwrap());
    assert_ne!(first, second);
    let stats = client.stats();
    assert_eq!(stats.connects, 2);
    assert_eq!(stats.retries, 0, "nothing was sent to the dead session");
    client.close_blocking().unwrap();
}

#[test]
fn a_call_without_safety_hints_that_dies_in_flight_is_not_retried() {
    let client = Client::new(common::server("unsafe"));
    client.list_tools_blocking().unwrap();
    let call = {
        let client = client.clone();
        std::thread::spawn(move || client.call_tool_blocking("sleep", json!({"ms": 30_000})))
    };
    kill_during_sleep(&client);
    match call.join().unwrap() {
        Err(Error::TransportClosed { server, tool, .. }) => {
            assert_eq!(server, "unsafe");
            assert_eq!(tool.as_deref(), Some("sleep"));
        }
        other => panic!("expected TransportClosed, got {other:?}"),
    }
    assert_eq!(client.stats().retries, 0);
    // The next call reconnects.
    let echo = client
        .call_tool_blocking("echo", json!({"text": "back"}))
        .unwrap();
    assert_eq!(text(&echo), "back");
    assert_eq!(client.stats().connects, 2);
    client.close_blocking().unwrap();
}

#[test]
fn a_read_only_call_that_dies_in_flight_is_retried_once_on_a_new_session() {
    let client = Client::new(common::server("read-only"));
    // The retry decision uses the annotations from the last listing.
    let tools = client.list_tools_blocking().unwrap();
    let slow_echo = tools.iter().find(|tool| tool.name == "slow_echo").unwrap();
    assert_eq!(
        slow_echo.annotations.as_ref().unwrap().read_only_hint,
        Some(true)
    );
    let first_pid = client.pid().unwrap();
    let call = {
        let client = client.clone();
        std::thread::spawn(move || {
            client.call_tool_blocking("slow_echo", json!({"text": "again", "ms": 1_000}))
        })
    };
    kill_during_sleep(&client);
    let result = call.join().unwrap().expect("retried on a new session");
    assert_eq!(text(&result), "again");
    assert_ne!(client.pid().unwrap(), first_pid);
    let stats = client.stats();
    assert_eq!((stats.connects, stats.retries), (2, 1));
    client.close_blocking().unwrap();
}

#[test]
fn retry_always_repeats_any_call_once() {
    let client = Client::builder(common::server("always"))
        .retry(Retry::Always)
        .build();
    client.call_tool_blocking("pid", json!({})).unwrap();
    let call = {
        let client = client.clone();
        std::thread::spawn(move || client.call_tool_blocking("sleep", json!({"ms": 1_000})))
    };
    kill_during_sleep(&client);
    assert_eq!(text(&call.join().unwrap().unwrap()), "slept 1000");
    assert_eq!(client.stats().retries, 1);

    // A per-call policy overrides the client's.
    let call = {
        let client = client.clone();
        std::thread::spawn(move || {
            client.call_tool_with_blocking(
                "sleep",
                json!({"ms": 30_000}),
                CallOptions::new().retry(Retry::Never),
            )
        })
    };
    kill_during_sleep(&client);
    assert!(matches!(
        call.join().unwrap(),
        Err(Error::TransportClosed { .. })
    ));
    assert_eq!(client.stats().retries, 1);
    client.close_blocking().unwrap();
}

#[test]
fn a_server_that_dies_at_start_is_retried_with_backoff_and_the_error_counts_attempts() {
    let log = common::temp_dir("backoff").join("starts.log");
    let config = common::counted_server("crashy", &log).env("MCP_TEST_EXIT_BEFORE_INIT", "9");
    let client = Client::builder(config)
        .connect_timeout(Duration::from_secs(20))
        .build();
    let started = Instant::now();
    match client.list_tools_blocking().unwrap_err() {
        Error::Initialize {
            server,
            attempts,
            stderr,
            ..
        } => {
            assert_eq!(server, "crashy");
            assert_eq!(attempts, 3);
            assert!(
                stderr.iter().any(|line| line.contains("refusing to start")),
                "{stderr:?}"
            );
        }
        other => panic!("expected Error::Initialize, got {other:?}"),
    }
    let first = started.elapsed();
    assert_eq!(
        common::count_lines(&log),
        3,
        "three attempts, three processes"
    );
    // Backoff of 100 ms then 200 ms, each with at most 20% jitter.
    assert!(
        first >= Duration::from_millis(240),
        "no backoff between attempts: {first:?}"
    );
    let message = client.list_tools_blocking().unwrap_err().to_string();
    assert!(message.contains("after 3 attempts"), "{message}");
    assert_eq!(common::count_lines(&log), 6);
    let stats = client.stats();
    assert_eq!((stats.connects, stats.connect_failures), (0, 2));
}
