//! The `server` section: bind address, primary transport, connection and
//! session caps, idle expiry, the instance prefix of session ids, and the
//! management token (also from `$ARGUS_MGMT_TOKEN`), refused when it is a
//! known placeholder or too short. Serving is `http` and `gateway`'s.

use std::time::Duration;

use super::{Cx, Fields};
use crate::config::{Secret, ServerSettings, Transport};
use crate::limits;

const SERVER_EXTRAS: &[&str] = &[
    "auth_background_refresh_enabled",
    "auth_background_refresh_interval_seconds",
];
const MANAGEMENT_EXTRAS: &[&str] = &["enabled", "reconnect_timeout"];

/// Tokens that are examples, not secrets (the original's list), compared
/// case-insensitively.
const PLACEHOLDER_TOKENS: &[&str] = &[
    "my-secret-token",
    "changeme",
    "changeme-changeme",
    "secret",
    "password",
    "token",
    "replace-me",
    "your-token-here",
];

/// Shortest management token accepted.
pub(crate) const MIN_MANAGEMENT_TOKEN: usize = 16;

/// Why a management token is too weak to guard `/manage/v1`, if it is.
fn weak_token(token: &str) -> Option<String> {
    if let Some(p) = PLACEHOLDER_TOKENS
        .iter()
        .find(|p| p.eq_ignore_ascii_case(token))
    {
        return Some(format!(
            "the management token is the placeholder \"{p}\"; set a secret of at least {MIN_MANAGEMENT_TOKEN} characters"
        ));
    }
    let n = token.chars().count();
    (n < MIN_MANAGEMENT_TOKEN).then(|| {
        format!(
            "the management token has {n} characters; at least {MIN_MANAGEMENT_TOKEN} are required"
        )
    })
}

/// `server`, defaults applied; `$ARGUS_MGMT_TOKEN` wins over the file's
/// management token.
pub(super) fn server(cx: &mut Cx<'_>, top: &mut Fields<'_>) -> ServerSettings {
    let path = top.child("server");
    let mut server = ServerSettings {
        host: "127.0.0.1".into(),
        port: 9000,
        transport: Transport::Sse,
        max_connections: limits::DEFAULT_MAX_CONNECTIONS,
        max_sessions: limits::DEFAULT_MAX_SESSIONS,
        session_idle_timeout: Duration::from_secs(1800),
        management_token: None,
        instance: None,
        public_url: None,
    };
    let Some(mut f) = top.get("server").and_then(|n| cx.fields(n, &path)) else {
        server.management_token = mgmt_token_env(cx);
        return server;
    };
    // The keys in this order: the first known key close to a typo is the hint.
    if let Some(host) = host(cx, &mut f) {
        server.host = host;
    }
    if let Some(n) = f.get("port")
        && let Some(port) = cx.int(n, &f.child("port"), 1, 65535)
    {
        server.port = port as u16;
    }
    if let Some(transport) = transport(cx, &mut f) {
        server.transport = transport;
    }
    limits_and_expiry(cx, &mut f, &mut server);
    server.instance = instance(cx, &mut f);
    if let Some(n) = f.get("public_url") {
        server.public_url = cx
            .url(n, &f.child("public_url"))
            .map(|u| u.trim_end_matches('/').to_owned());
    }
    if let Some(token) = management_token(cx, &mut f) {
        server.management_token = Some(token);
    }
    if let Some(token) = mgmt_token_env(cx) {
        server.management_token = Some(token);
    }
    f.finish(cx, SERVER_EXTRAS);
    server
}

/// `host`: an IP address or a host name.
fn host(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Option<String> {
    let n = f.get("host")?;
    let p = f.child("host");
    let host = cx.nonempty(n, &p)?;
    if host.parse::<std::net::IpAddr>().is_ok()
        || host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Some(host);
    }
    cx.err(
        &p,
        n.pos,
        format!("\"{host}\" is not an IP address or host name"),
    );
    None
}

/// `transport`: `sse` or `streamable-http` (`stdio` is a command, not a
/// server transport).
fn transport(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Option<Transport> {
    let n = f.get("transport")?;
    let p = f.child("transport");
    let t = cx.string(n, &p)?;
    match t.trim() {
        "sse" => return Some(Transport::Sse),
        "streamable-http" => return Some(Transport::StreamableHttp),
        "http" | "streamable_http" | "streamablehttp" => cx.err(
            &p,
            n.pos,
            format!("unknown transport \"{t}\"; did you mean \"streamable-http\"?"),
        ),
        other => cx.err(
            &p,
            n.pos,
            format!("unknown transport \"{other}\" (expected sse or streamable-http)"),
        ),
    }
    None
}

/// `max_connections`, `max_sessions` and `session_idle_timeout`.
fn limits_and_expiry(cx: &mut Cx<'_>, f: &mut Fields<'_>, server: &mut ServerSettings) {
    if let Some(n) = f.get("max_connections")
        && let Some(v) = cx.int(n, &f.child("max_connections"), 1, 100_000)
    {
        server.max_connections = v as usize;
    }
    if let Some(n) = f.get("max_sessions")
        && let Some(v) = cx.int(n, &f.child("max_sessions"), 1, 1_000_000)
    {
        server.max_sessions = v as usize;
    }
    if let Some(n) = f.get("session_idle_timeout")
        && let Some(v) = cx.seconds(n, &f.child("session_idle_timeout"), 1.0, 86_400.0)
    {
        server.session_idle_timeout = v;
    }
}

/// `instance`: 1–8 hex digits, lower-cased.
fn instance(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Option<String> {
    let n = f.get("instance")?;
    let p = f.child("instance");
    let id = cx.nonempty(n, &p)?.to_ascii_lowercase();
    if (1..=8).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(id);
    }
    cx.err(
        &p,
        n.pos,
        format!("\"{id}\" must be 1-8 hex digits (the prefix of this instance's session ids)"),
    );
    None
}

/// `management.token`, trimmed; a weak one is reported (and kept, so the
/// environment's may still replace it).
fn management_token(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Option<Secret> {
    let n = f.get("management")?;
    let p = f.child("management");
    let mut m = cx.fields(n, &p)?;
    let mut token = None;
    if let Some(t) = m.get("token") {
        let p = m.child("token");
        token = cx.nonempty(t, &p).map(|t| Secret(t.trim().to_owned()));
        if let Some(why) = token.as_ref().and_then(|t| weak_token(&t.0)) {
            cx.err(&p, t.pos, why);
        }
    }
    m.finish(cx, MANAGEMENT_EXTRAS);
    token
}

/// `$ARGUS_MGMT_TOKEN`, trimmed; it wins over the file. A weak one is an
/// error like a weak one in the file.
fn mgmt_token_env(cx: &mut Cx<'_>) -> Option<Secret> {
    let token = (cx.env)("ARGUS_MGMT_TOKEN")
        .filter(|t| !t.trim().is_empty())
        .map(|t| Secret(t.trim().to_owned()))?;
    if let Some(why) = weak_token(&token.0) {
        cx.problems.push(crate::config::Problem {
            path: "$ARGUS_MGMT_TOKEN".into(),
            pos: None,
            message: why,
        });
    }
    Some(token)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn parse(text: &str) -> Result<Config, Vec<crate::config::Problem>> {
        Config::parse(text, &|_| None)
    }

    #[test]
    fn instance_is_a_short_hex_prefix() {
        let c = parse("server: {instance: A1}\n").unwrap();
        assert_eq!(c.server.instance.as_deref(), Some("a1"));
        for bad in ["xyz", "123456789", "a-1"] {
            let problems = parse(&format!("server: {{instance: \"{bad}\"}}\n")).unwrap_err();
            assert_eq!(problems[0].path, "server.instance", "{bad}");
            assert!(problems[0].message.contains("1-8 hex digits"), "{bad}");
        }
    }
}
