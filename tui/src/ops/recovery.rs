//! Recovery: decrypt the share, pre-flight, send, re-verify.

use p384::pkcs8::EncodePublicKey;
use rand_core::OsRng;
use seedward_proto::v1 as pb;
use seedward_shared::history::{ChainFailure, Digest, LatestTransition, verify_manifest_list};
use seedward_shared::keys::{Fingerprint, OwnerKeyPair};
use seedward_shared::recovery::seal_recovery;

use crate::client::evidence::{Expectation, ReferenceSource};
use crate::client::{ClientError, CoordinatorClient, Reason, Trust};
use crate::workspace::{MESH_CA_FILE, ROOT_CA_FILE, SEED_SHARES_FILE, Workspace};
use seedward_shared::manifest::Manifest;

use super::*;

/// The pre-flight's verdict: the stored history verifies with the key derived from the seed.
#[derive(Debug, Clone)]
pub struct Preflight {
    pub status: StatusView,
    pub generation: u64,
    pub latest: Digest,
    /// The root CA public key derived from the seed: after recovery the Coordinator's
    /// certificate must chain to it.
    pub root_key: p384::PublicKey,
    /// Every transition hash of the verified stored history, oldest first.
    pub chain: Vec<Digest>,
    /// The reference values of the verified history's latest manifest: what the
    /// Coordinator's evidence is judged by before the seed is sent.
    pub expectation: Expectation,
}

/// Checks, before anything secret is sent, that the Coordinator needs recovery and that its
/// stored (unverified) history verifies with the signing key derived from `share`.
pub async fn recovery_preflight(
    conn: &Connection,
    share: &DecryptedShare,
) -> Result<Preflight, OpsError> {
    preflight_steps(conn, share).await.map_err(|e| match e {
        PreflightError::Ops(e) => e,
        PreflightError::Chain { failure, .. } => OpsError::Verification(format!(
            "pre-flight: the Coordinator's stored history does not verify with the key derived from your seed share ({}). Nothing was sent. Check that this is the right Coordinator and the right seed-shares.json",
            failure.reason
        )),
    })
}

/// Like [`recovery_preflight`], but a failure is diagnosed with what the workspace knows
/// (the pinned root CA key, the last transition it saw) and comes back as
/// [`OpsError::Verification`] with a [`PreflightFailure`]'s message: another deployment's
/// share, another deployment's Coordinator, a tampered latest pointer and a damaged store
/// each say so, and what to do next. Nothing is sent in any case.
pub async fn recovery_preflight_explained(
    conn: &Connection,
    share: &DecryptedShare,
    workspace: &Workspace,
) -> Result<Preflight, OpsError> {
    match preflight_steps(conn, share).await {
        Ok(p) => Ok(p),
        Err(PreflightError::Ops(e)) if e.reason() == Some(Reason::HistoryCorrupt) => {
            let detail = match &e {
                OpsError::Refused { message, .. } => message.clone(),
                other => other.to_string(),
            };
            Err(OpsError::Verification(
                PreflightFailure::StoreDamaged { detail }.to_string(),
            ))
        }
        Err(PreflightError::Ops(e)) => Err(e),
        Err(PreflightError::Chain {
            failure,
            chain,
            derived_root,
        }) => Err(OpsError::Verification(
            diagnose_preflight(workspace, &failure, &chain, &derived_root)?.to_string(),
        )),
    }
}

/// Why a pre-flight refused, diagnosed for the operator. Each message ends with what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PreflightFailure {
    /// The root CA key derived from the seed is not the pinned one: the seed share belongs
    /// to another deployment than this workspace.
    OtherDeployment { derived: String, pinned: String },
    /// The seed is this workspace's, but the Coordinator's chain does not contain the
    /// transition this workspace saw last and its signature does not verify: it serves
    /// another deployment's history.
    OtherCoordinator { seen: Digest },
    /// The seed is this deployment's and the chain is the one this workspace saw, but the
    /// signature of the latest pointer does not verify: `transitions/latest` was altered.
    LatestTampered,
    /// The manifests do not re-hash to the signed latest transition.
    ChainBroken { reason: String },
    /// The Coordinator refuses to serve its history because a stored file is damaged.
    StoreDamaged { detail: String },
    /// None of the above could be told apart (e.g. no pin in the workspace).
    Unverified { reason: String },
}

impl std::fmt::Display for PreflightFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PreflightFailure::OtherDeployment { derived, pinned } => write!(
                f,
                "this seed share belongs to another deployment: the root CA key derived from it ({derived}) is not the one pinned in {ROOT_CA_FILE} ({pinned}). Nothing was sent. Put this deployment's {SEED_SHARES_FILE} (from your backup) into the workspace and start the recovery again"
            ),
            PreflightFailure::OtherCoordinator { seen } => write!(
                f,
                "this Coordinator serves another deployment's history: it does not contain transition {} that this workspace saw last, and its signature does not verify with your seed. Nothing was sent. Check the Coordinator's address",
                seen.short()
            ),
            PreflightFailure::LatestTampered => write!(
                f,
                "the Coordinator's latest pointer (transitions/latest in its state directory) is not signed by your deployment's key, although your seed share is this deployment's: the stored history was tampered with or damaged. Nothing was sent. Restore the Coordinator's history/ from a backup (no restart is needed), then run the pre-flight again"
            ),
            PreflightFailure::ChainBroken { reason } => write!(
                f,
                "the Coordinator's stored manifests do not re-hash to its signed latest transition ({reason}): a stored manifest was changed. Nothing was sent. Restore the Coordinator's history/ from a backup, then run the pre-flight again"
            ),
            PreflightFailure::StoreDamaged { detail } => write!(
                f,
                "the Coordinator reports a damaged file in its stored history: {detail}. Nothing was sent. Restore that file from a backup of the Coordinator's state directory, then run the pre-flight again"
            ),
            PreflightFailure::Unverified { reason } => write!(
                f,
                "the Coordinator's stored history does not verify with the key derived from your seed share ({reason}). Nothing was sent. Check that this is the right Coordinator and the right {SEED_SHARES_FILE}"
            ),
        }
    }
}

/// Tells apart why the stored history did not verify with the seed's key.
fn diagnose_preflight(
    workspace: &Workspace,
    failure: &ChainFailure,
    chain: &[Digest],
    derived_root: &p384::PublicKey,
) -> Result<PreflightFailure, OpsError> {
    use seedward_shared::history::ChainError;
    if !matches!(failure.reason, ChainError::BadSignature) {
        return Ok(PreflightFailure::ChainBroken {
            reason: failure.reason.to_string(),
        });
    }
    let key_fp = |k: &p384::PublicKey| {
        k.to_public_key_der()
            .map(|der| Fingerprint::of(der.as_bytes()).to_string())
            .unwrap_or_default()
    };
    let pinned = workspace
        .read(ROOT_CA_FILE)?
        .and_then(|b| cert_public_key(&String::from_utf8_lossy(&b)));
    let Some(pinned) = pinned else {
        return Ok(PreflightFailure::Unverified {
            reason: failure.reason.to_string(),
        });
    };
    if pinned != *derived_root {
        return Ok(PreflightFailure::OtherDeployment {
            derived: key_fp(derived_root),
            pinned: key_fp(&pinned),
        });
    }
    if let Some(seen) = last_seen(workspace)?
        && !chain.contains(&seen)
    {
        return Ok(PreflightFailure::OtherCoordinator { seen });
    }
    Ok(PreflightFailure::LatestTampered)
}

/// The transition recorded in `last-seen-transition`, if any and well-formed.
fn last_seen(workspace: &Workspace) -> Result<Option<Digest>, OpsError> {
    let Some(bytes) = workspace.read(LAST_SEEN_FILE)? else {
        return Ok(None);
    };
    Ok(String::from_utf8_lossy(&bytes)
        .split_whitespace()
        .nth(1)
        .and_then(|h| h.parse().ok()))
}

/// A pre-flight's failure before it is phrased.
enum PreflightError {
    Ops(OpsError),
    /// The stored history does not verify with the seed's key.
    Chain {
        failure: ChainFailure,
        /// The rebuilt (unverified) transition hashes, oldest first.
        chain: Vec<Digest>,
        derived_root: p384::PublicKey,
    },
}

impl From<OpsError> for PreflightError {
    fn from(e: OpsError) -> Self {
        PreflightError::Ops(e)
    }
}

async fn preflight_steps(
    conn: &Connection,
    share: &DecryptedShare,
) -> Result<Preflight, PreflightError> {
    let status = status(conn).await?;
    match status.state {
        CoordinatorState::RecoveryRequired | CoordinatorState::Stale => {}
        other => {
            return Err(PreflightError::Ops(OpsError::Invalid(format!(
                "the Coordinator is {}, not awaiting recovery; nothing to do",
                other.label()
            ))));
        }
    }
    let engine = share.engine()?;
    let response = conn.client.manifests().await.map_err(OpsError::from)?;
    let latest =
        LatestTransition::from_parts(&response.latest_transition_hash, &response.latest_signature)
            .map_err(|e| {
                OpsError::Verification(format!("the stored latest transition is malformed: {e}"))
            })?;
    let verified = match verify_manifest_list(
        &response.manifests,
        &latest,
        engine.transaction_verifying_key(),
    ) {
        Ok(v) => v,
        Err(failure) => {
            let chain = failure.entries.iter().map(|e| e.transition_hash).collect();
            return Err(PreflightError::Chain {
                failure,
                chain,
                derived_root: engine.root_ca_key().public_key(),
            });
        }
    };
    if status.latest != Some(latest.transition_hash()) {
        return Err(PreflightError::Ops(OpsError::Verification(
            "pre-flight: the history changed between status and fetch; run the recovery again"
                .into(),
        )));
    }
    // The latest manifest verified with the owner's own key: its reference values decide
    // whether this Coordinator may receive the seed. The status is judged again by them.
    let expectation = response
        .manifests
        .last()
        .and_then(|raw| Manifest::parse(raw.clone()).ok())
        .map(|m| expectation_of(&m, ReferenceSource::VerifiedHistory))
        .unwrap_or_else(Expectation::unknown);
    let mut judged = conn.clone();
    judged.expectation = expectation.clone();
    let status = super::connect::status(&judged).await?;
    if status.latest != Some(latest.transition_hash()) {
        return Err(PreflightError::Ops(OpsError::Verification(
            "pre-flight: the history changed while it was verified; run the recovery again".into(),
        )));
    }
    Ok(Preflight {
        generation: response.manifests.len() as u64,
        latest: latest.transition_hash(),
        root_key: engine.root_ca_key().public_key(),
        chain: verified.iter().map(|e| e.transition_hash).collect(),
        expectation,
        status,
    })
}

/// Seals seed ‖ salt to the Coordinator's challenge (HPKE auth mode) and sends `Recover`.
/// Consumes the share so that the seed is zeroized as soon as it is sealed.
///
/// Before anything is sealed, the Coordinator's evidence must vouch for this connection
/// ([`check_trusted`]) against the reference values of the history the pre-flight
/// verified, and the connection is then locked to that TLS key, so the seed can only
/// reach the endpoint the evidence named. With development evidence, `allow_unattested`
/// must be set.
pub async fn send_recovery(
    conn: &Connection,
    owner: &OwnerKeyPair,
    share: DecryptedShare,
    preflight: &Preflight,
    allow_unattested: bool,
) -> Result<pb::RecoverResponse, OpsError> {
    // Judge the evidence by the history the owner's own seed verified.
    let mut conn = conn.clone();
    conn.expectation = preflight.expectation.clone();
    // Always seal to a fresh challenge: the one from the pre-flight may be about to expire.
    let status = status(&conn).await?;
    check_trusted(&status, allow_unattested, "your seed")?;
    let evidence = status.evidence.as_ref().ok_or_else(|| {
        OpsError::Verification("the Coordinator sent no evidence; nothing was sent".into())
    })?;
    if conn.client.lock_to_observed_key().is_none() {
        return Err(OpsError::Verification(
            "no TLS handshake to lock the connection to; nothing was sent".into(),
        ));
    }
    let confirmed_tls = preflight
        .status
        .evidence
        .as_ref()
        .map(|e| e.tls_spki_sha256.as_str());
    if confirmed_tls != Some(evidence.tls_spki_sha256.as_str()) {
        return Err(OpsError::Verification(
            "the Coordinator's TLS key changed since the pre-flight you confirmed; nothing was sent. Run the recovery again".into(),
        ));
    }
    let challenge = status.challenge.ok_or_else(|| {
        OpsError::Invalid(format!(
            "the Coordinator is {} and offers no recovery challenge",
            status.state.label()
        ))
    })?;
    let challenge_latest = Digest::from_slice(&challenge.latest_transition_hash).map_err(|_| {
        OpsError::Verification("the challenge names a malformed transition hash".into())
    })?;
    if challenge_latest != preflight.latest {
        return Err(OpsError::Verification(
            "the challenge is bound to a different history than the one verified in the pre-flight; run the recovery again".into(),
        ));
    }
    let public: [u8; 32] = challenge
        .public_key
        .as_slice()
        .try_into()
        .map_err(|_| OpsError::Verification("the challenge key is not 32 bytes".into()))?;
    let nonce: [u8; 32] = challenge
        .nonce
        .as_slice()
        .try_into()
        .map_err(|_| OpsError::Verification("the challenge nonce is not 32 bytes".into()))?;
    let envelope = seal_recovery(
        owner,
        &public,
        &nonce,
        challenge_latest.as_bytes(),
        &share.seed,
        &share.salt,
        &mut OsRng,
    )
    .map_err(|e| OpsError::Invalid(format!("cannot seal the recovery envelope: {e}")))?;
    drop(share);
    let attested = evidence.attested();
    conn.client
        .recover(pb::RecoverRequest {
            challenge_id: challenge.id,
            owner_public_key: owner.public_key().as_bytes().to_vec(),
            encapsulated_key: envelope.encapsulated_key.to_vec(),
            ciphertext: envelope.ciphertext,
        })
        .await
        .map_err(|status| OpsError::SentButFailed {
            cause: Box::new(OpsError::from(status)),
            attested,
        })
}

/// After recovery: reconnect pinned, and check state, root CA key and history.
#[derive(Debug, Clone)]
pub struct Reverify {
    pub status: StatusView,
    pub root_ca_matches_pin: bool,
    pub history_unchanged: bool,
    pub mesh_ca_changed: bool,
}

pub async fn reverify_after_recovery(
    original: &Connection,
    workspace: &Workspace,
    preflight: &Preflight,
    response: &pb::RecoverResponse,
) -> Result<Reverify, OpsError> {
    let address = original.client.address();
    let policy = &original.policy;
    let not_ours = || {
        OpsError::Verification(
            "after recovery the Coordinator does not present a certificate from the root CA derived from your seed: it is not the Coordinator your seed share belongs to".into(),
        )
    };
    // The identity to check against is the root CA key derived from the seed. Where the
    // workspace has a pin, it must be that same key; where it has none (recovering from a
    // copied seed-shares.json), the root CA certificate the Coordinator now serves is
    // accepted only if it carries the derived key, and then becomes the pin.
    let pinned = workspace
        .read(ROOT_CA_FILE)?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let pem = match pinned {
        Some(pin) => {
            if cert_public_key(&pin) != Some(preflight.root_key) {
                return Err(OpsError::Verification(format!(
                    "{ROOT_CA_FILE} in this workspace pins a different root CA than the one derived from your seed share: this workspace belongs to another deployment"
                )));
            }
            pin
        }
        None => {
            let unpinned = CoordinatorClient::connect(address, Trust::FirstUse).await?;
            let served = unpinned.status().await?.root_ca_cert;
            if cert_public_key(&served) != Some(preflight.root_key) {
                return Err(not_ours());
            }
            served
        }
    };
    // A connection that verifies against the root key: the Coordinator's TLS certificate is
    // signed by it, so only a holder of the seed can present it.
    let client = CoordinatorClient::connect(address, Trust::pinned_root_pem(&pem)?)
        .await
        .map_err(|e| match e {
            ClientError::Unreachable { detail, .. } if is_certificate_rejection(&detail) => {
                not_ours()
            }
            other => other.into(),
        })?;
    let conn = Connection {
        client,
        trust: TrustLevel::Pinned,
        expectation: preflight.expectation.clone(),
        policy: policy.clone(),
    };
    let status = status(&conn).await?;
    if status.state != CoordinatorState::Ready {
        return Err(OpsError::Verification(format!(
            "after recovery the Coordinator is {}, not ready",
            status.state.label()
        )));
    }
    if status.root_ca_pem.as_deref().and_then(cert_public_key) != Some(preflight.root_key) {
        return Err(not_ours());
    }
    workspace.write_public(ROOT_CA_FILE, pem.as_bytes())?;
    if let Some(latest) = status.latest {
        remember_position(workspace, status.generation, latest)?;
    }
    let previous_mesh = workspace.read(MESH_CA_FILE)?;
    let mesh_ca_changed = previous_mesh.as_deref() != Some(response.mesh_ca_cert.as_bytes());
    workspace.write_public(MESH_CA_FILE, response.mesh_ca_cert.as_bytes())?;
    Ok(Reverify {
        history_unchanged: status.latest == Some(preflight.latest)
            && status.generation == preflight.generation,
        root_ca_matches_pin: true,
        mesh_ca_changed,
        status,
    })
}

/// Where the workspace last saw the history (`last-seen-transition`): generation and hash.
pub const LAST_SEEN_FILE: &str = "last-seen-transition";

/// Records the history position this workspace has seen verified, so that a later
/// recovery can refuse a rolled-back store.
pub fn remember_position(
    workspace: &Workspace,
    generation: u64,
    latest: Digest,
) -> Result<(), OpsError> {
    workspace.write_public(
        LAST_SEEN_FILE,
        format!("{generation} {latest}\n").as_bytes(),
    )?;
    Ok(())
}

/// Refuses a pre-flight whose verified history does not contain the transition this
/// workspace saw last: the store was rolled back to an older (validly signed) state, or
/// belongs to another deployment. `force` accepts it, for an operator who restored a backup
/// on purpose.
pub fn check_rollback(
    workspace: &Workspace,
    preflight: &Preflight,
    force: bool,
) -> Result<(), OpsError> {
    let Some(bytes) = workspace.read(LAST_SEEN_FILE)? else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut parts = text.split_whitespace();
    let (Some(generation), Some(hash)) = (parts.next(), parts.next()) else {
        return Err(OpsError::Invalid(format!(
            "{LAST_SEEN_FILE} is malformed; expected `<generation> <hex hash>`"
        )));
    };
    let seen: Digest = hash.parse().map_err(|_| {
        OpsError::Invalid(format!(
            "{LAST_SEEN_FILE} names a malformed transition hash"
        ))
    })?;
    if preflight.chain.contains(&seen) || force {
        return Ok(());
    }
    Err(OpsError::Verification(format!(
        "the Coordinator's stored history (generation {}) does not contain transition {} (generation {generation}) that this workspace saw last: the state was rolled back or replaced. Nothing was sent. If you restored an older backup on purpose, recover with --force",
        preflight.generation,
        seen.short()
    )))
}
