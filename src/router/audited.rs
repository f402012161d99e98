//! What the audit log records of a forwarded request: who (the session's
//! hash and the caller's identity, never a credential),
//! through which transport, what (method, exposed and original name,
//! backend and its group), how long, and how it ended. Never arguments,
//! results or secrets; the session appears as a hash of its id (the id is
//! a credential).

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};

use super::context::CallContext;
use crate::audit::{AuditLog, WriteError};
use crate::backend::CallError;
use crate::metrics::CallOutcome;

/// A request on its way, to be recorded when it ends.
pub(super) struct CallRecord {
    log: Arc<AuditLog>,
    fields: Map<String, Value>,
    started: Instant,
}

impl CallRecord {
    /// Starts the record of `method` on `exposed` (→ `original` at `backend`).
    pub(super) fn start(
        log: Arc<AuditLog>,
        cx: CallContext<'_>,
        method: &str,
        (exposed, original): (&str, &str),
        (backend, group): (&str, &str),
    ) -> CallRecord {
        let mut fields = caller_fields(cx);
        let mut put = |k: &str, v: Value| {
            fields.insert(k.to_owned(), v);
        };
        put("method", Value::from(method));
        put("name", Value::from(exposed));
        put("original", Value::from(original));
        put("backend", Value::from(backend));
        put("group", Value::from(group));
        CallRecord {
            log,
            fields,
            started: Instant::now(),
        }
    }

    /// Adds a field to the record.
    pub(super) fn note(&mut self, key: &str, value: Value) {
        self.fields.insert(key.to_owned(), value);
    }

    /// Records how the request ended; `Err` when the record could not be
    /// written and the log is `required` (the answer must then be withheld).
    pub(super) fn finish(mut self, outcome: &str) -> Result<(), WriteError> {
        let ms = self.started.elapsed().as_secs_f64() * 1000.0;
        self.fields.insert(
            "duration_ms".into(),
            Value::from((ms * 1000.0).round() / 1000.0),
        );
        self.fields.insert("outcome".into(), Value::from(outcome));
        match self.log.record("call", self.fields) {
            Err(why) if self.log.required => Err(why),
            _ => Ok(()),
        }
    }
}

/// The outcome word of a backend's answer.
pub(super) fn outcome(result: &Result<Value, CallError>) -> String {
    match result {
        Ok(v) if v.get("isError") == Some(&Value::Bool(true)) => "isError".into(),
        Ok(_) => "ok".into(),
        Err(CallError::Rpc(e)) => format!("error {}", e.code),
        Err(CallError::Timeout(_)) => "timeout".into(),
        Err(CallError::Closed(_)) => "disconnected".into(),
        Err(CallError::Overloaded | CallError::TooManyPending) => "overloaded".into(),
        Err(CallError::Send(_)) => "not delivered".into(),
    }
}

/// The metrics label of a backend's answer.
pub(super) fn metric_outcome(result: &Result<Value, CallError>) -> CallOutcome {
    match result {
        Ok(v) if v.get("isError") == Some(&Value::Bool(true)) => CallOutcome::IsError,
        Ok(_) => CallOutcome::Ok,
        Err(CallError::Rpc(_)) => CallOutcome::Error,
        Err(CallError::Timeout(_)) => CallOutcome::Timeout,
        Err(CallError::Closed(_)) => CallOutcome::Disconnected,
        Err(CallError::Overloaded | CallError::TooManyPending | CallError::Send(_)) => {
            CallOutcome::Undelivered
        }
    }
}

/// Records a request that ended without an answer: `cancelled`, by the
/// client or because its session ended.
pub(super) fn cancelled(log: &AuditLog, cx: CallContext<'_>, backend: &str, why: &str) {
    let mut fields = caller_fields(cx);
    fields.insert("backend".into(), Value::from(backend));
    fields.insert("outcome".into(), Value::from("cancelled"));
    fields.insert("reason".into(), Value::from(why));
    let _ = log.record("call", fields);
}

/// Who a record is about: the session (as a hash), the caller's identity
/// and OAuth client when known, the peer and the front transport.
pub(super) fn caller_fields(cx: CallContext<'_>) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("session".into(), Value::from(cx.label()));
    if let Some(identity) = cx.identity() {
        fields.insert("identity".into(), Value::from(identity.name.as_str()));
        if let Some(client) = &identity.client_id {
            fields.insert("client_id".into(), Value::from(client.as_str()));
        }
    }
    fields.insert("peer".into(), Value::from(cx.peer().to_string()));
    fields.insert("transport".into(), Value::from(cx.transport().as_str()));
    fields
}
