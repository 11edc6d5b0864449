//! The message size limit of stdio servers: answers under it arrive whole, an answer over it
//! fails its call at once with the size and the limit, and the session carries on.

mod common;

use std::time::{Duration, Instant};

use mcp_dispatch::{Client, Error, Hub};
use serde_json::json;

const MIB: usize = 1 << 20;

#[test]
fn an_answer_under_the_limit_arrives_whole() {
    let client = Client::builder(common::server("big"))
        .max_message_size(4 * MIB)
        .build();
    let result = client
        .call_tool_blocking("big", json!({"bytes": 3 * MIB}))
        .unwrap();
    let text = common::text(&result);
    assert_eq!(text.len(), 3 * MIB);
    assert!(text.bytes().all(|byte| byte == b'x'));
    client.close_blocking().unwrap();
}

#[test]
fn an_answer_over_the_limit_fails_that_call_at_once_and_the_session_carries_on() {
    let client = Client::builder(common::server("too-big"))
        .max_message_size(MIB)
        .call_timeout(Duration::from_secs(30))
        .build();
    let pid_before = common::text(&client.call_tool_blocking("pid", json!({})).unwrap());
    let started = Instant::now();
    let error = client
        .call_tool_blocking("big", json!({"bytes": 2 * MIB}))
        .unwrap_err();
    let took = started.elapsed();
    match &error {
        Error::MessageTooLarge {
            server,
            tool,
            size,
            limit,
        } => {
            assert_eq!(server, "too-big");
            assert_eq!(tool.as_deref(), Some("big"));
            assert!(*size > 2 * MIB as u64, "size {size}");
            assert_eq!(*limit, MIB as u64);
        }
        other => panic!("expected Error::MessageTooLarge, got {other:?}"),
    }
    assert!(error.to_string().contains("max_message_size"), "{error}");
    // Far below the 30 s call timeout: the call fails as soon as the line is read.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    // The same session answers the next call.
    let echo = client
        .call_tool_blocking("echo", json!({"text": "after"}))
        .unwrap();
    assert_eq!(common::text(&echo), "after");
    let pid_after = common::text(&client.call_tool_blocking("pid", json!({})).unwrap());
    assert_eq!(pid_before, pid_after, "no reconnect");
    assert_eq!(client.stats().connects, 1);
    client.close_blocking().unwrap();
}

#[test]
fn answers_over_the_default_limit_of_rmcp_arrive_under_ours() {
    // rmcp drops lines over 16 MiB; the library's default is 64 MiB.
    let client = Client::new(common::server("seventeen"));
    let result = client
        .call_tool_blocking("big", json!({"bytes": 17 * MIB}))
        .unwrap();
    assert_eq!(common::text(&result).len(), 17 * MIB);
    client.close_blocking().unwrap();
}

#[test]
fn the_hub_applies_its_limit_to_every_server() {
    let hub = Hub::builder()
        .max_message_size(MIB)
        .server("files", common::server("files"))
        .build()
        .unwrap();
    let error = hub
        .call_tool_blocking("files__big", json!({"bytes": 2 * MIB}))
        .unwrap_err();
    assert!(
        matches!(&error, Error::MessageTooLarge { server, limit, .. } if server == "files" && *limit == MIB as u64),
        "{error:?}"
    );
    hub.close_blocking().unwrap();
}
