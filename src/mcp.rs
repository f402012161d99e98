//! MCP names and versions the gateway reads or writes (mcp-protocol.md §1, §5).
//! Constants only; no IO, no state.

/// Protocol versions the gateway speaks, oldest first.
pub const SUPPORTED_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// The newest supported version: offered to backends, and answered to
/// clients that ask for one we do not support.
pub const LATEST_VERSION: &str = "2025-11-25";

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
}
