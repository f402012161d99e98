//! The catalogs clients see, rebuilt from what the live backends offer:
//! the whole one and one per group, each de-conflicted on its own and
//! swapped whole, so readers never wait for a rebuild. A change that
//! reaches a view tells its sessions, and the whole catalog's changes go
//! into the events and the audit log.

use super::*;
use crate::catalog::{CALL_TOOL, FIND_TOOL};
use crate::config::Optimizer;

/// The catalogs clients see: the whole one (`/sse`, `/mcp`) and one per
/// group (`/g/<group>/...`), each de-conflicted on its own; under
/// `authorization`, each caller sees its view with the items it may not
/// use taken out (one catalog per view and set of roles, kept).
#[derive(Debug, Default)]
pub struct Views {
    /// Every backend.
    pub all: Arc<Catalog>,
    /// Each configured group's backends, by group name.
    pub groups: BTreeMap<String, Arc<Catalog>>,
    /// The policies in force when these views were built; `None`: off.
    pub policies: Option<Arc<Policies>>,
    /// Items withheld under `catalog.pin: block`, per view (`None`: the
    /// whole gateway's): each with its drift.
    pub withheld: Vec<(Option<String>, crate::catalog::Drift)>,
    /// The callers' catalogs made so far.
    seen: Mutex<Vec<Seen>>,
}

/// A caller's catalog: its view, its roles, what they see.
type Seen = (Option<String>, Vec<String>, Arc<Catalog>);

/// Callers' catalogs kept per build at most; more distinct role sets are
/// filtered on every request (still correct, only slower).
const MAX_SEEN: usize = 64;

impl Views {
    /// The catalog of `view` (`None`: the whole one); `None` for an
    /// unknown group.
    pub fn get(&self, view: Option<&str>) -> Option<&Arc<Catalog>> {
        match view {
            None => Some(&self.all),
            Some(group) => self.groups.get(group),
        }
    }

    /// What `caller` (`None`: anonymous) sees of `view`: the whole
    /// catalog of the view without policies, else the items the policies
    /// allow to the caller's roles. `None` for an unknown group.
    pub fn seen_by(&self, view: Option<&str>, caller: Option<&Identity>) -> Option<Arc<Catalog>> {
        let base = self.get(view)?;
        let Some(policies) = &self.policies else {
            return Some(base.clone());
        };
        let roles = caller.map_or(&[][..], |c| c.roles.as_slice());
        let mut seen = lock(&self.seen);
        if let Some((_, _, catalog)) = seen
            .iter()
            .find(|(v, r, _)| v.as_deref() == view && r.as_slice() == roles)
        {
            return Some(catalog.clone());
        }
        let catalog = Arc::new(policies.view(roles, base));
        if seen.len() < MAX_SEEN {
            seen.push((view.map(str::to_owned), roles.to_vec(), catalog.clone()));
        }
        Some(catalog)
    }
}

/// Which lists of a caller's catalog differ from `old` to `new`.
pub fn changed_kinds(old: Option<&Catalog>, new: &Catalog) -> Vec<Kind> {
    Kind::ALL
        .into_iter()
        .filter(|k| old.is_none_or(|old| old.listed(*k) != new.listed(*k)))
        .collect()
}

impl Supervisor {
    /// Rebuilds the catalog after the first pass; a conflict under strategy
    /// `error` keeps the previous catalog and is logged.
    pub(super) fn rebuild(&self) {
        if !self.first_pass_complete() {
            return;
        }
        if let Err(e) = self.try_rebuild() {
            error!(target: LOG_TARGET, "{e}; keeping the previous catalog");
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
    pub(super) fn try_rebuild(&self) -> Result<(), ConflictError> {
        // Also serializes rebuilds: views are swapped in build order.
        let mut seen_warnings = lock(&self.rebuild);
        let config = self.config();
        let active = self.active();
        let discovered = connected_discoveries(&active);
        let sources = catalog_sources(&active, &discovered);
        let (fresh, warnings) = build_views(&config, &sources)?;
        let fresh = self.pin(&config, fresh);
        for w in warnings {
            if seen_warnings.insert(w.clone()) {
                warn!(target: LOG_TARGET, "{w}");
            }
        }
        let fresh = Arc::new(fresh);
        let previous = {
            let mut views = write(&self.views);
            std::mem::replace(&mut *views, fresh.clone())
        };
        let first = !self.catalog_recorded.swap(true, Ordering::SeqCst);
        // Every item, not only what the optimizer lists.
        let whole_changed = Kind::ALL
            .into_iter()
            .any(|k| previous.all.list(k) != fresh.all.list(k));
        if first || whole_changed {
            self.record_catalog_change(first, &previous, &fresh);
        }
        drop(seen_warnings);
        if let Some(l) = self.listener() {
            l.catalog_changed(&previous, &fresh);
        }
        Ok(())
    }

    /// Records a new whole catalog: in the audit log, and (unless it is the
    /// `first`) as a `capability_change` event with what was added and
    /// removed.
    fn record_catalog_change(&self, first: bool, previous: &Views, fresh: &Views) {
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
}

/// What each live slot offers, if it is connected (`None` if not), in
/// the order of `active`.
fn connected_discoveries(active: &[(usize, Arc<Slot>, Backend)]) -> Vec<Option<Discovered>> {
    active
        .iter()
        .map(|(_, slot, _)| {
            let s = lock(&slot.state);
            (s.status == BackendStatus::Connected)
                .then(|| s.discovered.clone())
                .flatten()
        })
        .collect()
}

/// The catalog sources of the connected slots, in config order, each with
/// its backend's group.
fn catalog_sources<'a>(
    active: &'a [(usize, Arc<Slot>, Backend)],
    discovered: &'a [Option<Discovered>],
) -> Vec<(Source<'a>, &'a str)> {
    active
        .iter()
        .zip(discovered)
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
        .collect()
}

/// The whole catalog and one per configured group, with the whole one's
/// warnings; a conflict under strategy `error` is the error.
fn build_views(
    config: &Config,
    sources: &[(Source<'_>, &str)],
) -> Result<(Views, Vec<String>), ConflictError> {
    let build = |group: Option<&str>| {
        let chosen: Vec<Source<'_>> = sources
            .iter()
            .filter(|(_, g)| group.is_none_or(|want| want == *g))
            .map(|(s, _)| *s)
            .collect();
        let (catalog, warnings) = Catalog::build_with(&chosen, &config.conflict, &config.names)?;
        Ok((optimize(&config.optimizer, catalog), warnings))
    };
    let (all, mut warnings) = build(None)?;
    warnings.extend(optimizer_warnings(&config.optimizer, &all));
    let mut groups = BTreeMap::new();
    for backend in &config.backends {
        if !groups.contains_key(&backend.group) {
            // A subset of a catalog that built cannot conflict under
            // `error`; a panic-free fallback all the same.
            let (catalog, _) = build(Some(&backend.group)).unwrap_or_default();
            groups.insert(backend.group.clone(), Arc::new(catalog));
        }
    }
    let views = Views {
        all: Arc::new(all),
        groups,
        policies: Policies::of(config).map(Arc::new),
        withheld: Vec::new(),
        seen: Mutex::default(),
    };
    Ok((views, warnings))
}

/// `catalog` with the optimizer on, when `optimizer` says so.
fn optimize(optimizer: &Optimizer, catalog: Catalog) -> Catalog {
    if optimizer.enabled {
        catalog.optimized(optimizer.keep_tools.clone().into())
    } else {
        catalog
    }
}

/// What the optimizer cannot do as configured with the whole catalog: a
/// kept name that is no tool, a tool hidden behind a meta-tool's name.
fn optimizer_warnings(optimizer: &Optimizer, all: &Catalog) -> Vec<String> {
    if !optimizer.enabled {
        return Vec::new();
    }
    let unknown = optimizer
        .keep_tools
        .iter()
        .filter(|k| all.route(Kind::Tool, k).is_none())
        .map(|k| format!("optimizer.keep_tools: \"{k}\" is not a tool of the catalog"));
    let hidden = [FIND_TOOL, CALL_TOOL]
        .into_iter()
        .filter_map(|m| Some((m, all.route(Kind::Tool, m)?)))
        .map(|(m, r)| {
            format!(
                "optimizer: tool \"{m}\" of backend \"{}\" is listed as the optimizer's meta-tool of that name; call_tool still reaches it",
                r.backend_name
            )
        });
    unknown.chain(hidden).collect()
}

/// Every exposed name → backend and original name, one line each, sorted.
pub(super) fn catalog_lines(c: &Catalog) -> Vec<String> {
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
pub(super) fn catalog_diff(before: &Catalog, after: &Catalog) -> (Vec<String>, Vec<String>) {
    let (old, new) = (catalog_lines(before), catalog_lines(after));
    let name = |line: &String| line.split(" -> ").next().unwrap_or_default().to_owned();
    let added = new.iter().filter(|l| !old.contains(l)).map(name).collect();
    let removed = old.iter().filter(|l| !new.contains(l)).map(name).collect();
    (added, removed)
}

/// Records the effective catalog in the audit log: the SHA-256 of every
/// exposed name → backend and original name, sorted, and what was added
/// and removed since `before`.
pub(super) fn record_catalog(log: &crate::audit::AuditLog, before: &Catalog, after: &Catalog) {
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
