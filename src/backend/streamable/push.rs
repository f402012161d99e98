//! The stream a Streamable HTTP backend pushes its own messages on: a GET
//! of the endpoint in the session (2025-era), or a `subscriptions/listen`
//! POST (2026-07-28), kept open on its own thread and reopened with backoff
//! until the transport stops; also the GET that resumes an answer stream.
//! Reading the events is `answer`'s; what an opening answer means, `decide`'s.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, warn};
use serde_json::Value;
use ureq::Agent;

use super::StreamableState;
use super::answer::read_events;
use super::decide::{PushAnswer, push_answer};
use crate::backend::agent::Limits;
use crate::backend::auth::{SendError, with_headers};
use crate::backend::connection::Connection;
use crate::backend::content_type;
use crate::limits::{BACKEND_STACK_BYTES, MAX_BACKEND_MESSAGE_BYTES, SSE_IDLE_TIMEOUT};
use crate::mcp;
use crate::sse::Parser;
use crate::sync::spawn_named;

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
