//! A command-line MCP client over a config file: list every tool, or call one by its
//! qualified name.
//!
//! Run: `cargo run --example mcp -- --config FILE list`
//! or:  `cargo run --example mcp -- --config FILE call SERVER__TOOL '{"json": 1}'`
//!
//! FILE is a Claude Desktop / Cursor `{"mcpServers": {...}}` or VS Code `{"servers": {...}}`
//! file. Results go to stdout; errors go to stderr with a non-zero exit code.

use std::process::ExitCode;

use mcp_dispatch::Hub;
use mcp_dispatch::model::CallToolResult;

const USAGE: &str =
    "usage: mcp --config FILE list\n       mcp --config FILE call SERVER__TOOL [JSON-ARGUMENTS]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("mcp: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let (config, command) = match args {
        [flag, config, command @ ..] if flag == "--config" => (config, command),
        _ => return Err(USAGE.to_owned()),
    };
    let hub = Hub::from_path(config).map_err(|error| error.to_string())?;
    let code = match command {
        [list] if list == "list" => list_tools(&hub),
        [call, name] if call == "call" => call_tool(&hub, name, "{}")?,
        [call, name, arguments] if call == "call" => call_tool(&hub, name, arguments)?,
        _ => return Err(USAGE.to_owned()),
    };
    if let Err(error) = hub.close_blocking() {
        eprintln!("mcp: {error}");
    }
    Ok(code)
}

fn list_tools(hub: &Hub) -> ExitCode {
    let listed = hub.list_tools_blocking();
    for tool in &listed.tools {
        let description = tool.tool.description.as_deref().unwrap_or("");
        let first_line = description.lines().next().unwrap_or("");
        println!("{}\t{first_line}", tool.name);
    }
    for error in &listed.errors {
        eprintln!("mcp: {error}");
    }
    if listed.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn call_tool(hub: &Hub, name: &str, arguments: &str) -> Result<ExitCode, String> {
    let arguments: serde_json::Value = serde_json::from_str(arguments)
        .map_err(|error| format!("arguments are not valid JSON: {error}"))?;
    match hub.call_tool_blocking(name, arguments) {
        Ok(result) => Ok(print_result(&result)),
        Err(error) => {
            eprintln!("mcp: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Prints text content as text and anything else as JSON. A tool error goes to stderr.
fn print_result(result: &CallToolResult) -> ExitCode {
    let failed = result.is_error == Some(true);
    for content in &result.content {
        let line = match content.as_text() {
            Some(text) => text.text.clone(),
            None => serde_json::to_string(content).unwrap_or_default(),
        };
        if failed {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
    if let Some(structured) = &result.structured_content
        && result.content.is_empty()
    {
        println!("{structured}");
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
