//! The walking machinery every section uses: the context [`Cx`] where
//! problems and warnings collect, and [`Fields`], one mapping's keys taken
//! by name so that whatever nobody took can be reported as unknown (with a
//! "did you mean" hint) or as a known extra of the original Argus (a
//! warning). Reading scalar values is in `scalars`; no section's keys are
//! known here.

use super::Env;
use crate::config::Problem;
use crate::config::yaml::{Key, Node, Pos, YamlValue};

/// Expanded values shorter than this are left in messages: too short to be
/// secrets, and replacing them would garble the text ("between 1 and 10").
const MIN_HIDDEN_VALUE: usize = 4;

/// The validation context: where problems and warnings collect.
pub(super) struct Cx<'e> {
    /// Answers `${VAR}` and the `ARGUS_*` overrides.
    pub(super) env: Env<'e>,
    /// Every problem so far, in the order found.
    pub(super) problems: Vec<Problem>,
    /// Known extras that were ignored, one message each.
    pub(super) warnings: Vec<String>,
    /// (expanded value, the `${...}` text it came from), for [`Cx::unexpanded`].
    pub(super) expanded: Vec<(String, String)>,
}

/// The fields of one mapping, taken by name; the rest are reported by `finish`.
#[derive(Default)]
pub(super) struct Fields<'n> {
    /// The mapping's dotted key path.
    pub(super) path: String,
    /// Its entries, in document order.
    pub(super) entries: &'n [(Key, Node)],
    /// Which entries were taken, by index.
    pub(super) used: Vec<bool>,
    /// The keys asked for, in order: the candidates for a typo hint.
    known: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    /// Takes `key`'s value; a `null` value counts as absent.
    pub(super) fn get(&mut self, key: &'static str) -> Option<&'n Node> {
        self.known.push(key);
        let entries = self.entries;
        let index = entries.iter().position(|(k, _)| k.name == key)?;
        self.used[index] = true;
        let node = &entries[index].1;
        (!matches!(node.value, YamlValue::Null)).then_some(node)
    }

    /// The dotted path of a child key.
    pub(super) fn child(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// Reports keys nobody took: known extras warn, the rest are errors.
    pub(super) fn finish(self, cx: &mut Cx<'_>, extras: &[&str]) {
        for ((key, _), used) in self.entries.iter().zip(&self.used) {
            if *used {
                continue;
            }
            let path = join(&self.path, &key.name);
            if extras.contains(&key.name.as_str()) {
                cx.warnings.push(format!(
                    "ignoring \"{path}\" (line {}): an Argus feature argus-mcp does not have",
                    key.pos.line
                ));
                continue;
            }
            let hint = self
                .known
                .iter()
                .find(|k| close(k, &key.name))
                .map(|k| format!("; did you mean \"{k}\"?"))
                .unwrap_or_default();
            cx.err(
                &path,
                key.pos,
                format!("unknown key \"{}\"{hint}", key.name),
            );
        }
    }
}

/// `path.key`, or `key` at the top.
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Whether two keys are one or two edits apart (typo hints).
pub(super) fn close(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 2 {
        return false;
    }
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let next = (prev + cost).min(row[j] + 1).min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()] <= 2
}

impl<'e> Cx<'e> {
    /// Records a problem at `path`; expanded values in `message` are put back
    /// as their `${...}` text.
    pub(super) fn err(&mut self, path: &str, pos: Pos, message: impl Into<String>) {
        let message = self.unexpanded(message.into());
        self.problems.push(Problem {
            path: path.to_owned(),
            pos: Some(pos),
            message,
        });
    }

    /// `message` with every expanded value put back as the `${...}` text it
    /// came from: errors never echo what a variable holds (a secret, often).
    pub(super) fn unexpanded(&self, mut message: String) -> String {
        for (value, raw) in &self.expanded {
            if value.len() >= MIN_HIDDEN_VALUE && message.contains(value.as_str()) {
                message = message.replace(value.as_str(), raw);
            }
        }
        message
    }

    /// Records "expected X, found Y" for `node`.
    pub(super) fn wrong_type(&mut self, node: &Node, path: &str, expected: &str) {
        self.err(
            path,
            node.pos,
            format!("expected {expected}, found {}", node.value.kind()),
        );
    }

    /// A mapping's fields; `null` is an empty mapping.
    pub(super) fn fields<'n>(&mut self, node: &'n Node, path: &str) -> Option<Fields<'n>> {
        let entries: &'n [(Key, Node)] = match &node.value {
            YamlValue::Map(entries) => entries,
            YamlValue::Null => &[],
            _ => {
                self.wrong_type(node, path, "a mapping");
                return None;
            }
        };
        Some(Fields {
            path: path.to_owned(),
            entries,
            used: vec![false; entries.len()],
            known: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::validate::from_text;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn typo_hint() {
        let p = from_text("server:\n  prot: 1\n", &no_env).unwrap_err();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].path, "server.prot");
        assert!(
            p[0].message.contains("did you mean \"port\""),
            "{}",
            p[0].message
        );
    }

    #[test]
    fn errors_never_echo_an_expanded_value() {
        let env = |n: &str| match n {
            "URL" => Some("ftp://user:s3cr3t@h/x".to_owned()),
            "MODE" => Some("s3cr3t-mode".to_owned()),
            "HDR" => Some("v\r\nInjected: 1".to_owned()),
            _ => None,
        };
        let problems = from_text(
            "server: {transport: '${MODE}'}\nbackends:\n  a:\n    type: sse\n    url: '${URL}'\n    headers: {X-Key: '${HDR}'}\n",
            &env,
        )
        .unwrap_err();
        let text: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect();
        let all = text.join("\n");
        assert!(!all.contains("s3cr3t"), "{all}");
        assert!(all.contains("${URL}") && all.contains("${MODE}"), "{all}");
        // The line-break check sees the expanded header value.
        assert!(
            text.iter()
                .any(|t| t.starts_with("backends.a.headers.X-Key") && t.contains("line breaks")),
            "{all}"
        );
    }
}
