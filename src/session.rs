//! A client session: one MCP conversation with one client, on either front
//! transport, and the bounded queue that feeds its stream writer.
//!
//! The router holds `&Session` while it answers a message and calls
//! [`Session::send`]; the transport's writer thread drains the queue. `send`
//! never blocks: a full queue (a client that stopped reading) closes the
//! session instead, so a slow client can never stall a backend's reader or
//! another client (PRODUCT §5.1).

use crate::queue::{Receiver, Sender, TrySendError, bounded};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

use log::{debug, warn};
use serde_json::Value;

use crate::backend::Connection;
use crate::config::Transport;
use crate::jsonrpc::{Message, RequestId};

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
    /// End the stream.
    Close,
}

/// The MCP lifecycle state of a session (MCP lifecycle, PRODUCT §6.1).
#[derive(Debug, Default)]
pub struct McpState {
    /// `initialize` has been answered.
    pub initialized: bool,
    /// `notifications/initialized` has arrived.
    pub client_ready: bool,
    /// The negotiated protocol version.
    pub protocol_version: Option<&'static str>,
    /// The client's declared capabilities.
    pub client_capabilities: Value,
    /// The client's `clientInfo`.
    pub client_info: Value,
    /// The level set by `logging/setLevel`, if any.
    pub log_level: Option<String>,
    /// Resource URIs the client subscribed to.
    pub subscriptions: std::collections::HashSet<String>,
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
    /// Index of the incoming bearer token that opened it, if auth is on.
    pub token: Option<usize>,
    tx: Sender<Outbound>,
    closed: AtomicBool,
    state: Mutex<McpState>,
    in_flight: Mutex<HashMap<RequestId, InFlight>>,
    /// Streamable HTTP: the POSTs waiting for their requests' answers.
    request_streams: Mutex<HashMap<RequestId, Sender<String>>>,
    /// Whether a writer drains the general queue (always for SSE; for
    /// Streamable HTTP only while a GET stream is open).
    listening: AtomicBool,
    /// Streamable HTTP: the general queue's receiver while no GET stream has it.
    parked: Mutex<Option<Receiver<Outbound>>>,
    /// Last request or stream activity (idle expiry).
    last_active: Mutex<Instant>,
    /// Backend requests relayed to this client, by the id we gave them:
    /// the backend connection and the backend's own id.
    server_requests: Mutex<HashMap<RequestId, (Weak<Connection>, RequestId)>>,
}

/// Locks a mutex whose value stays consistent across a panic elsewhere
/// (single inserts, removes and replacements).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Session {
    /// A new session whose writer reads from the returned receiver; at most
    /// `capacity` messages wait in between.
    pub fn new(
        id: String,
        transport: Transport,
        peer: SocketAddr,
        token: Option<usize>,
        capacity: usize,
    ) -> (Session, Receiver<Outbound>) {
        let (tx, rx) = bounded(capacity);
        let session = Session {
            id,
            transport,
            peer,
            created: Instant::now(),
            token,
            tx,
            closed: AtomicBool::new(false),
            state: Mutex::new(McpState::default()),
            in_flight: Mutex::new(HashMap::new()),
            request_streams: Mutex::new(HashMap::new()),
            listening: AtomicBool::new(transport == Transport::Sse),
            parked: Mutex::new(None),
            last_active: Mutex::new(Instant::now()),
            server_requests: Mutex::new(HashMap::new()),
        };
        (session, rx)
    }

    /// Queues a message for the client: a response goes to the POST that
    /// waits for it (Streamable HTTP), anything else to the general queue.
    /// Returns `false` when the message could not be queued.
    pub fn send(&self, message: &Message) -> bool {
        let id = match message {
            Message::Response { id, .. } | Message::Error { id: Some(id), .. } => Some(id),
            _ => None,
        };
        match id {
            Some(id) => self.send_for(id, message),
            None => self.send_general(message),
        }
    }

    /// Queues a message that belongs to request `id` (its answer, its
    /// progress): on that request's POST stream if there is one.
    pub fn send_for(&self, id: &RequestId, message: &Message) -> bool {
        let stream = lock(&self.request_streams).get(id).cloned();
        match stream {
            Some(tx) => {
                let text = message.to_value().to_string();
                debug!("session {}: -> (request {id}) {}", self.short_id(), text);
                tx.try_send(text).is_ok()
            }
            None => self.send_general(message),
        }
    }

    fn send_general(&self, message: &Message) -> bool {
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
        let text = message.to_value().to_string();
        debug!("session {}: -> {}", self.short_id(), text);
        match self.tx.try_send(Outbound::Message(text)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                warn!(
                    "session {} ({}): outbound queue full, client is not reading; dropping the session",
                    self.short_id(),
                    self.peer
                );
                self.close();
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                self.closed.store(true, Ordering::SeqCst);
                false
            }
        }
    }

    /// Opens the answer stream of request `id` (Streamable HTTP POST);
    /// `None` if a request with that id is already waiting (MCP forbids
    /// reusing an id in flight, and the answers could not be told apart).
    pub fn open_request_stream(&self, id: RequestId) -> Option<Receiver<String>> {
        let mut streams = lock(&self.request_streams);
        if streams.contains_key(&id) {
            return None;
        }
        let (tx, rx) = bounded(crate::limits::SESSION_OUTBOUND_QUEUE);
        streams.insert(id, tx);
        Some(rx)
    }

    /// Closes the answer stream of request `id`.
    pub fn close_request_stream(&self, id: &RequestId) {
        lock(&self.request_streams).remove(id);
    }

    /// Streamable HTTP: parks the general queue's receiver until a GET takes it.
    pub fn park(&self, rx: Receiver<Outbound>) {
        *lock(&self.parked) = Some(rx);
        self.listening.store(false, Ordering::SeqCst);
    }

    /// Streamable HTTP: takes the general queue for a GET stream; `None`
    /// when another GET stream has it.
    pub fn take_stream(&self) -> Option<Receiver<Outbound>> {
        let rx = lock(&self.parked).take()?;
        self.listening.store(true, Ordering::SeqCst);
        Some(rx)
    }

    /// Records a backend request relayed to this client as `ours`.
    pub fn track_server_request(&self, ours: RequestId, conn: &Arc<Connection>, theirs: RequestId) {
        lock(&self.server_requests).insert(ours, (Arc::downgrade(conn), theirs));
    }

    /// Takes the relayed backend request the client answered with `ours`.
    pub fn take_server_request(&self, ours: &RequestId) -> Option<(Weak<Connection>, RequestId)> {
        lock(&self.server_requests).remove(ours)
    }

    /// Takes every relayed backend request still unanswered (session ending).
    pub fn take_server_requests(&self) -> Vec<(Weak<Connection>, RequestId)> {
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
        if self.listening.load(Ordering::SeqCst) || !lock(&self.request_streams).is_empty() {
            return std::time::Duration::ZERO;
        }
        lock(&self.last_active).elapsed()
    }

    /// Ends the session; its writer stops at its next wake-up. Idempotent.
    pub fn close(&self) {
        let first = !self.closed.swap(true, Ordering::SeqCst);
        // POSTs still waiting for answers hear that the session is gone
        // (after the flag, so they see it set).
        lock(&self.request_streams).clear();
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
        // A panic while holding this lock leaves plain data behind; go on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn in_flight(&self) -> MutexGuard<'_, HashMap<RequestId, InFlight>> {
        // Single inserts and removes: consistent even after a panic elsewhere.
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
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
}
