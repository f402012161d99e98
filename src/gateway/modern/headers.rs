//! The routing headers of a 2026-07-28 request (`MCP-Protocol-Version`,
//! `Mcp-Method`, `Mcp-Name`, and `Mcp-Param-*` for a tool's
//! `x-mcp-header` arguments) against its body: each must be there once and
//! say what the body says, plain or in the strict `=?base64?…?=` form
//! (MCP 2026-07-28, Basic › Transports › Streamable HTTP › Headers).

use super::*;

/// A header value in the 2026-07-28 encoding: `=?base64?…?=` is decoded
/// strictly (bad Base64 or UTF-8: `None`); anything else is literal. OWS
/// is trimmed.
pub(crate) fn header_value(raw: &str) -> Option<String> {
    let raw = raw.trim_matches([' ', '\t']);
    match raw
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(coded) => String::from_utf8(crate::base64::decode(coded)?).ok(),
        None => Some(raw.to_owned()),
    }
}

/// Why a routing header does not stand for the body (-32020); `Display`
/// is the error's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HeaderMismatch {
    /// A header the body needs is absent (for argument `property`, if it
    /// is an `Mcp-Param-*` one).
    Missing {
        name: String,
        property: Option<String>,
    },
    /// The header came twice.
    Repeated { name: String },
    /// Its value is not the body's (`body` as the message quotes it).
    Differs {
        name: String,
        header: String,
        body: String,
    },
    /// Its `=?base64?…?=` value does not decode to UTF-8.
    NotBase64 { name: String },
}

impl std::fmt::Display for HeaderMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Header mismatch: ")?;
        match self {
            HeaderMismatch::Missing {
                name,
                property: None,
            } => write!(f, "{name} header is required"),
            HeaderMismatch::Missing {
                name,
                property: Some(p),
            } => write!(f, "{name} header is required for argument '{p}'"),
            HeaderMismatch::Repeated { name } => write!(f, "{name} header is repeated"),
            HeaderMismatch::Differs { name, header, body } => write!(
                f,
                "{name} header value '{header}' does not match body value {body}"
            ),
            HeaderMismatch::NotBase64 { name } => {
                write!(f, "{name} header value is not valid Base64 UTF-8")
            }
        }
    }
}

impl std::error::Error for HeaderMismatch {}

/// Checks one routing header against the body's value: missing,
/// duplicated, badly encoded or different is a mismatch.
pub(super) fn check_header(
    req: &Request,
    name: &str,
    expected: &str,
) -> Result<(), HeaderMismatch> {
    let mut values = req.head.header_all(name);
    let (Some(first), None) = (values.next(), values.next()) else {
        let name = name.to_owned();
        return Err(match req.header(&name) {
            None => HeaderMismatch::Missing {
                name,
                property: None,
            },
            Some(_) => HeaderMismatch::Repeated { name },
        });
    };
    match header_value(first) {
        Some(v) if v == expected => Ok(()),
        Some(v) => Err(HeaderMismatch::Differs {
            name: name.to_owned(),
            header: v,
            body: format!("'{expected}'"),
        }),
        None => Err(HeaderMismatch::NotBase64 {
            name: name.to_owned(),
        }),
    }
}

/// Whether a decoded header value stands for `value` (integers compare
/// numerically, `42.0` = `42`).
pub(super) fn same_value(header: &str, value: &Value) -> bool {
    match value {
        Value::String(s) => header == s,
        Value::Bool(b) => header == if *b { "true" } else { "false" },
        Value::Number(n) => header
            .parse::<f64>()
            .ok()
            .zip(n.as_f64())
            .is_some_and(|(h, v)| h == v),
        _ => false,
    }
}

/// Checks the `Mcp-Param-*` headers of a `tools/call` against the tool's
/// `x-mcp-header` arguments: a present, non-null value needs its header.
pub(super) fn check_param_headers(
    req: &Request,
    tool: &Value,
    arguments: Option<&Value>,
) -> Result<(), HeaderMismatch> {
    for (name, property, value) in mcp::param_headers(tool, arguments) {
        let Some(raw) = req.header(&name) else {
            return Err(HeaderMismatch::Missing {
                name,
                property: Some(property.to_owned()),
            });
        };
        match header_value(raw) {
            Some(decoded) if same_value(&decoded, value) => {}
            Some(decoded) => {
                return Err(HeaderMismatch::Differs {
                    name,
                    header: decoded,
                    body: value.to_string(),
                });
            }
            None => return Err(HeaderMismatch::NotBase64 { name }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_decode_strictly() {
        assert_eq!(header_value(" us-west1 ").as_deref(), Some("us-west1"));
        assert_eq!(
            header_value("=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
            Some("Hello, 世界")
        );
        assert_eq!(
            header_value("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=").as_deref(),
            Some("=?base64?literal?=")
        );
        assert_eq!(header_value("=?base64?SGVsbG8?="), None, "bad padding");
        assert_eq!(header_value("=?base64?SGVs!!!bG8=?="), None, "bad alphabet");
        assert_eq!(
            header_value("=?base64?SGVsbG8=").as_deref(),
            Some("=?base64?SGVsbG8=")
        );
        assert!(same_value("42", &json!(42.0)));
        assert!(same_value("true", &json!(true)));
        assert!(!same_value("TRUE", &json!(true)));
    }
}
