//! Store-free verification of a history as `GetManifests` returns it: the manifests oldest
//! first, and the signed latest pointer.
//!
//! # Algorithm
//! 1. Check the latest signature with the transaction signing key (one ECDSA verification).
//! 2. Rebuild the chain: `previous = 0³²`; for each manifest `m` in order,
//!    `t = SHA-256(SHA-256(m) ‖ previous)`, `previous = t`.
//! 3. The history is verified if and only if the signature holds and the *last* rebuilt hash
//!    equals the signed hash.
//!
//! Time is linear in the total manifest size plus one signature verification; memory is one
//! [`ChainEntry`] (about 100 bytes) per manifest.
//!
//! # Invariants
//! An entry is [`EntryStatus::Verified`] exactly when the signature holds and the signed hash
//! is that entry's rebuilt hash or a later entry's: the signature covers a prefix of the list,
//! never anything after it.

use p384::ecdsa::VerifyingKey;

use super::{Digest, LatestTransition, Transition};

/// One rebuilt generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEntry {
    /// 1 for the first manifest.
    pub generation: u64,
    pub manifest_hash: Digest,
    pub previous: Digest,
    pub transition_hash: Digest,
    pub status: EntryStatus,
}

/// Whether the signed latest pointer covers an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryStatus {
    Verified,
    /// Not covered by the signature, and why.
    Unverified(ChainError),
}

/// Why a manifest list does not verify against a latest pointer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    #[error(
        "the Coordinator returned a latest transition but no manifests; the history it serves is incomplete"
    )]
    Empty,
    #[error(
        "the latest transition's signature does not verify with the transaction signing key: the history was changed by someone without the seed, or the key comes from a different seed"
    )]
    BadSignature,
    #[error(
        "the manifests rebuild to transition {computed}, but the signed latest transition is {signed}: a manifest was changed, added, removed or reordered"
    )]
    TipMismatch { computed: Digest, signed: Digest },
    #[error(
        "the signed latest transition is generation {signed_generation}, but the list continues to generation {total}: the later manifests are not covered by the signature"
    )]
    BeyondSignedTip { signed_generation: u64, total: u64 },
}

/// A failed verification, with every entry marked so a UI can show which ones are covered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ChainFailure {
    pub reason: ChainError,
    pub entries: Vec<ChainEntry>,
}

/// Rebuilds the transition chain of `manifests` (oldest first), as the store would hold it:
/// `(transition hash, transition)` per manifest. Used to restore a store from a verified
/// bundle, and by [`verify_manifest_list`].
pub fn chain_from_manifests<M: AsRef<[u8]>>(manifests: &[M]) -> Vec<(Digest, Transition)> {
    let mut previous = Digest::ZERO;
    manifests
        .iter()
        .map(|m| {
            let transition = Transition::after(previous, Digest::of(m.as_ref()));
            previous = transition.hash();
            (previous, transition)
        })
        .collect()
}

/// Verifies `manifests` (oldest first) against `latest` and the transaction signing key. See
/// the module docs for the algorithm. On success every entry is [`EntryStatus::Verified`].
pub fn verify_manifest_list<M: AsRef<[u8]>>(
    manifests: &[M],
    latest: &LatestTransition,
    key: &VerifyingKey,
) -> Result<Vec<ChainEntry>, ChainFailure> {
    let chain = chain_from_manifests(manifests);
    let signed = latest.transition_hash();
    let total = chain.len() as u64;

    let reason = if latest.verify(key).is_err() {
        Some((ChainError::BadSignature, 0))
    } else {
        match chain.iter().position(|(hash, _)| *hash == signed) {
            Some(i) if i + 1 == chain.len() => None,
            Some(i) => Some((
                ChainError::BeyondSignedTip {
                    signed_generation: i as u64 + 1,
                    total,
                },
                i + 1,
            )),
            None => match chain.last() {
                None => Some((ChainError::Empty, 0)),
                Some((computed, _)) => Some((
                    ChainError::TipMismatch {
                        computed: *computed,
                        signed,
                    },
                    0,
                )),
            },
        }
    };
    let covered = reason.as_ref().map_or(chain.len(), |(_, covered)| *covered);

    let entries: Vec<ChainEntry> = chain
        .into_iter()
        .enumerate()
        .map(|(i, (transition_hash, transition))| ChainEntry {
            generation: i as u64 + 1,
            manifest_hash: transition.manifest_hash,
            previous: transition.previous,
            transition_hash,
            status: match &reason {
                Some((why, _)) if i >= covered => EntryStatus::Unverified(why.clone()),
                _ => EntryStatus::Verified,
            },
        })
        .collect();

    match reason {
        None => Ok(entries),
        Some((reason, _)) => Err(ChainFailure { reason, entries }),
    }
}
