//! The operator's workspace: the folder with the files a ceremony produces and needs.
//!
//! | file | written by | mode | what |
//! |---|---|---|---|
//! | `seed-shares.json` | setup | 0600 | the encrypted seed shares and salt (the recovery material) |
//! | `coordinator-root-ca.pem` | setup | 0644 | the root CA certificate; its key is the pin for every later connection |
//! | `mesh-ca.pem` | setup, update, recover | 0644 | the current mesh CA certificate |
//! | `manifest.json` | setup, update | 0644 | the manifest this workspace set last |
//! | `history-signing-key.pem` | share drill | 0644 | public key that verifies the history's latest pointer (audit without the seed) |
//! | `*.pem` owner keys | keys (file store) | 0600 | only where no OS keyring is reachable |
//!
//! # Invariants
//! - Secret files are created 0600 with `create_new`: an existing file is never overwritten.
//!   Writing a *different* secret where one exists is an error that names the file; writing
//!   the same bytes again is a no-op.
//! - Public files are replaced atomically (temp file + rename); the previous content of a
//!   replaced file is kept as `<name>.previous`.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const SEED_SHARES_FILE: &str = "seed-shares.json";
pub const ROOT_CA_FILE: &str = "coordinator-root-ca.pem";
pub const MESH_CA_FILE: &str = "mesh-ca.pem";
pub const MANIFEST_FILE: &str = "manifest.json";
pub const SIGNING_KEY_FILE: &str = "history-signing-key.pem";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkspaceError {
    #[error(
        "{path} already exists with different content; Seedward never overwrites a secret file. Move it away first if you really mean to replace it"
    )]
    WouldOverwrite { path: PathBuf },
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen { path: PathBuf, mode: u32 },
}

fn io(path: &Path, err: std::io::Error) -> WorkspaceError {
    WorkspaceError::Io {
        path: path.to_path_buf(),
        message: err.to_string(),
    }
}

/// A workspace directory.
#[derive(Debug, Clone)]
pub struct Workspace {
    dir: PathBuf,
}

impl Workspace {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn exists(&self, name: &str) -> bool {
        self.path(name).exists()
    }

    /// Reads a file of the workspace; `Ok(None)` when it does not exist.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, WorkspaceError> {
        let path = self.path(name);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path, e)),
        }
    }

    /// Reads a secret file, refusing one that others can read.
    pub fn read_secret(&self, path: &Path) -> Result<Option<Vec<u8>>, WorkspaceError> {
        match fs::metadata(path) {
            Ok(meta) => {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(WorkspaceError::TooOpen {
                        path: path.to_path_buf(),
                        mode,
                    });
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(path, e)),
        }
        fs::read(path).map(Some).map_err(|e| io(path, e))
    }

    /// Writes a secret file 0600, never replacing a different existing one.
    pub fn write_secret(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, WorkspaceError> {
        let path = self.path(name);
        write_secret_file(&path, bytes, 0o600)?;
        Ok(path)
    }

    /// Writes a public file atomically, keeping a replaced one as `<name>.previous`.
    pub fn write_public(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, WorkspaceError> {
        let path = self.path(name);
        fs::create_dir_all(&self.dir).map_err(|e| io(&self.dir, e))?;
        if let Ok(old) = fs::read(&path) {
            if old == bytes {
                return Ok(path);
            }
            let previous = self.path(&format!("{name}.previous"));
            fs::write(&previous, &old).map_err(|e| io(&previous, e))?;
        }
        // A fresh, unpredictable name opened with create_new: a planted symlink or file in a
        // shared directory cannot redirect the write.
        let tmp = self.path(&format!(
            ".{name}.tmp-{}-{:016x}",
            std::process::id(),
            rand_core::RngCore::next_u64(&mut rand_core::OsRng)
        ));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            sync_dir(&self.dir)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(|e| io(&path, e))?;
        Ok(path)
    }
}

/// Creates `path` with `mode` and `bytes`; identical existing content is accepted, anything
/// else existing is refused.
pub fn write_secret_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WorkspaceError> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
    {
        Ok(mut f) => {
            let result = f.write_all(bytes).and_then(|()| f.sync_all());
            if let Err(e) = result {
                drop(f);
                let _ = fs::remove_file(path);
                return Err(io(path, e));
            }
            // create_new honours the umask; make the mode exact.
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| io(path, e))?;
            // The file may be the only copy of a secret the Coordinator hands out once.
            sync_dir(path.parent().unwrap_or(Path::new("."))).map_err(|e| io(path, e))?;
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let existing = fs::read(path).map_err(|e| io(path, e))?;
            if existing == bytes {
                Ok(())
            } else {
                Err(WorkspaceError::WouldOverwrite {
                    path: path.to_path_buf(),
                })
            }
        }
        Err(e) => Err(io(path, e)),
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_0600_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path());
        let path = ws.write_secret(SEED_SHARES_FILE, b"one").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        ws.write_secret(SEED_SHARES_FILE, b"one").unwrap();
        let err = ws.write_secret(SEED_SHARES_FILE, b"two").unwrap_err();
        assert!(
            matches!(err, WorkspaceError::WouldOverwrite { .. }),
            "{err}"
        );
        assert_eq!(fs::read(&path).unwrap(), b"one");
    }

    #[test]
    fn public_files_keep_the_previous_version() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path());
        ws.write_public(MESH_CA_FILE, b"a").unwrap();
        ws.write_public(MESH_CA_FILE, b"b").unwrap();
        assert_eq!(ws.read(MESH_CA_FILE).unwrap().unwrap(), b"b");
        assert_eq!(ws.read("mesh-ca.pem.previous").unwrap().unwrap(), b"a");
    }

    #[test]
    fn open_secret_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        fs::write(&path, b"x").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = Workspace::new(dir.path()).read_secret(&path).unwrap_err();
        assert!(
            matches!(err, WorkspaceError::TooOpen { mode: 0o644, .. }),
            "{err}"
        );
    }
}
