//! Tests of server entry validation: each field's rules, and where each error is located.

use crate::config::HttpTransport;
use crate::config::file::test_support::*;
use crate::error::Error;
use crate::oauth::OAuth;
use std::path::PathBuf;

#[test]
fn minimal_stdio_has_no_args_env_or_cwd() {
    let entries = parse_ok(r#"{"mcpServers": {"min": {"command": "server"}}}"#);
    let min = stdio(&entries, "min");
    assert_eq!(min.command, "server");
    assert!(min.args.is_empty() && min.env.is_empty() && min.cwd.is_none());
}

#[test]
fn http_types_and_headers() {
    let entries = parse_ok(
        r#"{"mcpServers": {
          "plain": { "type": "http", "url": "http://127.0.0.1:8000/mcp",
                     "headers": { "Authorization": "Bearer ${TOKEN}", "X-Port": "${PORT}" } },
          "dashed": { "type": "streamable-http", "url": "https://a.example/mcp" },
          "camel": { "type": "streamableHttp", "url": "HTTPS://b.example/mcp" },
          "inferred": { "url": "https://c.example/mcp" }
        }}"#,
    );
    assert_eq!(names(&entries), ["plain", "dashed", "camel", "inferred"]);
    let plain = http(&entries, "plain");
    assert_eq!(plain.url, "http://127.0.0.1:8000/mcp");
    assert_eq!(
        plain.headers,
        [
            ("Authorization".to_owned(), "Bearer s3cret".to_owned()),
            ("X-Port".to_owned(), "8080".to_owned())
        ]
    );
    assert_eq!(http(&entries, "dashed").url, "https://a.example/mcp");
    assert_eq!(http(&entries, "camel").url, "HTTPS://b.example/mcp");
    assert_eq!(http(&entries, "inferred").url, "https://c.example/mcp");
    // An explicit type never falls back; a plain `url` may turn out to be HTTP+SSE.
    for name in ["plain", "dashed", "camel"] {
        assert_eq!(
            http(&entries, name).transport,
            HttpTransport::Streamable,
            "{name}"
        );
    }
    assert_eq!(http(&entries, "inferred").transport, HttpTransport::Either);
}

#[test]
fn type_inference_and_other_transports_fields_ignored() {
    let entries = parse_ok(
        r#"{"mcpServers": {
          "cmd": { "command": "x", "headers": { "H": 1 } },
          "web": { "url": "http://w/mcp", "args": 5, "env": { "A": "${UNSET}" } },
          "typed": { "type": "stdio", "command": "y", "url": "not checked" },
          "typed_http": { "type": "http", "url": "http://t/mcp", "command": ["not", "checked"] }
        }}"#,
    );
    assert_eq!(stdio(&entries, "cmd").command, "x");
    assert_eq!(http(&entries, "web").url, "http://w/mcp");
    assert_eq!(stdio(&entries, "typed").command, "y");
    assert_eq!(http(&entries, "typed_http").url, "http://t/mcp");
}

#[test]
fn disabled_entries_are_left_out() {
    let entries = parse_ok(
        r#"{"mcpServers": {
          "off": { "command": "x", "disabled": true },
          "broken_but_off": { "type": "websocket", "disabled": true },
          "on": { "command": "y", "disabled": false },
          "null": { "command": "z", "disabled": null }
        }}"#,
    );
    assert_eq!(names(&entries), ["on", "null"]);
}

#[test]
fn unknown_fields_and_nulls_are_ignored() {
    let entries = parse_ok(
        r#"{"mcpServers": {
          "a": { "command": "x", "autoApprove": ["t"], "timeout": 60, "envFile": "${UNSET}",
                 "nested": { "command": 5, "args": "nope" }, "args": null, "env": null,
                 "cwd": null },
          "b": { "command": null, "url": "http://b/mcp" }
        }}"#,
    );
    let a = stdio(&entries, "a");
    assert_eq!(a.command, "x");
    assert!(a.args.is_empty() && a.env.is_empty() && a.cwd.is_none());
    assert_eq!(http(&entries, "b").url, "http://b/mcp");
}

#[test]
fn a_misspelt_args_is_an_error_not_a_server_started_without_its_script() {
    let text =
        "{\"mcpServers\": {\n  \"app\": {\"command\": \"node\", \"arg\": [\"server.js\"]}\n}}";
    let entries = parse_ok(text);
    assert_config(
        entry_error(&entries, "app"),
        Some("app"),
        Some("arg"),
        (2, 30),
        "unknown field `arg`; did you mean `args`?",
    );
}

#[test]
fn near_misses_of_each_field_name_the_field_they_resemble() {
    for (key, meant) in [
        ("arg", "args"),
        ("Args", "args"),
        ("argv", "args"),
        ("evn", "env"),
        ("envs", "env"),
        ("ENV", "env"),
        ("header", "headers"),
        ("heders", "headers"),
        ("comand", "command"),
        ("commands", "command"),
        ("Command", "command"),
        ("cdw", "cwd"),
        ("URL", "url"),
        ("uri", "url"),
        ("urls", "url"),
        ("tpye", "type"),
        ("types", "type"),
        ("oath", "oauth"),
        ("Auth", "auth"),
        ("disable", "disabled"),
        ("Disabled", "disabled"),
    ] {
        let text = format!(r#"{{"mcpServers": {{"s": {{"command": "x", "{key}": 1}}}}}}"#);
        let entries = parse_ok(&text);
        assert_config(
            entry_error(&entries, "s"),
            Some("s"),
            Some(key),
            (1, 39),
            &format!("unknown field `{key}`; did you mean `{meant}`?"),
        );
    }
}

#[test]
fn fields_of_other_tools_are_not_taken_for_misspellings() {
    // Claude Code, VS Code, Cursor, Cline, Roo, Windsurf, Gemini CLI and others.
    let others = [
        "envFile",
        "dev",
        "autoApprove",
        "alwaysAllow",
        "timeout",
        "transportType",
        "disabledTools",
        "watchPaths",
        "serverUrl",
        "httpUrl",
        "trust",
        "description",
        "includeTools",
        "excludeTools",
        "headersHelper",
        "enabled",
        "name",
        "id",
        "tools",
        "path",
        "environment",
        "version",
    ];
    let fields: Vec<String> = others.iter().map(|key| format!(r#""{key}": 1"#)).collect();
    let text = format!(
        r#"{{"mcpServers": {{"s": {{"command": "x", {}}}}}}}"#,
        fields.join(", ")
    );
    assert_eq!(stdio(&parse_ok(&text), "s").command, "x");
    // Disabled entries are not checked at all.
    let entries = parse_ok(r#"{"mcpServers": {"s": {"comand": "x", "disabled": true}}}"#);
    assert!(entries.is_empty());
}

#[test]
fn env_numbers_and_booleans_are_used_as_written() {
    let entries = parse_ok(
        r#"{"mcpServers": {"a": {"command": "x",
          "env": {"PORT": 8080, "RATIO": 1.5e3, "NEG": -2, "DEBUG": true, "QUIET": false}}}}"#,
    );
    assert_eq!(
        stdio(&entries, "a").env,
        pairs(&[
            ("PORT", "8080"),
            ("RATIO", "1.5e3"),
            ("NEG", "-2"),
            ("DEBUG", "true"),
            ("QUIET", "false")
        ])
    );
}

#[test]
fn variables_expand_in_every_string_value() {
    let entries = parse_ok(
        r#"{"mcpServers": {
          "a": { "command": "${HOME_DIR}/bin/server",
                 "args": ["--port", "${PORT}", "--mode=${MODE:-fast}", "plain"],
                 "env": { "HOME_DIR": "${HOME_DIR}", "K": "${TOKEN}x" },
                 "cwd": "${HOME_DIR:-/}" },
          "b": { "url": "http://localhost:${PORT}/mcp", "headers": { "T": "${TOKEN}" } }
        }}"#,
    );
    let a = stdio(&entries, "a");
    assert_eq!(a.command, "/home/me/bin/server");
    assert_eq!(a.args, os(&["--port", "8080", "--mode=fast", "plain"]));
    assert_eq!(a.env, pairs(&[("HOME_DIR", "/home/me"), ("K", "s3cretx")]));
    assert_eq!(a.cwd, Some(PathBuf::from("/home/me")));
    let b = http(&entries, "b");
    assert_eq!(b.url, "http://localhost:8080/mcp");
    assert_eq!(b.headers, [("T".to_owned(), "s3cret".to_owned())]);
}

#[test]
fn empty_cwd_means_none() {
    let entries = parse_ok(r#"{"mcpServers": {"a": {"command": "x", "cwd": "${EMPTY}"}}}"#);
    assert_eq!(stdio(&entries, "a").cwd, None);
}

/// A document with one problem per server, each on known lines.
const BAD: &str = r#"{
  "mcpServers": {
    "good": { "command": "ok", "args": ["1"] },
    "no_command": { "env": {} },
    "both": { "command": "a", "url": "http://b/mcp" },
    "bad_args": {
      "command": "x",
      "args": 7
    },
    "bad_arg": { "command": "x", "args": ["a", "b", false] },
    "bad_env": { "command": "x", "env": { "OK": "1", "LIST": [] } },
    "bad_type": { "type": "websocket", "url": "ws://x" },
    "legacy": { "type": "sse", "url": "http://x/sse" },
    "unset": { "command": "x", "args": ["${HOME_DIR}", "${MISSING_VAR}"] },
    "unset_env": { "command": "x",
                   "env": { "KEY": "${MISSING_VAR}" } },
    "prompt": { "url": "http://x/mcp", "headers": { "Authorization": "${input:token}" } },
    "open": { "command": "${HOME_DIR" },
    "https_only": { "url": "ftp://x" },
    "http_no_url": { "type": "http", "command": "x" },
    "stdio_no_command": { "type": "stdio", "url": "http://x/mcp" },
    "numeric_type": { "type": 1, "command": "x" },
    "not_object": "npx server",
    "bad_disabled": { "command": "x", "disabled": "yes" },
    "empty_command": { "command": "" },
    "cmd_number": { "command": 5 },
    "bad_headers": { "url": "http://x/mcp", "headers": ["a"] },
    "bad_header": { "url": "http://x/mcp", "headers": { "A": 1 } },
    "twice": { "command": "x", "command": "y" },
    "env_twice": { "command": "x", "env": { "A": "1", "A": "2" } },
    "ünï": { "command": 1 },
    "good2": { "url": "http://good/mcp" }
  }
}"#;

#[test]
fn one_bad_server_does_not_spoil_the_others() {
    let entries = parse_ok(BAD);
    assert_eq!(entries.len(), 26);
    assert_eq!(stdio(&entries, "good").args, os(&["1"]));
    assert_eq!(http(&entries, "good2").url, "http://good/mcp");
    // `legacy` (`type: sse`) is the third good one.
    assert_eq!(http(&entries, "legacy").url, "http://x/sse");
    let failed = entries.iter().filter(|entry| entry.config.is_err()).count();
    assert_eq!(failed, 23);
}

#[test]
fn entry_errors_name_server_field_and_position() {
    let entries = parse_ok(BAD);
    let check = |name: &str, field: Option<&str>, at: (usize, usize), needle: &str| {
        assert_config(entry_error(&entries, name), Some(name), field, at, needle);
    };
    check(
        "no_command",
        Some("command"),
        (4, 5),
        "missing `command` (or `url`)",
    );
    check(
        "both",
        Some("type"),
        (5, 5),
        "both `command` and `url` are set",
    );
    check(
        "bad_args",
        Some("args"),
        (8, 7),
        "`args` must be an array of strings, found a number",
    );
    check(
        "bad_arg",
        Some("args[2]"),
        (10, 53),
        "`args[2]` must be a string, found a boolean",
    );
    check(
        "bad_env",
        Some("env.LIST"),
        (11, 54),
        "`env.LIST` must be a string (or a number or boolean), found an array",
    );
    check(
        "bad_type",
        Some("type"),
        (12, 19),
        "`type` must be one of stdio, http, streamable-http, sse; found `websocket`",
    );
    check(
        "unset",
        Some("args[1]"),
        (14, 56),
        "environment variable `MISSING_VAR` is not set and has no default",
    );
    check(
        "unset_env",
        Some("env.KEY"),
        (16, 29),
        "environment variable `MISSING_VAR` is not set and has no default",
    );
    check(
        "prompt",
        Some("headers.Authorization"),
        (17, 53),
        "inputs are not supported",
    );
    check("open", Some("command"), (18, 15), "unterminated `${`");
    check(
        "https_only",
        Some("url"),
        (19, 21),
        "`url` must start with http:// or https://, found `ftp://x`",
    );
    check(
        "http_no_url",
        Some("url"),
        (20, 5),
        "missing `url` (required when `type` is http)",
    );
    check(
        "stdio_no_command",
        Some("command"),
        (21, 5),
        "missing `command` (required when `type` is stdio)",
    );
    check(
        "numeric_type",
        Some("type"),
        (22, 23),
        "`type` must be one of stdio, http, streamable-http, sse; found a number",
    );
    check(
        "not_object",
        None,
        (23, 5),
        "the server entry must be an object, found a string",
    );
    check(
        "bad_disabled",
        Some("disabled"),
        (24, 39),
        "`disabled` must be true or false, found a string",
    );
    check(
        "empty_command",
        Some("command"),
        (25, 24),
        "`command` is empty",
    );
    check(
        "cmd_number",
        Some("command"),
        (26, 21),
        "`command` must be a string, found a number",
    );
    check(
        "bad_headers",
        Some("headers"),
        (27, 45),
        "`headers` must be an object, found an array",
    );
    check(
        "bad_header",
        Some("headers.A"),
        (28, 57),
        "`headers.A` must be a string, found a number",
    );
    check(
        "twice",
        Some("command"),
        (29, 32),
        "`command` appears twice (first at line 29 column 16)",
    );
    check(
        "env_twice",
        Some("env.A"),
        (30, 55),
        "`A` appears twice in `env` (first at line 30 column 45)",
    );
    // Columns count characters, not bytes.
    check(
        "ünï",
        Some("command"),
        (31, 14),
        "`command` must be a string, found a number",
    );
}

#[cfg(feature = "http")]
#[test]
fn bad_header_names_and_values_are_located_entry_errors() {
    let entries = parse_ok(
        "{\"mcpServers\": {\n  \"name\": {\"url\": \"http://h/\", \"headers\": {\"A b\": \"x\"}},\n  \
         \"value\": {\"url\": \"http://h/\", \"headers\": {\"ok\": \"1\", \"X\": \"a\\r\\nb\"}},\n  \
         \"empty\": {\"url\": \"http://h/\", \"headers\": {\"\": \"x\"}},\n  \
         \"good\": {\"url\": \"http://h/\", \"headers\": {\"X-Token\": \"${TOKEN}\", \"Accept\": \"é\"}}\n}}",
    );
    assert_config(
        entry_error(&entries, "name"),
        Some("name"),
        Some("headers.A b"),
        (2, 44),
        "`A b` is not a valid HTTP header name",
    );
    let error = entry_error(&entries, "value");
    assert_config(
        error,
        Some("value"),
        Some("headers.X"),
        (3, 56),
        "not a valid HTTP header value",
    );
    assert!(!error.to_string().contains("a\r\nb"), "{error}");
    assert_config(
        entry_error(&entries, "empty"),
        Some("empty"),
        Some("headers."),
        (4, 45),
        "is not a valid HTTP header name",
    );
    assert_eq!(
        http(&entries, "good").headers,
        [
            ("X-Token".to_owned(), "s3cret".to_owned()),
            ("Accept".to_owned(), "é".to_owned())
        ]
    );
}

#[test]
fn sse_entries_speak_the_legacy_transport() {
    let entries = parse_ok(BAD);
    let legacy = http(&entries, "legacy");
    assert_eq!(legacy.url, "http://x/sse");
    assert_eq!(legacy.transport, HttpTransport::Sse);
}

#[test]
fn error_display_reads_well() {
    let entries = parse_ok(BAD);
    assert_eq!(
        entry_error(&entries, "bad_args").to_string(),
        "config line 8 column 7: server `bad_args`: field `args`: \
         `args` must be an array of strings, found a number"
    );
}

#[test]
fn same_field_name_in_different_servers_is_located_per_server() {
    let text = "{\"mcpServers\": {\n  \"a\": {\"command\": \"x\", \"args\": [\"ok\"]},\n  \
                \"b\": {\"command\": \"x\", \"args\": 3}\n}}";
    let entries = parse_ok(text);
    assert_config(
        entry_error(&entries, "b"),
        Some("b"),
        Some("args"),
        (3, 25),
        "found a number",
    );
}

#[test]
fn empty_server_name_is_an_entry_error() {
    let entries = parse_ok(r#"{"mcpServers": {"": {"command": "x"}, "ok": {"command": "y"}}}"#);
    assert_config(
        entry_error(&entries, ""),
        Some(""),
        None,
        (1, 17),
        "the server name is empty",
    );
    assert_eq!(stdio(&entries, "ok").command, "y");
}

#[test]
fn bad_env_names_are_entry_errors() {
    let entries = parse_ok(r#"{"mcpServers": {"a": {"command": "x", "env": {"A=B": "1"}}}}"#);
    assert_config(
        entry_error(&entries, "a"),
        Some("a"),
        Some("env.A=B"),
        (1, 47),
        "cannot be empty or contain `=`",
    );
}

#[test]
fn claude_code_oauth_gives_its_settings() {
    let entries = parse_ok(
        r#"{"mcpServers": {
          "claude": { "type": "http", "url": "https://mcp.example.com/mcp",
                      "oauth": { "clientId": "app-${PORT}", "callbackPort": 8080,
                                 "authServerMetadataUrl": "https://auth.example.com/.well-known/openid-configuration",
                                 "scopes": " read  write\tadmin " } }
        }}"#,
    );
    assert_eq!(
        *oauth(&entries, "claude"),
        OAuth::new()
            .client_id("app-8080")
            .redirect_uri("http://localhost:8080/callback")
            .authorization_server_metadata_url(
                "https://auth.example.com/.well-known/openid-configuration"
            )
            .scopes(["read", "write", "admin"])
    );
}

#[test]
fn vscode_oauth_gives_its_client_id() {
    let entries = parse_ok(
        r#"{"servers": {
          "slack": { "type": "http", "url": "https://mcp.slack.com/mcp",
                     "oauth": { "clientId": "12348411142.11062036567072" } }
        }}"#,
    );
    assert_eq!(
        *oauth(&entries, "slack"),
        OAuth::new().client_id("12348411142.11062036567072")
    );
}

#[test]
fn cursor_auth_gives_its_settings() {
    let entries = parse_ok(
        r#"{"mcpServers": {
          "cursor": { "url": "https://mcp.example.com/mcp",
                      "auth": { "CLIENT_ID": "cursor-app", "CLIENT_SECRET": "${TOKEN}",
                                "scopes": ["read", "${MODE:-write}"] } }
        }}"#,
    );
    assert_eq!(
        *oauth(&entries, "cursor"),
        OAuth::new()
            .client_id("cursor-app")
            .client_secret("s3cret")
            .scopes(["read", "write"])
    );
}

#[test]
fn the_client_secret_comes_from_the_file_or_else_mcp_client_secret() {
    let text = r#"{"mcpServers": {
      "env": { "url": "https://a/mcp", "oauth": { "clientId": "a" } },
      "file": { "url": "https://b/mcp", "oauth": { "clientId": "b", "clientSecret": "${TOKEN}x" } },
      "no_id": { "url": "https://c/mcp", "oauth": { "scopes": "read" } },
      "cursor": { "url": "https://d/mcp", "auth": { "CLIENT_ID": "d" } }
    }}"#;
    let entries = parse_with(text, &[("MCP_CLIENT_SECRET", "from-env")]);
    assert_eq!(
        *oauth(&entries, "env"),
        OAuth::new().client_id("a").client_secret("from-env")
    );
    assert_eq!(
        *oauth(&entries, "file"),
        OAuth::new().client_id("b").client_secret("s3cretx")
    );
    assert_eq!(*oauth(&entries, "no_id"), OAuth::new().scopes(["read"]));
    assert_eq!(*oauth(&entries, "cursor"), OAuth::new().client_id("d"));

    // Unset or empty, it gives no secret.
    for entries in [
        parse_ok(text),
        parse_with(text, &[("MCP_CLIENT_SECRET", "")]),
    ] {
        assert_eq!(*oauth(&entries, "env"), OAuth::new().client_id("a"));
    }
}

#[test]
fn entries_that_take_mcp_client_secret_are_noted_at_their_oauth_key() {
    // Several of them are refused by the hub, which sees every file (see `shared_secret`).
    let text = r#"{"mcpServers": {
      "first": { "url": "https://a/mcp", "oauth": { "clientId": "a" } },
      "second": { "url": "https://b/mcp", "oauth": { "clientId": "b" } },
      "own": { "url": "https://c/mcp", "oauth": { "clientId": "c", "clientSecret": "own" } }
    }}"#;
    let entries = parse_with(text, &[("MCP_CLIENT_SECRET", "from-env")]);
    assert_eq!(
        entry(&entries, "first").client_secret_from_env,
        Some((2, 42))
    );
    assert_eq!(
        entry(&entries, "second").client_secret_from_env,
        Some((3, 43))
    );
    assert_eq!(entry(&entries, "own").client_secret_from_env, None);
    assert_eq!(
        oauth(&entries, "second").client_secret.as_deref(),
        Some("from-env")
    );
    assert_eq!(
        *oauth(&entries, "own"),
        OAuth::new().client_id("c").client_secret("own")
    );
    let entries = parse_ok(text);
    assert_eq!(entry(&entries, "first").client_secret_from_env, None);
}

#[test]
fn oauth_nulls_unknown_keys_and_stdio_entries() {
    let entries = parse_ok(
        r#"{"mcpServers": {
          "none": { "url": "https://a/mcp" },
          "null": { "url": "https://a/mcp", "oauth": null, "auth": { "CLIENT_ID": "x" } },
          "empty": { "url": "https://a/mcp", "oauth": {} },
          "unknown": { "url": "https://a/mcp",
                       "oauth": { "clientId": "x", "clientID": 5, "clientId2": "x", "scopes": null,
                                  "redirectUri": [], "extra": { "clientId": 1 },
                                  "extra": "twice" } },
          "cursor_unknown": { "url": "https://a/mcp",
                              "auth": { "client_id": 1, "CLIENT_ID": "c", "scopes": null } },
          "stdio": { "command": "x", "oauth": 5, "auth": "also ignored" },
          "typed": { "type": "stdio", "command": "y", "oauth": { "callbackPort": 0 } }
        }}"#,
    );
    for name in ["none", "empty"] {
        assert_eq!(*oauth(&entries, name), OAuth::new(), "{name}");
    }
    assert_eq!(*oauth(&entries, "null"), OAuth::new().client_id("x"));
    assert_eq!(*oauth(&entries, "unknown"), OAuth::new().client_id("x"));
    assert_eq!(
        *oauth(&entries, "cursor_unknown"),
        OAuth::new().client_id("c")
    );
    assert_eq!(stdio(&entries, "stdio").command, "x");
    assert_eq!(stdio(&entries, "typed").command, "y");
}

/// A document with one sign-in problem per server, each on a line of its own.
const BAD_OAUTH: &str = r#"{
  "mcpServers": {
    "not_object": { "url": "https://a/mcp", "oauth": "app" },
    "auth_not_object": { "url": "https://a/mcp", "auth": ["app"] },
    "both": { "url": "https://a/mcp", "oauth": {}, "auth": {} },
    "port_string": { "url": "https://a/mcp", "oauth": { "callbackPort": "x" } },
    "port_zero": { "url": "https://a/mcp", "oauth": { "callbackPort": 0 } },
    "port_big": { "url": "https://a/mcp", "oauth": { "callbackPort": 70000 } },
    "port_fraction": { "url": "https://a/mcp", "oauth": { "callbackPort": 80.5 } },
    "port_negative": { "url": "https://a/mcp", "oauth": { "callbackPort": -1 } },
    "scopes_array": { "url": "https://a/mcp", "oauth": { "scopes": ["read"] } },
    "scopes_blank": { "url": "https://a/mcp", "oauth": { "scopes": " ${EMPTY} " } },
    "cursor_scopes_string": { "url": "https://a/mcp", "auth": { "scopes": "read write" } },
    "cursor_scope_number": { "url": "https://a/mcp", "auth": { "scopes": ["read", 1] } },
    "cursor_scope_spaced": { "url": "https://a/mcp", "auth": { "scopes": ["read write"] } },
    "cursor_scopes_empty": { "url": "https://a/mcp", "auth": { "scopes": [] } },
    "id_number": { "url": "https://a/mcp", "oauth": { "clientId": 5 } },
    "id_empty": { "url": "https://a/mcp", "oauth": { "clientId": "${EMPTY}" } },
    "id_unset": { "url": "https://a/mcp", "auth": { "CLIENT_ID": "${MISSING_VAR}" } },
    "id_twice": { "url": "https://a/mcp", "oauth": { "clientId": "a", "clientId": "b" } },
    "secret_alone": { "url": "https://a/mcp", "oauth": { "clientSecret": "hunter2" } },
    "cursor_secret_alone": { "url": "https://a/mcp", "auth": { "CLIENT_SECRET": "hunter2" } },
    "secret_number": { "url": "https://a/mcp", "oauth": { "clientId": "a", "clientSecret": 7 } },
    "metadata_ftp": { "url": "https://a/mcp", "oauth": { "authServerMetadataUrl": "ftp://x" } }
  }
}"#;

#[test]
fn bad_oauth_settings_name_the_field_and_position() {
    let entries = parse_ok(BAD_OAUTH);
    assert_eq!(entries.len(), 22);
    assert!(entries.iter().all(|entry| entry.config.is_err()));
    let check = |name: &str, field: &str, at: (usize, usize), needle: &str| {
        assert_config(
            entry_error(&entries, name),
            Some(name),
            Some(field),
            at,
            needle,
        );
    };
    check(
        "not_object",
        "oauth",
        (3, 45),
        "`oauth` must be an object, found a string",
    );
    check(
        "auth_not_object",
        "auth",
        (4, 50),
        "`auth` must be an object, found an array",
    );
    check(
        "both",
        "auth",
        (5, 52),
        "both `oauth` (Claude Code, VS Code) and `auth` (Cursor) are set",
    );
    check(
        "port_string",
        "oauth.callbackPort",
        (6, 57),
        "`oauth.callbackPort` must be an integer from 1 to 65535, found a string",
    );
    check("port_zero", "oauth.callbackPort", (7, 55), "found `0`");
    check("port_big", "oauth.callbackPort", (8, 54), "found `70000`");
    check(
        "port_fraction",
        "oauth.callbackPort",
        (9, 59),
        "found `80.5`",
    );
    check(
        "port_negative",
        "oauth.callbackPort",
        (10, 59),
        "found `-1`",
    );
    check(
        "scopes_array",
        "oauth.scopes",
        (11, 58),
        "`oauth.scopes` must be a string of space-separated scopes, found an array",
    );
    check(
        "scopes_blank",
        "oauth.scopes",
        (12, 58),
        "`oauth.scopes` names no scope",
    );
    check(
        "cursor_scopes_string",
        "auth.scopes",
        (13, 65),
        "`auth.scopes` must be an array of strings, found a string",
    );
    check(
        "cursor_scope_number",
        "auth.scopes[1]",
        (14, 83),
        "`auth.scopes[1]` must be a string, found a number",
    );
    check(
        "cursor_scope_spaced",
        "auth.scopes[0]",
        (15, 75),
        "`auth.scopes[0]` must be one scope",
    );
    check(
        "cursor_scopes_empty",
        "auth.scopes",
        (16, 64),
        "`auth.scopes` names no scope",
    );
    check(
        "id_number",
        "oauth.clientId",
        (17, 55),
        "`oauth.clientId` must be a string, found a number",
    );
    check(
        "id_empty",
        "oauth.clientId",
        (18, 54),
        "`oauth.clientId` is empty",
    );
    check(
        "id_unset",
        "auth.CLIENT_ID",
        (19, 53),
        "environment variable `MISSING_VAR` is not set and has no default",
    );
    check(
        "id_twice",
        "oauth.clientId",
        (20, 71),
        "`oauth.clientId` appears twice (first at line 20 column 54)",
    );
    check(
        "secret_alone",
        "oauth.clientSecret",
        (21, 58),
        "`oauth.clientSecret` is set without `oauth.clientId`",
    );
    check(
        "cursor_secret_alone",
        "auth.CLIENT_SECRET",
        (22, 64),
        "`auth.CLIENT_SECRET` is set without `auth.CLIENT_ID`",
    );
    check(
        "secret_number",
        "oauth.clientSecret",
        (23, 76),
        "`oauth.clientSecret` must be a string, found a number",
    );
    check(
        "metadata_ftp",
        "oauth.authServerMetadataUrl",
        (24, 58),
        "`oauth.authServerMetadataUrl` must start with https://",
    );
}

#[test]
fn a_url_that_is_not_http_is_quoted_without_its_query_or_credentials() {
    let entries = parse_with(
        r#"{"mcpServers": {
          "ws": { "url": "ws://h.example/mcp?token=${WS_TOKEN}" },
          "creds": { "type": "sse", "url": "ftp://me:pa55@h.example/sse#frag" }
        }}"#,
        &[("WS_TOKEN", "t0ken-value")],
    );
    assert_config(
        entry_error(&entries, "ws"),
        Some("ws"),
        Some("url"),
        (2, 19),
        "`url` must start with http:// or https://, found `ws://h.example/mcp`",
    );
    assert_config(
        entry_error(&entries, "creds"),
        Some("creds"),
        Some("url"),
        (3, 37),
        "found `ftp://h.example/sse`",
    );
    let shown = format!("{entries:?}");
    for secret in ["t0ken-value", "pa55", "frag"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[test]
fn client_secrets_stay_out_of_errors_and_debug_output() {
    let entries = parse_with(
        r#"{"mcpServers": {
          "unterminated": { "url": "https://a/mcp",
                            "oauth": { "clientId": "a", "clientSecret": "hunter2${oops" } },
          "not_reference": { "url": "https://a/mcp",
                             "auth": { "CLIENT_ID": "a", "CLIENT_SECRET": "hunter2${a b}" } },
          "unset": { "url": "https://a/mcp",
                     "oauth": { "clientId": "a", "clientSecret": "hunter2${MISSING_VAR}" } },
          "empty": { "url": "https://a/mcp", "oauth": { "clientId": "a", "clientSecret": "" } },
          "literal": { "url": "https://a/mcp", "oauth": { "clientId": "a", "clientSecret": "hunter2" } },
          "expanded": { "url": "https://a/mcp", "auth": { "CLIENT_ID": "a", "CLIENT_SECRET": "${TOKEN}" } },
          "from_env": { "url": "https://a/mcp", "oauth": { "clientId": "a" } }
        }}"#,
        &[("MCP_CLIENT_SECRET", "env-secret")],
    );
    for (name, field, needle) in [
        ("unterminated", "oauth.clientSecret", "unterminated `${`"),
        (
            "not_reference",
            "auth.CLIENT_SECRET",
            "is not a variable reference",
        ),
        ("unset", "oauth.clientSecret", "`MISSING_VAR` is not set"),
        (
            "empty",
            "oauth.clientSecret",
            "`oauth.clientSecret` is empty",
        ),
    ] {
        let error = entry_error(&entries, name);
        match error {
            Error::Config {
                field: Some(f),
                message,
                ..
            } => {
                assert_eq!(f, field, "{error}");
                assert!(message.contains(needle), "{error}");
            }
            other => panic!("expected a config error, got {other:?}"),
        }
        for shown in [error.to_string(), format!("{error:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!shown.contains("oops") && !shown.contains("a b"), "{shown}");
        }
    }
    assert_eq!(
        oauth(&entries, "literal").client_secret.as_deref(),
        Some("hunter2")
    );
    assert_eq!(
        oauth(&entries, "expanded").client_secret.as_deref(),
        Some("s3cret")
    );
    assert_eq!(
        oauth(&entries, "from_env").client_secret.as_deref(),
        Some("env-secret")
    );
    let debug = format!("{entries:?}");
    for secret in ["hunter2", "s3cret", "env-secret"] {
        assert!(!debug.contains(secret), "{debug}");
    }
    assert!(debug.contains("<redacted>"), "{debug}");
}
