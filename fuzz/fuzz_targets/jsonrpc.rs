//! JSON-RPC classification and the id rules: never panics; a message
//! that parses survives a round trip unchanged; ids that are our backend
//! ids (positive integers) read back the same as numbers or strings.
#![no_main]

use argus_mcp::jsonrpc::{Message, RequestId};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Some(id) = value.get("id").and_then(RequestId::from_value) {
        assert_eq!(RequestId::from_value(&id.to_value()), Some(id));
    }
    if let Ok(message) = Message::parse(value) {
        let again = Message::parse(message.to_value()).expect("our own output parses");
        assert_eq!(again, message);
        let text = message.to_value().to_string();
        let reread: Value = serde_json::from_str(&text).expect("our output is JSON");
        assert_eq!(Message::parse(reread).ok(), Some(message));
    }
});
