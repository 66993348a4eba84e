//! Attestation without a TEE, for the end-to-end tests of the real binaries
//! (docs/ATTESTATION.md, "Testing without a TEE").
//!
//! - [`TestPlatform`]: a test AMD (`seedward_attestation::testing::TestSigner`: ARK, ASK,
//!   ASVK) and one VCEK, and the files the binaries take from it: the ARK bundle for the
//!   hidden `--test-trust-anchor` and a CRL for `--collateral-dir`.
//! - [`TestPlatform::serve`]: a fake configfs-tsm report directory (`FakeTsm`) that a
//!   `seedward-coordinator --attestation snp --tsm-dir DIR` or `seedward-initializer
//!   --attestation snp --tsm-dir DIR` in another process reads exactly like the kernel's:
//!   it writes `inblob`, reads `outblob` (a report signed by the VCEK, binding those bytes),
//!   `auxblob` (the certificate table) and `generation`.
//! - [`snp_reference`]: `ReferenceValues` that match what the fake signs.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use base64::Engine as _;
use seedward_attestation::testing::{
    FakeTsm, FakeTsmConfig, ReportSpec, TestSigner, TestVek, VekSpec,
};
use seedward_shared::reference::SnpProduct;

/// The product every test platform claims.
pub const PRODUCT: SnpProduct = SnpProduct::Milan;
/// The CHIP_ID of the test platform's VCEK and of every report it signs.
pub const CHIP_ID: [u8; 64] = [0xc1; 64];
/// POLICY bit 19: the guest is debuggable (its memory readable by the host).
pub const POLICY_DEBUG: u64 = 1 << 19;

/// A test AMD and one chip's VCEK.
pub struct TestPlatform {
    pub signer: Arc<TestSigner>,
    pub vcek: Arc<TestVek>,
}

impl std::fmt::Debug for TestPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPlatform").finish_non_exhaustive()
    }
}

impl TestPlatform {
    /// A fresh test root (RSA key generation: about a second).
    pub fn new() -> anyhow::Result<Self> {
        let signer = TestSigner::new(PRODUCT).context("test signer")?;
        let vcek = signer
            .issue_vcek(&VekSpec::new(PRODUCT, CHIP_ID))
            .context("test VCEK")?;
        Ok(Self {
            signer: Arc::new(signer),
            vcek: Arc::new(vcek),
        })
    }

    /// The platform the tests' clients and Coordinators trust, made once per test process.
    pub fn trusted() -> &'static TestPlatform {
        static TRUSTED: OnceLock<TestPlatform> = OnceLock::new();
        // Test support: without a signer no attestation test can run, and the panic is the
        // failure report of the test that asked for it.
        TRUSTED.get_or_init(|| {
            TestPlatform::new().unwrap_or_else(|e| panic!("the trusted test platform: {e:#}"))
        })
    }

    /// Writes the ARK bundle (`--test-trust-anchor`): ARK, ASK and ASVK as PEM.
    pub fn write_anchor(&self, path: &Path) -> anyhow::Result<()> {
        let mut pem = String::new();
        for der in [
            self.signer.ark_der(),
            self.signer.ask_der(),
            self.signer.asvk_der(),
        ] {
            pem.push_str(&pem_certificate(der));
        }
        std::fs::write(path, pem).with_context(|| format!("write {}", path.display()))
    }

    /// Writes a current CRL by the ARK (revoking nothing) as `<dir>/ark.crl` (DER), so that
    /// `--collateral-dir <dir>` makes the `crl` check pass instead of being waived.
    pub fn write_crl(&self, dir: &Path) -> anyhow::Result<()> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("clock before 1970")?
            .as_secs();
        let day = Duration::from_secs(86_400).as_secs();
        let crl = self
            .signer
            .crl(&[], now - day, now + 30 * day)
            .context("test CRL")?;
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("ark.crl"), crl).context("write the CRL")
    }

    /// A well-formed report (VMPL 0, no debug, the TCB of the VCEK, [`CHIP_ID`]) of a guest
    /// launched with `host_data` (the policy hash) and measured as [`measurement`].
    pub fn report(&self, host_data: [u8; 32]) -> ReportSpec {
        let mut spec = ReportSpec::new(PRODUCT);
        spec.host_data = host_data;
        spec.chip_id = CHIP_ID;
        spec
    }

    /// Serves the configfs-tsm ABI in `dir` (created if missing) with reports made from
    /// `report`, `report_data` replaced by what the reader wrote to `inblob`. Stops when
    /// the returned server is dropped.
    pub fn serve(&self, dir: &Path, report: ReportSpec) -> anyhow::Result<FakeTsm> {
        std::fs::create_dir_all(dir)?;
        let mut config = FakeTsmConfig::new(PRODUCT);
        config.report = report;
        FakeTsm::start(dir, self.signer.clone(), self.vcek.clone(), config)
            .context("start the fake tsm server")
    }
}

/// The MEASUREMENT of every report the test platform signs (unless a test changes it).
pub fn measurement() -> [u8; 48] {
    ReportSpec::new(PRODUCT).measurement
}

/// `ReferenceValues` with one SEV-SNP entry that the test platform's reports match when
/// `trusted_measurement` is [`measurement`], and no `none` entry: an unattested
/// Coordinator is refused outright.
pub fn snp_reference(trusted_measurement: [u8; 48]) -> serde_json::Value {
    let tcb = VekSpec::new(PRODUCT, CHIP_ID).tcb;
    serde_json::json!({
        "snp": [{
            "ProductName": PRODUCT.to_string(),
            "TrustedMeasurement": hex::encode(trusted_measurement),
            "MinimumTCB": {
                "BootloaderVersion": tcb.bootloader,
                "TEEVersion": tcb.tee,
                "SNPVersion": tcb.snp,
                "MicrocodeVersion": tcb.microcode
            },
            "AllowedChipIDs": [hex::encode(CHIP_ID)]
        }]
    })
}

/// A DER certificate as PEM.
pub fn pem_certificate(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// Copies the regular files and directories of `from` into `to` (a stolen history).
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
