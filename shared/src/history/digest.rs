//! SHA-256 digests: the address of every content-addressed history object.
//!
//! # Wire format
//! 32 raw bytes in binary formats (transition blobs, the latest pointer). In text (store keys,
//! manifests, JSON output) 64 hexadecimal characters; Seedward always *writes* lowercase and
//! *reads* either case, as Go's `hex.DecodeString` does.
//!
//! # Invariants
//! - [`Digest::ZERO`] is never the SHA-256 of anything Seedward stores (finding such an input is a
//!   preimage attack); the history uses it as "no previous transition".

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Digest([u8; 32]);

/// Why a text or byte string is not a [`Digest`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    #[error(
        "a SHA-256 digest is 64 hexadecimal characters, got {len}; copy the whole hash without spaces or prefixes"
    )]
    HexLength { len: usize },
    #[error(
        "a SHA-256 digest is 64 hexadecimal characters, but character {position} is not one of 0-9, a-f"
    )]
    HexCharacter { position: usize },
    #[error("a SHA-256 digest is 32 bytes, got {len}")]
    ByteLength { len: usize },
}

impl Digest {
    /// Length in bytes.
    pub const LEN: usize = 32;

    /// 32 zero bytes: "no previous transition" in the first transition of a history.
    pub const ZERO: Digest = Digest([0; 32]);

    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Reads exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, DigestError> {
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| DigestError::ByteLength { len: bytes.len() })
    }

    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub const fn to_bytes(self) -> [u8; 32] {
        self.0
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 32]
    }

    /// Lowercase hex, 64 characters (the same as `to_string()`).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 8 bytes as 16 hex characters, for display where the whole hash does not fit.
    /// Never use it to identify anything.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..8])
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 64];
        // Infallible: the buffer is exactly twice the input length.
        if hex::encode_to_slice(self.0, &mut buf).is_err() {
            return Err(fmt::Error);
        }
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    /// Parses 64 hex characters of either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 {
            return Err(DigestError::HexLength {
                len: s.chars().count(),
            });
        }
        if let Some(position) = s.bytes().position(|b| !b.is_ascii_hexdigit()) {
            return Err(DigestError::HexCharacter { position });
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| DigestError::HexLength { len: s.len() })?;
        Ok(Self(out))
    }
}

impl From<[u8; 32]> for Digest {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl From<Digest> for [u8; 32] {
    fn from(d: Digest) -> Self {
        d.0
    }
}

impl TryFrom<&[u8]> for Digest {
    type Error = DigestError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        Self::from_slice(bytes)
    }
}

impl AsRef<[u8]> for Digest {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Serialized as the 64-character lowercase hex string (for `--json` output).
impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            Digest::of(b"hello").to_string(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
    }

    #[test]
    fn hex_round_trip_and_case() {
        let d = Digest::of(b"x");
        assert_eq!(d.to_string().parse::<Digest>(), Ok(d));
        assert_eq!(d.to_string().to_uppercase().parse::<Digest>(), Ok(d));
        assert_eq!(d.to_hex(), d.to_string());
        assert_eq!(format!("{d:?}"), format!("Digest({d})"));
        assert_eq!(d.short().len(), 16);
    }

    #[test]
    fn parse_errors_are_precise() {
        assert_eq!(
            "abc".parse::<Digest>(),
            Err(DigestError::HexLength { len: 3 })
        );
        let mut s = "0".repeat(64);
        s.replace_range(10..11, "g");
        assert_eq!(
            s.parse::<Digest>(),
            Err(DigestError::HexCharacter { position: 10 })
        );
        // Multi-byte characters must not panic and are reported by character count.
        assert!("é".repeat(32).parse::<Digest>().is_err());
        assert_eq!(
            Digest::from_slice(&[0; 31]),
            Err(DigestError::ByteLength { len: 31 })
        );
    }

    #[test]
    fn zero() {
        assert!(Digest::ZERO.is_zero());
        assert!(!Digest::of(b"").is_zero());
        assert_eq!(Digest::default(), Digest::ZERO);
    }

    #[test]
    fn serde_as_hex_string() -> Result<(), serde_json::Error> {
        let d = Digest::of(b"x");
        let json = serde_json::to_string(&d)?;
        assert_eq!(json, format!("\"{d}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json)?, d);
        assert!(serde_json::from_str::<Digest>("\"00\"").is_err());
        Ok(())
    }
}
