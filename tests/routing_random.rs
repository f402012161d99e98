//! No lost or crossed messages: several clients at once, each
//! a random sequence of calls, calls with progress, sampling answered by the
//! client, cancellations, log levels and subscriptions, over backends of
//! all three transports. Every request gets exactly one answer with its own
//! id; no client ever sees another's progress, sampling request, log or
//! resource update. Half the clients use `/sse`, half `/mcp`. The seed is
//! printed; `ARGUS_TEST_SEED` replays one.
//!
//! One limit is the protocol's, not ours: a legacy SSE backend's request
//! carries nothing that ties it to the call it serves, so the gateway takes
//! the most recent call in flight on that backend (DESIGN.md "Routing
//! backend requests"). Sampling through that backend therefore runs alone
//! on it (a write lock that its other calls share as readers). The stdio
//! backend names the call by its progress token, and the Streamable HTTP
//! backend sends the request on the call's own stream: those run freely.

use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    Gateway, LocalServer, SseClient, connect, fixture, free_port, python, read_chunk,
    read_response, wait_until,
};

const CLIENTS: usize = 6;
const OPERATIONS: usize = 60;

/// xorshift64*: small, deterministic, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Client `name`'s answer to a sampling request, which must be its own
/// (its prompt starts with the name): the prompt with a `!`.
fn sampling_answer(name: &str, request: &Value) -> Value {
    let prompt = request["params"]["messages"][0]["content"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        prompt.starts_with(&format!("{name}-")),
        "{name}: another client's sampling request: {request}"
    );
    json!({"jsonrpc": "2.0", "id": request["id"], "result": {
        "role": "assistant", "model": "m",
        "content": {"type": "text", "text": format!("{prompt}!")}}})
}

/// What one client is allowed to see, and what it is still owed.
struct Client {
    name: String,
    sse: SseClient,
    addr: std::net::SocketAddr,
    wants_logs: bool,
    subscribed: bool,
    /// Requests sent and not yet answered.
    waiting: HashSet<String>,
    /// Cancelled requests: an answer for one is a failure.
    cancelled: HashSet<String>,
    /// Progress tokens of this client.
    tokens: HashSet<String>,
    /// Answers received, by id.
    answers: HashMap<String, Value>,
    seen_logs: usize,
}

impl Client {
    fn post(&self, message: Value) {
        assert_eq!(self.sse.post(self.addr, &message.to_string()).status, 202);
    }

    fn request(&mut self, id: &str, method: &str, params: Value) {
        self.waiting.insert(id.to_owned());
        self.post(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
    }

    /// Reads one message and checks that it is this client's.
    fn take_one(&mut self) {
        let msg = self.sse.next_message().unwrap_or_else(|| {
            panic!(
                "{}: stream ended or went quiet, waiting for {:?}",
                self.name, self.waiting
            )
        });
        let method = msg["method"].as_str().unwrap_or("");
        match method {
            "" => {
                let id = msg["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}: {msg}", self.name))
                    .to_owned();
                assert!(
                    !self.cancelled.contains(&id),
                    "{}: answer to cancelled {id}: {msg}",
                    self.name
                );
                assert!(
                    self.waiting.remove(&id),
                    "{}: answer to {id}, which it is not waiting for (a duplicate or another's): {msg}",
                    self.name
                );
                self.answers.insert(id, msg);
            }
            "notifications/progress" => {
                let token = msg["params"]["progressToken"].as_str().unwrap_or_default();
                assert!(
                    self.tokens.contains(token),
                    "{}: foreign progress {msg}",
                    self.name
                );
            }
            "notifications/message" => {
                assert!(
                    self.wants_logs,
                    "{}: a log it did not ask for: {msg}",
                    self.name
                );
                self.seen_logs += 1;
            }
            "notifications/resources/updated" => {
                assert!(
                    self.subscribed,
                    "{}: an update it did not subscribe to: {msg}",
                    self.name
                );
            }
            "sampling/createMessage" => self.post(sampling_answer(&self.name, &msg)),
            m if m.ends_with("/list_changed") => {}
            other => panic!("{}: unexpected {other}: {msg}", self.name),
        }
    }

    /// Reads until `id` is answered; returns the answer's text.
    fn answer(&mut self, id: &str) -> String {
        while !self.answers.contains_key(id) {
            self.take_one();
        }
        let msg = &self.answers[id];
        msg["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: {id} got {msg}", self.name))
            .to_owned()
    }
}

/// An SSE event stream read from a chunked body, event by event.
struct Events {
    reader: BufReader<TcpStream>,
    pending: String,
}

impl Events {
    /// The next event's data (comments skipped); `None` at the end.
    fn next(&mut self) -> Option<String> {
        loop {
            while let Some(end) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..end + 2).collect();
                let data: Vec<&str> = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                if !data.is_empty() {
                    return Some(data.join("\n"));
                }
            }
            let chunk = read_chunk(&mut self.reader)?;
            if chunk.is_empty() {
                return None;
            }
            self.pending.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// A raw Streamable HTTP client: each request is a POST whose answer (and
/// what comes before it: progress, the backend's requests) arrives on that
/// POST; logs and updates arrive on the session's GET stream, read by a
/// thread of its own into `general`.
struct McpClient {
    name: String,
    addr: std::net::SocketAddr,
    session: String,
    general: std::sync::mpsc::Receiver<Value>,
    wants_logs: bool,
    subscribed: bool,
    tokens: HashSet<String>,
}

impl McpClient {
    fn open(name: &str, addr: std::net::SocketAddr) -> McpClient {
        let init = json!({"jsonrpc":"2.0","id":"init","method":"initialize","params":{
            "protocolVersion":"2025-06-18","capabilities":{"sampling":{}},
            "clientInfo":{"name":name,"version":"0"}}});
        let (head, _) = Self::raw_post(addr, None, &init.to_string());
        let session = head.header("mcp-session-id").expect("a session").to_owned();
        let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        assert_eq!(Self::raw_post(addr, Some(&session), note).0.status, 202);
        let (tx, general) = std::sync::mpsc::channel();
        let mut s = connect(addr);
        write!(s, "GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\nMcp-Session-Id: {session}\r\n\r\n").unwrap();
        let mut reader = BufReader::new(s);
        let head = read_response(&mut reader, true);
        assert_eq!(head.status, 200, "GET stream");
        reader.get_ref().set_read_timeout(None).unwrap();
        std::thread::spawn(move || {
            let mut events = Events {
                reader,
                pending: String::new(),
            };
            while let Some(data) = events.next() {
                if tx
                    .send(serde_json::from_str::<Value>(&data).unwrap())
                    .is_err()
                {
                    return;
                }
            }
        });
        McpClient {
            name: name.to_owned(),
            addr,
            session,
            general,
            wants_logs: false,
            subscribed: false,
            tokens: HashSet::new(),
        }
    }

    /// POSTs `body`; returns the head and, for a body to come, its reader.
    fn raw_post(
        addr: std::net::SocketAddr,
        session: Option<&str>,
        body: &str,
    ) -> (crate::support::Resp, BufReader<TcpStream>) {
        let mut s = connect(addr);
        let sid = session
            .map(|s| format!("Mcp-Session-Id: {s}\r\n"))
            .unwrap_or_default();
        write!(s, "POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n{sid}Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        let mut reader = BufReader::new(s);
        let mut head = read_response(&mut reader, true);
        if let Some(n) = head
            .header("content-length")
            .and_then(|n| n.parse::<usize>().ok())
        {
            let mut bytes = vec![0; n];
            std::io::Read::read_exact(&mut reader, &mut bytes).unwrap();
            head.body = bytes;
        }
        (head, reader)
    }

    /// Checks what came on the GET stream so far.
    fn drain_general(&mut self) {
        while let Ok(msg) = self.general.try_recv() {
            let method = msg["method"].as_str().unwrap_or("");
            match method {
                "notifications/message" => {
                    assert!(
                        self.wants_logs,
                        "{}: a log it did not ask for: {msg}",
                        self.name
                    )
                }
                "notifications/resources/updated" => {
                    assert!(
                        self.subscribed,
                        "{}: an update it did not subscribe to: {msg}",
                        self.name
                    )
                }
                m if m.ends_with("/list_changed") => {}
                _ => panic!("{}: unexpected on the GET stream: {msg}", self.name),
            }
        }
    }

    /// Sends request `id` and reads its POST to the answer, answering the
    /// sampling requests that come first; returns the answer.
    fn call(&mut self, id: &str, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let (head, reader) = Self::raw_post(self.addr, Some(&self.session), &body.to_string());
        assert_eq!(head.status, 200, "{}: {id}: {}", self.name, head.text());
        let answer = if head.header("content-type") == Some("application/json") {
            head.json()
        } else {
            let mut events = Events {
                reader,
                pending: String::new(),
            };
            loop {
                let data = events.next().unwrap_or_else(|| {
                    panic!("{}: {id}: stream ended without its answer", self.name)
                });
                let msg: Value = serde_json::from_str(&data).unwrap();
                match msg["method"].as_str() {
                    None => break msg,
                    Some("notifications/progress") => {
                        let token = msg["params"]["progressToken"].as_str().unwrap_or_default();
                        assert!(
                            self.tokens.contains(token),
                            "{}: foreign progress {msg}",
                            self.name
                        );
                    }
                    Some("sampling/createMessage") => {
                        let reply = sampling_answer(&self.name, &msg).to_string();
                        let posted = Self::raw_post(self.addr, Some(&self.session), &reply);
                        assert_eq!(posted.0.status, 202);
                    }
                    Some(other) => panic!(
                        "{}: unexpected {other} on the stream of {id}: {msg}",
                        self.name
                    ),
                }
            }
        };
        assert_eq!(answer["id"], id, "{}: {answer}", self.name);
        self.drain_general();
        answer
    }

    fn text(&mut self, id: &str, method: &str, params: Value) -> String {
        let answer = self.call(id, method, params);
        answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: {id} got {answer}", self.name))
            .to_owned()
    }
}

/// What one operation of a client is.
enum Op {
    Echo,
    Progress,
    Sample,
    Cancel,
    Notify,
}

fn pick(rng: &mut Rng) -> (Op, &'static str) {
    let backend = ["st", "sse", "http"][rng.below(3) as usize];
    let op = match rng.below(6) {
        0 | 1 => Op::Echo,
        2 => Op::Progress,
        3 => Op::Sample,
        4 => Op::Cancel,
        _ => Op::Notify,
    };
    (op, backend)
}

/// The tool and arguments of an operation on a backend.
fn tool_of(op: &Op, backend: &str, tag: &str) -> (String, Value) {
    match (op, backend) {
        (Op::Echo, "st") => ("st_echo".into(), json!({"q": tag})),
        (Op::Echo, b) => (format!("{b}_echo"), json!({"text": tag})),
        (Op::Progress, "st") => ("st_progress".into(), json!({})),
        (Op::Progress, b) => (format!("{b}_work"), json!({"tag": tag, "steps": 3})),
        (Op::Sample, "st") => ("st_ask".into(), json!({"tag": true, "text": tag})),
        (Op::Sample, b) => (format!("{b}_sample"), json!({"tag": tag})),
        (Op::Cancel, _) => ("st_slow".into(), json!({"ms": 60000})),
        (Op::Notify, _) => (
            "st_notify".into(),
            json!({"level": "info", "uri": "file:///watched"}),
        ),
    }
}

fn run_mcp_client(
    index: usize,
    seed: u64,
    addr: std::net::SocketAddr,
    legacy_sampling: Arc<RwLock<()>>,
) -> (usize, usize) {
    let name = format!("m{index}");
    let mut rng = Rng(seed ^ (index as u64 + 101).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut c = McpClient::open(&name, addr);
    c.wants_logs = index.is_multiple_of(2);
    c.subscribed = index.is_multiple_of(3);
    if c.wants_logs {
        c.call("level", "logging/setLevel", json!({"level": "debug"}));
    }
    if c.subscribed {
        c.call(
            "sub",
            "resources/subscribe",
            json!({"uri": "file:///watched"}),
        );
    }
    let mut sampled = 0;
    for n in 0..OPERATIONS {
        let id = format!("{name}-{n}");
        let tag = format!("{name}-t{n}");
        let (op, backend) = pick(&mut rng);
        let (tool, args) = tool_of(&op, backend, &tag);
        let token = format!("{name}-p{n}");
        c.tokens.insert(token.clone());
        let params = json!({"name": tool, "arguments": args, "_meta": {"progressToken": token}});
        match op {
            Op::Cancel => {
                // The POST waits; the cancellation ends it without an answer.
                let (addr, session, body) = (
                    c.addr,
                    c.session.clone(),
                    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":params})
                        .to_string(),
                );
                let waiting =
                    std::thread::spawn(move || McpClient::raw_post(addr, Some(&session), &body));
                let cancel = json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":id,"reason":"test"}});
                // Until the backend has it, a cancellation could come first
                // and be ignored; send it until the POST ends.
                let mut ended = None;
                for _ in 0..100 {
                    assert_eq!(
                        McpClient::raw_post(c.addr, Some(&c.session), &cancel.to_string())
                            .0
                            .status,
                        202
                    );
                    if waiting.is_finished() {
                        ended = Some(waiting.join().unwrap());
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let (head, reader) =
                    ended.unwrap_or_else(|| panic!("{name}: cancelled {id} still waits"));
                if head.header("content-type") == Some("application/json") {
                    assert_eq!(
                        head.json()["error"]["code"],
                        -32800,
                        "{name}: {}",
                        head.text()
                    );
                } else {
                    let mut events = Events {
                        reader,
                        pending: String::new(),
                    };
                    while let Some(data) = events.next() {
                        let msg: Value = serde_json::from_str(&data).unwrap();
                        assert!(
                            msg.get("method").is_some(),
                            "{name}: an answer to cancelled {id}: {msg}"
                        );
                    }
                }
            }
            Op::Sample => {
                let _alone = (backend == "sse").then(|| legacy_sampling.write().unwrap());
                let text = c.text(&id, "tools/call", params);
                assert!(
                    text.contains(&format!("{tag}!")),
                    "{name}: sampling {id} answered {text}"
                );
                sampled += 1;
            }
            _ => {
                let _shared = (backend == "sse").then(|| legacy_sampling.read().unwrap());
                let text = c.text(&id, "tools/call", params);
                assert!(
                    text.contains(&tag) || text.contains("done") || text == "notified",
                    "{name}: {id} answered {text}"
                );
            }
        }
    }
    c.drain_general();
    (sampled, 0)
}

fn run_client(
    index: usize,
    seed: u64,
    addr: std::net::SocketAddr,
    legacy_sampling: Arc<RwLock<()>>,
) -> (usize, usize) {
    let name = format!("c{index}");
    let mut rng = Rng(seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut sse = SseClient::open(addr);
    sse.initialize_with(addr, "2025-06-18", json!({"sampling": {}}));
    let mut c = Client {
        name: name.clone(),
        sse,
        addr,
        wants_logs: index.is_multiple_of(2),
        subscribed: index.is_multiple_of(3),
        waiting: HashSet::new(),
        cancelled: HashSet::new(),
        tokens: HashSet::new(),
        answers: HashMap::new(),
        seen_logs: 0,
    };
    if c.wants_logs {
        c.request("level", "logging/setLevel", json!({"level": "debug"}));
        c.answer_any("level");
    }
    if c.subscribed {
        c.request(
            "sub",
            "resources/subscribe",
            json!({"uri": "file:///watched"}),
        );
        c.answer_any("sub");
    }
    let mut sampled = 0;
    for n in 0..OPERATIONS {
        let id = format!("{name}-{n}");
        let tag = format!("{name}-t{n}");
        let backend = ["st", "sse", "http"][rng.below(3) as usize];
        match rng.below(6) {
            0 | 1 => {
                let _shared = (backend == "sse").then(|| legacy_sampling.read().unwrap());
                let tool = if backend == "st" {
                    "st_echo".to_owned()
                } else {
                    format!("{backend}_echo")
                };
                let args = if backend == "st" {
                    json!({"q": tag})
                } else {
                    json!({"text": tag})
                };
                c.request(&id, "tools/call", json!({"name": tool, "arguments": args}));
                let text = c.answer(&id);
                assert!(text.contains(&tag), "{name}: echo {id} answered {text}");
            }
            2 => {
                let _shared = (backend == "sse").then(|| legacy_sampling.read().unwrap());
                let token = format!("{name}-p{n}");
                c.tokens.insert(token.clone());
                let (tool, args) = if backend == "st" {
                    ("st_progress".to_owned(), json!({}))
                } else {
                    (format!("{backend}_work"), json!({"tag": tag, "steps": 3}))
                };
                c.request(
                    &id,
                    "tools/call",
                    json!({"name": tool, "arguments": args, "_meta": {"progressToken": token}}),
                );
                let text = c.answer(&id);
                assert!(
                    text.contains("done") || text.contains(&tag),
                    "{name}: {id} answered {text}"
                );
            }
            3 => {
                let _alone = (backend == "sse").then(|| legacy_sampling.write().unwrap());
                let token = format!("{name}-p{n}");
                c.tokens.insert(token.clone());
                let (tool, args) = if backend == "st" {
                    ("st_ask".to_owned(), json!({"tag": true, "text": tag}))
                } else {
                    (format!("{backend}_sample"), json!({"tag": tag}))
                };
                c.request(
                    &id,
                    "tools/call",
                    json!({"name": tool, "arguments": args, "_meta": {"progressToken": token}}),
                );
                let text = c.answer(&id);
                assert!(
                    text.contains(&format!("{tag}!")),
                    "{name}: sampling {id} answered {text}"
                );
                sampled += 1;
            }
            4 => {
                // A call cancelled while the backend works on it.
                c.request(
                    &id,
                    "tools/call",
                    json!({"name": "st_slow", "arguments": {"ms": 60000}}),
                );
                c.post(
                    json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                    "params": {"requestId": id, "reason": "test"}}),
                );
                c.waiting.remove(&id);
                c.cancelled.insert(id.clone());
            }
            _ => {
                // A log and a resource update, for whoever asked.
                c.request(
                    &id,
                    "tools/call",
                    json!({"name": "st_notify", "arguments": {"level": "info", "uri": "file:///watched"}}),
                );
                assert_eq!(c.answer(&id), "notified");
            }
        }
    }
    // A last ping flushes what is still on the way; nothing may be owed.
    c.request("last", "ping", json!({}));
    c.answer_any("last");
    assert!(c.waiting.is_empty(), "{name}: unanswered {:?}", c.waiting);
    (sampled, c.seen_logs)
}

impl Client {
    /// Reads until `id` is answered, whatever the result's shape.
    fn answer_any(&mut self, id: &str) {
        while !self.answers.contains_key(id) {
            self.take_one();
        }
        assert!(
            self.answers[id].get("error").is_none(),
            "{}: {}",
            self.name,
            self.answers[id]
        );
    }
}

#[test]
fn concurrent_clients_get_exactly_their_own_messages() {
    let seed: u64 = std::env::var("ARGUS_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("routing_random seed: {seed} (replay with ARGUS_TEST_SEED={seed})");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/mixed_server.py");
    let (sse_port, http_port) = (free_port(), free_port());
    let start = |port: u16, transport: &str, name: &str| {
        let mut cmd = std::process::Command::new(python());
        cmd.args([script, &port.to_string(), transport, name]);
        LocalServer::start(cmd, port)
    };
    let _sse_server = start(sse_port, "sse", "sse");
    let _http_server = start(http_port, "streamable-http", "http");
    let config = format!(
        "conflict_resolution: {{strategy: prefix}}\nbackends:\n  st:\n    type: stdio\n    command: {}\n    env: {{FIXTURE_NAME: st, FIXTURE_TOOLS: \"echo,progress,ask,slow,notify\", FIXTURE_RESOURCES: \"file:///watched\"}}\n  sse:\n    type: sse\n    url: http://127.0.0.1:{sse_port}/sse\n  http:\n    type: streamable-http\n    url: http://127.0.0.1:{http_port}/mcp\n",
        fixture()
    );
    let gw = Gateway::start(&config);
    let mut probe = SseClient::open(gw.addr);
    probe.initialize(gw.addr, "2025-06-18");
    assert!(
        wait_until(Duration::from_secs(20), || {
            let names = probe.names(gw.addr, "tools/list", "tools");
            ["st_ask", "sse_sample", "http_sample"]
                .iter()
                .all(|t| names.iter().any(|n| n == t))
        }),
        "not every backend is up: {}",
        gw.stderr()
    );
    let legacy_sampling = Arc::new(RwLock::new(()));
    let addr = gw.addr;
    // Half the clients on /sse, half on /mcp.
    let workers: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let lock = legacy_sampling.clone();
            if i % 2 == 0 {
                std::thread::spawn(move || run_client(i, seed, addr, lock))
            } else {
                std::thread::spawn(move || run_mcp_client(i, seed, addr, lock))
            }
        })
        .collect();
    let mut sampled = 0;
    for (i, w) in workers.into_iter().enumerate() {
        match w.join() {
            Ok((s, _)) => sampled += s,
            Err(e) => {
                // The gateway's last words, if it is the one that failed.
                let stderr = gw.stderr();
                let from = stderr.char_indices().rev().nth(4000).map_or(0, |(i, _)| i);
                let tail = &stderr[from..];
                std::panic::resume_unwind(Box::new(format!(
                    "client c{i} failed (seed {seed}): {}\ngateway stderr (tail):\n{tail}",
                    e.downcast_ref::<String>().cloned().unwrap_or_default()
                )))
            }
        }
    }
    assert!(sampled > 0, "seed {seed} exercised no sampling");
}
