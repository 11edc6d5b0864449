//! The futures run on any executor, and jobs run on any dispatcher, with no tokio in sight.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use common::text;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use mcp_dispatch::{Client, Job};
use serde_json::json;

async fn add_and_echo(client: &Client) {
    let sum = client
        .call_tool("add", json!({"a": 2, "b": 3}))
        .await
        .unwrap();
    assert_eq!(text(&sum), "5");
    let echo = client
        .call_tool("echo", json!({"text": "hi"}))
        .await
        .unwrap();
    assert_eq!(text(&echo), "hi");
    let tools = client.list_tools().await.unwrap();
    assert!(tools.iter().any(|tool| tool.name == "echo"));
}

fn no_tokio_runtime_threads() {
    let names = common::thread_names();
    assert!(
        !names.iter().any(|name| name.starts_with("tokio-r")),
        "a tokio runtime was started: {names:?}"
    );
}

#[test]
fn futures_complete_on_async_std() {
    let client = Client::new(common::server("async-std"));
    async_std::task::block_on(add_and_echo(&client));
    async_std::task::block_on(client.close()).unwrap();
    no_tokio_runtime_threads();
}

#[test]
fn futures_complete_on_smol() {
    let client = Client::new(common::server("smol"));
    smol::block_on(add_and_echo(&client));
    let spawned = smol::spawn({
        let client = client.clone();
        async move { client.call_tool("echo", json!({"text": "task"})).await }
    });
    assert_eq!(text(&smol::block_on(spawned).unwrap()), "task");
    smol::block_on(client.close()).unwrap();
    no_tokio_runtime_threads();
}

#[test]
fn futures_complete_on_the_futures_executor() {
    let client = Client::new(common::server("futures"));
    futures::executor::block_on(add_and_echo(&client));
    futures::executor::block_on(client.close()).unwrap();
    no_tokio_runtime_threads();
}

/// A minimal executor: poll, park until woken, repeat.
fn tiny_block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = Box::pin(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => thread::park(),
        }
    }
}

#[test]
fn futures_complete_on_a_hand_written_executor() {
    let client = Client::new(common::server("tiny"));
    tiny_block_on(add_and_echo(&client));
    tiny_block_on(client.close()).unwrap();
    no_tokio_runtime_threads();
}

#[test]
fn jobs_run_on_a_dispatcher_closure_on_the_test_thread() {
    let (sender, receiver) = async_channel::unbounded::<Job>();
    let dispatched = Arc::new(AtomicUsize::new(0));
    let counter = dispatched.clone();
    let client = Client::builder(common::server("host-loop"))
        .dispatcher(move |job: Job| {
            counter.fetch_add(1, Ordering::SeqCst);
            // Once the host loop has ended, jobs are dropped, as a real host would.
            let _ = sender.try_send(job);
        })
        .build();

    // The host loop: polls the jobs it was handed and the application's own future, on this
    // one thread, until the application's future is done.
    let host_thread = thread::current().id();
    let mut receiver = Box::pin(receiver);
    let mut jobs = FuturesUnordered::new();
    let mut app: Pin<Box<dyn Future<Output = ()>>> = Box::pin(async {
        add_and_echo(&client).await;
        assert_eq!(thread::current().id(), host_thread);
    });
    tiny_block_on(futures::future::poll_fn(|cx| {
        while let Poll::Ready(Some(job)) = receiver.poll_next_unpin(cx) {
            jobs.push(job);
        }
        while let Poll::Ready(Some(())) = jobs.poll_next_unpin(cx) {}
        if app.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        // Polling the app may have dispatched new jobs: give them their first poll now.
        while let Poll::Ready(Some(job)) = receiver.poll_next_unpin(cx) {
            jobs.push(job);
        }
        while let Poll::Ready(Some(())) = jobs.poll_next_unpin(cx) {}
        Poll::Pending
    }));
    // Three calls plus one connect job at least.
    assert!(dispatched.load(Ordering::SeqCst) >= 4);
    no_tokio_runtime_threads();
}
