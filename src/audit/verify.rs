//! `argus-mcp audit verify`: the chain checked over the exact bytes of
//! every line, across rotated files given oldest first, and with the
//! public key every signed checkpoint; with the checkpoints kept elsewhere
//! (`<file>.checkpoints`), a log cut back past one of them too.
//!
//! What each finding means: an edited record breaks the next record's
//! `prev`; a deleted, moved or doubled one breaks `seq`; a log that does
//! not begin at seq 1 lost its head (unless told it is partial); a line
//! whose end became CRLF is not the line that was hashed. A forger who
//! re-chains everything after an edit passes the chain, not a checkpoint:
//! the signed text names the hash of the record it covers. Records after
//! the last checkpoint are an unsigned tail: the chain alone vouches for
//! them.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::GENESIS;
use super::signing::Verifier;
use crate::sha256;

/// Where a log breaks: the file, the line number (from 1), what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The file, as given.
    pub file: String,
    /// The first line that does not fit.
    pub line: usize,
    /// What is wrong, in words.
    pub why: String,
}

/// How to verify.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    /// The public key: check every checkpoint with it.
    pub key: Option<&'a Verifier>,
    /// The checkpoints kept elsewhere (`<file>.checkpoints`).
    pub checkpoints: Option<&'a [u8]>,
    /// The log may begin after seq 1 (older files not given).
    pub allow_partial: bool,
}

/// What a log that holds proves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// Records read, checkpoints included.
    pub records: usize,
    /// The first record's seq.
    pub first_seq: u64,
    /// Checkpoints found (verified, with a key).
    pub checkpoints: usize,
    /// Records after the last checkpoint.
    pub unsigned_tail: usize,
}

/// A line's place, for messages.
#[derive(Clone)]
struct Place<'f> {
    file: &'f str,
    line: usize,
}

impl Place<'_> {
    fn broken(&self, why: impl Into<String>) -> Broken {
        Broken {
            file: self.file.to_owned(),
            line: self.line,
            why: why.into(),
        }
    }
}

/// The last record read: its line's hash, its seq, where it is.
struct Previous<'f> {
    hash: String,
    seq: u64,
    at: Place<'f>,
}

/// Verifies `files` (name, bytes), oldest first, as one chain.
pub fn verify(files: &[(&str, &[u8])], options: Options<'_>) -> Result<Report, Broken> {
    let mut report = Report::default();
    let mut last: Option<Previous<'_>> = None;
    // Each checkpoint's own seq → its line's hash, to compare with the
    // checkpoints kept elsewhere.
    let mut checkpoints: HashMap<u64, String> = HashMap::new();
    for &(file, bytes) in files {
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            let line = bytes.split(|b| *b == b'\n').count();
            let at = Place { file, line };
            return Err(at.broken("truncated: the last line is incomplete"));
        }
        let seqs: Vec<Option<u64>> = bytes.split_inclusive(|b| *b == b'\n').map(seq_of).collect();
        for (i, raw) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
            let at = Place { file, line: i + 1 };
            let record = record_of(raw, &at)?;
            let seq = record.get("seq").and_then(Value::as_u64);
            let Some(seq) = seq else {
                return Err(at.broken("no \"seq\" (edited)"));
            };
            let claimed = record.get("prev").and_then(Value::as_str).unwrap_or("");
            match &last {
                None => first(seq, claimed, &at, options.allow_partial)?,
                Some(link) => follows(link, seq, claimed, &at, &seqs[i..])?,
            }
            if record.get("kind").and_then(Value::as_str) == Some("checkpoint") {
                if let Some(key) = options.key {
                    key.check(&record, seq.saturating_sub(1), claimed)
                        .map_err(|why| at.broken(format!("checkpoint {why}")))?;
                }
                checkpoints.insert(seq, sha256::hex(raw));
                report.checkpoints += 1;
                report.unsigned_tail = 0;
            } else {
                report.unsigned_tail += 1;
            }
            if last.is_none() {
                report.first_seq = seq;
            }
            report.records += 1;
            last = Some(Previous {
                hash: sha256::hex(raw),
                seq,
                at,
            });
        }
    }
    if let Some(kept) = options.checkpoints {
        let end = last.as_ref().map_or(0, |l| l.seq);
        kept_checkpoints(kept, &checkpoints, end, report.first_seq, options.key)?;
    }
    Ok(report)
}

/// The record on one raw line (with its `\n`).
fn record_of(raw: &[u8], at: &Place<'_>) -> Result<Map<String, Value>, Broken> {
    let body = &raw[..raw.len() - 1];
    if body.ends_with(b"\r") {
        return Err(
            at.broken("its line end was changed to CRLF: these are not the bytes that were hashed")
        );
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(record)) => Ok(record),
        _ => Err(at.broken("not a JSON record (edited or truncated)")),
    }
}

fn seq_of(raw: &[u8]) -> Option<u64> {
    serde_json::from_slice::<Value>(raw)
        .ok()?
        .get("seq")
        .and_then(Value::as_u64)
}

/// The first record of the log: seq 1 from the genesis value, unless the
/// log may be partial.
fn first(seq: u64, claimed: &str, at: &Place<'_>, partial: bool) -> Result<(), Broken> {
    if seq == 1 && claimed != GENESIS {
        return Err(at.broken("the first record does not chain from the genesis value"));
    }
    if seq != 1 && !partial {
        return Err(at.broken(format!(
            "the log starts at seq {seq}, not 1: {} head record(s) missing (deleted, or in an older file not given; --allow-partial accepts that)",
            seq - 1
        )));
    }
    Ok(())
}

/// A record after `link`: the next seq, chained from its line's hash.
fn follows(
    link: &Previous<'_>,
    seq: u64,
    claimed: &str,
    at: &Place<'_>,
    rest: &[Option<u64>],
) -> Result<(), Broken> {
    let last = link.seq;
    let across = if link.at.file == at.file {
        String::new()
    } else {
        format!(" (after the end of {})", link.at.file)
    };
    if seq <= last {
        return Err(at.broken(format!("seq {seq} after {last}{across}: lines reordered")));
    }
    if seq > last + 1 {
        // The missing one further down: moved, not deleted.
        let why = if rest.contains(&Some(last + 1)) {
            format!("seq {seq} after {last}{across}: lines reordered")
        } else {
            let n = seq - last - 1;
            format!("seq {seq} after {last}{across}: {n} record(s) deleted, or a file missing")
        };
        return Err(at.broken(why));
    }
    if claimed != link.hash {
        return Err(link
            .at
            .broken("its bytes do not match the next record's \"prev\": edited"));
    }
    Ok(())
}

/// The checkpoints kept elsewhere against the log's: each one the log
/// should hold (its seq within the log) must be there, the same; one past
/// the log's end means the log was cut.
fn kept_checkpoints(
    kept: &[u8],
    found: &HashMap<u64, String>,
    end: u64,
    start: u64,
    key: Option<&Verifier>,
) -> Result<(), Broken> {
    let file = "the checkpoints file";
    for (i, raw) in kept.split_inclusive(|b| *b == b'\n').enumerate() {
        let at = Place { file, line: i + 1 };
        if !raw.ends_with(b"\n") {
            return Err(at.broken("truncated: the last line is incomplete"));
        }
        let record = record_of(raw, &at)?;
        let seq = record.get("seq").and_then(Value::as_u64).unwrap_or(0);
        if let Some(key) = key {
            let covers = seq.saturating_sub(1);
            let head = record.get("head").and_then(Value::as_str).unwrap_or("");
            key.check(&record, covers, head)
                .map_err(|why| at.broken(format!("checkpoint {why}")))?;
        }
        if seq > end {
            return Err(at.broken(format!(
                "the log was cut: it ends at seq {end}, and this checkpoint covers seq {}",
                seq.saturating_sub(1)
            )));
        }
        if seq >= start && found.get(&seq) != Some(&sha256::hex(raw)) {
            return Err(at.broken(format!(
                "the log's checkpoint at seq {seq} is missing or not this one"
            )));
        }
    }
    Ok(())
}
