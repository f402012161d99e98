//! The catalog lock: what the model was shown, reviewed and committed. One
//! line per exposed tool, prompt and resource template, sorted:
//! `<kind> <exposed name> <backend> <definition hash>`, so a change is a
//! one-line diff. Drift is what differs between a lock and a catalog: an
//! item whose definition changed, one that is new, one that is gone (a
//! rename is one gone and one new, so it cannot slip through). Pure.

use std::collections::BTreeMap;
use std::fmt;

use super::{Catalog, Kind};

/// A lock: each locked item's (kind word, exposed name) → (backend, hash).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lock {
    items: BTreeMap<(String, String), (String, String)>,
}

/// The kind word of the lock file for `kind`, if it locks that kind.
pub fn kind_word(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Tool => Some("tool"),
        Kind::Prompt => Some("prompt"),
        Kind::Template => Some("template"),
        // Resource lists are data more than definitions (files come and
        // go); their templates are locked.
        Kind::Resource => None,
    }
}

/// A line of a lock file that is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// Its number, from 1.
    pub line: usize,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: expected \"<tool|prompt|template> <name> <backend> <sha256>\"",
            self.line
        )
    }
}

impl std::error::Error for BadLine {}

/// One difference between a lock and a catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// `tool`, `prompt` or `template`.
    pub kind: String,
    /// The exposed name.
    pub name: String,
    /// The locked backend and hash; `None`: new.
    pub locked: Option<(String, String)>,
    /// The backend and hash now; `None`: gone.
    pub now: Option<(String, String)>,
}

/// What happened to a locked item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Its definition (or backend) is not the locked one.
    Changed,
    /// Not in the lock.
    New,
    /// In the lock, not in the catalog.
    Removed,
}

impl Change {
    /// `changed`, `new` or `removed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Changed => "changed",
            Change::New => "new",
            Change::Removed => "removed",
        }
    }
}

impl Drift {
    /// What happened to the item.
    pub fn what(&self) -> Change {
        match (&self.locked, &self.now) {
            (Some(_), Some(_)) => Change::Changed,
            (None, _) => Change::New,
            (_, None) => Change::Removed,
        }
    }
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |s: &Option<(String, String)>| match s {
            Some((backend, hash)) => format!("{backend} {}", &hash[..hash.len().min(12)]),
            None => "-".to_owned(),
        };
        write!(
            f,
            "{} {} {}: {} -> {}",
            self.what().as_str(),
            self.kind,
            self.name,
            side(&self.locked),
            side(&self.now)
        )
    }
}

impl Lock {
    /// The lock of `catalog` as it is.
    pub fn of(catalog: &Catalog) -> Lock {
        let items = catalog
            .entries
            .iter()
            .filter_map(|e| {
                let kind = kind_word(e.kind)?;
                let key = (kind.to_owned(), e.exposed.clone());
                Some((key, (e.route.backend_name.clone(), e.definition.clone())))
            })
            .collect();
        Lock { items }
    }

    /// Parses a lock file (blank lines and `#` comments skipped).
    pub fn parse(text: &str) -> Result<Lock, BadLine> {
        let mut items = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parts: Vec<&str> = line.split(' ').collect();
            let [kind, name, backend, hash] = parts[..] else {
                return Err(BadLine { line: i + 1 });
            };
            let hex = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
            if !matches!(kind, "tool" | "prompt" | "template") || !hex {
                return Err(BadLine { line: i + 1 });
            }
            let key = (kind.to_owned(), name.to_owned());
            items.insert(key, (backend.to_owned(), hash.to_owned()));
        }
        Ok(Lock { items })
    }

    /// The lock file's text: one sorted line per item.
    pub fn text(&self) -> String {
        self.items
            .iter()
            .map(|((kind, name), (backend, hash))| format!("{kind} {name} {backend} {hash}\n"))
            .collect()
    }

    /// What differs from this lock in `now`, sorted.
    pub fn drift(&self, now: &Lock) -> Vec<Drift> {
        let mut out = Vec::new();
        for (key, locked) in &self.items {
            match now.items.get(key) {
                Some(current) if current == locked => {}
                current => out.push(Drift {
                    kind: key.0.clone(),
                    name: key.1.clone(),
                    locked: Some(locked.clone()),
                    now: current.cloned(),
                }),
            }
        }
        for (key, current) in &now.items {
            if !self.items.contains_key(key) {
                out.push(Drift {
                    kind: key.0.clone(),
                    name: key.1.clone(),
                    locked: None,
                    now: Some(current.clone()),
                });
            }
        }
        out.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(lines: &str) -> Lock {
        Lock::parse(lines).unwrap()
    }

    #[test]
    fn a_changed_a_new_and_a_renamed_item_are_drift() {
        let h = |c: char| c.to_string().repeat(64);
        let locked = lock(&format!(
            "tool a one {}\ntool b one {}\ntool c one {}\n",
            h('1'),
            h('2'),
            h('3')
        ));
        let now = lock(&format!(
            "# comment\ntool a one {}\ntool b one {}\ntool c2 one {}\nprompt p two {}\n",
            h('1'),
            h('9'),
            h('3'),
            h('4')
        ));
        let drift: Vec<String> = locked
            .drift(&now)
            .iter()
            .map(|d| d.what().as_str().to_owned() + " " + &d.name)
            .collect();
        assert_eq!(drift, ["new p", "changed b", "removed c", "new c2"]);
        assert_eq!(Lock::parse(&now.text()).unwrap(), now);
        assert_eq!(
            Lock::parse("tool a one short").unwrap_err(),
            BadLine { line: 1 }
        );
    }
}
