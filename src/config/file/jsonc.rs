//! JSONC read into values that keep their byte offsets, and offsets as lines and columns.
//!
//! serde_json judges the syntax, so a syntax error is where serde_json stopped reading. A
//! JSONC crate such as jsonc-parser would replace the blanking and the reader, but not keep
//! those positions: it reports the start of the unexpected token (a missing comma on the line
//! before rather than at the next key, an unclosed object at its `{`), accepts an empty file
//! and control characters inside strings, and bounds nesting at 512 levels (256 for objects)
//! rather than 128.

use super::position::Positions;
use crate::error::Error;

/// Reads a config file's text into its value.
///
/// Comments, trailing commas and a byte-order mark are blanked first. serde_json then judges
/// the syntax and bounds the nesting depth, and the reader keeps what its `Value` loses:
/// order, duplicates and positions. The reader bounds its recursion itself too, so that it is
/// safe whatever serde_json accepts.
pub(super) fn read(positions: &Positions<'_>) -> Result<Node, Error> {
    let clean = blank_jsonc(positions.text());
    if let Err(error) = serde_json::from_str::<serde_json::Value>(&clean) {
        return Err(json_error(positions, &error));
    }
    Reader::new(&clean)
        .document()
        .map_err(|(at, message)| positions.error_at(at, None, None, message))
}

/// Turns serde_json's syntax error into [`Error::Config`], with the column counted in
/// characters rather than bytes.
fn json_error(positions: &Positions<'_>, error: &serde_json::Error) -> Error {
    let text = positions.text();
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
    positions.error_at(at, None, None, format!("invalid JSON: {message}"))
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
pub(super) struct Node {
    pub(super) at: usize,
    pub(super) kind: Kind,
}

/// What a [`Node`] holds. Objects keep their members in order, duplicates included.
pub(super) enum Kind {
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
    pub(super) fn describe(&self) -> &'static str {
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
pub(super) struct Member {
    pub(super) key: String,
    pub(super) at: usize,
    pub(super) value: Node,
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

    /// Reads the items of the array or object that opens at the current position, up to the
    /// `close` byte, each with `item`; `None` if the syntax is wrong or it nests too deeply.
    fn sequence(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        if !self.eat(close) {
            loop {
                item(self)?;
                if self.eat(close) {
                    break;
                }
                if !self.eat(b',') {
                    return None;
                }
            }
        }
        self.depth -= 1;
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
                let mut members = Vec::new();
                self.sequence(b'}', |reader| {
                    reader.skip_whitespace();
                    let key_at = reader.at;
                    let key = reader.string()?;
                    if !reader.eat(b':') {
                        return None;
                    }
                    let value = reader.value()?;
                    members.push(Member {
                        key,
                        at: key_at,
                        value,
                    });
                    Some(())
                })?;
                Kind::Object(members)
            }
            b'[' => {
                let mut items = Vec::new();
                self.sequence(b']', |reader| {
                    items.push(reader.value()?);
                    Some(())
                })?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::test_support::*;

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
