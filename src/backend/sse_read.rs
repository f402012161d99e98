//! The one SSE read loop of the backend transports: the legacy SSE stream
//! (`sse_client`) and Streamable HTTP answer and GET streams (`streamable`)
//! read their bodies through [`read_events`], and take JSON-RPC out of
//! `message` events with [`message_json`].

use std::io::Read;
use std::ops::ControlFlow;

use log::warn;
use serde_json::Value;

use crate::sse::{Event, Parser};

/// Why a stream's reading ended.
#[derive(Debug)]
pub enum Ended {
    /// The gateway is stopping it.
    Stopped,
    /// The server ended the body.
    Eof,
    /// No byte for the read timeout.
    Idle,
    /// Reading failed.
    Failed(String),
    /// An event over the parser's limit.
    TooLarge(String),
    /// The event handler asked to stop.
    Handler,
}

/// Reads `body` to its end through `parser`, handing every event to
/// `on_event`; `stopping` is checked after each read.
pub fn read_events(
    mut body: impl Read,
    parser: &mut Parser,
    stopping: &dyn Fn() -> bool,
    mut on_event: impl FnMut(Event) -> ControlFlow<()>,
) -> Ended {
    let mut buf = vec![0u8; 16 * 1024];
    let mut events = Vec::new();
    loop {
        let read = body.read(&mut buf);
        if stopping() {
            return Ended::Stopped;
        }
        let n = match read {
            Ok(0) => return Ended::Eof,
            Ok(n) => n,
            Err(e) => {
                return match ureq::Error::from(e) {
                    ureq::Error::Timeout(ureq::Timeout::PerRead) => Ended::Idle,
                    e => Ended::Failed(e.to_string()),
                };
            }
        };
        if let Err(e) = parser.feed(&buf[..n], &mut events) {
            return Ended::TooLarge(e.to_string());
        }
        for event in events.drain(..) {
            if on_event(event).is_break() {
                return Ended::Handler;
            }
        }
    }
}

/// The JSON-RPC value of a `message` event; `None` for an empty one, or
/// (logged) one that is not JSON.
pub fn message_json(backend: &str, event: &Event) -> Option<Value> {
    let data = event.data.trim();
    if data.is_empty() {
        return None;
    }
    match serde_json::from_str::<Value>(data) {
        Ok(value) => Some(value),
        Err(e) => {
            warn!("[{backend}] SSE message is not JSON ({e}); skipped");
            None
        }
    }
}
