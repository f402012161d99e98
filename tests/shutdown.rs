//! Shutdown and signals: SIGTERM within 5 s even while a
//! backend is still in its handshake; children never outlive the gateway.

use std::time::{Duration, Instant};

use crate::support::{Gateway, children, fixture_backend};

#[test]
fn sigterm_during_a_slow_stdio_handshake_exits_within_5s() {
    let config = format!(
        "backends:\n{}",
        fixture_backend(
            "slow",
            &[("FIXTURE_TOOLS", "x"), ("FIXTURE_INIT_DELAY_MS", "60000")],
            "    timeouts: {init: 60}\n"
        )
    );
    let mut gw = Gateway::start(&config);
    assert!(gw.logged("[slow] started"), "{}", gw.stderr());
    let kids = children(gw.pid());
    assert_eq!(kids.len(), 1, "the backend process");
    let asked = Instant::now();
    gw.signal("TERM");
    let code = gw.wait_exit(Duration::from_secs(5));
    assert_eq!(
        code,
        Some(0),
        "after {:?}: {}",
        asked.elapsed(),
        gw.stderr()
    );
    crate::support::assert_gone(&kids);
}

/// Every process below `pid` (children, grandchildren, ...).
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for child in children(p) {
            out.push(child);
            todo.push(child);
        }
    }
    out
}

#[test]
fn sigkill_of_the_gateway_takes_every_backend_process_down() {
    let port = crate::support::free_port();
    let python = crate::support::python().display().to_string();
    let config = format!(
        "backends:\n{}  py:\n    type: sse\n    url: http://127.0.0.1:{port}/sse\n    command: {python}\n    args: [\"{}/tests/py/sse_server.py\", \"{port}\"]\n    timeouts: {{sse_startup: 20}}\n",
        fixture_backend("local", &[("FIXTURE_TOOLS", "x")], ""),
        env!("CARGO_MANIFEST_DIR")
    );
    let mut gw = Gateway::start(&config);
    let mut c = crate::support::SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let names = c.names(gw.addr, "tools/list", "tools");
    assert!(
        names.contains(&"x".to_owned()),
        "{names:?}: {}",
        gw.stderr()
    );
    assert!(names.len() > 1, "the Python server's tools too: {names:?}");
    // The fixture and the launched Python server, whatever sits between.
    let below = descendants(gw.pid());
    assert!(below.len() >= 2, "{below:?}");
    gw.child.kill().unwrap();
    let _ = gw.child.wait();
    crate::support::assert_gone(&below);
}
