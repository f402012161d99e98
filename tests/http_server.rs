//! The HTTP/1.1 front door over raw sockets: every limit (README, "HTTP
//! endpoints") with its own status, keep-alive, pipelining, HTTP/1.0,
//! HEAD, routing, panics.

use std::io::{BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_mcp::http::{Handler, Request, Response, Server, ServerOptions};
use argus_mcp::limits::{MAX_HEAD_BYTES, MAX_HEADERS, MAX_REQUEST_LINE_BYTES};

use crate::support::{Gateway, connect, raw, read_response, request};

const CONFIG: &str = "server:\n  host: 127.0.0.1\nsecurity:\n  max_body_bytes: 2048\n";

#[test]
fn limits_have_their_own_status_codes() {
    let gw = Gateway::start(CONFIG);
    let long_target = format!(
        "GET /{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "a".repeat(MAX_REQUEST_LINE_BYTES)
    );
    assert_eq!(raw(gw.addr, long_target.as_bytes()).status, 414);

    let big_header = format!(
        "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
        "b".repeat(MAX_HEAD_BYTES)
    );
    assert_eq!(raw(gw.addr, big_header.as_bytes()).status, 431);

    let mut many = "GET /health HTTP/1.1\r\nHost: localhost\r\n".to_owned();
    for i in 0..=MAX_HEADERS {
        many.push_str(&format!("X-{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(raw(gw.addr, many.as_bytes()).status, 431);

    // Declared too large: refused before reading the body.
    let big_body = "POST /messages/?session_id=00000000000000000000000000000000 HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n";
    let resp = raw(gw.addr, big_body.as_bytes());
    assert_eq!(resp.status, 413);
    assert_eq!(resp.header("connection"), Some("close"));

    // Chunked and too large: refused while decoding.
    let mut chunked =
        b"POST /messages/ HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for _ in 0..3 {
        chunked.extend(format!("400\r\n{}\r\n", "x".repeat(1024)).as_bytes());
    }
    assert_eq!(raw(gw.addr, &chunked).status, 413);

    assert_eq!(raw(gw.addr, b"GET /health HTTP/2.0\r\n\r\n").status, 505);
    assert_eq!(
        raw(gw.addr, b"GET /health HTTP/1.1\r\n\r\n").status,
        400,
        "missing Host"
    );
    assert_eq!(raw(gw.addr, b"GARBAGE\r\n\r\n").status, 400);
    assert_eq!(
        raw(gw.addr, b"POST /messages HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n").status,
        400,
        "both framings"
    );
    assert_eq!(
        raw(
            gw.addr,
            b"POST /messages HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n"
        )
        .status,
        501
    );
    assert_eq!(
        raw(
            gw.addr,
            b"GET /health HTTP/1.1\r\nHost: localhost\r\nExpect: magic\r\n\r\n"
        )
        .status,
        417
    );
}

#[test]
fn slowloris_gets_408_and_the_connection_closes() {
    let gw = Gateway::start(CONFIG);
    let mut stream = connect(gw.addr);
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    // Trickle header bytes; the head deadline does not move.
    for _ in 0..3 {
        if stream.write_all(b"X-Slow: 1\r\n").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut reader = BufReader::new(stream);
    let resp = read_response(&mut reader, false);
    assert_eq!(resp.status, 408);
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "408 came too early"
    );
    let mut rest = Vec::new();
    assert_eq!(
        reader.read_to_end(&mut rest).unwrap(),
        0,
        "connection closed after 408"
    );
}

#[test]
fn connection_limit_answers_503() {
    let gw = Gateway::start("server:\n  max_connections: 2\n");
    // Two connections that each completed a request are certainly counted.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = connect(gw.addr);
        s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut reader = BufReader::new(s);
        assert_eq!(read_response(&mut reader, false).status, 200);
        held.push(reader);
    }
    let resp = raw(gw.addr, b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(resp.status, 503);
    drop(held);
    assert!(crate::support::wait_until(Duration::from_secs(5), || {
        raw(
            gw.addr,
            b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .status
            == 200
    }));
}

#[test]
fn keep_alive_and_pipelining() {
    let gw = Gateway::start(CONFIG);
    let stream = connect(gw.addr);
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    for _ in 0..5 {
        writer
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let resp = read_response(&mut reader, false);
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("connection"), Some("keep-alive"));
        assert_eq!(resp.json()["status"], "healthy");
    }
    // Three requests in one write, including a chunked POST: answered in order.
    writer
        .write_all(
            b"GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n\
              POST /messages/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n\
              GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n",
        )
        .unwrap();
    assert_eq!(read_response(&mut reader, false).status, 404);
    let second = read_response(&mut reader, false);
    assert_eq!(second.status, 400, "no session id");
    assert_eq!(second.text(), "session_id is required\n");
    assert_eq!(read_response(&mut reader, false).status, 200);
}

#[test]
fn http10_head_and_expect_continue() {
    let gw = Gateway::start(CONFIG);
    // HTTP/1.0: answered, then closed.
    let resp = raw(gw.addr, b"GET /health HTTP/1.0\r\n\r\n");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("connection"), Some("close"));

    // HEAD: the headers of GET, no body.
    let stream = connect(gw.addr);
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    writer
        .write_all(b"HEAD /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let head = read_response(&mut reader, true);
    assert_eq!(head.status, 200);
    assert!(
        head.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 0
    );
    // The next response on the connection starts right away: no body was sent.
    writer
        .write_all(b"GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut reader, false).status, 404);

    // Expect: 100-continue gets an interim response before the body is sent.
    writer
        .write_all(b"POST /messages/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut reader, false).status, 100);
    writer.write_all(b"{}").unwrap();
    assert_eq!(read_response(&mut reader, false).status, 400);
}

#[test]
fn routes_404_405_and_no_redirects() {
    let gw = Gateway::start(CONFIG);
    assert_eq!(request(gw.addr, "GET", "/", &[], b"").status, 404);
    assert_eq!(request(gw.addr, "GET", "/ssex", &[], b"").status, 404);
    for (method, path, allow) in [
        ("POST", "/sse", "GET, HEAD, OPTIONS"),
        ("GET", "/messages/", "POST, OPTIONS"),
        ("GET", "/messages", "POST, OPTIONS"),
        ("PUT", "/mcp", "GET, POST, DELETE, OPTIONS"),
        ("POST", "/health", "GET, HEAD"),
    ] {
        let resp = request(gw.addr, method, path, &[], b"");
        assert_eq!(resp.status, 405, "{method} {path}");
        assert_eq!(resp.header("allow"), Some(allow), "{method} {path}");
    }
    // Both slash forms answer directly.
    for path in ["/messages", "/messages/"] {
        let resp = request(
            gw.addr,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            b"{}",
        );
        assert_eq!(resp.status, 400, "{path}");
        assert!(resp.header("location").is_none());
    }
}

#[test]
fn health_shape() {
    let gw = Gateway::start(CONFIG);
    let resp = request(gw.addr, "GET", "/health", &[], b"");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let v = resp.json();
    assert_eq!(v["status"], "healthy");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["uptime_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        v["backends"],
        serde_json::json!({"total": 0, "connected": 0, "healthy": 0})
    );
}

#[test]
fn origin_and_host_checks() {
    let gw = Gateway::start(CONFIG);
    let post = |headers: &[(&str, &str)]| {
        let mut all = vec![("Content-Type", "application/json")];
        all.extend_from_slice(headers);
        request(gw.addr, "POST", "/messages/", &all, b"{}").status
    };
    assert_eq!(post(&[("Origin", "http://evil.example")]), 403);
    assert_eq!(post(&[("Origin", "null")]), 403);
    assert_eq!(
        post(&[("Origin", "http://localhost:5173")]),
        400,
        "allowed, then no session"
    );
    assert_eq!(post(&[("Origin", "http://127.0.0.1")]), 400);
    let evil_host = b"GET /sse HTTP/1.1\r\nHost: evil.example\r\n\r\n";
    assert_eq!(raw(gw.addr, evil_host).status, 403);
    // /health is public.
    let health = b"GET /health HTTP/1.1\r\nHost: evil.example\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n";
    assert_eq!(raw(gw.addr, health).status, 200);
}

#[test]
fn bearer_auth() {
    let gw = Gateway::start("incoming_auth:\n  type: bearer\n  tokens: [t0k3n, other]\n");
    let resp = request(gw.addr, "GET", "/sse", &[], b"");
    assert_eq!(resp.status, 401);
    assert_eq!(resp.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        request(
            gw.addr,
            "GET",
            "/sse",
            &[("Authorization", "Bearer nope")],
            b""
        )
        .status,
        401
    );
    let mut client =
        crate::support::SseClient::open_with(gw.addr, &[("Authorization", "Bearer t0k3n")]);
    // The POST must carry the stream's token.
    let ping = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let with = |token: &str| {
        let auth = format!("Bearer {token}");
        request(
            gw.addr,
            "POST",
            &client.endpoint,
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &auth),
            ],
            ping,
        )
        .status
    };
    assert_eq!(
        request(
            gw.addr,
            "POST",
            &client.endpoint,
            &[("Content-Type", "application/json")],
            ping
        )
        .status,
        401
    );
    assert_eq!(with("other"), 404);
    assert_eq!(with("t0k3n"), 202);
    assert_eq!(client.next_message().unwrap()["id"], 1);
}

struct Panicky;

impl Handler for Panicky {
    fn handle(&self, request: Request) -> Response {
        if request.path() == "/panic" {
            panic!("handler bug");
        }
        Response::text(200, "fine")
    }
}

/// An `http::Server` over [`Panicky`] on a free port, with `body_timeout`:
/// its address, its shutdown handle and the thread that runs it.
fn panicky_server(
    body_timeout: Duration,
) -> (
    std::net::SocketAddr,
    argus_mcp::http::ShutdownHandle,
    std::thread::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = Server::new(
        listener,
        Arc::new(Panicky),
        ServerOptions {
            max_connections: 8,
            max_body_bytes: 1024,
            body_timeout,
            traffic: Default::default(),
        },
    )
    .unwrap();
    let addr = server.local_addr();
    let stop = server.shutdown_handle();
    (addr, stop, std::thread::spawn(move || server.run()))
}

#[test]
fn a_panicking_handler_answers_500_and_the_server_lives() {
    let (addr, stop, runner) = panicky_server(Duration::from_secs(60));
    for _ in 0..3 {
        let resp = raw(addr, b"GET /panic HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(resp.status, 500);
        assert_eq!(resp.header("connection"), Some("close"));
        assert_eq!(
            raw(
                addr,
                b"GET /ok HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            )
            .text(),
            "fine"
        );
    }
    stop.shutdown();
    runner.join().unwrap();
}

#[test]
fn strict_framing_one_host_and_the_absolute_form_authority() {
    let gw = Gateway::start(CONFIG);
    let cases: &[(&[u8], u16)] = &[
        // Bare LF in the head (a smuggling vector behind lenient proxies).
        (b"GET /health HTTP/1.1\nHost: localhost\r\n\r\n", 400),
        (b"GET /health HTTP/1.1\r\nHost: localhost\n\n", 400),
        // Two Hosts.
        (
            b"GET /health HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n",
            400,
        ),
        // The absolute form's authority is checked like Host.
        (
            b"GET http://evil.example/sse HTTP/1.1\r\nHost: localhost\r\n\r\n",
            403,
        ),
        // Bare LF in a chunk line.
        (
            b"POST /messages/?session_id=00000000000000000000000000000000 HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\n{}\r\n0\r\n\r\n",
            400,
        ),
    ];
    for (request, status) in cases {
        assert_eq!(
            raw(gw.addr, request).status,
            *status,
            "{:?}",
            String::from_utf8_lossy(request)
        );
    }
    let ok =
        b"GET http://127.0.0.1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    assert_eq!(raw(gw.addr, ok).status, 200);
}

#[test]
fn endless_empty_lines_are_refused_at_the_head_limit() {
    let gw = Gateway::start(CONFIG);
    let mut stream = connect(gw.addr);
    let crlf = b"\r\n".repeat(1024);
    let started = Instant::now();
    let mut sent = 0;
    // Far more than the head limit, unless the server answers first.
    while sent < 4 * MAX_HEAD_BYTES && stream.write_all(&crlf).is_ok() {
        sent += crlf.len();
    }
    let resp = read_response(&mut BufReader::new(stream), false);
    assert_eq!(resp.status, 431);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered at the limit, not at the head timeout"
    );
}

#[test]
fn a_body_trickled_past_its_deadline_gets_408() {
    let (addr, stop, runner) = panicky_server(Duration::from_secs(1));
    let mut stream = connect(addr);
    stream
        .write_all(b"POST /ok HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    // One byte every 200 ms: never idle for long, never done.
    let mut trickle = stream.try_clone().unwrap();
    let feeder = std::thread::spawn(move || {
        for _ in 0..50 {
            if trickle.write_all(b"x").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let resp = read_response(&mut BufReader::new(stream), false);
    assert_eq!(resp.status, 408, "{}", resp.text());
    assert!(resp.text().contains("within 1s"), "{}", resp.text());
    assert!(started.elapsed() < Duration::from_secs(5));
    feeder.join().unwrap();
    stop.shutdown();
    runner.join().unwrap();
}

#[test]
fn rate_limits_count_exactly_and_never_cut_an_open_stream() {
    let gw = Gateway::start(
        "rate_limits: {enabled: true, requests: 4, window_seconds: 60}\nsse_resilience: {keepalive_interval: 1}\n",
    );
    // 1: the stream; 2-4: three messages on it.
    let mut sse = crate::support::SseClient::open(gw.addr);
    for i in 0..3 {
        let ping = format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"ping"}}"#);
        assert_eq!(sse.post(gw.addr, &ping).status, 202, "request {}", i + 2);
    }
    // 5: over.
    let over = sse.post(gw.addr, r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#);
    assert_eq!(over.status, 429, "{}", over.text());
    let wait: u64 = over.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let mcp = request(
        gw.addr,
        "POST",
        "/mcp",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(mcp.status, 429);
    assert!(mcp.header("retry-after").is_some());
    assert_eq!(mcp.json()["error"]["code"], -32000, "{}", mcp.text());
    // Not an MCP path: not counted, not limited.
    assert_eq!(request(gw.addr, "GET", "/health", &[], b"").status, 200);
    let metrics = request(gw.addr, "GET", "/metrics", &[], b"").text();
    assert!(
        metrics.lines().any(|l| l == "argus_rate_limited_total 2"),
        "{metrics}"
    );
    // The stream opened before is untouched: its answers and keepalives come.
    let mut answers = 0;
    let mut pings = 0;
    while answers < 3 || pings == 0 {
        let (kind, _) = sse.next_event().expect("the open stream goes on");
        match kind.as_str() {
            "comment" => pings += 1,
            "message" => answers += 1,
            _ => {}
        }
    }
}

#[test]
fn a_refused_client_is_told_why_in_json_and_each_refusal_is_logged_within_a_budget() {
    let mut gw = Gateway::start_plain("incoming_auth:\n  type: bearer\n  tokens: [t0k3n-secret]\n");
    let refused = |authorization: Option<&str>| {
        let headers: Vec<(&str, &str)> = authorization
            .map(|a| ("Authorization", a))
            .into_iter()
            .collect();
        let resp = request(gw.addr, "GET", "/sse", &headers, b"");
        assert_eq!(resp.status, 401, "{authorization:?}");
        assert_eq!(resp.header("content-type"), Some("application/json"));
        let body = resp.json();
        assert!(
            !resp.text().contains("wr0ng-secret"),
            "the token is echoed: {}",
            resp.text()
        );
        (
            resp.header("www-authenticate").map(str::to_owned),
            body["error"].as_str().unwrap().to_owned(),
            body["message"].as_str().unwrap().to_owned(),
        )
    };
    let (challenge, error, message) = refused(None);
    assert_eq!(
        (challenge.as_deref(), error.as_str()),
        (Some("Bearer"), "unauthorized")
    );
    assert!(message.starts_with("missing bearer token"), "{message}");
    let (challenge, error, message) = refused(Some("Basic dTpw"));
    assert_eq!(
        (challenge.as_deref(), error.as_str()),
        (Some("Bearer error=\"invalid_request\""), "invalid_request")
    );
    assert!(
        message.starts_with("malformed Authorization header"),
        "{message}"
    );
    let (challenge, error, message) = refused(Some("Bearer wr0ng-secret"));
    assert_eq!(
        (challenge.as_deref(), error.as_str()),
        (Some("Bearer error=\"invalid_token\""), "invalid_token")
    );
    assert!(message.starts_with("unknown bearer token"), "{message}");
    // A scanner: the log takes ten lines a minute, not thirty.
    for _ in 0..30 {
        refused(Some("Bearer wr0ng-secret"));
    }
    gw.signal("TERM");
    assert_eq!(gw.wait_exit(Duration::from_secs(10)), Some(0));
    // Our reader of its stderr has seen the end once it lets go of the log.
    assert!(crate::support::wait_until(Duration::from_secs(5), || {
        Arc::strong_count(&gw.stderr) == 1
    }));
    let log = gw.stderr();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("refused GET /sse from 127.0.0.1:"))
        .collect();
    assert_eq!(lines.len(), 10, "{log}");
    assert!(lines[0].contains("WARN") && lines[0].ends_with("missing bearer token: send \"Authorization: Bearer <token>\" with one of incoming_auth.tokens"), "{}", lines[0]);
    assert!(
        lines[1].contains(": malformed Authorization header"),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains(": unknown bearer token"), "{}", lines[2]);
    assert!(
        !log.contains("wr0ng-secret"),
        "a token reached the log: {log}"
    );
}

#[test]
fn well_known_paths_answer_json_404s() {
    for (auth, protected_error) in [
        ("", "no_auth_configured"),
        (
            "incoming_auth: {type: bearer, tokens: [t0k3n-secret]}\n",
            "no_oauth_server",
        ),
    ] {
        let gw = Gateway::start(auth);
        for (path, error) in [
            ("/.well-known/oauth-protected-resource", protected_error),
            ("/.well-known/oauth-protected-resource/mcp", protected_error),
            (
                "/.well-known/oauth-protected-resource/g/one/sse",
                protected_error,
            ),
            ("/.well-known/oauth-authorization-server", "not_found"),
            ("/.well-known/openid-configuration", "not_found"),
            ("/mcp/.well-known/oauth-authorization-server", "not_found"),
        ] {
            let resp = request(gw.addr, "GET", path, &[], b"");
            assert_eq!(resp.status, 404, "{path}");
            assert_eq!(
                resp.header("content-type"),
                Some("application/json"),
                "{path}"
            );
            assert_eq!(resp.json()["error"], error, "{path}: {}", resp.text());
            assert!(resp.json()["error_description"].is_string(), "{path}");
        }
    }
}

#[test]
fn an_sse_open_that_takes_only_json_gets_406() {
    let gw = Gateway::start("backends: {}\n");
    for accept in [
        "application/json",
        "application/json, text/plain",
        "text/html;q=0.9",
    ] {
        let resp = request(gw.addr, "GET", "/sse", &[("Accept", accept)], b"");
        assert_eq!(resp.status, 406, "{accept}");
        assert!(resp.text().contains("text/event-stream"), "{}", resp.text());
    }
    // No Accept at all, the event stream, or a wildcard that covers it: a stream.
    for accept in [
        None,
        Some("text/event-stream"),
        Some("*/*"),
        Some("application/json, text/*"),
    ] {
        let mut stream = connect(gw.addr);
        let accept = accept
            .map(|a| format!("Accept: {a}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\n{accept}\r\n"
        )
        .unwrap();
        let head = read_response(&mut BufReader::new(stream), true);
        assert_eq!(head.status, 200, "{accept}");
        assert_eq!(
            head.header("content-type"),
            Some("text/event-stream"),
            "{accept}"
        );
    }
}
