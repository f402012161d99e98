//! The request-head parser: pure, no IO, fed whatever bytes have arrived.
//!
//! [`parse_head`] looks at the bytes received so far and answers
//! [`Status::Partial`] (need more), [`Status::Complete`] (a head and how many
//! bytes it used) or a [`ParseError`]. Limits are enforced on partial input
//! too, so a client that never ends its request line or headers is refused
//! as soon as it passes the limit, not when it stops; empty lines before the
//! request line count against the head limit. RFC 9112 §2–§5, strictly:
//! lines end in CRLF (a bare LF, which §2.2 lets servers accept, is read
//! differently by proxies that disagree: a smuggling vector), no obsolete
//! line folding (§5.2), one `Host` (§3.2), and an absolute-form target's
//! authority replaces `Host` (§3.2.2) so that it meets the same checks.

use std::fmt;

use super::{Version, is_token_byte};
use crate::limits::{MAX_HEAD_BYTES, MAX_HEADERS, MAX_REQUEST_LINE_BYTES};

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Method token, as sent (methods are case-sensitive).
    pub method: String,
    /// Origin-form target: path and optional query.
    pub target: String,
    /// Protocol version.
    pub version: Version,
    /// Header fields in order; names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order.
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the connection stays open after this request (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        let has = |token: &str| {
            self.header_all("connection")
                .flat_map(|v| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        match self.version {
            Version::Http11 => !has("close"),
            Version::Http10 => has("keep-alive"),
        }
    }
}

/// The result of looking at the bytes so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Status {
    /// The head is not complete yet.
    Partial,
    /// A complete head, and the number of bytes it used.
    Complete(Head, usize),
}

/// Why a request head was refused; each maps to its own status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Request line longer than `MAX_REQUEST_LINE_BYTES` (414).
    RequestLineTooLong,
    /// Head longer than `MAX_HEAD_BYTES` (431).
    HeadTooLarge,
    /// More than `MAX_HEADERS` fields (431).
    TooManyHeaders,
    /// Not `HTTP/1.0` or `HTTP/1.1` (505).
    UnsupportedVersion,
    /// A malformed request line (400).
    BadRequestLine(&'static str),
    /// A malformed header field (400).
    BadHeader(&'static str),
}

impl ParseError {
    /// The HTTP status code that answers this error.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::RequestLineTooLong => 414,
            ParseError::HeadTooLarge | ParseError::TooManyHeaders => 431,
            ParseError::UnsupportedVersion => 505,
            ParseError::BadRequestLine(_) | ParseError::BadHeader(_) => 400,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::RequestLineTooLong => {
                write!(f, "request line longer than {MAX_REQUEST_LINE_BYTES} bytes")
            }
            ParseError::HeadTooLarge => {
                write!(f, "request head larger than {MAX_HEAD_BYTES} bytes")
            }
            ParseError::TooManyHeaders => write!(f, "more than {MAX_HEADERS} header fields"),
            ParseError::UnsupportedVersion => {
                f.write_str("only HTTP/1.0 and HTTP/1.1 are supported")
            }
            ParseError::BadRequestLine(why) => write!(f, "bad request line: {why}"),
            ParseError::BadHeader(why) => write!(f, "bad header field: {why}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses a request head from the start of `buf`.
pub fn parse_head(buf: &[u8]) -> Result<Status, ParseError> {
    // RFC 9112 §2.2: ignore empty lines before the request line (clients
    // sometimes send a stray CRLF after a body), but count them: an endless
    // stream of CRLF must not grow the buffer.
    let mut start = 0;
    while buf
        .get(start..)
        .is_some_and(|rest| rest.starts_with(b"\r\n"))
    {
        start += 2;
    }
    if start > MAX_HEAD_BYTES {
        return Err(ParseError::HeadTooLarge);
    }
    let Some((line, mut pos)) = next_line(buf, start)? else {
        if buf.len() - start > MAX_REQUEST_LINE_BYTES {
            return Err(ParseError::RequestLineTooLong);
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(ParseError::HeadTooLarge);
        }
        return Ok(Status::Partial);
    };
    if line.len() > MAX_REQUEST_LINE_BYTES {
        return Err(ParseError::RequestLineTooLong);
    }
    let (method, target, authority, version) = request_line(line)?;

    let mut headers = Vec::new();
    loop {
        let Some((line, next)) = next_line(buf, pos)? else {
            if buf.len() > MAX_HEAD_BYTES {
                return Err(ParseError::HeadTooLarge);
            }
            return Ok(Status::Partial);
        };
        if next > MAX_HEAD_BYTES {
            return Err(ParseError::HeadTooLarge);
        }
        pos = next;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(ParseError::TooManyHeaders);
        }
        headers.push(header_line(line)?);
    }
    let hosts = headers.iter().filter(|(n, _)| n == "host").count();
    if hosts > 1 {
        // RFC 9112 §3.2: more than one Host MUST get 400.
        return Err(ParseError::BadHeader("more than one Host header"));
    }
    if version == Version::Http11 && hosts == 0 {
        // RFC 9112 §3.2: a 1.1 request without Host MUST get 400.
        return Err(ParseError::BadHeader("missing Host header"));
    }
    if let Some(authority) = authority {
        // RFC 9112 §3.2.2: the target's authority wins over Host; it takes
        // Host's place so the Host checks see what the request addresses.
        headers.retain(|(n, _)| n != "host");
        headers.push(("host".into(), authority));
    }
    let head = Head {
        method,
        target,
        version,
        headers,
    };
    Ok(Status::Complete(head, pos))
}

/// The line starting at `from` without its CRLF, and where the next
/// begins; `None` while incomplete; an error for a bare LF.
fn next_line(buf: &[u8], from: usize) -> Result<Option<(&[u8], usize)>, ParseError> {
    let Some(rest) = buf.get(from..) else {
        return Ok(None);
    };
    let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
        return Ok(None);
    };
    match rest[..lf].strip_suffix(b"\r") {
        Some(line) => Ok(Some((line, from + lf + 1))),
        None => Err(ParseError::BadHeader("line not ended by CRLF")),
    }
}

/// Method, origin-form target, the authority of an absolute-form target, version.
type RequestLine = (String, String, Option<String>, Version);

fn request_line(line: &[u8]) -> Result<RequestLine, ParseError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::BadRequestLine(
            "expected \"METHOD target HTTP/1.1\"",
        ));
    };
    if method.is_empty() || !method.iter().all(|&b| is_token_byte(b)) {
        return Err(ParseError::BadRequestLine("invalid method"));
    }
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        v if v.starts_with(b"HTTP/") => return Err(ParseError::UnsupportedVersion),
        _ => return Err(ParseError::BadRequestLine("invalid HTTP version")),
    };
    if target.is_empty() || !target.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(ParseError::BadRequestLine("invalid request target"));
    }
    let mut authority = None;
    let target = if target.starts_with(b"/") || target == b"*" {
        target
    } else if let Some(rest) = strip_scheme(target) {
        // Absolute form (RFC 9112 §3.2.2): keep only path and query; the
        // authority (without userinfo, which is not allowed) becomes Host.
        let end = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(rest.len());
        let host = &rest[..end];
        if host.is_empty() || host.contains(&b'@') {
            return Err(ParseError::BadRequestLine(
                "invalid authority in request target",
            ));
        }
        authority = Some(String::from_utf8_lossy(host).into_owned());
        match rest.get(end) {
            Some(b'/') => &rest[end..],
            Some(_) => return Err(ParseError::BadRequestLine("invalid request target")),
            None => b"/",
        }
    } else {
        return Err(ParseError::BadRequestLine("invalid request target"));
    };
    // Both checked to be ASCII above.
    let method = String::from_utf8_lossy(method).into_owned();
    let target = String::from_utf8_lossy(target).into_owned();
    Ok((method, target, authority, version))
}

fn strip_scheme(target: &[u8]) -> Option<&[u8]> {
    let lower = target.get(..8)?.to_ascii_lowercase();
    if lower.starts_with(b"http://") {
        Some(&target[7..])
    } else if lower.starts_with(b"https://") {
        Some(&target[8..])
    } else {
        None
    }
}

fn header_line(line: &[u8]) -> Result<(String, String), ParseError> {
    if line[0] == b' ' || line[0] == b'\t' {
        return Err(ParseError::BadHeader("obsolete line folding"));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(ParseError::BadHeader("missing ':'"))?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
        // Includes whitespace before the colon (RFC 9112 §5.1: MUST reject).
        return Err(ParseError::BadHeader("invalid field name"));
    }
    let value = line[colon + 1..].trim_ascii();
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(ParseError::BadHeader("control character in field value"));
    }
    Ok((
        String::from_utf8_lossy(name).to_ascii_lowercase(),
        String::from_utf8_lossy(value).into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(input: &[u8]) -> (Head, usize) {
        match parse_head(input) {
            Ok(Status::Complete(head, n)) => (head, n),
            other => panic!("expected a complete head, got {other:?}"),
        }
    }

    #[test]
    fn simple_get() {
        let input = b"GET /sse?x=1 HTTP/1.1\r\nHost: a\r\nAccept:  text/event-stream \r\n\r\nrest";
        let (head, n) = complete(input);
        assert_eq!(n, input.len() - 4);
        assert_eq!(head.method, "GET");
        assert_eq!(head.target, "/sse?x=1");
        assert_eq!(head.version, Version::Http11);
        assert_eq!(head.header("ACCEPT"), Some("text/event-stream"));
        assert!(head.keep_alive());
    }

    #[test]
    fn leading_blank_lines_and_strict_crlf() {
        let (head, n) = complete(b"\r\n\r\nPOST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(n, 42);
        assert_eq!(head.version, Version::Http10);
        assert!(!head.keep_alive());
        for bare in [
            &b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/1.1\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r2\r\n\r\n",
        ] {
            assert_eq!(
                parse_head(bare).map_err(|e| e.status()),
                Err(400),
                "{:?}",
                String::from_utf8_lossy(bare)
            );
        }
    }

    #[test]
    fn endless_empty_lines_hit_the_head_limit() {
        let crlf = b"\r\n".repeat(MAX_HEAD_BYTES / 2 + 1);
        assert_eq!(parse_head(&crlf), Err(ParseError::HeadTooLarge));
        let mut partial = b"\r\n".repeat(MAX_HEAD_BYTES / 2 - 2);
        partial.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n");
        assert_eq!(parse_head(&partial), Err(ParseError::HeadTooLarge));
    }

    #[test]
    fn one_host_and_absolute_form_authority_becomes_host() {
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").map_err(|e| e.status()),
            Err(400)
        );
        let (h, _) =
            complete(b"GET http://evil.example:80/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        assert_eq!(h.target, "/mcp");
        assert_eq!(
            h.header_all("host").collect::<Vec<_>>(),
            ["evil.example:80"]
        );
        assert!(parse_head(b"GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n").is_err());
        assert!(parse_head(b"GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n").is_err());
    }

    #[test]
    fn keep_alive_rules() {
        let (h, _) = complete(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n");
        assert!(!h.keep_alive());
        let (h, _) = complete(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert!(h.keep_alive());
    }

    #[test]
    fn absolute_form_target() {
        let (h, _) = complete(b"GET http://x:1/mcp?a HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(h.target, "/mcp?a");
    }

    #[test]
    fn partial_inputs() {
        for input in [
            &b""[..],
            b"GE",
            b"GET / HTTP/1.1\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n",
        ] {
            assert_eq!(parse_head(input), Ok(Status::Partial), "{input:?}");
        }
    }

    #[test]
    fn errors_map_to_their_status() {
        let cases: &[(&[u8], u16)] = &[
            (b"GET / HTTP/2.0\r\n\r\n", 505),
            (b"GET / FOO/1.1\r\n\r\n", 400),
            (b"GET /  HTTP/1.1\r\n\r\n", 400),
            (b"GET relative HTTP/1.1\r\n\r\n", 400),
            (b"G(T / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\n\r\n", 400),
        ];
        for (input, status) in cases {
            let err = parse_head(input).expect_err(&String::from_utf8_lossy(input));
            assert_eq!(err.status(), *status, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn limits_hit_on_partial_input() {
        let long_line = vec![b'a'; MAX_REQUEST_LINE_BYTES + 1];
        assert_eq!(parse_head(&long_line), Err(ParseError::RequestLineTooLong));
        let mut line = b"GET /".to_vec();
        line.extend(vec![b'a'; MAX_REQUEST_LINE_BYTES]);
        line.extend(b" HTTP/1.1\r\n");
        assert_eq!(parse_head(&line), Err(ParseError::RequestLineTooLong));

        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.extend(vec![b'a'; MAX_HEAD_BYTES]);
        assert_eq!(parse_head(&big), Err(ParseError::HeadTooLarge));

        let mut many = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..MAX_HEADERS {
            many.extend(format!("X-{i}: v\r\n").as_bytes());
        }
        many.extend(b"\r\n");
        assert_eq!(parse_head(&many), Err(ParseError::TooManyHeaders));
    }

    /// A tiny deterministic generator (xorshift), so the fuzz needs no crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Mini-fuzz: random heads built from a vocabulary of valid and invalid
    /// fragments, fed at every split point. The parser never panics, and the
    /// answer for the whole input equals the answer after feeding it in two
    /// pieces (a prefix is only ever Partial or the same error).
    #[test]
    fn permutation_fuzz() {
        let vocab: &[&[u8]] = &[
            b"GET",
            b"POST",
            b" ",
            b"/",
            b"/sse",
            b"?a=b",
            b"HTTP/1.1",
            b"HTTP/1.0",
            b"HTTP/9",
            b"\r\n",
            b"\n",
            b"\r",
            b"Host: x",
            b"Content-Length: 5",
            b":",
            b"X-A: b",
            b"\t",
            b"\x00",
            b"\xff",
            b"  ",
            b"Transfer-Encoding: chunked",
            b"a",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let mut input = Vec::new();
            for _ in 0..rng.below(14) {
                input.extend_from_slice(vocab[rng.below(vocab.len())]);
            }
            let whole = parse_head(&input);
            for split in 0..=input.len() {
                let prefix = parse_head(&input[..split]);
                match (&prefix, &whole) {
                    (Ok(Status::Partial), _) => {}
                    (Ok(Status::Complete(h, n)), Ok(Status::Complete(h2, n2))) => {
                        assert_eq!((h, n), (h2, n2), "{input:?}")
                    }
                    (Err(e), Err(e2)) => assert_eq!(e, e2, "{input:?}"),
                    _ => panic!("prefix {split} of {input:?}: {prefix:?} vs whole {whole:?}"),
                }
            }
        }
    }
}
