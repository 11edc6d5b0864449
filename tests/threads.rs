//! The library starts a small, constant number of threads, whatever the servers and calls.

mod common;

use std::sync::Mutex;

use common::text;
use mcp_dispatch::{Client, Executor};
use serde_json::json;

/// The tests count the threads of the whole process, so they take turns.
static COUNTING: Mutex<()> = Mutex::new(());

#[test]
fn eight_servers_and_a_thousand_calls_stay_within_the_thread_bound() {
    let _turn = COUNTING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let before = common::thread_names().len();
    assert_eq!(common::library_threads(), 0);

    let clients: Vec<Client> = (0..8)
        .map(|i| Client::new(common::server(&format!("server-{i}"))))
        .collect();
    let after_first_calls = {
        for client in &clients {
            client.call_tool_blocking("pid", json!({})).unwrap();
        }
        common::thread_names().len()
    };

    // 1000 calls: 8 caller threads, each spreading 125 calls over the 8 servers.
    let callers: Vec<_> = (0..8)
        .map(|caller| {
            let clients = clients.clone();
            std::thread::spawn(move || {
                for call in 0..125 {
                    let client = &clients[(caller + call) % clients.len()];
                    let message = format!("{caller}/{call}");
                    let result = client
                        .call_tool_blocking("echo", json!({ "text": message }))
                        .unwrap();
                    assert_eq!(text(&result), message);
                }
            })
        })
        .collect();
    let mut peak_library_threads = 0;
    for caller in callers {
        peak_library_threads = peak_library_threads.max(common::library_threads());
        caller.join().unwrap();
    }
    let after = common::thread_names().len();
    let library = common::library_threads();

    // One library thread: the tokio runtime's, which also polls the jobs.
    assert!(
        library <= 1,
        "library threads: {:?}",
        common::thread_names()
    );
    assert!(
        peak_library_threads <= 1,
        "peak library threads: {peak_library_threads}"
    );
    assert!(
        after_first_calls - before <= 3,
        "threads grew from {before} to {after_first_calls} for 8 servers: {:?}",
        common::thread_names()
    );
    assert!(
        after - before <= 3,
        "threads grew from {before} to {after} after 1000 calls: {:?}",
        common::thread_names()
    );
    // A client on a host's dispatcher shares the tokio thread: still one library thread.
    let hosted = Client::builder(common::server("hosted"))
        .dispatcher(|job: mcp_dispatch::Job| smol::spawn(job).detach())
        .build();
    let echo = hosted
        .call_tool_blocking("echo", json!({"text": "hosted"}))
        .unwrap();
    assert_eq!(text(&echo), "hosted");
    let mut names: Vec<String> = common::thread_names()
        .into_iter()
        .filter(|name| name.starts_with("mcp-dispatch"))
        .collect();
    names.sort();
    assert_eq!(names, ["mcp-dispatch-rt"], "library threads: {names:?}");
    hosted.close_blocking().unwrap();
    for client in &clients {
        client.close_blocking().unwrap();
    }
}

#[test]
fn an_async_std_app_on_the_async_std_executor_adds_only_the_tokio_thread() {
    let _turn = COUNTING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let before = common::library_thread_names();
    let executor = Executor::async_std().unwrap();
    let clients: Vec<Client> = (0..4)
        .map(|i| {
            Client::builder(common::server(&format!("async-std-{i}")))
                .executor(executor.clone())
                .build()
        })
        .collect();
    let during = async_std::task::block_on(async {
        let calls = (0..100).map(|call| {
            let client = clients[call % clients.len()].clone();
            async_std::task::spawn(async move {
                let message = format!("call {call}");
                let echo = client
                    .call_tool("echo", json!({ "text": message }))
                    .await
                    .unwrap();
                assert_eq!(text(&echo), message);
            })
        });
        futures::future::join_all(calls).await;
        common::library_thread_names()
    });
    let mut added = during;
    for name in &before {
        if let Some(at) = added.iter().position(|added| added == name) {
            added.remove(at);
        }
    }
    assert_eq!(
        added,
        ["mcp-dispatch-rt"],
        "only rmcp's tokio thread; the jobs ran on async-std's threads"
    );
    assert!(executor.shutdown());
    assert_eq!(common::library_thread_names(), before);
}

#[test]
fn a_client_on_a_tokio_apps_runtime_adds_no_library_thread() {
    let _turn = COUNTING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let before = common::library_thread_names();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = Client::builder(common::server("on-tokio"))
        .tokio_handle(runtime.handle().clone())
        .build();
    runtime.block_on(async {
        let calls: Vec<_> = (0..16)
            .map(|call| {
                let client = client.clone();
                tokio::spawn(async move {
                    let message = format!("task {call}");
                    let echo = client
                        .call_tool("echo", json!({ "text": message }))
                        .await
                        .unwrap();
                    assert_eq!(text(&echo), message);
                })
            })
            .collect();
        for call in calls {
            call.await.unwrap();
        }
    });
    assert_eq!(client.stats().connects, 1, "one connect for 16 first calls");
    assert_eq!(
        common::library_thread_names(),
        before,
        "the library started no thread"
    );
    runtime.block_on(client.close()).unwrap();
}
