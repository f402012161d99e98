//! An instance against a compiled [`Schema`]: the first rule it breaks,
//! with where (a JSON Pointer into the instance) and which keyword.
//! Bounded by a budget of steps and by depth.

use serde_json::Value;

use super::equal::equal;
use super::{JsonType, Keywords, MAX_STEPS, Schema, Subschema, Violation};

/// Instance nesting deeper than this is refused (serde_json parses 128).
const MAX_DEPTH: usize = 160;

struct Checker<'s> {
    schema: &'s Schema,
    /// Steps left.
    budget: u32,
}

pub(super) fn check(schema: &Schema, instance: &Value) -> Result<(), Violation> {
    let mut c = Checker {
        schema,
        budget: MAX_STEPS,
    };
    let mut at = String::new();
    c.node(&schema.nodes[0], instance, &mut at, 0)
}

fn violation(at: &str, rule: &'static str, message: impl Into<String>) -> Violation {
    Violation {
        pointer: at.to_owned(),
        rule,
        message: message.into(),
    }
}

/// The type of `v` as `type` names it (`integer` for a whole number).
fn type_of(v: &Value) -> JsonType {
    match v {
        Value::Null => JsonType::Null,
        Value::Bool(_) => JsonType::Boolean,
        Value::Object(_) => JsonType::Object,
        Value::Array(_) => JsonType::Array,
        Value::String(_) => JsonType::String,
        Value::Number(n) if is_integer(n) => JsonType::Integer,
        Value::Number(_) => JsonType::Number,
    }
}

fn is_integer(n: &serde_json::Number) -> bool {
    n.is_i64()
        || n.is_u64()
        || n.as_f64()
            .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

/// Appends one JSON Pointer token to `at`; [`pop`] takes it off again.
fn push(at: &mut String, token: &str) -> usize {
    let len = at.len();
    at.push('/');
    for c in token.chars() {
        match c {
            '~' => at.push_str("~0"),
            '/' => at.push_str("~1"),
            c => at.push(c),
        }
    }
    len
}

fn pop(at: &mut String, len: usize) {
    at.truncate(len);
}

impl Checker<'_> {
    fn node(
        &mut self,
        node: &Subschema,
        v: &Value,
        at: &mut String,
        depth: usize,
    ) -> Result<(), Violation> {
        if self.budget == 0 {
            return Err(violation(
                at,
                "complexity",
                "too costly to check against the schema",
            ));
        }
        self.budget -= 1;
        if depth > MAX_DEPTH {
            return Err(violation(
                at,
                "depth",
                format!("nested deeper than {MAX_DEPTH}"),
            ));
        }
        match node {
            Subschema::Bool(true) => Ok(()),
            Subschema::Bool(false) => Err(violation(at, "false", "no value is allowed here")),
            Subschema::Keywords(r) => self.rules(r, v, at, depth),
        }
    }

    fn rules(
        &mut self,
        r: &Keywords,
        v: &Value,
        at: &mut String,
        depth: usize,
    ) -> Result<(), Violation> {
        if let Some(types) = r.types {
            let t = type_of(v);
            let ok = types & t.bit() != 0
                || (t == JsonType::Integer && types & JsonType::Number.bit() != 0);
            if !ok {
                let wanted: Vec<&str> = JsonType::ALL
                    .iter()
                    .filter(|t| types & t.bit() != 0)
                    .map(|t| t.name())
                    .collect();
                let message = format!("expected {}, found {}", wanted.join(" or "), t.name());
                return Err(violation(at, "type", message));
            }
        }
        if let Some(c) = &r.constant
            && !equal(c, v)
        {
            return Err(violation(at, "const", format!("must be {c}")));
        }
        if let Some(values) = &r.enumeration
            && !values.iter().any(|e| equal(e, v))
        {
            return Err(violation(at, "enum", "is not one of the allowed values"));
        }
        match v {
            Value::Number(n) => bounds(r, n.as_f64().unwrap_or(f64::NAN), at)?,
            Value::String(s) => lengths(r, s, at)?,
            Value::Array(items) => self.array(r, items, at, depth)?,
            Value::Object(map) => self.object(r, map, at, depth)?,
            Value::Null | Value::Bool(_) => {}
        }
        for sub in &r.all_of {
            self.node(sub, v, at, depth + 1)?;
        }
        if !r.any_of.is_empty() && !self.any_matches(&r.any_of, v, at, depth)? {
            return Err(violation(
                at,
                "anyOf",
                "matches none of the allowed schemas",
            ));
        }
        if !r.one_of.is_empty() {
            let matched = self.count_matches(&r.one_of, v, at, depth)?;
            if matched != 1 {
                let message = format!("must match exactly one schema of oneOf, matches {matched}");
                return Err(violation(at, "oneOf", message));
            }
        }
        if let Some(not) = &r.not
            && self.matches(not, v, at, depth)?
        {
            return Err(violation(at, "not", "matches a schema it must not"));
        }
        if let Some(target) = r.reference {
            self.node(&self.schema.nodes[target], v, at, depth + 1)?;
        }
        Ok(())
    }

    /// Whether `v` matches `node`; only a spent budget is an error.
    fn matches(
        &mut self,
        node: &Subschema,
        v: &Value,
        at: &mut String,
        depth: usize,
    ) -> Result<bool, Violation> {
        match self.node(node, v, at, depth + 1) {
            Ok(()) => Ok(true),
            Err(e) if matches!(e.rule, "complexity" | "depth") => Err(e),
            Err(_) => Ok(false),
        }
    }

    /// Whether one of `nodes` matches; only a spent budget is an error.
    fn any_matches(
        &mut self,
        nodes: &[Subschema],
        v: &Value,
        at: &mut String,
        depth: usize,
    ) -> Result<bool, Violation> {
        for n in nodes {
            if self.matches(n, v, at, depth)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// How many of `nodes` match (stops counting at 2).
    fn count_matches(
        &mut self,
        nodes: &[Subschema],
        v: &Value,
        at: &mut String,
        depth: usize,
    ) -> Result<usize, Violation> {
        let mut matched = 0;
        for n in nodes {
            if self.matches(n, v, at, depth)? {
                matched += 1;
                if matched > 1 {
                    break;
                }
            }
        }
        Ok(matched)
    }

    fn array(
        &mut self,
        r: &Keywords,
        items: &[Value],
        at: &mut String,
        depth: usize,
    ) -> Result<(), Violation> {
        let n = items.len() as u64;
        if r.min_items.is_some_and(|m| n < m) {
            let message = format!("must have at least {} items", r.min_items.unwrap_or(0));
            return Err(violation(at, "minItems", message));
        }
        if r.max_items.is_some_and(|m| n > m) {
            let message = format!("must have at most {} items", r.max_items.unwrap_or(0));
            return Err(violation(at, "maxItems", message));
        }
        if r.unique_items {
            for (i, a) in items.iter().enumerate() {
                self.spend(items.len())?;
                if items[..i].iter().any(|b| equal(a, b)) {
                    return Err(violation(
                        at,
                        "uniqueItems",
                        format!("item {i} is a repeat"),
                    ));
                }
            }
        }
        for (i, item) in items.iter().enumerate() {
            let node = match r.prefix_items.get(i) {
                Some(node) => node,
                None => match &r.items {
                    Some(node) => node,
                    None => break,
                },
            };
            let len = push(at, &i.to_string());
            self.node(node, item, at, depth + 1)?;
            pop(at, len);
        }
        Ok(())
    }

    fn object(
        &mut self,
        r: &Keywords,
        map: &serde_json::Map<String, Value>,
        at: &mut String,
        depth: usize,
    ) -> Result<(), Violation> {
        let n = map.len() as u64;
        if let Some(m) = r.min_properties.filter(|m| n < *m) {
            return Err(violation(
                at,
                "minProperties",
                format!("must have at least {m} properties"),
            ));
        }
        if let Some(m) = r.max_properties.filter(|m| n > *m) {
            return Err(violation(
                at,
                "maxProperties",
                format!("must have at most {m} properties"),
            ));
        }
        if let Some(missing) = r.required.iter().find(|k| !map.contains_key(*k)) {
            let message = format!("\"{missing}\" is required");
            return Err(violation(at, "required", message));
        }
        for (name, node) in &r.properties {
            if let Some(value) = map.get(name) {
                let len = push(at, name);
                self.node(node, value, at, depth + 1)?;
                pop(at, len);
            }
        }
        if let Some(additional) = &r.additional {
            for (name, value) in map {
                if r.properties.iter().any(|(p, _)| p == name) {
                    continue;
                }
                let len = push(at, name);
                if let Subschema::Bool(false) = additional {
                    let message = format!("\"{name}\" is not an allowed property");
                    return Err(violation(at, "additionalProperties", message));
                }
                self.node(additional, value, at, depth + 1)?;
                pop(at, len);
            }
        }
        Ok(())
    }

    /// Takes `steps` from the budget.
    fn spend(&mut self, steps: usize) -> Result<(), Violation> {
        let steps = u32::try_from(steps).unwrap_or(u32::MAX);
        self.budget = self
            .budget
            .checked_sub(steps)
            .ok_or_else(|| violation("", "complexity", "too costly to check against the schema"))?;
        Ok(())
    }
}

fn bounds(r: &Keywords, x: f64, at: &str) -> Result<(), Violation> {
    let fail = |rule, message: String| Err(violation(at, rule, message));
    if let Some(m) = r.minimum.filter(|m| x < *m) {
        return fail("minimum", format!("must be >= {m}"));
    }
    if let Some(m) = r.maximum.filter(|m| x > *m) {
        return fail("maximum", format!("must be <= {m}"));
    }
    if let Some(m) = r.exclusive_minimum.filter(|m| x <= *m) {
        return fail("exclusiveMinimum", format!("must be > {m}"));
    }
    if let Some(m) = r.exclusive_maximum.filter(|m| x >= *m) {
        return fail("exclusiveMaximum", format!("must be < {m}"));
    }
    Ok(())
}

/// `minLength` and `maxLength`, in Unicode code points.
fn lengths(r: &Keywords, s: &str, at: &str) -> Result<(), Violation> {
    if r.min_length.is_none() && r.max_length.is_none() {
        return Ok(());
    }
    let n = s.chars().count() as u64;
    if let Some(m) = r.min_length.filter(|m| n < *m) {
        return Err(violation(
            at,
            "minLength",
            format!("must be at least {m} characters"),
        ));
    }
    if let Some(m) = r.max_length.filter(|m| n > *m) {
        return Err(violation(
            at,
            "maxLength",
            format!("must be at most {m} characters"),
        ));
    }
    Ok(())
}
