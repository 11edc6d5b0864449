//! Signing in to HTTP servers that ask for it (401): the client's [`OAuth`] settings and the
//! host's browser step ([`SignIn`]); the flow itself is in `flow.rs`.

#[cfg(feature = "oauth")]
mod flow;
#[cfg(feature = "oauth")]
mod loopback;
#[cfg(feature = "oauth")]
mod signing;
mod store;

#[cfg(feature = "oauth")]
pub(crate) use flow::{Authorization, Challenge, insufficient};
#[cfg(feature = "oauth")]
pub use loopback::LoopbackSignIn;
#[cfg(feature = "oauth")]
pub(crate) use signing::{sign_in, step_up};
#[cfg(feature = "oauth")]
pub(crate) use store::Kept;
pub use store::{CredentialStore, FileCredentialStore};

/// The redirect URI used when neither the server's [`OAuth`] settings nor the [`SignIn`]
/// name one.
pub const DEFAULT_REDIRECT_URI: &str = "http://localhost:33418/callback";

/// How this client identifies itself to a server's authorization server, for servers that
/// require sign-in.
///
/// Every HTTP server that answers `401 Unauthorized` is signed in to, whether or not it has
/// these settings: with none, the client registers itself (dynamic client registration) and
/// requests the scopes the server names. Set them when the authorization server knows this
/// client in advance (a pre-registered client id, with a secret for a confidential client),
/// when this client publishes a Client ID Metadata Document, or to choose the scopes.
///
/// ```
/// use mcp_dispatch::{OAuth, ServerConfig};
///
/// let server = ServerConfig::http("https://mcp.example.com/mcp")
///     .oauth(OAuth::new().client_id("my-app").scopes(["read", "write"]));
/// # drop(server);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OAuth {
    pub(crate) client_id: Option<String>,
    pub(crate) client_secret: Option<String>,
    pub(crate) client_metadata_url: Option<String>,
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) redirect_uri: Option<String>,
    pub(crate) authorization_server_metadata_url: Option<String>,
    pub(crate) grant: Grant,
}

/// How the client gets its token.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) enum Grant {
    /// A user signs in (authorization code with PKCE).
    #[default]
    AuthorizationCode,
    /// The client itself, with its id and secret (client credentials).
    ClientSecret,
    /// The enterprise's identity provider vouches for the user (cross-app access): its ID
    /// token is exchanged for an identity assertion (ID-JAG), and that for a token.
    Enterprise(Box<EnterpriseLogin>),
    /// The client itself, with a JWT signed by its private key (RFC 7523).
    PrivateKeyJwt {
        /// The PEM private key.
        key: String,
        /// `RS256`, `RS384`, `RS512`, `ES256` or `ES384`.
        algorithm: String,
    },
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("client_metadata_url", &self.client_metadata_url)
            .field("scopes", &self.scopes)
            .field("redirect_uri", &self.redirect_uri)
            .field(
                "authorization_server_metadata_url",
                &self.authorization_server_metadata_url,
            )
            .field(
                "grant",
                &match &self.grant {
                    Grant::AuthorizationCode => "authorization code",
                    Grant::ClientSecret => "client credentials",
                    Grant::PrivateKeyJwt { .. } => "client credentials (private key JWT)",
                    Grant::Enterprise(_) => "enterprise-managed (identity assertion)",
                },
            )
            .finish()
    }
}

impl OAuth {
    /// The defaults: a user signs in, with dynamic registration and the scopes the server
    /// asks for.
    pub fn new() -> OAuth {
        OAuth::default()
    }

    /// Machine to machine: the client signs in as itself with its id and secret (the OAuth
    /// client credentials grant), with no user and no [`SignIn`] step. The token endpoint
    /// gets the secret the way the authorization server says it takes it (HTTP Basic or the
    /// request body).
    ///
    /// ```
    /// use mcp_dispatch::{OAuth, ServerConfig};
    ///
    /// let server = ServerConfig::http("https://mcp.example.com/mcp")
    ///     .oauth(OAuth::client_credentials("reporting-job", "s3cret"));
    /// assert!(!format!("{server:?}").contains("s3cret"));
    /// ```
    pub fn client_credentials(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> OAuth {
        OAuth {
            client_id: Some(client_id.into()),
            client_secret: Some(client_secret.into()),
            grant: Grant::ClientSecret,
            ..OAuth::default()
        }
    }

    /// Enterprise-managed sign-in (cross-app access): the user is already signed in at the
    /// enterprise's identity provider, whose ID token `login` carries. The ID token is
    /// exchanged there for an identity assertion (ID-JAG) for this server's authorization
    /// server, which exchanges it for a token. `client_id` and `client_secret` are this
    /// client's registration at the server's authorization server; no [`SignIn`] step is
    /// needed.
    ///
    /// ```
    /// use mcp_dispatch::{EnterpriseLogin, OAuth, ServerConfig};
    ///
    /// let login = EnterpriseLogin::new("https://idp.example.com", "https://idp.example.com/token", "idp-app", "eyJ...");
    /// let server = ServerConfig::http("https://mcp.example.com/mcp")
    ///     .oauth(OAuth::enterprise("mcp-app", "s3cret", login));
    /// assert!(!format!("{server:?}").contains("eyJ"));
    /// ```
    pub fn enterprise(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        login: EnterpriseLogin,
    ) -> OAuth {
        OAuth {
            client_id: Some(client_id.into()),
            client_secret: Some(client_secret.into()),
            grant: Grant::Enterprise(Box::new(login)),
            ..OAuth::default()
        }
    }

    /// Machine to machine with a private key: the client credentials grant, authenticated
    /// by a JWT signed with `private_key_pem` (`private_key_jwt`, RFC 7523). `algorithm` is
    /// one of `RS256`, `RS384`, `RS512`, `ES256` and `ES384`; another fails the sign-in
    /// with [`Error::AuthorizationFailed`](crate::Error::AuthorizationFailed).
    pub fn private_key_jwt(
        client_id: impl Into<String>,
        private_key_pem: impl Into<String>,
        algorithm: impl Into<String>,
    ) -> OAuth {
        OAuth {
            client_id: Some(client_id.into()),
            grant: Grant::PrivateKeyJwt {
                key: private_key_pem.into(),
                algorithm: algorithm.into(),
            },
            ..OAuth::default()
        }
    }

    /// A client id registered with the authorization server in advance.
    pub fn client_id(mut self, client_id: impl Into<String>) -> OAuth {
        self.client_id = Some(client_id.into());
        self
    }

    /// The secret of a pre-registered confidential client. It never appears in `Debug`
    /// output or in errors.
    pub fn client_secret(mut self, client_secret: impl Into<String>) -> OAuth {
        self.client_secret = Some(client_secret.into());
        self
    }

    /// The `https` URL of this client's Client ID Metadata Document, used as its client id
    /// by authorization servers that support it (and that do not know a pre-registered id).
    pub fn client_metadata_url(mut self, url: impl Into<String>) -> OAuth {
        self.client_metadata_url = Some(url.into());
        self
    }

    /// The scopes to request, instead of those the server names in its challenge or its
    /// metadata.
    pub fn scopes<I, S>(mut self, scopes: I) -> OAuth
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// The redirect URI to register and send, instead of the [`SignIn`]'s.
    pub fn redirect_uri(mut self, redirect_uri: impl Into<String>) -> OAuth {
        self.redirect_uri = Some(redirect_uri.into());
        self
    }

    /// The URL of the authorization server's metadata (RFC 8414 or OpenID configuration),
    /// used instead of discovering it from the server. Like every endpoint it names, it must
    /// be https or on this machine (loopback).
    pub fn authorization_server_metadata_url(mut self, url: impl Into<String>) -> OAuth {
        self.authorization_server_metadata_url = Some(url.into());
        self
    }
}

/// A user's sign-in at the enterprise's identity provider, for [`OAuth::enterprise`].
#[derive(Clone, PartialEq, Eq)]
pub struct EnterpriseLogin {
    pub(crate) issuer: String,
    pub(crate) token_endpoint: String,
    pub(crate) client_id: String,
    pub(crate) id_token: String,
}

impl EnterpriseLogin {
    /// The identity provider `issuer` with its `token_endpoint`, this client's `client_id`
    /// there, and the user's `id_token` from it (which never appears in `Debug` output).
    pub fn new(
        issuer: impl Into<String>,
        token_endpoint: impl Into<String>,
        client_id: impl Into<String>,
        id_token: impl Into<String>,
    ) -> EnterpriseLogin {
        EnterpriseLogin {
            issuer: issuer.into(),
            token_endpoint: token_endpoint.into(),
            client_id: client_id.into(),
            id_token: id_token.into(),
        }
    }
}

impl std::fmt::Debug for EnterpriseLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnterpriseLogin")
            .field("issuer", &self.issuer)
            .field("token_endpoint", &self.token_endpoint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// What a [`SignIn`] is asked to do: send the user to `authorization_url`, and return the URL
/// their browser was redirected to (which starts with `redirect_uri`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SignInRequest {
    /// The server's name.
    pub server: String,
    /// The server's URL, without its query, fragment or credentials.
    pub url: String,
    /// Where the user signs in.
    pub authorization_url: String,
    /// Where the authorization server sends the browser back to.
    pub redirect_uri: String,
    /// Set once the sign-in this request belongs to has ended without the step's answer.
    cancelled: Cancelled,
}

/// A flag shared by a [`SignInRequest`] and its clones.
#[derive(Clone, Default)]
struct Cancelled(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl std::fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.get() { "true" } else { "false" })
    }
}

impl Cancelled {
    fn get(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl SignInRequest {
    /// A request, as the library makes them: for testing a [`SignIn`] step.
    pub fn new(
        server: impl Into<String>,
        url: impl Into<String>,
        authorization_url: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> SignInRequest {
        SignInRequest {
            server: server.into(),
            url: url.into(),
            authorization_url: authorization_url.into(),
            redirect_uri: redirect_uri.into(),
            cancelled: Cancelled::default(),
        }
    }

    /// True once the sign-in this request belongs to has ended without the step's answer:
    /// it timed out, or its client was closed. A step that waits (for a redirect, for the
    /// user) should look at it while it waits, stop, and release what it holds; its answer
    /// is no longer read.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.get()
    }

    /// Marks the sign-in as ended, for the step and every clone of this request.
    #[cfg_attr(not(feature = "oauth"), allow(dead_code))]
    pub(crate) fn cancel(&self) {
        self.cancelled
            .0
            .store(true, std::sync::atomic::Ordering::Release);
    }
}

/// The host's part of signing in: showing the user the authorization page, and handing back
/// where the browser was sent afterwards.
///
/// A closure `Fn(&SignInRequest) -> Result<String, String>` is a `SignIn` that uses
/// [`DEFAULT_REDIRECT_URI`]. It runs on a thread of its own, so it may block (wait for a
/// loopback redirect, read a line from the terminal), bounded by the client's sign-in
/// timeout. An `Err` fails the connect with [`Error::AuthorizationFailed`](crate::Error::AuthorizationFailed).
///
/// ```
/// use mcp_dispatch::{Client, ServerConfig, SignInRequest};
///
/// let client = Client::builder(ServerConfig::http("https://mcp.example.com/mcp"))
///     .sign_in(|request: &SignInRequest| {
///         eprintln!("Sign in to {} at {}", request.server, request.authorization_url);
///         eprintln!("then paste the address your browser was sent to:");
///         let mut line = String::new();
///         std::io::stdin().read_line(&mut line).map_err(|error| error.to_string())?;
///         Ok(line.trim().to_owned())
///     })
///     .build();
/// # drop(client);
/// ```
pub trait SignIn: Send + Sync + 'static {
    /// The redirect URI to register and send.
    fn redirect_uri(&self) -> String {
        DEFAULT_REDIRECT_URI.to_owned()
    }

    /// Has the user sign in at `request.authorization_url`; returns the URL the browser was
    /// redirected to, or why not.
    fn sign_in(&self, request: &SignInRequest) -> std::result::Result<String, String>;
}

impl<F> SignIn for F
where
    F: Fn(&SignInRequest) -> std::result::Result<String, String> + Send + Sync + 'static,
{
    fn sign_in(&self, request: &SignInRequest) -> std::result::Result<String, String> {
        self(request)
    }
}

/// Without the `oauth` feature a server that asks for sign-in cannot be signed in to.
#[cfg(not(feature = "oauth"))]
pub(crate) async fn sign_in(
    server: &str,
    _config: &crate::config::ServerConfig,
    _hooks: &std::sync::Arc<crate::session::hooks::Hooks>,
    _challenge: String,
    _seen: u64,
    _timeout: std::time::Duration,
) -> crate::error::Result<()> {
    Err(crate::error::Error::Unsupported {
        server: server.to_owned(),
        what: "signing in (the server requires it, and the `oauth` feature is off)".to_owned(),
    })
}
