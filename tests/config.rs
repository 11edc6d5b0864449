//! Config files in the formats people already have, through the Hub.

mod common;

use common::text;
use mcp_dispatch::{Error, Hub};
use serde_json::json;

#[test]
fn a_claude_desktop_file_with_expansion_runs_its_servers() {
    let server = common::server_path();
    let config = format!(
        r#"{{
  // Comments are allowed, as in VS Code's mcp.json.
  "mcpServers": {{
    "echoes": {{
      "command": "{server}",
      "env": {{ "GREETING": "${{MCP_DISPATCH_TEST_UNSET:-hello from the default}}" }},
      "futureField": {{ "kept out of the way": true }}
    }},
    "off": {{ "command": "/nonexistent", "disabled": true }}
  }}
}}"#,
        server = server.display()
    );
    let hub = Hub::from_json_str(&config).unwrap();
    assert_eq!(
        hub.server_names(),
        ["echoes"],
        "disabled servers are left out"
    );
    let greeting = hub
        .call_tool_blocking("echoes__env", json!({"name": "GREETING"}))
        .unwrap();
    assert_eq!(text(&greeting), "hello from the default");
    hub.close_blocking().unwrap();
}

#[test]
fn a_vs_code_file_is_read_too() {
    let config = json!({
        "inputs": [],
        "servers": { "code": { "type": "stdio", "command": common::server_path() } }
    });
    let hub = Hub::from_json_str(&config.to_string()).unwrap();
    let echo = hub
        .call_tool_blocking("code__echo", json!({"text": "vs"}))
        .unwrap();
    assert_eq!(text(&echo), "vs");
    hub.close_blocking().unwrap();
}

#[test]
fn one_bad_entry_is_reported_for_its_server_alone() {
    let config = format!(
        r#"{{
  "mcpServers": {{
    "good": {{ "command": "{server}" }},
    "legacy": {{ "type": "sse", "url": "http://127.0.0.1:9/sse" }},
    "typo": {{ "comand": "oops" }}
  }}
}}"#,
        server = common::server_path().display()
    );
    let hub = Hub::from_json_str(&config).unwrap();
    let listed = hub.list_tools_blocking();
    assert!(listed.tools.iter().any(|tool| tool.name == "good__echo"));
    assert_eq!(listed.errors.len(), 2, "{:?}", listed.errors);
    for error in &listed.errors {
        match error {
            // Port 9 on loopback: nothing listens there.
            Error::Http {
                server,
                url,
                status,
                ..
            } => {
                assert_eq!(server, "legacy");
                assert_eq!(url, "http://127.0.0.1:9/sse");
                assert_eq!(*status, None);
            }
            Error::Config {
                server,
                field,
                line,
                column,
                message,
                ..
            } => {
                assert_eq!(server.as_deref(), Some("typo"));
                assert_eq!(field.as_deref(), Some("comand"));
                assert_eq!((*line, *column), (Some(5), Some(15)));
                assert!(message.contains("did you mean `command`?"), "{message}");
            }
            other => panic!("unexpected error {other:?}"),
        }
    }
    hub.close_blocking().unwrap();
}

#[test]
fn a_broken_file_is_an_error_with_line_and_column() {
    let error = Hub::from_json_str("{\n  \"mcpServers\": {\n    \"a\": { \"command\": }\n  }\n}")
        .unwrap_err();
    match &error {
        Error::Config { line, column, .. } => assert_eq!((*line, *column), (Some(3), Some(23))),
        other => panic!("expected Error::Config, got {other:?}"),
    }
    assert!(error.to_string().contains("line 3 column 23"), "{error}");

    let error =
        Hub::from_json_str(r#"{"mcpServers": {"a": {"command": "${MCP_DISPATCH_TEST_UNSET}"}}}"#)
            .unwrap()
            .list_tools_blocking()
            .errors
            .remove(0);
    let message = error.to_string();
    assert!(
        message.contains("MCP_DISPATCH_TEST_UNSET") && message.contains("`a`"),
        "{message}"
    );

    let error = Hub::from_path("/nonexistent/dir/mcp.json").unwrap_err();
    assert_eq!(
        error.to_string(),
        "/nonexistent/dir/mcp.json: cannot read the file"
    );
    let cause = std::error::Error::source(&error).expect("the io error is the source");
    let io = cause.downcast_ref::<std::io::Error>().unwrap();
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn an_error_in_a_file_is_located_as_path_line_column() {
    let folder = common::temp_dir("config-path-line-column");
    let path = folder.join("mcp.json");
    std::fs::write(
        &path,
        "{\n  \"mcpServers\": {\n    \"a\": { \"command\": }\n  }\n}",
    )
    .unwrap();
    let error = Hub::from_path(&path).unwrap_err();
    match &error {
        Error::Config {
            path: Some(at),
            line: Some(3),
            column: Some(23),
            ..
        } => assert_eq!(at.as_path(), path),
        other => panic!("expected Error::Config at its place, got {other:?}"),
    }
    let shown = error.to_string();
    assert!(
        shown.starts_with(&format!("{}:3:23: ", path.display())),
        "{shown}"
    );
}
