//! Answers client messages: the MCP handshake, ping, and the catalog methods.
//!
//! The gateway answers `initialize` and `ping` itself (PRODUCT §6.1). Until
//! backends are connected (a later layer), the catalog is empty: the list
//! methods return empty lists, and calls naming a tool, prompt or resource
//! get the errors PRODUCT §6.7 gives for unknown names. Replies go out
//! through [`Session::send`], so a transport never waits on the router.

use log::debug;
use serde_json::{Value, json};

use crate::jsonrpc::{ErrorObject, Message, RequestId, code};
use crate::mcp::{self, method};
use crate::session::Session;

/// Dispatches client messages.
#[derive(Debug, Default)]
pub struct Router {}

impl Router {
    /// A router with an empty catalog.
    pub fn new() -> Router {
        Router {}
    }

    /// Handles one message from `session`; any reply is queued on it.
    pub fn handle(&self, session: &Session, message: Message) {
        match message {
            Message::Request { id, method, params } => {
                let reply = match self.request(session, &method, params.as_ref()) {
                    Ok(result) => Message::response(id, result),
                    Err(error) => Message::Error {
                        id: Some(id),
                        error,
                    },
                };
                session.send(&reply);
            }
            Message::Notification { method, .. } => self.notification(session, &method),
            Message::Response { id, .. } => debug!(
                "session {}: response to unknown request {id} dropped",
                session.short_id()
            ),
            Message::Error { id, error } => debug!(
                "session {}: error response ({} {}) to unknown request {:?} dropped",
                session.short_id(),
                error.code,
                error.message,
                id.as_ref().map(RequestId::to_string)
            ),
        }
    }

    fn request(
        &self,
        session: &Session,
        name: &str,
        params: Option<&Value>,
    ) -> Result<Value, ErrorObject> {
        if name == method::PING {
            return Ok(json!({}));
        }
        if name == method::INITIALIZE {
            return initialize(session, params);
        }
        if !session.state().initialized {
            return Err(ErrorObject::new(
                code::INVALID_REQUEST,
                format!("session not initialized: send \"initialize\" before \"{name}\""),
            ));
        }
        match name {
            method::TOOLS_LIST => list(params, "tools"),
            method::RESOURCES_LIST => list(params, "resources"),
            method::RESOURCE_TEMPLATES_LIST => list(params, "resourceTemplates"),
            method::PROMPTS_LIST => list(params, "prompts"),
            method::TOOLS_CALL => Err(unknown(params, "name", "tool")),
            method::PROMPTS_GET => Err(unknown(params, "name", "prompt")),
            method::RESOURCES_READ
            | method::RESOURCES_SUBSCRIBE
            | method::RESOURCES_UNSUBSCRIBE => {
                let uri = string_param(params, "uri")?;
                Err(ErrorObject {
                    code: code::RESOURCE_NOT_FOUND,
                    message: format!("resource not found: \"{uri}\""),
                    data: Some(json!({"uri": uri})),
                })
            }
            method::COMPLETION_COMPLETE => {
                let reference = params.and_then(|p| p.get("ref"));
                let target = reference
                    .and_then(|r| r.get("name").or_else(|| r.get("uri")))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        invalid("completion/complete needs params.ref with a name or uri")
                    })?;
                Err(invalid(format!(
                    "unknown completion reference: \"{target}\""
                )))
            }
            method::LOGGING_SET_LEVEL => {
                let level = string_param(params, "level")?;
                if !mcp::LOG_LEVELS.contains(&level.as_str()) {
                    return Err(invalid(format!("unknown log level \"{level}\"")));
                }
                session.state().log_level = Some(level);
                Ok(json!({}))
            }
            other => Err(ErrorObject::new(
                code::METHOD_NOT_FOUND,
                format!("method not found: \"{other}\""),
            )),
        }
    }

    fn notification(&self, session: &Session, name: &str) {
        match name {
            method::INITIALIZED => session.state().client_ready = true,
            method::CANCELLED => {}
            other => debug!(
                "session {}: notification {other} ignored",
                session.short_id()
            ),
        }
    }
}

fn initialize(session: &Session, params: Option<&Value>) -> Result<Value, ErrorObject> {
    let requested = params
        .and_then(|p| p.get("protocolVersion"))
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("initialize needs params.protocolVersion (a string)"))?;
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
    state.client_capabilities = params
        .and_then(|p| p.get("capabilities"))
        .cloned()
        .unwrap_or_else(|| json!({}));
    state.client_info = params
        .and_then(|p| p.get("clientInfo"))
        .cloned()
        .unwrap_or(Value::Null);
    Ok(json!({
        "protocolVersion": version,
        "capabilities": {
            "tools": {"listChanged": true},
            "resources": {"listChanged": true},
            "prompts": {"listChanged": true},
        },
        "serverInfo": {"name": mcp::IMPLEMENTATION_NAME, "version": mcp::VERSION},
    }))
}

/// A list method's answer: the whole list in one page. We never hand out
/// cursors, so any cursor is invalid.
fn list(params: Option<&Value>, key: &str) -> Result<Value, ErrorObject> {
    if params
        .and_then(|p| p.get("cursor"))
        .is_some_and(|c| !c.is_null())
    {
        return Err(invalid("invalid cursor"));
    }
    Ok(json!({ key: [] }))
}

fn unknown(params: Option<&Value>, key: &str, what: &str) -> ErrorObject {
    match string_param(params, key) {
        Ok(name) => invalid(format!("unknown {what}: \"{name}\"")),
        Err(e) => e,
    }
}

fn string_param(params: Option<&Value>, key: &str) -> Result<String, ErrorObject> {
    params
        .and_then(|p| p.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| invalid(format!("missing string parameter \"{key}\"")))
}

fn invalid(message: impl Into<String>) -> ErrorObject {
    ErrorObject::new(code::INVALID_PARAMS, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Transport;
    use crate::session::Outbound;
    use std::sync::mpsc::Receiver;

    fn session() -> (Session, Receiver<Outbound>) {
        Session::new(
            "0".repeat(32),
            Transport::Sse,
            "127.0.0.1:1".parse().unwrap(),
            None,
            16,
        )
    }

    fn ask(router: &Router, s: &Session, rx: &Receiver<Outbound>, text: &str) -> Value {
        let msg = Message::parse(serde_json::from_str(text).unwrap()).unwrap();
        router.handle(s, msg);
        match rx.try_recv().unwrap() {
            Outbound::Message(m) => serde_json::from_str(&m).unwrap(),
            Outbound::Close => panic!("closed"),
        }
    }

    #[test]
    fn handshake_and_lists() {
        let (s, rx) = session();
        let r = Router::new();
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
    fn unsupported_version_gets_latest() {
        let (s, rx) = session();
        let v = ask(
            &Router::new(),
            &s,
            &rx,
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1999-01-01"}}"#,
        );
        assert_eq!(v["result"]["protocolVersion"], mcp::LATEST_VERSION);
    }
}
