//! Running the gateway: bind, banner, serve, signals, shutdown, and the plan
//! that `argus-mcp check` prints.
//!
//! The listener is bound before anything else starts, so "port in use" is
//! one clear error and exit 1. SIGINT/SIGTERM are waited for on a dedicated
//! thread; it closes the client sessions and stops the server, whose accept
//! loop is woken by a self-connect (no polling).

use std::fmt::{self, Write as _};
use std::io::{self, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use log::{error, info, warn};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::catalog::Kind;
use crate::config::{BackendKind, Config, Transport};
use crate::gateway::{ConfigLoader, Control, Gateway};
use crate::http::{Server, ServerOptions, ShutdownHandle, Traffic};
use crate::limits::SERVICE_STACK_BYTES;
use crate::redact;
use crate::runtime::Runtime;
use crate::supervisor::{BackendStatus, Supervisor};
use crate::sync::spawn_named;

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
    /// The backends cannot be combined (conflict strategy `error`).
    Backends(String),
    /// The audit log cannot be opened.
    Audit(PathBuf, crate::audit::OpenError),
    /// `catalog.pin` is on and the lock cannot be used.
    Lock(PathBuf, String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Bind { addr, source } if source.kind() == io::ErrorKind::AddrInUse => {
                write!(f, "cannot listen on {addr}: the port is already in use")
            }
            Error::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            Error::Setup(e) => write!(f, "cannot start: {e}"),
            Error::Backends(e) => write!(f, "cannot start: {e}"),
            Error::Audit(path, e) => {
                write!(f, "cannot open the audit log \"{}\": {e}", path.display())
            }
            Error::Lock(path, why) => write!(
                f,
                "catalog.pin is on but the catalog lock \"{}\" cannot be used: {why} (write one with `argus-mcp catalog lock`)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Bind { source, .. } => Some(source),
            Error::Setup(e) => Some(e),
            Error::Audit(_, e) => Some(e),
            Error::Backends(_) | Error::Lock(..) => None,
        }
    }
}

/// Raises the soft limit on open files to the hard one: each client
/// connection and each backend pipe is a descriptor, and the usual soft
/// default (1024) is below `server.max_connections` plus `max_sessions`.
fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), maximum) = (limit.current, limit.maximum)
        && maximum.is_none_or(|m| m > current)
    {
        // "Unlimited" is not a valid soft value for files; cap it.
        let wanted = maximum.unwrap_or(1 << 20).min(1 << 20);
        let raised = rustix::process::Rlimit {
            current: Some(wanted),
            maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => log::debug!("open file limit raised from {current} to {wanted}"),
            Err(e) => log::warn!("cannot raise the open file limit from {current}: {e}"),
        }
    }
}

/// Command-line settings that win over the config file, on every reload too.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--host`.
    pub host: Option<String>,
    /// `--port`.
    pub port: Option<u16>,
}

impl Overrides {
    /// Applies the overrides to `config`.
    pub fn apply(&self, config: &mut Config) {
        if let Some(host) = &self.host {
            config.server.host = host.clone();
        }
        if let Some(port) = self.port {
            config.server.port = port;
        }
    }
}

/// Runs the gateway until SIGINT or SIGTERM (or `POST /manage/v1/shutdown`);
/// SIGHUP reloads the config. `banner` prints the URLs to stdout.
pub fn serve(mut config: Config, overrides: Overrides, banner: bool) -> Result<(), Error> {
    overrides.apply(&mut config);
    raise_open_file_limit();
    let (listener, local) = bind(&config)?;
    let signals = Signals::new([SIGINT, SIGTERM, SIGHUP]).map_err(Error::Setup)?;

    let primary = config.server.transport;
    let traffic = Arc::new(Traffic::default());
    let options = ServerOptions {
        max_connections: config.server.max_connections,
        max_body_bytes: config.security.max_body_bytes,
        body_timeout: crate::limits::BODY_READ_TIMEOUT,
        traffic: traffic.clone(),
    };
    if config.server.management_token.is_none() && !local.ip().is_loopback() {
        warn!("no management token is set: /manage/v1 and /metrics answer loopback clients only");
    }
    let loader = config_loader(&config, overrides);
    for warning in &config.warnings {
        log::warn!("{warning}");
    }
    let runtime = Runtime::new(Arc::new(config));
    check_lock(&runtime.config())?;
    open_audit(&runtime)?;
    let supervisor = Supervisor::with_runtime(runtime.clone());
    let gateway = Arc::new(Gateway::new(runtime.clone(), supervisor.clone(), local));
    let server = Server::new(listener, gateway.clone(), options).map_err(Error::Setup)?;
    let stop = server.shutdown_handle();
    gateway.set_control(Control {
        shutdown: stop.clone(),
        loader,
        traffic,
    });
    let signal_handle = signals.handle();
    spawn_signal_handler(signals, gateway.clone(), stop.clone())?;

    if banner {
        print_banner(local, primary);
    }
    info!("listening on {local}");
    supervisor.start().map_err(Error::Setup)?;
    let expiry = gateway.clone();
    spawn_service("argus-expiry", move || expiry.expire_idle_sessions())?;
    // A conflict under strategy `error` in the first pass stops the gateway.
    let failed = Arc::new(AtomicBool::new(false));
    spawn_startup_watch(&supervisor, &gateway, &stop, &failed)?;
    server.run();
    gateway.close_sessions();
    supervisor.stop();
    close_audit(&runtime);
    signal_handle.close();
    if failed.load(Ordering::SeqCst) {
        return Err(Error::Backends(supervisor.fatal().unwrap_or_default()));
    }
    info!("stopped");
    Ok(())
}

/// Binds the configured `host:port`, before anything else starts; returns
/// the listener and the address it got.
fn bind(config: &Config) -> Result<(TcpListener, SocketAddr), Error> {
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
    Ok((listener, local))
}

/// How a reload reads the config again: its file with the command-line
/// overrides; `None` for a config that came from no file.
fn config_loader(config: &Config, overrides: Overrides) -> Option<ConfigLoader> {
    config.source.clone().map(|path| {
        Box::new(move || {
            let mut config = Config::load(&path)?;
            overrides.apply(&mut config);
            Ok(config)
        }) as ConfigLoader
    })
}

/// Starts the thread that waits for signals: SIGHUP reloads the config (on
/// a thread of its own), SIGINT or SIGTERM closes the sessions and stops
/// the server.
fn spawn_signal_handler(
    mut signals: Signals,
    on_signal: Arc<Gateway>,
    stop_on_signal: ShutdownHandle,
) -> Result<(), Error> {
    spawn_service("argus-signals", move || {
        for signal in signals.forever() {
            if signal == SIGHUP {
                info!("SIGHUP received: reloading the config");
                // Not on this thread: a reload waits (bounded) for the
                // backends it starts, and SIGTERM must not wait for that.
                let gateway = on_signal.clone();
                let spawned = spawn_named("argus-sighup", SERVICE_STACK_BYTES, move || {
                    gateway.reload("SIGHUP")
                });
                if let Err(e) = spawned {
                    error!("cannot start the reload: {e}");
                }
                continue;
            }
            let name = if signal == SIGINT {
                "SIGINT"
            } else {
                "SIGTERM"
            };
            info!("{name} received: shutting down");
            on_signal.close_sessions();
            stop_on_signal.shutdown();
            break;
        }
    })
}

/// Starts the thread that waits for the first pass: a fatal conflict in it
/// (strategy `error`) sets `failed`, closes the sessions and stops the
/// server.
fn spawn_startup_watch(
    supervisor: &Arc<Supervisor>,
    gateway: &Arc<Gateway>,
    stop: &ShutdownHandle,
    failed: &Arc<AtomicBool>,
) -> Result<(), Error> {
    let watch = (
        supervisor.clone(),
        gateway.clone(),
        stop.clone(),
        failed.clone(),
    );
    spawn_service("argus-startup", move || {
        let (supervisor, gateway, stop, failed) = watch;
        while !supervisor.wait_first_pass(Duration::from_secs(3600)) {
            if stop.is_stopping() {
                return;
            }
        }
        if let Some(fatal) = supervisor.fatal() {
            failed.store(true, Ordering::SeqCst);
            gateway.close_sessions();
            stop.shutdown();
            error!("{fatal}");
        }
    })
}

/// Opens the audit log when `audit.enabled`, and hands it to the runtime.
fn open_audit(runtime: &Runtime) -> Result<(), Error> {
    let config = runtime.config();
    if !config.audit.enabled {
        return Ok(());
    }
    let a = &config.audit;
    let log =
        crate::audit::AuditLog::open_configured(a).map_err(|e| Error::Audit(a.file.clone(), e))?;
    info!("audit log: {}", a.file.display());
    runtime.set_audit(log);
    Ok(())
}

/// With `catalog.pin` on, the lock must be there and be one: a gateway
/// that cannot tell drift does not start as if it could.
fn check_lock(config: &Config) -> Result<(), Error> {
    if config.pin == crate::config::Pin::Off {
        return Ok(());
    }
    let path = config.lock_path();
    let text =
        std::fs::read_to_string(&path).map_err(|e| Error::Lock(path.clone(), e.to_string()))?;
    crate::catalog::Lock::parse(&text)
        .map(drop)
        .map_err(|e| Error::Lock(path, e.to_string()))
}

/// At shutdown: the audit log's last checkpoint covers every record.
fn close_audit(runtime: &Runtime) {
    if let Some(log) = runtime.audit() {
        log.close();
    }
}

/// `argus-mcp stdio`: the gateway for one client over stdin/stdout, until
/// stdin closes or SIGINT/SIGTERM; nothing but messages goes to stdout.
pub fn serve_stdio(config: Config) -> Result<(), Error> {
    raise_open_file_limit();
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP]).map_err(Error::Setup)?;
    for warning in &config.warnings {
        warn!("{warning}");
    }
    let runtime = Runtime::new(Arc::new(config));
    check_lock(&runtime.config())?;
    open_audit(&runtime)?;
    let supervisor = Supervisor::with_runtime(runtime.clone());
    let local = SocketAddr::from(([127, 0, 0, 1], 0));
    let gateway = Arc::new(Gateway::new(runtime.clone(), supervisor.clone(), local));
    let on_exit = runtime.clone();
    let signal_handle = signals.handle();
    let (on_signal, stop_backends) = (gateway.clone(), supervisor.clone());
    spawn_service("argus-signals", move || {
        for signal in signals.forever() {
            if signal == SIGHUP {
                // No file to re-read into a running stdio front: the client
                // starts a new process to change its config.
                warn!("SIGHUP received: `argus-mcp stdio` does not reload; ignored");
                continue;
            }
            info!("signal {signal} received: shutting down");
            on_signal.close_sessions();
            stop_backends.stop();
            close_audit(&on_exit);
            // The main thread is blocked reading stdin; nothing is left to
            // clean up.
            std::process::exit(0);
        }
    })?;
    supervisor.start().map_err(Error::Setup)?;
    let watch = supervisor.clone();
    spawn_service("argus-startup", move || {
        while !watch.wait_first_pass(Duration::from_secs(3600)) {}
        if let Some(fatal) = watch.fatal() {
            error!("{fatal}");
            watch.stop();
            std::process::exit(1);
        }
    })?;
    let served = gateway.serve_stdio(io::stdin().lock(), io::stdout());
    signal_handle.close();
    gateway.close_sessions();
    supervisor.stop();
    close_audit(&runtime);
    info!("stopped");
    served.map_err(Error::Setup)
}

fn spawn_service(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), Error> {
    spawn_named(name, SERVICE_STACK_BYTES, f)
        .map(drop)
        .map_err(Error::Setup)
}

/// `check --connect`: starts every backend, prints what each one offers and
/// the resulting catalog (exposed name → backend and original name), stops
/// them again. Returns the text and whether every backend connected.
pub fn connect_plan(config: Config) -> (String, bool) {
    let lock_path = config.lock_path();
    let pin = config.pin;
    let supervisor = Supervisor::new(Arc::new(config));
    if let Err(e) = supervisor.start() {
        return (format!("cannot start backends: {e}\n"), false);
    }
    supervisor.wait_first_pass(Duration::from_secs(3600));
    let mut out = String::new();
    let mut ok = true;
    let _ = writeln!(out, "backends:");
    for (name, state) in supervisor.states() {
        ok &= state.status == BackendStatus::Connected;
        let error = state
            .last_error
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        let _ = writeln!(out, "  {name}: {}{error}", state.status);
    }
    if let Some(fatal) = supervisor.fatal() {
        ok = false;
        let _ = writeln!(out, "conflict: {fatal}");
    }
    let catalog = supervisor.catalog();
    for kind in Kind::ALL {
        let entries: Vec<_> = catalog.entries.iter().filter(|e| e.kind == kind).collect();
        let _ = writeln!(out, "{}s ({}):", kind.noun(), entries.len());
        for e in entries {
            let _ = writeln!(
                out,
                "  {} -> {} / {}",
                e.exposed, e.route.backend_name, e.route.original
            );
            // What the argument check cannot enforce: keywords outside
            // its subset, let through.
            let ignored = catalog
                .schema(&e.exposed)
                .filter(|_| kind == Kind::Tool)
                .map_or(&[][..], |s| s.ignored());
            if !ignored.is_empty() {
                let _ = writeln!(out, "    not checked: {}", ignored.join(", "));
            }
        }
    }
    supervisor.stop();
    let (report, drifted) = drift_report(&lock_path, &catalog);
    out.push_str(&report);
    // Under `block`, drift is what the server would withhold.
    ok &= !(drifted && pin == crate::config::Pin::Block);
    (out, ok)
}

/// The drift of `catalog` against the lock at `path`, if there is one,
/// and whether anything drifted.
fn drift_report(path: &std::path::Path, catalog: &crate::catalog::Catalog) -> (String, bool) {
    use crate::catalog::Lock;
    let Ok(text) = std::fs::read_to_string(path) else {
        return (String::new(), false);
    };
    let shown = path.display();
    let locked = match Lock::parse(&text) {
        Ok(lock) => lock,
        Err(e) => return (format!("lock {shown}: not a lock file ({e})\n"), true),
    };
    let drift = locked.drift(&Lock::of(catalog));
    if drift.is_empty() {
        return (format!("lock {shown}: no drift\n"), false);
    }
    let mut out = format!("lock {shown}: {} drifted\n", drift.len());
    for d in drift {
        let _ = writeln!(out, "  {d}");
    }
    (out, true)
}

/// `catalog lock`: starts every backend and returns the lock of the
/// catalog they make up, with one line per backend that did not connect
/// (a lock of a partial catalog is not to be written).
pub fn catalog_lock(config: Config) -> (crate::catalog::Lock, Vec<String>) {
    let supervisor = Supervisor::new(Arc::new(config));
    if let Err(e) = supervisor.start() {
        return (
            Default::default(),
            vec![format!("cannot start backends: {e}")],
        );
    }
    supervisor.wait_first_pass(Duration::from_secs(3600));
    let failed: Vec<String> = supervisor
        .states()
        .into_iter()
        .filter(|(_, s)| s.status != BackendStatus::Connected)
        .map(|(name, s)| format!("backend {name}: {}", s.status))
        .chain(supervisor.fatal().map(|f| format!("conflict: {f}")))
        .collect();
    let lock = crate::catalog::Lock::of(&supervisor.catalog());
    supervisor.stop();
    (lock, failed)
}

fn print_banner(local: SocketAddr, primary: Transport) {
    let base = format!("http://{local}");
    let sse = format!("  SSE:             {base}/sse");
    let mcp = format!("  Streamable HTTP: {base}/mcp");
    let (first, second) = match primary {
        Transport::Sse | Transport::Stdio => (sse, mcp),
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
                for arg in redact::args(&launch.args) {
                    line.push(' ');
                    line.push_str(&arg);
                }
                line
            }
            BackendKind::Sse {
                url, launch, tls, ..
            } => {
                let mut line = match launch {
                    Some(l) => format!("{} (launches {})", redact::url(url), l.command),
                    None => redact::url(url),
                };
                if let Some(tls) = tls.summary() {
                    line = format!("{line} ({tls})");
                }
                line
            }
            BackendKind::StreamableHttp { url, tls, .. } => match tls.summary() {
                Some(tls) => format!("{} ({tls})", redact::url(url)),
                None => redact::url(url),
            },
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
