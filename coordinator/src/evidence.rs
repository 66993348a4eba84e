//! Evidence: what the Coordinator offers as proof of what it is (docs/COORDINATOR.md,
//! "Evidence and TLS"; docs/ATTESTATION.md).
//!
//! Every kind binds the same 64-byte `report_data` (see [`report_data`]): the SHA-512 of a
//! label, the Coordinator's TLS key hash and the current recovery challenge key. A TEE
//! backend ([`TsmEvidence`]) asks the platform, through the Linux configfs-tsm interface,
//! for a report that carries this binding in its user-data field; the development backend
//! ([`UnattestedEvidence`], kind `none`) only states the binding and attests nothing.
//!
//! # Choosing the backend (`--attestation`)
//! - `snp` / `tdx`: the platform must produce a report of that kind at start-up, or the
//!   Coordinator refuses to start. It never silently downgrades.
//! - `auto`: the kind the tsm provider names; with no usable TEE, `none`, with a warning
//!   logged at every start.
//! - `none`: development; clients show UNATTESTED and ask for an explicit acknowledgement
//!   before a seed or a first manifest is sent.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use seedward_attestation::EvidenceKind;
use seedward_attestation::tsm::{Detection, TsmProducer, detect};
use seedward_proto::v1 as pb;

use crate::error::CoreError;

pub use seedward_attestation::binding::report_data;

/// The development evidence kind: nothing attested.
pub const KIND_NONE: &str = "none";

/// Name of the TDX collateral file in the collateral directory.
pub const TDX_COLLATERAL_FILE: &str = "tdx-collateral.json";

/// Produces evidence for the Coordinator.
pub trait EvidenceProvider: Send + Sync + 'static {
    /// The kind this provider produces.
    fn kind(&self) -> EvidenceKind;

    /// Evidence binding `tls_spki_sha256` and the offered challenge key. May do I/O (a TEE
    /// report): callers run it on a blocking thread, outside the core's lock.
    fn evidence(
        &self,
        tls_spki_sha256: &[u8; 32],
        challenge_public_key: Option<&[u8; 32]>,
    ) -> Result<pb::Evidence, CoreError>;
}

fn base(
    kind: EvidenceKind,
    tls_spki_sha256: &[u8; 32],
    challenge_public_key: Option<&[u8; 32]>,
) -> pb::Evidence {
    pb::Evidence {
        kind: kind.as_str().to_string(),
        tls_spki_sha256: tls_spki_sha256.to_vec(),
        challenge_public_key: challenge_public_key.map(|k| k.to_vec()).unwrap_or_default(),
        report_data: report_data(tls_spki_sha256, challenge_public_key).to_vec(),
        ..Default::default()
    }
}

/// The development provider: binds the keys, attests nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct UnattestedEvidence;

impl EvidenceProvider for UnattestedEvidence {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::None
    }

    fn evidence(
        &self,
        tls_spki_sha256: &[u8; 32],
        challenge_public_key: Option<&[u8; 32]>,
    ) -> Result<pb::Evidence, CoreError> {
        Ok(base(
            EvidenceKind::None,
            tls_spki_sha256,
            challenge_public_key,
        ))
    }
}

/// A TEE provider: SNP or TDX reports through configfs-tsm, plus the collateral the
/// Coordinator was given. The last report is reused while the binding is the same (a ready
/// Coordinator's binding changes only with its TLS key), so status polling does not ask
/// the platform for a report each time.
#[derive(Debug)]
pub struct TsmEvidence {
    kind: EvidenceKind,
    producer: TsmProducer,
    collateral: Vec<u8>,
    last: Mutex<Option<([u8; 64], pb::Evidence)>>,
}

impl TsmEvidence {
    pub fn new(kind: EvidenceKind, producer: TsmProducer, collateral: Vec<u8>) -> Self {
        Self {
            kind,
            producer,
            collateral,
            last: Mutex::new(None),
        }
    }
}

impl EvidenceProvider for TsmEvidence {
    fn kind(&self) -> EvidenceKind {
        self.kind
    }

    fn evidence(
        &self,
        tls_spki_sha256: &[u8; 32],
        challenge_public_key: Option<&[u8; 32]>,
    ) -> Result<pb::Evidence, CoreError> {
        let binding = report_data(tls_spki_sha256, challenge_public_key);
        // A poisoned lock only means a panic while storing a cache entry; it is whole.
        if let Some((cached, evidence)) = &*self.last.lock().unwrap_or_else(|e| e.into_inner())
            && *cached == binding
        {
            return Ok(evidence.clone());
        }
        let report = self.producer.produce(&binding).map_err(|e| {
            tracing::error!(error = %e, "the platform did not produce an attestation report");
            CoreError::EvidenceUnavailable {
                detail: e.to_string(),
            }
        })?;
        let mut evidence = base(self.kind, tls_spki_sha256, challenge_public_key);
        evidence.report = report.evidence.report;
        evidence.certificates = report.evidence.certificates;
        evidence.collateral = self.collateral.clone();
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((binding, evidence.clone()));
        Ok(evidence)
    }
}

/// `--attestation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttestationMode {
    #[default]
    Auto,
    Snp,
    Tdx,
    None,
}

/// How the Coordinator produces its evidence.
#[derive(Debug, Clone, Default)]
pub struct AttestationConfig {
    pub mode: AttestationMode,
    /// The configfs-tsm report directory (`--tsm-dir`).
    pub tsm_dir: Option<PathBuf>,
    /// Collateral to attach (`--collateral-dir`): SNP CRLs (`*.crl`, DER or PEM), TDX
    /// `tdx-collateral.json`.
    pub collateral_dir: Option<PathBuf>,
}

impl AttestationConfig {
    fn tsm_dir(&self) -> PathBuf {
        self.tsm_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(seedward_attestation::tsm::DEFAULT_TSM_REPORT_DIR))
    }
}

/// Builds the evidence provider `config` asks for. With `snp`/`tdx` the platform must
/// produce one report now; otherwise this fails and the Coordinator must not start.
pub fn provider(
    config: &AttestationConfig,
) -> anyhow::Result<std::sync::Arc<dyn EvidenceProvider>> {
    let tsm_dir = config.tsm_dir();
    let kind = match config.mode {
        AttestationMode::None => {
            tracing::warn!(
                "attestation is off (--attestation none): the Coordinator is UNATTESTED and clients cannot verify what it runs; use this for development only"
            );
            return Ok(std::sync::Arc::new(UnattestedEvidence));
        }
        AttestationMode::Snp => EvidenceKind::Snp,
        AttestationMode::Tdx => EvidenceKind::Tdx,
        AttestationMode::Auto => match detect(&tsm_dir) {
            Detection::Tee { kind, provider } => {
                tracing::info!(%provider, kind = kind.as_str(), "attestation: detected a TEE");
                kind
            }
            Detection::NoTee { reason } => {
                tracing::warn!(
                    tsm_dir = %tsm_dir.display(),
                    %reason,
                    "no TEE found (--attestation auto): the Coordinator runs UNATTESTED; clients will ask for an explicit acknowledgement before they send a seed. Pass --attestation snp or tdx to refuse to start without a TEE"
                );
                return Ok(std::sync::Arc::new(UnattestedEvidence));
            }
        },
    };
    let producer = TsmProducer::new(&tsm_dir)
        .expect_kind(Some(kind))
        .privlevel(Some(0));
    let collateral = match &config.collateral_dir {
        Some(dir) => load_collateral(kind, dir)?,
        None => Vec::new(),
    };
    let provider = TsmEvidence::new(kind, producer, collateral);
    // A Coordinator that promises a TEE and cannot deliver must not start: probe once.
    provider
        .evidence(&[0; 32], None)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .map_err(|e| {
            e.context(format!(
                "--attestation {} cannot produce evidence from {}; fix the TEE (or --tsm-dir), or run with --attestation none for development",
                kind.as_str(),
                tsm_dir.display()
            ))
        })?;
    tracing::info!(kind = kind.as_str(), tsm_dir = %tsm_dir.display(), "attestation: evidence is produced by the platform");
    Ok(std::sync::Arc::new(provider))
}

/// The collateral files of `dir` for `kind`, as the evidence's `collateral` field carries
/// them: SNP: every `*.crl` file (DER or PEM) as concatenated DER; TDX: the JSON file.
pub fn load_collateral(kind: EvidenceKind, dir: &Path) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context as _;
    const LIMIT: u64 = 4 << 20;
    let handle = seedward_fs::Dir::open(dir)
        .with_context(|| format!("cannot open the collateral directory {}", dir.display()))?;
    match kind {
        EvidenceKind::Tdx => Ok(handle
            .read(TDX_COLLATERAL_FILE, LIMIT)
            .with_context(|| format!("cannot read {}", dir.join(TDX_COLLATERAL_FILE).display()))?
            .unwrap_or_default()),
        EvidenceKind::Snp => {
            let mut names = handle.names()?;
            names.sort();
            let mut out = Vec::new();
            for name in names
                .iter()
                .filter(|n| n.ends_with(".crl") || n.ends_with(".crl.pem"))
            {
                let bytes = handle
                    .read(name, LIMIT)?
                    .with_context(|| format!("{} vanished", dir.join(name).display()))?;
                if bytes.starts_with(b"-----BEGIN") {
                    for pem in x509_parser::pem::Pem::iter_from_buffer(&bytes) {
                        let pem = pem.with_context(|| {
                            format!("{} is not valid PEM", dir.join(name).display())
                        })?;
                        if pem.label == "X509 CRL" {
                            out.extend_from_slice(&pem.contents);
                        }
                    }
                } else {
                    out.extend_from_slice(&bytes);
                }
            }
            Ok(out)
        }
        EvidenceKind::None => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_evidence_states_the_binding_and_attests_nothing() {
        let b = report_data(&[1; 32], Some(&[2; 32]));
        let ev = UnattestedEvidence
            .evidence(&[1; 32], Some(&[2; 32]))
            .unwrap();
        assert_eq!(ev.kind, KIND_NONE);
        assert_eq!(ev.report_data, b.to_vec());
        assert!(ev.report.is_empty());
    }

    #[test]
    fn snp_mode_without_a_tee_refuses_to_start_and_auto_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        let missing = AttestationConfig {
            mode: AttestationMode::Snp,
            tsm_dir: Some(dir.path().join("no-tsm")),
            collateral_dir: None,
        };
        let err = provider(&missing).err().unwrap();
        assert!(
            format!("{err:#}").contains("cannot produce evidence"),
            "{err:#}"
        );
        let auto = AttestationConfig {
            mode: AttestationMode::Auto,
            ..missing
        };
        assert_eq!(provider(&auto).unwrap().kind(), EvidenceKind::None);
    }
}
