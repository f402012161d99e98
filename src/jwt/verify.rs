//! Checks a bearer JWT, in the order the JOSE and JWT specifications imply
//! (RFC 7515 §5.2, RFC 7519 §7.2, RFC 8725 §3): size, shape, header
//! (`alg` allowed, no `crit`; `jku`, `x5u`, `jwk` and `x5c` are never
//! used), a key of the configured set that fits the algorithm and `kid`,
//! the signature over the token's own bytes, and only then the claims:
//! `iss` exactly, `exp` (required) and `nbf` with the leeway, and `aud`
//! against the identifiers the caller accepts.

use serde_json::{Map, Value};

use super::alg::Alg;
use super::jwk::KeySet;
use crate::base64;
use crate::limits::MAX_BEARER_JWT_BYTES;

/// What a token must satisfy.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The `iss` it must carry, exactly.
    pub issuer: &'a str,
    /// `aud` must hold one of these (a trailing `/` is not significant).
    pub audiences: &'a [String],
    /// The algorithms taken.
    pub algorithms: &'a [Alg],
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_seconds: u64,
    /// Now, in seconds since the Unix epoch.
    pub now: u64,
    /// Where the roles are: a claim name or a dotted path; `None` for
    /// `roles`, then `realm_access.roles`.
    pub roles_claim: Option<&'a str>,
}

/// What a valid token says of its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Its algorithm.
    pub alg: Alg,
    /// `sub`, if present.
    pub subject: Option<String>,
    /// `client_id`, else `azp`, if present.
    pub client_id: Option<String>,
    /// The roles it grants.
    pub roles: Vec<String>,
}

impl Verified {
    /// The caller's name in records: `sub`, else the client id.
    pub fn identity(&self) -> Option<&str> {
        self.subject.as_deref().or(self.client_id.as_deref())
    }
}

/// Why a token was refused. Its text goes to the client (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Over [`MAX_BEARER_JWT_BYTES`].
    TooLarge,
    /// Not a compact JWS with a JSON header and claims.
    Malformed(&'static str),
    /// An algorithm the configuration does not take.
    Algorithm(String),
    /// A `crit` header: an extension we do not understand.
    Critical,
    /// No key of the set fits the token's `alg` and `kid`.
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// Another `iss`.
    Issuer,
    /// No `exp`.
    NoExpiry,
    /// Past `exp`.
    Expired,
    /// Before `nbf`.
    NotYetValid,
    /// Not for this virtual server.
    Audience,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::TooLarge => write!(
                f,
                "the bearer token is longer than {MAX_BEARER_JWT_BYTES} bytes"
            ),
            Rejection::Malformed(why) => write!(f, "malformed token: {why}"),
            Rejection::Algorithm(alg) => {
                write!(f, "the token's algorithm \"{alg}\" is not accepted")
            }
            Rejection::Critical => f.write_str("the token has critical header extensions (crit)"),
            Rejection::UnknownKey => f.write_str("no known key fits the token (kid and algorithm)"),
            Rejection::BadSignature => f.write_str("the token's signature does not verify"),
            Rejection::Issuer => f.write_str("the token is from another issuer"),
            Rejection::NoExpiry => f.write_str("the token has no expiry (exp)"),
            Rejection::Expired => f.write_str("the token has expired"),
            Rejection::NotYetValid => f.write_str("the token is not valid yet (nbf)"),
            Rejection::Audience => f.write_str("the token is not for this server (wrong audience)"),
        }
    }
}

impl std::error::Error for Rejection {}

/// Checks `token` against `keys` and `rules`.
pub fn verify(token: &str, keys: &KeySet, rules: &Rules<'_>) -> Result<Verified, Rejection> {
    if token.len() > MAX_BEARER_JWT_BYTES {
        return Err(Rejection::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(head), Some(body), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::Malformed("a JWT has three parts"));
    };
    let header =
        json_object(head).ok_or(Rejection::Malformed("the header is not a JSON object"))?;
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(Rejection::Malformed("the header has no alg"))?;
    let alg = Alg::parse(alg_name)
        .ok()
        .filter(|a| rules.algorithms.contains(a))
        .ok_or_else(|| Rejection::Algorithm(alg_name.to_owned()))?;
    if header.contains_key("crit") {
        return Err(Rejection::Critical);
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(Rejection::Malformed("kid is not a string")),
    };
    let signature =
        base64::decode_url(sig).ok_or(Rejection::Malformed("the signature is not base64url"))?;
    let signed = &token.as_bytes()[..head.len() + 1 + body.len()];
    let mut fitting = keys.keys.iter().filter(|k| k.fits(alg, kid)).peekable();
    if fitting.peek().is_none() {
        return Err(Rejection::UnknownKey);
    }
    if !fitting.any(|k| k.material.verifies(alg, signed, &signature)) {
        return Err(Rejection::BadSignature);
    }
    let claims =
        json_object(body).ok_or(Rejection::Malformed("the claims are not a JSON object"))?;
    check_claims(&claims, rules)?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    Ok(Verified {
        alg,
        subject: text("sub"),
        client_id: text("client_id").or_else(|| text("azp")),
        roles: roles(&claims, rules.roles_claim),
    })
}

/// `iss`, `exp`, `nbf` and `aud`, once the signature holds.
fn check_claims(claims: &Map<String, Value>, rules: &Rules<'_>) -> Result<(), Rejection> {
    if claims.get("iss").and_then(Value::as_str) != Some(rules.issuer) {
        return Err(Rejection::Issuer);
    }
    // NumericDate may be fractional (RFC 7519 §2).
    let now = rules.now as f64;
    let leeway = rules.leeway_seconds as f64;
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .ok_or(Rejection::NoExpiry)?;
    if now >= exp + leeway {
        return Err(Rejection::Expired);
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = nbf
            .as_f64()
            .ok_or(Rejection::Malformed("nbf is not a number"))?;
        if nbf - leeway > now {
            return Err(Rejection::NotYetValid);
        }
    }
    let trimmed = |s: &str| s.trim_end_matches('/').to_owned();
    let accepted: Vec<String> = rules.audiences.iter().map(|a| trimmed(a)).collect();
    let fits = |aud: &Value| aud.as_str().is_some_and(|a| accepted.contains(&trimmed(a)));
    let ok = match claims.get("aud") {
        Some(Value::Array(auds)) => auds.iter().any(fits),
        Some(aud) => fits(aud),
        None => false,
    };
    if !ok {
        return Err(Rejection::Audience);
    }
    Ok(())
}

/// The roles at `path` (dotted), or at `roles` then `realm_access.roles`:
/// an array of strings, or one string of space-separated roles.
fn roles(claims: &Map<String, Value>, path: Option<&str>) -> Vec<String> {
    let at = |path: &str| {
        let mut parts = path.split('.');
        let first = claims.get(parts.next()?)?;
        parts.try_fold(first, |v, key| v.get(key))
    };
    let found = match path {
        Some(path) => at(path),
        None => at("roles").or_else(|| at("realm_access.roles")),
    };
    match found {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// A base64url part that holds a JSON object.
fn json_object(part: &str) -> Option<Map<String, Value>> {
    let bytes = base64::decode_url(part)?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}
