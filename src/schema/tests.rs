use serde_json::{Value, json};

use super::*;

fn check(schema: Value, instance: Value) -> Result<(), Violation> {
    Schema::compile(&schema).unwrap().validate(&instance)
}

#[test]
fn pointer_and_rule_name_the_first_failure() {
    let schema = json!({"type": "object", "properties": {
        "a": {"type": "array", "items": {"type": "integer", "minimum": 3}},
        "b/c": {"type": "string"}}, "required": ["a"]});
    let e = check(schema.clone(), json!({"a": [3, 2]})).unwrap_err();
    assert_eq!((e.pointer.as_str(), e.rule), ("/a/1", "minimum"));
    let e = check(schema.clone(), json!({"a": [], "b/c": 1})).unwrap_err();
    assert_eq!((e.pointer.as_str(), e.rule), ("/b~1c", "type"));
    let e = check(schema, json!({})).unwrap_err();
    assert_eq!((e.pointer.as_str(), e.rule), ("", "required"));
}

#[test]
fn integers_lengths_and_equality_follow_the_spec() {
    assert!(check(json!({"type": "integer"}), json!(1.0)).is_ok());
    assert!(check(json!({"type": "integer"}), json!(1.5)).is_err());
    assert!(check(json!({"type": "number"}), json!(7)).is_ok());
    assert!(check(json!({"maxLength": 1}), json!("😀")).is_ok());
    assert!(check(json!({"enum": [1]}), json!(1.0)).is_ok());
    assert!(check(json!({"enum": [1]}), json!(true)).is_err());
    assert!(check(json!({"uniqueItems": true}), json!([1, 1.0])).is_err());
    assert!(check(json!({"const": {"a": [1]}}), json!({"a": [1.0]})).is_ok());
}

#[test]
fn additional_properties_is_not_guessed_beside_pattern_properties() {
    let closed = json!({"properties": {"a": {}}, "additionalProperties": false});
    assert_eq!(
        check(closed, json!({"a": 1, "b": 2})).unwrap_err().pointer,
        "/b"
    );
    let patterned = json!({"properties": {"a": {}}, "patternProperties": {"^x": {}},
        "additionalProperties": false});
    assert!(check(patterned.clone(), json!({"a": 1, "x1": 2})).is_ok());
    let s = Schema::compile(&patterned).unwrap();
    assert_eq!(s.ignored(), ["/patternProperties"]);
}

#[test]
fn refs_resolve_locally_and_cycles_in_place_are_refused() {
    let tree = json!({"$defs": {"node": {"type": "object", "properties": {
        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
        "$ref": "#/$defs/node"});
    let s = Schema::compile(&tree).unwrap();
    assert!(s.validate(&json!({"children": [{"children": []}]})).is_ok());
    let e = s
        .validate(&json!({"children": [{"children": 1}]}))
        .unwrap_err();
    assert_eq!(e.pointer, "/children/0/children");
    for cyclic in [
        json!({"$ref": "#"}),
        json!({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"anyOf": [{"$ref": "#/$defs/a"}]}}}),
        json!({"$defs": {"a": {"not": {"$ref": "#/$defs/a"}}}}),
    ] {
        assert!(Schema::compile(&cyclic).is_err(), "{cyclic}");
    }
    assert!(Schema::compile(&json!({"$ref": "#/$defs/missing"})).is_err());
    let remote = Schema::compile(&json!({"$ref": "https://example.com/s.json"})).unwrap();
    assert_eq!(remote.ignored().len(), 1);
}

#[test]
fn what_is_not_a_schema_is_refused_with_where() {
    for (doc, at) in [
        (json!(3), ""),
        (json!({"type": "strnig"}), "/type"),
        (
            json!({"properties": {"a": {"minLength": -1}}}),
            "/properties/a/minLength",
        ),
        (json!({"required": "a"}), "/required"),
        (json!({"anyOf": []}), "/anyOf"),
        (json!({"items": {"type": 5}}), "/items/type"),
    ] {
        assert_eq!(Schema::compile(&doc).unwrap_err().pointer, at, "{doc}");
    }
}

#[test]
fn costly_or_deep_input_is_bounded() {
    // oneOf over $ref'd oneOf, 30 levels: without a budget each level
    // doubles the work (2^30 checks); the schema itself stays small.
    let mut defs = serde_json::Map::new();
    defs.insert("l0".into(), json!({"type": "string"}));
    for i in 1..30 {
        let below = format!("#/$defs/l{}", i - 1);
        defs.insert(
            format!("l{i}"),
            json!({"anyOf": [{"$ref": below}, {"allOf": [{"$ref": below}, {"type": "integer"}]}]}),
        );
    }
    let costly = json!({"$defs": defs, "$ref": "#/$defs/l29"});
    let e = Schema::compile(&costly)
        .unwrap()
        .validate(&json!(1))
        .unwrap_err();
    assert_eq!(e.rule, "complexity");
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!([deep]);
    }
    let nested = json!({"$defs": {"a": {"items": {"$ref": "#/$defs/a"}}}, "$ref": "#/$defs/a"});
    let e = Schema::compile(&nested)
        .unwrap()
        .validate(&deep)
        .unwrap_err();
    assert_eq!(e.rule, "depth");
}
