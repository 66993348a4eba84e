//! The key/value store under the history, and an in-memory implementation.
//!
//! # Wire format
//! Keys are ASCII and match `^[a-z]+/[0-9a-f]{64}$` or are exactly `transitions/latest`:
//!
//! | key | value |
//! |---|---|
//! | `manifests/<hex>` | the manifest bytes whose SHA-256 is `<hex>` |
//! | `policies/<hex>` | the policy document whose SHA-256 is `<hex>` |
//! | `transitions/<hex>` | the 64-byte transition blob whose SHA-256 is `<hex>` |
//! | `transitions/latest` | transition hash ‖ DER signature (the only mutable key) |
//! | `commitments/<hex>` | threshold histories only: the share commitments of the seed split at the first set whose transition hash is `<hex>` ([`crate::threshold::ShareCommitments`]); written once, before the first pointer |
//!
//! This is stricter than Contrast's `^[a-zA-Z0-9-]+/[a-zA-Z0-9-]+$`, and every Seedward key
//! also matches Contrast's pattern, so a history can be copied between the two layouts. The
//! strictness is deliberate: lowercase-only hex means one object has exactly one key (no
//! `manifests/AB…` aliasing `manifests/ab…` on a case-insensitive filesystem), and a store may
//! map a key to a path or an object name without escaping (no `.`, no `..`, one `/`).
//!
//! # Invariants
//! - A [`StoreKey`] always matches the pattern above; stores receive only valid keys.
//! - `compare_and_swap` is atomic with respect to every other call on the same store, in this
//!   process and, for shared stores, across processes.
//! - A lost race is [`StoreError::Conflict`] carrying the value found, never an I/O error or a
//!   message to be matched.
//!
//! # Who calls it, and how
//! The trait is synchronous. The Coordinator calls it from a blocking thread
//! (`tokio::task::spawn_blocking`), never from an async task directly. The default store is
//! the filesystem under the Coordinator's state directory (crash-safe writes: temp file,
//! fsync, rename, fsync of the directory; CAS under a lock). A shared store for several
//! replicas (etcd) will implement `compare_and_swap` as one etcd transaction:
//! `If(value(key) == old)` — or `If(create_revision(key) == 0)` when `old` is `None` —
//! `Then(Put(key, new))`, `Else(Get(key))`, turning the `Else` branch into
//! [`StoreError::Conflict`].
//!
//! # Watching the latest pointer
//! Staleness is detected by re-reading `transitions/latest` before each operation that
//! depends on it, and every update goes through `compare_and_swap` against the value the
//! caller last read, so a replica that missed a change finds out at its next write at the
//! latest. A store shared by several replicas can also *push* changes: it implements
//! [`WatchLatest`] in addition to [`HistoryStore`], so that stores that cannot watch (the
//! filesystem store) stay as they are. The watch is asynchronous (a replica waits on it in a
//! task, not in a blocked thread) but tied to no runtime: [`LatestWatch::next`] returns a boxed
//! `Send` future, so the trait is object-safe and a server can hold an
//! `Option<Box<dyn LatestWatch>>` whatever its store.
//!
//! # Size limits
//! A store may refuse values above a limit of its own (etcd refuses requests over its
//! `--max-request-bytes`). It says so *before* writing, with [`StoreError::TooLarge`] naming
//! the limit and how to raise it; the filesystem and memory stores have no such limit.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use super::Digest;

/// A validated store key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreKey(String);

/// An error from a [`HistoryStore`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error(
        "`{key}` is not a history store key: keys are `<namespace>/<64 lowercase hex>` or `transitions/latest`"
    )]
    InvalidKey { key: String },
    /// `compare_and_swap` found a value other than the expected one. `current` is what it
    /// found (`None`: the key does not exist).
    #[error(
        "the stored value changed since it was read (someone else updated the history); read it again and retry"
    )]
    Conflict { current: Option<Vec<u8>> },
    #[error("the history store failed on `{key}`: {message}")]
    Io { key: String, message: String },
    /// The value (for `compare_and_swap`: old and new together) is larger than this store
    /// accepts. Nothing was written. `remedy` says how to raise the limit.
    #[error(
        "`{key}` was not written: {size} bytes is more than this history store accepts ({limit} bytes); {remedy}"
    )]
    TooLarge {
        key: String,
        size: usize,
        limit: usize,
        remedy: String,
    },
}

/// A synchronous key/value store for the history. See the module docs for the contract.
pub trait HistoryStore: Send + Sync {
    /// The value of `key`, or `None` when it does not exist.
    fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError>;

    /// Creates or overwrites `key`.
    fn set(&self, key: &StoreKey, value: &[u8]) -> Result<(), StoreError>;

    /// Sets `key` to `new` if and only if its current value is `old` (`None`: the key does not
    /// exist; `Some(b"")` is an existing empty value, which is different). Otherwise returns
    /// [`StoreError::Conflict`] with the current value and changes nothing.
    fn compare_and_swap(
        &self,
        key: &StoreKey,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<(), StoreError>;
}

/// What a [`LatestWatch`] reports about `transitions/latest`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LatestEvent {
    /// The pointer holds this value now (`None`: it does not exist). The first event of every
    /// watch is the value when the watch started; then one event per distinct value written
    /// after it, in order. After [`LatestEvent::Interrupted`], the next `Value` is the value
    /// re-read when the watch is back, even if it did not change. Values written and
    /// overwritten while a watch was interrupted may be skipped (only the newest is
    /// delivered), never reordered.
    Value(Option<Vec<u8>>),
    /// The watch lost the store and is re-establishing itself; until the next
    /// [`LatestEvent::Value`] a change may be seen late. `reason` is for logs (no values).
    Interrupted { reason: String },
}

/// A boxed, `Send` future: what [`LatestWatch::next`] returns.
pub type WatchFuture<'a> = Pin<Box<dyn Future<Output = Option<LatestEvent>> + Send + 'a>>;

/// A running watch of `transitions/latest`. Dropping it stops the watch.
pub trait LatestWatch: Send {
    /// The next event; `None` once the watch has ended for good (the store was closed). Cancel
    /// safe: dropping the future before it completes loses no event.
    fn next(&mut self) -> WatchFuture<'_>;
}

/// A store that pushes changes of `transitions/latest` (see the module docs). Implemented in
/// addition to [`HistoryStore`] by stores that can.
pub trait WatchLatest: Send + Sync {
    /// Starts a watch. Its first event is the current value. Does not block: the store
    /// connects in the background, so a store that is unreachable now yields
    /// [`LatestEvent::Interrupted`] first.
    fn watch_latest(&self) -> Result<Box<dyn LatestWatch>, StoreError>;
}

impl<S: WatchLatest + ?Sized> WatchLatest for Arc<S> {
    fn watch_latest(&self) -> Result<Box<dyn LatestWatch>, StoreError> {
        (**self).watch_latest()
    }
}

impl fmt::Debug for LatestEvent {
    /// Shows the length of a value, not its bytes: events end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LatestEvent::Value(None) => f.write_str("Value(absent)"),
            LatestEvent::Value(Some(v)) => write!(f, "Value({} bytes)", v.len()),
            LatestEvent::Interrupted { reason } => f
                .debug_struct("Interrupted")
                .field("reason", reason)
                .finish(),
        }
    }
}

impl StoreKey {
    /// The one mutable key.
    pub const LATEST: &'static str = "transitions/latest";

    /// Validates `key` against the pattern in the module docs.
    pub fn parse(key: &str) -> Result<Self, StoreError> {
        if key == Self::LATEST || Self::is_content_key(key) {
            Ok(Self(key.to_owned()))
        } else {
            Err(StoreError::InvalidKey {
                key: key.chars().take(200).collect(),
            })
        }
    }

    fn is_content_key(key: &str) -> bool {
        let Some((namespace, name)) = key.split_once('/') else {
            return false;
        };
        !namespace.is_empty()
            && namespace.bytes().all(|b| b.is_ascii_lowercase())
            && name.len() == 64
            && name
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    fn content(namespace: &str, digest: &Digest) -> Self {
        Self(format!("{namespace}/{digest}"))
    }

    /// `manifests/<hex>`
    pub fn manifest(hash: &Digest) -> Self {
        Self::content("manifests", hash)
    }

    /// `policies/<hex>`
    pub fn policy(hash: &Digest) -> Self {
        Self::content("policies", hash)
    }

    /// `transitions/<hex>`
    pub fn transition(hash: &Digest) -> Self {
        Self::content("transitions", hash)
    }

    /// `commitments/<hex of the first transition hash>`
    pub fn commitments(first_transition: &Digest) -> Self {
        Self::content("commitments", first_transition)
    }

    /// `transitions/latest`
    pub fn latest() -> Self {
        Self(Self::LATEST.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `/` (`manifests`, `policies`, `transitions`).
    pub fn namespace(&self) -> &str {
        self.0.split_once('/').map_or("", |(n, _)| n)
    }

    /// The part after the `/` (a hex digest or `latest`).
    pub fn name(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, n)| n)
    }

    /// The digest a content-addressed key names; `None` for `transitions/latest`.
    pub fn digest(&self) -> Option<Digest> {
        self.name().parse().ok()
    }
}

impl fmt::Display for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreKey({})", self.0)
    }
}

impl AsRef<str> for StoreKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for StoreKey {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<S: HistoryStore + ?Sized> HistoryStore for &S {
    fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(key)
    }
    fn set(&self, key: &StoreKey, value: &[u8]) -> Result<(), StoreError> {
        (**self).set(key, value)
    }
    fn compare_and_swap(
        &self,
        key: &StoreKey,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<(), StoreError> {
        (**self).compare_and_swap(key, old, new)
    }
}

impl<S: HistoryStore + ?Sized> HistoryStore for Arc<S> {
    fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(key)
    }
    fn set(&self, key: &StoreKey, value: &[u8]) -> Result<(), StoreError> {
        (**self).set(key, value)
    }
    fn compare_and_swap(
        &self,
        key: &StoreKey,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<(), StoreError> {
        (**self).compare_and_swap(key, old, new)
    }
}

impl<S: HistoryStore + ?Sized> HistoryStore for Box<S> {
    fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(key)
    }
    fn set(&self, key: &StoreKey, value: &[u8]) -> Result<(), StoreError> {
        (**self).set(key, value)
    }
    fn compare_and_swap(
        &self,
        key: &StoreKey,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<(), StoreError> {
        (**self).compare_and_swap(key, old, new)
    }
}

/// An in-memory store: tests, benches, and anything that needs no persistence. It also
/// implements [`WatchLatest`], so that code reacting to a watch (a replica turning stale) can
/// be tested without a shared store: every write of `transitions/latest` (and `remove`) is
/// pushed to its watches, which end when the store is dropped.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<BTreeMap<StoreKey, Vec<u8>>>,
    watches: Watches,
}

/// The live watches of a [`MemoryStore`].
#[derive(Default)]
struct Watches(Mutex<Vec<std::sync::Weak<Feed>>>);

/// One watch's queue, shared by the store (which pushes) and the watch (which pops).
#[derive(Default)]
struct Feed(Mutex<FeedState>);

#[derive(Default)]
struct FeedState {
    queue: std::collections::VecDeque<LatestEvent>,
    last: Option<Option<Vec<u8>>>,
    waker: Option<std::task::Waker>,
    closed: bool,
}

/// A [`LatestWatch`] of a [`MemoryStore`].
struct MemoryWatch(Arc<Feed>);

impl fmt::Debug for Watches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Watches({})", self.lock().len())
    }
}

impl Watches {
    fn lock(&self) -> MutexGuard<'_, Vec<std::sync::Weak<Feed>>> {
        // Pushes and retains only: a panic cannot leave the list half-changed.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Pushes `value` to every live watch. Called with the entries locked, so that watches see
    /// writes in the order they happened.
    fn publish(&self, value: Option<&[u8]>) {
        self.lock().retain(|feed| match feed.upgrade() {
            Some(feed) => {
                feed.push(value.map(<[u8]>::to_vec));
                true
            }
            None => false,
        });
    }
}

impl Feed {
    fn lock(&self) -> MutexGuard<'_, FeedState> {
        // Each critical section assigns whole fields.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, value: Option<Vec<u8>>) {
        let mut state = self.lock();
        if state.last.as_ref() == Some(&value) {
            return;
        }
        state.last = Some(value.clone());
        state.queue.push_back(LatestEvent::Value(value));
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }

    fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }
}

impl LatestWatch for MemoryWatch {
    fn next(&mut self) -> WatchFuture<'_> {
        let feed = self.0.clone();
        Box::pin(std::future::poll_fn(move |cx| {
            let mut state = feed.lock();
            if let Some(event) = state.queue.pop_front() {
                return std::task::Poll::Ready(Some(event));
            }
            if state.closed {
                return std::task::Poll::Ready(None);
            }
            state.waker = Some(cx.waker().clone());
            std::task::Poll::Pending
        }))
    }
}

impl WatchLatest for MemoryStore {
    fn watch_latest(&self) -> Result<Box<dyn LatestWatch>, StoreError> {
        let entries = self.lock();
        let feed = Arc::new(Feed::default());
        feed.push(entries.get(&StoreKey::latest()).cloned());
        self.watches.lock().push(Arc::downgrade(&feed));
        Ok(Box::new(MemoryWatch(feed)))
    }
}

impl Drop for MemoryStore {
    /// Ends every watch (`next()` returns `None` once its queue is drained).
    fn drop(&mut self) {
        for feed in self
            .watches
            .lock()
            .iter()
            .filter_map(std::sync::Weak::upgrade)
        {
            feed.close();
        }
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<StoreKey, Vec<u8>>> {
        // Every critical section is a single map operation, so a panic elsewhere while the lock
        // was held cannot have left the map half-updated: recovering from poison is sound.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Deletes `key` (test helper: simulate a lost object). Returns the old value.
    pub fn remove(&self, key: &StoreKey) -> Option<Vec<u8>> {
        let mut entries = self.lock();
        let old = entries.remove(key);
        if key.as_str() == StoreKey::LATEST {
            self.watches.publish(None);
        }
        old
    }

    /// A copy of everything stored, in key order.
    pub fn snapshot(&self) -> BTreeMap<StoreKey, Vec<u8>> {
        self.lock().clone()
    }

    /// Every key, in order.
    pub fn keys(&self) -> Vec<StoreKey> {
        self.lock().keys().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

impl HistoryStore for MemoryStore {
    fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().get(key).cloned())
    }

    fn set(&self, key: &StoreKey, value: &[u8]) -> Result<(), StoreError> {
        let mut entries = self.lock();
        entries.insert(key.clone(), value.to_vec());
        if key.as_str() == StoreKey::LATEST {
            self.watches.publish(Some(value));
        }
        Ok(())
    }

    fn compare_and_swap(
        &self,
        key: &StoreKey,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<(), StoreError> {
        let mut entries = self.lock();
        let current = entries.get(key).map(Vec::as_slice);
        if current != old {
            return Err(StoreError::Conflict {
                current: current.map(<[u8]>::to_vec),
            });
        }
        entries.insert(key.clone(), new.to_vec());
        if key.as_str() == StoreKey::LATEST {
            self.watches.publish(Some(new));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_passes_the_conformance_suite() {
        crate::history::testing::store_conformance_suite(MemoryStore::new);
    }

    #[test]
    fn shared_pointers_are_stores_too() {
        crate::history::testing::store_conformance_suite(|| Arc::new(MemoryStore::new()));
        crate::history::testing::store_conformance_suite(|| {
            Box::new(MemoryStore::new()) as Box<dyn HistoryStore>
        });
    }

    /// Polls a watch once, without a runtime.
    fn poll_next(watch: &mut Box<dyn LatestWatch>) -> std::task::Poll<Option<LatestEvent>> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        watch.next().as_mut().poll(&mut cx)
    }

    #[test]
    fn memory_store_watches_see_every_distinct_latest_in_order_and_end_with_the_store() {
        use std::task::Poll;
        let store = MemoryStore::new();
        let latest = StoreKey::latest();
        store.set(&latest, b"v0").unwrap();
        let mut watch = store.watch_latest().unwrap();
        assert_eq!(
            poll_next(&mut watch),
            Poll::Ready(Some(LatestEvent::Value(Some(b"v0".to_vec()))))
        );
        assert_eq!(poll_next(&mut watch), Poll::Pending);
        store.compare_and_swap(&latest, Some(b"v0"), b"v1").unwrap();
        store.compare_and_swap(&latest, Some(b"v1"), b"v1").unwrap();
        let _ = store.compare_and_swap(&latest, Some(b"stale"), b"lost");
        store
            .set(&StoreKey::manifest(&Digest::of(b"m")), b"m")
            .unwrap();
        store.set(&latest, b"v2").unwrap();
        store.remove(&latest);
        for expected in [Some(b"v1".to_vec()), Some(b"v2".to_vec()), None] {
            assert_eq!(
                poll_next(&mut watch),
                Poll::Ready(Some(LatestEvent::Value(expected)))
            );
        }
        assert_eq!(poll_next(&mut watch), Poll::Pending);
        drop(store);
        assert_eq!(poll_next(&mut watch), Poll::Ready(None));
    }

    #[test]
    fn key_constructors_match_the_pattern() {
        let d = Digest::of(b"x");
        for key in [
            StoreKey::manifest(&d),
            StoreKey::policy(&d),
            StoreKey::transition(&d),
            StoreKey::latest(),
        ] {
            assert_eq!(StoreKey::parse(key.as_str()), Ok(key.clone()));
        }
        let m = StoreKey::manifest(&d);
        assert_eq!(m.as_str(), format!("manifests/{d}"));
        assert_eq!(m.namespace(), "manifests");
        assert_eq!(m.name(), d.to_string());
        assert_eq!(m.digest(), Some(d));
        assert_eq!(StoreKey::latest().digest(), None);
        assert_eq!(StoreKey::latest().name(), "latest");
    }

    #[test]
    fn keys_outside_the_pattern_are_rejected() {
        let hex = "a".repeat(64);
        for bad in [
            String::new(),
            "/".into(),
            "manifests".into(),
            format!("manifests/{}", "A".repeat(64)),
            format!("manifests/{}", "a".repeat(63)),
            format!("manifests/{}", "a".repeat(65)),
            format!("Manifests/{hex}"),
            format!("/{hex}"),
            format!("manifests/{hex}/x"),
            format!("../{hex}"),
            format!("manifests/../{}", "a".repeat(61)),
            format!("man-ifests/{hex}"),
            "policies/latest".into(),
            "transitions/Latest".into(),
            "transitions/latest/".into(),
            "transitions/latest\n".into(),
            format!("manifests/{}g", "a".repeat(63)),
            format!("manifests/{}é", "a".repeat(62)),
        ] {
            assert_eq!(
                StoreKey::parse(&bad),
                Err(StoreError::InvalidKey { key: bad.clone() }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn invalid_key_message_is_bounded() {
        let long = "x".repeat(10_000);
        let Err(StoreError::InvalidKey { key }) = StoreKey::parse(&long) else {
            panic!("accepted");
        };
        assert_eq!(key.len(), 200);
    }
}
