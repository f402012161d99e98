//! The legacy HTTP+SSE front transport (MCP 2024-11-05, Basic › Transports ›
//! HTTP with SSE).
//!
//! `GET /sse` registers a [`Session`] and turns the connection thread into
//! the session's writer: it sends the `endpoint` event, then frames every
//! queued message as `event: message` (a message with nothing queued ahead
//! of it is written by the thread that sends it, when the socket takes it
//! at once: [`SseDirect`]), writes a `: ping` comment every
//! `keepalive_interval`, and bounds each write by `send_timeout`. Between
//! messages it wakes at least twice per `cleanup_deadline` to peek at the
//! socket, so a client that disconnects is noticed and freed in time even
//! with keepalives off. `POST /messages/` finds the session and hands the
//! message to the router; the reply travels on the stream.

use crate::queue::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, info};

use super::decode::{Batches, DecodeError, decode_text};
use super::{Access, Gateway};
use crate::config::{SseResilience, Transport};
use crate::http::{Request, Response, SharedStream, StreamWriter, TryWrite, header, media_type};
use crate::jsonrpc::{Message, code};
use crate::limits::SESSION_OUTBOUND_QUEUE;
use crate::replay::{GENERAL, Replay};
use crate::session::{DirectStream, Outbound, Session};
use crate::sse::{encode_comment, encode_event, encode_id, event_parts};

/// Query parameter names accepted for the session id (python-sdk and TS SDK spellings).
const SESSION_PARAMS: [&str; 2] = ["session_id", "sessionId"];

/// The headers every SSE response carries: the event-stream type, and no
/// caching, transforming or proxy buffering, so each event reaches the client
/// as it is written.
pub(super) fn sse_headers(response: Response) -> Response {
    response
        .with_header("Content-Type", "text/event-stream")
        .with_header("Cache-Control", "no-cache, no-transform")
        .with_header("X-Accel-Buffering", "no")
}

/// `GET /sse`: opens a session and streams it.
/// Whether the request's `Accept` takes an event stream: no `Accept` at
/// all, or one that names `text/event-stream` or a wildcard that covers it.
pub(super) fn accepts_sse(req: &Request) -> bool {
    req.header(header::ACCEPT).is_none_or(|accept| {
        accept.split(',').any(|t| {
            let t = media_type(t);
            t == "text/event-stream" || t == "*/*" || t == "text/*"
        })
    })
}

pub(super) fn open(gateway: &Gateway, req: &Request, access: Access<'_>) -> Response {
    if !accepts_sse(req) {
        // An auth probe that takes JSON only must not wait on a stream.
        return Response::text(
            406,
            "not acceptable: GET /sse answers with an event stream (text/event-stream), which the request's Accept does not take\n",
        );
    }
    if req.method() == "HEAD" {
        return sse_headers(Response::empty(200));
    }
    let id = match gateway.new_session_id() {
        Ok(id) => id,
        Err(e) => return Response::text(500, format!("cannot create a session id: {e}\n")),
    };
    let (session, rx) = Session::new(
        id,
        Transport::Sse,
        req.peer,
        access.identity.cloned(),
        SESSION_OUTBOUND_QUEUE,
    );
    let session = Arc::new(session.in_group(access.group).on_slow(gateway.slow_hook()));
    if let Err(why) = gateway.admit(&session, None) {
        return Response::text(503, format!("{why}\n"));
    }
    info!(
        "session {} opened over SSE by {}",
        session.short_id(),
        req.peer
    );
    // A group's session posts to its group's path.
    let prefix = access.group.map(|g| format!("/g/{g}")).unwrap_or_default();
    let endpoint = format!("{prefix}/messages/?session_id={}", session.id);
    let settings = gateway.config().sse.clone();
    let sessions = gateway.sessions.clone();
    let router = gateway.router.clone();
    sse_headers(Response::long_stream(
        200,
        Box::new(move |writer| {
            // A client that leaves ends its session at once, not at the
            // writer's next check: under churn those add up.
            let leaving = session.clone();
            let _watch = writer.watch_hangup(Box::new(move || leaving.close()));
            pump(writer, &session, &rx, Start::Endpoint(&endpoint), &settings);
            sessions.remove(&session.id);
            session.close();
            router.session_closed(&session);
            info!(
                "session {} closed after {:.1}s",
                session.short_id(),
                session.created.elapsed().as_secs_f64()
            );
        }),
    ))
}

/// The writer loop of a session's general stream (`GET /sse`, or a
/// Streamable HTTP `GET /mcp`): an optional first event, then every queued
/// message, keepalives, and a liveness check; returns when the session or
/// the client ends it.
/// How a general stream begins.
pub(super) enum Start<'a> {
    /// `GET /sse`: the `endpoint` event with this URL; no event ids.
    Endpoint(&'a str),
    /// `GET /mcp`: events carry ids (`replay::GENERAL`) and are kept in
    /// this replay for a client that resumes; these (id, message) were
    /// missed and go first.
    Resumable(Vec<(String, String)>, &'a Replay),
}

pub(super) fn pump(
    writer: &mut StreamWriter<'_>,
    session: &Session,
    rx: &Receiver<Outbound>,
    start: Start<'_>,
    settings: &SseResilience,
) {
    if writer
        .set_write_timeout(Some(settings.send_timeout))
        .is_err()
    {
        return;
    }
    // Only endpoint events and pings are framed here: small.
    let mut frame = Vec::new();
    let out = match start {
        Start::Endpoint(url) => {
            encode_event(Some("endpoint"), url, &mut frame);
            if writer.write_frame(&frame).is_err() {
                return;
            }
            // Events without ids: senders may write them directly.
            let shared = writer.share();
            session.set_direct(Arc::new(SseDirect(shared.clone())));
            Out::Shared(shared)
        }
        Start::Resumable(missed, replay) => {
            if !write_replayed(writer, &missed) {
                return;
            }
            Out::Own(replay)
        }
    };
    write_queued(writer, &out, session, rx, settings, &mut frame);
    if let Out::Shared(shared) = &out {
        writer.unshare(shared);
    }
}

/// Where a general stream's writer writes: through the socket it shares
/// with direct writers (`GET /sse`), or on its own, keeping each event
/// for a client that resumes (`GET /mcp`).
enum Out<'r> {
    Shared(Arc<SharedStream>),
    Own(&'r Replay),
}

impl Out<'_> {
    /// Writes `parts` (after what a direct write left, if shared).
    fn write(&self, writer: &mut StreamWriter<'_>, parts: &[&[u8]]) -> std::io::Result<()> {
        match self {
            Out::Shared(shared) => shared.write(parts),
            Out::Own(_) => writer.write_parts(parts),
        }
    }

    /// Writes one `message` event (with its id and kept for replay, on a
    /// resumable stream).
    fn message(&self, writer: &mut StreamWriter<'_>, json: &str) -> std::io::Result<()> {
        match self {
            Out::Shared(shared) => write_event_with(None, json, |parts| shared.write(parts)),
            Out::Own(replay) => {
                let id = replay.record(GENERAL, json);
                write_event(writer, Some(&id), json)
            }
        }
    }
}

/// The writer loop proper: every queued message, keepalives and the
/// liveness check, until the session or the client ends the stream.
fn write_queued(
    writer: &mut StreamWriter<'_>,
    out: &Out<'_>,
    session: &Session,
    rx: &Receiver<Outbound>,
    settings: &SseResilience,
    frame: &mut Vec<u8>,
) {
    let mut keepalive = Keepalive::new(settings);
    loop {
        frame.clear();
        // A message taken counts as ahead of direct writes until it is
        // written: `session.written()` comes after the write.
        let written = match rx.recv_timeout(keepalive.wait()) {
            Ok(Outbound::Message(json)) => {
                if session.is_closed() {
                    return;
                }
                let written = out.message(writer, &json);
                session.written();
                written
            }
            Ok(Outbound::ListChanged(method)) => {
                if session.is_closed() {
                    return;
                }
                session.list_changed_taken(method);
                let json = Message::notification(method, None).to_json_text();
                let written = out.message(writer, &json);
                session.written();
                written
            }
            Ok(Outbound::Flush) => {
                let written = out.write(writer, &[]);
                session.written();
                written
            }
            Ok(Outbound::Close | Outbound::Yield) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                if session.is_closed() || writer.peer_closed() {
                    return;
                }
                if !keepalive.ping_if_due(frame) {
                    continue;
                }
                out.write(writer, &[frame])
            }
        };
        if let Err(e) = written {
            info!(
                "session {} ({}): write failed ({e}); dropping the session",
                session.short_id(),
                session.peer
            );
            // `send_timeout` passed: the client stopped reading.
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) {
                session.mark_slow();
            }
            return;
        }
    }
}

/// A `GET /sse` stream's socket, written by the threads that send to the
/// session when nothing is queued ahead (events there have no ids).
#[derive(Debug)]
struct SseDirect(Arc<SharedStream>);

impl DirectStream for SseDirect {
    /// Runs on the sending thread, under no lock of the session's.
    fn try_write(&self, json: &str, clear: &dyn Fn() -> bool) -> TryWrite {
        if json.contains(['\r', '\n']) {
            // Several `data:` lines: framed by the writer.
            return TryWrite::Busy;
        }
        self.0.try_write(
            &[b"event: message\ndata: ", json.as_bytes(), b"\n\n"],
            clear,
        )
    }
}

/// Writes events a resuming client missed, each with its id, one frame
/// each; `false` if the client went away.
pub(super) fn write_replayed(writer: &mut StreamWriter<'_>, missed: &[(String, String)]) -> bool {
    missed
        .iter()
        .all(|(id, json)| write_event(writer, Some(id), json).is_ok())
}

/// Writes one `message` event (with its id, if any) in one vectored
/// write: the JSON is not copied into a frame first.
pub(super) fn write_event(
    writer: &mut StreamWriter<'_>,
    id: Option<&str>,
    json: &str,
) -> std::io::Result<()> {
    write_event_with(id, json, |parts| writer.write_parts(parts))
}

/// Frames one `message` event and hands it to `write` whole.
fn write_event_with(
    id: Option<&str>,
    json: &str,
    write: impl FnOnce(&[&[u8]]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(48);
    if let Some(parts) = event_parts(id, Some("message"), json, &mut head) {
        return write(&parts);
    }
    // Line breaks (never in compact JSON): several `data:` lines.
    let mut frame = Vec::with_capacity(json.len() + 64);
    if let Some(id) = id {
        encode_id(id, &mut frame);
    }
    encode_event(Some("message"), json, &mut frame);
    write(&[&frame])
}

/// When a stream writes its `: ping` keepalives (`keepalive_interval`)
/// and how often it wakes to check that its client is still there (twice
/// per `cleanup_deadline`). One schedule for every SSE writer.
pub(super) struct Keepalive {
    every: Option<Duration>,
    check: Duration,
    next: Option<Instant>,
}

impl Keepalive {
    /// The schedule of `settings`, starting now. `enabled: false` turns off
    /// keepalives only: without the send timeout and the liveness check a
    /// dead client could hold its thread forever.
    pub(super) fn new(settings: &SseResilience) -> Keepalive {
        Keepalive::with_every(
            settings.keepalive_interval.filter(|_| settings.enabled),
            settings,
        )
    }

    /// Like [`Keepalive::new`], with keepalives every `fallback` when the
    /// settings have none (a stream that must keep proxies open).
    pub(super) fn at_least(settings: &SseResilience, fallback: Duration) -> Keepalive {
        let every = settings.keepalive_interval.filter(|_| settings.enabled);
        Keepalive::with_every(every.or(Some(fallback)), settings)
    }

    fn with_every(every: Option<Duration>, settings: &SseResilience) -> Keepalive {
        Keepalive {
            every,
            check: (settings.cleanup_deadline / 2).max(Duration::from_millis(50)),
            next: every.map(|k| Instant::now() + k),
        }
    }

    /// How long to wait for the next message: until the next keepalive,
    /// and never longer than the liveness check interval.
    pub(super) fn wait(&self) -> Duration {
        self.next.map_or(self.check, |t| {
            t.saturating_duration_since(Instant::now()).min(self.check)
        })
    }

    /// Appends a `: ping` to `frame` if one is due; returns whether it did.
    pub(super) fn ping_if_due(&mut self, frame: &mut Vec<u8>) -> bool {
        match (self.next, self.every) {
            (Some(at), Some(every)) if Instant::now() >= at => {
                encode_comment("ping", frame);
                self.next = Some(Instant::now() + every);
                true
            }
            _ => false,
        }
    }
}

/// `POST /messages/`: one client→server message for a session.
pub(super) fn post(gateway: &Gateway, req: &Request, access: Access<'_>) -> Response {
    let content_type = req.header(header::CONTENT_TYPE).map(media_type);
    if content_type.as_deref() != Some("application/json") {
        return Response::text(400, "invalid Content-Type: expected application/json\n");
    }
    let Some(id) = SESSION_PARAMS.iter().find_map(|p| req.query_param(p)) else {
        return Response::text(400, "session_id is required\n");
    };
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Response::text(400, "invalid session_id: expected 32 hex digits\n");
    }
    let Some(session) = gateway.sessions.get(id) else {
        return Response::text(404, "session not found\n");
    };
    if !access.owns(&session) {
        // The POST must carry the token of the session's stream,
        // and come to the path (whole gateway or group) that opened it.
        // Answer as if the session did not exist, like python-sdk.
        return Response::text(404, "session not found\n");
    }
    match decode_text(&req.body, Batches::Refused) {
        Ok(decoded) => {
            for mut message in decoded.into_messages().0 {
                super::trace_header::adopt(gateway, req, &mut message);
                debug!("session {}: <- {:?}", session.short_id(), message);
                gateway.router.handle(&session, message);
            }
            Response::text(202, "Accepted")
        }
        Err(DecodeError::Json(e)) => {
            session.send(Message::error(
                None,
                code::PARSE_ERROR,
                format!("parse error: {e}"),
            ));
            Response::text(400, format!("could not parse message: invalid JSON: {e}\n"))
        }
        Err(DecodeError::BatchRefused | DecodeError::EmptyBatch) => {
            session.send(Message::error(
                None,
                code::INVALID_REQUEST,
                "JSON-RPC batches are not supported on the SSE transport",
            ));
            Response::text(400, "could not parse message: batches are not supported\n")
        }
        Err(DecodeError::Invalid(invalid)) => {
            session.send(Message::error(
                invalid.id,
                code::INVALID_REQUEST,
                format!("invalid request: {}", invalid.reason),
            ));
            Response::text(
                400,
                format!("could not parse message: {}\n", invalid.reason),
            )
        }
    }
}
