//! The fixture as a 2026-07-28 server over Streamable HTTP (`--http PORT`):
//! every POST is one stateless request with its own `_meta`; the headers
//! the gateway must send (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`,
//! `Mcp-Param-*` of `test_custom_headers`) are checked against the body
//! (400 + -32020 when they disagree); questions to the client are
//! input-required results with a sealed `requestState` (HMAC-SHA256, key
//! per process) that carries the answers of earlier rounds;
//! `subscriptions/listen` streams carry the `test_trigger_*` list changes.
//! A thread per connection; answers are JSON, or an SSE stream when the
//! call sends logs (only with `_meta` logLevel) or progress first.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{
    gathered, legacy_answer, legacy_question, prompt, prompts, questions, read, resources,
    run_tool, templates, text, tool_list,
};

const VERSION: &str = "2026-07-28";
const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
/// How long the results of the list and read methods may be cached,
/// unless `--ttl MS` says otherwise.
const TTL_MS: u64 = 30_000;
/// The longest body we read.
const MAX_BODY: usize = 4 << 20;

/// What every connection shares.
struct Shared {
    key: [u8; 32],
    /// `ttlMs` of the list and read results.
    ttl_ms: u64,
    /// Whether it declares (and sends) list changes; without, a client
    /// must go by the caching hints (`--no-list-changed`).
    list_changed: bool,
    extra_tools: AtomicU32,
    extra_prompts: AtomicU32,
    /// Open `subscriptions/listen` streams: the list changes they take.
    listeners: Mutex<Vec<(Sender<&'static str>, Vec<&'static str>)>>,
}

impl Shared {
    /// Tells every listen stream that asked for it about a list change.
    fn changed(&self, method: &'static str) {
        let mut listeners = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        listeners.retain(|(tx, wanted)| !wanted.contains(&method) || tx.send(method).is_ok());
    }

    fn seal(&self, tool: &str, round: u64, answers: &Map<String, Value>) -> String {
        let payload = hex(json!({"t": tool, "r": round, "a": answers})
            .to_string()
            .as_bytes());
        let mac = hex(&argus_mcp::sha256::hmac(&self.key, payload.as_bytes()));
        format!("{payload}.{mac}")
    }

    /// The round and answers `state` carries, if we sealed it for `tool`.
    fn unseal(&self, state: &str, tool: &str) -> Option<(u64, Map<String, Value>)> {
        let (payload, mac) = state.split_once('.')?;
        if hex(&argus_mcp::sha256::hmac(&self.key, payload.as_bytes())) != mac {
            return None;
        }
        let v: Value = serde_json::from_slice(&unhex(payload)?).ok()?;
        if v["t"] != tool {
            return None;
        }
        Some((v["r"].as_u64()?, v["a"].as_object()?.clone()))
    }
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Serves on 127.0.0.1:`port` until killed; `options`: `--ttl MS`,
/// `--no-list-changed`.
pub fn serve(port: u16, options: &[String]) {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let ttl_ms = options
        .iter()
        .position(|o| o == "--ttl")
        .and_then(|i| options.get(i + 1))
        .map_or(TTL_MS, |t| t.parse().expect("--ttl MS"));
    let shared = Arc::new(Shared {
        key: argus_mcp::random::bytes::<32>().expect("random key"),
        ttl_ms,
        list_changed: !options.iter().any(|o| o == "--no-list-changed"),
        extra_tools: AtomicU32::new(0),
        extra_prompts: AtomicU32::new(0),
        listeners: Mutex::new(Vec::new()),
    });
    for stream in listener.incoming().flatten() {
        let shared = shared.clone();
        let _ = thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || connection(&shared, stream));
    }
}

/// One HTTP request.
struct Request {
    method: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// A header's value, trimmed; the `=?base64?…?=` form decoded.
    fn header(&self, name: &str) -> Option<String> {
        let raw = self
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())?;
        match raw
            .strip_prefix("=?base64?")
            .and_then(|r| r.strip_suffix("?="))
        {
            Some(encoded) => argus_mcp::base64::decode(encoded)
                .and_then(|b| String::from_utf8(b).ok())
                .or_else(|| Some(format!("(undecodable {raw})"))),
            None => Some(raw.to_owned()),
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let method = line.split(' ').next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    if length > MAX_BODY {
        return None;
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        headers,
        body,
    })
}

/// What a request is answered with.
enum Answer {
    /// No body (a notification).
    Accepted,
    /// One JSON-RPC message with this HTTP status.
    Json(u16, Value),
    /// Notifications, then the answer, on an SSE stream.
    Stream(Vec<Value>, Value),
    /// A `subscriptions/listen` stream: its request id and what it takes.
    Listen(Value, Map<String, Value>),
}

fn connection(shared: &Shared, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut out = stream;
    while let Some(req) = read_request(&mut reader) {
        let answer = if !local(&req) {
            Answer::Json(
                403,
                error(&Value::Null, -32600, "Host or Origin is not local", None),
            )
        } else if req.method == "POST" {
            handle(shared, &req)
        } else {
            Answer::Json(
                405,
                error(&Value::Null, -32600, "only POST is served", None),
            )
        };
        let written = match answer {
            Answer::Accepted => {
                out.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
            }
            Answer::Json(status, body) => {
                let body = body.to_string();
                out.write_all(
                    format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
            }
            Answer::Stream(notes, last) => {
                let mut text = String::from(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
                );
                for message in notes.iter().chain([&last]) {
                    text.push_str(&format!("event: message\ndata: {message}\n\n"));
                }
                let _ = out.write_all(text.as_bytes());
                return;
            }
            Answer::Listen(id, accepted) => return listen(shared, &mut out, &id, accepted),
        };
        if written.is_err() {
            return;
        }
    }
}

/// DNS rebinding protection: `Host` and any `Origin` name this machine.
fn local(req: &Request) -> bool {
    let is_local = |authority: &str| {
        let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
        matches!(host, "127.0.0.1" | "localhost" | "[::1]")
    };
    let host = req.header("Host").unwrap_or_default();
    let origin = req.header("Origin");
    is_local(&host)
        && origin.is_none_or(|o| {
            o.strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"))
                .is_some_and(is_local)
        })
}

fn error(id: &Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut e = json!({"code": code, "message": message});
    if let Some(d) = data {
        e["data"] = d;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": e})
}

fn ok(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// A complete result; the list and read methods get caching hints
/// (`ttl_ms`, `None` for the rest).
fn complete(mut result: Value, ttl_ms: Option<u64>) -> Value {
    result["resultType"] = json!("complete");
    if let Some(ttl) = ttl_ms {
        result["ttlMs"] = json!(ttl);
        result["cacheScope"] = json!("public");
    }
    result
}

fn handle(shared: &Shared, req: &Request) -> Answer {
    let Ok(msg) = serde_json::from_slice::<Value>(&req.body) else {
        return Answer::Json(400, error(&Value::Null, -32700, "parse error", None));
    };
    let Some(method) = msg.get("method").and_then(Value::as_str) else {
        return Answer::Json(400, error(&Value::Null, -32600, "not a request", None));
    };
    let Some(id) = msg.get("id").cloned() else {
        return Answer::Accepted;
    };
    let params = msg.get("params").cloned().unwrap_or_else(|| json!({}));
    // The order of the Python SDK and the conformance suite: `_meta`,
    // headers against the body, the version, the method.
    let meta = &params["_meta"];
    let version = &meta["io.modelcontextprotocol/protocolVersion"];
    if !version.is_string() || !meta["io.modelcontextprotocol/clientCapabilities"].is_object() {
        let why = "Invalid params: _meta needs protocolVersion and clientCapabilities";
        return Answer::Json(400, error(&id, -32602, why, None));
    }
    let mismatch = |why: String| Answer::Json(400, error(&id, -32020, &why, None));
    if req.header("MCP-Protocol-Version").as_ref() != version.as_str().map(str::to_owned).as_ref() {
        return mismatch(format!(
            "MCP-Protocol-Version is {:?}, the body's is {version}",
            req.header("MCP-Protocol-Version")
        ));
    }
    if req.header("Mcp-Method").as_deref() != Some(method) {
        return mismatch(format!(
            "Mcp-Method is {:?}, the body's is {method}",
            req.header("Mcp-Method")
        ));
    }
    let name_field = match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    };
    if let Some(field) = name_field
        && req.header("Mcp-Name").as_deref() != params[field].as_str()
    {
        return mismatch(format!(
            "Mcp-Name is {:?}, the body's {field} is {}",
            req.header("Mcp-Name"),
            params[field]
        ));
    }
    if version != VERSION {
        return Answer::Json(
            400,
            error(
                &id,
                -32022,
                "Unsupported protocol version",
                Some(json!({"supported": [VERSION], "requested": version})),
            ),
        );
    }
    let caps = &meta["io.modelcontextprotocol/clientCapabilities"];
    let done = |result: Value, cacheable: bool| {
        let ttl = cacheable.then_some(shared.ttl_ms);
        Answer::Json(200, ok(&id, complete(result, ttl)))
    };
    let list_changed = json!({"listChanged": shared.list_changed});
    match method {
        "server/discover" => done(
            json!({
                "supportedVersions": [VERSION],
                "capabilities": {
                    "tools": list_changed,
                    "resources": list_changed,
                    "prompts": list_changed,
                    "logging": {},
                    "completions": {}
                },
                "_meta": {"io.modelcontextprotocol/serverInfo":
                    {"name": "argus-conformance-fixture", "version": "1.0.0"}}
            }),
            true,
        ),
        "tools/list" => done(
            json!({"tools": tool_list(shared.extra_tools.load(Ordering::SeqCst))}),
            true,
        ),
        "resources/list" => done(json!({"resources": resources()}), true),
        "resources/templates/list" => done(json!({"resourceTemplates": templates()}), true),
        "prompts/list" => done(
            json!({"prompts": prompts(shared.extra_prompts.load(Ordering::SeqCst))}),
            true,
        ),
        "resources/read" => {
            let uri = params["uri"].as_str().unwrap_or_default();
            match read(uri) {
                Some(c) => done(json!({"contents": [c]}), true),
                None => Answer::Json(
                    200,
                    error(&id, -32602, "Resource not found", Some(json!({"uri": uri}))),
                ),
            }
        }
        "completion/complete" => done(
            json!({"completion": {"values": [], "total": 0, "hasMore": false}}),
            false,
        ),
        "prompts/get" => {
            let name = params["name"].as_str().unwrap_or_default();
            if questions(name).is_some() {
                return rounds(shared, &id, name, &params, caps);
            }
            match prompt(name, &params["arguments"]) {
                Some(m) => done(json!({"messages": m}), false),
                None => Answer::Json(200, error(&id, -32602, "unknown prompt", None)),
            }
        }
        "tools/call" => call(shared, req, &id, &params, caps),
        "subscriptions/listen" => {
            let asked = params["notifications"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let accepted = asked
                .into_iter()
                .filter(|(k, v)| {
                    v == &json!(true)
                        && matches!(
                            k.as_str(),
                            "toolsListChanged" | "promptsListChanged" | "resourcesListChanged"
                        )
                })
                .collect();
            Answer::Listen(id, accepted)
        }
        other => Answer::Json(
            404,
            error(&id, -32601, &format!("Method not found: {other}"), None),
        ),
    }
}

fn call(shared: &Shared, req: &Request, id: &Value, params: &Value, caps: &Value) -> Answer {
    let name = params["name"].as_str().unwrap_or_default();
    let args = &params["arguments"];
    let meta = &params["_meta"];
    match name {
        "test_trigger_tool_change" => {
            shared.extra_tools.fetch_add(1, Ordering::SeqCst);
            shared.changed("notifications/tools/list_changed");
            return Answer::Json(200, ok(id, complete(text("tool list changed"), None)));
        }
        "test_trigger_prompt_change" => {
            shared.extra_prompts.fetch_add(1, Ordering::SeqCst);
            shared.changed("notifications/prompts/list_changed");
            return Answer::Json(200, ok(id, complete(text("prompt list changed"), None)));
        }
        "test_custom_headers" => {
            for (arg, header) in [
                ("region", "Mcp-Param-Region"),
                ("count", "Mcp-Param-Count"),
                ("verbose", "Mcp-Param-Verbose"),
            ] {
                let want = match &args[arg] {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                };
                if req.header(header) != want {
                    return Answer::Json(
                        400,
                        error(
                            id,
                            -32020,
                            &format!(
                                "{header} is {:?}, the argument is {want:?}",
                                req.header(header)
                            ),
                            None,
                        ),
                    );
                }
            }
        }
        _ => {}
    }
    if questions(name).is_some() || legacy_question(name, args).is_some() {
        return rounds(shared, id, name, params, caps);
    }
    let token = &meta["progressToken"];
    let Some(run) = run_tool(name, args, token) else {
        return Answer::Json(
            200,
            error(id, -32602, &format!("unknown tool: {name}"), None),
        );
    };
    // Logs only for a request that asked for them, at or above its level;
    // progress only for a request with a token.
    let levels = argus_mcp::mcp::LOG_LEVELS;
    let wanted = meta["io.modelcontextprotocol/logLevel"]
        .as_str()
        .and_then(|l| levels.iter().position(|x| *x == l));
    let notes: Vec<Value> = run
        .notes
        .into_iter()
        .filter(|n| match n["method"].as_str() {
            Some("notifications/message") => wanted.is_some_and(|w| {
                levels
                    .iter()
                    .position(|x| n["params"]["level"] == *x)
                    .is_some_and(|l| l >= w)
            }),
            _ => !token.is_null(),
        })
        .collect();
    let last = ok(id, complete(run.result, None));
    if notes.is_empty() {
        Answer::Json(200, last)
    } else {
        Answer::Stream(notes, last)
    }
}

/// The capability a question needs.
fn capability(method: &str) -> &'static str {
    match method {
        "sampling/createMessage" => "sampling",
        "roots/list" => "roots",
        _ => "elicitation",
    }
}

/// A fixture that asks the client: an input-required result until every
/// question of the round is answered (answers of earlier rounds travel in
/// the sealed `requestState`), then the result.
fn rounds(shared: &Shared, id: &Value, tool: &str, params: &Value, caps: &Value) -> Answer {
    let refuse = |why: &str| Answer::Json(200, error(id, -32602, why, None));
    let (round, mut answers) = match params.get("requestState") {
        None => (1, Map::new()),
        Some(Value::String(state)) => match shared.unseal(state, tool) {
            Some(carried) => carried,
            None => return refuse("requestState failed verification"),
        },
        Some(_) => return refuse("requestState must be a string"),
    };
    let responses = match params.get("inputResponses") {
        None => Map::new(),
        Some(Value::Object(r)) => r.clone(),
        Some(_) => return refuse("inputResponses must be an object"),
    };
    let legacy = legacy_question(tool, &params["arguments"]);
    let mut asked: Vec<(String, &'static str, Value)> = match &legacy {
        Some((method, request, _)) => vec![("answer".into(), *method, request.clone())],
        None if tool == "test_input_required_result_multi_round" && round == 2 => vec![(
            "step2".into(),
            "elicitation/create",
            super::elicit("Step 2: What is your favorite color?", "color", "string"),
        )],
        None => questions(tool)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, m, p)| (k.to_owned(), m, p))
            .collect(),
    };
    let declared = |method: &str| caps.get(capability(method)).is_some_and(|c| c.is_object());
    if tool == "test_input_required_result_capabilities" {
        asked.retain(|(_, m, _)| declared(m));
    } else if let Some((_, m, _)) = asked.iter().find(|(_, m, _)| !declared(m)) {
        let cap = capability(m);
        return Answer::Json(
            400,
            error(
                id,
                -32021,
                &format!("Server requires the {cap} capability for this request"),
                Some(json!({"requiredCapabilities": {cap: {}}})),
            ),
        );
    }
    for (key, _, _) in &asked {
        if let Some(answer) = responses.get(key).filter(|a| a.is_object()) {
            answers.insert(key.clone(), answer.clone());
        }
    }
    let missing: Map<String, Value> = asked
        .iter()
        .filter(|(k, _, _)| !answers.contains_key(k))
        .map(|(k, m, p)| (k.clone(), json!({"method": m, "params": p})))
        .collect();
    let next_round = tool == "test_input_required_result_multi_round" && round == 1;
    if !missing.is_empty() || next_round {
        let (round, missing) = if missing.is_empty() {
            let step2 = json!({"method": "elicitation/create",
                "params": super::elicit("Step 2: What is your favorite color?", "color", "string")});
            (2, Map::from_iter([("step2".to_owned(), step2)]))
        } else {
            (round, missing)
        };
        return Answer::Json(
            200,
            ok(
                id,
                json!({"resultType": "input_required", "inputRequests": missing,
                    "requestState": shared.seal(tool, round, &answers)}),
            ),
        );
    }
    if let Some((_, _, pending)) = &legacy {
        let answer = legacy_answer(pending, &answers["answer"], None);
        return Answer::Json(200, ok(id, complete(text(&answer), None)));
    }
    let out = gathered(tool, &answers);
    match out.get("result") {
        Some(result) => Answer::Json(200, ok(id, complete(result.clone(), None))),
        None => Answer::Json(
            400,
            json!({"jsonrpc": "2.0", "id": id, "error": out["error"]}),
        ),
    }
}

/// A `subscriptions/listen` stream: the acknowledgement first, then the
/// list changes it takes, each tagged with its id, and keep-alives.
fn listen(shared: &Shared, out: &mut TcpStream, id: &Value, accepted: Map<String, Value>) {
    let wanted: Vec<&'static str> = [
        ("toolsListChanged", "notifications/tools/list_changed"),
        ("promptsListChanged", "notifications/prompts/list_changed"),
        (
            "resourcesListChanged",
            "notifications/resources/list_changed",
        ),
    ]
    .into_iter()
    .filter(|(k, _)| accepted.contains_key(*k))
    .map(|(_, m)| m)
    .collect();
    let (tx, rx) = mpsc::channel();
    shared
        .listeners
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((tx, wanted));
    let ack = json!({"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
        "params": {"_meta": {SUBSCRIPTION_ID: id}, "notifications": accepted}});
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\nevent: message\ndata: {ack}\n\n"
    );
    if out.write_all(head.as_bytes()).is_err() {
        return;
    }
    loop {
        let frame = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(method) => {
                let note = json!({"jsonrpc": "2.0", "method": method,
                    "params": {"_meta": {SUBSCRIPTION_ID: id}}});
                format!("event: message\ndata: {note}\n\n")
            }
            Err(RecvTimeoutError::Timeout) => ": keep-alive\n\n".to_owned(),
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if out.write_all(frame.as_bytes()).is_err() {
            return;
        }
    }
}
