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
