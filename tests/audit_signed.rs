//! An audit log an auditor can trust: a real run (SDK calls) signs its
//! chain with an Ed25519 key made by openssl; openssl and Python
//! `cryptography` check every checkpoint on their own; `audit verify
//! --key` names each tampering the chain alone cannot (or can) show; a
//! gateway killed mid-run leaves only an unsigned tail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::support::{
    Gateway, TempDir, binary, fixture_backend, json_lines, python, run_with_deadline, wait_until,
};

/// Makes an Ed25519 key pair with openssl: (private, public) PEM paths.
fn keys(dir: &TempDir, name: &str) -> (PathBuf, PathBuf) {
    let private = dir.0.join(format!("{name}.key"));
    let public = dir.0.join(format!("{name}.pub"));
    let ok = |cmd: &mut Command| assert!(cmd.status().unwrap().success(), "{cmd:?}");
    ok(Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&private));
    ok(Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public));
    (private, public)
}

/// `audit verify` with these arguments: exit code and stdout.
fn verify(args: &[&Path]) -> (Option<i32>, String) {
    let out = Command::new(binary())
        .args(["audit", "verify"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn config(log: &Path, key: &Path, every: u32) -> String {
    format!(
        "audit: {{enabled: true, file: \"{}\", signing_key: \"{}\", checkpoint_every: {every}}}\nbackends:\n{}",
        log.display(),
        key.display(),
        fixture_backend("a", &[("FIXTURE_TOOLS", "echo")], "")
    )
}

/// Calls through the Python SDK on both transports.
fn sdk_calls(gw: &Gateway) {
    for path in ["/sse", "/mcp"] {
        let mut cmd = Command::new(python());
        cmd.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/mcp_client.py"
        ))
        .arg(format!("http://{}{path}", gw.addr))
        .args(["echo", "{\"n\": 1}", "echo", "{\"n\": 2}"]);
        let out = run_with_deadline(cmd, Duration::from_secs(60));
        assert!(out.contains("a:echo:"), "{out}");
    }
}

fn lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write(path: &Path, lines: &[String]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_signed_log_is_checked_by_stock_tools_and_every_tampering_is_named() {
    let dir = TempDir::new("audit-signed");
    let log = dir.0.join("audit.jsonl");
    let (private, public) = keys(&dir, "audit");
    let mut gw = Gateway::start(&config(&log, &private, 4));
    sdk_calls(&gw);
    gw.signal("TERM");
    assert_eq!(gw.wait_exit(Duration::from_secs(10)), Some(0));

    let (code, out) = verify(&[&log, Path::new("--key"), &public]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("unsigned tail: 0 records"), "{out}");
    let (_, out) = verify(&[&log]);
    assert!(out.contains("chain only"), "{out}");
    let records = json_lines(&log);
    let checkpoints: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "checkpoint")
        .collect();
    assert!(checkpoints.len() >= 2, "{records:?}");
    assert_eq!(
        records.last().unwrap()["kind"],
        "checkpoint",
        "shutdown signs"
    );

    // openssl, on its own, checks every checkpoint.
    for (i, c) in checkpoints.iter().enumerate() {
        let signed = dir.write(&format!("signed{i}.txt"), c["signed"].as_str().unwrap());
        let sig = dir.0.join(format!("sig{i}.bin"));
        let bytes = decode(c["signature"].as_str().unwrap());
        std::fs::write(&sig, bytes).unwrap();
        let out = Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
            .arg(&public)
            .arg("-in")
            .arg(&signed)
            .arg("-sigfile")
            .arg(&sig)
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl: {out:?}");
    }
    // So does Python `cryptography`.
    let mut cmd = Command::new(python());
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/py/verify_checkpoints.py"
    ))
    .arg(&log)
    .arg(&public);
    let out = run_with_deadline(cmd, Duration::from_secs(60));
    assert_eq!(out.trim(), checkpoints.len().to_string());

    // Tamperings, each on a copy.
    let original = lines(&log);
    let copy = dir.0.join("copy.jsonl");
    let kept = PathBuf::from(format!("{}.checkpoints", log.display()));
    let key = |path: &Path| verify(&[path, Path::new("--key"), &public]);
    let call_at = original
        .iter()
        .position(|l| l.contains("\"kind\":\"call\""))
        .unwrap();
    let last_call = original
        .iter()
        .rposition(|l| l.contains("\"kind\":\"call\""))
        .unwrap();
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        ("an edited record", edit(&original, call_at), "edited"),
        (
            "the last record edited",
            edit(&original, last_call),
            "edited",
        ),
        (
            "head records deleted",
            original[2..].to_vec(),
            "head record",
        ),
        (
            "a middle record deleted",
            without(&original, call_at),
            "deleted",
        ),
        (
            "re-chained after a deletion",
            rechain(&without(&original, call_at)),
            "checkpoint",
        ),
        (
            "line ends made CRLF",
            original.iter().map(|l| format!("{l}\r")).collect(),
            "CRLF",
        ),
    ];
    for (what, tampered, named) in cases {
        write(&copy, &tampered);
        let (code, out) = key(&copy);
        assert_eq!(code, Some(1), "{what}: {out}");
        assert!(out.contains(named), "{what}: {out}");
        // All but the forgery break the chain itself: found without the key.
        if named != "checkpoint" {
            let (code, out) = verify(&[&copy]);
            assert_eq!(code, Some(1), "{what}, no key: {out}");
        }
    }
    // A re-chained forgery passes the chain alone: that is what keys are for.
    write(&copy, &rechain(&without(&original, call_at)));
    assert_eq!(verify(&[&copy]).0, Some(0));
    // Cut back past the last checkpoint: the kept copies tell.
    let before_last = original.len() - 1;
    write(&copy, &original[..before_last]);
    let (code, out) = verify(&[&copy, Path::new("--key"), &public]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("unsigned tail: 1 records"), "{out}");
    let with_kept = [
        &copy,
        Path::new("--key"),
        &public,
        Path::new("--checkpoints"),
        &kept,
    ];
    let (code, out) = verify(&with_kept);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("cut"), "{out}");
    // Another key.
    let (_, stranger) = keys(&dir, "stranger");
    let (code, out) = verify(&[&log, Path::new("--key"), &stranger]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("another key"), "{out}");
}

#[test]
fn a_gateway_killed_mid_run_leaves_an_unsigned_tail_and_no_false_break() {
    let dir = TempDir::new("audit-killed");
    let log = dir.0.join("audit.jsonl");
    let (private, public) = keys(&dir, "audit");
    let mut gw = Gateway::start(&config(&log, &private, 3));
    // Calls keep coming while the gateway is killed.
    let addr = gw.addr;
    let load = std::thread::spawn(move || {
        let mut c = crate::support::SseClient::open(addr);
        c.initialize(addr, "2025-06-18");
        for i in 0.. {
            let body = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                "params": {"name": "echo", "arguments": {}}});
            if c.post(addr, &body.to_string()).status != 202 || c.next_message().is_none() {
                return;
            }
        }
    });
    assert!(wait_until(Duration::from_secs(20), || json_lines(&log)
        .len()
        >= 20));
    let pid = gw.pid();
    gw.signal("KILL");
    let _ = gw.wait_exit(Duration::from_secs(10));
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "still running"
    );
    // The load's next request finds the gateway gone (and its thread ends).
    let _ = load.join();
    let records = json_lines(&log);
    let tail = records
        .iter()
        .rev()
        .take_while(|r| r["kind"] != "checkpoint")
        .count();
    let (code, out) = verify(&[&log, Path::new("--key"), &public]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("unsigned tail: {tail} records")),
        "{out}"
    );
    // A restart goes on with the chain and signs what the killed run left.
    let mut gw = Gateway::start(&config(&log, &private, 3));
    assert!(wait_until(Duration::from_secs(10), || {
        json_lines(&log).len() > records.len()
    }));
    gw.signal("TERM");
    assert_eq!(gw.wait_exit(Duration::from_secs(10)), Some(0));
    let (code, out) = verify(&[&log, Path::new("--key"), &public]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("unsigned tail: 0 records"), "{out}");
}

fn decode(b64: &str) -> Vec<u8> {
    argus_mcp::base64::decode(b64).unwrap()
}

/// `lines` with the record at `at` changed.
fn edit(lines: &[String], at: usize) -> Vec<String> {
    let mut out = lines.to_vec();
    out[at] = out[at].replacen("\"transport\":\"", "\"transport\":\"x", 1);
    assert_ne!(out[at], lines[at]);
    out
}

fn without(lines: &[String], at: usize) -> Vec<String> {
    let mut out = lines.to_vec();
    out.remove(at);
    out
}

/// Renumbered from 1 and chained again, as a forger with the file (and
/// not the key) would.
fn rechain(lines: &[String]) -> Vec<String> {
    let mut prev = "0".repeat(64);
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let mut record: Map<String, Value> = serde_json::from_str(line).unwrap();
            record.insert("seq".into(), json!(i + 1));
            record.insert("prev".into(), json!(prev));
            let text = Value::Object(record).to_string();
            prev = argus_mcp::sha256::hex(format!("{text}\n").as_bytes());
            text
        })
        .collect()
}

#[test]
fn records_are_signed_within_checkpoint_seconds_and_a_bad_key_is_a_config_error() {
    let dir = TempDir::new("audit-timer");
    let log = dir.0.join("audit.jsonl");
    let (private, public) = keys(&dir, "audit");
    let timed = config(&log, &private, 1000).replace(
        "checkpoint_every: 1000",
        "checkpoint_every: 1000, checkpoint_seconds: 1",
    );
    let gw = Gateway::start(&timed);
    // The start's catalog record is signed by the timer, not by a count.
    assert!(wait_until(Duration::from_secs(10), || {
        json_lines(&log).iter().any(|r| r["kind"] == "checkpoint")
    }));
    let (code, out) = verify(&[&log, Path::new("--key"), &public]);
    assert_eq!(code, Some(0), "{out}");
    drop(gw);

    let bad = dir.write(
        "bad.key",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    let file = dir.write("argus.yaml", &config(&log, &bad, 10));
    let out = Command::new(binary())
        .args(["check", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("audit.signing_key") && err.contains("not an Ed25519 key"),
        "{err}"
    );
}
