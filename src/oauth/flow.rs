//! The authorization code flow with PKCE, on rmcp's `auth` module: discovery from the
//! server's challenge, registration, the host's step, the token exchange.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::transport::AuthClient;
use rmcp::transport::auth::{
    AuthError, AuthorizationCallback, AuthorizationManager, AuthorizationMetadata,
    AuthorizationRequest, AuthorizationSession, ClientCredentialsConfig, CredentialStore as _,
    InMemoryCredentialStore, JwtSigningAlgorithm, OAuthClientConfig, OAuthTokenResponse,
    StoredCredentials,
};

use super::{
    CredentialStore, DEFAULT_REDIRECT_URI, EnterpriseLogin, Grant, Kept, OAuth, SignIn,
    SignInRequest,
};
use crate::error::{Error, Result};
use crate::runtime::sync::lock;

/// A client's authorization, kept across its sessions: the host's [`SignIn`], and the HTTP
/// client that adds (and refreshes) the access token once there is one.
pub(crate) struct Authorization {
    pub(crate) sign_in: Option<Arc<dyn SignIn>>,
    pub(crate) timeout: Duration,
    /// Every request of every session goes through it; a sign-in swaps the manager inside.
    client: Mutex<Option<AuthClient<reqwest::Client>>>,
    /// Bumped by every sign-in and step-up, so that callers refused with the same token
    /// cause one sign-in, not one each.
    generation: AtomicU64,
    /// One sign-in or step-up at a time. Not the crate's `SingleFlight`: waiters do not
    /// share the outcome of the one in flight. A waiter that finds `generation` moved on
    /// tries its request again with the new token. A waiter whose token was refused after
    /// that sign-in (a step-up for another scope) needs a sign-in of its own.
    flight: futures::lock::Mutex<()>,
    /// This authorization, among every client's: marks the thread of its sign-in step.
    id: u64,
    /// The redirect URI of the last sign-in, which a step-up must use again.
    redirect_uri: Mutex<Option<String>>,
    /// Where sign-ins are kept between runs, if anywhere.
    store: Option<Arc<dyn CredentialStore>>,
    /// This server's sign-in in `store`, once the first session has looked for it.
    kept: Mutex<Option<Kept>>,
}

/// The source of [`Authorization`] ids.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The authorization whose sign-in step this thread runs.
    static STEP_OF: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// What a server's 401 or 403 asks for.
pub(crate) enum Challenge {
    /// A token (or a new one): sign in.
    SignIn(String),
    /// A token with more scope: step up to `scope`.
    StepUp { scope: Option<String> },
}

impl Challenge {
    /// The challenge behind a request's failure, if it was refused for want of a token or
    /// of scope.
    pub(crate) fn of(error: &rmcp::service::ServiceError) -> Option<Challenge> {
        let header = error.auth_challenge()?;
        if error.is_authorization_required() {
            return Some(Challenge::SignIn(header.to_owned()));
        }
        let base = url::Url::parse("http://localhost/").ok()?;
        let params = rmcp::transport::auth::WWWAuthenticateParams::parse(header, &base);
        let insufficient = params.is_insufficient_scope();
        insufficient.then_some(Challenge::StepUp {
            scope: params.scope,
        })
    }
}

impl Authorization {
    pub(crate) fn new(
        sign_in: Option<Arc<dyn SignIn>>,
        timeout: Duration,
        store: Option<Arc<dyn CredentialStore>>,
    ) -> Authorization {
        Authorization {
            sign_in,
            timeout,
            client: Mutex::new(None),
            generation: AtomicU64::new(0),
            flight: futures::lock::Mutex::new(()),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            redirect_uri: Mutex::new(None),
            store,
            kept: Mutex::new(None),
        }
    }

    /// True on the thread that runs this authorization's sign-in step.
    pub(crate) fn step_runs_here(&self) -> bool {
        STEP_OF.with(|step| step.get() == Some(self.id))
    }

    /// `server`'s sign-in in the host's store, if it has one.
    fn kept(&self, server: &str, url: &str) -> Option<Kept> {
        let store = self.store.clone()?;
        Some(
            lock(&self.kept)
                .get_or_insert_with(|| Kept::new(server, url, store))
                .clone(),
        )
    }

    /// The right to sign in, one caller at a time; `None` if a sign-in or step-up completed
    /// since `seen`, so that the caller only has to try again with the new token.
    async fn exclusive(&self, seen: u64) -> Option<futures::lock::MutexGuard<'_, ()>> {
        let flight = self.flight.lock().await;
        (self.generation() == seen).then_some(flight)
    }

    /// How many sign-ins and step-ups have completed.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The HTTP client for `url`'s sessions, made on first use, with the token kept from an
    /// earlier run if the host's store has one. Must run inside the library's tokio context.
    pub(crate) async fn client(
        &self,
        server: &str,
        url: &str,
        settings: &OAuth,
    ) -> Option<AuthClient<reqwest::Client>> {
        if let Some(client) = lock(&self.client).clone() {
            return Some(client);
        }
        let mut manager = AuthorizationManager::new(url).await.ok()?;
        if let Some(kept) = self.kept(server, url) {
            self.restore(server, &kept, &mut manager, settings).await;
            manager.set_credential_store(kept);
        }
        let client = AuthClient::new(http_client(), manager);
        Some(lock(&self.client).get_or_insert(client).clone())
    }

    /// Sets `manager` up with the sign-in `kept` from an earlier run, so that its token is
    /// sent, and refreshed when it expires, with no discovery. A sign-in for another client
    /// id than `settings` names is not used.
    async fn restore(
        &self,
        server: &str,
        kept: &Kept,
        manager: &mut AuthorizationManager,
        settings: &OAuth,
    ) {
        let Some(record) = kept.restore().await else {
            return;
        };
        let client_id = record.credentials.client_id.clone();
        if settings
            .client_id
            .as_ref()
            .is_some_and(|wanted| *wanted != client_id)
        {
            log::info!(
                "mcp-dispatch: server `{server}`: kept sign-in is for another client id, not used"
            );
            kept.forget();
            return;
        }
        let Some(metadata) = record.metadata else {
            kept.forget();
            return;
        };
        manager.set_metadata(metadata);
        let redirect_uri = record
            .redirect_uri
            .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_owned());
        let mut config = OAuthClientConfig::new(client_id, redirect_uri.clone());
        if let Some(secret) = &settings.client_secret {
            config = config.with_client_secret(secret.clone());
        }
        match manager.configure_client(config) {
            Ok(()) => {
                *lock(&self.redirect_uri) = Some(redirect_uri);
                log::info!("mcp-dispatch: server `{server}`: using the kept sign-in");
            }
            Err(error) => {
                kept.forget();
                log::warn!(
                    "mcp-dispatch: server `{server}`: kept sign-in not used: {}",
                    crate::error::error_chain(&error)
                );
            }
        }
    }

    /// Steps up to `scope` after a 403 `insufficient_scope`, unless a sign-in or step-up
    /// completed since `seen` (then the caller just tries again). Must run inside the
    /// library's tokio context.
    pub(crate) async fn step_up(
        &self,
        server: &str,
        url: &str,
        scope: Option<&str>,
        seen: u64,
    ) -> Result<()> {
        let Some(_flight) = self.exclusive(seen).await else {
            return Ok(());
        };
        let shown_url = crate::config::redact_url(url);
        let failed = |error: AuthError| refused(server, &shown_url, &error);
        let Some(client) = lock(&self.client).clone() else {
            return Err(insufficient(server, &shown_url, scope));
        };
        let authorization_url = {
            let manager = client.auth_manager.lock().await;
            manager
                .request_scope_upgrade(scope.unwrap_or(""))
                .await
                .map_err(failed)?
        };
        let redirect_uri = lock(&self.redirect_uri)
            .clone()
            .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_owned());
        let redirected = self
            .ask_user(server, &shown_url, authorization_url, redirect_uri)
            .await?;
        let callback = AuthorizationCallback::from_redirect_url(&redirected).map_err(failed)?;
        {
            let manager = client.auth_manager.lock().await;
            manager
                .exchange_code_for_token_with_issuer(
                    &callback.code,
                    &callback.csrf_token,
                    callback.issuer.as_deref(),
                )
                .await
                .map_err(failed)?;
        }
        log::info!("mcp-dispatch: server `{server}`: signed in with more scope");
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Has the user sign in at `authorization_url` through the host's step, and checks the
    /// redirect for an error. Without a step, the caller gets
    /// [`Error::AuthorizationRequired`].
    async fn ask_user(
        &self,
        server: &str,
        shown_url: &str,
        authorization_url: String,
        redirect_uri: String,
    ) -> Result<String> {
        let Some(sign_in) = self.sign_in.clone() else {
            return Err(Error::AuthorizationRequired {
                server: server.to_owned(),
                url: shown_url.to_owned(),
                authorization_url,
            });
        };
        let prompt = SignInRequest::new(server, shown_url, authorization_url, redirect_uri);
        let redirected = ask(sign_in, prompt, self.timeout, self.id)
            .await
            .map_err(|message| Error::AuthorizationFailed {
                server: server.to_owned(),
                url: shown_url.to_owned(),
                error: "sign-in was not completed".to_owned(),
                description: Some(message),
            })?;
        if let Some((error, description)) = redirect_error(&redirected) {
            return Err(Error::AuthorizationFailed {
                server: server.to_owned(),
                url: shown_url.to_owned(),
                error,
                description,
            });
        }
        Ok(redirected)
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
        seen: u64,
    ) -> Result<()> {
        let Some(_flight) = self.exclusive(seen).await else {
            return Ok(());
        };
        if self.refreshed(server).await {
            return Ok(());
        }
        let shown_url = crate::config::redact_url(url);
        let failed = |error: AuthError| refused(server, &shown_url, &error);
        let mut manager = AuthorizationManager::new(url).await.map_err(failed)?;
        let kept = self.kept(server, url);
        let machine =
            machine_credentials(settings, url).map_err(|message| Error::AuthorizationFailed {
                server: server.to_owned(),
                url: shown_url.clone(),
                error: "bad client credentials".to_owned(),
                description: Some(message),
            })?;
        let metadata = match &settings.authorization_server_metadata_url {
            Some(configured) => configured_metadata(configured).await.map_err(|error| {
                Error::AuthorizationFailed {
                    server: server.to_owned(),
                    url: shown_url.clone(),
                    error: "discovery failed".to_owned(),
                    description: Some(error),
                }
            })?,
            None => match manager
                .resolve_metadata_from_challenge(Some(challenge))
                .await
            {
                Ok(resolution) => resolution.metadata,
                Err(error @ AuthError::AuthorizationServerMismatch { .. }) => {
                    own_metadata(url, challenge)
                        .await
                        .ok_or_else(|| failed(error))?
                }
                Err(error) => return Err(failed(error)),
            },
        };
        if let Some(insecure) = insecure_endpoint(&metadata) {
            return Err(Error::AuthorizationFailed {
                server: server.to_owned(),
                url: shown_url,
                error: "insecure authorization server".to_owned(),
                description: Some(format!(
                    "{insecure} is neither https nor on this machine (loopback)"
                )),
            });
        }
        if let Grant::Enterprise(login) = &settings.grant {
            let token = enterprise_token(settings, login, url, &metadata)
                .await
                .map_err(|error| Error::AuthorizationFailed {
                    server: server.to_owned(),
                    url: shown_url.clone(),
                    error: "identity assertion refused".to_owned(),
                    description: Some(error),
                })?;
            match kept {
                Some(kept) => {
                    kept.set_context(None, Some(metadata.clone()));
                    kept.save(token).await.map_err(failed)?;
                    manager.set_credential_store(kept);
                }
                None => {
                    let store = InMemoryCredentialStore::new();
                    store.save(token).await.map_err(failed)?;
                    manager.set_credential_store(store);
                }
            }
            manager.set_metadata(metadata);
            let client_id = settings.client_id.clone().unwrap_or_default();
            manager.configure_client_id(&client_id).map_err(failed)?;
            log::info!("mcp-dispatch: server `{server}`: signed in with an identity assertion");
            return self.authorized(manager).await;
        }
        // Asked once: a loopback sign-in step binds its port for it.
        let redirect_uri = machine.is_none().then(|| {
            settings
                .redirect_uri
                .clone()
                .or_else(|| self.sign_in.as_ref().map(|sign_in| sign_in.redirect_uri()))
                .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_owned())
        });
        if let Some(kept) = kept {
            kept.set_context(redirect_uri.clone(), Some(metadata.clone()));
            manager.set_credential_store(kept);
        }
        manager.set_metadata(metadata);
        if let Some(credentials) = machine {
            manager
                .validate_client_credentials_metadata(&credentials)
                .map_err(failed)?;
            manager
                .configure_client_credentials(&credentials)
                .map_err(failed)?;
            manager
                .exchange_client_credentials(&credentials)
                .await
                .map_err(failed)?;
            log::info!("mcp-dispatch: server `{server}`: signed in with client credentials");
            return self.authorized(manager).await;
        }
        let redirect_uri = redirect_uri.unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_owned());
        let mut request = AuthorizationRequest::new(redirect_uri.clone())
            .with_client_name("mcp-dispatch")
            .with_application_type(application_type(&redirect_uri))
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
        let redirected = self
            .ask_user(
                server,
                &shown_url,
                session.auth_url.clone(),
                redirect_uri.clone(),
            )
            .await?;
        session
            .handle_callback_url(&redirected)
            .await
            .map_err(failed)?;
        log::info!("mcp-dispatch: server `{server}`: signed in");
        *lock(&self.redirect_uri) = Some(redirect_uri);
        self.authorized(session.auth_manager).await
    }

    /// Whether the token that was refused could be refreshed, which spares the user a
    /// sign-in: the server may have revoked the access token but not the refresh token.
    async fn refreshed(&self, server: &str) -> bool {
        let Some(client) = lock(&self.client).clone() else {
            return false;
        };
        let manager = client.auth_manager.lock().await;
        match manager.refresh_token().await {
            Ok(_) => {
                log::info!("mcp-dispatch: server `{server}`: token refused, refreshed it");
                self.generation.fetch_add(1, Ordering::AcqRel);
                true
            }
            // No token, no refresh token, or no client yet: nothing to refresh.
            Err(AuthError::AuthorizationRequired | AuthError::InternalError(_)) => false,
            Err(error) => {
                log::info!(
                    "mcp-dispatch: server `{server}`: token refused and not refreshed ({}); \
                     signing in again",
                    crate::error::error_chain(&error)
                );
                false
            }
        }
    }

    /// Makes `manager`, which holds a token, the one every session's requests go through.
    async fn authorized(&self, manager: AuthorizationManager) -> Result<()> {
        let client = lock(&self.client).clone();
        match client {
            // Sessions already use this client: the token reaches them too.
            Some(client) => *client.auth_manager.lock().await = manager,
            None => {
                let client = AuthClient::new(http_client(), manager);
                *lock(&self.client) = Some(client);
            }
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }
}

/// The client credentials of a machine-to-machine `settings`, for the server at `url`; `None`
/// when a user signs in.
fn machine_credentials(
    settings: &OAuth,
    url: &str,
) -> std::result::Result<Option<ClientCredentialsConfig>, String> {
    let client_id = settings.client_id.clone().unwrap_or_default();
    let scopes = settings.scopes.clone().unwrap_or_default();
    let resource = Some(url.to_owned());
    Ok(Some(match &settings.grant {
        Grant::AuthorizationCode | Grant::Enterprise(_) => return Ok(None),
        Grant::ClientSecret => ClientCredentialsConfig::ClientSecret {
            client_id,
            client_secret: settings.client_secret.clone().unwrap_or_default(),
            scopes,
            resource,
        },
        Grant::PrivateKeyJwt { key, algorithm } => ClientCredentialsConfig::PrivateKeyJwt {
            client_id,
            signing_key: key.clone().into_bytes(),
            signing_algorithm: match algorithm.to_ascii_uppercase().as_str() {
                "RS256" => JwtSigningAlgorithm::RS256,
                "RS384" => JwtSigningAlgorithm::RS384,
                "RS512" => JwtSigningAlgorithm::RS512,
                "ES256" => JwtSigningAlgorithm::ES256,
                "ES384" => JwtSigningAlgorithm::ES384,
                other => {
                    return Err(format!(
                        "`{other}` is not a supported signing algorithm \
                         (RS256, RS384, RS512, ES256, ES384)"
                    ));
                }
            },
            token_endpoint_audience: None,
            scopes,
            resource,
        },
    }))
}

/// The authorization server metadata at the `configured` URL, which must be https or on
/// loopback.
async fn configured_metadata(
    configured: &str,
) -> std::result::Result<AuthorizationMetadata, String> {
    if !is_secure(configured) {
        return Err(format!(
            "{configured} is neither https nor on this machine (loopback)"
        ));
    }
    let (status, body) = fetch(&discovery_client(), configured).await?;
    if !status.is_success() {
        return Err(format!("{configured} answered {status}"));
    }
    serde_json::from_slice(&body)
        .map_err(|error| format!("{configured} is not authorization server metadata: {error}"))
}

/// The metadata of a server that is its own authorization server, as the 2025-03-26 protocol
/// has it: no protected-resource metadata anywhere, and the authorization server's metadata at
/// the server's own origin, with every endpoint on that origin. Under those rules the metadata
/// named no issuer to check, so an issuer that differs from where it is served is accepted
/// there, and only there.
async fn own_metadata(url: &str, challenge: &str) -> Option<AuthorizationMetadata> {
    let server = url::Url::parse(url).ok()?;
    let params = rmcp::transport::auth::WWWAuthenticateParams::parse(challenge, &server);
    if params.resource_metadata_url.is_some() {
        return None;
    }
    let origin = server.origin().ascii_serialization();
    let client = discovery_client();
    let path = server.path().trim_end_matches('/');
    for resource_metadata in [
        format!("{origin}/.well-known/oauth-protected-resource{path}"),
        format!("{origin}/.well-known/oauth-protected-resource"),
    ] {
        let (status, _) = fetch(&client, &resource_metadata).await.ok()?;
        if status.is_success() {
            return None;
        }
    }
    let (status, body) = fetch(
        &client,
        &format!("{origin}/.well-known/oauth-authorization-server"),
    )
    .await
    .ok()?;
    if !status.is_success() {
        return None;
    }
    let metadata: AuthorizationMetadata = serde_json::from_slice(&body).ok()?;
    let same_origin = |endpoint: &str| {
        url::Url::parse(endpoint).is_ok_and(|endpoint| endpoint.origin() == server.origin())
    };
    let endpoints_here = same_origin(&metadata.authorization_endpoint)
        && same_origin(&metadata.token_endpoint)
        && metadata
            .registration_endpoint
            .as_deref()
            .is_none_or(same_origin);
    endpoints_here.then_some(metadata)
}

/// How long one discovery request the library makes itself may take, body and all (as
/// rmcp bounds its own).
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest discovery answer read (as rmcp bounds its own).
const MAX_DISCOVERY_BODY: usize = 1024 * 1024;

/// The HTTP client for the metadata the library fetches itself: [`http_client`]'s redirect
/// rules, and each request bounded in time, body included.
fn discovery_client() -> reqwest::Client {
    client_builder()
        .timeout(DISCOVERY_TIMEOUT)
        .build()
        .unwrap_or_default()
}

/// A `GET` of `url` accepting JSON: the status and at most [`MAX_DISCOVERY_BODY`] bytes of
/// body. A longer body is an error, read no further than the bound.
async fn fetch(
    client: &reqwest::Client,
    url: &str,
) -> std::result::Result<(reqwest::StatusCode, Vec<u8>), String> {
    let shown = crate::config::redact_url(url);
    let mut answer = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|error| format!("cannot fetch {shown}: {}", error.without_url()))?;
    let status = answer.status();
    let mut body = Vec::new();
    while let Some(chunk) = answer
        .chunk()
        .await
        .map_err(|error| format!("cannot read {shown}: {}", error.without_url()))?
    {
        if chunk.len() > MAX_DISCOVERY_BODY - body.len() {
            return Err(format!(
                "{shown} answered with more than {MAX_DISCOVERY_BODY} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body))
}

/// The HTTP client of sessions, set up as rmcp sets up its own: no idle connections kept (a
/// reused one stalls on delayed ACKs, or is dead after a server restart), and redirects
/// followed only within the origin, and only those that keep the request's method and body.
fn http_client() -> reqwest::Client {
    client_builder().build().unwrap_or_default()
}

/// The settings [`http_client`] and [`discovery_client`] share.
fn client_builder() -> reqwest::ClientBuilder {
    const MAX_REDIRECTS: usize = 10;
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let keeps_body = matches!(
            attempt.status(),
            reqwest::StatusCode::TEMPORARY_REDIRECT | reqwest::StatusCode::PERMANENT_REDIRECT
        );
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|original| original.origin() == attempt.url().origin());
        if !keeps_body || !same_origin {
            attempt.stop()
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .redirect(policy)
}

/// The error for a sign-in that `error` stopped.
fn refused(server: &str, shown_url: &str, error: &AuthError) -> Error {
    Error::AuthorizationFailed {
        server: server.to_owned(),
        url: shown_url.to_owned(),
        error: stage(error).to_owned(),
        description: Some(crate::error::error_chain(error)),
    }
}

/// Which step of signing in `error` stopped.
fn stage(error: &AuthError) -> &'static str {
    match error {
        AuthError::TokenExchangeFailed(_) | AuthError::ClientCredentialsError(_) => {
            "token exchange refused"
        }
        AuthError::RegistrationFailed(_) => "registration refused",
        AuthError::MetadataError(_)
        | AuthError::ProtectedResourceMetadataInvalid { .. }
        | AuthError::AuthorizationServersUnavailable { .. }
        | AuthError::AuthorizationServerMismatch { .. }
        | AuthError::AuthorizationServerMissingIssuer { .. } => "discovery failed",
        _ => "authorization failed",
    }
}

/// The token of an enterprise-managed sign-in: the identity provider exchanges the user's ID
/// token for an identity assertion, which the server's authorization server (`metadata`)
/// exchanges for a token bound to `url`.
async fn enterprise_token(
    settings: &OAuth,
    login: &EnterpriseLogin,
    url: &str,
    metadata: &AuthorizationMetadata,
) -> std::result::Result<StoredCredentials, String> {
    use rmcp::transport::auth::enterprise::{
        EmaAuthorizationServer, EmaClientAuthentication, EmaExchangeRequest,
    };

    let secret = |secret: &str| serde_json::from_value(serde_json::Value::from(secret));
    let client_id = settings.client_id.clone().unwrap_or_default();
    let client_secret = secret(settings.client_secret.as_deref().unwrap_or_default())
        .map_err(|error| error.to_string())?;
    let issuer = metadata
        .issuer
        .clone()
        .ok_or("the authorization server's metadata names no issuer")?;
    let identity_provider =
        EmaAuthorizationServer::new(&login.issuer, &login.token_endpoint, &login.client_id);
    let authorization_server =
        EmaAuthorizationServer::new(issuer, &metadata.token_endpoint, &client_id)
            .with_client_authentication(EmaClientAuthentication::ClientSecretBasic(client_secret));
    let http = rmcp::transport::auth::default_oauth_http_client().map_err(|e| e.to_string())?;
    let token = EmaExchangeRequest::new_with_id_token(
        identity_provider,
        authorization_server,
        url,
        &login.id_token,
    )
    .exchange(&http, &http)
    .await
    .map_err(|error| error.to_string())?;
    let mut response = serde_json::json!({
        "access_token": token.access_token.secret(),
        "token_type": "bearer",
    });
    if let Some(expires_in) = token.expires_in {
        response["expires_in"] = expires_in.as_secs().into();
    }
    let response: OAuthTokenResponse =
        serde_json::from_value(response).map_err(|error| error.to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .ok();
    Ok(StoredCredentials::new(
        client_id,
        Some(response),
        token.scopes.into_iter().collect(),
        now,
    ))
}

/// The error for a server that still refuses for want of scope.
pub(crate) fn insufficient(server: &str, shown_url: &str, scope: Option<&str>) -> Error {
    Error::InsufficientScope {
        server: server.to_owned(),
        url: shown_url.to_owned(),
        scope: scope.map(str::to_owned),
    }
}

/// Runs the host's sign-in step on a thread of its own (marked as the step of
/// `authorization`, where a blocking call of its client is refused), waiting at most
/// `timeout`. If the
/// wait ends without the step's answer (it timed out, or the sign-in was dropped because
/// its client closed or its own bound fired), the request is marked cancelled, so that a step
/// that waits, such as [`LoopbackSignIn`](super::LoopbackSignIn), stops and releases its port.
async fn ask(
    sign_in: Arc<dyn SignIn>,
    request: SignInRequest,
    timeout: Duration,
    authorization: u64,
) -> std::result::Result<String, String> {
    /// Cancels the request unless the step's answer came.
    struct CancelUnlessAnswered(Option<SignInRequest>);

    impl Drop for CancelUnlessAnswered {
        fn drop(&mut self) {
            if let Some(request) = self.0.take() {
                request.cancel();
            }
        }
    }

    let (reply, answer) = futures::channel::oneshot::channel();
    let mut guard = CancelUnlessAnswered(Some(request.clone()));
    std::thread::Builder::new()
        .name("mcp-dispatch-sign-in".into())
        .spawn(move || {
            STEP_OF.with(|step| step.set(Some(authorization)));
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
        Some(Ok(outcome)) => {
            guard.0 = None;
            outcome
        }
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

/// The `application_type` a dynamic registration declares (SEP-837): `web` for a redirect to
/// an https address that is not on this machine, `native` for a loopback or custom-scheme
/// redirect, which is what an app on the user's machine uses.
fn application_type(redirect_uri: &str) -> &'static str {
    let Ok(url) = url::Url::parse(redirect_uri) else {
        return "native";
    };
    let local = match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => true,
    };
    if url.scheme() == "https" && !local {
        "web"
    } else {
        "native"
    }
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
    fn registration_declares_native_for_local_redirects_and_web_for_https_sites() {
        assert_eq!(application_type(DEFAULT_REDIRECT_URI), "native");
        assert_eq!(application_type("http://127.0.0.1:9/cb"), "native");
        assert_eq!(application_type("https://localhost/cb"), "native");
        assert_eq!(application_type("com.example.app:/callback"), "native");
        assert_eq!(application_type("https://app.example.com/callback"), "web");
        assert_eq!(application_type("not a url"), "native");
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
