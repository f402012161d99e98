//! The audit log: records of calls through both transports,
//! catalog changes and auth failures; the chain verifies, survives a
//! restart, and catches tampering; no argument value is ever written;
//! `audit.required` withholds an answer it cannot record.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Gateway, SseClient, TempDir, binary, fixture_backend, request};

fn config(file: &str, extra: &str) -> String {
    format!(
        "{extra}audit: {{enabled: true, file: \"{file}\"}}\nbackends:\n{}",
        fixture_backend("a", &[("FIXTURE_TOOLS", "echo,fail")], "")
    )
}

fn verify(file: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(binary())
        .args(["audit", "verify"])
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn records(file: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn calls_through_both_transports(gw: &Gateway, secret: &str) {
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let args = json!({"name": "echo", "arguments": {"password": secret}});
    let r = c.call(gw.addr, json!(1), "tools/call", args);
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains(secret)
    );
    let r = c.call(gw.addr, json!(2), "tools/call", json!({"name": "fail"}));
    assert_eq!(r["error"]["code"], -32000);
    let headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
    let resp = request(gw.addr, "POST", "/mcp", &headers, init.as_bytes());
    let session = resp.header("mcp-session-id").unwrap().to_owned();
    let mut with_session = headers.to_vec();
    with_session.push(("Mcp-Session-Id", &session));
    let call = json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"token":secret}}});
    let resp = request(
        gw.addr,
        "POST",
        "/mcp",
        &with_session,
        call.to_string().as_bytes(),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
}

#[test]
fn calls_and_catalogs_are_chained_across_restarts() {
    let dir = TempDir::new("audit");
    let file = dir.0.join("audit.jsonl");
    let config = config(&file.to_string_lossy(), "");
    for (run, secret) in [(1, "hunter9"), (2, "hunter10")] {
        let mut gw = Gateway::start(&config);
        calls_through_both_transports(&gw, secret);
        gw.signal("TERM");
        assert_eq!(gw.wait_exit(Duration::from_secs(10)), Some(0), "run {run}");
        let (code, out) = verify(&file);
        assert_eq!(code, Some(0), "run {run}: {out}");
        assert!(out.starts_with("ok: "), "{out}");
    }
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        !text.contains("hunter9") && !text.contains("hunter10"),
        "an argument value was written"
    );
    let all = records(&file);
    let kinds = |k: &str| all.iter().filter(|r| r["kind"] == k).count();
    assert_eq!(kinds("catalog"), 2, "one catalog record per start");
    let calls: Vec<&Value> = all.iter().filter(|r| r["kind"] == "call").collect();
    assert_eq!(calls.len(), 6, "{calls:?}");
    let outcomes: Vec<&str> = calls
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "ok").count(),
        4,
        "{outcomes:?}"
    );
    assert_eq!(outcomes.iter().filter(|o| **o == "error -32000").count(), 2);
    let first = calls[0];
    for field in [
        "time",
        "session",
        "peer",
        "transport",
        "method",
        "name",
        "original",
        "backend",
        "group",
        "duration_ms",
    ] {
        assert!(first.get(field).is_some(), "{field} missing: {first}");
    }
    assert!(calls.iter().any(|r| r["transport"] == "streamable-http"));
    assert!(calls.iter().any(|r| r["transport"] == "sse"));
    let catalog = all.iter().find(|r| r["kind"] == "catalog").unwrap();
    assert_eq!(catalog["catalog_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(catalog["added"], json!(["tool echo", "tool fail"]));
    // seq runs on across the restart.
    let seqs: Vec<u64> = all.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    // `audit show` filters by backend.
    let out = Command::new(binary())
        .args(["audit", "show"])
        .arg(&file)
        .args(["--backend", "a", "--since", "2000-01-01"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert_eq!(
        table.lines().filter(|l| l.contains(" echo ")).count(),
        4,
        "{table}"
    );
    // Tampering is found.
    let edited = text.replacen("\"ok\"", "\"isError\"", 1);
    std::fs::write(&file, &edited).unwrap();
    let (code, out) = verify(&file);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("broken at line") && out.contains("edited"),
        "{out}"
    );
}

#[test]
fn auth_failures_are_recorded_without_the_token() {
    let dir = TempDir::new("audit-auth");
    let file = dir.0.join("audit.jsonl");
    let auth = "incoming_auth: {type: bearer, tokens: [t0k3n-t0k3n]}\n";
    let gw = Gateway::start(&config(&file.to_string_lossy(), auth));
    let wrong = [("Authorization", "Bearer guessed-wrong")];
    assert_eq!(request(gw.addr, "GET", "/sse", &wrong, b"").status, 401);
    assert_eq!(request(gw.addr, "POST", "/mcp", &[], b"{}").status, 401);
    assert!(crate::support::wait_until(Duration::from_secs(5), || {
        records(&file)
            .iter()
            .filter(|r| r["kind"] == "auth_failure")
            .count()
            == 2
    }));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        !text.contains("guessed-wrong") && !text.contains("t0k3n"),
        "{text}"
    );
    assert!(text.contains("\"path\":\"/sse\""), "{text}");
    assert_eq!(verify(&file).0, Some(0));
}

#[test]
fn a_required_log_that_cannot_be_written_withholds_the_answer() {
    let config = format!(
        "audit: {{enabled: true, required: true, file: /dev/full}}\nbackends:\n{}",
        fixture_backend("a", &[("FIXTURE_TOOLS", "echo")], "")
    );
    let gw = Gateway::start(&config);
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let r = c.call(
        gw.addr,
        json!(1),
        "tools/call",
        json!({"name": "echo", "arguments": {"x": 1}}),
    );
    assert_eq!(r["error"]["code"], -32603, "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("withheld"),
        "{r}"
    );
    assert!(gw.logged("cannot write the audit log"));
}

#[test]
fn the_server_creates_the_audit_logs_missing_folder() {
    let dir = TempDir::new("audit-folder");
    let config = dir.write(
        "argus.yaml",
        "audit: {enabled: true, file: logs/today/audit.jsonl}\n",
    );
    let mut child = Command::new(binary())
        .args(["server", "--port", "0", "-c"])
        .arg(&config)
        .current_dir(&dir.0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let banner = crate::support::lines_of(child.stdout.take().unwrap())
        .recv_timeout(crate::support::READ_TIMEOUT);
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(
        banner.is_ok_and(|line| line.starts_with("argus-mcp ")),
        "no banner; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Opened before the banner is printed.
    assert!(dir.0.join("logs/today/audit.jsonl").is_file());
}
