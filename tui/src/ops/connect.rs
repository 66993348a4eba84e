//! Connecting with the workspace's pin, status, and what the evidence proves.

use std::sync::Arc;

use p384::pkcs8::DecodePublicKey;
use seedward_proto::v1 as pb;
use seedward_shared::history::Digest;
use seedward_shared::keys::Fingerprint;
use seedward_shared::manifest::Manifest;

use crate::client::evidence::{
    AppraisalPolicy, EvidenceAppraisal, Expectation, ReferenceSource, appraise,
};
use crate::client::{ClientError, CoordinatorClient, Trust, printable};
use crate::workspace::{MANIFEST_FILE, ROOT_CA_FILE, SEED_SHARES_FILE, Workspace};

use super::*;

/// How a connection's server identity was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustLevel {
    /// Certificate signed by the root CA key pinned in the workspace.
    Pinned,
    /// The workspace has a pin but the server's certificate is not from it. Normal while
    /// the Coordinator awaits recovery (it serves a self-signed certificate and only
    /// evidence vouches for it); a *ready* Coordinator that is not from the pin is another
    /// deployment's, or a takeover ([`StatusView::takeover`]).
    PinMismatch,
    /// The workspace holds seed shares but no pin (a new laptop, a restored backup): the
    /// Coordinator is unverified until the share drill or a recovery derives the root CA
    /// key from the seed and writes the pin.
    MissingPin,
    /// Nothing pinned yet (before setup).
    FirstUse,
}

/// A connection, how far it is trusted, and what its evidence is judged against.
#[derive(Debug, Clone)]
pub struct Connection {
    pub client: CoordinatorClient,
    pub trust: TrustLevel,
    /// The reference values the Coordinator's evidence must match.
    pub expectation: Expectation,
    pub policy: Arc<AppraisalPolicy>,
}

impl Connection {
    /// Judges evidence against `manifest` from now on (the manifest being set, or the latest
    /// of a history the owner's seed verified).
    pub fn expect(&mut self, manifest: &Manifest, source: ReferenceSource) {
        self.expectation = expectation_of(manifest, source);
    }
}

/// The reference values of `manifest`, or nothing to compare with if they do not parse.
pub fn expectation_of(manifest: &Manifest, source: ReferenceSource) -> Expectation {
    match manifest.reference() {
        Ok(reference) => Expectation {
            reference,
            coordinator_policy: manifest.coordinator_policy_hash().map(|d| *d.as_bytes()),
            source,
        },
        Err(_) => Expectation::unknown(),
    }
}

/// The workspace's `manifest.json`, as the expectation for status and updates.
fn workspace_expectation(workspace: &Workspace) -> Expectation {
    workspace
        .read(MANIFEST_FILE)
        .ok()
        .flatten()
        .and_then(|bytes| Manifest::parse(bytes).ok())
        .map(|m| expectation_of(&m, ReferenceSource::Workspace))
        .unwrap_or_else(Expectation::unknown)
}

/// How evidence is judged, from the global flags (`--test-trust-anchor`,
/// `--waive-revocation-check`, `--collateral-dir`).
pub fn appraisal_policy(
    test_trust_anchor: Option<&std::path::Path>,
    waive_revocation: bool,
    collateral_dir: Option<&std::path::Path>,
) -> Result<AppraisalPolicy, OpsError> {
    let mut policy = AppraisalPolicy::default();
    if let Some(path) = test_trust_anchor {
        if !cfg!(debug_assertions)
            && !std::env::var("SEEDWARD_ALLOW_TEST_TRUST_ANCHOR").is_ok_and(|v| v == "1")
        {
            return Err(OpsError::Invalid(
                "--test-trust-anchor replaces AMD's roots with a test key; a release build accepts it only with SEEDWARD_ALLOW_TEST_TRUST_ANCHOR=1 set as well".into(),
            ));
        }
        let pem = std::fs::read(path).map_err(|e| WorkspaceError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        policy.anchors = seedward_attestation::TrustAnchors::test_from_pem(&pem)
            .map_err(|e| OpsError::Invalid(format!("{}: {e}", path.display())))?;
        tracing::warn!(file = %path.display(), "TEST TRUST ANCHOR IN USE: evidence signed by this test key counts as attested");
    }
    if waive_revocation {
        policy.revocation = seedward_attestation::Revocation::Waive;
    }
    if let Some(dir) = collateral_dir {
        let mut out = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| WorkspaceError::Io {
                path: dir.to_path_buf(),
                message: e.to_string(),
            })?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            if path.extension().is_some_and(|e| e == "crl") {
                out.extend(std::fs::read(&path).map_err(|e| WorkspaceError::Io {
                    path: path.clone(),
                    message: e.to_string(),
                })?);
            }
        }
        policy.collateral = out;
    }
    Ok(policy)
}

/// Connects using the workspace's pin when there is one. A pinned handshake that fails
/// because the certificate is not from the pinned root falls back to an unpinned
/// connection marked [`TrustLevel::PinMismatch`], so that status and recovery still work;
/// what that means depends on the state ([`StatusView::takeover`]).
pub async fn connect(
    address: &str,
    workspace: &Workspace,
    policy: &Arc<AppraisalPolicy>,
) -> Result<Connection, OpsError> {
    let expectation = workspace_expectation(workspace);
    let connection = |client, trust| Connection {
        client,
        trust,
        expectation: expectation.clone(),
        policy: policy.clone(),
    };
    let pin = workspace.read(ROOT_CA_FILE)?;
    if let Some(pem) = pin {
        let pem = String::from_utf8_lossy(&pem).into_owned();
        let trust = Trust::pinned_root_pem(&pem)?;
        return match CoordinatorClient::connect(address, trust).await {
            Ok(client) => Ok(connection(client, TrustLevel::Pinned)),
            Err(ClientError::Unreachable { detail, .. }) if is_certificate_rejection(&detail) => {
                let client = CoordinatorClient::connect(address, Trust::FirstUse).await?;
                Ok(connection(client, TrustLevel::PinMismatch))
            }
            Err(e) => Err(e.into()),
        };
    }
    let client = CoordinatorClient::connect(address, Trust::FirstUse).await?;
    let trust = if workspace.exists(SEED_SHARES_FILE) {
        TrustLevel::MissingPin
    } else {
        TrustLevel::FirstUse
    };
    Ok(connection(client, trust))
}

/// May a secret (a seed, a first manifest that creates one) go to the Coordinator that
/// gave `status`? Only if its evidence binds this connection, and either a TEE attests it
/// against the expected reference values, or the evidence is the development kind and the
/// operator acknowledged that (`allow_unattested`). `action` names what would be sent.
pub fn check_trusted(
    status: &StatusView,
    allow_unattested: bool,
    action: &str,
) -> Result<(), OpsError> {
    let Some(evidence) = status.evidence.as_ref() else {
        return Err(OpsError::Verification(format!(
            "the Coordinator sent no evidence, so nothing vouches for it; {action} was not sent"
        )));
    };
    if !evidence.bound() {
        return Err(OpsError::Verification(format!(
            "the Coordinator's evidence does not bind this connection's TLS key and challenge: something between you and the Coordinator (a relay or an impostor) answered. {action} was not sent"
        )));
    }
    if evidence.attested() {
        return Ok(());
    }
    if evidence.unattested() {
        return if allow_unattested {
            tracing::warn!("sending to an UNATTESTED Coordinator, as acknowledged");
            Ok(())
        } else {
            Err(OpsError::Unattested {
                action: action.to_string(),
            })
        };
    }
    let failed = evidence.verdict.problems(200);
    Err(OpsError::Verification(format!(
        "the Coordinator's {} evidence does not verify against {}: {}. {action} was not sent",
        evidence.kind.as_str(),
        evidence.source.describe(),
        failed.join("; ")
    )))
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

/// What the evidence proves about this connection (see [`crate::client::evidence`]).
pub type EvidenceView = EvidenceAppraisal;

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
    /// The Coordinator's version string, with control characters removed.
    pub version: String,
    /// The replica set it shares a store with (`--store etcd`); `None` for a single replica.
    pub replica_set: Option<ReplicaSetView>,
    /// Who recovered this process last, if it is ready by a recovery.
    pub last_recovery: Option<RecoveryView>,
}

/// A recovery: by a seed share owner (key fingerprint) or a peer replica (its id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryView {
    /// `owner` or `peer`.
    pub by: String,
    /// The owner key's fingerprint or the peer's replica id.
    pub who: String,
    pub at_unix_ms: i64,
}

impl RecoveryView {
    fn from_proto(note: pb::RecoveryNote) -> Self {
        Self {
            by: printable(&note.by),
            who: printable(&note.who),
            at_unix_ms: note.at_unix_ms,
        }
    }

    /// "by peer b, 12 s ago" / "by owner key 1a2b…, 3 min ago".
    pub fn describe(&self) -> String {
        let who = match self.by.as_str() {
            "owner" => format!("owner key {}", self.who),
            "peer" => format!("peer replica {}", self.who),
            other => format!("{other} {}", self.who),
        };
        format!("by {who}, {}", ago(self.at_unix_ms))
    }
}

/// The replica board a Coordinator serves: every replica's self-reported presence record,
/// as the answering replica last read it from the shared store. Strings are printable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSetView {
    /// The replica that answered.
    pub self_id: String,
    pub replicas: Vec<ReplicaView>,
    /// When the answering replica last read the set; `None` = never.
    pub as_of_unix_ms: Option<i64>,
    /// Why the set may be out of date.
    pub error: Option<String>,
}

/// One replica's presence record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaView {
    pub id: String,
    pub address: String,
    pub state: CoordinatorState,
    pub generation: u64,
    pub latest: Option<Digest>,
    pub evidence_kind: String,
    pub since_unix_ms: i64,
    pub last_error: Option<String>,
    /// Where its peer API is reached; `None` when it serves none (no peer recovery).
    pub peer_address: Option<String>,
    /// Who recovered it last, as its presence record says (none: never recovered).
    pub last_recovery: Option<RecoveryView>,
}

/// "12 s ago", "3 min ago", "2 h ago", "4 d ago" (`-` for an unknown or future time).
pub fn ago(unix_ms: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let secs = (now - unix_ms) / 1000;
    if unix_ms <= 0 || secs < 0 {
        return "-".into();
    }
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86400 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86400),
    }
}

impl ReplicaSetView {
    fn from_proto(set: pb::ReplicaSet) -> Self {
        Self {
            self_id: printable(&set.self_id),
            replicas: set
                .replicas
                .into_iter()
                .map(|r| ReplicaView {
                    id: printable(&r.id),
                    address: printable(&r.address),
                    state: CoordinatorState::from_proto(r.state),
                    generation: r.generation,
                    latest: Digest::from_slice(&r.latest_transition_hash).ok(),
                    evidence_kind: printable(&r.evidence_kind),
                    since_unix_ms: r.since_unix_ms,
                    last_error: non_empty(printable(&r.last_error)),
                    peer_address: non_empty(printable(&r.peer_address)),
                    last_recovery: r.last_recovery.map(RecoveryView::from_proto),
                })
                .collect(),
            as_of_unix_ms: (set.as_of_unix_ms > 0).then_some(set.as_of_unix_ms),
            error: non_empty(printable(&set.error)),
        }
    }

    /// After an owner recovered the answering replica: one line saying which other
    /// replicas will now recover from it by themselves (they take part in peer recovery
    /// and have no keys), or `None` when there are none.
    pub fn peers_will_follow(&self) -> Option<String> {
        let waiting: Vec<&str> = self
            .replicas
            .iter()
            .filter(|r| r.id != self.self_id && r.state != CoordinatorState::Ready)
            .filter(|r| r.peer_address.is_some())
            .map(|r| r.id.as_str())
            .collect();
        match waiting.len() {
            0 => None,
            1 => Some(format!(
                "the other replica ({}) will recover from this one by itself (peer recovery); no owner is needed for it",
                waiting[0]
            )),
            n => Some(format!(
                "the other {n} replicas ({}) will recover from this one by themselves (peer recovery); no owner is needed for them",
                waiting.join(", ")
            )),
        }
    }

    /// Before an owner recovers the answering replica: a warning when it would recover from
    /// a ready peer by itself (it serves the peer API and another replica is ready). An
    /// owner's recovery draws a new mesh secret, so that replica would issue under another
    /// mesh CA until it takes over the ready ones' (docs/HA.md, "One mesh CA").
    pub fn owner_recovery_not_needed(&self) -> Option<String> {
        let me = self.replicas.iter().find(|r| r.id == self.self_id)?;
        me.peer_address.as_ref()?;
        let ready: Vec<&str> = self
            .replicas
            .iter()
            .filter(|r| r.id != self.self_id && r.state == CoordinatorState::Ready)
            .map(|r| r.id.as_str())
            .collect();
        (!ready.is_empty()).then(|| {
            format!(
                "{} is ready: this replica recovers from it by itself (peer recovery), so your share is not needed. Recovered with your share, it starts with a new mesh CA and switches to the ready replicas' one a few seconds later; certificates it issues meanwhile chain to a mesh CA nobody uses afterwards",
                ready.join(", ")
            )
        })
    }

    /// How many replicas say they are ready.
    pub fn ready(&self) -> usize {
        self.replicas
            .iter()
            .filter(|r| r.state == CoordinatorState::Ready)
            .count()
    }

    /// Replicas whose latest transition differs from the newest generation's: they have
    /// not caught up (or diverged).
    pub fn behind(&self) -> Vec<&ReplicaView> {
        let newest = self
            .replicas
            .iter()
            .map(|r| r.generation)
            .max()
            .unwrap_or(0);
        self.replicas
            .iter()
            .filter(|r| r.generation < newest)
            .collect()
    }
}

impl StatusView {
    /// A *ready* Coordinator whose certificate is not from the workspace's pinned root CA:
    /// its keys are not this deployment's (a copied or replaced history, a wiped store
    /// set up again, another Coordinator at this address). Unlike a pin mismatch while
    /// recovery is required, this is never normal.
    pub fn takeover(&self) -> bool {
        self.trust == TrustLevel::PinMismatch && self.state == CoordinatorState::Ready
    }
}

pub async fn status(conn: &Connection) -> Result<StatusView, OpsError> {
    let response = conn.client.status().await?;
    Ok(status_view(conn, response))
}

pub(super) fn status_view(conn: &Connection, response: pb::GetStatusResponse) -> StatusView {
    let observed = conn.client.observed_tls_spki_sha256();
    let offered: Option<[u8; 32]> = response
        .challenge
        .as_ref()
        .and_then(|c| c.public_key.as_slice().try_into().ok());
    let evidence = response.evidence.as_ref().map(|ev| {
        appraise(
            ev,
            observed,
            offered,
            &conn.expectation,
            &conn.policy,
            std::time::SystemTime::now(),
        )
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
        version: printable(&response.version),
        replica_set: response.replica_set.map(ReplicaSetView::from_proto),
        last_recovery: response.last_recovery.map(RecoveryView::from_proto),
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

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn replica(id: &str, state: CoordinatorState, peer: bool) -> ReplicaView {
        ReplicaView {
            id: id.into(),
            address: format!("{id}:1313"),
            state,
            generation: 1,
            latest: None,
            evidence_kind: "snp".into(),
            since_unix_ms: 0,
            last_error: None,
            peer_address: peer.then(|| format!("{id}:1314")),
            last_recovery: None,
        }
    }

    fn set(self_id: &str, replicas: Vec<ReplicaView>) -> ReplicaSetView {
        ReplicaSetView {
            self_id: self_id.into(),
            replicas,
            as_of_unix_ms: None,
            error: None,
        }
    }

    #[test]
    fn after_an_owner_recovery_the_replicas_with_a_peer_api_are_named() {
        use CoordinatorState::{Ready, RecoveryRequired};
        let board = set(
            "a",
            vec![
                replica("a", Ready, true),
                replica("b", RecoveryRequired, true),
                replica("c", RecoveryRequired, true),
                replica("d", RecoveryRequired, false),
            ],
        );
        assert_eq!(
            board.peers_will_follow().unwrap(),
            "the other 2 replicas (b, c) will recover from this one by themselves (peer recovery); no owner is needed for them"
        );
        let alone = set(
            "a",
            vec![
                replica("a", Ready, true),
                replica("d", RecoveryRequired, false),
            ],
        );
        assert_eq!(alone.peers_will_follow(), None);
    }

    #[test]
    fn an_owner_recovery_is_discouraged_while_a_peer_is_ready() {
        use CoordinatorState::{Ready, RecoveryRequired};
        let board = set(
            "b",
            vec![
                replica("a", Ready, true),
                replica("b", RecoveryRequired, true),
            ],
        );
        assert!(
            board
                .owner_recovery_not_needed()
                .unwrap()
                .starts_with("a is ready")
        );
        let no_peer_api = set(
            "b",
            vec![
                replica("a", Ready, true),
                replica("b", RecoveryRequired, false),
            ],
        );
        assert_eq!(no_peer_api.owner_recovery_not_needed(), None);
        let nobody_ready = set(
            "b",
            vec![
                replica("a", RecoveryRequired, true),
                replica("b", RecoveryRequired, true),
            ],
        );
        assert_eq!(nobody_ready.owner_recovery_not_needed(), None);
    }
}
