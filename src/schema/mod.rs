//! Tool arguments checked against the tool's own `inputSchema`: a bounded
//! JSON Schema 2020-12 validator of our own, so that a malformed call is
//! refused at the gateway and the backend never sees it.
//!
//! The subset: boolean schemas, `type`, `properties`, `required`,
//! `additionalProperties`, `enum`, `const`, `minimum`, `maximum`,
//! `exclusiveMinimum`, `exclusiveMaximum`, `minLength`, `maxLength`,
//! `minItems`, `maxItems`, `uniqueItems`, `minProperties`,
//! `maxProperties`, `items`, `prefixItems`, `allOf`, `anyOf`, `oneOf`,
//! `not`, and `$ref` to a JSON Pointer in the same document (`#`,
//! `#/$defs/x`, `#/definitions/x`). Every other keyword is ignored, which
//! only ever lets more through, and listed by [`Schema::ignored`]; the one
//! exception is `additionalProperties` beside `patternProperties`: which
//! properties are "additional" then depends on the patterns, so it is not
//! applied there either. Annotations (`title`, `description`, `default`,
//! `format`, ...) mean nothing to validation.
//!
//! [`Schema::compile`] refuses what is not a schema (a keyword of the
//! subset with a value of the wrong shape, an unknown type name, a local
//! `$ref` that leads nowhere, a `$ref` cycle that never descends into the
//! instance) and what is too big (nesting, nodes). Validation is bounded
//! too: a budget of steps, so `anyOf` nested in `anyOf` cannot take
//! exponential time.

mod check;
mod compile;
mod equal;

use serde_json::Value;

/// Schema nesting deeper than this is refused.
pub const MAX_SCHEMA_DEPTH: usize = 64;
/// Schemas with more nodes than this are refused.
pub const MAX_SCHEMA_NODES: usize = 20_000;
/// Steps one validation may take; an instance that needs more is refused.
pub const MAX_STEPS: u32 = 200_000;

/// A compiled schema.
#[derive(Debug, PartialEq)]
pub struct Schema {
    /// The root, then every `$ref` target, by index.
    nodes: Vec<Subschema>,
    /// Keywords outside the subset, as `<schema pointer>/<keyword>`.
    ignored: Vec<String>,
}

/// Why a document is not a schema we can check against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// Where in the schema (JSON Pointer).
    pub pointer: String,
    /// What is wrong.
    pub why: String,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.pointer.is_empty() {
            f.write_str(&self.why)
        } else {
            write!(f, "at {}: {}", self.pointer, self.why)
        }
    }
}

impl std::error::Error for SchemaError {}

/// The first rule an instance breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where in the instance (JSON Pointer, "" for the root).
    pub pointer: String,
    /// The keyword that failed (`type`, `required`, `minimum`, ...).
    pub rule: &'static str,
    /// A sentence for people.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.pointer.is_empty() {
            "the arguments"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {} ({})", self.message, self.rule)
    }
}

/// One compiled schema node.
#[derive(Debug, PartialEq)]
enum Subschema {
    /// `true` (anything) or `false` (nothing).
    Bool(bool),
    /// An object schema.
    Keywords(Box<Keywords>),
}

/// The keywords of one object schema that the subset applies.
#[derive(Debug, Default, PartialEq)]
struct Keywords {
    /// Allowed types, a bit per [`JsonType`]; `None`: any.
    types: Option<u8>,
    enumeration: Option<Vec<Value>>,
    constant: Option<Value>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: Option<f64>,
    exclusive_maximum: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    unique_items: bool,
    min_properties: Option<u64>,
    max_properties: Option<u64>,
    properties: Vec<(String, Subschema)>,
    required: Vec<String>,
    /// `additionalProperties`, unless `patternProperties` makes it unknowable.
    additional: Option<Subschema>,
    prefix_items: Vec<Subschema>,
    items: Option<Subschema>,
    all_of: Vec<Subschema>,
    any_of: Vec<Subschema>,
    one_of: Vec<Subschema>,
    not: Option<Subschema>,
    /// A `$ref`: the index of its target in [`Schema::nodes`].
    reference: Option<usize>,
}

/// The JSON types `type` names, in the order of their bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonType {
    Null,
    Boolean,
    Object,
    Array,
    Number,
    String,
    Integer,
}

impl JsonType {
    const ALL: [JsonType; 7] = [
        JsonType::Null,
        JsonType::Boolean,
        JsonType::Object,
        JsonType::Array,
        JsonType::Number,
        JsonType::String,
        JsonType::Integer,
    ];

    fn name(self) -> &'static str {
        match self {
            JsonType::Null => "null",
            JsonType::Boolean => "boolean",
            JsonType::Object => "object",
            JsonType::Array => "array",
            JsonType::Number => "number",
            JsonType::String => "string",
            JsonType::Integer => "integer",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl Schema {
    /// Compiles `doc`, or says why it is not a schema.
    pub fn compile(doc: &Value) -> Result<Schema, SchemaError> {
        compile::compile(doc)
    }

    /// Checks `instance`: the first rule it breaks, if any.
    pub fn validate(&self, instance: &Value) -> Result<(), Violation> {
        check::check(self, instance)
    }

    /// Keywords outside the subset, ignored (`<schema pointer>/<keyword>`).
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }
}

#[cfg(test)]
mod tests;
