//! SSE backends (legacy HTTP+SSE upstreams): a hostile test server, real SDK
//! servers, launched servers, reconnects and outgoing auth. A stdio fixture
//! backend runs beside each SSE backend to show the gateway keeps serving it.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::fake_sse::{Endpoint, FakeSse, TokenServer};
use crate::support::{
    Gateway, SseClient, children, fixture_backend, free_port, python, text, wait_until,
};

fn config_with(sse_backend: &str) -> String {
    format!(
        "backends:\n{sse_backend}{}",
        fixture_backend("local", &[("FIXTURE_TOOLS", "local_tool")], "")
    )
}

fn sse_entry(name: &str, url: &str, extra: &str) -> String {
    format!(
        "  {name}:\n    type: sse\n    url: {url}\n    timeouts: {{retry_delay: 0.2, init: 5}}\n{extra}"
    )
}

fn tools(c: &mut SseClient, gw: &Gateway) -> Vec<String> {
    c.names(gw.addr, "tools/list", "tools")
}

fn call(c: &mut SseClient, gw: &Gateway, name: &str) -> Value {
    c.call(
        gw.addr,
        json!(name),
        "tools/call",
        json!({"name": name, "arguments": {"n": 1}}),
    )
}

#[test]
fn hostile_framing_relative_and_absolute_endpoints() {
    for endpoint in [Endpoint::Relative, Endpoint::Absolute] {
        let fake = FakeSse::start(endpoint);
        let gw = Gateway::start(&config_with(&sse_entry("hostile", &fake.url(), "")));
        let mut c = SseClient::open(gw.addr);
        c.initialize(gw.addr, "2025-06-18");
        assert_eq!(
            tools(&mut c, &gw),
            [
                "hostile_echo",
                "drop",
                "huge",
                "hang",
                "stall_post",
                "local_tool"
            ],
            "{endpoint:?}"
        );
        assert_eq!(
            text(&call(&mut c, &gw, "hostile_echo")),
            "hostile:{\"n\":1}"
        );
        assert_eq!(
            text(&call(&mut c, &gw, "local_tool")),
            "local:local_tool:{\"n\":1}"
        );
    }
}

#[test]
fn a_foreign_endpoint_is_refused_and_the_rest_serves() {
    let fake = FakeSse::start(Endpoint::Foreign);
    let gw = Gateway::start(&config_with(&sse_entry("foreign", &fake.url(), "")));
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    assert_eq!(tools(&mut c, &gw), ["local_tool"]);
    assert!(
        wait_until(Duration::from_secs(5), || gw
            .stderr()
            .contains("another origin")),
        "{}",
        gw.stderr()
    );
}

#[test]
fn a_dropped_stream_fails_calls_promptly_and_reconnects() {
    let fake = FakeSse::start(Endpoint::Relative);
    let gw = Gateway::start(&config_with(&sse_entry("flaky", &fake.url(), "")));
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    assert_eq!(fake.streams(), 1);
    let started = Instant::now();
    let reply = call(&mut c, &gw, "drop");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(reply["result"]["isError"], true);
    assert!(
        text(&reply).contains("\"flaky\"") && text(&reply).contains("ended the SSE stream"),
        "{reply}"
    );
    // A new stream, a new session, re-initialized and re-discovered.
    assert!(wait_until(Duration::from_secs(10), || fake.streams() >= 2
        && tools(&mut c, &gw).contains(&"hostile_echo".to_owned())));
    assert_eq!(
        text(&call(&mut c, &gw, "hostile_echo")),
        "hostile:{\"n\":1}"
    );
    assert_eq!(
        text(&call(&mut c, &gw, "local_tool")),
        "local:local_tool:{\"n\":1}"
    );
}

#[test]
fn a_20_mb_event_is_refused_cleanly() {
    let fake = FakeSse::start(Endpoint::Relative);
    let gw = Gateway::start(&config_with(&sse_entry("big", &fake.url(), "")));
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let reply = call(&mut c, &gw, "huge");
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    // The log line may reach our stderr reader a moment after the reply.
    assert!(
        wait_until(Duration::from_secs(5), || gw
            .stderr()
            .contains("SSE event larger than 16777216 bytes")),
        "{}",
        gw.stderr()
    );
    assert!(wait_until(Duration::from_secs(10), || fake.streams() >= 2
        && tools(&mut c, &gw).contains(&"huge".to_owned())));
    assert_eq!(
        text(&call(&mut c, &gw, "local_tool")),
        "local:local_tool:{\"n\":1}"
    );
}

#[test]
fn post_errors_fail_the_request_naming_the_backend() {
    let fake = FakeSse::start(Endpoint::Relative);
    let gw = Gateway::start(&config_with(&sse_entry("grumpy", &fake.url(), "")));
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    *fake.state.post_status.lock().unwrap() = Some(500);
    let reply = call(&mut c, &gw, "hostile_echo");
    assert_eq!(reply["result"]["isError"], true);
    let t = text(&reply);
    assert!(t.contains("\"grumpy\"") && t.contains("HTTP 500"), "{t}");
    *fake.state.post_status.lock().unwrap() = None;
    assert_eq!(
        text(&call(&mut c, &gw, "hostile_echo")),
        "hostile:{\"n\":1}"
    );
}

/// A server slow to take one POST (it holds the request before its 202)
/// must not hold up the calls behind it: requests are POSTed concurrently.
#[test]
fn a_post_the_server_is_slow_to_take_does_not_hold_up_the_next_calls() {
    let fake = FakeSse::start(Endpoint::Relative);
    let gw = Gateway::start(&config_with(&sse_entry("slow", &fake.url(), "")));
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let stall =
        json!({"jsonrpc":"2.0","id":"stall","method":"tools/call","params":{"name":"stall_post"}});
    assert_eq!(c.post(gw.addr, &stall.to_string()).status, 202);
    assert!(
        wait_until(Duration::from_secs(10), || fake
            .state
            .stalled
            .load(Ordering::SeqCst)
            == 1),
        "the stalled POST reached the server"
    );
    for _ in 0..3 {
        assert_eq!(
            text(&call(&mut c, &gw, "hostile_echo")),
            "hostile:{\"n\":1}",
            "answered while the first POST is still held"
        );
    }
    assert_eq!(fake.state.stalled.load(Ordering::SeqCst), 1, "still held");
    fake.state.release();
    let answer = c.next_message().expect("the stalled call's answer");
    assert_eq!(answer["id"], "stall", "{answer}");
}

#[test]
fn posts_go_out_on_kept_alive_connections() {
    // A server that keeps connections: the POSTs of 40 calls, one after
    // the other, reuse them (the 202's body is read to its end, or the
    // connection could not be reused).
    let fake = FakeSse::start(Endpoint::Relative);
    fake.state.keep_alive.store(true, Ordering::SeqCst);
    let gw = Gateway::start(&config_with(&sse_entry("kept", &fake.url(), "")));
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    for _ in 0..40 {
        assert_eq!(
            text(&call(&mut c, &gw, "hostile_echo")),
            "hostile:{\"n\":1}"
        );
    }
    let posts = fake.state.posts.load(Ordering::SeqCst);
    let connections = fake.state.connections.load(Ordering::SeqCst);
    assert!(posts >= 42, "{posts} POSTs");
    // The stream's, and a few for POSTs that overlapped.
    assert!(
        connections <= 6,
        "{connections} connections for {posts} POSTs"
    );
}

#[test]
fn static_auth_and_headers_with_variables() {
    let fake = FakeSse::start(Endpoint::Relative);
    *fake.state.required_auth.lock().unwrap() = Some("Bearer s3cret".into());
    let entry = sse_entry(
        "locked",
        &fake.url(),
        "    headers: {Authorization: wrong, X-Team: search}\n    auth:\n      type: static\n      headers: {Authorization: \"Bearer ${API_TOKEN}\"}\n",
    );
    let gw = Gateway::start_with(&config_with(&entry), &["-vv"], &[("API_TOKEN", "s3cret")]);
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    assert_eq!(
        text(&call(&mut c, &gw, "hostile_echo")),
        "hostile:{\"n\":1}"
    );
    assert_eq!(
        fake.state
            .unauthorized
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert!(!gw.stderr().contains("s3cret"), "a secret reached the log");
}

#[test]
fn oauth2_token_is_cached_refreshed_on_401_and_on_expiry() {
    let fake = FakeSse::start(Endpoint::Relative);
    *fake.state.required_auth.lock().unwrap() = Some("Bearer none-yet".into());
    // expires_in 3600 with the default 300 s buffer: cached for the test.
    let tokens = TokenServer::start(fake.state.clone(), 3600);
    let entry = sse_entry(
        "oauth",
        &fake.url(),
        &format!(
            "    auth:\n      type: oauth2\n      token_url: {}\n      client_id: argus\n      client_secret: \"p@ss word\"\n      scopes: [mcp, read]\n",
            tokens.url()
        ),
    );
    let gw = Gateway::start_with(&config_with(&entry), &["-vv"], &[]);
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    assert_eq!(
        text(&call(&mut c, &gw, "hostile_echo")),
        "hostile:{\"n\":1}"
    );
    assert_eq!(tokens.issued(), 1, "one token for the GET and every POST");
    let form = tokens.last_form.lock().unwrap().clone();
    assert_eq!(
        form,
        "grant_type=client_credentials&client_id=argus&client_secret=p%40ss+word&scope=mcp+read"
    );
    // The server revokes it: the next POST gets 401, a new token, a retry.
    tokens.revoke(&fake.state);
    assert_eq!(
        text(&call(&mut c, &gw, "hostile_echo")),
        "hostile:{\"n\":1}"
    );
    assert_eq!(tokens.issued(), 2);
    assert!(
        !gw.stderr().contains("tok-1") && !gw.stderr().contains("p@ss"),
        "a secret reached the log"
    );
}

#[test]
fn oauth2_token_expiry_fetches_a_new_one() {
    let fake = FakeSse::start(Endpoint::Relative);
    // expires_in 1 s, buffer 0.5 s: usable for half a second.
    let tokens = TokenServer::start(fake.state.clone(), 1);
    let entry = sse_entry(
        "short",
        &fake.url(),
        &format!(
            "    auth:\n      type: oauth2\n      token_url: {}\n      client_id: a\n      client_secret: b\n      token_expiry_buffer_seconds: 0.5\n",
            tokens.url()
        ),
    );
    let gw = Gateway::start(&config_with(&entry));
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let before = tokens.issued();
    assert!(before >= 1);
    assert!(wait_until(Duration::from_secs(5), || {
        assert_eq!(
            text(&call(&mut c, &gw, "hostile_echo")),
            "hostile:{\"n\":1}"
        );
        tokens.issued() > before
    }));
}

/// Runs a real SSE server launched by the gateway (`command`): a real SDK
/// client lists and calls `tool` through the gateway; the server is killed
/// and the gateway brings it back; SIGTERM leaves no process behind.
fn launched_server_round_trip(backend: &str, tool: &str, args: &str, expect: &str) {
    let mut gw = Gateway::start(&config_with(backend));
    let python = python().display().to_string();
    let url = format!("http://{}/sse", gw.addr);
    let client = |label: &str| {
        let out = std::process::Command::new(&python)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/py/mcp_client.py"
            ))
            .args([url.as_str(), tool, args])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{label}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            v["call"].as_str().unwrap_or("").contains(expect),
            "{label}: {v}"
        );
        assert!(
            v["tools"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == "local_tool"),
            "{label}: {v}"
        );
    };
    client("first");
    // Kill the launched server (its whole process group); the gateway
    // notices the dropped stream, relaunches, re-initializes, re-discovers.
    let launched: Vec<u32> = children(gw.pid())
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| !c.contains("argus-test-fixture"))
        })
        .collect();
    assert_eq!(launched.len(), 1, "one launched server");
    let pid = launched[0];
    let own_group = rustix::process::getpgrp().as_raw_nonzero().get() as u32;
    let group = rustix::process::getpgid(rustix::process::Pid::from_raw(pid as i32))
        .unwrap()
        .as_raw_nonzero()
        .get() as u32;
    assert_eq!(
        group, pid,
        "the launched server leads its own process group"
    );
    assert_ne!(group, own_group);
    rustix::process::kill_process_group(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    assert!(
        wait_until(Duration::from_secs(30), || {
            let relaunched = children(gw.pid()).iter().any(|p| {
                !launched.contains(p)
                    && !std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                        .unwrap_or_default()
                        .contains("argus-test-fixture")
            });
            relaunched && tools(&mut c, &gw).iter().any(|t| t == tool)
        }),
        "the launched server did not come back: {}",
        gw.stderr()
    );
    client("after restart");
    let kids = children(gw.pid());
    gw.signal("TERM");
    assert_eq!(
        gw.wait_exit(Duration::from_secs(15)),
        Some(0),
        "{}",
        gw.stderr()
    );
    crate::support::assert_gone(&kids);
}

#[test]
fn python_sdk_sse_server_launched_used_restarted_and_stopped() {
    let port = free_port();
    let python = python().display().to_string();
    let backend = format!(
        "  py:\n    type: sse\n    url: http://127.0.0.1:{port}/sse\n    command: {python}\n    args: [\"{}/tests/py/sse_server.py\", \"{port}\"]\n    timeouts: {{sse_startup: 20, retry_delay: 0.2}}\n",
        env!("CARGO_MANIFEST_DIR")
    );
    launched_server_round_trip(&backend, "add", r#"{"a": 2, "b": 3}"#, "python says 5");
}

#[test]
fn server_everything_in_sse_mode_launched_used_restarted_and_stopped() {
    let port = free_port();
    let modules = std::env::var("ARGUS_NODE_MODULES").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/.test-env/node/node_modules").to_owned()
    });
    let backend = format!(
        "  everything:\n    type: sse\n    url: http://127.0.0.1:{port}/sse\n    command: {modules}/.bin/mcp-server-everything\n    args: [sse]\n    env: {{PORT: \"{port}\"}}\n    timeouts: {{sse_startup: 20, retry_delay: 0.2}}\n"
    );
    launched_server_round_trip(&backend, "echo", r#"{"message": "via sse"}"#, "via sse");
}

#[test]
fn a_server_that_never_sends_the_endpoint_times_out_at_init() {
    let fake = FakeSse::start(Endpoint::Never);
    let entry = format!(
        "  mute:\n    type: sse\n    url: {}\n    timeouts: {{init: 0.5, retries: 0}}\n",
        fake.url()
    );
    let gw = Gateway::start(&config_with(&entry));
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    assert_eq!(tools(&mut c, &gw), ["local_tool"]);
    assert!(
        wait_until(Duration::from_secs(5), || gw
            .stderr()
            .contains("[mute] failed: no endpoint event within 0.5s")),
        "{}",
        gw.stderr()
    );
}

#[test]
fn the_readme_sse_example_works_verbatim_against_the_python_sdk_server() {
    let port = free_port();
    let python = python().display().to_string();
    let mut server = std::process::Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/sse_server.py"
        ))
        .arg(port.to_string())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let listening = wait_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/config/sse-example.yaml"
    ))
    .unwrap();
    let port_text = port.to_string();
    let gw = Gateway::start_with(
        &example,
        &[],
        &[("SEARCH_PORT", port_text.as_str()), ("API_TOKEN", "t0k3n")],
    );
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert!(listening, "the Python server did not start");
        let mut c = SseClient::open(gw.addr);
        c.initialize(gw.addr, "2025-06-18");
        assert_eq!(tools(&mut c, &gw), ["add"]);
        let reply = c.call(
            gw.addr,
            json!(1),
            "tools/call",
            json!({"name": "add", "arguments": {"a": 20, "b": 22}}),
        );
        assert_eq!(text(&reply), "python says 42");
        assert_eq!(c.names(gw.addr, "prompts/list", "prompts"), ["hello"]);
    }));
    let _ = server.kill();
    let _ = server.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn call_timeout_applies_to_sse_backends() {
    let fake = FakeSse::start(Endpoint::Relative);
    let entry = format!(
        "  slow:\n    type: sse\n    url: {}\n    timeouts: {{call: 0.5}}\n",
        fake.url()
    );
    let gw = Gateway::start(&config_with(&entry));
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let started = Instant::now();
    let reply = call(&mut c, &gw, "hang");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(reply["result"]["isError"], true);
    assert!(
        text(&reply).contains("\"slow\" timed out after 0.5s"),
        "{reply}"
    );
}
