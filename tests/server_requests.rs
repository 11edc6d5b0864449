//! Requests from server to client: elicitation, sampling, roots; answered by handlers, or
//! refused with a JSON-RPC error when there is none. On protocol 2025-11-25 the server sends
//! them as requests; on 2026-07-28 it answers the call with `input_required`, and the client
//! answers through the same handlers and calls again.
// rmcp marks sampling and roots deprecated (SEP-2577); servers still send them.
#![allow(deprecated)]

mod common;

use common::{Speaks, server_speaking, text};
use mcp_dispatch::model::{
    CreateMessageResult, ElicitResult, ElicitationAction, ErrorData, Root, SamplingMessage,
};
use mcp_dispatch::{Client, Error, Handlers};
use serde_json::json;

fn handlers() -> Handlers {
    Handlers::new()
        .on_elicitation(|request| async move {
            // Accept, filling in every default of the requested schema.
            let schema = serde_json::to_value(&request).unwrap();
            let mut content = serde_json::Map::new();
            if let Some(properties) = schema["requestedSchema"]["properties"].as_object() {
                for (name, property) in properties {
                    if let Some(default) = property.get("default") {
                        content.insert(name.clone(), default.clone());
                    }
                }
            }
            Ok(ElicitResult::new(ElicitationAction::Accept)
                .with_content(serde_json::Value::Object(content)))
        })
        .on_sampling(|params| async move {
            let prompt = serde_json::to_value(&params.messages).unwrap().to_string();
            Ok(CreateMessageResult::new(
                SamplingMessage::assistant_text(format!("sampled {}", prompt.len())),
                "test-model".to_owned(),
            ))
        })
        .roots(vec![Root::new("file:///work/project")])
}

#[test]
fn handlers_answer_elicitation_sampling_and_roots() {
    for speaks in Speaks::ALL {
        let client = Client::builder(server_speaking("asking", speaks))
            .handlers(handlers())
            .build();
        let answer = text(
            &client
                .call_tool_blocking("ask", json!({"message": "go?"}))
                .unwrap(),
        );
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["action"], "accept", "{speaks:?}");
        assert_eq!(answer["content"]["answer"], "yes", "{speaks:?}");
        let sampled = client
            .call_tool_blocking("sample", json!({"prompt": "hi"}))
            .unwrap();
        assert_ne!(sampled.is_error, Some(true), "{speaks:?}: {sampled:?}");
        assert!(text(&sampled).starts_with("sampled "), "{}", text(&sampled));
        let roots = client.call_tool_blocking("roots", json!({})).unwrap();
        assert_eq!(text(&roots), "file:///work/project", "{speaks:?}");
        let info = client.server_info_blocking().unwrap();
        assert_eq!(info.protocol_version.as_str(), speaks.version());
        assert_eq!(client.stats().connects, 1, "{speaks:?}");
        client.close_blocking().unwrap();
    }
}

#[test]
fn without_handlers_capabilities_are_not_advertised_and_requests_get_errors() {
    for speaks in Speaks::ALL {
        let client = Client::new(server_speaking("plain", speaks));
        let asked = client
            .call_tool_blocking("ask", json!({"message": "go?"}))
            .unwrap();
        assert_eq!(asked.is_error, Some(true), "{speaks:?}");
        assert!(text(&asked).contains("did not declare"), "{}", text(&asked));
        for (tool, method) in [
            ("sample", "sampling/createMessage"),
            ("roots", "roots/list"),
        ] {
            let answer = client.call_tool_blocking(tool, json!({"prompt": "x"}));
            if speaks == Speaks::Old {
                // The server got the error, and made its tool fail.
                let refused = answer.unwrap();
                assert_eq!(refused.is_error, Some(true), "{tool}: {refused:?}");
                assert!(
                    text(&refused).contains("-32601"),
                    "{tool}: {}",
                    text(&refused)
                );
            } else {
                // The client cannot answer, so the call fails here, naming what was asked.
                match answer {
                    Err(Error::Handler {
                        server,
                        tool: Some(called),
                        method: asked,
                        code: -32601,
                        message,
                    }) => {
                        assert_eq!((server.as_str(), called.as_str()), ("plain", tool));
                        assert_eq!(asked, method);
                        assert!(message.contains("not supported"), "{message}");
                    }
                    other => panic!("{speaks:?} {tool}: expected Error::Handler, got {other:?}"),
                }
            }
        }
        assert_eq!(client.stats().connects, 1, "{speaks:?}");
        client.close_blocking().unwrap();
    }
}

#[test]
fn a_panicking_handler_answers_with_an_error_and_the_session_lives_on() {
    for speaks in Speaks::ALL {
        let handlers = Handlers::new().on_roots(|| async {
            if true {
                panic!("roots handler panicked on purpose");
            }
            Err::<mcp_dispatch::model::ListRootsResult, ErrorData>(ErrorData::internal_error(
                "unreachable",
                None,
            ))
        });
        let client = Client::builder(server_speaking("panicky", speaks))
            .handlers(handlers)
            .build();
        match client.call_tool_blocking("roots", json!({})) {
            Ok(roots) if speaks == Speaks::Old => {
                assert_eq!(roots.is_error, Some(true));
                assert!(text(&roots).contains("handler failed"), "{}", text(&roots));
            }
            Err(error @ Error::Handler { code: -32603, .. }) if speaks != Speaks::Old => {
                assert!(error.to_string().contains("handler failed"), "{error}");
            }
            other => panic!("{speaks:?}: unexpected {other:?}"),
        }
        let echo = client
            .call_tool_blocking("echo", json!({"text": "alive"}))
            .unwrap();
        assert_eq!(text(&echo), "alive");
        assert_eq!(client.stats().connects, 1, "{speaks:?}");
        client.close_blocking().unwrap();
    }
}

#[test]
fn a_hub_takes_handlers_for_all_servers_or_for_one() {
    let hub = mcp_dispatch::Hub::builder()
        .handlers(Handlers::new().roots(vec![Root::new("file:///shared")]))
        .server("plain", common::server("x"))
        .server("special", common::server("y"))
        .handlers_for(
            "special",
            Handlers::new().roots(vec![Root::new("file:///special")]),
        )
        .build()
        .unwrap();
    let plain = hub.call_tool_blocking("plain__roots", json!({})).unwrap();
    assert_eq!(text(&plain), "file:///shared");
    let special = hub.call_tool_blocking("special__roots", json!({})).unwrap();
    assert_eq!(text(&special), "file:///special");
    hub.close_blocking().unwrap();
}

/// Handler bodies run as jobs on the client's dispatcher, never inline in rmcp's callbacks
/// (which run on the library's tokio thread): with a host dispatcher that runs each job on a
/// thread of its own, the body runs there.
#[test]
fn a_handler_body_runs_as_a_job_on_the_clients_dispatcher() {
    let (tx, rx) = std::sync::mpsc::channel();
    let handlers = Handlers::new().on_roots(move || {
        let _ = tx.send(std::thread::current().name().map(str::to_owned));
        async { Ok(mcp_dispatch::model::ListRootsResult::new(Vec::new())) }
    });
    let client = Client::builder(common::server("dispatched"))
        .handlers(handlers)
        .dispatcher(|job: mcp_dispatch::Job| {
            std::thread::Builder::new()
                .name("host-job".into())
                .spawn(move || futures::executor::block_on(job))
                .expect("a thread for the job");
        })
        .build();
    client.call_tool_blocking("roots", json!({})).unwrap();
    let thread = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the body ran");
    assert_eq!(thread.as_deref(), Some("host-job"));
    client.close_blocking().unwrap();
}
