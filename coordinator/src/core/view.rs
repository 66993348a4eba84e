//! What goes into the core and what comes out: plain domain values. The gRPC layer
//! ([`crate::service`]) converts them from and to the wire types; the core never sees a
//! protobuf message.

use std::sync::Arc;

use seedward_shared::history::{Digest, LatestTransition};
use seedward_shared::keys::OwnerPublicKey;
use seedward_shared::recovery::RecoveryEnvelope;
use seedward_shared::seedshare::SeedShareDocument;

use crate::ca::CertificateAuthority;
use crate::error::StateName;

/// What the core publishes on every state change: the state, and the root CA while ready.
/// The TLS layer follows it (a ready Coordinator presents a certificate from this root CA);
/// health and readiness follow the name.
#[derive(Debug, Clone)]
pub struct StateView {
    pub name: StateName,
    pub root_ca: Option<Arc<CertificateAuthority>>,
}

/// A recovery challenge as offered to a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeOffer {
    /// Opaque identifier to send back with the envelope.
    pub id: [u8; 16],
    /// Ephemeral X25519 public key: the HPKE recipient.
    pub public_key: [u8; 32],
    /// Part of the HPKE info string.
    pub nonce: [u8; 32],
    /// The stored latest transition the recovery is bound to.
    pub latest: Digest,
    /// Unix time in milliseconds after which the challenge is refused.
    pub expires_at_unix_ms: i64,
}

/// `GetStatus`, without the evidence (the service layer binds it to the TLS key and the
/// challenge key outside the core's lock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub state: StateName,
    /// Chain length; 0 when uninitialized (or when a stored history does not walk).
    pub generation: u64,
    pub latest: Option<Digest>,
    /// PEM, while ready.
    pub root_ca_pem: Option<String>,
    pub mesh_ca_pem: Option<String>,
    /// In the recovery-required and stale states.
    pub challenge: Option<ChallengeOffer>,
}

/// A `SetManifest` request whose fields have the right shapes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetManifestInput {
    /// The manifest JSON, stored and hashed exactly as sent.
    pub manifest: Vec<u8>,
    pub policies: Vec<Vec<u8>>,
    /// Atomic update: the transition the caller audited; `Digest::ZERO` = "no history yet".
    pub previous: Option<Digest>,
    /// DER ECDSA signature by a workload owner key (updates only).
    pub signature: Vec<u8>,
}

/// What a successful `SetManifest` returns.
#[derive(Debug)]
pub struct SetOutcome {
    pub root_ca_pem: String,
    pub mesh_ca_pem: String,
    /// Only on the first set.
    pub seed_shares: Option<SeedShareDocument>,
    pub transition: Digest,
    pub generation: u64,
}

/// `GetManifests`.
#[derive(Debug, Clone)]
pub struct HistoryReport {
    /// Every manifest, oldest first, as stored.
    pub manifests: Vec<Vec<u8>>,
    /// Every policy referenced by any manifest, each once.
    pub policies: Vec<Vec<u8>>,
    pub root_ca_pem: Option<String>,
    pub mesh_ca_pem: Option<String>,
    pub latest: LatestTransition,
    /// True when the Coordinator verified chain and signature with its own keys.
    pub verified: bool,
}

/// A `Recover` request whose fields have the right shapes.
#[derive(Debug, Clone)]
pub struct RecoverInput {
    pub challenge_id: Vec<u8>,
    pub owner: OwnerPublicKey,
    pub envelope: RecoveryEnvelope,
}

/// What a successful `Recover` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoverOutcome {
    pub root_ca_pem: String,
    pub mesh_ca_pem: String,
    pub latest: Digest,
    pub generation: u64,
}
