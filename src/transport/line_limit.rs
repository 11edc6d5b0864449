//! A bound on the size of one message from a stdio server, enforced on its stdout stream.
//!
//! rmcp reads newline-delimited JSON. A line longer than rmcp's own limit is dropped with a log
//! line, and the request it answered then waits for its whole timeout. [`LineLimit`] sits
//! between the server's stdout and rmcp instead: lines up to the limit pass through untouched;
//! a longer line is cut off (the part already passed on is ended with a newline, which rmcp
//! ignores as unparsable), the rest is discarded as it arrives, and once the line ends an error
//! response for the same request id takes its place. The caller then gets
//! [`Error::MessageTooLarge`](crate::Error::MessageTooLarge) as soon as the line has been read.
//!
//! To find the id, every line is scanned as it streams through: only the nesting depth, string
//! boundaries and the top-level `id` and `method` keys are tracked, so memory stays bounded
//! whatever the server writes.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};

/// The error data key that marks an error response made by [`LineLimit`].
pub(crate) const OVERSIZED_KEY: &str = "mcp-dispatch/messageTooLarge";
/// The JSON-RPC error code of that response (in the range for implementation-defined errors).
const OVERSIZED_CODE: i32 = -32_099;
/// How much is read from the server at a time.
const READ_CHUNK: usize = 64 * 1024;
/// Longest request id kept while scanning; longer ids are not looked for.
const MAX_ID_BYTES: usize = 256;

/// Passes a server's stdout through, replacing each line longer than `limit` bytes by an error
/// response to the same request.
pub(crate) struct LineLimit<R> {
    inner: R,
    server: String,
    limit: usize,
    /// Bytes of the current line passed on so far.
    line: usize,
    /// While discarding the rest of an oversized line: its size so far.
    discarding: Option<usize>,
    scanner: Scanner,
    /// Filtered bytes not handed out yet, and how many of them have been.
    out: Vec<u8>,
    out_at: usize,
    /// Where reads from the server land before filtering.
    scratch: Box<[u8]>,
}

impl<R> LineLimit<R> {
    pub(crate) fn new(inner: R, server: &str, limit: usize) -> LineLimit<R> {
        LineLimit {
            inner,
            server: server.to_owned(),
            limit: limit.max(1),
            line: 0,
            discarding: None,
            scanner: Scanner::default(),
            out: Vec::new(),
            out_at: 0,
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
        }
    }

    /// Filters `data`, appending what is to be passed on to `self.out`, in order.
    fn filter(&mut self, data: &[u8]) {
        let mut at = 0;
        while at < data.len() {
            let newline = data[at..].iter().position(|&byte| byte == b'\n');
            let len = newline.unwrap_or(data.len() - at);
            let segment = &data[at..at + len];
            self.scanner.feed(segment);
            match &mut self.discarding {
                Some(total) => *total += len,
                None => {
                    let room = self.limit - self.line;
                    if len <= room {
                        self.out.extend_from_slice(segment);
                        self.line += len;
                    } else {
                        // Pass on what fits and end it there; the rest is dropped.
                        self.out.extend_from_slice(&segment[..room]);
                        self.out.push(b'\n');
                        self.discarding = Some(self.line + len);
                    }
                }
            }
            at += len;
            if newline.is_some() {
                at += 1;
                match self.discarding.take() {
                    Some(total) => self.oversized(total),
                    None => self.out.push(b'\n'),
                }
                self.line = 0;
                self.scanner = Scanner::default();
            }
        }
    }

    /// Queues the error response that replaces an oversized line of `size` bytes.
    fn oversized(&mut self, size: usize) {
        let scanner = std::mem::take(&mut self.scanner);
        let id = scanner
            .id()
            .filter(|_| !scanner.has_method)
            .and_then(|raw| serde_json::from_slice::<serde_json::Value>(raw).ok())
            .filter(|id| id.is_number() || id.is_string());
        let Some(id) = id else {
            log::warn!(
                "mcp-dispatch: server `{}`: dropped a {size}-byte message over the \
                 {}-byte limit (max_message_size)",
                self.server,
                self.limit
            );
            return;
        };
        log::warn!(
            "mcp-dispatch: server `{}`: the answer to request {id} is {size} bytes, over the \
             {}-byte limit (max_message_size)",
            self.server,
            self.limit
        );
        let response = serde_json::json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {
                "code": OVERSIZED_CODE,
                "message": format!(
                    "the answer is {size} bytes, over the client's {}-byte limit",
                    self.limit
                ),
                "data": { OVERSIZED_KEY: { "size": size, "limit": self.limit } },
            },
        });
        self.out.extend_from_slice(response.to_string().as_bytes());
        self.out.push(b'\n');
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for LineLimit<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.out_at < this.out.len() {
                let rest = &this.out[this.out_at..];
                let take = rest.len().min(buf.remaining());
                buf.put_slice(&rest[..take]);
                this.out_at += take;
                if this.out_at == this.out.len() {
                    this.out.clear();
                    this.out_at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            let read = {
                let mut into = ReadBuf::new(&mut this.scratch[..]);
                ready!(Pin::new(&mut this.inner).poll_read(cx, &mut into))?;
                into.filled().len()
            };
            if read == 0 {
                return Poll::Ready(Ok(()));
            }
            let scratch = std::mem::take(&mut this.scratch);
            this.filter(&scratch[..read]);
            this.scratch = scratch;
            // Everything read may have been discarded: then read on.
        }
    }
}

/// What the scanner knows about the top-level key it is in.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Key {
    #[default]
    Other,
    Id,
    Method,
}

/// Follows the structure of one JSON line just enough to find its top-level `id` and
/// whether it has a `method` (a request or notification from the server, not an answer).
#[derive(Default)]
struct Scanner {
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// At depth 1, the next string is a key.
    expect_key: bool,
    /// Reading a key at depth 1: its first bytes.
    key: Option<Vec<u8>>,
    /// The key whose value comes next (or is being read).
    current: Key,
    /// Reading the `id` value: its bytes so far.
    id: Option<Vec<u8>>,
    /// The `id` value, once read whole.
    id_done: Option<Vec<u8>>,
    has_method: bool,
    /// The line is not a JSON object, or too odd to follow.
    gave_up: bool,
}

impl Scanner {
    fn id(&self) -> Option<&[u8]> {
        self.id_done.as_deref()
    }

    fn feed(&mut self, bytes: &[u8]) {
        let mut at = 0;
        while at < bytes.len() && !self.gave_up {
            if self.in_string && self.key.is_none() && self.id.is_none() && !self.escaped {
                // Inside a string nobody needs: skip to its next quote or backslash.
                match bytes[at..]
                    .iter()
                    .position(|&byte| byte == b'"' || byte == b'\\')
                {
                    Some(skip) => at += skip,
                    None => return,
                }
            }
            self.byte(bytes[at]);
            at += 1;
        }
    }

    fn byte(&mut self, byte: u8) {
        if self.in_string {
            if let Some(key) = &mut self.key
                && key.len() <= 8
                && (byte != b'"' || self.escaped)
            {
                key.push(byte);
            }
            if let Some(id) = &mut self.id {
                id.push(byte);
            }
            if self.escaped {
                self.escaped = false;
            } else if byte == b'\\' {
                self.escaped = true;
            } else if byte == b'"' {
                self.in_string = false;
                if let Some(key) = self.key.take() {
                    self.current = match key.as_slice() {
                        b"id" => Key::Id,
                        b"method" => Key::Method,
                        _ => Key::Other,
                    };
                } else if self.id.is_some() {
                    self.finish_id();
                }
            }
            if self.id.as_ref().is_some_and(|id| id.len() > MAX_ID_BYTES) {
                self.id = None;
            }
            return;
        }
        // An unquoted id (a number) ends at the first byte that cannot be part of it.
        if let Some(id) = &mut self.id {
            if byte.is_ascii_digit() || matches!(byte, b'-' | b'+' | b'.' | b'e' | b'E') {
                id.push(byte);
                if id.len() > MAX_ID_BYTES {
                    self.id = None;
                }
                return;
            }
            self.finish_id();
        }
        match byte {
            b'"' => {
                self.in_string = true;
                if self.depth == 1 && self.expect_key {
                    self.expect_key = false;
                    self.key = Some(Vec::new());
                } else if self.depth == 1 && self.current == Key::Id && self.id_done.is_none() {
                    self.id = Some(vec![b'"']);
                }
            }
            b'{' | b'[' => {
                if self.depth == 0 && byte == b'[' {
                    self.gave_up = true;
                }
                self.depth += 1;
                if self.depth == 1 {
                    self.expect_key = true;
                }
            }
            b'}' | b']' => self.depth = self.depth.saturating_sub(1),
            b',' if self.depth == 1 => {
                self.expect_key = true;
                self.current = Key::Other;
            }
            b':' if self.depth == 1 && self.current == Key::Method => self.has_method = true,
            b'-' | b'0'..=b'9'
                if self.depth == 1 && self.current == Key::Id && self.id_done.is_none() =>
            {
                self.id = Some(vec![byte]);
            }
            _ => {}
        }
    }

    fn finish_id(&mut self) {
        if let Some(id) = self.id.take() {
            self.id_done = Some(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filtered(limit: usize, input: &[u8], chunk: usize) -> Vec<u8> {
        let mut filter = LineLimit::new(tokio::io::empty(), "test", limit);
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            filter.filter(piece);
            out.append(&mut filter.out);
        }
        out
    }

    fn lines(output: &[u8]) -> Vec<String> {
        String::from_utf8_lossy(output)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn lines_within_the_limit_pass_unchanged_whatever_the_chunking() {
        let input = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n{\"id\":2}\n\n";
        for chunk in [1, 2, 7, 64] {
            assert_eq!(filtered(64, input, chunk), input.to_vec(), "chunk {chunk}");
        }
    }

    #[test]
    fn an_oversized_answer_becomes_an_error_for_its_id_wherever_the_id_is() {
        let big = "x".repeat(1000);
        for (line, id) in [
            (
                format!(r#"{{"jsonrpc":"2.0","id":7,"result":{{"t":"{big}"}}}}"#),
                "7",
            ),
            (
                format!(r#"{{"result":{{"t":"{big}","id":3}},"jsonrpc":"2.0","id":42}}"#),
                "42",
            ),
            (
                format!(r#"{{"id" : "req-\"9\"", "result":["{big}"]}}"#),
                r#""req-\"9\"""#,
            ),
        ] {
            for chunk in [1, 13, 4096] {
                let input = format!("{line}\n{{\"id\":8}}\n");
                let out = lines(&filtered(100, input.as_bytes(), chunk));
                // The cut-off head, the replacement, then the next line untouched.
                assert_eq!(out.len(), 3, "{out:?}");
                assert_eq!(out[0].len(), 100);
                let error: serde_json::Value = serde_json::from_str(&out[1]).unwrap();
                assert_eq!(error["id"].to_string(), id);
                let data = &error["error"]["data"][OVERSIZED_KEY];
                assert_eq!(data["size"], line.len());
                assert_eq!(data["limit"], 100);
                assert_eq!(out[2], r#"{"id":8}"#);
            }
        }
    }

    #[test]
    fn an_oversized_request_from_the_server_is_dropped_without_an_answer() {
        let big = "y".repeat(500);
        let input = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"sampling/createMessage\",\"params\":\"{big}\"}}\n"
        );
        let out = lines(&filtered(100, input.as_bytes(), 50));
        assert_eq!(out.len(), 1, "only the cut-off head: {out:?}");
    }
}
