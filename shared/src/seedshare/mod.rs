//! Seed shares: the whole seed, HPKE-encrypted once per seed share owner, and the
//! `seed-shares.json` document that carries them with the salt.
//!
//! # Wire format
//!
//! HPKE (RFC 9180) in base mode (`mode_base` = 0x00) with the suite
//! DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305, i.e.
//! `kem_id` = 0x0020, `kdf_id` = 0x0001, `aead_id` = 0x0003; `info` =
//! [`SEED_SHARE_INFO`] (the 9 ASCII bytes `seedshare`), empty AAD, one single-shot
//! seal (sequence number 0). The recipient is the owner's X25519 public key.
//!
//! `EncryptedSeed` = `enc` (32 bytes, the ephemeral X25519 public key) ‖ ciphertext
//! (`len(seed)` + 16 bytes: ChaCha20-Poly1305 output with its tag at the end). A
//! 64-byte seed gives 112 bytes.
//!
//! `seed-shares.json`, written by [`SeedShareDocument::to_json`] (two-space indent,
//! keys in this order, trailing newline):
//!
//! ```json
//! {
//!   "SeedShares": [
//!     {
//!       "PublicKey": "<64 lowercase hex: the owner's X25519 public key>",
//!       "EncryptedSeed": "<standard base64 with padding of EncryptedSeed>"
//!     }
//!   ],
//!   "salt": "<standard base64 with padding of the 32-byte salt>"
//! }
//! ```
//!
//! ## Threshold documents (k ≥ 2)
//!
//! When the manifest sets `SeedshareOwnerThreshold` to k ≥ 2, each owner's `EncryptedSeed`
//! holds their Shamir share of seed ‖ salt instead of the seed ([`crate::threshold`]):
//! the same HPKE suite and base mode, but `info` = [`THRESHOLD_SHARE_INFO`] (the 27 ASCII
//! bytes `seedward threshold share v1`, so a share can never be opened as a seed), and the
//! plaintext is the share, index (1 byte) ‖ value (`len(seed) + 32` bytes): 32 + 97 + 16 =
//! 145 bytes for a 64-byte seed. Each share object gains two fields and the document one,
//! after the existing ones:
//!
//! ```json
//! {
//!   "SeedShares": [
//!     {
//!       "PublicKey": "<64 lowercase hex>",
//!       "EncryptedSeed": "<standard base64: enc ‖ HPKE ciphertext of the share>",
//!       "ShareIndex": <integer 1..=255: the share's x coordinate>,
//!       "ShareCommitment": "<64 lowercase hex: SHA-256(\"seedward share commitment v1\" ‖ index ‖ value)>"
//!     }
//!   ],
//!   "salt": "<standard base64 of the salt, as before>",
//!   "Threshold": <integer k ≥ 2>
//! }
//! ```
//!
//! Share i (counted from 1) belongs to the i-th key of `SeedshareOwnerPubKeys`, so the
//! shares are listed in manifest order with indices 1..=n. With k = 1 none of the three
//! fields is written and the document is byte for byte the one above.
//!
//! Reading ([`SeedShareDocument::from_json`]) is strict: unknown fields are rejected
//! and key names are case-sensitive; a missing or `null` `SeedShares` (what Go's
//! `omitempty` writes for zero owners) reads as an empty list; `salt` is required.
//!
//! # Invariants
//! - Decryption errors are deliberately coarse: a wrong key and a damaged share look
//!   the same; the message names the key fingerprint that was tried.
//! - A parsed document's salt is exactly 32 bytes and every `PublicKey` is a valid
//!   owner key; `PublicKey` strings are kept as written (matching compares keys, not text).
//! - The RNG is passed in; nothing here reads the OS RNG by itself.

use std::convert::Infallible;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::keys::{Fingerprint, OwnerKeyPair, OwnerPublicKey};
use crate::seed::{SALT_LEN, Salt, Seed, SeedError};
use crate::threshold::{
    self, COMMITMENT_LEN, CommittedShare, KeyShare, ShareCommitments, ThresholdError,
};

/// HPKE `info` of a seed share.
pub const SEED_SHARE_INFO: &[u8] = b"seedshare";
/// HPKE `info` of a threshold seed share (a Shamir share of seed ‖ salt).
pub const THRESHOLD_SHARE_INFO: &[u8] = b"seedward threshold share v1";
/// Length of the HPKE encapsulated key (an X25519 public key).
pub const ENC_LEN: usize = 32;
/// Length of the ChaCha20-Poly1305 tag at the end of every ciphertext.
pub const TAG_LEN: usize = 16;

/// The HPKE KEM of seed shares and recovery envelopes.
pub(crate) type Kem = X25519HkdfSha256;
/// The HPKE KDF of seed shares and recovery envelopes.
pub(crate) type Kdf = HkdfSha256;
/// The HPKE AEAD of seed shares and recovery envelopes.
pub(crate) type Aead = ChaCha20Poly1305;

/// Errors of sealing and opening seed shares. Messages never contain secret bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeedShareError {
    #[error(
        "could not decrypt the seed share with owner key {fingerprint}: it may be the wrong \
         owner key, or seed-shares.json is damaged"
    )]
    Decrypt { fingerprint: Fingerprint },
    #[error(
        "this seed share was encrypted for owner key {share_for}, not for the key you chose \
         ({tried}); choose the key that set up this Coordinator"
    )]
    WrongOwnerKey {
        tried: Fingerprint,
        share_for: Fingerprint,
    },
    #[error(
        "seed-shares.json has no seed share for owner key {fingerprint}; it has shares for \
         {present}; choose one of those keys"
    )]
    NoShareForKey {
        fingerprint: Fingerprint,
        present: String,
    },
    #[error("the seed share's PublicKey is not an owner key ({reason})")]
    BadPublicKey { reason: String },
    #[error("the decrypted seed is unusable ({0}); seed-shares.json may be damaged")]
    BadSeed(SeedError),
    #[error("encrypting the seed for owner key {fingerprint} failed; try again")]
    Seal { fingerprint: Fingerprint },
    #[error("seed-shares.json is not a valid seed share document: {reason}")]
    Json { reason: String },
    #[error(
        "this Coordinator's seed is split {threshold} of {owners}: one owner's share alone \
         does not give the seed; recover together with `seedward recover` (a recovery session)"
    )]
    ThresholdShare { threshold: usize, owners: usize },
    #[error(
        "the seed share of owner key {fingerprint} decrypts, but it is not the share its \
         commitment in seed-shares.json names (index {index}); the document or the share is \
         damaged — restore seed-shares.json from a backup"
    )]
    CommitmentMismatch { fingerprint: Fingerprint, index: u8 },
    #[error("splitting the seed failed: {0}")]
    Split(ThresholdError),
}

/// One owner's seed share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedShare {
    /// The owner's X25519 public key, lowercase hex (the manifest form).
    #[serde(rename = "PublicKey")]
    pub public_key: String,
    /// `enc` (32) ‖ HPKE ciphertext of the seed.
    #[serde(
        rename = "EncryptedSeed",
        serialize_with = "ser_base64",
        deserialize_with = "de_encrypted_seed"
    )]
    pub encrypted_seed: Vec<u8>,
    /// Threshold documents only: the share's index (x coordinate), 1..=255.
    #[serde(
        rename = "ShareIndex",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub share_index: Option<u8>,
    /// Threshold documents only: SHA-256(domain ‖ index ‖ value) of the share.
    #[serde(
        rename = "ShareCommitment",
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_commitment",
        deserialize_with = "de_commitment"
    )]
    pub share_commitment: Option<[u8; COMMITMENT_LEN]>,
}

/// The `seed-shares.json` document: one share per owner and the salt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedShareDocument {
    #[serde(rename = "SeedShares", default, deserialize_with = "de_seed_shares")]
    pub seed_shares: Vec<SeedShare>,
    #[serde(
        rename = "salt",
        serialize_with = "ser_salt",
        deserialize_with = "de_salt"
    )]
    pub salt: Salt,
    /// k when the seed is split k of n (k ≥ 2); `None` for whole-seed shares.
    #[serde(rename = "Threshold", default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<usize>,
    /// Threshold documents only: the history's transaction signing public key (SEC1
    /// compressed P-384, lowercase hex), so that an owner, who cannot derive it from one
    /// share, can verify the signed history (the share drill saves it).
    #[serde(
        rename = "HistorySigningKey",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub history_signing_key: Option<String>,
}

/// Encrypts `seed` to `owner` (HPKE base mode, `info` = `seedshare`).
pub fn seal_seed(
    seed: &Seed,
    owner: &OwnerPublicKey,
    rng: &mut impl CryptoRngCore,
) -> Result<SeedShare, SeedShareError> {
    seal_bytes(seed.expose(), SEED_SHARE_INFO, owner, rng)
}

/// HPKE base mode to `owner` with `info`.
fn seal_bytes(
    plaintext: &[u8],
    info: &[u8],
    owner: &OwnerPublicKey,
    rng: &mut impl CryptoRngCore,
) -> Result<SeedShare, SeedShareError> {
    let seal_error = || SeedShareError::Seal {
        fingerprint: owner.fingerprint(),
    };
    let recipient = hpke_public_key(owner).map_err(|_| seal_error())?;
    let (enc, ciphertext) = hpke::single_shot_seal_with_rng::<Aead, Kdf, Kem>(
        &OpModeS::Base,
        &recipient,
        info,
        plaintext,
        &[],
        &mut HpkeRng(rng),
    )
    .map_err(|_| seal_error())?;
    let mut encrypted_seed = Vec::with_capacity(ENC_LEN + ciphertext.len());
    encrypted_seed.extend_from_slice(&enc.to_bytes());
    encrypted_seed.extend_from_slice(&ciphertext);
    Ok(SeedShare {
        public_key: owner.to_hex(),
        encrypted_seed,
        share_index: None,
        share_commitment: None,
    })
}

/// Decrypts `share` with `owner`'s private key.
pub fn open_seed(share: &SeedShare, owner: &OwnerKeyPair) -> Result<Seed, SeedShareError> {
    let plaintext = open_bytes(share, owner, SEED_SHARE_INFO)?;
    Seed::copy_from(&plaintext).map_err(SeedShareError::BadSeed)
}

/// Decrypts a threshold share with `owner`'s private key and checks it against the share's
/// index and commitment.
pub fn open_key_share(share: &SeedShare, owner: &OwnerKeyPair) -> Result<KeyShare, SeedShareError> {
    let fingerprint = owner.public_key().fingerprint();
    let (Some(index), Some(commitment)) = (share.share_index, share.share_commitment) else {
        return Err(SeedShareError::Json {
            reason: "a threshold share needs ShareIndex and ShareCommitment".into(),
        });
    };
    let plaintext = open_bytes(share, owner, THRESHOLD_SHARE_INFO)?;
    let mismatch = || SeedShareError::CommitmentMismatch { fingerprint, index };
    let key_share = KeyShare::from_bytes(plaintext).map_err(|_| mismatch())?;
    if key_share.index() != index || !key_share.matches(&commitment) {
        return Err(mismatch());
    }
    Ok(key_share)
}

fn open_bytes(
    share: &SeedShare,
    owner: &OwnerKeyPair,
    info: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SeedShareError> {
    let tried = owner.public_key();
    let share_for =
        OwnerPublicKey::from_hex(&share.public_key).map_err(|e| SeedShareError::BadPublicKey {
            reason: e.to_string(),
        })?;
    if share_for != tried {
        return Err(SeedShareError::WrongOwnerKey {
            tried: tried.fingerprint(),
            share_for: share_for.fingerprint(),
        });
    }
    let decrypt_error = || SeedShareError::Decrypt {
        fingerprint: tried.fingerprint(),
    };
    if share.encrypted_seed.len() < ENC_LEN + TAG_LEN {
        return Err(decrypt_error());
    }
    let (enc, ciphertext) = share.encrypted_seed.split_at(ENC_LEN);
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| decrypt_error())?;
    let private = hpke_private_key(owner).map_err(|_| decrypt_error())?;
    let plaintext = Zeroizing::new(
        hpke::single_shot_open::<Aead, Kdf, Kem>(
            &OpModeR::Base,
            &private,
            &enc,
            info,
            ciphertext,
            &[],
        )
        .map_err(|_| decrypt_error())?,
    );
    Ok(plaintext)
}

/// Seals `seed` once for each owner, in the order given, and adds the salt.
pub fn encrypt_for_owners(
    seed: &Seed,
    salt: &Salt,
    owners: &[OwnerPublicKey],
    rng: &mut impl CryptoRngCore,
) -> Result<SeedShareDocument, SeedShareError> {
    let seed_shares = owners
        .iter()
        .map(|owner| seal_seed(seed, owner, rng))
        .collect::<Result<_, _>>()?;
    Ok(SeedShareDocument {
        seed_shares,
        salt: *salt,
        threshold: None,
        history_signing_key: None,
    })
}

/// The seed share document for `owners` with threshold `threshold`: whole-seed shares
/// ([`encrypt_for_owners`]) when it is 1, else seed ‖ salt split k of n, share i sealed to
/// owner i with its index and commitment.
pub fn shares_for_owners(
    seed: &Seed,
    salt: &Salt,
    owners: &[OwnerPublicKey],
    threshold: usize,
    rng: &mut impl CryptoRngCore,
) -> Result<SeedShareDocument, SeedShareError> {
    if threshold <= 1 {
        return encrypt_for_owners(seed, salt, owners, rng);
    }
    let shares = threshold::split(seed, salt, threshold, owners.len(), rng)
        .map_err(SeedShareError::Split)?;
    let seed_shares = owners
        .iter()
        .zip(&shares)
        .map(|(owner, key_share)| {
            let mut sealed = seal_bytes(key_share.expose(), THRESHOLD_SHARE_INFO, owner, rng)?;
            sealed.share_index = Some(key_share.index());
            sealed.share_commitment = Some(key_share.commitment());
            Ok(sealed)
        })
        .collect::<Result<_, SeedShareError>>()?;
    // Public: lets every owner verify the signed history without the k − 1 others.
    let signing = crate::seed::SeedEngine::new(seed, salt)
        .map_err(|e| SeedShareError::Json {
            reason: format!("the seed cannot derive the history signing key: {e}"),
        })?
        .transaction_verifying_key()
        .to_encoded_point(true);
    Ok(SeedShareDocument {
        seed_shares,
        salt: *salt,
        threshold: Some(threshold),
        history_signing_key: Some(hex::encode(signing.as_bytes())),
    })
}

impl SeedShareDocument {
    /// k: how many owners it takes (1 for whole-seed shares).
    pub fn threshold(&self) -> usize {
        self.threshold.unwrap_or(1)
    }

    /// Finds the share for `owner`'s public key and decrypts it. Whole-seed documents only:
    /// a threshold document is [`SeedShareError::ThresholdShare`] (see
    /// [`open_key_share_with`](Self::open_key_share_with)).
    pub fn open_with(&self, owner: &OwnerKeyPair) -> Result<(Seed, Salt), SeedShareError> {
        if self.threshold() > 1 {
            return Err(SeedShareError::ThresholdShare {
                threshold: self.threshold(),
                owners: self.seed_shares.len(),
            });
        }
        Ok((open_seed(self.share_of(owner)?, owner)?, self.salt))
    }

    /// Finds the threshold share for `owner`'s public key, decrypts it and checks it against
    /// its commitment: the share drill of a k-of-n document, which needs no other owner.
    pub fn open_key_share_with(&self, owner: &OwnerKeyPair) -> Result<KeyShare, SeedShareError> {
        open_key_share(self.share_of(owner)?, owner)
    }

    /// The share listed for `owner`'s public key.
    pub fn share_of(&self, owner: &OwnerKeyPair) -> Result<&SeedShare, SeedShareError> {
        let ours = owner.public_key();
        self.seed_shares
            .iter()
            .find(|share| OwnerPublicKey::from_hex(&share.public_key).ok() == Some(ours))
            .ok_or_else(|| SeedShareError::NoShareForKey {
                fingerprint: ours.fingerprint(),
                present: self.present_fingerprints(),
            })
    }

    /// The public part of a threshold document, as the Coordinator keeps it; `None` for a
    /// whole-seed document.
    pub fn commitments(&self) -> Option<ShareCommitments> {
        let threshold = self.threshold.filter(|k| *k > 1)?;
        let entries = self
            .seed_shares
            .iter()
            .map(|share| {
                Some(CommittedShare {
                    owner: OwnerPublicKey::from_hex(&share.public_key).ok()?,
                    index: share.share_index?,
                    commitment: share.share_commitment?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(ShareCommitments { threshold, entries })
    }

    fn present_fingerprints(&self) -> String {
        if self.seed_shares.is_empty() {
            return "no owner at all (the manifest had no seed share owners)".into();
        }
        self.seed_shares
            .iter()
            .map(|share| match OwnerPublicKey::from_hex(&share.public_key) {
                Ok(key) => key.fingerprint().to_string(),
                Err(_) => "<invalid key>".into(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The document as `seed-shares.json`: two-space indented, trailing newline.
    pub fn to_json(&self) -> String {
        let shares: Vec<serde_json::Value> = self
            .seed_shares
            .iter()
            .map(|share| {
                let mut value = serde_json::json!({
                    "PublicKey": share.public_key,
                    "EncryptedSeed": BASE64.encode(&share.encrypted_seed),
                });
                if let Some(index) = share.share_index {
                    value["ShareIndex"] = index.into();
                }
                if let Some(commitment) = share.share_commitment {
                    value["ShareCommitment"] = hex::encode(commitment).into();
                }
                value
            })
            .collect();
        let mut doc = serde_json::json!({
            "SeedShares": shares,
            "salt": self.salt.to_base64(),
        });
        if let Some(threshold) = self.threshold {
            doc["Threshold"] = threshold.into();
        }
        if let Some(key) = &self.history_signing_key {
            doc["HistorySigningKey"] = key.clone().into();
        }
        // `{:#}` is serde_json's infallible pretty printer (two-space indent).
        format!("{doc:#}\n")
    }

    /// Parses `seed-shares.json` strictly (see the module docs).
    pub fn from_json(text: &str) -> Result<Self, SeedShareError> {
        let doc: Self = serde_json::from_str(text).map_err(|e| SeedShareError::Json {
            reason: e.to_string(),
        })?;
        let json = |reason: String| SeedShareError::Json { reason };
        for (i, share) in doc.seed_shares.iter().enumerate() {
            OwnerPublicKey::from_hex(&share.public_key)
                .map_err(|e| json(format!("SeedShares[{i}].PublicKey: {e}")))?;
        }
        let n = doc.seed_shares.len();
        match doc.threshold {
            None => {
                if let Some(i) = doc
                    .seed_shares
                    .iter()
                    .position(|s| s.share_index.is_some() || s.share_commitment.is_some())
                {
                    return Err(json(format!(
                        "SeedShares[{i}] has ShareIndex or ShareCommitment, but the document has no Threshold"
                    )));
                }
            }
            Some(k) if k < 2 || k > n => {
                return Err(json(format!(
                    "Threshold is {k}, it must be between 2 and the number of shares ({n}); \
                     a whole-seed document has no Threshold"
                )));
            }
            Some(_) => {
                for (i, share) in doc.seed_shares.iter().enumerate() {
                    let expected = i + 1;
                    match (share.share_index, share.share_commitment) {
                        (Some(index), Some(_)) if usize::from(index) == expected => {}
                        (Some(index), Some(_)) => {
                            return Err(json(format!(
                                "SeedShares[{i}].ShareIndex is {index}, expected {expected} (shares are listed in manifest order)"
                            )));
                        }
                        _ => {
                            return Err(json(format!(
                                "SeedShares[{i}] needs ShareIndex and ShareCommitment in a threshold document"
                            )));
                        }
                    }
                }
            }
        }
        match (&doc.history_signing_key, doc.threshold) {
            (Some(_), None) => {
                return Err(json(
                    "HistorySigningKey is only in a threshold document (one with Threshold)".into(),
                ));
            }
            (Some(_), Some(_)) => {
                doc.history_signing_key()?;
            }
            _ => {}
        }
        Ok(doc)
    }

    /// The history signing public key a threshold document carries, if any.
    pub fn history_signing_key(&self) -> Result<Option<p384::ecdsa::VerifyingKey>, SeedShareError> {
        let Some(text) = &self.history_signing_key else {
            return Ok(None);
        };
        hex::decode(text)
            .ok()
            .and_then(|bytes| p384::ecdsa::VerifyingKey::from_sec1_bytes(&bytes).ok())
            .map(Some)
            .ok_or_else(|| SeedShareError::Json {
                reason: "HistorySigningKey is not a P-384 public key (SEC1, hex)".into(),
            })
    }
}

fn ser_base64<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&BASE64.encode(bytes))
}

fn ser_salt<S: Serializer>(salt: &Salt, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&salt.to_base64())
}

fn de_encrypted_seed<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(deserializer)?;
    BASE64.decode(&text).map_err(|e| {
        serde::de::Error::custom(format!("EncryptedSeed is not standard base64 ({e})"))
    })
}

#[allow(
    clippy::ref_option,
    reason = "serde's serialize_with passes the field by reference"
)]
fn ser_commitment<S: Serializer>(
    commitment: &Option<[u8; COMMITMENT_LEN]>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match commitment {
        Some(bytes) => serializer.serialize_str(&hex::encode(bytes)),
        None => serializer.serialize_none(),
    }
}

fn de_commitment<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<[u8; COMMITMENT_LEN]>, D::Error> {
    let text = String::deserialize(deserializer)?;
    let mut out = [0u8; COMMITMENT_LEN];
    hex::decode_to_slice(&text, &mut out).map_err(|_| {
        serde::de::Error::custom("ShareCommitment must be 64 hex characters (a SHA-256)")
    })?;
    Ok(Some(out))
}

fn de_salt<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Salt, D::Error> {
    let text = String::deserialize(deserializer)?;
    let bytes = BASE64
        .decode(&text)
        .map_err(|e| serde::de::Error::custom(format!("salt is not standard base64 ({e})")))?;
    Salt::from_slice(&bytes).map_err(|_| {
        serde::de::Error::custom(format!(
            "salt is {} bytes, it must be {SALT_LEN}",
            bytes.len()
        ))
    })
}

fn de_seed_shares<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<SeedShare>, D::Error> {
    Ok(Option::<Vec<SeedShare>>::deserialize(deserializer)?.unwrap_or_default())
}

// ---------------------------------------------------------------------------------------
// HPKE plumbing shared with `recovery`
// ---------------------------------------------------------------------------------------

/// Bridges a `rand_core` 0.6 RNG (what this crate's API and `p384` take) to the
/// `rand_core` 0.10 traits that `hpke` 0.15 wants. Every byte still comes from the
/// caller's RNG; a failing RNG panics inside `fill_bytes`, as with any 0.6 RNG.
pub(crate) struct HpkeRng<'a, R: ?Sized>(pub(crate) &'a mut R);

impl<R: CryptoRngCore + ?Sized> hpke::rand_core::TryRng for HpkeRng<'_, R> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.0.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}

impl<R: CryptoRngCore + ?Sized> hpke::rand_core::TryCryptoRng for HpkeRng<'_, R> {}

/// The owner's key as an HPKE private key.
pub(crate) fn hpke_private_key(
    owner: &OwnerKeyPair,
) -> Result<<Kem as hpke::Kem>::PrivateKey, hpke::HpkeError> {
    <Kem as hpke::Kem>::PrivateKey::from_bytes(owner.secret_bytes())
}

/// An owner public key as an HPKE public key.
pub(crate) fn hpke_public_key(
    key: &OwnerPublicKey,
) -> Result<<Kem as hpke::Kem>::PublicKey, hpke::HpkeError> {
    <Kem as hpke::Kem>::PublicKey::from_bytes(key.as_bytes())
}

/// The HPKE key pair (sender identity in auth mode) of an owner.
pub(crate) fn hpke_key_pair(
    owner: &OwnerKeyPair,
) -> Result<
    (
        <Kem as hpke::Kem>::PrivateKey,
        <Kem as hpke::Kem>::PublicKey,
    ),
    hpke::HpkeError,
> {
    let private = hpke_private_key(owner)?;
    let public = Kem::sk_to_pk(&private);
    Ok((private, public))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]
pub(crate) mod tests;
