//! Key fingerprints: the one form in which Seedward shows a key to people.
//!
//! # Format
//! The first 16 bytes (128 bits) of a SHA-256 digest, as eight groups of four lowercase hex
//! characters joined by `:` (`3f2a:91c0:77de:0b12:5c8e:41aa:d903:7b6f`, 39 characters).
//! What is hashed depends on the key: the raw 32 bytes of an X25519 public key, the
//! SubjectPublicKeyInfo DER of a P-384 (or any X.509) public key. docs/FORMATS.md says why
//! 128 bits ("Fingerprints").
//!
//! Fingerprints are for people comparing keys; code compares the keys themselves.

use std::fmt;

use sha2::{Digest, Sha256};

/// A key fingerprint: the first 16 bytes of SHA-256 over the key's encoding. `Display`
/// writes it as `xxxx:xxxx:xxxx:xxxx:xxxx:xxxx:xxxx:xxxx`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; Fingerprint::LEN]);

impl Fingerprint {
    /// How many bytes of the digest a fingerprint keeps.
    pub const LEN: usize = 16;

    /// The fingerprint of `encoded_key` (a raw X25519 key, an SPKI DER, …).
    pub fn of(encoded_key: &[u8]) -> Self {
        Self::from_sha256(&Sha256::digest(encoded_key).into())
    }

    /// The fingerprint of a key whose SHA-256 was computed elsewhere (evidence carries the
    /// SHA-256 of the TLS key's SPKI, for instance).
    pub fn from_sha256(digest: &[u8; 32]) -> Self {
        let mut bytes = [0u8; Self::LEN];
        bytes.copy_from_slice(&digest[..Self::LEN]);
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pair) in self.0.chunks(2).enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            for b in pair {
                write!(f, "{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}
