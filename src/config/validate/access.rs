//! Who may call the gateway, and how much: `incoming_auth` (anonymous or
//! bearer tokens), `security` (extra allowed `Origin`s and `Host`s, the
//! largest request body) and `rate_limits` (requests per window per client
//! IP). The management token is `server`'s; outgoing backend auth is
//! `backend_auth`'s.

use std::time::Duration;

use super::{Cx, Fields};
use crate::config::{IncomingAuth, RateLimits, Secret, Security};
use crate::limits;

/// `incoming_auth` keys of the original Argus that we accept and ignore.
const INCOMING_AUTH_EXTRAS: &[&str] =
    &["auth_mode", "jwks_uri", "issuer", "audience", "algorithms"];
/// `security` keys of the original Argus that we accept and ignore.
const SECURITY_EXTRAS: &[&str] = &[
    "headers",
    "payload_limits",
    "allow_weak_tokens",
    "require_origin",
    "trusted_proxies",
    "redact_status",
];
/// `rate_limits` keys of the original Argus that we accept and ignore.
const RATE_LIMIT_EXTRAS: &[&str] = &[
    "default",
    "auth_lockout_threshold",
    "auth_lockout_window_seconds",
    "auth_lockout_duration_seconds",
];

/// `incoming_auth`: anonymous unless `type` says bearer (`local` is the
/// original's spelling of it); `jwt` and `oidc` are refused with a reason.
pub(super) fn incoming_auth(cx: &mut Cx<'_>, top: &mut Fields<'_>) -> IncomingAuth {
    let Some(node) = top.get("incoming_auth") else {
        return IncomingAuth::Anonymous;
    };
    let Some(mut f) = cx.fields(node, "incoming_auth") else {
        return IncomingAuth::Anonymous;
    };
    let kind = f
        .get("type")
        .and_then(|n| cx.string(n, "incoming_auth.type").map(|s| (s, n.pos)));
    let tokens = f
        .get("tokens")
        .map(|n| (cx.string_list(n, "incoming_auth.tokens"), n.pos));
    let token = f
        .get("token")
        .and_then(|n| cx.nonempty(n, "incoming_auth.token"));
    let result = match kind.as_ref().map(|(s, pos)| (s.trim(), *pos)) {
        None | Some(("anonymous", _)) => IncomingAuth::Anonymous,
        Some(("bearer" | "local", pos)) => {
            let mut all: Vec<Secret> = tokens
                .map(|(list, _)| list)
                .unwrap_or_default()
                .into_iter()
                .map(|t| Secret(t.trim().to_owned()))
                .collect();
            all.extend(token.map(Secret));
            if all.iter().any(|t| t.0.is_empty()) {
                cx.err("incoming_auth.tokens", pos, "tokens must not be empty");
            }
            if all.is_empty() {
                cx.err(
                    "incoming_auth",
                    pos,
                    "bearer auth needs \"tokens\" (a list) or \"token\" with at least one token",
                );
            }
            IncomingAuth::Bearer(all)
        }
        Some((other @ ("jwt" | "oidc"), pos)) => {
            cx.err(
                "incoming_auth.type",
                pos,
                format!(
                    "incoming auth type \"{other}\" is not supported by argus-mcp (use bearer tokens)"
                ),
            );
            IncomingAuth::Anonymous
        }
        Some((other, pos)) => {
            cx.err(
                "incoming_auth.type",
                pos,
                format!("unknown incoming auth type \"{other}\" (expected anonymous or bearer)"),
            );
            IncomingAuth::Anonymous
        }
    };
    f.finish(cx, INCOMING_AUTH_EXTRAS);
    result
}

/// `security`, defaults applied.
pub(super) fn security(cx: &mut Cx<'_>, top: &mut Fields<'_>) -> Security {
    let mut s = Security {
        allowed_origins: Vec::new(),
        allowed_hosts: Vec::new(),
        max_body_bytes: limits::DEFAULT_MAX_BODY_BYTES,
    };
    let Some(mut f) = top.get("security").and_then(|n| cx.fields(n, "security")) else {
        return s;
    };
    if let Some(n) = f.get("allowed_origins") {
        s.allowed_origins = cx.string_list(n, "security.allowed_origins");
    }
    if let Some(n) = f.get("allowed_hosts") {
        s.allowed_hosts = cx.string_list(n, "security.allowed_hosts");
    }
    if let Some(n) = f.get("max_body_bytes")
        && let Some(v) = cx.int(n, "security.max_body_bytes", 1024, 104_857_600)
    {
        s.max_body_bytes = v as u64;
    }
    f.finish(cx, SECURITY_EXTRAS);
    s
}

/// `rate_limits`, off by default.
pub(super) fn rate_limits(cx: &mut Cx<'_>, top: &mut Fields<'_>) -> RateLimits {
    let mut r = RateLimits {
        enabled: false,
        requests: 100,
        window: Duration::from_secs(60),
    };
    let Some(mut f) = top
        .get("rate_limits")
        .and_then(|n| cx.fields(n, "rate_limits"))
    else {
        return r;
    };
    if let Some(n) = f.get("enabled")
        && let Some(v) = cx.boolean(n, "rate_limits.enabled")
    {
        r.enabled = v;
    }
    if let Some(n) = f.get("requests")
        && let Some(v) = cx.int(n, "rate_limits.requests", 1, 100_000)
    {
        r.requests = v as u32;
    }
    if let Some(n) = f.get("window_seconds")
        && let Some(v) = cx.int(n, "rate_limits.window_seconds", 1, 86_400)
    {
        r.window = Duration::from_secs(v as u64);
    }
    f.finish(cx, RATE_LIMIT_EXTRAS);
    r
}
