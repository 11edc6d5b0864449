//! Every host example runs to completion, exits successfully, and prints what it promises.
//!
//! Each test runs the built example binary (building it if needed), bounded in time: an
//! example that hangs is killed and the test fails.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The longest any example may run. They take well under a second each when healthy; the
/// bound is generous for loaded machines and debug builds.
const BOUND: Duration = Duration::from_secs(120);

/// What an example printed.
struct Run {
    stdout: String,
}

impl Run {
    /// The line that starts with `prefix`, failing the test if there is none.
    fn line(&self, prefix: &str) -> &str {
        self.stdout
            .lines()
            .find(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{}", self.stdout))
    }

    /// Fails the test unless some line contains `text`.
    fn assert_contains(&self, text: &str) {
        assert!(
            self.stdout.contains(text),
            "{text:?} not printed; stdout:\n{}",
            self.stdout
        );
    }
}

/// Runs the example `name`, killing it if it outlives [`BOUND`], and asserts it succeeded.
fn run_example(name: &str) -> Run {
    let path = common::example_path(name);
    let mut child = Command::new(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {}: {error}", path.display()));
    // Read both pipes on their own threads, so a chatty example cannot fill one and stall.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));

    let deadline = Instant::now() + BOUND;
    let status = loop {
        match child.try_wait().expect("wait for the example") {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "example {name} still running after {BOUND:?}; killed. stdout so far:\n{}",
                    stdout.join().unwrap_or_default()
                );
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    assert!(
        status.success(),
        "example {name} failed with {status}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    Run { stdout }
}

#[test]
fn quickstart_calls_the_demo_server_from_4_threads_and_says_which_build_it_timed() {
    let run = run_example("quickstart");
    let connected = run.line("connected to `demo` in ");
    assert!(
        connected.ends_with("it offers 5 tools: add, countdown, divide, echo, word_count"),
        "{connected}"
    );
    run.assert_contains("echo -> hello, MCP");
    let timed = run.line("1000 calls of `add` from 4 threads in ");
    let note = "debug build: timings are not representative; add --release";
    if cfg!(debug_assertions) {
        assert!(timed.ends_with(" calls/s (debug build)"), "{timed}");
        run.assert_contains(note);
    } else {
        assert!(timed.ends_with(" calls/s (release build)"), "{timed}");
        assert!(!run.stdout.contains(note), "{}", run.stdout);
    }
    run.assert_contains("divide(1, 0) -> is_error = Some(true): cannot divide 1 by zero");
    run.line("closed");
}

#[test]
fn plain_threads_makes_40_blocking_calls_from_4_threads_over_one_session() {
    let run = run_example("plain_threads");
    assert_eq!(
        run.line("plain_threads:"),
        "plain_threads: 40 calls from 4 threads OK"
    );
    run.assert_contains("over 1 session");
}

#[test]
fn async_std_app_awaits_calls_and_spawned_tasks_without_tokio() {
    let run = run_example("async_std_app");
    assert_eq!(
        run.line("async_std_app:"),
        "async_std_app: 11 calls OK (8 from spawned tasks), no tokio in the app"
    );
    run.assert_contains("add(2, 3) -> 5");
    run.assert_contains("countdown -> 3, 2, 1, liftoff! after reports [1.0, 2.0, 3.0]");
    run.assert_contains("library threads: 1");
}

#[test]
fn smol_app_gets_results_both_awaited_and_run_by_smol_spawn() {
    let run = run_example("smol_app");
    assert_eq!(
        run.line("smol_app:"),
        "smol_app: 7 results OK (3 awaited on smol, 4 run by smol::spawn)"
    );
    run.assert_contains("(a) awaited on smol: add(2, 3) -> 5");
    run.assert_contains("(b) run by smol::spawn: echo -> hello from smol");
    run.line("(b)'s jobs were polled on smol's threads");
}

#[test]
fn event_loop_gets_every_result_as_a_message_without_blocking_a_frame() {
    let run = run_example("event_loop");
    let summary = run.line("event_loop:");
    assert!(
        summary.starts_with("event_loop: 4 results in ")
            && summary.ends_with("the loop never blocked"),
        "{summary}"
    );
    for result in [
        ": echo -> hi, loop",
        ": add(2, 3) -> 5",
        ": add(5, 10) -> 15",
        ": countdown: 1 (4 of 4)",
        ": countdown -> 4, 3, 2, 1, liftoff!",
        ": closed",
    ] {
        run.assert_contains(result);
    }
}

#[test]
fn tokio_app_runs_on_the_apps_runtime_and_starts_no_library_thread() {
    let run = run_example("tokio_app");
    let summary = run.line("tokio_app:");
    assert!(
        summary.starts_with("tokio_app: 10 calls OK on tokio's workers"),
        "{summary}"
    );
    if std::path::Path::new("/proc/self/task").exists() {
        assert!(
            summary.ends_with("2 tokio workers, 0 library threads"),
            "{summary}"
        );
    }
    run.assert_contains("add(2, 3) -> 5");
}

#[test]
fn tool_belt_lists_each_servers_filtered_tools_and_routes_calls_by_qualified_name() {
    let run = run_example("tool_belt");
    assert_eq!(
        run.line("tool_belt:"),
        r#"tool_belt: 4 tools from 2 servers; math__add({"a":2,"b":3}) -> 5"#
    );
    assert_eq!(
        run.line("tools for the model"),
        "tools for the model (4), one per line:"
    );
    // The functions as an LLM API takes them, one per indented line, with qualified names.
    let add = run
        .stdout
        .lines()
        .find(|line| line.starts_with("  {") && line.contains(r#""name":"math__add""#))
        .unwrap_or_else(|| panic!("no math__add function in:\n{}", run.stdout));
    let function: serde_json::Value = serde_json::from_str(add.trim()).expect("one JSON per line");
    assert_eq!(function["type"], "function");
    assert_eq!(function["function"]["parameters"]["type"], "object");
    run.assert_contains(r#""name":"text__word_count""#);
    // Each of the model's calls comes back as a `tool` message; failures are text for the
    // model too.
    let replies: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .filter_map(|line| line.strip_prefix("reply: "))
        .map(|reply| serde_json::from_str(reply).expect("one JSON object"))
        .collect();
    let contents: Vec<&str> = replies
        .iter()
        .map(|reply| reply["content"].as_str().expect("text content"))
        .collect();
    assert_eq!(
        contents[..3],
        ["5", "4", "error: cannot divide 1 by zero"],
        "{}",
        run.stdout
    );
    assert!(contents[3].contains("math__sqrt"), "{}", contents[3]);
    assert_eq!(replies[0]["role"], "tool");
    assert_eq!(replies[0]["tool_call_id"], "call_1");
}
