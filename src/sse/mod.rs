//! Server-sent events (WHATWG HTML §9.2): the framing of the streams the
//! gateway serves (`writer`) and the parser for the streams it reads from
//! SSE and Streamable HTTP backends (`parser`). Nothing here does IO.

pub mod parser;
pub mod writer;

pub use parser::{EventTooLarge, Parser};
pub use writer::{encode_comment, encode_event, encode_id, event_parts};

/// A dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event type (`message` unless the stream named one).
    pub event: String,
    /// The data, lines joined by LF.
    pub data: String,
    /// The last event ID at dispatch.
    pub id: String,
    /// A data line was not UTF-8: its bad bytes are U+FFFD in `data`.
    pub invalid_utf8: bool,
}
