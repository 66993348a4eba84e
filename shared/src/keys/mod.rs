//! Owner keys: seed share owners (X25519) and workload owners (ECDSA P-384).
//!
//! A **seed share owner** holds an X25519 key pair ([`OwnerKeyPair`]). Its public key
//! ([`OwnerPublicKey`]) is listed in the manifest's `SeedshareOwnerPubKeys`; the
//! Coordinator encrypts the seed to it (see [`crate::seedshare`]) and authenticates
//! it on recovery (see [`crate::recovery`]).
//!
//! A **workload owner** holds an ECDSA P-384 key pair ([`WorkloadOwnerKeyPair`]). Its
//! public key ([`WorkloadOwnerPublicKey`]) is listed in `WorkloadOwnerPubKeys`; it
//! authorizes manifest updates by signing the proposed transition.
//!
//! # Wire format
//!
//! X25519 (RFC 8410, OID `1.3.101.110`), 32-byte keys as in RFC 7748:
//! - private key: PKCS#8 v1 DER, PEM label `PRIVATE KEY`, 48 bytes:
//!   `30 2e 02 01 00 30 05 06 03 2b 65 6e 04 22 04 20` ‖ private key (32). The
//!   PKCS#8 `privateKey` OCTET STRING wraps a second OCTET STRING (`04 20`) holding
//!   the key. This is byte for byte what `openssl genpkey -algorithm X25519` writes.
//!   On import, PKCS#8 v2 (with the public key) is accepted and the public key checked.
//! - public key: SPKI DER, PEM label `PUBLIC KEY`, 44 bytes:
//!   `30 2a 30 05 06 03 2b 65 6e 03 21 00` ‖ public key (32).
//! - manifest form: 64 lowercase hex characters of the raw 32-byte public key.
//! - fingerprint: [`Fingerprint::of`] the raw 32-byte public key. For people, not for
//!   lookups.
//!
//! ECDSA P-384 (`id-ecPublicKey` `1.2.840.10045.2.1`, curve `secp384r1` `1.3.132.0.34`):
//! - private key: PKCS#8 DER, label `PRIVATE KEY`, 185 bytes, as OpenSSL writes it:
//!   `30 81 b6 02 01 00 30 10 06 07 2a 86 48 ce 3d 02 01 06 05 2b 81 04 00 22 04 81 9e
//!   30 81 9b 02 01 01 04 30` ‖ scalar (48, big-endian) ‖ `a1 64 03 62 00` ‖ point (97).
//! - SEC1 DER (`EC PRIVATE KEY`, what Contrast and `openssl ecparam -genkey` write),
//!   167 bytes: `30 81 a4 02 01 01 04 30` ‖ scalar (48) ‖
//!   `a0 07 06 05 2b 81 04 00 22 a1 64 03 62 00` ‖ point (97). Both forms are read.
//! - public key: SPKI DER, 120 bytes: `30 76 30 10 06 07 2a 86 48 ce 3d 02 01 06 05 2b
//!   81 04 00 22 03 62 00` ‖ point (97); manifest form = lowercase hex of that DER.
//!   Fingerprint: [`Fingerprint::of`] that DER.
//! - point = `04` ‖ X (48) ‖ Y (48), uncompressed SEC1.
//! - update signature: ASN.1 DER `ECDSA-Sig-Value` by P-384 over the 32-byte digest
//!   `SHA-256(lowercase hex of the 32-byte transition hash)`, i.e. SHA-256 over the 64
//!   ASCII characters; that digest is the ECDSA message hash ("prehash"), used as is
//!   (shorter than the curve order, so no truncation). Nonces are RFC 6979
//!   deterministic; verifiers accept any valid signature.
//!
//! # Invariants
//! - Private keys are zeroized on drop and their `Debug` output is `<redacted>`.
//! - An [`OwnerPublicKey`] is never a low-order point (those would make every HPKE
//!   shared secret predictable); parsing rejects them.
//! - Importing a key of the wrong type fails with [`KeyError::WrongKeyType`], naming
//!   what was found and what was expected.

mod fingerprint;
mod owner;
mod pem;
mod workload;

use std::fmt;

use der::Encode;
use der::asn1::ObjectIdentifier;
use p384::elliptic_curve::sec1::ToEncodedPoint;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use fingerprint::Fingerprint;
pub use owner::{OwnerKeyPair, OwnerPublicKey};
pub use workload::{WorkloadOwnerKeyPair, WorkloadOwnerPublicKey};

use crate::secret::SecretBytes;

/// RFC 8410 `id-X25519`.
pub const OID_X25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.110");
/// RFC 8410 `id-X448`.
const OID_X448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.111");
/// RFC 8410 `id-Ed25519`.
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// RFC 8410 `id-Ed448`.
const OID_ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");
/// RFC 5480 `id-ecPublicKey`.
pub const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// RFC 5480 `secp384r1` (P-384).
pub const OID_SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_SECP256K1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// PEM label of PKCS#8 private keys.
pub const PEM_LABEL_PRIVATE_KEY: &str = "PRIVATE KEY";
/// PEM label of SEC1 EC private keys.
pub const PEM_LABEL_EC_PRIVATE_KEY: &str = "EC PRIVATE KEY";
/// PEM label of SPKI public keys.
pub const PEM_LABEL_PUBLIC_KEY: &str = "PUBLIC KEY";
const PEM_LABEL_EC_PARAMETERS: &str = "EC PARAMETERS";

const EXPECTED_OWNER_PRIVATE: &str =
    "an X25519 private key (seed share owner key, PKCS#8 `PRIVATE KEY`)";
const EXPECTED_OWNER_PUBLIC: &str = "an X25519 public key (seed share owner, SPKI `PUBLIC KEY`)";
const EXPECTED_WORKLOAD_PRIVATE: &str = "an ECDSA P-384 private key (workload owner key, PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`)";
const EXPECTED_WORKLOAD_PUBLIC: &str =
    "an ECDSA P-384 public key (workload owner, SPKI `PUBLIC KEY`)";

/// Errors of key parsing, encoding and signatures. Messages never contain key bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("no PEM block found: expected a block like -----BEGIN {expected}-----")]
    NoPemBlock { expected: &'static str },
    #[error("the PEM block is malformed ({reason}); re-export the key with openssl")]
    Pem { reason: String },
    #[error("the {what} is not valid DER ({reason}); the file may be truncated or damaged")]
    Der { what: &'static str, reason: String },
    #[error(
        "this is {found}, but {expected} was expected; check that you picked the right key file"
    )]
    WrongKeyType {
        found: String,
        expected: &'static str,
    },
    #[error(
        "the private key is password-encrypted; Seedward reads unencrypted keys: \
         decrypt it with `openssl pkey -in KEY.pem -out PLAIN.pem` and keep the result private"
    )]
    EncryptedKey,
    #[error(
        "the key file's embedded public key does not match its private key; the file is damaged"
    )]
    PublicKeyMismatch,
    #[error("the {what} is not valid: {reason}")]
    InvalidKey { what: &'static str, reason: String },
    #[error("the {what} is not valid hex: {reason}")]
    Hex { what: &'static str, reason: String },
    #[error(
        "the X25519 public key is a low-order point, which no honest key generator \
         produces; the manifest or key file was tampered with or damaged"
    )]
    LowOrderPublicKey,
    #[error("the signature is not an ASN.1 DER ECDSA P-384 signature ({reason})")]
    MalformedSignature { reason: String },
    #[error(
        "the signature does not verify with workload owner key {fingerprint}; \
         it was made by another key or over another transition"
    )]
    BadSignature { fingerprint: Fingerprint },
    #[error("signing the transition failed; try again")]
    Signing,
}

/// The digest a workload owner signs for a transition: SHA-256 over the 64 ASCII
/// characters of the lowercase hex of `transition_hash`.
pub fn transition_signing_digest(transition_hash: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(hex::encode(transition_hash).as_bytes()).into()
}

/// SEC1 `ECPrivateKey` DER of a P-384 key with curve OID and public key (167 bytes),
/// identical to Go's `x509.MarshalECPrivateKey` and OpenSSL's `EC PRIVATE KEY`.
/// (`p384::SecretKey::to_sec1_der` leaves the curve out, so the structure is built here.)
pub fn p384_sec1_der(key: &p384::SecretKey) -> SecretBytes {
    let scalar = Zeroizing::new(key.to_bytes());
    let point = key.public_key().to_encoded_point(false);
    let ec = sec1::EcPrivateKey {
        private_key: &scalar,
        parameters: Some(sec1::EcParameters::NamedCurve(OID_SECP384R1)),
        public_key: Some(point.as_bytes()),
    };
    SecretBytes::new(encoded(ec.to_der()))
}

/// The value of an encoder of `der`, `spki`, `pkcs8`, `sec1` or `pem-rfc7468` run on a key.
///
/// Invariant: those encoders fail only on lengths beyond their limits (256 MiB for DER) or
/// on a BIT STRING with unused bits; the keys encoded in this module are fixed-size, a few
/// hundred bytes at most, and every BIT STRING is built from whole bytes.
#[allow(
    clippy::expect_used,
    reason = "encoding a fixed-size key cannot fail; see the invariant above"
)]
fn encoded<T, E: fmt::Debug>(result: Result<T, E>) -> T {
    result.expect("encoding a fixed-size key cannot fail")
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]
mod tests;
