//! Forwarding one request to the backend that owns it, and its answer
//! back: the call's caller (who gets the answer, which a 2026-07-28 retry
//! may change), its progress and log hooks, the audit record and metric
//! of its answer, and the one place where a backend failure becomes what
//! the client sees ([`failure`]): for `tools/call` a result with
//! `isError: true`, otherwise -32603, each naming the backend and the
//! cause; a backend's own JSON-RPC error passes through unchanged.

use super::*;

/// Who asked for a forwarded request: the backend connection keeps it with
/// the request (an [`Origin`]), and hands it back with any request the
/// backend sends while serving it.
///
/// Where its answer goes can change: a 2026-07-28 client answers a
/// backend's question by retrying with a new request (and a new session of
/// its own), and the call then belongs to that one ([`Router::attach`]).
#[derive(Debug)]
pub(super) struct Caller {
    pub(super) target: Mutex<Target>,
    /// The backend connection and its id of the call.
    pub(super) conn: Weak<Connection>,
    pub(super) backend_id: u64,
}

/// The session and request a forwarded call answers.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub(super) session: Weak<Session>,
    /// The client's id of the request.
    pub(super) id: RequestId,
}

impl Caller {
    pub(super) fn target(&self) -> Target {
        self.target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Router {
    /// Sends a request to the backend of `route`; the answer goes to `session`.
    pub(super) fn forward(
        &self,
        session: &Arc<Session>,
        id: &RequestId,
        method_name: &str,
        params: Value,
        route: &Route,
        exposed: &str,
    ) -> Handled {
        let is_tool = method_name == method::TOOLS_CALL;
        let link = match self.supervisor.link(route.backend) {
            Ok(link) => link,
            Err(cause) => return Handled::Reply(failure(is_tool, &cause.to_string())),
        };
        let timeout = self.supervisor_timeout(route.backend);
        let client_token = params
            .get("_meta")
            .and_then(|m| m.get("progressToken"))
            .cloned();
        let backend_name = route.backend_name.clone();
        let audit = self.audit_start(session, method_name, route, exposed);
        let backend_id = link.conn.reserve_id();
        let caller = Arc::new(Caller {
            target: Mutex::new(Target {
                session: Arc::downgrade(session),
                id: id.clone(),
            }),
            conn: Arc::downgrade(&link.conn),
            backend_id,
        });
        let mut params = params;
        let headers = if link.conn.is_modern() {
            self.for_modern_backend(session, &mut params, is_tool, exposed)
        } else {
            Vec::new()
        };
        let progress = client_token.map(|token| progress_hook(&caller, token));
        // A 2026-07-28 request that asked for logs hears its backend's, on
        // its own stream, in order with its answer (never without asking).
        let (log, legacy_caller) = {
            let state = session.state();
            let wanted = state.log_level.as_deref().and_then(mcp::log_rank);
            let modern_caller = state.protocol_version == Some(mcp::MODERN_VERSION);
            let log = modern_caller
                .then_some(wanted)
                .flatten()
                .map(|wanted| log_hook(&caller, &route.backend_name, wanted));
            (log, !modern_caller)
        };
        // A 2026-07-28 backend may answer a 2025-era client's call with an
        // input-required result: the gateway asks the client and retries.
        let rounds =
            (link.conn.is_modern() && legacy_caller && rounds::METHODS.contains(&method_name))
                .then(|| rounds::Rounds {
                    conn: Arc::downgrade(&link.conn),
                    params: params.clone(),
                    headers: headers.clone(),
                    timeout,
                    progress: progress.clone(),
                    log: log.clone(),
                    done: 0,
                });
        let answering = Answering {
            runtime: self.runtime.clone(),
            caller: caller.clone(),
            audit,
            transport: session.transport.as_str(),
            method: method_name.to_owned(),
            backend_name,
            is_tool,
            started: Instant::now(),
            rounds,
        };
        if !session.track(id.clone(), &link.conn, backend_id) {
            // The same id arrived twice at once (the check in `handle` raced).
            refuse_duplicate(session, id.clone());
            return Handled::Forwarded;
        }
        let origin: Origin = caller;
        link.conn.send_request_as(
            backend_id,
            Outgoing {
                method: method_name.to_owned(),
                params: Some(params),
                timeout,
                reply: answering.reply_fn(),
                progress: progress.map(boxed_progress),
                log: log.map(boxed_log),
                origin: Some(origin),
                headers,
            },
        );
        Handled::Forwarded
    }

    /// The audit record of a call that starts now, if the log is on.
    fn audit_start(
        &self,
        session: &Session,
        method_name: &str,
        route: &Route,
        exposed: &str,
    ) -> Option<audited::Call> {
        self.runtime.audit().map(|log| {
            let group = self.supervisor.group(route.backend);
            audited::Call::start(
                log,
                session,
                method_name,
                (exposed, &route.original),
                (&route.backend_name, &group),
            )
        })
    }

    /// Prepares a call for a 2026-07-28 backend: the caller's capabilities
    /// (and, for a modern caller, its client info) go in `_meta`, since
    /// the backend may ask for input only within them; returns the
    /// `Mcp-Param-*` headers of the tool's `x-mcp-header` arguments.
    pub(super) fn for_modern_backend(
        &self,
        session: &Session,
        params: &mut Value,
        is_tool: bool,
        exposed: &str,
    ) -> Vec<(String, String)> {
        {
            let state = session.state();
            if let Some(obj) = params.as_object_mut() {
                let meta = obj.entry("_meta").or_insert_with(|| json!({}));
                if let Some(meta) = meta.as_object_mut() {
                    meta.insert(
                        mcp::meta::CLIENT_CAPABILITIES.into(),
                        state.client_capabilities.value(),
                    );
                    // A 2025-era client's `logging/setLevel` holds for
                    // its session; a modern backend hears it per request.
                    if let Some(level) = &state.log_level {
                        meta.entry(mcp::meta::LOG_LEVEL)
                            .or_insert_with(|| Value::from(level.as_str()));
                    }
                }
            }
        }
        if !is_tool {
            return Vec::new();
        }
        let catalog = self.catalog_of(session);
        let Some(tool) = catalog.item(Kind::Tool, exposed) else {
            return Vec::new();
        };
        let arguments = params.get("arguments").filter(|a| a.is_object());
        mcp::param_headers(tool, arguments)
            .filter_map(|(name, _, value)| {
                let value = match value {
                    Value::String(s) => crate::backend::encode_header_value(s),
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                Some((name, value))
            })
            .collect()
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

/// A call's progress hook: the backend's progress goes to the call's
/// client under the client's own token. Runs on the backend's reader
/// thread, under no lock.
fn progress_hook(caller: &Arc<Caller>, token: Value) -> SharedProgress {
    let notes = caller.clone();
    Arc::new(move |mut params: Value| {
        let target = notes.target();
        if let Some(session) = target.session.upgrade() {
            params["progressToken"] = token.clone();
            session.send_for(
                &target.id,
                &Message::Notification {
                    method: method::PROGRESS.into(),
                    params: Some(params),
                },
            );
        }
    })
}

/// A 2026-07-28 call's log hook: the backend's log messages at `wanted`
/// or above go to the call's client on its stream, named by `backend`.
/// Runs on the backend's reader thread, under no lock.
fn log_hook(caller: &Arc<Caller>, backend: &str, wanted: usize) -> SharedLog {
    let hears = caller.clone();
    let name = backend.to_owned();
    Arc::new(move |params: &Value| {
        let level = params
            .get("level")
            .and_then(Value::as_str)
            .and_then(mcp::log_rank);
        if level.unwrap_or(0) < wanted {
            return;
        }
        let target = hears.target();
        let Some(session) = target.session.upgrade() else {
            return;
        };
        let mut params = params.clone();
        if let Some(p) = params.as_object_mut() {
            p.insert("logger".into(), Value::from(name.as_str()));
        }
        session.send_for(
            &target.id,
            &Message::Notification {
                method: method::MESSAGE.into(),
                params: Some(params),
            },
        );
    })
}

/// What the answer of a forwarded call needs: who gets it, what to count
/// and record, and, for a 2026-07-28 backend serving a 2025-era client,
/// how to ask again ([`rounds`]).
pub(super) struct Answering {
    pub(super) runtime: Arc<Runtime>,
    pub(super) caller: Arc<Caller>,
    pub(super) audit: Option<audited::Call>,
    pub(super) transport: &'static str,
    pub(super) method: String,
    pub(super) backend_name: String,
    pub(super) is_tool: bool,
    pub(super) started: Instant,
    pub(super) rounds: Option<rounds::Rounds>,
}

impl Answering {
    /// The backend connection's reply hook: runs on the transport's reader
    /// thread (or the connection's timer), under no lock.
    pub(super) fn reply_fn(self) -> crate::backend::ReplyFn {
        Box::new(move |outcome| self.answer(outcome))
    }

    /// Sends the call's outcome to its client, or, for an input-required
    /// result that the gateway fulfils, asks the client first.
    pub(super) fn answer(mut self, outcome: Result<Value, CallError>) {
        let outcome = match (outcome, self.rounds.take()) {
            (Ok(result), Some(rounds)) if rounds::asks_input(&result) => {
                return rounds::ask(self, rounds, result);
            }
            (outcome, rounds) => {
                self.rounds = rounds;
                outcome
            }
        };
        let Answering {
            runtime,
            caller,
            audit,
            transport,
            method,
            backend_name,
            is_tool,
            started,
            rounds: _,
        } = self;
        runtime.metrics().request(
            transport,
            &method,
            Some(&backend_name),
            audited::metric_outcome(&outcome),
            Some(started.elapsed()),
        );
        // Read now: a 2026-07-28 retry may have taken the call over.
        let Target {
            session,
            id: client_id,
        } = caller.target();
        let Some(session) = session.upgrade() else {
            return;
        };
        session.untrack(&client_id);
        if let Some(call) = audit
            && let Err(why) = call.finish(&audited::outcome(&outcome))
        {
            // `audit.required`: nothing goes through unrecorded.
            session.send(&Message::error(
                Some(client_id),
                code::INTERNAL_ERROR,
                format!("the answer is withheld: {why}"),
            ));
            return;
        }
        let message = match outcome {
            Ok(result) => Message::response(client_id, result),
            Err(CallError::Rpc(error)) => Message::Error {
                id: Some(client_id),
                error,
            },
            Err(e) => match failure(is_tool, &format!("backend \"{backend_name}\" {e}")) {
                Ok(result) => Message::response(client_id, result),
                Err(error) => Message::Error {
                    id: Some(client_id),
                    error,
                },
            },
        };
        session.send(&message);
    }
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
