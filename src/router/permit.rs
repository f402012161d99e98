//! What the policies refuse a caller. Its catalog already lacks every item
//! they deny it (`Views::seen_by`), so a request for one meets the error an
//! unknown name meets; here such a request is told apart from a truly
//! unknown name and recorded as a denial, and a resource URI read through
//! a template is decided on the URI itself.

use super::*;
use crate::policy::{Decision, item_name};

impl Router {
    /// What serves resource `uri` to the caller of `cx` in its `catalog`
    /// (for `method`); `None` when nothing there serves it, or when a
    /// policy denies the URI (recorded).
    pub(super) fn resource_for(
        &self,
        cx: CallContext<'_>,
        catalog: &Catalog,
        method: &str,
        uri: &str,
    ) -> Option<Route> {
        let Some(source) = catalog.resource_source(uri) else {
            self.note_if_denied(cx, method, Kind::Resource, uri);
            return None;
        };
        if let Some(policies) = self.supervisor.views().policies.as_deref() {
            let decision = policies.decide_uri(roles(cx), uri, source);
            if !decision.allowed() {
                self.record_denial(cx, method, &item_name(Kind::Resource, uri), decision);
                return None;
            }
        }
        Some(source.2.clone())
    }

    /// The error for a request of `key` of `kind` that the catalog lock
    /// withholds (`catalog.pin: block`): it names the change. Under
    /// policies, none: the caller gets the unknown-name error, so that a
    /// withheld item it may not see is no oracle either.
    pub(super) fn withheld(
        &self,
        cx: CallContext<'_>,
        kind: Kind,
        key: &str,
    ) -> Option<ErrorObject> {
        let views = self.supervisor.views();
        if views.policies.is_some() {
            return None;
        }
        let word = crate::catalog::kind_word(kind)?;
        let (_, drift) = views
            .withheld
            .iter()
            .find(|(view, d)| view.as_deref() == cx.group() && d.kind == word && d.name == key)?;
        let why = match drift.what() {
            crate::catalog::Change::New => "it is new since the catalog lock",
            _ => "its definition changed since the catalog lock",
        };
        Some(ErrorObject::new(
            code::INVALID_PARAMS,
            format!(
                "{} \"{key}\" is withheld: {why} (catalog.pin: block); review it, then write the lock again with `argus-mcp catalog lock` and reload",
                kind.noun()
            ),
        ))
    }

    /// Whether `caller` may hear `backend`'s log messages in `view`: always
    /// without policies, else when some item of it is in its catalog.
    pub fn may_hear(&self, view: Option<&str>, caller: Option<&Identity>, backend: &str) -> bool {
        let views = self.supervisor.views();
        if views.policies.is_none() {
            return true;
        }
        views.seen_by(view, caller).is_some_and(|catalog| {
            catalog
                .entries
                .iter()
                .any(|e| e.route.backend_name == backend)
        })
    }

    /// A request (`method`) for `key` of `kind` that the caller's catalog
    /// lacks: if its view has it and the policies deny it, the denial is
    /// recorded. Either way the caller gets the unknown-name error.
    pub(super) fn note_if_denied(&self, cx: CallContext<'_>, method: &str, kind: Kind, key: &str) {
        let views = self.supervisor.views();
        let (Some(policies), Some(whole)) = (views.policies.as_deref(), views.get(cx.group()))
        else {
            return;
        };
        let roles = roles(cx);
        let decision = match kind {
            Kind::Resource | Kind::Template => whole
                .resource_source(key)
                .map(|source| policies.decide_uri(roles, key, source)),
            Kind::Tool | Kind::Prompt => whole
                .route(kind, key)
                .map(|route| policies.decide_route(roles, kind, key, route)),
        };
        if let Some(decision) = decision.filter(|d| !d.allowed()) {
            self.record_denial(cx, method, &item_name(kind, key), decision);
        }
    }

    /// An audit record (`kind: denied`) of a request the policies refused:
    /// who, what, and the deciding rule (its index, or `default`).
    fn record_denial(&self, cx: CallContext<'_>, method: &str, item: &str, decision: Decision) {
        debug!("denied {item} to {} ({})", cx.label(), decision.rule);
        let Some(log) = self.runtime.audit() else {
            return;
        };
        let mut fields = audited::caller_fields(cx);
        fields.insert("method".into(), Value::from(method));
        fields.insert("item".into(), Value::from(item));
        fields.insert("rule".into(), decision.rule.to_json());
        let _ = log.record("denied", fields);
    }
}

/// The roles of the caller of `cx` (none for an anonymous one).
fn roles<'c>(cx: CallContext<'c>) -> &'c [String] {
    cx.identity().map_or(&[][..], |i| i.roles.as_slice())
}
