//! Connections to backends: one shared connection per backend, whatever its
//! transport (PRODUCT §7).
//!
//! `connection` is the transport-independent core (ids, pending requests,
//! timeouts, dispatch); `stdio` runs a child process; `discover` speaks the
//! MCP client side (handshake, list discovery). A backend is started with
//! [`start`], which returns a live, initialized [`Link`]. Nothing here knows
//! about client sessions or the merged catalog.

pub mod connection;
pub mod discover;
pub mod stdio;

use std::fmt;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

pub use connection::{CallError, Connection, Event, ProgressFn, ReplyFn};
pub use discover::Discovered;

use crate::config::{Backend, BackendKind};

/// Why a backend could not be started.
#[derive(Debug)]
pub enum Error {
    /// Its process could not be started.
    Spawn(std::io::Error),
    /// The handshake or discovery failed.
    Mcp(discover::Error),
    /// The transport is not available in this build yet.
    Unsupported(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Spawn(e) => write!(f, "{e}"),
            Error::Mcp(e) => write!(f, "{e}"),
            Error::Unsupported(kind) => write!(f, "{kind} backends are not supported yet"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Spawn(e) => Some(e),
            Error::Mcp(e) => Some(e),
            Error::Unsupported(_) => None,
        }
    }
}

/// A live, initialized backend: its connection, what it offers, and the
/// local process behind it, if any.
#[derive(Debug)]
pub struct Link {
    /// The shared connection.
    pub conn: Arc<Connection>,
    /// Capabilities and lists.
    pub discovered: Discovered,
    /// The child process (stdio).
    pub process: Option<stdio::Process>,
}

impl Link {
    /// Closes the connection and stops the process (staged). Idempotent.
    pub fn stop(&self) {
        self.conn.close("backend stopped");
        if let Some(process) = &self.process {
            process.stop();
        }
    }

    /// The pid of the local process, if any.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(stdio::Process::pid)
    }
}

/// Starts a backend: spawn or connect, handshake, discovery. On failure
/// everything started is stopped again.
pub fn start(backend: &Backend, events: Sender<Event>) -> Result<Link, Error> {
    let t = &backend.timeouts;
    let (conn, process) = match &backend.kind {
        BackendKind::Stdio(launch) => {
            let (conn, process) =
                stdio::spawn(&backend.name, launch, events).map_err(Error::Spawn)?;
            (conn, Some(process))
        }
        BackendKind::Sse { .. } => return Err(Error::Unsupported("sse")),
        BackendKind::StreamableHttp { .. } => return Err(Error::Unsupported("streamable-http")),
    };
    let link_fail = |e: discover::Error, process: &Option<stdio::Process>| {
        conn.close("start-up failed");
        if let Some(p) = process {
            p.stop();
        }
        Error::Mcp(e)
    };
    // `startup` bounds connect + initialize; the handshake gets the smaller.
    let init = t.startup.map_or(t.init, |s| s.min(t.init));
    let mut discovered = match discover::handshake(&conn, init) {
        Ok(d) => d,
        Err(e) => return Err(link_fail(e, &process)),
    };
    if let Err(e) = discover::discover(&conn, &mut discovered, t.cap_fetch) {
        return Err(link_fail(e, &process));
    }
    Ok(Link {
        conn,
        discovered,
        process,
    })
}

/// Re-fetches a live backend's lists (after `list_changed`).
pub fn rediscover(link: &Link, cap_fetch: Duration) -> Result<Discovered, discover::Error> {
    let mut fresh = link.discovered.clone();
    discover::discover(&link.conn, &mut fresh, cap_fetch)?;
    Ok(fresh)
}
