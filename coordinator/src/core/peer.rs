//! Peer recovery in the core (docs/HA.md, "Peer recovery"): a ready replica seals its
//! secrets for a peer whose evidence the caller verified against the active manifest; a
//! replica without keys becomes ready from what a peer sent, once the stored chain verifies
//! with the key derived from it. The transport, the evidence checks and the HPKE box's
//! opening live in `crate::peer`; this file only reads and changes the state.

use std::sync::Arc;

use p384::ecdsa::VerifyingKey;
use rand_core::OsRng;
use seedward_shared::history::{Digest, HistoryStore};
use seedward_shared::peer::{PeerBox, PeerSecrets, seal_peer_secrets};
use seedward_shared::seed::{MeshSecret, SeedEngine};

use super::read::Keep;
use super::set::{certificates, make_ready};
use super::view::RecoverOutcome;
use super::{ActiveReference, Coordinator, State, map_history_error};
use crate::ca::CertificateAuthority;
use crate::error::CoreError;

/// What a serving replica verifies a peer's evidence against, read under the lock.
#[derive(Debug, Clone)]
pub struct PeerReference {
    /// The active manifest's reference values.
    pub active: ActiveReference,
    /// The hash of the active manifest's `coordinator` policy: the HOST_DATA / MRCONFIGID
    /// a peer's report must carry. `None` when the manifest names none (or several).
    pub coordinator_policy: Option<Digest>,
    /// The latest transition the replica stands at.
    pub latest: Digest,
}

/// A ready replica's answer to a peer.
#[derive(Debug, Clone)]
pub struct PeerSealed {
    pub sealed: PeerBox,
    /// The latest transition the box names.
    pub latest: Digest,
    pub generation: u64,
    pub mesh_ca_pem: String,
}

impl<S: HistoryStore> Coordinator<S> {
    /// The active manifest's reference values and `coordinator` policy, to verify a peer's
    /// evidence with outside the lock. Not ready → `WrongState`.
    pub fn peer_reference(&self) -> Result<PeerReference, CoreError> {
        let (guard, _) = self.synced()?;
        match &*guard {
            State::Ready(ready) => Ok(PeerReference {
                active: ready.reference.clone(),
                coordinator_policy: ready.manifest.coordinator_policy_hash(),
                latest: ready.latest.transition_hash(),
            }),
            other => Err(CoreError::WrongState {
                op: "serve a peer",
                state: other.name(),
            }),
        }
    }

    /// Seals seed ‖ salt ‖ mesh secret to `recipient`, for a peer whose evidence was
    /// verified against the manifest `verified_against`. Another manifest became active
    /// since → `StaleLatest` (the peer asks again).
    pub fn seal_for_peer(
        &self,
        verified_against: Digest,
        recipient: &[u8; 32],
    ) -> Result<PeerSealed, CoreError> {
        let (guard, _) = self.synced()?;
        let State::Ready(ready) = &*guard else {
            return Err(CoreError::WrongState {
                op: "serve a peer",
                state: guard.name(),
            });
        };
        if ready.reference.manifest_hash != verified_against {
            return Err(CoreError::StaleLatest {
                current: Some(ready.latest.transition_hash()),
            });
        }
        let latest = ready.latest.transition_hash();
        let secrets = PeerSecrets {
            seed: ready.engine.seed().clone(),
            salt: *ready.engine.salt(),
            mesh: MeshSecret::copy_from(ready.mesh_secret.expose())
                .map_err(|e| CoreError::Internal(e.to_string()))?,
        };
        let sealed = seal_peer_secrets(recipient, latest.as_bytes(), &secrets, &mut OsRng)
            .map_err(|e| CoreError::InvalidArgument {
                field: "recipient_public_key",
                message: e.to_string(),
            })?;
        Ok(PeerSealed {
            sealed,
            latest,
            generation: ready.generation,
            mesh_ca_pem: ready.mesh_ca.cert().pem.clone(),
        })
    }

    /// Becomes ready from a peer's secrets, sealed for the latest transition `sealed_for`,
    /// after verifying the stored latest signature and every blob of the chain with the
    /// key derived from the seed. `peer` names the sender in the log.
    ///
    /// Only from `RecoveryRequired` or `Stale`; a store that moved past `sealed_for` →
    /// `StaleLatest` (ask again); secrets that do not verify the history → `WrongSeed`.
    /// `on_ready` runs under the lock just before the state becomes ready, so that whoever
    /// sees the new state also sees what it recorded (who recovered this replica).
    pub fn recover_from_peer(
        &self,
        secrets: PeerSecrets,
        sealed_for: Digest,
        peer: &str,
        on_ready: impl FnOnce(),
    ) -> Result<RecoverOutcome, CoreError> {
        // The state is looked at under the lock; the chain is read and verified without
        // it, and the new state committed only onto one that still needs it.
        {
            let (guard, _) = self.synced()?;
            match &*guard {
                State::RecoveryRequired { .. } | State::Stale => {}
                other => {
                    return Err(CoreError::WrongState {
                        op: "recover from a peer",
                        state: other.name(),
                    });
                }
            }
        }
        let stored = self.stored_latest()?;
        if stored.transition_hash() != sealed_for {
            return Err(CoreError::StaleLatest {
                current: Some(stored.transition_hash()),
            });
        }
        let PeerSecrets { seed, salt, mesh } = secrets;
        let engine = SeedEngine::new(&seed, &salt).map_err(|e| CoreError::InvalidArgument {
            field: "ciphertext",
            message: format!("the peer's seed or salt is malformed: {e}"),
        })?;
        drop(seed);
        let verifying: VerifyingKey = *engine.transaction_signing_key().verifying_key();
        if stored.verify(&verifying).is_err() {
            tracing::warn!(%peer, "a peer sent a seed that does not verify the stored history: refused");
            return Err(CoreError::WrongSeed);
        }
        let entries = self
            .history
            .walk(stored.transition_hash())
            .map_err(map_history_error)?;
        let (_, last) = entries.last().ok_or_else(|| CoreError::Corrupt {
            key: "transitions/latest".into(),
            detail: "points to an empty chain".into(),
        })?;
        let manifest = self.read_manifest(&last.manifest_hash)?;
        self.read_chain(&entries, Keep::Nothing)?;
        let generation = entries.len() as u64;
        self.note_generation(stored.transition_hash(), generation);
        let certificates = certificates(&engine, &mesh, &stored.transition_hash())?;
        let ready = make_ready(engine, mesh, certificates, stored, generation, manifest);
        let outcome = RecoverOutcome {
            root_ca_pem: ready.root_ca.cert().pem.clone(),
            mesh_ca_pem: ready.mesh_ca.cert().pem.clone(),
            latest: ready.latest.transition_hash(),
            generation,
        };
        let mut guard = self.lock_state();
        match &*guard {
            State::RecoveryRequired { .. } | State::Stale => {}
            // Recovered meanwhile (an owner, or another peer's answer): nothing to do.
            other => {
                return Err(CoreError::WrongState {
                    op: "recover from a peer",
                    state: other.name(),
                });
            }
        }
        tracing::info!(%peer, generation, "recovered from a peer; Coordinator ready");
        self.challenges.clear();
        on_ready();
        self.commit(&mut guard, State::Ready(Box::new(ready)));
        Ok(outcome)
    }
}

impl<S: HistoryStore> Coordinator<S> {
    /// A ready replica takes over a peer's mesh secret (docs/HA.md, "One mesh CA"): the peer
    /// sent the secrets of the same seed and salt for this replica's latest transition.
    /// Returns whether the mesh CA changed. Another latest → `StaleLatest`; another seed →
    /// `WrongSeed`; not ready → `WrongState`.
    pub fn adopt_mesh_secret(
        &self,
        secrets: PeerSecrets,
        sealed_for: Digest,
        peer: &str,
    ) -> Result<bool, CoreError> {
        let (mut guard, _) = self.synced()?;
        let State::Ready(ready) = &mut *guard else {
            return Err(CoreError::WrongState {
                op: "adopt a peer's mesh CA",
                state: guard.name(),
            });
        };
        if ready.latest.transition_hash() != sealed_for {
            return Err(CoreError::StaleLatest {
                current: Some(ready.latest.transition_hash()),
            });
        }
        if secrets.seed != *ready.engine.seed() || secrets.salt != *ready.engine.salt() {
            tracing::warn!(%peer, "a peer sent another seed than this replica's for its mesh CA: refused");
            return Err(CoreError::WrongSeed);
        }
        if secrets.mesh.expose() == ready.mesh_secret.expose() {
            return Ok(false);
        }
        let mesh_ca = mesh_ca(&secrets.mesh, &sealed_for, &ready.root_ca)?;
        ready.mesh_secret = Arc::new(secrets.mesh);
        ready.mesh_ca = Arc::new(mesh_ca);
        tracing::info!(%peer, "took over the mesh CA of the replica that has been ready longest: the replica set issues from one mesh CA again");
        Ok(true)
    }
}

/// The mesh CA of the generation at `latest`: its key derived from the replica set's mesh
/// secret (seedward_shared::seed::MeshSecret), its certificate issued by `root`.
pub(super) fn mesh_ca(
    mesh: &MeshSecret,
    latest: &Digest,
    root: &CertificateAuthority,
) -> Result<CertificateAuthority, CoreError> {
    let key = mesh
        .ca_key(latest.as_bytes())
        .map_err(|e| CoreError::Internal(e.to_string()))?;
    CertificateAuthority::mesh(&key, root).map_err(|e| CoreError::Internal(e.to_string()))
}

/// The SEC1 public key of the mesh CA key a peer's mesh secret leads to at `latest` (the
/// derivation of `mesh_ca`), for the receiver's cross-check against the sender's certificate.
pub fn mesh_ca_public_key(mesh: &MeshSecret, latest: &Digest) -> Result<Vec<u8>, CoreError> {
    let key = mesh
        .ca_key(latest.as_bytes())
        .map_err(|e| CoreError::Internal(e.to_string()))?;
    Ok(key.public_key().to_sec1_bytes().to_vec())
}
