//! `sse_resilience`: keep-alive comments on open SSE streams, the bound on
//! writing one frame, and how soon a closed session is freed. The streams
//! themselves are the gateway's.

use std::time::Duration;

use super::{Cx, Fields};
use crate::config::SseResilience;

/// `sse_resilience` keys of the original Argus that we accept and ignore.
const SSE_EXTRAS: &[&str] = &["spin_loop_window", "spin_loop_threshold"];

/// `sse_resilience`, defaults applied; a keep-alive interval of 0 turns keep-alives off.
pub(super) fn sse_resilience(cx: &mut Cx<'_>, top: &mut Fields<'_>) -> SseResilience {
    let mut s = SseResilience {
        enabled: true,
        keepalive_interval: Some(Duration::from_secs(15)),
        send_timeout: Duration::from_secs(30),
        cleanup_deadline: Duration::from_secs(15),
    };
    let Some(mut f) = top
        .get("sse_resilience")
        .and_then(|n| cx.fields(n, "sse_resilience"))
    else {
        return s;
    };
    if let Some(n) = f.get("enabled")
        && let Some(v) = cx.boolean(n, "sse_resilience.enabled")
    {
        s.enabled = v;
    }
    if let Some(n) = f.get("keepalive_interval")
        && let Some(v) = cx.seconds(n, "sse_resilience.keepalive_interval", 0.0, 600.0)
    {
        s.keepalive_interval = (!v.is_zero()).then_some(v);
    }
    if let Some(n) = f.get("send_timeout")
        && let Some(v) = cx.seconds(n, "sse_resilience.send_timeout", 0.1, 300.0)
    {
        s.send_timeout = v;
    }
    if let Some(n) = f.get("cleanup_deadline")
        && let Some(v) = cx.seconds(n, "sse_resilience.cleanup_deadline", 0.1, 120.0)
    {
        s.cleanup_deadline = v;
    }
    f.finish(cx, SSE_EXTRAS);
    s
}

#[cfg(test)]
mod tests {
    use crate::config::validate::from_text;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn keepalive_zero_disables() {
        let c = from_text("sse_resilience: {keepalive_interval: 0}\n", &no_env).unwrap();
        assert_eq!(c.sse.keepalive_interval, None);
    }
}
