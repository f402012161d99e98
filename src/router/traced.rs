//! What a trace records of a request (the OpenTelemetry semantic
//! conventions for MCP): a server span per client request, named
//! `{mcp.method.name} {target}` (a tool or prompt name), with the method,
//! the request id, the tool or prompt name or resource URI, the protocol
//! version, the transport and the client's address; a client span per
//! request sent to a backend, with the backend. The session id is left
//! out (it is a credential), and so are arguments, results and tokens.
//! The caller's context comes from `params._meta.traceparent` (the fronts
//! put a `traceparent` HTTP header there when `_meta` has none); the
//! backend gets the client span's, in `_meta` and, over HTTP, as a
//! header (`backend::CallerStamp`).

use std::cell::Cell;

use super::*;
use crate::backend::CallError;
use crate::telemetry::{Attr, OpenSpan, SpanEnd, TraceParent};

/// The server span of the request being dispatched, until a forwarded
/// call takes it.
pub(super) type SpanSlot = Cell<Option<OpenSpan>>;

impl Router {
    /// The server span of a client's request of `method`, when telemetry
    /// is on and the caller samples its trace (if it has one).
    pub(super) fn server_span(
        &self,
        cx: CallContext<'_>,
        id: &RequestId,
        method: &str,
        params: Option<&Value>,
    ) -> Option<OpenSpan> {
        let tracer = self.tracer.as_ref()?;
        let meta = params.and_then(|p| p.get("_meta"));
        let parent = meta
            .and_then(|m| m.get("traceparent"))
            .and_then(Value::as_str)
            .and_then(TraceParent::parse);
        let mut span = tracer.serve(method, parent)?;
        let text = |v: &str| Attr::Str(v.to_owned());
        span.set("mcp.method.name", text(method));
        let id = match id {
            RequestId::String(s) => s.clone(),
            RequestId::Number(n) => n.to_string(),
        };
        span.set("jsonrpc.request.id", Attr::Str(id));
        let param = |key: &str| params.and_then(|p| p.get(key)).and_then(Value::as_str);
        match method {
            method::TOOLS_CALL | method::PROMPTS_GET => {
                if let Some(name) = param("name") {
                    target(&mut span, method, name);
                }
            }
            method::RESOURCES_READ
            | method::RESOURCES_SUBSCRIBE
            | method::RESOURCES_UNSUBSCRIBE => {
                if let Some(uri) = param("uri") {
                    span.set("mcp.resource.uri", text(uri));
                }
            }
            _ => {}
        }
        if let Some(version) = cx.protocol_version() {
            span.set("mcp.protocol.version", text(version));
        }
        if cx.transport() == Transport::Stdio {
            span.set("network.transport", text("pipe"));
        } else {
            let peer = cx.peer();
            span.set("network.transport", text("tcp"));
            span.set("network.protocol.name", text("http"));
            span.set("network.protocol.version", text("1.1"));
            span.set("client.address", Attr::Str(peer.ip().to_string()));
            span.set("client.port", Attr::Int(i64::from(peer.port())));
        }
        Some(span)
    }
}

/// Names the span for the tool or prompt `name` that `method` is about
/// (the real tool of a `call_tool`).
fn target(span: &mut OpenSpan, method: &str, name: &str) {
    span.rename(format!("{method} {name}"));
    if method == method::TOOLS_CALL {
        span.set("gen_ai.tool.name", Attr::Str(name.to_owned()));
        span.set("gen_ai.operation.name", Attr::Str("execute_tool".into()));
    } else {
        span.set("gen_ai.prompt.name", Attr::Str(name.to_owned()));
    }
}

/// The client span of a request of `method` to the backend of `route`,
/// the child of `server`; named for the tool or prompt as the backend
/// knows it.
fn client_span(server: &OpenSpan, method: &str, route: &Route) -> Option<OpenSpan> {
    let mut span = server.child(method)?;
    span.set("mcp.method.name", Attr::Str(method.to_owned()));
    if matches!(method, method::TOOLS_CALL | method::PROMPTS_GET) {
        target(&mut span, method, &route.original);
    }
    span.set("argus.backend.name", Attr::Str(route.backend_name.clone()));
    Some(span)
}

/// A forwarded request's spans: its server span, named for the item it
/// reached (`exposed`: the real tool of a `call_tool`), and a client span
/// for the backend's part, whose context the backend gets.
pub(super) fn forwarded(
    mut server: OpenSpan,
    method: &str,
    route: &Route,
    exposed: &str,
) -> Option<(OpenSpan, OpenSpan)> {
    if matches!(method, method::TOOLS_CALL | method::PROMPTS_GET) {
        target(&mut server, method, exposed);
    }
    let client = client_span(&server, method, route)?;
    Some((server, client))
}

/// How the answer the client gets ended.
pub(super) fn answered(result: &Result<Value, ErrorObject>) -> SpanEnd<'_> {
    match result {
        Ok(v) if v.get("isError") == Some(&Value::Bool(true)) => SpanEnd::ToolError,
        Ok(_) => SpanEnd::Ok,
        Err(e) => SpanEnd::Rpc(e.code, &e.message),
    }
}

/// How a message the client gets ends its request.
pub(super) fn answered_by(message: &Message) -> SpanEnd<'_> {
    match message {
        Message::Response { result, .. } if result.get("isError") == Some(&Value::Bool(true)) => {
            SpanEnd::ToolError
        }
        Message::Error { error, .. } => SpanEnd::Rpc(error.code, &error.message),
        _ => SpanEnd::Ok,
    }
}

/// How a backend's request ended.
pub(super) fn backend_ended<'a>(
    outcome: &'a Result<Value, CallError>,
    why: &'a str,
) -> SpanEnd<'a> {
    match outcome {
        Ok(v) if v.get("isError") == Some(&Value::Bool(true)) => SpanEnd::ToolError,
        Ok(_) => SpanEnd::Ok,
        Err(CallError::Rpc(e)) => SpanEnd::Rpc(e.code, &e.message),
        Err(CallError::Timeout(_)) => SpanEnd::Failed("timeout", why),
        Err(CallError::Closed(_)) => SpanEnd::Failed("disconnected", why),
        Err(CallError::Overloaded | CallError::TooManyPending) => {
            SpanEnd::Failed("overloaded", why)
        }
        Err(CallError::Send(_)) => SpanEnd::Failed("not_delivered", why),
    }
}
