//! CORS for browser clients on the MCP paths: a preflight (`OPTIONS`) is
//! answered for an origin the Origin rule allows (others 403), naming every MCP
//! request header; real answers to an allowed origin carry
//! `Access-Control-Allow-Origin` and expose the session and version headers.
//! Credentials are never implied: the bearer token goes in `Authorization`,
//! which the preflight allows.

use super::security::origin_allowed;
use crate::config::Security;
use crate::http::{Request, Response, header, is_token_byte};
use crate::mcp;

/// Request headers a browser client may send (named lower-case in the
/// preflight answer).
const ALLOWED: [&str; 8] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    header::ACCEPT,
    mcp::header::SESSION_ID,
    mcp::header::PROTOCOL_VERSION,
    mcp::header::METHOD,
    mcp::header::NAME,
    mcp::header::LAST_EVENT_ID,
];

/// Response headers a browser client may read.
const EXPOSED: &str = "Mcp-Session-Id, MCP-Protocol-Version";

/// Methods of the MCP paths.
const METHODS: &str = "GET, POST, DELETE, OPTIONS";

/// The request's `Origin`, if the Origin rule allows it.
fn allowed_origin<'r>(req: &'r Request, security: &Security) -> Option<&'r str> {
    let origin = req.header(header::ORIGIN)?;
    origin_allowed(origin, req.header(header::HOST), &security.allowed_origins).then_some(origin)
}

/// Answers `OPTIONS` on an MCP path.
pub(super) fn preflight(req: &Request, security: &Security) -> Response {
    let Some(origin) = req.header(header::ORIGIN) else {
        // Not a CORS preflight: say what the path takes.
        return Response::empty(204).with_header("Allow", METHODS);
    };
    let Some(origin) = allowed_origin(req, security) else {
        return Response::text(
            403,
            format!("forbidden: Origin \"{origin}\" is not allowed\n"),
        );
    };
    // Every MCP header the browser asks for, `Mcp-Param-*` included.
    let mut headers: Vec<String> = ALLOWED.iter().map(|h| h.to_ascii_lowercase()).collect();
    if let Some(asked) = req.header("access-control-request-headers") {
        for name in asked.split(',').map(|h| h.trim().to_ascii_lowercase()) {
            if name.starts_with("mcp-param-")
                && name.bytes().all(is_token_byte)
                && !headers.contains(&name)
            {
                headers.push(name);
            }
        }
    }
    Response::empty(204)
        .with_header("Access-Control-Allow-Origin", origin)
        .with_header("Access-Control-Allow-Methods", METHODS)
        .with_header("Access-Control-Allow-Headers", headers.join(", "))
        .with_header("Access-Control-Expose-Headers", EXPOSED)
        .with_header("Access-Control-Max-Age", "600")
        .with_header("Vary", "Origin")
}

/// Adds the CORS headers to an answer for an allowed origin.
pub(super) fn expose(req: &Request, security: &Security, response: Response) -> Response {
    match allowed_origin(req, security) {
        Some(origin) => response
            .with_header("Access-Control-Allow-Origin", origin)
            .with_header("Access-Control-Expose-Headers", EXPOSED)
            .with_header("Vary", "Origin"),
        None => response,
    }
}
