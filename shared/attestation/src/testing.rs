//! **Testing only** (feature `test-signer`): a stand-in for AMD and for the kernel.
//!
//! Nothing here can produce evidence that verifies against [`TrustAnchors::amd`]: the
//! [`TestSigner`] makes its own root (named like AMD's so that the verifier's naming rules
//! apply, but with a fresh key), and a verdict that chains to it says
//! `test trust anchor <fingerprint> (NOT an AMD root)` in its `chain` check and reports
//! [`crate::Verdict::test_anchor_used`]. Release builds of Seedward's binaries must not enable
//! this feature.
//!
//! - [`TestSigner`]: a test ARK, ASK and ASVK (RSA-2048, RSA-PSS/SHA-384 with a 48-byte salt,
//!   like AMD's 4096-bit ones), VCEKs and VLEKs (ECDSA P-384) with AMD's extensions for a
//!   chosen CHIP_ID and TCB, CRLs, and certificate tables.
//! - [`ReportSpec`]: an SNP attestation report (version 2 or 3 layout) with chosen fields,
//!   signed by [`TestVek::sign`] exactly as the firmware does (ECDSA P-384/SHA-384 over bytes
//!   `[0x000, 0x2A0)`, R and S little-endian in 72-byte fields).
//! - [`FakeTsm`]: serves the configfs-tsm ABI in a plain directory for a producer in another
//!   process. See its docs.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use der::asn1::{BitString, Ia5String, OctetString};
use der::{Decode as _, Encode as _};
use p384::ecdsa::signature::Signer as _;
use p384::pkcs8::EncodePublicKey as _;
use rand_core::OsRng;
use rsa::RsaPrivateKey;
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
use seedward_shared::reference::SnpProduct;
use sha2::Sha384;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::anchors::TrustAnchors;
use crate::binding::{CertKind, CertTable};
use crate::snp::report::{REPORT_LEN, SIGNED_LEN, Tcb, offsets};
use crate::snp::vek::oids;

/// Default certificate validity: 2024-01-01T00:00:00Z ..
pub const DEFAULT_NOT_BEFORE: u64 = 1_704_067_200;
/// .. 2034-01-01T00:00:00Z.
pub const DEFAULT_NOT_AFTER: u64 = 2_019_686_400;
/// A verification time inside the default validity: 2025-06-01T00:00:00Z.
pub const DEFAULT_NOW: u64 = 1_748_736_000;

/// Errors of the test signer (it is test code, but still returns errors, not panics).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestSignerError {
    #[error("RSA: {0}")]
    Rsa(String),
    #[error("DER: {0}")]
    Der(String),
    #[error("certificate table: {0}")]
    Table(#[from] crate::binding::CertTableError),
}

fn der_err(e: impl std::fmt::Display) -> TestSignerError {
    TestSignerError::Der(e.to_string())
}

fn time(unix: u64) -> Result<Time, TestSignerError> {
    Time::try_from(SystemTime::UNIX_EPOCH + Duration::from_secs(unix)).map_err(der_err)
}

fn amd_name(cn: &str) -> Result<Name, TestSignerError> {
    Name::from_str(&format!(
        "CN={cn},O=Advanced Micro Devices,ST=CA,L=Santa Clara,C=US,OU=Engineering"
    ))
    .map_err(der_err)
}

/// One RSA key of the test hierarchy with its certificate.
struct CaKey {
    key: RsaPrivateKey,
    name: Name,
    der: Vec<u8>,
    cert: Certificate,
}

/// A test AMD: ARK, ASK and ASVK of one product. See the module docs.
pub struct TestSigner {
    pub product: SnpProduct,
    ark: CaKey,
    ask: CaKey,
    asvk: CaKey,
}

impl std::fmt::Debug for TestSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSigner")
            .field("product", &self.product)
            .finish_non_exhaustive()
    }
}

/// What a VCEK or VLEK certifies.
#[derive(Debug, Clone)]
pub struct VekSpec {
    /// The VCEK's hwID (ignored for a VLEK).
    pub chip_id: [u8; 64],
    /// The TCB the key is derived for (REPORTED_TCB).
    pub tcb: Tcb,
    /// productName, e.g. `Milan-B0`.
    pub product_name: String,
    pub not_before: u64,
    pub not_after: u64,
}

impl VekSpec {
    /// A VCEK for `chip_id` at TCB bl 3 tee 0 snp 8 ucode 115, valid 2024..2034.
    pub fn new(product: SnpProduct, chip_id: [u8; 64]) -> Self {
        Self {
            chip_id,
            tcb: Tcb {
                fmc: (product == SnpProduct::Turin).then_some(1),
                bootloader: 3,
                tee: 0,
                snp: 8,
                microcode: 115,
            },
            product_name: match product {
                SnpProduct::Milan => "Milan-B0".to_owned(),
                other => other.to_string(),
            },
            not_before: DEFAULT_NOT_BEFORE,
            not_after: DEFAULT_NOT_AFTER,
        }
    }
}

/// A test VCEK or VLEK and its private key.
pub struct TestVek {
    pub der: Vec<u8>,
    pub kind: CertKind,
    key: p384::ecdsa::SigningKey,
}

impl std::fmt::Debug for TestVek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestVek")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl TestVek {
    /// Signs `report` in place exactly as AMD firmware does: ECDSA P-384/SHA-384 over bytes
    /// `[0x000, 0x2A0)`, R and S as 72-byte little-endian fields at 0x2A0 and 0x2E8.
    pub fn sign(&self, report: &mut [u8; REPORT_LEN]) {
        let sig: p384::ecdsa::Signature = self.key.sign(&report[..SIGNED_LEN]);
        let (r, s) = sig.split_bytes();
        let mut r_le = [0u8; 72];
        let mut s_le = [0u8; 72];
        for i in 0..48 {
            r_le[i] = r[47 - i];
            s_le[i] = s[47 - i];
        }
        report[offsets::SIGNATURE_R..offsets::SIGNATURE_R + 72].copy_from_slice(&r_le);
        report[offsets::SIGNATURE_S..offsets::SIGNATURE_S + 72].copy_from_slice(&s_le);
    }
}

impl TestSigner {
    /// Generates a fresh ARK, ASK and ASVK (RSA-2048) for `product`.
    pub fn new(product: SnpProduct) -> Result<Self, TestSignerError> {
        let gen_key = || {
            RsaPrivateKey::new(&mut OsRng, 2048).map_err(|e| TestSignerError::Rsa(e.to_string()))
        };
        let ark_key = gen_key()?;
        let ark_name = amd_name(&format!("ARK-{product}"))?;
        let ark_spki = rsa_spki(&ark_key)?;
        let ark = make_ca(
            ark_key.clone(),
            ark_name.clone(),
            ark_spki,
            &ark_key,
            &ark_name,
            1,
        )?;
        let ask_key = gen_key()?;
        let ask_name = amd_name(&format!("SEV-{product}"))?;
        let ask = make_ca(
            ask_key.clone(),
            ask_name,
            rsa_spki(&ask_key)?,
            &ark.key,
            &ark.name,
            2,
        )?;
        let asvk_key = gen_key()?;
        let asvk_name = amd_name(&format!("SEV-VLEK-{product}"))?;
        let asvk = make_ca(
            asvk_key.clone(),
            asvk_name,
            rsa_spki(&asvk_key)?,
            &ark.key,
            &ark.name,
            3,
        )?;
        Ok(Self {
            product,
            ark,
            ask,
            asvk,
        })
    }

    /// Trust anchors that trust only this signer's ARK (a *test* anchor).
    pub fn anchors(&self) -> TrustAnchors {
        match TrustAnchors::with_test_ark(
            self.product,
            &self.ark.der,
            &[&self.ask.der, &self.asvk.der],
        ) {
            Ok(a) => a,
            // The DER was just produced by this signer and parses; an empty anchor set would
            // only make every verification fail, never pass.
            Err(_) => TrustAnchors::amd().only(&[]),
        }
    }

    pub fn ark_der(&self) -> &[u8] {
        &self.ark.der
    }

    pub fn ask_der(&self) -> &[u8] {
        &self.ask.der
    }

    pub fn asvk_der(&self) -> &[u8] {
        &self.asvk.der
    }

    /// Issues a VCEK (by the ASK) with AMD's extensions.
    pub fn issue_vcek(&self, spec: &VekSpec) -> Result<TestVek, TestSignerError> {
        self.issue(spec, CertKind::Vcek)
    }

    /// Issues a VLEK (by the ASVK) with AMD's extensions (no hwID, a cspID).
    pub fn issue_vlek(&self, spec: &VekSpec) -> Result<TestVek, TestSignerError> {
        self.issue(spec, CertKind::Vlek)
    }

    fn issue(&self, spec: &VekSpec, kind: CertKind) -> Result<TestVek, TestSignerError> {
        let key = p384::ecdsa::SigningKey::random(&mut OsRng);
        let spki_der = key.verifying_key().to_public_key_der().map_err(der_err)?;
        let spki = SubjectPublicKeyInfoOwned::from_der(spki_der.as_bytes()).map_err(der_err)?;
        let ext = |oid, value: Vec<u8>| -> Result<Extension, TestSignerError> {
            Ok(Extension {
                extn_id: oid,
                critical: false,
                extn_value: OctetString::new(value).map_err(der_err)?,
            })
        };
        let int = |v: u8| v.to_der().map_err(der_err);
        let mut extensions = vec![
            ext(oids::STRUCT_VERSION, int(0)?)?,
            ext(
                oids::PRODUCT_NAME,
                Ia5String::new(&spec.product_name)
                    .map_err(der_err)?
                    .to_der()
                    .map_err(der_err)?,
            )?,
            ext(oids::BL_SPL, int(spec.tcb.bootloader)?)?,
            ext(oids::TEE_SPL, int(spec.tcb.tee)?)?,
            ext(oids::SNP_SPL, int(spec.tcb.snp)?)?,
            ext(oids::UCODE_SPL, int(spec.tcb.microcode)?)?,
        ];
        if let Some(fmc) = spec.tcb.fmc {
            extensions.push(ext(oids::FMC_SPL, int(fmc)?)?);
        }
        let (issuer, subject) = match kind {
            CertKind::Vlek => {
                extensions.push(ext(
                    oids::CSP_ID,
                    Ia5String::new("CN=test.invalid")
                        .map_err(der_err)?
                        .to_der()
                        .map_err(der_err)?,
                )?);
                (&self.asvk, amd_name("SEV-VLEK")?)
            }
            _ => {
                let hwid = if self.product == SnpProduct::Turin {
                    spec.chip_id[..8].to_vec()
                } else {
                    spec.chip_id.to_vec()
                };
                extensions.push(ext(oids::HWID, hwid)?);
                (&self.ask, amd_name("SEV-VCEK")?)
            }
        };
        let der = sign_cert(
            TbsParts {
                serial: 0,
                issuer: issuer.name.clone(),
                subject,
                spki,
                not_before: spec.not_before,
                not_after: spec.not_after,
                extensions,
            },
            &issuer.key,
        )?;
        Ok(TestVek { der, kind, key })
    }

    /// A CRL by the ARK (RSA-PSS like AMD's), revoking `serials`.
    pub fn crl(
        &self,
        revoked: &[&[u8]],
        this_update: u64,
        next_update: u64,
    ) -> Result<Vec<u8>, TestSignerError> {
        let alg = pss_alg()?;
        let revoked_certificates = revoked
            .iter()
            .map(|s| {
                Ok(RevokedCert {
                    serial_number: SerialNumber::new(s).map_err(der_err)?,
                    revocation_date: time(this_update)?,
                    crl_entry_extensions: None,
                })
            })
            .collect::<Result<Vec<_>, TestSignerError>>()?;
        let tbs = TbsCertList {
            version: Version::V2,
            signature: alg.clone(),
            issuer: self.ark.name.clone(),
            this_update: time(this_update)?,
            next_update: Some(time(next_update)?),
            revoked_certificates: (!revoked_certificates.is_empty())
                .then_some(revoked_certificates),
            crl_extensions: None,
        };
        let tbs_der = tbs.to_der().map_err(der_err)?;
        let signature = pss_sign(&self.ark.key, &tbs_der)?;
        CertificateList {
            tbs_cert_list: tbs,
            signature_algorithm: alg,
            signature: BitString::from_bytes(&signature).map_err(der_err)?,
        }
        .to_der()
        .map_err(der_err)
    }

    /// The serial number of the ASK (to revoke it in a CRL).
    pub fn ask_serial(&self) -> Vec<u8> {
        self.ask
            .cert
            .tbs_certificate
            .serial_number
            .as_bytes()
            .to_vec()
    }

    /// The table the kernel would return in `auxblob`: the VEK, then ASK (or ASVK), then ARK.
    pub fn cert_table(&self, vek: &TestVek) -> Result<Vec<u8>, TestSignerError> {
        let intermediate = if vek.kind == CertKind::Vlek {
            &self.asvk
        } else {
            &self.ask
        };
        Ok(CertTable::new()
            .with(vek.kind, vek.der.clone())
            .with(CertKind::Ask, intermediate.der.clone())
            .with(CertKind::Ark, self.ark.der.clone())
            .to_bytes()?)
    }
}

fn rsa_spki(key: &RsaPrivateKey) -> Result<SubjectPublicKeyInfoOwned, TestSignerError> {
    use rsa::pkcs8::EncodePublicKey as _;
    let der = key.to_public_key().to_public_key_der().map_err(der_err)?;
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).map_err(der_err)
}

fn pss_alg() -> Result<spki::AlgorithmIdentifierOwned, TestSignerError> {
    rsa::pss::get_default_pss_signature_algo_id::<Sha384>().map_err(der_err)
}

fn pss_sign(key: &RsaPrivateKey, message: &[u8]) -> Result<Vec<u8>, TestSignerError> {
    let signer = rsa::pss::BlindedSigningKey::<Sha384>::new(key.clone());
    Ok(signer
        .try_sign_with_rng(&mut OsRng, message)
        .map_err(|e| TestSignerError::Rsa(e.to_string()))?
        .to_vec())
}

struct TbsParts {
    serial: u8,
    issuer: Name,
    subject: Name,
    spki: SubjectPublicKeyInfoOwned,
    not_before: u64,
    not_after: u64,
    extensions: Vec<Extension>,
}

fn sign_cert(parts: TbsParts, signer: &RsaPrivateKey) -> Result<Vec<u8>, TestSignerError> {
    let alg = pss_alg()?;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&[parts.serial]).map_err(der_err)?,
        signature: alg.clone(),
        issuer: parts.issuer,
        validity: Validity {
            not_before: time(parts.not_before)?,
            not_after: time(parts.not_after)?,
        },
        subject: parts.subject,
        subject_public_key_info: parts.spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: (!parts.extensions.is_empty()).then_some(parts.extensions),
    };
    let signature = pss_sign(signer, &tbs.to_der().map_err(der_err)?)?;
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: alg,
        signature: BitString::from_bytes(&signature).map_err(der_err)?,
    }
    .to_der()
    .map_err(der_err)
}

fn make_ca(
    key: RsaPrivateKey,
    name: Name,
    spki: SubjectPublicKeyInfoOwned,
    issuer_key: &RsaPrivateKey,
    issuer_name: &Name,
    serial: u8,
) -> Result<CaKey, TestSignerError> {
    let der = sign_cert(
        TbsParts {
            serial,
            issuer: issuer_name.clone(),
            subject: name.clone(),
            spki,
            not_before: DEFAULT_NOT_BEFORE,
            not_after: DEFAULT_NOT_AFTER,
            extensions: Vec::new(),
        },
        issuer_key,
    )?;
    let cert = Certificate::from_der(&der).map_err(der_err)?;
    Ok(CaKey {
        key,
        name,
        der,
        cert,
    })
}

/// The fields of a test SNP report. [`ReportSpec::new`] gives a well-formed, debug-free,
/// VMPL-0 report of version 2 (Milan) or 3 (Genoa, Turin).
#[derive(Debug, Clone)]
pub struct ReportSpec {
    pub version: u32,
    pub guest_svn: u32,
    pub policy: u64,
    pub family_id: [u8; 16],
    pub image_id: [u8; 16],
    pub vmpl: u32,
    pub current_tcb: Tcb,
    pub reported_tcb: Tcb,
    pub committed_tcb: Tcb,
    pub launch_tcb: Tcb,
    pub platform_info: u64,
    /// 0 VCEK, 1 VLEK.
    pub signing_key: u8,
    pub report_data: [u8; 64],
    pub measurement: [u8; 48],
    pub host_data: [u8; 32],
    pub chip_id: [u8; 64],
    /// Written for version ≥ 3.
    pub cpuid: [u8; 3],
    pub current_version: [u8; 3],
    pub committed_version: [u8; 3],
}

impl ReportSpec {
    pub fn new(product: SnpProduct) -> Self {
        let tcb = VekSpec::new(product, [0; 64]).tcb;
        Self {
            version: if product == SnpProduct::Milan { 2 } else { 3 },
            guest_svn: 0,
            policy: 0x30000,
            family_id: [0; 16],
            image_id: [0; 16],
            vmpl: 0,
            current_tcb: tcb,
            reported_tcb: tcb,
            committed_tcb: tcb,
            launch_tcb: tcb,
            platform_info: 0x1,
            signing_key: 0,
            report_data: [0; 64],
            measurement: [0x4d; 48],
            host_data: [0; 32],
            chip_id: [0xc1; 64],
            cpuid: match product {
                SnpProduct::Milan => [0x19, 0x01, 0x01],
                SnpProduct::Genoa => [0x19, 0x11, 0x01],
                SnpProduct::Turin => [0x1a, 0x02, 0x00],
            },
            current_version: [52, 55, 1],
            committed_version: [52, 55, 1],
        }
    }

    /// The unsigned report bytes for `product`'s TCB layout.
    pub fn build(&self, product: SnpProduct) -> [u8; REPORT_LEN] {
        let mut r = [0u8; REPORT_LEN];
        let mut put = |at: usize, bytes: &[u8]| r[at..at + bytes.len()].copy_from_slice(bytes);
        put(offsets::VERSION, &self.version.to_le_bytes());
        put(offsets::GUEST_SVN, &self.guest_svn.to_le_bytes());
        put(offsets::POLICY, &self.policy.to_le_bytes());
        put(offsets::FAMILY_ID, &self.family_id);
        put(offsets::IMAGE_ID, &self.image_id);
        put(offsets::VMPL, &self.vmpl.to_le_bytes());
        put(offsets::SIGNATURE_ALGO, &1u32.to_le_bytes());
        put(offsets::CURRENT_TCB, &self.current_tcb.encode(product));
        put(offsets::PLATFORM_INFO, &self.platform_info.to_le_bytes());
        put(
            offsets::KEY_INFO,
            &(u32::from(self.signing_key) << 2).to_le_bytes(),
        );
        put(offsets::REPORT_DATA, &self.report_data);
        put(offsets::MEASUREMENT, &self.measurement);
        put(offsets::HOST_DATA, &self.host_data);
        put(offsets::REPORTED_TCB, &self.reported_tcb.encode(product));
        if self.version >= 3 {
            put(offsets::CPUID, &self.cpuid);
        }
        put(offsets::CHIP_ID, &self.chip_id);
        put(offsets::COMMITTED_TCB, &self.committed_tcb.encode(product));
        put(offsets::CURRENT_VERSION, &self.current_version);
        put(offsets::COMMITTED_VERSION, &self.committed_version);
        put(offsets::LAUNCH_TCB, &self.launch_tcb.encode(product));
        r
    }

    /// Builds and signs.
    pub fn sign(&self, product: SnpProduct, vek: &TestVek) -> Vec<u8> {
        let mut r = self.build(product);
        vek.sign(&mut r);
        r.to_vec()
    }
}

/// Knobs of the fake tsm server, for failure tests.
#[derive(Debug, Clone)]
pub struct FakeTsmConfig {
    /// What `provider` says (`sev_guest`).
    pub provider: String,
    /// The report served; its `report_data` is replaced by what the producer wrote to `inblob`.
    pub report: ReportSpec,
    /// Serve no `auxblob` attribute at all.
    pub no_auxblob: bool,
    /// Move `generation` behind the producer's back on this many entries (from the first).
    pub bump_generation: u32,
}

impl FakeTsmConfig {
    pub fn new(product: SnpProduct) -> Self {
        Self {
            provider: "sev_guest".to_owned(),
            report: ReportSpec::new(product),
            no_auxblob: false,
            bump_generation: 0,
        }
    }
}

/// A fake configfs-tsm report directory, served by a thread of the calling process for a
/// producer in **another** process.
///
/// A plain directory cannot compute a report when `outblob` is read, so the server makes
/// `outblob` a FIFO: it polls every 2 ms for new entry directories, fills each with `provider`
/// (last, atomically), `generation`, `privlevel`, `privlevel_floor`, a regular `inblob`, a
/// regular `auxblob` (the certificate table) and the FIFO `outblob`. When a reader has opened
/// `outblob` (a non-blocking open for writing succeeds), it reads `inblob` (written before),
/// sets `generation` to the number of attribute writes (plus one when the
/// `bump_generation` knob says so), signs a report binding the `inblob` bytes, writes it and
/// closes. The producer reads to end of file, as it does on configfs. Its `rmdir` fails on a
/// non-empty plain directory, so served entries stay until the directory is dropped.
pub struct FakeTsm {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU32>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeTsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTsm")
            .field("served", &self.served())
            .finish_non_exhaustive()
    }
}

struct Pending {
    dir: PathBuf,
    bump: bool,
}

impl FakeTsm {
    /// Serves `root` (which must exist) with reports signed by `vek` of `signer`.
    pub fn start(
        root: &Path,
        signer: Arc<TestSigner>,
        vek: Arc<TestVek>,
        config: FakeTsmConfig,
    ) -> io::Result<Self> {
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the tsm root must exist",
            ));
        }
        let auxblob = if config.no_auxblob {
            None
        } else {
            Some(
                signer
                    .cert_table(&vek)
                    .map_err(|e| io::Error::other(e.to_string()))?,
            )
        };
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU32::new(0));
        let root = root.to_owned();
        let (stop2, served2) = (stop.clone(), served.clone());
        let thread = std::thread::spawn(move || {
            let mut known: Vec<PathBuf> = Vec::new();
            let mut pending: Vec<Pending> = Vec::new();
            let mut bumps_left = config.bump_generation;
            while !stop2.load(Ordering::Relaxed) {
                if let Ok(entries) = fs::read_dir(&root) {
                    for entry in entries.flatten() {
                        let dir = entry.path();
                        if !dir.is_dir() || known.contains(&dir) {
                            continue;
                        }
                        known.push(dir.clone());
                        if setup_entry(&dir, &config, auxblob.as_deref()).is_ok() {
                            let bump = bumps_left > 0;
                            bumps_left = bumps_left.saturating_sub(1);
                            pending.push(Pending { dir, bump });
                        }
                    }
                }
                pending.retain(|p| match try_serve(p, &config, &signer, &vek) {
                    Ok(true) => {
                        served2.fetch_add(1, Ordering::Relaxed);
                        false
                    }
                    Ok(false) => true,
                    Err(_) => false,
                });
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Ok(Self {
            stop,
            served,
            thread: Some(thread),
        })
    }

    /// How many reports were served.
    pub fn served(&self) -> u32 {
        self.served.load(Ordering::Relaxed)
    }
}

impl Drop for FakeTsm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, dir.join(name))
}

fn setup_entry(dir: &Path, config: &FakeTsmConfig, auxblob: Option<&[u8]>) -> io::Result<()> {
    write_atomic(dir, "generation", b"0\n")?;
    write_atomic(dir, "privlevel_floor", b"0\n")?;
    fs::write(dir.join("privlevel"), b"")?;
    fs::write(dir.join("inblob"), b"")?;
    if let Some(aux) = auxblob {
        write_atomic(dir, "auxblob", aux)?;
    }
    rustix::fs::mknodat(
        rustix::fs::CWD,
        dir.join("outblob"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        0,
    )
    .map_err(io::Error::from)?;
    write_atomic(dir, "provider", format!("{}\n", config.provider).as_bytes())
}

/// Serves one entry if its reader is there. `Ok(false)`: not yet.
fn try_serve(
    p: &Pending,
    config: &FakeTsmConfig,
    signer: &TestSigner,
    vek: &TestVek,
) -> io::Result<bool> {
    use rustix::fs::{Mode, OFlags};
    let fd = match rustix::fs::open(
        p.dir.join("outblob"),
        OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NXIO) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let mut out = fs::File::from(fd);
    let inblob = fs::read(p.dir.join("inblob"))?;
    let privlevel = fs::read(p.dir.join("privlevel"))?;
    let writes = u64::from(!inblob.is_empty()) + u64::from(!privlevel.is_empty());
    let generation = writes + u64::from(p.bump);
    write_atomic(&p.dir, "generation", format!("{generation}\n").as_bytes())?;
    let mut spec = config.report.clone();
    spec.report_data = [0; 64];
    let n = inblob.len().min(64);
    spec.report_data[..n].copy_from_slice(&inblob[..n]);
    let report = spec.sign(signer.product, vek);
    let mut written = 0;
    while written < report.len() {
        match out.write(&report[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
