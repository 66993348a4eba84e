//! Connecting with the workspace's pin, status, and what the evidence proves.

use p384::pkcs8::DecodePublicKey;
use seedward_coordinator::evidence::report_data;
use seedward_proto::v1 as pb;
use seedward_shared::history::Digest;
use seedward_shared::keys::Fingerprint;

use crate::client::{ClientError, CoordinatorClient, Trust};
use crate::workspace::{ROOT_CA_FILE, SEED_SHARES_FILE, Workspace};

use super::*;

/// How a connection's server identity was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustLevel {
    /// Certificate signed by the root CA key pinned in the workspace.
    Pinned,
    /// The workspace has a pin but the server's certificate is not from it (a Coordinator
    /// awaiting recovery serves a self-signed certificate): only evidence vouches for it.
    PinMismatch,
    /// Nothing pinned yet (before setup).
    FirstUse,
}

/// A connection and how far it is trusted.
#[derive(Debug, Clone)]
pub struct Connection {
    pub client: CoordinatorClient,
    pub trust: TrustLevel,
}

/// Connects using the workspace's pin when there is one. A pinned handshake that fails
/// because the certificate is not from the pinned root falls back to an unpinned
/// connection marked [`TrustLevel::PinMismatch`], so that status and recovery still work.
pub async fn connect(address: &str, workspace: &Workspace) -> Result<Connection, OpsError> {
    let pin = workspace.read(ROOT_CA_FILE)?;
    if let Some(pem) = pin {
        let pem = String::from_utf8_lossy(&pem).into_owned();
        let trust = Trust::pinned_root_pem(&pem)?;
        match CoordinatorClient::connect(address, trust).await {
            Ok(client) => {
                return Ok(Connection {
                    client,
                    trust: TrustLevel::Pinned,
                });
            }
            Err(ClientError::Unreachable { detail, .. }) if is_certificate_rejection(&detail) => {
                let client = CoordinatorClient::connect(address, Trust::FirstUse).await?;
                return Ok(Connection {
                    client,
                    trust: TrustLevel::PinMismatch,
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
    if workspace.exists(SEED_SHARES_FILE) {
        return Err(OpsError::Invalid(format!(
            "{} holds seed shares but no {ROOT_CA_FILE}: the pin saved at setup is missing, so the Coordinator cannot be verified. Restore {ROOT_CA_FILE} from your backup",
            workspace.dir().display()
        )));
    }
    let client = CoordinatorClient::connect(address, Trust::FirstUse).await?;
    Ok(Connection {
        client,
        trust: TrustLevel::FirstUse,
    })
}

pub(super) fn is_certificate_rejection(detail: &str) -> bool {
    let d = detail.to_lowercase();
    d.contains("certificate") || d.contains("unknownissuer")
}

/// The Coordinator's state as the client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinatorState {
    Uninitialized,
    Ready,
    RecoveryRequired,
    Stale,
    Unknown,
}

impl CoordinatorState {
    pub fn from_proto(value: i32) -> Self {
        match pb::CoordinatorState::try_from(value) {
            Ok(pb::CoordinatorState::Uninitialized) => Self::Uninitialized,
            Ok(pb::CoordinatorState::Ready) => Self::Ready,
            Ok(pb::CoordinatorState::RecoveryRequired) => Self::RecoveryRequired,
            Ok(pb::CoordinatorState::Stale) => Self::Stale,
            _ => Self::Unknown,
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Self::Uninitialized => "uninitialized",
            Self::Ready => "ready",
            Self::RecoveryRequired => "recovery required",
            Self::Stale => "stale",
            Self::Unknown => "unknown",
        }
    }

    /// What the operator should do next, in one sentence.
    pub fn next_step(&self) -> &'static str {
        match self {
            Self::Uninitialized => "Run first-time setup to set the manifest.",
            Self::Ready => "Serving. Audit the history or update the manifest when needed.",
            Self::RecoveryRequired => {
                "The Coordinator restarted and holds no keys: recover it with your seed share."
            }
            Self::Stale => {
                "The shared history moved on without this replica: recover it with your seed share."
            }
            Self::Unknown => {
                "The Coordinator reported a state this client does not know; upgrade seedward."
            }
        }
    }
}

/// What the evidence says and whether it matches this connection.
#[derive(Debug, Clone)]
pub struct EvidenceView {
    pub kind: String,
    /// False for the development kind "none": nothing was attested.
    pub attested: bool,
    /// The TLS key named in the evidence is the one this connection saw.
    pub tls_key_matches: bool,
    /// `report_data` equals the documented binding of the TLS key and challenge key.
    pub binding_ok: bool,
    /// The recovery challenge offered with this status is the one the evidence binds
    /// (true when there is no challenge).
    pub challenge_bound: bool,
    pub tls_spki_sha256: String,
}

impl EvidenceView {
    /// One line for a badge: what the operator can rely on.
    pub fn summary(&self) -> String {
        let base = if self.attested {
            format!("attested ({})", self.kind)
        } else if self.kind == seedward_coordinator::evidence::KIND_NONE {
            "UNATTESTED (development verifier: nothing was attested)".to_string()
        } else {
            format!(
                "UNVERIFIED (evidence of kind {:?}, but this client has no verifier for it)",
                self.kind
            )
        };
        if !self.tls_key_matches || !self.binding_ok || !self.challenge_bound {
            format!("{base}; MISMATCH: the evidence does not bind this connection's key")
        } else {
            base
        }
    }
}

/// `GetStatus`, checked and summarized.
#[derive(Debug, Clone)]
pub struct StatusView {
    pub address: String,
    pub trust: TrustLevel,
    pub state: CoordinatorState,
    pub generation: u64,
    pub latest: Option<Digest>,
    pub root_ca_pem: Option<String>,
    pub root_ca_fingerprint: Option<String>,
    pub mesh_ca_pem: Option<String>,
    pub evidence: Option<EvidenceView>,
    pub challenge: Option<pb::RecoveryChallenge>,
    pub version: String,
}

pub async fn status(conn: &Connection) -> Result<StatusView, OpsError> {
    let response = conn.client.status().await?;
    Ok(status_view(conn, response))
}

pub(super) fn status_view(conn: &Connection, response: pb::GetStatusResponse) -> StatusView {
    let observed = conn.client.observed_tls_spki_sha256();
    let evidence = response.evidence.as_ref().map(|ev| {
        let tls: Option<[u8; 32]> = ev.tls_spki_sha256.as_slice().try_into().ok();
        let challenge: Option<[u8; 32]> = ev.challenge_public_key.as_slice().try_into().ok();
        let binding_ok = tls.is_some_and(|t| {
            report_data(&t, challenge.as_ref()).as_slice() == ev.report_data.as_slice()
        });
        EvidenceView {
            kind: ev.kind.clone(),
            // No TEE verifier is linked into this client yet, so a server's claim to be
            // attested counts for nothing: only a verified report may set this.
            attested: false,
            challenge_bound: response
                .challenge
                .as_ref()
                .is_none_or(|c| c.public_key == ev.challenge_public_key),
            tls_key_matches: tls.is_some() && tls == observed,
            binding_ok,
            tls_spki_sha256: hex::encode(&ev.tls_spki_sha256),
        }
    });
    let root_ca_pem = non_empty(response.root_ca_cert);
    StatusView {
        address: conn.client.address().to_string(),
        trust: conn.trust,
        state: CoordinatorState::from_proto(response.state),
        generation: response.generation,
        latest: Digest::from_slice(&response.latest_transition_hash).ok(),
        root_ca_fingerprint: root_ca_pem.as_deref().and_then(cert_key_fingerprint),
        root_ca_pem,
        mesh_ca_pem: non_empty(response.mesh_ca_cert),
        evidence,
        challenge: response.challenge,
        version: response.version,
    }
}

pub(super) fn non_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

/// The fingerprint of a PEM certificate's key (over its SubjectPublicKeyInfo DER).
pub fn cert_key_fingerprint(pem: &str) -> Option<String> {
    let der = pem_certificate_der(pem)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    Some(Fingerprint::of(cert.public_key().raw).to_string())
}

pub(super) fn pem_certificate_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let begin = "-----BEGIN CERTIFICATE-----";
    let end = "-----END CERTIFICATE-----";
    let start = pem.find(begin)? + begin.len();
    let stop = start + pem[start..].find(end)?;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// The SEC1 public key point of a PEM certificate (for comparing CA keys).
pub fn cert_public_key(pem: &str) -> Option<p384::PublicKey> {
    let der = pem_certificate_der(pem)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    p384::PublicKey::from_public_key_der(cert.public_key().raw).ok()
}
