//! The Streamable HTTP transport to a backend (PRODUCT §7, mcp-protocol.md §4.10).
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

use std::io::Read;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use serde_json::Value;
use ureq::Agent;

use super::agent::Limits;
use super::auth::{Credentials, SendError, with_headers};
use super::connection::{CallError, Connection, Frame};
use super::events::EventSender;
use super::salvage::{self, Unreadable};
use super::sse_read::{self, Ended};
use crate::limits::{
    BACKEND_STACK_BYTES, MAX_BACKEND_MESSAGE_BYTES, MAX_CONCURRENT_POSTS, SSE_IDLE_TIMEOUT,
};

/// How often one answer stream is resumed at most.
const MAX_RESUMPTIONS: usize = 10;

/// The longest `retry:` we wait before resuming a stream.
const MAX_RESUME_DELAY: Duration = Duration::from_secs(10);
use crate::queue::Receiver;
use crate::sse::Parser;
use crate::workers::Bounded;

/// What the transport learned from the handshake.
#[derive(Debug, Default)]
struct Session {
    id: Option<String>,
    version: Option<String>,
    /// The `initialize` request as sent, for re-initializing after a 404.
    init: Option<Vec<u8>>,
    /// The id of that request (its answer carries the version).
    init_id: Option<u64>,
}

struct Shared {
    name: String,
    url: String,
    credentials: Arc<Credentials>,
    session: Mutex<Session>,
    stopping: AtomicBool,
    /// Wakes backoff waits when the transport stops.
    stop_wake: (Mutex<()>, std::sync::Condvar),
    /// Agents whose sockets `stop` must cut: the POST agent and the GET stream's.
    agents: Mutex<Vec<Agent>>,
    /// Held while re-initializing, so concurrent 404s re-initialize once.
    reinit: Mutex<()>,
    /// POSTs requests, at most `MAX_CONCURRENT_POSTS` at once.
    posts: Arc<Bounded>,
}

impl Shared {
    fn session(&self) -> MutexGuard<'_, Session> {
        // Plain fields replaced whole.
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// A running Streamable HTTP transport.
pub struct StreamableTransport {
    shared: Arc<Shared>,
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
                .agent(Limits::exchange(Duration::from_secs(2)));
            let sent = self.shared.credentials.send(|credentials| {
                let request = agent.delete(&self.shared.url).header("Mcp-Session-Id", &id);
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
        call_timeout + Duration::from_secs(10),
        SSE_IDLE_TIMEOUT,
    ));
    let shared = Arc::new(Shared {
        name: name.to_owned(),
        url: url.to_owned(),
        credentials,
        session: Mutex::new(Session::default()),
        stopping: AtomicBool::new(false),
        stop_wake: (Mutex::new(()), std::sync::Condvar::new()),
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
        thread::Builder::new()
            .name(format!("argus-post-{name}"))
            .stack_size(BACKEND_STACK_BYTES)
            .spawn(move || post_loop(&conn, &shared, &post_agent, &outbound))
    };
    if let Err(e) = writer {
        conn.close("cannot start the writer");
        return Err(e);
    }
    Ok((conn, StreamableTransport { shared }))
}

fn post_loop(
    conn: &Arc<Connection>,
    shared: &Arc<Shared>,
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
        if method == "initialize" {
            let mut s = shared.session();
            s.init = Some(message.clone());
            s.init_id = request_id;
        }
        let job = Job {
            message,
            method,
            id: request_id,
            headers,
        };
        if request_id.is_some() && job.method != "initialize" {
            // A request may take as long as the call: POST it on a worker so
            // the next messages (answers to the backend's own requests,
            // cancellations, other calls) are never held up behind it. With
            // every worker busy it waits in the backlog, not in this loop:
            // those busy calls may be waiting for exactly what comes next.
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
struct Job {
    message: Vec<u8>,
    method: String,
    id: Option<u64>,
    /// A 2026-07-28 backend's routing headers.
    headers: Vec<(String, String)>,
}

/// POSTs one message and reports a failure to its request; returns `false`
/// when the server is unreachable (the connection is closed then).
fn deliver_one(conn: &Arc<Connection>, shared: &Arc<Shared>, agent: &Agent, job: &Job) -> bool {
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
            if method == "notifications/initialized" {
                open_get_stream(conn, shared);
            }
            true
        }
        Err(Failure::Unreachable(why)) => {
            if let Some(id) = request_id {
                conn.fail(id, CallError::Send(why.clone()));
            }
            conn.close(&format!("unreachable: {why}"));
            false
        }
        Err(Failure::Refused(why)) => {
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

enum Failure {
    /// The server could not be reached at all: reconnect.
    Unreachable(String),
    /// The server refused this message.
    Refused(String),
}

/// POSTs one message and handles the answer. `may_reinit`: a 404 for our
/// session re-initializes and retries once. `related`: the id of the request
/// POSTed, if it is one; what its answer stream carries is related to it.
fn post(
    conn: &Arc<Connection>,
    shared: &Arc<Shared>,
    agent: &Agent,
    message: &[u8],
    headers: &[(String, String)],
    may_reinit: bool,
    related: Option<u64>,
) -> Result<(), Failure> {
    let mut reinitialized = !may_reinit;
    loop {
        let (session_id, version) = {
            let s = shared.session();
            (s.id.clone(), s.version.clone())
        };
        let sent = shared.credentials.send(|credentials| {
            let mut request = agent
                .post(&shared.url)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream");
            if let Some(id) = &session_id {
                request = request.header("Mcp-Session-Id", id);
            }
            if let Some(v) = &version {
                request = request.header("MCP-Protocol-Version", v);
            }
            // A 2026-07-28 backend: no session, the request's own headers.
            request = with_headers(request, headers);
            with_headers(request, &credentials).send(message)
        });
        let response = match sent {
            Ok(r) => r,
            Err(SendError::Credentials(e)) => return Err(Failure::Refused(e.to_string())),
            Err(SendError::Request(e)) => {
                return Err(Failure::Unreachable(format!("POST {}: {e}", shared.url)));
            }
        };
        let status = response.status().as_u16();
        // The spec says 404 for an unknown session; TypeScript SDK servers
        // answer 400 "No valid session ID" (mcp-protocol.md §9.8).
        let mut response = response;
        let session_gone = session_id.is_some()
            && (status == 404
                || status == 400
                    && response
                        .body_mut()
                        .with_config()
                        .limit(64 * 1024)
                        .read_to_string()
                        .is_ok_and(|b| b.to_ascii_lowercase().contains("session")));
        if session_gone && !reinitialized {
            reinitialized = true;
            let _one_at_a_time = shared.reinit.lock().unwrap_or_else(|e| e.into_inner());
            // Another worker may have re-initialized meanwhile: then just retry.
            if shared.session().id == session_id {
                info!(
                    "[{}] session expired (HTTP {status}); re-initializing",
                    shared.name
                );
                reinitialize(conn, shared, agent)?;
            }
            continue;
        }
        if !(200..300).contains(&status) {
            // A 2026-07-28 server answers some errors (-32020, -32021,
            // -32022, -32601) with a 4xx and the JSON-RPC error as the
            // body: that error is the answer, not the status.
            if (400..500).contains(&status)
                && let Some(answer) = rpc_error_body(response, related)
            {
                deliver(conn, shared, answer, related);
                return Ok(());
            }
            return Err(Failure::Refused(format!(
                "HTTP {status} from {}",
                shared.url
            )));
        }
        if let Some(id) = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
        {
            let mut s = shared.session();
            if s.id.as_deref() != Some(id) {
                debug!("[{}] session id assigned", shared.name);
                s.id = Some(id.to_owned());
            }
        }
        let kind = super::content_type(&response);
        let body = response.into_body();
        match kind.as_str() {
            "application/json" => {
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
                    Err(e) => return Err(Failure::Refused(format!("reading the answer: {e}"))),
                };
                if !bytes.is_empty() {
                    match salvage::parse(&bytes) {
                        Ok(value) => deliver(conn, shared, value, related),
                        Err(bad) => unreadable(conn, shared, bad, related),
                    }
                }
            }
            "text/event-stream" => {
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
        return Ok(());
    }
}

/// Hands a message (or a batch) to the connection, noting the negotiated
/// version from the `initialize` answer. `related`: the request on whose
/// answer stream it came (a backend request there serves that one).
fn deliver(conn: &Connection, shared: &Shared, value: Value, related: Option<u64>) {
    let values = match value {
        Value::Array(items) => items,
        single => vec![single],
    };
    for value in values {
        {
            let mut s = shared.session();
            if s.init_id.is_some()
                && value.get("id").and_then(Value::as_u64) == s.init_id
                && let Some(v) = value
                    .pointer("/result/protocolVersion")
                    .and_then(Value::as_str)
            {
                s.version = Some(v.to_owned());
            }
        }
        conn.dispatch_related(value, related);
    }
}

/// Hands a message that cannot be read to the connection (`related`: the
/// request POSTed, or on whose answer stream it came); logs it if it
/// answered no request.
fn unreadable(conn: &Connection, shared: &Shared, bad: Unreadable, related: Option<u64>) {
    if let Some((bad, n)) = conn.unreadable(bad, related) {
        warn!(
            "[{}] unreadable message skipped ({}; {n} so far): {}",
            shared.name, bad.fault, bad.preview
        );
    }
}

/// Reads an SSE body to its end, delivering each message; returns why it ended.
fn read_events(
    conn: &Connection,
    shared: &Shared,
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
    shared: &Arc<Shared>,
    agent: &Agent,
) -> Result<(), Failure> {
    let init = {
        let mut s = shared.session();
        s.id = None;
        s.version = None;
        s.init.clone()
    };
    let Some(init) = init else {
        return Err(Failure::Refused("session expired before initialize".into()));
    };
    // `post` reads the answer (JSON or a stream) before it returns.
    post(conn, shared, agent, &init, &[], false, None)?;
    if shared.session().version.is_none() {
        return Err(Failure::Refused("re-initialize was not answered".into()));
    }
    let note = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    post(conn, shared, agent, note, &[], false, None)?;
    open_get_stream(conn, shared);
    conn.dispatch(
        serde_json::json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
    );
    Ok(())
}

/// A GET of the endpoint for an event stream, with the session's headers
/// and credentials, resuming after `last_event_id` if given.
fn get(
    agent: &Agent,
    shared: &Shared,
    last_event_id: Option<&str>,
) -> Result<ureq::http::Response<ureq::Body>, SendError> {
    let (session_id, version) = {
        let s = shared.session();
        (s.id.clone(), s.version.clone())
    };
    shared.credentials.send(|credentials| {
        let mut request = agent.get(&shared.url).header("Accept", "text/event-stream");
        if let Some(id) = &session_id {
            request = request.header("Mcp-Session-Id", id);
        }
        if let Some(v) = &version {
            request = request.header("MCP-Protocol-Version", v);
        }
        if let Some(last) = last_event_id {
            request = request.header("Last-Event-ID", last);
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
fn resume(conn: &Arc<Connection>, shared: &Arc<Shared>, parser: &mut Parser, id: u64) {
    for _ in 0..MAX_RESUMPTIONS {
        if shared.stopping() || !conn.is_pending(id) || parser.last_event_id().is_empty() {
            return;
        }
        let wait = Duration::from_millis(parser.retry().unwrap_or(0)).min(MAX_RESUME_DELAY);
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
            conn.timeout_of(id).unwrap_or(Duration::from_secs(60)),
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
        let is_stream = super::content_type(&response) == "text/event-stream";
        if !(200..300).contains(&status) || !is_stream {
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
fn open_get_stream(conn: &Arc<Connection>, shared: &Arc<Shared>) {
    open_push_stream(conn, shared, Push::Get);
}

fn open_push_stream(conn: &Arc<Connection>, shared: &Arc<Shared>, push: Push) {
    let (conn, shared) = (conn.clone(), shared.clone());
    let name = shared.name.clone();
    let what = push.what();
    let spawned = thread::Builder::new()
        .name(format!("argus-push-{name}"))
        .stack_size(BACKEND_STACK_BYTES)
        .spawn(move || push_loop(&conn, &shared, &push));
    if let Err(e) = spawned {
        warn!("[{name}] cannot open the {what}: {e}");
    }
}

/// Sends the request that opens `push`.
fn open_push(
    conn: &Connection,
    shared: &Shared,
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

fn push_loop(conn: &Arc<Connection>, shared: &Arc<Shared>, push: &Push) {
    let what = push.what();
    let mut delay = Duration::from_millis(500);
    let session_at_start = shared.session().id.clone();
    while !shared.stopping() && conn.closed().is_none() {
        if matches!(push, Push::Get) && shared.session().id != session_at_start {
            return; // a re-initialize opened its own stream
        }
        let agent = shared
            .credentials
            .agent(Limits::stream(Duration::from_secs(30), SSE_IDLE_TIMEOUT));
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
            // 405: no GET stream; 404 (-32601): no listen.
            Ok(response) if matches!(response.status().as_u16(), 404 | 405) => {
                debug!("[{}] no {what} (HTTP {})", shared.name, response.status());
                return;
            }
            Ok(response) if response.status().is_success() => {
                if super::content_type(&response) != "text/event-stream" {
                    // A JSON answer to a listen: an error, so none.
                    debug!("[{}] no {what} (not an event stream)", shared.name);
                    return;
                }
                debug!("[{}] {what} open", shared.name);
                let mut parser = Parser::new(MAX_BACKEND_MESSAGE_BYTES);
                let reader = response.into_body().into_reader();
                let why = read_events(conn, shared, &mut parser, reader, None);
                debug!("[{}] {what} {why}", shared.name);
            }
            Ok(response) => debug!(
                "[{}] {what} refused: HTTP {}",
                shared.name,
                response.status()
            ),
            Err(e) => {
                if !shared.stopping() {
                    debug!("[{}] {what} failed: {e}", shared.name);
                }
            }
        }
        if opened.elapsed() > Duration::from_secs(30) {
            delay = Duration::from_millis(500);
        }
        // Backoff between reopenings; `stop` wakes it.
        let (lock, cv) = &shared.stop_wake;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let _ = cv
            .wait_timeout_while(guard, delay, |_| !shared.stopping())
            .unwrap_or_else(|e| e.into_inner());
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// The JSON-RPC error answering request `related` in a 4xx response's
/// body, if that is what the body is.
fn rpc_error_body(
    response: ureq::http::Response<ureq::Body>,
    related: Option<u64>,
) -> Option<Value> {
    let related = related?;
    if super::content_type(&response) != "application/json" {
        return None;
    }
    let bytes = response
        .into_body()
        .into_with_config()
        .limit(64 * 1024)
        .read_to_vec()
        .ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    (value.get("error").is_some() && value.get("id").and_then(Value::as_u64) == Some(related))
        .then_some(value)
}
