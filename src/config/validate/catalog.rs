//! What the merged catalog shows and under which names: each backend's
//! `filters` (allow/deny globs per item kind) and `tool_overrides`, the
//! top-level `conflict_resolution` (what happens when two backends expose
//! one name) and `catalog` (length and character limits for clients with
//! strict naming rules). Applying them is the router's job, not this one's.

use super::fields::join;
use super::{Cx, Fields};
use crate::config::yaml::{Pos, YamlValue};
use crate::config::{
    Backend, CatalogNames, Conflict, Filter, Filters, NameCharset, Pin, Strategy, ToolOverride,
};
use crate::glob::Glob;

/// A backend's `filters`: allow and deny globs for tools, resources and prompts.
pub(super) fn filters(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Filters {
    let mut filters = Filters::default();
    let Some(node) = f.get("filters") else {
        return filters;
    };
    let Some(mut m) = cx.fields(node, &f.child("filters")) else {
        return filters;
    };
    for (key, slot) in [
        ("tools", &mut filters.tools),
        ("resources", &mut filters.resources),
        ("prompts", &mut filters.prompts),
    ] {
        let Some(n) = m.get(key) else { continue };
        let Some(mut lists) = cx.fields(n, &m.child(key)) else {
            continue;
        };
        *slot = Filter {
            allow: globs(cx, &mut lists, "allow"),
            deny: globs(cx, &mut lists, "deny"),
        };
        lists.finish(cx, &[]);
    }
    m.finish(cx, &[]);
    filters
}

/// One `allow` or `deny` list of glob patterns; a bad pattern is reported and left out.
fn globs(cx: &mut Cx<'_>, lists: &mut Fields<'_>, key: &'static str) -> Vec<Glob> {
    let Some(n) = lists.get(key) else {
        return Vec::new();
    };
    let path = lists.child(key);
    let YamlValue::Seq(items) = &n.value else {
        cx.wrong_type(n, &path, "a list of glob patterns");
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let p = format!("{path}[{i}]");
            let pattern = cx.string(item, &p)?;
            match Glob::new(&pattern) {
                Ok(g) => Some(g),
                Err(e) => {
                    cx.err(&p, item.pos, format!("bad glob \"{pattern}\": {e}"));
                    None
                }
            }
        })
        .collect()
}

/// A backend's `tool_overrides`: a new name or description per original tool name.
pub(super) fn tool_overrides(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Vec<(String, ToolOverride)> {
    let Some(node) = f.get("tool_overrides") else {
        return Vec::new();
    };
    let path = f.child("tool_overrides");
    let YamlValue::Map(entries) = &node.value else {
        cx.wrong_type(node, &path, "a mapping of tool name to {name, description}");
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in entries {
        let p = join(&path, &key.name);
        let Some(mut o) = cx.fields(value, &p) else {
            continue;
        };
        let name = o.get("name").and_then(|n| cx.nonempty(n, &o.child("name")));
        let description = o
            .get("description")
            .and_then(|n| cx.string(n, &o.child("description")));
        o.finish(cx, &[]);
        out.push((key.name.clone(), ToolOverride { name, description }));
    }
    out
}

/// `conflict_resolution`; `order` must name configured backends, and
/// `priority` needs one.
pub(super) fn conflict(
    cx: &mut Cx<'_>,
    top: &mut Fields<'_>,
    backends: &[(Backend, Pos)],
) -> Conflict {
    let mut c = Conflict {
        strategy: Strategy::FirstWins,
        separator: "_".into(),
        order: Vec::new(),
    };
    let Some(node) = top.get("conflict_resolution") else {
        return c;
    };
    let Some(mut f) = cx.fields(node, "conflict_resolution") else {
        return c;
    };
    let mut strategy_pos = node.pos;
    if let Some(n) = f.get("strategy") {
        strategy_pos = n.pos;
        let p = f.child("strategy");
        if let Some(s) = cx.string(n, &p) {
            c.strategy = match s.trim() {
                "first-wins" => Strategy::FirstWins,
                "prefix" => Strategy::Prefix,
                "priority" => Strategy::Priority,
                "error" => Strategy::Error,
                other => {
                    cx.err(
                        &p,
                        n.pos,
                        format!(
                            "unknown strategy \"{other}\" (expected first-wins, prefix, priority or error)"
                        ),
                    );
                    Strategy::FirstWins
                }
            };
        }
    }
    if let Some(n) = f.get("separator")
        && let Some(s) = cx.string(n, &f.child("separator"))
    {
        c.separator = s;
    }
    if let Some(n) = f.get("order") {
        let p = f.child("order");
        c.order = cx.string_list(n, &p);
        if let YamlValue::Seq(items) = &n.value {
            for (name, item) in c.order.iter().zip(items) {
                if !backends.iter().any(|(b, _)| &b.name == name) {
                    cx.err(
                        &p,
                        item.pos,
                        format!("\"{name}\" is not a configured backend"),
                    );
                }
            }
        }
    }
    if c.strategy == Strategy::Priority && c.order.is_empty() {
        cx.err(
            &f.child("strategy"),
            strategy_pos,
            "strategy \"priority\" needs a non-empty \"order\" list of backend names",
        );
    }
    f.finish(cx, &[]);
    c
}

/// `catalog`: `max_name_length` and `name_charset`, both off by default,
/// `lock_file` and `pin`.
pub(super) fn catalog_names(
    cx: &mut Cx<'_>,
    top: &mut Fields<'_>,
) -> (CatalogNames, Option<std::path::PathBuf>, Pin) {
    let mut names = CatalogNames::default();
    let Some(mut f) = top.get("catalog").and_then(|n| cx.fields(n, "catalog")) else {
        return (names, None, Pin::Off);
    };
    let mut pin = Pin::Off;
    if let Some(n) = f.get("pin")
        && let Some(v) = cx.string(n, "catalog.pin")
    {
        match v.trim() {
            "off" => pin = Pin::Off,
            "warn" => pin = Pin::Warn,
            "block" => pin = Pin::Block,
            other => cx.err(
                "catalog.pin",
                n.pos,
                format!("unknown pin \"{other}\" (expected off, warn or block)"),
            ),
        }
    }
    let lock_file = f
        .get("lock_file")
        .and_then(|n| cx.nonempty(n, "catalog.lock_file"))
        .map(std::path::PathBuf::from);
    if let Some(n) = f.get("max_name_length")
        && let Some(v) = cx.int(n, "catalog.max_name_length", 16, 1024)
    {
        names.max_length = Some(v as usize);
    }
    if let Some(n) = f.get("name_charset")
        && let Some(v) = cx.string(n, "catalog.name_charset")
    {
        match v.trim() {
            "strict" => names.charset = Some(NameCharset::Strict),
            "mcp" => names.charset = Some(NameCharset::Mcp),
            other => cx.err(
                "catalog.name_charset",
                n.pos,
                format!("unknown name_charset \"{other}\" (expected strict or mcp)"),
            ),
        }
    }
    f.finish(cx, &[]);
    (names, lock_file, pin)
}
