//! Values loaded once and shared while anyone holds them, keyed by what
//! they were loaded from.
//!
//! The map's lock is held only to find a key's slot; the load runs under
//! that slot's own lock. Concurrent asks for one key wait for a single
//! load, while other keys load in parallel: one camera's slow model does
//! not hold up the start of another element. The cache keeps weak
//! references, so a value is dropped with its last user; a failed load is
//! not remembered and the next ask tries again.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, Weak};

use super::lock;

type Slot<V> = Mutex<Weak<V>>;

pub struct Cache<K, V> {
    slots: Mutex<HashMap<K, Arc<Slot<V>>>>,
}

impl<K, V> Default for Cache<K, V> {
    fn default() -> Self {
        Cache {
            slots: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone, V> Cache<K, V> {
    /// The live value for `key`, or the one `load` makes.
    pub fn get_or_load<E>(
        &self,
        key: &K,
        load: impl FnOnce(&K) -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        let slot = {
            let mut slots = lock(&self.slots);
            // A slot only the map holds has no loader waiting on it, so
            // locking it here cannot block.
            slots.retain(|_, slot| Arc::strong_count(slot) > 1 || lock(slot).strong_count() > 0);
            Arc::clone(slots.entry(key.clone()).or_default())
        };
        let mut value = lock(&slot);
        if let Some(live) = value.upgrade() {
            return Ok(live);
        }
        let loaded = Arc::new(load(key)?);
        *value = Arc::downgrade(&loaded);
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn a_slow_load_does_not_block_other_keys() {
        let cache = Arc::new(Cache::<u32, u32>::default());
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let slow = {
            let cache = Arc::clone(&cache);
            thread::spawn(move || {
                cache.get_or_load(&1, |_| {
                    started_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    Ok::<_, ()>(1)
                })
            })
        };
        started.recv().unwrap();
        let (done_tx, done) = mpsc::channel();
        let fast = {
            let cache = Arc::clone(&cache);
            thread::spawn(move || {
                let value = cache.get_or_load(&2, |_| Ok::<_, ()>(2));
                done_tx.send(()).unwrap();
                value
            })
        };
        let finished = done.recv_timeout(Duration::from_secs(10));
        release.send(()).unwrap();
        assert!(finished.is_ok(), "key 2 waited for key 1's load");
        assert_eq!(*fast.join().unwrap().unwrap(), 2);
        assert_eq!(*slow.join().unwrap().unwrap(), 1);
    }

    #[test]
    fn concurrent_asks_for_one_key_share_one_load() {
        let cache = Arc::new(Cache::<u32, u32>::default());
        let loads = Arc::new(AtomicUsize::new(0));
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let ask = |signal: Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>| {
            let (cache, loads) = (Arc::clone(&cache), Arc::clone(&loads));
            thread::spawn(move || {
                cache.get_or_load(&7, |_| {
                    loads.fetch_add(1, Ordering::SeqCst);
                    if let Some((started, release)) = signal {
                        started.send(()).unwrap();
                        release.recv().unwrap();
                    }
                    Ok::<_, ()>(7)
                })
            })
        };
        let first = ask(Some((started_tx, release_rx)));
        started.recv().unwrap();
        let second = ask(None);
        thread::sleep(Duration::from_millis(50));
        release.send(()).unwrap();
        let (a, b) = (
            first.join().unwrap().unwrap(),
            second.join().unwrap().unwrap(),
        );
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn values_go_with_their_last_user_and_failures_are_retried() {
        let cache = Cache::<&str, String>::default();
        assert_eq!(cache.get_or_load(&"m", |_| Err("down")), Err("down"));
        let a = cache
            .get_or_load(&"m", |k| Ok::<_, ()>(k.to_string()))
            .unwrap();
        let again = cache
            .get_or_load(&"m", |_| Ok::<_, ()>("other".into()))
            .unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        drop((a, again));
        let b = cache
            .get_or_load(&"m", |_| Ok::<_, ()>("reloaded".into()))
            .unwrap();
        assert_eq!(*b, "reloaded");
        assert_eq!(lock(&cache.slots).len(), 1);
    }
}
