//! Counters for `GET /metrics`, and their rendering in the Prometheus text
//! format (version 0.0.4).
//!
//! Counting is an atomic add, or one short lock for labelled counters. The
//! labels are bounded: methods outside [`METHODS`] count as `other`,
//! backends are the configured ones, outcomes a fixed set. Gauges that the
//! gateway knows better at scrape time (open sessions, backend states) come
//! in a [`Snapshot`] when rendering, so they can never drift.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::mcp::method;
use crate::sync::lock;

/// Methods that get their own label value; the rest count as `other`.
pub const METHODS: &[&str] = &[
    method::INITIALIZE,
    method::PING,
    method::TOOLS_LIST,
    method::TOOLS_CALL,
    method::RESOURCES_LIST,
    method::RESOURCES_READ,
    method::RESOURCE_TEMPLATES_LIST,
    method::RESOURCES_SUBSCRIBE,
    method::RESOURCES_UNSUBSCRIBE,
    method::PROMPTS_LIST,
    method::PROMPTS_GET,
    method::COMPLETION_COMPLETE,
    method::LOGGING_SET_LEVEL,
];

/// Upper bounds (seconds) of the latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// How a request ended, as a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CallOutcome {
    /// A result.
    Ok,
    /// A JSON-RPC error.
    Error,
    /// A `tools/call` result with `isError: true`.
    IsError,
    /// No answer in time.
    Timeout,
    /// The backend did not take it (overloaded, too many pending, a send error).
    Undelivered,
    /// The backend went away before answering.
    Disconnected,
}

impl CallOutcome {
    fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Error => "error",
            CallOutcome::IsError => "is_error",
            CallOutcome::Timeout => "timeout",
            CallOutcome::Undelivered => "undelivered",
            CallOutcome::Disconnected => "disconnected",
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// (transport, method, backend, outcome).
type RequestKey = (&'static str, &'static str, String, CallOutcome);

/// The gateway's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<RequestKey, u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    /// Sessions closed because their client stopped reading.
    pub slow_clients_dropped: AtomicU64,
    /// Requests refused by `rate_limits`.
    pub rate_limited: AtomicU64,
    /// Requests refused for a missing or wrong bearer token.
    pub auth_failures: AtomicU64,
    /// Config reloads applied.
    pub reloads: AtomicU64,
    /// Config reloads refused (the file had errors).
    pub reloads_refused: AtomicU64,
    /// Spans the collector took.
    telemetry_spans_exported: AtomicU64,
    /// Spans dropped: the exporter's queue was full, or the collector
    /// refused or did not take their batch.
    telemetry_spans_dropped: AtomicU64,
}

/// What is known only at scrape time.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Open sessions per front transport (`sse`, `streamable-http`, `stdio`).
    pub sessions: Vec<(&'static str, usize)>,
    /// Per backend: name, state word, restarts.
    pub backends: Vec<(String, &'static str, u64)>,
    /// The backend states a backend can be in (one gauge series each).
    pub states: &'static [&'static str],
    /// HTTP bytes received and sent.
    pub bytes: (u64, u64),
    /// Seconds since start.
    pub uptime: f64,
}

/// Messages from backends that could not be read, by backend and fault.
/// Kept for the process, not in [`Metrics`]: they are counted by a
/// backend's reader thread, which has no way to the gateway's `Metrics`;
/// a process serves one gateway, whose every `Metrics` renders them.
static UNREADABLE: Mutex<BTreeMap<(String, &'static str), u64>> = Mutex::new(BTreeMap::new());

/// Counts one message from `backend` that could not be read (`fault`:
/// `invalid_utf8`, `too_long`, `too_deep`, `not_json`), whether or not it
/// could be matched to the call it answers.
pub fn count_unreadable(backend: &str, fault: &'static str) {
    *lock(&UNREADABLE)
        .entry((backend.to_owned(), fault))
        .or_insert(0) += 1;
}

/// `method` as a label value.
fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

/// Escapes a label value (`\`, `"` and newlines).
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A float as Prometheus writes it.
fn number(v: f64) -> String {
    if v.is_infinite() {
        "+Inf".into()
    } else {
        format!("{v}")
    }
}

/// Declares a metric family (`# HELP`, `# TYPE`). Writing to a `String`
/// cannot fail, hence the ignored results here and below.
fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A family and its samples: (label set, value) each.
fn family(out: &mut String, name: &str, kind: &str, help: &str, rows: &[(String, String)]) {
    header(out, name, kind, help);
    for (labels, value) in rows {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

impl Metrics {
    /// Counts spans the collector took.
    pub fn count_spans_exported(&self, n: u64) {
        self.telemetry_spans_exported
            .fetch_add(n, Ordering::Relaxed);
    }

    /// Counts spans dropped on their way to the collector.
    pub fn count_spans_dropped(&self, n: u64) {
        self.telemetry_spans_dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one client request; `backend` is `None` for what the
    /// gateway answers itself, and `duration` feeds the backend's histogram.
    pub fn request(
        &self,
        transport: &'static str,
        method: &str,
        backend: Option<&str>,
        outcome: CallOutcome,
        duration: Option<Duration>,
    ) {
        let key = (
            transport,
            method_label(method),
            backend.unwrap_or("").to_owned(),
            outcome,
        );
        *lock(&self.requests).entry(key).or_insert(0) += 1;
        if let (Some(backend), Some(d)) = (backend, duration) {
            let seconds = d.as_secs_f64();
            let mut latency = lock(&self.latency);
            let h = latency.entry(backend.to_owned()).or_default();
            for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += seconds;
        }
    }

    /// Adds one to a plain counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition of every metric.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut out = String::with_capacity(4096);
        self.render_requests(&mut out);
        self.render_latency(&mut out);
        render_sessions(&mut out, snapshot);
        render_backends(&mut out, snapshot);
        render_unreadable(&mut out);
        self.render_totals(&mut out, snapshot);
        out
    }

    /// `argus_requests_total`: client requests by transport, method,
    /// backend and outcome.
    fn render_requests(&self, out: &mut String) {
        let n = "argus_requests_total";
        header(
            out,
            n,
            "counter",
            "Client requests by front transport, method, backend (empty: answered by the gateway) and outcome.",
        );
        for ((transport, method, backend, outcome), count) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "{n}{{transport=\"{transport}\",method=\"{method}\",backend=\"{}\",outcome=\"{}\"}} {count}",
                escape(backend),
                outcome.as_str()
            );
        }
    }

    /// `argus_backend_request_duration_seconds`: one histogram per backend.
    fn render_latency(&self, out: &mut String) {
        let n = "argus_backend_request_duration_seconds";
        header(
            out,
            n,
            "histogram",
            "Time from forwarding a request to a backend to its answer.",
        );
        for (backend, h) in lock(&self.latency).iter() {
            let b = escape(backend);
            for (bound, count) in LATENCY_BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "{n}_bucket{{backend=\"{b}\",le=\"{}\"}} {count}",
                    number(*bound)
                );
            }
            let _ = writeln!(out, "{n}_bucket{{backend=\"{b}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "{n}_sum{{backend=\"{b}\"}} {}", number(h.sum));
            let _ = writeln!(out, "{n}_count{{backend=\"{b}\"}} {}", h.count);
        }
    }

    /// The plain counters (bytes, dropped clients, refusals, reloads) and
    /// the uptime gauge.
    fn render_totals(&self, out: &mut String, snapshot: &Snapshot) {
        let plain = |v: &AtomicU64| vec![(String::new(), v.load(Ordering::Relaxed).to_string())];
        counter(
            out,
            "argus_http_received_bytes_total",
            "Bytes read from client connections.",
            &[(String::new(), snapshot.bytes.0.to_string())],
        );
        counter(
            out,
            "argus_http_sent_bytes_total",
            "Bytes written to client connections.",
            &[(String::new(), snapshot.bytes.1.to_string())],
        );
        counter(
            out,
            "argus_slow_clients_dropped_total",
            "Sessions closed because their client stopped reading.",
            &plain(&self.slow_clients_dropped),
        );
        counter(
            out,
            "argus_telemetry_spans_exported_total",
            "Spans the OTLP collector took.",
            &plain(&self.telemetry_spans_exported),
        );
        counter(
            out,
            "argus_telemetry_spans_dropped_total",
            "Spans dropped because the exporter's queue was full or the collector did not take them.",
            &plain(&self.telemetry_spans_dropped),
        );
        counter(
            out,
            "argus_rate_limited_total",
            "Requests refused by rate_limits.",
            &plain(&self.rate_limited),
        );
        counter(
            out,
            "argus_auth_failures_total",
            "Requests refused for a missing or wrong bearer token.",
            &plain(&self.auth_failures),
        );
        counter(
            out,
            "argus_config_reloads_total",
            "Config reloads applied.",
            &plain(&self.reloads),
        );
        counter(
            out,
            "argus_config_reloads_refused_total",
            "Config reloads refused because the file had errors.",
            &plain(&self.reloads_refused),
        );
        gauge(
            out,
            "argus_uptime_seconds",
            "Seconds since the gateway started.",
            &[(String::new(), number(snapshot.uptime))],
        );
    }
}

/// A gauge family and its samples.
fn gauge(out: &mut String, name: &str, help: &str, rows: &[(String, String)]) {
    family(out, name, "gauge", help, rows)
}

/// A counter family and its samples.
fn counter(out: &mut String, name: &str, help: &str, rows: &[(String, String)]) {
    family(out, name, "counter", help, rows)
}

/// `argus_sessions_open`: open sessions per front transport.
fn render_sessions(out: &mut String, snapshot: &Snapshot) {
    let sessions: Vec<(String, String)> = snapshot
        .sessions
        .iter()
        .map(|(t, n)| (format!("{{transport=\"{t}\"}}"), n.to_string()))
        .collect();
    gauge(
        out,
        "argus_sessions_open",
        "Open client sessions per front transport.",
        &sessions,
    );
}

/// Per backend: `argus_backend_up`, `argus_backend_state` (one series per
/// state) and `argus_backend_restarts_total`.
fn render_backends(out: &mut String, snapshot: &Snapshot) {
    let mut states = Vec::new();
    let mut up = Vec::new();
    let mut restarts = Vec::new();
    for (name, state, restarted) in &snapshot.backends {
        let b = escape(name);
        for s in snapshot.states {
            let on = u8::from(s == state);
            states.push((format!("{{backend=\"{b}\",state=\"{s}\"}}"), on.to_string()));
        }
        up.push((
            format!("{{backend=\"{b}\"}}"),
            u8::from(*state == "connected").to_string(),
        ));
        restarts.push((format!("{{backend=\"{b}\"}}"), restarted.to_string()));
    }
    gauge(
        out,
        "argus_backend_up",
        "1 when the backend is connected and in the catalog.",
        &up,
    );
    gauge(
        out,
        "argus_backend_state",
        "The backend's state: 1 for the state it is in.",
        &states,
    );
    counter(
        out,
        "argus_backend_restarts_total",
        "Times the backend connected again after its first connection.",
        &restarts,
    );
}

/// `argus_backend_unreadable_messages_total`, by backend and fault.
fn render_unreadable(out: &mut String) {
    let unreadable: Vec<(String, String)> = lock(&UNREADABLE)
        .iter()
        .map(|((backend, fault), count)| {
            (
                format!("{{backend=\"{}\",fault=\"{fault}\"}}", escape(backend)),
                count.to_string(),
            )
        })
        .collect();
    counter(
        out,
        "argus_backend_unreadable_messages_total",
        "Messages from a backend that could not be read, by fault; each failed the call it answered when its id could be found.",
        &unreadable,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::default();
        m.request(
            "sse",
            "tools/call",
            Some("a\"b"),
            CallOutcome::Ok,
            Some(Duration::from_millis(30)),
        );
        m.request(
            "sse",
            "tools/call",
            Some("a\"b"),
            CallOutcome::Timeout,
            Some(Duration::from_secs(90)),
        );
        m.request("streamable-http", "weird/x", None, CallOutcome::Error, None);
        Metrics::inc(&m.rate_limited);
        count_unreadable("u\"v", "too_deep");
        let text = m.render(&Snapshot {
            sessions: vec![("sse", 2)],
            backends: vec![("a\"b".into(), "connected", 1)],
            states: &["connected", "retrying"],
            bytes: (10, 20),
            uptime: 1.5,
        });
        assert!(text.contains(
            "argus_requests_total{transport=\"sse\",method=\"tools/call\",backend=\"a\\\"b\",outcome=\"timeout\"} 1"
        ));
        assert!(text.contains("method=\"other\",backend=\"\",outcome=\"error\"} 1"));
        assert!(text.contains(
            "argus_backend_request_duration_seconds_bucket{backend=\"a\\\"b\",le=\"0.05\"} 1"
        ));
        assert!(text.contains(
            "argus_backend_request_duration_seconds_bucket{backend=\"a\\\"b\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains("argus_backend_state{backend=\"a\\\"b\",state=\"retrying\"} 0"));
        assert!(text.contains("argus_rate_limited_total 1\n"));
        assert!(text.contains(
            "argus_backend_unreadable_messages_total{backend=\"u\\\"v\",fault=\"too_deep\"} 1\n"
        ));
        assert!(text.contains("argus_sessions_open{transport=\"sse\"} 2"));
        // Every family is declared once.
        let types = text.lines().filter(|l| l.starts_with("# TYPE")).count();
        let names: std::collections::HashSet<&str> = text
            .lines()
            .filter(|l| l.starts_with("# TYPE"))
            .map(|l| l.split(' ').nth(2).unwrap())
            .collect();
        assert_eq!(types, names.len());
    }
}
