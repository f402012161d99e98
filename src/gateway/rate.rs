//! `rate_limits`: at most `requests` requests per client IP per `window` over
//! the MCP paths, counted in fixed windows. Past it: 429 with `Retry-After`
//! (the seconds left in the window), and on `/mcp` a JSON-RPC error body. Only
//! new requests are counted: a stream that is already open is never cut.
//!
//! The table holds one entry per address seen in the current window; it is
//! swept of expired entries whenever it grows past [`SWEEP_AT`], so a flood
//! from many addresses cannot grow it for ever.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync;

/// Table size past which expired entries are swept out.
const SWEEP_AT: usize = 10_000;

/// Counts requests per client address.
#[derive(Debug)]
pub(super) struct RateLimiter {
    requests: u32,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    pub(super) fn new(requests: u32, window: Duration) -> RateLimiter {
        RateLimiter {
            requests,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request from `ip` at `now`; `Err(wait)` when it is over the
    /// limit, with the time until its window ends.
    pub(super) fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut seen = sync::lock(&self.seen);
        if seen.len() >= SWEEP_AT {
            let window = self.window;
            seen.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = seen.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.requests {
            return Err(self.window.saturating_sub(now.duration_since(entry.0)));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_address_in_windows() {
        let r = RateLimiter::new(3, Duration::from_secs(10));
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(r.check(a, t), Ok(()));
        }
        let wait = r.check(a, t + Duration::from_secs(4)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(6));
        assert_eq!(r.check(b, t), Ok(()), "another address has its own count");
        assert_eq!(
            r.check(a, t + Duration::from_secs(10)),
            Ok(()),
            "a new window"
        );
    }

    #[test]
    fn the_table_is_swept() {
        let r = RateLimiter::new(1, Duration::from_secs(1));
        let t = Instant::now();
        for i in 0..SWEEP_AT as u32 + 10 {
            let ip = IpAddr::from(i.to_be_bytes());
            let _ = r.check(ip, t);
        }
        let later = t + Duration::from_secs(2);
        let _ = r.check("10.9.9.9".parse().unwrap(), later);
        assert!(
            r.seen.lock().unwrap().len() < 10,
            "expired entries were swept"
        );
    }
}
