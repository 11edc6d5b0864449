//! The `mcp` command-line example: list and call through a config file.

mod common;

use std::process::Command;

fn config_file(dir: &std::path::Path) -> std::path::PathBuf {
    let config = serde_json::json!({
        "mcpServers": {
            "test": { "command": common::server_path(), "args": [] },
            "missing": { "command": "/nonexistent/mcp-server" }
        }
    });
    let path = dir.join("mcp.json");
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    path
}

fn mcp(args: &[&str]) -> std::process::Output {
    Command::new(common::example_path("mcp"))
        .args(args)
        .output()
        .expect("run the mcp example")
}

#[test]
fn list_prints_every_tool_with_its_qualified_name_and_reports_broken_servers() {
    let dir = common::temp_dir("cli-list");
    let config = config_file(&dir);
    let output = mcp(&["--config", config.to_str().unwrap(), "list"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.lines().any(|line| line.starts_with("test__echo\t")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|line| line.starts_with("test__add\t")),
        "{stdout}"
    );
    assert!(
        stderr.contains("missing"),
        "the broken server is named: {stderr}"
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn call_prints_the_result_and_fails_with_a_message_on_errors() {
    let dir = common::temp_dir("cli-call");
    let config = config_file(&dir);
    let config = config.to_str().unwrap();

    let output = mcp(&[
        "--config",
        config,
        "call",
        "test__add",
        r#"{"a": 2, "b": 40}"#,
    ]);
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "42");
    assert!(output.status.success());

    let output = mcp(&[
        "--config",
        config,
        "call",
        "test__fail",
        r#"{"message": "boom"}"#,
    ]);
    assert_eq!(String::from_utf8_lossy(&output.stderr).trim(), "boom");
    assert_eq!(output.status.code(), Some(1));

    let output = mcp(&["--config", config, "call", "test__nope", "{}"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("test__nope"));
    assert_eq!(output.status.code(), Some(1));

    let output = mcp(&["--config", config, "call", "test__echo", "not json"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("not valid JSON"));
    assert_eq!(output.status.code(), Some(2));

    let output = mcp(&["--config", "/nonexistent/mcp.json", "list"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/mcp.json"));
    assert_eq!(output.status.code(), Some(2));

    let output = mcp(&["list"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage"));
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn the_sample_config_runs_the_demo_server_from_the_crate_root() {
    // `examples/mcp.json` starts the demo server with `cargo run --example demo_server`.
    // Built here first, so that its `cargo run` finds it up to date and starts at once.
    common::example_path("demo_server");
    let run = |args: &[&str]| {
        let child = Command::new(common::example_path("mcp"))
            .args(["--config", "examples/mcp.json"])
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run the mcp example");
        finish(child, std::time::Duration::from_secs(120))
    };

    let output = run(&["list"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let names: Vec<&str> = stdout
        .lines()
        .map(|line| line.split('\t').next().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "demo__add",
            "demo__countdown",
            "demo__divide",
            "demo__echo",
            "demo__word_count"
        ],
        "{stdout}{stderr}"
    );
    assert!(stdout.contains("demo__add\tAdds two numbers"), "{stdout}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");

    let output = run(&["call", "demo__add", r#"{"a": 2, "b": 3}"#]);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "5",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn help_prints_the_usage_to_stdout_and_succeeds() {
    for flag in ["--help", "-h"] {
        let output = mcp(&[flag]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.starts_with("usage: mcp --config FILE"), "{stdout}");
        assert!(stdout.contains("logout SERVER"), "{stdout}");
        assert!(output.stderr.is_empty(), "{output:?}");
        assert_eq!(output.status.code(), Some(0));
    }
}

/// Runs `mcp` to its end, failing the test if it takes longer than `bound`.
fn finish(mut child: std::process::Child, bound: std::time::Duration) -> std::process::Output {
    let deadline = std::time::Instant::now() + bound;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "mcp ran longer than {bound:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn login_signs_in_through_the_browser_and_later_runs_reuse_the_kept_sign_in() {
    use std::io::BufRead as _;
    use std::process::Stdio;
    use std::time::Duration;

    let server = common::HttpServer::start("127.0.0.1:0", &[("MCP_TEST_OAUTH", "1")]);
    let dir = common::temp_dir("cli-login");
    let config = dir.join("mcp.json");
    let servers = serde_json::json!({
        "mcpServers": { "remote": { "type": "http", "url": server.url } }
    });
    std::fs::write(&config, servers.to_string()).unwrap();
    let config = config.to_str().unwrap();
    let sign_ins = dir.join("sign-ins");
    let sign_ins = sign_ins.to_str().unwrap();
    let run = |args: &[&str]| {
        Command::new(common::example_path("mcp"))
            .args(["--config", config, "--sign-ins", sign_ins])
            .args(args)
            // Set but empty, as `BROWSER= mcp ...` leaves it: no browser, as when unset.
            .env("BROWSER", "")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the mcp example")
    };

    // `login` prints where to sign in; the test is the user's browser.
    let mut login = run(&["login", "remote"]);
    let mut stderr = std::io::BufReader::new(login.stderr.take().unwrap());
    let mut shown = String::new();
    let authorization_url = loop {
        let mut line = String::new();
        assert_ne!(
            stderr.read_line(&mut line).unwrap(),
            0,
            "no address: {shown}"
        );
        shown.push_str(&line);
        if line.starts_with("http://") {
            break line.trim().to_owned();
        }
    };
    assert!(
        shown.contains("server `remote` requires sign-in"),
        "{shown}"
    );
    let request = mcp_dispatch::SignInRequest::new("remote", &server.url, authorization_url, "");
    assert_eq!(
        common::browser::visit(&request).unwrap(),
        "HTTP/1.1 200 OK",
        "the loopback listener took the redirect"
    );
    let output = finish(login, Duration::from_secs(60));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(output.status.code(), Some(0), "{rest}");
    assert!(rest.contains("signed in to `remote`"), "{rest}");
    let kept = mcp_dispatch::FileCredentialStore::new(sign_ins).path("remote");
    assert!(kept.exists());

    // A later run: no sign-in (the server counts one authorization and one token).
    let output = finish(
        run(&["call", "remote__authorizations"]),
        Duration::from_secs(60),
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "1 1 0",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(0));

    let output = finish(run(&["logout", "remote"]), Duration::from_secs(60));
    assert!(String::from_utf8_lossy(&output.stderr).contains("signed out of `remote`"));
    assert_eq!(output.status.code(), Some(0));
    assert!(!kept.exists());

    let output = finish(run(&["login", "nowhere"]), Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no server `nowhere`"), "{stderr}");
    assert_eq!(output.status.code(), Some(2));
}
