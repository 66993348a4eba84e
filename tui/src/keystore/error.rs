//! What can go wrong in the key store, each with the way out.

use std::path::{Path, PathBuf};

use seedward_shared::keys::KeyError;

use super::INDEX_FILE;
use crate::workspace::WorkspaceError;

/// Errors of the key store. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyStoreError {
    #[error(
        "invalid key name {0:?}: use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'"
    )]
    InvalidName(String),
    #[error(
        "a key named {name:?} already exists ({location}); Seedward never replaces a key. Pick another --name, or remove the old key yourself if you really mean to"
    )]
    Exists { name: String, location: String },
    #[error(
        "no key named {name:?} in this workspace's key store; `seedward keys list` shows the keys, `seedward keys generate` or `seedward keys import` adds one"
    )]
    NotFound { name: String },
    #[error(
        "the key {name:?} is a {found}, but a {expected} is needed here; pass the right --name"
    )]
    WrongKind {
        name: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("key {name:?}: {source}")]
    Key {
        name: String,
        #[source]
        source: KeyError,
    },
    #[error(
        "the key {name:?} does not match its public key in {INDEX_FILE}; the key store entry was replaced or damaged"
    )]
    IndexMismatch { name: String },
    #[error(
        "the OS keyring is not reachable ({detail}). Start and unlock a Secret Service (gnome-keyring, or KeePassXC with Secret Service integration enabled), or pass --key-store file to keep keys in 0600 files in the workspace"
    )]
    KeyringUnreachable { detail: String },
    #[error(
        "the OS keyring failed for key {name:?}: {detail}. The key is kept in the keyring only: start and unlock the keyring and try again (--key-store file cannot reach it; if the keyring lost it, import your backup with `seedward keys import`)"
    )]
    Keyring { name: String, detail: String },
    #[error(
        "{path} already exists; Seedward never overwrites a key file. Choose another path or move the old file away"
    )]
    WouldOverwrite { path: PathBuf },
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error(
        "{path} is damaged ({message}); it only lists public keys, so you can rebuild it by re-importing the keys"
    )]
    Index { path: PathBuf, message: String },
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
}

pub(super) fn io(path: &Path, err: std::io::Error) -> KeyStoreError {
    KeyStoreError::Io {
        path: path.to_path_buf(),
        message: err.to_string(),
    }
}
