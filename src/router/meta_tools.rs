//! `tools/call` when the optimizer is on: `find_tool` is answered here from
//! the caller's own catalog (so the policies and the catalog lock's
//! withholding already apply), and `call_tool` becomes the ordinary call
//! of the tool it names, with the same request id and `_meta`: schema
//! check, policy, audit (of the real tool), progress, input requests and
//! cancellation all as for a direct call. Without the optimizer, or for
//! any other name, the named tool is called.

use super::*;
use crate::catalog::{CALL_TOOL, DEFAULT_LIMIT, FIND_TOOL, MAX_LIMIT, meta_schema};

impl Router {
    /// `tools/call`.
    pub(super) fn call_tool(
        &self,
        caller: Caller<'_>,
        id: &RequestId,
        params: Option<Value>,
    ) -> Handled {
        let name = params
            .as_ref()
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str);
        let catalog = self.catalog_for(caller.context);
        let meta = name.filter(|_| catalog.is_optimized());
        match meta.and_then(|n| Some((n, meta_schema(n)?))) {
            Some((name, schema)) => {
                if let Err(e) = check_arguments(schema, name, params.as_ref()) {
                    return Handled::Reply(Err(e));
                }
                if name == FIND_TOOL {
                    return Handled::Reply(Ok(find_tool(&catalog, params.as_ref())));
                }
                debug_assert_eq!(name, CALL_TOOL);
                let inner = Some(through_call_tool(params.unwrap_or_default()));
                self.call_named(caller, id, TOOL, inner, &catalog)
            }
            None => self.call_named(caller, id, TOOL, params, &catalog),
        }
    }
}

/// A tool call, as `call_named` takes it.
const TOOL: (&str, Kind) = (method::TOOLS_CALL, Kind::Tool);

/// `find_tool`'s result: the caller's best tools in `catalog` for
/// `query`, full definitions as `structuredContent` and as JSON text.
fn find_tool(catalog: &Catalog, params: Option<&Value>) -> Value {
    let arguments = params.and_then(|p| p.get("arguments"));
    let query = arguments
        .and_then(|a| a.get("query"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let limit = arguments
        .and_then(|a| a.get("limit"))
        .and_then(Value::as_f64)
        .map_or(DEFAULT_LIMIT, |l| l.clamp(1.0, MAX_LIMIT as f64) as usize);
    let found = json!({"tools": catalog.find_tools(query, limit)});
    json!({
        "content": [{"type": "text", "text": found.to_string()}],
        "structuredContent": found,
    })
}

/// A `call_tool` request's params as the direct call of the tool it
/// names: its `name` and `arguments`, under the outer `_meta` (progress
/// token, trace context).
fn through_call_tool(mut params: Value) -> Value {
    let mut arguments = params
        .get_mut("arguments")
        .map(Value::take)
        .unwrap_or_default();
    let mut inner = serde_json::Map::new();
    for key in ["name", "arguments"] {
        if let Some(v) = arguments.get_mut(key).map(Value::take) {
            inner.insert(key.into(), v);
        }
    }
    if let Some(meta) = params.get_mut("_meta").map(Value::take) {
        inner.insert("_meta".into(), meta);
    }
    Value::Object(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_tool_params_become_the_direct_calls() {
        let outer = json!({"name": "call_tool", "arguments": {"name": "add", "arguments": {"a": 1}},
            "_meta": {"progressToken": 7}});
        assert_eq!(
            through_call_tool(outer),
            json!({"name": "add", "arguments": {"a": 1}, "_meta": {"progressToken": 7}})
        );
        let bare = json!({"name": "call_tool", "arguments": {"name": "ping"}});
        assert_eq!(through_call_tool(bare), json!({"name": "ping"}));
    }
}
