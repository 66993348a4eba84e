//! The Coordinator's error type, and the one mapping from it to gRPC status.
//!
//! Every variant has a fixed, actionable message and a machine-readable reason, sent in
//! the ASCII metadata key `seedward-error` ([`Reason`]). No message ever contains secret bytes
//! or a `{:?}` of internals: file names and hashes are the most a message carries.

use std::fmt;

use seedward_proto::{LATEST_METADATA_KEY, Reason};
use seedward_shared::history::Digest;
use seedward_shared::keys::Fingerprint;
use tonic::{Code, Status};

/// The Coordinator's states, as reported by `GetStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateName {
    Uninitialized,
    Ready,
    RecoveryRequired,
    Stale,
}

impl fmt::Display for StateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StateName::Uninitialized => "uninitialized",
            StateName::Ready => "ready",
            StateName::RecoveryRequired => "recovery required",
            StateName::Stale => "stale",
        })
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum CoreError {
    /// A request field is malformed.
    #[error("invalid {field}: {message}")]
    InvalidArgument {
        field: &'static str,
        message: String,
    },
    /// The manifest does not parse or does not validate.
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
    /// The operation is not possible in the current state.
    #[error("{}", wrong_state_message(.op, .state))]
    WrongState { op: &'static str, state: StateName },
    /// The latest transition is not the one the caller expected (atomic update or lost race).
    #[error(
        "the history changed: the latest transition is now {}; fetch the history, review the change and retry against the new latest transition",
        .current.map(|d| d.to_string()).unwrap_or_else(|| "absent".into())
    )]
    StaleLatest { current: Option<Digest> },
    /// An update (or atomic set) reached a Coordinator that has no history at all.
    #[error(
        "this Coordinator has no manifest history, but the request expects one (transition {expected}): its state directory is probably missing or wrong. Restore it (or fix --state-dir) and restart the Coordinator; do NOT run first-time setup, which would create a new seed and change every workload secret"
    )]
    NoHistory { expected: Digest },
    /// A first set on an empty store of a Coordinator whose state directory says it was
    /// initialized before (docs/COORDINATOR.md, "Re-initialization").
    #[error(
        "this Coordinator's history is missing, but it was initialized before (first transition {first}, recorded in {marker}): its history was deleted or the store is wrong. Restore the history and restart; do NOT set up a new seed unless the store was deliberately wiped, and then restart the Coordinator with --allow-reinitialize"
    )]
    HistoryMissing { first: String, marker: String },
    /// The active manifest has no workload owner keys.
    #[error(
        "this deployment is immutable: the active manifest lists no WorkloadOwnerPubKeys, so it can never be updated; deploy a new Coordinator with a new manifest instead"
    )]
    UpdatesDisabled,
    /// An update without a signature, or with one that no workload owner key verifies.
    #[error(
        "the update is not signed by a workload owner key of the active manifest: sign SHA-256(hex of the proposed transition hash {transition}) with one of its WorkloadOwnerPubKeys"
    )]
    BadSignature { transition: Digest },
    /// An update that changes the seed share owners.
    #[error(
        "seed share owners cannot change after the first manifest: the new manifest's SeedshareOwnerPubKeys must equal the active ones (in any order)"
    )]
    OwnersChanged,
    /// A recovery from a key that is not a seed share owner of the stored manifest.
    #[error(
        "the key {fingerprint} is not a seed share owner of the stored manifest; use the owner key that set up this Coordinator"
    )]
    UnknownOwner { fingerprint: Fingerprint },
    /// The recovery envelope does not open with the claimed owner and the challenge.
    #[error(
        "the recovery envelope does not open: it was not sealed by owner key {fingerprint} to this challenge"
    )]
    EnvelopeRejected { fingerprint: Fingerprint },
    /// The challenge id is unknown, used, or expired.
    #[error(
        "the recovery challenge is {what}; fetch a fresh one with GetStatus and seal the seed to it"
    )]
    Challenge { what: &'static str },
    /// The seed and salt decrypted but do not verify the stored history.
    #[error(
        "the seed does not verify the stored history: the transaction signing key derived from it does not verify transitions/latest; the seed share belongs to another deployment or the salt is wrong"
    )]
    WrongSeed,
    /// A recovery session on a Coordinator whose seed is not split.
    #[error(
        "this Coordinator's seed is not split (SeedshareOwnerThreshold is 1): one owner recovers it alone with Recover (seedward recover)"
    )]
    NotThreshold,
    /// The recovery session id is not the open session's.
    #[error(
        "the recovery session is {what}; open or join the current one (seedward recover) and submit again"
    )]
    NoSession { what: &'static str },
    /// A share submission opened under the owner's key, but is not that owner's share.
    #[error(
        "the share sent by owner key {fingerprint} is not share {index} of this Coordinator's seed (it does not match its commitment); nobody else's progress is lost. Check that seed-shares.json is this deployment's and intact (the share drill), then submit again"
    )]
    WrongShare { fingerprint: Fingerprint, index: u8 },
    /// An owner who already submitted sent a different share.
    #[error(
        "owner key {fingerprint} already submitted a different share to this recovery session; cancel the session and open a new one if the first was wrong"
    )]
    AlreadySubmitted { fingerprint: Fingerprint },
    /// k shares were accepted but combine to a seed that does not verify the history.
    #[error(
        "the shares of {owners} combine to a seed that does not verify the stored history; the session has ended. Each owner should run the share drill on their seed-shares.json, then open a new session"
    )]
    SharesDoNotVerify { owners: String },
    /// A stored file is corrupt or tampered with.
    #[error(
        "the stored history is corrupt: {key}: {detail}; restore the state directory from a backup"
    )]
    Corrupt { key: String, detail: String },
    /// A workload named a policy hash that is not a key of the active manifest's `Policies`.
    #[error(
        "the policy hash {policy_hash} is not in the active manifest: add the workload's policy to the manifest's Policies (a signed update with seedward set), or run the workload with a policy the manifest lists"
    )]
    UnknownPolicy { policy_hash: Digest },
    /// A workload's evidence did not verify.
    #[error(
        "the workload evidence was rejected: {detail}; check that the workload runs with the evidence kind this Coordinator accepts"
    )]
    EvidenceRejected { detail: String },
    /// Storage failed (I/O).
    #[error("storage error: {0}")]
    Storage(String),
    /// `GetManifests` would answer with more than its limit in one message.
    #[error(
        "the history is larger than {limit} bytes, the most GetManifests sends in one message: read it with StreamManifests (seedward does so by itself)"
    )]
    HistoryTooLarge { limit: usize },
    /// The platform did not produce the Coordinator's attestation evidence.
    #[error(
        "the Coordinator cannot produce its attestation evidence right now: {detail}; retry, and if it persists check the Coordinator's TEE (its log says more)"
    )]
    EvidenceUnavailable { detail: String },
    /// Something that should not happen; the message names what.
    #[error("internal error: {0}")]
    Internal(String),
}

fn wrong_state_message(op: &str, state: &StateName) -> String {
    let next = match state {
        StateName::Uninitialized => "set a manifest first",
        StateName::Ready => "the Coordinator is already ready",
        StateName::RecoveryRequired => {
            "the Coordinator restarted and needs a seed share owner to recover it (seedward recover)"
        }
        StateName::Stale => {
            "the shared history moved on without this replica; recover it (seedward recover)"
        }
    };
    format!("cannot {op} while the Coordinator is {state}: {next}")
}

impl CoreError {
    /// The stable, machine-readable reason sent in the `seedward-error` metadata.
    pub fn reason(&self) -> Reason {
        match self {
            CoreError::InvalidArgument { .. } => Reason::InvalidArgument,
            CoreError::InvalidManifest(_) => Reason::InvalidManifest,
            CoreError::WrongState { state, .. } => match state {
                StateName::Uninitialized => Reason::Uninitialized,
                StateName::Ready => Reason::AlreadyReady,
                StateName::RecoveryRequired => Reason::RecoveryRequired,
                StateName::Stale => Reason::Stale,
            },
            CoreError::StaleLatest { .. } => Reason::StaleLatest,
            CoreError::NoHistory { .. } | CoreError::HistoryMissing { .. } => Reason::NoHistory,
            CoreError::UpdatesDisabled => Reason::UpdatesDisabled,
            CoreError::BadSignature { .. } => Reason::BadSignature,
            CoreError::OwnersChanged => Reason::OwnersChanged,
            CoreError::UnknownOwner { .. } => Reason::UnknownOwner,
            CoreError::EnvelopeRejected { .. } => Reason::EnvelopeRejected,
            CoreError::Challenge { .. } => Reason::ChallengeInvalid,
            CoreError::WrongSeed | CoreError::SharesDoNotVerify { .. } => Reason::WrongSeed,
            CoreError::NotThreshold => Reason::NotThreshold,
            CoreError::NoSession { .. } => Reason::SessionInvalid,
            CoreError::WrongShare { .. } => Reason::WrongShare,
            CoreError::AlreadySubmitted { .. } => Reason::AlreadySubmitted,
            CoreError::UnknownPolicy { .. } => Reason::UnknownPolicy,
            CoreError::EvidenceRejected { .. } => Reason::EvidenceRejected,
            CoreError::Corrupt { .. } => Reason::HistoryCorrupt,
            CoreError::Storage(_) => Reason::Storage,
            CoreError::HistoryTooLarge { .. } => Reason::HistoryTooLarge,
            CoreError::EvidenceUnavailable { .. } => Reason::EvidenceUnavailable,
            CoreError::Internal(_) => Reason::Internal,
        }
    }

    /// The gRPC status code. The only mapping from core errors to codes.
    pub fn code(&self) -> Code {
        match self {
            CoreError::InvalidArgument { .. } | CoreError::InvalidManifest(_) => {
                Code::InvalidArgument
            }
            CoreError::WrongState { .. }
            | CoreError::StaleLatest { .. }
            | CoreError::NoHistory { .. }
            | CoreError::HistoryMissing { .. }
            | CoreError::Challenge { .. }
            | CoreError::NotThreshold
            | CoreError::NoSession { .. } => Code::FailedPrecondition,
            CoreError::AlreadySubmitted { .. } => Code::AlreadyExists,
            CoreError::UpdatesDisabled
            | CoreError::BadSignature { .. }
            | CoreError::OwnersChanged
            | CoreError::UnknownOwner { .. }
            | CoreError::EnvelopeRejected { .. }
            | CoreError::WrongShare { .. }
            | CoreError::UnknownPolicy { .. }
            | CoreError::EvidenceRejected { .. } => Code::PermissionDenied,
            CoreError::WrongSeed | CoreError::SharesDoNotVerify { .. } => Code::Unauthenticated,
            CoreError::Corrupt { .. } => Code::DataLoss,
            CoreError::HistoryTooLarge { .. } => Code::ResourceExhausted,
            CoreError::Storage(_) | CoreError::EvidenceUnavailable { .. } => Code::Unavailable,
            CoreError::Internal(_) => Code::Internal,
        }
    }
}

impl From<CoreError> for Status {
    fn from(err: CoreError) -> Self {
        let mut status = Status::new(err.code(), err.to_string());
        err.reason().attach(&mut status);
        if let CoreError::StaleLatest {
            current: Some(current),
        } = &err
            && let Ok(v) = current.to_string().parse()
        {
            status.metadata_mut().insert(LATEST_METADATA_KEY, v);
        }
        status
    }
}
