//! Servers that speak the HTTP+SSE transport of protocol 2024-11-05, on 127.0.0.1: calls from
//! threads and smol, the fallback from streamable HTTP, a Hub mixing the three transports,
//! restarts, a stream dropped mid-call, timeouts, and HTTP errors.

mod common;

use std::time::Duration;

use common::{HttpServer, text};
use mcp_dispatch::{Client, Error, Hub, ServerConfig, TransportKind};
use serde_json::json;

#[test]
fn calls_from_threads_and_smol_with_headers_on_the_stream_and_every_post() {
    // Every request without the header is refused: the `GET` of the stream and each `POST`.
    let server = HttpServer::start("127.0.0.1:0", &[("MCP_TEST_REQUIRE_AUTH", "s3cret")]);
    let client = Client::new(
        ServerConfig::sse(server.sse_url())
            .header("Authorization", "Bearer s3cret")
            .name("old"),
    );
    let tools = client.list_tools_blocking().unwrap();
    assert!(tools.iter().any(|tool| tool.name == "echo"));
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            let client = client.clone();
            std::thread::spawn(move || {
                for call in 0..25 {
                    let message = format!("{thread}-{call}");
                    let echo = client
                        .call_tool_blocking("echo", json!({"text": message}))
                        .unwrap();
                    assert_eq!(text(&echo), message);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let sums = smol::block_on(futures::future::join_all((0..20).map(|i| {
        let call = client.call_tool("add", json!({"a": i, "b": 100}));
        async move { text(&call.await.unwrap()) }
    })));
    assert_eq!(
        sums,
        (0..20).map(|i| (i + 100).to_string()).collect::<Vec<_>>()
    );
    let stats = client.stats();
    assert_eq!(stats.connects, 1, "one session served every call");
    assert_eq!(stats.transport, Some(TransportKind::Sse));
    let info = client.server_info_blocking().unwrap();
    let implementation = info.server_info.expect("the test server names itself");
    assert_eq!(implementation.name, "mcp-dispatch-test-server");
    client.close_blocking().unwrap();

    let refused = Client::new(ServerConfig::sse(server.sse_url()).name("no-token"));
    match refused.list_tools_blocking().unwrap_err() {
        Error::AuthorizationFailed { server, .. } | Error::Refused { server, .. } => {
            assert_eq!(server, "no-token")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_plain_url_falls_back_to_sse_and_an_explicit_http_one_does_not() {
    let server = HttpServer::start("127.0.0.1:0", &[]);
    let either = Client::new(ServerConfig::remote(server.sse_url()).name("either"));
    assert_eq!(either.stats().transport, None);
    let echo = either
        .call_tool_blocking("echo", json!({"text": "old"}))
        .unwrap();
    assert_eq!(text(&echo), "old");
    assert_eq!(either.stats().transport, Some(TransportKind::Sse));
    assert_eq!(either.stats().connects, 1);
    either.close_blocking().unwrap();

    let new = Client::new(ServerConfig::remote(&server.url).name("new"));
    new.call_tool_blocking("echo", json!({"text": "new"}))
        .unwrap();
    assert_eq!(new.stats().transport, Some(TransportKind::StreamableHttp));
    new.close_blocking().unwrap();

    // `POST /sse` is refused with 405, and nothing falls back from an explicit transport.
    let strict = Client::new(ServerConfig::http(server.sse_url()).name("strict"));
    match strict.list_tools_blocking().unwrap_err() {
        Error::Http {
            server: name,
            url,
            status,
            ..
        } => {
            assert_eq!(name, "strict");
            assert_eq!(url, server.sse_url());
            assert_eq!(status, Some(405));
        }
        other => panic!("expected Error::Http, got {other:?}"),
    }
    assert_eq!(strict.stats().transport, None);
}

#[test]
fn a_url_that_is_neither_fails_with_both_answers() {
    let server = HttpServer::start("127.0.0.1:0", &[]);
    let url = server.url.replace("/mcp", "/nothing-here");
    let client = Client::new(ServerConfig::remote(&url).name("lost"));
    match client.list_tools_blocking().unwrap_err() {
        Error::Http {
            server,
            url: reported,
            status,
            message,
        } => {
            assert_eq!(server, "lost");
            assert_eq!(reported, url);
            assert_eq!(status, Some(404));
            assert!(
                message.contains("HTTP+SSE transport failed too"),
                "{message}"
            );
        }
        other => panic!("expected Error::Http, got {other:?}"),
    }
    let sse = Client::new(ServerConfig::sse(&url).name("lost-sse"));
    match sse.list_tools_blocking().unwrap_err() {
        Error::Http {
            status,
            url: reported,
            ..
        } => {
            assert_eq!(status, Some(404));
            assert_eq!(reported, url);
        }
        other => panic!("expected Error::Http, got {other:?}"),
    }
}

#[test]
fn a_hub_mixes_stdio_streamable_http_and_sse_servers() {
    let web = HttpServer::start("127.0.0.1:0", &[]);
    let config = json!({
        "mcpServers": {
            "local": { "command": common::server_path() },
            "new": { "type": "http", "url": web.url },
            "old": { "type": "sse", "url": web.sse_url() },
            "guess": { "url": web.sse_url() },
        }
    });
    let hub = Hub::from_json_str(&config.to_string()).unwrap();
    let listed = hub.list_tools_blocking();
    assert!(listed.errors.is_empty(), "{:?}", listed.errors);
    for server in ["local", "new", "old", "guess"] {
        assert!(
            listed
                .tools
                .iter()
                .any(|tool| tool.name == format!("{server}__echo")),
            "{server}"
        );
        let echo = hub
            .call_tool_blocking(format!("{server}__echo"), json!({"text": server}))
            .unwrap();
        assert_eq!(text(&echo), server);
    }
    hub.close_blocking().unwrap();
}

#[test]
fn a_stream_dropped_mid_call_fails_that_call_and_the_next_reconnects_once() {
    let server = HttpServer::start("127.0.0.1:0", &[]);
    let client = Client::builder(ServerConfig::sse(server.sse_url()).name("dropping"))
        .call_timeout(Duration::from_secs(10))
        .build();
    client
        .call_tool_blocking("echo", json!({"text": "a"}))
        .unwrap();
    // The server ends the event stream instead of answering.
    match client.call_tool_blocking("hang_up", json!({})).unwrap_err() {
        Error::TransportClosed { server, tool, .. } => {
            assert_eq!(server, "dropping");
            assert_eq!(tool.as_deref(), Some("hang_up"));
        }
        other => panic!("expected Error::TransportClosed, got {other:?}"),
    }
    let echo = client
        .call_tool_blocking("echo", json!({"text": "b"}))
        .unwrap();
    assert_eq!(text(&echo), "b");
    assert_eq!(
        client.stats().connects,
        2,
        "the dead session was replaced once"
    );
    client.close_blocking().unwrap();
}

#[test]
fn a_restarted_server_is_reconnected_and_a_timeout_cancels() {
    let server = HttpServer::start("127.0.0.1:0", &[]);
    let port = server.port();
    let client = Client::builder(ServerConfig::sse(server.sse_url()).name("restarting"))
        .call_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_secs(5))
        .build();
    let first = text(&client.call_tool_blocking("pid", json!({})).unwrap());
    server.stop();
    // The stream ended with the process; the call fails, or goes to the new session.
    let server = HttpServer::start(&format!("127.0.0.1:{port}"), &[]);
    common::wait_until(Duration::from_secs(10), "a call on the new server", || {
        client
            .call_tool_blocking("pid", json!({}))
            .is_ok_and(|pid| text(&pid) != first)
    });
    assert_eq!(client.stats().connects, 2);
    common::a_timed_out_call_is_cancelled(&client);
    client.close_blocking().unwrap();
    drop(server);
}

#[test]
fn an_http_error_on_a_post_fails_that_call_with_its_status_and_keeps_the_session() {
    let server = HttpServer::start("127.0.0.1:0", &[]);
    let client = Client::new(ServerConfig::sse(server.sse_url()).name("erring"));
    client
        .call_tool_blocking("echo", json!({"text": "a"}))
        .unwrap();
    match client
        .call_tool_blocking("http_error", json!({"status": 500}))
        .unwrap_err()
    {
        Error::Http {
            server: name,
            url,
            status,
            message,
        } => {
            assert_eq!(name, "erring");
            assert_eq!(url, server.sse_url());
            assert_eq!(status, Some(500));
            assert!(!message.contains("closed"), "{message}");
        }
        other => panic!("expected Error::Http, got {other:?}"),
    }
    let echo = client
        .call_tool_blocking("echo", json!({"text": "b"}))
        .unwrap();
    assert_eq!(text(&echo), "b");
    let stats = client.stats();
    assert_eq!(
        (stats.connects, stats.retries),
        (1, 0),
        "the session was kept"
    );
    client.close_blocking().unwrap();
}

#[test]
fn concurrent_first_calls_open_one_session() {
    let server = HttpServer::start("127.0.0.1:0", &[]);
    let client = Client::new(ServerConfig::sse(server.sse_url()).name("first"));
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(16));
    let callers: Vec<_> = (0..16)
        .map(|i| {
            let (client, barrier) = (client.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                client.call_tool_blocking("echo", json!({"text": format!("caller {i}")}))
            })
        })
        .collect();
    for (i, caller) in callers.into_iter().enumerate() {
        let echo = caller.join().unwrap().unwrap();
        assert_eq!(text(&echo), format!("caller {i}"));
    }
    let stats = client.stats();
    assert_eq!((stats.connects, stats.connect_failures), (1, 0));
    client.close_blocking().unwrap();
}

#[test]
fn a_stream_that_never_names_its_endpoint_times_the_connect_out() {
    let server = HttpServer::start("127.0.0.1:0", &[]);
    let timeout = Duration::from_millis(400);
    let client =
        Client::builder(ServerConfig::sse(format!("{}?silent", server.sse_url())).name("mute"))
            .connect_timeout(timeout)
            .build();
    let started = std::time::Instant::now();
    match client.list_tools_blocking().unwrap_err() {
        Error::ConnectTimeout {
            server,
            timeout: reported,
        } => {
            assert_eq!(server, "mute");
            assert_eq!(reported, timeout);
        }
        other => panic!("expected Error::ConnectTimeout, got {other:?}"),
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(client.stats().connects, 0);
}
