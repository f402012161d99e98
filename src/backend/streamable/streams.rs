//! What a Streamable HTTP backend sends on streams, read to their end
//! and handed to the connection.
//!
//! - A POST's answer: a JSON body or an event stream, with the negotiated
//!   version noted on the way. An unreadable message fails the request it
//!   answers, and an answer stream that ended early is resumed with
//!   `Last-Event-ID` (MCP 2025-11-25).
//! - The stream the backend pushes its own messages on: a GET of the
//!   endpoint in the session (2025-era), or a `subscriptions/listen` POST
//!   (2026-07-28). It is kept open on its own thread and reopened with
//!   backoff until the transport stops.
//!
//! Sending the POST is `post`'s; what a status or an opening answer means
//! is `decide`'s.

use std::io::Read;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, warn};
use serde_json::Value;
use ureq::Agent;

use super::decide::{
    Answer, PushAnswer, is_open_stream, negotiated_version, push_answer, resume_delay,
};
use super::{PostFailure, StreamableState};
use crate::backend::agent::Limits;
use crate::backend::auth::{SendError, with_headers};
use crate::backend::connection::{CallError, Connection};
use crate::backend::content_type;
use crate::backend::salvage::{self, Unreadable};
use crate::backend::sse_read::{self, Ended};
use crate::limits::{BACKEND_STACK_BYTES, MAX_BACKEND_MESSAGE_BYTES, SSE_IDLE_TIMEOUT};
use crate::mcp;
use crate::sse::Parser;
use crate::sync::spawn_named;

/// How often one answer stream is resumed at most.
const MAX_RESUMPTIONS: usize = 10;

/// How long a resumed stream has for its head when its request's own
/// timeout is no longer known.
const RESUME_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads a 2xx answer's body as `classify` found it: one JSON message (or
/// batch), an event stream to its end (resumed if it ends before the
/// answer), or nothing.
pub(super) fn read_answer(
    conn: &Arc<Connection>,
    shared: &Arc<StreamableState>,
    mut body: ureq::Body,
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
        // 202 and friends: nothing to read but the body's end.
        _ => crate::backend::drain(&mut body),
    }
    Ok(())
}

/// Hands a message (or a batch) to the connection, noting the negotiated
/// version from the `initialize` answer. `related`: the request on whose
/// answer stream it came (a backend request there serves that one).
pub(super) fn deliver(
    conn: &Connection,
    shared: &StreamableState,
    value: Value,
    related: Option<u64>,
) {
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
pub(super) fn read_events(
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
        if !is_open_stream(status, &content_type(&response)) {
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

/// A GET of the endpoint for an event stream, with the session's headers
/// and credentials, resuming after `last_event_id` if given.
pub(super) fn get(
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

/// The stream a backend pushes its own messages on.
pub(super) enum Push {
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

/// Opens the GET stream for server-initiated messages on a thread that
/// reopens it with backoff until the transport stops.
pub(super) fn open_get_stream(conn: &Arc<Connection>, shared: &Arc<StreamableState>) {
    open_push_stream(conn, shared, Push::Get);
}

pub(super) fn open_push_stream(conn: &Arc<Connection>, shared: &Arc<StreamableState>, push: Push) {
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
    match push_answer(response.status().as_u16(), &content_type(&response)) {
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
