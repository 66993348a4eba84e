//! Recovery challenges: one-time X25519 keys that a seed share owner seals the seed to.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand_core::{OsRng, RngCore};
use seedward_shared::history::Digest;
use seedward_shared::recovery::RecoveryChallengeKey;

use super::view::ChallengeOffer;
use crate::error::CoreError;

/// An outstanding challenge, with its private key.
pub(super) struct Challenge {
    pub(super) id: [u8; 16],
    pub(super) key: RecoveryChallengeKey,
    pub(super) nonce: [u8; 32],
    pub(super) latest: Digest,
    pub(super) expires: Instant,
    expires_at_unix_ms: i64,
}

impl Challenge {
    fn offer(&self) -> ChallengeOffer {
        ChallengeOffer {
            id: self.id,
            public_key: self.key.public_key(),
            nonce: self.nonce,
            latest: self.latest,
            expires_at_unix_ms: self.expires_at_unix_ms,
        }
    }
}

/// The outstanding challenges, oldest first, bounded.
pub struct ChallengeBook {
    ttl: Duration,
    max: usize,
    challenges: Mutex<VecDeque<Challenge>>,
}

impl ChallengeBook {
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self {
            ttl,
            max: max.max(1),
            challenges: Mutex::new(VecDeque::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Challenge>> {
        // Every change is a single push, pop or retain: a poisoned lock still holds a
        // consistent queue.
        self.challenges.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The recovery challenge to offer: the newest unused one for `latest` while more than
    /// half of its lifetime is left, otherwise a new one. Reusing it means a flood of
    /// `GetStatus` calls cannot evict the challenge an operator is sealing to.
    pub(super) fn offer(&self, latest: Digest) -> ChallengeOffer {
        let now = Instant::now();
        let mut challenges = self.lock();
        challenges.retain(|c| c.expires > now);
        if let Some(current) = challenges.back()
            && current.latest == latest
            && current.expires.saturating_duration_since(now) > self.ttl / 2
        {
            return current.offer();
        }
        let mut id = [0u8; 16];
        let mut nonce = [0u8; 32];
        OsRng.fill_bytes(&mut id);
        OsRng.fill_bytes(&mut nonce);
        let expires_at_unix_ms = (SystemTime::now() + self.ttl)
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        while challenges.len() >= self.max {
            challenges.pop_front();
        }
        let challenge = Challenge {
            id,
            key: RecoveryChallengeKey::generate(&mut OsRng),
            nonce,
            latest,
            expires: now + self.ttl,
            expires_at_unix_ms,
        };
        let offer = challenge.offer();
        challenges.push_back(challenge);
        offer
    }

    /// Removes and returns the challenge `id` (single use), if it is known and unexpired.
    pub(super) fn take(&self, id: &[u8]) -> Result<Challenge, CoreError> {
        let challenge = {
            let mut challenges = self.lock();
            let position = challenges.iter().position(|c| c.id.as_slice() == id);
            position.and_then(|i| challenges.remove(i))
        }
        .ok_or(CoreError::Challenge {
            what: "unknown or already used",
        })?;
        if challenge.expires <= Instant::now() {
            return Err(CoreError::Challenge { what: "expired" });
        }
        Ok(challenge)
    }

    /// Forgets every challenge (the Coordinator became ready).
    pub(super) fn clear(&self) {
        self.lock().clear();
    }
}
