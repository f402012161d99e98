//! The protocol decisions of the Streamable HTTP transport, pure and
//! tested without a socket: what a POST's answer means (and whether its
//! body must be read to tell), the session id an answer assigns, the
//! version an `initialize` answer negotiates, how long to wait before
//! resuming a stream, and whether a push or resumed stream opened. No IO
//! here; the other parts read what these ask for and act on what they say.

use std::time::Duration;

use serde_json::Value;

/// The longest `retry:` we wait before resuming a stream.
const MAX_RESUME_DELAY: Duration = Duration::from_secs(10);

/// How a POST was sent, which decides how its answer is taken.
#[derive(Debug, Clone, Copy)]
pub(super) struct Posted {
    /// It carried our session id.
    pub(super) in_session: bool,
    /// A lost session may still be re-initialized for it (once per message).
    pub(super) may_reinit: bool,
    /// The id of the request POSTed, if it is one.
    pub(super) related: Option<u64>,
}

/// What the answer to a POST means.
#[derive(Debug, PartialEq)]
pub(super) enum Answer {
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
pub(super) fn needs_body(status: u16, media_type: &str, posted: Posted) -> bool {
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
pub(super) fn classify(
    status: u16,
    media_type: &str,
    body: Option<&[u8]>,
    posted: Posted,
) -> Answer {
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
pub(super) fn assigned_session(header: &str, current: Option<&str>) -> Option<String> {
    (current != Some(header)).then(|| header.to_owned())
}

/// The protocol version an `initialize` answer negotiates: `value` must
/// answer our `initialize` (id `init_id`) with a `result.protocolVersion`.
pub(super) fn negotiated_version(value: &Value, init_id: Option<u64>) -> Option<&str> {
    if init_id.is_none() || value.get("id").and_then(Value::as_u64) != init_id {
        return None;
    }
    value.pointer("/result/protocolVersion")?.as_str()
}

/// How long to wait before resuming a stream that asked for `retry:` ms
/// (MCP 2025-11-25, Transports §Resumability and Redelivery): as asked, at
/// most [`MAX_RESUME_DELAY`].
pub(super) fn resume_delay(retry_ms: Option<u64>) -> Duration {
    Duration::from_millis(retry_ms.unwrap_or(0)).min(MAX_RESUME_DELAY)
}

/// Whether a GET with `Last-Event-ID` (or of the push stream) opened an
/// event stream.
pub(super) fn is_open_stream(status: u16, media_type: &str) -> bool {
    (200..300).contains(&status) && media_type == "text/event-stream"
}

/// What the answer to the request opening a push stream means.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum PushAnswer {
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
pub(super) fn push_answer(status: u16, media_type: &str) -> PushAnswer {
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
}
