//! The management actions: `POST reload`, `POST reconnect/{name}`,
//! `POST shutdown`. Each runs on the calling connection's thread.

use serde_json::{Value, json};

use super::{Gateway, error};
use crate::http::{Request, Response};
use crate::ops_events::Severity;
use crate::supervisor::{NotDone, RELOAD_CONNECT_WAIT};

/// `POST reload`: 200 with what changed; 422 with every problem when the
/// file is refused; 503 while starting or stopping.
pub(super) fn reload(gateway: &Gateway) -> Response {
    let outcome = super::super::reload::reload(gateway, "management API");
    let status = outcome.refused.map_or(200, |r| r.status());
    Response::json(status, &outcome.body)
}

/// `POST reconnect/{name}`: restarts one backend now and waits for it.
pub(super) fn reconnect(gateway: &Gateway, name: &str) -> Response {
    let valid = !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        return error(400, "bad_request", "Invalid backend name.");
    }
    match gateway.supervisor.reconnect(name, RELOAD_CONNECT_WAIT) {
        Err(why @ NotDone::UnknownBackend(_)) => error(404, "not_found", why.to_string()),
        Err(why @ NotDone::NotRunning) => error(503, "service_unavailable", why.to_string()),
        Ok(result) => {
            let (status, severity) = if result.is_ok() {
                (200, Severity::Info)
            } else {
                (500, Severity::Error)
            };
            let why = result.as_ref().err().map(ToString::to_string);
            gateway.runtime.events().record(
                "backend_reconnect",
                severity,
                Some(name),
                match &why {
                    None => "reconnected on request".to_owned(),
                    Some(why) => format!("reconnect failed: {why}"),
                },
                None,
            );
            Response::json(
                status,
                &json!({"name": name, "reconnected": why.is_none(), "error": why}),
            )
        }
    }
}

/// `POST shutdown`: answers, then stops the gateway like SIGTERM (sessions
/// end, backends stop, the process exits 0). The body may give
/// `timeout_seconds` (1–300, default 30), the original's field; ours stops
/// within its own bounded stages (a few seconds), well inside any value.
pub(super) fn shutdown(gateway: &Gateway, req: &Request) -> Response {
    // A non-JSON body counts as `{}`, like the original.
    let body: Value = serde_json::from_slice(&req.body).unwrap_or_else(|_| json!({}));
    // Validated for the original's clients; our stop is bounded anyway.
    let _timeout = match body.get("timeout_seconds") {
        None | Some(Value::Null) => 30,
        Some(v) => match v.as_i64() {
            Some(n) if (1..=300).contains(&n) => n,
            Some(_) => {
                return error(
                    400,
                    "bad_request",
                    "'timeout_seconds' must be between 1 and 300.",
                );
            }
            None => return error(400, "bad_request", "Invalid shutdown request body."),
        },
    };
    let Some(control) = gateway.control.get() else {
        return error(503, "service_unavailable", "Service is not running.");
    };
    log::info!(
        "shutdown requested through the management API (from {})",
        req.peer
    );
    gateway.runtime.events().record(
        "status",
        Severity::Warning,
        None,
        "shutdown requested through the management API",
        None,
    );
    gateway.shut_down_sessions();
    let server = control.shutdown.clone();
    Response::json(200, &json!({"shutting_down": true})).then(move || server.shutdown())
}
