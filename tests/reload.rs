//! Live reload: `POST /manage/v1/reload` and SIGHUP apply the
//! difference without dropping a session; a file with errors is refused
//! whole; listener settings need a restart; a Python SDK client under load
//! sees `list_changed` and the new tool while its calls on an unchanged
//! backend finish undisturbed; every reload and management call is audited.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    Gateway, SseClient, TempDir, assert_gone, binary, fixture_backend, python, run_with_deadline,
    wait_until,
};

const TOKEN: &str = "reload-token-0123456789";

fn start(config: &str) -> Gateway {
    let gw = Gateway::start_with(config, &[], &[("ARGUS_MGMT_TOKEN", TOKEN)]);
    assert!(wait_until(Duration::from_secs(20), || {
        gw.manage("GET", "/manage/v1/ready", None, "").status == 200
    }));
    gw
}

fn pids(gw: &Gateway) -> Value {
    let backends = gw
        .manage("GET", "/manage/v1/backends", Some(TOKEN), "")
        .json();
    let mut out = serde_json::Map::new();
    for b in backends["backends"].as_array().unwrap() {
        out.insert(b["name"].as_str().unwrap().into(), b["pid"].clone());
    }
    Value::Object(out)
}

fn reload(gw: &Gateway) -> (u16, Value) {
    let resp = gw.manage("POST", "/manage/v1/reload", Some(TOKEN), "");
    (resp.status, resp.json())
}

/// Reads messages until `method` arrives; the messages before it.
fn until_notified(client: &mut SseClient, method: &str) -> Vec<Value> {
    let mut before = Vec::new();
    loop {
        let msg = client
            .next_message()
            .unwrap_or_else(|| panic!("no {method}; got {before:?}"));
        if msg["method"] == method {
            return before;
        }
        before.push(msg);
    }
}

#[test]
fn a_reload_adds_removes_restarts_and_refilters_without_dropping_sessions() {
    let backend = |name: &str, tools: &str, extra: &str| {
        fixture_backend(name, &[("FIXTURE_TOOLS", tools)], extra)
    };
    let config = format!(
        "backends:\n{}{}{}",
        backend("a", "x,keep", ""),
        backend("b", "y,slow", ""),
        backend("c", "z", "")
    );
    let gw = start(&config);
    let before = pids(&gw);
    let mut client = SseClient::open(gw.addr);
    client.initialize(gw.addr, "2025-06-18");
    assert_eq!(
        client.names(gw.addr, "tools/list", "tools"),
        ["x", "keep", "y", "slow", "z"]
    );
    // A call in flight on the backend the reload removes.
    let slow = json!({"jsonrpc": "2.0", "id": "slow", "method": "tools/call",
        "params": {"name": "slow", "arguments": {"ms": 20000}}});
    assert_eq!(client.post(gw.addr, &slow.to_string()).status, 202);
    assert!(wait_until(Duration::from_secs(10), || {
        gw.manage("GET", "/manage/v1/sessions", Some(TOKEN), "")
            .json()["sessions"][0]["in_flight"]
            == 1
    }));

    // a: only a filter edit; b: removed; c: its environment changed; d: new;
    // and a new bind address and connection cap, which only a restart can
    // apply (the port is `--port 0`'s: the command line wins on reload too).
    let new = format!(
        "server:\n  host: localhost\n  port: 1\n  max_connections: 50\nbackends:\n{}{}{}",
        backend("a", "x,keep", "    filters: {tools: {deny: [x]}}\n"),
        fixture_backend("c", &[("FIXTURE_TOOLS", "z"), ("EXTRA", "1")], ""),
        backend("d", "w", ""),
    );
    gw.rewrite_config(&new);
    let (status, report) = reload(&gw);
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report,
        json!({"reloaded": true, "backends_added": ["d"], "backends_removed": ["b"],
            "backends_changed": ["c"], "errors": [],
            "restart_required": ["server.host", "server.max_connections"]})
    );
    // The removed backend's call is answered with an error, the session
    // stays, and it hears that the tool list changed.
    let mut answered = None;
    let mut notified = false;
    while answered.is_none() || !notified {
        let msg = client.next_message().expect("the session stays open");
        if msg["id"] == "slow" {
            answered = Some(msg.clone());
        } else if msg["method"] == "notifications/tools/list_changed" {
            notified = true;
        }
    }
    let answer = answered.unwrap();
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("backend \"b\""), "{text}");
    assert_eq!(
        client.names(gw.addr, "tools/list", "tools"),
        ["keep", "z", "w"]
    );
    let after = pids(&gw);
    assert_eq!(after["a"], before["a"], "a filter edit does not restart");
    assert_ne!(after["c"], before["c"], "a changed backend restarts");
    assert!(after.get("b").is_none());
    assert_gone(&[
        before["b"].as_u64().unwrap() as u32,
        before["c"].as_u64().unwrap() as u32,
    ]);
    let reply = client.call(
        gw.addr,
        json!(9),
        "tools/call",
        json!({"name": "w", "arguments": {}}),
    );
    assert_eq!(reply["result"]["content"][0]["text"], "d:w:{}");
    // The listener is where it was.
    let status = gw
        .manage("GET", "/manage/v1/status", Some(TOKEN), "")
        .json();
    assert_eq!(status["transport"]["port"], gw.addr.port());
    assert_eq!(status["transport"]["host"], "127.0.0.1");
    assert!(gw.logged("reload: server.host changed; it takes effect after a restart"));
}

#[test]
fn a_file_with_any_error_is_refused_whole() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("a", &[("FIXTURE_TOOLS", "x")], "")
    );
    let gw = start(&config);
    let before = pids(&gw);
    // One good change and one bad key: nothing is applied.
    let bad = format!(
        "backends:\n{}{}    typo: 1\n",
        fixture_backend("a", &[("FIXTURE_TOOLS", "x")], ""),
        fixture_backend("b", &[], "")
    );
    gw.rewrite_config(&bad);
    let (status, body) = reload(&gw);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["reloaded"], false);
    assert_eq!(body["error"], "invalid_config");
    let problem = &body["details"]["problems"][0];
    assert_eq!(problem["path"], "backends.b.typo", "{body}");
    assert!(problem["line"].as_u64().unwrap() > 5, "{body}");
    assert_eq!(problem["column"], 5, "{body}");
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("backends.b.typo"),
        "{body}"
    );
    assert_eq!(pids(&gw), before, "the running config stays");
    let events = gw
        .manage("GET", "/manage/v1/events?severity=error", Some(TOKEN), "")
        .json();
    let event = &events["events"][0];
    assert_eq!(event["stage"], "config");
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .contains("backends.b.typo"),
        "{event}"
    );
    assert!(gw.logged("refused"), "{}", gw.stderr());
    // A weak management token is an error too, and the old one stays.
    gw.rewrite_config("server:\n  management: {token: changeme}\nbackends: {}\n");
    let (status, body) = reload(&gw);
    assert_eq!(status, 422, "{body}");
    assert_eq!(pids(&gw), before);
    // The original's `reload` when nothing changed.
    gw.rewrite_config(&config);
    let (status, body) = reload(&gw);
    assert_eq!(
        (status, &body["backends_changed"]),
        (200, &json!([])),
        "{body}"
    );
}

#[test]
fn sighup_reloads_the_config() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("a", &[("FIXTURE_TOOLS", "x")], "")
    );
    let gw = start(&config);
    let mut client = SseClient::open(gw.addr);
    client.initialize(gw.addr, "2025-06-18");
    gw.rewrite_config(&format!(
        "{config}{}",
        fixture_backend("b", &[("FIXTURE_TOOLS", "y")], "")
    ));
    gw.signal("HUP");
    until_notified(&mut client, "notifications/tools/list_changed");
    assert!(wait_until(Duration::from_secs(10), || {
        client.names(gw.addr, "tools/list", "tools") == ["x", "y"]
    }));
    assert!(gw.logged("config reloaded (SIGHUP): 1 added, 0 removed, 0 changed"));
    assert_eq!(
        gw.manage("GET", "/manage/v1/health", None, "").json()["status"],
        "healthy"
    );
}

#[test]
fn a_python_sdk_client_sees_the_new_tool_while_its_calls_finish() {
    let steady = fixture_backend("steady", &[("FIXTURE_TOOLS", "slow")], "");
    let config = format!(
        "backends:\n{steady}{}",
        fixture_backend("old", &[("FIXTURE_TOOLS", "gone")], "")
    );
    let gw = start(&config);
    let dir = TempDir::new("reload-py");
    // The gateway reads its own file; the client copies the new one over it.
    let status = gw
        .manage("GET", "/manage/v1/status", Some(TOKEN), "")
        .json();
    let live = status["config"]["file_path"].as_str().unwrap().to_owned();
    let new = dir.write(
        "new.yaml",
        &format!(
            "backends:\n{steady}{}",
            fixture_backend("fresh", &[("FIXTURE_TOOLS", "brand_new")], "")
        ),
    );
    let mut cmd = Command::new(python());
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/py/reload_client.py"
    ))
    .arg(format!("http://{}/sse", gw.addr))
    .arg(format!("http://{}/manage/v1/", gw.addr))
    .arg(TOKEN)
    .arg(&live)
    .arg(&new);
    let out = run_with_deadline(cmd, Duration::from_secs(120));
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["in_flight_at_reload"], 4, "{v}");
    assert_eq!(v["before"], json!(["slow", "gone"]));
    assert_eq!(v["reload_status"], 200, "{v}");
    assert_eq!(v["reload"]["backends_added"], json!(["fresh"]));
    assert_eq!(v["reload"]["backends_removed"], json!(["old"]));
    assert_eq!(v["after"], json!(["slow", "brand_new"]));
    assert_eq!(v["call_errors"], json!([false, false, false, false]), "{v}");
    assert_eq!(v["calls"], json!(vec!["steady:slow done"; 4]), "{v}");
}

#[test]
fn reloads_and_management_calls_are_audited() {
    let dir = TempDir::new("reload-audit");
    let audit = dir.0.join("audit.jsonl");
    let config = format!(
        "audit: {{enabled: true, file: \"{}\"}}\nbackends:\n{}",
        audit.display(),
        fixture_backend("a", &[("FIXTURE_TOOLS", "x")], "")
    );
    let gw = start(&config);
    gw.rewrite_config(&format!(
        "{config}{}",
        fixture_backend("b", &[("FIXTURE_TOOLS", "y")], "")
    ));
    assert_eq!(reload(&gw).0, 200);
    gw.rewrite_config("backends: [");
    assert_eq!(reload(&gw).0, 422);
    let _ = gw.manage(
        "GET",
        "/manage/v1/status",
        Some("wrong-token-0123456789"),
        "",
    );
    let text = std::fs::read_to_string(&audit).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    let reloads: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "reload").collect();
    assert_eq!(reloads.len(), 2, "{kinds:?}");
    assert_eq!(reloads[0]["outcome"], "applied");
    assert_eq!(reloads[0]["backends_added"], json!(["b"]));
    assert_eq!(reloads[1]["outcome"], "invalid_config");
    let manage: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "manage").collect();
    assert!(
        manage
            .iter()
            .any(|l| l["path"] == "/manage/v1/reload" && l["status"] == 200),
        "{manage:?}"
    );
    assert!(kinds.contains(&"auth_failure"), "{kinds:?}");
    // The catalog after the reload is recorded with what it added.
    let catalogs: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "catalog").collect();
    assert!(
        catalogs.iter().any(|c| c["added"] == json!(["tool y"])),
        "{catalogs:?}"
    );
    assert!(!text.contains(TOKEN), "no secrets in the audit log");
    let out = Command::new(binary())
        .args(["audit", "verify"])
        .arg(&audit)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
