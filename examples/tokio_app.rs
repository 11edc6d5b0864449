//! For applications that already run tokio: `.tokio_handle(Handle::current())` puts the
//! client's jobs and rmcp's tasks on the app's own runtime, calls are awaited as usual, and
//! the thread list shows that the library adds no thread.
//!
//! Run: `cargo run --example tokio_app`
//!
//! The MCP server is the demo server (`examples/support/demo.rs`): this very program, re-run
//! with `--serve`.
//! (If you already use tokio, rmcp itself may suit you; this shows that mcp-dispatch also fits,
//! for example in a codebase that shares clients between tokio and non-tokio parts.)

#[path = "support/demo.rs"]
mod demo;

use std::collections::BTreeMap;
use std::time::Duration;

use mcp_dispatch::ResultText;
use mcp_dispatch::{Client, ServerConfig};
use serde_json::json;

/// As in `#[tokio::main(worker_threads = 2)]` below.
const WORKER_THREADS: usize = 2;
const TASKS: u32 = 8;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The demo server runs its own tokio runtime, which cannot start inside another one:
    // serve before entering the app's runtime.
    if std::env::args().any(|arg| arg == "--serve") {
        demo::run();
        return Ok(());
    }
    app()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn app() -> Result<(), Box<dyn std::error::Error>> {
    // Bounded: whatever happens, the program ends within a minute.
    tokio::time::timeout(Duration::from_secs(60), run())
        .await
        .map_err(|_| "tokio_app timed out")?
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // Every job of this client, and every task rmcp spawns for it (the transport's I/O,
    // timers, the child process), is a task on the app's own runtime: tokio's workers poll
    // them, and the library starts no thread at all.
    let config = ServerConfig::stdio(std::env::current_exe()?)
        .arg("--serve")
        .name("demo");
    let client = Client::builder(config)
        .tokio_handle(tokio::runtime::Handle::current())
        .build();
    let mut calls = 0;

    let echo = client
        .call_tool("echo", json!({ "text": "hello from tokio" }))
        .await?;
    calls += 1;
    assert_eq!(echo.text(), "hello from tokio");
    println!("echo -> {}", echo.text());

    let sum = client.call_tool("add", json!({ "a": 2, "b": 3 })).await?;
    calls += 1;
    assert_eq!(sum.text(), "5");
    println!("add(2, 3) -> {}", sum.text());

    // Tasks on tokio's workers share the client, concurrently over the one session.
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let client = client.clone();
            tokio::spawn(async move {
                let result = client
                    .call_tool("add", json!({ "a": task, "b": 100 }))
                    .await?;
                Ok::<_, mcp_dispatch::Error>((task, result.text()))
            })
        })
        .collect();
    for task in tasks {
        let (task, answer) = task.await??;
        assert_eq!(answer, (task + 100).to_string());
        calls += 1;
    }
    println!("{TASKS} tokio tasks added concurrently, all correct");
    assert_eq!(client.stats().connects, 1, "one session for every task");

    // The threads of this process, while the client is live.
    let summary = if let Some(threads) = thread_names() {
        let mut counts = BTreeMap::<&str, usize>::new();
        for (is_main, name) in &threads {
            let kind = match name.as_str() {
                _ if *is_main => "main",
                // "tokio-rt-worker" since tokio 1.5x; "tokio-runtime-w" (cut to 15 bytes) before.
                name if name.starts_with("tokio-r") => "tokio worker",
                other => other,
            };
            *counts.entry(kind).or_default() += 1;
        }
        println!("threads: {counts:?}");
        let library: usize = counts
            .iter()
            .filter(|(name, _)| name.starts_with("mcp-dispatch"))
            .map(|(_, count)| count)
            .sum();
        assert_eq!(library, 0, "no library thread: {threads:?}");
        assert_eq!(
            counts.get("tokio worker"),
            Some(&WORKER_THREADS),
            "{threads:?}"
        );
        assert_eq!(
            counts.len(),
            2,
            "only main and tokio's workers: {threads:?}"
        );
        format!(
            "tokio_app: {calls} calls OK on tokio's workers; threads: main, \
             {WORKER_THREADS} tokio workers, 0 library threads"
        )
    } else {
        format!("tokio_app: {calls} calls OK on tokio's workers")
    };

    client.close().await?;
    println!("{summary}");
    Ok(())
}

/// This process's threads as (is the main thread, name), from /proc (Linux only).
fn thread_names() -> Option<Vec<(bool, String)>> {
    let main = std::process::id().to_string();
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .filter_map(|task| {
                let task = task.ok()?;
                let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
                Some((task.file_name() == *main, comm.trim().to_owned()))
            })
            .collect(),
    )
}
