//! `argus-mcp check --explain IDENTITY ITEM`: the decision on one item for
//! one caller, from the config alone. A static token's name (or the stdio
//! identity's) brings its roles; `--roles` gives a JWT caller's. Which
//! backend offers an item is only known once connected, so without
//! `--backend` the item is decided once per backend of the config when
//! `server:` or `group:` patterns make the backend matter.

use std::fmt::Write as _;

use super::{Decision, Rule, Subject, decide};
use crate::catalog::Kind;
use crate::config::{Config, IncomingAuth};

/// What to explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The caller's name.
    pub identity: String,
    /// `tool:<name>`, `prompt:<name>` or `resource:<uri>`.
    pub item: String,
    /// `--roles`: the caller's roles, instead of the config's.
    pub roles: Option<Vec<String>>,
    /// `--backend`: the backend that offers the item.
    pub backend: Option<String>,
}

/// A question that cannot be answered as asked (a usage error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadQuestion(pub String);

/// The decision, first line `allow` or `deny` and the rule, then who and
/// what was decided on.
pub fn explain(config: &Config, q: &Question) -> Result<String, BadQuestion> {
    let (kind, name) = parse_item(&q.item)?;
    let (roles, whose) = roles_of(config, q);
    let rules = &config.authorization;
    let backends: Vec<(&str, &str)> = match &q.backend {
        Some(b) => match config.backends.iter().find(|x| &x.name == b) {
            Some(x) => vec![(x.name.as_str(), x.group.as_str())],
            None => {
                return Err(BadQuestion(format!(
                    "--backend: no backend \"{b}\" in the config"
                )));
            }
        },
        None => config
            .backends
            .iter()
            .map(|b| (b.name.as_str(), b.group.as_str()))
            .collect(),
    };
    let decision_at = |(backend, group): (&str, &str)| {
        let item = Subject {
            kind,
            name,
            backend,
            group,
        };
        decide(rules, &roles, &item)
    };
    let mut decisions: Vec<(Option<&str>, Decision)> = backends
        .iter()
        .map(|b| (Some(b.0), decision_at(*b)))
        .collect();
    if decisions.is_empty() {
        decisions.push((None, decision_at(("", ""))));
    }
    let all_agree = decisions.iter().all(|(_, d)| *d == decisions[0].1);
    if all_agree {
        decisions.truncate(1);
        if q.backend.is_none() {
            decisions[0].0 = None;
        }
    }
    let mut out = String::new();
    for (backend, d) in &decisions {
        let _ = write!(out, "{} {}", d.effect.as_str(), rule_text(config, d.rule));
        if let Some(b) = backend {
            let _ = write!(out, " [backend {b}]");
        }
        out.push('\n');
    }
    if !rules.enabled {
        out.insert_str(
            0,
            "allow (authorization is not enabled: every caller sees every item)\n",
        );
        out.truncate(out.find('\n').map_or(out.len(), |i| i + 1));
    }
    let _ = writeln!(
        out,
        "identity {} ({whose}), roles [{}]; item {}",
        q.identity,
        roles.join(", "),
        q.item
    );
    Ok(out)
}

/// `policy <i> (<description>)` or `default (default_effect <effect>)`.
fn rule_text(config: &Config, rule: Rule) -> String {
    match rule {
        Rule::Policy(i) => match &config.authorization.policies[i].description {
            Some(d) => format!("policy {i} ({d})"),
            None => format!("policy {i}"),
        },
        Rule::Default => format!(
            "default (default_effect {})",
            config.authorization.default_effect.as_str()
        ),
    }
}

fn parse_item(text: &str) -> Result<(Kind, &str), BadQuestion> {
    let (prefix, name) = text.split_once(':').unwrap_or(("", ""));
    let kind = match prefix {
        "tool" => Kind::Tool,
        "prompt" => Kind::Prompt,
        "resource" => Kind::Resource,
        _ => {
            return Err(BadQuestion(format!(
                "--explain: item \"{text}\" must be tool:<name>, prompt:<name> or resource:<uri>"
            )));
        }
    };
    if name.is_empty() {
        return Err(BadQuestion(format!(
            "--explain: item \"{text}\" names nothing"
        )));
    }
    Ok((kind, name))
}

/// The caller's roles, and where they came from.
fn roles_of(config: &Config, q: &Question) -> (Vec<String>, &'static str) {
    if let Some(roles) = &q.roles {
        return (roles.clone(), "roles from --roles");
    }
    if let IncomingAuth::Bearer(tokens) = &config.incoming_auth
        && let Some(t) = tokens.iter().find(|t| t.name == q.identity)
    {
        return (t.roles.clone(), "a static token of the config");
    }
    let stdio = &config.authorization.stdio_identity;
    if stdio.name == q.identity {
        return (stdio.roles.clone(), "the stdio front's identity");
    }
    (
        Vec::new(),
        "not in the config: no roles; give a JWT caller's with --roles",
    )
}
