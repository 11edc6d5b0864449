//! Shutdown: sessions closed, callers told, threads joined, bounded, from any thread.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{exists, library_threads, sleeping, thread_names, wait_until};
use mcp_dispatch::{Client, Error, Executor, Handlers};
use serde_json::json;

const BOUND: Duration = Duration::from_secs(20);

/// Tests here count the library's threads (none of them uses the shared executor), so they
/// run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits (bounded) until none of the library's threads is left, failing with their names.
fn no_library_threads() {
    wait_until(
        BOUND,
        &format!("no library threads, have {:?}", thread_names()),
        || library_threads() == 0,
    );
}

fn pid_of(client: &Client) -> u32 {
    common::text(&client.call_tool_blocking("pid", json!({})).unwrap())
        .parse()
        .unwrap()
}

#[test]
fn shutdown_closes_every_session_fails_callers_and_joins_both_threads() {
    let _serial = serial();
    no_library_threads();
    let executor = Executor::new().unwrap();
    let clients: Vec<Client> = (0..3)
        .map(|i| {
            Client::builder(common::server(&format!("shut-{i}")))
                .executor(executor.clone())
                .build()
        })
        .collect();
    let pids: Vec<u32> = clients.iter().map(pid_of).collect();
    let in_flight = {
        let client = clients[0].clone();
        std::thread::spawn(move || client.call_tool_blocking("sleep", json!({"ms": 30_000})))
    };
    wait_until(BOUND, "the sleep to start", || sleeping(&clients[0]) == 1);

    // The bound is shorter than the sleep: a clean shutdown did not wait for the call.
    assert!(
        executor.shutdown_timeout(BOUND),
        "shutdown closed every session and joined both threads"
    );
    assert!(executor.is_shut_down());

    match in_flight.join().unwrap() {
        Err(Error::Shutdown { server }) => assert_eq!(server, "shut-0"),
        other => panic!("expected Error::Shutdown for the call in flight, got {other:?}"),
    }
    for client in &clients {
        match client.call_tool_blocking("pid", json!({})) {
            Err(Error::Shutdown { server }) => assert_eq!(server, client.server_name()),
            other => panic!("expected Error::Shutdown after shutdown, got {other:?}"),
        }
    }
    for pid in pids {
        wait_until(BOUND, "the server to be gone and reaped", || !exists(pid));
    }
    // Both named threads were joined (shutdown returned true); tokio's idle blocking-pool
    // helpers, if any, wind down on their own.
    no_library_threads();
    assert!(executor.shutdown(), "a second shutdown is a no-op");
}

#[test]
fn dropping_the_last_handles_closes_servers_and_stops_the_threads() {
    let _serial = serial();
    no_library_threads();
    let executor = Executor::new().unwrap();
    let client = Client::builder(common::server("dropped"))
        .executor(executor.clone())
        .build();
    let pid = pid_of(&client);
    drop(executor);
    drop(client);
    wait_until(BOUND, "the server to be gone and reaped", || !exists(pid));
    wait_until(BOUND, "the library's threads to stop", || {
        library_threads() == 0
    });
}

#[test]
fn dropping_the_last_handle_on_the_executor_thread_does_not_block() {
    let _serial = serial();
    no_library_threads();
    let executor = Executor::new().unwrap();
    let client = Client::builder(common::server("last"))
        .executor(executor.clone())
        .build();
    pid_of(&client);
    let call = client.call_tool("slow_echo", json!({"text": "last", "ms": 300}));
    let call = std::thread::spawn(move || futures::executor::block_on(call));
    wait_until(BOUND, "the call to start", || sleeping(&client) == 1);
    // Now only the call's job holds the client, and through it the executor: the executor's
    // last handle is dropped on its own thread when that job ends.
    drop(executor);
    drop(client);
    match call.join().unwrap() {
        Ok(result) => assert_eq!(common::text(&result), "last"),
        Err(Error::Closed { server }) => assert_eq!(server, "last"),
        Err(other) => panic!("expected the answer or Error::Closed, got {other:?}"),
    }
    // A drop that waited for its own thread would spend the whole 5 s shutdown bound before
    // the threads could stop.
    let ended = Instant::now();
    wait_until(BOUND, "the library's threads to stop", || {
        library_threads() == 0
    });
    let took = ended.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the threads took {took:?} to stop after the last handle was dropped on its own thread"
    );
}

#[test]
#[allow(deprecated)]
fn shutdown_from_inside_a_job_returns_without_waiting_for_itself() {
    let _serial = serial();
    no_library_threads();
    let executor = Executor::new().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let inside = executor.clone();
    let tx = Mutex::new(tx);
    // A handler's body runs as a job on the executor thread.
    let handlers = Handlers::new().on_roots(move || {
        let _ = tx.lock().unwrap().send(inside.shutdown());
        async { Ok(mcp_dispatch::model::ListRootsResult::new(Vec::new())) }
    });
    let client = Client::builder(common::server("inside"))
        .executor(executor.clone())
        .handlers(handlers)
        .build();
    let call = client.call_tool("roots", json!({}));
    let call = std::thread::spawn(move || futures::executor::block_on(call));
    let joined = rx.recv_timeout(BOUND).expect("the handler ran");
    assert!(!joined, "it cannot join its own thread");
    assert!(executor.is_shut_down());
    match call.join().unwrap() {
        Err(Error::Shutdown { server }) => assert_eq!(server, "inside"),
        other => panic!("expected Error::Shutdown, got {other:?}"),
    }
    assert!(executor.shutdown(), "joined from outside");
    drop((executor, client));
    wait_until(BOUND, "the library's threads to stop", || {
        library_threads() == 0
    });
}
