//! Misbehaving servers get clear errors and reconnects, never a hang or a panic.

mod common;

use std::time::{Duration, Instant};

use common::{PidExt, text};
use mcp_dispatch::{Client, Error};
use serde_json::json;

#[test]
fn garbage_on_stdout_is_skipped_and_the_session_works() {
    let client = Client::new(common::server("garbage").env("MCP_TEST_GARBAGE", "1"));
    let echo = client
        .call_tool_blocking("echo", json!({"text": "through"}))
        .unwrap();
    assert_eq!(text(&echo), "through");
    client.close_blocking().unwrap();
}

#[test]
fn a_half_written_answer_then_exit_gives_an_error_and_a_reconnect() {
    let client = Client::builder(common::server("half"))
        .call_timeout(Duration::from_secs(10))
        .build();
    let first = client.pid_blocking();
    let started = Instant::now();
    match client
        .call_tool_blocking("half_line", json!({}))
        .unwrap_err()
    {
        Error::TransportClosed { server, tool, .. } => {
            assert_eq!(server, "half");
            assert_eq!(tool.as_deref(), Some("half_line"));
        }
        other => panic!("expected Error::TransportClosed, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_ne!(client.pid_blocking(), first, "the next call reconnected");
    client.close_blocking().unwrap();
}

#[test]
fn megabytes_of_stderr_do_not_block_the_server() {
    // 200,000 lines, about 3 MB: far beyond a pipe buffer.
    let client = Client::builder(common::server("chatty").env("MCP_TEST_STDERR_LINES", "200000"))
        .connect_timeout(Duration::from_secs(30))
        .build();
    let started = Instant::now();
    let echo = client
        .call_tool_blocking("echo", json!({"text": "heard"}))
        .unwrap();
    assert_eq!(text(&echo), "heard");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    client.close_blocking().unwrap();
}

#[test]
fn a_server_that_never_answers_initialize_hits_the_connect_timeout() {
    let client = Client::builder(common::server("mute").env("MCP_TEST_HANG_INIT", "1"))
        .connect_timeout(Duration::from_millis(500))
        .build();
    let started = Instant::now();
    match client.list_tools_blocking().unwrap_err() {
        Error::ConnectTimeout { server, timeout } => {
            assert_eq!(server, "mute");
            assert_eq!(timeout, Duration::from_millis(500));
        }
        other => panic!("expected Error::ConnectTimeout, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_server_that_exits_during_initialize_reports_its_last_stderr_lines() {
    let client = Client::new(common::server("quitter").env("MCP_TEST_EXIT_BEFORE_INIT", "7"));
    let error = client.list_tools_blocking().unwrap_err();
    match &error {
        Error::Initialize { server, stderr, .. } => {
            assert_eq!(server, "quitter");
            assert!(
                stderr.iter().any(|line| line.contains("refusing to start")),
                "stderr tail: {stderr:?}"
            );
        }
        other => panic!("expected Error::Initialize, got {other:?}"),
    }
    assert!(error.to_string().contains("refusing to start"), "{error}");
}

#[test]
fn a_server_that_refuses_initialize_fails_at_once_and_is_not_retried() {
    let client =
        Client::new(common::server("gatekeeper").env("MCP_TEST_REFUSE_INIT", "no entry for you"));
    for _ in 0..2 {
        let started = Instant::now();
        let error = client.list_tools_blocking().unwrap_err();
        let took = started.elapsed();
        match &error {
            Error::Refused {
                server,
                status,
                message,
            } => {
                assert_eq!(server, "gatekeeper");
                assert_eq!(*status, None);
                assert!(message.contains("no entry for you"), "{message}");
            }
            other => panic!("expected Error::Refused, got {other:?}"),
        }
        assert!(error.to_string().contains("no entry for you"), "{error}");
        // No backoff and no second attempt: one process start and one handshake.
        assert!(took < Duration::from_millis(900), "took {took:?}");
    }
    // Each call started the server once: two calls, two attempts in all.
    assert_eq!(client.stats().connect_failures, 2);
}
