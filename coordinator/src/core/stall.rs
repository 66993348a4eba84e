//! Watching the store for operations that never finish.
//!
//! A store read can block for ever (a FIFO planted as `transitions/latest`, a hung NFS or
//! persistent-volume mount). [`Watched`] wraps the store and records every operation in
//! flight; [`super::Coordinator::stalled_store_op`] reports the oldest one once it has taken
//! longer than `CoreConfig::store_stall_limit`, and the server turns liveness NOT_SERVING
//! until it finishes (docs/COORDINATOR.md, "Health and reflection").

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use seedward_shared::history::{HistoryStore, StoreError, StoreKey};

/// The store operations in flight.
#[derive(Default)]
pub struct InFlight {
    next: AtomicU64,
    ops: Mutex<HashMap<u64, (Instant, String)>>,
}

impl InFlight {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, (Instant, String)>> {
        // Single inserts and removes: a poisoned lock still holds a consistent map.
        self.ops.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn begin(&self, what: &str, key: &StoreKey) -> Op<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock()
            .insert(id, (Instant::now(), format!("{what} {key}")));
        Op { inflight: self, id }
    }

    /// The longest-running operation in flight: how long it has run and what it is.
    pub fn oldest(&self) -> Option<(Duration, String)> {
        let now = Instant::now();
        self.lock()
            .values()
            .min_by_key(|(started, _)| *started)
            .map(|(started, what)| (now.saturating_duration_since(*started), what.clone()))
    }
}

struct Op<'a> {
    inflight: &'a InFlight,
    id: u64,
}

impl Drop for Op<'_> {
    fn drop(&mut self) {
        self.inflight.lock().remove(&self.id);
    }
}

/// A store whose operations are recorded while they run.
pub struct Watched<S> {
    inner: S,
    inflight: Arc<InFlight>,
}

impl<S> Watched<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            inflight: Arc::default(),
        }
    }

    pub fn inflight(&self) -> &InFlight {
        &self.inflight
    }
}

impl<S: HistoryStore> HistoryStore for Watched<S> {
    fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        let _op = self.inflight.begin("reading", key);
        self.inner.get(key)
    }

    fn set(&self, key: &StoreKey, value: &[u8]) -> Result<(), StoreError> {
        let _op = self.inflight.begin("writing", key);
        self.inner.set(key, value)
    }

    fn compare_and_swap(
        &self,
        key: &StoreKey,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<(), StoreError> {
        let _op = self.inflight.begin("swapping", key);
        self.inner.compare_and_swap(key, old, new)
    }
}
