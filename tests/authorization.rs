//! What each caller may see and call: one policy decision behind every
//! list, read, prompt and call, on both eras' endpoints; a denied name
//! answered exactly as an unknown one and recorded; a reload that changes
//! the policies telling exactly the sessions whose lists changed;
//! `check --explain`; and the tool's own schema checked before a call
//! leaves (the backend never sees a malformed call).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::modern;
use crate::support::{
    Gateway, SseClient, TempDir, fixture_backend, json_lines, request, wait_until,
};

/// The messages a fixture backend received (its `FIXTURE_LOG`) with this method.
fn received(log: &Path, method: &str) -> Vec<Value> {
    json_lines(log)
        .into_iter()
        .filter(|m| m["method"] == method)
        .collect()
}

/// The audit records of `kind`.
fn audited(file: &Path, kind: &str) -> Vec<Value> {
    json_lines(file)
        .into_iter()
        .filter(|r| r["kind"] == kind)
        .collect()
}

fn connected(gw: &Gateway, n: u64) -> bool {
    wait_until(Duration::from_secs(20), || {
        request(gw.addr, "GET", "/health", &[], b"").json()["backends"]["connected"] == n
    })
}

fn error_of(reply: &Value) -> Value {
    let mut e = reply["error"].clone();
    assert!(e.is_object(), "not an error: {reply}");
    // The name is the one thing that may differ.
    if let Some(m) = e["message"].as_str() {
        e["message"] = Value::from(m.split('"').next().unwrap_or_default());
    }
    if e["data"].get("uri").is_some() {
        e["data"]["uri"] = Value::from("…");
    }
    e
}

fn uris(reply: &Value, list: &str, key: &str) -> Vec<String> {
    let mut out: Vec<String> = reply["result"][list]
        .as_array()
        .unwrap_or_else(|| panic!("{list}: {reply}"))
        .iter()
        .map(|i| i[key].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

const POLICIES: &str = "authorization:
  enabled: true
  default_effect: deny
  policies:
    - {effect: deny, roles: ['*'], resources: ['resource:docs://t/secret*'], description: no secrets through the template}
    - {effect: allow, roles: ['*'], resources: ['tool:pub_*', 'prompt:pub_*', 'resource:docs://pub/*', 'resource:docs://t/*']}
";

#[test]
fn every_list_read_prompt_and_call_sees_the_same_items_on_both_eras() {
    let dir = TempDir::new("authz-everywhere");
    let log = dir.0.join("docs.log");
    let audit = dir.0.join("audit.jsonl");
    let config = format!(
        "{POLICIES}audit: {{enabled: true, file: \"{}\"}}\nbackends:\n{}",
        audit.display(),
        fixture_backend(
            "docs",
            &[
                ("FIXTURE_TOOLS", "pub_echo,secret_echo"),
                ("FIXTURE_PROMPTS", "pub_p,secret_p"),
                ("FIXTURE_RESOURCES", "docs://pub/a,docs://secret/b"),
                ("FIXTURE_TEMPLATES", "docs://t/{x}"),
                ("FIXTURE_LOG", &log.display().to_string()),
            ],
            "",
        ),
    );
    let gw = Gateway::start(&config);
    assert!(connected(&gw, 1));

    // A 2025-era session.
    let mut s = SseClient::open(gw.addr);
    s.initialize(gw.addr, "2025-06-18");
    let mut call = |method: &str, params: Value| s.call(gw.addr, json!(method), method, params);
    assert_eq!(
        uris(&call("tools/list", json!({})), "tools", "name"),
        ["pub_echo"]
    );
    assert_eq!(
        uris(&call("prompts/list", json!({})), "prompts", "name"),
        ["pub_p"]
    );
    let resources = call("resources/list", json!({}));
    assert_eq!(uris(&resources, "resources", "uri"), ["docs://pub/a"]);
    let templates = call("resources/templates/list", json!({}));
    assert_eq!(
        uris(&templates, "resourceTemplates", "uriTemplate"),
        ["docs://t/{x}"]
    );
    // Denied names get exactly what unknown names get.
    let unknown_tool = error_of(&call("tools/call", json!({"name": "nope"})));
    assert_eq!(
        error_of(&call("tools/call", json!({"name": "secret_echo"}))),
        unknown_tool
    );
    let unknown_prompt = error_of(&call("prompts/get", json!({"name": "nope"})));
    assert_eq!(
        error_of(&call("prompts/get", json!({"name": "secret_p"}))),
        unknown_prompt
    );
    let unknown_uri = error_of(&call("resources/read", json!({"uri": "docs://none"})));
    for denied in ["docs://secret/b", "docs://t/secret-1"] {
        let got = error_of(&call("resources/read", json!({"uri": denied})));
        assert_eq!(got, unknown_uri, "{denied}");
    }
    // What is allowed is served.
    let ok = call("tools/call", json!({"name": "pub_echo", "arguments": {}}));
    assert!(ok["result"].is_object(), "{ok}");
    let read = call("resources/read", json!({"uri": "docs://t/open"}));
    assert!(read.get("error").is_none(), "{read}");

    // The 2026-07-28 front: the same view, request by request.
    let list = modern::call(&gw, "/mcp", 1, "tools/list", json!({})).json();
    assert_eq!(uris(&list, "tools", "name"), ["pub_echo"]);
    assert_eq!(list["result"]["cacheScope"], "private", "{list}");
    let discover = modern::call(&gw, "/mcp", 2, "server/discover", json!({})).json();
    assert!(!discover.to_string().contains("secret"), "{discover}");
    let unknown = modern::call(&gw, "/mcp", 3, "tools/call", json!({"name": "nope"}));
    let denied = modern::call(&gw, "/mcp", 4, "tools/call", json!({"name": "secret_echo"}));
    assert_eq!(denied.status, unknown.status);
    assert_eq!(error_of(&denied.json()), error_of(&unknown.json()));
    let unknown = modern::call(
        &gw,
        "/mcp",
        5,
        "resources/read",
        json!({"uri": "docs://none"}),
    );
    let read = modern::call(
        &gw,
        "/mcp",
        6,
        "resources/read",
        json!({"uri": "docs://secret/b"}),
    );
    assert_eq!(read.status, unknown.status);
    assert_eq!(error_of(&read.json()), error_of(&unknown.json()));

    // The backend never heard of the denied items.
    let calls = received(&log, "tools/call");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["params"]["name"], "pub_echo");
    let reads: Vec<Value> = received(&log, "resources/read");
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert!(received(&log, "prompts/get").is_empty());

    // Each denial is on record with its rule; unknown names are not.
    let denials = audited(&audit, "denied");
    let summary: Vec<(String, Value)> = denials
        .iter()
        .map(|r| (r["item"].as_str().unwrap().to_owned(), r["rule"].clone()))
        .collect();
    assert_eq!(
        summary,
        [
            ("tool:secret_echo".to_owned(), json!("default")),
            ("prompt:secret_p".to_owned(), json!("default")),
            ("resource:docs://secret/b".to_owned(), json!("default")),
            ("resource:docs://t/secret-1".to_owned(), json!(0)),
            ("tool:secret_echo".to_owned(), json!("default")),
            ("resource:docs://secret/b".to_owned(), json!("default")),
        ]
    );
}

const TWO_TEAMS: &str = "server:
  management: {token: mgmt-token-0123456789}
incoming_auth:
  type: bearer
  tokens:
    - {name: alice, token: alice-token, roles: [dev]}
    - {name: bob, token: bob-token, roles: [ops]}
";

/// Alice (dev) and Bob (ops) on one backend with tools `a_x`, `b_x` and
/// prompt `p`; each role may have these resources.
fn teams(dev_may: &str, ops_may: &str) -> String {
    format!(
        "{TWO_TEAMS}authorization:
  enabled: true
  policies:
    - {{effect: allow, roles: [dev], resources: [{dev_may}]}}
    - {{effect: allow, roles: [ops], resources: [{ops_may}]}}
backends:
{}",
        fixture_backend(
            "one",
            &[("FIXTURE_TOOLS", "a_x,b_x"), ("FIXTURE_PROMPTS", "p")],
            ""
        )
    )
}

/// A 2025-era SSE session opened with a bearer token, which every POST
/// carries too.
struct Caller {
    s: SseClient,
    bearer: String,
    addr: std::net::SocketAddr,
}

impl Caller {
    fn open(addr: std::net::SocketAddr, token: &str) -> Caller {
        let bearer = format!("Bearer {token}");
        let s = SseClient::open_with(addr, &[("Authorization", &bearer)]);
        let mut c = Caller { s, bearer, addr };
        let init = json!({"protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}});
        assert!(c.call("initialize", init)["result"].is_object());
        c.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        c
    }

    fn send(&self, body: Value) {
        let headers = [
            ("Content-Type", "application/json"),
            ("Authorization", self.bearer.as_str()),
        ];
        let resp = request(
            self.addr,
            "POST",
            &self.s.endpoint,
            &headers,
            body.to_string().as_bytes(),
        );
        assert_eq!(resp.status, 202, "{}", resp.text());
    }

    /// The next message, whatever it is.
    fn next(&mut self) -> Value {
        self.s.next_message().expect("a message")
    }

    /// A request's reply, skipping notifications.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": method, "method": method, "params": params}));
        loop {
            let m = self.next();
            if m["id"] == method {
                return m;
            }
        }
    }

    fn tools(&mut self) -> Vec<String> {
        uris(&self.call("tools/list", json!({})), "tools", "name")
    }
}

#[test]
fn a_reload_that_changes_the_policies_tells_only_the_sessions_whose_lists_changed() {
    let gw = Gateway::start(&teams("'tool:*'", "'tool:b_*'"));
    assert!(wait_until(Duration::from_secs(20), || {
        let health = gw.manage("GET", "/manage/v1/health", None, "").json();
        health["backends"]["connected"] == 1
    }));
    let mut alice = Caller::open(gw.addr, "alice-token");
    let mut bob = Caller::open(gw.addr, "bob-token");
    assert_eq!(alice.tools(), ["a_x", "b_x"]);
    assert_eq!(bob.tools(), ["b_x"]);

    // 2026-07-28 listen streams of both, for tools and prompts.
    let listen = |token: &str| {
        let bearer = format!("Bearer {token}");
        let wants = json!({"toolsListChanged": true, "promptsListChanged": true});
        let mut stream = modern::listen(&gw, "/mcp", &[("Authorization", &bearer)], 9, wants);
        let mut pending = String::new();
        let ack = modern::next_note(&mut stream, &mut pending);
        assert_eq!(
            ack["method"], "notifications/subscriptions/acknowledged",
            "{ack}"
        );
        (stream, pending)
    };
    let (mut alice_listens, mut alice_pending) = listen("alice-token");
    let (mut bob_listens, mut bob_pending) = listen("bob-token");
    let reload = |config: String| {
        gw.rewrite_config(&config);
        let token = Some("mgmt-token-0123456789");
        let resp = gw.manage("POST", "/manage/v1/reload", token, "");
        assert_eq!(resp.status, 200, "{}", resp.text());
    };

    // Only Bob's tools change.
    reload(teams("'tool:*'", "'tool:*_x'"));
    let ping = json!({"jsonrpc": "2.0", "id": "p", "method": "ping"});
    bob.send(ping.clone());
    assert_eq!(bob.next()["method"], "notifications/tools/list_changed");
    assert_eq!(bob.tools(), ["a_x", "b_x"]);
    let note = modern::next_note(&mut bob_listens, &mut bob_pending);
    assert_eq!(note["method"], "notifications/tools/list_changed", "{note}");
    // Alice's list did not change: the first thing she hears is her pong.
    alice.send(ping);
    let first = alice.next();
    assert_eq!(first["id"], "p", "{first}");

    // Then both may have the prompt: on Alice's stream, that comes first.
    reload(teams("'tool:*', 'prompt:*'", "'tool:*_x', 'prompt:*'"));
    let note = modern::next_note(&mut alice_listens, &mut alice_pending);
    assert_eq!(
        note["method"], "notifications/prompts/list_changed",
        "{note}"
    );
    let note = modern::next_note(&mut bob_listens, &mut bob_pending);
    assert_eq!(
        note["method"], "notifications/prompts/list_changed",
        "{note}"
    );
}

#[test]
fn check_explain_prints_the_decision_and_the_rule_from_the_config_alone() {
    let dir = TempDir::new("authz-explain");
    let file = dir.write("argus.yaml", &teams("'tool:*'", "'tool:b_*'"));
    let explain = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_argus-mcp"))
            .arg("check")
            .arg("-c")
            .arg(&file)
            .arg("--explain")
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.code(),
            text,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, text, _) = explain(&["bob", "tool:a_x"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        text.lines().next(),
        Some("deny default (default_effect deny)"),
        "{text}"
    );
    assert!(
        text.contains("identity bob (a static token of the config), roles [ops]"),
        "{text}"
    );
    let (code, text, _) = explain(&["bob", "tool:b_x"]);
    assert_eq!(
        (code, text.lines().next()),
        (Some(0), Some("allow policy 1"))
    );
    let (_, text, _) = explain(&["carol", "tool:a_x", "--roles", "dev,qa"]);
    assert_eq!(text.lines().next(), Some("allow policy 0"), "{text}");
    let (code, _, err) = explain(&["bob", "a_x"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("must be tool:<name>"), "{err}");
}

#[test]
fn arguments_are_checked_against_the_tools_schema_before_they_leave() {
    let dir = TempDir::new("authz-schema");
    let log = dir.0.join("one.log");
    let schemas = json!({
        "add": {"type": "object", "properties": {
            "a": {"type": "integer"}, "b": {"type": "integer", "minimum": 0},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}}},
            "required": ["a", "b"], "additionalProperties": false},
        "broken": {"type": "object", "properties": {"x": {"type": "strnig"}}},
    });
    let backend = fixture_backend(
        "one",
        &[
            ("FIXTURE_TOOLS", "add,broken,free"),
            ("FIXTURE_LOG", &log.display().to_string()),
        ],
        &format!("      FIXTURE_SCHEMAS: '{schemas}'\n"),
    );
    let gw = Gateway::start(&format!("backends:\n{backend}"));
    assert!(connected(&gw, 1));
    let mut s = SseClient::open(gw.addr);
    s.initialize(gw.addr, "2025-06-18");
    // The tool whose schema is not one is left out, with one warning.
    assert_eq!(s.names(gw.addr, "tools/list", "tools"), ["add", "free"]);
    assert!(wait_until(Duration::from_secs(5), || gw.logged(
        "tool \"broken\" left out: its inputSchema is not a valid JSON Schema"
    )));
    let mut call = |args: Value| {
        s.call(
            gw.addr,
            json!(1),
            "tools/call",
            json!({"name": "add", "arguments": args}),
        )
    };
    for (args, pointer, rule) in [
        (json!({"a": 1}), "", "required"),
        (json!({"a": "1", "b": 2}), "/a", "type"),
        (json!({"a": 1, "b": -1}), "/b", "minimum"),
        (
            json!({"a": 1, "b": 1, "tags": ["ok", "long"]}),
            "/tags/1",
            "maxLength",
        ),
        (
            json!({"a": 1, "b": 1, "c": 0}),
            "/c",
            "additionalProperties",
        ),
    ] {
        let reply = call(args.clone());
        assert_eq!(reply["error"]["code"], -32602, "{args}: {reply}");
        assert_eq!(
            reply["error"]["data"],
            json!({"pointer": pointer, "rule": rule}),
            "{args}"
        );
        assert!(
            reply["error"]["message"].as_str().unwrap().contains("add"),
            "{reply}"
        );
    }
    // 1.0 is an integer; a good call goes through, and so does any call of
    // a tool without constraints.
    let ok = call(json!({"a": 1.0, "b": 0, "tags": ["😀😀😀"]}));
    assert!(ok["result"].is_object(), "{ok}");
    let free = s.call(
        gw.addr,
        json!(2),
        "tools/call",
        json!({"name": "free", "arguments": {"z": [1]}}),
    );
    assert!(free["result"].is_object(), "{free}");
    // The modern front checks the same way.
    let bad = modern::call(
        &gw,
        "/mcp",
        3,
        "tools/call",
        json!({"name": "add", "arguments": {"a": 1}}),
    );
    assert_eq!(
        bad.json()["error"]["data"]["rule"],
        "required",
        "{}",
        bad.text()
    );
    // Only the two good calls reached the backend.
    let calls = received(&log, "tools/call");
    assert_eq!(calls.len(), 2, "{calls:?}");
}

#[test]
fn argument_checks_can_be_turned_off() {
    let dir = TempDir::new("authz-schema-off");
    let log = dir.0.join("one.log");
    let schemas = json!({"add": {"type": "object", "required": ["a"]}});
    let backend = fixture_backend(
        "one",
        &[
            ("FIXTURE_TOOLS", "add"),
            ("FIXTURE_LOG", &log.display().to_string()),
        ],
        &format!("      FIXTURE_SCHEMAS: '{schemas}'\n"),
    );
    let gw = Gateway::start(&format!(
        "security: {{validate_arguments: false}}\nbackends:\n{backend}"
    ));
    assert!(connected(&gw, 1));
    let mut s = SseClient::open(gw.addr);
    s.initialize(gw.addr, "2025-06-18");
    let reply = s.call(
        gw.addr,
        json!(1),
        "tools/call",
        json!({"name": "add", "arguments": {}}),
    );
    assert!(reply["result"].is_object(), "{reply}");
    assert_eq!(received(&log, "tools/call").len(), 1);
}

#[test]
fn an_argus_config_with_jwt_auth_and_policies_starts_and_enforces_them() {
    let dir = TempDir::new("authz-argus-jwt");
    let (jwks, tokens) = crate::identity::mint(&dir);
    let audit = dir.0.join("audit.jsonl");
    // As the original Argus writes it: jwks_uri, issuer, audience,
    // algorithms, and role policies.
    let config = format!(
        "incoming_auth:
  type: jwt
  jwks_uri: file://{}
  issuer: https://issuer.test
  audience: http://127.0.0.1:9
  algorithms: [RS256]
authorization:
  enabled: true
  default_effect: deny
  policies:
    - effect: allow
      roles: [dev]
      resources: ['tool:*']
      description: developers use every tool
    - effect: allow
      roles: [ops]
      resources: ['tool:b_*']
audit: {{enabled: true, file: \"{}\"}}
backends:
{}",
        jwks.display(),
        audit.display(),
        fixture_backend("one", &[("FIXTURE_TOOLS", "a_x,b_x")], "")
    );
    let gw = Gateway::start(&config);
    assert!(wait_until(Duration::from_secs(20), || {
        let health = gw.manage("GET", "/manage/v1/health", None, "").json();
        health["backends"]["connected"] == 1
    }));
    let as_caller = |token: &str, id: i64, method: &str, params: Value| {
        let bearer = format!("Bearer {token}");
        let mut params = params;
        params["_meta"] = modern::meta();
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut headers = vec![
            ("Authorization", bearer.as_str()),
            ("MCP-Protocol-Version", modern::MODERN),
            ("Mcp-Method", method),
        ];
        let name = params["name"].as_str().map(str::to_owned);
        if let Some(name) = &name {
            headers.push(("Mcp-Name", name));
        }
        modern::post(&gw, "/mcp", &headers, &body)
    };
    let carol = tokens["dev_role"].as_str().unwrap();
    let dave = tokens["realm_ops"].as_str().unwrap();
    let list = |token| {
        uris(
            &as_caller(token, 1, "tools/list", json!({})).json(),
            "tools",
            "name",
        )
    };
    assert_eq!(list(carol), ["a_x", "b_x"]);
    assert_eq!(list(dave), ["b_x"]);
    let called = as_caller(dave, 2, "tools/call", json!({"name": "a_x"}));
    let unknown = as_caller(dave, 3, "tools/call", json!({"name": "zz"}));
    assert_eq!(error_of(&called.json()), error_of(&unknown.json()));
    let ok = as_caller(
        carol,
        4,
        "tools/call",
        json!({"name": "a_x", "arguments": {}}),
    );
    assert!(ok.json()["result"].is_object(), "{}", ok.text());
    let denied = audited(&audit, "denied");
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(
        (
            &denied[0]["identity"],
            &denied[0]["item"],
            &denied[0]["rule"]
        ),
        (&json!("dave"), &json!("tool:a_x"), &json!("default"))
    );
    // Who called what, under which definition, allowed by which rule.
    let calls = audited(&audit, "call");
    let carol = calls
        .iter()
        .find(|c| c["identity"] == "carol")
        .expect("carol's call");
    assert_eq!(carol["rule"], 0, "{carol}");
    assert_eq!(
        carol["definition"].as_str().map(str::len),
        Some(64),
        "{carol}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_argus-mcp"))
        .args(["audit", "show"])
        .arg(&audit)
        .args(["--identity", "dave"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{table}");
    assert!(
        rows[0].contains("denied") && rows[0].contains("tool:a_x"),
        "{table}"
    );
}

#[test]
fn a_backend_whose_items_a_caller_may_not_see_does_not_reach_it_with_its_logs() {
    let config = format!(
        "{TWO_TEAMS}authorization:
  enabled: true
  policies:
    - {{effect: allow, roles: [dev], resources: ['*']}}
    - {{effect: allow, roles: [ops], resources: ['server:one']}}
backends:
{}{}",
        fixture_backend("one", &[("FIXTURE_TOOLS", "a_x")], ""),
        fixture_backend("two", &[("FIXTURE_TOOLS", "notify")], "")
    );
    let gw = Gateway::start(&config);
    assert!(wait_until(Duration::from_secs(20), || {
        let health = gw.manage("GET", "/manage/v1/health", None, "").json();
        health["backends"]["connected"] == 2
    }));
    let mut alice = Caller::open(gw.addr, "alice-token");
    let mut bob = Caller::open(gw.addr, "bob-token");
    for c in [&mut alice, &mut bob] {
        let set = c.call("logging/setLevel", json!({"level": "debug"}));
        assert!(set["result"].is_object(), "{set}");
    }
    // Logs are relayed on the backend's thread, one message to every
    // session before the next: once alice has the second, the first has
    // been queued for whoever else hears it.
    let notify = json!({"name": "notify", "arguments": {"level": "error", "uri": "x://y"}});
    let mut logs = 0;
    for id in [7, 8] {
        alice.send(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": notify}));
    }
    while logs < 2 {
        let m = alice.next();
        if m["method"] == "notifications/message" {
            logs += 1;
        }
    }
    bob.send(json!({"jsonrpc": "2.0", "id": "p", "method": "ping"}));
    let first = bob.next();
    assert_eq!(first["id"], "p", "{first}");
}

#[test]
fn the_stdio_front_is_its_configured_identity_under_the_same_policies() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = TempDir::new("authz-stdio");
    let audit = dir.0.join("audit.jsonl");
    let file = dir.write(
        "argus.yaml",
        &format!(
            "authorization:
  enabled: true
  stdio_identity: {{name: desk, roles: [writer]}}
  policies:
    - {{effect: allow, roles: [writer], resources: ['tool:w_*']}}
audit: {{enabled: true, file: \"{}\"}}
backends:
{}",
            audit.display(),
            fixture_backend("one", &[("FIXTURE_TOOLS", "w_note,r_secret")], "")
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_argus-mcp"))
        .args(["stdio", "-q", "-c"])
        .arg(&file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let out = crate::support::lines_of(child.stdout.take().unwrap());
    let mut send = |v: Value| writeln!(stdin, "{v}").unwrap();
    let next = || -> Value {
        let line = out.recv_timeout(Duration::from_secs(20)).expect("a line");
        serde_json::from_str(&line).unwrap()
    };
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}}),
    );
    assert!(next()["result"].is_object());
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    assert_eq!(uris(&next(), "tools", "name"), ["w_note"]);
    send(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "r_secret"}}),
    );
    assert_eq!(next()["error"]["message"], "unknown tool: \"r_secret\"");
    drop(stdin);
    let exited = wait_until(Duration::from_secs(20), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    // Nothing outlives the test, whatever happened.
    let _ = child.kill();
    let _ = child.wait();
    assert!(exited, "the stdio front did not end with its stdin");
    let denied = audited(&audit, "denied");
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["identity"], "desk");
    assert_eq!(denied[0]["transport"], "stdio");
}

#[test]
fn check_connect_names_the_schema_keywords_it_does_not_enforce() {
    let dir = TempDir::new("authz-check-connect");
    let schemas = json!({
        "find": {"type": "object", "properties": {"q": {"type": "string", "pattern": "^[a-z]+$"}}},
    });
    let backend = fixture_backend(
        "one",
        &[("FIXTURE_TOOLS", "find")],
        &format!("      FIXTURE_SCHEMAS: '{schemas}'\n"),
    );
    let file = dir.write("argus.yaml", &format!("backends:\n{backend}"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_argus-mcp"));
    cmd.args(["check", "--connect", "-c"]).arg(&file);
    let out = crate::support::run_with_deadline(cmd, Duration::from_secs(60));
    assert!(
        out.contains("  find -> one / find\n    not checked: /properties/q/pattern\n"),
        "{out}"
    );
}
