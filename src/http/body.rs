//! Request body framing and the chunked decoder: pure, no IO.
//!
//! [`framing`] decides from the head how the body is delimited (RFC 9112
//! §6.3), refusing the ambiguous combinations that enable request smuggling.
//! [`ChunkedDecoder`] is fed bytes as they arrive and appends the decoded
//! data to an output buffer, enforcing the body limit as it goes.

use std::fmt;

use super::{Head, Version};
use crate::limits::{MAX_CHUNK_LINE_BYTES, MAX_TRAILER_BYTES};

/// How a request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Why a body could not be read; each maps to its own status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than the configured limit (413).
    TooLarge(u64),
    /// Bad framing headers or chunked syntax (400).
    Malformed(&'static str),
    /// A transfer coding other than chunked (501).
    UnsupportedCoding,
    /// Trailer section over `MAX_TRAILER_BYTES` (431).
    TrailersTooLarge,
}

impl BodyError {
    /// The HTTP status code that answers this error.
    pub fn status(&self) -> u16 {
        match self {
            BodyError::TooLarge(_) => 413,
            BodyError::Malformed(_) => 400,
            BodyError::UnsupportedCoding => 501,
            BodyError::TrailersTooLarge => 431,
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::TooLarge(limit) => write!(f, "request body larger than {limit} bytes"),
            BodyError::Malformed(why) => write!(f, "bad request body: {why}"),
            BodyError::UnsupportedCoding => {
                f.write_str("only the chunked transfer coding is supported")
            }
            BodyError::TrailersTooLarge => {
                write!(f, "chunked trailers larger than {MAX_TRAILER_BYTES} bytes")
            }
        }
    }
}

impl std::error::Error for BodyError {}

/// How the body of a request with this head is framed; `limit` is the largest allowed body.
pub fn framing(head: &Head, limit: u64) -> Result<Framing, BodyError> {
    let mut te = head.header_all("transfer-encoding").peekable();
    let mut cl = head.header_all("content-length").peekable();
    if te.peek().is_some() {
        if cl.peek().is_some() {
            return Err(BodyError::Malformed(
                "both Transfer-Encoding and Content-Length",
            ));
        }
        if head.version == Version::Http10 {
            return Err(BodyError::Malformed(
                "Transfer-Encoding in an HTTP/1.0 request",
            ));
        }
        let codings: Vec<String> = te
            .flat_map(|v| v.split(','))
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty())
            .collect();
        return match codings.as_slice() {
            [only] if only == "chunked" => Ok(Framing::Chunked),
            _ => Err(BodyError::UnsupportedCoding),
        };
    }
    let mut length: Option<u64> = None;
    for value in cl.flat_map(|v| v.split(',')) {
        let value = value.trim();
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BodyError::Malformed("invalid Content-Length"));
        }
        let n: u64 = value
            .parse()
            .map_err(|_| BodyError::Malformed("invalid Content-Length"))?;
        if length.is_some_and(|l| l != n) {
            return Err(BodyError::Malformed("conflicting Content-Length values"));
        }
        length = Some(n);
    }
    match length {
        None | Some(0) => Ok(Framing::None),
        Some(n) if n > limit => Err(BodyError::TooLarge(limit)),
        Some(n) => Ok(Framing::Length(n)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// Decodes a chunked body incrementally.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    line: Vec<u8>,
    trailer_bytes: usize,
    limit: u64,
    total: u64,
}

impl ChunkedDecoder {
    /// A decoder that refuses bodies larger than `limit` bytes.
    pub fn new(limit: u64) -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size,
            line: Vec::new(),
            trailer_bytes: 0,
            limit,
            total: 0,
        }
    }

    /// Whether the final chunk and trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Feeds `input`, appending decoded data to `out`. Returns how many bytes
    /// of `input` were used: all of them, unless the body ended inside it
    /// (the rest belongs to the next request).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, BodyError> {
        let mut pos = 0;
        while pos < input.len() && self.state != State::Done {
            match self.state {
                State::Size | State::DataEnd | State::Trailers => {
                    let rest = &input[pos..];
                    let (chunk, complete) = match rest.iter().position(|&b| b == b'\n') {
                        Some(i) => (&rest[..=i], true),
                        None => (rest, false),
                    };
                    pos += chunk.len();
                    self.line.extend_from_slice(chunk);
                    let max = if self.state == State::Trailers {
                        MAX_TRAILER_BYTES
                    } else {
                        MAX_CHUNK_LINE_BYTES
                    };
                    if self.line.len() > max {
                        return Err(match self.state {
                            State::Trailers => BodyError::TrailersTooLarge,
                            _ => BodyError::Malformed("chunk size line too long"),
                        });
                    }
                    if complete {
                        let line = std::mem::take(&mut self.line);
                        self.line_done(&line)?;
                        self.line = line;
                        self.line.clear();
                    }
                }
                State::Data(remaining) => {
                    let take = remaining.min((input.len() - pos) as u64) as usize;
                    out.extend_from_slice(&input[pos..pos + take]);
                    pos += take;
                    let remaining = remaining - take as u64;
                    self.state = if remaining == 0 {
                        State::DataEnd
                    } else {
                        State::Data(remaining)
                    };
                }
                State::Done => unreachable!("loop condition"),
            }
        }
        Ok(pos)
    }

    fn line_done(&mut self, line: &[u8]) -> Result<(), BodyError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        // Strict CRLF: a bare LF is read differently by different proxies
        // (a request smuggling vector).
        let Some(line) = line.strip_suffix(b"\r") else {
            return Err(BodyError::Malformed("chunk line not ended by CRLF"));
        };
        match self.state {
            State::Size => {
                // Chunk extensions (";name=value") are allowed and ignored.
                let size = line
                    .split(|&b| b == b';')
                    .next()
                    .unwrap_or(b"")
                    .trim_ascii();
                if size.is_empty() || size.len() > 15 || !size.iter().all(u8::is_ascii_hexdigit) {
                    return Err(BodyError::Malformed("invalid chunk size"));
                }
                // Checked: at most 15 hex digits, so it fits in u64.
                let size = u64::from_str_radix(std::str::from_utf8(size).unwrap_or("0"), 16)
                    .map_err(|_| BodyError::Malformed("invalid chunk size"))?;
                self.total += size;
                if self.total > self.limit {
                    return Err(BodyError::TooLarge(self.limit));
                }
                self.state = if size == 0 {
                    State::Trailers
                } else {
                    State::Data(size)
                };
            }
            State::DataEnd => {
                if !line.is_empty() {
                    return Err(BodyError::Malformed("chunk data longer than its size"));
                }
                self.state = State::Size;
            }
            State::Trailers => {
                if line.is_empty() {
                    self.state = State::Done;
                } else {
                    self.trailer_bytes += line.len();
                    if self.trailer_bytes > MAX_TRAILER_BYTES {
                        return Err(BodyError::TrailersTooLarge);
                    }
                }
            }
            State::Data(_) | State::Done => unreachable!("lines are read only in line states"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse::{Status, parse_head};

    fn head(extra: &str) -> Head {
        let text = format!("POST / HTTP/1.1\r\nHost: a\r\n{extra}\r\n");
        match parse_head(text.as_bytes()).unwrap() {
            Status::Complete(h, _) => h,
            Status::Partial => panic!("partial"),
        }
    }

    #[test]
    fn framing_rules() {
        assert_eq!(framing(&head(""), 10), Ok(Framing::None));
        assert_eq!(
            framing(&head("Content-Length: 5\r\n"), 10),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            framing(&head("Content-Length: 5\r\nContent-Length: 5\r\n"), 10),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            framing(&head("Content-Length: 11\r\n"), 10),
            Err(BodyError::TooLarge(10))
        );
        assert_eq!(
            framing(&head("Transfer-Encoding: Chunked\r\n"), 10),
            Ok(Framing::Chunked)
        );
        for bad in [
            "Content-Length: -1\r\n",
            "Content-Length: 1e3\r\n",
            "Content-Length: 5\r\nContent-Length: 6\r\n",
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        ] {
            assert_eq!(framing(&head(bad), 10).unwrap_err().status(), 400, "{bad}");
        }
        assert_eq!(
            framing(&head("Transfer-Encoding: gzip, chunked\r\n"), 10),
            Err(BodyError::UnsupportedCoding)
        );
    }

    fn decode_in_pieces(
        input: &[u8],
        piece: usize,
        limit: u64,
    ) -> Result<(Vec<u8>, usize), BodyError> {
        let mut d = ChunkedDecoder::new(limit);
        let mut out = Vec::new();
        let mut used = 0;
        for chunk in input.chunks(piece.max(1)) {
            used += d.feed(chunk, &mut out)?;
            if d.is_done() {
                return Ok((out, used));
            }
        }
        Err(BodyError::Malformed("incomplete"))
    }

    #[test]
    fn decodes_in_any_split() {
        let input = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for piece in 1..input.len() {
            let (out, used) = decode_in_pieces(input, piece, 100).unwrap();
            assert_eq!(out, b"hello, world");
            assert_eq!(used, input.len() - 4, "piece {piece}");
        }
    }

    #[test]
    fn bare_lf_refused() {
        for bare in [
            &b"3\nabc\r\n0\r\n\r\n"[..],
            b"3\r\nabc\n0\r\n\r\n",
            b"3\r\nabc\r\n0\n\r\n",
            b"3\r\nabc\r\n0\r\n\n",
        ] {
            assert_eq!(
                decode_in_pieces(bare, 64, 100),
                Err(BodyError::Malformed("chunk line not ended by CRLF")),
                "{:?}",
                String::from_utf8_lossy(bare)
            );
        }
    }

    #[test]
    fn errors() {
        assert_eq!(
            decode_in_pieces(b"zz\r\n", 64, 100),
            Err(BodyError::Malformed("invalid chunk size"))
        );
        assert_eq!(
            decode_in_pieces(b"3\r\nabcd\r\n0\r\n\r\n", 64, 100),
            Err(BodyError::Malformed("chunk data longer than its size"))
        );
        assert_eq!(
            decode_in_pieces(b"b\r\n", 64, 10),
            Err(BodyError::TooLarge(10))
        );
        assert_eq!(
            decode_in_pieces(b"6\r\nabcdef\r\n6\r\nabcdef\r\n", 64, 10),
            Err(BodyError::TooLarge(10))
        );
        let long = vec![b'1'; MAX_CHUNK_LINE_BYTES + 2];
        assert!(decode_in_pieces(&long, 64, u64::MAX).is_err());
        let mut trailers = b"0\r\n".to_vec();
        for _ in 0..1000 {
            trailers.extend(b"X-Trailer: aaaaaaaaaaaa\r\n");
        }
        assert_eq!(
            decode_in_pieces(&trailers, 64, 100),
            Err(BodyError::TrailersTooLarge)
        );
    }
}
