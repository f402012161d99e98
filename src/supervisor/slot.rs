//! A backend's slot: its config, where it is in its life, its live link,
//! and the first-pass bookkeeping that early requests wait on. Slots are
//! numbered once and never reused.

use super::*;

pub(super) struct Slot {
    pub(super) config: Backend,
    /// Its first attempt has finished (and, for the slots of the start-up
    /// config, was counted in the first pass).
    pub(super) first_done: AtomicBool,
    /// A reload removed or replaced it: its thread ends, it is never live again.
    pub(super) retired: AtomicBool,
    pub(super) state: Mutex<SlotState>,
    pub(super) wake: Condvar,
}

impl Slot {
    pub(super) fn new(config: Backend) -> Slot {
        Slot {
            config,
            first_done: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            state: Mutex::new(SlotState {
                status: BackendStatus::Starting,
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

pub(super) struct SlotState {
    pub(super) status: BackendStatus,
    pub(super) since: Instant,
    pub(super) last_error: Option<String>,
    pub(super) attempts: u32,
    pub(super) link: Option<Arc<Link>>,
    pub(super) discovered: Option<Discovered>,
    /// The connection of an attempt in progress (closed by `stop`).
    pub(super) connecting: Option<Weak<Connection>>,
    pub(super) connected_at: Option<SystemTime>,
    /// Times it connected.
    pub(super) connections: u64,
    /// Newest first, at most [`CONDITIONS_KEPT`].
    pub(super) conditions: VecDeque<Condition>,
    /// Its slow first attempt was logged ("still starting").
    pub(super) slow_noted: bool,
}

impl SlotState {
    /// Moves to `status` now, noting the transition.
    pub(super) fn enter(&mut self, status: BackendStatus, message: Option<String>) {
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

pub(super) struct FirstPass {
    /// Backends whose first attempt has not finished.
    pub(super) remaining: usize,
    /// The first catalog is built: requests may proceed.
    pub(super) complete: bool,
    pub(super) fatal: Option<String>,
}
