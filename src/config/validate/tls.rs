//! The `tls` section, at the top level and per remote backend: `ca_file`
//! (PEM roots, several certificates), `bundled_roots` (Mozilla's roots
//! beside them; default true), `cert_file` + `key_file` (a client
//! certificate for mTLS backends). A backend's keys override the
//! top-level ones key by key; the files are read and checked here (see
//! `config::tls`), each problem reported at the key that named the file.

use std::path::PathBuf;

use super::{Cx, Fields};
use crate::config::tls::{self, Files, HAS_BUNDLED_ROOTS, Which};
use crate::config::{Pos, Tls};

/// A configured path with where it was written.
#[derive(Debug, Clone)]
struct Named {
    path: PathBuf,
    key: String,
    pos: Pos,
}

/// One `tls` mapping as written, before loading.
#[derive(Debug, Clone, Default)]
pub(super) struct Section {
    ca_file: Option<Named>,
    bundled_roots: Option<bool>,
    client: Option<(Named, Named)>,
    /// Whether the mapping was there at all.
    present: bool,
}

impl Section {
    /// `own`'s keys over `self`'s.
    fn under(&self, own: &Section) -> Section {
        Section {
            ca_file: own.ca_file.clone().or_else(|| self.ca_file.clone()),
            bundled_roots: own.bundled_roots.or(self.bundled_roots),
            client: own.client.clone().or_else(|| self.client.clone()),
            present: own.present || self.present,
        }
    }
}

/// The top-level section and its loaded settings, for every backend that
/// has no `tls` of its own (loaded once, so a bad file is reported once).
pub(super) struct Global {
    section: Section,
    loaded: Option<Tls>,
}

/// Reads `tls` from `f` (the top level or a backend's fields).
fn section(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Section {
    let Some(node) = f.get("tls") else {
        return Section::default();
    };
    let path = f.child("tls");
    let Some(mut t) = cx.fields(node, &path) else {
        return Section {
            present: true,
            ..Section::default()
        };
    };
    let file = |cx: &mut Cx<'_>, t: &mut Fields<'_>, key: &'static str| {
        let node = t.get(key)?;
        let key = t.child(key);
        let path = cx.nonempty(node, &key)?;
        Some(Named {
            path: PathBuf::from(path),
            key,
            pos: node.pos,
        })
    };
    let ca_file = file(cx, &mut t, "ca_file");
    let cert_file = file(cx, &mut t, "cert_file");
    let key_file = file(cx, &mut t, "key_file");
    let bundled_roots = t.get("bundled_roots").and_then(|n| {
        let key = t.child("bundled_roots");
        let value = cx.boolean(n, &key)?;
        if value && !HAS_BUNDLED_ROOTS {
            cx.err(
                &key,
                n.pos,
                "this build has no bundled root certificates (built without the \
                 \"bundled-roots\" feature); trust roots through ca_file",
            );
        }
        Some(value)
    });
    let client = match (cert_file, key_file) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (Some(only), None) => {
            cx.err(
                &only.key,
                only.pos,
                "a client certificate needs \"key_file\" too",
            );
            None
        }
        (None, Some(only)) => {
            cx.err(&only.key, only.pos, "a client key needs \"cert_file\" too");
            None
        }
        (None, None) => None,
    };
    t.finish(cx, &[]);
    Section {
        ca_file,
        bundled_roots,
        client,
        present: true,
    }
}

/// Loads a section's files; problems go to `cx` at the keys that named them.
fn load(cx: &mut Cx<'_>, section: &Section) -> Option<Tls> {
    let bundled_roots = section.bundled_roots.unwrap_or(HAS_BUNDLED_ROOTS);
    let files = Files {
        ca_file: section.ca_file.as_ref().map(|n| n.path.clone()),
        bundled_roots,
        client: section
            .client
            .as_ref()
            .map(|(c, k)| (c.path.clone(), k.path.clone())),
    };
    match tls::load(&files) {
        Ok(tls) => Some(tls),
        Err(e) => {
            let named = match e.which {
                Which::Ca => section.ca_file.as_ref(),
                Which::Cert => section.client.as_ref().map(|(c, _)| c),
                Which::Key => section.client.as_ref().map(|(_, k)| k),
            };
            match named {
                // A top-level file under a backend's own section was
                // loaded (and reported) with the top level already.
                Some(n)
                    if cx
                        .problems
                        .iter()
                        .any(|p| p.path == n.key && p.pos == Some(n.pos)) => {}
                Some(n) => cx.err(&n.key.clone(), n.pos, e.message),
                None => cx.problems.push(crate::config::Problem {
                    path: "tls".into(),
                    pos: None,
                    message: e.message,
                }),
            }
            None
        }
    }
}

impl Global {
    /// The top-level settings, or the defaults when they could not be
    /// loaded (the problem is recorded).
    pub(super) fn settings(&self) -> Tls {
        self.loaded.clone().unwrap_or_default()
    }
}

/// The top-level `tls`.
pub(super) fn global(cx: &mut Cx<'_>, top: &mut Fields<'_>) -> Global {
    let section = section(cx, top);
    let loaded = if section.present {
        load(cx, &section)
    } else {
        Some(Tls::default())
    };
    Global { section, loaded }
}

/// A remote backend's settings: its own `tls` over the global one. `None`
/// when a file could not be used (the problem is recorded).
pub(super) fn backend(
    cx: &mut Cx<'_>,
    f: &mut Fields<'_>,
    global: &Global,
    url: Option<(&str, Pos, String)>,
) -> Option<Tls> {
    let own = section(cx, f);
    let tls = if own.present {
        load(cx, &global.section.under(&own))
    } else {
        global.loaded.clone()
    };
    if let (Some(tls), Some((url, pos, key))) = (&tls, url) {
        let https = url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
        if https && !tls.has_roots() {
            cx.err(
                &key,
                pos,
                "an https backend needs a root to trust: set tls.ca_file (this build has no \
                 bundled roots, or bundled_roots is false)",
            );
        } else if !https && own.present {
            cx.warnings.push(format!(
                "\"{}\" is used only for https:// URLs; \"{url}\" is plain HTTP",
                f.child("tls")
            ));
        }
    }
    tls
}

#[cfg(test)]
mod tests {
    use crate::config::validate::from_text;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn a_bad_top_level_tls_file_is_reported_once_however_many_backends_use_it() {
        let problems = from_text(
            "tls: {ca_file: /surely/missing/ca.pem}\nbackends:\n  a:\n    type: sse\n    url: https://a.example/sse\n  b:\n    type: streamable-http\n    url: https://b.example/mcp\n    tls: {bundled_roots: true}\n",
            &no_env,
        )
        .unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, "tls.ca_file");
        assert!(
            problems[0].message.starts_with("cannot read"),
            "{problems:?}"
        );
    }
}
