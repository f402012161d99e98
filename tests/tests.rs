//! The one integration-test binary. Each module checks one behaviour of the
//! real gateway over real loopback sockets.

mod support;

/// The hash-chained audit log: records, restarts, tampering, `audit verify|show`.
mod audit_log;
/// Signed checkpoints: openssl and Python check them; every tampering named; a kill leaves a tail.
mod audit_signed;
/// Policies: one decision for every list, read and call; `check --explain`; argument checks.
mod authorization;
/// Unreadable answers from stdio, SSE and Streamable HTTP backends fail their call at once.
mod bad_lines;
/// The `find_tool` ranking against Python `rank-bm25`'s BM25Okapi, on a generated catalog.
mod bm25_differential;
/// CORS in headless Chromium: an allowed origin's page lists and calls tools, another fails.
mod browser;
/// The catalog lock: written sorted, drift named by `check --connect`, call records name definitions.
mod catalog_lock;
/// Command line: exit codes, banner, signals, port in use.
mod cli;
/// Client-safe exposed names: rewritten with `catalog.*`, warned about always.
mod client_names;
/// `argus-mcp check` on good and bad configs (one fixture per error class).
mod config_errors;
/// The official MCP conformance suite against /mcp.
mod conformance;
/// Fault injection: a backend killed under load, floods, connection storms, signals.
mod faults;
/// The first minutes at default verbosity: a crashing backend's stderr, a quiet probe, a slow start.
mod first_start;
/// Groups as virtual servers: their own catalogs, list_changed, guards and sessions.
mod groups;
/// Hostile and broken input from backends and clients: no panic, no deafness, bounds.
mod hostile;
/// HTTP/1.1 front door: limits and their status codes, keep-alive, pipelining, panics.
mod http_server;
/// Who calls: bearer JWTs for a virtual server, the 401 and the protected-resource metadata.
mod identity;
/// RFC 8785 canonical JSON against Python `rfc8785`, generated documents and the RFC's vectors.
mod jcs_differential;
/// The management API, `/metrics`, lifecycle events, and the original's TUI.
mod management;
/// The MCP handshake and catalog methods over the SSE transport.
mod mcp_handshake;
/// mcp-remote, the stdio bridge of desktop apps, signs in headlessly from our 401 and calls tools.
mod mcp_remote;
/// 2026-07-28 backends: probed, called statelessly with their headers, bad annotations dropped.
mod modern_backends;
/// MCP 2026-07-28 on /mcp beside the 2025 era: stateless requests, discover, header rules.
mod modern_front;
/// The Python and TypeScript 2.x clients in each connect mode, through the bridge.
mod modern_sdk;
/// The optimizer: find_tool and call_tool on every endpoint, SDKs, policies, list_changed, 300 tools.
mod optimizer;
/// Authorization policies per identity through the Python and TypeScript SDKs, both eras.
mod policy_sdk;
/// Real third-party clients (Python `mcp` SDK) against the gateway.
mod real_clients;
/// Live reload: the difference applied, errors refused whole, SIGHUP, a real client under load.
mod reload;
/// Exact routing: backend requests to their caller, per-session subscriptions and levels.
mod routing;
/// No lost or crossed messages: random concurrent clients over all backend transports.
mod routing_random;
/// Two instances behind the shipped nginx config: both eras, round-robin, a kill.
mod scale_out;
/// The tool-argument schema validator against Python `jsonschema` and npm `ajv`.
mod schema_differential;
/// Shutdown and signals: bounded even mid-handshake, no orphans.
mod shutdown;
/// SSE backends: hostile framing, reconnects, auth, real SDK servers.
mod sse_backends;
/// The SSE transport: session lifecycle, statuses, slow and vanished clients, leaks.
mod sse_transport;
/// Stdio backends: catalog, conflicts, routing, crashes, timeouts, shutdown.
mod stdio_backends;
/// The stdio front: `argus-mcp stdio` with raw and SDK clients.
mod stdio_front;
/// Streamable HTTP backends: JSON and SSE answers, re-initialize, DELETE, real servers.
mod streamable_backends;
/// The Streamable HTTP front transport at /mcp.
mod streamable_front;
/// Traces: OTLP/HTTP JSON to a strict receiver, W3C context from an OTel SDK client to every backend kind.
mod telemetry;
/// HTTPS backends on a private CA: `tls.ca_file`, refusals, mTLS, bad key pairs.
mod tls_backends;
