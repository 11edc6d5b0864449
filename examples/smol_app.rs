//! A smol application, two ways: (a) awaiting the client's futures directly on smol, with the
//! work on the library's executor (its thread `mcp-dispatch-rt`); (b) a client built with
//! `.dispatcher(|job| smol::spawn(job).detach())`, so the MCP work itself runs on smol's
//! executor. No tokio in the application's code either way.
//!
//! Run: `cargo run --example smol_app`
//!
//! The MCP server is the demo server (`examples/support/demo.rs`): this very program, re-run
//! with `--serve`.

#[path = "support/demo.rs"]
mod demo;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_dispatch::ResultText;
use mcp_dispatch::model::CallToolResult;
use mcp_dispatch::{Client, Job, ServerConfig};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|arg| arg == "--serve") {
        demo::run();
        return Ok(());
    }
    smol::block_on(async {
        // Bounded: whatever happens, the program ends within a minute.
        smol::future::or(app(), async {
            smol::Timer::after(Duration::from_secs(60)).await;
            Err("smol_app timed out".into())
        })
        .await
    })
}

async fn app() -> Result<(), Box<dyn std::error::Error>> {
    let config = || -> std::io::Result<ServerConfig> {
        Ok(ServerConfig::stdio(std::env::current_exe()?).arg("--serve"))
    };

    // (a) The default client: its jobs run on the library's executor; smol only awaits
    //     the futures.
    let awaited = Client::new(config()?.name("awaited"));
    let way_a = "(a) awaited on smol";
    let (mut from_a, mut from_b) = (0, 0);
    let echo = awaited
        .call_tool("echo", json!({ "text": "hello from smol" }))
        .await?;
    check(way_a, "echo", &echo, "hello from smol", &mut from_a);
    let sum = awaited.call_tool("add", json!({ "a": 2, "b": 3 })).await?;
    check(way_a, "add(2, 3)", &sum, "5", &mut from_a);
    // A smol task awaiting a call works the same.
    let task = smol::spawn({
        let client = awaited.clone();
        async move { client.call_tool("add", json!({ "a": 40, "b": 2 })).await }
    });
    let answer = task.await?;
    check(
        way_a,
        "add(40, 2) in a smol task",
        &answer,
        "42",
        &mut from_a,
    );

    // (b) smol runs the MCP work itself: every job goes to `smol::spawn`. The wrapper only
    //     records the thread that first polls each job, to show where they run.
    let polled_on = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let record = Arc::clone(&polled_on);
    let dispatched = Client::builder(config()?.name("dispatched"))
        .dispatcher(move |job: Job| {
            let record = Arc::clone(&record);
            smol::spawn(async move {
                let thread = std::thread::current().name().unwrap_or("?").to_owned();
                record.lock().expect("threads").insert(thread);
                job.await
            })
            .detach()
        })
        .build();
    let way_b = "(b) run by smol::spawn";
    let echo = dispatched
        .call_tool("echo", json!({ "text": "hello from smol" }))
        .await?;
    check(way_b, "echo", &echo, "hello from smol", &mut from_b);
    // Several calls at once, all driven by smol.
    let sums = futures::future::try_join_all(
        (1..=3).map(|n| dispatched.call_tool("add", json!({ "a": n, "b": n }))),
    )
    .await?;
    for (n, sum) in (1..=3).zip(&sums) {
        let what = format!("add({n}, {n})");
        check(way_b, &what, sum, &(2 * n).to_string(), &mut from_b);
    }

    let polled_on = polled_on.lock().expect("threads").clone();
    assert!(!polled_on.is_empty(), "smol polled no job");
    assert!(
        !polled_on.contains("mcp-dispatch"),
        "(b)'s jobs ran on the library's executor: {polled_on:?}"
    );
    println!("(b)'s jobs were polled on smol's threads: {polled_on:?}");

    awaited.close().await?;
    dispatched.close().await?;
    println!(
        "smol_app: {} results OK ({from_a} awaited on smol, {from_b} run by smol::spawn)",
        from_a + from_b
    );
    Ok(())
}

/// Prints where a result came from, checks it, and counts it.
fn check(way: &str, what: &str, result: &CallToolResult, expected: &str, count: &mut usize) {
    let answer = result.text();
    println!("{way}: {what} -> {answer}");
    assert_eq!(answer, expected, "{way}: {what}");
    *count += 1;
}
