use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

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

/// A port on 127.0.0.1 that nobody listens on (bound, then released).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A step on `port` of 127.0.0.1 that waits at most `timeout`, and the channel on which its
/// `open` reports each request it is handed (so the listener is up).
fn step_on(port: u16, timeout: Duration) -> (LoopbackSignIn, mpsc::Receiver<SignInRequest>) {
    let (opened, requests) = mpsc::channel();
    let opened = Mutex::new(opened);
    let step = LoopbackSignIn::new(move |request: &SignInRequest| {
        let _ = lock(&opened).send(request.clone());
        Ok(())
    })
    .port(port)
    .timeout(timeout);
    (step, requests)
}

/// A request, as the library makes them, for a redirect to `port` whose authorization URL
/// carries `state`.
fn request(port: u16, state: &str) -> SignInRequest {
    SignInRequest::new(
        "limits",
        "http://127.0.0.1:1/mcp",
        format!("http://127.0.0.1:1/authorize?state={state}&code_challenge_method=S256"),
        format!("http://127.0.0.1:{port}/callback"),
    )
}

/// Runs `step.sign_in(request)` on a thread; its outcome arrives on the channel.
fn run(
    step: Arc<LoopbackSignIn>,
    request: SignInRequest,
) -> mpsc::Receiver<Result<String, String>> {
    let (outcome, outcomes) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = outcome.send(step.sign_in(&request));
    });
    outcomes
}

/// Sends the redirect with `state` to the listener on `port`, as a browser does; returns the
/// status line of the page it gets.
fn redirect(port: u16, state: &str, bound: Duration) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(bound)).unwrap();
    write!(
        stream,
        "GET /callback?code=real&state={state} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_owned()
}

const BOUND: Duration = Duration::from_secs(10);

#[test]
fn a_slow_sender_and_idle_connections_do_not_delay_the_redirect() {
    let port = free_port();
    let (step, opened) = step_on(port, Duration::from_secs(120));
    let outcome = run(Arc::new(step), request(port, "expected"));
    opened.recv_timeout(BOUND).expect("the step is listening");

    // One byte a second of a request that never ends, first in the queue.
    let stop = Arc::new(AtomicBool::new(false));
    let mut slow = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let stopped = stop.clone();
    let slowloris = std::thread::spawn(move || {
        for byte in b"GET /callback?code=slow&state=expected".iter().take(20) {
            if stopped.load(Ordering::SeqCst) || slow.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    // Six connections that send nothing, as a browser's preconnects.
    let idle: Vec<_> = (0..6)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();

    let started = Instant::now();
    let page = redirect(port, "expected", Duration::from_secs(90));
    let took = started.elapsed();
    eprintln!("redirect answered after {took:?} behind a slow sender and 6 idle connections");
    stop.store(true, Ordering::SeqCst);
    assert_eq!(page, "HTTP/1.1 200 OK");
    assert!(
        took < Duration::from_secs(2),
        "the redirect waited {took:?}"
    );
    let redirected = outcome.recv_timeout(BOUND).unwrap().unwrap();
    assert!(redirected.contains("code=real"), "{redirected}");
    slowloris.join().unwrap();
    drop(idle);
}

#[test]
fn a_cancelled_sign_in_stops_waiting_at_once_and_frees_its_fixed_port() {
    let port = free_port();
    let (step, opened) = step_on(port, Duration::from_secs(60));
    let request = request(port, "abandoned");
    let outcome = run(Arc::new(step), request.clone());
    opened.recv_timeout(BOUND).expect("the step is listening");

    let started = Instant::now();
    request.cancel();
    let ended = outcome.recv_timeout(Duration::from_secs(90)).unwrap();
    let took = started.elapsed();
    eprintln!("the cancelled step returned after {took:?}: {ended:?}");
    assert!(ended.is_err(), "{ended:?}");
    assert!(
        took < Duration::from_secs(2),
        "the step returned after {took:?}"
    );
    TcpListener::bind(("127.0.0.1", port)).expect("the port is free again");
}

#[test]
fn a_second_sign_in_on_the_same_fixed_port_waits_its_turn() {
    let port = free_port();
    let (step, opened) = step_on(port, Duration::from_secs(60));
    let step = Arc::new(step);
    let first = run(step.clone(), request(port, "first"));
    let asked = opened
        .recv_timeout(BOUND)
        .expect("the first step is listening");
    assert!(asked.authorization_url.contains("state=first"));

    // The second sign-in starts while the first one holds the port.
    let (entering, entered) = mpsc::channel();
    let (outcome, second) = mpsc::channel();
    let in_turn = step.clone();
    std::thread::spawn(move || {
        let request = request(port, "second");
        let _ = entering.send(());
        let _ = outcome.send(in_turn.sign_in(&request));
    });
    entered.recv_timeout(BOUND).unwrap();

    assert_eq!(redirect(port, "first", BOUND), "HTTP/1.1 200 OK");
    let redirected = first.recv_timeout(BOUND).unwrap().unwrap();
    assert!(redirected.contains("state=first"), "{redirected}");
    let asked = match opened.recv_timeout(BOUND) {
        Ok(asked) => asked,
        Err(_) => panic!("the second step never listened: {:?}", second.try_recv()),
    };
    assert!(asked.authorization_url.contains("state=second"));
    assert_eq!(redirect(port, "second", BOUND), "HTTP/1.1 200 OK");
    let redirected = second.recv_timeout(BOUND).unwrap().unwrap();
    assert!(redirected.contains("state=second"), "{redirected}");
}

#[test]
fn a_fixed_port_is_not_bound_before_its_sign_in_comes_to_the_step() {
    let port = free_port();
    let (step, _opened) = step_on(port, Duration::from_secs(60));
    assert_eq!(
        step.redirect_uri(),
        format!("http://127.0.0.1:{port}/callback")
    );
    TcpListener::bind(("127.0.0.1", port)).expect("the port is still free");
}

#[test]
fn a_port_bound_for_a_sign_in_that_never_comes_to_the_step_is_let_go() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let step = LoopbackSignIn::new(|_: &SignInRequest| Ok(())).timeout(Duration::from_millis(200));
    // As a client asks for it: on the library's tokio thread.
    let redirect_uri = runtime.block_on(async { step.redirect_uri() });
    let address = Callback::parse(&redirect_uri).unwrap().address;
    assert!(TcpListener::bind(address).is_err(), "bound for the sign-in");
    let freed = runtime.block_on(async {
        let deadline = Instant::now() + BOUND;
        while TcpListener::bind(address).is_err() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        TcpListener::bind(address).is_ok()
    });
    assert!(freed, "{address} is still bound");
}
