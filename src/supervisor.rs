//! Backend lifecycle and the live catalog (PRODUCT §4).
//!
//! One supervisor thread per backend runs its life: start (spawn, handshake,
//! discovery) under a concurrency limit; on failure retry with backoff
//! (`retries`, `retry_delay`, ×`ARGUS_BACKEND_RETRY_BACKOFF`); when connected,
//! block on the connection's events: `list_changed` → re-discover, a close →
//! take its entries out of the catalog and restart the same way. The first
//! pass (every backend's first attempt) is awaited by MCP requests that
//! arrive early. The catalogs (one over every backend, one per group) are
//! an immutable [`Views`] swapped under a short write lock, so readers never
//! wait for a rebuild.
//!
//! Whoever waits for backends to start (the first pass, a reload, a
//! reconnect) also tells of the slow ones: a backend still on its first
//! attempt after [`STILL_STARTING_AFTER`] gets one INFO line, so a first
//! `npx` download does not look like a hang. A backend that fails or goes
//! away by itself has the last lines of its process's stderr in its
//! failure text (the log line, `last_error`, `check --connect`).
//!
//! Slots are numbered once and never reused: a backend that a reload
//! removes or changes is retired (stopped, its thread ends) and a changed or
//! added one gets a new slot, so a catalog route or an in-flight call can
//! never reach a different backend than the one it was made for. Which
//! slots are live, in config order, and the config they came from, is
//! [`Current`], swapped whole by [`Supervisor::apply`].

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use log::{debug, error, info, warn};
use serde_json::Value;

use crate::backend::{self, BackendEvent, Connection, Discovered, EventReceiver, Link, Origin};
use crate::catalog::{Catalog, ConflictError, Kind, Source};
use crate::config::{Backend, BackendKind, Config};
use crate::jsonrpc::{Message, RequestId, code};
use crate::limits::{
    MAX_RETRY_DELAY, SERVICE_STACK_BYTES, STABLE_CONNECTION, STILL_STARTING_AFTER,
};
use crate::ops_events::Severity;
use crate::runtime::Runtime;
use crate::redact;

/// How long a reload (or a reconnect) waits for the backends it starts to
/// finish their first attempt before it answers.
pub const RELOAD_CONNECT_WAIT: Duration = Duration::from_secs(30);

/// Phase transitions kept per backend (`conditions` in the management API).
const CONDITIONS_KEPT: usize = 10;

/// The log target of the lines that tell a user, at the default
/// verbosity, how each backend's start goes: connected (with what it
/// serves), or still starting. The rest of the supervisor's INFO lines
/// need `-v`.
pub const PROGRESS_LOG: &str = "argus_mcp::backends";

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
    /// The exposed lists of these kinds changed in one view: `None` is the
    /// whole catalog, `Some(group)` a group's. Runs on the thread that
    /// rebuilt the catalog (a supervisor thread, or a reload's), under no
    /// lock.
    fn catalog_changed(&self, view: Option<&str>, kinds: &[Kind]);
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

impl Status {
    /// Every status, as [`Status::as_str`] spells them.
    pub const ALL: [&'static str; 5] = ["starting", "connected", "retrying", "failed", "stopped"];

    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Starting => "starting",
            Status::Connected => "connected",
            Status::Retrying => "retrying",
            Status::Failed => "failed",
            Status::Stopped => "stopped",
        }
    }

    /// The original's phase word (`argus-original.md` §9.7).
    pub fn phase(self) -> &'static str {
        match self {
            Status::Starting => "initializing",
            Status::Connected => "ready",
            Status::Retrying => "retrying",
            Status::Failed => "failed",
            Status::Stopped => "shutting_down",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One phase transition of a backend.
#[derive(Debug, Clone)]
pub struct Condition {
    /// When.
    pub at: SystemTime,
    /// The status it moved to.
    pub status: Status,
    /// Why (redacted), if there is more to say.
    pub message: Option<String>,
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
    /// Its slot (what catalog routes name).
    pub index: usize,
    /// Its config.
    pub config: Backend,
    /// When it last connected.
    pub connected_at: Option<SystemTime>,
    /// Times it connected again after its first connection.
    pub restarts: u64,
    /// Its last phase transitions, newest first.
    pub conditions: Vec<Condition>,
}

/// The catalogs clients see: the whole one (`/sse`, `/mcp`) and one per
/// group (`/g/<group>/...`), each de-conflicted on its own.
#[derive(Debug, Default)]
pub struct Views {
    /// Every backend.
    pub all: Arc<Catalog>,
    /// Each configured group's backends, by group name.
    pub groups: BTreeMap<String, Arc<Catalog>>,
}

impl Views {
    /// The catalog of `view` (`None`: the whole one); `None` for an
    /// unknown group.
    pub fn get(&self, view: Option<&str>) -> Option<&Arc<Catalog>> {
        match view {
            None => Some(&self.all),
            Some(group) => self.groups.get(group),
        }
    }
}

/// Why a backend cannot take a call now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// Its name.
    pub backend: String,
    /// Where it is in its life.
    pub status: Status,
    /// Its last error, if any.
    pub last_error: Option<String>,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "backend \"{}\" is unavailable ({}", self.backend, self.status)?;
        if let Some(e) = &self.last_error {
            write!(f, ": {e}")?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for Unavailable {}

/// Why a reload or a reconnect was not done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotDone {
    /// The gateway is still starting, or is stopping.
    NotRunning,
    /// No backend of that name is configured.
    UnknownBackend(String),
}

impl fmt::Display for NotDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotDone::NotRunning => f.write_str("the gateway is still starting or is stopping"),
            // The original's wording, which its clients show.
            NotDone::UnknownBackend(name) => write!(f, "Backend '{name}' not found."),
        }
    }
}

impl std::error::Error for NotDone {}

/// Why a backend restarted on request did not connect: its last error,
/// or that it did not finish its attempt in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotConnected(pub String);

impl fmt::Display for NotConnected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotConnected {}

/// The config in force and its live slots, in config order.
#[derive(Debug)]
struct Current {
    config: Arc<Config>,
    /// Slot index of each of `config.backends`.
    active: Vec<usize>,
}

/// What a reload did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// Backends that were not in the old config.
    pub added: Vec<String>,
    /// Backends that are not in the new one.
    pub removed: Vec<String>,
    /// Backends whose connection settings changed: restarted.
    pub changed: Vec<String>,
    /// Started backends that did not connect in time, with why.
    pub errors: Vec<String>,
}

struct Slot {
    config: Backend,
    /// Its first attempt has finished (and, for the slots of the start-up
    /// config, was counted in the first pass).
    first_done: AtomicBool,
    /// A reload removed or replaced it: its thread ends, it is never live again.
    retired: AtomicBool,
    state: Mutex<SlotState>,
    wake: Condvar,
}

impl Slot {
    fn new(config: Backend) -> Slot {
        Slot {
            config,
            first_done: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            state: Mutex::new(SlotState {
                status: Status::Starting,
                since: Instant::now(),
                last_error: None,
                attempts: 0,
                link: None,
                discovered: None,
                connecting: None,
                connected_at: None,
                connections: 0,
                conditions: VecDeque::new(),
                slow_noted: false,
            }),
            wake: Condvar::new(),
        }
    }
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
    connected_at: Option<SystemTime>,
    /// Times it connected.
    connections: u64,
    /// Newest first, at most [`CONDITIONS_KEPT`].
    conditions: VecDeque<Condition>,
    /// Its slow first attempt was logged ("still starting").
    slow_noted: bool,
}

impl SlotState {
    /// Moves to `status` now, noting the transition.
    fn enter(&mut self, status: Status, message: Option<String>) {
        self.status = status;
        self.since = Instant::now();
        self.conditions.push_front(Condition {
            at: SystemTime::now(),
            status,
            message,
        });
        self.conditions.truncate(CONDITIONS_KEPT);
    }
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
    current: RwLock<Current>,
    /// Every slot ever made, live or retired; only appended to.
    slots: RwLock<Vec<Arc<Slot>>>,
    views: RwLock<Arc<Views>>,
    first_pass: Mutex<FirstPass>,
    /// Signalled when the first pass completes, and whenever a slot's first
    /// attempt finishes (a reload waits for the slots it started).
    first_pass_done: Condvar,
    /// One reload (or reconnect) at a time.
    reloading: Mutex<()>,
    /// The config in force, counters, events and the audit log, shared
    /// with the router and the gateway.
    runtime: Arc<Runtime>,
    /// Connection attempts in progress (bounded by `startup_concurrency`).
    starting: Mutex<usize>,
    starting_freed: Condvar,
    rebuild: Mutex<HashSet<String>>,
    listener: RwLock<Option<Arc<dyn Listener>>>,
    stopping: AtomicBool,
    /// The first catalog went into the audit log (later ones when changed).
    catalog_recorded: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("slots", &self.slots_len())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every guarded value here is replaced whole; a panic cannot tear it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Supervisor {
    /// A supervisor for `config`'s backends with a runtime of its own (a
    /// `check --connect`, a test); nothing starts until
    /// [`Supervisor::start`].
    pub fn new(config: Arc<Config>) -> Arc<Supervisor> {
        Supervisor::with_runtime(Runtime::new(config))
    }

    /// A supervisor for the backends of `runtime`'s config, recording in
    /// `runtime`; nothing starts until [`Supervisor::start`].
    pub fn with_runtime(runtime: Arc<Runtime>) -> Arc<Supervisor> {
        let config = runtime.config();
        let slots: Vec<Arc<Slot>> = config
            .backends
            .iter()
            .map(|b| Arc::new(Slot::new(b.clone())))
            .collect();
        Arc::new(Supervisor {
            first_pass: Mutex::new(FirstPass {
                remaining: slots.len(),
                // With no backends the (empty) first catalog is already built.
                complete: slots.is_empty(),
                fatal: None,
            }),
            current: RwLock::new(Current {
                active: (0..slots.len()).collect(),
                config,
            }),
            slots: RwLock::new(slots),
            views: RwLock::new(Arc::new(Views::default())),
            first_pass_done: Condvar::new(),
            reloading: Mutex::new(()),
            runtime,
            starting: Mutex::new(0),
            starting_freed: Condvar::new(),
            rebuild: Mutex::new(HashSet::new()),
            listener: RwLock::new(None),
            stopping: AtomicBool::new(false),
            catalog_recorded: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        })
    }

    fn slot(&self, index: usize) -> Arc<Slot> {
        self.slots.read().unwrap_or_else(|e| e.into_inner())[index].clone()
    }

    fn slots_len(&self) -> usize {
        self.slots.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The config of the backends it runs (the last one applied; the
    /// runtime's config in force is the same one).
    fn config(&self) -> Arc<Config> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .config
            .clone()
    }

    /// The live slots, in config order, with their backend's current config.
    fn active(&self) -> Vec<(usize, Arc<Slot>, Backend)> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current
            .active
            .iter()
            .zip(&current.config.backends)
            .map(|(&i, b)| (i, self.slot(i), b.clone()))
            .collect()
    }

    /// The live slots, in config order, without their configs (cheap).
    fn active_slots(&self) -> Vec<(usize, Arc<Slot>)> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current.active.iter().map(|&i| (i, self.slot(i))).collect()
    }

    /// Sets who hears about catalog changes and notifications.
    pub fn set_listener(&self, listener: Arc<dyn Listener>) {
        *self.listener.write().unwrap_or_else(|e| e.into_inner()) = Some(listener);
    }

    /// The `group` of a backend, as the config in force has it.
    pub fn group(&self, index: usize) -> String {
        let slot = self.slot(index);
        self.config()
            .backends
            .iter()
            .find(|b| b.name == slot.config.name)
            .map_or_else(|| slot.config.group.clone(), |b| b.group.clone())
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
        for index in 0..self.slots_len() {
            self.spawn(index)?;
        }
        Ok(())
    }

    /// Starts the supervisor thread of slot `index`.
    fn spawn(self: &Arc<Self>, index: usize) -> std::io::Result<()> {
        let me = self.clone();
        let handle = thread::Builder::new()
            .name(format!("argus-sup-{}", self.slot(index).config.name))
            .stack_size(SERVICE_STACK_BYTES * 2)
            .spawn(move || {
                while panic::catch_unwind(AssertUnwindSafe(|| me.clone().run(index))).is_err() {
                    if !me.recover(index) {
                        break;
                    }
                }
            })?;
        let mut threads = lock(&self.threads);
        // Threads of retired slots have ended: forget them.
        threads.retain(|t| !t.is_finished());
        threads.push(handle);
        Ok(())
    }

    /// The whole catalog (every backend).
    pub fn catalog(&self) -> Arc<Catalog> {
        self.views().all.clone()
    }

    /// Every view's catalog.
    pub fn views(&self) -> Arc<Views> {
        self.views.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until every backend had its first attempt, at most `timeout`;
    /// a backend still starting after [`STILL_STARTING_AFTER`] gets one
    /// INFO line meanwhile. Returns whether the first pass is complete.
    pub fn wait_first_pass(&self, timeout: Duration) -> bool {
        let watch: Vec<usize> = self.active_slots().into_iter().map(|(i, _)| i).collect();
        self.wait_noting_slow(timeout, &watch, |p| p.complete)
    }

    /// Waits on `first_pass_done` until `done` holds, at most `timeout`.
    /// Meanwhile each slot of `watch` still on its first attempt after
    /// [`STILL_STARTING_AFTER`] gets one INFO line: the wait wakes when the
    /// next one is due (never more often), so no thread polls. Returns
    /// whether `done` holds.
    fn wait_noting_slow(
        &self,
        timeout: Duration,
        watch: &[usize],
        done: impl Fn(&FirstPass) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let until = self
                .note_slow_starts(watch)
                .map_or(deadline, |due| due.min(deadline));
            let wait = until.saturating_duration_since(Instant::now());
            let pass = self
                .first_pass_done
                .wait_timeout_while(lock(&self.first_pass), wait, |p| !done(p))
                .unwrap_or_else(|e| e.into_inner())
                .0;
            if done(&pass) {
                return true;
            }
            drop(pass);
            if Instant::now() >= deadline {
                return false;
            }
        }
    }

    /// Logs, once per slot, each slot of `watch` whose first attempt has
    /// run for [`STILL_STARTING_AFTER`]; returns when the next such line is
    /// due, if any is still to come.
    fn note_slow_starts(&self, watch: &[usize]) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        for &index in watch {
            let slot = self.slot(index);
            let elapsed = {
                let mut s = lock(&slot.state);
                if s.status != Status::Starting || s.slow_noted {
                    continue;
                }
                let due = s.since + STILL_STARTING_AFTER;
                if Instant::now() < due {
                    next = Some(next.map_or(due, |n| n.min(due)));
                    continue;
                }
                s.slow_noted = true;
                s.since.elapsed()
            };
            info!(
                target: PROGRESS_LOG,
                "[{}] still starting after {}s: {}",
                slot.config.name,
                elapsed.as_secs(),
                still_starting(&slot.config)
            );
        }
        next
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
    pub fn link(&self, index: usize) -> Result<Arc<Link>, Unavailable> {
        let slot = self.slot(index);
        let state = lock(&slot.state);
        match (&state.link, state.status) {
            (Some(link), Status::Connected) => Ok(link.clone()),
            _ => Err(Unavailable {
                backend: slot.config.name.clone(),
                status: state.status,
                last_error: state.last_error.clone(),
            }),
        }
    }

    /// The live links of every connected backend, in config order.
    pub fn links(&self) -> Vec<Arc<Link>> {
        self.active_slots()
            .into_iter()
            .filter_map(|(i, _)| self.link(i).ok())
            .collect()
    }

    /// The `call` timeout of a backend.
    pub fn call_timeout(&self, index: usize) -> Duration {
        self.slot(index).config.timeouts.call
    }

    /// Every configured backend's name and state, in config order.
    pub fn states(&self) -> Vec<(String, BackendState)> {
        self.active()
            .into_iter()
            .map(|(index, slot, config)| {
                let s = lock(&slot.state);
                (
                    slot.config.name.clone(),
                    BackendState {
                        status: s.status,
                        since: s.since,
                        last_error: s.last_error.clone(),
                        attempts: s.attempts,
                        pid: s.link.as_ref().and_then(|l| l.pid()),
                        index,
                        config,
                        connected_at: s.connected_at,
                        restarts: s.connections.saturating_sub(1),
                        conditions: s.conditions.iter().cloned().collect(),
                    },
                )
            })
            .collect()
    }

    /// (configured, connected) backend counts.
    pub fn counts(&self) -> (usize, usize) {
        let active = self.active_slots();
        let connected = active
            .iter()
            .filter(|(_, s)| lock(&s.state).status == Status::Connected)
            .count();
        (active.len(), connected)
    }

    /// Stops every backend (in parallel, each in stages) and the supervisor
    /// threads. Idempotent.
    pub fn stop(&self) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        self.runtime.events().close();
        let slots: Vec<Arc<Slot>> = self.slots.read().unwrap_or_else(|e| e.into_inner()).clone();
        let links: Vec<Arc<Link>> = slots
            .iter()
            .filter_map(|slot| halt(slot, "the gateway is shutting down"))
            .collect();
        self.starting_freed.notify_all();
        stop_all(links);
        let threads = std::mem::take(&mut *lock(&self.threads));
        for t in threads {
            let _ = t.join();
        }
    }

    /// Applies a new config (a reload, PRODUCT §4.6): backends not in it
    /// stop (their calls in flight are answered with an error), new ones
    /// start, ones whose connection settings changed restart; filters,
    /// overrides, groups and conflict rules take effect in the rebuilt
    /// catalogs, and every view that changed tells its sessions. Waits up
    /// to [`RELOAD_CONNECT_WAIT`] for the started backends' first attempts.
    /// `Err` when the gateway is still starting or stopping.
    pub fn apply(self: &Arc<Self>, new: Config) -> Result<ReloadReport, NotDone> {
        let _one = lock(&self.reloading);
        if !self.first_pass_complete() || self.stopping() {
            return Err(NotDone::NotRunning);
        }
        let old = self.config();
        let old_active = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .active
            .clone();
        let mut report = ReloadReport::default();
        let mut retire = Vec::new();
        let mut active = Vec::with_capacity(new.backends.len());
        let mut started = Vec::new();
        for backend in &new.backends {
            let before = old.backends.iter().position(|b| b.name == backend.name);
            match before {
                Some(i) if !connection_changed(&old.backends[i], backend) => {
                    active.push(old_active[i]);
                }
                Some(i) => {
                    report.changed.push(backend.name.clone());
                    retire.push(old_active[i]);
                    let index = self.add_slot(backend, Some(old_active[i]));
                    started.push(index);
                    active.push(index);
                }
                None => {
                    report.added.push(backend.name.clone());
                    let index = self.add_slot(backend, None);
                    started.push(index);
                    active.push(index);
                }
            }
        }
        for (i, backend) in old.backends.iter().enumerate() {
            if !new.backends.iter().any(|b| b.name == backend.name) {
                report.removed.push(backend.name.clone());
                retire.push(old_active[i]);
            }
        }
        let new = Arc::new(new);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Current {
            config: new.clone(),
            active,
        };
        self.runtime.set_config(new);
        self.retire(&retire, "removed or changed by a config reload");
        for &index in &started {
            if let Err(e) = self.spawn(index) {
                let slot = self.slot(index);
                lock(&slot.state).enter(Status::Failed, Some(e.to_string()));
                slot.first_done.store(true, Ordering::SeqCst);
                report
                    .errors
                    .push(format!("{}: cannot start: {e}", slot.config.name));
            }
        }
        // Filter, override, group and conflict edits, and the removals.
        self.rebuild();
        self.wait_attempted(&started, RELOAD_CONNECT_WAIT);
        for &index in &started {
            let slot = self.slot(index);
            let s = lock(&slot.state);
            if s.status != Status::Connected {
                let why = s.last_error.as_deref().unwrap_or("not connected yet");
                report.errors.push(format!("{}: {why}", slot.config.name));
            }
        }
        Ok(report)
    }

    /// Restarts backend `name` now (`POST /manage/v1/reconnect/{name}`),
    /// whatever its state, with a fresh retry count; waits up to `wait`
    /// for the new attempt. `Ok(Err(why))` when it did not connect;
    /// `Err` when there is no such backend or the gateway is not running.
    pub fn reconnect(
        self: &Arc<Self>,
        name: &str,
        wait: Duration,
    ) -> Result<Result<(), NotConnected>, NotDone> {
        let _one = lock(&self.reloading);
        if !self.first_pass_complete() || self.stopping() {
            return Err(NotDone::NotRunning);
        }
        let (position, old) = {
            let current = self.current.read().unwrap_or_else(|e| e.into_inner());
            let Some(p) = current.config.backends.iter().position(|b| b.name == name) else {
                return Err(NotDone::UnknownBackend(name.to_owned()));
            };
            (p, current.active[p])
        };
        let index = self.add_slot(&self.slot(old).config.clone(), Some(old));
        self.current
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .active[position] = index;
        self.retire(&[old], "reconnect requested");
        if let Err(e) = self.spawn(index) {
            return Ok(Err(NotConnected(format!("cannot start: {e}"))));
        }
        self.rebuild();
        if !self.wait_attempted(&[index], wait) {
            return Ok(Err(NotConnected(format!(
                "Reconnect timed out after {}s.",
                wait.as_secs()
            ))));
        }
        let slot = self.slot(index);
        let s = lock(&slot.state);
        Ok(match s.status {
            Status::Connected => Ok(()),
            _ => Err(NotConnected(
                s.last_error.clone().unwrap_or_else(|| s.status.to_string()),
            )),
        })
    }

    /// Appends a slot for `backend` (not started); returns its index. A
    /// slot that replaces `previous` (a restart of the same backend) carries
    /// on its connection count and phase history.
    fn add_slot(&self, backend: &Backend, previous: Option<usize>) -> usize {
        let slot = Slot::new(backend.clone());
        if let Some(old) = previous.map(|i| self.slot(i)) {
            let old = lock(&old.state);
            let mut s = lock(&slot.state);
            s.connections = old.connections;
            s.conditions = old.conditions.clone();
        }
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        slots.push(Arc::new(slot));
        slots.len() - 1
    }

    /// Retires slots: they leave service, their links stop (in parallel,
    /// waited for) and their threads end.
    fn retire(&self, indices: &[usize], cause: &str) {
        let links: Vec<Arc<Link>> = indices
            .iter()
            .filter_map(|&i| {
                let slot = self.slot(i);
                slot.retired.store(true, Ordering::SeqCst);
                info!("[{}] stopping: {cause}", slot.config.name);
                halt(&slot, cause)
            })
            .collect();
        stop_all(links);
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The life of backend `index`.
    fn run(self: Arc<Self>, index: usize) {
        let slot = self.slot(index);
        let slot = &*slot;
        let name = slot.config.name.clone();
        let t = slot.config.timeouts.clone();
        let backoff = self.config().lifecycle.retry_backoff;
        // Failed attempts in a row. A connection that dies within
        // `STABLE_CONNECTION` counts as one too, so a backend that crashes
        // right after its handshake backs off like one that cannot start
        // (before, every connect reset the count: a tight respawn loop
        // flooding sessions with list_changed).
        let mut failures: u32 = 0;
        let credentials = backend::credentials(&slot.config);
        while !self.stopping() && !slot.retired.load(Ordering::SeqCst) {
            let (tx, rx) = backend::events(&name);
            let connected = |conn: &Arc<Connection>| {
                lock(&slot.state).connecting = Some(Arc::downgrade(conn));
                // `stop` (or a reload) may have looked before this was recorded.
                if self.stopping() || slot.retired.load(Ordering::SeqCst) {
                    conn.close("the gateway is shutting down");
                }
            };
            let hooks = backend::Startup {
                connected: &connected,
                cancelled: &|| self.stopping() || slot.retired.load(Ordering::SeqCst),
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
                    let d = &link.discovered;
                    let summary = format!(
                        "{} tools, {} resources, {} templates, {} prompts",
                        d.tools.len(),
                        d.resources.len(),
                        d.templates.len(),
                        d.prompts.len()
                    );
                    info!(target: PROGRESS_LOG, "[{name}] connected: {summary}");
                    {
                        let mut s = lock(&slot.state);
                        if s.status == Status::Stopped {
                            drop(s);
                            link.stop();
                            break;
                        }
                        s.enter(Status::Connected, None);
                        s.connected_at = Some(SystemTime::now());
                        s.connections += 1;
                        s.discovered = Some(link.discovered.clone());
                        s.link = Some(link.clone());
                    }
                    self.runtime.events().record(
                        "backend_connected",
                        Severity::Info,
                        Some(&name),
                        format!("connected: {summary}"),
                        None,
                    );
                    if !self.first_attempt_done(index) {
                        self.rebuild();
                        if let Some(l) = self.listener() {
                            l.backend_ready(index, &link.conn);
                        }
                    }
                    // Only now, with the catalog rebuilt: a reload waits for it.
                    self.attempted(index);
                    let up_since = Instant::now();
                    let mut cause = self.connected(index, &link, &rx);
                    // Gone by itself (not stopped by us): it may have said why.
                    if !self.stopping() && lock(&slot.state).status != Status::Stopped {
                        cause = backend::stdio::with_stderr(&cause, link.stderr_tail().as_deref());
                    }
                    let cause = redact::text(&cause).into_owned();
                    let ended = {
                        let mut s = lock(&slot.state);
                        s.link = None;
                        s.discovered = None;
                        s.last_error = Some(cause.clone());
                        let ended = s.status == Status::Stopped;
                        if !ended {
                            s.enter(Status::Retrying, Some(cause.clone()));
                        }
                        ended
                    };
                    link.stop();
                    if self.stopping() {
                        break;
                    }
                    self.rebuild();
                    if ended {
                        break;
                    }
                    self.runtime.events().record(
                        "backend_disconnected",
                        Severity::Warning,
                        Some(&name),
                        format!("disconnected: {cause}"),
                        None,
                    );
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
                    let next = if exhausted {
                        Status::Failed
                    } else {
                        Status::Retrying
                    };
                    s.enter(next, Some(message.clone()));
                }
                s.last_error = Some(message.clone());
                s.attempts = failures;
            }
            self.first_attempt_done(index);
            self.attempted(index);
            if slot.retired.load(Ordering::SeqCst) || self.stopping() {
                break;
            }
            if exhausted {
                error!("[{name}] failed: {message}; giving up after {failures} attempt(s)");
                self.runtime.events().record(
                    "backend_failed",
                    Severity::Error,
                    Some(&name),
                    format!("failed after {failures} attempt(s): {message}"),
                    None,
                );
                break;
            }
            let delay = retry_delay(t.retry_delay, backoff, failures);
            warn!(
                "[{name}] failed: {message}; retry {failures}/{} in {:.1}s",
                t.retries,
                delay.as_secs_f64()
            );
            self.runtime.events().record(
                "backend_retrying",
                Severity::Warning,
                Some(&name),
                format!(
                    "attempt {failures} failed: {message}; retry in {:.1}s",
                    delay.as_secs_f64()
                ),
                None,
            );
            if !self.sleep(slot, delay) {
                break;
            }
        }
        self.first_attempt_done(index);
        self.attempted(index);
        debug!("[{name}] supervisor ended");
    }

    /// After a panic in backend `index`'s life: stops what it had, takes it
    /// out of the catalog, and waits its retry delay. Returns whether to
    /// start it again (not when shutting down).
    fn recover(&self, index: usize) -> bool {
        let slot = self.slot(index);
        let slot = &*slot;
        error!(
            "[{}] supervisor panicked; restarting the backend",
            slot.config.name
        );
        let link = {
            let mut s = lock(&slot.state);
            if s.status != Status::Stopped {
                let why = "internal error in the gateway (see its log)";
                s.enter(Status::Retrying, Some(why.into()));
                s.last_error = Some(why.into());
            }
            s.discovered = None;
            s.link.take()
        };
        if let Some(link) = link {
            link.stop();
        }
        self.first_attempt_done(index);
        self.attempted(index);
        // A panic inside a rebuild leaves the previous catalog in place.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| self.rebuild()));
        !self.stopping()
            && !slot.retired.load(Ordering::SeqCst)
            && self.sleep(slot, slot.config.timeouts.retry_delay)
    }

    /// Runs `f` holding one of `startup_concurrency` permits; `None` if
    /// shutdown began while waiting.
    fn with_permit<T>(&self, f: impl FnOnce() -> T) -> Option<T> {
        let limit = self.config().lifecycle.startup_concurrency;
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
        let slot = self.slot(index);
        let name = &slot.config.name;
        let refresh = refresh_interval(link);
        loop {
            let next = match refresh {
                None => rx.recv(),
                // A 2026-07-28 backend that tells no one of list changes:
                // its lists are fetched again when its hints expire.
                Some(every) => rx.recv_timeout(every).unwrap_or_else(|_| {
                    Some(BackendEvent::Notification {
                        method: "notifications/tools/list_changed".into(),
                        params: None,
                    })
                }),
            };
            let Some(event) = next else {
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
        event: BackendEvent,
    ) -> Option<String> {
        let slot = self.slot(index);
        let name = &slot.config.name;
        match event {
            BackendEvent::Closed(cause) => return Some(cause),
            BackendEvent::Request {
                id,
                method,
                params,
                origin,
            } => self.ask(name, &link.conn, id, &method, params, origin),
            BackendEvent::Notification { method, params } => {
                if method.ends_with("/list_changed") {
                    // Coalesce a burst into one re-discovery.
                    let mut closed = None;
                    while let Some(next) = rx.try_recv() {
                        match next {
                            BackendEvent::Closed(cause) => closed = Some(cause),
                            BackendEvent::Notification { method, params }
                                if !method.ends_with("/list_changed") =>
                            {
                                self.forward(name, &method, params)
                            }
                            BackendEvent::Notification { .. } => {}
                            BackendEvent::Request {
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

    /// Counts backend `index`'s first attempt in the first pass, once, if
    /// the pass is still going; returns whether this call counted it (the
    /// pass then builds the catalog, so the caller must not). A slot that a
    /// reload started is not part of the pass: `false`, and the caller
    /// rebuilds. [`Supervisor::attempted`] marks the attempt finished.
    fn first_attempt_done(&self, index: usize) -> bool {
        let slot = self.slot(index);
        if slot.first_done.load(Ordering::SeqCst) {
            return false;
        }
        let last = {
            let mut pass = lock(&self.first_pass);
            // Slots of the start-up config all count before the pass
            // completes; a later slot never does.
            if pass.complete || slot.first_done.swap(true, Ordering::SeqCst) {
                return false;
            }
            pass.remaining = pass.remaining.saturating_sub(1);
            pass.remaining == 0
        };
        if !last {
            return true;
        }
        // Build the first catalog before anyone waiting may proceed, so the
        // first answers see every backend of the first pass.
        // Whatever happens in it, the first pass completes: requests wait for it.
        let fatal = match panic::catch_unwind(AssertUnwindSafe(|| self.try_rebuild())) {
            Ok(outcome) => outcome.err().map(|e| e.to_string()),
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
        let (total, connected) = self.counts();
        info!("first pass complete: {connected} of {total} backend(s) connected");
        self.runtime.events().record(
            "status",
            Severity::Info,
            None,
            format!("running: {connected} of {total} backend(s) connected"),
            None,
        );
        true
    }

    /// Marks backend `index`'s first attempt finished (after its catalog
    /// rebuild, if it connected), waking a reload that waits for it.
    fn attempted(&self, index: usize) {
        if !self.slot(index).first_done.swap(true, Ordering::SeqCst) {
            let _pass = lock(&self.first_pass);
            self.first_pass_done.notify_all();
        }
    }

    /// Waits until every slot in `indices` finished its first attempt, at
    /// most `timeout` (telling of slow ones as [`Supervisor::wait_first_pass`]
    /// does); returns whether they all did.
    fn wait_attempted(&self, indices: &[usize], timeout: Duration) -> bool {
        self.wait_noting_slow(timeout, indices, |_| {
            indices
                .iter()
                .all(|&i| self.slot(i).first_done.load(Ordering::SeqCst))
        })
    }

    /// Rebuilds the catalog after the first pass; a conflict under strategy
    /// `error` keeps the previous catalog and is logged.
    fn rebuild(&self) {
        if !self.first_pass_complete() {
            return;
        }
        if let Err(e) = self.try_rebuild() {
            error!("{e}; keeping the previous catalog");
            self.runtime.events().record(
                "capability_change",
                Severity::Error,
                None,
                format!("{e}; keeping the previous catalog"),
                None,
            );
        }
    }

    /// Builds every view from what the live slots offer now and swaps it
    /// in; tells the listener which lists changed in which view.
    fn try_rebuild(&self) -> Result<(), ConflictError> {
        // Also serializes rebuilds: views are swapped in build order.
        let mut seen_warnings = lock(&self.rebuild);
        let config = self.config();
        let active = self.active();
        let discovered: Vec<Option<Discovered>> = active
            .iter()
            .map(|(_, slot, _)| {
                let s = lock(&slot.state);
                (s.status == Status::Connected)
                    .then(|| s.discovered.clone())
                    .flatten()
            })
            .collect();
        let sources: Vec<(Source<'_>, &str)> = active
            .iter()
            .zip(&discovered)
            .filter_map(|((index, _, backend), d)| {
                d.as_ref().map(|discovered| {
                    let source = Source {
                        index: *index,
                        name: &backend.name,
                        filters: &backend.filters,
                        overrides: &backend.tool_overrides,
                        discovered,
                    };
                    (source, backend.group.as_str())
                })
            })
            .collect();
        let build = |group: Option<&str>| {
            let chosen: Vec<Source<'_>> = sources
                .iter()
                .filter(|(_, g)| group.is_none_or(|want| want == *g))
                .map(|(s, _)| *s)
                .collect();
            Catalog::build_with(&chosen, &config.conflict, &config.names)
        };
        let (all, warnings) = build(None)?;
        let mut groups = BTreeMap::new();
        for backend in &config.backends {
            if !groups.contains_key(&backend.group) {
                // A subset of a catalog that built cannot conflict under
                // `error`; a panic-free fallback all the same.
                let (catalog, _) = build(Some(&backend.group)).unwrap_or_default();
                groups.insert(backend.group.clone(), Arc::new(catalog));
            }
        }
        for w in warnings {
            if seen_warnings.insert(w.clone()) {
                warn!("{w}");
            }
        }
        let fresh = Arc::new(Views {
            all: Arc::new(all),
            groups,
        });
        let previous = {
            let mut views = self.views.write().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *views, fresh.clone())
        };
        let changed_in = |view: Option<&str>| -> Vec<Kind> {
            let (Some(new), old) = (fresh.get(view), previous.get(view)) else {
                return Vec::new();
            };
            Kind::ALL
                .into_iter()
                .filter(|k| old.is_none_or(|old| old.list(*k) != new.list(*k)))
                .collect()
        };
        let mut changes = vec![(None, changed_in(None))];
        for group in fresh.groups.keys() {
            changes.push((Some(group.as_str()), changed_in(Some(group))));
        }
        let first = !self.catalog_recorded.swap(true, Ordering::SeqCst);
        if first || !changes[0].1.is_empty() {
            if let Some(log) = self.runtime.audit() {
                record_catalog(&log, &previous.all, &fresh.all);
            }
            if !first {
                let (added, removed) = catalog_diff(&previous.all, &fresh.all);
                let mut details = serde_json::Map::new();
                details.insert("added".into(), Value::from(added));
                details.insert("removed".into(), Value::from(removed));
                self.runtime.events().record(
                    "capability_change",
                    Severity::Info,
                    None,
                    format!("catalog changed: {} entries", fresh.all.entries.len()),
                    Some(details),
                );
            }
        }
        drop(seen_warnings);
        if let Some(l) = self.listener() {
            for (view, kinds) in changes.iter().filter(|(_, k)| !k.is_empty()) {
                l.catalog_changed(*view, kinds);
            }
        }
        Ok(())
    }
}

/// Every exposed name → backend and original name, one line each, sorted.
fn catalog_lines(c: &Catalog) -> Vec<String> {
    let mut lines: Vec<String> = c
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
    lines.sort();
    lines
}

/// The exposed names (`<kind> <name>`) added and removed from `before` to `after`.
fn catalog_diff(before: &Catalog, after: &Catalog) -> (Vec<String>, Vec<String>) {
    let (old, new) = (catalog_lines(before), catalog_lines(after));
    let name = |line: &String| line.split(" -> ").next().unwrap_or_default().to_owned();
    let added = new.iter().filter(|l| !old.contains(l)).map(name).collect();
    let removed = old.iter().filter(|l| !new.contains(l)).map(name).collect();
    (added, removed)
}

/// Records the effective catalog in the audit log: the SHA-256 of every
/// exposed name → backend and original name, sorted, and what was added
/// and removed since `before`.
fn record_catalog(log: &crate::audit::AuditLog, before: &Catalog, after: &Catalog) {
    let new = catalog_lines(after);
    let (added, removed) = catalog_diff(before, after);
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

/// Launchers that fetch the server they run on first use (and say
/// nothing on stdout meanwhile).
const DOWNLOADERS: [&str; 7] = ["npx", "uvx", "bunx", "pnpx", "pipx", "docker", "podman"];

/// What a backend still on its first attempt is waiting for, after
/// "still starting after 5s: ".
fn still_starting(backend: &Backend) -> String {
    let init = backend.timeouts.init.as_secs_f64();
    match &backend.kind {
        BackendKind::Stdio(launch) => {
            let program = launch.command.rsplit('/').next().unwrap_or_default();
            let hint = if DOWNLOADERS.contains(&program) {
                "a first run may be downloading it; "
            } else {
                ""
            };
            format!(
                "\"{}\" has not answered yet ({hint}initialize times out after {init}s)",
                launch.command
            )
        }
        BackendKind::Sse { url, .. } | BackendKind::StreamableHttp { url, .. } => format!(
            "{} has not answered yet (initialize times out after {init}s)",
            redact::url(url)
        ),
    }
}

/// Whether a reload must restart a backend: its transport, launch,
/// address, headers, auth or timeouts differ. Filters, overrides and the
/// group only change the catalog.
fn connection_changed(old: &Backend, new: &Backend) -> bool {
    old.kind != new.kind || old.timeouts != new.timeouts
}

/// Takes a slot out of service: status `Stopped` (its thread ends at its
/// next look), an attempt in progress closed, and its live link returned
/// for the caller to stop.
fn halt(slot: &Slot, cause: &str) -> Option<Arc<Link>> {
    let (link, starting) = {
        let mut s = lock(&slot.state);
        s.enter(Status::Stopped, Some(cause.to_owned()));
        (s.link.take(), s.connecting.take().and_then(|c| c.upgrade()))
    };
    slot.wake.notify_all();
    // A backend still in its handshake (a stdio `init` may be 60 s):
    // closing its connection ends the wait, and the start stops it.
    if let Some(conn) = starting {
        conn.close(cause);
    }
    link
}

/// Stops links in parallel (each in stages, up to a few seconds) and
/// waits for all of them. Their requests in flight hear `Closed`.
/// How often a connected backend's lists are fetched again unasked: a
/// 2026-07-28 backend without list-change notifications whose caching
/// hints let clients keep its lists for a while (at least a second); none
/// for the rest, whose lists change only when they say so.
fn refresh_interval(link: &Link) -> Option<Duration> {
    let ttl = link.discovered.cache.ttl_ms.filter(|t| *t > 0)?;
    (link.conn.is_modern() && crate::backend::listen_params(&link.discovered).is_none())
        .then(|| Duration::from_millis(ttl).max(Duration::from_secs(1)))
}

fn stop_all(links: Vec<Arc<Link>>) {
    let stoppers: Vec<JoinHandle<()>> = links
        .into_iter()
        .filter_map(|link| {
            thread::Builder::new()
                .name("argus-stop".into())
                // A stop may speak TLS (the DELETE of a Streamable HTTP session).
                .stack_size(crate::limits::BACKEND_STACK_BYTES)
                .spawn(move || link.stop())
                .ok()
        })
        .collect();
    for t in stoppers {
        let _ = t.join();
    }
}
