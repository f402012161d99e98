//! What a connection puts on its writer queue: the [`Frame`] (serialized
//! JSON-RPC with its method, id and headers), a request's message with its
//! progress token rewritten to our id, and the 2026-07-28 stamp (`_meta`
//! protocol version, client capabilities and info; the routing headers,
//! values encoded as that revision asks). Queueing the frame, and the
//! pending table, are the connection's (`mod.rs`); nothing here sends.

use serde_json::{Value, json};

use super::{Connection, ProgressFn};
use crate::jsonrpc::{Message, RequestId};
use crate::mcp;

/// One message for a transport's writer: the serialized JSON-RPC, and what
/// it is, so that no writer parses it again to find out.
#[derive(Debug)]
pub struct Frame {
    /// The message, one line of JSON.
    pub bytes: Vec<u8>,
    /// The method of a request or notification; `None` for a response.
    pub method: Option<String>,
    /// Our id of a request.
    pub id: Option<u64>,
    /// HTTP headers a 2026-07-28 backend needs with it (`MCP-Protocol-Version`,
    /// `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`); empty otherwise.
    pub headers: Vec<(String, String)>,
}

impl Frame {
    /// Whether this is a request that may take as long as its call: every
    /// request but `initialize` (which goes in line, before the rest).
    pub fn is_call(&self) -> bool {
        self.id.is_some() && self.method.as_deref() != Some(mcp::method::INITIALIZE)
    }
}

impl Connection {
    /// The frame of request `id`: stamped for a 2026-07-28 backend (with
    /// the caller's `stamp`), its progress token
    /// replaced by `id` when `progress` is to hear it. Returns `progress`
    /// only when the params carry a token.
    pub(super) fn request_frame(
        &self,
        id: u64,
        method: &str,
        mut params: Option<Value>,
        progress: Option<ProgressFn>,
        mut stamp: CallerStamp,
    ) -> (Frame, Option<ProgressFn>) {
        let traceparent = stamp.traceparent.take();
        let mut headers = if self.is_modern() {
            modernize(method, &mut params, stamp)
        } else {
            Vec::new()
        };
        if let Some(traceparent) = traceparent {
            headers.extend(trace_context(&mut params, traceparent));
        }
        let progress = match (progress, params.as_mut().and_then(progress_token_slot)) {
            (Some(f), Some(slot)) => {
                *slot = Value::from(id);
                Some(f)
            }
            _ => None,
        };
        let message = Message::Request {
            id: RequestId::Number(id as i64),
            method: method.to_owned(),
            params,
        };
        let frame = Frame {
            bytes: message.to_json_text().into_bytes(),
            method: Some(method.to_owned()),
            id: Some(id),
            headers,
        };
        (frame, progress)
    }

    /// A 2026-07-28 request that a transport sends and reads itself, outside
    /// the pending table (a `subscriptions/listen` stream): a fresh id, the
    /// stamped `_meta` and the routing headers.
    pub fn stateless_frame(&self, method: &str, params: Value) -> Frame {
        let id = self.reserve_id();
        let mut params = Some(params);
        let headers = modernize(method, &mut params, CallerStamp::default());
        let message = Message::Request {
            id: RequestId::Number(id as i64),
            method: method.to_owned(),
            params,
        };
        Frame {
            bytes: message.to_json_text().into_bytes(),
            method: Some(method.to_owned()),
            id: Some(id),
            headers,
        }
    }
}

/// Puts `traceparent` in the request's `_meta` (its `tracestate` kept as
/// the caller sent it); returns both as HTTP headers.
fn trace_context(params: &mut Option<Value>, traceparent: String) -> Vec<(String, String)> {
    let p = params.get_or_insert_with(|| json!({}));
    let Some(obj) = p.as_object_mut() else {
        return Vec::new();
    };
    let meta = obj.entry("_meta").or_insert_with(|| json!({}));
    let Some(meta) = meta.as_object_mut() else {
        return Vec::new();
    };
    meta.insert("traceparent".into(), Value::from(traceparent.as_str()));
    let mut headers = vec![("traceparent".to_owned(), traceparent)];
    if let Some(state) = meta.get("tracestate").and_then(Value::as_str) {
        headers.push(("tracestate".to_owned(), state.to_owned()));
    }
    headers
}

/// `params._meta.progressToken`, if present.
fn progress_token_slot(params: &mut Value) -> Option<&mut Value> {
    params.get_mut("_meta")?.get_mut("progressToken")
}

/// What the caller of a request adds for a 2026-07-28 backend, which
/// takes each request's context from the request itself (MCP 2026-07-28,
/// Basic › Lifecycle): the client's declared capabilities (the backend may
/// ask for input only within them) and log level, and the `Mcp-Param-*`
/// headers of the tool's `x-mcp-header` arguments.
#[derive(Debug, Clone, Default)]
pub struct CallerStamp {
    /// The client's capabilities; `{}` when none is given.
    pub capabilities: Option<Value>,
    /// The log level the client asked for, unless the request names one.
    pub log_level: Option<String>,
    /// `Mcp-Param-*` headers, sent after the routing headers.
    pub headers: Vec<(String, String)>,
    /// The W3C `traceparent` of the gateway's span for this request: put
    /// in `_meta.traceparent`, and sent as a header (with `_meta`'s
    /// `tracestate`) to an HTTP backend. Any backend, of either era.
    pub traceparent: Option<String>,
}

/// Makes a request stateless for a 2026-07-28 backend, the one place its
/// `_meta` is stamped: the protocol version, the caller's capabilities and
/// log level, and our client info; returns the routing headers, the
/// caller's `Mcp-Param-*` ones after them.
fn modernize(
    method: &str,
    params: &mut Option<Value>,
    stamp: CallerStamp,
) -> Vec<(String, String)> {
    let p = params.get_or_insert_with(|| json!({}));
    if let Some(obj) = p.as_object_mut() {
        let meta = obj.entry("_meta").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.entry(mcp::meta::PROTOCOL_VERSION)
                .or_insert_with(|| Value::from(mcp::MODERN_VERSION));
            match stamp.capabilities {
                Some(capabilities) => {
                    meta.insert(mcp::meta::CLIENT_CAPABILITIES.into(), capabilities);
                }
                None => {
                    meta.entry(mcp::meta::CLIENT_CAPABILITIES)
                        .or_insert_with(|| json!({}));
                }
            }
            if let Some(level) = stamp.log_level {
                meta.entry(mcp::meta::LOG_LEVEL)
                    .or_insert_with(|| Value::from(level));
            }
            meta.entry(mcp::meta::CLIENT_INFO).or_insert_with(
                || json!({"name": mcp::IMPLEMENTATION_NAME, "version": mcp::VERSION}),
            );
        }
    }
    let mut headers = vec![
        (
            mcp::header::PROTOCOL_VERSION.to_owned(),
            mcp::MODERN_VERSION.to_owned(),
        ),
        (mcp::header::METHOD.to_owned(), method.to_owned()),
    ];
    let name_key = match method {
        mcp::method::TOOLS_CALL | mcp::method::PROMPTS_GET => Some("name"),
        mcp::method::RESOURCES_READ => Some("uri"),
        _ => None,
    };
    if let Some(name) = name_key.and_then(|k| p.get(k)).and_then(Value::as_str) {
        headers.push((mcp::header::NAME.to_owned(), encode_header_value(name)));
    }
    headers.extend(stamp.headers);
    headers
}

/// A value as a 2026-07-28 header carries it: as it is, or in the
/// `=?base64?…?=` form when it has non-ASCII or control characters,
/// surrounding whitespace, or looks like that form itself.
pub fn encode_header_value(value: &str) -> String {
    let plain = value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && value.trim() == value
        && !(value.starts_with("=?base64?") && value.ends_with("?="));
    if plain {
        value.to_owned()
    } else {
        format!("=?base64?{}?=", crate::base64::encode(value.as_bytes()))
    }
}
