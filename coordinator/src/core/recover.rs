//! `Recover`: a seed share owner delivers seed ‖ salt, sealed to a one-time challenge key.

use p384::ecdsa::VerifyingKey;
use seedward_shared::history::HistoryStore;
use seedward_shared::recovery::{RecoveryError, open_recovery};
use seedward_shared::seed::{MeshSecret, SeedEngine};

use super::read::Keep;
use super::set::{certificates, make_ready};
use super::view::{RecoverInput, RecoverOutcome};
use super::{Coordinator, State, map_history_error};
use crate::error::CoreError;

impl<S: HistoryStore> Coordinator<S> {
    /// `Recover`.
    pub fn recover(&self, input: RecoverInput) -> Result<RecoverOutcome, CoreError> {
        let RecoverInput {
            challenge_id,
            owner,
            envelope,
        } = input;

        let mut guard = self.lock_state();
        self.refresh(&mut guard)?;
        match &*guard {
            State::RecoveryRequired { .. } | State::Stale => {}
            other => {
                return Err(CoreError::WrongState {
                    op: "recover",
                    state: other.name(),
                });
            }
        }
        // The challenge is looked at, not removed: only an envelope that opens under a
        // listed owner's key uses it up (docs/COORDINATOR.md, "Recovery challenges"), so a
        // caller who is not an owner cannot burn the challenge an owner is sealing to.
        let challenge_latest = self.challenges.open_with(&challenge_id, |c| c.latest)?;
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
        let opened = self.challenges.open_with(&challenge_id, |challenge| {
            open_recovery(
                &challenge.key,
                &owner,
                &challenge.nonce,
                challenge.latest.as_bytes(),
                &envelope,
            )
        })?;
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
        let engine = SeedEngine::new(&seed, &salt).map_err(|e| CoreError::InvalidArgument {
            field: "ciphertext",
            message: format!("the decrypted seed or salt is malformed: {e}"),
        })?;
        drop(seed);
        let verifying: VerifyingKey = *engine.transaction_signing_key().verifying_key();
        if stored.verify(&verifying).is_err() {
            tracing::warn!(owner = %owner.fingerprint(), "recovery with a seed that does not verify the stored history");
            return Err(CoreError::WrongSeed);
        }
        // "Verifies the whole chain": every manifest and policy blob, not only the
        // transitions and the latest manifest, must still hash to its name before this
        // history is served as verified.
        self.read_chain(&entries, Keep::Nothing)?;
        let generation = entries.len() as u64;
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
        tracing::info!(owner = %owner.fingerprint(), generation, "recovered; Coordinator ready");
        self.challenges.clear();
        self.commit(&mut guard, State::Ready(Box::new(ready)));
        Ok(outcome)
    }
}
