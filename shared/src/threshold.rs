//! Threshold seed shares: seed ‖ salt split with Shamir's scheme over GF(2^8), one share per
//! seed share owner, any k of which give seed ‖ salt back; and the public commitment that lets
//! one owner prove their share intact without the others.
//!
//! The field arithmetic, splitting and Lagrange interpolation are `vsss-rs`'s
//! ([`vsss_rs::Gf256`]): constant-time GF(2^8) arithmetic (no log/exp tables, whose
//! secret-indexed lookups leak through the cache), audited, maintained, zeroizing. Why that
//! crate and not another is written down in docs/FORMATS.md ("Threshold seed shares").
//!
//! # Wire format
//! A [`KeyShare`] is `index` (1 byte, 1..=255: the x coordinate; owner i of the manifest's
//! `SeedshareOwnerPubKeys`, counted from 1, holds index i) ‖ `value` (one byte per byte of
//! seed ‖ salt: for each secret byte s_j the dealer draws a random polynomial
//! p_j(x) = s_j + a_1 x + … + a_{k-1} x^{k-1} over GF(2^8) with the AES polynomial
//! x^8 + x^4 + x^3 + x + 1, and `value[j]` = p_j(index)). A 64-byte seed and 32-byte salt give
//! 97-byte shares.
//!
//! The **commitment** of a share is SHA-256([`COMMITMENT_DOMAIN`] ‖ index ‖ value): 32 bytes,
//! published in `seed-shares.json` and kept by the Coordinator. It says nothing about the
//! secret (the value bytes are uniformly random to anyone with fewer than k shares, and 96
//! random bytes cannot be guessed from their hash).
//!
//! The Coordinator keeps the commitments of a threshold split as [`ShareCommitments`] under
//! the history store key `commitments/<first transition hash>`:
//! `0x01` (version) ‖ k (1 byte) ‖ n (1 byte) ‖ n × (owner X25519 public key (32) ‖ index (1)
//! ‖ commitment (32)), in manifest order: 3 + 65·n bytes. They name a wrong share during a
//! recovery; they do not make one right: whatever the shares combine to must still verify the
//! whole signed history before the Coordinator uses it.
//!
//! # Invariants
//! - A [`KeyShare`] is zeroized on drop and its `Debug` shows only its index.
//! - [`combine`] refuses fewer shares than it is told the threshold is, duplicate indices,
//!   and shares of different lengths; it cannot tell a wrong share from a right one (that is
//!   what commitments and the chain check are for).
//! - The RNG is passed in.

use std::fmt;

use rand_core::CryptoRngCore;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use vsss_rs::Gf256;
use vsss_rs::IdentifierGf256;
use zeroize::{Zeroize, Zeroizing};

use crate::keys::OwnerPublicKey;
use crate::seed::{MIN_SEED_LEN, SALT_LEN, Salt, Seed};
use crate::seedshare::HpkeRng;

/// Domain separation of a share commitment (28 ASCII bytes, no terminator).
pub const COMMITMENT_DOMAIN: &[u8] = b"seedward share commitment v1";
/// Length of a commitment (SHA-256).
pub const COMMITMENT_LEN: usize = 32;
/// The most owners a threshold split supports (indices 1..=255).
pub const MAX_SHARES: usize = 255;

/// Why a split or a combination failed. No message contains share bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ThresholdError {
    #[error(
        "a threshold of {threshold} of {owners} owners is not possible: it must be at least 2 \
         and at most the number of owners (at most {MAX_SHARES})"
    )]
    Parameters { threshold: usize, owners: usize },
    #[error("{have} share(s) given, {threshold} are needed")]
    NotEnough { have: usize, threshold: usize },
    #[error("share index {index} is given twice; each owner's share counts once")]
    DuplicateIndex { index: u8 },
    #[error("share index 0 is not a share (indices start at 1)")]
    ZeroIndex,
    #[error("the shares have different lengths; they are not shares of the same seed")]
    Lengths,
    #[error(
        "the combined secret is {len} bytes, but seed ‖ salt needs at least {} bytes",
        MIN_SEED_LEN + SALT_LEN
    )]
    TooShort { len: usize },
    #[error("the Shamir library refused: {0}")]
    Library(String),
}

/// One owner's Shamir share of seed ‖ salt: index ‖ value. Secret. Equality is
/// constant-time in the bytes (for shares of the same length).
#[derive(Clone)]
pub struct KeyShare(Zeroizing<Vec<u8>>);

impl PartialEq for KeyShare {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }
}

impl Eq for KeyShare {}

impl KeyShare {
    /// Takes `bytes` (index ‖ value) as a share; checks only the shape.
    pub fn from_bytes(bytes: Zeroizing<Vec<u8>>) -> Result<Self, ThresholdError> {
        match bytes.first() {
            None => Err(ThresholdError::Lengths),
            Some(0) => Err(ThresholdError::ZeroIndex),
            Some(_) if bytes.len() < 2 => Err(ThresholdError::Lengths),
            Some(_) => Ok(Self(bytes)),
        }
    }

    /// The x coordinate, 1..=255.
    pub fn index(&self) -> u8 {
        self.0[0]
    }

    /// index ‖ value. Every call site is a place where the share leaves its box.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// SHA-256([`COMMITMENT_DOMAIN`] ‖ index ‖ value).
    pub fn commitment(&self) -> [u8; COMMITMENT_LEN] {
        let mut hash = Sha256::new();
        hash.update(COMMITMENT_DOMAIN);
        hash.update(&*self.0);
        hash.finalize().into()
    }

    /// Whether this share is the one `commitment` was made of (constant-time compare).
    pub fn matches(&self, commitment: &[u8; COMMITMENT_LEN]) -> bool {
        self.commitment().ct_eq(commitment).into()
    }
}

impl fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyShare(index {}, <redacted>)", self.index())
    }
}

/// One owner's entry in [`ShareCommitments`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedShare {
    pub owner: OwnerPublicKey,
    pub index: u8,
    pub commitment: [u8; COMMITMENT_LEN],
}

/// The public record of a threshold split: k and, per owner, index and commitment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareCommitments {
    pub threshold: usize,
    pub entries: Vec<CommittedShare>,
}

/// Version byte of the [`ShareCommitments`] encoding.
const COMMITMENTS_VERSION: u8 = 1;
const COMMITMENT_ENTRY_LEN: usize = 32 + 1 + COMMITMENT_LEN;

/// Why bytes are not a [`ShareCommitments`] record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stored share commitments are damaged: {0}")]
pub struct CommitmentsError(&'static str);

impl ShareCommitments {
    /// The encoding described in the module docs.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(3 + self.entries.len() * COMMITMENT_ENTRY_LEN);
        out.push(COMMITMENTS_VERSION);
        // Both ≤ 255 for any record built by `SeedShareDocument::commitments` from a valid
        // document (k ≤ n ≤ 255); saturate rather than wrap if misused.
        out.push(u8::try_from(self.threshold).unwrap_or(u8::MAX));
        out.push(u8::try_from(self.entries.len()).unwrap_or(u8::MAX));
        for entry in &self.entries {
            out.extend_from_slice(entry.owner.as_bytes());
            out.push(entry.index);
            out.extend_from_slice(&entry.commitment);
        }
        out
    }

    /// Parses the encoding strictly.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CommitmentsError> {
        let [version, k, n, rest @ ..] = bytes else {
            return Err(CommitmentsError("shorter than its header"));
        };
        if *version != COMMITMENTS_VERSION {
            return Err(CommitmentsError("unknown version"));
        }
        if rest.len() != usize::from(*n) * COMMITMENT_ENTRY_LEN {
            return Err(CommitmentsError(
                "length does not match the number of owners",
            ));
        }
        if *k < 2 || k > n {
            return Err(CommitmentsError("threshold out of range"));
        }
        let entries = rest
            .chunks_exact(COMMITMENT_ENTRY_LEN)
            .map(|chunk| {
                let mut key = [0u8; 32];
                key.copy_from_slice(&chunk[..32]);
                let owner = OwnerPublicKey::from_bytes(key)
                    .map_err(|_| CommitmentsError("an owner key is not a valid X25519 key"))?;
                let mut commitment = [0u8; COMMITMENT_LEN];
                commitment.copy_from_slice(&chunk[33..]);
                Ok(CommittedShare {
                    owner,
                    index: chunk[32],
                    commitment,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            threshold: usize::from(*k),
            entries,
        })
    }

    /// The entry of `owner`, if they hold a share.
    pub fn of(&self, owner: &OwnerPublicKey) -> Option<&CommittedShare> {
        self.entries.iter().find(|e| &e.owner == owner)
    }
}

/// Splits seed ‖ salt into `owners` shares (indices 1..=owners) of which any `threshold`
/// recombine. `threshold` must be 2..=owners.
pub fn split(
    seed: &Seed,
    salt: &Salt,
    threshold: usize,
    owners: usize,
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<KeyShare>, ThresholdError> {
    if threshold < 2 || threshold > owners || owners > MAX_SHARES {
        return Err(ThresholdError::Parameters { threshold, owners });
    }
    let mut secret = Zeroizing::new(Vec::with_capacity(seed.len() + SALT_LEN));
    secret.extend_from_slice(seed.expose());
    secret.extend_from_slice(salt.as_bytes());
    // `owners` ≤ 255, checked above: every index fits a byte and is not zero.
    let ids = (1..=owners).map(|i| IdentifierGf256(Gf256(i as u8)));
    let shares = Gf256::split_bytes_with_participant_ids_iter(
        threshold,
        owners,
        &*secret,
        HpkeRng(rng),
        ids,
    )
    .map_err(|e| ThresholdError::Library(e.to_string()))?;
    Ok(shares
        .into_iter()
        .map(|bytes| KeyShare(Zeroizing::new(bytes)))
        .collect())
}

/// Combines at least `threshold` shares (any of them; all are used) into seed ‖ salt.
pub fn combine(shares: &[KeyShare], threshold: usize) -> Result<(Seed, Salt), ThresholdError> {
    if shares.len() < threshold.max(2) {
        return Err(ThresholdError::NotEnough {
            have: shares.len(),
            threshold,
        });
    }
    for (i, a) in shares.iter().enumerate() {
        if shares[..i].iter().any(|b| b.index() == a.index()) {
            return Err(ThresholdError::DuplicateIndex { index: a.index() });
        }
    }
    if shares.iter().any(|s| s.0.len() != shares[0].0.len()) {
        return Err(ThresholdError::Lengths);
    }
    let mut copies: Vec<Vec<u8>> = shares.iter().map(|s| s.0.to_vec()).collect();
    let result = Gf256::combine_bytes(&copies);
    for copy in &mut copies {
        copy.zeroize();
    }
    let secret = Zeroizing::new(result.map_err(|e| ThresholdError::Library(e.to_string()))?);
    if secret.len() < MIN_SEED_LEN + SALT_LEN {
        return Err(ThresholdError::TooShort { len: secret.len() });
    }
    let (seed, salt) = secret.split_at(secret.len() - SALT_LEN);
    let seed = Seed::copy_from(seed).map_err(|_| ThresholdError::TooShort { len: secret.len() })?;
    let salt =
        Salt::from_slice(salt).map_err(|_| ThresholdError::TooShort { len: secret.len() })?;
    Ok((seed, salt))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_core::OsRng;

    fn kat() -> (Seed, Salt) {
        (
            Seed::copy_from(&[0x5a; 64]).unwrap(),
            Salt::from_bytes([0xa5; 32]),
        )
    }

    fn share(bytes: &[u8]) -> KeyShare {
        KeyShare::from_bytes(Zeroizing::new(bytes.to_vec())).unwrap()
    }

    /// A hand-computed 2-of-n example over GF(2^8) with the AES polynomial: the secret byte
    /// 0x53 with p(x) = 0x53 + 0xca·x gives p(1) = 0x99 and p(2) = 0x53 ⊕ (0xca·2) =
    /// 0x53 ⊕ 0x8f = 0xdc (0xca·2 = 0x194 reduced by 0x11b = 0x8f). Any two recombine.
    #[test]
    fn combine_known_answer() {
        // Secret = 32 bytes of 0x53 ‖ 32 bytes of 0x53 (seed ‖ salt), same polynomial per byte.
        let mut one = vec![1u8];
        one.extend([0x99; 64]);
        let mut two = vec![2u8];
        two.extend([0xdc; 64]);
        // p(3) = 0x53 ⊕ 0xca·3 = 0x53 ⊕ (0x8f ⊕ 0xca) = 0x53 ⊕ 0x45 = 0x16.
        let mut three = vec![3u8];
        three.extend([0x16; 64]);
        for pair in [[&one, &two], [&one, &three], [&two, &three]] {
            let (seed, salt) = combine(&[share(pair[0]), share(pair[1])], 2).unwrap();
            assert_eq!(seed.expose(), &[0x53; 32]);
            assert_eq!(salt.as_bytes(), &[0x53; 32]);
        }
    }

    #[test]
    fn commitment_known_answer() {
        let s = share(&[1, 2, 3]);
        // sha256(b"seedward share commitment v1" ‖ 01 02 03), computed independently:
        // python3 -c 'import hashlib;print(hashlib.sha256(b"seedward share commitment v1\x01\x02\x03").hexdigest())'
        assert_eq!(
            hex::encode(s.commitment()),
            "2c558b9af05a0e1dd51a00ec29eaaf3b1b0a13d111480b6e447b262ca45ee630"
        );
        assert!(s.matches(&s.commitment()));
        assert!(!share(&[1, 2, 4]).matches(&s.commitment()));
        assert!(
            !share(&[2, 2, 3]).matches(&s.commitment()),
            "the index counts"
        );
    }

    #[test]
    fn shares_have_indices_one_to_n_and_commitments_differ() {
        let (seed, salt) = kat();
        let shares = split(&seed, &salt, 3, 5, &mut OsRng).unwrap();
        assert_eq!(
            shares.iter().map(KeyShare::index).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
        assert!(shares.iter().all(|s| s.expose().len() == 1 + 64 + 32));
        for (i, a) in shares.iter().enumerate() {
            for b in &shares[i + 1..] {
                assert_ne!(a.commitment(), b.commitment());
            }
        }
    }

    #[test]
    fn parameters_and_inputs_are_checked() {
        let (seed, salt) = kat();
        for (k, n) in [(1, 3), (0, 3), (4, 3), (2, 256)] {
            assert_eq!(
                split(&seed, &salt, k, n, &mut OsRng).unwrap_err(),
                ThresholdError::Parameters {
                    threshold: k,
                    owners: n
                }
            );
        }
        let shares = split(&seed, &salt, 2, 3, &mut OsRng).unwrap();
        assert_eq!(
            combine(&shares[..1], 2).unwrap_err(),
            ThresholdError::NotEnough {
                have: 1,
                threshold: 2
            }
        );
        assert_eq!(
            combine(&[shares[0].clone(), shares[0].clone()], 2).unwrap_err(),
            ThresholdError::DuplicateIndex { index: 1 }
        );
        let mut short = shares[1].expose().to_vec();
        short.pop();
        assert_eq!(
            combine(&[shares[0].clone(), share(&short)], 2).unwrap_err(),
            ThresholdError::Lengths
        );
        assert_eq!(
            KeyShare::from_bytes(Zeroizing::new(vec![0, 1])).unwrap_err(),
            ThresholdError::ZeroIndex
        );
    }

    #[test]
    fn commitments_round_trip_and_are_strict() {
        let record = ShareCommitments {
            threshold: 2,
            entries: (1..=3u8)
                .map(|i| CommittedShare {
                    owner: crate::keys::OwnerKeyPair::from_secret_bytes([i; 32]).public_key(),
                    index: i,
                    commitment: [i; 32],
                })
                .collect(),
        };
        let bytes = record.to_bytes();
        assert_eq!(bytes.len(), 3 + 3 * 65);
        assert_eq!(&bytes[..3], &[1, 2, 3]);
        assert_eq!(ShareCommitments::from_bytes(&bytes).unwrap(), record);
        assert_eq!(record.of(&record.entries[1].owner).unwrap().index, 2);
        for bad in [
            &bytes[..2],
            &bytes[..bytes.len() - 1],
            &[&[2u8][..], &bytes[1..]].concat()[..],
            &[&[1u8, 4, 3][..], &bytes[3..]].concat()[..],
            &[&[1u8, 1, 3][..], &bytes[3..]].concat()[..],
        ] {
            assert!(ShareCommitments::from_bytes(bad).is_err());
        }
    }

    #[test]
    fn debug_shows_no_share_bytes() {
        let s = share(&[7, 0xee, 0xee, 0xee]);
        let shown = format!("{s:?}");
        assert_eq!(shown, "KeyShare(index 7, <redacted>)");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Any k of the n shares recombine; any k-1 of them (padded with a share of another
        /// split, so the count is right) do not give the secret back.
        #[test]
        fn any_k_recombine_and_k_minus_1_do_not(
            n in 2usize..=7,
            k_offset in 0usize..6,
            pick in proptest::collection::vec(any::<proptest::sample::Index>(), 7),
            seed_bytes in proptest::collection::vec(any::<u8>(), 32..=64),
        ) {
            let k = 2 + k_offset % (n - 1);
            let seed = Seed::copy_from(&seed_bytes).unwrap();
            let salt = Salt::generate(&mut OsRng);
            let shares = split(&seed, &salt, k, n, &mut OsRng).unwrap();
            // A subset of k distinct shares chosen by the strategy.
            let mut order: Vec<usize> = (0..n).collect();
            for (i, idx) in pick.iter().enumerate().take(n) {
                let j = i + idx.index(n - i);
                order.swap(i, j);
            }
            let chosen: Vec<KeyShare> = order[..k].iter().map(|&i| shares[i].clone()).collect();
            let (got_seed, got_salt) = combine(&chosen, k).unwrap();
            prop_assert_eq!(&got_seed, &seed);
            prop_assert_eq!(got_salt, salt);

            // k-1 of them plus a share with the missing index from an unrelated split.
            let other = split(&Seed::generate(&mut OsRng), &salt, k, n, &mut OsRng).unwrap();
            let mut short: Vec<KeyShare> = chosen[..k - 1].to_vec();
            let missing = chosen[k - 1].index();
            short.push(other[usize::from(missing) - 1].clone());
            let wrong = combine(&short, k);
            prop_assert!(wrong.map(|(s, _)| s != seed).unwrap_or(true));
            prop_assert_eq!(combine(&chosen[..k - 1], k).unwrap_err(), ThresholdError::NotEnough { have: k - 1, threshold: k });
        }
    }
}
