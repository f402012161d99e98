//! The command line: exit codes 0/1/2, banner order, signals, port in use,
//! config resolution.

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use crate::support::{Gateway, TempDir, binary, request};

#[test]
fn usage_errors_exit_2_with_one_line() {
    for args in [
        &[][..],
        &["bogus"],
        &["server", "--port", "x"],
        &["server", "--nope"],
        &["check", "-v"],
    ] {
        let out = Command::new(binary()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("argus-mcp: "), "{stderr}");
    }
}

#[test]
fn help_and_version() {
    let out = Command::new(binary()).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("argus-mcp server"));
    let out = Command::new(binary())
        .args(["server", "--version"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("argus-mcp {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn port_in_use_exits_1_with_one_line() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = TempDir::new("cli");
    let out = Command::new(binary())
        .args(["server", "--port", &port])
        .current_dir(&dir.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap();
    assert_eq!(
        last,
        format!("argus-mcp: cannot listen on 127.0.0.1:{port}: the port is already in use")
    );
}

#[test]
fn missing_config_file_exits_1() {
    let out = Command::new(binary())
        .args(["server", "-c", "/nonexistent/argus.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("cannot read config \"/nonexistent/argus.yaml\"")
    );
}

#[test]
fn sigterm_and_sigint_exit_0() {
    for signal in ["TERM", "INT"] {
        let mut gw = Gateway::start("");
        assert_eq!(request(gw.addr, "GET", "/health", &[], b"").status, 200);
        gw.signal(signal);
        assert_eq!(
            gw.wait_exit(Duration::from_secs(5)),
            Some(0),
            "{signal}: {}",
            gw.stderr()
        );
    }
}

#[test]
fn sighup_is_logged_and_ignored() {
    let config = format!(
        "backends:\n{}",
        crate::support::fixture_backend("a", &[("FIXTURE_TOOLS", "echo")], "")
    );
    let mut gw = Gateway::start(&config);
    let mut c = crate::support::SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    gw.signal("HUP");
    assert!(gw.logged("SIGHUP received"), "{}", gw.stderr());
    // The gateway, its session and its backend all live on.
    assert_eq!(gw.wait_exit(Duration::from_millis(300)), None);
    assert_eq!(c.names(gw.addr, "tools/list", "tools"), ["echo"]);
    gw.signal("TERM");
    assert_eq!(gw.wait_exit(Duration::from_secs(5)), Some(0));
}

#[test]
fn banner_lists_the_primary_transport_first() {
    let dir = TempDir::new("banner");
    let config = dir.write("argus.yaml", "server:\n  transport: streamable-http\n");
    let mut child = Command::new(binary())
        .args(["server", "--port", "0", "-c"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = crate::support::lines_of(child.stdout.take().unwrap());
    let read = || lines.recv_timeout(crate::support::READ_TIMEOUT).unwrap();
    let (first, second, third) = (read(), read(), read());
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.starts_with("argus-mcp "), "{first}");
    assert!(
        second.contains("/mcp") && second.contains("(primary)"),
        "{second}"
    );
    assert!(third.contains("/sse"), "{third}");
}

#[test]
fn config_is_found_in_the_working_directory_and_env() {
    // ./argus.yaml is picked up; flags beat it.
    let mut gw = Gateway::start_with("server:\n  port: 1\n", &[], &[]);
    assert_eq!(
        request(gw.addr, "GET", "/health", &[], b"").status,
        200,
        "--port 0 overrides port: 1"
    );
    gw.signal("TERM");
    assert_eq!(gw.wait_exit(Duration::from_secs(5)), Some(0));

    let dir = TempDir::new("env");
    let path = dir.write("custom.yaml", "server:\n  port: 70000\n");
    let out = Command::new(binary())
        .args(["check"])
        .env("ARGUS_CONFIG", &path)
        .current_dir(&dir.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "$ARGUS_CONFIG is read");
    assert!(String::from_utf8_lossy(&out.stderr).contains("custom.yaml"));

    let empty = TempDir::new("none");
    let out = Command::new(binary())
        .arg("check")
        .env_remove("ARGUS_CONFIG")
        .current_dir(&empty.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no config file found") && stderr.contains("argus.yaml"),
        "{stderr}"
    );
}

/// Runs the binary with `args`; its exit code and stderr.
fn usage(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(binary()).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_mistyped_option_suggests_the_closest_one_and_points_at_help() {
    assert_eq!(
        usage(&["check", "--conect"]),
        (
            Some(2),
            "argus-mcp: unknown option \"--conect\"; did you mean \"--connect\"? (see argus-mcp check --help)\n"
                .to_owned()
        )
    );
    // An option of another command says whose it is.
    assert_eq!(
        usage(&["check", "--port", "1"]),
        (
            Some(2),
            "argus-mcp: \"--port\" is an option of \"argus-mcp server\", not of \"argus-mcp check\" (see argus-mcp check --help)\n"
                .to_owned()
        )
    );
    // Nothing close: still the pointer.
    assert_eq!(
        usage(&["server", "--nope"]),
        (
            Some(2),
            "argus-mcp: unknown option \"--nope\" (see argus-mcp server --help)\n".to_owned()
        )
    );
}

#[test]
fn the_missing_command_message_lists_every_command() {
    assert_eq!(
        usage(&[]),
        (
            Some(2),
            "argus-mcp: missing command: \"server\", \"check\", \"stdio\", \"audit\" or \"catalog\" (see argus-mcp --help)\n"
                .to_owned()
        )
    );
}
