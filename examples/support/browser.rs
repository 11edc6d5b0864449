//! A browser for tests: it asks for the authorization page and takes the redirect it answers
//! with, as if the user approved at once. Plain HTTP only (loopback authorization servers).

use std::io::{Read, Write};
use std::time::Duration;

use mcp_dispatch::SignInRequest;

/// Follows `request.authorization_url` once and returns the `Location` it redirects to.
pub fn follow_redirect(request: &SignInRequest) -> Result<String, String> {
    let url = url::Url::parse(&request.authorization_url).map_err(|error| error.to_string())?;
    let answer = get(&url)?;
    let location = answer
        .lines()
        .take_while(|line| !line.is_empty())
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("location")
                .then(|| value.trim().to_owned())
        })
        .ok_or_else(|| {
            format!(
                "the authorization page did not redirect: {}",
                answer.lines().next().unwrap_or("")
            )
        })?;
    let redirected = url.join(&location).map_err(|error| error.to_string())?;
    eprintln!("signed in; redirected to {}", redirected.path());
    Ok(redirected.into())
}

/// Approves at once, as [`follow_redirect`] does, then goes where the authorization server
/// sent it (a loopback sign-in step's listener); returns that page's status line.
pub fn visit(request: &SignInRequest) -> Result<String, String> {
    let redirected = follow_redirect(request)?;
    let url = url::Url::parse(&redirected).map_err(|error| error.to_string())?;
    let answer = get(&url)?;
    Ok(answer.lines().next().unwrap_or_default().to_owned())
}

/// The whole answer to a `GET` of `url`, head and body.
pub fn get(url: &url::Url) -> Result<String, String> {
    let host = url.host_str().ok_or("no host in the URL")?;
    let port = url.port_or_known_default().ok_or("no port")?;
    if url.scheme() != "http" {
        return Err(format!("cannot follow {} without TLS", url.scheme()));
    }
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let address = match url.host() {
        Some(url::Host::Ipv6(ip)) => std::net::SocketAddr::from((ip, port)),
        _ => std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
            .map_err(|error| error.to_string())?
            .next()
            .ok_or("no address")?,
    };
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(10))
        .map_err(|error| format!("cannot connect to {address}: {error}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|error| error.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|error| error.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|error| error.to_string())?;
    Ok(answer)
}
