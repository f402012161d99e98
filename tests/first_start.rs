//! The first minutes with the gateway, as a new user sees them at default
//! verbosity: a stdio backend that crashes says why (the last lines of its
//! stderr) in the failure line, in `check --connect` and in
//! `/manage/v1/backends`; a 2025-era server that ignores the
//! `server/discover` probe raises no warning; a slow first start is said to
//! be one.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Gateway, READ_TIMEOUT, TempDir, binary, lines_of, request, wait_until};

/// A server that reads the probe, then dies the way a Python server with a
/// missing module does: six lines on stderr (one blank), exit 1.
const CRASH_SCRIPT: &str = r#"#!/bin/sh
read -r request
echo "loading config" >&2
echo "starting the server" >&2
echo "" >&2
echo "Traceback (most recent call last):" >&2
echo '  File "/srv/server.py", line 1, in <module>' >&2
echo "    import foo" >&2
echo "ModuleNotFoundError: No module named 'foo'" >&2
exit 1
"#;

/// The five lines kept of `CRASH_SCRIPT`'s stderr (the oldest and the blank
/// one are not), as every failure text quotes them.
const CRASH_TAIL: &str = "starting the server | Traceback (most recent call last): | \
     File \"/srv/server.py\", line 1, in <module> | import foo | \
     ModuleNotFoundError: No module named 'foo'";

/// A 2025-era server (`python3 server.py MODE`) with one tool. It ignores
/// what it does not know, as many do before `initialize`: the probe gets
/// no answer. `slow`: `initialize` takes 5 s. `dies`: answers the probe
/// with an error, and after `tools/list` writes a last word on stderr and
/// exits 1.
const PY_SERVER: &str = r#"import json, sys, time
mode = sys.argv[1]
print("serving", file=sys.stderr, flush=True)
for line in sys.stdin:
    msg = json.loads(line)
    method, id = msg.get("method"), msg.get("id")
    if id is None:
        continue
    if method == "initialize":
        if mode == "slow":
            time.sleep(5)
        result = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                  "serverInfo": {"name": "py", "version": "1"}}
        print(json.dumps({"jsonrpc": "2.0", "id": id, "result": result}), flush=True)
    elif method == "tools/list":
        tools = [{"name": "t", "inputSchema": {"type": "object"}}]
        print(json.dumps({"jsonrpc": "2.0", "id": id, "result": {"tools": tools}}), flush=True)
        if mode == "dies":
            print("fatal: lost the database", file=sys.stderr, flush=True)
            sys.exit(1)
    elif mode == "dies":
        error = {"code": -32601, "message": "unknown method"}
        print(json.dumps({"jsonrpc": "2.0", "id": id, "error": error}), flush=True)
"#;

/// The causes a dead child's connection closes with: its stdout's end or
/// its exit, whichever the gateway sees first.
const CRASH_CAUSES: [&str; 2] = ["stdout closed", "process exited (exit status: 1)"];

/// Writes the crashing server; returns its path.
fn crash_script(dir: &TempDir) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.write("crash.sh", CRASH_SCRIPT);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A config with one backend running the Python server in `mode`.
fn py_config(dir: &TempDir, name: &str, mode: &str, timeouts: &str) -> String {
    let script = dir.write("server.py", PY_SERVER);
    format!(
        "backends:\n  {name}:\n    type: stdio\n    command: python3\n    args: [\"{}\", \"{mode}\"]\n    timeouts: {timeouts}\n",
        script.display()
    )
}

/// The first stderr line of `gw` containing `needle`, waiting up to 10 s
/// for it.
fn line_with(gw: &Gateway, needle: &str) -> String {
    let found = |log: String| log.lines().find(|l| l.contains(needle)).map(str::to_owned);
    assert!(
        wait_until(READ_TIMEOUT, || found(gw.stderr()).is_some()),
        "no line with {needle:?}; stderr:\n{}",
        gw.stderr()
    );
    found(gw.stderr()).unwrap()
}

/// The one backend's entry in `/manage/v1/backends`.
fn backend(gw: &Gateway) -> Value {
    let resp = request(gw.addr, "GET", "/manage/v1/backends", &[], b"");
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()["backends"][0].clone()
}

/// Asserts that `actual` is `expected(cause)` for one of [`CRASH_CAUSES`].
fn assert_one_of(actual: &str, expected: impl Fn(&str) -> String) {
    assert!(
        CRASH_CAUSES.iter().any(|cause| actual == expected(cause)),
        "got:\n{actual}\nwanted:\n{}",
        expected(CRASH_CAUSES[0])
    );
}

#[test]
fn a_crashing_stdio_backend_says_why_in_its_failure_line_and_the_management_api() {
    let dir = TempDir::new("crash");
    let script = crash_script(&dir);
    let gw = Gateway::start_plain(&format!(
        "backends:\n  broken:\n    type: stdio\n    command: {}\n    timeouts: {{retries: 0}}\n",
        script.display()
    ));
    let line = line_with(&gw, "[broken] failed: ");
    assert_one_of(&line, |cause| {
        format!(
            "ERROR [argus_mcp::supervisor] [broken] failed: initialize: disconnected ({cause}); \
             stderr: {CRASH_TAIL}; giving up after 1 attempt(s)"
        )
    });
    let backend = backend(&gw);
    assert_eq!(backend["status"], "failed", "{backend}");
    let error = backend["error"].as_str().unwrap_or_default();
    assert_one_of(error, |cause| {
        format!("initialize: disconnected ({cause}); stderr: {CRASH_TAIL}")
    });
    assert_eq!(backend["conditions"][0]["message"], error, "{backend}");
}

#[test]
fn check_connect_shows_a_crashing_backends_stderr() {
    let dir = TempDir::new("crash-check");
    let script = crash_script(&dir);
    let config = dir.write(
        "argus.yaml",
        &format!(
            "backends:\n  broken:\n    type: stdio\n    command: {}\n    timeouts: {{retries: 0}}\n",
            script.display()
        ),
    );
    let mut child = Command::new(binary())
        .args(["check", "--connect", "-c"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = lines_of(child.stdout.take().unwrap());
    let deadline = Instant::now() + READ_TIMEOUT;
    let mut stdout = Vec::new();
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => stdout.push(line),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("check --connect did not finish:\n{}", stdout.join("\n"));
            }
        }
    }
    assert_eq!(child.wait().unwrap().code(), Some(1));
    let line = stdout
        .iter()
        .find(|l| l.starts_with("  broken: "))
        .unwrap_or_else(|| panic!("no line for the backend:\n{}", stdout.join("\n")));
    assert_one_of(line, |cause| {
        format!("  broken: failed: initialize: disconnected ({cause}); stderr: {CRASH_TAIL}")
    });
}

#[test]
fn a_backend_that_dies_after_connecting_says_why() {
    let dir = TempDir::new("dies");
    let gw = Gateway::start_plain(&py_config(&dir, "dies", "dies", "{retries: 0}"));
    let line = line_with(&gw, "[dies] failed: ");
    let prefix = "ERROR [argus_mcp::supervisor] [dies] failed: disconnected ";
    let (elapsed, rest) = line
        .strip_prefix(prefix)
        .and_then(|rest| rest.split_once("s after connecting ("))
        .unwrap_or_else(|| panic!("unexpected line: {line}"));
    assert!(elapsed.parse::<f64>().is_ok(), "{line}");
    assert_one_of(rest, |cause| {
        format!(
            "{cause}; stderr: serving | fatal: lost the database); giving up after 1 attempt(s)"
        )
    });
    let error = backend(&gw)["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.ends_with("; stderr: serving | fatal: lost the database)"),
        "{error}"
    );
}

#[test]
fn a_silent_discover_probe_is_no_warning() {
    let dir = TempDir::new("quiet");
    let gw = Gateway::start_plain(&py_config(&dir, "quiet", "quiet", "{retries: 0}"));
    assert!(
        wait_until(READ_TIMEOUT, || backend(&gw)["status"] == "connected"),
        "{}\nstderr:\n{}",
        backend(&gw),
        gw.stderr()
    );
    // The probe's two seconds of silence were the expected answer of a
    // 2025-era server: nothing at default verbosity says otherwise.
    let stderr = gw.stderr();
    assert!(
        !stderr.contains("server/discover") && !stderr.lines().any(|l| l.starts_with("WARN")),
        "{stderr}"
    );
}

#[test]
fn a_slow_first_start_is_said_to_be_one_then_connected() {
    let dir = TempDir::new("slow");
    let gw = Gateway::start_plain(&py_config(&dir, "slow", "slow", "{init: 30}"));
    let connected = "INFO  [argus_mcp::backends] [slow] connected: 1 tools, 0 resources, 0 templates, 0 prompts";
    assert!(
        wait_until(Duration::from_secs(15), || gw.stderr().contains(connected)),
        "{}",
        gw.stderr()
    );
    let stderr = gw.stderr();
    let slow: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("still starting"))
        .collect();
    // Due 5 s after the start; a loaded machine may wake it a second late.
    let expected = |secs: u64| {
        format!(
            "INFO  [argus_mcp::backends] [slow] still starting after {secs}s: \"python3\" has not answered yet (initialize times out after 30s)"
        )
    };
    assert!(
        slow.len() == 1 && (slow[0] == expected(5) || slow[0] == expected(6)),
        "wanted one line like {:?}:\n{stderr}",
        expected(5)
    );
    let at = |needle: &str| stderr.find(needle).unwrap();
    assert!(at("still starting") < at(connected), "{stderr}");
}
