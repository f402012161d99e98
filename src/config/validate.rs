//! Walks the YAML node tree into a typed [`Config`], collecting every problem.
//!
//! This file is the plan: parse the text, refuse repeated keys, then read
//! the top-level sections in a fixed order, one module each. Each section
//! takes its keys by name from a [`Fields`] view; whatever is left over at
//! the end is an unknown key (an error with a "did you mean" hint) or a key
//! of the original Argus that argus-mcp does not implement (a warning, so
//! an Argus config still starts). String values get `${VAR}` expansion as
//! they are read; numbers accept numeric strings too, so `port: "${PORT}"`
//! works. Files the config names are checked too, without creating
//! anything (TLS files read, the audit log's folder and file looked at), so
//! that `check` refuses what the server would refuse at start. Nothing is
//! started or connected here.
//!
//! | module | owns |
//! |---|---|
//! | `fields`, `scalars` | the walking machinery and the value readers |
//! | `server` | `server` |
//! | `lifecycle` | the `ARGUS_*` start-up and retry defaults |
//! | `tls` | `tls`, top level and per backend |
//! | `backends`, `timeouts`, `backend_auth` | `backends` and its entries |
//! | `catalog` | `filters`, `tool_overrides`, `conflict_resolution`, `catalog` |
//! | `access` | `incoming_auth`, `security`, `rate_limits` |
//! | `authorization` | `authorization` |
//! | `sse_resilience`, `audit`, `optimizer`, `telemetry` | the sections of those names |

use super::yaml::{self, Node, YamlValue};
use super::{Config, Problem};

mod access;
mod audit;
mod authorization;
mod backend_auth;
mod backends;
mod catalog;
mod fields;
mod lifecycle;
mod optimizer;
mod scalars;
mod server;
mod sse_resilience;
mod telemetry;
mod timeouts;
mod tls;

use fields::{Cx, Fields};

/// Answers `${VAR}` and the `ARGUS_*` overrides (the process environment, or a test's).
type Env<'e> = &'e dyn Fn(&str) -> Option<String>;

/// Top-level keys of the original Argus that we accept and ignore.
const TOP_EXTRAS: &[&str] = &[
    "secrets",
    "retry",
    "http_pool",
    "session_pool",
    "registries",
    "feature_flags",
    "plugins",
    "skills",
    "workflows",
    "client",
];

/// Validates config text into a [`Config`], or every problem found, sorted by position.
pub(super) fn from_text(text: &str, env: Env<'_>) -> Result<Config, Vec<Problem>> {
    let root = tree(text)?;
    let mut cx = Cx {
        env,
        problems: Vec::new(),
        warnings: Vec::new(),
        expanded: Vec::new(),
    };
    let mut top = match &root.value {
        YamlValue::Map(_) | YamlValue::Null => cx.fields(&root, ""),
        other => {
            return Err(vec![Problem {
                path: String::new(),
                pos: Some(root.pos),
                message: format!("the top level must be a mapping, found {}", other.kind()),
            }]);
        }
    }
    .unwrap_or_default();

    // The order matters: warnings are kept in the order found, and the
    // backends need the environment's defaults and the top-level TLS.
    let server = server::server(&mut cx, &mut top);
    let env_defaults = lifecycle::lifecycle(&mut cx);
    let tls = tls::global(&mut cx, &mut top);
    let backends = backends::backends(&mut cx, &mut top, &env_defaults, &tls);
    let conflict = catalog::conflict(&mut cx, &mut top, &backends);
    let incoming_auth = access::incoming_auth(&mut cx, &mut top, &tls);
    let security = access::security(&mut cx, &mut top);
    let authorization = authorization::authorization(&mut cx, &mut top, &backends, &incoming_auth);
    let sse = sse_resilience::sse_resilience(&mut cx, &mut top);
    let rate_limits = access::rate_limits(&mut cx, &mut top);
    let audit = audit::audit(&mut cx, &mut top);
    let (names, lock_file, pin) = catalog::catalog_names(&mut cx, &mut top);
    let optimizer = optimizer::optimizer(&mut cx, &mut top);
    let telemetry = telemetry::telemetry(&mut cx, &mut top);
    // The original's schema version: nothing to configure, so accepted
    // silently, whatever its value.
    let _ = top.get("version");
    top.finish(&mut cx, TOP_EXTRAS);

    if !cx.problems.is_empty() {
        cx.problems
            .sort_by_key(|p| p.pos.map(|p| (p.line, p.column)));
        return Err(cx.problems);
    }
    Ok(Config {
        source: None,
        server,
        backends: backends.into_iter().map(|(b, _)| b).collect(),
        conflict,
        incoming_auth,
        authorization,
        security,
        sse,
        rate_limits,
        audit,
        names,
        lock_file,
        pin,
        optimizer,
        telemetry,
        lifecycle: env_defaults.lifecycle,
        warnings: cx.warnings,
    })
}

/// The text as a node tree, or the one syntax error, or every repeated key.
fn tree(text: &str) -> Result<Node, Vec<Problem>> {
    let root = yaml::parse(text).map_err(|e| {
        vec![Problem {
            path: String::new(),
            pos: e.pos,
            message: e.to_string(),
        }]
    })?;
    // A repeated key would be read once and reported as unknown the second
    // time; say what it is, once per repetition, and nothing else.
    let repeated = yaml::duplicates(&root);
    if !repeated.is_empty() {
        return Err(repeated
            .into_iter()
            .map(|d| Problem {
                path: d.path,
                pos: Some(d.again),
                message: format!("duplicate key \"{}\" (first at {})", d.key, d.first),
            })
            .collect());
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Transport;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn empty_document_is_all_defaults() {
        let c = from_text("", &no_env).unwrap();
        assert_eq!(c.server.port, 9000);
        assert_eq!(c.server.host, "127.0.0.1");
        assert_eq!(c.server.transport, Transport::Sse);
        assert!(c.backends.is_empty());
        assert_eq!(c.sse.keepalive_interval, Some(Duration::from_secs(15)));
        assert_eq!(c.security.max_body_bytes, 4 * 1024 * 1024);
        assert_eq!(c.lifecycle.startup_concurrency, 4);
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let env = |n: &str| (n == "TOKEN").then(|| "hunter2".to_owned());
        let c = from_text(
            "backends:\n  a:\n    type: sse\n    url: http://h/sse\n    headers: {X-Key: '${TOKEN}'}\n",
            &env,
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
