//! The legacy HTTP+SSE transport to a backend (PRODUCT §7, mcp-protocol.md §3.4).
//!
//! `GET url` with `Accept: text/event-stream` on an agent of its own (so
//! [`SseTransport::stop`] can cut the blocked read at once with
//! `Agent::shutdown`), read by our SSE parser on a reader thread. The first
//! `endpoint` event's data is resolved against `url` (RFC 3986); another
//! origin is refused. `message` events carry JSON-RPC for
//! `Connection::dispatch`; empty data (priming) is skipped; one that cannot
//! be read (not UTF-8, not JSON, nested too deep) fails the call it answers
//! at once when `salvage` finds its id, and so does an event over the size
//! limit before the stream is dropped for it. A writer thread
//! POSTs each outgoing message to the endpoint on a second agent; a non-2xx
//! answer fails that request, a JSON body in the answer is taken as a reply
//! (some servers answer in the POST), a 401 refreshes OAuth 2 once. When the
//! stream ends the connection closes and the supervisor reconnects.

use std::io::Read;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use serde_json::Value;
use ureq::Agent;

use super::agent::Limits;
use super::auth::{Credentials, with_headers};
use super::connection::{CallError, Connection, Frame};
use super::events::EventSender;
use super::salvage;
use super::sse_read::{Ended, read_events};
use crate::limits::{
    BACKEND_STACK_BYTES, MAX_BACKEND_MESSAGE_BYTES, MAX_CONCURRENT_POSTS, SSE_IDLE_TIMEOUT,
};
use crate::queue::Receiver;
use crate::redact;
use crate::sse::Parser;
use crate::workers::Bounded;

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

/// Opens the stream, waits for the `endpoint` event (at most `timeout`),
/// and returns the connection. `events` gets notifications and the close.
pub fn connect(
    name: &str,
    url: &str,
    credentials: Arc<Credentials>,
    timeout: Duration,
    events: EventSender,
) -> Result<(Arc<Connection>, SseTransport), String> {
    let stream_agent = credentials.agent(Limits::stream(timeout, SSE_IDLE_TIMEOUT));
    let response = credentials
        .send(|headers| {
            let request = stream_agent
                .get(url)
                .header("Accept", "text/event-stream")
                .header("Cache-Control", "no-cache");
            with_headers(request, &headers).call()
        })
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(format!("GET {url}: HTTP {status}"));
    }
    let kind = super::content_type(&response);
    if kind != "text/event-stream" {
        return Err(format!(
            "GET {url}: expected text/event-stream, got \"{kind}\""
        ));
    }
    info!("[{name}] SSE stream open: {}", redact::url(url));
    let (conn, outbound) = Connection::new(name, events).map_err(|e| e.to_string())?;
    let stopping = Arc::new(AtomicBool::new(false));
    let (endpoint_tx, endpoint_rx) = sync_channel::<Result<String, String>>(1);
    let reader = {
        let conn = conn.clone();
        let stopping = stopping.clone();
        let base = url.to_owned();
        let body = response.into_body().into_reader();
        thread::Builder::new()
            .name(format!("argus-sse-{name}"))
            .stack_size(BACKEND_STACK_BYTES)
            .spawn(move || read_stream(&conn, body, &base, &endpoint_tx, &stopping))
    };
    let transport = SseTransport {
        name: name.to_owned(),
        stream_agent: Mutex::new(Some(stream_agent)),
        stopping: stopping.clone(),
    };
    if let Err(e) = reader {
        transport.stop();
        return Err(e.to_string());
    }
    let endpoint = match endpoint_rx.recv_timeout(timeout) {
        Ok(Ok(endpoint)) => endpoint,
        Ok(Err(e)) => {
            transport.stop();
            conn.close(&e);
            return Err(e);
        }
        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
            let e = format!("no endpoint event within {:.1}s", timeout.as_secs_f64());
            transport.stop();
            conn.close(&e);
            return Err(e);
        }
    };
    debug!("[{name}] message endpoint: {}", redact::url(&endpoint));
    let writer = {
        let conn = conn.clone();
        let credentials = credentials.clone();
        thread::Builder::new()
            .name(format!("argus-post-{name}"))
            .stack_size(BACKEND_STACK_BYTES)
            .spawn(move || post_loop(&conn, &endpoint, &credentials, &outbound, &stopping))
    };
    if let Err(e) = writer {
        transport.stop();
        conn.close("cannot start the writer");
        return Err(e.to_string());
    }
    Ok((conn, transport))
}

/// Reads the stream until it ends; the first `endpoint` event goes to
/// `endpoint_tx`, `message` events to the connection.
fn read_stream(
    conn: &Connection,
    mut body: impl Read,
    base: &str,
    endpoint_tx: &SyncSender<Result<String, String>>,
    stopping: &AtomicBool,
) {
    let name = conn.name().to_owned();
    let mut parser = Parser::new(MAX_BACKEND_MESSAGE_BYTES);
    let mut endpoint_sent = false;
    let mut endpoint_refused = false;
    let ended = read_events(
        &mut body,
        &mut parser,
        &|| stopping.load(Ordering::SeqCst),
        |event| {
            match event.event.as_str() {
                "endpoint" if !endpoint_sent => {
                    endpoint_sent = true;
                    let resolved = resolve_endpoint(base, event.data.trim());
                    endpoint_refused = resolved.is_err();
                    let _ = endpoint_tx.send(resolved);
                    if endpoint_refused {
                        return ControlFlow::Break(());
                    }
                }
                "message" => match salvage::event_message(&event) {
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
                other => debug!("[{name}] SSE event \"{other}\" ignored"),
            }
            ControlFlow::Continue(())
        },
    );
    if endpoint_refused {
        return;
    }
    let cause = match ended {
        Ended::Stopped | Ended::Handler => "stream closed by the gateway".to_owned(),
        Ended::Eof => "the server ended the SSE stream".to_owned(),
        Ended::Idle => format!("SSE stream idle for {}s", SSE_IDLE_TIMEOUT.as_secs()),
        Ended::Failed(e) => format!("SSE stream failed: {e}"),
        Ended::TooLarge(e) => {
            // Its call hears why now; the others, that the stream closed.
            let head = parser.oversized_head();
            let bad = salvage::too_long(head, None, MAX_BACKEND_MESSAGE_BYTES);
            let _ = conn.unreadable(bad, None);
            format!("{e} (limit {MAX_BACKEND_MESSAGE_BYTES} bytes); dropping the stream")
        }
    };
    if !endpoint_sent {
        let _ = endpoint_tx.send(Err(cause.clone()));
    }
    if !stopping.load(Ordering::SeqCst) {
        info!("[{name}] {cause}");
    }
    conn.close(&cause);
}

/// POSTs every outgoing message to the endpoint: requests on workers (at
/// most `MAX_CONCURRENT_POSTS` at once), so one the server is slow to take
/// never holds up the rest; notifications and answers in order, here.
fn post_loop(
    conn: &Arc<Connection>,
    endpoint: &str,
    credentials: &Arc<Credentials>,
    outbound: &Receiver<Frame>,
    stopping: &Arc<AtomicBool>,
) {
    let agent = credentials.agent(Limits::exchange(Duration::from_secs(30)));
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
            .filter(|_| frame.method.as_deref() != Some("initialize"));
        if let Some(id) = request {
            let (task_conn, agent, endpoint, credentials, stopping) = (
                conn.clone(),
                agent.clone(),
                endpoint.clone(),
                credentials.clone(),
                stopping.clone(),
            );
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
    if let Err(why) = post_one(agent, conn, endpoint, credentials, &frame.bytes) {
        match frame.id {
            Some(id) => conn.fail(id, CallError::Send(why)),
            None => warn!(
                "[{}] message not delivered: {}",
                conn.name(),
                redact::text(&why)
            ),
        }
    }
}

fn post_one(
    agent: &Agent,
    conn: &Connection,
    endpoint: &str,
    credentials: &Credentials,
    message: &[u8],
) -> Result<(), String> {
    let mut response = credentials
        .send(|headers| {
            let request = agent
                .post(endpoint)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream");
            with_headers(request, &headers).send(message)
        })
        .map_err(|e| format!("POST failed: {e}"))?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(format!("HTTP {status} from the message endpoint"));
    }
    // Tolerate servers that answer in the POST body (mcp-protocol.md §9.4).
    if super::content_type(&response) == "application/json" {
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BACKEND_MESSAGE_BYTES as u64)
            .read_to_vec()
            .map_err(|e| format!("reading the POST answer: {e}"))?;
        if let Ok(value) = serde_json::from_slice::<Value>(&body)
            && value.get("jsonrpc").is_some()
        {
            conn.dispatch(value);
        }
    }
    Ok(())
}

/// `scheme://authority` and the path of an absolute http(s) URL.
fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let path = path.split(['?', '#']).next().unwrap_or("");
    Some((scheme, authority, path))
}

/// Host (without brackets) and port of an authority, the port defaulting by scheme.
fn host_port(scheme: &str, authority: &str) -> (String, u16) {
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let default = if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, after)) => (h, after.strip_prefix(':')),
            None => (rest, None),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = port.and_then(|p| p.parse().ok()).unwrap_or(default);
    (host.to_ascii_lowercase(), port)
}

/// The origin (scheme, host, port) of a URL, comparable across spellings.
fn origin(scheme: &str, authority: &str) -> (String, String, u16) {
    let (host, port) = host_port(scheme, authority);
    (scheme.to_ascii_lowercase(), host, port)
}

/// Resolves the `endpoint` event's data against the SSE URL (RFC 3986 §5.2)
/// and refuses another origin.
pub fn resolve_endpoint(base: &str, reference: &str) -> Result<String, String> {
    if reference.is_empty() {
        return Err("empty endpoint event".into());
    }
    if reference.contains(['\r', '\n', ' ']) {
        return Err("endpoint contains whitespace".into());
    }
    let (scheme, authority, base_path) =
        split_url(base).ok_or_else(|| format!("bad backend URL {base}"))?;
    let resolved = if reference.contains("://") {
        reference.to_owned()
    } else if let Some(rest) = reference.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if reference.starts_with('/') {
        format!("{scheme}://{authority}{}", remove_dots(reference))
    } else if reference.starts_with('?') {
        format!("{scheme}://{authority}{base_path}{reference}")
    } else {
        let dir = base_path.rfind('/').map_or("/", |i| &base_path[..=i]);
        format!(
            "{scheme}://{authority}{}",
            remove_dots(&format!("{dir}{reference}"))
        )
    };
    let (r_scheme, r_authority, _) =
        split_url(&resolved).ok_or_else(|| format!("bad endpoint {reference}"))?;
    if origin(r_scheme, r_authority) != origin(scheme, authority) {
        return Err(format!(
            "endpoint {resolved} is on another origin than {base}; refused"
        ));
    }
    Ok(resolved)
}

/// Removes `.` and `..` segments from a path (keeping its query).
fn remove_dots(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.find(['?', '#']) {
        Some(i) => path_and_query.split_at(i),
        None => (path_and_query, ""),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {
                if i == segments.len() - 1 {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == segments.len() - 1 {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("{}{query}", out.join("/"))
}

/// Waits until something accepts TCP connections at `url`'s host and port,
/// at most `limit` (a launched backend's `sse_startup`); polls every 50 ms.
/// Gives up early when `exited` says the launched process is gone.
pub fn wait_until_listening(
    url: &str,
    limit: Duration,
    exited: impl Fn() -> bool,
) -> Result<(), String> {
    let (scheme, authority, _) = split_url(url).ok_or_else(|| format!("bad URL {url}"))?;
    let (host, port) = host_port(scheme, authority);
    let deadline = Instant::now() + limit;
    loop {
        let addrs = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port));
        for addr in addrs.into_iter().flatten() {
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
        }
        if exited() {
            return Err("the launched process exited before its URL answered".into());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{url} did not answer within {:.1}s of launch",
                limit.as_secs_f64()
            ));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_resolution() {
        let base = "http://127.0.0.1:8000/sse";
        assert_eq!(
            resolve_endpoint(base, "/messages/?session_id=ab").unwrap(),
            "http://127.0.0.1:8000/messages/?session_id=ab"
        );
        assert_eq!(
            resolve_endpoint(base, "/message?sessionId=x").unwrap(),
            "http://127.0.0.1:8000/message?sessionId=x"
        );
        assert_eq!(
            resolve_endpoint("http://h/api/v1/sse", "messages?x=1").unwrap(),
            "http://h/api/v1/messages?x=1"
        );
        assert_eq!(
            resolve_endpoint("http://h/api/v1/sse", "../m").unwrap(),
            "http://h/api/m"
        );
        assert_eq!(
            resolve_endpoint(base, "http://127.0.0.1:8000/m").unwrap(),
            "http://127.0.0.1:8000/m"
        );
        assert_eq!(
            resolve_endpoint("https://h/sse", "https://H:443/m").unwrap(),
            "https://H:443/m"
        );
        assert!(resolve_endpoint(base, "http://127.0.0.1:8001/m").is_err());
        assert!(resolve_endpoint(base, "https://127.0.0.1:8000/m").is_err());
        assert!(resolve_endpoint(base, "//evil.example/m").is_err());
        assert!(resolve_endpoint(base, "").is_err());
    }
}
