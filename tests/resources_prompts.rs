//! Resources and prompts, async and blocking.

mod common;

use std::time::Duration;

use common::{Speaks, server_speaking, text};
use mcp_dispatch::model::ResourceContents;
use mcp_dispatch::{Client, Error, Notification};
use serde_json::json;

fn resource_text(result: &mcp_dispatch::model::ReadResourceResult) -> String {
    match &result.contents[0] {
        ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("expected text contents, got {other:?}"),
    }
}

#[test]
fn resources_are_listed_read_and_templated() {
    let client = Client::new(common::server("resources"));
    let resources = client.list_resources_blocking().unwrap();
    let uris: Vec<&str> = resources
        .iter()
        .map(|resource| resource.uri.as_str())
        .collect();
    assert!(
        uris.contains(&"test://greeting") && uris.contains(&"test://counter"),
        "{uris:?}"
    );
    let greeting = client.read_resource_blocking("test://greeting").unwrap();
    assert_eq!(resource_text(&greeting), "hello from the test server");
    let templates = client.list_resource_templates_blocking().unwrap();
    assert!(
        templates
            .iter()
            .any(|template| template.uri_template == "test://item/{id}")
    );
    let item = futures::executor::block_on(client.read_resource("test://item/7")).unwrap();
    assert_eq!(resource_text(&item), "item 7");
    match client.read_resource_blocking("test://nothing").unwrap_err() {
        Error::Server {
            server, message, ..
        } => {
            assert_eq!(server, "resources");
            assert!(message.contains("test://nothing"), "{message}");
        }
        other => panic!("expected Error::Server, got {other:?}"),
    }
    client.close_blocking().unwrap();
}

/// On 2026-07-28 a subscription is a `subscriptions/listen` stream; before, a
/// `resources/subscribe` on the session.
#[test]
fn a_subscribed_resource_update_reaches_subscribers() {
    for speaks in Speaks::ALL {
        a_subscribed_resource_update_reaches(speaks);
    }
}

fn a_subscribed_resource_update_reaches(speaks: Speaks) {
    let client = Client::new(server_speaking("subscriber", speaks));
    let notifications = client.notifications();
    assert_eq!(
        text(
            &client
                .call_tool_blocking("touch", json!({"uri": "test://counter"}))
                .unwrap()
        ),
        "not subscribed"
    );
    client
        .subscribe_resource_blocking("test://counter")
        .unwrap();
    assert_eq!(
        text(
            &client
                .call_tool_blocking("touch", json!({"uri": "test://counter"}))
                .unwrap()
        ),
        "notified"
    );
    match notifications.recv_timeout(Duration::from_secs(10)) {
        Some(Notification::ResourceUpdated { server, uri }) => {
            assert_eq!(
                (server.as_str(), uri.as_str()),
                ("subscriber", "test://counter")
            );
        }
        other => panic!("{speaks:?}: expected ResourceUpdated, got {other:?}"),
    }
    client
        .unsubscribe_resource_blocking("test://counter")
        .unwrap();
    // On 2026-07-28 the server ends the stream when the cancellation it was sent arrives,
    // which is not ordered with the next call.
    common::wait_until(Duration::from_secs(5), "the subscription to end", || {
        let touched = client
            .call_tool_blocking("touch", json!({"uri": "test://counter"}))
            .unwrap();
        text(&touched) == "not subscribed"
    });
    assert_eq!(client.stats().connects, 1, "{speaks:?}");
    client.close_blocking().unwrap();
}

#[test]
fn prompts_are_listed_and_filled_in() {
    let client = Client::new(common::server("prompts"));
    let prompts = client.list_prompts_blocking().unwrap();
    assert!(prompts.iter().any(|prompt| prompt.name == "greet"));
    let greet = client
        .get_prompt_blocking("greet", json!({"name": "Ada"}))
        .unwrap();
    let message = serde_json::to_value(&greet.messages[0]).unwrap();
    assert_eq!(message["role"], "user");
    assert!(
        message.to_string().contains("Please greet Ada."),
        "{message}"
    );
    match client.get_prompt_blocking("greet", json!({})).unwrap_err() {
        Error::Server { message, .. } => assert!(message.contains("name"), "{message}"),
        other => panic!("expected Error::Server, got {other:?}"),
    }
    assert!(matches!(
        client.get_prompt_blocking("greet", json!("Ada")),
        Err(Error::InvalidArguments { .. })
    ));
    client.close_blocking().unwrap();
}
