//! The bridge's rounds on the modern front: a 2025-era backend's question
//! while it serves a modern client becomes an input-required result with
//! sealed `requestState`; the client's retry answers the backend and takes
//! the parked call over.

use super::answer::{BURST, BURST_MAX};
use super::*;

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
    /// [`BURST`] of each other) go out in one result. HTTP status and
    /// answer text.
    pub(super) fn ask(
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
pub(super) fn refuse(input: &InputRequest, why: &str) {
    if let Some(conn) = input.conn.upgrade() {
        conn.respond(&Message::error(
            Some(input.their_id.clone()),
            code::METHOD_NOT_FOUND,
            why,
        ));
    }
}

/// The input-required answer to request `id` that parks `pending`.
pub(super) fn input_required(
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
pub(super) fn resume(
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
        crate::gateway::sse::accepts_sse(req),
    )
}
