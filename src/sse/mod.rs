//! Server-sent events (WHATWG HTML §9.2): framing for the streams the gateway
//! serves. The client-side parser for SSE backends joins this module later.
//! Nothing here does IO.

pub mod writer;

pub use writer::{encode_comment, encode_event};
