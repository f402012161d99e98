//! The config loader on any text: never panics; every problem names a
//! position inside the text when it has one.
#![no_main]

use argus_mcp::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| (name == "SET").then(|| "value".to_owned());
    if let Err(problems) = Config::parse(text, &env) {
        assert!(!problems.is_empty());
        // YAML breaks lines at CR too.
        let lines = text.matches(['\n', '\r']).count() as u32 + 2;
        for p in problems {
            if let Some(pos) = p.pos {
                assert!(pos.line <= lines, "{p:?} beyond {lines} lines");
            }
        }
    }
});
