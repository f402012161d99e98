//! MCP 2026-07-28 on `/mcp` and `/g/<group>/mcp`, beside the 2025 era
//! (MCP 2026-07-28, Basic › Transports): a request that carries the
//! modern per-request `_meta` (or a non-handshake `MCP-Protocol-Version`)
//! is served statelessly; `initialize` keeps selecting sessions.
//!
//! Checks, first failure wins (the reference's §1.3): `_meta` (400 /
//! -32602); the routing headers `MCP-Protocol-Version`, `Mcp-Method`,
//! `Mcp-Name` and the `Mcp-Param-*` of a tool's `x-mcp-header` arguments
//! against the body, Base64 form decoded (400 / -32020); the version (400 /
//! -32022 with what we serve); the method (404 / -32601 for removed and
//! unknown ones). Then `server/discover` is answered from the catalog and
//! everything else goes through the router with the request's own context
//! and sink (`waiter`); no session is made. Every result gets
//! `resultType`, `serverInfo` in `_meta`, and on lists and reads the
//! caching hints; a backend's "resource not found" (-32002) becomes -32602
//! with the URI.

mod answer;
mod headers;
mod waiter;

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::decode::{Batches, DecodeError, Decoded, decode};
use super::sse::{Keepalive, sse_headers, write_event};
use super::{Access, Gateway};
use crate::config::IncomingAuth;
use crate::http::{Request, Response, StreamWriter};
use crate::jsonrpc::{Message, RequestId, code};
use crate::mcp::{self, meta, method};
use crate::queue::{Receiver, RecvTimeoutError};
use crate::router::InputRequest;
use waiter::{Item, Stateless};

use super::bridge::{self, Bridge};

/// Methods served on the modern path; the rest are 404 / -32601.
const METHODS: [&str; 10] = [
    method::SERVER_DISCOVER,
    method::SUBSCRIPTIONS_LISTEN,
    method::TOOLS_LIST,
    method::TOOLS_CALL,
    method::RESOURCES_LIST,
    method::RESOURCES_READ,
    method::RESOURCE_TEMPLATES_LIST,
    method::PROMPTS_LIST,
    method::PROMPTS_GET,
    method::COMPLETION_COMPLETE,
];

/// Results that must carry caching hints.
const CACHEABLE: [&str; 6] = [
    method::SERVER_DISCOVER,
    method::TOOLS_LIST,
    method::RESOURCES_LIST,
    method::RESOURCE_TEMPLATES_LIST,
    method::PROMPTS_LIST,
    method::RESOURCES_READ,
];

/// Whether a POST to `/mcp` is for the stateless era: a protocol version
/// header outside the handshake versions, or a request (not `initialize`)
/// whose `_meta` names a protocol version.
pub(super) fn wants(req: &Request, body: &Value) -> bool {
    if let Some(v) = req.header(mcp::header::PROTOCOL_VERSION)
        && !mcp::is_handshake_version(v.trim())
    {
        return true;
    }
    let modern = |m: &Value| {
        m.get("method").and_then(Value::as_str) != Some(method::INITIALIZE)
            && m.get("params")
                .and_then(|p| p.get("_meta"))
                .and_then(|p| p.get(meta::PROTOCOL_VERSION))
                .is_some()
    };
    match body {
        Value::Array(items) => items.iter().any(modern),
        single => modern(single),
    }
}

/// A JSON-RPC error answer with an HTTP status.
fn fail(
    status: u16,
    id: Option<&RequestId>,
    code: i64,
    message: &str,
    data: Option<Value>,
) -> Response {
    Response::json_text(status, error_body(id, code, message, data).to_json_text())
}

/// A JSON-RPC error message.
fn error_body(id: Option<&RequestId>, code: i64, message: &str, data: Option<Value>) -> Message {
    Message::error_with_data(id.cloned(), code, message, data)
}

/// A modern request whose envelope and headers passed [`check`].
struct Checked {
    id: RequestId,
    name: String,
    params: Option<Value>,
    /// Its `_meta`: the caller's protocol version, capabilities, info and
    /// log level.
    request_meta: Map<String, Value>,
}

/// `POST /mcp` of a modern request.
pub(super) fn post(gateway: &Gateway, req: &Request, access: Access<'_>, body: Value) -> Response {
    match check(req, body) {
        Ok(checked) => serve(gateway, req, access, checked),
        Err(refusal) => refusal,
    }
}

/// Serves a checked modern request, with its own context and sink.
fn serve(gateway: &Gateway, req: &Request, access: Access<'_>, checked: Checked) -> Response {
    let Checked {
        id,
        name,
        params,
        request_meta,
    } = checked;
    let p = params.as_ref();
    let caller = access.identity.map(std::sync::Arc::as_ref);
    let catalog = gateway.router.catalog_seen(access.group, caller);
    if name == method::TOOLS_CALL {
        let named = p.and_then(|p| p.get("name")).and_then(Value::as_str);
        let tool = named.and_then(|n| catalog.item(crate::catalog::Kind::Tool, n));
        if let Some(tool) = tool
            && let Err(why) = check_param_headers(req, tool, p.and_then(|p| p.get("arguments")))
        {
            return fail(
                400,
                Some(&id),
                code::HEADER_MISMATCH,
                &why.to_string(),
                None,
            );
        }
    }
    let shape = Shape::of(gateway, access, &catalog.features, &name, p);
    let state = p
        .and_then(|p| p.get("requestState"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut params = params;
    // A 2026-07-28 backend's own rounds pass through: its state is its own.
    let backend_rounds = gateway
        .router
        .serves_modern(&catalog, &name, params.as_ref());
    let begin = || {
        let router = &gateway.router;
        let by = (req.peer, access.identity.cloned());
        let cx = router.begin_request(&request_meta, by, access.group, catalog.clone());
        Stateless::new(router.clone(), cx)
    };
    if let Some(state) = state.filter(|_| !backend_rounds) {
        return resume(gateway, begin(), id, &state, params, shape, req);
    }
    // A retry's fields mean nothing to a 2025-era backend.
    if let Some(Value::Object(p)) = params.as_mut().filter(|_| !backend_rounds) {
        p.remove("inputResponses");
    }
    if name == method::SUBSCRIPTIONS_LISTEN {
        let can_subscribe = catalog.features.subscribe;
        return super::listen::open(gateway, &id, params.as_ref(), access, can_subscribe);
    }
    if name == method::SERVER_DISCOVER {
        let answer = Message::response(id, gateway.router.discover(&catalog));
        return Response::json_text(200, shape.complete(answer));
    }
    super::trace_header::adopt_params(gateway, req, &mut params);
    let call = begin();
    call.dispatch(Message::Request {
        id: id.clone(),
        method: name,
        params,
    });
    answer(gateway, call, id, shape, super::sse::accepts_sse(req))
}

/// Checks a modern request's envelope, `_meta`, routing headers, version
/// and method, in that order (the first failure is the answer).
fn check(req: &Request, body: Value) -> Result<Checked, Response> {
    let message = match decode(body, Batches::Refused) {
        Ok(Decoded::One(m)) => m,
        Ok(Decoded::Batch(_)) | Err(DecodeError::BatchRefused | DecodeError::EmptyBatch) => {
            return Err(fail(
                400,
                None,
                code::INVALID_REQUEST,
                "Invalid Request: batches are not supported",
                None,
            ));
        }
        Err(DecodeError::Invalid(invalid)) => {
            let text = format!("Invalid Request: {}", invalid.reason);
            return Err(fail(400, None, code::INVALID_REQUEST, &text, None));
        }
        // Parsed already by the Streamable HTTP front.
        Err(DecodeError::Json(e)) => {
            let text = format!("Parse error: {e}");
            return Err(fail(400, None, code::PARSE_ERROR, &text, None));
        }
    };
    let Message::Request {
        id,
        method: name,
        params,
    } = message
    else {
        // Notifications (and stray responses) have nothing to answer.
        return Err(Response::empty(202));
    };
    let request_meta = match params
        .as_ref()
        .and_then(|p| p.get("_meta"))
        .and_then(Value::as_object)
        .filter(|m| m.get(meta::PROTOCOL_VERSION).is_some_and(Value::is_string))
        .filter(|m| {
            m.get(meta::CLIENT_CAPABILITIES)
                .is_some_and(Value::is_object)
        }) {
        Some(m) => m.clone(),
        None => {
            let text = format!(
                "Invalid params: _meta must carry \"{}\" (a string) and \"{}\" (an object)",
                meta::PROTOCOL_VERSION,
                meta::CLIENT_CAPABILITIES
            );
            return Err(fail(400, Some(&id), code::INVALID_PARAMS, &text, None));
        }
    };
    let version = request_meta[meta::PROTOCOL_VERSION]
        .as_str()
        .unwrap_or_default();
    let p = params.as_ref();
    let named = |key: &str| {
        p.and_then(|p| p.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let mut checks = vec![
        (mcp::header::PROTOCOL_VERSION, version),
        (mcp::header::METHOD, name.as_str()),
    ];
    match name.as_str() {
        method::TOOLS_CALL | method::PROMPTS_GET => {
            checks.push((mcp::header::NAME, named("name")));
        }
        method::RESOURCES_READ => checks.push((mcp::header::NAME, named("uri"))),
        _ => {}
    }
    for (header, expected) in checks {
        if let Err(why) = check_header(req, header, expected) {
            return Err(fail(
                400,
                Some(&id),
                code::HEADER_MISMATCH,
                &why.to_string(),
                None,
            ));
        }
    }
    served(&id, version, &name, &request_meta)?;
    Ok(Checked {
        id,
        name,
        params,
        request_meta,
    })
}

/// The last checks of a modern request: a version we serve, a method of
/// the modern path, a known log level.
fn served(
    id: &RequestId,
    version: &str,
    name: &str,
    request_meta: &Map<String, Value>,
) -> Result<(), Response> {
    if version != mcp::MODERN_VERSION {
        return Err(fail(
            400,
            Some(id),
            code::UNSUPPORTED_VERSION,
            "Unsupported protocol version",
            Some(json!({"supported": mcp::ALL_VERSIONS, "requested": version})),
        ));
    }
    if !METHODS.contains(&name) {
        return Err(fail(
            404,
            Some(id),
            code::METHOD_NOT_FOUND,
            &format!("Method not found: {name}"),
            None,
        ));
    }
    if let Some(level) = request_meta.get(meta::LOG_LEVEL)
        && !level.as_str().is_some_and(|l| mcp::LOG_LEVELS.contains(&l))
    {
        let text = format!("Invalid params: {} must be a log level", meta::LOG_LEVEL);
        return Err(fail(400, Some(id), code::INVALID_PARAMS, &text, None));
    }
    Ok(())
}

use answer::{Shape, answer, resume};
use headers::{check_header, check_param_headers};
