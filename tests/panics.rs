//! Panics stay where they happen: the executor, other jobs and other servers keep working.
#![allow(deprecated)]

mod common;

use std::time::Duration;

use common::text;
use mcp_dispatch::model::ListRootsResult;
use mcp_dispatch::{Client, Error, Executor, Handlers, Job};
use serde_json::json;

#[test]
fn a_panicking_job_does_not_kill_the_executor_or_its_other_jobs() {
    let executor = Executor::new().unwrap();
    let client = Client::builder(common::server("survivor"))
        .executor(executor.clone())
        .build();
    client.call_tool_blocking("pid", json!({})).unwrap();
    // A long call is in flight on the executor when another job panics.
    let in_flight = client.call_tool("slow_echo", json!({"text": "kept", "ms": 300}));
    let in_flight = std::thread::spawn(move || futures::executor::block_on(in_flight));
    common::wait_until(Duration::from_secs(10), "the call to start", || {
        common::sleeping(&client) == 1
    });
    // A handler body is a job on the same executor: it panics while the call is in flight.
    let panicky = Client::builder(common::server("panicky"))
        .executor(executor.clone())
        .handlers(Handlers::new().on_roots(|| async {
            if true {
                panic!("a job panicked on purpose");
            }
            Ok(ListRootsResult::new(Vec::new()))
        }))
        .build();
    // The test server speaks 2026-07-28, so the failed handler fails the call itself.
    match panicky.call_tool_blocking("roots", json!({})) {
        Err(error @ Error::Handler { code: -32603, .. }) => {
            assert!(error.to_string().contains("handler failed"), "{error}");
        }
        other => panic!("expected Error::Handler, got {other:?}"),
    }
    assert_eq!(text(&in_flight.join().unwrap().unwrap()), "kept");
    let echo = client
        .call_tool_blocking("echo", json!({"text": "after"}))
        .unwrap();
    assert_eq!(text(&echo), "after");
    assert!(!executor.is_shut_down());
    assert!(executor.shutdown());
}

#[test]
fn a_panicking_dispatcher_fails_its_own_calls_only() {
    let broken = Client::builder(common::server("broken"))
        .dispatcher(|_job: Job| panic!("this dispatcher panics on purpose"))
        .build();
    match broken.call_tool_blocking("echo", json!({"text": "x"})) {
        Err(Error::Shutdown { server }) => assert_eq!(server, "broken"),
        other => panic!("expected Error::Shutdown, got {other:?}"),
    }
    let healthy = Client::new(common::server("healthy"));
    let echo = healthy
        .call_tool_blocking("echo", json!({"text": "fine"}))
        .unwrap();
    assert_eq!(text(&echo), "fine");
    healthy.close_blocking().unwrap();
    drop(broken);
}
