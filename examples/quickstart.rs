//! Quickstart: start the demo MCP server, then call its tools from several threads at once
//! through one shared `Client`, and print the results and per-call timings.
//!
//! Run: `cargo run --example quickstart` (add `--release` for representative timings).
//! `cargo run --example quickstart -- --serve` runs the demo server on stdin/stdout instead.

#[path = "support/demo.rs"]
mod demo;

use std::time::{Duration, Instant};

use mcp_dispatch::ResultText;
use mcp_dispatch::{Client, ServerConfig};
use serde_json::json;

const THREADS: usize = 4;
const CALLS_PER_THREAD: usize = 250;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|arg| arg == "--serve") {
        demo::run();
        return Ok(());
    }

    // The demo server is this very program, started with `--serve`.
    let config = ServerConfig::stdio(std::env::current_exe()?)
        .arg("--serve")
        .name("demo");
    let client = Client::new(config);

    let started = Instant::now();
    let tools = client.list_tools_blocking()?;
    println!(
        "connected to `{}` in {:?}; it offers {} tools: {}",
        client.server_name(),
        started.elapsed(),
        tools.len(),
        tools
            .iter()
            .map(|tool| tool.name.as_ref())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let echo = client.call_tool_blocking("echo", json!({ "text": "hello, MCP" }))?;
    println!("echo -> {}", echo.text());

    // Several threads share one client; their calls are multiplexed on one session.
    let wall = Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|worker| {
            let client = client.clone();
            std::thread::spawn(move || -> Result<Vec<Duration>, mcp_dispatch::Error> {
                let mut timings = Vec::with_capacity(CALLS_PER_THREAD);
                for call in 0..CALLS_PER_THREAD {
                    let (a, b) = (worker as f64, call as f64);
                    let started = Instant::now();
                    let sum = client.call_tool_blocking("add", json!({ "a": a, "b": b }))?;
                    timings.push(started.elapsed());
                    assert_eq!(sum.text(), format!("{}", a + b));
                }
                Ok(timings)
            })
        })
        .collect();
    let mut timings = Vec::new();
    for worker in workers {
        timings.extend(worker.join().expect("worker thread")?);
    }
    let wall = wall.elapsed();
    timings.sort();
    let percentile = |p: f64| timings[((timings.len() as f64 - 1.0) * p).round() as usize];
    let build = if cfg!(debug_assertions) {
        "debug build"
    } else {
        "release build"
    };
    println!(
        "{} calls of `add` from {THREADS} threads in {wall:?}: {:.0} calls/s ({build})",
        timings.len(),
        timings.len() as f64 / wall.as_secs_f64()
    );
    println!(
        "per call: median {:?}, p90 {:?}, p99 {:?}, max {:?}",
        percentile(0.5),
        percentile(0.9),
        percentile(0.99),
        percentile(1.0)
    );
    if cfg!(debug_assertions) {
        println!(
            "debug build: timings are not representative; \
             add --release (cargo run --release --example quickstart)"
        );
    }

    // A tool that fails answers with an error result, not an `Err`: the call itself worked.
    let failed = client.call_tool_blocking("divide", json!({ "a": 1, "b": 0 }))?;
    println!(
        "divide(1, 0) -> is_error = {:?}: {}",
        failed.is_error,
        failed.text()
    );
    if let Ok(threads) = std::fs::read_dir("/proc/self/task") {
        println!("threads in this process: {}", threads.count());
    }
    client.close_blocking()?;
    println!("closed");
    Ok(())
}
