//! The Streamable HTTP transport to a backend (MCP 2025-06-18, Transports
//! §Streamable HTTP; resumption as in MCP 2025-11-25).
//!
//! A writer thread POSTs each outgoing message with `Accept:
//! application/json, text/event-stream`, the session id once the server
//! gave one, and `MCP-Protocol-Version` once negotiated. A JSON answer is
//! dispatched at once; an SSE answer is read to its end. An answer that
//! cannot be read (not UTF-8, not JSON, nested too deep, over the size
//! limit) fails its call at once: a JSON body, the request POSTed; an
//! event, the request whose id `salvage` finds in it (one over the size
//! limit ends its stream, so failing that, the request the stream
//! answers). Requests are
//! POSTed by bounded worker threads, so a long call never blocks the others.
//! After `notifications/initialized` a GET stream is opened for
//! server-initiated messages (405 means the server has none) and reopened
//! with backoff when it ends; a 2026-07-28 server gets a
//! `subscriptions/listen` POST for that instead ([`StreamableTransport::listen`]).
//! A request's answer stream is dropped once nobody waits for the answer
//! (the 2026-07-28 cancellation). A 404 for our session re-initializes and
//! retries once; a 401 refreshes OAuth 2 once; a backend that cannot be
//! reached closes the connection so the supervisor reconnects. Stopping
//! DELETEs the session and cuts every open stream.
//!
//! The protocol decisions (what a POST's answer means, the session id it
//! assigns, the version an `initialize` answer negotiates, whether a push
//! or resumed stream opened, how long to wait before resuming) are pure
//! functions in `decide`, tested without a socket; the IO in the other
//! parts only reads what they ask for and acts on what they say: `post`
//! (the writer, the POST workers, re-initializing), `answer` (reading an
//! answer, resuming its stream, handing messages to the connection) and
//! `push` (the GET or listen stream). This file holds the transport, its
//! shared state, `connect` and `stop`.

mod decide;
mod post;
mod streams;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use log::debug;
use serde_json::Value;
use ureq::Agent;

use super::agent::Limits;
use super::auth::{Credentials, TokenError, with_headers};
use super::connection::Connection;
use super::events::EventSender;
use super::post_workers::PostWorkers;
use crate::limits::{BACKEND_STACK_BYTES, MAX_CONCURRENT_POSTS, SSE_IDLE_TIMEOUT};
use crate::mcp;
use crate::sync::spawn_named;
use post::{post_call, post_loop};
use streams::{Push, open_push_stream};

/// How long the DELETE of the session on stop may take.
const DELETE_TIMEOUT: Duration = Duration::from_secs(2);

/// How much longer than the call timeout a POST's answer head may take
/// (only frees the worker: the caller hears its timeout from the timer).
const POST_HEAD_MARGIN: Duration = Duration::from_secs(10);

/// What the transport learned from the handshake with the remote server:
/// its session, the negotiated version, and how to start over.
#[derive(Debug, Default)]
struct RemoteSession {
    id: Option<String>,
    version: Option<String>,
    /// The `initialize` request as sent, for re-initializing after a 404.
    init: Option<Vec<u8>>,
    /// The id of that request (its answer carries the version).
    init_id: Option<u64>,
}

/// What the transport's threads share: the writer, the POST workers and
/// the push and resumed streams.
struct StreamableState {
    name: String,
    url: String,
    credentials: Arc<Credentials>,
    session: Mutex<RemoteSession>,
    stopping: AtomicBool,
    /// Wakes backoff waits when the transport stops.
    stop_wake: (Mutex<()>, Condvar),
    /// Agents whose sockets `stop` must cut: the POST agent and the GET stream's.
    agents: Mutex<Vec<Agent>>,
    /// Held while re-initializing, so concurrent 404s re-initialize once.
    reinit: Mutex<()>,
    /// POSTs requests, at most `MAX_CONCURRENT_POSTS` at once.
    posts: Arc<PostWorkers>,
}

impl StreamableState {
    fn session(&self) -> MutexGuard<'_, RemoteSession> {
        // Plain fields replaced whole.
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// A running Streamable HTTP transport.
pub struct StreamableTransport {
    shared: Arc<StreamableState>,
}

impl std::fmt::Debug for StreamableTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamableTransport")
            .field("name", &self.shared.name)
            .finish()
    }
}

impl StreamableTransport {
    /// DELETEs the session (bounded) and cuts every open stream. Idempotent.
    pub fn stop(&self) {
        if self.shared.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        self.shared.stop_wake.1.notify_all();
        let id = self.shared.session().id.clone();
        if let Some(id) = id {
            let agent = self
                .shared
                .credentials
                .agent(Limits::exchange(DELETE_TIMEOUT));
            let sent = self.shared.credentials.send(|credentials| {
                let request = agent
                    .delete(&self.shared.url)
                    .header(mcp::header::SESSION_ID, &id);
                with_headers(request, &credentials).call()
            });
            match sent {
                Ok(r) => debug!("[{}] DELETE session: HTTP {}", self.shared.name, r.status()),
                Err(e) => debug!("[{}] DELETE session failed: {e}", self.shared.name),
            }
        }
        let agents =
            std::mem::take(&mut *self.shared.agents.lock().unwrap_or_else(|e| e.into_inner()));
        for agent in agents {
            agent.shutdown();
        }
    }

    /// Opens a `subscriptions/listen` stream to a 2026-07-28 backend (its
    /// list changes travel only there) on a thread that reopens it with
    /// backoff until the transport stops.
    pub fn listen(&self, conn: &Arc<Connection>, params: Value) {
        open_push_stream(conn, &self.shared, Push::Listen(params));
    }
}

/// Starts the transport; the handshake then runs through the returned connection.
pub fn connect(
    name: &str,
    url: &str,
    credentials: Arc<Credentials>,
    call_timeout: Duration,
    events: EventSender,
) -> std::io::Result<(Arc<Connection>, StreamableTransport)> {
    let (conn, outbound) = Connection::new(name, events)?;
    // A JSON-mode server holds the POST until the result is ready, so the
    // answer head may take as long as the call; the connection's timer
    // answers the caller at `call` anyway, this only frees the thread.
    let post_agent = credentials.agent(Limits::stream(
        call_timeout + POST_HEAD_MARGIN,
        SSE_IDLE_TIMEOUT,
    ));
    let shared = Arc::new_cyclic(|weak| StreamableState {
        name: name.to_owned(),
        url: url.to_owned(),
        credentials,
        session: Mutex::new(RemoteSession::default()),
        stopping: AtomicBool::new(false),
        stop_wake: (Mutex::new(()), Condvar::new()),
        agents: Mutex::new(vec![post_agent.clone()]),
        reinit: Mutex::new(()),
        posts: {
            let (conn, shared, agent) = (Arc::downgrade(&conn), weak.clone(), post_agent.clone());
            PostWorkers::new(
                &format!("argus-call-{name}"),
                BACKEND_STACK_BYTES,
                MAX_CONCURRENT_POSTS,
                Box::new(move |frame| post_call(&conn, &shared, &agent, frame)),
            )
        },
    });
    conn.set_direct(Box::new(shared.posts.clone()));
    let writer = {
        let (conn, shared) = (conn.clone(), shared.clone());
        spawn_named(
            format!("argus-post-{name}"),
            BACKEND_STACK_BYTES,
            move || post_loop(&conn, &shared, &post_agent, &outbound),
        )
    };
    if let Err(e) = writer {
        conn.close("cannot start the writer");
        return Err(e);
    }
    Ok((conn, StreamableTransport { shared }))
}

/// Why a message could not be POSTed, or its answer not read.
#[derive(Debug)]
pub(super) enum PostFailure {
    /// The server could not be reached at all: reconnect.
    Unreachable {
        /// The endpoint.
        url: String,
        /// Why.
        source: ureq::Error,
    },
    /// No credentials (the OAuth 2 token request failed).
    Credentials(TokenError),
    /// The server answered with a status that is no answer.
    Status {
        /// The status.
        status: u16,
        /// The endpoint.
        url: String,
    },
    /// The answer's body could not be read.
    Read(ureq::Error),
    /// Our session expired before we had sent `initialize` on it.
    NoInitialize,
    /// The re-sent `initialize` got no answer with a version.
    ReinitUnanswered,
}

impl PostFailure {
    /// Whether the server could not be reached at all (then the connection
    /// closes and the supervisor reconnects).
    pub(super) fn is_unreachable(&self) -> bool {
        matches!(self, PostFailure::Unreachable { .. })
    }
}

impl fmt::Display for PostFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostFailure::Unreachable { url, source } => write!(f, "POST {url}: {source}"),
            PostFailure::Credentials(e) => write!(f, "{e}"),
            PostFailure::Status { status, url } => write!(f, "HTTP {status} from {url}"),
            PostFailure::Read(e) => write!(f, "reading the answer: {e}"),
            PostFailure::NoInitialize => f.write_str("session expired before initialize"),
            PostFailure::ReinitUnanswered => f.write_str("re-initialize was not answered"),
        }
    }
}

impl std::error::Error for PostFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PostFailure::Unreachable { source, .. } => Some(source),
            PostFailure::Credentials(e) => Some(e),
            PostFailure::Read(e) => Some(e),
            PostFailure::Status { .. }
            | PostFailure::NoInitialize
            | PostFailure::ReinitUnanswered => None,
        }
    }
}
