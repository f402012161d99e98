//! The management API and `/metrics`: the original Argus's paths and
//! JSON shapes, its token rules and 401 bodies, lifecycle events and their
//! SSE stream, reconnect and shutdown, Prometheus text that `promtool`
//! accepts, and the original's own client and TUI against ours.

use std::io::{BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    Gateway, SseClient, TempDir, assert_gone, children, connect, fixture_backend, read_chunk,
    read_response, run_with_deadline, wait_until,
};

const TOKEN: &str = "mgmt-token-0123456789";

/// A gateway over fixture backends "a" (group "left", tools x and y) and
/// "b" (group "right", tool z), with the management token from the
/// environment.
fn gateway(top: &str) -> Gateway {
    let config = format!(
        "{top}backends:\n{}{}",
        fixture_backend(
            "a",
            &[("FIXTURE_TOOLS", "x,y"), ("FIXTURE_RESOURCES", "mem://a/1")],
            "    group: left\n"
        ),
        fixture_backend(
            "b",
            &[("FIXTURE_TOOLS", "z"), ("FIXTURE_PROMPTS", "p")],
            "    group: right\n"
        ),
    );
    let gw = Gateway::start_with(&config, &[], &[("ARGUS_MGMT_TOKEN", TOKEN)]);
    assert!(wait_until(Duration::from_secs(20), || {
        gw.manage("GET", "/manage/v1/health", None, "").json()["status"] == "healthy"
    }));
    gw
}

fn get(gw: &Gateway, path: &str) -> Value {
    let resp = gw.manage("GET", path, Some(TOKEN), "");
    assert_eq!(resp.status, 200, "{path}: {}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    resp.json()
}

#[test]
fn every_endpoint_answers_in_the_originals_shapes() {
    let gw = gateway("");
    // Public: health and ready, with no token at all.
    let health = gw.manage("GET", "/manage/v1/health", None, "").json();
    assert_eq!(
        health["backends"],
        json!({"total": 2, "connected": 2, "healthy": 2})
    );
    let ready = gw.manage("GET", "/manage/v1/ready/", None, "");
    assert_eq!(
        (ready.status, ready.json()),
        (200, json!({"ready": true, "reason": "accepting traffic"}))
    );

    let status = get(&gw, "/manage/v1/status");
    assert_eq!(status["service"]["name"], "argus-mcp");
    assert_eq!(status["service"]["state"], "running");
    assert!(
        status["service"]["started_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let base = format!("http://{}", gw.addr);
    assert_eq!(status["transport"]["sse_url"], format!("{base}/sse"));
    assert_eq!(
        status["transport"]["streamable_http_url"],
        format!("{base}/mcp")
    );
    assert_eq!(
        status["transport"]["urls"][0],
        format!("{base}/sse"),
        "primary first"
    );
    assert_eq!(status["transport"]["port"], gw.addr.port());
    assert_eq!(status["config"]["backend_count"], 2);
    assert!(
        status["config"]["file_path"]
            .as_str()
            .unwrap()
            .ends_with("argus.yaml")
    );
    assert!(
        status["feature_flags"]
            .as_object()
            .unwrap()
            .values()
            .all(Value::is_boolean)
    );

    let backends = get(&gw, "/manage/v1/backends")["backends"].clone();
    let names: Vec<&str> = backends
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"], "config order");
    let a = &backends[0];
    assert_eq!(
        (&a["type"], &a["group"], &a["phase"], &a["state"]),
        (
            &json!("stdio"),
            &json!("left"),
            &json!("ready"),
            &json!("connected")
        )
    );
    assert_eq!(
        a["capabilities"],
        json!({"tools": 2, "resources": 1, "prompts": 0})
    );
    assert_eq!(a["health"]["status"], "healthy");
    assert_eq!(a["conditions"][0]["type"], "ready");
    assert_eq!(a["conditions"][0]["status"], "OK");
    let pid = a["pid"].as_u64().unwrap() as u32;
    assert!(children(gw.pid()).contains(&pid), "the real pid");
    assert_eq!(a["restarts"], 0);
    assert_eq!(a["error"], Value::Null);

    let groups = get(&gw, "/manage/v1/groups");
    assert_eq!(
        (
            groups["total_groups"].clone(),
            groups["total_servers"].clone()
        ),
        (json!(2), json!(2))
    );
    assert_eq!(groups["groups"]["left"]["servers"], json!(["a"]));
    assert_eq!(
        groups["groups"]["right"]["urls"]["sse"],
        format!("{base}/g/right/sse")
    );
    assert_eq!(
        groups["groups"]["right"]["urls"]["mcp"],
        format!("{base}/g/right/mcp")
    );
    let one = get(&gw, "/manage/v1/groups?group=right");
    assert_eq!(one["groups"].as_object().unwrap().len(), 1);
    let none = get(&gw, "/manage/v1/groups?group=nothing");
    assert_eq!(
        none["groups"]["nothing"],
        json!({"servers": [], "count": 0})
    );
    assert_eq!(none["total_groups"], 0);
    let bad = gw.manage(
        "GET",
        "/manage/v1/groups?group=%3Cscript%3E",
        Some(TOKEN),
        "",
    );
    assert_eq!(
        (bad.status, bad.json()["error"].clone()),
        (400, json!("bad_request"))
    );

    let caps = get(&gw, "/manage/v1/capabilities");
    let tools: Vec<&str> = caps["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["x", "y", "z"]);
    assert_eq!(caps["tools"][0]["original_name"], "x");
    assert_eq!(caps["tools"][0]["backend"], "a");
    assert_eq!(caps["tools"][0]["input_schema"]["type"], "object");
    assert_eq!(caps["route_map"]["z"], json!(["b", "z"]));
    assert_eq!(caps["resources"][0]["uri"], "mem://a/1");
    assert_eq!(caps["prompts"][0]["name"], "p");
    assert_eq!(caps["mcp_visible_tool_count"], 3);
    let filtered = get(&gw, "/manage/v1/capabilities?type=tools&backend=a&search=Y");
    assert_eq!(filtered["tools"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["tools"][0]["name"], "y");
    assert_eq!(filtered["prompts"], json!([]));
    for bad in [
        "type=widgets",
        "backend=a%20b",
        &format!("search={}", "s".repeat(256)),
    ] {
        let resp = gw.manage(
            "GET",
            &format!("/manage/v1/capabilities?{bad}"),
            Some(TOKEN),
            "",
        );
        assert_eq!(resp.status, 400, "{bad}: {}", resp.text());
        assert_eq!(resp.json()["error"], "bad_request");
    }

    let mut client = SseClient::open(gw.addr);
    client.initialize(gw.addr, "2025-06-18");
    let sessions = get(&gw, "/manage/v1/sessions");
    assert_eq!(sessions["active_sessions"], 1);
    let s = &sessions["sessions"][0];
    assert_eq!(
        (&s["transport_type"], &s["tool_count"]),
        (&json!("sse"), &json!(3))
    );
    assert_eq!(s["id"].as_str().unwrap().len(), 16);
    assert_ne!(
        s["id"],
        client.session_id(),
        "a label, never the session id"
    );

    let events = get(&gw, "/manage/v1/events?limit=2");
    let list = events["events"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    for e in list {
        assert!(e["id"].as_str().unwrap().starts_with("evt-"));
        assert!(e["timestamp"].is_string() && e["stage"].is_string() && e["message"].is_string());
    }
    let all = get(&gw, "/manage/v1/events");
    let stages: Vec<&str> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    assert!(
        stages.iter().filter(|s| **s == "backend_connected").count() == 2,
        "{stages:?}"
    );
    for (query, message) in [
        ("limit=x", "'limit' must be an integer."),
        ("limit=0", "'limit' must be between 1 and 10000."),
        ("limit=10001", "'limit' must be between 1 and 10000."),
    ] {
        let resp = gw.manage(
            "GET",
            &format!("/manage/v1/events?{query}"),
            Some(TOKEN),
            "",
        );
        assert_eq!(
            (resp.status, resp.json()["message"].clone()),
            (400, json!(message))
        );
    }
    assert_eq!(
        get(&gw, "/manage/v1/events?severity=error")["events"],
        json!([])
    );

    let batch = get(&gw, "/manage/v1/batch?events_limit=garbage");
    assert_eq!(batch["status"]["service"]["state"], "running");
    assert_eq!(batch["backends"]["backends"].as_array().unwrap().len(), 2);
    assert_eq!(batch["capabilities"]["tools"].as_array().unwrap().len(), 3);
    assert!(batch["events"]["events"].as_array().unwrap().len() <= 20);

    // Wrong method, unknown path.
    let resp = gw.manage("POST", "/manage/v1/status", Some(TOKEN), "");
    assert_eq!(
        (resp.status, resp.header("allow")),
        (405, Some("GET, HEAD"))
    );
    let resp = gw.manage("GET", "/manage/v1/reload", Some(TOKEN), "");
    assert_eq!(resp.status, 405);
    let resp = gw.manage("GET", "/manage/v1/nothing", Some(TOKEN), "");
    assert_eq!(
        (resp.status, resp.json()["error"].clone()),
        (404, json!("not_found"))
    );
}

#[test]
fn the_token_guards_everything_but_health_and_ready() {
    let gw = gateway("");
    let expect_401 = |token: Option<&str>, header: Option<&str>, message: &str| {
        for path in ["/manage/v1/status", "/manage/v1/nothing", "/metrics"] {
            let resp = match header {
                Some(h) => {
                    crate::support::request(gw.addr, "GET", path, &[("Authorization", h)], b"")
                }
                None => gw.manage("GET", path, token, ""),
            };
            assert_eq!(resp.status, 401, "{path}");
            assert_eq!(resp.header("www-authenticate"), Some("Bearer"));
            assert_eq!(
                resp.json(),
                json!({"error": "unauthorized", "message": message, "details": null})
            );
        }
    };
    let missing = "Missing or malformed Authorization header. Expected: Bearer <token>";
    expect_401(None, None, missing);
    // The scheme is case-sensitive, like the original.
    expect_401(None, Some(&format!("bearer {TOKEN}")), missing);
    expect_401(Some("mgmt-token-0123456788"), None, "Invalid bearer token.");
    expect_401(Some("short"), None, "Invalid bearer token.");
    assert_eq!(gw.manage("GET", "/manage/v1/health", None, "").status, 200);
    assert_eq!(
        gw.manage("GET", "/manage/v1/status", Some(TOKEN), "")
            .status,
        200
    );
    // Each refusal is an event.
    let events = get(&gw, "/manage/v1/events?limit=10000");
    let refused = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["stage"] == "auth_failure")
        .count();
    assert_eq!(refused, 12);
    // DNS rebinding: a foreign Host is refused even with the token.
    let resp = crate::support::raw(
        gw.addr,
        format!(
            "GET /manage/v1/status HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(resp.status, 403);
}

#[test]
fn without_a_token_loopback_clients_are_served() {
    let config = format!("backends:\n{}", fixture_backend("a", &[], ""));
    let gw = Gateway::start(&config);
    let resp = gw.manage("GET", "/manage/v1/status", None, "");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["feature_flags"]["management_auth"], false);
    assert_eq!(gw.manage("GET", "/metrics", None, "").status, 200);
    // Non-loopback peers get 403: see the unit test in gateway::security.
}

/// The `promtool` that `tests/run-all.sh` installs (Debian's `prometheus`).
fn promtool() -> &'static str {
    let found = Command::new("promtool").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "promtool not found: run `bash tests/run-all.sh` (it installs Debian's prometheus package)"
    );
    "promtool"
}

#[test]
fn metrics_count_requests_and_pass_promtool() {
    let gw = gateway("");
    let mut client = SseClient::open(gw.addr);
    client.initialize(gw.addr, "2025-06-18");
    let reply = client.call(
        gw.addr,
        json!(1),
        "tools/call",
        json!({"name": "x", "arguments": {}}),
    );
    assert!(reply["result"]["content"].is_array(), "{reply}");
    let reply = client.call(
        gw.addr,
        json!(2),
        "tools/call",
        json!({"name": "fail", "arguments": {}}),
    );
    assert!(
        reply.get("error").is_some() || reply["result"]["isError"] == true,
        "{reply}"
    );
    client.names(gw.addr, "tools/list", "tools");
    let resp = gw.manage("GET", "/metrics", Some(TOKEN), "");
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = resp.text();
    for line in [
        r#"argus_requests_total{transport="sse",method="tools/call",backend="a",outcome="ok"} 1"#,
        r#"argus_requests_total{transport="sse",method="tools/list",backend="",outcome="ok"} 1"#,
        r#"argus_requests_total{transport="sse",method="initialize",backend="",outcome="ok"} 1"#,
        r#"argus_backend_request_duration_seconds_count{backend="a"} 1"#,
        r#"argus_sessions_open{transport="sse"} 1"#,
        r#"argus_backend_up{backend="b"} 1"#,
        r#"argus_backend_state{backend="a",state="connected"} 1"#,
        r#"argus_backend_restarts_total{backend="a"} 0"#,
        "argus_rate_limited_total 0",
        "argus_slow_clients_dropped_total 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
    let received: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("argus_http_received_bytes_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(received > 500, "{received}");
    let mut check = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The next SSE event on a raw stream: (event, data, id).
fn next_event(
    reader: &mut BufReader<std::net::TcpStream>,
    pending: &mut Vec<u8>,
) -> (String, String, String) {
    loop {
        if let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = pending.drain(..end + 2).collect();
            let text = String::from_utf8(block).unwrap();
            let field = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap_or_default()
                    .to_owned()
            };
            return (field("event: "), field("data: "), field("id: "));
        }
        let chunk = read_chunk(reader).expect("the event stream ended");
        assert!(!chunk.is_empty(), "the event stream ended");
        pending.extend(chunk);
    }
}

#[test]
fn events_stream_pushes_lifecycle_events_and_reconnect_restarts_a_backend() {
    let gw = gateway("");
    let mut stream = connect(gw.addr);
    write!(
        stream,
        "GET /manage/v1/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let head = read_response(&mut reader, true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    assert_eq!(head.header("x-accel-buffering"), Some("no"));
    let mut pending = Vec::new();
    let first = next_event(&mut reader, &mut pending);
    assert_eq!(
        first,
        (
            "heartbeat".into(),
            r#"{"message": "connected"}"#.into(),
            "hb-0".into()
        )
    );

    let old_pid = get(&gw, "/manage/v1/backends")["backends"][1]["pid"]
        .as_u64()
        .unwrap() as u32;
    let resp = gw.manage("POST", "/manage/v1/reconnect/b", Some(TOKEN), "");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.json(),
        json!({"name": "b", "reconnected": true, "error": null})
    );
    assert_gone(&[old_pid]);
    let b = get(&gw, "/manage/v1/backends")["backends"][1].clone();
    assert_eq!(
        (b["state"].clone(), b["restarts"].clone()),
        (json!("connected"), json!(1))
    );
    assert_ne!(b["pid"].as_u64().unwrap() as u32, old_pid);
    // The stream saw it: the catalog change and the new connection.
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|(stage, _): &(String, Value)| stage == "backend_connected")
    {
        let (event, data, id) = next_event(&mut reader, &mut pending);
        let data: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(data["stage"], event.as_str());
        assert_eq!(data["id"], id.as_str());
        seen.push((event, data));
    }
    let connected = &seen.last().unwrap().1;
    assert_eq!(connected["backend"], "b");
    assert_eq!(connected["severity"], "info");

    for (path, status, error) in [
        ("/manage/v1/reconnect/nope", 404, "not_found"),
        ("/manage/v1/reconnect/a%20b", 400, "bad_request"),
        ("/manage/v1/reconnect", 400, "bad_request"),
    ] {
        let resp = gw.manage("POST", path, Some(TOKEN), "");
        assert_eq!(
            (resp.status, resp.json()["error"].clone()),
            (status, json!(error)),
            "{path}"
        );
    }
}

#[test]
fn shutdown_answers_then_stops_the_gateway_and_its_backends() {
    let mut gw = gateway("");
    let backends = children(gw.pid());
    assert_eq!(backends.len(), 2);
    for (body, message) in [
        (
            r#"{"timeout_seconds": 0}"#,
            "'timeout_seconds' must be between 1 and 300.",
        ),
        (
            r#"{"timeout_seconds": "soon"}"#,
            "Invalid shutdown request body.",
        ),
    ] {
        let resp = gw.manage("POST", "/manage/v1/shutdown", Some(TOKEN), body);
        assert_eq!(
            (resp.status, resp.json()["message"].clone()),
            (400, json!(message))
        );
    }
    let mut client = SseClient::open(gw.addr);
    client.initialize(gw.addr, "2025-06-18");
    let resp = gw.manage("POST", "/manage/v1/shutdown", Some(TOKEN), "not json");
    assert_eq!(
        (resp.status, resp.json()),
        (200, json!({"shutting_down": true}))
    );
    assert_eq!(client.next_message(), None, "the session's stream ends");
    assert_eq!(gw.wait_exit(Duration::from_secs(10)), Some(0));
    assert_gone(&backends);
}

#[test]
fn the_originals_client_and_tui_work_against_ours() {
    let gw = gateway("");
    let python = crate::support::original_python();
    let home = TempDir::new("tui-home");
    let mut cmd = Command::new(python);
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/py/tui_check.py"
    ))
    .args([&format!("http://{}", gw.addr), TOKEN, "x", "a"])
    .env("HOME", &home.0)
    .env("TERM", "xterm-256color")
    .env_remove("ARGUS_MGMT_TOKEN");
    let out = run_with_deadline(cmd, Duration::from_secs(120));
    assert!(out.contains("ok: tui dashboard"), "{out}");
    assert!(out.trim_end().ends_with("ok: all"), "{out}");
}
