//! Threads kept a moment for the next job: client connections, and the
//! POSTs to a Streamable HTTP backend. Creating a thread (its kernel stack
//! zeroed, the scheduler told) was most of what opening an SSE session
//! cost, and a thread per backend call cost more than the call; a job that
//! arrives while a thread is idle runs on it instead. At most [`MAX_IDLE`]
//! wait, each for [`IDLE_FOR`] at most, so a quiet gateway holds none.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

/// Idle threads kept at most.
const MAX_IDLE: usize = 16;

/// How long an idle thread waits for a connection before it ends.
const IDLE_FOR: Duration = Duration::from_secs(2);

/// Work for a thread.
pub type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    idle: usize,
}

/// A set of threads of one name and stack size.
pub struct Workers {
    name: String,
    stack: usize,
    queue: Mutex<Queue>,
    ready: Condvar,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers").field("name", &self.name).finish()
    }
}

impl Workers {
    /// Threads named `name`, with `stack` bytes of stack.
    pub fn new(name: &str, stack: usize) -> Arc<Workers> {
        Arc::new(Workers {
            name: name.to_owned(),
            stack,
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A queue and a count, each changed in one step.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `job` on an idle thread, or on a new one.
    pub fn run(self: &Arc<Self>, job: Job) -> io::Result<()> {
        {
            let mut q = self.lock();
            // Every idle thread not yet spoken for takes one job.
            if q.idle > q.jobs.len() {
                q.jobs.push_back(job);
                self.ready.notify_one();
                return Ok(());
            }
        }
        let workers = self.clone();
        thread::Builder::new()
            .name(self.name.clone())
            .stack_size(self.stack)
            .spawn(move || workers.work(job))
            .map(drop)
    }

    fn work(&self, first: Job) {
        first();
        loop {
            let mut q = self.lock();
            if q.idle >= MAX_IDLE {
                return;
            }
            q.idle += 1;
            let (mut q, _) = self
                .ready
                .wait_timeout_while(q, IDLE_FOR, |q| q.jobs.is_empty())
                .unwrap_or_else(|e| e.into_inner());
            q.idle -= 1;
            let Some(job) = q.jobs.pop_front() else {
                return; // idle for IDLE_FOR
            };
            drop(q);
            job();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn an_idle_thread_takes_the_next_job() {
        let workers = Workers::new("argus-test-worker", 64 * 1024);
        let (tx, rx) = mpsc::channel();
        let first = tx.clone();
        workers
            .run(Box::new(move || {
                first.send(thread::current().id()).unwrap();
            }))
            .unwrap();
        let one = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        // Wait until that thread is idle, then hand it the next job.
        let waited = std::time::Instant::now();
        while workers.lock().idle == 0 {
            assert!(waited.elapsed() < Duration::from_secs(5));
            thread::yield_now();
        }
        workers
            .run(Box::new(move || {
                tx.send(thread::current().id()).unwrap();
            }))
            .unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), one);
    }
}
