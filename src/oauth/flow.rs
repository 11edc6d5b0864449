//! The authorization code flow with PKCE, on rmcp's `auth` module: discovery from the
//! server's challenge, registration, the host's step, the token exchange.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::transport::AuthClient;
use rmcp::transport::auth::{
    AuthError, AuthorizationManager, AuthorizationMetadata, AuthorizationRequest,
    AuthorizationSession,
};

use super::{DEFAULT_REDIRECT_URI, OAuth, SignIn, SignInRequest};
use crate::error::{Error, Result};
use crate::sync::lock;

/// A client's authorization, kept across its sessions: the host's [`SignIn`], and once signed
/// in, the HTTP client that adds (and refreshes) the access token.
#[derive(Default)]
pub(crate) struct Authorization {
    pub(crate) sign_in: Option<Arc<dyn SignIn>>,
    pub(crate) timeout: Duration,
    authorized: Mutex<Option<AuthClient<reqwest::Client>>>,
}

impl Authorization {
    pub(crate) fn new(sign_in: Option<Arc<dyn SignIn>>, timeout: Duration) -> Authorization {
        Authorization {
            sign_in,
            timeout,
            authorized: Mutex::new(None),
        }
    }

    /// The HTTP client of the last sign-in, if there was one.
    pub(crate) fn client(&self) -> Option<AuthClient<reqwest::Client>> {
        lock(&self.authorized).clone()
    }

    /// Signs in to the server at `url` that answered 401 with `challenge`: discovery,
    /// registration, the host's browser step, and the token exchange. Must run inside the
    /// library's tokio context.
    pub(crate) async fn sign_in(
        &self,
        server: &str,
        url: &str,
        settings: &OAuth,
        challenge: &str,
    ) -> Result<()> {
        let shown_url = crate::config::redact_url(url);
        let failed = |error: AuthError| Error::AuthorizationFailed {
            server: server.to_owned(),
            url: shown_url.clone(),
            error: "sign-in failed".to_owned(),
            description: Some(crate::error::error_chain(&error)),
        };
        let mut manager = AuthorizationManager::new(url).await.map_err(failed)?;
        let resolution = manager
            .resolve_metadata_from_challenge(Some(challenge))
            .await
            .map_err(failed)?;
        if let Some(insecure) = insecure_endpoint(&resolution.metadata) {
            return Err(Error::AuthorizationFailed {
                server: server.to_owned(),
                url: shown_url,
                error: "insecure authorization server".to_owned(),
                description: Some(format!(
                    "{insecure} is neither https nor on this machine (loopback)"
                )),
            });
        }
        manager.set_metadata(resolution.metadata);
        let redirect_uri = settings
            .redirect_uri
            .clone()
            .or_else(|| self.sign_in.as_ref().map(|sign_in| sign_in.redirect_uri()))
            .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_owned());
        let mut request = AuthorizationRequest::new(redirect_uri.clone())
            .with_client_name("mcp-dispatch")
            .with_challenge(challenge);
        request = match &settings.scopes {
            Some(scopes) => request.with_scopes(scopes.clone()),
            None => request.with_initial_scope_selection(),
        };
        if let Some(client_id) = &settings.client_id {
            request = request.with_preregistered_client(client_id.clone());
            if let Some(secret) = &settings.client_secret {
                request = request.with_client_secret(secret.clone());
            }
        }
        if let Some(metadata_url) = &settings.client_metadata_url {
            request = request.with_client_metadata_url(metadata_url.clone());
        }
        let session = AuthorizationSession::new(manager, request)
            .await
            .map_err(|(_, error)| failed(error))?;
        let Some(sign_in) = self.sign_in.clone() else {
            return Err(Error::AuthorizationRequired {
                server: server.to_owned(),
                url: shown_url,
                authorization_url: session.auth_url.clone(),
            });
        };
        let prompt = SignInRequest {
            server: server.to_owned(),
            url: shown_url.clone(),
            authorization_url: session.auth_url.clone(),
            redirect_uri,
        };
        let redirected = ask(sign_in, prompt, self.timeout)
            .await
            .map_err(|message| Error::AuthorizationFailed {
                server: server.to_owned(),
                url: shown_url.clone(),
                error: "sign-in was not completed".to_owned(),
                description: Some(message),
            })?;
        if let Some((error, description)) = redirect_error(&redirected) {
            return Err(Error::AuthorizationFailed {
                server: server.to_owned(),
                url: shown_url,
                error,
                description,
            });
        }
        session
            .handle_callback_url(&redirected)
            .await
            .map_err(failed)?;
        log::info!("mcp-dispatch: server `{server}`: signed in");
        *lock(&self.authorized) = Some(AuthClient::new(
            reqwest::Client::default(),
            session.auth_manager,
        ));
        Ok(())
    }
}

/// Runs the host's sign-in step on a thread of its own, waiting at most `timeout`.
async fn ask(
    sign_in: Arc<dyn SignIn>,
    request: SignInRequest,
    timeout: Duration,
) -> std::result::Result<String, String> {
    let (reply, answer) = futures::channel::oneshot::channel();
    std::thread::Builder::new()
        .name("mcp-dispatch-sign-in".into())
        .spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                sign_in.sign_in(&request)
            }))
            .unwrap_or_else(|payload| {
                Err(format!(
                    "the sign-in step panicked: {}",
                    crate::error::panic_message(&*payload)
                ))
            });
            let _ = reply.send(outcome);
        })
        .map_err(|error| format!("cannot start the sign-in thread: {error}"))?;
    match crate::runtime::timeout(timeout, answer).await {
        Some(Ok(outcome)) => outcome,
        Some(Err(_)) => Err("the sign-in step ended without an answer".to_owned()),
        None => Err(format!("no answer within {timeout:?}")),
    }
}

/// The `error` and `error_description` of a redirect that reports a failed authorization.
fn redirect_error(redirected: &str) -> Option<(String, Option<String>)> {
    let url = url::Url::parse(redirected).ok()?;
    let field = |name: &str| {
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    Some((field("error")?, field("error_description")))
}

/// The first endpoint of `metadata` that is neither https nor on a loopback host.
fn insecure_endpoint(metadata: &AuthorizationMetadata) -> Option<String> {
    [
        Some(&metadata.authorization_endpoint),
        Some(&metadata.token_endpoint),
        metadata.registration_endpoint.as_ref(),
    ]
    .into_iter()
    .flatten()
    .find(|endpoint| !is_secure(endpoint))
    .cloned()
}

fn is_secure(endpoint: &str) -> bool {
    let Ok(url) = url::Url::parse(endpoint) else {
        return false;
    };
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Domain(domain)) => domain == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_https_or_loopback() {
        assert!(is_secure("https://auth.example.com/token"));
        assert!(is_secure("http://localhost:8080/token"));
        assert!(is_secure("http://127.0.0.1:8080/token"));
        assert!(is_secure("http://[::1]:8080/token"));
        assert!(!is_secure("http://auth.example.com/token"));
        assert!(!is_secure("http://10.0.0.1/token"));
        assert!(!is_secure("ftp://localhost/token"));
        assert!(!is_secure("not a url"));
    }

    #[test]
    fn a_redirect_with_an_error_is_read_as_one() {
        assert_eq!(
            redirect_error(
                "http://localhost/callback?error=access_denied&error_description=user+said+no&state=x"
            ),
            Some(("access_denied".to_owned(), Some("user said no".to_owned())))
        );
        assert_eq!(
            redirect_error("http://localhost/callback?code=abc&state=x"),
            None
        );
    }

    #[test]
    fn the_secret_stays_out_of_debug_output() {
        let settings = OAuth::new().client_id("app").client_secret("hunter2");
        let shown = format!("{settings:?}");
        assert!(shown.contains("app"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
