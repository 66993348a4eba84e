//! The envelopes of a threshold recovery session: an owner's share, and an owner's request
//! to cancel, each sealed from the owner's own machine to the session's one-time key.
//!
//! A recovery session (docs/COORDINATOR.md, "Recovery sessions") has a 16-byte id, a
//! one-time X25519 key pair ([`RecoveryChallengeKey`]) and the stored latest transition hash
//! it was opened for. Both envelopes are HPKE **auth mode** with the owner's static X25519
//! key as sender, so that opening one proves possession of an owner key, for this session
//! and this history only.
//!
//! # Wire format
//! Suite and mode as the recovery envelope ([`crate::recovery`]): `mode_auth`,
//! DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305, empty AAD, single shot;
//! recipient = the session's public key; sender = the owner's key.
//! - **Share**: `info` = [`SHARE_INFO_PREFIX`] (the 26 ASCII bytes
//!   `seedward recovery share v1`) ‖ session id (16) ‖ latest transition hash (32);
//!   plaintext = the owner's [`KeyShare`]: index (1) ‖ value.
//! - **Cancel**: `info` = [`CANCEL_INFO_PREFIX`] (the 27 ASCII bytes
//!   `seedward recovery cancel v1`) ‖ session id (16) ‖ latest transition hash (32);
//!   plaintext = [`CANCEL_PLAINTEXT`] (the 6 ASCII bytes `cancel`).
//!
//! # Invariants
//! - Opening errors are coarse ([`RecoveryError::Open`]) and name the sender fingerprint.
//! - A share envelope for one session never opens for another (the id is in `info`).

use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use crate::keys::{OwnerKeyPair, OwnerPublicKey};
use crate::recovery::{
    RecoveryChallengeKey, RecoveryEnvelope, RecoveryError, TRANSITION_HASH_LEN, open_auth,
    seal_auth,
};
use crate::threshold::KeyShare;

/// First part of the `info` of a share submission.
pub const SHARE_INFO_PREFIX: &[u8] = b"seedward recovery share v1";
/// First part of the `info` of a cancel request.
pub const CANCEL_INFO_PREFIX: &[u8] = b"seedward recovery cancel v1";
/// The plaintext of a cancel request.
pub const CANCEL_PLAINTEXT: &[u8] = b"cancel";
/// Length of a session id.
pub const SESSION_ID_LEN: usize = 16;

fn info(
    prefix: &[u8],
    session: &[u8; SESSION_ID_LEN],
    latest: &[u8; TRANSITION_HASH_LEN],
) -> Vec<u8> {
    [prefix, &session[..], &latest[..]].concat()
}

/// Seals `share` from `owner` to the session key.
pub fn seal_share(
    owner: &OwnerKeyPair,
    session_public: &[u8; 32],
    session: &[u8; SESSION_ID_LEN],
    latest: &[u8; TRANSITION_HASH_LEN],
    share: &KeyShare,
    rng: &mut impl CryptoRngCore,
) -> Result<RecoveryEnvelope, RecoveryError> {
    seal_auth(
        owner,
        session_public,
        &info(SHARE_INFO_PREFIX, session, latest),
        share.expose(),
        rng,
    )
}

/// Opens a share submission: `sender` sealed it to `key` for this session and history.
/// Returns the share as sent (its index and commitment are the caller's to check).
pub fn open_share(
    key: &RecoveryChallengeKey,
    sender: &OwnerPublicKey,
    session: &[u8; SESSION_ID_LEN],
    latest: &[u8; TRANSITION_HASH_LEN],
    envelope: &RecoveryEnvelope,
) -> Result<Option<KeyShare>, RecoveryError> {
    let plaintext = open_auth(
        key,
        sender,
        &info(SHARE_INFO_PREFIX, session, latest),
        envelope,
    )?;
    // Opened, so the sender is proven; a plaintext that is not a share shape is `None`.
    Ok(KeyShare::from_bytes(plaintext).ok())
}

/// Seals a cancel request from `owner` to the session key.
pub fn seal_cancel(
    owner: &OwnerKeyPair,
    session_public: &[u8; 32],
    session: &[u8; SESSION_ID_LEN],
    latest: &[u8; TRANSITION_HASH_LEN],
    rng: &mut impl CryptoRngCore,
) -> Result<RecoveryEnvelope, RecoveryError> {
    seal_auth(
        owner,
        session_public,
        &info(CANCEL_INFO_PREFIX, session, latest),
        CANCEL_PLAINTEXT,
        rng,
    )
}

/// Whether `envelope` is a cancel request sealed by `sender` for this session.
pub fn open_cancel(
    key: &RecoveryChallengeKey,
    sender: &OwnerPublicKey,
    session: &[u8; SESSION_ID_LEN],
    latest: &[u8; TRANSITION_HASH_LEN],
    envelope: &RecoveryEnvelope,
) -> Result<(), RecoveryError> {
    let plaintext: Zeroizing<Vec<u8>> = open_auth(
        key,
        sender,
        &info(CANCEL_INFO_PREFIX, session, latest),
        envelope,
    )?;
    if plaintext.as_slice() == CANCEL_PLAINTEXT {
        Ok(())
    } else {
        Err(RecoveryError::Open {
            sender_fingerprint: sender.fingerprint(),
        })
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]
mod tests {
    use super::*;
    use crate::seed::{Salt, Seed};
    use crate::threshold::split;
    use rand_core::OsRng;

    #[test]
    fn share_round_trips_only_for_its_session_sender_and_history() {
        let owner = OwnerKeyPair::generate(&mut OsRng);
        let other = OwnerKeyPair::generate(&mut OsRng);
        let key = RecoveryChallengeKey::generate(&mut OsRng);
        let shares = split(
            &Seed::generate(&mut OsRng),
            &Salt::generate(&mut OsRng),
            2,
            3,
            &mut OsRng,
        )
        .unwrap();
        let (id, latest) = ([1u8; 16], [2u8; 32]);
        let env = seal_share(
            &owner,
            &key.public_key(),
            &id,
            &latest,
            &shares[1],
            &mut OsRng,
        )
        .unwrap();
        let opened = open_share(&key, &owner.public_key(), &id, &latest, &env)
            .unwrap()
            .unwrap();
        assert_eq!(opened, shares[1]);
        for (sender, id, latest) in [
            (other.public_key(), id, latest),
            (owner.public_key(), [9; 16], latest),
            (owner.public_key(), id, [9; 32]),
        ] {
            assert_eq!(
                open_share(&key, &sender, &id, &latest, &env).unwrap_err(),
                RecoveryError::Open {
                    sender_fingerprint: sender.fingerprint()
                }
            );
        }
        // A share envelope is not a cancel request, and the other way round.
        assert!(open_cancel(&key, &owner.public_key(), &id, &latest, &env).is_err());
        let cancel = seal_cancel(&owner, &key.public_key(), &id, &latest, &mut OsRng).unwrap();
        open_cancel(&key, &owner.public_key(), &id, &latest, &cancel).unwrap();
        assert!(open_share(&key, &owner.public_key(), &id, &latest, &cancel).is_err());
        assert!(open_cancel(&key, &other.public_key(), &id, &latest, &cancel).is_err());
    }
}
