//! `GET /manage/v1/events/stream`: lifecycle events as they happen, as SSE
//! framed as the original Argus frames it: a `heartbeat` first, then `event:
//! <stage>` / `data: <event>` / `id: <event id>` per event, and a `heartbeat`
//! ping after 30 s of silence. The stream ends at shutdown; a client that goes
//! away is noticed within a few seconds.

use std::time::{Duration, Instant};

use super::{Gateway, error};
use crate::http::{Request, Response};
use crate::queue::RecvTimeoutError;
use crate::sse::{encode_event, encode_id};

/// Silence after which a heartbeat goes out.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// How often a quiet stream checks that its client is still there.
const PEER_CHECK: Duration = Duration::from_secs(5);

/// Bounds each write: a client that stops reading is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) fn events(gateway: &Gateway, req: &Request) -> Response {
    if req.method() == "HEAD" {
        return headers(Response::empty(200));
    }
    let Some(subscription) = gateway.runtime.events().subscribe() else {
        return error(
            503,
            "service_unavailable",
            "too many event streams are open, or the gateway is stopping",
        );
    };
    headers(Response::long_stream(
        200,
        Box::new(move |writer| {
            if writer.set_write_timeout(Some(SEND_TIMEOUT)).is_err() {
                return;
            }
            let mut frame = Vec::with_capacity(512);
            encode_id("hb-0", &mut frame);
            encode_event(Some("heartbeat"), r#"{"message": "connected"}"#, &mut frame);
            if writer.write_frame(&frame).is_err() {
                return;
            }
            let mut last_write = Instant::now();
            loop {
                frame.clear();
                match subscription.events.recv_timeout(PEER_CHECK) {
                    Ok(event) => {
                        encode_id(&event.id, &mut frame);
                        encode_event(Some(&event.stage), &event.json.to_string(), &mut frame);
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                    Err(RecvTimeoutError::Timeout) => {
                        if writer.peer_closed() {
                            return;
                        }
                        if last_write.elapsed() < HEARTBEAT {
                            continue;
                        }
                        encode_event(Some("heartbeat"), r#"{"message": "ping"}"#, &mut frame);
                    }
                }
                if writer.write_frame(&frame).is_err() {
                    return;
                }
                last_write = Instant::now();
            }
        }),
    ))
}

fn headers(response: Response) -> Response {
    response
        .with_header("Content-Type", "text/event-stream")
        .with_header("Cache-Control", "no-cache")
        .with_header("X-Accel-Buffering", "no")
}
