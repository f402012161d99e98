//! The writer of a Streamable HTTP transport and its POSTs: every
//! outgoing message is POSTed with the session's headers (requests on
//! bounded workers, the rest in order on the writer thread), its answer is
//! classified by `decide`, a lost session is re-initialized once, and a
//! failure goes to its request or closes an unreachable connection. Reading
//! a 2xx answer's body is `answer`'s; the push stream is `push`'s.

use std::sync::{Arc, Weak};

use log::{debug, info, warn};
use ureq::Agent;

use super::decide::{Answer, Posted, assigned_session, classify, needs_body};
use super::streams::{deliver, open_get_stream, read_answer};
use super::{PostFailure, StreamableState};
use crate::backend::auth::{SendError, with_headers};
use crate::backend::connection::{Backlog, CallError, Connection, Frame};
use crate::backend::content_type;
use crate::jsonrpc::Message;
use crate::mcp::{self, method};

/// The most of a 4xx answer's body we read to learn what it means.
const MAX_ERROR_BODY_BYTES: u64 = 64 * 1024;

/// POSTs every outgoing message in order: requests are handed to the
/// POST workers, the rest POSTed here. Runs on the transport's writer
/// thread (`argus-post-<name>`).
pub(super) fn post_loop(
    conn: &Arc<Connection>,
    shared: &Arc<StreamableState>,
    agent: &Agent,
    outbound: &Backlog,
) {
    while let Ok(frame) = outbound.recv() {
        if shared.stopping() {
            return;
        }
        if frame.method.as_deref() == Some(method::INITIALIZE) {
            let mut s = shared.session();
            s.init = Some(frame.bytes.clone());
            s.init_id = frame.id;
        }
        if frame.is_call() {
            shared.posts.hand_on(conn, frame);
            outbound.written();
            continue;
        }
        let delivered = deliver_one(conn, shared, agent, &frame);
        outbound.written();
        if !delivered {
            return;
        }
    }
}

/// POSTs one request; runs on a POST worker (`argus-call-<name>`), under
/// no lock. The connection is held weakly: the workers are its own.
pub(super) fn post_call(
    conn: &Weak<Connection>,
    shared: &Weak<StreamableState>,
    agent: &Agent,
    frame: Frame,
) {
    let (Some(conn), Some(shared)) = (conn.upgrade(), shared.upgrade()) else {
        return;
    };
    if !shared.stopping() {
        deliver_one(&conn, &shared, agent, &frame);
    }
}

/// POSTs one message and reports a failure to its request; returns `false`
/// when the server is unreachable (the connection is closed then).
fn deliver_one(
    conn: &Arc<Connection>,
    shared: &Arc<StreamableState>,
    agent: &Agent,
    frame: &Frame,
) -> bool {
    let (method, request_id) = (frame.method.as_deref().unwrap_or_default(), frame.id);
    match post(
        conn,
        shared,
        agent,
        &frame.bytes,
        &frame.headers,
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
        let media_type = content_type(&response);
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

#[cfg(test)]
mod tests {
    use super::*;

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
