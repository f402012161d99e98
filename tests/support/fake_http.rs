//! A small MCP server over Streamable HTTP for the backend tests: sessions
//! it can forget on demand (to force a re-initialize), answers in JSON or as
//! an SSE stream with progress first, no GET stream (405), and a record of
//! the DELETEs it received. Tool `polled` ends its answer stream early (SSE
//! polling, SEP-1699: a priming event with an id and `retry:`, progress,
//! then the close); a GET with `Last-Event-ID` gets the rest.

#![allow(dead_code)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

/// Shared state of the fake.
#[derive(Default)]
pub struct State {
    pub sessions: Mutex<HashSet<String>>,
    pub deleted: Mutex<Vec<String>>,
    pub initializes: AtomicUsize,
    /// Header values seen on POSTs, for assertions: (session id, protocol version).
    pub seen: Mutex<Vec<(Option<String>, Option<String>)>>,
    /// `polled` answers not yet fetched, by the stream's event-id prefix.
    pub polled: Mutex<std::collections::HashMap<String, Value>>,
    /// The `Last-Event-ID`s of the GETs that resumed a stream.
    pub resumed: Mutex<Vec<String>>,
    /// Per `tools/call` POST: its `traceparent` header and the body's
    /// `_meta.traceparent`.
    pub traced: Mutex<Vec<(Option<String>, Option<String>)>>,
}

pub struct FakeHttp {
    pub addr: SocketAddr,
    pub state: Arc<State>,
}

impl FakeHttp {
    pub fn start() -> FakeHttp {
        let state = Arc::new(State::default());
        let s = state.clone();
        let addr = super::serve_each(move |conn, _| serve(conn, &s));
        FakeHttp { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// Forgets every session, as a restarted server would.
    pub fn forget_sessions(&self) {
        self.state.sessions.lock().unwrap().clear();
    }
}

fn serve(stream: TcpStream, state: &State) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let method = line.split_whitespace().next().unwrap_or("").to_owned();
        let mut session = None;
        let mut version = None;
        let mut len = 0usize;
        let mut last_event = None;
        let mut traceparent = None;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap_or((h, ""));
            match k.trim().to_ascii_lowercase().as_str() {
                "mcp-session-id" => session = Some(v.trim().to_owned()),
                "mcp-protocol-version" => version = Some(v.trim().to_owned()),
                "content-length" => len = v.trim().parse().unwrap_or(0),
                "last-event-id" => last_event = Some(v.trim().to_owned()),
                "traceparent" => traceparent = Some(v.trim().to_owned()),
                _ => {}
            }
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let reply = |w: &mut TcpStream, status: u16, headers: &str, body: &str| {
            let _ = write!(
                w,
                "HTTP/1.1 {status} X\r\n{headers}Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
        };
        match method.as_str() {
            "GET" => match last_event {
                Some(last) => {
                    state.resumed.lock().unwrap().push(last.clone());
                    let prefix = last.rsplit_once('-').map_or("", |(p, _)| p).to_owned();
                    match state.polled.lock().unwrap().remove(&prefix) {
                        Some(result) => {
                            let events =
                                format!("id: {prefix}-2\nevent: message\ndata: {result}\n\n");
                            reply(&mut w, 200, "Content-Type: text/event-stream\r\n", &events);
                        }
                        None => reply(&mut w, 404, "", ""),
                    }
                }
                None => reply(&mut w, 405, "Allow: POST, DELETE\r\n", ""),
            },
            "DELETE" => {
                if let Some(id) = session {
                    state.sessions.lock().unwrap().remove(&id);
                    state.deleted.lock().unwrap().push(id);
                }
                reply(&mut w, 200, "", "");
            }
            "POST" => {
                let msg: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                state
                    .seen
                    .lock()
                    .unwrap()
                    .push((session.clone(), version.clone()));
                let m = msg["method"].as_str().unwrap_or("");
                if m == "tools/call" {
                    let meta = msg["params"]["_meta"]["traceparent"].as_str();
                    let seen = (traceparent.clone(), meta.map(str::to_owned));
                    state.traced.lock().unwrap().push(seen);
                }
                if m == "initialize" {
                    let n = state.initializes.fetch_add(1, Ordering::SeqCst);
                    let id = format!("fake-session-{n}");
                    state.sessions.lock().unwrap().insert(id.clone());
                    let result = json!({"jsonrpc": "2.0", "id": msg["id"], "result": {
                        "protocolVersion": msg["params"]["protocolVersion"],
                        "capabilities": {"tools": {}},
                        "serverInfo": {"name": "fake-http", "version": "1"}}});
                    let headers =
                        format!("Content-Type: application/json\r\nMcp-Session-Id: {id}\r\n");
                    reply(&mut w, 200, &headers, &result.to_string());
                    continue;
                }
                if !session.is_some_and(|s| state.sessions.lock().unwrap().contains(&s)) {
                    reply(
                        &mut w,
                        404,
                        "Content-Type: application/json\r\n",
                        r#"{"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"},"id":null}"#,
                    );
                    continue;
                }
                if msg.get("id").is_none() {
                    reply(&mut w, 202, "", "");
                    continue;
                }
                match m {
                    "tools/list" => {
                        let result = json!({"jsonrpc": "2.0", "id": msg["id"], "result": {"tools": [
                            {"name": "plain", "inputSchema": {"type": "object"}},
                            {"name": "slow", "inputSchema": {"type": "object"}},
                            {"name": "streamed", "inputSchema": {"type": "object"}},
                            {"name": "polled", "inputSchema": {"type": "object"}}]}});
                        reply(
                            &mut w,
                            200,
                            "Content-Type: application/json\r\n",
                            &result.to_string(),
                        );
                    }
                    "tools/call" if msg["params"]["name"] == "slow" => {
                        // JSON mode: the answer comes only when the work is done.
                        thread::sleep(Duration::from_millis(1500));
                        let result = json!({"jsonrpc": "2.0", "id": msg["id"], "result": {"content": [{"type": "text", "text": "fake slow"}]}});
                        reply(
                            &mut w,
                            200,
                            "Content-Type: application/json\r\n",
                            &result.to_string(),
                        );
                    }
                    "tools/call" if msg["params"]["name"] == "polled" => {
                        // A priming event (id, retry, no data), progress, and
                        // the end of the stream before the answer.
                        let prefix = format!("poll{}", msg["id"]);
                        let token = msg["params"]["_meta"]["progressToken"].clone();
                        let p = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": token, "progress": 1}});
                        let events = format!(
                            "id: {prefix}-0\nretry: 50\ndata:\n\nid: {prefix}-1\nevent: message\ndata: {p}\n\n"
                        );
                        let result = json!({"jsonrpc": "2.0", "id": msg["id"], "result": {"content": [{"type": "text", "text": "fake polled"}]}});
                        state.polled.lock().unwrap().insert(prefix, result);
                        reply(&mut w, 200, "Content-Type: text/event-stream\r\n", &events);
                    }
                    "tools/call" if msg["params"]["name"] == "streamed" => {
                        // An SSE answer: progress first, then the result, then the end.
                        let token = msg["params"]["_meta"]["progressToken"].clone();
                        let mut events = String::new();
                        for i in 1..=2 {
                            let p = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": token, "progress": i}});
                            events.push_str(&format!("event: message\ndata: {p}\n\n"));
                        }
                        let result = json!({"jsonrpc": "2.0", "id": msg["id"], "result": {"content": [{"type": "text", "text": "fake streamed"}]}});
                        events.push_str(&format!("id: e1\nevent: message\ndata: {result}\n\n"));
                        reply(&mut w, 200, "Content-Type: text/event-stream\r\n", &events);
                    }
                    _ => {
                        let result = json!({"jsonrpc": "2.0", "id": msg["id"], "result": {"content": [{"type": "text", "text": format!("fake {}", msg["params"]["name"])}]}});
                        reply(
                            &mut w,
                            200,
                            "Content-Type: application/json\r\n",
                            &result.to_string(),
                        );
                    }
                }
            }
            _ => reply(&mut w, 405, "", ""),
        }
    }
}
