//! `argus-mcp audit show`: records as a table.

use serde_json::{Map, Value};

use super::parse_time;

/// The records of an audit file as a table, oldest first: those at or
/// after `since` (an RFC 3339 time or a date) and of `backend`, if given.
pub fn show(text: &str, since: Option<u64>, backend: Option<&str>) -> String {
    let mut out = format!(
        "{:<24}  {:<12}  {:<16}  {:<20}  {:<24}  {:<14}  {:<12}  {:>10}\n",
        "time", "kind", "session", "method", "name", "backend", "outcome", "ms"
    );
    let cell = |r: &Map<String, Value>, k: &str| match r.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    };
    for line in text.lines() {
        let Ok(Value::Object(r)) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if let Some(since) = since
            && r.get("time")
                .and_then(Value::as_str)
                .and_then(parse_time)
                .is_none_or(|t| t < since)
        {
            continue;
        }
        if let Some(b) = backend
            && r.get("backend").and_then(Value::as_str) != Some(b)
        {
            continue;
        }
        let name = match r.get("kind").and_then(Value::as_str) {
            Some("catalog") => format!("{} entries", cell(&r, "entries")),
            Some("auth_failure") => cell(&r, "path"),
            _ => cell(&r, "name"),
        };
        out.push_str(&format!(
            "{:<24}  {:<12}  {:<16}  {:<20}  {:<24}  {:<14}  {:<12}  {:>10}\n",
            cell(&r, "time"),
            cell(&r, "kind"),
            cell(&r, "session"),
            cell(&r, "method"),
            name,
            cell(&r, "backend"),
            cell(&r, "outcome"),
            cell(&r, "duration_ms"),
        ));
    }
    out
}
