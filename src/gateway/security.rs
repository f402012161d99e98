//! Request guards for the MCP endpoints: Origin and Host checks against DNS
//! rebinding (MCP 2025-06-18, Basic › Transports › Streamable HTTP › Security
//! Warning) and incoming bearer auth.
//!
//! Each guard either lets a request through or returns the response that
//! refuses it. `/health` and `/ready` are never guarded; the management
//! API has its own token rule ([`check_management`]).

use crate::config::{IncomingAuth, Security};
use crate::http::{Request, Response, header};

/// Host names that are loopback, as they appear in `Host` and `Origin`.
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// Refuses a request whose `Origin` or `Host` is not allowed (403).
pub fn check_origin_and_host(
    req: &Request,
    security: &Security,
    loopback_bind: bool,
) -> Option<Response> {
    let host_header = req.header(header::HOST);
    if loopback_bind
        && let Some(host) = host_header
        && !host_allowed(host, &security.allowed_hosts)
    {
        return Some(Response::text(
            403,
            format!("forbidden: Host \"{host}\" is not allowed for a server bound to loopback\n"),
        ));
    }
    if let Some(origin) = req.header(header::ORIGIN)
        && !origin_allowed(origin, host_header, &security.allowed_origins)
    {
        return Some(Response::text(
            403,
            format!("forbidden: Origin \"{origin}\" is not allowed\n"),
        ));
    }
    None
}

/// The host part of `host[:port]`, keeping IPv6 brackets.
fn host_part(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.find(']').map_or(authority, |i| &authority[..=i]);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = host_part(host);
    LOOPBACK_HOSTS.iter().any(|h| name.eq_ignore_ascii_case(h))
        || allowed
            .iter()
            .any(|a| a.eq_ignore_ascii_case(host) || a.eq_ignore_ascii_case(name))
}

pub(super) fn origin_allowed(origin: &str, host_header: Option<&str>, allowed: &[String]) -> bool {
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let Some((_, authority)) = origin.split_once("://") else {
        return false; // "null" and other opaque origins
    };
    let authority = authority.trim_end_matches('/');
    LOOPBACK_HOSTS
        .iter()
        .any(|h| host_part(authority).eq_ignore_ascii_case(h))
        || host_header.is_some_and(|h| h.eq_ignore_ascii_case(authority))
}

/// Why a request to an MCP endpoint was refused by incoming bearer auth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerRefusal {
    /// No `Authorization` header.
    Missing,
    /// An `Authorization` header that is not `Bearer <token>`.
    Malformed,
    /// A bearer token that is not one of the configured ones.
    Unknown,
}

impl BearerRefusal {
    /// What the client and the log are told; never the token itself.
    pub fn message(self) -> &'static str {
        match self {
            BearerRefusal::Missing => {
                "missing bearer token: send \"Authorization: Bearer <token>\" with one of incoming_auth.tokens"
            }
            BearerRefusal::Malformed => {
                "malformed Authorization header: expected \"Bearer <token>\""
            }
            BearerRefusal::Unknown => "unknown bearer token: it is not one of incoming_auth.tokens",
        }
    }

    /// The 401: a JSON body `{"error", "message"}` and the RFC 6750 §3
    /// challenge, with the error code only when the request carried
    /// something to judge (a client without credentials gets the bare
    /// challenge).
    pub fn response(self) -> Response {
        let (error, challenge) = match self {
            BearerRefusal::Missing => ("unauthorized", "Bearer"),
            BearerRefusal::Malformed => ("invalid_request", "Bearer error=\"invalid_request\""),
            BearerRefusal::Unknown => ("invalid_token", "Bearer error=\"invalid_token\""),
        };
        Response::json(
            401,
            &serde_json::json!({"error": error, "message": self.message()}),
        )
        .with_header("WWW-Authenticate", challenge)
    }
}

/// The token of `Authorization: Bearer <token>` (the scheme in any case).
pub fn bearer_token(req: &Request) -> Result<&str, BearerRefusal> {
    req.header(header::AUTHORIZATION)
        .ok_or(BearerRefusal::Missing)?
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or(BearerRefusal::Malformed)
}

/// Checks `Authorization: Bearer <token>`. `Ok(None)` with anonymous auth,
/// `Ok(Some(i))` for the i-th configured token, else why not.
pub fn check_bearer(req: &Request, auth: &IncomingAuth) -> Result<Option<usize>, BearerRefusal> {
    let IncomingAuth::Bearer(tokens) = auth else {
        return Ok(None);
    };
    let presented = bearer_token(req)?;
    // Compare against every token so timing does not reveal which matched.
    let found = tokens.iter().enumerate().fold(None, |found, (i, t)| {
        if constant_time_eq(presented.as_bytes(), t.token.0.as_bytes()) {
            Some(i)
        } else {
            found
        }
    });
    found.map(Some).ok_or(BearerRefusal::Unknown)
}

/// Why a management request was refused.
#[derive(Debug)]
pub enum ManagementRefusal {
    /// A missing, malformed or wrong token: 401.
    Unauthorized(Response),
    /// No token is configured and the peer is not on loopback: 403.
    NotLoopback(Response),
}

/// The management API's access rule: with a token, exactly `Authorization:
/// Bearer <token>` (constant-time compare; the original's 401 bodies); without
/// one, loopback peers only.
pub fn check_management(req: &Request, token: Option<&str>) -> Result<(), ManagementRefusal> {
    let unauthorized = |message: &str| {
        ManagementRefusal::Unauthorized(
            Response::json(
                401,
                &serde_json::json!({"error": "unauthorized", "message": message, "details": null}),
            )
            .with_header("WWW-Authenticate", "Bearer"),
        )
    };
    let Some(token) = token else {
        if req.peer.ip().is_loopback() {
            return Ok(());
        }
        return Err(ManagementRefusal::NotLoopback(Response::json(
            403,
            &serde_json::json!({
                "error": "forbidden",
                "message": "the management API serves loopback clients only while no token is set (server.management.token or $ARGUS_MGMT_TOKEN)",
                "details": null,
            }),
        )));
    };
    let Some(presented) = req
        .header(header::AUTHORIZATION)
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return Err(unauthorized(
            "Missing or malformed Authorization header. Expected: Bearer <token>",
        ));
    };
    if constant_time_eq(presented.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(unauthorized("Invalid bearer token."))
    }
}

/// Equality whose time depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for ok in [
            "localhost",
            "localhost:9000",
            "127.0.0.1:1",
            "[::1]:80",
            "LOCALHOST",
        ] {
            assert!(host_allowed(ok, &[]), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:9000",
            "127.0.0.2",
            "localhost.evil",
        ] {
            assert!(!host_allowed(bad, &[]), "{bad}");
        }
        assert!(host_allowed("gw.internal:9000", &["gw.internal".into()]));
    }

    #[test]
    fn origins() {
        assert!(origin_allowed("http://localhost:3000", None, &[]));
        assert!(origin_allowed("http://[::1]:3000", None, &[]));
        assert!(origin_allowed(
            "https://gw.example",
            Some("gw.example"),
            &[]
        ));
        assert!(!origin_allowed(
            "http://evil.example",
            Some("localhost:9000"),
            &[]
        ));
        assert!(!origin_allowed("null", None, &[]));
        assert!(origin_allowed("http://evil.example", None, &["*".into()]));
        assert!(origin_allowed(
            "https://app.example",
            None,
            &["https://app.example".into()]
        ));
    }

    fn request_from(peer: &str, authorization: Option<&str>) -> Request {
        let mut headers = vec![("host".to_owned(), "localhost".to_owned())];
        if let Some(a) = authorization {
            headers.push(("authorization".to_owned(), a.to_owned()));
        }
        Request {
            head: crate::http::Head {
                method: "GET".into(),
                target: "/manage/v1/status".into(),
                version: crate::http::Version::Http11,
                headers,
            },
            body: Vec::new(),
            peer: peer.parse().unwrap(),
            local: "0.0.0.0:9000".parse().unwrap(),
        }
    }

    #[test]
    fn management_without_a_token_serves_loopback_peers_only() {
        for peer in ["127.0.0.1:5000", "[::1]:5000"] {
            assert!(
                check_management(&request_from(peer, None), None).is_ok(),
                "{peer}"
            );
        }
        for peer in ["10.0.0.7:5000", "[fd00::1]:5000", "192.168.1.2:80"] {
            match check_management(&request_from(peer, None), None) {
                Err(ManagementRefusal::NotLoopback(r)) => assert_eq!(r.status, 403),
                other => panic!("{peer}: {other:?}"),
            }
        }
        // With a token, any peer that presents it is served; loopback is no excuse.
        let token = Some("0123456789abcdef");
        let remote = request_from("10.0.0.7:5000", Some("Bearer 0123456789abcdef"));
        assert!(check_management(&remote, token).is_ok());
        let local = request_from("127.0.0.1:5000", None);
        assert!(matches!(
            check_management(&local, token),
            Err(ManagementRefusal::Unauthorized(_))
        ));
    }

    #[test]
    fn bearer_refusals_say_what_was_wrong() {
        let token = |name: &str, token: &str| crate::config::NamedToken {
            name: name.into(),
            token: crate::config::Secret(token.into()),
            roles: Vec::new(),
        };
        let auth = IncomingAuth::Bearer(vec![token("token-1", "t0k3n"), token("token-2", "other")]);
        let check =
            |authorization| check_bearer(&request_from("127.0.0.1:1", authorization), &auth);
        assert_eq!(check(Some("Bearer other")), Ok(Some(1)));
        assert_eq!(check(Some("bearer  t0k3n ")), Ok(Some(0)));
        assert_eq!(check(None), Err(BearerRefusal::Missing));
        for malformed in ["Basic dTpw", "Bearer", "Bearer   ", "t0k3n"] {
            assert_eq!(
                check(Some(malformed)),
                Err(BearerRefusal::Malformed),
                "{malformed}"
            );
        }
        assert_eq!(check(Some("Bearer t0k3n-not")), Err(BearerRefusal::Unknown));
        let r = BearerRefusal::Unknown.response();
        assert_eq!(r.status, 401);
        assert_eq!(
            r.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("www-authenticate"))
                .map(|(_, v)| v.as_str()),
            Some("Bearer error=\"invalid_token\"")
        );
        assert_eq!(check(None).map_err(|r| r.response().status), Err(401));
        assert_eq!(
            check_bearer(&request_from("127.0.0.1:1", None), &IncomingAuth::Anonymous),
            Ok(None)
        );
    }

    #[test]
    fn constant_time() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
