//! The Hub: many servers, qualified tool names, filters, failures kept to their server.

// rmcp marks roots deprecated (SEP-2577); servers still ask for them.
#![allow(deprecated)]

mod common;

use std::time::{Duration, Instant};

use common::text;
use mcp_dispatch::model::Root;
use mcp_dispatch::{
    CallOptions, Error, Handlers, Hub, ServerConfig, ToolFilter, is_valid_tool_name,
};
use serde_json::json;

fn hub_of_three() -> Hub {
    Hub::builder()
        .server("alpha", common::server("ignored-alpha"))
        .server("beta", common::server("ignored-beta"))
        .server_with_filter(
            "gamma",
            common::server("ignored-gamma"),
            ToolFilter::allow(["echo", "pid"]),
        )
        .server("broken", ServerConfig::stdio("/nonexistent/mcp-server"))
        .build()
        .unwrap()
}

#[test]
fn list_tools_spans_servers_and_reports_the_broken_one_by_name() {
    let hub = hub_of_three();
    assert_eq!(hub.server_names(), ["alpha", "beta", "broken", "gamma"]);
    let listed = hub.list_tools_blocking();
    assert_eq!(listed.errors.len(), 1, "{:?}", listed.errors);
    match &listed.errors[0] {
        Error::Spawn { server, .. } => assert_eq!(server, "broken"),
        other => panic!("expected the broken server's spawn error, got {other:?}"),
    }
    let names: Vec<&str> = listed.tools.iter().map(|tool| tool.name.as_str()).collect();
    assert!(names.contains(&"alpha__echo"), "{names:?}");
    assert!(names.contains(&"beta__add"), "{names:?}");
    // The filter keeps only two of gamma's tools.
    let gamma: Vec<&str> = listed
        .tools
        .iter()
        .filter(|tool| tool.server == "gamma")
        .map(|tool| tool.tool.name.as_ref())
        .collect();
    assert_eq!(gamma, ["echo", "pid"]);
    for tool in &listed.tools {
        assert!(is_valid_tool_name(&tool.name), "{}", tool.name);
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "tools come sorted by qualified name");
    // With `?`, the broken server's error stops the listing.
    match hub.list_tools_blocking().into_result() {
        Err(Error::Spawn { server, .. }) => assert_eq!(server, "broken"),
        other => panic!("expected the broken server's spawn error, got {other:?}"),
    }
    hub.close_blocking().unwrap();
}

#[test]
fn call_tool_routes_by_qualified_name_and_refuses_unknown_or_filtered_names() {
    let hub = hub_of_three();
    // No listing first: the hub lists on demand to resolve the name.
    let echo = hub
        .call_tool_blocking("beta__echo", json!({"text": "routed"}))
        .unwrap();
    assert_eq!(text(&echo), "routed");
    let alpha_pid = text(&hub.call_tool_blocking("alpha__pid", json!({})).unwrap());
    let beta_pid = text(&hub.call_tool_blocking("beta__pid", json!({})).unwrap());
    assert_ne!(alpha_pid, beta_pid, "each server is its own process");
    match hub.call_tool_blocking("gamma__add", json!({"a": 1, "b": 2})) {
        Err(Error::UnknownTool { name, did_you_mean }) => {
            assert_eq!(name, "gamma__add");
            assert!(did_you_mean.is_empty(), "{did_you_mean:?}");
        }
        other => panic!("a filtered tool must be unknown, got {other:?}"),
    }
    // A tool's own name, without its server: the error names the servers that offer it.
    match hub.call_tool_blocking("add", json!({"a": 1, "b": 2})) {
        Err(error @ Error::UnknownTool { .. }) => {
            assert_eq!(
                error.to_string(),
                "no server offers a tool named `add`; did you mean `alpha__add` or `beta__add`?"
            );
        }
        other => panic!("an unqualified name must be unknown, got {other:?}"),
    }
    match hub.call_tool_blocking("alpha__ecoh", json!({})) {
        Err(Error::UnknownTool { did_you_mean, .. }) => {
            assert_eq!(did_you_mean, ["alpha__echo"]);
        }
        other => panic!("a misspelt name must be unknown, got {other:?}"),
    }
    match hub.call_tool_blocking("Beta__Echo", json!({})) {
        Err(Error::UnknownTool { did_you_mean, .. }) => {
            assert_eq!(did_you_mean, ["beta__echo"]);
        }
        other => panic!("names are matched exactly, got {other:?}"),
    }
    assert!(matches!(
        hub.call_tool_blocking("nobody__nothing", json!({})),
        Err(Error::UnknownTool { .. })
    ));
    // A name of a server that could not be listed gets that server's error.
    match hub.call_tool_blocking("broken__anything", json!({})) {
        Err(Error::Spawn { server, .. }) => assert_eq!(server, "broken"),
        other => panic!("expected the broken server's error, got {other:?}"),
    }
    hub.close_blocking().unwrap();
}

#[test]
fn servers_can_be_added_and_removed_at_run_time() {
    let hub = Hub::builder().build().unwrap();
    assert!(hub.list_tools_blocking().tools.is_empty());
    hub.add_server("late", common::server("x"));
    let echo = hub
        .call_tool_blocking("late__echo", json!({"text": "hi"}))
        .unwrap();
    assert_eq!(text(&echo), "hi");
    let client = hub.client("late").expect("the client is reachable by name");
    let pid: u32 = text(&client.call_tool_blocking("pid", json!({})).unwrap())
        .parse()
        .unwrap();
    drop(client);
    assert!(hub.remove_server("late"));
    assert!(!hub.remove_server("late"));
    common::wait_until(
        std::time::Duration::from_secs(20),
        "the removed server to exit",
        || !common::exists(pid),
    );
    assert!(hub.list_tools_blocking().tools.is_empty());
    assert!(matches!(
        hub.call_tool_blocking("late__echo", json!({"text": "hi"})),
        Err(Error::UnknownTool { .. })
    ));
}

#[test]
fn closing_the_hub_closes_every_server() {
    let hub = hub_of_three();
    let pids: Vec<u32> = ["alpha__pid", "beta__pid", "gamma__pid"]
        .iter()
        .map(|name| {
            text(&hub.call_tool_blocking(*name, json!({})).unwrap())
                .parse()
                .unwrap()
        })
        .collect();
    hub.close_blocking().unwrap();
    for pid in pids {
        common::wait_until(
            std::time::Duration::from_secs(20),
            "the server to exit",
            || !common::exists(pid),
        );
    }
    assert!(matches!(
        hub.call_tool_blocking("alpha__pid", json!({})),
        Err(Error::Closed { .. })
    ));
}

#[test]
fn a_bad_separator_is_refused() {
    match Hub::builder().separator("::").build() {
        Err(Error::Config { field, message, .. }) => {
            assert_eq!(field.as_deref(), Some("separator"));
            assert!(message.contains("::"), "{message}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
    let hub = Hub::builder()
        .separator("-")
        .server("one", common::server("x"))
        .build()
        .unwrap();
    let listed = hub.list_tools_blocking();
    assert!(listed.tools.iter().any(|tool| tool.name == "one-echo"));
    hub.close_blocking().unwrap();
}

#[test]
fn tools_come_in_the_function_calling_shape() {
    let hub = Hub::builder()
        .server("math", common::server("x"))
        .build()
        .unwrap();
    let listed = hub.list_tools_blocking();
    let add = listed
        .tools
        .iter()
        .find(|tool| tool.name == "math__add")
        .unwrap();
    let function = add.function_json();
    assert_eq!(function["type"], "function");
    assert_eq!(function["function"]["name"], "math__add");
    assert!(
        function["function"]["description"]
            .as_str()
            .unwrap()
            .contains("Adds")
    );
    assert_eq!(function["function"]["parameters"]["type"], "object");
    assert!(function["function"]["parameters"]["properties"]["a"].is_object());
    hub.close_blocking().unwrap();
}

#[test]
fn call_tool_with_applies_the_call_timeout_and_names_server_and_tool() {
    let hub = Hub::builder()
        .server("slow", common::server("x"))
        .build()
        .unwrap();
    let short = || CallOptions::new().timeout(Duration::from_millis(300));
    for outcome in [
        hub.call_tool_with_blocking("slow__sleep", json!({"ms": 20_000}), short()),
        futures::executor::block_on(hub.call_tool_with(
            "slow__sleep",
            json!({"ms": 20_000}),
            short(),
        )),
    ] {
        match outcome {
            Err(Error::Timeout {
                server,
                tool,
                timeout,
            }) => {
                assert_eq!(server, "slow");
                assert_eq!(tool.as_deref(), Some("sleep"));
                assert_eq!(timeout, Duration::from_millis(300));
            }
            other => panic!("expected Error::Timeout, got {other:?}"),
        }
    }
    let client = hub.client("slow").unwrap();
    common::wait_until(
        Duration::from_secs(20),
        "the server to see both calls cancelled",
        || common::cancellations(&client) == 2,
    );
    // The session outlives the timeouts.
    let echo = hub
        .call_tool_with_blocking("slow__echo", json!({"text": "still here"}), short())
        .unwrap();
    assert_eq!(text(&echo), "still here");
    hub.close_blocking().unwrap();
}

#[test]
fn close_returns_ok_and_later_calls_fail_as_closed() {
    let hub = Hub::builder()
        .server("alpha", common::server("x"))
        .server("beta", common::server("y"))
        .build()
        .unwrap();
    for name in ["alpha__pid", "beta__pid"] {
        hub.call_tool_blocking(name, json!({})).unwrap();
    }
    futures::executor::block_on(hub.close()).unwrap();
    for (name, expected) in [("alpha__pid", "alpha"), ("beta__echo", "beta")] {
        match futures::executor::block_on(hub.call_tool(name, json!({"text": "late"}))) {
            Err(Error::Closed { server }) => assert_eq!(server, expected),
            other => panic!("expected Error::Closed for {name}, got {other:?}"),
        }
    }
    // Closing again is fine, in either form.
    futures::executor::block_on(hub.close()).unwrap();
    hub.close_blocking().unwrap();
}

#[test]
fn close_timeout_bounds_the_close_of_every_server() {
    // Stubborn servers ignore stdin closing and SIGTERM: each close takes the whole close
    // timeout, then kills the server.
    let stubborn = |name: &str| common::server(name).env("MCP_TEST_STUBBORN", "1");
    let default_close_timeout = Duration::from_secs(5);
    let hub = Hub::builder()
        .close_timeout(Duration::from_millis(400))
        .server("one", stubborn("x"))
        .server("two", stubborn("y"))
        .build()
        .unwrap();
    let pids: Vec<u32> = ["one__pid", "two__pid"]
        .iter()
        .map(|name| {
            text(&hub.call_tool_blocking(*name, json!({})).unwrap())
                .parse()
                .unwrap()
        })
        .collect();
    let started = Instant::now();
    hub.close_blocking().unwrap();
    let took = started.elapsed();
    assert!(
        took < default_close_timeout,
        "close took {took:?}: the hub's close timeout was not applied"
    );
    for pid in pids {
        common::wait_until(Duration::from_secs(20), "the server to be killed", || {
            !common::alive(pid)
        });
    }
}

/// A config file's text with the test server under each of `names`.
fn config_file(names: &[&str]) -> String {
    let command = common::server_path();
    let servers: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .map(|name| ((*name).to_owned(), json!({ "command": command })))
        .collect();
    json!({ "mcpServers": servers }).to_string()
}

#[test]
fn filter_and_handlers_given_before_their_server_are_applied() {
    let hub = Hub::builder()
        .filter("files", ToolFilter::allow(["echo", "roots"]))
        .handlers_for(
            "files",
            Handlers::new().roots(vec![Root::new("file:///files")]),
        )
        // Given by name, the filter wins over the one the server is added with.
        .filter("coded", ToolFilter::allow(["pid"]))
        .server_with_filter("coded", common::server("x"), ToolFilter::allow(["echo"]))
        .servers_from_json_str(&config_file(&["files", "other"]))
        .unwrap()
        .build()
        .unwrap();
    let listed = hub.list_tools_blocking();
    assert!(listed.errors.is_empty(), "{:?}", listed.errors);
    let offered_by = |server: &str| -> Vec<String> {
        listed
            .tools
            .iter()
            .filter(|tool| tool.server == server)
            .map(|tool| tool.tool.name.to_string())
            .collect()
    };
    assert_eq!(offered_by("files"), ["echo", "roots"]);
    assert_eq!(offered_by("coded"), ["pid"]);
    assert!(offered_by("other").len() > 2, "{:?}", offered_by("other"));
    let roots = hub.call_tool_blocking("files__roots", json!({})).unwrap();
    assert_eq!(text(&roots), "file:///files");
    hub.close_blocking().unwrap();
}

#[test]
fn filter_or_handlers_for_a_server_never_added_fail_the_build() {
    let config = config_file(&["files"]);
    let filtered = Hub::builder()
        .filter("flies", ToolFilter::all())
        .servers_from_json_str(&config)
        .unwrap()
        .build();
    let handled = Hub::builder()
        .server("files", common::server("x"))
        .handlers_for("flies", Handlers::new())
        .build();
    for (outcome, expected_field) in [(filtered, "filter"), (handled, "handlers")] {
        match outcome {
            Err(Error::Config {
                server,
                field,
                line,
                column,
                message,
                path,
                ..
            }) => {
                assert!(path.is_none());
                assert_eq!(server.as_deref(), Some("flies"));
                assert_eq!(field.as_deref(), Some(expected_field));
                assert_eq!((line, column), (None, None));
                assert!(message.contains("no server"), "{message}");
            }
            other => panic!("expected a config error for {expected_field}, got {other:?}"),
        }
    }
}

#[test]
fn a_hubs_sign_in_timeout_bounds_each_servers_sign_in_step() {
    let server = common::oauth::oauth_server();
    // A step that never answers: only the timeout ends it.
    let (_never, waits) = std::sync::mpsc::channel::<()>();
    let waits = std::sync::Mutex::new(waits);
    let hub = Hub::builder()
        .sign_in(move |_: &mcp_dispatch::SignInRequest| {
            let _ = waits.lock().unwrap().recv_timeout(Duration::from_secs(60));
            Err("unanswered".to_owned())
        })
        .sign_in_timeout(Duration::from_millis(300))
        .server("signed", ServerConfig::http(server.url.as_str()))
        .build()
        .unwrap();
    let started = Instant::now();
    match hub.call_tool_blocking("signed__echo", json!({"text": "x"})) {
        Err(Error::AuthorizationFailed {
            server,
            description,
            ..
        }) => {
            assert_eq!(server, "signed");
            let description = description.unwrap_or_default();
            assert!(description.contains("300ms"), "{description}");
        }
        other => panic!("expected the sign-in to time out, got {other:?}"),
    }
    // Bounded by the hub's 300 ms, not the default 5 minutes.
    assert!(started.elapsed() < Duration::from_secs(30));
    hub.close_blocking().unwrap();
}
