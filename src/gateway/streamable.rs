//! The Streamable HTTP front transport, `/mcp`, for protocol versions
//! 2025-03-26, 2025-06-18 and 2025-11-25 (each revision's Basic › Transports
//! › Streamable HTTP).
//!
//! Sessions are created only by a valid `initialize` (no session header);
//! the id goes out in `Mcp-Session-Id`. A POST of notifications/responses
//! answers 202. A POST with a request opens that request's answer stream on
//! the session, hands the message to the router, and waits: the answer
//! alone comes back as `application/json`; if something for the request
//! comes first (progress) and the client accepts `text/event-stream`, the
//! response switches to an SSE stream that carries it and then the answer.
//! `GET` takes the session's general queue for server-initiated messages
//! (one at a time: a second gets 409). `DELETE` ends the session and cancels
//! its requests. Batches are accepted for 2025-03-26 only. A request of
//! the 2026-07-28 era goes to `modern` instead, statelessly.

use crate::queue::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, info};
use serde_json::Value;

use super::decode::{Batches, DecodeError, decode};
use super::sse::{Keepalive, Start, accepts_sse, pump, sse_headers, write_event, write_replayed};
use super::streams::{ForRequest, StreamableStreams};
use super::{Access, Gateway};
use crate::config::Transport;
use crate::http::{Request, Response, StreamWriter, header, media_type};
use crate::jsonrpc::{Message, RequestId, code};
use crate::limits::SESSION_OUTBOUND_QUEUE;
use crate::mcp::{self, method};
use crate::replay::GENERAL;
use crate::session::Session;

/// How long a resuming GET waits for the writer of the stream it resumes
/// to yield (a writer whose client vanished notices only at its next check).
const TAKEOVER_WAIT: Duration = Duration::from_secs(2);

/// The version assumed when a request does not say (MCP 2025-06-18, Basic ›
/// Transports › Streamable HTTP › Protocol Version Header), and the only one
/// that allows JSON-RPC batches (2025-06-18 removed them).
const DEFAULT_VERSION: &str = "2025-03-26";

/// A JSON-RPC error body without id, as HTTP-level errors carry.
fn error(status: u16, code: i64, message: &str) -> Response {
    Response::json_text(status, Message::error(None, code, message).to_json_text())
}

/// Answers `/mcp` and `/mcp/`.
pub(super) fn handle(gateway: &Gateway, req: &Request, access: Access<'_>) -> Response {
    // 2026-07-28 has no sessions, so no GET stream and no DELETE.
    let modern = req
        .header(mcp::header::PROTOCOL_VERSION)
        .is_some_and(|v| !mcp::is_handshake_version(v.trim()));
    if modern && req.method() != "POST" && req.header(mcp::header::SESSION_ID).is_none() {
        return super::method_not_allowed("POST");
    }
    match req.method() {
        "POST" => post(gateway, req, access),
        "GET" | "HEAD" => get(gateway, req, access),
        "DELETE" => delete(gateway, req, access),
        _ => super::method_not_allowed("GET, POST, DELETE"),
    }
}

/// A Streamable HTTP session and its streams.
type Open = (Arc<Session>, Arc<StreamableStreams>);

/// The session a request names: missing header 400; unknown, ended, or
/// opened with another bearer token 404.
fn session_of(gateway: &Gateway, req: &Request, access: Access<'_>) -> Result<Open, Response> {
    let Some(id) = req.header(mcp::header::SESSION_ID) else {
        return Err(error(
            400,
            code::SERVER_ERROR,
            "Bad Request: Mcp-Session-Id header is required",
        ));
    };
    match gateway.sessions.with_streams(id) {
        Some((s, Some(streams))) if s.transport == Transport::StreamableHttp && access.owns(&s) => {
            Ok((s, streams))
        }
        _ => Err(error(404, code::SESSION_NOT_FOUND, "Session not found")),
    }
}

/// Checks `MCP-Protocol-Version` (absent: the session's version, else 2025-03-26).
fn version_of(req: &Request, session: Option<&Session>) -> Result<&'static str, Response> {
    match req.header(mcp::header::PROTOCOL_VERSION) {
        Some(v) => mcp::SUPPORTED_VERSIONS
            .iter()
            .find(|s| **s == v.trim())
            .copied()
            .ok_or_else(|| {
                error(
                    400,
                    code::SERVER_ERROR,
                    &format!(
                        "Bad Request: Unsupported protocol version: {v} (supported versions: {})",
                        mcp::SUPPORTED_VERSIONS.join(", ")
                    ),
                )
            }),
        None => Ok(session
            .and_then(|s| s.state().protocol_version)
            .unwrap_or(DEFAULT_VERSION)),
    }
}

fn with_session_id(response: Response, id: &str) -> Response {
    response.with_header(mcp::header::SESSION_ID, id)
}

/// Answers a POST to `/mcp`: an `initialize` opens a session; other
/// messages go to the router on their session, and the answers to their
/// requests come back (one as JSON or SSE, a batch as a JSON array).
fn post(gateway: &Gateway, req: &Request, access: Access<'_>) -> Response {
    let body = match json_body(req) {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    if super::modern::wants(req, &body) {
        return super::modern::post(gateway, req, access, body);
    }
    let is_batch = body.is_array();
    let mut messages = match messages_of(body) {
        Ok(messages) => messages,
        Err(refusal) => return refusal,
    };
    for m in &mut messages {
        super::trace_header::adopt(gateway, req, m);
    }
    let is_init =
        |m: &Message| matches!(m, Message::Request { method, .. } if method == method::INITIALIZE);
    if messages.iter().any(is_init) {
        return post_initialize(gateway, req, access, is_batch, messages);
    }
    let (session, streams) = match session_for_post(gateway, req, access, is_batch) {
        Ok(s) => s,
        Err(refusal) => return refusal,
    };
    session.touch();
    let requests: Vec<RequestId> = messages
        .iter()
        .filter_map(|m| match m {
            Message::Request { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    if requests.is_empty() {
        for m in messages {
            gateway.router.handle(&session, m);
        }
        return with_session_id(Response::empty(202), &session.id);
    }
    let answers = match open_streams(&streams, &requests) {
        Ok(answers) => answers,
        Err(refusal) => return with_session_id(refusal, &session.id),
    };
    for m in messages {
        gateway.router.handle(&session, m);
    }
    let wait = gateway.answer_wait();
    let response = if is_batch {
        batch_answers(&streams, &answers, wait)
    } else {
        let (id, rx) = answers.into_iter().next().expect("one request");
        let open = (session.clone(), streams);
        single_answer(gateway, open, id, rx, wait, accepts_sse(req))
    };
    with_session_id(response, &session.id)
}

/// The POST's body as JSON: 415 unless it says `application/json`, 400 if
/// it does not parse.
fn json_body(req: &Request) -> Result<Value, Response> {
    if req.header(header::CONTENT_TYPE).map(media_type).as_deref() != Some("application/json") {
        return Err(error(
            415,
            code::SERVER_ERROR,
            "Unsupported Media Type: Content-Type must be application/json",
        ));
    }
    serde_json::from_slice(&req.body)
        .map_err(|e| error(400, code::PARSE_ERROR, &format!("Parse error: {e}")))
}

/// The JSON-RPC messages of a body (one, or a batch's); 400 for an empty
/// batch or a message that is not JSON-RPC.
fn messages_of(body: Value) -> Result<Vec<Message>, Response> {
    match decode(body, Batches::Taken) {
        Ok(decoded) => Ok(decoded.into_messages().0),
        Err(DecodeError::EmptyBatch) => Err(error(
            400,
            code::INVALID_REQUEST,
            "Invalid Request: empty batch",
        )),
        Err(DecodeError::Invalid(invalid)) => Err(error(
            400,
            code::INVALID_REQUEST,
            &format!("Invalid Request: {}", invalid.reason),
        )),
        // Parsed already; batches are taken here.
        Err(DecodeError::Json(_) | DecodeError::BatchRefused) => {
            Err(error(400, code::INVALID_REQUEST, "Invalid Request"))
        }
    }
}

/// A POST with an `initialize`: refused in a batch or on a session,
/// otherwise it opens a session.
fn post_initialize(
    gateway: &Gateway,
    req: &Request,
    access: Access<'_>,
    is_batch: bool,
    mut messages: Vec<Message>,
) -> Response {
    if is_batch {
        return error(
            400,
            code::INVALID_REQUEST,
            "Invalid Request: initialize must not be batched",
        );
    }
    if req.header(mcp::header::SESSION_ID).is_some() {
        return error(
            400,
            code::INVALID_REQUEST,
            "Invalid Request: session already initialized",
        );
    }
    initialize(gateway, req, access, messages.remove(0))
}

/// The session a POST of other messages goes to, once its protocol
/// version is checked (a batch only with 2025-03-26).
fn session_for_post(
    gateway: &Gateway,
    req: &Request,
    access: Access<'_>,
    is_batch: bool,
) -> Result<Open, Response> {
    let (session, streams) = session_of(gateway, req, access)?;
    let version = match version_of(req, Some(&session)) {
        Ok(v) => v,
        Err(refusal) => return Err(with_session_id(refusal, &session.id)),
    };
    if is_batch && version != DEFAULT_VERSION {
        return Err(with_session_id(
            error(
                400,
                code::INVALID_REQUEST,
                "Invalid Request: batches are only allowed with protocol 2025-03-26",
            ),
            &session.id,
        ));
    }
    Ok((session, streams))
}

/// Opens an answer stream on the session for each request; if an id is
/// already in flight, closes those it opened and refuses (400).
fn open_streams(
    streams: &StreamableStreams,
    requests: &[RequestId],
) -> Result<Vec<(RequestId, Receiver<ForRequest>)>, Response> {
    let mut opened: Vec<(RequestId, Receiver<ForRequest>)> = Vec::with_capacity(requests.len());
    for id in requests {
        match streams.open_request_stream(id.clone()) {
            Some(rx) => opened.push((id.clone(), rx)),
            None => {
                for (earlier, _) in &opened {
                    streams.close_request_stream(earlier);
                }
                let message = format!("Invalid Request: request id {id} is already in flight");
                return Err(error(400, code::INVALID_REQUEST, &message));
            }
        }
    }
    Ok(opened)
}

/// A batch's answers, as a JSON array, in request order (one not answered
/// in time is left out); its streams closed.
fn batch_answers(
    streams: &StreamableStreams,
    waiting: &[(RequestId, Receiver<ForRequest>)],
    wait: Duration,
) -> Response {
    let mut answers = Vec::new();
    for (_, rx) in waiting {
        if let Waited::Answer(answer) = wait_answer(rx, wait, |_| {}) {
            answers.push(answer);
        }
    }
    for (id, _) in waiting {
        streams.close_request_stream(id);
    }
    let array = serde_json::to_string(&answers).unwrap_or_else(|_| "[]".into());
    Response::json_text(200, array)
}

/// How waiting for a request's answer ended.
enum Waited {
    Answer(Message),
    Cancelled,
    /// No answer in time, or the session ended (the stream is gone).
    Nothing(RecvTimeoutError),
}

/// Waits for the answer on `rx`; what comes before it goes to `other`.
fn wait_answer(
    rx: &Receiver<ForRequest>,
    wait: Duration,
    mut other: impl FnMut(Message),
) -> Waited {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(ForRequest::Answer(answer)) => return Waited::Answer(answer),
            Ok(ForRequest::Cancelled) => return Waited::Cancelled,
            Ok(ForRequest::Message(message)) => other(message),
            // Only an answer stream is ever asked to yield.
            Ok(ForRequest::Yield) => {}
            Err(e) => return Waited::Nothing(e),
        }
    }
}

/// The JSON body for a request that got no answer.
fn no_answer(session: &Session, id: RequestId, waited: &Waited) -> Response {
    let (code, message) = match waited {
        Waited::Cancelled => (code::REQUEST_CANCELLED, "request cancelled by the client"),
        Waited::Nothing(RecvTimeoutError::Disconnected) => (code::INTERNAL_ERROR, "session ended"),
        _ if session.is_closed() => (code::INTERNAL_ERROR, "session ended"),
        _ => (code::INTERNAL_ERROR, "no answer in time"),
    };
    Response::json_text(200, Message::error(Some(id), code, message).to_json_text())
}

/// The answer to one request: JSON, or SSE when something must go first.
fn single_answer(
    gateway: &Gateway,
    (session, streams): Open,
    id: RequestId,
    rx: Receiver<ForRequest>,
    wait: Duration,
    sse_ok: bool,
) -> Response {
    let first = match rx.recv_timeout(wait) {
        Ok(ForRequest::Message(message)) => message,
        // Not an answer stream yet: nothing can ask it to yield.
        Ok(ForRequest::Yield) => {
            return no_answer(&session, id, &Waited::Nothing(RecvTimeoutError::Timeout));
        }
        Ok(ForRequest::Answer(answer)) => {
            streams.close_request_stream(&id);
            return json_answer(&answer);
        }
        Ok(ForRequest::Cancelled) => return no_answer(&session, id, &Waited::Cancelled),
        Err(e) => {
            streams.close_request_stream(&id);
            return no_answer(&session, id, &Waited::Nothing(e));
        }
    };
    if !sse_ok {
        // The client cannot take a stream: drop what comes before the answer.
        let waited = wait_answer(&rx, wait, |m| {
            debug!("dropped for a JSON-only client: {}", m.to_json_text())
        });
        streams.close_request_stream(&id);
        return match waited {
            Waited::Answer(answer) => json_answer(&answer),
            other => no_answer(&session, id, &other),
        };
    }
    let settings = gateway.config().sse.clone();
    let stream = streams.replay.new_request_stream();
    streams.answer_stream_opened(&stream, &id);
    sse_headers(Response::stream(
        200,
        Box::new(move |writer| {
            let first = Some(ForRequest::Message(first));
            let end = answer_stream(writer, &streams, &rx, &stream, first, wait, &settings);
            finish_answer_stream(&session, &streams, stream, id, rx, end);
        }),
    ))
}

fn json_answer(answer: &Message) -> Response {
    Response::json_text(200, answer.to_json_text())
}

/// How an answer stream ended.
enum StreamEnd {
    /// The answer was written, the request cancelled, or time ran out.
    Done,
    /// The client went away before the answer: it may resume.
    ClientGone,
}

/// Streams messages of one request (each with an id of `stream`, kept for
/// a client that resumes), ending after its answer, when the client
/// cancels it, or when the client goes away.
fn answer_stream(
    writer: &mut StreamWriter<'_>,
    streams: &StreamableStreams,
    rx: &Receiver<ForRequest>,
    stream: &str,
    first: Option<ForRequest>,
    wait: Duration,
    settings: &crate::config::SseResilience,
) -> StreamEnd {
    if writer
        .set_write_timeout(Some(settings.send_timeout))
        .is_err()
    {
        return StreamEnd::ClientGone;
    }
    let mut keepalive = Keepalive::new(settings);
    let deadline = Instant::now() + wait;
    let mut frame = Vec::new();
    let mut next = first;
    loop {
        frame.clear();
        match next.take() {
            Some(ForRequest::Message(message)) => {
                let text = message.to_json_text();
                let id = streams.replay.record(stream, &text);
                if write_event(writer, Some(&id), &text).is_err() {
                    return StreamEnd::ClientGone;
                }
            }
            Some(ForRequest::Answer(answer)) => {
                let text = answer.to_json_text();
                let id = streams.replay.record(stream, &text);
                let _ = write_event(writer, Some(&id), &text);
                return StreamEnd::Done;
            }
            Some(ForRequest::Cancelled) => return StreamEnd::Done,
            Some(ForRequest::Yield) => return StreamEnd::ClientGone,
            None => {
                if writer.peer_closed() {
                    return StreamEnd::ClientGone;
                }
                if Instant::now() >= deadline {
                    return StreamEnd::Done;
                }
                if keepalive.ping_if_due(&mut frame) && writer.write_frame(&frame).is_err() {
                    return StreamEnd::ClientGone;
                }
            }
        }
        match rx.recv_timeout(keepalive.wait()) {
            Ok(item) => next = Some(item),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return StreamEnd::Done,
        }
    }
}

/// `initialize` without a session header: creates the session.
fn initialize(gateway: &Gateway, req: &Request, access: Access<'_>, message: Message) -> Response {
    if let Err(refusal) = version_of(req, None) {
        return refusal;
    }
    let Message::Request { id, .. } = &message else {
        return error(400, code::INVALID_REQUEST, "Invalid Request");
    };
    if !gateway.session_room() {
        let why = super::SessionsFull {
            max: gateway.config().server.max_sessions,
        };
        return error(503, code::INTERNAL_ERROR, &why.to_string());
    }
    let id = id.clone();
    let session_id = match gateway.new_session_id() {
        Ok(s) => s,
        Err(e) => {
            return error(
                500,
                code::INTERNAL_ERROR,
                &format!("cannot create a session id: {e}"),
            );
        }
    };
    let (session, rx) = Session::new(
        session_id,
        Transport::StreamableHttp,
        req.peer,
        access.identity.cloned(),
        SESSION_OUTBOUND_QUEUE,
    );
    let streams = Arc::new(StreamableStreams::default());
    let session = session
        .in_group(access.group)
        .on_slow(gateway.slow_hook())
        .with_request_streams(streams.clone());
    streams.park(&session, rx);
    let session = Arc::new(session);
    let Some(answers) = streams.open_request_stream(id.clone()) else {
        return error(
            500,
            code::INTERNAL_ERROR,
            "new session already has this request",
        );
    };
    gateway.router.handle(&session, message);
    let waited = wait_answer(&answers, gateway.answer_wait(), |_| {});
    streams.close_request_stream(&id);
    let Waited::Answer(answer) = waited else {
        return error(500, code::INTERNAL_ERROR, "initialize was not answered");
    };
    // Only a successful initialize creates a session.
    if !session.state().initialized {
        return json_answer(&answer);
    }
    if let Err(why) = gateway.admit(&session, Some(streams)) {
        // Filled up while this one initialized.
        session.close();
        return error(503, code::INTERNAL_ERROR, &why.to_string());
    }
    info!(
        "session {} opened over Streamable HTTP by {}",
        session.short_id(),
        req.peer
    );
    with_session_id(json_answer(&answer), &session.id)
}

/// `GET /mcp`: the session's stream for server-initiated messages.
fn get(gateway: &Gateway, req: &Request, access: Access<'_>) -> Response {
    let (session, streams) = match session_of(gateway, req, access) {
        Ok(s) => s,
        Err(refusal) => return refusal,
    };
    if let Err(refusal) = version_of(req, Some(&session)) {
        return refusal;
    }
    if req.method() == "HEAD" {
        return sse_headers(Response::empty(200));
    }
    // A client resuming a stream it lost (MCP resumability): replay what
    // it missed; an answer stream also goes on to its answer.
    let last = req.header(mcp::header::LAST_EVENT_ID).map(str::to_owned);
    let resumed = last.as_deref().and_then(|l| streams.replay.since(l));
    if let (Some(last), Some((stream, _))) = (&last, &resumed)
        && stream != GENERAL
    {
        let response = resume_answer(gateway, (session, streams), stream.clone(), last);
        return with_session_id(response, &req_session_id(req));
    }
    let taken = if resumed.is_some() {
        // A resuming client: its old stream is dead even if we have not
        // noticed yet.
        streams.take_stream_over(&session, TAKEOVER_WAIT)
    } else {
        streams.take_stream(&session)
    };
    let Some(rx) = taken else {
        return with_session_id(
            error(
                409,
                code::SERVER_ERROR,
                "Conflict: Only one SSE stream is allowed per session",
            ),
            &session.id,
        );
    };
    // Only now, with the old writer gone, is "what it sent" final.
    let missed = last
        .as_deref()
        .and_then(|l| streams.replay.since(l))
        .map(|(_, missed)| missed)
        .unwrap_or_default();
    session.touch();
    let settings = gateway.config().sse.clone();
    let id = session.id.clone();
    with_session_id(
        sse_headers(Response::long_stream(
            200,
            Box::new(move |writer| {
                let start = Start::Resumable(missed, &streams.replay);
                pump(writer, &session, &rx, start, &settings);
                session.touch();
                streams.park(&session, rx);
            }),
        )),
        &id,
    )
}

/// The session id a request named (it was checked by `session_of`).
fn req_session_id(req: &Request) -> String {
    req.header(mcp::header::SESSION_ID)
        .unwrap_or_default()
        .to_owned()
}

/// `GET /mcp` with `Last-Event-ID: last` of answer stream `stream`: the
/// events missed, then, if the answer had not been sent, the rest of it.
fn resume_answer(gateway: &Gateway, open: Open, stream: String, last: &str) -> Response {
    let (session, streams) = open;
    session.touch();
    let settings = gateway.config().sse.clone();
    let wait = gateway.answer_wait();
    let parked = streams.take_answer_stream_over(&stream, TAKEOVER_WAIT);
    // Read after the takeover: the old writer may have written more (even
    // the answer) before it yielded or finished.
    let missed = streams
        .replay
        .since(last)
        .map(|(_, missed)| missed)
        .unwrap_or_default();
    sse_headers(Response::stream(
        200,
        Box::new(move |writer| {
            let replayed = write_replayed(writer, &missed);
            if let Some((id, rx)) = parked {
                let end = if replayed {
                    answer_stream(writer, &streams, &rx, &stream, None, wait, &settings)
                } else {
                    StreamEnd::ClientGone
                };
                finish_answer_stream(&session, &streams, stream, id, rx, end);
            }
        }),
    ))
}

/// After an answer stream: done, or parked for a client that may resume it.
fn finish_answer_stream(
    session: &Session,
    streams: &StreamableStreams,
    stream: String,
    id: RequestId,
    rx: Receiver<ForRequest>,
    end: StreamEnd,
) {
    // Parked (or closed) before it is marked closed: a resuming GET that
    // waits for either must find the parked rest when it wakes.
    match end {
        StreamEnd::ClientGone if !session.is_closed() => {
            streams.park_request_stream(stream.clone(), id, rx)
        }
        _ => streams.close_request_stream(&id),
    }
    streams.answer_stream_closed(&stream);
}

/// `DELETE /mcp`: ends the session and cancels its requests.
fn delete(gateway: &Gateway, req: &Request, access: Access<'_>) -> Response {
    let session = match session_of(gateway, req, access) {
        Ok((s, _)) => s,
        Err(refusal) => return refusal,
    };
    gateway.end_session(&session);
    Response::empty(200)
}
