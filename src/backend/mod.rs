//! Connections to backends: one shared connection per backend, whatever its
//! transport; every client session's calls to a backend go over it.
//!
//! `connection` is the transport-independent core (ids, pending requests,
//! timeouts, dispatch); `stdio` runs a child process; `discover` speaks the
//! MCP client side (handshake, list discovery). A backend is started with
//! [`start`], which returns a live, initialized [`Link`]. Nothing here knows
//! about client sessions or the merged catalog.

pub mod agent;
pub mod auth;
pub mod connection;
pub mod discover;
pub mod events;
pub mod post_workers;
pub mod salvage;
pub mod sse_client;
pub mod sse_read;
pub mod stdio;
pub mod streamable;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use auth::Credentials;
pub use connection::{
    CallError, CallerStamp, Connection, LogFn, Outgoing, ProgressFn, ReplyFn, encode_header_value,
};
pub use discover::{CacheHints, Discovered, listen_params};
pub use events::{
    BackendEvent, BackendRequest, CallOrigin, EventReceiver, EventSender, NotRelayed, Origin,
    events,
};

use crate::config::{Backend, BackendKind};

/// The media type of a backend's response (`text/event-stream`, ...,
/// lower case, without parameters; empty when it names none).
pub(crate) fn content_type(response: &ureq::http::Response<ureq::Body>) -> String {
    response
        .body()
        .mime_type()
        .map(crate::http::media_type)
        .unwrap_or_default()
}

/// Reads a body that says nothing (a 202's) to its end, at most 64 KiB:
/// ureq keeps a connection for the next request only once its response
/// body is read, else every message would cost a TCP connect.
pub(crate) fn drain(body: &mut ureq::Body) {
    let _ = body.with_config().limit(64 * 1024).read_to_vec();
}

/// Credentials for a backend (remote types; stdio has none). Kept across
/// reconnects so an OAuth 2 token is reused while it is valid.
pub fn credentials(backend: &Backend) -> Arc<Credentials> {
    Arc::new(match &backend.kind {
        BackendKind::Sse {
            headers, auth, tls, ..
        }
        | BackendKind::StreamableHttp {
            headers, auth, tls, ..
        } => Credentials::new(headers, auth.as_ref(), tls),
        BackendKind::Stdio(_) => Credentials::new(&[], None, &crate::config::Tls::default()),
    })
}

/// Why a backend could not be started.
#[derive(Debug)]
pub enum Error {
    /// Its process could not be started.
    Spawn(std::io::Error),
    /// A launched SSE server's URL never answered.
    Launch(sse_client::ListenError),
    /// The SSE stream could not be opened, or named no endpoint.
    Sse(sse_client::ConnectError),
    /// A thread of the Streamable HTTP transport could not be started.
    Thread(std::io::Error),
    /// The handshake or discovery failed.
    Mcp {
        /// Why.
        error: discover::Error,
        /// The last lines its local process wrote to stderr, if any: why
        /// a crashing server died is there and nowhere else.
        stderr: Option<String>,
    },
    /// The transport is not available in this build yet.
    Unsupported(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Spawn(e) => write!(f, "{e}"),
            Error::Launch(e) => write!(f, "{e}"),
            Error::Sse(e) => write!(f, "{e}"),
            Error::Thread(e) => write!(f, "{e}"),
            Error::Mcp { error, stderr } => {
                f.write_str(&stdio::with_stderr(error, stderr.as_deref()))
            }
            Error::Unsupported(kind) => write!(f, "{kind} backends are not supported yet"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Spawn(e) | Error::Thread(e) => Some(e),
            Error::Launch(e) => Some(e),
            Error::Sse(e) => Some(e),
            Error::Mcp { error, .. } => Some(error),
            Error::Unsupported(_) => None,
        }
    }
}

/// A live, initialized backend: its connection, what it offers, and what
/// must be stopped with it.
#[derive(Debug)]
pub struct Link {
    /// The shared connection.
    pub conn: Arc<Connection>,
    /// Capabilities and lists.
    pub discovered: Discovered,
    /// The stdio child, or the server an SSE backend launched.
    process: Option<Local>,
    /// What carries the messages besides the connection core.
    transport: LinkTransport,
}

/// The transport of a link: stdio needs nothing beyond its process (its
/// threads end with the pipes); the SSE and Streamable HTTP transports
/// have streams and workers to stop.
#[derive(Debug)]
enum LinkTransport {
    /// The child's stdin and stdout.
    Stdio,
    /// A legacy SSE stream and its POSTs.
    Sse(sse_client::SseTransport),
    /// Streamable HTTP POSTs and streams.
    StreamableHttp(streamable::StreamableTransport),
}

/// A local process behind a backend.
#[derive(Debug)]
enum Local {
    /// Speaks MCP on stdin/stdout: stopped by closing stdin first.
    Stdio(stdio::Process),
    /// A launched server: stopped by SIGTERM.
    Server(stdio::Process),
}

impl Link {
    /// Closes the connection and stops the stream and the process (staged). Idempotent.
    pub fn stop(&self) {
        self.conn.close("backend stopped");
        match &self.transport {
            LinkTransport::Stdio => {}
            LinkTransport::Sse(stream) => stream.stop(),
            LinkTransport::StreamableHttp(http) => http.stop(),
        }
        match &self.process {
            Some(Local::Stdio(p)) => p.stop(),
            Some(Local::Server(p)) => p.terminate(),
            None => {}
        }
    }

    /// The pid of the local process, if any.
    pub fn pid(&self) -> Option<u32> {
        match &self.process {
            Some(Local::Stdio(p) | Local::Server(p)) => Some(p.pid()),
            None => None,
        }
    }

    /// The last lines the local process wrote to stderr, if it has one and
    /// wrote any (see [`stdio::Process::stderr_tail`]: waits briefly).
    pub fn stderr_tail(&self) -> Option<String> {
        match &self.process {
            Some(Local::Stdio(p) | Local::Server(p)) => p.stderr_tail(),
            None => None,
        }
    }
}

impl Drop for Link {
    /// A link that goes away is stopped (a no-op when it was already):
    /// no error path can leave a stream, a worker or a process behind.
    /// Runs on the thread that drops the last reference.
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a starting backend tells its supervisor, and asks it.
pub struct Startup<'a> {
    /// Hears the connection as soon as it exists, before the handshake:
    /// closing it cuts the start short (shutdown while a backend starts).
    pub connected: &'a dyn Fn(&Arc<Connection>),
    /// Whether to give up waiting (for a launched server's URL).
    pub cancelled: &'a dyn Fn() -> bool,
}

/// Starts a backend: spawn or connect, handshake, discovery, all within
/// `startup` where set. On failure everything started is stopped again.
pub fn start(
    backend: &Backend,
    credentials: &Arc<Credentials>,
    events: EventSender,
    hooks: &Startup<'_>,
) -> Result<Link, Error> {
    let t = &backend.timeouts;
    let deadline = t.startup.map(|s| Instant::now() + s);
    let left = |d: Duration| {
        deadline.map_or(d, |end| {
            d.min(end.saturating_duration_since(Instant::now()))
        })
    };
    let mut link = open(backend, credentials, events, hooks, &left)?;
    (hooks.connected)(&link.conn);
    match initialize(&link, backend, &left) {
        Ok(discovered) => {
            link.discovered = discovered;
            Ok(link)
        }
        Err(error) => {
            link.stop();
            // Stopped, the process has exited: its last stderr lines are
            // (nearly always) all read.
            Err(Error::Mcp {
                error,
                stderr: link.stderr_tail(),
            })
        }
    }
}

/// Spawns or connects the backend's transport (`left`: how much of a
/// timeout the startup deadline leaves); the link is not initialized yet.
fn open(
    backend: &Backend,
    credentials: &Arc<Credentials>,
    events: EventSender,
    hooks: &Startup<'_>,
    left: &dyn Fn(Duration) -> Duration,
) -> Result<Link, Error> {
    let t = &backend.timeouts;
    let link = |conn, process, transport| Link {
        conn,
        discovered: Discovered::default(),
        process,
        transport,
    };
    match &backend.kind {
        BackendKind::Stdio(launch) => {
            let (conn, process) =
                stdio::spawn(&backend.name, launch, events).map_err(Error::Spawn)?;
            Ok(link(
                conn,
                Some(Local::Stdio(process)),
                LinkTransport::Stdio,
            ))
        }
        BackendKind::Sse { url, launch, .. } => {
            let process = match launch {
                Some(launch) => {
                    let p = stdio::launch_server(&backend.name, launch).map_err(Error::Spawn)?;
                    if let Err(e) =
                        sse_client::wait_until_listening(url, left(t.sse_startup), || {
                            p.exited() || (hooks.cancelled)()
                        })
                    {
                        p.terminate();
                        return Err(Error::Launch(e));
                    }
                    Some(Local::Server(p))
                }
                None => None,
            };
            match sse_client::connect(
                &backend.name,
                url,
                credentials.clone(),
                left(t.init),
                events,
            ) {
                Ok((conn, stream)) => Ok(link(conn, process, LinkTransport::Sse(stream))),
                Err(e) => {
                    if let Some(Local::Server(p)) = &process {
                        p.terminate();
                    }
                    Err(Error::Sse(e))
                }
            }
        }
        BackendKind::StreamableHttp { url, .. } => {
            let (conn, http) =
                streamable::connect(&backend.name, url, credentials.clone(), t.call, events)
                    .map_err(Error::Thread)?;
            Ok(link(conn, None, LinkTransport::StreamableHttp(http)))
        }
    }
}

/// The handshake (or the 2026-07-28 probe) and discovery on an open link;
/// opens a 2026-07-28 backend's listen stream.
fn initialize(
    link: &Link,
    backend: &Backend,
    left: &dyn Fn(Duration) -> Duration,
) -> Result<Discovered, discover::Error> {
    let t = &backend.timeouts;
    // Streamable HTTP and stdio backends are asked for 2026-07-28 first
    // (stateless, no handshake); anything else, or no, means `initialize`.
    let modern = match &backend.kind {
        BackendKind::StreamableHttp { .. } => discover::probe(&link.conn, left(t.init)),
        // A 2025-era stdio server answers an unknown request before
        // `initialize` with an error at once; one that stays silent is
        // given little time (the spec: silence means 2025-era).
        BackendKind::Stdio(_) => discover::probe(&link.conn, left(t.init).min(STDIO_PROBE_WAIT)),
        BackendKind::Sse { .. } => None,
    };
    let mut discovered = match modern {
        Some(found) => found,
        None => discover::handshake(&link.conn, left(t.init))?,
    };
    discover::discover(&link.conn, &mut discovered, t.cap_fetch)?;
    if link.conn.is_modern()
        && let Some(params) = discover::listen_params(&discovered)
    {
        match &link.transport {
            LinkTransport::StreamableHttp(http) => http.listen(&link.conn, params),
            // stdio: one stream carries everything.
            LinkTransport::Stdio | LinkTransport::Sse(_) => discover::listen(&link.conn, params),
        }
    }
    Ok(discovered)
}

/// How long a stdio backend has to answer the 2026-07-28 probe.
const STDIO_PROBE_WAIT: Duration = Duration::from_secs(2);

/// Re-fetches a live backend's lists (after `list_changed`).
pub fn rediscover(link: &Link, cap_fetch: Duration) -> Result<Discovered, discover::Error> {
    let mut fresh = link.discovered.clone();
    discover::discover(&link.conn, &mut fresh, cap_fetch)?;
    Ok(fresh)
}
