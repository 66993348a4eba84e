//! The manifest history: content-addressed manifests, policies and transitions, and a signed,
//! compare-and-swapped pointer to the latest transition (Contrast's layout; docs/FORMATS.md,
//! "History").
//!
//! # Wire format
//! See [`store`] for the keys, [`Transition`] and [`LatestTransition`] for the two binary
//! formats; `docs/FORMATS.md` ("Manifest history") has them byte by byte with a worked example.
//!
//! # Invariants
//! - Every read of a content-addressed object re-hashes it: [`History`] never returns bytes
//!   whose SHA-256 differs from the hash in their key ([`HistoryError::Corrupt`] instead).
//! - The chain is walked from the latest transition back to [`Digest::ZERO`], at most
//!   [`MAX_HISTORY_LEN`] steps, and never visits a transition twice ([`HistoryError::Cycle`]).
//!   With re-hashing a cycle would need a SHA-256 fixed point, so the check is defence in depth
//!   for stores that lie.
//! - Only the latest pointer is signed; everything older is bound to it by the hash chain.
//!   [`VerifiedHistory`] can only be obtained by checking that signature over the hash the
//!   whole chain was walked from.
//! - The latest pointer changes only by compare-and-swap against the value the caller read; a
//!   lost race is [`HistoryError::Conflict`], whatever the store.

mod digest;
pub mod store;
mod stream;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod transition;
mod verify;

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use p384::ecdsa::{SigningKey, VerifyingKey};

pub use digest::{Digest, DigestError};
pub use store::{
    HistoryStore, LatestEvent, LatestWatch, MemoryStore, StoreError, StoreKey, WatchFuture,
    WatchLatest,
};
pub use stream::{ChainReader, StreamError};
pub use transition::{LatestTransition, Transition, TransitionError};
pub use verify::{
    ChainEntry, ChainError, ChainFailure, EntryStatus, chain_from_manifests, verify_manifest_list,
};

use crate::manifest::{Manifest, ManifestError};

/// The longest chain [`History::walk`] follows: 2^20 = 1,048,576 transitions. Every transition
/// is a human-approved manifest update, so a real history is many orders of magnitude shorter;
/// the bound only stops a corrupt or hostile store from making a walk run (and allocate)
/// without end. A walk of the full bound reads 2^20 blobs of 64 bytes.
pub const MAX_HISTORY_LEN: usize = 1 << 20;

/// An error of the typed history layer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "`{key}` is missing from the history store: the history is incomplete; restore the store from a backup or a verified history bundle"
    )]
    NotFound { key: StoreKey },
    #[error(
        "`{key}` is corrupt: its content hashes to {actual}, not to the hash in its name; restore the store from a backup or a verified history bundle"
    )]
    Corrupt { key: StoreKey, actual: Digest },
    #[error("`{key}` is not a valid transition: {source}")]
    Transition {
        key: StoreKey,
        source: TransitionError,
    },
    #[error("`transitions/latest`: {source}")]
    Latest { source: TransitionError },
    #[error(
        "the latest transition changed since it was read (it is now {}); reload the history, review what changed, and retry", display_latest(.current)
    )]
    Conflict { current: Option<Digest> },
    #[error(
        "the history chain visits transition {at} twice: the store returns inconsistent data; restore it from a backup"
    )]
    Cycle { at: Digest },
    #[error(
        "the history chain is longer than {limit} transitions: the store is corrupt or hostile"
    )]
    TooLong { limit: usize },
    #[error("`{key}` is not a usable manifest: {source}")]
    Manifest {
        key: StoreKey,
        source: ManifestError,
    },
}

fn display_latest(current: &Option<Digest>) -> String {
    match current {
        Some(d) => d.to_string(),
        None => "absent".to_owned(),
    }
}

/// One generation of the history: a transition and the manifest it installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub transition_hash: Digest,
    pub transition: Transition,
    /// The manifest exactly as stored; its SHA-256 is `transition.manifest_hash`.
    pub manifest_bytes: Vec<u8>,
}

/// A history read from the store with every object re-hashed, whose latest signature has not
/// been checked (the Coordinator serves this while recovery is required).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnverifiedHistory {
    entries: Vec<HistoryEntry>,
    latest: LatestTransition,
}

/// A history whose latest signature verified with the transaction signing key, and whose
/// entries were walked from that signed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedHistory {
    entries: Vec<HistoryEntry>,
    latest: LatestTransition,
}

impl UnverifiedHistory {
    /// Oldest first.
    pub fn entries(&self) -> &[HistoryEntry] {
        &self.entries
    }

    pub fn latest(&self) -> &LatestTransition {
        &self.latest
    }

    /// The chain length.
    pub fn generation(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Checks the latest signature. The entries were walked from `latest.transition_hash` with
    /// every blob re-hashed, so this one check covers all of them.
    pub fn verify(self, key: &VerifyingKey) -> Result<VerifiedHistory, HistoryError> {
        self.latest
            .verify(key)
            .map_err(|source| HistoryError::Latest { source })?;
        Ok(VerifiedHistory {
            entries: self.entries,
            latest: self.latest,
        })
    }
}

impl VerifiedHistory {
    /// Oldest first.
    pub fn entries(&self) -> &[HistoryEntry] {
        &self.entries
    }

    pub fn latest(&self) -> &LatestTransition {
        &self.latest
    }

    /// The chain length.
    pub fn generation(&self) -> u64 {
        self.entries.len() as u64
    }

    /// The newest entry (a verified history is never empty).
    pub fn current(&self) -> Option<&HistoryEntry> {
        self.entries.last()
    }

    pub fn into_parts(self) -> (Vec<HistoryEntry>, LatestTransition) {
        (self.entries, self.latest)
    }
}

/// The typed history over a [`HistoryStore`].
pub struct History<S> {
    store: S,
}

impl<S> fmt::Debug for History<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("History").finish_non_exhaustive()
    }
}

impl<S: HistoryStore> History<S> {
    pub fn new(store: S) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    fn put_content(&self, key: StoreKey, bytes: &[u8]) -> Result<(), HistoryError> {
        self.store.set(&key, bytes)?;
        Ok(())
    }

    fn get_content(&self, key: StoreKey, expected: &Digest) -> Result<Vec<u8>, HistoryError> {
        let bytes = self
            .store
            .get(&key)?
            .ok_or_else(|| HistoryError::NotFound { key: key.clone() })?;
        let actual = Digest::of(&bytes);
        if actual != *expected {
            return Err(HistoryError::Corrupt { key, actual });
        }
        Ok(bytes)
    }

    /// Stores a manifest under `manifests/<sha256>`; storing the same bytes again is a no-op.
    pub fn put_manifest(&self, manifest: &[u8]) -> Result<Digest, HistoryError> {
        let hash = Digest::of(manifest);
        self.put_content(StoreKey::manifest(&hash), manifest)?;
        Ok(hash)
    }

    /// The manifest stored under `hash`, re-hashed.
    pub fn get_manifest(&self, hash: &Digest) -> Result<Vec<u8>, HistoryError> {
        self.get_content(StoreKey::manifest(hash), hash)
    }

    /// Stores a policy document under `policies/<sha256>`.
    pub fn put_policy(&self, policy: &[u8]) -> Result<Digest, HistoryError> {
        let hash = Digest::of(policy);
        self.put_content(StoreKey::policy(&hash), policy)?;
        Ok(hash)
    }

    /// The policy stored under `hash`, re-hashed.
    pub fn get_policy(&self, hash: &Digest) -> Result<Vec<u8>, HistoryError> {
        self.get_content(StoreKey::policy(hash), hash)
    }

    /// Stores the 64-byte blob under `transitions/<transition hash>`.
    pub fn put_transition(&self, transition: &Transition) -> Result<Digest, HistoryError> {
        let hash = transition.hash();
        self.put_content(StoreKey::transition(&hash), &transition.to_bytes())?;
        Ok(hash)
    }

    /// The transition stored under `hash`, re-hashed and parsed.
    pub fn get_transition(&self, hash: &Digest) -> Result<Transition, HistoryError> {
        let key = StoreKey::transition(hash);
        let bytes = self.get_content(key.clone(), hash)?;
        Transition::from_bytes(&bytes).map_err(|source| HistoryError::Transition { key, source })
    }

    pub fn has_latest(&self) -> Result<bool, HistoryError> {
        Ok(self.store.get(&StoreKey::latest())?.is_some())
    }

    /// The parsed latest pointer, signature **not** checked; `None` when there is no history.
    pub fn latest_unverified(&self) -> Result<Option<LatestTransition>, HistoryError> {
        self.store
            .get(&StoreKey::latest())?
            .map(|bytes| {
                LatestTransition::from_bytes(&bytes)
                    .map_err(|source| HistoryError::Latest { source })
            })
            .transpose()
    }

    /// The latest pointer with its signature checked against `key`.
    pub fn latest_verified(
        &self,
        key: &VerifyingKey,
    ) -> Result<Option<LatestTransition>, HistoryError> {
        let Some(latest) = self.latest_unverified()? else {
            return Ok(None);
        };
        latest
            .verify(key)
            .map_err(|source| HistoryError::Latest { source })?;
        Ok(Some(latest))
    }

    /// Signs `new_hash` and swaps it in if the stored pointer is still `expected_old` (`None`:
    /// there must be no pointer yet). The transition `new_hash` must already be stored (it is
    /// read back and re-hashed first). The store compares whole byte strings, so
    /// `expected_old` must be the pointer exactly as read.
    ///
    /// A lost race is [`HistoryError::Conflict`] with the hash now stored (unverified).
    pub fn set_latest(
        &self,
        expected_old: Option<&LatestTransition>,
        new_hash: Digest,
        key: &SigningKey,
    ) -> Result<LatestTransition, HistoryError> {
        self.get_transition(&new_hash)?;
        let new = LatestTransition::sign(new_hash, key)
            .map_err(|source| HistoryError::Latest { source })?;
        let old_bytes = expected_old.map(LatestTransition::to_bytes);
        match self.store.compare_and_swap(
            &StoreKey::latest(),
            old_bytes.as_deref(),
            &new.to_bytes(),
        ) {
            Ok(()) => Ok(new),
            Err(StoreError::Conflict { current }) => Err(HistoryError::Conflict {
                current: conflict_digest(current.as_deref())?,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The whole write of one manifest update, in the order that keeps the store consistent at
    /// every step: the policies, the manifest, the transition after `expected_old` (or the
    /// first transition), then the CAS of the latest pointer. If the CAS loses, the objects
    /// written before it are harmless orphans (content-addressed, unreferenced).
    ///
    /// The caller validates the manifest and checks its policies first
    /// ([`Manifest::validate`], [`Manifest::check_policies`]).
    pub fn append<P: AsRef<[u8]>>(
        &self,
        expected_old: Option<&LatestTransition>,
        manifest: &[u8],
        policies: &[P],
        key: &SigningKey,
    ) -> Result<(Transition, LatestTransition), HistoryError> {
        for policy in policies {
            self.put_policy(policy.as_ref())?;
        }
        let manifest_hash = self.put_manifest(manifest)?;
        let previous = expected_old.map_or(Digest::ZERO, LatestTransition::transition_hash);
        let transition = Transition::after(previous, manifest_hash);
        let hash = self.put_transition(&transition)?;
        let latest = self.set_latest(expected_old, hash, key)?;
        Ok((transition, latest))
    }

    /// The chain ending at `from`, oldest first, each blob re-hashed. `Digest::ZERO` gives an
    /// empty chain.
    pub fn walk(&self, from: Digest) -> Result<Vec<(Digest, Transition)>, HistoryError> {
        walk_by(from, MAX_HISTORY_LEN, |hash| self.get_transition(hash))
    }

    /// [`walk`](Self::walk), with each transition's manifest loaded and re-hashed.
    pub fn entries(&self, from: Digest) -> Result<Vec<HistoryEntry>, HistoryError> {
        self.walk(from)?
            .into_iter()
            .map(|(transition_hash, transition)| {
                Ok(HistoryEntry {
                    transition_hash,
                    transition,
                    manifest_bytes: self.get_manifest(&transition.manifest_hash)?,
                })
            })
            .collect()
    }

    /// The whole history from the stored latest pointer, every object re-hashed, the signature
    /// not checked. `None` when there is no history.
    pub fn load_unverified(&self) -> Result<Option<UnverifiedHistory>, HistoryError> {
        let Some(latest) = self.latest_unverified()? else {
            return Ok(None);
        };
        let entries = self.entries(latest.transition_hash())?;
        Ok(Some(UnverifiedHistory { entries, latest }))
    }

    /// The whole history, verified: the latest signature checks with `key` and every object
    /// re-hashes. `None` when there is no history.
    pub fn chain(&self, key: &VerifyingKey) -> Result<Option<VerifiedHistory>, HistoryError> {
        // Walk first, verify last: a damaged object fails before the (comparatively costly)
        // signature check, and the signature is checked over the very hash the walk started
        // from, so the order does not weaken anything.
        self.load_unverified()?
            .map(|history| history.verify(key))
            .transpose()
    }

    /// Every policy document referenced by any of `entries`' manifests, each once, sorted by
    /// hash, re-hashed. Fails when a manifest does not parse or names a malformed hash.
    pub fn referenced_policies(
        &self,
        entries: &[HistoryEntry],
    ) -> Result<Vec<(Digest, Vec<u8>)>, HistoryError> {
        let mut hashes = BTreeMap::new();
        for entry in entries {
            let key = StoreKey::manifest(&entry.transition.manifest_hash);
            let manifest = Manifest::parse(entry.manifest_bytes.clone()).map_err(|source| {
                HistoryError::Manifest {
                    key: key.clone(),
                    source,
                }
            })?;
            let policy_hashes =
                manifest
                    .policy_hashes()
                    .map_err(|issues| HistoryError::Manifest {
                        key: key.clone(),
                        source: ManifestError::Invalid(issues),
                    })?;
            for hash in policy_hashes {
                hashes.insert(hash, ());
            }
        }
        hashes
            .into_keys()
            .map(|hash| Ok((hash, self.get_policy(&hash)?)))
            .collect()
    }
}

/// The transition hash in a conflicting latest pointer, unverified.
fn conflict_digest(current: Option<&[u8]>) -> Result<Option<Digest>, HistoryError> {
    match current {
        None => Ok(None),
        Some(bytes) => match bytes.get(..Digest::LEN) {
            Some(hash) => Ok(Digest::from_slice(hash).ok()),
            None => Err(HistoryError::Latest {
                source: TransitionError::LatestTooShort { len: bytes.len() },
            }),
        },
    }
}

/// The chain walk, over any lookup (tests give it stores that lie).
fn walk_by(
    from: Digest,
    limit: usize,
    mut lookup: impl FnMut(&Digest) -> Result<Transition, HistoryError>,
) -> Result<Vec<(Digest, Transition)>, HistoryError> {
    let mut chain = Vec::new();
    let mut seen = HashSet::new();
    let mut next = from;
    while !next.is_zero() {
        if chain.len() >= limit {
            return Err(HistoryError::TooLong { limit });
        }
        if !seen.insert(next) {
            return Err(HistoryError::Cycle { at: next });
        }
        let transition = lookup(&next)?;
        chain.push((next, transition));
        next = transition.previous;
    }
    chain.reverse();
    Ok(chain)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]
mod tests;
