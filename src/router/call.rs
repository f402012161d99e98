//! One forwarded request, from the moment the router sends it to a backend
//! until its answer reaches the client: who asked and where its answer
//! goes (which a 2026-07-28 retry may change, [`Call::attach`]), the
//! backend and its id of the request, the audit record and the metric of
//! its answer, its progress and log hooks, the backend's questions while
//! it serves it ([`CallOrigin::relay`]), and its further rounds when a
//! 2026-07-28 backend asks a 2025-era client for input (`rounds`).
//!
//! The backend connection keeps the call (as its [`Origin`]) with the
//! request, and runs [`Call::answer`] with the outcome; the call is the
//! one place where a backend failure becomes what the client sees
//! ([`failure`]): for `tools/call` a result with `isError: true`,
//! otherwise -32603, each naming the backend and the cause; a backend's
//! own JSON-RPC error passes through unchanged.

use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use serde_json::{Value, json};

use super::reply::{Attach, InputRequest, Reply, WeakReply};
use super::{audited, traced};
use crate::backend::{CallError, CallOrigin, Connection, NotRelayed};
use crate::jsonrpc::{ErrorObject, Message, RequestId, code};
use crate::mcp::{self, method};
use crate::runtime::Runtime;
use crate::sync::lock;
use crate::telemetry::OpenSpan;

/// Where a call's answer goes: a caller's sink and the client's id of
/// the request.
#[derive(Clone)]
pub(super) struct Target {
    pub(super) reply: WeakReply,
    pub(super) id: RequestId,
}

impl Target {
    /// The sink, while its caller is still there.
    pub(super) fn reply(&self) -> Option<Arc<dyn Reply>> {
        self.reply.upgrade()
    }
}

/// One forwarded request.
pub struct Call {
    target: Mutex<Target>,
    /// The backend connection and its id of the request.
    pub(super) conn: Weak<Connection>,
    pub(super) backend_id: u64,
    pub(super) runtime: Arc<Runtime>,
    /// The front transport, for the metric.
    pub(super) transport: &'static str,
    pub(super) method: String,
    pub(super) backend_name: String,
    pub(super) is_tool: bool,
    pub(super) started: Instant,
    /// What is taken when the call ends (or asks again).
    pub(super) ending: Mutex<Ending>,
}

/// The parts of a call its end consumes.
#[derive(Default)]
pub(super) struct Ending {
    /// The audit record, written at the end.
    pub(super) audit: Option<audited::CallRecord>,
    /// What an input-required result starts instead of being the answer:
    /// a 2026-07-28 backend's rounds for a 2025-era client (`rounds`).
    pub(super) rounds: Option<Box<dyn FollowUp>>,
    /// The call has been answered: later outcomes are dropped.
    pub(super) done: bool,
    /// Its request's server span and its own client span, when traced.
    pub(super) trace: Option<(OpenSpan, OpenSpan)>,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("method", &self.method)
            .field("backend", &self.backend_name)
            .field("backend_id", &self.backend_id)
            .finish_non_exhaustive()
    }
}

impl Call {
    /// A call of `method` for request `id` of `reply`'s caller, sent to
    /// `conn` as `backend_id`.
    pub(super) fn new(
        runtime: Arc<Runtime>,
        (reply, id): (WeakReply, RequestId),
        (conn, backend_id): (&Arc<Connection>, u64),
        method: &str,
        transport: &'static str,
    ) -> Call {
        Call {
            target: Mutex::new(Target { reply, id }),
            conn: Arc::downgrade(conn),
            backend_id,
            runtime,
            transport,
            method: method.to_owned(),
            backend_name: conn.name().to_owned(),
            is_tool: method == method::TOOLS_CALL,
            started: Instant::now(),
            ending: Mutex::new(Ending::default()),
        }
    }

    /// Where the answer goes now.
    pub(super) fn target(&self) -> Target {
        lock(&self.target).clone()
    }

    /// The backend connection's reply hook: runs on the transport's reader
    /// thread (or the connection's timer), under no lock.
    pub(super) fn reply_fn(self: &Arc<Self>) -> crate::backend::ReplyFn {
        let call = self.clone();
        Box::new(move |outcome| call.answer(outcome))
    }

    /// Sends the call's outcome to its client, or, for an input-required
    /// result that the gateway fulfils, asks the client first.
    pub(super) fn answer(self: &Arc<Self>, outcome: Result<Value, CallError>) {
        let mut ending = lock(&self.ending);
        if ending.done {
            return;
        }
        let outcome = match outcome {
            Ok(result) if mcp::is_input_required(&result) => match ending.rounds.take() {
                Some(more) => {
                    drop(ending);
                    return more.take(self, result);
                }
                None => Ok(result),
            },
            other => other,
        };
        ending.done = true;
        let audit = ending.audit.take();
        let trace = ending.trace.take();
        drop(ending);
        let server_span = trace.map(|(server, client)| {
            let why = outcome.as_ref().err().map(ToString::to_string);
            client.end(traced::backend_ended(
                &outcome,
                why.as_deref().unwrap_or(""),
            ));
            server
        });
        self.runtime.metrics().request(
            self.transport,
            &self.method,
            Some(&self.backend_name),
            audited::metric_outcome(&outcome),
            Some(self.started.elapsed()),
        );
        // Read now: a 2026-07-28 retry may have taken the call over.
        let target = self.target();
        let Some(reply) = target.reply() else {
            return;
        };
        let client_id = target.id;
        reply.untrack(&client_id);
        if let Some(record) = audit
            && let Err(why) = record.finish(&audited::outcome(&outcome))
        {
            // `audit.required`: nothing goes through unrecorded.
            let withheld = format!("the answer is withheld: {why}");
            let error = Message::error(Some(client_id.clone()), code::INTERNAL_ERROR, withheld);
            if let Some(span) = server_span {
                span.end(traced::answered_by(&error));
            }
            return reply.answer(&client_id, error);
        }
        let message = match outcome {
            Ok(result) => Message::response(client_id.clone(), result),
            Err(CallError::Rpc(error)) => Message::Error {
                id: Some(client_id.clone()),
                error,
            },
            Err(e) => {
                let cause = format!("backend \"{}\" {e}", self.backend_name);
                match failure(self.is_tool, &cause) {
                    Ok(result) => Message::response(client_id.clone(), result),
                    Err(error) => Message::Error {
                        id: Some(client_id.clone()),
                        error,
                    },
                }
            }
        };
        if let Some(span) = server_span {
            span.end(traced::answered_by(&message));
        }
        reply.answer(&client_id, message);
    }

    /// The progress hook of a call whose client asked for progress under
    /// `token`: the backend's progress goes to the client under its own
    /// token. Runs on the backend's reader thread, under no lock.
    pub(super) fn progress_hook(self: &Arc<Self>, token: Value) -> SharedProgress {
        let call = self.clone();
        Arc::new(move |mut params: Value| {
            let target = call.target();
            if let Some(reply) = target.reply() {
                params["progressToken"] = token.clone();
                let note = Message::Notification {
                    method: method::PROGRESS.into(),
                    params: Some(params),
                };
                reply.related(&target.id, note);
            }
        })
    }

    /// A 2026-07-28 caller's log hook: the backend's log messages at
    /// `wanted` or above go to the call's client on its stream, named by
    /// the backend. Runs on the backend's reader thread, under no lock.
    pub(super) fn log_hook(self: &Arc<Self>, wanted: usize) -> SharedLog {
        let call = self.clone();
        Arc::new(move |params: &Value| {
            let level = params
                .get("level")
                .and_then(Value::as_str)
                .and_then(mcp::log_rank);
            if level.unwrap_or(0) < wanted {
                return;
            }
            let target = call.target();
            let Some(reply) = target.reply() else {
                return;
            };
            let mut params = params.clone();
            if let Some(p) = params.as_object_mut() {
                p.insert("logger".into(), Value::from(call.backend_name.as_str()));
            }
            let note = Message::Notification {
                method: method::MESSAGE.into(),
                params: Some(params),
            };
            reply.related(&target.id, note);
        })
    }
}

/// What a call does with an input-required result instead of answering
/// with it.
pub(super) trait FollowUp: Send {
    /// Takes `result` over for `call`, which answers (or asks again) when
    /// the follow-up is done. Runs on the backend's reader thread, under
    /// no lock.
    fn take(self: Box<Self>, call: &Arc<Call>, result: Value);
}

/// A 2026-07-28 retry takes the call over.
impl Attach for Call {
    fn attach(&self, reply: &Arc<dyn Reply>, id: &RequestId) -> bool {
        let Some(conn) = self.conn.upgrade() else {
            return false;
        };
        *lock(&self.target) = Target {
            reply: Arc::downgrade(reply),
            id: id.clone(),
        };
        reply.track(id, &conn, self.backend_id)
    }
}

impl CallOrigin for Call {
    /// Relays a backend's request (`sampling/createMessage`,
    /// `elicitation/create`, `roots/list`) to the client of this call, on
    /// the stream of its request: a 2025-era client is asked under an id
    /// of the session's, a 2026-07-28 one through an input-required result
    /// (its front's [`Reply::relay`] decides).
    fn relay(
        self: Arc<Self>,
        id: RequestId,
        method: &str,
        params: Option<Value>,
    ) -> Result<(), NotRelayed> {
        let Some(capability) = mcp::capability_of(method) else {
            return Err(NotRelayed(format!(
                "{method} is not relayed by the gateway"
            )));
        };
        let target = self.target();
        let Some(reply) = target.reply() else {
            return Err(NotRelayed("no client session to ask".into()));
        };
        let question = InputRequest {
            key: match &id {
                RequestId::String(s) => s.clone(),
                RequestId::Number(n) => n.to_string(),
            },
            method: method.to_owned(),
            params,
            capability,
            conn: self.conn.clone(),
            their_id: id,
            call: self,
        };
        reply.relay(&target.id, question)
    }
}

/// A forwarded call's progress hook, kept for its further rounds.
pub(super) type SharedProgress = Arc<dyn Fn(Value) + Send + Sync>;

/// A forwarded 2026-07-28 call's log hook, kept for its further rounds.
pub(super) type SharedLog = Arc<dyn Fn(&Value) + Send + Sync>;

pub(super) fn boxed_progress(hook: SharedProgress) -> crate::backend::ProgressFn {
    Box::new(move |params| hook(params))
}

pub(super) fn boxed_log(hook: SharedLog) -> crate::backend::LogFn {
    Box::new(move |params| hook(params))
}

/// The one translation of a backend failure into what the client sees
/// (wire errors are made here and nowhere else): a tool error result for
/// `tools/call`, -32603 otherwise.
pub(super) fn failure(is_tool: bool, text: &str) -> Result<Value, ErrorObject> {
    // Causes may quote a backend URL: never its credentials.
    let text = crate::redact::text(text);
    let text = text.as_ref();
    if is_tool {
        Ok(json!({"content": [{"type": "text", "text": text}], "isError": true}))
    } else {
        Err(ErrorObject::new(code::INTERNAL_ERROR, text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_become_tool_errors_or_internal_errors() {
        let tool = failure(true, "backend \"b\" timed out after 1.0s").unwrap();
        assert_eq!(tool["isError"], true);
        assert_eq!(
            tool["content"][0]["text"],
            "backend \"b\" timed out after 1.0s"
        );
        let other = failure(false, "x").unwrap_err();
        assert_eq!(other.code, code::INTERNAL_ERROR);
    }
}
