//! `/.well-known/*`: JSON 404s, never the plain-text one. Clients that
//! probe for OAuth (`/.well-known/oauth-protected-resource`,
//! `/.well-known/oauth-authorization-server`, `openid-configuration`, in
//! any of the path forms RFC 9728 §3.1 and RFC 8414 §3.1 derive from an
//! endpoint's URL) parse what they get as JSON, and report a text body as
//! a crash. With JWT auth, the protected-resource path answers the RFC
//! 9728 metadata of the virtual server its suffix names; otherwise it says
//! why there is none, in the original Argus's words: no incoming auth at
//! all, or static bearer tokens without an authorization server.

use serde_json::json;

use crate::config::{Config, IncomingAuth};
use crate::http::Response;

/// The well-known prefix of RFC 8615.
const PREFIX: &str = "/.well-known";

/// The RFC 9728 protected-resource metadata path.
pub(super) const PROTECTED_RESOURCE: &str = "/.well-known/oauth-protected-resource";

/// How long clients may keep the metadata.
const METADATA_MAX_AGE: &str = "public, max-age=300";

/// Whether `path` asks for a well-known resource, at the root or below an
/// endpoint's path.
pub(super) fn is_well_known(path: &str) -> bool {
    path == PREFIX || path.contains("/.well-known/")
}

/// The answer to a well-known `path` under `config`, for a gateway whose
/// base URL is `base`.
pub(super) fn answer(path: &str, config: &Config, base: &str) -> Response {
    let auth = &config.incoming_auth;
    let protected = path == PROTECTED_RESOURCE
        || path.starts_with("/.well-known/oauth-protected-resource/")
        || path.ends_with(PROTECTED_RESOURCE);
    if let (true, IncomingAuth::Jwt(jwt)) = (protected, auth)
        && let Some(resource) = resource_path(path, config)
    {
        let metadata = json!({
            "resource": format!("{base}{resource}"),
            "authorization_servers": [jwt.issuer],
            "bearer_methods_supported": ["header"],
        });
        return Response::json(200, &metadata).with_header("Cache-Control", METADATA_MAX_AGE);
    }
    let body = match auth {
        _ if !protected => json!({
            "error": "not_found",
            "error_description": format!("no well-known resource at {path}"),
        }),
        IncomingAuth::Anonymous => json!({
            "error": "no_auth_configured",
            "error_description": "This server does not require OAuth authentication.",
        }),
        IncomingAuth::Bearer(_) => json!({
            "error": "no_oauth_server",
            "error_description": "This server uses static bearer-token authentication. No OAuth authorization server is configured.",
        }),
        IncomingAuth::Jwt(_) => json!({
            "error": "not_found",
            "error_description": format!("no protected resource at {path}"),
        }),
    };
    Response::json(404, &body)
}

/// The resource path a protected-resource metadata `path` names (RFC 9728
/// §3.1: the well-known suffix inserted before it, or, as some clients
/// derive it, appended after it): the whole gateway (``), a group
/// (`/g/<group>`), either with `/mcp` or `/sse`; `None` for anything else
/// or an unknown group.
fn resource_path<'p>(path: &'p str, config: &Config) -> Option<&'p str> {
    let resource = match path.strip_prefix(PROTECTED_RESOURCE) {
        Some(inserted) => inserted,
        None => path.strip_suffix(PROTECTED_RESOURCE)?,
    };
    let server = resource
        .strip_suffix("/mcp")
        .or_else(|| resource.strip_suffix("/sse"))
        .unwrap_or(resource);
    match server.strip_prefix("/g/") {
        None if server.is_empty() => Some(resource),
        Some(group) if config.backends.iter().any(|b| b.group == group) => Some(resource),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_paths_get_json_404s() {
        for path in [
            "/.well-known",
            "/.well-known/oauth-authorization-server",
            "/.well-known/oauth-protected-resource/g/one/mcp",
            "/mcp/.well-known/openid-configuration",
        ] {
            assert!(is_well_known(path), "{path}");
        }
        for path in ["/well-known", "/.well-knownx", "/mcp"] {
            assert!(!is_well_known(path), "{path}");
        }
        let error = |path: &str, auth: &IncomingAuth| {
            let mut config = Config::empty(&|_| None).unwrap();
            config.incoming_auth = auth.clone();
            let r = answer(path, &config, "http://h");
            assert_eq!(r.status, 404);
            let crate::http::Body::Bytes(bytes) = &r.body else {
                panic!("{path}: not a complete body");
            };
            let body: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            body["error"].as_str().unwrap().to_owned()
        };
        let anonymous = IncomingAuth::Anonymous;
        let bearer = IncomingAuth::Bearer(Vec::new());
        assert_eq!(
            error("/.well-known/oauth-protected-resource", &anonymous),
            "no_auth_configured"
        );
        assert_eq!(
            error("/.well-known/oauth-protected-resource/mcp", &bearer),
            "no_oauth_server"
        );
        assert_eq!(
            error("/g/one/.well-known/oauth-protected-resource", &bearer),
            "no_oauth_server"
        );
        assert_eq!(
            error("/.well-known/oauth-authorization-server", &anonymous),
            "not_found"
        );
    }
}
