//! The recovery envelope: seed ‖ salt, end-to-end encrypted from a seed share owner to
//! a recovering Coordinator and bound to one recovery challenge.
//!
//! In the recovery-required state the Coordinator offers a challenge: a fresh X25519
//! key pair ([`RecoveryChallengeKey`]), a 32-byte nonce and the stored latest
//! transition hash. The owner seals seed ‖ salt with HPKE **auth mode**, using its own
//! static X25519 key as the sender key, so that opening the envelope both delivers the
//! seed and proves possession of an owner key — and only for this challenge.
//!
//! # Wire format
//!
//! HPKE (RFC 9180) `mode_auth` (0x02), suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 /
//! ChaCha20-Poly1305 (`kem_id` 0x0020, `kdf_id` 0x0001, `aead_id` 0x0003):
//! - recipient `pkR` = the challenge's X25519 public key (32 bytes);
//! - sender `skS`/`pkS` = the owner's X25519 key pair (the key in `SeedshareOwnerPubKeys`);
//! - `info` = [`RECOVERY_INFO_PREFIX`] (the 19 ASCII bytes `seedward recover v1`) ‖
//!   nonce (32) ‖ latest transition hash (32): 83 bytes, no separators;
//! - AAD empty, one single-shot seal (sequence number 0);
//! - plaintext = seed (≥ 32 bytes, 64 in practice) ‖ salt (32 bytes);
//! - [`RecoveryEnvelope`] = `encapsulated_key` (`enc`, 32 bytes) and `ciphertext`
//!   (plaintext length + 16-byte tag), carried as separate fields of `RecoverRequest`.
//!
//! # Invariants
//! - The envelope opens only with the challenge's private key, only for the sender key
//!   it was sealed by, and only for the same nonce and latest transition hash.
//! - Opening errors are coarse (a wrong sender, a replayed nonce and a damaged envelope
//!   look alike) but name the sender key fingerprint that was tried.
//! - The challenge secret is zeroized on drop and never shown by `Debug`.

use std::fmt;

use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use rand_core::CryptoRngCore;
use x25519_dalek::{PublicKey as DalekPublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::keys::{Fingerprint, OwnerKeyPair, OwnerPublicKey};
use crate::seed::{MIN_SEED_LEN, SALT_LEN, Salt, Seed};
use crate::seedshare::{Aead, HpkeRng, Kdf, Kem, hpke_key_pair, hpke_public_key};

/// First part of the HPKE `info` of a recovery envelope (then nonce, then latest hash).
pub const RECOVERY_INFO_PREFIX: &[u8] = b"seedward recover v1";
/// Length of the challenge nonce.
pub const NONCE_LEN: usize = 32;
/// Length of a transition hash.
pub const TRANSITION_HASH_LEN: usize = 32;

/// Errors of sealing and opening recovery envelopes. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryError {
    #[error(
        "could not open the recovery envelope as sent by owner key {sender_fingerprint}: \
         it was sealed by another key, for another challenge, or damaged in transit; \
         request a fresh challenge and try again"
    )]
    Open { sender_fingerprint: Fingerprint },
    #[error(
        "the recovery envelope holds {len} bytes, but seed ‖ salt needs at least {} bytes; \
         the sender's client is broken or outdated",
        MIN_SEED_LEN + SALT_LEN
    )]
    PlaintextTooShort { len: usize },
    #[error("the recovery envelope's seed is unusable ({reason})")]
    BadSeed { reason: String },
    #[error(
        "the challenge public key is not a usable X25519 key ({reason}); \
         request a fresh challenge from the Coordinator"
    )]
    BadChallengeKey { reason: String },
    #[error("sealing the recovery envelope failed; try again")]
    Seal,
}

/// The recipient side of a recovery challenge: an ephemeral X25519 key pair.
pub struct RecoveryChallengeKey {
    pub(crate) secret: StaticSecret,
    public: [u8; 32],
}

impl RecoveryChallengeKey {
    /// Draws a fresh challenge key (clamped, as RFC 7748 keys are).
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut *bytes);
        bytes[0] &= 248;
        bytes[31] &= 127;
        bytes[31] |= 64;
        let secret = StaticSecret::from(*bytes);
        let public = DalekPublicKey::from(&secret).to_bytes();
        Self { secret, public }
    }

    /// The X25519 public key to publish in the challenge.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }
}

impl fmt::Debug for RecoveryChallengeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveryChallengeKey")
            .field("public", &hex::encode(self.public))
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// What the owner sends: the HPKE encapsulated key and ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryEnvelope {
    pub encapsulated_key: [u8; 32],
    pub ciphertext: Vec<u8>,
}

/// The 83-byte HPKE `info`: prefix ‖ nonce ‖ latest transition hash.
pub fn recovery_info(nonce: &[u8; NONCE_LEN], latest: &[u8; TRANSITION_HASH_LEN]) -> Vec<u8> {
    [RECOVERY_INFO_PREFIX, &nonce[..], &latest[..]].concat()
}

/// Seals seed ‖ salt from `owner` to the challenge key `challenge_public`.
pub fn seal_recovery(
    owner: &OwnerKeyPair,
    challenge_public: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    latest: &[u8; TRANSITION_HASH_LEN],
    seed: &Seed,
    salt: &Salt,
    rng: &mut impl CryptoRngCore,
) -> Result<RecoveryEnvelope, RecoveryError> {
    let mut plaintext = Zeroizing::new(Vec::with_capacity(seed.len() + SALT_LEN));
    plaintext.extend_from_slice(seed.expose());
    plaintext.extend_from_slice(salt.as_bytes());
    seal_plaintext(owner, challenge_public, nonce, latest, &plaintext, rng)
}

fn seal_plaintext(
    owner: &OwnerKeyPair,
    challenge_public: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    latest: &[u8; TRANSITION_HASH_LEN],
    plaintext: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Result<RecoveryEnvelope, RecoveryError> {
    seal_auth(
        owner,
        challenge_public,
        &recovery_info(nonce, latest),
        plaintext,
        rng,
    )
}

/// HPKE auth mode from `owner` to `recipient_public` with `info`, empty AAD: the envelope
/// of a recovery and of a recovery session's submissions (`crate::session`).
pub(crate) fn seal_auth(
    owner: &OwnerKeyPair,
    recipient_public: &[u8; 32],
    info: &[u8],
    plaintext: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Result<RecoveryEnvelope, RecoveryError> {
    // The same low-order check as for owner keys: a low-order challenge key would make
    // the shared secret predictable.
    let challenge_key = OwnerPublicKey::from_bytes(*recipient_public).map_err(|_| {
        RecoveryError::BadChallengeKey {
            reason: "it is a low-order point".into(),
        }
    })?;
    let recipient =
        hpke_public_key(&challenge_key).map_err(|e| RecoveryError::BadChallengeKey {
            reason: e.to_string(),
        })?;
    let sender = hpke_key_pair(owner).map_err(|_| RecoveryError::Seal)?;
    let (enc, ciphertext) = hpke::single_shot_seal_with_rng::<Aead, Kdf, Kem>(
        &OpModeS::Auth(sender),
        &recipient,
        info,
        plaintext,
        &[],
        &mut HpkeRng(rng),
    )
    .map_err(|_| RecoveryError::Seal)?;
    let mut encapsulated_key = [0u8; 32];
    encapsulated_key.copy_from_slice(&enc.to_bytes());
    Ok(RecoveryEnvelope {
        encapsulated_key,
        ciphertext,
    })
}

/// Opens an HPKE auth-mode envelope sealed by `sender` to `key` with `info`.
pub(crate) fn open_auth(
    key: &RecoveryChallengeKey,
    sender: &OwnerPublicKey,
    info: &[u8],
    envelope: &RecoveryEnvelope,
) -> Result<Zeroizing<Vec<u8>>, RecoveryError> {
    let open_error = || RecoveryError::Open {
        sender_fingerprint: sender.fingerprint(),
    };
    let sender_key = hpke_public_key(sender).map_err(|_| open_error())?;
    let private = <Kem as hpke::Kem>::PrivateKey::from_bytes(key.secret.as_bytes())
        .map_err(|_| open_error())?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&envelope.encapsulated_key)
        .map_err(|_| open_error())?;
    Ok(Zeroizing::new(
        hpke::single_shot_open::<Aead, Kdf, Kem>(
            &OpModeR::Auth(sender_key),
            &private,
            &enc,
            info,
            &envelope.ciphertext,
            &[],
        )
        .map_err(|_| open_error())?,
    ))
}

/// Opens an envelope with the challenge key, checking that `sender` sealed it for
/// exactly this `nonce` and `latest` transition hash.
pub fn open_recovery(
    challenge: &RecoveryChallengeKey,
    sender: &OwnerPublicKey,
    nonce: &[u8; NONCE_LEN],
    latest: &[u8; TRANSITION_HASH_LEN],
    envelope: &RecoveryEnvelope,
) -> Result<(Seed, Salt), RecoveryError> {
    let plaintext = open_auth(challenge, sender, &recovery_info(nonce, latest), envelope)?;
    if plaintext.len() < MIN_SEED_LEN + SALT_LEN {
        return Err(RecoveryError::PlaintextTooShort {
            len: plaintext.len(),
        });
    }
    let (seed, salt) = plaintext.split_at(plaintext.len() - SALT_LEN);
    let seed = Seed::copy_from(seed).map_err(|e| RecoveryError::BadSeed {
        reason: e.to_string(),
    })?;
    let salt = Salt::from_slice(salt).map_err(|e| RecoveryError::BadSeed {
        reason: e.to_string(),
    })?;
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
    use crate::seedshare::tests::FixedRng;
    use rand_core::OsRng;

    struct Fixture {
        owner: OwnerKeyPair,
        challenge: RecoveryChallengeKey,
        nonce: [u8; 32],
        latest: [u8; 32],
        seed: Seed,
        salt: Salt,
    }

    fn fixture() -> Fixture {
        Fixture {
            owner: OwnerKeyPair::generate(&mut OsRng),
            challenge: RecoveryChallengeKey::generate(&mut OsRng),
            nonce: [0x11; 32],
            latest: [0x22; 32],
            seed: Seed::generate(&mut OsRng),
            salt: Salt::generate(&mut OsRng),
        }
    }

    fn seal(f: &Fixture) -> RecoveryEnvelope {
        seal_recovery(
            &f.owner,
            &f.challenge.public_key(),
            &f.nonce,
            &f.latest,
            &f.seed,
            &f.salt,
            &mut OsRng,
        )
        .unwrap()
    }

    fn open(f: &Fixture, envelope: &RecoveryEnvelope) -> Result<(Seed, Salt), RecoveryError> {
        open_recovery(
            &f.challenge,
            &f.owner.public_key(),
            &f.nonce,
            &f.latest,
            envelope,
        )
    }

    #[test]
    fn round_trip() {
        let f = fixture();
        let envelope = seal(&f);
        assert_eq!(envelope.ciphertext.len(), 64 + 32 + 16);
        let (seed, salt) = open(&f, &envelope).unwrap();
        assert_eq!(seed, f.seed);
        assert_eq!(salt, f.salt);
    }

    #[test]
    fn longer_seeds_round_trip() {
        let mut f = fixture();
        f.seed = Seed::copy_from(&[9; 100]).unwrap();
        let (seed, _) = open(&f, &seal(&f)).unwrap();
        assert_eq!(seed.len(), 100);
        f.seed = Seed::copy_from(&[9; 32]).unwrap();
        assert_eq!(open(&f, &seal(&f)).unwrap().0, f.seed);
    }

    #[test]
    fn wrong_sender_key_fails() {
        let f = fixture();
        let envelope = seal(&f);
        let other = OwnerKeyPair::generate(&mut OsRng).public_key();
        let err = open_recovery(&f.challenge, &other, &f.nonce, &f.latest, &envelope).unwrap_err();
        assert_eq!(
            err,
            RecoveryError::Open {
                sender_fingerprint: other.fingerprint()
            }
        );
    }

    #[test]
    fn wrong_challenge_key_fails() {
        let f = fixture();
        let envelope = seal(&f);
        let other = RecoveryChallengeKey::generate(&mut OsRng);
        assert!(matches!(
            open_recovery(
                &other,
                &f.owner.public_key(),
                &f.nonce,
                &f.latest,
                &envelope
            ),
            Err(RecoveryError::Open { .. })
        ));
    }

    #[test]
    fn different_nonce_or_latest_hash_fails() {
        let f = fixture();
        let envelope = seal(&f);
        let mut nonce = f.nonce;
        nonce[0] ^= 1;
        assert!(matches!(
            open_recovery(
                &f.challenge,
                &f.owner.public_key(),
                &nonce,
                &f.latest,
                &envelope
            ),
            Err(RecoveryError::Open { .. })
        ));
        let mut latest = f.latest;
        latest[31] ^= 1;
        assert!(matches!(
            open_recovery(
                &f.challenge,
                &f.owner.public_key(),
                &f.nonce,
                &latest,
                &envelope
            ),
            Err(RecoveryError::Open { .. })
        ));
        // Swapping nonce and latest is not the same info either.
        assert!(matches!(
            open_recovery(
                &f.challenge,
                &f.owner.public_key(),
                &f.latest,
                &f.nonce,
                &envelope
            ),
            Err(RecoveryError::Open { .. })
        ));
    }

    #[test]
    fn truncated_or_tampered_envelope_fails() {
        let f = fixture();
        let envelope = seal(&f);
        for len in [0, 15, 16, envelope.ciphertext.len() - 1] {
            let mut bad = envelope.clone();
            bad.ciphertext.truncate(len);
            assert!(
                matches!(open(&f, &bad), Err(RecoveryError::Open { .. })),
                "{len}"
            );
        }
        let mut bad = envelope.clone();
        bad.encapsulated_key[5] ^= 1;
        assert!(matches!(open(&f, &bad), Err(RecoveryError::Open { .. })));
        let mut bad = envelope;
        bad.ciphertext[0] ^= 1;
        assert!(matches!(open(&f, &bad), Err(RecoveryError::Open { .. })));
    }

    #[test]
    fn plaintext_too_short_is_rejected() {
        let f = fixture();
        for len in [0, 32, 63] {
            let envelope = seal_plaintext(
                &f.owner,
                &f.challenge.public_key(),
                &f.nonce,
                &f.latest,
                &vec![1; len],
                &mut OsRng,
            )
            .unwrap();
            assert_eq!(
                open(&f, &envelope).unwrap_err(),
                RecoveryError::PlaintextTooShort { len }
            );
        }
    }

    #[test]
    fn low_order_challenge_key_is_refused() {
        let f = fixture();
        let err = seal_recovery(
            &f.owner, &[0; 32], &f.nonce, &f.latest, &f.seed, &f.salt, &mut OsRng,
        )
        .unwrap_err();
        assert!(
            matches!(err, RecoveryError::BadChallengeKey { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn info_layout() {
        let info = recovery_info(&[0xaa; 32], &[0xbb; 32]);
        assert_eq!(info.len(), 19 + 32 + 32);
        assert_eq!(&info[..19], b"seedward recover v1");
        assert_eq!(&info[19..51], &[0xaa; 32]);
        assert_eq!(&info[51..], &[0xbb; 32]);
    }

    #[test]
    fn challenge_debug_is_redacted() {
        let key = RecoveryChallengeKey::generate(&mut OsRng);
        let shown = format!("{key:?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(
            !shown.contains(&hex::encode(key.secret.as_bytes())),
            "{shown}"
        );
    }

    /// RFC 9180 Appendix A.2.3: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
    /// ChaCha20Poly1305, mode 2 (auth), sequence number 0 — through the same HPKE calls
    /// and owner key type that `seal_plaintext` / `open_recovery` use.
    #[test]
    fn rfc9180_a2_3_auth_mode_vector() {
        let h = |s: &str| hex::decode(s).unwrap();
        let info = h("4f6465206f6e2061204772656369616e2055726e");
        let ikm_e = h("938d3daa5a8904540bc24f48ae90eed3f4f7f11839560597b55e7c9598c996c0");
        let sk_rm = h("3ca22a6d1cda1bb9480949ec5329d3bf0b080ca4c45879c95eddb55c70b80b82");
        let pk_rm = "1a478716d63cb2e16786ee93004486dc151e988b34b475043d3e0175bdb01c44";
        let sk_sm = h("2def0cb58ffcf83d1062dd085c8aceca7f4c0c3fd05912d847b61f3e54121f05");
        let pk_sm = "f0f4f9e96c54aeed3f323de8534fffd7e0577e4ce269896716bcb95643c8712b";
        let enc = "f7674cc8cd7baa5872d1f33dbaffe3314239f6197ddf5ded1746760bfc847e0e";
        let pt = h("4265617574792069732074727574682c20747275746820626561757479");
        let aad = h("436f756e742d30");
        let ct = "ab1a13c9d4f01a87ec3440dbd756e2677bd2ecf9df0ce7ed73869b98e00c09be111cb9fdf077347aeb88e61bdf";

        let sender = OwnerKeyPair::from_secret_bytes(sk_sm.try_into().unwrap());
        assert_eq!(sender.public_key().to_hex(), pk_sm);
        let recipient = OwnerKeyPair::from_secret_bytes(sk_rm.clone().try_into().unwrap());
        assert_eq!(recipient.public_key().to_hex(), pk_rm);

        let (got_enc, got_ct) = hpke::single_shot_seal_with_rng::<Aead, Kdf, Kem>(
            &OpModeS::Auth(hpke_key_pair(&sender).unwrap()),
            &hpke_public_key(&recipient.public_key()).unwrap(),
            &info,
            &pt,
            &aad,
            &mut HpkeRng(&mut FixedRng(ikm_e)),
        )
        .unwrap();
        assert_eq!(hex::encode(got_enc.to_bytes()), enc);
        assert_eq!(hex::encode(&got_ct), ct);

        let opened = hpke::single_shot_open::<Aead, Kdf, Kem>(
            &OpModeR::Auth(hpke_public_key(&sender.public_key()).unwrap()),
            &<Kem as hpke::Kem>::PrivateKey::from_bytes(&sk_rm).unwrap(),
            &<Kem as hpke::Kem>::EncappedKey::from_bytes(&h(enc)).unwrap(),
            &info,
            &h(ct),
            &aad,
        )
        .unwrap();
        assert_eq!(opened, pt);
    }

    /// The worked example of docs/FORMATS.md ("Recovery envelope"), reproduced
    /// independently by a from-the-RFC Python HPKE (hashlib/hmac + pyca X25519 and
    /// ChaCha20-Poly1305). Sender = RFC 7748 Alice, challenge = RFC 7748 Bob,
    /// nonce = 00..1f, latest = 20..3f, ikmE = 40..5f, plaintext = KAT seed ‖ salt
    /// (docs/FORMATS.md).
    #[test]
    fn formats_md_worked_example() {
        let h = |s: &str| hex::decode(s).unwrap();
        let alice = OwnerKeyPair::from_secret_bytes(
            h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .try_into()
                .unwrap(),
        );
        let bob_secret: [u8; 32] =
            h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
                .try_into()
                .unwrap();
        let secret = StaticSecret::from(bob_secret);
        let public = DalekPublicKey::from(&secret).to_bytes();
        assert_eq!(
            hex::encode(public),
            "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
        );
        let challenge = RecoveryChallengeKey { secret, public };
        let nonce: [u8; 32] = core::array::from_fn(|i| i as u8);
        let latest: [u8; 32] = core::array::from_fn(|i| 0x20 + i as u8);
        let seed = Seed::copy_from(&h(
            "ccebed634ddee7535cd593e1e200b19b780f3906d8782207fa09c59e87a07cb3",
        ))
        .unwrap();
        let salt =
            Salt::from_hex("8c1b1225c5f6cb7eef6dbd8f77a1e1e149de031d6e3718e660a8b04c8e2b0037")
                .unwrap();
        assert_eq!(
            hex::encode(recovery_info(&nonce, &latest)),
            "7365656477617264207265636f766572207631\
             000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
             202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
        );
        let envelope = seal_recovery(
            &alice,
            &public,
            &nonce,
            &latest,
            &seed,
            &salt,
            &mut FixedRng((0x40u8..0x60).collect()),
        )
        .unwrap();
        assert_eq!(
            hex::encode(envelope.encapsulated_key),
            "b259f6ee92dcba0111850b13b3f6dccc827726f9b08235ab62922b6b3f3f2a19"
        );
        assert_eq!(
            hex::encode(&envelope.ciphertext),
            "40a9a56bc352f33c08323c1241d32697508a7e0f8f17a83c20a361a62d66e173\
             006436d959ca08f970fbd23e9b179a6c1732442b28fb69e4dee785e98ebce0f8\
             af1ed1c9ffe2bc766f7e9b37a7cfe727"
        );
        let (opened_seed, opened_salt) =
            open_recovery(&challenge, &alice.public_key(), &nonce, &latest, &envelope).unwrap();
        assert_eq!(opened_seed, seed);
        assert_eq!(opened_salt, salt);
    }
}
