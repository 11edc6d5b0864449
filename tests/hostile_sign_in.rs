//! A server that attacks the host through sign-in: discovery answers that never end, or never
//! come. Every request the library makes itself is bounded in time and size, and a sign-in
//! that times out is cancelled, releasing its lock and its thread.
//!
//! The server here is hand-written on purpose: it must misbehave in ways no MCP SDK would.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mcp_dispatch::{Client, Error, ServerConfig};

/// What the second fetch of the authorization server's metadata gets.
#[derive(Clone, Copy)]
enum Second {
    /// A chunked body that never ends.
    Endless,
    /// No answer at all, until the client gives up on the connection.
    Hang,
}

/// A server that asks for sign-in with a bare `Bearer` challenge, has no protected-resource
/// metadata, and serves authorization-server metadata whose issuer is not its own URL, which
/// sends a client to the 2025-03-26 fallback and a second metadata fetch.
struct Hostile {
    port: u16,
    /// Fetches of the authorization server's metadata so far.
    metadata_fetches: Arc<AtomicUsize>,
    /// Bytes of the endless body the client took.
    streamed: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// Bound of every loop of the server: no test outlives it.
const SERVER_BOUND: Duration = Duration::from_secs(60);

impl Hostile {
    fn start(second: Second) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let metadata_fetches = Arc::new(AtomicUsize::new(0));
        let streamed = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (fetches, bytes, stopped) = (metadata_fetches.clone(), streamed.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::Acquire) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (fetches, bytes) = (fetches.clone(), bytes.clone());
                std::thread::spawn(move || serve(stream, port, second, &fetches, &bytes));
            }
        });
        Hostile {
            port,
            metadata_fetches,
            streamed,
            stop,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    stream: TcpStream,
    port: u16,
    second: Second,
    fetches: &AtomicUsize,
    streamed: &AtomicUsize,
) {
    stream.set_read_timeout(Some(SERVER_BOUND)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length.min(1 << 20)];
    let _ = reader.read_exact(&mut body);
    let mut stream = stream;
    let respond = |stream: &mut TcpStream, status: &str, headers: &str, body: &str| {
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    };
    if path.starts_with("/mcp") {
        respond(
            &mut stream,
            "401 Unauthorized",
            "WWW-Authenticate: Bearer\r\n",
            "",
        );
    } else if path == "/configured-metadata" {
        endless(&mut stream, streamed);
    } else if path.starts_with("/.well-known/oauth-authorization-server") {
        let fetch = fetches.fetch_add(1, Ordering::AcqRel) + 1;
        if fetch == 2 {
            match second {
                Second::Endless => endless(&mut stream, streamed),
                Second::Hang => {
                    // Holds the connection until the client drops it.
                    let _ = reader.read(&mut [0; 1]);
                }
            }
            return;
        }
        let origin = format!("http://127.0.0.1:{port}");
        let metadata = serde_json::json!({
            "issuer": "https://issuer.invalid",
            "authorization_endpoint": format!("{origin}/authorize"),
            "token_endpoint": format!("{origin}/token"),
            "registration_endpoint": format!("{origin}/register"),
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
        });
        respond(
            &mut stream,
            "200 OK",
            "Content-Type: application/json\r\n",
            &metadata.to_string(),
        );
    } else {
        respond(&mut stream, "404 Not Found", "", "");
    }
}

/// Streams a chunked body of JSON whitespace until the client stops reading, or the bound.
fn endless(stream: &mut TcpStream, streamed: &AtomicUsize) {
    let started = Instant::now();
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, " ".repeat(64 * 1024));
    while started.elapsed() < SERVER_BOUND {
        if stream.write_all(chunk.as_bytes()).is_err() {
            return;
        }
        streamed.fetch_add(64 * 1024, Ordering::AcqRel);
    }
}

/// This process's resident memory, in bytes.
fn resident() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: usize = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .unwrap();
    kib * 1024
}

fn client(server: &Hostile, name: &str) -> Client {
    Client::builder(ServerConfig::http(server.url()).name(name))
        .connect_timeout(Duration::from_secs(2))
        .sign_in_timeout(Duration::from_secs(2))
        .build()
}

#[test]
fn an_endless_metadata_body_is_cut_at_its_size_bound() {
    let server = Hostile::start(Second::Endless);
    let client = client(&server, "endless");
    let before = resident();
    let started = Instant::now();
    let error = client.list_tools_blocking().unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(&error, Error::AuthorizationFailed { server, .. } if server == "endless"),
        "{error:?}"
    );
    assert_eq!(server.metadata_fetches.load(Ordering::Acquire), 2);
    // The cap is 1 MiB; socket buffers take a few more before the server sees the close.
    let streamed = server.streamed.load(Ordering::Acquire);
    assert!(streamed < 32 << 20, "the client took {streamed} bytes");
    let grown = resident().saturating_sub(before);
    assert!(grown < 64 << 20, "memory grew by {grown} bytes");
    // Cut by size, not by the sign-in's bound of 4 s.
    assert!(took < Duration::from_secs(3), "{took:?}");
    client.close_blocking().unwrap();
}

#[test]
fn an_endless_body_at_a_configured_metadata_url_is_cut_at_its_size_bound() {
    let server = Hostile::start(Second::Endless);
    let configured = format!("http://127.0.0.1:{}/configured-metadata", server.port);
    let client = Client::builder(
        ServerConfig::http(server.url())
            .name("configured")
            .oauth(mcp_dispatch::OAuth::new().authorization_server_metadata_url(configured)),
    )
    .connect_timeout(Duration::from_secs(2))
    .sign_in_timeout(Duration::from_secs(2))
    .build();
    let started = Instant::now();
    let error = client.list_tools_blocking().unwrap_err();
    assert!(
        matches!(&error, Error::AuthorizationFailed { server, error, description: Some(why), .. }
            if server == "configured" && error == "discovery failed"
                && why.contains("more than 1048576 bytes")),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    let streamed = server.streamed.load(Ordering::Acquire);
    assert!(streamed < 32 << 20, "the client took {streamed} bytes");
    client.close_blocking().unwrap();
}

#[test]
fn a_sign_in_stuck_on_discovery_is_cancelled_and_the_next_one_reaches_the_server() {
    let sign_in_threads = || {
        common::thread_names()
            .iter()
            .filter(|name| name.starts_with("mcp-dispatch-sign"))
            .count()
    };
    let server = Hostile::start(Second::Hang);
    let client = client(&server, "stuck");
    let error = client.list_tools_blocking().unwrap_err();
    assert!(
        matches!(&error, Error::AuthorizationFailed { error, .. } if error == "sign-in timed out")
            || matches!(&error, Error::Timeout { .. }),
        "{error:?}"
    );
    assert_eq!(server.metadata_fetches.load(Ordering::Acquire), 2);
    // The next sign-in is not held behind the stuck one: it reaches the server, fetches the
    // metadata twice more, and goes on to register, which this server refuses.
    let started = Instant::now();
    let error = client.list_tools_blocking().unwrap_err();
    assert!(
        matches!(&error, Error::AuthorizationFailed { server, error, .. }
            if server == "stuck" && error == "registration refused"),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(server.metadata_fetches.load(Ordering::Acquire), 4);
    client.close_blocking().unwrap();
    common::wait_until(Duration::from_secs(5), "the sign-in threads end", || {
        sign_in_threads() == 0
    });
}
