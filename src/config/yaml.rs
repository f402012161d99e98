//! A YAML document as a tree of nodes that remember their line and column.
//!
//! `serde-saphyr` parses the text (and reports syntax errors and alias bombs
//! with a position); this module turns it into a [`Node`] tree so that
//! `validate` can walk it by hand, collect *every* problem of a file in one
//! pass, and name the line of each. Repeated keys are kept in the tree (the
//! library's own error names only the second one) and [`duplicates`] finds
//! them with both positions. It does no validation itself.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A 1-based line and column in the config file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, counting from 1.
    pub line: u32,
    /// Column, counting from 1.
    pub column: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// One YAML value with its position.
#[derive(Debug, Clone)]
pub struct Node {
    /// The value.
    pub value: YamlValue,
    /// Where the value starts.
    pub pos: Pos,
}

/// A YAML value. Map entries keep document order: config order matters.
/// Named apart from `serde_json::Value`, which the rest of the crate means
/// by a bare `Value`.
#[derive(Debug, Clone)]
pub enum YamlValue {
    /// `~`, `null` or an empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order, keys with their positions.
    Map(Vec<(Key, Node)>),
}

/// A mapping key with its position.
#[derive(Debug, Clone)]
pub struct Key {
    /// The key text.
    pub name: String,
    /// Where the key starts.
    pub pos: Pos,
}

impl YamlValue {
    /// What kind of value this is, for error messages ("expected a string, found a list").
    pub fn kind(&self) -> &'static str {
        match self {
            YamlValue::Null => "null",
            YamlValue::Bool(_) => "a boolean",
            YamlValue::Int(_) => "an integer",
            YamlValue::Float(_) => "a number",
            YamlValue::Str(_) => "a string",
            YamlValue::Seq(_) => "a list",
            YamlValue::Map(_) => "a mapping",
        }
    }
}

/// A YAML syntax error with its position, as `serde-saphyr` reports it.
#[derive(Debug)]
pub struct SyntaxError {
    /// Where the parser stopped, when it knows.
    pub pos: Option<Pos>,
    /// The parser's message.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid YAML: {}", self.message)
    }
}

impl std::error::Error for SyntaxError {}

/// Parses YAML text into a node tree; a repeated key stays in its mapping
/// (see [`duplicates`]).
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    match serde_saphyr::from_str_with_options::<Spanned<YamlValue>>(text, options) {
        Ok(spanned) => Ok(node(spanned)),
        Err(err) => {
            let pos = err.location().map(|l| Pos {
                line: l.line() as u32,
                column: l.column() as u32,
            });
            // The library's Display renders a source snippet over several
            // lines; the first line carries the message.
            let full = err.to_string();
            let first = full.lines().next().unwrap_or("invalid YAML");
            let message = first
                .strip_prefix("error: ")
                .unwrap_or(first)
                .split_once(": ")
                .filter(|(prefix, _)| prefix.starts_with("line "))
                .map_or(first, |(_, rest)| rest)
                .to_owned();
            Err(SyntaxError { pos, message })
        }
    }
}

/// A key that appears twice in one mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// Dotted key path of the repeated key, e.g. `backends.a.type`
    /// (`[i]` for list items).
    pub path: String,
    /// The key.
    pub key: String,
    /// Where it first appears.
    pub first: Pos,
    /// Where it appears again.
    pub again: Pos,
}

/// Every repeated key in the tree, in document order of the repetition;
/// a key repeated twice more is reported twice, each against the first.
pub fn duplicates(root: &Node) -> Vec<Duplicate> {
    let mut found = Vec::new();
    collect_duplicates(root, "", &mut found);
    found.sort_by_key(|d| (d.again.line, d.again.column));
    found
}

fn collect_duplicates(node: &Node, path: &str, found: &mut Vec<Duplicate>) {
    match &node.value {
        YamlValue::Map(entries) => {
            for (i, (key, value)) in entries.iter().enumerate() {
                let child = if path.is_empty() {
                    key.name.clone()
                } else {
                    format!("{path}.{}", key.name)
                };
                // An alias replays its anchor's keys, all at the alias's
                // position: that repetition is reported at the anchor.
                if let Some((first, _)) = entries[..i]
                    .iter()
                    .find(|(k, _)| k.name == key.name)
                    .filter(|(k, _)| k.pos != key.pos)
                {
                    found.push(Duplicate {
                        path: child.clone(),
                        key: key.name.clone(),
                        first: first.pos,
                        again: key.pos,
                    });
                }
                collect_duplicates(value, &child, found);
            }
        }
        YamlValue::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_duplicates(item, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

fn node(spanned: Spanned<YamlValue>) -> Node {
    Node {
        value: spanned.value,
        pos: Pos {
            line: spanned.referenced.line() as u32,
            column: spanned.referenced.column() as u32,
        },
    }
}

impl<'de> Deserialize<'de> for YamlValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(YamlValueVisitor)
    }
}

struct YamlValueVisitor;

impl<'de> Visitor<'de> for YamlValueVisitor {
    type Value = YamlValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<YamlValue, E> {
        Ok(YamlValue::Null)
    }

    fn visit_none<E>(self) -> Result<YamlValue, E> {
        Ok(YamlValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<YamlValue, D::Error> {
        YamlValue::deserialize(d)
    }

    fn visit_bool<E>(self, v: bool) -> Result<YamlValue, E> {
        Ok(YamlValue::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<YamlValue, E> {
        Ok(YamlValue::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<YamlValue, E> {
        i64::try_from(v)
            .map(YamlValue::Int)
            .map_err(|_| E::custom("integer too large"))
    }

    fn visit_f64<E>(self, v: f64) -> Result<YamlValue, E> {
        Ok(YamlValue::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<YamlValue, E> {
        Ok(YamlValue::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<YamlValue, E> {
        Ok(YamlValue::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<YamlValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<YamlValue>>()? {
            items.push(node(item));
        }
        Ok(YamlValue::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<YamlValue, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<Spanned<String>, Spanned<YamlValue>>()? {
            let key = Key {
                name: key.value,
                pos: Pos {
                    line: key.referenced.line() as u32,
                    column: key.referenced.column() as u32,
                },
            };
            entries.push((key, node(value)));
        }
        Ok(YamlValue::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_positions() {
        let doc = parse("b: 1\na:\n  - x\n  - 2\n").unwrap();
        let YamlValue::Map(entries) = doc.value else {
            panic!("not a map")
        };
        assert_eq!(entries[0].0.name, "b");
        assert_eq!(entries[1].0.name, "a");
        assert_eq!(entries[1].0.pos, Pos { line: 2, column: 1 });
        let YamlValue::Seq(items) = &entries[1].1.value else {
            panic!("not a seq")
        };
        assert_eq!(items[1].pos, Pos { line: 4, column: 5 });
        assert!(matches!(items[1].value, YamlValue::Int(2)));
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse("a: [1\nb: 2\n").unwrap_err();
        assert_eq!(err.pos.unwrap().line, 2);
        assert!(!err.message.contains('\n'));
    }

    /// (path, first line and column, repeated line and column)
    type Found = (String, (u32, u32), (u32, u32));

    fn dups(text: &str) -> Vec<Found> {
        duplicates(&parse(text).unwrap())
            .into_iter()
            .map(|d| {
                assert!(d.path.ends_with(&d.key), "{d:?}");
                (
                    d.path,
                    (d.first.line, d.first.column),
                    (d.again.line, d.again.column),
                )
            })
            .collect()
    }

    #[test]
    fn duplicate_keys_are_found_with_both_positions() {
        let top = "backends: {}\nserver: {}\n\nbackends:\n  a: 1\n";
        assert_eq!(dups(top), [("backends".into(), (1, 1), (4, 1))]);
        let nested = "backends:\n  a:\n    type: stdio\n  b:\n    type: sse\n    env: {type: x}\n    type: sse\n";
        assert_eq!(dups(nested), [("backends.b.type".into(), (5, 5), (7, 5))]);
        let flow = "a: {k: 1, b: {k: 2}, k: 3}\n";
        assert_eq!(dups(flow), [("a.k".into(), (1, 5), (1, 22))]);
        let listed = "allow:\n  - name: x\n    name: y\n";
        assert_eq!(dups(listed), [("allow[0].name".into(), (2, 5), (3, 5))]);
        let quoted = "a: 1\n\"a\": 2\na: 3\n";
        assert_eq!(
            dups(quoted),
            [("a".into(), (1, 1), (2, 1)), ("a".into(), (1, 1), (3, 1))]
        );
        assert!(dups("a: {k: 1}\nb: {k: 1}\n").is_empty(), "other mappings");
        let aliased = "a: &x\n  k: 1\n  k: 2\nb: *x\nc: {<<: *x, j: 3}\n";
        assert_eq!(
            dups(aliased),
            [("a.k".into(), (2, 3), (3, 3))],
            "once, at the anchor"
        );
        assert!(
            dups("a: &x {k: 1}\nb: {<<: *x, k: 2}\n").is_empty(),
            "a merge overrides"
        );
    }
}
