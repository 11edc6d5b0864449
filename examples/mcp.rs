//! A command-line MCP client over a config file: list every tool, call one by its
//! qualified name, and sign in to (or out of) servers that require it.
//!
//! Run: `cargo run --example mcp -- --config FILE list`
//! or:  `cargo run --example mcp -- --config FILE call SERVER__TOOL '{"json": 1}'`
//! or:  `cargo run --example mcp -- --config FILE login SERVER` (then `logout SERVER`)
//!
//! FILE is a Claude Desktop / Cursor `{"mcpServers": {...}}` or VS Code `{"servers": {...}}`
//! file. Results go to stdout; errors go to stderr with a non-zero exit code. To try it, run it
//! from the crate root with FILE `examples/mcp.json`: its one server, `demo`, is the demo
//! server (`cargo run --example demo_server`), so
//! `cargo run --example mcp -- --config examples/mcp.json call demo__add '{"a": 2, "b": 3}'`
//! prints 5.
//!
//! A server that requires sign-in prints an address to open in a browser (and opens it with
//! `$BROWSER` when that is set and not empty); the redirect comes back to a loopback port. Sign-ins are
//! kept, one file per server, in `--sign-ins DIR`, or `$MCP_SIGN_INS`, or
//! `$HOME/.config/mcp-dispatch/sign-ins`, so later commands do not ask again.

use std::path::PathBuf;
use std::process::ExitCode;

use mcp_dispatch::model::CallToolResult;
use mcp_dispatch::{CredentialStore as _, FileCredentialStore, Hub, LoopbackSignIn, SignInRequest};

const USAGE: &str = "usage: mcp --config FILE [--sign-ins DIR] COMMAND
       mcp --help
commands:
  list                               every tool of every server
  call SERVER__TOOL [JSON-ARGUMENTS] call one tool
  login SERVER                       sign in to SERVER (again) and keep the sign-in
  logout SERVER                      forget the sign-in kept for SERVER";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
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
    let (sign_ins, command) = match command {
        [flag, folder, command @ ..] if flag == "--sign-ins" => (PathBuf::from(folder), command),
        _ => (default_sign_ins()?, command),
    };
    let store = FileCredentialStore::new(sign_ins);
    let hub = Hub::builder()
        .servers_from_path(config)
        .and_then(|builder| {
            builder
                .credential_store(store.clone())
                .sign_in(LoopbackSignIn::new(show_sign_in))
                .build()
        })
        .map_err(|error| error.to_string())?;
    let code = match command {
        [list] if list == "list" => list_tools(&hub),
        [call, name] if call == "call" => call_tool(&hub, name, "{}")?,
        [call, name, arguments] if call == "call" => call_tool(&hub, name, arguments)?,
        [login, server] if login == "login" => log_in(&hub, &store, server, config)?,
        [logout, server] if logout == "logout" => log_out(&hub, &store, server, config)?,
        _ => return Err(USAGE.to_owned()),
    };
    if let Err(error) = hub.close_blocking() {
        eprintln!("mcp: {error}");
    }
    Ok(code)
}

/// Where sign-ins are kept when `--sign-ins` does not say.
fn default_sign_ins() -> Result<PathBuf, String> {
    if let Some(folder) = std::env::var_os("MCP_SIGN_INS") {
        return Ok(PathBuf::from(folder));
    }
    let home = std::env::var_os("HOME")
        .ok_or("neither --sign-ins, $MCP_SIGN_INS nor $HOME says where to keep sign-ins")?;
    Ok(PathBuf::from(home).join(".config/mcp-dispatch/sign-ins"))
}

/// Shows the user where to sign in, and opens it with `$BROWSER` if that is set and not
/// empty (an empty one, as `BROWSER= mcp ...` leaves it, means none).
fn show_sign_in(request: &SignInRequest) -> Result<(), String> {
    eprintln!(
        "mcp: server `{}` requires sign-in. Open this address in a browser:\n{}",
        request.server, request.authorization_url
    );
    if let Some(browser) = std::env::var_os("BROWSER").filter(|browser| !browser.is_empty()) {
        std::process::Command::new(&browser)
            .arg(&request.authorization_url)
            .spawn()
            .map_err(|error| format!("cannot start $BROWSER ({}): {error}", browser.display()))?;
    }
    Ok(())
}

/// Signs in to `server` afresh (forgetting a kept sign-in first) and keeps the new one.
fn log_in(
    hub: &Hub,
    store: &FileCredentialStore,
    server: &str,
    config: &str,
) -> Result<ExitCode, String> {
    let client = hub
        .client(server)
        .ok_or_else(|| format!("no server `{server}` in {config}"))?;
    store.remove(server).map_err(|error| error.to_string())?;
    if let Err(error) = client.list_tools_blocking() {
        eprintln!("mcp: {error}");
        return Ok(ExitCode::FAILURE);
    }
    let kept = store.path(server);
    if kept.exists() {
        eprintln!("mcp: signed in to `{server}` (kept in {})", kept.display());
    } else {
        eprintln!("mcp: `{server}` did not ask for sign-in");
    }
    Ok(ExitCode::SUCCESS)
}

/// Forgets the sign-in kept for `server`.
fn log_out(
    hub: &Hub,
    store: &FileCredentialStore,
    server: &str,
    config: &str,
) -> Result<ExitCode, String> {
    if hub.client(server).is_none() {
        return Err(format!("no server `{server}` in {config}"));
    }
    let kept = store.path(server).exists();
    store.remove(server).map_err(|error| error.to_string())?;
    if kept {
        eprintln!("mcp: signed out of `{server}`");
    } else {
        eprintln!("mcp: `{server}` had no kept sign-in");
    }
    Ok(ExitCode::SUCCESS)
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
