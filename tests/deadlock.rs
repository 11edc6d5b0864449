//! The deadlock guard: a blocking call on a thread that runs this library's jobs fails at once.

mod common;

use std::time::{Duration, Instant};

use mcp_dispatch::model::{ElicitResult, ElicitationAction};
use mcp_dispatch::{Client, Error, Executor, Handlers};
use serde_json::json;

#[test]
fn a_blocking_call_on_the_executor_thread_returns_would_deadlock_at_once() {
    let executor = Executor::new().unwrap();
    let client = Client::builder(common::server("guarded"))
        .executor(executor.clone())
        .build();
    let (tx, rx) = std::sync::mpsc::channel();
    let in_job = client.clone();
    common::run_in_job(&executor, move || {
        let started = Instant::now();
        let outcome = in_job.call_tool_blocking("echo", json!({"text": "x"}));
        let _ = tx.send((outcome, started.elapsed()));
    })
    .unwrap();
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
        .executor(executor.clone())
        .build();
    let (tx, rx) = std::sync::mpsc::channel();
    common::run_in_job(&executor, move || {
        let methods = [
            client.list_tools_blocking().err(),
            client.server_info_blocking().err(),
            client.close_blocking().err(),
        ];
        let _ = tx.send(methods.map(|error| match error {
            Some(Error::WouldDeadlock { method, .. }) => method,
            other => panic!("expected Error::WouldDeadlock, got {other:?}"),
        }));
    })
    .unwrap();
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
        .executor(executor.clone())
        .server("files", common::server("x"))
        .build()
        .unwrap();
    // Resolve the name first, so the error can name its server.
    hub.list_tools_blocking();
    let (tx, rx) = std::sync::mpsc::channel();
    let inside = hub.clone();
    common::run_in_job(&executor, move || {
        let listed = inside.list_tools_blocking();
        let called = inside.call_tool_blocking("files__echo", json!({"text": "x"}));
        let closed = inside.close_blocking();
        let _ = tx.send((listed.errors, called, closed));
    })
    .unwrap();
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

/// A server request answered by a handler whose synchronous body makes a blocking call: the
/// call is refused at once, and meanwhile another client keeps answering.
#[test]
fn a_handler_body_that_blocks_is_refused_while_other_clients_keep_answering() {
    let bystander = Client::new(common::server("bystander"));
    bystander
        .call_tool_blocking("echo", json!({"text": "warm"}))
        .unwrap();
    let (body_tx, body_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = async_channel::bounded::<()>(1);
    let from_handler = bystander.clone();
    let handlers = Handlers::new().on_elicitation(move |_request| {
        // The body, before the future: a blocking call here must not freeze anything.
        let started = Instant::now();
        let outcome = from_handler.call_tool_blocking("echo", json!({"text": "inner"}));
        let thread = std::thread::current().name().map(str::to_owned);
        let _ = body_tx.send((outcome, started.elapsed(), thread));
        let release = release_rx.clone();
        async move {
            // Hold the request open until the test has used the other client.
            let _ = release.recv().await;
            Ok(ElicitResult::new(ElicitationAction::Decline))
        }
    });
    let asker = Client::builder(common::server("asker"))
        .handlers(handlers)
        .call_timeout(Duration::from_secs(20))
        .build();
    let asking =
        std::thread::spawn(move || asker.call_tool_blocking("ask", json!({"message": "?"})));

    let (outcome, took, thread) = body_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the handler ran");
    assert!(
        matches!(
            &outcome,
            Err(Error::WouldDeadlock { server, method: "call_tool_blocking" }) if server == "bystander"
        ),
        "{outcome:?}"
    );
    assert!(took < Duration::from_millis(100), "refused after {took:?}");
    assert_eq!(
        thread.as_deref(),
        Some("mcp-dispatch-rt"),
        "the body ran as a job, on the library's one thread"
    );
    // The request is still open on the asker's session; other clients are unaffected.
    let started = Instant::now();
    let echo = bystander
        .call_tool_blocking("echo", json!({"text": "meanwhile"}))
        .unwrap();
    assert_eq!(common::text(&echo), "meanwhile");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );

    release_tx.try_send(()).unwrap();
    let asked = asking.join().unwrap().unwrap();
    let answer: serde_json::Value = serde_json::from_str(&common::text(&asked)).unwrap();
    assert_eq!(answer["action"], "decline");
    bystander.close_blocking().unwrap();
}

/// A host loop on one thread, as a GUI or a single-threaded executor has: every job sent to
/// it runs there, the library's and the host's own tasks alike.
fn host_loop() -> (
    async_channel::Sender<mcp_dispatch::Job>,
    std::thread::JoinHandle<()>,
) {
    let (jobs, queue) = async_channel::unbounded::<mcp_dispatch::Job>();
    let thread = std::thread::spawn(move || {
        let executor = smol::LocalExecutor::new();
        smol::block_on(executor.run(async {
            while let Ok(job) = queue.recv().await {
                executor.spawn(job).detach();
            }
        }));
    });
    (jobs, thread)
}

#[test]
fn a_blocking_call_on_a_thread_the_host_dispatcher_runs_jobs_on_is_refused_at_once() {
    let (jobs, thread) = host_loop();
    let to_loop = jobs.clone();
    let client = Client::builder(common::server("hosted"))
        .dispatcher(move |job| {
            let _ = to_loop.send_blocking(job);
        })
        .build();
    // A call whose job runs on the loop: the loop's thread is now known to run jobs.
    let echo = smol::block_on(client.call_tool("echo", json!({"text": "async"}))).unwrap();
    assert_eq!(common::text(&echo), "async");

    // A task of the host's own, on the same loop, that blocks.
    let (done, outcome) = std::sync::mpsc::channel();
    let blocking = client.clone();
    jobs.send_blocking(Box::pin(async move {
        let started = Instant::now();
        let refused = blocking.call_tool_blocking("echo", json!({"text": "blocked"}));
        let _ = done.send((refused, started.elapsed()));
    }))
    .unwrap();
    let (refused, took) = outcome.recv_timeout(Duration::from_secs(60)).unwrap();
    assert!(
        matches!(&refused, Err(Error::WouldDeadlock { server, method: "call_tool_blocking" })
            if server == "hosted"),
        "{refused:?}"
    );
    assert!(took < Duration::from_secs(1), "refused after {took:?}");

    // From any other thread the same blocking call goes through the loop.
    let echo = client
        .call_tool_blocking("echo", json!({"text": "plain"}))
        .unwrap();
    assert_eq!(common::text(&echo), "plain");
    client.close_blocking().unwrap();
    jobs.close();
    thread.join().unwrap();
}

#[test]
fn a_blocking_call_from_the_clients_own_sign_in_step_is_refused_at_once() {
    let server = common::HttpServer::start("127.0.0.1:0", &[("MCP_TEST_OAUTH", "1")]);
    let this: std::sync::Arc<std::sync::OnceLock<Client>> = Default::default();
    let inner = std::sync::Arc::new(std::sync::Mutex::new(None));
    let (client_of_step, seen) = (this.clone(), inner.clone());
    let client =
        Client::builder(mcp_dispatch::ServerConfig::http(server.url.as_str()).name("signing"))
            .sign_in(move |request: &mcp_dispatch::SignInRequest| {
                let started = Instant::now();
                let nested = client_of_step
                    .get()
                    .expect("set before the first call")
                    .list_tools_blocking();
                *seen.lock().unwrap() = Some((nested.map(|tools| tools.len()), started.elapsed()));
                common::browser::follow_redirect(request)
            })
            .build();
    this.set(client.clone()).unwrap();
    let echo = client
        .call_tool_blocking("echo", json!({"text": "signed in"}))
        .unwrap();
    assert_eq!(common::text(&echo), "signed in");
    let (nested, took) = inner.lock().unwrap().take().expect("the step ran");
    assert!(
        matches!(&nested, Err(Error::WouldDeadlock { server, method: "list_tools_blocking" })
            if server == "signing"),
        "{nested:?}"
    );
    assert!(took < Duration::from_secs(1), "refused after {took:?}");
    client.close_blocking().unwrap();
}
