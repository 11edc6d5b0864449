//! Reading the MCP server config files people already have (Claude Desktop, Cursor, Claude
//! Code, Cline, VS Code) into [`ServerConfig`]s.
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
//! | `type`     | `stdio`, `http`, `streamable-http` (or `streamableHttp`), or `sse` (legacy SSE: [`Error::Unsupported`]) |
//! | `command`  | program to run (stdio); without `type`, its presence means stdio |
//! | `args`     | array of strings |
//! | `env`      | object; values are strings, or numbers and booleans, which are used as written (`8080`, `true`) |
//! | `cwd`      | working directory; empty means none |
//! | `url`      | `http://` or `https://` endpoint (http); without `type`, its presence means http |
//! | `headers`  | object of strings; names and (expanded) values must be valid in HTTP |
//! | `disabled` | `true` leaves the entry out entirely; it is not checked at all |
//!
//! Without `type`, an entry with both `command` and `url`, or neither, is an error. With a
//! `type`, the fields of the other transport are ignored. A field set to `null` counts as
//! absent. Unknown fields (`envFile`, `autoApprove`, `timeout`, ...) are ignored. A known
//! field given twice in one entry (or a key given twice in `env` or `headers`) is an error
//! rather than silently dropping one of them.
//!
//! # Variables
//!
//! Every string value that becomes part of a config (`command`, each argument, `env` values,
//! `cwd`, `url`, header values; not keys, not `type`) expands:
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

use std::collections::HashMap;

use crate::config::ServerConfig;
use crate::error::Error;

/// One server entry of a config file.
#[derive(Debug)]
pub(crate) struct ServerEntry {
    /// The server's name: its key under `mcpServers` or `servers`.
    pub(crate) name: String,
    /// The server's config, or what is wrong with this entry alone.
    pub(crate) config: Result<ServerConfig, Error>,
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
    let clean = blank_jsonc(text);
    // serde_json judges the syntax and bounds the nesting depth; the reader then keeps what
    // `Value` loses: order, duplicates and positions. The reader bounds its recursion itself
    // too, so that it is safe whatever serde_json accepts.
    if let Err(error) = serde_json::from_str::<serde_json::Value>(&clean) {
        return Err(json_error(text, &error));
    }
    let file_error = |server: Option<&str>, field: Option<&str>, at: usize, message: String| {
        let (line, column) = line_column(text, at);
        Error::Config {
            server: server.map(str::to_owned),
            field: field.map(str::to_owned),
            line: Some(line),
            column: Some(column),
            message,
        }
    };
    let root = Reader::new(&clean)
        .document()
        .map_err(|(at, message)| file_error(None, None, at, message.to_owned()))?;
    let Kind::Object(top) = &root.kind else {
        return Err(file_error(
            None,
            None,
            root.at,
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
    for section in top {
        let key = section.key.as_str();
        if key != "mcpServers" && key != "servers" {
            continue;
        }
        if let Some(first) = sections.iter().find(|first| first.key == key) {
            let (line, column) = line_column(text, first.at);
            return Err(file_error(
                None,
                Some(key),
                section.at,
                format!("`{key}` appears twice (first at line {line} column {column})"),
            ));
        }
        sections.push(section);
        let Kind::Object(servers) = &section.value.kind else {
            return Err(file_error(
                None,
                Some(key),
                section.at,
                format!(
                    "`{key}` must be an object, found {}",
                    section.value.kind.describe()
                ),
            ));
        };
        for server in servers {
            if let Some((first, first_section)) = names.insert(&server.key, (server, key)) {
                let message = if first_section == key {
                    let (line, column) = line_column(text, first.at);
                    format!("listed twice (first at line {line} column {column})")
                } else {
                    "listed in both `mcpServers` and `servers`".to_owned()
                };
                return Err(file_error(Some(&server.key), None, server.at, message));
            }
            let entry = Entry {
                name: &server.key,
                at: server.at,
                text,
                lookup,
            };
            if let Some(config) = entry.config(&server.value) {
                entries.push(ServerEntry {
                    name: server.key.clone(),
                    config: config.map(|config| config.name(&server.key)),
                });
            }
        }
    }
    if sections.is_empty() {
        return Err(file_error(
            None,
            None,
            root.at,
            "no `mcpServers` or `servers` object found".to_owned(),
        ));
    }
    Ok(entries)
}

/// Turns serde_json's syntax error into [`Error::Config`], with the column counted in
/// characters rather than bytes.
fn json_error(text: &str, error: &serde_json::Error) -> Error {
    let (line, byte_column) = (error.line(), error.column());
    let full = error.to_string();
    let message = full
        .strip_suffix(&format!(" at line {line} column {byte_column}"))
        .unwrap_or(&full);
    let line_start = if line <= 1 {
        Some(0)
    } else {
        text.match_indices('\n').nth(line - 2).map(|(i, _)| i + 1)
    };
    // serde_json's column is the 1-based byte column of the last byte it read, and 0 when
    // that byte is the newline ending the line before: either way, the byte before
    // `line_start + byte_column`.
    let at = line_start.map_or(text.len(), |start| (start + byte_column).saturating_sub(1));
    let (line, column) = line_column(text, at);
    Error::Config {
        server: None,
        field: None,
        line: Some(line),
        column: Some(column),
        message: format!("invalid JSON: {message}"),
    }
}

/// The text of a config file's bytes, or an [`Error::Config`] at the first byte that is not
/// UTF-8.
pub(crate) fn text(bytes: &[u8]) -> Result<&str, Error> {
    std::str::from_utf8(bytes).map_err(|error| {
        let valid = error.valid_up_to();
        let before = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
        let (line, column) = line_column(before, valid);
        Error::Config {
            server: None,
            field: None,
            line: Some(line),
            column: Some(column),
            message: format!(
                "the file is not UTF-8: byte 0x{:02x} cannot start a character here",
                bytes[valid]
            ),
        }
    })
}

/// The 1-based line and character column of byte `at` of `text` (past its end: of the end).
/// A newline belongs to the line it ends, at the column just past that line's last character.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, chars_on_line(text, start, at) + 1)
}

/// How many characters `text[start..end]` holds, not counting a byte-order mark.
fn chars_on_line(text: &str, start: usize, end: usize) -> usize {
    let part = text.get(start..end).unwrap_or_default();
    let part = if start == 0 {
        part.strip_prefix('\u{feff}').unwrap_or(part)
    } else {
        part
    };
    part.chars().count()
}

/// Replaces comments, trailing commas and a byte-order mark with spaces, keeping every other
/// byte (and so every line and column) where it was. Unterminated comments are left alone for
/// serde_json to reject.
fn blank_jsonc(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let len = bytes.len();
    if text.starts_with('\u{feff}') {
        bytes[..3].fill(b' ');
    }
    // The pending comma that a following `}` or `]` would make a trailing one.
    let mut comma: Option<usize> = None;
    // The last byte outside whitespace, comments and strings (`"` for a string).
    let mut last = 0u8;
    let mut i = 0;
    while i < len {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < len {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
                comma = None;
                last = b'"';
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = bytes[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(len, |n| i + n);
                bytes[i..end].fill(b' ');
                i = end;
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let Some(n) = bytes[i + 2..].windows(2).position(|w| w == b"*/") else {
                    break;
                };
                let end = i + 2 + n + 2;
                for byte in &mut bytes[i..end] {
                    if *byte != b'\n' {
                        *byte = b' ';
                    }
                }
                i = end;
                continue;
            }
            b',' => {
                comma = (!matches!(last, 0 | b'{' | b'[' | b',')).then_some(i);
                last = b',';
            }
            b'}' | b']' => {
                if let Some(at) = comma.take() {
                    bytes[at] = b' ';
                }
                last = bytes[i];
            }
            b' ' | b'\t' | b'\n' | b'\r' => {}
            other => {
                comma = None;
                last = other;
            }
        }
        i += 1;
    }
    // Only whole characters were replaced, by ASCII spaces, so this cannot fail.
    String::from_utf8(bytes).unwrap_or_else(|_| text.to_owned())
}

/// A JSON value with the byte offset where it starts.
struct Node {
    at: usize,
    kind: Kind,
}

/// What a [`Node`] holds. Objects keep their members in order, duplicates included.
enum Kind {
    Null,
    Bool(bool),
    /// The number as written.
    Number(String),
    String(String),
    Array(Vec<Node>),
    Object(Vec<Member>),
}

impl Kind {
    /// The JSON type, for messages.
    fn describe(&self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Number(_) => "a number",
            Kind::String(_) => "a string",
            Kind::Array(_) => "an array",
            Kind::Object(_) => "an object",
        }
    }
}

/// One member of an object, with the byte offset of its key's opening quote.
struct Member {
    key: String,
    at: usize,
    value: Node,
}

/// How deeply arrays and objects may nest. serde_json refuses 128 levels first; the reader
/// checks again so that its recursion is bounded by this, not by the file.
const MAX_DEPTH: usize = 128;

/// Reads JSON that serde_json has already accepted into [`Node`]s.
struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    /// How many arrays and objects enclose the current position.
    depth: usize,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Reader<'a> {
        Reader {
            text,
            bytes: text.as_bytes(),
            at: 0,
            depth: 0,
        }
    }

    /// The document's value, or where and why it cannot be read: nesting past
    /// [`MAX_DEPTH`], or (only for text serde_json would reject) bad syntax.
    fn document(mut self) -> Result<Node, (usize, &'static str)> {
        match self.value() {
            Some(node) => Ok(node),
            None if self.depth > MAX_DEPTH => Err((self.at, "arrays and objects nest too deeply")),
            None => Err((self.at, "invalid JSON")),
        }
    }

    /// Enters an array or object at the current position, unless that nests too deeply.
    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        Some(())
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.bytes.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Skips whitespace, then takes `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        let found = self.bytes.get(self.at) == Some(&byte);
        if found {
            self.at += 1;
        }
        found
    }

    fn value(&mut self) -> Option<Node> {
        self.skip_whitespace();
        let at = self.at;
        let kind = match *self.bytes.get(at)? {
            b'{' => {
                self.enter()?;
                let mut members = Vec::new();
                if !self.eat(b'}') {
                    loop {
                        self.skip_whitespace();
                        let key_at = self.at;
                        let key = self.string()?;
                        if !self.eat(b':') {
                            return None;
                        }
                        let value = self.value()?;
                        members.push(Member {
                            key,
                            at: key_at,
                            value,
                        });
                        if self.eat(b'}') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                self.depth -= 1;
                Kind::Object(members)
            }
            b'[' => {
                self.enter()?;
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value()?);
                        if self.eat(b']') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                self.depth -= 1;
                Kind::Array(items)
            }
            b'"' => Kind::String(self.string()?),
            b't' => self.word("true", Kind::Bool(true))?,
            b'f' => self.word("false", Kind::Bool(false))?,
            b'n' => self.word("null", Kind::Null)?,
            _ => {
                while matches!(
                    self.bytes.get(self.at),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.at += 1;
                }
                if self.at == at {
                    return None;
                }
                Kind::Number(self.text[at..self.at].to_owned())
            }
        };
        Some(Node { at, kind })
    }

    fn word(&mut self, word: &str, kind: Kind) -> Option<Kind> {
        self.text[self.at..].starts_with(word).then(|| {
            self.at += word.len();
            kind
        })
    }

    /// Reads a string token at the current position, decoding its escapes with serde_json.
    fn string(&mut self) -> Option<String> {
        let start = self.at;
        if self.bytes.get(start) != Some(&b'"') {
            return None;
        }
        self.at += 1;
        loop {
            match *self.bytes.get(self.at)? {
                b'\\' => self.at += 2,
                b'"' => break,
                _ => self.at += 1,
            }
        }
        self.at += 1;
        serde_json::from_str(self.text.get(start..self.at)?).ok()
    }
}

/// The transport an entry asks for.
#[derive(Clone, Copy, PartialEq)]
enum Transport {
    Stdio,
    Http,
    Sse,
}

/// One server entry being turned into a config.
struct Entry<'a> {
    name: &'a str,
    /// Byte offset of the server's key.
    at: usize,
    text: &'a str,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Entry<'_> {
    /// An [`Error::Config`] about `field` of this entry, located at byte `at`.
    fn error(&self, field: Option<&str>, at: usize, message: impl Into<String>) -> Error {
        let (line, column) = line_column(self.text, at);
        Error::Config {
            server: Some(self.name.to_owned()),
            field: field.map(str::to_owned),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }

    /// The entry's config, or `None` if it is disabled.
    fn config(&self, value: &Node) -> Option<Result<ServerConfig, Error>> {
        let Kind::Object(fields) = &value.kind else {
            return Some(Err(self.error(
                None,
                self.at,
                format!(
                    "the server entry must be an object, found {}",
                    value.kind.describe()
                ),
            )));
        };
        match self.disabled(fields) {
            Ok(true) => None,
            Ok(false) => Some(self.enabled_config(fields)),
            Err(error) => Some(Err(error)),
        }
    }

    fn disabled(&self, fields: &[Member]) -> Result<bool, Error> {
        match self.field(fields, "disabled")? {
            None => Ok(false),
            Some(member) => match member.value.kind {
                Kind::Bool(disabled) => Ok(disabled),
                ref other => Err(self.error(
                    Some("disabled"),
                    member.at,
                    format!(
                        "`disabled` must be true or false, found {}",
                        other.describe()
                    ),
                )),
            },
        }
    }

    fn enabled_config(&self, fields: &[Member]) -> Result<ServerConfig, Error> {
        if self.name.is_empty() {
            return Err(self.error(None, self.at, "the server name is empty"));
        }
        let (transport, type_name) = match self.field(fields, "type")? {
            Some(member) => {
                let Kind::String(name) = &member.value.kind else {
                    return Err(self.error(
                        Some("type"),
                        member.at,
                        format!(
                            "`type` must be one of stdio, http, streamable-http, sse; found {}",
                            member.value.kind.describe()
                        ),
                    ));
                };
                let transport = match name.as_str() {
                    "stdio" => Transport::Stdio,
                    "http" | "streamable-http" | "streamableHttp" => Transport::Http,
                    "sse" => Transport::Sse,
                    other => {
                        return Err(self.error(
                            Some("type"),
                            member.at,
                            format!(
                                "`type` must be one of stdio, http, streamable-http, sse; \
                                 found `{other}`"
                            ),
                        ));
                    }
                };
                (transport, Some(name.as_str()))
            }
            None => {
                let command = self.field(fields, "command")?.is_some();
                let url = self.field(fields, "url")?.is_some();
                match (command, url) {
                    (true, false) => (Transport::Stdio, None),
                    (false, true) => (Transport::Http, None),
                    (true, true) => {
                        return Err(self.error(
                            Some("type"),
                            self.at,
                            "both `command` and `url` are set; add `type` to choose the transport",
                        ));
                    }
                    (false, false) => {
                        return Err(self.error(
                            Some("command"),
                            self.at,
                            "missing `command` (or `url`)",
                        ));
                    }
                }
            }
        };
        match transport {
            Transport::Sse => Err(Error::Unsupported {
                server: self.name.to_owned(),
                what: "the legacy SSE transport (use streamable HTTP)".to_owned(),
            }),
            Transport::Stdio => self.stdio(fields, type_name),
            Transport::Http => self.http(fields, type_name),
        }
    }

    fn stdio(&self, fields: &[Member], type_name: Option<&str>) -> Result<ServerConfig, Error> {
        let Some(command) = self.string_field(fields, "command")? else {
            let why = type_name.map_or(String::new(), |name| {
                format!(" (required when `type` is {name})")
            });
            return Err(self.error(Some("command"), self.at, format!("missing `command`{why}")));
        };
        if command.0.is_empty() {
            return Err(self.error(Some("command"), command.1, "`command` is empty"));
        }
        let mut config = ServerConfig::stdio(command.0);

        if let Some(member) = self.field(fields, "args")? {
            let Kind::Array(items) = &member.value.kind else {
                return Err(self.error(
                    Some("args"),
                    member.at,
                    format!(
                        "`args` must be an array of strings, found {}",
                        member.value.kind.describe()
                    ),
                ));
            };
            for (index, item) in items.iter().enumerate() {
                let field = format!("args[{index}]");
                let Kind::String(arg) = &item.kind else {
                    return Err(self.error(
                        Some(&field),
                        item.at,
                        format!("`{field}` must be a string, found {}", item.kind.describe()),
                    ));
                };
                config = config.arg(self.expand(arg, &field, item.at)?);
            }
        }

        for key in self.map(fields, "env")? {
            let field = format!("env.{}", key.key);
            if key.key.is_empty() || key.key.contains(['=', '\0']) {
                return Err(self.error(
                    Some(&field),
                    key.at,
                    "environment variable names cannot be empty or contain `=` or NUL",
                ));
            }
            let value = match &key.value.kind {
                Kind::String(value) => self.expand(value, &field, key.at)?,
                Kind::Number(number) => number.clone(),
                Kind::Bool(value) => value.to_string(),
                other => {
                    return Err(self.error(
                        Some(&field),
                        key.at,
                        format!(
                            "`{field}` must be a string (or a number or boolean), found {}",
                            other.describe()
                        ),
                    ));
                }
            };
            config = config.env(&key.key, value);
        }

        if let Some((cwd, _)) = self.string_field(fields, "cwd")?
            && !cwd.is_empty()
        {
            config = config.cwd(cwd);
        }
        Ok(config)
    }

    fn http(&self, fields: &[Member], type_name: Option<&str>) -> Result<ServerConfig, Error> {
        let Some((url, at)) = self.string_field(fields, "url")? else {
            let why = type_name.map_or(String::new(), |name| {
                format!(" (required when `type` is {name})")
            });
            return Err(self.error(Some("url"), self.at, format!("missing `url`{why}")));
        };
        let scheme = url.split_once("://").map(|(scheme, _)| scheme);
        if !scheme
            .is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"))
        {
            return Err(self.error(
                Some("url"),
                at,
                format!("`url` must start with http:// or https://, found `{url}`"),
            ));
        }
        let mut config = ServerConfig::http(url);
        for name in self.map(fields, "headers")? {
            let field = format!("headers.{}", name.key);
            let Kind::String(value) = &name.value.kind else {
                return Err(self.error(
                    Some(&field),
                    name.at,
                    format!(
                        "`{field}` must be a string, found {}",
                        name.value.kind.describe()
                    ),
                ));
            };
            let value = self.expand(value, &field, name.at)?;
            #[cfg(feature = "http")]
            self.check_header(&name.key, &value, &field, name.at)?;
            config = config.header(&name.key, value);
        }
        Ok(config)
    }

    /// Checks a header's name and expanded value as the HTTP transport will when it connects,
    /// so that a bad one is reported with its position. The value is not quoted: it may be a
    /// secret.
    #[cfg(feature = "http")]
    fn check_header(&self, name: &str, value: &str, field: &str, at: usize) -> Result<(), Error> {
        if http::HeaderName::try_from(name).is_err() {
            return Err(self.error(
                Some(field),
                at,
                format!("`{name}` is not a valid HTTP header name"),
            ));
        }
        if http::HeaderValue::try_from(value).is_err() {
            return Err(self.error(
                Some(field),
                at,
                format!(
                    "the value of `{field}` is not a valid HTTP header value \
                     (it has a line break, NUL or other control character)"
                ),
            ));
        }
        Ok(())
    }

    /// The member `key` of the entry, `None` if it is absent or `null`; an error if it is
    /// given twice.
    fn field<'f>(&self, fields: &'f [Member], key: &str) -> Result<Option<&'f Member>, Error> {
        let mut found: Option<&Member> = None;
        for member in fields.iter().filter(|member| member.key == key) {
            if let Some(first) = found {
                let (line, column) = line_column(self.text, first.at);
                return Err(self.error(
                    Some(key),
                    member.at,
                    format!("`{key}` appears twice (first at line {line} column {column})"),
                ));
            }
            found = Some(member);
        }
        Ok(found.filter(|member| !matches!(member.value.kind, Kind::Null)))
    }

    /// The string member `key`, expanded, with the offset of its key.
    fn string_field(&self, fields: &[Member], key: &str) -> Result<Option<(String, usize)>, Error> {
        let Some(member) = self.field(fields, key)? else {
            return Ok(None);
        };
        let Kind::String(value) = &member.value.kind else {
            return Err(self.error(
                Some(key),
                member.at,
                format!(
                    "`{key}` must be a string, found {}",
                    member.value.kind.describe()
                ),
            ));
        };
        Ok(Some((self.expand(value, key, member.at)?, member.at)))
    }

    /// The members of the object member `key` (`env`, `headers`); none if it is absent. An error if it is not an object or repeats a key.
    fn map<'f>(&self, fields: &'f [Member], key: &str) -> Result<&'f [Member], Error> {
        let Some(member) = self.field(fields, key)? else {
            return Ok(&[]);
        };
        let Kind::Object(members) = &member.value.kind else {
            return Err(self.error(
                Some(key),
                member.at,
                format!(
                    "`{key}` must be an object, found {}",
                    member.value.kind.describe()
                ),
            ));
        };
        let mut seen: HashMap<&str, &Member> = HashMap::new();
        for inner in members {
            if let Some(first) = seen.insert(&inner.key, inner) {
                let (line, column) = line_column(self.text, first.at);
                return Err(self.error(
                    Some(&format!("{key}.{}", inner.key)),
                    inner.at,
                    format!(
                        "`{}` appears twice in `{key}` (first at line {line} column {column})",
                        inner.key
                    ),
                ));
            }
        }
        Ok(members)
    }

    /// Expands the variables of `value`, the value of `field`, whose key is at byte `at`.
    fn expand(&self, value: &str, field: &str, at: usize) -> Result<String, Error> {
        expand(value, self.lookup).map_err(|message| self.error(Some(field), at, message))
    }
}

/// Expands `${VAR}`, `${VAR:-default}` and `${env:VAR}` in `value` (see the module docs).
/// The error is the message.
///
/// One pass without recursion: the braces are matched first, then `value` is copied left to
/// right, a reference replaced by its variable's value or, when the default is used, by the
/// default copied in place; a stack keeps where each enclosing default ends. The time is
/// linear in `value` and the values inserted, and nesting uses the heap, not the stack.
fn expand(value: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let braces = match_braces(value);
    let mut out = String::with_capacity(value.len());
    // Copying `value[at..end]`; `ends` holds where each enclosing default ends.
    let mut at = 0;
    let mut end = value.len();
    let mut ends: Vec<usize> = Vec::new();
    loop {
        let Some(open) = value[at..end].find("${").map(|i| at + i) else {
            out.push_str(&value[at..end]);
            let Some(outer) = ends.pop() else {
                return Ok(out);
            };
            // Go on past the `}` that closes the default.
            at = end + 1;
            end = outer;
            continue;
        };
        out.push_str(&value[at..open]);
        let close = braces
            .binary_search_by_key(&open, |&(open, _)| open)
            .ok()
            .and_then(|i| braces[i].1)
            .ok_or_else(|| format!("unterminated `${{` in `{}`", &value[open..]))?;
        let inner = open + 2;
        match reference(&value[inner..close], lookup)? {
            Resolved::Value(value) => {
                out.push_str(&value);
                at = close + 1;
            }
            Resolved::Default(offset) => {
                ends.push(end);
                at = inner + offset;
                end = close;
            }
        }
    }
}

/// The byte offset of each `${` in `value`, in order, with that of the `}` that closes it
/// (`None` if none does). A `}` closes the innermost open `${`; outside any, it is text.
fn match_braces(value: &str) -> Vec<(usize, Option<usize>)> {
    let bytes = value.as_bytes();
    let mut braces: Vec<(usize, Option<usize>)> = Vec::new();
    // Indices into `braces` of the `${` not closed yet, innermost last.
    let mut open: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                open.push(braces.len());
                braces.push((i, None));
                i += 1;
            }
            b'}' => {
                if let Some(index) = open.pop() {
                    braces[index].1 = Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    braces
}

/// What a reference stands for.
enum Resolved {
    /// The variable's value.
    Value(String),
    /// The default, which starts at this byte offset of the reference's contents.
    Default(usize),
}

/// Resolves one reference, given what is between `${` and `}`. Its default is not looked at.
fn reference(inner: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Resolved, String> {
    if inner.starts_with("input:") {
        return Err(format!(
            "`${{{inner}}}` asks for a VS Code input, and inputs are not supported; \
             use an environment variable instead"
        ));
    }
    let Some((name, default)) = split_reference(inner) else {
        return Err(format!(
            "`${{{inner}}}` is not a variable reference; use `${{NAME}}` or `${{NAME:-default}}`"
        ));
    };
    match (lookup(name), default) {
        (Some(value), Some(default)) if value.is_empty() => Ok(Resolved::Default(default)),
        (Some(value), _) => Ok(Resolved::Value(value)),
        (None, Some(default)) => Ok(Resolved::Default(default)),
        (None, None) => Err(format!(
            "environment variable `{name}` is not set and has no default"
        )),
    }
}

/// The variable name of a reference's contents (`NAME`, `NAME:-default`, either with `env:`
/// before the name) and the byte offset of its default; `None` if the contents are anything
/// else. Reads only as far as the name, so a long default is not scanned here.
fn split_reference(inner: &str) -> Option<(&str, Option<usize>)> {
    let word = |from: usize| {
        inner[from..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count()
    };
    let (mut start, mut len) = (0, word(0));
    // `env:` is a prefix, but `env:-default` is the variable `env` with a default.
    if &inner[..len] == "env" && inner[len..].starts_with(':') && !inner[len..].starts_with(":-") {
        start = len + 1;
        len = word(start);
    }
    let name = &inner[start..start + len];
    if !name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
    {
        return None;
    }
    match &inner[start + len..] {
        "" => Some((name, None)),
        rest if rest.starts_with(":-") => Some((name, Some(start + len + 2))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HttpConfig, StdioConfig, TransportConfig};
    use std::collections::HashMap;
    use std::ffi::OsString;
    use std::path::PathBuf;

    /// The environment the tests see.
    fn env() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("HOME_DIR", "/home/me"),
            ("TOKEN", "s3cret"),
            ("EMPTY", ""),
            ("PORT", "8080"),
            ("DOLLAR", "${NOT_EXPANDED}"),
        ])
    }

    fn parse_ok(text: &str) -> Vec<ServerEntry> {
        let env = env();
        parse(text, &|name| env.get(name).map(|v| (*v).to_owned()))
            .unwrap_or_else(|error| panic!("parse failed: {error}"))
    }

    fn parse_err(text: &str) -> Error {
        let env = env();
        match parse(text, &|name| env.get(name).map(|v| (*v).to_owned())) {
            Ok(entries) => panic!("expected an error, got {entries:?}"),
            Err(error) => error,
        }
    }

    fn expand_with_env(value: &str) -> Result<String, String> {
        let env = env();
        expand(value, &|name| env.get(name).map(|v| (*v).to_owned()))
    }

    fn names(entries: &[ServerEntry]) -> Vec<&str> {
        entries.iter().map(|entry| entry.name.as_str()).collect()
    }

    fn config<'e>(entries: &'e [ServerEntry], name: &str) -> &'e ServerConfig {
        let entry = entries
            .iter()
            .find(|entry| entry.name == name)
            .unwrap_or_else(|| panic!("no entry `{name}` in {entries:?}"));
        match &entry.config {
            Ok(config) => {
                assert_eq!(config.server_name(), name);
                config
            }
            Err(error) => panic!("entry `{name}` failed: {error}"),
        }
    }

    fn stdio<'e>(entries: &'e [ServerEntry], name: &str) -> &'e StdioConfig {
        match &config(entries, name).transport {
            TransportConfig::Stdio(stdio) => stdio,
            other => panic!("`{name}` is not stdio: {other:?}"),
        }
    }

    fn http<'e>(entries: &'e [ServerEntry], name: &str) -> &'e HttpConfig {
        match &config(entries, name).transport {
            TransportConfig::Http(http) => http,
            other => panic!("`{name}` is not http: {other:?}"),
        }
    }

    fn entry_error<'e>(entries: &'e [ServerEntry], name: &str) -> &'e Error {
        let entry = entries
            .iter()
            .find(|entry| entry.name == name)
            .unwrap_or_else(|| panic!("no entry `{name}` in {entries:?}"));
        match &entry.config {
            Ok(config) => panic!("entry `{name}` should fail, got {config:?}"),
            Err(error) => error,
        }
    }

    fn os(values: &[&str]) -> Vec<OsString> {
        values.iter().map(OsString::from).collect()
    }

    fn pairs(values: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        values
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    /// Asserts that `error` is a `Config` error with these parts, and `message` contains
    /// `needle`.
    #[track_caller]
    fn assert_config(
        error: &Error,
        server: Option<&str>,
        field: Option<&str>,
        at: (usize, usize),
        needle: &str,
    ) {
        match error {
            Error::Config {
                server: s,
                field: f,
                line: Some(line),
                column: Some(column),
                message,
            } => {
                assert_eq!(s.as_deref(), server, "server of {error}");
                assert_eq!(f.as_deref(), field, "field of {error}");
                assert_eq!((*line, *column), at, "position of {error}");
                assert!(message.contains(needle), "`{message}` lacks `{needle}`");
            }
            other => panic!("expected a config error, got {other:?}"),
        }
    }

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
    fn minimal_stdio_has_no_args_env_or_cwd() {
        let entries = parse_ok(r#"{"mcpServers": {"min": {"command": "server"}}}"#);
        let min = stdio(&entries, "min");
        assert_eq!(min.command, "server");
        assert!(min.args.is_empty() && min.env.is_empty() && min.cwd.is_none());
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

    #[test]
    fn expansion_rules() {
        assert_eq!(expand_with_env("${HOME_DIR}").unwrap(), "/home/me");
        assert_eq!(
            expand_with_env("a${TOKEN}b${PORT}c").unwrap(),
            "as3cretb8080c"
        );
        assert_eq!(expand_with_env("${env:TOKEN}").unwrap(), "s3cret");
        // The default is used only when the variable is unset or empty.
        assert_eq!(expand_with_env("${TOKEN:-dflt}").unwrap(), "s3cret");
        assert_eq!(expand_with_env("${UNSET:-dflt}").unwrap(), "dflt");
        assert_eq!(expand_with_env("${EMPTY:-dflt}").unwrap(), "dflt");
        assert_eq!(expand_with_env("${UNSET:-}").unwrap(), "");
        assert_eq!(expand_with_env("${UNSET:-a b:c-d}").unwrap(), "a b:c-d");
        // Set but empty counts as set without a default.
        assert_eq!(expand_with_env("[${EMPTY}]").unwrap(), "[]");
        // Defaults may nest, and are expanded only when used.
        assert_eq!(expand_with_env("${UNSET:-${TOKEN}}").unwrap(), "s3cret");
        assert_eq!(expand_with_env("${UNSET:-${NOPE:-x}y}z").unwrap(), "xyz");
        assert_eq!(expand_with_env("${TOKEN:-${NOPE}}").unwrap(), "s3cret");
        // Values are not expanded again.
        assert_eq!(expand_with_env("${DOLLAR}").unwrap(), "${NOT_EXPANDED}");
        // A `$` not followed by `{` is literal; `$${` is a `$` then a reference.
        assert_eq!(expand_with_env("$HOME $ a$").unwrap(), "$HOME $ a$");
        assert_eq!(expand_with_env("$$").unwrap(), "$$");
        assert_eq!(expand_with_env("$${TOKEN}").unwrap(), "$s3cret");
        assert_eq!(expand_with_env("{}").unwrap(), "{}");
        assert_eq!(expand_with_env("x}").unwrap(), "x}");
        assert_eq!(expand_with_env("").unwrap(), "");
        assert_eq!(expand_with_env("é${PORT}ü").unwrap(), "é8080ü");
        // `env:` is VS Code's prefix, but `env:-` is a variable `env` with a default.
        assert_eq!(expand_with_env("${env:UNSET:-d}").unwrap(), "d");
        assert_eq!(expand_with_env("${env:-d}").unwrap(), "d");
        // A default that is not used is not checked beyond its braces.
        assert_eq!(
            expand_with_env("${TOKEN:-${1bad}${input:x}}").unwrap(),
            "s3cret"
        );
        assert_eq!(
            expand_with_env("<${UNSET:-a${EMPTY:-b${NOPE:-c}d}e}>${PORT}").unwrap(),
            "<abcde>8080"
        );
    }

    #[test]
    fn expansion_errors() {
        let error = expand_with_env("a ${HOME_DIRX} b").unwrap_err();
        assert_eq!(
            error,
            "environment variable `HOME_DIRX` is not set and has no default"
        );
        assert!(
            expand_with_env("${UNSET:-${ALSO_UNSET}}")
                .unwrap_err()
                .contains("`ALSO_UNSET` is not set")
        );
        let error = expand_with_env("${input:api-key}").unwrap_err();
        assert!(error.contains("`${input:api-key}`"), "{error}");
        assert!(error.contains("inputs are not supported"), "{error}");
        let error = expand_with_env("x ${TOKEN").unwrap_err();
        assert!(error.contains("unterminated `${`"), "{error}");
        assert!(error.contains("`${TOKEN`"), "{error}");
        assert!(
            expand_with_env("${UNSET:-${X}")
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(expand_with_env("${").unwrap_err().contains("unterminated"));
        for bad in [
            "${}",
            "${A B}",
            "${1X}",
            "${X-y}",
            "${X:=y}",
            "${:-y}",
            "${env:}",
            "${env::-y}",
            "${env:env:X}",
            "${A${B}}",
            "${UNSET:-${9}}",
        ] {
            let error = expand_with_env(bad).unwrap_err();
            assert!(
                error.contains("is not a variable reference"),
                "{bad}: {error}"
            );
        }
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
        let failed = entries.iter().filter(|entry| entry.config.is_err()).count();
        assert_eq!(failed, 24);
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
    fn legacy_sse_is_unsupported_per_entry() {
        let entries = parse_ok(BAD);
        match entry_error(&entries, "legacy") {
            Error::Unsupported { server, what } => {
                assert_eq!(server, "legacy");
                assert_eq!(what, "the legacy SSE transport (use streamable HTTP)");
            }
            other => panic!("expected unsupported, got {other:?}"),
        }
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
    fn comments_trailing_commas_and_bom_are_accepted() {
        let text = "\u{feff}{\n  // VS Code style comment\n  \"servers\": {\n    /* block\n    \
                    comment */ \"a\": { \"command\": \"x//y\", \"args\": [\"/*\", \"1\",], },\n    \
                    \"b\": { \"command\": 1 }, // trailing\n  },\n}\n";
        let entries = parse_ok(text);
        let a = stdio(&entries, "a");
        assert_eq!(a.command, "x//y");
        assert_eq!(a.args, os(&["/*", "1"]));
        // Positions are unchanged by the blanking (the BOM is not a column).
        assert_config(
            entry_error(&entries, "b"),
            Some("b"),
            Some("command"),
            (6, 12),
            "found a number",
        );
        let error = parse_err("{\"servers\": {}}\n/* never closed");
        assert_config(&error, None, None, (2, 1), "invalid JSON");
    }

    #[test]
    fn json_syntax_errors_come_from_serde_json() {
        let error = parse_err(
            "{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\"}\n    \"b\": {}\n  }\n}",
        );
        assert_config(
            &error,
            None,
            None,
            (4, 5),
            "invalid JSON: expected `,` or `}`",
        );
        assert!(!error.to_string().contains("at line"), "{error}");
        // Columns in characters even after multi-byte text.
        let error = parse_err("{\"mcpServers\": {\"é\": {\"command\": \"ü\" x}}}");
        assert_config(&error, None, None, (1, 38), "invalid JSON");
        assert_config(&parse_err(""), None, None, (1, 1), "EOF");
        // Commas that are not trailing are still errors.
        assert_config(&parse_err("{,}"), None, None, (1, 2), "invalid JSON");
        assert_config(
            &parse_err("{\"servers\": {},,}"),
            None,
            None,
            (1, 16),
            "invalid JSON",
        );
    }

    #[test]
    fn an_error_at_a_newline_is_at_the_end_of_the_line_it_ends() {
        // serde_json stops after the newline, on "line 3 column 0".
        let error = parse_err("{\"servers\": {\n  \"a\": \"é\"\n");
        assert_config(&error, None, None, (2, 11), "EOF");
        assert_config(&parse_err("{\n"), None, None, (1, 2), "EOF");
        assert_config(&parse_err("\n\n"), None, None, (2, 1), "EOF");
        // EOF is reported at the last byte read.
        assert_config(&parse_err("\u{feff}{"), None, None, (1, 1), "EOF");
        assert_eq!(line_column("ab\ncd", 2), (1, 3));
        assert_eq!(line_column("ab\ncd", 3), (2, 1));
        assert_eq!(line_column("ab\ncd", 99), (2, 3));
        assert_eq!(line_column("é", 1), (1, 1));
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
    fn the_reader_bounds_its_own_nesting() {
        // serde_json refuses this nesting first; the reader must refuse it too, without
        // recursing past its bound, even on a small stack.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let objects = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
        let outcomes = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || [deep, objects].map(|text| Reader::new(&text).document().err()))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(
            outcomes,
            [
                Some((MAX_DEPTH, "arrays and objects nest too deeply")),
                Some((5 * MAX_DEPTH, "arrays and objects nest too deeply")),
            ]
        );
        let fine = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(Reader::new(&fine).document().is_ok());
    }

    #[test]
    fn deep_nesting_is_a_json_error_not_a_stack_overflow() {
        let text = format!(
            "{{\"mcpServers\": {{}}, \"deep\": {}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_config(&parse_err(&text), None, None, (1, 154), "recursion limit");
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

    /// A file whose server's command is `depth` nested defaults of an unset variable around
    /// `x`: `${UNSET:-${UNSET:-...x...}}`.
    fn nested_defaults(depth: usize) -> String {
        format!(
            r#"{{"mcpServers": {{"a": {{"command": "{}x{}"}}}}}}"#,
            "${UNSET:-".repeat(depth),
            "}".repeat(depth)
        )
    }

    /// Parses `text` on a new thread with a stack of `stack` bytes; a stack overflow would
    /// abort the test process.
    fn parse_on_stack(text: String, stack: usize) -> Vec<ServerEntry> {
        std::thread::Builder::new()
            .stack_size(stack)
            .spawn(move || parse_ok(&text))
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn deeply_nested_defaults_expand_on_a_small_stack() {
        let entries = parse_on_stack(nested_defaults(6_000), 2 << 20);
        assert_eq!(stdio(&entries, "a").command, "x");
        let entries = parse_on_stack(nested_defaults(25_000), 2 << 20);
        assert_eq!(stdio(&entries, "a").command, "x");
    }

    #[test]
    fn nested_defaults_expand_in_linear_time() {
        let text = nested_defaults(100_000);
        let started = std::time::Instant::now();
        let entries = parse_on_stack(text, 8 << 20);
        let elapsed = started.elapsed();
        assert_eq!(stdio(&entries, "a").command, "x");
        // Under a second in a debug build; the quadratic expansion this replaced took about
        // ten minutes, so the bound is generous for a loaded machine.
        assert!(elapsed.as_secs_f64() < 10.0, "took {elapsed:?}");
    }

    #[test]
    fn blanking_keeps_every_byte_in_place() {
        let text = "{\"a\": \"// not a comment\", /* é */ \"b\": [1,],}\r\n// end é";
        let blank = blank_jsonc(text);
        assert_eq!(blank.len(), text.len());
        assert_eq!(
            blank,
            "{\"a\": \"// not a comment\",          \"b\": [1 ] }\r\n         "
        );
    }
}
