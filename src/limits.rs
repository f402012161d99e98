//! Every size and time limit of the gateway, as a named constant with its unit.
//!
//! Limits that a user can change live in the config (`security.max_body_bytes`,
//! `server.max_connections`, `sse_resilience.*`); their defaults are here too
//! so there is one place to read them. Each limit has its own error and, on the
//! HTTP side, its own status code (see `http::ParseError::status`).

use std::time::Duration;

/// Longest request line (`GET /path HTTP/1.1`), in bytes. Over it: 414.
pub const MAX_REQUEST_LINE_BYTES: usize = 8 * 1024;

/// Longest request head (request line + headers + blank line), in bytes. Over it: 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Most header fields in one request. Over it: 431.
pub const MAX_HEADERS: usize = 100;

/// Longest chunk-size line (with extensions) in a chunked body, in bytes. Over it: 400.
pub const MAX_CHUNK_LINE_BYTES: usize = 1024;

/// Most bytes of trailer fields after a chunked body. Over it: 431.
pub const MAX_TRAILER_BYTES: usize = 8 * 1024;

/// Default largest request body (`security.max_body_bytes`), in bytes. Over it: 413.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;

/// Time a client has to send a complete request head once it started one. Past it: 408, close.
pub const HEAD_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest pause between two reads of a request body. Past it: 408, close.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Time a whole request body has once its head is in (4 MiB at ~70 KB/s).
/// Past it: 408, close.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// How long an idle keep-alive connection waits for its next request before it is closed.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);

/// After an error response, how long we keep reading (and discarding) what
/// the client still sends, so closing does not reset the connection.
pub const LINGER_TIME: Duration = Duration::from_secs(2);

/// After an error response, the most bytes we read and discard.
pub const LINGER_BYTES: usize = 64 * 1024 * 1024;

/// Bound on writing one plain (non-streamed) response.
pub const RESPONSE_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Default concurrent client connections (`server.max_connections`). Above it: 503.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Default open client sessions (`server.max_sessions`). Above it: 503.
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;

/// Largest `clientInfo` plus `capabilities` of one client's `initialize`, as
/// JSON bytes: they are kept for the session's life. Over it: -32602.
pub const MAX_CLIENT_INFO_BYTES: usize = 64 * 1024;

/// Messages queued for one client session before the session is dropped as too slow.
pub const SESSION_OUTBOUND_QUEUE: usize = 1024;

/// Events kept per resumable `/mcp` stream for a client that reconnects
/// with `Last-Event-ID`.
pub const MAX_REPLAY_EVENTS: usize = 256;

/// Resumable streams kept per session (the GET stream and the most recent
/// answer streams).
pub const MAX_REPLAY_STREAMS: usize = 32;

/// Bytes of events kept per session for resuming clients (a large result
/// is sent but not kept).
pub const MAX_REPLAY_BYTES: usize = 1024 * 1024;

/// Largest single message from a backend (stdio line, SSE event, JSON body), in bytes.
pub const MAX_BACKEND_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Messages queued for one backend's writer before requests are refused.
pub const BACKEND_OUTBOUND_QUEUE: usize = 1024;

/// Requests waiting for one backend's answers at once (all sessions
/// together). Past it a call fails at once with an error naming the backend,
/// so a flood of slow calls cannot grow the pending table without end.
pub const MAX_PENDING_PER_BACKEND: usize = 4096;

/// Resource URIs one client session may be subscribed to. Past it
/// `resources/subscribe` fails with -32602 saying so.
pub const MAX_SUBSCRIPTIONS_PER_SESSION: usize = 1000;

/// Notifications and requests from one backend waiting to be relayed.
/// Past it the oldest are dropped (counted and logged), never a response.
pub const MAX_BACKEND_EVENTS: usize = 4096;

/// Longest stderr line of a stdio backend kept for the log; the rest is cut.
pub const MAX_STDERR_LINE_BYTES: usize = 64 * 1024;

/// Last stderr lines of a local backend process kept for its failure
/// message (a crashing server says why there, and nowhere else).
pub const STDERR_TAIL_LINES: usize = 5;

/// Longest stderr line kept in that tail, in characters; the rest is cut
/// and marked with `…`.
pub const STDERR_TAIL_LINE_CHARS: usize = 200;

/// How long a failure message waits for the stderr drain to reach the end
/// of the pipe, so the tail holds the child's last words; a pipe that a
/// stray grandchild keeps open costs no more than this.
pub const STDERR_TAIL_WAIT: Duration = Duration::from_millis(500);

/// A backend still starting after this long gets one INFO line saying so
/// (a first `npx` or `uvx` run downloads the server and looks stuck).
pub const STILL_STARTING_AFTER: Duration = Duration::from_secs(5);

/// Stdio shutdown: how long a child gets to exit after its stdin closes,
/// and again after SIGTERM, before SIGKILL.
pub const STDIO_EXIT_GRACE: Duration = Duration::from_secs(2);

/// An SSE backend stream with no bytes (not even a comment) for this long is
/// taken as dead and reconnected. Generous: some servers send no keepalives.
pub const SSE_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Requests POSTed at once to one Streamable HTTP backend (one thread each,
/// since each waits for its own answer); more wait for a free slot.
pub const MAX_CONCURRENT_POSTS: usize = 32;

/// Most pages followed for one list during discovery (a cursor loop guard).
pub const MAX_LIST_PAGES: usize = 1000;

/// A backend connection that lasted this long ran well: when it drops, the
/// backend is restarted at once and its failure count starts over. One that
/// dies sooner counts as a failed attempt and backs off (no crash loop).
pub const STABLE_CONNECTION: Duration = Duration::from_secs(30);

/// The longest wait between two attempts to start a backend.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);

/// Stack size of backend reader and writer threads.
pub const BACKEND_STACK_BYTES: usize = 256 * 1024;

/// Stack size of connection threads. Handlers recurse at most through
/// serde_json, whose own recursion limit (128 levels) keeps well inside this.
pub const CONNECTION_STACK_BYTES: usize = 256 * 1024;

/// Stack of the thread that serves a long-lived stream (an SSE session, a
/// listen stream): its writer loop and the session's end. Only what it
/// touches is resident, a few KiB while the stream idles.
pub const STREAM_STACK_BYTES: usize = 128 * 1024;

/// Stack size of small service threads (signal waiter, stderr drains, timers).
pub const SERVICE_STACK_BYTES: usize = 128 * 1024;

/// Stack size of the thread that reads and applies a config on reload:
/// the YAML parser and the validator recurse with the document's nesting,
/// so it gets what the main thread has when it loads the config at start
/// (only the pages touched are ever committed).
pub const RELOAD_STACK_BYTES: usize = 8 * 1024 * 1024;

/// How long a graceful shutdown waits for open connections to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// The longest bearer JWT taken; a longer one is refused (401) before any
/// of it is decoded.
pub const MAX_BEARER_JWT_BYTES: usize = 8 * 1024;

/// The largest JWK Set read (a file, or a `jwks_uri` body).
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Keys a JWK Set may hold; a longer set is refused whole.
pub const MAX_JWKS_KEYS: usize = 100;
