//! The transport-independent half of a backend connection: request ids,
//! the pending-request table, timeouts, and dispatch of what the backend sends.
//!
//! Every transport (stdio now; SSE and Streamable HTTP later) has the same
//! shape: a writer thread that takes serialized messages from a bounded
//! queue, and one reader thread that hands every message it reads to
//! [`Connection::dispatch`]. Requests get a fresh id per hop (a counter per
//! connection), so many client sessions share one backend without their ids
//! colliding; the id goes back to the caller through the reply closure.
//! A timer thread per connection expires requests at their deadline (the
//! caller hears `Timeout`, the backend gets `notifications/cancelled`).
//! When the connection closes, every pending request hears `Closed` at once.
//! Nothing here knows about client sessions.

use std::collections::HashMap;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::channel;

use super::events::{BackendEvent, EventSender, Origin};
use super::salvage::Unreadable;
use crate::queue::{self, Receiver, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use log::{debug, error, warn};
use serde_json::{Value, json};

use crate::jsonrpc::{ErrorObject, Message, RequestId};
use crate::limits::{BACKEND_OUTBOUND_QUEUE, MAX_PENDING_PER_BACKEND, SERVICE_STACK_BYTES};
use crate::mcp;
use crate::sync::spawn_named;

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

/// One message for a transport's writer: the serialized JSON-RPC, and what
/// it is, so that no writer parses it again to find out.
#[derive(Debug)]
pub struct Frame {
    /// The message, one line of JSON.
    pub bytes: Vec<u8>,
    /// The method of a request or notification; `None` for a response.
    pub method: Option<String>,
    /// Our id of a request.
    pub id: Option<u64>,
    /// HTTP headers a 2026-07-28 backend needs with it (`MCP-Protocol-Version`,
    /// `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`); empty otherwise.
    pub headers: Vec<(String, String)>,
}

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
    /// `Mcp-Param-*` headers for a 2026-07-28 backend (from the tool's
    /// `x-mcp-header` arguments); ignored for others.
    pub headers: Vec<(String, String)>,
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

/// A connection's mutable half, under one lock: the requests in flight,
/// the writer queue and whether the connection closed.
struct ConnectionState {
    pending: HashMap<u64, Pending>,
    /// The origin of the last request sent with one: who a backend request
    /// is for when none is in flight. One per connection, gone with it.
    last_origin: Option<Origin>,
    /// Why the connection closed, once it has.
    closed: Option<String>,
    /// The writer queue; dropped on close so the writer thread ends.
    tx: Option<queue::Sender<Frame>>,
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
    /// A connection for backend `name`. The returned receiver feeds the
    /// transport's writer thread; `events` receives notifications and the
    /// close. Starts the timer thread.
    pub fn new(
        name: &str,
        events: EventSender,
    ) -> std::io::Result<(Arc<Connection>, Receiver<Frame>)> {
        let (tx, rx) = queue::bounded(BACKEND_OUTBOUND_QUEUE);
        let conn = Arc::new(Connection {
            name: name.to_owned(),
            modern: AtomicBool::new(false),
            unmatched: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            state: Mutex::new(ConnectionState {
                pending: HashMap::new(),
                last_origin: None,
                closed: None,
                tx: Some(tx),
                timer_at: None,
            }),
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
            headers: Vec::new(),
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
            headers,
        } = request;
        let (frame, progress) = self.request_frame(id, &method, params, progress, headers);
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
        let deadline = Instant::now() + timeout;
        let sent = match &state.tx {
            Some(tx) => tx.try_send(frame),
            None => Err(TrySendError::Disconnected(frame)),
        };
        match sent {
            Ok(()) => {
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
                true
            }
            Err(TrySendError::Full(_)) => {
                drop(state);
                warn!("[{}] input queue full; refusing {method}", self.name);
                reply(Err(CallError::Overloaded));
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                let cause = state
                    .closed
                    .clone()
                    .unwrap_or_else(|| "writer stopped".into());
                drop(state);
                reply(Err(CallError::Closed(cause)));
                false
            }
        }
    }

    /// The frame of request `id`: stamped for a 2026-07-28 backend (with
    /// `extra_headers` after its routing headers), its progress token
    /// replaced by `id` when `progress` is to hear it. Returns `progress`
    /// only when the params carry a token.
    fn request_frame(
        &self,
        id: u64,
        method: &str,
        mut params: Option<Value>,
        progress: Option<ProgressFn>,
        extra_headers: Vec<(String, String)>,
    ) -> (Frame, Option<ProgressFn>) {
        let headers = if self.is_modern() {
            modernize(method, &mut params, extra_headers)
        } else {
            Vec::new()
        };
        let progress = match (progress, params.as_mut().and_then(progress_token_slot)) {
            (Some(f), Some(slot)) => {
                *slot = Value::from(id);
                Some(f)
            }
            _ => None,
        };
        let message = Message::Request {
            id: RequestId::Number(id as i64),
            method: method.to_owned(),
            params,
        };
        let frame = Frame {
            bytes: message.to_json_text().into_bytes(),
            method: Some(method.to_owned()),
            id: Some(id),
            headers,
        };
        (frame, progress)
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

    /// A 2026-07-28 request that a transport sends and reads itself, outside
    /// the pending table (a `subscriptions/listen` stream): a fresh id, the
    /// stamped `_meta` and the routing headers.
    pub fn stateless_frame(&self, method: &str, params: Value) -> Frame {
        let id = self.reserve_id();
        let mut params = Some(params);
        let headers = modernize(method, &mut params, Vec::new());
        let message = Message::Request {
            id: RequestId::Number(id as i64),
            method: method.to_owned(),
            params,
        };
        Frame {
            bytes: message.to_json_text().into_bytes(),
            method: Some(method.to_owned()),
            id: Some(id),
            headers,
        }
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
        let state = self.lock();
        match &state.tx {
            Some(tx) => tx.try_send(frame).is_ok(),
            None => false,
        }
    }

    /// Cancels a pending request: no reply goes to its caller, and the
    /// backend gets `notifications/cancelled`.
    pub fn cancel(&self, id: u64, reason: &str) {
        let removed = self.lock().pending.remove(&id);
        if let Some(pending) = removed {
            debug!(
                "[{}] cancel request {id} {} ({reason})",
                self.name, pending.method
            );
            self.notify(
                mcp::method::CANCELLED,
                Some(json!({"requestId": id, "reason": reason})),
            );
        }
    }

    /// Fails a pending request the transport could not deliver.
    pub fn fail(&self, id: u64, error: CallError) {
        self.fail_pending(id, error);
    }

    /// Fails request `id` if it is pending; whether it was.
    fn fail_pending(&self, id: u64, error: CallError) -> bool {
        let pending = self.lock().pending.remove(&id);
        let Some(p) = pending else { return false };
        let why = error.to_string();
        warn!(
            "[{}] request {id} {} failed: {}",
            self.name,
            p.method,
            crate::redact::text(&why)
        );
        (p.reply)(Err(error));
        true
    }

    /// Handles a message the transport read but could not parse. Runs on
    /// the thread that read it (the transport's reader, or the worker of a
    /// Streamable HTTP POST), under no lock. It is counted (metric
    /// `argus_backend_unreadable_messages_total`); if it answers a pending
    /// request (its salvaged `id`; failing that, `related`: the request on
    /// whose answer stream or in whose POST response it came, unless it is
    /// a request itself) that request fails at once with an error naming
    /// this backend and the fault, instead of waiting for its timeout.
    /// Otherwise it is handed back for the transport to log in its own
    /// words, with the count of such messages so far: the first
    /// [`UNMATCHED_LOGGED`], then every thousandth (`None` in between).
    pub fn unreadable(&self, bad: Unreadable, related: Option<u64>) -> Option<(Unreadable, u64)> {
        crate::metrics::count_unreadable(&self.name, bad.fault.label());
        let target = match &bad.id {
            _ if bad.request => None,
            Some(id) => backend_id(id),
            None => related,
        };
        if let Some(id) = target
            && self.fail_pending(id, CallError::Rpc(bad.error(&self.name)))
        {
            return None;
        }
        let n = self.unmatched.fetch_add(1, Ordering::Relaxed) + 1;
        (n <= UNMATCHED_LOGGED || n.is_multiple_of(1000)).then_some((bad, n))
    }

    /// Handles one message read from the backend. Runs on the transport's
    /// reader thread; a panic in what it calls (a reply closure, say) is
    /// caught and logged, so one bad message never ends the reader.
    pub fn dispatch(&self, value: Value) {
        self.dispatch_related(value, None);
    }

    /// Like [`Connection::dispatch`], for a message that arrived in the
    /// answer stream of our request `related` (Streamable HTTP): a request
    /// among them is for whoever asked that one.
    pub fn dispatch_related(&self, value: Value, related: Option<u64>) {
        let caught = panic::catch_unwind(AssertUnwindSafe(|| self.dispatch_inner(value, related)));
        if caught.is_err() {
            error!(
                "[{}] handling a backend message panicked; message dropped",
                self.name
            );
        }
    }

    fn dispatch_inner(&self, value: Value, related: Option<u64>) {
        let message = match Message::parse(value) {
            Ok(m) => m,
            Err(invalid) => {
                warn!(
                    "[{}] invalid JSON-RPC message ignored: {}",
                    self.name, invalid.reason
                );
                return;
            }
        };
        match message {
            Message::Response { id, result } => self.complete(&id, Ok(result)),
            Message::Error {
                id: Some(id),
                error,
            } => self.complete(&id, Err(CallError::Rpc(error))),
            Message::Error { id: None, error } => warn!(
                "[{}] error without id: {} {}",
                self.name, error.code, error.message
            ),
            Message::Notification { method, params } => {
                if method == mcp::method::PROGRESS && self.progress(params.as_ref()) {
                    return;
                }
                if method == mcp::method::SUBSCRIPTIONS_ACKNOWLEDGED {
                    // Our own `subscriptions/listen` stream is open.
                    debug!(
                        "[{}] listening: {}",
                        self.name,
                        params
                            .as_ref()
                            .map_or(Value::Null, |p| p["notifications"].clone())
                    );
                    return;
                }
                if method == mcp::method::MESSAGE
                    && let Some(p) = &params
                {
                    for hook in self.lock().pending.values().filter_map(|p| p.log.as_ref()) {
                        hook(p);
                    }
                }
                self.event(BackendEvent::Notification { method, params });
            }
            Message::Request { id, method, .. } if method == mcp::method::PING => {
                // Liveness checks are ours to answer (MCP basic/utilities/ping).
                self.respond(&Message::response(id, json!({})));
            }
            Message::Request { id, method, params } => {
                debug!("[{}] <- request {id} {method} for a client", self.name);
                let origin = self.origin_of(params.as_ref(), related);
                self.event(BackendEvent::Request {
                    id,
                    method,
                    params,
                    origin,
                });
            }
        }
    }

    /// Whose request a backend's request serves (DESIGN.md "Routing
    /// backend requests"), first match wins:
    /// 1. the request its `_meta` names (our rewritten `progressToken`, or
    ///    `io.modelcontextprotocol/related-request-id`), if still in flight;
    /// 2. the request on whose answer stream it came (`related`), if in flight;
    /// 3. the most recent request in flight that has an origin;
    /// 4. the origin of the last request sent.
    fn origin_of(&self, params: Option<&Value>, related: Option<u64>) -> Option<Origin> {
        let meta = params.and_then(|p| p.get("_meta"));
        let named = ["progressToken", RELATED_REQUEST_META]
            .iter()
            .filter_map(|k| meta.and_then(|m| m.get(*k)))
            .filter_map(RequestId::from_value)
            .filter_map(|id| backend_id(&id));
        let state = self.lock();
        let in_flight = |id: u64| state.pending.get(&id).and_then(|p| p.origin.clone());
        named
            .chain(related)
            .find_map(in_flight)
            .or_else(|| {
                state
                    .pending
                    .iter()
                    .filter(|(_, p)| p.origin.is_some())
                    .max_by_key(|(id, _)| **id)
                    .and_then(|(_, p)| p.origin.clone())
            })
            .or_else(|| state.last_origin.clone())
    }

    fn complete(&self, id: &RequestId, outcome: Result<Value, CallError>) {
        let Some(key) = backend_id(id) else {
            warn!("[{}] response with foreign id {id} ignored", self.name);
            return;
        };
        let pending = self.lock().pending.remove(&key);
        match pending {
            Some(p) => {
                debug!("[{}] <- response {key} {}", self.name, p.method);
                (p.reply)(outcome);
            }
            None => debug!("[{}] late or unknown response {key} ignored", self.name),
        }
    }

    /// Routes `notifications/progress` by token; `true` if it was ours.
    fn progress(&self, params: Option<&Value>) -> bool {
        let Some(token) = params
            .and_then(|p| p.get("progressToken"))
            .and_then(RequestId::from_value)
            .and_then(|t| backend_id(&t))
        else {
            return false;
        };
        let state = self.lock();
        match state.pending.get(&token).and_then(|p| p.progress.as_ref()) {
            Some(f) => {
                f(params.cloned().unwrap_or(Value::Null));
                true
            }
            // A token we no longer know: the request finished; drop it.
            None => true,
        }
    }

    fn event(&self, event: BackendEvent) {
        // A full queue drops its oldest message: a request of the backend
        // among them still gets an answer.
        if let Some(BackendEvent::Request { id, method, .. }) = self.events.send(event) {
            self.respond(&Message::error(
                Some(id),
                crate::jsonrpc::code::INTERNAL_ERROR,
                format!("{method} dropped: the gateway is overloaded by this backend's messages"),
            ));
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
            state.tx = None;
            std::mem::take(&mut state.pending)
        };
        self.timer.notify_one();
        for (_, p) in pending {
            (p.reply)(Err(CallError::Closed(cause.to_owned())));
        }
        self.event(BackendEvent::Closed(cause.to_owned()));
    }

    /// Whether request `id` still waits for its answer.
    pub fn is_pending(&self, id: u64) -> bool {
        self.lock().pending.contains_key(&id)
    }

    /// The timeout request `id` was sent with, while it is pending.
    pub fn timeout_of(&self, id: u64) -> Option<Duration> {
        self.lock().pending.get(&id).map(|p| p.timeout)
    }

    /// How many requests are waiting for an answer.
    pub fn in_flight(&self) -> usize {
        self.lock().pending.len()
    }
}

/// Unreadable messages of a backend that answer no request and are all
/// logged; after them, every thousandth is.
const UNMATCHED_LOGGED: u64 = 10;

/// The `_meta` key by which a backend may name the request it serves.
pub const RELATED_REQUEST_META: &str = "io.modelcontextprotocol/related-request-id";

/// `params._meta.progressToken`, if present.
fn progress_token_slot(params: &mut Value) -> Option<&mut Value> {
    params.get_mut("_meta")?.get_mut("progressToken")
}

/// Our ids are positive integers; accept them as strings too (lenient peers).
fn backend_id(id: &RequestId) -> Option<u64> {
    match id {
        RequestId::Number(n) => u64::try_from(*n).ok(),
        RequestId::String(s) => s.parse().ok(),
    }
}

/// Expires pending requests at their deadlines. Ends when the connection is
/// dropped or closed.
fn timer_loop(conn: &Weak<Connection>) {
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

/// Makes a request stateless for a 2026-07-28 backend: its `_meta` gets
/// the protocol version, the client capabilities (`{}` unless the caller
/// set them) and our client info; returns the routing headers, the
/// caller's `Mcp-Param-*` ones after them.
fn modernize(
    method: &str,
    params: &mut Option<Value>,
    extra: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let p = params.get_or_insert_with(|| json!({}));
    if let Some(obj) = p.as_object_mut() {
        let meta = obj.entry("_meta").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.entry(mcp::meta::PROTOCOL_VERSION)
                .or_insert_with(|| Value::from(mcp::MODERN_VERSION));
            meta.entry(mcp::meta::CLIENT_CAPABILITIES)
                .or_insert_with(|| json!({}));
            meta.entry(mcp::meta::CLIENT_INFO).or_insert_with(
                || json!({"name": mcp::IMPLEMENTATION_NAME, "version": mcp::VERSION}),
            );
        }
    }
    let mut headers = vec![
        (
            mcp::header::PROTOCOL_VERSION.to_owned(),
            mcp::MODERN_VERSION.to_owned(),
        ),
        (mcp::header::METHOD.to_owned(), method.to_owned()),
    ];
    let name_key = match method {
        mcp::method::TOOLS_CALL | mcp::method::PROMPTS_GET => Some("name"),
        mcp::method::RESOURCES_READ => Some("uri"),
        _ => None,
    };
    if let Some(name) = name_key.and_then(|k| p.get(k)).and_then(Value::as_str) {
        headers.push((mcp::header::NAME.to_owned(), encode_header_value(name)));
    }
    headers.extend(extra);
    headers
}

/// A value as a 2026-07-28 header carries it: as it is, or in the
/// `=?base64?…?=` form when it has non-ASCII or control characters,
/// surrounding whitespace, or looks like that form itself.
pub fn encode_header_value(value: &str) -> String {
    let plain = value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && value.trim() == value
        && !(value.starts_with("=?base64?") && value.ends_with("?="));
    if plain {
        value.to_owned()
    } else {
        format!("=?base64?{}?=", crate::base64::encode(value.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonrpc::code;
    use std::thread;

    fn conn() -> (
        Arc<Connection>,
        Receiver<Frame>,
        super::super::events::EventReceiver,
    ) {
        let (etx, erx) = super::super::events::events("t");
        let (c, rx) = Connection::new("t", etx).unwrap();
        (c, rx, erx)
    }

    fn sent(rx: &Receiver<Frame>) -> Value {
        serde_json::from_slice(&rx.recv_timeout(Duration::from_secs(5)).unwrap().bytes).unwrap()
    }

    #[test]
    fn ids_are_rewritten_and_replies_matched() {
        let (c, rx, _e) = conn();
        let (tx, results) = channel();
        for _ in 0..2 {
            let tx = tx.clone();
            c.send_request(
                "tools/call",
                Some(json!({"name": "x"})),
                Duration::from_secs(5),
                Box::new(move |r| tx.send(r).unwrap()),
                None,
            );
        }
        let (a, b) = (sent(&rx), sent(&rx));
        assert_ne!(a["id"], b["id"]);
        // Answer the second first; string ids are accepted.
        c.dispatch(json!({"jsonrpc":"2.0","id": b["id"].to_string(),"result":{"n":2}}));
        c.dispatch(
            json!({"jsonrpc":"2.0","id": a["id"],"error":{"code":-5,"message":"m","data":1}}),
        );
        assert_eq!(results.recv().unwrap(), Ok(json!({"n":2})));
        let err = results.recv().unwrap().unwrap_err();
        assert_eq!(
            err,
            CallError::Rpc(ErrorObject {
                code: -5,
                message: "m".into(),
                data: Some(json!(1))
            })
        );
        assert_eq!(c.in_flight(), 0);
    }

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
    fn progress_is_routed_by_rewritten_token() {
        let (c, rx, events) = conn();
        let (ptx, prx) = channel();
        let id = c
            .send_request(
                "tools/call",
                Some(json!({"name":"x","_meta":{"progressToken":"client-token"}})),
                Duration::from_secs(5),
                Box::new(|_| {}),
                Some(Box::new(move |p| ptx.send(p).unwrap())),
            )
            .unwrap();
        let req = sent(&rx);
        assert_eq!(req["params"]["_meta"]["progressToken"], json!(id));
        c.dispatch(json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":id,"progress":1}}));
        assert_eq!(prx.recv().unwrap()["progress"], 1);
        c.dispatch(json!({"jsonrpc":"2.0","method":"notifications/tools/list_changed"}));
        assert!(
            matches!(events.recv().unwrap(), BackendEvent::Notification { method, .. } if method == "notifications/tools/list_changed")
        );
    }

    /// The origin a backend request is traced to, as the test tag.
    fn origin_tag(event: BackendEvent) -> Option<&'static str> {
        match event {
            BackendEvent::Request { origin, .. } => {
                origin.and_then(|o| o.downcast::<&'static str>().ok().map(|t| *t))
            }
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn backend_requests_are_traced_to_the_call_they_serve() {
        let (c, _rx, events) = conn();
        let send = |tag: &'static str, token: bool| {
            let id = c.reserve_id();
            let params = token.then(|| json!({"_meta": {"progressToken": tag}}));
            c.send_request_as(
                id,
                Outgoing {
                    method: "tools/call".into(),
                    params,
                    timeout: Duration::from_secs(30),
                    reply: Box::new(|_| {}),
                    progress: token.then(|| Box::new(|_| {}) as ProgressFn),
                    log: None,
                    origin: Some(Arc::new(tag)),
                    headers: Vec::new(),
                },
            );
            id
        };
        let a = send("a", true);
        let b = send("b", false);
        let c_id = send("c", false);
        let ask = |meta: Value| json!({"jsonrpc":"2.0","id":"s","method":"roots/list","params":{"_meta": meta}});
        // Named by our rewritten progress token (or the related-request key).
        c.dispatch(ask(json!({"progressToken": a})));
        assert_eq!(origin_tag(events.recv().unwrap()), Some("a"));
        c.dispatch(ask(json!({RELATED_REQUEST_META: b})));
        assert_eq!(origin_tag(events.recv().unwrap()), Some("b"));
        // On the answer stream of b's POST.
        c.dispatch_related(ask(json!({})), Some(b));
        assert_eq!(origin_tag(events.recv().unwrap()), Some("b"));
        // Nothing names it: the most recent call in flight.
        c.dispatch(ask(json!({})));
        assert_eq!(origin_tag(events.recv().unwrap()), Some("c"));
        // c answered: b is now the most recent in flight.
        c.dispatch(json!({"jsonrpc":"2.0","id":c_id,"result":{}}));
        c.dispatch(ask(json!({"progressToken": c_id})));
        assert_eq!(origin_tag(events.recv().unwrap()), Some("b"));
        // None in flight: the last caller.
        c.dispatch(json!({"jsonrpc":"2.0","id":a,"result":{}}));
        c.dispatch(json!({"jsonrpc":"2.0","id":b,"result":{}}));
        c.dispatch(ask(json!({})));
        assert_eq!(origin_tag(events.recv().unwrap()), Some("c"));
    }

    #[test]
    fn an_unreadable_answer_fails_its_call_at_once() {
        use super::super::salvage;
        let (c, _rx, _e) = conn();
        let (tx, results) = channel();
        let send = || {
            let tx = tx.clone();
            c.send_request(
                "tools/call",
                None,
                Duration::from_secs(60),
                Box::new(move |r| tx.send(r).unwrap()),
                None,
            )
            .unwrap()
        };
        let (a, b) = (send(), send());
        let line = format!("{{\"id\":\"{a}\",\"result\":\"caf\u{fffd}\"}}");
        assert!(c.unreadable(salvage::invalid_utf8(&line), None).is_none());
        let Err(CallError::Rpc(e)) = results.recv_timeout(Duration::from_secs(5)).unwrap() else {
            panic!("not an error");
        };
        assert_eq!(
            e.message,
            "backend \"t\" sent an unreadable answer: invalid UTF-8"
        );
        // A request of the backend's with our id is not an answer; no id
        // at all falls back to the request it came for.
        let request = salvage::parse(format!("{{\"id\":{b},\"method\":\"x\",").as_bytes());
        assert!(c.unreadable(request.unwrap_err(), Some(b)).is_some());
        assert!(c.is_pending(b));
        let noise = salvage::parse(b"garbage").unwrap_err();
        assert!(c.unreadable(noise, Some(b)).is_none());
        assert!(
            results
                .recv_timeout(Duration::from_secs(5))
                .unwrap()
                .is_err()
        );
        assert_eq!(c.in_flight(), 0);
        // What answers nothing is handed back to be logged, at a rate.
        let logged: Vec<u64> = (0..2000)
            .filter_map(|_| c.unreadable(salvage::parse(b"x").unwrap_err(), None))
            .map(|(_, n)| n)
            .collect();
        assert_eq!(logged.len(), 11, "{logged:?}");
        assert_eq!(logged[10], 2000);
    }

    #[test]
    fn backend_pings_are_answered_here() {
        let (c, rx, _events) = conn();
        c.dispatch(json!({"jsonrpc":"2.0","id":"p","method":"ping"}));
        assert_eq!(sent(&rx), json!({"jsonrpc":"2.0","id":"p","result":{}}));
    }

    #[test]
    fn too_many_pending_requests_are_refused_at_once() {
        // The writer queue is smaller than the pending cap: drain it.
        let (etx, _erx) = super::super::events::events("big");
        let (big, out) = Connection::new("big", etx).unwrap();
        let drain = thread::spawn(move || while out.recv().is_ok() {});
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

    #[test]
    fn backend_requests_become_events_and_answers_go_back() {
        let (c, rx, events) = conn();
        c.dispatch(
            json!({"jsonrpc":"2.0","id":0,"method":"sampling/createMessage","params":{"x":1}}),
        );
        let BackendEvent::Request {
            id, method, params, ..
        } = events.recv().unwrap()
        else {
            panic!("not a request event");
        };
        assert_eq!(
            (id, method.as_str(), params),
            (
                RequestId::Number(0),
                "sampling/createMessage",
                Some(json!({"x":1}))
            )
        );
        c.respond(&Message::error(
            Some(RequestId::Number(0)),
            code::METHOD_NOT_FOUND,
            "no",
        ));
        let answer = sent(&rx);
        assert_eq!(answer["id"], 0);
        assert_eq!(answer["error"]["code"], code::METHOD_NOT_FOUND);
    }
}
