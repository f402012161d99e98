//! `audit`: whether each request is recorded to a JSONL file, which file,
//! whether a request whose record cannot be written fails, the key that
//! signs checkpoints of the chain and how often, and rotation. The file is
//! checked here without creating anything, so that `check` refuses what the
//! server would refuse at start; writing records is `crate::audit`'s job.

use std::path::PathBuf;
use std::time::Duration;

use super::{Cx, Fields};
use crate::config::Audit;

/// `audit`, off by default; an enabled log whose file could not be opened is a problem at `audit.file`.
pub(super) fn audit(cx: &mut Cx<'_>, top: &mut Fields<'_>) -> Audit {
    let mut a = Audit {
        enabled: false,
        file: PathBuf::from("argus-audit.jsonl"),
        required: false,
        signing_key: None,
        checkpoint_every: 100,
        checkpoint_seconds: Duration::from_secs(60),
        origin: "argus-mcp".to_owned(),
        max_bytes: None,
        backup_count: 5,
    };
    let Some(mut f) = top.get("audit").and_then(|n| cx.fields(n, "audit")) else {
        return a;
    };
    let enabled = f.get("enabled");
    if let Some(n) = enabled
        && let Some(v) = cx.boolean(n, "audit.enabled")
    {
        a.enabled = v;
    }
    let file = f.get("file");
    let mut file_ok = true;
    if let Some(n) = file {
        match cx.nonempty(n, "audit.file") {
            Some(v) => a.file = PathBuf::from(v),
            None => file_ok = false,
        }
    }
    if let Some(n) = f.get("required")
        && let Some(v) = cx.boolean(n, "audit.required")
    {
        a.required = v;
    }
    signing(cx, &mut f, &mut a);
    if let Some(n) = f.get("max_size_mb")
        && let Some(v) = cx.int(n, "audit.max_size_mb", 1, 1_048_576)
    {
        a.max_bytes = Some(v as u64 * 1024 * 1024);
    }
    if let Some(n) = f.get("backup_count")
        && let Some(v) = cx.int(n, "audit.backup_count", 1, 1000)
    {
        a.backup_count = v as u32;
    }
    f.finish(cx, &[]);
    // What the server would refuse at start, found without creating
    // anything: a folder on the way that is a file, a directory we may not
    // write to, an existing file that does not open for appending.
    if a.enabled
        && file_ok
        && let Some(pos) = file.or(enabled).map(|n| n.pos)
        && let Err(e) = crate::audit::can_open(&a.file)
    {
        cx.err(
            "audit.file",
            pos,
            format!("cannot open the audit log \"{}\": {e}", a.file.display()),
        );
    }
    a
}

/// `signing_key` (read and checked now: a key the server could not use is
/// a config error), `checkpoint_every`, `checkpoint_seconds`, `origin`.
fn signing(cx: &mut Cx<'_>, f: &mut Fields<'_>, a: &mut Audit) {
    if let Some(n) = f.get("signing_key")
        && let Some(path) = cx.nonempty(n, "audit.signing_key")
    {
        let path = PathBuf::from(path);
        let usable = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|pem| {
                crate::audit::Signer::from_pem(&pem, "check")
                    .map(drop)
                    .map_err(|e| e.to_string())
            });
        match usable {
            Ok(()) => a.signing_key = Some(path),
            Err(why) => cx.err(
                "audit.signing_key",
                n.pos,
                format!(
                    "cannot use \"{}\" as the signing key: {why}",
                    path.display()
                ),
            ),
        }
    }
    if let Some(n) = f.get("checkpoint_every")
        && let Some(v) = cx.int(n, "audit.checkpoint_every", 1, 1_000_000)
    {
        a.checkpoint_every = v as u64;
    }
    if let Some(n) = f.get("checkpoint_seconds")
        && let Some(v) = cx.seconds(n, "audit.checkpoint_seconds", 1.0, 86_400.0)
    {
        a.checkpoint_seconds = v;
    }
    if let Some(n) = f.get("origin")
        && let Some(v) = cx.nonempty(n, "audit.origin")
    {
        if v.contains('\n') {
            cx.err("audit.origin", n.pos, "must be one line");
        } else {
            a.origin = v;
        }
    }
}
