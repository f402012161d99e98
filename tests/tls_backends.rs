//! HTTPS backends on a private PKI (`tls`, README "Configuration"): a CA made here
//! with openssl, a Python SDK server behind uvicorn's TLS, trusted through
//! `tls.ca_file` (top level and per backend, instead of or beside the
//! bundled roots), refused without it, and mTLS with `cert_file`/`key_file`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;

use crate::support::{Gateway, LocalServer, SseClient, TempDir, binary, free_port, python, text};

/// A CA, a server certificate for 127.0.0.1 and a client certificate it
/// issued, and a second CA that issued nothing the servers use.
struct Pki {
    dir: TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = TempDir::new("pki");
        let pki = Pki { dir };
        pki.ca("ca");
        pki.ca("other-ca");
        pki.leaf(
            "server",
            "127.0.0.1",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        );
        pki.leaf("client", "argus-gateway", "extendedKeyUsage=clientAuth\n");
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.0.join(name)
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir.0)
            .output()
            .expect("openssl (tests/run-all.sh installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `openssl req` with a new unencrypted P-256 key in `NAME.key`, then `rest`.
    fn request_with_new_key(&self, name: &str, rest: &[&str]) {
        let key = format!("{name}.key");
        let mut args = vec![
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
        ];
        args.extend_from_slice(rest);
        self.openssl(&args);
    }

    /// `NAME.pem` (self-signed CA) and `NAME.key`.
    fn ca(&self, name: &str) {
        self.request_with_new_key(
            name,
            &[
                "-x509",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-subj",
                &format!("/CN=argus test {name}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }

    /// `NAME.pem` and `NAME.key`, issued by `ca`, with `extensions`.
    fn leaf(&self, name: &str, cn: &str, extensions: &str) {
        self.dir.write(
            &format!("{name}.ext"),
            &format!("basicConstraints=CA:FALSE\n{extensions}"),
        );
        self.request_with_new_key(
            name,
            &[
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={cn}"),
            ],
        );
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ]);
    }

    /// The Python SDK server over HTTPS; `client_ca` makes it require a
    /// client certificate from that CA.
    fn server(&self, transport: &str, client_ca: bool) -> (LocalServer, u16) {
        let port = free_port();
        let mut cmd = Command::new(python());
        cmd.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/tls_server.py"
        ))
        .arg(port.to_string())
        .arg(transport)
        .arg(self.path("server.pem"))
        .arg(self.path("server.key"));
        if client_ca {
            cmd.arg(self.path("ca.pem"));
        }
        (LocalServer::start(cmd, port), port)
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// `argus-mcp check --connect` on `config`: (exit code, stdout).
fn check_connect(dir: &TempDir, config: &str) -> (Option<i32>, String) {
    let path = dir.write("argus.yaml", config);
    let out: Output = Command::new(binary())
        .args(["check", "--connect", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.code(),
        format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn a_private_ca_in_ca_file_is_trusted_instead_of_or_beside_the_bundled_roots() {
    let pki = Pki::new();
    let (_http, http_port) = pki.server("streamable-http", false);
    let (_sse, sse_port) = pki.server("sse", false);
    let ca = display(&pki.path("ca.pem"));
    // The top-level section with the private CA only; the SSE backend
    // names its own, beside the bundled roots.
    let config = format!(
        "tls:\n  ca_file: {ca}\n  bundled_roots: false\n\
         conflict_resolution: {{strategy: prefix}}\n\
         backends:\n  http:\n    type: streamable-http\n    url: https://127.0.0.1:{http_port}/mcp\n\
         \x20 sse:\n    type: sse\n    url: https://127.0.0.1:{sse_port}/sse\n    tls: {{ca_file: {ca}, bundled_roots: true}}\n"
    );
    let gw = Gateway::start(&config);
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let mut names = c.names(gw.addr, "tools/list", "tools");
    names.sort();
    assert_eq!(names, ["http_multiply", "sse_multiply"], "{}", gw.stderr());
    for (id, name) in [(1, "http_multiply"), (2, "sse_multiply")] {
        let reply = c.call(
            gw.addr,
            json!(id),
            "tools/call",
            json!({"name": name, "arguments": {"a": 6, "b": 7}}),
        );
        assert_eq!(text(&reply), "tls multiplies to 42", "{name}");
    }
}

#[test]
fn a_certificate_from_an_untrusted_ca_is_refused() {
    let pki = Pki::new();
    let (_server, port) = pki.server("streamable-http", false);
    let dir = TempDir::new("tls-refused");
    let backend = |tls: &str| {
        format!(
            "backends:\n  private:\n    type: streamable-http\n    url: https://127.0.0.1:{port}/mcp\n    timeouts: {{retries: 0}}\n{tls}"
        )
    };
    // The bundled roots alone, then another private CA: neither issued it.
    let other = display(&pki.path("other-ca.pem"));
    for tls in [
        String::new(),
        format!("    tls: {{ca_file: {other}, bundled_roots: false}}\n"),
    ] {
        let (code, out) = check_connect(&dir, &backend(&tls));
        assert_eq!(code, Some(1), "{out}");
        assert!(
            out.contains("private: failed") && out.to_lowercase().contains("certificate"),
            "the failure names the certificate:\n{out}"
        );
    }
    let ca = display(&pki.path("ca.pem"));
    let (code, out) = check_connect(&dir, &backend(&format!("    tls: {{ca_file: {ca}}}\n")));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("multiply -> private / multiply"), "{out}");
    // The plan says what the backend trusts.
    assert!(
        out.contains(&format!("(tls: ca_file {ca} and the bundled roots)")),
        "{out}"
    );
}

#[test]
fn an_mtls_backend_gets_the_client_certificate_from_cert_file_and_key_file() {
    let pki = Pki::new();
    let (_server, port) = pki.server("streamable-http", true);
    let ca = display(&pki.path("ca.pem"));
    let dir = TempDir::new("mtls");
    let backend = |client: &str| {
        format!(
            "tls: {{ca_file: {ca}{client}}}\n\
             backends:\n  mtls:\n    type: streamable-http\n    url: https://127.0.0.1:{port}/mcp\n    timeouts: {{retries: 0}}\n"
        )
    };
    let (code, out) = check_connect(&dir, &backend(""));
    assert_eq!(
        code,
        Some(1),
        "no client certificate, no connection:\n{out}"
    );
    assert!(out.contains("mtls: failed"), "{out}");

    let client = format!(
        ", cert_file: {}, key_file: {}",
        display(&pki.path("client.pem")),
        display(&pki.path("client.key"))
    );
    let gw = Gateway::start(&backend(&client));
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let reply = c.call(
        gw.addr,
        json!(1),
        "tools/call",
        json!({"name": "multiply", "arguments": {"a": 3, "b": 5}}),
    );
    assert_eq!(text(&reply), "tls multiplies to 15", "{}", gw.stderr());
}

#[test]
fn a_key_that_is_not_the_certificates_is_a_config_error_at_its_line() {
    let pki = Pki::new();
    let dir = TempDir::new("tls-mismatch");
    let config = format!(
        "backends:\n  web:\n    type: streamable-http\n    url: https://127.0.0.1:1/mcp\n    tls:\n      cert_file: {}\n      key_file: {}\n",
        display(&pki.path("client.pem")),
        display(&pki.path("server.key")),
    );
    let path = dir.write("argus.yaml", &config);
    let out = Command::new(binary())
        .args(["check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("backends.web.tls.key_file: ")
            && stderr.contains("is not the key of the certificate in")
            && stderr.contains("line 7"),
        "{stderr}"
    );
}

#[test]
fn a_reload_rereads_the_files_and_restarts_a_backend_whose_roots_changed() {
    let pki = Pki::new();
    let (_server, port) = pki.server("streamable-http", false);
    // The trust file names the wrong CA first; the config never changes.
    let trust = pki.path("trust.pem");
    std::fs::copy(pki.path("other-ca.pem"), &trust).unwrap();
    let config = format!(
        "backends:\n  private:\n    type: streamable-http\n    url: https://127.0.0.1:{port}/mcp\n    timeouts: {{retries: 0}}\n    tls: {{ca_file: {}, bundled_roots: false}}\n",
        display(&trust)
    );
    let gw = Gateway::start(&config);
    let tools = |gw: &Gateway| {
        let mut c = SseClient::open(gw.addr);
        c.initialize(gw.addr, "2025-06-18");
        c.names(gw.addr, "tools/list", "tools")
    };
    assert!(tools(&gw).is_empty(), "not trusted yet");

    std::fs::copy(pki.path("ca.pem"), &trust).unwrap();
    let resp = gw.manage("POST", "/manage/v1/reload", None, "");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(
        crate::support::wait_until(std::time::Duration::from_secs(20), || tools(&gw)
            == ["multiply"]),
        "the backend was not restarted with the new roots: {}",
        gw.stderr()
    );
}
