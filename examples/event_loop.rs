//! A hand-written single-threaded main loop (standing in for a GUI or game loop) that owns the
//! client's `Dispatcher`: jobs arrive on a channel, and each frame the loop polls them, and its
//! own call futures, once with a no-op waker, without ever blocking; results come back to the
//! loop as messages.
//!
//! Run: `cargo run --example event_loop`
//!
//! The MCP server is the demo server (`examples/support/demo.rs`): this very program, re-run
//! with `--serve`.

#[path = "support/demo.rs"]
mod demo;

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use mcp_dispatch::ResultText;
use mcp_dispatch::model::CallToolResult;
use mcp_dispatch::{CallOptions, Client, Job, Progress, ServerConfig};
use serde_json::json;

/// Frames always end: at ~1 ms each (plus the work), at most some tens of seconds.
const MAX_FRAMES: u64 = 10_000;
/// The pause between frames, standing in for waiting on vsync.
const VSYNC: Duration = Duration::from_millis(1);
/// A sanity bound on one frame's work, loose enough for loaded machines. A frame only polls;
/// nothing in it waits for the server. The longest frame is usually the one that polls the
/// connect job: starting the server process (fork and exec) happens on the thread that polls
/// it, here the loop's, and takes a few milliseconds.
const FRAME_BUDGET: Duration = Duration::from_millis(500);

/// What the loop's own futures report back to it.
enum Message {
    Tools(Result<usize, mcp_dispatch::Error>),
    Result {
        label: String,
        result: Result<CallToolResult, mcp_dispatch::Error>,
    },
    Progress {
        label: String,
        progress: Progress,
    },
    Closed(Result<(), mcp_dispatch::Error>),
}

/// The app's own futures: each ends by sending a [`Message`].
type Task = Pin<Box<dyn Future<Output = ()>>>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|arg| arg == "--serve") {
        demo::run();
        return Ok(());
    }

    // The dispatcher only queues jobs. It may be called from any thread (mostly the loop
    // itself here, which makes the calls and polls the jobs that start others), so it must
    // not block; an mpsc `Sender` is `Send + Sync`. The loop polls what arrives.
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let config = ServerConfig::stdio(std::env::current_exe()?)
        .arg("--serve")
        .name("demo");
    let client = Client::builder(config)
        .dispatcher(move |job: Job| {
            let _ = job_tx.send(job);
        })
        .connect_timeout(Duration::from_secs(20))
        .call_timeout(Duration::from_secs(20))
        .build();

    let (msg_tx, msg_rx) = mpsc::channel::<Message>();
    let mut jobs: FuturesUnordered<Job> = FuturesUnordered::new();
    let mut tasks: FuturesUnordered<Task> = FuturesUnordered::new();

    // The calls the "UI" makes on its first frame. Creating a future sends nothing: a call's
    // job is dispatched when its future is first polled.
    tasks.push(Box::pin({
        let tools = client.list_tools();
        let msg_tx = msg_tx.clone();
        async move {
            let _ = msg_tx.send(Message::Tools(tools.await.map(|tools| tools.len())));
        }
    }));
    tasks.push(call(
        &msg_tx,
        "echo",
        client.call_tool("echo", json!({ "text": "hi, loop" })),
    ));
    tasks.push(call(
        &msg_tx,
        "add(2, 3)",
        client.call_tool("add", json!({ "a": 2, "b": 3 })),
    ));
    tasks.push(call(&msg_tx, "countdown", {
        // Progress callbacks run while the call's future is polled: on the loop, too.
        let msg_tx = msg_tx.clone();
        client.call_tool_with(
            "countdown",
            json!({ "from": 4, "delay_ms": 25 }),
            CallOptions::new().on_progress(move |progress| {
                let label = "countdown".to_owned();
                let _ = msg_tx.send(Message::Progress { label, progress });
            }),
        )
    }));

    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    let mut results = Vec::new();
    let mut progress_reports = 0;
    let mut closed = false;
    let mut jobs_polled = 0;
    let mut longest = (Duration::ZERO, 0);
    let started = Instant::now();
    let mut frames = 0;

    while frames < MAX_FRAMES && !closed {
        frames += 1;
        let frame = frames;
        let frame_start = Instant::now();

        // 1. The dispatcher's jobs: take what arrived, poll every job that is ready, once.
        while let Ok(job) = job_rx.try_recv() {
            jobs_polled += 1;
            jobs.push(job);
        }
        poll_once(&mut jobs, &mut cx);
        // 2. The app's own call futures, the same way.
        poll_once(&mut tasks, &mut cx);
        // 3. Messages: what the futures delivered this frame.
        while let Ok(message) = msg_rx.try_recv() {
            match message {
                Message::Tools(tools) => {
                    let tools = tools?;
                    assert!(tools > 0, "the server lists its tools");
                    println!("frame {frame:5}: the server offers {tools} tools");
                }
                Message::Progress { label, progress } => {
                    progress_reports += 1;
                    println!(
                        "frame {frame:5}: {label}: {} ({} of {})",
                        progress.message.unwrap_or_default(),
                        progress.progress,
                        progress.total.unwrap_or(f64::NAN)
                    );
                }
                Message::Result { label, result } => {
                    let answer = result?.text();
                    println!("frame {frame:5}: {label} -> {answer}");
                    // A result can start the next call: the loop stays in charge.
                    if label == "add(2, 3)" {
                        let sum: f64 = answer.parse()?;
                        let next = client.call_tool("add", json!({ "a": sum, "b": 10 }));
                        tasks.push(call(&msg_tx, "add(5, 10)", next));
                    }
                    results.push((label, answer));
                    if results.len() == 4 {
                        // Everything is in: close the session, still without blocking.
                        let close = client.close();
                        let msg_tx = msg_tx.clone();
                        tasks.push(Box::pin(async move {
                            let _ = msg_tx.send(Message::Closed(close.await));
                        }));
                    }
                }
                Message::Closed(outcome) => {
                    outcome?;
                    println!("frame {frame:5}: closed");
                    closed = true;
                }
            }
        }

        let took = frame_start.elapsed();
        if took > longest.0 {
            longest = (took, frame);
        }
        thread::sleep(VSYNC);
    }

    if !closed {
        return Err(format!("not done after {MAX_FRAMES} frames: got {results:?}").into());
    }

    // Teardown: once the last clone of the client is gone, the library drops the dispatcher
    // closure, and with it the job sender. The loop keeps polling what is left until the job
    // channel reports it is disconnected: then nothing more can arrive.
    drop(client);
    let mut released = false;
    // Bounded, like everything in the loop: ~5 s at most.
    for _ in 0..5000 {
        loop {
            match job_rx.try_recv() {
                Ok(job) => {
                    jobs_polled += 1;
                    jobs.push(job);
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    released = true;
                    break;
                }
            }
        }
        poll_once(&mut jobs, &mut cx);
        if released && jobs.is_empty() {
            break;
        }
        thread::sleep(VSYNC);
    }
    assert!(
        released && jobs.is_empty(),
        "the client still holds the loop's dispatcher"
    );
    println!("client dropped: the dispatcher was released, no job left");
    results.sort();
    let expected = [
        ("add(2, 3)", "5"),
        ("add(5, 10)", "15"),
        ("countdown", "4, 3, 2, 1, liftoff!"),
        ("echo", "hi, loop"),
    ];
    let results: Vec<(&str, &str)> = results
        .iter()
        .map(|(label, answer)| (label.as_str(), answer.as_str()))
        .collect();
    assert_eq!(results, expected);
    assert_eq!(progress_reports, 4, "one report per number counted");
    assert!(
        longest.0 < FRAME_BUDGET,
        "frame {} took {:?}: the loop blocked",
        longest.1,
        longest.0
    );
    // The loop ran every job itself: the library's executor never started.
    if let Some(names) = thread_names() {
        assert!(
            !names.iter().any(|name| name == "mcp-dispatch"),
            "the library's executor started: {names:?}"
        );
    }
    println!(
        "{frames} frames in {:?}, {jobs_polled} jobs run by the loop itself, longest frame {:?} (frame {})",
        started.elapsed(),
        longest.0,
        longest.1
    );
    println!(
        "event_loop: {} results in {frames} frames, longest frame {:.1} ms, the loop never blocked",
        results.len(),
        longest.0.as_secs_f64() * 1000.0
    );
    Ok(())
}

/// A task that awaits `call` and sends its outcome to the loop, labelled.
fn call(
    msg_tx: &mpsc::Sender<Message>,
    label: &str,
    call: impl Future<Output = Result<CallToolResult, mcp_dispatch::Error>> + 'static,
) -> Task {
    let msg_tx = msg_tx.clone();
    let label = label.to_owned();
    Box::pin(async move {
        let result = call.await;
        let _ = msg_tx.send(Message::Result { label, result });
    })
}

/// Polls every future of `set` that was woken since the last pass, once; never waits.
///
/// The waker is a no-op: the loop comes back every frame anyway. `FuturesUnordered` still
/// tracks which of its futures were woken, so only those are polled again.
fn poll_once<F: Future<Output = ()> + Unpin>(set: &mut FuturesUnordered<F>, cx: &mut Context<'_>) {
    while let Poll::Ready(Some(())) = set.poll_next_unpin(cx) {}
}

/// Names of this process's threads (Linux only).
fn thread_names() -> Option<Vec<String>> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .filter_map(|task| {
                let comm = std::fs::read_to_string(task.ok()?.path().join("comm")).ok()?;
                Some(comm.trim().to_owned())
            })
            .collect(),
    )
}
