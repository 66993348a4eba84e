//! The seed engine: the secret seed, its salt, and every key derived from them.
//!
//! A Coordinator draws a 64-byte [`Seed`] and a 32-byte [`Salt`] once, on the first
//! `SetManifest`. Everything that must survive a restart is *derived* from that pair
//! by [`SeedEngine::new`], so that a seed share owner who brings seed and salt back
//! recreates exactly the same keys. The derivations are compatible with Contrast's
//! seed engine (`internal/seedengine`).
//!
//! # Wire format
//!
//! Every derivation is HKDF-SHA256 (RFC 5869), extract-then-expand, with the salt as
//! the HKDF salt and an output length equal to the length of the input key material:
//!
//! | value | IKM | HKDF `info` (ASCII, no terminator) | length |
//! |---|---|---|---|
//! | pod-state seed | seed | [`POD_STATE_INFO`] `POD STATE SECRET` | `len(seed)` |
//! | history seed | seed | [`HISTORY_INFO`] `HISTORY SECRET` | `len(seed)` |
//! | transaction signing secret | seed | [`TRANSACTION_SIGNING_INFO`] `TRANSACTION SIGNING SECRET` | `len(seed)` |
//! | root CA secret | seed | [`ROOT_CA_INFO`] `ROOT CA SEED` | `len(seed)` |
//! | workload secret | pod-state seed | [`WORKLOAD_SECRET_INFO_PREFIX`] `WORKLOAD SECRET ID: ` ‖ UTF-8 id | `len(seed)` |
//!
//! The transaction signing secret and the root CA secret become P-384 private keys by
//! c2sp.org/det-keygen: HMAC_DRBG (NIST SP 800-90A) with SHA-256, entropy input = the
//! derived secret, empty nonce, personalization string [`DET_KEYGEN_PERSONALIZATION`]
//! `det ECDSA key gen P-384`; one generate call of 48 bytes without additional input;
//! the 48 bytes read big-endian are the private scalar `x`, which must satisfy
//! `0 < x < n` (else [`SeedError::KeyOutOfRange`]; there is no second draw).
//!
//! The mesh CA key is *not* derived from the seed, so that seed holders cannot forge
//! workload certificates. It is derived from a [`MeshSecret`]: 32 random bytes drawn by the
//! Coordinator at the first set and at every recovery by an owner, never stored, never given
//! to an owner, and handed from replica to replica only by peer recovery (sealed to an
//! attested replica). Every replica that holds the same mesh secret and stands at the same
//! latest transition derives the same mesh CA key, so a replica set issues from one mesh CA:
//!
//! | value | IKM | HKDF salt | HKDF `info` | length |
//! |---|---|---|---|---|
//! | mesh CA secret | mesh secret (32) | the latest transition hash (32) | [`MESH_CA_INFO`] `MESH CA SEED` | 32 |
//!
//! The mesh CA secret becomes the P-384 mesh CA key by det-keygen, as above.
//!
//! `docs/FORMATS.md` walks through all of this with the known-answer vector in hex.
//!
//! # Invariants
//! - A [`Seed`] is at least [`MIN_SEED_LEN`] and at most [`MAX_SEED_LEN`] bytes; a
//!   [`Salt`] is exactly [`SALT_LEN`] bytes. Both are checked when the value is built,
//!   so a [`SeedEngine`] can always be derived (up to the 2^-190 det-keygen rejection).
//! - Seed, derived secrets and private keys are zeroized on drop and never appear in
//!   `Debug` output or error messages.
//! - Equal seed and salt always give equal keys: no randomness enters a derivation.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use p384::ecdsa::{SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::secret::SecretBytes;

/// HKDF `info` of the pod-state seed (the IKM of every workload secret).
pub const POD_STATE_INFO: &[u8] = b"POD STATE SECRET";
/// HKDF `info` of the history seed (derived and kept, reserved for future use).
pub const HISTORY_INFO: &[u8] = b"HISTORY SECRET";
/// HKDF `info` of the secret that becomes the transaction signing key.
pub const TRANSACTION_SIGNING_INFO: &[u8] = b"TRANSACTION SIGNING SECRET";
/// HKDF `info` of the secret that becomes the root CA key.
pub const ROOT_CA_INFO: &[u8] = b"ROOT CA SEED";
/// HKDF `info` prefix of a workload secret; the workload secret ID follows, verbatim.
pub const WORKLOAD_SECRET_INFO_PREFIX: &[u8] = b"WORKLOAD SECRET ID: ";
/// HMAC_DRBG personalization string of c2sp.org/det-keygen for P-384.
pub const DET_KEYGEN_PERSONALIZATION: &[u8] = b"det ECDSA key gen P-384";

/// Length of a seed drawn by [`Seed::generate`].
pub const SEED_LEN: usize = 64;
/// Shortest seed accepted.
pub const MIN_SEED_LEN: usize = 32;
/// Longest seed accepted: HKDF-SHA256 cannot expand to more than 255 × 32 bytes, and
/// every derivation's output is as long as the seed.
pub const MAX_SEED_LEN: usize = 255 * 32;
/// Length of a salt.
pub const SALT_LEN: usize = 32;
/// HKDF `info` of the mesh CA secret (IKM: the mesh secret; salt: the latest transition hash).
pub const MESH_CA_INFO: &[u8] = b"MESH CA SEED";
/// Length of a [`MeshSecret`].
pub const MESH_SECRET_LEN: usize = 32;

/// Byte length of a P-384 scalar, which det-keygen draws from the DRBG.
const P384_SCALAR_LEN: usize = 48;

/// Errors of the seed engine. Messages never contain secret bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    #[error(
        "the seed is {len} bytes, but a seed must be at least {MIN_SEED_LEN} bytes; \
         check that it was decrypted from the right seed share"
    )]
    SeedTooShort { len: usize },
    #[error(
        "the seed is {len} bytes, but a seed can be at most {MAX_SEED_LEN} bytes; \
         check that it was decrypted from the right seed share"
    )]
    SeedTooLong { len: usize },
    #[error(
        "the salt is {len} bytes, but it must be exactly {SALT_LEN} bytes; \
         use the salt from the seed-shares.json that belongs to this seed"
    )]
    SaltLength { len: usize },
    #[error("the salt is not valid {encoding}: {reason}")]
    SaltEncoding {
        encoding: &'static str,
        reason: String,
    },
    #[error(
        "a workload secret ID must not be empty; set WorkloadSecretID in the manifest's policy"
    )]
    EmptyWorkloadSecretId,
    #[error(
        "deriving the {purpose} from this seed gave a P-384 scalar outside 1..n-1 \
         (a 2^-190 event); this seed cannot be used, generate a new one"
    )]
    KeyOutOfRange { purpose: &'static str },
    #[error(
        "the mesh secret is {len} bytes, but it must be exactly {MESH_SECRET_LEN} bytes; \
         the sending replica is broken or outdated"
    )]
    MeshSecretLength { len: usize },
    #[error("HKDF-SHA256 cannot produce {len} bytes (at most {MAX_SEED_LEN})")]
    OutputTooLong { len: usize },
}

/// The Coordinator's secret seed: at least 32 bytes (64 when generated), secret.
///
/// Equality is constant-time. `Debug` shows only the length.
#[derive(Clone)]
pub struct Seed(SecretBytes);

impl Seed {
    /// Draws a new [`SEED_LEN`]-byte seed from `rng`.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = vec![0u8; SEED_LEN];
        rng.fill_bytes(&mut bytes);
        Self(SecretBytes::new(bytes))
    }

    /// Takes ownership of `bytes` as a seed, checking its length.
    pub fn from_bytes(mut bytes: Vec<u8>) -> Result<Self, SeedError> {
        if let Err(e) = check_seed_len(bytes.len()) {
            bytes.zeroize();
            return Err(e);
        }
        Ok(Self(SecretBytes::new(bytes)))
    }

    /// Copies `bytes` into a seed, checking its length.
    pub fn copy_from(bytes: &[u8]) -> Result<Self, SeedError> {
        check_seed_len(bytes.len())?;
        Ok(Self(SecretBytes::copy_from(bytes)))
    }

    /// The seed's bytes. Every call site is a place where the seed leaves its box.
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a seed has at least [`MIN_SEED_LEN`] bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn check_seed_len(len: usize) -> Result<(), SeedError> {
    if len < MIN_SEED_LEN {
        Err(SeedError::SeedTooShort { len })
    } else if len > MAX_SEED_LEN {
        Err(SeedError::SeedTooLong { len })
    } else {
        Ok(())
    }
}

impl PartialEq for Seed {
    fn eq(&self, other: &Self) -> bool {
        self.expose().ct_eq(other.expose()).into()
    }
}

impl Eq for Seed {}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Seed(<redacted, {} bytes>)", self.len())
    }
}

/// The 32-byte HKDF salt that goes with a seed. Not secret: it is stored in
/// `seed-shares.json` next to the encrypted seed shares.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Salt([u8; SALT_LEN]);

impl Salt {
    /// Draws a new salt from `rng`.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = [0u8; SALT_LEN];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Wraps exactly [`SALT_LEN`] bytes.
    pub fn from_bytes(bytes: [u8; SALT_LEN]) -> Self {
        Self(bytes)
    }

    /// Checks that `bytes` is exactly [`SALT_LEN`] long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, SeedError> {
        <[u8; SALT_LEN]>::try_from(bytes)
            .map(Self)
            .map_err(|_| SeedError::SaltLength { len: bytes.len() })
    }

    /// Parses hex (either case).
    pub fn from_hex(text: &str) -> Result<Self, SeedError> {
        let bytes = hex::decode(text).map_err(|e| SeedError::SaltEncoding {
            encoding: "hex",
            reason: e.to_string(),
        })?;
        Self::from_slice(&bytes)
    }

    /// Parses standard base64 with padding (the form in `seed-shares.json`).
    pub fn from_base64(text: &str) -> Result<Self, SeedError> {
        let bytes = BASE64.decode(text).map_err(|e| SeedError::SaltEncoding {
            encoding: "standard base64",
            reason: e.to_string(),
        })?;
        Self::from_slice(&bytes)
    }

    pub fn as_bytes(&self) -> &[u8; SALT_LEN] {
        &self.0
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Standard base64 with padding.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Salt({})", self.to_hex())
    }
}

/// The secret the mesh CA key is derived from (see the module docs): random, shared by
/// the replicas of one set through peer recovery, never stored. Zeroized on drop; `Debug`
/// shows nothing.
pub struct MeshSecret(SecretBytes);

impl MeshSecret {
    /// Draws a new mesh secret from `rng`.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = vec![0u8; MESH_SECRET_LEN];
        rng.fill_bytes(&mut bytes);
        Self(SecretBytes::new(bytes))
    }

    /// Copies a mesh secret; it must be exactly [`MESH_SECRET_LEN`] bytes.
    pub fn copy_from(bytes: &[u8]) -> Result<Self, SeedError> {
        if bytes.len() != MESH_SECRET_LEN {
            return Err(SeedError::MeshSecretLength { len: bytes.len() });
        }
        Ok(Self(SecretBytes::new(bytes.to_vec())))
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }

    /// The mesh CA key of the generation whose latest transition hash is `latest`:
    /// det-keygen(HKDF-SHA256(mesh secret, salt = `latest`, info = [`MESH_CA_INFO`], 32)).
    pub fn ca_key(&self, latest: &[u8; 32]) -> Result<p384::SecretKey, SeedError> {
        let secret = hkdf_sha256(self.0.expose(), latest, &[MESH_CA_INFO], MESH_SECRET_LEN)?;
        det_keygen_p384(secret.expose(), "mesh CA key")
    }
}

impl fmt::Debug for MeshSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MeshSecret(<redacted>)")
    }
}

/// All keys derived from one seed and salt, held in memory only.
///
/// The transaction signing key is an ECDSA [`SigningKey`] because it signs the
/// history's latest pointer; the root CA key is a plain [`p384::SecretKey`] because it
/// is handed to certificate code (which wants SEC1/PKCS#8), not used to sign directly.
pub struct SeedEngine {
    /// Kept so that a ready replica can hand it to an attested peer (peer recovery).
    seed: Seed,
    salt: Salt,
    pod_state_seed: SecretBytes,
    history_seed: SecretBytes,
    transaction_signing_key: SigningKey,
    root_ca_key: p384::SecretKey,
}

impl SeedEngine {
    /// Derives every key from `seed` and `salt` (see the module docs for the exact steps).
    pub fn new(seed: &Seed, salt: &Salt) -> Result<Self, SeedError> {
        let ikm = seed.expose();
        let len = ikm.len();
        let pod_state_seed = hkdf_sha256(ikm, salt.as_bytes(), &[POD_STATE_INFO], len)?;
        let history_seed = hkdf_sha256(ikm, salt.as_bytes(), &[HISTORY_INFO], len)?;
        let signing_secret = hkdf_sha256(ikm, salt.as_bytes(), &[TRANSACTION_SIGNING_INFO], len)?;
        let root_ca_secret = hkdf_sha256(ikm, salt.as_bytes(), &[ROOT_CA_INFO], len)?;
        let transaction_signing_key = SigningKey::from(det_keygen_p384(
            signing_secret.expose(),
            "transaction signing key",
        )?);
        let root_ca_key = det_keygen_p384(root_ca_secret.expose(), "root CA key")?;
        Ok(Self {
            seed: seed.clone(),
            salt: *salt,
            pod_state_seed,
            history_seed,
            transaction_signing_key,
            root_ca_key,
        })
    }

    /// Like [`SeedEngine::new`], from raw bytes, checking both lengths first
    /// (the shape of Contrast's `seedengine.New(secretSeed, salt)`).
    pub fn from_bytes(seed: &[u8], salt: &[u8]) -> Result<Self, SeedError> {
        let salt = Salt::from_slice(salt)?;
        let seed = Seed::copy_from(seed)?;
        Self::new(&seed, &salt)
    }

    /// The seed the keys were derived from (for peer recovery only: it is sealed to an
    /// attested replica and goes nowhere else).
    pub fn seed(&self) -> &Seed {
        &self.seed
    }

    /// The salt the keys were derived with.
    pub fn salt(&self) -> &Salt {
        &self.salt
    }

    /// HKDF(seed, `POD STATE SECRET`): the IKM of every workload secret.
    pub fn pod_state_seed(&self) -> &SecretBytes {
        &self.pod_state_seed
    }

    /// HKDF(seed, `HISTORY SECRET`): reserved, kept derivable for compatibility.
    pub fn history_seed(&self) -> &SecretBytes {
        &self.history_seed
    }

    /// The P-384 key that signs the history's `transitions/latest` pointer.
    pub fn transaction_signing_key(&self) -> &SigningKey {
        &self.transaction_signing_key
    }

    /// The public half of [`SeedEngine::transaction_signing_key`].
    pub fn transaction_verifying_key(&self) -> &VerifyingKey {
        self.transaction_signing_key.verifying_key()
    }

    /// The P-384 root CA key (stable across recoveries).
    pub fn root_ca_key(&self) -> &p384::SecretKey {
        &self.root_ca_key
    }

    /// HKDF(pod-state seed, `WORKLOAD SECRET ID: <id>`), as long as the seed (64 bytes
    /// for a generated seed). The id is used verbatim: no trimming, no normalization.
    pub fn derive_workload_secret(&self, id: &str) -> Result<SecretBytes, SeedError> {
        if id.is_empty() {
            return Err(SeedError::EmptyWorkloadSecretId);
        }
        let ikm = self.pod_state_seed.expose();
        hkdf_sha256(
            ikm,
            self.salt.as_bytes(),
            &[WORKLOAD_SECRET_INFO_PREFIX, id.as_bytes()],
            ikm.len(),
        )
    }
}

impl fmt::Debug for SeedEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeedEngine")
            .field("salt", &self.salt)
            .field("keys", &"<redacted>")
            .finish()
    }
}

/// HKDF-SHA256 (RFC 5869) extract-then-expand to `len` bytes; `info` is the
/// concatenation of its parts. The one HKDF helper of the engine.
pub(crate) fn hkdf_sha256(
    ikm: &[u8],
    salt: &[u8],
    info: &[&[u8]],
    len: usize,
) -> Result<SecretBytes, SeedError> {
    let hkdf = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut okm = vec![0u8; len];
    match hkdf.expand_multi_info(info, &mut okm) {
        Ok(()) => Ok(SecretBytes::new(okm)),
        Err(_) => Err(SeedError::OutputTooLong { len }),
    }
}

/// c2sp.org/det-keygen for P-384: a private key from a secret of at least 16 bytes.
pub(crate) fn det_keygen_p384(
    secret: &[u8],
    purpose: &'static str,
) -> Result<p384::SecretKey, SeedError> {
    let mut drbg = HmacDrbg::new(secret, &[], DET_KEYGEN_PERSONALIZATION);
    let mut x = Zeroizing::new(p384::FieldBytes::default());
    debug_assert_eq!(x.len(), P384_SCALAR_LEN);
    drbg.generate(&mut x);
    // `from_bytes` reads big-endian and rejects x = 0 and x >= n, exactly det-keygen's check.
    p384::SecretKey::from_bytes(&x).map_err(|_| SeedError::KeyOutOfRange { purpose })
}

/// HMAC_DRBG with SHA-256 (NIST SP 800-90A rev. 1, §10.1.2), without reseeding,
/// prediction resistance or additional input: the subset det-keygen needs.
#[derive(Zeroize, ZeroizeOnDrop)]
struct HmacDrbg {
    k: [u8; 32],
    v: [u8; 32],
}

impl HmacDrbg {
    /// Instantiate: K = 0x00…, V = 0x01…, then Update(entropy ‖ nonce ‖ personalization).
    fn new(entropy: &[u8], nonce: &[u8], personalization: &[u8]) -> Self {
        let mut drbg = Self {
            k: [0x00; 32],
            v: [0x01; 32],
        };
        drbg.update(&[entropy, nonce, personalization]);
        drbg
    }

    /// HMAC_DRBG_Update. With empty provided data only the first round runs.
    fn update(&mut self, provided: &[&[u8]]) {
        let provided_len: usize = provided.iter().map(|p| p.len()).sum();
        for round in [0x00u8, 0x01] {
            if round == 0x01 && provided_len == 0 {
                break;
            }
            let mut parts: Vec<&[u8]> = Vec::with_capacity(provided.len() + 2);
            parts.push(&self.v);
            parts.push(std::slice::from_ref(&round));
            parts.extend_from_slice(provided);
            let k = hmac_sha256(&self.k, &parts);
            self.k = k;
            self.v = hmac_sha256(&self.k, &[&self.v]);
        }
    }

    /// HMAC_DRBG_Generate without additional input: V = HMAC(K, V) per 32-byte block,
    /// then Update with no data.
    fn generate(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(32) {
            self.v = hmac_sha256(&self.k, &[&self.v]);
            chunk.copy_from_slice(&self.v[..chunk.len()]);
        }
        self.update(&[]);
    }
}

fn hmac_sha256(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC pads keys shorter than the hash block (64 bytes) with zeros (RFC 2104), so
    // K ‖ 0x00×32 as a full block key is the same MAC as K, without the fallible
    // `new_from_slice`.
    let mut block_key = Zeroizing::new([0u8; 64]);
    block_key[..32].copy_from_slice(key);
    let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new((&*block_key).into());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]
mod tests;
