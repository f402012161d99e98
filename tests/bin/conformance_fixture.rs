//! A 2025-era (legacy) MCP server over stdio with the tools, resources,
//! prompts and completions that `@modelcontextprotocol/conformance` calls
//! by name (`test_simple_text`, `test://static-text`, ...), so the suite
//! can run through the gateway with nothing it expects missing. Written
//! from the suite's checks; one thread, newline-delimited JSON-RPC.
//!
//! Server→client requests (sampling, elicitation) are sent with our own id
//! and the call they serve waits in a table until the client answers.

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
        // Invalid on purpose (a space in the header name): the gateway
        // must leave it out of its catalog.
        tool(
            "test_invalid_header_tool",
            "An x-mcp-header that is not an HTTP token",
            json!({"type": "object", "properties": {
                "region": {"type": "string", "x-mcp-header": "Bad Header"}}})
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

/// The result of a 2026-07-28 fixture once every question is answered.
fn gathered(g: &Gathering) -> Value {
    let a = &g.answers;
    let content = |k: &str, f: &str| a[k]["content"][f].as_str().unwrap_or("").to_owned();
    let done = match g.tool.as_str() {
        "test_input_required_result_elicitation" => {
            format!("Hello, {}!", content("user_name", "name"))
        }
        "test_input_required_result_sampling" => format!(
            "The answer: {}",
            a["capital_question"]["content"]["text"]
                .as_str()
                .unwrap_or("")
        ),
        "test_input_required_result_list_roots" => format!("Roots: {}", a["client_roots"]["roots"]),
        "test_input_required_result_request_state"
        | "test_input_required_result_tampered_state" => "state-ok: confirmed".to_owned(),
        "test_input_required_result_multi_round" => format!(
            "Done: {} likes {}",
            content("step1", "name"),
            content("step2", "color")
        ),
        "test_missing_capability" if a["capital_question"].get("code").is_some() => {
            return json!({"error": {"code": -32021, "message": "sampling is required",
                "data": {"requiredCapabilities": {"sampling": {}}}}});
        }
        _ => "All inputs received".to_owned(),
    };
    if g.tool == "test_input_required_result_prompt" {
        return json!({"result": {"messages": [{"role": "user", "content": {"type": "text", "text": done}}]}});
    }
    json!({"result": text(&done)})
}

fn main() {
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
                        let mut out = gathered(&g);
                        out["jsonrpc"] = json!("2.0");
                        out["id"] = g.id;
                        send(&out);
                    }
                    continue;
                }
                let r = &msg["result"];
                let answer = match (&pending, msg.get("error")) {
                    (_, Some(e)) => format!("Client error: {}", e["message"]),
                    (Pending::Sampling, None) => format!(
                        "LLM response: {}",
                        r["content"]["text"].as_str().unwrap_or("No response")
                    ),
                    (Pending::Gather(_), None) => unreachable!("handled above"),
                    (Pending::Elicitation(prefix), None) => format!(
                        "{prefix}: action={}, content={}",
                        r["action"].as_str().unwrap_or(""),
                        if r["content"].is_null() {
                            json!({})
                        } else {
                            r["content"].clone()
                        }
                    ),
                };
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
            "tools/list" => {
                let mut all = tools();
                if let Some(list) = all.as_array_mut() {
                    for n in 1..=extra_tools {
                        list.push(tool(
                            &format!("dynamic_tool_{n}"),
                            "Added by a trigger",
                            empty(),
                        ));
                    }
                }
                reply(json!({"tools": all}))
            }
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
                    "test_logging_tool" => {
                        send(&json!({"jsonrpc": "2.0", "method": "notifications/message",
                            "params": {"level": "info", "data": "a log line"}}));
                        reply(text("logged"))
                    }
                    "test_simple_text" => {
                        reply(text("This is a simple text response for testing."))
                    }
                    "test_image_content" => reply(json!({"content": [
                        {"type": "image", "data": IMAGE, "mimeType": "image/png"}]})),
                    "test_audio_content" => reply(json!({"content": [
                        {"type": "audio", "data": AUDIO, "mimeType": "audio/wav"}]})),
                    "test_embedded_resource" => {
                        reply(json!({"content": [{"type": "resource", "resource": {
                        "uri": "test://embedded-resource", "mimeType": "text/plain",
                        "text": "This is an embedded resource content."}}]}))
                    }
                    "test_multiple_content_types" => reply(json!({"content": [
                        {"type": "text", "text": "Multiple content types test:"},
                        {"type": "image", "data": IMAGE, "mimeType": "image/png"},
                        {"type": "resource", "resource": {"uri": "test://mixed-content-resource",
                            "mimeType": "application/json", "text": "{\"test\":\"data\",\"value\":123}"}}]})),
                    "test_tool_with_logging" => {
                        for data in [
                            "Tool execution started",
                            "Tool processing data",
                            "Tool execution completed",
                        ] {
                            send(&json!({"jsonrpc": "2.0", "method": "notifications/message",
                                "params": {"level": "info", "data": data}}));
                        }
                        reply(text("Tool with logging executed successfully"))
                    }
                    "test_tool_with_progress" => {
                        let token = if token.is_null() { json!(0) } else { token };
                        for step in [0, 50, 100] {
                            send(
                                &json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {
                                "progressToken": token, "progress": step, "total": 100,
                                "message": format!("Completed step {step} of 100")}}),
                            );
                        }
                        reply(text(&match &token {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        }))
                    }
                    "test_error_handling" => {
                        reply(json!({"isError": true, "content": [{"type": "text",
                        "text": "This tool intentionally returns an error for testing"}]}))
                    }
                    "test_sampling" => ask(
                        "sampling/createMessage",
                        json!({"messages": [{"role": "user", "content": {"type": "text",
                            "text": params["arguments"]["prompt"].as_str().unwrap_or("")}}], "maxTokens": 100}),
                        Pending::Sampling,
                    ),
                    "test_elicitation" => ask(
                        "elicitation/create",
                        json!({"message": params["arguments"]["message"].as_str().unwrap_or(""),
                            "requestedSchema": {"type": "object", "required": ["response"], "properties": {
                                "response": {"type": "string", "description": "User's response"}}}}),
                        Pending::Elicitation("User response"),
                    ),
                    "test_elicitation_sep1034_defaults" => ask(
                        "elicitation/create",
                        json!({"message": "Please review and update the form fields with defaults",
                            "requestedSchema": defaults_schema()}),
                        Pending::Elicitation("Elicitation completed"),
                    ),
                    "test_elicitation_sep1330_enums" => ask(
                        "elicitation/create",
                        json!({"message": "Please select options from the enum fields",
                            "requestedSchema": enums_schema()}),
                        Pending::Elicitation("Elicitation completed"),
                    ),
                    "test_custom_headers" => {
                        reply(text(&format!("headers ok: {}", params["arguments"])))
                    }
                    "json_schema_2020_12_tool" => reply(text(&format!(
                        "JSON Schema 2020-12 tool called with: {}",
                        params["arguments"]
                    ))),
                    other => send(&json!({"jsonrpc": "2.0", "id": id, "error": {
                        "code": -32602, "message": format!("unknown tool: {other}")}})),
                }
            }
            "resources/list" => reply(json!({"resources": [
                {"uri": "test://static-text", "name": "static-text", "title": "Static Text Resource",
                    "mimeType": "text/plain"},
                {"uri": "test://static-binary", "name": "static-binary", "title": "Static Binary Resource",
                    "mimeType": "image/png"},
                {"uri": "test://watched-resource", "name": "watched-resource", "mimeType": "text/plain"}
            ]})),
            "resources/templates/list" => reply(json!({"resourceTemplates": [
                {"uriTemplate": "test://template/{id}/data", "name": "template",
                    "title": "Resource Template", "mimeType": "application/json"}]})),
            "resources/read" => {
                let uri = params["uri"].as_str().unwrap_or_default();
                let content = match uri {
                    "test://static-text" => Some(json!({"uri": uri, "mimeType": "text/plain",
                        "text": "This is the content of the static text resource."})),
                    "test://static-binary" => Some(json!({"uri": uri, "mimeType": "image/png", "blob": IMAGE})),
                    "test://watched-resource" => Some(json!({"uri": uri, "mimeType": "text/plain",
                        "text": "Watched resource content"})),
                    _ => uri
                        .strip_prefix("test://template/")
                        .and_then(|rest| rest.strip_suffix("/data"))
                        .map(|id| json!({"uri": uri, "mimeType": "application/json", "text": json!({
                            "id": id, "templateTest": true, "data": format!("Data for ID: {id}")}).to_string()})),
                };
                match content {
                    Some(c) => reply(json!({"contents": [c]})),
                    None => send(&json!({"jsonrpc": "2.0", "id": id, "error": {
                        "code": -32002, "message": "Resource not found", "data": {"uri": uri}}})),
                }
            }
            "prompts/list" => reply(json!({"prompts": (1..=extra_prompts)
                .map(|n| json!({"name": format!("dynamic_prompt_{n}"), "description": "Added by a trigger"}))
                .chain(json!([
                {"name": "test_simple_prompt", "description": "A simple prompt without arguments"},
                {"name": "test_prompt_with_arguments", "description": "A prompt with required arguments",
                    "arguments": [{"name": "arg1", "description": "First test argument", "required": true},
                        {"name": "arg2", "description": "Second test argument", "required": true}]},
                {"name": "test_prompt_with_embedded_resource", "description": "A prompt with a resource",
                    "arguments": [{"name": "resourceUri", "description": "URI of the resource to embed",
                        "required": true}]},
                {"name": "test_prompt_with_image", "description": "A prompt with an image"},
                {"name": "test_input_required_result_prompt", "description": "Asks the user's name"}
            ]).as_array().cloned().unwrap_or_default())
                .collect::<Vec<Value>>()})),
            "prompts/get" => {
                let args = &params["arguments"];
                let arg = |k: &str| args[k].as_str().unwrap_or("").to_owned();
                let user = |content: Value| json!({"role": "user", "content": content});
                let messages = match params["name"].as_str().unwrap_or_default() {
                    "test_simple_prompt" => Some(json!([user(json!({"type": "text",
                        "text": "This is a simple prompt for testing."}))])),
                    "test_prompt_with_arguments" => {
                        Some(json!([user(json!({"type": "text", "text":
                        format!("Prompt with arguments: arg1='{}', arg2='{}'", arg("arg1"), arg("arg2"))}))]))
                    }
                    "test_prompt_with_embedded_resource" => Some(json!([
                        user(
                            json!({"type": "resource", "resource": {"uri": arg("resourceUri"),
                            "mimeType": "text/plain", "text": "Embedded resource content for testing."}})
                        ),
                        user(
                            json!({"type": "text", "text": "Please process the embedded resource above."})
                        )
                    ])),
                    "test_prompt_with_image" => Some(json!([
                        user(json!({"type": "image", "data": IMAGE, "mimeType": "image/png"})),
                        user(json!({"type": "text", "text": "Please analyze the image above."}))
                    ])),
                    _ => None,
                };
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
