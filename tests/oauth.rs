//! Signing in to servers that require it: the authorization code flow with PKCE against the
//! test server's own authorization server, with a test browser that approves at once.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::HttpServer;
use common::browser::follow_redirect;
use common::oauth::{authorizations, counting_browser, counts, oauth_server, store_folder};
use mcp_dispatch::{
    Client, CredentialStore as _, Error, FileCredentialStore, Job, LoopbackSignIn, ServerConfig,
    SignIn as _, SignInRequest,
};
use serde_json::json;

/// A client of `server` named `name` whose sign-in step approves at once, and the count of
/// how often that step was asked.
fn signing_in(server: &HttpServer, name: &str) -> (Client, Arc<AtomicUsize>) {
    let asked = Arc::new(AtomicUsize::new(0));
    let client = Client::builder(ServerConfig::http(server.url.as_str()).name(name))
        .sign_in(counting_browser(asked.clone()))
        .build();
    (client, asked)
}

#[test]
fn sixteen_concurrent_first_calls_sign_in_once() {
    let server = oauth_server();
    let (client, asked) = signing_in(&server, "guarded");
    let started = Instant::now();
    let callers: Vec<_> = (0..16)
        .map(|i| {
            let client = client.clone();
            std::thread::spawn(move || {
                client.call_tool_blocking("echo", json!({"text": format!("caller {i}")}))
            })
        })
        .collect();
    for (i, caller) in callers.into_iter().enumerate() {
        let echo = caller.join().unwrap().expect("a signed-in call");
        assert_eq!(common::text(&echo), format!("caller {i}"));
    }
    eprintln!(
        "first call to first result, signing in: {:?}",
        started.elapsed()
    );
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "one sign-in for 16 callers"
    );
    assert_eq!(authorizations(&client), (1, 1));
    assert_eq!(client.stats().connects, 1);
    client.close_blocking().unwrap();
}

#[test]
fn a_reconnect_reuses_the_token_without_a_second_sign_in() {
    let server = oauth_server();
    let (client, asked) = signing_in(&server, "reuse");
    client
        .call_tool_blocking("echo", json!({"text": "a"}))
        .unwrap();
    client.close_blocking().unwrap();
    let again = Client::builder(ServerConfig::http(server.url.as_str()).name("reuse"))
        .sign_in(counting_browser(asked.clone()))
        .build();
    // A new client has no token yet: it signs in again (tokens are kept per client).
    again
        .call_tool_blocking("echo", json!({"text": "b"}))
        .unwrap();
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    assert_eq!(authorizations(&again), (2, 2));
    again.close_blocking().unwrap();
}

#[test]
fn without_a_sign_in_step_the_error_carries_the_authorization_url() {
    let server = oauth_server();
    let client = Client::new(ServerConfig::http(server.url.as_str()).name("locked"));
    let started = Instant::now();
    match client.list_tools_blocking() {
        Err(Error::AuthorizationRequired {
            server: name,
            url,
            authorization_url,
        }) => {
            assert_eq!(name, "locked");
            assert_eq!(url, server.url);
            let origin = server.url.trim_end_matches("/mcp");
            assert!(
                authorization_url.starts_with(&format!("{origin}/authorize?")),
                "{authorization_url}"
            );
            for part in [
                "code_challenge_method=S256",
                "code_challenge=",
                "state=",
                "resource=",
            ] {
                assert!(
                    authorization_url.contains(part),
                    "{part} in {authorization_url}"
                );
            }
        }
        other => panic!("expected Error::AuthorizationRequired, got {other:?}"),
    }
    // No connect backoff: the failure is immediate, not three backed-off attempts.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(client.stats().connects, 0);
}

#[test]
fn a_denied_or_abandoned_sign_in_is_a_typed_failure() {
    let server = oauth_server();
    let denied = Client::builder(ServerConfig::http(server.url.as_str()).name("denied"))
        .sign_in(|request: &SignInRequest| {
            Ok(format!(
                "{}?error=access_denied&error_description=the+user+said+no",
                request.redirect_uri
            ))
        })
        .build();
    match denied.list_tools_blocking() {
        Err(Error::AuthorizationFailed {
            server,
            error,
            description,
            ..
        }) => {
            assert_eq!(server, "denied");
            assert_eq!(error, "access_denied");
            assert_eq!(description.as_deref(), Some("the user said no"));
        }
        other => panic!("expected Error::AuthorizationFailed, got {other:?}"),
    }
    let abandoned = Client::builder(ServerConfig::http(server.url.as_str()).name("abandoned"))
        .sign_in(|_: &SignInRequest| Err("the window was closed".to_owned()))
        .build();
    match abandoned.list_tools_blocking() {
        Err(error @ Error::AuthorizationFailed { .. }) => {
            let text = error.to_string();
            assert!(text.contains("abandoned"), "{text}");
            assert!(text.contains("the window was closed"), "{text}");
        }
        other => panic!("expected Error::AuthorizationFailed, got {other:?}"),
    }
    // A step that answers only when the test ends, long after the timeout.
    let (_release, released) = std::sync::mpsc::channel::<()>();
    let released = Mutex::new(released);
    let slow = Client::builder(ServerConfig::http(server.url.as_str()).name("slow"))
        .sign_in(move |_: &SignInRequest| {
            let _ = released
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(30));
            Err("too late".to_owned())
        })
        .sign_in_timeout(Duration::from_millis(300))
        .build();
    match slow.list_tools_blocking() {
        Err(Error::AuthorizationFailed { description, .. }) => {
            let description = description.unwrap_or_default();
            assert!(description.contains("no answer within"), "{description}");
        }
        other => panic!("expected Error::AuthorizationFailed, got {other:?}"),
    }
}

#[test]
fn sign_in_works_from_smol_and_from_a_host_dispatcher() {
    let server = oauth_server();
    let on_smol = Client::builder(ServerConfig::http(server.url.as_str()).name("smol"))
        .dispatcher(|job: Job| smol::spawn(job).detach())
        .sign_in(follow_redirect)
        .build();
    let echo = smol::block_on(on_smol.call_tool("echo", json!({"text": "from smol"}))).unwrap();
    assert_eq!(common::text(&echo), "from smol");

    // A host loop that polls every job it is given on its own thread.
    let (jobs, to_poll) = std::sync::mpsc::channel::<Job>();
    let host = std::thread::spawn(move || {
        let mut pool = futures::executor::LocalPool::new();
        let spawner = pool.spawner();
        loop {
            while let Ok(job) = to_poll.try_recv() {
                use futures::task::SpawnExt;
                spawner.spawn(job).unwrap();
            }
            pool.run_until_stalled();
            match to_poll.recv_timeout(Duration::from_millis(5)) {
                Ok(job) => {
                    use futures::task::SpawnExt;
                    spawner.spawn(job).unwrap();
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
    });
    let jobs = std::sync::Mutex::new(jobs);
    let hosted = Client::builder(ServerConfig::http(server.url.as_str()).name("hosted"))
        .dispatcher(move |job: Job| {
            let _ = jobs.lock().unwrap().send(job);
        })
        .sign_in(follow_redirect)
        .build();
    let echo = hosted
        .call_tool_blocking("echo", json!({"text": "from the host"}))
        .unwrap();
    assert_eq!(common::text(&echo), "from the host");
    assert_eq!(authorizations(&hosted), (2, 2));
    drop((on_smol, hosted));
    // The host's loop ends once the library drops the dispatcher (and with it the channel).
    common::wait_until(Duration::from_secs(20), "the host loop to end", || {
        host.is_finished()
    });
    host.join().unwrap();
}

#[test]
fn a_403_for_more_scope_signs_in_again_with_it_and_the_call_goes_through() {
    let server = HttpServer::start(
        "127.0.0.1:0",
        &[
            ("MCP_TEST_OAUTH", "1"),
            ("MCP_TEST_OAUTH_CALL_SCOPE", "admin"),
        ],
    );
    let (client, asked) = signing_in(&server, "step-up");
    // Listing needs only a token; calling needs the `admin` scope too.
    let tools = client.list_tools_blocking().unwrap();
    assert!(tools.iter().any(|tool| tool.name == "echo"));
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    let echo = client
        .call_tool_blocking("echo", json!({"text": "with admin"}))
        .unwrap();
    assert_eq!(common::text(&echo), "with admin");
    assert_eq!(asked.load(Ordering::SeqCst), 2, "one sign-in, one step-up");
    // The session carried on: one connect, and the next call needs no new sign-in.
    client
        .call_tool_blocking("echo", json!({"text": "again"}))
        .unwrap();
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    assert_eq!(client.stats().connects, 1);
    client.close_blocking().unwrap();
}

#[test]
fn a_scope_that_is_never_granted_gives_up_after_two_step_ups() {
    let server = HttpServer::start(
        "127.0.0.1:0",
        &[
            ("MCP_TEST_OAUTH", "1"),
            ("MCP_TEST_OAUTH_CALL_SCOPE", "root"),
        ],
    );
    let (client, asked) = signing_in(&server, "bounded");
    match client.call_tool_blocking("echo", json!({"text": "x"})) {
        Err(Error::InsufficientScope {
            server: name,
            url,
            scope,
        }) => {
            assert_eq!(name, "bounded");
            assert_eq!(url, server.url);
            assert_eq!(scope.as_deref(), Some("mcp root"));
        }
        other => panic!("expected Error::InsufficientScope, got {other:?}"),
    }
    // One sign-in and two step-ups, then the typed error: three authorizations in all.
    assert_eq!(asked.load(Ordering::SeqCst), 3);
    assert_eq!(authorizations(&client).0, 3);
    client.close_blocking().unwrap();
}

#[test]
fn a_machine_signs_in_with_its_client_credentials_and_no_user() {
    let server = oauth_server();
    let machine = Client::new(
        ServerConfig::http(server.url.as_str())
            .name("machine")
            .oauth(mcp_dispatch::OAuth::client_credentials("machine", "s3cret")),
    );
    let echo = machine
        .call_tool_blocking("echo", json!({"text": "no user"}))
        .unwrap();
    assert_eq!(common::text(&echo), "no user");
    assert_eq!(
        authorizations(&machine),
        (0, 1),
        "a token, and no authorization request"
    );
    machine.close_blocking().unwrap();

    let impostor = Client::new(
        ServerConfig::http(server.url.as_str())
            .name("impostor")
            .oauth(mcp_dispatch::OAuth::client_credentials(
                "machine",
                "n0t-the-s3cret",
            )),
    );
    match impostor.list_tools_blocking() {
        Err(error @ Error::AuthorizationFailed { .. }) => {
            let text = error.to_string();
            assert!(text.contains("impostor"), "{text}");
            assert!(text.contains("token exchange refused"), "{text}");
            assert!(
                !text.contains("n0t-the-s3cret"),
                "the secret leaked: {text}"
            );
        }
        other => panic!("expected Error::AuthorizationFailed, got {other:?}"),
    }
}

#[test]
fn a_hub_signs_in_to_each_of_its_servers_with_one_step() {
    let first = oauth_server();
    let second = oauth_server();
    let asked = Arc::new(AtomicUsize::new(0));
    let folder = store_folder("hub");
    let hub = |sign_in: bool| {
        let builder = mcp_dispatch::Hub::builder()
            .credential_store(FileCredentialStore::new(&folder))
            .server("first", ServerConfig::http(first.url.as_str()))
            .server("second", ServerConfig::http(second.url.as_str()));
        let builder = match sign_in {
            true => builder.sign_in(counting_browser(asked.clone())),
            false => builder,
        };
        builder.build().unwrap()
    };
    let signing_in = hub(true);
    let listed = signing_in.list_tools_blocking();
    assert!(listed.errors.is_empty(), "{:?}", listed.errors);
    assert!(listed.tools.iter().any(|tool| tool.name == "first__echo"));
    assert!(listed.tools.iter().any(|tool| tool.name == "second__echo"));
    assert_eq!(asked.load(Ordering::SeqCst), 2, "one sign-in per server");
    signing_in.close_blocking().unwrap();

    // Each server's sign-in is kept under its own name, and a new hub uses both.
    let store = FileCredentialStore::new(&folder);
    assert!(store.path("first").exists() && store.path("second").exists());
    let kept = hub(false);
    let listed = kept.list_tools_blocking();
    assert!(listed.errors.is_empty(), "{:?}", listed.errors);
    for name in ["first__echo", "second__echo"] {
        assert!(listed.tools.iter().any(|tool| tool.name == name), "{name}");
    }
    assert_eq!(asked.load(Ordering::SeqCst), 2, "no sign-in in the new hub");
    kept.close_blocking().unwrap();
}

#[test]
fn a_2025_03_26_server_that_is_its_own_authorization_server_is_signed_in_to() {
    // No protected-resource metadata, and server metadata whose issuer is not its origin.
    let server = HttpServer::start("127.0.0.1:0", &[("MCP_TEST_OAUTH", "2025-03-26")]);
    let client = Client::builder(ServerConfig::http(server.url.as_str()).name("legacy"))
        .sign_in(follow_redirect)
        .build();
    let echo = client
        .call_tool_blocking("echo", json!({"text": "old rules"}))
        .unwrap();
    assert_eq!(common::text(&echo), "old rules");
    assert_eq!(authorizations(&client), (1, 1));
    client.close_blocking().unwrap();
}

#[test]
fn an_expiring_token_is_refreshed_without_a_second_sign_in() {
    // Tokens that are expired when issued: the client refreshes before each request, with
    // no waiting for a clock.
    let server = HttpServer::start(
        "127.0.0.1:0",
        &[("MCP_TEST_OAUTH", "1"), ("MCP_TEST_OAUTH_EXPIRES_IN", "0")],
    );
    let (client, asked) = signing_in(&server, "refreshing");
    client
        .call_tool_blocking("echo", json!({"text": "first"}))
        .unwrap();
    let echo = client
        .call_tool_blocking("echo", json!({"text": "after expiry"}))
        .unwrap();
    assert_eq!(common::text(&echo), "after expiry");
    assert_eq!(asked.load(Ordering::SeqCst), 1, "no second sign-in");
    let (authorizations, _, refreshes) = counts(&client);
    assert_eq!(authorizations, 1);
    assert!(refreshes >= 1, "the token was refreshed");
    client.close_blocking().unwrap();
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_kept_sign_in_is_used_by_the_next_client_and_written_for_its_owner_only() {
    let server = oauth_server();
    let folder = store_folder("kept");
    let config = || ServerConfig::http(server.url.as_str()).name("kept");
    let asked = Arc::new(AtomicUsize::new(0));
    let first = Client::builder(config())
        .sign_in(counting_browser(asked.clone()))
        .credential_store(FileCredentialStore::new(&folder))
        .build();
    first
        .call_tool_blocking("echo", json!({"text": "signed in"}))
        .unwrap();
    first.close_blocking().unwrap();

    let store = FileCredentialStore::new(&folder);
    let kept = store.path("kept");
    let files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(
        files,
        std::slice::from_ref(&kept),
        "one file, no temporary left behind"
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&kept), 0o600, "the file is its owner's only");
        assert_eq!(mode(&folder), 0o700, "so is the folder");
    }
    let text = std::fs::read_to_string(&kept).unwrap();
    assert!(
        text.contains(&server.url),
        "the record names its server: {text}"
    );

    // The next run of the program: a new client with no sign-in step at all.
    let second = Client::builder(config())
        .credential_store(FileCredentialStore::new(&folder))
        .build();
    let echo = second
        .call_tool_blocking("echo", json!({"text": "no second sign-in"}))
        .expect("the kept token is used");
    assert_eq!(common::text(&echo), "no second sign-in");
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    assert_eq!(
        authorizations(&second),
        (1, 1),
        "one authorization, one token"
    );
    second.close_blocking().unwrap();

    // A kept sign-in for another client id is not used.
    let other_client =
        Client::builder(config().oauth(mcp_dispatch::OAuth::new().client_id("other-app")))
            .credential_store(FileCredentialStore::new(&folder))
            .build();
    let error = other_client
        .call_tool_blocking("echo", json!({"text": "x"}))
        .unwrap_err();
    assert!(
        matches!(&error, Error::AuthorizationRequired { .. }),
        "{error:?}"
    );
    other_client.close_blocking().unwrap();

    // A kept sign-in for another URL is not sent there.
    let elsewhere = oauth_server();
    let other = Client::builder(ServerConfig::http(elsewhere.url.as_str()).name("kept"))
        .credential_store(FileCredentialStore::new(&folder))
        .build();
    let error = other
        .call_tool_blocking("echo", json!({"text": "x"}))
        .unwrap_err();
    assert!(
        matches!(&error, Error::AuthorizationRequired { server, .. } if server == "kept"),
        "{error:?}"
    );
    other.close_blocking().unwrap();

    // Signing out forgets it.
    store.remove("kept").unwrap();
    assert!(!kept.exists());
    let third = Client::builder(config())
        .credential_store(FileCredentialStore::new(&folder))
        .build();
    let error = third
        .call_tool_blocking("echo", json!({"text": "x"}))
        .unwrap_err();
    assert!(
        matches!(&error, Error::AuthorizationRequired { .. }),
        "{error:?}"
    );
    third.close_blocking().unwrap();
}

#[test]
fn a_kept_token_that_expired_is_refreshed_by_the_next_client() {
    let server = HttpServer::start(
        "127.0.0.1:0",
        &[("MCP_TEST_OAUTH", "1"), ("MCP_TEST_OAUTH_EXPIRES_IN", "0")],
    );
    let folder = store_folder("expired");
    let config = || ServerConfig::http(server.url.as_str()).name("expired");
    let first = Client::builder(config())
        .sign_in(follow_redirect)
        .credential_store(FileCredentialStore::new(&folder))
        .build();
    first
        .call_tool_blocking("echo", json!({"text": "signed in"}))
        .unwrap();
    first.close_blocking().unwrap();
    let path = FileCredentialStore::new(&folder).path("expired");
    let before = std::fs::read_to_string(&path).unwrap();

    let second = Client::builder(config())
        .credential_store(FileCredentialStore::new(&folder))
        .build();
    let echo = second
        .call_tool_blocking("echo", json!({"text": "refreshed"}))
        .expect("the expired token is refreshed, with no sign-in step");
    assert_eq!(common::text(&echo), "refreshed");
    let (authorizations, _, refreshes) = counts(&second);
    assert_eq!(authorizations, 1);
    assert!(refreshes >= 1, "refreshed {refreshes} times");
    second.close_blocking().unwrap();
    let after = std::fs::read_to_string(&path).unwrap();
    assert_ne!(before, after, "the refreshed token is kept");
}

#[test]
fn a_revoked_token_needs_a_new_sign_in_and_without_a_step_is_a_typed_error() {
    let server = oauth_server();
    let folder = store_folder("revoked");
    let config = || ServerConfig::http(server.url.as_str()).name("revoked");
    let asked = Arc::new(AtomicUsize::new(0));
    let client = Client::builder(config())
        .sign_in(counting_browser(asked.clone()))
        .credential_store(FileCredentialStore::new(&folder))
        .build();
    client
        .call_tool_blocking("echo", json!({"text": "signed in"}))
        .unwrap();
    client
        .call_tool_blocking("revoke_tokens", json!({}))
        .unwrap();

    // A client with the revoked sign-in and no way to ask the user: the access token is
    // refused, the refresh token too, and the error says where to sign in.
    let stranded = Client::builder(config())
        .credential_store(FileCredentialStore::new(&folder))
        .build();
    let error = stranded
        .call_tool_blocking("echo", json!({"text": "x"}))
        .unwrap_err();
    match &error {
        Error::AuthorizationRequired {
            server: name,
            authorization_url,
            ..
        } => {
            assert_eq!(name, "revoked");
            assert!(authorization_url.contains("code_challenge_method=S256"));
        }
        other => panic!("expected AuthorizationRequired, got {other:?}"),
    }
    stranded.close_blocking().unwrap();

    // The client with a sign-in step signs in again, once, and the call goes through.
    let echo = client
        .call_tool_blocking("echo", json!({"text": "signed in again"}))
        .expect("a new sign-in");
    assert_eq!(common::text(&echo), "signed in again");
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    assert_eq!(authorizations(&client).0, 2);
    assert_eq!(client.stats().connects, 1, "the session is kept");
    client.close_blocking().unwrap();
}

#[test]
fn a_refused_token_is_refreshed_once_before_asking_the_user() {
    let server = oauth_server();
    let (client, asked) = signing_in(&server, "refusing");
    client
        .call_tool_blocking("echo", json!({"text": "signed in"}))
        .unwrap();
    client
        .call_tool_blocking("revoke_tokens", json!({"access_only": true}))
        .unwrap();
    let echo = client
        .call_tool_blocking("echo", json!({"text": "refreshed"}))
        .expect("the refresh token still works");
    assert_eq!(common::text(&echo), "refreshed");
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "the user was not asked again"
    );
    let (authorizations, tokens, refreshes) = counts(&client);
    assert_eq!((authorizations, tokens, refreshes), (1, 2, 1));
    client.close_blocking().unwrap();
}

/// The redirect URIs a [`loopback`] step was asked to wait on, each with the status line of
/// the page its listener showed the browser.
type Pages = Arc<Mutex<Vec<(String, String)>>>;

/// A loopback sign-in step whose "user" approves in a browser of its own, started by `open`.
fn loopback(pages: Pages) -> LoopbackSignIn {
    LoopbackSignIn::new(move |request: &SignInRequest| {
        let request = request.clone();
        let pages = pages.clone();
        std::thread::spawn(move || {
            let page = common::browser::visit(&request).unwrap_or_else(|error| error);
            pages
                .lock()
                .unwrap()
                .push((request.redirect_uri.clone(), page));
        });
        Ok(())
    })
}

/// The pages shown so far, once there is one (the browser thread may still be reading it).
fn shown(pages: &Pages) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pages.lock().unwrap().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    pages.lock().unwrap().clone()
}

#[test]
fn the_loopback_step_takes_the_redirect_on_a_free_port_and_then_closes_it() {
    let server = oauth_server();
    let pages = Pages::default();
    let client = Client::builder(ServerConfig::http(server.url.as_str()).name("loopback"))
        .sign_in(loopback(pages.clone()))
        .build();
    let echo = client
        .call_tool_blocking("echo", json!({"text": "via loopback"}))
        .expect("signed in through the loopback listener");
    assert_eq!(common::text(&echo), "via loopback");
    let pages = shown(&pages);
    assert_eq!(pages.len(), 1, "{pages:?}");
    let (redirect_uri, page) = &pages[0];
    assert_eq!(page, "HTTP/1.1 200 OK");
    assert!(
        redirect_uri.starts_with("http://127.0.0.1:") && redirect_uri.ends_with("/callback"),
        "{redirect_uri}"
    );
    assert_ne!(redirect_uri, mcp_dispatch::DEFAULT_REDIRECT_URI);
    // One redirect only: the port no longer listens.
    let address = redirect_uri
        .trim_start_matches("http://")
        .trim_end_matches("/callback");
    assert!(std::net::TcpStream::connect(address).is_err());
    client.close_blocking().unwrap();
}

#[test]
fn the_loopback_step_ignores_stray_requests_and_stops_waiting_in_time() {
    let step = LoopbackSignIn::new(|_: &SignInRequest| Ok(())).timeout(Duration::from_millis(1500));
    let redirect_uri = step.redirect_uri();
    let request = SignInRequest::new(
        "waiting",
        "http://127.0.0.1:1/mcp",
        "http://127.0.0.1:1/authorize?state=expected&code_challenge_method=S256",
        &redirect_uri,
    );
    let base = url::Url::parse(&redirect_uri).unwrap();
    let waiting = std::thread::spawn(move || step.sign_in(&request));
    let page = |target: &str| {
        let answer = common::browser::get(&base.join(target).unwrap()).unwrap();
        answer.lines().next().unwrap().to_owned()
    };
    // The port is bound by `redirect_uri`: a request waits in its backlog until the step
    // listens.
    assert_eq!(page("/favicon.ico"), "HTTP/1.1 404 Not Found");
    assert_eq!(
        page("/callback?code=forged&state=other"),
        "HTTP/1.1 400 Bad Request"
    );
    assert_eq!(
        page("/callback?code=real&state=expected"),
        "HTTP/1.1 200 OK"
    );
    let redirected = waiting.join().unwrap().expect("the real redirect");
    assert_eq!(
        redirected,
        format!(
            "{}?code=real&state=expected",
            redirect_uri.trim_end_matches('/')
        )
    );

    // Nobody comes: the wait ends at its bound.
    let step = LoopbackSignIn::new(|_: &SignInRequest| Ok(())).timeout(Duration::from_millis(300));
    let redirect_uri = step.redirect_uri();
    let request = SignInRequest::new(
        "waiting",
        "http://127.0.0.1:1/mcp",
        "http://127.0.0.1:1/authorize?state=s",
        &redirect_uri,
    );
    let started = Instant::now();
    let error = step.sign_in(&request).unwrap_err();
    assert!(error.contains("no redirect"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // A redirect URI that is not on this machine is refused before the user is sent anywhere.
    let opened = Arc::new(AtomicUsize::new(0));
    let counted = opened.clone();
    let step = LoopbackSignIn::new(move |_: &SignInRequest| {
        counted.fetch_add(1, Ordering::SeqCst);
        Ok(())
    });
    let request = SignInRequest::new(
        "remote",
        "http://127.0.0.1:1/mcp",
        "http://127.0.0.1:1/authorize?state=s",
        "http://example.com:8080/callback",
    );
    let error = step.sign_in(&request).unwrap_err();
    assert!(error.contains("not on a loopback address"), "{error}");
    assert_eq!(opened.load(Ordering::SeqCst), 0);
}

#[test]
fn the_loopback_step_listens_on_ipv6_loopback_when_asked() {
    let server = oauth_server();
    let pages = Pages::default();
    let client = Client::builder(ServerConfig::http(server.url.as_str()).name("ipv6"))
        .sign_in(loopback(pages.clone()).ipv6())
        .build();
    let echo = client
        .call_tool_blocking("echo", json!({"text": "over ::1"}))
        .expect("signed in through [::1]");
    assert_eq!(common::text(&echo), "over ::1");
    let (redirect_uri, _) = shown(&pages)[0].clone();
    assert!(redirect_uri.starts_with("http://[::1]:"), "{redirect_uri}");
    client.close_blocking().unwrap();
}

#[test]
fn a_server_on_the_http_sse_transport_signs_in_and_sends_the_token_on_every_post() {
    let server = oauth_server();
    let asked = Arc::new(AtomicUsize::new(0));
    let client = Client::builder(ServerConfig::sse(server.sse_url()).name("old"))
        .sign_in(counting_browser(asked.clone()))
        .build();
    for i in 0..5 {
        let echo = client
            .call_tool_blocking("echo", json!({"text": format!("call {i}")}))
            .unwrap();
        assert_eq!(common::text(&echo), format!("call {i}"));
    }
    assert_eq!(asked.load(Ordering::SeqCst), 1, "one sign-in");
    assert_eq!(authorizations(&client), (1, 1));
    let stats = client.stats();
    assert_eq!(stats.transport, Some(mcp_dispatch::TransportKind::Sse));
    assert_eq!(stats.connects, 1);
    client.close_blocking().unwrap();
}
