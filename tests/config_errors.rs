//! `argus-mcp check` on the config fixtures: one file per error class, each
//! error naming its key path and line; valid configs print the plan.

use std::process::{Command, Output};

use crate::support::binary;

fn check(fixture: &str) -> Output {
    Command::new(binary())
        .args(["check", "-c"])
        .arg(format!(
            "{}/fixtures/config/{fixture}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .env_remove("ARGUS_TEST_SURELY_UNSET")
        .env_remove("ARGUS_BACKEND_RETRIES")
        .output()
        .unwrap()
}

/// (fixture, key path, line, words the message must contain)
const ERROR_CLASSES: &[(&str, &str, u32, &str)] = &[
    ("yaml-syntax.yaml", "invalid YAML", 3, ""),
    (
        "unknown-key.yaml",
        "server.prot",
        3,
        "did you mean \"port\"",
    ),
    ("wrong-type.yaml", "server.port", 2, "expected a number"),
    (
        "out-of-range.yaml",
        "backends.a.timeouts.retries",
        6,
        "between 0 and 10",
    ),
    (
        "missing-required.yaml",
        "backends.web",
        3,
        "missing required field \"url\"",
    ),
    (
        "bad-url.yaml",
        "backends.web.url",
        4,
        "must start with http:// or https://",
    ),
    (
        "type-near-miss.yaml",
        "backends.web.type",
        3,
        "did you mean \"streamable-http\"",
    ),
    (
        "bad-backend-name.yaml",
        "backends.my server!",
        2,
        "1-64 characters",
    ),
    ("pkce.yaml", "backends.web.auth.type", 6, "not supported"),
    (
        "unset-variable.yaml",
        "backends.web.headers.Authorization",
        6,
        "\"ARGUS_TEST_SURELY_UNSET\" is not set",
    ),
    (
        "priority-without-order.yaml",
        "conflict_resolution.strategy",
        2,
        "non-empty \"order\"",
    ),
    (
        "bad-glob.yaml",
        "backends.a.filters.tools.allow[0]",
        7,
        "bad glob",
    ),
    ("not-a-mapping.yaml", "", 1, "must be a mapping"),
    (
        "tls-missing-file.yaml",
        "backends.web.tls.ca_file",
        6,
        "cannot read \"fixtures/config/no-such-ca.pem\"",
    ),
    (
        "tls-not-pem.yaml",
        "tls.ca_file",
        2,
        "holds no PEM certificate",
    ),
    (
        "tls-cert-without-key.yaml",
        "backends.web.tls.cert_file",
        6,
        "needs \"key_file\" too",
    ),
    (
        "tls-no-roots.yaml",
        "backends.web.url",
        5,
        "needs a root to trust",
    ),
    (
        "duplicate-key.yaml",
        "backends",
        10,
        "duplicate key \"backends\" (first at line 4, column 1)",
    ),
];

#[test]
fn each_error_class_names_key_and_line() {
    for (fixture, path, line, words) in ERROR_CLASSES {
        let out = check(fixture);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{fixture}: {stderr}");
        assert!(out.stdout.is_empty(), "{fixture}");
        let problem = stderr
            .lines()
            .find(|l| l.contains(path) && l.contains(words))
            .unwrap_or_else(|| {
                panic!("{fixture}: no line with {path:?} and {words:?} in:\n{stderr}")
            });
        assert!(
            problem.contains(&format!("line {line},")),
            "{fixture}: {problem}"
        );
    }
}

#[test]
fn all_errors_of_a_file_are_reported_at_once() {
    let out = check("many-errors.yaml");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("5 errors"), "{stderr}");
    for path in [
        "server.port",
        "server.transport",
        "backends.a",
        "backends.b.url",
        "sse_resilience.send_timeout",
    ] {
        assert!(stderr.contains(path), "{path} missing from:\n{stderr}");
    }
}

#[test]
fn valid_config_prints_the_plan() {
    let out = check("valid-full.yaml");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("listen:    127.0.0.1:9100 (primary transport: streamable-http)"),
        "{stdout}"
    );
    assert!(stdout.contains("backends:  4"), "{stdout}");
    for (name, kind) in [
        ("everything", "stdio"),
        ("web", "sse"),
        ("launched", "sse"),
        ("api", "streamable-http"),
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.split_whitespace().take(2).eq([name, kind])),
            "{name} {kind} missing:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("groups:    default (2), remote (2)"),
        "{stdout}"
    );
    // Secrets never reach the output.
    assert!(
        !stdout.contains("change-me") && !stdout.contains("dev-token"),
        "{stdout}"
    );
}

#[test]
fn argus_extras_are_accepted_with_warnings() {
    let out = check("argus-extras.yaml");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for key in [
        "feature_flags",
        "plugins",
        "server.auth_background_refresh_enabled",
        "backends.a.container",
        "backends.a.created_by",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("warning:") && l.contains(&format!("\"{key}\""))),
            "no warning for {key}:\n{stdout}"
        );
    }
    // The original's schema version is harmless: accepted silently.
    assert!(!stdout.contains("\"version\""), "{stdout}");
}

/// `argus-mcp check` on config text written to a scratch folder, run there.
fn check_in(dir: &crate::support::TempDir, config: &str) -> (Option<i32>, String) {
    let path = dir.write("argus.yaml", config);
    let out = Command::new(binary())
        .args(["check", "-c"])
        .arg(&path)
        .current_dir(&dir.0)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_repeated_key_inside_a_section_names_its_path_and_both_places() {
    let dir = crate::support::TempDir::new("dup");
    let (code, stderr) = check_in(
        &dir,
        "backends:\n  a:\n    type: stdio\n    command: cat\n    type: sse\n",
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr.lines().nth(1),
        Some(
            "  backends.a.type: duplicate key \"type\" (first at line 3, column 5) (line 5, column 5)"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("DuplicateKeyPolicy"), "{stderr}");
}

#[test]
fn check_refuses_an_audit_log_the_server_could_not_open() {
    let dir = crate::support::TempDir::new("audit-check");
    let config = "audit: {enabled: true, file: logs/audit.jsonl}\n";
    // A missing folder is fine (the server creates it); check creates nothing.
    let (code, stderr) = check_in(&dir, config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!dir.0.join("logs").exists(), "check created the folder");
    // A file where the folder should be.
    std::fs::write(dir.0.join("logs"), "").unwrap();
    let (code, stderr) = check_in(&dir, config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "\n  audit.file: cannot open the audit log \"logs/audit.jsonl\": \"logs\" is not a directory (line 1, column 30)"
        ),
        "{stderr}"
    );
    // A folder where the file should be.
    std::fs::remove_file(dir.0.join("logs")).unwrap();
    std::fs::create_dir_all(dir.0.join("logs/audit.jsonl")).unwrap();
    let (code, stderr) = check_in(&dir, config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "\n  audit.file: cannot open the audit log \"logs/audit.jsonl\": it is a directory (line 1, column 30)"
        ),
        "{stderr}"
    );
    // The same file with the log off: nothing to open, nothing to refuse.
    let (code, stderr) = check_in(&dir, "audit: {enabled: false, file: logs/audit.jsonl}\n");
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn management_tokens_and_groups_are_served_so_not_warned_about() {
    let dir = crate::support::TempDir::new("served");
    let path = dir.write(
        "argus.yaml",
        "server:\n  management: {token: a-long-enough-token-123}\nbackends:\n  a:\n    type: stdio\n    command: x\n    group: ops\n",
    );
    let out = Command::new(binary())
        .args(["check", "-c"])
        .arg(&path)
        .env_remove("ARGUS_MGMT_TOKEN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("group=ops"), "{stdout}");
    assert!(!stdout.contains("warning:"), "{stdout}");
}

#[test]
fn weak_management_tokens_are_refused_from_the_file_and_the_environment() {
    let dir = crate::support::TempDir::new("weak-token");
    let check = |file: &str, env: Option<&str>| {
        let path = dir.write("argus.yaml", file);
        let mut cmd = Command::new(binary());
        cmd.args(["check", "-c"])
            .arg(&path)
            .env_remove("ARGUS_MGMT_TOKEN");
        if let Some(token) = env {
            cmd.env("ARGUS_MGMT_TOKEN", token);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, text) = check(
        "server:\n  management:\n    token: ChangeMe-ChangeMe\n",
        None,
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(
            "server.management.token: the management token is the placeholder \"changeme-changeme\""
        ) && text.contains("line 3"),
        "{text}"
    );
    let (code, text) = check("server:\n  management: {token: short-secret}\n", None);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("has 12 characters; at least 16 are required"),
        "{text}"
    );
    assert!(
        !text.contains("short-secret"),
        "the token is never echoed: {text}"
    );
    // The environment's token wins, and is held to the same rule.
    let (code, text) = check("{}\n", Some("  password  "));
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("$ARGUS_MGMT_TOKEN: the management token is the placeholder \"password\""),
        "{text}"
    );
    let (code, text) = check("{}\n", Some("0123456789abcdef"));
    assert_eq!(code, Some(0), "{text}");
    // A weak token stops the server at startup too.
    let path = dir.write("argus.yaml", "server:\n  management: {token: secret}\n");
    let out = Command::new(binary())
        .args(["server", "--port", "0", "-c"])
        .arg(&path)
        .env_remove("ARGUS_MGMT_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("placeholder \"secret\""));
}

#[test]
fn the_shipped_config_is_valid() {
    let out = Command::new(binary())
        .args(["check", "-c"])
        .arg(format!("{}/argus.yaml", env!("CARGO_MANIFEST_DIR")))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
