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
use std::time::{SystemTime, UNIX_EPOCH};

use log::error;
use serde_json::{Map, Value};

use crate::sha256;
use crate::sync;

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

/// Why an audit log cannot be opened.
#[derive(Debug)]
pub enum OpenError {
    /// The path names a directory.
    IsADirectory,
    /// A folder on the way to the file is a file (or other non-directory).
    NotADirectory(PathBuf),
    /// The file (or its first missing folder) would be created in this
    /// directory, which we may not write to.
    NotWritable(PathBuf),
    /// A missing folder could not be created.
    CreateDir {
        /// The folder.
        dir: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file could not be opened, read or written.
    Io(io::Error),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::IsADirectory => f.write_str("it is a directory"),
            OpenError::NotADirectory(p) => write!(f, "\"{}\" is not a directory", p.display()),
            OpenError::NotWritable(p) => {
                write!(f, "the directory \"{}\" is not writable", p.display())
            }
            OpenError::CreateDir { dir, source } => {
                write!(
                    f,
                    "cannot create the directory \"{}\": {source}",
                    dir.display()
                )
            }
            OpenError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::CreateDir { source, .. } | OpenError::Io(source) => Some(source),
            _ => None,
        }
    }
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> OpenError {
        OpenError::Io(e)
    }
}

/// Whether [`AuditLog::open`] would succeed on `path`, found without
/// creating or changing anything: an existing file must open for reading
/// and appending; otherwise the nearest existing folder above it must be a
/// directory we may write to (the missing ones below it get created).
///
/// Writability comes from the mode bits (root may write anywhere); an ACL
/// or a read-only mount is only found by the real open.
pub fn can_open(path: &Path) -> Result<(), OpenError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Err(OpenError::IsADirectory),
        // Opening without `create` changes nothing.
        Ok(_) => {
            return OpenOptions::new()
                .read(true)
                .append(true)
                .open(path)
                .map(drop)
                .map_err(OpenError::Io);
        }
        Err(e) if !missing(&e) => return Err(OpenError::Io(e)),
        Err(_) => {}
    }
    for ancestor in path.ancestors().skip(1) {
        let dir = if ancestor.as_os_str().is_empty() {
            Path::new(".")
        } else {
            ancestor
        };
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {
                return if writable(&m) {
                    Ok(())
                } else {
                    Err(OpenError::NotWritable(dir.to_owned()))
                };
            }
            Ok(_) => return Err(OpenError::NotADirectory(dir.to_owned())),
            Err(e) if missing(&e) => {}
            Err(e) => return Err(OpenError::Io(e)),
        }
    }
    Ok(())
}

/// "Not there": the path or a folder on the way to it does not exist (or
/// is a file, which the walk up in [`can_open`] then names).
fn missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Whether we may create entries in the directory with this metadata, by
/// its mode bits (owner, group or other, whichever applies to us).
fn writable(meta: &std::fs::Metadata) -> bool {
    use rustix::process::{getegid, geteuid, getgroups};
    use std::os::unix::fs::MetadataExt;
    let us = Who {
        uid: geteuid().as_raw(),
        gid: getegid().as_raw(),
        // Groups unknown: counted as both in and out, below.
        groups: getgroups()
            .ok()
            .map(|groups| groups.iter().map(|g| g.as_raw()).collect()),
    };
    may_create_in(meta.mode(), meta.uid(), meta.gid(), &us)
}

/// The process, as a directory's permission bits see it.
struct Who {
    uid: u32,
    gid: u32,
    /// Supplementary groups; `None` when they cannot be read.
    groups: Option<Vec<u32>>,
}

/// Whether `us` may create entries in a directory of this `mode`, owner
/// and group: root always; otherwise the owner's, the group's or the
/// others' bits, whichever class applies, must grant write and search.
fn may_create_in(mode: u32, owner: u32, group: u32, us: &Who) -> bool {
    let allowed = |shift: u32| (mode >> shift) & 0o3 == 0o3;
    if us.uid == 0 {
        return true;
    }
    if owner == us.uid {
        return allowed(6);
    }
    match &us.groups {
        Some(groups) if group == us.gid || groups.contains(&group) => allowed(3),
        Some(_) => allowed(0),
        // Do not refuse what may well work.
        None => allowed(3) || allowed(0),
    }
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

/// The records of an audit file as a table, oldest first: those at or
/// after `since` (an RFC 3339 time or a date) and of `backend`, if given.
pub fn show(text: &str, since: Option<u64>, backend: Option<&str>) -> String {
    let mut out = format!(
        "{:<24}  {:<12}  {:<16}  {:<20}  {:<24}  {:<14}  {:<12}  {:>10}\n",
        "time", "kind", "session", "method", "name", "backend", "outcome", "ms"
    );
    let cell = |r: &Map<String, Value>, k: &str| match r.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    };
    for line in text.lines() {
        let Ok(Value::Object(r)) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if let Some(since) = since
            && r.get("time")
                .and_then(Value::as_str)
                .and_then(parse_time)
                .is_none_or(|t| t < since)
        {
            continue;
        }
        if let Some(b) = backend
            && r.get("backend").and_then(Value::as_str) != Some(b)
        {
            continue;
        }
        let name = match r.get("kind").and_then(Value::as_str) {
            Some("catalog") => format!("{} entries", cell(&r, "entries")),
            Some("auth_failure") => cell(&r, "path"),
            _ => cell(&r, "name"),
        };
        out.push_str(&format!(
            "{:<24}  {:<12}  {:<16}  {:<20}  {:<24}  {:<14}  {:<12}  {:>10}\n",
            cell(&r, "time"),
            cell(&r, "kind"),
            cell(&r, "session"),
            cell(&r, "method"),
            name,
            cell(&r, "backend"),
            cell(&r, "outcome"),
            cell(&r, "duration_ms"),
        ));
    }
    out
}

/// Now as RFC 3339 in UTC with milliseconds, e.g. `2026-12-01T23:25:16.123Z`.
pub fn now_rfc3339() -> String {
    rfc3339_of(SystemTime::now())
}

/// `time` as RFC 3339 in UTC with milliseconds.
pub fn rfc3339_of(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    rfc3339(since.as_secs(), since.subsec_millis())
}

/// `secs` since the Unix epoch as RFC 3339 UTC (days to civil date:
/// H. Hinnant's algorithm, valid for the proleptic Gregorian calendar).
fn rfc3339(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses the `time` of a record (for `audit show --since`): the seconds
/// since the epoch, from an RFC 3339 UTC time or a date `YYYY-MM-DD`.
pub fn parse_time(text: &str) -> Option<u64> {
    let date = text.get(..10)?;
    let mut parts = date.split('-');
    let (y, m, d): (i64, i64, i64) = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    let (h, min, s) = match text.get(11..19) {
        Some(t) => {
            let mut p = t.split(':');
            (
                p.next()?.parse::<u64>().ok()?,
                p.next()?.parse::<u64>().ok()?,
                p.next()?.parse::<u64>().ok()?,
            )
        }
        None => (0, 0, 0),
    };
    // Days from civil (inverse of `rfc3339`).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days)
        .ok()
        .map(|d| d * 86_400 + h * 3600 + min * 60 + s)
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
    fn creating_in_a_directory_needs_write_and_search_for_our_class() {
        let user = Who {
            uid: 1000,
            gid: 100,
            groups: Some(vec![100, 27]),
        };
        assert!(may_create_in(0o700, 1000, 0, &user));
        assert!(!may_create_in(0o500, 1000, 0, &user), "no write bit");
        assert!(!may_create_in(0o600, 1000, 0, &user), "no search bit");
        assert!(
            !may_create_in(0o077, 1000, 100, &user),
            "the owner's bits decide for the owner"
        );
        assert!(may_create_in(0o770, 0, 27, &user), "a supplementary group");
        assert!(
            !may_create_in(0o707, 0, 27, &user),
            "the group's bits decide"
        );
        assert!(may_create_in(0o707, 0, 5, &user), "others");
        assert!(!may_create_in(0o755, 0, 0, &user));
        let root = Who {
            uid: 0,
            gid: 0,
            groups: Some(vec![]),
        };
        assert!(may_create_in(0o555, 1000, 100, &root));
        let unknown = Who {
            groups: None,
            ..user
        };
        assert!(may_create_in(0o770, 0, 5, &unknown));
        assert!(!may_create_in(0o755, 0, 5, &unknown));
    }

    #[test]
    fn can_open_creates_nothing_and_says_what_open_would_refuse() {
        let dir = temp("dir");
        std::fs::create_dir(&dir).unwrap();
        let nested = dir.join("logs/deep/audit.jsonl");
        can_open(&nested).unwrap();
        assert!(!dir.join("logs").exists(), "can_open created a folder");
        drop(AuditLog::open(&nested, false).unwrap());
        assert!(nested.is_file(), "open creates the folders and the file");
        can_open(&nested).unwrap();

        std::fs::write(dir.join("plain"), "").unwrap();
        let under_a_file = dir.join("plain/sub/audit.jsonl");
        let e = can_open(&under_a_file).unwrap_err();
        assert!(
            matches!(&e, OpenError::NotADirectory(p) if *p == dir.join("plain")),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!("\"{}\" is not a directory", dir.join("plain").display())
        );
        assert!(AuditLog::open(&under_a_file, false).is_err());
        let e = can_open(&dir.join("logs")).unwrap_err();
        assert_eq!(e.to_string(), "it is a directory");
        can_open(Path::new("relative-in-the-working-directory.jsonl")).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_796_167_516, 123), "2026-12-01T23:25:16.123Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000Z");
        assert_eq!(parse_time("2026-12-01T23:25:16.123Z"), Some(1_796_167_516));
        assert_eq!(parse_time("2000-02-29"), Some(951_782_400));
        assert_eq!(parse_time("yesterday"), None);
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
