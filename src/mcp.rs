//! MCP names and versions the gateway reads or writes: protocol versions
//! (MCP specification, "Lifecycle": version negotiation), method names,
//! the `_meta` keys of the 2026-07-28 revision and the HTTP header names of
//! the Streamable HTTP transport. Constants only; no IO, no state.

/// Protocol versions the gateway speaks, oldest first.
pub const SUPPORTED_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// The newest supported version: offered to backends, and answered to
/// clients that ask for one we do not support.
pub const LATEST_VERSION: &str = "2025-11-25";

/// The stateless revision (per-request `_meta`, no sessions).
pub const MODERN_VERSION: &str = "2026-07-28";

/// Every version served, newest first: `server/discover`'s
/// `supportedVersions` and the `supported` of -32022.
pub const ALL_VERSIONS: [&str; 5] = [
    MODERN_VERSION,
    "2025-11-25",
    "2025-06-18",
    "2025-03-26",
    "2024-11-05",
];

/// Whether `version` is one of the handshake (`initialize`) era.
pub fn is_handshake_version(version: &str) -> bool {
    SUPPORTED_VERSIONS.contains(&version)
}

/// Keys of the per-request `_meta` of 2026-07-28.
pub mod meta {
    /// The request's protocol version.
    pub const PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
    /// The client's capabilities, per request.
    pub const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
    /// The client's name and version.
    pub const CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
    /// The request's log level.
    pub const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
    /// The server's name and version, in results.
    pub const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
}

/// The name the gateway gives itself in `serverInfo` and `clientInfo`.
pub const IMPLEMENTATION_NAME: &str = "argus-mcp";

/// The crate version, reported in `serverInfo` and `/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The version to use with a peer that asked for `requested` (MCP lifecycle:
/// the peer's own if supported, else our latest).
pub fn negotiate(requested: &str) -> &'static str {
    SUPPORTED_VERSIONS
        .iter()
        .find(|v| **v == requested)
        .copied()
        .unwrap_or(LATEST_VERSION)
}

/// Method names.
pub mod method {
    /// Handshake request.
    pub const INITIALIZE: &str = "initialize";
    /// Handshake acknowledgement (notification).
    pub const INITIALIZED: &str = "notifications/initialized";
    /// Liveness check.
    pub const PING: &str = "ping";
    /// The client's roots changed (notification).
    pub const ROOTS_LIST_CHANGED: &str = "notifications/roots/list_changed";
    /// Cancels a request (notification).
    pub const CANCELLED: &str = "notifications/cancelled";
    /// Lists tools.
    pub const TOOLS_LIST: &str = "tools/list";
    /// Calls a tool.
    pub const TOOLS_CALL: &str = "tools/call";
    /// Lists resources.
    pub const RESOURCES_LIST: &str = "resources/list";
    /// Lists resource templates.
    pub const RESOURCE_TEMPLATES_LIST: &str = "resources/templates/list";
    /// Reads a resource.
    pub const RESOURCES_READ: &str = "resources/read";
    /// Subscribes to a resource.
    pub const RESOURCES_SUBSCRIBE: &str = "resources/subscribe";
    /// Unsubscribes from a resource.
    pub const RESOURCES_UNSUBSCRIBE: &str = "resources/unsubscribe";
    /// Lists prompts.
    pub const PROMPTS_LIST: &str = "prompts/list";
    /// Gets a prompt.
    pub const PROMPTS_GET: &str = "prompts/get";
    /// Argument completion.
    pub const COMPLETION_COMPLETE: &str = "completion/complete";
    /// Sets the log level.
    pub const LOGGING_SET_LEVEL: &str = "logging/setLevel";
    /// 2026-07-28: what the server offers, without a handshake.
    pub const SERVER_DISCOVER: &str = "server/discover";
    /// 2026-07-28: opens a stream of the notifications asked for.
    pub const SUBSCRIPTIONS_LISTEN: &str = "subscriptions/listen";
    /// 2026-07-28: the first message of a listen stream (notification).
    pub const SUBSCRIPTIONS_ACKNOWLEDGED: &str = "notifications/subscriptions/acknowledged";
    /// Progress of a request that asked for it (notification).
    pub const PROGRESS: &str = "notifications/progress";
    /// A log message from a server (notification).
    pub const MESSAGE: &str = "notifications/message";
    /// A subscribed resource changed (notification).
    pub const RESOURCES_UPDATED: &str = "notifications/resources/updated";
    /// The tool list changed (notification).
    pub const TOOLS_LIST_CHANGED: &str = "notifications/tools/list_changed";
    /// The resource list changed (notification).
    pub const RESOURCES_LIST_CHANGED: &str = "notifications/resources/list_changed";
    /// The prompt list changed (notification).
    pub const PROMPTS_LIST_CHANGED: &str = "notifications/prompts/list_changed";
    /// Server to client: asks the client's model for a completion.
    pub const SAMPLING_CREATE_MESSAGE: &str = "sampling/createMessage";
    /// Server to client: asks the user for input.
    pub const ELICITATION_CREATE: &str = "elicitation/create";
    /// Server to client: asks for the client's roots.
    pub const ROOTS_LIST: &str = "roots/list";
}

/// HTTP header names of the Streamable HTTP transport (MCP specification,
/// "Transports"), in the case the specification writes them. Header names
/// are case-insensitive: lookups compare them so, and what is written
/// keeps this spelling.
pub mod header {
    /// The session a request belongs to; assigned in the `initialize` answer.
    pub const SESSION_ID: &str = "Mcp-Session-Id";
    /// The protocol version negotiated (or, 2026-07-28, of this request).
    pub const PROTOCOL_VERSION: &str = "MCP-Protocol-Version";
    /// 2026-07-28: the request's method, for routing without the body.
    pub const METHOD: &str = "Mcp-Method";
    /// 2026-07-28: the tool or prompt name, or the resource URI.
    pub const NAME: &str = "Mcp-Name";
    /// 2026-07-28: prefix of the headers that mirror chosen params.
    pub const PARAM_PREFIX: &str = "Mcp-Param-";
    /// The last SSE event id seen, to resume a stream (SSE standard).
    pub const LAST_EVENT_ID: &str = "Last-Event-ID";
}

/// The arguments of a `tools/call` that a 2026-07-28 request mirrors in
/// `Mcp-Param-<name>` headers: each property of the tool's input schema
/// that names a header in `x-mcp-header`, with the argument's value when
/// the call has one that is not null, as `(header name, property, value)`.
/// The one walk of the schema: the front checks a client's headers with
/// it, and the router writes a modern backend's (MCP 2026-07-28, Basic ›
/// Transports › Streamable HTTP › Headers).
pub fn param_headers<'a>(
    tool: &'a serde_json::Value,
    arguments: Option<&'a serde_json::Value>,
) -> impl Iterator<Item = (String, &'a str, &'a serde_json::Value)> + 'a {
    tool.pointer("/inputSchema/properties")
        .and_then(serde_json::Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(move |(property, schema)| {
            let header = schema.get("x-mcp-header")?.as_str()?;
            let value = arguments?.get(property).filter(|v| !v.is_null())?;
            Some((
                format!("{}{header}", header::PARAM_PREFIX),
                property.as_str(),
                value,
            ))
        })
}

/// Log levels of `logging/setLevel` (syslog order).
pub const LOG_LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// Where `level` is in [`LOG_LEVELS`]: a lower rank is more verbose, so a
/// message at rank `r` reaches whoever asked for a rank `<= r`. `None` for
/// a word that is no log level.
pub fn log_rank(level: &str) -> Option<usize> {
    LOG_LEVELS.iter().position(|l| *l == level)
}

/// Whether `result` is a 2026-07-28 input-required one (MCP 2026-07-28,
/// Basic › Multi Round-Trip Requests): the server asks the client for
/// input before it completes the request.
pub fn is_input_required(result: &serde_json::Value) -> bool {
    result.get("resultType").and_then(serde_json::Value::as_str) == Some("input_required")
}

/// The client capability a server→client request needs (MCP 2025-06-18,
/// Client Features): `sampling`, `elicitation` or `roots`; `None` for a
/// method a server may not ask a client.
pub fn capability_of(server_request: &str) -> Option<&'static str> {
    match server_request {
        method::SAMPLING_CREATE_MESSAGE => Some("sampling"),
        method::ELICITATION_CREATE => Some("elicitation"),
        method::ROOTS_LIST => Some("roots"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        for v in SUPPORTED_VERSIONS {
            assert_eq!(negotiate(v), v);
        }
        assert_eq!(negotiate("2099-01-01"), LATEST_VERSION);
        assert_eq!(negotiate(""), LATEST_VERSION);
    }

    #[test]
    fn param_headers_are_the_schema_s_x_mcp_header_arguments_that_are_set() {
        let tool = serde_json::json!({"inputSchema": {"properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "count": {"type": "integer", "x-mcp-header": "Count"},
            "gone": {"type": "string", "x-mcp-header": "Gone"},
            "plain": {"type": "string"}
        }}});
        let arguments = serde_json::json!({"region": "eu", "count": 3, "gone": null, "plain": "x"});
        let found: Vec<(String, &str, &serde_json::Value)> =
            param_headers(&tool, Some(&arguments)).collect();
        assert_eq!(
            found,
            [
                ("Mcp-Param-Count".to_owned(), "count", &serde_json::json!(3)),
                (
                    "Mcp-Param-Region".to_owned(),
                    "region",
                    &serde_json::json!("eu")
                ),
            ]
        );
        assert_eq!(param_headers(&tool, None).count(), 0);
        assert_eq!(
            param_headers(&serde_json::json!({}), Some(&arguments)).count(),
            0
        );
    }
}
