//! Noticing at once that a client hung up on a long-lived stream.
//!
//! A stream's writer thread sleeps on its queue and learns that the client
//! left only when it next writes, or at its periodic peek (every half
//! `cleanup_deadline`). Under churn that kept each closed SSE session's
//! thread and socket for seconds: with 200 clients reopening sessions,
//! over a thousand. One watcher thread instead waits in `epoll` for the
//! hang-ups (`EPOLLRDHUP`, `EPOLLHUP`, `EPOLLERR`) of every watched socket
//! and runs the stream's callback, which wakes its writer. Registrations are
//! one-shot; data from the client does not wake the watcher. A client that
//! shuts down only its sending side counts as gone, as it always has for
//! the writer's own peek (which reads end-of-file).

use std::collections::HashMap;
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use log::{debug, warn};
use rustix::event::epoll;

use crate::limits::SERVICE_STACK_BYTES;
use crate::sync::{lock, spawn_named};

/// Run on the watcher thread (`argus-hangup`), holding no lock, once the
/// client has hung up.
pub type OnHangup = Box<dyn FnOnce() + Send>;

/// Events taken from `epoll` at once.
const EVENTS_PER_WAIT: usize = 64;

struct Watcher {
    epoll: OwnedFd,
    next: AtomicU64,
    callbacks: Mutex<HashMap<u64, OnHangup>>,
}

impl Watcher {
    fn callbacks(&self) -> MutexGuard<'_, HashMap<u64, OnHangup>> {
        lock(&self.callbacks)
    }

    fn run(&self) {
        let mut events = Vec::with_capacity(EVENTS_PER_WAIT);
        loop {
            events.clear();
            if let Err(e) = epoll::wait(
                &self.epoll,
                rustix::buffer::spare_capacity(&mut events),
                None,
            ) {
                if e == rustix::io::Errno::INTR {
                    continue;
                }
                warn!("hang-up watcher stopped: {e}");
                return;
            }
            for event in &events {
                let token = event.data.u64();
                // Gone already when its stream ended first.
                let callback = self.callbacks().remove(&token);
                if let Some(callback) = callback {
                    callback();
                }
            }
        }
    }
}

/// The process's watcher, started on first use; `None` if it cannot be.
fn watcher() -> Option<&'static Arc<Watcher>> {
    static WATCHER: OnceLock<Option<Arc<Watcher>>> = OnceLock::new();
    WATCHER
        .get_or_init(|| {
            let epoll = match epoll::create(epoll::CreateFlags::CLOEXEC) {
                Ok(fd) => fd,
                Err(e) => {
                    warn!("no hang-up watcher (epoll: {e}); closed streams are noticed at the next check");
                    return None;
                }
            };
            let watcher = Arc::new(Watcher {
                epoll,
                next: AtomicU64::new(1),
                callbacks: Mutex::new(HashMap::new()),
            });
            let running = watcher.clone();
            let started = spawn_named("argus-hangup", SERVICE_STACK_BYTES, move || running.run());
            match started {
                Ok(_) => Some(watcher),
                Err(e) => {
                    warn!("no hang-up watcher ({e}); closed streams are noticed at the next check");
                    None
                }
            }
        })
        .as_ref()
}

/// A watched socket; dropping it stops the watch (before the socket can
/// close, so a reused descriptor is never mistaken for it).
pub struct Watch<'a> {
    token: u64,
    fd: BorrowedFd<'a>,
    watcher: &'static Arc<Watcher>,
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        self.watcher.callbacks().remove(&self.token);
        let _ = epoll::delete(&self.watcher.epoll, self.fd);
    }
}

/// Runs `on_hangup` when the client of `stream` hangs up, unless the
/// returned watch is dropped first. `None`: the stream is not watched
/// (no watcher); the caller's own checks still apply.
pub fn watch<'a>(stream: &'a TcpStream, on_hangup: OnHangup) -> Option<Watch<'a>> {
    let watcher = watcher()?;
    let token = watcher.next.fetch_add(1, Ordering::Relaxed);
    let fd = stream.as_fd();
    watcher.callbacks().insert(token, on_hangup);
    let flags = epoll::EventFlags::RDHUP | epoll::EventFlags::ONESHOT;
    if let Err(e) = epoll::add(&watcher.epoll, fd, epoll::EventData::new_u64(token), flags) {
        debug!("cannot watch a stream for hang-ups: {e}");
        watcher.callbacks().remove(&token);
        return None;
    }
    Some(Watch { token, fd, watcher })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_hang_up_runs_the_callback_and_a_dropped_watch_never_does() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::channel();

        let client = TcpStream::connect(addr).unwrap();
        let (served, _) = listener.accept().unwrap();
        let told = tx.clone();
        let first = watch(&served, Box::new(move || told.send("first").unwrap())).unwrap();
        // Nothing happens while the client stays.
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        drop(client);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok("first"));
        drop(first);

        // A watch dropped before the hang-up: no callback.
        let client = TcpStream::connect(addr).unwrap();
        let (served, _) = listener.accept().unwrap();
        let told = tx.clone();
        drop(watch(&served, Box::new(move || told.send("second").unwrap())).unwrap());
        drop(client);
        // The next watched hang-up is still seen, and is the only one.
        let client = TcpStream::connect(addr).unwrap();
        let (third, _) = listener.accept().unwrap();
        let _watch = watch(&third, Box::new(move || tx.send("third").unwrap())).unwrap();
        drop(client);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok("third"));
        drop(served);
    }
}
