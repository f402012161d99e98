//! What the backend transports make of a message they cannot read: why it
//! is unreadable ([`Fault`]) and which of our requests it answers, so that
//! call fails at once instead of waiting for its timeout.
//!
//! A stdio line, an SSE event's data or a JSON body that `serde_json`
//! refuses goes through [`parse`] (a complete message) or [`too_long`] (the
//! start of one over the size limit). The id is found without parsing the
//! whole message: [`scan`] walks the outermost object of the text, iterative
//! and in constant memory, for its `id` and `method` members; nested values
//! and strings are skipped, so an `"id"` inside them never counts. The text
//! it is given is bounded by the caller: a whole message under the limit,
//! or [`HEAD_BYTES`] of one over it. Invalid UTF-8 is scanned after a lossy
//! decode. Nothing here does IO or knows about pending requests: the
//! connection matches the id ([`super::Connection::unreadable`]).

use std::fmt;

use serde_json::{Value, json};

use crate::jsonrpc::{ErrorObject, RequestId, code};

/// Bytes kept of a message over the size limit, to find its id in. An id
/// comes first or after `jsonrpc` in every server we know; one serialized
/// after a large result is not found, and that call waits for its timeout.
pub const HEAD_BYTES: usize = 64 * 1024;

/// Bytes of an unreadable message shown in the log.
const PREVIEW_BYTES: usize = 200;

/// Why a message from a backend could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The bytes are not UTF-8 (JSON text must be).
    InvalidUtf8,
    /// Over the message size limit; the length when known.
    TooLong {
        /// Bytes of the message, when the transport counted them.
        len: Option<usize>,
        /// The limit, in bytes.
        limit: usize,
    },
    /// Arrays and objects nested deeper than `serde_json` parses (128).
    TooDeep,
    /// Not JSON at all; the parser's complaint.
    NotJson(String),
}

impl Fault {
    /// The fault as a metrics label value.
    pub fn label(&self) -> &'static str {
        match self {
            Fault::InvalidUtf8 => "invalid_utf8",
            Fault::TooLong { .. } => "too_long",
            Fault::TooDeep => "too_deep",
            Fault::NotJson(_) => "not_json",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::InvalidUtf8 => f.write_str("invalid UTF-8"),
            Fault::TooLong {
                len: Some(len),
                limit,
            } => write!(
                f,
                "a message of {len} bytes exceeds the {limit}-byte message limit"
            ),
            Fault::TooLong { len: None, limit } => {
                write!(f, "a message exceeds the {limit}-byte message limit")
            }
            Fault::TooDeep => f.write_str("JSON nested deeper than the parser allows"),
            Fault::NotJson(e) => write!(f, "not JSON: {e}"),
        }
    }
}

/// A message that could not be read, and what could be learnt of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreadable {
    /// What is wrong with it.
    pub fault: Fault,
    /// The `id` member of its outermost object, when one was found.
    pub id: Option<RequestId>,
    /// It has a `method` member: a request or a notification, no answer.
    pub request: bool,
    /// Its start, lossily decoded, for the log.
    pub preview: String,
}

impl Unreadable {
    fn new(fault: Fault, text: &[u8]) -> Unreadable {
        let found = scan(text);
        let end = text.len().min(PREVIEW_BYTES);
        Unreadable {
            fault,
            id: found.id,
            request: found.method,
            preview: String::from_utf8_lossy(&text[..end]).into_owned(),
        }
    }

    /// The error the call it answers gets: -32603 naming the backend and
    /// the fault, which `data` repeats for programs.
    pub fn error(&self, backend: &str) -> ErrorObject {
        ErrorObject {
            code: code::INTERNAL_ERROR,
            message: format!(
                "backend \"{backend}\" sent an unreadable answer: {}",
                self.fault
            ),
            data: Some(json!({"backend": backend, "fault": self.fault.label()})),
        }
    }
}

/// Parses one complete message; when `serde_json` refuses it, says why and
/// looks for its id.
pub fn parse(bytes: &[u8]) -> Result<Value, Unreadable> {
    let error = match serde_json::from_slice(bytes) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    if std::str::from_utf8(bytes).is_err() {
        return Err(invalid_utf8(&String::from_utf8_lossy(bytes)));
    }
    // serde_json names no error code for its depth limit; its message is
    // the only sign (a unit test below pins it).
    let fault = if error.to_string().starts_with("recursion limit exceeded") {
        Fault::TooDeep
    } else {
        Fault::NotJson(error.to_string())
    };
    Err(Unreadable::new(fault, bytes))
}

/// The JSON-RPC of an SSE `message` event: `None` for an empty one (a
/// priming event), else the value or why it cannot be read. Data the
/// parser had to alter (invalid UTF-8) is refused, as on stdio.
pub fn event_message(event: &crate::sse::Event) -> Option<Result<Value, Unreadable>> {
    let data = event.data.trim();
    if data.is_empty() {
        return None;
    }
    if event.invalid_utf8 {
        return Some(Err(invalid_utf8(data)));
    }
    Some(parse(data.as_bytes()))
}

/// A message that was not UTF-8, as decoded with U+FFFD for the bad bytes
/// (by the caller, or by the SSE parser).
pub fn invalid_utf8(lossy: &str) -> Unreadable {
    Unreadable::new(Fault::InvalidUtf8, lossy.as_bytes())
}

/// A message over `limit` bytes (`len` of them, when counted), of which
/// `head` is the start (at most [`HEAD_BYTES`] are looked at).
pub fn too_long(head: &[u8], len: Option<usize>, limit: usize) -> Unreadable {
    let head = &head[..head.len().min(HEAD_BYTES)];
    Unreadable::new(Fault::TooLong { len, limit }, head)
}

/// The members [`scan`] looks for in a message's outermost object.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Members {
    /// The `id`, if it is a string (without escapes) or an integer.
    pub id: Option<RequestId>,
    /// Whether a `method` member was seen.
    pub method: bool,
}

/// Finds the `id` and `method` members of the outermost JSON object in
/// `text`, which may be cut short or broken anywhere: what was seen before
/// the text ends or stops making sense is returned. Linear in `text`,
/// without recursion, so nesting of any depth costs nothing.
pub fn scan(text: &[u8]) -> Members {
    let mut found = Members::default();
    let mut s = Scanner { text, pos: 0 };
    s.skip_ws();
    if s.peek() != Some(b'{') {
        return found;
    }
    s.pos += 1;
    loop {
        s.skip_ws();
        if s.peek() != Some(b'"') {
            return found; // `}`, the end, or garbage
        }
        let Some(key) = s.string() else {
            return found;
        };
        s.skip_ws();
        if s.peek() != Some(b':') {
            return found;
        }
        s.pos += 1;
        s.skip_ws();
        match key {
            b"id" if found.id.is_none() => {
                let start = s.pos;
                if !s.skip_value() {
                    return found;
                }
                found.id = id_of(&text[start..s.pos]);
            }
            b"method" => {
                found.method = true;
                return found;
            }
            _ => {
                if !s.skip_value() {
                    return found;
                }
            }
        }
        s.skip_ws();
        if s.peek() != Some(b',') {
            return found;
        }
        s.pos += 1;
    }
}

/// An id from its JSON text: an integer, or a string without escapes (ours
/// are integers; lenient peers quote them).
fn id_of(raw: &[u8]) -> Option<RequestId> {
    let text = std::str::from_utf8(raw).ok()?;
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        return (!inner.contains('\\')).then(|| RequestId::String(inner.to_owned()));
    }
    text.parse().ok().map(RequestId::Number)
}

/// A cursor over the text for [`scan`].
struct Scanner<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Reads a string at the cursor (on its `"`); returns its raw content.
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.pos + 1;
        let mut i = start;
        while let Some(&b) = self.text.get(i) {
            match b {
                b'"' => {
                    self.pos = i + 1;
                    return Some(&self.text[start..i]);
                }
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
        None
    }

    /// Moves past the value at the cursor; `false` if the text ends first.
    fn skip_value(&mut self) -> bool {
        match self.peek() {
            Some(b'"') => self.string().is_some(),
            Some(b'{' | b'[') => {
                // Brackets are counted, not matched: a mismatch is broken
                // JSON, which only has to end the scan, not be diagnosed.
                let mut depth = 0usize;
                while let Some(b) = self.peek() {
                    match b {
                        b'"' => {
                            if self.string().is_none() {
                                return false;
                            }
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += 1;
                                return true;
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
                false
            }
            Some(_) => {
                let start = self.pos;
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.pos += 1;
                }
                // A scalar cut by the end of the text may be incomplete.
                self.pos > start && self.pos < self.text.len()
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> Option<RequestId> {
        scan(text.as_bytes()).id
    }

    #[test]
    fn only_the_outermost_id_counts() {
        assert_eq!(
            id(r#"{"jsonrpc":"2.0","id":7,"result":{}}"#),
            Some(RequestId::Number(7))
        );
        assert_eq!(
            id(r#" { "id" : "12" } "#),
            Some(RequestId::String("12".into()))
        );
        // Nested ids, and "id" as a string value or inside strings, do not count.
        assert_eq!(
            id(r#"{"result":{"id":1},"x":[{"id":2}],"id":3}"#),
            Some(RequestId::Number(3))
        );
        assert_eq!(id(r#"{"result":{"id":1}}"#), None);
        assert_eq!(id(r#"{"a":"id","b":"\"id\":4","c":"x\\"}"#), None);
        assert_eq!(id(r#"{"a":"\"id\":4","id":5}"#), Some(RequestId::Number(5)));
        assert_eq!(id(r#"[{"id":1}]"#), None);
        assert_eq!(id(r#"{"id":null,"error":{}}"#), None);
        assert_eq!(id(r#"{"id":1.5}"#), None);
        assert_eq!(id(r#"{"id":"a\"b"}"#), None);
        assert_eq!(id("not json"), None);
        assert_eq!(id(""), None);
    }

    #[test]
    fn a_cut_or_broken_text_gives_what_came_before() {
        assert_eq!(
            id(r#"{"jsonrpc":"2.0","id":42,"result":{"text":"xxxx"#),
            Some(RequestId::Number(42))
        );
        // A number cut by the end may be incomplete.
        assert_eq!(id(r#"{"id":42"#), None);
        assert_eq!(id(r#"{"id":"4"#), None);
        assert_eq!(id(r#"{"result":{"text":"xxxx"#), None);
        assert_eq!(id(r#"{"id":9 garbage"#), Some(RequestId::Number(9)));
        assert_eq!(id(r#"{"id":9,"x":NaN,"y":"#), Some(RequestId::Number(9)));
    }

    #[test]
    fn requests_and_notifications_are_told_apart() {
        let request = scan(br#"{"id":1,"method":"roots/list","params":{}}"#);
        assert_eq!(
            (request.id, request.method),
            (Some(RequestId::Number(1)), true)
        );
        assert!(!scan(br#"{"id":1,"result":{"method":"x"}}"#).method);
    }

    #[test]
    fn any_depth_is_scanned_without_recursion() {
        let deep = format!(
            r#"{{"result":{}{},"id":8}}"#,
            "[".repeat(1_000_000),
            "]".repeat(1_000_000)
        );
        assert_eq!(id(&deep), Some(RequestId::Number(8)));
    }

    #[test]
    fn parse_names_each_fault_and_finds_the_id() {
        assert_eq!(parse(br#"{"id":1}"#).unwrap(), json!({"id": 1}));
        let bad = parse(b"{\"id\":3,\"result\":{\"text\":\"caf\xe9\"}}").unwrap_err();
        assert_eq!(
            (bad.fault, bad.id),
            (Fault::InvalidUtf8, Some(RequestId::Number(3)))
        );
        // serde_json's depth limit is 128; its message must still say so.
        let deep = format!(
            r#"{{"id":4,"result":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let bad = parse(deep.as_bytes()).unwrap_err();
        assert_eq!(
            (bad.fault, bad.id),
            (Fault::TooDeep, Some(RequestId::Number(4)))
        );
        let fine = format!(
            r#"{{"id":4,"result":{}{}}}"#,
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(parse(fine.as_bytes()).is_ok());
        let bad = parse(br#"{"id":5,"result":NaN}"#).unwrap_err();
        assert!(matches!(bad.fault, Fault::NotJson(_)), "{bad:?}");
        assert_eq!(bad.id, Some(RequestId::Number(5)));
        let bad = parse(b"Server started on stdio").unwrap_err();
        assert_eq!(
            (bad.id, bad.preview.as_str()),
            (None, "Server started on stdio")
        );
    }

    #[test]
    fn sse_events_are_refused_when_altered() {
        let event = |data: &str, invalid_utf8| crate::sse::Event {
            event: "message".into(),
            data: data.into(),
            id: String::new(),
            invalid_utf8,
        };
        assert_eq!(event_message(&event(" \n", false)), None);
        assert_eq!(
            event_message(&event(r#"{"id":1}"#, false)),
            Some(Ok(json!({"id": 1})))
        );
        let bad = event_message(&event("{\"id\":2,\"x\":\"\u{fffd}\"}", true));
        let bad = bad.unwrap().unwrap_err();
        assert_eq!(
            (bad.fault, bad.id),
            (Fault::InvalidUtf8, Some(RequestId::Number(2)))
        );
    }

    #[test]
    fn too_long_looks_only_at_the_head() {
        let bad = too_long(br#"{"jsonrpc":"2.0","id":6,"result":"xx"#, Some(99), 10);
        assert_eq!(bad.id, Some(RequestId::Number(6)));
        assert_eq!(
            bad.fault.to_string(),
            "a message of 99 bytes exceeds the 10-byte message limit"
        );
        let mut late = b"{\"result\":\"".to_vec();
        late.extend(std::iter::repeat_n(b'x', HEAD_BYTES));
        late.extend(b"\",\"id\":1}");
        assert_eq!(too_long(&late, None, 10).id, None);
    }

    #[test]
    fn the_error_names_the_backend_and_the_fault() {
        let e = invalid_utf8("{\"id\":1}").error("files");
        assert_eq!(e.code, code::INTERNAL_ERROR);
        assert_eq!(
            e.message,
            "backend \"files\" sent an unreadable answer: invalid UTF-8"
        );
        assert_eq!(
            e.data,
            Some(json!({"backend": "files", "fault": "invalid_utf8"}))
        );
    }
}
