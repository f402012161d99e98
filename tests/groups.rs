//! Groups as virtual servers (issue 9 §3): `/g/<group>/{sse,messages/,mcp}`
//! serve only that group's backends with their own catalog, their own
//! `list_changed`, and the same guards; a session belongs to the path that
//! opened it.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Gateway, Resp, SseClient, fixture_backend, raw, request, text, wait_until};

/// Backends a (group one: tools t, u), b (group two: tool t), c (group one:
/// tool v); first-wins, so the whole gateway's `t` is a's.
fn config(top: &str, a_extra: &str) -> String {
    format!(
        "{top}backends:\n{}{}{}",
        fixture_backend(
            "a",
            &[("FIXTURE_TOOLS", "t,u")],
            &format!("    group: one\n{a_extra}")
        ),
        fixture_backend("b", &[("FIXTURE_TOOLS", "t")], "    group: two\n"),
        fixture_backend("c", &[("FIXTURE_TOOLS", "v")], "    group: one\n"),
    )
}

fn start(top: &str) -> Gateway {
    let gw = Gateway::start(&config(top, ""));
    assert!(wait_until(Duration::from_secs(20), || {
        gw.manage("GET", "/manage/v1/ready", None, "").status == 200
    }));
    gw
}

fn mcp_post(gw: &Gateway, path: &str, session: Option<&str>, body: &str) -> Resp {
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    if let Some(s) = session {
        headers.push(("Mcp-Session-Id", s));
    }
    request(gw.addr, "POST", path, &headers, body.as_bytes())
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;

#[test]
fn each_group_is_its_own_server_on_both_transports() {
    let gw = start("");
    let mut whole = SseClient::open(gw.addr);
    whole.initialize(gw.addr, "2025-06-18");
    assert_eq!(whole.names(gw.addr, "tools/list", "tools"), ["t", "u", "v"]);
    let reply = whole.call(
        gw.addr,
        json!(1),
        "tools/call",
        json!({"name": "t", "arguments": {}}),
    );
    assert_eq!(text(&reply), "a:t:{}");

    // SSE: the endpoint event points at the group's own messages path.
    let mut two = SseClient::open_at(gw.addr, "/g/two/sse", &[]);
    assert!(
        two.endpoint.starts_with("/g/two/messages/?session_id="),
        "{}",
        two.endpoint
    );
    two.initialize(gw.addr, "2025-06-18");
    assert_eq!(two.names(gw.addr, "tools/list", "tools"), ["t"]);
    let reply = two.call(
        gw.addr,
        json!(1),
        "tools/call",
        json!({"name": "t", "arguments": {}}),
    );
    assert_eq!(
        text(&reply),
        "b:t:{}",
        "conflicts are settled within the group"
    );
    let reply = two.call(
        gw.addr,
        json!(2),
        "tools/call",
        json!({"name": "u", "arguments": {}}),
    );
    assert!(
        reply.get("error").is_some() || reply["result"]["isError"] == true,
        "{reply}"
    );

    // Streamable HTTP at /g/one/mcp.
    let init = mcp_post(&gw, "/g/one/mcp", None, INIT);
    assert_eq!(init.status, 200, "{}", init.text());
    let sid = init.header("mcp-session-id").unwrap().to_owned();
    let list = mcp_post(
        &gw,
        "/g/one/mcp",
        Some(&sid),
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    );
    let list = list.json();
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["t", "u", "v"]);
    let call = mcp_post(
        &gw,
        "/g/one/mcp",
        Some(&sid),
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"v","arguments":{}}}"#,
    );
    assert_eq!(text(&call.json()), "c:v:{}");

    // A session belongs to the path that opened it.
    let ping = r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#;
    for path in ["/mcp", "/g/two/mcp"] {
        let resp = mcp_post(&gw, path, Some(&sid), ping);
        assert_eq!(resp.status, 404, "{path}");
    }
    for messages in ["/messages/", "/g/one/messages/"] {
        let foreign = format!("{messages}?session_id={}", two.session_id());
        let resp = request(
            gw.addr,
            "POST",
            &foreign,
            &[("Content-Type", "application/json")],
            ping.as_bytes(),
        );
        assert_eq!(resp.status, 404, "{messages}");
    }

    // Unknown groups and paths.
    for path in [
        "/g/three/sse",
        "/g/three/mcp",
        "/g/one/nothing",
        "/g/",
        "/g/one",
    ] {
        let resp = request(gw.addr, "GET", path, &[], b"");
        assert_eq!(resp.status, 404, "{path}");
    }
    // The management API counts the group sessions with their group.
    let sessions = gw.manage("GET", "/manage/v1/sessions", None, "").json();
    let mut groups: Vec<Value> = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["group"].clone())
        .collect();
    groups.sort_by_key(|g| g.to_string());
    assert_eq!(groups, [json!("one"), json!("two"), Value::Null]);
}

#[test]
fn a_groups_list_changed_reaches_only_its_sessions() {
    let gw = start("");
    let mut one = SseClient::open_at(gw.addr, "/g/one/sse", &[]);
    one.initialize(gw.addr, "2025-06-18");
    let mut two = SseClient::open_at(gw.addr, "/g/two/sse", &[]);
    two.initialize(gw.addr, "2025-06-18");
    let mut whole = SseClient::open(gw.addr);
    whole.initialize(gw.addr, "2025-06-18");
    // Hide a's `u`: group one's list and the whole one change, two's not.
    gw.rewrite_config(&config("", "    filters: {tools: {deny: [u]}}\n"));
    let resp = gw.manage("POST", "/manage/v1/reload", None, "");
    assert_eq!(resp.status, 200, "{}", resp.text());
    for client in [&mut one, &mut whole] {
        let msg = client.next_message().expect("list_changed");
        assert_eq!(msg["method"], "notifications/tools/list_changed", "{msg}");
    }
    assert_eq!(one.names(gw.addr, "tools/list", "tools"), ["t", "v"]);
    // Anything for group two was queued during the reload, before this
    // ping's answer: the next message must be the answer.
    let body = r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#;
    assert_eq!(two.post(gw.addr, body).status, 202);
    let next = two.next_message().unwrap();
    assert_eq!(next["id"], "p", "group two heard {next}");
}

#[test]
fn group_paths_have_the_same_guards() {
    let gw = start("incoming_auth: {type: bearer, tokens: [client-token-0123456789]}\n");
    for path in ["/g/one/sse", "/g/one/mcp"] {
        let resp = request(
            gw.addr,
            "GET",
            path,
            &[("Accept", "text/event-stream")],
            b"",
        );
        assert_eq!(resp.status, 401, "{path}");
        let resp = raw(
            gw.addr,
            format!(
                "GET {path} HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer client-token-0123456789\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        assert_eq!(resp.status, 403, "{path}: DNS rebinding guard");
    }
    let mut one = SseClient::open_at(
        gw.addr,
        "/g/one/sse",
        &[("Authorization", "Bearer client-token-0123456789")],
    );
    let body = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#;
    // The POST needs the token too.
    assert_eq!(one.post(gw.addr, body).status, 401);
    let resp = request(
        gw.addr,
        "POST",
        &one.endpoint,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer client-token-0123456789"),
        ],
        body.as_bytes(),
    );
    assert_eq!(resp.status, 202);
    assert_eq!(one.next_message().unwrap()["id"], 0);
}
