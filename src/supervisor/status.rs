//! Where each backend is in its life, as the management API, `/metrics`
//! and `check --connect` show it, and why a backend cannot take a call or
//! a request of the management API cannot be done.

use std::fmt;
use std::time::{Instant, SystemTime};

use crate::config::Backend;

/// Where a backend is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendStatus {
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

impl BackendStatus {
    /// Every status, as [`BackendStatus::as_str`] spells them.
    pub const ALL: [&'static str; 5] = ["starting", "connected", "retrying", "failed", "stopped"];

    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendStatus::Starting => "starting",
            BackendStatus::Connected => "connected",
            BackendStatus::Retrying => "retrying",
            BackendStatus::Failed => "failed",
            BackendStatus::Stopped => "stopped",
        }
    }

    /// The phase word the original Argus reports for this state (lower
    /// case, `shutting_down` with an underscore), so its clients read ours.
    pub fn phase(self) -> &'static str {
        match self {
            BackendStatus::Starting => "initializing",
            BackendStatus::Connected => "ready",
            BackendStatus::Retrying => "retrying",
            BackendStatus::Failed => "failed",
            BackendStatus::Stopped => "shutting_down",
        }
    }
}

impl fmt::Display for BackendStatus {
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
    pub status: BackendStatus,
    /// Why (redacted), if there is more to say.
    pub message: Option<String>,
}

/// A snapshot of one backend's state.
#[derive(Debug, Clone)]
pub struct BackendState {
    /// Its status.
    pub status: BackendStatus,
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

/// Why a backend cannot take a call now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// Its name.
    pub backend: String,
    /// Where it is in its life.
    pub status: BackendStatus,
    /// Its last error, if any.
    pub last_error: Option<String>,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "backend \"{}\" is unavailable ({}",
            self.backend, self.status
        )?;
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
