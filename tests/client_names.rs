//! Names every popular client accepts: `catalog.max_name_length`
//! and `catalog.name_charset` rewrite exposed names deterministically while
//! calls reach the original; startup warns about names clients would refuse.

use serde_json::json;

use crate::support::{Gateway, SseClient, fixture_backend};

const TOOLS: &str =
    "git.commit,plain,a_very_long_tool_name_that_goes_on_and_on_past_any_limit_clients_have";

fn tools_of(gw: &Gateway) -> Vec<String> {
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    c.names(gw.addr, "tools/list", "tools")
}

#[test]
fn names_are_rewritten_stably_and_calls_reach_the_original() {
    let config = format!(
        "catalog: {{max_name_length: 32, name_charset: strict}}\nbackends:\n{}",
        fixture_backend("a", &[("FIXTURE_TOOLS", TOOLS)], "")
    );
    let gw = Gateway::start(&config);
    let names = tools_of(&gw);
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names[1], "plain", "compliant names stay");
    for name in &names {
        assert!(name.chars().count() <= 32, "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "{name}"
        );
    }
    assert!(names[0].starts_with("git_commit_"), "{names:?}");
    let mut c = SseClient::open(gw.addr);
    c.initialize(gw.addr, "2025-06-18");
    let reply = c.call(gw.addr, json!(1), "tools/call", json!({"name": names[0]}));
    assert_eq!(
        reply["result"]["content"][0]["text"], "a:git.commit:null",
        "the backend got its own name: {reply}"
    );
    // The same names after a restart.
    drop(c);
    drop(gw);
    let again = Gateway::start(&config);
    assert_eq!(tools_of(&again), names);
}

#[test]
fn names_clients_would_refuse_are_warned_about_whatever_the_setting() {
    let config = format!(
        "backends:\n{}",
        fixture_backend("a", &[("FIXTURE_TOOLS", TOOLS)], "")
    );
    let gw = Gateway::start(&config);
    let names = tools_of(&gw);
    assert!(
        names.contains(&"git.commit".to_owned()),
        "unchanged by default"
    );
    assert!(gw.logged("tool \"git.commit\" has characters some clients refuse"));
    assert!(gw.logged("characters: some clients refuse names over 64"));
    assert!(!gw.stderr().contains("tool \"plain\""));
}
