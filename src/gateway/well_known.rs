//! `/.well-known/*`: JSON 404s, never the plain-text one. Clients that
//! probe for OAuth (`/.well-known/oauth-protected-resource`,
//! `/.well-known/oauth-authorization-server`, `openid-configuration`, in
//! any of the path forms RFC 9728 §3.1 and RFC 8414 §3.1 derive from an
//! endpoint's URL) parse what they get as JSON, and report a text body as
//! a crash. The protected-resource path says why there is no metadata,
//! in the original Argus's words: no incoming auth at all, or static
//! bearer tokens without an authorization server.

use serde_json::json;

use crate::config::IncomingAuth;
use crate::http::Response;

/// The well-known prefix of RFC 8615.
const PREFIX: &str = "/.well-known";

/// The RFC 9728 protected-resource metadata path.
const PROTECTED_RESOURCE: &str = "/.well-known/oauth-protected-resource";

/// Whether `path` asks for a well-known resource, at the root or below an
/// endpoint's path.
pub(super) fn is_well_known(path: &str) -> bool {
    path == PREFIX || path.contains("/.well-known/")
}

/// The answer to a well-known `path` under `auth`.
pub(super) fn answer(path: &str, auth: &IncomingAuth) -> Response {
    let protected = path == PROTECTED_RESOURCE
        || path.starts_with("/.well-known/oauth-protected-resource/")
        || path.ends_with(PROTECTED_RESOURCE);
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
    };
    Response::json(404, &body)
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
            let r = answer(path, auth);
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
