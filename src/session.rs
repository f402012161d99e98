//! A client session: one 2025-era MCP conversation with one client, on any
//! front transport (its id, group, token, MCP state, the requests it has in
//! flight and those sent to it), and the bounded queue that feeds its
//! stream writer. A front with a stream per request (Streamable HTTP)
//! gives the session its [`RequestStreams`], where the messages of a
//! request go first; the session knows nothing more of them.
//!
//! The router holds `&Session` while it answers a message and calls
//! [`Session::send`]; the transport's writer thread drains the queue. `send`
//! never blocks: a full queue (a client that stopped reading) closes the
//! session instead, so a slow client can never stall a backend's reader or
//! another client. A front may also give the session a [`DirectStream`]: a
//! message with nothing queued ahead of it is then written by the thread
//! that sends it, when the socket takes it at once, and the writer thread
//! is not woken for it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Instant;

use log::{debug, warn};
use serde_json::Value;

use crate::backend::Connection;
use crate::catalog::Kind;
use crate::config::Transport;
use crate::http::TryWrite;
use crate::identity::Identity;
use crate::jsonrpc::{ErrorObject, Message, RequestId};
use crate::mcp::method;
use crate::queue::{Receiver, Sender, TrySendError, bounded};
use crate::sync::lock;

/// A request of this session being served by a backend.
#[derive(Debug, Clone)]
pub struct InFlight {
    /// The backend connection.
    pub conn: Weak<Connection>,
    /// The backend-side id.
    pub backend_id: u64,
}

/// What a session's writer is told.
#[derive(Debug)]
pub enum Outbound {
    /// One serialized JSON-RPC message.
    Message(String),
    /// Stop writing and give the queue back: a resuming GET takes over.
    Yield,
    /// A direct write left part of a message unwritten: write it now.
    Flush,
    /// A `notifications/…/list_changed` (one of [`LIST_CHANGED`]): queued at
    /// most once per kind until the writer takes it, so a burst of catalog
    /// changes reaches a client as one notification per list.
    ListChanged(&'static str),
    /// End the stream.
    Close,
}

/// Delivery of the messages that belong to one request, for a front with
/// a stream per request (Streamable HTTP). Each method runs on the thread
/// that has the message or ends the session, under no lock of the
/// session's, and never blocks.
pub trait RequestStreams: Send + Sync + std::fmt::Debug {
    /// Queues `message` (the answer to request `id`, or something before
    /// it) on the stream that waits for that request: whether it was
    /// queued, or the message back when no stream waits for it.
    fn send(&self, id: &RequestId, message: Message) -> Result<bool, Message>;

    /// The client cancelled request `id`: its waiting stream ends at once.
    fn cancel(&self, id: &RequestId);

    /// Whether a request's stream holds a client connection.
    fn busy(&self) -> bool;

    /// The session ended: every waiting stream hears it.
    fn close(&self);
}

/// Writes a message onto the client's stream on the thread that sends it.
pub trait DirectStream: Send + Sync + std::fmt::Debug {
    /// Writes `json` as one event now if the stream's socket takes it
    /// without waiting and `clear()` says nothing is queued ahead of it.
    /// Runs on the sending thread (a connection, a backend reader or
    /// timer), under no lock of the session's; never blocks.
    fn try_write(&self, json: &str, clear: &dyn Fn() -> bool) -> TryWrite;
}

/// The list-change notifications a session may have queued.
pub const LIST_CHANGED: [&str; 3] = [
    method::TOOLS_LIST_CHANGED,
    method::RESOURCES_LIST_CHANGED,
    method::PROMPTS_LIST_CHANGED,
];

/// The list-change notifications that tell of changes to these kinds,
/// each once, in [`LIST_CHANGED`] order.
pub fn list_changes(kinds: &[Kind]) -> Vec<&'static str> {
    let mut methods: Vec<&'static str> = kinds
        .iter()
        .map(|k| match k {
            Kind::Tool => LIST_CHANGED[0],
            Kind::Resource | Kind::Template => LIST_CHANGED[1],
            Kind::Prompt => LIST_CHANGED[2],
        })
        .collect();
    methods.sort_by_key(|m| LIST_CHANGED.iter().position(|l| l == m));
    methods.dedup();
    methods
}

fn list_changed_bit(method: &str) -> u8 {
    LIST_CHANGED
        .iter()
        .position(|m| *m == method)
        .map_or(0, |i| 1 << i)
}

/// A JSON value a session keeps and seldom reads, as its compact text: a
/// parsed object costs a B-tree node (~700 bytes) per session, the text
/// tens of bytes, and an idle `/mcp` session keeps several.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JsonText(Option<Box<str>>);

impl JsonText {
    /// Keeps `value`.
    pub fn of(value: &Value) -> JsonText {
        JsonText(Some(value.to_string().into_boxed_str()))
    }

    /// The value kept; `null` when none was.
    pub fn value(&self) -> Value {
        self.0
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or(Value::Null)
    }
}

/// The MCP lifecycle state of a session (MCP 2025-06-18, Basic › Lifecycle).
#[derive(Debug, Default)]
pub struct McpState {
    /// `initialize` has been answered.
    pub initialized: bool,
    /// `notifications/initialized` has arrived.
    pub client_ready: bool,
    /// The negotiated protocol version.
    pub protocol_version: Option<&'static str>,
    /// The client's declared capabilities (`{}` when it sent none).
    pub client_capabilities: JsonText,
    /// The client's `clientInfo`.
    pub client_info: JsonText,
    /// The level set by `logging/setLevel`, if any.
    pub log_level: Option<String>,
    /// The backends that level is counted at: those of the session's
    /// virtual server when it was set.
    pub log_backends: Vec<String>,
    /// Resource URIs the client subscribed to, each with the backend that
    /// serves it in the session's virtual server.
    pub subscriptions: HashMap<String, String>,
}

/// Told when a session's client stopped reading (its queue filled up, or
/// a write timed out). Runs on whichever thread noticed (a backend reader,
/// a writer), under no lock of the session's; it must be quick.
#[derive(Clone)]
pub struct SlowHook(pub Arc<dyn Fn(&Session) + Send + Sync>);

impl std::fmt::Debug for SlowHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlowHook")
    }
}

/// Who waits for a client's answer to a request sent to it.
pub enum Asker {
    /// A backend's request, relayed: its connection and its own id.
    Backend(Weak<Connection>, RequestId),
    /// The gateway's own question (a 2026-07-28 backend's input request
    /// asked of a 2025-era client): hears the answer, once. Runs on the
    /// thread that read the client's answer (or ended the session), under
    /// no lock of the session's.
    Gateway(Box<dyn FnOnce(Result<Value, ErrorObject>) + Send>),
}

impl std::fmt::Debug for Asker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Asker::Backend(_, theirs) => write!(f, "Backend({theirs})"),
            Asker::Gateway(_) => f.write_str("Gateway"),
        }
    }
}

/// One client session.
#[derive(Debug)]
pub struct Session {
    /// Unguessable id (32 lowercase hex digits).
    pub id: String,
    /// The front transport it arrived on.
    pub transport: Transport,
    /// The client's address.
    pub peer: SocketAddr,
    /// When it was opened.
    pub created: Instant,
    /// The identity whose credentials opened it, if auth is on.
    pub identity: Option<Arc<Identity>>,
    /// The group whose virtual server it belongs to (`/g/<group>/...`);
    /// `None` for the whole gateway.
    pub group: Option<String>,
    tx: Sender<Outbound>,
    /// Messages queued (`Message`, `ListChanged`, `Flush`) that the writer
    /// has not yet written: a direct write goes only when it is zero.
    ahead: AtomicUsize,
    /// Where a message goes first, if the front writes directly.
    direct: OnceLock<Arc<dyn DirectStream>>,
    closed: AtomicBool,
    /// It was closed because its client stopped reading.
    dropped_slow: AtomicBool,
    /// Told once when that happens.
    on_slow: Option<SlowHook>,
    state: Mutex<McpState>,
    in_flight: Mutex<HashMap<RequestId, InFlight>>,
    /// Where messages for one request go first, if the front has a stream
    /// per request (Streamable HTTP).
    request_streams: Option<Arc<dyn RequestStreams>>,
    /// Whether a writer drains the general queue (always for SSE; for
    /// Streamable HTTP only while a GET stream is open).
    listening: AtomicBool,
    /// Last request or stream activity (idle expiry).
    last_active: Mutex<Instant>,
    /// Requests sent to this client, by the id we gave them: who waits
    /// for each answer.
    server_requests: Mutex<HashMap<RequestId, Asker>>,
    /// Bits of [`LIST_CHANGED`] queued and not yet written.
    list_changed_queued: AtomicU8,
    /// Numbers the requests the session sends its client.
    next_server_request: AtomicU64,
}

impl Session {
    /// A new session whose writer reads from the returned receiver; at most
    /// `capacity` messages wait in between.
    pub fn new(
        id: String,
        transport: Transport,
        peer: SocketAddr,
        identity: Option<Arc<Identity>>,
        capacity: usize,
    ) -> (Session, Receiver<Outbound>) {
        let (tx, rx) = bounded(capacity);
        let session = Session {
            id,
            transport,
            peer,
            created: Instant::now(),
            identity,
            group: None,
            tx,
            ahead: AtomicUsize::new(0),
            direct: OnceLock::new(),
            closed: AtomicBool::new(false),
            dropped_slow: AtomicBool::new(false),
            on_slow: None,
            state: Mutex::new(McpState::default()),
            in_flight: Mutex::new(HashMap::new()),
            request_streams: None,
            // Only Streamable HTTP sessions have no writer until a GET.
            listening: AtomicBool::new(transport != Transport::StreamableHttp),
            last_active: Mutex::new(Instant::now()),
            server_requests: Mutex::new(HashMap::new()),
            list_changed_queued: AtomicU8::new(0),
            next_server_request: AtomicU64::new(1),
        };
        (session, rx)
    }

    /// The session as one of `group`'s virtual server (`None`: the whole gateway).
    pub fn in_group(mut self, group: Option<&str>) -> Session {
        self.group = group.map(str::to_owned);
        self
    }

    /// Sets where messages for one request go first (Streamable HTTP).
    pub fn with_request_streams(mut self, streams: Arc<dyn RequestStreams>) -> Session {
        self.request_streams = Some(streams);
        self
    }

    /// From now on, a message with nothing queued ahead of it goes to
    /// `direct` on the sending thread. Set once, by the stream's writer.
    pub fn set_direct(&self, direct: Arc<dyn DirectStream>) {
        let _ = self.direct.set(direct);
    }

    /// The writer has written (or dropped) a `Message`, `ListChanged` or
    /// `Flush` it took from the queue.
    pub fn written(&self) {
        self.ahead.fetch_sub(1, Ordering::AcqRel);
    }

    /// Sets who hears (once) that its client stopped reading.
    pub fn on_slow(mut self, hook: SlowHook) -> Session {
        self.on_slow = Some(hook);
        self
    }

    /// Notes that its client stopped reading; the hook hears it once.
    pub fn mark_slow(&self) {
        if !self.dropped_slow.swap(true, Ordering::SeqCst)
            && let Some(hook) = &self.on_slow
        {
            (hook.0)(self);
        }
    }

    /// Whether it was closed because its client stopped reading.
    pub fn dropped_as_slow(&self) -> bool {
        self.dropped_slow.load(Ordering::SeqCst)
    }

    /// Queues a message for the client: a response goes to the POST that
    /// waits for it (Streamable HTTP), anything else to the general queue.
    /// Returns `false` when the message could not be queued.
    pub fn send(&self, message: Message) -> bool {
        let id = match &message {
            Message::Response { id, .. } | Message::Error { id: Some(id), .. } => Some(id.clone()),
            _ => None,
        };
        match id {
            Some(id) => self.send_for(&id, message),
            None => self.send_general(&message),
        }
    }

    /// Queues a message that belongs to request `id` (its answer, its
    /// progress): on that request's stream if there is one.
    pub fn send_for(&self, id: &RequestId, message: Message) -> bool {
        let message = match &self.request_streams {
            Some(streams) => match streams.send(id, message) {
                Ok(queued) => return queued,
                Err(message) => message,
            },
            None => message,
        };
        self.send_general(&message)
    }

    /// A fresh id for a request the session sends its client (a
    /// backend's question relayed, or the gateway's own).
    pub fn next_server_request_id(&self) -> RequestId {
        let n = self.next_server_request.fetch_add(1, Ordering::Relaxed);
        RequestId::String(format!("argus-{n}"))
    }

    /// The client cancelled request `id`: a POST waiting for its answer
    /// hears it at once (and ends) instead of waiting out the call timeout.
    pub fn cancel_request_stream(&self, id: &RequestId) {
        if let Some(streams) = &self.request_streams {
            streams.cancel(id);
        }
    }

    fn send_general(&self, message: &Message) -> bool {
        if !self.can_send() {
            return false;
        }
        let text = message.to_json_text();
        debug!("session {}: -> {}", self.short_id(), text);
        self.enqueue(Outbound::Message(text))
    }

    /// Queues `method` (one of [`LIST_CHANGED`]) unless it is queued already
    /// and not yet written: bursts coalesce. Returns whether it is queued.
    pub fn send_list_changed(&self, method: &'static str) -> bool {
        let bit = list_changed_bit(method);
        if self.list_changed_queued.fetch_or(bit, Ordering::AcqRel) & bit != 0 {
            return true;
        }
        let queued = self.can_send() && self.enqueue(Outbound::ListChanged(method));
        if !queued {
            self.list_changed_queued.fetch_and(!bit, Ordering::AcqRel);
        }
        queued
    }

    /// The writer took `method` off the queue: the next change queues it again.
    pub fn list_changed_taken(&self, method: &str) {
        self.list_changed_queued
            .fetch_and(!list_changed_bit(method), Ordering::AcqRel);
    }

    fn can_send(&self) -> bool {
        if self.is_closed() {
            return false;
        }
        if !self.listening.load(Ordering::SeqCst) {
            debug!(
                "session {}: no stream open; message dropped",
                self.short_id()
            );
            return false;
        }
        true
    }

    fn enqueue(&self, outbound: Outbound) -> bool {
        let outbound = match (outbound, self.direct.get()) {
            (Outbound::Message(json), Some(direct)) => {
                let clear = || self.ahead.load(Ordering::Acquire) == 0;
                match direct.try_write(&json, &clear) {
                    TryWrite::Written => return true,
                    TryWrite::Busy => Outbound::Message(json),
                    // The writer writes the rest before anything else.
                    TryWrite::Partial => Outbound::Flush,
                }
            }
            (outbound, _) => outbound,
        };
        self.ahead.fetch_add(1, Ordering::AcqRel);
        let sent = self.tx.try_send(outbound);
        if sent.is_err() {
            self.ahead.fetch_sub(1, Ordering::AcqRel);
        }
        match sent {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                warn!(
                    "session {} ({}): outbound queue full, client is not reading; dropping the session",
                    self.short_id(),
                    self.peer
                );
                self.mark_slow();
                self.close();
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                self.closed.store(true, Ordering::SeqCst);
                false
            }
        }
    }

    /// Whether a writer drains the general queue: set when a Streamable
    /// HTTP GET stream takes it, cleared when it parks it.
    pub fn set_listening(&self, listening: bool) {
        self.listening.store(listening, Ordering::SeqCst);
    }

    /// Asks the writer of the general queue to stop and give it back (a
    /// resuming GET takes over).
    pub fn ask_writer_to_yield(&self) {
        let _ = self.tx.try_send(Outbound::Yield);
    }

    /// Records a request sent to this client as `ours`, and who waits for
    /// its answer.
    pub fn track_server_request(&self, ours: RequestId, asker: Asker) {
        lock(&self.server_requests).insert(ours, asker);
    }

    /// Takes who waits for the client's answer `ours`.
    pub fn take_server_request(&self, ours: &RequestId) -> Option<Asker> {
        lock(&self.server_requests).remove(ours)
    }

    /// Takes everyone still waiting for an answer (session ending).
    pub fn take_server_requests(&self) -> Vec<Asker> {
        lock(&self.server_requests)
            .drain()
            .map(|(_, v)| v)
            .collect()
    }

    /// Records activity now (idle expiry).
    pub fn touch(&self) {
        *lock(&self.last_active) = Instant::now();
    }

    /// Time since the last activity; zero while a stream is open.
    pub fn idle(&self) -> std::time::Duration {
        let busy = self.request_streams.as_ref().is_some_and(|s| s.busy());
        if self.listening.load(Ordering::SeqCst) || busy {
            return std::time::Duration::ZERO;
        }
        lock(&self.last_active).elapsed()
    }

    /// Ends the session; its writer stops at its next wake-up. Idempotent.
    pub fn close(&self) {
        let first = !self.closed.swap(true, Ordering::SeqCst);
        // POSTs still waiting for answers hear that the session is gone
        // (after the flag, so they see it set).
        if let Some(streams) = &self.request_streams {
            streams.close();
        }
        if first {
            // If the queue is full the writer sees the flag instead.
            let _ = self.tx.try_send(Outbound::Close);
        }
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// The MCP state, locked.
    pub fn state(&self) -> MutexGuard<'_, McpState> {
        lock(&self.state)
    }

    fn in_flight(&self) -> MutexGuard<'_, HashMap<RequestId, InFlight>> {
        lock(&self.in_flight)
    }

    /// Records that request `id` is being served by `conn` as `backend_id`;
    /// `false` (and nothing recorded) if `id` is in flight already.
    pub fn track(&self, id: RequestId, conn: &Arc<Connection>, backend_id: u64) -> bool {
        match self.in_flight().entry(id) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(InFlight {
                    conn: Arc::downgrade(conn),
                    backend_id,
                });
                true
            }
        }
    }

    /// Whether request `id` of this session is being served by a backend.
    pub fn is_in_flight(&self, id: &RequestId) -> bool {
        self.in_flight().contains_key(id)
    }

    /// Forgets request `id` (it was answered); returns what was recorded.
    pub fn untrack(&self, id: &RequestId) -> Option<InFlight> {
        self.in_flight().remove(id)
    }

    /// Every request in flight, still tracked (for the audit log).
    pub fn in_flight_calls(&self) -> Vec<InFlight> {
        self.in_flight().values().cloned().collect()
    }

    /// Forgets and returns every request in flight (the session is ending).
    pub fn take_in_flight(&self) -> Vec<InFlight> {
        self.in_flight().drain().map(|(_, f)| f).collect()
    }

    /// How many requests are in flight.
    pub fn in_flight_count(&self) -> usize {
        self.in_flight().len()
    }

    /// The first 8 characters of the id, for logs (the id is a credential).
    pub fn short_id(&self) -> &str {
        self.id.get(..8).unwrap_or(&self.id)
    }

    /// The session as records and the management API name it: a hash of
    /// its id, never the id (a credential).
    pub fn label(&self) -> String {
        crate::sha256::hex(self.id.as_bytes())[..16].to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse_session() -> (Session, Receiver<Outbound>) {
        Session::new(
            "0".repeat(32),
            Transport::Sse,
            "127.0.0.1:1".parse().unwrap(),
            None,
            16,
        )
    }

    #[test]
    fn json_text_gives_back_what_it_kept() {
        let caps = serde_json::json!({"sampling": {}, "roots": {"listChanged": true}});
        assert_eq!(JsonText::of(&caps).value(), caps);
        assert_eq!(JsonText::default().value(), Value::Null);
        assert_eq!(
            JsonText::of(&serde_json::json!({})).value(),
            serde_json::json!({})
        );
    }

    #[test]
    fn list_changes_coalesce_until_written() {
        let (s, rx) = sse_session();
        for _ in 0..5 {
            assert!(s.send_list_changed(LIST_CHANGED[0]));
        }
        assert!(s.send_list_changed(LIST_CHANGED[2]));
        let taken: Vec<&str> = std::iter::from_fn(|| match rx.try_recv() {
            Ok(Outbound::ListChanged(m)) => Some(m),
            _ => None,
        })
        .collect();
        assert_eq!(taken, [LIST_CHANGED[0], LIST_CHANGED[2]]);
        // Not yet marked written: still coalesced.
        assert!(s.send_list_changed(LIST_CHANGED[0]));
        assert!(rx.try_recv().is_err());
        s.list_changed_taken(LIST_CHANGED[0]);
        assert!(s.send_list_changed(LIST_CHANGED[0]));
        assert!(matches!(rx.try_recv(), Ok(Outbound::ListChanged(_))));
    }

    /// Takes what it is given while `open`; a message `cut` only in part.
    #[derive(Debug, Default)]
    struct Socket {
        open: AtomicBool,
        written: Mutex<Vec<String>>,
    }

    impl DirectStream for Arc<Socket> {
        fn try_write(&self, json: &str, clear: &dyn Fn() -> bool) -> TryWrite {
            if !self.open.load(Ordering::SeqCst) || !clear() {
                return TryWrite::Busy;
            }
            lock(&self.written).push(json.to_owned());
            if json == "cut" {
                TryWrite::Partial
            } else {
                TryWrite::Written
            }
        }
    }

    #[test]
    fn messages_go_directly_only_while_nothing_is_queued_ahead() {
        let (s, rx) = sse_session();
        let socket = Arc::new(Socket::default());
        s.set_direct(Arc::new(socket.clone()));
        let send = |text: &str| {
            assert!(s.send(Message::notification(text, None)));
        };
        let queued = || match rx.try_recv() {
            Ok(Outbound::Message(json)) => serde_json::from_str::<Value>(&json).unwrap()["method"]
                .as_str()
                .unwrap()
                .to_owned(),
            Ok(Outbound::Flush) => "flush".to_owned(),
            other => format!("{other:?}"),
        };
        send("busy");
        socket.open.store(true, Ordering::SeqCst);
        // Queued ahead and not yet written: the next one queues too.
        send("behind");
        assert_eq!(queued(), "busy");
        assert_eq!(queued(), "behind");
        s.written();
        send("still behind");
        s.written();
        assert_eq!(queued(), "still behind");
        s.written();
        send("direct");
        assert!(rx.try_recv().is_err());
        // A direct write cut short: the writer is woken to finish it.
        assert!(s.direct.get().is_some());
        assert!(s.enqueue(Outbound::Message("cut".to_owned())));
        assert_eq!(queued(), "flush");
        send("after the cut");
        assert_eq!(queued(), "after the cut");
        let written = lock(&socket.written).clone();
        assert_eq!(written.len(), 2);
        assert!(written[0].contains("\"direct\""), "{written:?}");
        assert_eq!(written[1], "cut");
    }
}
