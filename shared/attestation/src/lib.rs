//! Seedward's attestation: evidence that a Coordinator (or workload) runs in a real TEE with
//! the expected software, bound to the connection it vouches for
//! (docs/ATTESTATION.md).
//!
//! Everything except [`tsm`] is pure and offline: the verification time is an input, never the
//! clock; no network is touched.
//!
//! | module | what it holds |
//! |---|---|
//! | [`binding`] | the 64-byte `report_data` binding, [`Evidence`], the SNP certificate table |
//! | [`anchors`] | the pinned AMD roots (and a test root for the test signer) |
//! | [`snp`] | the SEV-SNP report layout and verifier |
//! | [`tdx`] | the TDX quote verifier (DCAP, via `dcap-qvl`) |
//! | [`verdict`] | named checks with what was seen and expected, and the evidence's claims |
//! | [`tsm`] | the producer: the Linux configfs-tsm ABI (the crate's only I/O) |
//! | `testing` | feature `test-signer`: a test ARK/ASK/VCEK, SNP reports signed like AMD firmware, a fake tsm directory |
//!
//! # Example
//! ```no_run
//! use seedward_attestation::{Appraisal, Revocation, TrustAnchors, verify};
//! # fn demo(evidence: &seedward_attestation::Evidence,
//! #         reference: &seedward_shared::reference::ReferenceValues,
//! #         binding: [u8; 64], coordinator_policy: [u8; 32]) {
//! let anchors = TrustAnchors::amd();
//! let verdict = verify(evidence, &Appraisal {
//!     reference,
//!     report_data: Some(binding),
//!     host_data: Some(coordinator_policy),
//!     anchors: &anchors,
//!     at: std::time::SystemTime::now(),
//!     revocation: Revocation::Require,
//! });
//! if !verdict.verified() {
//!     for check in verdict.checks.iter().filter(|c| !c.passed()) {
//!         eprintln!("{}: seen {}, expected {} ({})", check.name, check.seen, check.expected, check.hint);
//!     }
//! }
//! # }
//! ```

use std::time::SystemTime;

use seedward_shared::reference::ReferenceValues;

pub mod anchors;
pub mod binding;
pub mod snp;
pub mod tdx;
pub mod tsm;
pub mod verdict;
mod x509;

#[cfg(feature = "test-signer")]
pub mod testing;

pub use anchors::TrustAnchors;
pub use binding::{CertKind, CertTable, Evidence, EvidenceKind, report_data};
pub use verdict::{Check, Claims, Verdict};

/// Whether SNP revocation (the AMD CRL) must be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Revocation {
    /// The `crl` check is listed; without a CRL it is "not performed" and the verdict does
    /// not verify.
    #[default]
    Require,
    /// The caller explicitly accepts not checking revocation when no CRL is available: the
    /// verdict lists `crl` under `waived` instead of among its checks. A CRL that *is*
    /// supplied is still checked.
    Waive,
}

/// Everything a verdict depends on besides the evidence.
#[derive(Debug, Clone, Copy)]
pub struct Appraisal<'a> {
    /// The manifest's reference values.
    pub reference: &'a ReferenceValues,
    /// The binding the evidence must carry (`report_data(tls, challenge)`); `None`: the
    /// `report-data` check is not performed, so the verdict cannot verify.
    pub report_data: Option<[u8; 64]>,
    /// The policy hash the TEE must have been launched with (SNP HOST_DATA; TDX MRCONFIGID,
    /// zero-padded to 48 bytes): for the Coordinator the hash of the policy whose `Role` is
    /// `coordinator`, for a workload the hash it claims. `None`: not performed.
    pub host_data: Option<[u8; 32]>,
    pub anchors: &'a TrustAnchors,
    /// The verification time (certificate and collateral validity).
    pub at: SystemTime,
    pub revocation: Revocation,
}

impl Appraisal<'_> {
    pub(crate) fn at_unix(&self) -> u64 {
        self.at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// Appraises `evidence` of any kind. Never fails: what could not be checked is a check that
/// was not performed.
pub fn verify(evidence: &Evidence, appraisal: &Appraisal<'_>) -> Verdict {
    match evidence.kind {
        EvidenceKind::None => verify_unattested(evidence, appraisal),
        EvidenceKind::Snp => snp::verify(evidence, appraisal),
        EvidenceKind::Tdx => tdx::verify(evidence, appraisal),
    }
}

/// Kind `none`: nothing is attested, only the binding can be compared.
fn verify_unattested(evidence: &Evidence, appraisal: &Appraisal<'_>) -> Verdict {
    use verdict::names;
    let nothing = "nothing attested (evidence kind none)";
    let mut checks = vec![
        Check::not_performed(
            names::SIGNATURE,
            nothing,
            "a TEE report signed by the platform",
            "run the Coordinator in a confidential VM with --attestation snp or tdx",
        ),
        Check::not_performed(
            names::CHAIN,
            nothing,
            "a certificate chain to a pinned vendor root",
            "run the Coordinator in a confidential VM with --attestation snp or tdx",
        ),
    ];
    let allowed = appraisal.reference.allows_unattested();
    checks.push(Check::of(
        names::UNATTESTED_ALLOWED,
        allowed,
        if allowed {
            "the manifest accepts unattested Coordinators (development)"
        } else {
            "the manifest lists platform reference values and no \"none\" entry"
        },
        "ReferenceValues is {} or has \"none\": {}",
        "this manifest is for real TEEs: start the Coordinator with --attestation snp or tdx, or add \"none\": {} to ReferenceValues for development",
    ));
    checks.push(report_data_check(
        evidence.report.as_slice().try_into().ok(),
        appraisal.report_data,
    ));
    let claims = Claims::None(verdict::NoneClaims {
        report_data: if evidence.report.len() == 64 {
            hex::encode(&evidence.report)
        } else {
            String::new()
        },
    });
    Verdict::new(
        EvidenceKind::None,
        checks,
        claims,
        Vec::new(),
        None,
        vec![names::SIGNATURE, names::CHAIN, names::REPORT_DATA],
    )
}

/// The `report-data` check shared by every kind.
pub(crate) fn report_data_check(seen: Option<[u8; 64]>, expected: Option<[u8; 64]>) -> Check {
    use verdict::names;
    match (seen, expected) {
        (None, _) => Check::new(
            names::REPORT_DATA,
            Some(false),
            "no 64-byte report_data in the evidence",
            expected.map(hex::encode).unwrap_or_default(),
            "the evidence is malformed; it must carry the 64-byte binding",
        ),
        (Some(seen), None) => Check::not_performed(
            names::REPORT_DATA,
            hex::encode(seen),
            "no binding was given to compare with",
            "pass the expected binding (--expect-report-data): without it nothing ties the evidence to this connection",
        ),
        (Some(seen), Some(expected)) => Check::of(
            names::REPORT_DATA,
            seen == expected,
            hex::encode(seen),
            hex::encode(expected),
            "the evidence was made for another TLS key or challenge key: this is not the endpoint you are talking to (a relay or an impostor), or the Coordinator restarted; reconnect and retry, and do not send secrets",
        ),
    }
}

/// The `host-data` check shared by SNP (32 bytes) and TDX (48 bytes, zero-padded).
pub(crate) fn host_data_check(seen: &[u8], expected: Option<[u8; 32]>, field: &str) -> Check {
    use verdict::names;
    match expected {
        None => Check::not_performed(
            names::HOST_DATA,
            hex::encode(seen),
            "no policy hash was given to compare with",
            "pass the expected policy hash (for the Coordinator: the manifest policy whose Role is coordinator)",
        ),
        Some(expected) => {
            let mut want = seen.to_vec();
            want.iter_mut().for_each(|b| *b = 0);
            want[..32].copy_from_slice(&expected);
            Check::of(
                names::HOST_DATA,
                seen == want.as_slice(),
                hex::encode(seen),
                hex::encode(&want),
                format!(
                    "the TEE was launched with another policy ({field}): deploy it with the policy whose hash the manifest lists, or update the manifest's Policies"
                ),
            )
        }
    }
}
