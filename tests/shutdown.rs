//! Shutdown and signals (issue 8 §2): SIGTERM within 5 s even while a
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
