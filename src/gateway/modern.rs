//! MCP 2026-07-28 on `/mcp` and `/g/<group>/mcp`, beside the 2025 era
//! (`../shared/reference/mcp-2026-07-28.md`): a request that carries the
//! modern per-request `_meta` (or a non-handshake `MCP-Protocol-Version`)
//! is served statelessly; `initialize` keeps selecting sessions.
//!
//! Checks, first failure wins (the reference's §1.3): `_meta` (400 /
//! -32602); the routing headers `MCP-Protocol-Version`, `Mcp-Method`,
//! `Mcp-Name` and the `Mcp-Param-*` of a tool's `x-mcp-header` arguments
//! against the body, Base64 form decoded (400 / -32020); the version (400 /
//! -32022 with what we serve); the method (404 / -32601 for removed and
//! unknown ones). Then `server/discover` is answered from the catalog and
//! everything else goes through the router on a session that lives as long
//! as the request. Every result gets `resultType`, `serverInfo` in `_meta`,
//! and on lists and reads the caching hints; a backend's "resource not
//! found" (-32002) becomes -32602 with the URI.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::sse::{Keepalive, sse_headers, write_event};
use super::{Access, Gateway};
use crate::config::{IncomingAuth, Transport};
use crate::http::{Request, Response, StreamWriter};
use crate::jsonrpc::{Message, RequestId, code};
use crate::limits::SESSION_OUTBOUND_QUEUE;
use crate::mcp::{self, meta, method};
use crate::queue::{Receiver, RecvTimeoutError};
use crate::session::{ForRequest, InputRequest, Session};

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

/// How long an answer may be held back for a JSON response, when the
/// client takes SSE too; then the answer comes on a stream.
const UPGRADE_AFTER: Duration = Duration::from_secs(1);

/// Questions that a backend sends within this of each other go out in one
/// input-required result (a backend asking several at once sends them
/// back to back).
const BURST: Duration = Duration::from_millis(25);

/// The longest a burst of questions is gathered.
const BURST_MAX: Duration = Duration::from_millis(250);

/// Questions in one input-required result at most.
const MAX_INPUTS: usize = 64;

/// The longest `ttlMs` served: the catalog also changes without its
/// backends' say (a reload, a backend that goes down), and a client that
/// does not listen hears of it only when its cache expires.
const MAX_TTL_MS: u64 = 60_000;

/// Whether a POST to `/mcp` is for the stateless era: a protocol version
/// header outside the handshake versions, or a request (not `initialize`)
/// whose `_meta` names a protocol version.
pub(super) fn wants(req: &Request, body: &Value) -> bool {
    if let Some(v) = req.header("mcp-protocol-version")
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
    Response::json(status, &error_body(id, code, message, data))
}

/// A JSON-RPC error message.
fn error_body(id: Option<&RequestId>, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = json!({"code": code, "message": message});
    if let Some(data) = data {
        error["data"] = data;
    }
    let id = id.map_or(Value::Null, RequestId::to_value);
    json!({"jsonrpc": "2.0", "id": id, "error": error})
}

/// A header value in the 2026-07-28 encoding: `=?base64?…?=` is decoded
/// strictly (bad Base64 or UTF-8: `None`); anything else is literal. OWS
/// is trimmed.
pub(crate) fn header_value(raw: &str) -> Option<String> {
    let raw = raw.trim_matches([' ', '\t']);
    match raw
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(coded) => String::from_utf8(crate::base64::decode(coded)?).ok(),
        None => Some(raw.to_owned()),
    }
}

/// Why a routing header does not stand for the body (-32020); `Display`
/// is the error's message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HeaderMismatch {
    /// A header the body needs is absent (for argument `property`, if it
    /// is an `Mcp-Param-*` one).
    Missing {
        name: String,
        property: Option<String>,
    },
    /// The header came twice.
    Repeated { name: String },
    /// Its value is not the body's (`body` as the message quotes it).
    Differs {
        name: String,
        header: String,
        body: String,
    },
    /// Its `=?base64?…?=` value does not decode to UTF-8.
    NotBase64 { name: String },
}

impl std::fmt::Display for HeaderMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Header mismatch: ")?;
        match self {
            HeaderMismatch::Missing {
                name,
                property: None,
            } => write!(f, "{name} header is required"),
            HeaderMismatch::Missing {
                name,
                property: Some(p),
            } => write!(f, "{name} header is required for argument '{p}'"),
            HeaderMismatch::Repeated { name } => write!(f, "{name} header is repeated"),
            HeaderMismatch::Differs { name, header, body } => write!(
                f,
                "{name} header value '{header}' does not match body value {body}"
            ),
            HeaderMismatch::NotBase64 { name } => {
                write!(f, "{name} header value is not valid Base64 UTF-8")
            }
        }
    }
}

impl std::error::Error for HeaderMismatch {}

/// Checks one routing header against the body's value: missing,
/// duplicated, badly encoded or different is a mismatch.
fn check_header(req: &Request, name: &str, expected: &str) -> Result<(), HeaderMismatch> {
    let mut values = req.head.header_all(name);
    let (Some(first), None) = (values.next(), values.next()) else {
        let name = name.to_owned();
        return Err(match req.header(&name) {
            None => HeaderMismatch::Missing {
                name,
                property: None,
            },
            Some(_) => HeaderMismatch::Repeated { name },
        });
    };
    match header_value(first) {
        Some(v) if v == expected => Ok(()),
        Some(v) => Err(HeaderMismatch::Differs {
            name: name.to_owned(),
            header: v,
            body: format!("'{expected}'"),
        }),
        None => Err(HeaderMismatch::NotBase64 {
            name: name.to_owned(),
        }),
    }
}

/// Whether a decoded header value stands for `value` (integers compare
/// numerically, `42.0` = `42`).
fn same_value(header: &str, value: &Value) -> bool {
    match value {
        Value::String(s) => header == s,
        Value::Bool(b) => header == if *b { "true" } else { "false" },
        Value::Number(n) => header
            .parse::<f64>()
            .ok()
            .zip(n.as_f64())
            .is_some_and(|(h, v)| h == v),
        _ => false,
    }
}

/// Checks the `Mcp-Param-*` headers of a `tools/call` against the tool's
/// `x-mcp-header` arguments: a present, non-null value needs its header.
fn check_param_headers(
    req: &Request,
    tool: &Value,
    arguments: Option<&Value>,
) -> Result<(), HeaderMismatch> {
    let Some(properties) = tool
        .get("inputSchema")
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return Ok(());
    };
    for (property, schema) in properties {
        let Some(header) = schema.get("x-mcp-header").and_then(Value::as_str) else {
            continue;
        };
        let value = arguments.and_then(|a| a.get(property));
        let Some(value) = value.filter(|v| !v.is_null()) else {
            continue;
        };
        let name = format!("Mcp-Param-{header}");
        let Some(raw) = req.header(&name) else {
            return Err(HeaderMismatch::Missing {
                name,
                property: Some(property.clone()),
            });
        };
        match header_value(raw) {
            Some(decoded) if same_value(&decoded, value) => {}
            Some(decoded) => {
                return Err(HeaderMismatch::Differs {
                    name,
                    header: decoded,
                    body: value.to_string(),
                });
            }
            None => return Err(HeaderMismatch::NotBase64 { name }),
        }
    }
    Ok(())
}

/// `POST /mcp` of a modern request.
pub(super) fn post(gateway: &Gateway, req: &Request, access: Access<'_>, body: Value) -> Response {
    if body.is_array() {
        return fail(
            400,
            None,
            code::INVALID_REQUEST,
            "Invalid Request: batches are not supported",
            None,
        );
    }
    let message = match Message::parse(body) {
        Ok(m) => m,
        Err(invalid) => {
            let text = format!("Invalid Request: {}", invalid.reason);
            return fail(400, None, code::INVALID_REQUEST, &text, None);
        }
    };
    let Message::Request {
        id,
        method: name,
        params,
    } = message
    else {
        // Notifications (and stray responses) have nothing to answer.
        return Response::empty(202);
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
            return fail(400, Some(&id), code::INVALID_PARAMS, &text, None);
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
        ("MCP-Protocol-Version", version),
        ("Mcp-Method", name.as_str()),
    ];
    match name.as_str() {
        method::TOOLS_CALL | method::PROMPTS_GET => checks.push(("Mcp-Name", named("name"))),
        method::RESOURCES_READ => checks.push(("Mcp-Name", named("uri"))),
        _ => {}
    }
    for (header, expected) in checks {
        if let Err(why) = check_header(req, header, expected) {
            return fail(400, Some(&id), code::HEADER_MISMATCH, &why.to_string(), None);
        }
    }
    if version != mcp::MODERN_VERSION {
        return fail(
            400,
            Some(&id),
            code::UNSUPPORTED_VERSION,
            "Unsupported protocol version",
            Some(json!({"supported": mcp::ALL_VERSIONS, "requested": version})),
        );
    }
    if !METHODS.contains(&name.as_str()) {
        return fail(
            404,
            Some(&id),
            code::METHOD_NOT_FOUND,
            &format!("Method not found: {name}"),
            None,
        );
    }
    if let Some(level) = request_meta.get(meta::LOG_LEVEL)
        && !level.as_str().is_some_and(|l| mcp::LOG_LEVELS.contains(&l))
    {
        let text = format!("Invalid params: {} must be a log level", meta::LOG_LEVEL);
        return fail(400, Some(&id), code::INVALID_PARAMS, &text, None);
    }
    let (session, _general) = Session::new(
        String::new(),
        Transport::StreamableHttp,
        req.peer,
        access.token,
        SESSION_OUTBOUND_QUEUE,
    );
    let session = Arc::new(session.in_group(access.group));
    gateway.router.begin_stateless(&session, &request_meta);
    if name == method::TOOLS_CALL {
        let catalog = gateway.router.catalog_for(&session);
        let tool = catalog.item(crate::catalog::Kind::Tool, named("name"));
        if let Some(tool) = tool
            && let Err(why) = check_param_headers(req, tool, p.and_then(|p| p.get("arguments")))
        {
            return fail(400, Some(&id), code::HEADER_MISMATCH, &why.to_string(), None);
        }
    }
    // Lists may be kept as long as every backend behind them allows
    // (2025-era backends give no hints: 0), and shared across callers
    // only when every caller of this endpoint sees the same catalog and
    // no backend said otherwise.
    let features = &gateway.router.catalog_for(&session).features;
    let private =
        features.cache_private || matches!(gateway.config().incoming_auth, IncomingAuth::Bearer(_));
    let shape = Shape {
        method: name.clone(),
        digest: bridge::digest(access.group, access.token, &name, p),
        scope: if private || name == method::RESOURCES_READ {
            "private"
        } else {
            "public"
        },
        ttl_ms: features.cache_ttl_ms.unwrap_or(0).min(MAX_TTL_MS),
        uri: named("uri").to_owned(),
    };
    let state = p
        .and_then(|p| p.get("requestState"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut params = params;
    // A 2026-07-28 backend's own rounds pass through: its state is its own.
    let backend_rounds = gateway
        .router
        .serves_modern(&session, &name, params.as_ref());
    if let Some(state) = state.filter(|_| !backend_rounds) {
        return resume(gateway, session, id, &state, params, shape, req);
    }
    // A retry's fields mean nothing to a 2025-era backend.
    if let Some(Value::Object(p)) = params.as_mut().filter(|_| !backend_rounds) {
        p.remove("inputResponses");
    }
    if name == method::SUBSCRIPTIONS_LISTEN {
        let can_subscribe = features.subscribe;
        return super::listen::open(gateway, &id, params.as_ref(), access.group, can_subscribe);
    }
    if name == method::SERVER_DISCOVER {
        let result = gateway.router.discover(&session);
        let answer = json!({"jsonrpc": "2.0", "id": id.to_value(), "result": result});
        return Response::json_text(200, shape.complete(&answer.to_string()));
    }
    let rx = match open_stream(&session, &id) {
        Ok(rx) => rx,
        Err(refusal) => return refusal,
    };
    gateway.router.handle(
        &session,
        Message::Request {
            id: id.clone(),
            method: name,
            params,
        },
    );
    answer(
        gateway,
        session,
        id,
        rx,
        shape,
        super::sse::accepts_sse(req),
    )
}

/// The answer stream of request `id` on its own session.
fn open_stream(session: &Session, id: &RequestId) -> Result<Receiver<ForRequest>, Response> {
    session.open_request_stream(id.clone()).ok_or_else(|| {
        fail(
            500,
            Some(id),
            code::INTERNAL_ERROR,
            "request stream already open",
            None,
        )
    })
}

/// What a modern answer needs added.
struct Shape {
    method: String,
    /// What identifies the request for a retry (`bridge::digest`).
    digest: String,
    /// `cacheScope` of cacheable results.
    scope: &'static str,
    /// `ttlMs` of the lists (a read keeps its backend's).
    ttl_ms: u64,
    /// `params.uri` of a `resources/read`.
    uri: String,
}

impl Shape {
    /// The answer as a modern client expects it.
    fn complete(&self, text: &str) -> String {
        let Ok(mut v) = serde_json::from_str::<Value>(text) else {
            return text.to_owned();
        };
        if let Some(result) = v.get_mut("result").and_then(Value::as_object_mut) {
            result
                .entry("resultType")
                .or_insert_with(|| Value::from("complete"));
            let meta = result
                .entry("_meta")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert(
                    meta::SERVER_INFO.into(),
                    json!({"name": mcp::IMPLEMENTATION_NAME, "version": mcp::VERSION}),
                );
            }
            if CACHEABLE.contains(&self.method.as_str()) && result["resultType"] == "complete" {
                let ttl = if self.method == method::RESOURCES_READ {
                    // A 2026-07-28 backend's own hint for this resource.
                    result.get("ttlMs").and_then(Value::as_u64).unwrap_or(0)
                } else {
                    self.ttl_ms
                };
                result.insert("ttlMs".into(), Value::from(ttl.min(MAX_TTL_MS)));
                result.insert("cacheScope".into(), Value::from(self.scope));
            }
        } else if let Some(error) = v.get_mut("error").and_then(Value::as_object_mut)
            && self.method == method::RESOURCES_READ
            && error.get("code").and_then(Value::as_i64) == Some(code::RESOURCE_NOT_FOUND)
        {
            // 2026-07-28 (SEP-2164): not found is -32602 with the URI asked for.
            error.insert("code".into(), Value::from(code::INVALID_PARAMS));
            error.insert("data".into(), json!({"uri": self.uri}));
        }
        v.to_string()
    }
}

/// The HTTP status of a JSON answer: 400 for the errors 2026-07-28 ties to
/// it (-32020, -32021, -32022, a backend's passed through), else 200.
fn status_of(text: &str) -> u16 {
    let code = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["error"]["code"].as_i64());
    match code {
        Some(code::HEADER_MISMATCH | code::MISSING_CAPABILITY | code::UNSUPPORTED_VERSION) => 400,
        _ => 200,
    }
}

/// Ends a request's session: anything still in flight is cancelled at the
/// backend (the client closed the stream, or time ran out).
fn finish(gateway: &Gateway, session: &Session) {
    session.close();
    gateway.router.session_closed(session);
}

/// Waits for the answer: JSON, or an SSE stream when something related to
/// the request (progress) comes first and the client takes streams.
fn answer(
    gateway: &Gateway,
    session: Arc<Session>,
    id: RequestId,
    rx: Receiver<ForRequest>,
    shape: Shape,
    sse_ok: bool,
) -> Response {
    let wait = gateway.answer_wait();
    let started = Instant::now();
    let deadline = started + wait;
    // A client that takes SSE gets a slow answer on a stream: then its
    // closing the connection is seen (the stream checks) and cancels the
    // call, which a JSON answer held back would not notice.
    let upgrade = started + UPGRADE_AFTER;
    let no_answer = |why: &str| fail(200, Some(&id), code::INTERNAL_ERROR, why, None);
    let first = loop {
        let until = if sse_ok {
            deadline.min(upgrade)
        } else {
            deadline
        };
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(ForRequest::Answer(text)) => {
                finish(gateway, &session);
                return Response::json_text(status_of(&text), shape.complete(&text));
            }
            Ok(ForRequest::Message(text)) if sse_ok => break Some(text),
            Ok(ForRequest::Message(_) | ForRequest::Yield) => {}
            Ok(ForRequest::Input(input)) => {
                let (status, text) = Asker::of(gateway).ask(&session, &id, input, &rx, &shape);
                finish(gateway, &session);
                return Response::json_text(status, shape.complete(&text));
            }
            Ok(ForRequest::Cancelled) | Err(RecvTimeoutError::Disconnected) => {
                finish(gateway, &session);
                return no_answer("request ended without an answer");
            }
            Err(RecvTimeoutError::Timeout) if sse_ok && Instant::now() < deadline => break None,
            Err(RecvTimeoutError::Timeout) => {
                finish(gateway, &session);
                return no_answer("no answer in time");
            }
        }
    };
    let settings = gateway.config().sse.clone();
    let router = gateway.router.clone();
    let ask = Asker::of(gateway);
    sse_headers(Response::stream(
        200,
        Box::new(move |writer| {
            stream(
                writer,
                &rx,
                first,
                deadline,
                &shape,
                &settings,
                &|input, rx| ask.ask(&session, &id, input, rx, &shape).1,
            );
            session.close();
            router.session_closed(&session);
        }),
    ))
}

/// What a stream needs to turn a backend's question into an answer.
struct Asker {
    bridge: Option<Arc<Bridge>>,
    ttl: Duration,
}

impl Asker {
    fn of(gateway: &Gateway) -> Asker {
        Asker {
            bridge: gateway.bridge.clone(),
            ttl: gateway.answer_wait(),
        }
    }

    /// Turns the backend's question(s) for request `id` into its answer:
    /// an input-required result whose state parks the call (it goes on at
    /// the backend), or -32021 when the client declared none of the
    /// capabilities asked for. Questions that arrive together (within
    /// [`BURST`] of each other) go out in one result. HTTP status and
    /// answer text.
    fn ask(
        &self,
        session: &Session,
        id: &RequestId,
        first: InputRequest,
        rx: &Receiver<ForRequest>,
        shape: &Shape,
    ) -> (u16, String) {
        let mut inputs = vec![first];
        let until = Instant::now() + BURST_MAX;
        while inputs.len() < MAX_INPUTS {
            let left = until.saturating_duration_since(Instant::now()).min(BURST);
            match rx.recv_timeout(left) {
                Ok(ForRequest::Input(more)) => inputs.push(more),
                Ok(ForRequest::Answer(text)) => {
                    // The backend answered without waiting: its questions
                    // are moot, and the answer is the answer.
                    for input in &inputs {
                        refuse(input, "the call was answered before the client was asked");
                    }
                    return (200, text);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let capabilities = session.state().client_capabilities.value();
        let (allowed, refused): (Vec<InputRequest>, Vec<InputRequest>) = inputs
            .into_iter()
            .partition(|i| capabilities.get(i.capability).is_some_and(|c| !c.is_null()));
        if allowed.is_empty() {
            // Nothing can be asked: the call is cancelled at the backend
            // first, so it cannot go on with the refusals below.
            if let Some(f) = session.untrack(id)
                && let Some(conn) = f.conn.upgrade()
            {
                conn.cancel(f.backend_id, "the client lacks a capability the call needs");
            }
        }
        for input in &refused {
            let why = format!(
                "the client did not declare the \"{}\" capability",
                input.capability
            );
            refuse(input, &why);
        }
        let error = |status: u16, code: i64, message: String, data: Option<Value>| {
            (
                status,
                error_body(Some(id), code, &message, data).to_string(),
            )
        };
        if allowed.is_empty() {
            let mut required = Map::new();
            for input in &refused {
                required.insert(input.capability.into(), json!({}));
            }
            let names: Vec<&str> = refused.iter().map(|i| i.capability).collect();
            return error(
                400,
                code::MISSING_CAPABILITY,
                format!(
                    "this request needs the client capability {}",
                    names.join(", ")
                ),
                Some(json!({"requiredCapabilities": required})),
            );
        }
        let Some(bridge) = &self.bridge else {
            return error(
                200,
                code::INTERNAL_ERROR,
                "cannot seal request state".into(),
                None,
            );
        };
        // The call now waits for the retry, not for this request.
        session.untrack(id);
        (
            200,
            input_required(id, bridge, allowed, shape.digest.clone(), self.ttl),
        )
    }
}

/// Answers a backend's question with an error (-32601), unasked.
fn refuse(input: &InputRequest, why: &str) {
    if let Some(conn) = input.conn.upgrade() {
        conn.respond(&Message::error(
            Some(input.their_id.clone()),
            code::METHOD_NOT_FOUND,
            why,
        ));
    }
}

/// The input-required answer to request `id` that parks `pending`.
fn input_required(
    id: &RequestId,
    bridge: &Bridge,
    pending: Vec<InputRequest>,
    digest: String,
    ttl: Duration,
) -> String {
    let mut requests = Map::new();
    for input in &pending {
        let mut request = json!({"method": input.method});
        if let Some(params) = &input.params {
            request["params"] = params.clone();
        }
        requests.insert(input.key.clone(), request);
    }
    let state = bridge.park(pending, digest, ttl);
    json!({"jsonrpc": "2.0", "id": id.to_value(), "result": {
        "resultType": "input_required",
        "inputRequests": requests,
        "requestState": state,
    }})
    .to_string()
}

/// A retry with `requestState`: answers the parked call's questions from
/// `inputResponses`, and the call goes on under this request. Questions
/// left unanswered (or answered with something that is not an object) are
/// asked again at once, under a new state.
fn resume(
    gateway: &Gateway,
    session: Arc<Session>,
    id: RequestId,
    state: &str,
    params: Option<Value>,
    shape: Shape,
    req: &Request,
) -> Response {
    let Some(bridge) = gateway.bridge.clone() else {
        return fail(
            200,
            Some(&id),
            code::INTERNAL_ERROR,
            "cannot verify request state",
            None,
        );
    };
    let parked = match bridge.take(state, &shape.digest) {
        Ok(p) => p,
        Err(why) => return fail(400, Some(&id), code::INVALID_PARAMS, why, None),
    };
    let rx = match open_stream(&session, &id) {
        Ok(rx) => rx,
        Err(refusal) => return refusal,
    };
    let Some(call) = parked.pending.first().map(|i| i.call.clone()) else {
        return fail(
            400,
            Some(&id),
            code::INVALID_PARAMS,
            "requestState names no question",
            None,
        );
    };
    if !gateway.router.attach(&call, &session, &id) {
        finish(gateway, &session);
        return fail(
            200,
            Some(&id),
            code::INTERNAL_ERROR,
            "the backend of this call is gone",
            None,
        );
    }
    let responses = params
        .as_ref()
        .and_then(|p| p.get("inputResponses"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut missing = Vec::new();
    for input in parked.pending {
        match responses.get(&input.key) {
            Some(answer @ Value::Object(_)) => {
                if let Some(conn) = input.conn.upgrade() {
                    conn.respond(&Message::response(input.their_id.clone(), answer.clone()));
                }
            }
            _ => missing.push(input),
        }
    }
    if !missing.is_empty() {
        session.untrack(&id);
        let text = input_required(
            &id,
            &bridge,
            missing,
            shape.digest.clone(),
            gateway.answer_wait(),
        );
        finish(gateway, &session);
        return Response::json_text(200, shape.complete(&text));
    }
    answer(
        gateway,
        session,
        id,
        rx,
        shape,
        super::sse::accepts_sse(req),
    )
}

/// Writes related messages, then the answer, as SSE events without ids
/// (2026-07-28 streams cannot be resumed); ends when the client leaves.
fn stream(
    writer: &mut StreamWriter<'_>,
    rx: &Receiver<ForRequest>,
    first: Option<String>,
    deadline: Instant,
    shape: &Shape,
    settings: &crate::config::SseResilience,
    ask: &dyn Fn(InputRequest, &Receiver<ForRequest>) -> String,
) {
    if writer
        .set_write_timeout(Some(settings.send_timeout))
        .is_err()
    {
        return;
    }
    let mut keepalive = Keepalive::new(settings);
    let mut frame = Vec::new();
    let mut next = first.map(ForRequest::Message);
    loop {
        frame.clear();
        let written = match next.take() {
            Some(ForRequest::Message(text)) => write_event(writer, None, &text),
            Some(ForRequest::Answer(text)) => {
                let _ = write_event(writer, None, &shape.complete(&text));
                return;
            }
            Some(ForRequest::Input(input)) => {
                // The stream's last event: the input-required result.
                let text = ask(input, rx);
                let _ = write_event(writer, None, &shape.complete(&text));
                return;
            }
            Some(ForRequest::Cancelled | ForRequest::Yield) => return,
            None => {
                if writer.peer_closed() || Instant::now() >= deadline {
                    return;
                }
                keepalive.ping_if_due(&mut frame);
                writer.write_frame(&frame)
            }
        };
        if written.is_err() {
            return;
        }
        match rx.recv_timeout(keepalive.wait().min(Duration::from_secs(1))) {
            Ok(item) => next = Some(item),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_decode_strictly() {
        assert_eq!(header_value(" us-west1 ").as_deref(), Some("us-west1"));
        assert_eq!(
            header_value("=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
            Some("Hello, 世界")
        );
        assert_eq!(
            header_value("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=").as_deref(),
            Some("=?base64?literal?=")
        );
        assert_eq!(header_value("=?base64?SGVsbG8?="), None, "bad padding");
        assert_eq!(header_value("=?base64?SGVs!!!bG8=?="), None, "bad alphabet");
        assert_eq!(
            header_value("=?base64?SGVsbG8=").as_deref(),
            Some("=?base64?SGVsbG8=")
        );
        assert!(same_value("42", &json!(42.0)));
        assert!(same_value("true", &json!(true)));
        assert!(!same_value("TRUE", &json!(true)));
    }
}
