//! The machine-readable reason of a refusal, shared by the Coordinator and its clients.
//!
//! # Wire format
//! Every error status the Coordinator sends carries the ASCII metadata entry
//! `seedward-error: <REASON>`, where `<REASON>` is one of the upper-case names below
//! (stable across versions; new ones may be added). A `STALE_LATEST` refusal also carries
//! `seedward-latest-transition: <64 lowercase hex>`, the transition that won.
//! Clients branch on the reason, never on the message text.

use std::fmt;
use std::str::FromStr;

/// Metadata key of the machine-readable error reason.
pub const REASON_METADATA_KEY: &str = "seedward-error";
/// Metadata key carrying the current latest transition hash (hex) on `STALE_LATEST`.
pub const LATEST_METADATA_KEY: &str = "seedward-latest-transition";

macro_rules! reasons {
    ($($(#[$doc:meta])* $variant:ident = $wire:literal,)*) => {
        /// Why the Coordinator refused a request.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Reason {
            $($(#[$doc])* $variant,)*
        }

        impl Reason {
            /// Every reason, in documentation order.
            pub const ALL: &[Reason] = &[$(Reason::$variant,)*];

            /// The wire name (`STALE_LATEST`, …).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$variant => $wire,)*
                }
            }
        }

        impl FromStr for Reason {
            type Err = UnknownReason;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok(Reason::$variant),)*
                    _ => Err(UnknownReason),
                }
            }
        }
    };
}

reasons! {
    /// A request field is malformed.
    InvalidArgument = "INVALID_ARGUMENT",
    /// The manifest does not parse or does not validate.
    InvalidManifest = "INVALID_MANIFEST",
    /// The Coordinator has no manifest yet.
    Uninitialized = "UNINITIALIZED",
    /// `Recover` on a Coordinator that is ready.
    AlreadyReady = "ALREADY_READY",
    /// The Coordinator restarted and a seed share owner must recover it.
    RecoveryRequired = "RECOVERY_REQUIRED",
    /// The shared history moved on without this replica.
    Stale = "STALE",
    /// The latest transition is not the one the caller audited (lost race, atomic update).
    StaleLatest = "STALE_LATEST",
    /// An update reached a Coordinator with no history at all.
    NoHistory = "NO_HISTORY",
    /// The active manifest has no workload owner keys: it can never be updated.
    UpdatesDisabled = "UPDATES_DISABLED",
    /// An update not signed by a workload owner key of the active manifest.
    BadSignature = "BAD_SIGNATURE",
    /// An update that changes the seed share owners.
    OwnersChanged = "OWNERS_CHANGED",
    /// A recovery from a key that is not a seed share owner.
    UnknownOwner = "UNKNOWN_OWNER",
    /// The recovery envelope does not open with the claimed owner and challenge.
    EnvelopeRejected = "ENVELOPE_REJECTED",
    /// The recovery challenge is unknown, used or expired.
    ChallengeInvalid = "CHALLENGE_INVALID",
    /// The delivered seed does not verify the stored history.
    WrongSeed = "WRONG_SEED",
    /// A recovery session on a Coordinator whose seed is not split (threshold 1).
    NotThreshold = "NOT_THRESHOLD",
    /// The recovery session id is not the open session's (ended, expired, restarted).
    SessionInvalid = "SESSION_INVALID",
    /// A submitted share is not the owner's (its commitment does not match).
    WrongShare = "WRONG_SHARE",
    /// An owner who already submitted sent a different share.
    AlreadySubmitted = "ALREADY_SUBMITTED",
    /// A workload named a policy the active manifest does not list.
    UnknownPolicy = "UNKNOWN_POLICY",
    /// A workload's (or peer's) evidence did not verify.
    EvidenceRejected = "EVIDENCE_REJECTED",
    /// A stored blob is missing or does not hash to its name.
    HistoryCorrupt = "HISTORY_CORRUPT",
    /// Storage failed.
    Storage = "STORAGE",
    /// `GetManifests` on a history larger than one message may be: use `StreamManifests`.
    HistoryTooLarge = "HISTORY_TOO_LARGE",
    /// The Coordinator could not produce its attestation evidence.
    EvidenceUnavailable = "EVIDENCE_UNAVAILABLE",
    /// Something that should not happen.
    Internal = "INTERNAL",
}

impl Reason {
    /// The reason an error status carries, if it carries a known one.
    pub fn of(status: &tonic::Status) -> Option<Reason> {
        status
            .metadata()
            .get(REASON_METADATA_KEY)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.parse().ok())
    }

    /// Attaches this reason to `status`.
    pub fn attach(self, status: &mut tonic::Status) {
        status.metadata_mut().insert(
            REASON_METADATA_KEY,
            tonic::metadata::MetadataValue::from_static(self.as_str()),
        );
    }

    /// True for the refusals that mean "the stored history failed verification".
    pub fn is_verification_failure(self) -> bool {
        matches!(self, Reason::HistoryCorrupt | Reason::WrongSeed)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reason name this version does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownReason;

impl fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown seedward-error reason")
    }
}

impl std::error::Error for UnknownReason {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips_through_its_wire_name() {
        for reason in Reason::ALL {
            assert_eq!(reason.as_str().parse::<Reason>(), Ok(*reason));
            assert!(
                reason
                    .as_str()
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'_')
            );
        }
        assert_eq!("stale_latest".parse::<Reason>(), Err(UnknownReason));
    }

    #[test]
    fn a_status_carries_its_reason() {
        let mut status = tonic::Status::failed_precondition("x");
        assert_eq!(Reason::of(&status), None);
        Reason::StaleLatest.attach(&mut status);
        assert_eq!(Reason::of(&status), Some(Reason::StaleLatest));
        assert_eq!(
            status
                .metadata()
                .get(REASON_METADATA_KEY)
                .map(|v| v.to_str().ok()),
            Some(Some("STALE_LATEST"))
        );
    }
}
