//! The optimizer's face of a catalog: its `tools/list` shows two
//! meta-tools, `find_tool` and `call_tool` (the original Argus's names and
//! input schemas), and the kept tools the catalog has, instead of every
//! tool. `find_tool` ranks the catalog's tools by Okapi BM25 over their
//! words ([`crate::bm25`]); the index is built at the first search of a
//! catalog and lives as long as it (a new catalog, a new index). Every
//! tool stays routable by its own name: only the list changes.

use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};

use super::{Catalog, Kind};
use crate::bm25::{self, Index};
use crate::schema::Schema;

/// The search meta-tool.
pub const FIND_TOOL: &str = "find_tool";
/// The call meta-tool.
pub const CALL_TOOL: &str = "call_tool";
/// How many tools `find_tool` returns when not told.
pub const DEFAULT_LIMIT: usize = 5;
/// The most tools one `find_tool` returns.
pub const MAX_LIMIT: usize = 50;

/// `find_tool`'s definition, as the original lists it.
fn find_tool() -> Value {
    json!({
        "name": FIND_TOOL,
        "description": "Search across all available tools by keyword or description. Returns the top matching tool definitions with their schemas. Use this first to discover relevant tools before calling them.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "query": {
                    "type": "string",
                    "description": "Search query \u{2014} keywords matching tool names or descriptions."
                },
                "limit": {
                    "type": "integer",
                    "description": "Maximum number of results to return (default: 5).",
                    "default": 5
                }
            },
            "required": ["query"]
        }
    })
}

/// `call_tool`'s definition, as the original lists it.
fn call_tool() -> Value {
    json!({
        "name": CALL_TOOL,
        "description": "Call any tool by its exact name with the given arguments. Use find_tool first to discover the tool name and required arguments.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "The exact name of the tool to call."},
                "arguments": {
                    "type": "object",
                    "description": "Arguments to pass to the tool.",
                    "default": {}
                }
            },
            "required": ["name"]
        }
    })
}

/// A meta-tool's compiled input schema (`None`: not a meta-tool).
pub fn meta_schema(name: &str) -> Option<&'static Schema> {
    static SCHEMAS: OnceLock<[Schema; 2]> = OnceLock::new();
    let [find, call] = SCHEMAS.get_or_init(|| {
        let compiled = |tool: Value| {
            Schema::compile(&tool["inputSchema"]).expect("the meta-tools' schemas compile")
        };
        [compiled(find_tool()), compiled(call_tool())]
    });
    match name {
        FIND_TOOL => Some(find),
        CALL_TOOL => Some(call),
        _ => None,
    }
}

/// The optimizer in force on a catalog.
#[derive(Debug, Default)]
pub struct Optimized {
    /// The configured `keep_tools`, kept for the catalog's subsets.
    keep: Arc<[String]>,
    /// What `tools/list` shows: the meta-tools, then the kept tools the
    /// catalog has, in catalog order.
    listed: Vec<Value>,
    /// The search index over the catalog's tools, in list order.
    index: OnceLock<Index>,
}

impl PartialEq for Optimized {
    fn eq(&self, other: &Optimized) -> bool {
        self.keep == other.keep && self.listed == other.listed
    }
}

impl Catalog {
    /// The catalog with the optimizer on, listing `keep`'s tools beside
    /// the meta-tools. A tool named like a meta-tool is listed as the
    /// meta-tool (and reached through `call_tool`).
    pub fn optimized(mut self, keep: Arc<[String]>) -> Catalog {
        let mut listed = vec![find_tool(), call_tool()];
        listed.extend(
            self.list(Kind::Tool)
                .iter()
                .filter(|t| {
                    let name = t.get("name").and_then(Value::as_str).unwrap_or_default();
                    keep.iter().any(|k| k == name) && meta_schema(name).is_none()
                })
                .cloned(),
        );
        self.optimizer = Some(Arc::new(Optimized {
            keep,
            listed,
            index: OnceLock::new(),
        }));
        self
    }

    /// Whether the optimizer is on.
    pub fn is_optimized(&self) -> bool {
        self.optimizer.is_some()
    }

    /// The `keep_tools` of the optimizer in force; `None`: it is off.
    pub(super) fn optimizer_keeps(&self) -> Option<Arc<[String]>> {
        self.optimizer.as_ref().map(|o| o.keep.clone())
    }

    /// What a client's list of `kind` shows: the tools as the optimizer
    /// lists them when it is on, else every item.
    pub fn listed(&self, kind: Kind) -> &[Value] {
        match (&self.optimizer, kind) {
            (Some(o), Kind::Tool) => &o.listed,
            _ => self.list(kind),
        }
    }

    /// The optimizer's search: the catalog's tools that have a word of
    /// `query`, best BM25 score first (then by name), at most `limit`,
    /// as listed (full definitions).
    pub fn find_tools(&self, query: &str, limit: usize) -> Vec<Value> {
        let tools = self.list(Kind::Tool);
        let build = || Index::new(&tools.iter().map(bm25::tool_words).collect::<Vec<_>>());
        let index = match &self.optimizer {
            Some(o) => o.index.get_or_init(build),
            None => &build(),
        };
        let query = bm25::words(query);
        let mut found: Vec<(f64, &str, &Value)> = index
            .scores(&query)
            .into_iter()
            .zip(tools)
            .enumerate()
            .filter(|(i, _)| query.iter().any(|q| index.holds(*i, q)))
            .map(|(_, (score, tool))| {
                let name = tool.get("name").and_then(Value::as_str).unwrap_or_default();
                (score, name, tool)
            })
            .collect();
        found.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        found
            .into_iter()
            .take(limit)
            .map(|(_, _, tool)| tool.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Route;

    fn catalog(tools: &[Value]) -> Catalog {
        let mut c = Catalog::default();
        for (i, tool) in tools.iter().enumerate() {
            let name = tool["name"].as_str().unwrap().to_owned();
            let route = Route {
                backend: i,
                backend_name: "b".into(),
                original: name.clone(),
            };
            c.insert(Kind::Tool, name, route, tool.clone());
        }
        c
    }

    #[test]
    fn lists_meta_tools_and_kept_ones_and_finds_the_rest() {
        let tools = [
            json!({"name": "get_weather", "description": "Current weather for a city"}),
            json!({"name": "sendEmail", "description": "Send an email to a user",
                "inputSchema": {"type": "object", "properties": {"to": {"description": "recipient address"}}}}),
            json!({"name": "search_web", "description": "Search the web"}),
            json!({"name": "find_tool", "description": "a backend's own"}),
        ];
        let keep: Arc<[String]> = ["search_web".to_owned(), "nope".to_owned()].into();
        let c = catalog(&tools).optimized(keep);
        let names: Vec<&str> = c
            .listed(Kind::Tool)
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["find_tool", "call_tool", "search_web"]);
        assert_eq!(c.listed(Kind::Tool)[0], find_tool());
        // Every tool stays routable.
        assert!(c.route(Kind::Tool, "get_weather").is_some());
        let found = c.find_tools("email recipient", 5);
        assert_eq!(found, [tools[1].clone()]);
        let found = c.find_tools("weather in the city", 5);
        assert_eq!(found[0]["name"], "get_weather");
        assert!(c.find_tools("zebra", 5).is_empty());
        assert!(c.find_tools("", 5).is_empty());
        assert_eq!(c.find_tools("search weather email", 2).len(), 2);
        // A subset (a caller's view) keeps the optimizer, and its list.
        let view = c.retain(|e| e.exposed != "search_web");
        assert_eq!(view.listed(Kind::Tool).len(), 2);
        assert!(view.find_tools("search", 5).is_empty());
    }

    #[test]
    fn meta_schemas_check_arguments() {
        let find = meta_schema(FIND_TOOL).unwrap();
        assert!(find.validate(&json!({"query": "x", "limit": 3})).is_ok());
        assert!(find.validate(&json!({"limit": 3})).is_err());
        assert!(find.validate(&json!({"query": "x", "limit": "3"})).is_err());
        let call = meta_schema(CALL_TOOL).unwrap();
        assert!(call.validate(&json!({"name": "x"})).is_ok());
        assert!(
            call.validate(&json!({"name": "x", "arguments": []}))
                .is_err()
        );
        assert!(meta_schema("echo").is_none());
    }
}
