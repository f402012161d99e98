//! `audit`: whether each request is recorded to a JSONL file, which file,
//! and whether a request whose record cannot be written fails. The file is
//! checked here without creating anything, so that `check` refuses what the
//! server would refuse at start; writing records is `crate::audit`'s job.

use std::path::PathBuf;

use super::{Cx, Fields};
use crate::config::Audit;

/// `audit` keys of the original Argus that we accept and ignore.
const AUDIT_EXTRAS: &[&str] = &["max_size_mb", "backup_count"];

/// `audit`, off by default; an enabled log whose file could not be opened is a problem at `audit.file`.
pub(super) fn audit(cx: &mut Cx<'_>, top: &mut Fields<'_>) -> Audit {
    let mut a = Audit {
        enabled: false,
        file: PathBuf::from("argus-audit.jsonl"),
        required: false,
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
    f.finish(cx, AUDIT_EXTRAS);
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
