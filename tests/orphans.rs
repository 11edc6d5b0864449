//! No orphans, no zombies: servers run in their own process group, the group is cleaned up on
//! close, children are reaped, and servers do not outlive a host that exits without closing.

mod common;

use std::time::Duration;

use common::{alive, exists, server_path, wait_until};
use mcp_dispatch::{Client, ServerConfig};
use serde_json::json;

const BOUND: Duration = Duration::from_secs(20);

fn pid_of(client: &Client) -> u32 {
    common::text(&client.call_tool_blocking("pid", json!({})).unwrap())
        .parse()
        .unwrap()
}

fn read_pid(path: &std::path::Path) -> u32 {
    let mut pid = None;
    wait_until(BOUND, "the pid file", || {
        pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.trim().parse().ok());
        pid.is_some()
    });
    pid.unwrap()
}

#[test]
fn a_server_runs_in_its_own_process_group() {
    let client = Client::new(common::server("group"));
    let pid = pid_of(&client);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // Fields after the command: state, ppid, pgrp.
    assert_eq!(
        fields[2],
        pid.to_string(),
        "the server leads its own process group"
    );
    client.close_blocking().unwrap();
}

#[test]
fn closing_a_wrapped_server_kills_the_grandchildren_it_started() {
    let dir = common::temp_dir("grandchild");
    let grandchild_file = dir.join("grandchild.pid");
    // A wrapper script that leaves a long-lived grandchild behind, then becomes the server.
    let config = ServerConfig::stdio("sh")
        .args(["-c", "sleep 300 & echo $! > \"$1\"; exec \"$0\""])
        .arg(server_path())
        .arg(&grandchild_file)
        .name("wrapped");
    let client = Client::new(config);
    let server = pid_of(&client);
    let grandchild = read_pid(&grandchild_file);
    assert!(alive(grandchild));
    client.close_blocking().unwrap();
    wait_until(BOUND, "the server to be reaped", || !exists(server));
    wait_until(BOUND, "the grandchild to die", || !alive(grandchild));
}

#[test]
fn a_killed_server_is_reaped_and_a_dropped_client_closes_its_server() {
    let client = Client::new(common::server("reaped"));
    let first = pid_of(&client);
    common::kill(first);
    wait_until(BOUND, "the killed server to be reaped", || !exists(first));
    let second = pid_of(&client);
    drop(client);
    wait_until(BOUND, "the dropped client's server to be reaped", || {
        !exists(second)
    });
}

/// The test re-runs itself in a child process (this same test, with `MCP_ORPHAN_PID_FILE`
/// set), which connects, reports the server's pid and exits without closing anything; the
/// parent then checks that the server does not outlive it.
#[test]
fn a_host_that_exits_without_closing_leaves_no_server() {
    if let Ok(pid_file) = std::env::var("MCP_ORPHAN_PID_FILE") {
        // The child: the abrupt host.
        let client = Client::new(common::server("abandoned"));
        let pid = pid_of(&client);
        std::fs::write(pid_file, pid.to_string()).unwrap();
        std::process::exit(0);
    }
    let dir = common::temp_dir("abrupt-host");
    let pid_file = dir.join("server.pid");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_host_that_exits_without_closing_leaves_no_server",
            "--nocapture",
        ])
        .env("MCP_ORPHAN_PID_FILE", &pid_file)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let server = read_pid(&pid_file);
    // The server sees stdin close when its host dies, and exits.
    wait_until(BOUND, "the orphaned server to exit", || !alive(server));
}

/// A server that never answers `initialize`, ignores stdin EOF and SIGTERM: only SIGKILL
/// stops it.
fn stubborn(name: &str, pid_file: &std::path::Path) -> ServerConfig {
    common::server(name)
        .env("MCP_TEST_HANG_INIT", "1")
        .env("MCP_TEST_STUBBORN", "1")
        .env("MCP_TEST_PID_FILE", pid_file)
}

#[test]
fn closing_during_a_connect_stops_the_server_within_the_close_bound() {
    let dir = common::temp_dir("close-connecting");
    let pid_file = dir.join("server.pid");
    let client = Client::builder(stubborn("stubborn", &pid_file))
        .connect_timeout(Duration::from_secs(60))
        .close_timeout(Duration::from_secs(1))
        .build();
    let caller = client.clone();
    let waiting = std::thread::spawn(move || caller.list_tools_blocking());
    let server = read_pid(&pid_file);
    let started = std::time::Instant::now();
    client.close_blocking().unwrap();
    let took = started.elapsed();
    // Stdin closed, 0.5 s; SIGTERM, 0.5 s; then SIGKILL: about 1 s, never the connect timeout.
    assert!(took < Duration::from_secs(4), "close took {took:?}");
    wait_until(Duration::from_secs(1), "the server to die", || {
        !alive(server)
    });
    let outcome = waiting.join().unwrap();
    assert!(
        matches!(outcome, Err(mcp_dispatch::Error::Closed { ref server }) if server == "stubborn"),
        "{outcome:?}"
    );
}

#[test]
fn dropping_the_client_during_a_connect_stops_the_server() {
    let dir = common::temp_dir("drop-connecting");
    let pid_file = dir.join("server.pid");
    let client = Client::builder(stubborn("dropped", &pid_file))
        .connect_timeout(Duration::from_secs(60))
        .close_timeout(Duration::from_secs(1))
        .build();
    // The future holds the client's state, not a handle: dropping the handle closes it.
    let listing = client.list_tools();
    let waiting = std::thread::spawn(move || futures::executor::block_on(listing));
    let server = read_pid(&pid_file);
    drop(client);
    wait_until(Duration::from_secs(4), "the server to die", || {
        !alive(server)
    });
    let outcome = waiting.join().unwrap();
    assert!(
        matches!(outcome, Err(mcp_dispatch::Error::Closed { .. })),
        "{outcome:?}"
    );
}

/// The test re-runs itself as a host (with `MCP_KILLED_HOST_DIR` set) that starts a server
/// which ignores stdin EOF and SIGTERM, leaves a call in flight and is then SIGKILLed, so no
/// destructor runs. The parent-death signal must take the server down.
#[test]
fn a_host_killed_mid_call_leaves_no_server() {
    if let Ok(dir) = std::env::var("MCP_KILLED_HOST_DIR") {
        let dir = std::path::PathBuf::from(dir);
        let client = Client::new(
            common::server("stubborn")
                .env("MCP_TEST_STUBBORN", "1")
                .env("MCP_TEST_PID_FILE", dir.join("server.pid")),
        );
        client.call_tool_blocking("pid", json!({})).unwrap();
        let caller = client.clone();
        std::thread::spawn(move || caller.call_tool_blocking("sleep", json!({"ms": 60_000})));
        common::wait_until(BOUND, "the call to be running", || {
            common::sleeping(&client) == 1
        });
        std::fs::write(dir.join("ready"), "ready").unwrap();
        loop {
            std::thread::park();
        }
    }
    let dir = common::temp_dir("killed-host");
    let mut host = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_host_killed_mid_call_leaves_no_server",
            "--nocapture",
        ])
        .env("MCP_KILLED_HOST_DIR", &dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = read_pid(&dir.join("server.pid"));
    wait_until(BOUND, "the host to be ready", || dir.join("ready").exists());
    assert!(alive(server));
    common::kill(host.id());
    let _ = host.wait();
    wait_until(
        Duration::from_secs(2),
        "the server to die with its host",
        || !alive(server),
    );
}
