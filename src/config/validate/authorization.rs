//! `authorization`: the original's section, read as it writes it
//! (`enabled`, `default_effect`, `policies` of `{effect, roles, resources,
//! description}`), plus `stdio_identity`. Patterns are checked here, once;
//! what no policy can ever match is warned about.

use super::{Cx, Fields};
use crate::config::yaml::{Node, Pos, YamlValue};
use crate::config::{
    Authorization, Backend, Effect, IncomingAuth, Pattern, Policy, Scope, StdioIdentity,
};
use crate::glob::Glob;

/// `authorization`, off unless `enabled`.
pub(super) fn authorization(
    cx: &mut Cx<'_>,
    top: &mut Fields<'_>,
    backends: &[(Backend, Pos)],
    incoming: &IncomingAuth,
) -> Authorization {
    let mut a = Authorization::default();
    let Some(mut f) = top
        .get("authorization")
        .and_then(|n| cx.fields(n, "authorization"))
    else {
        return a;
    };
    let enabled = f.get("enabled");
    if let Some(n) = enabled
        && let Some(v) = cx.boolean(n, "authorization.enabled")
    {
        a.enabled = v;
    }
    if let Some(n) = f.get("default_effect")
        && let Some(e) = effect(cx, n, "authorization.default_effect")
    {
        a.default_effect = e;
    }
    if let Some(n) = f.get("policies") {
        match &n.value {
            YamlValue::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("authorization.policies[{i}]");
                    if let Some(p) = policy(cx, item, &path, backends) {
                        a.policies.push(p);
                    }
                }
            }
            _ => cx.wrong_type(n, "authorization.policies", "a list"),
        }
    }
    if let Some(n) = f.get("stdio_identity") {
        a.stdio_identity = stdio_identity(cx, n);
    }
    f.finish(cx, &[]);
    if a.enabled {
        warn_about_reach(cx, &a, incoming, enabled.map_or(0, |n| n.pos.line));
    }
    a
}

/// What an enabled section cannot do as written: deny everything, or
/// tell HTTP callers apart without credentials.
fn warn_about_reach(cx: &mut Cx<'_>, a: &Authorization, incoming: &IncomingAuth, line: u32) {
    if a.policies.is_empty() && a.default_effect == Effect::Deny {
        cx.warnings.push(format!(
            "authorization (line {line}) has no policies and default_effect deny: every caller sees an empty catalog"
        ));
    }
    if matches!(incoming, IncomingAuth::Anonymous) {
        cx.warnings.push(format!(
            "authorization (line {line}) is enabled but incoming_auth is anonymous: HTTP callers have no identity and match only policies for roles [\"*\"]"
        ));
    }
}

fn effect(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Effect> {
    match cx.string(node, path)?.trim() {
        "allow" => Some(Effect::Allow),
        "deny" => Some(Effect::Deny),
        other => {
            cx.err(
                path,
                node.pos,
                format!("unknown effect \"{other}\" (expected allow or deny)"),
            );
            None
        }
    }
}

/// One policy; `None` (reported) when it cannot be used.
fn policy(cx: &mut Cx<'_>, node: &Node, path: &str, backends: &[(Backend, Pos)]) -> Option<Policy> {
    let mut f = cx.fields(node, path)?;
    let effect = match f.get("effect") {
        Some(n) => effect(cx, n, &f.child("effect")),
        None => {
            cx.err(path, node.pos, "a policy needs \"effect\" (allow or deny)");
            None
        }
    };
    let roles = match f.get("roles") {
        Some(n) => cx.string_list(n, &f.child("roles")),
        None => Vec::new(),
    };
    if roles.is_empty() {
        cx.err(
            path,
            node.pos,
            "a policy needs \"roles\" (a non-empty list; [\"*\"] for every caller)",
        );
    }
    let mut resources = Vec::new();
    match f.get("resources") {
        Some(n) => {
            let texts = cx.string_list(n, &f.child("resources"));
            if texts.is_empty() {
                cx.err(path, n.pos, "\"resources\" must not be empty");
            }
            for (i, text) in texts.iter().enumerate() {
                let item_path = format!("{path}.resources[{i}]");
                match pattern(text.trim()) {
                    Ok(p) => {
                        warn_if_unmatched(cx, &p, &item_path, n.pos.line, backends);
                        resources.push(p);
                    }
                    Err(BadPattern(why)) => cx.err(&item_path, n.pos, why),
                }
            }
        }
        None => cx.err(
            path,
            node.pos,
            "a policy needs \"resources\" (patterns such as \"tool:git_*\", \"server:github\" or \"*\")",
        ),
    }
    let description = f
        .get("description")
        .and_then(|n| cx.string(n, &f.child("description")));
    f.finish(cx, &[]);
    Some(Policy {
        effect: effect?,
        roles,
        resources,
        description,
    })
    .filter(|p| !p.roles.is_empty() && !p.resources.is_empty())
}

/// Why a resource pattern cannot be used: a sentence for the config error.
#[derive(Debug)]
struct BadPattern(String);

/// A resource pattern: `*`, or `<scope>:<glob>`.
fn pattern(text: &str) -> Result<Pattern, BadPattern> {
    if text == "*" {
        let glob = Glob::new("*").map_err(|e| BadPattern(e.to_string()))?;
        return Ok(Pattern {
            scope: Scope::Any,
            glob,
        });
    }
    let prefixes = "tool:, prompt:, resource:, server:, group: or \"*\"";
    let Some((prefix, rest)) = text.split_once(':') else {
        return Err(BadPattern(format!(
            "resource pattern \"{text}\" has no kind: write it as {prefixes}"
        )));
    };
    let Some((_, scope)) = Scope::PREFIXES.iter().find(|(p, _)| *p == prefix) else {
        return Err(BadPattern(format!(
            "resource pattern \"{text}\": unknown kind \"{prefix}\" (expected {prefixes})"
        )));
    };
    if rest.is_empty() {
        return Err(BadPattern(format!(
            "resource pattern \"{text}\" names nothing after \"{prefix}:\" (\"{prefix}:*\" for all)"
        )));
    }
    let glob =
        Glob::new(rest).map_err(|e| BadPattern(format!("resource pattern \"{text}\": {e}")))?;
    Ok(Pattern {
        scope: *scope,
        glob,
    })
}

/// A warning for a `server:` or `group:` pattern that no configured
/// backend or group matches (a typo denies or allows nothing).
fn warn_if_unmatched(
    cx: &mut Cx<'_>,
    p: &Pattern,
    path: &str,
    line: u32,
    backends: &[(Backend, Pos)],
) {
    let matched = match p.scope {
        Scope::Server => backends.iter().any(|(b, _)| p.glob.matches(&b.name)),
        Scope::Group => backends.iter().any(|(b, _)| p.glob.matches(&b.group)),
        _ => return,
    };
    if !matched {
        cx.warnings.push(format!(
            "{path} (line {line}): \"{p}\" matches no configured {}",
            if p.scope == Scope::Server {
                "backend"
            } else {
                "group"
            }
        ));
    }
}

fn stdio_identity(cx: &mut Cx<'_>, node: &Node) -> StdioIdentity {
    let mut identity = StdioIdentity::default();
    let path = "authorization.stdio_identity";
    let Some(mut f) = cx.fields(node, path) else {
        return identity;
    };
    if let Some(name) = f.get("name").and_then(|n| cx.nonempty(n, &f.child("name"))) {
        identity.name = name.trim().to_owned();
    }
    if let Some(n) = f.get("roles") {
        identity.roles = cx.string_list(n, &f.child("roles"));
    }
    f.finish(cx, &[]);
    identity
}
