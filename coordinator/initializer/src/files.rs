//! Writes the workload's credentials to the secrets root (layout and modes: see
//! [`super`]'s module docs).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use seedward_fs::Dir;
use seedward_proto::v1 as pb;
use zeroize::Zeroizing;

pub const TLS_DIR: &str = "tls-config";
pub const SECRETS_DIR: &str = "secrets";
pub const MESH_CA_FILE: &str = "mesh-ca.pem";
pub const CERT_CHAIN_FILE: &str = "cert-chain.pem";
pub const KEY_FILE: &str = "key.pem";
pub const ROOT_CA_FILE: &str = "coordinator-root-ca.pem";
pub const WORKLOAD_SECRET_FILE: &str = "workload-secret-seed";

/// The path of the workload secret file under `root`.
pub fn workload_secret_path(root: &Path) -> PathBuf {
    root.join(SECRETS_DIR).join(WORKLOAD_SECRET_FILE)
}

/// What [`write_credentials`] wrote.
#[derive(Debug)]
pub struct Written {
    pub files: Vec<PathBuf>,
    pub workload_secret: Option<PathBuf>,
}

/// Opens (creating if needed) a directory of the secrets volume with mode 0755. A
/// symlink is refused, never followed: the initializer must not chmod or write elsewhere.
fn open_dir(parent: Option<&Dir>, path: &Path, name: &str) -> anyhow::Result<Dir> {
    let dir = match parent {
        Some(parent) => parent.subdir(name, Some(0o755)),
        None => Dir::create(path, 0o755),
    }
    .with_context(|| {
        format!(
            "cannot open {}; mount a writable volume (a real directory, not a symlink) at the secrets root",
            path.display()
        )
    })?;
    dir.set_mode(0o755)
        .with_context(|| format!("cannot set mode 0755 on {}", path.display()))?;
    Ok(dir)
}

/// Whether `bytes` is a whole workload secret file: 128 lowercase hex characters.
fn is_complete_secret(bytes: &[u8]) -> bool {
    bytes.len() == 128
        && bytes
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

/// Writes key, certificates and (if present) the workload secret under `root`.
pub fn write_credentials(
    root: &Path,
    key_pem: &Zeroizing<String>,
    response: &pb::GetCredentialsResponse,
) -> anyhow::Result<Written> {
    let root_dir = open_dir(None, root, "")?;
    let tls = open_dir(Some(&root_dir), &root.join(TLS_DIR), TLS_DIR)?;
    let mut files = Vec::new();
    // The key first and the chain after it, so that a reader that sees a new chain also
    // finds its key.
    for (name, mode, content) in [
        (KEY_FILE, 0o600, key_pem.as_bytes()),
        (CERT_CHAIN_FILE, 0o444, response.cert_chain.as_bytes()),
        (MESH_CA_FILE, 0o444, response.mesh_ca_cert.as_bytes()),
        (ROOT_CA_FILE, 0o444, response.root_ca_cert.as_bytes()),
    ] {
        tls.write_atomic(name, content, mode)
            .with_context(|| format!("cannot write {}", tls.join(name).display()))?;
        files.push(tls.join(name));
    }
    let workload_secret = match &response.workload_secret {
        None => None,
        Some(secret) => {
            let secrets = open_dir(Some(&root_dir), &root.join(SECRETS_DIR), SECRETS_DIR)?;
            let path = secrets.join(WORKLOAD_SECRET_FILE);
            let hex = Zeroizing::new(hex::encode(secret));
            write_secret(&secrets, hex.as_bytes())?;
            Some(path)
        }
    };
    Ok(Written {
        files,
        workload_secret,
    })
}

/// Creates the workload secret file, never replacing a different complete secret. The
/// file appears whole or not at all ([`Dir::create_new`]); a short or empty file that an
/// older initializer left behind when it crashed mid-write is replaced.
fn write_secret(secrets: &Dir, hex: &[u8]) -> anyhow::Result<()> {
    let path = secrets.join(WORKLOAD_SECRET_FILE);
    match secrets.create_new(WORKLOAD_SECRET_FILE, hex, 0o400) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("cannot create {}", path.display())));
        }
    }
    let existing = secrets
        .read_secret(WORKLOAD_SECRET_FILE, 4096)
        .with_context(|| format!("cannot read the existing {}", path.display()))?
        .unwrap_or_default();
    if existing.as_slice() == hex {
        return Ok(());
    }
    if is_complete_secret(&existing) {
        anyhow::bail!(
            "{} exists and holds a different workload secret; the Coordinator's seed changed or the file was tampered with. Find out why before deleting it: data encrypted with the old secret needs it",
            path.display()
        );
    }
    tracing::warn!(
        file = %path.display(),
        bytes = existing.len(),
        "the workload secret file is incomplete (a crash while it was written); replacing it"
    );
    secrets
        .write_atomic(WORKLOAD_SECRET_FILE, hex, 0o400)
        .with_context(|| format!("cannot replace {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().mode() & 0o777
    }

    #[test]
    fn writes_files_with_modes_and_keeps_an_identical_secret() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("seedward");
        let response = pb::GetCredentialsResponse {
            cert_chain: "chain".into(),
            mesh_ca_cert: "mesh".into(),
            root_ca_cert: "root".into(),
            workload_secret: Some(vec![0xab; 64]),
        };
        let key = Zeroizing::new("KEY".to_string());
        let written = write_credentials(&root, &key, &response).unwrap();
        let secret = written.workload_secret.unwrap();
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "ab".repeat(64));
        assert_eq!(mode(&secret), 0o400);
        assert_eq!(mode(&root.join(TLS_DIR).join(KEY_FILE)), 0o600);
        assert_eq!(mode(&root.join(TLS_DIR).join(CERT_CHAIN_FILE)), 0o444);
        assert_eq!(mode(&root.join(TLS_DIR)), 0o755);

        // A second run (container restart) with the same secret succeeds…
        write_credentials(&root, &key, &response).unwrap();
        // …a different one is refused.
        let other = pb::GetCredentialsResponse {
            workload_secret: Some(vec![0xcd; 64]),
            ..response.clone()
        };
        let err = write_credentials(&root, &key, &other).unwrap_err();
        assert!(
            err.to_string().contains("different workload secret"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "ab".repeat(64));
    }

    #[test]
    fn no_secret_file_without_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let response = pb::GetCredentialsResponse::default();
        let written =
            write_credentials(dir.path(), &Zeroizing::new(String::new()), &response).unwrap();
        assert!(written.workload_secret.is_none());
        assert!(!workload_secret_path(dir.path()).exists());
    }

    #[test]
    fn a_torn_secret_file_is_replaced_and_a_symlinked_dir_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("seedward");
        let response = pb::GetCredentialsResponse {
            workload_secret: Some(vec![0xab; 64]),
            ..Default::default()
        };
        let key = Zeroizing::new("KEY".to_string());
        // What a crash mid-write of an older initializer left: an empty and a short file.
        std::fs::create_dir_all(root.join(SECRETS_DIR)).unwrap();
        for torn in ["", "abab"] {
            let path = workload_secret_path(&root);
            let _ = std::fs::remove_file(&path);
            std::fs::write(&path, torn).unwrap();
            let written = write_credentials(&root, &key, &response).unwrap();
            assert_eq!(
                std::fs::read_to_string(written.workload_secret.unwrap()).unwrap(),
                "ab".repeat(64)
            );
            assert_eq!(mode(&path), 0o400);
        }

        // A secrets directory that is a symlink to somewhere else is refused; the target
        // keeps its mode and receives no secret.
        let other = dir.path().join("other");
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, other.join(SECRETS_DIR)).unwrap();
        let err = write_credentials(&other, &key, &response).unwrap_err();
        assert!(format!("{err:#}").contains("symlink"), "{err:#}");
        assert_eq!(mode(&elsewhere), 0o700);
        assert!(!elsewhere.join(WORKLOAD_SECRET_FILE).exists());
    }
}
