//! Backend lifecycle and the live catalog.
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

mod life;
mod pin;
mod reload;
mod slot;
mod status;
mod views;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use log::{debug, error, info, warn};
use serde_json::Value;

use crate::backend::{
    self, BackendEvent, BackendRequest, Connection, Discovered, EventReceiver, Link, Origin,
};
use crate::catalog::{Catalog, ConflictError, Kind, Source};
use crate::config::{Backend, BackendKind, Config};
use crate::identity::Identity;
use crate::jsonrpc::{Message, RequestId, code};
use crate::limits::{
    BACKEND_STACK_BYTES, MAX_RETRY_DELAY, SERVICE_STACK_BYTES, STABLE_CONNECTION,
    STILL_STARTING_AFTER,
};
use crate::ops_events::Severity;
use crate::policy::Policies;
use crate::redact;
use crate::runtime::Runtime;
use crate::sync::{lock, read, spawn_named, write};

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

/// The log target of every other supervisor line, whichever file of the
/// supervisor writes it: the name users see in the log and grep for.
const LOG_TARGET: &str = "argus_mcp::supervisor";

use life::{halt, still_starting, stop_all};
use slot::{FirstPass, Slot, SlotState};

pub use reload::ReloadReport;
pub use status::{BackendState, BackendStatus, Condition, NotConnected, NotDone, Unavailable};
pub use views::{Views, changed_kinds};

/// Told about catalog changes and backend notifications (the gateway).
pub trait Listener: Send + Sync {
    /// The catalogs were rebuilt from `previous` to `fresh` (backends came
    /// or went, offered other items, or a reload changed the config or its
    /// policies): each session and stream is to be told which of *its*
    /// lists changed (`Views::seen_by` of both, `changed_kinds`). Runs on
    /// the thread that rebuilt the catalog (a supervisor thread, or a
    /// reload's), under no lock.
    fn catalog_changed(&self, previous: &Views, fresh: &Views);
    /// Backend `index` connected again (after a restart) and is in the
    /// catalog: state the sessions set on it before (log level,
    /// subscriptions) is to be restored on `conn`. Runs on the backend's
    /// supervisor thread, under no lock.
    fn backend_ready(&self, index: usize, conn: &Arc<Connection>) {
        let _ = (index, conn);
    }
    /// A backend sent a notification the supervisor does not handle itself.
    fn notification(&self, backend: &str, method: &str, params: Option<Value>);
    /// A backend sent a request for a client, while serving its `origin`'s
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

/// The config in force and its live slots, in config order.
#[derive(Debug)]
struct Current {
    config: Arc<Config>,
    /// Slot index of each of `config.backends`.
    active: Vec<usize>,
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
    /// The catalog lock read last, and the drift already told.
    pinned: Mutex<pin::Pinned>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("slots", &self.slots_len())
            .finish()
    }
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
            pinned: Mutex::default(),
            threads: Mutex::new(Vec::new()),
        })
    }

    fn slot(&self, index: usize) -> Arc<Slot> {
        read(&self.slots)[index].clone()
    }

    fn slots_len(&self) -> usize {
        read(&self.slots).len()
    }

    /// The config of the backends it runs (the last one applied; the
    /// runtime's config in force is the same one).
    fn config(&self) -> Arc<Config> {
        read(&self.current).config.clone()
    }

    /// The live slots, in config order, with their backend's current config.
    fn active(&self) -> Vec<(usize, Arc<Slot>, Backend)> {
        let current = read(&self.current);
        current
            .active
            .iter()
            .zip(&current.config.backends)
            .map(|(&i, b)| (i, self.slot(i), b.clone()))
            .collect()
    }

    /// The live slots, in config order, without their configs (cheap).
    fn active_slots(&self) -> Vec<(usize, Arc<Slot>)> {
        let current = read(&self.current);
        current.active.iter().map(|&i| (i, self.slot(i))).collect()
    }

    /// Sets who hears about catalog changes and notifications.
    pub fn set_listener(&self, listener: Arc<dyn Listener>) {
        *write(&self.listener) = Some(listener);
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
        read(&self.listener).clone()
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
        let name = format!("argus-sup-{}", self.slot(index).config.name);
        let handle = spawn_named(name, SERVICE_STACK_BYTES * 2, move || {
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
        read(&self.views).clone()
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
                if s.status != BackendStatus::Starting || s.slow_noted {
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
            (Some(link), BackendStatus::Connected) => Ok(link.clone()),
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
            .filter(|(_, s)| lock(&s.state).status == BackendStatus::Connected)
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
        let slots: Vec<Arc<Slot>> = read(&self.slots).clone();
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

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}
