//! Running the gateway: bind, banner, serve, signals, shutdown (PRODUCT §4),
//! and the plan that `argus-mcp check` prints.
//!
//! The listener is bound before anything else starts, so "port in use" is
//! one clear error and exit 1. SIGINT/SIGTERM are waited for on a dedicated
//! thread; it closes the client sessions and stops the server, whose accept
//! loop is woken by a self-connect (no polling).

use std::fmt::{self, Write as _};
use std::io::{self, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread;

use log::{error, info};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::config::{BackendKind, Config, Transport};
use crate::gateway::Gateway;
use crate::http::{Server, ServerOptions};
use crate::limits::SERVICE_STACK_BYTES;

/// Why the gateway could not start.
#[derive(Debug)]
pub enum Error {
    /// The listen address could not be bound.
    Bind {
        /// `host:port` as configured.
        addr: String,
        /// The OS error.
        source: io::Error,
    },
    /// Signal handlers or threads could not be set up.
    Setup(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Bind { addr, source } if source.kind() == io::ErrorKind::AddrInUse => {
                write!(f, "cannot listen on {addr}: the port is already in use")
            }
            Error::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            Error::Setup(e) => write!(f, "cannot start: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Bind { source, .. } => Some(source),
            Error::Setup(e) => Some(e),
        }
    }
}

/// Runs the gateway until SIGINT or SIGTERM. `banner` prints the URLs to stdout.
pub fn serve(config: Config, banner: bool) -> Result<(), Error> {
    let host = config.server.host.clone();
    let port = config.server.port;
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let listener = TcpListener::bind((host.as_str(), port)).map_err(|source| Error::Bind {
        addr: addr.clone(),
        source,
    })?;
    let local = listener.local_addr().map_err(Error::Setup)?;
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(Error::Setup)?;

    let primary = config.server.transport;
    let options = ServerOptions {
        max_connections: config.server.max_connections,
        max_body_bytes: config.security.max_body_bytes,
    };
    for warning in &config.warnings {
        log::warn!("{warning}");
    }
    let gateway = Arc::new(Gateway::new(config, local));
    let server = Server::new(listener, gateway.clone(), options).map_err(Error::Setup)?;
    let stop = server.shutdown_handle();
    let signal_handle = signals.handle();
    let on_signal = gateway.clone();
    thread::Builder::new()
        .name("argus-signals".into())
        .stack_size(SERVICE_STACK_BYTES)
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let name = if signal == SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                info!("{name} received: shutting down");
                on_signal.close_sessions();
                stop.shutdown();
            }
        })
        .map_err(Error::Setup)?;

    if banner {
        print_banner(local, primary);
    }
    info!("listening on {local}");
    server.run();
    gateway.close_sessions();
    signal_handle.close();
    info!("stopped");
    Ok(())
}

fn print_banner(local: SocketAddr, primary: Transport) {
    let base = format!("http://{local}");
    let sse = format!("  SSE:             {base}/sse");
    let mcp = format!("  Streamable HTTP: {base}/mcp");
    let (first, second) = match primary {
        Transport::Sse => (sse, mcp),
        Transport::StreamableHttp => (mcp, sse),
    };
    let mut out = io::stdout().lock();
    let result = writeln!(
        out,
        "argus-mcp {} listening on {local}\n{first} (primary)\n{second}",
        crate::mcp::VERSION
    )
    .and_then(|()| out.flush());
    if let Err(e) = result {
        error!("cannot print the banner: {e}");
    }
}

/// The plan `argus-mcp check` prints: listen address, backends, groups.
pub fn plan(config: &Config) -> String {
    let mut out = String::new();
    let source = config.source.as_ref().map_or_else(
        || "(none: defaults)".to_owned(),
        |p| p.display().to_string(),
    );
    let s = &config.server;
    // Writing to a String cannot fail.
    let _ = writeln!(out, "config:    {source}");
    let _ = writeln!(
        out,
        "listen:    {}:{} (primary transport: {})",
        s.host,
        s.port,
        s.transport.as_str()
    );
    let _ = writeln!(out, "conflicts: {}", config.conflict.strategy.as_str());
    let _ = writeln!(out, "backends:  {}", config.backends.len());
    let width = config
        .backends
        .iter()
        .map(|b| b.name.len())
        .max()
        .unwrap_or(0);
    for b in &config.backends {
        let target = match &b.kind {
            BackendKind::Stdio(launch) => {
                let mut line = launch.command.clone();
                for arg in &launch.args {
                    line.push(' ');
                    line.push_str(arg);
                }
                line
            }
            BackendKind::Sse { url, launch, .. } => match launch {
                Some(l) => format!("{} (launches {})", redact_url(url), l.command),
                None => redact_url(url),
            },
            BackendKind::StreamableHttp { url, .. } => redact_url(url),
        };
        let _ = writeln!(
            out,
            "  {:width$}  {:15}  group={:10}  {target}",
            b.name,
            b.kind.type_name(),
            b.group
        );
    }
    let mut groups: Vec<(&str, usize)> = Vec::new();
    for b in &config.backends {
        match groups.iter_mut().find(|(g, _)| *g == b.group) {
            Some((_, n)) => *n += 1,
            None => groups.push((&b.group, 1)),
        }
    }
    let groups: Vec<String> = groups.iter().map(|(g, n)| format!("{g} ({n})")).collect();
    let _ = writeln!(
        out,
        "groups:    {}",
        if groups.is_empty() {
            "-".to_owned()
        } else {
            groups.join(", ")
        }
    );
    for warning in &config.warnings {
        let _ = writeln!(out, "warning:   {warning}");
    }
    out
}

/// A URL without user info and query, which may carry credentials.
fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let rest = match rest.split_once('/') {
        Some((authority, path)) => {
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{host}/{path}")
        }
        None => rest.rsplit_once('@').map_or(rest, |(_, h)| h).to_owned(),
    };
    format!("{scheme}://{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_credentials() {
        assert_eq!(redact_url("https://u:p@h:1/sse?token=x"), "https://h:1/sse");
        assert_eq!(redact_url("http://h"), "http://h");
    }
}
