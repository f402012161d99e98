//! Bad answers from backends fail their call at once. A stdio, a legacy SSE
//! and a Streamable HTTP backend each answer a call with invalid UTF-8,
//! JSON nested deeper than the parser allows, and a message over the 16 MiB
//! limit; the call is answered with an error naming the backend and the
//! fault long before the 60 s `timeouts.call` (the client reads with a
//! timeout of a few seconds). A non-JSON message without an id is counted
//! in `/metrics`, logged, and the call it came before is answered normally.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::bad_answer::bad_answer;
use crate::support::{Gateway, SseClient, fixture_backend, serve_each, text, wait_until};

/// How long the client waits for an answer: far below `timeouts.call`.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// Per backend: the call must not wait for it.
const LONG_CALL_TIMEOUT: &str = "    timeouts: {call: 60, retry_delay: 0.2}\n";

/// The kinds of bad answer, and what the error must say of each.
const FAULTS: [(&str, &str, &str); 3] = [
    ("utf8", "invalid UTF-8", "invalid_utf8"),
    (
        "deep",
        "JSON nested deeper than the parser allows",
        "too_deep",
    ),
    (
        "long",
        "exceeds the 16777216-byte message limit",
        "too_long",
    ),
];

/// The answer a fake gives a readable request, or `None` for a
/// notification or response.
fn answer(msg: &Value) -> Option<Value> {
    let id = msg.get("id")?.clone();
    let method = msg.get("method")?.as_str()?;
    let result = match method {
        "initialize" => json!({
            "protocolVersion": msg["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "bad-lines", "version": "0"}
        }),
        "tools/list" => json!({"tools": [
            {"name": "bad", "inputSchema": {"type": "object"}},
        ]}),
        "tools/call" => json!({"content": [{"type": "text", "text": "after noise"}]}),
        "ping" => json!({}),
        _ => {
            return Some(
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no"}}),
            );
        }
    };
    Some(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

/// The `kind` argument of a `tools/call` of `bad`.
fn kind_of(msg: &Value) -> Option<&str> {
    (msg["method"] == "tools/call" && msg["params"]["name"] == "bad")
        .then(|| msg["params"]["arguments"]["kind"].as_str().unwrap_or(""))
}

/// One HTTP request read from `r`: method, path, body. `None` at the end.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut len = 0;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some((method, path, body))
}

fn respond(w: &mut TcpStream, status: &str, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = w.write_all(head.as_bytes());
    let _ = w.write_all(body);
    let _ = w.flush();
}

/// One SSE event carrying `data` (one line) as a `message`.
fn event(data: &[u8]) -> Vec<u8> {
    let mut out = b"event: message\ndata: ".to_vec();
    out.extend(data);
    out.extend(b"\n\n");
    out
}

/// A legacy HTTP+SSE server: `GET /sse` is the stream (the latest one gets
/// the answers), `POST /messages` is answered 202 and its answer goes to
/// the stream; the `bad` tool's answers are unreadable events.
fn fake_sse() -> SocketAddr {
    let stream: Arc<Mutex<Option<Sender<Vec<u8>>>>> = Arc::default();
    serve_each(move |conn, _| {
        let mut w = conn.try_clone().unwrap();
        let mut r = BufReader::new(conn);
        while let Some((method, _, body)) = read_request(&mut r) {
            if method == "GET" {
                let (tx, rx) = channel();
                *stream.lock().unwrap() = Some(tx);
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\nevent: endpoint\ndata: /messages\n\n";
                if w.write_all(head.as_bytes()).is_err() {
                    return;
                }
                while let Ok(bytes) = rx.recv() {
                    if w.write_all(&bytes).and_then(|()| w.flush()).is_err() {
                        return;
                    }
                }
                return;
            }
            respond(&mut w, "202 Accepted", "text/plain", b"");
            let msg: Value = serde_json::from_slice(&body).unwrap();
            let mut events = Vec::new();
            match kind_of(&msg) {
                Some("noise") => events.extend(event(b"this is not JSON")),
                Some(kind) => {
                    events.extend(event(&bad_answer(&msg["id"], kind)));
                    // No answer comes after a bad one.
                    let sink = stream.lock().unwrap().clone();
                    if let Some(tx) = sink {
                        let _ = tx.send(events);
                    }
                    continue;
                }
                None => {}
            }
            if let Some(answer) = answer(&msg) {
                events.extend(event(answer.to_string().as_bytes()));
            }
            let sink = stream.lock().unwrap().clone();
            if let (Some(tx), false) = (sink, events.is_empty()) {
                let _ = tx.send(events);
            }
        }
    })
}

/// A Streamable HTTP server (2025 era, no session, no GET stream): the
/// `bad` tool answers in an SSE stream, or as a JSON body when
/// `arguments.json` is true.
fn fake_streamable() -> SocketAddr {
    serve_each(|conn, _| {
        let mut w = conn.try_clone().unwrap();
        let mut r = BufReader::new(conn);
        while let Some((method, _, body)) = read_request(&mut r) {
            if method != "POST" {
                respond(&mut w, "405 Method Not Allowed", "text/plain", b"");
                continue;
            }
            let msg: Value = serde_json::from_slice(&body).unwrap();
            let json_body = msg["params"]["arguments"]["json"] == true;
            match (kind_of(&msg), answer(&msg)) {
                (Some("noise"), Some(answer)) => {
                    let mut events = event(b"this is not JSON");
                    events.extend(event(answer.to_string().as_bytes()));
                    respond(&mut w, "200 OK", "text/event-stream", &events);
                }
                (Some(kind), _) if json_body => {
                    let bad = bad_answer(&msg["id"], kind);
                    respond(&mut w, "200 OK", "application/json", &bad);
                }
                (Some(kind), _) => {
                    let events = event(&bad_answer(&msg["id"], kind));
                    respond(&mut w, "200 OK", "text/event-stream", &events);
                }
                (None, Some(answer)) => respond(
                    &mut w,
                    "200 OK",
                    "application/json",
                    answer.to_string().as_bytes(),
                ),
                (None, None) => respond(&mut w, "202 Accepted", "text/plain", b""),
            }
        }
    })
}

/// A client session on `gw` once backend tool `bad` is listed, reading
/// with a timeout of [`ANSWER_WITHIN`].
fn client(gw: &Gateway) -> SseClient {
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    assert!(
        wait_until(Duration::from_secs(20), || c
            .names(gw.addr, "tools/list", "tools")
            .contains(&"bad".to_owned())),
        "{}",
        gw.stderr()
    );
    c.reader
        .get_ref()
        .set_read_timeout(Some(ANSWER_WITHIN))
        .unwrap();
    c
}

/// Calls `bad` with `arguments`; the reply must come within [`ANSWER_WITHIN`].
fn call_bad(c: &mut SseClient, gw: &Gateway, id: &str, arguments: Value) -> Value {
    c.call(
        gw.addr,
        json!(id),
        "tools/call",
        json!({"name": "bad", "arguments": arguments}),
    )
}

/// What a failed call says: the JSON-RPC error's message, or the text of a
/// tool error (`isError`).
fn failure_text(reply: &Value) -> String {
    match reply["error"]["message"].as_str() {
        Some(message) => message.to_owned(),
        None => {
            assert_eq!(reply["result"]["isError"], true, "not a failure: {reply}");
            text(reply)
        }
    }
}

/// Each kind of bad answer fails its call at once, naming `backend` and
/// the fault; `json` asks the Streamable HTTP fake for a JSON body.
fn each_fault_fails_its_call(c: &mut SseClient, gw: &Gateway, backend: &str, json: bool) {
    for (kind, fault, _) in FAULTS {
        let reply = call_bad(c, gw, kind, json!({"kind": kind, "json": json}));
        let said = failure_text(&reply);
        assert!(
            said.contains(&format!("backend \"{backend}\" sent an unreadable answer"))
                && said.contains(fault),
            "{kind} (json body: {json}): {reply}"
        );
    }
}

/// Noise without an id is skipped: the call it preceded is answered, and
/// the noise is logged (`logged`) and counted.
fn noise_is_logged_and_counted(c: &mut SseClient, gw: &Gateway, backend: &str, logged: &str) {
    let reply = call_bad(c, gw, "noise", json!({"kind": "noise"}));
    assert_eq!(text(&reply), "after noise", "{reply}");
    let line = format!("[{backend}] {logged}");
    assert!(
        wait_until(Duration::from_secs(5), || gw.logged(&line)),
        "{line}: {}",
        gw.stderr()
    );
    assert_counted(gw, backend, "not_json");
}

/// `/metrics` has counted at least one unreadable message of `fault` from `backend`.
fn assert_counted(gw: &Gateway, backend: &str, fault: &str) {
    let metrics = gw.manage("GET", "/metrics", None, "").text();
    let series = format!(
        "argus_backend_unreadable_messages_total{{backend=\"{backend}\",fault=\"{fault}\"}} "
    );
    let count = metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(count.is_some_and(|n| n >= 1), "{series}: {metrics}");
}

#[test]
fn a_stdio_backend_s_bad_lines_fail_their_calls_at_once() {
    let backend = fixture_backend("bad_stdio", &[("FIXTURE_TOOLS", "bad")], LONG_CALL_TIMEOUT);
    let gw = Gateway::start(&format!("backends:\n{backend}"));
    let mut c = client(&gw);
    each_fault_fails_its_call(&mut c, &gw, "bad_stdio", false);
    noise_is_logged_and_counted(&mut c, &gw, "bad_stdio", "non-JSON line on stdout skipped");
    for (_, _, label) in FAULTS {
        assert_counted(&gw, "bad_stdio", label);
    }
}

#[test]
fn an_sse_backend_s_bad_events_fail_their_calls_at_once() {
    let addr = fake_sse();
    let gw = Gateway::start(&format!(
        "backends:\n  bad_sse:\n    type: sse\n    url: http://{addr}/sse\n{LONG_CALL_TIMEOUT}"
    ));
    let mut c = client(&gw);
    noise_is_logged_and_counted(&mut c, &gw, "bad_sse", "unreadable SSE message skipped");
    // An event over the limit drops the stream after failing its call: last.
    each_fault_fails_its_call(&mut c, &gw, "bad_sse", false);
    for (_, _, label) in FAULTS {
        assert_counted(&gw, "bad_sse", label);
    }
}

#[test]
fn a_streamable_http_backend_s_bad_answers_fail_their_calls_at_once() {
    let addr = fake_streamable();
    let gw = Gateway::start(&format!(
        "backends:\n  bad_http:\n    type: streamable-http\n    url: http://{addr}/mcp\n{LONG_CALL_TIMEOUT}"
    ));
    let mut c = client(&gw);
    // As SSE events in the answer stream, then as JSON bodies.
    each_fault_fails_its_call(&mut c, &gw, "bad_http", false);
    each_fault_fails_its_call(&mut c, &gw, "bad_http", true);
    noise_is_logged_and_counted(&mut c, &gw, "bad_http", "unreadable message skipped");
    for (_, _, label) in FAULTS {
        assert_counted(&gw, "bad_http", label);
    }
}
