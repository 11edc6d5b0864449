//! Plain threads, no async anywhere: a pool of 4 `std::thread` workers pulls jobs from a
//! channel and calls tools through ONE shared `Client` with the `_blocking` calls.
//!
//! Run: `cargo run --example plain_threads`
//!
//! The MCP server is the demo server (`examples/support/demo.rs`): this very program, re-run
//! with `--serve`.

#[path = "support/demo.rs"]
mod demo;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mcp_dispatch::ResultText;
use mcp_dispatch::{Client, ServerConfig};
use serde_json::json;

const WORKERS: usize = 4;
const JOBS: usize = 40;

/// One unit of work for the pool.
#[derive(Debug, Clone)]
enum Work {
    Add {
        a: u32,
        b: u32,
    },
    Echo {
        text: String,
    },
    /// A slow one: the demo server counts down from `from`, 25 ms a number.
    Countdown {
        from: u32,
    },
}

impl Work {
    /// The tool to call, its arguments, and the text it must answer.
    fn call(&self) -> (&'static str, serde_json::Value, String) {
        match self {
            Work::Add { a, b } => ("add", json!({ "a": a, "b": b }), (a + b).to_string()),
            Work::Echo { text } => ("echo", json!({ "text": text }), text.clone()),
            Work::Countdown { from } => {
                let arguments = json!({ "from": from, "delay_ms": 25 });
                let numbers = (1..=*from).rev().map(|number| number.to_string());
                let said: Vec<String> = numbers.chain(["liftoff!".to_owned()]).collect();
                ("countdown", arguments, said.join(", "))
            }
        }
    }
}

/// What a worker sends back for each job.
struct Done {
    job: usize,
    worker: usize,
    tool: &'static str,
    answer: String,
    expected: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|arg| arg == "--serve") {
        demo::run();
        return Ok(());
    }

    // One client for the whole program. Nothing starts until the first call; the timeouts
    // bound every blocking call below, so the program always ends.
    let config = ServerConfig::stdio(std::env::current_exe()?)
        .arg("--serve")
        .name("demo");
    let client = Client::builder(config)
        .connect_timeout(Duration::from_secs(20))
        .call_timeout(Duration::from_secs(20))
        .build();

    let (jobs_tx, jobs_rx) = mpsc::channel::<(usize, Work)>();
    let jobs_rx = Arc::new(Mutex::new(jobs_rx));
    let (done_tx, done_rx) = mpsc::channel::<Result<Done, mcp_dispatch::Error>>();

    let started = Instant::now();
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let client = client.clone();
            let jobs_rx = Arc::clone(&jobs_rx);
            let done_tx = done_tx.clone();
            thread::Builder::new()
                .name(format!("worker-{worker}"))
                .spawn(move || {
                    loop {
                        // Hold the lock only to take a job, not while calling.
                        let next = jobs_rx.lock().expect("job queue").recv();
                        let Ok((job, work)) = next else { break };
                        let (tool, arguments, expected) = work.call();
                        let done = client
                            .call_tool_blocking(tool, arguments)
                            .map(|result| Done {
                                job,
                                worker,
                                tool,
                                answer: result.text(),
                                expected,
                            });
                        if done_tx.send(done).is_err() {
                            break;
                        }
                    }
                })
        })
        .collect::<Result<_, _>>()?;
    drop(done_tx);

    for job in 0..JOBS {
        let work = match job % 10 {
            // A few slow calls: the other workers keep going while these wait.
            0 => Work::Countdown { from: 2 },
            1 | 4 | 7 => Work::Echo {
                text: format!("job {job}"),
            },
            _ => Work::Add {
                a: job as u32,
                b: 1000,
            },
        };
        jobs_tx.send((job, work))?;
    }
    // Closing the queue tells the workers to stop once it is empty.
    drop(jobs_tx);

    let mut per_worker = [0usize; WORKERS];
    let mut seen = [false; JOBS];
    for done in done_rx {
        let done = done?;
        assert_eq!(
            done.answer, done.expected,
            "job {} ({}) answered {:?}",
            done.job, done.tool, done.answer
        );
        assert!(!seen[done.job], "job {} answered twice", done.job);
        seen[done.job] = true;
        per_worker[done.worker] += 1;
        if done.job % 8 == 0 {
            println!(
                "job {:2} on worker-{}: {}(..) -> {}",
                done.job, done.worker, done.tool, done.answer
            );
        }
    }
    for worker in workers {
        worker.join().map_err(|_| "a worker thread panicked")?;
    }
    let calls: usize = per_worker.iter().sum();
    assert_eq!(calls, JOBS, "every job answered once");
    assert!(seen.iter().all(|&seen| seen));

    // All those calls shared one session with one server process.
    let stats = client.stats();
    assert_eq!(stats.connects, 1, "one session for every thread: {stats:?}");
    println!(
        "{calls} calls in {:?}, per worker {per_worker:?}, over {} session (server pid {})",
        started.elapsed(),
        stats.connects,
        client
            .pid()
            .map_or_else(|| "?".to_owned(), |pid| pid.to_string())
    );

    client.close_blocking()?;
    println!("plain_threads: {calls} calls from {WORKERS} threads OK");
    Ok(())
}
