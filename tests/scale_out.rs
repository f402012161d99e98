//! Several instances behind nginx: the shipped
//! `deploy/nginx.conf` (Debian's nginx) in front of two gateways. Modern
//! (2026-07-28) requests go round-robin and keep working when an instance
//! is killed; 2025-era sessions of the Python SDK, over SSE and Streamable
//! HTTP, stay on the instance that minted them (`server.instance`).

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    Gateway, SseClient, TempDir, fixture_backend, free_port, modern_python, python, request,
    run_with_deadline, wait_until,
};

/// nginx in the foreground; stopped (SIGTERM, then waited for) on drop.
struct Nginx {
    child: Child,
    _dir: TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn nginx(a: SocketAddr, b: SocketAddr, port: u16) -> Nginx {
    let binary = "/usr/sbin/nginx";
    assert!(
        std::path::Path::new(binary).exists(),
        "{binary} not found: run `bash tests/run-all.sh` (it installs Debian's nginx)"
    );
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf")).unwrap();
    let conf = shipped
        .replace("127.0.0.1:9001", &a.to_string())
        .replace("127.0.0.1:9002", &b.to_string())
        .replace("listen 127.0.0.1:8080", &format!("listen 127.0.0.1:{port}"));
    assert_ne!(conf, shipped);
    let dir = TempDir::new("nginx");
    let path = dir.write("nginx.conf", &conf);
    let globals = format!(
        "daemon off; pid {0}/nginx.pid; error_log {0}/error.log;",
        dir.0.display()
    );
    let child = Command::new(binary)
        .arg("-c")
        .arg(&path)
        .arg("-p")
        .arg(&dir.0)
        .args(["-g", &globals])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "nginx did not start: {}",
        std::fs::read_to_string(dir.0.join("error.log")).unwrap_or_default()
    );
    Nginx { child, _dir: dir }
}

const MODERN: &str = "2026-07-28";

/// A modern `tools/call echo` through `addr`; its answer.
fn modern_call(addr: SocketAddr, id: usize) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
        "name": "echo", "arguments": {"n": id},
        "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {}}}});
    let resp = request(
        addr,
        "POST",
        "/mcp",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("MCP-Protocol-Version", MODERN),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "echo"),
        ],
        body.to_string().as_bytes(),
    );
    assert_eq!(resp.status, 200, "call {id}: {}", resp.text());
    resp.json()
}

/// The tools/call answers an instance gave (from its /metrics).
fn calls_served(gw: &Gateway) -> u64 {
    request(gw.addr, "GET", "/metrics", &[], b"")
        .text()
        .lines()
        .filter(|l| l.starts_with("argus_requests_total{") && l.contains("method=\"tools/call\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn two_instances_behind_nginx_serve_both_eras_and_survive_a_kill() {
    let config = |instance: &str| {
        format!(
            "server: {{instance: {instance}}}\nbackends:\n{}",
            fixture_backend("a", &[("FIXTURE_TOOLS", "echo")], "")
        )
    };
    let gw_a = Gateway::start(&config("a1"));
    let mut gw_b = Gateway::start(&config("b2"));
    let port = free_port();
    let _nginx = nginx(gw_a.addr, gw_b.addr, port);
    let front: SocketAddr = ([127, 0, 0, 1], port).into();

    // Modern requests are spread over both.
    for id in 0..20 {
        let r = modern_call(front, id);
        assert_eq!(
            r["result"]["content"][0]["text"],
            format!("a:echo:{{\"n\":{id}}}")
        );
    }
    let (on_a, on_b) = (calls_served(&gw_a), calls_served(&gw_b));
    assert_eq!(on_a + on_b, 20);
    assert!(on_a > 0 && on_b > 0, "not round-robin: {on_a} / {on_b}");

    // 2025-era sessions, opened through nginx, stay where they were minted.
    for path in ["/sse", "/mcp"] {
        let mut cmd = Command::new(python());
        cmd.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/mcp_client.py"
        ))
        .arg(format!("http://{front}{path}"))
        .args(["echo", r#"{"via": "nginx"}"#]);
        let out = run_with_deadline(cmd, Duration::from_secs(90));
        let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(v["call"], r#"a:echo:{"via":"nginx"}"#, "{path}: {v}");
    }
    let mut modern_sdk = Command::new(modern_python());
    modern_sdk
        .arg("-c")
        .arg(concat!(
            "import asyncio, sys, json\nfrom mcp import Client\n",
            "async def main():\n",
            "    async with Client(sys.argv[1], mode='2026-07-28') as c:\n",
            "        r = await c.call_tool('echo', {'sdk': 2})\n",
            "        print(json.dumps([c.protocol_version, r.content[0].text]))\n",
            "asyncio.run(main())\n"
        ))
        .arg(format!("http://{front}/mcp"));
    let out = run_with_deadline(modern_sdk, Duration::from_secs(90));
    assert_eq!(out.trim(), r#"["2026-07-28", "a:echo:{\"sdk\":2}"]"#);

    // A session pinned to a1 (the round-robin gives one within two tries).
    let mut pinned = (0..4)
        .map(|_| SseClient::open(front))
        .find(|c| c.session_id().starts_with("a1"))
        .expect("a session on instance a1");
    pinned.initialize(front, "2025-06-18");

    // Instance b2 dies; modern calls keep working, the a1 session too.
    let _ = gw_b.child.kill();
    let _ = gw_b.wait_exit(Duration::from_secs(10));
    for id in 100..120 {
        let r = modern_call(front, id);
        assert_eq!(
            r["result"]["content"][0]["text"],
            format!("a:echo:{{\"n\":{id}}}")
        );
    }
    let reply = pinned.call(
        front,
        json!(7),
        "tools/call",
        json!({"name": "echo", "arguments": {}}),
    );
    assert_eq!(reply["result"]["content"][0]["text"], "a:echo:{}");
}
