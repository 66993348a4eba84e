//! Verifying a workload's evidence before it gets credentials (docs/ATTESTATION.md,
//! "Workloads").
//!
//! # Rules
//! - Kind `snp`/`tdx`: the report must verify against the *active* manifest's
//!   `ReferenceValues` (any one entry), its HOST_DATA (SNP) or MRCONFIGID (TDX) must be the
//!   policy hash the workload claims, and its `report_data` must be the binding of the key
//!   it asks a certificate for: `report_data(SHA-256(public key SPKI DER), none)`, the same
//!   formula as the Coordinator's own binding with the workload key as the TLS key.
//! - Kind `none`: accepted only while the active manifest allows unattested workloads
//!   (`ReferenceValues` is `{}` or has `"none": {}`); the policy hash is then merely claimed.
//! - A rejection names the failed checks with what was seen and expected (never a secret:
//!   evidence holds none), so the operator knows which reference value to change.

use std::time::SystemTime;

use seedward_attestation::{Appraisal, Evidence, EvidenceKind, Revocation, TrustAnchors, verify};
use seedward_proto::v1 as pb;
use seedward_shared::history::Digest;
use seedward_shared::reference::ReferenceValues;
use sha2::{Digest as _, Sha256};

use crate::credentials::VerifiedWorkload;
use crate::error::CoreError;
use crate::evidence::report_data;

/// Checks workload evidence against the active manifest's reference values.
#[derive(Debug, Clone)]
pub struct WorkloadVerifier {
    anchors: TrustAnchors,
    revocation: Revocation,
    /// Collateral the Coordinator holds (its own platform's CRLs / TDX collateral), used
    /// when the workload sends none.
    collateral: Vec<u8>,
}

impl Default for WorkloadVerifier {
    fn default() -> Self {
        Self::new(TrustAnchors::amd(), Revocation::Require, Vec::new())
    }
}

impl WorkloadVerifier {
    pub fn new(anchors: TrustAnchors, revocation: Revocation, collateral: Vec<u8>) -> Self {
        if anchors.is_test() {
            tracing::warn!(
                "workload evidence is verified against a TEST trust anchor: anything signed by the test key passes; never use this outside tests"
            );
        }
        Self {
            anchors,
            revocation,
            collateral,
        }
    }

    /// Checks `evidence` of a workload that presented `public_key_spki_der`, against
    /// `reference` (the active manifest's), at `at`.
    pub fn verify(
        &self,
        evidence: &pb::WorkloadEvidence,
        public_key_spki_der: &[u8],
        reference: &ReferenceValues,
        at: SystemTime,
    ) -> Result<VerifiedWorkload, CoreError> {
        let policy_hash =
            Digest::from_slice(&evidence.policy_hash).map_err(|_| CoreError::InvalidArgument {
                field: "evidence.policy_hash",
                message: format!(
                    "must be 32 bytes (SHA-256 of the policy document), got {}",
                    evidence.policy_hash.len()
                ),
            })?;
        let kind =
            EvidenceKind::from_name(&evidence.kind).ok_or_else(|| CoreError::EvidenceRejected {
                detail: format!(
                    "unknown evidence kind {:?}; send \"snp\", \"tdx\" or (development) \"none\"",
                    truncate(&evidence.kind, 32)
                ),
            })?;
        if kind == EvidenceKind::None {
            if !evidence.report.is_empty() {
                return Err(CoreError::EvidenceRejected {
                    detail: "evidence of kind \"none\" carries no report".into(),
                });
            }
            if !reference.allows_unattested() {
                return Err(CoreError::EvidenceRejected {
                    detail: "the active manifest's ReferenceValues list TEE platforms and no \"none\" entry, so unattested workloads are refused; run the workload in a confidential VM (initializer --attestation snp or tdx), or add \"none\": {} to ReferenceValues for development".into(),
                });
            }
            return Ok(VerifiedWorkload::new(policy_hash));
        }
        let binding = report_data(&Sha256::digest(public_key_spki_der).into(), None);
        let evidence = Evidence {
            kind,
            report: evidence.report.clone(),
            certificates: evidence.certificates.clone(),
            collateral: if evidence.collateral.is_empty() {
                self.collateral.clone()
            } else {
                evidence.collateral.clone()
            },
        };
        let verdict = verify(
            &evidence,
            &Appraisal {
                reference,
                report_data: Some(binding),
                host_data: Some(*policy_hash.as_bytes()),
                anchors: &self.anchors,
                at,
                revocation: self.revocation,
            },
        );
        if !verdict.verified() {
            let failed = verdict.problems(120);
            tracing::warn!(kind = kind.as_str(), policy_hash = %policy_hash, checks = %failed.join("; "), "workload evidence rejected");
            return Err(CoreError::EvidenceRejected {
                detail: format!("{} evidence: {}", kind.as_str(), failed.join("; ")),
            });
        }
        Ok(VerifiedWorkload::new(policy_hash))
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use seedward_attestation::testing::{ReportSpec, TestSigner, VekSpec};
    use seedward_shared::reference::SnpProduct;

    use super::*;

    fn evidence(kind: &str, hash: &[u8]) -> pb::WorkloadEvidence {
        pb::WorkloadEvidence {
            kind: kind.into(),
            policy_hash: hash.to_vec(),
            ..Default::default()
        }
    }

    fn reference(json: serde_json::Value) -> ReferenceValues {
        ReferenceValues::parse(json.as_object().unwrap()).unwrap()
    }

    #[test]
    fn kind_none_only_where_the_manifest_allows_it() {
        let v = WorkloadVerifier::default();
        let now = SystemTime::now();
        let open = reference(serde_json::json!({}));
        let ok = v
            .verify(&evidence("none", &[7; 32]), &[], &open, now)
            .unwrap();
        assert_eq!(ok.policy_hash(), &Digest::from_slice(&[7; 32]).unwrap());
        let snp_only = reference(serde_json::json!({"snp": [{
            "ProductName": "Milan", "TrustedMeasurement": "00".repeat(48),
            "MinimumTCB": {"BootloaderVersion": 0, "TEEVersion": 0, "SNPVersion": 0, "MicrocodeVersion": 0}
        }]}));
        let err = v
            .verify(&evidence("none", &[7; 32]), &[], &snp_only, now)
            .unwrap_err();
        assert_eq!(err.reason().as_str(), "EVIDENCE_REJECTED");
        assert!(err.to_string().contains("\"none\": {}"), "{err}");
        for (e, reason) in [
            (evidence("none", &[7; 31]), "INVALID_ARGUMENT"),
            (evidence("sgx", &[7; 32]), "EVIDENCE_REJECTED"),
            (
                pb::WorkloadEvidence {
                    report: vec![1],
                    ..evidence("none", &[7; 32])
                },
                "EVIDENCE_REJECTED",
            ),
            // An SNP claim with no report at all fails its checks.
            (evidence("snp", &[7; 32]), "EVIDENCE_REJECTED"),
        ] {
            assert_eq!(
                v.verify(&e, &[], &open, now).unwrap_err().reason().as_str(),
                reason
            );
        }
    }

    #[test]
    fn snp_evidence_must_bind_the_key_and_name_the_policy() {
        let signer = TestSigner::new(SnpProduct::Milan).unwrap();
        let chip_id = [0x11; 64];
        let vek_spec = VekSpec::new(SnpProduct::Milan, chip_id);
        let vek = signer.issue_vcek(&vek_spec).unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
        let policy = Digest::of(b"policy: web");
        let mut spec = ReportSpec::new(SnpProduct::Milan);
        spec.chip_id = chip_id;
        spec.reported_tcb = vek_spec.tcb;
        spec.committed_tcb = vek_spec.tcb;
        spec.launch_tcb = vek_spec.tcb;
        spec.current_tcb = vek_spec.tcb;
        spec.measurement = [0xaa; 48];
        spec.host_data = *policy.as_bytes();
        spec.report_data = report_data(&Sha256::digest(&spki).into(), None);
        let report = spec.sign(SnpProduct::Milan, &vek);
        let reference = reference(serde_json::json!({"snp": [{
            "ProductName": "Milan", "TrustedMeasurement": "aa".repeat(48),
            "MinimumTCB": {"BootloaderVersion": 0, "TEEVersion": 0, "SNPVersion": 0, "MicrocodeVersion": 0}
        }]}));
        let v = WorkloadVerifier::new(signer.anchors(), Revocation::Waive, Vec::new());
        let good = pb::WorkloadEvidence {
            kind: "snp".into(),
            policy_hash: policy.as_bytes().to_vec(),
            report: report.clone(),
            certificates: signer.cert_table(&vek).unwrap(),
            collateral: Vec::new(),
        };
        // Inside the test VCEK's validity (2024..2034), whatever the machine's clock says.
        let now =
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(vek_spec.not_before + 86_400);
        assert_eq!(
            v.verify(&good, &spki, &reference, now)
                .unwrap()
                .policy_hash(),
            &policy
        );
        // Another key than the one the report binds.
        let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let err = v
            .verify(
                &good,
                &rcgen::PublicKeyData::subject_public_key_info(&other),
                &reference,
                now,
            )
            .unwrap_err();
        assert!(err.to_string().contains("report-data failed"), "{err}");
        // A claimed policy the report was not launched with.
        let claimed = pb::WorkloadEvidence {
            policy_hash: Digest::of(b"policy: db").as_bytes().to_vec(),
            ..good.clone()
        };
        let err = v.verify(&claimed, &spki, &reference, now).unwrap_err();
        assert!(err.to_string().contains("host-data failed"), "{err}");
        // A measurement the manifest does not list.
        let strict = reference_with_measurement("bb");
        let err = v.verify(&good, &spki, &strict, now).unwrap_err();
        assert!(err.to_string().contains("measurement failed"), "{err}");
        // With AMD's roots (the default) the test chain does not verify.
        let err = WorkloadVerifier::default()
            .verify(&good, &spki, &reference, now)
            .unwrap_err();
        assert!(err.to_string().contains("chain"), "{err}");
    }

    fn reference_with_measurement(byte: &str) -> ReferenceValues {
        reference(serde_json::json!({"snp": [{
            "ProductName": "Milan", "TrustedMeasurement": byte.repeat(48),
            "MinimumTCB": {"BootloaderVersion": 0, "TEEVersion": 0, "SNPVersion": 0, "MicrocodeVersion": 0}
        }]}))
    }
}
