//! Recovery challenges: one-time X25519 keys that a seed share owner seals the seed to.
//!
//! # Who can use up a challenge
//! Nobody but a seed share owner. A challenge is consumed only once an envelope sealed to
//! it *opens* under a listed owner's key ([`ChallengeBook::open_with`] then
//! [`ChallengeBook::consume`]); a `Recover` with garbage, an unknown owner, or a forged
//! envelope leaves it where it was, so an attacker who reads a challenge from `GetStatus`
//! cannot burn it.
//!
//! # Who can evict a challenge
//! Challenges are issued per caller (the TLS peer's IP address, or "unknown" for in-process
//! callers). A caller gets the newest unused challenge it was given for the same latest
//! transition while more than half of its lifetime is left, otherwise a new one; at most
//! [`PER_CALLER`] are kept per caller. Beyond `max` in total, the challenge that was
//! *offered* least recently is dropped — so a flood of `GetStatus` from one address only ever
//! refreshes that address's own challenge, and evicting an owner's challenge takes more
//! distinct addresses than `max` between the owner's `GetStatus` and its `Recover`.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand_core::{OsRng, RngCore};
use seedward_shared::history::Digest;
use seedward_shared::recovery::RecoveryChallengeKey;

use super::view::ChallengeOffer;
use crate::error::CoreError;

/// Most challenges kept for one caller.
pub const PER_CALLER: usize = 4;

/// An outstanding challenge, with its private key.
pub(super) struct Challenge {
    pub(super) id: [u8; 16],
    pub(super) key: RecoveryChallengeKey,
    pub(super) nonce: [u8; 32],
    pub(super) latest: Digest,
    pub(super) expires: Instant,
    expires_at_unix_ms: i64,
    caller: Option<IpAddr>,
    last_offered: Instant,
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

/// The outstanding challenges, oldest first, bounded in total and per caller.
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
        // Every change is a single push, remove, retain or timestamp: a poisoned lock still
        // holds a consistent queue.
        self.challenges.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The recovery challenge to offer `caller` for `latest` (see the module documentation).
    pub(super) fn offer(&self, latest: Digest, caller: Option<IpAddr>) -> ChallengeOffer {
        let now = Instant::now();
        let mut challenges = self.lock();
        challenges.retain(|c| c.expires > now);
        if let Some(current) = challenges.iter_mut().rev().find(|c| {
            c.caller == caller
                && c.latest == latest
                && c.expires.saturating_duration_since(now) > self.ttl / 2
        }) {
            current.last_offered = now;
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
        // This caller's oldest first, then whichever was offered least recently.
        while challenges.iter().filter(|c| c.caller == caller).count() >= PER_CALLER {
            match challenges.iter().position(|c| c.caller == caller) {
                Some(i) => drop(challenges.remove(i)),
                None => break,
            }
        }
        while challenges.len() >= self.max {
            let lru = challenges
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| c.last_offered)
                .map(|(i, _)| i);
            match lru {
                Some(i) => drop(challenges.remove(i)),
                None => break,
            }
        }
        let challenge = Challenge {
            id,
            key: RecoveryChallengeKey::generate(&mut OsRng),
            nonce,
            latest,
            expires: now + self.ttl,
            expires_at_unix_ms,
            caller,
            last_offered: now,
        };
        let offer = challenge.offer();
        challenges.push_back(challenge);
        offer
    }

    /// Runs `f` on the challenge `id`, if it is known and unexpired, *without* using it up:
    /// the caller consumes it with [`consume`](Self::consume) once the envelope opened.
    pub(super) fn open_with<T>(
        &self,
        id: &[u8],
        f: impl FnOnce(&Challenge) -> T,
    ) -> Result<T, CoreError> {
        let challenges = self.lock();
        let challenge =
            challenges
                .iter()
                .find(|c| c.id.as_slice() == id)
                .ok_or(CoreError::Challenge {
                    what: "unknown or already used",
                })?;
        if challenge.expires <= Instant::now() {
            return Err(CoreError::Challenge { what: "expired" });
        }
        Ok(f(challenge))
    }

    /// Removes the challenge `id` (single use).
    pub(super) fn consume(&self, id: &[u8]) {
        self.lock().retain(|c| c.id.as_slice() != id);
    }

    /// Forgets every challenge (the Coordinator became ready).
    pub(super) fn clear(&self) {
        self.lock().clear();
    }

    /// How many challenges are outstanding (tests, metrics).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn ip(n: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, n]))
    }

    #[test]
    fn one_caller_gets_its_own_challenge_again_and_others_cannot_evict_it() {
        let book = ChallengeBook::new(Duration::from_secs(300), 8);
        let latest = Digest::of(b"latest");
        let owner = book.offer(latest, ip(1));
        assert_eq!(book.offer(latest, ip(1)), owner, "reused while fresh");
        // A flood from one other address: one challenge for it, reused.
        let flood = book.offer(latest, ip(2));
        for _ in 0..1000 {
            assert_eq!(book.offer(latest, ip(2)), flood);
        }
        assert_eq!(book.len(), 2);
        // Seven other addresses fill the book; the owner asks again and stays the most
        // recently offered, so the next address evicts someone else.
        for n in 3..10 {
            book.offer(latest, ip(n));
            assert_eq!(book.offer(latest, ip(1)), owner);
        }
        assert_eq!(book.len(), 8);
        assert!(book.open_with(&owner.id, |_| ()).is_ok());
        // Looking at it does not use it up; consuming does.
        assert!(book.open_with(&owner.id, |_| ()).is_ok());
        book.consume(&owner.id);
        assert!(book.open_with(&owner.id, |_| ()).is_err());
        assert_ne!(book.offer(latest, ip(1)), owner);
    }

    #[test]
    fn a_new_latest_or_half_life_gives_a_new_challenge_within_the_per_caller_bound() {
        let book = ChallengeBook::new(Duration::from_millis(40), 100);
        let a = book.offer(Digest::of(b"a"), None);
        let b = book.offer(Digest::of(b"b"), None);
        assert_ne!(a, b);
        std::thread::sleep(Duration::from_millis(25));
        let c = book.offer(Digest::of(b"b"), None);
        assert_ne!(b, c, "less than half the lifetime left");
        for n in 0..10u8 {
            book.offer(Digest::of(&[n]), None);
        }
        assert_eq!(book.len(), PER_CALLER);
        std::thread::sleep(Duration::from_millis(50));
        assert!(matches!(
            book.open_with(&c.id, |_| ()),
            Err(CoreError::Challenge { .. })
        ));
    }
}
