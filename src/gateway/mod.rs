//! The gateway's HTTP surface: routes, guards, client sessions.
//!
//! [`Gateway`] implements `http::Handler`: it maps each path to its
//! transport, applies the Origin/Host and bearer guards to the MCP
//! endpoints, and owns the table of open client sessions. MCP semantics live
//! in `router`; HTTP mechanics in `http`. Never redirects between slash
//! forms; an unknown path is 404, a wrong method 405 with `Allow`.

mod authenticate;
mod bridge;
mod cors;
mod decode;
mod health;
mod list_changes;
mod listen;
mod manage;
mod modern;
mod rate;
mod refusals;
mod reload;
mod remote_keys;
mod scrape;
mod security;
mod sse;
mod stdio;
mod streamable;
mod streams;
mod trace_header;
mod well_known;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use log::{debug, info};
use serde_json::Value;

use crate::backend::{BackendRequest, Connection, Origin};
use crate::config::IncomingAuth;
use crate::config::{self, Config};
use crate::http::{Handler, Request, Response, ShutdownHandle, Traffic};
use crate::identity::Identity;
use crate::jsonrpc::{Message, RequestId, code};
use crate::mcp;
use crate::router::Router;
use crate::runtime::Runtime;
use crate::session::{Session, SlowHook};
use crate::supervisor::{Listener, Supervisor, Views};
use list_changes::ListChanges;
use streams::StreamableStreams;

/// Open client sessions by id, each with its Streamable HTTP streams if
/// it has them.
#[derive(Debug, Default)]
pub(crate) struct Sessions(Mutex<HashMap<String, OpenSession>>);

/// One open session in the table.
#[derive(Debug)]
struct OpenSession {
    session: Arc<Session>,
    /// Streamable HTTP sessions only.
    streams: Option<Arc<StreamableStreams>>,
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, OpenSession>> {
        // Inserts and removes are single calls: the map survives a poisoning panic.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a session (with its streams, for Streamable HTTP) unless `max`
    /// are open already (`server.max_sessions`).
    fn admit(
        &self,
        session: Arc<Session>,
        streams: Option<Arc<StreamableStreams>>,
        max: usize,
    ) -> bool {
        let mut table = self.lock();
        if table.len() >= max {
            return false;
        }
        table.insert(session.id.clone(), OpenSession { session, streams });
        true
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    /// Every open session.
    fn all(&self) -> Vec<Arc<Session>> {
        self.lock().values().map(|o| o.session.clone()).collect()
    }

    /// An open session by id (closed ones are not found).
    fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.with_streams(id).map(|(s, _)| s)
    }

    /// An open session by id, with its streams (closed ones are not found).
    fn with_streams(&self, id: &str) -> Option<(Arc<Session>, Option<Arc<StreamableStreams>>)> {
        self.lock()
            .get(id)
            .filter(|o| !o.session.is_closed())
            .map(|o| (o.session.clone(), o.streams.clone()))
    }

    fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Tells each ready session of the changes to its own lists (one of
    /// `session::LIST_CHANGED` each).
    fn catalog_changed(&self, changes: &mut ListChanges<'_>) {
        let sessions = self.all();
        // Only sessions past `notifications/initialized`: before it a server
        // should send nothing but pings and logs (MCP lifecycle). A change
        // already queued for a session and not yet written is not queued
        // again: bursts coalesce.
        for session in sessions.iter().filter(|s| s.state().client_ready) {
            let identity = session.identity.as_deref();
            for method in changes.for_caller(session.group.as_deref(), identity) {
                session.send_list_changed(method);
            }
        }
    }

    /// Relays backend notifications that have an audience: resource
    /// updates to the sessions subscribed to that URI of that backend, log
    /// messages to the sessions that asked for that level, named by
    /// backend; in both cases only to sessions whose virtual server
    /// (`router` knows the views) has that backend's resource, or that
    /// backend.
    fn notification(&self, router: &Router, backend: &str, method: &str, params: Option<Value>) {
        let sessions = self.all();
        let ready = sessions.iter().filter(|s| s.state().client_ready);
        match method {
            mcp::method::RESOURCES_UPDATED => {
                let Some(uri) = params
                    .as_ref()
                    .and_then(|p| p.get("uri"))
                    .and_then(Value::as_str)
                else {
                    return;
                };
                let subscribed = |s: &Session| {
                    // The session's lock is let go before the views are read.
                    let held =
                        s.state().subscriptions.get(uri).map(String::as_str) == Some(backend);
                    let caller = s.identity.as_deref();
                    held && router
                        .resource_backend(s.group.as_deref(), caller, uri)
                        .as_deref()
                        == Some(backend)
                };
                for session in ready.filter(|s| subscribed(s)) {
                    session.send(Message::Notification {
                        method: method.to_owned(),
                        params: params.clone(),
                    });
                }
            }
            mcp::method::MESSAGE => {
                // Only an object can carry a level and take our `logger`
                // (an array here once killed the supervisor thread).
                let Some(Value::Object(mut params)) = params else {
                    debug!("[{backend}] {method} without object params dropped");
                    return;
                };
                let level = params
                    .get("level")
                    .and_then(Value::as_str)
                    .and_then(mcp::log_rank)
                    .unwrap_or(0);
                params.insert("logger".into(), Value::from(backend));
                let params = Value::Object(params);
                // The whole gateway's sessions, and its own group's.
                let group = router.group_of(backend);
                // Under policies, only callers allowed some item of it.
                let sees = |s: &Session| {
                    (s.group.is_none() || s.group == group)
                        && router.may_hear(s.group.as_deref(), s.identity.as_deref(), backend)
                };
                for session in ready.filter(|s| sees(s)) {
                    let wanted = session.state().log_level.as_deref().and_then(mcp::log_rank);
                    if wanted.is_some_and(|w| level >= w) {
                        session.send(Message::Notification {
                            method: method.to_owned(),
                            params: Some(params.clone()),
                        });
                    }
                }
            }
            _ => debug!("[{backend}] notification {method} not relayed"),
        }
    }
}

/// What the supervisor tells the gateway: catalog changes and backend
/// notifications go to the sessions, backend requests through the router.
#[derive(Debug)]
struct Relay {
    sessions: Arc<Sessions>,
    listens: Arc<listen::Listens>,
    router: Arc<Router>,
}

impl Listener for Relay {
    fn catalog_changed(&self, previous: &Views, fresh: &Views) {
        let mut changes = ListChanges::new(previous, fresh);
        self.sessions.catalog_changed(&mut changes);
        self.listens.catalog_changed(&mut changes);
    }

    fn backend_ready(&self, index: usize, conn: &Arc<Connection>) {
        self.router.backend_ready(index, conn);
    }

    fn notification(&self, backend: &str, method: &str, params: Option<Value>) {
        if method == mcp::method::RESOURCES_UPDATED {
            let exposes = |view: Option<&str>, caller: Option<&Identity>, uri: &str| {
                self.router.resource_backend(view, caller, uri).as_deref() == Some(backend)
            };
            self.listens
                .resource_updated(backend, params.as_ref(), exposes);
        }
        self.sessions
            .notification(&self.router, backend, method, params);
    }

    fn request(
        &self,
        backend: &str,
        conn: &Arc<Connection>,
        id: RequestId,
        method: &str,
        params: Option<Value>,
        origin: Option<Origin>,
    ) {
        let request = BackendRequest {
            id,
            method: method.to_owned(),
            params,
            origin,
        };
        self.router.server_request(backend, conn, request);
    }
}

/// Who may use a session: the identity whose credentials opened it and
/// the virtual server (whole gateway or group) it was opened on. A request
/// reaches a session only with both the same.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Access<'a> {
    /// The caller, if auth is on.
    pub identity: Option<&'a Arc<Identity>>,
    /// The group of a `/g/<group>/...` path.
    pub group: Option<&'a str>,
}

impl Access<'_> {
    /// Whether a request with this access may use `session`.
    fn owns(&self, session: &Session) -> bool {
        session.identity.as_ref().map(|i| i.name.as_str()) == self.identity_name()
            && session.group.as_deref() == self.group
    }

    /// The caller's name, if auth is on.
    fn identity_name(&self) -> Option<&str> {
        self.identity.map(|i| i.name.as_str())
    }
}

/// Reads the config file again, with the command line's overrides (reload).
pub type ConfigLoader = Box<dyn Fn() -> Result<Config, config::Error> + Send + Sync>;

/// What the management API needs from the process around the gateway.
pub struct Control {
    /// Stops the HTTP server (`POST /manage/v1/shutdown`).
    pub shutdown: ShutdownHandle,
    /// Re-reads the config (`POST /manage/v1/reload`, SIGHUP); `None` when
    /// the gateway started without a file.
    pub loader: Option<ConfigLoader>,
    /// The HTTP server's byte counters.
    pub traffic: Arc<Traffic>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("reloadable", &self.loader.is_some())
            .finish()
    }
}

/// The gateway: configuration, router and sessions behind one HTTP handler.
#[derive(Debug)]
pub struct Gateway {
    /// The config in force, counters, events and the audit log.
    runtime: Arc<Runtime>,
    supervisor: Arc<Supervisor>,
    router: Arc<Router>,
    sessions: Arc<Sessions>,
    /// 2026-07-28 `subscriptions/listen` streams.
    listens: Arc<listen::Listens>,
    started: Instant,
    started_at: SystemTime,
    /// When the config in force was loaded.
    loaded_at: Mutex<SystemTime>,
    local: SocketAddr,
    loopback_bind: bool,
    /// `rate_limits`, when enabled.
    rate: Option<rate::RateLimiter>,
    /// The budget of log lines for refused clients.
    refusals: refusals::RefusalLog,
    /// The JWT issuer's keys, when the gateway fetches them.
    remote_keys: remote_keys::RemoteKeys,
    /// Set by `close_sessions`; ends the idle-expiry loop.
    stopped: Mutex<bool>,
    stop_wake: Condvar,
    /// `POST /manage/v1/shutdown` was accepted: not ready any more.
    shutting_down: AtomicBool,
    control: OnceLock<Control>,
    /// Calls of 2026-07-28 clients waiting for their retry (`None` if no
    /// key could be made: such calls are answered with an error).
    bridge: Option<Arc<bridge::Bridge>>,
}

impl Gateway {
    /// A gateway for the backends of `supervisor`, with the services of
    /// `runtime`, serving on `local`.
    pub fn new(runtime: Arc<Runtime>, supervisor: Arc<Supervisor>, local: SocketAddr) -> Gateway {
        let config = runtime.config();
        if matches!(config.incoming_auth, IncomingAuth::Jwt(_))
            && config.server.public_url.is_none()
            && !local.ip().is_loopback()
        {
            // Then a client's Host header names the resource that tokens
            // must be for: a token for another server at that name passes.
            log::warn!(
                "JWT auth on {local} without server.public_url: tokens are checked against \
                 the Host each client sends; set public_url to the URL clients use"
            );
        }
        let sessions = Arc::new(Sessions::default());
        let router = Arc::new(Router::new(runtime.clone(), supervisor.clone()));
        let listens = Arc::new(listen::Listens::default());
        supervisor.set_listener(Arc::new(Relay {
            sessions: sessions.clone(),
            listens: listens.clone(),
            router: router.clone(),
        }));
        let rate = config.rate_limits.enabled.then(|| {
            rate::RateLimiter::new(config.rate_limits.requests, config.rate_limits.window)
        });
        Gateway {
            rate,
            refusals: refusals::RefusalLog::new(Instant::now()),
            remote_keys: remote_keys::RemoteKeys::default(),
            router,
            runtime,
            supervisor,
            sessions,
            listens,
            started: Instant::now(),
            started_at: SystemTime::now(),
            loaded_at: Mutex::new(SystemTime::now()),
            local,
            loopback_bind: local.ip().is_loopback(),
            stopped: Mutex::new(false),
            stop_wake: Condvar::new(),
            shutting_down: AtomicBool::new(false),
            control: OnceLock::new(),
            bridge: match bridge::Bridge::new() {
                Ok(b) => Some(Arc::new(b)),
                Err(e) => {
                    log::error!("cannot make the key that seals request state: {e}");
                    None
                }
            },
        }
    }

    /// Hands the gateway what the management API controls: the server's
    /// shutdown, the config loader, the byte counters. Set once, before
    /// serving.
    pub fn set_control(&self, control: Control) {
        let _ = self.control.set(control);
    }

    /// The config in force (it changes with a reload).
    fn config(&self) -> Arc<Config> {
        self.runtime.config()
    }

    /// Re-reads the config file and applies it (SIGHUP). Runs on the
    /// calling thread; logs the outcome.
    pub fn reload(&self, trigger: &str) {
        let _ = reload::reload(self, trigger);
    }

    /// The first half of a requested shutdown: not ready any more, and
    /// every session ends. The caller then stops the HTTP server.
    fn shut_down_sessions(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.close_sessions();
    }

    /// Ends every client session (their streams close). Part of shutdown.
    pub fn close_sessions(&self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.stop_wake.notify_all();
        // `events/stream` and `subscriptions/listen` connections end too.
        self.runtime.events().close();
        self.listens.close();
        let sessions = self.sessions.all();
        if !sessions.is_empty() {
            info!("closing {} client session(s)", sessions.len());
        }
        for session in sessions {
            session.close();
        }
    }

    /// Ends a session: it leaves the table, its streams close, and its
    /// requests in flight are cancelled at the backends.
    fn end_session(&self, session: &Session) {
        self.sessions.remove(&session.id);
        session.close();
        self.router.session_closed(session);
        info!("session {} ended", session.short_id());
    }

    /// How long a Streamable HTTP POST waits for its answer at most: the
    /// longest backend `call` timeout (whose expiry answers it) plus a margin.
    fn answer_wait(&self) -> Duration {
        let longest = self
            .config()
            .backends
            .iter()
            .map(|b| b.timeouts.call)
            .max()
            .unwrap_or_default();
        longest + Duration::from_secs(30)
    }

    /// Ends Streamable HTTP sessions idle for `server.session_idle_timeout`;
    /// runs until `close_sessions`. Wakes at most every 30 s.
    pub fn expire_idle_sessions(&self) {
        let mut stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        while !*stopped {
            // Read each round: a reload may change it.
            let limit = self.config().server.session_idle_timeout;
            let every = (limit / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
            let idle: Vec<Arc<Session>> = self
                .sessions
                .all()
                .into_iter()
                .filter(|s| {
                    s.transport == crate::config::Transport::StreamableHttp && s.idle() >= limit
                })
                .collect();
            for session in idle {
                info!(
                    "session {} idle for {:.0}s: ending it",
                    session.short_id(),
                    limit.as_secs_f64()
                );
                self.end_session(&session);
            }
            stopped = self
                .stop_wake
                .wait_timeout(stopped, every)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Serves one client over `input`/`output` (`argus-mcp stdio`) until
    /// `input` ends; the session then ends like any other.
    pub fn serve_stdio(
        &self,
        input: impl std::io::Read,
        output: impl std::io::Write + Send + 'static,
    ) -> std::io::Result<()> {
        stdio::serve(self, input, output)
    }

    /// A new session id: 32 random hex digits, the first ones replaced by
    /// `server.instance` when set (a load balancer pins sessions by it).
    fn new_session_id(&self) -> std::io::Result<String> {
        let mut id = crate::random::hex_id(16)?;
        if let Some(prefix) = &self.config().server.instance {
            id.replace_range(..prefix.len(), prefix);
        }
        Ok(id)
    }

    /// How many client sessions are open.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Whether another session may open (`server.max_sessions`).
    fn session_room(&self) -> bool {
        self.sessions.len() < self.config().server.max_sessions
    }

    /// Adds a session to the table, or says why not (a 503).
    fn admit(
        &self,
        session: &Arc<Session>,
        streams: Option<Arc<StreamableStreams>>,
    ) -> Result<(), SessionsFull> {
        let max = self.config().server.max_sessions;
        if self.sessions.admit(session.clone(), streams, max) {
            return Ok(());
        }
        log::warn!(
            "session refused from {}: {max} sessions open (server.max_sessions)",
            session.peer
        );
        Err(SessionsFull { max })
    }

    fn mcp_guard(
        &self,
        req: &Request,
        group: Option<&str>,
    ) -> Result<Option<Arc<Identity>>, Response> {
        if let Some(rate) = &self.rate
            && let Err(wait) = rate.check(req.peer.ip(), Instant::now())
        {
            crate::metrics::Metrics::inc(&self.runtime.metrics().rate_limited);
            return Err(too_many_requests(req, wait));
        }
        let config = self.config();
        if let Some(refusal) =
            security::check_origin_and_host(req, &config.security, self.loopback_bind)
        {
            return Err(refusal);
        }
        authenticate::authenticate(req, &config, group, &self.remote_keys).map_err(|why| {
            self.auth_failed(req, "mcp");
            if let Some(held_back) = self.refusals.admit(Instant::now()) {
                let what = format!("{} {}", req.method(), req.path());
                let peer = req.peer.to_string();
                log::warn!(
                    "{}",
                    refusals::line(&what, &peer, &why.message(), held_back)
                );
            }
            why.response()
        })
    }

    /// What a new session calls when its client stops reading: a metric
    /// and an event.
    fn slow_hook(&self) -> SlowHook {
        let runtime = self.runtime.clone();
        SlowHook(Arc::new(move |session: &Session| {
            crate::metrics::Metrics::inc(&runtime.metrics().slow_clients_dropped);
            runtime.events().record(
                "session_dropped",
                crate::ops_events::Severity::Warning,
                None,
                format!(
                    "session {} ({}) dropped: its client stopped reading",
                    session.label(),
                    session.peer
                ),
                None,
            );
        }))
    }

    /// Records a refused bearer token: metric, event, audit line.
    fn auth_failed(&self, req: &Request, surface: &str) {
        crate::metrics::Metrics::inc(&self.runtime.metrics().auth_failures);
        self.runtime.events().record(
            "auth_failure",
            crate::ops_events::Severity::Warning,
            None,
            format!(
                "{surface}: {} {} from {}: bad or missing bearer token",
                req.method(),
                req.path(),
                req.peer
            ),
            None,
        );
        if let Some(log) = self.runtime.audit() {
            let mut fields = serde_json::Map::new();
            fields.insert("peer".into(), Value::from(req.peer.to_string()));
            fields.insert("path".into(), Value::from(req.path()));
            fields.insert("method".into(), Value::from(req.method()));
            let _ = log.record("auth_failure", fields);
        }
    }
}

/// 429 for a client over `rate_limits`, with `Retry-After` in whole
/// seconds; a JSON-RPC error body on `/mcp`, text elsewhere.
fn too_many_requests(req: &Request, wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let message = format!("Too Many Requests: over rate_limits; retry in {seconds}s");
    let response = if req.path().starts_with("/mcp") {
        Response::json_text(
            429,
            Message::error(None, code::SERVER_ERROR, message).to_json_text(),
        )
    } else {
        Response::text(429, format!("{message}\n"))
    };
    response.with_header("Retry-After", seconds.max(1).to_string())
}

/// Why a session cannot open: the table is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SessionsFull {
    /// `server.max_sessions`.
    max: usize,
}

impl std::fmt::Display for SessionsFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "too many sessions: the gateway holds at most {} (server.max_sessions)",
            self.max
        )
    }
}

impl std::error::Error for SessionsFull {}

fn method_not_allowed(allow: &str) -> Response {
    Response::text(405, "method not allowed\n").with_header("Allow", allow)
}

impl Handler for Gateway {
    fn handle(&self, req: Request) -> Response {
        let path = req.path().to_owned();
        if well_known::is_well_known(&path) {
            let config = self.config();
            let base = authenticate::base_url(&req, &config);
            return well_known::answer(&path, &config, &base);
        }
        if let Some(rest) = path.strip_prefix("/g/") {
            let (group, endpoint) = rest.split_once('/').unwrap_or((rest, ""));
            let known = self.config().backends.iter().any(|b| b.group == group);
            if !known {
                return Response::text(404, format!("unknown group \"{group}\"\n"));
            }
            return self.mcp_endpoint(&req, &format!("/{endpoint}"), Some(group));
        }
        if path == "/manage/v1" || path.starts_with("/manage/v1/") || path == "/metrics" {
            return manage::handle(self, &req);
        }
        match path.as_str() {
            "/health" => match req.method() {
                "GET" | "HEAD" => health::health(self),
                _ => method_not_allowed("GET, HEAD"),
            },
            "/ready" => match req.method() {
                "GET" | "HEAD" => health::ready(self),
                _ => method_not_allowed("GET, HEAD"),
            },
            endpoint => self.mcp_endpoint(&req, endpoint, None),
        }
    }
}

impl Gateway {
    /// The MCP endpoints of the whole gateway (`group` `None`) or of one
    /// group's virtual server; the same guards for both.
    fn mcp_endpoint(&self, req: &Request, endpoint: &str, group: Option<&str>) -> Response {
        let known = matches!(
            endpoint,
            "/sse" | "/messages" | "/messages/" | "/mcp" | "/mcp/"
        );
        if !known {
            return Response::text(404, "not found\n");
        }
        let security = self.config().security.clone();
        if req.method() == "OPTIONS" {
            return cors::preflight(req, &security);
        }
        let response = self.mcp_route(req, endpoint, group);
        cors::expose(req, &security, response)
    }

    fn mcp_route(&self, req: &Request, endpoint: &str, group: Option<&str>) -> Response {
        let method = req.method();
        let guarded = |serve: &dyn Fn(Access<'_>) -> Response| match self.mcp_guard(req, group) {
            Ok(identity) => serve(Access {
                identity: identity.as_ref(),
                group,
            }),
            Err(refusal) => refusal,
        };
        match endpoint {
            "/sse" => match method {
                "GET" | "HEAD" => guarded(&|access| sse::open(self, req, access)),
                _ => method_not_allowed("GET, HEAD, OPTIONS"),
            },
            "/messages" | "/messages/" => match method {
                "POST" => guarded(&|access| sse::post(self, req, access)),
                _ => method_not_allowed("POST, OPTIONS"),
            },
            "/mcp" | "/mcp/" => match method {
                "GET" | "HEAD" | "POST" | "DELETE" => {
                    guarded(&|access| streamable::handle(self, req, access))
                }
                _ => method_not_allowed("GET, POST, DELETE, OPTIONS"),
            },
            _ => Response::text(404, "not found\n"),
        }
    }
}
