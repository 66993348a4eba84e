//! The workload's evidence: a TEE report binding the key the initializer asks a
//! certificate for, or (development) kind `none` with a claimed policy hash.
//!
//! # Binding
//! `report_data = SHA-512("seedward evidence v1" ‖ SHA-256(SPKI DER of the workload key))`:
//! the Coordinator's own binding formula, with the workload key as the TLS key and no
//! challenge. The policy hash the workload runs under is the report's HOST_DATA (SNP) or
//! the first 32 bytes of MRCONFIGID (TDX), set by whoever launched the confidential VM.

use std::path::PathBuf;

use anyhow::Context as _;
use seedward_attestation::EvidenceKind;
use seedward_attestation::binding::report_data;
use seedward_attestation::snp::report::SnpReport;
use seedward_attestation::tsm::{DEFAULT_TSM_REPORT_DIR, Detection, TsmProducer, detect};
use seedward_proto::v1 as pb;
use sha2::{Digest as _, Sha256};

/// Where MRCONFIGID starts in a TDX quote v4: the 48-byte header, then the TD report
/// (TEE_TCB_SVN 16, MRSEAM 48, MRSIGNERSEAM 48, SEAMATTRIBUTES 8, TDATTRIBUTES 8, XFAM 8,
/// MRTD 48).
const TDX_MRCONFIGID_OFFSET: usize = 48 + 16 + 48 + 48 + 8 + 8 + 8 + 48;

/// `--attestation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Auto,
    Snp,
    Tdx,
    None,
}

/// Where the evidence comes from.
#[derive(Debug, Clone)]
pub enum EvidenceSource {
    /// Development: nothing attested.
    Unattested,
    /// The platform, through configfs-tsm.
    Tsm {
        kind: EvidenceKind,
        producer: TsmProducer,
    },
}

impl EvidenceSource {
    /// The source `mode` asks for. `snp`/`tdx` never fall back to `none`; `auto` does, with
    /// a warning.
    pub fn choose(mode: Mode, tsm_dir: Option<PathBuf>) -> Self {
        let dir = tsm_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_TSM_REPORT_DIR));
        let kind = match mode {
            Mode::None => return Self::Unattested,
            Mode::Snp => EvidenceKind::Snp,
            Mode::Tdx => EvidenceKind::Tdx,
            Mode::Auto => match detect(&dir) {
                Detection::Tee { kind, .. } => kind,
                Detection::NoTee { reason } => {
                    tracing::warn!(%reason, "no TEE found (--attestation auto): sending development evidence (kind none), which the Coordinator accepts only if the manifest allows unattested workloads");
                    return Self::Unattested;
                }
            },
        };
        Self::Tsm {
            kind,
            producer: TsmProducer::new(dir)
                .expect_kind(Some(kind))
                .privlevel(Some(0)),
        }
    }

    /// Evidence for the key `public_key_spki_der`. `policy_hash` is required for kind
    /// `none`; for a TEE it defaults to the report's and, if given, must equal it.
    pub fn produce(
        &self,
        public_key_spki_der: &[u8],
        policy_hash: Option<[u8; 32]>,
    ) -> anyhow::Result<pb::WorkloadEvidence> {
        match self {
            Self::Unattested => {
                let policy_hash = policy_hash.context(
                    "no policy hash: pass --policy-hash (or SEEDWARD_POLICY_HASH) with the SHA-256 of the workload's policy, a key of the manifest's Policies",
                )?;
                Ok(pb::WorkloadEvidence {
                    kind: EvidenceKind::None.as_str().into(),
                    policy_hash: policy_hash.to_vec(),
                    ..Default::default()
                })
            }
            Self::Tsm { kind, producer } => {
                let binding = report_data(&Sha256::digest(public_key_spki_der).into(), None);
                let report = producer.produce(&binding).with_context(|| {
                    format!(
                        "the platform did not produce {} evidence; check the confidential VM (or --tsm-dir)",
                        kind.as_str()
                    )
                })?;
                let launched = launch_policy(*kind, &report.evidence.report)?;
                if let Some(claimed) = policy_hash
                    && claimed != launched
                {
                    anyhow::bail!(
                        "--policy-hash {} is not the policy this confidential VM was launched with ({}); drop the flag or fix the launch",
                        hex::encode(claimed),
                        hex::encode(launched)
                    );
                }
                Ok(pb::WorkloadEvidence {
                    kind: kind.as_str().into(),
                    policy_hash: launched.to_vec(),
                    report: report.evidence.report,
                    certificates: report.evidence.certificates,
                    collateral: report.evidence.collateral,
                })
            }
        }
    }
}

/// The policy hash a report was launched with.
fn launch_policy(kind: EvidenceKind, report: &[u8]) -> anyhow::Result<[u8; 32]> {
    match kind {
        EvidenceKind::Snp => Ok(SnpReport::parse(report)
            .map_err(|e| anyhow::anyhow!("the platform's SNP report does not parse: {e}"))?
            .host_data()),
        EvidenceKind::Tdx => report
            .get(TDX_MRCONFIGID_OFFSET..TDX_MRCONFIGID_OFFSET + 32)
            .and_then(|b| b.try_into().ok())
            .context("the platform's TDX quote is too short to hold MRCONFIGID"),
        EvidenceKind::None => anyhow::bail!("kind none has no report"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_evidence_needs_a_claimed_policy() {
        let source = EvidenceSource::choose(Mode::None, None);
        let err = source.produce(b"spki", None).unwrap_err();
        assert!(err.to_string().contains("--policy-hash"), "{err}");
        let ev = source.produce(b"spki", Some([7; 32])).unwrap();
        assert_eq!(ev.kind, "none");
        assert_eq!(ev.policy_hash, vec![7; 32]);
        assert!(ev.report.is_empty());
    }

    #[test]
    fn snp_without_a_tee_fails_and_auto_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Some(dir.path().join("none"));
        let snp = EvidenceSource::choose(Mode::Snp, missing.clone());
        assert!(snp.produce(b"spki", Some([7; 32])).is_err());
        assert!(matches!(
            EvidenceSource::choose(Mode::Auto, missing),
            EvidenceSource::Unattested
        ));
    }
}
