//! The tool-list cache: one request for concurrent listings, dropped on list_changed.

mod common;

use std::time::Duration;

use common::{Speaks, server_speaking, text};
use mcp_dispatch::{Client, Notification};
use serde_json::json;

fn list_count(client: &Client) -> u64 {
    text(&client.call_tool_blocking("list_count", json!({})).unwrap())
        .parse()
        .unwrap()
}

#[test]
fn concurrent_listings_cause_one_request_and_later_ones_hit_the_cache() {
    let client = Client::new(common::server("cached"));
    client.call_tool_blocking("pid", json!({})).unwrap();
    assert_eq!(list_count(&client), 0);
    let listings: Vec<_> = (0..16).map(|_| client.list_tools()).collect();
    let results = futures::executor::block_on(futures::future::join_all(listings));
    for tools in results {
        assert!(tools.unwrap().iter().any(|tool| tool.name == "echo"));
    }
    assert_eq!(
        list_count(&client),
        1,
        "16 concurrent listings, one request"
    );
    client.list_tools_blocking().unwrap();
    assert_eq!(list_count(&client), 1, "served from the cache");
    client.close_blocking().unwrap();
}

/// On 2026-07-28 the change comes on the `subscriptions/listen` stream the client opens when
/// it connects; before, on the session.
#[test]
fn list_changed_drops_the_cache_and_is_announced() {
    for speaks in Speaks::ALL {
        list_changed_drops_the_cache(speaks);
    }
}

fn list_changed_drops_the_cache(speaks: Speaks) {
    let client = Client::new(server_speaking("changing", speaks));
    let notifications = client.notifications();
    let before = client.list_tools_blocking().unwrap();
    assert_eq!(list_count(&client), 1, "the first listing is kept");
    assert!(!before.iter().any(|tool| tool.name == "bonus"));
    assert_eq!(
        text(
            &client
                .call_tool_blocking("toggle_bonus", json!({}))
                .unwrap()
        ),
        "bonus on"
    );
    match notifications.recv_timeout(Duration::from_secs(10)) {
        Some(Notification::ToolListChanged { server }) => assert_eq!(server, "changing"),
        other => panic!("{speaks:?}: expected ToolListChanged, got {other:?}"),
    }
    let after = client.list_tools_blocking().unwrap();
    assert!(
        after.iter().any(|tool| tool.name == "bonus"),
        "the new tool is listed"
    );
    assert_eq!(list_count(&client), 2);
    assert_eq!(
        text(&client.call_tool_blocking("bonus", json!({})).unwrap()),
        "bonus!"
    );
    client.close_blocking().unwrap();
}
