//! `SetManifest`: the first set (a new seed) and signed, atomic updates.

use std::sync::Arc;

use rand_core::OsRng;
use seedward_shared::history::StoreKey;
use seedward_shared::history::{Digest, HistoryStore, LatestTransition, Transition};
use seedward_shared::keys::{OwnerPublicKey, WorkloadOwnerPublicKey};
use seedward_shared::manifest::Manifest;
use seedward_shared::seed::{MeshSecret, Salt, Seed, SeedEngine};
use seedward_shared::seedshare::shares_for_owners;

use super::view::{SetManifestInput, SetOutcome};
use super::{Coordinator, CoreConfig, Ready, State, map_history_error, marker};
use crate::ca::CertificateAuthority;
use crate::error::CoreError;

/// The stateless checks of a `SetManifest` input: sizes against `config`, then the manifest
/// parsed, validated, and checked against the supplied policy documents.
pub fn check_input(config: &CoreConfig, input: &SetManifestInput) -> Result<Manifest, CoreError> {
    check_sizes(config, input)?;
    let manifest = Manifest::parse(input.manifest.clone())
        .map_err(|e| CoreError::InvalidManifest(e.to_string()))?;
    manifest
        .validate()
        .map_err(|e| CoreError::InvalidManifest(e.to_string()))?;
    manifest
        .check_policies(&input.policies)
        .map_err(|e| CoreError::InvalidManifest(e.to_string()))?;
    Ok(manifest)
}

fn check_sizes(config: &CoreConfig, input: &SetManifestInput) -> Result<(), CoreError> {
    if input.manifest.is_empty() {
        return Err(CoreError::InvalidArgument {
            field: "manifest",
            message: "empty; send the manifest JSON".into(),
        });
    }
    if input.manifest.len() > config.max_manifest_bytes {
        return Err(CoreError::InvalidArgument {
            field: "manifest",
            message: format!(
                "{} bytes is larger than the limit of {} bytes",
                input.manifest.len(),
                config.max_manifest_bytes
            ),
        });
    }
    if input.policies.len() > config.max_policies {
        return Err(CoreError::InvalidArgument {
            field: "policies",
            message: format!(
                "{} policies is more than the limit of {}",
                input.policies.len(),
                config.max_policies
            ),
        });
    }
    if let Some((i, p)) = input
        .policies
        .iter()
        .enumerate()
        .find(|(_, p)| p.len() > config.max_policy_bytes)
    {
        return Err(CoreError::InvalidArgument {
            field: "policies",
            message: format!(
                "policy #{i} has {} bytes, more than the limit of {} bytes",
                p.len(),
                config.max_policy_bytes
            ),
        });
    }
    Ok(())
}

/// What a `SetManifest` found the Coordinator holding, taken under the lock; the rest of
/// the request (parsing, signing, persisting) runs without it.
enum Plan {
    First,
    Update(UpdateBase),
}

/// The ready state an update is built on.
struct UpdateBase {
    engine: Arc<SeedEngine>,
    mesh_secret: Arc<MeshSecret>,
    root_ca: Arc<CertificateAuthority>,
    latest: LatestTransition,
    generation: u64,
    manifest: Arc<Manifest>,
}

impl<S: HistoryStore> Coordinator<S> {
    /// `SetManifest`.
    ///
    /// The state lock is held only to read the state at the start and to commit at the end;
    /// the store writes in between are ordered by the store's compare-and-swap of `latest`
    /// (a concurrent writer that lost gets `StaleLatest`), so a slow store never blocks
    /// readers.
    pub fn set_manifest(&self, input: SetManifestInput) -> Result<SetOutcome, CoreError> {
        check_sizes(&self.config, &input)?;
        let plan = {
            let (guard, _) = self.synced()?;
            match &*guard {
                State::Uninitialized => Plan::First,
                State::Ready(ready) => Plan::Update(UpdateBase {
                    engine: ready.engine.clone(),
                    mesh_secret: ready.mesh_secret.clone(),
                    root_ca: ready.root_ca.clone(),
                    latest: ready.latest.clone(),
                    generation: ready.generation,
                    manifest: ready.manifest.clone(),
                }),
                other => {
                    return Err(CoreError::WrongState {
                        op: "set a manifest",
                        state: other.name(),
                    });
                }
            }
        };
        let manifest = check_input(&self.config, &input)?;
        match plan {
            Plan::First => self.first_set(manifest, &input),
            Plan::Update(base) => self.update(base, manifest, &input),
        }
    }

    fn first_set(
        &self,
        manifest: Manifest,
        input: &SetManifestInput,
    ) -> Result<SetOutcome, CoreError> {
        // An update aimed at a Coordinator without history means its state is missing: never
        // turn it into a first set (a new seed would change every workload secret).
        if let Some(prev) = input.previous
            && prev != Digest::ZERO
        {
            return Err(CoreError::NoHistory { expected: prev });
        }
        if !input.signature.is_empty() {
            return Err(CoreError::NoHistory {
                expected: Digest::ZERO,
            });
        }
        if let (Some(first), Some(marker)) = (&self.initialized_before, &self.config.init_marker) {
            return Err(CoreError::HistoryMissing {
                first: first.clone(),
                marker: marker.display().to_string(),
            });
        }
        let owners = manifest
            .seedshare_owner_keys()
            .map_err(|e| CoreError::InvalidManifest(e.to_string()))?
            .into_iter()
            .map(OwnerPublicKey::from_bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CoreError::InvalidManifest(e.to_string()))?;
        let seed = Seed::generate(&mut OsRng);
        let salt = Salt::generate(&mut OsRng);
        let engine =
            SeedEngine::new(&seed, &salt).map_err(|e| CoreError::Internal(e.to_string()))?;
        let document = shares_for_owners(
            &seed,
            &salt,
            &owners,
            manifest.seedshare_owner_threshold(),
            &mut OsRng,
        )
        .map_err(|e| CoreError::Internal(e.to_string()))?;
        drop(seed);
        if owners.is_empty() {
            tracing::warn!(
                "first manifest has no SeedshareOwnerPubKeys: this Coordinator can never be recovered after a restart"
            );
        }

        let transition = Transition::first(manifest.hash());
        let mesh = MeshSecret::generate(&mut OsRng);
        let certificates = certificates(&engine, &mesh, &transition.hash())?;
        if let Some(commitments) = document.commitments() {
            // Before the pointer: a history whose latest exists has its commitments.
            self.history
                .store()
                .set(
                    &StoreKey::commitments(&transition.hash()),
                    &commitments.to_bytes(),
                )
                .map_err(|e| map_history_error(e.into()))?;
        }
        // Compare-and-swap from "no history": of two concurrent first sets (on this or
        // another replica), exactly one stores its history; the other gets StaleLatest.
        let latest = match self.persist(&manifest, &input.policies, &transition, None, &engine) {
            Ok(latest) => latest,
            Err(err @ CoreError::StaleLatest { .. }) => {
                // The state follows the store (recovery required: someone else's seed).
                drop(self.synced());
                return Err(err);
            }
            Err(err) => return Err(err),
        };
        self.note_generation(latest.transition_hash(), 1);
        let ready = make_ready(engine, mesh, certificates, latest, 1, manifest);
        let outcome = SetOutcome {
            root_ca_pem: ready.root_ca.cert().pem.clone(),
            mesh_ca_pem: ready.mesh_ca.cert().pem.clone(),
            seed_shares: Some(document),
            transition: ready.latest.transition_hash(),
            generation: ready.generation,
        };
        if let Some(path) = &self.config.init_marker {
            // After the history is stored: a failure here loses nothing but the marker, so
            // it is logged, and the seed shares are still returned.
            if let Err(err) = marker::write(path, &ready.latest.transition_hash()) {
                tracing::error!(marker = %path.display(), error = %err, "cannot write the initialization marker; a later loss of the history would not be noticed");
            }
        }
        tracing::info!(latest = %ready.latest.transition_hash(), owners = owners.len(), threshold = ready.manifest.seedshare_owner_threshold(), "first manifest set; Coordinator ready");
        // The history is stored, so the seed shares are returned whatever happens now. A
        // request that read the new latest meanwhile made the state recovery-required (it
        // holds no keys); the keys are here, so it becomes ready.
        let mut guard = self.lock_state();
        if !matches!(&*guard, State::Ready(_)) {
            self.commit(&mut guard, State::Ready(Box::new(ready)));
        }
        Ok(outcome)
    }

    fn update(
        &self,
        base: UpdateBase,
        manifest: Manifest,
        input: &SetManifestInput,
    ) -> Result<SetOutcome, CoreError> {
        let current = base.latest.transition_hash();
        if let Some(prev) = input.previous
            && prev != current
        {
            return Err(CoreError::StaleLatest {
                current: Some(current),
            });
        }
        if !manifest.same_seedshare_owners(&base.manifest) {
            return Err(CoreError::OwnersChanged);
        }
        let transition = Transition::after(current, manifest.hash());
        let proposed = transition.hash();
        let owner_keys = base.manifest.workload_owner_pub_keys();
        if owner_keys.is_empty() {
            return Err(CoreError::UpdatesDisabled);
        }
        let authorized = owner_keys.iter().any(|hex| {
            WorkloadOwnerPublicKey::from_hex(hex).is_ok_and(|k| {
                k.verify_transition(proposed.as_bytes(), &input.signature)
                    .is_ok()
            })
        });
        if !authorized {
            return Err(CoreError::BadSignature {
                transition: proposed,
            });
        }
        // Everything fallible before the store changes. The new generation's mesh CA is
        // the one every replica derives from the shared mesh secret and the new latest.
        let mesh_ca = super::peer::mesh_ca(&base.mesh_secret, &proposed, &base.root_ca)?;
        let latest = match self.persist(
            &manifest,
            &input.policies,
            &transition,
            Some(&base.latest),
            &base.engine,
        ) {
            Ok(latest) => latest,
            Err(err @ CoreError::StaleLatest { .. }) => {
                // Lost a race against another writer on the same store: the state follows
                // the store (adopts the winner, or goes stale).
                drop(self.synced());
                return Err(err);
            }
            Err(err) => return Err(err),
        };
        let generation = base.generation + 1;
        let transition_hash = latest.transition_hash();
        let our_mesh_ca_pem = mesh_ca.cert().pem.clone();
        self.note_generation(transition_hash, generation);
        let mut guard = self.lock_state();
        match &mut *guard {
            State::Ready(ready) if ready.latest.transition_hash() == current => {
                ready.latest_bytes = latest.to_bytes();
                ready.latest = latest;
                ready.generation = generation;
                ready.reference = super::ActiveReference::of(&manifest);
                ready.manifest = Arc::new(manifest);
                ready.mesh_ca = Arc::new(mesh_ca);
                self.bump();
                tracing::info!(latest = %transition_hash, generation, "manifest updated");
            }
            // A request that read the store after our compare-and-swap already adopted this
            // update (or a later one): the state stands, the update is stored.
            _ => {
                tracing::info!(latest = %transition_hash, generation, "manifest updated (already adopted from the store)");
            }
        }
        let (root_ca_pem, mesh_ca_pem) = match &*guard {
            State::Ready(ready) => (
                ready.root_ca.cert().pem.clone(),
                ready.mesh_ca.cert().pem.clone(),
            ),
            // The store moved on to a history that is not ours after the update was stored:
            // report what this update made.
            _ => (base.root_ca.cert().pem.clone(), our_mesh_ca_pem),
        };
        Ok(SetOutcome {
            root_ca_pem,
            mesh_ca_pem,
            seed_shares: None,
            transition: transition_hash,
            generation,
        })
    }

    /// Writes blobs, then swaps the latest pointer. Returns the new latest.
    fn persist(
        &self,
        manifest: &Manifest,
        policies: &[Vec<u8>],
        transition: &Transition,
        old_latest: Option<&LatestTransition>,
        engine: &SeedEngine,
    ) -> Result<LatestTransition, CoreError> {
        for policy in policies {
            self.history.put_policy(policy).map_err(map_history_error)?;
        }
        self.history
            .put_manifest(manifest.raw())
            .map_err(map_history_error)?;
        let hash = self
            .history
            .put_transition(transition)
            .map_err(map_history_error)?;
        self.history
            .set_latest(old_latest, hash, engine.transaction_signing_key())
            .map_err(map_history_error)
    }
}

/// The root and a fresh mesh CA for `engine`. Fallible, so it runs *before* anything is
/// persisted: a first set must never store a history whose seed shares were not returned.
pub(super) fn certificates(
    engine: &SeedEngine,
    mesh: &MeshSecret,
    latest: &Digest,
) -> Result<(CertificateAuthority, CertificateAuthority), CoreError> {
    let root_ca = CertificateAuthority::root(engine.root_ca_key())
        .map_err(|e| CoreError::Internal(e.to_string()))?;
    let mesh_ca = super::peer::mesh_ca(mesh, latest, &root_ca)?;
    Ok((root_ca, mesh_ca))
}

/// Builds the ready state after the store accepted the change. Infallible on purpose.
pub(super) fn make_ready(
    engine: SeedEngine,
    mesh_secret: MeshSecret,
    (root_ca, mesh_ca): (CertificateAuthority, CertificateAuthority),
    latest: LatestTransition,
    generation: u64,
    manifest: Manifest,
) -> Ready {
    Ready {
        engine: Arc::new(engine),
        mesh_secret: Arc::new(mesh_secret),
        reference: super::ActiveReference::of(&manifest),
        root_ca: Arc::new(root_ca),
        mesh_ca: Arc::new(mesh_ca),
        latest_bytes: latest.to_bytes(),
        latest,
        generation,
        manifest: Arc::new(manifest),
    }
}
