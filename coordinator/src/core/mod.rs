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
//! - No store I/O runs under the state lock. A request reads the store's latest pointer
//!   first (single-flight, `fresh`), then takes the lock briefly to compare and answer
//!   from memory; work that needs more reads (adopting another replica's update, walking a
//!   chain, persisting an update) drops the lock, does its I/O, and re-takes the lock to
//!   commit only if the state is still the one it started from. Writers are ordered by the
//!   store's compare-and-swap of `latest`, not by the lock. A stuck store leaves at most
//!   one thread blocked in it; other requests answer from memory (see `fresh`).
//! - The core speaks domain values ([`view`]); the gRPC layer converts at the edge. It
//!   publishes a [`StateView`] on every change, which the TLS layer and the health service
//!   follow; it neither issues TLS certificates nor produces evidence itself.
//!
//! | module | what it holds |
//! |---|---|
//! | [`view`] | the core's inputs and outputs |
//! | `read` | `GetStatus`, `GetManifests` and the chain reader |
//! | `set` | `SetManifest`: first set and signed updates |
//! | `recover` | `Recover` and the recovery challenges |
//! | `session` | threshold recovery sessions (k of n owners) |
//! | `peer` | peer recovery: sealing the secrets for an attested peer, recovering from one |

mod challenge;
mod fresh;
mod hint;
mod marker;
mod peer;
mod read;
mod recover;
mod session;
mod set;
mod stall;
mod stream;
pub mod view;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use seedward_shared::history::{
    Digest, History, HistoryError, HistoryStore, LatestTransition, StoreError, StoreKey,
};
use seedward_shared::manifest::Manifest;
use seedward_shared::reference::ReferenceValues;
use seedward_shared::seed::{MeshSecret, SeedEngine};
use tokio::sync::watch;

use crate::ca::CertificateAuthority;
use crate::error::{CoreError, StateName};

pub use challenge::ChallengeBook;
pub use peer::{PeerReference, PeerSealed, mesh_ca_public_key};
pub use session::{
    EndedSession, SeatView, SessionEnd, SessionInput, SessionReport, SessionView, WrongShare,
};
pub use set::check_input;
pub use stall::{InFlight, Watched};
pub use stream::{HistoryHeader, HistoryPage, StreamedEntry};
pub use view::{
    ChallengeOffer, HistoryReport, RecoverInput, RecoverOutcome, SetManifestInput, SetOutcome,
    StateView, StatusReport,
};

/// Tunables of the core; the binary sets them from flags.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// How long a recovery challenge stays valid.
    pub challenge_ttl: Duration,
    /// How long a threshold recovery session stays open (core::session).
    pub recovery_session_ttl: Duration,
    /// How many unused challenges are kept in total; beyond this the least recently offered
    /// is dropped (core::challenge).
    pub max_challenges: usize,
    /// Largest accepted manifest.
    pub max_manifest_bytes: usize,
    /// Largest accepted policy document, and how many per request.
    pub max_policy_bytes: usize,
    pub max_policies: usize,
    /// The file that records "this Coordinator was initialized" (`<state-dir>/initialized`,
    /// holding the first transition hash), written at the first set. While it exists and the
    /// store has no history, a first set is refused unless `allow_reinitialize`.
    pub init_marker: Option<std::path::PathBuf>,
    /// `--allow-reinitialize`: the store was deliberately wiped; a first set may proceed.
    pub allow_reinitialize: bool,
    /// Where the chain length of the store's latest is noted (`<state-dir>/generation`,
    /// core::hint), so that a restarted Coordinator reports it without walking the chain.
    pub generation_hint: Option<std::path::PathBuf>,
    /// A store operation running longer than this makes [`Coordinator::stalled_store_op`]
    /// report it (liveness NOT_SERVING).
    pub store_stall_limit: Duration,
    /// A read of the latest pointer running longer than this makes other requests answer
    /// from memory instead of waiting for it (core::fresh).
    pub store_busy_after: Duration,
    /// The most manifest and policy bytes `GetManifests` answers with in one message;
    /// beyond it, `HistoryTooLarge` (read it with `StreamManifests`).
    pub max_history_message_bytes: usize,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            challenge_ttl: Duration::from_secs(300),
            recovery_session_ttl: Duration::from_secs(15 * 60),
            max_challenges: 1024,
            max_manifest_bytes: 1 << 20,
            max_policy_bytes: 1 << 20,
            max_policies: 1024,
            init_marker: None,
            allow_reinitialize: false,
            generation_hint: None,
            store_stall_limit: Duration::from_secs(10),
            store_busy_after: Duration::from_secs(1),
            max_history_message_bytes: 64 << 20,
        }
    }
}

/// Everything a ready Coordinator holds in memory.
struct Ready {
    /// Shared so that a `SetManifest` can sign outside the lock; never copied.
    engine: Arc<SeedEngine>,
    /// What the mesh CA key is derived from (shared by the replica set; seedward_shared::seed).
    mesh_secret: Arc<MeshSecret>,
    root_ca: Arc<CertificateAuthority>,
    mesh_ca: Arc<CertificateAuthority>,
    latest: LatestTransition,
    latest_bytes: Vec<u8>,
    generation: u64,
    manifest: Arc<Manifest>,
    reference: ActiveReference,
}

/// The active manifest's reference values, parsed once per manifest.
#[derive(Debug, Clone)]
pub struct ActiveReference {
    pub manifest_hash: Digest,
    /// Parsed `ReferenceValues`, or why they do not parse (a history written before they
    /// were validated): then every attested workload is refused, with the reason.
    pub reference: Arc<Result<ReferenceValues, String>>,
}

impl ActiveReference {
    pub(crate) fn of(manifest: &Manifest) -> Self {
        Self {
            manifest_hash: manifest.hash(),
            reference: Arc::new(manifest.reference().map_err(|e| e.to_string())),
        }
    }
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

    fn view(&self) -> StateView {
        StateView {
            name: self.name(),
            root_ca: match self {
                State::Ready(ready) => Some(ready.root_ca.clone()),
                _ => None,
            },
        }
    }
}

/// The Coordinator core: a history store, the state, outstanding recovery challenges.
pub struct Coordinator<S: HistoryStore> {
    history: History<Watched<S>>,
    state: Mutex<State>,
    challenges: ChallengeBook,
    sessions: session::SessionBook,
    config: CoreConfig,
    state_tx: watch::Sender<StateView>,
    /// The marker's first transition hash, when the store has no history but the marker
    /// says this Coordinator was initialized before (and re-initialization is not allowed).
    initialized_before: Option<String>,
    /// Single-flight reads of the latest pointer, outside the state lock.
    reader: fresh::LatestReader,
    /// Bumped (under the state lock) whenever the state or a ready state's latest changes,
    /// so that a store read taken before such a change is not judged against the newer
    /// state (our own update's new latest would otherwise look "foreign" to an older read).
    version: std::sync::atomic::AtomicU64,
    /// The latest transition hash the store held at the last successful read: what a
    /// recovery challenge is offered for while the store is busy.
    last_seen: Mutex<Option<Digest>>,
}

/// What a request saw of the store when it synced (see [`Coordinator::synced`]).
enum Seen {
    /// The latest pointer's bytes, read after the request arrived (`None`: no history).
    Read(Option<Vec<u8>>),
    /// The store is stuck in an earlier read; the state was not checked against it.
    Busy,
}

/// What [`Coordinator::examine`] found the store's latest pointer to be, relative to ours.
enum Verdict {
    /// Signed by our key and a descendant of our latest: another replica's update.
    Descendant {
        latest: LatestTransition,
        bytes: Vec<u8>,
        generation: u64,
        manifest: Box<Manifest>,
    },
    /// Anything else: this replica is stale.
    Foreign,
}

impl<S: HistoryStore> Coordinator<S> {
    /// Starts from whatever the store holds: no latest pointer → uninitialized, otherwise
    /// recovery required (the keys died with the previous process).
    pub fn new(store: S, config: CoreConfig) -> Result<Self, CoreError> {
        let history = History::new(Watched::new(store));
        let state = match history.latest_unverified() {
            Ok(None) => State::Uninitialized,
            // The chain length from the hint, if it names this latest (core::hint).
            Ok(Some(latest)) => State::RecoveryRequired {
                generation: config.generation_hint.as_deref().and_then(|path| {
                    let hash = latest.transition_hash();
                    hint::read(path, &hash).map(|n| (hash, n))
                }),
            },
            // A latest pointer that does not parse: recovery required; GetManifests and
            // Recover name the corruption.
            Err(HistoryError::Latest { .. }) => State::RecoveryRequired { generation: None },
            Err(err) => return Err(map_history_error(err)),
        };
        let initialized_before = match (&state, &config.init_marker) {
            (State::Uninitialized, Some(marker)) => marker::read(marker)?
                .filter(|_| {
                    if config.allow_reinitialize {
                        tracing::warn!(marker = %marker.display(), "the history is missing although this Coordinator was initialized before; --allow-reinitialize: a first set will create a new seed");
                    }
                    !config.allow_reinitialize
                }),
            _ => None,
        };
        if let (Some(first), Some(marker)) = (&initialized_before, &config.init_marker) {
            tracing::error!(%first, marker = %marker.display(), "the history is missing, but this Coordinator was initialized before: first-time setup is refused; restore the history, or restart with --allow-reinitialize if the store was deliberately wiped");
        }
        let (state_tx, _) = watch::channel(state.view());
        Ok(Self {
            initialized_before,
            history,
            state: Mutex::new(state),
            challenges: ChallengeBook::new(config.challenge_ttl, config.max_challenges),
            reader: fresh::LatestReader::new(config.store_busy_after),
            version: std::sync::atomic::AtomicU64::new(0),
            last_seen: Mutex::new(None),
            sessions: session::SessionBook::new(config.recovery_session_ttl),
            config,
            state_tx,
        })
    }

    /// The oldest store operation in flight, if it has run longer than the configured
    /// `store_stall_limit`: how long, and what (e.g. `reading transitions/latest`).
    pub fn stalled_store_op(&self) -> Option<(Duration, String)> {
        self.history
            .store()
            .inflight()
            .oldest()
            .filter(|(running, _)| *running > self.config.store_stall_limit)
    }

    /// Subscribes to state changes (TLS identity, readiness probes, logs).
    pub fn subscribe(&self) -> watch::Receiver<StateView> {
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

    /// Assigns the new state and publishes it. Called only after the store accepted the
    /// change that leads there.
    fn commit(&self, guard: &mut MutexGuard<'_, State>, new: State) {
        let name = new.name();
        **guard = new;
        self.bump();
        self.state_tx.send_replace(guard.view());
        tracing::info!(state = %name, "state changed");
    }

    /// Marks that the state (or a ready state's latest) changed. Call it under the state lock.
    fn bump(&self) {
        self.version
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Reads the store's latest pointer (outside the lock), then returns the state lock with
    /// the state brought in line with it: another replica's update signed by our key and
    /// descending from ours is adopted; anything else makes this replica stale; a history
    /// that appeared under an uninitialized Coordinator makes it recovery-required. The
    /// chain walk that adoption needs runs with the lock released.
    ///
    /// A failed read is an error for this request (the keys stay in memory). A store stuck
    /// in an earlier read gives [`Seen::Busy`] and the state as it is in memory.
    fn synced(&self) -> Result<(MutexGuard<'_, State>, Seen), CoreError> {
        // A read is judged only against the state it was taken under: if the state changed
        // while it ran (this process's own update landed, say), read again.
        let mut attempts = 0;
        let (stored, mut guard) = loop {
            attempts += 1;
            let before = self.version.load(std::sync::atomic::Ordering::SeqCst);
            let stored = match self
                .reader
                .read(|| self.latest_bytes().map_err(map_history_error))?
            {
                fresh::Fresh::Read(stored) => stored,
                fresh::Fresh::Busy { running } => {
                    tracing::debug!(
                        running_ms = running.as_millis() as u64,
                        "the store is busy with an earlier read of the latest pointer; answering from memory"
                    );
                    return Ok((self.lock_state(), Seen::Busy));
                }
            };
            let guard = self.lock_state();
            if self.version.load(std::sync::atomic::Ordering::SeqCst) == before {
                break (stored, guard);
            }
            if attempts >= 3 {
                // The state keeps moving (a stream of updates here): it is at least as new
                // as any read, so answer from it.
                return Ok((guard, Seen::Read(stored)));
            }
        };
        if let Some(bytes) = &stored
            && let Ok(latest) = LatestTransition::from_bytes(bytes)
        {
            *self.last_seen.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(latest.transition_hash());
        }
        let snapshot = match &*guard {
            State::Uninitialized => {
                if stored.is_some() {
                    // Someone else initialized the shared store: we hold no keys for it.
                    self.commit(&mut guard, State::RecoveryRequired { generation: None });
                }
                None
            }
            State::Ready(ready) if stored.as_deref() != Some(ready.latest_bytes.as_slice()) => {
                Some((
                    *ready.engine.transaction_signing_key().verifying_key(),
                    ready.latest.transition_hash(),
                    ready.latest_bytes.clone(),
                ))
            }
            _ => None,
        };
        let Some((verifying, ours, ours_bytes)) = snapshot else {
            return Ok((guard, Seen::Read(stored)));
        };
        drop(guard);
        let verdict = self.examine(&verifying, ours, stored.as_deref())?;
        if let Verdict::Descendant {
            latest, generation, ..
        } = &verdict
        {
            self.note_generation(latest.transition_hash(), *generation);
        }
        let mut guard = self.lock_state();
        // Commit only onto the state we examined against: if another request changed it
        // meanwhile, that request read the store too, and its change stands.
        if let State::Ready(ready) = &mut *guard
            && ready.latest_bytes == ours_bytes
        {
            match verdict {
                Verdict::Foreign => {
                    tracing::warn!(
                        "the store moved to a transition that is not a descendant of ours: stale"
                    );
                    self.commit(&mut guard, State::Stale);
                }
                Verdict::Descendant {
                    latest,
                    bytes,
                    generation,
                    manifest,
                } => {
                    // Another replica's update is a new generation: the same mesh CA as
                    // that replica's, derived from the shared mesh secret and the new latest.
                    let mesh_ca = peer::mesh_ca(
                        &ready.mesh_secret,
                        &latest.transition_hash(),
                        &ready.root_ca,
                    )?;
                    tracing::info!(latest = %latest.transition_hash(), generation, "adopted a descendant transition from the store");
                    ready.latest = latest;
                    ready.latest_bytes = bytes;
                    ready.generation = generation;
                    ready.reference = ActiveReference::of(&manifest);
                    ready.manifest = Arc::new(*manifest);
                    ready.mesh_ca = Arc::new(mesh_ca);
                    self.bump();
                }
            }
        }
        Ok((guard, Seen::Read(stored)))
    }

    /// Decides what the stored latest pointer is to a replica whose latest is `ours`, signed
    /// with `verifying`. Reads the store; call it without the state lock. Only "not signed
    /// by our key" or "not a descendant of ours" is [`Verdict::Foreign`]; a failed read is
    /// an error.
    fn examine(
        &self,
        verifying: &p384::ecdsa::VerifyingKey,
        ours: Digest,
        stored: Option<&[u8]>,
    ) -> Result<Verdict, CoreError> {
        let Some(bytes) = stored else {
            return Ok(Verdict::Foreign);
        };
        let latest = match LatestTransition::from_bytes(bytes) {
            Ok(latest) if latest.verify(verifying).is_ok() => latest,
            _ => return Ok(Verdict::Foreign),
        };
        let entries = self
            .history
            .walk(latest.transition_hash())
            .map_err(map_history_error)?;
        if !entries.iter().any(|(hash, _)| *hash == ours) {
            return Ok(Verdict::Foreign);
        }
        let Some((_, last)) = entries.last() else {
            return Err(CoreError::Internal(
                "a descendant chain cannot be empty".into(),
            ));
        };
        let manifest = self.read_manifest(&last.manifest_hash)?;
        Ok(Verdict::Descendant {
            latest,
            bytes: bytes.to_vec(),
            generation: entries.len() as u64,
            manifest: Box::new(manifest),
        })
    }

    /// Notes (core::hint) that the store's chain ending at `latest` is `generation` long.
    /// File I/O: call it without the state lock.
    fn note_generation(&self, latest: Digest, generation: u64) {
        if let Some(path) = &self.config.generation_hint {
            hint::write(path, &latest, generation);
        }
    }

    /// The latest transition hash of the last successful read of the store.
    fn last_seen(&self) -> Option<Digest> {
        *self.last_seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn latest_bytes(&self) -> Result<Option<Vec<u8>>, HistoryError> {
        Ok(self.history.store().get(&StoreKey::latest())?)
    }

    /// Reads and parses a stored manifest; one that does not parse is corruption.
    fn read_manifest(&self, hash: &Digest) -> Result<Manifest, CoreError> {
        let bytes = self.history.get_manifest(hash).map_err(map_history_error)?;
        Manifest::parse(bytes).map_err(|e| CoreError::Corrupt {
            key: format!("manifests/{hash}"),
            detail: e.to_string(),
        })
    }

    /// The active manifest's reference values, for verifying a workload's evidence
    /// outside the lock. Not ready → `WrongState` (the workload retries).
    pub fn active_reference(&self) -> Result<ActiveReference, CoreError> {
        let (guard, _) = self.synced()?;
        match &*guard {
            State::Ready(ready) => Ok(ready.reference.clone()),
            other => Err(CoreError::WrongState {
                op: "issue workload credentials",
                state: other.name(),
            }),
        }
    }

    /// `WorkloadApi.GetCredentials`: the mesh certificate (and workload secret, if the
    /// policy entry names one) for a workload whose evidence was verified against the
    /// manifest `verified_against`. Not ready → `WrongState` (FailedPrecondition: the
    /// workload retries); a policy hash that the active manifest does not list →
    /// `UnknownPolicy` (PermissionDenied); another manifest became active since the
    /// verification → `StaleLatest` (verify again).
    ///
    /// Only the lookups and the workload secret's HKDF run under the lock; the certificate
    /// is signed after it is released.
    pub fn workload_credentials(
        &self,
        workload: &crate::credentials::VerifiedWorkload,
        public_key: &crate::credentials::WorkloadPublicKey,
        verified_against: Digest,
    ) -> Result<crate::credentials::WorkloadCredentials, CoreError> {
        let (root_ca_pem, mesh_ca, entry, secret) = {
            let (guard, _) = self.synced()?;
            let State::Ready(ready) = &*guard else {
                return Err(CoreError::WrongState {
                    op: "issue workload credentials",
                    state: guard.name(),
                });
            };
            if ready.reference.manifest_hash != verified_against {
                return Err(CoreError::StaleLatest {
                    current: Some(ready.latest.transition_hash()),
                });
            }
            let wanted = workload.policy_hash();
            let entry = ready
                .manifest
                .policies()
                .iter()
                .find(|(key, _)| hex::decode(key).is_ok_and(|b| b == wanted.as_bytes()))
                .map(|(_, entry)| entry.clone())
                .ok_or(CoreError::UnknownPolicy {
                    policy_hash: *wanted,
                })?;
            let secret = crate::credentials::workload_secret(&ready.engine, wanted, &entry)?;
            (
                ready.root_ca.cert().pem.clone(),
                ready.mesh_ca.clone(),
                entry,
                secret,
            )
        };
        crate::credentials::issue(root_ca_pem, &mesh_ca, &entry, public_key, secret)
    }
}

/// Maps history errors to core errors; the one place that decides what a store fault means.
pub(crate) fn map_history_error(err: HistoryError) -> CoreError {
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
mod tests;

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]
mod session_tests;
