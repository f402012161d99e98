//! The 2026-07-28 (stateless) side of the router: a request's context comes
//! from its own `_meta`, never from earlier requests, and `server/discover`
//! replaces the handshake (MCP 2026-07-28, Basic › Lifecycle).
//!
//! The front makes a [`RequestContext`] for each modern request and
//! dispatches it with a sink of its own (no session): the rest of the
//! router (lists, forwarding, progress) works the same for both eras.
//! Ending the request releases its context and cancels its call at the
//! backend if it is still unanswered. A request's `logLevel` counts like
//! a session's `logging/setLevel` for as long as the request lasts.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::Router;
use super::audited;
use super::context::{CallContext, RequestContext};
use crate::catalog::{Catalog, Kind};
use crate::identity::Identity;
use crate::mcp::{self, meta};
use crate::session::InFlight;

impl Router {
    /// The context of one stateless request with this `_meta`, sent by
    /// `peer` as `identity` to `group`'s virtual server, whose
    /// catalog the front took (`catalog_seen`: its view as the policies show it to the caller): its capabilities and log
    /// level are the request's own. Give it back to [`Router::end_request`].
    pub fn begin_request(
        &self,
        request_meta: &Map<String, Value>,
        (peer, identity): (SocketAddr, Option<Arc<Identity>>),
        group: Option<&str>,
        catalog: Arc<Catalog>,
    ) -> RequestContext {
        let log_level = request_meta
            .get(meta::LOG_LEVEL)
            .and_then(Value::as_str)
            .filter(|l| mcp::LOG_LEVELS.contains(l))
            .map(str::to_owned);
        // Counted at the backends of the request's virtual server, and
        // released when the request ends.
        let log_backends = match &log_level {
            Some(_) => self.backends_of(group),
            None => Vec::new(),
        };
        self.count_level(None, &[], log_level.as_deref(), &log_backends);
        RequestContext {
            peer,
            identity,
            group: group.map(str::to_owned),
            capabilities: request_meta
                .get(meta::CLIENT_CAPABILITIES)
                .cloned()
                .unwrap_or_else(|| json!({})),
            log_level,
            log_backends,
            catalog,
        }
    }

    /// The request of `cx` is over: its log level is released, and its
    /// call, if still `unanswered` (the client left, or time ran out), is
    /// cancelled at the backend and recorded so.
    pub fn end_request(&self, cx: &RequestContext, unanswered: Option<InFlight>) {
        self.count_level(cx.log_level.as_deref(), &cx.log_backends, None, &[]);
        let Some(f) = unanswered else {
            return;
        };
        if let Some(conn) = f.conn.upgrade() {
            if let Some(log) = self.runtime.audit() {
                let why = "the session ended";
                audited::cancelled(&log, CallContext::Request(cx), conn.name(), why);
            }
            conn.cancel(f.backend_id, "client session closed");
        }
    }

    /// Whether `method` with `params` (a tool, prompt or resource by name
    /// or URI) goes to a 2026-07-28 backend in `catalog` (a view's): its
    /// own input-required rounds then pass through the gateway untouched.
    pub fn serves_modern(&self, catalog: &Catalog, method: &str, params: Option<&Value>) -> bool {
        let field = |k: &str| params.and_then(|p| p.get(k)).and_then(Value::as_str);
        let route = match method {
            mcp::method::TOOLS_CALL => field("name").and_then(|n| catalog.route(Kind::Tool, n)),
            mcp::method::PROMPTS_GET => field("name").and_then(|n| catalog.route(Kind::Prompt, n)),
            mcp::method::RESOURCES_READ => field("uri").and_then(|u| catalog.resource_route(u)),
            _ => None,
        };
        route
            .and_then(|r| self.supervisor.link(r.backend).ok())
            .is_some_and(|link| link.conn.is_modern())
    }

    /// The `server/discover` result for `catalog` (a view's): list changes
    /// (they reach `subscriptions/listen` streams) and, when some backend
    /// takes them, resource subscriptions (on listen streams).
    pub fn discover(&self, catalog: &Catalog) -> Value {
        let mut capabilities = json!({
            "tools": {"listChanged": true},
            "resources": {"listChanged": true},
            "prompts": {"listChanged": true},
        });
        if catalog.features.completions {
            capabilities["completions"] = json!({});
        }
        if catalog.features.subscribe {
            capabilities["resources"]["subscribe"] = json!(true);
        }
        json!({
            "supportedVersions": mcp::ALL_VERSIONS,
            "capabilities": capabilities,
        })
    }
}
