//! One span as the gateway records it, and its OTLP/HTTP JSON form
//! (<https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding>):
//! trace and span ids in lowercase hex, not base64; `kind` and
//! `status.code` as integers; 64-bit integers (times, `intValue`) as
//! decimal strings; keys in lowerCamelCase. Pure.

use std::io::Write as _;

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
    /// Appends the span's JSON to `out`, written straight into the
    /// buffer (no value tree: the exporter encodes every span of every
    /// call).
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"traceId\":\"");
        hex_into(out, &self.trace_id);
        out.extend_from_slice(b"\",\"spanId\":\"");
        hex_into(out, &self.span_id);
        out.push(b'"');
        let mut flags = u32::from(self.trace_flags) | HAS_IS_REMOTE;
        if let Some((parent, remote)) = &self.parent {
            out.extend_from_slice(b",\"parentSpanId\":\"");
            hex_into(out, parent);
            out.push(b'"');
            if *remote {
                flags |= IS_REMOTE;
            }
        }
        let _ = write!(out, ",\"flags\":{flags},\"name\":");
        string_into(out, &self.name);
        let _ = write!(
            out,
            ",\"kind\":{},\"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\",\"attributes\":[",
            self.kind, self.start_ns, self.end_ns
        );
        for (i, (key, value)) in self.attributes.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            attribute_into(out, key, value);
        }
        out.extend_from_slice(b"],\"status\":");
        match &self.error {
            Some(message) => {
                out.extend_from_slice(b"{\"code\":2,\"message\":");
                string_into(out, message);
                out.push(b'}');
            }
            None => out.extend_from_slice(b"{}"),
        }
        out.push(b'}');
    }
}

/// Appends `{"key":…,"value":{…}}`.
fn attribute_into(out: &mut Vec<u8>, key: &str, value: &Attr) {
    out.extend_from_slice(b"{\"key\":");
    string_into(out, key);
    match value {
        Attr::Str(s) => {
            out.extend_from_slice(b",\"value\":{\"stringValue\":");
            string_into(out, s);
            out.extend_from_slice(b"}}");
        }
        Attr::Int(i) => {
            let _ = write!(out, ",\"value\":{{\"intValue\":\"{i}\"}}}}");
        }
    }
}

/// Appends `text` as a JSON string (serde_json's escaping).
fn string_into(out: &mut Vec<u8>, text: &str) {
    // Writing to a Vec cannot fail, and a str always serializes.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// Appends `bytes` as lowercase hex.
fn hex_into(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
    }
}

/// The body of one export: an `ExportTraceServiceRequest` with one
/// resource (`service.name`) and one scope (the gateway).
pub fn export_body(service_name: &str, spans: &[Span]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + 1024 * spans.len());
    out.extend_from_slice(b"{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    attribute_into(
        &mut out,
        "service.name",
        &Attr::Str(service_name.to_owned()),
    );
    out.extend_from_slice(b"]},\"scopeSpans\":[{\"scope\":{\"name\":");
    string_into(&mut out, crate::mcp::IMPLEMENTATION_NAME);
    out.extend_from_slice(b",\"version\":");
    string_into(&mut out, crate::mcp::VERSION);
    out.extend_from_slice(b"},\"spans\":[");
    for (i, span) in spans.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        span.write_json(&mut out);
    }
    out.extend_from_slice(b"]}]}]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

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
        // A root span; text that needs escaping.
        let root = Span {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent: None,
            trace_flags: 1,
            kind: CLIENT,
            name: "tools/call \"quoted\"\n\u{e9}".into(),
            start_ns: 1,
            end_ns: 2,
            attributes: vec![("mcp.resource.uri", Attr::Str("file:///a\\b".into()))],
            error: None,
        };
        let body: Value =
            serde_json::from_slice(&export_body("g\"w", &[root.clone(), root])).unwrap();
        let spans = &body["resourceSpans"][0]["scopeSpans"][0]["spans"];
        assert_eq!(spans.as_array().unwrap().len(), 2);
        assert!(spans[0].get("parentSpanId").is_none());
        assert_eq!(spans[0]["flags"], 0x101);
        assert_eq!(spans[0]["kind"], 3);
        assert_eq!(spans[0]["name"], "tools/call \"quoted\"\n\u{e9}");
        assert_eq!(
            spans[0]["attributes"][0]["value"]["stringValue"],
            "file:///a\\b"
        );
        assert_eq!(spans[0]["status"], json!({}));
        assert_eq!(
            body["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
            "g\"w"
        );
    }
}
