//! Reading one scalar value of the tree: strings (after `${VAR}`
//! expansion), booleans, numbers in a range, seconds, lists and mappings of
//! strings, URLs and HTTP headers. Each reader reports a value it cannot use
//! at the value's position and returns `None` (or an empty list); numbers and
//! booleans also come from strings, so `port: "${PORT}"` works. Which keys a
//! section has is not known here.

use std::time::Duration;

use super::fields::{Cx, join};
use crate::config::yaml::{Node, YamlValue};
use crate::config::{Secret, expand};

impl Cx<'_> {
    /// The text of a scalar after `${VAR}` expansion. Numbers and booleans are
    /// not strings: a config that means a string should quote it.
    pub(super) fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            YamlValue::Str(s) => match expand(s, self.env) {
                Ok(v) => {
                    if s.contains("${") && v != *s {
                        self.expanded.push((v.clone(), s.clone()));
                    }
                    Some(v)
                }
                Err(e) => {
                    self.err(path, node.pos, e.to_string());
                    None
                }
            },
            YamlValue::Int(_) | YamlValue::Float(_) | YamlValue::Bool(_) => {
                self.err(
                    path,
                    node.pos,
                    format!("expected a string, found {} (quote it)", node.value.kind()),
                );
                None
            }
            _ => {
                self.wrong_type(node, path, "a string");
                None
            }
        }
    }

    /// A string, trimmed, that must not be empty.
    pub(super) fn nonempty(&mut self, node: &Node, path: &str) -> Option<String> {
        let s = self.string(node, path)?;
        let trimmed = s.trim();
        if trimmed.is_empty() {
            self.err(path, node.pos, "must not be empty");
            return None;
        }
        Some(trimmed.to_owned())
    }

    /// `true` or `false`, also from a string that says so.
    pub(super) fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match &node.value {
            YamlValue::Bool(b) => Some(*b),
            YamlValue::Str(_) => match self.string(node, path)?.trim() {
                "true" => Some(true),
                "false" => Some(false),
                other => {
                    self.err(
                        path,
                        node.pos,
                        format!("expected true or false, found \"{other}\""),
                    );
                    None
                }
            },
            _ => {
                self.wrong_type(node, path, "true or false");
                None
            }
        }
    }

    /// A number (integer or float), also from a numeric string.
    pub(super) fn number(&mut self, node: &Node, path: &str) -> Option<f64> {
        let value = match &node.value {
            YamlValue::Int(i) => *i as f64,
            YamlValue::Float(f) => *f,
            YamlValue::Str(_) => {
                let s = self.string(node, path)?;
                match s.trim().parse::<f64>() {
                    Ok(v) => v,
                    Err(_) => {
                        self.err(path, node.pos, format!("expected a number, found \"{s}\""));
                        return None;
                    }
                }
            }
            _ => {
                self.wrong_type(node, path, "a number");
                return None;
            }
        };
        if !value.is_finite() {
            self.err(path, node.pos, "must be a finite number");
            return None;
        }
        Some(value)
    }

    /// A whole number in `lo..=hi`.
    pub(super) fn int(&mut self, node: &Node, path: &str, lo: i64, hi: i64) -> Option<i64> {
        let value = self.number(node, path)?;
        if value.fract() != 0.0 {
            self.err(
                path,
                node.pos,
                format!("expected a whole number, found {value}"),
            );
            return None;
        }
        // Both bounds are far inside f64's exact integer range.
        if value < lo as f64 || value > hi as f64 {
            self.err(
                path,
                node.pos,
                format!("must be between {lo} and {hi}, found {value}"),
            );
            return None;
        }
        Some(value as i64)
    }

    /// A number of seconds in `lo..=hi`, fractions allowed.
    pub(super) fn seconds(
        &mut self,
        node: &Node,
        path: &str,
        lo: f64,
        hi: f64,
    ) -> Option<Duration> {
        let value = self.number(node, path)?;
        if value < lo || value > hi {
            self.err(
                path,
                node.pos,
                format!("must be between {lo} and {hi} seconds, found {value}"),
            );
            return None;
        }
        Some(Duration::from_secs_f64(value))
    }

    /// A list of strings; an item that is not one is reported and left out.
    pub(super) fn string_list(&mut self, node: &Node, path: &str) -> Vec<String> {
        let YamlValue::Seq(items) = &node.value else {
            self.wrong_type(node, path, "a list");
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.string(item, &format!("{path}[{i}]")))
            .collect()
    }

    /// A mapping of strings (`env`, `headers`), in document order; values are secrets.
    pub(super) fn string_map(&mut self, node: &Node, path: &str) -> Vec<(String, Secret)> {
        let YamlValue::Map(entries) = &node.value else {
            self.wrong_type(node, path, "a mapping");
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|(key, value)| {
                let child = join(path, &key.name);
                let value = self.string(value, &child)?;
                Some((key.name.clone(), Secret(value)))
            })
            .collect()
    }

    /// An `http://` or `https://` URL with a host and no spaces.
    pub(super) fn url(&mut self, node: &Node, path: &str) -> Option<String> {
        let url = self.nonempty(node, path)?;
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        match rest {
            None => self.err(
                path,
                node.pos,
                format!("URL \"{url}\" must start with http:// or https://"),
            ),
            Some(rest) if rest.split(['/', '?', '#']).next().unwrap_or("").is_empty() => {
                self.err(path, node.pos, format!("URL \"{url}\" has no host"))
            }
            Some(rest) if rest.chars().any(|c| c.is_whitespace() || c.is_control()) => self.err(
                path,
                node.pos,
                "URL must not contain spaces or control characters",
            ),
            Some(_) => return Some(url),
        }
        None
    }

    /// HTTP headers: token names, values without line breaks.
    pub(super) fn headers(&mut self, node: &Node, path: &str) -> Vec<(String, Secret)> {
        let headers = self.string_map(node, path);
        let YamlValue::Map(entries) = &node.value else {
            return headers;
        };
        for (key, value) in entries {
            if key.name.is_empty() || !key.name.bytes().all(crate::http::is_token_byte) {
                self.err(
                    &join(path, &key.name),
                    key.pos,
                    "not a valid HTTP header name",
                );
            }
            // On the expanded value: a variable may carry the line break.
            let expanded = headers.iter().find(|(n, _)| *n == key.name);
            if let Some((_, v)) = expanded
                && (v.0.contains('\r') || v.0.contains('\n'))
            {
                self.err(
                    &join(path, &key.name),
                    value.pos,
                    "header values must not contain line breaks",
                );
            }
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use crate::config::validate::from_text;

    #[test]
    fn numeric_strings_after_expansion() {
        let env = |n: &str| (n == "PORT").then(|| "8123".to_owned());
        let c = from_text("server:\n  port: \"${PORT}\"\n", &env).unwrap();
        assert_eq!(c.server.port, 8123);
    }
}
