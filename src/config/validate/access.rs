//! Who may call the gateway, and how much: `incoming_auth` (anonymous,
//! named bearer tokens, or JWTs checked against a JWK Set), `security` (extra allowed `Origin`s and `Host`s, the
//! largest request body) and `rate_limits` (requests per window per client
//! IP). The management token is `server`'s; outgoing backend auth is
//! `backend_auth`'s.

use std::time::Duration;

use std::path::PathBuf;

use super::{Cx, Fields, tls};
use crate::config::yaml::{Node, Pos, YamlValue};
use crate::config::{IncomingAuth, JwtAuth, KeySource, NamedToken, RateLimits, Secret, Security};
use crate::{jwt, limits};

/// `incoming_auth` keys of the original Argus that we accept and ignore.
const INCOMING_AUTH_EXTRAS: &[&str] = &["auth_mode"];
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
/// original's spelling of one token, `local-user`), jwt or oidc.
pub(super) fn incoming_auth(
    cx: &mut Cx<'_>,
    top: &mut Fields<'_>,
    tls: &tls::Global,
) -> IncomingAuth {
    let Some(node) = top.get("incoming_auth") else {
        return IncomingAuth::Anonymous;
    };
    let Some(mut f) = cx.fields(node, "incoming_auth") else {
        return IncomingAuth::Anonymous;
    };
    let kind = f
        .get("type")
        .and_then(|n| cx.string(n, "incoming_auth.type").map(|s| (s, n.pos)));
    let result = match kind.as_ref().map(|(s, pos)| (s.trim(), *pos)) {
        None | Some(("anonymous", _)) => IncomingAuth::Anonymous,
        Some((kind @ ("bearer" | "local"), pos)) => {
            IncomingAuth::Bearer(static_tokens(cx, &mut f, kind == "local", pos))
        }
        Some((kind @ ("jwt" | "oidc"), pos)) => match jwt(cx, &mut f, pos, kind == "oidc", tls) {
            Some(jwt) => IncomingAuth::Jwt(Box::new(jwt)),
            None => IncomingAuth::Anonymous,
        },
        Some((other, pos)) => {
            cx.err(
                "incoming_auth.type",
                pos,
                format!(
                    "unknown incoming auth type \"{other}\" (expected anonymous, bearer, local, jwt or oidc)"
                ),
            );
            IncomingAuth::Anonymous
        }
    };
    f.finish(cx, INCOMING_AUTH_EXTRAS);
    result
}

/// `tokens` (strings, or `{name, token, roles}`) and `token`: each a
/// named identity. A plain string is `token-<n>` (1-based); the `token`
/// of `type: local` is `local-user`.
fn static_tokens(cx: &mut Cx<'_>, f: &mut Fields<'_>, local: bool, pos: Pos) -> Vec<NamedToken> {
    let mut all = Vec::new();
    if let Some(n) = f.get("tokens") {
        match &n.value {
            YamlValue::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("incoming_auth.tokens[{i}]");
                    if let Some(token) = static_token(cx, item, &path, i + 1) {
                        all.push(token);
                    }
                }
            }
            _ => cx.wrong_type(n, "incoming_auth.tokens", "a list"),
        }
    }
    if let Some(token) = f
        .get("token")
        .and_then(|n| cx.nonempty(n, "incoming_auth.token"))
    {
        let name = if local {
            "local-user".to_owned()
        } else {
            format!("token-{}", all.len() + 1)
        };
        all.push(NamedToken {
            name,
            token: Secret(token.trim().to_owned()),
            roles: Vec::new(),
        });
    }
    if all.is_empty() {
        cx.err(
            "incoming_auth",
            pos,
            "bearer auth needs \"tokens\" (a list) or \"token\" with at least one token",
        );
    }
    for (i, token) in all.iter().enumerate() {
        if all[..i].iter().any(|t| t.name == token.name) {
            cx.err(
                "incoming_auth.tokens",
                pos,
                format!(
                    "two tokens are named \"{}\": each identity has one name",
                    token.name
                ),
            );
        }
    }
    all
}

/// One item of `tokens`: a string, or `{name, token, roles}`.
fn static_token(cx: &mut Cx<'_>, item: &Node, path: &str, n: usize) -> Option<NamedToken> {
    let (name, token, roles) = match &item.value {
        YamlValue::Map(_) => {
            let mut t = cx.fields(item, path)?;
            let name = t.get("name").and_then(|v| cx.nonempty(v, &t.child("name")));
            let token = t.get("token").and_then(|v| cx.string(v, &t.child("token")));
            let roles = match t.get("roles") {
                Some(v) => cx.string_list(v, &t.child("roles")),
                None => Vec::new(),
            };
            t.finish(cx, &[]);
            let Some(name) = name else {
                cx.err(
                    path,
                    item.pos,
                    "a token given as a mapping needs a \"name\"",
                );
                return None;
            };
            (name.trim().to_owned(), token?, roles)
        }
        _ => (format!("token-{n}"), cx.string(item, path)?, Vec::new()),
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        cx.err(path, item.pos, "tokens must not be empty");
        return None;
    }
    Some(NamedToken {
        name,
        token: Secret(token),
        roles,
    })
}

/// `type: jwt`: `issuer`, `audience`, `algorithms`, `jwks_file` or a
/// `file://` `jwks_uri` (read now, and at every reload) or an http(s) one
/// (fetched by the gateway), `roles_claim`, `leeway_seconds`. `type: oidc`
/// takes the keys' URL from the issuer's discovery document.
fn jwt(
    cx: &mut Cx<'_>,
    f: &mut Fields<'_>,
    pos: Pos,
    oidc: bool,
    tls: &tls::Global,
) -> Option<JwtAuth> {
    let issuer = f
        .get("issuer")
        .and_then(|n| cx.nonempty(n, "incoming_auth.issuer"));
    let audience = match f.get("audience") {
        Some(n) if matches!(n.value, YamlValue::Seq(_)) => {
            cx.string_list(n, "incoming_auth.audience")
        }
        Some(n) => cx
            .nonempty(n, "incoming_auth.audience")
            .into_iter()
            .collect(),
        None => Vec::new(),
    };
    let algorithms = algorithms(cx, f, pos);
    let roles_claim = f
        .get("roles_claim")
        .and_then(|n| cx.nonempty(n, "incoming_auth.roles_claim"));
    let leeway_seconds = match f.get("leeway_seconds") {
        Some(n) => cx.int(n, "incoming_auth.leeway_seconds", 0, 3600)? as u64,
        None => 30,
    };
    let Some(issuer) = issuer else {
        cx.err(
            "incoming_auth",
            pos,
            "jwt auth needs \"issuer\": the iss its tokens carry",
        );
        return None;
    };
    let keys = key_source(cx, f, (pos, oidc), &issuer, tls)?;
    Some(JwtAuth {
        issuer,
        audience,
        algorithms,
        keys,
        roles_claim,
        leeway_seconds,
    })
}

/// `algorithms`, each taken or refused with the reason (`none` and HMAC
/// never); the original's default when absent.
fn algorithms(cx: &mut Cx<'_>, f: &mut Fields<'_>, pos: Pos) -> Vec<jwt::Alg> {
    let Some(n) = f.get("algorithms") else {
        return jwt::DEFAULT.to_vec();
    };
    let mut algs = Vec::new();
    for name in cx.string_list(n, "incoming_auth.algorithms") {
        match jwt::Alg::parse(name.trim()) {
            Ok(alg) => algs.push(alg),
            Err(why) => cx.err("incoming_auth.algorithms", n.pos, why.to_string()),
        }
    }
    if algs.is_empty() {
        cx.err(
            "incoming_auth.algorithms",
            pos,
            "no algorithm is left to accept",
        );
    }
    algs
}

/// Where the keys come from: `jwks_file`, a `file://` or http(s)
/// `jwks_uri`, or (`oidc`) the issuer's discovery document.
fn key_source(
    cx: &mut Cx<'_>,
    f: &mut Fields<'_>,
    (pos, oidc): (Pos, bool),
    issuer: &str,
    tls: &tls::Global,
) -> Option<KeySource> {
    // Both read, so neither is taken for an unknown key; the file wins.
    let (file, uri) = (f.get("jwks_file"), f.get("jwks_uri"));
    if let Some(n) = file {
        let path = cx.nonempty(n, "incoming_auth.jwks_file")?;
        return file_keys(cx, path, n.pos, "incoming_auth.jwks_file");
    }
    if let Some(n) = uri {
        let uri = cx.nonempty(n, "incoming_auth.jwks_uri")?;
        if let Some(path) = uri.strip_prefix("file://") {
            return file_keys(cx, path.to_owned(), n.pos, "incoming_auth.jwks_uri");
        }
        let url = cx.url(n, "incoming_auth.jwks_uri")?;
        let tls = tls.settings();
        return Some(KeySource::Uri { url, tls });
    }
    if !oidc {
        cx.err(
            "incoming_auth",
            pos,
            "jwt auth needs its keys: \"jwks_file\" (a JWK Set file) or \"jwks_uri\"",
        );
        return None;
    }
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        cx.err(
            "incoming_auth.issuer",
            pos,
            "an oidc issuer is an http:// or https:// URL (its discovery document is read from it)",
        );
        return None;
    }
    let tls = tls.settings();
    Some(KeySource::Discovery { url, tls })
}

/// The keys of the JWK Set file at `path` (named by `key`).
fn file_keys(cx: &mut Cx<'_>, path: String, pos: Pos, key: &str) -> Option<KeySource> {
    match read_key_set(&path) {
        Ok(keys) => Some(KeySource::File {
            path: PathBuf::from(path),
            keys,
        }),
        Err(why) => {
            cx.err(key, pos, format!("{path}: {why}"));
            None
        }
    }
}

/// Why a JWK Set file gives no keys.
#[derive(Debug)]
enum KeyFileError {
    /// It cannot be read.
    Read(std::io::Error),
    /// It is not a JWK Set.
    Set(jwt::KeySetError),
    /// No key of it can verify; this many were skipped.
    NoUsableKey(usize),
}

impl std::fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyFileError::Read(e) => write!(f, "cannot read the JWK Set: {e}"),
            KeyFileError::Set(e) => e.fmt(f),
            KeyFileError::NoUsableKey(skipped) => write!(
                f,
                "the JWK Set has no key we can verify with ({skipped} skipped: RSA, EC P-256/P-384 \
                 and Ed25519 signing keys are used)"
            ),
        }
    }
}

/// The usable keys of the JWK Set file at `path`.
fn read_key_set(path: &str) -> Result<jwt::KeySet, KeyFileError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(KeyFileError::Read)?;
    let mut bytes = Vec::new();
    file.take(limits::MAX_JWKS_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(KeyFileError::Read)?;
    let keys = jwt::KeySet::parse(&bytes).map_err(KeyFileError::Set)?;
    if keys.is_empty() {
        return Err(KeyFileError::NoUsableKey(keys.skipped()));
    }
    Ok(keys)
}

/// `security`, defaults applied.
pub(super) fn security(cx: &mut Cx<'_>, top: &mut Fields<'_>) -> Security {
    let mut s = Security {
        allowed_origins: Vec::new(),
        allowed_hosts: Vec::new(),
        max_body_bytes: limits::DEFAULT_MAX_BODY_BYTES,
        validate_arguments: true,
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
    if let Some(n) = f.get("validate_arguments")
        && let Some(v) = cx.boolean(n, "security.validate_arguments")
    {
        s.validate_arguments = v;
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

#[cfg(test)]
mod tests {
    use crate::config::IncomingAuth;
    use crate::config::validate::from_text;

    fn auth(yaml: &str) -> Result<IncomingAuth, Vec<String>> {
        from_text(&format!("incoming_auth:\n{yaml}"), &|_| None)
            .map(|c| c.incoming_auth)
            .map_err(|problems| problems.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn static_tokens_are_named_identities_with_roles() {
        let IncomingAuth::Bearer(tokens) = auth(
            "  type: bearer\n  tokens:\n    - plain-0123\n    - {name: alice, token: al1ce-0123, roles: [admin]}\n  token: last-0123\n",
        )
        .unwrap() else {
            panic!("not bearer");
        };
        let names: Vec<&str> = tokens.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["token-1", "alice", "token-3"]);
        assert_eq!(tokens[1].roles, ["admin"]);
        assert_eq!(tokens[1].token.0, "al1ce-0123");
        let IncomingAuth::Bearer(local) = auth("  type: local\n  token: l0cal-0123\n").unwrap()
        else {
            panic!("not bearer");
        };
        assert_eq!(local[0].name, "local-user");
        let twice =
            auth("  type: bearer\n  tokens: [{name: a, token: x1}, {name: a, token: x2}]\n");
        assert!(twice.unwrap_err()[0].contains("two tokens are named \"a\""));
        let nameless = auth("  type: bearer\n  tokens: [{token: x1}]\n");
        let problems = nameless.unwrap_err();
        assert!(
            problems.iter().any(|p| p.contains("needs a \"name\"")),
            "{problems:?}"
        );
    }

    #[test]
    fn jwt_auth_reads_its_key_set_and_refuses_what_it_cannot_trust() {
        let dir = std::env::temp_dir().join(format!("argus-jwks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let jwks = dir.join("jwks.json");
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../../fixtures/jwt/pyjwt-rsa.json")).unwrap();
        std::fs::write(
            &jwks,
            serde_json::json!({"keys": [fixture["jwk"]]}).to_string(),
        )
        .unwrap();
        let path = jwks.display();
        let IncomingAuth::Jwt(jwt) = auth(&format!(
            "  type: jwt\n  issuer: https://issuer.test\n  audience: api://argus\n  jwks_file: {path}\n"
        ))
        .unwrap() else {
            panic!("not jwt");
        };
        assert_eq!(jwt.issuer, "https://issuer.test");
        assert_eq!(jwt.audience, ["api://argus"]);
        assert_eq!(jwt.algorithms, crate::jwt::DEFAULT);
        let crate::config::KeySource::File { keys, .. } = &jwt.keys else {
            panic!("not a file");
        };
        assert_eq!((keys.len(), jwt.leeway_seconds), (1, 30));
        // A file:// jwks_uri is a file too.
        let by_uri = auth(&format!(
            "  type: jwt\n  issuer: i\n  jwks_uri: file://{path}\n  algorithms: [PS256, EdDSA]\n"
        ));
        assert!(matches!(by_uri, Ok(IncomingAuth::Jwt(_))), "{by_uri:?}");
        // An http(s) one, and an OIDC issuer's discovery document, are
        // fetched by the gateway.
        let remote = |yaml: &str| match auth(yaml) {
            Ok(IncomingAuth::Jwt(jwt)) => jwt.keys,
            other => panic!("{other:?}"),
        };
        assert!(matches!(
            remote("  type: jwt\n  issuer: i\n  jwks_uri: https://idp.example/jwks\n"),
            crate::config::KeySource::Uri { url, .. } if url == "https://idp.example/jwks"
        ));
        assert!(matches!(
            remote("  type: oidc\n  issuer: https://idp.example/realms/r/\n"),
            crate::config::KeySource::Discovery { url, .. }
                if url == "https://idp.example/realms/r/.well-known/openid-configuration"
        ));
        for (yaml, expected) in [
            (
                format!("  type: jwt\n  issuer: i\n  jwks_file: {path}\n  algorithms: [HS256]\n"),
                "\"HS256\" is refused",
            ),
            (
                format!("  type: jwt\n  issuer: i\n  jwks_file: {path}\n  algorithms: [none]\n"),
                "\"none\" is refused",
            ),
            (
                format!("  type: jwt\n  jwks_file: {path}\n"),
                "needs \"issuer\"",
            ),
            ("  type: jwt\n  issuer: i\n".to_owned(), "needs its keys"),
            (
                "  type: jwt\n  issuer: i\n  jwks_uri: ftp://idp/jwks\n".to_owned(),
                "must start with http",
            ),
            (
                "  type: jwt\n  issuer: i\n  jwks_file: /surely/missing.json\n".to_owned(),
                "cannot read the JWK Set",
            ),
            (
                "  type: oidc\n  issuer: i\n".to_owned(),
                "an oidc issuer is an http",
            ),
        ] {
            let problems = auth(&yaml).unwrap_err();
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{yaml}: {problems:?}"
            );
        }
        std::fs::write(&jwks, r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#).unwrap();
        let problems =
            auth(&format!("  type: jwt\n  issuer: i\n  jwks_file: {path}\n")).unwrap_err();
        assert!(
            problems[0].contains("no key we can verify with (1 skipped"),
            "{problems:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
