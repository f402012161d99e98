//! Real third-party MCP clients against the gateway. The SDKs are installed
//! by `tests/run-all.sh` into `.test-env/`; a missing SDK fails the test
//! with a message saying how to install it (these tests never skip).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::Gateway;

/// The Python interpreter that has the pinned `mcp` SDK.
fn python() -> PathBuf {
    let path = std::env::var_os("ARGUS_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-env/venv/bin/python")
        });
    assert!(
        path.exists(),
        "{} not found: run `bash tests/run-all.sh` once (it installs the Python mcp SDK)",
        path.display()
    );
    path
}

/// Runs a command with a deadline; returns stdout, panicking with stderr on failure.
fn run(mut command: Command, timeout: Duration) -> String {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + timeout;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{command:?} failed ({:?})\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn python_sdk_sse_client_initializes_and_lists() {
    let gw = Gateway::start("");
    let mut cmd = Command::new(python());
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/py/sse_client.py"
    ))
    .arg(format!("http://{}/sse", gw.addr));
    let stdout = run(cmd, Duration::from_secs(90));
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["server"], "argus-mcp");
    assert_eq!(v["tools"], serde_json::json!([]));
    assert_eq!(v["resources"], serde_json::json!([]));
    assert_eq!(v["templates"], serde_json::json!([]));
    assert_eq!(v["prompts"], serde_json::json!([]));
    assert!(gw.stderr().contains("opened over SSE"), "{}", gw.stderr());
}
