//! The test server's OAuth mode for the sign-in tests: starting it, reading its counters, a
//! browser step that counts how often it was asked, and folders for credential stores.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcp_dispatch::{Client, SignInRequest};
use serde_json::json;

use super::HttpServer;
use super::browser::follow_redirect;

/// The test server with its own authorization server (`MCP_TEST_OAUTH=1`).
pub fn oauth_server() -> HttpServer {
    HttpServer::start("127.0.0.1:0", &[("MCP_TEST_OAUTH", "1")])
}

/// The server's counts of authorization requests and tokens issued.
pub fn authorizations(client: &Client) -> (u64, u64) {
    let (authorizations, tokens, _) = counts(client);
    (authorizations, tokens)
}

/// The server's counts of authorization requests, tokens issued and refreshes.
pub fn counts(client: &Client) -> (u64, u64, u64) {
    let counts = super::text(
        &client
            .call_tool_blocking("authorizations", json!({}))
            .unwrap(),
    );
    let counts: Vec<u64> = counts
        .split(' ')
        .map(|count| count.parse().unwrap())
        .collect();
    (counts[0], counts[1], counts[2])
}

/// A sign-in step that approves at once, counting how often it was asked.
pub fn counting_browser(
    asked: Arc<AtomicUsize>,
) -> impl Fn(&SignInRequest) -> Result<String, String> + Send + Sync + 'static {
    move |request: &SignInRequest| {
        asked.fetch_add(1, Ordering::SeqCst);
        follow_redirect(request)
    }
}

/// An empty folder of this test's own for a credential store (which creates it).
pub fn store_folder(test: &str) -> std::path::PathBuf {
    let folder = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sign-ins-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    folder
}
