//! Raw 2026-07-28 requests to a gateway's `/mcp`: the per-request `_meta`
//! and the routing headers derived from the body.

use serde_json::{Value, json};

use super::{Gateway, Resp, request};

pub const MODERN: &str = "2026-07-28";

/// The `_meta` of a modern request with no client capabilities.
pub fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    })
}

/// POSTs `body` with these headers (plus JSON content type and accept).
pub fn post(gw: &Gateway, path: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
    let mut all = vec![
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    all.extend_from_slice(headers);
    request(gw.addr, "POST", path, &all, body.to_string().as_bytes())
}

/// A well-formed modern request: headers derived from the body.
pub fn call(gw: &Gateway, path: &str, id: i64, method: &str, mut params: Value) -> Resp {
    params["_meta"] = meta();
    let name = match method {
        "tools/call" | "prompts/get" => params["name"].as_str().map(str::to_owned),
        "resources/read" => params["uri"].as_str().map(str::to_owned),
        _ => None,
    };
    let mut headers = vec![("MCP-Protocol-Version", MODERN), ("Mcp-Method", method)];
    if let Some(name) = &name {
        headers.push(("Mcp-Name", name));
    }
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    post(gw, path, &headers, &body)
}

/// A modern POST of `body` to `path` with these extra headers, on a
/// connection of its own, left open to read from: streams are read as
/// they come.
pub fn raw_post(
    gw: &Gateway,
    path: &str,
    headers: &[(&str, &str)],
    method: &str,
    name: Option<&str>,
    body: &Value,
) -> std::io::BufReader<std::net::TcpStream> {
    use std::io::Write;
    let body = body.to_string();
    let mut extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    if let Some(n) = name {
        extra.push_str(&format!("Mcp-Name: {n}\r\n"));
    }
    let mut stream = super::connect(gw.addr);
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMCP-Protocol-Version: {MODERN}\r\nMcp-Method: {method}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    std::io::BufReader::new(stream)
}

/// Opens a `subscriptions/listen` stream at `path` (with these extra
/// headers) asking for `notifications`.
pub fn listen(
    gw: &Gateway,
    path: &str,
    headers: &[(&str, &str)],
    id: i64,
    notifications: Value,
) -> std::io::BufReader<std::net::TcpStream> {
    let mut params = json!({"notifications": notifications});
    params["_meta"] = meta();
    let body =
        json!({"jsonrpc": "2.0", "id": id, "method": "subscriptions/listen", "params": params});
    let mut reader = raw_post(gw, path, headers, "subscriptions/listen", None, &body);
    let head = super::read_response(&mut reader, true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    reader
}

/// The next JSON message on a listen stream (keepalives skipped); the
/// socket's read timeout bounds the wait.
pub fn next_note(
    reader: &mut std::io::BufReader<std::net::TcpStream>,
    pending: &mut String,
) -> Value {
    loop {
        while let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                return serde_json::from_str(data).unwrap();
            }
        }
        let chunk = super::read_chunk(reader).expect("the listen stream ended");
        pending.push_str(&String::from_utf8(chunk).unwrap());
    }
}
