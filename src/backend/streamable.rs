//! The Streamable HTTP transport to a backend (MCP 2025-06-18, Transports
//! §Streamable HTTP; resumption as in MCP 2025-11-25).
//!
//! A writer thread POSTs each outgoing message with `Accept:
//! application/json, text/event-stream`, the session id once the server
//! gave one, and `MCP-Protocol-Version` once negotiated. A JSON answer is
//! dispatched at once; an SSE answer is read to its end. An answer that
//! cannot be read (not UTF-8, not JSON, nested too deep, over the size
//! limit) fails its call at once: a JSON body, the request POSTed; an
//! event, the request whose id `salvage` finds in it (one over the size
//! limit ends its stream, so failing that, the request the stream
//! answers). Requests are
//! POSTed by bounded worker threads, so a long call never blocks the others.
//! After `notifications/initialized` a GET stream is opened for
//! server-initiated messages (405 means the server has none) and reopened
//! with backoff when it ends; a 2026-07-28 server gets a
//! `subscriptions/listen` POST for that instead ([`StreamableTransport::listen`]).
//! A request's answer stream is dropped once nobody waits for the answer
//! (the 2026-07-28 cancellation). A 404 for our session re-initializes and
//! retries once; a 401 refreshes OAuth 2 once; a backend that cannot be
//! reached closes the connection so the supervisor reconnects. Stopping
//! DELETEs the session and cuts every open stream.
//!
//! The protocol decisions (what a POST's answer means, the session id it
//! assigns, the version an `initialize` answer negotiates, whether a push
//! or resumed stream opened, how long to wait before resuming) are pure
//! functions at the bottom of the file, tested without a socket; the IO
//! above them only reads what they ask for and acts on what they say.

use std::fmt;
use std::io::Read;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use serde_json::Value;
use ureq::Agent;

use super::agent::Limits;
use super::auth::{Credentials, SendError, TokenError, with_headers};
use super::connection::{CallError, Connection, Frame};
use super::events::EventSender;
use super::salvage::{self, Unreadable};
use super::sse_read::{self, Ended};
use crate::jsonrpc::Message;
use crate::limits::{
    BACKEND_STACK_BYTES, MAX_BACKEND_MESSAGE_BYTES, MAX_CONCURRENT_POSTS, SSE_IDLE_TIMEOUT,
};
use crate::mcp::{self, method};
use crate::queue::Receiver;
use crate::sse::Parser;
use crate::sync::spawn_named;
use crate::workers::Bounded;

/// How often one answer stream is resumed at most.
const MAX_RESUMPTIONS: usize = 10;

/// The longest `retry:` we wait before resuming a stream.
const MAX_RESUME_DELAY: Duration = Duration::from_secs(10);

/// How long a resumed stream has for its head when its request's own
/// timeout is no longer known.
const RESUME_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the DELETE of the session on stop may take.
const DELETE_TIMEOUT: Duration = Duration::from_secs(2);

/// How much longer than the call timeout a POST's answer head may take
/// (only frees the worker: the caller hears its timeout from the timer).
const POST_HEAD_MARGIN: Duration = Duration::from_secs(10);

/// The most of a 4xx answer's body we read to learn what it means.
const MAX_ERROR_BODY_BYTES: u64 = 64 * 1024;

/// How long a push stream has for its head.
const PUSH_OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The first wait before a push stream is reopened; it doubles up to
/// [`PUSH_BACKOFF_MAX`].
const PUSH_BACKOFF_START: Duration = Duration::from_millis(500);

/// The longest wait before a push stream is reopened.
const PUSH_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// A push stream that stayed open this long was healthy: the backoff
/// starts over.
const PUSH_HEALTHY_AFTER: Duration = Duration::from_secs(30);

/// What the transport learned from the handshake with the remote server:
/// its session, the negotiated version, and how to start over.
#[derive(Debug, Default)]
struct RemoteSession {
    id: Option<String>,
    version: Option<String>,
    /// The `initialize` request as sent, for re-initializing after a 404.
    init: Option<Vec<u8>>,
    /// The id of that request (its answer carries the version).
    init_id: Option<u64>,
}

/// What the transport's threads share: the writer, the POST workers and
/// the push and resumed streams.
struct StreamableState {
    name: String,
    url: String,
    credentials: Arc<Credentials>,
    session: Mutex<RemoteSession>,
    stopping: AtomicBool,
    /// Wakes backoff waits when the transport stops.
    stop_wake: (Mutex<()>, Condvar),
    /// Agents whose sockets `stop` must cut: the POST agent and the GET stream's.
    agents: Mutex<Vec<Agent>>,
    /// Held while re-initializing, so concurrent 404s re-initialize once.
    reinit: Mutex<()>,
    /// POSTs requests, at most `MAX_CONCURRENT_POSTS` at once.
    posts: Arc<Bounded>,
}

impl StreamableState {
    fn session(&self) -> MutexGuard<'_, RemoteSession> {
        // Plain fields replaced whole.
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// A running Streamable HTTP transport.
pub struct StreamableTransport {
    shared: Arc<StreamableState>,
}

impl std::fmt::Debug for StreamableTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamableTransport")
            .field("name", &self.shared.name)
            .finish()
    }
}

impl StreamableTransport {
    /// DELETEs the session (bounded) and cuts every open stream. Idempotent.
    pub fn stop(&self) {
        if self.shared.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        self.shared.stop_wake.1.notify_all();
        let id = self.shared.session().id.clone();
        if let Some(id) = id {
            let agent = self
                .shared
                .credentials
                .agent(Limits::exchange(DELETE_TIMEOUT));
            let sent = self.shared.credentials.send(|credentials| {
                let request = agent
                    .delete(&self.shared.url)
                    .header(mcp::header::SESSION_ID, &id);
                with_headers(request, &credentials).call()
            });
            match sent {
                Ok(r) => debug!("[{}] DELETE session: HTTP {}", self.shared.name, r.status()),
                Err(e) => debug!("[{}] DELETE session failed: {e}", self.shared.name),
            }
        }
        let agents =
            std::mem::take(&mut *self.shared.agents.lock().unwrap_or_else(|e| e.into_inner()));
        for agent in agents {
            agent.shutdown();
        }
    }
}

/// Starts the transport; the handshake then runs through the returned connection.
pub fn connect(
    name: &str,
    url: &str,
    credentials: Arc<Credentials>,
    call_timeout: Duration,
    events: EventSender,
) -> std::io::Result<(Arc<Connection>, StreamableTransport)> {
    let (conn, outbound) = Connection::new(name, events)?;
    // A JSON-mode server holds the POST until the result is ready, so the
    // answer head may take as long as the call; the connection's timer
    // answers the caller at `call` anyway, this only frees the thread.
    let post_agent = credentials.agent(Limits::stream(
        call_timeout + POST_HEAD_MARGIN,
        SSE_IDLE_TIMEOUT,
    ));
    let shared = Arc::new(StreamableState {
        name: name.to_owned(),
        url: url.to_owned(),
        credentials,
        session: Mutex::new(RemoteSession::default()),
        stopping: AtomicBool::new(false),
        stop_wake: (Mutex::new(()), Condvar::new()),
        agents: Mutex::new(vec![post_agent.clone()]),
        reinit: Mutex::new(()),
        posts: Bounded::new(
            &format!("argus-call-{name}"),
            BACKEND_STACK_BYTES,
            MAX_CONCURRENT_POSTS,
        ),
    });
    let writer = {
        let (conn, shared) = (conn.clone(), shared.clone());
        spawn_named(
            format!("argus-post-{name}"),
            BACKEND_STACK_BYTES,
            move || post_loop(&conn, &shared, &post_agent, &outbound),
        )
    };
    if let Err(e) = writer {
        conn.close("cannot start the writer");
        return Err(e);
    }
    Ok((conn, StreamableTransport { shared }))
}

/// POSTs every outgoing message: requests on workers, the rest in order
/// here. Runs on the transport's writer thread (`argus-post-<name>`).
fn post_loop(
    conn: &Arc<Connection>,
    shared: &Arc<StreamableState>,
    agent: &Agent,
    outbound: &Receiver<Frame>,
) {
    while let Ok(frame) = outbound.recv() {
        if shared.stopping() {
            return;
        }
        let Frame {
            bytes: message,
            method,
            id: request_id,
            headers,
        } = frame;
        let method = method.unwrap_or_default();
        if method == method::INITIALIZE {
            let mut s = shared.session();
            s.init = Some(message.clone());
            s.init_id = request_id;
        }
        let job = OutgoingPost {
            message,
            method,
            id: request_id,
            headers,
        };
        if request_id.is_some() && job.method != method::INITIALIZE {
            // A request may take as long as the call: POST it on a worker so
            // the next messages (answers to the backend's own requests,
            // cancellations, other calls) are never held up behind it. With
            // every worker busy it waits in the backlog, not in this loop:
            // those busy calls may be waiting for exactly what comes next.
            // The task runs on a worker of `posts` (`argus-call-<name>`),
            // under no lock.
            let (task_conn, task_shared, agent) = (conn.clone(), shared.clone(), agent.clone());
            let spawned = shared.posts.run(Box::new(move || {
                if !task_shared.stopping() {
                    deliver_one(&task_conn, &task_shared, &agent, &job);
                }
            }));
            if let (Err(e), Some(id)) = (spawned, request_id) {
                conn.fail(id, CallError::Send(format!("cannot start a worker: {e}")));
            }
            continue;
        }
        if !deliver_one(conn, shared, agent, &job) {
            return;
        }
    }
}

/// A message for `deliver_one` to POST.
struct OutgoingPost {
    message: Vec<u8>,
    method: String,
    id: Option<u64>,
    /// A 2026-07-28 backend's routing headers.
    headers: Vec<(String, String)>,
}

/// POSTs one message and reports a failure to its request; returns `false`
/// when the server is unreachable (the connection is closed then).
fn deliver_one(
    conn: &Arc<Connection>,
    shared: &Arc<StreamableState>,
    agent: &Agent,
    job: &OutgoingPost,
) -> bool {
    let (method, request_id) = (job.method.as_str(), job.id);
    match post(
        conn,
        shared,
        agent,
        &job.message,
        &job.headers,
        true,
        request_id,
    ) {
        Ok(()) => {
            if method == method::INITIALIZED {
                open_get_stream(conn, shared);
            }
            true
        }
        Err(failure) if failure.is_unreachable() => {
            let why = failure.to_string();
            if let Some(id) = request_id {
                conn.fail(id, CallError::Send(why.clone()));
            }
            conn.close(&format!("unreachable: {why}"));
            false
        }
        Err(failure) => {
            let why = failure.to_string();
            match request_id {
                Some(id) => conn.fail(id, CallError::Send(why)),
                None => warn!(
                    "[{}] {method} not delivered: {}",
                    shared.name,
                    crate::redact::text(&why)
                ),
            }
            true
        }
    }
}

/// Why a message could not be POSTed, or its answer not read.
#[derive(Debug)]
enum PostFailure {
    /// The server could not be reached at all: reconnect.
    Unreachable {
        /// The endpoint.
        url: String,
        /// Why.
        source: ureq::Error,
    },
    /// No credentials (the OAuth 2 token request failed).
    Credentials(TokenError),
    /// The server answered with a status that is no answer.
    Status {
        /// The status.
        status: u16,
        /// The endpoint.
        url: String,
    },
    /// The answer's body could not be read.
    Read(ureq::Error),
    /// Our session expired before we had sent `initialize` on it.
    NoInitialize,
    /// The re-sent `initialize` got no answer with a version.
    ReinitUnanswered,
}

impl PostFailure {
    /// Whether the server could not be reached at all (then the connection
    /// closes and the supervisor reconnects).
    fn is_unreachable(&self) -> bool {
        matches!(self, PostFailure::Unreachable { .. })
    }
}

impl fmt::Display for PostFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostFailure::Unreachable { url, source } => write!(f, "POST {url}: {source}"),
            PostFailure::Credentials(e) => write!(f, "{e}"),
            PostFailure::Status { status, url } => write!(f, "HTTP {status} from {url}"),
            PostFailure::Read(e) => write!(f, "reading the answer: {e}"),
            PostFailure::NoInitialize => f.write_str("session expired before initialize"),
            PostFailure::ReinitUnanswered => f.write_str("re-initialize was not answered"),
        }
    }
}

impl std::error::Error for PostFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PostFailure::Unreachable { source, .. } => Some(source),
            PostFailure::Credentials(e) => Some(e),
            PostFailure::Read(e) => Some(e),
            PostFailure::Status { .. }
            | PostFailure::NoInitialize
            | PostFailure::ReinitUnanswered => None,
        }
    }
}

/// POSTs one message and handles the answer. `may_reinit`: a 404 for our
/// session re-initializes and retries once. `related`: the id of the request
/// POSTed, if it is one; what its answer stream carries is related to it.
/// Runs on the writer thread or a POST worker, under no lock (the
/// re-initialization lock while it re-initializes).
fn post(
    conn: &Arc<Connection>,
    shared: &Arc<StreamableState>,
    agent: &Agent,
    message: &[u8],
    headers: &[(String, String)],
    may_reinit: bool,
    related: Option<u64>,
) -> Result<(), PostFailure> {
    let mut may_reinit = may_reinit;
    loop {
        let (session_id, version) = {
            let s = shared.session();
            (s.id.clone(), s.version.clone())
        };
        let mut response = send_post(shared, agent, message, headers, &session_id, &version)?;
        let posted = Posted {
            in_session: session_id.is_some(),
            may_reinit,
            related,
        };
        let status = response.status().as_u16();
        let media_type = super::content_type(&response);
        let body = needs_body(status, &media_type, posted).then(|| {
            response
                .body_mut()
                .with_config()
                .limit(MAX_ERROR_BODY_BYTES)
                .read_to_vec()
                .ok()
        });
        match classify(status, &media_type, body.flatten().as_deref(), posted) {
            Answer::SessionGone => {
                may_reinit = false;
                let _one_at_a_time = shared.reinit.lock().unwrap_or_else(|e| e.into_inner());
                // Another worker may have re-initialized meanwhile: then just retry.
                if shared.session().id == session_id {
                    info!(
                        "[{}] session expired (HTTP {status}); re-initializing",
                        shared.name
                    );
                    reinitialize(conn, shared, agent)?;
                }
            }
            Answer::RpcError(answer) => {
                deliver(conn, shared, answer, related);
                return Ok(());
            }
            Answer::Refused(status) => {
                return Err(PostFailure::Status {
                    status,
                    url: shared.url.clone(),
                });
            }
            answer => {
                let header = response.headers().get(mcp::header::SESSION_ID);
                if let Some(id) = header.and_then(|v| v.to_str().ok()) {
                    let mut s = shared.session();
                    if let Some(new) = assigned_session(id, s.id.as_deref()) {
                        debug!("[{}] session id assigned", shared.name);
                        s.id = Some(new);
                    }
                }
                return read_answer(conn, shared, response.into_body(), &answer, related);
            }
        }
    }
}

/// Sends one POST with the session's headers (`session_id`, `version`),
/// a 2026-07-28 request's own `headers`, and the credentials.
fn send_post(
    shared: &StreamableState,
    agent: &Agent,
    message: &[u8],
    headers: &[(String, String)],
    session_id: &Option<String>,
    version: &Option<String>,
) -> Result<ureq::http::Response<ureq::Body>, PostFailure> {
    let sent = shared.credentials.send(|credentials| {
        let mut request = agent
            .post(&shared.url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream");
        if let Some(id) = session_id {
            request = request.header(mcp::header::SESSION_ID, id);
        }
        if let Some(v) = version {
            request = request.header(mcp::header::PROTOCOL_VERSION, v);
        }
        // A 2026-07-28 backend: no session, the request's own headers.
        request = with_headers(request, headers);
        with_headers(request, &credentials).send(message)
    });
    sent.map_err(|e| match e {
        SendError::Credentials(e) => PostFailure::Credentials(e),
        SendError::Request(source) => PostFailure::Unreachable {
            url: shared.url.clone(),
            source,
        },
    })
}

/// Reads a 2xx answer's body as `classify` found it: one JSON message (or
/// batch), an event stream to its end (resumed if it ends before the
/// answer), or nothing.
fn read_answer(
    conn: &Arc<Connection>,
    shared: &Arc<StreamableState>,
    body: ureq::Body,
    answer: &Answer,
    related: Option<u64>,
) -> Result<(), PostFailure> {
    match answer {
        Answer::Json => {
            let read = body
                .into_with_config()
                .limit(MAX_BACKEND_MESSAGE_BYTES as u64)
                .read_to_vec();
            let bytes = match read {
                Ok(bytes) => bytes,
                // ureq reads no further, so there is no head to look
                // in: the body answers the request POSTed, if any.
                Err(ureq::Error::BodyExceedsLimit(_)) => {
                    let bad = salvage::too_long(&[], None, MAX_BACKEND_MESSAGE_BYTES);
                    unreadable(conn, shared, bad, related);
                    return Ok(());
                }
                Err(e) => return Err(PostFailure::Read(e)),
            };
            if !bytes.is_empty() {
                match salvage::parse(&bytes) {
                    Ok(value) => deliver(conn, shared, value, related),
                    Err(bad) => unreadable(conn, shared, bad, related),
                }
            }
        }
        Answer::Stream => {
            // Requests are POSTed by their own worker, so reading the
            // stream to its end here holds up nothing else.
            let mut parser = Parser::new(MAX_BACKEND_MESSAGE_BYTES);
            let why = read_events(conn, shared, &mut parser, body.into_reader(), related);
            debug!("[{}] streamed answer {why}", shared.name);
            if let Some(id) = related {
                resume(conn, shared, &mut parser, id);
            }
        }
        _ => {} // 202 and friends: nothing to read.
    }
    Ok(())
}

/// Hands a message (or a batch) to the connection, noting the negotiated
/// version from the `initialize` answer. `related`: the request on whose
/// answer stream it came (a backend request there serves that one).
fn deliver(conn: &Connection, shared: &StreamableState, value: Value, related: Option<u64>) {
    let values = match value {
        Value::Array(items) => items,
        single => vec![single],
    };
    for value in values {
        {
            let mut s = shared.session();
            if let Some(v) = negotiated_version(&value, s.init_id) {
                s.version = Some(v.to_owned());
            }
        }
        conn.dispatch_related(value, related);
    }
}

/// Hands a message that cannot be read to the connection (`related`: the
/// request POSTed, or on whose answer stream it came); logs it if it
/// answered no request.
fn unreadable(conn: &Connection, shared: &StreamableState, bad: Unreadable, related: Option<u64>) {
    if let Some((bad, n)) = conn.unreadable(bad, related) {
        warn!(
            "[{}] unreadable message skipped ({}; {n} so far): {}",
            shared.name, bad.fault, bad.preview
        );
    }
}

/// Reads an SSE body to its end, delivering each message; returns why it
/// ended. Runs on the thread that opened the stream (a POST worker, the
/// writer, or a push thread), under no lock; so do its event callbacks.
fn read_events(
    conn: &Connection,
    shared: &StreamableState,
    parser: &mut Parser,
    body: impl Read,
    related: Option<u64>,
) -> String {
    // A request's stream is dropped once nobody waits for it (answered,
    // cancelled, timed out): closing it is how 2026-07-28 cancels.
    let done = || shared.stopping() || related.is_some_and(|id| !conn.is_pending(id));
    let ended = sse_read::read_events(body, parser, &done, |event| {
        if event.event == "message" {
            match salvage::event_message(&event) {
                Some(Ok(value)) => deliver(conn, shared, value, related),
                // The stream may carry other messages than the answer:
                // only the id tells which request this one was for.
                Some(Err(bad)) => unreadable(conn, shared, bad, None),
                None => {}
            }
        }
        ControlFlow::Continue(())
    });
    match ended {
        Ended::Stopped | Ended::Handler => "stopped".into(),
        Ended::Eof => "ended".into(),
        Ended::Idle => format!("idle for {}s", SSE_IDLE_TIMEOUT.as_secs()),
        Ended::Failed(e) => format!("failed: {e}"),
        Ended::TooLarge(e) => {
            warn!("[{}] {e}; dropping the stream", shared.name);
            let head = parser.oversized_head();
            let bad = salvage::too_long(head, None, MAX_BACKEND_MESSAGE_BYTES);
            unreadable(conn, shared, bad, related);
            e
        }
    }
}

/// Re-runs the handshake after a 404: the stored `initialize` without a
/// session id, then `notifications/initialized`, then asks the supervisor to
/// re-discover (the new session may offer other lists).
fn reinitialize(
    conn: &Arc<Connection>,
    shared: &Arc<StreamableState>,
    agent: &Agent,
) -> Result<(), PostFailure> {
    let init = {
        let mut s = shared.session();
        s.id = None;
        s.version = None;
        s.init.clone()
    };
    let Some(init) = init else {
        return Err(PostFailure::NoInitialize);
    };
    // `post` reads the answer (JSON or a stream) before it returns.
    post(conn, shared, agent, &init, &[], false, None)?;
    if shared.session().version.is_none() {
        return Err(PostFailure::ReinitUnanswered);
    }
    let note = Message::notification(method::INITIALIZED, None).to_json_text();
    post(conn, shared, agent, note.as_bytes(), &[], false, None)?;
    open_get_stream(conn, shared);
    conn.dispatch(Message::notification(method::TOOLS_LIST_CHANGED, None).to_value());
    Ok(())
}

/// A GET of the endpoint for an event stream, with the session's headers
/// and credentials, resuming after `last_event_id` if given.
fn get(
    agent: &Agent,
    shared: &StreamableState,
    last_event_id: Option<&str>,
) -> Result<ureq::http::Response<ureq::Body>, SendError> {
    let (session_id, version) = {
        let s = shared.session();
        (s.id.clone(), s.version.clone())
    };
    shared.credentials.send(|credentials| {
        let mut request = agent.get(&shared.url).header("Accept", "text/event-stream");
        if let Some(id) = &session_id {
            request = request.header(mcp::header::SESSION_ID, id);
        }
        if let Some(v) = &version {
            request = request.header(mcp::header::PROTOCOL_VERSION, v);
        }
        if let Some(last) = last_event_id {
            request = request.header(mcp::header::LAST_EVENT_ID, last);
        }
        with_headers(request, &credentials).call()
    })
}

/// The server ended the answer stream of our request `id` before the
/// answer (MCP 2025-11-25 SSE polling, SEP-1699): reconnect with GET and
/// `Last-Event-ID`, after the `retry:` it asked for, and read on, until the
/// answer came or [`MAX_RESUMPTIONS`] tries. Without an event ID there is
/// nothing to resume from; the call's own timeout then answers it. A server
/// that refuses the GET fails the call at once.
fn resume(conn: &Arc<Connection>, shared: &Arc<StreamableState>, parser: &mut Parser, id: u64) {
    for _ in 0..MAX_RESUMPTIONS {
        if shared.stopping() || !conn.is_pending(id) || parser.last_event_id().is_empty() {
            return;
        }
        let wait = resume_delay(parser.retry());
        if !wait.is_zero() {
            let (lock, wake) = &shared.stop_wake;
            let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
            let _ = wake
                .wait_timeout_while(guard, wait, |_| !shared.stopping())
                .unwrap_or_else(|e| e.into_inner());
        }
        let last = parser.last_event_id().to_owned();
        debug!(
            "[{}] request {id}: resuming its stream after event {last}",
            shared.name
        );
        let agent = shared.credentials.agent(Limits::exchange(
            conn.timeout_of(id).unwrap_or(RESUME_TIMEOUT),
        ));
        let response = match get(&agent, shared, Some(&last)) {
            Ok(r) => r,
            Err(e) => {
                conn.fail(
                    id,
                    CallError::Send(format!("resuming the answer stream: {e}")),
                );
                return;
            }
        };
        let status = response.status().as_u16();
        if !is_open_stream(status, &super::content_type(&response)) {
            conn.fail(
                id,
                CallError::Send(format!("resuming the answer stream: HTTP {status}")),
            );
            return;
        }
        parser.restart();
        let why = read_events(
            conn,
            shared,
            parser,
            response.into_body().into_reader(),
            Some(id),
        );
        debug!("[{}] resumed answer stream {why}", shared.name);
    }
    if conn.is_pending(id) {
        conn.fail(
            id,
            CallError::Send(format!("answer stream ended {MAX_RESUMPTIONS} times")),
        );
    }
}

/// The stream a backend pushes its own messages on.
enum Push {
    /// 2025-era: a GET of the endpoint in the session.
    Get,
    /// 2026-07-28: a `subscriptions/listen` POST with these params.
    Listen(Value),
}

impl Push {
    fn what(&self) -> &'static str {
        match self {
            Push::Get => "GET stream",
            Push::Listen(_) => "listen stream",
        }
    }
}

impl StreamableTransport {
    /// Opens a `subscriptions/listen` stream to a 2026-07-28 backend (its
    /// list changes travel only there) on a thread that reopens it with
    /// backoff until the transport stops.
    pub fn listen(&self, conn: &Arc<Connection>, params: Value) {
        open_push_stream(conn, &self.shared, Push::Listen(params));
    }
}

/// Opens the GET stream for server-initiated messages on a thread that
/// reopens it with backoff until the transport stops.
fn open_get_stream(conn: &Arc<Connection>, shared: &Arc<StreamableState>) {
    open_push_stream(conn, shared, Push::Get);
}

fn open_push_stream(conn: &Arc<Connection>, shared: &Arc<StreamableState>, push: Push) {
    let (conn, shared) = (conn.clone(), shared.clone());
    let name = shared.name.clone();
    let what = push.what();
    let spawned = spawn_named(
        format!("argus-push-{name}"),
        BACKEND_STACK_BYTES,
        move || push_loop(&conn, &shared, &push),
    );
    if let Err(e) = spawned {
        warn!("[{name}] cannot open the {what}: {e}");
    }
}

/// Sends the request that opens `push`.
fn open_push(
    conn: &Connection,
    shared: &StreamableState,
    agent: &Agent,
    push: &Push,
) -> Result<ureq::http::Response<ureq::Body>, SendError> {
    match push {
        Push::Get => get(agent, shared, None),
        Push::Listen(params) => {
            let frame =
                conn.stateless_frame(crate::mcp::method::SUBSCRIPTIONS_LISTEN, params.clone());
            shared.credentials.send(|credentials| {
                let request = agent
                    .post(&shared.url)
                    .header("Content-Type", "application/json")
                    .header("Accept", "application/json, text/event-stream");
                let request = with_headers(request, &frame.headers);
                with_headers(request, &credentials).send(&frame.bytes[..])
            })
        }
    }
}

/// Keeps `push` open until the transport stops or the connection closes,
/// reopening it with backoff. Runs on its own thread (`argus-push-<name>`),
/// under no lock.
fn push_loop(conn: &Arc<Connection>, shared: &Arc<StreamableState>, push: &Push) {
    let what = push.what();
    let mut delay = PUSH_BACKOFF_START;
    let session_at_start = shared.session().id.clone();
    while !shared.stopping() && conn.closed().is_none() {
        if matches!(push, Push::Get) && shared.session().id != session_at_start {
            return; // a re-initialize opened its own stream
        }
        let agent = shared
            .credentials
            .agent(Limits::stream(PUSH_OPEN_TIMEOUT, SSE_IDLE_TIMEOUT));
        shared
            .agents
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(agent.clone());
        if shared.stopping() {
            return;
        }
        let opened = Instant::now();
        match open_push(conn, shared, &agent, push) {
            Ok(response) => {
                if read_push(conn, shared, what, response).is_break() {
                    return;
                }
            }
            Err(e) => {
                if !shared.stopping() {
                    debug!("[{}] {what} failed: {e}", shared.name);
                }
            }
        }
        if opened.elapsed() > PUSH_HEALTHY_AFTER {
            delay = PUSH_BACKOFF_START;
        }
        // Backoff between reopenings; `stop` wakes it.
        let (lock, cv) = &shared.stop_wake;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let _ = cv
            .wait_timeout_while(guard, delay, |_| !shared.stopping())
            .unwrap_or_else(|e| e.into_inner());
        delay = (delay * 2).min(PUSH_BACKOFF_MAX);
    }
}

/// Reads an opened push stream to its end; `Break` when the server has
/// no such stream (then it is not reopened).
fn read_push(
    conn: &Arc<Connection>,
    shared: &Arc<StreamableState>,
    what: &str,
    response: ureq::http::Response<ureq::Body>,
) -> ControlFlow<()> {
    match push_answer(response.status().as_u16(), &super::content_type(&response)) {
        PushAnswer::NoneHere => {
            debug!("[{}] no {what} (HTTP {})", shared.name, response.status());
            ControlFlow::Break(())
        }
        PushAnswer::NotAStream => {
            debug!("[{}] no {what} (not an event stream)", shared.name);
            ControlFlow::Break(())
        }
        PushAnswer::Refused => {
            debug!(
                "[{}] {what} refused: HTTP {}",
                shared.name,
                response.status()
            );
            ControlFlow::Continue(())
        }
        PushAnswer::Open => {
            debug!("[{}] {what} open", shared.name);
            let mut parser = Parser::new(MAX_BACKEND_MESSAGE_BYTES);
            let reader = response.into_body().into_reader();
            let why = read_events(conn, shared, &mut parser, reader, None);
            debug!("[{}] {what} {why}", shared.name);
            ControlFlow::Continue(())
        }
    }
}

// The protocol decisions, pure.

/// How a POST was sent, which decides how its answer is taken.
#[derive(Debug, Clone, Copy)]
struct Posted {
    /// It carried our session id.
    in_session: bool,
    /// A lost session may still be re-initialized for it (once per message).
    may_reinit: bool,
    /// The id of the request POSTed, if it is one.
    related: Option<u64>,
}

/// What the answer to a POST means.
#[derive(Debug, PartialEq)]
enum Answer {
    /// Our session is gone: re-initialize, then POST again.
    SessionGone,
    /// A 4xx whose JSON body is the JSON-RPC error answering the request.
    RpcError(Value),
    /// Any other status outside 2xx: the message was refused.
    Refused(u16),
    /// 2xx with a JSON body: one message or a batch.
    Json,
    /// 2xx with an event stream.
    Stream,
    /// 2xx with nothing to read (202 Accepted and the like).
    Nothing,
}

/// Whether [`classify`] needs the (small) body of this answer: a 4xx that
/// may carry the JSON-RPC error answering our request, or a 400 in a
/// session that may say the session is gone.
fn needs_body(status: u16, media_type: &str, posted: Posted) -> bool {
    (400..500).contains(&status)
        && (posted.related.is_some() && media_type == "application/json"
            || posted.in_session && status == 400)
}

/// What a POST's answer means, from its status, media type and, where
/// [`needs_body`] says so, its body (`None`: not read, or unreadable).
///
/// MCP 2025-06-18 (Transports §Session Management) answers 404 for an
/// unknown session; TypeScript SDK servers answer 400 "No valid session
/// ID", so a 400 in a session whose body mentions the session counts too,
/// and a 400 in a session is never taken as a JSON-RPC answer. A
/// 2026-07-28 server answers some errors (-32020, -32021, -32022, -32601)
/// with a 4xx and the JSON-RPC error as the body: that error is the
/// answer, not the status.
fn classify(status: u16, media_type: &str, body: Option<&[u8]>, posted: Posted) -> Answer {
    let mentions_session = || {
        body.and_then(|b| std::str::from_utf8(b).ok())
            .is_some_and(|b| b.to_ascii_lowercase().contains("session"))
    };
    let session_gone = posted.in_session && (status == 404 || status == 400 && mentions_session());
    if session_gone && posted.may_reinit {
        return Answer::SessionGone;
    }
    if !(200..300).contains(&status) {
        let body_may_answer = (400..500).contains(&status)
            && !(posted.in_session && status == 400)
            && media_type == "application/json";
        return match body.filter(|_| body_may_answer) {
            Some(body) => rpc_error_answer(body, posted.related)
                .map_or(Answer::Refused(status), Answer::RpcError),
            None => Answer::Refused(status),
        };
    }
    match media_type {
        "application/json" => Answer::Json,
        "text/event-stream" => Answer::Stream,
        _ => Answer::Nothing,
    }
}

/// The JSON-RPC error answering request `related` in a 4xx answer's body,
/// if that is what the body is.
fn rpc_error_answer(body: &[u8], related: Option<u64>) -> Option<Value> {
    let related = related?;
    let value: Value = serde_json::from_slice(body).ok()?;
    (value.get("error").is_some() && value.get("id").and_then(Value::as_u64) == Some(related))
        .then_some(value)
}

/// The session id to keep after an answer carrying `Mcp-Session-Id:
/// header`, if it changes ours (`current`).
fn assigned_session(header: &str, current: Option<&str>) -> Option<String> {
    (current != Some(header)).then(|| header.to_owned())
}

/// The protocol version an `initialize` answer negotiates: `value` must
/// answer our `initialize` (id `init_id`) with a `result.protocolVersion`.
fn negotiated_version(value: &Value, init_id: Option<u64>) -> Option<&str> {
    if init_id.is_none() || value.get("id").and_then(Value::as_u64) != init_id {
        return None;
    }
    value.pointer("/result/protocolVersion")?.as_str()
}

/// How long to wait before resuming a stream that asked for `retry:` ms
/// (MCP 2025-11-25, Transports §Resumability and Redelivery): as asked, at
/// most [`MAX_RESUME_DELAY`].
fn resume_delay(retry_ms: Option<u64>) -> Duration {
    Duration::from_millis(retry_ms.unwrap_or(0)).min(MAX_RESUME_DELAY)
}

/// Whether a GET with `Last-Event-ID` (or of the push stream) opened an
/// event stream.
fn is_open_stream(status: u16, media_type: &str) -> bool {
    (200..300).contains(&status) && media_type == "text/event-stream"
}

/// What the answer to the request opening a push stream means.
#[derive(Debug, PartialEq, Eq)]
enum PushAnswer {
    /// The stream is open.
    Open,
    /// 405 to the GET (no server-initiated messages), 404 to a listen
    /// (-32601): the server has no such stream.
    NoneHere,
    /// A 2xx that is not a stream: a JSON error answering the listen.
    NotAStream,
    /// Another status: try again later.
    Refused,
}

/// What opening a push stream got: see [`PushAnswer`].
fn push_answer(status: u16, media_type: &str) -> PushAnswer {
    match status {
        404 | 405 => PushAnswer::NoneHere,
        200..=299 if media_type == "text/event-stream" => PushAnswer::Open,
        200..=299 => PushAnswer::NotAStream,
        _ => PushAnswer::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const REQUEST: Posted = Posted {
        in_session: true,
        may_reinit: true,
        related: Some(7),
    };

    const STATELESS: Posted = Posted {
        in_session: false,
        may_reinit: true,
        related: Some(7),
    };

    const JSON: &str = "application/json";

    #[test]
    fn a_2xx_answer_is_read_by_its_media_type() {
        assert_eq!(classify(200, JSON, None, REQUEST), Answer::Json);
        assert_eq!(
            classify(200, "text/event-stream", None, REQUEST),
            Answer::Stream
        );
        assert_eq!(classify(202, "", None, REQUEST), Answer::Nothing);
        assert_eq!(classify(200, "text/plain", None, REQUEST), Answer::Nothing);
    }

    #[test]
    fn a_404_in_a_session_re_initializes_once() {
        assert_eq!(classify(404, "", None, REQUEST), Answer::SessionGone);
        let again = Posted {
            may_reinit: false,
            ..REQUEST
        };
        assert_eq!(classify(404, "", None, again), Answer::Refused(404));
        // Without a session there is nothing to re-initialize.
        assert_eq!(classify(404, "", None, STATELESS), Answer::Refused(404));
    }

    #[test]
    fn a_400_naming_the_session_means_it_is_gone() {
        let body = Some(&b"Bad Request: No valid Session ID provided"[..]);
        assert!(needs_body(400, "text/plain", REQUEST));
        assert_eq!(
            classify(400, "text/plain", body, REQUEST),
            Answer::SessionGone
        );
        assert_eq!(
            classify(400, "text/plain", Some(b"bad params"), REQUEST),
            Answer::Refused(400)
        );
        assert_eq!(
            classify(400, "text/plain", body, STATELESS),
            Answer::Refused(400)
        );
        assert_eq!(
            classify(400, "text/plain", Some(b"\xffsession"), REQUEST),
            Answer::Refused(400),
            "not UTF-8: not read as text"
        );
    }

    #[test]
    fn a_4xx_json_rpc_error_body_is_the_answer() {
        let error = json!({"jsonrpc": "2.0", "id": 7, "error": {"code": -32601, "message": "no"}});
        let body = error.to_string();
        assert!(needs_body(404, JSON, STATELESS));
        assert_eq!(
            classify(404, JSON, Some(body.as_bytes()), STATELESS),
            Answer::RpcError(error.clone())
        );
        // Another request's error, a result, or not JSON: the status.
        let other = json!({"jsonrpc": "2.0", "id": 8, "error": {"code": 1, "message": "m"}});
        assert_eq!(
            classify(422, JSON, Some(other.to_string().as_bytes()), STATELESS),
            Answer::Refused(422)
        );
        let result = json!({"jsonrpc": "2.0", "id": 7, "result": {}});
        assert_eq!(
            classify(409, JSON, Some(result.to_string().as_bytes()), STATELESS),
            Answer::Refused(409)
        );
        assert_eq!(
            classify(400, JSON, Some(b"{"), STATELESS),
            Answer::Refused(400)
        );
        // Not JSON by its type, a 5xx, or a notification POSTed: the status.
        assert_eq!(
            classify(404, "text/plain", Some(body.as_bytes()), STATELESS),
            Answer::Refused(404)
        );
        assert_eq!(
            classify(500, JSON, Some(body.as_bytes()), STATELESS),
            Answer::Refused(500)
        );
        let notification = Posted {
            related: None,
            ..STATELESS
        };
        assert!(!needs_body(404, JSON, notification));
        assert_eq!(
            classify(404, JSON, Some(body.as_bytes()), notification),
            Answer::Refused(404)
        );
        // A 400 in a session is about the session, never an answer.
        let again = Posted {
            may_reinit: false,
            ..REQUEST
        };
        assert_eq!(
            classify(400, JSON, Some(body.as_bytes()), again),
            Answer::Refused(400)
        );
        assert!(!needs_body(500, JSON, REQUEST));
        assert!(!needs_body(200, JSON, REQUEST));
    }

    #[test]
    fn the_session_id_is_taken_when_it_changes() {
        assert_eq!(assigned_session("abc", None).as_deref(), Some("abc"));
        assert_eq!(assigned_session("abc", Some("abc")), None);
        assert_eq!(assigned_session("new", Some("abc")).as_deref(), Some("new"));
    }

    #[test]
    fn the_version_comes_from_the_initialize_answer_only() {
        let answer =
            json!({"jsonrpc": "2.0", "id": 1, "result": {"protocolVersion": "2025-06-18"}});
        assert_eq!(negotiated_version(&answer, Some(1)), Some("2025-06-18"));
        assert_eq!(negotiated_version(&answer, Some(2)), None);
        assert_eq!(negotiated_version(&answer, None), None);
        let no_version = json!({"jsonrpc": "2.0", "id": 1, "result": {}});
        assert_eq!(negotiated_version(&no_version, Some(1)), None);
    }

    #[test]
    fn resumption_waits_as_asked_within_a_bound() {
        assert_eq!(resume_delay(None), Duration::ZERO);
        assert_eq!(resume_delay(Some(250)), Duration::from_millis(250));
        assert_eq!(resume_delay(Some(u64::MAX)), MAX_RESUME_DELAY);
        assert!(is_open_stream(200, "text/event-stream"));
        assert!(!is_open_stream(200, JSON));
        assert!(!is_open_stream(404, "text/event-stream"));
    }

    #[test]
    fn push_stream_answers() {
        assert_eq!(push_answer(200, "text/event-stream"), PushAnswer::Open);
        assert_eq!(push_answer(405, ""), PushAnswer::NoneHere);
        assert_eq!(push_answer(404, JSON), PushAnswer::NoneHere);
        assert_eq!(push_answer(200, JSON), PushAnswer::NotAStream);
        assert_eq!(push_answer(503, ""), PushAnswer::Refused);
    }

    #[test]
    fn post_failures_keep_their_texts() {
        let status = PostFailure::Status {
            status: 500,
            url: "http://h/mcp".into(),
        };
        assert_eq!(status.to_string(), "HTTP 500 from http://h/mcp");
        assert!(!status.is_unreachable());
        assert_eq!(
            PostFailure::NoInitialize.to_string(),
            "session expired before initialize"
        );
        assert_eq!(
            PostFailure::ReinitUnanswered.to_string(),
            "re-initialize was not answered"
        );
    }
}
