//! One decision for everything a caller can see or do: given the caller's
//! roles and an item (a tool, prompt, resource or template, with the
//! backend and group it comes from), the first policy of `authorization`
//! whose roles and resources both match decides; else `default_effect`.
//!
//! Lists, `server/discover`, completions, reads, subscriptions, listen
//! streams and calls all go through [`Policies::view`]: a caller's catalog
//! is the view's catalog with the denied items taken out, so a denied item
//! is absent everywhere and a request for it meets exactly the error an
//! unknown name meets. A URI read through a template is decided by
//! [`Policies::decide`] on the URI itself first.

mod explain;

pub use explain::{BadQuestion, Question, explain};

use std::fmt;

use crate::catalog::{Catalog, Entry, Kind, Route};
use crate::config::{Authorization, Config, Effect, Policy, Scope};

/// What a decision is about.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Its kind.
    pub kind: Kind,
    /// Its exposed name (a resource's URI, a template's URI template).
    pub name: &'a str,
    /// The backend it comes from.
    pub backend: &'a str,
    /// That backend's group.
    pub group: &'a str,
}

impl fmt::Display for Subject<'_> {
    /// As the audit log and `check --explain` name it: `tool:<name>`,
    /// `prompt:<name>` or `resource:<uri>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&item_name(self.kind, self.name))
    }
}

/// An item as records and patterns name it: `tool:<name>`,
/// `prompt:<name>`, or `resource:<uri>` (a template's too).
pub fn item_name(kind: Kind, name: &str) -> String {
    let prefix = match kind {
        Kind::Tool => "tool",
        Kind::Prompt => "prompt",
        Kind::Resource | Kind::Template => "resource",
    };
    format!("{prefix}:{name}")
}

/// Which rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The policy at this index (0-based, config order).
    Policy(usize),
    /// No policy matched: `default_effect`.
    Default,
}

impl Rule {
    /// As the audit log records it: the policy's index, or `"default"`.
    pub fn to_json(self) -> serde_json::Value {
        match self {
            Rule::Policy(i) => serde_json::Value::from(i),
            Rule::Default => serde_json::Value::from("default"),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Policy(i) => write!(f, "policy {i}"),
            Rule::Default => f.write_str("default"),
        }
    }
}

/// An effect and the rule it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Allow or deny.
    pub effect: Effect,
    /// Why.
    pub rule: Rule,
}

impl Decision {
    /// Whether the item may be seen and used.
    pub fn allowed(self) -> bool {
        self.effect == Effect::Allow
    }
}

/// The enabled `authorization` section of a config, with each backend's
/// group (for `group:` patterns), as one catalog build saw them.
#[derive(Debug, Clone)]
pub struct Policies {
    rules: Authorization,
    /// The group of each backend, by config index.
    groups: Vec<String>,
}

impl Policies {
    /// The policies of `config`, or `None` when authorization is off.
    pub fn of(config: &Config) -> Option<Policies> {
        config.authorization.enabled.then(|| Policies {
            rules: config.authorization.clone(),
            groups: config.backends.iter().map(|b| b.group.clone()).collect(),
        })
    }

    /// What a caller with `roles` may do with `item`.
    pub fn decide(&self, roles: &[String], item: &Subject<'_>) -> Decision {
        decide(&self.rules, roles, item)
    }

    /// The decision on a catalog entry.
    pub fn decide_entry(&self, roles: &[String], entry: &Entry) -> Decision {
        self.decide_route(roles, entry.kind, &entry.exposed, &entry.route)
    }

    /// The decision on the item of `kind` exposed as `name` at `route`.
    pub fn decide_route(
        &self,
        roles: &[String],
        kind: Kind,
        name: &str,
        route: &Route,
    ) -> Decision {
        let item = Subject {
            kind,
            name,
            backend: &route.backend_name,
            group: self.group_of(route.backend),
        };
        self.decide(roles, &item)
    }

    /// What a caller with `roles` may do with resource `uri`, served by
    /// `source` (`Catalog::resource_source`): a policy that names the URI
    /// decides; else the decision on what serves it (the listed resource,
    /// or the template it was read through).
    pub fn decide_uri(
        &self,
        roles: &[String],
        uri: &str,
        (kind, key, route): (Kind, &str, &Route),
    ) -> Decision {
        let group = self.group_of(route.backend);
        let item = |kind, name| Subject {
            kind,
            name,
            backend: &route.backend_name,
            group,
        };
        let decision = self.decide(roles, &item(Kind::Resource, uri));
        if decision.rule == Rule::Default && kind == Kind::Template {
            return self.decide(roles, &item(Kind::Template, key));
        }
        decision
    }

    /// What a caller with `roles` sees of `catalog`.
    pub fn view(&self, roles: &[String], catalog: &Catalog) -> Catalog {
        catalog.retain(|e| self.decide_entry(roles, e).allowed())
    }

    /// The group of backend `index` (config order).
    pub fn group_of(&self, index: usize) -> &str {
        self.groups.get(index).map_or("", String::as_str)
    }
}

/// The decision of `rules` for a caller with `roles` on `item`: the first
/// policy whose roles and resources both match, else the default. Every
/// list, read and call is decided here, and `check --explain` too.
pub fn decide(rules: &Authorization, roles: &[String], item: &Subject<'_>) -> Decision {
    rules
        .policies
        .iter()
        .position(|p| holds_role(p, roles) && covers(p, item))
        .map_or(
            Decision {
                effect: rules.default_effect,
                rule: Rule::Default,
            },
            |i| Decision {
                effect: rules.policies[i].effect,
                rule: Rule::Policy(i),
            },
        )
}

/// `*` matches every caller; otherwise the caller needs one of the roles.
fn holds_role(policy: &Policy, roles: &[String]) -> bool {
    policy
        .roles
        .iter()
        .any(|r| r == "*" || roles.iter().any(|have| have == r))
}

fn covers(policy: &Policy, item: &Subject<'_>) -> bool {
    policy.resources.iter().any(|p| match p.scope {
        Scope::Any => true,
        Scope::Tool => item.kind == Kind::Tool && p.glob.matches(item.name),
        Scope::Prompt => item.kind == Kind::Prompt && p.glob.matches(item.name),
        Scope::Resource => {
            matches!(item.kind, Kind::Resource | Kind::Template) && p.glob.matches(item.name)
        }
        Scope::Server => p.glob.matches(item.backend),
        Scope::Group => p.glob.matches(item.group),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn config(yaml: &str) -> Config {
        Config::parse(yaml, &no_env).unwrap()
    }

    /// Every problem of `yaml`, one per line.
    fn problems(yaml: &str) -> String {
        let problems = Config::parse(yaml, &no_env).unwrap_err();
        problems.iter().map(|p| format!("{p}\n")).collect()
    }

    const TWO_TEAMS: &str = "
backends:
  github: {type: stdio, command: gh, group: dev}
  fs: {type: stdio, command: fs, group: ops}
authorization:
  enabled: true
  default_effect: deny
  policies:
    - {effect: deny, roles: [intern], resources: ['tool:*_delete']}
    - {effect: allow, roles: [dev], resources: ['group:dev', 'prompt:review']}
    - {effect: allow, roles: [ops], resources: ['server:fs']}
    - {effect: allow, roles: ['*'], resources: ['resource:docs://*']}
";

    fn item<'a>(kind: Kind, name: &'a str, backend: &'a str, group: &'a str) -> Subject<'a> {
        Subject {
            kind,
            name,
            backend,
            group,
        }
    }

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_first_matching_policy_decides_else_the_default() {
        let c = config(TWO_TEAMS);
        let rules = &c.authorization;
        let delete = item(Kind::Tool, "repo_delete", "github", "dev");
        let d = decide(rules, &roles(&["dev", "intern"]), &delete);
        assert_eq!((d.effect, d.rule), (Effect::Deny, Rule::Policy(0)));
        let d = decide(rules, &roles(&["dev"]), &delete);
        assert_eq!((d.effect, d.rule), (Effect::Allow, Rule::Policy(1)));
        let d = decide(rules, &roles(&["ops"]), &delete);
        assert_eq!((d.effect, d.rule), (Effect::Deny, Rule::Default));
        let read = item(Kind::Tool, "read", "fs", "ops");
        assert!(decide(rules, &roles(&["ops"]), &read).allowed());
        assert!(!decide(rules, &roles(&["dev"]), &read).allowed());
    }

    #[test]
    fn kinds_scope_their_patterns_and_star_roles_take_anonymous_callers() {
        let c = config(TWO_TEAMS);
        let rules = &c.authorization;
        // `prompt:review` is no tool.
        let tool = item(Kind::Tool, "review", "x", "");
        let prompt = item(Kind::Prompt, "review", "x", "");
        assert!(!decide(rules, &roles(&["dev"]), &tool).allowed());
        assert!(decide(rules, &roles(&["dev"]), &prompt).allowed());
        // A template is a resource; `*` roles match a caller without any.
        let docs = item(Kind::Template, "docs://{path}", "x", "");
        let d = decide(rules, &[], &docs);
        assert_eq!((d.effect, d.rule), (Effect::Allow, Rule::Policy(3)));
    }

    #[test]
    fn a_uri_read_through_a_template_is_decided_on_the_uri_first() {
        let c = config(
            "
backends: {fs: {type: stdio, command: fs}}
authorization:
  enabled: true
  default_effect: deny
  policies:
    - {effect: deny, roles: ['*'], resources: ['resource:file:///secret/*']}
    - {effect: allow, roles: ['*'], resources: ['resource:file:///{path}']}
",
        );
        let p = Policies::of(&c).unwrap();
        let route = Route {
            backend: 0,
            backend_name: "fs".into(),
            original: "file:///{path}".into(),
        };
        let source = (Kind::Template, "file:///{path}", &route);
        let d = p.decide_uri(&[], "file:///secret/key", source);
        assert_eq!((d.effect, d.rule), (Effect::Deny, Rule::Policy(0)));
        let d = p.decide_uri(&[], "file:///notes.txt", source);
        assert_eq!((d.effect, d.rule), (Effect::Allow, Rule::Policy(1)));
    }

    #[test]
    fn explain_answers_from_the_config_and_per_backend_when_it_matters() {
        let mut c = config(TWO_TEAMS);
        if let crate::config::IncomingAuth::Anonymous = c.incoming_auth {
            c.incoming_auth =
                crate::config::IncomingAuth::Bearer(vec![crate::config::NamedToken {
                    name: "alice".into(),
                    token: crate::config::Secret("t".into()),
                    roles: roles(&["ops"]),
                }]);
        }
        let ask = |identity: &str, item: &str, r: Option<&[&str]>| Question {
            identity: identity.into(),
            item: item.into(),
            roles: r.map(roles),
            backend: None,
        };
        let text = explain(&c, &ask("alice", "tool:read", None)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "deny default (default_effect deny) [backend github]"
        );
        assert_eq!(lines[1], "allow policy 2 [backend fs]");
        assert!(lines[2].contains("roles [ops]"), "{text}");
        let text = explain(&c, &ask("ci", "tool:x_delete", Some(&["intern"]))).unwrap();
        assert_eq!(text.lines().next(), Some("deny policy 0"));
        assert!(explain(&c, &ask("ci", "tool", None)).is_err());
        assert!(explain(&c, &ask("ci", "server:fs", None)).is_err());
    }

    #[test]
    fn patterns_are_checked_at_load() {
        for (bad, why) in [
            ("'git_*'", "has no kind"),
            ("'tools:x'", "unknown kind \"tools\""),
            ("'tool:'", "names nothing"),
            ("'tool:[a'", "resource pattern"),
        ] {
            let yaml = format!(
                "authorization: {{enabled: true, policies: [{{effect: allow, roles: ['*'], resources: [{bad}]}}]}}"
            );
            let problems = problems(&yaml);
            assert!(problems.contains(why), "{bad}: {problems}");
        }
        let problems = problems(
            "authorization: {policies: [{effect: maybe, resources: ['*']}], default_effect: nope}",
        );
        for why in [
            "unknown effect \"maybe\"",
            "needs \"roles\"",
            "unknown effect \"nope\"",
        ] {
            assert!(problems.contains(why), "{problems}");
        }
    }
}
