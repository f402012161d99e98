//! A small HTTP/1.1 server on std threads: the lowest layer of the gateway.
//!
//! `parse` reads request heads and `body` decodes request bodies; both are
//! pure push-style parsers with no socket access. `response` builds and
//! writes responses (`frame`: a streamed body's frame on the wire;
//! `shared_stream`: a stream's socket shared with the threads that write
//! frames to it directly), `server` owns the listener, one thread per
//! connection, keep-alive, limits and timeouts. Nothing here knows about MCP.
//! Follows RFC 9110 / RFC 9112, with the limits in `crate::limits`.

pub mod body;
pub mod frame;
pub mod hangup;
pub mod parse;
pub mod response;
pub mod server;
pub mod shared_stream;

use std::net::SocketAddr;

pub use parse::{Head, ParseError};
pub use response::{Body, Response, StreamWriter};
pub use server::{Handler, Server, ServerOptions, ShutdownHandle, Traffic};
pub use shared_stream::{SharedStream, TryWrite};

/// Header names the gateway reads or writes, lower-case.
pub mod header {
    /// `Accept`.
    pub const ACCEPT: &str = "accept";
    /// `Allow`.
    pub const ALLOW: &str = "allow";
    /// `Authorization`.
    pub const AUTHORIZATION: &str = "authorization";
    /// `Cache-Control`.
    pub const CACHE_CONTROL: &str = "cache-control";
    /// `Connection`.
    pub const CONNECTION: &str = "connection";
    /// `Content-Length`.
    pub const CONTENT_LENGTH: &str = "content-length";
    /// `Content-Type`.
    pub const CONTENT_TYPE: &str = "content-type";
    /// `Expect`.
    pub const EXPECT: &str = "expect";
    /// `Host`.
    pub const HOST: &str = "host";
    /// `Origin`.
    pub const ORIGIN: &str = "origin";
    /// `Retry-After`.
    pub const RETRY_AFTER: &str = "retry-after";
    /// `Transfer-Encoding`.
    pub const TRANSFER_ENCODING: &str = "transfer-encoding";
    /// `WWW-Authenticate`.
    pub const WWW_AUTHENTICATE: &str = "www-authenticate";
    /// `X-Accel-Buffering`.
    pub const X_ACCEL_BUFFERING: &str = "x-accel-buffering";
}

/// HTTP version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: no keep-alive unless asked, no chunked responses.
    Http10,
    /// HTTP/1.1.
    Http11,
}

/// A complete request: head, body and where it came from.
#[derive(Debug)]
pub struct Request {
    /// The parsed head.
    pub head: Head,
    /// The decoded body (empty when there was none).
    pub body: Vec<u8>,
    /// The client's address.
    pub peer: SocketAddr,
    /// The address the connection was accepted on.
    pub local: SocketAddr,
}

impl Request {
    /// The method, e.g. `GET`.
    pub fn method(&self) -> &str {
        &self.head.method
    }

    /// The path part of the target, without the query.
    pub fn path(&self) -> &str {
        self.head
            .target
            .split_once('?')
            .map_or(&self.head.target, |(p, _)| p)
    }

    /// The raw query string, if any.
    pub fn query(&self) -> Option<&str> {
        self.head.target.split_once('?').map(|(_, q)| q)
    }

    /// The first value of a query parameter (no percent-decoding: the
    /// gateway's own parameters are plain ASCII).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query()?
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }
}

/// Whether `b` may appear in an HTTP token (RFC 9110 §5.6.2): header names, methods.
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The media type of a `Content-Type` value, lower-cased, without parameters.
pub fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The reason phrase for the status codes we send.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}
