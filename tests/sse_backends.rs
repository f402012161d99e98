//! SSE backends (legacy HTTP+SSE upstreams): a hostile test server, real SDK
//! servers, launched servers, reconnects and outgoing auth. A stdio fixture
//! backend runs beside each SSE backend to show the gateway keeps serving it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::fake_sse::{Endpoint, FakeSse, TokenServer};
use crate::support::{Gateway, SseClient, fixture_backend, wait_until};

fn text(reply: &Value) -> String {
    reply["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("no text in {reply}")).to_owned()
}

fn config_with(sse_backend: &str) -> String {
    format!("backends:\n{sse_backend}{}", fixture_backend("local", &[("FIXTURE_TOOLS", "local_tool")], ""))
}

fn sse_entry(name: &str, url: &str, extra: &str) -> String {
    format!("  {name}:\n    type: sse\n    url: {url}\n    timeouts: {{retry_delay: 0.2, init: 5}}\n{extra}")
}

fn tools(c: &mut SseClient, gw: &Gateway) -> Vec<String> {
    c.names(gw.addr, "tools/list", "tools")
}

fn call(c: &mut SseClient, gw: &Gateway, name: &str) -> Value {
    c.call(gw.addr, json!(name), "tools/call", json!({"name": name, "arguments": {"n": 1}}))
}

#[test]
fn hostile_framing_relative_and_absolute_endpoints() {
    for endpoint in [Endpoint::Relative, Endpoint::Absolute] {
        let fake = FakeSse::start(endpoint);
        let gw = Gateway::start(&config_with(&sse_entry("hostile", &fake.url(), "")));
        let mut c = SseClient::open(gw.addr);
        c.initialize(gw.addr, "2025-06-18");
        assert_eq!(tools(&mut c, &gw), ["hostile_echo", "drop", "huge", "local_tool"], "{endpoint:?}");
        assert_eq!(text(&call(&mut c, &gw, "hostile_echo")), "hostile:{\"n\":1}");
        assert_eq!(text(&call(&mut c, &gw, "local_tool")), "local:local_tool:{\"n\":1}");
    }
}

#[test]
fn a_foreign_endpoint_is_refused_and_the_rest_serves() {
    let fake = FakeSse::start(Endpoint::Foreign);
    let gw = Gateway::start(&config_with(&sse_entry("foreign", &fake.url(), "")));
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    assert_eq!(tools(&mut c, &gw), ["local_tool"]);
    assert!(wait_until(Duration::from_secs(5), || gw.stderr().contains("another origin")), "{}", gw.stderr());
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
    assert!(text(&reply).contains("\"flaky\"") && text(&reply).contains("ended the SSE stream"), "{reply}");
    // A new stream, a new session, re-initialized and re-discovered.
    assert!(wait_until(Duration::from_secs(10), || fake.streams() >= 2 && tools(&mut c, &gw).contains(&"hostile_echo".to_owned())));
    assert_eq!(text(&call(&mut c, &gw, "hostile_echo")), "hostile:{\"n\":1}");
    assert_eq!(text(&call(&mut c, &gw, "local_tool")), "local:local_tool:{\"n\":1}");
}

#[test]
fn a_20_mb_event_is_refused_cleanly() {
    let fake = FakeSse::start(Endpoint::Relative);
    let gw = Gateway::start(&config_with(&sse_entry("big", &fake.url(), "")));
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let reply = call(&mut c, &gw, "huge");
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    assert!(gw.stderr().contains("SSE event larger than 16777216 bytes"), "{}", gw.stderr());
    assert!(wait_until(Duration::from_secs(10), || fake.streams() >= 2 && tools(&mut c, &gw).contains(&"huge".to_owned())));
    assert_eq!(text(&call(&mut c, &gw, "local_tool")), "local:local_tool:{\"n\":1}");
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
    assert_eq!(text(&call(&mut c, &gw, "hostile_echo")), "hostile:{\"n\":1}");
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
    assert_eq!(text(&call(&mut c, &gw, "hostile_echo")), "hostile:{\"n\":1}");
    assert_eq!(fake.state.unauthorized.load(std::sync::atomic::Ordering::SeqCst), 0);
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
    assert_eq!(text(&call(&mut c, &gw, "hostile_echo")), "hostile:{\"n\":1}");
    assert_eq!(tokens.issued(), 1, "one token for the GET and every POST");
    let form = tokens.last_form.lock().unwrap().clone();
    assert_eq!(form, "grant_type=client_credentials&client_id=argus&client_secret=p%40ss+word&scope=mcp+read");
    // The server revokes it: the next POST gets 401, a new token, a retry.
    tokens.revoke(&fake.state);
    assert_eq!(text(&call(&mut c, &gw, "hostile_echo")), "hostile:{\"n\":1}");
    assert_eq!(tokens.issued(), 2);
    assert!(!gw.stderr().contains("tok-1") && !gw.stderr().contains("p@ss"), "a secret reached the log");
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
        assert_eq!(text(&call(&mut c, &gw, "hostile_echo")), "hostile:{\"n\":1}");
        tokens.issued() > before
    }));
}
