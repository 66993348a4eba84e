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
//! - fingerprint: the first 8 bytes of SHA-256(raw public key), lowercase hex, in four
//!   groups of four joined by `:` (`3f2a:91c0:77de:0b12`). For people, not for lookups.
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

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use der::Decode;
use der::asn1::{ObjectIdentifier, OctetStringRef};
use p384::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p384::ecdsa::{Signature, SigningKey, VerifyingKey};
use p384::elliptic_curve::sec1::ToEncodedPoint;
use pkcs8::PrivateKeyInfo;
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use spki::SubjectPublicKeyInfoRef;
use x25519_dalek::{PublicKey as DalekPublicKey, StaticSecret};
use zeroize::Zeroizing;

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

/// DER before the 32 key bytes of an X25519 PKCS#8 v1 private key.
const X25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
];
/// DER before the 32 key bytes of an X25519 SubjectPublicKeyInfo.
const X25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00,
];
/// DER before the 48-byte scalar of a P-384 PKCS#8 private key (OpenSSL's layout).
const P384_PKCS8_PREFIX: [u8; 35] = [
    0x30, 0x81, 0xb6, 0x02, 0x01, 0x00, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
    0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x04, 0x81, 0x9e, 0x30, 0x81, 0x9b, 0x02, 0x01,
    0x01, 0x04, 0x30,
];
/// DER between the scalar and the point of a P-384 PKCS#8 private key.
const P384_PKCS8_MIDDLE: [u8; 5] = [0xa1, 0x64, 0x03, 0x62, 0x00];
/// DER before the scalar of a P-384 SEC1 private key (with curve and public key).
const P384_SEC1_PREFIX: [u8; 8] = [0x30, 0x81, 0xa4, 0x02, 0x01, 0x01, 0x04, 0x30];
/// DER between the scalar and the point of a P-384 SEC1 private key.
const P384_SEC1_MIDDLE: [u8; 14] = [
    0xa0, 0x07, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0xa1, 0x64, 0x03, 0x62, 0x00,
];
/// DER before the point of a P-384 SubjectPublicKeyInfo.
const P384_SPKI_PREFIX: [u8; 23] = [
    0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
];

/// A scalar that every X25519 key check multiplies by; its value does not matter,
/// only that it is clamped (a multiple of 8), so it kills any small-order component.
const LOW_ORDER_PROBE: [u8; 32] = [
    0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f,
    0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
];

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
    BadSignature { fingerprint: String },
    #[error("signing the transition failed; try again")]
    Signing,
}

// ---------------------------------------------------------------------------------------
// Seed share owners: X25519
// ---------------------------------------------------------------------------------------

/// A seed share owner's X25519 key pair. The secret is zeroized on drop.
pub struct OwnerKeyPair {
    secret: StaticSecret,
    public: OwnerPublicKey,
}

impl OwnerKeyPair {
    /// Draws a new key pair. The 32 random bytes are clamped (RFC 7748) before they are
    /// stored, as OpenSSL does, so exported keys look like OpenSSL's.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut *bytes);
        bytes[0] &= 248;
        bytes[31] &= 127;
        bytes[31] |= 64;
        Self::from_secret_bytes(*bytes)
    }

    /// Wraps raw X25519 private key bytes (RFC 7748 encoding, clamped or not).
    pub fn from_secret_bytes(bytes: [u8; 32]) -> Self {
        let secret = StaticSecret::from(bytes);
        let public = OwnerPublicKey(DalekPublicKey::from(&secret).to_bytes());
        Self { secret, public }
    }

    /// Reads a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) X25519 private key.
    pub fn from_pkcs8_pem(text: &str) -> Result<Self, KeyError> {
        let (label, der) = first_pem_block(text, PEM_LABEL_PRIVATE_KEY)?;
        if label != PEM_LABEL_PRIVATE_KEY {
            return Err(label_mismatch(&label, &der, EXPECTED_OWNER_PRIVATE));
        }
        Self::from_pkcs8_der(&der)
    }

    /// Reads a PKCS#8 DER X25519 private key (v1, or v2 with a matching public key).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let info = PrivateKeyInfo::try_from(der).map_err(|e| KeyError::Der {
            what: "PKCS#8 private key",
            reason: e.to_string(),
        })?;
        if info.algorithm.oid != OID_X25519 {
            return Err(KeyError::WrongKeyType {
                found: describe_algorithm(
                    info.algorithm.oid,
                    info.algorithm.parameters_oid().ok(),
                    "private key",
                ),
                expected: EXPECTED_OWNER_PRIVATE,
            });
        }
        if info.algorithm.parameters.is_some() {
            return Err(KeyError::InvalidKey {
                what: "X25519 private key",
                reason: "RFC 8410 forbids algorithm parameters".into(),
            });
        }
        let inner = OctetStringRef::from_der(info.private_key).map_err(|e| KeyError::Der {
            what: "X25519 private key (inner OCTET STRING)",
            reason: e.to_string(),
        })?;
        let bytes = Zeroizing::new(<[u8; 32]>::try_from(inner.as_bytes()).map_err(|_| {
            KeyError::InvalidKey {
                what: "X25519 private key",
                reason: format!("it is {} bytes, not 32", inner.as_bytes().len()),
            }
        })?);
        let pair = Self::from_secret_bytes(*bytes);
        if let Some(public) = info.public_key
            && public != pair.public.as_bytes()
        {
            return Err(KeyError::PublicKeyMismatch);
        }
        Ok(pair)
    }

    /// PKCS#8 v1 DER (48 bytes), byte for byte what OpenSSL writes.
    pub fn to_pkcs8_der(&self) -> SecretBytes {
        let mut der = Vec::with_capacity(X25519_PKCS8_PREFIX.len() + 32);
        der.extend_from_slice(&X25519_PKCS8_PREFIX);
        der.extend_from_slice(self.secret.as_bytes());
        SecretBytes::new(der)
    }

    /// PKCS#8 PEM, `-----BEGIN PRIVATE KEY-----`, 64-column base64, LF line ends.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(pem_encode(
            PEM_LABEL_PRIVATE_KEY,
            self.to_pkcs8_der().expose(),
        ))
    }

    pub fn public_key(&self) -> OwnerPublicKey {
        self.public
    }

    /// The raw private key, for the HPKE code in this crate.
    pub(crate) fn secret_bytes(&self) -> &[u8; 32] {
        self.secret.as_bytes()
    }
}

impl fmt::Debug for OwnerKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnerKeyPair")
            .field("public", &self.public)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A seed share owner's X25519 public key (32 bytes, never a low-order point).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OwnerPublicKey([u8; 32]);

impl OwnerPublicKey {
    /// Wraps raw public key bytes, rejecting low-order points.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, KeyError> {
        let probe = StaticSecret::from(LOW_ORDER_PROBE);
        if !probe
            .diffie_hellman(&DalekPublicKey::from(bytes))
            .was_contributory()
        {
            return Err(KeyError::LowOrderPublicKey);
        }
        Ok(Self(bytes))
    }

    /// Parses the manifest form: 64 hex characters (either case).
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|e| KeyError::Hex {
            what: "seed share owner public key (64 hex characters)",
            reason: e.to_string(),
        })?;
        Self::from_bytes(bytes)
    }

    /// Parses a SubjectPublicKeyInfo DER X25519 public key.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki = SubjectPublicKeyInfoRef::try_from(der).map_err(|e| KeyError::Der {
            what: "public key (SubjectPublicKeyInfo)",
            reason: e.to_string(),
        })?;
        if spki.algorithm.oid != OID_X25519 {
            return Err(KeyError::WrongKeyType {
                found: describe_algorithm(
                    spki.algorithm.oid,
                    spki.algorithm.parameters_oid().ok(),
                    "public key",
                ),
                expected: EXPECTED_OWNER_PUBLIC,
            });
        }
        // As for the private key: RFC 8410 §3 says the parameters MUST be absent, and a key
        // with one accepted encoding cannot be smuggled past a byte compare (found by
        // fuzzing, fuzz/regressions/key_import/).
        if spki.algorithm.parameters.is_some() {
            return Err(KeyError::InvalidKey {
                what: "X25519 public key",
                reason: "RFC 8410 forbids algorithm parameters".into(),
            });
        }
        let raw = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| KeyError::InvalidKey {
                what: "X25519 public key",
                reason: "the BIT STRING has unused bits".into(),
            })?;
        let bytes = <[u8; 32]>::try_from(raw).map_err(|_| KeyError::InvalidKey {
            what: "X25519 public key",
            reason: format!("it is {} bytes, not 32", raw.len()),
        })?;
        Self::from_bytes(bytes)
    }

    /// Parses a `-----BEGIN PUBLIC KEY-----` PEM X25519 public key.
    pub fn from_spki_pem(text: &str) -> Result<Self, KeyError> {
        let (label, der) = first_pem_block(text, PEM_LABEL_PUBLIC_KEY)?;
        if label != PEM_LABEL_PUBLIC_KEY {
            return Err(label_mismatch(&label, &der, EXPECTED_OWNER_PUBLIC));
        }
        Self::from_spki_der(&der)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The manifest form: 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// SubjectPublicKeyInfo DER (44 bytes).
    pub fn to_spki_der(&self) -> Vec<u8> {
        [&X25519_SPKI_PREFIX[..], &self.0].concat()
    }

    /// `-----BEGIN PUBLIC KEY-----` PEM, as `openssl pkey -pubout` writes it.
    pub fn to_spki_pem(&self) -> String {
        pem_encode(PEM_LABEL_PUBLIC_KEY, &self.to_spki_der())
    }

    /// Short human fingerprint: the first 8 bytes of SHA-256(raw key) as
    /// `xxxx:xxxx:xxxx:xxxx` (lowercase hex).
    pub fn fingerprint(&self) -> String {
        fingerprint_of(&self.0)
    }
}

impl fmt::Display for OwnerPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for OwnerPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OwnerPublicKey({})", self.to_hex())
    }
}

// ---------------------------------------------------------------------------------------
// Workload owners: ECDSA P-384
// ---------------------------------------------------------------------------------------

/// A workload owner's ECDSA P-384 key pair. The secret is zeroized on drop.
pub struct WorkloadOwnerKeyPair {
    key: SigningKey,
}

impl WorkloadOwnerKeyPair {
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self {
            key: SigningKey::random(rng),
        }
    }

    /// Reads a P-384 private key from PEM: PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`
    /// (an `EC PARAMETERS` block before it, as `openssl ecparam -genkey` writes, is skipped).
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let (label, der) = first_pem_block(text, PEM_LABEL_PRIVATE_KEY)?;
        match label.as_str() {
            PEM_LABEL_PRIVATE_KEY => Self::from_pkcs8_der(&der),
            PEM_LABEL_EC_PRIVATE_KEY => Self::from_sec1_der(&der),
            _ => Err(label_mismatch(&label, &der, EXPECTED_WORKLOAD_PRIVATE)),
        }
    }

    /// Reads a PKCS#8 DER P-384 private key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let info = PrivateKeyInfo::try_from(der).map_err(|e| KeyError::Der {
            what: "PKCS#8 private key",
            reason: e.to_string(),
        })?;
        let curve = info.algorithm.parameters_oid().ok();
        if info.algorithm.oid != OID_EC_PUBLIC_KEY || curve != Some(OID_SECP384R1) {
            return Err(KeyError::WrongKeyType {
                found: describe_algorithm(info.algorithm.oid, curve, "private key"),
                expected: EXPECTED_WORKLOAD_PRIVATE,
            });
        }
        Self::from_sec1_der(info.private_key)
    }

    /// Reads a SEC1 `ECPrivateKey` DER P-384 private key.
    pub fn from_sec1_der(der: &[u8]) -> Result<Self, KeyError> {
        let ec = sec1::EcPrivateKey::try_from(der).map_err(|e| KeyError::Der {
            what: "SEC1 EC private key",
            reason: e.to_string(),
        })?;
        if let Some(sec1::EcParameters::NamedCurve(curve)) = ec.parameters
            && curve != OID_SECP384R1
        {
            return Err(KeyError::WrongKeyType {
                found: describe_algorithm(OID_EC_PUBLIC_KEY, Some(curve), "private key"),
                expected: EXPECTED_WORKLOAD_PRIVATE,
            });
        }
        if ec.private_key.len() != 48 {
            return Err(KeyError::WrongKeyType {
                found: format!("an EC key with a {}-byte scalar", ec.private_key.len()),
                expected: EXPECTED_WORKLOAD_PRIVATE,
            });
        }
        let secret =
            p384::SecretKey::from_slice(ec.private_key).map_err(|_| KeyError::InvalidKey {
                what: "P-384 private key",
                reason: "the scalar is zero or not below the curve order".into(),
            })?;
        if let Some(public) = ec.public_key
            && public != secret.public_key().to_encoded_point(false).as_bytes()
        {
            return Err(KeyError::PublicKeyMismatch);
        }
        Ok(Self {
            key: SigningKey::from(secret),
        })
    }

    /// PKCS#8 DER (185 bytes), OpenSSL's layout (curve in the algorithm, public key inside).
    pub fn to_pkcs8_der(&self) -> SecretBytes {
        let scalar = Zeroizing::new(self.key.to_bytes());
        let point = self.key.verifying_key().to_encoded_point(false);
        SecretBytes::new(
            [
                &P384_PKCS8_PREFIX[..],
                &scalar[..],
                &P384_PKCS8_MIDDLE[..],
                point.as_bytes(),
            ]
            .concat(),
        )
    }

    /// PKCS#8 PEM, `-----BEGIN PRIVATE KEY-----`.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(pem_encode(
            PEM_LABEL_PRIVATE_KEY,
            self.to_pkcs8_der().expose(),
        ))
    }

    /// SEC1 DER with curve and public key (167 bytes), as Contrast and OpenSSL write it.
    pub fn to_sec1_der(&self) -> SecretBytes {
        p384_sec1_der(&p384::SecretKey::from(self.key.as_nonzero_scalar()))
    }

    /// SEC1 PEM, `-----BEGIN EC PRIVATE KEY-----`.
    pub fn to_sec1_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(pem_encode(
            PEM_LABEL_EC_PRIVATE_KEY,
            self.to_sec1_der().expose(),
        ))
    }

    pub fn public_key(&self) -> WorkloadOwnerPublicKey {
        WorkloadOwnerPublicKey {
            key: *self.key.verifying_key(),
        }
    }

    /// Signs a proposed transition: ASN.1 DER ECDSA P-384 with the message digest being
    /// [`transition_signing_digest`] (SHA-256 over the 64 lowercase hex characters).
    pub fn sign_transition(&self, transition_hash: &[u8; 32]) -> Result<Vec<u8>, KeyError> {
        let digest = transition_signing_digest(transition_hash);
        let signature: Signature = self
            .key
            .sign_prehash(&digest)
            .map_err(|_| KeyError::Signing)?;
        Ok(signature.to_der().as_bytes().to_vec())
    }
}

impl fmt::Debug for WorkloadOwnerKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadOwnerKeyPair")
            .field("public", &self.public_key())
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A workload owner's ECDSA P-384 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct WorkloadOwnerPublicKey {
    key: VerifyingKey,
}

impl WorkloadOwnerPublicKey {
    /// Parses SubjectPublicKeyInfo DER (the manifest's `WorkloadOwnerPubKeys` entries,
    /// hex-decoded).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki = SubjectPublicKeyInfoRef::try_from(der).map_err(|e| KeyError::Der {
            what: "public key (SubjectPublicKeyInfo)",
            reason: e.to_string(),
        })?;
        let curve = spki.algorithm.parameters_oid().ok();
        if spki.algorithm.oid != OID_EC_PUBLIC_KEY || curve != Some(OID_SECP384R1) {
            return Err(KeyError::WrongKeyType {
                found: describe_algorithm(spki.algorithm.oid, curve, "public key"),
                expected: EXPECTED_WORKLOAD_PUBLIC,
            });
        }
        let point = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| KeyError::InvalidKey {
                what: "P-384 public key",
                reason: "the BIT STRING has unused bits".into(),
            })?;
        let key = VerifyingKey::from_sec1_bytes(point).map_err(|_| KeyError::InvalidKey {
            what: "P-384 public key",
            reason: "the point is not on the curve".into(),
        })?;
        Ok(Self { key })
    }

    /// Parses a `-----BEGIN PUBLIC KEY-----` PEM P-384 public key.
    pub fn from_spki_pem(text: &str) -> Result<Self, KeyError> {
        let (label, der) = first_pem_block(text, PEM_LABEL_PUBLIC_KEY)?;
        if label != PEM_LABEL_PUBLIC_KEY {
            return Err(label_mismatch(&label, &der, EXPECTED_WORKLOAD_PUBLIC));
        }
        Self::from_spki_der(&der)
    }

    /// Parses the manifest form: hex (either case) of the SPKI DER.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let der = hex::decode(text).map_err(|e| KeyError::Hex {
            what: "workload owner public key (hex of SPKI DER)",
            reason: e.to_string(),
        })?;
        Self::from_spki_der(&der)
    }

    /// SubjectPublicKeyInfo DER (120 bytes, uncompressed point).
    pub fn to_spki_der(&self) -> Vec<u8> {
        let point = self.key.to_encoded_point(false);
        [&P384_SPKI_PREFIX[..], point.as_bytes()].concat()
    }

    /// `-----BEGIN PUBLIC KEY-----` PEM.
    pub fn to_spki_pem(&self) -> String {
        pem_encode(PEM_LABEL_PUBLIC_KEY, &self.to_spki_der())
    }

    /// The manifest form: lowercase hex of the SPKI DER.
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_spki_der())
    }

    /// Short human fingerprint: the first 8 bytes of SHA-256(SPKI DER), `xxxx:xxxx:xxxx:xxxx`.
    pub fn fingerprint(&self) -> String {
        fingerprint_of(&self.to_spki_der())
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Checks a DER signature from [`WorkloadOwnerKeyPair::sign_transition`].
    pub fn verify_transition(
        &self,
        transition_hash: &[u8; 32],
        signature_der: &[u8],
    ) -> Result<(), KeyError> {
        let signature =
            Signature::from_der(signature_der).map_err(|e| KeyError::MalformedSignature {
                reason: e.to_string(),
            })?;
        let digest = transition_signing_digest(transition_hash);
        self.key
            .verify_prehash(&digest, &signature)
            .map_err(|_| KeyError::BadSignature {
                fingerprint: self.fingerprint(),
            })
    }
}

impl fmt::Debug for WorkloadOwnerPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WorkloadOwnerPublicKey({})", self.fingerprint())
    }
}

/// The digest a workload owner signs for a transition: SHA-256 over the 64 ASCII
/// characters of the lowercase hex of `transition_hash`.
pub fn transition_signing_digest(transition_hash: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(hex::encode(transition_hash).as_bytes()).into()
}

/// SEC1 `ECPrivateKey` DER of a P-384 key with curve OID and public key (167 bytes),
/// identical to Go's `x509.MarshalECPrivateKey` and OpenSSL's `EC PRIVATE KEY`.
pub fn p384_sec1_der(key: &p384::SecretKey) -> SecretBytes {
    let scalar = Zeroizing::new(key.to_bytes());
    let point = key.public_key().to_encoded_point(false);
    SecretBytes::new(
        [
            &P384_SEC1_PREFIX[..],
            &scalar[..],
            &P384_SEC1_MIDDLE[..],
            point.as_bytes(),
        ]
        .concat(),
    )
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn fingerprint_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex = hex::encode(&digest[..8]);
    [&hex[0..4], &hex[4..8], &hex[8..12], &hex[12..16]].join(":")
}

/// PEM per RFC 7468: base64 in 64-column lines, LF line ends, trailing newline.
fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = Zeroizing::new(BASE64.encode(der));
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// The first PEM block of `text` that is not `EC PARAMETERS`, as (label, DER).
fn first_pem_block(
    text: &str,
    expected: &'static str,
) -> Result<(String, Zeroizing<Vec<u8>>), KeyError> {
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(KeyError::EncryptedKey);
    }
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let label_end =
            block["-----BEGIN ".len()..]
                .find("-----")
                .ok_or_else(|| KeyError::Pem {
                    reason: "unterminated BEGIN line".into(),
                })?;
        let label = &block["-----BEGIN ".len().."-----BEGIN ".len() + label_end];
        // A BEGIN line that lacks its closing dashes makes the "label" run on into the key's
        // base64 lines: never put such a label into a message (found by fuzzing,
        // fuzz/regressions/key_import/).
        if !is_pem_label(label) {
            return Err(KeyError::Pem {
                reason: "the -----BEGIN line is malformed; it must be a line of its own, \
                         like -----BEGIN PRIVATE KEY-----"
                    .into(),
            });
        }
        let end_marker = format!("-----END {label}-----");
        let end = block.find(&end_marker).ok_or_else(|| KeyError::Pem {
            reason: if KNOWN_PEM_LABELS.contains(&label) {
                format!("no matching -----END {label}----- line")
            } else {
                "no matching -----END line for the -----BEGIN line".into()
            },
        })?;
        let block_text = &block[..end + end_marker.len()];
        rest = &block[end + end_marker.len()..];
        if label == PEM_LABEL_EC_PARAMETERS {
            continue;
        }
        if label == "ENCRYPTED PRIVATE KEY" {
            return Err(KeyError::EncryptedKey);
        }
        let (label, der) =
            pem_rfc7468::decode_vec(block_text.as_bytes()).map_err(|e| KeyError::Pem {
                reason: e.to_string(),
            })?;
        return Ok((label.to_owned(), Zeroizing::new(der)));
    }
    Err(KeyError::NoPemBlock { expected })
}

/// Labels that may be repeated in an error message (all short, none from key material).
const KNOWN_PEM_LABELS: &[&str] = &[
    PEM_LABEL_PRIVATE_KEY,
    PEM_LABEL_EC_PRIVATE_KEY,
    PEM_LABEL_PUBLIC_KEY,
    PEM_LABEL_EC_PARAMETERS,
    "ENCRYPTED PRIVATE KEY",
    "RSA PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
    "CERTIFICATE",
];

/// An RFC 7468 label as real ones look: uppercase letters, digits and single inner spaces,
/// at most 64 characters. Anything else (a newline, base64 text) is a malformed BEGIN line.
fn is_pem_label(label: &str) -> bool {
    label.len() <= 64
        && !label.starts_with(' ')
        && !label.ends_with(' ')
        && !label.contains("  ")
        && label
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ')
}

/// The error for a PEM block whose label is not one we read.
fn label_mismatch(label: &str, der: &[u8], expected: &'static str) -> KeyError {
    let found = match label {
        PEM_LABEL_EC_PRIVATE_KEY => match sec1::EcPrivateKey::try_from(der) {
            Ok(ec) => match ec.parameters {
                Some(sec1::EcParameters::NamedCurve(curve)) => format!(
                    "{} (SEC1 `EC PRIVATE KEY`)",
                    describe_algorithm(OID_EC_PUBLIC_KEY, Some(curve), "private key")
                ),
                None => "an EC private key (SEC1 `EC PRIVATE KEY`)".to_owned(),
            },
            Err(_) => "an EC private key (SEC1 `EC PRIVATE KEY`)".to_owned(),
        },
        "RSA PRIVATE KEY" => "an RSA private key (PKCS#1 `RSA PRIVATE KEY`)".to_owned(),
        "OPENSSH PRIVATE KEY" => "an OpenSSH private key".to_owned(),
        PEM_LABEL_PUBLIC_KEY => match SubjectPublicKeyInfoRef::try_from(der) {
            Ok(spki) => describe_algorithm(
                spki.algorithm.oid,
                spki.algorithm.parameters_oid().ok(),
                "public key",
            ),
            Err(_) => "a public key".to_owned(),
        },
        PEM_LABEL_PRIVATE_KEY => match PrivateKeyInfo::try_from(der) {
            Ok(info) => describe_algorithm(
                info.algorithm.oid,
                info.algorithm.parameters_oid().ok(),
                "private key",
            ),
            Err(_) => "a PKCS#8 private key".to_owned(),
        },
        "CERTIFICATE" => "a certificate, not a key".to_owned(),
        other => format!("a PEM block labelled `{other}`"),
    };
    KeyError::WrongKeyType { found, expected }
}

/// What a key is, for error messages: "an X25519 private key", "an ECDSA P-256 public
/// key", "an RSA private key", ... (`kind` is "private key" or "public key").
fn describe_algorithm(
    oid: ObjectIdentifier,
    curve: Option<ObjectIdentifier>,
    kind: &str,
) -> String {
    let name = match oid {
        OID_X25519 => "X25519",
        OID_X448 => "X448",
        OID_ED25519 => "Ed25519",
        OID_ED448 => "Ed448",
        OID_RSA => "RSA",
        OID_EC_PUBLIC_KEY => match curve {
            Some(OID_SECP384R1) => "ECDSA P-384",
            Some(OID_SECP256R1) => "ECDSA P-256",
            Some(OID_SECP521R1) => "ECDSA P-521",
            Some(OID_SECP256K1) => "ECDSA secp256k1",
            Some(other) => return format!("an EC {kind} on curve {other}"),
            None => return format!("an EC {kind} without a named curve"),
        },
        other => return format!("a {kind} with algorithm OID {other}"),
    };
    format!("an {name} {kind}")
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]
mod tests {
    use super::*;
    use p384::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
    use rand_core::OsRng;

    /// `openssl genpkey -algorithm X25519` (OpenSSL 3.0.19), generated once and pinned.
    const OPENSSL_X25519_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VuBCIEIMDh9e8Dgw0Y3/yy8V1pXO+oD1nS+TuBFaF1i/W8ESNV
-----END PRIVATE KEY-----
";
    /// `openssl pkey -in x.pem -pubout` of the key above.
    const OPENSSL_X25519_PUB_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VuAyEA3ab29B40s/3k+T+kunt4ntiXzisERNHr2KtCe2VWBno=
-----END PUBLIC KEY-----
";
    /// `openssl pkey -noout -text` of the key above.
    const OPENSSL_X25519_PUB_HEX: &str =
        "dda6f6f41e34b3fde4f93fa4ba7b789ed897ce2b0444d1ebd8ab427b6556067a";

    /// RFC 7748 §6.1 Alice's private key, wrapped by hand in PKCS#8 and passed through
    /// `openssl pkey -inform DER` (which printed this PEM) and `-pubout`.
    const RFC7748_ALICE_SECRET: &str =
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    const RFC7748_ALICE_PUBLIC: &str =
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    const OPENSSL_ALICE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VuBCIEIHcHbQpzGKV9PBbBclGyZkXfTC+H68CZKrF3+6UduSwq
-----END PRIVATE KEY-----
";
    const OPENSSL_ALICE_PUB_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VuAyEAhSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=
-----END PUBLIC KEY-----
";

    /// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384`.
    const OPENSSL_P384_PKCS8_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDDWKcEEFmhExdMDA0L2
EEROCGM4zX/GeeIkaTBbsC/w0xR7S+Rbzj/02gjAaWy2hr+hZANiAAT+kDo78bf3
UM80qP+7MP5l7hnvvtAVRQDjv3Qv9sdvvI/dQjh7P1nwWybqSadw9hl9anexmR2J
QPjCYQ9An6nAKMYbVeVkf5vxWAbN7rj2vYP3XdLvF/KrMmMybj91D04=
-----END PRIVATE KEY-----
";
    /// `openssl pkey -pubout` of the key above.
    const OPENSSL_P384_PKCS8_PUB_PEM: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE/pA6O/G391DPNKj/uzD+Ze4Z777QFUUA
4790L/bHb7yP3UI4ez9Z8Fsm6kmncPYZfWp3sZkdiUD4wmEPQJ+pwCjGG1XlZH+b
8VgGze649r2D913S7xfyqzJjMm4/dQ9O
-----END PUBLIC KEY-----
";
    /// `openssl ecparam -name secp384r1 -genkey -noout` (SEC1, as Contrast writes).
    const OPENSSL_P384_SEC1_PEM: &str = "-----BEGIN EC PRIVATE KEY-----
MIGkAgEBBDCCgqDfNbo9kj88x7NSU6kGvNs4RBsrLg8Z2oparFUpdU7Hy/MDdTfX
AsQMvcLd0+ugBwYFK4EEACKhZANiAARwbMEeqsDQaKSu+LBuYDk+08prK7EpT+TZ
DAF+2P92fhxUVhJt+wQElzfUC3sDDK4pyrgUnoz8F52ruNFK5jbWg3/CPXN/blB3
+Pp0FiWbGOz5c3eyIjan4HiCuc7MYZY=
-----END EC PRIVATE KEY-----
";
    /// `openssl pkey -pubout` of the key above.
    const OPENSSL_P384_SEC1_PUB_PEM: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEcGzBHqrA0GikrviwbmA5PtPKayuxKU/k
2QwBftj/dn4cVFYSbfsEBJc31At7AwyuKcq4FJ6M/Bedq7jRSuY21oN/wj1zf25Q
d/j6dBYlmxjs+XN3siI2p+B4grnOzGGW
-----END PUBLIC KEY-----
";
    /// `openssl pkcs8 -topk8 -nocrypt` of the SEC1 key above.
    const OPENSSL_P384_SEC1_AS_PKCS8_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDCCgqDfNbo9kj88x7NS
U6kGvNs4RBsrLg8Z2oparFUpdU7Hy/MDdTfXAsQMvcLd0+uhZANiAARwbMEeqsDQ
aKSu+LBuYDk+08prK7EpT+TZDAF+2P92fhxUVhJt+wQElzfUC3sDDK4pyrgUnoz8
F52ruNFK5jbWg3/CPXN/blB3+Pp0FiWbGOz5c3eyIjan4HiCuc7MYZY=
-----END PRIVATE KEY-----
";
    /// `openssl ecparam -name secp384r1 -genkey` (without -noout: parameters first).
    const OPENSSL_P384_WITH_PARAMS_PEM: &str = "-----BEGIN EC PARAMETERS-----
BgUrgQQAIg==
-----END EC PARAMETERS-----
-----BEGIN EC PRIVATE KEY-----
MIGkAgEBBDCjkN/bBSF65ebBclYi+4iEEm1gBLEhwFw51JRodqIpFqY2YkDonSqG
6q+TOYs18cSgBwYFK4EEACKhZANiAAR7hs0cV0FE/5K9Gl8SI8qe/NmGvY49z4GQ
1n2rOcSc8o46IfvEZvo9DC9ET0upbrtw9hlx6Y2/xA95EZtdWh2IicGR2lKd85Gs
6NewQRoea9rTrgyHYQPw0E2gFGJtJGk=
-----END EC PRIVATE KEY-----
";
    /// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`.
    const OPENSSL_P256_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgXncv16wG34NdnAs7
3cP9wZKVZrDO3vOH+sq+jkZHKwyhRANCAAS3YQzQumEZ/o+95DSdYQvPf60n+09y
L86cH9RBKwZi31AXF8gOA5FkvDnwUcKkbFjIUK7cPMdl/+AU3oCLbEa4
-----END PRIVATE KEY-----
";
    /// `openssl genpkey -algorithm ED25519` and its public key.
    const OPENSSL_ED25519_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEILJ0a0J9OaHdxKUyGWauf+UPBYdqGv8FZKdZTdOeijot
-----END PRIVATE KEY-----
";
    const OPENSSL_ED25519_PUB_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAytkSFGadts+zfg9JXAW2YGNVqkh+CTgL5oBAs2FKV88=
-----END PUBLIC KEY-----
";
    /// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024` (PKCS#8).
    const OPENSSL_RSA_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIICdQIBADANBgkqhkiG9w0BAQEFAASCAl8wggJbAgEAAoGBAJ0/534lyVHgkeHq
njF2LJ4uqxCwzYlZund8FDw5iaKLUzcV7dCzTRRRh85SGeaNRi5oynXVr7qM1OKh
tUnMUguq7zN1Yth5LRWXJPZxG4akwffnqemgyd639DujvezFEz7+4vxvctEigvbA
VKxedrzKLQO4vA/7zx7XB5dtIzBTAgMBAAECgYAX+FPLUOs9ReQ28dKna4IloquE
4c6S71CTQiC7hXHLiz1mGjukIpDPVhZDhxRXppVaIbMq/yXIZAtXeJrv4utmirOQ
rz8bNYZH/NewcHTL5C2YUEueKCxEwupOvSTgIfZ3II4tDpjRNqUXpgh0h2mCzw4F
VvH6VIKmhL2oM+WIYQJBANBXblnAvA0QN+S9IxJYI1R6jQQ1JAp9J/sL4Nb0jJEW
N2tRsc3MsIWtHD2J58w2J6REzgmBfCUk9/tjYw6XECkCQQDBOIJ15F4B/AbFh9Mp
U+hWPL6ix2CThWzNo6/W/tlxKsTfVbI93bBInyk0OKLZ86YZBZEKbBrSYruAkD5f
8BwbAkBpcncFskj7i6Pef+QKWtW24jgRUxwkuufLZl2sLiYfINF33edSNDF71vwe
IXhSoW469CAcK4879ZQVhl4Sel7RAkAz5r4EdOdbmRsojCeIfmV2ZLLAftXOSpTD
WCivk51M7LQdWaObQqVLnJUw1dXIvc3sArbHGerKgILlMdnPY2vpAkA9NierO3UZ
q1TILyDSAiQdhurIWOJABRAKg6UfCfQZtARiiicSu33UccTGb+uxRkkEwY+T+mlw
fsUr3sHLW1oA
-----END PRIVATE KEY-----
";

    // ---- X25519 ----

    #[test]
    fn openssl_x25519_key_imports_with_the_public_key_openssl_printed() {
        let pair = OwnerKeyPair::from_pkcs8_pem(OPENSSL_X25519_PEM).unwrap();
        assert_eq!(pair.public_key().to_hex(), OPENSSL_X25519_PUB_HEX);
        assert_eq!(
            OwnerPublicKey::from_spki_pem(OPENSSL_X25519_PUB_PEM).unwrap(),
            pair.public_key()
        );
        assert_eq!(pair.public_key().to_spki_pem(), OPENSSL_X25519_PUB_PEM);
    }

    #[test]
    fn our_x25519_pkcs8_pem_is_byte_identical_to_openssls() {
        let pair = OwnerKeyPair::from_pkcs8_pem(OPENSSL_X25519_PEM).unwrap();
        assert_eq!(pair.to_pkcs8_pem().as_str(), OPENSSL_X25519_PEM);

        let secret: [u8; 32] = hex::decode(RFC7748_ALICE_SECRET)
            .unwrap()
            .try_into()
            .unwrap();
        let alice = OwnerKeyPair::from_secret_bytes(secret);
        assert_eq!(alice.public_key().to_hex(), RFC7748_ALICE_PUBLIC);
        assert_eq!(alice.to_pkcs8_pem().as_str(), OPENSSL_ALICE_PEM);
        assert_eq!(alice.public_key().to_spki_pem(), OPENSSL_ALICE_PUB_PEM);
        assert_eq!(
            hex::encode(alice.to_pkcs8_der().expose()),
            format!("302e020100300506032b656e04220420{RFC7748_ALICE_SECRET}")
        );
        assert_eq!(
            hex::encode(alice.public_key().to_spki_der()),
            format!("302a300506032b656e032100{RFC7748_ALICE_PUBLIC}")
        );
    }

    #[test]
    fn generated_owner_keys_round_trip_through_pem() {
        let pair = OwnerKeyPair::generate(&mut OsRng);
        let back = OwnerKeyPair::from_pkcs8_pem(&pair.to_pkcs8_pem()).unwrap();
        assert_eq!(back.public_key(), pair.public_key());
        assert_eq!(back.secret_bytes(), pair.secret_bytes());
        // Clamped like OpenSSL's.
        assert_eq!(pair.secret_bytes()[0] & 7, 0);
        assert_eq!(pair.secret_bytes()[31] & 0xc0, 0x40);
        let public = pair.public_key();
        assert_eq!(OwnerPublicKey::from_hex(&public.to_hex()).unwrap(), public);
        assert_eq!(
            OwnerPublicKey::from_hex(&public.to_hex().to_uppercase()).unwrap(),
            public
        );
        assert_eq!(
            OwnerPublicKey::from_spki_pem(&public.to_spki_pem()).unwrap(),
            public
        );
    }

    #[test]
    fn pkcs8_v2_with_public_key_is_checked() {
        // OneAsymmetricKey v2 (RFC 5958) with [1] publicKey, as some tools write it.
        let secret = hex::decode(RFC7748_ALICE_SECRET).unwrap();
        let public = hex::decode(RFC7748_ALICE_PUBLIC).unwrap();
        let v2 = |pk: &[u8]| {
            let mut der = hex::decode("3051020101300506032b656e04220420").unwrap();
            der.extend_from_slice(&secret);
            der.extend_from_slice(&[0x81, 0x21, 0x00]);
            der.extend_from_slice(pk);
            der
        };
        let pair = OwnerKeyPair::from_pkcs8_der(&v2(&public)).unwrap();
        assert_eq!(pair.public_key().to_hex(), RFC7748_ALICE_PUBLIC);
        let mut wrong = public.clone();
        wrong[0] ^= 1;
        assert_eq!(
            OwnerKeyPair::from_pkcs8_der(&v2(&wrong)).unwrap_err(),
            KeyError::PublicKeyMismatch
        );
    }

    #[test]
    fn fingerprint_is_short_and_documented() {
        let public = OwnerPublicKey::from_hex(OPENSSL_X25519_PUB_HEX).unwrap();
        let fp = public.fingerprint();
        let digest = Sha256::digest(public.as_bytes());
        let hex = hex::encode(&digest[..8]);
        assert_eq!(fp.replace(':', ""), hex);
        assert_eq!(fp.len(), 19);
        assert_eq!(fp.matches(':').count(), 3);
    }

    #[test]
    fn owner_hex_errors() {
        assert!(matches!(
            OwnerPublicKey::from_hex("abcd"),
            Err(KeyError::Hex { .. })
        ));
        assert!(matches!(
            OwnerPublicKey::from_hex(&"zz".repeat(32)),
            Err(KeyError::Hex { .. })
        ));
        assert!(matches!(
            OwnerPublicKey::from_hex(&"00".repeat(33)),
            Err(KeyError::Hex { .. })
        ));
    }

    #[test]
    fn low_order_public_keys_are_rejected() {
        // u = 0, u = 1, and the order-8 point from the curve25519 literature.
        for hex in [
            "0000000000000000000000000000000000000000000000000000000000000000",
            "0100000000000000000000000000000000000000000000000000000000000000",
            "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        ] {
            assert_eq!(
                OwnerPublicKey::from_hex(hex).unwrap_err(),
                KeyError::LowOrderPublicKey,
                "{hex}"
            );
        }
    }

    #[test]
    fn wrong_key_types_are_named_for_owner_keys() {
        let cases = [
            (OPENSSL_P384_PKCS8_PEM, "an ECDSA P-384 private key"),
            (
                OPENSSL_P384_SEC1_PEM,
                "an ECDSA P-384 private key (SEC1 `EC PRIVATE KEY`)",
            ),
            (OPENSSL_RSA_PEM, "an RSA private key"),
            (OPENSSL_ED25519_PEM, "an Ed25519 private key"),
            (OPENSSL_X25519_PUB_PEM, "an X25519 public key"),
        ];
        for (pem, found) in cases {
            let err = OwnerKeyPair::from_pkcs8_pem(pem).unwrap_err();
            match &err {
                KeyError::WrongKeyType { found: f, expected } => {
                    assert_eq!(f, found);
                    assert_eq!(*expected, EXPECTED_OWNER_PRIVATE);
                }
                other => panic!("{pem}: {other:?}"),
            }
            let msg = err.to_string();
            assert!(msg.contains("X25519"), "{msg}");
        }
        let err = OwnerPublicKey::from_spki_pem(OPENSSL_ED25519_PUB_PEM).unwrap_err();
        assert_eq!(
            err,
            KeyError::WrongKeyType {
                found: "an Ed25519 public key".into(),
                expected: EXPECTED_OWNER_PUBLIC
            }
        );
        assert!(matches!(
            OwnerPublicKey::from_spki_pem(OPENSSL_P384_PKCS8_PUB_PEM),
            Err(KeyError::WrongKeyType { .. })
        ));
    }

    #[test]
    fn not_pem_and_encrypted_pem_are_explained() {
        assert_eq!(
            OwnerKeyPair::from_pkcs8_pem("hello").unwrap_err(),
            KeyError::NoPemBlock {
                expected: PEM_LABEL_PRIVATE_KEY
            }
        );
        assert_eq!(
            OwnerKeyPair::from_pkcs8_pem(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
            )
            .unwrap_err(),
            KeyError::EncryptedKey
        );
        assert!(matches!(
            OwnerKeyPair::from_pkcs8_pem(
                "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n"
            ),
            Err(KeyError::Pem { .. })
        ));
        assert!(matches!(
            OwnerKeyPair::from_pkcs8_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n"),
            Err(KeyError::Pem { .. })
        ));
    }

    /// Found by fuzzing (fuzz/regressions/key_import/): an X25519 SubjectPublicKeyInfo with
    /// NULL algorithm parameters was accepted, so one key had two accepted encodings.
    #[test]
    fn x25519_spki_with_parameters_is_refused() {
        let key = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
        let good = hex::decode(format!("302a300506032b656e032100{key}")).unwrap();
        let with_null = hex::decode(format!("302c300706032b656e0500032100{key}")).unwrap();
        assert_eq!(OwnerPublicKey::from_spki_der(&good).unwrap().to_hex(), key);
        assert!(matches!(
            OwnerPublicKey::from_spki_der(&with_null),
            Err(KeyError::InvalidKey { .. })
        ));
    }

    /// Found by fuzzing (fuzz/regressions/key_import/): a BEGIN line without its closing
    /// dashes made the label run into the base64 lines, which the error then repeated.
    #[test]
    fn malformed_begin_line_does_not_echo_the_key() {
        let body = "MC4CAQAwBQYDK2VuBCIEIHcHbQpzGKV9PBbBclGyZkXfTC+H68CZKrF3+6UduSwq";
        let pem = format!("-----BEGIN PRIVATE KEY\n{body}\n-----END PRIVATE KEY-----\n");
        for err in [
            OwnerKeyPair::from_pkcs8_pem(&pem).unwrap_err(),
            WorkloadOwnerKeyPair::from_pem(&pem).unwrap_err(),
        ] {
            assert!(matches!(err, KeyError::Pem { .. }), "{err:?}");
            assert!(!err.to_string().contains(body), "{err}");
            assert!(!format!("{err:?}").contains(body), "{err:?}");
        }
        let unterminated = format!("-----BEGIN {body}-----\n{body}\n");
        let err = OwnerKeyPair::from_pkcs8_pem(&unterminated).unwrap_err();
        assert!(!err.to_string().contains(body), "{err}");
    }

    #[test]
    fn private_key_debug_is_redacted() {
        let pair = OwnerKeyPair::from_pkcs8_pem(OPENSSL_X25519_PEM).unwrap();
        let shown = format!("{pair:?} {pair:#?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains("c0e1f5ef"), "{shown}");
        let workload = WorkloadOwnerKeyPair::from_pem(OPENSSL_P384_SEC1_PEM).unwrap();
        let shown = format!("{workload:?} {workload:#?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains("8282a0df"), "{shown}");
    }

    // ---- P-384 ----

    #[test]
    fn openssl_p384_keys_import_in_all_three_shapes() {
        let pkcs8 = WorkloadOwnerKeyPair::from_pem(OPENSSL_P384_PKCS8_PEM).unwrap();
        assert_eq!(
            pkcs8.public_key(),
            WorkloadOwnerPublicKey::from_spki_pem(OPENSSL_P384_PKCS8_PUB_PEM).unwrap()
        );
        assert_eq!(pkcs8.public_key().to_spki_pem(), OPENSSL_P384_PKCS8_PUB_PEM);
        assert_eq!(pkcs8.to_pkcs8_pem().as_str(), OPENSSL_P384_PKCS8_PEM);

        let sec1 = WorkloadOwnerKeyPair::from_pem(OPENSSL_P384_SEC1_PEM).unwrap();
        assert_eq!(sec1.public_key().to_spki_pem(), OPENSSL_P384_SEC1_PUB_PEM);
        assert_eq!(sec1.to_sec1_pem().as_str(), OPENSSL_P384_SEC1_PEM);
        assert_eq!(sec1.to_pkcs8_pem().as_str(), OPENSSL_P384_SEC1_AS_PKCS8_PEM);

        let with_params = WorkloadOwnerKeyPair::from_pem(OPENSSL_P384_WITH_PARAMS_PEM).unwrap();
        let sec1_block = OPENSSL_P384_WITH_PARAMS_PEM
            .find("-----BEGIN EC PRIVATE KEY")
            .unwrap();
        assert_eq!(
            with_params.to_sec1_pem().as_str(),
            &OPENSSL_P384_WITH_PARAMS_PEM[sec1_block..]
        );
    }

    #[test]
    fn our_p384_encoders_agree_with_the_rustcrypto_ones() {
        let pair = WorkloadOwnerKeyPair::generate(&mut OsRng);
        let secret = p384::SecretKey::from(pair.key.as_nonzero_scalar());
        let theirs = secret.to_pkcs8_der().unwrap();
        assert_eq!(pair.to_pkcs8_der().expose(), theirs.as_bytes());
        let theirs_pub = secret.public_key().to_public_key_der().unwrap();
        assert_eq!(pair.public_key().to_spki_der(), theirs_pub.as_bytes());
        let back = p384::SecretKey::from_pkcs8_der(pair.to_pkcs8_der().expose()).unwrap();
        assert_eq!(back.to_bytes(), secret.to_bytes());
        let sec1 = p384::SecretKey::from_sec1_der(pair.to_sec1_der().expose()).unwrap();
        assert_eq!(sec1.to_bytes(), secret.to_bytes());
        assert_eq!(pair.to_sec1_der().len(), 167);
        assert_eq!(pair.to_pkcs8_der().len(), 185);
        assert_eq!(pair.public_key().to_spki_der().len(), 120);
    }

    #[test]
    fn workload_public_key_hex_round_trips() {
        let public = WorkloadOwnerKeyPair::generate(&mut OsRng).public_key();
        let hex = public.to_hex();
        assert_eq!(hex, hex.to_lowercase());
        assert_eq!(WorkloadOwnerPublicKey::from_hex(&hex).unwrap(), public);
        assert_eq!(
            WorkloadOwnerPublicKey::from_hex(&hex.to_uppercase()).unwrap(),
            public
        );
        assert!(matches!(
            WorkloadOwnerPublicKey::from_hex("xyz"),
            Err(KeyError::Hex { .. })
        ));
    }

    #[test]
    fn sign_verify_round_trip_and_tamper() {
        let pair = WorkloadOwnerKeyPair::generate(&mut OsRng);
        let hash = [0x5a; 32];
        let sig = pair.sign_transition(&hash).unwrap();
        let public = pair.public_key();
        public.verify_transition(&hash, &sig).unwrap();

        let mut other = hash;
        other[31] ^= 1;
        assert!(matches!(
            public.verify_transition(&other, &sig),
            Err(KeyError::BadSignature { .. })
        ));
        for i in 0..sig.len() {
            let mut bad = sig.clone();
            bad[i] ^= 0x01;
            assert!(public.verify_transition(&hash, &bad).is_err(), "byte {i}");
        }
        let stranger = WorkloadOwnerKeyPair::generate(&mut OsRng).public_key();
        assert_eq!(
            stranger.verify_transition(&hash, &sig).unwrap_err(),
            KeyError::BadSignature {
                fingerprint: stranger.fingerprint()
            }
        );
    }

    #[test]
    fn signing_digest_is_sha256_of_lowercase_hex() {
        let hash: [u8; 32] = core::array::from_fn(|i| i as u8 * 7);
        let text = hex::encode(hash);
        assert_eq!(text.len(), 64);
        assert_eq!(
            transition_signing_digest(&hash),
            <[u8; 32]>::from(Sha256::digest(text.as_bytes()))
        );
        // Signature over exactly that digest, verified with the plain RustCrypto API.
        let pair = WorkloadOwnerKeyPair::generate(&mut OsRng);
        let sig = Signature::from_der(&pair.sign_transition(&hash).unwrap()).unwrap();
        pair.key
            .verifying_key()
            .verify_prehash(&transition_signing_digest(&hash), &sig)
            .unwrap();
    }

    /// `printf %s "$(hex of 0x00,0x07,..)" | openssl dgst -sha256 -sign p384_sec1.pem`:
    /// an OpenSSL-made signature over the same digest verifies.
    #[test]
    fn openssl_signature_verifies() {
        let hash: [u8; 32] = core::array::from_fn(|i| i as u8 * 7);
        let public = WorkloadOwnerPublicKey::from_spki_pem(OPENSSL_P384_SEC1_PUB_PEM).unwrap();
        let sig = hex::decode(OPENSSL_TRANSITION_SIGNATURE).unwrap();
        public.verify_transition(&hash, &sig).unwrap();
    }

    const OPENSSL_TRANSITION_SIGNATURE: &str = "3066023100efdb1927182ca4a47e65ce630743b4060bf47bf0dad468c2c1e4015261f85436b3549731497d3884f96b75e346bb72b5023100807e30029ca27a2362b49fa4827619c7ea5328888ce51a49bcdab55e93a5e0faae417bcd2d556fbd8d520f6482753321";

    #[test]
    fn wrong_key_types_are_named_for_workload_keys() {
        let cases = [
            (OPENSSL_X25519_PEM, "an X25519 private key"),
            (OPENSSL_P256_PEM, "an ECDSA P-256 private key"),
            (OPENSSL_RSA_PEM, "an RSA private key"),
            (OPENSSL_ED25519_PEM, "an Ed25519 private key"),
        ];
        for (pem, found) in cases {
            assert_eq!(
                WorkloadOwnerKeyPair::from_pem(pem).unwrap_err(),
                KeyError::WrongKeyType {
                    found: found.into(),
                    expected: EXPECTED_WORKLOAD_PRIVATE
                },
                "{pem}"
            );
        }
        assert_eq!(
            WorkloadOwnerPublicKey::from_spki_pem(OPENSSL_X25519_PUB_PEM).unwrap_err(),
            KeyError::WrongKeyType {
                found: "an X25519 public key".into(),
                expected: EXPECTED_WORKLOAD_PUBLIC
            }
        );
        assert_eq!(
            WorkloadOwnerKeyPair::from_pem(OPENSSL_P384_PKCS8_PUB_PEM).unwrap_err(),
            KeyError::WrongKeyType {
                found: "an ECDSA P-384 public key".into(),
                expected: EXPECTED_WORKLOAD_PRIVATE
            }
        );
    }
}
