//! `StreamManifests`: the history in pages, newest first, with memory bounded by a page.
//!
//! The chain is walked from the latest pointer backwards one transition at a time, each
//! blob re-hashed against its name as it is read (so a cycle cannot occur: every step is a
//! SHA-256 preimage), and handed out in pages of about `page_bytes`. A manifest that an
//! entry among the last [`REPEAT_WINDOW`] distinct manifests carried is not sent again (a
//! re-set, a rollback to a recent manifest); a policy is sent once per stream (policies are
//! few). Only those hashes are remembered, so the stream's memory is bounded by its pages and
//! that window, not by the history. Nothing runs under the state lock but the first look at
//! the state.

use std::collections::{HashSet, VecDeque};

use seedward_shared::history::{Digest, HistoryStore, LatestTransition, MAX_HISTORY_LEN, StoreKey};
use seedward_shared::manifest::Manifest;

use super::{Coordinator, Seen, State, map_history_error};
use crate::error::{CoreError, StateName};

/// What the first page carries besides entries.
#[derive(Debug, Clone)]
pub struct HistoryHeader {
    pub latest: LatestTransition,
    /// True when the Coordinator verified chain and signature with its own keys.
    pub verified: bool,
    pub root_ca_pem: Option<String>,
    pub mesh_ca_pem: Option<String>,
    /// The chain length, or 0 when it is not known without a walk.
    pub generation: u64,
}

/// One transition of the chain.
#[derive(Debug, Clone)]
pub struct StreamedEntry {
    pub transition_hash: Digest,
    pub previous: Digest,
    pub manifest_hash: Digest,
    /// `None` when a recent earlier entry of the stream carried the same manifest.
    pub manifest: Option<Vec<u8>>,
}

/// A page of the stream.
#[derive(Debug, Clone, Default)]
pub struct HistoryPage {
    /// First page only.
    pub header: Option<HistoryHeader>,
    /// Newest first.
    pub entries: Vec<StreamedEntry>,
    /// Policies referenced by this page's manifests that no earlier page carried.
    pub policies: Vec<Vec<u8>>,
}

/// Bytes an entry costs besides its manifest: three hashes.
const ENTRY_OVERHEAD: usize = 3 * 32;

/// How many distinct manifests sent most recently are remembered, so that a repeat among
/// them is sent as its hash only (128 KiB of hashes).
pub const REPEAT_WINDOW: usize = 4096;

/// The hashes of the manifests sent most recently, at most [`REPEAT_WINDOW`].
#[derive(Default)]
struct RecentlySent {
    order: VecDeque<Digest>,
    set: HashSet<Digest>,
}

impl RecentlySent {
    /// True if `hash` was sent recently; otherwise records it as sent now.
    fn seen_or_insert(&mut self, hash: Digest) -> bool {
        if self.set.contains(&hash) {
            return true;
        }
        if self.order.len() == REPEAT_WINDOW
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        self.order.push_back(hash);
        self.set.insert(hash);
        false
    }
}

impl<S: HistoryStore> Coordinator<S> {
    /// `StreamManifests`: hands the history to `emit` page by page, newest first, each page
    /// holding about `page_bytes` of manifests and policies (at least one entry). `emit`
    /// returns false when the receiver is gone; the walk stops there. An error (a missing
    /// or tampered blob) ends the stream; the pages already emitted stay valid.
    pub fn stream_manifests(
        &self,
        page_bytes: usize,
        mut emit: impl FnMut(HistoryPage) -> bool,
    ) -> Result<(), CoreError> {
        let (guard, seen) = self.synced()?;
        let header = match &*guard {
            State::Uninitialized => {
                return Err(CoreError::WrongState {
                    op: "get the manifest history",
                    state: StateName::Uninitialized,
                });
            }
            State::Ready(ready) => Some(HistoryHeader {
                latest: ready.latest.clone(),
                verified: true,
                root_ca_pem: Some(ready.root_ca.cert().pem.clone()),
                mesh_ca_pem: Some(ready.mesh_ca.cert().pem.clone()),
                generation: ready.generation,
            }),
            State::RecoveryRequired { .. } | State::Stale => None,
        };
        let cached_generation = match &*guard {
            State::RecoveryRequired {
                generation: Some((hash, n)),
            } => Some((*hash, *n)),
            _ => None,
        };
        drop(guard);
        let header = match header {
            Some(header) => header,
            None => {
                // Without keys the history is the store's, read here without the lock.
                let latest = match seen {
                    Seen::Read(Some(bytes)) => {
                        LatestTransition::from_bytes(&bytes).map_err(|e| CoreError::Corrupt {
                            key: StoreKey::LATEST.into(),
                            detail: e.to_string(),
                        })?
                    }
                    _ => self.stored_latest()?,
                };
                let generation = match cached_generation {
                    Some((hash, n)) if hash == latest.transition_hash() => n,
                    _ => 0,
                };
                HistoryHeader {
                    latest,
                    verified: false,
                    root_ca_pem: None,
                    mesh_ca_pem: None,
                    generation,
                }
            }
        };

        let mut next = header.latest.transition_hash();
        let mut page = HistoryPage {
            header: Some(header),
            ..HistoryPage::default()
        };
        let mut size = 0usize;
        let mut sent_manifests = RecentlySent::default();
        let mut sent_policies: HashSet<Digest> = HashSet::new();
        let mut steps = 0usize;
        while !next.is_zero() {
            if steps >= MAX_HISTORY_LEN {
                return Err(CoreError::Corrupt {
                    key: format!("transitions/{next}"),
                    detail: format!("the chain is longer than {MAX_HISTORY_LEN} transitions"),
                });
            }
            steps += 1;
            let transition = self
                .history
                .get_transition(&next)
                .map_err(map_history_error)?;
            let manifest_hash = transition.manifest_hash;
            let manifest = if !sent_manifests.seen_or_insert(manifest_hash) {
                let raw = self
                    .history
                    .get_manifest(&manifest_hash)
                    .map_err(map_history_error)?;
                let policies = Manifest::referenced_policy_hashes(&raw).map_err(|detail| {
                    CoreError::Corrupt {
                        key: format!("manifests/{manifest_hash}"),
                        detail,
                    }
                })?;
                for policy in policies {
                    if sent_policies.insert(policy) {
                        let bytes = self
                            .history
                            .get_policy(&policy)
                            .map_err(map_history_error)?;
                        size += bytes.len();
                        page.policies.push(bytes);
                    }
                }
                size += raw.len();
                Some(raw)
            } else {
                None
            };
            page.entries.push(StreamedEntry {
                transition_hash: next,
                previous: transition.previous,
                manifest_hash,
                manifest,
            });
            size += ENTRY_OVERHEAD;
            next = transition.previous;
            if size >= page_bytes && !next.is_zero() {
                if !emit(std::mem::take(&mut page)) {
                    return Ok(());
                }
                size = 0;
            }
        }
        emit(page);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repeat_window_forgets_the_oldest() {
        let mut recent = RecentlySent::default();
        let hash = |i: usize| Digest::of(&i.to_le_bytes());
        assert!(!recent.seen_or_insert(hash(0)));
        assert!(recent.seen_or_insert(hash(0)));
        for i in 1..REPEAT_WINDOW {
            assert!(!recent.seen_or_insert(hash(i)));
        }
        assert!(recent.seen_or_insert(hash(0)), "still in the window");
        assert!(
            !recent.seen_or_insert(hash(REPEAT_WINDOW)),
            "pushes hash(0) out"
        );
        assert!(!recent.seen_or_insert(hash(0)), "forgotten: sent again");
        assert_eq!(recent.order.len(), REPEAT_WINDOW);
        assert_eq!(recent.set.len(), REPEAT_WINDOW);
    }
}
