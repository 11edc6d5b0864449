//! A config-driven tool belt for an LLM agent: load an `mcpServers` file into a `Hub`, with a
//! tool filter per server, list the tools in the shape LLM function-calling APIs take, and
//! route a model's tool calls by qualified name back to the right server. No LLM is called.
//!
//! Run: `cargo run --example tool_belt`
//!
//! Both servers in the config, "math" and "text", run the demo server
//! (`examples/support/demo.rs`: this very program, re-run with `--serve`), and a `ToolFilter`
//! for each gives the model only the tools that server is for: `add` and `divide` from
//! "math", `echo` and `word_count` from "text". The config file is written to a temporary
//! directory and removed at the end.

#[path = "support/demo.rs"]
mod demo;

use std::path::{Path, PathBuf};

use mcp_dispatch::ResultText;
use mcp_dispatch::{Hub, HubTool, ToolFilter};
use serde_json::{Value, json};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|arg| arg == "--serve") {
        demo::run();
        return Ok(());
    }
    let dir = std::env::temp_dir().join(format!("mcp-dispatch-tool-belt-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let outcome = run(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

fn run(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    // The file an agent's user would edit, in the format Claude Desktop and Cursor use.
    let config = write_config(dir)?;
    // `Hub::from_path(&config)` would offer every tool of every server; the filters narrow
    // each server to what the agent needs.
    let hub = Hub::builder()
        .filter("math", ToolFilter::allow(["add", "divide"]))
        .filter("text", ToolFilter::allow(["echo", "word_count"]))
        .servers_from_path(&config)?
        .build()?;
    println!(
        "loaded {} with servers {:?}",
        config.display(),
        hub.server_names()
    );

    // Every server is asked at once; one that fails is reported and the others still work.
    let listed = hub.list_tools_blocking();
    if !listed.errors.is_empty() {
        return Err(format!("some servers failed: {:?}", listed.errors).into());
    }

    // The `tools` parameter of a chat-completions request: one function per tool, named
    // `server__tool`.
    let functions: Vec<Value> = listed.tools.iter().map(HubTool::function_json).collect();
    println!("tools for the model ({}), one per line:", functions.len());
    for function in &functions {
        println!("  {function}");
    }
    let names: Vec<&str> = listed.tools.iter().map(|tool| tool.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "math__add",
            "math__divide",
            "text__echo",
            "text__word_count"
        ]
    );
    let add = &functions[names
        .iter()
        .position(|&name| name == "math__add")
        .expect("math__add")];
    assert_eq!(add["function"]["parameters"]["type"], "object");
    assert!(add["function"]["parameters"]["properties"]["a"].is_object());

    // What a model might answer: an assistant message with tool calls, whose arguments come
    // as a JSON string.
    let assistant = json!({
        "role": "assistant",
        "content": null,
        "tool_calls": [
            { "id": "call_1", "type": "function",
              "function": { "name": "math__add", "arguments": "{\"a\":2,\"b\":3}" } },
            { "id": "call_2", "type": "function",
              "function": { "name": "text__word_count",
                            "arguments": "{\"text\":\"the quick brown fox\"}" } },
            { "id": "call_3", "type": "function",
              "function": { "name": "math__divide", "arguments": "{\"a\":1,\"b\":0}" } },
            { "id": "call_4", "type": "function",
              "function": { "name": "math__sqrt", "arguments": "{\"x\":2}" } }
        ]
    });
    println!("model says: {assistant}");

    let mut replies = Vec::new();
    for call in assistant["tool_calls"].as_array().expect("tool calls") {
        let reply = route(&hub, call);
        println!("reply: {reply}");
        replies.push(reply);
    }
    assert_eq!(replies[0]["tool_call_id"], "call_1");
    assert_eq!(replies[0]["content"], "5");
    assert_eq!(replies[1]["content"], "4");
    // A tool that fails, and a tool the model made up, are answered with an error message
    // the model can read, not a crash.
    assert_eq!(replies[2]["content"], "error: cannot divide 1 by zero");
    let unknown = replies[3]["content"].as_str().unwrap_or_default();
    assert!(unknown.starts_with("error: "), "{unknown}");

    hub.close_blocking()?;
    println!(
        "tool_belt: {} tools from {} servers; math__add({{\"a\":2,\"b\":3}}) -> {}",
        functions.len(),
        hub.server_names().len(),
        replies[0]["content"]
            .as_str()
            .expect("the result is a string")
    );
    Ok(())
}

/// Writes an `mcpServers` config with two servers, both this program with `--serve`.
fn write_config(dir: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let exe = exe.to_str().ok_or("the executable's path is not UTF-8")?;
    let config = json!({
        "mcpServers": {
            "math": { "command": exe, "args": ["--serve"] },
            "text": { "command": exe, "args": ["--serve"] }
        }
    });
    let path = dir.join("mcp.json");
    std::fs::write(&path, serde_json::to_string_pretty(&config)?)?;
    Ok(path)
}

/// Runs one of the model's tool calls and makes the `tool` message that answers it. Failures
/// become the message's content too, so the model can see them and try again.
fn route(hub: &Hub, call: &Value) -> Value {
    let id = call["id"].clone();
    let name = call["function"]["name"].as_str().unwrap_or_default();
    let arguments = call["function"]["arguments"].as_str().unwrap_or("{}");
    let content = match serde_json::from_str::<Value>(arguments) {
        Err(error) => format!("error: the arguments are not JSON: {error}"),
        Ok(arguments) => match hub.call_tool_blocking(name, arguments) {
            Ok(result) if result.is_error == Some(true) => format!("error: {}", result.text()),
            Ok(result) => result.text(),
            Err(error) => format!("error: {error}"),
        },
    };
    json!({ "role": "tool", "tool_call_id": id, "content": content })
}
