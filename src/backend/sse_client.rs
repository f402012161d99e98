//! The legacy HTTP+SSE transport to a backend (MCP 2024-11-05, Transports
//! §HTTP with SSE).
//!
//! `GET url` with `Accept: text/event-stream` on an agent of its own (so
//! [`SseTransport::stop`] can cut the blocked read at once with
//! `Agent::shutdown`), read by our SSE parser on a reader thread. The first
//! `endpoint` event's data is resolved against `url` (RFC 3986 §5.2);
//! another origin is refused. `message` events carry JSON-RPC for
//! `Connection::dispatch`; empty data (priming) is skipped; one that cannot
//! be read (not UTF-8, not JSON, nested too deep) fails the call it answers
//! at once when `salvage` finds its id, and so does an event over the size
//! limit before the stream is dropped for it. A writer thread
//! POSTs each outgoing message to the endpoint on a second agent; a non-2xx
//! answer fails that request, a JSON body in the answer is taken as a reply
//! (some servers answer in the POST), a 401 refreshes OAuth 2 once. When the
//! stream ends the connection closes and the supervisor reconnects.
//!
//! The protocol decisions (is this GET answer a stream, what an event is,
//! where the endpoint is, whether a POST answer carries a reply) are pure
//! functions at the bottom of the file, tested without a socket.

use std::fmt;
use std::io::Read;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use serde_json::Value;
use ureq::Agent;

use super::agent::Limits;
use super::auth::{Credentials, SendError, with_headers};
use super::connection::{CallError, Connection, Frame};
use super::events::EventSender;
use super::salvage;
use super::sse_read::{Ended, read_events};
use crate::limits::{
    BACKEND_STACK_BYTES, MAX_BACKEND_MESSAGE_BYTES, MAX_CONCURRENT_POSTS, SSE_IDLE_TIMEOUT,
};
use crate::mcp::method;
use crate::queue::Receiver;
use crate::redact;
use crate::sse::Parser;
use crate::sync::spawn_named;
use crate::workers::Bounded;

/// The whole-exchange timeout of a POST to the message endpoint.
const POST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one connection attempt waits while polling a launched server.
const LISTEN_PROBE_TIMEOUT: Duration = Duration::from_millis(200);

/// How often a launched server's port is polled.
const LISTEN_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Why an SSE backend could not be connected.
#[derive(Debug)]
pub enum ConnectError {
    /// The GET of the stream got no response.
    Get {
        /// The backend URL.
        url: String,
        /// Why.
        source: SendError,
    },
    /// The GET was answered with another status than 200.
    Status {
        /// The backend URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The GET was answered with something other than an event stream.
    NotAStream {
        /// The backend URL.
        url: String,
        /// The media type it answered with (empty when none).
        media_type: String,
    },
    /// A thread of the transport could not be started.
    Thread(std::io::Error),
    /// The `endpoint` event names no usable endpoint.
    Endpoint(EndpointError),
    /// The stream ended before the `endpoint` event; why.
    StreamEnded(String),
    /// No `endpoint` event came within the connect timeout.
    NoEndpoint(Duration),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Get { url, source } => write!(f, "GET {url}: {source}"),
            ConnectError::Status { url, status } => write!(f, "GET {url}: HTTP {status}"),
            ConnectError::NotAStream { url, media_type } => write!(
                f,
                "GET {url}: expected text/event-stream, got \"{media_type}\""
            ),
            ConnectError::Thread(e) => write!(f, "{e}"),
            ConnectError::Endpoint(e) => write!(f, "{e}"),
            ConnectError::StreamEnded(cause) => f.write_str(cause),
            ConnectError::NoEndpoint(waited) => {
                write!(f, "no endpoint event within {:.1}s", waited.as_secs_f64())
            }
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Get { source, .. } => Some(source),
            ConnectError::Thread(e) => Some(e),
            ConnectError::Endpoint(e) => Some(e),
            ConnectError::Status { .. }
            | ConnectError::NotAStream { .. }
            | ConnectError::StreamEnded(_)
            | ConnectError::NoEndpoint(_) => None,
        }
    }
}

/// Why an `endpoint` event's data is not a usable message endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointError {
    /// The event's data is empty.
    Empty,
    /// The data contains whitespace (a URL reference has none).
    Whitespace,
    /// The backend URL is not an absolute URL.
    BadBase(String),
    /// The resolved endpoint is not an absolute URL.
    BadEndpoint(String),
    /// The endpoint is on another origin than the stream: refused, so a
    /// backend cannot make the gateway POST elsewhere with its credentials.
    OtherOrigin {
        /// The resolved endpoint.
        endpoint: String,
        /// The backend URL.
        base: String,
    },
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointError::Empty => f.write_str("empty endpoint event"),
            EndpointError::Whitespace => f.write_str("endpoint contains whitespace"),
            EndpointError::BadBase(base) => write!(f, "bad backend URL {base}"),
            EndpointError::BadEndpoint(reference) => write!(f, "bad endpoint {reference}"),
            EndpointError::OtherOrigin { endpoint, base } => write!(
                f,
                "endpoint {endpoint} is on another origin than {base}; refused"
            ),
        }
    }
}

impl std::error::Error for EndpointError {}

/// Why a launched server's URL never answered.
#[derive(Debug)]
pub enum ListenError {
    /// The URL is not an absolute URL.
    BadUrl(String),
    /// The launched process exited first.
    Exited,
    /// Nothing accepted connections within the limit.
    Silent {
        /// The URL polled.
        url: String,
        /// How long it was polled.
        limit: Duration,
    },
}

impl fmt::Display for ListenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenError::BadUrl(url) => write!(f, "bad URL {url}"),
            ListenError::Exited => {
                f.write_str("the launched process exited before its URL answered")
            }
            ListenError::Silent { url, limit } => write!(
                f,
                "{url} did not answer within {:.1}s of launch",
                limit.as_secs_f64()
            ),
        }
    }
}

impl std::error::Error for ListenError {}

/// Why a POST to the message endpoint failed.
#[derive(Debug)]
enum PostError {
    /// No response (connect, TLS, timeout, credentials).
    Send(SendError),
    /// A non-2xx status.
    Status(u16),
    /// The JSON body of the answer could not be read.
    Read(ureq::Error),
}

impl fmt::Display for PostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostError::Send(e) => write!(f, "POST failed: {e}"),
            PostError::Status(status) => write!(f, "HTTP {status} from the message endpoint"),
            PostError::Read(e) => write!(f, "reading the POST answer: {e}"),
        }
    }
}

impl std::error::Error for PostError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PostError::Send(e) => Some(e),
            PostError::Read(e) => Some(e),
            PostError::Status(_) => None,
        }
    }
}

/// A running SSE stream; stopping it closes the connection.
#[derive(Debug)]
pub struct SseTransport {
    name: String,
    stream_agent: Mutex<Option<Agent>>,
    stopping: Arc<AtomicBool>,
}

impl SseTransport {
    /// Cuts the stream (the reader returns at once) and stops the writer.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(agent) = self
            .stream_agent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            debug!("[{}] closing the SSE stream", self.name);
            agent.shutdown();
        }
    }
}

/// What the reader thread tells `connect` once: the resolved endpoint, or
/// why there is none.
type EndpointSender = SyncSender<Result<String, ConnectError>>;

/// Opens the stream, waits for the `endpoint` event (at most `timeout`),
/// and returns the connection. `events` gets notifications and the close.
pub fn connect(
    name: &str,
    url: &str,
    credentials: Arc<Credentials>,
    timeout: Duration,
    events: EventSender,
) -> Result<(Arc<Connection>, SseTransport), ConnectError> {
    let stream_agent = credentials.agent(Limits::stream(timeout, SSE_IDLE_TIMEOUT));
    let response = credentials
        .send(|headers| {
            let request = stream_agent
                .get(url)
                .header("Accept", "text/event-stream")
                .header("Cache-Control", "no-cache");
            with_headers(request, &headers).call()
        })
        .map_err(|source| ConnectError::Get {
            url: url.to_owned(),
            source,
        })?;
    check_stream(
        url,
        response.status().as_u16(),
        &super::content_type(&response),
    )?;
    info!("[{name}] SSE stream open: {}", redact::url(url));
    let (conn, outbound) = Connection::new(name, events).map_err(ConnectError::Thread)?;
    let stopping = Arc::new(AtomicBool::new(false));
    let (endpoint_tx, endpoint_rx) = sync_channel(1);
    let reader = {
        let conn = conn.clone();
        let stopping = stopping.clone();
        let base = url.to_owned();
        let body = response.into_body().into_reader();
        spawn_named(
            format!("argus-sse-{name}"),
            BACKEND_STACK_BYTES,
            move || read_stream(&conn, body, &base, &endpoint_tx, &stopping),
        )
    };
    let transport = SseTransport {
        name: name.to_owned(),
        stream_agent: Mutex::new(Some(stream_agent)),
        stopping: stopping.clone(),
    };
    if let Err(e) = reader {
        transport.stop();
        return Err(ConnectError::Thread(e));
    }
    let endpoint = match endpoint_rx.recv_timeout(timeout) {
        Ok(found) => found,
        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
            Err(ConnectError::NoEndpoint(timeout))
        }
    };
    let endpoint = match endpoint {
        Ok(endpoint) => endpoint,
        Err(e) => {
            transport.stop();
            conn.close(&e.to_string());
            return Err(e);
        }
    };
    debug!("[{name}] message endpoint: {}", redact::url(&endpoint));
    let writer = {
        let conn = conn.clone();
        let credentials = credentials.clone();
        spawn_named(
            format!("argus-post-{name}"),
            BACKEND_STACK_BYTES,
            move || post_loop(&conn, &endpoint, &credentials, &outbound, &stopping),
        )
    };
    if let Err(e) = writer {
        transport.stop();
        conn.close("cannot start the writer");
        return Err(ConnectError::Thread(e));
    }
    Ok((conn, transport))
}

/// Reads the stream until it ends; the first `endpoint` event goes to
/// `endpoint_tx`, `message` events to the connection. Runs on the
/// transport's reader thread (`argus-sse-<name>`), under no lock.
fn read_stream(
    conn: &Connection,
    mut body: impl Read,
    base: &str,
    endpoint_tx: &EndpointSender,
    stopping: &AtomicBool,
) {
    let name = conn.name().to_owned();
    let mut parser = Parser::new(MAX_BACKEND_MESSAGE_BYTES);
    let mut endpoint_sent = false;
    let mut endpoint_refused = false;
    // Called on this reader thread for each event, under no lock.
    let on_event = |event: crate::sse::Event| {
        match event_kind(&event.event, endpoint_sent) {
            StreamEvent::Endpoint => {
                endpoint_sent = true;
                let resolved =
                    resolve_endpoint(base, event.data.trim()).map_err(ConnectError::Endpoint);
                endpoint_refused = resolved.is_err();
                let _ = endpoint_tx.send(resolved);
                if endpoint_refused {
                    return ControlFlow::Break(());
                }
            }
            StreamEvent::Message => match salvage::event_message(&event) {
                Some(Ok(value)) => conn.dispatch(value),
                Some(Err(bad)) => {
                    if let Some((bad, n)) = conn.unreadable(bad, None) {
                        warn!(
                            "[{name}] unreadable SSE message skipped ({}; {n} so far): {}",
                            bad.fault, bad.preview
                        );
                    }
                }
                None => {}
            },
            StreamEvent::Ignored => debug!("[{name}] SSE event \"{}\" ignored", event.event),
        }
        ControlFlow::Continue(())
    };
    let ended = read_events(
        &mut body,
        &mut parser,
        &|| stopping.load(Ordering::SeqCst),
        on_event,
    );
    if endpoint_refused {
        return;
    }
    if matches!(ended, Ended::TooLarge(_)) {
        // Its call hears why now; the others, that the stream closed.
        let head = parser.oversized_head();
        let bad = salvage::too_long(head, None, MAX_BACKEND_MESSAGE_BYTES);
        let _ = conn.unreadable(bad, None);
    }
    let cause = end_cause(&ended);
    if !endpoint_sent {
        let _ = endpoint_tx.send(Err(ConnectError::StreamEnded(cause.clone())));
    }
    if !stopping.load(Ordering::SeqCst) {
        info!("[{name}] {cause}");
    }
    conn.close(&cause);
}

/// POSTs every outgoing message to the endpoint: requests on workers (at
/// most `MAX_CONCURRENT_POSTS` at once), so one the server is slow to take
/// never holds up the rest; notifications and answers in order, here.
/// Runs on the transport's writer thread (`argus-post-<name>`).
fn post_loop(
    conn: &Arc<Connection>,
    endpoint: &str,
    credentials: &Arc<Credentials>,
    outbound: &Receiver<Frame>,
    stopping: &Arc<AtomicBool>,
) {
    let agent = credentials.agent(Limits::exchange(POST_TIMEOUT));
    let posts = Bounded::new(
        &format!("argus-call-{}", conn.name()),
        BACKEND_STACK_BYTES,
        MAX_CONCURRENT_POSTS,
    );
    let endpoint: Arc<str> = endpoint.into();
    while let Ok(frame) = outbound.recv() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let request = frame
            .id
            .filter(|_| frame.method.as_deref() != Some(method::INITIALIZE));
        if let Some(id) = request {
            let (task_conn, agent, endpoint, credentials, stopping) = (
                conn.clone(),
                agent.clone(),
                endpoint.clone(),
                credentials.clone(),
                stopping.clone(),
            );
            // Runs on a worker thread of `posts` (`argus-call-<name>`),
            // under no lock.
            let spawned = posts.run(Box::new(move || {
                if !stopping.load(Ordering::SeqCst) {
                    deliver(&agent, &task_conn, &endpoint, &credentials, &frame);
                }
            }));
            if let Err(e) = spawned {
                conn.fail(id, CallError::Send(format!("cannot start a worker: {e}")));
            }
            continue;
        }
        deliver(&agent, conn, &endpoint, credentials, &frame);
    }
}

/// POSTs one message; a failure goes to its request, or to the log.
fn deliver(
    agent: &Agent,
    conn: &Connection,
    endpoint: &str,
    credentials: &Credentials,
    frame: &Frame,
) {
    if let Err(why) = post_one(agent, conn, endpoint, credentials, &frame.bytes) {
        match frame.id {
            Some(id) => conn.fail(id, CallError::Send(why.to_string())),
            None => warn!(
                "[{}] message not delivered: {}",
                conn.name(),
                redact::text(&why.to_string())
            ),
        }
    }
}

/// POSTs one message; a JSON-RPC message in the answer's body is dispatched.
fn post_one(
    agent: &Agent,
    conn: &Connection,
    endpoint: &str,
    credentials: &Credentials,
    message: &[u8],
) -> Result<(), PostError> {
    let mut response = credentials
        .send(|headers| {
            let request = agent
                .post(endpoint)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream");
            with_headers(request, &headers).send(message)
        })
        .map_err(PostError::Send)?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(PostError::Status(status));
    }
    if super::content_type(&response) == "application/json" {
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BACKEND_MESSAGE_BYTES as u64)
            .read_to_vec()
            .map_err(PostError::Read)?;
        if let Some(reply) = reply_in_post_body(&body) {
            conn.dispatch(reply);
        }
    }
    Ok(())
}

/// Waits until something accepts TCP connections at `url`'s host and port,
/// at most `limit` (a launched backend's `sse_startup`); polls every
/// [`LISTEN_POLL_INTERVAL`]. Gives up early when `exited` says the launched
/// process is gone.
pub fn wait_until_listening(
    url: &str,
    limit: Duration,
    exited: impl Fn() -> bool,
) -> Result<(), ListenError> {
    let (scheme, authority, _) =
        split_url(url).ok_or_else(|| ListenError::BadUrl(url.to_owned()))?;
    let (host, port) = host_port(scheme, authority);
    let deadline = Instant::now() + limit;
    loop {
        let addrs = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port));
        for addr in addrs.into_iter().flatten() {
            if std::net::TcpStream::connect_timeout(&addr, LISTEN_PROBE_TIMEOUT).is_ok() {
                return Ok(());
            }
        }
        if exited() {
            return Err(ListenError::Exited);
        }
        if Instant::now() >= deadline {
            return Err(ListenError::Silent {
                url: url.to_owned(),
                limit,
            });
        }
        thread::sleep(LISTEN_POLL_INTERVAL);
    }
}

// The protocol decisions, pure.

/// Whether the answer to the stream's GET is an event stream we can read.
fn check_stream(url: &str, status: u16, media_type: &str) -> Result<(), ConnectError> {
    if status != 200 {
        return Err(ConnectError::Status {
            url: url.to_owned(),
            status,
        });
    }
    if media_type != "text/event-stream" {
        return Err(ConnectError::NotAStream {
            url: url.to_owned(),
            media_type: media_type.to_owned(),
        });
    }
    Ok(())
}

/// What an event on the legacy stream is to us.
#[derive(Debug, PartialEq, Eq)]
enum StreamEvent {
    /// The first `endpoint` event: where to POST.
    Endpoint,
    /// A `message` event: JSON-RPC from the server.
    Message,
    /// Anything else, a second `endpoint` included.
    Ignored,
}

/// Classifies an event by its name; `endpoint_seen`: an `endpoint` event
/// came before (only the first one counts).
fn event_kind(name: &str, endpoint_seen: bool) -> StreamEvent {
    match name {
        "endpoint" if !endpoint_seen => StreamEvent::Endpoint,
        "message" => StreamEvent::Message,
        _ => StreamEvent::Ignored,
    }
}

/// Why the stream ended, as the connection's close cause.
fn end_cause(ended: &Ended) -> String {
    match ended {
        Ended::Stopped | Ended::Handler => "stream closed by the gateway".to_owned(),
        Ended::Eof => "the server ended the SSE stream".to_owned(),
        Ended::Idle => format!("SSE stream idle for {}s", SSE_IDLE_TIMEOUT.as_secs()),
        Ended::Failed(e) => format!("SSE stream failed: {e}"),
        Ended::TooLarge(e) => {
            format!("{e} (limit {MAX_BACKEND_MESSAGE_BYTES} bytes); dropping the stream")
        }
    }
}

/// The JSON-RPC message in a POST answer's JSON body, if it is one: some
/// servers answer there instead of on the stream, and we take it.
fn reply_in_post_body(body: &[u8]) -> Option<Value> {
    let value = serde_json::from_slice::<Value>(body).ok()?;
    value.get("jsonrpc").is_some().then_some(value)
}

/// `scheme://authority` and the path of an absolute http(s) URL.
fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let path = path.split(['?', '#']).next().unwrap_or("");
    Some((scheme, authority, path))
}

/// Host (without brackets) and port of an authority, the port defaulting by scheme.
fn host_port(scheme: &str, authority: &str) -> (String, u16) {
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let default = if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, after)) => (h, after.strip_prefix(':')),
            None => (rest, None),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = port.and_then(|p| p.parse().ok()).unwrap_or(default);
    (host.to_ascii_lowercase(), port)
}

/// The origin (scheme, host, port) of a URL, comparable across spellings.
fn origin(scheme: &str, authority: &str) -> (String, String, u16) {
    let (host, port) = host_port(scheme, authority);
    (scheme.to_ascii_lowercase(), host, port)
}

/// Resolves the `endpoint` event's data against the SSE URL (RFC 3986 §5.2)
/// and refuses another origin.
pub fn resolve_endpoint(base: &str, reference: &str) -> Result<String, EndpointError> {
    if reference.is_empty() {
        return Err(EndpointError::Empty);
    }
    if reference.contains(['\r', '\n', ' ']) {
        return Err(EndpointError::Whitespace);
    }
    let (scheme, authority, base_path) =
        split_url(base).ok_or_else(|| EndpointError::BadBase(base.to_owned()))?;
    let resolved = if reference.contains("://") {
        reference.to_owned()
    } else if let Some(rest) = reference.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if reference.starts_with('/') {
        format!("{scheme}://{authority}{}", remove_dots(reference))
    } else if reference.starts_with('?') {
        format!("{scheme}://{authority}{base_path}{reference}")
    } else {
        let dir = base_path.rfind('/').map_or("/", |i| &base_path[..=i]);
        format!(
            "{scheme}://{authority}{}",
            remove_dots(&format!("{dir}{reference}"))
        )
    };
    let (r_scheme, r_authority, _) =
        split_url(&resolved).ok_or_else(|| EndpointError::BadEndpoint(reference.to_owned()))?;
    if origin(r_scheme, r_authority) != origin(scheme, authority) {
        return Err(EndpointError::OtherOrigin {
            endpoint: resolved,
            base: base.to_owned(),
        });
    }
    Ok(resolved)
}

/// Removes `.` and `..` segments from a path (keeping its query).
fn remove_dots(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.find(['?', '#']) {
        Some(i) => path_and_query.split_at(i),
        None => (path_and_query, ""),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {
                if i == segments.len() - 1 {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == segments.len() - 1 {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("{}{query}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_resolution() {
        let base = "http://127.0.0.1:8000/sse";
        assert_eq!(
            resolve_endpoint(base, "/messages/?session_id=ab").unwrap(),
            "http://127.0.0.1:8000/messages/?session_id=ab"
        );
        assert_eq!(
            resolve_endpoint(base, "/message?sessionId=x").unwrap(),
            "http://127.0.0.1:8000/message?sessionId=x"
        );
        assert_eq!(
            resolve_endpoint("http://h/api/v1/sse", "messages?x=1").unwrap(),
            "http://h/api/v1/messages?x=1"
        );
        assert_eq!(
            resolve_endpoint("http://h/api/v1/sse", "../m").unwrap(),
            "http://h/api/m"
        );
        assert_eq!(
            resolve_endpoint(base, "http://127.0.0.1:8000/m").unwrap(),
            "http://127.0.0.1:8000/m"
        );
        assert_eq!(
            resolve_endpoint("https://h/sse", "https://H:443/m").unwrap(),
            "https://H:443/m"
        );
        assert!(resolve_endpoint(base, "http://127.0.0.1:8001/m").is_err());
        assert!(resolve_endpoint(base, "https://127.0.0.1:8000/m").is_err());
        assert!(resolve_endpoint(base, "//evil.example/m").is_err());
        assert!(resolve_endpoint(base, "").is_err());
    }

    #[test]
    fn endpoint_errors_say_what_is_wrong() {
        let base = "http://127.0.0.1:8000/sse";
        assert_eq!(resolve_endpoint(base, ""), Err(EndpointError::Empty));
        assert_eq!(
            resolve_endpoint(base, "/m x"),
            Err(EndpointError::Whitespace)
        );
        assert_eq!(
            resolve_endpoint("not a url", "/m"),
            Err(EndpointError::BadBase("not a url".into()))
        );
        let foreign = resolve_endpoint(base, "http://127.0.0.1:8001/m").unwrap_err();
        assert_eq!(
            foreign.to_string(),
            "endpoint http://127.0.0.1:8001/m is on another origin than \
             http://127.0.0.1:8000/sse; refused"
        );
    }

    #[test]
    fn the_stream_answer_must_be_a_200_event_stream() {
        let url = "http://h/sse";
        assert!(check_stream(url, 200, "text/event-stream").is_ok());
        assert_eq!(
            check_stream(url, 404, "text/event-stream")
                .unwrap_err()
                .to_string(),
            "GET http://h/sse: HTTP 404"
        );
        assert_eq!(
            check_stream(url, 200, "text/html").unwrap_err().to_string(),
            "GET http://h/sse: expected text/event-stream, got \"text/html\""
        );
        assert_eq!(
            check_stream(url, 200, "").unwrap_err().to_string(),
            "GET http://h/sse: expected text/event-stream, got \"\""
        );
    }

    #[test]
    fn only_the_first_endpoint_event_counts() {
        assert_eq!(event_kind("endpoint", false), StreamEvent::Endpoint);
        assert_eq!(event_kind("endpoint", true), StreamEvent::Ignored);
        assert_eq!(event_kind("message", false), StreamEvent::Message);
        assert_eq!(event_kind("message", true), StreamEvent::Message);
        assert_eq!(event_kind("ping", true), StreamEvent::Ignored);
        assert_eq!(event_kind("", false), StreamEvent::Ignored);
    }

    #[test]
    fn stream_end_causes() {
        assert_eq!(end_cause(&Ended::Eof), "the server ended the SSE stream");
        assert_eq!(end_cause(&Ended::Stopped), "stream closed by the gateway");
        assert_eq!(
            end_cause(&Ended::Failed("reset".into())),
            "SSE stream failed: reset"
        );
        assert!(
            end_cause(&Ended::TooLarge("SSE event larger than 9 bytes".into()))
                .starts_with("SSE event larger than 9 bytes (limit ")
        );
        assert!(end_cause(&Ended::Idle).starts_with("SSE stream idle for "));
    }

    #[test]
    fn a_json_rpc_post_answer_is_a_reply_anything_else_is_not() {
        let reply = br#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
        assert_eq!(
            reply_in_post_body(reply),
            Some(serde_json::json!({"jsonrpc":"2.0","id":1,"result":{}}))
        );
        assert_eq!(reply_in_post_body(br#"{"ok":true}"#), None);
        assert_eq!(reply_in_post_body(b"Accepted"), None);
        assert_eq!(reply_in_post_body(b""), None);
    }

    #[test]
    fn post_and_listen_errors_keep_their_texts() {
        assert_eq!(
            PostError::Status(500).to_string(),
            "HTTP 500 from the message endpoint"
        );
        assert_eq!(
            ListenError::Exited.to_string(),
            "the launched process exited before its URL answered"
        );
        assert_eq!(
            ConnectError::NoEndpoint(Duration::from_millis(500)).to_string(),
            "no endpoint event within 0.5s"
        );
    }
}
