//! The keys of a JWT issuer that the gateway fetches itself: an http(s)
//! `jwks_uri`, or the one an OIDC discovery document names. Fetched when
//! first needed (the gateway starts even while the issuer is down), kept,
//! and fetched again when a token names a key the set lacks, at most once
//! a minute (a key rotation reaches the gateway, a stream of forged `kid`s
//! does not make it hammer the issuer). A failed fetch keeps the keys it
//! had, and is not tried again for a few seconds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use log::{info, warn};
use serde_json::Value;

use crate::backend::agent::{Limits, agent};
use crate::config::Tls;
use crate::jwt::{KeySet, KeySetError};
use crate::limits::MAX_JWKS_BYTES;
use crate::sync::lock;

/// A set is fetched again on an unknown `kid` at most this often.
const REFETCH_AFTER: Duration = Duration::from_secs(60);

/// After a failed fetch, the next waits at least this long.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// The longest one fetch (and a discovery document's) may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the keys are not available.
#[derive(Debug)]
pub(super) enum FetchError {
    /// The request failed.
    Request(String, ureq::Error),
    /// The answer was not 200.
    Status(String, u16),
    /// The discovery document is not JSON, or names no `jwks_uri`.
    NoJwksUri(String),
    /// The set is not a JWK Set.
    Set(String, KeySetError),
    /// The last attempt failed moments ago.
    Waiting,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Request(url, e) => write!(f, "cannot fetch {url}: {e}"),
            FetchError::Status(url, status) => write!(f, "{url} answered HTTP {status}"),
            FetchError::NoJwksUri(url) => {
                write!(f, "{url} is not a discovery document with a jwks_uri")
            }
            FetchError::Set(url, e) => write!(f, "{url}: {e}"),
            FetchError::Waiting => {
                f.write_str("the last fetch of the issuer's keys failed; trying again shortly")
            }
        }
    }
}

impl std::error::Error for FetchError {}

/// The last fetch of a remote key set.
struct Fetched {
    /// What it was fetched for (a reload may change the source).
    source: String,
    keys: Option<Arc<KeySet>>,
    /// When it was last tried, and whether that worked.
    tried: Instant,
    failed: bool,
}

/// The remote key set of the issuer in force.
#[derive(Default)]
pub(super) struct RemoteKeys {
    fetched: Mutex<Option<Fetched>>,
}

impl std::fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RemoteKeys")
    }
}

/// What to do for a request for keys, given the last fetch.
#[derive(Debug, PartialEq, Eq)]
enum Refetch {
    /// Use the keys held.
    Keep,
    /// Fetch now.
    Fetch,
    /// Nothing held, and the last attempt failed moments ago.
    Wait,
}

/// The rule: fetch what was never fetched (or for another source); after a
/// failure, not again within [`RETRY_AFTER_FAILURE`]; on an unknown `kid`
/// (`refresh`), not again within [`REFETCH_AFTER`].
fn decide(last: Option<(&str, bool, bool, Duration)>, source: &str, refresh: bool) -> Refetch {
    let Some((_, held, failed, age)) = last.filter(|l| l.0 == source) else {
        return Refetch::Fetch;
    };
    match (held, failed) {
        (false, _) if age < RETRY_AFTER_FAILURE => Refetch::Wait,
        (false, _) => Refetch::Fetch,
        (true, true) if age < RETRY_AFTER_FAILURE => Refetch::Keep,
        (true, _) if refresh && age >= REFETCH_AFTER => Refetch::Fetch,
        (true, true) if refresh => Refetch::Fetch,
        (true, _) => Refetch::Keep,
    }
}

impl RemoteKeys {
    /// The keys at `url` (an http(s) `jwks_uri`, or with `discovery` an
    /// OIDC discovery document that names it); with `refresh` (a token
    /// named a key the set lacks), fetched again if the set is a minute
    /// old. Runs on the caller's connection thread; a fetch holds the lock,
    /// so concurrent callers wait for it rather than fetch again.
    pub(super) fn keys(
        &self,
        (url, tls, discovery): (&str, &Tls, bool),
        refresh: bool,
    ) -> Result<Arc<KeySet>, FetchError> {
        let mut fetched = lock(&self.fetched);
        let last = fetched.as_ref().map(|f| {
            (
                f.source.as_str(),
                f.keys.is_some(),
                f.failed,
                f.tried.elapsed(),
            )
        });
        match decide(last, url, refresh) {
            Refetch::Keep => {
                if let Some(keys) = fetched.as_ref().and_then(|f| f.keys.clone()) {
                    return Ok(keys);
                }
            }
            Refetch::Wait => return Err(FetchError::Waiting),
            Refetch::Fetch => {}
        }
        let held = fetched
            .as_ref()
            .filter(|f| f.source == url)
            .and_then(|f| f.keys.clone());
        let result = fetch(url, tls, discovery).map(Arc::new);
        let keys = match &result {
            Ok(keys) => {
                let shown = crate::redact::url(url);
                info!("JWT keys fetched from {shown}: {} usable", keys.len());
                Some(keys.clone())
            }
            Err(why) => {
                warn!("JWT keys: {why}");
                held.clone()
            }
        };
        *fetched = Some(Fetched {
            source: url.to_owned(),
            keys,
            tried: Instant::now(),
            failed: result.is_err(),
        });
        // A failed fetch keeps the keys held, if any.
        result.or_else(|why| held.ok_or(why))
    }
}

/// Fetches the set at `url`, or, for a discovery document, at the
/// `jwks_uri` it names.
fn fetch(url: &str, tls: &Tls, discovery: bool) -> Result<KeySet, FetchError> {
    let agent = agent(tls, Limits::exchange(FETCH_TIMEOUT));
    let get = |url: &str| -> Result<Vec<u8>, FetchError> {
        let mut response = agent
            .get(url)
            .header("Accept", "application/json")
            .call()
            .map_err(|e| FetchError::Request(url.to_owned(), e))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(FetchError::Status(url.to_owned(), status));
        }
        response
            .body_mut()
            .with_config()
            .limit(MAX_JWKS_BYTES as u64)
            .read_to_vec()
            .map_err(|e| FetchError::Request(url.to_owned(), e))
    };
    let jwks_url = if discovery {
        let document = get(url)?;
        serde_json::from_slice::<Value>(&document)
            .ok()
            .and_then(|d| d.get("jwks_uri").and_then(Value::as_str).map(str::to_owned))
            .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
            .ok_or_else(|| FetchError::NoJwksUri(url.to_owned()))?
    } else {
        url.to_owned()
    };
    let bytes = get(&jwks_url)?;
    KeySet::parse(&bytes).map_err(|e| FetchError::Set(jwks_url, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_fetched_when_needed_and_at_most_once_a_minute_on_an_unknown_kid() {
        let s = "https://idp/jwks";
        let secs = Duration::from_secs;
        // Never fetched, or fetched for another source: fetch.
        assert_eq!(decide(None, s, false), Refetch::Fetch);
        assert_eq!(
            decide(Some(("other", true, false, secs(1))), s, false),
            Refetch::Fetch
        );
        // Held: kept; an unknown kid fetches again only after a minute.
        assert_eq!(
            decide(Some((s, true, false, secs(1))), s, false),
            Refetch::Keep
        );
        assert_eq!(
            decide(Some((s, true, false, secs(59))), s, true),
            Refetch::Keep
        );
        assert_eq!(
            decide(Some((s, true, false, secs(60))), s, true),
            Refetch::Fetch
        );
        assert_eq!(
            decide(Some((s, true, false, secs(3600))), s, false),
            Refetch::Keep
        );
        // Failed: nothing held waits a few seconds; a held set is kept,
        // and refreshed after the pause.
        assert_eq!(
            decide(Some((s, false, true, secs(1))), s, false),
            Refetch::Wait
        );
        assert_eq!(
            decide(Some((s, false, true, secs(5))), s, false),
            Refetch::Fetch
        );
        assert_eq!(
            decide(Some((s, true, true, secs(1))), s, true),
            Refetch::Keep
        );
        assert_eq!(
            decide(Some((s, true, true, secs(6))), s, true),
            Refetch::Fetch
        );
    }
}
