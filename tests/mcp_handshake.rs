//! The MCP handshake answered by the gateway (MCP 2025-06-18, Basic ›
//! Lifecycle: `initialize`, version negotiation, `ping`) and the catalog
//! methods with no backends, over the SSE transport.

use serde_json::{Value, json};

use crate::support::{Gateway, SseClient};

fn ask(client: &mut SseClient, gw: &Gateway, body: Value) -> Value {
    assert_eq!(client.post(gw.addr, &body.to_string()).status, 202);
    client.next_message().expect("a reply")
}

#[test]
fn version_negotiation() {
    let gw = Gateway::start("");
    for (asked, answered) in [
        ("2024-11-05", "2024-11-05"),
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("2023-01-01", "2025-11-25"),
    ] {
        let mut client = SseClient::open(gw.addr);
        let result = client.initialize(gw.addr, asked);
        assert_eq!(result["protocolVersion"], answered);
        assert_eq!(
            result["serverInfo"],
            json!({"name": "argus-mcp", "version": env!("CARGO_PKG_VERSION")})
        );
        for cap in ["tools", "resources", "prompts"] {
            assert_eq!(result["capabilities"][cap]["listChanged"], true, "{cap}");
        }
    }
}

#[test]
fn requests_before_initialize_are_refused_but_ping_works() {
    let gw = Gateway::start("");
    let mut c = SseClient::open(gw.addr);
    let r = ask(
        &mut c,
        &gw,
        json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
    );
    assert_eq!(r["error"]["code"], -32600);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("initialize")
    );
    let r = ask(&mut c, &gw, json!({"jsonrpc":"2.0","id":2,"method":"ping"}));
    assert_eq!(r, json!({"jsonrpc":"2.0","id":2,"result":{}}));
    let r = ask(
        &mut c,
        &gw,
        json!({"jsonrpc":"2.0","id":3,"method":"initialize","params":{}}),
    );
    assert_eq!(r["error"]["code"], -32602, "protocolVersion is required");
}

#[test]
fn empty_catalog_and_errors() {
    let gw = Gateway::start("");
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    for (method, key) in [
        ("tools/list", "tools"),
        ("resources/list", "resources"),
        ("resources/templates/list", "resourceTemplates"),
        ("prompts/list", "prompts"),
    ] {
        let r = ask(
            &mut c,
            &gw,
            json!({"jsonrpc":"2.0","id":method,"method":method}),
        );
        assert_eq!(r, json!({"jsonrpc":"2.0","id":method,"result":{key: []}}));
    }
    let r = ask(
        &mut c,
        &gw,
        json!({"jsonrpc":"2.0","id":1,"method":"no/such"}),
    );
    assert_eq!(r["error"]["code"], -32601);
    let r = ask(
        &mut c,
        &gw,
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{}}}),
    );
    assert_eq!(r["error"]["code"], -32602);
    assert!(r["error"]["message"].as_str().unwrap().contains("\"echo\""));
    let r = ask(
        &mut c,
        &gw,
        json!({"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"test://x"}}),
    );
    assert_eq!(r["error"]["code"], -32002);
    let r = ask(
        &mut c,
        &gw,
        json!({"jsonrpc":"2.0","id":4,"method":"logging/setLevel","params":{"level":"info"}}),
    );
    assert_eq!(r["result"], json!({}));
    let r = ask(
        &mut c,
        &gw,
        json!({"jsonrpc":"2.0","id":5,"method":"logging/setLevel","params":{"level":"loud"}}),
    );
    assert_eq!(r["error"]["code"], -32602);
    // Notifications get no reply: the next message answers the next request.
    assert_eq!(
        c.post(
            gw.addr,
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#
        )
        .status,
        202
    );
    let r = ask(&mut c, &gw, json!({"jsonrpc":"2.0","id":6,"method":"ping"}));
    assert_eq!(r["id"], 6);
    // Sessions do not share ids or replies.
    let mut other = SseClient::open(gw.addr);
    other.initialize(gw.addr, "2025-06-18");
    let r = ask(
        &mut other,
        &gw,
        json!({"jsonrpc":"2.0","id":6,"method":"tools/list"}),
    );
    assert_eq!(r["result"]["tools"], json!([]));
    let r = ask(&mut c, &gw, json!({"jsonrpc":"2.0","id":7,"method":"ping"}));
    assert_eq!(r["id"], 7);
}
