//! The SSE front transport (the "HTTP with SSE" transport of MCP
//! 2024-11-05, Basic › Transports): the stream, POST statuses, keepalives,
//! vanished and slow clients, and that sessions leak nothing.

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Gateway, SseClient, connect, post_json, request, wait_until};

/// Short timers so the tests see keepalives and cleanups quickly.
const FAST: &str =
    "sse_resilience:\n  keepalive_interval: 0.3\n  send_timeout: 1\n  cleanup_deadline: 1\n";

#[test]
fn stream_headers_and_endpoint_event() {
    let gw = Gateway::start(FAST);
    let client = SseClient::open(gw.addr);
    let r = &client.response;
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.header("cache-control"), Some("no-cache, no-transform"));
    assert_eq!(r.header("x-accel-buffering"), Some("no"));
    let id = client
        .endpoint
        .strip_prefix("/messages/?session_id=")
        .expect("relative endpoint");
    assert_eq!(id.len(), 32);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    let other = SseClient::open(gw.addr);
    assert_ne!(other.endpoint, client.endpoint, "each GET is a new session");
    // HEAD gives the headers and opens nothing.
    let head = request(gw.addr, "HEAD", "/sse", &[], b"");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
}

#[test]
fn post_statuses() {
    let gw = Gateway::start(FAST);
    let mut client = SseClient::open(gw.addr);
    let ping = r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#;
    let id = client.session_id().to_owned();

    let resp = client.post(gw.addr, ping);
    assert_eq!((resp.status, resp.text().as_str()), (202, "Accepted"));
    assert_eq!(
        client.next_message().unwrap(),
        json!({"jsonrpc":"2.0","id":7,"result":{}})
    );
    // The TS SDK's spelling and the slash-less path.
    assert_eq!(
        post_json(gw.addr, &format!("/messages?sessionId={id}"), ping).status,
        202
    );
    assert_eq!(client.next_message().unwrap()["id"], 7);

    let missing = post_json(gw.addr, "/messages/", ping);
    assert_eq!(
        (missing.status, missing.text().as_str()),
        (400, "session_id is required\n")
    );
    assert_eq!(
        post_json(gw.addr, "/messages/?session_id=xyz", ping).status,
        400
    );
    assert_eq!(
        post_json(
            gw.addr,
            &format!("/messages/?session_id={}", "0".repeat(32)),
            ping
        )
        .status,
        404
    );
    let wrong_type = request(
        gw.addr,
        "POST",
        &client.endpoint,
        &[("Content-Type", "text/plain")],
        ping.as_bytes(),
    );
    assert_eq!(wrong_type.status, 400);
    // Content-Type parameters are fine.
    let with_charset = request(
        gw.addr,
        "POST",
        &client.endpoint,
        &[("Content-Type", "application/json; charset=utf-8")],
        ping.as_bytes(),
    );
    assert_eq!(with_charset.status, 202);
    assert_eq!(client.next_message().unwrap()["id"], 7);

    // Unparsable JSON: 400 saying so, and a parse error on the stream.
    let bad = client.post(gw.addr, "{not json");
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("invalid JSON"), "{}", bad.text());
    let err = client.next_message().unwrap();
    assert_eq!(
        (err["id"].clone(), err["error"]["code"].clone()),
        (json!(null), json!(-32700))
    );

    // Valid JSON that is not JSON-RPC: -32600 naming the id it could read.
    assert_eq!(
        client
            .post(gw.addr, r#"{"jsonrpc":"1.0","id":9,"method":"ping"}"#)
            .status,
        400
    );
    let err = client.next_message().unwrap();
    assert_eq!(
        (err["id"].clone(), err["error"]["code"].clone()),
        (json!(9), json!(-32600))
    );
    assert_eq!(client.post(gw.addr, "[]").status, 400);
    assert_eq!(client.next_message().unwrap()["error"]["code"], -32600);
    // Deep nesting stays within serde_json's recursion limit: an error, not a crash.
    let deep = format!("{}{}", "[".repeat(100_000 / 2), "]".repeat(100_000 / 2));
    assert!(deep.len() < 4 * 1024 * 1024);
    assert_eq!(client.post(gw.addr, &deep).status, 400);
    assert_eq!(client.next_message().unwrap()["error"]["code"], -32700);

    // Too large: 413.
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"x":"{}"}}}}"#,
        "a".repeat(5 << 20)
    );
    assert_eq!(client.post(gw.addr, &huge).status, 413);
    // The session still works.
    assert_eq!(client.post(gw.addr, ping).status, 202);
    assert_eq!(client.next_message().unwrap()["id"], 7);
}

#[test]
fn keepalive_comments_arrive() {
    let gw = Gateway::start(FAST);
    let mut client = SseClient::open(gw.addr);
    let (kind, text) = client.next_event().expect("a keepalive");
    assert_eq!((kind.as_str(), text.as_str()), ("comment", "ping"));
}

#[test]
fn closing_the_stream_ends_the_session_within_the_deadline() {
    let gw = Gateway::start(FAST);
    let client = SseClient::open(gw.addr);
    let endpoint = client.endpoint.clone();
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    assert_eq!(post_json(gw.addr, &endpoint, ping).status, 202);
    let closed_at = Instant::now();
    drop(client);
    // cleanup_deadline is 1 s; allow scheduling slack on a loaded machine.
    assert!(
        wait_until(Duration::from_secs(3), || post_json(
            gw.addr, &endpoint, ping
        )
        .status
            == 404),
        "session still open after the client left"
    );
    assert!(closed_at.elapsed() < Duration::from_secs(3));
}

/// With a long `cleanup_deadline` (the writer peeks every 30 s) and no
/// keepalives, a client that leaves still ends its session, its thread and
/// its socket at once: the hang-up watcher tells the writer.
#[test]
fn a_client_that_hangs_up_frees_its_session_at_once_not_at_the_next_check() {
    let gw = Gateway::start("sse_resilience: {keepalive_interval: 0, cleanup_deadline: 60}\n");
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    // The first session starts the watcher (a thread and an epoll descriptor).
    let first = SseClient::open(gw.addr);
    let endpoint = first.endpoint.clone();
    drop(first);
    assert!(wait_until(Duration::from_secs(10), || post_json(
        gw.addr, &endpoint, ping
    )
    .status
        == 404));
    let (threads, fds) = (gw.threads(), gw.fds());
    let clients: Vec<SseClient> = (0..20).map(|_| SseClient::open(gw.addr)).collect();
    let endpoints: Vec<String> = clients.iter().map(|c| c.endpoint.clone()).collect();
    for endpoint in &endpoints {
        assert_eq!(post_json(gw.addr, endpoint, ping).status, 202);
    }
    assert!(gw.threads() >= threads + 20, "a thread per open session");
    drop(clients);
    // Nothing is written to those streams meanwhile (a write would notice).
    assert!(
        wait_until(Duration::from_secs(10), || gw.threads() <= threads
            && gw.fds() <= fds),
        "threads {} (were {threads}), descriptors {} (were {fds})",
        gw.threads(),
        gw.fds()
    );
    for endpoint in &endpoints {
        assert_eq!(
            post_json(gw.addr, endpoint, ping).status,
            404,
            "session ended"
        );
    }
}

#[test]
fn a_client_that_stops_reading_is_dropped_and_others_keep_working() {
    let gw = Gateway::start(FAST);
    let stalled = SseClient::open(gw.addr);
    let mut healthy = SseClient::open(gw.addr);
    healthy.initialize(gw.addr, "2024-11-05");
    // Replies of ~1 MiB each (the id is echoed) fill the stalled client's
    // socket buffers; its writes then time out (send_timeout 1 s).
    let big_id = "i".repeat(1 << 20);
    let big_ping = format!(r#"{{"jsonrpc":"2.0","id":"{big_id}","method":"ping"}}"#);
    let mut dropped = false;
    for _ in 0..64 {
        if stalled.post(gw.addr, &big_ping).status == 404 {
            dropped = true;
            break;
        }
        // Meanwhile the other session is served promptly.
        assert_eq!(
            healthy
                .post(gw.addr, r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
                .status,
            202
        );
        assert_eq!(healthy.next_message().unwrap()["id"], 1);
    }
    if !dropped {
        dropped = wait_until(Duration::from_secs(5), || {
            stalled
                .post(gw.addr, r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
                .status
                == 404
        });
    }
    assert!(dropped, "the stalled session was never dropped");
    assert_eq!(
        healthy
            .post(gw.addr, r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
            .status,
        202
    );
    assert_eq!(
        healthy.next_message().unwrap()["result"]["tools"],
        json!([])
    );
    assert!(gw.logged("dropping the session"), "{}", gw.stderr());
}

#[test]
fn sessions_leave_no_threads_or_fds_behind() {
    let gw = Gateway::start(FAST);
    // Warm up: one full session, so lazily created state exists at baseline.
    {
        let mut c = SseClient::open(gw.addr);
        c.initialize(gw.addr, "2025-03-26");
    }
    // Baseline: no connection or stream thread left from the warm-up.
    assert!(wait_until(Duration::from_secs(5), || gw
        .thread_names()
        .iter()
        .all(|n| n != "argus-conn" && n != "argus-stream")));
    let (threads, fds) = (gw.threads(), gw.fds());
    let mut clients: Vec<SseClient> = (0..200).map(|_| SseClient::open(gw.addr)).collect();
    for c in clients.iter_mut().step_by(10) {
        c.initialize(gw.addr, "2025-06-18");
    }
    assert!(gw.threads() >= threads + 200, "one thread per stream");
    drop(clients);
    let settled = wait_until(Duration::from_secs(10), || {
        gw.threads() == threads && gw.fds() == fds
    });
    assert!(
        settled,
        "threads {} (baseline {threads}), fds {} (baseline {fds})",
        gw.threads(),
        gw.fds()
    );
}

#[test]
fn shutdown_ends_open_streams() {
    let mut gw = Gateway::start(FAST);
    let mut client = SseClient::open(gw.addr);
    let mut idle = connect(gw.addr);
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    gw.signal("TERM");
    // The stream ends (keepalives may come first).
    while let Some((kind, _)) = client.next_event() {
        assert_eq!(kind, "comment");
    }
    assert_eq!(gw.wait_exit(Duration::from_secs(5)), Some(0));
}

#[test]
fn answers_arrive_whole_and_in_order_whoever_writes_each_event() {
    // An event is written by the thread that sends it when nothing is
    // queued ahead and the socket takes it at once, else by the stream's
    // writer; a direct write that the socket takes only in part is finished
    // by the writer before anything else. Answers of 256 KiB and of a few
    // bytes, sent one after the other while the client reads, take all of
    // these paths; the client must not see the difference.
    let gw = Gateway::start(FAST);
    let mut client = SseClient::open(gw.addr);
    client.initialize(gw.addr, "2024-11-05");
    let big = "b".repeat(256 << 10);
    let ids: Vec<String> = (0..200)
        .map(|i| {
            if i % 3 == 0 {
                format!("{i}{big}")
            } else {
                i.to_string()
            }
        })
        .collect();
    let (addr, endpoint, sent) = (gw.addr, client.endpoint.clone(), ids.clone());
    let poster = std::thread::spawn(move || {
        for id in sent {
            let ping = json!({"jsonrpc": "2.0", "id": id, "method": "ping"});
            assert_eq!(post_json(addr, &endpoint, &ping.to_string()).status, 202);
        }
    });
    for id in &ids {
        let m = client.next_message().expect("every answer");
        assert_eq!(m["result"], json!({}), "{}", &m.to_string()[..80]);
        let got = m["id"].as_str().unwrap_or_default();
        assert!(
            got == id,
            "{} where {} was next",
            &got[..got.len().min(8)],
            &id[..id.len().min(8)]
        );
    }
    poster.join().unwrap();
}

#[test]
fn a_flood_arrives_whole_and_in_order() {
    let config = format!(
        "{FAST}backends:\n{}",
        crate::support::fixture_backend("f", &[("FIXTURE_TOOLS", "flood")], "")
    );
    let gw = Gateway::start(&config);
    let mut client = SseClient::open(gw.addr);
    client.initialize(gw.addr, "2024-11-05");
    let level = client.call(
        gw.addr,
        json!(1),
        "logging/setLevel",
        json!({"level": "debug"}),
    );
    assert_eq!(level["result"], json!({}));
    let count = 20_000;
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "flood", "arguments": {"count": count}}});
    assert_eq!(client.post(gw.addr, &call.to_string()).status, 202);
    // A backend that sends faster than its notifications are relayed loses
    // its oldest ones (and says so); what arrives keeps its order.
    let (mut last, mut received) = (None, 0);
    loop {
        let m = client.next_message().expect("the flood and its answer");
        if m["id"] == 2 {
            assert_eq!(m["result"]["content"][0]["text"], "flooded", "{m}");
            break;
        }
        let data = m["params"]["data"].as_str().unwrap_or_default();
        let i: u64 = data
            .strip_prefix("message ")
            .and_then(|rest| {
                rest.strip_suffix(" of a flood, padded to be a little longer than a short log line")
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not a whole flood message: {m}"));
        assert!(last.is_none_or(|l| i > l), "{i} after {last:?}");
        last = Some(i);
        received += 1;
    }
    assert!(received > 0, "no flood message arrived");
}
