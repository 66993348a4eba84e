//! The read side: `GetStatus`, `GetManifests`, and the chain reader that `Recover` shares.

use std::collections::BTreeSet;
use std::net::IpAddr;

use seedward_shared::history::{Digest, HistoryStore, LatestTransition, StoreKey, Transition};
use seedward_shared::manifest::Manifest;

use super::view::{HistoryReport, StatusReport};
use super::{Coordinator, Seen, State, map_history_error};
use crate::error::{CoreError, StateName};

/// The manifests (oldest first) and the policy documents of a history, as stored.
pub(super) type ChainBlobs = (Vec<Vec<u8>>, Vec<Vec<u8>>);

/// What [`Coordinator::read_chain`] returns besides checking every blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keep {
    /// The manifest bytes, oldest first (`GetManifests`).
    Manifests,
    /// Nothing: verify only (`Recover`).
    Nothing,
}

impl<S: HistoryStore> Coordinator<S> {
    /// `GetStatus` from an in-process caller (no peer address).
    pub fn status(&self) -> Result<StatusReport, CoreError> {
        self.status_for(None)
    }

    /// `GetStatus`; `caller` (the TLS peer's address) chooses which recovery challenge is
    /// offered (see [`super::challenge`]).
    pub fn status_for(&self, caller: Option<IpAddr>) -> Result<StatusReport, CoreError> {
        self.report(Some(caller))
    }

    /// The state, generation and latest transition, after checking the store's latest
    /// pointer (what makes a replica stale); never offers a recovery challenge. For the
    /// replica set's presence record.
    pub fn state_report(&self) -> Result<StatusReport, CoreError> {
        self.report(None)
    }

    /// `offer_to`: `Some(caller)` offers a recovery challenge to that caller; `None` none.
    ///
    /// Answers from memory under the lock; the one read it may need (walking the chain to
    /// count a recovery-required history's generation, once per latest) runs without it.
    fn report(&self, offer_to: Option<Option<IpAddr>>) -> Result<StatusReport, CoreError> {
        let (guard, seen) = self.synced()?;
        let mut report = StatusReport {
            state: guard.name(),
            generation: 0,
            latest: None,
            root_ca_pem: None,
            mesh_ca_pem: None,
            challenge: None,
        };
        let cached = match &*guard {
            State::Uninitialized => return Ok(report),
            State::Ready(ready) => {
                report.generation = ready.generation;
                report.latest = Some(ready.latest.transition_hash());
                report.root_ca_pem = Some(ready.root_ca.cert().pem.clone());
                report.mesh_ca_pem = Some(ready.mesh_ca.cert().pem.clone());
                return Ok(report);
            }
            State::RecoveryRequired { generation } => *generation,
            State::Stale => None,
        };
        let stale = matches!(&*guard, State::Stale);
        drop(guard);
        let latest = match seen {
            Seen::Read(Some(bytes)) => LatestTransition::from_bytes(&bytes)
                .map_err(|e| CoreError::Corrupt {
                    key: StoreKey::LATEST.into(),
                    detail: e.to_string(),
                })?
                .transition_hash(),
            Seen::Read(None) => {
                return Err(CoreError::Corrupt {
                    key: StoreKey::LATEST.into(),
                    detail: "the latest pointer disappeared".into(),
                });
            }
            // The store is stuck: the last latest it gave, or (never read yet) a read of
            // our own, which waits like any store read.
            Seen::Busy => match self.last_seen() {
                Some(hash) => hash,
                None => self.stored_latest_hash()?,
            },
        };
        report.latest = Some(latest);
        if !stale {
            report.generation = match cached {
                Some((hash, n)) if hash == latest => n,
                _ => match self.history.walk(latest) {
                    Ok(chain) => {
                        let n = chain.len() as u64;
                        self.note_generation(latest, n);
                        if let State::RecoveryRequired { generation } = &mut *self.lock_state() {
                            *generation = Some((latest, n));
                        }
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
        }
        if let Some(caller) = offer_to {
            report.challenge = Some(self.challenges.offer(latest, caller));
        }
        Ok(report)
    }

    /// The stored latest pointer (signature not checked); its absence while the state says
    /// there is a history is corruption.
    pub(super) fn stored_latest(&self) -> Result<LatestTransition, CoreError> {
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

    /// `GetManifests`.
    pub fn manifests(&self) -> Result<HistoryReport, CoreError> {
        let (guard, seen) = self.synced()?;
        let (latest, verified, root, mesh) = match &*guard {
            State::Uninitialized => {
                return Err(CoreError::WrongState {
                    op: "get the manifest history",
                    state: StateName::Uninitialized,
                });
            }
            State::Ready(ready) => (
                Some(ready.latest.clone()),
                true,
                Some(ready.root_ca.cert().pem.clone()),
                Some(ready.mesh_ca.cert().pem.clone()),
            ),
            State::RecoveryRequired { .. } | State::Stale => (None, false, None, None),
        };
        drop(guard);
        // Without keys the history is the store's, read here without the lock.
        let latest = match (latest, seen) {
            (Some(latest), _) => latest,
            (None, Seen::Read(Some(bytes))) => {
                LatestTransition::from_bytes(&bytes).map_err(|e| CoreError::Corrupt {
                    key: StoreKey::LATEST.into(),
                    detail: e.to_string(),
                })?
            }
            (None, _) => self.stored_latest()?,
        };
        // Reading the chain needs no lock: blobs are content-addressed and immutable, and
        // `latest` was captured above.
        let entries = self
            .history
            .walk(latest.transition_hash())
            .map_err(map_history_error)?;
        let (manifests, policies) = self.read_chain(&entries, Keep::Manifests)?;
        Ok(HistoryReport {
            manifests,
            policies,
            root_ca_pem: root,
            mesh_ca_pem: mesh,
            latest,
            verified,
        })
    }

    /// Reads every manifest of `entries` and every policy they reference (each once), each
    /// re-hashed against its name: a missing or tampered blob is [`CoreError::Corrupt`].
    ///
    /// With [`Keep::Manifests`] the manifest bytes are returned (`GetManifests`); with
    /// [`Keep::Nothing`] they are only checked and dropped one by one (`Recover`), so that a
    /// long history is never held in memory just to be verified. Each manifest is read into
    /// one buffer whose `Policies` keys are parsed, and which is then kept or dropped, never
    /// copied.
    pub(super) fn read_chain(
        &self,
        entries: &[(Digest, Transition)],
        keep: Keep,
    ) -> Result<ChainBlobs, CoreError> {
        let mut manifests: Vec<Vec<u8>> = Vec::with_capacity(match keep {
            Keep::Manifests => entries.len(),
            Keep::Nothing => 0,
        });
        let mut policies = Vec::new();
        let mut seen_policy = BTreeSet::new();
        let mut previous: Option<Digest> = None;
        // What GetManifests would send: bounded, so that one call never holds more than
        // the limit (a long history is read with StreamManifests).
        let mut kept = 0usize;
        let mut keep_bytes = |n: usize| -> Result<(), CoreError> {
            kept = kept.saturating_add(n);
            if keep == Keep::Manifests && kept > self.config.max_history_message_bytes {
                return Err(CoreError::HistoryTooLarge {
                    limit: self.config.max_history_message_bytes,
                });
            }
            Ok(())
        };
        for (_, transition) in entries {
            let hash = transition.manifest_hash;
            // The same manifest twice in a row (a re-set of identical bytes) was read,
            // re-hashed and checked a moment ago.
            if previous == Some(hash) {
                if let (Keep::Manifests, Some(last)) = (keep, manifests.last()) {
                    keep_bytes(last.len())?;
                    let again: Vec<u8> = Vec::clone(last);
                    manifests.push(again);
                }
                continue;
            }
            // Re-hashed against its name; only its Policies keys are parsed: the manifest
            // was validated when it was set, and its hash proves these are those bytes.
            let raw = self
                .history
                .get_manifest(&hash)
                .map_err(map_history_error)?;
            let hashes =
                Manifest::referenced_policy_hashes(&raw).map_err(|detail| CoreError::Corrupt {
                    key: format!("manifests/{hash}"),
                    detail,
                })?;
            for policy in hashes {
                if seen_policy.insert(policy) {
                    let bytes = self
                        .history
                        .get_policy(&policy)
                        .map_err(map_history_error)?;
                    keep_bytes(bytes.len())?;
                    if keep == Keep::Manifests {
                        policies.push(bytes);
                    }
                }
            }
            previous = Some(hash);
            if keep == Keep::Manifests {
                keep_bytes(raw.len())?;
                manifests.push(raw);
            }
        }
        Ok((manifests, policies))
    }
}
