//! First-time setup and the share drill.

use std::path::PathBuf;

use p384::pkcs8::{EncodePublicKey, LineEnding};
use seedward_proto::v1 as pb;
use seedward_shared::history::{Digest, LatestTransition, Transition, verify_manifest_list};
use seedward_shared::keys::OwnerKeyPair;
use seedward_shared::manifest::Manifest;
use seedward_shared::seed::{Salt, Seed, SeedEngine};
use seedward_shared::seedshare::SeedShareDocument;

use crate::client::evidence::ReferenceSource;
use crate::client::printable;
use crate::workspace::{
    MANIFEST_FILE, MESH_CA_FILE, ROOT_CA_FILE, SEED_SHARES_FILE, SIGNING_KEY_FILE, Workspace,
    WorkspaceError,
};

use super::*;

/// What the first `SetManifest` produced and where it was saved.
#[derive(Debug, Clone)]
pub struct SetupOutcome {
    pub transition: Digest,
    pub generation: u64,
    pub seed_shares: usize,
    pub files: Vec<PathBuf>,
}

/// Checks, before anything is sent, that the results of a first set can be saved.
pub fn check_setup_preconditions(workspace: &Workspace) -> Result<(), OpsError> {
    if workspace.exists(SEED_SHARES_FILE) {
        return Err(OpsError::Invalid(format!(
            "{} already exists in {}: this workspace already holds a deployment's seed shares. Use a new workspace directory for a new Coordinator",
            SEED_SHARES_FILE,
            workspace.dir().display()
        )));
    }
    let not_writable = |e: std::io::Error| WorkspaceError::Io {
        path: workspace.dir().to_path_buf(),
        message: format!("not writable: {e}"),
    };
    let dir = seedward_fs::Dir::create(workspace.dir(), 0o700).map_err(not_writable)?;
    let probe = ".seedward-write-probe";
    dir.write_atomic(probe, b"probe", 0o600)
        .map_err(not_writable)?;
    let _ = dir.remove(probe);
    Ok(())
}

/// Sends the first manifest and saves the seed shares (0600), the CA certificates and the
/// manifest in the workspace.
///
/// Before sending: the Coordinator must be uninitialized and its evidence must vouch for
/// this connection against the manifest's own reference values ([`check_trusted`];
/// development evidence needs `allow_unattested`); the connection is then locked to that
/// TLS key. After: the reply must be the first transition of exactly the bytes sent, and
/// the seed share document must hold one share for each of the manifest's owners and for
/// no other key ([`check_first_set_reply`]) — a relay that added an owner in flight is
/// caught here.
pub async fn set_first_manifest(
    conn: &Connection,
    workspace: &Workspace,
    manifest: &Manifest,
    policies: Vec<Vec<u8>>,
    allow_unattested: bool,
) -> Result<SetupOutcome, OpsError> {
    check_setup_preconditions(workspace)?;
    let mut conn = conn.clone();
    conn.expect(manifest, ReferenceSource::ManifestBeingSet);
    let status = status(&conn).await?;
    if status.state != CoordinatorState::Uninitialized {
        return Err(OpsError::Invalid(format!(
            "the Coordinator is {}, not uninitialized: first-time setup is only for a new Coordinator",
            status.state.label()
        )));
    }
    check_trusted(&status, allow_unattested, "the manifest")?;
    if conn.client.lock_to_observed_key().is_none() {
        return Err(OpsError::Verification(
            "no TLS handshake to lock the connection to; nothing was sent".into(),
        ));
    }
    let response = conn
        .client
        .set_manifest(pb::SetManifestRequest {
            manifest: manifest.raw().to_vec(),
            policies,
            previous_transition_hash: Some(Digest::ZERO.as_bytes().to_vec()),
            signature: Vec::new(),
        })
        .await?;
    let doc = response.seed_share_document.ok_or_else(|| {
        OpsError::Verification(
            "the Coordinator did not return a seed share document for the first manifest".into(),
        )
    })?;
    let document = document_from_proto(doc)?;
    let transition = Digest::from_slice(&response.transition_hash).map_err(|_| {
        OpsError::Verification("the Coordinator returned a malformed transition hash".into())
    })?;
    check_first_set_reply(manifest, &document, transition, response.generation)?;
    let json = document.to_json();
    let mut files = vec![workspace.write_secret(SEED_SHARES_FILE, json.as_bytes())?];
    files.push(workspace.write_public(ROOT_CA_FILE, response.root_ca_cert.as_bytes())?);
    files.push(workspace.write_public(MESH_CA_FILE, response.mesh_ca_cert.as_bytes())?);
    files.push(workspace.write_public(MANIFEST_FILE, manifest.raw())?);
    remember_position(workspace, response.generation, transition)?;
    Ok(SetupOutcome {
        transition,
        generation: response.generation,
        seed_shares: document.seed_shares.len(),
        files,
    })
}

/// The reply to a first set must describe exactly what was sent: transition
/// `SHA-256(SHA-256(manifest bytes) ‖ 32 zero bytes)`, generation 1, and one seed share for
/// each `SeedshareOwnerPubKeys` entry and for no other key. Anything else means the
/// manifest was changed on the way (an owner added in flight, its share dropped from the
/// reply): the seed may be known to someone else, and the deployment must not be used.
pub fn check_first_set_reply(
    manifest: &Manifest,
    document: &SeedShareDocument,
    transition: Digest,
    generation: u64,
) -> Result<(), OpsError> {
    let compromised = |what: String| {
        OpsError::Verification(format!(
            "the Coordinator's reply does not match the manifest you sent: {what}. The manifest was changed on its way (or the Coordinator is not genuine): someone else may hold the seed. Do not use this deployment: set up a new Coordinator, over a connection you trust"
        ))
    };
    let expected = Transition::first(manifest.hash()).hash();
    if transition != expected || generation != 1 {
        return Err(compromised(format!(
            "it set transition {transition} (generation {generation}), but your manifest's first transition is {expected}"
        )));
    }
    let sent: std::collections::BTreeSet<[u8; 32]> = manifest
        .seedshare_owner_keys()
        .map_err(|e| OpsError::Invalid(e.to_string()))?
        .into_iter()
        .collect();
    let mut got = std::collections::BTreeSet::new();
    for share in &document.seed_shares {
        let key: Option<[u8; 32]> = hex::decode(&share.public_key)
            .ok()
            .and_then(|b| b.try_into().ok());
        match key {
            Some(key) if sent.contains(&key) && got.insert(key) => {}
            _ => {
                return Err(compromised(format!(
                    "it returned a seed share for a key the manifest does not list (or twice): {}",
                    printable(&share.public_key)
                )));
            }
        }
    }
    if got != sent {
        return Err(compromised(format!(
            "{} of the manifest's {} seed share owners got no share",
            sent.len() - got.len(),
            sent.len()
        )));
    }
    let wanted = manifest.seedshare_owner_threshold();
    if document.threshold() != wanted {
        return Err(compromised(format!(
            "the manifest asks for {wanted} of {} owners to recover, the seed was split for {}",
            sent.len(),
            document.threshold()
        )));
    }
    if wanted > 1 {
        // Share i must be owner i's: the index is what the Coordinator will hold each
        // owner's submission to.
        let in_order = manifest
            .seedshare_owner_pub_keys()
            .iter()
            .zip(&document.seed_shares)
            .all(|(listed, share)| listed.eq_ignore_ascii_case(&share.public_key));
        if !in_order {
            return Err(compromised(
                "its threshold shares are not listed in the manifest's owner order".into(),
            ));
        }
    }
    Ok(())
}

/// Converts the proto seed share document into the `seed-shares.json` model.
pub fn document_from_proto(doc: pb::SeedShareDocument) -> Result<SeedShareDocument, OpsError> {
    let salt = Salt::from_slice(&doc.salt).map_err(|e| {
        OpsError::Verification(format!(
            "the returned seed share document has a malformed salt: {e}"
        ))
    })?;
    Ok(SeedShareDocument {
        seed_shares: doc
            .seed_shares
            .into_iter()
            .map(|s| {
                let threshold = doc.threshold > 0;
                Ok(seedward_shared::seedshare::SeedShare {
                    public_key: s.public_key,
                    encrypted_seed: s.encrypted_seed,
                    share_index: (threshold || s.share_index != 0)
                        .then(|| u8::try_from(s.share_index))
                        .transpose()
                        .map_err(|_| {
                            OpsError::Verification(format!(
                                "the returned seed share document has share index {}, above 255",
                                s.share_index
                            ))
                        })?,
                    share_commitment: (threshold || !s.share_commitment.is_empty())
                        .then(|| <[u8; 32]>::try_from(s.share_commitment.as_slice()))
                        .transpose()
                        .map_err(|_| {
                            OpsError::Verification(
                                "the returned seed share document has a share commitment that is not 32 bytes"
                                    .into(),
                            )
                        })?,
                })
            })
            .collect::<Result<_, OpsError>>()?,
        salt,
        threshold: (doc.threshold > 0).then_some(doc.threshold as usize),
        history_signing_key: (!doc.history_signing_key.is_empty())
            .then(|| doc.history_signing_key.clone()),
    })
    .and_then(|document| {
        // The same strict checks as reading seed-shares.json: what is written can be read.
        SeedShareDocument::from_json(&document.to_json()).map_err(|e| {
            OpsError::Verification(format!("the returned seed share document is malformed: {e}"))
        })
    })
}

/// A seed share decrypted with an owner key. Zeroized on drop (through [`Seed`]).
pub struct DecryptedShare {
    pub seed: Seed,
    pub salt: Salt,
    pub owner_fingerprint: String,
    /// Set when the seed share document was readable by group or others: one line saying so
    /// and how to fix it (the caller shows it; it is not a refusal, the shares are encrypted).
    pub permission_warning: Option<String>,
}

impl std::fmt::Debug for DecryptedShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptedShare")
            .field("owner_fingerprint", &self.owner_fingerprint)
            .finish_non_exhaustive()
    }
}

impl DecryptedShare {
    pub fn engine(&self) -> Result<SeedEngine, OpsError> {
        SeedEngine::new(&self.seed, &self.salt)
            .map_err(|e| OpsError::Verification(format!("the decrypted seed is unusable: {e}")))
    }
}

/// Reads `seed-shares.json` from the workspace (or `path`) and decrypts the share of `owner`.
pub fn decrypt_share(
    workspace: &Workspace,
    path: Option<&std::path::Path>,
    owner: &OwnerKeyPair,
) -> Result<DecryptedShare, OpsError> {
    let (document, path) = read_share_document(workspace, path)?;
    let permission_warning = seed_shares_permission_warning(&path);
    let (seed, salt) = document
        .open_with(owner)
        .map_err(|e| OpsError::Verification(e.to_string()))?;
    Ok(DecryptedShare {
        seed,
        salt,
        owner_fingerprint: owner.public_key().fingerprint().to_string(),
        permission_warning,
    })
}

/// One line when the seed share document at `path` is readable or writable by group or
/// others. The shares inside are encrypted to their owners, so this is a warning, not a
/// refusal: but whoever can read the file can try the owners' keys against it offline, and
/// whoever can write it can swap in another deployment's shares.
pub fn seed_shares_permission_warning(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} is accessible to group or others (mode {mode:04o}); it holds the encrypted seed shares: run `chmod 600 {}`",
            path.display(),
            path.display()
        )
    })
}

/// The result of proving that a seed share recovers this Coordinator.
#[derive(Debug, Clone)]
pub struct DrillReport {
    pub owner_fingerprint: String,
    pub generation: u64,
    pub latest: Digest,
    /// Whole seed: the served and the pinned root CA key are the one derived from the seed.
    /// Threshold: the served root CA is the pinned one (nothing can be derived from one share).
    pub root_ca_matches: bool,
    /// Where the history signing key was saved: derived from the seed (whole seed), or
    /// taken from the document's `HistorySigningKey` once the history verified with it
    /// (threshold).
    pub signing_key_file: Option<PathBuf>,
    /// Threshold only: the share's place in a k-of-n split, checked against its commitment.
    pub threshold_share: Option<ThresholdDrill>,
}

/// What the drill of one threshold share proves: it decrypts with the owner's key and is,
/// byte for byte, the share whose commitment the seed share document publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThresholdDrill {
    pub threshold: usize,
    pub owners: usize,
    pub index: u8,
}

/// Reads and parses `seed-shares.json` from the workspace (or `path`).
pub fn read_share_document(
    workspace: &Workspace,
    path: Option<&std::path::Path>,
) -> Result<(SeedShareDocument, PathBuf), OpsError> {
    let path = path
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.path(SEED_SHARES_FILE));
    let bytes = std::fs::read(&path).map_err(|e| WorkspaceError::Io {
        path: path.clone(),
        message: if e.kind() == std::io::ErrorKind::NotFound {
            "not found: the seed share document written at setup is needed (pass its path)".into()
        } else {
            e.to_string()
        },
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| OpsError::Invalid(format!("{} is not UTF-8 JSON", path.display())))?;
    let document = SeedShareDocument::from_json(&text)
        .map_err(|e| OpsError::Invalid(format!("{}: {e}", path.display())))?;
    Ok((document, path))
}

/// The drill of a threshold share: the share opens with the owner key and matches its
/// commitment; the Coordinator serves the workspace's manifest and pinned root CA.
async fn threshold_drill(
    conn: &Connection,
    workspace: &Workspace,
    owner: &OwnerKeyPair,
    document: &SeedShareDocument,
) -> Result<DrillReport, OpsError> {
    let share = document
        .open_key_share_with(owner)
        .map_err(|e| OpsError::Verification(e.to_string()))?;
    let response = conn.client.manifests().await?;
    let latest =
        LatestTransition::from_parts(&response.latest_transition_hash, &response.latest_signature)
            .map_err(|e| {
                OpsError::Verification(format!("the latest transition is malformed: {e}"))
            })?;
    if let Some(sent) = workspace.read(MANIFEST_FILE)?
        && response.manifests.last() != Some(&sent)
    {
        return Err(OpsError::Verification(format!(
            "the Coordinator's latest manifest is not the {MANIFEST_FILE} this workspace set: the manifest was changed on its way, or another manifest was set since"
        )));
    }
    let pinned_root = workspace
        .read(ROOT_CA_FILE)?
        .and_then(|b| cert_public_key(&String::from_utf8_lossy(&b)));
    let served_root = cert_public_key(&response.root_ca_cert);
    let root_ca_matches = pinned_root.is_some() && served_root == pinned_root;
    if !root_ca_matches {
        return Err(OpsError::Verification(
            "the Coordinator's root CA key is not the one pinned in coordinator-root-ca.pem".into(),
        ));
    }
    // One share derives no key; the document carries the history signing public key
    // (written by the Coordinator at the first set): the served history must verify with
    // it, and it is saved for later audits.
    let signing_key_file = match document
        .history_signing_key()
        .map_err(|e| OpsError::Verification(e.to_string()))?
    {
        None => None,
        Some(verifying) => {
            verify_manifest_list(&response.manifests, &latest, &verifying).map_err(|f| {
                OpsError::Verification(format!(
                    "the Coordinator's history does not verify with the HistorySigningKey of the seed share document: {}",
                    f.reason
                ))
            })?;
            let pem = verifying
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| OpsError::Invalid(format!("cannot encode the signing key: {e}")))?;
            Some(workspace.write_public(SIGNING_KEY_FILE, pem.as_bytes())?)
        }
    };
    Ok(DrillReport {
        owner_fingerprint: owner.public_key().fingerprint().to_string(),
        generation: response.manifests.len() as u64,
        latest: latest.transition_hash(),
        root_ca_matches,
        signing_key_file,
        threshold_share: Some(ThresholdDrill {
            threshold: document.threshold(),
            owners: document.seed_shares.len(),
            index: share.index(),
        }),
    })
}

/// The share drill: decrypt the own share, derive the signing key, verify the Coordinator's
/// history and root CA with it, and save the signing public key for later audits.
pub async fn share_drill(
    conn: &Connection,
    workspace: &Workspace,
    owner: &OwnerKeyPair,
) -> Result<DrillReport, OpsError> {
    let (document, _) = read_share_document(workspace, None)?;
    if document.threshold() > 1 {
        return threshold_drill(conn, workspace, owner, &document).await;
    }
    let share = decrypt_share(workspace, None, owner)?;
    let engine = share.engine()?;
    let response = conn.client.manifests().await?;
    let latest =
        LatestTransition::from_parts(&response.latest_transition_hash, &response.latest_signature)
            .map_err(|e| {
                OpsError::Verification(format!("the latest transition is malformed: {e}"))
            })?;
    let verifying = *engine.transaction_verifying_key();
    verify_manifest_list(&response.manifests, &latest, &verifying).map_err(|f| {
        OpsError::Verification(format!(
            "your seed share does not verify this Coordinator's history: {}",
            f.reason
        ))
    })?;
    // The history must hold what this workspace set, byte for byte.
    if let Some(sent) = workspace.read(MANIFEST_FILE)?
        && response.manifests.last() != Some(&sent)
    {
        return Err(OpsError::Verification(format!(
            "the Coordinator's latest manifest is not the {MANIFEST_FILE} this workspace set: the manifest was changed on its way, or another manifest was set since"
        )));
    }
    let derived_root = engine.root_ca_key().public_key();
    let pinned_root = workspace
        .read(ROOT_CA_FILE)?
        .and_then(|b| cert_public_key(&String::from_utf8_lossy(&b)));
    let root_ca_matches = cert_public_key(&response.root_ca_cert)
        .is_some_and(|k| k == derived_root)
        && pinned_root.is_some_and(|k| k == derived_root);
    if !root_ca_matches {
        return Err(OpsError::Verification(
            "the Coordinator's root CA key (or the one pinned in coordinator-root-ca.pem) is not the one derived from your seed share".into(),
        ));
    }
    let pem = verifying
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| OpsError::Invalid(format!("cannot encode the signing key: {e}")))?;
    let signing_key_file = workspace.write_public(SIGNING_KEY_FILE, pem.as_bytes())?;
    Ok(DrillReport {
        owner_fingerprint: share.owner_fingerprint.clone(),
        generation: response.manifests.len() as u64,
        latest: latest.transition_hash(),
        root_ca_matches,
        signing_key_file: Some(signing_key_file),
        threshold_share: None,
    })
}
