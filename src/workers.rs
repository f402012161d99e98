//! Threads kept a moment for the next job: client connections, and the
//! POSTs to a Streamable HTTP backend. Creating a thread (its kernel stack
//! zeroed, the scheduler told) was most of what opening an SSE session
//! cost, and a thread per backend call cost more than the call; a job that
//! arrives while a thread is idle runs on it instead. At most [`MAX_IDLE`]
//! wait, each for [`IDLE_FOR`] at most, so a quiet gateway holds none.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::sync;

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
        sync::lock(&self.queue)
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
        sync::spawn_named(self.name.clone(), self.stack, move || workers.work(job)).map(drop)
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

/// Jobs run on [`Workers`] at most `limit` at a time; the rest wait in
/// order and are taken by the next thread that finishes. A submitter never
/// blocks: the jobs running may be waiting for what it submits next.
pub struct Bounded {
    workers: Arc<Workers>,
    limit: usize,
    /// (jobs running, jobs waiting), changed together.
    state: Mutex<(usize, VecDeque<Job>)>,
}

impl std::fmt::Debug for Bounded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bounded")
            .field("workers", &self.workers)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl Bounded {
    /// At most `limit` jobs at once on threads named `name`.
    pub fn new(name: &str, stack: usize, limit: usize) -> Arc<Bounded> {
        Arc::new(Bounded {
            workers: Workers::new(name, stack),
            limit: limit.max(1),
            state: Mutex::new((0, VecDeque::new())),
        })
    }

    fn lock(&self) -> MutexGuard<'_, (usize, VecDeque<Job>)> {
        // A count and a queue, changed in one step.
        sync::lock(&self.state)
    }

    /// Runs `job` now if fewer than `limit` run, else after those ahead of
    /// it. An error (no thread could be made) means `job` was dropped.
    pub fn run(self: &Arc<Self>, job: Job) -> io::Result<()> {
        {
            let mut state = self.lock();
            if state.0 >= self.limit {
                state.1.push_back(job);
                return Ok(());
            }
            state.0 += 1;
        }
        let me = self.clone();
        let ran = self.workers.run(Box::new(move || me.drain(job)));
        if ran.is_err() {
            self.lock().0 -= 1;
        }
        ran
    }

    /// Runs `job`, then whatever waits; the count drops under the same lock
    /// that `run` checks, so no job is left behind.
    fn drain(&self, mut job: Job) {
        loop {
            // A job that panics must not keep its slot.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            let mut state = self.lock();
            match state.1.pop_front() {
                Some(next) => job = next,
                None => {
                    state.0 -= 1;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::thread;

    #[test]
    fn bounded_runs_at_most_its_limit_and_then_the_rest_in_order() {
        let bounded = Bounded::new("argus-test-bounded", 64 * 1024, 2);
        let (started, starts) = mpsc::channel();
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        for i in 0..5 {
            let (started, gate) = (started.clone(), gate.clone());
            bounded
                .run(Box::new(move || {
                    started.send(i).unwrap();
                    let (open, cv) = &*gate;
                    let guard = open.lock().unwrap();
                    drop(cv.wait_while(guard, |open| !*open).unwrap());
                    assert!(i != 1, "a panicking job gives its slot back");
                }))
                .unwrap();
        }
        // Two start and block; the other three wait, whatever the timing.
        let mut first = [
            starts.recv_timeout(Duration::from_secs(5)).unwrap(),
            starts.recv_timeout(Duration::from_secs(5)).unwrap(),
        ];
        first.sort();
        assert_eq!(first, [0, 1]);
        assert_eq!(bounded.lock().0, 2);
        assert_eq!(bounded.lock().1.len(), 3);
        let (open, cv) = &*gate;
        *open.lock().unwrap() = true;
        cv.notify_all();
        let mut rest: Vec<i32> = (0..3)
            .map(|_| starts.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        rest.sort();
        assert_eq!(rest, [2, 3, 4]);
        let waited = std::time::Instant::now();
        while bounded.lock().0 > 0 {
            assert!(
                waited.elapsed() < Duration::from_secs(5),
                "slots given back"
            );
            thread::yield_now();
        }
    }

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
