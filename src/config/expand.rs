//! `${NAME}` and `${NAME:-default}` expansion in config string values.
//!
//! One pass, no recursion: a substituted value is never scanned again. `$x`
//! without braces and a lone `$` are literal. An unset variable without a
//! default is an error that names it; a literal `${...}` is never passed on.
//! The caller attaches the key path, and never logs the expanded value.

use std::fmt;

/// Why a string could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpandError {
    /// `${NAME}` with `NAME` unset and no `:-default`.
    Unset(String),
    /// `${` without a closing `}`.
    Unterminated,
    /// `${}` or a name outside `[A-Za-z_][A-Za-z0-9_]*`.
    BadName(String),
}

impl fmt::Display for ExpandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpandError::Unset(name) => write!(
                f,
                "environment variable \"{name}\" is not set (write ${{{name}:-default}} to give a default)"
            ),
            ExpandError::Unterminated => f.write_str("\"${\" without a closing \"}\""),
            ExpandError::BadName(name) => write!(
                f,
                "\"${{{name}}}\" is not a valid variable reference (names are letters, digits and _)"
            ),
        }
    }
}

impl std::error::Error for ExpandError {}

/// Expands every `${...}` in `input`, looking names up with `lookup`.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    if !input.contains("${") {
        return Ok(input.to_owned());
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(ExpandError::Unterminated)?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        if !is_name(name) {
            return Err(ExpandError::BadName(inner.to_owned()));
        }
        match (lookup(name), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => return Err(ExpandError::Unset(name.to_owned())),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            "LOOP" => Some("${TOKEN}".into()),
            _ => None,
        }
    }

    #[test]
    fn plain_strings_pass_through() {
        assert_eq!(
            expand("hello $TOKEN $ {x}", &env).unwrap(),
            "hello $TOKEN $ {x}"
        );
    }

    #[test]
    fn expands_set_variables() {
        assert_eq!(expand("Bearer ${TOKEN}", &env).unwrap(), "Bearer s3cret");
        assert_eq!(expand("${TOKEN}${TOKEN}", &env).unwrap(), "s3crets3cret");
        assert_eq!(expand("[${EMPTY}]", &env).unwrap(), "[]");
    }

    #[test]
    fn defaults_apply_only_when_unset() {
        assert_eq!(expand("${NOPE:-x y}", &env).unwrap(), "x y");
        assert_eq!(expand("${NOPE:-}", &env).unwrap(), "");
        assert_eq!(expand("${TOKEN:-other}", &env).unwrap(), "s3cret");
        assert_eq!(expand("${EMPTY:-other}", &env).unwrap(), "");
    }

    #[test]
    fn no_recursive_expansion() {
        assert_eq!(expand("${LOOP}", &env).unwrap(), "${TOKEN}");
    }

    #[test]
    fn errors() {
        assert_eq!(
            expand("${NOPE}", &env),
            Err(ExpandError::Unset("NOPE".into()))
        );
        assert_eq!(expand("a ${TOKEN", &env), Err(ExpandError::Unterminated));
        assert_eq!(
            expand("${}", &env),
            Err(ExpandError::BadName(String::new()))
        );
        assert_eq!(
            expand("${1A}", &env),
            Err(ExpandError::BadName("1A".into()))
        );
        assert_eq!(
            expand("${A B}", &env),
            Err(ExpandError::BadName("A B".into()))
        );
        let message = expand("${NOPE}", &env).unwrap_err().to_string();
        assert!(message.contains("\"NOPE\""), "{message}");
    }
}
