//! MCP 2026-07-28 on `/mcp` beside the 2025 era: stateless
//! requests with per-request `_meta`, `server/discover`, the routing-header
//! rules with their error codes and HTTP statuses, caching hints,
//! `resultType`, and the 2025-era sessions unchanged on the same endpoint.

use serde_json::{Value, json};

use crate::support::modern::{MODERN, call, meta, next_note, post};
use crate::support::{Gateway, Resp, fixture_backend, request, wait_until};

fn start() -> Gateway {
    let config = format!(
        "backends:\n{}{}",
        fixture_backend(
            "a",
            &[
                ("FIXTURE_TOOLS", "echo,progress"),
                ("FIXTURE_RESOURCES", "mem://a/1"),
                ("FIXTURE_PROMPTS", "greet"),
            ],
            "    group: g\n"
        ),
        fixture_backend("b", &[("FIXTURE_TOOLS", "other")], ""),
    );
    let gw = Gateway::start(&config);
    assert!(wait_until(std::time::Duration::from_secs(20), || {
        request(gw.addr, "GET", "/ready", &[], b"").status == 200
    }));
    gw
}

fn error_of(resp: &Resp) -> (u16, i64, Value) {
    let v = resp.json();
    (resp.status, v["error"]["code"].as_i64().unwrap_or(0), v)
}

#[test]
fn stateless_requests_are_served_without_a_session() {
    let gw = start();
    let discover = call(&gw, "/mcp", 1, "server/discover", json!({}));
    assert_eq!(discover.status, 200, "{}", discover.text());
    assert!(
        discover.header("mcp-session-id").is_none(),
        "never a session"
    );
    let d = discover.json()["result"].clone();
    assert_eq!(d["resultType"], "complete");
    assert_eq!(d["supportedVersions"][0], MODERN);
    assert!(
        d["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2025-11-25"))
    );
    assert!(d["capabilities"]["tools"].is_object());
    assert_eq!(
        d["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "argus-mcp"
    );
    assert_eq!(
        (d["ttlMs"].clone(), d["cacheScope"].clone()),
        (json!(0), json!("public"))
    );

    for (method, key) in [
        ("tools/list", "tools"),
        ("resources/list", "resources"),
        ("resources/templates/list", "resourceTemplates"),
        ("prompts/list", "prompts"),
    ] {
        let resp = call(&gw, "/mcp", 2, method, json!({}));
        assert_eq!(resp.status, 200, "{method}: {}", resp.text());
        let r = resp.json()["result"].clone();
        assert!(r[key].is_array(), "{method}: {r}");
        assert_eq!(r["resultType"], "complete", "{method}");
        assert!(
            r["ttlMs"].is_u64() && r["cacheScope"] == "public",
            "{method}: {r}"
        );
    }
    let tools = call(&gw, "/mcp", 3, "tools/list", json!({})).json();
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "progress", "other"]);

    let reply = call(
        &gw,
        "/mcp",
        4,
        "tools/call",
        json!({"name": "echo", "arguments": {"x": 1}}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let r = reply.json();
    assert_eq!(r["id"], 4);
    assert_eq!(r["result"]["content"][0]["text"], r#"a:echo:{"x":1}"#);
    assert_eq!(r["result"]["resultType"], "complete");
    assert!(
        r["result"].get("ttlMs").is_none(),
        "calls carry no caching hints"
    );

    let read = call(
        &gw,
        "/mcp",
        5,
        "resources/read",
        json!({"uri": "mem://a/1"}),
    );
    let r = read.json()["result"].clone();
    assert_eq!(r["cacheScope"], "private", "{r}");
    // Not found is -32602 with the URI (SEP-2164), never empty contents.
    let missing = call(
        &gw,
        "/mcp",
        6,
        "resources/read",
        json!({"uri": "mem://nope"}),
    );
    let (_, code, v) = error_of(&missing);
    assert_eq!(code, -32602, "{v}");
    let prompt = call(&gw, "/mcp", 7, "prompts/get", json!({"name": "greet"}));
    assert_eq!(
        prompt.json()["result"]["resultType"],
        "complete",
        "{}",
        prompt.text()
    );

    // A group's modern endpoint sees only the group.
    let tools = call(&gw, "/g/g/mcp", 8, "tools/list", json!({})).json();
    assert_eq!(
        tools["result"]["tools"].as_array().unwrap().len(),
        2,
        "{tools}"
    );

    // Progress upgrades the answer to an SSE stream, events without ids.
    let mut params = json!({"name": "progress", "arguments": {}});
    params["_meta"] = meta();
    params["_meta"]["progressToken"] = json!("tok");
    let body = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": params});
    let resp = post(
        &gw,
        "/mcp",
        &[
            ("MCP-Protocol-Version", MODERN),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "progress"),
        ],
        &body,
    );
    assert_eq!(
        resp.header("content-type"),
        Some("text/event-stream"),
        "{}",
        resp.text()
    );
    let text = resp.text();
    assert!(text.contains(r#""progressToken":"tok""#), "{text}");
    assert!(text.contains(r#""resultType":"complete""#), "{text}");
    assert!(
        !text.contains("\nid: ") && !text.starts_with("id: "),
        "{text}"
    );
}

#[test]
fn the_modern_rules_refuse_with_their_codes_and_statuses() {
    let gw = start();
    let headers = [
        ("MCP-Protocol-Version", MODERN),
        ("Mcp-Method", "tools/list"),
    ];
    // 1. `_meta` missing or incomplete: 400 / -32602, even with good headers.
    for params in [
        json!({}),
        json!({"_meta": {"io.modelcontextprotocol/protocolVersion": MODERN}}),
    ] {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": params});
        let (status, code, v) = error_of(&post(&gw, "/mcp", &headers, &body));
        assert_eq!((status, code), (400, -32602), "{v}");
        assert_eq!(v["id"], 1, "errors echo the id");
    }
    let with_meta = |method: &str, extra: Value| {
        let mut params = extra;
        params["_meta"] = meta();
        json!({"jsonrpc": "2.0", "id": 2, "method": method, "params": params})
    };
    // 2. Headers against the body: 400 / -32020.
    let list = with_meta("tools/list", json!({}));
    let echo = with_meta("tools/call", json!({"name": "echo", "arguments": {}}));
    for (headers, body) in [
        (vec![("Mcp-Method", "tools/list")], &list),
        (
            vec![
                ("MCP-Protocol-Version", "2026-07-28"),
                ("Mcp-Method", "TOOLS/LIST"),
            ],
            &list,
        ),
        (vec![("MCP-Protocol-Version", "2026-07-28")], &list),
        (
            vec![
                ("MCP-Protocol-Version", MODERN),
                ("Mcp-Method", "tools/call"),
            ],
            &echo,
        ),
        (
            vec![
                ("MCP-Protocol-Version", MODERN),
                ("Mcp-Method", "tools/call"),
                ("Mcp-Name", "other"),
            ],
            &echo,
        ),
        (
            vec![
                ("MCP-Protocol-Version", MODERN),
                ("Mcp-Method", "tools/call"),
                ("Mcp-Name", "=?base64?ZWNo?="),
            ],
            &echo,
        ),
    ] {
        let (status, code, v) = error_of(&post(&gw, "/mcp", &headers, body));
        assert_eq!((status, code), (400, -32020), "{headers:?}: {v}");
    }
    // The Base64 form and padded values are accepted.
    let ok = post(
        &gw,
        "/mcp",
        &[
            ("MCP-Protocol-Version", MODERN),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "=?base64?ZWNobw==?="),
        ],
        &echo,
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    let ok = post(
        &gw,
        "/mcp",
        &[
            ("MCP-Protocol-Version", MODERN),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "  echo "),
        ],
        &echo,
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    // Header 2026-07-28 with body v999: a mismatch; both v999: unsupported.
    let mut v999 = list.clone();
    v999["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("v999.0.0");
    let (status, code, _) = error_of(&post(&gw, "/mcp", &headers, &v999));
    assert_eq!((status, code), (400, -32020));
    let (status, code, v) = error_of(&post(
        &gw,
        "/mcp",
        &[
            ("MCP-Protocol-Version", "v999.0.0"),
            ("Mcp-Method", "tools/list"),
        ],
        &v999,
    ));
    assert_eq!((status, code), (400, -32022), "{v}");
    assert_eq!(v["error"]["data"]["requested"], "v999.0.0");
    assert_eq!(v["error"]["data"]["supported"][0], MODERN);
    // Removed and unknown methods: 404 / -32601.
    for method in [
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
        "tasks/get",
        "nope/x",
    ] {
        let body = with_meta(method, json!({}));
        let (status, code, v) = error_of(&post(
            &gw,
            "/mcp",
            &[("MCP-Protocol-Version", MODERN), ("Mcp-Method", method)],
            &body,
        ));
        assert_eq!((status, code), (404, -32601), "{method}: {v}");
    }
    // Batches are refused; notifications are 202; GET and DELETE are 405.
    let batch = json!([list.clone(), list.clone()]);
    let (status, code, _) = error_of(&post(&gw, "/mcp", &headers, &batch));
    assert_eq!((status, code), (400, -32600));
    let note =
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}});
    let resp = post(&gw, "/mcp", &[("MCP-Protocol-Version", MODERN)], &note);
    assert_eq!(resp.status, 202);
    for method in ["GET", "DELETE"] {
        let resp = request(
            gw.addr,
            method,
            "/mcp",
            &[("MCP-Protocol-Version", MODERN)],
            b"",
        );
        assert_eq!(resp.status, 405, "{method}");
        assert_eq!(resp.header("allow"), Some("POST"));
    }
    // A bad log level is -32602.
    let mut bad_level = list.clone();
    bad_level["params"]["_meta"]["io.modelcontextprotocol/logLevel"] = json!("loud");
    let (status, code, _) = error_of(&post(&gw, "/mcp", &headers, &bad_level));
    assert_eq!((status, code), (400, -32602));
}

#[test]
fn both_eras_share_the_endpoint() {
    let gw = start();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "old", "version": "1"}}});
    let resp = post(&gw, "/mcp", &[], &init);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let sid = resp.header("mcp-session-id").unwrap().to_owned();
    assert_eq!(resp.json()["result"]["protocolVersion"], "2025-11-25");
    let modern = call(&gw, "/mcp", 2, "tools/list", json!({}));
    assert_eq!(modern.status, 200);
    let ack = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let headers = [
        ("Mcp-Session-Id", sid.as_str()),
        ("MCP-Protocol-Version", "2025-11-25"),
    ];
    assert_eq!(post(&gw, "/mcp", &headers, &ack).status, 202);
    let list = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"});
    let legacy = post(&gw, "/mcp", &headers, &list);
    assert_eq!(legacy.status, 200);
    let result = legacy.json()["result"].clone();
    assert!(
        result.get("resultType").is_none(),
        "2025-era answers are unchanged: {result}"
    );
    assert_eq!(result["tools"], modern.json()["result"]["tools"]);
    // The modern request made no session.
    let sessions = gw.manage("GET", "/manage/v1/sessions", None, "").json();
    assert_eq!(sessions["active_sessions"], 1);
}

#[test]
fn browsers_get_cors_for_allowed_origins_only() {
    let gw = start();
    let preflight = |origin: &str, asked: &str| {
        request(
            gw.addr,
            "OPTIONS",
            "/mcp",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", asked),
            ],
            b"",
        )
    };
    let ok = preflight(
        "http://localhost:6274",
        "content-type, mcp-protocol-version, mcp-method, mcp-name, mcp-param-region",
    );
    assert_eq!(ok.status, 204);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("http://localhost:6274")
    );
    let allowed = ok.header("access-control-allow-headers").unwrap();
    for h in [
        "mcp-session-id",
        "mcp-protocol-version",
        "mcp-method",
        "mcp-name",
        "mcp-param-region",
        "last-event-id",
        "authorization",
        "content-type",
    ] {
        assert!(allowed.split(", ").any(|a| a == h), "{h} not in {allowed}");
    }
    assert_eq!(
        ok.header("access-control-expose-headers"),
        Some("Mcp-Session-Id, MCP-Protocol-Version")
    );
    assert!(
        ok.header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    // A disallowed origin is refused, on the preflight and the request.
    assert_eq!(preflight("http://evil.example", "content-type").status, 403);
    let mut params = json!({});
    params["_meta"] = meta();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": params});
    let headers = [
        ("MCP-Protocol-Version", MODERN),
        ("Mcp-Method", "tools/list"),
    ];
    let evil = post(
        &gw,
        "/mcp",
        &[("Origin", "http://evil.example"), headers[0], headers[1]],
        &body,
    );
    assert_eq!(evil.status, 403);
    // An allowed one gets the answer with the CORS headers.
    let fine = post(
        &gw,
        "/mcp",
        &[("Origin", "http://127.0.0.1:6274"), headers[0], headers[1]],
        &body,
    );
    assert_eq!(fine.status, 200, "{}", fine.text());
    assert_eq!(
        fine.header("access-control-allow-origin"),
        Some("http://127.0.0.1:6274")
    );
    // Group paths and the SSE transport too; no Origin: just Allow.
    let resp = request(
        gw.addr,
        "OPTIONS",
        "/g/g/sse",
        &[("Origin", "http://localhost:1")],
        b"",
    );
    assert_eq!(resp.status, 204);
    let resp = request(gw.addr, "OPTIONS", "/messages/", &[], b"");
    assert_eq!(
        (resp.status, resp.header("allow")),
        (204, Some("GET, POST, DELETE, OPTIONS"))
    );
}

/// A modern `tools/call` of the fixture's `ask` with these client
/// capabilities and extra params (`inputResponses`, `requestState`).
fn ask(gw: &Gateway, id: i64, capabilities: Value, extra: Value) -> Resp {
    let mut params = json!({"name": "ask", "arguments": {"text": "hello?"}});
    for (k, v) in extra.as_object().unwrap() {
        params[k] = v.clone();
    }
    params["_meta"] = meta();
    params["_meta"]["io.modelcontextprotocol/clientCapabilities"] = capabilities;
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params});
    post(
        gw,
        "/mcp",
        &[
            ("MCP-Protocol-Version", MODERN),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "ask"),
        ],
        &body,
    )
}

#[test]
fn a_legacy_backends_question_reaches_a_modern_client_as_input_required() {
    let (gw, _dir, log) = logging_fixture("ask");
    let sampling = json!({"sampling": {}});
    // Round 1: the backend's sampling request comes back as a question.
    let first = ask(&gw, 1, sampling.clone(), json!({}));
    assert_eq!(first.status, 200, "{}", first.text());
    let r = first.json()["result"].clone();
    assert_eq!(r["resultType"], "input_required", "{r}");
    let requests = r["inputRequests"].as_object().unwrap();
    assert_eq!(requests.len(), 1, "{r}");
    let (key, question) = requests.iter().next().unwrap();
    assert_eq!(question["method"], "sampling/createMessage");
    assert_eq!(
        question["params"]["messages"][0]["content"]["text"],
        "hello?"
    );
    assert!(
        r.get("ttlMs").is_none(),
        "input-required results are never cached"
    );
    let state = r["requestState"].as_str().unwrap().to_owned();
    let answer = json!({key.clone(): {"role": "assistant", "model": "m",
        "content": {"type": "text", "text": "forty-two"}}});

    // Forged, and bound to another request: refused, the call still waits.
    let mut forged = state.clone();
    let last = if forged.ends_with('0') { "1" } else { "0" };
    forged.replace_range(forged.len() - 1.., last);
    let bad = ask(
        &gw,
        2,
        sampling.clone(),
        json!({"inputResponses": answer, "requestState": forged}),
    );
    let (status, code, v) = error_of(&bad);
    assert_eq!((status, code), (400, -32602), "{v}");
    let mut params = json!({"name": "ask", "arguments": {"text": "other"}, "inputResponses": answer,
        "requestState": state});
    params["_meta"] = meta();
    params["_meta"]["io.modelcontextprotocol/clientCapabilities"] = sampling.clone();
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": params});
    let other = post(
        &gw,
        "/mcp",
        &[
            ("MCP-Protocol-Version", MODERN),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "ask"),
        ],
        &body,
    );
    assert_eq!(error_of(&other).1, -32602, "{}", other.text());

    // Round 2: the answer goes to the backend's waiting request, and the
    // original call (still open at the backend) completes on the retry.
    let done = ask(
        &gw,
        4,
        sampling.clone(),
        json!({"inputResponses": answer, "requestState": state}),
    );
    assert_eq!(done.status, 200, "{}", done.text());
    let r = done.json();
    assert_eq!(r["id"], 4);
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("client said") && text.contains("forty-two"),
        "{text}"
    );
    // The backend heard one tools/call, and the answer under its own id.
    let received = std::fs::read_to_string(&log).unwrap();
    let calls = received
        .lines()
        .filter(|l| l.contains(r#""method":"tools/call""#))
        .count();
    assert_eq!(calls, 1, "{received}");
    // Used once: a replay is refused.
    let replay = ask(
        &gw,
        5,
        sampling,
        json!({"inputResponses": answer, "requestState": state}),
    );
    assert_eq!(error_of(&replay).1, -32602, "{}", replay.text());

    // A client without the capability: -32021 naming it, and the call is
    // cancelled at the backend.
    let refused = ask(&gw, 6, json!({}), json!({}));
    let (status, code, v) = error_of(&refused);
    assert_eq!((status, code), (400, -32021), "{v}");
    assert_eq!(
        v["error"]["data"]["requiredCapabilities"],
        json!({"sampling": {}})
    );
    assert!(told_cancelled(&log), "{}", gw.stderr());
}

#[test]
fn a_requests_log_level_brings_its_backends_logs_on_its_stream() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("a", &[("FIXTURE_TOOLS", "notify")], "")
    );
    let gw = Gateway::start(&config);
    let notify = |id: i64, level: Option<&str>, sent: &str| {
        let mut params = json!({"name": "notify", "arguments": {"level": sent, "uri": "mem://x"}});
        params["_meta"] = meta();
        if let Some(level) = level {
            params["_meta"]["io.modelcontextprotocol/logLevel"] = json!(level);
        }
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params});
        post(
            &gw,
            "/mcp",
            &[
                ("MCP-Protocol-Version", MODERN),
                ("Mcp-Method", "tools/call"),
                ("Mcp-Name", "notify"),
            ],
            &body,
        )
    };
    // With a level: the backend's message comes first, on the stream.
    let resp = notify(1, Some("info"), "warning");
    assert_eq!(
        resp.header("content-type"),
        Some("text/event-stream"),
        "{}",
        resp.text()
    );
    let text = resp.text();
    let log = text.find("notifications/message").expect("the log message");
    let answer = text.find(r#""resultType":"complete""#).expect("the answer");
    assert!(log < answer, "{text}");
    assert!(text.contains(r#""logger":"a""#), "{text}");
    // Without one, no message (the MUST NOT of 2026-07-28), and a plain answer.
    let resp = notify(2, None, "warning");
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert!(!resp.text().contains("notifications/message"));
    // Below the asked level: not sent.
    let resp = notify(3, Some("error"), "warning");
    assert!(
        !resp.text().contains("notifications/message"),
        "{}",
        resp.text()
    );
}

/// A modern POST to `/mcp` on a connection of its own, left open to read
/// from: streams are read as they come.
fn raw_post(
    gw: &Gateway,
    method: &str,
    name: Option<&str>,
    body: &Value,
) -> std::io::BufReader<std::net::TcpStream> {
    crate::support::modern::raw_post(gw, "/mcp", &[], method, name, body)
}

/// A gateway over the fixture with these tools, logging every message the
/// fixture receives to the returned file (in the returned directory).
fn logging_fixture(tools: &str) -> (Gateway, crate::support::TempDir, std::path::PathBuf) {
    let dir = crate::support::TempDir::new("fixture-log");
    let log = dir.0.join("received.jsonl");
    let config = format!(
        "backends:\n{}",
        fixture_backend(
            "a",
            &[
                ("FIXTURE_TOOLS", tools),
                ("FIXTURE_LOG", &log.to_string_lossy())
            ],
            ""
        )
    );
    (Gateway::start(&config), dir, log)
}

/// Whether the fixture heard `notifications/cancelled` within 10 s.
fn told_cancelled(log: &std::path::Path) -> bool {
    wait_until(std::time::Duration::from_secs(10), || {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .contains("notifications/cancelled")
    })
}

/// Opens a `subscriptions/listen` stream on `/mcp` asking for `notifications`.
fn listen(gw: &Gateway, id: i64, notifications: Value) -> std::io::BufReader<std::net::TcpStream> {
    crate::support::modern::listen(gw, "/mcp", &[], id, notifications)
}

#[test]
fn listen_streams_get_their_acknowledgement_and_only_the_changes_asked_for() {
    let config = |deny: &str| {
        format!(
            "backends:\n{}",
            fixture_backend(
                "a",
                &[("FIXTURE_TOOLS", "toggle"), ("FIXTURE_PROMPTS", "p1,p2")],
                &format!("    filters: {{prompts: {{deny: [{deny}]}}}}\n")
            )
        )
    };
    let gw = Gateway::start(&config("none"));
    let discover = call(&gw, "/mcp", 1, "server/discover", json!({})).json();
    assert_eq!(
        discover["result"]["capabilities"]["tools"]["listChanged"],
        true
    );
    let (mut tools, mut tools_buf) = (
        listen(&gw, 10, json!({"toolsListChanged": true})),
        String::new(),
    );
    let (mut prompts, mut prompts_buf) = (
        listen(
            &gw,
            21,
            json!({"promptsListChanged": true, "resourceSubscriptions": ["mem://x"]}),
        ),
        String::new(),
    );
    for (reader, buf, id, accepted) in [
        (
            &mut tools,
            &mut tools_buf,
            10,
            json!({"toolsListChanged": true}),
        ),
        (
            &mut prompts,
            &mut prompts_buf,
            21,
            json!({"promptsListChanged": true}),
        ),
    ] {
        let ack = next_note(reader, buf);
        assert_eq!(
            ack["method"], "notifications/subscriptions/acknowledged",
            "{ack}"
        );
        assert_eq!(
            ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
            id
        );
        assert_eq!(
            ack["params"]["notifications"], accepted,
            "no backend here takes resource subscriptions"
        );
    }
    // A tool list change reaches the tools stream, tagged.
    let toggled = call(
        &gw,
        "/mcp",
        2,
        "tools/call",
        json!({"name": "toggle", "arguments": {}}),
    );
    assert_eq!(toggled.status, 200);
    let note = next_note(&mut tools, &mut tools_buf);
    assert_eq!(note["method"], "notifications/tools/list_changed", "{note}");
    assert_eq!(
        note["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        10
    );
    // A prompt change (a reload hides p1): the prompts stream's first
    // notification, so it never got the tool change.
    gw.rewrite_config(&config("p1"));
    assert_eq!(gw.manage("POST", "/manage/v1/reload", None, "").status, 200);
    let note = next_note(&mut prompts, &mut prompts_buf);
    assert_eq!(
        note["method"], "notifications/prompts/list_changed",
        "{note}"
    );
    assert_eq!(
        note["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        21
    );
}

#[test]
fn listen_streams_take_resource_subscriptions_when_a_backend_does() {
    let config = format!(
        "backends:\n{}",
        fixture_backend(
            "a",
            &[
                ("FIXTURE_TOOLS", "notify"),
                ("FIXTURE_RESOURCES", "mem://a/1")
            ],
            ""
        )
    );
    let gw = Gateway::start(&config);
    assert!(wait_until(std::time::Duration::from_secs(20), || {
        request(gw.addr, "GET", "/ready", &[], b"").status == 200
    }));
    let discover = call(&gw, "/mcp", 1, "server/discover", json!({})).json();
    assert_eq!(
        discover["result"]["capabilities"]["resources"]["subscribe"], true,
        "{discover}"
    );
    let (mut stream, mut buf) = (
        listen(
            &gw,
            7,
            json!({"resourceSubscriptions": ["mem://a/1", "mem://a/1"]}),
        ),
        String::new(),
    );
    let ack = next_note(&mut stream, &mut buf);
    assert_eq!(
        ack["params"]["notifications"],
        json!({"resourceSubscriptions": ["mem://a/1"]}),
        "{ack}"
    );
    // An update of another resource is not this stream's; its own is.
    for uri in ["mem://other", "mem://a/1"] {
        let r = call(
            &gw,
            "/mcp",
            2,
            "tools/call",
            json!({"name": "notify", "arguments": {"level": "debug", "uri": uri}}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let note = next_note(&mut stream, &mut buf);
    assert_eq!(note["method"], "notifications/resources/updated", "{note}");
    assert_eq!(note["params"]["uri"], "mem://a/1", "{note}");
    assert_eq!(
        note["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        7
    );
    // URIs that are not strings are refused.
    let mut params = json!({"notifications": {"resourceSubscriptions": [1]}});
    params["_meta"] = meta();
    let bad = post(
        &gw,
        "/mcp",
        &[
            ("MCP-Protocol-Version", MODERN),
            ("Mcp-Method", "subscriptions/listen"),
        ],
        &json!({"jsonrpc": "2.0", "id": 8, "method": "subscriptions/listen", "params": params}),
    );
    assert_eq!(error_of(&bad).0, 400);
    assert_eq!(error_of(&bad).1, -32602);
}

#[test]
fn a_slow_answer_comes_on_a_stream_whose_closing_cancels_the_call() {
    let (gw, _dir, log) = logging_fixture("slow");
    let mut params = json!({"name": "slow", "arguments": {"ms": 60000}});
    params["_meta"] = meta();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params});
    let mut reader = raw_post(&gw, "tools/call", Some("slow"), &body);
    // No answer within a second: the answer is a stream, open now.
    let head = crate::support::read_response(&mut reader, true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    drop(reader);
    assert!(
        told_cancelled(&log),
        "the backend was not told: {}",
        gw.stderr()
    );
}

#[test]
fn a_request_that_never_reaches_a_backend_leaves_no_log_level_behind() {
    let (gw, _dir, log) = logging_fixture("echo");
    let levels = || -> Vec<Value> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["method"] == "logging/setLevel")
            .map(|m| m["params"]["level"].clone())
            .collect()
    };
    let modern = |id: i64, method: &str, name: Option<&str>, mut params: Value| {
        params["_meta"] = meta();
        params["_meta"]["io.modelcontextprotocol/logLevel"] = json!("debug");
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut headers = vec![("MCP-Protocol-Version", MODERN), ("Mcp-Method", method)];
        if let Some(name) = name {
            headers.push(("Mcp-Name", name));
        }
        post(&gw, "/mcp", &headers, &body)
    };
    // A discover asks for debug logs, and is answered by the gateway alone.
    for id in 1..=3 {
        let resp = modern(id, "server/discover", None, json!({}));
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    // A 2025-era session asks for errors only: that is what the backend
    // runs at, not the debug of requests that are over.
    let mut session = crate::support::SseClient::open(gw.addr);
    session.initialize(gw.addr, "2025-06-18");
    let set = session.call(
        gw.addr,
        json!(1),
        "logging/setLevel",
        json!({"level": "error"}),
    );
    assert_eq!(set["result"], json!({}), "{set}");
    let ten = std::time::Duration::from_secs(10);
    assert!(
        wait_until(ten, || levels() == [json!("error")]),
        "{:?}",
        levels()
    );
    // A retry whose state is refused: its level counts only while it lasts.
    let retry = json!({"name": "echo", "arguments": {"text": "x"}, "requestState": "forged"});
    let resp = modern(4, "tools/call", Some("echo"), retry);
    assert_eq!(error_of(&resp).1, -32602, "{}", resp.text());
    assert!(wait_until(ten, || levels().len() >= 3), "{:?}", levels());
    assert_eq!(levels(), ["error", "debug", "error"]);
}
