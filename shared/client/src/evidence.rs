//! What a Coordinator's evidence proves about the connection a client actually uses.
//!
//! The client recomputes the binding from what *it* saw — the SHA-256 of the TLS key the
//! handshake presented, and the challenge key it was offered — and never trusts the
//! `report_data` or `tls_spki_sha256` the server claims. A TEE report is verified offline
//! (`seedward-attestation`) against reference values the client trusts: the manifest it is
//! about to set, the workspace's `manifest.json`, or the latest manifest of a history that
//! verified with the key derived from the owner's own seed share. The Coordinator's
//! HOST_DATA / MRCONFIGID must be the hash of that manifest's `coordinator` policy.
//!
//! # Invariants
//! - `attested()` is true only for a TEE kind whose verdict verified every check, whose
//!   binding is this connection's TLS key and the offered challenge.
//! - Kind `none` is never attested; [`EvidenceAppraisal::bound`] still says whether it at
//!   least names this connection's key (it proves nothing: the server chose it).

use std::time::SystemTime;

use seedward_attestation::{
    Appraisal, Evidence, EvidenceKind, Revocation, TrustAnchors, Verdict, report_data, verify,
};
use seedward_proto::v1 as pb;
use seedward_shared::reference::ReferenceValues;

/// How evidence is judged: the roots, the revocation policy, extra collateral.
#[derive(Debug, Clone)]
pub struct AppraisalPolicy {
    pub anchors: TrustAnchors,
    pub revocation: Revocation,
    /// Collateral from the client's cache (SNP CRLs, TDX collateral), used when the
    /// evidence carries none.
    pub collateral: Vec<u8>,
}

impl Default for AppraisalPolicy {
    fn default() -> Self {
        Self {
            anchors: TrustAnchors::amd(),
            revocation: Revocation::Require,
            collateral: Vec::new(),
        }
    }
}

/// Where the reference values a verdict used came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceSource {
    /// The manifest being set (first set or update).
    ManifestBeingSet,
    /// The workspace's `manifest.json` (what this workspace set last).
    Workspace,
    /// The latest manifest of a stored history that verified with the owner's seed.
    VerifiedHistory,
    /// No manifest known: checks against reference values are not performed.
    Unknown,
}

impl ReferenceSource {
    pub fn describe(self) -> &'static str {
        match self {
            Self::ManifestBeingSet => "the manifest being set",
            Self::Workspace => "the workspace's manifest.json",
            Self::VerifiedHistory => "the latest manifest of the history your seed verified",
            Self::Unknown => "no manifest (nothing to compare with)",
        }
    }
}

/// The reference values to judge a Coordinator by.
#[derive(Debug, Clone)]
pub struct Expectation {
    pub reference: ReferenceValues,
    /// The hash of the manifest's `coordinator` policy: the expected HOST_DATA/MRCONFIGID.
    pub coordinator_policy: Option<[u8; 32]>,
    pub source: ReferenceSource,
}

impl Expectation {
    /// Nothing known: every reference check is not performed.
    pub fn unknown() -> Self {
        Self {
            reference: ReferenceValues::default(),
            coordinator_policy: None,
            source: ReferenceSource::Unknown,
        }
    }
}

/// The client's judgement of one piece of evidence.
#[derive(Debug, Clone)]
pub struct EvidenceAppraisal {
    pub kind: EvidenceKind,
    /// The kind string as sent, when it is not one this client knows.
    pub unknown_kind: Option<String>,
    pub verdict: Verdict,
    /// The evidence names the TLS key this connection saw.
    pub tls_key_matches: bool,
    /// The evidence's challenge key is the one offered with the same status.
    pub challenge_bound: bool,
    /// The report carries the binding recomputed from what this client saw.
    pub binding_ok: bool,
    /// Hex SHA-256 of the TLS key the evidence names.
    pub tls_spki_sha256: String,
    pub source: ReferenceSource,
}

impl EvidenceAppraisal {
    /// A TEE vouches for this very connection and the manifest's reference values.
    pub fn attested(&self) -> bool {
        self.kind != EvidenceKind::None
            && self.unknown_kind.is_none()
            && self.verdict.verified()
            && self.tls_key_matches
            && self.challenge_bound
            && self.binding_ok
    }

    /// The evidence at least names this connection's key and challenge (all kinds).
    pub fn bound(&self) -> bool {
        self.tls_key_matches && self.challenge_bound && self.binding_ok
    }

    /// Development evidence: nothing is attested.
    pub fn unattested(&self) -> bool {
        self.kind == EvidenceKind::None && self.unknown_kind.is_none()
    }

    /// One line for a badge.
    pub fn summary(&self) -> String {
        if let Some(kind) = &self.unknown_kind {
            return format!(
                "UNVERIFIED: evidence of kind {kind:?}, which this client cannot verify"
            );
        }
        let base = match self.kind {
            EvidenceKind::None => {
                "UNATTESTED (development: nothing proves what runs there)".to_string()
            }
            kind if self.attested() => format!(
                "attested ({}, checked against {})",
                kind.as_str(),
                self.source.describe()
            ),
            kind => {
                let failed: Vec<&str> = self
                    .verdict
                    .checks
                    .iter()
                    .filter(|c| c.ok != Some(true))
                    .map(|c| c.name)
                    .collect();
                format!(
                    "NOT VERIFIED ({} evidence; failed or not performed: {})",
                    kind.as_str(),
                    failed.join(", ")
                )
            }
        };
        if self.bound() {
            base
        } else {
            format!("{base}; MISMATCH: the evidence does not bind this connection's key")
        }
    }
}

/// Judges `evidence` for a connection whose handshake presented the key with SHA-256
/// `observed_tls`, and a status that offered `offered_challenge`, at time `at`.
pub fn appraise(
    evidence: &pb::Evidence,
    observed_tls: Option<[u8; 32]>,
    offered_challenge: Option<[u8; 32]>,
    expectation: &Expectation,
    policy: &AppraisalPolicy,
    at: SystemTime,
) -> EvidenceAppraisal {
    let claimed_tls: Option<[u8; 32]> = evidence.tls_spki_sha256.as_slice().try_into().ok();
    let claimed_challenge: Option<[u8; 32]> =
        evidence.challenge_public_key.as_slice().try_into().ok();
    let tls_key_matches = observed_tls.is_some() && claimed_tls == observed_tls;
    let challenge_bound = claimed_challenge == offered_challenge;
    // The binding this client expects, from what it saw itself.
    let expected = observed_tls.map(|tls| report_data(&tls, offered_challenge.as_ref()));
    let (kind, unknown_kind) = match EvidenceKind::from_name(&evidence.kind) {
        Some(kind) => (kind, None),
        None => (
            EvidenceKind::None,
            Some(evidence.kind.chars().take(32).collect()),
        ),
    };
    let attestation = Evidence {
        kind,
        report: match kind {
            // Development evidence states the binding instead of a report.
            EvidenceKind::None => evidence.report_data.clone(),
            _ => evidence.report.clone(),
        },
        certificates: evidence.certificates.clone(),
        collateral: if evidence.collateral.is_empty() {
            policy.collateral.clone()
        } else {
            evidence.collateral.clone()
        },
    };
    let verdict = verify(
        &attestation,
        &Appraisal {
            reference: &expectation.reference,
            report_data: expected,
            host_data: expectation.coordinator_policy,
            anchors: &policy.anchors,
            at,
            revocation: policy.revocation,
        },
    );
    let binding_ok = verdict
        .check(seedward_attestation::verdict::names::REPORT_DATA)
        .is_some_and(|c| c.ok == Some(true));
    EvidenceAppraisal {
        kind,
        unknown_kind,
        verdict,
        tls_key_matches,
        challenge_bound,
        binding_ok,
        tls_spki_sha256: hex::encode(&evidence.tls_spki_sha256),
        source: expectation.source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none_evidence(tls: [u8; 32], challenge: Option<[u8; 32]>) -> pb::Evidence {
        pb::Evidence {
            kind: "none".into(),
            tls_spki_sha256: tls.to_vec(),
            challenge_public_key: challenge.map(|c| c.to_vec()).unwrap_or_default(),
            report_data: report_data(&tls, challenge.as_ref()).to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn development_evidence_is_never_attested_but_can_be_bound() {
        let ev = none_evidence([1; 32], Some([2; 32]));
        let a = appraise(
            &ev,
            Some([1; 32]),
            Some([2; 32]),
            &Expectation::unknown(),
            &AppraisalPolicy::default(),
            SystemTime::now(),
        );
        assert!(a.unattested() && !a.attested() && a.bound(), "{a:?}");
        assert!(a.summary().starts_with("UNATTESTED"), "{}", a.summary());
    }

    #[test]
    fn a_relay_or_impostor_is_a_mismatch() {
        // The evidence names another TLS key than the one this connection saw (a relay).
        let ev = none_evidence([9; 32], Some([2; 32]));
        let a = appraise(
            &ev,
            Some([1; 32]),
            Some([2; 32]),
            &Expectation::unknown(),
            &AppraisalPolicy::default(),
            SystemTime::now(),
        );
        assert!(!a.bound() && !a.tls_key_matches && !a.binding_ok);
        assert!(a.summary().contains("MISMATCH"), "{}", a.summary());
        // The evidence binds another challenge than the one offered with it.
        let ev = none_evidence([1; 32], Some([3; 32]));
        let a = appraise(
            &ev,
            Some([1; 32]),
            Some([2; 32]),
            &Expectation::unknown(),
            &AppraisalPolicy::default(),
            SystemTime::now(),
        );
        assert!(!a.challenge_bound && !a.binding_ok);
        // A claimed "snp" with no report is not attested, whatever it says.
        let mut fake = none_evidence([1; 32], None);
        fake.kind = "snp".into();
        let a = appraise(
            &fake,
            Some([1; 32]),
            None,
            &Expectation::unknown(),
            &AppraisalPolicy::default(),
            SystemTime::now(),
        );
        assert!(!a.attested());
        assert!(a.summary().starts_with("NOT VERIFIED"), "{}", a.summary());
    }
}
