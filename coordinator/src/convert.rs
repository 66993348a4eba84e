//! The edge between the wire and the core: `seedward.v1` messages to the core's domain
//! values and back. The stateless request checks live here (and in
//! [`crate::core::check_input`]), public so that the fuzz targets run exactly what the
//! service runs (docs/FUZZING.md).

use seedward_etcd::ReplicaState;
use seedward_proto::v1 as pb;
use seedward_shared::history::Digest;
use seedward_shared::keys::OwnerPublicKey;
use seedward_shared::manifest::Manifest;
use seedward_shared::recovery::RecoveryEnvelope;
use seedward_shared::seedshare::SeedShareDocument;

use crate::core::{
    CoreConfig, HistoryReport, RecoverInput, RecoverOutcome, SessionEnd, SessionInput,
    SessionReport, SetManifestInput, SetOutcome, StatusReport, check_input,
};
use crate::error::{CoreError, StateName};
use crate::replicas::ReplicaBoard;

/// The stateless shape check of a `SetManifest` request: the optional previous transition
/// hash must be 32 bytes.
pub fn set_manifest_input(req: pb::SetManifestRequest) -> Result<SetManifestInput, CoreError> {
    let previous = req
        .previous_transition_hash
        .as_deref()
        .map(|b| digest_field("previous_transition_hash", b))
        .transpose()?;
    Ok(SetManifestInput {
        manifest: req.manifest,
        policies: req.policies,
        previous,
        signature: req.signature,
    })
}

/// Everything the Coordinator checks about a `SetManifest` request before it looks at its
/// state: shapes, sizes against `config`, the manifest parsed and validated against the
/// supplied policies.
pub fn check_set_manifest_request(
    config: &CoreConfig,
    req: &pb::SetManifestRequest,
) -> Result<(SetManifestInput, Manifest), CoreError> {
    let input = set_manifest_input(req.clone())?;
    let manifest = check_input(config, &input)?;
    Ok((input, manifest))
}

/// The stateless conversion of a `Recover` request: key lengths and the owner key.
/// A share submission or cancel request: the same shape checks as `Recover`'s.
pub fn session_input(req: pb::RecoverySessionEnvelope) -> Result<SessionInput, CoreError> {
    let RecoverInput {
        challenge_id,
        owner,
        envelope,
    } = recover_input(pb::RecoverRequest {
        challenge_id: req.session_id,
        owner_public_key: req.owner_public_key,
        encapsulated_key: req.encapsulated_key,
        ciphertext: req.ciphertext,
    })?;
    Ok(SessionInput {
        session_id: challenge_id,
        owner,
        envelope,
    })
}

fn unix_ms(at: std::time::SystemTime) -> i64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The wire form of a session report; `evidence` binds the open session's key.
pub fn session_status(
    report: SessionReport,
    evidence: Option<pb::Evidence>,
) -> pb::RecoverySessionStatus {
    pb::RecoverySessionStatus {
        state: proto_state(report.state).into(),
        session: report.session.map(|s| pb::RecoverySession {
            id: s.id.to_vec(),
            public_key: s.public_key.to_vec(),
            latest_transition_hash: s.latest.as_bytes().to_vec(),
            threshold: u32::try_from(s.threshold).unwrap_or(u32::MAX),
            submitted: u32::try_from(s.submitted()).unwrap_or(u32::MAX),
            remaining: u32::try_from(s.remaining()).unwrap_or(u32::MAX),
            owners: s
                .seats
                .iter()
                .map(|seat| pb::RecoverySessionOwner {
                    public_key: seat.owner.as_bytes().to_vec(),
                    fingerprint: seat.owner.fingerprint().to_string(),
                    share_index: u32::from(seat.index),
                    submitted_at_unix_ms: seat.submitted_at.map_or(0, unix_ms),
                })
                .collect(),
            opened_at_unix_ms: unix_ms(s.opened_at),
            expires_at_unix_ms: unix_ms(s.expires_at),
            wrong_shares: s
                .wrong_shares
                .iter()
                .map(|w| pb::RecoverySessionWrongShare {
                    fingerprint: w.owner.to_string(),
                    share_index: u32::from(w.index),
                    at_unix_ms: unix_ms(w.at),
                })
                .collect(),
            evidence,
        }),
        last_ended: report.last_ended.map(|e| {
            let (outcome, detail) = match e.end {
                SessionEnd::Recovered => ("recovered", String::new()),
                SessionEnd::Cancelled { by } => ("cancelled", by.to_string()),
                SessionEnd::Expired => ("expired", String::new()),
                SessionEnd::Failed { reason } => ("failed", reason),
            };
            pb::RecoverySessionEnded {
                id: e.id.to_vec(),
                outcome: outcome.into(),
                detail,
                at_unix_ms: unix_ms(e.at),
            }
        }),
        recovered: report.recovered.map(recover_response),
    }
}

pub fn recover_input(req: pb::RecoverRequest) -> Result<RecoverInput, CoreError> {
    let owner_bytes: [u8; 32] =
        req.owner_public_key
            .as_slice()
            .try_into()
            .map_err(|_| CoreError::InvalidArgument {
                field: "owner_public_key",
                message: format!(
                    "must be 32 bytes (an X25519 public key), got {}",
                    req.owner_public_key.len()
                ),
            })?;
    let encapsulated_key: [u8; 32] =
        req.encapsulated_key
            .as_slice()
            .try_into()
            .map_err(|_| CoreError::InvalidArgument {
                field: "encapsulated_key",
                message: format!("must be 32 bytes, got {}", req.encapsulated_key.len()),
            })?;
    let owner =
        OwnerPublicKey::from_bytes(owner_bytes).map_err(|e| CoreError::InvalidArgument {
            field: "owner_public_key",
            message: e.to_string(),
        })?;
    Ok(RecoverInput {
        challenge_id: req.challenge_id,
        owner,
        envelope: RecoveryEnvelope {
            encapsulated_key,
            ciphertext: req.ciphertext,
        },
    })
}

fn digest_field(field: &'static str, bytes: &[u8]) -> Result<Digest, CoreError> {
    let array: [u8; 32] = bytes.try_into().map_err(|_| CoreError::InvalidArgument {
        field,
        message: format!(
            "must be 32 bytes (a SHA-256 transition hash), got {}",
            bytes.len()
        ),
    })?;
    Ok(Digest::from_bytes(array))
}

/// The wire form of a state.
pub fn proto_state(name: StateName) -> pb::CoordinatorState {
    match name {
        StateName::Uninitialized => pb::CoordinatorState::Uninitialized,
        StateName::Ready => pb::CoordinatorState::Ready,
        StateName::RecoveryRequired => pb::CoordinatorState::RecoveryRequired,
        StateName::Stale => pb::CoordinatorState::Stale,
    }
}

pub fn status_response(report: StatusReport, evidence: pb::Evidence) -> pb::GetStatusResponse {
    pb::GetStatusResponse {
        state: proto_state(report.state) as i32,
        generation: report.generation,
        latest_transition_hash: report
            .latest
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default(),
        root_ca_cert: report.root_ca_pem.unwrap_or_default(),
        mesh_ca_cert: report.mesh_ca_pem.unwrap_or_default(),
        evidence: Some(evidence),
        challenge: report.challenge.map(|c| pb::RecoveryChallenge {
            id: c.id.to_vec(),
            public_key: c.public_key.to_vec(),
            nonce: c.nonce.to_vec(),
            latest_transition_hash: c.latest.as_bytes().to_vec(),
            expires_at_unix_ms: c.expires_at_unix_ms,
        }),
        version: env!("CARGO_PKG_VERSION").to_string(),
        replica_set: None,
        last_recovery: None,
    }
}

/// A recorded recovery as the wire carries it.
pub fn recovery_note(note: seedward_etcd::RecoveryNote) -> pb::RecoveryNote {
    pb::RecoveryNote {
        by: note.by,
        who: note.who,
        at_unix_ms: i64::try_from(note.at_unix_ms).unwrap_or(i64::MAX),
    }
}

/// The replica board as `GetStatus` shows it. A record's `latest` that is not 64 hex digits
/// (a newer or broken writer) is shown as absent.
pub fn replica_set(board: ReplicaBoard) -> pb::ReplicaSet {
    pb::ReplicaSet {
        self_id: board.self_id,
        replicas: board
            .replicas
            .into_iter()
            .map(|r| pb::Replica {
                id: r.id,
                address: r.address,
                state: match r.state {
                    ReplicaState::Uninitialized => pb::CoordinatorState::Uninitialized,
                    ReplicaState::Ready => pb::CoordinatorState::Ready,
                    ReplicaState::RecoveryRequired => pb::CoordinatorState::RecoveryRequired,
                    ReplicaState::Stale => pb::CoordinatorState::Stale,
                    ReplicaState::Unknown => pb::CoordinatorState::Unspecified,
                } as i32,
                generation: r.generation,
                latest_transition_hash: r
                    .latest
                    .and_then(|h| h.parse::<Digest>().ok())
                    .map(|d| d.as_bytes().to_vec())
                    .unwrap_or_default(),
                evidence_kind: r.evidence_kind,
                since_unix_ms: i64::try_from(r.since_unix_ms).unwrap_or(i64::MAX),
                last_error: r.last_error.unwrap_or_default(),
                last_recovery: r.last_recovery.map(recovery_note),
                peer_address: r.peer_address.unwrap_or_default(),
            })
            .collect(),
        as_of_unix_ms: i64::try_from(board.as_of_unix_ms).unwrap_or(i64::MAX),
        error: board.error.unwrap_or_default(),
    }
}

pub fn seed_share_document(document: SeedShareDocument) -> pb::SeedShareDocument {
    pb::SeedShareDocument {
        seed_shares: document
            .seed_shares
            .into_iter()
            .map(|s| pb::SeedShare {
                public_key: s.public_key,
                encrypted_seed: s.encrypted_seed,
                share_index: s.share_index.map_or(0, u32::from),
                share_commitment: s.share_commitment.map(|c| c.to_vec()).unwrap_or_default(),
            })
            .collect(),
        salt: document.salt.as_bytes().to_vec(),
        threshold: document
            .threshold
            .and_then(|k| u32::try_from(k).ok())
            .unwrap_or(0),
        history_signing_key: document.history_signing_key.unwrap_or_default(),
    }
}

pub fn set_manifest_response(outcome: SetOutcome) -> pb::SetManifestResponse {
    pb::SetManifestResponse {
        root_ca_cert: outcome.root_ca_pem,
        mesh_ca_cert: outcome.mesh_ca_pem,
        seed_share_document: outcome.seed_shares.map(seed_share_document),
        transition_hash: outcome.transition.as_bytes().to_vec(),
        generation: outcome.generation,
    }
}

pub fn manifests_response(report: HistoryReport) -> pb::GetManifestsResponse {
    pb::GetManifestsResponse {
        manifests: report.manifests,
        policies: report.policies,
        root_ca_cert: report.root_ca_pem.unwrap_or_default(),
        mesh_ca_cert: report.mesh_ca_pem.unwrap_or_default(),
        latest_transition_hash: report.latest.transition_hash().as_bytes().to_vec(),
        latest_signature: report.latest.signature().to_vec(),
        verified: report.verified,
    }
}

pub fn recover_response(outcome: RecoverOutcome) -> pb::RecoverResponse {
    pb::RecoverResponse {
        root_ca_cert: outcome.root_ca_pem,
        mesh_ca_cert: outcome.mesh_ca_pem,
        latest_transition_hash: outcome.latest.as_bytes().to_vec(),
        generation: outcome.generation,
    }
}

/// One `StreamManifests` page.
pub fn manifests_page(page: crate::core::HistoryPage) -> pb::ManifestsPage {
    let mut out = pb::ManifestsPage {
        entries: page
            .entries
            .into_iter()
            .map(|e| pb::HistoryEntry {
                transition_hash: e.transition_hash.as_bytes().to_vec(),
                previous_transition_hash: e.previous.as_bytes().to_vec(),
                manifest_hash: e.manifest_hash.as_bytes().to_vec(),
                manifest: e.manifest.unwrap_or_default(),
            })
            .collect(),
        policies: page.policies,
        ..pb::ManifestsPage::default()
    };
    if let Some(header) = page.header {
        out.latest_transition_hash = header.latest.transition_hash().as_bytes().to_vec();
        out.latest_signature = header.latest.signature().to_vec();
        out.verified = header.verified;
        out.root_ca_cert = header.root_ca_pem.unwrap_or_default();
        out.mesh_ca_cert = header.mesh_ca_pem.unwrap_or_default();
        out.generation = header.generation;
    }
    out
}
