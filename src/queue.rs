//! A bounded channel that allocates only as it is used.
//!
//! `std::sync::mpsc::sync_channel(n)` reserves all `n` slots when it is made:
//! 1024 slots per client session (and per Streamable HTTP request) cost ~32 KB
//! each before a single message is queued. This wraps the unbounded `channel()`
//! (which grows in small blocks) with a shared count, so the bound holds and
//! memory follows the messages queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, TryRecvError};

/// Why a message was not queued; the message comes back.
#[derive(Debug, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// `capacity` messages are waiting already.
    Full(T),
    /// The receiver is gone.
    Disconnected(T),
}

/// The sending half; clones share the bound.
#[derive(Debug)]
pub struct Sender<T> {
    tx: mpsc::Sender<T>,
    queued: Arc<AtomicUsize>,
    capacity: usize,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            tx: self.tx.clone(),
            queued: self.queued.clone(),
            capacity: self.capacity,
        }
    }
}

/// The receiving half.
#[derive(Debug)]
pub struct Receiver<T> {
    rx: mpsc::Receiver<T>,
    queued: Arc<AtomicUsize>,
}

/// A channel that holds at most `capacity` messages at once.
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = mpsc::channel();
    let queued = Arc::new(AtomicUsize::new(0));
    (
        Sender {
            tx,
            queued: queued.clone(),
            capacity,
        },
        Receiver { rx, queued },
    )
}

impl<T> Sender<T> {
    /// Queues `message` unless the channel is full or its receiver gone; never blocks.
    pub fn try_send(&self, message: T) -> Result<(), TrySendError<T>> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(TrySendError::Full(message));
        }
        self.tx.send(message).map_err(|e| {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            TrySendError::Disconnected(e.0)
        })
    }
}

impl<T> Receiver<T> {
    fn took(&self, message: T) -> T {
        self.queued.fetch_sub(1, Ordering::AcqRel);
        message
    }

    /// Waits for the next message.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.rx.recv().map(|m| self.took(m))
    }

    /// Waits for the next message at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.rx.recv_timeout(timeout).map(|m| self.took(m))
    }

    /// The next message if one is waiting.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.rx.try_recv().map(|m| self.took(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_at_most_its_capacity_and_frees_as_it_is_read() {
        let (tx, rx) = bounded(2);
        let tx2 = tx.clone();
        assert_eq!(tx.try_send(1), Ok(()));
        assert_eq!(tx2.try_send(2), Ok(()));
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(tx2.try_send(4), Ok(()));
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.recv_timeout(Duration::from_millis(10)), Ok(4));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        drop(rx);
        assert_eq!(tx.try_send(5), Err(TrySendError::Disconnected(5)));
        assert_eq!(
            tx.try_send(6),
            Err(TrySendError::Disconnected(6)),
            "count restored"
        );
    }
}
