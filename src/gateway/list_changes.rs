//! Who hears which `notifications/…/list_changed` after a rebuild: each
//! session and listen stream is told of the lists of *its* catalog that
//! changed, what its view shows its identity before and after (so a
//! reload that changes only the policies reaches exactly the callers whose
//! lists it changed). Computed once per view and set of roles.

use crate::identity::Identity;
use crate::session::list_changes;
use crate::supervisor::{Views, changed_kinds};

/// The list changes of one rebuild, per view and roles, as asked for.
pub(super) struct ListChanges<'v> {
    previous: &'v Views,
    fresh: &'v Views,
    /// Computed so far: view, roles, notification methods.
    known: Vec<(Option<String>, Vec<String>, Vec<&'static str>)>,
}

impl<'v> ListChanges<'v> {
    pub(super) fn new(previous: &'v Views, fresh: &'v Views) -> ListChanges<'v> {
        ListChanges {
            previous,
            fresh,
            known: Vec::new(),
        }
    }

    /// The notifications for a caller of `view` (`None`: the whole
    /// gateway) with identity `caller`, in `session::LIST_CHANGED` order;
    /// none for a group the rebuild removed.
    pub(super) fn for_caller(
        &mut self,
        view: Option<&str>,
        caller: Option<&Identity>,
    ) -> &[&'static str] {
        // Without policies on either side, roles change nothing.
        let roles = match (&self.previous.policies, &self.fresh.policies, caller) {
            (None, None, _) | (_, _, None) => &[][..],
            (_, _, Some(c)) => c.roles.as_slice(),
        };
        let at = self
            .known
            .iter()
            .position(|(v, r, _)| v.as_deref() == view && r.as_slice() == roles);
        let at = match at {
            Some(at) => at,
            None => {
                let methods = match self.fresh.seen_by(view, caller) {
                    Some(new) => {
                        let old = self.previous.seen_by(view, caller);
                        list_changes(&changed_kinds(old.as_deref(), &new))
                    }
                    None => Vec::new(),
                };
                let view = view.map(str::to_owned);
                self.known.push((view, roles.to_vec(), methods));
                self.known.len() - 1
            }
        };
        &self.known[at].2
    }
}
