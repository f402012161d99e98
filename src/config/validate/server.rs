//! The `server` section (PRODUCT §3.2): bind address, primary transport,
//! connection and session caps, idle expiry, the management token.

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
    };
    let Some(mut f) = top.get("server").and_then(|n| cx.fields(n, &path)) else {
        server.management_token = mgmt_token_env(cx);
        return server;
    };
    if let Some(n) = f.get("host") {
        let p = f.child("host");
        if let Some(host) = cx.nonempty(n, &p) {
            if host.parse::<std::net::IpAddr>().is_ok()
                || host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            {
                server.host = host;
            } else {
                cx.err(
                    &p,
                    n.pos,
                    format!("\"{host}\" is not an IP address or host name"),
                );
            }
        }
    }
    if let Some(n) = f.get("port")
        && let Some(port) = cx.int(n, &f.child("port"), 1, 65535)
    {
        server.port = port as u16;
    }
    if let Some(n) = f.get("transport") {
        let p = f.child("transport");
        if let Some(t) = cx.string(n, &p) {
            match t.trim() {
                "sse" => server.transport = Transport::Sse,
                "streamable-http" => server.transport = Transport::StreamableHttp,
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
        }
    }
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
    if let Some(n) = f.get("instance") {
        let p = f.child("instance");
        if let Some(id) = cx.nonempty(n, &p) {
            let id = id.to_ascii_lowercase();
            if (1..=8).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                server.instance = Some(id);
            } else {
                cx.err(&p, n.pos, format!("\"{id}\" must be 1-8 hex digits (the prefix of this instance's session ids)"));
            }
        }
    }
    if let Some(n) = f.get("management") {
        let p = f.child("management");
        if let Some(mut m) = cx.fields(n, &p) {
            if let Some(t) = m.get("token") {
                let p = m.child("token");
                server.management_token = cx.nonempty(t, &p).map(|t| Secret(t.trim().to_owned()));
                if let Some(why) = server
                    .management_token
                    .as_ref()
                    .and_then(|t| weak_token(&t.0))
                {
                    cx.err(&p, t.pos, why);
                }
            }
            m.finish(cx, MANAGEMENT_EXTRAS);
        }
    }
    if let Some(token) = mgmt_token_env(cx) {
        server.management_token = Some(token);
    }
    f.finish(cx, SERVER_EXTRAS);
    server
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
