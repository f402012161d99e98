//! A std-only load generator for `bench/run.sh` (compiled there with rustc;
//! not part of the crate). It opens one Streamable HTTP session on the
//! gateway, then runs C keep-alive connections that POST the JSON-RPC
//! request for D seconds (each with a fresh id: MCP forbids reusing an id
//! in flight), and prints `requests errors rps p50_us p99_us`.
//!
//! Usage: load ADDR CONNECTIONS SECONDS BODY_JSON

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

fn post(reader: &mut BufReader<TcpStream>, addr: &str, session: Option<&str>, body: &str) -> Option<(u16, String, String)> {
    let mut req = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(s) = session {
        req.push_str(&format!("Mcp-Session-Id: {s}\r\nMCP-Protocol-Version: 2025-06-18\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    reader.get_mut().write_all(req.as_bytes()).ok()?;
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let status: u16 = line.get(9..12)?.parse().ok()?;
    let mut len = 0usize;
    let mut sid = String::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        match k.to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse().ok()?,
            "mcp-session-id" => sid = v.trim().to_owned(),
            _ => {}
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some((status, sid, String::from_utf8_lossy(&body).into_owned()))
}

fn connect(addr: &str) -> BufReader<TcpStream> {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    BufReader::new(s)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (addr, conns, secs, body) = (
        args[1].clone(),
        args[2].parse::<usize>().unwrap(),
        args[3].parse::<u64>().unwrap(),
        args[4].clone(),
    );
    let mut c = connect(&addr);
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
    let (_, session, _) = post(&mut c, &addr, None, init).expect("initialize");
    post(&mut c, &addr, Some(&session), r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).expect("initialized");
    let session = Arc::new(session);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let workers: Vec<_> = (0..conns)
        .map(|worker| {
            let (addr, session, body) = (addr.clone(), session.clone(), body.clone());
            thread::spawn(move || {
                let mut c = connect(&addr);
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut n = 0u64;
                while Instant::now() < deadline {
                    n += 1;
                    let body = body.replacen("\"id\":1", &format!("\"id\":\"{worker}-{n}\""), 1);
                    let t = Instant::now();
                    match post(&mut c, &addr, Some(&session), &body) {
                        Some((200, _, text)) if !text.contains("\"error\"") && !text.contains("\"isError\":true") => {
                            latencies.push(t.elapsed().as_micros() as u64)
                        }
                        Some(_) => errors += 1,
                        None => {
                            errors += 1;
                            c = connect(&addr);
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.join().unwrap();
        all.extend(l);
        errors += e;
    }
    all.sort_unstable();
    let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0);
    println!("{} {} {:.0} {} {}", all.len(), errors, all.len() as f64 / secs as f64, pct(0.5), pct(0.99));
}
