//! Test support: the real `argus-mcp` binary on 127.0.0.1 with a free port,
//! raw HTTP clients with timeouts, and a small SSE client. Nothing here
//! sleeps to synchronise: every wait is a read with a timeout or a poll of a
//! condition with a deadline.

#![allow(dead_code)]

pub mod bad_answer;
pub mod fake_http;
pub mod fake_sse;
pub mod modern;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Default bound for any single read in a test.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_argus-mcp")
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let id = argus_mcp::random::hex_id(6).unwrap();
        let dir = std::env::temp_dir().join(format!("argus-test-{tag}-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running gateway process.
pub struct Gateway {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr: Arc<Mutex<String>>,
    _dir: TempDir,
}

impl Gateway {
    /// Starts `argus-mcp server -v --port 0` on `config` (YAML text).
    pub fn start(config: &str) -> Gateway {
        Gateway::start_with(config, &[], &[])
    }

    /// Like `start`, with extra arguments and environment variables.
    pub fn start_with(config: &str, args: &[&str], env: &[(&str, &str)]) -> Gateway {
        Gateway::launch(config, &["-v"], args, env)
    }

    /// Like `start`, at the default verbosity (no `-v`): the log a user
    /// sees.
    pub fn start_plain(config: &str) -> Gateway {
        Gateway::launch(config, &[], &[], &[])
    }

    fn launch(config: &str, verbosity: &[&str], args: &[&str], env: &[(&str, &str)]) -> Gateway {
        let dir = TempDir::new("gw");
        let path = dir.write("argus.yaml", config);
        let mut child = Command::new(binary())
            .arg("server")
            .arg("-c")
            .arg(&path)
            .args(["--port", "0"])
            .args(verbosity)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(&dir.0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn argus-mcp");
        let stderr = collected(child.stderr.take().unwrap());
        let lines = lines_of(child.stdout.take().unwrap());
        let first = lines
            .recv_timeout(READ_TIMEOUT)
            .unwrap_or_else(|_| panic!("no banner; stderr: {}", stderr.lock().unwrap()));
        let addr: SocketAddr = first
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("bad banner line {first:?}"));
        // Keep draining stdout so the child never blocks on it.
        thread::spawn(move || while lines.recv().is_ok() {});
        Gateway {
            child,
            addr,
            stderr,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Replaces the gateway's config file (for a reload).
    pub fn rewrite_config(&self, config: &str) {
        self._dir.write("argus.yaml", config);
    }

    /// A management API call with an optional bearer token; JSON bodies.
    pub fn manage(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth.as_str()));
        }
        request(self.addr, method, path, &headers, body.as_bytes())
    }

    /// Sends a signal by name (`TERM`, `INT`) with the `kill` utility.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `timeout`; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Whether `needle` shows up in the log within 5 s (our reader of the
    /// child's stderr may lag the event that wrote it).
    pub fn logged(&self, needle: &str) -> bool {
        wait_until(Duration::from_secs(5), || self.stderr().contains(needle))
    }

    /// Threads of the gateway process.
    pub fn threads(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", self.pid()))
            .unwrap()
            .count()
    }

    /// Names of the gateway process's threads.
    pub fn thread_names(&self) -> Vec<String> {
        std::fs::read_dir(format!("/proc/{}/task", self.pid()))
            .unwrap()
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
            .map(|n| n.trim().to_owned())
            .collect()
    }

    /// Open file descriptors of the gateway process.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }

    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines of a pipe, on a channel (so reads can time out).
pub fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, READ_TIMEOUT).unwrap();
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
    stream
}

/// A parsed response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Reads one response from a connection (Content-Length, chunked, or until close).
pub fn read_response(reader: &mut BufReader<TcpStream>, head_only: bool) -> Resp {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    assert!(line.starts_with("HTTP/1.1 "), "bad status line {line:?}");
    let status: u16 = line[9..12].parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':').unwrap();
        headers.push((n.trim().to_owned(), v.trim().to_owned()));
    }
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only || status == 100 {
        return resp;
    }
    if let Some(n) = resp.header("content-length") {
        let mut body = vec![0; n.parse().unwrap()];
        reader.read_exact(&mut body).unwrap();
        resp.body = body;
    } else if resp.header("transfer-encoding") == Some("chunked") {
        loop {
            let chunk = read_chunk(reader).expect("chunk");
            if chunk.is_empty() {
                break;
            }
            resp.body.extend(chunk);
        }
    } else {
        reader.read_to_end(&mut resp.body).unwrap();
    }
    resp
}

/// One chunk of a chunked body; empty at the end. `None` on EOF/error.
pub fn read_chunk(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut size = String::new();
    if reader.read_line(&mut size).ok()? == 0 {
        return None;
    }
    let n = usize::from_str_radix(size.trim(), 16).ok()?;
    let mut data = vec![0; n + 2];
    reader.read_exact(&mut data).ok()?;
    data.truncate(n);
    if n == 0 {
        // Trailer section is empty for our server; the CRLF was read above.
    }
    Some(data)
}

/// Sends raw bytes on a new connection and reads one response.
pub fn raw(addr: SocketAddr, request: &[u8]) -> Resp {
    let mut stream = connect(addr);
    stream.write_all(request).unwrap();
    // A response to HEAD has headers only, whatever Content-Length says.
    read_response(&mut BufReader::new(stream), request.starts_with(b"HEAD "))
}

/// A simple request with `Connection: close`.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes)
}

/// POSTs a JSON-RPC message to an SSE session.
pub fn post_json(addr: SocketAddr, endpoint: &str, body: &str) -> Resp {
    request(
        addr,
        "POST",
        endpoint,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// A client-side SSE stream from `GET /sse`.
pub struct SseClient {
    pub reader: BufReader<TcpStream>,
    pub response: Resp,
    pending: Vec<u8>,
    pub endpoint: String,
}

/// One event: (type, data). Comments come as ("comment", text).
pub type Event = (String, String);

impl SseClient {
    pub fn open(addr: SocketAddr) -> SseClient {
        SseClient::open_with(addr, &[])
    }

    pub fn open_with(addr: SocketAddr, headers: &[(&str, &str)]) -> SseClient {
        SseClient::open_at(addr, "/sse", headers)
    }

    /// Opens an SSE session at `path` (`/sse`, `/g/<group>/sse`).
    pub fn open_at(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> SseClient {
        let mut stream = connect(addr);
        let mut req =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let response = read_response(&mut reader, true);
        assert_eq!(response.status, 200, "GET /sse: {response:?}");
        let mut client = SseClient {
            reader,
            response,
            pending: Vec::new(),
            endpoint: String::new(),
        };
        let (event, data) = client.next_event().expect("endpoint event");
        assert_eq!(event, "endpoint");
        client.endpoint = data;
        client
    }

    pub fn session_id(&self) -> &str {
        self.endpoint.rsplit('=').next().unwrap()
    }

    /// The next event or comment; `None` when the stream ends or times out.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = find(&self.pending, b"\n\n") {
                let block: Vec<u8> = self.pending.drain(..end + 2).collect();
                let text = String::from_utf8(block).unwrap();
                let mut event = "message".to_owned();
                let mut data = Vec::new();
                for line in text.trim_end_matches('\n').split('\n') {
                    if let Some(c) = line.strip_prefix(": ") {
                        return Some(("comment".into(), c.into()));
                    } else if let Some(e) = line.strip_prefix("event: ") {
                        event = e.into();
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push(d);
                    }
                }
                return Some((event, data.join("\n")));
            }
            let chunk = read_chunk(&mut self.reader)?;
            if chunk.is_empty() {
                return None;
            }
            self.pending.extend(chunk);
        }
    }

    /// The next JSON-RPC message, skipping comments.
    pub fn next_message(&mut self) -> Option<serde_json::Value> {
        loop {
            let (event, data) = self.next_event()?;
            if event == "message" {
                return Some(serde_json::from_str(&data).unwrap());
            }
        }
    }

    /// POSTs a message to this session's endpoint.
    pub fn post(&self, addr: SocketAddr, body: &str) -> Resp {
        post_json(addr, &self.endpoint, body)
    }

    /// Sends `initialize` and returns the result.
    pub fn initialize(&mut self, addr: SocketAddr, version: &str) -> serde_json::Value {
        self.initialize_with(addr, version, serde_json::json!({}))
    }

    /// Sends `initialize` declaring `capabilities` and returns the result.
    pub fn initialize_with(
        &mut self,
        addr: SocketAddr,
        version: &str,
        capabilities: serde_json::Value,
    ) -> serde_json::Value {
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": version, "capabilities": capabilities,
            "clientInfo": {"name": "test", "version": "0"}}})
            .to_string();
        assert_eq!(self.post(addr, &body).status, 202);
        let reply = self.next_message().expect("initialize reply");
        assert_eq!(reply["id"], 0);
        let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        assert_eq!(self.post(addr, note).status, 202);
        reply["result"].clone()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl SseClient {
    /// Sends a request and returns its response, skipping notifications.
    pub fn call(
        &mut self,
        addr: SocketAddr,
        id: serde_json::Value,
        method: &str,
        params: serde_json::Value,
    ) -> serde_json::Value {
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let resp = self.post(addr, &body.to_string());
        assert_eq!(resp.status, 202, "{method}: {}", resp.text());
        loop {
            let msg = self
                .next_message()
                .unwrap_or_else(|| panic!("no reply to {method}"));
            if msg.get("id") == Some(&id) && msg.get("method").is_none() {
                return msg;
            }
        }
    }

    /// The exposed names of a list method's items.
    pub fn names(&mut self, addr: SocketAddr, method: &str, key: &str) -> Vec<String> {
        let reply = self.call(
            addr,
            serde_json::json!(method),
            method,
            serde_json::json!({}),
        );
        reply["result"][key]
            .as_array()
            .unwrap_or_else(|| panic!("{method}: {reply}"))
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// The first text content of a `tools/call` reply; panics naming the
/// reply when there is none.
pub fn text(reply: &serde_json::Value) -> String {
    reply["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {reply}"))
        .to_owned()
}

/// The fixture MCP server built from `tests/bin/fixture_server.rs`.
pub fn fixture() -> String {
    env!("CARGO_BIN_EXE_argus-test-fixture").to_owned()
}

/// A stdio backend entry running the fixture with `env`, plus extra YAML lines
/// (already indented by four spaces).
pub fn fixture_backend(name: &str, env: &[(&str, &str)], extra: &str) -> String {
    let mut out = format!(
        "  {name}:\n    type: stdio\n    command: {}\n    env:\n      FIXTURE_NAME: \"{name}\"\n",
        fixture()
    );
    for (k, v) in env {
        out.push_str(&format!("      {k}: \"{v}\"\n"));
    }
    out.push_str(extra);
    out
}

/// Children of a process, from /proc.
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // Field 4 (after the parenthesised name) is the parent pid.
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        if after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok())
            == Some(pid)
        {
            out.push(child);
        }
    }
    out
}

/// A fake server on 127.0.0.1 (free port): each connection is handed to
/// `handler`, on a thread of its own, with the server's address.
pub fn serve_each(handler: impl Fn(TcpStream, SocketAddr) + Send + Sync + 'static) -> SocketAddr {
    serve_each_on("127.0.0.1", handler)
}

/// Like [`serve_each`], on another loopback address (`127.0.0.2`: an origin
/// the gateway's Origin rule does not treat as local).
pub fn serve_each_on(
    ip: &str,
    handler: impl Fn(TcpStream, SocketAddr) + Send + Sync + 'static,
) -> SocketAddr {
    let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let handler = handler.clone();
            thread::spawn(move || handler(conn, addr));
        }
    });
    addr
}

/// Asserts that every pid is gone within 5 s (no orphans left behind).
pub fn assert_gone(pids: &[u32]) {
    for pid in pids {
        assert!(
            wait_until(Duration::from_secs(5), || !std::path::Path::new(&format!(
                "/proc/{pid}"
            ))
            .exists()),
            "pid {pid} outlived the gateway"
        );
    }
}

/// A port that was free a moment ago (for servers that cannot report theirs).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Python interpreter that has the pinned `mcp` SDK.
pub fn python() -> PathBuf {
    let path = std::env::var_os("ARGUS_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-env/venv/bin/python")
        });
    assert!(
        path.exists(),
        "{} not found: run `bash tests/run-all.sh` once (it installs the Python mcp SDK)",
        path.display()
    );
    path
}

/// The Python interpreter that has the pinned `mcp` 2.x SDK (the
/// 2026-07-28 client).
pub fn modern_python() -> PathBuf {
    let path = std::env::var_os("ARGUS_TEST_MCP2_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-env/mcp2/bin/python")
        });
    assert!(
        path.exists(),
        "{} not found: run `bash tests/run-all.sh` once (it installs the Python mcp 2.x SDK)",
        path.display()
    );
    path
}

/// The Python interpreter that has the original Argus (PyPI `argus-mcp`,
/// pinned, with its TUI).
pub fn original_python() -> PathBuf {
    let path = std::env::var_os("ARGUS_TEST_ORIGINAL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-env/original/bin/python")
        });
    assert!(
        path.exists(),
        "{} not found: run `bash tests/run-all.sh` once (it installs the original argus-mcp)",
        path.display()
    );
    path
}

/// A real server process the test starts itself on a fixed port.
pub struct LocalServer {
    child: Child,
}

impl LocalServer {
    pub fn start(mut command: Command, port: u16) -> LocalServer {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = LocalServer { child };
        assert!(
            wait_until(Duration::from_secs(30), || std::net::TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "server on port {port} did not start"
        );
        server
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command with a deadline; returns stdout, panicking with stderr on failure.
pub fn run_with_deadline(mut command: Command, timeout: Duration) -> String {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + timeout;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{command:?} failed ({:?})\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Every line of a JSON-lines file (a fixture's `FIXTURE_LOG`, an audit
/// log) that parses; none when the file is not there yet.
pub fn json_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Everything `pipe` writes, gathered by a thread as it comes.
pub fn collected(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

/// A child killed and reaped on drop, so a failed test leaves none behind.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Fails naming how many of `of` cases failed `what`, with the first
/// `shown` reports in full; passes when none failed.
pub fn fail_with(what: &str, failures: &[String], of: usize, shown: usize) {
    if failures.is_empty() {
        return;
    }
    let first: Vec<&str> = failures.iter().take(shown).map(String::as_str).collect();
    let more = match failures.len().checked_sub(shown) {
        Some(n) if n > 0 => format!("\n... and {n} more"),
        _ => String::new(),
    };
    panic!(
        "{} of {of} cases: {what}\n\n{}\n{more}",
        failures.len(),
        first.join("\n\n")
    );
}
