//! The running gateway's shared services: the config in force, the
//! `/metrics` counters, the lifecycle events and the audit log. One handle
//! is made at start and given to the supervisor, the router and the
//! gateway, so that none of them is the others' service locator.
//!
//! The config in force changes only by a reload, which swaps it whole;
//! readers take an `Arc` and never hold the lock. The audit log is set
//! once, at start, when `audit.enabled`.

use std::sync::{Arc, RwLock};

use crate::audit::AuditLog;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::ops_events::OpsEvents;
use crate::sync;

/// The services every upper layer shares.
#[derive(Debug)]
pub struct Runtime {
    config: RwLock<Arc<Config>>,
    metrics: Metrics,
    events: OpsEvents,
    audit: RwLock<Option<Arc<AuditLog>>>,
}

impl Runtime {
    /// A runtime with `config` in force, fresh counters and events, and no
    /// audit log yet.
    pub fn new(config: Arc<Config>) -> Arc<Runtime> {
        Arc::new(Runtime {
            config: RwLock::new(config),
            metrics: Metrics::default(),
            events: OpsEvents::default(),
            audit: RwLock::new(None),
        })
    }

    /// The config in force (it changes with a reload).
    pub fn config(&self) -> Arc<Config> {
        // Replaced whole: a panic elsewhere cannot tear it.
        sync::read(&self.config).clone()
    }

    /// Puts `config` in force (a reload that was applied).
    pub fn set_config(&self, config: Arc<Config>) {
        *sync::write(&self.config) = config;
    }

    /// The counters of `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The lifecycle events of `/manage/v1/events`.
    pub fn events(&self) -> &OpsEvents {
        &self.events
    }

    /// The audit log, if one is on.
    pub fn audit(&self) -> Option<Arc<AuditLog>> {
        sync::read(&self.audit).clone()
    }

    /// Sets the audit log that calls, refusals and catalog changes are
    /// recorded in (at start, before serving).
    pub fn set_audit(&self, log: Arc<AuditLog>) {
        *sync::write(&self.audit) = Some(log);
    }
}
