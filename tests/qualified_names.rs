//! Qualified names stay unique: a tool listed twice is offered once, and names that collide
//! after sanitising get distinct suffixes.

mod common;

use std::collections::BTreeSet;

use common::text;
use mcp_dispatch::{Hub, is_valid_tool_name};
use serde_json::json;

#[test]
fn a_tool_listed_twice_is_offered_once_with_its_first_listing() {
    let duplicating = common::server("dup").env("MCP_TEST_DUPLICATE_TOOL", "echo");
    let hub = Hub::builder()
        .server("dup", duplicating.clone())
        .server("plain", common::server("plain"))
        .build()
        .unwrap();

    // The server really lists `echo` twice, the copy last.
    let raw = hub.client("dup").unwrap().list_tools_blocking().unwrap();
    let plain = hub.client("plain").unwrap().list_tools_blocking().unwrap();
    assert_eq!(raw.len(), plain.len() + 1);
    let echoes: Vec<_> = raw.iter().filter(|tool| tool.name == "echo").collect();
    assert_eq!(echoes.len(), 2);
    assert_eq!(echoes[1].description.as_deref(), Some("duplicate listing"));

    let listed = hub.list_tools_blocking();
    assert!(listed.errors.is_empty(), "{:?}", listed.errors);
    let names: BTreeSet<&str> = listed.tools.iter().map(|tool| tool.name.as_str()).collect();
    assert_eq!(names.len(), listed.tools.len(), "a name given twice");
    let offered_by = |server: &str| {
        listed
            .tools
            .iter()
            .filter(|tool| tool.server == server)
            .count()
    };
    assert_eq!(offered_by("dup"), plain.len());
    assert_eq!(offered_by("plain"), plain.len());

    // The first listing wins: it describes `echo` as the server does everywhere else.
    let echo = |name: &str| {
        listed
            .tools
            .iter()
            .find(|tool| tool.name == name)
            .unwrap_or_else(|| panic!("{name} not listed"))
    };
    assert_ne!(
        echo("dup__echo").tool.description.as_deref(),
        Some("duplicate listing")
    );
    assert_eq!(
        echo("dup__echo").tool.description,
        echo("plain__echo").tool.description
    );
    let result = hub
        .call_tool_blocking("dup__echo", json!({"text": "once"}))
        .unwrap();
    assert_eq!(text(&result), "once");
}

#[test]
fn servers_whose_names_sanitise_alike_get_distinct_suffixed_names() {
    let hub = Hub::builder()
        .server("my.files", common::server("dotted"))
        .server("my_files", common::server("underscored"))
        .server("other", common::server("other"))
        .build()
        .unwrap();
    let listed = hub.list_tools_blocking();
    assert!(listed.errors.is_empty(), "{:?}", listed.errors);
    let names: BTreeSet<&str> = listed.tools.iter().map(|tool| tool.name.as_str()).collect();
    assert_eq!(names.len(), listed.tools.len(), "a name given twice");
    assert!(
        names.iter().all(|name| is_valid_tool_name(name)),
        "{names:?}"
    );

    let qualified = |server: &str, tool: &str| {
        listed
            .tools
            .iter()
            .find(|offered| offered.server == server && offered.tool.name == tool)
            .map(|offered| offered.name.clone())
            .unwrap_or_else(|| panic!("no {tool} from {server}"))
    };
    let dotted = qualified("my.files", "echo");
    let underscored = qualified("my_files", "echo");
    for name in [&dotted, &underscored] {
        // `my_files__echo`, then `_` and 8 hex digits.
        let suffix = name
            .strip_prefix("my_files__echo_")
            .unwrap_or_else(|| panic!("{name} is not suffixed"));
        assert_eq!(suffix.len(), 8, "{name}");
        assert!(suffix.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
    }
    assert_ne!(dotted, underscored);
    // Tools that do not collide keep their plain names.
    assert_eq!(qualified("other", "echo"), "other__echo");

    // Each suffixed name reaches its own server.
    for server in ["my.files", "my_files"] {
        let result = hub
            .call_tool_blocking(qualified(server, "pid"), json!({}))
            .unwrap();
        let pid: u32 = text(&result).parse().unwrap();
        assert_eq!(Some(pid), hub.client(server).unwrap().pid());
    }
}
