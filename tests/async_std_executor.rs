//! `Executor::async_std`: the library's jobs as a task on async-std's runtime. The behaviour
//! is the built-in executor's: single-flight connects, reconnects, timeouts, shutdown and
//! the deadlock guard.

mod common;

use std::time::{Duration, Instant};

use common::{kill, text, wait_until};
use mcp_dispatch::{Client, Error, Executor};
use serde_json::json;

const BOUND: Duration = Duration::from_secs(10);

fn client_on(executor: &Executor, name: &str) -> Client {
    Client::builder(common::server(name))
        .executor(executor.clone())
        .build()
}

#[test]
fn sixteen_concurrent_first_calls_from_async_std_tasks_share_one_connect() {
    let executor = Executor::async_std().unwrap();
    let client = client_on(&executor, "single-flight");
    let calls: Vec<_> = (0..16)
        .map(|i| {
            let client = client.clone();
            async_std::task::spawn(async move {
                let echo = client
                    .call_tool("echo", json!({"text": format!("task {i}")}))
                    .await
                    .unwrap();
                assert_eq!(text(&echo), format!("task {i}"));
            })
        })
        .collect();
    async_std::task::block_on(futures::future::join_all(calls));
    assert_eq!(client.stats().connects, 1);
    // No job thread of ours: the jobs ran as a task on async-std's runtime.
    assert!(
        !common::library_thread_names()
            .iter()
            .any(|name| name == "mcp-dispatch"),
        "{:?}",
        common::library_thread_names()
    );
    assert!(executor.shutdown());
}

#[test]
fn a_dead_session_is_replaced_on_the_next_call() {
    let executor = Executor::async_std().unwrap();
    let client = client_on(&executor, "reconnect");
    let first = text(&client.call_tool_blocking("pid", json!({})).unwrap());
    kill(first.parse().unwrap());
    wait_until(BOUND, "the client to see the death", || {
        !client.is_connected()
    });
    let second = async_std::task::block_on(client.call_tool("pid", json!({}))).unwrap();
    assert_ne!(first, text(&second));
    assert_eq!(client.stats().connects, 2);
    assert!(executor.shutdown());
}

#[test]
fn a_call_that_overruns_its_timeout_fails_in_time() {
    let executor = Executor::async_std().unwrap();
    let client = Client::builder(common::server("timeout"))
        .executor(executor.clone())
        .call_timeout(Duration::from_millis(300))
        .build();
    client.list_tools_blocking().unwrap();
    let started = Instant::now();
    let error =
        async_std::task::block_on(client.call_tool("sleep", json!({"ms": 30_000}))).unwrap_err();
    assert!(
        matches!(&error, Error::Timeout { server, .. } if server == "timeout"),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(executor.shutdown());
}

#[test]
fn shutdown_fails_calls_in_flight_and_later_ones_and_ends_the_server() {
    let executor = Executor::async_std().unwrap();
    let client = client_on(&executor, "shutdown");
    client.list_tools_blocking().unwrap();
    let pid = client.pid().unwrap();
    let in_flight = {
        let client = client.clone();
        std::thread::spawn(move || client.call_tool_blocking("sleep", json!({"ms": 30_000})))
    };
    wait_until(BOUND, "the sleep to start", || {
        common::sleeping(&client) == 1
    });
    let started = Instant::now();
    assert!(executor.shutdown());
    assert!(started.elapsed() < Duration::from_secs(6));
    assert!(
        matches!(in_flight.join().unwrap(), Err(Error::Shutdown { .. })),
        "the call in flight gets Error::Shutdown"
    );
    assert!(matches!(
        client.call_tool_blocking("echo", json!({"text": "late"})),
        Err(Error::Shutdown { .. })
    ));
    wait_until(BOUND, "the server to exit", || !common::alive(pid));
    assert!(executor.is_shut_down());
}

#[test]
fn a_blocking_call_inside_one_of_its_jobs_fails_instead_of_deadlocking() {
    let executor = Executor::async_std().unwrap();
    let inside = client_on(&executor, "guarded");
    let (tx, rx) = std::sync::mpsc::channel();
    common::run_in_job(&executor, move || {
        let _ = tx.send(inside.call_tool_blocking("echo", json!({"text": "x"})));
    })
    .unwrap();
    let outcome = rx.recv_timeout(BOUND).expect("the job ran");
    assert!(
        matches!(&outcome, Err(Error::WouldDeadlock { server, .. }) if server == "guarded"),
        "{outcome:?}"
    );
    assert!(executor.shutdown());
}
