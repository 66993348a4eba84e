//! Reading a history newest first, as `StreamManifests` sends it, and checking every entry
//! as it arrives (docs/COORDINATOR.md, "Reading a long history").
//!
//! The first entry must be the latest transition; each entry's transition hash must be the
//! SHA-256 of `manifest_hash ‖ previous` and the previous entry's `previous`; each manifest
//! must hash to its `manifest_hash`, or be empty when an earlier entry carried the same
//! manifest; the stream ends with the first transition (`previous` all zero). So everything
//! received is bound to the latest hash, whose signature the caller checks once.

use std::collections::HashMap;

use super::{Digest, MAX_HISTORY_LEN, Transition};

/// Why a streamed history was refused. Positions count from the newest entry (0).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("entry {position}: a hash field is {len} bytes, not 32")]
    Malformed { position: usize, len: usize },
    #[error(
        "entry {position}: transition {got} arrived where {expected} was expected: the stream does not follow the chain"
    )]
    OutOfChain {
        position: usize,
        expected: Digest,
        got: Digest,
    },
    #[error("entry {position}: transition {transition} does not hash to its name")]
    TransitionHash { position: usize, transition: Digest },
    #[error("entry {position}: the manifest does not hash to {manifest_hash}")]
    ManifestHash {
        position: usize,
        manifest_hash: Digest,
    },
    #[error(
        "entry {position}: manifest {manifest_hash} was left out as already sent, but no earlier entry carried it"
    )]
    UnknownRepeat {
        position: usize,
        manifest_hash: Digest,
    },
    #[error("the stream continues after the first transition")]
    AfterEnd,
    #[error("the stream ended after {received} entries, before the first transition")]
    Incomplete { received: usize },
    #[error("the chain is longer than {MAX_HISTORY_LEN} transitions")]
    TooLong,
}

/// Where an entry's manifest bytes are: its own, or those of a newer entry.
enum Slot {
    Bytes(Vec<u8>),
    Same(usize),
}

/// Accepts entries newest first, checks each, and returns the manifests oldest first.
pub struct ChainReader {
    expected: Digest,
    slots: Vec<Slot>,
    by_hash: HashMap<Digest, usize>,
    done: bool,
}

fn digest(position: usize, bytes: &[u8]) -> Result<Digest, StreamError> {
    let array: [u8; 32] = bytes.try_into().map_err(|_| StreamError::Malformed {
        position,
        len: bytes.len(),
    })?;
    Ok(Digest::from_bytes(array))
}

impl ChainReader {
    /// A reader of the chain ending at `latest` (the latest pointer's transition hash).
    pub fn new(latest: Digest) -> Self {
        Self {
            expected: latest,
            slots: Vec::new(),
            by_hash: HashMap::new(),
            done: latest.is_zero(),
        }
    }

    /// How many entries were accepted.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// True once the first transition arrived.
    pub fn is_complete(&self) -> bool {
        self.done
    }

    /// Checks and keeps the next (older) entry. `manifest` is empty when the sender says an
    /// earlier entry carried the same manifest.
    pub fn push(
        &mut self,
        transition_hash: &[u8],
        previous: &[u8],
        manifest_hash: &[u8],
        manifest: Vec<u8>,
    ) -> Result<(), StreamError> {
        let position = self.slots.len();
        if self.done {
            return Err(StreamError::AfterEnd);
        }
        if position >= MAX_HISTORY_LEN {
            return Err(StreamError::TooLong);
        }
        let transition_hash = digest(position, transition_hash)?;
        let previous = digest(position, previous)?;
        let manifest_hash = digest(position, manifest_hash)?;
        if transition_hash != self.expected {
            return Err(StreamError::OutOfChain {
                position,
                expected: self.expected,
                got: transition_hash,
            });
        }
        if Transition::after(previous, manifest_hash).hash() != transition_hash {
            return Err(StreamError::TransitionHash {
                position,
                transition: transition_hash,
            });
        }
        let slot = if manifest.is_empty() {
            match self.by_hash.get(&manifest_hash) {
                Some(&holder) => Slot::Same(holder),
                None => {
                    return Err(StreamError::UnknownRepeat {
                        position,
                        manifest_hash,
                    });
                }
            }
        } else {
            if Digest::of(&manifest) != manifest_hash {
                return Err(StreamError::ManifestHash {
                    position,
                    manifest_hash,
                });
            }
            self.by_hash.entry(manifest_hash).or_insert(position);
            Slot::Bytes(manifest)
        };
        self.slots.push(slot);
        self.expected = previous;
        self.done = previous.is_zero();
        Ok(())
    }

    /// The manifests, oldest first (a manifest sent once for several generations is
    /// repeated at each). An incomplete stream is an error.
    pub fn finish(self) -> Result<Vec<Vec<u8>>, StreamError> {
        if !self.done {
            return Err(StreamError::Incomplete {
                received: self.slots.len(),
            });
        }
        // Oldest first is the slots in reverse. A repeat refers to a newer slot, which is
        // visited later, so its bytes are still there to copy; a slot's own bytes are moved.
        let mut slots = self.slots;
        let mut out = Vec::with_capacity(slots.len());
        for i in (0..slots.len()).rev() {
            let bytes = match &slots[i] {
                Slot::Same(holder) => match &slots[*holder] {
                    Slot::Bytes(bytes) => bytes.clone(),
                    // `by_hash` only ever points at entries that carry bytes.
                    Slot::Same(_) => Vec::new(),
                },
                Slot::Bytes(_) => match std::mem::replace(&mut slots[i], Slot::Same(i)) {
                    Slot::Bytes(bytes) => bytes,
                    Slot::Same(_) => Vec::new(),
                },
            };
            out.push(bytes);
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test code")]
mod tests {
    use super::*;
    use crate::history::chain_from_manifests;

    /// transition hash, previous, manifest hash, manifest bytes (empty: a repeat).
    type Entry = (Digest, Digest, Digest, Vec<u8>);

    /// The entries a correct server sends for `manifests` (oldest first), newest first,
    /// repeats left out.
    fn stream_of(manifests: &[&[u8]]) -> (Digest, Vec<Entry>) {
        let chain = chain_from_manifests(manifests);
        let latest = chain.last().map(|(h, _)| *h).unwrap_or(Digest::ZERO);
        let mut seen = std::collections::HashSet::new();
        let entries = chain
            .iter()
            .zip(manifests)
            .rev()
            .map(|((hash, t), m)| {
                let bytes = if seen.insert(t.manifest_hash) {
                    m.to_vec()
                } else {
                    Vec::new()
                };
                (*hash, t.previous, t.manifest_hash, bytes)
            })
            .collect();
        (latest, entries)
    }

    fn read(latest: Digest, entries: &[Entry]) -> Result<Vec<Vec<u8>>, StreamError> {
        let mut reader = ChainReader::new(latest);
        for (t, p, m, bytes) in entries {
            reader.push(t.as_bytes(), p.as_bytes(), m.as_bytes(), bytes.clone())?;
        }
        reader.finish()
    }

    #[test]
    fn a_correct_stream_gives_the_manifests_oldest_first_with_repeats_restored() {
        let manifests: [&[u8]; 5] = [b"a", b"b", b"a", b"c", b"b"];
        let (latest, entries) = stream_of(&manifests);
        assert_eq!(entries.iter().filter(|e| e.3.is_empty()).count(), 2);
        let got = read(latest, &entries).unwrap();
        let want: Vec<Vec<u8>> = manifests.iter().map(|m| m.to_vec()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn every_tampering_is_named() {
        let manifests: [&[u8]; 3] = [b"one", b"two", b"three"];
        let (latest, entries) = stream_of(&manifests);

        let mut e = entries.clone();
        e[1].3 = b"TWO".to_vec();
        assert!(matches!(
            read(latest, &e),
            Err(StreamError::ManifestHash { position: 1, .. })
        ));

        let mut e = entries.clone();
        e.swap(1, 2);
        assert!(matches!(
            read(latest, &e),
            Err(StreamError::OutOfChain { position: 1, .. })
        ));

        let mut e = entries.clone();
        e[0].2 = Digest::of(b"other");
        assert!(matches!(
            read(latest, &e),
            Err(StreamError::TransitionHash { position: 0, .. })
        ));

        let mut e = entries.clone();
        e[2].3 = Vec::new();
        assert!(matches!(
            read(latest, &e),
            Err(StreamError::UnknownRepeat { position: 2, .. })
        ));

        assert!(matches!(
            read(latest, &entries[..2]),
            Err(StreamError::Incomplete { received: 2 })
        ));

        let mut e = entries.clone();
        e.push(entries[2].clone());
        assert_eq!(read(latest, &e), Err(StreamError::AfterEnd));

        assert!(matches!(
            read(Digest::of(b"another latest"), &entries),
            Err(StreamError::OutOfChain { position: 0, .. })
        ));

        let mut reader = ChainReader::new(latest);
        assert_eq!(
            reader.push(&[0; 31], &[0; 32], &[0; 32], Vec::new()),
            Err(StreamError::Malformed {
                position: 0,
                len: 31
            })
        );
    }
}
