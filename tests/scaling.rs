//! Scaling: building a client or a hub costs the same however many clients are alive.
//!
//! Timings on a loaded machine are noisy, so these tests compare rates within one run (the
//! median of a few batches early on against the median of a few batches late) rather than
//! absolute times. Quadratic behaviour makes the late batches many times slower; the bounds
//! allow a factor of three.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{PidExt, alive, wait_until};
use mcp_dispatch::{Client, Error, Executor, Hub, ServerConfig};

/// The tests here measure time, so they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How much slower a late batch may be than an early one.
const SLOWDOWN: f64 = 3.0;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Builds `batches` batches of `per_batch` clients on `executor`, keeping all of them alive,
/// and returns them with the time each batch took.
fn build_clients(
    executor: &Executor,
    batches: usize,
    per_batch: usize,
) -> (Vec<Client>, Vec<Duration>) {
    let config = ServerConfig::stdio(common::server_path());
    let mut clients = Vec::with_capacity(batches * per_batch);
    let mut times = Vec::with_capacity(batches);
    for _ in 0..batches {
        let start = Instant::now();
        for _ in 0..per_batch {
            clients.push(
                Client::builder(config.clone())
                    .executor(executor.clone())
                    .build(),
            );
        }
        times.push(start.elapsed());
    }
    (clients, times)
}

#[test]
fn building_a_client_costs_the_same_with_40k_clients_alive() {
    let _serial = serial();
    let executor = Executor::new().unwrap();
    let (clients, times) = build_clients(&executor, 20, 2_000);
    assert_eq!(clients.len(), 40_000);
    let early = median(times[..3].to_vec());
    let late = median(times[times.len() - 3..].to_vec());
    eprintln!(
        "2k clients: {early:?} with up to 6k alive, {late:?} with 34k-40k alive; all: {:?}",
        times.iter().sum::<Duration>()
    );
    assert!(
        late.as_secs_f64() <= early.as_secs_f64() * SLOWDOWN,
        "2k clients took {early:?} early and {late:?} late"
    );
    drop(clients);
    assert!(executor.shutdown_timeout(Duration::from_secs(20)));
}

#[test]
fn shutdown_closes_every_live_session_after_many_clients_came_and_went() {
    let _serial = serial();
    let executor = Executor::new().unwrap();
    let connected: Vec<Client> = (0..3)
        .map(|i| {
            Client::builder(common::server(&format!("live-{i}")))
                .executor(executor.clone())
                .build()
        })
        .collect();
    let pids: Vec<u32> = connected.iter().map(PidExt::pid_blocking).collect();
    // Many clients come and go between the live ones' registration and the shutdown, and
    // some stay.
    let mut kept = Vec::new();
    for round in 0..10 {
        let (clients, _) = build_clients(&executor, 1, 1_000);
        if round % 3 == 0 {
            kept.extend(clients);
        }
    }
    assert_eq!(kept.len(), 4_000);
    assert!(pids.iter().all(|&pid| alive(pid)));
    assert!(executor.shutdown_timeout(Duration::from_secs(20)));
    wait_until(Duration::from_secs(10), "the servers to exit", || {
        pids.iter().all(|&pid| !alive(pid))
    });
    for client in connected.iter().chain(&kept[..10]) {
        assert!(matches!(
            client.list_tools_blocking(),
            Err(Error::Shutdown { .. })
        ));
    }
}

/// A hub of `servers` stdio servers (none started), and how long `build` took.
fn build_hub(servers: usize) -> (Hub, Duration) {
    let config = ServerConfig::stdio(common::server_path());
    let mut builder = Hub::builder();
    for i in 0..servers {
        builder = builder.server(format!("server-{i}"), config.clone());
    }
    let start = Instant::now();
    let hub = builder.build().unwrap();
    (hub, start.elapsed())
}

#[test]
fn hub_build_over_40k_servers_is_linear() {
    let _serial = serial();
    // The best of three small builds, against one large one.
    let small = (0..3)
        .map(|_| build_hub(5_000).1)
        .min()
        .expect("three builds");
    let (hub, large) = build_hub(40_000);
    eprintln!("Hub::build: {small:?} for 5k servers, {large:?} for 40k");
    assert_eq!(hub.server_names().len(), 40_000);
    assert!(hub.client("server-39999").is_some());
    assert!(
        large.as_secs_f64() <= small.as_secs_f64() * 8.0 * SLOWDOWN,
        "Hub::build took {small:?} for 5k servers and {large:?} for 40k"
    );
    assert!(large < Duration::from_secs(60), "{large:?}");
}
