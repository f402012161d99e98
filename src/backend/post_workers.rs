//! The POSTs of a remote backend's requests, on bounded workers: a request
//! may take as long as its call, so it never waits in line behind another,
//! and the next messages (answers to the backend's own requests,
//! cancellations, other calls) are never held up behind it.
//!
//! A request with nothing queued ahead of it goes from the sender's thread
//! straight to a worker ([`Direct`]); one that must wait its turn is handed
//! on by the transport's writer thread when it comes to it. Either way it is
//! one hand-off: the writer no longer re-wraps every request as a job for
//! a second queue.

use std::io;
use std::sync::{Arc, Mutex};

use super::connection::{CallError, Connection, Direct, Frame};
use crate::sync::lock;
use crate::workers::Bounded;

/// POSTs one request; runs on a worker, under no lock.
pub type PostFn = Box<dyn Fn(Frame) + Send + Sync>;

/// Requests POSTed on at most `limit` workers at a time.
pub struct PostWorkers {
    pool: Arc<Bounded>,
    post: Arc<PostFn>,
}

impl std::fmt::Debug for PostWorkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostWorkers")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl PostWorkers {
    /// Workers named `name` with `stack` bytes of stack, at most `limit`
    /// at a time, each running `post`.
    pub fn new(name: &str, stack: usize, limit: usize, post: PostFn) -> Arc<PostWorkers> {
        Arc::new(PostWorkers {
            pool: Bounded::new(name, stack, limit),
            post: Arc::new(post),
        })
    }

    /// POSTs `frame` on a worker, now or after those ahead of it; the
    /// frame comes back with the error when no thread could be made.
    pub fn submit(&self, frame: Frame) -> Result<(), (io::Error, Frame)> {
        // The job owns the frame; should it never run, the slot gives it back.
        let slot = Arc::new(Mutex::new(Some(frame)));
        let (taken, post) = (slot.clone(), self.post.clone());
        let job = Box::new(move || {
            let frame = lock(&taken).take();
            if let Some(frame) = frame {
                post(frame);
            }
        });
        match self.pool.run(job) {
            Ok(()) => Ok(()),
            Err(e) => match lock(&slot).take() {
                Some(frame) => Err((e, frame)),
                None => Ok(()),
            },
        }
    }

    /// Hands request `frame` to a worker in its turn (the writer's); when
    /// no thread could be made, the request fails with the cause.
    pub fn hand_on(&self, conn: &Connection, frame: Frame) {
        if let Err((e, Frame { id: Some(id), .. })) = self.submit(frame) {
            conn.fail(id, CallError::Send(format!("cannot start a worker: {e}")));
        }
    }
}

/// Requests go straight to a worker; everything else waits for the writer.
impl Direct for Arc<PostWorkers> {
    /// Runs on the sender's thread under the connection's feed lock; never waits.
    fn try_deliver(&self, frame: Frame) -> Option<Frame> {
        if !frame.is_call() {
            return Some(frame);
        }
        self.submit(frame).err().map(|(_, frame)| frame)
    }
}
