//! Signed manifest updates and offline workload secrets.

use seedward_proto::v1 as pb;
use seedward_shared::history::{Digest, Transition};
use seedward_shared::keys::WorkloadOwnerKeyPair;
use seedward_shared::manifest::Manifest;

use crate::workspace::{MANIFEST_FILE, MESH_CA_FILE, Workspace};

use super::*;

/// The result of a signed, atomic update.
#[derive(Debug, Clone)]
pub struct UpdateOutcome {
    pub transition: Digest,
    pub generation: u64,
}

/// The transition a new manifest would create on top of `audited_latest`.
pub fn proposed_transition(manifest: &Manifest, audited_latest: Digest) -> Digest {
    Transition::after(audited_latest, manifest.hash()).hash()
}

/// Signs the transition with the workload owner key and sets it atomically against
/// `audited_latest`. A lost race comes back as `OpsError::Refused` with reason STALE_LATEST.
pub async fn update_manifest(
    conn: &Connection,
    workspace: &Workspace,
    manifest: &Manifest,
    policies: Vec<Vec<u8>>,
    key: &WorkloadOwnerKeyPair,
    audited_latest: Digest,
) -> Result<UpdateOutcome, OpsError> {
    if conn.trust != TrustLevel::Pinned {
        return Err(OpsError::Verification(
            "refusing to update: the connection is not verified against the pinned root CA (coordinator-root-ca.pem)".into(),
        ));
    }
    let transition = proposed_transition(manifest, audited_latest);
    let signature = key
        .sign_transition(transition.as_bytes())
        .map_err(|e| OpsError::Invalid(format!("cannot sign the transition: {e}")))?;
    let response = conn
        .client
        .set_manifest(pb::SetManifestRequest {
            manifest: manifest.raw().to_vec(),
            policies,
            previous_transition_hash: Some(audited_latest.as_bytes().to_vec()),
            signature,
        })
        .await?;
    let got = Digest::from_slice(&response.transition_hash).map_err(|_| {
        OpsError::Verification("the Coordinator returned a malformed transition hash".into())
    })?;
    if got != transition {
        return Err(OpsError::Verification(format!(
            "the Coordinator recorded transition {got}, not the signed {transition}"
        )));
    }
    workspace.write_public(MESH_CA_FILE, response.mesh_ca_cert.as_bytes())?;
    workspace.write_public(MANIFEST_FILE, manifest.raw())?;
    remember_position(workspace, response.generation, transition)?;
    Ok(UpdateOutcome {
        transition,
        generation: response.generation,
    })
}

/// Derives a workload secret offline from the owner's seed share.
pub fn workload_secret(
    share: &DecryptedShare,
    id: &str,
) -> Result<seedward_shared::secret::SecretBytes, OpsError> {
    share
        .engine()?
        .derive_workload_secret(id)
        .map_err(|e| OpsError::Invalid(e.to_string()))
}
