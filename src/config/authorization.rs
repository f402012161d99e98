//! `authorization`: which caller may see and use which item. Ordered
//! policies, each an effect for some roles over some items; the first
//! policy that matches decides, else `default_effect`. The decision itself
//! is `policy::decide`; this module only holds what the config says.

use std::fmt;

use crate::glob::Glob;

/// `authorization`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// `enabled`: off by default (every caller sees everything).
    pub enabled: bool,
    /// `default_effect`: what no policy decides (`deny` unless set).
    pub default_effect: Effect,
    /// `policies`, in order.
    pub policies: Vec<Policy>,
    /// `stdio_identity`: who the parent process of the stdio front is
    /// (name `local-user`, no roles, unless set).
    pub stdio_identity: StdioIdentity,
}

impl Default for Authorization {
    fn default() -> Authorization {
        Authorization {
            enabled: false,
            default_effect: Effect::Deny,
            policies: Vec::new(),
            stdio_identity: StdioIdentity::default(),
        }
    }
}

/// The caller behind the stdio front, which presents no credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdioIdentity {
    /// Its name in records.
    pub name: String,
    /// Its roles.
    pub roles: Vec<String>,
}

impl Default for StdioIdentity {
    fn default() -> StdioIdentity {
        StdioIdentity {
            name: "local-user".to_owned(),
            roles: Vec::new(),
        }
    }
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// `allow`.
    Allow,
    /// `deny`.
    Deny,
}

impl Effect {
    /// Its config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        }
    }
}

/// One entry of `policies`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `effect`.
    pub effect: Effect,
    /// `roles`: a caller with any of them matches; `*` matches every
    /// caller, anonymous ones included.
    pub roles: Vec<String>,
    /// `resources`: the items it covers.
    pub resources: Vec<Pattern>,
    /// `description`, for people.
    pub description: Option<String>,
}

/// What a resource pattern is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `*`: every item.
    Any,
    /// `tool:<exposed name>`.
    Tool,
    /// `prompt:<exposed name>`.
    Prompt,
    /// `resource:<uri>` (a template's URI template, or a URI read through it).
    Resource,
    /// `server:<backend>`: every item of that backend.
    Server,
    /// `group:<group>`: every item of that group's backends.
    Group,
}

impl Scope {
    /// The prefixes, as written before the `:`.
    pub const PREFIXES: [(&'static str, Scope); 5] = [
        ("tool", Scope::Tool),
        ("prompt", Scope::Prompt),
        ("resource", Scope::Resource),
        ("server", Scope::Server),
        ("group", Scope::Group),
    ];
}

/// One resource pattern: a scope and a glob over the name in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// What the glob is matched against.
    pub scope: Scope,
    /// The glob (`*` for [`Scope::Any`]).
    pub glob: Glob,
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Scope::PREFIXES.iter().find(|(_, s)| *s == self.scope) {
            Some((prefix, _)) => write!(f, "{prefix}:{}", self.glob.as_str()),
            None => f.write_str("*"),
        }
    }
}
