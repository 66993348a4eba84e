//! The key store against files, the in-memory fallback and (where one runs) a real keyring.

use super::*;
use crate::workspace::WorkspaceError;
use seedward_shared::keys::KeyError;
use std::os::unix::fs::PermissionsExt as _;

fn file_store() -> (tempfile::TempDir, KeyStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::open(&Workspace::new(dir.path()), KeyStorePreference::File).unwrap();
    (dir, store)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn round_trip(store: &KeyStore) {
    let owner = store
        .generate(KeyKind::SeedShareOwner, DEFAULT_OWNER_KEY)
        .unwrap();
    let workload = store
        .generate(KeyKind::WorkloadOwner, DEFAULT_WORKLOAD_KEY)
        .unwrap();
    assert_eq!(owner.public_hex.len(), 64);
    assert_eq!(
        store
            .load_owner(DEFAULT_OWNER_KEY)
            .unwrap()
            .public_key()
            .to_hex(),
        owner.public_hex
    );
    assert_eq!(
        store
            .load_workload(DEFAULT_WORKLOAD_KEY)
            .unwrap()
            .public_key()
            .to_hex(),
        workload.public_hex
    );
    let list = store.list().unwrap();
    assert_eq!(list, vec![owner.clone(), workload.clone()]);
    assert_eq!(list[0].fingerprint.len(), 39);
    // Public export parses back to the same key.
    let pem = store.export_public_pem(DEFAULT_OWNER_KEY).unwrap();
    assert_eq!(
        OwnerPublicKey::from_spki_pem(&pem).unwrap().to_hex(),
        owner.public_hex
    );
    let pem = store.export_public_pem(DEFAULT_WORKLOAD_KEY).unwrap();
    assert_eq!(
        WorkloadOwnerPublicKey::from_spki_pem(&pem)
            .unwrap()
            .to_hex(),
        workload.public_hex
    );
    // Names are never reused.
    let err = store
        .generate(KeyKind::WorkloadOwner, DEFAULT_OWNER_KEY)
        .unwrap_err();
    assert!(matches!(err, KeyStoreError::Exists { .. }), "{err}");
    // The wrong kind is named.
    let err = store.load_workload(DEFAULT_OWNER_KEY).err().unwrap();
    assert!(matches!(err, KeyStoreError::WrongKind { .. }), "{err}");
    let err = store.load_owner("nope").unwrap_err();
    assert!(matches!(err, KeyStoreError::NotFound { .. }), "{err}");
}

#[test]
fn memory_store_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::in_memory(&Workspace::new(dir.path()));
    assert_eq!(store.backend(), Backend::Memory);
    round_trip(&store);
    // Nothing on disk.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn file_store_round_trips_with_strict_modes() {
    let (dir, store) = file_store();
    assert_eq!(store.backend(), Backend::File);
    assert!(store.warning().is_none());
    round_trip(&store);
    let keys = dir.path().join(KEYS_DIR);
    assert_eq!(mode(&keys), 0o700);
    assert_eq!(mode(&keys.join("seedshare-owner.pem")), 0o600);
    assert_eq!(mode(&keys.join("workload-owner.pem")), 0o600);
    // The index holds public facts only.
    let index = fs::read_to_string(dir.path().join(INDEX_FILE)).unwrap();
    assert!(!index.contains("PRIVATE"), "{index}");
    assert!(index.contains("\"backend\": \"file\""), "{index}");
    // A fresh store sees the same keys.
    let again = KeyStore::open(&Workspace::new(dir.path()), KeyStorePreference::File).unwrap();
    assert_eq!(again.list().unwrap(), store.list().unwrap());
    again.load_owner(DEFAULT_OWNER_KEY).unwrap();
}

#[test]
fn file_store_never_overwrites() {
    let (dir, store) = file_store();
    // A stray file with the name is not replaced.
    let keys = dir.path().join(KEYS_DIR);
    fs::create_dir_all(&keys).unwrap();
    let stray = keys.join("taken.pem");
    fs::write(&stray, b"not a key").unwrap();
    fs::set_permissions(&stray, fs::Permissions::from_mode(0o600)).unwrap();
    let err = store
        .generate(KeyKind::SeedShareOwner, "taken")
        .unwrap_err();
    assert!(matches!(err, KeyStoreError::WouldOverwrite { .. }), "{err}");
    assert_eq!(fs::read(&stray).unwrap(), b"not a key");
    // Private export is create_new, 0600.
    store.generate(KeyKind::SeedShareOwner, "a").unwrap();
    let out = dir.path().join("exported.pem");
    store.export_private_to("a", &out).unwrap();
    assert_eq!(mode(&out), 0o600);
    let err = store.export_private_to("a", &out).unwrap_err();
    assert!(matches!(err, KeyStoreError::WouldOverwrite { .. }), "{err}");
    // The exported key imports elsewhere to the same public key.
    let other = tempfile::tempdir().unwrap();
    let other = KeyStore::open(&Workspace::new(other.path()), KeyStorePreference::File).unwrap();
    let pem = fs::read_to_string(&out).unwrap();
    let imported = other
        .import_pem(KeyKind::SeedShareOwner, "a", &pem)
        .unwrap();
    assert_eq!(
        imported.public_hex,
        store.find("a").unwrap().unwrap().public_hex
    );
}

#[test]
fn open_key_files_are_refused() {
    let (dir, store) = file_store();
    store
        .generate(KeyKind::SeedShareOwner, DEFAULT_OWNER_KEY)
        .unwrap();
    let path = dir.path().join(KEYS_DIR).join("seedshare-owner.pem");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let err = store.load_owner(DEFAULT_OWNER_KEY).unwrap_err();
    assert!(
        matches!(
            err,
            KeyStoreError::Workspace(WorkspaceError::TooOpen { mode: 0o644, .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

#[test]
fn import_accepts_pkcs8_and_sec1_and_names_the_wrong_kind() {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::in_memory(&Workspace::new(dir.path()));
    let workload = WorkloadOwnerKeyPair::generate(&mut OsRng);
    let sec1 = store
        .import_pem(KeyKind::WorkloadOwner, "sec1", &workload.to_sec1_pem())
        .unwrap();
    assert_eq!(sec1.public_hex, workload.public_key().to_hex());
    store
        .import_pem(
            KeyKind::WorkloadOwner,
            "pkcs8",
            &WorkloadOwnerKeyPair::generate(&mut OsRng).to_pkcs8_pem(),
        )
        .unwrap();
    let owner = OwnerKeyPair::generate(&mut OsRng);
    store
        .import_pem(KeyKind::SeedShareOwner, "owner", &owner.to_pkcs8_pem())
        .unwrap();
    // A workload key where an owner key is expected, and the other way round.
    let err = store
        .import_pem(KeyKind::SeedShareOwner, "x", &workload.to_pkcs8_pem())
        .unwrap_err();
    assert!(
        matches!(
            err,
            KeyStoreError::Key {
                source: KeyError::WrongKeyType { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("X25519"), "{err}");
    let err = store
        .import_pem(KeyKind::WorkloadOwner, "y", &owner.to_pkcs8_pem())
        .unwrap_err();
    assert!(
        matches!(
            err,
            KeyStoreError::Key {
                source: KeyError::WrongKeyType { .. },
                ..
            }
        ),
        "{err}"
    );
    // Nothing was stored for the refused imports.
    assert_eq!(store.list().unwrap().len(), 3);
    assert!(matches!(
        store.generate(KeyKind::SeedShareOwner, "../x"),
        Err(KeyStoreError::InvalidName(_))
    ));
}

#[test]
fn errors_and_debug_carry_no_key_material() {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::in_memory(&Workspace::new(dir.path()));
    let owner = OwnerKeyPair::generate(&mut OsRng);
    let pem = owner.to_pkcs8_pem();
    store
        .import_pem(KeyKind::SeedShareOwner, "k", &pem)
        .unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let debug = format!("{store:?}");
    assert!(!debug.contains(&body), "{debug}");
    let err = store
        .import_pem(KeyKind::WorkloadOwner, "k2", &pem)
        .unwrap_err();
    assert!(!err.to_string().contains(&body));
    assert!(!format!("{err:?}").contains(&body));
}

#[test]
fn account_names_are_documented_shape() {
    let id = workspace_id(Path::new("/home/ada/prod"));
    assert_eq!(id.len(), 16);
    assert_eq!(
        keyring_account(KeyKind::SeedShareOwner, "seedshare-owner", &id),
        format!("owner:seedshare-owner:{id}")
    );
    assert_eq!(id, hex::encode(&Sha256::digest(b"/home/ada/prod")[..8]));
}

/// Runs against a real Secret Service. `scripts/test.sh` starts one (gnome-keyring in a
/// private D-Bus session) and sets `SEEDWARD_TEST_SECRET_SERVICE=1`; with the variable
/// set, this test must run and pass, never skip.
#[test]
#[ignore = "needs an unlocked Secret Service; scripts/test.sh runs it inside one"]
fn real_secret_service_round_trip() {
    assert_eq!(
        std::env::var("SEEDWARD_TEST_SECRET_SERVICE").as_deref(),
        Ok("1"),
        "this test needs an unlocked Secret Service: run it through scripts/test.sh (which starts one) or set SEEDWARD_TEST_SECRET_SERVICE=1 inside such a session"
    );
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::new(dir.path());
    let store = KeyStore::open(&ws, KeyStorePreference::Keyring).unwrap();
    assert_eq!(store.backend(), Backend::Keyring);
    let auto = KeyStore::open(&ws, KeyStorePreference::Auto).unwrap();
    assert_eq!(auto.backend(), Backend::Keyring, "{:?}", auto.warning());
    let info = store
        .generate(KeyKind::SeedShareOwner, DEFAULT_OWNER_KEY)
        .unwrap();
    assert_eq!(info.backend, Backend::Keyring);
    // Nothing private in the workspace.
    assert!(!dir.path().join(KEYS_DIR).exists());
    // A new store (as a new process would open it) reads it back.
    let fresh = KeyStore::open(&ws, KeyStorePreference::Keyring).unwrap();
    let pair = fresh.load_owner(DEFAULT_OWNER_KEY).unwrap();
    assert_eq!(pair.public_key().to_hex(), info.public_hex);
    // Cross-check with an independent client of the Secret Service.
    let account = keyring_account(
        KeyKind::SeedShareOwner,
        DEFAULT_OWNER_KEY,
        store.workspace_id(),
    );
    let out = std::process::Command::new("secret-tool")
        .args(["search", "--all", "service", KEYRING_SERVICE])
        .output()
        .expect("secret-tool must be installed when SEEDWARD_TEST_SECRET_SERVICE=1 (apt-get install libsecret-tools)");
    // secret-tool prints the secret too; keep only the attribute lines.
    let text: String = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .lines()
    .filter(|l| l.starts_with('[') || (l.contains(" = ") && !l.trim_start().starts_with("secret")))
    .map(|l| format!("{l}\n"))
    .collect();
    assert!(
        text.contains(&account),
        "secret-tool does not list {account}:\n{text}"
    );
    // Clean up the scratch keyring.
    fresh.remove(DEFAULT_OWNER_KEY).unwrap();
    assert!(fresh.list().unwrap().is_empty());
}
