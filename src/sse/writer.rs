//! Encodes SSE frames: one event or comment per call, appended to a buffer so
//! the caller can hand the whole frame to one `write`.
//!
//! Data containing CR or LF is split into several `data:` lines at every line
//! break (the format has no escape for one; WHATWG HTML §9.2.6 joins `data:`
//! lines with LF), so the receiver's parser rebuilds it exactly.
//! Compact JSON never contains raw line breaks, so a JSON-RPC message is
//! always one `data:` line. Lines end with LF.

/// Appends `event: <event>` (if given) and the `data:` lines of `data`, then
/// the blank line that dispatches the event.
pub fn encode_event(event: Option<&str>, data: &str, out: &mut Vec<u8>) {
    if let Some(event) = event {
        debug_assert!(
            !event.contains(['\r', '\n', '\0']),
            "event names are single-line"
        );
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(event.as_bytes());
        out.push(b'\n');
    }
    for line in split_lines(data) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// An event's frame in three parts for one vectored write, so `data` is
/// not copied: the field lines up to `data: ` (built in `head`), `data`,
/// and the end of the event. `None` when `data` has line breaks (it needs
/// several `data:` lines: use [`encode_event`]).
pub fn event_parts<'a>(
    id: Option<&str>,
    event: Option<&str>,
    data: &'a str,
    head: &'a mut Vec<u8>,
) -> Option<[&'a [u8]; 3]> {
    if data.contains(['\r', '\n']) {
        return None;
    }
    head.clear();
    if let Some(id) = id {
        encode_id(id, head);
    }
    if let Some(event) = event {
        head.extend_from_slice(b"event: ");
        head.extend_from_slice(event.as_bytes());
        head.push(b'\n');
    }
    head.extend_from_slice(b"data: ");
    let head: &'a Vec<u8> = head;
    Some([head, data.as_bytes(), b"\n\n"])
}

/// Appends an `id:` line, to go before an event's other fields.
pub fn encode_id(id: &str, out: &mut Vec<u8>) {
    debug_assert!(!id.contains(['\r', '\n', '\0']), "ids are single-line");
    out.extend_from_slice(b"id: ");
    out.extend_from_slice(id.as_bytes());
    out.push(b'\n');
}

/// Appends a comment frame (`: <text>` and a blank line); receivers ignore
/// it, proxies see traffic. Line breaks in `text` are replaced by spaces.
pub fn encode_comment(text: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b": ");
    out.extend(
        text.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\n\n");
}

/// Splits at CRLF, CR or LF, like the SSE parser does. An empty string is one empty line.
fn split_lines(data: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let s = rest?;
        match s.find(['\r', '\n']) {
            None => {
                rest = None;
                Some(s)
            }
            Some(i) => {
                let skip = if s[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&s[i + skip..]);
                Some(&s[..i])
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event: Option<&str>, data: &str) -> String {
        let mut out = Vec::new();
        encode_event(event, data, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn endpoint_event() {
        assert_eq!(
            event(Some("endpoint"), "/messages/?session_id=ab"),
            "event: endpoint\ndata: /messages/?session_id=ab\n\n"
        );
    }

    #[test]
    fn json_message_is_one_data_line() {
        let json = serde_json::json!({"text": "a\nb\r\nc"}).to_string();
        let frame = event(Some("message"), &json);
        assert_eq!(frame.matches("data: ").count(), 1);
        assert!(frame.ends_with("}\n\n"));
    }

    #[test]
    fn multi_line_data() {
        assert_eq!(
            event(None, "a\nb\r\nc\rd"),
            "data: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        assert_eq!(event(None, ""), "data: \n\n");
        assert_eq!(event(None, "a\n"), "data: a\ndata: \n\n");
    }

    #[test]
    fn comment() {
        let mut out = Vec::new();
        encode_comment("ping\nx", &mut out);
        assert_eq!(out, b": ping x\n\n");
    }

    #[test]
    fn event_parts_frame_what_encode_event_frames() {
        let mut head = Vec::new();
        let parts = event_parts(Some("7"), Some("message"), r#"{"a":1}"#, &mut head).unwrap();
        let mut expected = Vec::new();
        encode_id("7", &mut expected);
        encode_event(Some("message"), r#"{"a":1}"#, &mut expected);
        assert_eq!(parts.concat(), expected);
        assert!(event_parts(None, None, "two\nlines", &mut head).is_none());
    }
}
