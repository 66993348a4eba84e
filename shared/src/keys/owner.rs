//! Seed share owners: X25519 key pairs and public keys (module docs: [`super`]).

use std::fmt;

use der::asn1::{BitStringRef, OctetStringRef};
use der::{Decode, Encode};
use pkcs8::PrivateKeyInfo;
use rand_core::CryptoRngCore;
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use x25519_dalek::{PublicKey as DalekPublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::{
    EXPECTED_OWNER_PRIVATE, EXPECTED_OWNER_PUBLIC, Fingerprint, KeyError, OID_X25519,
    PEM_LABEL_PRIVATE_KEY, PEM_LABEL_PUBLIC_KEY, encoded, pem,
};
use crate::secret::SecretBytes;

/// A scalar that every X25519 key check multiplies by; its value does not matter,
/// only that it is clamped (a multiple of 8), so it kills any small-order component.
const LOW_ORDER_PROBE: [u8; 32] = [
    0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f,
    0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
];

/// `id-X25519` without parameters (RFC 8410 §3: they MUST be absent).
fn x25519_algorithm() -> AlgorithmIdentifierRef<'static> {
    AlgorithmIdentifierRef {
        oid: OID_X25519,
        parameters: None,
    }
}

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
        let (label, der) = pem::first_block(text, PEM_LABEL_PRIVATE_KEY)?;
        if label != PEM_LABEL_PRIVATE_KEY {
            return Err(pem::label_mismatch(&label, &der, EXPECTED_OWNER_PRIVATE));
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
                found: pem::describe_algorithm(
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
        // RFC 8410 §7: the PKCS#8 `privateKey` holds the DER of `CurvePrivateKey ::= OCTET
        // STRING`, so the key is wrapped twice.
        let secret = self.secret.as_bytes();
        let inner = Zeroizing::new(encoded(
            OctetStringRef::new(secret).and_then(|o| o.to_der()),
        ));
        let info = PrivateKeyInfo {
            algorithm: x25519_algorithm(),
            private_key: &inner,
            public_key: None,
        };
        SecretBytes::new(encoded(info.to_der()))
    }

    /// PKCS#8 PEM, `-----BEGIN PRIVATE KEY-----`, 64-column base64, LF line ends.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        pem::encode_secret(PEM_LABEL_PRIVATE_KEY, self.to_pkcs8_der().expose())
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
                found: pem::describe_algorithm(
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
        let (label, der) = pem::first_block(text, PEM_LABEL_PUBLIC_KEY)?;
        if label != PEM_LABEL_PUBLIC_KEY {
            return Err(pem::label_mismatch(&label, &der, EXPECTED_OWNER_PUBLIC));
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
        encoded(
            BitStringRef::from_bytes(&self.0).and_then(|subject_public_key| {
                SubjectPublicKeyInfoRef {
                    algorithm: x25519_algorithm(),
                    subject_public_key,
                }
                .to_der()
            }),
        )
    }

    /// `-----BEGIN PUBLIC KEY-----` PEM, as `openssl pkey -pubout` writes it.
    pub fn to_spki_pem(&self) -> String {
        pem::encode(PEM_LABEL_PUBLIC_KEY, &self.to_spki_der())
    }

    /// The fingerprint people compare: [`Fingerprint::of`] the raw key.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.0)
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
