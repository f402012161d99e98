//! Stdio backends behind the gateway (the catalog and routing), with
//! the fixture server of `tests/bin/fixture_server.rs`: conflict strategies,
//! filters and overrides, id isolation between sessions, crashes and
//! restarts, call timeouts with cancellation, hostile output, shutdown.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Gateway, SseClient, TempDir, children, fixture_backend, text, wait_until};

fn three_backends(strategy: &str) -> String {
    format!(
        "conflict_resolution:\n  strategy: {strategy}\n  order: [c, a]\nbackends:\n{}{}{}",
        fixture_backend("a", &[("FIXTURE_TOOLS", "search,fetch,a_only")], ""),
        fixture_backend("b", &[("FIXTURE_TOOLS", "search,b_only")], ""),
        fixture_backend("c", &[("FIXTURE_TOOLS", "search,fetch")], ""),
    )
}

fn call_tool(c: &mut SseClient, gw: &Gateway, name: &str) -> Value {
    c.call(
        gw.addr,
        json!(name),
        "tools/call",
        json!({"name": name, "arguments": {"q": name}}),
    )
}

#[test]
fn conflict_strategies_expose_exact_names_and_route_to_the_original() {
    /// (strategy, exposed tools in order, (exposed name, backend:original) calls)
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)]);
    let cases: &[Case<'_>] = &[
        (
            "first-wins",
            &["search", "fetch", "a_only", "b_only"],
            &[
                ("search", "a:search"),
                ("fetch", "a:fetch"),
                ("b_only", "b:b_only"),
            ],
        ),
        (
            "prefix",
            &[
                "a_search", "a_fetch", "a_a_only", "b_search", "b_b_only", "c_search", "c_fetch",
            ],
            &[
                ("b_search", "b:search"),
                ("c_fetch", "c:fetch"),
                ("a_a_only", "a:a_only"),
            ],
        ),
        (
            "priority",
            &[
                "search", "fetch", "a_search", "a_fetch", "a_only", "b_search", "b_only",
            ],
            &[
                ("search", "c:search"),
                ("a_search", "a:search"),
                ("b_search", "b:search"),
                ("fetch", "c:fetch"),
            ],
        ),
    ];
    for (strategy, names, calls) in cases {
        let gw = Gateway::start(&three_backends(strategy));
        let mut c = SseClient::open(gw.addr);
        c.initialize(gw.addr, "2025-06-18");
        assert_eq!(
            c.names(gw.addr, "tools/list", "tools"),
            *names,
            "{strategy}"
        );
        for (exposed, expected) in *calls {
            let reply = call_tool(&mut c, &gw, exposed);
            assert_eq!(
                text(&reply),
                format!("{expected}:{{\"q\":\"{exposed}\"}}"),
                "{strategy} {exposed}"
            );
        }
        let unknown = call_tool(&mut c, &gw, "nope");
        assert_eq!(unknown["error"]["code"], -32602, "{strategy}");
    }
}

#[test]
fn strategy_error_fails_startup_naming_both_backends() {
    let mut gw = Gateway::start(&three_backends("error"));
    assert_eq!(
        gw.wait_exit(Duration::from_secs(20)),
        Some(1),
        "{}",
        gw.stderr()
    );
    assert!(
        gw.logged("tool \"search\" is offered by both \"a\" and \"b\""),
        "{}",
        gw.stderr()
    );
}

#[test]
fn filters_and_overrides() {
    let config = format!(
        "backends:\n{}",
        fixture_backend(
            "f",
            &[("FIXTURE_TOOLS", "get_user,get_admin,delete,echo")],
            "    filters:\n      tools: {allow: [\"get_*\", echo], deny: [\"*_admin\"]}\n    tool_overrides:\n      echo: {name: say, description: \"Says it\"}\n",
        )
    );
    let gw = Gateway::start(&config);
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-03-26");
    let list = c.call(gw.addr, json!(1), "tools/list", json!({}));
    let tools = list["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["get_user", "say"]);
    assert_eq!(tools[1]["description"], "Says it");
    assert_eq!(
        tools[1]["inputSchema"],
        json!({"type": "object"}),
        "items pass through unchanged"
    );
    assert_eq!(
        text(&call_tool(&mut c, &gw, "say")),
        "f:echo:{\"q\":\"say\"}"
    );
    // Hidden tools are not callable, under either name.
    assert_eq!(call_tool(&mut c, &gw, "delete")["error"]["code"], -32602);
    assert_eq!(call_tool(&mut c, &gw, "echo")["error"]["code"], -32602);
}

#[test]
fn sessions_with_identical_ids_get_only_their_own_answers() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("s", &[("FIXTURE_TOOLS", "slow,echo")], "")
    );
    let gw = Gateway::start(&config);
    let mut one = SseClient::open(gw.addr);
    let mut two = SseClient::open(gw.addr);
    one.initialize(gw.addr, "2025-06-18");
    two.initialize(gw.addr, "2025-06-18");
    // Both use id 1; the slower call is sent first.
    let slow = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","arguments":{"ms":300}}});
    let fast = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"who":"two"}}});
    assert_eq!(one.post(gw.addr, &slow.to_string()).status, 202);
    assert_eq!(two.post(gw.addr, &fast.to_string()).status, 202);
    let reply_two = two.next_message().unwrap();
    let reply_one = one.next_message().unwrap();
    assert_eq!(
        (reply_one["id"].clone(), reply_two["id"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(text(&reply_one), "s:slow done");
    assert_eq!(text(&reply_two), "s:echo:{\"who\":\"two\"}");
    // Nothing else arrived on either stream.
    for c in [&mut one, &mut two] {
        let ping = c.call(gw.addr, json!("p"), "ping", json!({}));
        assert_eq!(ping["result"], json!({}));
    }
}

#[test]
fn a_backend_crash_fails_calls_fast_and_the_backend_comes_back() {
    let config = format!(
        "backends:\n{}{}",
        fixture_backend(
            "crashy",
            &[("FIXTURE_TOOLS", "slow,crash,echo")],
            "    timeouts: {retry_delay: 0.2}\n"
        ),
        fixture_backend("steady", &[("FIXTURE_TOOLS", "other")], ""),
    );
    let gw = Gateway::start(&config);
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let before = c.names(gw.addr, "tools/list", "tools");
    assert_eq!(before, ["slow", "crash", "echo", "other"]);
    let slow = json!({"jsonrpc":"2.0","id":"slow","method":"tools/call","params":{"name":"slow","arguments":{"ms":30000}}});
    assert_eq!(c.post(gw.addr, &slow.to_string()).status, 202);
    let started = Instant::now();
    let crash =
        json!({"jsonrpc":"2.0","id":"crash","method":"tools/call","params":{"name":"crash"}});
    assert_eq!(c.post(gw.addr, &crash.to_string()).status, 202);
    let mut answered = Vec::new();
    while answered.len() < 2 {
        let msg = c.next_message().expect("answers");
        if msg.get("method").is_some() {
            continue; // list_changed
        }
        assert_eq!(msg["result"]["isError"], true, "{msg}");
        let t = text(&msg);
        assert!(
            t.contains("\"crashy\"") && t.contains("disconnected"),
            "{t}"
        );
        answered.push(msg["id"].clone());
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "errors took {:?}",
        started.elapsed()
    );
    // While it is down its tools are gone or calls say it is unavailable;
    // it is restarted and its tools return.
    // (The catalog may not have dropped them yet: wait for the restart.)
    let restarted = || gw.stderr().matches("[crashy] connected:").count() >= 2;
    assert!(
        wait_until(Duration::from_secs(10), || restarted()
            && c.names(gw.addr, "tools/list", "tools") == before),
        "tools did not come back"
    );
    assert_eq!(
        text(&call_tool(&mut c, &gw, "echo")),
        "crashy:echo:{\"q\":\"echo\"}"
    );
    assert_eq!(
        text(&call_tool(&mut c, &gw, "other")),
        "steady:other:{\"q\":\"other\"}"
    );
}

#[test]
fn a_timed_out_call_is_answered_and_cancelled_at_the_backend() {
    let dir = TempDir::new("cancel");
    let log = dir.0.join("received.jsonl");
    let log_path = log.display().to_string();
    let config = format!(
        "backends:\n{}",
        fixture_backend(
            "t",
            &[("FIXTURE_TOOLS", "slow"), ("FIXTURE_LOG", &log_path)],
            "    timeouts: {call: 0.5}\n"
        )
    );
    let gw = Gateway::start(&config);
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let started = Instant::now();
    let reply = c.call(
        gw.addr,
        json!(42),
        "tools/call",
        json!({"name": "slow", "arguments": {"ms": 5000}}),
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(reply["result"]["isError"], true);
    assert!(text(&reply).contains("timed out after 0.5s"), "{reply}");
    let mut call_id = None;
    let found = wait_until(Duration::from_secs(5), || {
        let lines = std::fs::read_to_string(&log).unwrap_or_default();
        let messages: Vec<Value> = lines
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        call_id = messages
            .iter()
            .find(|m| m["method"] == "tools/call")
            .map(|m| m["id"].clone());
        messages.iter().any(|m| {
            m["method"] == "notifications/cancelled"
                && Some(&m["params"]["requestId"]) == call_id.as_ref()
        })
    });
    assert!(
        found,
        "no notifications/cancelled for the backend-side id {call_id:?}"
    );
    assert_ne!(
        call_id,
        Some(json!(42)),
        "the backend sees its own id, not the client's"
    );
}

#[test]
fn cancel_from_the_client_reaches_the_backend() {
    let dir = TempDir::new("client-cancel");
    let log = dir.0.join("received.jsonl");
    let log_path = log.display().to_string();
    let config = format!(
        "backends:\n{}",
        fixture_backend(
            "t",
            &[("FIXTURE_TOOLS", "slow"), ("FIXTURE_LOG", &log_path)],
            ""
        )
    );
    let gw = Gateway::start(&config);
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let slow = json!({"jsonrpc":"2.0","id":"s","method":"tools/call","params":{"name":"slow","arguments":{"ms":60000}}});
    assert_eq!(c.post(gw.addr, &slow.to_string()).status, 202);
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("tools/call")
    }));
    let cancel = json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"s","reason":"user"}});
    assert_eq!(c.post(gw.addr, &cancel.to_string()).status, 202);
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("\"reason\":\"user\"")
    }));
    // No answer comes for the cancelled call: the next message answers the ping.
    assert_eq!(c.call(gw.addr, json!("p"), "ping", json!({}))["id"], "p");
}

#[test]
fn hostile_output_and_many_pages() {
    let config = format!(
        "backends:\n{}{}",
        fixture_backend(
            "noisy",
            &[
                ("FIXTURE_TOOLS", "t0,t1,t2,t3,t4,t5,t6,t7,t8,t9"),
                ("FIXTURE_PAGE_SIZE", "3"),
                ("FIXTURE_GARBAGE", "1"),
                ("FIXTURE_HUGE_LINE", "17000000"),
            ],
            "",
        ),
        fixture_backend("calm", &[("FIXTURE_TOOLS", "calm")], ""),
    );
    let gw = Gateway::start(&config);
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let names = c.names(gw.addr, "tools/list", "tools");
    assert_eq!(
        names,
        [
            "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9", "calm"
        ]
    );
    assert_eq!(
        text(&call_tool(&mut c, &gw, "t7")),
        "noisy:t7:{\"q\":\"t7\"}"
    );
    assert!(
        gw.logged("exceeds the 16777216-byte message limit"),
        "{}",
        gw.stderr()
    );
    assert!(
        gw.logged("non-JSON line on stdout skipped"),
        "{}",
        gw.stderr()
    );
}

#[test]
fn prompts_resources_templates_and_completion_route_by_name_and_uri() {
    let config = format!(
        "backends:\n{}{}",
        fixture_backend(
            "docs",
            &[
                ("FIXTURE_RESOURCES", "file:///docs/a.md"),
                ("FIXTURE_TEMPLATES", "docs://{id}"),
                ("FIXTURE_PROMPTS", "summarize")
            ],
            "",
        ),
        fixture_backend(
            "notes",
            &[
                ("FIXTURE_RESOURCES", "file:///notes/b.md"),
                ("FIXTURE_PROMPTS", "review")
            ],
            ""
        ),
    );
    let gw = Gateway::start(&config);
    let mut c = SseClient::open(gw.addr);
    let init = c.initialize(gw.addr, "2025-06-18");
    assert_eq!(init["capabilities"]["resources"]["subscribe"], true);
    assert_eq!(init["capabilities"]["logging"], json!({}));
    assert_eq!(
        c.names(gw.addr, "prompts/list", "prompts"),
        ["summarize", "review"]
    );
    assert_eq!(
        c.names(gw.addr, "resources/templates/list", "resourceTemplates"),
        ["template"]
    );
    let read = |c: &mut SseClient, uri: &str| {
        c.call(gw.addr, json!(uri), "resources/read", json!({"uri": uri}))
    };
    assert_eq!(
        read(&mut c, "file:///notes/b.md")["result"]["contents"][0]["text"],
        "notes read file:///notes/b.md"
    );
    assert_eq!(
        read(&mut c, "docs://42")["result"]["contents"][0]["text"],
        "docs read docs://42"
    );
    assert_eq!(read(&mut c, "file:///nowhere")["error"]["code"], -32002);
    let prompt = c.call(gw.addr, json!(1), "prompts/get", json!({"name": "review"}));
    assert_eq!(
        prompt["result"]["messages"][0]["content"]["text"],
        "notes:review"
    );
    let sub = c.call(
        gw.addr,
        json!(2),
        "resources/subscribe",
        json!({"uri": "file:///docs/a.md"}),
    );
    assert_eq!(sub["result"], json!({}));
    let done = c.call(gw.addr, json!(3), "completion/complete", json!({"ref": {"type": "ref/prompt", "name": "summarize"}, "argument": {"name": "x", "value": ""}}));
    assert_eq!(done["result"]["completion"]["values"], json!(["docs"]));
    let level = c.call(
        gw.addr,
        json!(4),
        "logging/setLevel",
        json!({"level": "debug"}),
    );
    assert_eq!(level["result"], json!({}));
}

#[test]
fn backend_errors_pass_through_unchanged() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("e", &[("FIXTURE_TOOLS", "fail")], "")
    );
    let gw = Gateway::start(&config);
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let reply = call_tool(&mut c, &gw, "fail");
    assert_eq!(
        reply["error"],
        json!({"code": -32000, "message": "fixture failure", "data": {"x": 1}})
    );
}

#[test]
fn progress_reaches_only_the_calling_client_with_its_token() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("p", &[("FIXTURE_TOOLS", "progress")], "")
    );
    let gw = Gateway::start(&config);
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let call = json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"progress","_meta":{"progressToken":"tok-1"}}});
    assert_eq!(c.post(gw.addr, &call.to_string()).status, 202);
    for i in 1..=2 {
        let note = c.next_message().unwrap();
        assert_eq!(note["method"], "notifications/progress");
        assert_eq!(note["params"]["progressToken"], "tok-1");
        assert_eq!(note["params"]["progress"], i);
    }
    assert_eq!(text(&c.next_message().unwrap()), "p:progress done");
}

#[test]
fn list_changed_from_a_backend_reaches_clients() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("l", &[("FIXTURE_TOOLS", "toggle")], "")
    );
    let gw = Gateway::start(&config);
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"toggle"}});
    assert_eq!(c.post(gw.addr, &body.to_string()).status, 202);
    let mut saw_change = false;
    while !saw_change {
        let msg = c.next_message().expect("messages");
        saw_change = msg["method"] == "notifications/tools/list_changed";
    }
    assert_eq!(c.names(gw.addr, "tools/list", "tools"), ["toggle", "added"]);
}

#[test]
fn failing_backends_are_retried_while_the_rest_serve() {
    let dir = TempDir::new("retry");
    let flag = dir.write("fail", "");
    let config = format!(
        "backends:\n{}{}",
        fixture_backend(
            "flaky",
            &[
                ("FIXTURE_TOOLS", "late"),
                ("FIXTURE_FAIL_IF", &flag.display().to_string())
            ],
            "    timeouts: {retries: 10, retry_delay: 0.2}\n",
        ),
        fixture_backend("ok", &[("FIXTURE_TOOLS", "early")], ""),
    );
    let gw = Gateway::start(&config);
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    assert_eq!(c.names(gw.addr, "tools/list", "tools"), ["early"]);
    let health = crate::support::request(gw.addr, "GET", "/health", &[], b"").json();
    assert_eq!(health["status"], "degraded");
    assert_eq!(
        health["backends"],
        json!({"total": 2, "connected": 1, "healthy": 1})
    );
    std::fs::remove_file(&flag).unwrap();
    let mut saw_change = false;
    while !saw_change {
        saw_change =
            c.next_message().expect("list_changed")["method"] == "notifications/tools/list_changed";
    }
    assert_eq!(
        c.names(gw.addr, "tools/list", "tools"),
        ["late", "early"],
        "config order, not arrival order"
    );
}

#[test]
fn sigterm_stops_every_child() {
    let config = format!(
        "backends:\n{}{}",
        fixture_backend("one", &[("FIXTURE_TOOLS", "x")], ""),
        fixture_backend("two", &[("FIXTURE_TOOLS", "y")], ""),
    );
    let mut gw = Gateway::start(&config);
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    assert_eq!(c.names(gw.addr, "tools/list", "tools"), ["x", "y"]);
    let kids = children(gw.pid());
    assert_eq!(kids.len(), 2, "two backend processes");
    gw.signal("TERM");
    assert_eq!(
        gw.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        gw.stderr()
    );
    crate::support::assert_gone(&kids);
}

#[test]
fn requests_before_the_first_pass_wait_for_it() {
    let config = format!(
        "backends:\n{}",
        fixture_backend(
            "slowstart",
            &[
                ("FIXTURE_TOOLS", "ready"),
                ("FIXTURE_INIT_DELAY_MS", "1500")
            ],
            ""
        )
    );
    let gw = Gateway::start(&config);
    let health = crate::support::request(gw.addr, "GET", "/health", &[], b"").json();
    assert_eq!(health["status"], "starting");
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    assert_eq!(c.names(gw.addr, "tools/list", "tools"), ["ready"]);
    let health = crate::support::request(gw.addr, "GET", "/health", &[], b"").json();
    assert_eq!(health["status"], "healthy");
}

#[test]
fn check_connect_prints_the_catalog() {
    let dir = TempDir::new("check");
    let config = format!(
        "conflict_resolution: {{strategy: prefix}}\nbackends:\n{}{}",
        fixture_backend(
            "alpha",
            &[("FIXTURE_TOOLS", "echo"), ("FIXTURE_PROMPTS", "greet")],
            ""
        ),
        fixture_backend(
            "beta",
            &[("FIXTURE_TOOLS", "echo")],
            "    tool_overrides:\n      echo: {name: shout}\n"
        ),
    );
    let path = dir.write("argus.yaml", &config);
    let out = std::process::Command::new(crate::support::binary())
        .args(["check", "--connect", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "  alpha: connected",
        "  beta: connected",
        "  alpha_echo -> alpha / echo",
        "  beta_shout -> beta / echo",
        "  alpha_greet -> alpha / greet",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "{line:?} missing:\n{stdout}"
        );
    }
    // A backend that cannot start makes check fail.
    let broken = dir.write("broken.yaml", "backends:\n  gone:\n    type: stdio\n    command: /nonexistent/server\n    timeouts: {retries: 0}\n");
    let out = std::process::Command::new(crate::support::binary())
        .args(["check", "--connect", "-c"])
        .arg(&broken)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("gone: failed: cannot start \"/nonexistent/server\""),
        "{stdout}"
    );
}

#[test]
fn children_see_only_the_allowlisted_environment_plus_env() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("e", &[("FIXTURE_TOOLS", "getenv")], "")
    );
    let gw = Gateway::start_with(
        &config,
        &[],
        &[("ARGUS_TEST_SECRET", "leak"), ("LC_TEST", "kept")],
    );
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let get = |c: &mut SseClient, name: &str| {
        text(&c.call(
            gw.addr,
            json!(name),
            "tools/call",
            json!({"name": "getenv", "arguments": {"name": name}}),
        ))
    };
    assert_eq!(
        get(&mut c, "ARGUS_TEST_SECRET"),
        "<unset>",
        "the gateway's other variables stay out"
    );
    assert_eq!(
        get(&mut c, "FIXTURE_NAME"),
        "e",
        "the backend's env is passed"
    );
    assert_eq!(get(&mut c, "LC_TEST"), "kept", "LC_* is allowlisted");
    assert_ne!(get(&mut c, "PATH"), "<unset>");
}

#[test]
fn a_backend_that_stays_down_leaves_the_catalog_and_returns() {
    let dir = TempDir::new("down");
    let flag = dir.0.join("fail");
    let flag_text = flag.display().to_string();
    let config = format!(
        "backends:\n{}{}",
        fixture_backend(
            "flaky",
            &[
                ("FIXTURE_TOOLS", "crash,mine"),
                ("FIXTURE_FAIL_IF", &flag_text)
            ],
            "    timeouts: {retries: 10, retry_delay: 0.2}\n",
        ),
        fixture_backend("steady", &[("FIXTURE_TOOLS", "other")], ""),
    );
    let gw = Gateway::start(&config);
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    assert_eq!(
        c.names(gw.addr, "tools/list", "tools"),
        ["crash", "mine", "other"]
    );
    // From now on it fails to start: after the crash it stays down.
    std::fs::write(&flag, "").unwrap();
    let reply = c.call(gw.addr, json!(1), "tools/call", json!({"name": "crash"}));
    assert_eq!(reply["result"]["isError"], true);
    let mut changes = 0;
    while changes == 0 {
        let msg = c.next_message().expect("list_changed while it is down");
        if msg["method"] == "notifications/tools/list_changed" {
            changes += 1;
        }
    }
    assert_eq!(
        c.names(gw.addr, "tools/list", "tools"),
        ["other"],
        "its tools left"
    );
    let down = c.call(gw.addr, json!(2), "tools/call", json!({"name": "mine"}));
    assert_eq!(down["error"]["code"], -32602, "hidden while down");
    std::fs::remove_file(&flag).unwrap();
    assert!(wait_until(Duration::from_secs(10), || c.names(
        gw.addr,
        "tools/list",
        "tools"
    ) == [
        "crash", "mine", "other"
    ]));
    assert_eq!(
        text(&call_tool(&mut c, &gw, "mine")),
        "flaky:mine:{\"q\":\"mine\"}"
    );
}

#[test]
fn logs_and_resource_updates_reach_the_sessions_that_asked() {
    let config = format!(
        "backends:\n{}",
        fixture_backend(
            "n",
            &[
                ("FIXTURE_TOOLS", "notify"),
                ("FIXTURE_RESOURCES", "file:///watched")
            ],
            ""
        )
    );
    let gw = Gateway::start(&config);
    let mut listener = SseClient::open(gw.addr);
    listener.initialize(gw.addr, "2025-06-18");
    let sub = listener.call(
        gw.addr,
        json!(1),
        "resources/subscribe",
        json!({"uri": "file:///watched"}),
    );
    assert_eq!(sub["result"], json!({}));
    let lvl = listener.call(
        gw.addr,
        json!(2),
        "logging/setLevel",
        json!({"level": "warning"}),
    );
    assert_eq!(lvl["result"], json!({}));
    let mut other = SseClient::open(gw.addr);
    other.initialize(gw.addr, "2025-06-18");
    // A warning-level log and an update: the listener gets both, with the
    // backend named as logger; the other session gets neither.
    let notify = |c: &mut SseClient, level: &str, id: i64| {
        c.call(
            gw.addr,
            json!(id),
            "tools/call",
            json!({"name": "notify", "arguments": {"level": level, "uri": "file:///watched"}}),
        )
    };
    notify(&mut other, "error", 3);
    let mut got = Vec::new();
    while got.len() < 2 {
        let msg = listener.next_message().expect("relayed notifications");
        got.push(msg);
    }
    assert_eq!(got[0]["method"], "notifications/message");
    assert_eq!(
        (
            got[0]["params"]["logger"].clone(),
            got[0]["params"]["level"].clone()
        ),
        (json!("n"), json!("error"))
    );
    assert_eq!(
        got[1],
        json!({"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": "file:///watched"}})
    );
    // Below the session's level: not relayed. The next message is the ping answer.
    notify(&mut other, "info", 4);
    let unsub = listener.call(
        gw.addr,
        json!(5),
        "resources/unsubscribe",
        json!({"uri": "file:///watched"}),
    );
    assert_eq!(unsub["id"], 5, "no log or update came before: {unsub}");
    let pong = other.call(gw.addr, json!(6), "ping", json!({}));
    assert_eq!(pong["id"], 6);
}

#[test]
fn backend_requests_reach_the_calling_client_and_its_answer_goes_back() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("a", &[("FIXTURE_TOOLS", "ask")], "")
    );
    let gw = Gateway::start(&config);
    // A client that declares sampling.
    let mut c = SseClient::open(gw.addr);
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"sampling":{}},"clientInfo":{"name":"t","version":"0"}}}"#;
    assert_eq!(c.post(gw.addr, init).status, 202);
    assert_eq!(c.next_message().unwrap()["id"], 0);
    assert_eq!(
        c.post(
            gw.addr,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#
        )
        .status,
        202
    );
    let call = json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"ask"}});
    assert_eq!(c.post(gw.addr, &call.to_string()).status, 202);
    let asked = c.next_message().unwrap();
    assert_eq!(asked["method"], "sampling/createMessage");
    let ours = asked["id"].clone();
    assert!(
        ours.as_str().is_some_and(|i| i.starts_with("argus-")),
        "the gateway's own id: {ours}"
    );
    let answer = json!({"jsonrpc":"2.0","id":ours,"result":{"role":"assistant","content":{"type":"text","text":"hi"},"model":"m"}});
    assert_eq!(c.post(gw.addr, &answer.to_string()).status, 202);
    let done = c.next_message().unwrap();
    assert_eq!(done["id"], 7);
    assert!(
        text(&done).starts_with("client said {") && text(&done).contains("\"hi\""),
        "{done}"
    );
    // A client without the capability: the backend hears -32601 from the gateway.
    let mut plain = SseClient::open(gw.addr);
    plain.initialize(gw.addr, "2025-06-18");
    let refused = plain.call(
        gw.addr,
        json!(8),
        "tools/call",
        json!({"name": "ask", "arguments": {"method": "roots/list"}}),
    );
    assert!(
        text(&refused).starts_with("client error -32601"),
        "{refused}"
    );
}
