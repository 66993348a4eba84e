//! The filesystem history store: one file per key under `<state-dir>/history/`.
//!
//! # On-disk layout
//! ```text
//! <state-dir>/history/.lock                      advisory lock for compare-and-swap
//! <state-dir>/history/manifests/<hex sha256>     raw manifest bytes
//! <state-dir>/history/policies/<hex sha256>      raw policy bytes
//! <state-dir>/history/transitions/<hex sha256>   64-byte transition blobs
//! <state-dir>/history/transitions/latest         hash ‖ DER signature
//! <state-dir>/history/commitments/<hex>          threshold share commitments (written once)
//! ```
//!
//! # Invariants
//! - Every file is reached through a directory handle ([`seedward_fs::Dir`]) without
//!   following symlinks: a symlinked `history/`, namespace directory, value or `.lock` is
//!   refused, never followed, and nothing outside the directory is created or chmodded.
//! - Reads accept regular files only and are capped: `transitions/latest` and transition
//!   blobs at [`SMALL_VALUE_LIMIT`] bytes, manifests and policies at the store's value
//!   limit (the Coordinator's request size limit). A FIFO or `/dev/zero` planted as a
//!   value is an error, never a hang or an unbounded read.
//! - Every write is atomic: the value goes to a fresh temp file (`.<name>.tmp-*`) in the
//!   target directory, is fsynced, and renamed over the target. A reader sees the old value
//!   or the new one, never a torn one. Temp files start with `.`, so they never collide with
//!   a key; stray ones left by a crash are harmless.
//! - Durability is ordered, not per write. A content-addressed blob (`set`) is durable
//!   once its directory is fsynced; that fsync is deferred and shared: every namespace
//!   directory that received a blob (or holds a blob that `set` found already in place)
//!   is fsynced, once, by the next `compare_and_swap`, *before* the pointer's rename; then
//!   the pointer's file and its directory are fsynced before `compare_and_swap` returns.
//!   So a durable pointer never names a blob whose directory entry could be lost, and one
//!   update costs one fsync per new blob, one per touched namespace directory, and two for
//!   the pointer (see docs/COORDINATOR.md, "On-disk layout and crash safety").
//! - Compare-and-swap holds an exclusive `flock` on `.lock` across read-compare-write, so
//!   it is atomic against other threads *and* other processes on the same directory.
//! - Files and directories are created 0600/0700 (the history is not secret, but nobody
//!   else needs it). Opening needs no write access: a read-only state directory can be
//!   served and recovered (recovery writes nothing).

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use seedward_fs::Dir;
use seedward_shared::history::{HistoryStore, StoreError, StoreKey};

/// Name of the lock file inside the history directory.
const LOCK_FILE: &str = ".lock";

/// Cap on reads of `transitions/latest` (32 + a DER signature of at most 104 bytes) and of
/// transition blobs (64 bytes): a larger file is corruption, read no further.
pub const SMALL_VALUE_LIMIT: u64 = 1024;

/// Default cap on manifest and policy files: the Coordinator's default request size.
pub const DEFAULT_VALUE_LIMIT: u64 = 16 << 20;

/// A [`HistoryStore`] on a local directory.
///
/// Directories are opened afresh for every operation (two `openat` calls): an operator
/// who restores `history/` or one of its namespace directories from a backup while the
/// Coordinator runs is seen at once, never a handle to the replaced directory.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
    value_limit: u64,
    /// Namespace directories whose blob renames are not yet known durable: fsynced by the
    /// next `compare_and_swap` before it writes the pointer. Shared by clones (one process
    /// view of the directory); held across those fsyncs so that a concurrent update's CAS
    /// cannot pass a sync that is still running.
    unsynced: Arc<Mutex<BTreeSet<String>>>,
}

impl FsStore {
    /// Opens (creating if needed, mode 0700) the history directory `root`.
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = Dir::create(root, 0o700)?;
        if root.mode()? & 0o077 != 0 {
            // Tighten a directory made by someone else; on a read-only filesystem this
            // fails, which must not stop a Coordinator that only reads.
            if let Err(err) = root.set_mode(0o700) {
                tracing::warn!(dir = %root.path().display(), error = %err, "cannot set mode 0700 on the history directory");
            }
        }
        Ok(Self {
            root: root.path().to_path_buf(),
            value_limit: DEFAULT_VALUE_LIMIT,
            unsynced: Arc::default(),
        })
    }

    /// Caps reads of manifests and policies at `limit` bytes.
    pub fn with_value_limit(mut self, limit: u64) -> Self {
        self.value_limit = limit;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds `key` (which must already be validated).
    pub fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn io_error(&self, key: &str, err: &std::io::Error) -> StoreError {
        let path = self.path_of(key);
        let text = err.to_string();
        StoreError::Io {
            key: key.to_string(),
            // The error usually names the path already; name it once either way.
            message: if text.contains(&*path.to_string_lossy()) {
                text
            } else {
                format!("{}: {text}", path.display())
            },
        }
    }

    /// The namespace directory and the file name of `key`; `None` if it does not exist
    /// and `create` is false.
    fn locate<'k>(&self, key: &'k str, create: bool) -> std::io::Result<Option<(Dir, &'k str)>> {
        let Some((namespace, name)) = key.split_once('/') else {
            return Err(std::io::Error::new(
                ErrorKind::InvalidInput,
                "not a store key",
            ));
        };
        let dir = Dir::open(&self.root)?.subdir(namespace, create.then_some(0o700));
        match dir {
            Ok(dir) => Ok(Some((dir, name))),
            Err(e) if e.kind() == ErrorKind::NotFound && !create => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn limit_of(&self, key: &str) -> u64 {
        if key.starts_with("transitions/") {
            SMALL_VALUE_LIMIT
        } else {
            self.value_limit
        }
    }

    fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let result = self.locate(key, false).and_then(|found| match found {
            None => Ok(None),
            Some((dir, name)) => dir.read(name, self.limit_of(key)),
        });
        result.map_err(|e| self.io_error(key, &e))
    }

    /// Records that `key`'s namespace directory must be fsynced before the next pointer write.
    fn defer_sync(&self, key: &str) {
        if let Some((namespace, _)) = key.split_once('/') {
            // A poisoned lock only means another thread panicked while holding it; the set
            // is still a valid set of names (possibly one too many, which costs one fsync).
            let mut unsynced = self.unsynced.lock().unwrap_or_else(|e| e.into_inner());
            unsynced.insert(namespace.to_string());
        }
    }

    /// Fsyncs every namespace directory recorded by [`Self::defer_sync`]. A directory that
    /// fails stays recorded (and the error stops the pointer write).
    fn sync_deferred(&self) -> Result<(), StoreError> {
        let mut unsynced = self.unsynced.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(namespace) = unsynced.first().cloned() {
            let synced = Dir::open(&self.root)
                .and_then(|root| root.subdir(&namespace, None))
                .and_then(|dir| dir.sync());
            match synced {
                Ok(()) => {}
                // Gone (restored from a backup without it): nothing of ours to make durable
                // there; the pointer write will fail on a missing blob's check instead.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(self.io_error(&format!("{namespace}/"), &e)),
            }
            unsynced.remove(&namespace);
        }
        Ok(())
    }

    /// Writes a content-addressed blob: atomic, fsynced, its directory fsync deferred.
    fn write_blob(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let result = self.locate(key, true).and_then(|found| match found {
            Some((dir, name)) => dir.write_renamed(name, value, 0o600),
            None => Err(std::io::Error::new(
                ErrorKind::NotFound,
                "namespace directory",
            )),
        });
        result.map_err(|e| self.io_error(key, &e))?;
        self.defer_sync(key);
        Ok(())
    }

    fn write_atomically(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let result = self.locate(key, true).and_then(|found| match found {
            Some((dir, name)) => dir.write_atomic(name, value, 0o600),
            None => Err(std::io::Error::new(
                ErrorKind::NotFound,
                "namespace directory",
            )),
        });
        result.map_err(|e| self.io_error(key, &e))
    }
}

impl HistoryStore for FsStore {
    fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(key.as_str())
    }

    fn set(&self, key: &StoreKey, value: &[u8]) -> Result<(), StoreError> {
        let key = key.as_str();
        // Content-addressed blobs are written again by every update that reuses them (an
        // unchanged policy, a manifest set twice). Bytes already there are not rewritten and
        // their file is not fsynced (every writer fsyncs a blob before renaming it into
        // place). Only its directory entry may not be durable yet (renamed by a process that
        // died before its pointer write), so its directory joins the deferred fsync, which
        // costs nothing more when another blob went to the same directory. Different bytes
        // (a damaged file) are replaced.
        if self.read(key)?.as_deref() == Some(value) {
            self.defer_sync(key);
            return Ok(());
        }
        self.write_blob(key, value)
    }

    fn compare_and_swap(
        &self,
        key: &StoreKey,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<(), StoreError> {
        let key = key.as_str();
        let _lock = Dir::open(&self.root)
            .and_then(|root| root.lock(LOCK_FILE))
            .map_err(|e| self.io_error(LOCK_FILE, &e))?;
        let current = self.read(key)?;
        if current.as_deref() != old {
            return Err(StoreError::Conflict { current });
        }
        // Every blob the new pointer may name is durable before the pointer's rename.
        self.sync_deferred()?;
        self.write_atomically(key, new)
        // `_lock` is dropped here, after the write: the flock is released.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn conformance_suite() {
        use seedward_shared::history::testing::{SuiteOptions, store_conformance_suite_with};
        let dirs = std::sync::Mutex::new(Vec::new());
        // A second `FsStore` on the same directory stands for another process: CAS must stay
        // atomic across them (the flock), not only across threads.
        let second = |store: &FsStore| FsStore::open(store.root()).unwrap();
        store_conformance_suite_with(
            || {
                let dir = tempfile::tempdir().unwrap();
                let store = FsStore::open(dir.path().join("history")).unwrap();
                dirs.lock().unwrap().push(dir);
                store
            },
            SuiteOptions {
                max_value_bytes: None,
                second_handle: Some(&second),
            },
        );
    }

    #[test]
    fn files_are_private_and_temp_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path().join("history")).unwrap();
        let key = StoreKey::parse(&format!("manifests/{}", "ab".repeat(32))).unwrap();
        store.set(&key, b"{}").unwrap();
        let mode = fs::metadata(store.path_of(key.as_str()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // A stray temp file from a crash next to the value changes nothing.
        fs::write(
            store.root().join("manifests/.tmp-x-1-0000000000000000"),
            b"torn",
        )
        .unwrap();
        assert_eq!(store.get(&key).unwrap().as_deref(), Some(&b"{}"[..]));
    }

    #[test]
    fn same_bytes_are_not_rewritten_and_damaged_ones_are_replaced() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path().join("history")).unwrap();
        let key = StoreKey::parse(&format!("policies/{}", "ef".repeat(32))).unwrap();
        let path = store.path_of(key.as_str());
        store.set(&key, b"policy").unwrap();
        let inode = fs::metadata(&path).unwrap().ino();
        // The same bytes again (an unchanged policy in the next update): the file stays.
        store.set(&key, b"policy").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().ino(), inode, "rewritten");
        // A damaged file is replaced by a fresh one (atomically: a new inode).
        fs::write(&path, b"polic!").unwrap();
        store.set(&key, b"policy").unwrap();
        assert_ne!(fs::metadata(&path).unwrap().ino(), inode);
        assert_eq!(store.get(&key).unwrap().as_deref(), Some(&b"policy"[..]));
        // So is a truncated one.
        fs::write(&path, b"pol").unwrap();
        store.set(&key, b"policy").unwrap();
        assert_eq!(store.get(&key).unwrap().as_deref(), Some(&b"policy"[..]));
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn blob_directory_fsyncs_are_deferred_to_the_pointer_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path().join("history")).unwrap();
        let pending = |store: &FsStore| -> Vec<String> {
            store.unsynced.lock().unwrap().iter().cloned().collect()
        };
        let manifest = StoreKey::parse(&format!("manifests/{}", "ab".repeat(32))).unwrap();
        let policy = StoreKey::parse(&format!("policies/{}", "cd".repeat(32))).unwrap();
        store.set(&manifest, b"m").unwrap();
        // A clone is the same process view: it sees the same pending directories.
        store.clone().set(&policy, b"p").unwrap();
        assert_eq!(pending(&store), ["manifests", "policies"]);
        // A lost CAS writes nothing and syncs nothing.
        assert!(
            store
                .compare_and_swap(&StoreKey::latest(), Some(b"x"), b"v0")
                .is_err()
        );
        assert_eq!(pending(&store), ["manifests", "policies"]);
        store
            .compare_and_swap(&StoreKey::latest(), None, b"v0")
            .unwrap();
        assert!(pending(&store).is_empty());
        // A blob already in place: no rewrite, but its directory is synced before the next
        // pointer (its rename may be another process's, not yet durable).
        store.set(&policy, b"p").unwrap();
        assert_eq!(pending(&store), ["policies"]);
    }

    #[test]
    fn unreadable_value_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path().join("history")).unwrap();
        let key = StoreKey::parse(&format!("policies/{}", "cd".repeat(32))).unwrap();
        // A directory where a file should be: reading it fails with an I/O error.
        fs::create_dir_all(store.path_of(key.as_str())).unwrap();
        match store.get(&key) {
            Err(StoreError::Io { key: k, message }) => {
                assert_eq!(k, key.as_str());
                assert!(message.contains(key.as_str()), "{message}");
            }
            other => panic!("expected an I/O error, got {other:?}"),
        }
    }

    #[test]
    fn symlinks_fifos_and_endless_files_are_refused() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        // A symlinked history directory: refused, its target neither created nor chmodded.
        let elsewhere = dir.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        fs::set_permissions(&elsewhere, fs::Permissions::from_mode(0o755)).unwrap();
        symlink(&elsewhere, dir.path().join("history")).unwrap();
        assert!(FsStore::open(dir.path().join("history")).is_err());
        assert_eq!(
            fs::metadata(&elsewhere).unwrap().permissions().mode() & 0o777,
            0o755
        );

        let store = FsStore::open(dir.path().join("real")).unwrap();
        store
            .compare_and_swap(&StoreKey::latest(), None, b"v0")
            .unwrap();
        let latest = store.path_of(StoreKey::LATEST);
        // `latest` pointing at /dev/zero: an error, not an endless read.
        fs::remove_file(&latest).unwrap();
        symlink("/dev/zero", &latest).unwrap();
        assert!(matches!(
            store.get(&StoreKey::latest()),
            Err(StoreError::Io { .. })
        ));
        // A FIFO with no writer: an error at once, not a blocked reader.
        fs::remove_file(&latest).unwrap();
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&latest)
                .status()
                .unwrap()
                .success()
        );
        match store.get(&StoreKey::latest()) {
            Err(StoreError::Io { message, .. }) => {
                assert!(message.contains("not a regular file"), "{message}")
            }
            other => panic!("expected an I/O error, got {other:?}"),
        }
        // A symlinked lock file is refused and its target is not created.
        fs::remove_file(&latest).unwrap();
        fs::remove_file(store.root().join(".lock")).unwrap();
        symlink(dir.path().join("planted"), store.root().join(".lock")).unwrap();
        assert!(
            store
                .compare_and_swap(&StoreKey::latest(), None, b"v1")
                .is_err()
        );
        assert!(!dir.path().join("planted").exists());
    }

    #[test]
    fn oversized_values_are_refused_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path().join("history"))
            .unwrap()
            .with_value_limit(16);
        let key = StoreKey::parse(&format!("manifests/{}", "ab".repeat(32))).unwrap();
        store.set(&key, &[b'x'; 16]).unwrap();
        assert_eq!(store.get(&key).unwrap().unwrap().len(), 16);
        fs::write(store.path_of(key.as_str()), [b'x'; 17]).unwrap();
        match store.get(&key) {
            Err(StoreError::Io { message, .. }) => {
                assert!(message.contains("limit of 16 bytes"), "{message}")
            }
            other => panic!("expected an I/O error, got {other:?}"),
        }
        // transitions/latest is capped at a small size whatever the value limit.
        store
            .compare_and_swap(&StoreKey::latest(), None, b"v0")
            .unwrap();
        fs::write(
            store.path_of(StoreKey::LATEST),
            vec![0u8; SMALL_VALUE_LIMIT as usize + 1],
        )
        .unwrap();
        assert!(store.get(&StoreKey::latest()).is_err());
    }
}
