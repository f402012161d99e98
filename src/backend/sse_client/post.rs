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
use crate::backend::connection::{Backlog, CallError, Connection, Frame};
use crate::backend::content_type;
use crate::backend::post_workers::PostWorkers;
use crate::limits::{BACKEND_STACK_BYTES, MAX_BACKEND_MESSAGE_BYTES, MAX_CONCURRENT_POSTS};
use crate::redact;

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

/// The agent of POSTs to the message endpoint.
pub(super) fn post_agent(credentials: &Credentials) -> Agent {
    credentials.agent(Limits::exchange(POST_TIMEOUT))
}

/// The workers that POST requests to `endpoint` (at most
/// `MAX_CONCURRENT_POSTS` at once), so one the server is slow to take never
/// holds up the rest. They hold the connection weakly: it owns them.
pub(super) fn post_workers(
    conn: &Arc<Connection>,
    agent: &Agent,
    endpoint: &Arc<str>,
    credentials: &Arc<Credentials>,
    stopping: &Arc<AtomicBool>,
) -> Arc<PostWorkers> {
    let (weak, agent, endpoint, credentials, stopping) = (
        Arc::downgrade(conn),
        agent.clone(),
        endpoint.clone(),
        credentials.clone(),
        stopping.clone(),
    );
    // Runs on a worker (`argus-call-<name>`), under no lock.
    let post = move |frame: Frame| {
        if let Some(conn) = weak.upgrade()
            && !stopping.load(Ordering::SeqCst)
        {
            deliver(&agent, &conn, &endpoint, &credentials, &frame);
        }
    };
    PostWorkers::new(
        &format!("argus-call-{}", conn.name()),
        BACKEND_STACK_BYTES,
        MAX_CONCURRENT_POSTS,
        Box::new(post),
    )
}

/// POSTs every outgoing message in order: requests are handed to `posts`,
/// notifications and answers POSTed here. Runs on the transport's writer
/// thread (`argus-post-<name>`).
pub(super) fn post_loop(
    conn: &Arc<Connection>,
    (agent, endpoint): (&Agent, &str),
    credentials: &Arc<Credentials>,
    (outbound, posts): (&Backlog, &PostWorkers),
    stopping: &Arc<AtomicBool>,
) {
    while let Ok(frame) = outbound.recv() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        if frame.is_call() {
            posts.hand_on(conn, frame);
            outbound.written();
            continue;
        }
        deliver(agent, conn, endpoint, credentials, &frame);
        outbound.written();
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
    } else {
        crate::backend::drain(response.body_mut());
    }
    Ok(())
}
