//! No authorization code, token, client secret or URL query reaches a `log` logger the host
//! installs, at any level: signing in, refreshing, and failing to connect.
//!
//! One test: a process has one `log` logger.

mod common;

use std::sync::Mutex;

use common::HttpServer;
use common::browser::follow_redirect;
use mcp_dispatch::{Client, FileCredentialStore, OAuth, ServerConfig, SignInRequest};
use serde_json::json;

struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {} {}", record.level(), record.target(), record.args());
        self.0.lock().unwrap().push(line);
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

const ID_TOKEN: &str = "id-token-marker-7f3a";
const QUERY: &str = "query-marker-91c2";

#[test]
fn no_code_token_secret_or_query_reaches_a_trace_logger() {
    log::set_logger(&CAPTURE).expect("the only logger of this test binary");
    log::set_max_level(log::LevelFilter::Trace);

    let server = HttpServer::start(
        "127.0.0.1:0",
        &[
            ("MCP_TEST_OAUTH", "1"),
            ("MCP_TEST_OAUTH_ID_TOKEN", ID_TOKEN),
            // Tokens that expire at once: the second call refreshes.
            ("MCP_TEST_OAUTH_EXPIRES_IN", "0"),
        ],
    );
    let url = format!("{}?key={QUERY}", server.url);
    let folder = common::temp_dir("secrets-in-logs");
    let redirects = std::sync::Arc::new(Mutex::new(Vec::new()));
    let seen = redirects.clone();
    let client = Client::builder(ServerConfig::http(url.as_str()).name("signed"))
        .sign_in(move |request: &SignInRequest| {
            let redirected = follow_redirect(request)?;
            seen.lock().unwrap().push(redirected.clone());
            Ok(redirected)
        })
        .credential_store(FileCredentialStore::new(&folder))
        .build();
    for text in ["one", "two"] {
        let echo = client
            .call_tool_blocking("echo", json!({ "text": text }))
            .unwrap();
        assert_eq!(common::text(&echo), text);
    }
    client.close_blocking().unwrap();

    let machine = Client::new(
        ServerConfig::http(server.url.as_str())
            .name("machine")
            .oauth(OAuth::client_credentials("machine", "s3cret")),
    );
    machine.list_tools_blocking().unwrap();
    machine.close_blocking().unwrap();

    let unreachable = Client::new(
        ServerConfig::http(format!("http://127.0.0.1:1/mcp?key={QUERY}")).name("unreachable"),
    );
    unreachable.list_tools_blocking().unwrap_err();

    // What the sign-in produced and kept.
    let redirected = redirects.lock().unwrap().clone();
    assert_eq!(redirected.len(), 1, "one sign-in");
    let code = url::Url::parse(&redirected[0])
        .unwrap()
        .query_pairs()
        .find(|(key, _)| key == "code")
        .map(|(_, code)| code.into_owned())
        .unwrap();
    let kept: Vec<serde_json::Value> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()))
        .collect::<Result<_, _>>()
        .unwrap();
    let mut secrets = vec![
        code,
        ID_TOKEN.to_owned(),
        QUERY.to_owned(),
        "s3cret".to_owned(),
    ];
    let text = serde_json::to_string(&kept).unwrap();
    for field in ["access_token", "refresh_token"] {
        let value = find(&kept, field);
        assert!(value.len() > 4, "{field} in {text}");
        secrets.push(value);
    }

    let records = CAPTURE.0.lock().unwrap().clone();
    assert!(
        records
            .iter()
            .any(|line| line.contains("server `signed`: connected")),
        "the logger captured the library's lines: {records:#?}"
    );
    for secret in &secrets {
        let leaks: Vec<_> = records
            .iter()
            .filter(|line| line.contains(secret))
            .collect();
        assert!(leaks.is_empty(), "`{secret}` reached the log: {leaks:#?}");
    }
}

/// The string at the first `field` anywhere in `values`.
fn find(values: &[serde_json::Value], field: &str) -> String {
    fn walk(value: &serde_json::Value, field: &str) -> Option<String> {
        match value {
            serde_json::Value::Object(map) => map
                .get(field)
                .and_then(|found| found.as_str().map(str::to_owned))
                .or_else(|| map.values().find_map(|inner| walk(inner, field))),
            serde_json::Value::Array(items) => items.iter().find_map(|inner| walk(inner, field)),
            _ => None,
        }
    }
    values
        .iter()
        .find_map(|value| walk(value, field))
        .unwrap_or_default()
}
