//! Waiting for a server the gateway launched for an SSE backend: its URL's
//! host and port are polled until something accepts connections, the
//! process exits, or the `sse_startup` limit passes. Launching and stopping
//! the process are `stdio`'s; speaking to it is the transport's.

use std::fmt;
use std::thread;
use std::time::{Duration, Instant};

use super::endpoint::{host_port, split_url};

/// How long one connection attempt waits while polling a launched server.
const LISTEN_PROBE_TIMEOUT: Duration = Duration::from_millis(200);

/// How often a launched server's port is polled.
const LISTEN_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Why a launched server's URL never answered.
#[derive(Debug)]
pub enum ListenError {
    /// The URL is not an absolute URL.
    BadUrl(String),
    /// The launched process exited first.
    Exited,
    /// Nothing accepted connections within the limit.
    Silent {
        /// The URL polled.
        url: String,
        /// How long it was polled.
        limit: Duration,
    },
}

impl fmt::Display for ListenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenError::BadUrl(url) => write!(f, "bad URL {url}"),
            ListenError::Exited => {
                f.write_str("the launched process exited before its URL answered")
            }
            ListenError::Silent { url, limit } => write!(
                f,
                "{url} did not answer within {:.1}s of launch",
                limit.as_secs_f64()
            ),
        }
    }
}

impl std::error::Error for ListenError {}

/// Waits until something accepts TCP connections at `url`'s host and port,
/// at most `limit` (a launched backend's `sse_startup`); polls every
/// [`LISTEN_POLL_INTERVAL`]. Gives up early when `exited` says the launched
/// process is gone.
pub fn wait_until_listening(
    url: &str,
    limit: Duration,
    exited: impl Fn() -> bool,
) -> Result<(), ListenError> {
    let (scheme, authority, _) =
        split_url(url).ok_or_else(|| ListenError::BadUrl(url.to_owned()))?;
    let (host, port) = host_port(scheme, authority);
    let deadline = Instant::now() + limit;
    loop {
        let addrs = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port));
        for addr in addrs.into_iter().flatten() {
            if std::net::TcpStream::connect_timeout(&addr, LISTEN_PROBE_TIMEOUT).is_ok() {
                return Ok(());
            }
        }
        if exited() {
            return Err(ListenError::Exited);
        }
        if Instant::now() >= deadline {
            return Err(ListenError::Silent {
                url: url.to_owned(),
                limit,
            });
        }
        thread::sleep(LISTEN_POLL_INTERVAL);
    }
}
