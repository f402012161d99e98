//! Outgoing credentials for remote backends: configured `headers` plus
//! `auth` (static headers or OAuth 2 client credentials), and the backend's `tls` settings (roots and a
//! client certificate) that every agent made for it carries. Static
//! headers are fixed; OAuth 2 client credentials are fetched from
//! `token_url` with a form POST, cached until
//! `expires_in - token_expiry_buffer_seconds`, and refreshed once on a 401.
//! Auth headers win over `headers` of the same name. Values never reach the
//! log: callers log header names only.

use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use log::{debug, info};
use serde_json::Value;
use ureq::http::Response;
use ureq::{Agent, Body};

use super::agent::{self, Limits};
use crate::config::{Auth, OAuth2, Secret, Tls};
use crate::limits::MAX_BACKEND_MESSAGE_BYTES;

/// How long an OAuth 2 token without `expires_in` is trusted before refetching.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The longest `expires_in` we believe (one day): a token is refetched at
/// least that often, and no server-sent number can overflow a deadline.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Headers and TLS settings for one backend, with a token cache when
/// OAuth 2 is used.
pub struct Credentials {
    headers: Vec<(String, Secret)>,
    auth: Option<Auth>,
    tls: Tls,
    token: Mutex<Option<(Secret, Instant)>>,
    /// For token requests.
    agent: Agent,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Credentials")
            .field("headers", &names)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Credentials from a backend's `headers`, `auth` and `tls`.
    pub fn new(headers: &[(String, Secret)], auth: Option<&Auth>, tls: &Tls) -> Credentials {
        Credentials {
            headers: headers.to_vec(),
            auth: auth.cloned(),
            tls: tls.clone(),
            token: Mutex::new(None),
            agent: agent::agent(tls, Limits::exchange(Duration::from_secs(30))),
        }
    }

    /// An agent for this backend with the role's `limits`.
    pub fn agent(&self, limits: Limits) -> Agent {
        agent::agent(&self.tls, limits)
    }

    fn token(&self) -> MutexGuard<'_, Option<(Secret, Instant)>> {
        // The cache is one Option, replaced whole.
        self.token.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every header to send: configured ones, then auth ones replacing any
    /// of the same name. Fetches an OAuth 2 token if none is cached.
    pub fn headers(&self) -> Result<Vec<(String, String)>, TokenError> {
        let mut out: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect();
        let auth: Vec<(String, String)> = match &self.auth {
            None => Vec::new(),
            Some(Auth::Static(headers)) => headers
                .iter()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect(),
            Some(Auth::OAuth2(oauth)) => vec![(
                "Authorization".into(),
                format!("Bearer {}", self.access_token(oauth)?),
            )],
        };
        for (name, value) in auth {
            out.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
            out.push((name, value));
        }
        Ok(out)
    }

    /// Sends the request `send` makes with these headers (see
    /// [`with_headers`]), and once more with fresh ones when the answer is
    /// a 401 that a new OAuth 2 token may cure. Every request to a backend
    /// goes through here.
    pub fn send<F>(&self, mut send: F) -> Result<Response<Body>, SendError>
    where
        F: FnMut(Vec<(String, String)>) -> Result<Response<Body>, ureq::Error>,
    {
        let mut retried = false;
        loop {
            let headers = self.headers().map_err(SendError::Credentials)?;
            let response = send(headers).map_err(SendError::Request)?;
            if response.status() == 401 && !retried && self.unauthorized() {
                retried = true;
                continue;
            }
            return Ok(response);
        }
    }

    /// After a 401: drops a cached OAuth 2 token and says whether to retry
    /// (OAuth 2 with `auth_retry_on_401`).
    fn unauthorized(&self) -> bool {
        match &self.auth {
            Some(Auth::OAuth2(oauth)) if oauth.retry_on_401 => {
                *self.token() = None;
                true
            }
            _ => false,
        }
    }

    fn access_token(&self, oauth: &OAuth2) -> Result<String, TokenError> {
        let mut cached = self.token();
        if let Some((token, until)) = &*cached
            && Instant::now() < *until
        {
            return Ok(token.0.clone());
        }
        let (token, lifetime) = fetch_token(&self.agent, oauth)?;
        let usable = lifetime.saturating_sub(oauth.expiry_buffer);
        *cached = Some((Secret(token.clone()), Instant::now() + usable));
        Ok(token)
    }
}

/// `request` with `headers` added.
pub fn with_headers<B>(
    mut request: ureq::RequestBuilder<B>,
    headers: &[(String, String)],
) -> ureq::RequestBuilder<B> {
    for (k, v) in headers {
        request = request.header(k, v);
    }
    request
}

/// Why [`Credentials::send`] got no response.
#[derive(Debug)]
pub enum SendError {
    /// The credentials could not be had (the OAuth 2 token request failed).
    Credentials(TokenError),
    /// The request failed: connect, TLS, timeout.
    Request(ureq::Error),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Credentials(e) => write!(f, "{e}"),
            SendError::Request(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendError::Credentials(e) => Some(e),
            SendError::Request(e) => Some(e),
        }
    }
}

/// Why no OAuth 2 token could be had from a token endpoint.
#[derive(Debug)]
pub struct TokenError {
    /// The token endpoint, as configured.
    url: String,
    /// What went wrong there.
    fault: TokenFault,
}

/// What went wrong at a token endpoint.
#[derive(Debug)]
enum TokenFault {
    /// The request got no response (connect, TLS, timeout).
    Request(ureq::Error),
    /// The response body could not be read (too long, cut off).
    Read(ureq::Error),
    /// The endpoint answered with a non-2xx status.
    Status(u16),
    /// The body is not JSON.
    NotJson(serde_json::Error),
    /// The JSON has no string `access_token`.
    NoAccessToken,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = &self.url;
        match &self.fault {
            TokenFault::Request(e) => write!(f, "token request to {url} failed: {e}"),
            TokenFault::Read(e) => write!(f, "token response from {url}: {e}"),
            TokenFault::Status(status) => {
                write!(f, "token endpoint {url} answered HTTP {status}")
            }
            TokenFault::NotJson(e) => write!(f, "token response from {url} is not JSON: {e}"),
            TokenFault::NoAccessToken => {
                write!(f, "token response from {url} has no access_token")
            }
        }
    }
}

impl std::error::Error for TokenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.fault {
            TokenFault::Request(e) | TokenFault::Read(e) => Some(e),
            TokenFault::NotJson(e) => Some(e),
            TokenFault::Status(_) | TokenFault::NoAccessToken => None,
        }
    }
}

/// The client-credentials grant (RFC 6749 §4.4), client authentication in the body.
fn fetch_token(agent: &Agent, oauth: &OAuth2) -> Result<(String, Duration), TokenError> {
    let error = |fault| TokenError {
        url: oauth.token_url.clone(),
        fault,
    };
    let mut form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        form_encode(&oauth.client_id),
        form_encode(&oauth.client_secret.0)
    );
    if !oauth.scopes.is_empty() {
        form.push_str("&scope=");
        form.push_str(&form_encode(&oauth.scopes.join(" ")));
    }
    debug!(
        "fetching an OAuth 2 token from {}",
        crate::redact::url(&oauth.token_url)
    );
    let mut response = agent
        .post(&oauth.token_url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", "application/json")
        .send(form)
        .map_err(|e| error(TokenFault::Request(e)))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BACKEND_MESSAGE_BYTES as u64)
        .read_to_string()
        .map_err(|e| error(TokenFault::Read(e)))?;
    let (token, lifetime) = token_response(status, &body).map_err(error)?;
    info!(
        "OAuth 2 token obtained from {} (valid {:.0}s)",
        crate::redact::url(&oauth.token_url),
        lifetime.as_secs_f64()
    );
    Ok((token, lifetime))
}

/// The token and its lifetime in a token endpoint's answer (RFC 6749
/// §5.1), or what is wrong with the answer.
fn token_response(status: u16, body: &str) -> Result<(String, Duration), TokenFault> {
    if !(200..300).contains(&status) {
        return Err(TokenFault::Status(status));
    }
    let value: Value = serde_json::from_str(body).map_err(TokenFault::NotJson)?;
    let token = value
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or(TokenFault::NoAccessToken)?;
    Ok((token.to_owned(), token_lifetime(&value)))
}

/// A token response's `expires_in`, bounded: missing, non-numeric, zero or
/// negative means the default; anything past [`MAX_TOKEN_LIFETIME`] (`1e20`
/// included, which `Duration::from_secs_f64` would panic on) is cut to it.
fn token_lifetime(response: &Value) -> Duration {
    response
        .get("expires_in")
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(DEFAULT_TOKEN_LIFETIME, |s| {
            Duration::try_from_secs_f64(s.min(MAX_TOKEN_LIFETIME.as_secs_f64()))
                .unwrap_or(MAX_TOKEN_LIFETIME)
        })
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lifetimes_are_bounded() {
        let life = |v: Value| token_lifetime(&serde_json::json!({ "expires_in": v }));
        assert_eq!(life(Value::from(60)), Duration::from_secs(60));
        assert_eq!(life(Value::from(1e20)), MAX_TOKEN_LIFETIME);
        assert_eq!(life(Value::from(f64::MAX)), MAX_TOKEN_LIFETIME);
        assert_eq!(life(Value::from(-5)), DEFAULT_TOKEN_LIFETIME);
        assert_eq!(life(Value::from("3600")), DEFAULT_TOKEN_LIFETIME);
        assert_eq!(token_lifetime(&Value::Null), DEFAULT_TOKEN_LIFETIME);
    }

    #[test]
    fn token_responses() {
        let ok = token_response(200, r#"{"access_token":"t","expires_in":60}"#).unwrap();
        assert_eq!(ok, ("t".to_owned(), Duration::from_secs(60)));
        assert!(matches!(
            token_response(401, r#"{"access_token":"t"}"#),
            Err(TokenFault::Status(401))
        ));
        assert!(matches!(
            token_response(200, "<html>"),
            Err(TokenFault::NotJson(_))
        ));
        assert!(matches!(
            token_response(200, r#"{"access_token":7}"#),
            Err(TokenFault::NoAccessToken)
        ));
        let e = TokenError {
            url: "https://auth.example/token".into(),
            fault: TokenFault::Status(503),
        };
        assert_eq!(
            e.to_string(),
            "token endpoint https://auth.example/token answered HTTP 503"
        );
    }

    #[test]
    fn form_encoding() {
        assert_eq!(form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn auth_headers_win_case_insensitively() {
        let c = Credentials::new(
            &[
                ("authorization".into(), Secret("old".into())),
                ("X-Team".into(), Secret("t".into())),
            ],
            Some(&Auth::Static(vec![(
                "Authorization".into(),
                Secret("Bearer new".into()),
            )])),
            &Tls::default(),
        );
        assert_eq!(
            c.headers().unwrap(),
            [
                ("X-Team".to_owned(), "t".to_owned()),
                ("Authorization".to_owned(), "Bearer new".to_owned())
            ]
        );
        assert!(!c.unauthorized(), "static auth does not retry");
        assert!(!format!("{c:?}").contains("Bearer"));
    }
}
