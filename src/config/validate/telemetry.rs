//! `telemetry`: on or off, the collector's OTLP/HTTP endpoint and the
//! service name. An endpoint that looks like OTLP/gRPC's (port 4317, no
//! path) is warned about: the gateway speaks OTLP/HTTP, usually on 4318.

use super::{Cx, Fields};
use crate::config::Telemetry;

/// `telemetry`; off by default.
pub(super) fn telemetry(cx: &mut Cx<'_>, top: &mut Fields<'_>) -> Telemetry {
    let mut t = Telemetry::default();
    let Some(node) = top.get("telemetry") else {
        return t;
    };
    let line = node.pos.line;
    let Some(mut f) = cx.fields(node, "telemetry") else {
        return t;
    };
    if let Some(n) = f.get("enabled")
        && let Some(v) = cx.boolean(n, "telemetry.enabled")
    {
        t.enabled = v;
    }
    if let Some(n) = f.get("otlp_endpoint")
        && let Some(v) = cx.url(n, "telemetry.otlp_endpoint")
    {
        t.otlp_endpoint = v;
    }
    if let Some(n) = f.get("service_name")
        && let Some(v) = cx.nonempty(n, "telemetry.service_name")
    {
        t.service_name = v;
    }
    f.finish(cx, &[]);
    if t.enabled && looks_like_grpc(&t.otlp_endpoint) {
        cx.warnings.push(format!(
            "telemetry.otlp_endpoint (line {line}) \"{}\" looks like an OTLP/gRPC endpoint (port 4317); argus-mcp exports OTLP/HTTP with JSON, whose port is 4318 (e.g. http://localhost:4318)",
            t.otlp_endpoint
        ));
    }
    t
}

/// Port 4317 and no path: where collectors listen for OTLP/gRPC.
fn looks_like_grpc(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    authority.ends_with(":4317") && path.is_empty()
}

#[cfg(test)]
mod tests {
    use crate::config::validate::from_text;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_and_grpc_warning() {
        let c = from_text("telemetry: {enabled: true}\n", &no_env).unwrap();
        assert!(c.telemetry.enabled);
        assert_eq!(c.telemetry.traces_url(), "http://localhost:4318/v1/traces");
        assert_eq!(c.telemetry.service_name, "argus-mcp");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let c = from_text(
            "telemetry: {enabled: true, otlp_endpoint: \"http://collector:4317\"}\n",
            &no_env,
        )
        .unwrap();
        assert_eq!(c.warnings.len(), 1);
        assert!(c.warnings[0].contains("4318"), "{:?}", c.warnings);
        let c = from_text(
            "telemetry: {enabled: true, otlp_endpoint: \"http://c:4317/otlp/v1/traces\", service_name: gw}\n",
            &no_env,
        )
        .unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(c.telemetry.traces_url(), "http://c:4317/otlp/v1/traces");
        assert_eq!(c.telemetry.service_name, "gw");
        let e = from_text("telemetry: {otlp_endpoint: \"grpc://x\"}\n", &no_env).unwrap_err();
        assert!(e[0].to_string().contains("otlp_endpoint"), "{e:?}");
    }
}
