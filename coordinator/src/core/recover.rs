//! `Recover`: a seed share owner delivers seed ‖ salt, sealed to a one-time challenge key.

use p384::ecdsa::VerifyingKey;
use seedward_shared::history::{Digest, HistoryStore, LatestTransition, Transition};
use seedward_shared::manifest::Manifest;
use seedward_shared::recovery::{RecoveryError, open_recovery};
use seedward_shared::seed::{MeshSecret, Salt, Seed, SeedEngine};

use super::read::Keep;
use super::set::{certificates, make_ready};
use super::view::{RecoverInput, RecoverOutcome};
use super::{Coordinator, State, map_history_error};
use crate::error::{CoreError, StateName};

impl<S: HistoryStore> Coordinator<S> {
    /// `Recover`.
    pub fn recover(&self, input: RecoverInput) -> Result<RecoverOutcome, CoreError> {
        let RecoverInput {
            challenge_id,
            owner,
            envelope,
        } = input;

        // The state is checked under the lock; everything that reads the store (the chain,
        // twice: walked, then every blob verified) runs without it, and the new state is
        // committed only if no one recovered this Coordinator meanwhile.
        {
            let (guard, _) = self.synced()?;
            match &*guard {
                State::RecoveryRequired { .. } | State::Stale => {}
                other => {
                    return Err(CoreError::WrongState {
                        op: "recover",
                        state: other.name(),
                    });
                }
            }
        }
        // The challenge is looked at, not removed: only an envelope that opens under a
        // listed owner's key uses it up (docs/COORDINATOR.md, "Recovery challenges"), so a
        // caller who is not an owner cannot burn the challenge an owner is sealing to.
        let challenge_latest = self
            .challenges
            .open_with(&challenge_id, |c| c.latest)
            .map_err(|e| self.unless_recovered(e))?;
        let stored = self.stored_latest()?;
        if stored.transition_hash() != challenge_latest {
            // Useless to everyone now: forget it.
            self.challenges.consume(&challenge_id);
            return Err(CoreError::Challenge {
                what: "for a history that has changed since it was issued",
            });
        }
        // The owner must be a seed share owner of the stored manifest.
        let entries = self
            .history
            .walk(stored.transition_hash())
            .map_err(map_history_error)?;
        let (_, last) = entries.last().ok_or_else(|| CoreError::Corrupt {
            key: "transitions/latest".into(),
            detail: "points to an empty chain".into(),
        })?;
        let manifest = self.read_manifest(&last.manifest_hash)?;
        if !manifest
            .seedshare_owner_keys()
            .map_err(|e| CoreError::Corrupt {
                key: format!("manifests/{}", last.manifest_hash),
                detail: e.to_string(),
            })?
            .iter()
            .any(|k| k == owner.as_bytes())
        {
            return Err(CoreError::UnknownOwner {
                fingerprint: owner.fingerprint(),
            });
        }
        let opened = self
            .challenges
            .open_with(&challenge_id, |challenge| {
                open_recovery(
                    &challenge.key,
                    &owner,
                    &challenge.nonce,
                    challenge.latest.as_bytes(),
                    &envelope,
                )
            })
            .map_err(|e| self.unless_recovered(e))?;
        let (seed, salt) = match opened {
            Ok(opened) => {
                // Single use: it opened under a listed owner's key.
                self.challenges.consume(&challenge_id);
                opened
            }
            Err(RecoveryError::Open { .. }) => {
                return Err(CoreError::EnvelopeRejected {
                    fingerprint: owner.fingerprint(),
                });
            }
            // Opened (so the challenge is used up), but what it carries is not seed ‖ salt.
            Err(other) => {
                self.challenges.consume(&challenge_id);
                return Err(CoreError::InvalidArgument {
                    field: "ciphertext",
                    message: other.to_string(),
                });
            }
        };
        let outcome = self
            .finish_recovery(&seed, &salt, stored, &entries, manifest)
            .inspect_err(|e| {
                if *e == CoreError::WrongSeed {
                    tracing::warn!(owner = %owner.fingerprint(), "the owner's seed does not verify the stored history");
                }
            })?;
        drop((seed, salt));
        tracing::info!(owner = %owner.fingerprint(), generation = outcome.generation, "recovered; Coordinator ready");
        Ok(outcome)
    }

    /// The end of every recovery (one owner's seed, or k combined shares): derive the keys,
    /// verify the signed latest pointer and re-hash every blob of the chain (without the
    /// state lock), and only then become `Ready`, if no other recovery did meanwhile. Drops
    /// every outstanding challenge. Call it without the state lock.
    pub(super) fn finish_recovery(
        &self,
        seed: &Seed,
        salt: &Salt,
        stored: LatestTransition,
        entries: &[(Digest, Transition)],
        manifest: Manifest,
    ) -> Result<RecoverOutcome, CoreError> {
        let engine = SeedEngine::new(seed, salt).map_err(|e| CoreError::InvalidArgument {
            field: "ciphertext",
            message: format!("the decrypted seed or salt is malformed: {e}"),
        })?;
        let verifying: VerifyingKey = *engine.transaction_signing_key().verifying_key();
        if stored.verify(&verifying).is_err() {
            tracing::warn!("recovery with a seed that does not verify the stored history");
            return Err(CoreError::WrongSeed);
        }
        // "Verifies the whole chain": every manifest and policy blob, not only the
        // transitions and the latest manifest, must still hash to its name before this
        // history is served as verified.
        self.read_chain(entries, Keep::Nothing)?;
        let generation = entries.len() as u64;
        self.note_generation(stored.transition_hash(), generation);
        // A recovery by an owner starts a new mesh secret (a new mesh CA): the old one died
        // with the process. Replicas that recover from this one later share it.
        let mesh = MeshSecret::generate(&mut rand_core::OsRng);
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
            // Another recovery of the same history finished first: this one succeeded
            // too, and the Coordinator is already what the caller asked for.
            State::Ready(current) if current.latest.transition_hash() == outcome.latest => {
                tracing::info!("recovered, but another recovery finished first");
                return Ok(RecoverOutcome {
                    root_ca_pem: current.root_ca.cert().pem.clone(),
                    mesh_ca_pem: current.mesh_ca.cert().pem.clone(),
                    latest: current.latest.transition_hash(),
                    generation: current.generation,
                });
            }
            other => {
                return Err(CoreError::WrongState {
                    op: "recover",
                    state: other.name(),
                });
            }
        }
        self.challenges.clear();
        self.commit(&mut guard, State::Ready(Box::new(ready)));
        Ok(outcome)
    }

    /// A challenge that vanished because another owner's recovery finished meanwhile (it
    /// clears every challenge) is "already ready", which is what the caller needs to know.
    fn unless_recovered(&self, err: CoreError) -> CoreError {
        match self.lock_state().name() {
            StateName::Ready => CoreError::WrongState {
                op: "recover",
                state: StateName::Ready,
            },
            _ => err,
        }
    }
}
