//! Answers client messages: the MCP handshake, the merged lists, and the
//! routing of every other request to the backend that owns it.
//!
//! The gateway answers `initialize` and `ping` itself (here). Lists come
//! from the current catalog snapshot of the session's view. Calls are
//! forwarded with the original name and a fresh backend-side id
//! (`forward`); the reply comes back asynchronously through a closure that
//! restores the client's id and queues the answer on the session, so no
//! thread waits for a backend, and `forward` is the one place where a
//! backend failure becomes a wire error. A backend's request for a client
//! goes to the session whose call it serves, and the client's answer back
//! (`relay`). Interest shared by sessions (subscriptions, log levels) is
//! kept in `subscriptions` over the tables of `interest`; `rounds` fulfils
//! a 2026-07-28 backend's input requests for a 2025-era client; `stateless`
//! gives a 2026-07-28 request its context and answers `server/discover`;
//! `audited` writes what the audit log records of a call.

mod audited;
mod call;
mod context;
mod forward;
mod interest;
mod meta_tools;
mod permit;
mod reads;
mod relay;
mod reply;
mod rounds;
mod stateless;
mod subscriptions;
mod traced;

pub use call::Call;
pub use context::{CallContext, RequestContext};
pub use reply::{Attach, Hears, InputRequest, Reply};

use std::sync::Arc;
use std::time::Duration;

use log::debug;
use serde_json::{Value, json};

use crate::backend::{BackendRequest, CallerStamp, Connection, NotRelayed, Outgoing};
use crate::catalog::{Catalog, Kind, Route};
use crate::config::Transport;
use crate::identity::Identity;
use crate::jsonrpc::{ErrorObject, Message, RequestId, code};
use crate::limits::{MAX_CLIENT_INFO_BYTES, MAX_SUBSCRIPTIONS_PER_SESSION};
use crate::mcp::{self, method};
use crate::metrics;
use crate::runtime::Runtime;
use crate::session::{Asker, JsonText, Session};
use crate::supervisor::Supervisor;
use crate::sync::lock;
use crate::telemetry::Tracer;
use interest::{Levels, Subscribers};
use relay::answered;

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
    /// Sessions subscribed per resource URI.
    subscribers: Subscribers,
    /// Sessions per log level.
    levels: Levels,
    /// Spans of every request, when `telemetry` is on.
    tracer: Option<Arc<Tracer>>,
}

/// What to do with a request.
enum Handled {
    /// Answer now.
    Reply(Result<Value, ErrorObject>),
    /// Forwarded; the answer comes later.
    Forwarded,
}

impl Router {
    /// A router over the backends of `supervisor`, recording in `runtime`
    /// (and, when `telemetry` is on, starting its exporter).
    pub fn new(runtime: Arc<Runtime>, supervisor: Arc<Supervisor>) -> Router {
        Router {
            tracer: Tracer::start(&runtime),
            supervisor,
            runtime,
            subscribers: Subscribers::default(),
            levels: Levels::default(),
        }
    }

    /// Whether requests are traced (`telemetry` on).
    pub fn traces(&self) -> bool {
        self.tracer.is_some()
    }

    /// Handles one message from `session`; its answers are queued on it.
    pub fn handle(&self, session: &Arc<Session>, message: Message) {
        let reply: Arc<dyn Reply> = session.clone();
        self.dispatch(CallContext::Session(session), message, &reply);
    }

    /// Handles one message from the caller of context `cx`; its answers
    /// (now, or later from a backend) go to `reply`. A 2026-07-28
    /// request's context has no session: only requests mean anything.
    pub fn dispatch(&self, cx: CallContext<'_>, message: Message, reply: &Arc<dyn Reply>) {
        let session = match cx {
            CallContext::Session(s) => Some(s),
            CallContext::Request(_) => None,
        };
        match (message, session) {
            (Message::Request { id, .. }, Some(session)) if session.is_in_flight(&id) => {
                refuse_duplicate(session, id)
            }
            (Message::Request { id, method, params }, _) => {
                let span =
                    traced::SpanSlot::new(self.server_span(cx, &id, &method, params.as_ref()));
                let caller = Caller {
                    context: cx,
                    reply,
                    span: &span,
                };
                let answered = |outcome| {
                    let transport = cx.transport().as_str();
                    self.runtime
                        .metrics()
                        .request(transport, &method, None, outcome, None)
                };
                let handled = self.request(caller, &id, &method, params);
                if let (Handled::Reply(r), Some(span)) = (&handled, span.take()) {
                    span.end(traced::answered(r));
                }
                match handled {
                    Handled::Reply(Ok(result)) => {
                        answered(metrics::CallOutcome::Ok);
                        reply.answer(&id, Message::response(id.clone(), result));
                    }
                    Handled::Reply(Err(error)) => {
                        answered(metrics::CallOutcome::Error);
                        let error = Message::Error {
                            id: Some(id.clone()),
                            error,
                        };
                        reply.answer(&id, error);
                    }
                    Handled::Forwarded => {}
                }
            }
            (Message::Notification { method, params }, Some(session)) => {
                self.notification(session, &method, params.as_ref())
            }
            (Message::Response { id, result }, Some(session)) => {
                answered(session, Some(&id), Ok(result))
            }
            (Message::Error { id, error }, Some(session)) => {
                answered(session, id.as_ref(), Err(error))
            }
            // Without a session, nothing waits for them.
            (
                Message::Notification { .. } | Message::Response { .. } | Message::Error { .. },
                None,
            ) => {}
        }
    }

    /// Cancels everything a closing session still has in flight, and
    /// releases its subscriptions and log level.
    pub fn session_closed(&self, session: &Session) {
        if let Some(log) = self.runtime.audit() {
            for f in session.in_flight_calls() {
                if let Some(conn) = f.conn.upgrade() {
                    let cx = CallContext::Session(session);
                    audited::cancelled(&log, cx, conn.name(), "the session ended");
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

    /// The catalog `session` sees: its group's, or the whole one, as the
    /// policies show it to the session's identity.
    fn catalog_of(&self, session: &Session) -> Arc<Catalog> {
        self.catalog_seen(session.group.as_deref(), session.identity.as_deref())
    }

    /// The catalog a caller sees: a session's view now, or the snapshot a
    /// 2026-07-28 request took when it began (one per request).
    fn catalog_for(&self, cx: CallContext<'_>) -> Arc<Catalog> {
        match cx {
            CallContext::Session(session) => self.catalog_of(session),
            CallContext::Request(request) => request.catalog.clone(),
        }
    }

    /// The catalog of `group`'s virtual server (`None`: the whole
    /// gateway's) as `caller` (`None`: anonymous) sees it: the items the
    /// policies deny it are not there. A group that a reload removed has
    /// an empty catalog.
    pub fn catalog_seen(&self, group: Option<&str>, caller: Option<&Identity>) -> Arc<Catalog> {
        self.supervisor.wait_first_pass(FIRST_PASS_WAIT);
        let views = self.supervisor.views();
        views.seen_by(group, caller).unwrap_or_default()
    }

    fn request(
        &self,
        caller: Caller<'_>,
        id: &RequestId,
        name: &str,
        params: Option<Value>,
    ) -> Handled {
        if name == method::PING {
            return Handled::Reply(Ok(json!({})));
        }
        let session = match caller.context {
            CallContext::Session(s) => Some(s),
            CallContext::Request(_) => None,
        };
        if let Some(session) = session {
            if name == method::INITIALIZE {
                return Handled::Reply(self.initialize(session, params.as_ref()));
            }
            if !session.state().initialized {
                return Handled::Reply(Err(ErrorObject::new(
                    code::INVALID_REQUEST,
                    format!("session not initialized: send \"initialize\" before \"{name}\""),
                )));
            }
        }
        let p = params.as_ref();
        let reply = |r| Handled::Reply(r);
        let catalog = || self.catalog_for(caller.context);
        match (name, session) {
            (method::TOOLS_LIST, _) => reply(list(&catalog(), p, Kind::Tool, "tools")),
            (method::RESOURCES_LIST, _) => reply(list(&catalog(), p, Kind::Resource, "resources")),
            (method::RESOURCE_TEMPLATES_LIST, _) => {
                reply(list(&catalog(), p, Kind::Template, "resourceTemplates"))
            }
            (method::PROMPTS_LIST, _) => reply(list(&catalog(), p, Kind::Prompt, "prompts")),
            (method::TOOLS_CALL, _) => self.call_tool(caller, id, params),
            (method::PROMPTS_GET, _) => {
                let catalog = catalog();
                self.call_named(caller, id, (name, Kind::Prompt), params, &catalog)
            }
            (method::RESOURCES_READ, _) => self.read(caller, id, params),
            (method::COMPLETION_COMPLETE, _) => self.complete(caller, id, params),
            (method::RESOURCES_SUBSCRIBE, Some(s)) => self.subscribe(s, caller, id, params),
            (method::RESOURCES_UNSUBSCRIBE, Some(s)) => self.unsubscribe(s, caller, id, params),
            (method::LOGGING_SET_LEVEL, Some(s)) => reply(self.set_level(s, p)),
            (other, _) => reply(Err(ErrorObject::new(
                code::METHOD_NOT_FOUND,
                format!("method not found: \"{other}\""),
            ))),
        }
    }

    /// `tools/call` or `prompts/get` (`kind`): forwarded under the item's
    /// original name to the backend that owns it in `catalog`, the
    /// caller's view.
    fn call_named(
        &self,
        caller: Caller<'_>,
        id: &RequestId,
        (name, kind): (&str, Kind),
        params: Option<Value>,
        catalog: &Catalog,
    ) -> Handled {
        let exposed = match string_param(params.as_ref(), "name") {
            Ok(n) => n,
            Err(e) => return Handled::Reply(Err(e)),
        };
        let Some(route) = catalog.route(kind, &exposed) else {
            if let Some(e) = self.withheld(caller.context, kind, &exposed) {
                return Handled::Reply(Err(e));
            }
            self.note_if_denied(caller.context, name, kind, &exposed);
            return Handled::Reply(Err(invalid(format!(
                "unknown {}: \"{exposed}\"",
                kind.noun()
            ))));
        };
        if kind == Kind::Tool
            && let Some(schema) = catalog.schema(&exposed)
            && self.runtime.config().security.validate_arguments
            && let Err(e) = check_arguments(schema, &exposed, params.as_ref())
        {
            return Handled::Reply(Err(e));
        }
        let mut params = params.unwrap_or_else(|| json!({}));
        params["name"] = Value::from(route.original.as_str());
        self.forward(caller, id, name, params, route, &exposed)
    }

    /// `logging/setLevel`: the session's level, counted at the backends it
    /// can see now.
    fn set_level(&self, session: &Session, params: Option<&Value>) -> Result<Value, ErrorObject> {
        let level = string_param(params, "level")?;
        if !mcp::LOG_LEVELS.contains(&level.as_str()) {
            return Err(invalid(format!("unknown log level \"{level}\"")));
        }
        let backends = self.backends_of(session.group.as_deref());
        let (old, old_backends) = {
            let mut state = session.state();
            (
                state.log_level.replace(level.clone()),
                std::mem::replace(&mut state.log_backends, backends.clone()),
            )
        };
        self.count_level(old.as_deref(), &old_backends, Some(&level), &backends);
        Ok(json!({}))
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
                        let cx = CallContext::Session(session);
                        audited::cancelled(&log, cx, conn.name(), "cancelled by the client");
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

/// Refuses a request whose id the session has in flight already: the two
/// answers could not be told apart. Over SSE and stdio the refusal carries
/// no id (it would be taken for the first request's answer); over
/// Streamable HTTP it goes to the new request's own POST.
fn refuse_duplicate(session: &Session, id: RequestId) {
    let message = format!("request id {id} is already in flight in this session");
    // One stream (SSE, stdio): no id, or it would pass for the first one's answer.
    let id = (session.transport == Transport::StreamableHttp).then_some(id);
    session.send(Message::error(id, code::INVALID_REQUEST, message));
}

/// A request's caller: where its context comes from and where its answers
/// go, and its request's server span (a forwarded call takes it).
#[derive(Clone, Copy)]
struct Caller<'a> {
    context: CallContext<'a>,
    reply: &'a Arc<dyn Reply>,
    span: &'a traced::SpanSlot,
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
    Ok(json!({ key: catalog.listed(kind) }))
}

fn string_param(params: Option<&Value>, key: &str) -> Result<String, ErrorObject> {
    params
        .and_then(|p| p.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| invalid(format!("missing string parameter \"{key}\"")))
}

/// A `tools/call`'s `arguments` (`{}` when absent) against the tool's
/// `inputSchema`: -32602 naming where (a JSON Pointer into the arguments)
/// and which rule, so that the backend never sees a malformed call.
fn check_arguments(
    schema: &crate::schema::Schema,
    tool: &str,
    params: Option<&Value>,
) -> Result<(), ErrorObject> {
    let empty = Value::Object(serde_json::Map::new());
    let arguments = params
        .and_then(|p| p.get("arguments"))
        .filter(|a| !a.is_null())
        .unwrap_or(&empty);
    schema.validate(arguments).map_err(|v| ErrorObject {
        code: code::INVALID_PARAMS,
        message: format!("invalid arguments for tool \"{tool}\": {v}"),
        data: Some(json!({"pointer": v.pointer, "rule": v.rule})),
    })
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

    /// A sink that keeps what it is given.
    #[derive(Default)]
    struct Kept(std::sync::Mutex<Vec<Message>>);

    impl Reply for Kept {
        fn answer(&self, _: &RequestId, answer: Message) {
            lock(&self.0).push(answer);
        }
        fn related(&self, _: &RequestId, message: Message) -> bool {
            lock(&self.0).push(message);
            true
        }
        fn relay(&self, _: &RequestId, _: InputRequest) -> Result<(), NotRelayed> {
            Err(NotRelayed("kept only".into()))
        }
        fn ask(&self, _: &RequestId, _: &str, _: Option<Value>, _: Hears) -> bool {
            false
        }
        fn track(&self, _: &RequestId, _: &Arc<Connection>, _: u64) -> bool {
            true
        }
        fn untrack(&self, _: &RequestId) -> bool {
            true
        }
    }

    #[test]
    fn a_stateless_request_is_answered_into_its_own_sink() {
        let r = router();
        let meta = json!({"io.modelcontextprotocol/clientCapabilities": {"sampling": {}}});
        let meta = meta.as_object().unwrap().clone();
        let peer = "127.0.0.1:1".parse().unwrap();
        let cx = r.begin_request(&meta, (peer, None), None, r.catalog_seen(None, None));
        assert_eq!(
            CallContext::Request(&cx).capabilities()["sampling"],
            json!({})
        );
        assert!(CallContext::Request(&cx).is_modern());
        assert_eq!(CallContext::Request(&cx).identity(), None);
        let kept = Arc::new(Kept::default());
        let reply: Arc<dyn Reply> = kept.clone();
        let ask = |text: &str| {
            let msg = Message::parse(serde_json::from_str(text).unwrap()).unwrap();
            r.dispatch(CallContext::Request(&cx), msg, &reply);
            serde_json::to_value(lock(&kept.0).pop().unwrap()).unwrap()
        };
        // No handshake: the request's `_meta` is its context.
        let v = ask(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
        assert_eq!(v, json!({"jsonrpc":"2.0","id":1,"result":{"tools":[]}}));
        // Session methods mean nothing without a session.
        for method in ["logging/setLevel", "resources/subscribe", "initialize"] {
            let text = format!(r#"{{"jsonrpc":"2.0","id":2,"method":"{method}","params":{{}}}}"#);
            assert_eq!(
                ask(&text)["error"]["code"],
                code::METHOD_NOT_FOUND,
                "{method}"
            );
        }
        // Notifications and answers have no session to go to: dropped.
        let note = Message::notification(method::INITIALIZED, None);
        r.dispatch(CallContext::Request(&cx), note, &reply);
        assert!(lock(&kept.0).is_empty());
        r.end_request(&cx, None);
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
}
