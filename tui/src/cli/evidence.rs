//! `seedward evidence verify`: judge recorded evidence offline against a manifest's
//! reference values — what an operator runs to get the reference values of a new CVM image
//! right before a Coordinator or workload depends on them.

use std::path::PathBuf;
use std::time::SystemTime;

use clap::{Args, Subcommand, ValueEnum};
use seedward_attestation::{Appraisal, CertTable, Evidence, EvidenceKind, verify};
use seedward_shared::manifest::Manifest;

use super::{CliError, Ctx, exit};

pub const EVIDENCE_AFTER_HELP: &str = "\
Examples:
  seedward evidence verify --report report.bin --cert vcek.der --cert ask-ark.pem \\
      --manifest manifest.json --expect-report-data <128 hex>
  seedward evidence verify --report quote.bin --collateral collateral.json \\
      --manifest manifest.json --at 2026-01-01T00:00:00Z --json

Exit codes: 0 the evidence verified, 3 it did not (every check is listed with what was
seen and expected), 2 usage, 1 a file could not be read.";

#[derive(Debug, Args)]
pub struct EvidenceArgs {
    #[command(subcommand)]
    pub command: EvidenceCommand,
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Verify a report (SNP) or quote (TDX) against a manifest's reference values, offline.
    Verify(VerifyArgs),
}

impl EvidenceCommand {
    pub fn name(&self) -> &'static str {
        match self {
            EvidenceCommand::Verify(_) => "evidence verify",
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    Snp,
    Tdx,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The report (SNP, 1184 bytes) or quote (TDX), raw bytes.
    #[arg(long, value_name = "FILE")]
    pub report: PathBuf,
    /// Certificates (DER or PEM; repeatable): VCEK/VLEK, ASK/ASVK, ARK, in any order; or the
    /// certificate table from configfs-tsm `auxblob`.
    #[arg(long = "cert", value_name = "FILE")]
    pub certs: Vec<PathBuf>,
    /// Collateral: SNP CRLs (DER or PEM), or the TDX DCAP collateral JSON.
    #[arg(long, value_name = "FILE")]
    pub collateral: Option<PathBuf>,
    /// The manifest whose ReferenceValues the evidence must match.
    #[arg(long, value_name = "FILE")]
    pub manifest: PathBuf,
    /// The 64-byte report_data the evidence must carry (128 hex). Without it the binding
    /// is not checked, and the evidence cannot verify.
    #[arg(long, value_name = "HEX")]
    pub expect_report_data: Option<String>,
    /// The HOST_DATA (SNP) / MRCONFIGID (TDX) the evidence must carry (64 hex); default:
    /// the hash of the manifest's `coordinator` policy.
    #[arg(long, value_name = "HEX")]
    pub expect_host_data: Option<String>,
    /// Verify as of this time (RFC 3339), e.g. when the evidence was recorded; default now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// The kind of evidence; default: guessed from the report's size and header.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
}

fn read(path: &PathBuf, what: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(path)
        .map_err(|e| CliError::other(format!("cannot read {what} {}: {e}", path.display())))
}

fn hex_arg<const N: usize>(text: &str, flag: &str) -> Result<[u8; N], CliError> {
    hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| CliError::usage(format!("{flag} must be {} hex characters", N * 2)))
}

/// SNP reports are exactly 1184 bytes; TDX quotes start with version 4 (little endian).
fn guess_kind(report: &[u8]) -> EvidenceKind {
    if report.len() == seedward_attestation::snp::report::REPORT_LEN {
        EvidenceKind::Snp
    } else if report.starts_with(&[4, 0]) {
        EvidenceKind::Tdx
    } else {
        EvidenceKind::Snp
    }
}

pub async fn run(ctx: &Ctx, args: EvidenceArgs) -> Result<(), CliError> {
    match args.command {
        EvidenceCommand::Verify(args) => verify_offline(ctx, args),
    }
}

fn verify_offline(ctx: &Ctx, args: VerifyArgs) -> Result<(), CliError> {
    let report = read(&args.report, "the report")?;
    let manifest = Manifest::parse(read(&args.manifest, "the manifest")?)
        .map_err(|e| CliError::usage(format!("{}: {e}", args.manifest.display())))?;
    let reference = manifest
        .reference()
        .map_err(|e| CliError::usage(format!("{}: {e}", args.manifest.display())))?;
    let kind = match args.kind {
        Some(KindArg::Snp) => EvidenceKind::Snp,
        Some(KindArg::Tdx) => EvidenceKind::Tdx,
        None => guess_kind(&report),
    };
    let cert_files = args
        .certs
        .iter()
        .map(|p| read(p, "the certificate"))
        .collect::<Result<Vec<_>, _>>()?;
    let certificates = match cert_files.as_slice() {
        [] => Vec::new(),
        // A certificate table from auxblob is passed through as it is.
        [one] if CertTable::parse(one).is_ok() => one.clone(),
        files => CertTable::from_certificate_files(files)
            .and_then(|t| t.to_bytes())
            .map_err(|e| CliError::usage(format!("--cert: {e}")))?,
    };
    let collateral = match &args.collateral {
        Some(p) => read(p, "the collateral")?,
        None => Vec::new(),
    };
    let report_data = args
        .expect_report_data
        .as_deref()
        .map(|h| hex_arg::<64>(h, "--expect-report-data"))
        .transpose()?;
    let host_data = match args.expect_host_data.as_deref() {
        Some(h) => Some(hex_arg::<32>(h, "--expect-host-data")?),
        None => manifest.coordinator_policy_hash().map(|d| *d.as_bytes()),
    };
    let at = match args.at.as_deref() {
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .map(SystemTime::from)
            .map_err(|e| {
                CliError::usage(format!("--at {text:?}: {e}; e.g. 2026-01-31T12:00:00Z"))
            })?,
        None => SystemTime::now(),
    };
    let verdict = verify(
        &Evidence {
            kind,
            report,
            certificates,
            collateral,
        },
        &Appraisal {
            reference: &reference,
            report_data,
            host_data,
            anchors: &ctx.appraisal.anchors,
            at,
            revocation: ctx.appraisal.revocation,
        },
    );
    let out = &ctx.out;
    out.line(format!(
        "{} evidence: {}",
        kind.as_str(),
        if verdict.verified() {
            "VERIFIED"
        } else {
            "NOT VERIFIED"
        }
    ));
    if let Some(anchor) = &verdict.test_anchor {
        out.line(out.alarm(&format!("TEST TRUST ANCHOR: {anchor}")));
    }
    super::coordinator::print_check_lines(out, &verdict.checks);
    for w in &verdict.waived {
        out.line(format!("  (waived) {}: {}", w.name, w.reason));
    }
    out.json_value(&verdict);
    if verdict.verified() {
        Ok(())
    } else {
        Err(CliError::new(
            exit::VERIFICATION,
            "verification",
            "the evidence does not verify (see the checks above)",
        )
        .reported())
    }
}
