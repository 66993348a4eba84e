//! The operations layer: every operator action, as plain async functions over a connected
//! client and a workspace. The TUI runs them as effects off the UI task; the subcommands run
//! them directly. Nothing here prints or draws.
//!
//! Each flow is split into the steps the UI shows (e.g. recovery: decrypt → pre-flight →
//! confirm → send → re-verify), and each step returns a typed report or an [`OpsError`]
//! whose message says what happened and what to do next. No error carries secret bytes.

use std::path::PathBuf;

use p384::ecdsa::VerifyingKey;
use p384::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};
use rand_core::OsRng;
use seedward_coordinator::evidence::report_data;
use seedward_proto::v1 as pb;
use seedward_shared::history::{
    ChainEntry, ChainFailure, Digest, EntryStatus, LatestTransition, Transition,
    verify_manifest_list,
};
use seedward_shared::keys::{Fingerprint, OwnerKeyPair, WorkloadOwnerKeyPair};
use seedward_shared::manifest::Manifest;
use seedward_shared::recovery::seal_recovery;
use seedward_shared::seed::{Salt, Seed, SeedEngine};
use seedward_shared::seedshare::SeedShareDocument;

use crate::client::{ClientError, CoordinatorClient, Reason, Trust, error_chain};
use crate::workspace::{
    MANIFEST_FILE, MESH_CA_FILE, ROOT_CA_FILE, SEED_SHARES_FILE, SIGNING_KEY_FILE, Workspace,
    WorkspaceError,
};

/// What went wrong in an operation, phrased for the operator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpsError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    /// The Coordinator refused; `reason` is its machine-readable reason.
    #[error("the Coordinator refused: {message}")]
    Refused {
        code: tonic::Code,
        reason: Option<Reason>,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
    /// Verification failed: the history, a signature, a key or a certificate does not check out.
    #[error("verification failed: {0}")]
    Verification(String),
}

impl OpsError {
    /// The Coordinator's reason (`STALE_LATEST`, `WRONG_SEED`, …), if it refused.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            OpsError::Refused { reason, .. } => *reason,
            _ => None,
        }
    }

    pub fn is_unreachable(&self) -> bool {
        matches!(self, OpsError::Client(ClientError::Unreachable { .. }))
            || matches!(
                self,
                OpsError::Refused {
                    code: tonic::Code::Unavailable,
                    reason: None,
                    ..
                }
            )
    }
}

impl From<tonic::Status> for OpsError {
    fn from(status: tonic::Status) -> Self {
        let reason = Reason::of(&status);
        let message = if reason.is_some() {
            status.message().to_string()
        } else if status.code() == tonic::Code::Unavailable || status.code() == tonic::Code::Unknown
        {
            format!("the Coordinator is unreachable: {}", error_chain(&status))
        } else {
            status.message().to_string()
        };
        OpsError::Refused {
            code: status.code(),
            reason,
            message,
        }
    }
}

// ----------------------------------------------------------------------------------------
// Connecting and status
// ----------------------------------------------------------------------------------------

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

fn is_certificate_rejection(detail: &str) -> bool {
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

fn status_view(conn: &Connection, response: pb::GetStatusResponse) -> StatusView {
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

fn non_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

/// The fingerprint of a PEM certificate's key (over its SubjectPublicKeyInfo DER).
pub fn cert_key_fingerprint(pem: &str) -> Option<String> {
    let der = pem_certificate_der(pem)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    Some(Fingerprint::of(cert.public_key().raw).to_string())
}

fn pem_certificate_der(pem: &str) -> Option<Vec<u8>> {
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

// ----------------------------------------------------------------------------------------
// First-time setup
// ----------------------------------------------------------------------------------------

/// What the first `SetManifest` produced and where it was saved.
#[derive(Debug, Clone)]
pub struct SetupOutcome {
    pub transition: Digest,
    pub generation: u64,
    pub seed_shares: usize,
    pub files: Vec<PathBuf>,
}

/// Checks, before anything is sent, that the results of a first set can be saved.
pub fn check_setup_preconditions(workspace: &Workspace) -> Result<(), OpsError> {
    if workspace.exists(SEED_SHARES_FILE) {
        return Err(OpsError::Invalid(format!(
            "{} already exists in {}: this workspace already holds a deployment's seed shares. Use a new workspace directory for a new Coordinator",
            SEED_SHARES_FILE,
            workspace.dir().display()
        )));
    }
    let not_writable = |e: std::io::Error| WorkspaceError::Io {
        path: workspace.dir().to_path_buf(),
        message: format!("not writable: {e}"),
    };
    let dir = seedward_fs::Dir::create(workspace.dir(), 0o700).map_err(not_writable)?;
    let probe = ".seedward-write-probe";
    dir.write_atomic(probe, b"probe", 0o600)
        .map_err(not_writable)?;
    let _ = dir.remove(probe);
    Ok(())
}

/// Sends the first manifest and saves the seed shares (0600), the CA certificates and the
/// manifest in the workspace.
pub async fn set_first_manifest(
    conn: &Connection,
    workspace: &Workspace,
    manifest: &Manifest,
    policies: Vec<Vec<u8>>,
) -> Result<SetupOutcome, OpsError> {
    check_setup_preconditions(workspace)?;
    let response = conn
        .client
        .set_manifest(pb::SetManifestRequest {
            manifest: manifest.raw().to_vec(),
            policies,
            previous_transition_hash: Some(Digest::ZERO.as_bytes().to_vec()),
            signature: Vec::new(),
        })
        .await?;
    let doc = response.seed_share_document.ok_or_else(|| {
        OpsError::Verification(
            "the Coordinator did not return a seed share document for the first manifest".into(),
        )
    })?;
    let document = document_from_proto(doc)?;
    let json = document.to_json();
    let mut files = vec![workspace.write_secret(SEED_SHARES_FILE, json.as_bytes())?];
    files.push(workspace.write_public(ROOT_CA_FILE, response.root_ca_cert.as_bytes())?);
    files.push(workspace.write_public(MESH_CA_FILE, response.mesh_ca_cert.as_bytes())?);
    files.push(workspace.write_public(MANIFEST_FILE, manifest.raw())?);
    let transition = Digest::from_slice(&response.transition_hash).map_err(|_| {
        OpsError::Verification("the Coordinator returned a malformed transition hash".into())
    })?;
    remember_position(workspace, response.generation, transition)?;
    Ok(SetupOutcome {
        transition,
        generation: response.generation,
        seed_shares: document.seed_shares.len(),
        files,
    })
}

/// Converts the proto seed share document into the `seed-shares.json` model.
pub fn document_from_proto(doc: pb::SeedShareDocument) -> Result<SeedShareDocument, OpsError> {
    let salt = Salt::from_slice(&doc.salt).map_err(|e| {
        OpsError::Verification(format!(
            "the returned seed share document has a malformed salt: {e}"
        ))
    })?;
    Ok(SeedShareDocument {
        seed_shares: doc
            .seed_shares
            .into_iter()
            .map(|s| seedward_shared::seedshare::SeedShare {
                public_key: s.public_key,
                encrypted_seed: s.encrypted_seed,
            })
            .collect(),
        salt,
    })
}

/// A seed share decrypted with an owner key. Zeroized on drop (through [`Seed`]).
pub struct DecryptedShare {
    pub seed: Seed,
    pub salt: Salt,
    pub owner_fingerprint: String,
}

impl std::fmt::Debug for DecryptedShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptedShare")
            .field("owner_fingerprint", &self.owner_fingerprint)
            .finish_non_exhaustive()
    }
}

impl DecryptedShare {
    pub fn engine(&self) -> Result<SeedEngine, OpsError> {
        SeedEngine::new(&self.seed, &self.salt)
            .map_err(|e| OpsError::Verification(format!("the decrypted seed is unusable: {e}")))
    }
}

/// Reads `seed-shares.json` from the workspace (or `path`) and decrypts the share of `owner`.
pub fn decrypt_share(
    workspace: &Workspace,
    path: Option<&std::path::Path>,
    owner: &OwnerKeyPair,
) -> Result<DecryptedShare, OpsError> {
    let path = path
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.path(SEED_SHARES_FILE));
    let bytes = std::fs::read(&path).map_err(|e| WorkspaceError::Io {
        path: path.clone(),
        message: if e.kind() == std::io::ErrorKind::NotFound {
            "not found: the seed share document written at setup is needed (pass its path)".into()
        } else {
            e.to_string()
        },
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| OpsError::Invalid(format!("{} is not UTF-8 JSON", path.display())))?;
    let document = SeedShareDocument::from_json(&text)
        .map_err(|e| OpsError::Invalid(format!("{}: {e}", path.display())))?;
    let (seed, salt) = document
        .open_with(owner)
        .map_err(|e| OpsError::Verification(e.to_string()))?;
    Ok(DecryptedShare {
        seed,
        salt,
        owner_fingerprint: owner.public_key().fingerprint().to_string(),
    })
}

/// The result of proving that a seed share recovers this Coordinator.
#[derive(Debug, Clone)]
pub struct DrillReport {
    pub owner_fingerprint: String,
    pub generation: u64,
    pub latest: Digest,
    pub root_ca_matches: bool,
    pub signing_key_file: PathBuf,
}

/// The share drill: decrypt the own share, derive the signing key, verify the Coordinator's
/// history and root CA with it, and save the signing public key for later audits.
pub async fn share_drill(
    conn: &Connection,
    workspace: &Workspace,
    owner: &OwnerKeyPair,
) -> Result<DrillReport, OpsError> {
    let share = decrypt_share(workspace, None, owner)?;
    let engine = share.engine()?;
    let response = conn.client.manifests().await?;
    let latest =
        LatestTransition::from_parts(&response.latest_transition_hash, &response.latest_signature)
            .map_err(|e| {
                OpsError::Verification(format!("the latest transition is malformed: {e}"))
            })?;
    let verifying = *engine.transaction_verifying_key();
    verify_manifest_list(&response.manifests, &latest, &verifying).map_err(|f| {
        OpsError::Verification(format!(
            "your seed share does not verify this Coordinator's history: {}",
            f.reason
        ))
    })?;
    let derived_root = engine.root_ca_key().public_key();
    let pinned_root = workspace
        .read(ROOT_CA_FILE)?
        .and_then(|b| cert_public_key(&String::from_utf8_lossy(&b)));
    let root_ca_matches = cert_public_key(&response.root_ca_cert)
        .is_some_and(|k| k == derived_root)
        && pinned_root.is_some_and(|k| k == derived_root);
    if !root_ca_matches {
        return Err(OpsError::Verification(
            "the Coordinator's root CA key (or the one pinned in coordinator-root-ca.pem) is not the one derived from your seed share".into(),
        ));
    }
    let pem = verifying
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| OpsError::Invalid(format!("cannot encode the signing key: {e}")))?;
    let signing_key_file = workspace.write_public(SIGNING_KEY_FILE, pem.as_bytes())?;
    Ok(DrillReport {
        owner_fingerprint: share.owner_fingerprint.clone(),
        generation: response.manifests.len() as u64,
        latest: latest.transition_hash(),
        root_ca_matches,
        signing_key_file,
    })
}

// ----------------------------------------------------------------------------------------
// History audit
// ----------------------------------------------------------------------------------------

/// Where the key that verified the history came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKeySource {
    /// Derived from the operator's own seed share.
    SeedShare,
    /// `history-signing-key.pem`, saved by the share drill at setup.
    SavedKey,
    /// No key available: the chain was re-hashed but the signature not checked.
    None,
}

/// One audited generation.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub chain: ChainEntry,
    pub manifest_bytes: Vec<u8>,
    /// `None` when the stored manifest no longer parses (shown raw).
    pub manifest: Option<Manifest>,
}

impl AuditEntry {
    pub fn verified(&self) -> bool {
        matches!(self.chain.status, EntryStatus::Verified)
    }
}

/// The whole history as audited by the client.
#[derive(Debug, Clone)]
pub struct AuditedHistory {
    pub entries: Vec<AuditEntry>,
    pub policies: Vec<Vec<u8>>,
    pub latest: LatestTransition,
    pub key_source: SigningKeySource,
    /// The Coordinator's own claim (false while recovery is required).
    pub coordinator_verified: bool,
    /// `None` when the signature was checked and everything holds; otherwise why not.
    pub failure: Option<String>,
    pub root_ca_cert: String,
    pub mesh_ca_cert: String,
}

impl AuditedHistory {
    pub fn all_verified(&self) -> bool {
        self.failure.is_none() && self.key_source != SigningKeySource::None
    }

    pub fn generation(&self) -> u64 {
        self.entries.len() as u64
    }

    pub fn active(&self) -> Option<&AuditEntry> {
        self.entries.last()
    }
}

/// The signing key saved at setup, if any.
pub fn saved_signing_key(workspace: &Workspace) -> Result<Option<VerifyingKey>, OpsError> {
    let Some(bytes) = workspace.read(SIGNING_KEY_FILE)? else {
        return Ok(None);
    };
    let pem = String::from_utf8_lossy(&bytes);
    VerifyingKey::from_public_key_pem(&pem)
        .map(Some)
        .map_err(|_| OpsError::Invalid(format!("{SIGNING_KEY_FILE} is not a P-384 public key PEM")))
}

/// Fetches and verifies the whole history with `key` (from the seed share or saved at setup).
pub async fn audit_history(
    conn: &Connection,
    key: Option<(VerifyingKey, SigningKeySource)>,
) -> Result<AuditedHistory, OpsError> {
    let response = conn.client.manifests().await?;
    audit_response(response, key)
}

/// Verifies a `GetManifests` response (or an offline bundle converted to one).
pub fn audit_response(
    response: pb::GetManifestsResponse,
    key: Option<(VerifyingKey, SigningKeySource)>,
) -> Result<AuditedHistory, OpsError> {
    let latest =
        LatestTransition::from_parts(&response.latest_transition_hash, &response.latest_signature)
            .map_err(|e| {
                OpsError::Verification(format!("the latest transition is malformed: {e}"))
            })?;
    let (chain, failure, key_source) = match &key {
        Some((key, source)) => match verify_manifest_list(&response.manifests, &latest, key) {
            Ok(entries) => (entries, None, *source),
            Err(ChainFailure { reason, entries }) => (entries, Some(reason.to_string()), *source),
        },
        None => {
            let chain = seedward_shared::history::chain_from_manifests(&response.manifests);
            let tip_ok = chain
                .last()
                .is_some_and(|(h, _)| *h == latest.transition_hash());
            let entries = chain
                .into_iter()
                .enumerate()
                .map(|(i, (transition_hash, t))| ChainEntry {
                    generation: i as u64 + 1,
                    manifest_hash: t.manifest_hash,
                    previous: t.previous,
                    transition_hash,
                    status: EntryStatus::Unverified(
                        seedward_shared::history::ChainError::BadSignature,
                    ),
                })
                .collect();
            let failure = if tip_ok {
                "no signing key available: the chain re-hashes to the latest transition, but its signature was not checked (run the share drill or pass your seed share)".to_string()
            } else {
                "the manifests do not re-hash to the latest transition".to_string()
            };
            (entries, Some(failure), SigningKeySource::None)
        }
    };
    let entries = chain
        .into_iter()
        .zip(response.manifests)
        .map(|(chain, bytes)| AuditEntry {
            manifest: Manifest::parse(bytes.clone()).ok(),
            manifest_bytes: bytes,
            chain,
        })
        .collect();
    Ok(AuditedHistory {
        entries,
        policies: response.policies,
        latest,
        key_source,
        coordinator_verified: response.verified,
        failure,
        root_ca_cert: response.root_ca_cert,
        mesh_ca_cert: response.mesh_ca_cert,
    })
}

// ----------------------------------------------------------------------------------------
// Recovery
// ----------------------------------------------------------------------------------------

/// The pre-flight's verdict: the stored history verifies with the key derived from the seed.
#[derive(Debug, Clone)]
pub struct Preflight {
    pub status: StatusView,
    pub generation: u64,
    pub latest: Digest,
    /// The root CA public key derived from the seed: after recovery the Coordinator's
    /// certificate must chain to it.
    pub root_key: p384::PublicKey,
    /// Every transition hash of the verified stored history, oldest first.
    pub chain: Vec<Digest>,
}

/// Checks, before anything secret is sent, that the Coordinator needs recovery and that its
/// stored (unverified) history verifies with the signing key derived from `share`.
pub async fn recovery_preflight(
    conn: &Connection,
    share: &DecryptedShare,
) -> Result<Preflight, OpsError> {
    preflight_steps(conn, share).await.map_err(|e| match e {
        PreflightError::Ops(e) => e,
        PreflightError::Chain { failure, .. } => OpsError::Verification(format!(
            "pre-flight: the Coordinator's stored history does not verify with the key derived from your seed share ({}). Nothing was sent. Check that this is the right Coordinator and the right seed-shares.json",
            failure.reason
        )),
    })
}

/// Like [`recovery_preflight`], but a failure is diagnosed with what the workspace knows
/// (the pinned root CA key, the last transition it saw) and comes back as
/// [`OpsError::Verification`] with a [`PreflightFailure`]'s message: another deployment's
/// share, another deployment's Coordinator, a tampered latest pointer and a damaged store
/// each say so, and what to do next. Nothing is sent in any case.
pub async fn recovery_preflight_explained(
    conn: &Connection,
    share: &DecryptedShare,
    workspace: &Workspace,
) -> Result<Preflight, OpsError> {
    match preflight_steps(conn, share).await {
        Ok(p) => Ok(p),
        Err(PreflightError::Ops(e)) if e.reason() == Some(Reason::HistoryCorrupt) => {
            let detail = match &e {
                OpsError::Refused { message, .. } => message.clone(),
                other => other.to_string(),
            };
            Err(OpsError::Verification(
                PreflightFailure::StoreDamaged { detail }.to_string(),
            ))
        }
        Err(PreflightError::Ops(e)) => Err(e),
        Err(PreflightError::Chain {
            failure,
            chain,
            derived_root,
        }) => Err(OpsError::Verification(
            diagnose_preflight(workspace, &failure, &chain, &derived_root)?.to_string(),
        )),
    }
}

/// Why a pre-flight refused, diagnosed for the operator. Each message ends with what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PreflightFailure {
    /// The root CA key derived from the seed is not the pinned one: the seed share belongs
    /// to another deployment than this workspace.
    OtherDeployment { derived: String, pinned: String },
    /// The seed is this workspace's, but the Coordinator's chain does not contain the
    /// transition this workspace saw last and its signature does not verify: it serves
    /// another deployment's history.
    OtherCoordinator { seen: Digest },
    /// The seed is this deployment's and the chain is the one this workspace saw, but the
    /// signature of the latest pointer does not verify: `transitions/latest` was altered.
    LatestTampered,
    /// The manifests do not re-hash to the signed latest transition.
    ChainBroken { reason: String },
    /// The Coordinator refuses to serve its history because a stored file is damaged.
    StoreDamaged { detail: String },
    /// None of the above could be told apart (e.g. no pin in the workspace).
    Unverified { reason: String },
}

impl std::fmt::Display for PreflightFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PreflightFailure::OtherDeployment { derived, pinned } => write!(
                f,
                "this seed share belongs to another deployment: the root CA key derived from it ({derived}) is not the one pinned in {ROOT_CA_FILE} ({pinned}). Nothing was sent. Put this deployment's {SEED_SHARES_FILE} (from your backup) into the workspace and start the recovery again"
            ),
            PreflightFailure::OtherCoordinator { seen } => write!(
                f,
                "this Coordinator serves another deployment's history: it does not contain transition {} that this workspace saw last, and its signature does not verify with your seed. Nothing was sent. Check the Coordinator's address",
                seen.short()
            ),
            PreflightFailure::LatestTampered => write!(
                f,
                "the Coordinator's latest pointer (transitions/latest in its state directory) is not signed by your deployment's key, although your seed share is this deployment's: the stored history was tampered with or damaged. Nothing was sent. Restore the Coordinator's history/ from a backup (no restart is needed), then run the pre-flight again"
            ),
            PreflightFailure::ChainBroken { reason } => write!(
                f,
                "the Coordinator's stored manifests do not re-hash to its signed latest transition ({reason}): a stored manifest was changed. Nothing was sent. Restore the Coordinator's history/ from a backup, then run the pre-flight again"
            ),
            PreflightFailure::StoreDamaged { detail } => write!(
                f,
                "the Coordinator reports a damaged file in its stored history: {detail}. Nothing was sent. Restore that file from a backup of the Coordinator's state directory, then run the pre-flight again"
            ),
            PreflightFailure::Unverified { reason } => write!(
                f,
                "the Coordinator's stored history does not verify with the key derived from your seed share ({reason}). Nothing was sent. Check that this is the right Coordinator and the right {SEED_SHARES_FILE}"
            ),
        }
    }
}

/// Tells apart why the stored history did not verify with the seed's key.
fn diagnose_preflight(
    workspace: &Workspace,
    failure: &ChainFailure,
    chain: &[Digest],
    derived_root: &p384::PublicKey,
) -> Result<PreflightFailure, OpsError> {
    use seedward_shared::history::ChainError;
    if !matches!(failure.reason, ChainError::BadSignature) {
        return Ok(PreflightFailure::ChainBroken {
            reason: failure.reason.to_string(),
        });
    }
    let key_fp = |k: &p384::PublicKey| {
        k.to_public_key_der()
            .map(|der| Fingerprint::of(der.as_bytes()).to_string())
            .unwrap_or_default()
    };
    let pinned = workspace
        .read(ROOT_CA_FILE)?
        .and_then(|b| cert_public_key(&String::from_utf8_lossy(&b)));
    let Some(pinned) = pinned else {
        return Ok(PreflightFailure::Unverified {
            reason: failure.reason.to_string(),
        });
    };
    if pinned != *derived_root {
        return Ok(PreflightFailure::OtherDeployment {
            derived: key_fp(derived_root),
            pinned: key_fp(&pinned),
        });
    }
    if let Some(seen) = last_seen(workspace)?
        && !chain.contains(&seen)
    {
        return Ok(PreflightFailure::OtherCoordinator { seen });
    }
    Ok(PreflightFailure::LatestTampered)
}

/// The transition recorded in `last-seen-transition`, if any and well-formed.
fn last_seen(workspace: &Workspace) -> Result<Option<Digest>, OpsError> {
    let Some(bytes) = workspace.read(LAST_SEEN_FILE)? else {
        return Ok(None);
    };
    Ok(String::from_utf8_lossy(&bytes)
        .split_whitespace()
        .nth(1)
        .and_then(|h| h.parse().ok()))
}

/// A pre-flight's failure before it is phrased.
enum PreflightError {
    Ops(OpsError),
    /// The stored history does not verify with the seed's key.
    Chain {
        failure: ChainFailure,
        /// The rebuilt (unverified) transition hashes, oldest first.
        chain: Vec<Digest>,
        derived_root: p384::PublicKey,
    },
}

impl From<OpsError> for PreflightError {
    fn from(e: OpsError) -> Self {
        PreflightError::Ops(e)
    }
}

async fn preflight_steps(
    conn: &Connection,
    share: &DecryptedShare,
) -> Result<Preflight, PreflightError> {
    let status = status(conn).await?;
    match status.state {
        CoordinatorState::RecoveryRequired | CoordinatorState::Stale => {}
        other => {
            return Err(PreflightError::Ops(OpsError::Invalid(format!(
                "the Coordinator is {}, not awaiting recovery; nothing to do",
                other.label()
            ))));
        }
    }
    let engine = share.engine()?;
    let response = conn.client.manifests().await.map_err(OpsError::from)?;
    let latest =
        LatestTransition::from_parts(&response.latest_transition_hash, &response.latest_signature)
            .map_err(|e| {
                OpsError::Verification(format!("the stored latest transition is malformed: {e}"))
            })?;
    let verified = match verify_manifest_list(
        &response.manifests,
        &latest,
        engine.transaction_verifying_key(),
    ) {
        Ok(v) => v,
        Err(failure) => {
            let chain = failure.entries.iter().map(|e| e.transition_hash).collect();
            return Err(PreflightError::Chain {
                failure,
                chain,
                derived_root: engine.root_ca_key().public_key(),
            });
        }
    };
    if status.latest != Some(latest.transition_hash()) {
        return Err(PreflightError::Ops(OpsError::Verification(
            "pre-flight: the history changed between status and fetch; run the recovery again"
                .into(),
        )));
    }
    Ok(Preflight {
        generation: response.manifests.len() as u64,
        latest: latest.transition_hash(),
        root_key: engine.root_ca_key().public_key(),
        chain: verified.iter().map(|e| e.transition_hash).collect(),
        status,
    })
}

/// Seals seed ‖ salt to the Coordinator's challenge (HPKE auth mode) and sends `Recover`.
/// Consumes the share so that the seed is zeroized as soon as it is sealed.
pub async fn send_recovery(
    conn: &Connection,
    owner: &OwnerKeyPair,
    share: DecryptedShare,
    preflight: &Preflight,
) -> Result<pb::RecoverResponse, OpsError> {
    // Always seal to a fresh challenge: the one from the pre-flight may be about to expire.
    let status = status(conn).await?;
    let evidence = status
        .evidence
        .as_ref()
        .filter(|e| e.binding_ok && e.tls_key_matches && e.challenge_bound)
        .ok_or_else(|| {
            OpsError::Verification(
                "the Coordinator's evidence does not bind this connection's TLS key and this recovery challenge; nothing was sent".into(),
            )
        })?;
    let confirmed_tls = preflight
        .status
        .evidence
        .as_ref()
        .map(|e| e.tls_spki_sha256.as_str());
    if confirmed_tls != Some(evidence.tls_spki_sha256.as_str()) {
        return Err(OpsError::Verification(
            "the Coordinator's TLS key changed since the pre-flight you confirmed; nothing was sent. Run the recovery again".into(),
        ));
    }
    let challenge = status.challenge.ok_or_else(|| {
        OpsError::Invalid(format!(
            "the Coordinator is {} and offers no recovery challenge",
            status.state.label()
        ))
    })?;
    let challenge_latest = Digest::from_slice(&challenge.latest_transition_hash).map_err(|_| {
        OpsError::Verification("the challenge names a malformed transition hash".into())
    })?;
    if challenge_latest != preflight.latest {
        return Err(OpsError::Verification(
            "the challenge is bound to a different history than the one verified in the pre-flight; run the recovery again".into(),
        ));
    }
    let public: [u8; 32] = challenge
        .public_key
        .as_slice()
        .try_into()
        .map_err(|_| OpsError::Verification("the challenge key is not 32 bytes".into()))?;
    let nonce: [u8; 32] = challenge
        .nonce
        .as_slice()
        .try_into()
        .map_err(|_| OpsError::Verification("the challenge nonce is not 32 bytes".into()))?;
    let envelope = seal_recovery(
        owner,
        &public,
        &nonce,
        challenge_latest.as_bytes(),
        &share.seed,
        &share.salt,
        &mut OsRng,
    )
    .map_err(|e| OpsError::Invalid(format!("cannot seal the recovery envelope: {e}")))?;
    drop(share);
    let response = conn
        .client
        .recover(pb::RecoverRequest {
            challenge_id: challenge.id,
            owner_public_key: owner.public_key().as_bytes().to_vec(),
            encapsulated_key: envelope.encapsulated_key.to_vec(),
            ciphertext: envelope.ciphertext,
        })
        .await?;
    Ok(response)
}

/// After recovery: reconnect pinned, and check state, root CA key and history.
#[derive(Debug, Clone)]
pub struct Reverify {
    pub status: StatusView,
    pub root_ca_matches_pin: bool,
    pub history_unchanged: bool,
    pub mesh_ca_changed: bool,
}

pub async fn reverify_after_recovery(
    address: &str,
    workspace: &Workspace,
    preflight: &Preflight,
    response: &pb::RecoverResponse,
) -> Result<Reverify, OpsError> {
    let not_ours = || {
        OpsError::Verification(
            "after recovery the Coordinator does not present a certificate from the root CA derived from your seed: it is not the Coordinator your seed share belongs to".into(),
        )
    };
    // The identity to check against is the root CA key derived from the seed. Where the
    // workspace has a pin, it must be that same key; where it has none (recovering from a
    // copied seed-shares.json), the root CA certificate the Coordinator now serves is
    // accepted only if it carries the derived key, and then becomes the pin.
    let pinned = workspace
        .read(ROOT_CA_FILE)?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let pem = match pinned {
        Some(pin) => {
            if cert_public_key(&pin) != Some(preflight.root_key) {
                return Err(OpsError::Verification(format!(
                    "{ROOT_CA_FILE} in this workspace pins a different root CA than the one derived from your seed share: this workspace belongs to another deployment"
                )));
            }
            pin
        }
        None => {
            let unpinned = CoordinatorClient::connect(address, Trust::FirstUse).await?;
            let served = unpinned.status().await?.root_ca_cert;
            if cert_public_key(&served) != Some(preflight.root_key) {
                return Err(not_ours());
            }
            served
        }
    };
    // A connection that verifies against the root key: the Coordinator's TLS certificate is
    // signed by it, so only a holder of the seed can present it.
    let client = CoordinatorClient::connect(address, Trust::pinned_root_pem(&pem)?)
        .await
        .map_err(|e| match e {
            ClientError::Unreachable { detail, .. } if is_certificate_rejection(&detail) => {
                not_ours()
            }
            other => other.into(),
        })?;
    let conn = Connection {
        client,
        trust: TrustLevel::Pinned,
    };
    let status = status(&conn).await?;
    if status.state != CoordinatorState::Ready {
        return Err(OpsError::Verification(format!(
            "after recovery the Coordinator is {}, not ready",
            status.state.label()
        )));
    }
    if status.root_ca_pem.as_deref().and_then(cert_public_key) != Some(preflight.root_key) {
        return Err(not_ours());
    }
    workspace.write_public(ROOT_CA_FILE, pem.as_bytes())?;
    if let Some(latest) = status.latest {
        remember_position(workspace, status.generation, latest)?;
    }
    let previous_mesh = workspace.read(MESH_CA_FILE)?;
    let mesh_ca_changed = previous_mesh.as_deref() != Some(response.mesh_ca_cert.as_bytes());
    workspace.write_public(MESH_CA_FILE, response.mesh_ca_cert.as_bytes())?;
    Ok(Reverify {
        history_unchanged: status.latest == Some(preflight.latest)
            && status.generation == preflight.generation,
        root_ca_matches_pin: true,
        mesh_ca_changed,
        status,
    })
}

/// Where the workspace last saw the history (`last-seen-transition`): generation and hash.
pub const LAST_SEEN_FILE: &str = "last-seen-transition";

/// Records the history position this workspace has seen verified, so that a later
/// recovery can refuse a rolled-back store.
pub fn remember_position(
    workspace: &Workspace,
    generation: u64,
    latest: Digest,
) -> Result<(), OpsError> {
    workspace.write_public(
        LAST_SEEN_FILE,
        format!("{generation} {latest}\n").as_bytes(),
    )?;
    Ok(())
}

/// Refuses a pre-flight whose verified history does not contain the transition this
/// workspace saw last: the store was rolled back to an older (validly signed) state, or
/// belongs to another deployment. `force` accepts it, for an operator who restored a backup
/// on purpose.
pub fn check_rollback(
    workspace: &Workspace,
    preflight: &Preflight,
    force: bool,
) -> Result<(), OpsError> {
    let Some(bytes) = workspace.read(LAST_SEEN_FILE)? else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut parts = text.split_whitespace();
    let (Some(generation), Some(hash)) = (parts.next(), parts.next()) else {
        return Err(OpsError::Invalid(format!(
            "{LAST_SEEN_FILE} is malformed; expected `<generation> <hex hash>`"
        )));
    };
    let seen: Digest = hash.parse().map_err(|_| {
        OpsError::Invalid(format!(
            "{LAST_SEEN_FILE} names a malformed transition hash"
        ))
    })?;
    if preflight.chain.contains(&seen) || force {
        return Ok(());
    }
    Err(OpsError::Verification(format!(
        "the Coordinator's stored history (generation {}) does not contain transition {} (generation {generation}) that this workspace saw last: the state was rolled back or replaced. Nothing was sent. If you restored an older backup on purpose, recover with --force",
        preflight.generation,
        seen.short()
    )))
}

// ----------------------------------------------------------------------------------------
// Manifest updates
// ----------------------------------------------------------------------------------------

/// The result of a signed, atomic update.
#[derive(Debug, Clone)]
pub struct UpdateOutcome {
    pub transition: Digest,
    pub generation: u64,
}

/// The transition a new manifest would create on top of `audited_latest`.
pub fn proposed_transition(manifest: &Manifest, audited_latest: Digest) -> Digest {
    Transition::after(audited_latest, manifest.hash()).hash()
}

/// Signs the transition with the workload owner key and sets it atomically against
/// `audited_latest`. A lost race comes back as `OpsError::Refused` with reason STALE_LATEST.
pub async fn update_manifest(
    conn: &Connection,
    workspace: &Workspace,
    manifest: &Manifest,
    policies: Vec<Vec<u8>>,
    key: &WorkloadOwnerKeyPair,
    audited_latest: Digest,
) -> Result<UpdateOutcome, OpsError> {
    if conn.trust != TrustLevel::Pinned {
        return Err(OpsError::Verification(
            "refusing to update: the connection is not verified against the pinned root CA (coordinator-root-ca.pem)".into(),
        ));
    }
    let transition = proposed_transition(manifest, audited_latest);
    let signature = key
        .sign_transition(transition.as_bytes())
        .map_err(|e| OpsError::Invalid(format!("cannot sign the transition: {e}")))?;
    let response = conn
        .client
        .set_manifest(pb::SetManifestRequest {
            manifest: manifest.raw().to_vec(),
            policies,
            previous_transition_hash: Some(audited_latest.as_bytes().to_vec()),
            signature,
        })
        .await?;
    let got = Digest::from_slice(&response.transition_hash).map_err(|_| {
        OpsError::Verification("the Coordinator returned a malformed transition hash".into())
    })?;
    if got != transition {
        return Err(OpsError::Verification(format!(
            "the Coordinator recorded transition {got}, not the signed {transition}"
        )));
    }
    workspace.write_public(MESH_CA_FILE, response.mesh_ca_cert.as_bytes())?;
    workspace.write_public(MANIFEST_FILE, manifest.raw())?;
    remember_position(workspace, response.generation, transition)?;
    Ok(UpdateOutcome {
        transition,
        generation: response.generation,
    })
}

/// Derives a workload secret offline from the owner's seed share.
pub fn workload_secret(
    share: &DecryptedShare,
    id: &str,
) -> Result<seedward_shared::secret::SecretBytes, OpsError> {
    share
        .engine()?
        .derive_workload_secret(id)
        .map_err(|e| OpsError::Invalid(e.to_string()))
}
