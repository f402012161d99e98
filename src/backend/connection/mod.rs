//! The transport-independent half of a backend connection: request ids,
//! the pending-request table, timeouts, and dispatch of what the backend sends.
//!
//! Every transport (stdio, SSE, Streamable HTTP) has the same
//! shape: a writer thread that takes serialized messages from a bounded
//! queue, and one reader thread that hands every message it reads to
//! [`Connection::dispatch`]. Requests get a fresh id per hop (a counter per
//! connection), so many client sessions share one backend without their ids
//! colliding; the id goes back to the caller through the reply closure.
//! A timer thread per connection expires requests at their deadline (the
//! caller hears `Timeout`, the backend gets `notifications/cancelled`).
//! When the connection closes, every pending request hears `Closed` at once.
//! Nothing here knows about client sessions.
//!
//! The parts: this file holds the connection, its state, sending and
//! closing; `frame` builds what goes out (the message, the progress token,
//! the 2026-07-28 stamp and headers); `pending` is how a request in flight
//! ends (answer, failure, cancellation, an unreadable answer); `dispatch`
//! sorts what the backend sends; `timer` expires requests at their deadline.

mod backlog;
mod dispatch;
mod frame;
mod pending;
mod timer;

pub use backlog::{Backlog, Direct};
pub use dispatch::RELATED_REQUEST_META;
pub use frame::{CallerStamp, Frame, encode_header_value};

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use log::{debug, warn};
use serde_json::Value;

use super::events::{BackendEvent, EventSender, Origin};
use crate::jsonrpc::{ErrorObject, Message};
use crate::limits::{BACKEND_OUTBOUND_QUEUE, MAX_PENDING_PER_BACKEND, SERVICE_STACK_BYTES};
use crate::mcp;
use crate::queue::TrySendError;
use crate::sync::{lock, spawn_named};
use backlog::Feed;
use timer::timer_loop;

/// Why a forwarded request got no result.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// The backend answered with a JSON-RPC error (passed through unchanged).
    Rpc(ErrorObject),
    /// No answer within the timeout; the backend was told to cancel.
    Timeout(Duration),
    /// The connection is closed or closed while waiting; the cause.
    Closed(String),
    /// The backend is not taking input fast enough (its queue is full).
    Overloaded,
    /// The transport could not deliver the request (HTTP status, connection error).
    Send(String),
    /// [`MAX_PENDING_PER_BACKEND`] requests are already waiting for the backend.
    TooManyPending,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rpc(e) => write!(f, "error {}: {}", e.code, e.message),
            CallError::Timeout(d) => write!(f, "timed out after {:.1}s", d.as_secs_f64()),
            CallError::Closed(cause) => write!(f, "disconnected ({cause})"),
            CallError::Overloaded => {
                f.write_str("not accepting requests (its input queue is full)")
            }
            CallError::Send(why) => write!(f, "did not take the request ({why})"),
            CallError::TooManyPending => write!(
                f,
                "has {MAX_PENDING_PER_BACKEND} requests in flight already; try again later"
            ),
        }
    }
}

impl std::error::Error for CallError {}

/// Receives the outcome of a request; called exactly once (or never, when
/// the request is cancelled).
pub type ReplyFn = Box<dyn FnOnce(Result<Value, CallError>) + Send>;

/// Receives `notifications/progress` params for a request, with the
/// gateway's token already replaced by the caller's in the closure.
pub type ProgressFn = Box<dyn Fn(Value) + Send>;

/// Receives the params of every `notifications/message` the backend sends
/// while a request is in flight, on the reader thread, in order with the
/// request's answer (a 2026-07-28 request hears its backend's logs on its
/// own stream; a 2025 session gets them through the supervisor).
pub type LogFn = Box<dyn Fn(&Value) + Send>;

/// A request to forward to the backend, with what comes back for it.
pub struct Outgoing {
    /// Method name.
    pub method: String,
    /// Params (`_meta.progressToken` is rewritten when `progress` is set).
    pub params: Option<Value>,
    /// How long the backend has to answer.
    pub timeout: Duration,
    /// Hears the outcome.
    pub reply: ReplyFn,
    /// Hears progress notifications for the request.
    pub progress: Option<ProgressFn>,
    /// Hears the backend's log messages while the request is in flight.
    pub log: Option<LogFn>,
    /// Who asked.
    pub origin: Option<Origin>,
    /// What the caller adds for a 2026-07-28 backend; ignored for others.
    pub stamp: CallerStamp,
}

struct Pending {
    method: String,
    deadline: Instant,
    timeout: Duration,
    reply: ReplyFn,
    progress: Option<ProgressFn>,
    log: Option<LogFn>,
    origin: Option<Origin>,
}

/// A connection's mutable half, under one lock: the requests in flight
/// and whether the connection closed.
struct ConnectionState {
    pending: HashMap<u64, Pending>,
    /// The origin of the last request sent with one: who a backend request
    /// is for when none is in flight. One per connection, gone with it.
    last_origin: Option<Origin>,
    /// Why the connection closed, once it has.
    closed: Option<String>,
    /// When the timer thread looks at the deadlines next (`None`: only
    /// when woken). A request due before it wakes the timer; the others
    /// (nearly all: calls share their timeout) do not, so a call costs the
    /// timer nothing, and the check is O(1).
    timer_at: Option<Instant>,
}

/// One live connection to a backend.
pub struct Connection {
    name: String,
    next_id: AtomicU64,
    state: Mutex<ConnectionState>,
    /// The way out (directly or through the writer queue), under a lock
    /// of its own: a frame written directly to the transport is written
    /// outside the state lock, so the reader never waits for that write
    /// to record the answer. Dropped on close so the writer thread ends.
    /// Never taken while the state lock is held.
    feed: Mutex<Option<Feed>>,
    /// Wakes the timer when the earliest deadline changes or on close.
    timer: Condvar,
    events: EventSender,
    /// The backend speaks 2026-07-28: every request is stateless, with its
    /// `_meta` and routing headers.
    modern: AtomicBool,
    /// Unreadable messages that answered none of our requests, for the
    /// log's rate limit ([`Connection::unreadable`]).
    unmatched: AtomicU64,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("name", &self.name)
            .finish()
    }
}

impl Connection {
    /// A connection for backend `name`. The returned backlog feeds the
    /// transport's writer thread; `events` receives notifications and the
    /// close. Starts the timer thread.
    pub fn new(name: &str, events: EventSender) -> std::io::Result<(Arc<Connection>, Backlog)> {
        let (tx, rx) = backlog::backlog(BACKEND_OUTBOUND_QUEUE);
        let conn = Arc::new(Connection {
            name: name.to_owned(),
            modern: AtomicBool::new(false),
            unmatched: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            state: Mutex::new(ConnectionState {
                pending: HashMap::new(),
                last_origin: None,
                closed: None,
                timer_at: None,
            }),
            feed: Mutex::new(Some(tx)),
            timer: Condvar::new(),
            events,
        });
        let weak = Arc::downgrade(&conn);
        spawn_named(
            format!("argus-timer-{name}"),
            SERVICE_STACK_BYTES,
            move || timer_loop(&weak),
        )?;
        Ok((conn, rx))
    }

    /// The backend's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// From now on, a frame with nothing queued ahead of it goes to
    /// `direct` on the sender's thread instead of through the writer.
    pub fn set_direct(&self, direct: Box<dyn Direct>) {
        if let Some(feed) = &mut *lock(&self.feed) {
            feed.set_direct(direct);
        }
    }

    fn lock(&self) -> MutexGuard<'_, ConnectionState> {
        // The state is a table of independent entries; a panic elsewhere
        // cannot leave it half-updated.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why the connection closed, if it has.
    pub fn closed(&self) -> Option<String> {
        self.lock().closed.clone()
    }

    /// Sends a request; `reply` hears the outcome exactly once unless the
    /// request is cancelled. Returns the backend-side id. If `params` carries
    /// `_meta.progressToken` and `progress` is given, the token is replaced by
    /// the backend-side id and progress notifications go to `progress`.
    pub fn send_request(
        &self,
        method: &str,
        params: Option<Value>,
        timeout: Duration,
        reply: ReplyFn,
        progress: Option<ProgressFn>,
    ) -> Option<u64> {
        let id = self.reserve_id();
        let request = Outgoing {
            method: method.to_owned(),
            params,
            timeout,
            reply,
            progress,
            log: None,
            origin: None,
            stamp: CallerStamp::default(),
        };
        self.send_request_as(id, request).then_some(id)
    }

    /// A fresh backend-side request id, for callers that must record it
    /// before the request goes out (the reply may arrive at once).
    pub fn reserve_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Like [`Connection::send_request`] with an id from [`Connection::reserve_id`].
    /// Returns whether the request was sent (if not, `reply` has already heard why).
    /// More than [`MAX_PENDING_PER_BACKEND`] requests waiting: refused at once.
    pub fn send_request_as(&self, id: u64, request: Outgoing) -> bool {
        let Outgoing {
            method,
            params,
            timeout,
            reply,
            progress,
            log,
            origin,
            stamp,
        } = request;
        let (frame, progress) = self.request_frame(id, &method, params, progress, stamp);
        let mut state = self.lock();
        if let Some(cause) = &state.closed {
            let cause = cause.clone();
            drop(state);
            reply(Err(CallError::Closed(cause)));
            return false;
        }
        if state.pending.len() >= MAX_PENDING_PER_BACKEND {
            drop(state);
            warn!(
                "[{}] {MAX_PENDING_PER_BACKEND} requests in flight; refusing {method}",
                self.name
            );
            reply(Err(CallError::TooManyPending));
            return false;
        }
        // Pending before it goes out: the answer may come at once.
        let deadline = Instant::now() + timeout;
        let earliest = state.timer_at.is_none_or(|t| deadline < t);
        if earliest {
            state.timer_at = Some(deadline);
        }
        if origin.is_some() {
            state.last_origin.clone_from(&origin);
        }
        debug!("[{}] -> request {id} {method}", self.name);
        state.pending.insert(
            id,
            Pending {
                method,
                deadline,
                timeout,
                reply,
                progress,
                log,
                origin,
            },
        );
        drop(state);
        if earliest {
            self.timer.notify_one();
        }
        let Err(refused) = self.send_frame_or_why(frame) else {
            return true;
        };
        // Whoever took it from the table (a close) has answered it.
        let Some(pending) = self.lock().pending.remove(&id) else {
            return false;
        };
        let outcome = match refused {
            TrySendError::Full(_) => {
                warn!(
                    "[{}] input queue full; refusing {}",
                    self.name, pending.method
                );
                CallError::Overloaded
            }
            TrySendError::Disconnected(_) => {
                CallError::Closed(self.closed().unwrap_or_else(|| "writer stopped".into()))
            }
        };
        (pending.reply)(Err(outcome));
        false
    }

    /// Sends a request and waits for its outcome.
    pub fn request(
        &self,
        method: &str,
        params: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        let (tx, rx) = channel();
        self.send_request(
            method,
            params,
            timeout,
            Box::new(move |outcome| {
                let _ = tx.send(outcome);
            }),
            None,
        );
        // The timer answers at the deadline; the margin only guards against a
        // timer that could not run.
        rx.recv_timeout(timeout + Duration::from_secs(5))
            .unwrap_or(Err(CallError::Timeout(timeout)))
    }

    /// Marks the backend as speaking 2026-07-28 (or not, after a probe).
    pub fn set_modern(&self, modern: bool) {
        self.modern.store(modern, Ordering::SeqCst);
    }

    /// Whether the backend speaks 2026-07-28.
    pub fn is_modern(&self) -> bool {
        self.modern.load(Ordering::SeqCst)
    }

    /// Sends a notification. Returns `false` if it could not be queued.
    pub fn notify(&self, method: &str, params: Option<Value>) -> bool {
        let message = Message::Notification {
            method: method.to_owned(),
            params,
        };
        let headers = if self.is_modern() {
            vec![(
                mcp::header::PROTOCOL_VERSION.to_owned(),
                mcp::MODERN_VERSION.to_owned(),
            )]
        } else {
            Vec::new()
        };
        self.send_frame(Frame {
            bytes: message.to_json_text().into_bytes(),
            method: Some(method.to_owned()),
            id: None,
            headers,
        })
    }

    /// Answers a request the backend sent.
    pub fn respond(&self, message: &Message) -> bool {
        self.send_frame(Frame {
            bytes: message.to_json_text().into_bytes(),
            method: None,
            id: None,
            headers: Vec::new(),
        })
    }

    fn send_frame(&self, frame: Frame) -> bool {
        self.send_frame_or_why(frame).is_ok()
    }

    /// Sends `frame` directly or through the writer queue, under the feed's
    /// lock (senders take turns, so their frames keep their order).
    fn send_frame_or_why(&self, frame: Frame) -> Result<(), TrySendError<Frame>> {
        match &*lock(&self.feed) {
            Some(feed) => feed.send(frame),
            None => Err(TrySendError::Disconnected(frame)),
        }
    }

    /// Closes the connection: the writer stops, every pending request hears
    /// `Closed(cause)`, and the supervisor gets `BackendEvent::Closed`. Idempotent.
    pub fn close(&self, cause: &str) {
        let pending = {
            let mut state = self.lock();
            if state.closed.is_some() {
                return;
            }
            state.closed = Some(cause.to_owned());
            std::mem::take(&mut state.pending)
        };
        // The writer ends once it has what was queued.
        lock(&self.feed).take();
        self.timer.notify_one();
        for (_, p) in pending {
            (p.reply)(Err(CallError::Closed(cause.to_owned())));
        }
        self.event(BackendEvent::Closed(cause.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    pub(super) fn conn() -> (
        Arc<Connection>,
        Backlog,
        super::super::events::EventReceiver,
    ) {
        let (etx, erx) = super::super::events::events("t");
        let (c, rx) = Connection::new("t", etx).unwrap();
        (c, rx, erx)
    }

    pub(super) fn sent(rx: &Backlog) -> Value {
        serde_json::from_slice(&rx.recv_timeout(Duration::from_secs(5)).unwrap().bytes).unwrap()
    }

    #[test]
    fn close_fails_everything_pending_and_later() {
        let (c, _rx, events) = conn();
        let (tx, results) = channel();
        c.send_request(
            "a",
            None,
            Duration::from_secs(60),
            Box::new(move |r| tx.send(r).unwrap()),
            None,
        );
        c.close("process exited with status 1");
        assert_eq!(
            results.recv().unwrap(),
            Err(CallError::Closed("process exited with status 1".into()))
        );
        assert!(matches!(
            events.recv().unwrap(),
            BackendEvent::Closed(cause) if cause == "process exited with status 1"
        ));
        assert!(matches!(
            c.request("b", None, Duration::from_secs(1)),
            Err(CallError::Closed(_))
        ));
        c.close("again");
        assert_eq!(c.closed().as_deref(), Some("process exited with status 1"));
    }

    #[test]
    fn too_many_pending_requests_are_refused_at_once() {
        // The writer queue is smaller than the pending cap: drain it.
        let (etx, _erx) = super::super::events::events("big");
        let (big, out) = Connection::new("big", etx).unwrap();
        let drain = thread::spawn(move || {
            while out.recv().is_ok() {
                out.written();
            }
        });
        // A send may find the writer queue full for a moment (the drain
        // lags under load): those are refused, not pending; send on.
        for _ in 0..20 * MAX_PENDING_PER_BACKEND {
            if big.in_flight() == MAX_PENDING_PER_BACKEND {
                break;
            }
            big.send_request("x", None, Duration::from_secs(60), Box::new(|_| {}), None);
        }
        assert_eq!(big.in_flight(), MAX_PENDING_PER_BACKEND);
        let r = big.request("one-more", None, Duration::from_secs(60));
        assert_eq!(r, Err(CallError::TooManyPending));
        assert!(CallError::TooManyPending.to_string().contains("in flight"));
        big.close("test over");
        drain.join().unwrap();
    }
}
