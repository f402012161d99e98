//! Every message reaches exactly the right client: backend
//! requests go to the client whose call they serve, subscriptions and log
//! levels are per session, ids reused in flight are refused.

use serde_json::{Value, json};

use crate::support::{Gateway, SseClient, TempDir, fixture_backend, text};

/// A gateway (config preceded by `top`) over fixture backend "a" with
/// `env` (and `extra` backend lines), which logs what it receives; the
/// log's directory and path.
fn logged_gateway(
    top: &str,
    env: &[(&str, &str)],
    extra: &str,
) -> (Gateway, TempDir, std::path::PathBuf) {
    let dir = TempDir::new("routing");
    let log = dir.0.join("received.jsonl");
    let log_text = log.to_string_lossy().into_owned();
    let mut env = env.to_vec();
    env.push(("FIXTURE_LOG", &log_text));
    let config = format!("{top}backends:\n{}", fixture_backend("a", &env, extra));
    (Gateway::start(&config), dir, log)
}

fn sampling_client(gw: &Gateway) -> SseClient {
    let mut c = SseClient::open(gw.addr);
    c.initialize_with(gw.addr, "2025-06-18", json!({"sampling": {}, "roots": {}}));
    c
}

fn post(c: &SseClient, gw: &Gateway, message: Value) {
    assert_eq!(c.post(gw.addr, &message.to_string()).status, 202);
}

/// Reads until the backend's relayed request arrives; it must be `method`.
fn relayed(c: &mut SseClient, method: &str) -> Value {
    let msg = c.next_message().expect("a relayed backend request");
    assert_eq!(msg["method"], method, "{msg}");
    msg
}

fn answer(c: &SseClient, gw: &Gateway, request: &Value, text: &str) {
    post(
        c,
        gw,
        json!({"jsonrpc": "2.0", "id": request["id"], "result": {
            "role": "assistant", "content": {"type": "text", "text": text}, "model": "m"}}),
    );
}

#[test]
fn backend_requests_go_to_the_client_whose_call_they_serve() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("a", &[("FIXTURE_TOOLS", "ask,go,slow")], "")
    );
    let gw = Gateway::start(&config);
    let mut a = sampling_client(&gw);
    let mut b = sampling_client(&gw);
    // A's call asks for sampling only after B has called the same backend,
    // so B is the last caller; A's call is the only one in flight.
    post(
        &a,
        &gw,
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ask","arguments":{"after_go":true}}}),
    );
    let went = b.call(gw.addr, json!(1), "tools/call", json!({"name": "go"}));
    assert_eq!(text(&went), "went");
    let asked = relayed(&mut a, "sampling/createMessage");
    answer(&a, &gw, &asked, "for a");
    let done = a.next_message().expect("A's call completes");
    assert_eq!(done["id"], 1);
    assert!(text(&done).contains("for a"), "{done}");
    // B saw nothing but its own answer.
    let pong = b.call(gw.addr, json!(2), "ping", json!({}));
    assert_eq!(pong["result"], json!({}), "B got something else first");
}

#[test]
fn a_named_request_wins_over_the_most_recent_one_in_flight() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("a", &[("FIXTURE_TOOLS", "ask,go,slow")], "")
    );
    let gw = Gateway::start(&config);
    let mut a = sampling_client(&gw);
    let mut b = sampling_client(&gw);
    let mut c = sampling_client(&gw);
    // A: a call whose request names it (by its progress token); then B's
    // call, more recent and also in flight; then C releases both asks.
    post(
        &a,
        &gw,
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ask","arguments":{"after_go":true,"tag":true},"_meta":{"progressToken":"a-token"}}}),
    );
    post(
        &b,
        &gw,
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ask","arguments":{"after_go":true}}}),
    );
    // Both asks are held by the fixture once this answer is back.
    let went = c.call(gw.addr, json!(9), "tools/call", json!({"name": "go"}));
    assert_eq!(text(&went), "went");
    // A's (tagged) request goes to A although B's call is more recent; B's
    // untagged one goes to the most recent caller in flight: B.
    let for_a = relayed(&mut a, "sampling/createMessage");
    let for_b = relayed(&mut b, "sampling/createMessage");
    answer(&a, &gw, &for_a, "from a");
    answer(&b, &gw, &for_b, "from b");
    let done_a = a.next_message().unwrap();
    let done_b = b.next_message().unwrap();
    assert!(text(&done_a).contains("from a"), "{done_a}");
    assert!(text(&done_b).contains("from b"), "{done_b}");
    let pong = c.call(gw.addr, json!(10), "ping", json!({}));
    assert_eq!(
        pong["result"],
        json!({}),
        "C got a request that was not its own"
    );
}

#[test]
fn backend_pings_are_answered_and_roots_changes_reach_backends() {
    let (gw, _dir, log) = logged_gateway("", &[("FIXTURE_TOOLS", "raw")], "");
    let mut c = sampling_client(&gw);
    let reply = c.call(
        gw.addr,
        json!(1),
        "tools/call",
        json!({"name": "raw", "arguments": {"line": r#"{"jsonrpc":"2.0","id":"p1","method":"ping"}"#}}),
    );
    assert_eq!(text(&reply), "raw sent");
    post(
        &c,
        &gw,
        json!({"jsonrpc":"2.0","method":"notifications/roots/list_changed"}),
    );
    let received = || std::fs::read_to_string(&log).unwrap_or_default();
    let seen = crate::support::wait_until(std::time::Duration::from_secs(5), || {
        let r = received();
        r.contains(r#""id":"p1""#) && r.contains("notifications/roots/list_changed")
    });
    assert!(seen, "backend received: {}", received());
    let pong = received()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|m| m["id"] == "p1")
        .unwrap();
    assert_eq!(pong["result"], json!({}), "{pong}");
}

#[test]
fn an_id_reused_in_flight_over_sse_is_refused() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("a", &[("FIXTURE_TOOLS", "ask,go")], "")
    );
    let gw = Gateway::start(&config);
    let mut c = sampling_client(&gw);
    let held = json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"ask","arguments":{"after_go":true}}});
    post(&c, &gw, held.clone());
    post(&c, &gw, held);
    let refusal = c.next_message().expect("the refusal");
    assert_eq!(refusal["error"]["code"], -32600, "{refusal}");
    assert_eq!(
        refusal["id"],
        Value::Null,
        "must not look like id 5's answer"
    );
    assert!(
        refusal["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already in flight")
    );
    let went = c.call(gw.addr, json!(6), "tools/call", json!({"name": "go"}));
    assert_eq!(text(&went), "went");
    let asked = relayed(&mut c, "sampling/createMessage");
    answer(&c, &gw, &asked, "x");
    let done = c.next_message().unwrap();
    assert_eq!(done["id"], 5);
}

/// The messages a fixture backend received, from its `FIXTURE_LOG`.
fn received(log: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn methods_received(log: &std::path::Path, method: &str) -> Vec<Value> {
    received(log)
        .into_iter()
        .filter(|m| m["method"] == method)
        .map(|m| m["params"].clone())
        .collect()
}

#[test]
fn subscriptions_are_reference_counted_across_sessions() {
    let (gw, _dir, log) = logged_gateway(
        "sse_resilience: {cleanup_deadline: 1}\n",
        &[
            ("FIXTURE_TOOLS", "notify"),
            ("FIXTURE_RESOURCES", "file:///shared"),
        ],
        "",
    );
    let mut a = sampling_client(&gw);
    let mut b = sampling_client(&gw);
    let uri = json!({"uri": "file:///shared"});
    let subscribe = |c: &mut SseClient, id: i64| {
        let r = c.call(gw.addr, json!(id), "resources/subscribe", uri.clone());
        assert_eq!(r["result"], json!({}), "{r}");
    };
    subscribe(&mut a, 1);
    subscribe(&mut b, 1);
    subscribe(&mut a, 2);
    // A leaves: B's subscription holds, so the backend is not told.
    let r = a.call(gw.addr, json!(3), "resources/unsubscribe", uri.clone());
    assert_eq!(r["result"], json!({}));
    let pong = b.call(gw.addr, json!(4), "ping", json!({}));
    assert_eq!(pong["id"], 4);
    assert_eq!(
        methods_received(&log, "resources/subscribe"),
        std::slice::from_ref(&uri),
        "one subscribe for two sessions"
    );
    assert!(methods_received(&log, "resources/unsubscribe").is_empty());
    // B still gets the updates; A does not.
    let notify =
        json!({"name": "notify", "arguments": {"level": "error", "uri": "file:///shared"}});
    let done = a.call(gw.addr, json!(5), "tools/call", notify);
    assert_eq!(text(&done), "notified");
    let update = b.next_message().expect("B's update");
    assert_eq!(update["method"], "notifications/resources/updated");
    let pong = a.call(gw.addr, json!(6), "ping", json!({}));
    assert_eq!(pong["id"], 6, "A got an update after unsubscribing");
    // B's session ends: its subscription is released at the backend.
    drop(b);
    let released = crate::support::wait_until(std::time::Duration::from_secs(10), || {
        methods_received(&log, "resources/unsubscribe") == [uri.clone()]
    });
    assert!(released, "backend received: {:?}", received(&log));
}

#[test]
fn log_levels_are_per_session_and_the_backend_runs_at_the_most_verbose() {
    let (gw, _dir, log) = logged_gateway(
        "sse_resilience: {cleanup_deadline: 1}\n",
        &[("FIXTURE_TOOLS", "notify")],
        "",
    );
    let mut verbose = sampling_client(&gw);
    let mut quiet = sampling_client(&gw);
    let set = |c: &mut SseClient, level: &str| {
        let r = c.call(
            gw.addr,
            json!(level),
            "logging/setLevel",
            json!({"level": level}),
        );
        assert_eq!(r["result"], json!({}), "{r}");
    };
    set(&mut verbose, "debug");
    set(&mut quiet, "error");
    let levels = || -> Vec<Value> {
        methods_received(&log, "logging/setLevel")
            .into_iter()
            .map(|p| p["level"].clone())
            .collect()
    };
    // The later, quieter session must not silence the backend.
    let pong = quiet.call(gw.addr, json!(1), "ping", json!({}));
    assert_eq!(pong["id"], 1);
    assert!(crate::support::wait_until(
        std::time::Duration::from_secs(5),
        || levels() == [json!("debug")]
    ));
    let info = json!({"name": "notify", "arguments": {"level": "info", "uri": "file:///none"}});
    let done = quiet.call(gw.addr, json!(2), "tools/call", info);
    assert_eq!(text(&done), "notified");
    let got = verbose.next_message().expect("the info log");
    assert_eq!(got["params"]["level"], "info", "{got}");
    let pong = quiet.call(gw.addr, json!(3), "ping", json!({}));
    assert_eq!(pong["id"], 3, "the error-level session got an info log");
    // The verbose session leaves: the backend drops to the next level wanted.
    drop(verbose);
    assert!(
        crate::support::wait_until(std::time::Duration::from_secs(10), || levels()
            == [json!("debug"), json!("error")]),
        "levels set: {:?}",
        levels()
    );
}

#[test]
fn a_restarted_backend_hears_the_sessions_level_and_subscriptions_again() {
    let (gw, _dir, log) = logged_gateway(
        "",
        &[
            ("FIXTURE_TOOLS", "crash"),
            ("FIXTURE_RESOURCES", "file:///kept"),
        ],
        "    timeouts: {retry_delay: 0.2}\n",
    );
    let mut c = sampling_client(&gw);
    let r = c.call(
        gw.addr,
        json!(1),
        "logging/setLevel",
        json!({"level": "info"}),
    );
    assert_eq!(r["result"], json!({}));
    let r = c.call(
        gw.addr,
        json!(2),
        "resources/subscribe",
        json!({"uri": "file:///kept"}),
    );
    assert_eq!(r["result"], json!({}));
    let crash = c.call(gw.addr, json!(3), "tools/call", json!({"name": "crash"}));
    assert_eq!(crash["result"]["isError"], true, "{crash}");
    // The second process (same log file) is told again.
    let told = crate::support::wait_until(std::time::Duration::from_secs(15), || {
        methods_received(&log, "logging/setLevel").len() == 2
            && methods_received(&log, "resources/subscribe").len() == 2
    });
    assert!(told, "backend received: {:?}", received(&log));
    assert_eq!(
        methods_received(&log, "logging/setLevel")[1]["level"],
        "info"
    );
    assert_eq!(
        methods_received(&log, "resources/subscribe")[1]["uri"],
        "file:///kept"
    );
}

#[test]
fn subscriptions_per_session_are_capped() {
    // Every `file:///<n>` is the fixture's, through its template.
    let (gw, _dir, _log) = logged_gateway("", &[("FIXTURE_TEMPLATES", "file:///{n}")], "");
    let mut c = sampling_client(&gw);
    const MAX: usize = 1000;
    let sub = |c: &mut SseClient, n: usize| {
        c.call(
            gw.addr,
            json!(n),
            "resources/subscribe",
            json!({"uri": format!("file:///{n}")}),
        )
    };
    for n in 0..MAX {
        assert_eq!(sub(&mut c, n)["result"], json!({}), "subscription {n}");
    }
    let over = sub(&mut c, MAX);
    assert_eq!(over["error"]["code"], -32602, "{over}");
    assert!(
        over["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many subscriptions")
    );
    // Subscribing again to one it holds is fine; so is one more after a release.
    assert_eq!(sub(&mut c, 0)["result"], json!({}));
    let unsub = c.call(
        gw.addr,
        json!("u"),
        "resources/unsubscribe",
        json!({"uri": "file:///1"}),
    );
    assert_eq!(unsub["result"], json!({}));
    assert_eq!(sub(&mut c, MAX)["result"], json!({}));
}
