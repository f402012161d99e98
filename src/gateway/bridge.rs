//! The bridge between a 2026-07-28 client and a 2025-era backend (MCP
//! 2026-07-28, Basic › Patterns › Multi Round-Trip Requests): a backend's
//! question (sampling, elicitation, roots) while it serves a modern client's
//! call becomes an input-required result; the client's retry with
//! `inputResponses` answers the backend, and the original call, still running
//! at the backend, completes on the retry.
//!
//! The call waits here between the two requests, under a random id. The
//! client gets `requestState` = id, expiry and an HMAC-SHA256 (per-process
//! random key) over both and a digest of the request (method, name or URI,
//! arguments) and of its caller (the virtual server it was sent to and the
//! caller's identity), so state that is tampered with, expired, replayed
//! (an entry is taken once), used for another request, sent to another
//! endpoint or by another caller is refused, all with the same error.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::router::InputRequest;
use crate::sha256;
use crate::sync;

/// Calls waiting for their client's retry, at most (each holds a backend
/// call open); past it the oldest is dropped.
const MAX_PARKED: usize = 4096;

/// A call waiting for the client's answers.
#[derive(Debug)]
pub(super) struct Parked {
    /// The backend's questions, not yet answered.
    pub pending: Vec<InputRequest>,
    digest: String,
    expires: Instant,
}

/// The waiting calls and the key that seals their state.
#[derive(Debug)]
pub(super) struct Bridge {
    key: [u8; 32],
    parked: Mutex<HashMap<String, Parked>>,
}

/// What identifies a request for its retry: the caller (`group`: the
/// virtual server, `None` for the whole gateway; `identity`: who called,
/// today the index of the bearer token) and the request (method, name or
/// URI, arguments).
pub(super) fn digest(
    group: Option<&str>,
    identity: Option<&str>,
    method: &str,
    params: Option<&Value>,
) -> String {
    let field = |k: &str| {
        params
            .and_then(|p| p.get(k))
            .cloned()
            .unwrap_or(Value::Null)
    };
    // serde_json's maps are sorted: the text is canonical. Group names
    // and methods hold no NUL, so the fields cannot run into each other.
    let group = group.map_or_else(|| "*".to_owned(), |g| format!("g/{g}"));
    // As JSON text: a name may hold any character.
    let identity = identity.map_or_else(|| "-".to_owned(), |i| Value::from(i).to_string());
    let text = format!(
        "{group}\0{identity}\0{method}\0{}\0{}\0{}",
        field("name"),
        field("uri"),
        field("arguments")
    );
    sha256::hex(text.as_bytes())
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

impl Bridge {
    /// A bridge with a fresh random key.
    pub(super) fn new() -> std::io::Result<Bridge> {
        Ok(Bridge {
            key: crate::random::bytes::<32>()?,
            parked: Mutex::new(HashMap::new()),
        })
    }

    fn mac(&self, id: &str, expires: u128, digest: &str) -> String {
        let mac = sha256::hmac(&self.key, format!("{id}.{expires}.{digest}").as_bytes());
        mac.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parks a call's questions for `ttl`; returns the `requestState`.
    pub(super) fn park(&self, pending: Vec<InputRequest>, digest: String, ttl: Duration) -> String {
        let id = crate::random::hex_id(16).unwrap_or_else(|_| format!("{:x}", now_ms()));
        let expires_ms = now_ms() + ttl.as_millis();
        let state = format!("{id}.{expires_ms}.{}", self.mac(&id, expires_ms, &digest));
        let mut parked = sync::lock(&self.parked);
        let now = Instant::now();
        parked.retain(|_, p| p.expires > now);
        if parked.len() >= MAX_PARKED
            && let Some(oldest) = parked
                .iter()
                .min_by_key(|(_, p)| p.expires)
                .map(|(k, _)| k.clone())
        {
            parked.remove(&oldest);
        }
        parked.insert(
            id,
            Parked {
                pending,
                digest,
                expires: now + ttl,
            },
        );
        state
    }

    /// Takes the call that `state` names, once; why not, for a state that
    /// is malformed, forged, expired, already used, or for another request.
    pub(super) fn take(&self, state: &str, digest: &str) -> Result<Parked, &'static str> {
        let mut parts = state.split('.');
        let (Some(id), Some(expires), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("requestState is not one of ours");
        };
        let Ok(expires_ms) = expires.parse::<u128>() else {
            return Err("requestState is not one of ours");
        };
        // Constant time: the MAC is the secret-dependent part.
        let expected = self.mac(id, expires_ms, digest);
        let same = expected.len() == mac.len()
            && expected
                .bytes()
                .zip(mac.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return Err("requestState failed verification (tampered, or for another request)");
        }
        if expires_ms < now_ms() {
            return Err("requestState has expired");
        }
        let mut parked = sync::lock(&self.parked);
        match parked.remove(id) {
            Some(p) if p.digest == digest && p.expires > Instant::now() => Ok(p),
            Some(_) => Err("requestState has expired"),
            None => Err("requestState was already used or has expired"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_sealed_single_use_and_bound_to_its_request() {
        let bridge = Bridge::new().unwrap();
        let params = serde_json::json!({"name": "t", "arguments": {"a": 1}});
        let d = digest(Some("a"), Some("token-1"), "tools/call", Some(&params));
        let state = bridge.park(Vec::new(), d.clone(), Duration::from_secs(60));
        let other = digest(
            Some("a"),
            Some("token-1"),
            "tools/call",
            Some(&serde_json::json!({"name": "t", "arguments": {"a": 2}})),
        );
        assert!(bridge.take(&state, &other).is_err(), "another request");
        let tampered = bridge.take(&state, &other).unwrap_err();
        // Another endpoint or another caller: the same refusal as tampering.
        for (group, identity) in [
            (Some("b"), Some("token-1")),
            (None, Some("token-1")),
            (Some("a"), Some("token-2")),
            (Some("a"), None),
        ] {
            let elsewhere = digest(group, identity, "tools/call", Some(&params));
            assert_eq!(
                bridge.take(&state, &elsewhere).unwrap_err(),
                tampered,
                "{group:?} {identity:?}"
            );
        }
        let mut forged = state.clone();
        forged.replace_range(
            forged.len() - 1..,
            if state.ends_with('0') { "1" } else { "0" },
        );
        assert!(bridge.take(&forged, &d).is_err(), "tampered");
        assert!(bridge.take("garbage", &d).is_err());
        assert!(bridge.take(&state, &d).is_ok());
        assert!(bridge.take(&state, &d).is_err(), "replayed");
        let short = bridge.park(Vec::new(), d.clone(), Duration::ZERO);
        assert!(bridge.take(&short, &d).is_err(), "expired");
        // Another process (key) cannot have made it.
        let stranger = Bridge::new().unwrap();
        let theirs = stranger.park(Vec::new(), d.clone(), Duration::from_secs(60));
        assert!(bridge.take(&theirs, &d).is_err());
    }
}
