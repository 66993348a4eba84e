//! Transitions and the signed latest pointer.
//!
//! # Wire format
//! - **Transition blob**, exactly 64 bytes: `manifest_hash (32) ‖ previous_transition_hash (32)`.
//!   The first transition of a history has 32 zero bytes ([`Digest::ZERO`]) as previous.
//!   Transition hash = SHA-256 of the 64-byte blob.
//! - **Latest pointer** (`transitions/latest`): `transition_hash (32) ‖ signature`, where the
//!   signature is an ASN.1 DER `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` on P-384
//!   (at most 104 bytes, typically 102–103) by the transaction signing key.
//!
//! # Signature semantics
//! The raw 32-byte transition hash *is* the ECDSA message digest `e`: nothing hashes it again.
//! P-384's order `n` has 384 bits, longer than the 256-bit input, so FIPS 186-5 §6.4.1 /
//! SEC 1 §4.1.3 step 5 (`bits2int`, take the leftmost `min(384, 256)` bits) reads the 32 bytes as
//! a 256-bit big-endian integer. That is what Go's `ecdsa.SignASN1(rand, key, hash[:])` does
//! (Contrast), what `openssl pkeyutl -sign` does with a 32-byte input, and what
//! `ecdsa::hazmat::bits2field` does here: it left-pads the 32 bytes with 16 zero bytes to the
//! 48-byte field size. Seedward signs with RFC 6979 deterministic nonces (HMAC-SHA-384), so
//! the same key and hash always give the same signature; verifiers must not depend on that
//! (Contrast signs with random nonces, and both verify the same way).
//!
//! # Invariants
//! - A [`Transition`] always has exactly 64 bytes on the wire; [`Transition::from_bytes`] rejects
//!   every other length.
//! - A [`LatestTransition`] always holds a signature that parses as DER; whether it *verifies*
//!   is a separate question answered by [`LatestTransition::verify`].

use p384::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p384::ecdsa::{DerSignature, SigningKey, VerifyingKey};

use super::Digest;

/// One step of the manifest history: "manifest `manifest_hash` replaced the state reached by
/// transition `previous`".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transition {
    pub manifest_hash: Digest,
    /// The transition this one follows; [`Digest::ZERO`] for the first.
    pub previous: Digest,
}

/// Why bytes are not a transition or a latest pointer, or why a latest pointer does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransitionError {
    #[error(
        "a transition blob is exactly 64 bytes (manifest hash ‖ previous transition hash), got {len}; the stored object is damaged"
    )]
    Length { len: usize },
    #[error(
        "the latest-transition pointer has {len} bytes, fewer than the 32-byte transition hash; the stored pointer is damaged"
    )]
    LatestTooShort { len: usize },
    #[error(
        "the latest-transition pointer holds a transition hash but no signature; the stored pointer is damaged or was written by a broken tool"
    )]
    MissingSignature,
    #[error(
        "the signature of the latest-transition pointer is not an ASN.1 DER ECDSA signature; the stored pointer is damaged"
    )]
    MalformedSignature,
    #[error(
        "the signature of the latest transition does not verify with the transaction signing key: the history was changed by someone without the seed, or the key was derived from a different seed"
    )]
    BadSignature,
    #[error("signing the latest transition failed; retry")]
    Signing,
}

impl Transition {
    /// Length of the blob in bytes.
    pub const LEN: usize = 64;

    /// The first transition of a history.
    pub fn first(manifest_hash: Digest) -> Self {
        Self {
            manifest_hash,
            previous: Digest::ZERO,
        }
    }

    /// The transition that puts `manifest_hash` after `previous`.
    pub fn after(previous: Digest, manifest_hash: Digest) -> Self {
        Self {
            manifest_hash,
            previous,
        }
    }

    pub fn is_first(&self) -> bool {
        self.previous.is_zero()
    }

    /// The 64-byte blob: `manifest_hash ‖ previous`.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(self.manifest_hash.as_bytes());
        out[32..].copy_from_slice(self.previous.as_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TransitionError> {
        let blob: &[u8; 64] = bytes
            .try_into()
            .map_err(|_| TransitionError::Length { len: bytes.len() })?;
        let (manifest, previous) = blob.split_at(32);
        let mut m = [0u8; 32];
        let mut p = [0u8; 32];
        m.copy_from_slice(manifest);
        p.copy_from_slice(previous);
        Ok(Self {
            manifest_hash: Digest::from_bytes(m),
            previous: Digest::from_bytes(p),
        })
    }

    /// The transition hash: SHA-256 of [`Transition::to_bytes`].
    pub fn hash(&self) -> Digest {
        Digest::of(&self.to_bytes())
    }
}

/// The content of `transitions/latest`: which transition is current, signed by the
/// transaction signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestTransition {
    transition_hash: Digest,
    /// ASN.1 DER, exactly as stored (never re-encoded).
    signature: Vec<u8>,
}

impl LatestTransition {
    /// Signs `transition_hash` (used as the prehash, see the module docs).
    pub fn sign(transition_hash: Digest, key: &SigningKey) -> Result<Self, TransitionError> {
        let signature: DerSignature = key
            .sign_prehash(transition_hash.as_bytes())
            .map_err(|_| TransitionError::Signing)?;
        Ok(Self {
            transition_hash,
            signature: signature.as_bytes().to_vec(),
        })
    }

    /// Parses `hash (32) ‖ DER signature`. The signature must be well-formed DER; it is not
    /// verified here.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TransitionError> {
        if bytes.len() < Digest::LEN {
            return Err(TransitionError::LatestTooShort { len: bytes.len() });
        }
        let (hash, signature) = bytes.split_at(Digest::LEN);
        Self::from_parts(hash, signature)
    }

    /// Builds a pointer from a separately transported hash and signature (as `GetManifests`
    /// returns them).
    pub fn from_parts(transition_hash: &[u8], signature: &[u8]) -> Result<Self, TransitionError> {
        let transition_hash =
            Digest::from_slice(transition_hash).map_err(|_| TransitionError::LatestTooShort {
                len: transition_hash.len(),
            })?;
        if signature.is_empty() {
            return Err(TransitionError::MissingSignature);
        }
        DerSignature::from_bytes(signature).map_err(|_| TransitionError::MalformedSignature)?;
        Ok(Self {
            transition_hash,
            signature: signature.to_vec(),
        })
    }

    /// `hash (32) ‖ DER signature`, byte for byte what [`from_bytes`](Self::from_bytes) read
    /// or [`sign`](Self::sign) produced.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Digest::LEN + self.signature.len());
        out.extend_from_slice(self.transition_hash.as_bytes());
        out.extend_from_slice(&self.signature);
        out
    }

    pub fn transition_hash(&self) -> Digest {
        self.transition_hash
    }

    /// The DER signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Checks the signature over the transition hash (as the prehash).
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), TransitionError> {
        let signature = DerSignature::from_bytes(&self.signature)
            .map_err(|_| TransitionError::MalformedSignature)?;
        key.verify_prehash(self.transition_hash.as_bytes(), &signature)
            .map_err(|_| TransitionError::BadSignature)
    }
}
