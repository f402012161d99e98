//! The accept loop and the per-connection loop: keep-alive, limits, timeouts.
//!
//! One named thread per connection (small stack), at most
//! `max_connections` at once (above it: 503 from the accept loop). Each
//! connection reads a head under `HEAD_READ_TIMEOUT` (408 and close when it
//! runs out), a body under `BODY_IDLE_TIMEOUT` per read, calls the handler
//! under `catch_unwind` (a panic answers 500 if nothing was sent yet), writes
//! the response with a write timeout, logs one access line, and loops while
//! keep-alive allows. Shutdown sets a flag, wakes `accept()` with a
//! self-connect, and half-closes the read side of every live connection so
//! idle keep-alive reads end at once; in-progress responses still finish.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use log::{error, info, warn};

use super::body::{BodyError, ChunkedDecoder, Framing, framing};
use super::parse::{Status, parse_head};
use super::response::{After, Body, Length, Response, StreamWriter, head_bytes};
use super::{Head, Request, Version};
use crate::limits::{
    BODY_IDLE_TIMEOUT, CONNECTION_STACK_BYTES, HEAD_READ_TIMEOUT, KEEPALIVE_IDLE, LINGER_BYTES,
    LINGER_TIME, RESPONSE_WRITE_TIMEOUT, SHUTDOWN_GRACE, STREAM_STACK_BYTES,
};
use crate::sync::{lock, spawn_named};
use crate::workers::Workers;

/// Answers requests. Called on connection threads, concurrently.
pub trait Handler: Send + Sync + 'static {
    /// Produces the response for one complete request.
    fn handle(&self, request: Request) -> Response;
}

/// Server limits.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Concurrent connections; above it 503.
    pub max_connections: usize,
    /// Largest request body; above it 413.
    pub max_body_bytes: u64,
    /// Time a whole request body has, from the end of its head; past it 408
    /// and close (`BODY_READ_TIMEOUT`): a byte now and then must not hold a
    /// connection thread for ever.
    pub body_timeout: Duration,
    /// Bytes read and written on client connections (for `/metrics`).
    pub traffic: Arc<Traffic>,
}

/// Bytes read from and written to client connections, heads included.
#[derive(Debug, Default)]
pub struct Traffic {
    received: AtomicU64,
    sent: AtomicU64,
}

impl Traffic {
    /// (received, sent) so far.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.received.load(Ordering::Relaxed),
            self.sent.load(Ordering::Relaxed),
        )
    }

    fn sent(&self, n: usize) {
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// State shared by the accept loop, connection threads and shutdown handles.
struct Shared {
    stopping: AtomicBool,
    addr: SocketAddr,
    /// Live connections, by id: a clone of each socket so shutdown can
    /// half-close it. The map's length is the live-connection count.
    live: Mutex<HashMap<u64, Arc<TcpStream>>>,
    drained: Condvar,
    next_id: AtomicU64,
}

/// Stops a running [`Server`] from another thread.
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Stops accepting and ends idle connections. Safe to call more than once.
    pub fn shutdown(&self) {
        if self.shared.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the accept loop: it checks the flag after every accept.
        let mut wake = self.shared.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => [127, 0, 0, 1].into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        if let Err(e) = TcpStream::connect_timeout(&wake, Duration::from_secs(1)) {
            warn!("could not wake the accept loop ({e}); it stops at the next connection");
        }
        for stream in lock(&self.shared.live).values() {
            let _ = stream.shutdown(Shutdown::Read);
        }
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::SeqCst)
    }
}

/// An HTTP server over a bound listener.
pub struct Server {
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    options: ServerOptions,
    shared: Arc<Shared>,
    /// The connection threads, kept a moment for the next connection.
    workers: Arc<Workers>,
}

impl Server {
    /// Wraps a bound listener.
    pub fn new(
        listener: TcpListener,
        handler: Arc<dyn Handler>,
        options: ServerOptions,
    ) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        Ok(Server {
            listener,
            handler,
            options,
            workers: Workers::new("argus-conn", CONNECTION_STACK_BYTES),
            shared: Arc::new(Shared {
                stopping: AtomicBool::new(false),
                addr,
                live: Mutex::new(HashMap::new()),
                drained: Condvar::new(),
                next_id: AtomicU64::new(0),
            }),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: self.shared.clone(),
        }
    }

    /// Accepts connections until shut down, then waits (bounded by
    /// `SHUTDOWN_GRACE`) for open connections to finish.
    pub fn run(self) {
        for conn in self.listener.incoming() {
            if self.shared.stopping.load(Ordering::SeqCst) {
                break;
            }
            match conn {
                Ok(stream) => self.accept(stream),
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    warn!("accept failed: {e}");
                    thread::sleep(Duration::from_millis(50));
                }
            }
        }
        let live = self
            .shared
            .drained
            .wait_timeout_while(lock(&self.shared.live), SHUTDOWN_GRACE, |l| !l.is_empty())
            .unwrap_or_else(|e| e.into_inner())
            .0;
        if !live.is_empty() {
            warn!("{} connection(s) still open at shutdown", live.len());
        }
    }

    fn accept(&self, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
            return;
        };
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let stream = {
            let mut live = lock(&self.shared.live);
            if live.len() >= self.options.max_connections {
                drop(live);
                warn!(
                    "{peer}: connection limit ({}) reached, answering 503",
                    self.options.max_connections
                );
                reject(stream);
                return;
            }
            // Shared, not duplicated: one descriptor per connection.
            let stream = Arc::new(stream);
            live.insert(id, stream.clone());
            stream
        };
        let conn = Connection {
            id,
            stream,
            peer,
            local,
            handler: self.handler.clone(),
            options: self.options.clone(),
            shared: self.shared.clone(),
            read_timeout: None,
        };
        if let Err(e) = self.workers.run(Box::new(move || conn.run())) {
            error!("{peer}: cannot start a connection thread: {e}");
            self.shared.forget(id);
        }
    }
}

impl Shared {
    fn forget(&self, id: u64) {
        let mut live = lock(&self.live);
        live.remove(&id);
        if live.is_empty() {
            self.drained.notify_all();
        }
    }
}

/// Answers 503 from the accept loop without blocking it.
fn reject(mut stream: TcpStream) {
    let body = "server busy: too many connections\n";
    let mut out = head_bytes(
        503,
        &[
            ("Content-Type".into(), "text/plain; charset=utf-8".into()),
            ("Retry-After".into(), "1".into()),
        ],
        Length::Fixed(body.len()),
        false,
    );
    out.extend_from_slice(body.as_bytes());
    if stream.set_nonblocking(true).is_ok() {
        let _ = stream.write_all(&out);
        let _ = stream.shutdown(Shutdown::Write);
        // Drain what already arrived so closing does not reset the connection
        // (a reset can destroy the 503 before the client reads it).
        let mut sink = [0u8; 4096];
        while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
    }
}

struct Connection {
    id: u64,
    /// Shared with the live-connection table (for shutdown); all IO goes
    /// through `&TcpStream`.
    stream: Arc<TcpStream>,
    peer: SocketAddr,
    local: SocketAddr,
    handler: Arc<dyn Handler>,
    options: ServerOptions,
    shared: Arc<Shared>,
    /// The socket's read timeout as last set, so that a read with the
    /// same bound (the keep-alive wait before each request) costs no
    /// `setsockopt`.
    read_timeout: Option<Duration>,
}

/// How reading a request ended without a request.
enum ReadEnd {
    /// EOF, idle timeout, or shutdown: close quietly.
    Quiet,
    /// Answer this status with this text, then close.
    Fail(u16, String),
}

impl Connection {
    fn run(mut self) {
        let _ = self.stream.set_write_timeout(Some(RESPONSE_WRITE_TIMEOUT));
        let mut buf = Vec::with_capacity(4096);
        let mut first = true;
        loop {
            let started = Instant::now();
            let (head, body) = match self.read_request(&mut buf, first) {
                Ok(request) => request,
                Err(ReadEnd::Quiet) => break,
                Err(ReadEnd::Fail(status, text)) => {
                    info!("{} - - {status} (bad request: {text})", self.peer);
                    let response = Response::text(status, format!("{text}\n")).closing();
                    let _ = self.write_response(response, Version::Http11, false, false);
                    self.linger();
                    break;
                }
            };
            first = false;
            let method = head.method.clone();
            let path = head.target.split('?').next().unwrap_or("").to_owned();
            let version = head.version;
            let keep_alive = head.keep_alive() && !self.shared.stopping.load(Ordering::SeqCst);
            let request = Request {
                head,
                body,
                peer: self.peer,
                local: self.local,
            };
            let handler = &self.handler;
            let mut response = match catch_unwind(AssertUnwindSafe(|| handler.handle(request))) {
                Ok(response) => response,
                Err(panic) => {
                    error!(
                        "{} {method} {path}: handler panicked: {}",
                        self.peer,
                        panic_text(&panic)
                    );
                    Response::text(500, "internal server error\n").closing()
                }
            };
            let status = response.status;
            if matches!(response.body, Body::LongStream(_)) && method != "HEAD" {
                // The stream's own thread ends the connection.
                return self.detach(response, version, (method, path), started);
            }
            let after = response.after.take();
            let (keep, bytes) =
                self.write_response(response, version, keep_alive, method == "HEAD");
            finished(self.peer, (&method, &path, status), bytes, started, after);
            if !keep {
                break;
            }
        }
        let _ = self.stream.shutdown(Shutdown::Both);
        self.shared.forget(self.id);
    }

    /// Writes the head of a long-lived stream, then runs the stream on a
    /// thread of its own (small stack, `STREAM_STACK_BYTES`), which closes
    /// the connection when the stream ends; this thread returns at once.
    fn detach(
        self,
        mut response: Response,
        version: Version,
        (method, path): (String, String),
        started: Instant,
    ) {
        let Body::LongStream(f) = std::mem::replace(&mut response.body, Body::Empty) else {
            unreachable!("only long streams are detached");
        };
        let chunked = version == Version::Http11;
        let length = if chunked {
            Length::Chunked
        } else {
            Length::UntilClose
        };
        let head = head_bytes(response.status, &response.headers, length, false);
        let status = response.status;
        let after = response.after.take();
        let (shared, id, peer) = (self.shared.clone(), self.id, self.peer);
        if (&mut &*self.stream).write_all(&head).is_err() {
            let _ = self.stream.shutdown(Shutdown::Both);
            shared.forget(id);
            return;
        }
        self.options.traffic.sent(head.len());
        let spawned = spawn_named("argus-stream", STREAM_STACK_BYTES, move || {
            let mut writer = StreamWriter::new(&self.stream, chunked);
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| f(&mut writer))) {
                error!("{}: stream panicked: {}", self.peer, panic_text(&panic));
            }
            let (_, sent) = writer.finish();
            self.options.traffic.sent(sent as usize);
            finished(self.peer, (&method, &path, status), sent, started, after);
            let _ = self.stream.shutdown(Shutdown::Both);
            self.shared.forget(self.id);
        });
        if let Err(e) = spawned {
            // The closure, and the socket with it, is gone: the client sees
            // the stream end.
            error!("{peer}: cannot start a stream thread: {e}");
            shared.forget(id);
        }
    }

    /// After an error response, reads and discards what the client is still
    /// sending (bounded in time and bytes) before closing: closing a socket
    /// with unread data resets the connection, and a reset can destroy the
    /// error response before the client reads it.
    fn linger(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + LINGER_TIME;
        let mut discarded = 0;
        let mut sink = [0u8; 16 * 1024];
        while discarded < LINGER_BYTES {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.set_read_timeout(left).is_err() {
                break;
            }
            match (&mut &*self.stream).read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(n) => discarded += n,
            }
        }
    }

    /// Reads one request head and body. `buf` carries bytes over between
    /// requests (pipelining).
    fn read_request(&mut self, buf: &mut Vec<u8>, first: bool) -> Result<(Head, Vec<u8>), ReadEnd> {
        // The head clock starts at accept for a new connection, and at the
        // first byte of the next request on a kept-alive one.
        let mut deadline = (first || !buf.is_empty()).then(|| Instant::now() + HEAD_READ_TIMEOUT);
        let head = loop {
            match parse_head(buf) {
                Ok(Status::Complete(head, used)) => {
                    buf.drain(..used);
                    break head;
                }
                Ok(Status::Partial) => {}
                Err(e) => return Err(ReadEnd::Fail(e.status(), e.to_string())),
            }
            if self.shared.stopping.load(Ordering::SeqCst) && buf.is_empty() {
                return Err(ReadEnd::Quiet);
            }
            let timeout = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => KEEPALIVE_IDLE,
            };
            if timeout.is_zero() {
                return Err(ReadEnd::Fail(
                    408,
                    "request head not received in time".into(),
                ));
            }
            match self.read_more(buf, timeout) {
                Ok(0) => return Err(ReadEnd::Quiet),
                Ok(_) => {
                    deadline.get_or_insert_with(|| Instant::now() + HEAD_READ_TIMEOUT);
                }
                Err(e) if is_timeout(&e) => {
                    return if deadline.is_none() {
                        Err(ReadEnd::Quiet)
                    } else {
                        Err(ReadEnd::Fail(
                            408,
                            "request head not received in time".into(),
                        ))
                    };
                }
                Err(_) => return Err(ReadEnd::Quiet),
            }
        };

        let limit = self.options.max_body_bytes;
        let framing = framing(&head, limit).map_err(body_fail)?;
        if let Some(expect) = head.header("expect") {
            if !expect.eq_ignore_ascii_case("100-continue") {
                return Err(ReadEnd::Fail(
                    417,
                    format!("unsupported expectation \"{expect}\""),
                ));
            }
            if framing != Framing::None && buf.is_empty() {
                let _ = (&mut &*self.stream).write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
        }
        let body_deadline = Instant::now() + self.options.body_timeout;
        let body = match framing {
            Framing::None => Vec::new(),
            Framing::Length(n) => {
                // Bounded by `limit` in `framing`, so the cast cannot truncate.
                let n = n as usize;
                while buf.len() < n {
                    self.read_body_bytes(buf, body_deadline)?;
                }
                let rest = buf.split_off(n);
                std::mem::replace(buf, rest)
            }
            Framing::Chunked => {
                let mut decoder = ChunkedDecoder::new(limit);
                let mut body = Vec::new();
                loop {
                    let used = decoder.feed(buf, &mut body).map_err(body_fail)?;
                    buf.drain(..used);
                    if decoder.is_done() {
                        break body;
                    }
                    self.read_body_bytes(buf, body_deadline)?;
                }
            }
        };
        Ok((head, body))
    }

    /// Reads more of a body: each read within `BODY_IDLE_TIMEOUT`, all of
    /// them before `deadline`.
    fn read_body_bytes(&mut self, buf: &mut Vec<u8>, deadline: Instant) -> Result<(), ReadEnd> {
        let left = deadline.saturating_duration_since(Instant::now());
        let total = self.options.body_timeout;
        let late = || {
            ReadEnd::Fail(
                408,
                format!(
                    "request body not received within {:.0}s",
                    total.as_secs_f64()
                ),
            )
        };
        if left.is_zero() {
            return Err(late());
        }
        match self.read_more(buf, BODY_IDLE_TIMEOUT.min(left)) {
            Ok(0) => Err(ReadEnd::Quiet),
            Ok(_) => Ok(()),
            Err(e) if is_timeout(&e) && left <= BODY_IDLE_TIMEOUT => Err(late()),
            Err(e) if is_timeout(&e) => Err(ReadEnd::Fail(
                408,
                "request body not received in time".into(),
            )),
            Err(_) => Err(ReadEnd::Quiet),
        }
    }

    /// Bounds the socket's reads by `timeout`, unless they are already.
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        if self.read_timeout != Some(timeout) {
            self.read_timeout = None;
            self.stream.set_read_timeout(Some(timeout))?;
            self.read_timeout = Some(timeout);
        }
        Ok(())
    }

    fn read_more(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> io::Result<usize> {
        self.set_read_timeout(timeout.max(Duration::from_millis(1)))?;
        let mut chunk = [0u8; 8192];
        let n = (&mut &*self.stream).read(&mut chunk)?;
        self.options
            .traffic
            .received
            .fetch_add(n as u64, Ordering::Relaxed);
        buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Writes a response; returns whether the connection may be reused and
    /// how many body bytes went out.
    fn write_response(
        &mut self,
        mut response: Response,
        version: Version,
        keep_alive: bool,
        is_head: bool,
    ) -> (bool, u64) {
        let no_body = is_head || response.status == 204 || response.status == 304;
        match std::mem::replace(&mut response.body, Body::Empty) {
            Body::Stream(f) if !no_body => {
                let chunked = version == Version::Http11;
                let keep = keep_alive && chunked && !response.close;
                let length = if chunked {
                    Length::Chunked
                } else {
                    Length::UntilClose
                };
                let head = head_bytes(response.status, &response.headers, length, keep);
                if (&mut &*self.stream).write_all(&head).is_err() {
                    return (false, 0);
                }
                self.options.traffic.sent(head.len());
                let mut writer = StreamWriter::new(&self.stream, chunked);
                if let Err(panic) = catch_unwind(AssertUnwindSafe(|| f(&mut writer))) {
                    error!("{}: stream panicked: {}", self.peer, panic_text(&panic));
                    return (false, writer.bytes_sent());
                }
                let (finished, sent) = writer.finish();
                self.options.traffic.sent(sent as usize);
                let _ = self.stream.set_write_timeout(Some(RESPONSE_WRITE_TIMEOUT));
                (keep && finished, sent)
            }
            body => {
                let bytes = match body {
                    Body::Bytes(b) => b,
                    _ => Vec::new(),
                };
                let keep = keep_alive && !response.close;
                let length = if response.status == 204 || response.status == 304 {
                    Length::UntilClose
                } else {
                    Length::Fixed(bytes.len())
                };
                let mut out = head_bytes(response.status, &response.headers, length, keep);
                if !no_body {
                    out.extend_from_slice(&bytes);
                }
                let sent = if no_body { 0 } else { bytes.len() as u64 };
                match (&mut &*self.stream).write_all(&out) {
                    Ok(()) => {
                        self.options.traffic.sent(out.len());
                        (keep, sent)
                    }
                    Err(_) => (false, 0),
                }
            }
        }
    }
}

/// A response is out (or could not be written): its `after` hook runs,
/// and the access line is logged.
fn finished(
    peer: SocketAddr,
    (method, path, status): (&str, &str, u16),
    bytes: u64,
    started: Instant,
    after: Option<After>,
) {
    if let Some(After(f)) = after {
        f();
    }
    info!(
        "{peer} {method} {path} {status} {bytes}B {:.1}ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
}

fn body_fail(e: BodyError) -> ReadEnd {
    ReadEnd::Fail(e.status(), e.to_string())
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}
