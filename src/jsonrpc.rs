//! JSON-RPC 2.0 messages as MCP narrows them (MCP specification, "Base
//! Protocol": ids are strings or integers, never null; params are an object
//! or an array; a response has a result or an error, not both). No IO.
//!
//! Params and results stay `serde_json::Value` so that everything the
//! gateway does not read passes through unchanged. [`Message::parse`]
//! classifies a decoded JSON value and says precisely why one is invalid,
//! keeping the request id when it could be read so the error can name it.
//! A [`Message`] is written with [`Message::to_json_text`] (or any serde
//! serializer); nothing else in the crate builds an envelope by hand.

use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value, json};

/// JSON-RPC and MCP error codes, by name: the `code` of an [`ErrorObject`].
pub mod code {
    /// Invalid JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// Unknown method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Bad params, unknown tool or prompt, bad cursor.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal error: backend down, timed out, disconnected.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// MCP: resource not found (2025 era; 2026-07-28 uses -32602).
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
    /// MCP 2026-07-28: a routing header does not match the body.
    pub const HEADER_MISMATCH: i64 = -32020;
    /// MCP 2026-07-28: the request needs a client capability it lacks.
    pub const MISSING_CAPABILITY: i64 = -32021;
    /// MCP 2026-07-28: the protocol version is not served.
    pub const UNSUPPORTED_VERSION: i64 = -32022;
    /// Server error (JSON-RPC's implementation-defined range, -32000 to
    /// -32099): an HTTP-level refusal on `/mcp` that has no request to
    /// answer — missing or bad session or version header, wrong
    /// `Content-Type`, a second GET stream, over `rate_limits`.
    pub const SERVER_ERROR: i64 = -32000;
    /// Server error range: the `Mcp-Session-Id` names no live session of
    /// this client (with 404, so the client starts a new one, as MCP's
    /// "Session Management" asks).
    pub const SESSION_NOT_FOUND: i64 = -32001;
    /// LSP's `RequestCancelled`: the client cancelled the request. MCP sends
    /// no answer to a cancelled request, but a JSON POST must still end.
    pub const REQUEST_CANCELLED: i64 = -32800;
}

/// A request id: MCP allows a string or an integer, never null.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RequestId {
    /// An integer id.
    Number(i64),
    /// A string id.
    String(String),
}

impl RequestId {
    /// Reads an id from JSON; `None` for null, floats, objects, ...
    pub fn from_value(value: &Value) -> Option<RequestId> {
        match value {
            Value::Number(n) => n.as_i64().map(RequestId::Number),
            Value::String(s) => Some(RequestId::String(s.clone())),
            _ => None,
        }
    }

    /// The id as JSON.
    pub fn to_value(&self) -> Value {
        match self {
            RequestId::Number(n) => Value::from(*n),
            RequestId::String(s) => Value::from(s.as_str()),
        }
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestId::Number(n) => write!(f, "{n}"),
            RequestId::String(s) => write!(f, "{s:?}"),
        }
    }
}

/// A number or a string, as [`RequestId::to_value`] gives it.
impl Serialize for RequestId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RequestId::Number(n) => serializer.serialize_i64(*n),
            RequestId::String(s) => serializer.serialize_str(s),
        }
    }
}

/// The error member of an error response.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorObject {
    /// Error code.
    pub code: i64,
    /// Short description.
    pub message: String,
    /// Extra data.
    pub data: Option<Value>,
}

impl ErrorObject {
    /// An error without data.
    pub fn new(code: i64, message: impl Into<String>) -> ErrorObject {
        ErrorObject {
            code,
            message: message.into(),
            data: None,
        }
    }

    fn to_value(&self) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(data) = &self.data {
            error["data"] = data.clone();
        }
        error
    }
}

/// Members in key order (`code`, `data`, `message`), as the sorted
/// `serde_json::Map` of [`ErrorObject::to_value`] writes them.
impl Serialize for ErrorObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("code", &self.code)?;
        if let Some(data) = &self.data {
            map.serialize_entry("data", data)?;
        }
        map.serialize_entry("message", &self.message)?;
        map.end()
    }
}

/// One JSON-RPC message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A request: expects a response.
    Request {
        /// Its id.
        id: RequestId,
        /// Method name.
        method: String,
        /// Params, if any (an object or array).
        params: Option<Value>,
    },
    /// A notification: no response.
    Notification {
        /// Method name.
        method: String,
        /// Params, if any.
        params: Option<Value>,
    },
    /// A success response.
    Response {
        /// The request's id.
        id: RequestId,
        /// The result.
        result: Value,
    },
    /// An error response; the id is absent when the request's was unreadable.
    Error {
        /// The request's id.
        id: Option<RequestId>,
        /// The error.
        error: ErrorObject,
    },
}

/// Why a JSON value is not a valid message.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// The id, when it could be read (the error response should carry it).
    pub id: Option<RequestId>,
    /// What is wrong.
    pub reason: &'static str,
}

impl Message {
    /// Classifies a decoded JSON value.
    pub fn parse(value: Value) -> Result<Message, Invalid> {
        let Value::Object(mut obj) = value else {
            return Err(Invalid {
                id: None,
                reason: "a JSON-RPC message must be an object",
            });
        };
        let raw_id = obj.remove("id");
        let id = raw_id.as_ref().and_then(RequestId::from_value);
        let fail = |reason| {
            Err(Invalid {
                id: id.clone(),
                reason,
            })
        };
        if obj.get("jsonrpc") != Some(&Value::from("2.0")) {
            return fail("\"jsonrpc\" must be \"2.0\"");
        }
        if let Some(method) = obj.remove("method") {
            let Value::String(method) = method else {
                return fail("\"method\" must be a string");
            };
            let params = obj.remove("params");
            if params
                .as_ref()
                .is_some_and(|p| !p.is_object() && !p.is_array())
            {
                return fail("\"params\" must be an object or an array");
            }
            return match (raw_id, id.clone()) {
                (None, _) => Ok(Message::Notification { method, params }),
                (Some(_), Some(id)) => Ok(Message::Request { id, method, params }),
                (Some(_), None) => fail("\"id\" must be a string or an integer"),
            };
        }
        match (obj.remove("result"), obj.remove("error")) {
            (Some(result), None) => match id {
                Some(id) => Ok(Message::Response { id, result }),
                None => fail("a response needs a string or integer \"id\""),
            },
            (None, Some(error)) => {
                let code = error.get("code").and_then(Value::as_i64);
                let message = error.get("message").and_then(Value::as_str);
                match (code, message) {
                    (Some(code), Some(message)) => Ok(Message::Error {
                        id,
                        error: ErrorObject {
                            code,
                            message: message.to_owned(),
                            data: error.get("data").cloned(),
                        },
                    }),
                    _ => fail("\"error\" needs an integer \"code\" and a string \"message\""),
                }
            }
            (Some(_), Some(_)) => fail("a response has \"result\" or \"error\", not both"),
            (None, None) => fail("neither a request, a notification nor a response"),
        }
    }

    /// The message as JSON.
    pub fn to_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("jsonrpc".into(), "2.0".into());
        match self {
            Message::Request { id, method, params } => {
                obj.insert("id".into(), id.to_value());
                obj.insert("method".into(), method.as_str().into());
                if let Some(p) = params {
                    obj.insert("params".into(), p.clone());
                }
            }
            Message::Notification { method, params } => {
                obj.insert("method".into(), method.as_str().into());
                if let Some(p) = params {
                    obj.insert("params".into(), p.clone());
                }
            }
            Message::Response { id, result } => {
                obj.insert("id".into(), id.to_value());
                obj.insert("result".into(), result.clone());
            }
            Message::Error { id, error } => {
                obj.insert(
                    "id".into(),
                    id.as_ref().map_or(Value::Null, RequestId::to_value),
                );
                obj.insert("error".into(), error.to_value());
            }
        }
        Value::Object(obj)
    }

    /// The message as JSON text, byte for byte what
    /// `self.to_value().to_string()` gives, without building the tree.
    pub fn to_json_text(&self) -> String {
        // Cannot fail: every map key is a string and no `Serialize` here
        // returns an error of its own.
        serde_json::to_string(self).expect("a JSON-RPC message serializes")
    }

    /// A notification.
    pub fn notification(method: impl Into<String>, params: Option<Value>) -> Message {
        Message::Notification {
            method: method.into(),
            params,
        }
    }

    /// A success response.
    pub fn response(id: RequestId, result: Value) -> Message {
        Message::Response { id, result }
    }

    /// An error response.
    pub fn error(id: Option<RequestId>, code: i64, message: impl Into<String>) -> Message {
        Message::error_with_data(id, code, message, None)
    }

    /// An error response whose error may carry `data`.
    pub fn error_with_data(
        id: Option<RequestId>,
        code: i64,
        message: impl Into<String>,
        data: Option<Value>,
    ) -> Message {
        Message::Error {
            id,
            error: ErrorObject {
                code,
                message: message.into(),
                data,
            },
        }
    }
}

/// Members in key order, as the sorted `serde_json::Map` of
/// [`Message::to_value`] writes them (serde_json's `preserve_order` is
/// off), so the text is byte for byte `to_value().to_string()`; the wire
/// tests compare bodies exactly.
impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match self {
            Message::Request { id, method, params } => {
                map.serialize_entry("id", id)?;
                map.serialize_entry("jsonrpc", "2.0")?;
                map.serialize_entry("method", method)?;
                if let Some(p) = params {
                    map.serialize_entry("params", p)?;
                }
            }
            Message::Notification { method, params } => {
                map.serialize_entry("jsonrpc", "2.0")?;
                map.serialize_entry("method", method)?;
                if let Some(p) = params {
                    map.serialize_entry("params", p)?;
                }
            }
            Message::Response { id, result } => {
                map.serialize_entry("id", id)?;
                map.serialize_entry("jsonrpc", "2.0")?;
                map.serialize_entry("result", result)?;
            }
            Message::Error { id, error } => {
                map.serialize_entry("error", error)?;
                map.serialize_entry("id", id)?;
                map.serialize_entry("jsonrpc", "2.0")?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Message, Invalid> {
        Message::parse(serde_json::from_str(text).unwrap())
    }

    #[test]
    fn variants() {
        assert!(matches!(
            parse(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Ok(Message::Request {
                id: RequestId::Number(1),
                ..
            })
        ));
        assert!(matches!(
            parse(r#"{"jsonrpc":"2.0","id":"a","method":"x","params":{}}"#),
            Ok(Message::Request {
                id: RequestId::String(_),
                params: Some(_),
                ..
            })
        ));
        assert!(matches!(
            parse(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Ok(Message::Notification { .. })
        ));
        assert!(matches!(
            parse(r#"{"jsonrpc":"2.0","id":3,"result":{}}"#),
            Ok(Message::Response { .. })
        ));
        assert!(matches!(
            parse(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-1,"message":"m"}}"#),
            Ok(Message::Error { id: None, .. })
        ));
    }

    #[test]
    fn invalid_messages_keep_the_id() {
        let e = parse(r#"{"jsonrpc":"1.0","id":7,"method":"x"}"#).unwrap_err();
        assert_eq!(e.id, Some(RequestId::Number(7)));
        for bad in [
            r#"[]"#,
            r#"{"id":1,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":5}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"x","params":3}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{}}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    /// Found by the `jsonrpc` fuzz target: a large number in `data` changed
    /// by one unit in the last place through parse → serialize → parse
    /// (serde_json's fast float parser); with `float_roundtrip` values the
    /// gateway re-serializes stay exact.
    #[test]
    fn numbers_survive_a_round_trip_exactly() {
        let text = r#"{"jsonrpc":"2.0","error":{"code":999999999980,"message":"m","data":[9191911111211111111111111111111190, 0.1, 1e308, 5e-324]}}"#;
        let message = parse(text).unwrap();
        let again = parse(&message.to_value().to_string()).unwrap();
        assert_eq!(again, message);
    }

    /// The serde text equals `to_value().to_string()` for every variant,
    /// with params/data absent and present and a null error id, with keys
    /// that sort before and after the envelope's own.
    #[test]
    fn serialize_writes_what_to_value_writes() {
        let params = json!({"z": [1, 2.5, "x"], "a": {"b": null}, "_meta": {"k": "\u{1F600}\n"}});
        let messages = [
            Message::Request {
                id: RequestId::Number(-3),
                method: "tools/call".into(),
                params: None,
            },
            Message::Request {
                id: RequestId::String("a\"b".into()),
                method: "x".into(),
                params: Some(params.clone()),
            },
            Message::Request {
                id: RequestId::Number(1),
                method: "m".into(),
                params: Some(json!([1, {"b": 2, "a": 1}])),
            },
            Message::notification("notifications/initialized", None),
            Message::notification("notifications/progress", Some(params.clone())),
            Message::response(RequestId::Number(i64::MAX), json!({})),
            Message::response(RequestId::String(String::new()), params.clone()),
            Message::error(None, code::PARSE_ERROR, "Parse error"),
            Message::error(Some(RequestId::Number(7)), code::INVALID_PARAMS, "bad"),
            Message::error_with_data(
                Some(RequestId::String("s".into())),
                code::UNSUPPORTED_VERSION,
                "version",
                Some(json!({"supported": ["a"], "requested": "b"})),
            ),
            Message::error_with_data(None, -1, "m", Some(Value::Null)),
            Message::error_with_data(None, 5, "m", Some(json!(1e308))),
        ];
        for message in messages {
            let expected = message.to_value().to_string();
            assert_eq!(message.to_json_text(), expected);
            assert_eq!(serde_json::to_string(&message).unwrap(), expected);
        }
    }

    #[test]
    fn round_trip() {
        for text in [
            r#"{"id":1,"jsonrpc":"2.0","method":"ping"}"#,
            r#"{"id":"x","jsonrpc":"2.0","result":{"a":[1]}}"#,
            r#"{"error":{"code":-32601,"message":"m"},"id":null,"jsonrpc":"2.0"}"#,
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(parse(text).unwrap().to_value(), value);
        }
    }
}
