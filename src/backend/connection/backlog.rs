//! The way out of a connection: a frame goes straight to the transport
//! when nothing is ahead of it ([`Direct`], on the sender's thread), and
//! waits in the transport's writer queue ([`Backlog`]) only when it must.
//!
//! A hand-off to the writer thread costs a futex wake and a context switch
//! on each side; most frames find the writer idle and its queue empty, and
//! then the sender can deliver them itself without changing their order.
//! The writer thread stays for what must wait: a backlog, a backend that
//! stops reading, messages that must go in order behind a slow one.
//!
//! Order holds because a frame is delivered directly only when the count
//! of frames queued or being written (`ahead`) is zero. Senders decide
//! under the connection's feed lock, so they are serialized among themselves;
//! the writer lowers the count only after a frame is fully written, so a
//! direct delivery never overtakes one in the writer's hands.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Frame;
use crate::queue::{self, RecvError, TrySendError};

/// A transport's way to take a frame at once, without blocking.
pub trait Direct: Send + Sync {
    /// Delivers `frame` now if it can without waiting. What it could not
    /// deliver comes back to be queued, and is then the next thing the
    /// writer sends: the whole frame, or the part of it not yet written.
    ///
    /// Runs on the sender's thread (a client connection, a backend reader
    /// or timer), under the connection's feed lock (never its state lock).
    fn try_deliver(&self, frame: Frame) -> Option<Frame>;
}

/// The sending half, kept by the connection.
pub(super) struct Feed {
    tx: queue::Sender<Frame>,
    ahead: Arc<AtomicUsize>,
    direct: Option<Box<dyn Direct>>,
}

/// The frames waiting for a transport's writer thread.
#[derive(Debug)]
pub struct Backlog {
    rx: queue::Receiver<Frame>,
    ahead: Arc<AtomicUsize>,
}

/// A feed and its backlog, holding at most `capacity` frames.
pub(super) fn backlog(capacity: usize) -> (Feed, Backlog) {
    let (tx, rx) = queue::bounded(capacity);
    let ahead = Arc::new(AtomicUsize::new(0));
    (
        Feed {
            tx,
            ahead: ahead.clone(),
            direct: None,
        },
        Backlog { rx, ahead },
    )
}

impl Feed {
    /// From now on, frames with nothing ahead of them go to `direct`.
    pub(super) fn set_direct(&mut self, direct: Box<dyn Direct>) {
        self.direct = Some(direct);
    }

    /// Delivers `frame` directly if nothing is ahead of it and the
    /// transport takes it, else queues it (or what is left of it). The
    /// caller holds the connection's feed lock.
    pub(super) fn send(&self, frame: Frame) -> Result<(), TrySendError<Frame>> {
        let frame = match &self.direct {
            Some(direct) if self.ahead.load(Ordering::Acquire) == 0 => {
                match direct.try_deliver(frame) {
                    None => return Ok(()),
                    Some(rest) => rest,
                }
            }
            _ => frame,
        };
        self.ahead.fetch_add(1, Ordering::AcqRel);
        self.tx.try_send(frame).inspect_err(|_| {
            self.ahead.fetch_sub(1, Ordering::AcqRel);
        })
    }
}

impl Backlog {
    /// Waits for the next frame; an error once the connection has closed.
    /// Call [`Backlog::written`] once it is written.
    pub fn recv(&self) -> Result<Frame, RecvError> {
        self.rx.recv()
    }

    /// The frame taken last is written (or handed on, in order, to what
    /// sends it): frames after it may now go directly.
    pub fn written(&self) {
        self.ahead.fetch_sub(1, Ordering::AcqRel);
    }

    /// A frame waiting, for tests: taken and marked written at once.
    #[cfg(test)]
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Option<Frame> {
        let frame = self.rx.recv_timeout(timeout).ok()?;
        self.written();
        Some(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    fn frame(text: &str) -> Frame {
        Frame {
            bytes: text.as_bytes().to_vec(),
            method: None,
            id: None,
            headers: Vec::new(),
        }
    }

    /// Takes a frame when `open`, else gives back its second half.
    struct Half {
        open: Mutex<bool>,
        taken: Mutex<Vec<String>>,
    }

    impl Direct for Arc<Half> {
        fn try_deliver(&self, mut frame: Frame) -> Option<Frame> {
            let text = String::from_utf8(frame.bytes.clone()).unwrap();
            if *self.open.lock().unwrap() {
                self.taken.lock().unwrap().push(text);
                return None;
            }
            let half = frame.bytes.len() / 2;
            self.taken.lock().unwrap().push(text[..half].to_owned());
            frame.bytes.drain(..half);
            Some(frame)
        }
    }

    #[test]
    fn frames_go_directly_only_while_nothing_is_ahead_of_them() {
        let (mut feed, backlog) = backlog(4);
        let half = Arc::new(Half {
            open: Mutex::new(true),
            taken: Mutex::new(Vec::new()),
        });
        feed.set_direct(Box::new(half.clone()));
        feed.send(frame("one")).unwrap();
        // The transport takes only half: the rest is queued, and what
        // follows queues behind it, not around it.
        *half.open.lock().unwrap() = false;
        feed.send(frame("twotwo")).unwrap();
        *half.open.lock().unwrap() = true;
        feed.send(frame("three")).unwrap();
        assert_eq!(*half.taken.lock().unwrap(), ["one", "two"]);
        let wait = Duration::from_secs(5);
        assert_eq!(backlog.rx.recv_timeout(wait).unwrap().bytes, b"two");
        // Taken but not yet written: still ahead.
        feed.send(frame("four")).unwrap();
        backlog.written();
        assert_eq!(backlog.recv_timeout(wait).unwrap().bytes, b"three");
        assert_eq!(backlog.recv_timeout(wait).unwrap().bytes, b"four");
        feed.send(frame("five")).unwrap();
        assert_eq!(*half.taken.lock().unwrap(), ["one", "two", "five"]);
        assert!(backlog.rx.try_recv().is_err());
    }
}
