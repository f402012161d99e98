//! `GET /health`: liveness and a one-line summary, always public (PRODUCT §8).

use serde_json::json;

use super::Gateway;
use crate::http::Response;
use crate::mcp;

/// The health document: `starting` until every backend had its first
/// attempt, then healthy / degraded / unhealthy by how many are connected.
pub(super) fn health(gateway: &Gateway) -> Response {
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
    Response::json(
        200,
        &json!({
            "status": status,
            "version": mcp::VERSION,
            "uptime_seconds": gateway.started.elapsed().as_secs_f64(),
            "backends": {"total": total, "connected": connected},
        }),
    )
    .with_header("Cache-Control", "no-store")
}
