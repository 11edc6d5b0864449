//! Sign-ins under limits: the loopback step's port when a sign-in times out or is shared by
//! several servers, and credential stores that cannot keep a sign-in as asked.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::browser::follow_redirect;
use common::oauth::{authorizations, counting_browser, oauth_server, store_folder};
use mcp_dispatch::{
    Client, Error, FileCredentialStore, Hub, LoopbackSignIn, OAuth, ServerConfig, SignIn,
    SignInRequest,
};
use serde_json::json;

/// The status lines of the pages the test browser was shown.
type Pages = Arc<Mutex<Vec<String>>>;

/// Approves `request` in a browser of its own (a thread), as a user would after `open`; the
/// page the loopback listener shows it goes to `pages`.
fn approve_later(request: &SignInRequest, pages: &Pages) {
    let request = request.clone();
    let pages = pages.clone();
    std::thread::spawn(move || {
        let page = common::browser::visit(&request).unwrap_or_else(|error| error);
        pages.lock().unwrap().push(page);
    });
}

/// The pages shown, once there are `count` (the browser threads may still be reading).
fn shown(pages: &Pages, count: usize) -> Vec<String> {
    common::wait_until(Duration::from_secs(10), "the pages", || {
        pages.lock().unwrap().len() >= count
    });
    pages.lock().unwrap().clone()
}

#[test]
fn a_sign_in_that_timed_out_frees_its_fixed_port_for_the_retry() {
    let server = oauth_server();
    let port = common::free_port();
    let opened = Arc::new(AtomicUsize::new(0));
    let pages = Pages::default();
    let (counted, shown_to) = (opened.clone(), pages.clone());
    // The user does not come the first time, and approves the second.
    let step = LoopbackSignIn::new(move |request: &SignInRequest| {
        if counted.fetch_add(1, Ordering::SeqCst) > 0 {
            approve_later(request, &shown_to);
        }
        Ok(())
    })
    .port(port);
    let client = Client::builder(ServerConfig::http(server.url.as_str()).name("retry"))
        .sign_in(step)
        .sign_in_timeout(Duration::from_secs(2))
        .build();
    match client.call_tool_blocking("echo", json!({"text": "x"})) {
        Err(Error::AuthorizationFailed { description, .. }) => {
            let description = description.unwrap_or_default();
            assert!(description.contains("no answer within"), "{description}");
        }
        other => panic!("expected Error::AuthorizationFailed, got {other:?}"),
    }
    common::wait_until(Duration::from_secs(2), "the port to be let go", || {
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
    });
    let echo = client
        .call_tool_blocking("echo", json!({"text": "on retry"}))
        .expect("the retry listens on the same port");
    assert_eq!(common::text(&echo), "on retry");
    assert_eq!(opened.load(Ordering::SeqCst), 2);
    assert_eq!(shown(&pages, 1), ["HTTP/1.1 200 OK"]);
    client.close_blocking().unwrap();
}

/// A hub's sign-in step that counts the sign-ins that came to it, in front of a loopback
/// step.
struct Counting {
    step: LoopbackSignIn,
    entered: Arc<AtomicUsize>,
}

impl SignIn for Counting {
    fn redirect_uri(&self) -> String {
        self.step.redirect_uri()
    }

    fn sign_in(&self, request: &SignInRequest) -> Result<String, String> {
        self.entered.fetch_add(1, Ordering::SeqCst);
        self.step.sign_in(request)
    }
}

/// Where two servers' sign-ins get the same loopback port from.
#[derive(Clone, Copy)]
enum SharedPort {
    /// The hub's loopback step listens on a fixed port.
    OfTheStep,
    /// Each server's settings name a redirect URI on it, as a config entry's `callbackPort`
    /// does.
    InTheSettings,
}

/// Two servers on a hub whose sign-ins use the same loopback port. The first user approves
/// only once both sign-ins have come to the step, so that they overlap. Both sign in.
fn two_servers_take_turns_at_one_port(shared: SharedPort) {
    let servers = [oauth_server(), oauth_server()];
    let port = common::free_port();
    let entered = Arc::new(AtomicUsize::new(0));
    let pages = Pages::default();
    let (both_in, shown_to) = (entered.clone(), pages.clone());
    let mut step = LoopbackSignIn::new(move |request: &SignInRequest| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while both_in.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        approve_later(request, &shown_to);
        Ok(())
    });
    let mut builder = Hub::builder();
    for (name, server) in ["first", "second"].into_iter().zip(&servers) {
        let config = ServerConfig::http(server.url.as_str());
        builder = builder.server(
            name,
            match shared {
                SharedPort::OfTheStep => config,
                SharedPort::InTheSettings => config
                    .oauth(OAuth::new().redirect_uri(format!("http://127.0.0.1:{port}/callback"))),
            },
        );
    }
    if let SharedPort::OfTheStep = shared {
        step = step.port(port);
    }
    let hub = builder
        .sign_in(Counting {
            step,
            entered: entered.clone(),
        })
        .build()
        .unwrap();
    let listed = hub.list_tools_blocking();
    assert!(listed.errors.is_empty(), "{:?}", listed.errors);
    for name in ["first__echo", "second__echo"] {
        assert!(listed.tools.iter().any(|tool| tool.name == name), "{name}");
    }
    assert_eq!(entered.load(Ordering::SeqCst), 2);
    assert_eq!(shown(&pages, 2), ["HTTP/1.1 200 OK"; 2]);
    hub.close_blocking().unwrap();
}

#[test]
fn two_servers_of_a_hub_take_turns_at_the_step_s_fixed_port() {
    two_servers_take_turns_at_one_port(SharedPort::OfTheStep);
}

#[test]
fn two_servers_whose_settings_name_the_same_callback_port_take_turns() {
    two_servers_take_turns_at_one_port(SharedPort::InTheSettings);
}

#[test]
fn a_long_server_name_keeps_its_sign_in_in_a_file_store() {
    let server = oauth_server();
    let folder = store_folder("long-names");
    // Each escapes (`%XX` for every byte but ASCII letters, digits, `-` and `_`) to a file
    // name past 255 bytes.
    let japanese: String = "日本語のサーバー名".chars().cycle().take(32).collect();
    for name in [japanese, "x".repeat(250), "/".repeat(84)] {
        let config = || ServerConfig::http(server.url.as_str()).name(name.as_str());
        let first = Client::builder(config())
            .sign_in(follow_redirect)
            .credential_store(FileCredentialStore::new(&folder))
            .build();
        let signed_in = first.call_tool_blocking("echo", json!({"text": "signed in"}));
        assert!(signed_in.is_ok(), "{} bytes: {signed_in:?}", name.len());
        let (_, tokens) = authorizations(&first);
        first.close_blocking().unwrap();

        let kept = FileCredentialStore::new(&folder).path(&name);
        assert!(kept.exists(), "{}", kept.display());
        assert!(kept.file_name().unwrap().len() <= 120, "{}", kept.display());
        // The next run: no sign-in step, the kept token or nothing.
        let second = Client::builder(config())
            .credential_store(FileCredentialStore::new(&folder))
            .build();
        let echo = second
            .call_tool_blocking("echo", json!({"text": "kept"}))
            .expect("the kept sign-in is used");
        assert_eq!(common::text(&echo), "kept");
        assert_eq!(authorizations(&second).1, tokens, "no second token");
        second.close_blocking().unwrap();
    }
}

/// The warnings logged in this test binary.
struct Warnings(Mutex<Vec<String>>);

impl log::Log for Warnings {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let mut lines = self
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            lines.push(record.args().to_string());
        }
    }

    fn flush(&self) {}
}

static WARNINGS: Warnings = Warnings(Mutex::new(Vec::new()));

#[test]
fn a_sign_in_that_cannot_be_kept_still_serves_the_client() {
    log::set_logger(&WARNINGS).expect("the only logger of this test binary");
    log::set_max_level(log::LevelFilter::Warn);
    let server = oauth_server();
    // A store whose folder cannot be made: its parent is a regular file.
    let parent = store_folder("unwritable");
    std::fs::write(&parent, "not a folder").unwrap();
    let store = FileCredentialStore::new(parent.join("sign-ins"));
    let asked = Arc::new(AtomicUsize::new(0));
    let client = Client::builder(ServerConfig::http(server.url.as_str()).name("unkept"))
        .sign_in(counting_browser(asked.clone()))
        .credential_store(store)
        .build();
    for text in ["first", "second"] {
        let echo = client.call_tool_blocking("echo", json!({"text": text}));
        assert!(echo.is_ok(), "the {text} call: {echo:?}");
    }
    assert_eq!(asked.load(Ordering::SeqCst), 1, "one sign-in");
    assert_eq!(authorizations(&client), (1, 1), "one token, kept in memory");
    let warnings = WARNINGS.0.lock().unwrap().clone();
    let not_kept: Vec<_> = warnings
        .iter()
        .filter(|line| line.contains("`unkept`") && line.contains("not kept"))
        .collect();
    assert_eq!(not_kept.len(), 1, "{warnings:?}");
    // The test server's tokens are `token-N` and `refresh-N-scope`.
    assert!(!not_kept[0].contains("token-"), "{}", not_kept[0]);
    assert!(!not_kept[0].contains("refresh-"), "{}", not_kept[0]);
    client.close_blocking().unwrap();
}
