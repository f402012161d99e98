//! Exposed names every popular client accepts: some clients refuse or silently
//! drop tools whose names are long or use characters outside `^[a-zA-Z0-9_-]+$`
//! (OpenAI-style function names), and some cap the number of tools.
//!
//! With `catalog: {max_name_length, name_charset}` set, an exposed name
//! that breaks the rule is rewritten deterministically: characters outside
//! the charset become `_`, and a suffix `_` + 8 hex digits of a hash of the
//! name as it was keeps rewritten names unique and stable across restarts;
//! a long name is cut to make room for it. Forwarded calls keep the
//! original name. Whatever the setting, [`warnings`] names every exposed
//! tool, and the tool count, that common clients would refuse.

use crate::config::{CatalogNames, NameCharset};

/// Longest tool name some clients take (server + tool name capped at 64).
pub const CLIENT_NAME_LIMIT: usize = 64;

/// Most tools some clients list.
pub const CLIENT_TOOL_LIMIT: usize = 128;

fn strict(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn allowed(charset: NameCharset, c: char) -> bool {
    match charset {
        NameCharset::Strict => strict(c),
        // MCP 2025-11-25 tool names: A-Z a-z 0-9 _ - .
        NameCharset::Mcp => strict(c) || c == '.',
    }
}

/// FNV-1a, 64 bits: tiny, stable across builds and platforms.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `name` as exposed under `policy`: unchanged when it already complies.
pub fn apply(policy: &CatalogNames, name: &str) -> String {
    let cleaned: String = match policy.charset {
        Some(charset) => name
            .chars()
            .map(|c| if allowed(charset, c) { c } else { '_' })
            .collect(),
        None => name.to_owned(),
    };
    let too_long = policy
        .max_length
        .is_some_and(|max| cleaned.chars().count() > max);
    if cleaned == name && !too_long {
        return cleaned;
    }
    let suffix = format!("_{:08x}", fnv1a(name) as u32);
    let room = policy
        .max_length
        .map_or(usize::MAX, |max| max.saturating_sub(suffix.len()));
    let base: String = cleaned.chars().take(room).collect();
    format!("{base}{suffix}")
}

/// What common clients would refuse among the exposed tool names.
pub fn warnings<'a>(tools: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out = Vec::new();
    let mut count = 0;
    for name in tools {
        count += 1;
        let length = name.chars().count();
        if length > CLIENT_NAME_LIMIT {
            out.push(format!(
                "tool \"{name}\" has {length} characters: some clients refuse names over {CLIENT_NAME_LIMIT} (catalog.max_name_length shortens them)"
            ));
        }
        if name.is_empty() || !name.chars().all(strict) {
            out.push(format!(
                "tool \"{name}\" has characters some clients refuse (they allow a-z A-Z 0-9 _ -; catalog.name_charset: strict rewrites them)"
            ));
        }
    }
    if count > CLIENT_TOOL_LIMIT {
        out.push(format!(
            "{count} tools exposed: some clients use only the first {CLIENT_TOOL_LIMIT} (filters or groups can split them)"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_length: Option<usize>, charset: Option<NameCharset>) -> CatalogNames {
        CatalogNames {
            max_length,
            charset,
        }
    }

    #[test]
    fn compliant_names_are_unchanged() {
        let p = policy(Some(64), Some(NameCharset::Strict));
        assert_eq!(apply(&p, "search_files-2"), "search_files-2");
        assert_eq!(apply(&policy(None, None), "any.thing/é"), "any.thing/é");
    }

    #[test]
    fn rewritten_names_comply_stay_unique_and_stable() {
        let p = policy(Some(20), Some(NameCharset::Strict));
        let a = apply(&p, "git.commit");
        let b = apply(&p, "git_commit");
        assert_eq!(b, "git_commit", "already fine");
        assert!(a.starts_with("git_commit_") && a.len() == 19, "{a}");
        assert_ne!(a, b, "the suffix keeps them apart");
        assert_eq!(a, apply(&p, "git.commit"), "stable");
        let long = apply(&p, &"x".repeat(100));
        assert_eq!(long.chars().count(), 20);
        assert!(long.chars().all(strict), "{long}");
        let mcp = apply(&policy(None, Some(NameCharset::Mcp)), "a.b c");
        assert!(mcp.starts_with("a.b_c_"), "{mcp}");
    }

    #[test]
    fn warnings_name_what_clients_refuse() {
        let long = "t".repeat(65);
        let w = warnings(["ok", "has.dot", long.as_str()].into_iter());
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("has.dot") && w[1].contains("65 characters"));
        let many: Vec<String> = (0..129).map(|i| format!("t{i}")).collect();
        let w = warnings(many.iter().map(String::as_str));
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("129 tools"));
    }
}
