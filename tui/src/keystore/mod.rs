//! Owner keys at rest: the OS keyring, or 0600 files in the workspace.
//!
//! Seedward keeps two kinds of private keys for an operator: the seed share owner key
//! (X25519, [`KeyKind::SeedShareOwner`]) and the workload owner key (ECDSA P-384,
//! [`KeyKind::WorkloadOwner`]). Each key has a name (default [`DEFAULT_OWNER_KEY`] and
//! [`DEFAULT_WORKLOAD_KEY`]) that is unique within a workspace.
//!
//! # Where the private half lives
//!
//! | backend | location |
//! |---|---|
//! | [`Backend::Keyring`] | the OS keyring (Secret Service on Linux, Keychain, Windows Credential Manager): service `seedward`, account `<kind>:<name>:<workspace-id>` |
//! | [`Backend::File`] | `<workspace>/keys/<name>.pem`; directory 0700, file 0600, created with `create_new` |
//! | [`Backend::Memory`] | process memory only (tests) |
//!
//! - `<kind>` is `owner` or `workload`.
//! - `<workspace-id>` is the lowercase hex of the first 8 bytes of SHA-256 over the
//!   canonical workspace path (absolute, symlinks resolved, as raw bytes), e.g.
//!   `SHA-256("/home/ada/prod")[..8]` → `3f2a91c077de0b12`. Two workspaces therefore never
//!   share a keyring entry, and moving a workspace directory detaches it from its keyring
//!   entries (move them with `keys export --private` / `keys import`).
//! - The stored secret is the PKCS#8 PEM text of the private key (`-----BEGIN PRIVATE
//!   KEY-----`), the same bytes `keys export --private` writes.
//!
//! # The index
//!
//! Many keyrings cannot enumerate entries, so the workspace keeps `seedward-keys.json`
//! with the *public* facts only:
//!
//! ```json
//! {"version":1,"keys":[{"name":"seedshare-owner","kind":"owner","backend":"keyring","public_hex":"…"}]}
//! ```
//!
//! `public_hex` is the manifest form of the public key (64 hex characters for an owner
//! key, hex of the SPKI DER for a workload key). Loading a key checks that the private key
//! matches it.
//!
//! # Invariants
//! - A name is never reused: `generate` and `import_pem` refuse an existing name.
//! - A key file readable by group or others is refused (with the `chmod` that fixes it).
//! - Private PEM text is held in [`Zeroizing`] and never appears in errors or `Debug`.
//! - [`KeyStorePreference::Auto`] uses the keyring when a probe (a read of a random,
//!   non-existent entry must answer "no entry") succeeds within a few seconds; otherwise
//!   it uses files and [`KeyStore::warning`] says how to enable a keyring.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rand_core::OsRng;
use seedward_fs::Dir;
use seedward_shared::keys::{
    KeyError, OwnerKeyPair, OwnerPublicKey, WorkloadOwnerKeyPair, WorkloadOwnerPublicKey,
};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::workspace::Workspace;

mod error;
mod os_keyring;
pub use error::KeyStoreError;
use error::io;
use os_keyring::{describe_keyring_error, keyring_entry, probe_keyring};

/// Default name of the seed share owner key.
pub const DEFAULT_OWNER_KEY: &str = "seedshare-owner";
/// Default name of the workload owner key.
pub const DEFAULT_WORKLOAD_KEY: &str = "workload-owner";
/// Keyring service name of every Seedward entry.
pub const KEYRING_SERVICE: &str = "seedward";
/// The index file in the workspace (public information only).
pub const INDEX_FILE: &str = "seedward-keys.json";
/// The folder of file-backed keys in the workspace.
pub const KEYS_DIR: &str = "keys";
const INDEX_VERSION: u32 = 1;

/// What a key is for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum KeyKind {
    /// X25519: decrypts the seed share, authenticates recovery.
    #[serde(rename = "owner")]
    SeedShareOwner,
    /// ECDSA P-384: signs manifest updates.
    #[serde(rename = "workload")]
    WorkloadOwner,
}

impl KeyKind {
    /// `owner` or `workload`: the form used on the command line, in the index and in
    /// keyring account names.
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyKind::SeedShareOwner => "owner",
            KeyKind::WorkloadOwner => "workload",
        }
    }

    /// A phrase for people.
    pub fn describe(&self) -> &'static str {
        match self {
            KeyKind::SeedShareOwner => "seed share owner key (X25519)",
            KeyKind::WorkloadOwner => "workload owner key (ECDSA P-384)",
        }
    }

    /// The default key name of this kind.
    pub fn default_name(&self) -> &'static str {
        match self {
            KeyKind::SeedShareOwner => DEFAULT_OWNER_KEY,
            KeyKind::WorkloadOwner => DEFAULT_WORKLOAD_KEY,
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a key's private half lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Keyring,
    File,
    Memory,
}

impl Backend {
    pub fn as_str(&self) -> &'static str {
        match self {
            Backend::Keyring => "keyring",
            Backend::File => "file",
            Backend::Memory => "memory",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which backend new keys go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyStorePreference {
    /// The OS keyring if reachable, else 0600 files in the workspace and a warning.
    #[default]
    Auto,
    /// The OS keyring, or an error.
    Keyring,
    /// 0600 files in the workspace.
    File,
}

/// Public facts about a stored key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyInfo {
    pub name: String,
    pub kind: KeyKind,
    pub backend: Backend,
    /// The manifest form of the public key.
    pub public_hex: String,
    /// The key's fingerprint, `xxxx:…:xxxx` (see `seedward_shared::keys::Fingerprint`).
    pub fingerprint: String,
}

/// One entry of `seedward-keys.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct IndexEntry {
    name: String,
    kind: KeyKind,
    backend: Backend,
    public_hex: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct IndexFile {
    version: u32,
    keys: Vec<IndexEntry>,
}

#[derive(Default)]
struct MemoryKeys {
    secrets: BTreeMap<String, Zeroizing<String>>,
    index: Vec<IndexEntry>,
}

/// The key store of one workspace. Cheap to clone (the memory backend is shared).
#[derive(Clone)]
pub struct KeyStore {
    workspace: Workspace,
    backend: Backend,
    warning: Option<String>,
    workspace_id: String,
    memory: Option<Arc<Mutex<MemoryKeys>>>,
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyStore")
            .field("workspace", &self.workspace.dir())
            .field("backend", &self.backend)
            .field("workspace_id", &self.workspace_id)
            .finish_non_exhaustive()
    }
}

/// The warning shown when `Auto` falls back to files.
pub fn fallback_warning(detail: &str) -> String {
    format!(
        "no OS keyring is reachable ({detail}); owner keys are kept in 0600 files under keys/ in the workspace. \
         To use a keyring, install and unlock gnome-keyring (or enable KeePassXC's Secret Service integration) \
         and run seedward again; pass --key-store file to silence this warning"
    )
}

/// How [`stranded_warning`] starts (the UI tells it from the plain fallback by this).
pub const STRANDED_PREFIX: &str = "the OS keyring is not reachable, and it holds your keys";

/// The warning when `Auto` falls back to files although the index lists keys kept in the
/// keyring: those keys are only reachable through it.
pub fn stranded_warning(detail: &str, names: &[&str]) -> String {
    format!(
        "{STRANDED_PREFIX} {} ({detail}). Start and unlock it (gnome-keyring, or KeePassXC's Secret Service integration) and run seedward again; --key-store file cannot reach keys kept in the keyring. Until then new keys would go to 0600 files under keys/",
        names.join(", ")
    )
}

/// The workspace id used in keyring account names: lowercase hex of the first 8 bytes of
/// SHA-256 over the canonical workspace path.
pub fn workspace_id(canonical: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    hex::encode(&Sha256::digest(canonical.as_os_str().as_bytes())[..8])
}

/// The keyring account name of a key: `<kind>:<name>:<workspace-id>`.
pub fn keyring_account(kind: KeyKind, name: &str, workspace_id: &str) -> String {
    format!("{}:{name}:{workspace_id}", kind.as_str())
}

impl KeyStore {
    /// Opens the key store of `workspace` (creating the workspace directory if needed).
    pub fn open(workspace: &Workspace, pref: KeyStorePreference) -> Result<Self, KeyStoreError> {
        let dir = workspace.dir();
        Dir::create(dir, 0o700).map_err(|e| io(dir, e))?;
        let canonical = fs::canonicalize(dir).map_err(|e| io(dir, e))?;
        let id = workspace_id(&canonical);
        let mut fallback_detail = None;
        let (backend, warning) = match pref {
            KeyStorePreference::File => (Backend::File, None),
            KeyStorePreference::Keyring => match probe_keyring(&id) {
                Ok(()) => (Backend::Keyring, None),
                Err(detail) => return Err(KeyStoreError::KeyringUnreachable { detail }),
            },
            KeyStorePreference::Auto => match probe_keyring(&id) {
                Ok(()) => (Backend::Keyring, None),
                Err(detail) => {
                    let warning = fallback_warning(&detail);
                    fallback_detail = Some(detail);
                    (Backend::File, Some(warning))
                }
            },
        };
        let mut store = Self {
            workspace: Workspace::new(canonical),
            backend,
            warning,
            workspace_id: id,
            memory: None,
        };
        // Keys already kept in the unreachable keyring: files are no way to reach them.
        if let (Some(detail), Ok(index)) = (fallback_detail, store.read_index()) {
            let stranded: Vec<&str> = index
                .iter()
                .filter(|e| e.backend == Backend::Keyring)
                .map(|e| e.name.as_str())
                .collect();
            if !stranded.is_empty() {
                store.warning = Some(stranded_warning(&detail, &stranded));
            }
        }
        Ok(store)
    }

    /// A store that keeps everything in memory (tests); nothing touches the disk.
    pub fn in_memory(workspace: &Workspace) -> Self {
        Self {
            workspace: workspace.clone(),
            backend: Backend::Memory,
            warning: None,
            workspace_id: workspace_id(workspace.dir()),
            memory: Some(Arc::new(Mutex::new(MemoryKeys::default()))),
        }
    }

    /// Set when `Auto` fell back to files: says how to enable a keyring.
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// Where new keys go.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The id of this workspace in keyring account names.
    pub fn workspace_id(&self) -> &str {
        &self.workspace_id
    }

    /// Every key of this workspace, sorted by name.
    pub fn list(&self) -> Result<Vec<KeyInfo>, KeyStoreError> {
        let mut entries = self.read_index()?;
        if self.memory.is_none() {
            // Key files copied in by hand count too.
            let extra = self.unindexed_key_files(&entries)?;
            entries.extend(extra.into_iter().map(|(_, entry)| entry));
        }
        let mut infos = entries.iter().map(info_of).collect::<Result<Vec<_>, _>>()?;
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(infos)
    }

    /// The key named `name`, if any.
    pub fn find(&self, name: &str) -> Result<Option<KeyInfo>, KeyStoreError> {
        Ok(self.list()?.into_iter().find(|k| k.name == name))
    }

    /// Draws a new key and stores it; refuses an existing name.
    pub fn generate(&self, kind: KeyKind, name: &str) -> Result<KeyInfo, KeyStoreError> {
        check_name(name)?;
        let (pem, public_hex) = match kind {
            KeyKind::SeedShareOwner => {
                let pair = OwnerKeyPair::generate(&mut OsRng);
                (pair.to_pkcs8_pem(), pair.public_key().to_hex())
            }
            KeyKind::WorkloadOwner => {
                let pair = WorkloadOwnerKeyPair::generate(&mut OsRng);
                (pair.to_pkcs8_pem(), pair.public_key().to_hex())
            }
        };
        self.store(kind, name, &pem, public_hex)
    }

    /// Imports a private key PEM: PKCS#8 for either kind, SEC1 (`EC PRIVATE KEY`) for a
    /// workload owner key. A key of the other kind is refused with a clear error.
    pub fn import_pem(
        &self,
        kind: KeyKind,
        name: &str,
        pem: &str,
    ) -> Result<KeyInfo, KeyStoreError> {
        check_name(name)?;
        let key_err = |source| KeyStoreError::Key {
            name: name.to_string(),
            source,
        };
        let (normalized, public_hex) = match kind {
            KeyKind::SeedShareOwner => {
                let pair = OwnerKeyPair::from_pkcs8_pem(pem).map_err(key_err)?;
                (pair.to_pkcs8_pem(), pair.public_key().to_hex())
            }
            KeyKind::WorkloadOwner => {
                let pair = WorkloadOwnerKeyPair::from_pem(pem).map_err(key_err)?;
                (pair.to_pkcs8_pem(), pair.public_key().to_hex())
            }
        };
        self.store(kind, name, &normalized, public_hex)
    }

    /// Loads a seed share owner key.
    pub fn load_owner(&self, name: &str) -> Result<OwnerKeyPair, KeyStoreError> {
        self.load_checked(
            name,
            KeyKind::SeedShareOwner,
            OwnerKeyPair::from_pkcs8_pem,
            |pair| pair.public_key().to_hex(),
        )
    }

    /// Loads a workload owner key.
    pub fn load_workload(&self, name: &str) -> Result<WorkloadOwnerKeyPair, KeyStoreError> {
        self.load_checked(
            name,
            KeyKind::WorkloadOwner,
            WorkloadOwnerKeyPair::from_pem,
            |pair| pair.public_key().to_hex(),
        )
    }

    /// Loads the private key `name` of `kind`, parses it and checks it against the public
    /// key in the index.
    fn load_checked<P>(
        &self,
        name: &str,
        kind: KeyKind,
        parse: impl FnOnce(&str) -> Result<P, KeyError>,
        public_hex: impl FnOnce(&P) -> String,
    ) -> Result<P, KeyStoreError> {
        let entry = self.entry(name, kind)?;
        let pem = self.load_private(&entry)?;
        let pair = parse(&pem).map_err(|source| KeyStoreError::Key {
            name: name.to_string(),
            source,
        })?;
        if public_hex(&pair) != entry.public_hex {
            return Err(KeyStoreError::IndexMismatch {
                name: name.to_string(),
            });
        }
        Ok(pair)
    }

    /// The public key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn export_public_pem(&self, name: &str) -> Result<String, KeyStoreError> {
        let info = self.find(name)?.ok_or_else(|| KeyStoreError::NotFound {
            name: name.to_string(),
        })?;
        let key_err = |source| KeyStoreError::Key {
            name: name.to_string(),
            source,
        };
        match info.kind {
            KeyKind::SeedShareOwner => Ok(OwnerPublicKey::from_hex(&info.public_hex)
                .map_err(key_err)?
                .to_spki_pem()),
            KeyKind::WorkloadOwner => Ok(WorkloadOwnerPublicKey::from_hex(&info.public_hex)
                .map_err(key_err)?
                .to_spki_pem()),
        }
    }

    /// The private key as PKCS#8 PEM. Callers decide where it may go; prefer
    /// [`KeyStore::export_private_to`].
    pub fn export_private_pem(&self, name: &str) -> Result<Zeroizing<String>, KeyStoreError> {
        let info = self.find(name)?.ok_or_else(|| KeyStoreError::NotFound {
            name: name.to_string(),
        })?;
        match info.kind {
            KeyKind::SeedShareOwner => Ok(self.load_owner(name)?.to_pkcs8_pem()),
            KeyKind::WorkloadOwner => Ok(self.load_workload(name)?.to_pkcs8_pem()),
        }
    }

    /// Writes the private key as PKCS#8 PEM to `path`: mode 0600, `create_new`, never
    /// overwriting anything.
    pub fn export_private_to(&self, name: &str, path: &Path) -> Result<(), KeyStoreError> {
        let pem = self.export_private_pem(name)?;
        write_new_secret(path, pem.as_bytes())
    }

    /// Deletes a key's private half and its index entry. Used by tests to clean up a
    /// real keyring; there is no subcommand for it on purpose.
    pub fn remove(&self, name: &str) -> Result<(), KeyStoreError> {
        let mut entries = self.read_index()?;
        let Some(pos) = entries.iter().position(|e| e.name == name) else {
            return Err(KeyStoreError::NotFound {
                name: name.to_string(),
            });
        };
        let entry = entries.remove(pos);
        match entry.backend {
            Backend::Memory => {
                if let Some(memory) = &self.memory {
                    lock(memory).secrets.remove(name);
                }
            }
            Backend::File => {
                let path = self.key_path(name);
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(io(&path, e)),
                }
            }
            Backend::Keyring => {
                let account = keyring_account(entry.kind, name, &self.workspace_id);
                match keyring_entry(&account).and_then(|e| e.delete_credential()) {
                    Ok(()) | Err(keyring::Error::NoEntry) => {}
                    Err(e) => {
                        return Err(KeyStoreError::Keyring {
                            name: name.to_string(),
                            detail: describe_keyring_error(&e),
                        });
                    }
                }
            }
        }
        self.write_index(entries)
    }

    // ------------------------------------------------------------------------------------

    fn entry(&self, name: &str, kind: KeyKind) -> Result<IndexEntry, KeyStoreError> {
        let mut entries = self.read_index()?;
        if self.memory.is_none() {
            entries.extend(
                self.unindexed_key_files(&entries)?
                    .into_iter()
                    .map(|(_, e)| e),
            );
        }
        let entry = entries
            .into_iter()
            .find(|e| e.name == name)
            .ok_or_else(|| KeyStoreError::NotFound {
                name: name.to_string(),
            })?;
        if entry.kind != kind {
            return Err(KeyStoreError::WrongKind {
                name: name.to_string(),
                expected: kind.describe(),
                found: entry.kind.describe(),
            });
        }
        Ok(entry)
    }

    fn store(
        &self,
        kind: KeyKind,
        name: &str,
        pem: &Zeroizing<String>,
        public_hex: String,
    ) -> Result<KeyInfo, KeyStoreError> {
        if let Some(existing) = self.find(name)? {
            return Err(KeyStoreError::Exists {
                name: name.to_string(),
                location: format!(
                    "a {} in the {} store",
                    existing.kind.describe(),
                    existing.backend
                ),
            });
        }
        match self.backend {
            Backend::Memory => {
                if let Some(memory) = &self.memory {
                    lock(memory).secrets.insert(name.to_string(), pem.clone());
                }
            }
            Backend::File => {
                let path = self.workspace.path(KEYS_DIR);
                let dir = Dir::create(&path, 0o700).map_err(|e| io(&path, e))?;
                dir.set_mode(0o700).map_err(|e| io(&path, e))?;
                write_new_secret(&self.key_path(name), pem.as_bytes())?;
            }
            Backend::Keyring => {
                let account = keyring_account(kind, name, &self.workspace_id);
                let keyring_err = |e: keyring::Error| KeyStoreError::Keyring {
                    name: name.to_string(),
                    detail: describe_keyring_error(&e),
                };
                let entry = keyring_entry(&account).map_err(keyring_err)?;
                match entry.get_password() {
                    Ok(_) => {
                        return Err(KeyStoreError::Exists {
                            name: name.to_string(),
                            location: format!(
                                "OS keyring entry service={KEYRING_SERVICE} account={account}"
                            ),
                        });
                    }
                    Err(keyring::Error::NoEntry) => {}
                    Err(e) => return Err(keyring_err(e)),
                }
                entry.set_password(pem).map_err(keyring_err)?;
            }
        }
        let entry = IndexEntry {
            name: name.to_string(),
            kind,
            backend: self.backend,
            public_hex,
        };
        let mut entries = self.read_index()?;
        entries.push(entry.clone());
        self.write_index(entries)?;
        info_of(&entry)
    }

    fn load_private(&self, entry: &IndexEntry) -> Result<Zeroizing<String>, KeyStoreError> {
        let name = &entry.name;
        match entry.backend {
            Backend::Memory => self
                .memory
                .as_ref()
                .and_then(|m| lock(m).secrets.get(name).cloned())
                .ok_or_else(|| KeyStoreError::NotFound { name: name.clone() }),
            Backend::File => {
                let path = self.key_path(name);
                let bytes = self
                    .workspace
                    .read_secret(&path)?
                    .ok_or_else(|| KeyStoreError::NotFound { name: name.clone() })?;
                let text = std::str::from_utf8(&bytes).map_err(|_| KeyStoreError::Io {
                    path: path.clone(),
                    message: "not a PEM text file".into(),
                })?;
                Ok(Zeroizing::new(text.to_string()))
            }
            Backend::Keyring => {
                let account = keyring_account(entry.kind, name, &self.workspace_id);
                let keyring_err = |e: keyring::Error| KeyStoreError::Keyring {
                    name: name.clone(),
                    detail: describe_keyring_error(&e),
                };
                match keyring_entry(&account).and_then(|e| e.get_password()) {
                    Ok(pem) => Ok(Zeroizing::new(pem)),
                    Err(keyring::Error::NoEntry) => Err(KeyStoreError::Keyring {
                        name: name.clone(),
                        detail: format!(
                            "{INDEX_FILE} lists it, but the keyring has no entry service={KEYRING_SERVICE} account={account} (was the workspace moved, or the keyring reset?)"
                        ),
                    }),
                    Err(e) => Err(keyring_err(e)),
                }
            }
        }
    }

    fn key_path(&self, name: &str) -> PathBuf {
        self.workspace.path(KEYS_DIR).join(format!("{name}.pem"))
    }

    fn read_index(&self) -> Result<Vec<IndexEntry>, KeyStoreError> {
        if let Some(memory) = &self.memory {
            return Ok(lock(memory).index.clone());
        }
        let path = self.workspace.path(INDEX_FILE);
        let Some(bytes) = self.workspace.read(INDEX_FILE)? else {
            return Ok(Vec::new());
        };
        let file: IndexFile = serde_json::from_slice(&bytes).map_err(|e| KeyStoreError::Index {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if file.version != INDEX_VERSION {
            return Err(KeyStoreError::Index {
                path,
                message: format!(
                    "version {} is not supported; upgrade seedward",
                    file.version
                ),
            });
        }
        Ok(file.keys)
    }

    fn write_index(&self, mut keys: Vec<IndexEntry>) -> Result<(), KeyStoreError> {
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(memory) = &self.memory {
            lock(memory).index = keys;
            return Ok(());
        }
        let file = IndexFile {
            version: INDEX_VERSION,
            keys,
        };
        let path = self.workspace.path(INDEX_FILE);
        let mut json = serde_json::to_vec_pretty(&file).map_err(|e| KeyStoreError::Index {
            path: path.clone(),
            message: e.to_string(),
        })?;
        json.push(b'\n');
        self.workspace.replace_public(INDEX_FILE, &json)?;
        Ok(())
    }

    /// `keys/*.pem` files that the index does not list, parsed to learn their kind.
    fn unindexed_key_files(
        &self,
        indexed: &[IndexEntry],
    ) -> Result<Vec<(String, IndexEntry)>, KeyStoreError> {
        let dir = self.workspace.path(KEYS_DIR);
        let names = match Dir::open(&dir).and_then(|d| d.names()) {
            Ok(names) => names,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir, e)),
        };
        let mut found = Vec::new();
        for file_name in names {
            let Some(name) = file_name.strip_suffix(".pem") else {
                continue;
            };
            if check_name(name).is_err() || indexed.iter().any(|e| e.name == name) {
                continue;
            }
            let path = dir.join(&file_name);
            // Unreadable or open files are reported when the key is loaded, not here.
            let Ok(Some(bytes)) = self.workspace.read_secret(&path) else {
                continue;
            };
            let Ok(text) = std::str::from_utf8(&bytes) else {
                continue;
            };
            let entry = if let Ok(pair) = OwnerKeyPair::from_pkcs8_pem(text) {
                Some((KeyKind::SeedShareOwner, pair.public_key().to_hex()))
            } else if let Ok(pair) = WorkloadOwnerKeyPair::from_pem(text) {
                Some((KeyKind::WorkloadOwner, pair.public_key().to_hex()))
            } else {
                None
            };
            if let Some((kind, public_hex)) = entry {
                found.push((
                    name.to_string(),
                    IndexEntry {
                        name: name.to_string(),
                        kind,
                        backend: Backend::File,
                        public_hex,
                    },
                ));
            }
        }
        Ok(found)
    }
}

fn lock(memory: &Mutex<MemoryKeys>) -> std::sync::MutexGuard<'_, MemoryKeys> {
    memory.lock().unwrap_or_else(|e| e.into_inner())
}

fn info_of(entry: &IndexEntry) -> Result<KeyInfo, KeyStoreError> {
    let key_err = |source| KeyStoreError::Key {
        name: entry.name.clone(),
        source,
    };
    let fingerprint = match entry.kind {
        KeyKind::SeedShareOwner => OwnerPublicKey::from_hex(&entry.public_hex)
            .map_err(key_err)?
            .fingerprint()
            .to_string(),
        KeyKind::WorkloadOwner => WorkloadOwnerPublicKey::from_hex(&entry.public_hex)
            .map_err(key_err)?
            .fingerprint()
            .to_string(),
    };
    Ok(KeyInfo {
        name: entry.name.clone(),
        kind: entry.kind,
        backend: entry.backend,
        public_hex: entry.public_hex.clone(),
        fingerprint,
    })
}

fn check_name(name: &str) -> Result<(), KeyStoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(KeyStoreError::InvalidName(name.to_string()))
    }
}

/// Creates `path` with mode 0600 and `bytes`; an existing file (or symlink) is never
/// touched, and a crash never leaves a short key file.
fn write_new_secret(path: &Path, bytes: &[u8]) -> Result<(), KeyStoreError> {
    let (dir, name) = Dir::parent_of(path, 0o700).map_err(|e| io(path, e))?;
    match dir.create_new(&name, bytes, 0o600) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(KeyStoreError::WouldOverwrite {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(io(path, e)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests;
