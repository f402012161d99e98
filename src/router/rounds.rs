//! A 2026-07-28 backend's input-required result for a 2025-era client
//! (the other direction of the bridge): the gateway asks the
//! client each of the backend's `inputRequests` as a server→client request
//! on the call's stream (`elicitation/create`, `sampling/createMessage`,
//! `roots/list`), gathers the answers, and retries the call upstream with
//! `inputResponses` and the backend's `requestState` echoed, under a new
//! backend id, until the backend completes it or [`MAX_ROUNDS`] rounds.
//! The client sees one call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::{Map, Value};

use super::forward::{Answering, SharedLog, SharedProgress, boxed_log, boxed_progress};
use crate::backend::{CallError, Connection, Origin, Outgoing};
use crate::jsonrpc::{ErrorObject, Message, RequestId, code};
use crate::mcp::method;
use crate::session::Asker;

/// The methods a 2026-07-28 server may answer with an input-required result.
pub(super) const METHODS: [&str; 3] = [
    method::TOOLS_CALL,
    method::PROMPTS_GET,
    method::RESOURCES_READ,
];

/// Rounds of questions one call may take; past it the call fails.
const MAX_ROUNDS: u32 = 8;

/// Numbers the gateway's own questions to clients.
static NEXT_QUESTION: AtomicU64 = AtomicU64::new(1);

/// How to ask a call again.
pub(super) struct Rounds {
    pub conn: Weak<Connection>,
    /// The params as first sent (without `inputResponses`).
    pub params: Value,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub progress: Option<SharedProgress>,
    pub log: Option<SharedLog>,
    /// Rounds asked so far.
    pub done: u32,
}

/// Whether a result is a 2026-07-28 input-required one.
pub(super) fn asks_input(result: &Value) -> bool {
    result.get("resultType").and_then(Value::as_str) == Some("input_required")
}

fn failed(message: String) -> CallError {
    CallError::Rpc(ErrorObject {
        code: code::INTERNAL_ERROR,
        message,
        data: None,
    })
}

/// The answers of one round, gathered from the client.
struct Gathering {
    answers: Map<String, Value>,
    waiting: usize,
    /// The call, until the round ends (answered, failed).
    call: Option<(Answering, Rounds)>,
    state: Option<Value>,
}

/// Asks the client the backend's questions of `result`, then retries.
/// Runs on the backend's reader thread, under no lock.
pub(super) fn ask(call: Answering, rounds: Rounds, result: Value) {
    let target = call.caller.target();
    let Some(session) = target.session.upgrade() else {
        return;
    };
    if rounds.done >= MAX_ROUNDS {
        let why = format!("the backend asked for input more than {MAX_ROUNDS} times");
        return call.answer(Err(failed(why)));
    }
    let Value::Object(mut result) = result else {
        return call.answer(Err(failed("input-required result is not an object".into())));
    };
    let questions = match result.remove("inputRequests") {
        Some(Value::Object(q)) => q,
        None | Some(Value::Null) => Map::new(),
        Some(_) => {
            return call.answer(Err(failed("inputRequests is not an object".into())));
        }
    };
    let state = result.remove("requestState");
    let capabilities = session.state().client_capabilities.value();
    let mut asks = Vec::with_capacity(questions.len());
    for (key, question) in questions {
        let method = question.get("method").and_then(Value::as_str).unwrap_or("");
        let capability = match method {
            method::SAMPLING_CREATE_MESSAGE => "sampling",
            method::ELICITATION_CREATE => "elicitation",
            method::ROOTS_LIST => "roots",
            other => {
                let why =
                    format!("the backend asked the client {other:?}, which MCP does not define");
                return call.answer(Err(failed(why)));
            }
        };
        if capabilities.get(capability).is_none_or(Value::is_null) {
            let why = format!(
                "the backend needs the client's {capability} capability, which it did not declare"
            );
            return call.answer(Err(failed(why)));
        }
        asks.push((key, method.to_owned(), question.get("params").cloned()));
    }
    if asks.is_empty() {
        // State only: ask again at once.
        return retry(call, rounds, Map::new(), state);
    }
    let gathering = Arc::new(Mutex::new(Gathering {
        answers: Map::new(),
        waiting: asks.len(),
        call: Some((call, rounds)),
        state,
    }));
    for (key, method, params) in asks {
        let ours = RequestId::String(format!(
            "argus-input-{}",
            NEXT_QUESTION.fetch_add(1, Ordering::Relaxed)
        ));
        let gathering = gathering.clone();
        session.track_server_request(
            ours.clone(),
            Asker::Gateway(Box::new(move |answer| gathered(&gathering, key, answer))),
        );
        session.send_for(
            &target.id,
            &Message::Request {
                id: ours,
                method,
                params,
            },
        );
    }
}

/// One answer of the client; the last of the round retries the call.
fn gathered(gathering: &Mutex<Gathering>, key: String, answer: Result<Value, ErrorObject>) {
    let mut g = gathering.lock().unwrap_or_else(|e| e.into_inner());
    match answer {
        Err(error) => {
            // No input response can say "error": the call ends with it.
            if let Some((call, _)) = g.call.take() {
                drop(g);
                call.answer(Err(CallError::Rpc(ErrorObject {
                    code: error.code,
                    message: format!("the client could not answer {key}: {}", error.message),
                    data: error.data,
                })));
            }
        }
        Ok(result) => {
            g.answers.insert(key, result);
            g.waiting = g.waiting.saturating_sub(1);
            if g.waiting == 0
                && let Some((call, rounds)) = g.call.take()
            {
                let answers = std::mem::take(&mut g.answers);
                let state = g.state.take();
                drop(g);
                retry(call, rounds, answers, state);
            }
        }
    }
}

/// Sends the call again with the client's answers and the backend's state.
fn retry(call: Answering, mut rounds: Rounds, answers: Map<String, Value>, state: Option<Value>) {
    let Some(conn) = rounds.conn.upgrade() else {
        return call.answer(Err(CallError::Closed("backend connection closed".into())));
    };
    let target = call.caller.target();
    let Some(session) = target.session.upgrade() else {
        return;
    };
    // The client may have cancelled meanwhile: then nothing is asked.
    if session.untrack(&target.id).is_none() {
        return;
    }
    let backend_id = conn.reserve_id();
    if !session.track(target.id.clone(), &conn, backend_id) {
        return;
    }
    let mut params = rounds.params.clone();
    if let Some(p) = params.as_object_mut() {
        p.insert("inputResponses".into(), Value::Object(answers));
        match state {
            Some(state) => p.insert("requestState".into(), state),
            None => p.remove("requestState"),
        };
    }
    rounds.done += 1;
    let (method, headers, timeout) = (call.method.clone(), rounds.headers.clone(), rounds.timeout);
    let progress = rounds.progress.clone().map(boxed_progress);
    let log = rounds.log.clone().map(boxed_log);
    let origin: Origin = call.caller.clone();
    let mut call = call;
    call.rounds = Some(rounds);
    conn.send_request_as(
        backend_id,
        Outgoing {
            method,
            params: Some(params),
            timeout,
            reply: call.reply_fn(),
            progress,
            log,
            origin: Some(origin),
            headers,
        },
    );
}
