//! A backend's `timeouts`: the handshake, discovery, start-up and call
//! deadlines and the retry policy, with defaults that depend on the
//! transport (a stdio server may need a minute to start; a remote one
//! gets 15 s to answer `initialize`). Retry defaults come from the
//! environment (`lifecycle`).

use std::time::Duration;

use super::lifecycle::EnvDefaults;
use super::{Cx, Fields};
use crate::config::Timeouts;

/// A backend's `timeouts` over the defaults for its transport; `None` when
/// any of its values was a problem (reported).
pub(super) fn timeouts(
    cx: &mut Cx<'_>,
    f: &mut Fields<'_>,
    stdio: bool,
    env_defaults: &EnvDefaults,
) -> Option<Timeouts> {
    let mut t = Timeouts {
        init: Duration::from_secs(if stdio { 60 } else { 15 }),
        cap_fetch: Duration::from_secs(10),
        sse_startup: Duration::from_secs(5),
        startup: (!stdio).then_some(Duration::from_secs(90)),
        call: Duration::from_secs(300),
        retries: env_defaults.retries,
        retry_delay: env_defaults.retry_delay,
    };
    let Some(node) = f.get("timeouts") else {
        return Some(t);
    };
    let path = f.child("timeouts");
    let mut m = cx.fields(node, &path)?;
    let before = cx.problems.len();
    let mut secs = |cx: &mut Cx<'_>, key: &'static str, hi: f64| {
        m.get(key)
            .and_then(|n| cx.seconds(n, &m.child(key), 0.0, hi))
    };
    let day = 86_400.0;
    if let Some(v) = secs(cx, "init", day) {
        t.init = v;
    }
    if let Some(v) = secs(cx, "cap_fetch", day) {
        t.cap_fetch = v;
    }
    if let Some(v) = secs(cx, "sse_startup", day) {
        t.sse_startup = v;
    }
    if let Some(v) = secs(cx, "startup", day) {
        t.startup = Some(v);
    }
    if let Some(v) = secs(cx, "call", day) {
        t.call = v;
    }
    if let Some(v) = secs(cx, "retry_delay", 120.0) {
        t.retry_delay = v;
    }
    if let Some(n) = m.get("retries")
        && let Some(v) = cx.int(n, &m.child("retries"), 0, 10)
    {
        t.retries = v as u32;
    }
    m.finish(cx, &[]);
    (cx.problems.len() == before).then_some(t)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::validate::from_text;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn timeouts_defaults_depend_on_type() {
        let c = from_text(
            "backends:\n  a: {type: stdio, command: x}\n  b: {type: sse, url: 'http://h/sse'}\n",
            &no_env,
        )
        .unwrap();
        assert_eq!(c.backends[0].timeouts.init, Duration::from_secs(60));
        assert_eq!(c.backends[0].timeouts.startup, None);
        assert_eq!(c.backends[1].timeouts.init, Duration::from_secs(15));
        assert_eq!(
            c.backends[1].timeouts.startup,
            Some(Duration::from_secs(90))
        );
    }
}
