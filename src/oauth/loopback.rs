//! The ready sign-in step for command-line and desktop programs: the redirect comes back to
//! a port on this machine's loopback address.

mod turns;

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{SignIn, SignInRequest};
use crate::runtime::sync::lock;
use turns::{NoTurn, Turn};

/// How long a [`LoopbackSignIn`] waits for the redirect by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a connection to the listener may take to send its whole request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest request head read from a connection.
const MAX_REQUEST: usize = 16 * 1024;
/// The most connections served at once; past it, the oldest is dropped.
const MAX_PENDING: usize = 32;
/// How often the listener looks for connections and data while it waits.
const POLL: Duration = Duration::from_millis(20);
/// How long a port bound for a redirect URI is kept for a sign-in that does not come to its
/// step (it failed before, say, at registration).
const PARK_LIMIT: Duration = Duration::from_secs(60);
/// Why the step stopped when its sign-in ended first.
const ENDED: &str = "the sign-in ended (timed out or closed) before the redirect came";

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
/// Connections are served side by side, so that idle ones (a browser's preconnects) or slow
/// ones cannot hold up the redirect: up to 32 at a time (past that, the oldest is dropped),
/// each of which must send its request line within 5 seconds. The wait ends at the timeout
/// whatever connections come, and as soon as the sign-in ends without the redirect (the
/// client's [`sign_in_timeout`](crate::ClientBuilder::sign_in_timeout) fired, or the client
/// closed: [`SignInRequest::is_cancelled`]); the port is closed whenever the step returns.
///
/// Sign-ins of this process that use the same address (a fixed port shared by several
/// servers, or by the `callbackPort` of several config entries) take turns: each one binds
/// the port when the one before has ended, and the wait for its turn counts toward its
/// timeout.
///
/// When the server's [`OAuth`](crate::OAuth) settings name a redirect URI (a pre-registered
/// client with a fixed callback port), that one is used; it must be on a loopback address
/// (`127.0.0.1`, `[::1]` or `localhost`).
///
/// # Blocking
///
/// [`sign_in`](SignIn::sign_in) blocks its thread (one of the library's, when a client
/// calls it) until the redirect comes, the sign-in ends, or the timeout passes.
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
    /// Ports bound for a redirect URI and not yet waited on.
    parked: Arc<Mutex<HashMap<SocketAddr, Parked>>>,
}

/// A port bound for a redirect URI, waiting for its sign-in to come to the step.
struct Parked {
    listening: Listening,
    since: Instant,
}

/// A listener, with the turn at its address. The listener closes before the turn is let
/// go, so that the next sign-in can bind the address.
struct Listening {
    listener: TcpListener,
    _turn: Turn,
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
            parked: Arc::default(),
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

    /// How long to wait for the redirect (default 5 minutes), counting the wait for another
    /// sign-in on the same port to end. The client's
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

    /// How long a parked port is kept.
    fn park_limit(&self) -> Duration {
        PARK_LIMIT.min(self.timeout)
    }

    /// Lets go of the parked ports older than the limit.
    fn expire(parked: &mut HashMap<SocketAddr, Parked>, limit: Duration) {
        parked.retain(|_, parked| parked.since.elapsed() < limit);
    }

    /// Has the parked ports expired once `limit` has passed, when called on a tokio runtime
    /// (a client calls [`redirect_uri`](SignIn::redirect_uri) on the library's). Elsewhere
    /// they expire at the next sign-in, or go when the step is dropped.
    fn expire_later(&self, limit: Duration) {
        let parked = Arc::downgrade(&self.parked);
        crate::runtime::spawn_if_in_context(async move {
            crate::runtime::sleep(limit).await;
            if let Some(parked) = parked.upgrade() {
                LoopbackSignIn::expire(&mut lock(&parked), limit);
            }
        });
    }

    /// The listener for `callback`: the port bound for its redirect URI, or else the address
    /// bound once no other sign-in of this process listens there (before `deadline`, and
    /// while the sign-in lasts).
    fn listen(
        &self,
        callback: &Callback,
        deadline: Instant,
        request: &SignInRequest,
    ) -> Result<Listening, String> {
        let parked = {
            let mut parked = lock(&self.parked);
            LoopbackSignIn::expire(&mut parked, self.park_limit());
            parked.remove(&callback.address)
        };
        if let Some(parked) = parked {
            return Ok(parked.listening);
        }
        let turn = Turn::take(callback.address, deadline, POLL, || request.is_cancelled())
            .map_err(|no_turn| match no_turn {
                NoTurn::Cancelled => ENDED.to_owned(),
                NoTurn::TimedOut => format!(
                    "{} stayed in use by another sign-in of this program for {:?}",
                    callback.address, self.timeout
                ),
            })?;
        let listener = TcpListener::bind(callback.address).map_err(|error| {
            format!(
                "cannot listen on {} for the redirect: {error}",
                callback.address
            )
        })?;
        Ok(Listening {
            listener,
            _turn: turn,
        })
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
            .filter(|port| *port != 0)
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
    /// With a fixed port, the redirect URI alone: the port is bound when the sign-in comes
    /// to the step and has its turn. With any free port, binds one now, so that it is still
    /// free when the redirect comes, and keeps it for the sign-in; a sign-in that fails
    /// before it comes to the step lets it go within a minute (at most the timeout).
    fn redirect_uri(&self) -> String {
        let host = if self.ipv6 { "[::1]" } else { "127.0.0.1" };
        if self.port != 0 {
            return format!("http://{host}:{}/callback", self.port);
        }
        let limit = self.park_limit();
        let mut parked = lock(&self.parked);
        LoopbackSignIn::expire(&mut parked, limit);
        let bound = TcpListener::bind(self.address(0))
            .and_then(|listener| Ok((listener.local_addr()?, listener)));
        let Ok((address, listener)) = bound else {
            // `sign_in` refuses the port 0 with a reason.
            return format!("http://{host}:0/callback");
        };
        // The turn is free unless another sign-in is about to bind that very port: then the
        // port is left to it, and this sign-in waits its turn in `sign_in`.
        if let Some(turn) = Turn::try_take(address) {
            let listening = Listening {
                listener,
                _turn: turn,
            };
            let since = Instant::now();
            parked.insert(address, Parked { listening, since });
            self.expire_later(limit);
        }
        format!("http://{host}:{}/callback", address.port())
    }

    fn sign_in(&self, request: &SignInRequest) -> Result<String, String> {
        let deadline = Instant::now() + self.timeout;
        let callback = Callback::parse(&request.redirect_uri)?;
        let listening = self.listen(&callback, deadline, request)?;
        let state = url::Url::parse(&request.authorization_url)
            .ok()
            .and_then(|url| {
                url.query_pairs()
                    .find(|(key, _)| key == "state")
                    .map(|(_, value)| value.into_owned())
            });
        (self.open)(request)?;
        let waiting = Waiting {
            callback: &callback,
            state: state.as_deref(),
            deadline,
            timeout: self.timeout,
            request,
        };
        waiting.serve(&listening.listener)
    }
}

/// What the listener waits for, and until when.
struct Waiting<'a> {
    callback: &'a Callback,
    /// The `state` the redirect must carry, if the authorization URL sent one.
    state: Option<&'a str>,
    deadline: Instant,
    timeout: Duration,
    request: &'a SignInRequest,
}

impl Waiting<'_> {
    /// Serves `listener` until the one request to the callback with the `state` comes,
    /// answering others with an error page; returns the full URL it was sent to. Every poll
    /// accepts what connections have come, reads what each has sent, and drops those that
    /// are past their time; it ends at the deadline, or once the sign-in has ended.
    fn serve(&self, listener: &TcpListener) -> Result<String, String> {
        listener
            .set_nonblocking(true)
            .map_err(|error| format!("cannot wait for the redirect: {error}"))?;
        let mut pending = VecDeque::new();
        loop {
            if self.request.is_cancelled() {
                return Err(ENDED.to_owned());
            }
            accept(listener, &mut pending)?;
            let now = Instant::now();
            let mut redirected = None;
            pending.retain_mut(|connection: &mut Connection| {
                if redirected.is_some() {
                    return true;
                }
                match connection.read() {
                    Progress::Waiting => now < connection.until,
                    Progress::Gone => false,
                    Progress::Line => {
                        redirected = connection.answer(self.callback, self.state);
                        false
                    }
                }
            });
            if let Some(redirected) = redirected {
                return Ok(redirected);
            }
            if now >= self.deadline {
                return Err(format!(
                    "no redirect to {}{} within {:?}",
                    self.callback.origin, self.callback.path, self.timeout
                ));
            }
            std::thread::sleep(POLL.min(self.deadline - now));
        }
    }
}

/// Accepts the connections that have come, into `pending`, dropping the oldest past
/// [`MAX_PENDING`].
fn accept(listener: &TcpListener, pending: &mut VecDeque<Connection>) -> Result<(), String> {
    for _ in 0..MAX_PENDING {
        match listener.accept() {
            Ok((stream, _)) => {
                if stream.set_nonblocking(true).is_err() {
                    continue;
                }
                if pending.len() == MAX_PENDING {
                    pending.pop_front();
                }
                pending.push_back(Connection {
                    stream,
                    head: Vec::new(),
                    until: Instant::now() + REQUEST_TIMEOUT,
                });
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::Interrupted
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                ) => {}
            Err(error) => return Err(format!("cannot wait for the redirect: {error}")),
        }
    }
    Ok(())
}

/// A connection to the listener, and what it has sent so far.
struct Connection {
    stream: TcpStream,
    head: Vec<u8>,
    /// When it must have sent its request line.
    until: Instant,
}

/// Where a connection's request stands.
enum Progress {
    /// Its request line is not all there yet.
    Waiting,
    /// It closed, failed, or sent too much: dropped.
    Gone,
    /// Its request line is there.
    Line,
}

impl Connection {
    /// Reads what has arrived, without waiting.
    fn read(&mut self) -> Progress {
        let mut chunk = [0u8; 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) if self.has_line() => return Progress::Line,
                Ok(0) => return Progress::Gone,
                Ok(read) if self.head.len() + read > MAX_REQUEST => return Progress::Gone,
                Ok(read) => self.head.extend_from_slice(&chunk[..read]),
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Progress::Gone,
            }
        }
        if self.has_line() {
            Progress::Line
        } else {
            Progress::Waiting
        }
    }

    fn has_line(&self) -> bool {
        self.head.windows(2).any(|pair| pair == b"\r\n")
    }

    /// Answers the request. Returns the redirect URL if it was the callback with `state`.
    fn answer(&mut self, callback: &Callback, state: Option<&str>) -> Option<String> {
        let head = String::from_utf8_lossy(&self.head).into_owned();
        let stream = &mut self.stream;
        let mut parts = head.lines().next()?.split(' ');
        let (method, target) = (parts.next()?, parts.next()?);
        if method != "GET" {
            reply(
                stream,
                "405 Method Not Allowed",
                "Only GET is answered here.",
            );
            return None;
        }
        if !target.starts_with('/') {
            return None;
        }
        let path = target.split('?').next().unwrap_or_default();
        if path != callback.path {
            reply(stream, "404 Not Found", "Not the sign-in callback.");
            return None;
        }
        let redirected = format!("{}{target}", callback.origin);
        let query: HashMap<String, String> = url::Url::parse(&redirected)
            .map(|url| url.query_pairs().into_owned().collect())
            .unwrap_or_default();
        if state.is_some() && query.get("state").map(String::as_str) != state {
            reply(
                stream,
                "400 Bad Request",
                "This is not the redirect of the sign-in in progress.",
            );
            return None;
        }
        match query.get("error") {
            Some(error) => reply(
                stream,
                "200 OK",
                &format!(
                    "Sign-in failed ({}). You can close this window.",
                    escape(error)
                ),
            ),
            None => reply(stream, "200 OK", "Signed in. You can close this window."),
        }
        Some(redirected)
    }
}

/// Writes a small page to `stream` (a fresh connection's send buffer takes it whole, so this
/// does not wait).
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
mod tests;
