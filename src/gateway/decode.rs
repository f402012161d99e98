//! The one decoder of what clients send, for every front: JSON text (or
//! an already parsed value) → JSON-RPC messages, with the batch rule of
//! the front's era. JSON-RPC batches exist only in MCP 2025-03-26 (later
//! revisions removed them): the SSE and stdio fronts and the 2026-07-28
//! path refuse them, Streamable HTTP takes them (and refuses them later
//! for other versions, once it knows the session's). Each front turns a
//! [`DecodeError`] into its own answer (a status and text, a JSON-RPC
//! error on the stream, or both).

use serde_json::Value;

use crate::jsonrpc::{Invalid, Message};

/// Whether the front takes JSON-RPC batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Batches {
    /// An array is refused whole.
    Refused,
    /// An array holds one message each (never none).
    Taken,
}

/// What a body held.
#[derive(Debug)]
pub(super) enum Decoded {
    /// One message.
    One(Message),
    /// A batch, in order.
    Batch(Vec<Message>),
}

impl Decoded {
    /// The messages, in order, and whether they came as a batch.
    pub(super) fn into_messages(self) -> (Vec<Message>, bool) {
        match self {
            Decoded::One(m) => (vec![m], false),
            Decoded::Batch(ms) => (ms, true),
        }
    }
}

/// Why a body could not be decoded.
#[derive(Debug)]
pub(super) enum DecodeError {
    /// Not JSON.
    Json(serde_json::Error),
    /// An array where the front takes no batches.
    BatchRefused,
    /// `[]`.
    EmptyBatch,
    /// JSON, but not a JSON-RPC message (the first such one of a batch).
    Invalid(Invalid),
}

/// Decodes JSON text.
pub(super) fn decode_text(text: &[u8], batches: Batches) -> Result<Decoded, DecodeError> {
    let value: Value = serde_json::from_slice(text).map_err(DecodeError::Json)?;
    decode(value, batches)
}

/// Decodes a parsed body.
pub(super) fn decode(value: Value, batches: Batches) -> Result<Decoded, DecodeError> {
    match value {
        Value::Array(_) if batches == Batches::Refused => Err(DecodeError::BatchRefused),
        Value::Array(items) if items.is_empty() => Err(DecodeError::EmptyBatch),
        Value::Array(items) => {
            let mut messages = Vec::with_capacity(items.len());
            for item in items {
                messages.push(Message::parse(item).map_err(DecodeError::Invalid)?);
            }
            Ok(Decoded::Batch(messages))
        }
        single => Message::parse(single)
            .map(Decoded::One)
            .map_err(DecodeError::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_decode_by_the_fronts_batch_rule() {
        let one = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        assert!(matches!(
            decode_text(one, Batches::Refused),
            Ok(Decoded::One(_))
        ));
        let two = br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"n"}]"#;
        assert!(matches!(
            decode_text(two, Batches::Refused),
            Err(DecodeError::BatchRefused)
        ));
        let (messages, batch) = decode_text(two, Batches::Taken).unwrap().into_messages();
        assert_eq!((messages.len(), batch), (2, true));
        assert!(matches!(
            decode_text(b"[]", Batches::Taken),
            Err(DecodeError::EmptyBatch)
        ));
        assert!(matches!(
            decode_text(b"{", Batches::Taken),
            Err(DecodeError::Json(_))
        ));
        let bad = br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"id":2}]"#;
        assert!(matches!(
            decode_text(bad, Batches::Taken),
            Err(DecodeError::Invalid(_))
        ));
    }
}
