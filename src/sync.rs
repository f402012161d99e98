//! Small helpers over `std::sync` and `std::thread` that every layer uses:
//! locks that shrug off poisoning, and named threads with a chosen stack.
//!
//! Owns no state and knows nothing about the gateway; it only removes the
//! same three lines repeated in a dozen modules.

use std::io;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::{self, JoinHandle};

/// Locks `m`, ignoring poisoning.
///
/// Every value guarded by a lock in this crate is changed in one step (an
/// insert, a remove, a counter bump, a whole replacement), so a thread that
/// panicked while holding the lock cannot have left it torn; refusing the
/// lock afterwards would only turn one panic into many.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes `l` for reading, ignoring poisoning (see [`lock`] for why).
pub fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

/// Takes `l` for writing, ignoring poisoning (see [`lock`] for why).
pub fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// Spawns a thread called `name` with a stack of `stack` bytes.
///
/// Every thread the gateway starts is named, so a panic message, a debugger
/// or `top -H` says which part of the gateway it is, and gets a stack sized
/// for its work (the `*_STACK_BYTES` constants in `limits`) rather than the
/// platform default.
pub fn spawn_named<T: Send + 'static>(
    name: impl Into<String>,
    stack: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<JoinHandle<T>> {
    thread::Builder::new()
        .name(name.into())
        .stack_size(stack)
        .spawn(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_still_locks() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let poisoner = m.clone();
        let _ = thread::spawn(move || {
            let _guard = poisoner.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        *lock(&m) += 1;
        assert_eq!(*lock(&m), 2);
    }

    #[test]
    fn a_named_thread_has_its_name() {
        let t = spawn_named("argus-test", 64 * 1024, || {
            thread::current().name().map(str::to_owned)
        })
        .unwrap();
        assert_eq!(t.join().unwrap().as_deref(), Some("argus-test"));
    }
}
