//! Interest that many client sessions share in one backend connection
//! (issue 8 §1): resource subscriptions, reference-counted per URI so that
//! one session's `resources/unsubscribe` never ends another's updates, and
//! log levels, where the backends run at the most verbose level any session
//! asked for while each session still gets only what it asked for.
//!
//! Pure bookkeeping: the router asks these tables whether to forward, and
//! forwards. Each method takes its table's lock for one step.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::mcp::LOG_LEVELS;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counters changed in one step: consistent after a panic elsewhere.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How many sessions are subscribed to each resource URI.
#[derive(Debug, Default)]
pub struct Subscribers(Mutex<HashMap<String, usize>>);

impl Subscribers {
    /// Counts one more session subscribed to `uri`; `true` when it is the
    /// first (the backend must be subscribed).
    pub fn add(&self, uri: &str) -> bool {
        let mut map = lock(&self.0);
        let n = map.entry(uri.to_owned()).or_default();
        *n += 1;
        *n == 1
    }

    /// Every URI some session is subscribed to.
    pub fn uris(&self) -> Vec<String> {
        lock(&self.0).keys().cloned().collect()
    }

    /// Counts one session fewer subscribed to `uri`; `true` when it was the
    /// last (the backend must be unsubscribed).
    pub fn remove(&self, uri: &str) -> bool {
        let mut map = lock(&self.0);
        match map.get_mut(uri) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                map.remove(uri);
                true
            }
            None => false,
        }
    }
}

/// How many sessions asked for each log level, and the level the backends
/// were last set to.
#[derive(Debug, Default)]
pub struct Levels(Mutex<LevelCounts>);

#[derive(Debug, Default)]
struct LevelCounts {
    /// Sessions per level, indexed like [`LOG_LEVELS`].
    sessions: [usize; LOG_LEVELS.len()],
    /// What the backends were set to (an index), if anything.
    applied: Option<usize>,
}

fn rank(level: &str) -> Option<usize> {
    LOG_LEVELS.iter().position(|l| *l == level)
}

impl Levels {
    /// The level the backends were last set to, if any.
    pub fn applied(&self) -> Option<&'static str> {
        lock(&self.0).applied.map(|i| LOG_LEVELS[i])
    }

    /// A session's level changes from `old` to `new` (`None`: no level, or
    /// the session ended). Returns the level every backend must be set to
    /// now, when that changed: the most verbose any session wants.
    pub fn change(&self, old: Option<&str>, new: Option<&str>) -> Option<&'static str> {
        let mut counts = lock(&self.0);
        if let Some(old) = old.and_then(rank) {
            counts.sessions[old] = counts.sessions[old].saturating_sub(1);
        }
        if let Some(new) = new.and_then(rank) {
            counts.sessions[new] += 1;
        }
        // With no session left wanting logs the backends keep their level:
        // nobody receives what they send.
        let wanted = counts.sessions.iter().position(|n| *n > 0)?;
        if counts.applied == Some(wanted) {
            return None;
        }
        counts.applied = Some(wanted);
        Some(LOG_LEVELS[wanted])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_are_counted_per_uri() {
        let s = Subscribers::default();
        assert!(s.add("file:///a"));
        assert!(!s.add("file:///a"));
        assert!(s.add("file:///b"));
        assert!(!s.remove("file:///a"));
        assert!(s.remove("file:///a"));
        assert!(!s.remove("file:///a"), "no count below zero");
        assert!(s.add("file:///a"), "first again");
    }

    #[test]
    fn backends_run_at_the_most_verbose_level_wanted() {
        let l = Levels::default();
        assert_eq!(l.change(None, Some("warning")), Some("warning"));
        assert_eq!(l.change(None, Some("debug")), Some("debug"));
        // A third, less verbose session changes nothing.
        assert_eq!(l.change(None, Some("error")), None);
        // The debug session moves to info: info is now the most verbose.
        assert_eq!(l.change(Some("debug"), Some("info")), Some("info"));
        assert_eq!(l.change(Some("info"), None), Some("warning"));
        assert_eq!(l.change(Some("warning"), None), Some("error"));
        assert_eq!(l.change(Some("error"), None), None);
        assert_eq!(l.change(None, Some("bogus")), None);
    }
}
