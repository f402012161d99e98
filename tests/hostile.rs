//! Hostile and broken input from backends and clients: nothing they send
//! panics a thread, deafens a backend or grows without bound.

use serde_json::{Value, json};

use crate::support::{Gateway, SseClient, fixture_backend, text};

/// Has the fixture write `line` to its stdout as it is.
fn raw_line(c: &mut SseClient, gw: &Gateway, id: i64, line: &str) {
    let reply = c.call(
        gw.addr,
        json!(id),
        "tools/call",
        json!({"name": "raw", "arguments": {"line": line}}),
    );
    assert_eq!(text(&reply), "raw sent", "{reply}");
}

#[test]
fn malformed_backend_notifications_leave_the_backend_served() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("a", &[("FIXTURE_TOOLS", "raw,toggle,notify")], "")
    );
    let gw = Gateway::start(&config);
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let lvl = c.call(
        gw.addr,
        json!(1),
        "logging/setLevel",
        json!({"level": "debug"}),
    );
    assert_eq!(lvl["result"], json!({}));
    // Each of these once reached code that indexed into them.
    let hostile = [
        r#"{"jsonrpc":"2.0","method":"notifications/message","params":[1,2]}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/resources/updated","params":[]}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/progress","params":[7]}"#,
        r#"{"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage","params":[]}"#,
        r#"{"jsonrpc":"2.0","id":[1],"result":{}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":[]}"#,
    ];
    for (i, line) in hostile.iter().enumerate() {
        raw_line(&mut c, &gw, 10 + i as i64, line);
    }
    // The supervisor thread still handles this backend's events: a real
    // list change is noticed, re-discovered and announced.
    let toggled = c.call(
        gw.addr,
        json!(2),
        "tools/call",
        json!({"name": "toggle", "arguments": {}}),
    );
    assert_eq!(text(&toggled), "toggled");
    let announced = (0..20).any(|_| {
        c.next_message()
            .is_some_and(|m| m["method"] == "notifications/tools/list_changed")
    });
    assert!(announced, "no tools/list_changed after the hostile lines");
    assert!(
        c.names(gw.addr, "tools/list", "tools")
            .contains(&"added".to_owned())
    );
    // And logs still flow, with the backend named as logger.
    let notify = json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"notify","arguments":{"level":"error","uri":"file:///x"}}});
    assert_eq!(c.post(gw.addr, &notify.to_string()).status, 202);
    let log = (0..5)
        .filter_map(|_| c.next_message())
        .find(|m| m["method"] == "notifications/message")
        .expect("a log message after the hostile lines");
    assert_eq!(log["params"]["logger"], "a");
}

/// A listener that panics on its second catalog change: the supervisor
/// thread of the backend must notice, stop it and start it again.
#[test]
fn a_panic_in_a_backend_supervisor_restarts_the_backend() {
    use argus_mcp::backend::Connection;
    use argus_mcp::config::Config;
    use argus_mcp::jsonrpc::RequestId;
    use argus_mcp::supervisor::{BackendStatus, Listener, Supervisor, Views};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[derive(Default)]
    struct Panicky(AtomicUsize);
    impl Listener for Panicky {
        fn catalog_changed(&self, _: &Views, _: &Views) {
            if self.0.fetch_add(1, Ordering::SeqCst) == 1 {
                panic!("listener bug (test)");
            }
        }
        fn notification(&self, _: &str, _: &str, _: Option<Value>) {}
        fn request(
            &self,
            _: &str,
            _: &Arc<Connection>,
            _: RequestId,
            _: &str,
            _: Option<Value>,
            _: Option<argus_mcp::backend::Origin>,
        ) {
        }
    }

    let yaml = format!(
        "backends:\n{}",
        fixture_backend(
            "a",
            &[("FIXTURE_TOOLS", "crash,echo")],
            "    timeouts: {retry_delay: 0}\n"
        )
    );
    let config = Config::parse(&yaml, &|k| std::env::var(k).ok()).expect("config");
    let supervisor = Supervisor::new(Arc::new(config));
    let listener = Arc::new(Panicky::default());
    supervisor.set_listener(listener.clone());
    supervisor.start().unwrap();
    assert!(supervisor.wait_first_pass(Duration::from_secs(10)));
    let conn = supervisor.link(0).expect("connected").conn.clone();
    let pid_before = supervisor.states()[0].1.pid;
    // The crash takes the tools out of the catalog: the second change, on
    // which the listener panics inside the supervisor's own loop.
    let _ = conn.request(
        "tools/call",
        Some(json!({"name": "crash"})),
        Duration::from_secs(5),
    );
    let back = crate::support::wait_until(Duration::from_secs(10), || {
        let (_, state) = &supervisor.states()[0];
        state.status == BackendStatus::Connected && state.pid != pid_before
    });
    assert!(
        back,
        "backend not restarted: {:?}",
        supervisor.states()[0].1.status
    );
    assert!(
        listener.0.load(Ordering::SeqCst) >= 3,
        "catalog rebuilt after the panic"
    );
    let echo = supervisor
        .link(0)
        .unwrap()
        .conn
        .request(
            "tools/call",
            Some(json!({"name": "echo", "arguments": {}})),
            Duration::from_secs(5),
        )
        .expect("the restarted backend answers");
    assert_eq!(echo["content"][0]["text"], "a:echo:{}");
    supervisor.stop();
}

#[test]
fn sessions_past_max_sessions_get_503_on_both_transports() {
    use crate::support::{request, wait_until};
    use std::time::Duration;
    let gw = Gateway::start("server: {max_sessions: 2}\nsse_resilience: {cleanup_deadline: 1}\n");
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
    let mcp_init = || {
        request(
            gw.addr,
            "POST",
            "/mcp",
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json, text/event-stream"),
            ],
            init.as_bytes(),
        )
    };
    let first = SseClient::open(gw.addr);
    let second = mcp_init();
    assert_eq!(second.status, 200, "{}", second.text());
    let refused = request(gw.addr, "GET", "/sse", &[], b"");
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(refused.text().contains("server.max_sessions"));
    let refused = mcp_init();
    assert_eq!(refused.status, 503);
    assert_eq!(
        refused.json()["error"]["code"],
        -32603,
        "{}",
        refused.text()
    );
    assert!(gw.logged("sessions open (server.max_sessions)"));
    // A session that ends makes room again.
    drop(first);
    assert!(
        wait_until(Duration::from_secs(10), || mcp_init().status == 200),
        "no room after a session ended"
    );
}

#[test]
fn oversized_client_info_is_refused_and_creates_no_session() {
    let gw = Gateway::start("");
    let mut c = SseClient::open(gw.addr);
    let big = "x".repeat(argus_mcp::limits::MAX_CLIENT_INFO_BYTES);
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{"experimental":{"blob":big}},
        "clientInfo":{"name":"t","version":"1"}}});
    let reply = c.call(gw.addr, json!(0), "initialize", init["params"].clone());
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most")
    );
    let after = c.call(gw.addr, json!(1), "tools/list", json!({}));
    assert_eq!(after["error"]["code"], -32600, "still not initialized");
}

#[test]
fn a_backend_that_dies_right_after_connecting_backs_off() {
    use std::time::Duration;
    let config = format!(
        "backends:\n{}",
        fixture_backend(
            "looping",
            &[("FIXTURE_TOOLS", "x"), ("FIXTURE_EXIT_AFTER_LIST", "1")],
            "    timeouts: {retries: 10, retry_delay: 0.2}\n"
        )
    );
    let gw = Gateway::start(&config);
    // Each quick death is a failed attempt with a growing delay: by the
    // third retry it has connected at most three times (a tight respawn
    // loop connects again and again and never gets to a third retry). One
    // may die before its discovery is read: a failed start, same count.
    assert!(
        crate::support::wait_until(Duration::from_secs(15), || gw
            .stderr()
            .contains("retry 3/10")),
        "{}",
        gw.stderr()
    );
    let log = gw.stderr();
    let upto = &log[..log.find("retry 3/10").unwrap()];
    let connects = upto.matches("[looping] connected:").count();
    assert!((1..=3).contains(&connects), "{connects} connects: {log}");
    assert!(upto.contains("s after connecting"), "{log}");
}

#[test]
fn no_secret_reaches_logs_clients_or_check() {
    use std::process::Command;
    let closed = crate::support::free_port();
    let config = format!(
        "backends:\n  remote:\n    type: streamable-http\n    url: http://user:hunter2@127.0.0.1:{closed}/mcp?token=hunter3\n    timeouts: {{retries: 1, retry_delay: 0.1}}\n  launched:\n    type: sse\n    url: http://127.0.0.1:{closed}/sse?api_key=hunter5\n    command: /bin/sh\n    args: [\"-c\", \"exit 0\", \"--token=hunter4\", \"--password\", \"hunter6\"]\n    timeouts: {{retries: 0, sse_startup: 0.5}}\n  local:\n    type: stdio\n    command: /bin/true\n    args: [\"--token=hunter7\", \"--api-key\", \"hunter8\"]\n    timeouts: {{retries: 0}}\n"
    );
    let secrets = [
        "hunter2", "hunter3", "hunter4", "hunter5", "hunter6", "hunter7", "hunter8",
    ];
    let clean = |what: &str, text: &str| {
        for s in secrets {
            assert!(!text.contains(s), "{what} shows {s}:\n{text}");
        }
    };
    let gw = Gateway::start_with(&config, &["-vv"], &[]);
    assert!(gw.logged("giving up"), "{}", gw.stderr());
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let reply = c.call(gw.addr, json!(1), "tools/list", json!({}));
    clean("a client reply", &reply.to_string());
    clean("the log", &gw.stderr());
    let dir = crate::support::TempDir::new("redact");
    let path = dir.write("argus.yaml", &config);
    for extra in [&[][..], &["--connect"][..]] {
        let out = Command::new(crate::support::binary())
            .args(["check", "-c"])
            .arg(&path)
            .args(extra)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("***"), "{text}");
        clean("check", &text);
    }
}
