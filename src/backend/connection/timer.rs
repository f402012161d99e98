//! The timer thread of a connection (`argus-timer-<name>`): sleeps until
//! the earliest deadline in the pending table (or until woken when an
//! earlier one arrives or the connection closes), then answers each expired
//! request `Timeout` and tells the backend `notifications/cancelled`. It
//! holds the connection weakly, so it ends with it. Which deadline wakes it
//! is decided where requests are sent (`mod.rs`).

use std::panic::{self, AssertUnwindSafe};
use std::sync::Weak;
use std::time::{Duration, Instant};

use log::{error, warn};
use serde_json::json;

use super::{CallError, Connection, Pending};
use crate::mcp;

/// Expires pending requests at their deadlines. Ends when the connection is
/// dropped or closed.
pub(super) fn timer_loop(conn: &Weak<Connection>) {
    loop {
        let Some(conn) = conn.upgrade() else { return };
        let mut state = conn.lock();
        if state.closed.is_some() {
            return;
        }
        let now = Instant::now();
        let expired: Vec<u64> = state
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        if expired.is_empty() {
            // Sleep until the earliest deadline, or a while if none: the
            // Weak must be re-checked now and then so the thread can end.
            let next = state.pending.values().map(|p| p.deadline).min();
            state.timer_at = next;
            let wait = next.map_or(Duration::from_secs(60), |d| {
                d.saturating_duration_since(now)
            });
            let (guard, _) = conn
                .timer
                .wait_timeout(state, wait)
                .unwrap_or_else(|e| e.into_inner());
            drop(guard);
            continue;
        }
        let timed_out: Vec<(u64, Pending)> = expired
            .into_iter()
            .filter_map(|id| state.pending.remove(&id).map(|p| (id, p)))
            .collect();
        drop(state);
        for (id, p) in timed_out {
            warn!(
                "[{}] request {id} {} timed out after {:.1}s",
                conn.name,
                p.method,
                p.timeout.as_secs_f64()
            );
            if p.method != mcp::method::INITIALIZE {
                conn.notify(
                    mcp::method::CANCELLED,
                    Some(json!({"requestId": id, "reason": "timed out in the gateway"})),
                );
            }
            let reply = p.reply;
            let timeout = p.timeout;
            if panic::catch_unwind(AssertUnwindSafe(move || {
                reply(Err(CallError::Timeout(timeout)))
            }))
            .is_err()
            {
                error!("[{}] a timeout reply panicked", conn.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{conn, sent};
    use super::*;

    #[test]
    fn timeout_answers_and_cancels_at_the_backend() {
        let (c, rx, _e) = conn();
        let started = Instant::now();
        let r = c.request("slow", None, Duration::from_millis(100));
        assert_eq!(r, Err(CallError::Timeout(Duration::from_millis(100))));
        assert!(started.elapsed() < Duration::from_secs(3));
        let req = sent(&rx);
        let cancel = sent(&rx);
        assert_eq!(cancel["method"], "notifications/cancelled");
        assert_eq!(cancel["params"]["requestId"], req["id"]);
    }
}
