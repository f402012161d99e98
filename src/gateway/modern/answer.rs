//! A modern request's answer: waited for as JSON, or on an SSE stream when
//! something related to the request comes first (or it is slow and the
//! client takes streams), and shaped once for a modern client
//! (`resultType`, `serverInfo`, caching hints, -32602 for a missing
//! resource). The bridge's rounds are part of the wait: a 2025-era
//! backend's question while it serves a modern client becomes an
//! input-required result with sealed `requestState`, and the client's
//! retry answers the backend and takes the parked call over ([`resume`]).

use std::sync::Arc;

use super::*;

/// How long an answer may be held back for a JSON response, when the
/// client takes SSE too; then the answer comes on a stream.
pub(super) const UPGRADE_AFTER: Duration = Duration::from_secs(1);

/// Questions that a backend sends within this of each other go out in one
/// input-required result (a backend asking several at once sends them
/// back to back).
pub(super) const BURST: Duration = Duration::from_millis(25);

/// The longest a burst of questions is gathered.
pub(super) const BURST_MAX: Duration = Duration::from_millis(250);

/// The longest `ttlMs` served: the catalog also changes without its
/// backends' say (a reload, a backend that goes down), and a client that
/// does not listen hears of it only when its cache expires.
pub(super) const MAX_TTL_MS: u64 = 60_000;

/// What a modern answer needs added.
pub(super) struct Shape {
    pub(super) method: String,
    /// What identifies the request for a retry (`bridge::digest`).
    pub(super) digest: String,
    /// `cacheScope` of cacheable results.
    pub(super) scope: &'static str,
    /// `ttlMs` of the lists (a read keeps its backend's).
    pub(super) ttl_ms: u64,
    /// `params.uri` of a `resources/read`.
    pub(super) uri: String,
}

impl Shape {
    /// What request `name` (with `params`) from `access`'s caller needs
    /// added to its answer. Lists may be kept as long as every backend
    /// behind them allows (2025-era backends give no hints: 0), and shared
    /// across callers only when every caller of this endpoint sees the
    /// same catalog and no backend said otherwise.
    pub(super) fn of(
        gateway: &Gateway,
        access: Access<'_>,
        features: &crate::catalog::Features,
        name: &str,
        params: Option<&Value>,
    ) -> Shape {
        // Shared caches must not serve one caller's lists to another when
        // callers can see different lists: per-token auth, or policies.
        let config = gateway.config();
        let private = features.cache_private
            || !matches!(config.incoming_auth, IncomingAuth::Anonymous)
            || config.authorization.enabled;
        let uri = params
            .and_then(|p| p.get("uri"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        Shape {
            method: name.to_owned(),
            digest: bridge::digest(access.group, access.identity_name(), name, params),
            scope: if private || name == method::RESOURCES_READ {
                "private"
            } else {
                "public"
            },
            ttl_ms: features.cache_ttl_ms.unwrap_or(0).min(MAX_TTL_MS),
            uri: uri.to_owned(),
        }
    }

    /// The answer as a modern client expects it, serialized (once).
    pub(super) fn complete(&self, answer: Message) -> String {
        match answer {
            Message::Response { id, mut result } => {
                if let Some(result) = result.as_object_mut() {
                    self.complete_result(result);
                }
                Message::Response { id, result }.to_json_text()
            }
            Message::Error { id, mut error }
                if self.method == method::RESOURCES_READ
                    && error.code == code::RESOURCE_NOT_FOUND =>
            {
                // 2026-07-28 (SEP-2164): not found is -32602 with the URI asked for.
                error.code = code::INVALID_PARAMS;
                error.data = Some(json!({"uri": self.uri}));
                Message::Error { id, error }.to_json_text()
            }
            other => other.to_json_text(),
        }
    }

    /// A result as a modern client expects it: `resultType`, `serverInfo`,
    /// and the caching hints of cacheable ones.
    fn complete_result(&self, result: &mut Map<String, Value>) {
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
    }
}

/// The HTTP status of a JSON answer: 400 for the errors 2026-07-28 ties to
/// it (-32020, -32021, -32022, a backend's passed through), else 200.
pub(super) fn status_of(answer: &Message) -> u16 {
    match answer {
        Message::Error { error, .. }
            if matches!(
                error.code,
                code::HEADER_MISMATCH | code::MISSING_CAPABILITY | code::UNSUPPORTED_VERSION
            ) =>
        {
            400
        }
        _ => 200,
    }
}

/// The answer's JSON response, shaped.
fn json_answer(shape: &Shape, answer: Message) -> Response {
    Response::json_text(status_of(&answer), shape.complete(answer))
}

/// Waits for the answer: JSON, or an SSE stream when something related to
/// the request (progress) comes first and the client takes streams.
pub(super) fn answer(
    gateway: &Gateway,
    call: Stateless,
    id: RequestId,
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
        match call
            .rx
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            Ok(Item::Answer(answer)) => {
                return json_answer(&shape, answer);
            }
            Ok(Item::Related(message)) if sse_ok => break Some(message),
            Ok(Item::Related(_)) => {}
            Ok(Item::Input(input)) => {
                let answer = Gatherer::of(gateway).ask(&call, &id, input, &shape);
                return json_answer(&shape, answer);
            }
            Err(RecvTimeoutError::Disconnected) => {
                return no_answer("request ended without an answer");
            }
            Err(RecvTimeoutError::Timeout) if sse_ok && Instant::now() < deadline => break None,
            Err(RecvTimeoutError::Timeout) => {
                return no_answer("no answer in time");
            }
        }
    };
    let settings = gateway.config().sse.clone();
    let ask = Gatherer::of(gateway);
    sse_headers(Response::stream(
        200,
        Box::new(move |writer| {
            stream(
                writer,
                &call.rx,
                first,
                deadline,
                &shape,
                &settings,
                &|input| ask.ask(&call, &id, input, &shape),
            );
        }),
    ))
}

/// Writes related messages, then the answer, as SSE events without ids
/// (2026-07-28 streams cannot be resumed); ends when the client leaves.
pub(super) fn stream(
    writer: &mut StreamWriter<'_>,
    rx: &Receiver<Item>,
    first: Option<Message>,
    deadline: Instant,
    shape: &Shape,
    settings: &crate::config::SseResilience,
    ask: &dyn Fn(InputRequest) -> Message,
) {
    if writer
        .set_write_timeout(Some(settings.send_timeout))
        .is_err()
    {
        return;
    }
    let mut keepalive = Keepalive::new(settings);
    let mut frame = Vec::new();
    let mut next = first.map(Item::Related);
    loop {
        frame.clear();
        let written = match next.take() {
            Some(Item::Related(message)) => write_event(writer, None, &message.to_json_text()),
            Some(Item::Answer(answer)) => {
                let _ = write_event(writer, None, &shape.complete(answer));
                return;
            }
            Some(Item::Input(input)) => {
                // The stream's last event: the input-required result.
                let _ = write_event(writer, None, &shape.complete(ask(input)));
                return;
            }
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

/// Questions in one input-required result at most.
pub(super) const MAX_INPUTS: usize = 64;

/// What a stream needs to turn a backend's question into an answer.
pub(super) struct Gatherer {
    bridge: Option<Arc<Bridge>>,
    ttl: Duration,
}

impl Gatherer {
    pub(super) fn of(gateway: &Gateway) -> Gatherer {
        Gatherer {
            bridge: gateway.bridge.clone(),
            ttl: gateway.answer_wait(),
        }
    }

    /// Turns the backend's question(s) for request `id` into its answer:
    /// an input-required result whose state parks the call (it goes on at
    /// the backend), or -32021 when the client declared none of the
    /// capabilities asked for. Questions that arrive together (within
    /// [`BURST`] of each other) go out in one result.
    pub(super) fn ask(
        &self,
        call: &Stateless,
        id: &RequestId,
        first: InputRequest,
        shape: &Shape,
    ) -> Message {
        let mut inputs = vec![first];
        let until = Instant::now() + BURST_MAX;
        while inputs.len() < MAX_INPUTS {
            let left = until.saturating_duration_since(Instant::now()).min(BURST);
            match call.rx.recv_timeout(left) {
                Ok(Item::Input(more)) => inputs.push(more),
                Ok(Item::Answer(answer)) => {
                    // The backend answered without waiting: its questions
                    // are moot, and the answer is the answer.
                    for input in &inputs {
                        input.refuse("the call was answered before the client was asked");
                    }
                    return answer;
                }
                Ok(Item::Related(_)) => {}
                Err(_) => break,
            }
        }
        let capabilities = call.cx.capabilities();
        let (allowed, refused): (Vec<InputRequest>, Vec<InputRequest>) = inputs
            .into_iter()
            .partition(|i| capabilities.get(i.capability).is_some_and(|c| !c.is_null()));
        if allowed.is_empty() {
            // Nothing can be asked: the call is cancelled at the backend
            // first, so it cannot go on with the refusals below.
            if let Some(f) = call.waiter.take_call()
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
            input.refuse(&why);
        }
        if allowed.is_empty() {
            let mut required = Map::new();
            for input in &refused {
                required.insert(input.capability.into(), json!({}));
            }
            let names: Vec<&str> = refused.iter().map(|i| i.capability).collect();
            let message = format!(
                "this request needs the client capability {}",
                names.join(", ")
            );
            let data = json!({"requiredCapabilities": required});
            return error_body(Some(id), code::MISSING_CAPABILITY, &message, Some(data));
        }
        let Some(bridge) = &self.bridge else {
            let why = "cannot seal request state";
            return error_body(Some(id), code::INTERNAL_ERROR, why, None);
        };
        // The call now waits for the retry, not for this request.
        call.waiter.take_call();
        input_required(id, bridge, allowed, shape.digest.clone(), self.ttl)
    }
}

/// The input-required answer to request `id` that parks `pending`.
pub(super) fn input_required(
    id: &RequestId,
    bridge: &Bridge,
    pending: Vec<InputRequest>,
    digest: String,
    ttl: Duration,
) -> Message {
    let mut requests = Map::new();
    for input in &pending {
        let mut request = json!({"method": input.method});
        if let Some(params) = &input.params {
            request["params"] = params.clone();
        }
        requests.insert(input.key.clone(), request);
    }
    let state = bridge.park(pending, digest, ttl);
    let result = json!({
        "resultType": "input_required",
        "inputRequests": requests,
        "requestState": state,
    });
    Message::response(id.clone(), result)
}

/// A retry with `requestState`: answers the parked call's questions from
/// `inputResponses`, and the call goes on under this request. Questions
/// left unanswered (or answered with something that is not an object) are
/// asked again at once, under a new state.
pub(super) fn resume(
    gateway: &Gateway,
    call: Stateless,
    id: RequestId,
    state: &str,
    params: Option<Value>,
    shape: Shape,
    req: &Request,
) -> Response {
    let refuse = |call: Stateless, status: u16, code: i64, why: &str| {
        drop(call);
        fail(status, Some(&id), code, why, None)
    };
    let Some(bridge) = gateway.bridge.clone() else {
        return refuse(
            call,
            200,
            code::INTERNAL_ERROR,
            "cannot verify request state",
        );
    };
    let parked = match bridge.take(state, &shape.digest) {
        Ok(p) => p,
        Err(why) => return refuse(call, 400, code::INVALID_PARAMS, why),
    };
    let Some(parked_call) = parked.pending.first().map(|i| i.call.clone()) else {
        let why = "requestState names no question";
        return refuse(call, 400, code::INVALID_PARAMS, why);
    };
    if !parked_call.attach(&call.reply(), &id) {
        let why = "the backend of this call is gone";
        return refuse(call, 200, code::INTERNAL_ERROR, why);
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
            Some(answer @ Value::Object(_)) => input.answer(answer.clone()),
            _ => missing.push(input),
        }
    }
    if !missing.is_empty() {
        call.waiter.take_call();
        let ttl = gateway.answer_wait();
        let answer = input_required(&id, &bridge, missing, shape.digest.clone(), ttl);
        drop(call);
        return Response::json_text(200, shape.complete(answer));
    }
    answer(
        gateway,
        call,
        id,
        shape,
        crate::gateway::sse::accepts_sse(req),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(method: &str) -> Shape {
        Shape {
            method: method.to_owned(),
            digest: String::new(),
            scope: "public",
            ttl_ms: 90_000,
            uri: "file:///x".to_owned(),
        }
    }

    #[test]
    fn answers_are_shaped_for_a_modern_client_in_place() {
        let id = RequestId::Number(1);
        let list = Message::response(id.clone(), json!({"tools": []}));
        let v: Value = serde_json::from_str(&shape(method::TOOLS_LIST).complete(list)).unwrap();
        let result = &v["result"];
        assert_eq!(result["resultType"], "complete");
        assert_eq!(
            result["_meta"][meta::SERVER_INFO]["name"],
            mcp::IMPLEMENTATION_NAME
        );
        assert_eq!(result["ttlMs"], MAX_TTL_MS, "capped");
        assert_eq!(result["cacheScope"], "public");
        // A call's result is not cached; an input-required one keeps its type.
        let asks = Message::response(id.clone(), json!({"resultType": "input_required"}));
        let v: Value = serde_json::from_str(&shape(method::TOOLS_CALL).complete(asks)).unwrap();
        assert_eq!(v["result"]["resultType"], "input_required");
        assert!(v["result"].get("ttlMs").is_none());
        // A missing resource is -32602 with the URI asked for.
        let missing = Message::error(Some(id.clone()), code::RESOURCE_NOT_FOUND, "gone");
        let v: Value =
            serde_json::from_str(&shape(method::RESOURCES_READ).complete(missing)).unwrap();
        assert_eq!(v["error"]["code"], code::INVALID_PARAMS);
        assert_eq!(v["error"]["data"], json!({"uri": "file:///x"}));
    }

    #[test]
    fn the_errors_2026_07_28_ties_to_400_get_it() {
        let id = Some(RequestId::Number(1));
        for (code, status) in [
            (code::HEADER_MISMATCH, 400),
            (code::MISSING_CAPABILITY, 400),
            (code::UNSUPPORTED_VERSION, 400),
            (code::INTERNAL_ERROR, 200),
        ] {
            assert_eq!(status_of(&Message::error(id.clone(), code, "x")), status);
        }
        assert_eq!(
            status_of(&Message::response(RequestId::Number(1), json!({}))),
            200
        );
    }
}
