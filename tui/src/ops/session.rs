//! Threshold recovery: open or join the Coordinator's recovery session, submit this owner's
//! share, follow the progress, cancel. The Coordinator side is docs/COORDINATOR.md,
//! "Recovery sessions"; the ceremony is docs/RECOVERY.md.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand_core::OsRng;
use seedward_proto::v1 as pb;
use seedward_shared::history::Digest;
use seedward_shared::keys::OwnerKeyPair;
use seedward_shared::seedshare::SeedShareDocument;
use seedward_shared::session::{SESSION_ID_LEN, seal_cancel, seal_share};
use seedward_shared::threshold::KeyShare;

use crate::client::evidence::appraise;
use crate::client::{CoordinatorClient, Trust};
use crate::workspace::{ROOT_CA_FILE, Workspace};

use super::*;

/// One owner's place in the session, as the Coordinator reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOwner {
    pub fingerprint: String,
    pub index: u32,
    pub submitted_at: Option<SystemTime>,
    /// This workspace's owner key.
    pub you: bool,
}

/// A submission the Coordinator named as not its owner's share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongShareView {
    pub fingerprint: String,
    pub index: u32,
    pub at: SystemTime,
}

/// The open session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: [u8; SESSION_ID_LEN],
    pub public_key: [u8; 32],
    pub latest: Digest,
    pub threshold: u32,
    pub submitted: u32,
    pub remaining: u32,
    pub owners: Vec<SessionOwner>,
    pub opened_at: SystemTime,
    pub expires_at: SystemTime,
    pub wrong_shares: Vec<WrongShareView>,
    /// The evidence, judged with the session key as the bound challenge.
    pub evidence: Option<EvidenceView>,
}

impl SessionInfo {
    /// The id as lowercase hex (what the CLI prints).
    pub fn id_hex(&self) -> String {
        hex::encode(self.id)
    }

    /// Time left, zero once expired.
    pub fn time_left(&self, now: SystemTime) -> Duration {
        self.expires_at.duration_since(now).unwrap_or_default()
    }
}

/// How the last session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEndedView {
    pub id: String,
    /// `recovered`, `cancelled`, `expired` or `failed`.
    pub outcome: String,
    pub detail: String,
    pub at: SystemTime,
}

/// What every session call answers.
#[derive(Debug, Clone)]
pub struct SessionStatus {
    pub state: CoordinatorState,
    pub session: Option<SessionInfo>,
    pub last_ended: Option<SessionEndedView>,
    pub recovered: Option<pb::RecoverResponse>,
}

fn time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Converts (and checks the shape of) a session status; `you` marks this owner's seat.
pub fn session_view(
    conn: &Connection,
    response: pb::RecoverySessionStatus,
    you: Option<&OwnerKeyPair>,
) -> Result<SessionStatus, OpsError> {
    let malformed =
        |what: &str| OpsError::Verification(format!("the recovery session's {what} is malformed"));
    let ours = you.map(|o| o.public_key().as_bytes().to_vec());
    let session = match response.session {
        None => None,
        Some(s) => {
            let public_key: [u8; 32] = s
                .public_key
                .as_slice()
                .try_into()
                .map_err(|_| malformed("key"))?;
            let observed = conn.client.observed_tls_spki_sha256();
            let evidence = s.evidence.as_ref().map(|ev| {
                appraise(
                    ev,
                    observed,
                    Some(public_key),
                    &conn.expectation,
                    &conn.policy,
                    SystemTime::now(),
                )
            });
            Some(SessionInfo {
                id: s.id.as_slice().try_into().map_err(|_| malformed("id"))?,
                public_key,
                latest: Digest::from_slice(&s.latest_transition_hash)
                    .map_err(|_| malformed("transition hash"))?,
                threshold: s.threshold,
                submitted: s.submitted,
                remaining: s.remaining,
                owners: s
                    .owners
                    .into_iter()
                    .map(|o| SessionOwner {
                        you: ours.as_deref() == Some(o.public_key.as_slice()),
                        fingerprint: printable(&o.fingerprint),
                        index: o.share_index,
                        submitted_at: (o.submitted_at_unix_ms > 0)
                            .then(|| time(o.submitted_at_unix_ms)),
                    })
                    .collect(),
                opened_at: time(s.opened_at_unix_ms),
                expires_at: time(s.expires_at_unix_ms),
                wrong_shares: s
                    .wrong_shares
                    .into_iter()
                    .map(|w| WrongShareView {
                        fingerprint: printable(&w.fingerprint),
                        index: w.share_index,
                        at: time(w.at_unix_ms),
                    })
                    .collect(),
                evidence,
            })
        }
    };
    Ok(SessionStatus {
        state: CoordinatorState::from_proto(response.state),
        session,
        last_ended: response.last_ended.map(|e| SessionEndedView {
            id: hex::encode(&e.id),
            outcome: printable(&e.outcome),
            detail: printable(&e.detail),
            at: time(e.at_unix_ms),
        }),
        recovered: response.recovered,
    })
}

/// The open session, if any (`seedward recovery status`).
pub async fn recovery_session(
    conn: &Connection,
    you: Option<&OwnerKeyPair>,
) -> Result<SessionStatus, OpsError> {
    let response = conn.client.recovery_session().await?;
    session_view(conn, response, you)
}

/// Joins the open session or opens one.
pub async fn open_recovery_session(
    conn: &Connection,
    you: Option<&OwnerKeyPair>,
) -> Result<SessionStatus, OpsError> {
    let response = conn.client.open_recovery_session().await?;
    session_view(conn, response, you)
}

/// The session's evidence must bind this connection and the session key, and verify (or be
/// the acknowledged development kind), before anything is sealed to that key.
fn check_session_evidence(
    session: &SessionInfo,
    allow_unattested: bool,
    action: &str,
) -> Result<(), OpsError> {
    let Some(evidence) = session.evidence.as_ref() else {
        return Err(OpsError::Verification(format!(
            "the Coordinator sent no evidence for the recovery session; {action} was not sent"
        )));
    };
    if !evidence.bound() {
        return Err(OpsError::Verification(format!(
            "the Coordinator's evidence does not bind this connection's TLS key and the session key: something between you and the Coordinator answered. {action} was not sent"
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
    Err(OpsError::Verification(format!(
        "the Coordinator's {} evidence does not verify against {}: {}. {action} was not sent",
        evidence.kind.as_str(),
        evidence.source.describe(),
        evidence.verdict.problems(200).join("; ")
    )))
}

/// Opens or joins the session, judges its evidence, and submits `share` sealed to the
/// session key. The answer is the progress after this submission.
pub async fn submit_share(
    conn: &Connection,
    owner: &OwnerKeyPair,
    share: KeyShare,
    allow_unattested: bool,
) -> Result<SessionStatus, OpsError> {
    let status = open_recovery_session(conn, Some(owner)).await?;
    let session = status.session.ok_or_else(|| {
        OpsError::Verification("the Coordinator opened no recovery session".into())
    })?;
    check_session_evidence(&session, allow_unattested, "your share")?;
    if conn.client.lock_to_observed_key().is_none() {
        return Err(OpsError::Verification(
            "no TLS handshake to lock the connection to; nothing was sent".into(),
        ));
    }
    let envelope = seal_share(
        owner,
        &session.public_key,
        &session.id,
        session.latest.as_bytes(),
        &share,
        &mut OsRng,
    )
    .map_err(|e| OpsError::Invalid(format!("cannot seal your share: {e}")))?;
    drop(share);
    let response = conn
        .client
        .submit_recovery_share(pb::RecoverySessionEnvelope {
            session_id: session.id.to_vec(),
            owner_public_key: owner.public_key().as_bytes().to_vec(),
            encapsulated_key: envelope.encapsulated_key.to_vec(),
            ciphertext: envelope.ciphertext,
        })
        .await?;
    session_view(conn, response, Some(owner))
}

/// Cancels the open session as `owner`.
pub async fn cancel_session(
    conn: &Connection,
    owner: &OwnerKeyPair,
) -> Result<SessionStatus, OpsError> {
    let status = recovery_session(conn, Some(owner)).await?;
    let session = status.session.ok_or_else(|| {
        OpsError::Invalid(match &status.last_ended {
            Some(ended) => format!(
                "no recovery session is open (the last one ended: {})",
                ended.outcome
            ),
            None => "no recovery session is open".into(),
        })
    })?;
    let envelope = seal_cancel(
        owner,
        &session.public_key,
        &session.id,
        session.latest.as_bytes(),
        &mut OsRng,
    )
    .map_err(|e| OpsError::Invalid(format!("cannot seal the cancel request: {e}")))?;
    let response = conn
        .client
        .cancel_recovery_session(pb::RecoverySessionEnvelope {
            session_id: session.id.to_vec(),
            owner_public_key: owner.public_key().as_bytes().to_vec(),
            encapsulated_key: envelope.encapsulated_key.to_vec(),
            ciphertext: envelope.ciphertext,
        })
        .await?;
    session_view(conn, response, Some(owner))
}

/// After the session completed: the Coordinator now presents a certificate from the root CA
/// pinned in the workspace, and is ready. (One share cannot derive the root key itself; the
/// pin saved at setup is the identity.)
pub async fn reverify_after_session(
    original: &Connection,
    workspace: &Workspace,
    recovered: &pb::RecoverResponse,
) -> Result<StatusView, OpsError> {
    let pin = workspace
        .read(ROOT_CA_FILE)?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .ok_or_else(|| {
            OpsError::Verification(format!(
                "{ROOT_CA_FILE} is missing from the workspace: the recovered Coordinator's identity cannot be checked against the one saved at setup"
            ))
        })?;
    if cert_public_key(&pin).is_none()
        || cert_public_key(&pin) != cert_public_key(&recovered.root_ca_cert)
    {
        return Err(OpsError::Verification(format!(
            "the recovered Coordinator's root CA key is not the one pinned in {ROOT_CA_FILE}: it is not the Coordinator this workspace set up"
        )));
    }
    let client =
        CoordinatorClient::connect(original.client.address(), Trust::pinned_root_pem(&pin)?)
            .await?;
    let conn = Connection {
        client,
        trust: TrustLevel::Pinned,
        expectation: original.expectation.clone(),
        policy: original.policy.clone(),
    };
    status(&conn).await
}

/// Offline: opens the shares of `owners` in a threshold document, checks each against its
/// commitment, and combines them into seed ‖ salt. Needs k distinct owners.
pub fn combine_offline(
    document: &SeedShareDocument,
    owners: &[OwnerKeyPair],
) -> Result<DecryptedShare, OpsError> {
    let k = document.threshold();
    let mut shares: Vec<KeyShare> = Vec::with_capacity(owners.len());
    let mut fingerprints = Vec::new();
    for owner in owners {
        let share = document
            .open_key_share_with(owner)
            .map_err(|e| OpsError::Verification(e.to_string()))?;
        if shares.iter().any(|s| s.index() == share.index()) {
            return Err(OpsError::Invalid(format!(
                "owner key {} is given twice; each owner's share counts once",
                owner.public_key().fingerprint()
            )));
        }
        fingerprints.push(owner.public_key().fingerprint().to_string());
        shares.push(share);
    }
    if shares.len() < k {
        return Err(OpsError::Invalid(format!(
            "this seed is split {k} of {}: {} owner key(s) given, {k} are needed (add the others with --other-owner-key)",
            document.seed_shares.len(),
            shares.len()
        )));
    }
    let (seed, salt) = seedward_shared::threshold::combine(&shares, k)
        .map_err(|e| OpsError::Verification(format!("the shares do not combine: {e}")))?;
    if salt != document.salt {
        return Err(OpsError::Verification(
            "the shares combine to a salt that is not the document's: the shares are not of this document's seed".into(),
        ));
    }
    Ok(DecryptedShare {
        seed,
        salt,
        owner_fingerprint: fingerprints.join(", "),
        permission_warning: None,
    })
}
