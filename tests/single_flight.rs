//! The single-flight lock, observed from outside: one process per connect, one per reconnect.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{kill, text, wait_until};
use mcp_dispatch::Client;
use serde_json::json;

#[test]
fn concurrent_first_calls_start_one_server_and_a_dead_one_is_replaced_once() {
    let log = common::temp_dir("single-flight").join("starts.log");
    let client = Client::new(common::counted_server("counted", &log));
    let barrier = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|thread| {
            let client = client.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let calls: Vec<_> = (0..4)
                    .map(|call| {
                        let message = format!("{thread}-{call}");
                        client.call_tool("echo", json!({ "text": message }))
                    })
                    .collect();
                let mut pids = Vec::new();
                for (call, future) in calls.into_iter().enumerate() {
                    let result = futures::executor::block_on(future).expect("echo succeeds");
                    assert_eq!(text(&result), format!("{thread}-{call}"));
                    let pid = client.call_tool_blocking("pid", json!({})).expect("pid");
                    pids.push(text(&pid).parse::<u32>().unwrap());
                }
                pids
            })
        })
        .collect();
    let pids: HashSet<u32> = threads
        .into_iter()
        .flat_map(|thread| thread.join().expect("caller thread"))
        .collect();
    assert_eq!(
        pids.len(),
        1,
        "64 concurrent first calls saw servers {pids:?}"
    );
    assert_eq!(
        common::count_lines(&log),
        1,
        "exactly one server process was started"
    );
    let first = *pids.iter().next().unwrap();

    kill(first);
    wait_until(
        Duration::from_secs(20),
        "the client to see the server die",
        || !client.is_connected(),
    );

    let barrier = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let client = client.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let pid = client
                    .call_tool_blocking("pid", json!({}))
                    .expect("pid after reconnect");
                text(&pid).parse::<u32>().unwrap()
            })
        })
        .collect();
    let pids: HashSet<u32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        pids.len(),
        1,
        "16 callers after the kill saw servers {pids:?}"
    );
    assert!(!pids.contains(&first), "the dead server was replaced");
    assert_eq!(
        common::count_lines(&log),
        2,
        "exactly one new server process was started"
    );
    client.close_blocking().unwrap();
}

#[test]
fn calls_on_one_session_run_concurrently() {
    // Bounds only a hang: calls run one at a time would each wait here for the others.
    let client = Client::builder(common::server("concurrent"))
        .call_timeout(Duration::from_secs(20))
        .build();
    let pid = client.call_tool_blocking("pid", json!({})).unwrap();
    // Each `gather` returns only once all eight have reached the server, so all eight
    // must be in flight on the one session at the same time.
    let calls: Vec<_> = (0..8)
        .map(|_| client.call_tool("gather", json!({ "n": 8 })))
        .collect();
    let results = futures::executor::block_on(futures::future::join_all(calls));
    for result in results {
        assert_eq!(text(&result.expect("gather succeeds")), "gathered 8");
    }
    let again = client.call_tool_blocking("pid", json!({})).unwrap();
    assert_eq!(text(&again), text(&pid), "all calls used the one session");
    assert_eq!(client.stats().connects, 1);
    client.close_blocking().unwrap();
}
