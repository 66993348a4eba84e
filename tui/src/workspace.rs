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

use std::path::{Path, PathBuf};

use seedward_fs::Dir;
use zeroize::Zeroizing;

pub const SEED_SHARES_FILE: &str = "seed-shares.json";
pub const ROOT_CA_FILE: &str = "coordinator-root-ca.pem";
pub const MESH_CA_FILE: &str = "mesh-ca.pem";
pub const MANIFEST_FILE: &str = "manifest.json";
pub const SIGNING_KEY_FILE: &str = "history-signing-key.pem";

/// Largest workspace file read (manifests, bundles, certificates).
pub const READ_LIMIT: u64 = 256 << 20;
/// Largest secret file read (seed shares, key PEM).
pub const SECRET_READ_LIMIT: u64 = 1 << 20;

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
    let text = err.to_string();
    WorkspaceError::Io {
        path: path.to_path_buf(),
        // seedward-fs errors usually name the path already.
        message: text
            .strip_prefix(&format!("{}: ", path.display()))
            .map(str::to_owned)
            .unwrap_or(text),
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
        std::fs::symlink_metadata(self.path(name)).is_ok()
    }

    /// The workspace directory, created 0700 if missing.
    fn open_dir(&self) -> Result<Dir, WorkspaceError> {
        Dir::create(&self.dir, 0o700).map_err(|e| io(&self.dir, e))
    }

    /// Reads a file of the workspace; `Ok(None)` when it (or the workspace) does not exist.
    /// A symlink, a FIFO or a file over [`READ_LIMIT`] is an error.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, WorkspaceError> {
        let path = self.path(name);
        let dir = match Dir::open(&self.dir) {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&self.dir, e)),
        };
        dir.read(name, READ_LIMIT).map_err(|e| io(&path, e))
    }

    /// Reads a secret file (anywhere), refusing one that others can read, a symlink, or one
    /// over [`SECRET_READ_LIMIT`].
    pub fn read_secret(&self, path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>, WorkspaceError> {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return Err(WorkspaceError::Io {
                path: path.to_path_buf(),
                message: "not a file name".into(),
            });
        };
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = match Dir::open(parent) {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(parent, e)),
        };
        match dir.file_mode(name).map_err(|e| io(path, e))? {
            None => return Ok(None),
            Some(mode) if mode & 0o077 != 0 => {
                return Err(WorkspaceError::TooOpen {
                    path: path.to_path_buf(),
                    mode: mode & 0o777,
                });
            }
            Some(_) => {}
        }
        dir.read_secret(name, SECRET_READ_LIMIT)
            .map_err(|e| io(path, e))
    }

    /// Writes a secret file 0600, never replacing a different existing one.
    pub fn write_secret(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, WorkspaceError> {
        let path = self.path(name);
        write_secret_file(&path, bytes, 0o600)?;
        Ok(path)
    }

    /// Writes a public file atomically, keeping a replaced one as `<name>.previous`
    /// (itself replaced atomically: a planted `.previous` symlink is replaced, never
    /// followed).
    pub fn write_public(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, WorkspaceError> {
        let path = self.path(name);
        let dir = self.open_dir()?;
        if let Some(old) = dir.read(name, READ_LIMIT).map_err(|e| io(&path, e))? {
            if old == bytes {
                return Ok(path);
            }
            let previous = format!("{name}.previous");
            dir.write_atomic(&previous, &old, 0o644)
                .map_err(|e| io(&self.path(&previous), e))?;
        }
        dir.write_atomic(name, bytes, 0o644)
            .map_err(|e| io(&path, e))?;
        Ok(path)
    }
}

impl Workspace {
    /// Replaces a public file atomically, without keeping the previous version (indexes).
    pub fn replace_public(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, WorkspaceError> {
        let path = self.path(name);
        self.open_dir()?
            .write_atomic(name, bytes, 0o644)
            .map_err(|e| io(&path, e))?;
        Ok(path)
    }
}

/// Creates `path` with `mode` and `bytes` (its directory 0700 if missing); identical
/// existing content is accepted, anything else existing — a symlink included — is refused.
pub fn write_secret_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WorkspaceError> {
    let (dir, name) = Dir::parent_of(path, 0o700).map_err(|e| io(path, e))?;
    let name = name.as_str();
    match dir.create_new(name, bytes, mode) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let existing = dir
                .read_secret(name, SECRET_READ_LIMIT)
                .map_err(|e| io(path, e))?;
            if existing.as_deref().map(Vec::as_slice) == Some(bytes) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt as _;

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

    #[test]
    fn a_planted_previous_symlink_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"keep").unwrap();
        let ws = Workspace::new(dir.path().join("ws"));
        ws.write_public(MESH_CA_FILE, b"a").unwrap();
        std::os::unix::fs::symlink(&victim, ws.path("mesh-ca.pem.previous")).unwrap();
        ws.write_public(MESH_CA_FILE, b"b").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        assert_eq!(ws.read("mesh-ca.pem.previous").unwrap().unwrap(), b"a");
        // The workspace directory was created private.
        assert_eq!(
            fs::metadata(ws.dir()).unwrap().permissions().mode() & 0o777,
            0o700
        );
        // A symlinked secret is refused for reading and writing.
        std::os::unix::fs::symlink(&victim, ws.path(SEED_SHARES_FILE)).unwrap();
        assert!(ws.write_secret(SEED_SHARES_FILE, b"x").is_err());
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
    }
}
