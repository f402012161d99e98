//! From a JSON document to a [`Schema`]: every keyword of the subset
//! checked for its shape, `$ref` targets compiled once each (the root is
//! target 0), cycles that never descend into the instance refused.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{
    JsonType, Keywords, MAX_SCHEMA_DEPTH, MAX_SCHEMA_NODES, Schema, SchemaError, Subschema,
};

/// Keywords that carry no assertion (annotations, identifiers, and
/// containers the subset reads elsewhere): ignored without a word.
const SILENT: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "$anchor",
    "$vocabulary",
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "format",
    "contentEncoding",
    "contentMediaType",
    "contentSchema",
];

struct Compiler<'d> {
    doc: &'d Value,
    nodes: Vec<Subschema>,
    /// The index in `nodes` of each `$ref` target, by JSON Pointer.
    targets: HashMap<String, usize>,
    ignored: Vec<String>,
    /// Nodes compiled so far.
    count: usize,
    /// How deep the compilation is now.
    depth: usize,
}

pub(super) fn compile(doc: &Value) -> Result<Schema, SchemaError> {
    let mut c = Compiler {
        doc,
        nodes: vec![Subschema::Bool(true)],
        targets: HashMap::from([(String::new(), 0)]),
        ignored: Vec::new(),
        count: 0,
        depth: 0,
    };
    let root = c.node(doc, "", &mut vec![String::new()])?;
    c.nodes[0] = root;
    Ok(Schema {
        nodes: c.nodes,
        ignored: c.ignored,
    })
}

fn error(pointer: &str, why: impl Into<String>) -> SchemaError {
    SchemaError {
        pointer: pointer.to_owned(),
        why: why.into(),
    }
}

/// `a/b` as one JSON Pointer token (`~` → `~0`, `/` → `~1`).
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

impl Compiler<'_> {
    /// Compiles the schema `value` at `at`. `in_place` holds the `$ref`
    /// targets entered since the instance location last moved: one of
    /// them again is a cycle that would never end.
    fn node(
        &mut self,
        value: &Value,
        at: &str,
        in_place: &mut Vec<String>,
    ) -> Result<Subschema, SchemaError> {
        self.count += 1;
        if self.count > MAX_SCHEMA_NODES {
            return Err(error(
                at,
                format!("more than {MAX_SCHEMA_NODES} schema nodes"),
            ));
        }
        if self.depth >= MAX_SCHEMA_DEPTH {
            return Err(error(at, format!("nested deeper than {MAX_SCHEMA_DEPTH}")));
        }
        self.depth += 1;
        let node = match value {
            Value::Bool(b) => Ok(Subschema::Bool(*b)),
            Value::Object(map) => self
                .rules(map, at, in_place)
                .map(|r| Subschema::Keywords(Box::new(r))),
            other => Err(error(
                at,
                format!("a schema is an object or a boolean, not {}", kind(other)),
            )),
        };
        self.depth -= 1;
        node
    }

    /// A subschema that applies to a part of the instance: no cycle can
    /// pass through it.
    fn descend(&mut self, value: &Value, at: &str) -> Result<Subschema, SchemaError> {
        self.node(value, at, &mut Vec::new())
    }

    /// A list of subschemas (`allOf`, `anyOf`, `oneOf`, `prefixItems`).
    fn list(
        &mut self,
        value: &Value,
        at: &str,
        in_place: Option<&mut Vec<String>>,
    ) -> Result<Vec<Subschema>, SchemaError> {
        let Value::Array(items) = value else {
            return Err(error(at, "must be an array of schemas"));
        };
        if items.is_empty() {
            return Err(error(at, "must not be empty"));
        }
        let mut nodes = Vec::with_capacity(items.len());
        match in_place {
            Some(stack) => {
                for (i, item) in items.iter().enumerate() {
                    nodes.push(self.node(item, &format!("{at}/{i}"), stack)?);
                }
            }
            None => {
                for (i, item) in items.iter().enumerate() {
                    nodes.push(self.descend(item, &format!("{at}/{i}"))?);
                }
            }
        }
        Ok(nodes)
    }

    fn rules(
        &mut self,
        map: &Map<String, Value>,
        at: &str,
        in_place: &mut Vec<String>,
    ) -> Result<Keywords, SchemaError> {
        let mut r = Keywords::default();
        for (key, value) in map {
            let here = format!("{at}/{}", escape(key));
            match key.as_str() {
                "type" => r.types = Some(types(value, &here)?),
                "enum" => match value {
                    Value::Array(values) => r.enumeration = Some(values.clone()),
                    _ => return Err(error(&here, "must be an array")),
                },
                "const" => r.constant = Some(value.clone()),
                "minimum" => r.minimum = Some(number(value, &here)?),
                "maximum" => r.maximum = Some(number(value, &here)?),
                // The draft-04 boolean forms: not this dialect, let through.
                "exclusiveMinimum" | "exclusiveMaximum" if value.is_boolean() => {
                    self.ignored.push(here)
                }
                "exclusiveMinimum" => r.exclusive_minimum = Some(number(value, &here)?),
                "exclusiveMaximum" => r.exclusive_maximum = Some(number(value, &here)?),
                "minLength" => r.min_length = Some(count(value, &here)?),
                "maxLength" => r.max_length = Some(count(value, &here)?),
                "minItems" => r.min_items = Some(count(value, &here)?),
                "maxItems" => r.max_items = Some(count(value, &here)?),
                "minProperties" => r.min_properties = Some(count(value, &here)?),
                "maxProperties" => r.max_properties = Some(count(value, &here)?),
                "uniqueItems" => match value {
                    Value::Bool(b) => r.unique_items = *b,
                    _ => return Err(error(&here, "must be a boolean")),
                },
                "required" => r.required = names(value, &here)?,
                "properties" => {
                    let Value::Object(props) = value else {
                        return Err(error(&here, "must be an object of schemas"));
                    };
                    for (name, schema) in props {
                        let node = self.descend(schema, &format!("{here}/{}", escape(name)))?;
                        r.properties.push((name.clone(), node));
                    }
                }
                "additionalProperties" => {
                    let node = self.descend(value, &here)?;
                    if !map.contains_key("patternProperties") {
                        r.additional = Some(node);
                    }
                }
                // An older draft's tuple form: its items are checked by position.
                "items" if value.is_array() => r.prefix_items = self.list(value, &here, None)?,
                "items" => r.items = Some(self.descend(value, &here)?),
                "prefixItems" => r.prefix_items = self.list(value, &here, None)?,
                "allOf" => r.all_of = self.list(value, &here, Some(in_place))?,
                "anyOf" => r.any_of = self.list(value, &here, Some(in_place))?,
                "oneOf" => r.one_of = self.list(value, &here, Some(in_place))?,
                "not" => r.not = Some(self.node(value, &here, in_place)?),
                "$ref" => r.reference = self.reference(value, &here, in_place)?,
                "$defs" | "definitions" => {
                    let Value::Object(defs) = value else {
                        return Err(error(&here, "must be an object of schemas"));
                    };
                    for (name, schema) in defs {
                        let pointer = format!("{here}/{}", escape(name));
                        self.target(&pointer, schema, &mut Vec::new())?;
                    }
                }
                k if SILENT.contains(&k) => {}
                _ => self.ignored.push(here),
            }
        }
        Ok(r)
    }

    /// A `$ref`: the index of its target, compiled now if it was not; a
    /// reference outside the document is ignored (never fetched).
    fn reference(
        &mut self,
        value: &Value,
        at: &str,
        in_place: &mut Vec<String>,
    ) -> Result<Option<usize>, SchemaError> {
        let Value::String(text) = value else {
            return Err(error(at, "must be a string"));
        };
        let Some(fragment) = text.strip_prefix('#') else {
            self.ignored
                .push(format!("{at} ({text}: not in this document)"));
            return Ok(None);
        };
        let pointer = percent_decoded(fragment)
            .ok_or_else(|| error(at, format!("\"{text}\" is not a valid URI fragment")))?;
        if !pointer.is_empty() && !pointer.starts_with('/') {
            // A named anchor (`#foo`): not in the subset.
            self.ignored.push(format!("{at} ({text}: an anchor)"));
            return Ok(None);
        }
        let target = self
            .doc
            .pointer(&pointer)
            .ok_or_else(|| error(at, format!("\"{text}\" points at nothing in the schema")))?;
        self.target(&pointer, target, in_place).map(Some)
    }

    /// The index of the `$ref` target at `pointer`, compiled once.
    fn target(
        &mut self,
        pointer: &str,
        value: &Value,
        in_place: &mut Vec<String>,
    ) -> Result<usize, SchemaError> {
        if in_place.iter().any(|p| p == pointer) {
            return Err(error(
                pointer,
                "a $ref cycle that never moves into the instance (it would never end)",
            ));
        }
        if let Some(&index) = self.targets.get(pointer) {
            return Ok(index);
        }
        let index = self.nodes.len();
        self.nodes.push(Subschema::Bool(true));
        self.targets.insert(pointer.to_owned(), index);
        in_place.push(pointer.to_owned());
        let node = self.node(value, pointer, in_place);
        in_place.pop();
        self.nodes[index] = node?;
        Ok(index)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `type`: one name or a non-empty array of names, as a bit set.
fn types(value: &Value, at: &str) -> Result<u8, SchemaError> {
    let one = |v: &Value| {
        let name = v.as_str()?;
        JsonType::ALL
            .iter()
            .find(|t| t.name() == name)
            .map(|t| t.bit())
    };
    let unknown = || {
        error(
            at,
            "must name JSON types: null, boolean, object, array, number, string, integer",
        )
    };
    match value {
        Value::Array(names) if !names.is_empty() => names
            .iter()
            .try_fold(0, |bits, v| one(v).map(|b| bits | b))
            .ok_or_else(unknown),
        Value::Array(_) => Err(error(at, "must not be empty")),
        v => one(v).ok_or_else(unknown),
    }
}

fn number(value: &Value, at: &str) -> Result<f64, SchemaError> {
    value.as_f64().ok_or_else(|| error(at, "must be a number"))
}

/// A non-negative integer (`2.0` counts).
fn count(value: &Value, at: &str) -> Result<u64, SchemaError> {
    match value.as_u64() {
        Some(n) => Ok(n),
        None => match value.as_f64() {
            Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 1e15 => Ok(f as u64),
            _ => Err(error(at, "must be a non-negative integer")),
        },
    }
}

/// `required`: an array of strings.
fn names(value: &Value, at: &str) -> Result<Vec<String>, SchemaError> {
    let Value::Array(items) = value else {
        return Err(error(at, "must be an array of strings"));
    };
    items
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| error(at, "must be an array of strings"))
}

/// A URI fragment with its `%XX` escapes decoded; `None` if one is bad.
fn percent_decoded(fragment: &str) -> Option<String> {
    if !fragment.contains('%') {
        return Some(fragment.to_owned());
    }
    let bytes = fragment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = fragment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
