//! `GET /health` and `GET /ready`: liveness and readiness, always public (also
//! under `/manage/v1/`).

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use super::Gateway;
use crate::http::Response;
use crate::mcp;

/// The health document: `starting` until every backend had its first
/// attempt, then healthy / degraded / unhealthy by how many are connected.
pub(super) fn document(gateway: &Gateway) -> Value {
    let (total, connected) = gateway.supervisor.counts();
    let status = if !gateway.supervisor.first_pass_complete() {
        "starting"
    } else if total == 0 || connected == total {
        "healthy"
    } else if connected > 0 {
        "degraded"
    } else {
        "unhealthy"
    };
    json!({
        "status": status,
        "version": mcp::VERSION,
        "uptime_seconds": gateway.started.elapsed().as_secs_f64(),
        "backends": {"total": total, "connected": connected, "healthy": connected},
    })
}

/// `GET /health`.
pub(super) fn health(gateway: &Gateway) -> Response {
    Response::json(200, &document(gateway)).with_header("Cache-Control", "no-store")
}

/// `GET /ready`: 200 once the first start-up pass is done, 503 before it
/// and once shutdown began.
pub(super) fn ready(gateway: &Gateway) -> Response {
    let (status, ready, reason) = if gateway.shutting_down.load(Ordering::SeqCst) {
        (503, false, "shutting down")
    } else if !gateway.supervisor.first_pass_complete() {
        (503, false, "backends not connected")
    } else {
        (200, true, "accepting traffic")
    };
    Response::json(status, &json!({"ready": ready, "reason": reason}))
        .with_header("Cache-Control", "no-store")
}
