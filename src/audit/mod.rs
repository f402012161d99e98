//! The audit log: one JSON line per forwarded request, per catalog change,
//! denial and auth failure, never arguments, results or secrets, chained by
//! SHA-256 so that an edited, deleted, reordered or truncated line is
//! detected, and signed now and then so that a rewritten chain is too.
//!
//! Every line is an object with `seq` (1, 2, … across restarts and
//! rotations), `time` (RFC 3339, UTC, milliseconds), `kind`, the kind's
//! fields, and `prev`: the SHA-256 (hex) of the exact bytes of the previous
//! line, its `\n` included, or [`GENESIS`] for the first record. After a
//! restart the chain continues from the file's last line. Each line goes
//! out in one `write` on a file opened for appending, under one lock, so
//! lines never interleave.
//!
//! With `audit.signing_key`, a `checkpoint` record signs the chain's head
//! (`signing`): every `checkpoint_every` records, every
//! `checkpoint_seconds` while records come (a timer thread), before a
//! rotation and at shutdown ([`AuditLog::close`]). Each checkpoint is a
//! record of the chain and is also appended to `<file>.checkpoints`, so a
//! copy can be kept elsewhere. With `max_size_mb` the file rotates to
//! `FILE.1` (newest) … `FILE.<backup_count>`; the chain goes on in the new
//! file. [`verify`] checks files, oldest first.
//!
//! [`AuditLog::open`] creates the file and its missing folders;
//! [`can_open`] answers, without creating anything, whether it would
//! succeed, so that `argus-mcp check` refuses what the server would.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use log::error;
use serde_json::{Map, Value};

use crate::config::Audit;
use crate::limits::SERVICE_STACK_BYTES;
use crate::sha256;
use crate::sync;

mod open;
mod show;
mod signing;
mod time;
mod verify;

pub use open::{OpenError, can_open};
pub use show::{Selection, show};
pub use signing::{BadCheckpoint, KeyError, Signer, Verifier, key_id, signed_text};
pub use time::{now_rfc3339, parse_time, rfc3339_of};
pub use verify::{Broken, Options, Report, verify};

/// The `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An open audit log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    /// `audit.required`: a request whose record cannot be written fails.
    pub required: bool,
    state: Mutex<Chain>,
    /// Signs checkpoints, with how many records apart.
    signer: Option<(Signer, u64)>,
    /// Rotation: the size past which the file rotates, and how many are kept.
    rotation: Option<(u64, u32)>,
    /// Held while the log lives: its drop ends the checkpoint timer.
    timer: Mutex<Option<mpsc::Sender<()>>>,
}

#[derive(Debug)]
struct Chain {
    file: File,
    prev: String,
    seq: u64,
    /// The file's size.
    bytes: u64,
    /// Records since the last checkpoint.
    unsigned: u64,
}

impl AuditLog {
    /// Opens (or creates) `path` for appending, continuing its chain;
    /// missing folders above it are created first. No signing, no rotation.
    pub fn open(path: &Path, required: bool) -> Result<AuditLog, OpenError> {
        let state = Mutex::new(open_chain(path)?);
        Ok(AuditLog {
            path: path.to_owned(),
            required,
            state,
            signer: None,
            rotation: None,
            timer: Mutex::new(None),
        })
    }

    /// Opens the log `audit` configures: its file, its signing key and
    /// checkpoints (the timer started), its rotation.
    pub fn open_configured(audit: &Audit) -> Result<Arc<AuditLog>, OpenError> {
        let mut log = AuditLog::open(&audit.file, audit.required)?;
        if let Some(path) = &audit.signing_key {
            let key_error = |why: String| OpenError::SigningKey {
                path: path.clone(),
                why,
            };
            let pem = std::fs::read_to_string(path).map_err(|e| key_error(e.to_string()))?;
            let signer =
                Signer::from_pem(&pem, &audit.origin).map_err(|e| key_error(e.to_string()))?;
            log.signer = Some((signer, audit.checkpoint_every));
        }
        log.rotation = audit.max_bytes.map(|max| (max, audit.backup_count));
        let log = Arc::new(log);
        if log.signer.is_some() {
            log.start_timer(audit.checkpoint_seconds)?;
        }
        Ok(log)
    }

    /// Starts the thread that writes a checkpoint every `every` while
    /// records come; it ends when the log is dropped.
    fn start_timer(self: &Arc<Self>, every: Duration) -> Result<(), OpenError> {
        let (tx, rx) = mpsc::channel::<()>();
        *sync::lock(&self.timer) = Some(tx);
        let log: Weak<AuditLog> = Arc::downgrade(self);
        sync::spawn_named("argus-audit-timer", SERVICE_STACK_BYTES, move || {
            let mut next = Instant::now() + every;
            loop {
                match rx.recv_timeout(next.saturating_duration_since(Instant::now())) {
                    Err(RecvTimeoutError::Timeout) => {}
                    // The log is gone (or a stray message): stop.
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                next = Instant::now() + every;
                let Some(log) = log.upgrade() else { return };
                log.checkpoint_if_unsigned();
            }
        })?;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Chain> {
        // Replaced whole after each successful write.
        sync::lock(&self.state)
    }

    /// Appends one record of `kind` with `fields`, rotating the file
    /// first if it is full and signing a checkpoint after it when one is
    /// due; an error says why it could not be written (and is logged).
    pub fn record(&self, kind: &str, fields: Map<String, Value>) -> Result<(), WriteError> {
        let mut chain = self.lock();
        if let Some((max, keep)) = self.rotation
            && chain.bytes >= max
        {
            self.rotate(&mut chain, keep).map_err(|e| self.failed(e))?;
        }
        self.append(&mut chain, kind, fields)?;
        chain.unsigned += 1;
        if let Some((_, every)) = &self.signer
            && chain.unsigned >= *every
        {
            // The record is written; a checkpoint that is not is logged.
            let _ = self.checkpoint(&mut chain);
        }
        Ok(())
    }

    /// Signs a checkpoint now if records came since the last one (the
    /// timer, and shutdown).
    pub fn checkpoint_if_unsigned(&self) {
        let mut chain = self.lock();
        if chain.unsigned > 0 {
            let _ = self.checkpoint(&mut chain);
        }
    }

    /// At shutdown: a last checkpoint covers every record.
    pub fn close(&self) {
        self.checkpoint_if_unsigned();
        sync::lock(&self.timer).take();
    }

    /// Writes one line: `fields` with `seq`, `time`, `kind` and `prev`.
    fn append(
        &self,
        chain: &mut Chain,
        kind: &str,
        fields: Map<String, Value>,
    ) -> Result<Vec<u8>, WriteError> {
        let mut line = fields;
        line.insert("seq".into(), Value::from(chain.seq + 1));
        line.insert("time".into(), Value::from(now_rfc3339()));
        line.insert("kind".into(), Value::from(kind));
        line.insert("prev".into(), Value::from(chain.prev.clone()));
        let mut bytes = Value::Object(line).to_string().into_bytes();
        bytes.push(b'\n');
        match chain.file.write_all(&bytes) {
            Ok(()) => {
                chain.prev = sha256::hex(&bytes);
                chain.seq += 1;
                chain.bytes += bytes.len() as u64;
                Ok(bytes)
            }
            Err(e) => Err(self.failed(e)),
        }
    }

    /// A checkpoint over the chain's head, in the chain and in
    /// `<file>.checkpoints`.
    fn checkpoint(&self, chain: &mut Chain) -> Result<(), WriteError> {
        let Some((signer, _)) = &self.signer else {
            return Ok(());
        };
        let fields = signer.checkpoint(chain.seq, &chain.prev);
        let line = self.append(chain, "checkpoint", fields)?;
        chain.unsigned = 0;
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(checkpoints_path(&self.path))
            .and_then(|mut f| f.write_all(&line))
            .map_err(|e| self.failed(e))
    }

    /// Rotates: a checkpoint first, then `FILE.i` → `FILE.i+1` (the oldest
    /// beyond `keep` replaced), `FILE` → `FILE.1`, and a new `FILE` that
    /// goes on with the chain.
    fn rotate(&self, chain: &mut Chain, keep: u32) -> io::Result<()> {
        if chain.unsigned > 0 {
            let _ = self.checkpoint(chain);
        }
        let numbered = |i: u32| {
            let mut name = self.path.as_os_str().to_owned();
            name.push(format!(".{i}"));
            PathBuf::from(name)
        };
        for i in (1..keep).rev() {
            match std::fs::rename(numbered(i), numbered(i + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, numbered(1))?;
        chain.file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)?;
        chain.bytes = 0;
        Ok(())
    }

    fn failed(&self, cause: io::Error) -> WriteError {
        let why = WriteError {
            path: self.path.clone(),
            cause,
        };
        error!("{why}");
        why
    }
}

/// Where the copies of the checkpoints of `log` go.
pub fn checkpoints_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".checkpoints");
    PathBuf::from(name)
}

/// Opens `path` and reads where its chain stands.
fn open_chain(path: &Path) -> Result<Chain, OpenError> {
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
    let tail = last_link(&mut file)?;
    let mut bytes = file.seek(SeekFrom::End(0))?;
    if !tail.ends_cleanly {
        // A torn last line (a crash mid-write): end it, so the next
        // record starts a line of its own; `verify` reports the tear.
        file.write_all(b"\n")?;
        bytes += 1;
    }
    Ok(Chain {
        file,
        prev: tail.hash,
        seq: tail.seq,
        bytes,
        // A run that ended without its last checkpoint left records the
        // next checkpoint must cover.
        unsigned: u64::from(!tail.checkpoint && tail.seq > 0),
    })
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

/// Where a file's chain stands.
struct Tail {
    /// The hash of the last line's bytes (its `\n` included).
    hash: String,
    seq: u64,
    /// The file ends with a newline.
    ends_cleanly: bool,
    /// The last record is a checkpoint.
    checkpoint: bool,
}

/// The last line of the file (an empty file: genesis, 0).
fn last_link(file: &mut File) -> io::Result<Tail> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(Tail {
            hash: GENESIS.to_owned(),
            seq: 0,
            ends_cleanly: true,
            checkpoint: false,
        });
    }
    // The last line is at most one record; read back far enough for it.
    let back = len.min(1024 * 1024);
    file.seek(SeekFrom::Start(len - back))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    let ends_cleanly = tail.ends_with(b"\n");
    let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
    let last = body.rsplit(|&b| b == b'\n').next().unwrap_or(body);
    let record = serde_json::from_slice::<Value>(last).ok();
    let seq = record
        .as_ref()
        .and_then(|v| v.get("seq").and_then(Value::as_u64))
        .unwrap_or(0);
    let checkpoint = record
        .as_ref()
        .and_then(|v| v.get("kind"))
        .is_some_and(|k| k == "checkpoint");
    // The line as the next record's `prev` covers it: with its `\n` (a
    // torn line gets one now).
    let mut line = last.to_vec();
    line.push(b'\n');
    Ok(Tail {
        hash: sha256::hex(&line),
        seq,
        ends_cleanly,
        checkpoint,
    })
}

#[cfg(test)]
mod tests;
