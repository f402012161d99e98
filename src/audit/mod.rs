//! The audit log: one JSON line per forwarded request, per catalog change and
//! per auth failure, never arguments, results or secrets, chained by SHA-256 so
//! that an edited, deleted, reordered or truncated line is detected.
//!
//! Every line is an object with `seq` (1, 2, … across restarts), `time`
//! (RFC 3339, UTC, milliseconds), `kind`, the kind's fields, and `prev`: the
//! SHA-256 (hex) of the previous line's bytes, or [`GENESIS`] for the first
//! line of a file. After a restart the chain continues from the file's last
//! line. Each line goes out in one `write` on a file opened for appending,
//! under one lock, so lines never interleave. [`verify`] checks a file.
//!
//! [`AuditLog::open`] creates the file and its missing folders;
//! [`can_open`] answers, without creating anything, whether it would
//! succeed, so that `argus-mcp check` refuses what the server would.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use log::error;
use serde_json::{Map, Value};

use crate::sha256;
use crate::sync;

mod open;
mod show;
mod signing;
mod time;
mod verify;

pub use open::{OpenError, can_open};
pub use show::show;
pub use signing::{BadCheckpoint, KeyError, Signer, Verifier, key_id, signed_text};
pub use time::{now_rfc3339, parse_time, rfc3339_of};
pub use verify::{Broken, verify};

/// The `prev` of a file's first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An open audit log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    /// `audit.required`: a request whose record cannot be written fails.
    pub required: bool,
    state: Mutex<Chain>,
}

#[derive(Debug)]
struct Chain {
    file: File,
    prev: String,
    seq: u64,
}

impl AuditLog {
    /// Opens (or creates) `path` for appending, continuing its chain;
    /// missing folders above it are created first.
    pub fn open(path: &Path, required: bool) -> Result<AuditLog, OpenError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            std::fs::create_dir_all(dir).map_err(|source| OpenError::CreateDir {
                dir: dir.to_owned(),
                source,
            })?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let (prev, seq, ends_cleanly) = last_link(&mut file)?;
        if !ends_cleanly {
            // A torn last line (a crash mid-write): end it, so the next
            // record starts a line of its own; `verify` reports the tear.
            file.write_all(b"\n")?;
        }
        Ok(AuditLog {
            path: path.to_owned(),
            required,
            state: Mutex::new(Chain { file, prev, seq }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Chain> {
        // Replaced whole after each successful write.
        sync::lock(&self.state)
    }

    /// Appends one record of `kind` with `fields`; an error says why it
    /// could not be written (and is logged).
    pub fn record(&self, kind: &str, fields: Map<String, Value>) -> Result<(), WriteError> {
        let mut chain = self.lock();
        let mut line = fields;
        line.insert("seq".into(), Value::from(chain.seq + 1));
        line.insert("time".into(), Value::from(now_rfc3339()));
        line.insert("kind".into(), Value::from(kind));
        line.insert("prev".into(), Value::from(chain.prev.clone()));
        let text = Value::Object(line).to_string();
        let mut bytes = Vec::with_capacity(text.len() + 1);
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(b'\n');
        match chain.file.write_all(&bytes) {
            Ok(()) => {
                chain.prev = sha256::hex(text.as_bytes());
                chain.seq += 1;
                Ok(())
            }
            Err(e) => {
                let why = WriteError {
                    path: self.path.clone(),
                    cause: e,
                };
                error!("{why}");
                Err(why)
            }
        }
    }
}

/// A record that could not be written.
#[derive(Debug)]
pub struct WriteError {
    /// The audit log's path.
    pub path: PathBuf,
    /// Why.
    pub cause: io::Error,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot write the audit log {}: {}",
            self.path.display(),
            self.cause
        )
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

/// The hash and `seq` of the file's last line, and whether the file ends
/// with a newline (an empty file: genesis, 0, true).
fn last_link(file: &mut File) -> io::Result<(String, u64, bool)> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok((GENESIS.to_owned(), 0, true));
    }
    // The last line is at most one record; read back far enough for it.
    let back = len.min(1024 * 1024);
    file.seek(SeekFrom::Start(len - back))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    let ends_cleanly = tail.ends_with(b"\n");
    let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
    let last = body.rsplit(|&b| b == b'\n').next().unwrap_or(body);
    let seq = serde_json::from_slice::<Value>(last)
        .ok()
        .and_then(|v| v.get("seq").and_then(Value::as_u64))
        .unwrap_or(0);
    Ok((sha256::hex(last), seq, ends_cleanly))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let id = crate::random::hex_id(6).unwrap();
        std::env::temp_dir().join(format!("argus-audit-{tag}-{id}.jsonl"))
    }

    fn fields(name: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("name".into(), Value::from(name));
        m
    }

    #[test]
    fn the_chain_continues_across_restarts_and_tampering_is_found() {
        let path = temp("chain");
        {
            let log = AuditLog::open(&path, false).unwrap();
            log.record("call", fields("a")).unwrap();
            log.record("call", fields("b")).unwrap();
        }
        let log = AuditLog::open(&path, false).unwrap();
        log.record("call", fields("c")).unwrap();
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(verify(&text), Ok(3));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains(GENESIS));
        let join = |ls: &[&str]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
        let edited = join(&[lines[0], &lines[1].replace("\"b\"", "\"x\""), lines[2]]);
        assert_eq!(verify(&edited).unwrap_err().line, 2);
        assert!(verify(&edited).unwrap_err().why.contains("edited"));
        let deleted = join(&[lines[0], lines[2]]);
        assert!(verify(&deleted).unwrap_err().why.contains("deleted"));
        let reordered = join(&[lines[0], lines[2], lines[1]]);
        assert!(verify(&reordered).unwrap_err().why.contains("reordered"));
        let swapped = join(&[lines[1], lines[0], lines[2]]);
        assert!(verify(&swapped).is_err());
        let truncated = &text[..text.len() - 10];
        assert!(verify(truncated).unwrap_err().why.contains("truncated"));
        // A torn last line: the next run starts a new line; verify names it.
        std::fs::write(&path, truncated).unwrap();
        let log = AuditLog::open(&path, false).unwrap();
        log.record("call", fields("d")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(verify(&text).unwrap_err().line, 3);
        let _ = std::fs::remove_file(&path);
    }
}
