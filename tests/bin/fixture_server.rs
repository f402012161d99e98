//! A small MCP server over stdio that the tests control through environment
//! variables. Not part of the product: `cargo test` builds it (binary
//! `argus-test-fixture`), the integration tests run it as a stdio backend.
//!
//! - `FIXTURE_NAME`: label put into every tool result (default `fixture`).
//! - `FIXTURE_TOOLS`, `FIXTURE_PROMPTS`: comma-separated names.
//! - `FIXTURE_RESOURCES`, `FIXTURE_TEMPLATES`: comma-separated URIs / URI templates.
//! - `FIXTURE_SCHEMAS`: a JSON object, tool name → its `inputSchema`
//!   (default `{"type": "object"}`).
//! - `FIXTURE_TOGGLE_DESCRIBE=<tool>`: after `toggle`, that tool's
//!   description has " (changed)" appended.
//! - `FIXTURE_TOGGLE_RENAME=<old>:<new>`: `toggle` also renames a tool.
//! - `FIXTURE_PAGE_SIZE`: items per `tools/list` page (default: all).
//! - `FIXTURE_GARBAGE=1`: write non-JSON lines to stdout now and then.
//! - `FIXTURE_HUGE_LINE=N`: write one N-byte line to stdout before answering `initialize`.
//! - `FIXTURE_LOG=path`: append every message received, one JSON per line.
//! - `FIXTURE_FAIL_IF=path`: exit 1 at start while that file exists.
//! - `FIXTURE_INIT_DELAY_MS=n`: wait n ms before answering `initialize`.
//! - `FIXTURE_EXIT_AFTER_LIST=1`: exit 100 ms after answering `tools/list`
//!   (a backend that initializes and dies: a crash loop).
//!
//! Tools: `slow` (waits `arguments.ms`), `crash` (exits at once), `fail`
//! (JSON-RPC error), `progress` (two progress notifications first),
//! `toggle` (adds tool `added` and sends `tools/list_changed`), `getenv`
//! (the value of environment variable `arguments.name`, or `<unset>`),
//! `notify` (a `notifications/message` at `arguments.level` and a
//! `notifications/resources/updated` for `arguments.uri`), `ask` (sends the
//! client `arguments.method`, default `sampling/createMessage`, with
//! `arguments.text` as the prompt, and answers
//! with what came back; `flood` (sends `arguments.count` log messages at
//! level error as fast as it can, then answers); with `arguments.after_go` it sends its request only
//! once a `go` call has been answered, and with `arguments.tag` it names its
//! call in the request's `_meta.progressToken`), `go`, `deaf` (answers,
//! then never reads stdin again), `raw` (writes `arguments.line`, a string, to stdout
//! as it is, then answers), `bad` (answers with a line the gateway cannot
//! read, of `arguments.kind`: `utf8` (invalid UTF-8), `deep` (JSON nested
//! 200 deep), `long` (17 MiB); `noise` writes a non-JSON line without an id
//! first, then answers `after noise`); any other
//! name answers `"<FIXTURE_NAME>:<name>:<arguments>"`.

#[path = "../support/bad_answer.rs"]
mod bad_answer;

use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bad_answer::bad_answer;

use serde_json::{Value, json};

fn env_list(name: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

type Out = Arc<Mutex<std::io::Stdout>>;

fn send(out: &Out, value: &Value) {
    let mut out = out.lock().unwrap();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

fn main() {
    if let Ok(path) = std::env::var("FIXTURE_FAIL_IF")
        && std::path::Path::new(&path).exists()
    {
        eprintln!("fixture: {path} exists, failing");
        std::process::exit(1);
    }
    let label = std::env::var("FIXTURE_NAME").unwrap_or_else(|_| "fixture".into());
    let tools = Arc::new(Mutex::new(env_list("FIXTURE_TOOLS")));
    let prompts = env_list("FIXTURE_PROMPTS");
    let resources = env_list("FIXTURE_RESOURCES");
    let templates = env_list("FIXTURE_TEMPLATES");
    let describe = std::env::var("FIXTURE_TOGGLE_DESCRIBE").ok();
    let rename = std::env::var("FIXTURE_TOGGLE_RENAME").ok();
    let mut toggled = false;
    let schemas: serde_json::Map<String, Value> = std::env::var("FIXTURE_SCHEMAS")
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let page: usize = std::env::var("FIXTURE_PAGE_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let garbage = std::env::var("FIXTURE_GARBAGE").is_ok();
    let huge: usize = std::env::var("FIXTURE_HUGE_LINE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let log = std::env::var("FIXTURE_LOG").ok();
    let out: Out = Arc::new(Mutex::new(std::io::stdout()));
    eprintln!("fixture {label} starting");
    if garbage {
        let mut o = out.lock().unwrap();
        let _ = writeln!(o, "this is not JSON");
        let _ = o.flush();
    }

    // Requests we sent to the client, by our id: the tools/call waiting for each.
    let mut asked: std::collections::HashMap<String, Value> = std::collections::HashMap::new();
    let mut next_ask = 0;
    // Requests held back until the next `go` call.
    let mut held: Vec<Value> = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if let Some(path) = &log
            && let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let Some(method) = msg.get("method").and_then(Value::as_str) else {
            // An answer to one of our requests: finish the call that waits for it.
            if let Some(call) = asked.remove(&msg["id"].to_string()) {
                let text = if msg.get("error").is_some() {
                    format!(
                        "client error {}: {}",
                        msg["error"]["code"],
                        msg["error"]["message"].as_str().unwrap_or("")
                    )
                } else {
                    format!("client said {}", msg["result"])
                };
                send(
                    &out,
                    &json!({"jsonrpc": "2.0", "id": call, "result": {"content": [{"type": "text", "text": text}]}}),
                );
            }
            continue;
        };
        let Some(id) = msg.get("id").cloned() else {
            continue;
        };
        let params = msg.get("params").cloned().unwrap_or(json!({}));
        let reply =
            |result: Value| send(&out, &json!({"jsonrpc": "2.0", "id": id, "result": result}));
        match method {
            "initialize" => {
                if let Some(ms) = std::env::var("FIXTURE_INIT_DELAY_MS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                {
                    std::thread::sleep(Duration::from_millis(ms));
                }
                if huge > 0 {
                    let mut o = out.lock().unwrap();
                    let chunk = vec![b'x'; 1 << 20];
                    let mut left = huge;
                    while left > 0 {
                        let n = left.min(chunk.len());
                        let _ = o.write_all(&chunk[..n]);
                        left -= n;
                    }
                    let _ = o.write_all(b"\n");
                    let _ = o.flush();
                }
                let mut caps = json!({"tools": {"listChanged": true}, "logging": {}});
                if !prompts.is_empty() {
                    caps["prompts"] = json!({});
                }
                if !resources.is_empty() || !templates.is_empty() {
                    caps["resources"] = json!({"subscribe": true});
                }
                reply(json!({
                    "protocolVersion": params["protocolVersion"].as_str().unwrap_or("2025-06-18"),
                    "capabilities": caps,
                    "serverInfo": {"name": label, "version": "1"},
                }));
            }
            "ping" | "logging/setLevel" | "resources/subscribe" | "resources/unsubscribe" => {
                reply(json!({}))
            }
            "tools/list" => {
                let all = tools.lock().unwrap().clone();
                let start: usize = params["cursor"]
                    .as_str()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                let end = start.saturating_add(page).min(all.len());
                let items: Vec<Value> = all[start..end]
                    .iter()
                    .map(|t| {
                        let schema = schemas
                            .get(t.as_str())
                            .cloned()
                            .unwrap_or(json!({"type": "object"}));
                        let changed = toggled && describe.as_deref() == Some(t.as_str());
                        let description =
                            format!("{label} {t}{}", if changed { " (changed)" } else { "" });
                        json!({"name": t, "description": description, "inputSchema": schema})
                    })
                    .collect();
                let mut result = json!({"tools": items});
                if end < all.len() {
                    result["nextCursor"] = json!(end.to_string());
                }
                if garbage {
                    let mut o = out.lock().unwrap();
                    let _ = writeln!(o, "garbage between pages");
                }
                reply(result);
                if std::env::var("FIXTURE_EXIT_AFTER_LIST").is_ok() {
                    // Soon after, not at once: the answer should be read first.
                    std::thread::spawn(|| {
                        std::thread::sleep(Duration::from_millis(100));
                        std::process::exit(4);
                    });
                }
            }
            "prompts/list" => reply(
                json!({"prompts": prompts.iter().map(|p| json!({"name": p})).collect::<Vec<_>>()}),
            ),
            "resources/list" => reply(
                json!({"resources": resources.iter().map(|r| json!({"uri": r, "name": r.rsplit('/').next().unwrap_or(r)})).collect::<Vec<_>>()}),
            ),
            "resources/templates/list" => reply(
                json!({"resourceTemplates": templates.iter().map(|t| json!({"uriTemplate": t, "name": "template"})).collect::<Vec<_>>()}),
            ),
            "resources/read" => reply(
                json!({"contents": [{"uri": params["uri"], "text": format!("{label} read {}", params["uri"].as_str().unwrap_or(""))}]}),
            ),
            "prompts/get" => reply(
                json!({"messages": [{"role": "user", "content": {"type": "text", "text": format!("{label}:{}", params["name"].as_str().unwrap_or(""))}}]}),
            ),
            "completion/complete" => reply(json!({"completion": {"values": [label.clone()]}})),
            "tools/call" => {
                let name = params["name"].as_str().unwrap_or("").to_owned();
                match name.as_str() {
                    "crash" => std::process::exit(3),
                    "fail" => send(
                        &out,
                        &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32000, "message": "fixture failure", "data": {"x": 1}}}),
                    ),
                    "slow" => {
                        let ms = params["arguments"]["ms"].as_u64().unwrap_or(1000);
                        let out = out.clone();
                        let label = label.clone();
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_millis(ms));
                            send(
                                &out,
                                &json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": format!("{label}:slow done")}]}}),
                            );
                        });
                    }
                    "progress" => {
                        let token = params["_meta"]["progressToken"].clone();
                        for i in 1..=2 {
                            send(
                                &out,
                                &json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": token, "progress": i, "total": 2}}),
                            );
                        }
                        reply(
                            json!({"content": [{"type": "text", "text": format!("{label}:progress done")}]}),
                        );
                    }
                    "notify" => {
                        let args = &params["arguments"];
                        send(
                            &out,
                            &json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": args["level"], "logger": "fixture", "data": "hello log"}}),
                        );
                        send(
                            &out,
                            &json!({"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": args["uri"]}}),
                        );
                        reply(json!({"content": [{"type": "text", "text": "notified"}]}));
                    }
                    "ask" => {
                        next_ask += 1;
                        let ours = json!(format!("fx-ask-{next_ask}"));
                        asked.insert(ours.to_string(), id.clone());
                        let args = &params["arguments"];
                        let asked_method =
                            args["method"].as_str().unwrap_or("sampling/createMessage");
                        // `arguments.text`, if any, is the prompt.
                        let messages = match args["text"].as_str() {
                            Some(text) => {
                                json!([{"role": "user", "content": {"type": "text", "text": text}}])
                            }
                            None => json!([]),
                        };
                        let mut request = json!({"jsonrpc": "2.0", "id": ours, "method": asked_method, "params": {"messages": messages, "maxTokens": 5}});
                        if args["tag"] == true {
                            request["params"]["_meta"] =
                                json!({"progressToken": params["_meta"]["progressToken"]});
                        }
                        if args["after_go"] == true {
                            held.push(request);
                        } else {
                            send(&out, &request);
                        }
                    }
                    "deaf" => {
                        // Answers, then never reads stdin again.
                        reply(json!({"content": [{"type": "text", "text": "deaf now"}]}));
                        loop {
                            std::thread::park();
                        }
                    }
                    "go" => {
                        reply(json!({"content": [{"type": "text", "text": "went"}]}));
                        for request in held.drain(..) {
                            send(&out, &request);
                        }
                    }
                    "flood" => {
                        let count = params["arguments"]["count"].as_u64().unwrap_or(1000);
                        {
                            let mut o = out.lock().unwrap();
                            for i in 0..count {
                                let _ = writeln!(
                                    o,
                                    r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"level":"error","logger":"flood","data":"message {i} of a flood, padded to be a little longer than a short log line"}}}}"#
                                );
                            }
                            let _ = o.flush();
                        }
                        reply(json!({"content": [{"type": "text", "text": "flooded"}]}));
                    }
                    "raw" => {
                        let line = params["arguments"]["line"].as_str().unwrap_or("");
                        {
                            let mut o = out.lock().unwrap();
                            let _ = writeln!(o, "{line}");
                            let _ = o.flush();
                        }
                        reply(json!({"content": [{"type": "text", "text": "raw sent"}]}));
                    }
                    "bad" => {
                        let kind = params["arguments"]["kind"].as_str().unwrap_or("");
                        {
                            let mut o = out.lock().unwrap();
                            let _ = o.write_all(&bad_answer(&id, kind));
                            let _ = o.write_all(b"\n");
                            let _ = o.flush();
                        }
                        if kind == "noise" {
                            reply(json!({"content": [{"type": "text", "text": "after noise"}]}));
                        }
                    }
                    "getenv" => {
                        let key = params["arguments"]["name"].as_str().unwrap_or("");
                        let value = std::env::var(key).unwrap_or_else(|_| "<unset>".into());
                        reply(json!({"content": [{"type": "text", "text": value}]}));
                    }
                    "toggle" => {
                        toggled = true;
                        let mut all = tools.lock().unwrap();
                        all.push("added".into());
                        if let Some((old, new)) = rename.as_ref().and_then(|r| r.split_once(':')) {
                            for t in all.iter_mut().filter(|t| t.as_str() == old) {
                                *t = new.to_owned();
                            }
                        }
                        drop(all);
                        reply(json!({"content": [{"type": "text", "text": "toggled"}]}));
                        send(
                            &out,
                            &json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
                        );
                    }
                    _ => reply(
                        json!({"content": [{"type": "text", "text": format!("{label}:{name}:{}", params["arguments"])}]}),
                    ),
                }
            }
            other => send(
                &out,
                &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("unknown method {other}")}}),
            ),
        }
    }
    eprintln!("fixture {label} stdin closed, exiting");
}
