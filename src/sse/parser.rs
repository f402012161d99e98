//! The client-side SSE parser: the WHATWG event-stream algorithm (HTML Living
//! Standard §9.2.5 "Parsing an event stream" and §9.2.6 "Interpreting an event
//! stream") as a pure push-style state machine. Fed byte chunks of any size,
//! split anywhere; emits complete events.
//!
//! One BOM is stripped at stream start only; lines end at CRLF, LF or CR (a
//! CR at the end of a chunk is remembered so a following LF is not a second
//! line end); comments are ignored; a field value loses exactly one leading
//! space; `data` lines join with LF; `event` defaults to `message`; `id`
//! containing NUL is ignored and otherwise persists across events; `retry`
//! takes digits only; a blank line dispatches, and an event with an empty
//! data buffer is not dispatched. An unterminated event at EOF is dropped
//! simply by never being completed. Invalid UTF-8 becomes U+FFFD per line,
//! which is exact because line terminators are ASCII; an event whose data
//! had any says so (`Event::invalid_utf8`), for a reader that must not take
//! altered data. One event (data buffer plus the line being read) is capped;
//! past the cap the parser returns [`EventTooLarge`] and stays failed,
//! keeping the start of that event's data ([`Parser::oversized_head`]) so
//! the reader can tell what it was.

use std::fmt;

use super::Event;

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Bytes kept of the data of an event over the limit.
const OVERSIZED_HEAD_BYTES: usize = 64 * 1024;

/// An event exceeded the parser's size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTooLarge(pub usize);

impl fmt::Display for EventTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SSE event larger than {} bytes", self.0)
    }
}

impl std::error::Error for EventTooLarge {}

/// An incremental SSE parser.
#[derive(Debug)]
pub struct Parser {
    max_event: usize,
    /// Bytes seen at the very start while deciding about the BOM.
    start: Option<Vec<u8>>,
    /// The previous chunk ended in CR: skip one LF at the next start.
    after_cr: bool,
    line: Vec<u8>,
    data: String,
    event_type: String,
    last_id_buffer: String,
    last_id: String,
    retry: Option<u64>,
    failed: bool,
    /// A data line of the event being read was not UTF-8.
    invalid_utf8: bool,
    /// The start of the data of the event that was over the limit.
    oversized_head: Vec<u8>,
}

impl Parser {
    /// A parser that refuses events larger than `max_event` bytes.
    pub fn new(max_event: usize) -> Parser {
        Parser {
            max_event,
            start: Some(Vec::new()),
            after_cr: false,
            line: Vec::new(),
            data: String::new(),
            event_type: String::new(),
            last_id_buffer: String::new(),
            last_id: String::new(),
            retry: None,
            failed: false,
            invalid_utf8: false,
            oversized_head: Vec::new(),
        }
    }

    /// Prepares for the next connection of the same stream (a resumption):
    /// what was half read is dropped; the last event ID and `retry` stay,
    /// as the WHATWG algorithm keeps them across reconnections.
    pub fn restart(&mut self) {
        self.start = Some(Vec::new());
        self.after_cr = false;
        self.line.clear();
        self.data.clear();
        self.event_type.clear();
        self.last_id_buffer = self.last_id.clone();
        self.failed = false;
        self.invalid_utf8 = false;
        self.oversized_head = Vec::new();
    }

    /// After [`EventTooLarge`]: the start of that event's data (at most
    /// 64 KiB; the data lines read so far, then the one being read). Empty
    /// otherwise.
    pub fn oversized_head(&self) -> &[u8] {
        &self.oversized_head
    }

    /// The reconnection time the stream asked for (`retry:`), in ms.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// The last event ID string (for `Last-Event-ID`).
    pub fn last_event_id(&self) -> &str {
        &self.last_id
    }

    /// Feeds a chunk; complete events are appended to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), EventTooLarge> {
        if self.failed {
            return Err(EventTooLarge(self.max_event));
        }
        if let Some(mut start) = self.start.take() {
            start.extend_from_slice(chunk);
            if start.len() < BOM.len() && BOM.starts_with(&start) {
                self.start = Some(start); // could still be a BOM
                return Ok(());
            }
            let body = start.strip_prefix(BOM).unwrap_or(&start);
            return self.feed_body(body, out);
        }
        self.feed_body(chunk, out)
    }

    fn feed_body(&mut self, mut chunk: &[u8], out: &mut Vec<Event>) -> Result<(), EventTooLarge> {
        if self.after_cr && !chunk.is_empty() {
            self.after_cr = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        while let Some(end) = chunk.iter().position(|&b| b == b'\r' || b == b'\n') {
            self.push_line_bytes(&chunk[..end])?;
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out);
            self.line = line;
            self.line.clear();
            let terminator = chunk[end];
            chunk = &chunk[end + 1..];
            if terminator == b'\r' {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.push_line_bytes(chunk)
    }

    fn push_line_bytes(&mut self, bytes: &[u8]) -> Result<(), EventTooLarge> {
        if self.data.len() + self.line.len() + bytes.len() > self.max_event {
            self.failed = true;
            self.keep_oversized_head(bytes);
            self.line = Vec::new();
            self.data = String::new();
            return Err(EventTooLarge(self.max_event));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// Keeps the start of the data of the event that is over the limit:
    /// the data so far, and the line being read (`line` + `bytes`) if it
    /// is a data line.
    fn keep_oversized_head(&mut self, bytes: &[u8]) {
        let data = self.data.as_bytes();
        let mut head = data[..data.len().min(OVERSIZED_HEAD_BYTES)].to_vec();
        // Enough of the line for its field name and the head's remainder.
        let want = OVERSIZED_HEAD_BYTES + b"data: ".len();
        let mut line = self.line[..self.line.len().min(want)].to_vec();
        let more = want.saturating_sub(line.len()).min(bytes.len());
        line.extend_from_slice(&bytes[..more]);
        let value = match line.strip_prefix(b"data:") {
            Some(v) => v.strip_prefix(b" ").unwrap_or(v),
            None => &[],
        };
        let room = OVERSIZED_HEAD_BYTES - head.len();
        head.extend_from_slice(&value[..value.len().min(room)]);
        self.oversized_head = head;
    }

    fn process_line(&mut self, raw: &[u8], out: &mut Vec<Event>) {
        if raw.is_empty() {
            self.dispatch(out);
            return;
        }
        if raw[0] == b':' {
            return;
        }
        let line = String::from_utf8_lossy(raw);
        let (field, value) = match line.find(':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (&line[..], ""),
        };
        match field {
            "event" => self.event_type = value.to_owned(),
            "data" => {
                self.invalid_utf8 |= matches!(line, std::borrow::Cow::Owned(_));
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => self.last_id_buffer = value.to_owned(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                // Absurdly long digit strings saturate instead of wrapping.
                self.retry = Some(value.parse().unwrap_or(u64::MAX));
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<Event>) {
        self.last_id = self.last_id_buffer.clone();
        let invalid_utf8 = std::mem::take(&mut self.invalid_utf8);
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the trailing LF
        let event = if self.event_type.is_empty() {
            "message".to_owned()
        } else {
            std::mem::take(&mut self.event_type)
        };
        self.event_type.clear();
        out.push(Event {
            event,
            data,
            id: self.last_id.clone(),
            invalid_utf8,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Expected<'a> = &'a [(&'a str, &'a str, &'a str)];

    fn run(chunks: &[&[u8]]) -> Vec<(String, String, String)> {
        let mut p = Parser::new(1 << 20);
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out).unwrap();
        }
        out.into_iter().map(|e| (e.event, e.data, e.id)).collect()
    }

    /// Feeds `input` whole, in every 2-way split, and byte by byte; all
    /// must give `expected`.
    fn check(name: &str, input: &[u8], expected: Expected<'_>) {
        let expected: Vec<(String, String, String)> = expected
            .iter()
            .map(|(t, d, i)| ((*t).to_owned(), (*d).to_owned(), (*i).to_owned()))
            .collect();
        assert_eq!(run(&[input]), expected, "{name}: whole");
        for split in 0..=input.len() {
            assert_eq!(
                run(&[&input[..split], &input[split..]]),
                expected,
                "{name}: split at {split}"
            );
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run(&bytes), expected, "{name}: byte by byte");
    }

    #[test]
    fn vectors_1_to_22() {
        let m = "message";
        check("1", b"data: hello\n\n", &[(m, "hello", "")]);
        check("2", b"data:hello\n\n", &[(m, "hello", "")]);
        check("3", b"data:  hello\n\n", &[(m, " hello", "")]);
        check("4", b"data:\thello\n\n", &[(m, "\thello", "")]);
        check("5", b"data: a\ndata: b\n\n", &[(m, "a\nb", "")]);
        check("6", b"data\n\n", &[(m, "", "")]);
        check("7", b"data:\n\n", &[(m, "", "")]);
        check("8", b"data\ndata\n\n", &[(m, "\n", "")]);
        check("9", b"data: a\ndata:\n\n", &[(m, "a\n", "")]);
        check("10", b"event: foo\n\ndata: x\n\n", &[(m, "x", "")]);
        check("11", b"event: add\ndata: 1\n\n", &[("add", "1", "")]);
        check("12", b"event:\ndata: x\n\n", &[(m, "x", "")]);
        check(
            "13",
            b"event: a\ndata: 1\n\ndata: 2\n\n",
            &[("a", "1", ""), (m, "2", "")],
        );
        check("14", b"data: a\rdata: b\r\r", &[(m, "a\nb", "")]);
        check("15", b"data: a\r\ndata: b\r\n\r\n", &[(m, "a\nb", "")]);
        check(
            "16",
            b"data: a\r\n\ndata: b\r\rdata: c\n\n",
            &[(m, "a", ""), (m, "b", ""), (m, "c", "")],
        );
        check(
            "17",
            b"data: a\n\rdata: b\n\n",
            &[(m, "a", ""), (m, "b", "")],
        );
        check("20", b": ping\n\ndata: x\n\n", &[(m, "x", "")]);
        check("21", b"data: a\n: c\ndata: b\n\n", &[(m, "a\nb", "")]);
        check("22", b"foo\ndata: x\n\n", &[(m, "x", "")]);
    }

    #[test]
    fn vectors_18_19_explicit_chunks() {
        let m = "message";
        let e = |t: &str, d: &str| (t.to_owned(), d.to_owned(), String::new());
        assert_eq!(
            run(&[b"data: a\r", b"\ndata: b\r\n\r\n"]),
            vec![e(m, "a\nb")]
        );
        assert_eq!(run(&[b"data: a\r", b"\r"]), vec![e(m, "a")]);
    }

    #[test]
    fn vectors_23_to_47() {
        let m = "message";
        check("23", b"Data: x\n\n", &[]);
        check("24", b" data: x\n\n", &[]);
        check("25", b"data: a:b: c\n\n", &[(m, "a:b: c", "")]);
        check(
            "26",
            b"id: 1\ndata: a\n\ndata: b\n\n",
            &[(m, "a", "1"), (m, "b", "1")],
        );
        check(
            "27",
            b"id: 1\ndata: a\n\nid\ndata: b\n\n",
            &[(m, "a", "1"), (m, "b", "")],
        );
        check(
            "28",
            b"id: 1\ndata: a\n\nid:\ndata: b\n\n",
            &[(m, "a", "1"), (m, "b", "")],
        );
        check(
            "29",
            b"id: 1\ndata: a\n\nid: 2\0\ndata: b\n\n",
            &[(m, "a", "1"), (m, "b", "1")],
        );
        check("30", b"id: 5\n\ndata: x\n\n", &[(m, "x", "5")]);
        check("31", b"\xEF\xBB\xBFdata: a\n\n", &[(m, "a", "")]);
        check(
            "32",
            b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n",
            &[(m, "b", "")],
        );
        check("34", b"data: a\n\n\xEF\xBB\xBFdata: b\n\n", &[(m, "a", "")]);
        check("35", b"data: a\n\ndata: b\n", &[(m, "a", "")]);
        check("36", b"data: a", &[]);
        check("37", b"data: \xFF\n\n", &[(m, "\u{FFFD}", "")]);
        check("39", b"data:\0\n\n", &[(m, "\0", "")]);
        check("40", b"id: p1\nretry: 1000\ndata: \n\n", &[(m, "", "p1")]);
        check(
            "41",
            b"event: endpoint\r\ndata: /messages/?session_id=abc\r\n\r\n",
            &[("endpoint", "/messages/?session_id=abc", "")],
        );
        check("42", b"\n\n\ndata: x\n\n", &[(m, "x", "")]);
        check("43", b"event:  foo\ndata: x\n\n", &[(" foo", "x", "")]);
        check(
            "44",
            b"data: {\"a\":\"b:c\"}\n\n",
            &[(m, "{\"a\":\"b:c\"}", "")],
        );
        check(
            "45",
            b"data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n\n",
            &[(m, "\0\n 2\n1\n3\n\n4", "")],
        );
        check(
            "46",
            b"data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test\n\n",
            &[(m, "test\n\ntest", "")],
        );
        let x = "x".repeat(2048);
        let wpt47 = format!("data:1\r:\0\n:\r\ndata:2\n:{x}\rdata:3\n:data:fail\r:{x}\ndata:4\n\n");
        check("47", wpt47.as_bytes(), &[(m, "1\n2\n3\n4", "")]);
    }

    #[test]
    fn vectors_33_38_split_inside_sequences() {
        let e = |d: &str| vec![("message".to_owned(), d.to_owned(), String::new())];
        assert_eq!(run(&[b"\xEF\xBB", b"\xBFdata: a\n\n"]), e("a"));
        assert_eq!(run(&[b"data: \xC3", b"\xA9\n\n"]), e("é"));
        check("38", b"data: \xC3\xA9\n\n", &[("message", "é", "")]);
    }

    fn retry_of(input: &[u8]) -> (Option<u64>, usize) {
        let mut p = Parser::new(1 << 20);
        let mut out = Vec::new();
        for b in input.chunks(1) {
            p.feed(b, &mut out).unwrap();
        }
        (p.retry(), out.len())
    }

    #[test]
    fn retry_vectors() {
        assert_eq!(retry_of(b"retry: 3000\n\n"), (Some(3000), 0));
        assert_eq!(retry_of(b"retry: 03000\ndata: x\n\n"), (Some(3000), 1));
        assert_eq!(
            retry_of(b"retry: 3000\nretry: 1000x\ndata: x\n\n"),
            (Some(3000), 1)
        );
        assert_eq!(retry_of(b"retry: -1\n\n"), (None, 0));
        assert_eq!(retry_of(b"retry: 1.5\n\n"), (None, 0));
        assert_eq!(retry_of(b"retry:  1000\n\n"), (None, 0));
        assert_eq!(retry_of(b"retry\ndata: x\n\n"), (None, 1));
    }

    #[test]
    fn event_size_limit() {
        let mut p = Parser::new(1024);
        let mut out = Vec::new();
        p.feed(b"data: small\n\n", &mut out).unwrap();
        assert_eq!(out.len(), 1);
        let big = vec![b'a'; 600];
        p.feed(b"data: ", &mut out).unwrap();
        p.feed(&big, &mut out).unwrap();
        p.feed(b"\ndata: ", &mut out).unwrap();
        assert_eq!(p.feed(&big, &mut out), Err(EventTooLarge(1024)));
        assert_eq!(
            p.feed(b"\n\n", &mut out),
            Err(EventTooLarge(1024)),
            "stays failed"
        );
        // A 10 MiB single line never buffers past the cap.
        let mut p = Parser::new(1 << 20);
        let chunk = vec![b'z'; 64 * 1024];
        p.feed(b"data: ", &mut out).unwrap();
        let mut failed = false;
        for _ in 0..160 {
            if p.feed(&chunk, &mut out).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed);
        assert!(p.line.capacity() <= 2 << 20);
        assert_eq!(p.oversized_head(), &chunk[..]);
    }

    #[test]
    fn an_oversized_event_leaves_the_start_of_its_data() {
        let mut out = Vec::new();
        let mut p = Parser::new(100);
        p.feed(b"event: message\ndata: {\"id\":1,\n", &mut out)
            .unwrap();
        assert!(p.feed(&[b'x'; 200], &mut out).is_err());
        // Not a data line: the data read so far only.
        assert_eq!(p.oversized_head(), b"{\"id\":1,\n");
        let mut p = Parser::new(100);
        p.feed(b"data: {\"id\":2,", &mut out).unwrap();
        assert!(p.feed(&[b'y'; 200], &mut out).is_err());
        let mut expected = b"{\"id\":2,".to_vec();
        expected.extend([b'y'; 200]);
        assert_eq!(p.oversized_head(), &expected[..]);
        p.restart();
        assert!(p.oversized_head().is_empty());
        assert!(out.is_empty());
    }

    #[test]
    fn invalid_utf8_in_data_is_flagged_per_event() {
        let mut p = Parser::new(1 << 20);
        let mut out = Vec::new();
        p.feed(
            b"event: caf\xe9\ndata: ok\n\ndata: caf\xe9\n\ndata: ok\n\n",
            &mut out,
        )
        .unwrap();
        let flags: Vec<(&str, bool)> = out
            .iter()
            .map(|e| (e.data.as_str(), e.invalid_utf8))
            .collect();
        assert_eq!(flags, [("ok", false), ("caf\u{fffd}", true), ("ok", false)]);
    }

    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// Mini-fuzz: streams built from SSE vocabulary give the same events
    /// whatever the chunking, and never panic.
    #[test]
    fn permutation_fuzz() {
        let vocab: &[&[u8]] = &[
            b"data",
            b"data:",
            b"data: ",
            b"event:",
            b"event: x",
            b"id:",
            b"id: 7",
            b"retry: 5",
            b":",
            b": c",
            b"\r",
            b"\n",
            b"\r\n",
            b"\n\n",
            b"x",
            b"\xEF\xBB\xBF",
            b"\xC3",
            b"\xA9",
            b"\0",
            b" ",
            b"{\"a\":1}",
        ];
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for _ in 0..2000 {
            let mut input = Vec::new();
            for _ in 0..rng.below(16) {
                input.extend_from_slice(vocab[rng.below(vocab.len())]);
            }
            let whole = run(&[&input]);
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(run(&bytes), whole, "{input:?}");
            let cut = rng.below(input.len() + 1);
            assert_eq!(
                run(&[&input[..cut], &input[cut..]]),
                whole,
                "{input:?} at {cut}"
            );
        }
    }
}
