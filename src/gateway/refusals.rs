//! The log lines for clients refused by incoming auth: one `WARN` line per
//! refused request at default verbosity, so a wrong or missing token is
//! easy to diagnose, within a budget per minute, so a scanner cannot flood
//! the log. What the budget holds back is counted and named in the next
//! line that is written. The metric and the lifecycle event of each
//! refusal are kept elsewhere and never held back.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync;

/// Refusal lines written per window at most.
const LINES_PER_WINDOW: u32 = 10;

/// The budget's window.
const WINDOW: Duration = Duration::from_secs(60);

/// Where the budget stands.
#[derive(Debug)]
struct Budget {
    window_start: Instant,
    written: u32,
    /// Lines held back since the last one written.
    held_back: u64,
}

/// The budget of refusal lines.
#[derive(Debug)]
pub(super) struct RefusalLog(Mutex<Budget>);

impl RefusalLog {
    pub(super) fn new(now: Instant) -> RefusalLog {
        RefusalLog(Mutex::new(Budget {
            window_start: now,
            written: 0,
            held_back: 0,
        }))
    }

    /// Whether a refusal at `now` may be logged; if so, how many were held
    /// back before it. Runs on the refused request's connection thread,
    /// under this budget's lock only.
    pub(super) fn admit(&self, now: Instant) -> Option<u64> {
        // Counters changed in one step: consistent after a panic elsewhere.
        let mut budget = sync::lock(&self.0);
        if now.saturating_duration_since(budget.window_start) >= WINDOW {
            budget.window_start = now;
            budget.written = 0;
        }
        if budget.written >= LINES_PER_WINDOW {
            budget.held_back += 1;
            return None;
        }
        budget.written += 1;
        Some(std::mem::take(&mut budget.held_back))
    }
}

/// The line for a refused request (`what`: method and path, `peer`: the
/// client's address, `why`: the refusal) after `held_back` unlogged ones.
pub(super) fn line(what: &str, peer: &str, why: &str, held_back: u64) -> String {
    let earlier = match held_back {
        0 => String::new(),
        n => format!(" ({n} earlier refusals not logged)"),
    };
    format!("refused {what} from {peer}: {why}{earlier}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_budgeted_per_window_and_the_rest_counted() {
        let start = Instant::now();
        let log = RefusalLog::new(start);
        for _ in 0..LINES_PER_WINDOW {
            assert_eq!(log.admit(start), Some(0));
        }
        assert_eq!(log.admit(start + Duration::from_secs(1)), None);
        assert_eq!(log.admit(start + Duration::from_secs(2)), None);
        // A new window: the next line names the two held back.
        assert_eq!(log.admit(start + WINDOW), Some(2));
        assert_eq!(log.admit(start + WINDOW), Some(0));
        assert_eq!(
            line("GET /sse", "127.0.0.1:5", "unknown bearer token", 2),
            "refused GET /sse from 127.0.0.1:5: unknown bearer token (2 earlier refusals not logged)"
        );
    }
}
