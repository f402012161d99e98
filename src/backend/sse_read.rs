//! The one SSE read loop of the backend transports: the legacy SSE stream
//! (`sse_client`) and Streamable HTTP answer and GET streams (`streamable`)
//! read their bodies through [`read_events`]; [`super::salvage::event_message`]
//! takes JSON-RPC out of their `message` events.

use std::io::Read;
use std::ops::ControlFlow;

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
