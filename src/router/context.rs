//! Who a message comes from, as the router needs to know it: the virtual
//! server (group), the bearer token, the front transport, and what the
//! client declared (protocol version, capabilities, log level). A 2025-era
//! client declares it once per session (`initialize`, `logging/setLevel`);
//! a 2026-07-28 client in each request's `_meta` (MCP 2026-07-28, Basic ›
//! Lifecycle), so its context lives as long as the request.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;

use crate::catalog::Catalog;
use crate::config::Transport;
use crate::identity::Identity;
use crate::mcp;
use crate::session::Session;

/// Where a message's context comes from.
#[derive(Clone, Copy)]
pub enum CallContext<'a> {
    /// A 2025-era session: its MCP state.
    Session(&'a Session),
    /// A 2026-07-28 request: its own `_meta`.
    Request(&'a RequestContext),
}

/// The context of one 2026-07-28 request, made by
/// [`Router::begin_request`](super::Router::begin_request) and released by
/// [`Router::end_request`](super::Router::end_request).
#[derive(Debug)]
pub struct RequestContext {
    /// The client's address.
    pub peer: SocketAddr,
    /// The caller, if auth is on.
    pub identity: Option<Arc<Identity>>,
    /// The group whose virtual server it was sent to; `None` for the
    /// whole gateway.
    pub group: Option<String>,
    /// `_meta` client capabilities (`{}` when absent).
    pub(super) capabilities: Value,
    /// `_meta` log level, if any.
    pub(super) log_level: Option<String>,
    /// The backends that level is counted at.
    pub(super) log_backends: Vec<String>,
    /// The view's catalog when the request began: the one snapshot every
    /// step of the request reads.
    pub(super) catalog: Arc<Catalog>,
}

impl RequestContext {
    /// The client capabilities the request declared.
    pub fn capabilities(&self) -> &Value {
        &self.capabilities
    }

    /// The catalog the request sees.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }
}

impl<'a> CallContext<'a> {
    /// The virtual server's group; `None` for the whole gateway.
    pub fn group(&self) -> Option<&'a str> {
        match self {
            CallContext::Session(s) => s.group.as_deref(),
            CallContext::Request(r) => r.group.as_deref(),
        }
    }

    /// The front transport.
    pub fn transport(&self) -> Transport {
        match self {
            CallContext::Session(s) => s.transport,
            CallContext::Request(_) => Transport::StreamableHttp,
        }
    }

    /// The caller, if auth is on.
    pub fn identity(&self) -> Option<&'a Identity> {
        match self {
            CallContext::Session(s) => s.identity.as_deref(),
            CallContext::Request(r) => r.identity.as_deref(),
        }
    }

    /// The protocol version the caller speaks (`None` before a session's
    /// `initialize`).
    pub fn protocol_version(&self) -> Option<&'static str> {
        match self {
            CallContext::Session(s) => s.state().protocol_version,
            CallContext::Request(_) => Some(mcp::MODERN_VERSION),
        }
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        match self {
            CallContext::Session(s) => s.peer,
            CallContext::Request(r) => r.peer,
        }
    }

    /// How records and the management API name the caller: a hash of the
    /// session id (the id is a credential), or `stateless`.
    pub fn label(&self) -> String {
        match self {
            CallContext::Session(s) => s.label(),
            CallContext::Request(_) => "stateless".to_owned(),
        }
    }

    /// Whether the caller speaks the 2026-07-28 revision.
    pub fn is_modern(&self) -> bool {
        self.protocol_version() == Some(mcp::MODERN_VERSION)
    }

    /// The client's declared capabilities (`null` before `initialize`).
    pub fn capabilities(&self) -> Value {
        match self {
            CallContext::Session(s) => s.state().client_capabilities.value(),
            CallContext::Request(r) => r.capabilities.clone(),
        }
    }

    /// The log level the client asked for, if any.
    pub fn log_level(&self) -> Option<String> {
        match self {
            CallContext::Session(s) => s.state().log_level.clone(),
            CallContext::Request(r) => r.log_level.clone(),
        }
    }
}
