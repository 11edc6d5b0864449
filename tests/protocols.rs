//! Both lifecycles: a server that speaks only 2026-07-28 (`server/discover`), one that only
//! has the `initialize` handshake of 2025-11-25, and one that speaks both, over stdio and
//! streamable HTTP, reached from threads, smol, a host dispatcher and a Hub; with the
//! contracts of single-flight, timeouts, cancellation and reconnects on each.
// rmcp marks roots deprecated (SEP-2577); servers still ask for them.
#![allow(deprecated)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{HttpServer, Speaks, server_speaking, text};
use mcp_dispatch::model::{ElicitResult, ElicitationAction, Root};
use mcp_dispatch::{CallOptions, Client, Error, Handlers, Hub, Job, ServerConfig};
use serde_json::json;

fn handlers() -> Handlers {
    Handlers::new()
        .roots(vec![Root::new("file:///data")])
        .on_elicitation(|_| async {
            Ok(ElicitResult::new(ElicitationAction::Accept).with_content(json!({"answer": "no"})))
        })
}

/// Calls `echo` and `roots` (which asks the client for input) and checks the version.
async fn exercise(client: &Client, speaks: Speaks, tag: &str) {
    let echo = client
        .call_tool("echo", json!({"text": tag}))
        .await
        .unwrap();
    assert_eq!(text(&echo), tag);
    let roots = client.call_tool("roots", json!({})).await.unwrap();
    assert_eq!(text(&roots), "file:///data", "{speaks:?} {tag}");
    let info = client.server_info().await.unwrap();
    assert_eq!(info.protocol_version.as_str(), speaks.version(), "{tag}");
}

/// Checks that the client's one session still answers, then closes it.
fn the_session_stays(client: &Client) {
    let echo = client
        .call_tool_blocking("echo", json!({"text": "still here"}))
        .unwrap();
    assert_eq!(text(&echo), "still here");
    assert_eq!(client.stats().connects, 1, "a new session was opened");
    client.close_blocking().unwrap();
}

/// One config per transport for a server that speaks `speaks`; the HTTP servers are kept
/// alive by the returned guards.
fn configs(speaks: Speaks) -> (Vec<(&'static str, ServerConfig)>, HttpServer) {
    let web = HttpServer::start("127.0.0.1:0", speaks.env());
    let configs = vec![
        ("stdio", server_speaking("stdio", speaks)),
        ("http", ServerConfig::http(web.url.clone()).name("http")),
    ];
    (configs, web)
}

#[test]
fn each_kind_of_server_answers_threads_smol_and_a_host_dispatcher() {
    for speaks in Speaks::ALL {
        let (configs, _web) = configs(speaks);
        for (transport, config) in configs {
            // Threads, on the library's executor: one session for all of them.
            let client = Client::builder(config.clone()).handlers(handlers()).build();
            std::thread::scope(|scope| {
                for thread in 0..4 {
                    let client = &client;
                    scope.spawn(move || {
                        for call in 0..5 {
                            let tag = format!("{transport} {thread}.{call}");
                            futures::executor::block_on(exercise(client, speaks, &tag));
                        }
                    });
                }
            });
            assert_eq!(client.stats().connects, 1, "{speaks:?} {transport}");
            client.close_blocking().unwrap();

            // smol: concurrent futures.
            let client = Client::builder(config.clone()).handlers(handlers()).build();
            smol::block_on(async {
                let calls = (0..8).map(|i| {
                    let client = &client;
                    async move { exercise(client, speaks, &format!("smol {i}")).await }
                });
                futures::future::join_all(calls).await;
            });
            assert_eq!(client.stats().connects, 1, "{speaks:?} {transport} smol");
            smol::block_on(client.close()).unwrap();

            // A host dispatcher: every job on a thread of the host's.
            let client = Client::builder(config)
                .handlers(handlers())
                .dispatcher(|job: Job| {
                    std::thread::Builder::new()
                        .name("host".into())
                        .spawn(move || futures::executor::block_on(job))
                        .expect("a host thread");
                })
                .build();
            futures::executor::block_on(exercise(&client, speaks, "host"));
            assert_eq!(client.stats().connects, 1, "{speaks:?} {transport} host");
            client.close_blocking().unwrap();
        }
    }
}

#[test]
fn a_hub_serves_old_new_and_both_side_by_side() {
    let web = HttpServer::start("127.0.0.1:0", Speaks::New.env());
    let hub = Hub::builder()
        .handlers(handlers())
        .server("old", server_speaking("old", Speaks::Old))
        .server("new", server_speaking("new", Speaks::New))
        .server("both", server_speaking("both", Speaks::Both))
        .server("remote", ServerConfig::http(web.url.clone()))
        .build()
        .unwrap();
    let listed = hub.list_tools_blocking();
    assert!(listed.errors.is_empty(), "{:?}", listed.errors);
    let tools = listed.tools;
    for server in ["old", "new", "both", "remote"] {
        let echo = format!("{server}__echo");
        assert!(
            tools.iter().any(|tool| tool.name == echo),
            "{echo} not listed"
        );
        let answer = hub
            .call_tool_blocking(&echo, json!({"text": server}))
            .unwrap();
        assert_eq!(text(&answer), server);
        let ask = hub
            .call_tool_blocking(format!("{server}__ask"), json!({"message": "?"}))
            .unwrap();
        let ask: serde_json::Value = serde_json::from_str(&text(&ask)).unwrap();
        assert_eq!(ask["content"]["answer"], "no", "{server}");
    }
    hub.close_blocking().unwrap();
}

/// The handlers' time counts against the call's timeout: a handler that takes longer than
/// the call may fails the call with `Error::Timeout`, in about the timeout, and the session
/// stays.
#[test]
fn input_rounds_are_bounded_by_the_call_timeout() {
    let slow = Handlers::new().on_roots(|| async {
        smol::Timer::after(Duration::from_secs(5)).await;
        Ok(mcp_dispatch::model::ListRootsResult::new(Vec::new()))
    });
    let client = Client::builder(server_speaking("slow-roots", Speaks::New))
        .handlers(slow)
        .build();
    client
        .call_tool_blocking("echo", json!({"text": "warm"}))
        .unwrap();
    let started = Instant::now();
    let options = CallOptions::new().timeout(Duration::from_millis(400));
    match client.call_tool_with_blocking("roots", json!({}), options) {
        Err(Error::Timeout {
            server,
            tool,
            timeout,
        }) => {
            assert_eq!(server, "slow-roots");
            assert_eq!(tool.as_deref(), Some("roots"));
            assert_eq!(timeout, Duration::from_millis(400));
        }
        other => panic!("expected Error::Timeout, got {other:?}"),
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    the_session_stays(&client);
}

/// A server that speaks only 2026-07-28: a timed-out call is cancelled on the server, a
/// crash is followed by one new session, and sixteen first calls share one connect.
#[test]
fn a_new_only_server_keeps_the_session_contracts() {
    let client = Arc::new(
        Client::builder(server_speaking("new-only", Speaks::New))
            .call_timeout(Duration::from_millis(500))
            .build(),
    );
    let calls: Vec<_> = (0..16)
        .map(|i| client.call_tool("echo", json!({"text": format!("{i}")})))
        .collect();
    for (i, answer) in futures::executor::block_on(futures::future::join_all(calls))
        .into_iter()
        .enumerate()
    {
        assert_eq!(text(&answer.unwrap()), i.to_string());
    }
    assert_eq!(client.stats().connects, 1);
    common::a_timed_out_call_is_cancelled(&client);
    let crashed = client.call_tool_blocking("crash", json!({}));
    assert!(
        matches!(crashed, Err(Error::TransportClosed { .. })),
        "{crashed:?}"
    );
    let echo = client
        .call_tool_blocking("echo", json!({"text": "again"}))
        .unwrap();
    assert_eq!(text(&echo), "again");
    let stats = client.stats();
    assert_eq!(stats.connects, 2);
    assert_eq!(
        client
            .server_info_blocking()
            .unwrap()
            .protocol_version
            .as_str(),
        "2026-07-28"
    );
    client.close_blocking().unwrap();
}

/// A server that answers `server/discover` with an empty result (as some answer every
/// method they do not know) is started again and spoken to with `initialize` alone, for
/// this session and the next: one connect, no failure.
#[test]
fn a_server_that_misreads_the_probe_gets_the_initialize_handshake() {
    let client = Client::builder(common::server("empty").env("MCP_TEST_PROTOCOL", "2025-empty"))
        .handlers(handlers())
        .build();
    futures::executor::block_on(exercise(&client, Speaks::Old, "empty"));
    let stats = client.stats();
    assert_eq!((stats.connects, stats.connect_failures), (1, 0));
    let crashed = client.call_tool_blocking("crash", json!({}));
    assert!(
        matches!(crashed, Err(Error::TransportClosed { .. })),
        "{crashed:?}"
    );
    futures::executor::block_on(exercise(&client, Speaks::Old, "again"));
    let stats = client.stats();
    assert_eq!((stats.connects, stats.connect_failures), (2, 0));
    client.close_blocking().unwrap();
}

/// Over HTTP, a 2026-07-28 request names its version, method and target in headers
/// (SEP-2243), and carries the version in `_meta` too; an older session sends only the
/// version header.
#[test]
fn http_requests_carry_the_headers_of_their_version() {
    for speaks in [Speaks::New, Speaks::Old] {
        let web = HttpServer::start("127.0.0.1:0", speaks.env());
        let client = Client::new(ServerConfig::http(web.url.clone()).name("headers"));
        let answer = client.call_tool_blocking("headers", json!({})).unwrap();
        let headers: serde_json::Value = serde_json::from_str(&text(&answer)).unwrap();
        assert_eq!(
            headers["mcp-protocol-version"],
            speaks.version(),
            "{speaks:?}: {headers}"
        );
        if speaks == Speaks::New {
            assert_eq!(headers["mcp-method"], "tools/call", "{headers}");
            assert_eq!(headers["mcp-name"], "headers", "{headers}");
        } else {
            assert!(headers.get("mcp-method").is_none(), "{headers}");
        }
        client.close_blocking().unwrap();
    }
}

/// A 2026-07-28 server that refuses `subscriptions/listen`: the session works without list
/// changes, and a subscription fails with the server's error.
#[test]
fn a_server_that_refuses_listen_still_serves_calls() {
    let client = Client::new(server_speaking("deaf", Speaks::New).env("MCP_TEST_NO_LISTEN", "1"));
    let echo = client
        .call_tool_blocking("echo", json!({"text": "heard"}))
        .unwrap();
    assert_eq!(text(&echo), "heard");
    match client.subscribe_resource_blocking("test://counter") {
        Err(Error::Server { server, code, .. }) => {
            assert_eq!((server.as_str(), code), ("deaf", -32601));
        }
        other => panic!("expected Error::Server, got {other:?}"),
    }
    the_session_stays(&client);
}

/// The rounds of one call: each answer goes back with the state the server sent, and a server
/// that keeps asking is given up on after ten rounds with `Error::Protocol`; the session stays.
#[test]
fn input_rounds_echo_the_state_and_are_bounded_in_number() {
    let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = asked.clone();
    let handlers = Handlers::new().on_roots(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { Ok(mcp_dispatch::model::ListRootsResult::new(Vec::new())) }
    });
    let client = Client::builder(server_speaking("insistent", Speaks::New))
        .handlers(handlers)
        .build();
    let answer = client
        .call_tool_blocking("insist", json!({"rounds": 9}))
        .unwrap();
    assert_eq!(text(&answer), "answered 9 rounds");
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 9);
    match client.call_tool_blocking("insist", json!({"rounds": 50})) {
        Err(Error::Protocol {
            server, message, ..
        }) => {
            assert_eq!(server, "insistent");
            assert!(message.contains("10 times"), "{message}");
        }
        other => panic!("expected Error::Protocol, got {other:?}"),
    }
    // Nine more answers: the tenth request was not answered.
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 18);
    the_session_stays(&client);
}

/// A listen stream the server ends while the session lives is opened again: resource
/// updates and list changes keep arriving, on the same session.
#[test]
fn listen_streams_the_server_ends_are_opened_again() {
    use mcp_dispatch::Notification;

    let client = Client::new(server_speaking("relisten", Speaks::New));
    let notifications = client.notifications();
    client
        .subscribe_resource_blocking("test://counter")
        .unwrap();
    let ended = client.call_tool_blocking("end_listens", json!({})).unwrap();
    // The list changes and the one resource.
    assert_eq!(text(&ended), "ended 2");
    common::wait_until(
        Duration::from_secs(5),
        "the streams to be open again",
        || {
            let touched = client
                .call_tool_blocking("touch", json!({"uri": "test://counter"}))
                .unwrap();
            text(&touched) == "notified"
        },
    );
    let updated = std::iter::from_fn(|| notifications.recv_timeout(Duration::from_secs(5)))
        .find(|notification| matches!(notification, Notification::ResourceUpdated { .. }));
    assert!(updated.is_some(), "no resource update after the reopen");
    client
        .call_tool_blocking("toggle_bonus", json!({}))
        .unwrap();
    let changed = std::iter::from_fn(|| notifications.recv_timeout(Duration::from_secs(5)))
        .find(|notification| matches!(notification, Notification::ToolListChanged { .. }));
    assert!(changed.is_some(), "no list change after the reopen");
    assert_eq!(client.stats().connects, 1);
    client.close_blocking().unwrap();
}

/// Over streamable HTTP a 2026-07-28 listen stream is a long `POST`: resource updates and
/// list changes arrive on it, and closing the client cancels it.
#[test]
fn listen_streams_work_over_http() {
    use mcp_dispatch::Notification;

    let web = HttpServer::start("127.0.0.1:0", Speaks::New.env());
    let client = Client::new(ServerConfig::http(web.url.clone()).name("remote"));
    let notifications = client.notifications();
    client
        .subscribe_resource_blocking("test://greeting")
        .unwrap();
    let open = client.call_tool_blocking("listening", json!({})).unwrap();
    assert_eq!(text(&open), "2", "the list changes and the resource");
    let touched = client
        .call_tool_blocking("touch", json!({"uri": "test://greeting"}))
        .unwrap();
    assert_eq!(text(&touched), "notified");
    match notifications.recv_timeout(Duration::from_secs(10)) {
        Some(Notification::ResourceUpdated { server, uri }) => {
            assert_eq!(
                (server.as_str(), uri.as_str()),
                ("remote", "test://greeting")
            );
        }
        other => panic!("expected ResourceUpdated, got {other:?}"),
    }
    client
        .call_tool_blocking("toggle_bonus", json!({}))
        .unwrap();
    match notifications.recv_timeout(Duration::from_secs(10)) {
        Some(Notification::ToolListChanged { server }) => assert_eq!(server, "remote"),
        other => panic!("expected ToolListChanged, got {other:?}"),
    }
    let started = Instant::now();
    client.close_blocking().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // The server saw both streams end: the probe's own list-changes stream is the only one
    // left.
    let probe = Client::new(ServerConfig::http(web.url.clone()).name("probe"));
    common::wait_until(Duration::from_secs(5), "the streams to end", || {
        let open = probe.call_tool_blocking("listening", json!({})).unwrap();
        text(&open) == "1"
    });
    probe.close_blocking().unwrap();
}

/// A server found to speak only an older version is not probed again: the session after a
/// crash opens with `initialize` alone.
#[test]
fn an_older_server_is_probed_once_per_client() {
    let client = Client::new(server_speaking("old-once", Speaks::Old));
    let discovers = |client: &Client| {
        let answer = client.call_tool_blocking("discovers", json!({})).unwrap();
        text(&answer)
    };
    assert_eq!(discovers(&client), "1");
    let crashed = client.call_tool_blocking("crash", json!({}));
    assert!(
        matches!(crashed, Err(Error::TransportClosed { .. })),
        "{crashed:?}"
    );
    // A new process, which has not been asked.
    assert_eq!(discovers(&client), "0");
    let info = client.server_info_blocking().unwrap();
    assert_eq!(info.protocol_version.as_str(), "2025-11-25");
    assert_eq!(client.stats().connects, 2);
    client.close_blocking().unwrap();
}

/// `resources/read` goes through the same input rounds as tool calls.
#[test]
fn a_resource_read_answers_input_rounds_too() {
    let client = Client::builder(server_speaking("reader", Speaks::New))
        .handlers(handlers())
        .build();
    let read = client.read_resource_blocking("test://roots").unwrap();
    let contents = serde_json::to_value(&read.contents[0]).unwrap();
    assert_eq!(contents["text"], "file:///data", "{contents}");
    let bare = Client::new(server_speaking("bare", Speaks::New));
    match bare.read_resource_blocking("test://roots") {
        Err(Error::Handler {
            tool: None, method, ..
        }) => assert_eq!(method, "roots/list"),
        other => panic!("expected Error::Handler, got {other:?}"),
    }
    client.close_blocking().unwrap();
    bare.close_blocking().unwrap();
}
