//! Comparison benchmark: mcp-dispatch against rmcp used directly on tokio, against the same
//! bundled test server (`examples/test_server`), over stdio and over streamable HTTP.
//!
//! Run: `cargo bench --bench compare`. `MCP_BENCH_QUICK=1` runs about 10x fewer iterations
//! (a smoke test); `MCP_BENCH_ONLY=stdio` or `MCP_BENCH_ONLY=http` runs one transport.
//!
//! Rows, in this fixed order per transport:
//!
//! - `raw`: rmcp on a tokio multi-thread runtime, with the library's lifecycle (so both
//!   sessions speak 2026-07-28 with the bundled server), each call under a 60 s
//!   `tokio::time::timeout` as the library's calls are; sequential calls from one tokio task,
//!   concurrent callers as tokio tasks sharing one `Peer`. Run first and again last; the
//!   mean of the two runs is the baseline of every ratio.
//! - `executor/blocking`: `Client` on the shared default executor, `call_tool_blocking` from
//!   std threads (one thread per caller).
//! - `executor/async`: `Client::call_tool` awaited on smol: sequential calls in
//!   `smol::block_on`; N callers as N looping futures joined with
//!   `futures::future::join_all` inside one `smol::block_on` (one host thread).
//! - `host-dispatcher`: a `Client` whose dispatcher sends each `Job` into a channel drained
//!   by a host loop thread (a `FuturesUnordered` driven by `futures::executor::block_on`);
//!   callers use `call_tool_blocking` from std threads.
//! - `connect-per-call`: a fresh `Client` per call, then `close_blocking`; sequential only.
//! - `blocking over SSE` (HTTP table only): `executor/blocking` over the HTTP+SSE transport
//!   of protocol 2024-11-05, which the same test server serves at `/sse`; rmcp has no client
//!   for it, so its ratios compare it with raw rmcp over streamable HTTP.
//!
//! Every call sends a distinct text to the `echo` tool and checks that it comes back; the
//! bench panics at the end if any call failed or answered something else.

#[path = "../tests/common/mod.rs"]
mod common;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use mcp_dispatch::model::CallToolResult;
use mcp_dispatch::{Client, Job, ServerConfig};
use rmcp::model::CallToolRequestParams;
use rmcp::service::ClientServiceExt;
use serde_json::json;

/// The lifecycle of raw rmcp's sessions: the library's, so both speak the same protocol
/// version (2026-07-28 with the bundled server, per-request `_meta` included).
fn lifecycle() -> rmcp::service::ClientLifecycleMode {
    use rmcp::model::ProtocolVersion;
    rmcp::service::ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: Some(ProtocolVersion::LATEST_WITH_INITIALIZE),
    }
}

/// Caller counts of the throughput columns.
const LEVELS: [usize; 3] = [1, 8, 64];

/// Bound of one raw rmcp call, which has no timeout of its own; the library's calls are bounded
/// by its default call timeout, also 60 s.
const CALL_BOUND: Duration = Duration::from_secs(60);

/// How much each row does.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// Sequential warm-up calls (not measured).
    warmup: usize,
    /// Sequential measured calls.
    sequential: usize,
    /// How long each throughput level runs.
    level_time: Duration,
    /// Upper bound of the calls of one throughput level, split evenly among its callers.
    level_max_calls: usize,
    /// Iterations of connect-per-call.
    connect_per_call: usize,
    /// Upper bound of the sequential phase (warm-up included).
    phase_cap: Duration,
}

impl Plan {
    fn from_env() -> (Plan, bool) {
        let quick = std::env::var("MCP_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let plan = if quick {
            Plan {
                warmup: 20,
                sequential: 200,
                level_time: Duration::from_millis(150),
                level_max_calls: 100_000,
                connect_per_call: 3,
                phase_cap: Duration::from_secs(10),
            }
        } else {
            Plan {
                warmup: 200,
                sequential: 2000,
                level_time: Duration::from_millis(1500),
                level_max_calls: 1_000_000,
                connect_per_call: 20,
                phase_cap: Duration::from_secs(10),
            }
        };
        (plan, quick)
    }
}

// ---------------------------------------------------------------------------------------------
// Correctness accounting

static CALLS: AtomicU64 = AtomicU64::new(0);
static MISMATCHES: AtomicU64 = AtomicU64::new(0);
static FIRST_MISMATCH: Mutex<Option<String>> = Mutex::new(None);

/// Records one call: `got` must be `Ok(sent)`.
fn check(row: &str, sent: &str, got: Result<String, String>) {
    CALLS.fetch_add(1, Ordering::Relaxed);
    let problem = match got {
        Ok(text) if text == sent => return,
        Ok(text) => format!("{row}: sent {sent:?}, got {text:?}"),
        Err(error) => format!("{row}: sent {sent:?}, error: {error}"),
    };
    MISMATCHES.fetch_add(1, Ordering::Relaxed);
    let mut first = FIRST_MISMATCH.lock().unwrap_or_else(|e| e.into_inner());
    if first.is_none() {
        eprintln!("first mismatch: {problem}");
        *first = Some(problem);
    }
}

/// The text of the first text content of a tool result.
fn result_text(result: &CallToolResult) -> Result<String, String> {
    if result.is_error == Some(true) {
        return Err(format!("tool error: {:?}", result.content));
    }
    common::first_text(result).ok_or_else(|| format!("no text content in {result:?}"))
}

fn echo_args(text: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut args = serde_json::Map::new();
    args.insert(
        "text".to_owned(),
        serde_json::Value::String(text.to_owned()),
    );
    args
}

// ---------------------------------------------------------------------------------------------
// Measurements

/// Sequential latencies.
#[derive(Clone, Copy, Debug)]
struct Latency {
    median: Duration,
    p99: Duration,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Option<Latency> {
        if samples.is_empty() {
            return None;
        }
        samples.sort();
        let at = |p: f64| samples[((samples.len() as f64 * p).ceil() as usize).max(1) - 1];
        Some(Latency {
            median: at(0.5),
            p99: at(0.99),
        })
    }
}

/// One throughput level: `calls` completed in `elapsed`, using `cpu` of the whole process.
#[derive(Clone, Copy, Debug)]
struct Throughput {
    calls: u64,
    elapsed: Duration,
    /// User plus system time of this process (callers, library, runtime) during the level.
    cpu: Duration,
    /// Every caller reached its share of `level_max_calls` before `level_time` ran out.
    count_bound: bool,
}

impl Throughput {
    fn per_second(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Everything one row reports.
#[derive(Clone, Debug, Default)]
struct Row {
    name: String,
    /// Time to the first answer from nothing: connect (spawn, handshake) plus one call.
    first_call: Option<Duration>,
    sequential: Option<Latency>,
    throughput: [Option<Throughput>; 3],
    /// Time to close the session at the end of the row.
    close: Option<Duration>,
    /// Threads named `mcp-dispatch*` after the last call, before closing.
    library_threads: usize,
    /// All threads of the process at the same moment.
    process_threads: usize,
    /// Peak RSS of the whole process (VmHWM) after the row.
    peak_rss_kib: u64,
    /// Free-form remarks printed under the table.
    notes: Vec<String>,
}

/// User plus system CPU time of this process so far (`/proc/self/stat`, in clock ticks of
/// 10 ms: USER_HZ is 100 on Linux).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name is in parentheses and may hold spaces: count fields after it.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // After the name: state is field 3, utime field 14 and stime field 15 of the whole line.
    let ticks = |at: usize| {
        fields
            .get(at - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(14) + ticks(15)) * 10)
}

/// CPU time per call over every throughput level of `row`, in µs.
fn cpu_per_call_us(row: &Row) -> Option<f64> {
    let levels: Vec<&Throughput> = row.throughput.iter().flatten().collect();
    let calls: u64 = levels.iter().map(|t| t.calls).sum();
    let cpu: Duration = levels.iter().map(|t| t.cpu).sum();
    (calls > 0).then(|| cpu.as_secs_f64() * 1e6 / calls as f64)
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix(field)?.strip_prefix(':')?;
                rest.split_whitespace().next()?.parse().ok()
            })
        })
        .unwrap_or(0)
}

/// Fills the thread counts of `row` (call this after the last call, before closing), and
/// notes the names when the library has more than the one thread it promises.
fn count_threads(row: &mut Row) {
    let names = common::library_thread_names();
    row.library_threads = names.len();
    row.process_threads = common::thread_names().len();
    if names.len() > 1 {
        row.notes.push(format!("library threads: {names:?}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Generic drivers: blocking callers on std threads, async callers as futures

/// A blocking call of `echo`: sends the text, returns the text that came back.
type BlockingCall = Arc<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// An async call of `echo`.
type AsyncCall = Arc<dyn Fn(String) -> BoxFuture<'static, Result<String, String>> + Send + Sync>;

fn sequential_blocking(plan: &Plan, row: &str, call: &BlockingCall) -> Option<Latency> {
    let deadline = Instant::now() + plan.phase_cap;
    let mut samples = Vec::with_capacity(plan.sequential);
    for i in 0..plan.warmup + plan.sequential {
        if Instant::now() >= deadline {
            eprintln!("{row}: sequential phase capped at {:?}", plan.phase_cap);
            break;
        }
        let sent = format!("{row} seq {i}");
        let started = Instant::now();
        let got = call(&sent);
        let took = started.elapsed();
        check(row, &sent, got);
        if i >= plan.warmup {
            samples.push(took);
        }
    }
    Latency::of(samples)
}

/// `callers` std threads call for `level_time` (at most `level_max_calls` in all); returns
/// the throughput from a common start to the end of the last call.
fn concurrent_blocking(
    plan: &Plan,
    row: &str,
    callers: usize,
    call: &BlockingCall,
) -> Option<Throughput> {
    let per_caller = plan.level_max_calls.div_ceil(callers);
    let barrier = Arc::new(Barrier::new(callers + 1));
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..callers)
        .map(|caller| {
            let (barrier, done, call, row) =
                (barrier.clone(), done.clone(), call.clone(), row.to_owned());
            let level_time = plan.level_time;
            std::thread::Builder::new()
                .name("bench-caller".to_owned())
                .spawn(move || {
                    barrier.wait();
                    let deadline = Instant::now() + level_time;
                    for i in 0..per_caller {
                        if Instant::now() >= deadline {
                            return false;
                        }
                        let sent = format!("{row} c{callers} {caller} {i}");
                        let got = call(&sent);
                        check(&row, &sent, got);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    true
                })
                .expect("spawn a caller thread")
        })
        .collect();
    let cpu = process_cpu();
    barrier.wait();
    let started = Instant::now();
    let mut count_bound = true;
    for worker in workers {
        count_bound &= worker.join().expect("caller thread panicked");
    }
    let elapsed = started.elapsed();
    Some(Throughput {
        calls: done.load(Ordering::Relaxed),
        elapsed,
        cpu: process_cpu().saturating_sub(cpu),
        count_bound,
    })
}

async fn sequential_async(plan: Plan, row: String, call: AsyncCall) -> Option<Latency> {
    let deadline = Instant::now() + plan.phase_cap;
    let mut samples = Vec::with_capacity(plan.sequential);
    for i in 0..plan.warmup + plan.sequential {
        if Instant::now() >= deadline {
            eprintln!("{row}: sequential phase capped at {:?}", plan.phase_cap);
            break;
        }
        let sent = format!("{row} seq {i}");
        let started = Instant::now();
        let got = call(sent.clone()).await;
        let took = started.elapsed();
        check(&row, &sent, got);
        if i >= plan.warmup {
            samples.push(took);
        }
    }
    Latency::of(samples)
}

/// The looping futures of `callers` async callers that call until `deadline` (at most
/// `level_max_calls` in all). Each returns true if it reached its count before the deadline.
fn async_callers(
    plan: &Plan,
    row: &str,
    callers: usize,
    call: &AsyncCall,
    done: &Arc<AtomicU64>,
    deadline: Instant,
) -> Vec<impl Future<Output = bool> + Send + 'static> {
    let per_caller = plan.level_max_calls.div_ceil(callers);
    (0..callers)
        .map(|caller| {
            let (call, done, row) = (call.clone(), done.clone(), row.to_owned());
            async move {
                for i in 0..per_caller {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    let sent = format!("{row} c{callers} {caller} {i}");
                    let got = call(sent.clone()).await;
                    check(&row, &sent, got);
                    done.fetch_add(1, Ordering::Relaxed);
                }
                true
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The server

/// Where the rows connect.
#[derive(Clone, Debug)]
enum Target {
    Stdio(PathBuf),
    Http(String),
}

impl Target {
    fn config(&self) -> ServerConfig {
        match self {
            Target::Stdio(path) => ServerConfig::stdio(path).name("bench"),
            Target::Http(url) => ServerConfig::http(url.as_str()).name("bench"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rows

/// rmcp directly, on a tokio multi-thread runtime.
fn raw_row(plan: &Plan, target: &Target, name: &str) -> Row {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("build the tokio runtime");
    let plan = *plan;
    let target = target.clone();
    let name = name.to_owned();
    let body = async move {
        let mut row = Row {
            name: name.clone(),
            ..Row::default()
        };
        // The transport is built (stdio: the process spawned; HTTP: the reqwest client built)
        // and the handshake done in two timed steps, to show where connecting goes.
        let connect_started = Instant::now();
        let (service, built) = match &target {
            Target::Stdio(path) => {
                let command = tokio::process::Command::new(path);
                let transport = rmcp::transport::TokioChildProcess::new(command)
                    .expect("spawn the stdio test server");
                let built = connect_started.elapsed();
                let service =
                    ().serve_with_lifecycle(transport, lifecycle())
                        .await
                        .expect("raw stdio connect");
                (service, built)
            }
            Target::Http(url) => {
                let transport =
                    rmcp::transport::StreamableHttpClientTransport::from_uri(url.as_str());
                let built = connect_started.elapsed();
                let service =
                    ().serve_with_lifecycle(transport, lifecycle())
                        .await
                        .expect("raw HTTP connect");
                (service, built)
            }
        };
        let connected = connect_started.elapsed();
        let peer = service.peer().clone();
        let call: AsyncCall = Arc::new(move |text: String| {
            let peer = peer.clone();
            async move {
                let params = CallToolRequestParams::new("echo").with_arguments(echo_args(&text));
                // Bounded like the library's calls (its default call timeout is 60 s).
                match tokio::time::timeout(CALL_BOUND, peer.call_tool(params)).await {
                    Ok(Ok(result)) => result_text(&result),
                    Ok(Err(error)) => Err(error.to_string()),
                    Err(_) => Err(format!("no answer within {CALL_BOUND:?}")),
                }
            }
            .boxed()
        });
        let first_started = Instant::now();
        check(&name, "first", call("first".to_owned()).await);
        row.first_call = Some(connected + first_started.elapsed());
        row.notes.push(format!(
            "connect {} us (transport built {} us: {}; then the handshake {} us) + first \
             call {} us",
            connected.as_micros(),
            built.as_micros(),
            match target {
                Target::Stdio(_) => "process spawned",
                Target::Http(_) => "reqwest client with TLS roots",
            },
            (connected - built).as_micros(),
            first_started.elapsed().as_micros()
        ));

        row.sequential = sequential_async(plan, name.clone(), call.clone()).await;
        for (slot, callers) in LEVELS.into_iter().enumerate() {
            let done = Arc::new(AtomicU64::new(0));
            let cpu = process_cpu();
            let started = Instant::now();
            let deadline = started + plan.level_time;
            let tasks: Vec<_> = async_callers(&plan, &name, callers, &call, &done, deadline)
                .into_iter()
                .map(tokio::spawn)
                .collect();
            let mut count_bound = true;
            for task in tasks {
                count_bound &= task.await.expect("raw caller task");
            }
            row.throughput[slot] = Some(Throughput {
                calls: done.load(Ordering::Relaxed),
                elapsed: started.elapsed(),
                cpu: process_cpu().saturating_sub(cpu),
                count_bound,
            });
        }
        count_threads(&mut row);
        let close_started = Instant::now();
        drop(call);
        let _ = tokio::time::timeout(Duration::from_secs(10), service.cancel()).await;
        row.close = Some(close_started.elapsed());
        row
    };
    let task = runtime.spawn(body);
    let row = runtime.block_on(task).expect("the raw row panicked");
    runtime.shutdown_timeout(Duration::from_secs(5));
    row
}

/// Our client over the HTTP+SSE transport (`url` ends in `/sse`), blocking callers on std
/// threads: rmcp has no client for that transport, so its ratios are against raw streamable
/// HTTP on the same server.
fn sse_blocking_row(plan: &Plan, url: &str) -> Row {
    let client = Client::new(ServerConfig::sse(url).name("bench"));
    let call = blocking_echo(&client);
    blocking_row(plan, "blocking over SSE", &client, &call)
}

/// Our client on the shared executor, blocking callers on std threads.
fn executor_blocking_row(plan: &Plan, target: &Target) -> Row {
    let name = "executor/blocking";
    let client = Client::new(target.config());
    let call = blocking_echo(&client);
    blocking_row(plan, name, &client, &call)
}

fn blocking_echo(client: &Client) -> BlockingCall {
    let client = client.clone();
    Arc::new(move |text: &str| {
        client
            .call_tool_blocking("echo", json!({ "text": text }))
            .map_err(|error| error.to_string())
            .and_then(|result| result_text(&result))
    })
}

/// The measurements shared by the rows whose callers block on std threads.
fn blocking_row(plan: &Plan, name: &str, client: &Client, call: &BlockingCall) -> Row {
    let mut row = Row {
        name: name.to_owned(),
        ..Row::default()
    };
    let started = Instant::now();
    check(name, "first", call("first"));
    row.first_call = Some(started.elapsed());
    row.sequential = sequential_blocking(plan, name, call);
    for (slot, callers) in LEVELS.into_iter().enumerate() {
        row.throughput[slot] = concurrent_blocking(plan, name, callers, call);
    }
    count_threads(&mut row);
    let started = Instant::now();
    if let Err(error) = client.close_blocking() {
        row.notes.push(format!("close failed: {error}"));
    }
    row.close = Some(started.elapsed());
    row
}

/// Our client on the shared executor, awaited on smol.
fn executor_async_row(plan: &Plan, target: &Target) -> Row {
    let name = "executor/async";
    let mut row = Row {
        name: name.to_owned(),
        ..Row::default()
    };
    let client = Client::new(target.config());
    let call: AsyncCall = {
        let client = client.clone();
        Arc::new(move |text: String| {
            let call = client.call_tool("echo", json!({ "text": text }));
            async move {
                call.await
                    .map_err(|error| error.to_string())
                    .and_then(|result| result_text(&result))
            }
            .boxed()
        })
    };
    let started = Instant::now();
    check(name, "first", smol::block_on(call("first".to_owned())));
    row.first_call = Some(started.elapsed());
    row.sequential = smol::block_on(sequential_async(*plan, name.to_owned(), call.clone()));
    for (slot, callers) in LEVELS.into_iter().enumerate() {
        let done = Arc::new(AtomicU64::new(0));
        let cpu = process_cpu();
        let started = Instant::now();
        let deadline = started + plan.level_time;
        let loops = async_callers(plan, name, callers, &call, &done, deadline);
        let count_bound = smol::block_on(futures::future::join_all(loops))
            .into_iter()
            .all(|reached| reached);
        row.throughput[slot] = Some(Throughput {
            calls: done.load(Ordering::Relaxed),
            elapsed: started.elapsed(),
            cpu: process_cpu().saturating_sub(cpu),
            count_bound,
        });
    }
    count_threads(&mut row);
    let started = Instant::now();
    if let Err(error) = smol::block_on(client.close()) {
        row.notes.push(format!("close failed: {error}"));
    }
    row.close = Some(started.elapsed());
    row
}

/// What the host loop receives.
enum HostMessage {
    Job(Job),
    Stop,
}

/// The host's loop: polls every job it is sent, on this one thread, until told to stop.
fn host_loop(jobs: async_channel::Receiver<HostMessage>) {
    let mut jobs = Box::pin(jobs);
    let mut running = FuturesUnordered::<Job>::new();
    futures::executor::block_on(futures::future::poll_fn(|cx| {
        loop {
            match jobs.poll_next_unpin(cx) {
                Poll::Ready(Some(HostMessage::Job(job))) => running.push(job),
                Poll::Ready(Some(HostMessage::Stop)) | Poll::Ready(None) => {
                    return Poll::Ready(());
                }
                Poll::Pending => break,
            }
        }
        while let Poll::Ready(Some(())) = running.poll_next_unpin(cx) {}
        Poll::Pending
    }));
    // Jobs still running are dropped here, which the dispatcher contract allows.
}

/// Our client with a host dispatcher: jobs go through a channel to a host loop thread.
fn host_dispatcher_row(plan: &Plan, target: &Target) -> Row {
    let name = "host-dispatcher";
    let (sender, receiver) = async_channel::unbounded::<HostMessage>();
    let (finished_tx, finished_rx) = std::sync::mpsc::channel::<()>();
    let host = std::thread::Builder::new()
        .name("host-loop".to_owned())
        .spawn(move || {
            host_loop(receiver);
            let _ = finished_tx.send(());
        })
        .expect("spawn the host loop");
    let jobs = sender.clone();
    let client = Client::builder(target.config())
        .dispatcher(move |job: Job| {
            let _ = jobs.try_send(HostMessage::Job(job));
        })
        .build();
    let call = blocking_echo(&client);
    let row = blocking_row(plan, name, &client, &call);
    drop(call);
    drop(client);
    let _ = sender.try_send(HostMessage::Stop);
    if finished_rx.recv_timeout(Duration::from_secs(10)).is_ok() {
        host.join().expect("host loop panicked");
    } else {
        eprintln!("{name}: the host loop did not stop within 10 s; left running");
    }
    row
}

/// A fresh client per call, closed after it: what a host without a persistent session does.
fn connect_per_call_row(plan: &Plan, target: &Target) -> Row {
    let name = "connect-per-call";
    let mut row = Row {
        name: name.to_owned(),
        ..Row::default()
    };
    let deadline = Instant::now() + plan.phase_cap * 3;
    let (mut cycles, mut calls, mut closes) = (Vec::new(), Vec::new(), Vec::new());
    // One extra, unmeasured, iteration first: page cache, dynamic linking, TLS roots.
    for i in 0..=plan.connect_per_call {
        if Instant::now() >= deadline {
            eprintln!("{name}: capped at {:?}", plan.phase_cap * 3);
            break;
        }
        let sent = format!("{name} {i}");
        let started = Instant::now();
        let client = Client::new(target.config());
        let got = client
            .call_tool_blocking("echo", json!({ "text": sent }))
            .map_err(|error| error.to_string())
            .and_then(|result| result_text(&result));
        let called = started.elapsed();
        if i == plan.connect_per_call {
            count_threads(&mut row);
        }
        let closed = client.close_blocking();
        drop(client);
        let cycle = started.elapsed();
        check(name, &sent, got);
        if let Err(error) = closed {
            row.notes.push(format!("close failed: {error}"));
        }
        if i == 0 {
            row.first_call = Some(cycle);
            continue;
        }
        cycles.push(cycle);
        calls.push(called);
        closes.push(cycle - called);
    }
    row.sequential = Latency::of(cycles);
    if let (Some(call), Some(close)) = (Latency::of(calls), Latency::of(closes)) {
        row.close = Some(close.median);
        row.notes.push(format!(
            "per cycle: build+connect+call median {} us (p99 {}), close_blocking median {} us (p99 {})",
            call.median.as_micros(),
            call.p99.as_micros(),
            close.median.as_micros(),
            close.p99.as_micros()
        ));
    }
    row
}

// ---------------------------------------------------------------------------------------------
// Report

fn us(duration: Option<Duration>) -> String {
    duration.map_or_else(|| "-".to_owned(), |d| d.as_micros().to_string())
}

fn rate(throughput: Option<Throughput>) -> String {
    throughput.map_or_else(
        || "-".to_owned(),
        |t| {
            let bound = if t.count_bound { "!" } else { "" };
            format!("{:.0}{bound}", t.per_second())
        },
    )
}

fn ratio(value: Option<f64>, baseline: Option<f64>) -> String {
    match (value, baseline) {
        (Some(value), Some(baseline)) if baseline > 0.0 => format!("{:.2}", value / baseline),
        _ => "-".to_owned(),
    }
}

fn drift(first: Option<f64>, second: Option<f64>) -> String {
    match (first, second) {
        (Some(a), Some(b)) if a + b > 0.0 => format!("{:+.1}%", (b - a) / ((a + b) / 2.0) * 100.0),
        _ => "-".to_owned(),
    }
}

fn median_us(row: &Row) -> Option<f64> {
    row.sequential.map(|l| l.median.as_secs_f64() * 1e6)
}

fn rate_of(row: &Row, slot: usize) -> Option<f64> {
    row.throughput[slot].map(|t| t.per_second())
}

fn mean(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some((a + b) / 2.0),
        (a, b) => a.or(b),
    }
}

fn print_table(transport: &str, rows: &[Row], elapsed: Duration) {
    let first_raw = rows.first().expect("a raw row first");
    let last_raw = rows.last().expect("a raw row last");
    let base_median = mean(median_us(first_raw), median_us(last_raw));
    let base_cpu = mean(cpu_per_call_us(first_raw), cpu_per_call_us(last_raw));
    let base_rates: Vec<Option<f64>> = (0..LEVELS.len())
        .map(|slot| mean(rate_of(first_raw, slot), rate_of(last_raw, slot)))
        .collect();

    println!();
    println!("== {transport} ({:.1} s) ==", elapsed.as_secs_f64());
    let header = format!(
        "{:<18} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>9} {:>4} {:>5} {:>8} | {:>7} {:>6} {:>6} {:>6} {:>7}",
        "row",
        "1st us",
        "med us",
        "p99 us",
        "c/s @1",
        "c/s @8",
        "c/s @64",
        "cpu us",
        "close us",
        "lib",
        "thr",
        "HWM MiB",
        "lat/raw",
        "x@1",
        "x@8",
        "x@64",
        "cpu/raw",
    );
    println!("{header}");
    println!("{}", "-".repeat(header.len()));
    for row in rows {
        println!(
            "{:<18} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>9} {:>4} {:>5} {:>8.1} | {:>7} {:>6} {:>6} {:>6} {:>7}",
            row.name,
            us(row.first_call),
            us(row.sequential.map(|l| l.median)),
            us(row.sequential.map(|l| l.p99)),
            rate(row.throughput[0]),
            rate(row.throughput[1]),
            rate(row.throughput[2]),
            cpu_per_call_us(row).map_or_else(|| "-".to_owned(), |cpu| format!("{cpu:.1}")),
            us(row.close),
            row.library_threads,
            row.process_threads,
            row.peak_rss_kib as f64 / 1024.0,
            ratio(median_us(row), base_median),
            ratio(rate_of(row, 0), base_rates[0]),
            ratio(rate_of(row, 1), base_rates[1]),
            ratio(rate_of(row, 2), base_rates[2]),
            ratio(cpu_per_call_us(row), base_cpu),
        );
    }
    println!(
        "raw drift (2nd run vs 1st, relative to their mean): median {}, c/s @1 {}, @8 {}, @64 {}",
        drift(median_us(first_raw), median_us(last_raw)),
        drift(rate_of(first_raw, 0), rate_of(last_raw, 0)),
        drift(rate_of(first_raw, 1), rate_of(last_raw, 1)),
        drift(rate_of(first_raw, 2), rate_of(last_raw, 2)),
    );
    for row in rows {
        for note in &row.notes {
            println!("  {}: {note}", row.name);
        }
    }
}

fn run_transport(plan: &Plan, transport: &str, target: &Target) {
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut finish = |mut row: Row| {
        row.peak_rss_kib = status_kib("VmHWM");
        eprintln!(
            "  {transport} {:<18} done at {:.1} s",
            row.name,
            started.elapsed().as_secs_f64()
        );
        rows.push(row);
    };
    finish(raw_row(plan, target, "raw"));
    finish(executor_blocking_row(plan, target));
    finish(executor_async_row(plan, target));
    finish(host_dispatcher_row(plan, target));
    finish(connect_per_call_row(plan, target));
    if let Target::Http(url) = target {
        let sse = url.strip_suffix("/mcp").map(|base| format!("{base}/sse"));
        finish(sse_blocking_row(
            plan,
            &sse.expect("the HTTP URL ends in /mcp"),
        ));
    }
    finish(raw_row(plan, target, "raw (again)"));
    print_table(transport, &rows, started.elapsed());
}

fn machine_line(quick: bool, plan: &Plan) -> String {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!(
        "machine: nproc={nproc} ({cpu}), a shared machine: expect noise; mode {}: {} warm-up + {} sequential calls, {:?} per concurrency level, {} connect-per-call cycles",
        if quick { "QUICK" } else { "full" },
        plan.warmup,
        plan.sequential,
        plan.level_time,
        plan.connect_per_call
    )
}

fn main() {
    let started = Instant::now();
    let (plan, quick) = Plan::from_env();
    let only = std::env::var("MCP_BENCH_ONLY").unwrap_or_default();
    let (stdio, http) = match only.as_str() {
        "" => (true, true),
        "stdio" => (true, false),
        "http" => (false, true),
        other => panic!("MCP_BENCH_ONLY must be stdio or http, not {other:?}"),
    };
    // Built in this (release) profile, like every example the tests run.
    let path = common::server_path();
    let build = started.elapsed();
    let started = Instant::now();
    println!("{}", machine_line(quick, &plan));
    println!(
        "test server: {}; tool `echo` with a distinct short text per call",
        path.display()
    );

    if stdio {
        run_transport(&plan, "stdio", &Target::Stdio(path.clone()));
    }
    if http {
        let server = common::HttpServer::start("127.0.0.1:0", &[]);
        println!();
        println!(
            "HTTP server: {} (one process for every HTTP row)",
            server.url
        );
        run_transport(&plan, "streamable HTTP", &Target::Http(server.url.clone()));
        drop(server);
    }

    println!();
    println!(
        "columns: 1st = connect + first call from nothing; med/p99 = sequential call latency \
         ({} calls after {} warm-up; for connect-per-call the whole build+call+close cycle); \
         c/s @N = calls/s with N concurrent callers, each level run for {:?} (! = hit the \
         bound of {} calls first); cpu us = user + system CPU time of the whole client \
         process per call over the three levels (/proc/self/stat, 10 ms ticks); close = \
         closing the session; lib = threads named mcp-dispatch* after the last call; thr = all \
         threads of the process then; HWM = VmHWM, peak RSS of the whole process, monotonic \
         across rows; ratios use the mean of the two raw runs (lat/raw lower is better, x@N \
         higher is better, cpu/raw lower is better)",
        plan.sequential, plan.warmup, plan.level_time, plan.level_max_calls
    );
    println!(
        "callers: raw = tokio tasks on a multi-thread runtime ({} workers); executor/blocking and \
         host-dispatcher = one std thread per caller; executor/async = N looping futures in \
         futures::future::join_all inside one smol::block_on",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "library threads at the end: {:?}",
        common::library_thread_names()
    );
    let left = common::children();
    println!(
        "child processes left: {}; calls checked: {}; mismatches: {}; measuring took {:.1} s \
         (plus {:.1} s locating or building the test server)",
        left.len(),
        CALLS.load(Ordering::Relaxed),
        MISMATCHES.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        build.as_secs_f64()
    );
    let mismatches = MISMATCHES.load(Ordering::Relaxed);
    if mismatches > 0 {
        let first = FIRST_MISMATCH
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        panic!("{mismatches} calls failed or answered wrongly; first: {first:?}");
    }
}
