//! `argus-mcp stdio`: the gateway served to one client over
//! stdin/stdout; nothing but messages on stdout; ends when stdin closes,
//! leaving no process behind. Raw, and with both SDKs' stdio clients.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    TempDir, binary, children, fixture_backend, lines_of, python, run_with_deadline,
};

fn config(dir: &TempDir) -> std::path::PathBuf {
    dir.write(
        "argus.yaml",
        &format!(
            "backends:\n{}",
            fixture_backend("a", &[("FIXTURE_TOOLS", "echo,slow")], "")
        ),
    )
}

#[test]
fn one_session_over_stdin_and_stdout_that_ends_with_stdin() {
    let dir = TempDir::new("stdio-front");
    let path = config(&dir);
    let mut child = Command::new(binary())
        .args(["stdio", "-v", "-c"])
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let out = lines_of(child.stdout.take().unwrap());
    let err = lines_of(child.stderr.take().unwrap());
    let mut send = |v: &str| {
        stdin.write_all(v.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    };
    let next = || -> Value {
        let line = out
            .recv_timeout(Duration::from_secs(20))
            .expect("a line on stdout");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {line}"))
    };
    send(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#,
    );
    let init = next();
    assert_eq!(init["result"]["serverInfo"]["name"], "argus-mcp", "{init}");
    send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#);
    let tools = next();
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "slow"]);
    send(
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"x":1}}}"#,
    );
    assert_eq!(next()["result"]["content"][0]["text"], "a:echo:{\"x\":1}");
    send("this is not json");
    assert_eq!(next()["error"]["code"], -32700);
    send(r#"[{"jsonrpc":"2.0","id":4,"method":"ping"}]"#);
    assert_eq!(next()["error"]["code"], -32600);
    // A call in flight when stdin closes is cancelled; the process and its
    // backends end.
    send(
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"slow","arguments":{"ms":60000}}}"#,
    );
    let below: Vec<u32> = {
        let mut all = Vec::new();
        let mut todo = vec![child.id()];
        while let Some(p) = todo.pop() {
            for c in children(p) {
                all.push(c);
                todo.push(c);
            }
        }
        all
    };
    assert!(!below.is_empty(), "the backend runs below the gateway");
    drop(stdin);
    let exited = crate::support::wait_until(Duration::from_secs(10), || {
        child.try_wait().unwrap().is_some()
    });
    assert!(exited, "still running after stdin closed");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    crate::support::assert_gone(&below);
    // Logs went to stderr.
    let log: Vec<String> = err.try_iter().collect();
    assert!(
        log.iter().any(|l| l.contains("opened over stdio")),
        "{log:?}"
    );
}

#[test]
fn both_sdks_stdio_clients_use_the_gateway() {
    let dir = TempDir::new("stdio-sdk");
    let path = config(&dir);
    let modules = std::env::var("ARGUS_NODE_MODULES").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/.test-env/node/node_modules").to_owned()
    });
    let args = json!({"via": "stdio"}).to_string();
    let mut py = Command::new(python());
    py.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/py/stdio_client.py"
    ))
    .arg(binary())
    .arg(&path)
    .arg("echo")
    .arg(&args);
    let mut ts = Command::new("node");
    ts.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/js/stdio_client.cjs"
    ))
    .arg(binary())
    .arg(&path)
    .arg("echo")
    .arg(&args)
    .env("ARGUS_NODE_MODULES", &modules);
    for (label, cmd) in [("python", py), ("typescript", ts)] {
        let stdout = run_with_deadline(cmd, Duration::from_secs(90));
        let v: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{label}: {e}: {stdout}"));
        assert_eq!(v["server"], "argus-mcp", "{label}: {v}");
        assert_eq!(v["tools"], json!(["echo", "slow"]), "{label}: {v}");
        assert_eq!(v["call"], "a:echo:{\"via\":\"stdio\"}", "{label}: {v}");
    }
}
