//! The deadlock guard: a blocking call on a thread that runs this library's jobs fails at once.

mod common;

use std::time::{Duration, Instant};

use mcp_dispatch::{Client, Dispatcher, Error, Executor};
use serde_json::json;

#[test]
fn a_blocking_call_on_the_executor_thread_returns_would_deadlock_at_once() {
    let executor = Executor::new().unwrap();
    let client = Client::builder(common::server("guarded"))
        .dispatcher(executor.clone())
        .build();
    let (tx, rx) = std::sync::mpsc::channel();
    let in_job = client.clone();
    executor.dispatch(Box::pin(async move {
        let started = Instant::now();
        let outcome = in_job.call_tool_blocking("echo", json!({"text": "x"}));
        let _ = tx.send((outcome, started.elapsed()));
    }));
    let (outcome, took) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the job ran");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let error = outcome.unwrap_err();
    match &error {
        Error::WouldDeadlock { server, method } => {
            assert_eq!(server, "guarded");
            assert_eq!(*method, "call_tool_blocking");
        }
        other => panic!("expected Error::WouldDeadlock, got {other:?}"),
    }
    assert!(error.to_string().contains("async form"), "{error}");
    // The executor is unharmed: the async form works from outside.
    let echo = client
        .call_tool_blocking("echo", json!({"text": "ok"}))
        .unwrap();
    assert_eq!(common::text(&echo), "ok");
    assert!(executor.shutdown());
}

#[test]
fn every_blocking_method_is_guarded() {
    let executor = Executor::new().unwrap();
    let client = Client::builder(common::server("guarded-all"))
        .dispatcher(executor.clone())
        .build();
    let (tx, rx) = std::sync::mpsc::channel();
    executor.dispatch(Box::pin(async move {
        let methods = [
            client.list_tools_blocking().err(),
            client.server_info_blocking().err(),
            client.close_blocking().err(),
        ];
        let _ = tx.send(methods.map(|error| match error {
            Some(Error::WouldDeadlock { method, .. }) => method,
            other => panic!("expected Error::WouldDeadlock, got {other:?}"),
        }));
    }));
    let methods = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the job ran");
    assert_eq!(
        methods,
        [
            "list_tools_blocking",
            "server_info_blocking",
            "close_blocking"
        ]
    );
    assert!(executor.shutdown());
}

#[test]
fn the_hubs_blocking_methods_are_guarded_and_name_the_server() {
    let executor = Executor::new().unwrap();
    let hub = mcp_dispatch::Hub::builder()
        .dispatcher(executor.clone())
        .server("files", common::server("x"))
        .build()
        .unwrap();
    // Resolve the name first, so the error can name its server.
    hub.list_tools_blocking();
    let (tx, rx) = std::sync::mpsc::channel();
    let inside = hub.clone();
    executor.dispatch(Box::pin(async move {
        let listed = inside.list_tools_blocking();
        let called = inside.call_tool_blocking("files__echo", json!({"text": "x"}));
        let closed = inside.close_blocking();
        let _ = tx.send((listed.errors, called, closed));
    }));
    let (listed, called, closed) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the job ran");
    assert!(
        matches!(
            listed.as_slice(),
            [Error::WouldDeadlock { server, method: "list_tools_blocking" }] if server == "files"
        ),
        "{listed:?}"
    );
    assert!(
        matches!(
            called,
            Err(Error::WouldDeadlock { ref server, method: "call_tool_blocking" }) if server == "files"
        ),
        "{called:?}"
    );
    assert!(
        matches!(
            closed,
            Err(Error::WouldDeadlock { ref server, method: "close_blocking" }) if server == "files"
        ),
        "{closed:?}"
    );
    hub.close_blocking().unwrap();
    assert!(executor.shutdown());
}
