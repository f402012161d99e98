//! The tool-argument schema validator on any schema and instance: never
//! panics, gives the same verdict twice, and names a violation's place as
//! a JSON Pointer. The input is the schema's JSON, a 0 byte, then the
//! instance's JSON (`null` when there is no 0 byte).
#![no_main]

use argus_mcp::schema::Schema;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let (schema, instance) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b"null"[..]),
    };
    let Ok(schema) = serde_json::from_slice::<Value>(schema) else {
        return;
    };
    let Ok(instance) = serde_json::from_slice::<Value>(instance) else {
        return;
    };
    let Ok(compiled) = Schema::compile(&schema) else {
        return;
    };
    let _ = compiled.ignored();
    let verdict = compiled.validate(&instance);
    assert_eq!(compiled.validate(&instance), verdict);
    if let Err(violation) = verdict {
        assert!(
            violation.pointer.is_empty() || violation.pointer.starts_with('/'),
            "{violation:?}"
        );
        assert!(!violation.rule.is_empty(), "{violation:?}");
    }
});
