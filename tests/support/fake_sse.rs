//! A hostile MCP server over legacy HTTP+SSE, for the SSE backend tests.
//!
//! It speaks just enough MCP (initialize, ping, tools/list, tools/call) and
//! frames every event badly but legally: a BOM first, line ends rotating
//! through LF, CRLF and CR, comments between events, JSON spread over several
//! `data:` lines, and each event written one byte at a time. Modes add the
//! failures under test. Optional bearer-token checks and a token endpoint
//! cover outgoing auth.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// What the endpoint event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/messages?session_id=…` (root-relative).
    Relative,
    /// `http://<same host:port>/messages?…`.
    Absolute,
    /// `http://127.0.0.2:<port>/messages?…`: another origin.
    Foreign,
    /// No endpoint event at all, only comments.
    Never,
}

/// Shared state of a fake server.
#[derive(Default)]
pub struct State {
    sessions: Mutex<HashMap<String, Sender<Vec<u8>>>>,
    /// `GET /sse` requests served (reconnects count).
    pub streams: AtomicUsize,
    /// POSTs received.
    pub posts: AtomicUsize,
    /// TCP connections accepted.
    pub connections: AtomicUsize,
    /// When set, a POST's connection is kept for the next request
    /// (`Connection: keep-alive`); otherwise each answer closes it.
    pub keep_alive: AtomicBool,
    /// When set, every request needs `Authorization: <this>`.
    pub required_auth: Mutex<Option<String>>,
    /// When set, POSTs are answered with this status and dropped.
    pub post_status: Mutex<Option<u16>>,
    /// Requests refused with 401.
    pub unauthorized: AtomicUsize,
    /// The POST of a `stall_post` call is held (no status yet) until this
    /// is set (20 s at most): a server slow to take one message.
    pub released: (Mutex<bool>, Condvar),
    /// POSTs being held now.
    pub stalled: AtomicUsize,
    /// Per `tools/call` POST: its `traceparent` header and the body's
    /// `_meta.traceparent`.
    pub traced: Mutex<Vec<(Option<String>, Option<String>)>>,
}

impl State {
    /// Lets held `stall_post` POSTs be answered.
    pub fn release(&self) {
        *self.released.0.lock().unwrap() = true;
        self.released.1.notify_all();
    }
}

/// A running fake server.
pub struct FakeSse {
    pub addr: SocketAddr,
    pub state: Arc<State>,
}

impl FakeSse {
    pub fn start(endpoint: Endpoint) -> FakeSse {
        let state = Arc::new(State::default());
        let s = state.clone();
        let addr = super::serve_each(move |conn, addr| serve(conn, addr, endpoint, &s));
        FakeSse { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}/sse", self.addr)
    }

    pub fn streams(&self) -> usize {
        self.state.streams.load(Ordering::SeqCst)
    }
}

/// Method, target, lower-cased headers and body of one request.
type RawRequest = (String, String, HashMap<String, String>, Vec<u8>);

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<RawRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some((method, target, headers, body))
}

fn respond(stream: &mut TcpStream, status: u16, body: &str) {
    respond_with(stream, status, body, false);
}

fn respond_with(stream: &mut TcpStream, status: u16, body: &str, keep: bool) {
    let connection = if keep { "keep-alive" } else { "close" };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n{body}",
        body.len()
    );
}

fn serve(stream: TcpStream, addr: SocketAddr, endpoint: Endpoint, state: &State) {
    state.connections.fetch_add(1, Ordering::SeqCst);
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    // A kept-alive connection serves POSTs until the client closes it.
    loop {
        let more = serve_one(&mut reader, &mut writer, addr, endpoint, state);
        if !more || !state.keep_alive.load(Ordering::SeqCst) {
            return;
        }
    }
}

/// Serves one request; whether the connection may serve another.
fn serve_one(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    addr: SocketAddr,
    endpoint: Endpoint,
    state: &State,
) -> bool {
    let Some((method, target, headers, body)) = read_request(reader) else {
        return false;
    };
    let mut writer = writer.try_clone().unwrap();
    if let Some(required) = state.required_auth.lock().unwrap().clone()
        && headers.get("authorization") != Some(&required)
    {
        state.unauthorized.fetch_add(1, Ordering::SeqCst);
        respond(&mut writer, 401, "unauthorized");
        return false;
    }
    match (method.as_str(), target.split('?').next().unwrap_or("")) {
        ("GET", "/sse") => {
            stream_session(writer, addr, endpoint, state);
            false
        }
        ("POST", "/messages") => {
            state.posts.fetch_add(1, Ordering::SeqCst);
            if let Some(status) = *state.post_status.lock().unwrap() {
                respond(&mut writer, status, "nope");
                return false;
            }
            let id = target.rsplit('=').next().unwrap_or("").to_owned();
            let Some(tx) = state.sessions.lock().unwrap().get(&id).cloned() else {
                respond(&mut writer, 404, "no session");
                return false;
            };
            let msg = serde_json::from_slice::<Value>(&body);
            if let Ok(msg) = &msg
                && msg["method"] == "tools/call"
            {
                let meta = msg["params"]["_meta"]["traceparent"].as_str();
                let header = headers.get("traceparent").cloned();
                let seen = (header, meta.map(str::to_owned));
                state.traced.lock().unwrap().push(seen);
            }
            if let Ok(msg) = &msg
                && msg["params"]["name"] == "stall_post"
            {
                state.stalled.fetch_add(1, Ordering::SeqCst);
                let guard = state.released.0.lock().unwrap();
                let _ = state
                    .released
                    .1
                    .wait_timeout_while(guard, Duration::from_secs(20), |released| !*released)
                    .unwrap();
                state.stalled.fetch_sub(1, Ordering::SeqCst);
            }
            let keep = state.keep_alive.load(Ordering::SeqCst);
            respond_with(&mut writer, 202, "Accepted", keep);
            if let Ok(msg) = msg {
                for event in answer(&msg) {
                    let _ = tx.send(event);
                }
            }
            true
        }
        _ => {
            respond(&mut writer, 404, "not found");
            false
        }
    }
}

/// The SSE events that answer one message.
fn answer(msg: &Value) -> Vec<Vec<u8>> {
    let Some(id) = msg.get("id") else {
        return Vec::new();
    };
    let method = msg["method"].as_str().unwrap_or("");
    let result = match method {
        "initialize" => json!({
            "protocolVersion": msg["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "hostile", "version": "1"},
        }),
        "tools/list" => json!({"tools": [
            {"name": "hostile_echo", "inputSchema": {"type": "object"}},
            {"name": "drop", "inputSchema": {"type": "object"}},
            {"name": "huge", "inputSchema": {"type": "object"}},
            {"name": "hang", "inputSchema": {"type": "object"}},
            {"name": "stall_post", "inputSchema": {"type": "object"}},
        ]}),
        "tools/call" => match msg["params"]["name"].as_str() {
            // Never answered.
            Some("hang") => return Vec::new(),
            // Half an event, then the stream is cut.
            Some("drop") => {
                return vec![b"event: message\ndata: {\"jsonrpc\":".to_vec(), Vec::new()];
            }
            Some("huge") => {
                let mut big = b"event: message\ndata: ".to_vec();
                big.extend(std::iter::repeat_n(b'x', 20 * 1024 * 1024));
                big.extend(b"\n\n");
                return vec![big];
            }
            _ => {
                json!({"content": [{"type": "text", "text": format!("hostile:{}", msg["params"]["arguments"])}]})
            }
        },
        "ping" => json!({}),
        _ => {
            return vec![event(
                &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no"}}),
            )];
        }
    };
    vec![event(
        &json!({"jsonrpc": "2.0", "id": id, "result": result}),
    )]
}

/// Frames a message as an event with pretty (multi-line) JSON, so its data
/// spans several `data:` lines; the writer picks the line endings.
fn event(message: &Value) -> Vec<u8> {
    let text = serde_json::to_string_pretty(message).unwrap();
    let mut out = b": comment before the event\n".to_vec();
    out.extend(b"event: message\n");
    for line in text.lines() {
        out.extend(b"data: ");
        out.extend(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

fn stream_session(mut w: TcpStream, addr: SocketAddr, endpoint: Endpoint, state: &State) {
    let n = state.streams.fetch_add(1, Ordering::SeqCst);
    let session = format!("s{n}");
    let (tx, rx) = channel::<Vec<u8>>();
    state.sessions.lock().unwrap().insert(session.clone(), tx);
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
    if w.write_all(head.as_bytes()).is_err() {
        return;
    }
    let data = match endpoint {
        Endpoint::Relative => format!("/messages?session_id={session}"),
        Endpoint::Absolute => format!("http://{addr}/messages?session_id={session}"),
        Endpoint::Foreign => format!(
            "http://127.0.0.2:{}/messages?session_id={session}",
            addr.port()
        ),
        Endpoint::Never => String::new(),
    };
    let first = if data.is_empty() {
        "\u{FEFF}: hello, no endpoint for you\n\n".to_owned()
    } else {
        format!("\u{FEFF}: hello\n\nevent: endpoint\ndata: {data}\n\n")
    };
    let endings: [&[u8]; 3] = [b"\n", b"\r\n", b"\r"];
    let mut k = 0;
    let mut write_event = |w: &mut TcpStream, bytes: &[u8]| -> bool {
        k += 1;
        // Rewrite LF line ends to this event's choice, then write byte by byte.
        let mut framed = Vec::with_capacity(bytes.len());
        for &b in bytes {
            if b == b'\n' {
                framed.extend_from_slice(endings[k % 3]);
            } else {
                framed.push(b);
            }
        }
        if framed.len() > 4096 {
            return w.write_all(&framed).is_ok();
        }
        framed
            .iter()
            .all(|b| w.write_all(std::slice::from_ref(b)).is_ok())
    };
    if !write_event(&mut w, first.as_bytes()) {
        return;
    }
    while let Ok(event) = rx.recv_timeout(Duration::from_secs(600)) {
        if event.is_empty() {
            // The "drop" answer: cut the stream mid-event.
            break;
        }
        if !write_event(&mut w, b": keepalive\n\n") || !write_event(&mut w, &event) {
            break;
        }
    }
    state.sessions.lock().unwrap().remove(&session);
    let _ = w.shutdown(std::net::Shutdown::Both);
}

/// An OAuth 2 token endpoint that hands out `tok-1`, `tok-2`, ... and makes
/// the newest token the one the fake server requires.
pub struct TokenServer {
    pub addr: SocketAddr,
    pub issued: Arc<AtomicUsize>,
    pub last_form: Arc<Mutex<String>>,
}

impl TokenServer {
    pub fn start(server: Arc<State>, expires_in: u64) -> TokenServer {
        let issued = Arc::new(AtomicUsize::new(0));
        let last_form = Arc::new(Mutex::new(String::new()));
        let (i, f) = (issued.clone(), last_form.clone());
        let addr = super::serve_each(move |conn, _| {
            let mut writer = conn.try_clone().unwrap();
            let mut reader = BufReader::new(conn);
            let Some((_, _, _, body)) = read_request(&mut reader) else {
                return;
            };
            *f.lock().unwrap() = String::from_utf8_lossy(&body).into_owned();
            let n = i.fetch_add(1, Ordering::SeqCst) + 1;
            *server.required_auth.lock().unwrap() = Some(format!("Bearer tok-{n}"));
            let body = json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": expires_in}).to_string();
            let _ = write!(
                writer,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        });
        TokenServer {
            addr,
            issued,
            last_form,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    pub fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }

    /// Invalidates every issued token (the next use gets 401).
    pub fn revoke(&self, server: &State) {
        *server.required_auth.lock().unwrap() = Some("Bearer revoked".into());
    }
}
