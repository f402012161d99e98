//! argus-mcp: one MCP endpoint in front of many MCP servers.
//!
//! The crate is a library with a thin binary (`main.rs`) on top, so the
//! integration tests reach every layer. Layers, lowest first; a module only
//! uses modules above it in this list:
//!
//! - `limits`, `sync`, `glob`, `uri_template`, `random`, `queue`, `redact`, `sha256`, `base64`: constants and small
//!   helpers (locks that ignore poisoning and named threads; a bounded
//!   channel that allocates as it is used; secrets kept out of logs and
//!   error texts);
//! - `metrics`, `ops_events`: the `/metrics` counters and the ring of
//!   lifecycle events for the management API;
//! - `child_guard`: the re-exec that keeps local processes from outliving us;
//! - `config`: the YAML config, validated into typed structs;
//! - `audit`: the hash-chained audit log and its verifier;
//! - `jwt`: bearer JWTs checked offline against a JWK Set (ring);
//! - `schema`: a bounded JSON Schema 2020-12 validator for tool arguments;
//! - `jcs`: RFC 8785 canonical JSON, for definition hashes;
//! - `bm25`: Okapi BM25 over tool definitions, for the optimizer's search;
//! - `http`: HTTP/1.1 server on std threads: parser, bodies, responses, accept loop;
//! - `sse`: server-sent-event framing;
//! - `jsonrpc`, `mcp`: message types, method names, protocol versions;
//! - `backend`: one connection per backend: ids, pending requests,
//!   timeouts; the stdio transport; the MCP client handshake and discovery;
//! - `telemetry`: W3C trace context, spans, and their OTLP/HTTP JSON export
//!   on one thread;
//! - `catalog`, `names`, `policy`, `supervisor`: the merged catalog and
//!   client-safe names (pure), the authorization decision that makes each
//!   caller's view of it, and the lifecycle of every backend with the live
//!   catalog snapshots (the whole one, one per group, one per caller's
//!   roles) and config reloads;
//! - `session`, `replay`: one 2025-era client conversation and its bounded
//!   outbound queue; what resumable streams sent;
//! - `router`: MCP semantics: handshake, lists, one `Call` per forwarded
//!   request, answered into the caller's `Reply` sink;
//! - `gateway`: routes, guards and front transports over `http`, the
//!   management API, `/metrics` and reload;
//! - `app`, `cli`: start-up, banner, signals, the command line.
//!
//! DESIGN.md explains the threading model and the choices behind it.

#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod backend;
pub mod base64;
pub mod bm25;
pub mod catalog;
pub mod child_guard;
pub mod cli;
pub mod config;
pub mod gateway;
pub mod glob;
pub mod http;
pub mod identity;
pub mod jcs;
pub mod jsonrpc;
pub mod jwt;
pub mod limits;
pub mod mcp;
pub mod metrics;
pub mod names;
pub mod ops_events;
pub mod policy;
pub mod queue;
pub mod random;
pub mod redact;
pub mod replay;
pub mod router;
pub mod runtime;
pub mod schema;
pub mod session;
pub mod sha256;
pub mod sse;
pub mod supervisor;
pub mod sync;
pub mod telemetry;
pub mod uri_template;
pub mod workers;
