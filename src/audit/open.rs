//! Whether the audit log can be opened, found before anything is created,
//! so that `argus-mcp check` refuses what the server would.

use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};

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
    /// The signing key cannot be read or used.
    SigningKey {
        /// The key file.
        path: PathBuf,
        /// Why.
        why: String,
    },
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
            OpenError::SigningKey { path, why } => {
                write!(
                    f,
                    "cannot use the signing key \"{}\": {why}",
                    path.display()
                )
            }
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

#[cfg(test)]
mod tests {
    use super::super::AuditLog;
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let id = crate::random::hex_id(6).unwrap();
        std::env::temp_dir().join(format!("argus-audit-{tag}-{id}.jsonl"))
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
}
