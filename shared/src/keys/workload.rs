//! Workload owners: ECDSA P-384 key pairs and public keys (module docs: [`super`]).

use std::fmt;

use p384::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p384::ecdsa::{Signature, SigningKey, VerifyingKey};
use p384::elliptic_curve::sec1::ToEncodedPoint;
use p384::pkcs8::{EncodePrivateKey, EncodePublicKey};
use pkcs8::PrivateKeyInfo;
use rand_core::CryptoRngCore;
use spki::SubjectPublicKeyInfoRef;
use zeroize::Zeroizing;

use super::{
    EXPECTED_WORKLOAD_PRIVATE, EXPECTED_WORKLOAD_PUBLIC, Fingerprint, KeyError, OID_EC_PUBLIC_KEY,
    OID_SECP384R1, PEM_LABEL_EC_PRIVATE_KEY, PEM_LABEL_PRIVATE_KEY, PEM_LABEL_PUBLIC_KEY, encoded,
    p384_sec1_der, pem, transition_signing_digest,
};
use crate::secret::SecretBytes;

/// A workload owner's ECDSA P-384 key pair. The secret is zeroized on drop.
pub struct WorkloadOwnerKeyPair {
    pub(super) key: SigningKey,
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
        let (label, der) = pem::first_block(text, PEM_LABEL_PRIVATE_KEY)?;
        match label.as_str() {
            PEM_LABEL_PRIVATE_KEY => Self::from_pkcs8_der(&der),
            PEM_LABEL_EC_PRIVATE_KEY => Self::from_sec1_der(&der),
            _ => Err(pem::label_mismatch(&label, &der, EXPECTED_WORKLOAD_PRIVATE)),
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
                found: pem::describe_algorithm(info.algorithm.oid, curve, "private key"),
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
                found: pem::describe_algorithm(OID_EC_PUBLIC_KEY, Some(curve), "private key"),
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
        // `SecretDocument` zeroizes its own copy on drop.
        SecretBytes::copy_from(encoded(self.key.to_pkcs8_der()).as_bytes())
    }

    /// PKCS#8 PEM, `-----BEGIN PRIVATE KEY-----`.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        pem::encode_secret(PEM_LABEL_PRIVATE_KEY, self.to_pkcs8_der().expose())
    }

    /// SEC1 DER with curve and public key (167 bytes), as Contrast and OpenSSL write it.
    pub fn to_sec1_der(&self) -> SecretBytes {
        p384_sec1_der(&p384::SecretKey::from(self.key.as_nonzero_scalar()))
    }

    /// SEC1 PEM, `-----BEGIN EC PRIVATE KEY-----`.
    pub fn to_sec1_pem(&self) -> Zeroizing<String> {
        pem::encode_secret(PEM_LABEL_EC_PRIVATE_KEY, self.to_sec1_der().expose())
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
                found: pem::describe_algorithm(spki.algorithm.oid, curve, "public key"),
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
        let (label, der) = pem::first_block(text, PEM_LABEL_PUBLIC_KEY)?;
        if label != PEM_LABEL_PUBLIC_KEY {
            return Err(pem::label_mismatch(&label, &der, EXPECTED_WORKLOAD_PUBLIC));
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
        encoded(self.key.to_public_key_der()).into_vec()
    }

    /// `-----BEGIN PUBLIC KEY-----` PEM.
    pub fn to_spki_pem(&self) -> String {
        pem::encode(PEM_LABEL_PUBLIC_KEY, &self.to_spki_der())
    }

    /// The manifest form: lowercase hex of the SPKI DER.
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_spki_der())
    }

    /// The fingerprint people compare: [`Fingerprint::of`] the SPKI DER.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.to_spki_der())
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
