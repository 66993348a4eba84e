//! The history audit.

use p384::ecdsa::VerifyingKey;
use p384::pkcs8::DecodePublicKey;
use seedward_proto::v1 as pb;
use seedward_shared::history::{
    ChainEntry, ChainFailure, EntryStatus, LatestTransition, verify_manifest_list,
};
use seedward_shared::manifest::Manifest;

use crate::workspace::{SIGNING_KEY_FILE, Workspace};

use super::*;

/// Where the key that verified the history came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKeySource {
    /// Derived from the operator's own seed share.
    SeedShare,
    /// `history-signing-key.pem`, saved by the share drill at setup.
    SavedKey,
    /// The `HistorySigningKey` of a threshold `seed-shares.json` (one share derives none).
    ShareDocument,
    /// No key available: the chain was re-hashed but the signature not checked.
    None,
}

/// One audited generation.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub chain: ChainEntry,
    /// The manifest exactly as served.
    pub manifest_bytes: Vec<u8>,
    /// Parsed on first use: a long history is kept as its bytes, and parsed only where an
    /// entry is shown or compared (docs/PERFORMANCE.md, "Reading a long history").
    parsed: std::sync::OnceLock<Option<Manifest>>,
}

impl AuditEntry {
    pub fn new(chain: ChainEntry, manifest_bytes: Vec<u8>) -> Self {
        Self {
            chain,
            manifest_bytes,
            parsed: std::sync::OnceLock::new(),
        }
    }

    /// The parsed manifest; `None` when the stored manifest no longer parses (shown raw).
    pub fn manifest(&self) -> Option<&Manifest> {
        self.parsed
            .get_or_init(|| Manifest::parse(self.manifest_bytes.clone()).ok())
            .as_ref()
    }

    pub fn verified(&self) -> bool {
        matches!(self.chain.status, EntryStatus::Verified)
    }
}

/// The whole history as audited by the client.
#[derive(Debug, Clone)]
pub struct AuditedHistory {
    pub entries: Vec<AuditEntry>,
    pub policies: Vec<Vec<u8>>,
    pub latest: LatestTransition,
    pub key_source: SigningKeySource,
    /// The Coordinator's own claim (false while recovery is required).
    pub coordinator_verified: bool,
    /// `None` when the signature was checked and everything holds; otherwise why not.
    pub failure: Option<String>,
    pub root_ca_cert: String,
    pub mesh_ca_cert: String,
}

impl AuditedHistory {
    pub fn all_verified(&self) -> bool {
        self.failure.is_none() && self.key_source != SigningKeySource::None
    }

    pub fn generation(&self) -> u64 {
        self.entries.len() as u64
    }

    pub fn active(&self) -> Option<&AuditEntry> {
        self.entries.last()
    }
}

/// The signing key saved at setup, if any.
pub fn saved_signing_key(workspace: &Workspace) -> Result<Option<VerifyingKey>, OpsError> {
    let Some(bytes) = workspace.read(SIGNING_KEY_FILE)? else {
        return Ok(None);
    };
    let pem = String::from_utf8_lossy(&bytes);
    VerifyingKey::from_public_key_pem(&pem)
        .map(Some)
        .map_err(|_| OpsError::Invalid(format!("{SIGNING_KEY_FILE} is not a P-384 public key PEM")))
}

/// The `HistorySigningKey` a threshold seed share document in the workspace (or `path`)
/// carries, if any.
pub fn share_document_signing_key(
    workspace: &Workspace,
    path: Option<&std::path::Path>,
) -> Result<Option<VerifyingKey>, OpsError> {
    let path = path
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace.path(crate::workspace::SEED_SHARES_FILE));
    if !path.exists() {
        return Ok(None);
    }
    let (document, _) = super::read_share_document(workspace, Some(&path))?;
    document
        .history_signing_key()
        .map_err(|e| OpsError::Invalid(format!("{}: {e}", path.display())))
}

/// Fetches and verifies the whole history with `key` (from the seed share or saved at setup).
pub async fn audit_history(
    conn: &Connection,
    key: Option<(VerifyingKey, SigningKeySource)>,
) -> Result<AuditedHistory, OpsError> {
    let response = conn.client.manifests().await?;
    audit_response(response, key)
}

/// Verifies a `GetManifests` response (or an offline bundle converted to one).
pub fn audit_response(
    response: pb::GetManifestsResponse,
    key: Option<(VerifyingKey, SigningKeySource)>,
) -> Result<AuditedHistory, OpsError> {
    let latest =
        LatestTransition::from_parts(&response.latest_transition_hash, &response.latest_signature)
            .map_err(|e| {
                OpsError::Verification(format!("the latest transition is malformed: {e}"))
            })?;
    let (chain, failure, key_source) = match &key {
        Some((key, source)) => match verify_manifest_list(&response.manifests, &latest, key) {
            Ok(entries) => (entries, None, *source),
            Err(ChainFailure { reason, entries }) => (entries, Some(reason.to_string()), *source),
        },
        None => {
            let chain = seedward_shared::history::chain_from_manifests(&response.manifests);
            let tip_ok = chain
                .last()
                .is_some_and(|(h, _)| *h == latest.transition_hash());
            let entries = chain
                .into_iter()
                .enumerate()
                .map(|(i, (transition_hash, t))| ChainEntry {
                    generation: i as u64 + 1,
                    manifest_hash: t.manifest_hash,
                    previous: t.previous,
                    transition_hash,
                    status: EntryStatus::Unverified(
                        seedward_shared::history::ChainError::BadSignature,
                    ),
                })
                .collect();
            let failure = if tip_ok {
                "no signing key available: the chain re-hashes to the latest transition, but its signature was not checked (run the share drill or pass your seed share)".to_string()
            } else {
                "the manifests do not re-hash to the latest transition".to_string()
            };
            (entries, Some(failure), SigningKeySource::None)
        }
    };
    let entries = chain
        .into_iter()
        .zip(response.manifests)
        .map(|(chain, bytes)| AuditEntry::new(chain, bytes))
        .collect();
    Ok(AuditedHistory {
        entries,
        policies: response.policies,
        latest,
        key_source,
        coordinator_verified: response.verified,
        failure,
        root_ca_cert: response.root_ca_cert,
        mesh_ca_cert: response.mesh_ca_cert,
    })
}
