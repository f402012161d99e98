//! The protocol decisions of the legacy SSE transport, pure and tested
//! without a socket: whether the GET's answer is an event stream, what an
//! event on it is to us (only the first `endpoint` counts), why the stream
//! ended (the connection's close cause), and whether a POST answer's body
//! is a JSON-RPC reply. The endpoint's resolution is `endpoint`'s; no IO here.

use serde_json::Value;

use super::ConnectError;
use crate::backend::sse_read::Ended;
use crate::limits::{MAX_BACKEND_MESSAGE_BYTES, SSE_IDLE_TIMEOUT};

/// Whether the answer to the stream's GET is an event stream we can read.
pub(super) fn check_stream(url: &str, status: u16, media_type: &str) -> Result<(), ConnectError> {
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
pub(super) enum StreamEvent {
    /// The first `endpoint` event: where to POST.
    Endpoint,
    /// A `message` event: JSON-RPC from the server.
    Message,
    /// Anything else, a second `endpoint` included.
    Ignored,
}

/// Classifies an event by its name; `endpoint_seen`: an `endpoint` event
/// came before (only the first one counts).
pub(super) fn event_kind(name: &str, endpoint_seen: bool) -> StreamEvent {
    match name {
        "endpoint" if !endpoint_seen => StreamEvent::Endpoint,
        "message" => StreamEvent::Message,
        _ => StreamEvent::Ignored,
    }
}

/// Why the stream ended, as the connection's close cause.
pub(super) fn end_cause(ended: &Ended) -> String {
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
pub(super) fn reply_in_post_body(body: &[u8]) -> Option<Value> {
    let value = serde_json::from_slice::<Value>(body).ok()?;
    value.get("jsonrpc").is_some().then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
