//! Soak: 16 threads x 4 servers x 500 calls while a helper kills a random server every ~200
//! calls. Every call must end in a correct `Ok` or a typed error, the non-idempotent tool must
//! never run twice for one call, and after shutdown no thread, descriptor or child is left.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{children, open_fds, text, thread_names, wait_until};
use mcp_dispatch::{Client, Error, Executor};
use serde_json::json;

const THREADS: usize = 16;
const SERVERS: usize = 4;
const CALLS_PER_SERVER: usize = 500;
const KILL_EVERY: u64 = 200;
const TOTAL_BOUND: Duration = Duration::from_secs(240);

/// A small deterministic generator, so a failing run can be replayed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[derive(Default)]
struct Outcomes {
    ok: u64,
    errors: HashMap<&'static str, u64>,
    /// Keys of `record` calls that returned `Ok`.
    recorded: Vec<String>,
}

fn kind(error: &Error) -> &'static str {
    match error {
        Error::TransportClosed { .. } => "transport closed",
        Error::Initialize { .. } => "initialize",
        Error::Timeout { .. } => "timeout",
        Error::ConnectTimeout { .. } => "connect timeout",
        other => panic!("unexpected error kind in the soak: {other:?}"),
    }
}

/// tokio sets up its process-wide signal handling (a socket pair, kept for the life of the
/// process) the first time a child is spawned. Do that once before taking the baseline, so the
/// comparison sees only what the library itself holds.
fn warm_up() {
    let executor = Executor::new().unwrap();
    let client = Client::builder(common::server("warm-up"))
        .executor(executor.clone())
        .build();
    client.call_tool_blocking("pid", json!({})).unwrap();
    assert!(executor.shutdown());
}

#[test]
fn soak_with_random_kills_keeps_every_call_typed_and_leaves_nothing_behind() {
    let started = Instant::now();
    warm_up();
    let fds_before = open_fds();
    let threads_before = thread_names().len();
    let dir = common::temp_dir("soak");

    let executor = Executor::new().unwrap();
    let clients: Vec<Client> = (0..SERVERS)
        .map(|i| {
            let config = common::server(&format!("soak-{i}")).env("MCP_TEST_RECORD_DIR", &dir);
            Client::builder(config)
                .executor(executor.clone())
                .call_timeout(Duration::from_secs(20))
                .connect_timeout(Duration::from_secs(20))
                .build()
        })
        .collect();
    for client in &clients {
        // Caches the annotations: `add` is idempotent, `record` is not.
        client.list_tools_blocking().unwrap();
    }

    let completed = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let killer = {
        let clients = clients.clone();
        let completed = completed.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut random = XorShift(0x9e37_79b9_7f4a_7c15);
            let mut kills = 0u64;
            let mut next = KILL_EVERY;
            while !done.load(Ordering::Acquire) {
                if completed.load(Ordering::Acquire) < next {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                next += KILL_EVERY;
                let client = &clients[(random.next() % SERVERS as u64) as usize];
                if let Some(pid) = client.pid() {
                    // The process may already be gone; a failed kill is fine.
                    let _ = std::process::Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                    kills += 1;
                }
            }
            kills
        })
    };

    let barrier = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let clients = clients.clone();
            let completed = completed.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut outcomes = Outcomes::default();
                for call in 0..CALLS_PER_SERVER {
                    for (server, client) in clients.iter().enumerate() {
                        if call % 2 == 0 {
                            let (a, b) = (call as f64, thread as f64);
                            match client.call_tool_blocking("add", json!({"a": a, "b": b})) {
                                Ok(sum) => {
                                    assert_eq!(text(&sum), format!("{}", a + b));
                                    outcomes.ok += 1;
                                }
                                Err(error) => {
                                    *outcomes.errors.entry(kind(&error)).or_default() += 1
                                }
                            }
                        } else {
                            let key = format!("{thread}-{server}-{call}");
                            match client.call_tool_blocking("record", json!({"key": key})) {
                                Ok(result) => {
                                    assert_eq!(text(&result), format!("recorded {key}"));
                                    outcomes.ok += 1;
                                    outcomes.recorded.push(key);
                                }
                                Err(error) => {
                                    *outcomes.errors.entry(kind(&error)).or_default() += 1
                                }
                            }
                        }
                        completed.fetch_add(1, Ordering::AcqRel);
                    }
                }
                outcomes
            })
        })
        .collect();

    let mut total = Outcomes::default();
    for worker in workers {
        let outcomes = worker.join().expect("a worker panicked");
        total.ok += outcomes.ok;
        for (kind, count) in outcomes.errors {
            *total.errors.entry(kind).or_default() += count;
        }
        total.recorded.extend(outcomes.recorded);
    }
    done.store(true, Ordering::Release);
    let kills = killer.join().unwrap();
    let calls_took = started.elapsed();

    let calls = (THREADS * SERVERS * CALLS_PER_SERVER) as u64;
    let errors: u64 = total.errors.values().sum();
    assert_eq!(total.ok + errors, calls, "every call ended");
    assert!(kills >= calls / KILL_EVERY / 2, "only {kills} kills");

    // The non-idempotent tool never ran twice for one call.
    let log = std::fs::read_to_string(dir.join("record.log")).unwrap_or_default();
    let mut runs: HashMap<&str, u32> = HashMap::new();
    // Complete records only: a server killed in the middle of its write leaves a torn line.
    for key in log.lines().filter_map(|line| line.strip_suffix(" done")) {
        *runs.entry(key).or_default() += 1;
    }
    let twice: Vec<_> = runs.iter().filter(|(_, count)| **count > 1).collect();
    assert!(twice.is_empty(), "ran twice: {twice:?}");
    for key in &total.recorded {
        assert_eq!(
            runs.get(key.as_str()),
            Some(&1),
            "an Ok record call ran once: {key}"
        );
    }

    let (connects, retries) = clients.iter().fold((0, 0), |(connects, retries), client| {
        let stats = client.stats();
        (connects + stats.connects, retries + stats.retries)
    });
    let shutdown_started = Instant::now();
    assert!(executor.shutdown(), "shutdown finished within its bound");
    let shutdown_took = shutdown_started.elapsed();
    drop(clients);
    drop(executor);

    wait_until(Duration::from_secs(20), "every child to be reaped", || {
        children().is_empty()
    });
    wait_until(Duration::from_secs(20), "the threads to stop", || {
        thread_names().len() == threads_before
    });
    wait_until(Duration::from_secs(20), "the descriptors to close", || {
        open_fds() == fds_before
    });
    let elapsed = started.elapsed();
    assert!(elapsed < TOTAL_BOUND, "soak took {elapsed:?}");
    eprintln!(
        "soak: {calls} calls ({} ok, errors {:?}) in {calls_took:?}; {kills} kills, {connects} \
         connects, {retries} retries; shutdown {shutdown_took:?}; total {elapsed:?}",
        total.ok, total.errors
    );
}
