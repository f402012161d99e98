//! Children never outlive the gateway, however it ends: even after SIGKILL,
//! when no cleanup of ours runs.
//!
//! Local processes (stdio backends, servers that SSE backends launch) are
//! started through a small re-exec of our own binary,
//! `argus-mcp __child-guard <gateway pid> <program> [args...]`, which:
//!
//! 1. asks the kernel for SIGTERM when its parent dies (`PR_SET_PDEATHSIG`;
//!    it is tied to the spawning thread, which in the gateway is the
//!    backend's supervisor thread: it outlives the process it started);
//! 2. checks that the gateway is still its parent (it may have died before
//!    step 1), else exits;
//! 3. starts the program with the same stdin, stdout, stderr, environment
//!    and directory, in its own process group (the gateway made the guard a
//!    group leader), and waits for it, exiting with its status.
//!
//! The gateway's staged stop (close stdin, SIGTERM to the group, SIGKILL)
//! reaches the program as before; the guard ignores signals while its parent
//! lives. Once the parent is gone the guard kills the whole group: the
//! program and everything it started (npx → node). The cost is one small
//! process per backend. Without `unsafe` there is no other way to set the
//! death signal in the child between fork and exec: std offers no safe hook.
//!
//! The guard is on only when the binary turns it on ([`enable`]); the
//! library used elsewhere (tests) starts programs directly.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use rustix::process::{Signal, getpgrp, getppid, kill_process_group};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::limits::SERVICE_STACK_BYTES;
use crate::sync::spawn_named;

/// The first argument that makes `argus-mcp` a guard.
pub const GUARD_ARG: &str = "__child-guard";

/// Exit code of a guard whose program could not be started (as a shell does).
pub const CANNOT_START: i32 = 127;

static GUARD_EXE: OnceLock<PathBuf> = OnceLock::new();

/// Starts every later child through `exe` (our own binary) as a guard.
pub fn enable(exe: PathBuf) {
    let _ = GUARD_EXE.set(exe);
}

/// A command that runs `program` with `args`: through the guard when it is
/// enabled, else directly. The caller adds environment and stdio.
pub fn command(program: &Path, args: &[String]) -> Command {
    match GUARD_EXE.get() {
        Some(exe) => {
            let mut c = Command::new(exe);
            c.arg(GUARD_ARG)
                .arg(std::process::id().to_string())
                .arg(program)
                .args(args);
            c
        }
        None => {
            let mut c = Command::new(program);
            c.args(args);
            c
        }
    }
}

/// Runs the guard if this process was started as one (see the module
/// doc); returns its exit code. `None`: not a guard, go on as usual.
pub fn run_if_guard() -> Option<i32> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != GUARD_ARG {
        return None;
    }
    let parent = args.next().and_then(|p| p.to_str()?.parse::<i32>().ok());
    let Some(program) = args.next() else {
        eprintln!("argus-mcp {GUARD_ARG}: usage: {GUARD_ARG} <parent pid> <program> [args...]");
        return Some(2);
    };
    let rest: Vec<OsString> = args.collect();
    Some(guard(parent, &program, &rest))
}

fn parent_is(parent: Option<i32>) -> bool {
    getppid().map(|p| p.as_raw_nonzero().get()) == parent
}

fn guard(parent: Option<i32>, program: &OsString, args: &[OsString]) -> i32 {
    // Registered before the parent check, so a death right after it is
    // still heard.
    let signals = match Signals::new([SIGTERM, SIGHUP, SIGINT]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("argus-mcp {GUARD_ARG}: cannot watch signals: {e}");
            return 1;
        }
    };
    if let Err(e) = rustix::process::set_parent_process_death_signal(Some(Signal::TERM)) {
        eprintln!("argus-mcp {GUARD_ARG}: cannot set the parent-death signal: {e}");
        return 1;
    }
    if !parent_is(parent) {
        // The gateway died before we could watch it.
        return 1;
    }
    let mut child = match Command::new(program).args(args).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot start \"{}\": {e}", program.to_string_lossy());
            return CANNOT_START;
        }
    };
    let watcher = spawn_named("argus-guard", SERVICE_STACK_BYTES, move || {
        let mut signals = signals;
        for _ in signals.forever() {
            if !parent_is(parent) {
                // Orphaned: take the whole group down, ourselves too.
                let _ = kill_process_group(getpgrp(), Signal::KILL);
                std::process::exit(1);
            }
            // The gateway's own staged stop: the program got it too.
        }
    });
    if watcher.is_err() {
        let _ = child.kill();
    }
    match child.wait() {
        Ok(status) => status.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            128 + status.signal().unwrap_or(0)
        }),
        Err(_) => 1,
    }
}
