//! Groups as virtual servers: `/g/<group>/{sse,messages/,mcp}` serve only
//! that group's backends with their own catalog, their own `list_changed`,
//! resource subscriptions, updates and log levels, and the same guards; a
//! session, a listen stream and a bridged call's state belong to the path
//! (and the caller) that opened them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    Gateway, Resp, SseClient, TempDir, fixture_backend, raw, request, text, wait_until,
};

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

/// Backends a (group one) and b (group two), each with the `notify` and
/// `ask` tools, a resource of its own and `file:///shared`, each logging
/// what it receives; the whole gateway's `file:///shared` is a's
/// (first-wins). `top` goes before `backends`.
fn resource_groups(top: &str) -> (Gateway, TempDir, PathBuf, PathBuf) {
    let dir = TempDir::new("group-resources");
    let logs = [dir.0.join("a.jsonl"), dir.0.join("b.jsonl")];
    let backend = |name: &str, group: &str, log: &PathBuf| {
        let resources = format!("file:///{name},file:///shared");
        fixture_backend(
            name,
            &[
                ("FIXTURE_TOOLS", "notify,ask"),
                ("FIXTURE_RESOURCES", &resources),
                ("FIXTURE_LOG", &log.to_string_lossy()),
            ],
            &format!("    group: {group}\n"),
        )
    };
    let config = format!(
        "{top}backends:\n{}{}",
        backend("a", "one", &logs[0]),
        backend("b", "two", &logs[1])
    );
    let gw = Gateway::start(&config);
    assert!(wait_until(Duration::from_secs(20), || {
        gw.manage("GET", "/manage/v1/ready", None, "").status == 200
    }));
    let [a, b] = logs;
    (gw, dir, a, b)
}

/// The params of every `method` a fixture backend received (its log).
fn received(log: &Path, method: &str) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["method"] == method)
        .map(|m| m["params"].clone())
        .collect()
}

/// The `uri` of every `method` a fixture backend received.
fn uris(log: &Path, method: &str) -> Vec<String> {
    received(log, method)
        .iter()
        .map(|p| p["uri"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Posts a request and reads until its answer and `notes` notifications
/// have come, in whatever order; returns the notifications.
fn call_and_hear(
    c: &mut SseClient,
    gw: &Gateway,
    id: &str,
    method: &str,
    params: Value,
    notes: usize,
) -> Vec<Value> {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    assert_eq!(c.post(gw.addr, &body.to_string()).status, 202);
    let (mut answered, mut heard) = (false, Vec::new());
    while !answered || heard.len() < notes {
        let msg = c.next_message().expect("an answer or a notification");
        if msg["id"] == id {
            assert!(msg.get("result").is_some(), "{msg}");
            answered = true;
        } else {
            heard.push(msg);
        }
    }
    heard
}

/// The next message `c` gets must be the answer to a ping: nothing was
/// queued for it before.
fn hears_nothing_more(c: &mut SseClient, gw: &Gateway, who: &str) {
    let body = json!({"jsonrpc": "2.0", "id": "quiet", "method": "ping"});
    assert_eq!(c.post(gw.addr, &body.to_string()).status, 202);
    let next = c.next_message().unwrap();
    assert_eq!(next["id"], "quiet", "{who} heard {next}");
}

#[test]
fn resource_subscriptions_and_log_levels_stay_within_their_group() {
    let (gw, _dir, a_log, b_log) = resource_groups("");
    let mut one = SseClient::open_at(gw.addr, "/g/one/sse", &[]);
    one.initialize(gw.addr, "2025-06-18");
    let mut two = SseClient::open_at(gw.addr, "/g/two/sse", &[]);
    two.initialize(gw.addr, "2025-06-18");
    let mut whole = SseClient::open(gw.addr);
    whole.initialize(gw.addr, "2025-06-18");
    let uri = |u: &str| json!({"uri": u});

    // Group two's resource is unknown in group one: a read of it is not
    // found, and a subscription gets what one to a URI nobody serves gets,
    // and nothing is counted.
    let read = one.call(gw.addr, json!(2), "resources/read", uri("file:///b"));
    assert_eq!(read["error"]["code"], -32002, "{read}");
    let nowhere = one.call(
        gw.addr,
        json!(0),
        "resources/subscribe",
        uri("file:///nowhere"),
    );
    let sub = one.call(gw.addr, json!(1), "resources/subscribe", uri("file:///b"));
    assert_eq!(sub["result"], nowhere["result"], "{sub}");
    assert_eq!(sub.get("error"), nowhere.get("error"), "{sub}");
    // So group two's own subscription reaches b.
    let sub = two.call(gw.addr, json!(1), "resources/subscribe", uri("file:///b"));
    assert_eq!(sub["result"], json!({}), "{sub}");
    // `file:///shared` is a's in group one and b's in group two: each
    // backend hears its own group's subscription.
    for c in [&mut one, &mut two] {
        let sub = c.call(
            gw.addr,
            json!(3),
            "resources/subscribe",
            uri("file:///shared"),
        );
        assert_eq!(sub["result"], json!({}), "{sub}");
    }
    assert_eq!(uris(&a_log, "resources/subscribe"), ["file:///shared"]);
    assert_eq!(
        uris(&b_log, "resources/subscribe"),
        ["file:///b", "file:///shared"]
    );

    // Interest in b's resource is counted across every session that sees
    // it: the whole gateway's too.
    let sub = whole.call(gw.addr, json!(1), "resources/subscribe", uri("file:///b"));
    assert_eq!(sub["result"], json!({}), "{sub}");
    let unsub = two.call(gw.addr, json!(4), "resources/unsubscribe", uri("file:///b"));
    assert_eq!(unsub["result"], json!({}), "{unsub}");
    assert!(uris(&b_log, "resources/unsubscribe").is_empty());
    let unsub = whole.call(gw.addr, json!(2), "resources/unsubscribe", uri("file:///b"));
    assert_eq!(unsub["result"], json!({}), "{unsub}");
    assert_eq!(uris(&b_log, "resources/unsubscribe"), ["file:///b"]);
    assert_eq!(
        uris(&b_log, "resources/subscribe").len(),
        2,
        "one subscribe for two sessions"
    );

    // Log levels: each group's backends run at what its sessions asked.
    let level = |c: &mut SseClient, level: &str| {
        let r = c.call(
            gw.addr,
            json!(level),
            "logging/setLevel",
            json!({"level": level}),
        );
        assert_eq!(r["result"], json!({}), "{r}");
    };
    level(&mut one, "debug");
    level(&mut two, "error");
    let levels = |log: &Path| -> Vec<Value> {
        received(log, "logging/setLevel")
            .iter()
            .map(|p| p["level"].clone())
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(10), || levels(&a_log)
            == [json!("debug")]
            && levels(&b_log) == [json!("error")]),
        "a: {:?}, b: {:?}",
        levels(&a_log),
        levels(&b_log)
    );

    // b logs and updates `file:///shared`: only group two hears it (its
    // update, and its log at error level); group one, subscribed to a's
    // `file:///shared` and at debug level, hears nothing of b's.
    let notify = |level: &str| json!({"name": "notify", "arguments": {"level": level, "uri": "file:///shared"}});
    let heard = call_and_hear(&mut two, &gw, "n1", "tools/call", notify("error"), 2);
    let methods: Vec<&Value> = heard.iter().map(|m| &m["method"]).collect();
    assert_eq!(
        methods,
        ["notifications/message", "notifications/resources/updated"],
        "{heard:?}"
    );
    assert_eq!(heard[0]["params"]["logger"], "b");
    // A second round from b: once two has heard its log, everything b
    // sent before has been relayed to every session.
    call_and_hear(&mut two, &gw, "n2", "tools/call", notify("error"), 2);
    hears_nothing_more(&mut one, &gw, "group one");
    // And a's: group one hears it, group two does not.
    let heard = call_and_hear(&mut one, &gw, "n3", "tools/call", notify("info"), 2);
    assert_eq!(heard[0]["params"]["logger"], "a", "{heard:?}");
    call_and_hear(&mut one, &gw, "n4", "tools/call", notify("info"), 2);
    hears_nothing_more(&mut two, &gw, "group two");
}

#[test]
fn listen_streams_take_and_get_only_their_groups_resources() {
    use crate::support::modern::{call, listen, next_note};
    let (gw, _dir, _a_log, _b_log) = resource_groups("");
    let asked = json!({"resourceSubscriptions": ["file:///a", "file:///b", "file:///shared"]});
    let (mut one, mut one_buf) = (
        listen(&gw, "/g/one/mcp", &[], 1, asked.clone()),
        String::new(),
    );
    let (mut whole, mut whole_buf) = (listen(&gw, "/mcp", &[], 2, asked), String::new());
    // Registration: group one takes its own resources only.
    let ack = next_note(&mut one, &mut one_buf);
    assert_eq!(
        ack["params"]["notifications"],
        json!({"resourceSubscriptions": ["file:///a", "file:///shared"]}),
        "{ack}"
    );
    let ack = next_note(&mut whole, &mut whole_buf);
    assert_eq!(
        ack["params"]["notifications"]["resourceSubscriptions"],
        json!(["file:///a", "file:///b", "file:///shared"]),
        "{ack}"
    );
    let notify = |path: &str, uri: &str| {
        let r = call(
            &gw,
            path,
            3,
            "tools/call",
            json!({"name": "notify", "arguments": {"level": "debug", "uri": uri}}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    };
    // Delivery: b's update of `file:///shared` is not the whole gateway's
    // (a serves it there), nor group one's; b's `file:///b` is the
    // whole gateway's only.
    notify("/g/two/mcp", "file:///shared");
    notify("/g/two/mcp", "file:///b");
    let note = next_note(&mut whole, &mut whole_buf);
    assert_eq!(note["params"]["uri"], "file:///b", "{note}");
    // b's updates have been relayed to every stream: group one's next is a's.
    notify("/g/one/mcp", "file:///a");
    let note = next_note(&mut one, &mut one_buf);
    assert_eq!(note["method"], "notifications/resources/updated", "{note}");
    assert_eq!(note["params"]["uri"], "file:///a", "{note}");
    assert_eq!(
        note["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        1
    );
}

/// A 2026-07-28 `tools/call` of `ask` at `path` with `token`, declaring
/// sampling, with these extra params (`inputResponses`, `requestState`).
fn ask_at(gw: &Gateway, path: &str, token: &str, id: i64, extra: Value) -> Resp {
    use crate::support::modern::{MODERN, meta, post};
    let mut params = json!({"name": "ask", "arguments": {"text": "hello?"}});
    for (k, v) in extra.as_object().unwrap() {
        params[k] = v.clone();
    }
    params["_meta"] = meta();
    params["_meta"]["io.modelcontextprotocol/clientCapabilities"] = json!({"sampling": {}});
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params});
    let auth = format!("Bearer {token}");
    let headers = [
        ("MCP-Protocol-Version", MODERN),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "ask"),
        ("Authorization", auth.as_str()),
    ];
    post(gw, path, &headers, &body)
}

#[test]
fn bridged_request_state_is_bound_to_its_endpoint_and_caller() {
    let (gw, _dir, _a_log, _b_log) = resource_groups(
        "incoming_auth: {type: bearer, tokens: [token-one-0123456789, token-two-0123456789]}\n",
    );
    let (first, second) = ("token-one-0123456789", "token-two-0123456789");
    let asked = ask_at(&gw, "/g/one/mcp", first, 1, json!({}));
    assert_eq!(asked.status, 200, "{}", asked.text());
    let r = asked.json()["result"].clone();
    assert_eq!(r["resultType"], "input_required", "{r}");
    let (key, _) = r["inputRequests"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    let state = r["requestState"].as_str().unwrap().to_owned();
    let answer = json!({key.clone(): {"role": "assistant", "model": "m",
        "content": {"type": "text", "text": "forty-two"}}});
    let retry = |path: &str, token: &str, id: i64, state: &str| {
        ask_at(
            &gw,
            path,
            token,
            id,
            json!({"inputResponses": answer, "requestState": state}),
        )
    };
    // What tampered state gets...
    let mut forged = state.clone();
    let last = if forged.ends_with('0') { "1" } else { "0" };
    forged.replace_range(forged.len() - 1.., last);
    let tampered = retry("/g/one/mcp", first, 2, &forged);
    assert_eq!(tampered.status, 400, "{}", tampered.text());
    let refusal = tampered.json()["error"].clone();
    assert_eq!(refusal["code"], -32602, "{refusal}");
    // ...so does the real state from another endpoint or another caller.
    for (path, token) in [
        ("/g/two/mcp", first),
        ("/mcp", first),
        ("/g/one/mcp", second),
    ] {
        let elsewhere = retry(path, token, 3, &state);
        assert_eq!(elsewhere.status, 400, "{path}: {}", elsewhere.text());
        assert_eq!(
            elsewhere.json()["error"],
            refusal,
            "{path} with another token: {}",
            elsewhere.text()
        );
    }
    // The call still waits for its own caller, where it was asked.
    let done = retry("/g/one/mcp", first, 4, &state);
    assert_eq!(done.status, 200, "{}", done.text());
    let r = done.json();
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("forty-two"), "{text}");
}
