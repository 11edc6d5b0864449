//! Reading the MCP server config files people already have into [`ServerConfig`]s.
//!
//! # Accepted files
//!
//! A JSON object with servers under `mcpServers` (Claude Desktop, Cursor, Claude Code, Cline)
//! and/or `servers` (VS Code), each mapping a server name to its entry:
//!
//! ```json
//! {
//!   "mcpServers": {
//!     "files": { "command": "npx", "args": ["-y", "server-fs", "${HOME}"], "env": { "DEBUG": "1" } },
//!     "remote": { "type": "http", "url": "https://example.com/mcp", "headers": { "Authorization": "Bearer ${TOKEN}" } }
//!   }
//! }
//! ```
//!
//! If both `mcpServers` and `servers` are present their servers are merged, in the file's
//! order; a name listed twice (in one object or across both) spoils the whole file. Other
//! top-level keys (such as VS Code's `inputs`) are ignored.
//!
//! Comments (`//` and `/* */`) and trailing commas are accepted, because VS Code's `mcp.json`
//! is JSON with comments; a leading byte-order mark is skipped. Everything else must be JSON,
//! in UTF-8, with arrays and objects nested fewer than 128 deep.
//!
//! # Server entries
//!
//! | field      | meaning |
//! |------------|---------|
//! | `type`     | `stdio`, `http`, `streamable-http` (or `streamableHttp`), or `sse` (the HTTP+SSE transport of servers older than 2025-03-26); a `url` with no `type` is tried over streamable HTTP, then over HTTP+SSE ([`ServerConfig::remote`](crate::ServerConfig::remote)) |
//! | `command`  | program to run (stdio); without `type`, its presence means stdio |
//! | `args`     | array of strings |
//! | `env`      | object; values are strings, or numbers and booleans, which are used as written (`8080`, `true`) |
//! | `cwd`      | working directory; empty means none |
//! | `url`      | `http://` or `https://` endpoint (http); without `type`, its presence means http |
//! | `headers`  | object of strings; names and (expanded) values must be valid in HTTP |
//! | `oauth`    | sign-in settings as Claude Code and VS Code write them (http; see below) |
//! | `auth`     | sign-in settings as Cursor writes them (http; see below) |
//! | `disabled` | `true` leaves the entry out entirely; it is not checked at all |
//!
//! Without `type`, an entry with both `command` and `url`, or neither, is an error. With a
//! `type`, the fields of the other transport are ignored. A field set to `null` counts as
//! absent. A known field given twice in one entry (or a key given twice in `env` or
//! `headers`) is an error rather than silently dropping one of them.
//!
//! Fields of other tools (`envFile`, `autoApprove`, `timeout`, ...) are ignored, and logged
//! at info level, once per name and file. But a field that looks like a misspelling of one
//! of the above is an error, because the server would start without what it meant:
//! `"arg": [...]` instead of `"args"` started `node` with no script, which then waited
//! forever. A misspelling is the same as a field but for case (`URL`) or a trailing `s`
//! (`arg`, `header`), or within one edit (a letter inserted, deleted or replaced, or two
//! neighbours swapped) of a field of up to five letters (`evn`, `uri`), two of a longer one
//! (`comand`, `disable`). The error is at the misspelt key and names the field it resembles
//! (``unknown field `arg`; did you mean `args`?``). VS Code's `dev`, one letter from `env`,
//! is ignored as other tools' fields are. A disabled entry is not checked.
//!
//! # Sign-in (OAuth)
//!
//! An HTTP entry's `oauth` or `auth` object becomes its [`OAuth`](crate::OAuth) settings,
//! used when the server answers 401. Without either, the server is signed in to with the
//! defaults (dynamic registration, the scopes the server names).
//!
//! ```json
//! {
//!   "mcpServers": {
//!     "claude-code": { "url": "https://a.example.com/mcp",
//!                      "oauth": { "clientId": "app", "callbackPort": 8080, "scopes": "read write" } },
//!     "cursor": { "url": "https://b.example.com/mcp",
//!                 "auth": { "CLIENT_ID": "app", "CLIENT_SECRET": "${B_SECRET}", "scopes": ["read"] } }
//!   }
//! }
//! ```
//!
//! `oauth`, as Claude Code writes it in `.mcp.json` (VS Code's `.vscode/mcp.json` documents
//! only `clientId`):
//!
//! | field                   | meaning |
//! |-------------------------|---------|
//! | `clientId`              | the pre-registered client id; not empty |
//! | `clientSecret`          | its secret; not written by Claude Code, accepted because people write it |
//! | `callbackPort`          | an integer from 1 to 65535: the redirect URI is `http://localhost:PORT/callback` |
//! | `authServerMetadataUrl` | the authorization server's metadata URL, used instead of discovery; `http://` or `https://` |
//! | `scopes`                | one string of space-separated scopes, at least one |
//!
//! Claude Code keeps the client secret out of the file (`claude mcp add --client-secret`
//! reads it from `MCP_CLIENT_SECRET` and stores it in the system keychain). So an `oauth`
//! with a `clientId` and no `clientSecret` takes its secret from the environment variable
//! `MCP_CLIENT_SECRET` if that is set and not empty. One secret must not go to several
//! authorization servers: when more than one entry of a hub would take it, from one file or
//! from several, each of them fails with an error naming the others (the first three, and
//! how many more); give each its own `clientSecret` (`"${A_SECRET}"`).
//!
//! `auth`, as Cursor writes it in `.cursor/mcp.json`:
//!
//! | field           | meaning |
//! |-----------------|---------|
//! | `CLIENT_ID`     | the pre-registered client id; not empty |
//! | `CLIENT_SECRET` | its secret |
//! | `scopes`        | an array of scopes, at least one, each without spaces |
//!
//! In both, a secret without an id is an error, and so is an empty one. An entry with both
//! `oauth` and `auth` is an error. As in an entry, `null` counts as absent, unknown keys
//! are ignored, and a known key given twice is an error. Errors name the field by its path
//! (`oauth.callbackPort`, `auth.scopes[1]`) and never quote a secret, and the secret never
//! appears in `Debug` output. A stdio entry ignores both objects, as it ignores `headers`.
//!
//! # Variables
//!
//! Every string value that becomes part of a config (`command`, each argument, `env` values,
//! `cwd`, `url`, header values, the strings of `oauth` and `auth`; not keys, not `type`)
//! expands:
//!
//! - `${VAR}` to the variable's value; unset is an error naming the server, field and variable.
//!   A variable set to the empty string expands to the empty string.
//! - `${VAR:-default}` to the value if it is set and not empty, else to `default` (as in a POSIX
//!   shell). The default may itself contain references (`${A:-${B:-x}}`), which are only
//!   expanded, and only fail, when the default is used. Defaults may nest to any depth;
//!   expansion takes time linear in the string.
//! - `${env:VAR}` (VS Code's spelling) like `${VAR}`.
//! - `${input:...}` (VS Code prompts) is an error: inputs are not supported.
//!
//! Variable names are `[A-Za-z_][A-Za-z0-9_]*`; anything else inside `${...}` is an error.
//! Values are inserted as they are, never expanded again. A `$` not followed by `{` is kept
//! as it is, and `$${` is not an escape (it is a `$` followed by a reference). A `${` without
//! its `}` is an error.
//!
//! # Errors
//!
//! Whole-file problems are the `Err` of [`parse`]; problems in one entry are that entry's
//! `config`, so the other servers still work. Every [`Error::Config`] carries the 1-based line
//! and column (counted in characters) of what is wrong: the field's key, the element of
//! `args`, or the server's key when a field is missing. A JSON syntax error is where the
//! parser stopped, the last byte it read; when that is a newline (as at the end of a file cut
//! short), it is on the line the newline ends, one column past its last character. A file
//! that is not UTF-8 is an error at its first bad byte.

mod expand;
mod jsonc;
mod position;
mod shared_secret;
#[cfg(test)]
mod test_support;
mod validate;

use std::collections::HashMap;

use crate::config::ServerConfig;
use crate::error::Error;
use jsonc::{Kind, Member};
use position::Positions;
pub(crate) use shared_secret::SecretTakers;
use validate::must_be;

/// One server entry of a config file.
#[derive(Debug)]
pub(crate) struct ServerEntry {
    /// The server's name: its key under `mcpServers` or `servers`.
    pub(crate) name: String,
    /// The server's config, or what is wrong with this entry alone.
    pub(crate) config: Result<ServerConfig, Error>,
    /// The line and column of the entry's `oauth` key if its client secret comes from
    /// `MCP_CLIENT_SECRET`; see [`SecretTakers`].
    pub(crate) client_secret_from_env: Option<(usize, usize)>,
}

/// Parses a config file's text. `lookup` reads environment variables.
///
/// Errors that spoil the whole file (bad JSON, not an object, neither `mcpServers` nor
/// `servers`, a server listed twice) are `Err`; errors in one entry are that entry's
/// `config: Err(..)`, so the other servers still work. Entries come in the file's order,
/// disabled ones left out, and each config is named after its entry.
pub(crate) fn parse(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<ServerEntry>, Error> {
    let positions = Positions::new(text);
    let root = jsonc::read(&positions)?;
    let Kind::Object(top) = &root.kind else {
        return Err(positions.error_at(
            root.at,
            None,
            None,
            format!(
                "the config file must be a JSON object, found {}",
                root.kind.describe()
            ),
        ));
    };

    let mut sections: Vec<&Member> = Vec::new();
    // Each server name seen so far, with its member and section.
    let mut names: HashMap<&str, (&Member, &str)> = HashMap::new();
    let mut entries = Vec::new();
    let unknown_fields = std::cell::RefCell::new(std::collections::HashSet::new());
    for section in top {
        let key = section.key.as_str();
        if key != "mcpServers" && key != "servers" {
            continue;
        }
        if let Some(first) = sections.iter().find(|first| first.key == key) {
            return Err(positions.error_at(
                section.at,
                None,
                Some(key),
                format!(
                    "`{key}` appears twice (first at {})",
                    positions.place(first.at)
                ),
            ));
        }
        sections.push(section);
        let Kind::Object(servers) = &section.value.kind else {
            return Err(positions.error_at(
                section.at,
                None,
                Some(key),
                must_be(key, "an object", &section.value.kind),
            ));
        };
        for server in servers {
            if let Some((first, first_section)) = names.insert(&server.key, (server, key)) {
                let message = if first_section == key {
                    format!("listed twice (first at {})", positions.place(first.at))
                } else {
                    "listed in both `mcpServers` and `servers`".to_owned()
                };
                return Err(positions.error_at(server.at, Some(&server.key), None, message));
            }
            let entry = validate::Entry {
                name: &server.key,
                at: server.at,
                positions: &positions,
                lookup,
                took_client_secret: std::cell::Cell::new(None),
                unknown_fields: &unknown_fields,
            };
            if let Some(config) = entry.config(&server.value) {
                entries.push(ServerEntry {
                    name: server.key.clone(),
                    config: config.map(|config| config.name(&server.key)),
                    client_secret_from_env: entry
                        .took_client_secret
                        .get()
                        .map(|at| positions.line_column(at)),
                });
            }
        }
    }
    if sections.is_empty() {
        return Err(positions.error_at(
            root.at,
            None,
            None,
            "no `mcpServers` or `servers` object found",
        ));
    }
    Ok(entries)
}

/// The text of a config file's bytes, or an [`Error::Config`] at the first byte that is not
/// UTF-8.
pub(crate) fn text(bytes: &[u8]) -> Result<&str, Error> {
    std::str::from_utf8(bytes).map_err(|error| {
        let valid = error.valid_up_to();
        let before = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
        Positions::new(before).error_at(
            valid,
            None,
            None,
            format!(
                "the file is not UTF-8: byte 0x{:02x} cannot start a character here",
                bytes[valid]
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn claude_desktop_stdio_with_args_env_and_cwd() {
        let entries = parse_ok(
            r#"{
              "mcpServers": {
                "files": {
                  "command": "npx",
                  "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
                  "env": { "LOG_LEVEL": "debug", "EMPTY": "" },
                  "cwd": "/srv"
                }
              }
            }"#,
        );
        assert_eq!(names(&entries), ["files"]);
        let files = stdio(&entries, "files");
        assert_eq!(files.command, "npx");
        assert_eq!(
            files.args,
            os(&["-y", "@modelcontextprotocol/server-filesystem", "/tmp"])
        );
        assert_eq!(files.env, pairs(&[("LOG_LEVEL", "debug"), ("EMPTY", "")]));
        assert_eq!(files.cwd, Some(PathBuf::from("/srv")));
        let debug = format!("{:?}", config(&entries, "files"));
        assert!(debug.contains(r#"name: Some("files")"#), "{debug}");
    }

    #[test]
    fn vscode_servers_with_inputs_ignored() {
        let entries = parse_ok(
            r#"{
              "inputs": [{ "type": "promptString", "id": "key", "description": "API key" }],
              "servers": {
                "git": { "type": "stdio", "command": "uvx", "args": ["mcp-server-git"] },
                "remote": { "type": "http", "url": "https://example.com/mcp" }
              }
            }"#,
        );
        assert_eq!(names(&entries), ["git", "remote"]);
        assert_eq!(stdio(&entries, "git").command, "uvx");
        assert_eq!(http(&entries, "remote").url, "https://example.com/mcp");
    }

    #[test]
    fn both_top_level_keys_merge_in_file_order() {
        let entries = parse_ok(
            r#"{
              "servers": { "b": { "command": "b" } },
              "other": { "c": { "command": "ignored" } },
              "mcpServers": { "a": { "command": "a" }, "z": { "url": "http://z/mcp" } }
            }"#,
        );
        assert_eq!(names(&entries), ["b", "a", "z"]);
    }

    #[test]
    fn entries_keep_the_file_order() {
        let entries = parse_ok(
            r#"{"mcpServers": {"zeta": {"command": "z"}, "alpha": {"command": "a"},
               "mid": {"command": "m"}}}"#,
        );
        assert_eq!(names(&entries), ["zeta", "alpha", "mid"]);
    }

    #[test]
    fn empty_server_objects_are_fine() {
        assert!(parse_ok(r#"{"mcpServers": {}}"#).is_empty());
        assert!(parse_ok(r#"{"servers": {}, "mcpServers": {}}"#).is_empty());
    }

    #[test]
    fn keys_with_escapes_are_decoded_and_located() {
        let text = "{\n  \"mc\\u0070Servers\": {\n    \"a\\\"b\\\\\": {\"command\": \"x\"},\n    \
                    \"c\\u00e9\": {\"x\\\"y\": \"}{[\", \"args\": {}}\n  }\n}";
        let entries = parse_ok(text);
        assert_eq!(names(&entries), ["a\"b\\", "c\u{e9}"]);
        assert_eq!(stdio(&entries, "a\"b\\").command, "x");
        assert_config(
            entry_error(&entries, "c\u{e9}"),
            Some("c\u{e9}"),
            Some("command"),
            (4, 5),
            "missing `command`",
        );
    }

    #[test]
    fn invalid_utf8_is_located_at_its_first_bad_byte() {
        assert_eq!(text(b"{\"servers\": {}}").unwrap(), "{\"servers\": {}}");
        let error = text(b"{\n  \"\xc3\xa9\xff\"").unwrap_err();
        assert_config(&error, None, None, (2, 5), "not UTF-8: byte 0xff");
        let error = text(b"\xef\xbb\xbf\x80").unwrap_err();
        assert_config(&error, None, None, (1, 1), "byte 0x80");
        let error = text(b"a\n\xe9").unwrap_err();
        assert_config(&error, None, None, (2, 1), "byte 0xe9");
    }

    #[test]
    fn whole_file_errors() {
        assert_config(
            &parse_err("\n  [1, 2]"),
            None,
            None,
            (2, 3),
            "the config file must be a JSON object, found an array",
        );
        assert_config(
            &parse_err("{\n  \"inputs\": []\n}"),
            None,
            None,
            (1, 1),
            "no `mcpServers` or `servers` object found",
        );
        assert_config(
            &parse_err("{\n  \"mcpServers\": [\"a\"]\n}"),
            None,
            Some("mcpServers"),
            (2, 3),
            "`mcpServers` must be an object, found an array",
        );
        assert_config(
            &parse_err("{\"servers\": null}"),
            None,
            Some("servers"),
            (1, 2),
            "`servers` must be an object, found null",
        );
        assert_config(
            &parse_err("{\"servers\": {},\n \"servers\": {}}"),
            None,
            Some("servers"),
            (2, 2),
            "`servers` appears twice (first at line 1 column 2)",
        );
    }

    #[test]
    fn fifty_thousand_wrong_entries_on_one_line_are_located_within_the_bound() {
        // 5 MB on one line, an error in each entry: each used to be located by counting from
        // the start of the file, which took 50 s in a release build; now 0.3 s.
        let entry = r#""s{i}": {"command": "", "args": ["/srv/mcp/servers/some-server/dist/index.js", "--stdio", "--verbose"]}"#;
        let entries: Vec<String> = (0..50_000)
            .map(|i| entry.replace("{i}", &format!("{i:06}")))
            .collect();
        let text = format!(r#"{{"mcpServers": {{{}}}}}"#, entries.join(", "));
        assert!(text.len() > 5_000_000);
        let last_key = text.rfind(r#""command""#).unwrap();
        let entries = parse_within(text, std::time::Duration::from_secs(10));
        assert_eq!(entries.len(), 50_000);
        assert_config(
            entry_error(&entries, "s049999"),
            Some("s049999"),
            Some("command"),
            (1, last_key + 1),
            "`command` is empty",
        );
    }

    #[test]
    fn a_server_listed_twice_spoils_the_file() {
        let error = parse_err(
            "{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\"},\n    \"a\": {\"command\": \"y\"}\n  }\n}",
        );
        assert_config(
            &error,
            Some("a"),
            None,
            (4, 5),
            "listed twice (first at line 3 column 5)",
        );
        let error = parse_err(
            "{\n  \"mcpServers\": {\"a\": {\"command\": \"x\"}},\n  \
             \"servers\": {\"b\": {\"command\": \"x\"}, \"a\": {\"url\": \"http://a/mcp\", \"disabled\": true}}\n}",
        );
        assert_config(
            &error,
            Some("a"),
            None,
            (3, 38),
            "listed in both `mcpServers` and `servers`",
        );
    }
}
