//! The MCP client side of a backend: the `initialize` handshake and the
//! discovery of its tools, resources, templates and prompts (MCP 2025-06-18,
//! Lifecycle §Initialization and Server Features). Transport-independent:
//! it only sends requests on a [`Connection`].

use std::fmt;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::connection::{CallError, Connection};
use crate::jsonrpc::code;
use crate::limits::MAX_LIST_PAGES;
use crate::mcp::{self, method};

/// What a backend told us about itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discovered {
    /// The negotiated protocol version.
    pub protocol_version: String,
    /// `capabilities` from its `initialize` result.
    pub capabilities: Value,
    /// `serverInfo`.
    pub server_info: Value,
    /// Tools, unchanged.
    pub tools: Vec<Value>,
    /// Resources, unchanged.
    pub resources: Vec<Value>,
    /// Resource templates, unchanged.
    pub templates: Vec<Value>,
    /// Prompts, unchanged.
    pub prompts: Vec<Value>,
    /// A 2026-07-28 backend's caching hints on those lists.
    pub cache: CacheHints,
}

/// The caching hints (2026-07-28) a backend gave on its list pages.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CacheHints {
    /// The shortest `ttlMs` of its pages (absent or negative counts as
    /// 0); `None` from a backend that gives no hints (2025-era).
    pub ttl_ms: Option<u64>,
    /// Some page said `cacheScope: "private"`.
    pub private: bool,
}

impl CacheHints {
    /// Takes in the hints of one page of a 2026-07-28 backend.
    fn page(&mut self, page: &Value) {
        let ttl = page.get("ttlMs").and_then(Value::as_u64).unwrap_or(0);
        self.ttl_ms = Some(self.ttl_ms.map_or(ttl, |t| t.min(ttl)));
        self.private |= page.get("cacheScope").and_then(Value::as_str) == Some("private");
    }
}

impl Discovered {
    /// Whether the backend declared a capability (`tools`, `logging`, ...).
    pub fn has(&self, capability: &str) -> bool {
        self.capabilities
            .get(capability)
            .is_some_and(|c| !c.is_null())
    }

    /// Whether it supports `resources/subscribe`.
    pub fn can_subscribe(&self) -> bool {
        self.capabilities["resources"]["subscribe"] == json!(true)
    }
}

/// Why the handshake or discovery failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A request failed.
    Call {
        /// The method.
        method: &'static str,
        /// Why.
        error: CallError,
    },
    /// The backend answered something we cannot use.
    Protocol(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Call { method, error } => write!(f, "{method}: {error}"),
            Error::Protocol(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Error {}

/// The client capabilities the gateway declares to backends: it relays
/// sampling, elicitation and roots requests to its clients.
fn client_capabilities() -> Value {
    json!({"sampling": {}, "elicitation": {}, "roots": {"listChanged": true}})
}

/// Asks the backend `server/discover` the 2026-07-28 way; `Some` when it
/// answers with 2026-07-28 among its versions: the connection then stays
/// modern (every request stateless). Any error means a 2025-era backend,
/// and so does silence: many 2025-era stdio servers ignore a request
/// before `initialize`, so the miss is a debug line, never a warning.
pub fn probe(conn: &Connection, timeout: Duration) -> Option<Discovered> {
    conn.set_modern(true);
    let params = json!({"_meta": {
        mcp::meta::CLIENT_CAPABILITIES: client_capabilities(),
    }});
    let answer = ask_quietly(conn, method::SERVER_DISCOVER, params, timeout);
    let modern = answer.as_ref().ok().filter(|r| {
        r.get("supportedVersions")
            .and_then(Value::as_array)
            .is_some_and(|v| v.iter().any(|v| v == mcp::MODERN_VERSION))
    });
    let Some(result) = modern else {
        conn.set_modern(false);
        log::debug!(
            "[{}] not a 2026-07-28 server ({}); initializing",
            conn.name(),
            answer
                .err()
                .map(|e| crate::redact::text(&e.to_string()).into_owned())
                .unwrap_or_default()
        );
        return None;
    };
    log::info!(
        "[{}] speaks {}: stateless",
        conn.name(),
        mcp::MODERN_VERSION
    );
    Some(Discovered {
        protocol_version: mcp::MODERN_VERSION.to_owned(),
        capabilities: result
            .get("capabilities")
            .cloned()
            .unwrap_or_else(|| json!({})),
        server_info: result
            .pointer("/_meta/io.modelcontextprotocol~1serverInfo")
            .cloned()
            .unwrap_or(Value::Null),
        ..Discovered::default()
    })
}

/// How much later than its caller the connection's timer would expire a
/// request that [`ask_quietly`] waits for: the caller gives up first.
const QUIET_TIMER_MARGIN: Duration = Duration::from_secs(5);

/// Sends a request for which silence is an expected answer and waits up to
/// `timeout` for it; then cancels it (the backend hears
/// `notifications/cancelled`, as from the timer) and reports the timeout.
/// The connection's timer, which warns of every request it expires, is
/// set later and never sees this one.
fn ask_quietly(
    conn: &Connection,
    method: &str,
    params: Value,
    timeout: Duration,
) -> Result<Value, CallError> {
    let (tx, rx) = channel();
    let id = conn.send_request(
        method,
        Some(params),
        timeout + QUIET_TIMER_MARGIN,
        // Runs on whichever thread settles the request (the reader's, the
        // one that closes the connection, or this one if it is not sent),
        // under no lock.
        Box::new(move |outcome| {
            let _ = tx.send(outcome);
        }),
        None,
    );
    match rx.recv_timeout(timeout) {
        Ok(outcome) => outcome,
        Err(RecvTimeoutError::Timeout) => {
            if let Some(id) = id {
                conn.cancel(id, "no answer in time: taken as a 2025-era server");
            }
            // An answer that came in just before the cancel still counts.
            rx.try_recv().unwrap_or(Err(CallError::Timeout(timeout)))
        }
        // The reply is always called unless cancelled; a dropped one is a miss.
        Err(RecvTimeoutError::Disconnected) => Err(CallError::Timeout(timeout)),
    }
}

/// The `subscriptions/listen` params for a 2026-07-28 backend: the list
/// changes it declared it sends (they travel only on listen streams), or
/// `None` when it declared none.
pub fn listen_params(found: &Discovered) -> Option<Value> {
    let mut wanted = serde_json::Map::new();
    for (capability, key) in [
        ("tools", "toolsListChanged"),
        ("prompts", "promptsListChanged"),
        ("resources", "resourcesListChanged"),
    ] {
        if found.capabilities[capability]["listChanged"] == json!(true) {
            wanted.insert(key.to_owned(), Value::Bool(true));
        }
    }
    (!wanted.is_empty()).then(|| json!({"notifications": wanted}))
}

/// How long a `subscriptions/listen` request over stdio stays open at
/// most: the backend ends it, or the connection does.
const LISTEN_FOR: Duration = Duration::from_secs(365 * 24 * 3600);

/// Opens a `subscriptions/listen` request on a connection whose one stream
/// carries every message (stdio): the backend's list changes then arrive
/// as notifications like a 2025-era backend's.
pub fn listen(conn: &Connection, params: Value) {
    let name = conn.name().to_owned();
    conn.send_request(
        method::SUBSCRIPTIONS_LISTEN,
        Some(params),
        LISTEN_FOR,
        Box::new(move |outcome| match outcome {
            Ok(_) => log::debug!("[{name}] the backend ended our listen stream"),
            Err(e) => log::debug!("[{name}] subscriptions/listen: {e}"),
        }),
        None,
    );
}

/// Runs `initialize` and `notifications/initialized`.
pub fn handshake(conn: &Connection, timeout: Duration) -> Result<Discovered, Error> {
    let params = json!({
        "protocolVersion": mcp::LATEST_VERSION,
        "capabilities": client_capabilities(),
        "clientInfo": {"name": mcp::IMPLEMENTATION_NAME, "version": mcp::VERSION},
    });
    let result = conn
        .request(method::INITIALIZE, Some(params), timeout)
        .map_err(|error| Error::Call {
            method: method::INITIALIZE,
            error,
        })?;
    let version = result
        .get("protocolVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Protocol("initialize result has no protocolVersion".into()))?;
    if !mcp::SUPPORTED_VERSIONS.contains(&version) {
        return Err(Error::Protocol(format!(
            "backend speaks protocol version \"{version}\", which argus-mcp does not support"
        )));
    }
    conn.notify(method::INITIALIZED, None);
    Ok(Discovered {
        protocol_version: version.to_owned(),
        capabilities: result
            .get("capabilities")
            .cloned()
            .unwrap_or_else(|| json!({})),
        server_info: result.get("serverInfo").cloned().unwrap_or(Value::Null),
        ..Discovered::default()
    })
}

/// Fetches every list the backend declared, each (all pages) within `cap_fetch`.
pub fn discover(
    conn: &Connection,
    found: &mut Discovered,
    cap_fetch: Duration,
) -> Result<(), Error> {
    let mut cache = CacheHints::default();
    let hints = conn.is_modern().then_some(&mut cache);
    let result = discover_lists(conn, found, cap_fetch, hints);
    found.cache = cache;
    result
}

fn discover_lists(
    conn: &Connection,
    found: &mut Discovered,
    cap_fetch: Duration,
    mut hints: Option<&mut CacheHints>,
) -> Result<(), Error> {
    if found.has("tools") {
        let tools = list(
            conn,
            method::TOOLS_LIST,
            "tools",
            cap_fetch,
            hints.as_deref_mut(),
        )?;
        found.tools = tools
            .into_iter()
            .filter(|tool| match invalid_mcp_header(tool) {
                None => true,
                Some(why) => {
                    log::warn!(
                        "[{}] tool {} left out: its x-mcp-header {why} (MCP 2026-07-28 clients must refuse it)",
                        conn.name(),
                        tool.get("name").unwrap_or(&Value::Null)
                    );
                    false
                }
            })
            .collect();
    }
    if found.has("resources") {
        found.resources = list(
            conn,
            method::RESOURCES_LIST,
            "resources",
            cap_fetch,
            hints.as_deref_mut(),
        )?;
        found.templates = list(
            conn,
            method::RESOURCE_TEMPLATES_LIST,
            "resourceTemplates",
            cap_fetch,
            hints.as_deref_mut(),
        )
        .or_else(|e| match e {
            // Templates are optional even with the resources capability.
            Error::Call {
                error: CallError::Rpc(ref rpc),
                ..
            } if rpc.code == code::METHOD_NOT_FOUND => Ok(Vec::new()),
            other => Err(other),
        })?;
    }
    if found.has("prompts") {
        found.prompts = list(conn, method::PROMPTS_LIST, "prompts", cap_fetch, hints)?;
    }
    Ok(())
}

/// Why a tool's `x-mcp-header` annotations are invalid, if they are
/// (2026-07-28 `server/tools`): each must be a non-empty HTTP token, unique
/// (case-insensitively) within the schema, on a `string`, `integer` or
/// `boolean` property.
fn invalid_mcp_header(tool: &Value) -> Option<String> {
    let properties = tool
        .pointer("/inputSchema/properties")
        .and_then(Value::as_object)?;
    let mut seen: Vec<String> = Vec::new();
    for (name, schema) in properties {
        let Some(header) = schema.get("x-mcp-header") else {
            continue;
        };
        let Some(header) = header.as_str() else {
            return Some(format!("on \"{name}\" is not a string"));
        };
        if header.is_empty() || !header.bytes().all(crate::http::is_token_byte) {
            return Some(format!("\"{header}\" on \"{name}\" is not an HTTP token"));
        }
        let kind = schema.get("type").and_then(Value::as_str);
        if !matches!(kind, Some("string" | "integer" | "boolean")) {
            return Some(format!(
                "\"{header}\" is on \"{name}\", which is not a string, integer or boolean"
            ));
        }
        let lower = header.to_ascii_lowercase();
        if seen.contains(&lower) {
            return Some(format!("\"{header}\" is used twice"));
        }
        seen.push(lower);
    }
    None
}

/// One list, following `nextCursor` to the end within `budget`; each
/// page's caching hints go into `hints` when given.
pub fn list(
    conn: &Connection,
    method: &'static str,
    key: &str,
    budget: Duration,
    mut hints: Option<&mut CacheHints>,
) -> Result<Vec<Value>, Error> {
    let deadline = Instant::now() + budget;
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_LIST_PAGES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Call {
                method,
                error: CallError::Timeout(budget),
            });
        }
        let params = cursor.as_ref().map(|c| json!({"cursor": c}));
        let page = conn
            .request(method, params, left)
            .map_err(|error| Error::Call {
                method,
                error: budget_error(error, budget),
            })?;
        if let Some(h) = hints.as_deref_mut() {
            h.page(&page);
        }
        match page.get(key) {
            Some(Value::Array(list)) => items.extend(list.iter().cloned()),
            _ => {
                return Err(Error::Protocol(format!(
                    "{method} result has no \"{key}\" list"
                )));
            }
        }
        match page.get("nextCursor") {
            Some(Value::String(next)) if Some(next) == cursor.as_ref() => {
                return Err(Error::Protocol(format!(
                    "{method} returned the same cursor twice"
                )));
            }
            Some(Value::String(next)) => cursor = Some(next.clone()),
            _ => return Ok(items),
        }
    }
    Err(Error::Protocol(format!(
        "{method} has more than {MAX_LIST_PAGES} pages"
    )))
}

/// A page that timed out is reported with the whole budget, not what was left.
fn budget_error(error: CallError, budget: Duration) -> CallError {
    match error {
        CallError::Timeout(_) => CallError::Timeout(budget),
        other => other,
    }
}
