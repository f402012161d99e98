//! One streamed response's socket, shared by the stream's writer thread
//! and any thread that has a frame for it.
//!
//! A long-lived stream's writer sleeps on its queue; waking it for every
//! frame costs a futex wake and a context switch on each side. When nothing
//! is queued ahead of a frame and the socket takes it at once, the thread
//! that has the frame writes it itself ([`SharedStream::try_write`]: one
//! `sendmsg` that never waits); otherwise the frame is queued and the writer
//! writes it ([`SharedStream::write`], waiting, bounded by the socket's
//! write timeout). Frames are written whole and one at a time: a write
//! holds the lock, and what a direct write could not write at once is kept
//! and written first by the writer, before anything else.

use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rustix::net::{SendAncillaryBuffer, SendFlags, sendmsg};

use super::frame::{FrameSlices, write_all_vectored};
use crate::sync::lock;

/// What [`SharedStream::try_write`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryWrite {
    /// The whole frame is on the socket.
    Written,
    /// Nothing was written: queue the frame for the writer.
    Busy,
    /// Part of the frame is on the socket; the rest is kept, and the writer
    /// must be woken to write it ([`SharedStream::write`] does, first).
    Partial,
}

#[derive(Debug, Default)]
struct StreamState {
    /// What a direct write left unwritten.
    rest: Vec<u8>,
    /// The stream is ending: no more direct writes.
    closed: bool,
    /// A write failed: the connection is to be closed.
    broken: bool,
}

/// A streamed response's socket, for its writer and direct writers.
#[derive(Debug)]
pub struct SharedStream {
    stream: Arc<TcpStream>,
    chunked: bool,
    state: Mutex<StreamState>,
    /// Body bytes written (without chunk framing).
    sent: AtomicU64,
}

impl SharedStream {
    pub(crate) fn new(stream: Arc<TcpStream>, chunked: bool) -> SharedStream {
        SharedStream {
            stream,
            chunked,
            state: Mutex::new(StreamState::default()),
            sent: AtomicU64::new(0),
        }
    }

    /// Writes the frame made of `parts` now, if nobody else is writing,
    /// nothing is left from an earlier direct write, `clear()` says nothing
    /// is queued ahead of it, and the socket takes it without waiting.
    /// Never blocks: runs on whichever thread has the frame.
    pub fn try_write(&self, parts: &[&[u8]], clear: impl FnOnce() -> bool) -> TryWrite {
        let Ok(mut state) = self.state.try_lock() else {
            return TryWrite::Busy;
        };
        if state.closed || state.broken || !state.rest.is_empty() || !clear() {
            return TryWrite::Busy;
        }
        let frame = FrameSlices::new(parts, self.chunked);
        if frame.body_len() == 0 {
            // An empty chunk would end the body.
            return TryWrite::Written;
        }
        let (slices, n) = frame.slices();
        let slices = &slices[..n];
        let len: usize = slices.iter().map(|s| s.len()).sum();
        let flags = SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
        let mut control = SendAncillaryBuffer::default();
        match sendmsg(&*self.stream, slices, &mut control, flags) {
            Ok(written) if written == len => {
                self.sent
                    .fetch_add(frame.body_len() as u64, Ordering::Relaxed);
                TryWrite::Written
            }
            Ok(written) if written > 0 => {
                let mut rest = Vec::with_capacity(len);
                for s in slices {
                    rest.extend_from_slice(s);
                }
                rest.drain(..written);
                state.rest = rest;
                self.sent
                    .fetch_add(frame.body_len() as u64, Ordering::Relaxed);
                TryWrite::Partial
            }
            // Full, or broken: the writer waits, or fails and ends.
            Ok(_) | Err(_) => TryWrite::Busy,
        }
    }

    /// Writes what a direct write left, then the frame made of `parts` (if
    /// any), waiting for the socket as its write timeout allows.
    pub fn write(&self, parts: &[&[u8]]) -> io::Result<()> {
        let mut state = lock(&self.state);
        let written = Self::write_locked(&self.stream, self.chunked, &mut state.rest, parts);
        match written {
            Ok(len) => {
                self.sent.fetch_add(len as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                state.broken = true;
                Err(e)
            }
        }
    }

    /// `rest`, then the frame of `parts`; the frame's body length.
    fn write_locked(
        mut stream: &TcpStream,
        chunked: bool,
        rest: &mut Vec<u8>,
        parts: &[&[u8]],
    ) -> io::Result<usize> {
        if !rest.is_empty() {
            stream.write_all(rest)?;
            rest.clear();
        }
        let frame = FrameSlices::new(parts, chunked);
        let len = frame.body_len();
        if len > 0 {
            let (mut slices, n) = frame.slices();
            write_all_vectored(stream, &mut slices[..n])?;
        }
        Ok(len)
    }

    /// Ends direct writes (the end of the body is written next): the body
    /// bytes written so far, and whether a write failed.
    pub(crate) fn close(&self) -> (u64, bool) {
        let mut state = lock(&self.state);
        state.closed = true;
        (self.sent.load(Ordering::Relaxed), state.broken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::Duration;

    /// A connected pair: ours (shared) and the client's end.
    fn pair() -> (Arc<TcpStream>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (ours, _) = listener.accept().unwrap();
        ours.set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        (Arc::new(ours), client)
    }

    #[test]
    fn a_direct_write_cut_short_is_finished_before_anything_else() {
        let (ours, mut client) = pair();
        let shared = SharedStream::new(ours, false);
        assert_eq!(shared.try_write(&[b"one;"], || true), TryWrite::Written);
        assert_eq!(shared.try_write(&[b"no"], || false), TryWrite::Busy);
        // More than any socket buffer: only part of it goes at once.
        let big = vec![b'x'; 16 << 20];
        assert_eq!(shared.try_write(&[&big, b";"], || true), TryWrite::Partial);
        // The client reads all that went: the socket has room again, yet
        // nothing may go between the part written and the rest.
        let went = 4 + big.len() + 1 - lock(&shared.state).rest.len();
        let mut all = vec![0u8; went];
        client.read_exact(&mut all).unwrap();
        assert_eq!(shared.try_write(&[b"no"], || true), TryWrite::Busy);
        let reader = std::thread::spawn(move || client.read_to_end(&mut all).map(|_| all));
        shared.write(&[b"two;"]).unwrap();
        assert_eq!(shared.try_write(&[b"three"], || true), TryWrite::Written);
        assert_eq!(shared.close(), ((4 + big.len() + 1 + 4 + 5) as u64, false));
        assert_eq!(shared.try_write(&[b"no"], || true), TryWrite::Busy);
        shared.stream.shutdown(std::net::Shutdown::Write).unwrap();
        let all = reader.join().unwrap().unwrap();
        let mut expected = b"one;".to_vec();
        expected.extend_from_slice(&big);
        expected.extend_from_slice(b";two;three");
        assert!(
            all == expected,
            "{} bytes, not {}",
            all.len(),
            expected.len()
        );
    }

    #[test]
    fn frames_are_chunks_on_a_chunked_body_and_empty_ones_are_not_written() {
        let (ours, mut client) = pair();
        let shared = SharedStream::new(ours, true);
        assert_eq!(shared.try_write(&[b""], || true), TryWrite::Written);
        assert_eq!(shared.try_write(&[b"ab", b"c"], || true), TryWrite::Written);
        shared.write(&[]).unwrap();
        shared.write(&[b"de"]).unwrap();
        let mut got = [0u8; 15];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"3\r\nabc\r\n2\r\nde\r\n");
    }
}
