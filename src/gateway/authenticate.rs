//! Who is calling an MCP endpoint: a static bearer token's identity, or a
//! JWT's, checked against the virtual server asked for (RFC 8707 resource
//! identifiers: the whole gateway is `<base>`, a group `<base>/g/<group>`,
//! each also with `/mcp` and `/sse`; a whole-gateway token opens every
//! group, a group's token only its own). `<base>` is `server.public_url`,
//! else `http://<Host>`. A refused JWT caller is pointed at the virtual
//! server's protected-resource metadata (RFC 9728 §5.1).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{Config, IncomingAuth, JwtAuth, KeySource, Tls};
use crate::http::Response;
use crate::http::{Request, header};
use crate::identity::Identity;
use crate::jwt;

use super::remote_keys::{FetchError, RemoteKeys};
use super::security::{BearerRefusal, bearer_token, check_bearer};
use super::well_known::PROTECTED_RESOURCE;

/// Why an MCP request was refused by incoming auth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRefusal {
    /// Static bearer tokens.
    Bearer(BearerRefusal),
    /// The issuer's keys could not be fetched: 503, not the caller's fault.
    KeysUnavailable(String),
    /// A JWT caller: what was wrong, and the metadata URL of the virtual
    /// server asked for.
    Jwt {
        /// `None`: no token, or no `Bearer` one.
        why: Option<jwt::Rejection>,
        /// Whether an `Authorization` header came.
        presented: bool,
        /// The protected-resource metadata URL.
        metadata: String,
    },
}

impl AuthRefusal {
    /// What the client and the log are told; never the token itself.
    pub fn message(&self) -> String {
        match self {
            AuthRefusal::Bearer(why) => why.message().to_owned(),
            AuthRefusal::KeysUnavailable(why) => {
                format!("the authorization server's keys are not available: {why}")
            }
            AuthRefusal::Jwt { why: Some(why), .. } => why.to_string(),
            AuthRefusal::Jwt {
                presented: true, ..
            } => BearerRefusal::Malformed.message().to_owned(),
            AuthRefusal::Jwt { .. } => {
                "missing bearer token: get one from the authorization server named in the protected-resource metadata".to_owned()
            }
        }
    }

    /// The 401: a JSON body `{"error", "message"}` and the challenge, with
    /// the metadata URL for a JWT caller and the error code only when the
    /// request carried something to judge.
    pub fn response(&self) -> Response {
        let (why, presented, metadata) = match self {
            AuthRefusal::Bearer(why) => return why.response(),
            AuthRefusal::KeysUnavailable(_) => {
                let body = serde_json::json!({"error": "temporarily_unavailable", "message": self.message()});
                return Response::json(503, &body).with_header("Retry-After", "5");
            }
            AuthRefusal::Jwt {
                why,
                presented,
                metadata,
            } => (why, *presented, metadata),
        };
        let (error, challenge) = match (why, presented) {
            (Some(_), _) => (
                "invalid_token",
                format!("Bearer resource_metadata=\"{metadata}\", error=\"invalid_token\""),
            ),
            (None, true) => (
                "invalid_request",
                format!("Bearer resource_metadata=\"{metadata}\", error=\"invalid_request\""),
            ),
            (None, false) => (
                "unauthorized",
                format!("Bearer resource_metadata=\"{metadata}\""),
            ),
        };
        Response::json(
            401,
            &serde_json::json!({"error": error, "message": self.message()}),
        )
        .with_header("WWW-Authenticate", &challenge)
    }
}

/// The gateway's base URL as the client reached it: `server.public_url`,
/// else `http://<Host>`. A `Host` that is not a plain host name, address
/// and port (it would end up inside a quoted header value) counts as
/// `localhost`.
pub(super) fn base_url(req: &Request, config: &Config) -> String {
    if let Some(url) = &config.server.public_url {
        return url.clone();
    }
    let host = req
        .header(header::HOST)
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// The protected-resource metadata URL of `group`'s virtual server (the
/// whole gateway's for `None`).
pub(super) fn metadata_url(base: &str, group: Option<&str>) -> String {
    match group {
        Some(g) => format!("{base}{PROTECTED_RESOURCE}/g/{g}"),
        None => format!("{base}{PROTECTED_RESOURCE}"),
    }
}

/// The identity a request's credentials prove for `group`'s virtual
/// server; `None` without incoming auth.
pub(super) fn authenticate(
    req: &Request,
    config: &Config,
    group: Option<&str>,
    remote: &RemoteKeys,
) -> Result<Option<Arc<Identity>>, AuthRefusal> {
    match &config.incoming_auth {
        IncomingAuth::Anonymous => Ok(None),
        IncomingAuth::Bearer(tokens) => match check_bearer(req, &config.incoming_auth) {
            Ok(Some(i)) => {
                let token = &tokens[i];
                Ok(Some(Arc::new(Identity::named(
                    token.name.clone(),
                    token.roles.clone(),
                ))))
            }
            Ok(None) => Ok(None),
            Err(why) => Err(AuthRefusal::Bearer(why)),
        },
        IncomingAuth::Jwt(auth) => jwt_identity(req, (config, auth), group, remote).map(Some),
    }
}

/// A JWT caller's identity.
fn jwt_identity(
    req: &Request,
    (config, auth): (&Config, &JwtAuth),
    group: Option<&str>,
    remote: &RemoteKeys,
) -> Result<Arc<Identity>, AuthRefusal> {
    let base = base_url(req, config);
    let refuse = |why: Option<jwt::Rejection>, presented: bool| AuthRefusal::Jwt {
        why,
        presented,
        metadata: metadata_url(&base, group),
    };
    let token = match bearer_token(req) {
        Ok(token) => token,
        Err(why) => return Err(refuse(None, why != BearerRefusal::Missing)),
    };
    let audiences = audiences(&base, group, &auth.audience);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let rules = jwt::Rules {
        issuer: &auth.issuer,
        audiences: &audiences,
        algorithms: &auth.algorithms,
        leeway_seconds: auth.leeway_seconds,
        now,
        roles_claim: auth.roles_claim.as_deref(),
    };
    let verified = match &auth.keys {
        KeySource::File { keys, .. } => jwt::verify(token, keys, &rules),
        KeySource::Uri { url, tls } => verify_remote(remote, (url, tls, false), token, &rules)?,
        KeySource::Discovery { url, tls } => {
            verify_remote(remote, (url, tls, true), token, &rules)?
        }
    }
    .map_err(|why| refuse(Some(why), true))?;
    let name = verified.identity().unwrap_or("unnamed").to_owned();
    Ok(Arc::new(Identity {
        name,
        client_id: verified.client_id,
        roles: verified.roles,
    }))
}

/// Checks `token` with the keys the gateway fetches from `source` (its
/// URL, TLS, and whether it is a discovery document); a key the set lacks
/// may be a rotation since the fetch, so the set is asked for again. `Err`
/// when no keys can be had.
fn verify_remote(
    remote: &RemoteKeys,
    source: (&str, &Tls, bool),
    token: &str,
    rules: &jwt::Rules<'_>,
) -> Result<Result<jwt::Verified, jwt::Rejection>, AuthRefusal> {
    let unavailable = |why: FetchError| AuthRefusal::KeysUnavailable(why.to_string());
    let keys = remote.keys(source, false).map_err(unavailable)?;
    Ok(match jwt::verify(token, &keys, rules) {
        Err(jwt::Rejection::UnknownKey) => {
            let fresh = remote.keys(source, true).map_err(unavailable)?;
            jwt::verify(token, &fresh, rules)
        }
        other => other,
    })
}

/// The `aud` values a token for `group`'s virtual server may carry: its
/// own identifiers, the whole gateway's (groups are subsets), and the
/// configured `audience`.
fn audiences(base: &str, group: Option<&str>, configured: &[String]) -> Vec<String> {
    let mut all = Vec::new();
    let mut add = |root: String| {
        all.push(format!("{root}/mcp"));
        all.push(format!("{root}/sse"));
        all.push(root);
    };
    add(base.to_owned());
    if let Some(g) = group {
        add(format!("{base}/g/{g}"));
    }
    all.extend(configured.iter().cloned());
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_takes_its_own_and_the_whole_gateway_s_identifiers() {
        let whole = audiences("http://h", None, &[]);
        assert_eq!(whole, ["http://h/mcp", "http://h/sse", "http://h"]);
        let group = audiences("http://h", Some("a"), &["api://x".to_owned()]);
        assert!(group.contains(&"http://h/g/a".to_owned()));
        assert!(group.contains(&"http://h/g/a/mcp".to_owned()));
        assert!(group.contains(&"http://h".to_owned()));
        assert!(group.contains(&"api://x".to_owned()));
        assert!(!whole.iter().any(|a| a.contains("/g/")));
        assert_eq!(
            metadata_url("http://h", Some("a")),
            "http://h/.well-known/oauth-protected-resource/g/a"
        );
    }
}
