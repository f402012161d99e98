//! `optimizer`: on or off, and the tools listed beside the meta-tools.
//! Whether each kept name is a tool is only known once the backends are
//! connected (the catalog warns then).

use super::{Cx, Fields};
use crate::config::Optimizer;

/// `optimizer`; off by default.
pub(super) fn optimizer(cx: &mut Cx<'_>, top: &mut Fields<'_>) -> Optimizer {
    let mut o = Optimizer::default();
    let Some(mut f) = top.get("optimizer").and_then(|n| cx.fields(n, "optimizer")) else {
        return o;
    };
    if let Some(n) = f.get("enabled")
        && let Some(v) = cx.boolean(n, "optimizer.enabled")
    {
        o.enabled = v;
    }
    if let Some(n) = f.get("keep_tools") {
        o.keep_tools = cx.string_list(n, "optimizer.keep_tools");
    }
    f.finish(cx, &[]);
    o
}

#[cfg(test)]
mod tests {
    use crate::config::validate::from_text;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn read_and_refused() {
        let c = from_text(
            "optimizer: {enabled: true, keep_tools: [echo, add]}\n",
            &no_env,
        )
        .unwrap();
        assert!(c.optimizer.enabled);
        assert_eq!(c.optimizer.keep_tools, ["echo", "add"]);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let e = from_text("optimizer: {enabled: yes please}\n", &no_env).unwrap_err();
        assert!(e[0].to_string().contains("optimizer.enabled"), "{e:?}");
        let e = from_text("optimizer: {keep_tool: [a]}\n", &no_env).unwrap_err();
        assert!(e[0].to_string().contains("keep_tools"), "{e:?}");
    }
}
