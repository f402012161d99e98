//! Traces as a collector and a traced client see them. A receiver in
//! Python (tests/py/otlp_receiver.py) parses every export strictly as an
//! OTLP `ExportTraceServiceRequest` (opentelemetry-proto, pinned; ids in
//! hex as the OTLP JSON mapping says); a client traced by the Python
//! OpenTelemetry SDK (tests/py/otel_client.py) sends its context as the
//! `traceparent` header or in `params._meta`. Its span must be the parent
//! of our server span, which is the parent of our client span, whose id
//! reaches the backend: in `_meta.traceparent` for stdio, SSE and
//! Streamable HTTP backends, and as the HTTP header for the two HTTP ones.
//! Spans name the tool and carry the MCP semantic-convention attributes,
//! never the arguments or the session id. With the collector down,
//! refusing or slow, every call is still answered and the spans are
//! counted as dropped in `/metrics`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::fake_http::FakeHttp;
use crate::support::fake_sse::{Endpoint, FakeSse};
use crate::support::{
    Gateway, Reaped, SseClient, TempDir, fixture_backend, free_port, python, request,
    run_with_deadline, text, wait_until,
};

/// How long spans may take to reach the receiver (the exporter sends a
/// tenth of a second after a batch's first span).
const SPANS_WAIT: Duration = Duration::from_secs(15);

/// Marks the arguments, which must never appear in a span.
const MARKER: &str = "argument-marker-9f3";

/// The receiver, its port and its span lines.
struct Collector {
    _child: Reaped,
    port: u16,
    lines: Receiver<String>,
    /// Spans read so far.
    spans: Vec<Value>,
}

impl Collector {
    fn start(args: &[&str]) -> Collector {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/otlp_receiver.py");
        let mut child = Command::new(python())
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let child = Reaped(child);
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("the receiver did not start");
        let port = serde_json::from_str::<Value>(&first).unwrap()["port"]
            .as_u64()
            .unwrap() as u16;
        Collector {
            _child: child,
            port,
            lines,
            spans: Vec::new(),
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Reads spans until `done` holds for those read so far; fails on an
    /// export the receiver refused, or when `SPANS_WAIT` passes.
    fn until(&mut self, what: &str, done: impl Fn(&[Value]) -> bool) {
        let deadline = Instant::now() + SPANS_WAIT;
        while !done(&self.spans) {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no spans for {what}; got {:#?}", self.spans));
            assert!(
                !line.contains(MARKER),
                "a span carries the arguments: {line}"
            );
            let v: Value = serde_json::from_str(&line).unwrap();
            assert!(v.get("error").is_none(), "refused export: {line}");
            self.spans.push(v["span"].clone());
        }
    }
}

/// The traced client's call of `tool`: its trace and span ids, and the
/// result.
fn traced_call(gw: &Gateway, tool: &str, mode: &str) -> (String, String, Value) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/otel_client.py");
    let mut command = Command::new(python());
    let args = json!({"note": MARKER}).to_string();
    let url = format!("http://{}/mcp", gw.addr);
    command.args([script, &url, tool, &args, mode]);
    let out = run_with_deadline(command, Duration::from_secs(30));
    let line = out.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("otel_client said: {out}"));
    let id = |k: &str| v[k].as_str().unwrap().to_owned();
    (id("traceId"), id("spanId"), v["result"].clone())
}

fn span_of<'a>(spans: &'a [Value], trace: &str, kind: u64, name: &str) -> Option<&'a Value> {
    spans
        .iter()
        .find(|s| s["traceId"] == trace && s["kind"] == kind && s["name"] == name)
}

/// The span ids of a `traceparent` value: (trace, span).
fn ids_of(traceparent: &str) -> (String, String) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    (parts[1].to_owned(), parts[2].to_owned())
}

#[test]
fn a_callers_trace_runs_through_the_gateway_to_every_kind_of_backend() {
    let mut collector = Collector::start(&[]);
    let sse = FakeSse::start(Endpoint::Relative);
    let http = FakeHttp::start();
    let dir = TempDir::new("telemetry");
    let log = dir.0.join("fixture.jsonl");
    let config = format!(
        "telemetry:\n  enabled: true\n  otlp_endpoint: \"{}\"\n  service_name: gw-under-test\nbackends:\n{}  hostile:\n    type: sse\n    url: {}\n  remote:\n    type: streamable-http\n    url: {}\n",
        collector.endpoint(),
        fixture_backend(
            "local",
            &[
                ("FIXTURE_TOOLS", "echo,fail"),
                ("FIXTURE_LOG", log.to_str().unwrap())
            ],
            ""
        ),
        sse.url(),
        http.url(),
    );
    let gw = Gateway::start(&config);
    let calls = [
        ("echo", "header"),
        ("echo", "meta"),
        ("hostile_echo", "header"),
        ("plain", "meta"),
        ("fail", "meta"),
    ];
    let mut traced = Vec::new();
    for (tool, mode) in calls {
        let (trace, span, result) = traced_call(&gw, tool, mode);
        if tool != "fail" {
            assert!(result.get("content").is_some(), "{tool}: {result}");
        }
        traced.push((tool, trace, span));
    }
    let names: Vec<(String, String)> = traced
        .iter()
        .map(|(tool, trace, _)| (trace.clone(), format!("tools/call {tool}")))
        .collect();
    collector.until("every call's server and client span", |spans| {
        names.iter().all(|(trace, name)| {
            span_of(spans, trace, 2, name).is_some() && span_of(spans, trace, 3, name).is_some()
        })
    });
    let spans = &collector.spans;
    let mut backend_saw: HashMap<&str, String> = HashMap::new();
    for (tool, trace, caller_span) in &traced {
        let name = format!("tools/call {tool}");
        let server = span_of(spans, trace, 2, &name).unwrap();
        let client = span_of(spans, trace, 3, &name).unwrap();
        // The caller's span → our server span → our client span.
        assert_eq!(server["parentSpanId"], *caller_span, "{tool}: {server}");
        assert_eq!(server["flags"].as_u64().unwrap() & 0x300, 0x300, "{server}");
        assert_eq!(client["parentSpanId"], server["spanId"], "{tool}: {client}");
        let a = &server["attributes"];
        assert_eq!(a["mcp.method.name"], "tools/call");
        assert_eq!(a["gen_ai.tool.name"], *tool);
        assert_eq!(a["gen_ai.operation.name"], "execute_tool");
        assert_eq!(a["jsonrpc.request.id"], "2", "{server}");
        assert_eq!(a["network.transport"], "tcp");
        assert_eq!(a["client.address"], "127.0.0.1");
        assert!(a["client.port"].as_u64().is_some(), "{server}");
        assert_eq!(a["mcp.protocol.version"], "2025-06-18");
        assert_eq!(server["resource"]["service.name"], "gw-under-test");
        assert!(
            !server.to_string().contains("session"),
            "a session id in {server}"
        );
        let backend = client["attributes"]["argus.backend.name"].as_str().unwrap();
        backend_saw.insert(tool, backend.to_owned());
        let expected = format!("00-{trace}-{}-03", client["spanId"].as_str().unwrap());
        match *tool {
            "echo" | "fail" => {
                let logged = std::fs::read_to_string(&log).unwrap();
                assert!(
                    logged.contains(&format!("\"traceparent\":\"{expected}\"")),
                    "the fixture did not get {expected}: {logged}"
                );
            }
            "hostile_echo" => {
                let seen = sse.state.traced.lock().unwrap().clone();
                let want = (Some(expected.clone()), Some(expected.clone()));
                assert!(seen.contains(&want), "{expected} not in {seen:?}");
            }
            _ => {
                let seen = http.state.traced.lock().unwrap().clone();
                let want = (Some(expected.clone()), Some(expected.clone()));
                assert!(seen.contains(&want), "{expected} not in {seen:?}");
            }
        }
        // Both ids in the traceparent the backend got are ours.
        assert_eq!(ids_of(&expected).0, *trace);
    }
    assert_eq!(backend_saw["plain"], "remote");
    assert_eq!(backend_saw["hostile_echo"], "hostile");
    // A JSON-RPC error is the status of both spans, with its code.
    let (_, fail_trace, _) = traced.iter().find(|(t, _, _)| *t == "fail").unwrap();
    for kind in [2, 3] {
        let span = span_of(spans, fail_trace, kind, "tools/call fail").unwrap();
        assert_eq!(span["status"]["code"], 2, "{span}");
        let code = span["attributes"]["error.type"].as_str().unwrap();
        assert!(code.starts_with('-'), "{span}");
        assert_eq!(span["attributes"]["rpc.response.status_code"], code);
    }
    // An untraced request (each client's `initialize`) starts a trace.
    assert!(
        spans
            .iter()
            .any(|s| s["name"] == "initialize" && s["parentSpanId"] == "" && s["kind"] == 2),
        "no root span for initialize"
    );
}

#[test]
fn a_caller_that_does_not_sample_gets_no_spans_and_its_context_passes_through() {
    let mut collector = Collector::start(&[]);
    let dir = TempDir::new("telemetry-unsampled");
    let log = dir.0.join("fixture.jsonl");
    let config = format!(
        "telemetry: {{enabled: true, otlp_endpoint: \"{}\"}}\nbackends:\n{}",
        collector.endpoint(),
        fixture_backend(
            "local",
            &[
                ("FIXTURE_TOOLS", "echo"),
                ("FIXTURE_LOG", log.to_str().unwrap())
            ],
            ""
        ),
    );
    let gw = Gateway::start(&config);
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let unsampled = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00";
    let sampled = "00-1af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01";
    for (id, traceparent) in [(1, unsampled), (2, sampled)] {
        let params = json!({"name": "echo", "arguments": {},
            "_meta": {"traceparent": traceparent, "tracestate": "vendor=x"}});
        let reply = c.call(gw.addr, json!(id), "tools/call", params);
        assert!(text(&reply).contains("echo"), "{reply}");
    }
    collector.until("the sampled call", |spans| {
        span_of(
            spans,
            "1af7651916cd43dd8448eb211c80319c",
            3,
            "tools/call echo",
        )
        .is_some()
    });
    assert!(
        !collector
            .spans
            .iter()
            .any(|s| s["traceId"] == "0af7651916cd43dd8448eb211c80319c"),
        "spans of an unsampled trace"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    let calls: Vec<Value> = logged
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["method"] == "tools/call")
        .collect();
    // Unsampled: the caller's context as it came; sampled: ours, its
    // tracestate kept.
    assert_eq!(calls[0]["params"]["_meta"]["traceparent"], unsampled);
    let ours = calls[1]["params"]["_meta"]["traceparent"].as_str().unwrap();
    assert!(ours.starts_with("00-1af7651916cd43dd8448eb211c80319c-"));
    assert_ne!(ours, sampled);
    assert_eq!(calls[1]["params"]["_meta"]["tracestate"], "vendor=x");
}

/// `argus_telemetry_spans_dropped_total` of the gateway's `/metrics`.
fn dropped(gw: &Gateway) -> u64 {
    let metrics = request(gw.addr, "GET", "/metrics", &[], b"").text();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("argus_telemetry_spans_dropped_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no dropped count in {metrics}"))
}

/// A gateway exporting to `endpoint` with the fixture behind it, after
/// `calls` calls of `echo` over SSE, every one answered.
fn after_calls(endpoint: &str, calls: u64) -> Gateway {
    let config = format!(
        "telemetry: {{enabled: true, otlp_endpoint: \"{endpoint}\"}}\nbackends:\n{}",
        fixture_backend("local", &[("FIXTURE_TOOLS", "echo")], ""),
    );
    let gw = Gateway::start(&config);
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    for id in 0..calls {
        let params = json!({"name": "echo", "arguments": {"n": id}});
        let reply = c.call(gw.addr, json!(id + 10), "tools/call", params);
        assert_eq!(text(&reply), format!("local:echo:{{\"n\":{id}}}"));
    }
    gw
}

#[test]
fn a_collector_down_or_refusing_costs_spans_never_calls() {
    let refusing = Collector::start(&["--status", "503"]);
    let down = format!("http://127.0.0.1:{}", free_port());
    for endpoint in [down, refusing.endpoint()] {
        const CALLS: u64 = 40;
        let gw = after_calls(&endpoint, CALLS);
        // Each call made a server and a client span; initialize one more.
        assert!(
            wait_until(SPANS_WAIT, || dropped(&gw) > 2 * CALLS),
            "{endpoint}: {} dropped",
            dropped(&gw)
        );
        assert!(gw.logged("telemetry:"), "{endpoint}: nothing logged");
    }
}

#[test]
fn a_slow_collector_costs_spans_never_calls() {
    // Each export takes the collector 5 s: the one exporter thread waits
    // on it while the calls' spans fill the queue (4,096) and overflow;
    // two spans a call, more than the queue holds while one export waits.
    let slow = Collector::start(&["--delay", "5"]);
    let gw = after_calls(&slow.endpoint(), 2_600);
    assert!(
        wait_until(SPANS_WAIT, || dropped(&gw) > 0),
        "nothing dropped behind a slow collector"
    );
}

#[test]
fn check_reads_the_sections_and_warns_about_a_grpc_endpoint() {
    let dir = TempDir::new("telemetry-check");
    let config = dir.write(
        "argus.yaml",
        "optimizer: {enabled: true, keep_tools: [echo]}\ntelemetry: {enabled: true, otlp_endpoint: \"http://localhost:4317\"}\nbackends: {}\n",
    );
    let out = Command::new(crate::support::binary())
        .args(["check", "-c", config.to_str().unwrap()])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("ignoring"), "{said}");
    assert!(said.contains("4318"), "{said}");
}
