//! Byte offsets of a config file's text as 1-based lines and columns, for error messages.
//!
//! A file with many wrong entries has many errors, each located. Counting lines and
//! characters from the start of the text for each of them took time quadratic in the file
//! (a minute for 5 MB of wrong entries), so the first lookup marks where every few
//! kilobytes fall, and each lookup counts only from the mark before its offset.

use std::cell::OnceCell;

use crate::error::Error;

/// About how many bytes lie between two marks: the most a lookup counts. Small, as a debug
/// build counts slowly, but large enough that the marks take a twentieth of the text.
const MARK_EVERY: usize = 512;

/// A config file's text, with what turns its byte offsets into lines and columns.
pub(super) struct Positions<'a> {
    text: &'a str,
    /// Where lines and columns stand about every [`MARK_EVERY`] bytes, first at byte 0;
    /// made at the first lookup.
    marks: OnceCell<Vec<Mark>>,
}

/// The 0-based line and column (in characters, not counting a byte-order mark) at byte `at`.
#[derive(Clone, Copy)]
struct Mark {
    at: usize,
    line: usize,
    column: usize,
}

impl<'a> Positions<'a> {
    pub(super) fn new(text: &'a str) -> Positions<'a> {
        Positions {
            text,
            marks: OnceCell::new(),
        }
    }

    /// The text.
    pub(super) fn text(&self) -> &'a str {
        self.text
    }

    /// The 1-based line and character column of byte `at` (past the end: of the end; inside
    /// a character: of that character). A newline belongs to the line it ends, at the column
    /// just past that line's last character; a leading byte-order mark is not a column.
    pub(super) fn line_column(&self, at: usize) -> (usize, usize) {
        let mut at = at.min(self.text.len());
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        let marks = self.marks.get_or_init(|| marks(self.text));
        // The first mark is at byte 0, so one is at or before `at`.
        let before = marks[marks.partition_point(|mark| mark.at <= at) - 1];
        let here = advance(self.text, before, at);
        (here.line + 1, here.column + 1)
    }

    /// `line L column C` of byte `at`, for messages.
    pub(super) fn place(&self, at: usize) -> String {
        let (line, column) = self.line_column(at);
        format!("line {line} column {column}")
    }

    /// An [`Error::Config`] located at byte `at`.
    pub(super) fn error_at(
        &self,
        at: usize,
        server: Option<&str>,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> Error {
        let (line, column) = self.line_column(at);
        Error::Config {
            server: server.map(str::to_owned),
            field: field.map(str::to_owned),
            line: Some(line),
            column: Some(column),
            message: message.into(),
            path: None,
            source: None,
        }
    }
}

/// The marks of `text`: one at byte 0, then one at each character boundary at or after a
/// multiple of [`MARK_EVERY`] bytes past the one before.
fn marks(text: &str) -> Vec<Mark> {
    let mut marks = vec![Mark {
        at: 0,
        line: 0,
        column: 0,
    }];
    let mut last = marks[0];
    loop {
        let mut next = last.at + MARK_EVERY;
        if next >= text.len() {
            return marks;
        }
        while !text.is_char_boundary(next) {
            next += 1;
        }
        last = advance(text, last, next);
        marks.push(last);
    }
}

/// Where lines and columns stand at byte `to` of `text` (a character boundary, at or after
/// `from`), counting from `from`.
fn advance(text: &str, from: Mark, to: usize) -> Mark {
    let Mark {
        mut line,
        mut column,
        ..
    } = from;
    for (offset, c) in text[from.at..to].char_indices() {
        if c == '\n' {
            line += 1;
            column = 0;
        } else if !(c == '\u{feff}' && from.at + offset == 0) {
            column += 1;
        }
    }
    Mark {
        at: to,
        line,
        column,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines and columns counted from the start of `text`, as they were before the marks.
    fn counted(text: &str, at: usize) -> (usize, usize) {
        let mut at = at.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let before = &text[..at];
        let line = before.matches('\n').count() + 1;
        let start = before.rfind('\n').map_or(0, |i| i + 1);
        let part = &text[start..at];
        let part = if start == 0 {
            part.strip_prefix('\u{feff}').unwrap_or(part)
        } else {
            part
        };
        (line, part.chars().count() + 1)
    }

    #[test]
    fn lines_and_columns_count_characters_and_end_lines_at_their_newline() {
        let positions = Positions::new("ab\ncd");
        assert_eq!(positions.line_column(2), (1, 3));
        assert_eq!(positions.line_column(3), (2, 1));
        assert_eq!(positions.line_column(99), (2, 3));
        assert_eq!(Positions::new("é").line_column(1), (1, 1));
        assert_eq!(Positions::new("\u{feff}{").line_column(3), (1, 1));
        assert_eq!(Positions::new("\u{feff}{").line_column(1), (1, 1));
        assert_eq!(Positions::new("").line_column(0), (1, 1));
        assert_eq!(Positions::new("a\n").place(1), "line 1 column 2");
    }

    #[test]
    fn every_offset_is_where_counting_from_the_start_puts_it() {
        // Marks fall inside multi-byte characters and long lines, and on newlines.
        let mut text = String::from("\u{feff}");
        for i in 0..3_000 {
            text.push_str(["é", "a", "\n", "日本", "\r\n", "𝄞", "{\"k\": 1}"][i % 7]);
            if i % 500 == 0 {
                text.push_str(&"x".repeat(MARK_EVERY));
            }
        }
        assert!(text.len() > 6 * MARK_EVERY);
        let positions = Positions::new(&text);
        // Every offset near a mark, and every fifth elsewhere (counting from the start for
        // each offset takes time quadratic in the text).
        let near_a_mark = |at: usize| (at + 16) % MARK_EVERY < 32;
        for at in (0..=text.len() + 1).filter(|&at| at % 5 == 0 || near_a_mark(at)) {
            assert_eq!(positions.line_column(at), counted(&text, at), "byte {at}");
        }
    }
}
