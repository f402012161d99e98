//! The catalog lock in force (`catalog.pin`): at every rebuild the whole
//! catalog is compared with the lock file. Drift that is new since the
//! last rebuild is logged and recorded (`kind: drift`, with the old and new
//! hashes), and a lock file that changed is recorded (`kind: lock`). Under
//! `block`, each view's changed and new items are taken out of it, so no
//! list, read or call of any era or group reaches them, until the lock is
//! written again and reloaded.

use super::*;
use crate::catalog::{Drift, Lock, kind_word};
use crate::config::Pin;

/// The lock read last, and the drift already told.
#[derive(Debug, Default)]
pub(super) struct Pinned {
    /// The lock file's SHA-256 and what it says.
    lock: Option<(String, Lock)>,
    /// The whole catalog's drift at the last rebuild.
    drift: Vec<Drift>,
}

impl Supervisor {
    /// Applies `config`'s pin to freshly built `views`.
    pub(super) fn pin(&self, config: &Config, mut views: Views) -> Views {
        if config.pin == Pin::Off {
            return views;
        }
        let mut pinned = lock(&self.pinned);
        self.read_lock(config, &mut pinned);
        let Some((_, locked)) = &pinned.lock else {
            return views;
        };
        let drift = locked.drift(&Lock::of(&views.all));
        for d in drift.iter().filter(|d| !pinned.drift.contains(d)) {
            warn!(target: LOG_TARGET, "catalog drift against the lock: {d}");
            self.record_drift(d, config.pin);
        }
        if config.pin == Pin::Block {
            let withhold = |catalog: &Arc<Catalog>, view: Option<&str>, out: &mut Vec<_>| {
                let blocked: Vec<Drift> = locked
                    .drift(&Lock::of(catalog))
                    .into_iter()
                    .filter(|d| d.now.is_some())
                    .collect();
                if blocked.is_empty() {
                    return catalog.clone();
                }
                let kept = catalog.retain(|e| {
                    !blocked
                        .iter()
                        .any(|d| Some(d.kind.as_str()) == kind_word(e.kind) && d.name == e.exposed)
                });
                out.extend(blocked.into_iter().map(|d| (view.map(str::to_owned), d)));
                Arc::new(kept)
            };
            let mut withheld = Vec::new();
            views.all = withhold(&views.all, None, &mut withheld);
            let groups = std::mem::take(&mut views.groups);
            for (name, catalog) in groups {
                let kept = withhold(&catalog, Some(&name), &mut withheld);
                views.groups.insert(name, kept);
            }
            views.withheld = withheld;
        }
        pinned.drift = drift;
        views
    }

    /// Reads the lock file if it changed: a new one is recorded; one that
    /// cannot be read or parsed keeps the one read before (and is logged).
    fn read_lock(&self, config: &Config, pinned: &mut Pinned) {
        let path = config.lock_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                error!(target: LOG_TARGET, "cannot read the catalog lock {}: {e}", path.display());
                return;
            }
        };
        let sha = crate::sha256::hex(text.as_bytes());
        if pinned.lock.as_ref().is_some_and(|(held, _)| *held == sha) {
            return;
        }
        match Lock::parse(&text) {
            Ok(lock) => {
                if let Some(log) = self.runtime.audit() {
                    let mut fields = serde_json::Map::new();
                    fields.insert("file".into(), Value::from(path.display().to_string()));
                    fields.insert("sha256".into(), Value::from(sha.as_str()));
                    let before = pinned.lock.as_ref().map(|(s, _)| Value::from(s.as_str()));
                    fields.insert("previous".into(), before.unwrap_or(Value::Null));
                    let _ = log.record("lock", fields);
                }
                info!(target: LOG_TARGET, "catalog lock {}: {sha}", path.display());
                pinned.lock = Some((sha, lock));
                // Drift is told again against the new lock.
                pinned.drift.clear();
            }
            Err(e) => error!(
                target: LOG_TARGET,
                "the catalog lock {} is not a lock file ({e}); keeping the lock read before",
                path.display()
            ),
        }
    }

    /// An audit record of one drift: the item, what changed, the old and
    /// new backend and hash, and what the pin did.
    fn record_drift(&self, d: &Drift, pin: Pin) {
        let Some(log) = self.runtime.audit() else {
            return;
        };
        let side = |s: &Option<(String, String)>| match s {
            Some((backend, hash)) => serde_json::json!({"backend": backend, "hash": hash}),
            None => Value::Null,
        };
        let mut fields = serde_json::Map::new();
        fields.insert("item".into(), Value::from(format!("{}:{}", d.kind, d.name)));
        fields.insert("change".into(), Value::from(d.what().as_str()));
        fields.insert("old".into(), side(&d.locked));
        fields.insert("new".into(), side(&d.now));
        let action = if pin == Pin::Block && d.now.is_some() {
            "withheld"
        } else {
            "served"
        };
        fields.insert("pin".into(), Value::from(action));
        let _ = log.record("drift", fields);
    }
}
