//! The Streamable HTTP front transport, `/mcp` (MCP 2025-06-18, Basic ›
//! Transports › Streamable HTTP): every status and header rule over raw
//! HTTP, the session lifecycle, batches, the GET stream, answers upgraded
//! to SSE, idle expiry.

use std::io::{BufReader, Write};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    Gateway, Resp, connect, fixture_backend, read_chunk, read_response, request, wait_until,
};

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;

fn post(gw: &Gateway, session: Option<&str>, extra: &[(&str, &str)], body: &str) -> Resp {
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    if let Some(s) = session {
        headers.push(("Mcp-Session-Id", s));
    }
    headers.extend_from_slice(extra);
    request(gw.addr, "POST", "/mcp", &headers, body.as_bytes())
}

/// Initializes a session (with `version`) and acknowledges it; returns the id.
fn open(gw: &Gateway, version: &str) -> String {
    let init = INIT.replace("2025-06-18", version);
    let resp = post(gw, None, &[], &init);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.json()["result"]["protocolVersion"], version);
    let id = resp
        .header("mcp-session-id")
        .expect("session header")
        .to_owned();
    assert!(id.len() >= 32 && id.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    let ack = post(
        gw,
        Some(&id),
        &[("MCP-Protocol-Version", version)],
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    assert_eq!((ack.status, ack.body.len()), (202, 0));
    id
}

fn json_of(resp: &Resp) -> Value {
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()
}

#[test]
fn session_lifecycle_and_status_rules() {
    let gw = Gateway::start("");
    let id = open(&gw, "2025-06-18");
    let v = &[("MCP-Protocol-Version", "2025-06-18")];
    let list = json_of(&post(
        &gw,
        Some(&id),
        v,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    ));
    assert_eq!(list, json!({"jsonrpc":"2.0","id":2,"result":{"tools":[]}}));
    // Missing session header 400, unknown 404, bad version 400, bad type 415, bad JSON 400.
    let ping = r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#;
    assert_eq!(post(&gw, None, &[], ping).status, 400);
    let unknown = post(&gw, Some("0123456789abcdef0123456789abcdef"), &[], ping);
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["code"], -32001);
    assert_eq!(
        post(
            &gw,
            Some(&id),
            &[("MCP-Protocol-Version", "1999-01-01")],
            ping
        )
        .status,
        400
    );
    let plain = request(
        gw.addr,
        "POST",
        "/mcp",
        &[("Content-Type", "text/plain"), ("Mcp-Session-Id", &id)],
        ping.as_bytes(),
    );
    assert_eq!(plain.status, 415);
    let bad = post(&gw, Some(&id), &[], "{nope");
    assert_eq!(
        (bad.status, bad.json()["error"]["code"].clone()),
        (400, json!(-32700))
    );
    // A second initialize on a session is refused.
    assert_eq!(post(&gw, Some(&id), &[], INIT).status, 400);
    // Absent version header: the session's version is used; /mcp/ works too.
    let slash = request(
        gw.addr,
        "POST",
        "/mcp/",
        &[
            ("Content-Type", "application/json"),
            ("Mcp-Session-Id", &id),
        ],
        ping.as_bytes(),
    );
    assert_eq!(json_of(&slash)["result"], json!({}));
    assert!(slash.header("location").is_none());
    // Lenient Accept: none, or only one of the two types.
    for accept in ["", "text/event-stream", "application/json"] {
        let mut h = vec![
            ("Content-Type", "application/json"),
            ("Mcp-Session-Id", id.as_str()),
        ];
        if !accept.is_empty() {
            h.push(("Accept", accept));
        }
        assert_eq!(
            json_of(&request(gw.addr, "POST", "/mcp", &h, ping.as_bytes()))["id"],
            3,
            "{accept:?}"
        );
    }
    // DELETE ends it; every later use is 404.
    let del = request(gw.addr, "DELETE", "/mcp", &[("Mcp-Session-Id", &id)], b"");
    assert_eq!(del.status, 200);
    assert_eq!(post(&gw, Some(&id), &[], ping).status, 404);
    assert_eq!(
        request(gw.addr, "GET", "/mcp", &[("Mcp-Session-Id", &id)], b"").status,
        404
    );
    assert_eq!(
        request(gw.addr, "DELETE", "/mcp", &[("Mcp-Session-Id", &id)], b"").status,
        404
    );
    assert_eq!(
        request(gw.addr, "PUT", "/mcp", &[], b"").header("allow"),
        Some("GET, POST, DELETE, OPTIONS")
    );
}

#[test]
fn only_a_valid_initialize_creates_a_session() {
    let gw = Gateway::start("");
    let resp = post(
        &gw,
        None,
        &[],
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#,
    );
    assert_eq!(resp.json()["error"]["code"], -32602);
    assert!(resp.header("mcp-session-id").is_none());
    let not_init = post(
        &gw,
        None,
        &[],
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    );
    assert_eq!(not_init.status, 400);
}

#[test]
fn sessions_are_isolated() {
    let gw = Gateway::start("");
    let a = open(&gw, "2025-11-25");
    let b = open(&gw, "2025-03-26");
    assert_ne!(a, b);
    let body = r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#;
    assert_eq!(json_of(&post(&gw, Some(&a), &[], body))["id"], 7);
    assert_eq!(
        request(gw.addr, "DELETE", "/mcp", &[("Mcp-Session-Id", &a)], b"").status,
        200
    );
    assert_eq!(
        json_of(&post(&gw, Some(&b), &[], body))["id"],
        7,
        "deleting one leaves the other"
    );
}

#[test]
fn batches_only_for_2025_03_26() {
    let gw = Gateway::start("");
    let old = open(&gw, "2025-03-26");
    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9}},{"jsonrpc":"2.0","id":2,"method":"tools/list"}]"#;
    let answers = json_of(&post(&gw, Some(&old), &[], batch));
    let ids: Vec<Value> = answers
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].clone())
        .collect();
    assert_eq!(ids, [json!(1), json!(2)]);
    let notes = r#"[{"jsonrpc":"2.0","method":"notifications/initialized"}]"#;
    assert_eq!(post(&gw, Some(&old), &[], notes).status, 202);
    assert_eq!(post(&gw, Some(&old), &[], "[]").status, 400);
    let new = open(&gw, "2025-06-18");
    assert_eq!(
        post(
            &gw,
            Some(&new),
            &[("MCP-Protocol-Version", "2025-06-18")],
            batch
        )
        .status,
        400
    );
}

/// Opens `GET /mcp` for a session and returns the reader after the head.
fn get_stream(gw: &Gateway, id: &str) -> (Resp, BufReader<std::net::TcpStream>) {
    let mut s = connect(gw.addr);
    write!(s, "GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\nMcp-Session-Id: {id}\r\n\r\n").unwrap();
    let mut reader = BufReader::new(s);
    let head = read_response(&mut reader, true);
    (head, reader)
}

/// The next non-comment SSE data from a chunked stream.
fn next_data(reader: &mut BufReader<std::net::TcpStream>) -> Option<String> {
    let mut pending = String::new();
    loop {
        while let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            let data: Vec<&str> = block
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            if !data.is_empty() {
                return Some(data.join("\n"));
            }
        }
        let chunk = read_chunk(reader)?;
        if chunk.is_empty() {
            return None;
        }
        pending.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[test]
fn get_stream_carries_server_messages_one_at_a_time() {
    let config = format!(
        "sse_resilience: {{keepalive_interval: 0.3}}\nbackends:\n{}",
        fixture_backend("t", &[("FIXTURE_TOOLS", "toggle,progress")], "")
    );
    let gw = Gateway::start(&config);
    let id = open(&gw, "2025-06-18");
    let (head, mut stream) = get_stream(&gw, &id);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    assert_eq!(
        get_stream(&gw, &id).0.status,
        409,
        "one GET stream per session"
    );
    // A list change is server-initiated: it comes on the GET stream.
    let toggled = json_of(&post(
        &gw,
        Some(&id),
        &[],
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"toggle"}}"#,
    ));
    assert_eq!(toggled["id"], 5);
    let note: Value = serde_json::from_str(&next_data(&mut stream).unwrap()).unwrap();
    assert_eq!(note["method"], "notifications/tools/list_changed");
    // Keepalive comments flow on the open stream.
    let mut raw = Vec::new();
    while !String::from_utf8_lossy(&raw).contains(": ping") {
        raw.extend(read_chunk(&mut stream).expect("keepalive"));
    }
    // Closing the stream frees the slot for another GET.
    drop(stream);
    assert!(wait_until(Duration::from_secs(5), || get_stream(&gw, &id)
        .0
        .status
        == 200));
}

#[test]
fn progress_upgrades_the_answer_to_sse() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("p", &[("FIXTURE_TOOLS", "progress")], "")
    );
    let gw = Gateway::start(&config);
    let id = open(&gw, "2025-06-18");
    let call = r#"{"jsonrpc":"2.0","id":"c1","method":"tools/call","params":{"name":"progress","_meta":{"progressToken":7}}}"#;
    let resp = post(&gw, Some(&id), &[], call);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    let text = resp.text();
    let events: Vec<Value> = text
        .split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(events.len(), 3, "{text}");
    assert_eq!(events[0]["params"]["progressToken"], 7);
    assert_eq!(events[1]["params"]["progress"], 2);
    assert_eq!(events[2]["id"], "c1");
    // A JSON-only client gets just the answer.
    let json_only = request(
        gw.addr,
        "POST",
        "/mcp",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
            ("Mcp-Session-Id", &id),
        ],
        call.replace("c1", "c2").as_bytes(),
    );
    assert_eq!(json_of(&json_only)["id"], "c2");
}

#[test]
fn idle_sessions_expire() {
    let gw = Gateway::start("server:\n  session_idle_timeout: 1\n");
    let id = open(&gw, "2025-06-18");
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    assert_eq!(post(&gw, Some(&id), &[], ping).status, 200);
    // Probe with HEAD, which does not count as activity.
    let alive = || request(gw.addr, "HEAD", "/mcp", &[("Mcp-Session-Id", &id)], b"").status == 200;
    assert!(alive());
    assert!(wait_until(Duration::from_secs(5), || !alive()));
    assert_eq!(post(&gw, Some(&id), &[], ping).status, 404);
}

#[test]
fn delete_cancels_requests_in_flight() {
    let dir = crate::support::TempDir::new("delete");
    let log = dir.0.join("received.jsonl");
    let log_path = log.display().to_string();
    let config = format!(
        "backends:\n{}",
        fixture_backend(
            "s",
            &[("FIXTURE_TOOLS", "slow"), ("FIXTURE_LOG", &log_path)],
            ""
        )
    );
    let gw = Gateway::start(&config);
    let id = open(&gw, "2025-06-18");
    let addr = gw.addr;
    let session = id.clone();
    let waiting = std::thread::spawn(move || {
        request(
            addr,
            "POST",
            "/mcp",
            &[("Content-Type", "application/json"), ("Mcp-Session-Id", &session)],
            br#"{"jsonrpc":"2.0","id":"long","method":"tools/call","params":{"name":"slow","arguments":{"ms":60000}}}"#,
        )
    });
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("tools/call")
    }));
    assert_eq!(
        request(gw.addr, "DELETE", "/mcp", &[("Mcp-Session-Id", &id)], b"").status,
        200
    );
    // The waiting POST is answered at once, and the backend was told to stop.
    let answer = waiting.join().unwrap();
    assert_eq!(answer.json()["error"]["message"], "session ended");
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("notifications/cancelled")
    }));
}

#[test]
fn an_id_already_in_flight_is_refused() {
    let dir = crate::support::TempDir::new("dup");
    let log = dir.0.join("received.jsonl");
    let log_path = log.display().to_string();
    let config = format!(
        "backends:\n{}",
        fixture_backend(
            "s",
            &[("FIXTURE_TOOLS", "slow"), ("FIXTURE_LOG", &log_path)],
            ""
        )
    );
    let gw = Gateway::start(&config);
    let id = open(&gw, "2025-06-18");
    let body = r#"{"jsonrpc":"2.0","id":"same","method":"tools/call","params":{"name":"slow","arguments":{"ms":1500}}}"#;
    let (addr, session) = (gw.addr, id.clone());
    let first = std::thread::spawn(move || {
        request(
            addr,
            "POST",
            "/mcp",
            &[
                ("Content-Type", "application/json"),
                ("Mcp-Session-Id", &session),
            ],
            body.as_bytes(),
        )
    });
    // Once the first is at the backend, a second with the same id is refused.
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("tools/call")
    }));
    let second = post(&gw, Some(&id), &[], body);
    assert_eq!(second.status, 400, "{}", second.text());
    assert!(second.text().contains("already in flight"));
    assert_eq!(
        json_of(&first.join().unwrap())["result"]["content"][0]["text"],
        "s:slow done"
    );
}

#[test]
fn a_cancelled_request_ends_its_post_at_once() {
    let dir = crate::support::TempDir::new("cancelpost");
    let log = dir.0.join("received.jsonl");
    let log_path = log.display().to_string();
    let config = format!(
        "backends:\n{}",
        fixture_backend(
            "s",
            &[("FIXTURE_TOOLS", "slow"), ("FIXTURE_LOG", &log_path)],
            ""
        )
    );
    let gw = Gateway::start(&config);
    let id = open(&gw, "2025-06-18");
    let calls = [
        ("json", "application/json"),
        ("sse", "application/json, text/event-stream"),
    ];
    for (n, (tag, accept)) in calls.into_iter().enumerate() {
        let (addr, session) = (gw.addr, id.clone());
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":"{tag}","method":"tools/call","params":{{"name":"slow","arguments":{{"ms":60000}}}}}}"#
        );
        let waiting = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let resp = request(
                addr,
                "POST",
                "/mcp",
                &[
                    ("Content-Type", "application/json"),
                    ("Accept", accept),
                    ("Mcp-Session-Id", &session),
                ],
                body.as_bytes(),
            );
            (resp, started.elapsed())
        });
        // The backend has it (under an id of ours).
        assert!(wait_until(Duration::from_secs(5), || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .matches("tools/call")
                .count()
                > n
        }));
        let cancel = format!(
            r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":"{tag}","reason":"user"}}}}"#
        );
        assert_eq!(post(&gw, Some(&id), &[], &cancel).status, 202);
        let (resp, took) = waiting.join().unwrap();
        assert!(
            took < Duration::from_secs(5),
            "{tag}: the POST waited {took:?}"
        );
        assert_eq!(resp.status, 200);
        if tag == "json" {
            assert_eq!(resp.json()["error"]["code"], -32800, "{}", resp.text());
        }
    }
    // Both were cancelled at the backend.
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("notifications/cancelled")
            .count()
            == 2
    }));
}

/// The next SSE event (id, data) from a chunked stream; comments skipped.
fn next_event(reader: &mut BufReader<std::net::TcpStream>) -> Option<(Option<String>, String)> {
    let mut pending = String::new();
    loop {
        while let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            let id = block
                .lines()
                .find_map(|l| l.strip_prefix("id: "))
                .map(str::to_owned);
            let data: Vec<&str> = block
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            if !data.is_empty() {
                return Some((id, data.join("\n")));
            }
        }
        let chunk = read_chunk(reader)?;
        if chunk.is_empty() {
            return None;
        }
        pending.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// `GET /mcp` resuming after `last`.
fn resume(gw: &Gateway, id: &str, last: &str) -> (Resp, BufReader<std::net::TcpStream>) {
    let mut s = connect(gw.addr);
    write!(s, "GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\nMcp-Session-Id: {id}\r\nLast-Event-ID: {last}\r\n\r\n").unwrap();
    let mut reader = BufReader::new(s);
    let head = read_response(&mut reader, true);
    (head, reader)
}

#[test]
fn a_lost_answer_stream_is_resumed_with_last_event_id() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("a", &[("FIXTURE_TOOLS", "ask,notify")], "")
    );
    let gw = Gateway::start(&config);
    let init = INIT.replace(r#""capabilities":{}"#, r#""capabilities":{"sampling":{}}"#);
    let resp = post(&gw, None, &[], &init);
    let session = resp.header("mcp-session-id").unwrap().to_owned();
    let ack = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert_eq!(post(&gw, Some(&session), &[], ack).status, 202);
    // The call's stream opens with the backend's sampling request; then
    // the connection is lost before the answer.
    let mut s = connect(gw.addr);
    let body = r#"{"jsonrpc":"2.0","id":"call","method":"tools/call","params":{"name":"ask","arguments":{"text":"resume me"}}}"#;
    write!(s, "POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: {session}\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut reader = BufReader::new(s);
    let head = read_response(&mut reader, true);
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    let (event_id, data) = next_event(&mut reader).expect("the sampling request");
    let event_id = event_id.expect("events carry ids");
    let asked: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(asked["method"], "sampling/createMessage");
    drop(reader);
    // The client answers the backend, then resumes where it was.
    let answer = json!({"jsonrpc":"2.0","id":asked["id"],"result":{"role":"assistant","model":"m","content":{"type":"text","text":"resumed fine"}}});
    assert_eq!(
        post(&gw, Some(&session), &[], &answer.to_string()).status,
        202
    );
    let (head, mut reader) = resume(&gw, &session, &event_id);
    assert_eq!(head.status, 200);
    let mut got = None;
    while let Some((_, data)) = next_event(&mut reader) {
        let msg: Value = serde_json::from_str(&data).unwrap();
        if msg["id"] == "call" {
            got = Some(msg);
            break;
        }
    }
    let got = got.expect("the answer on the resumed stream");
    assert!(
        got["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("resumed fine"),
        "{got}"
    );
}

#[test]
fn the_get_stream_replays_what_followed_the_last_event_id() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("a", &[("FIXTURE_TOOLS", "notify")], "")
    );
    let gw = Gateway::start(&config);
    let session = open(&gw, "2025-06-18");
    let level =
        r#"{"jsonrpc":"2.0","id":"lvl","method":"logging/setLevel","params":{"level":"debug"}}"#;
    assert_eq!(post(&gw, Some(&session), &[], level).status, 200);
    let (head, mut reader) = get_stream(&gw, &session);
    assert_eq!(head.status, 200);
    let notify = |n: usize| {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":"n{n}","method":"tools/call","params":{{"name":"notify","arguments":{{"level":"error","uri":"file:///x"}}}}}}"#
        );
        assert_eq!(post(&gw, Some(&session), &[], &body).status, 200);
    };
    notify(1);
    notify(2);
    let (first, _) = next_event(&mut reader).expect("first log");
    let (second, second_data) = next_event(&mut reader).expect("second log");
    drop(reader);
    // As if the second had been lost in flight: resume after the first.
    let first = first.expect("an id");
    let (head, mut reader) = resume(&gw, &session, &first);
    assert_eq!(head.status, 200);
    let (again, again_data) = next_event(&mut reader).expect("the replayed event");
    assert_eq!((again, again_data), (second, second_data));
}
