//! A 2025-era (legacy) MCP server over stdio with the tools, resources,
//! prompts and completions that `@modelcontextprotocol/conformance` calls
//! by name (`test_simple_text`, `test://static-text`, ...), so the suite
//! can run through the gateway with nothing it expects missing. Written
//! from the suite's checks; one thread, newline-delimited JSON-RPC.
//!
//! Server→client requests (sampling, elicitation) are sent with our own id
//! and the call they serve waits in a table until the client answers.
//!
//! With `--http PORT [--ttl MS] [--no-list-changed]` it is a 2026-07-28
//! server over Streamable HTTP instead, with the same fixtures (`modern.rs`).

#[path = "conformance_fixture/modern.rs"]
mod modern;

use std::collections::HashMap;
use std::io::{BufRead, Write};

use serde_json::{Value, json};

/// A 1×1 PNG.
const IMAGE: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";
/// A short silent WAV.
const AUDIO: &str =
    "UklGRjQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YRAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn send(value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

fn text(t: &str) -> Value {
    json!({"content": [{"type": "text", "text": t}]})
}

fn tool(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "description": description, "inputSchema": schema})
}

fn empty() -> Value {
    json!({"type": "object", "properties": {}})
}

fn tools() -> Value {
    let string_arg = |name: &str, what: &str| json!({"type": "object", "properties": {name: {"type": "string", "description": what}}, "required": [name]});
    json!([
        tool("test_simple_text", "Simple text content", empty()),
        tool("test_image_content", "Image content", empty()),
        tool("test_audio_content", "Audio content", empty()),
        tool("test_embedded_resource", "An embedded resource", empty()),
        tool(
            "test_multiple_content_types",
            "Text, image and resource",
            empty()
        ),
        tool("test_tool_with_logging", "Logs while it runs", empty()),
        tool("test_tool_with_progress", "Reports progress", empty()),
        tool("test_error_handling", "Always fails", empty()),
        tool(
            "test_sampling",
            "Asks the client to sample",
            string_arg("prompt", "The prompt")
        ),
        tool(
            "test_elicitation",
            "Asks the user",
            string_arg("message", "The message")
        ),
        tool(
            "test_elicitation_sep1034_defaults",
            "Elicitation with defaults",
            empty()
        ),
        tool(
            "test_elicitation_sep1330_enums",
            "Elicitation with enums",
            empty()
        ),
        tool(
            "test_input_required_result_elicitation",
            "Asks the user's name",
            empty()
        ),
        tool(
            "test_input_required_result_sampling",
            "Asks a model",
            empty()
        ),
        tool(
            "test_input_required_result_list_roots",
            "Asks for roots",
            empty()
        ),
        tool(
            "test_input_required_result_request_state",
            "Asks for a confirmation",
            empty()
        ),
        tool(
            "test_input_required_result_multiple_inputs",
            "Asks three things",
            empty()
        ),
        tool(
            "test_input_required_result_multi_round",
            "Asks twice",
            empty()
        ),
        tool(
            "test_input_required_result_tampered_state",
            "Asks for a confirmation",
            empty()
        ),
        tool(
            "test_input_required_result_capabilities",
            "Asks a model and the user",
            empty()
        ),
        tool("test_missing_capability", "Needs sampling", empty()),
        tool(
            "test_streaming_elicitation",
            "Asks the user while it runs",
            empty()
        ),
        tool("test_logging_tool", "Logs once", empty()),
        tool(
            "test_trigger_tool_change",
            "Adds a tool and says so",
            empty()
        ),
        tool(
            "test_trigger_prompt_change",
            "Adds a prompt and says so",
            empty()
        ),
        tool(
            "json_schema_2020_12_tool",
            "JSON Schema 2020-12 features",
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {"address": {"$anchor": "addressDef", "type": "object", "properties": {
                    "street": {"type": "string"}, "city": {"type": "string"}}}},
                "properties": {
                    "name": {"type": "string"},
                    "address": {"$ref": "#/$defs/address"},
                    "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                    "phone": {"type": "string"},
                    "email": {"type": "string"}
                },
                "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
                "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
                "then": {"required": ["phone"]},
                "else": {"required": ["email"]},
                "additionalProperties": false
            })
        ),
        tool(
            "test_custom_headers",
            "Arguments mirrored in Mcp-Param-* headers",
            json!({"type": "object", "properties": {
                "region": {"type": "string", "x-mcp-header": "Region"},
                "count": {"type": "integer", "x-mcp-header": "Count"},
                "verbose": {"type": "boolean", "x-mcp-header": "Verbose"},
                "note": {"type": "string"}
            }, "required": ["region"]})
        ),
        // After the valid one (the suite takes the first tool with an
        // x-mcp-header). Invalid on purpose (a space in the header name): the gateway
        // must leave it out of its catalog.
        tool(
            "test_invalid_header_tool",
            "An x-mcp-header that is not an HTTP token",
            json!({"type": "object", "properties": {
                "region": {"type": "string", "x-mcp-header": "Bad Header"}}})
        ),
    ])
}

fn defaults_schema() -> Value {
    json!({"type": "object", "required": [], "properties": {
        "name": {"type": "string", "description": "User name", "default": "John Doe"},
        "age": {"type": "integer", "description": "User age", "default": 30},
        "score": {"type": "number", "description": "User score", "default": 95.5},
        "status": {"type": "string", "description": "User status",
            "enum": ["active", "inactive", "pending"], "default": "active"},
        "verified": {"type": "boolean", "description": "Verification status", "default": true}
    }})
}

fn enums_schema() -> Value {
    let titled = |prefix: &str, word: &str| {
        json!([
            {"const": format!("{prefix}1"), "title": format!("First {word}")},
            {"const": format!("{prefix}2"), "title": format!("Second {word}")},
            {"const": format!("{prefix}3"), "title": format!("Third {word}")}
        ])
    };
    json!({"type": "object", "required": [], "properties": {
        "untitledSingle": {"type": "string", "description": "Select one option",
            "enum": ["option1", "option2", "option3"]},
        "titledSingle": {"type": "string", "description": "Select one option with titles",
            "oneOf": titled("value", "Option")},
        "legacyEnum": {"type": "string", "description": "Select one option (legacy)",
            "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"]},
        "untitledMulti": {"type": "array", "description": "Select multiple options",
            "minItems": 1, "maxItems": 3, "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
        "titledMulti": {"type": "array", "description": "Select multiple options with titles",
            "minItems": 1, "maxItems": 3, "items": {"anyOf": titled("value", "Choice")}}
    }})
}

/// What a call that asked the client does with the answer.
enum Pending {
    Sampling,
    Elicitation(&'static str),
    /// One of the questions of a 2026-07-28 fixture, asked the 2025 way
    /// (our request id is the input key the suite looks for).
    Gather(u64),
}

/// A 2026-07-28 fixture call waiting for its questions' answers.
struct Gathering {
    id: Value,
    tool: String,
    waiting: usize,
    answers: serde_json::Map<String, Value>,
}

fn elicit(message: &str, field: &str, kind: &str) -> Value {
    json!({"message": message, "requestedSchema": {"type": "object",
        "properties": {field: {"type": kind}}, "required": [field]}})
}

fn sample(question: &str) -> Value {
    json!({"messages": [{"role": "user", "content": {"type": "text", "text": question}}], "maxTokens": 50})
}

/// The questions (key, method, params) a 2026-07-28 fixture asks first.
fn questions(tool: &str) -> Option<Vec<(&'static str, &'static str, Value)>> {
    let name = (
        "user_name",
        "elicitation/create",
        elicit("What is your name?", "name", "string"),
    );
    let capital = (
        "capital_question",
        "sampling/createMessage",
        sample("What is the capital of France?"),
    );
    let roots = ("client_roots", "roots/list", json!({}));
    let confirm = (
        "confirm",
        "elicitation/create",
        elicit("Please confirm", "ok", "boolean"),
    );
    Some(match tool {
        "test_input_required_result_elicitation" | "test_input_required_result_prompt" => {
            vec![name]
        }
        "test_input_required_result_sampling" | "test_missing_capability" => vec![capital],
        "test_input_required_result_list_roots" => vec![roots],
        "test_input_required_result_request_state"
        | "test_input_required_result_tampered_state"
        | "test_streaming_elicitation" => vec![confirm],
        "test_input_required_result_multiple_inputs" => vec![name, capital, roots],
        "test_input_required_result_capabilities" => vec![capital, name],
        "test_input_required_result_multi_round" => vec![(
            "step1",
            "elicitation/create",
            elicit("Step 1: What is your name?", "name", "string"),
        )],
        _ => return None,
    })
}

/// The result of a 2026-07-28 fixture once every question is answered:
/// `{"result": …}` or `{"error": …}`.
fn gathered(tool: &str, a: &serde_json::Map<String, Value>) -> Value {
    let at = |k: &str| a.get(k).unwrap_or(&Value::Null);
    let content = |k: &str, f: &str| at(k)["content"][f].as_str().unwrap_or("").to_owned();
    let done = match tool {
        "test_input_required_result_elicitation" => {
            format!("Hello, {}!", content("user_name", "name"))
        }
        "test_input_required_result_sampling" => format!(
            "The answer: {}",
            at("capital_question")["content"]["text"]
                .as_str()
                .unwrap_or("")
        ),
        "test_input_required_result_list_roots" => {
            format!("Roots: {}", at("client_roots")["roots"])
        }
        "test_input_required_result_request_state"
        | "test_input_required_result_tampered_state" => "state-ok: confirmed".to_owned(),
        "test_input_required_result_multi_round" => format!(
            "Done: {} likes {}",
            content("step1", "name"),
            content("step2", "color")
        ),
        "test_missing_capability" if at("capital_question").get("code").is_some() => {
            return json!({"error": {"code": -32021, "message": "sampling is required",
                "data": {"requiredCapabilities": {"sampling": {}}}}});
        }
        _ => "All inputs received".to_owned(),
    };
    if tool == "test_input_required_result_prompt" {
        return json!({"result": {"messages": [{"role": "user", "content": {"type": "text", "text": done}}]}});
    }
    json!({"result": text(&done)})
}

/// Every tool, with those the `test_trigger_tool_change` fixture added.
fn tool_list(extra: u32) -> Value {
    let mut all = tools();
    if let Some(list) = all.as_array_mut() {
        for n in 1..=extra {
            list.push(tool(
                &format!("dynamic_tool_{n}"),
                "Added by a trigger",
                empty(),
            ));
        }
    }
    all
}

fn resources() -> Value {
    json!([
        {"uri": "test://static-text", "name": "static-text", "title": "Static Text Resource",
            "mimeType": "text/plain"},
        {"uri": "test://static-binary", "name": "static-binary", "title": "Static Binary Resource",
            "mimeType": "image/png"},
        {"uri": "test://watched-resource", "name": "watched-resource", "mimeType": "text/plain"}
    ])
}

fn templates() -> Value {
    json!([{"uriTemplate": "test://template/{id}/data", "name": "template",
        "title": "Resource Template", "mimeType": "application/json"}])
}

/// The content of resource `uri`, if there is one.
fn read(uri: &str) -> Option<Value> {
    match uri {
        "test://static-text" => Some(json!({"uri": uri, "mimeType": "text/plain",
            "text": "This is the content of the static text resource."})),
        "test://static-binary" => Some(json!({"uri": uri, "mimeType": "image/png", "blob": IMAGE})),
        "test://watched-resource" => Some(json!({"uri": uri, "mimeType": "text/plain",
            "text": "Watched resource content"})),
        _ => uri
            .strip_prefix("test://template/")
            .and_then(|rest| rest.strip_suffix("/data"))
            .map(|id| {
                json!({"uri": uri, "mimeType": "application/json", "text": json!({
                "id": id, "templateTest": true, "data": format!("Data for ID: {id}")}).to_string()})
            }),
    }
}

/// Every prompt, with those the `test_trigger_prompt_change` fixture added.
fn prompts(extra: u32) -> Value {
    let fixed = json!([
        {"name": "test_simple_prompt", "description": "A simple prompt without arguments"},
        {"name": "test_prompt_with_arguments", "description": "A prompt with required arguments",
            "arguments": [{"name": "arg1", "description": "First test argument", "required": true},
                {"name": "arg2", "description": "Second test argument", "required": true}]},
        {"name": "test_prompt_with_embedded_resource", "description": "A prompt with a resource",
            "arguments": [{"name": "resourceUri", "description": "URI of the resource to embed",
                "required": true}]},
        {"name": "test_prompt_with_image", "description": "A prompt with an image"},
        {"name": "test_input_required_result_prompt", "description": "Asks the user's name"}
    ]);
    (1..=extra)
        .map(
            |n| json!({"name": format!("dynamic_prompt_{n}"), "description": "Added by a trigger"}),
        )
        .chain(fixed.as_array().cloned().unwrap_or_default())
        .collect()
}

/// The messages of prompt `name`, if there is one (not the input-required one).
fn prompt(name: &str, args: &Value) -> Option<Value> {
    let arg = |k: &str| args[k].as_str().unwrap_or("").to_owned();
    let user = |content: Value| json!({"role": "user", "content": content});
    match name {
        "test_simple_prompt" => Some(json!([user(json!({"type": "text",
            "text": "This is a simple prompt for testing."}))])),
        "test_prompt_with_arguments" => Some(json!([user(json!({"type": "text", "text":
            format!("Prompt with arguments: arg1='{}', arg2='{}'", arg("arg1"), arg("arg2"))}))])),
        "test_prompt_with_embedded_resource" => Some(json!([
            user(
                json!({"type": "resource", "resource": {"uri": arg("resourceUri"),
                "mimeType": "text/plain", "text": "Embedded resource content for testing."}})
            ),
            user(json!({"type": "text", "text": "Please process the embedded resource above."}))
        ])),
        "test_prompt_with_image" => Some(json!([
            user(json!({"type": "image", "data": IMAGE, "mimeType": "image/png"})),
            user(json!({"type": "text", "text": "Please analyze the image above."}))
        ])),
        _ => None,
    }
}

/// What a tool that asks nothing produces: the notifications it sends
/// while it runs (logs, progress), then its result.
struct Run {
    notes: Vec<Value>,
    result: Value,
}

fn log_note(data: &str) -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/message",
        "params": {"level": "info", "data": data}})
}

/// Runs tool `name` if it is one that asks the client nothing.
fn run_tool(name: &str, args: &Value, token: &Value) -> Option<Run> {
    let done = |result: Value| {
        Some(Run {
            notes: Vec::new(),
            result,
        })
    };
    match name {
        "test_simple_text" => done(text("This is a simple text response for testing.")),
        "test_image_content" => done(json!({"content": [
            {"type": "image", "data": IMAGE, "mimeType": "image/png"}]})),
        "test_audio_content" => done(json!({"content": [
            {"type": "audio", "data": AUDIO, "mimeType": "audio/wav"}]})),
        "test_embedded_resource" => done(json!({"content": [{"type": "resource", "resource": {
            "uri": "test://embedded-resource", "mimeType": "text/plain",
            "text": "This is an embedded resource content."}}]})),
        "test_multiple_content_types" => done(json!({"content": [
            {"type": "text", "text": "Multiple content types test:"},
            {"type": "image", "data": IMAGE, "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "test://mixed-content-resource",
                "mimeType": "application/json", "text": "{\"test\":\"data\",\"value\":123}"}}]})),
        "test_logging_tool" => Some(Run {
            notes: vec![log_note("a log line")],
            result: text("logged"),
        }),
        "test_tool_with_logging" => Some(Run {
            notes: [
                "Tool execution started",
                "Tool processing data",
                "Tool execution completed",
            ]
            .into_iter()
            .map(log_note)
            .collect(),
            result: text("Tool with logging executed successfully"),
        }),
        "test_tool_with_progress" => {
            let token = if token.is_null() {
                json!(0)
            } else {
                token.clone()
            };
            Some(Run {
                notes: [0, 50, 100]
                    .into_iter()
                    .map(|step| {
                        json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {
                            "progressToken": token, "progress": step, "total": 100,
                            "message": format!("Completed step {step} of 100")}})
                    })
                    .collect(),
                result: text(&match &token {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }),
            })
        }
        "test_error_handling" => done(json!({"isError": true, "content": [{"type": "text",
            "text": "This tool intentionally returns an error for testing"}]})),
        "test_custom_headers" => done(text(&format!("headers ok: {args}"))),
        "json_schema_2020_12_tool" => done(text(&format!(
            "JSON Schema 2020-12 tool called with: {args}"
        ))),
        _ => None,
    }
}

/// The one question a 2025-era sampling or elicitation fixture asks:
/// method, params, and what to make of the answer.
fn legacy_question(name: &str, args: &Value) -> Option<(&'static str, Value, Pending)> {
    Some(match name {
        "test_sampling" => (
            "sampling/createMessage",
            json!({"messages": [{"role": "user", "content": {"type": "text",
                "text": args["prompt"].as_str().unwrap_or("")}}], "maxTokens": 100}),
            Pending::Sampling,
        ),
        "test_elicitation" => (
            "elicitation/create",
            json!({"message": args["message"].as_str().unwrap_or(""),
                "requestedSchema": {"type": "object", "required": ["response"], "properties": {
                    "response": {"type": "string", "description": "User's response"}}}}),
            Pending::Elicitation("User response"),
        ),
        "test_elicitation_sep1034_defaults" => (
            "elicitation/create",
            json!({"message": "Please review and update the form fields with defaults",
                "requestedSchema": defaults_schema()}),
            Pending::Elicitation("Elicitation completed"),
        ),
        "test_elicitation_sep1330_enums" => (
            "elicitation/create",
            json!({"message": "Please select options from the enum fields",
                "requestedSchema": enums_schema()}),
            Pending::Elicitation("Elicitation completed"),
        ),
        _ => return None,
    })
}

/// The result text of a 2025-era sampling or elicitation fixture, from
/// the client's answer (`result`) or its error.
fn legacy_answer(pending: &Pending, result: &Value, error: Option<&Value>) -> String {
    match (pending, error) {
        (_, Some(e)) => format!("Client error: {}", e["message"]),
        (Pending::Sampling, None) => format!(
            "LLM response: {}",
            result["content"]["text"].as_str().unwrap_or("No response")
        ),
        (Pending::Elicitation(prefix), None) => format!(
            "{prefix}: action={}, content={}",
            result["action"].as_str().unwrap_or(""),
            if result["content"].is_null() {
                json!({})
            } else {
                result["content"].clone()
            }
        ),
        (Pending::Gather(_), None) => String::new(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--http") {
        let port = args
            .get(1)
            .and_then(|p| p.parse().ok())
            .expect("--http PORT");
        return modern::serve(port, &args[2..]);
    }
    legacy();
}

/// The 2025-era server on stdin/stdout.
fn legacy() {
    let mut asked: HashMap<String, (Value, Pending)> = HashMap::new();
    let mut gatherings: HashMap<u64, Gathering> = HashMap::new();
    let mut next = 0u64;
    // Tools and prompts added by the `test_trigger_*` fixtures.
    let (mut extra_tools, mut extra_prompts) = (0u32, 0u32);
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let Some(method) = msg.get("method").and_then(Value::as_str) else {
            // The client's answer to one of our requests.
            if let Some((call, pending)) = msg["id"].as_str().and_then(|id| asked.remove(id)) {
                if let Pending::Gather(slot) = pending {
                    let key = msg["id"].as_str().unwrap_or_default().to_owned();
                    let Some(g) = gatherings.get_mut(&slot) else {
                        continue;
                    };
                    let answer = msg
                        .get("error")
                        .cloned()
                        .unwrap_or_else(|| msg["result"].clone());
                    g.answers.insert(key.clone(), answer);
                    g.waiting -= 1;
                    if key == "step1" {
                        // The second round of the multi-round fixture.
                        asked.insert("step2".into(), (call, Pending::Gather(slot)));
                        g.waiting += 1;
                        send(
                            &json!({"jsonrpc": "2.0", "id": "step2", "method": "elicitation/create",
                            "params": elicit("Step 2: What is your favorite color?", "color", "string")}),
                        );
                        continue;
                    }
                    if g.waiting == 0
                        && let Some(g) = gatherings.remove(&slot)
                    {
                        let mut out = gathered(&g.tool, &g.answers);
                        out["jsonrpc"] = json!("2.0");
                        out["id"] = g.id;
                        send(&out);
                    }
                    continue;
                }
                let answer = legacy_answer(&pending, &msg["result"], msg.get("error"));
                send(&json!({"jsonrpc": "2.0", "id": call, "result": text(&answer)}));
            }
            continue;
        };
        let Some(id) = msg.get("id").cloned() else {
            continue; // notifications: nothing to do
        };
        let params = msg.get("params").cloned().unwrap_or(json!({}));
        let reply = |result: Value| send(&json!({"jsonrpc": "2.0", "id": id, "result": result}));
        let mut ask = |method: &str, request: Value, pending: Pending| {
            next += 1;
            let ours = format!("fixture-{next}");
            asked.insert(ours.clone(), (id.clone(), pending));
            send(&json!({"jsonrpc": "2.0", "id": ours, "method": method, "params": request}));
        };
        match method {
            "initialize" => reply(json!({
                "protocolVersion": params["protocolVersion"].as_str().unwrap_or("2025-11-25"),
                "capabilities": {
                    "tools": {"listChanged": true},
                    "resources": {"subscribe": true, "listChanged": true},
                    "prompts": {"listChanged": true},
                    "logging": {},
                    "completions": {}
                },
                "serverInfo": {"name": "argus-conformance-fixture", "version": "1.0.0"}
            })),
            "ping" | "logging/setLevel" | "resources/subscribe" | "resources/unsubscribe" => {
                reply(json!({}))
            }
            "tools/list" => reply(json!({"tools": tool_list(extra_tools)})),
            "tools/call" | "prompts/get"
                if questions(params["name"].as_str().unwrap_or_default()).is_some() =>
            {
                let tool = params["name"].as_str().unwrap_or_default().to_owned();
                next += 1;
                let slot = next;
                let asks = questions(&tool).unwrap_or_default();
                gatherings.insert(
                    slot,
                    Gathering {
                        id: id.clone(),
                        tool,
                        waiting: asks.len(),
                        answers: serde_json::Map::new(),
                    },
                );
                for (key, method, request) in asks {
                    asked.insert(key.to_owned(), (id.clone(), Pending::Gather(slot)));
                    send(
                        &json!({"jsonrpc": "2.0", "id": key, "method": method, "params": request}),
                    );
                }
            }
            "tools/call" => {
                let token = params["_meta"]["progressToken"].clone();
                match params["name"].as_str().unwrap_or_default() {
                    "test_trigger_tool_change" => {
                        extra_tools += 1;
                        send(
                            &json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
                        );
                        reply(text("tool list changed"))
                    }
                    "test_trigger_prompt_change" => {
                        extra_prompts += 1;
                        send(
                            &json!({"jsonrpc": "2.0", "method": "notifications/prompts/list_changed"}),
                        );
                        reply(text("prompt list changed"))
                    }
                    name => match run_tool(name, &params["arguments"], &token) {
                        Some(run) => {
                            for note in run.notes {
                                send(&note);
                            }
                            reply(run.result)
                        }
                        None => match legacy_question(name, &params["arguments"]) {
                            Some((method, request, pending)) => ask(method, request, pending),
                            None => send(&json!({"jsonrpc": "2.0", "id": id, "error": {
                                "code": -32602, "message": format!("unknown tool: {name}")}})),
                        },
                    },
                }
            }
            "resources/list" => reply(json!({"resources": resources()})),
            "resources/templates/list" => reply(json!({"resourceTemplates": templates()})),
            "resources/read" => {
                let uri = params["uri"].as_str().unwrap_or_default();
                let content = read(uri);
                match content {
                    Some(c) => reply(json!({"contents": [c]})),
                    None => send(&json!({"jsonrpc": "2.0", "id": id, "error": {
                        "code": -32002, "message": "Resource not found", "data": {"uri": uri}}})),
                }
            }
            "prompts/list" => reply(json!({"prompts": prompts(extra_prompts)})),
            "prompts/get" => {
                let messages = prompt(
                    params["name"].as_str().unwrap_or_default(),
                    &params["arguments"],
                );
                match messages {
                    Some(m) => reply(json!({"messages": m})),
                    None => send(&json!({"jsonrpc": "2.0", "id": id, "error": {
                        "code": -32602, "message": "unknown prompt"}})),
                }
            }
            "completion/complete" => {
                reply(json!({"completion": {"values": [], "total": 0, "hasMore": false}}))
            }
            other => send(&json!({"jsonrpc": "2.0", "id": id, "error": {
                "code": -32601, "message": format!("method not found: {other}")}})),
        }
    }
}
