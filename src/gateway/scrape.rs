//! `GET /metrics`: the Prometheus text exposition. Counters come from
//! `metrics::Metrics`; open sessions and backend states are read at scrape
//! time.

use super::Gateway;
use crate::config::Transport;
use crate::http::Response;
use crate::metrics::Snapshot;
use crate::supervisor::BackendStatus;

/// The exposition, `text/plain; version=0.0.4`.
pub(super) fn metrics(gateway: &Gateway) -> Response {
    let mut sessions = [
        (Transport::Sse.as_str(), 0),
        (Transport::StreamableHttp.as_str(), 0),
        (Transport::Stdio.as_str(), 0),
    ];
    for session in gateway.sessions.all() {
        if let Some(slot) = sessions
            .iter_mut()
            .find(|(t, _)| *t == session.transport.as_str())
        {
            slot.1 += 1;
        }
    }
    let backends = gateway
        .supervisor
        .states()
        .into_iter()
        .map(|(name, state)| (name, state.status.as_str(), state.restarts))
        .collect();
    let snapshot = Snapshot {
        sessions: sessions.to_vec(),
        backends,
        states: &BackendStatus::ALL,
        bytes: gateway
            .control
            .get()
            .map(|c| c.traffic.totals())
            .unwrap_or_default(),
        uptime: gateway.started.elapsed().as_secs_f64(),
    };
    let text = gateway.runtime.metrics().render(&snapshot);
    let mut response = Response::text(200, text);
    response.headers.clear();
    response
        .with_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        .with_header("Cache-Control", "no-store")
}
