//! Applying a reloaded config and reconnecting one backend on request:
//! backends not in the new config stop, new ones start, ones whose
//! connection settings changed restart in a new slot, and the catalogs
//! are rebuilt.

use super::*;

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

impl Supervisor {
    /// Applies a new config (a reload): backends not in it stop (their calls in
    /// flight are answered with an error), new ones start, ones whose
    /// connection settings changed restart; filters, overrides, groups and
    /// conflict rules take effect in the rebuilt catalogs, and every view that
    /// changed tells its sessions. Waits up to [`RELOAD_CONNECT_WAIT`] for the
    /// started backends' first attempts. `Err` when the gateway is still
    /// starting or stopping.
    pub fn apply(self: &Arc<Self>, new: Config) -> Result<ReloadReport, NotDone> {
        let _one = lock(&self.reloading);
        if !self.first_pass_complete() || self.stopping() {
            return Err(NotDone::NotRunning);
        }
        let old = self.config();
        let old_active = read(&self.current).active.clone();
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
        *write(&self.current) = Current {
            config: new.clone(),
            active,
        };
        self.runtime.set_config(new);
        self.retire(&retire, "removed or changed by a config reload");
        for &index in &started {
            if let Err(e) = self.spawn(index) {
                let slot = self.slot(index);
                lock(&slot.state).enter(BackendStatus::Failed, Some(e.to_string()));
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
            if s.status != BackendStatus::Connected {
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
            let current = read(&self.current);
            let Some(p) = current.config.backends.iter().position(|b| b.name == name) else {
                return Err(NotDone::UnknownBackend(name.to_owned()));
            };
            (p, current.active[p])
        };
        let index = self.add_slot(&self.slot(old).config.clone(), Some(old));
        write(&self.current).active[position] = index;
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
            BackendStatus::Connected => Ok(()),
            _ => Err(NotConnected(
                s.last_error.clone().unwrap_or_else(|| s.status.to_string()),
            )),
        })
    }

    /// Appends a slot for `backend` (not started); returns its index. A
    /// slot that replaces `previous` (a restart of the same backend) carries
    /// on its connection count and phase history.
    pub(super) fn add_slot(&self, backend: &Backend, previous: Option<usize>) -> usize {
        let slot = Slot::new(backend.clone());
        if let Some(old) = previous.map(|i| self.slot(i)) {
            let old = lock(&old.state);
            let mut s = lock(&slot.state);
            s.connections = old.connections;
            s.conditions = old.conditions.clone();
        }
        let mut slots = write(&self.slots);
        slots.push(Arc::new(slot));
        slots.len() - 1
    }

    /// Retires slots: they leave service, their links stop (in parallel,
    /// waited for) and their threads end.
    pub(super) fn retire(&self, indices: &[usize], cause: &str) {
        let links: Vec<Arc<Link>> = indices
            .iter()
            .filter_map(|&i| {
                let slot = self.slot(i);
                slot.retired.store(true, Ordering::SeqCst);
                info!(target: LOG_TARGET, "[{}] stopping: {cause}", slot.config.name);
                halt(&slot, cause)
            })
            .collect();
        stop_all(links);
    }
}

/// Whether a reload must restart a backend: its transport, launch,
/// address, headers, auth or timeouts differ. Filters, overrides and the
/// group only change the catalog.
pub(super) fn connection_changed(old: &Backend, new: &Backend) -> bool {
    old.kind != new.kind || old.timeouts != new.timeouts
}
