//! Lifecycle events for operators: backend up, down, retrying and failed,
//! catalog changes, reloads, config errors, auth failures, sessions dropped as
//! slow. A bounded ring that `GET /manage/v1/events` reads and that pushes each
//! new event to the `events/stream` subscribers.
//!
//! Recording never blocks: the ring drops its oldest entry when full, and a
//! subscriber whose queue is full misses the event (counted in the log), as the
//! original Argus does.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use serde_json::{Map, Value, json};

use crate::audit::now_rfc3339;
use crate::queue::{Receiver, Sender, TrySendError, bounded};
use crate::sync;

/// Events the ring keeps.
pub const RING_CAPACITY: usize = 500;

/// Events a subscriber's queue holds before it misses some.
pub const SUBSCRIBER_QUEUE: usize = 256;

/// Open `events/stream` subscribers at most (each holds a connection).
pub const MAX_SUBSCRIBERS: usize = 64;

/// How much an event matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Normal operation.
    Info,
    /// Degraded but working.
    Warning,
    /// Something failed.
    Error,
}

impl Severity {
    /// The wire word.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One recorded event, serialized once when recorded.
#[derive(Debug, Clone)]
pub struct OpsEvent {
    /// `evt-<12 hex>`.
    pub id: String,
    /// RFC 3339 time.
    pub timestamp: String,
    /// What kind of event (`backend_connected`, `config_reloaded`, ...).
    pub stage: String,
    /// Its severity.
    pub severity: Severity,
    /// The event as the API shows it.
    pub json: Value,
}

/// The ring and its subscribers.
#[derive(Debug, Default)]
pub struct OpsEvents {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    ring: VecDeque<OpsEvent>,
    next: u64,
    /// Each subscriber's queue, and a token that dies with its [`Subscription`].
    subscribers: Vec<(Sender<OpsEvent>, Weak<()>)>,
    closed: bool,
}

/// One `events/stream` subscriber's queue; dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    /// Every event recorded since subscribing (unless it fell behind).
    pub events: Receiver<OpsEvent>,
    _alive: Arc<()>,
}

impl OpsEvents {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update is a single push or pop: a panic cannot tear it.
        sync::lock(&self.inner)
    }

    /// Records an event and pushes it to the subscribers.
    pub fn record(
        &self,
        stage: &str,
        severity: Severity,
        backend: Option<&str>,
        message: impl Into<String>,
        details: Option<Map<String, Value>>,
    ) {
        let mut inner = self.lock();
        inner.next += 1;
        let id = format!("evt-{:012x}", inner.next);
        let timestamp = now_rfc3339();
        let json = json!({
            "id": id,
            "timestamp": timestamp,
            "stage": stage,
            "message": message.into(),
            "severity": severity.as_str(),
            "backend": backend,
            "details": details.map(Value::Object),
        });
        let event = OpsEvent {
            id,
            timestamp,
            stage: stage.to_owned(),
            severity,
            json,
        };
        if inner.ring.len() == RING_CAPACITY {
            inner.ring.pop_front();
        }
        inner.ring.push_back(event.clone());
        inner
            .subscribers
            .retain(|(tx, _)| match tx.try_send(event.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    log::debug!(
                        "events/stream subscriber is behind; event {} dropped",
                        event.id
                    );
                    true
                }
                Err(TrySendError::Disconnected(_)) => false,
            });
    }

    /// The last `limit` events, oldest first, after `since` (an RFC 3339
    /// time, compared as text like the original) and of `severity`.
    pub fn list(&self, limit: usize, since: Option<&str>, severity: Option<&str>) -> Vec<Value> {
        let inner = self.lock();
        let matching: Vec<&OpsEvent> = inner
            .ring
            .iter()
            .filter(|e| since.is_none_or(|s| e.timestamp.as_str() > s))
            .filter(|e| severity.is_none_or(|s| e.severity.as_str() == s))
            .collect();
        let skip = matching.len().saturating_sub(limit);
        matching[skip..].iter().map(|e| e.json.clone()).collect()
    }

    /// A queue of every event from now on; `None` when [`MAX_SUBSCRIBERS`]
    /// are open or the ring is closed.
    pub fn subscribe(&self) -> Option<Subscription> {
        let mut inner = self.lock();
        inner
            .subscribers
            .retain(|(_, alive)| alive.strong_count() > 0);
        if inner.closed || inner.subscribers.len() >= MAX_SUBSCRIBERS {
            return None;
        }
        let (tx, events) = bounded(SUBSCRIBER_QUEUE);
        let alive = Arc::new(());
        inner.subscribers.push((tx, Arc::downgrade(&alive)));
        Some(Subscription {
            events,
            _alive: alive,
        })
    }

    /// Ends every subscription (shutdown): their queues disconnect.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.subscribers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_and_filters() {
        let events = OpsEvents::default();
        for i in 0..RING_CAPACITY + 10 {
            let severity = if i % 2 == 0 {
                Severity::Info
            } else {
                Severity::Error
            };
            events.record("test", severity, Some("b"), format!("n{i}"), None);
        }
        let all = events.list(10_000, None, None);
        assert_eq!(all.len(), RING_CAPACITY);
        assert_eq!(all[0]["message"], "n10");
        assert_eq!(
            all.last().unwrap()["message"],
            format!("n{}", RING_CAPACITY + 9)
        );
        let last = events.list(3, None, Some("error"));
        assert_eq!(last.len(), 3);
        assert!(last.iter().all(|e| e["severity"] == "error"));
        assert!(last[2]["id"].as_str().unwrap().starts_with("evt-"));
        assert_eq!(last[2]["id"].as_str().unwrap().len(), 16);
    }

    #[test]
    fn subscribers_hear_new_events_and_end_on_close() {
        let events = OpsEvents::default();
        let sub = events.subscribe().unwrap();
        let rx = &sub.events;
        events.record("backend_connected", Severity::Info, Some("a"), "up", None);
        let got = rx.try_recv().unwrap();
        assert_eq!(got.stage, "backend_connected");
        // A subscriber that does not read misses events but stays.
        for _ in 0..SUBSCRIBER_QUEUE + 5 {
            events.record("x", Severity::Info, None, "m", None);
        }
        assert_eq!(
            std::iter::from_fn(|| rx.try_recv().ok()).count(),
            SUBSCRIBER_QUEUE
        );
        events.close();
        assert!(rx.recv().is_err());
        assert!(events.subscribe().is_none());
        let more = OpsEvents::default();
        let held: Vec<Subscription> = (0..MAX_SUBSCRIBERS)
            .filter_map(|_| more.subscribe())
            .collect();
        assert!(more.subscribe().is_none(), "capped");
        drop(held);
        assert!(
            more.subscribe().is_some(),
            "a dropped subscription frees its place"
        );
    }
}
