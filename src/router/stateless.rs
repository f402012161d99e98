//! The 2026-07-28 (stateless) side of the router: a request's context comes
//! from its own `_meta`, never from earlier requests, and `server/discover`
//! replaces the handshake (MCP 2026-07-28, Basic › Lifecycle).
//!
//! The front gives each modern request a session of its own that lives as
//! long as the request (never in the session table): the rest of the router
//! (lists, forwarding, progress) then works unchanged, and closing the
//! request's stream ends that session, which cancels its call at the backend.
//! A request's `logLevel` counts like a session's `logging/setLevel` for as
//! long as the request lasts.

use serde_json::{Map, Value, json};

use super::Router;
use crate::catalog::Kind;
use crate::mcp::{self, meta};
use crate::session::{JsonText, Session};

impl Router {
    /// Sets up `session` for one stateless request with this `_meta`: its
    /// capabilities and client info are the request's own.
    pub fn begin_stateless(&self, session: &Session, request_meta: &Map<String, Value>) {
        let level = request_meta
            .get(meta::LOG_LEVEL)
            .and_then(Value::as_str)
            .filter(|l| mcp::LOG_LEVELS.contains(l))
            .map(str::to_owned);
        // Counted at the backends of the request's virtual server, and
        // released when the request's session closes.
        let backends = match &level {
            Some(_) => self.backends_of(session.group.as_deref()),
            None => Vec::new(),
        };
        self.count_level(None, &[], level.as_deref(), &backends);
        let mut state = session.state();
        state.log_level = level;
        state.log_backends = backends;
        state.initialized = true;
        state.client_ready = true;
        state.protocol_version = Some(mcp::MODERN_VERSION);
        state.client_capabilities = JsonText::of(
            request_meta
                .get(meta::CLIENT_CAPABILITIES)
                .unwrap_or(&json!({})),
        );
        state.client_info = request_meta
            .get(meta::CLIENT_INFO)
            .map(JsonText::of)
            .unwrap_or_default();
    }

    /// Whether `method` with `params` (a tool, prompt or resource by name
    /// or URI) goes to a 2026-07-28 backend in `session`'s view: its own
    /// input-required rounds then pass through the gateway untouched.
    pub fn serves_modern(&self, session: &Session, method: &str, params: Option<&Value>) -> bool {
        let catalog = self.catalog_of(session);
        let field = |k: &str| params.and_then(|p| p.get(k)).and_then(Value::as_str);
        let route = match method {
            crate::mcp::method::TOOLS_CALL => {
                field("name").and_then(|n| catalog.route(Kind::Tool, n))
            }
            crate::mcp::method::PROMPTS_GET => {
                field("name").and_then(|n| catalog.route(Kind::Prompt, n))
            }
            crate::mcp::method::RESOURCES_READ => {
                field("uri").and_then(|u| catalog.resource_route(u))
            }
            _ => None,
        };
        route
            .and_then(|r| self.supervisor.link(r.backend).ok())
            .is_some_and(|link| link.conn.is_modern())
    }

    /// The `server/discover` result for `session`'s view of the catalog:
    /// list changes (they reach `subscriptions/listen` streams) and, when
    /// some backend takes them, resource subscriptions (on listen streams).
    pub fn discover(&self, session: &Session) -> Value {
        let catalog = self.catalog_of(session);
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
