//! Real third-party MCP clients against the gateway. The SDKs are installed
//! by `tests/run-all.sh` into `.test-env/`; a missing SDK fails the test
//! with a message saying how to install it (these tests never skip).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{Gateway, SseClient, python, run_with_deadline as run};

/// The `node_modules` folder with the pinned npm packages.
fn node_modules() -> PathBuf {
    let path = std::env::var_os("ARGUS_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-env/node/node_modules")
        });
    assert!(
        path.join("@modelcontextprotocol/server-everything")
            .exists(),
        "{} has no server-everything: run `bash tests/run-all.sh` once (it installs the npm packages)",
        path.display()
    );
    path
}

/// A gateway fronting the real `@modelcontextprotocol/server-everything` over stdio.
fn everything_gateway() -> Gateway {
    let bin = node_modules().join(".bin/mcp-server-everything");
    let config = format!(
        "backends:\n  everything:\n    type: stdio\n    command: {}\n    args: [stdio]\n",
        bin.display()
    );
    let gw = Gateway::start(&config);
    // Wait until it is connected, so the clients see its catalog.
    let mut probe = SseClient::open(gw.addr);
    probe.initialize(gw.addr, "2025-06-18");
    gw
}

/// Checks what a client printed about server-everything behind the gateway.
fn assert_everything(v: &serde_json::Value, greeting: &str) {
    assert_eq!(v["server"], "argus-mcp", "{v}");
    let has = |key: &str, item: &str| {
        v[key]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == item))
    };
    assert!(has("tools", "echo") && has("tools", "get-sum"), "{v}");
    assert!(has("prompts", "simple-prompt"), "{v}");
    assert!(
        has("templates", "demo://resource/dynamic/text/{resourceId}"),
        "{v}"
    );
    assert!(
        v["resources"].as_array().is_some_and(|r| !r.is_empty()),
        "{v}"
    );
    assert!(
        v["call"].as_str().is_some_and(|t| t.contains(greeting)),
        "{v}"
    );
}

#[test]
fn python_sdk_sse_client_initializes_and_lists() {
    let gw = Gateway::start("");
    let mut cmd = Command::new(python());
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/py/mcp_client.py"
    ))
    .arg(format!("http://{}/sse", gw.addr));
    let stdout = run(cmd, Duration::from_secs(90));
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["server"], "argus-mcp");
    assert_eq!(v["tools"], serde_json::json!([]));
    assert_eq!(v["resources"], serde_json::json!([]));
    assert_eq!(v["templates"], serde_json::json!([]));
    assert_eq!(v["prompts"], serde_json::json!([]));
    assert!(gw.logged("opened over SSE"), "{}", gw.stderr());
}

#[test]
fn python_sdk_lists_and_calls_server_everything_through_the_gateway() {
    let gw = everything_gateway();
    let mut cmd = Command::new(python());
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/py/mcp_client.py"
    ))
    .arg(format!("http://{}/sse", gw.addr))
    .args(["echo", r#"{"message": "hello from python"}"#]);
    let stdout = run(cmd, Duration::from_secs(90));
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_everything(&v, "hello from python");
    assert_eq!(v["call_is_error"], false);
}

#[test]
fn typescript_sdk_lists_and_calls_server_everything_through_the_gateway() {
    let gw = everything_gateway();
    let mut cmd = Command::new("node");
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/js/mcp_client.cjs"
    ))
    .arg(format!("http://{}/sse", gw.addr))
    .args(["echo", r#"{"message": "hello from typescript"}"#])
    .env("ARGUS_NODE_MODULES", node_modules());
    let stdout = run(cmd, Duration::from_secs(90));
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_everything(&v, "hello from typescript");
}

/// A launched-and-waited server process, killed on drop.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn both_sdks_over_both_transports_with_all_three_backend_types() {
    let modules = node_modules();
    // streamable-http: server-everything, started here.
    let http_port = crate::support::free_port();
    let _everything = Server(
        Command::new(modules.join(".bin/mcp-server-everything"))
            .arg("streamableHttp")
            .env("PORT", http_port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(crate::support::wait_until(Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", http_port)).is_ok()
    }));
    // sse: the Python SDK server, launched by the gateway; stdio: the fixture.
    let sse_port = crate::support::free_port();
    let config = format!(
        "conflict_resolution: {{strategy: prefix}}\nbackends:\n  http:\n    type: streamable-http\n    url: http://127.0.0.1:{http_port}/mcp\n  py:\n    type: sse\n    url: http://127.0.0.1:{sse_port}/sse\n    command: {}\n    args: [\"{}/tests/py/sse_server.py\", \"{sse_port}\"]\n    timeouts: {{sse_startup: 20}}\n{}",
        python().display(),
        env!("CARGO_MANIFEST_DIR"),
        crate::support::fixture_backend("local", &[("FIXTURE_TOOLS", "hello")], ""),
    );
    let gw = Gateway::start(&config);
    let mut probe = SseClient::open(gw.addr);
    probe.initialize(gw.addr, "2025-06-18");
    let calls = [
        (
            "http_echo",
            r#"{"message": "three types"}"#,
            "Echo: three types",
        ),
        ("py_add", r#"{"a": 1, "b": 2}"#, "python says 3"),
        ("local_hello", r#"{"x": 1}"#, "local:hello:{\"x\":1}"),
    ];
    let mut args: Vec<String> = Vec::new();
    for (tool, json, _) in calls {
        args.push(tool.into());
        args.push(json.into());
    }
    for path in ["sse", "mcp"] {
        let url = format!("http://{}/{path}", gw.addr);
        let mut py = Command::new(python());
        py.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/mcp_client.py"
        ))
        .arg(&url)
        .args(&args);
        let mut ts = Command::new("node");
        ts.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/js/mcp_client.cjs"
        ))
        .arg(&url)
        .args(&args)
        .env("ARGUS_NODE_MODULES", &modules);
        for (label, cmd) in [("python", py), ("typescript", ts)] {
            let stdout = run(cmd, Duration::from_secs(90));
            let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
            let tools = v["tools"].as_array().unwrap();
            for tool in ["http_echo", "py_add", "local_hello"] {
                assert!(
                    tools.iter().any(|t| t == tool),
                    "{label} {path}: {tool} missing: {v}"
                );
            }
            for (i, (_, _, expect)) in calls.iter().enumerate() {
                let got = v["calls"][i].as_str().unwrap_or("");
                assert!(got.contains(expect), "{label} {path}: call {i}: {got}");
            }
        }
    }
}

#[test]
fn sampling_requests_are_relayed_to_the_python_sdk_client_on_both_transports() {
    let gw = everything_gateway();
    for path in ["sse", "mcp"] {
        let mut cmd = Command::new(python());
        cmd.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/sampling_client.py"
        ))
        .arg(format!("http://{}/{path}", gw.addr));
        let stdout = run(cmd, Duration::from_secs(90));
        assert!(stdout.contains("sampled by python"), "{path}: {stdout}");
    }
}

#[test]
fn both_sdks_answer_sampling_while_another_client_of_the_backend_is_busy() {
    use serde_json::json;
    let dir = crate::support::TempDir::new("sdk-sampling");
    let log = dir.0.join("received.jsonl");
    let log_text = log.to_string_lossy().into_owned();
    let config = format!(
        "backends:\n{}",
        crate::support::fixture_backend(
            "a",
            &[("FIXTURE_TOOLS", "ask,go,slow"), ("FIXTURE_LOG", &log_text)],
            ""
        )
    );
    let gw = Gateway::start(&config);
    let modules = node_modules();
    let calls_of = |tool: &str| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["method"] == "tools/call" && m["params"]["name"] == tool)
            .count()
    };
    let mut busy = SseClient::open(gw.addr);
    busy.initialize_with(gw.addr, "2025-06-18", json!({"sampling": {}}));
    let mut releaser = SseClient::open(gw.addr);
    releaser.initialize(gw.addr, "2025-06-18");
    let mut round = 0;
    for path in ["sse", "mcp"] {
        for label in ["python", "typescript"] {
            round += 1;
            let url = format!("http://{}/{path}", gw.addr);
            let args = json!({"after_go": true, "tag": true, "text": label}).to_string();
            let mut cmd = if label == "python" {
                let mut c = Command::new(python());
                c.arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/py/sampling_client.py"
                ));
                c
            } else {
                let mut c = Command::new("node");
                c.arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/js/sampling_client.cjs"
                ))
                .env("ARGUS_NODE_MODULES", &modules);
                c
            };
            cmd.arg(&url).arg("ask").arg(&args);
            let sdk = std::thread::spawn(move || run(cmd, Duration::from_secs(90)));
            // The SDK's call waits at the backend; then the other client's
            // call, more recent, is in flight too when the backend asks.
            assert!(
                crate::support::wait_until(Duration::from_secs(60), || calls_of("ask") == round),
                "{label} over /{path}: its call never reached the backend"
            );
            let slow = json!({"jsonrpc":"2.0","id":format!("busy-{round}"),"method":"tools/call","params":{"name":"slow","arguments":{"ms":1500}}});
            assert_eq!(busy.post(gw.addr, &slow.to_string()).status, 202);
            assert!(crate::support::wait_until(
                Duration::from_secs(10),
                || calls_of("slow") == round
            ));
            let went = releaser.call(gw.addr, json!(round), "tools/call", json!({"name": "go"}));
            assert_eq!(went["result"]["content"][0]["text"], "went");
            let stdout = sdk.join().unwrap();
            assert!(
                stdout.contains(&format!("sampled by {label}")),
                "{label} over /{path}: {stdout}"
            );
            // The busy client got its own answer and nothing else.
            let next = busy.next_message().expect("the busy call's answer");
            assert_eq!(
                next["id"],
                format!("busy-{round}"),
                "{label} over /{path}: {next}"
            );
        }
    }
}
