//! An async-std application: `#[async_std::main]` awaits `call_tool` directly, and spawned
//! `async_std::task`s call concurrently, with no tokio anywhere in the application's code.
//!
//! Run: `cargo run --example async_std_app`
//!
//! The MCP server is the demo server (`examples/support/demo.rs`): this very program, re-run
//! with `--serve`.
//! The client's work runs on `Executor::async_std()`: as a task on async-std's own runtime,
//! so the library adds no job thread, only the tokio thread that rmcp needs
//! (`mcp-dispatch-rt`); the app only awaits `Send + 'static` futures, on async-std.

#[path = "support/demo.rs"]
mod demo;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_dispatch::ResultText;
use mcp_dispatch::{CallOptions, Client, Executor, ServerConfig};
use serde_json::json;

const TASKS: u32 = 8;

#[async_std::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|arg| arg == "--serve") {
        // The server side: blocks this thread until the client closes stdin.
        demo::run();
        return Ok(());
    }
    // Bounded: whatever happens, the program ends within a minute.
    async_std::future::timeout(Duration::from_secs(60), app())
        .await
        .map_err(|_| "async_std_app timed out")?
}

async fn app() -> Result<(), Box<dyn std::error::Error>> {
    let config = ServerConfig::stdio(std::env::current_exe()?)
        .arg("--serve")
        .name("demo");
    let executor = Executor::async_std()?;
    let client = Client::builder(config).executor(executor.clone()).build();
    let mut calls = 0;

    let tools = client.list_tools().await?;
    println!(
        "`{}` offers {} tools, among them echo, add and countdown",
        client.server_name(),
        tools.len()
    );
    for name in ["echo", "add", "countdown"] {
        assert!(tools.iter().any(|tool| tool.name == name), "no `{name}`");
    }

    let echo = client
        .call_tool("echo", json!({ "text": "hello from async-std" }))
        .await?;
    calls += 1;
    assert_eq!(echo.text(), "hello from async-std");
    println!("echo -> {}", echo.text());

    let sum = client.call_tool("add", json!({ "a": 2, "b": 3 })).await?;
    calls += 1;
    assert_eq!(sum.text(), "5");
    println!("add(2, 3) -> {}", sum.text());

    // Progress reports reach the callback in order, on whichever task polls the call.
    let reports = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&reports);
    let done = client
        .call_tool_with(
            "countdown",
            json!({ "from": 3, "delay_ms": 10 }),
            CallOptions::new()
                .on_progress(move |progress| seen.lock().expect("reports").push(progress.progress)),
        )
        .await?;
    calls += 1;
    let reports = reports.lock().expect("reports").clone();
    assert_eq!(done.text(), "3, 2, 1, liftoff!");
    assert_eq!(reports, [1.0, 2.0, 3.0]);
    println!("countdown -> {} after reports {reports:?}", done.text());

    // Tasks on async-std's own thread pool share the client; their calls run concurrently
    // over the one session.
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let client = client.clone();
            async_std::task::spawn(async move {
                let result = client
                    .call_tool("add", json!({ "a": task, "b": 100 }))
                    .await?;
                Ok::<_, mcp_dispatch::Error>((task, result.text()))
            })
        })
        .collect();
    for task in tasks {
        let (task, answer) = task.await?;
        assert_eq!(answer, (task + 100).to_string());
        calls += 1;
    }
    println!("{TASKS} spawned tasks added concurrently, all correct");

    assert_eq!(client.stats().connects, 1, "one session for every task");
    // The app started no tokio runtime: the only tokio in the process is the library's
    // private current-thread runtime, on its `mcp-dispatch-rt` thread.
    if let Some(names) = thread_names() {
        assert!(
            // Worker threads are "tokio-rt-worker" (older tokio: "tokio-runtime-w").
            !names.iter().any(|name| name.starts_with("tokio-r")),
            "a tokio runtime was started: {names:?}"
        );
        println!("threads: {}", names.join(", "));
        let library: Vec<_> = names
            .iter()
            .filter(|name| name.starts_with("mcp-dispatch"))
            .collect();
        assert_eq!(
            library,
            ["mcp-dispatch-rt"],
            "one library thread: rmcp's tokio"
        );
        println!("library threads: {}", library.len());
    }

    client.close().await?;
    // Blocks for at most its bound; nothing is open any more.
    assert!(executor.shutdown(), "the executor shut down cleanly");
    println!("async_std_app: {calls} calls OK ({TASKS} from spawned tasks), no tokio in the app");
    Ok(())
}

/// Names of this process's threads (Linux only).
fn thread_names() -> Option<Vec<String>> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut names: Vec<String> = tasks
        .filter_map(|task| {
            let comm = std::fs::read_to_string(task.ok()?.path().join("comm")).ok()?;
            Some(comm.trim().to_owned())
        })
        .collect();
    names.sort();
    Some(names)
}
