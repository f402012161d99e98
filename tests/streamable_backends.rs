//! Streamable HTTP backends: a scripted fake (JSON and SSE answers, session
//! and version headers, re-initialize after the server forgets the session,
//! DELETE on shutdown) and real servers (server-everything in
//! `streamableHttp` mode, a Python SDK server), killed and restarted.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::fake_http::FakeHttp;
use crate::support::{
    Gateway, LocalServer, SseClient, fixture_backend, free_port, python, text, wait_until,
};

fn config(url: &str) -> String {
    format!(
        "backends:\n  remote:\n    type: streamable-http\n    url: {url}\n    timeouts: {{retry_delay: 0.2, init: 10}}\n{}",
        fixture_backend("local", &[("FIXTURE_TOOLS", "local_tool")], "")
    )
}

#[test]
fn fake_server_json_sse_headers_reinit_and_delete() {
    let fake = FakeHttp::start();
    let mut gw = Gateway::start(&config(&fake.url()));
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    assert_eq!(
        c.names(gw.addr, "tools/list", "tools"),
        ["plain", "slow", "streamed", "polled", "local_tool"]
    );
    let plain = c.call(gw.addr, json!(1), "tools/call", json!({"name": "plain"}));
    assert_eq!(text(&plain), "fake \"plain\"");
    // An SSE answer with progress first: the progress reaches the caller with its token.
    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"streamed","_meta":{"progressToken":"mine"}}});
    assert_eq!(c.post(gw.addr, &call.to_string()).status, 202);
    for i in 1..=2 {
        let note = c.next_message().unwrap();
        assert_eq!(
            (
                note["params"]["progressToken"].clone(),
                note["params"]["progress"].clone()
            ),
            (json!("mine"), json!(i))
        );
    }
    assert_eq!(text(&c.next_message().unwrap()), "fake streamed");
    // First the 2026-07-28 probe (no session: this server is 2025-era),
    // then `initialize`; after it every POST carries the session id and
    // the version.
    let seen = fake.state.seen.lock().unwrap().clone();
    assert_eq!(seen[0], (None, Some("2026-07-28".into())), "the probe");
    assert!(seen[1].0.is_none(), "initialize carries no session id");
    assert!(
        seen[2..]
            .iter()
            .all(|(s, v)| s.as_deref() == Some("fake-session-0")
                && v.as_deref() == Some("2025-11-25")),
        "{seen:?}"
    );
    // The server forgets the session: the next call re-initializes and succeeds.
    fake.forget_sessions();
    let again = c.call(gw.addr, json!(3), "tools/call", json!({"name": "plain"}));
    assert_eq!(text(&again), "fake \"plain\"");
    assert_eq!(
        fake.state
            .initializes
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    // Shutdown DELETEs the session.
    gw.signal("TERM");
    assert_eq!(gw.wait_exit(Duration::from_secs(10)), Some(0));
    assert_eq!(*fake.state.deleted.lock().unwrap(), ["fake-session-1"]);
}

/// Uses `tool` through the gateway, restarts the server, uses it again.
fn round_trip_with_restart(
    start: impl Fn() -> LocalServer,
    url: &str,
    tool: &str,
    args: Value,
    expect: &str,
) {
    let server = start();
    let gw = Gateway::start(&config(url));
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    assert!(
        c.names(gw.addr, "tools/list", "tools")
            .iter()
            .any(|t| t == tool)
    );
    let call = |c: &mut SseClient, id: i64| {
        c.call(
            gw.addr,
            json!(id),
            "tools/call",
            json!({"name": tool, "arguments": args}),
        )
    };
    assert!(text(&call(&mut c, 1)).contains(expect));
    drop(server);
    let _server = start();
    // The old session is gone: the gateway re-initializes (or reconnects) by itself.
    let mut n = 1;
    assert!(
        wait_until(Duration::from_secs(20), || {
            n += 1;
            text(&call(&mut c, n)).contains(expect)
        }),
        "no recovery: {}",
        gw.stderr()
    );
}

#[test]
fn server_everything_streamable_http_with_restart() {
    let port = free_port();
    let modules = std::env::var("ARGUS_NODE_MODULES").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/.test-env/node/node_modules").to_owned()
    });
    let start = || {
        let mut cmd = Command::new(format!("{modules}/.bin/mcp-server-everything"));
        cmd.arg("streamableHttp").env("PORT", port.to_string());
        LocalServer::start(cmd, port)
    };
    round_trip_with_restart(
        start,
        &format!("http://127.0.0.1:{port}/mcp"),
        "echo",
        json!({"message": "streamed hi"}),
        "streamed hi",
    );
}

#[test]
fn python_sdk_streamable_http_server_with_restart() {
    let port = free_port();
    let start = || {
        let mut cmd = Command::new(python());
        cmd.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/http_server.py"
        ))
        .arg(port.to_string());
        LocalServer::start(cmd, port)
    };
    round_trip_with_restart(
        start,
        &format!("http://127.0.0.1:{port}/mcp"),
        "multiply",
        json!({"a": 6, "b": 7}),
        "python multiplies to 42",
    );
}

#[test]
fn a_slow_call_does_not_hold_up_others_on_the_same_backend() {
    let fake = FakeHttp::start();
    let gw = Gateway::start(&config(&fake.url()));
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let slow = json!({"jsonrpc":"2.0","id":"slow","method":"tools/call","params":{"name":"slow"}});
    let fast = json!({"jsonrpc":"2.0","id":"fast","method":"tools/call","params":{"name":"plain"}});
    assert_eq!(c.post(gw.addr, &slow.to_string()).status, 202);
    assert_eq!(c.post(gw.addr, &fast.to_string()).status, 202);
    let first = c.next_message().unwrap();
    let second = c.next_message().unwrap();
    assert_eq!(
        (first["id"].clone(), second["id"].clone()),
        (json!("fast"), json!("slow"))
    );
    assert_eq!(text(&second), "fake slow");
}

#[test]
fn an_answer_stream_ended_early_is_resumed_with_last_event_id() {
    let fake = FakeHttp::start();
    let gw = Gateway::start(&config(&fake.url()));
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let call = json!({"jsonrpc":"2.0","id":"p","method":"tools/call","params":{"name":"polled","_meta":{"progressToken":"tok"}}});
    assert_eq!(c.post(gw.addr, &call.to_string()).status, 202);
    // The progress from the first stream, then the answer from the resumed one.
    let first = c.next_message().expect("progress");
    assert_eq!(first["method"], "notifications/progress", "{first}");
    assert_eq!(first["params"]["progressToken"], "tok");
    let answer = c
        .next_message()
        .expect("the answer, well before the call timeout");
    assert_eq!(answer["id"], "p", "{answer}");
    assert_eq!(text(&answer), "fake polled");
    let resumed = fake.state.resumed.lock().unwrap().clone();
    assert_eq!(resumed.len(), 1, "{resumed:?}");
    assert!(
        resumed[0].ends_with("-1"),
        "resumed after the last event: {resumed:?}"
    );
}

/// More calls than the backend has POST workers, each waiting for the
/// client's answer to a sampling request: those answers must not queue
/// behind the calls that wait for them.
#[test]
fn the_writer_never_waits_behind_calls_that_wait_for_it() {
    let port = free_port();
    let mut cmd = Command::new(python());
    cmd.args([
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/mixed_server.py"),
        &port.to_string(),
        "streamable-http",
        "http",
    ]);
    let _server = LocalServer::start(cmd, port);
    let config = format!(
        "backends:\n  http:\n    type: streamable-http\n    url: http://127.0.0.1:{port}/mcp\n    timeouts: {{call: 60}}\n"
    );
    let gw = Gateway::start(&config);
    let mut c = SseClient::open(gw.addr);
    c.initialize_with(gw.addr, "2025-06-18", json!({"sampling": {}}));
    let calls = argus_mcp::limits::MAX_CONCURRENT_POSTS + 8;
    for i in 0..calls {
        let call = json!({"jsonrpc":"2.0","id":i,"method":"tools/call","params":{"name":"sample","arguments":{"tag":format!("t{i}")}}});
        assert_eq!(c.post(gw.addr, &call.to_string()).status, 202);
    }
    let mut done = 0;
    while done < calls {
        let msg = c.next_message().expect("every call completes");
        if msg["method"] == "sampling/createMessage" {
            let prompt = msg["params"]["messages"][0]["content"]["text"].clone();
            let answer = json!({"jsonrpc":"2.0","id":msg["id"],"result":{"role":"assistant","model":"m","content":{"type":"text","text":prompt}}});
            assert_eq!(c.post(gw.addr, &answer.to_string()).status, 202);
        } else if msg.get("id").is_some() {
            let t = text(&msg);
            assert_eq!(t, format!("http:sampled t{}", msg["id"]), "{msg}");
            done += 1;
        }
    }
}
