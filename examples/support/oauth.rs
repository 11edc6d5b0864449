//! The test server's OAuth mode (`MCP_TEST_OAUTH=1`, or `2025-03-26` for a server that is its
//! own authorization server as that protocol version has it): `/mcp` requires a bearer token
//! (and so do the HTTP+SSE transport's `/sse` and `/messages`, a resource of their own), and the
//! same origin serves the protected-resource metadata, the authorization server's metadata,
//! dynamic registration (which must name an `application_type`), `/authorize` (approves at
//! once with a redirect) and `/token` (authorization code with PKCE S256, and client
//! credentials for the client `machine` with the secret `s3cret`). Counters of what was asked are kept for tests.
//!
//! The `revoke_tokens` tool revokes tokens, after which a request with one gets 401
//! `invalid_token`.
//!
//! With `MCP_TEST_OAUTH_ID_TOKEN=T`, each token answer also carries the ID token `T`.
//! With `MCP_TEST_OAUTH_CALL_SCOPE=S`, `tools/call` also needs the scope `S` in the token
//! (else 403 `insufficient_scope` naming it), except the `authorizations` tool that reads the
//! counters; the authorization server grants only `mcp` and
//! `admin`, so asking for any other scope can never succeed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use http_body_util::BodyExt as _;
use sha2::Digest as _;

/// `/authorize` requests answered so far.
pub static AUTHORIZATIONS: AtomicU64 = AtomicU64::new(0);
/// Access tokens issued so far.
pub static TOKENS: AtomicU64 = AtomicU64::new(0);
/// Refresh-token grants answered so far.
pub static REFRESHES: AtomicU64 = AtomicU64::new(0);
/// Clients registered so far.
static CLIENTS: AtomicU64 = AtomicU64::new(0);

/// Codes waiting to be exchanged: code -> (PKCE challenge, granted scope).
static CODES: Mutex<Option<HashMap<String, (String, String)>>> = Mutex::new(None);
/// Tokens issued, with their scope.
static ISSUED: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

/// Bumped by each revocation: refresh tokens name the epoch they were issued in.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Revokes every access token issued so far, and every refresh token unless `access_only`.
pub fn revoke(access_only: bool) {
    if !access_only {
        EPOCH.fetch_add(1, Ordering::SeqCst);
    }
    ISSUED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get_or_insert_with(HashMap::new)
        .clear();
}

/// The scopes this authorization server can grant.
const GRANTABLE: [&str; 2] = ["mcp", "admin"];

/// The body of a request handed on to the MCP service.
pub type RequestBody = http_body_util::combinators::BoxBody<bytes::Bytes, hyper::Error>;

/// True when the server runs in OAuth mode.
pub fn enabled() -> bool {
    std::env::var("MCP_TEST_OAUTH").is_ok_and(|value| value == "1" || value == "2025-03-26")
}

/// True in the 2025-03-26 shape: no protected-resource metadata, a challenge that names none,
/// and authorization-server metadata whose issuer is not where it is served.
fn legacy() -> bool {
    std::env::var("MCP_TEST_OAUTH").is_ok_and(|value| value == "2025-03-26")
}

fn json(status: http::StatusCode, value: serde_json::Value) -> http::Response<super::HttpBody> {
    use http_body_util::BodyExt as _;

    let mut response = http::Response::new(
        http_body_util::Full::new(bytes::Bytes::from(value.to_string())).boxed(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn origin(request: &http::Request<hyper::body::Incoming>) -> String {
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

fn query(request: &http::Request<hyper::body::Incoming>) -> HashMap<String, String> {
    url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// Answers the OAuth endpoints, and MCP requests without a token this server issued (401 with
/// a challenge that names the metadata); `Err` hands back an MCP request to serve.
pub async fn answer(
    request: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<super::HttpBody>, http::Request<RequestBody>> {
    let origin = origin(&request);
    match request.uri().path() {
        "/.well-known/oauth-protected-resource/mcp"
        | "/.well-known/oauth-protected-resource/sse"
            if legacy() =>
        {
            Ok(super::plain_response(
                http::StatusCode::NOT_FOUND,
                "Not Found",
            ))
        }
        path @ ("/.well-known/oauth-protected-resource/mcp"
        | "/.well-known/oauth-protected-resource/sse") => Ok(json(
            http::StatusCode::OK,
            serde_json::json!({
                "resource": format!(
                    "{origin}{}",
                    path.trim_start_matches("/.well-known/oauth-protected-resource")
                ),
                "authorization_servers": [origin],
                "scopes_supported": ["mcp"],
            }),
        )),
        "/.well-known/oauth-authorization-server" => Ok(json(
            http::StatusCode::OK,
            serde_json::json!({
                "issuer": if legacy() { format!("{origin}/oauth") } else { origin.clone() },
                "authorization_endpoint": format!("{origin}/authorize"),
                "token_endpoint": format!("{origin}/token"),
                "registration_endpoint": format!("{origin}/register"),
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
                "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            }),
        )),
        "/register" => {
            let body = request
                .into_body()
                .collect()
                .await
                .map(|body| body.to_bytes());
            let mut registration: serde_json::Value = body
                .ok()
                .and_then(|body| serde_json::from_slice(&body).ok())
                .unwrap_or_default();
            // SEP-837: a registration says what kind of app it is.
            if !matches!(
                registration["application_type"].as_str(),
                Some("native" | "web")
            ) {
                return Ok(json(
                    http::StatusCode::BAD_REQUEST,
                    serde_json::json!({
                        "error": "invalid_client_metadata",
                        "error_description": "application_type must be native or web",
                    }),
                ));
            }
            let id = CLIENTS.fetch_add(1, Ordering::SeqCst) + 1;
            registration["client_id"] = format!("client-{id}").into();
            Ok(json(http::StatusCode::CREATED, registration))
        }
        "/authorize" => {
            AUTHORIZATIONS.fetch_add(1, Ordering::SeqCst);
            let query = query(&request);
            let field = |name: &str| query.get(name).cloned().unwrap_or_default();
            if field("code_challenge_method") != "S256" || field("code_challenge").is_empty() {
                return Ok(super::plain_response(
                    http::StatusCode::BAD_REQUEST,
                    "PKCE S256 is required",
                ));
            }
            let code = format!("code-{}", AUTHORIZATIONS.load(Ordering::SeqCst));
            let granted: Vec<&str> = field("scope")
                .split(' ')
                .filter(|scope| GRANTABLE.contains(scope))
                .map(|scope| if scope == "mcp" { "mcp" } else { "admin" })
                .collect();
            CODES
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .get_or_insert_with(HashMap::new)
                .insert(code.clone(), (field("code_challenge"), granted.join(" ")));
            let mut location = url::Url::parse(&field("redirect_uri"))
                .unwrap_or_else(|_| url::Url::parse("http://localhost/callback").unwrap());
            location
                .query_pairs_mut()
                .append_pair("code", &code)
                .append_pair("state", &field("state"));
            let mut response = super::plain_response(http::StatusCode::FOUND, "");
            response.headers_mut().insert(
                http::header::LOCATION,
                http::HeaderValue::from_str(location.as_str()).unwrap(),
            );
            Ok(response)
        }
        "/token" => {
            let parts_authorization = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            let body = request
                .into_body()
                .collect()
                .await
                .map(|body| body.to_bytes());
            let form: HashMap<String, String> = body
                .map(|body| url::form_urlencoded::parse(&body).into_owned().collect())
                .unwrap_or_default();
            let field = |name: &str| form.get(name).cloned().unwrap_or_default();
            if field("grant_type") == "client_credentials" {
                return Ok(client_credentials(&parts_authorization, &form));
            }
            if field("grant_type") == "refresh_token" {
                return Ok(refresh(&field("refresh_token")));
            }
            let pending = CODES
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .get_or_insert_with(HashMap::new)
                .remove(&field("code"));
            let Some((challenge, scope)) = pending else {
                return Ok(json(
                    http::StatusCode::BAD_REQUEST,
                    serde_json::json!({"error": "invalid_grant"}),
                ));
            };
            let digest = sha2::Sha256::digest(field("code_verifier").as_bytes());
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
            if computed != challenge {
                return Ok(json(
                    http::StatusCode::BAD_REQUEST,
                    serde_json::json!({"error": "invalid_grant", "error_description": "PKCE verifier mismatch"}),
                ));
            }
            Ok(issue(scope))
        }
        _ => {
            let presented = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "))
                .map(str::to_owned);
            let presented_one = presented.is_some();
            let scope = presented.and_then(|token| {
                ISSUED
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .get_or_insert_with(HashMap::new)
                    .get(&token)
                    .cloned()
            });
            // The HTTP+SSE transport's stream and messages are the `/sse` resource.
            let resource = match request.uri().path() {
                "/sse" | "/messages" => "sse",
                _ => "mcp",
            };
            let metadata = format!("{origin}/.well-known/oauth-protected-resource/{resource}");
            let Some(scope) = scope else {
                let challenge = if legacy() {
                    "Bearer".to_owned()
                } else if presented_one {
                    format!(
                        "Bearer error=\"invalid_token\", resource_metadata=\"{metadata}\", \
                         scope=\"mcp\""
                    )
                } else {
                    format!("Bearer resource_metadata=\"{metadata}\", scope=\"mcp\"")
                };
                return Ok(refusal(http::StatusCode::UNAUTHORIZED, challenge));
            };
            let Ok(call_scope) = std::env::var("MCP_TEST_OAUTH_CALL_SCOPE") else {
                return Err(request.map(|body| body.boxed()));
            };
            // Which method is asked for: read the body, then hand it on.
            let (parts, body) = request.into_parts();
            let body = body
                .collect()
                .await
                .map(|body| body.to_bytes())
                .unwrap_or_default();
            let message = serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default();
            let calls_a_tool = message["method"] == "tools/call"
                // The counters stay readable, for the tests.
                && message["params"]["name"] != "authorizations";
            if calls_a_tool && !scope.split(' ').any(|s| s == call_scope) {
                return Ok(refusal(
                    http::StatusCode::FORBIDDEN,
                    format!(
                        "Bearer error=\"insufficient_scope\", scope=\"mcp {call_scope}\", \
                         resource_metadata=\"{metadata}\""
                    ),
                ));
            }
            let body = http_body_util::Full::new(body)
                .map_err(|never| match never {})
                .boxed();
            Err(http::Request::from_parts(parts, body))
        }
    }
}

/// Seconds a token lives: `MCP_TEST_OAUTH_EXPIRES_IN`, or an hour.
fn expires_in() -> u64 {
    std::env::var("MCP_TEST_OAUTH_EXPIRES_IN")
        .ok()
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or(3600)
}

/// A new access token with `scope`, and a refresh token for it.
fn issue(scope: String) -> http::Response<super::HttpBody> {
    let token = format!("token-{}", TOKENS.fetch_add(1, Ordering::SeqCst) + 1);
    let refresh_token = format!("refresh-{}-{scope}", EPOCH.load(Ordering::SeqCst));
    ISSUED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(token.clone(), scope.clone());
    let mut answer = serde_json::json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": expires_in(),
        "refresh_token": refresh_token,
        "scope": scope,
    });
    // An OpenID provider's answer also carries an ID token.
    if let Ok(id_token) = std::env::var("MCP_TEST_OAUTH_ID_TOKEN") {
        answer["id_token"] = id_token.into();
    }
    json(http::StatusCode::OK, answer)
}

/// A new access token for a refresh token this server issued.
fn refresh(refresh_token: &str) -> http::Response<super::HttpBody> {
    let epoch = format!("refresh-{}-", EPOCH.load(Ordering::SeqCst));
    let Some(scope) = refresh_token.strip_prefix(&epoch) else {
        return json(
            http::StatusCode::BAD_REQUEST,
            serde_json::json!({"error": "invalid_grant"}),
        );
    };
    REFRESHES.fetch_add(1, Ordering::SeqCst);
    issue(scope.to_owned())
}

/// The one machine client this server knows, for the client credentials grant.
const MACHINE: (&str, &str) = ("machine", "s3cret");

/// A token for the machine client, which authenticates with HTTP Basic or in the body.
fn client_credentials(
    basic: &Option<String>,
    form: &HashMap<String, String>,
) -> http::Response<super::HttpBody> {
    let from_basic = basic
        .as_deref()
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            Some((id.to_owned(), secret.to_owned()))
        });
    let from_body = form
        .get("client_id")
        .zip(form.get("client_secret"))
        .map(|(id, secret)| (id.clone(), secret.clone()));
    let Some((id, secret)) = from_basic.or(from_body) else {
        return json(
            http::StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "invalid_client", "error_description": "no client authentication"}),
        );
    };
    if (id.as_str(), secret.as_str()) != MACHINE {
        return json(
            http::StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "invalid_client", "error_description": "unknown client or wrong secret"}),
        );
    }
    let token = format!("token-{}", TOKENS.fetch_add(1, Ordering::SeqCst) + 1);
    ISSUED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(token.clone(), "mcp".to_owned());
    json(
        http::StatusCode::OK,
        serde_json::json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}),
    )
}

/// A 401 or 403 with its `WWW-Authenticate` challenge.
fn refusal(status: http::StatusCode, challenge: String) -> http::Response<super::HttpBody> {
    let mut response = super::plain_response(status, "refused");
    response.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_str(&challenge).unwrap(),
    );
    response
}
