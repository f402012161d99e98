//! Responses: a status, headers and a body that is either bytes or a stream.
//!
//! A streamed body is a closure the connection thread runs after writing the
//! head; it gets a [`StreamWriter`] that frames each write as one HTTP chunk
//! (HTTP/1.1) or raw bytes on a close-delimited body (HTTP/1.0), with one
//! `write` call per frame. Serialising the head is here too; deciding
//! keep-alive is the server's job.
//!
//! A long-lived stream ([`Response::long_stream`]: an SSE session, a
//! listen stream) runs on a thread of its own with a small stack instead,
//! and the connection ends with it: the connection thread, whose stack the
//! parsing and the handler grew, exits, so an idle stream holds only what
//! its writer touches.

use std::fmt;
use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use super::frame::{FrameSlices, write_all_vectored};
use super::reason;
use super::shared_stream::SharedStream;

/// A streamed body: runs on the connection thread once the head is written.
pub type StreamFn = Box<dyn FnOnce(&mut StreamWriter<'_>) + Send>;

/// A response body.
pub enum Body {
    /// No body (`Content-Length: 0`, or nothing for 204/HEAD).
    Empty,
    /// A complete body.
    Bytes(Vec<u8>),
    /// A body produced over time by the closure (SSE streams).
    Stream(StreamFn),
    /// The same, long-lived: on a thread of its own, then the connection closes.
    LongStream(StreamFn),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Body::Stream(_) => f.write_str("Stream"),
            Body::LongStream(_) => f.write_str("LongStream"),
        }
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
    /// Close the connection after this response.
    pub close: bool,
    /// Runs on the connection thread once the response is written (or
    /// could not be): `POST /manage/v1/shutdown` stops the server only
    /// after its answer is out.
    pub after: Option<After>,
}

/// A closure run after a response is written.
pub struct After(pub Box<dyn FnOnce() + Send>);

impl fmt::Debug for After {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("After")
    }
}

impl Response {
    /// A response with no body.
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Empty,
            close: false,
            after: None,
        }
    }

    /// A `text/plain` response.
    pub fn text(status: u16, text: impl Into<String>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: Body::Bytes(text.into().into_bytes()),
            close: false,
            after: None,
        }
    }

    /// An `application/json` response.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Body::Bytes(value.to_string().into_bytes()),
            close: false,
            after: None,
        }
    }

    /// An `application/json` response from already serialized JSON.
    pub fn json_text(status: u16, json: String) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Body::Bytes(json.into_bytes()),
            close: false,
            after: None,
        }
    }

    /// A streamed response.
    pub fn stream(status: u16, f: StreamFn) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Stream(f),
            close: false,
            after: None,
        }
    }

    /// A streamed response that may last for hours (see the module doc).
    pub fn long_stream(status: u16, f: StreamFn) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::LongStream(f),
            close: true,
            after: None,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Runs `f` once the response is written.
    pub fn then(mut self, f: impl FnOnce() + Send + 'static) -> Response {
        self.after = Some(After(Box::new(f)));
        self
    }

    /// Marks the connection to be closed after this response.
    pub fn closing(mut self) -> Response {
        self.close = true;
        self
    }
}

/// How the body length is signalled in the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Length {
    /// `Content-Length: n`.
    Fixed(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body ends when the connection closes.
    UntilClose,
}

/// Serialises a response head.
pub(crate) fn head_bytes(
    status: u16,
    headers: &[(String, String)],
    length: Length,
    keep_alive: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    // Writing to a Vec cannot fail.
    let _ = write!(out, "HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    match length {
        Length::Fixed(n) => {
            let _ = write!(out, "Content-Length: {n}\r\n");
        }
        Length::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Length::UntilClose => {}
    }
    out.extend_from_slice(if keep_alive {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    });
    out
}

/// Writes a streamed body, one frame per `write` call.
pub struct StreamWriter<'a> {
    stream: &'a Arc<TcpStream>,
    chunked: bool,
    sent: u64,
    broken: bool,
}

impl<'a> StreamWriter<'a> {
    pub(crate) fn new(stream: &'a Arc<TcpStream>, chunked: bool) -> StreamWriter<'a> {
        StreamWriter {
            stream,
            chunked,
            sent: 0,
            broken: false,
        }
    }

    /// Writes one frame. An error (including the write timeout) leaves the
    /// stream broken: the connection is closed afterwards.
    pub fn write_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        self.write_parts(&[frame])
    }

    /// Writes one frame made of `parts` (at most four), with one vectored
    /// `write` (more only when the kernel takes part of it): the parts are
    /// not copied together first.
    pub fn write_parts(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        let frame = FrameSlices::new(parts, self.chunked);
        let len = frame.body_len();
        if len == 0 {
            return Ok(());
        }
        let (mut slices, n) = frame.slices();
        match write_all_vectored(self.stream, &mut slices[..n]) {
            Ok(()) => {
                self.sent += len as u64;
                Ok(())
            }
            Err(e) => {
                self.broken = true;
                Err(e)
            }
        }
    }

    /// The socket, shared from now on with threads that write frames to it
    /// directly; this stream's own frames then go through it too, so that
    /// frames are written whole and one at a time.
    pub fn share(&self) -> Arc<SharedStream> {
        Arc::new(SharedStream::new(self.stream.clone(), self.chunked))
    }

    /// Ends the sharing: no more direct writes (the end of the body is
    /// written next); what went through `shared` is counted as written here.
    pub fn unshare(&mut self, shared: &SharedStream) {
        let (sent, broken) = shared.close();
        self.sent += sent;
        self.broken |= broken;
    }

    /// Bounds each following write (the SSE `send_timeout`).
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_write_timeout(timeout)
    }

    /// Runs `on_hangup` (on the watcher thread, holding no lock) as soon
    /// as the client hangs up, while the returned watch lives; see
    /// [`super::hangup`].
    pub fn watch_hangup(
        &self,
        on_hangup: super::hangup::OnHangup,
    ) -> Option<super::hangup::Watch<'a>> {
        super::hangup::watch(self.stream, on_hangup)
    }

    /// Whether the client has closed its end. Never blocks: a peek in
    /// non-blocking mode sees EOF (closed), data, or "would block" (open).
    pub fn peer_closed(&mut self) -> bool {
        if self.stream.set_nonblocking(true).is_err() {
            return true;
        }
        let mut byte = [0u8; 1];
        let closed = match self.stream.peek(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        };
        if self.stream.set_nonblocking(false).is_err() {
            return true;
        }
        if closed {
            self.broken = true;
        }
        closed
    }

    /// Body bytes written so far (without chunk framing).
    pub fn bytes_sent(&self) -> u64 {
        self.sent
    }

    pub(crate) fn finish(self) -> (bool, u64) {
        let ok = if self.broken {
            false
        } else if self.chunked {
            (&mut &**self.stream).write_all(b"0\r\n\r\n").is_ok()
        } else {
            false
        };
        (ok, self.sent)
    }
}
