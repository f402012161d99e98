//! The stdio transport: a child process speaking newline-delimited JSON.
//!
//! The child is spawned without a shell, in its own process group, with only
//! the allowlisted environment plus the backend's `env` (no secret of the
//! gateway's own environment leaks into a child). A message goes to the
//! child's stdin on the sender's thread when the pipe takes it at once and
//! nothing is queued ahead of it ([`StdinDirect`]; the pipe is
//! non-blocking). Four threads serve it: a writer (the queue → stdin, one
//! `write` per message, for what must wait: a backlog, a child that stops
//! reading), a
//! reader (stdout lines → `Connection::dispatch`; a line that cannot be
//! read — not UTF-8, not JSON, nested too deep, or over
//! `MAX_BACKEND_MESSAGE_BYTES`, of which only the start is kept — fails the
//! call it answers when `salvage` finds its id, and is otherwise counted,
//! logged and skipped), a stderr drain (lines → debug log, the
//! last few also kept as the [`StderrTail`] that failure messages quote),
//! and a reaper that `wait`s for the child so it never lingers as a zombie and
//! closes the connection when it exits. [`Process::stop`] shuts down in
//! stages: close stdin, wait, SIGTERM the group, wait, SIGKILL the group.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, BufRead, BufReader, IoSlice, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use log::{debug, info, warn};
use rustix::process::{Pid, Signal, kill_process_group};

use super::connection::{Backlog, Connection, Direct, Frame};
use super::events::EventSender;
use super::salvage;
use crate::child_guard;
use crate::config::Launch;
use crate::limits::{
    BACKEND_STACK_BYTES, MAX_BACKEND_MESSAGE_BYTES, MAX_STDERR_LINE_BYTES, SERVICE_STACK_BYTES,
    STDERR_TAIL_LINE_CHARS, STDERR_TAIL_LINES, STDERR_TAIL_WAIT, STDIO_EXIT_GRACE,
};
use crate::sync::spawn_named;

/// Variables a child inherits from the gateway's environment; no others.
const ENV_ALLOWLIST: [&str; 8] = [
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "TMPDIR",
];

/// The environment a launched child gets: the allowlist (and `LC_*`) from
/// `parent`, then the backend's own `env`.
pub fn child_env(
    parent: impl Iterator<Item = (String, String)>,
    launch: &Launch,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = parent
        .filter(|(k, _)| ENV_ALLOWLIST.contains(&k.as_str()) || k.starts_with("LC_"))
        .collect();
    for (k, v) in &launch.env {
        env.retain(|(existing, _)| existing != k);
        env.push((k.clone(), v.0.clone()));
    }
    env
}

/// Where `program` is: a path as it is, a bare name looked up in `path`
/// (the child's `PATH`), as `execvp` would; it must be an executable file.
fn resolve(program: &str, path: Option<&str>) -> io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return if runnable(&p) {
            Ok(p)
        } else if p.exists() {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "not an executable file",
            ))
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                "No such file or directory",
            ))
        };
    }
    path.unwrap_or("/usr/local/bin:/usr/bin:/bin")
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(program))
        .find(|p| runnable(p))
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not found in PATH"))
}

/// The last lines a child wrote to stderr, newest last: at most
/// [`STDERR_TAIL_LINES`], each cut at [`STDERR_TAIL_LINE_CHARS`]. The
/// stderr drain fills it; a failure message quotes it.
#[derive(Debug, Default)]
pub struct StderrTail {
    state: Mutex<TailState>,
    /// Signalled when the drain has read the end of the pipe.
    ended: Condvar,
}

#[derive(Debug, Default)]
struct TailState {
    lines: VecDeque<String>,
    /// The drain has read the end of the pipe (or failed to read on).
    ended: bool,
}

impl StderrTail {
    fn lock(&self) -> std::sync::MutexGuard<'_, TailState> {
        // A line is pushed whole or not at all; a panic cannot tear it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `line` (trimmed; blank lines are not kept), forgetting the
    /// oldest beyond [`STDERR_TAIL_LINES`].
    fn push(&self, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        let line = match line.char_indices().nth(STDERR_TAIL_LINE_CHARS) {
            Some((cut, _)) => format!("{}…", &line[..cut]),
            None => line.to_owned(),
        };
        let mut state = self.lock();
        if state.lines.len() == STDERR_TAIL_LINES {
            state.lines.pop_front();
        }
        state.lines.push_back(line);
    }

    /// The drain is done: nothing more will come.
    fn end(&self) {
        self.lock().ended = true;
        self.ended.notify_all();
    }

    /// The kept lines joined with ` | `, once the drain has read the end of
    /// the pipe or `wait` has passed (a child that just died may still
    /// have its last words in the pipe); `None` if it wrote nothing.
    pub fn text(&self, wait: Duration) -> Option<String> {
        let state = self
            .ended
            .wait_timeout_while(self.lock(), wait, |s| !s.ended)
            .unwrap_or_else(|e| e.into_inner())
            .0;
        (!state.lines.is_empty()).then(|| Vec::from(state.lines.clone()).join(" | "))
    }
}

/// `why`, followed by what the child last wrote to stderr if it wrote
/// anything: `initialize: disconnected (stdout closed); stderr:
/// ModuleNotFoundError: No module named 'foo'`.
pub fn with_stderr(why: impl fmt::Display, tail: Option<&str>) -> String {
    match tail {
        Some(tail) => format!("{why}; stderr: {tail}"),
        None => why.to_string(),
    }
}

/// A running child process.
pub struct Process {
    pid: u32,
    name: String,
    exit: Arc<(Mutex<Option<ExitStatus>>, Condvar)>,
    stderr: Arc<StderrTail>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.pid)
            .finish()
    }
}

fn start_child(name: &str, launch: &Launch, stdin: Stdio) -> io::Result<Child> {
    let env = child_env(std::env::vars(), launch);
    let cannot = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("cannot start \"{}\": {e}", launch.command),
        )
    };
    // Resolved here, with the child's PATH: through the guard a missing
    // program would otherwise show only as an early exit.
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str());
    let program = resolve(&launch.command, path).map_err(cannot)?;
    let child = child_guard::command(&program, &launch.args)
        .env_clear()
        .envs(env)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: stopping the backend signals everything it
        // started (npx → sh → node), so nothing is orphaned.
        .process_group(0)
        .spawn()
        .map_err(cannot)?;
    info!(
        "[{name}] started \"{}\" (pid {})",
        launch.command,
        child.id()
    );
    Ok(child)
}

/// Starts a local server (an SSE backend's `command`): no stdin; its stdout
/// and stderr go to the debug log.
pub fn launch_server(name: &str, launch: &Launch) -> io::Result<Process> {
    let mut child = start_child(name, launch, Stdio::null())?;
    let pid = child.id();
    let exit = Arc::new((Mutex::new(None), Condvar::new()));
    let mut threads = Vec::new();
    if let Some(out) = child.stdout.take() {
        let n = name.to_owned();
        threads.push(service(
            format!("argus-out-{name}"),
            SERVICE_STACK_BYTES,
            move || log_lines(&n, out, None),
        ));
    }
    let tail = Arc::new(StderrTail::default());
    if let Some(err) = child.stderr.take() {
        let n = name.to_owned();
        let t = tail.clone();
        threads.push(service(
            format!("argus-err-{name}"),
            SERVICE_STACK_BYTES,
            move || drain_stderr(&n, err, &t),
        ));
    }
    let e = exit.clone();
    let n = name.to_owned();
    threads.push(service(
        format!("argus-wait-{name}"),
        SERVICE_STACK_BYTES,
        move || reaper(&n, child, &e, None),
    ));
    let process = Process {
        pid,
        name: name.to_owned(),
        exit,
        stderr: tail,
    };
    if let Some(Err(e)) = threads.into_iter().find(Result::is_err) {
        process.terminate();
        return Err(e);
    }
    Ok(process)
}

/// Starts `launch` as backend `name`; its messages feed a new connection.
pub fn spawn(
    name: &str,
    launch: &Launch,
    events: EventSender,
) -> io::Result<(Arc<Connection>, Process)> {
    let mut child = start_child(name, launch, Stdio::piped())?;
    let pid = child.id();
    let (conn, outbound) = match Connection::new(name, events) {
        Ok(c) => c,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let exit = Arc::new((Mutex::new(None), Condvar::new()));

    let mut threads = Vec::new();
    if let Some(stdin) = stdin {
        let stdin = Arc::new(stdin);
        // Blocking writes stay possible: the writer waits in `poll`.
        match rustix::io::ioctl_fionbio(&*stdin, true) {
            Ok(()) => conn.set_direct(Box::new(StdinDirect(stdin.clone()))),
            Err(e) => {
                warn!("[{name}] stdin stays blocking ({e}): every message goes through its writer")
            }
        }
        let n = name.to_owned();
        threads.push(service(
            format!("argus-in-{name}"),
            BACKEND_STACK_BYTES,
            move || writer_loop(&n, &stdin, &outbound),
        ));
    }
    if let Some(stdout) = stdout {
        let c = conn.clone();
        threads.push(service(
            format!("argus-out-{name}"),
            BACKEND_STACK_BYTES,
            move || reader_loop(&c, stdout),
        ));
    }
    let tail = Arc::new(StderrTail::default());
    if let Some(stderr) = stderr {
        let n = name.to_owned();
        let t = tail.clone();
        threads.push(service(
            format!("argus-err-{name}"),
            SERVICE_STACK_BYTES,
            move || drain_stderr(&n, stderr, &t),
        ));
    }
    {
        let c = conn.clone();
        let e = exit.clone();
        let n = name.to_owned();
        threads.push(service(
            format!("argus-wait-{name}"),
            SERVICE_STACK_BYTES,
            move || reaper(&n, child, &e, Some(&c)),
        ));
    }
    let process = Process {
        pid,
        name: name.to_owned(),
        exit,
        stderr: tail,
    };
    if let Some(Err(e)) = threads.into_iter().find(Result::is_err) {
        conn.close("start-up failed");
        process.stop();
        return Err(e);
    }
    Ok((conn, process))
}

fn service(name: String, stack: usize, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
    spawn_named(name, stack, f).map(drop)
}

impl Process {
    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The last lines it wrote to stderr, joined with ` | `; waits up to
    /// [`STDERR_TAIL_WAIT`] for the drain to read them all. `None` if it
    /// wrote nothing.
    pub fn stderr_tail(&self) -> Option<String> {
        self.stderr.text(STDERR_TAIL_WAIT)
    }

    /// Stops the child in stages and reaps it, once its
    /// stdin is closed (the caller closes the connection first): wait
    /// `STDIO_EXIT_GRACE`, SIGTERM the process group, wait again, SIGKILL
    /// the group. Safe to call more than once.
    pub fn stop(&self) {
        if self.wait_exit(STDIO_EXIT_GRACE).is_none() {
            debug!("[{}] still running after stdin closed; SIGTERM", self.name);
            self.terminate();
        }
        // Whatever the leader did, nothing it started may outlive it.
        self.signal_group(Signal::KILL);
    }

    /// SIGTERM the process group, wait `STDIO_EXIT_GRACE`, then SIGKILL.
    pub fn terminate(&self) {
        self.signal_group(Signal::TERM);
        if self.wait_exit(STDIO_EXIT_GRACE).is_none() {
            warn!("[{}] did not exit after SIGTERM; SIGKILL", self.name);
            self.signal_group(Signal::KILL);
            let _ = self.wait_exit(STDIO_EXIT_GRACE);
        }
        self.signal_group(Signal::KILL);
    }

    /// Whether the process has exited.
    pub fn exited(&self) -> bool {
        self.wait_exit(Duration::ZERO).is_some()
    }

    fn signal_group(&self, signal: Signal) {
        if let Some(pid) = Pid::from_raw(self.pid as i32) {
            // ESRCH (the group is gone) is the expected, quiet case.
            let _ = kill_process_group(pid, signal);
        }
    }

    /// Waits up to `timeout` for the child to exit.
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let (lock, cv) = &*self.exit;
        let status = lock.lock().unwrap_or_else(|e| e.into_inner());
        *cv.wait_timeout_while(status, timeout, |s| s.is_none())
            .unwrap_or_else(|e| e.into_inner())
            .0
    }
}

/// Writes a message to the child's stdin when the pipe takes it at once.
struct StdinDirect(Arc<ChildStdin>);

impl Direct for StdinDirect {
    /// Runs on the sender's thread under the connection's feed lock; one
    /// `writev` that never waits.
    fn try_deliver(&self, mut frame: Frame) -> Option<Frame> {
        let line = [IoSlice::new(&frame.bytes), IoSlice::new(b"\n")];
        match (&*self.0).write_vectored(&line) {
            Ok(n) if n > frame.bytes.len() => None,
            Ok(n) => {
                // The rest of the line goes first, from the writer.
                frame.bytes.drain(..n);
                Some(frame)
            }
            // Full, or broken: the writer waits, or fails and ends.
            Err(_) => Some(frame),
        }
    }
}

fn writer_loop(name: &str, stdin: &ChildStdin, outbound: &Backlog) {
    // Ends when the connection drops its sender (close) or stdin breaks.
    while let Ok(frame) = outbound.recv() {
        if let Err(e) = write_line(stdin, &frame.bytes) {
            debug!("[{name}] stdin closed: {e}");
            return;
        }
        outbound.written();
    }
}

/// Writes `bytes` and a newline to the non-blocking `stdin`, waiting for
/// the pipe to take more whenever it is full.
fn write_line(mut stdin: &ChildStdin, bytes: &[u8]) -> io::Result<()> {
    let mut line = [IoSlice::new(bytes), IoSlice::new(b"\n")];
    let mut rest = &mut line[..];
    while !rest.is_empty() {
        match stdin.write_vectored(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                use rustix::event::{PollFd, PollFlags, poll};
                let mut fds = [PollFd::new(&stdin, PollFlags::OUT)];
                match poll(&mut fds, None) {
                    Ok(_) | Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One line of a stdout stream, read with a size limit.
enum Line {
    Text(Vec<u8>),
    /// A line over the limit, of this many bytes; its first
    /// [`salvage::HEAD_BYTES`] are left in the buffer.
    TooLong(usize),
    Eof,
}

/// Reads up to the next `\n`; a line longer than `max` is skipped (not
/// buffered: only its first [`salvage::HEAD_BYTES`] stay in `buf`, where
/// the reader looks for the id of the request it answers) and reported
/// with its length.
fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<Line> {
    buf.clear();
    let mut skipped = 0usize;
    loop {
        let available = match reader.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(Line::Eof);
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        if skipped > 0 {
            skipped += chunk.len();
        } else if buf.len() + chunk.len() > max {
            skipped = buf.len() + chunk.len();
            let room = salvage::HEAD_BYTES.saturating_sub(buf.len());
            buf.extend_from_slice(&chunk[..room.min(chunk.len())]);
            buf.truncate(salvage::HEAD_BYTES);
            buf.shrink_to(salvage::HEAD_BYTES);
        } else {
            buf.extend_from_slice(chunk);
        }
        let used = done.unwrap_or(available.len());
        reader.consume(used);
        if done.is_some() {
            return Ok(if skipped > 0 {
                Line::TooLong(skipped)
            } else {
                Line::Text(std::mem::take(buf))
            });
        }
    }
}

fn reader_loop(conn: &Connection, stdout: ChildStdout) {
    let name = conn.name().to_owned();
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut buf = Vec::new();
    let cause = loop {
        match read_line(&mut reader, &mut buf, MAX_BACKEND_MESSAGE_BYTES) {
            Ok(Line::Text(line)) => {
                let text = line.trim_ascii();
                if text.is_empty() {
                    continue;
                }
                match salvage::parse(text) {
                    Ok(value) => conn.dispatch(value),
                    Err(bad) => {
                        if let Some((bad, n)) = conn.unreadable(bad, None) {
                            warn!(
                                "[{name}] non-JSON line on stdout skipped ({}; {n} so far): {}",
                                bad.fault, bad.preview
                            );
                        }
                    }
                }
            }
            Ok(Line::TooLong(n)) => {
                let bad = salvage::too_long(&buf, Some(n), MAX_BACKEND_MESSAGE_BYTES);
                if conn.unreadable(bad, None).is_some() {
                    warn!(
                        "[{name}] stdout line of {n} bytes exceeds the {MAX_BACKEND_MESSAGE_BYTES}-byte message limit; discarded"
                    );
                }
            }
            Ok(Line::Eof) => break "stdout closed".to_owned(),
            Err(e) => break format!("stdout read failed: {e}"),
        }
    };
    conn.close(&cause);
}

/// Copies a pipe's lines to the debug log, prefixed with the backend name;
/// each also goes to `tail` when given.
fn log_lines(name: &str, pipe: impl std::io::Read, tail: Option<&StderrTail>) {
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        match read_line(&mut reader, &mut buf, MAX_STDERR_LINE_BYTES) {
            Ok(Line::Text(line)) => {
                let line = String::from_utf8_lossy(&line);
                debug!("[{name}] {}", line.trim_end());
                if let Some(tail) = tail {
                    tail.push(&line);
                }
            }
            Ok(Line::TooLong(n)) => {
                let note = format!("(stderr line of {n} bytes not shown)");
                debug!("[{name}] {note}");
                if let Some(tail) = tail {
                    tail.push(&note);
                }
            }
            Ok(Line::Eof) | Err(_) => return,
        }
    }
}

/// The stderr drain: [`log_lines`] into `tail`, which then hears that
/// nothing more will come (however the loop ended).
fn drain_stderr(name: &str, pipe: impl std::io::Read, tail: &StderrTail) {
    log_lines(name, pipe, Some(tail));
    tail.end();
}

fn reaper(
    name: &str,
    mut child: Child,
    exit: &(Mutex<Option<ExitStatus>>, Condvar),
    conn: Option<&Connection>,
) {
    let status = loop {
        match child.wait() {
            Ok(status) => break Some(status),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                warn!("[{name}] cannot wait for the child: {e}");
                break None;
            }
        }
    };
    let text = status.map_or_else(|| "unknown status".to_owned(), |s| s.to_string());
    info!("[{name}] process exited ({text})");
    if let Some(conn) = conn {
        conn.close(&format!("process exited ({text})"));
    }
    let (lock, cv) = exit;
    *lock.lock().unwrap_or_else(|e| e.into_inner()) =
        Some(status.unwrap_or_else(|| std::os::unix::process::ExitStatusExt::from_raw(0)));
    cv.notify_all();
}

/// Drains a reader completely; used by tests of the line reader.
#[cfg(test)]
fn lines(input: &[u8], max: usize) -> Vec<String> {
    let mut reader = BufReader::with_capacity(4, input);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    loop {
        match read_line(&mut reader, &mut buf, max).unwrap() {
            Line::Text(t) => out.push(String::from_utf8(t).unwrap()),
            Line::TooLong(n) => out.push(format!("<{n}>")),
            Line::Eof => return out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use std::thread;

    #[test]
    fn line_reader_limits() {
        assert_eq!(lines(b"a\nbb\n\nccc", 10), ["a", "bb", ""]);
        assert_eq!(lines(b"0123456789AB\nok\n", 10), ["<12>", "ok"]);
        assert_eq!(lines(b"0123456789\n", 10), ["0123456789"]);
    }

    #[test]
    fn a_line_over_the_limit_leaves_its_head_only() {
        let mut line = b"{\"id\":1,\"result\":\"".to_vec();
        line.extend(std::iter::repeat_n(b'x', 3 * salvage::HEAD_BYTES));
        line.extend(b"\"}\nnext\n");
        let mut reader = BufReader::with_capacity(1000, &line[..]);
        let mut buf = Vec::new();
        let limit = 2 * salvage::HEAD_BYTES;
        let Line::TooLong(n) = read_line(&mut reader, &mut buf, limit).unwrap() else {
            panic!("not too long");
        };
        assert_eq!(n, line.len() - "\nnext\n".len());
        assert_eq!(buf, line[..salvage::HEAD_BYTES]);
        assert!(buf.capacity() < limit, "the buffer is shrunk to the head");
        assert!(
            matches!(read_line(&mut reader, &mut buf, limit).unwrap(), Line::Text(t) if t == b"next")
        );
    }

    #[test]
    fn stderr_tail_keeps_the_last_lines_cut_short() {
        let tail = StderrTail::default();
        let long = "é".repeat(STDERR_TAIL_LINE_CHARS + 1);
        let input = format!("one\n\n  two  \nthree\nfour\nfive\n{long}\nseven\n");
        log_lines("t", input.as_bytes(), Some(&tail));
        // Not at the end yet: the wait passes, and what there is comes back.
        let cut = format!("{}…", "é".repeat(STDERR_TAIL_LINE_CHARS));
        let want = format!("three | four | five | {cut} | seven");
        assert_eq!(tail.text(Duration::ZERO).as_deref(), Some(want.as_str()));
        tail.end();
        assert_eq!(tail.text(Duration::from_secs(60)), Some(want));
        assert_eq!(StderrTail::default().text(Duration::ZERO), None);
        assert_eq!(with_stderr("closed", None), "closed");
        assert_eq!(
            with_stderr("closed", Some("a | b")),
            "closed; stderr: a | b"
        );
    }

    #[test]
    fn stderr_tail_wait_ends_when_the_drain_does() {
        let tail = Arc::new(StderrTail::default());
        let (reader, mut writer) = std::io::pipe().unwrap();
        let drain = {
            let tail = tail.clone();
            thread::spawn(move || drain_stderr("t", reader, &tail))
        };
        writer
            .write_all(b"ModuleNotFoundError: No module named 'foo'\n")
            .unwrap();
        drop(writer);
        // Returns when the drain reads the end, long before the bound.
        assert_eq!(
            tail.text(Duration::from_secs(60)).as_deref(),
            Some("ModuleNotFoundError: No module named 'foo'")
        );
        drain.join().unwrap();
    }

    #[test]
    fn environment_allowlist() {
        let parent = vec![
            ("PATH".to_owned(), "/bin".to_owned()),
            ("LC_ALL".to_owned(), "C".to_owned()),
            ("AWS_SECRET".to_owned(), "x".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
        ];
        let launch = Launch {
            command: "x".into(),
            args: vec![],
            env: vec![
                ("HOME".into(), Secret("/tmp".into())),
                ("K".into(), Secret("v".into())),
            ],
        };
        let env = child_env(parent.into_iter(), &launch);
        assert_eq!(
            env,
            [
                ("PATH", "/bin"),
                ("LC_ALL", "C"),
                ("HOME", "/tmp"),
                ("K", "v")
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }
}
