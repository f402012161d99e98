//! Answers a backend can send that cannot be read, shared by the fixture
//! backend's `bad` tool and the fake SSE and Streamable HTTP backends of
//! the `bad_lines` tests.

use serde_json::Value;

/// An answer to request `id` that cannot be read, of `kind`: `utf8`
/// (invalid UTF-8), `deep` (nested deeper than the parser allows), `long`
/// (over the 16 MiB message limit), anything else not JSON at all.
pub fn bad_answer(id: &Value, kind: &str) -> Vec<u8> {
    let start = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":"#);
    let mut line = start.into_bytes();
    match kind {
        "utf8" => line.extend(b"{\"content\":[{\"type\":\"text\",\"text\":\"caf\xe9\"}]}}"),
        "deep" => {
            line.extend(b"{\"deep\":".iter().chain(&[b'['; 200]).chain(&[b']'; 200]));
            line.extend(b"}}");
        }
        "long" => {
            line.extend(b"{\"content\":[{\"type\":\"text\",\"text\":\"");
            line.resize(line.len() + 17 * 1024 * 1024, b'x');
            line.extend(b"\"}]}}");
        }
        _ => return b"this is not JSON".to_vec(),
    }
    line
}
