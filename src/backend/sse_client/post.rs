//! The writer of a legacy SSE transport: every outgoing message is POSTed
//! to the message endpoint (requests on bounded workers, the rest in order
//! on the writer thread); a non-2xx answer fails its request, a JSON-RPC
//! message in the answer's body is dispatched. The endpoint itself comes
//! from the stream (`mod.rs`); nothing here reads the stream.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use log::warn;
use ureq::Agent;

use super::decide::reply_in_post_body;
use crate::backend::agent::Limits;
use crate::backend::auth::{Credentials, SendError, with_headers};
use crate::backend::connection::{CallError, Connection, Frame};
use crate::backend::content_type;
use crate::limits::{BACKEND_STACK_BYTES, MAX_BACKEND_MESSAGE_BYTES, MAX_CONCURRENT_POSTS};
use crate::mcp::method;
use crate::queue::Receiver;
use crate::redact;
use crate::workers::Bounded;

/// The whole-exchange timeout of a POST to the message endpoint.
const POST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a POST to the message endpoint failed.
#[derive(Debug)]
pub(super) enum PostError {
    /// No response (connect, TLS, timeout, credentials).
    Send(SendError),
    /// A non-2xx status.
    Status(u16),
    /// The JSON body of the answer could not be read.
    Read(ureq::Error),
}

impl fmt::Display for PostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostError::Send(e) => write!(f, "POST failed: {e}"),
            PostError::Status(status) => write!(f, "HTTP {status} from the message endpoint"),
            PostError::Read(e) => write!(f, "reading the POST answer: {e}"),
        }
    }
}

impl std::error::Error for PostError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PostError::Send(e) => Some(e),
            PostError::Read(e) => Some(e),
            PostError::Status(_) => None,
        }
    }
}

/// POSTs every outgoing message to the endpoint: requests on workers (at
/// most `MAX_CONCURRENT_POSTS` at once), so one the server is slow to take
/// never holds up the rest; notifications and answers in order, here.
/// Runs on the transport's writer thread (`argus-post-<name>`).
pub(super) fn post_loop(
    conn: &Arc<Connection>,
    endpoint: &str,
    credentials: &Arc<Credentials>,
    outbound: &Receiver<Frame>,
    stopping: &Arc<AtomicBool>,
) {
    let agent = credentials.agent(Limits::exchange(POST_TIMEOUT));
    let posts = Bounded::new(
        &format!("argus-call-{}", conn.name()),
        BACKEND_STACK_BYTES,
        MAX_CONCURRENT_POSTS,
    );
    let endpoint: Arc<str> = endpoint.into();
    while let Ok(frame) = outbound.recv() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let request = frame
            .id
            .filter(|_| frame.method.as_deref() != Some(method::INITIALIZE));
        if let Some(id) = request {
            let (task_conn, agent, endpoint, credentials, stopping) = (
                conn.clone(),
                agent.clone(),
                endpoint.clone(),
                credentials.clone(),
                stopping.clone(),
            );
            // Runs on a worker thread of `posts` (`argus-call-<name>`),
            // under no lock.
            let spawned = posts.run(Box::new(move || {
                if !stopping.load(Ordering::SeqCst) {
                    deliver(&agent, &task_conn, &endpoint, &credentials, &frame);
                }
            }));
            if let Err(e) = spawned {
                conn.fail(id, CallError::Send(format!("cannot start a worker: {e}")));
            }
            continue;
        }
        deliver(&agent, conn, &endpoint, credentials, &frame);
    }
}

/// POSTs one message; a failure goes to its request, or to the log.
fn deliver(
    agent: &Agent,
    conn: &Connection,
    endpoint: &str,
    credentials: &Credentials,
    frame: &Frame,
) {
    if let Err(why) = post_one(agent, conn, endpoint, credentials, frame) {
        match frame.id {
            Some(id) => conn.fail(id, CallError::Send(why.to_string())),
            None => warn!(
                "[{}] message not delivered: {}",
                conn.name(),
                redact::text(&why.to_string())
            ),
        }
    }
}

/// POSTs one message; a JSON-RPC message in the answer's body is dispatched.
fn post_one(
    agent: &Agent,
    conn: &Connection,
    endpoint: &str,
    credentials: &Credentials,
    frame: &Frame,
) -> Result<(), PostError> {
    let mut response = credentials
        .send(|headers| {
            let request = agent
                .post(endpoint)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream");
            // The frame's own (a trace context), then the credentials.
            let request = with_headers(request, &frame.headers);
            with_headers(request, &headers).send(&frame.bytes[..])
        })
        .map_err(PostError::Send)?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(PostError::Status(status));
    }
    if content_type(&response) == "application/json" {
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BACKEND_MESSAGE_BYTES as u64)
            .read_to_vec()
            .map_err(PostError::Read)?;
        if let Some(reply) = reply_in_post_body(&body) {
            conn.dispatch(reply);
        }
    }
    Ok(())
}
