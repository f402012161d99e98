//! What a backend connection reports to its supervisor ([`BackendEvent`]:
//! notifications, the backend's requests for clients, and the close) and
//! the bounded queue that carries it there.
//!
//! A backend can send notifications faster than they are relayed. Past
//! [`MAX_BACKEND_EVENTS`] the oldest notification or request waiting is
//! dropped (a dropped request is handed back so the connection can answer
//! it with an error), counted, and logged at the first drop and every
//! thousandth after. The close is never dropped, and responses never come
//! here: they are routed on the reader thread by id.
//!
//! This file sits under `connection`: it imports nothing from it.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use log::warn;
use serde_json::Value;

use crate::jsonrpc::RequestId;
use crate::limits::MAX_BACKEND_EVENTS;

/// The call a forwarded request belongs to, as the layer above made it
/// (the router's call: who asked, and where its answer goes). The
/// connection only keeps it with the request, so that a request the
/// backend sends while serving it can be traced back to it (see
/// [`BackendEvent::Request`]) and handed to it.
pub trait CallOrigin: Send + Sync + std::fmt::Debug {
    /// Hands the call's client `method` with `params`, a request the
    /// backend sent (under its id `id`) while serving this call, through
    /// the same connection. `Err` says why the client cannot be asked: the
    /// backend is then answered with an error. Runs on the backend's
    /// supervisor thread, under no lock.
    fn relay(
        self: Arc<Self>,
        id: RequestId,
        method: &str,
        params: Option<Value>,
    ) -> Result<(), NotRelayed>;
}

/// Why a backend's request for a client was not handed to one; the backend
/// gets it as the message of a -32601 error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRelayed(pub String);

impl std::fmt::Display for NotRelayed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotRelayed {}

/// A forwarded request's call, shared by the connection and the router.
pub type Origin = Arc<dyn CallOrigin>;

/// A backend's request for a client (sampling, elicitation, roots).
#[derive(Debug, Clone)]
pub struct BackendRequest {
    /// The backend's id for it.
    pub id: RequestId,
    /// Method name.
    pub method: String,
    /// Params.
    pub params: Option<Value>,
    /// Whose request it serves, by the rule of `Connection::origin_of`.
    pub origin: Option<Origin>,
}

/// What a backend connection reports to whoever supervises it.
#[derive(Debug, Clone)]
pub enum BackendEvent {
    /// The backend sent a notification the connection does not handle itself
    /// (`list_changed`, logs, resource updates, ...).
    Notification {
        /// Method name.
        method: String,
        /// Params.
        params: Option<Value>,
    },
    /// The backend sent a request for the client (sampling, elicitation,
    /// roots); whoever handles it answers with `Connection::respond`.
    Request(BackendRequest),
    /// The connection closed; the cause.
    Closed(String),
}

/// One backend's queue, shared by its senders and its receiver.
#[derive(Debug)]
struct EventQueue {
    name: String,
    backlog: Mutex<EventBacklog>,
    ready: Condvar,
}

/// The events waiting for the supervisor, and the queue's bookkeeping.
#[derive(Debug, Default)]
struct EventBacklog {
    events: VecDeque<BackendEvent>,
    dropped: u64,
    senders: usize,
    receiver_gone: bool,
}

/// The connection's end: never blocks.
#[derive(Debug)]
pub struct EventSender(Arc<EventQueue>);

impl Clone for EventSender {
    fn clone(&self) -> Self {
        self.0.lock().senders += 1;
        EventSender(self.0.clone())
    }
}

/// The supervisor's end.
#[derive(Debug)]
pub struct EventReceiver(Arc<EventQueue>);

/// A queue for backend `name`'s events.
pub fn events(name: &str) -> (EventSender, EventReceiver) {
    let queue = Arc::new(EventQueue {
        name: name.to_owned(),
        backlog: Mutex::new(EventBacklog {
            senders: 1,
            ..EventBacklog::default()
        }),
        ready: Condvar::new(),
    });
    (EventSender(queue.clone()), EventReceiver(queue))
}

impl EventQueue {
    fn lock(&self) -> MutexGuard<'_, EventBacklog> {
        // A deque and counters, each changed in one step.
        self.backlog.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl EventSender {
    /// Queues `event`. When the queue is full, the oldest notification or
    /// request waiting makes room and is returned (so that a request can
    /// be answered with an error); the close always gets in.
    pub fn send(&self, event: BackendEvent) -> Option<BackendEvent> {
        let queue = &self.0;
        let mut state = queue.lock();
        if state.receiver_gone {
            return None;
        }
        let mut dropped = None;
        if state.events.len() >= MAX_BACKEND_EVENTS {
            let oldest = state
                .events
                .iter()
                .position(|e| !matches!(e, BackendEvent::Closed(_)));
            match oldest {
                Some(i) => dropped = state.events.remove(i),
                // Only closes are queued: a new close still gets in.
                None if matches!(event, BackendEvent::Closed(_)) => {}
                None => dropped = Some(event.clone()),
            }
            if dropped.is_some() {
                state.dropped += 1;
                if state.dropped % 1000 == 1 {
                    warn!(
                        "[{}] backend sends faster than its messages are relayed: {} dropped so far (queue of {MAX_BACKEND_EVENTS})",
                        queue.name, state.dropped
                    );
                }
            }
        }
        if state.events.len() < MAX_BACKEND_EVENTS || matches!(event, BackendEvent::Closed(_)) {
            state.events.push_back(event);
            queue.ready.notify_one();
        }
        dropped
    }
}

/// No event came in time.
#[derive(Debug)]
pub struct TimedOut;

impl EventReceiver {
    /// Waits for the next event; `None` only if the queue can never fill again.
    pub fn recv(&self) -> Option<BackendEvent> {
        let queue = &self.0;
        let mut state = queue.lock();
        loop {
            if let Some(event) = state.events.pop_front() {
                return Some(event);
            }
            if state.senders == 0 {
                return None;
            }
            state = queue.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Like [`EventReceiver::recv`], waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<BackendEvent>, TimedOut> {
        let queue = &self.0;
        let deadline = Instant::now() + timeout;
        let mut state = queue.lock();
        loop {
            if let Some(event) = state.events.pop_front() {
                return Ok(Some(event));
            }
            if state.senders == 0 {
                return Ok(None);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TimedOut);
            }
            state = queue
                .ready
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Option<BackendEvent> {
        self.0.lock().events.pop_front()
    }

    /// How many events were dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.0.lock().dropped
    }
}

impl Drop for EventReceiver {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.receiver_gone = true;
        state.events.clear();
    }
}

impl Drop for EventSender {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.senders -= 1;
        if state.senders == 0 {
            // Wake the receiver so it sees that nothing more can come.
            self.0.ready.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn note(n: usize) -> BackendEvent {
        BackendEvent::Notification {
            method: "notifications/message".into(),
            params: Some(json!({"n": n})),
        }
    }

    fn n_of(event: &BackendEvent) -> Option<u64> {
        match event {
            BackendEvent::Notification { params, .. } => params.as_ref()?.get("n")?.as_u64(),
            _ => None,
        }
    }

    #[test]
    fn a_flood_loses_its_oldest_notifications_never_the_close() {
        let (tx, rx) = events("t");
        for n in 0..MAX_BACKEND_EVENTS + 10 {
            let dropped = tx.send(note(n));
            assert_eq!(dropped.is_some(), n >= MAX_BACKEND_EVENTS, "at {n}");
        }
        assert!(tx.send(BackendEvent::Closed("gone".into())).is_some());
        assert_eq!(rx.dropped(), 11);
        // The oldest eleven are gone; the close is last.
        assert_eq!(rx.recv().as_ref().and_then(n_of), Some(11));
        let mut last = None;
        while let Some(e) = rx.try_recv() {
            last = Some(e);
        }
        assert!(matches!(last, Some(BackendEvent::Closed(_))));
    }

    #[test]
    fn recv_ends_when_the_senders_are_gone() {
        let (tx, rx) = events("t");
        tx.send(note(1));
        let waiter = std::thread::spawn(move || {
            let first = rx.recv().is_some();
            (first, rx.recv().is_none())
        });
        drop(tx);
        assert_eq!(waiter.join().unwrap(), (true, true));
    }
}
