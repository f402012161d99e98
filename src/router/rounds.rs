//! A 2026-07-28 backend's input-required result for a 2025-era client
//! (the other direction of the bridge): the gateway asks the
//! client each of the backend's `inputRequests` as a server→client request
//! on the call's stream (`elicitation/create`, `sampling/createMessage`,
//! `roots/list`), gathers the answers, and retries the call upstream with
//! `inputResponses` and the backend's `requestState` echoed, under a new
//! backend id, until the backend completes it or [`MAX_ROUNDS`] rounds.
//! The client sees one call.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::{Map, Value};

use super::call::{Call, FollowUp, SharedLog, SharedProgress, boxed_log, boxed_progress};
use crate::backend::{CallError, CallerStamp, Connection, Outgoing};
use crate::jsonrpc::{ErrorObject, code};
use crate::mcp::{self, method};
use crate::sync::lock;

/// The methods a 2026-07-28 server may answer with an input-required result.
pub(super) const METHODS: [&str; 3] = [
    method::TOOLS_CALL,
    method::PROMPTS_GET,
    method::RESOURCES_READ,
];

/// Rounds of questions one call may take; past it the call fails.
const MAX_ROUNDS: u32 = 8;

/// How to ask a call again.
pub(super) struct Rounds {
    pub conn: Weak<Connection>,
    /// The params as first sent (without `inputResponses`).
    pub params: Value,
    /// What the caller adds to each round for the backend.
    pub stamp: CallerStamp,
    pub timeout: Duration,
    pub progress: Option<SharedProgress>,
    pub log: Option<SharedLog>,
    /// The client's declared capabilities.
    pub capabilities: Value,
    /// Rounds asked so far.
    pub done: u32,
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
    call: Option<(Arc<Call>, Rounds)>,
    state: Option<Value>,
}

/// Asks the client the backend's questions of an input-required result,
/// then retries.
impl FollowUp for Rounds {
    fn take(self: Box<Self>, call: &Arc<Call>, result: Value) {
        ask(call, *self, result);
    }
}

/// Asks the client the backend's questions of `result`, then retries.
/// Runs on the backend's reader thread, under no lock.
fn ask(call: &Arc<Call>, rounds: Rounds, result: Value) {
    let target = call.target();
    let Some(reply) = target.reply() else {
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
    let mut asks = Vec::with_capacity(questions.len());
    for (key, question) in questions {
        let method = question.get("method").and_then(Value::as_str).unwrap_or("");
        let Some(capability) = mcp::capability_of(method) else {
            let why = format!("the backend asked the client {method:?}, which MCP does not define");
            return call.answer(Err(failed(why)));
        };
        if rounds
            .capabilities
            .get(capability)
            .is_none_or(Value::is_null)
        {
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
        call: Some((call.clone(), rounds)),
        state,
    }));
    for (key, method, params) in asks {
        let gathering = gathering.clone();
        let hears = Box::new(move |answer| gathered(&gathering, key, answer));
        reply.ask(&target.id, &method, params, hears);
    }
}

/// One answer of the client; the last of the round retries the call.
fn gathered(gathering: &Mutex<Gathering>, key: String, answer: Result<Value, ErrorObject>) {
    let mut g = lock(gathering);
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
                retry(&call, rounds, answers, state);
            }
        }
    }
}

/// Sends the call again with the client's answers and the backend's state.
fn retry(call: &Arc<Call>, mut rounds: Rounds, answers: Map<String, Value>, state: Option<Value>) {
    let Some(conn) = rounds.conn.upgrade() else {
        return call.answer(Err(CallError::Closed("backend connection closed".into())));
    };
    let target = call.target();
    let Some(reply) = target.reply() else {
        return;
    };
    // The client may have cancelled meanwhile: then nothing is asked.
    if !reply.untrack(&target.id) {
        return;
    }
    let backend_id = conn.reserve_id();
    if !reply.track(&target.id, &conn, backend_id) {
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
    let (stamp, timeout) = (rounds.stamp.clone(), rounds.timeout);
    let progress = rounds.progress.clone().map(boxed_progress);
    let log = rounds.log.clone().map(boxed_log);
    lock(&call.ending).rounds = Some(Box::new(rounds));
    conn.send_request_as(
        backend_id,
        Outgoing {
            method: call.method.clone(),
            params: Some(params),
            timeout,
            reply: call.reply_fn(),
            progress,
            log,
            origin: Some(call.clone()),
            stamp,
        },
    );
}
