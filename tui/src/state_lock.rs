//! One embedded Coordinator per state directory.
//!
//! `seedward` with no `--coordinator` takes an exclusive advisory lock (`flock`) on
//! `<state dir>/seedward-console.lock` before it starts its local Coordinator, and writes its
//! pid and, once it listens, the Coordinator's address into that file. A second `seedward`
//! on the same state directory finds the lock held, reads who holds it, and offers to
//! connect to that Coordinator instead of starting a second one that would write the same
//! files. The kernel drops the lock when the holder exits, also after a crash or `kill -9`,
//! so a stale file never blocks anyone.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// The lock file's name in the state directory.
pub const LOCK_FILE: &str = "seedward-console.lock";

/// The lock, held for as long as this value lives.
#[derive(Debug)]
pub struct StateLock {
    file: File,
    path: PathBuf,
}

/// Who holds the lock, as its file says (either may be missing while it starts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<u32>,
    pub address: Option<String>,
}

/// The outcome of [`acquire`].
#[derive(Debug)]
pub enum Acquired {
    Held(StateLock),
    Busy(Holder),
}

/// Takes the lock of `state_dir` (creating the directory, 0700, and the file, 0600).
pub fn acquire(state_dir: &Path) -> anyhow::Result<Acquired> {
    use anyhow::Context as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)
        .with_context(|| format!("cannot create the state directory {}", state_dir.display()))?;
    let path = state_dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            let mut lock = StateLock { file, path };
            lock.write(None)?;
            Ok(Acquired::Held(lock))
        }
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            // A holder still writing its file reads as unknown fields, never as an error.
            let _ = file.read_to_string(&mut text);
            Ok(Acquired::Busy(parse(&text)))
        }
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

impl StateLock {
    /// Records the address the local Coordinator listens on, for a second instance to offer.
    pub fn record_address(&mut self, address: &str) -> anyhow::Result<()> {
        self.write(Some(address))
    }

    fn write(&mut self, address: Option<&str>) -> anyhow::Result<()> {
        use anyhow::Context as _;
        let mut text = format!("pid={}\n", std::process::id());
        if let Some(address) = address {
            text.push_str(&format!("address={address}\n"));
        }
        let path = &self.path;
        self.file
            .set_len(0)
            .and_then(|()| self.file.seek(SeekFrom::Start(0)))
            .and_then(|_| self.file.write_all(text.as_bytes()))
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

fn parse(text: &str) -> Holder {
    let mut holder = Holder::default();
    for line in text.lines() {
        match line.split_once('=') {
            Some(("pid", v)) => holder.pid = v.trim().parse().ok(),
            Some(("address", v)) if !v.trim().is_empty() => {
                holder.address = Some(v.trim().to_string())
            }
            _ => {}
        }
    }
    holder
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_state_dir_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let Acquired::Held(mut first) = acquire(dir.path()).unwrap() else {
            panic!("the first lock is taken")
        };
        first.record_address("127.0.0.1:1313").unwrap();
        // flock locks belong to the open file description: a second open in this process
        // conflicts exactly like another process would.
        match acquire(dir.path()).unwrap() {
            Acquired::Busy(holder) => assert_eq!(
                holder,
                Holder {
                    pid: Some(std::process::id()),
                    address: Some("127.0.0.1:1313".into()),
                }
            ),
            Acquired::Held(_) => panic!("two holders of one state directory"),
        }
        drop(first);
        assert!(
            matches!(acquire(dir.path()).unwrap(), Acquired::Held(_)),
            "released with its holder"
        );
    }
}
