//! The filesystem history store: one file per key under `<state-dir>/history/`.
//!
//! # On-disk layout
//! ```text
//! <state-dir>/history/.lock                      advisory lock for compare-and-swap
//! <state-dir>/history/manifests/<hex sha256>     raw manifest bytes
//! <state-dir>/history/policies/<hex sha256>      raw policy bytes
//! <state-dir>/history/transitions/<hex sha256>   64-byte transition blobs
//! <state-dir>/history/transitions/latest         hash ‖ DER signature
//! ```
//!
//! # Invariants
//! - Every write is crash-safe: the value goes to a temp file (`.tmp-*`) in the target
//!   directory, is fsynced, renamed over the target, and the directory is fsynced. A
//!   reader sees the old value or the new one, never a torn one.
//! - Temp files start with `.`, so they never collide with a key and are ignored on read;
//!   stray ones left by a crash are harmless.
//! - Compare-and-swap holds an exclusive `flock` on `.lock` across read-compare-write, so
//!   it is atomic against other threads *and* other processes on the same directory.
//! - Files are created 0600 (the history is not secret, but nobody else needs it).

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use seedward_shared::history::{HistoryStore, StoreError, StoreKey};

/// Name of the lock file inside the history directory.
const LOCK_FILE: &str = ".lock";

/// A [`HistoryStore`] on a local directory.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    /// Opens (creating if needed, mode 0700) the history directory `root`.
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root)?;
        set_dir_mode(&root)?;
        // Make the directory entry itself durable: a history that vanishes on power loss
        // would turn the Coordinator back into an uninitialized one.
        if let Some(parent) = root.parent()
            && !parent.as_os_str().is_empty()
        {
            sync_dir(parent)?;
        }
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds `key` (which must already be validated).
    pub fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn io_error(key: &str, path: &Path, err: &std::io::Error) -> StoreError {
        StoreError::Io {
            key: key.to_string(),
            message: format!("{}: {err}", path.display()),
        }
    }

    fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path_of(key);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io_error(key, &path, &e)),
        }
    }

    fn write_atomically(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let path = self.path_of(key);
        let err = |e: std::io::Error| Self::io_error(key, &path, &e);
        let dir = path.parent().unwrap_or(&self.root);
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(err)?;
            set_dir_mode(dir).map_err(err)?;
            sync_dir(&self.root).map_err(err)?;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(
            ".tmp-{name}-{}-{:016x}",
            std::process::id(),
            random_u64()
        ));
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(value)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&tmp, &path)?;
            sync_dir(dir)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(err)
    }

    fn lock(&self) -> Result<File, StoreError> {
        let path = self.root.join(LOCK_FILE);
        let err = |e: std::io::Error| Self::io_error(LOCK_FILE, &path, &e);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(err)?;
        file.lock().map_err(err)?;
        Ok(file)
    }
}

impl HistoryStore for FsStore {
    fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(key.as_str())
    }

    fn set(&self, key: &StoreKey, value: &[u8]) -> Result<(), StoreError> {
        let key = key.as_str();
        // Content-addressed blobs are written again by every update that reuses them (an
        // unchanged policy, a manifest set twice). Bytes already there are not rewritten:
        // making them durable is enough, and fsyncs of a clean file and directory cost
        // little, while a rewrite costs two journal commits. Different bytes (a damaged
        // file) are replaced as before.
        if self.read(key)?.as_deref() == Some(value) {
            let path = self.path_of(key);
            let err = |e: std::io::Error| Self::io_error(key, &path, &e);
            File::open(&path).and_then(|f| f.sync_all()).map_err(err)?;
            return sync_dir(path.parent().unwrap_or(&self.root)).map_err(err);
        }
        self.write_atomically(key, value)
    }

    fn compare_and_swap(
        &self,
        key: &StoreKey,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<(), StoreError> {
        let key = key.as_str();
        let lock = self.lock()?;
        let current = self.read(key)?;
        if current.as_deref() != old {
            return Err(StoreError::Conflict { current });
        }
        let result = self.write_atomically(key, new);
        // Dropping the file releases the flock; unlock explicitly to report nothing odd.
        let _ = lock.unlock();
        result
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn set_dir_mode(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

fn random_u64() -> u64 {
    use rand_core::RngCore;
    rand_core::OsRng.next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
