//! The ready sign-in step for command-line and desktop programs: the redirect comes back to
//! a port on this machine's loopback address.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{SignIn, SignInRequest};
use crate::sync::lock;

/// How long a [`LoopbackSignIn`] waits for the redirect by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a connection to the listener may take to send its request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest request head read from a connection.
const MAX_REQUEST: usize = 16 * 1024;
/// How often the listener looks for a connection while it waits.
const POLL: Duration = Duration::from_millis(20);

type Open = dyn Fn(&SignInRequest) -> Result<(), String> + Send + Sync;

/// A [`SignIn`] step for command-line and desktop programs: it listens on
/// `http://127.0.0.1:PORT/callback` (any free port, or a fixed one), hands the
/// authorization URL to `open` (print it, or open a browser), and waits for the browser's
/// redirect, bounded by [`timeout`](LoopbackSignIn::timeout).
///
/// It binds the loopback address only, and takes one redirect: the first request to the
/// callback path whose `state` is the one the authorization URL sent. Other requests (a
/// favicon, a stray or forged callback) are answered with an error page and ignored. Then
/// the port is closed.
///
/// When the server's [`OAuth`](crate::OAuth) settings name a redirect URI (a pre-registered
/// client with a fixed callback port), that one is used; it must be on a loopback address
/// (`127.0.0.1`, `[::1]` or `localhost`).
///
/// ```no_run
/// use mcp_dispatch::{Client, LoopbackSignIn, ServerConfig};
///
/// let sign_in = LoopbackSignIn::new(|request| {
///     eprintln!("Sign in to {} at: {}", request.server, request.authorization_url);
///     Ok(())
/// });
/// let client = Client::builder(ServerConfig::http("https://mcp.example.com/mcp"))
///     .sign_in(sign_in)
///     .build();
/// let tools = client.list_tools_blocking()?;
/// # Ok::<(), mcp_dispatch::Error>(())
/// ```
pub struct LoopbackSignIn {
    open: Arc<Open>,
    port: u16,
    ipv6: bool,
    timeout: Duration,
    /// Ports bound for a redirect URI and not yet waited on, with when they were bound.
    bound: Mutex<HashMap<u16, (TcpListener, Instant)>>,
}

impl std::fmt::Debug for LoopbackSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackSignIn")
            .field("port", &self.port)
            .field("ipv6", &self.ipv6)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl LoopbackSignIn {
    /// A step that hands each authorization URL to `open`, which shows it to the user or
    /// opens a browser on it, and returns at once; an `Err` ends the sign-in with its
    /// reason. It listens on any free port of `127.0.0.1` for 5 minutes.
    pub fn new(
        open: impl Fn(&SignInRequest) -> Result<(), String> + Send + Sync + 'static,
    ) -> LoopbackSignIn {
        LoopbackSignIn {
            open: Arc::new(open),
            port: 0,
            ipv6: false,
            timeout: DEFAULT_TIMEOUT,
            bound: Mutex::new(HashMap::new()),
        }
    }

    /// Listens on this port rather than any free one: for an authorization server that
    /// knows this client with a fixed redirect URI.
    pub fn port(mut self, port: u16) -> LoopbackSignIn {
        self.port = port;
        self
    }

    /// Listens on `[::1]` rather than `127.0.0.1`.
    pub fn ipv6(mut self) -> LoopbackSignIn {
        self.ipv6 = true;
        self
    }

    /// How long to wait for the redirect (default 5 minutes). The client's
    /// [`sign_in_timeout`](crate::ClientBuilder::sign_in_timeout) bounds it too.
    pub fn timeout(mut self, timeout: Duration) -> LoopbackSignIn {
        self.timeout = timeout;
        self
    }

    fn address(&self, port: u16) -> SocketAddr {
        if self.ipv6 {
            SocketAddr::from((Ipv6Addr::LOCALHOST, port))
        } else {
            SocketAddr::from((Ipv4Addr::LOCALHOST, port))
        }
    }
}

/// Where a redirect URI on loopback points: the address to listen on, and the path.
struct Callback {
    address: SocketAddr,
    origin: String,
    path: String,
}

impl Callback {
    fn parse(redirect_uri: &str) -> Result<Callback, String> {
        let url = url::Url::parse(redirect_uri)
            .map_err(|error| format!("the redirect URI `{redirect_uri}` is not a URL: {error}"))?;
        if url.scheme() != "http" {
            return Err(format!(
                "the redirect URI `{redirect_uri}` is not http:// on this machine"
            ));
        }
        let port = url
            .port()
            .ok_or_else(|| format!("the redirect URI `{redirect_uri}` names no port"))?;
        let ip: std::net::IpAddr = match url.host() {
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => ip.into(),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => ip.into(),
            Some(url::Host::Domain("localhost")) => Ipv4Addr::LOCALHOST.into(),
            _ => {
                return Err(format!(
                    "the redirect URI `{redirect_uri}` is not on a loopback address \
                     (127.0.0.1, [::1] or localhost)"
                ));
            }
        };
        Ok(Callback {
            address: SocketAddr::new(ip, port),
            origin: url.origin().ascii_serialization(),
            path: url.path().to_owned(),
        })
    }
}

impl SignIn for LoopbackSignIn {
    /// Binds the port now, so that it is still free when the redirect comes.
    fn redirect_uri(&self) -> String {
        let host = if self.ipv6 { "[::1]" } else { "127.0.0.1" };
        let mut bound = lock(&self.bound);
        bound.retain(|_, (_, since)| since.elapsed() < self.timeout);
        match TcpListener::bind(self.address(self.port)) {
            Ok(listener) => {
                let port = listener.local_addr().map_or(self.port, |at| at.port());
                bound.insert(port, (listener, Instant::now()));
                format!("http://{host}:{port}/callback")
            }
            // Binding again in `sign_in` reports why.
            Err(_) => format!("http://{host}:{}/callback", self.port),
        }
    }

    fn sign_in(&self, request: &SignInRequest) -> Result<String, String> {
        let callback = Callback::parse(&request.redirect_uri)?;
        let kept = lock(&self.bound).remove(&callback.address.port());
        let listener = match kept {
            Some((listener, _)) if listener.local_addr().ok() == Some(callback.address) => listener,
            _ => TcpListener::bind(callback.address).map_err(|error| {
                format!(
                    "cannot listen on {} for the redirect: {error}",
                    callback.address
                )
            })?,
        };
        let state = url::Url::parse(&request.authorization_url)
            .ok()
            .and_then(|url| {
                url.query_pairs()
                    .find(|(key, _)| key == "state")
                    .map(|(_, value)| value.into_owned())
            });
        (self.open)(request)?;
        wait(&listener, &callback, state.as_deref(), self.timeout)
    }
}

/// Waits on `listener` for the one request to the callback with `state`, answering others
/// with an error page; returns the full URL it was sent to.
fn wait(
    listener: &TcpListener,
    callback: &Callback,
    state: Option<&str>,
    timeout: Duration,
) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    listener
        .set_nonblocking(true)
        .map_err(|error| format!("cannot wait for the redirect: {error}"))?;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Some(redirected) = answer(stream, callback, state) {
                    return Ok(redirected);
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(format!(
                        "no redirect to {}{} within {timeout:?}",
                        callback.origin, callback.path
                    ));
                }
                std::thread::sleep(POLL);
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(format!("cannot wait for the redirect: {error}")),
        }
    }
}

/// Reads one request from `stream` and answers it. Returns the redirect URL if it was the
/// callback the sign-in waits for.
fn answer(mut stream: TcpStream, callback: &Callback, state: Option<&str>) -> Option<String> {
    let target = read_target(&mut stream)?;
    let path = target.split('?').next().unwrap_or_default();
    if path != callback.path {
        reply(&mut stream, "404 Not Found", "Not the sign-in callback.");
        return None;
    }
    let redirected = format!("{}{target}", callback.origin);
    let query: HashMap<String, String> = url::Url::parse(&redirected)
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default();
    if state.is_some() && query.get("state").map(String::as_str) != state {
        reply(
            &mut stream,
            "400 Bad Request",
            "This is not the redirect of the sign-in in progress.",
        );
        return None;
    }
    match query.get("error") {
        Some(error) => reply(
            &mut stream,
            "200 OK",
            &format!(
                "Sign-in failed ({}). You can close this window.",
                escape(error)
            ),
        ),
        None => reply(
            &mut stream,
            "200 OK",
            "Signed in. You can close this window.",
        ),
    }
    Some(redirected)
}

/// The request target of a `GET` on `stream`, read with a bound on time and size.
fn read_target(stream: &mut TcpStream) -> Option<String> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT)).ok()?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(2).any(|pair| pair == b"\r\n") {
        let read = stream.read(&mut chunk).ok()?;
        if read == 0 || head.len() + read > MAX_REQUEST {
            return None;
        }
        head.extend_from_slice(&chunk[..read]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.lines().next()?.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    if method != "GET" {
        reply(
            stream,
            "405 Method Not Allowed",
            "Only GET is answered here.",
        );
        return None;
    }
    target.starts_with('/').then(|| target.to_owned())
}

fn reply(stream: &mut TcpStream, status: &str, message: &str) {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sign-in</title></head>\
         <body><p>{message}</p></body></html>"
    );
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

/// `text` with the characters that mean something in HTML escaped.
fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_redirect_uris_are_listened_on() {
        let callback = Callback::parse("http://127.0.0.1:8123/callback").unwrap();
        assert_eq!(callback.address, "127.0.0.1:8123".parse().unwrap());
        assert_eq!(callback.path, "/callback");
        let callback = Callback::parse("http://[::1]:8123/cb").unwrap();
        assert_eq!(callback.address, "[::1]:8123".parse().unwrap());
        let callback = Callback::parse("http://localhost:8123/callback").unwrap();
        assert_eq!(callback.address, "127.0.0.1:8123".parse().unwrap());
        assert_eq!(callback.origin, "http://localhost:8123");
        for refused in [
            "http://example.com:8123/callback",
            "http://10.0.0.1:8123/callback",
            "https://127.0.0.1:8123/callback",
            "http://127.0.0.1/callback",
            "not a url",
        ] {
            let error = Callback::parse(refused).err().unwrap();
            assert!(error.contains(refused), "{error}");
        }
    }

    #[test]
    fn html_in_an_error_is_escaped() {
        assert_eq!(escape("<b>&\"</b>"), "&lt;b&gt;&amp;&quot;&lt;/b&gt;");
    }
}
