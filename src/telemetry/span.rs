//! One span as the gateway records it, and its OTLP/HTTP JSON form
//! (<https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding>):
//! trace and span ids in lowercase hex, not base64; `kind` and
//! `status.code` as integers; 64-bit integers (times, `intValue`) as
//! decimal strings; keys in lowerCamelCase. Pure.

use serde_json::{Map, Value, json};

use super::context::to_hex;

/// `SPAN_KIND_SERVER`: the gateway serving a client's request.
pub const SERVER: u8 = 2;
/// `SPAN_KIND_CLIENT`: the gateway's request to a backend.
pub const CLIENT: u8 = 3;

/// `flags` bits: the parent's sampled flag, and whether the parent is
/// known to be remote (0x100) and is (0x200).
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// `stringValue`.
    Str(String),
    /// `intValue`.
    Int(i64),
}

/// A finished span.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// Its trace.
    pub trace_id: [u8; 16],
    /// Its own id.
    pub span_id: [u8; 8],
    /// The parent span, if any, and whether it is another process's.
    pub parent: Option<([u8; 8], bool)>,
    /// The W3C trace flags.
    pub trace_flags: u8,
    /// `SERVER` or `CLIENT`.
    pub kind: u8,
    /// `{mcp.method.name} {target}`.
    pub name: String,
    /// When it began, in nanoseconds since the Unix epoch.
    pub start_ns: u64,
    /// When it ended, likewise.
    pub end_ns: u64,
    /// Its attributes, each key once.
    pub attributes: Vec<(&'static str, Attr)>,
    /// Status ERROR with this description; `None`: unset.
    pub error: Option<String>,
}

impl Span {
    fn to_json(&self) -> Value {
        let mut span = Map::new();
        let mut put = |k: &str, v: Value| {
            span.insert(k.to_owned(), v);
        };
        put("traceId", Value::from(to_hex(&self.trace_id)));
        put("spanId", Value::from(to_hex(&self.span_id)));
        let mut flags = u32::from(self.trace_flags) | HAS_IS_REMOTE;
        if let Some((parent, remote)) = &self.parent {
            put("parentSpanId", Value::from(to_hex(parent)));
            if *remote {
                flags |= IS_REMOTE;
            }
        }
        put("flags", Value::from(flags));
        put("name", Value::from(self.name.as_str()));
        put("kind", Value::from(self.kind));
        put("startTimeUnixNano", Value::from(self.start_ns.to_string()));
        put("endTimeUnixNano", Value::from(self.end_ns.to_string()));
        let attributes: Vec<Value> = self
            .attributes
            .iter()
            .map(|(k, v)| attribute(k, v))
            .collect();
        put("attributes", Value::from(attributes));
        let status = match &self.error {
            Some(message) => json!({"code": 2, "message": message}),
            None => json!({}),
        };
        put("status", status);
        Value::Object(span)
    }
}

fn attribute(key: &str, value: &Attr) -> Value {
    let value = match value {
        Attr::Str(s) => json!({"stringValue": s}),
        Attr::Int(i) => json!({"intValue": i.to_string()}),
    };
    json!({"key": key, "value": value})
}

/// The body of one export: an `ExportTraceServiceRequest` with one
/// resource (`service.name`) and one scope (the gateway).
pub fn export_body(service_name: &str, spans: &[Span]) -> Vec<u8> {
    let spans: Vec<Value> = spans.iter().map(Span::to_json).collect();
    let body = json!({"resourceSpans": [{
        "resource": {"attributes": [attribute("service.name", &Attr::Str(service_name.to_owned()))]},
        "scopeSpans": [{
            "scope": {"name": crate::mcp::IMPLEMENTATION_NAME, "version": crate::mcp::VERSION},
            "spans": spans,
        }],
    }]});
    body.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_the_otlp_json_mapping_says() {
        let span = Span {
            trace_id: [0x0a; 16],
            span_id: [0xb7; 8],
            parent: Some(([0x01; 8], true)),
            trace_flags: 1,
            kind: SERVER,
            name: "tools/call echo".into(),
            start_ns: 1_767_225_600_000_000_000,
            end_ns: 1_767_225_600_250_000_000,
            attributes: vec![
                ("mcp.method.name", Attr::Str("tools/call".into())),
                ("client.port", Attr::Int(52144)),
            ],
            error: Some("Internal error".into()),
        };
        let body: Value = serde_json::from_slice(&export_body("gw", &[span])).unwrap();
        let rs = &body["resourceSpans"][0];
        assert_eq!(
            rs["resource"]["attributes"][0],
            json!({"key": "service.name", "value": {"stringValue": "gw"}})
        );
        let s = &rs["scopeSpans"][0]["spans"][0];
        assert_eq!(s["traceId"], "0a".repeat(16));
        assert_eq!(s["spanId"], "b7".repeat(8));
        assert_eq!(s["parentSpanId"], "01".repeat(8));
        assert_eq!(s["flags"], 0x301);
        assert_eq!(s["kind"], 2);
        assert_eq!(s["startTimeUnixNano"], "1767225600000000000");
        assert_eq!(s["attributes"][1]["value"], json!({"intValue": "52144"}));
        assert_eq!(s["status"], json!({"code": 2, "message": "Internal error"}));
    }
}
