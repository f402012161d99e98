//! Backend lifecycle and the live catalog (PRODUCT §4).
//!
//! One supervisor thread per backend runs its life: start (spawn, handshake,
//! discovery) under a concurrency limit; on failure retry with backoff
//! (`retries`, `retry_delay`, ×`ARGUS_BACKEND_RETRY_BACKOFF`); when connected,
//! block on the connection's events: `list_changed` → re-discover, a close →
//! take its entries out of the catalog and restart the same way. The first
//! pass (every backend's first attempt) is awaited by MCP requests that
//! arrive early. The catalog is an immutable `Arc<Catalog>` swapped under a
//! short write lock, so readers never wait for a rebuild.

use std::collections::HashSet;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};
use serde_json::Value;

use crate::audit::AuditLog;
use crate::backend::{self, Connection, Discovered, Event, EventReceiver, Link, Origin};
use crate::catalog::{Catalog, Kind, Source};
use crate::config::{Backend, Config};
use crate::jsonrpc::{Message, RequestId, code};
use crate::limits::{MAX_RETRY_DELAY, SERVICE_STACK_BYTES, STABLE_CONNECTION};
use crate::redact;

/// The delay before retry number `failures` (1-based): `first`, then ×`backoff`
/// each time, never more than [`MAX_RETRY_DELAY`].
fn retry_delay(first: Duration, backoff: f64, failures: u32) -> Duration {
    let factor = backoff.powi(failures.saturating_sub(1).min(64) as i32);
    Duration::try_from_secs_f64(first.as_secs_f64() * factor)
        .unwrap_or(MAX_RETRY_DELAY)
        .min(MAX_RETRY_DELAY)
}

/// Told about catalog changes and backend notifications (the gateway).
pub trait Listener: Send + Sync {
    /// The exposed lists of these kinds changed.
    fn catalog_changed(&self, kinds: &[Kind]);
    /// Backend `index` connected again (after a restart) and is in the
    /// catalog: state the sessions set on it before (log level,
    /// subscriptions) is to be restored on `conn`. Runs on the backend's
    /// supervisor thread, under no lock.
    fn backend_ready(&self, index: usize, conn: &Arc<Connection>) {
        let _ = (index, conn);
    }
    /// A backend sent a notification the supervisor does not handle itself.
    fn notification(&self, backend: &str, method: &str, params: Option<Value>);
    /// A backend sent a request for a client, while serving `origin`'s
    /// request if known; answer it on `conn`. Runs on the backend's
    /// supervisor thread, under no lock.
    fn request(
        &self,
        backend: &str,
        conn: &Arc<Connection>,
        id: RequestId,
        method: &str,
        params: Option<Value>,
        origin: Option<Origin>,
    );
}

/// Where a backend is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// First attempt not finished.
    Starting,
    /// Initialized and in the catalog.
    Connected,
    /// Down; another attempt is scheduled.
    Retrying,
    /// Down; retries exhausted.
    Failed,
    /// Stopped by shutdown.
    Stopped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Starting => "starting",
            Status::Connected => "connected",
            Status::Retrying => "retrying",
            Status::Failed => "failed",
            Status::Stopped => "stopped",
        })
    }
}

/// A snapshot of one backend's state.
#[derive(Debug, Clone)]
pub struct BackendState {
    /// Its status.
    pub status: Status,
    /// Since when.
    pub since: Instant,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// Failed attempts since it was last connected.
    pub attempts: u32,
    /// The pid of its local process, if any.
    pub pid: Option<u32>,
}

struct Slot {
    config: Backend,
    /// Its first attempt has been counted in the first pass.
    first_done: AtomicBool,
    state: Mutex<SlotState>,
    wake: Condvar,
}

struct SlotState {
    status: Status,
    since: Instant,
    last_error: Option<String>,
    attempts: u32,
    link: Option<Arc<Link>>,
    discovered: Option<Discovered>,
    /// The connection of an attempt in progress (closed by `stop`).
    connecting: Option<Weak<Connection>>,
}

struct FirstPass {
    /// Backends whose first attempt has not finished.
    remaining: usize,
    /// The first catalog is built: requests may proceed.
    complete: bool,
    fatal: Option<String>,
}

/// All backends of a config, and the catalog they make up.
pub struct Supervisor {
    config: Arc<Config>,
    slots: Vec<Slot>,
    catalog: RwLock<Arc<Catalog>>,
    first_pass: Mutex<FirstPass>,
    first_pass_done: Condvar,
    /// Connection attempts in progress (bounded by `startup_concurrency`).
    starting: Mutex<usize>,
    starting_freed: Condvar,
    rebuild: Mutex<HashSet<String>>,
    listener: RwLock<Option<Arc<dyn Listener>>>,
    /// The audit log, when `audit.enabled`.
    audit: RwLock<Option<Arc<AuditLog>>>,
    stopping: AtomicBool,
    /// The first catalog went into the audit log (later ones when changed).
    catalog_recorded: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("backends", &self.slots.len())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every guarded value here is replaced whole; a panic cannot tear it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Supervisor {
    /// A supervisor for `config`'s backends; nothing starts until [`Supervisor::start`].
    pub fn new(config: Arc<Config>) -> Arc<Supervisor> {
        let now = Instant::now();
        let slots = config
            .backends
            .iter()
            .map(|b| Slot {
                config: b.clone(),
                first_done: AtomicBool::new(false),
                state: Mutex::new(SlotState {
                    status: Status::Starting,
                    since: now,
                    last_error: None,
                    attempts: 0,
                    link: None,
                    discovered: None,
                    connecting: None,
                }),
                wake: Condvar::new(),
            })
            .collect::<Vec<_>>();
        Arc::new(Supervisor {
            first_pass: Mutex::new(FirstPass {
                remaining: slots.len(),
                // With no backends the (empty) first catalog is already built.
                complete: slots.is_empty(),
                fatal: None,
            }),
            config,
            slots,
            catalog: RwLock::new(Arc::new(Catalog::default())),
            first_pass_done: Condvar::new(),
            starting: Mutex::new(0),
            starting_freed: Condvar::new(),
            rebuild: Mutex::new(HashSet::new()),
            listener: RwLock::new(None),
            audit: RwLock::new(None),
            stopping: AtomicBool::new(false),
            catalog_recorded: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        })
    }

    /// Sets who hears about catalog changes and notifications.
    pub fn set_listener(&self, listener: Arc<dyn Listener>) {
        *self.listener.write().unwrap_or_else(|e| e.into_inner()) = Some(listener);
    }

    /// Sets the audit log that catalog changes (and, through the router,
    /// forwarded requests) are recorded in.
    pub fn set_audit(&self, log: Arc<AuditLog>) {
        *self.audit.write().unwrap_or_else(|e| e.into_inner()) = Some(log);
    }

    /// The audit log, if one is on.
    pub fn audit(&self) -> Option<Arc<AuditLog>> {
        self.audit.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The `group` of a backend.
    pub fn group(&self, index: usize) -> String {
        self.slots[index].config.group.clone()
    }

    fn listener(&self) -> Option<Arc<dyn Listener>> {
        self.listener
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Starts one supervisor thread per backend. A panic in a backend's
    /// life (a bug reached by odd backend input) is caught there: the
    /// backend is stopped, marked down and started again after its retry
    /// delay, so it can never stay "connected" but deaf.
    pub fn start(self: &Arc<Self>) -> std::io::Result<()> {
        for index in 0..self.slots.len() {
            let me = self.clone();
            let handle = thread::Builder::new()
                .name(format!("argus-sup-{}", self.slots[index].config.name))
                .stack_size(SERVICE_STACK_BYTES * 2)
                .spawn(move || {
                    while panic::catch_unwind(AssertUnwindSafe(|| me.clone().run(index))).is_err() {
                        if !me.recover(index) {
                            break;
                        }
                    }
                })?;
            lock(&self.threads).push(handle);
        }
        Ok(())
    }

    /// The current catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until every backend had its first attempt, at most `timeout`.
    /// Returns whether the first pass is complete.
    pub fn wait_first_pass(&self, timeout: Duration) -> bool {
        let pass = self
            .first_pass_done
            .wait_timeout_while(lock(&self.first_pass), timeout, |p| !p.complete)
            .unwrap_or_else(|e| e.into_inner())
            .0;
        pass.complete
    }

    /// Whether the first pass is complete.
    pub fn first_pass_complete(&self) -> bool {
        lock(&self.first_pass).complete
    }

    /// A start-up error that must stop the gateway (strategy `error` conflicts).
    pub fn fatal(&self) -> Option<String> {
        lock(&self.first_pass).fatal.clone()
    }

    /// The live link of a backend, or why there is none.
    pub fn link(&self, index: usize) -> Result<Arc<Link>, String> {
        let slot = &self.slots[index];
        let state = lock(&slot.state);
        match (&state.link, state.status) {
            (Some(link), Status::Connected) => Ok(link.clone()),
            _ => Err(format!(
                "backend \"{}\" is unavailable ({}{})",
                slot.config.name,
                state.status,
                state
                    .last_error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )),
        }
    }

    /// The live links of every connected backend, in config order.
    pub fn links(&self) -> Vec<Arc<Link>> {
        (0..self.slots.len())
            .filter_map(|i| self.link(i).ok())
            .collect()
    }

    /// The `call` timeout of a backend.
    pub fn call_timeout(&self, index: usize) -> Duration {
        self.slots[index].config.timeouts.call
    }

    /// Every backend's name and state, in config order.
    pub fn states(&self) -> Vec<(String, BackendState)> {
        self.slots
            .iter()
            .map(|slot| {
                let s = lock(&slot.state);
                (
                    slot.config.name.clone(),
                    BackendState {
                        status: s.status,
                        since: s.since,
                        last_error: s.last_error.clone(),
                        attempts: s.attempts,
                        pid: s.link.as_ref().and_then(|l| l.pid()),
                    },
                )
            })
            .collect()
    }

    /// (configured, connected) backend counts.
    pub fn counts(&self) -> (usize, usize) {
        let connected = self
            .slots
            .iter()
            .filter(|s| lock(&s.state).status == Status::Connected)
            .count();
        (self.slots.len(), connected)
    }

    /// Stops every backend (in parallel, each in stages) and the supervisor
    /// threads. Idempotent.
    pub fn stop(&self) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        let mut starting = Vec::new();
        let links: Vec<Arc<Link>> = self
            .slots
            .iter()
            .filter_map(|slot| {
                let mut s = lock(&slot.state);
                s.status = Status::Stopped;
                slot.wake.notify_all();
                starting.extend(s.connecting.take().and_then(|c| c.upgrade()));
                s.link.take()
            })
            .collect();
        // A backend still in its handshake (a stdio `init` may be 60 s):
        // closing its connection ends the wait, and the start stops it.
        for conn in starting {
            conn.close("the gateway is shutting down");
        }
        self.starting_freed.notify_all();
        let stoppers: Vec<JoinHandle<()>> = links
            .into_iter()
            .filter_map(|link| {
                thread::Builder::new()
                    .name("argus-stop".into())
                    .stack_size(SERVICE_STACK_BYTES)
                    .spawn(move || link.stop())
                    .ok()
            })
            .collect();
        for t in stoppers {
            let _ = t.join();
        }
        let threads = std::mem::take(&mut *lock(&self.threads));
        for t in threads {
            let _ = t.join();
        }
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The life of backend `index`.
    fn run(self: Arc<Self>, index: usize) {
        let slot = &self.slots[index];
        let name = slot.config.name.clone();
        let t = slot.config.timeouts.clone();
        let backoff = self.config.lifecycle.retry_backoff;
        // Failed attempts in a row. A connection that dies within
        // `STABLE_CONNECTION` counts as one too, so a backend that crashes
        // right after its handshake backs off like one that cannot start
        // (before, every connect reset the count: a tight respawn loop
        // flooding sessions with list_changed).
        let mut failures: u32 = 0;
        let credentials = backend::credentials(&slot.config);
        while !self.stopping() {
            let (tx, rx) = backend::events(&name);
            let connected = |conn: &Arc<Connection>| {
                lock(&slot.state).connecting = Some(Arc::downgrade(conn));
                // `stop` may have looked before this was recorded.
                if self.stopping() {
                    conn.close("the gateway is shutting down");
                }
            };
            let hooks = backend::Startup {
                connected: &connected,
                cancelled: &|| self.stopping(),
            };
            let attempt = self.with_permit(|| {
                let attempt = backend::start(&slot.config, &credentials, tx, &hooks);
                lock(&slot.state).connecting = None;
                attempt
            });
            let Some(attempt) = attempt else { break };
            let message = match attempt {
                Ok(link) => {
                    let link = Arc::new(link);
                    info!(
                        "[{name}] connected: {} tools, {} resources, {} templates, {} prompts",
                        link.discovered.tools.len(),
                        link.discovered.resources.len(),
                        link.discovered.templates.len(),
                        link.discovered.prompts.len()
                    );
                    {
                        let mut s = lock(&slot.state);
                        if s.status == Status::Stopped {
                            drop(s);
                            link.stop();
                            break;
                        }
                        s.status = Status::Connected;
                        s.since = Instant::now();
                        s.discovered = Some(link.discovered.clone());
                        s.link = Some(link.clone());
                    }
                    if !self.first_attempt_done(index) {
                        self.rebuild();
                        if let Some(l) = self.listener() {
                            l.backend_ready(index, &link.conn);
                        }
                    }
                    let up_since = Instant::now();
                    let cause = redact::text(&self.connected(index, &link, &rx)).into_owned();
                    {
                        let mut s = lock(&slot.state);
                        s.link = None;
                        s.discovered = None;
                        if s.status != Status::Stopped {
                            s.status = Status::Retrying;
                            s.since = Instant::now();
                            s.last_error = Some(cause.clone());
                        }
                    }
                    link.stop();
                    if self.stopping() {
                        break;
                    }
                    self.rebuild();
                    if up_since.elapsed() >= STABLE_CONNECTION {
                        // It ran well: restart at once, with a fresh count.
                        warn!("[{name}] disconnected ({cause}); restarting");
                        failures = 0;
                        lock(&slot.state).attempts = 0;
                        continue;
                    }
                    format!(
                        "disconnected {:.1}s after connecting ({cause})",
                        up_since.elapsed().as_secs_f64()
                    )
                }
                Err(e) => redact::text(&e.to_string()).into_owned(),
            };
            failures += 1;
            let exhausted = failures > t.retries;
            {
                let mut s = lock(&slot.state);
                if s.status != Status::Stopped {
                    s.status = if exhausted {
                        Status::Failed
                    } else {
                        Status::Retrying
                    };
                    s.since = Instant::now();
                }
                s.last_error = Some(message.clone());
                s.attempts = failures;
            }
            self.first_attempt_done(index);
            if exhausted {
                error!("[{name}] failed: {message}; giving up after {failures} attempt(s)");
                break;
            }
            let delay = retry_delay(t.retry_delay, backoff, failures);
            warn!(
                "[{name}] failed: {message}; retry {failures}/{} in {:.1}s",
                t.retries,
                delay.as_secs_f64()
            );
            if !self.sleep(slot, delay) {
                break;
            }
        }
        self.first_attempt_done(index);
        debug!("[{name}] supervisor ended");
    }

    /// After a panic in backend `index`'s life: stops what it had, takes it
    /// out of the catalog, and waits its retry delay. Returns whether to
    /// start it again (not when shutting down).
    fn recover(&self, index: usize) -> bool {
        let slot = &self.slots[index];
        error!(
            "[{}] supervisor panicked; restarting the backend",
            slot.config.name
        );
        let link = {
            let mut s = lock(&slot.state);
            if s.status != Status::Stopped {
                s.status = Status::Retrying;
                s.since = Instant::now();
                s.last_error = Some("internal error in the gateway (see its log)".into());
            }
            s.discovered = None;
            s.link.take()
        };
        if let Some(link) = link {
            link.stop();
        }
        self.first_attempt_done(index);
        // A panic inside a rebuild leaves the previous catalog in place.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| self.rebuild()));
        !self.stopping() && self.sleep(slot, slot.config.timeouts.retry_delay)
    }

    /// Runs `f` holding one of `startup_concurrency` permits; `None` if
    /// shutdown began while waiting.
    fn with_permit<T>(&self, f: impl FnOnce() -> T) -> Option<T> {
        let limit = self.config.lifecycle.startup_concurrency;
        let mut n = lock(&self.starting);
        while *n >= limit {
            if self.stopping() {
                return None;
            }
            n = self
                .starting_freed
                .wait(n)
                .unwrap_or_else(|e| e.into_inner());
        }
        if self.stopping() {
            return None;
        }
        *n += 1;
        drop(n);
        let result = f();
        *lock(&self.starting) -= 1;
        self.starting_freed.notify_one();
        Some(result)
    }

    /// Waits `delay` unless shutdown begins; returns `false` on shutdown.
    fn sleep(&self, slot: &Slot, delay: Duration) -> bool {
        let stopped = |s: &SlotState| self.stopping() || s.status == Status::Stopped;
        let s = slot
            .wake
            .wait_timeout_while(lock(&slot.state), delay, |s| !stopped(s))
            .unwrap_or_else(|e| e.into_inner())
            .0;
        !stopped(&s)
    }

    /// Serves a connected backend's events until its connection closes;
    /// returns the cause.
    fn connected(&self, index: usize, link: &Link, rx: &EventReceiver) -> String {
        let name = &self.slots[index].config.name;
        loop {
            let Some(event) = rx.recv() else {
                return "event channel closed".into();
            };
            // One event that trips a bug is dropped; the backend goes on.
            match panic::catch_unwind(AssertUnwindSafe(|| self.on_event(index, link, rx, event))) {
                Ok(Some(cause)) => return cause,
                Ok(None) => {}
                Err(_) => error!("[{name}] handling a backend event panicked; event dropped"),
            }
        }
    }

    /// Handles one event of a connected backend; `Some(cause)` when the
    /// connection closed.
    fn on_event(
        &self,
        index: usize,
        link: &Link,
        rx: &EventReceiver,
        event: Event,
    ) -> Option<String> {
        let slot = &self.slots[index];
        let name = &slot.config.name;
        match event {
            Event::Closed(cause) => return Some(cause),
            Event::Request {
                id,
                method,
                params,
                origin,
            } => self.ask(name, &link.conn, id, &method, params, origin),
            Event::Notification { method, params } => {
                if method.ends_with("/list_changed") {
                    // Coalesce a burst into one re-discovery.
                    let mut closed = None;
                    while let Some(next) = rx.try_recv() {
                        match next {
                            Event::Closed(cause) => closed = Some(cause),
                            Event::Notification { method, params }
                                if !method.ends_with("/list_changed") =>
                            {
                                self.forward(name, &method, params)
                            }
                            Event::Notification { .. } => {}
                            Event::Request {
                                id,
                                method,
                                params,
                                origin,
                            } => self.ask(name, &link.conn, id, &method, params, origin),
                        }
                    }
                    if closed.is_some() {
                        return closed;
                    }
                    debug!("[{name}] {method}: re-discovering");
                    match backend::rediscover(link, slot.config.timeouts.cap_fetch) {
                        Ok(fresh) => {
                            lock(&slot.state).discovered = Some(fresh);
                            if self.first_pass_complete() {
                                self.rebuild();
                            }
                        }
                        Err(_) if self.stopping() => {}
                        Err(e) => warn!("[{name}] re-discovery failed: {e}"),
                    }
                } else {
                    self.forward(name, &method, params);
                }
            }
        }
        None
    }

    /// Hands a backend's request to the listener, or refuses it.
    fn ask(
        &self,
        backend: &str,
        conn: &Arc<Connection>,
        id: RequestId,
        method: &str,
        params: Option<Value>,
        origin: Option<Origin>,
    ) {
        match self.listener() {
            Some(l) => l.request(backend, conn, id, method, params, origin),
            None => {
                conn.respond(&Message::error(
                    Some(id),
                    code::METHOD_NOT_FOUND,
                    format!("{method}: no client to ask"),
                ));
            }
        }
    }

    fn forward(&self, backend: &str, method: &str, params: Option<Value>) {
        match self.listener() {
            Some(l) => l.notification(backend, method, params),
            None => debug!("[{backend}] {method} dropped (no listener)"),
        }
    }

    /// Counts backend `index`'s first attempt in the first pass, once;
    /// returns whether this call was the one that counted it.
    fn first_attempt_done(&self, index: usize) -> bool {
        if self.slots[index].first_done.swap(true, Ordering::SeqCst) {
            return false;
        }
        let last = {
            let mut pass = lock(&self.first_pass);
            pass.remaining = pass.remaining.saturating_sub(1);
            pass.remaining == 0 && !pass.complete
        };
        if !last {
            return true;
        }
        // Build the first catalog before anyone waiting may proceed, so the
        // first answers see every backend of the first pass.
        // Whatever happens in it, the first pass completes: requests wait for it.
        let fatal = match panic::catch_unwind(AssertUnwindSafe(|| self.try_rebuild())) {
            Ok(outcome) => outcome.err(),
            Err(_) => {
                error!("building the first catalog panicked");
                None
            }
        };
        {
            let mut pass = lock(&self.first_pass);
            pass.complete = true;
            if let Some(e) = &fatal {
                error!("{e}");
                pass.fatal = Some(e.clone());
            }
        }
        self.first_pass_done.notify_all();
        // A backend that changed while the first catalog was being built
        // skipped its own rebuild; catch it up.
        if fatal.is_none() {
            self.rebuild();
        }
        info!(
            "first pass complete: {} of {} backend(s) connected",
            self.counts().1,
            self.slots.len()
        );
        true
    }

    /// Rebuilds the catalog after the first pass; a conflict under strategy
    /// `error` keeps the previous catalog and is logged.
    fn rebuild(&self) {
        if !self.first_pass_complete() {
            return;
        }
        if let Err(e) = self.try_rebuild() {
            error!("{e}; keeping the previous catalog");
        }
    }

    fn try_rebuild(&self) -> Result<(), String> {
        let mut seen_warnings = lock(&self.rebuild);
        let discovered: Vec<Option<Discovered>> = self
            .slots
            .iter()
            .map(|s| {
                let s = lock(&s.state);
                (s.status == Status::Connected)
                    .then(|| s.discovered.clone())
                    .flatten()
            })
            .collect();
        let sources: Vec<Source<'_>> = self
            .slots
            .iter()
            .zip(&discovered)
            .enumerate()
            .filter_map(|(index, (slot, d))| {
                d.as_ref().map(|discovered| Source {
                    index,
                    name: &slot.config.name,
                    filters: &slot.config.filters,
                    overrides: &slot.config.tool_overrides,
                    discovered,
                })
            })
            .collect();
        let (catalog, warnings) =
            Catalog::build_with(&sources, &self.config.conflict, &self.config.names)
                .map_err(|e| e.to_string())?;
        for w in warnings {
            if seen_warnings.insert(w.clone()) {
                warn!("{w}");
            }
        }
        let (changed, previous): (Vec<Kind>, Arc<Catalog>) = {
            let mut current = self.catalog.write().unwrap_or_else(|e| e.into_inner());
            let changed = Kind::ALL
                .into_iter()
                .filter(|k| current.list(*k) != catalog.list(*k))
                .collect();
            let previous = std::mem::replace(&mut *current, Arc::new(catalog));
            (changed, previous)
        };
        let first = !self.catalog_recorded.swap(true, Ordering::SeqCst);
        if let Some(log) = self.audit()
            && (first || !changed.is_empty())
        {
            record_catalog(&log, &previous, &self.catalog());
        }
        drop(seen_warnings);
        if !changed.is_empty()
            && let Some(l) = self.listener()
        {
            l.catalog_changed(&changed);
        }
        Ok(())
    }
}

/// Records the effective catalog in the audit log: the SHA-256 of every
/// exposed name → backend and original name, sorted, and what was added
/// and removed since `before`.
fn record_catalog(log: &AuditLog, before: &Catalog, after: &Catalog) {
    let lines = |c: &Catalog| -> Vec<String> {
        let mut l: Vec<String> = c
            .entries
            .iter()
            .map(|e| {
                format!(
                    "{} {} -> {} {}",
                    e.kind.noun(),
                    e.exposed,
                    e.route.backend_name,
                    e.route.original
                )
            })
            .collect();
        l.sort();
        l
    };
    let (old, new) = (lines(before), lines(after));
    let name = |line: &String| line.split(" -> ").next().unwrap_or_default().to_owned();
    let added: Vec<String> = new.iter().filter(|l| !old.contains(l)).map(name).collect();
    let removed: Vec<String> = old.iter().filter(|l| !new.contains(l)).map(name).collect();
    let mut fields = serde_json::Map::new();
    fields.insert(
        "catalog_sha256".into(),
        Value::from(crate::sha256::hex(new.join("\n").as_bytes())),
    );
    fields.insert("entries".into(), Value::from(new.len()));
    fields.insert("added".into(), Value::from(added));
    fields.insert("removed".into(), Value::from(removed));
    let _ = log.record("catalog", fields);
}
