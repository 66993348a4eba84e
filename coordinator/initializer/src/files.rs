//! Writes the workload's credentials to the secrets root (layout and modes: see
//! [`super`]'s module docs).

use std::fs::{File, OpenOptions, Permissions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
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

fn create_dir(path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(path).with_context(|| {
        format!(
            "cannot create {}; mount a writable volume at the secrets root",
            path.display()
        )
    })?;
    std::fs::set_permissions(path, Permissions::from_mode(0o755))
        .with_context(|| format!("cannot set mode 0755 on {}", path.display()))
}

/// Creates `path` fresh (`create_new`) with `mode` and `content`.
fn create_new(path: &Path, mode: u32, content: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    // The umask may have removed bits; set exactly the mode asked for.
    file.set_permissions(Permissions::from_mode(mode))?;
    file.write_all(content)?;
    file.sync_all()
}

/// Replaces `path` atomically: a `create_new` temp file in the same directory, renamed over.
fn replace(path: &Path, mode: u32, content: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    create_new(&tmp, mode, content).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes key, certificates and (if present) the workload secret under `root`.
pub fn write_credentials(
    root: &Path,
    key_pem: &Zeroizing<String>,
    response: &pb::GetCredentialsResponse,
) -> anyhow::Result<Written> {
    let tls = root.join(TLS_DIR);
    create_dir(root)?;
    create_dir(&tls)?;
    let mut files = Vec::new();
    // The key first and the chain after it, so that a reader that sees a new chain also
    // finds its key.
    for (name, mode, content) in [
        (KEY_FILE, 0o600, key_pem.as_bytes()),
        (CERT_CHAIN_FILE, 0o444, response.cert_chain.as_bytes()),
        (MESH_CA_FILE, 0o444, response.mesh_ca_cert.as_bytes()),
        (ROOT_CA_FILE, 0o444, response.root_ca_cert.as_bytes()),
    ] {
        let path = tls.join(name);
        replace(&path, mode, content)?;
        files.push(path);
    }
    let workload_secret = match &response.workload_secret {
        None => None,
        Some(secret) => {
            create_dir(&root.join(SECRETS_DIR))?;
            let path = workload_secret_path(root);
            let hex = Zeroizing::new(hex::encode(secret));
            match create_new(&path, 0o400, hex.as_bytes()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let existing =
                        Zeroizing::new(std::fs::read(&path).with_context(|| {
                            format!("cannot read the existing {}", path.display())
                        })?);
                    if existing.as_slice() != hex.as_bytes() {
                        anyhow::bail!(
                            "{} exists and holds a different workload secret; the Coordinator's seed changed or the file was tampered with. Find out why before deleting it: data encrypted with the old secret needs it",
                            path.display()
                        );
                    }
                }
                Err(e) => {
                    return Err(
                        anyhow::Error::new(e).context(format!("cannot create {}", path.display()))
                    );
                }
            }
            Some(path)
        }
    };
    Ok(Written {
        files,
        workload_secret,
    })
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
}
