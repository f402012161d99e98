//! Live reload: `POST /manage/v1/reload` and SIGHUP read the config file again
//! and apply the difference without dropping a client session.
//!
//! A file with any error is refused whole: the running config stays, and
//! every problem (key path, line, column) goes into the answer, the log,
//! the events and the audit log. Settings that only a restart can change
//! (the listener, body limit, connection cap, rate limiter, audit file)
//! keep their running values and are named in `restart_required`.

use std::time::SystemTime;

use log::{error, info, warn};
use serde_json::{Map, Value, json};

use super::Gateway;
use crate::config::{self, Config};
use crate::limits::RELOAD_STACK_BYTES;
use crate::metrics::Metrics;
use crate::ops_events::Severity;
use crate::supervisor::ReloadReport;
use crate::sync;

/// Why a reload changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The gateway started without a config file.
    NoConfigFile,
    /// The file has errors (every one is in the answer).
    InvalidConfig,
    /// The gateway is still starting or is stopping, or the reload could
    /// not run.
    Unavailable,
}

impl Refusal {
    /// The `error` word of the answer (the original's).
    fn word(self) -> &'static str {
        match self {
            Refusal::NoConfigFile => "no_config_file",
            Refusal::InvalidConfig => "invalid_config",
            Refusal::Unavailable => "service_unavailable",
        }
    }

    /// The HTTP status of `POST /manage/v1/reload` that answers it.
    pub(super) fn status(self) -> u16 {
        match self {
            Refusal::Unavailable => 503,
            Refusal::NoConfigFile | Refusal::InvalidConfig => 422,
        }
    }
}

/// How a reload ended.
#[derive(Debug)]
pub(super) struct ReloadOutcome {
    /// Why the new config is not in force; `None`: it is.
    pub refused: Option<Refusal>,
    /// The answer of `POST /manage/v1/reload`.
    pub body: Value,
}

/// Each problem of an invalid file, as a line with its position.
fn problems(e: &config::Error) -> Vec<Value> {
    match e {
        config::Error::Read { .. } => vec![json!({"message": e.to_string()})],
        config::Error::Invalid { problems, .. } => problems
            .iter()
            .map(|p| {
                json!({
                    "path": p.path,
                    "line": p.pos.map(|p| p.line),
                    "column": p.pos.map(|p| p.column),
                    "message": p.message,
                    "text": p.to_string(),
                })
            })
            .collect(),
    }
}

/// Keeps the running value of every setting a reload cannot apply, and
/// names the ones the file changed.
fn keep_restart_only(running: &Config, new: &mut Config) -> Vec<&'static str> {
    let mut needs = Vec::new();
    let (r, n) = (&running.server, &mut new.server);
    if r.host != n.host {
        needs.push("server.host");
        n.host = r.host.clone();
    }
    if r.port != n.port {
        needs.push("server.port");
        n.port = r.port;
    }
    if r.max_connections != n.max_connections {
        needs.push("server.max_connections");
        n.max_connections = r.max_connections;
    }
    if running.security.max_body_bytes != new.security.max_body_bytes {
        needs.push("security.max_body_bytes");
        new.security.max_body_bytes = running.security.max_body_bytes;
    }
    if running.rate_limits != new.rate_limits {
        needs.push("rate_limits");
        new.rate_limits = running.rate_limits.clone();
    }
    if running.audit != new.audit {
        needs.push("audit");
        new.audit = running.audit.clone();
    }
    if running.telemetry != new.telemetry {
        needs.push("telemetry");
        new.telemetry = running.telemetry.clone();
    }
    needs
}

/// Reads the config again and applies it; `trigger` says who asked
/// (`SIGHUP`, `management API`). Runs on a thread of its own with a
/// [`RELOAD_STACK_BYTES`] stack (parsing recurses; a connection thread's
/// stack is small) while the caller waits; returns once the started
/// backends had their first attempt (bounded).
pub(super) fn reload(gateway: &Gateway, trigger: &str) -> ReloadOutcome {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("argus-reload".into())
            .stack_size(RELOAD_STACK_BYTES)
            .spawn_scoped(scope, || reload_here(gateway, trigger));
        match worker.map(|w| w.join()) {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => failed(gateway, trigger, "the reload panicked (see the log)".into()),
            Err(e) => failed(gateway, trigger, format!("cannot start the reload: {e}")),
        }
    })
}

/// A reload that could not run: nothing changed.
fn failed(gateway: &Gateway, trigger: &str, why: String) -> ReloadOutcome {
    error!("reload ({trigger}) failed: {why}");
    Metrics::inc(&gateway.runtime.metrics().reloads_refused);
    ReloadOutcome {
        refused: Some(Refusal::Unavailable),
        body: refused_body(
            Refusal::Unavailable.word(),
            &why,
            Value::Null,
            vec![Value::from(why.clone())],
        ),
    }
}

/// The answer to a reload that changed nothing: the error, and a reload
/// report with nothing in it (the original's fields, for its clients).
fn refused_body(status: &str, message: &str, details: Value, errors: Vec<Value>) -> Value {
    json!({
        "reloaded": false,
        "error": status,
        "message": message,
        "details": details,
        "backends_added": [],
        "backends_removed": [],
        "backends_changed": [],
        "errors": errors,
        "restart_required": [],
    })
}

/// Reloads on this thread: reads the config file again and applies it, or
/// refuses (no file, a file with errors, a supervisor that cannot apply
/// it) and keeps the running config.
fn reload_here(gateway: &Gateway, trigger: &str) -> ReloadOutcome {
    let refuse = |refusal: Refusal, message: String, errors: Vec<Value>| {
        refuse_reload(gateway, trigger, refusal, message, errors)
    };
    let Some(loader) = gateway.control.get().and_then(|c| c.loader.as_ref()) else {
        return refuse(
            Refusal::NoConfigFile,
            "the gateway started without a config file: nothing to reload".into(),
            Vec::new(),
        );
    };
    let mut new = match loader() {
        Ok(config) => config,
        Err(e) => {
            let list = problems(&e);
            return refuse(
                Refusal::InvalidConfig,
                e.to_string().replace("\n  ", "; "),
                list,
            );
        }
    };
    let running = gateway.config();
    let restart_required = keep_restart_only(&running, &mut new);
    for warning in &new.warnings {
        warn!("{warning}");
    }
    let report = match gateway.supervisor.apply(new) {
        Ok(report) => report,
        Err(why) => return refuse(Refusal::Unavailable, why.to_string(), Vec::new()),
    };
    applied(gateway, trigger, &report, &restart_required)
}

/// A refused reload: logged, counted, recorded in the events and the audit
/// log, and answered with every problem in `errors`.
fn refuse_reload(
    gateway: &Gateway,
    trigger: &str,
    refusal: Refusal,
    message: String,
    errors: Vec<Value>,
) -> ReloadOutcome {
    let runtime = &gateway.runtime;
    let status = refusal.word();
    error!("reload ({trigger}) refused: {message}");
    Metrics::inc(&runtime.metrics().reloads_refused);
    let mut details = Map::new();
    details.insert("errors".into(), Value::from(errors.clone()));
    runtime.events().record(
        "config",
        Severity::Error,
        None,
        format!("reload refused: {message}"),
        Some(details),
    );
    if let Some(log) = runtime.audit() {
        let mut fields = Map::new();
        fields.insert("trigger".into(), Value::from(trigger));
        fields.insert("outcome".into(), Value::from(status));
        fields.insert("errors".into(), Value::from(errors.clone()));
        let _ = log.record("reload", fields);
    }
    let texts: Vec<Value> = errors
        .iter()
        .map(|e| {
            e.get("text")
                .or_else(|| e.get("message"))
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    ReloadOutcome {
        refused: Some(refusal),
        body: refused_body(status, &message, json!({"problems": errors}), texts),
    }
}

/// An applied reload: its time and count kept, logged (with the settings
/// that wait for a restart), recorded in the events and the audit log, and
/// answered with what changed.
fn applied(
    gateway: &Gateway,
    trigger: &str,
    report: &ReloadReport,
    restart_required: &[&'static str],
) -> ReloadOutcome {
    let runtime = &gateway.runtime;
    *sync::lock(&gateway.loaded_at) = SystemTime::now();
    Metrics::inc(&runtime.metrics().reloads);
    let summary = format!(
        "config reloaded ({trigger}): {} added, {} removed, {} changed",
        report.added.len(),
        report.removed.len(),
        report.changed.len()
    );
    info!("{summary}");
    for needs in restart_required {
        warn!("reload: {needs} changed; it takes effect after a restart");
    }
    let body = json!({
        "reloaded": true,
        "backends_added": report.added,
        "backends_removed": report.removed,
        "backends_changed": report.changed,
        "errors": report.errors,
        "restart_required": restart_required,
    });
    let details = body.as_object().cloned();
    runtime.events().record(
        "config_reloaded",
        Severity::Info,
        None,
        summary,
        details.clone(),
    );
    if let Some(log) = runtime.audit() {
        let mut fields = details.unwrap_or_default();
        fields.insert("trigger".into(), Value::from(trigger));
        fields.insert("outcome".into(), Value::from("applied"));
        let _ = log.record("reload", fields);
    }
    ReloadOutcome {
        refused: None,
        body,
    }
}
