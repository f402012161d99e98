//! The legacy HTTP+SSE transport to a backend (MCP 2024-11-05, Transports
//! §HTTP with SSE).
//!
//! `GET url` with `Accept: text/event-stream` on an agent of its own (so
//! [`SseTransport::stop`] can cut the blocked read at once with
//! `Agent::shutdown`), read by our SSE parser on a reader thread. The first
//! `endpoint` event's data is resolved against `url` (RFC 3986 §5.2);
//! another origin is refused. `message` events carry JSON-RPC for
//! `Connection::dispatch`; empty data (priming) is skipped; one that cannot
//! be read (not UTF-8, not JSON, nested too deep) fails the call it answers
//! at once when `salvage` finds its id, and so does an event over the size
//! limit before the stream is dropped for it. A writer thread
//! POSTs each outgoing message to the endpoint on a second agent; a non-2xx
//! answer fails that request, a JSON body in the answer is taken as a reply
//! (some servers answer in the POST), a 401 refreshes OAuth 2 once. When the
//! stream ends the connection closes and the supervisor reconnects.
//!
//! The protocol decisions (is this GET answer a stream, what an event is,
//! why the stream ended, whether a POST answer carries a reply) are pure
//! functions in `decide`, and where the endpoint is, in `endpoint`; both
//! are tested without a socket. `post` is the writer and its POSTs;
//! `launch` waits until a launched server's port answers. This file holds
//! the transport, `connect` and the stream's reader.

mod decide;
mod endpoint;
mod launch;
mod post;

pub use endpoint::{EndpointError, resolve_endpoint};
pub use launch::{ListenError, wait_until_listening};

use std::fmt;
use std::io::Read;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use log::{debug, info, warn};
use ureq::Agent;

use super::agent::Limits;
use super::auth::{Credentials, SendError, with_headers};
use super::connection::Connection;
use super::content_type;
use super::events::EventSender;
use super::salvage;
use super::sse_read::{Ended, read_events};
use crate::limits::{BACKEND_STACK_BYTES, MAX_BACKEND_MESSAGE_BYTES, SSE_IDLE_TIMEOUT};
use crate::redact;
use crate::sse::Parser;
use crate::sync::spawn_named;
use decide::{StreamEvent, check_stream, end_cause, event_kind};
use post::{post_agent, post_loop, post_workers};

/// Why an SSE backend could not be connected.
#[derive(Debug)]
pub enum ConnectError {
    /// The GET of the stream got no response.
    Get {
        /// The backend URL.
        url: String,
        /// Why.
        source: SendError,
    },
    /// The GET was answered with another status than 200.
    Status {
        /// The backend URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The GET was answered with something other than an event stream.
    NotAStream {
        /// The backend URL.
        url: String,
        /// The media type it answered with (empty when none).
        media_type: String,
    },
    /// A thread of the transport could not be started.
    Thread(std::io::Error),
    /// The `endpoint` event names no usable endpoint.
    Endpoint(EndpointError),
    /// The stream ended before the `endpoint` event; why.
    StreamEnded(String),
    /// No `endpoint` event came within the connect timeout.
    NoEndpoint(Duration),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Get { url, source } => write!(f, "GET {url}: {source}"),
            ConnectError::Status { url, status } => write!(f, "GET {url}: HTTP {status}"),
            ConnectError::NotAStream { url, media_type } => write!(
                f,
                "GET {url}: expected text/event-stream, got \"{media_type}\""
            ),
            ConnectError::Thread(e) => write!(f, "{e}"),
            ConnectError::Endpoint(e) => write!(f, "{e}"),
            ConnectError::StreamEnded(cause) => f.write_str(cause),
            ConnectError::NoEndpoint(waited) => {
                write!(f, "no endpoint event within {:.1}s", waited.as_secs_f64())
            }
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Get { source, .. } => Some(source),
            ConnectError::Thread(e) => Some(e),
            ConnectError::Endpoint(e) => Some(e),
            ConnectError::Status { .. }
            | ConnectError::NotAStream { .. }
            | ConnectError::StreamEnded(_)
            | ConnectError::NoEndpoint(_) => None,
        }
    }
}

/// A running SSE stream; stopping it closes the connection.
#[derive(Debug)]
pub struct SseTransport {
    name: String,
    stream_agent: Mutex<Option<Agent>>,
    stopping: Arc<AtomicBool>,
}

impl SseTransport {
    /// Cuts the stream (the reader returns at once) and stops the writer.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(agent) = self
            .stream_agent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            debug!("[{}] closing the SSE stream", self.name);
            agent.shutdown();
        }
    }
}

/// What the reader thread tells `connect` once: the resolved endpoint, or
/// why there is none.
type EndpointSender = SyncSender<Result<String, ConnectError>>;

/// Opens the stream, waits for the `endpoint` event (at most `timeout`),
/// and returns the connection. `events` gets notifications and the close.
pub fn connect(
    name: &str,
    url: &str,
    credentials: Arc<Credentials>,
    timeout: Duration,
    events: EventSender,
) -> Result<(Arc<Connection>, SseTransport), ConnectError> {
    let stream_agent = credentials.agent(Limits::stream(timeout, SSE_IDLE_TIMEOUT));
    let response = credentials
        .send(|headers| {
            let request = stream_agent
                .get(url)
                .header("Accept", "text/event-stream")
                .header("Cache-Control", "no-cache");
            with_headers(request, &headers).call()
        })
        .map_err(|source| ConnectError::Get {
            url: url.to_owned(),
            source,
        })?;
    check_stream(url, response.status().as_u16(), &content_type(&response))?;
    info!("[{name}] SSE stream open: {}", redact::url(url));
    let (conn, outbound) = Connection::new(name, events).map_err(ConnectError::Thread)?;
    let stopping = Arc::new(AtomicBool::new(false));
    let (endpoint_tx, endpoint_rx) = sync_channel(1);
    let reader = {
        let conn = conn.clone();
        let stopping = stopping.clone();
        let base = url.to_owned();
        let body = response.into_body().into_reader();
        spawn_named(
            format!("argus-sse-{name}"),
            BACKEND_STACK_BYTES,
            move || read_stream(&conn, body, &base, &endpoint_tx, &stopping),
        )
    };
    let transport = SseTransport {
        name: name.to_owned(),
        stream_agent: Mutex::new(Some(stream_agent)),
        stopping: stopping.clone(),
    };
    if let Err(e) = reader {
        transport.stop();
        return Err(ConnectError::Thread(e));
    }
    let endpoint = match endpoint_rx.recv_timeout(timeout) {
        Ok(found) => found,
        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
            Err(ConnectError::NoEndpoint(timeout))
        }
    };
    let endpoint = match endpoint {
        Ok(endpoint) => endpoint,
        Err(e) => {
            transport.stop();
            conn.close(&e.to_string());
            return Err(e);
        }
    };
    debug!("[{name}] message endpoint: {}", redact::url(&endpoint));
    let agent = post_agent(&credentials);
    let endpoint: Arc<str> = endpoint.into();
    let posts = post_workers(&conn, &agent, &endpoint, &credentials, &stopping);
    conn.set_direct(Box::new(posts.clone()));
    let writer = {
        let conn = conn.clone();
        let credentials = credentials.clone();
        spawn_named(
            format!("argus-post-{name}"),
            BACKEND_STACK_BYTES,
            move || {
                let posting = (&outbound, &*posts);
                post_loop(&conn, (&agent, &endpoint), &credentials, posting, &stopping);
            },
        )
    };
    if let Err(e) = writer {
        transport.stop();
        conn.close("cannot start the writer");
        return Err(ConnectError::Thread(e));
    }
    Ok((conn, transport))
}

/// Reads the stream until it ends; the first `endpoint` event goes to
/// `endpoint_tx`, `message` events to the connection. Runs on the
/// transport's reader thread (`argus-sse-<name>`), under no lock.
fn read_stream(
    conn: &Connection,
    mut body: impl Read,
    base: &str,
    endpoint_tx: &EndpointSender,
    stopping: &AtomicBool,
) {
    let name = conn.name().to_owned();
    let mut parser = Parser::new(MAX_BACKEND_MESSAGE_BYTES);
    let mut endpoint_sent = false;
    let mut endpoint_refused = false;
    // Called on this reader thread for each event, under no lock.
    let on_event = |event: crate::sse::Event| {
        match event_kind(&event.event, endpoint_sent) {
            StreamEvent::Endpoint => {
                endpoint_sent = true;
                let resolved =
                    resolve_endpoint(base, event.data.trim()).map_err(ConnectError::Endpoint);
                endpoint_refused = resolved.is_err();
                let _ = endpoint_tx.send(resolved);
                if endpoint_refused {
                    return ControlFlow::Break(());
                }
            }
            StreamEvent::Message => match salvage::event_message(&event) {
                Some(Ok(value)) => conn.dispatch(value),
                Some(Err(bad)) => {
                    if let Some((bad, n)) = conn.unreadable(bad, None) {
                        warn!(
                            "[{name}] unreadable SSE message skipped ({}; {n} so far): {}",
                            bad.fault, bad.preview
                        );
                    }
                }
                None => {}
            },
            StreamEvent::Ignored => debug!("[{name}] SSE event \"{}\" ignored", event.event),
        }
        ControlFlow::Continue(())
    };
    let ended = read_events(
        &mut body,
        &mut parser,
        &|| stopping.load(Ordering::SeqCst),
        on_event,
    );
    if endpoint_refused {
        return;
    }
    if matches!(ended, Ended::TooLarge(_)) {
        // Its call hears why now; the others, that the stream closed.
        let head = parser.oversized_head();
        let bad = salvage::too_long(head, None, MAX_BACKEND_MESSAGE_BYTES);
        let _ = conn.unreadable(bad, None);
    }
    let cause = end_cause(&ended);
    if !endpoint_sent {
        let _ = endpoint_tx.send(Err(ConnectError::StreamEnded(cause.clone())));
    }
    if !stopping.load(Ordering::SeqCst) {
        info!("[{name}] {cause}");
    }
    conn.close(&cause);
}

#[cfg(test)]
mod tests {
    use super::post::PostError;
    use super::*;

    #[test]
    fn post_and_listen_errors_keep_their_texts() {
        assert_eq!(
            PostError::Status(500).to_string(),
            "HTTP 500 from the message endpoint"
        );
        assert_eq!(
            ListenError::Exited.to_string(),
            "the launched process exited before its URL answered"
        );
        assert_eq!(
            ConnectError::NoEndpoint(Duration::from_millis(500)).to_string(),
            "no endpoint event within 0.5s"
        );
    }
}
