//! The catalog lock: `catalog lock` writes one sorted line per tool,
//! prompt and template with its definition hash; `check --connect` names
//! what drifted (a changed definition, a new item, a removed one); call
//! records carry the definition hash the lock holds.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

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
}
