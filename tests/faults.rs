//! Fault injection, each bounded in time: a backend killed
//! under load, a flooding backend with a slow client, a backend that stops
//! reading its input, a connection storm past `max_connections`, signals
//! during load. (Elsewhere: a backend that
//! never answers, `stdio_backends::a_timed_out_call_is_answered_and_cancelled_at_the_backend`;
//! SSE backends that stop mid-event or send an endless one,
//! `sse_backends::a_dropped_stream_fails_calls_promptly_and_reconnects` and
//! `a_20_mb_event_is_refused_cleanly`; a client that disconnects mid-call,
//! `sse_transport::closing_the_stream_ends_the_session_within_the_deadline`
//! and `streamable_front::delete_cancels_requests_in_flight`; a Streamable
//! HTTP client that never sends DELETE, `streamable_front::idle_sessions_expire`.)

use std::io::{BufReader, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    Gateway, SseClient, children, connect, fixture_backend, read_response, request, wait_until,
};

fn text(reply: &Value) -> String {
    reply["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The pid of the fixture process below the gateway (under its guard).
fn fixture_pid(gateway: u32) -> u32 {
    let mut todo = vec![gateway];
    while let Some(p) = todo.pop() {
        for c in children(p) {
            let comm = std::fs::read_to_string(format!("/proc/{c}/comm")).unwrap_or_default();
            if comm.starts_with("argus-test-fix") {
                return c;
            }
            todo.push(c);
        }
    }
    panic!("no fixture process below {gateway}");
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_backend_killed_during_100_calls_from_5_clients_answers_every_call() {
    let dir = crate::support::TempDir::new("kill");
    let log = dir.0.join("received.jsonl");
    let log_text = log.to_string_lossy().into_owned();
    let config = format!(
        "backends:\n{}",
        fixture_backend(
            "a",
            &[("FIXTURE_TOOLS", "slow,echo"), ("FIXTURE_LOG", &log_text)],
            "    timeouts: {retry_delay: 0.2}\n"
        )
    );
    let gw = Gateway::start(&config);
    let mut clients: Vec<SseClient> = (0..5)
        .map(|_| {
            let mut c = SseClient::open(gw.addr);
            c.initialize(gw.addr, "2025-06-18");
            c
        })
        .collect();
    for c in &clients {
        for i in 0..20 {
            let call = json!({"jsonrpc":"2.0","id":i,"method":"tools/call","params":{"name":"slow","arguments":{"ms":60000}}});
            assert_eq!(c.post(gw.addr, &call.to_string()).status, 202);
        }
    }
    let calls = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("\"tools/call\"")
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(10), || calls() == 100),
        "{} calls reached the backend",
        calls()
    );
    let pid = fixture_pid(gw.pid());
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    // Every call of every client gets exactly one error answer.
    for c in &mut clients {
        let mut answered = std::collections::HashSet::new();
        while answered.len() < 20 {
            let msg = c.next_message().expect("an answer for every call");
            if msg.get("method").is_some() {
                continue; // list_changed
            }
            assert_eq!(msg["result"]["isError"], true, "{msg}");
            assert!(text(&msg).contains("\"a\""), "{msg}");
            assert!(
                answered.insert(msg["id"].clone()),
                "two answers for {}",
                msg["id"]
            );
        }
    }
    // The backend is back and serves.
    assert!(wait_until(Duration::from_secs(10), || gw
        .stderr()
        .matches("[a] connected:")
        .count()
        >= 2));
    let c = &mut clients[0];
    assert!(
        wait_until(Duration::from_secs(10), || {
            let r = c.call(
                gw.addr,
                json!("after"),
                "tools/call",
                json!({"name": "echo"}),
            );
            text(&r) == "a:echo:null"
        }),
        "no service after the restart"
    );
}

#[test]
fn a_flooding_backend_drops_the_slow_client_only_and_memory_stays_bounded() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("f", &[("FIXTURE_TOOLS", "flood,echo")], "")
    );
    let gw = Gateway::start(&config);
    // The slow client asks for logs and then never reads its stream.
    let mut slow = SseClient::open(gw.addr);
    slow.initialize(gw.addr, "2025-06-18");
    let r = slow.call(
        gw.addr,
        json!(1),
        "logging/setLevel",
        json!({"level": "debug"}),
    );
    assert_eq!(r["result"], json!({}));
    let mut fine = SseClient::open(gw.addr);
    fine.initialize(gw.addr, "2025-06-18");
    let before = rss_kb(gw.pid());
    let flood = fine.call(
        gw.addr,
        json!(2),
        "tools/call",
        json!({"name": "flood", "arguments": {"count": 100000}}),
    );
    assert_eq!(text(&flood), "flooded");
    assert!(
        gw.logged("outbound queue full"),
        "the slow client was not dropped: {}",
        gw.stderr()
    );
    // Counted and told: once its stream is gone.
    assert!(
        wait_until(Duration::from_secs(60), || {
            let m = crate::support::request(gw.addr, "GET", "/metrics", &[], b"").text();
            m.lines().any(|l| l == "argus_slow_clients_dropped_total 1")
        }),
        "the drop was not counted"
    );
    let events = gw.manage("GET", "/manage/v1/events", None, "").json();
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["stage"] == "session_dropped" && e["severity"] == "warning"),
        "{events}"
    );
    // The other client is served throughout.
    for i in 0..5 {
        let r = fine.call(
            gw.addr,
            json!(10 + i),
            "tools/call",
            json!({"name": "echo"}),
        );
        assert_eq!(text(&r), "f:echo:null");
    }
    let after = rss_kb(gw.pid());
    assert!(
        after < before + 64 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
    drop(slow);
}

#[test]
fn a_backend_that_stops_reading_holds_up_no_one_else() {
    // Calls go to an idle stdio backend's stdin from the client's own
    // connection thread. Once the backend stops reading, its pipe fills:
    // those writes must then queue, never wait, and a full queue refuses.
    let deaf = fixture_backend(
        "d",
        &[("FIXTURE_TOOLS", "deaf,big")],
        "    timeouts: {call: 5}\n",
    );
    let config = format!(
        "backends:\n{deaf}{}",
        fixture_backend("ok", &[("FIXTURE_TOOLS", "echo")], "")
    );
    let gw = Gateway::start(&config);
    let mut a = SseClient::open(gw.addr);
    a.initialize(gw.addr, "2025-06-18");
    let r = a.call(gw.addr, json!(0), "tools/call", json!({"name": "deaf"}));
    assert_eq!(text(&r), "deaf now");
    // 1,100 calls of 16 KiB: the pipe takes a few, the queue 1,024.
    let arg = "a".repeat(16 << 10);
    let calls = 1100;
    for i in 1..=calls {
        let body = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
            "params": {"name": "big", "arguments": {"arg": arg}}});
        // Each POST is answered at once (the support client's reads time out).
        assert_eq!(a.post(gw.addr, &body.to_string()).status, 202, "call {i}");
    }
    // The other backend, and the gateway, serve on.
    let mut b = SseClient::open(gw.addr);
    b.initialize(gw.addr, "2025-06-18");
    let r = b.call(gw.addr, json!(1), "tools/call", json!({"name": "echo"}));
    assert_eq!(text(&r), "ok:echo:null");
    // Every call is answered: refused while the queue is full, the rest
    // when their time is up.
    let (mut refused, mut answered) = (0, 0);
    while answered < calls {
        let m = a.next_message().expect("an answer to every call");
        if m.get("id").is_none() {
            continue;
        }
        answered += 1;
        assert!(
            m["result"]["isError"] == true || m["error"].is_object(),
            "{m}"
        );
        if m.to_string().contains("input queue is full") {
            refused += 1;
        }
    }
    assert!(refused > 0, "no call was refused");
}

/// A status and the connection it came on (kept open), if one came.
type Answered = Option<(u16, BufReader<std::net::TcpStream>)>;

#[test]
fn a_connection_storm_past_max_connections_gets_503_then_full_service() {
    let gw = Gateway::start("server: {max_connections: 1024}\n");
    let addr = gw.addr;
    let statuses: Vec<thread::JoinHandle<Answered>> = (0..2000)
        .map(|_| {
            thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    let stream =
                        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(20))
                            .ok()?;
                    stream
                        .set_read_timeout(Some(Duration::from_secs(20)))
                        .ok()?;
                    let mut s = stream;
                    s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
                        .ok()?;
                    let mut reader = BufReader::new(s);
                    let resp = read_response(&mut reader, false);
                    // Keep-alive: an accepted connection stays open (and counted).
                    Some((resp.status, reader))
                })
                .unwrap()
        })
        .collect();
    let results: Vec<_> = statuses.into_iter().map(|h| h.join().unwrap()).collect();
    let ok = results.iter().flatten().filter(|(s, _)| *s == 200).count();
    let busy = results.iter().flatten().filter(|(s, _)| *s == 503).count();
    assert_eq!(
        ok + busy,
        2000,
        "every connection got an answer ({ok} + {busy})"
    );
    assert!(ok <= 1024, "{ok} served at once");
    assert!(busy >= 2000 - 1024, "{busy} refused");
    drop(results);
    assert!(
        wait_until(Duration::from_secs(10), || request(
            gw.addr,
            "GET",
            "/health",
            &[],
            b""
        )
        .status
            == 200),
        "no service after the storm"
    );
    let _ = connect(gw.addr);
}

#[test]
fn sighup_and_sigterm_during_load() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("a", &[("FIXTURE_TOOLS", "echo")], "")
    );
    let mut gw = Gateway::start(&config);
    let addr = gw.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let (stop, done) = (stop.clone(), done.clone());
            thread::spawn(move || {
                let mut c = SseClient::open(addr);
                c.initialize(addr, "2025-06-18");
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) && i < 10_000 {
                    let r = c.call(addr, json!(i), "tools/call", json!({"name": "echo"}));
                    assert_eq!(text(&r), "a:echo:null", "worker {w} call {i}: {r}");
                    done.fetch_add(1, Ordering::SeqCst);
                    i += 1;
                }
                c
            })
        })
        .collect();
    assert!(wait_until(Duration::from_secs(10), || done
        .load(Ordering::SeqCst)
        >= 30));
    gw.signal("HUP");
    assert!(gw.logged("SIGHUP received"));
    let at_hup = done.load(Ordering::SeqCst);
    assert!(
        wait_until(Duration::from_secs(10), || done.load(Ordering::SeqCst)
            >= at_hup + 30),
        "calls stalled after SIGHUP"
    );
    stop.store(true, Ordering::SeqCst);
    let mut clients: Vec<SseClient> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    // Calls in flight when SIGTERM arrives: the gateway still exits in time
    // and every stream ends.
    for (i, c) in clients.iter().enumerate() {
        let call = json!({"jsonrpc":"2.0","id":format!("last-{i}"),"method":"tools/call","params":{"name":"echo"}});
        let _ = c.post(addr, &call.to_string());
    }
    gw.signal("TERM");
    assert_eq!(
        gw.wait_exit(Duration::from_secs(5)),
        Some(0),
        "{}",
        gw.stderr()
    );
    for c in &mut clients {
        while c.next_message().is_some() {}
    }
}
