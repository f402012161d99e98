//! `argus-mcp audit show`: records as a table, filtered.

use serde_json::{Map, Value};

/// Which records `show` prints.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection<'a> {
    /// At or after this time (seconds since the epoch).
    pub since: Option<u64>,
    /// Of this backend.
    pub backend: Option<&'a str>,
    /// Of this caller.
    pub identity: Option<&'a str>,
    /// Catalog drift only (and lock changes).
    pub drift: bool,
}

impl Selection<'_> {
    fn keeps(&self, r: &Map<String, Value>) -> bool {
        let text = |k: &str| r.get(k).and_then(Value::as_str);
        let since = self.since.is_none_or(|since| {
            text("time")
                .and_then(super::parse_time)
                .is_some_and(|t| t >= since)
        });
        let kind = text("kind").unwrap_or_default();
        since
            && self.backend.is_none_or(|b| text("backend") == Some(b))
            && self.identity.is_none_or(|i| text("identity") == Some(i))
            && (!self.drift || matches!(kind, "drift" | "lock"))
    }
}

/// The records of an audit file as a table, oldest first, those `filter`
/// keeps.
pub fn show(text: &str, filter: Selection<'_>) -> String {
    let row = |cells: [&str; 9]| {
        format!(
            "{:<24}  {:<12}  {:<16}  {:<16}  {:<20}  {:<24}  {:<14}  {:<12}  {:>10}\n",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            cells[5],
            cells[6],
            cells[7],
            cells[8]
        )
    };
    let mut out = row([
        "time", "kind", "session", "identity", "method", "name", "backend", "outcome", "ms",
    ]);
    let cell = |r: &Map<String, Value>, k: &str| match r.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    };
    for line in text.lines() {
        let Ok(Value::Object(r)) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if !filter.keeps(&r) {
            continue;
        }
        let name = match r.get("kind").and_then(Value::as_str) {
            Some("catalog") => format!("{} entries", cell(&r, "entries")),
            Some("auth_failure") => cell(&r, "path"),
            Some("denied") | Some("drift") => cell(&r, "item"),
            Some("checkpoint") => format!("covers seq {}", cell(&r, "covers")),
            _ => cell(&r, "name"),
        };
        out.push_str(&row([
            &cell(&r, "time"),
            &cell(&r, "kind"),
            &cell(&r, "session"),
            &cell(&r, "identity"),
            &cell(&r, "method"),
            &name,
            &cell(&r, "backend"),
            &cell(&r, "outcome"),
            &cell(&r, "duration_ms"),
        ]));
    }
    out
}
