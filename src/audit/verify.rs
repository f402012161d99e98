//! `argus-mcp audit verify`: a file's chain checked line by line.

use serde_json::Value;

use super::GENESIS;
use crate::sha256;

/// Why a file's chain is broken: the line number (from 1) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The first line that does not fit.
    pub line: usize,
    /// What is wrong, in words.
    pub why: String,
}

/// Checks a whole audit file: every line a record, `seq` rising by one,
/// `prev` the hash of the line before. Returns the number of records.
pub fn verify(text: &str) -> Result<usize, Broken> {
    let broken = |line: usize, why: String| Err(Broken { line, why });
    if !text.is_empty() && !text.ends_with('\n') {
        let line = text.lines().count();
        return broken(line, "truncated: the last line is incomplete".into());
    }
    let seqs: Vec<Option<u64>> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .and_then(|v| v.get("seq").and_then(Value::as_u64))
        })
        .collect();
    let mut prev: Option<(String, u64)> = None;
    let mut count = 0;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let Ok(Value::Object(record)) = serde_json::from_str::<Value>(line) else {
            return broken(n, "not a JSON record (edited or truncated)".into());
        };
        let seq = record.get("seq").and_then(Value::as_u64);
        let claimed = record.get("prev").and_then(Value::as_str).unwrap_or("");
        let Some(seq) = seq else {
            return broken(n, "no \"seq\" (edited)".into());
        };
        match &prev {
            None if claimed != GENESIS && seq == 1 => {
                return broken(
                    n,
                    "the first record does not chain from the genesis value".into(),
                );
            }
            None => {}
            Some((hash, last_seq)) => {
                if seq <= *last_seq {
                    return broken(n, format!("seq {seq} after {last_seq}: lines reordered"));
                }
                if seq > last_seq + 1 {
                    // The missing one further down: moved, not deleted.
                    let later = seqs[i..].contains(&Some(last_seq + 1));
                    let why = if later {
                        format!("seq {seq} after {last_seq}: lines reordered")
                    } else {
                        format!(
                            "seq {seq} after {last_seq}: {} line(s) deleted",
                            seq - last_seq - 1
                        )
                    };
                    return broken(n, why);
                }
                if claimed != hash {
                    return broken(
                        n - 1,
                        "its hash does not match the next line's \"prev\": edited".into(),
                    );
                }
            }
        }
        prev = Some((sha256::hex(line.as_bytes()), seq));
        count += 1;
    }
    Ok(count)
}
