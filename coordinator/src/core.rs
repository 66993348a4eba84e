//! The Coordinator's state machine and the driver that persists before it commits.
//!
//! # States
//! ```text
//!   (no history) Uninitialized ──SetManifest──▶ Ready ◀──Recover── RecoveryRequired (history, no keys)
//!                                              │  ▲                       ▲
//!                 store moved to a non-descendant │  └─────────Recover─────┐  │ restart
//!                                              ▼                         │  │
//!                                            Stale ─────────────────────────┘
//! ```
//!
//! # Invariants
//! - Derived keys live in memory only, inside [`Ready`]; leaving `Ready` drops (and so
//!   zeroizes) them.
//! - Every change is written to the store first (blobs, then the latest pointer by
//!   compare-and-swap); the in-memory state changes only after the store accepted it.
//!   A crash between the two leaves the store at the old or the new state, and a restart
//!   always starts from the store.
//! - All operations run under one lock, on a blocking thread (the store is synchronous).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use p384::ecdsa::VerifyingKey;
use rand_core::{OsRng, RngCore};
use seedward_shared::history::{
    Digest, History, HistoryError, HistoryStore, LatestTransition, StoreError, StoreKey, Transition,
};
use seedward_shared::keys::{OwnerPublicKey, WorkloadOwnerPublicKey};
use seedward_shared::manifest::Manifest;
use seedward_proto::v1 as pb;
use seedward_shared::recovery::{
    RecoveryChallengeKey, RecoveryEnvelope, RecoveryError, open_recovery,
};
use seedward_shared::seed::{Salt, Seed, SeedEngine};
use seedward_shared::seedshare::encrypt_for_owners;
use tokio::sync::watch;

use crate::ca::CertificateAuthority;
use crate::error::{CoreError, StateName};
use crate::evidence::EvidenceProvider;
use crate::tls::TlsIdentity;

/// Tunables of the core; the binary sets them from flags.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// How long a recovery challenge stays valid.
    pub challenge_ttl: Duration,
    /// How many unused challenges are kept; the oldest is dropped beyond this.
    pub max_challenges: usize,
    /// Largest accepted manifest.
    pub max_manifest_bytes: usize,
    /// Largest accepted policy document, and how many per request.
    pub max_policy_bytes: usize,
    pub max_policies: usize,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            challenge_ttl: Duration::from_secs(300),
            max_challenges: 64,
            max_manifest_bytes: 1 << 20,
            max_policy_bytes: 1 << 20,
            max_policies: 1024,
        }
    }
}

/// Everything a ready Coordinator holds in memory.
struct Ready {
    engine: SeedEngine,
    root_ca: CertificateAuthority,
    mesh_ca: CertificateAuthority,
    latest: LatestTransition,
    latest_bytes: Vec<u8>,
    generation: u64,
    manifest: Manifest,
}

enum State {
    Uninitialized,
    Ready(Box<Ready>),
    /// History in the store, no keys. Caches the generation of the latest it last saw.
    RecoveryRequired {
        generation: Option<(Digest, u64)>,
    },
    Stale,
}

impl State {
    fn name(&self) -> StateName {
        match self {
            State::Uninitialized => StateName::Uninitialized,
            State::Ready(_) => StateName::Ready,
            State::RecoveryRequired { .. } => StateName::RecoveryRequired,
            State::Stale => StateName::Stale,
        }
    }
}

struct Challenge {
    id: [u8; 16],
    key: RecoveryChallengeKey,
    nonce: [u8; 32],
    latest: Digest,
    expires: Instant,
    expires_at_unix_ms: i64,
}

impl Challenge {
    fn to_proto(&self) -> pb::RecoveryChallenge {
        pb::RecoveryChallenge {
            id: self.id.to_vec(),
            public_key: self.key.public_key().to_vec(),
            nonce: self.nonce.to_vec(),
            latest_transition_hash: self.latest.as_bytes().to_vec(),
            expires_at_unix_ms: self.expires_at_unix_ms,
        }
    }
}

/// The Coordinator core: a history store, the state, outstanding recovery challenges.
pub struct Coordinator<S: HistoryStore> {
    history: History<S>,
    state: Mutex<State>,
    challenges: Mutex<VecDeque<Challenge>>,
    tls: Arc<TlsIdentity>,
    evidence: Arc<dyn EvidenceProvider>,
    config: CoreConfig,
    state_tx: watch::Sender<StateName>,
}

impl<S: HistoryStore> Coordinator<S> {
    /// Starts from whatever the store holds: no latest pointer → uninitialized, otherwise
    /// recovery required (the keys died with the previous process).
    pub fn new(
        store: S,
        tls: Arc<TlsIdentity>,
        evidence: Arc<dyn EvidenceProvider>,
        config: CoreConfig,
    ) -> Result<Self, CoreError> {
        let history = History::new(store);
        let state = match history.has_latest().map_err(map_history_error)? {
            false => State::Uninitialized,
            true => State::RecoveryRequired { generation: None },
        };
        let (state_tx, _) = watch::channel(state.name());
        Ok(Self {
            history,
            state: Mutex::new(state),
            challenges: Mutex::new(VecDeque::new()),
            tls,
            evidence,
            config,
            state_tx,
        })
    }

    /// Subscribes to state changes (readiness probes, logs).
    pub fn subscribe(&self) -> watch::Receiver<StateName> {
        self.state_tx.subscribe()
    }

    pub fn state_name(&self) -> StateName {
        self.lock_state().name()
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        // Operations never leave the state half-changed (they build the new state first and
        // assign it last), so a poisoned lock still holds a whole state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_challenges(&self) -> MutexGuard<'_, VecDeque<Challenge>> {
        self.challenges.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn commit(&self, guard: &mut MutexGuard<'_, State>, new: State) {
        let name = new.name();
        **guard = new;
        if name != StateName::Ready
            && let Err(err) = self.tls.self_sign()
        {
            tracing::error!(error = %err, "could not re-issue the self-signed TLS certificate");
        }
        self.state_tx.send_replace(name);
        tracing::info!(state = %name, "state changed");
    }

    /// Checks that the store's latest pointer is still ours. A descendant signed by our key
    /// (another replica's update) is adopted; anything else makes this replica stale.
    fn refresh(&self, guard: &mut MutexGuard<'_, State>) -> Result<(), CoreError> {
        let State::Ready(ready) = &mut **guard else {
            if let State::Uninitialized = **guard
                && self.latest_bytes().map_err(map_history_error)?.is_some()
            {
                // Someone else initialized the shared store: we hold no keys for it.
                self.commit(guard, State::RecoveryRequired { generation: None });
            }
            return Ok(());
        };
        let stored = self.latest_bytes().map_err(map_history_error)?;
        if stored.as_deref() == Some(ready.latest_bytes.as_slice()) {
            return Ok(());
        }
        let verifying = *ready.engine.transaction_signing_key().verifying_key();
        // Only "not signed by our key" or "not a descendant of ours" makes this replica stale.
        // A failed read is an error for this request; the keys stay in memory.
        let descendant = match stored {
            None => None,
            Some(bytes) => match LatestTransition::from_bytes(&bytes) {
                Err(_) => None,
                Ok(latest) if latest.verify(&verifying).is_err() => None,
                Ok(latest) => {
                    let entries = self
                        .history
                        .walk(latest.transition_hash())
                        .map_err(map_history_error)?;
                    let ours = ready.latest.transition_hash();
                    if entries.iter().any(|(hash, _)| *hash == ours) {
                        Some((latest, bytes, entries))
                    } else {
                        None
                    }
                }
            },
        };
        let Some((latest, bytes, entries)) = descendant else {
            tracing::warn!(
                "the store moved to a transition that is not a descendant of ours: stale"
            );
            self.commit(guard, State::Stale);
            return Ok(());
        };
        let Some((_, last)) = entries.last() else {
            return Err(CoreError::Internal(
                "a descendant chain cannot be empty".into(),
            ));
        };
        let manifest_bytes = self
            .history
            .get_manifest(&last.manifest_hash)
            .map_err(map_history_error)?;
        let manifest = Manifest::parse(manifest_bytes).map_err(|e| CoreError::Corrupt {
            key: format!("manifests/{}", last.manifest_hash),
            detail: e.to_string(),
        })?;
        // Another replica's update is a new generation: it gets a fresh mesh CA here too.
        let mesh_ca = CertificateAuthority::mesh(
            &SeedEngine::generate_mesh_ca_key(&mut OsRng),
            &ready.root_ca,
        )
        .map_err(|e| CoreError::Internal(e.to_string()))?;
        tracing::info!(latest = %latest.transition_hash(), generation = entries.len(), "adopted a descendant transition from the store");
        ready.latest = latest;
        ready.latest_bytes = bytes;
        ready.generation = entries.len() as u64;
        ready.manifest = manifest;
        ready.mesh_ca = mesh_ca;
        Ok(())
    }

    fn latest_bytes(&self) -> Result<Option<Vec<u8>>, HistoryError> {
        Ok(self.history.store().get(&StoreKey::latest())?)
    }

    /// `WorkloadApi.GetCredentials`: the mesh certificate (and workload secret, if the
    /// policy entry names one) for a workload whose evidence a verifier accepted.
    /// Not ready → `WrongState` (FailedPrecondition: the workload retries); a policy hash
    /// that the active manifest does not list → `UnknownPolicy` (PermissionDenied).
    pub fn workload_credentials(
        &self,
        workload: &crate::credentials::VerifiedWorkload,
        public_key: &crate::credentials::WorkloadPublicKey,
    ) -> Result<crate::credentials::WorkloadCredentials, CoreError> {
        let mut guard = self.lock_state();
        self.refresh(&mut guard)?;
        let State::Ready(ready) = &*guard else {
            return Err(CoreError::WrongState {
                op: "issue workload credentials",
                state: guard.name(),
            });
        };
        let wanted = workload.policy_hash();
        let entry = ready
            .manifest
            .policies()
            .iter()
            .find(|(key, _)| hex::decode(key).is_ok_and(|b| b == wanted.as_bytes()))
            .map(|(_, entry)| entry)
            .ok_or(CoreError::UnknownPolicy {
                policy_hash: *wanted,
            })?;
        crate::credentials::issue(
            &ready.engine,
            &ready.root_ca,
            &ready.mesh_ca,
            wanted,
            entry,
            public_key,
        )
    }

    /// `GetStatus`.
    pub fn status(&self) -> Result<pb::GetStatusResponse, CoreError> {
        let mut guard = self.lock_state();
        self.refresh(&mut guard)?;
        let tls_spki = self.tls.spki_sha256();
        let mut response = pb::GetStatusResponse {
            state: proto_state(guard.name()) as i32,
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        };
        match &mut *guard {
            State::Uninitialized => {
                response.evidence = Some(self.evidence.evidence(&tls_spki, None));
            }
            State::Ready(ready) => {
                response.generation = ready.generation;
                response.latest_transition_hash =
                    ready.latest.transition_hash().as_bytes().to_vec();
                response.root_ca_cert = ready.root_ca.cert().pem.clone();
                response.mesh_ca_cert = ready.mesh_ca.cert().pem.clone();
                response.evidence = Some(self.evidence.evidence(&tls_spki, None));
            }
            State::RecoveryRequired { generation } => {
                let latest = self.stored_latest_hash()?;
                let count = match generation {
                    Some((hash, n)) if *hash == latest => *n,
                    _ => match self.history.walk(latest) {
                        Ok(chain) => {
                            let n = chain.len() as u64;
                            *generation = Some((latest, n));
                            n
                        }
                        // Status must still say "recovery required"; GetManifests and
                        // Recover report the corruption with the file's name.
                        Err(err) => {
                            tracing::warn!(error = %err, "the stored history does not walk");
                            0
                        }
                    },
                };
                response.generation = count;
                response.latest_transition_hash = latest.as_bytes().to_vec();
                let challenge = self.new_challenge(latest);
                response.evidence = Some(
                    self.evidence
                        .evidence(&tls_spki, Some(&public_key_array(&challenge))),
                );
                response.challenge = Some(challenge);
            }
            State::Stale => {
                let latest = self.stored_latest_hash()?;
                response.latest_transition_hash = latest.as_bytes().to_vec();
                let challenge = self.new_challenge(latest);
                response.evidence = Some(
                    self.evidence
                        .evidence(&tls_spki, Some(&public_key_array(&challenge))),
                );
                response.challenge = Some(challenge);
            }
        }
        Ok(response)
    }

    /// The stored latest pointer (signature not checked); its absence while the state says
    /// there is a history is corruption.
    fn stored_latest(&self) -> Result<LatestTransition, CoreError> {
        self.history
            .latest_unverified()
            .map_err(map_history_error)?
            .ok_or_else(|| CoreError::Corrupt {
                key: StoreKey::LATEST.into(),
                detail: "the latest pointer disappeared".into(),
            })
    }

    fn stored_latest_hash(&self) -> Result<Digest, CoreError> {
        Ok(self.stored_latest()?.transition_hash())
    }

    /// The recovery challenge to offer: the newest unused one for `latest` while more than
    /// half of its lifetime is left, otherwise a new one. Reusing it means a flood of
    /// `GetStatus` calls cannot evict the challenge an operator is sealing to.
    fn new_challenge(&self, latest: Digest) -> pb::RecoveryChallenge {
        let now = Instant::now();
        let mut challenges = self.lock_challenges();
        challenges.retain(|c| c.expires > now);
        if let Some(current) = challenges.back()
            && current.latest == latest
            && current.expires.saturating_duration_since(now) > self.config.challenge_ttl / 2
        {
            return current.to_proto();
        }
        let mut id = [0u8; 16];
        let mut nonce = [0u8; 32];
        OsRng.fill_bytes(&mut id);
        OsRng.fill_bytes(&mut nonce);
        let expires_at_unix_ms = (SystemTime::now() + self.config.challenge_ttl)
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        while challenges.len() >= self.config.max_challenges.max(1) {
            challenges.pop_front();
        }
        let challenge = Challenge {
            id,
            key: RecoveryChallengeKey::generate(&mut OsRng),
            nonce,
            latest,
            expires: now + self.config.challenge_ttl,
            expires_at_unix_ms,
        };
        let proto = challenge.to_proto();
        challenges.push_back(challenge);
        proto
    }

    /// `SetManifest`.
    pub fn set_manifest(
        &self,
        req: pb::SetManifestRequest,
    ) -> Result<pb::SetManifestResponse, CoreError> {
        let previous = check_set_manifest_request(&self.config, &req)?;
        let mut guard = self.lock_state();
        self.refresh(&mut guard)?;
        if let State::RecoveryRequired { .. } | State::Stale = &*guard {
            return Err(CoreError::WrongState {
                op: "set a manifest",
                state: guard.name(),
            });
        }
        let manifest = manifest_from_request(&req)?;
        match &*guard {
            State::Uninitialized => self.first_set(
                &mut guard,
                manifest,
                &req.policies,
                previous,
                &req.signature,
            ),
            State::Ready(_) => self.update(
                &mut guard,
                manifest,
                &req.policies,
                previous,
                &req.signature,
            ),
            other => Err(CoreError::WrongState {
                op: "set a manifest",
                state: other.name(),
            }),
        }
    }

    fn first_set(
        &self,
        guard: &mut MutexGuard<'_, State>,
        manifest: Manifest,
        policies: &[Vec<u8>],
        previous: Option<Digest>,
        signature: &[u8],
    ) -> Result<pb::SetManifestResponse, CoreError> {
        // An update aimed at a Coordinator without history means its state is missing: never
        // turn it into a first set (a new seed would change every workload secret).
        if let Some(prev) = previous
            && prev != Digest::ZERO
        {
            return Err(CoreError::NoHistory { expected: prev });
        }
        if !signature.is_empty() {
            return Err(CoreError::NoHistory {
                expected: Digest::ZERO,
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
        let document = encrypt_for_owners(&seed, &salt, &owners, &mut OsRng)
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        drop(seed);
        if owners.is_empty() {
            tracing::warn!(
                "first manifest has no SeedshareOwnerPubKeys: this Coordinator can never be recovered after a restart"
            );
        }

        let certificates = Self::certificates(&engine)?;
        let transition = Transition::first(manifest.hash());
        let latest = self.persist(&manifest, policies, &transition, None, &engine)?;
        let ready = self.make_ready(engine, certificates, latest, 1, manifest);
        let response = pb::SetManifestResponse {
            root_ca_cert: ready.root_ca.cert().pem.clone(),
            mesh_ca_cert: ready.mesh_ca.cert().pem.clone(),
            seed_share_document: Some(pb::SeedShareDocument {
                seed_shares: document
                    .seed_shares
                    .iter()
                    .map(|s| pb::SeedShare {
                        public_key: s.public_key.clone(),
                        encrypted_seed: s.encrypted_seed.clone(),
                    })
                    .collect(),
                salt: document.salt.as_bytes().to_vec(),
            }),
            transition_hash: ready.latest.transition_hash().as_bytes().to_vec(),
            generation: ready.generation,
        };
        tracing::info!(latest = %ready.latest.transition_hash(), owners = owners.len(), "first manifest set; Coordinator ready");
        self.commit(guard, State::Ready(Box::new(ready)));
        Ok(response)
    }

    fn update(
        &self,
        guard: &mut MutexGuard<'_, State>,
        manifest: Manifest,
        policies: &[Vec<u8>],
        previous: Option<Digest>,
        signature: &[u8],
    ) -> Result<pb::SetManifestResponse, CoreError> {
        let State::Ready(ready) = &mut **guard else {
            return Err(CoreError::Internal("update outside the ready state".into()));
        };
        let current = ready.latest.transition_hash();
        if let Some(prev) = previous
            && prev != current
        {
            return Err(CoreError::StaleLatest {
                current: Some(current),
            });
        }
        if !manifest.same_seedshare_owners(&ready.manifest) {
            return Err(CoreError::OwnersChanged);
        }
        let transition = Transition::after(current, manifest.hash());
        let proposed = transition.hash();
        let owner_keys = ready.manifest.workload_owner_pub_keys();
        if owner_keys.is_empty() {
            return Err(CoreError::UpdatesDisabled);
        }
        let authorized = owner_keys.iter().any(|hex| {
            WorkloadOwnerPublicKey::from_hex(hex)
                .is_ok_and(|k| k.verify_transition(proposed.as_bytes(), signature).is_ok())
        });
        if !authorized {
            return Err(CoreError::BadSignature {
                transition: proposed,
            });
        }
        // Everything fallible before the store changes.
        let mesh_ca = CertificateAuthority::mesh(
            &SeedEngine::generate_mesh_ca_key(&mut OsRng),
            &ready.root_ca,
        )
        .map_err(|e| CoreError::Internal(e.to_string()))?;
        let old_latest = ready.latest.clone();
        let latest = match self.persist(
            &manifest,
            policies,
            &transition,
            Some(&old_latest),
            &ready.engine,
        ) {
            Ok(latest) => latest,
            Err(err @ CoreError::StaleLatest { .. }) => {
                // Lost a race against another writer on the same store.
                self.refresh(guard)?;
                return Err(err);
            }
            Err(err) => return Err(err),
        };
        ready.latest_bytes = latest.to_bytes();
        ready.latest = latest;
        ready.generation += 1;
        ready.manifest = manifest;
        ready.mesh_ca = mesh_ca;
        tracing::info!(latest = %ready.latest.transition_hash(), generation = ready.generation, "manifest updated");
        Ok(pb::SetManifestResponse {
            root_ca_cert: ready.root_ca.cert().pem.clone(),
            mesh_ca_cert: ready.mesh_ca.cert().pem.clone(),
            seed_share_document: None,
            transition_hash: ready.latest.transition_hash().as_bytes().to_vec(),
            generation: ready.generation,
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

    /// The root and a fresh mesh CA for `engine`. Fallible, so it runs *before* anything is
    /// persisted: a first set must never store a history whose seed shares were not returned.
    fn certificates(
        engine: &SeedEngine,
    ) -> Result<(CertificateAuthority, CertificateAuthority), CoreError> {
        let root_ca = CertificateAuthority::root(engine.root_ca_key())
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        let mesh_key = SeedEngine::generate_mesh_ca_key(&mut OsRng);
        let mesh_ca = CertificateAuthority::mesh(&mesh_key, &root_ca)
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        Ok((root_ca, mesh_ca))
    }

    /// Builds the ready state after the store accepted the change. Infallible on purpose:
    /// a TLS re-issue failure leaves the self-signed certificate in place and is logged.
    fn make_ready(
        &self,
        engine: SeedEngine,
        (root_ca, mesh_ca): (CertificateAuthority, CertificateAuthority),
        latest: LatestTransition,
        generation: u64,
        manifest: Manifest,
    ) -> Ready {
        if let Err(err) = self.tls.issue_from(&root_ca) {
            tracing::error!(error = %err, "could not issue the TLS certificate from the root CA; it stays self-signed");
        }
        Ready {
            engine,
            root_ca,
            mesh_ca,
            latest_bytes: latest.to_bytes(),
            latest,
            generation,
            manifest,
        }
    }

    /// `GetManifests`.
    pub fn manifests(&self) -> Result<pb::GetManifestsResponse, CoreError> {
        let mut guard = self.lock_state();
        self.refresh(&mut guard)?;
        let (latest, verified, root, mesh) = match &*guard {
            State::Uninitialized => {
                return Err(CoreError::WrongState {
                    op: "get the manifest history",
                    state: StateName::Uninitialized,
                });
            }
            State::Ready(ready) => (
                ready.latest.clone(),
                true,
                ready.root_ca.cert().pem.clone(),
                ready.mesh_ca.cert().pem.clone(),
            ),
            State::RecoveryRequired { .. } | State::Stale => {
                let latest = self.stored_latest()?;
                (latest, false, String::new(), String::new())
            }
        };
        drop(guard);
        // Reading the chain needs no lock: blobs are content-addressed and immutable, and
        // `latest` was captured above.
        let entries = self
            .history
            .walk(latest.transition_hash())
            .map_err(map_history_error)?;
        let (manifests, policies) = self.read_chain(&entries, Keep::Manifests)?;
        Ok(pb::GetManifestsResponse {
            manifests,
            policies,
            root_ca_cert: root,
            mesh_ca_cert: mesh,
            latest_transition_hash: latest.transition_hash().as_bytes().to_vec(),
            latest_signature: latest.signature().to_vec(),
            verified,
        })
    }

    /// Reads every manifest of `entries` and every policy they reference (each once), each
    /// re-hashed against its name: a missing or tampered blob is [`CoreError::Corrupt`].
    ///
    /// With [`Keep::Manifests`] the manifest bytes are returned (`GetManifests`); with
    /// [`Keep::Nothing`] they are only checked and dropped one by one (`Recover`), so that a
    /// long history is never held in memory just to be verified. Each manifest is read into
    /// one buffer that is parsed and then kept or dropped, never copied.
    fn read_chain(
        &self,
        entries: &[(Digest, Transition)],
        keep: Keep,
    ) -> Result<ChainBlobs, CoreError> {
        let mut manifests = Vec::with_capacity(match keep {
            Keep::Manifests => entries.len(),
            Keep::Nothing => 0,
        });
        let mut policies = Vec::new();
        let mut seen_policy = std::collections::BTreeSet::new();
        let mut previous: Option<Digest> = None;
        for (_, transition) in entries {
            let hash = transition.manifest_hash;
            // The same manifest twice in a row (a re-set of identical bytes) was read,
            // re-hashed and checked a moment ago.
            if previous == Some(hash) {
                if let (Keep::Manifests, Some(last)) = (keep, manifests.last()) {
                    let again: Vec<u8> = Vec::clone(last);
                    manifests.push(again);
                }
                continue;
            }
            let bytes = self
                .history
                .get_manifest(&hash)
                .map_err(map_history_error)?;
            let manifest = Manifest::parse(bytes).map_err(|e| CoreError::Corrupt {
                key: format!("manifests/{hash}"),
                detail: e.to_string(),
            })?;
            let hashes = manifest.policy_hashes().map_err(|e| CoreError::Corrupt {
                key: format!("manifests/{hash}"),
                detail: e.to_string(),
            })?;
            for policy in hashes {
                if seen_policy.insert(policy) {
                    policies.push(
                        self.history
                            .get_policy(&policy)
                            .map_err(map_history_error)?,
                    );
                }
            }
            previous = Some(hash);
            if keep == Keep::Manifests {
                manifests.push(manifest.into_raw());
            }
        }
        Ok((manifests, policies))
    }

    /// `Recover`.
    pub fn recover(&self, req: pb::RecoverRequest) -> Result<pb::RecoverResponse, CoreError> {
        let RecoverRequestParts {
            challenge_id,
            owner,
            envelope,
        } = recover_request_parts(req)?;

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
        // Single use: the challenge is removed before anything else is checked.
        let challenge = {
            let mut challenges = self.lock_challenges();
            let position = challenges
                .iter()
                .position(|c| c.id.as_slice() == challenge_id.as_slice());
            position.and_then(|i| challenges.remove(i))
        }
        .ok_or(CoreError::Challenge {
            what: "unknown or already used",
        })?;
        if challenge.expires <= Instant::now() {
            return Err(CoreError::Challenge { what: "expired" });
        }
        let stored = self.stored_latest()?;
        if stored.transition_hash() != challenge.latest {
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
        let manifest_bytes = self
            .history
            .get_manifest(&last.manifest_hash)
            .map_err(map_history_error)?;
        let manifest = Manifest::parse(manifest_bytes).map_err(|e| CoreError::Corrupt {
            key: format!("manifests/{}", last.manifest_hash),
            detail: e.to_string(),
        })?;
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
        let (seed, salt) = open_recovery(
            &challenge.key,
            &owner,
            &challenge.nonce,
            challenge.latest.as_bytes(),
            &envelope,
        )
        .map_err(|e| match e {
            RecoveryError::Open { .. } => CoreError::EnvelopeRejected {
                fingerprint: owner.fingerprint(),
            },
            // The envelope authenticated, but what it carries is not seed ‖ salt.
            other => CoreError::InvalidArgument {
                field: "ciphertext",
                message: other.to_string(),
            },
        })?;
        drop(challenge);
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
        // "Verifies the whole chain" (DESIGN §6): every manifest and policy blob, not only the
        // transitions and the latest manifest, must still hash to its name before this history
        // is served as verified.
        self.read_chain(&entries, Keep::Nothing)?;
        let generation = entries.len() as u64;
        let certificates = Self::certificates(&engine)?;
        let ready = self.make_ready(engine, certificates, stored, generation, manifest);
        let response = pb::RecoverResponse {
            root_ca_cert: ready.root_ca.cert().pem.clone(),
            mesh_ca_cert: ready.mesh_ca.cert().pem.clone(),
            latest_transition_hash: ready.latest.transition_hash().as_bytes().to_vec(),
            generation,
        };
        tracing::info!(owner = %owner.fingerprint(), generation, "recovered; Coordinator ready");
        self.lock_challenges().clear();
        self.commit(&mut guard, State::Ready(Box::new(ready)));
        Ok(response)
    }
}

/// The manifests (oldest first) and the policy documents of a history, as stored.
type ChainBlobs = (Vec<Vec<u8>>, Vec<Vec<u8>>);

/// What [`Coordinator::read_chain`] returns besides checking every blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// The manifest bytes, oldest first (`GetManifests`).
    Manifests,
    /// Nothing: verify only (`Recover`).
    Nothing,
}

fn public_key_array(challenge: &pb::RecoveryChallenge) -> [u8; 32] {
    challenge
        .public_key
        .as_slice()
        .try_into()
        .unwrap_or([0; 32])
}

fn proto_state(name: StateName) -> pb::CoordinatorState {
    match name {
        StateName::Uninitialized => pb::CoordinatorState::Uninitialized,
        StateName::Ready => pb::CoordinatorState::Ready,
        StateName::RecoveryRequired => pb::CoordinatorState::RecoveryRequired,
        StateName::Stale => pb::CoordinatorState::Stale,
    }
}

// ---------------------------------------------------------------------------------------------
// Request conversions: the checks that need no state, public so that the fuzz targets run
// exactly what the service runs (see docs/FUZZING.md).

/// The stateless checks of a `SetManifest` request: sizes against `config`, and the
/// optional previous transition hash, which must be 32 bytes.
pub fn check_set_manifest_request(
    config: &CoreConfig,
    req: &pb::SetManifestRequest,
) -> Result<Option<Digest>, CoreError> {
    check_sizes(config, req)?;
    req.previous_transition_hash
        .as_deref()
        .map(|b| digest_field("previous_transition_hash", b))
        .transpose()
}

/// The manifest of a `SetManifest` request: parsed, validated, and checked against the
/// supplied policy documents.
pub fn manifest_from_request(req: &pb::SetManifestRequest) -> Result<Manifest, CoreError> {
    let manifest = Manifest::parse(req.manifest.clone())
        .map_err(|e| CoreError::InvalidManifest(e.to_string()))?;
    manifest
        .validate()
        .map_err(|e| CoreError::InvalidManifest(e.to_string()))?;
    manifest
        .check_policies(&req.policies)
        .map_err(|e| CoreError::InvalidManifest(e.to_string()))?;
    Ok(manifest)
}

/// A `Recover` request's fields, converted.
#[derive(Debug)]
pub struct RecoverRequestParts {
    pub challenge_id: Vec<u8>,
    pub owner: OwnerPublicKey,
    pub envelope: RecoveryEnvelope,
}

/// The stateless conversion of a `Recover` request: key lengths and the owner key.
pub fn recover_request_parts(req: pb::RecoverRequest) -> Result<RecoverRequestParts, CoreError> {
    let owner_bytes: [u8; 32] =
        req.owner_public_key
            .as_slice()
            .try_into()
            .map_err(|_| CoreError::InvalidArgument {
                field: "owner_public_key",
                message: format!(
                    "must be 32 bytes (an X25519 public key), got {}",
                    req.owner_public_key.len()
                ),
            })?;
    let encapsulated_key: [u8; 32] =
        req.encapsulated_key
            .as_slice()
            .try_into()
            .map_err(|_| CoreError::InvalidArgument {
                field: "encapsulated_key",
                message: format!("must be 32 bytes, got {}", req.encapsulated_key.len()),
            })?;
    let owner =
        OwnerPublicKey::from_bytes(owner_bytes).map_err(|e| CoreError::InvalidArgument {
            field: "owner_public_key",
            message: e.to_string(),
        })?;
    Ok(RecoverRequestParts {
        challenge_id: req.challenge_id,
        owner,
        envelope: RecoveryEnvelope {
            encapsulated_key,
            ciphertext: req.ciphertext,
        },
    })
}

fn check_sizes(config: &CoreConfig, req: &pb::SetManifestRequest) -> Result<(), CoreError> {
    if req.manifest.is_empty() {
        return Err(CoreError::InvalidArgument {
            field: "manifest",
            message: "empty; send the manifest JSON".into(),
        });
    }
    if req.manifest.len() > config.max_manifest_bytes {
        return Err(CoreError::InvalidArgument {
            field: "manifest",
            message: format!(
                "{} bytes is larger than the limit of {} bytes",
                req.manifest.len(),
                config.max_manifest_bytes
            ),
        });
    }
    if req.policies.len() > config.max_policies {
        return Err(CoreError::InvalidArgument {
            field: "policies",
            message: format!(
                "{} policies is more than the limit of {}",
                req.policies.len(),
                config.max_policies
            ),
        });
    }
    if let Some((i, p)) = req
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

fn digest_field(field: &'static str, bytes: &[u8]) -> Result<Digest, CoreError> {
    let array: [u8; 32] = bytes.try_into().map_err(|_| CoreError::InvalidArgument {
        field,
        message: format!(
            "must be 32 bytes (a SHA-256 transition hash), got {}",
            bytes.len()
        ),
    })?;
    Ok(Digest::from_bytes(array))
}

/// Maps history errors to core errors; the one place that decides what a store fault means.
fn map_history_error(err: HistoryError) -> CoreError {
    match err {
        HistoryError::Conflict { current } => CoreError::StaleLatest { current },
        HistoryError::Store(StoreError::Conflict { .. }) => CoreError::Storage(
            "an unexpected compare-and-swap conflict on a content-addressed object".into(),
        ),
        HistoryError::Store(StoreError::Io { key, message }) => {
            // The OS error and the path stay in the Coordinator's log.
            tracing::error!(%key, %message, "storage error");
            CoreError::Storage(format!(
                "reading or writing `{key}` failed; see the Coordinator's log"
            ))
        }
        HistoryError::Store(other) => CoreError::Storage(other.to_string()),
        HistoryError::Corrupt { key, actual } => CoreError::Corrupt {
            key: key.to_string(),
            detail: format!("its content hashes to {actual}, not to the hash in its name"),
        },
        HistoryError::NotFound { key } => CoreError::Corrupt {
            key: key.to_string(),
            detail: "missing".into(),
        },
        HistoryError::Transition { key, source } => CoreError::Corrupt {
            key: key.to_string(),
            detail: source.to_string(),
        },
        HistoryError::Latest { source } => CoreError::Corrupt {
            key: StoreKey::LATEST.into(),
            detail: source.to_string(),
        },
        HistoryError::Manifest { key, source } => CoreError::Corrupt {
            key: key.to_string(),
            detail: source.to_string(),
        },
        other => CoreError::Corrupt {
            key: "transitions/".into(),
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seedward_shared::history::MemoryStore;
    use seedward_shared::keys::{OwnerKeyPair, WorkloadOwnerKeyPair};
    use seedward_shared::recovery::seal_recovery;
    use seedward_shared::seedshare::SeedShareDocument;

    use crate::evidence::UnattestedEvidence;

    struct Fixture {
        store: Arc<MemoryStore>,
        owner: OwnerKeyPair,
        workload: WorkloadOwnerKeyPair,
        template: seedward_shared::manifest::Template,
    }

    impl Fixture {
        fn new() -> Self {
            let owner = OwnerKeyPair::generate(&mut OsRng);
            let workload = WorkloadOwnerKeyPair::generate(&mut OsRng);
            let template = Manifest::template(
                &[owner.public_key().to_hex()],
                &[workload.public_key().to_hex()],
            );
            Self {
                store: Arc::new(MemoryStore::new()),
                owner,
                workload,
                template,
            }
        }

        fn coordinator(&self) -> Coordinator<Arc<MemoryStore>> {
            let tls = Arc::new(TlsIdentity::generate(vec![], vec![]).unwrap());
            Coordinator::new(
                self.store.clone(),
                tls,
                Arc::new(UnattestedEvidence),
                CoreConfig::default(),
            )
            .unwrap()
        }

        fn first_set(&self, c: &Coordinator<Arc<MemoryStore>>) -> pb::SetManifestResponse {
            c.set_manifest(pb::SetManifestRequest {
                manifest: self.template.manifest.clone(),
                policies: self.template.policies.clone(),
                previous_transition_hash: None,
                signature: vec![],
            })
            .unwrap()
        }

        fn recover_request(
            &self,
            c: &Coordinator<Arc<MemoryStore>>,
            seed: &Seed,
            salt: &Salt,
        ) -> pb::RecoverRequest {
            let status = c.status().unwrap();
            let challenge = status.challenge.unwrap();
            let envelope = seal_recovery(
                &self.owner,
                &challenge.public_key.as_slice().try_into().unwrap(),
                &challenge.nonce.as_slice().try_into().unwrap(),
                &challenge
                    .latest_transition_hash
                    .as_slice()
                    .try_into()
                    .unwrap(),
                seed,
                salt,
                &mut OsRng,
            )
            .unwrap();
            pb::RecoverRequest {
                challenge_id: challenge.id,
                owner_public_key: self.owner.public_key().as_bytes().to_vec(),
                encapsulated_key: envelope.encapsulated_key.to_vec(),
                ciphertext: envelope.ciphertext,
            }
        }
    }

    fn document(response: &pb::SetManifestResponse) -> SeedShareDocument {
        let doc = response.seed_share_document.clone().unwrap();
        SeedShareDocument {
            seed_shares: doc
                .seed_shares
                .into_iter()
                .map(|s| seedward_shared::seedshare::SeedShare {
                    public_key: s.public_key,
                    encrypted_seed: s.encrypted_seed,
                })
                .collect(),
            salt: Salt::from_slice(&doc.salt).unwrap(),
        }
    }

    #[test]
    fn set_restart_recover() {
        let f = Fixture::new();
        let c = f.coordinator();
        assert_eq!(c.state_name(), StateName::Uninitialized);
        let first = f.first_set(&c);
        assert_eq!(first.generation, 1);
        assert_eq!(c.state_name(), StateName::Ready);
        let (seed, salt) = document(&first).open_with(&f.owner).unwrap();

        // Signed update.
        let updated = String::from_utf8(f.template.manifest.clone())
            .unwrap()
            .replacen('{', "{\n", 1);
        let manifest = Manifest::parse(updated.clone().into_bytes()).unwrap();
        let latest = Digest::from_slice(&first.transition_hash).unwrap();
        let proposed = Transition::after(latest, manifest.hash()).hash();
        let second = c
            .set_manifest(pb::SetManifestRequest {
                manifest: updated.into_bytes(),
                policies: f.template.policies.clone(),
                previous_transition_hash: Some(latest.as_bytes().to_vec()),
                signature: f.workload.sign_transition(proposed.as_bytes()).unwrap(),
            })
            .unwrap();
        assert_eq!(second.generation, 2);
        assert_eq!(second.transition_hash, proposed.as_bytes().to_vec());
        assert!(second.seed_share_document.is_none());

        // Restart: a new core on the same store needs recovery.
        drop(c);
        let c = f.coordinator();
        assert_eq!(c.state_name(), StateName::RecoveryRequired);
        let history = c.manifests().unwrap();
        assert!(!history.verified);
        assert_eq!(history.manifests.len(), 2);
        let status = c.status().unwrap();
        assert_eq!(status.generation, 2);
        assert!(status.challenge.is_some());
        assert_eq!(
            c.set_manifest(pb::SetManifestRequest {
                manifest: f.template.manifest.clone(),
                ..Default::default()
            })
            .unwrap_err()
            .reason().as_str(),
            "RECOVERY_REQUIRED"
        );

        // Wrong seed: decrypts, but does not verify the history.
        let wrong = Seed::generate(&mut OsRng);
        let req = f.recover_request(&c, &wrong, &salt);
        assert_eq!(c.recover(req).unwrap_err(), CoreError::WrongSeed);
        assert_eq!(c.state_name(), StateName::RecoveryRequired);

        // Right seed.
        let req = f.recover_request(&c, &seed, &salt);
        let replay = req.clone();
        let recovered = c.recover(req).unwrap();
        assert_eq!(recovered.generation, 2);
        assert_eq!(c.state_name(), StateName::Ready);
        assert!(c.manifests().unwrap().verified);
        assert_eq!(c.recover(replay).unwrap_err().reason().as_str(), "ALREADY_READY");
    }

    #[test]
    fn updates_need_a_workload_owner_signature_and_the_same_owners() {
        let f = Fixture::new();
        let c = f.coordinator();
        let first = f.first_set(&c);
        let latest = Digest::from_slice(&first.transition_hash).unwrap();
        let other = WorkloadOwnerKeyPair::generate(&mut OsRng);
        let mut text = String::from_utf8(f.template.manifest.clone()).unwrap();
        text.push('\n');
        let manifest = Manifest::parse(text.clone().into_bytes()).unwrap();
        let proposed = Transition::after(latest, manifest.hash()).hash();
        let request = |signature: Vec<u8>, previous: Option<Digest>| pb::SetManifestRequest {
            manifest: text.clone().into_bytes(),
            policies: f.template.policies.clone(),
            previous_transition_hash: previous.map(|d| d.as_bytes().to_vec()),
            signature,
        };
        assert_eq!(
            c.set_manifest(request(vec![], None)).unwrap_err(),
            CoreError::BadSignature {
                transition: proposed
            }
        );
        let foreign = other.sign_transition(proposed.as_bytes()).unwrap();
        assert_eq!(
            c.set_manifest(request(foreign, None)).unwrap_err().reason().as_str(),
            "BAD_SIGNATURE"
        );
        let good = f.workload.sign_transition(proposed.as_bytes()).unwrap();
        assert_eq!(
            c.set_manifest(request(good.clone(), Some(Digest::of(b"stale"))))
                .unwrap_err(),
            CoreError::StaleLatest {
                current: Some(latest)
            }
        );
        c.set_manifest(request(good, Some(latest))).unwrap();

        // Changing the seed share owners is refused.
        let stranger = OwnerKeyPair::generate(&mut OsRng);
        let t = Manifest::template(
            &[stranger.public_key().to_hex()],
            &[f.workload.public_key().to_hex()],
        );
        let m = Manifest::parse(t.manifest.clone()).unwrap();
        let now = Digest::from_slice(&c.status().unwrap().latest_transition_hash).unwrap();
        let proposed = Transition::after(now, m.hash()).hash();
        let err = c
            .set_manifest(pb::SetManifestRequest {
                manifest: t.manifest,
                policies: t.policies,
                previous_transition_hash: None,
                signature: f.workload.sign_transition(proposed.as_bytes()).unwrap(),
            })
            .unwrap_err();
        assert_eq!(err, CoreError::OwnersChanged);
    }

    #[test]
    fn a_foreign_writer_makes_the_replica_stale() {
        let f = Fixture::new();
        let a = f.coordinator();
        f.first_set(&a);
        // Another writer replaces the latest pointer with one signed by a different key.
        let foreign = p384::ecdsa::SigningKey::random(&mut OsRng);
        let history = History::new(f.store.clone());
        let current = history.latest_unverified().unwrap().unwrap();
        let (_, _) = history
            .append(
                Some(&current),
                &f.template.manifest,
                &f.template.policies,
                &foreign,
            )
            .unwrap();
        let status = a.status().unwrap();
        assert_eq!(status.state, pb::CoordinatorState::Stale as i32);
        assert!(status.challenge.is_some());
        assert_eq!(a.state_name(), StateName::Stale);
    }
}
