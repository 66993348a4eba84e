//! The peer box: seed ‖ salt ‖ mesh secret, sealed by a ready Coordinator replica to the
//! one-time X25519 key of a replica that needs recovery (docs/HA.md, "Peer recovery").
//!
//! The asking replica draws a one-time key pair ([`RecoveryChallengeKey`], the same type
//! a Coordinator offers owners as a recovery challenge) and binds its public half into
//! its attestation evidence. The serving replica verifies that evidence and seals to the
//! key; only the process that holds the private half, inside the attested TEE, can open it.
//!
//! # Wire format
//!
//! HPKE (RFC 9180) `mode_base` (0x00), suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 /
//! ChaCha20-Poly1305 (`kem_id` 0x0020, `kdf_id` 0x0001, `aead_id` 0x0003):
//! - recipient `pkR` = the asking replica's one-time X25519 public key (32 bytes);
//! - `info` = [`PEER_RECOVERY_INFO_PREFIX`] (the 24 ASCII bytes `seedward peer recover v1`)
//!   ‖ the serving replica's latest transition hash (32): 56 bytes, no separators;
//! - AAD empty, one single-shot seal (sequence number 0);
//! - plaintext = seed (≥ 32 bytes, 64 in practice) ‖ salt (32) ‖ mesh secret (32); the
//!   seed is everything before the last 64 bytes;
//! - [`PeerBox`] = `encapsulated_key` (`enc`, 32 bytes) and `ciphertext` (plaintext
//!   length + 16-byte tag), carried as separate fields of `PeerRecoverResponse`.
//!
//! # Invariants
//! - The box opens only with the one-time private key and only for the latest transition
//!   hash it names; the receiver must then verify the stored chain with the key derived
//!   from the seed before it trusts anything in it.
//! - Opening errors are coarse; nothing secret appears in an error or in `Debug`.

use std::fmt;

use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use crate::keys::OwnerPublicKey;
use crate::recovery::RecoveryChallengeKey;
use crate::seed::{MESH_SECRET_LEN, MIN_SEED_LEN, MeshSecret, SALT_LEN, Salt, Seed};
use crate::seedshare::{Aead, HpkeRng, Kdf, Kem, hpke_public_key};

/// First part of the HPKE `info` of a peer box (then the latest transition hash).
pub const PEER_RECOVERY_INFO_PREFIX: &[u8] = b"seedward peer recover v1";

/// What a ready replica hands to an attested peer.
pub struct PeerSecrets {
    pub seed: Seed,
    pub salt: Salt,
    pub mesh: MeshSecret,
}

impl fmt::Debug for PeerSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PeerSecrets(<redacted>)")
    }
}

/// The sealed [`PeerSecrets`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerBox {
    pub encapsulated_key: [u8; 32],
    pub ciphertext: Vec<u8>,
}

/// Errors of sealing and opening a peer box. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerBoxError {
    #[error(
        "the one-time public key is not a usable X25519 key ({reason}); the asking replica is broken"
    )]
    BadRecipient { reason: String },
    #[error("sealing the peer box failed; try again")]
    Seal,
    #[error(
        "the peer box does not open with this replica's one-time key for the latest transition it names: \
         it was sealed to another key, for another transition, or damaged in transit"
    )]
    Open,
    #[error("the peer box holds {len} bytes, not seed ‖ salt ‖ mesh secret: {reason}")]
    Malformed { len: usize, reason: String },
}

/// The 56-byte HPKE `info`: prefix ‖ latest transition hash.
pub fn peer_info(latest: &[u8; 32]) -> Vec<u8> {
    [PEER_RECOVERY_INFO_PREFIX, &latest[..]].concat()
}

/// Seals `secrets` to `recipient`, naming `latest`.
pub fn seal_peer_secrets(
    recipient: &[u8; 32],
    latest: &[u8; 32],
    secrets: &PeerSecrets,
    rng: &mut impl CryptoRngCore,
) -> Result<PeerBox, PeerBoxError> {
    let key = OwnerPublicKey::from_bytes(*recipient).map_err(|_| PeerBoxError::BadRecipient {
        reason: "it is a low-order point".into(),
    })?;
    let recipient = hpke_public_key(&key).map_err(|e| PeerBoxError::BadRecipient {
        reason: e.to_string(),
    })?;
    let mut plaintext = Zeroizing::new(Vec::with_capacity(
        secrets.seed.len() + SALT_LEN + MESH_SECRET_LEN,
    ));
    plaintext.extend_from_slice(secrets.seed.expose());
    plaintext.extend_from_slice(secrets.salt.as_bytes());
    plaintext.extend_from_slice(secrets.mesh.expose());
    let (enc, ciphertext) = hpke::single_shot_seal_with_rng::<Aead, Kdf, Kem>(
        &OpModeS::Base,
        &recipient,
        &peer_info(latest),
        &plaintext,
        &[],
        &mut HpkeRng(rng),
    )
    .map_err(|_| PeerBoxError::Seal)?;
    let mut encapsulated_key = [0u8; 32];
    encapsulated_key.copy_from_slice(&enc.to_bytes());
    Ok(PeerBox {
        encapsulated_key,
        ciphertext,
    })
}

/// Opens a box sealed to `key` for `latest`.
pub fn open_peer_secrets(
    key: &RecoveryChallengeKey,
    latest: &[u8; 32],
    sealed: &PeerBox,
) -> Result<PeerSecrets, PeerBoxError> {
    let private = <Kem as hpke::Kem>::PrivateKey::from_bytes(key.secret.as_bytes())
        .map_err(|_| PeerBoxError::Open)?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&sealed.encapsulated_key)
        .map_err(|_| PeerBoxError::Open)?;
    let plaintext = Zeroizing::new(
        hpke::single_shot_open::<Aead, Kdf, Kem>(
            &OpModeR::Base,
            &private,
            &enc,
            &peer_info(latest),
            &sealed.ciphertext,
            &[],
        )
        .map_err(|_| PeerBoxError::Open)?,
    );
    let len = plaintext.len();
    let malformed = |reason: String| PeerBoxError::Malformed { len, reason };
    if len < MIN_SEED_LEN + SALT_LEN + MESH_SECRET_LEN {
        return Err(malformed(format!(
            "at least {} bytes are needed",
            MIN_SEED_LEN + SALT_LEN + MESH_SECRET_LEN
        )));
    }
    let (rest, mesh) = plaintext.split_at(len - MESH_SECRET_LEN);
    let (seed, salt) = rest.split_at(rest.len() - SALT_LEN);
    Ok(PeerSecrets {
        seed: Seed::copy_from(seed).map_err(|e| malformed(e.to_string()))?,
        salt: Salt::from_slice(salt).map_err(|e| malformed(e.to_string()))?,
        mesh: MeshSecret::copy_from(mesh).map_err(|e| malformed(e.to_string()))?,
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    fn secrets() -> PeerSecrets {
        PeerSecrets {
            seed: Seed::generate(&mut OsRng),
            salt: Salt::generate(&mut OsRng),
            mesh: MeshSecret::generate(&mut OsRng),
        }
    }

    #[test]
    fn a_box_opens_with_its_key_for_its_latest_only() {
        let key = RecoveryChallengeKey::generate(&mut OsRng);
        let s = secrets();
        let sealed = seal_peer_secrets(&key.public_key(), &[7; 32], &s, &mut OsRng).unwrap();
        let opened = open_peer_secrets(&key, &[7; 32], &sealed).unwrap();
        assert!(opened.seed == s.seed);
        assert_eq!(opened.salt, s.salt);
        assert_eq!(opened.mesh.expose(), s.mesh.expose());
        assert_eq!(
            open_peer_secrets(&key, &[8; 32], &sealed).unwrap_err(),
            PeerBoxError::Open
        );
        let other = RecoveryChallengeKey::generate(&mut OsRng);
        assert_eq!(
            open_peer_secrets(&other, &[7; 32], &sealed).unwrap_err(),
            PeerBoxError::Open
        );
        let mut damaged = sealed.clone();
        damaged.ciphertext[0] ^= 1;
        assert_eq!(
            open_peer_secrets(&key, &[7; 32], &damaged).unwrap_err(),
            PeerBoxError::Open
        );
        assert!(!format!("{opened:?}").contains(&hex::encode(s.mesh.expose())));
    }

    #[test]
    fn the_mesh_ca_key_depends_on_the_secret_and_the_latest_only() {
        let m = MeshSecret::copy_from(&[5; 32]).unwrap();
        let a = m.ca_key(&[1; 32]).unwrap();
        assert_eq!(
            a,
            MeshSecret::copy_from(&[5; 32])
                .unwrap()
                .ca_key(&[1; 32])
                .unwrap()
        );
        assert_ne!(a, m.ca_key(&[2; 32]).unwrap());
        assert_ne!(
            a,
            MeshSecret::copy_from(&[6; 32])
                .unwrap()
                .ca_key(&[1; 32])
                .unwrap()
        );
        assert!(MeshSecret::copy_from(&[5; 31]).is_err());
    }
}
