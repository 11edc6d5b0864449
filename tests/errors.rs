//! Bad input gets a clear, typed error that names the server, tool, command or path.

mod common;

use std::time::Duration;

use common::text;
use mcp_dispatch::{Client, Error, ServerConfig};
use serde_json::json;

#[test]
fn a_missing_command_fails_at_once_with_a_spawn_error_naming_it() {
    // Bounds only a hang: a spawn failure retried until the deadline would end in
    // Error::ConnectTimeout instead.
    let client = Client::builder(ServerConfig::stdio("/nonexistent/mcp-server").name("ghost"))
        .connect_timeout(Duration::from_secs(20))
        .build();
    let error = client
        .call_tool_blocking("echo", json!({"text": "x"}))
        .unwrap_err();
    match &error {
        Error::Spawn {
            server,
            command,
            source,
        } => {
            assert_eq!(server, "ghost");
            assert_eq!(command, "/nonexistent/mcp-server");
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected Error::Spawn, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("ghost") && message.contains("/nonexistent/mcp-server"),
        "{message}"
    );
    assert!(std::error::Error::source(&error).is_some());
    let stats = client.stats();
    assert_eq!(
        (stats.connects, stats.connect_failures),
        (0, 1),
        "one failed connect, not retried"
    );
    // A failure is not cached: the next call tries (and fails) again.
    assert!(matches!(
        client.list_tools_blocking(),
        Err(Error::Spawn { .. })
    ));
    assert_eq!(client.stats().connect_failures, 2);
}

#[test]
fn a_command_line_given_as_the_command_is_named_by_its_script_and_hints_at_args() {
    let client = Client::new(ServerConfig::stdio("node /opt/weather/dist/index.js"));
    let error = client.list_tools_blocking().unwrap_err();
    assert!(
        matches!(&error, Error::Spawn { server, .. } if server == "weather"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "server `weather`: cannot start `node /opt/weather/dist/index.js`: No such file or \
         directory (os error 2); did you mean \
         `ServerConfig::stdio(\"node\").args([\"/opt/weather/dist/index.js\"])`?"
    );
}

#[test]
fn a_command_line_given_as_the_command_keeps_its_secrets_out_of_the_error() {
    let client = Client::new(ServerConfig::stdio(
        "node /opt/weather.js --api-key=k3y-s3cret",
    ));
    let error = client.list_tools_blocking().unwrap_err();
    let shown = error.to_string();
    assert!(!shown.contains("k3y-s3cret"), "{shown}");
    assert!(!format!("{error:?}").contains("k3y-s3cret"), "{error:?}");
    assert!(shown.contains("--api-key=<redacted>"), "{shown}");
    assert!(shown.contains("did you mean"), "{shown}");
}

#[test]
fn a_server_started_by_a_launcher_is_named_by_its_package() {
    let config = ServerConfig::stdio("npx").args(["-y", "@modelcontextprotocol/server-everything"]);
    assert_eq!(config.server_name(), "server-everything");
    let client = Client::new(config.env("PATH", "/nonexistent"));
    let error = client.list_tools_blocking().unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("server `server-everything`: cannot start `npx`"),
        "{error}"
    );
}

#[test]
fn a_missing_working_directory_is_named() {
    let client = Client::new(common::server("nowhere").cwd("/nonexistent/dir"));
    let error = client.list_tools_blocking().unwrap_err();
    assert!(matches!(error, Error::Spawn { .. }), "{error:?}");
    assert!(error.to_string().contains("/nonexistent/dir"), "{error}");
}

#[test]
fn an_unknown_tool_gives_the_servers_error() {
    let client = Client::new(common::server("plain"));
    match client
        .call_tool_blocking("no_such_tool", json!({}))
        .unwrap_err()
    {
        Error::Server {
            server,
            tool,
            code,
            message,
            ..
        } => {
            assert_eq!(server, "plain");
            assert_eq!(tool.as_deref(), Some("no_such_tool"));
            assert_eq!(code, -32602);
            assert!(message.contains("not found"), "{message}");
        }
        other => panic!("expected Error::Server, got {other:?}"),
    }
    // The session is still healthy.
    let echo = client
        .call_tool_blocking("echo", json!({"text": "still here"}))
        .unwrap();
    assert_eq!(text(&echo), "still here");
    client.close_blocking().unwrap();
}

#[test]
fn a_failing_tool_is_ok_with_the_error_flag_set() {
    let client = Client::new(common::server("plain"));
    let result = client
        .call_tool_blocking("fail", json!({"message": "nope"}))
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    assert_eq!(text(&result), "nope");
    let fine = client
        .call_tool_blocking("echo", json!({"text": "ok"}))
        .unwrap();
    assert_ne!(fine.is_error, Some(true));
    client.close_blocking().unwrap();
}

#[test]
fn a_failing_tool_is_an_error_through_question_mark_when_asked_for() {
    let client = Client::builder(common::server("checked"))
        .tool_errors_as_err(true)
        .build();
    let failed = || -> mcp_dispatch::Result<String> {
        let result = client.call_tool_blocking("fail", json!({"message": "nope"}))?;
        Ok(text(&result))
    };
    match failed().unwrap_err() {
        Error::Tool {
            server,
            tool,
            message,
            result,
        } => {
            assert_eq!(server, "checked");
            assert_eq!(tool, "fail");
            assert_eq!(message, "nope");
            assert_eq!(result.is_error, Some(true));
        }
        other => panic!("expected Error::Tool, got {other:?}"),
    }
    // A call can still take the result as it is, and a tool that works is unaffected.
    let options = mcp_dispatch::CallOptions::new().tool_errors_as_err(false);
    let result = client
        .call_tool_with_blocking("fail", json!({"message": "as is"}), options)
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    let fine = client
        .call_tool_blocking("echo", json!({"text": "ok"}))
        .unwrap();
    assert_eq!(text(&fine), "ok");
    let error = client
        .call_tool_blocking("fail", json!({"message": "shown"}))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "server `checked` tool `fail` failed: shown"
    );
    client.close_blocking().unwrap();
}

#[test]
fn arguments_that_are_not_an_object_are_refused_before_sending() {
    let client = Client::new(common::server("args"));
    match client
        .call_tool_blocking("echo", json!(["text"]))
        .unwrap_err()
    {
        Error::InvalidArguments {
            server,
            tool,
            found,
        } => {
            assert_eq!(
                (server.as_str(), tool.as_str(), found),
                ("args", "echo", "an array")
            );
        }
        other => panic!("expected Error::InvalidArguments, got {other:?}"),
    }
    assert!(
        !client.is_connected(),
        "nothing was started for a refused call"
    );
    // `null` means no arguments.
    let pid = client
        .call_tool_blocking("pid", serde_json::Value::Null)
        .unwrap();
    assert!(text(&pid).parse::<u32>().is_ok());
    client.close_blocking().unwrap();
}

#[test]
fn a_slow_call_times_out_and_is_cancelled_on_the_server() {
    let client = Client::builder(common::server("slow"))
        .call_timeout(Duration::from_millis(300))
        .build();
    match client
        .call_tool_blocking("sleep", json!({"ms": 20_000}))
        .unwrap_err()
    {
        Error::Timeout {
            server,
            tool,
            timeout,
        } => {
            assert_eq!(server, "slow");
            assert_eq!(tool.as_deref(), Some("sleep"));
            assert_eq!(timeout, Duration::from_millis(300));
        }
        other => panic!("expected Error::Timeout, got {other:?}"),
    }
    common::wait_until(
        Duration::from_secs(20),
        "the server to see the cancellation",
        || {
            let count = client
                .call_tool_blocking("cancellations", json!({}))
                .unwrap();
            text(&count) == "1"
        },
    );
    client.close_blocking().unwrap();
}

#[test]
fn a_closed_client_refuses_calls() {
    let client = Client::new(common::server("closing"));
    client.call_tool_blocking("pid", json!({})).unwrap();
    client.close_blocking().unwrap();
    client.close_blocking().unwrap();
    match client.call_tool_blocking("pid", json!({})).unwrap_err() {
        Error::Closed { server } => assert_eq!(server, "closing"),
        other => panic!("expected Error::Closed, got {other:?}"),
    }
}

#[test]
fn server_info_reports_the_handshake() {
    let client = Client::new(common::server("info"));
    let info = client.server_info_blocking().unwrap();
    let implementation = info.server_info.expect("the test server names itself");
    assert_eq!(implementation.name, "mcp-dispatch-test-server");
    assert!(info.capabilities.tools.is_some());
    client.close_blocking().unwrap();
}

#[test]
fn a_setting_its_transport_cannot_use_fails_every_call_naming_it() {
    let stdio = Client::new(common::server("piped").header("Authorization", "Bearer x"));
    for _ in 0..2 {
        match stdio.list_tools_blocking().unwrap_err() {
            Error::Config {
                server,
                field,
                message,
                ..
            } => {
                assert_eq!(server.as_deref(), Some("piped"));
                assert_eq!(field.as_deref(), Some("header"));
                assert!(
                    message.contains("`.header()` applies to remote servers"),
                    "{message}"
                );
            }
            other => panic!("expected Error::Config, got {other:?}"),
        }
    }
    let remote = Client::new(
        ServerConfig::http("http://127.0.0.1:1/mcp")
            .name("remote")
            .env("KEY", "value")
            .arg("--verbose"),
    );
    match remote.list_tools_blocking().unwrap_err() {
        Error::Config { field, message, .. } => {
            // The first setter that does not apply is the one named.
            assert_eq!(field.as_deref(), Some("env"));
            assert!(message.contains("this server is remote"), "{message}");
        }
        other => panic!("expected Error::Config, got {other:?}"),
    }
    // Nothing was started or contacted.
    assert_eq!(stdio.stats().connects, 0);
    assert!(stdio.pid().is_none());
}
