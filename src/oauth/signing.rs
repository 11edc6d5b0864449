//! Signing in as part of a connect or a request: the flow runs on a thread of its own (never
//! on a host's loop), bounded by the sign-in timeout plus the connect timeout, and is
//! cancelled when that bound fires or the caller goes away.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{ServerConfig, TransportConfig};
use crate::error::{Error, Result};
use crate::session::hooks::Hooks;

/// Signs in to the HTTP server of `config`, which answered with `challenge`, unless a sign-in
/// completed since `seen`.
pub(crate) async fn sign_in(
    server: &str,
    config: &ServerConfig,
    hooks: &Arc<Hooks>,
    challenge: String,
    seen: u64,
    timeout: Duration,
) -> Result<()> {
    let TransportConfig::Http(http) = &config.transport else {
        return Ok(());
    };
    let (name, http, signing) = (server.to_owned(), http.clone(), hooks.clone());
    let work = move || async move {
        let authorization = &signing.authorization;
        authorization
            .sign_in(&name, &http.url, &http.oauth, &challenge, seen)
            .await
    };
    authorizing(server, config, hooks, timeout, work).await
}

/// Signs in again with more scope after a 403 `insufficient_scope`, unless a sign-in
/// completed since `seen`.
pub(crate) async fn step_up(
    server: &str,
    config: &ServerConfig,
    hooks: &Arc<Hooks>,
    scope: Option<String>,
    seen: u64,
    timeout: Duration,
) -> Result<()> {
    let TransportConfig::Http(http) = &config.transport else {
        return Ok(());
    };
    let (name, url, signing) = (server.to_owned(), http.url.clone(), hooks.clone());
    let work = move || async move {
        let authorization = &signing.authorization;
        authorization
            .step_up(&name, &url, scope.as_deref(), seen)
            .await
    };
    authorizing(server, config, hooks, timeout, work).await
}

/// Runs a sign-in on a thread of its own (never on a host's loop; rmcp's machine-to-machine
/// exchange is not `Send`), bounded by the sign-in timeout plus `timeout` for the exchanges
/// around the user's part.
async fn authorizing<M, F>(
    server: &str,
    config: &ServerConfig,
    hooks: &Hooks,
    timeout: Duration,
    work: M,
) -> Result<()>
where
    M: FnOnce() -> F + Send + 'static,
    F: std::future::Future<Output = Result<()>>,
{
    let bound = hooks.authorization.timeout + timeout;
    let signing_in = crate::runtime::on_own_thread("mcp-dispatch-sign-in", work);
    match crate::runtime::timeout(bound, signing_in).await {
        Some(Some(outcome)) => outcome,
        Some(None) => Err(Error::Panicked {
            server: server.to_owned(),
            message: "signing in panicked".to_owned(),
        }),
        None => Err(Error::AuthorizationFailed {
            server: server.to_owned(),
            url: crate::config::redact_url(&crate::session::connect::http_url(config)),
            error: "sign-in timed out".to_owned(),
            description: Some(format!("no token within {bound:?}")),
        }),
    }
}
