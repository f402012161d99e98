//! CORS in a real browser: headless Chromium (Debian's
//! `chromium`) loads a page from an allowed origin that talks 2026-07-28 to
//! the gateway with `fetch` (a cross-origin POST with MCP headers, so a
//! preflight first), lists the tools and calls one; from an origin the
//! Origin rule does not allow, the preflight is refused and the page fails.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use crate::support::{Gateway, TempDir, fixture_backend, run_with_deadline, serve_each_on};

const PAGE: &str = r#"<!doctype html><html><body><pre id="out">pending</pre><script>
const gw = new URLSearchParams(location.search).get("gw");
const meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientCapabilities": {}};
async function rpc(id, method, params, name) {
  const headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method};
  if (name) headers["Mcp-Name"] = name;
  const r = await fetch(gw + "/mcp", {method: "POST", headers,
    body: JSON.stringify({jsonrpc: "2.0", id, method, params: {...params, _meta: meta}})});
  return await r.json();
}
(async () => {
  try {
    const list = await rpc(1, "tools/list", {});
    const call = await rpc(2, "tools/call", {name: "echo", arguments: {}}, "echo");
    document.getElementById("out").textContent = "OK tools=" +
      list.result.tools.map(t => t.name).join(",") + " call=" + call.result.content[0].text;
  } catch (e) {
    document.getElementById("out").textContent = "FAILED " + e;
  }
})();
</script></body></html>"#;

/// Serves `PAGE` to every request, on `ip`.
fn page_server(ip: &str) -> SocketAddr {
    serve_each_on(ip, |stream: TcpStream, _| {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let mut stream = stream;
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{PAGE}",
            PAGE.len()
        );
    })
}

fn chromium() -> String {
    let path = std::env::var("ARGUS_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} not found: run `bash tests/run-all.sh` (it installs Debian's chromium)"
    );
    path
}

/// What the page shows once its script ran, loaded from `page`.
fn visit(page: SocketAddr, gateway: SocketAddr) -> String {
    let profile = TempDir::new("chromium");
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=15000",
        "--dump-dom",
    ])
    .arg(format!("--user-data-dir={}", profile.0.display()))
    .arg(format!("http://{page}/page.html?gw=http://{gateway}"));
    let dom = run_with_deadline(cmd, Duration::from_secs(90));
    dom.split("<pre id=\"out\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or(&dom)
        .to_owned()
}

#[test]
fn a_browser_page_from_an_allowed_origin_lists_and_calls_tools() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("a", &[("FIXTURE_TOOLS", "echo")], "")
    );
    let gw = Gateway::start(&config);
    let allowed = page_server("127.0.0.1");
    let shown = visit(allowed, gw.addr);
    assert_eq!(shown, "OK tools=echo call=a:echo:{}", "{}", gw.stderr());
    assert!(
        gw.logged("OPTIONS /mcp 204"),
        "no preflight: {}",
        gw.stderr()
    );
    // 127.0.0.2 is not a loopback name to the Origin rule.
    let refused = page_server("127.0.0.2");
    let shown = visit(refused, gw.addr);
    assert!(shown.starts_with("FAILED"), "{shown}");
    assert!(gw.logged("OPTIONS /mcp 403"), "{}", gw.stderr());
}
