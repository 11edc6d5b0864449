//! The `mcp` command-line example: list and call through a config file.

mod common;

use std::process::Command;

fn config_file(dir: &std::path::Path) -> std::path::PathBuf {
    let config = serde_json::json!({
        "mcpServers": {
            "test": { "command": common::server_path(), "args": [] },
            "missing": { "command": "/nonexistent/mcp-server" }
        }
    });
    let path = dir.join("mcp.json");
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    path
}

fn mcp(args: &[&str]) -> std::process::Output {
    Command::new(common::example_path("mcp"))
        .args(args)
        .output()
        .expect("run the mcp example")
}

#[test]
fn list_prints_every_tool_with_its_qualified_name_and_reports_broken_servers() {
    let dir = common::temp_dir("cli-list");
    let config = config_file(&dir);
    let output = mcp(&["--config", config.to_str().unwrap(), "list"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.lines().any(|line| line.starts_with("test__echo\t")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|line| line.starts_with("test__add\t")),
        "{stdout}"
    );
    assert!(
        stderr.contains("missing"),
        "the broken server is named: {stderr}"
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn call_prints_the_result_and_fails_with_a_message_on_errors() {
    let dir = common::temp_dir("cli-call");
    let config = config_file(&dir);
    let config = config.to_str().unwrap();

    let output = mcp(&[
        "--config",
        config,
        "call",
        "test__add",
        r#"{"a": 2, "b": 40}"#,
    ]);
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "42");
    assert!(output.status.success());

    let output = mcp(&[
        "--config",
        config,
        "call",
        "test__fail",
        r#"{"message": "boom"}"#,
    ]);
    assert_eq!(String::from_utf8_lossy(&output.stderr).trim(), "boom");
    assert_eq!(output.status.code(), Some(1));

    let output = mcp(&["--config", config, "call", "test__nope", "{}"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("test__nope"));
    assert_eq!(output.status.code(), Some(1));

    let output = mcp(&["--config", config, "call", "test__echo", "not json"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("not valid JSON"));
    assert_eq!(output.status.code(), Some(2));

    let output = mcp(&["--config", "/nonexistent/mcp.json", "list"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/mcp.json"));
    assert_eq!(output.status.code(), Some(2));

    let output = mcp(&["list"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage"));
    assert_eq!(output.status.code(), Some(2));
}
