//! Where a legacy SSE backend wants its POSTs: the `endpoint` event's data
//! resolved against the stream's URL (RFC 3986 §5.2, dot segments
//! removed), and refused when it names another origin, so a backend cannot
//! make the gateway POST elsewhere with its credentials. Also the URL
//! pieces `launch` polls (host and port). Pure: no IO here.

use std::fmt;

/// Why an `endpoint` event's data is not a usable message endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointError {
    /// The event's data is empty.
    Empty,
    /// The data contains whitespace (a URL reference has none).
    Whitespace,
    /// The backend URL is not an absolute URL.
    BadBase(String),
    /// The resolved endpoint is not an absolute URL.
    BadEndpoint(String),
    /// The endpoint is on another origin than the stream: refused, so a
    /// backend cannot make the gateway POST elsewhere with its credentials.
    OtherOrigin {
        /// The resolved endpoint.
        endpoint: String,
        /// The backend URL.
        base: String,
    },
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointError::Empty => f.write_str("empty endpoint event"),
            EndpointError::Whitespace => f.write_str("endpoint contains whitespace"),
            EndpointError::BadBase(base) => write!(f, "bad backend URL {base}"),
            EndpointError::BadEndpoint(reference) => write!(f, "bad endpoint {reference}"),
            EndpointError::OtherOrigin { endpoint, base } => write!(
                f,
                "endpoint {endpoint} is on another origin than {base}; refused"
            ),
        }
    }
}

impl std::error::Error for EndpointError {}

/// `scheme://authority` and the path of an absolute http(s) URL.
pub(super) fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let path = path.split(['?', '#']).next().unwrap_or("");
    Some((scheme, authority, path))
}

/// Host (without brackets) and port of an authority, the port defaulting by scheme.
pub(super) fn host_port(scheme: &str, authority: &str) -> (String, u16) {
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let default = if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, after)) => (h, after.strip_prefix(':')),
            None => (rest, None),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = port.and_then(|p| p.parse().ok()).unwrap_or(default);
    (host.to_ascii_lowercase(), port)
}

/// The origin (scheme, host, port) of a URL, comparable across spellings.
fn origin(scheme: &str, authority: &str) -> (String, String, u16) {
    let (host, port) = host_port(scheme, authority);
    (scheme.to_ascii_lowercase(), host, port)
}

/// Resolves the `endpoint` event's data against the SSE URL (RFC 3986 §5.2)
/// and refuses another origin.
pub fn resolve_endpoint(base: &str, reference: &str) -> Result<String, EndpointError> {
    if reference.is_empty() {
        return Err(EndpointError::Empty);
    }
    if reference.contains(['\r', '\n', ' ']) {
        return Err(EndpointError::Whitespace);
    }
    let (scheme, authority, base_path) =
        split_url(base).ok_or_else(|| EndpointError::BadBase(base.to_owned()))?;
    let resolved = if reference.contains("://") {
        reference.to_owned()
    } else if let Some(rest) = reference.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if reference.starts_with('/') {
        format!("{scheme}://{authority}{}", remove_dots(reference))
    } else if reference.starts_with('?') {
        format!("{scheme}://{authority}{base_path}{reference}")
    } else {
        let dir = base_path.rfind('/').map_or("/", |i| &base_path[..=i]);
        format!(
            "{scheme}://{authority}{}",
            remove_dots(&format!("{dir}{reference}"))
        )
    };
    let (r_scheme, r_authority, _) =
        split_url(&resolved).ok_or_else(|| EndpointError::BadEndpoint(reference.to_owned()))?;
    if origin(r_scheme, r_authority) != origin(scheme, authority) {
        return Err(EndpointError::OtherOrigin {
            endpoint: resolved,
            base: base.to_owned(),
        });
    }
    Ok(resolved)
}

/// Removes `.` and `..` segments from a path (keeping its query).
fn remove_dots(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.find(['?', '#']) {
        Some(i) => path_and_query.split_at(i),
        None => (path_and_query, ""),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {
                if i == segments.len() - 1 {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == segments.len() - 1 {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("{}{query}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_resolution() {
        let base = "http://127.0.0.1:8000/sse";
        assert_eq!(
            resolve_endpoint(base, "/messages/?session_id=ab").unwrap(),
            "http://127.0.0.1:8000/messages/?session_id=ab"
        );
        assert_eq!(
            resolve_endpoint(base, "/message?sessionId=x").unwrap(),
            "http://127.0.0.1:8000/message?sessionId=x"
        );
        assert_eq!(
            resolve_endpoint("http://h/api/v1/sse", "messages?x=1").unwrap(),
            "http://h/api/v1/messages?x=1"
        );
        assert_eq!(
            resolve_endpoint("http://h/api/v1/sse", "../m").unwrap(),
            "http://h/api/m"
        );
        assert_eq!(
            resolve_endpoint(base, "http://127.0.0.1:8000/m").unwrap(),
            "http://127.0.0.1:8000/m"
        );
        assert_eq!(
            resolve_endpoint("https://h/sse", "https://H:443/m").unwrap(),
            "https://H:443/m"
        );
        assert!(resolve_endpoint(base, "http://127.0.0.1:8001/m").is_err());
        assert!(resolve_endpoint(base, "https://127.0.0.1:8000/m").is_err());
        assert!(resolve_endpoint(base, "//evil.example/m").is_err());
        assert!(resolve_endpoint(base, "").is_err());
    }

    #[test]
    fn endpoint_errors_say_what_is_wrong() {
        let base = "http://127.0.0.1:8000/sse";
        assert_eq!(resolve_endpoint(base, ""), Err(EndpointError::Empty));
        assert_eq!(
            resolve_endpoint(base, "/m x"),
            Err(EndpointError::Whitespace)
        );
        assert_eq!(
            resolve_endpoint("not a url", "/m"),
            Err(EndpointError::BadBase("not a url".into()))
        );
        let foreign = resolve_endpoint(base, "http://127.0.0.1:8001/m").unwrap_err();
        assert_eq!(
            foreign.to_string(),
            "endpoint http://127.0.0.1:8001/m is on another origin than \
             http://127.0.0.1:8000/sse; refused"
        );
    }
}
