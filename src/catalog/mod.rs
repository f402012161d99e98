//! The merged catalog: every backend's tools, resources, templates and prompts,
//! filtered, renamed and de-conflicted. Pure: [`Catalog::build`] takes what
//! backends offered and the config, and returns an immutable value that the
//! supervisor swaps in atomically.
//!
//! Per item, in order: filter on the original name → tool override →
//! strategy rename (`prefix`: `<backend><sep><name>`; resources and
//! templates only change `name`, never the URI) → conflict check against
//! what is registered. Backends are visited in config order (for `priority`,
//! in priority order), so the outcome is deterministic. Name spaces are per
//! type; resources are keyed by URI and templates by URI template.

mod lock;
mod optimizer;

pub use lock::{BadLine, Change, Drift, Lock, kind_word};
pub use optimizer::{CALL_TOOL, DEFAULT_LIMIT, FIND_TOOL, MAX_LIMIT, meta_schema};

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::backend::Discovered;
use crate::config::{CatalogNames, Conflict, Filter, Filters, Strategy, ToolOverride};
use crate::schema::Schema;
use crate::uri_template::UriTemplate;

/// One backend's contribution to a build.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// Its index in config order.
    pub index: usize,
    /// Its name.
    pub name: &'a str,
    /// Its filters.
    pub filters: &'a Filters,
    /// Its tool overrides.
    pub overrides: &'a [(String, ToolOverride)],
    /// What it offers.
    pub discovered: &'a Discovered,
}

/// The item kinds, each its own name space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Tools, keyed by name.
    Tool,
    /// Resources, keyed by URI.
    Resource,
    /// Resource templates, keyed by URI template.
    Template,
    /// Prompts, keyed by name.
    Prompt,
}

impl Kind {
    /// All kinds, in list order.
    pub const ALL: [Kind; 4] = [Kind::Tool, Kind::Resource, Kind::Template, Kind::Prompt];

    /// Singular noun, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Tool => "tool",
            Kind::Resource => "resource",
            Kind::Template => "resource template",
            Kind::Prompt => "prompt",
        }
    }

    /// The field that identifies an item of this kind.
    fn key_field(self) -> &'static str {
        match self {
            Kind::Tool | Kind::Prompt => "name",
            Kind::Resource => "uri",
            Kind::Template => "uriTemplate",
        }
    }
}

/// Where an exposed item lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Backend index in config order.
    pub backend: usize,
    /// Backend name.
    pub backend_name: String,
    /// The item's name (or URI) at the backend.
    pub original: String,
}

/// One exposed item, for `check --connect` and the management API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its kind.
    pub kind: Kind,
    /// The exposed key (name, URI or URI template).
    pub exposed: String,
    /// Where it goes.
    pub route: Route,
    /// Its definition hash: SHA-256 (hex) of the RFC 8785 canonical JSON
    /// of what a client is shown of it, with its backend and original
    /// name ([`definition_hash`]).
    pub definition: String,
}

/// The definition hash of an item exposed as `shown` from `route`: what a
/// model was shown (name, title, description, schemas, annotations, all of
/// it) and where it goes, so a changed description, schema or backend is a
/// new hash.
pub fn definition_hash(shown: &Value, route: &Route) -> String {
    let doc = serde_json::json!({
        "item": shown,
        "backend": route.backend_name,
        "original": route.original,
    });
    crate::sha256::hex(crate::jcs::canonical(&doc).as_bytes())
}

/// A strategy `error` conflict: the catalog cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictError {
    /// The kind.
    pub kind: Kind,
    /// The contested name or URI.
    pub name: String,
    /// The backend that has it.
    pub first: String,
    /// The backend that also wants it.
    pub second: String,
}

impl fmt::Display for ConflictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} \"{}\" is offered by both \"{}\" and \"{}\" (conflict_resolution.strategy is \"error\")",
            self.kind.noun(),
            self.name,
            self.first,
            self.second
        )
    }
}

impl std::error::Error for ConflictError {}

/// The merged, immutable catalog.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Catalog {
    lists: [Vec<Value>; 4],
    routes: [HashMap<String, Route>; 4],
    /// Where each exposed key's item is in `lists`.
    positions: [HashMap<String, usize>; 4],
    /// Where each exposed key's entry is in `entries`.
    entry_at: [HashMap<String, usize>; 4],
    /// Templates in order, for matching URIs, each with its exposed key.
    templates: Vec<(UriTemplate, String, Route)>,
    /// Each exposed tool's compiled `inputSchema`, by exposed name.
    schemas: HashMap<String, Arc<Schema>>,
    /// Every exposed item, in list order.
    pub entries: Vec<Entry>,
    /// What the connected backends support, for the gateway's own capabilities.
    pub features: Features,
    /// The optimizer, when it is on: what `tools/list` shows instead of
    /// every tool, and the search index.
    optimizer: Option<Arc<optimizer::Optimized>>,
}

/// Optional features that at least one backend in the catalog supports.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Features {
    /// Backends (config indices) with the `logging` capability.
    pub logging: Vec<usize>,
    /// Some backend has `completions`.
    pub completions: bool,
    /// Some backend supports `resources/subscribe`.
    pub subscribe: bool,
    /// How long a client may keep the lists: the shortest `ttlMs` of the
    /// backends with lists, when every one of them gave hints (2026-07-28);
    /// `None` when one did not (a 2025-era backend).
    pub cache_ttl_ms: Option<u64>,
    /// Some backend said its lists are `private` to the caller.
    pub cache_private: bool,
}

impl Catalog {
    /// Builds the catalog with exposed names as they come; see [`Catalog::build_with`].
    pub fn build(
        sources: &[Source<'_>],
        conflict: &Conflict,
    ) -> Result<(Catalog, Vec<String>), ConflictError> {
        Catalog::build_with(sources, conflict, &CatalogNames::default())
    }

    /// Builds the catalog, making tool and prompt names safe for clients
    /// per `names`; also returns one warning per dropped item, unused
    /// override, and exposed tool name (or tool count) that common clients
    /// would refuse.
    pub fn build_with(
        sources: &[Source<'_>],
        conflict: &Conflict,
        names: &CatalogNames,
    ) -> Result<(Catalog, Vec<String>), ConflictError> {
        let mut ordered: Vec<Source<'_>> = sources.to_vec();
        if conflict.strategy == Strategy::Priority {
            let rank = |s: &Source<'_>| {
                conflict
                    .order
                    .iter()
                    .position(|n| n == s.name)
                    .unwrap_or(usize::MAX)
            };
            ordered.sort_by_key(|s| (rank(s), s.index));
        }
        let mut catalog = Catalog::default();
        let mut warnings = Vec::new();
        let mut ttl = Some(u64::MAX);
        for source in sources {
            let d = source.discovered;
            if d.has("tools") || d.has("resources") || d.has("prompts") {
                ttl = ttl.zip(d.cache.ttl_ms).map(|(a, b)| a.min(b));
                catalog.features.cache_private |= d.cache.private;
            }
            if d.has("logging") {
                catalog.features.logging.push(source.index);
            }
            catalog.features.completions |= d.has("completions");
            catalog.features.subscribe |= d.can_subscribe();
        }
        catalog.features.cache_ttl_ms = ttl.filter(|t| *t != u64::MAX);
        for source in &ordered {
            for (original, _) in source.overrides {
                let exists = source
                    .discovered
                    .tools
                    .iter()
                    .any(|t| t.get("name").and_then(Value::as_str) == Some(original));
                if !exists {
                    warnings.push(format!(
                        "backend \"{}\": tool_overrides names \"{original}\", which it does not offer",
                        source.name
                    ));
                }
            }
            for kind in Kind::ALL {
                let items = match kind {
                    Kind::Tool => &source.discovered.tools,
                    Kind::Resource => &source.discovered.resources,
                    Kind::Template => &source.discovered.templates,
                    Kind::Prompt => &source.discovered.prompts,
                };
                for item in items {
                    catalog.add(kind, source, item, (conflict, names), &mut warnings)?;
                }
            }
        }
        let tools = catalog
            .entries
            .iter()
            .filter(|e| e.kind == Kind::Tool)
            .map(|e| e.exposed.as_str());
        warnings.extend(crate::names::warnings(tools));
        Ok((catalog, warnings))
    }

    /// Adds one item of a backend's list under its exposed name (filtered,
    /// overridden, prefixed, made client-safe), or skips it with a warning;
    /// a clash under strategy `error` is the error.
    fn add(
        &mut self,
        kind: Kind,
        source: &Source<'_>,
        item: &Value,
        (conflict, names): (&Conflict, &CatalogNames),
        warnings: &mut Vec<String>,
    ) -> Result<(), ConflictError> {
        let (Some(name), Some(key)) = (
            item.get("name").and_then(Value::as_str),
            item.get(kind.key_field()).and_then(Value::as_str),
        ) else {
            warnings.push(format!(
                "backend \"{}\": a {} without \"name\"/\"{}\" was skipped",
                source.name,
                kind.noun(),
                kind.key_field()
            ));
            return Ok(());
        };
        let filter: &Filter = match kind {
            Kind::Tool => &source.filters.tools,
            Kind::Resource | Kind::Template => &source.filters.resources,
            Kind::Prompt => &source.filters.prompts,
        };
        if !filter.allows(name) {
            return Ok(());
        }
        // A tool whose schema is not one is left out, so that it cannot
        // break every client's list; without a schema, calls go unchecked.
        let schema = match (kind, item.get("inputSchema")) {
            (Kind::Tool, Some(doc)) => match Schema::compile(doc) {
                Ok(schema) => Some(Arc::new(schema)),
                Err(e) => {
                    warnings.push(format!(
                        "backend \"{}\": tool \"{name}\" left out: its inputSchema is not a valid JSON Schema ({e})",
                        source.name
                    ));
                    return Ok(());
                }
            },
            _ => None,
        };
        let mut exposed = item.clone();
        let original_key = key.to_owned();
        let name = overridden(kind, source, name, &mut exposed);
        let keyed_by_name = matches!(kind, Kind::Tool | Kind::Prompt);
        let Some((name, key)) = self.exposed_name(
            kind,
            source,
            name,
            &original_key,
            (conflict, names),
            warnings,
        )?
        else {
            return Ok(());
        };
        exposed["name"] = Value::from(name.as_str());
        let route = Route {
            backend: source.index,
            backend_name: source.name.to_owned(),
            original: if keyed_by_name {
                item["name"].as_str().unwrap_or_default().to_owned()
            } else {
                original_key
            },
        };
        if let Some(schema) = schema {
            self.schemas.insert(key.clone(), schema);
        }
        self.insert(kind, key, route, exposed);
        Ok(())
    }

    /// The exposed name and the catalog key of an item named `name` (its
    /// own key `original_key`): prefixed under strategy `prefix`, made
    /// client-safe. On a clash: the error under `error`, the prefixed name
    /// under `priority` (tools and prompts), else `None` with a warning.
    fn exposed_name(
        &self,
        kind: Kind,
        source: &Source<'_>,
        mut name: String,
        original_key: &str,
        (conflict, names): (&Conflict, &CatalogNames),
        warnings: &mut Vec<String>,
    ) -> Result<Option<(String, String)>, ConflictError> {
        let keyed_by_name = matches!(kind, Kind::Tool | Kind::Prompt);
        // Client-safe names apply to what is exposed, never to the original.
        let safe = |n: String| {
            if keyed_by_name {
                crate::names::apply(names, &n)
            } else {
                n
            }
        };
        let prefixed = |n: &str| format!("{}{}{n}", source.name, conflict.separator);
        if conflict.strategy == Strategy::Prefix {
            name = prefixed(&name);
        }
        name = safe(name);
        let mut key = if keyed_by_name {
            name.clone()
        } else {
            original_key.to_owned()
        };
        let slot = kind as usize;
        if let Some(holder) = self.routes[slot].get(&key) {
            let holder = holder.backend_name.clone();
            match conflict.strategy {
                Strategy::Error => {
                    return Err(ConflictError {
                        kind,
                        name: key,
                        first: holder,
                        second: source.name.to_owned(),
                    });
                }
                Strategy::Priority if keyed_by_name => {
                    name = safe(prefixed(&name));
                    key = name.clone();
                    if self.routes[slot].contains_key(&key) {
                        warnings.push(dropped(kind, &key, source.name, &holder));
                        return Ok(None);
                    }
                }
                _ => {
                    warnings.push(dropped(kind, &key, source.name, &holder));
                    return Ok(None);
                }
            }
        }
        Ok(Some((name, key)))
    }

    /// Records an item under `key`: its route, its entry, its place in the
    /// list of its kind, and what is exposed.
    fn insert(&mut self, kind: Kind, key: String, route: Route, exposed: Value) {
        let slot = kind as usize;
        if kind == Kind::Template {
            let template = (UriTemplate::new(&key), key.clone(), route.clone());
            self.templates.push(template);
        }
        self.entry_at[slot].insert(key.clone(), self.entries.len());
        self.entries.push(Entry {
            kind,
            exposed: key.clone(),
            route: route.clone(),
            definition: definition_hash(&exposed, &route),
        });
        self.positions[slot].insert(key.clone(), self.lists[slot].len());
        self.routes[slot].insert(key, route);
        self.lists[slot].push(exposed);
    }

    /// The same catalog with only the entries `keep` accepts, in the same
    /// order (a caller's view under a policy); its features are kept whole.
    pub fn retain(&self, keep: impl Fn(&Entry) -> bool) -> Catalog {
        let mut kept = Catalog {
            features: self.features.clone(),
            ..Catalog::default()
        };
        for entry in self.entries.iter().filter(|e| keep(e)) {
            if let Some(item) = self.item(entry.kind, &entry.exposed) {
                if let Some(schema) = self
                    .schema(&entry.exposed)
                    .filter(|_| entry.kind == Kind::Tool)
                {
                    kept.schemas.insert(entry.exposed.clone(), schema.clone());
                }
                let (key, route) = (entry.exposed.clone(), entry.route.clone());
                kept.insert(entry.kind, key, route, item.clone());
            }
        }
        match self.optimizer_keeps() {
            Some(keep) => kept.optimized(keep),
            None => kept,
        }
    }

    /// The entry of an exposed tool or prompt name, resource URI or URI
    /// template.
    pub fn entry(&self, kind: Kind, key: &str) -> Option<&Entry> {
        self.entries.get(*self.entry_at[kind as usize].get(key)?)
    }

    /// The compiled `inputSchema` of exposed tool `name`, if it has one.
    pub fn schema(&self, name: &str) -> Option<&Arc<Schema>> {
        self.schemas.get(name)
    }

    /// The exposed items of a kind, in order.
    pub fn list(&self, kind: Kind) -> &[Value] {
        &self.lists[kind as usize]
    }

    /// The exposed item (as listed) of a tool or prompt name, resource URI
    /// or URI template.
    pub fn item(&self, kind: Kind, key: &str) -> Option<&Value> {
        let position = *self.positions[kind as usize].get(key)?;
        self.lists[kind as usize].get(position)
    }

    /// The route of an exposed tool or prompt name, or resource URI.
    pub fn route(&self, kind: Kind, key: &str) -> Option<&Route> {
        self.routes[kind as usize].get(key)
    }

    /// The backend for a resource URI: the one that listed it, else the
    /// first whose template matches it.
    pub fn resource_route(&self, uri: &str) -> Option<&Route> {
        self.route(Kind::Resource, uri).or_else(|| {
            self.templates
                .iter()
                .find(|(t, _, _)| t.matches(uri))
                .map(|(_, _, r)| r)
        })
    }

    /// What serves a resource URI: the listed resource (kind `Resource`,
    /// the URI), else the first template that matches it (kind
    /// `Template`, its URI template); with its route.
    pub fn resource_source<'a>(&'a self, uri: &'a str) -> Option<(Kind, &'a str, &'a Route)> {
        if let Some(route) = self.route(Kind::Resource, uri) {
            return Some((Kind::Resource, uri, route));
        }
        self.templates
            .iter()
            .find(|(t, _, _)| t.matches(uri))
            .map(|(_, key, r)| (Kind::Template, key.as_str(), r))
    }
}

/// A tool's name after its override (`tool_overrides`), with the
/// override's description put in `exposed`; other kinds keep their name.
fn overridden(kind: Kind, source: &Source<'_>, name: &str, exposed: &mut Value) -> String {
    let mut name = name.to_owned();
    if kind == Kind::Tool
        && let Some((_, o)) = source.overrides.iter().find(|(n, _)| *n == name)
    {
        if let Some(new) = &o.name {
            name = new.clone();
        }
        if let Some(description) = &o.description {
            exposed["description"] = Value::from(description.as_str());
        }
    }
    name
}

fn dropped(kind: Kind, key: &str, loser: &str, holder: &str) -> String {
    format!(
        "{} \"{key}\" of backend \"{loser}\" hidden: \"{holder}\" already exposes it",
        kind.noun()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposed_name(cat: &Catalog, i: usize) -> String {
        cat.list(Kind::Tool)[i]["name"].as_str().unwrap().to_owned()
    }
    use crate::glob::Glob;
    use serde_json::json;

    fn found(tools: &[&str]) -> Discovered {
        Discovered {
            tools: tools
                .iter()
                .map(|t| json!({"name": t, "description": "d", "inputSchema": {}}))
                .collect(),
            ..Discovered::default()
        }
    }

    fn names(c: &Catalog, kind: Kind) -> Vec<String> {
        c.list(kind)
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_owned())
            .collect()
    }

    fn conflict(strategy: Strategy, order: &[&str]) -> Conflict {
        Conflict {
            strategy,
            separator: "_".into(),
            order: order.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn strategies() {
        let none = Filters::default();
        let (a, b, c) = (found(&["x", "y"]), found(&["x", "z"]), found(&["x", "a_x"]));
        let sources = [
            Source {
                index: 0,
                name: "a",
                filters: &none,
                overrides: &[],
                discovered: &a,
            },
            Source {
                index: 1,
                name: "b",
                filters: &none,
                overrides: &[],
                discovered: &b,
            },
            Source {
                index: 2,
                name: "c",
                filters: &none,
                overrides: &[],
                discovered: &c,
            },
        ];
        let (cat, warnings) =
            Catalog::build(&sources, &conflict(Strategy::FirstWins, &[])).unwrap();
        assert_eq!(names(&cat, Kind::Tool), ["x", "y", "z", "a_x"]);
        assert_eq!(warnings.len(), 2);
        assert_eq!(cat.route(Kind::Tool, "x").unwrap().backend_name, "a");

        let (cat, _) = Catalog::build(&sources, &conflict(Strategy::Prefix, &[])).unwrap();
        assert_eq!(
            names(&cat, Kind::Tool),
            ["a_x", "a_y", "b_x", "b_z", "c_x", "c_a_x"]
        );
        assert_eq!(cat.route(Kind::Tool, "b_x").unwrap().original, "x");

        let (cat, warnings) =
            Catalog::build(&sources, &conflict(Strategy::Priority, &["c", "b"])).unwrap();
        // c first: keeps x and a_x; b: x → b_x; a: x → a_x is taken by c → dropped.
        assert_eq!(names(&cat, Kind::Tool), ["x", "a_x", "b_x", "z", "y"]);
        assert_eq!(cat.route(Kind::Tool, "x").unwrap().backend_name, "c");
        assert_eq!(cat.route(Kind::Tool, "a_x").unwrap().backend_name, "c");
        assert_eq!(warnings.len(), 1, "{warnings:?}");

        let err = Catalog::build(&sources, &conflict(Strategy::Error, &[])).unwrap_err();
        assert_eq!(
            (err.first.as_str(), err.second.as_str(), err.name.as_str()),
            ("a", "b", "x")
        );
    }

    #[test]
    fn filters_and_overrides() {
        let filters = Filters {
            tools: Filter {
                allow: vec![Glob::new("get_*").unwrap(), Glob::new("echo").unwrap()],
                deny: vec![Glob::new("*_admin").unwrap()],
            },
            ..Filters::default()
        };
        let overrides = vec![
            (
                "echo".to_owned(),
                ToolOverride {
                    name: Some("say".into()),
                    description: Some("Say it".into()),
                },
            ),
            ("ghost".to_owned(), ToolOverride::default()),
        ];
        let d = found(&["get_user", "get_admin", "echo", "delete"]);
        let sources = [Source {
            index: 0,
            name: "a",
            filters: &filters,
            overrides: &overrides,
            discovered: &d,
        }];
        let (cat, warnings) =
            Catalog::build(&sources, &conflict(Strategy::FirstWins, &[])).unwrap();
        assert_eq!(names(&cat, Kind::Tool), ["get_user", "say"]);
        assert_eq!(cat.list(Kind::Tool)[1]["description"], "Say it");
        assert_eq!(
            cat.item(Kind::Tool, &exposed_name(&cat, 1)),
            Some(&cat.list(Kind::Tool)[1])
        );
        assert_eq!(cat.item(Kind::Tool, "no such tool"), None);
        assert_eq!(cat.route(Kind::Tool, "say").unwrap().original, "echo");
        assert!(warnings.iter().any(|w| w.contains("ghost")));
    }

    #[test]
    fn resources_are_keyed_by_uri_and_templates_match() {
        let none = Filters::default();
        let d1 = Discovered {
            resources: vec![json!({"uri": "file:///a", "name": "a"})],
            templates: vec![json!({"uriTemplate": "test://static/resource/{id}", "name": "t"})],
            ..Discovered::default()
        };
        let d2 = Discovered {
            resources: vec![
                json!({"uri": "file:///a", "name": "other"}),
                json!({"uri": "file:///b", "name": "a"}),
            ],
            ..Discovered::default()
        };
        let sources = [
            Source {
                index: 0,
                name: "one",
                filters: &none,
                overrides: &[],
                discovered: &d1,
            },
            Source {
                index: 1,
                name: "two",
                filters: &none,
                overrides: &[],
                discovered: &d2,
            },
        ];
        let (cat, _) = Catalog::build(&sources, &conflict(Strategy::Prefix, &[])).unwrap();
        let uris: Vec<&str> = cat
            .list(Kind::Resource)
            .iter()
            .map(|r| r["uri"].as_str().unwrap())
            .collect();
        assert_eq!(uris, ["file:///a", "file:///b"]);
        assert_eq!(cat.list(Kind::Resource)[0]["name"], "one_a");
        assert_eq!(cat.resource_route("file:///b").unwrap().backend_name, "two");
        assert_eq!(
            cat.resource_route("test://static/resource/7")
                .unwrap()
                .backend_name,
            "one"
        );
        assert!(cat.resource_route("test://static/resource/7/x").is_none());
        assert!(cat.resource_route("nope://x").is_none());
    }
}
