//! Answers client messages: the MCP handshake, the merged lists, and the
//! routing of every other request to the backend that owns it (PRODUCT §6).
//!
//! The gateway answers `initialize` and `ping` itself. Lists come from the
//! current catalog snapshot. Calls are forwarded with the original name and a
//! fresh backend-side id; the reply comes back asynchronously through a
//! closure that restores the client's id and queues the answer on the
//! session, so no thread waits for a backend. This module is the one place
//! where backend failures become wire errors ([`failure`]): for `tools/call`
//! a result with `isError: true`, otherwise -32603, each naming the backend
//! and the cause; a backend's own JSON-RPC error passes through unchanged.
//! The other direction too: a backend's request for a client (sampling,
//! elicitation, roots) goes to the session whose call it serves (the backend
//! connection traces it, see `Connection::origin_of`), and the client's
//! answer back to the backend ([`Router::server_request`]). Interest shared
//! by sessions (subscriptions, log levels) is counted in `interest`.

mod audited;
mod interest;
mod rounds;
mod stateless;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use log::debug;
use serde_json::{Value, json};

use crate::backend::{CallError, Connection, Origin, Outgoing};
use crate::catalog::{Catalog, Kind, Route};
use crate::config::Transport;
use crate::jsonrpc::{ErrorObject, Message, RequestId, code};
use crate::limits::{MAX_CLIENT_INFO_BYTES, MAX_SUBSCRIPTIONS_PER_SESSION};
use crate::mcp::{self, method};
use crate::metrics;
use crate::session::{Asker, InputRequest, JsonText, Session};
use crate::runtime::Runtime;
use crate::supervisor::Supervisor;
use interest::{Levels, Subscribers};

/// How long a request of the gateway's own (`logging/setLevel`,
/// `resources/unsubscribe` on a session's end) may stay pending.
const OWN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an MCP request waits for the first start-up pass at most.
const FIRST_PASS_WAIT: Duration = Duration::from_secs(300);

/// Dispatches client messages, and relays backends' requests to clients.
#[derive(Debug)]
pub struct Router {
    supervisor: Arc<Supervisor>,
    /// The config in force, counters and the audit log.
    runtime: Arc<Runtime>,
    /// Numbers the ids of relayed backend requests.
    next_relay: AtomicU64,
    /// Sessions subscribed per resource URI.
    subscribers: Subscribers,
    /// Sessions per log level.
    levels: Levels,
}

/// Who asked for a forwarded request: the backend connection keeps it with
/// the request (an [`Origin`]), and hands it back with any request the
/// backend sends while serving it.
///
/// Where its answer goes can change: a 2026-07-28 client answers a
/// backend's question by retrying with a new request (and a new session of
/// its own), and the call then belongs to that one ([`Router::attach`]).
#[derive(Debug)]
struct Caller {
    target: Mutex<Target>,
    /// The backend connection and its id of the call.
    conn: Weak<Connection>,
    backend_id: u64,
}

/// The session and request a forwarded call answers.
#[derive(Debug, Clone)]
struct Target {
    session: Weak<Session>,
    /// The client's id of the request.
    id: RequestId,
}

impl Caller {
    fn target(&self) -> Target {
        self.target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// What to do with a request.
enum Outcome {
    /// Answer now.
    Reply(Result<Value, ErrorObject>),
    /// Forwarded; the answer comes later.
    Forwarded,
}

impl Router {
    /// A router over the backends of `supervisor`, recording in `runtime`.
    pub fn new(runtime: Arc<Runtime>, supervisor: Arc<Supervisor>) -> Router {
        Router {
            supervisor,
            runtime,
            next_relay: AtomicU64::new(1),
            subscribers: Subscribers::default(),
            levels: Levels::default(),
        }
    }

    /// Relays a backend's request (`sampling/createMessage`,
    /// `elicitation/create`, `roots/list`) to the client whose request it
    /// serves (`origin`, found by the connection's rule), under an id of
    /// ours, on the stream of that request, if the client declared the
    /// capability; otherwise answers the backend -32601 (PRODUCT §6.8).
    /// Runs on the backend's supervisor thread, under no lock.
    pub fn server_request(
        &self,
        backend: &str,
        conn: &Arc<Connection>,
        id: RequestId,
        method: &str,
        params: Option<Value>,
        origin: Option<Origin>,
    ) {
        let refuse = |why: String| {
            debug!("[{backend}] {method} refused: {why}");
            conn.respond(&Message::error(
                Some(id.clone()),
                code::METHOD_NOT_FOUND,
                why,
            ));
        };
        let capability = match method {
            "sampling/createMessage" => "sampling",
            "elicitation/create" => "elicitation",
            "roots/list" => "roots",
            other => return refuse(format!("{other} is not relayed by the gateway")),
        };
        let call = origin.and_then(|o| o.downcast::<Caller>().ok());
        let caller = call.as_ref().and_then(|c| {
            let t = c.target();
            t.session.upgrade().map(|s| (s, t.id))
        });
        let Some((session, related)) = caller.filter(|(s, _)| !s.is_closed()) else {
            return refuse("no client session to ask".into());
        };
        if session.state().protocol_version == Some(mcp::MODERN_VERSION) {
            // 2026-07-28 has no server→client requests on a stream: the
            // front turns this into an input-required result (the bridge).
            let key = match &id {
                RequestId::String(s) => s.clone(),
                RequestId::Number(n) => n.to_string(),
            };
            let input = InputRequest {
                key,
                method: method.to_owned(),
                params,
                capability,
                conn: Arc::downgrade(conn),
                their_id: id.clone(),
                call: call.map(|c| c as Origin).expect("a caller was found"),
            };
            if !session.send_input(&related, input) {
                refuse("the client's request is no longer waiting".into());
            }
            return;
        }
        if session
            .state()
            .client_capabilities
            .value()
            .get(capability)
            .is_none_or(Value::is_null)
        {
            return refuse(format!(
                "the client did not declare the \"{capability}\" capability"
            ));
        }
        let ours = RequestId::String(format!(
            "argus-{}",
            self.next_relay.fetch_add(1, Ordering::Relaxed)
        ));
        session.track_server_request(ours.clone(), Asker::Backend(Arc::downgrade(conn), id));
        session.send_for(
            &related,
            &Message::Request {
                id: ours,
                method: method.to_owned(),
                params,
            },
        );
    }

    /// Handles one message from `session`; any reply is queued on it.
    pub fn handle(&self, session: &Arc<Session>, message: Message) {
        match message {
            Message::Request { id, .. } if session.is_in_flight(&id) => {
                refuse_duplicate(session, id)
            }
            Message::Request { id, method, params } => {
                let answered = |outcome| {
                    self.runtime.metrics().request(
                        session.transport.as_str(),
                        &method,
                        None,
                        outcome,
                        None,
                    )
                };
                match self.request(session, &id, &method, params) {
                    Outcome::Reply(Ok(result)) => {
                        answered(metrics::Outcome::Ok);
                        session.send(&Message::response(id, result));
                    }
                    Outcome::Reply(Err(error)) => {
                        answered(metrics::Outcome::Error);
                        session.send(&Message::Error {
                            id: Some(id),
                            error,
                        });
                    }
                    Outcome::Forwarded => {}
                }
            }
            Message::Notification { method, params } => {
                self.notification(session, &method, params.as_ref())
            }
            Message::Response { id, result } => answered(session, Some(&id), Ok(result)),
            Message::Error { id, error } => answered(session, id.as_ref(), Err(error)),
        }
    }

    /// A 2026-07-28 retry takes over the call that `call` (an
    /// [`InputRequest::call`]) names: its answer, progress and further
    /// backend questions go to request `id` of `session`, and closing that
    /// session cancels it. `false` when the backend connection is gone.
    pub fn attach(&self, call: &Origin, session: &Arc<Session>, id: &RequestId) -> bool {
        let Some(caller) = call.downcast_ref::<Caller>() else {
            return false;
        };
        let Some(conn) = caller.conn.upgrade() else {
            return false;
        };
        *caller.target.lock().unwrap_or_else(|e| e.into_inner()) = Target {
            session: Arc::downgrade(session),
            id: id.clone(),
        };
        session.track(id.clone(), &conn, caller.backend_id)
    }

    /// Backend `index` came back after a restart: it hears the log level
    /// and the subscriptions that sessions able to see it set before it
    /// went down. Runs on its supervisor thread.
    pub fn backend_ready(&self, index: usize, conn: &Connection) {
        let catalog = self.supervisor.catalog();
        if let Some(level) = self.levels.applied(conn.name())
            && catalog.features.logging.contains(&index)
        {
            send_own(conn, method::LOGGING_SET_LEVEL, json!({"level": level}));
        }
        for uri in self.subscribers.uris_of(conn.name()) {
            send_own(conn, method::RESOURCES_SUBSCRIBE, json!({"uri": uri}));
        }
    }

    /// The backend that serves resource `uri` in `view` (`None`: the whole
    /// gateway, `Some(group)`: that group's virtual server), if any.
    pub fn resource_backend(&self, view: Option<&str>, uri: &str) -> Option<String> {
        let views = self.supervisor.views();
        let route = views.get(view)?.resource_route(uri)?;
        Some(route.backend_name.clone())
    }

    /// The group of backend `backend`, as the config in force has it.
    pub fn group_of(&self, backend: &str) -> Option<String> {
        self.runtime
            .config()
            .backends
            .iter()
            .find(|b| b.name == backend)
            .map(|b| b.group.clone())
    }

    /// A 2026-07-28 listen stream's interest in resource `uri` of
    /// `backend`; the backend hears only the first subscribe of all
    /// sessions and streams. Runs on the thread that opened the stream,
    /// under no lock.
    pub fn listen_to(&self, backend: &str, uri: &str) {
        if self.subscribers.add(backend, uri) {
            self.tell_backend(backend, method::RESOURCES_SUBSCRIBE, uri);
        }
    }

    /// The end of a listen stream's interest in `uri` of `backend`; the
    /// backend hears the last unsubscribe. Runs on the stream's writer
    /// thread, under no lock.
    pub fn stop_listening_to(&self, backend: &str, uri: &str) {
        if self.subscribers.remove(backend, uri) {
            self.tell_backend(backend, method::RESOURCES_UNSUBSCRIBE, uri);
        }
    }

    /// Cancels everything a closing session still has in flight, and
    /// releases its subscriptions and log level.
    pub fn session_closed(&self, session: &Session) {
        if let Some(log) = self.runtime.audit() {
            for f in session.in_flight_calls() {
                if let Some(conn) = f.conn.upgrade() {
                    audited::cancelled(&log, session, conn.name(), "the session ended");
                }
            }
        }
        let (subscriptions, level, log_backends) = {
            let mut state = session.state();
            (
                std::mem::take(&mut state.subscriptions),
                state.log_level.take(),
                std::mem::take(&mut state.log_backends),
            )
        };
        for (uri, backend) in subscriptions {
            self.stop_listening_to(&backend, &uri);
        }
        self.count_level(level.as_deref(), &log_backends, None, &[]);
        for f in session.take_in_flight() {
            if let Some(conn) = f.conn.upgrade() {
                conn.cancel(f.backend_id, "client session closed");
            }
        }
        for asker in session.take_server_requests() {
            let closed = ErrorObject {
                code: code::INTERNAL_ERROR,
                message: "the client session closed".into(),
                data: None,
            };
            match asker {
                Asker::Backend(conn, theirs) => {
                    if let Some(conn) = conn.upgrade() {
                        conn.respond(&Message::Error {
                            id: Some(theirs),
                            error: closed,
                        });
                    }
                }
                Asker::Gateway(hears) => hears(Err(closed)),
            }
        }
    }

    fn catalog(&self) -> Arc<Catalog> {
        self.supervisor.wait_first_pass(FIRST_PASS_WAIT);
        self.supervisor.catalog()
    }

    /// The catalog `session` sees (its group's, or the whole one).
    pub fn catalog_for(&self, session: &Session) -> Arc<Catalog> {
        self.catalog_of(session)
    }

    /// The catalog `session` sees: its group's, or the whole one. A group
    /// that a reload removed has an empty catalog.
    fn catalog_of(&self, session: &Session) -> Arc<Catalog> {
        self.supervisor.wait_first_pass(FIRST_PASS_WAIT);
        let views = self.supervisor.views();
        views
            .get(session.group.as_deref())
            .cloned()
            .unwrap_or_default()
    }

    fn request(
        &self,
        session: &Arc<Session>,
        id: &RequestId,
        name: &str,
        params: Option<Value>,
    ) -> Outcome {
        if name == method::PING {
            return Outcome::Reply(Ok(json!({})));
        }
        if name == method::INITIALIZE {
            return Outcome::Reply(self.initialize(session, params.as_ref()));
        }
        if !session.state().initialized {
            return Outcome::Reply(Err(ErrorObject::new(
                code::INVALID_REQUEST,
                format!("session not initialized: send \"initialize\" before \"{name}\""),
            )));
        }
        let p = params.as_ref();
        let reply = |r| Outcome::Reply(r);
        match name {
            method::TOOLS_LIST => reply(list(&self.catalog_of(session), p, Kind::Tool, "tools")),
            method::RESOURCES_LIST => reply(list(
                &self.catalog_of(session),
                p,
                Kind::Resource,
                "resources",
            )),
            method::RESOURCE_TEMPLATES_LIST => reply(list(
                &self.catalog_of(session),
                p,
                Kind::Template,
                "resourceTemplates",
            )),
            method::PROMPTS_LIST => {
                reply(list(&self.catalog_of(session), p, Kind::Prompt, "prompts"))
            }
            method::TOOLS_CALL | method::PROMPTS_GET => {
                let kind = if name == method::TOOLS_CALL {
                    Kind::Tool
                } else {
                    Kind::Prompt
                };
                let exposed = match string_param(p, "name") {
                    Ok(n) => n,
                    Err(e) => return reply(Err(e)),
                };
                let catalog = self.catalog_of(session);
                let Some(route) = catalog.route(kind, &exposed) else {
                    return reply(Err(invalid(format!(
                        "unknown {}: \"{exposed}\"",
                        kind.noun()
                    ))));
                };
                let mut params = params.unwrap_or_else(|| json!({}));
                params["name"] = Value::from(route.original.as_str());
                self.forward(session, id, name, params, route, &exposed)
            }
            method::RESOURCES_READ => {
                let uri = match string_param(p, "uri") {
                    Ok(u) => u,
                    Err(e) => return reply(Err(e)),
                };
                match self.catalog_of(session).resource_route(&uri) {
                    Some(route) => {
                        let route = route.clone();
                        self.forward(session, id, name, params.unwrap_or_default(), &route, &uri)
                    }
                    None => reply(Err(resource_not_found(&uri))),
                }
            }
            method::RESOURCES_SUBSCRIBE => self.subscribe(session, id, params),
            method::RESOURCES_UNSUBSCRIBE => self.unsubscribe(session, id, params),
            method::COMPLETION_COMPLETE => {
                let reference = p.and_then(|p| p.get("ref"));
                let catalog = self.catalog_of(session);
                let route = match reference
                    .and_then(|r| r.get("type"))
                    .and_then(Value::as_str)
                {
                    Some("ref/prompt") => {
                        let Some(n) = reference
                            .and_then(|r| r.get("name"))
                            .and_then(Value::as_str)
                        else {
                            return reply(Err(invalid("ref/prompt needs a name")));
                        };
                        match catalog.route(Kind::Prompt, n) {
                            Some(r) => {
                                let mut params = params.clone().unwrap_or_default();
                                params["ref"]["name"] = Value::from(r.original.as_str());
                                return self.forward(session, id, name, params, &r.clone(), n);
                            }
                            None => return reply(Err(invalid(format!("unknown prompt: \"{n}\"")))),
                        }
                    }
                    Some("ref/resource") => {
                        let Some(uri) =
                            reference.and_then(|r| r.get("uri")).and_then(Value::as_str)
                        else {
                            return reply(Err(invalid("ref/resource needs a uri")));
                        };
                        catalog
                            .entries
                            .iter()
                            .find(|e| e.kind == Kind::Template && e.exposed == uri)
                            .map(|e| e.route.clone())
                            .or_else(|| catalog.resource_route(uri).cloned())
                    }
                    _ => {
                        return reply(Err(invalid(
                            "completion/complete needs params.ref of type ref/prompt or ref/resource",
                        )));
                    }
                };
                let about = reference.map(Value::to_string).unwrap_or_default();
                match route {
                    Some(route) => self.forward(
                        session,
                        id,
                        name,
                        params.unwrap_or_default(),
                        &route,
                        &about,
                    ),
                    None => reply(Err(invalid("unknown completion reference"))),
                }
            }
            method::LOGGING_SET_LEVEL => {
                let level = match string_param(p, "level") {
                    Ok(l) => l,
                    Err(e) => return reply(Err(e)),
                };
                if !mcp::LOG_LEVELS.contains(&level.as_str()) {
                    return reply(Err(invalid(format!("unknown log level \"{level}\""))));
                }
                // Counted at the backends this session can see, now.
                let backends = self.backends_of(session.group.as_deref());
                let (old, old_backends) = {
                    let mut state = session.state();
                    (
                        state.log_level.replace(level.clone()),
                        std::mem::replace(&mut state.log_backends, backends.clone()),
                    )
                };
                self.count_level(old.as_deref(), &old_backends, Some(&level), &backends);
                reply(Ok(json!({})))
            }
            other => reply(Err(ErrorObject::new(
                code::METHOD_NOT_FOUND,
                format!("method not found: \"{other}\""),
            ))),
        }
    }

    /// Sends a request to the backend of `route`; the answer goes to `session`.
    fn forward(
        &self,
        session: &Arc<Session>,
        id: &RequestId,
        method_name: &str,
        params: Value,
        route: &Route,
        exposed: &str,
    ) -> Outcome {
        let is_tool = method_name == method::TOOLS_CALL;
        let link = match self.supervisor.link(route.backend) {
            Ok(link) => link,
            Err(cause) => return Outcome::Reply(failure(is_tool, &cause.to_string())),
        };
        let timeout = self.supervisor_timeout(route.backend);
        let client_token = params
            .get("_meta")
            .and_then(|m| m.get("progressToken"))
            .cloned();
        let backend_name = route.backend_name.clone();
        let audit = self.runtime.audit().map(|log| {
            let group = self.supervisor.group(route.backend);
            audited::Call::start(
                log,
                session,
                method_name,
                (exposed, &route.original),
                (&route.backend_name, &group),
            )
        });
        let backend_id = link.conn.reserve_id();
        let caller = Arc::new(Caller {
            target: Mutex::new(Target {
                session: Arc::downgrade(session),
                id: id.clone(),
            }),
            conn: Arc::downgrade(&link.conn),
            backend_id,
        });
        let mut params = params;
        let headers = if link.conn.is_modern() {
            self.for_modern_backend(session, &mut params, is_tool, exposed)
        } else {
            Vec::new()
        };
        let progress = client_token.map(|token| {
            let notes = caller.clone();
            Arc::new(move |mut params: Value| {
                let target = notes.target();
                if let Some(session) = target.session.upgrade() {
                    params["progressToken"] = token.clone();
                    session.send_for(
                        &target.id,
                        &Message::Notification {
                            method: "notifications/progress".into(),
                            params: Some(params),
                        },
                    );
                }
            }) as SharedProgress
        });
        // A 2026-07-28 request that asked for logs hears its backend's, on
        // its own stream, in order with its answer (never without asking).
        let (log, legacy_caller) = {
            let state = session.state();
            let rank = |l: &str| mcp::LOG_LEVELS.iter().position(|x| *x == l);
            let wanted = state.log_level.as_deref().and_then(rank);
            let modern_caller = state.protocol_version == Some(mcp::MODERN_VERSION);
            let log = modern_caller.then_some(wanted).flatten().map(|wanted| {
                let hears = caller.clone();
                let name = route.backend_name.clone();
                Arc::new(move |params: &Value| {
                    let level = params.get("level").and_then(Value::as_str).and_then(rank);
                    if level.unwrap_or(0) < wanted {
                        return;
                    }
                    let target = hears.target();
                    let Some(session) = target.session.upgrade() else {
                        return;
                    };
                    let mut params = params.clone();
                    if let Some(p) = params.as_object_mut() {
                        p.insert("logger".into(), Value::from(name.as_str()));
                    }
                    session.send_for(
                        &target.id,
                        &Message::Notification {
                            method: "notifications/message".into(),
                            params: Some(params),
                        },
                    );
                }) as SharedLog
            });
            (log, !modern_caller)
        };
        // A 2026-07-28 backend may answer a 2025-era client's call with an
        // input-required result: the gateway asks the client and retries.
        let rounds =
            (link.conn.is_modern() && legacy_caller && rounds::METHODS.contains(&method_name))
                .then(|| rounds::Rounds {
                    conn: Arc::downgrade(&link.conn),
                    params: params.clone(),
                    headers: headers.clone(),
                    timeout,
                    progress: progress.clone(),
                    log: log.clone(),
                    done: 0,
                });
        let answering = Answering {
            runtime: self.runtime.clone(),
            caller: caller.clone(),
            audit,
            transport: session.transport.as_str(),
            method: method_name.to_owned(),
            backend_name,
            is_tool,
            started: Instant::now(),
            rounds,
        };
        if !session.track(id.clone(), &link.conn, backend_id) {
            // The same id arrived twice at once (the check in `handle` raced).
            refuse_duplicate(session, id.clone());
            return Outcome::Forwarded;
        }
        let origin: Origin = caller;
        link.conn.send_request_as(
            backend_id,
            Outgoing {
                method: method_name.to_owned(),
                params: Some(params),
                timeout,
                reply: answering.reply_fn(),
                progress: progress.map(boxed_progress),
                log: log.map(boxed_log),
                origin: Some(origin),
                headers,
            },
        );
        Outcome::Forwarded
    }

    /// Prepares a call for a 2026-07-28 backend: the caller's capabilities
    /// (and, for a modern caller, its client info) go in `_meta`, since
    /// the backend may ask for input only within them; returns the
    /// `Mcp-Param-*` headers of the tool's `x-mcp-header` arguments.
    fn for_modern_backend(
        &self,
        session: &Session,
        params: &mut Value,
        is_tool: bool,
        exposed: &str,
    ) -> Vec<(String, String)> {
        {
            let state = session.state();
            if let Some(obj) = params.as_object_mut() {
                let meta = obj.entry("_meta").or_insert_with(|| json!({}));
                if let Some(meta) = meta.as_object_mut() {
                    meta.insert(
                        mcp::meta::CLIENT_CAPABILITIES.into(),
                        state.client_capabilities.value(),
                    );
                    // A 2025-era client's `logging/setLevel` holds for
                    // its session; a modern backend hears it per request.
                    if let Some(level) = &state.log_level {
                        meta.entry(mcp::meta::LOG_LEVEL)
                            .or_insert_with(|| Value::from(level.as_str()));
                    }
                }
            }
        }
        if !is_tool {
            return Vec::new();
        }
        let catalog = self.catalog_of(session);
        let tool = catalog.item(Kind::Tool, exposed);
        let (Some(properties), Some(arguments)) = (
            tool.and_then(|t| t.pointer("/inputSchema/properties"))
                .and_then(Value::as_object),
            params.get("arguments").and_then(Value::as_object),
        ) else {
            return Vec::new();
        };
        let mut headers = Vec::new();
        for (name, schema) in properties {
            let Some(header) = schema.get("x-mcp-header").and_then(Value::as_str) else {
                continue;
            };
            let value = match arguments.get(name) {
                Some(Value::String(s)) => crate::backend::encode_header_value(s),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                _ => continue,
            };
            headers.push((format!("Mcp-Param-{header}"), value));
        }
        headers
    }

    /// The names of the backends of `view` (`None`: every backend), as
    /// the config in force has them.
    fn backends_of(&self, view: Option<&str>) -> Vec<String> {
        self.runtime
            .config()
            .backends
            .iter()
            .filter(|b| view.is_none_or(|group| b.group == group))
            .map(|b| b.name.clone())
            .collect()
    }

    /// A session's log level moves from `old`, counted at `old_backends`,
    /// to `new`, counted at `new_backends`; each backend whose most
    /// verbose wanted level changed is set to it (if it logs and is up).
    fn count_level(
        &self,
        old: Option<&str>,
        old_backends: &[String],
        new: Option<&str>,
        new_backends: &[String],
    ) {
        let mut changed = Vec::new();
        for backend in old_backends {
            let now = new_backends.contains(backend).then_some(new).flatten();
            if let Some(level) = self.levels.change(backend, old, now) {
                changed.push((backend.as_str(), level));
            }
        }
        for backend in new_backends.iter().filter(|b| !old_backends.contains(b)) {
            if let Some(level) = self.levels.change(backend, None, new) {
                changed.push((backend.as_str(), level));
            }
        }
        if changed.is_empty() {
            return;
        }
        let catalog = self.catalog();
        for &index in &catalog.features.logging {
            let Ok(link) = self.supervisor.link(index) else {
                continue;
            };
            if let Some((_, level)) = changed.iter().find(|(b, _)| *b == link.conn.name()) {
                debug!("[{}] log level: {level}", link.conn.name());
                send_own(
                    &link.conn,
                    method::LOGGING_SET_LEVEL,
                    json!({"level": level}),
                );
            }
        }
    }

    /// `resources/subscribe`: only to a resource of the session's virtual
    /// server (anything else is not found, as for `resources/read`). The
    /// backend hears only the first subscribe of all sessions and streams
    /// that see it; the rest is answered here.
    fn subscribe(&self, session: &Arc<Session>, id: &RequestId, params: Option<Value>) -> Outcome {
        let uri = match string_param(params.as_ref(), "uri") {
            Ok(u) => u,
            Err(e) => return Outcome::Reply(Err(e)),
        };
        let catalog = self.catalog_of(session);
        let Some(route) = catalog.resource_route(&uri).cloned() else {
            return Outcome::Reply(Err(resource_not_found(&uri)));
        };
        let previous = {
            let mut state = session.state();
            match state.subscriptions.get(&uri) {
                Some(backend) if *backend == route.backend_name => {
                    return Outcome::Reply(Ok(json!({})));
                }
                Some(_) => {}
                None if state.subscriptions.len() >= MAX_SUBSCRIPTIONS_PER_SESSION => {
                    return Outcome::Reply(Err(invalid(format!(
                        "too many subscriptions: a session may hold {MAX_SUBSCRIPTIONS_PER_SESSION}"
                    ))));
                }
                None => {}
            }
            state
                .subscriptions
                .insert(uri.clone(), route.backend_name.clone())
        };
        // Held through another backend (a reload moved the resource).
        if let Some(old) = previous {
            self.stop_listening_to(&old, &uri);
        }
        if !self.subscribers.add(&route.backend_name, &uri)
            // 2026-07-28 has no resources/subscribe: the interest is
            // recorded here, and that is all.
            || self
                .supervisor
                .link(route.backend)
                .is_ok_and(|l| l.conn.is_modern())
        {
            return Outcome::Reply(Ok(json!({})));
        }
        let params = params.unwrap_or_default();
        self.forward(
            session,
            id,
            method::RESOURCES_SUBSCRIBE,
            params,
            &route,
            &uri,
        )
    }

    /// `resources/unsubscribe`: releases what the session holds; the
    /// backend hears the last unsubscribe. A URI the session does not hold
    /// is answered `{}`.
    fn unsubscribe(
        &self,
        session: &Arc<Session>,
        id: &RequestId,
        params: Option<Value>,
    ) -> Outcome {
        let uri = match string_param(params.as_ref(), "uri") {
            Ok(u) => u,
            Err(e) => return Outcome::Reply(Err(e)),
        };
        let Some(backend) = session.state().subscriptions.remove(&uri) else {
            return Outcome::Reply(Ok(json!({})));
        };
        if !self.subscribers.remove(&backend, &uri) {
            return Outcome::Reply(Ok(json!({})));
        }
        let catalog = self.catalog_of(session);
        match catalog.resource_route(&uri) {
            Some(route)
                if route.backend_name == backend
                    && self
                        .supervisor
                        .link(route.backend)
                        .is_ok_and(|l| !l.conn.is_modern()) =>
            {
                let route = route.clone();
                let params = params.unwrap_or_default();
                self.forward(
                    session,
                    id,
                    method::RESOURCES_UNSUBSCRIBE,
                    params,
                    &route,
                    &uri,
                )
            }
            _ => {
                self.tell_backend(&backend, method::RESOURCES_UNSUBSCRIBE, &uri);
                Outcome::Reply(Ok(json!({})))
            }
        }
    }

    /// Sends `backend` a `resources/(un)subscribe` of our own for `uri`
    /// (no client waits for the answer), if it is up.
    fn tell_backend(&self, backend: &str, method_name: &str, uri: &str) {
        if let Some(link) = self
            .supervisor
            .links()
            .into_iter()
            .find(|l| l.conn.name() == backend)
        {
            send_own(&link.conn, method_name, json!({"uri": uri}));
        }
    }

    fn supervisor_timeout(&self, backend: usize) -> Duration {
        self.supervisor.call_timeout(backend)
    }

    fn initialize(&self, session: &Session, params: Option<&Value>) -> Result<Value, ErrorObject> {
        let requested = params
            .and_then(|p| p.get("protocolVersion"))
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("initialize needs params.protocolVersion (a string)"))?;
        if session.state().initialized {
            return Err(ErrorObject::new(
                code::INVALID_REQUEST,
                "session already initialized",
            ));
        }
        let kept = ["capabilities", "clientInfo"]
            .iter()
            .filter_map(|k| params.and_then(|p| p.get(*k)))
            .map(|v| v.to_string().len())
            .sum::<usize>();
        if kept > MAX_CLIENT_INFO_BYTES {
            return Err(invalid(format!(
                "initialize: capabilities and clientInfo take {kept} bytes; at most {MAX_CLIENT_INFO_BYTES} are kept per session"
            )));
        }
        let features = self.catalog_of(session).features.clone();
        let mut state = session.state();
        if state.initialized {
            return Err(ErrorObject::new(
                code::INVALID_REQUEST,
                "session already initialized",
            ));
        }
        let version = mcp::negotiate(requested);
        state.initialized = true;
        state.protocol_version = Some(version);
        state.client_capabilities = JsonText::of(
            params
                .and_then(|p| p.get("capabilities"))
                .unwrap_or(&json!({})),
        );
        state.client_info = params
            .and_then(|p| p.get("clientInfo"))
            .map(JsonText::of)
            .unwrap_or_default();
        let mut capabilities = json!({
            "tools": {"listChanged": true},
            "resources": {"listChanged": true},
            "prompts": {"listChanged": true},
        });
        if features.subscribe {
            capabilities["resources"]["subscribe"] = json!(true);
        }
        if !features.logging.is_empty() {
            capabilities["logging"] = json!({});
        }
        if features.completions {
            capabilities["completions"] = json!({});
        }
        Ok(json!({
            "protocolVersion": version,
            "capabilities": capabilities,
            "serverInfo": {"name": mcp::IMPLEMENTATION_NAME, "version": mcp::VERSION},
        }))
    }

    fn notification(&self, session: &Session, name: &str, params: Option<&Value>) {
        match name {
            method::INITIALIZED => session.state().client_ready = true,
            method::CANCELLED => {
                let Some(id) = params
                    .and_then(|p| p.get("requestId"))
                    .and_then(RequestId::from_value)
                else {
                    return;
                };
                session.cancel_request_stream(&id);
                if let Some(f) = session.untrack(&id)
                    && let Some(conn) = f.conn.upgrade()
                {
                    if let Some(log) = self.runtime.audit() {
                        audited::cancelled(&log, session, conn.name(), "cancelled by the client");
                    }
                    let reason = params
                        .and_then(|p| p.get("reason"))
                        .and_then(Value::as_str)
                        .unwrap_or("cancelled by the client");
                    conn.cancel(f.backend_id, reason);
                }
            }
            method::ROOTS_LIST_CHANGED => {
                // We declared `roots.listChanged` to every backend; each may
                // ask for the roots again (and reach this or another client).
                for link in self.supervisor.links() {
                    link.conn.notify(name, None);
                }
            }
            other => debug!(
                "session {}: notification {other} ignored",
                session.short_id()
            ),
        }
    }
}

/// Sends a request of the gateway's own (no client waits for it): the
/// answer is not needed, only that the backend hears it.
/// A forwarded call's progress hook, kept for its further rounds.
type SharedProgress = Arc<dyn Fn(Value) + Send + Sync>;

/// A forwarded 2026-07-28 call's log hook, kept for its further rounds.
type SharedLog = Arc<dyn Fn(&Value) + Send + Sync>;

fn boxed_progress(hook: SharedProgress) -> crate::backend::ProgressFn {
    Box::new(move |params| hook(params))
}

fn boxed_log(hook: SharedLog) -> crate::backend::LogFn {
    Box::new(move |params| hook(params))
}

/// What the answer of a forwarded call needs: who gets it, what to count
/// and record, and, for a 2026-07-28 backend serving a 2025-era client,
/// how to ask again ([`rounds`]).
struct Answering {
    runtime: Arc<Runtime>,
    caller: Arc<Caller>,
    audit: Option<audited::Call>,
    transport: &'static str,
    method: String,
    backend_name: String,
    is_tool: bool,
    started: Instant,
    rounds: Option<rounds::Rounds>,
}

impl Answering {
    /// The backend connection's reply hook: runs on the transport's reader
    /// thread (or the connection's timer), under no lock.
    fn reply_fn(self) -> crate::backend::ReplyFn {
        Box::new(move |outcome| self.answer(outcome))
    }

    /// Sends the call's outcome to its client, or, for an input-required
    /// result that the gateway fulfils, asks the client first.
    fn answer(mut self, outcome: Result<Value, CallError>) {
        let outcome = match (outcome, self.rounds.take()) {
            (Ok(result), Some(rounds)) if rounds::asks_input(&result) => {
                return rounds::ask(self, rounds, result);
            }
            (outcome, rounds) => {
                self.rounds = rounds;
                outcome
            }
        };
        let Answering {
            runtime,
            caller,
            audit,
            transport,
            method,
            backend_name,
            is_tool,
            started,
            rounds: _,
        } = self;
        runtime.metrics().request(
            transport,
            &method,
            Some(&backend_name),
            audited::metric_outcome(&outcome),
            Some(started.elapsed()),
        );
        // Read now: a 2026-07-28 retry may have taken the call over.
        let Target {
            session,
            id: client_id,
        } = caller.target();
        let Some(session) = session.upgrade() else {
            return;
        };
        session.untrack(&client_id);
        if let Some(call) = audit
            && let Err(why) = call.finish(&audited::outcome(&outcome))
        {
            // `audit.required`: nothing goes through unrecorded.
            session.send(&Message::error(
                Some(client_id),
                code::INTERNAL_ERROR,
                format!("the answer is withheld: {why}"),
            ));
            return;
        }
        let message = match outcome {
            Ok(result) => Message::response(client_id, result),
            Err(CallError::Rpc(error)) => Message::Error {
                id: Some(client_id),
                error,
            },
            Err(e) => match failure(is_tool, &format!("backend \"{backend_name}\" {e}")) {
                Ok(result) => Message::response(client_id, result),
                Err(error) => Message::Error {
                    id: Some(client_id),
                    error,
                },
            },
        };
        session.send(&message);
    }
}

/// The client's answer (`id`) to a request sent to it goes to whoever
/// asked: a backend (under its own id) or the gateway.
fn answered(session: &Session, id: Option<&RequestId>, outcome: Result<Value, ErrorObject>) {
    match id.and_then(|id| session.take_server_request(id)) {
        Some(Asker::Backend(conn, theirs)) => {
            if let Some(conn) = conn.upgrade() {
                conn.respond(&match outcome {
                    Ok(result) => Message::response(theirs, result),
                    Err(error) => Message::Error {
                        id: Some(theirs),
                        error,
                    },
                });
            }
        }
        Some(Asker::Gateway(hears)) => hears(outcome),
        None => debug!(
            "session {}: answer to unknown request {:?} dropped",
            session.short_id(),
            id.map(RequestId::to_string)
        ),
    }
}

fn send_own(conn: &Connection, method_name: &str, params: Value) {
    if conn.is_modern()
        && matches!(
            method_name,
            method::LOGGING_SET_LEVEL | method::RESOURCES_SUBSCRIBE | method::RESOURCES_UNSUBSCRIBE
        )
    {
        // Removed in 2026-07-28: the level goes with each request, and
        // resource interest stays with the gateway.
        return;
    }
    conn.send_request(
        method_name,
        Some(params),
        OWN_REQUEST_TIMEOUT,
        Box::new(|_| {}),
        None,
    );
}

/// Refuses a request whose id the session has in flight already: the two
/// answers could not be told apart. Over SSE and stdio the refusal carries
/// no id (it would be taken for the first request's answer); over
/// Streamable HTTP it goes to the new request's own POST.
fn refuse_duplicate(session: &Session, id: RequestId) {
    let message = format!("request id {id} is already in flight in this session");
    // One stream (SSE, stdio): no id, or it would pass for the first one's answer.
    let id = (session.transport == Transport::StreamableHttp).then_some(id);
    session.send(&Message::error(id, code::INVALID_REQUEST, message));
}

/// The one translation of a backend failure into what the client sees
/// (STYLE 6): a tool error result for `tools/call`, -32603 otherwise.
fn failure(is_tool: bool, text: &str) -> Result<Value, ErrorObject> {
    // Causes may quote a backend URL: never its credentials.
    let text = crate::redact::text(text);
    let text = text.as_ref();
    if is_tool {
        Ok(json!({"content": [{"type": "text", "text": text}], "isError": true}))
    } else {
        Err(ErrorObject::new(code::INTERNAL_ERROR, text))
    }
}

/// A list method's answer: the whole list in one page. We never hand out
/// cursors, so any cursor is invalid.
fn list(
    catalog: &Catalog,
    params: Option<&Value>,
    kind: Kind,
    key: &str,
) -> Result<Value, ErrorObject> {
    if params
        .and_then(|p| p.get("cursor"))
        .is_some_and(|c| !c.is_null())
    {
        return Err(invalid("invalid cursor"));
    }
    Ok(json!({ key: catalog.list(kind) }))
}

fn string_param(params: Option<&Value>, key: &str) -> Result<String, ErrorObject> {
    params
        .and_then(|p| p.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| invalid(format!("missing string parameter \"{key}\"")))
}

/// What a request for a resource the caller's virtual server does not
/// serve gets: the same as for a resource nobody serves.
fn resource_not_found(uri: &str) -> ErrorObject {
    ErrorObject {
        code: code::RESOURCE_NOT_FOUND,
        message: format!("resource not found: \"{uri}\""),
        data: Some(json!({"uri": uri})),
    }
}

fn invalid(message: impl Into<String>) -> ErrorObject {
    ErrorObject::new(code::INVALID_PARAMS, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Transport};
    use crate::queue::Receiver;
    use crate::session::Outbound;

    fn session() -> (Arc<Session>, Receiver<Outbound>) {
        let (s, rx) = Session::new(
            "0".repeat(32),
            Transport::Sse,
            "127.0.0.1:1".parse().unwrap(),
            None,
            16,
        );
        (Arc::new(s), rx)
    }

    fn router() -> Router {
        let config = Config::empty(&|_| None).unwrap();
        let runtime = Runtime::new(Arc::new(config));
        let supervisor = Supervisor::with_runtime(runtime.clone());
        supervisor.start().unwrap();
        Router::new(runtime, supervisor)
    }

    fn ask(router: &Router, s: &Arc<Session>, rx: &Receiver<Outbound>, text: &str) -> Value {
        let msg = Message::parse(serde_json::from_str(text).unwrap()).unwrap();
        router.handle(s, msg);
        match rx.try_recv().unwrap() {
            Outbound::Message(m) => serde_json::from_str(&m).unwrap(),
            other => panic!("not a message: {other:?}"),
        }
    }

    #[test]
    fn handshake_and_lists() {
        let (s, rx) = session();
        let r = router();
        let v = ask(
            &r,
            &s,
            &rx,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        );
        assert_eq!(v["error"]["code"], code::INVALID_REQUEST);
        let v = ask(&r, &s, &rx, r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#);
        assert_eq!(v["result"], json!({}));
        let v = ask(
            &r,
            &s,
            &rx,
            r#"{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
        );
        assert_eq!(v["result"]["protocolVersion"], "2025-06-18");
        assert_eq!(v["result"]["serverInfo"]["name"], "argus-mcp");
        let v = ask(
            &r,
            &s,
            &rx,
            r#"{"jsonrpc":"2.0","id":"x","method":"prompts/list"}"#,
        );
        assert_eq!(v, json!({"jsonrpc":"2.0","id":"x","result":{"prompts":[]}}));
        let v = ask(&r, &s, &rx, r#"{"jsonrpc":"2.0","id":4,"method":"nope"}"#);
        assert_eq!(v["error"]["code"], code::METHOD_NOT_FOUND);
        let v = ask(
            &r,
            &s,
            &rx,
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo"}}"#,
        );
        assert_eq!(v["error"]["code"], code::INVALID_PARAMS);
        assert!(v["error"]["message"].as_str().unwrap().contains("echo"));
        let v = ask(
            &r,
            &s,
            &rx,
            r#"{"jsonrpc":"2.0","id":6,"method":"resources/read","params":{"uri":"file:///x"}}"#,
        );
        assert_eq!(v["error"]["code"], code::RESOURCE_NOT_FOUND);
        let v = ask(
            &r,
            &s,
            &rx,
            r#"{"jsonrpc":"2.0","id":7,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#,
        );
        assert_eq!(v["error"]["code"], code::INVALID_REQUEST);
        let v = ask(
            &r,
            &s,
            &rx,
            r#"{"jsonrpc":"2.0","id":8,"method":"tools/list","params":{"cursor":"abc"}}"#,
        );
        assert_eq!(v["error"]["code"], code::INVALID_PARAMS);
    }

    #[test]
    fn oversized_client_info_is_refused() {
        let (s, rx) = session();
        let big = "x".repeat(MAX_CLIENT_INFO_BYTES);
        let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
            "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":big,"version":"1"}}});
        let v = ask(&router(), &s, &rx, &init.to_string());
        assert_eq!(v["error"]["code"], code::INVALID_PARAMS, "{v}");
        assert!(!s.state().initialized);
    }

    #[test]
    fn unsupported_version_gets_latest() {
        let (s, rx) = session();
        let v = ask(
            &router(),
            &s,
            &rx,
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1999-01-01"}}"#,
        );
        assert_eq!(v["result"]["protocolVersion"], mcp::LATEST_VERSION);
    }

    #[test]
    fn failures_become_tool_errors_or_internal_errors() {
        let tool = failure(true, "backend \"b\" timed out after 1.0s").unwrap();
        assert_eq!(tool["isError"], true);
        assert_eq!(
            tool["content"][0]["text"],
            "backend \"b\" timed out after 1.0s"
        );
        let other = failure(false, "x").unwrap_err();
        assert_eq!(other.code, code::INTERNAL_ERROR);
    }
}
