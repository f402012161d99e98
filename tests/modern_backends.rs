//! 2026-07-28 backends: a Streamable HTTP or stdio backend is probed with
//! `server/discover` first and, when it speaks 2026-07-28, called
//! statelessly with its routing headers (`Mcp-Name` with its own name,
//! `Mcp-Param-*` from its tools' `x-mcp-header` arguments, which a Python
//! `mcp` 2.x server checks), for clients of both eras; a 2025-era backend
//! is initialized as before. Tools whose `x-mcp-header` is invalid are left
//! out of the catalog with a warning.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    Gateway, LocalServer, fixture_backend, free_port, modern, modern_python, python, request,
    run_with_deadline, wait_until,
};

#[test]
fn a_2026_backend_is_called_statelessly_for_clients_of_both_eras() {
    let port = free_port();
    let mut server = Command::new(modern_python());
    server.args([
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/modern_server.py"),
        &port.to_string(),
    ]);
    let _server = LocalServer::start(server, port);
    let config = format!(
        "conflict_resolution: {{strategy: prefix}}\nbackends:\n  m:\n    type: streamable-http\n    url: http://127.0.0.1:{port}/mcp\n  old:\n    type: stdio\n    command: {}\n",
        env!("CARGO_BIN_EXE_argus-conformance-fixture")
    );
    let gw = Gateway::start(&config);
    assert!(wait_until(Duration::from_secs(30), || {
        request(gw.addr, "GET", "/health", &[], b"").json()["backends"]["connected"] == 2
    }));
    assert!(
        gw.logged("[m] speaks 2026-07-28: stateless"),
        "{}",
        gw.stderr()
    );
    // Invalid x-mcp-header: left out, said so.
    assert!(
        gw.logged("tool \"test_invalid_header_tool\" left out"),
        "{}",
        gw.stderr()
    );

    // A 2025-era client (Python SDK 1.x over SSE): the region, not ASCII,
    // goes to the backend in the Base64 header form, which it checks.
    let mut cmd = Command::new(python());
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/py/mcp_client.py"
    ))
    .arg(format!("http://{}/sse", gw.addr))
    .args([
        "m_where",
        r#"{"region": "eu west, ü"}"#,
        "m_echo",
        r#"{"text": "hi"}"#,
        // The backend's input-required result, asked of this 2025-era
        // client as an elicitation request, and the call retried.
        "m_ask",
        "{}",
    ])
    .env("ARGUS_TEST_ELICIT_NAME", "Bo");
    let out = run_with_deadline(cmd, Duration::from_secs(90));
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(
        v["calls"],
        json!(["modern:region=eu west, ü", "modern:hi", "modern:hello Bo"]),
        "{v}"
    );
    let tools = v["tools"].as_array().unwrap();
    assert!(tools.contains(&json!("m_where")) && tools.contains(&json!("old_test_custom_headers")));
    assert!(
        !tools.contains(&json!("old_test_invalid_header_tool")),
        "{v}"
    );

    // A 2026-07-28 client (Python SDK 2.x): the same calls.
    // Its own input-required round (the backend's sealed state) passes
    // through to the client and back.
    let mut cmd = Command::new(modern_python());
    cmd.arg("-c")
        .arg(concat!(
            "import asyncio, sys, json\nfrom mcp import Client, types\n",
            "async def elicit(context, params):\n",
            "    return types.ElicitResult(action='accept', content={'name': 'Ann'})\n",
            "async def main():\n",
            "    async with Client(sys.argv[1], mode='2026-07-28', elicitation_callback=elicit) as c:\n",
            "        a = await c.call_tool('m_where', {'region': 'us-east'})\n",
            "        b = await c.call_tool('m_echo', {'text': 'yo'})\n",
            "        d = await c.call_tool('m_ask', {})\n",
            "        print(json.dumps([a.content[0].text, b.content[0].text, d.content[0].text]))\n",
            "asyncio.run(main())\n"
        ))
        .arg(format!("http://{}/mcp", gw.addr));
    let out = run_with_deadline(cmd, Duration::from_secs(90));
    assert_eq!(
        out.trim(),
        r#"["modern:region=us-east", "modern:yo", "modern:hello Ann"]"#
    );
}

/// The conformance fixture as a 2026-07-28 Streamable HTTP server with
/// these options (`--ttl MS`, `--no-list-changed`), and its port.
fn modern_fixture(options: &[&str]) -> (u16, LocalServer) {
    let port = free_port();
    let mut fixture = Command::new(env!("CARGO_BIN_EXE_argus-conformance-fixture"));
    fixture.args(["--http", &port.to_string()]).args(options);
    (port, LocalServer::start(fixture, port))
}

fn modern_backend(name: &str, port: u16) -> String {
    format!("  {name}:\n    type: streamable-http\n    url: http://127.0.0.1:{port}/mcp\n")
}

fn ready(gw: &Gateway, backends: u64) {
    assert!(
        wait_until(Duration::from_secs(30), || {
            request(gw.addr, "GET", "/health", &[], b"").json()["backends"]["connected"] == backends
        }),
        "{}",
        gw.stderr()
    );
}

/// `ttlMs` and `cacheScope` of a modern `tools/list` through the gateway.
fn list_hints(gw: &Gateway) -> (Value, Value) {
    let r = modern::call(gw, "/mcp", 1, "tools/list", json!({})).json();
    (
        r["result"]["ttlMs"].clone(),
        r["result"]["cacheScope"].clone(),
    )
}

#[test]
fn modern_backends_caching_hints_bound_the_ones_served() {
    // One modern backend that allows 20 s: so do we.
    let (a, _fa) = modern_fixture(&["--ttl", "20000"]);
    let gw = Gateway::start(&format!("backends:\n{}", modern_backend("a", a)));
    ready(&gw, 1);
    assert_eq!(list_hints(&gw), (json!(20000), json!("public")));

    // The shortest of two, capped at a minute; and beside a 2025-era
    // backend, which gives no hints, nothing may be kept.
    let (b, _fb) = modern_fixture(&["--ttl", "3600000"]);
    let config = format!(
        "conflict_resolution: {{strategy: prefix}}\nbackends:\n{}",
        modern_backend("b", b)
    );
    let gw = Gateway::start(&config);
    ready(&gw, 1);
    assert_eq!(list_hints(&gw), (json!(60000), json!("public")));
    let config = format!(
        "conflict_resolution: {{strategy: prefix}}\nbackends:\n{}{}",
        modern_backend("a", a),
        fixture_backend("old", &[("FIXTURE_TOOLS", "echo")], "")
    );
    let gw = Gateway::start(&config);
    ready(&gw, 2);
    assert_eq!(list_hints(&gw), (json!(0), json!("public")));
}

#[test]
fn a_modern_backend_without_list_changes_is_listed_again_when_its_hints_expire() {
    // It tells no one that its tools changed; its hints say a second.
    let (port, _fixture) = modern_fixture(&["--ttl", "1000", "--no-list-changed"]);
    let gw = Gateway::start(&format!("backends:\n{}", modern_backend("a", port)));
    ready(&gw, 1);
    let tools = |gw: &Gateway| {
        let r = modern::call(gw, "/mcp", 2, "tools/list", json!({})).json();
        r["result"]["tools"].to_string()
    };
    assert!(!tools(&gw).contains("dynamic_tool_1"));
    let r = modern::call(
        &gw,
        "/mcp",
        3,
        "tools/call",
        json!({"name": "test_trigger_tool_change", "arguments": {}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        wait_until(Duration::from_secs(15), || tools(&gw)
            .contains("dynamic_tool_1")),
        "{}",
        gw.stderr()
    );
}
