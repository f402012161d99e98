//! Interest that many client sessions share in one backend connection:
//! resource subscriptions, reference-counted per backend and URI so that
//! one session's `resources/unsubscribe` never ends another's updates, and
//! log levels, where each backend runs at the most verbose level that any
//! session able to see it asked for, while each session still gets only
//! what it asked for.
//!
//! Pure bookkeeping: the router asks these tables whether to forward, and
//! forwards. Each method takes its table's lock for one step.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::mcp::{LOG_LEVELS, log_rank};
use crate::sync::lock;

/// How many sessions and listen streams are subscribed to each resource
/// URI of each backend. Keyed by backend too: two virtual servers may
/// route one URI to two backends, and each backend hears only the
/// interest of the sessions that can see its resource.
#[derive(Debug, Default)]
pub struct Subscribers(Mutex<HashMap<(String, String), usize>>);

impl Subscribers {
    /// Counts one more subscriber to `uri` of `backend`; `true` when it is
    /// the first (the backend must be subscribed).
    pub fn add(&self, backend: &str, uri: &str) -> bool {
        let mut map = lock(&self.0);
        let n = map.entry((backend.to_owned(), uri.to_owned())).or_default();
        *n += 1;
        *n == 1
    }

    /// Every URI of `backend` that something is subscribed to.
    pub fn uris_of(&self, backend: &str) -> Vec<String> {
        lock(&self.0)
            .keys()
            .filter(|(b, _)| b == backend)
            .map(|(_, uri)| uri.clone())
            .collect()
    }

    /// Counts one subscriber fewer to `uri` of `backend`; `true` when it
    /// was the last (the backend must be unsubscribed).
    pub fn remove(&self, backend: &str, uri: &str) -> bool {
        let mut map = lock(&self.0);
        let key = (backend.to_owned(), uri.to_owned());
        match map.get_mut(&key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                map.remove(&key);
                true
            }
            None => false,
        }
    }
}

/// How many sessions asked for each log level, per backend, and the level
/// each backend was last set to. Per backend: a session counts only at the
/// backends of its virtual server, so a group's session never changes how
/// verbose another group's backends are.
#[derive(Debug, Default)]
pub struct Levels(Mutex<HashMap<String, LevelCounts>>);

#[derive(Debug, Default)]
struct LevelCounts {
    /// Sessions per level, indexed like [`LOG_LEVELS`].
    sessions: [usize; LOG_LEVELS.len()],
    /// What the backend was set to (an index), if anything.
    applied: Option<usize>,
}

impl Levels {
    /// The level `backend` was last set to, if any.
    pub fn applied(&self, backend: &str) -> Option<&'static str> {
        lock(&self.0)
            .get(backend)
            .and_then(|c| c.applied)
            .map(|i| LOG_LEVELS[i])
    }

    /// A session's level at `backend` changes from `old` to `new` (`None`:
    /// no level, or the session ended or no longer sees the backend).
    /// Returns the level the backend must be set to now, when that
    /// changed: the most verbose any of its sessions wants.
    pub fn change(
        &self,
        backend: &str,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Option<&'static str> {
        let mut all = lock(&self.0);
        let counts = all.entry(backend.to_owned()).or_default();
        if let Some(old) = old.and_then(log_rank) {
            counts.sessions[old] = counts.sessions[old].saturating_sub(1);
        }
        if let Some(new) = new.and_then(log_rank) {
            counts.sessions[new] += 1;
        }
        // With no session left wanting logs the backend keeps its level:
        // nobody receives what it sends.
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
        assert!(s.add("x", "file:///a"));
        assert!(!s.add("x", "file:///a"));
        assert!(s.add("x", "file:///b"));
        assert!(!s.remove("x", "file:///a"));
        assert!(s.remove("x", "file:///a"));
        assert!(!s.remove("x", "file:///a"), "no count below zero");
        assert!(s.add("x", "file:///a"), "first again");
        // Another backend's count of the same URI is its own.
        assert!(s.add("y", "file:///b"), "first at y");
        assert!(s.remove("x", "file:///b"), "last at x");
        assert_eq!(s.uris_of("y"), ["file:///b"]);
    }

    #[test]
    fn backends_run_at_the_most_verbose_level_wanted() {
        let l = Levels::default();
        let b = "b";
        assert_eq!(l.change(b, None, Some("warning")), Some("warning"));
        assert_eq!(l.change(b, None, Some("debug")), Some("debug"));
        // A third, less verbose session changes nothing.
        assert_eq!(l.change(b, None, Some("error")), None);
        // The debug session moves to info: info is now the most verbose.
        assert_eq!(l.change(b, Some("debug"), Some("info")), Some("info"));
        assert_eq!(l.change(b, Some("info"), None), Some("warning"));
        assert_eq!(l.change(b, Some("warning"), None), Some("error"));
        assert_eq!(l.change(b, Some("error"), None), None);
        assert_eq!(l.change(b, None, Some("bogus")), None);
        // Another backend's sessions are counted apart.
        assert_eq!(l.change("c", None, Some("debug")), Some("debug"));
        assert_eq!(l.applied(b), Some("error"));
        assert_eq!(l.applied("c"), Some("debug"));
    }
}
