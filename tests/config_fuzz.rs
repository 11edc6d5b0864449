//! Mutated config files never panic or abort: each is read into a hub or refused, and every
//! config error, of the whole file or of one entry, carries a 1-based line and column.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcp_dispatch::{Error, Hub};
use proptest::prelude::*;
use serde_json::{Value, json};

/// The valid file every case starts from.
fn base() -> Value {
    json!({
        "inputs": [{ "id": "key", "type": "promptString" }],
        "mcpServers": {
            "files": {
                "command": "/nonexistent/server-fs",
                "args": ["-y", "${HOME:-/home}", "${MCP_DISPATCH_FUZZ_UNSET:-${env:PATH:-x}}"],
                "env": { "DEBUG": "1", "PORT": 8080, "VERBOSE": true },
                "cwd": "/tmp",
                "disabled": false
            },
            "remote": {
                "type": "http",
                "url": "https://example.com/mcp",
                "headers": { "Authorization": "Bearer ${MCP_DISPATCH_FUZZ_UNSET:-token}" },
                "oauth": {
                    "clientId": "app",
                    "clientSecret": "${MCP_DISPATCH_FUZZ_UNSET:-secret}",
                    "callbackPort": 8080,
                    "authServerMetadataUrl": "https://auth.example.com/.well-known/oauth-authorization-server",
                    "scopes": "read write"
                }
            },
            "cursor": {
                "url": "https://example.com/cursor/mcp",
                "auth": { "CLIENT_ID": "app", "CLIENT_SECRET": "s", "scopes": ["read", "write"] }
            },
            "off": { "command": "x", "disabled": true },
            "legacy": { "type": "sse", "url": "http://127.0.0.1:9/sse" }
        },
        "servers": {
            "code": { "type": "stdio", "command": "/nonexistent/code", "args": [] }
        }
    })
}

/// What replaces one value of the file.
#[derive(Clone, Debug)]
enum Replacement {
    /// A value of another JSON type (or `null`).
    Type(usize),
    /// `n` nested arrays.
    Arrays(usize),
    /// `n` nested objects.
    Objects(usize),
    /// A string of `n` nested `${VAR:-` defaults, closed or missing its last `}`.
    Defaults(usize, bool),
    /// A string of `n` copies of `piece`.
    Huge(usize, &'static str),
    /// Any text at all.
    Raw(String),
}

impl Replacement {
    /// The JSON text that takes the value's place.
    fn text(&self) -> String {
        match self {
            Replacement::Type(kind) => [
                "null",
                "true",
                "-1.5e3",
                "\"\"",
                "[]",
                "{}",
                "[1, \"a\", null]",
                "{\"k\": \"v\", \"k\": 2}",
            ][kind % 8]
                .to_owned(),
            Replacement::Arrays(n) => format!("{}1{}", "[".repeat(*n), "]".repeat(*n)),
            Replacement::Objects(n) => format!("{}1{}", "{\"a\":".repeat(*n), "}".repeat(*n)),
            Replacement::Defaults(n, closed) => {
                let closing = if *closed { *n } else { n - 1 };
                format!(
                    "\"{}x{}\"",
                    "${MCP_DISPATCH_FUZZ_UNSET:-".repeat(*n),
                    "}".repeat(closing)
                )
            }
            Replacement::Huge(n, piece) => format!("\"{}\"", piece.repeat(*n)),
            Replacement::Raw(text) => text.clone(),
        }
    }
}

fn replacement() -> impl Strategy<Value = Replacement> {
    prop_oneof![
        4 => any::<usize>().prop_map(Replacement::Type),
        1 => (1usize..150_000).prop_map(Replacement::Arrays),
        1 => (1usize..150_000).prop_map(Replacement::Objects),
        2 => (1usize..20_000, any::<bool>()).prop_map(|(n, closed)| Replacement::Defaults(n, closed)),
        1 => (
            1usize..3_000_000,
            prop::sample::select(vec!["a", "é", "${", "}", "\\n", "\\\\", "$"]),
        )
            .prop_map(|(n, piece)| Replacement::Huge(n / piece.len(), piece)),
        3 => "[\\[\\]{}\",:$ a-z0-9\\\\-]{0,24}".prop_map(Replacement::Raw),
    ]
}

/// A change to the file's bytes, at an offset taken modulo the length.
#[derive(Clone, Debug)]
enum Edit {
    /// Cut the file short.
    Truncate(usize),
    /// Insert bytes, often not UTF-8.
    Insert(usize, Vec<u8>),
    /// Delete up to this many bytes.
    Delete(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        2 => any::<usize>().prop_map(Edit::Truncate),
        2 => (
            any::<usize>(),
            prop_oneof![
                prop::collection::vec(any::<u8>(), 1..4),
                prop::collection::vec(0x80u8..=0xff, 1..3),
                prop::sample::select(vec![
                    b"\n".to_vec(),
                    b"\r\n".to_vec(),
                    b"/*".to_vec(),
                    b"//".to_vec(),
                    b",".to_vec(),
                    b"\"".to_vec(),
                    b"\\".to_vec(),
                    "\u{feff}".as_bytes().to_vec(),
                ]),
            ],
        )
            .prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        1 => (any::<usize>(), 1usize..16).prop_map(|(at, len)| Edit::Delete(at, len)),
    ]
}

impl Edit {
    fn apply(&self, bytes: &mut Vec<u8>) {
        let at = |offset: usize| offset % (bytes.len() + 1);
        match self {
            Edit::Truncate(offset) => bytes.truncate(at(*offset)),
            Edit::Insert(offset, new) => {
                let at = at(*offset);
                bytes.splice(at..at, new.iter().copied());
            }
            Edit::Delete(offset, len) => {
                let at = at(*offset);
                let end = (at + len).min(bytes.len());
                bytes.drain(at..end);
            }
        }
    }
}

/// The file: the base with the `which`-th value replaced, then edited.
fn mutant(replace: Option<(usize, Replacement)>, edits: &[Edit]) -> Vec<u8> {
    let mut value = base();
    let mut text = value.to_string();
    if let Some((which, replacement)) = replace {
        const MARK: &str = "\u{1}replace me\u{1}";
        let mut paths = Vec::new();
        collect_paths(&value, &mut Vec::new(), &mut paths);
        let path = &paths[which % paths.len()];
        *value.pointer_mut(path).expect("a path of the base") = Value::from(MARK);
        text = value
            .to_string()
            .replacen(&Value::from(MARK).to_string(), &replacement.text(), 1);
    }
    let mut bytes = text.into_bytes();
    for edit in edits {
        edit.apply(&mut bytes);
    }
    bytes
}

/// The JSON pointer of every value of `value`.
fn collect_paths(value: &Value, path: &mut Vec<String>, paths: &mut Vec<String>) {
    paths.push(path.iter().map(|part| format!("/{part}")).collect());
    match value {
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(index.to_string());
                collect_paths(item, path, paths);
                path.pop();
            }
        }
        Value::Object(members) => {
            for (key, member) in members {
                path.push(key.replace('~', "~0").replace('/', "~1"));
                collect_paths(member, path, paths);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Reads `bytes` as a config file: from a string if it is UTF-8, else from a file.
fn read(bytes: &[u8]) -> Result<Hub, Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Hub::from_json_str(text),
        Err(_) => {
            static COUNT: AtomicUsize = AtomicUsize::new(0);
            let dir: PathBuf = common::temp_dir("config-fuzz");
            let path = dir.join(format!("{}.json", COUNT.fetch_add(1, Ordering::Relaxed)));
            std::fs::write(&path, bytes).expect("write the config file");
            let hub = Hub::from_path(&path);
            let _ = std::fs::remove_dir_all(&dir);
            hub
        }
    }
}

fn check_located(error: &Error) -> Result<(), TestCaseError> {
    match error {
        Error::Config { line, column, .. } => {
            prop_assert!(
                line.is_some_and(|l| l >= 1) && column.is_some_and(|c| c >= 1),
                "not located: {error:?}"
            );
        }
        Error::Unsupported { .. } => {}
        other => prop_assert!(false, "not a config error: {other:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_config_files_are_read_or_refused_with_a_position(
        replace in prop::option::of((any::<usize>(), replacement())),
        edits in prop::collection::vec(edit(), 0..3),
    ) {
        let bytes = mutant(replace, &edits);
        match read(&bytes) {
            Err(error) => check_located(&error)?,
            Ok(hub) => {
                // Leave only the entries that failed, so that listing starts no server.
                for name in hub.server_names() {
                    if hub.client(&name).is_some() {
                        hub.remove_server(&name);
                    }
                }
                for error in &hub.list_tools_blocking().errors {
                    check_located(error)?;
                }
            }
        }
    }
}

#[test]
fn the_unmutated_base_reads_into_a_hub() {
    let hub = read(base().to_string().as_bytes()).unwrap();
    assert_eq!(
        hub.server_names(),
        ["code", "cursor", "files", "legacy", "remote"]
    );
}
