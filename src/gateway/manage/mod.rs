//! The management API under `/manage/v1/` and `GET /metrics`, with the original
//! Argus's paths and JSON shapes, so its TUI and scripts work unchanged.
//!
//! Access: `health` and `ready` are public. Everything else passes the
//! Origin/Host guard (a browser page must not reach it through DNS
//! rebinding), then the management token rule (`security::check_management`).
//! Every served call except `health`/`ready` goes into the audit log.
//! Errors are `{"error": code, "message": text, "details": null}`.

mod actions;
mod stream;
mod views;

use serde_json::{Map, Value, json};

use super::{Gateway, health, scrape, security};
use crate::http::{Request, Response};

/// A JSON error in the original's shape.
fn error(status: u16, code: &str, message: impl Into<String>) -> Response {
    Response::json(
        status,
        &json!({"error": code, "message": message.into(), "details": null}),
    )
}

fn method_not_allowed(allow: &str) -> Response {
    error(405, "method_not_allowed", format!("allowed: {allow}")).with_header("Allow", allow)
}

/// A query parameter, percent-decoded (`+` is a space); `Err` for bad escapes.
fn param(req: &Request, name: &str) -> Result<Option<String>, Response> {
    let Some(raw) = req.query_param(name) else {
        return Ok(None);
    };
    decode(raw).map(Some).ok_or_else(|| {
        error(
            400,
            "bad_request",
            format!("'{name}' is not validly encoded."),
        )
    })
}

/// Percent-decodes a query value; `None` for a bad escape or non-UTF-8.
fn decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = raw.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Serves `/manage/v1/...` and `/metrics`.
pub(super) fn handle(gateway: &Gateway, req: &Request) -> Response {
    let path = req.path();
    let route = path
        .strip_prefix("/manage/v1")
        .unwrap_or(path)
        .trim_end_matches('/')
        .trim_start_matches('/');
    let method = req.method();
    let get = matches!(method, "GET" | "HEAD");
    // Public, like the original: any path ending in /health or /ready.
    if path != "/metrics" && (route == "health" || route == "ready") {
        return match (get, route) {
            (false, _) => method_not_allowed("GET, HEAD"),
            (true, "health") => health::health(gateway),
            (true, _) => health::ready(gateway),
        };
    }
    let config = gateway.config();
    if let Some(refusal) =
        security::check_origin_and_host(req, &config.security, gateway.loopback_bind)
    {
        return refusal;
    }
    let token = config
        .server
        .management_token
        .as_ref()
        .map(|t| t.0.as_str());
    if let Err(refusal) = security::check_management(req, token) {
        return match refusal {
            security::ManagementRefusal::Unauthorized(response) => {
                gateway.auth_failed(req, "management");
                response
            }
            security::ManagementRefusal::NotLoopback(response) => response,
        };
    }
    let response = if path == "/metrics" {
        if get {
            scrape::metrics(gateway)
        } else {
            method_not_allowed("GET, HEAD")
        }
    } else {
        route_call(gateway, req, route, get)
    };
    if let Some(log) = gateway.runtime.audit() {
        let mut fields = Map::new();
        fields.insert("peer".into(), Value::from(req.peer.to_string()));
        fields.insert("method".into(), Value::from(method));
        fields.insert("path".into(), Value::from(path));
        fields.insert("status".into(), Value::from(response.status));
        let _ = log.record("manage", fields);
    }
    response
}

fn route_call(gateway: &Gateway, req: &Request, route: &str, get: bool) -> Response {
    let post = req.method() == "POST";
    let only_get = |f: &dyn Fn() -> Response| {
        if get {
            f()
        } else {
            method_not_allowed("GET, HEAD")
        }
    };
    let only_post = |f: &dyn Fn() -> Response| {
        if post {
            f()
        } else {
            method_not_allowed("POST")
        }
    };
    match route {
        "status" => only_get(&|| Response::json(200, &views::status(gateway))),
        "backends" => only_get(&|| Response::json(200, &views::backends(gateway))),
        "groups" => only_get(&|| views::groups(gateway, req)),
        "capabilities" => only_get(&|| views::capabilities(gateway, req)),
        "sessions" => only_get(&|| Response::json(200, &views::sessions(gateway))),
        "events" => only_get(&|| views::events(gateway, req)),
        "events/stream" => only_get(&|| stream::events(gateway, req)),
        "batch" => only_get(&|| views::batch(gateway, req)),
        "reload" => only_post(&|| actions::reload(gateway)),
        "shutdown" => only_post(&|| actions::shutdown(gateway, req)),
        _ => match route.strip_prefix("reconnect/") {
            Some(name) => only_post(&|| actions::reconnect(gateway, name)),
            None if route == "reconnect" => error(400, "bad_request", "a backend name is required"),
            None => error(
                404,
                "not_found",
                format!("no such endpoint: {}", req.path()),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(decode("a%3Ab+c").as_deref(), Some("a:b c"));
        assert_eq!(decode("%E2%9C%93").as_deref(), Some("✓"));
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("%4"), None);
        assert_eq!(decode("%ff"), None, "not UTF-8");
    }
}
