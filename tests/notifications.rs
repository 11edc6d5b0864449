//! Notifications reach the caller: progress to the call's callback, in order; log messages
//! to subscribers; slow or panicking callbacks stall nobody else.

mod common;

use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::text;
use mcp_dispatch::{CallOptions, Client, Error, Hub, Notification, Progress};
use serde_json::json;

/// Bounds every wait here against a hang.
const BOUND: Duration = Duration::from_secs(20);

#[test]
fn progress_reaches_the_callback_in_order() {
    let client = Client::new(common::server("progress"));
    let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = seen.clone();
    let result = client
        .call_tool_with_blocking(
            "progress",
            json!({"steps": 5, "delay_ms": 20}),
            CallOptions::new().on_progress(move |progress| sink.lock().unwrap().push(progress)),
        )
        .unwrap();
    assert_eq!(text(&result), "done 5");
    let seen = seen.lock().unwrap();
    let steps: Vec<f64> = seen.iter().map(|progress| progress.progress).collect();
    assert_eq!(steps, [1.0, 2.0, 3.0, 4.0, 5.0]);
    assert!(seen.iter().all(|progress| progress.total == Some(5.0)));
    client.close_blocking().unwrap();
}

#[test]
fn progress_of_concurrent_calls_goes_to_the_right_callbacks() {
    let client = Client::new(common::server("progress-many"));
    let calls: Vec<_> = (1..=4)
        .map(|steps| {
            let seen: Arc<Mutex<Vec<f64>>> = Arc::default();
            let sink = seen.clone();
            let call = client.call_tool_with(
                "progress",
                json!({"steps": steps, "delay_ms": 10}),
                CallOptions::new()
                    .on_progress(move |progress| sink.lock().unwrap().push(progress.progress)),
            );
            (steps, seen, call)
        })
        .collect();
    let (expected, futures): (Vec<_>, Vec<_>) = calls
        .into_iter()
        .map(|(steps, seen, call)| ((steps, seen), call))
        .unzip();
    let results = futures::executor::block_on(futures::future::join_all(futures));
    for ((steps, seen), result) in expected.into_iter().zip(results) {
        assert_eq!(text(&result.unwrap()), format!("done {steps}"));
        let want: Vec<f64> = (1..=steps).map(f64::from).collect();
        assert_eq!(*seen.lock().unwrap(), want);
    }
    client.close_blocking().unwrap();
}

#[test]
fn a_panicking_progress_callback_fails_its_call_only() {
    let client = Client::new(common::server("panicky"));
    let error = client
        .call_tool_with_blocking(
            "progress",
            json!({"steps": 3, "delay_ms": 20}),
            CallOptions::new().on_progress(|_| panic!("callback panicked on purpose")),
        )
        .unwrap_err();
    match error {
        Error::Panicked { server, message } => {
            assert_eq!(server, "panicky");
            assert!(message.contains("on purpose"), "{message}");
        }
        other => panic!("expected Error::Panicked, got {other:?}"),
    }
    let echo = client
        .call_tool_blocking("echo", json!({"text": "fine"}))
        .unwrap();
    assert_eq!(text(&echo), "fine");
    client.close_blocking().unwrap();
}

#[test]
fn a_slow_progress_callback_does_not_stall_other_servers() {
    let slow = Client::new(common::server("slow-callback"));
    let other = Client::new(common::server("other"));
    other.call_tool_blocking("pid", json!({})).unwrap();
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = Mutex::new(released);
    // Whether the callback was let go by the test (true) or gave up waiting (false).
    let (left_tx, left) = std::sync::mpsc::channel();
    let caller = std::thread::spawn(move || {
        slow.call_tool_with_blocking(
            "progress",
            json!({"steps": 2, "delay_ms": 10}),
            CallOptions::new().on_progress(move |_| {
                let _ = entered_tx.send(());
                // Holds the callback until the test lets go (bounded).
                let waited = released.lock().unwrap().recv_timeout(BOUND);
                let _ = left_tx.send(!matches!(waited, Err(RecvTimeoutError::Timeout)));
            }),
        )
    });
    entered.recv_timeout(BOUND).expect("the callback ran");
    // While that callback is stuck, another server answers.
    for _ in 0..20 {
        other
            .call_tool_blocking("echo", json!({"text": "x"}))
            .unwrap();
    }
    assert!(
        left.try_recv().is_err(),
        "the other server answered only after the callback gave up"
    );
    drop(release);
    assert!(
        left.recv_timeout(BOUND).expect("the callback returned"),
        "the callback was let go by the test, not by its own bound"
    );
    assert_eq!(text(&caller.join().unwrap().unwrap()), "done 2");
    other.close_blocking().unwrap();
}

#[test]
fn log_messages_reach_client_and_hub_subscribers() {
    let hub = Hub::builder()
        .server("logger", common::server("x"))
        .build()
        .unwrap();
    let client = hub.client("logger").unwrap();
    let from_client = client.notifications();
    let from_hub = hub.notifications();
    client
        .call_tool_blocking(
            "log",
            json!({"level": "warning", "message": "disk almost full"}),
        )
        .unwrap();
    for notifications in [&from_client, &from_hub] {
        match notifications.recv_timeout(BOUND) {
            Some(Notification::Log {
                server,
                level,
                data,
                ..
            }) => {
                assert_eq!(server, "logger");
                assert_eq!(level, "warning");
                assert_eq!(data, json!("disk almost full"));
            }
            other => panic!("expected the log message, got {other:?}"),
        }
    }
    assert_eq!(from_client.dropped(), 0);
    hub.close_blocking().unwrap();
}
