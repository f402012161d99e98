//! The validated configuration and how it is found and loaded.
//!
//! Loading is two stages: `yaml` turns the text into a tree of positioned
//! nodes, then `validate` walks that tree by hand into the typed [`Config`],
//! expanding `${VAR}` in string values and collecting every problem with its
//! key path and line/column. Hand-walking (rather than serde derive with
//! `deny_unknown_fields`) is what lets us report all errors of a file at
//! once, warn about known Argus extras instead of failing, and give
//! "did you mean" hints. This module does not start anything.

mod authorization;
mod expand;
pub mod tls;
mod validate;
pub mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use authorization::{Authorization, Effect, Pattern, Policy, Scope, StdioIdentity};
pub use expand::{ExpandError, expand};
pub use tls::Tls;
pub use yaml::Pos;

use crate::glob::Glob;

/// Files looked for, in order, when neither `--config` nor `$ARGUS_CONFIG` names one.
pub const DEFAULT_FILES: [&str; 4] = ["argus.yaml", "argus.yml", "config.yaml", "config.yml"];

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from; `None` when started without one.
    pub source: Option<PathBuf>,
    /// `server`.
    pub server: ServerSettings,
    /// `backends`, in config order.
    pub backends: Vec<Backend>,
    /// `conflict_resolution`.
    pub conflict: Conflict,
    /// `incoming_auth`.
    pub incoming_auth: IncomingAuth,
    /// `authorization`: which caller may see and use which item.
    pub authorization: Authorization,
    /// `security`.
    pub security: Security,
    /// `sse_resilience`.
    pub sse: SseResilience,
    /// `rate_limits`.
    pub rate_limits: RateLimits,
    /// `audit`.
    pub audit: Audit,
    /// `catalog`: client-safe exposed names.
    pub names: CatalogNames,
    /// `catalog.lock_file`: the catalog lock (see [`Config::lock_path`]).
    pub lock_file: Option<PathBuf>,
    /// `catalog.pin`: what drift against the lock does.
    pub pin: Pin,
    /// `optimizer`: `find_tool` and `call_tool` in place of the whole tool list.
    pub optimizer: Optimizer,
    /// `telemetry`: traces exported to an OpenTelemetry collector.
    pub telemetry: Telemetry,
    /// Start-up tuning from the environment (`ARGUS_*`).
    pub lifecycle: Lifecycle,
    /// Known Argus keys that are accepted and ignored, one message each.
    pub warnings: Vec<String>,
}

/// `catalog`: how exposed names are made safe for clients whose naming
/// rules are stricter than the backends'; both off by default (names
/// unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogNames {
    /// `max_name_length`: longest exposed tool or prompt name, in characters.
    pub max_length: Option<usize>,
    /// `name_charset`: the characters exposed names may use.
    pub charset: Option<NameCharset>,
}

/// `catalog.pin`: what an item that drifted from the catalog lock gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pin {
    /// The lock is not checked while serving.
    #[default]
    Off,
    /// Served, and the drift recorded and logged.
    Warn,
    /// A changed or new item is withheld from every list and call.
    Block,
}

/// A `catalog.name_charset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameCharset {
    /// `strict`: `a-z A-Z 0-9 _ -` (OpenAI-style function names).
    Strict,
    /// `mcp`: `strict` plus `.` (MCP 2025-11-25 tool names).
    Mcp,
}

/// `server`: where and how the gateway listens for clients.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Bind address.
    pub host: String,
    /// Bind port. Only the `--port` flag may set 0 (any free port).
    pub port: u16,
    /// The primary advertised transport.
    pub transport: Transport,
    /// Concurrent client connections; above it 503.
    pub max_connections: usize,
    /// Open client sessions, both transports together; above it `GET /sse`
    /// and `initialize` get 503.
    pub max_sessions: usize,
    /// Idle Streamable HTTP sessions end after this.
    pub session_idle_timeout: Duration,
    /// Bearer token for `/manage/v1`.
    pub management_token: Option<Secret>,
    /// `public_url`: the gateway's base URL as clients reach it (behind a
    /// proxy), without a trailing `/`; else `http://<Host of the request>`.
    /// The resource identifiers that JWTs are checked against derive from
    /// it.
    pub public_url: Option<String>,
    /// `instance`: 1–8 hex digits that start every session id this
    /// instance mints, so a load balancer can pin sessions to it.
    pub instance: Option<String>,
}

/// A client-facing transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Legacy HTTP+SSE: `GET /sse` + `POST /messages/`.
    Sse,
    /// Streamable HTTP: `/mcp`.
    StreamableHttp,
    /// One client over stdin/stdout (`argus-mcp stdio`); a session's
    /// transport only, never `server.transport`.
    Stdio,
}

impl Transport {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Sse => "sse",
            Transport::StreamableHttp => "streamable-http",
            Transport::Stdio => "stdio",
        }
    }
}

/// One entry of `backends`.
#[derive(Debug, Clone)]
pub struct Backend {
    /// The map key: 1–64 of `A-Z a-z 0-9 _ - .`.
    pub name: String,
    /// Logical group.
    pub group: String,
    /// Transport and its fields.
    pub kind: BackendKind,
    /// Timeouts and retry policy, defaults applied.
    pub timeouts: Timeouts,
    /// Which items are visible.
    pub filters: Filters,
    /// Tool renames and descriptions, keyed by original name, in config order.
    pub tool_overrides: Vec<(String, ToolOverride)>,
}

/// How to reach a backend.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendKind {
    /// A local process over stdin/stdout.
    Stdio(Launch),
    /// A remote (or locally launched) legacy HTTP+SSE server.
    Sse {
        /// The SSE endpoint.
        url: String,
        /// Extra request headers.
        headers: Vec<(String, Secret)>,
        /// Outgoing auth.
        auth: Option<Auth>,
        /// `tls` over the global one.
        tls: Tls,
        /// A local process to start first.
        launch: Option<Launch>,
    },
    /// A remote Streamable HTTP server.
    StreamableHttp {
        /// The MCP endpoint.
        url: String,
        /// Extra request headers.
        headers: Vec<(String, Secret)>,
        /// Outgoing auth.
        auth: Option<Auth>,
        /// `tls` over the global one.
        tls: Tls,
    },
}

impl BackendKind {
    /// The config spelling of the type.
    pub fn type_name(&self) -> &'static str {
        match self {
            BackendKind::Stdio(_) => "stdio",
            BackendKind::Sse { .. } => "sse",
            BackendKind::StreamableHttp { .. } => "streamable-http",
        }
    }
}

/// A process to run: no shell; environment = allowlist + `env`.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// The program.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, Secret)>,
}

/// Outgoing authentication for remote backends.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    /// Fixed headers.
    Static(Vec<(String, Secret)>),
    /// OAuth 2 client-credentials grant.
    OAuth2(OAuth2),
}

/// `auth: {type: oauth2, ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuth2 {
    /// Token endpoint.
    pub token_url: String,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: Secret,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// Refresh this long before expiry.
    pub expiry_buffer: Duration,
    /// Refresh once and retry on a 401.
    pub retry_on_401: bool,
}

/// Per-backend timeouts and retry policy, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeouts {
    /// `initialize` handshake.
    pub init: Duration,
    /// Each list call during discovery.
    pub cap_fetch: Duration,
    /// Wait for a launched SSE backend's URL to answer.
    pub sse_startup: Duration,
    /// Whole connect + initialize; `None` = unbounded (stdio default).
    pub startup: Option<Duration>,
    /// Any forwarded request.
    pub call: Duration,
    /// Reconnect attempts.
    pub retries: u32,
    /// First retry delay.
    pub retry_delay: Duration,
}

/// Visibility filters for the three item kinds; each is checked on the
/// backend's original item name, before any rename.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Tools, matched on name.
    pub tools: Filter,
    /// Resources, matched on name.
    pub resources: Filter,
    /// Prompts, matched on name.
    pub prompts: Filter,
}

/// One allow/deny pair.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// If non-empty, a name must match one of these.
    pub allow: Vec<Glob>,
    /// A name matching any of these is hidden.
    pub deny: Vec<Glob>,
}

impl Filter {
    /// Whether an item with this original name is visible.
    pub fn allows(&self, name: &str) -> bool {
        if self.deny.iter().any(|g| g.matches(name)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|g| g.matches(name))
    }
}

/// `tool_overrides.<tool>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolOverride {
    /// Exposed name.
    pub name: Option<String>,
    /// Replacement description.
    pub description: Option<String>,
}

/// `conflict_resolution`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The strategy.
    pub strategy: Strategy,
    /// Between backend name and item name for `prefix` / `priority`.
    pub separator: String,
    /// Backend names, highest priority first.
    pub order: Vec<String>,
}

/// A conflict strategy: who keeps a name that two backends expose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The earlier backend keeps the name.
    FirstWins,
    /// Every name is prefixed with its backend.
    Prefix,
    /// `order` decides; the loser is prefixed.
    Priority,
    /// A clash fails start-up.
    Error,
}

impl Strategy {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::FirstWins => "first-wins",
            Strategy::Prefix => "prefix",
            Strategy::Priority => "priority",
            Strategy::Error => "error",
        }
    }
}

/// `incoming_auth`.
#[derive(Debug, Clone, PartialEq)]
pub enum IncomingAuth {
    /// No authentication.
    Anonymous,
    /// `Authorization: Bearer <token>` with one of these tokens.
    Bearer(Vec<NamedToken>),
    /// `Authorization: Bearer <JWT>` signed by a key of the set.
    Jwt(Box<JwtAuth>),
}

/// Where a JWT issuer's keys come from.
#[derive(Debug, Clone, PartialEq)]
pub enum KeySource {
    /// `jwks_file`, or a `file://` `jwks_uri`: read at load and at every
    /// reload.
    File {
        /// The file.
        path: PathBuf,
        /// Its usable keys.
        keys: crate::jwt::KeySet,
    },
    /// An `http(s)://` `jwks_uri`, fetched by the gateway when it needs
    /// the keys, again on an unknown `kid` (at most once a minute).
    Uri {
        /// The URL.
        url: String,
        /// The top-level `tls` (for `https`).
        tls: Tls,
    },
    /// `type: oidc`: the issuer's discovery document
    /// (`<issuer>/.well-known/openid-configuration`) names the keys' URL.
    Discovery {
        /// The discovery document's URL.
        url: String,
        /// The top-level `tls` (for `https`).
        tls: Tls,
    },
}

/// A static bearer token and the identity it proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedToken {
    /// The identity's name: given, or `token-<n>` (1-based) for a plain
    /// string, or `local-user` for the original's `local` token.
    pub name: String,
    /// The token.
    pub token: Secret,
    /// The identity's roles.
    pub roles: Vec<String>,
}

/// `incoming_auth` of `type: jwt` (or `oidc`).
#[derive(Debug, Clone, PartialEq)]
pub struct JwtAuth {
    /// The `iss` tokens must carry; also the authorization server named in
    /// the protected-resource metadata.
    pub issuer: String,
    /// `aud` values accepted beside the virtual server's own identifiers.
    pub audience: Vec<String>,
    /// The algorithms taken.
    pub algorithms: Vec<crate::jwt::Alg>,
    /// Where the keys come from.
    pub keys: KeySource,
    /// Where the roles are in a token (`None`: `roles`, then
    /// `realm_access.roles`).
    pub roles_claim: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway_seconds: u64,
}

/// `security`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// Extra allowed `Origin`s; `"*"` allows all.
    pub allowed_origins: Vec<String>,
    /// Extra allowed `Host` names when bound to loopback.
    pub allowed_hosts: Vec<String>,
    /// Largest request body.
    pub max_body_bytes: u64,
    /// `validate_arguments`: `tools/call` arguments are checked against
    /// the tool's `inputSchema` before they leave (default on).
    pub validate_arguments: bool,
}

/// `sse_resilience`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseResilience {
    /// `false` turns off keepalives and the send timeout.
    pub enabled: bool,
    /// Keepalive comment interval; `None` = disabled.
    pub keepalive_interval: Option<Duration>,
    /// Bound on writing one frame.
    pub send_timeout: Duration,
    /// A closed session is freed within this.
    pub cleanup_deadline: Duration,
}

/// `rate_limits`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// On or off.
    pub enabled: bool,
    /// Requests per window per client IP.
    pub requests: u32,
    /// Window length.
    pub window: Duration,
}

/// `optimizer`: every endpoint's `tools/list` shows the meta-tools
/// `find_tool` (BM25 search over the caller's tools) and `call_tool`, plus
/// the `keep_tools` it exposes, instead of every tool; every tool stays
/// callable by its own name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Optimizer {
    /// On or off (off by default).
    pub enabled: bool,
    /// Exposed tool names listed beside the meta-tools.
    pub keep_tools: Vec<String>,
}

/// `telemetry`: a span per request exported as OTLP/HTTP JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Telemetry {
    /// On or off (off by default).
    pub enabled: bool,
    /// The collector's base URL; spans go to `<otlp_endpoint>/v1/traces`.
    pub otlp_endpoint: String,
    /// `service.name` of every span.
    pub service_name: String,
}

impl Telemetry {
    /// Where spans are posted: the endpoint with `/v1/traces`, unless it
    /// names that path already.
    pub fn traces_url(&self) -> String {
        let base = self.otlp_endpoint.trim_end_matches('/');
        if base.ends_with("/v1/traces") {
            base.to_owned()
        } else {
            format!("{base}/v1/traces")
        }
    }
}

impl Default for Telemetry {
    fn default() -> Telemetry {
        Telemetry {
            enabled: false,
            otlp_endpoint: "http://localhost:4318".into(),
            service_name: "argus-mcp".into(),
        }
    }
}

/// `audit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// On or off.
    pub enabled: bool,
    /// JSONL file.
    pub file: PathBuf,
    /// `required`: a request whose record cannot be written fails.
    pub required: bool,
    /// `signing_key`: an Ed25519 private key (PKCS#8 PEM) that signs
    /// checkpoints of the chain; none: no checkpoints.
    pub signing_key: Option<PathBuf>,
    /// `checkpoint_every`: a checkpoint after this many records.
    pub checkpoint_every: u64,
    /// `checkpoint_seconds`: a checkpoint this often while records come.
    pub checkpoint_seconds: Duration,
    /// `origin`: the first line of each checkpoint's signed text.
    pub origin: String,
    /// `max_size_mb`: the file is rotated past this size; none: never.
    pub max_bytes: Option<u64>,
    /// `backup_count`: rotated files kept (`FILE.1` newest).
    pub backup_count: u32,
}

/// Start-up tuning read from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifecycle {
    /// `ARGUS_STARTUP_CONCURRENCY`: backends connecting at once.
    pub startup_concurrency: usize,
    /// `ARGUS_BACKEND_RETRY_BACKOFF`: multiplier between retry delays.
    pub retry_backoff: f64,
}

/// A string that must never be logged: tokens, header values, env values.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

/// One config problem, with its key path and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `backends.web.url`; empty for the document.
    pub path: String,
    /// Where in the file.
    pub pos: Option<Pos>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(pos) = self.pos {
            write!(f, " ({pos})")?;
        }
        Ok(())
    }
}

/// Why a config could not be loaded.
#[derive(Debug)]
pub enum Error {
    /// The file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file is not valid YAML, or its content is invalid.
    Invalid {
        /// The file, if any.
        path: Option<PathBuf>,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { path, source } => {
                write!(f, "cannot read config \"{}\": {source}", path.display())
            }
            Error::Invalid { path, problems } => {
                let name = path.as_ref().map_or_else(
                    || "config".to_owned(),
                    |p| format!("config \"{}\"", p.display()),
                );
                let n = problems.len();
                write!(f, "{name}: {n} error{}", if n == 1 { "" } else { "s" })?;
                for problem in problems {
                    write!(f, "\n  {problem}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Read { source, .. } => Some(source),
            Error::Invalid { .. } => None,
        }
    }
}

/// Where the config file comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A named file (`--config` or `$ARGUS_CONFIG`).
    File(PathBuf),
    /// No file found; the paths that were tried.
    NotFound(Vec<PathBuf>),
}

/// Resolves the config file: `flag`, else `$ARGUS_CONFIG`, else the first of
/// [`DEFAULT_FILES`] in `dir` that exists.
pub fn locate(flag: Option<&Path>, env_value: Option<&str>, dir: &Path) -> Location {
    if let Some(path) = flag {
        return Location::File(path.to_owned());
    }
    if let Some(value) = env_value.filter(|v| !v.is_empty()) {
        return Location::File(PathBuf::from(value));
    }
    let tried: Vec<PathBuf> = DEFAULT_FILES.iter().map(|f| dir.join(f)).collect();
    match tried.iter().find(|p| p.is_file()) {
        Some(found) => Location::File(found.clone()),
        None => Location::NotFound(tried),
    }
}

impl Config {
    /// Reads and validates a config file, expanding `${VAR}` from the process environment.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        let env = |name: &str| std::env::var(name).ok();
        let mut config = Config::parse(&text, &env).map_err(|problems| Error::Invalid {
            path: Some(path.to_owned()),
            problems,
        })?;
        config.source = Some(path.to_owned());
        Ok(config)
    }

    /// Validates config text; `env` answers `${VAR}` and the `ARGUS_*` overrides.
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, Vec<Problem>> {
        validate::from_text(text, env)
    }

    /// Where the catalog lock is: `catalog.lock_file`, else `argus.lock`
    /// beside the config file (or in the working directory).
    pub fn lock_path(&self) -> PathBuf {
        if let Some(path) = &self.lock_file {
            return path.clone();
        }
        let dir = self
            .source
            .as_ref()
            .and_then(|s| s.parent())
            .unwrap_or(Path::new(""));
        dir.join("argus.lock")
    }

    /// The config used when no file exists: no backends, all defaults.
    pub fn empty(env: &dyn Fn(&str) -> Option<String>) -> Result<Config, Vec<Problem>> {
        validate::from_text("{}", env)
    }
}
