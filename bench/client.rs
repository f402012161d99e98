//! The load client of `bench/run` (a bin of the crate so it can use the
//! crate's SSE parser; not part of the product). Std threads, blocking
//! sockets, loopback only.
//!
//! ```text
//! argus-bench open-sse ADDR N HOLD_SECS   N SSE sessions one after another
//! argus-bench open-mcp ADDR N HOLD_SECS   N Streamable HTTP sessions (no stream)
//! argus-bench calls TARGET INFLIGHT SECS TOOL ARGS_JSON
//! argus-bench health ADDR COMMAND...     ms from exec of COMMAND to /health
//! argus-bench soak TARGETS SESSIONS SECS  churning sessions, continuous calls
//! ```
//!
//! `open-*` print `opened N SECS RATE_FIRST_1000 RATE_LAST_1000` once every
//! session is open, then hold them for HOLD_SECS. `calls` runs INFLIGHT
//! workers, each with its own session calling TOOL back to back for SECS,
//! and prints `calls errors calls_per_s p50_us p99_us`. TARGET is
//! `sse:ADDR` (`GET /sse` + `POST /messages/`), `mcp:ADDR` (`/mcp` with a
//! session), `modern:ADDR` (2026-07-28 stateless `/mcp`) or
//! `stdio:COMMAND` (the backend itself, spawned per worker).
//!
//! `soak` keeps SESSIONS workers busy for SECS, worker *i* on the *i*-th of
//! the comma-separated TARGETS (round robin): each opens a session, makes
//! 20–99 calls of `echo`, closes it (`DELETE` for `/mcp`) and opens the
//! next. It prints `progress SECS CALLS LOST SESSIONS` every 10 s and
//! `soak CALLS LOST SESSIONS FAILED_OPENS` at the end; a call is lost when
//! it gets no result.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use argus_mcp::sse::Parser;

const TIMEOUT: Duration = Duration::from_secs(30);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_else(|| usage());
    match args.first().map(String::as_str) {
        Some("open-sse") => open(&arg(1), parse(&arg(2)), parse(&arg(3)), false),
        Some("open-mcp") => open(&arg(1), parse(&arg(2)), parse(&arg(3)), true),
        Some("calls") => calls(&arg(1), parse(&arg(2)), parse(&arg(3)), &arg(4), &arg(5)),
        Some("health") => health(&arg(1), &args[2..]),
        Some("soak") => soak(&arg(1), parse(&arg(2)), parse(&arg(3))),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: argus-bench open-sse|open-mcp ADDR N HOLD_SECS | calls TARGET INFLIGHT SECS TOOL ARGS_JSON | health ADDR COMMAND... | soak TARGETS SESSIONS SECS"
    );
    std::process::exit(2)
}

fn parse<T: std::str::FromStr>(text: &str) -> T {
    text.parse().unwrap_or_else(|_| usage())
}

fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let _ = stream.set_write_timeout(Some(TIMEOUT));
    stream
}

/// An HTTP response: status, headers (lower-case names), body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a response head; the body too unless `head_only`.
fn read_reply(reader: &mut BufReader<TcpStream>, head_only: bool) -> Option<Reply> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let status = line.get(9..12)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let mut reply = Reply {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only {
        return Some(reply);
    }
    if let Some(n) = reply.header("content-length") {
        let n: usize = n.parse().ok()?;
        reply.body.resize(n, 0);
        reader.read_exact(&mut reply.body).ok()?;
    } else if reply.header("transfer-encoding") == Some("chunked") {
        while let Some(chunk) = read_chunk(reader) {
            reply.body.extend_from_slice(&chunk);
        }
    }
    Some(reply)
}

/// One chunk of a chunked body; `None` at its end.
fn read_chunk(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let size = usize::from_str_radix(line.trim(), 16).ok()?;
    let mut chunk = vec![0; size + 2];
    reader.read_exact(&mut chunk).ok()?;
    chunk.truncate(size);
    (size > 0).then_some(chunk)
}

fn post(
    reader: &mut BufReader<TcpStream>,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<Reply> {
    let host = reader
        .get_ref()
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    reader.get_mut().write_all(request.as_bytes()).ok()?;
    read_reply(reader, false)
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"argus-bench","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// A `/mcp` session: its id.
fn mcp_session(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let reply = post(reader, "/mcp", &[], INIT)?;
    let id = reply.header("mcp-session-id")?.to_owned();
    let headers = [
        ("Mcp-Session-Id", id.as_str()),
        ("MCP-Protocol-Version", "2025-06-18"),
    ];
    post(reader, "/mcp", &headers, INITIALIZED)?;
    Some(id)
}

/// An SSE session's stream, read to its `endpoint` event: the POST path.
fn sse_session(addr: &str) -> Option<(BufReader<TcpStream>, Parser, String)> {
    let mut stream = connect(addr);
    let request = format!("GET /sse HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut reader = BufReader::new(stream);
    let head = read_reply(&mut reader, true)?;
    if head.status != 200 {
        return None;
    }
    let mut parser = Parser::new(64 << 20);
    let mut events = Vec::new();
    loop {
        let chunk = read_chunk(&mut reader)?;
        parser.feed(&chunk, &mut events).ok()?;
        if let Some(e) = events.iter().find(|e| e.event == "endpoint") {
            let path = e.data.clone();
            return Some((reader, parser, path));
        }
    }
}

fn open(addr: &str, n: usize, hold: u64, mcp: bool) {
    let started = Instant::now();
    let mut held = Vec::with_capacity(n);
    let mut marks = Vec::with_capacity(n);
    let mut reader = (mcp).then(|| BufReader::new(connect(addr)));
    for i in 0..n {
        if let Some(r) = reader.as_mut() {
            if mcp_session(r).is_none() {
                eprintln!("session {i} did not open");
                std::process::exit(1);
            }
        } else {
            match sse_session(addr) {
                Some(s) => held.push(s.0),
                None => {
                    eprintln!("session {i} did not open");
                    std::process::exit(1);
                }
            }
        }
        marks.push(started.elapsed());
    }
    let total = started.elapsed();
    let rate = |from: usize, to: usize| {
        let span = marks[to - 1].saturating_sub(if from == 0 {
            Duration::ZERO
        } else {
            marks[from - 1]
        });
        (to - from) as f64 / span.as_secs_f64().max(1e-9)
    };
    let k = n.min(1000);
    println!(
        "opened {n} {:.3} {:.0} {:.0}",
        total.as_secs_f64(),
        rate(0, k),
        rate(n - k, n)
    );
    let _ = std::io::stdout().flush();
    thread::sleep(Duration::from_secs(hold));
    drop(held);
}

/// One worker's way to make a call.
enum Caller {
    Sse {
        stream: BufReader<TcpStream>,
        parser: Box<Parser>,
        events: Vec<argus_mcp::sse::Event>,
        post: BufReader<TcpStream>,
        path: String,
    },
    Mcp {
        conn: BufReader<TcpStream>,
        session: String,
    },
    Modern {
        conn: BufReader<TcpStream>,
    },
    Stdio {
        _child: Child,
        stdin: ChildStdin,
        stdout: BufReader<ChildStdout>,
    },
}

impl Caller {
    fn new(target: &str) -> Option<Caller> {
        let (kind, rest) = target.split_once(':')?;
        Some(match kind {
            "sse" => {
                let (stream, parser, path) = sse_session(rest)?;
                let mut post_conn = BufReader::new(connect(rest));
                let init = post(&mut post_conn, &path, &[], INIT)?;
                if init.status != 202 {
                    return None;
                }
                let mut caller = Caller::Sse {
                    stream,
                    parser: Box::new(parser),
                    events: Vec::new(),
                    post: post_conn,
                    path,
                };
                caller.sse_answer()?;
                if let Caller::Sse { post: p, path, .. } = &mut caller {
                    post(p, path, &[], INITIALIZED)?;
                }
                caller
            }
            "mcp" => {
                let mut conn = BufReader::new(connect(rest));
                let session = mcp_session(&mut conn)?;
                Caller::Mcp { conn, session }
            }
            "modern" => Caller::Modern {
                conn: BufReader::new(connect(rest)),
            },
            "stdio" => {
                let mut child = Command::new("sh")
                    .arg("-c")
                    .arg(format!("exec {rest}"))
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .ok()?;
                let mut stdin = child.stdin.take()?;
                let mut stdout = BufReader::new(child.stdout.take()?);
                writeln!(stdin, "{INIT}").ok()?;
                let mut line = String::new();
                while !line.contains("\"id\"") {
                    line.clear();
                    if stdout.read_line(&mut line).ok()? == 0 {
                        return None;
                    }
                }
                writeln!(stdin, "{INITIALIZED}").ok()?;
                Caller::Stdio {
                    _child: child,
                    stdin,
                    stdout,
                }
            }
            _ => return None,
        })
    }

    /// The next message on an SSE session's stream.
    fn sse_answer(&mut self) -> Option<String> {
        let Caller::Sse {
            stream,
            parser,
            events,
            ..
        } = self
        else {
            return None;
        };
        loop {
            if !events.is_empty() {
                let e = events.remove(0);
                // Answers only: notifications (logs, list changes) pass.
                if e.event == "message" && e.data.contains("\"id\"") {
                    return Some(e.data);
                }
                continue;
            }
            let chunk = read_chunk(stream)?;
            parser.feed(&chunk, events).ok()?;
        }
    }

    /// One call; whether it got a result.
    fn call(&mut self, id: u64, tool: &str, args: &str) -> bool {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{args}}}}}"#
        );
        let answer = match self {
            Caller::Sse { post: p, path, .. } => {
                let path = path.clone();
                if post(p, &path, &[], &body).is_none_or(|r| r.status != 202) {
                    return false;
                }
                self.sse_answer()
            }
            Caller::Mcp { conn, session } => {
                let headers = [
                    ("Mcp-Session-Id", session.as_str()),
                    ("MCP-Protocol-Version", "2025-06-18"),
                ];
                post(conn, "/mcp", &headers, &body)
                    .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            }
            Caller::Modern { conn } => {
                let body = format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{args},"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
                );
                let headers = [
                    ("MCP-Protocol-Version", "2026-07-28"),
                    ("Mcp-Method", "tools/call"),
                    ("Mcp-Name", tool),
                ];
                post(conn, "/mcp", &headers, &body)
                    .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            }
            Caller::Stdio { stdin, stdout, .. } => {
                if writeln!(stdin, "{body}").is_err() {
                    return false;
                }
                // Answers only: a server's notifications pass.
                let mut line = String::new();
                loop {
                    line.clear();
                    match stdout.read_line(&mut line) {
                        Ok(0) | Err(_) => break None,
                        Ok(_) if line.contains("\"id\"") => break Some(line),
                        Ok(_) => {}
                    }
                }
            }
        };
        answer.is_some_and(|a| a.contains("\"result\""))
    }
}

impl Caller {
    /// Ends the session as a well-behaved client does.
    fn close(self) {
        if let Caller::Mcp { mut conn, session } = self {
            let host = conn
                .get_ref()
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            let request = format!(
                "DELETE /mcp HTTP/1.1\r\nHost: {host}\r\nMcp-Session-Id: {session}\r\nMCP-Protocol-Version: 2025-06-18\r\nContent-Length: 0\r\n\r\n"
            );
            if conn.get_mut().write_all(request.as_bytes()).is_ok() {
                let _ = read_reply(&mut conn, false);
            }
        }
    }
}

fn soak(targets: &str, sessions: usize, secs: u64) {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    let targets: Vec<String> = targets.split(',').map(str::to_owned).collect();
    let totals = Arc::new([
        AtomicU64::new(0), // calls answered
        AtomicU64::new(0), // calls lost
        AtomicU64::new(0), // sessions opened
        AtomicU64::new(0), // sessions that failed to open
    ]);
    let started = Instant::now();
    let end = started + Duration::from_secs(secs);
    let workers: Vec<_> = (0..sessions)
        .map(|w| {
            let (target, totals) = (targets[w % targets.len()].clone(), totals.clone());
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut round = 0u64;
                    let mut id = (w as u64) << 32;
                    while Instant::now() < end {
                        round += 1;
                        let Some(mut caller) = Caller::new(&target) else {
                            totals[3].fetch_add(1, Relaxed);
                            thread::sleep(Duration::from_millis(100));
                            continue;
                        };
                        totals[2].fetch_add(1, Relaxed);
                        let n = 20 + (w as u64 * 7 + round * 13) % 80;
                        for _ in 0..n {
                            id += 1;
                            let ok = caller.call(id, "echo", r#"{"text":"soak"}"#);
                            totals[usize::from(!ok)].fetch_add(1, Relaxed);
                            if !ok || Instant::now() >= end {
                                break;
                            }
                        }
                        caller.close();
                    }
                })
                .expect("a soak worker")
        })
        .collect();
    let report = |tag: &str| {
        println!(
            "{tag} {} {} {} {}",
            started.elapsed().as_secs(),
            totals[0].load(Relaxed),
            totals[1].load(Relaxed),
            totals[2].load(Relaxed),
        );
        let _ = std::io::stdout().flush();
    };
    while Instant::now() + Duration::from_secs(10) < end {
        thread::sleep(Duration::from_secs(10));
        report("progress");
    }
    for w in workers {
        let _ = w.join();
    }
    println!(
        "soak {} {} {} {}",
        totals[0].load(Relaxed),
        totals[1].load(Relaxed),
        totals[2].load(Relaxed),
        totals[3].load(Relaxed)
    );
}

fn calls(target: &str, inflight: usize, secs: u64, tool: &str, args: &str) {
    let barrier = Arc::new(Barrier::new(inflight + 1));
    let workers: Vec<_> = (0..inflight)
        .map(|w| {
            let (target, tool, args, barrier) = (
                target.to_owned(),
                tool.to_owned(),
                args.to_owned(),
                barrier.clone(),
            );
            thread::spawn(move || {
                let caller = Caller::new(&target);
                barrier.wait();
                let Some(mut caller) = caller else {
                    return (Vec::new(), 1u64);
                };
                let mut latencies = Vec::with_capacity(100_000);
                let mut errors = 0;
                let end = Instant::now() + Duration::from_secs(secs);
                let mut id = (w as u64) << 32;
                while Instant::now() < end {
                    id += 1;
                    let t = Instant::now();
                    if caller.call(id, &tool, &args) {
                        latencies.push(t.elapsed().as_micros() as u64);
                    } else {
                        errors += 1;
                        if errors > 100 {
                            break;
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.join().unwrap_or_default();
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{} {errors} {:.0} {} {}",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.5),
        pct(0.99)
    );
}

/// Starts `command`, then asks `GET /health` on `addr` until it answers
/// 200; prints the milliseconds since the exec, and stops the command.
fn health(addr: &str, command: &[String]) {
    let Some((program, args)) = command.split_first() else {
        usage()
    };
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let deadline = started + Duration::from_secs(10);
    let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let answered = loop {
        if Instant::now() > deadline {
            break None;
        }
        if let Ok(mut stream) = TcpStream::connect(addr) {
            let _ = stream.set_read_timeout(Some(TIMEOUT));
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut reader = BufReader::new(stream);
                if read_reply(&mut reader, true).is_some_and(|r| r.status == 200) {
                    break Some(started.elapsed());
                }
            }
        }
        // Not listening yet: try again shortly.
        thread::sleep(Duration::from_micros(200));
    };
    let _ = child.kill();
    let _ = child.wait();
    match answered {
        Some(t) => println!("{:.1}", t.as_secs_f64() * 1000.0),
        None => {
            eprintln!("no /health answer in 10 s");
            std::process::exit(1)
        }
    }
}
