//! The SEV-SNP `ATTESTATION_REPORT`, read at fixed offsets from the raw bytes.
//!
//! # Wire format
//! AMD SEV-SNP ABI specification (56860), table "ATTESTATION_REPORT"; 1184 bytes, little-endian
//! integers. The signature covers bytes `[0x000, 0x2A0)` exactly as received.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0x000 | 4 | VERSION (2, 3; 4 and 5 keep these offsets) |
//! | 0x004 | 4 | GUEST_SVN |
//! | 0x008 | 8 | POLICY (bits 7:0 ABI_MINOR, 15:8 ABI_MAJOR, 16 SMT, 17 reserved=1, 18 MIGRATE_MA, 19 DEBUG, 20 SINGLE_SOCKET, 21 CXL_ALLOW, 22 MEM_AES_256_XTS, 23 RAPL_DIS, 24 CIPHERTEXT_HIDING, 25 PAGE_SWAP_DISABLE) |
//! | 0x010 | 16 | FAMILY_ID |
//! | 0x020 | 16 | IMAGE_ID |
//! | 0x030 | 4 | VMPL |
//! | 0x034 | 4 | SIGNATURE_ALGO (1 = ECDSA P-384 with SHA-384) |
//! | 0x038 | 8 | CURRENT_TCB |
//! | 0x040 | 8 | PLATFORM_INFO (bit 0 SMT_EN, 1 TSME_EN, 2 ECC_EN, 3 RAPL_DIS, 4 CIPHERTEXT_HIDING_EN, 5 ALIAS_CHECK_COMPLETE) |
//! | 0x048 | 4 | KEY_INFO (bit 0 AUTHOR_KEY_EN, 1 MASK_CHIP_KEY, 4:2 SIGNING_KEY: 0 VCEK, 1 VLEK, 7 none) |
//! | 0x050 | 64 | REPORT_DATA |
//! | 0x090 | 48 | MEASUREMENT |
//! | 0x0C0 | 32 | HOST_DATA |
//! | 0x0E0 | 48 | ID_KEY_DIGEST |
//! | 0x110 | 48 | AUTHOR_KEY_DIGEST |
//! | 0x140 | 32 | REPORT_ID |
//! | 0x160 | 32 | REPORT_ID_MA |
//! | 0x180 | 8 | REPORTED_TCB |
//! | 0x188 | 3 | CPUID family, model, stepping (version ≥ 3; zero before) |
//! | 0x1A0 | 64 | CHIP_ID (zero when MaskChipId is set) |
//! | 0x1E0 | 8 | COMMITTED_TCB |
//! | 0x1E8 | 3 | CURRENT build, minor, major |
//! | 0x1EC | 3 | COMMITTED build, minor, major |
//! | 0x1F0 | 8 | LAUNCH_TCB |
//! | 0x2A0 | 72 + 72 | SIGNATURE: R, S, each little-endian, zero above the 48th byte |
//!
//! TCB_VERSION (8 bytes): Milan and Genoa `[BOOT_LOADER, TEE, 0, 0, 0, 0, SNP, MICROCODE]`;
//! Turin `[FMC, BOOT_LOADER, TEE, SNP, 0, 0, 0, MICROCODE]`. Which layout applies follows the
//! product, which the verifier takes from the certificate chain, not from the report.
//!
//! Why not `sev::firmware::guest::AttestationReport`: sev 8 guesses the TCB layout of a
//! version-2 report from its CHIP_ID (and refuses a masked, all-zero CHIP_ID), and re-encodes
//! the report before checking its signature. The offsets above are all this verifier reads;
//! the tests cross-check them against sev's parser on every recorded report.

use seedward_shared::reference::SnpProduct;

/// Length of a report.
pub const REPORT_LEN: usize = 0x4A0;
/// Length of the signed part.
pub const SIGNED_LEN: usize = 0x2A0;

/// Field offsets (see the module table).
pub mod offsets {
    pub const VERSION: usize = 0x000;
    pub const GUEST_SVN: usize = 0x004;
    pub const POLICY: usize = 0x008;
    pub const FAMILY_ID: usize = 0x010;
    pub const IMAGE_ID: usize = 0x020;
    pub const VMPL: usize = 0x030;
    pub const SIGNATURE_ALGO: usize = 0x034;
    pub const CURRENT_TCB: usize = 0x038;
    pub const PLATFORM_INFO: usize = 0x040;
    pub const KEY_INFO: usize = 0x048;
    pub const REPORT_DATA: usize = 0x050;
    pub const MEASUREMENT: usize = 0x090;
    pub const HOST_DATA: usize = 0x0C0;
    pub const ID_KEY_DIGEST: usize = 0x0E0;
    pub const AUTHOR_KEY_DIGEST: usize = 0x110;
    pub const REPORT_ID: usize = 0x140;
    pub const REPORT_ID_MA: usize = 0x160;
    pub const REPORTED_TCB: usize = 0x180;
    pub const CPUID: usize = 0x188;
    pub const CHIP_ID: usize = 0x1A0;
    pub const COMMITTED_TCB: usize = 0x1E0;
    pub const CURRENT_VERSION: usize = 0x1E8;
    pub const COMMITTED_VERSION: usize = 0x1EC;
    pub const LAUNCH_TCB: usize = 0x1F0;
    pub const SIGNATURE_R: usize = 0x2A0;
    pub const SIGNATURE_S: usize = 0x2E8;
}

/// SIGNATURE_ALGO value for ECDSA P-384 with SHA-384.
pub const SIG_ALGO_ECDSA_P384_SHA384: u32 = 1;

/// Guest policy bits.
pub mod policy_bits {
    pub const SMT: u32 = 16;
    pub const RESERVED_ONE: u32 = 17;
    pub const MIGRATE_MA: u32 = 18;
    pub const DEBUG: u32 = 19;
    pub const SINGLE_SOCKET: u32 = 20;
    pub const CXL_ALLOW: u32 = 21;
    pub const MEM_AES_256_XTS: u32 = 22;
    pub const RAPL_DIS: u32 = 23;
    pub const CIPHERTEXT_HIDING: u32 = 24;
    pub const PAGE_SWAP_DISABLE: u32 = 25;
}

/// Which key signed the report (KEY_INFO.SIGNING_KEY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKey {
    Vcek,
    Vlek,
    /// 7: the report is not signed.
    None,
    Reserved(u8),
}

impl SigningKey {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vcek => "VCEK",
            Self::Vlek => "VLEK",
            Self::None => "none",
            Self::Reserved(_) => "reserved",
        }
    }
}

/// A decoded TCB_VERSION.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tcb {
    /// Turin only.
    pub fmc: Option<u8>,
    pub bootloader: u8,
    pub tee: u8,
    pub snp: u8,
    pub microcode: u8,
}

impl Tcb {
    /// Decodes the 8 bytes with the product's layout (module docs).
    pub fn decode(raw: [u8; 8], product: SnpProduct) -> Self {
        match product {
            SnpProduct::Milan | SnpProduct::Genoa => Self {
                fmc: None,
                bootloader: raw[0],
                tee: raw[1],
                snp: raw[6],
                microcode: raw[7],
            },
            SnpProduct::Turin => Self {
                fmc: Some(raw[0]),
                bootloader: raw[1],
                tee: raw[2],
                snp: raw[3],
                microcode: raw[7],
            },
        }
    }

    /// Encodes with the product's layout (`fmc` ignored before Turin).
    pub fn encode(&self, product: SnpProduct) -> [u8; 8] {
        match product {
            SnpProduct::Milan | SnpProduct::Genoa => [
                self.bootloader,
                self.tee,
                0,
                0,
                0,
                0,
                self.snp,
                self.microcode,
            ],
            SnpProduct::Turin => [
                self.fmc.unwrap_or(0),
                self.bootloader,
                self.tee,
                self.snp,
                0,
                0,
                0,
                self.microcode,
            ],
        }
    }
}

impl std::fmt::Display for Tcb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(fmc) = self.fmc {
            write!(f, "fmc {fmc} ")?;
        }
        write!(
            f,
            "bl {} tee {} snp {} ucode {}",
            self.bootloader, self.tee, self.snp, self.microcode
        )
    }
}

/// The product a CPUID family/model (report version ≥ 3) belongs to.
pub fn product_from_cpuid(family: u8, model: u8) -> Option<SnpProduct> {
    match (family, model) {
        (0x19, 0x00..=0x0F) => Some(SnpProduct::Milan),
        (0x19, 0x10..=0x1F) | (0x19, 0xA0..=0xAF) => Some(SnpProduct::Genoa),
        (0x1A, 0x00..=0x11) => Some(SnpProduct::Turin),
        _ => None,
    }
}

/// Why bytes are not an SNP report this verifier reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error("the report is {len} bytes long, an SNP attestation report is {REPORT_LEN}")]
    Length { len: usize },
    #[error("report version {version} is not supported (2 to 5 are)")]
    Version { version: u32 },
}

/// A report, kept as its raw bytes. Accessors read the offsets of the module table.
#[derive(Clone, PartialEq, Eq)]
pub struct SnpReport {
    raw: Box<[u8; REPORT_LEN]>,
}

impl std::fmt::Debug for SnpReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnpReport")
            .field("version", &self.version())
            .field("measurement", &hex::encode(self.measurement()))
            .finish_non_exhaustive()
    }
}

fn array<const N: usize>(raw: &[u8; REPORT_LEN], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&raw[at..at + N]);
    out
}

impl SnpReport {
    pub fn parse(bytes: &[u8]) -> Result<Self, ReportError> {
        let raw: Box<[u8; REPORT_LEN]> = bytes
            .to_vec()
            .into_boxed_slice()
            .try_into()
            .map_err(|_| ReportError::Length { len: bytes.len() })?;
        let report = Self { raw };
        let version = report.version();
        if !(2..=5).contains(&version) {
            return Err(ReportError::Version { version });
        }
        Ok(report)
    }

    pub fn raw(&self) -> &[u8; REPORT_LEN] {
        &self.raw
    }

    /// Bytes `[0x000, 0x2A0)`: what the signature covers.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.raw[..SIGNED_LEN]
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes(array(&self.raw, at))
    }

    fn u64_at(&self, at: usize) -> u64 {
        u64::from_le_bytes(array(&self.raw, at))
    }

    pub fn version(&self) -> u32 {
        self.u32_at(offsets::VERSION)
    }
    pub fn guest_svn(&self) -> u32 {
        self.u32_at(offsets::GUEST_SVN)
    }
    pub fn policy(&self) -> u64 {
        self.u64_at(offsets::POLICY)
    }
    pub fn policy_bit(&self, bit: u32) -> bool {
        self.policy() >> bit & 1 == 1
    }
    pub fn family_id(&self) -> [u8; 16] {
        array(&self.raw, offsets::FAMILY_ID)
    }
    pub fn image_id(&self) -> [u8; 16] {
        array(&self.raw, offsets::IMAGE_ID)
    }
    pub fn vmpl(&self) -> u32 {
        self.u32_at(offsets::VMPL)
    }
    pub fn signature_algo(&self) -> u32 {
        self.u32_at(offsets::SIGNATURE_ALGO)
    }
    pub fn current_tcb(&self) -> [u8; 8] {
        array(&self.raw, offsets::CURRENT_TCB)
    }
    pub fn platform_info(&self) -> u64 {
        self.u64_at(offsets::PLATFORM_INFO)
    }
    pub fn key_info(&self) -> u32 {
        self.u32_at(offsets::KEY_INFO)
    }
    pub fn mask_chip_key(&self) -> bool {
        self.key_info() >> 1 & 1 == 1
    }
    pub fn signing_key(&self) -> SigningKey {
        match (self.key_info() >> 2 & 0b111) as u8 {
            0 => SigningKey::Vcek,
            1 => SigningKey::Vlek,
            7 => SigningKey::None,
            other => SigningKey::Reserved(other),
        }
    }
    pub fn report_data(&self) -> [u8; 64] {
        array(&self.raw, offsets::REPORT_DATA)
    }
    pub fn measurement(&self) -> [u8; 48] {
        array(&self.raw, offsets::MEASUREMENT)
    }
    pub fn host_data(&self) -> [u8; 32] {
        array(&self.raw, offsets::HOST_DATA)
    }
    pub fn id_key_digest(&self) -> [u8; 48] {
        array(&self.raw, offsets::ID_KEY_DIGEST)
    }
    pub fn author_key_digest(&self) -> [u8; 48] {
        array(&self.raw, offsets::AUTHOR_KEY_DIGEST)
    }
    pub fn report_id(&self) -> [u8; 32] {
        array(&self.raw, offsets::REPORT_ID)
    }
    pub fn reported_tcb(&self) -> [u8; 8] {
        array(&self.raw, offsets::REPORTED_TCB)
    }
    /// `[family, model, stepping]` for version ≥ 3.
    pub fn cpuid(&self) -> Option<[u8; 3]> {
        (self.version() >= 3).then(|| array(&self.raw, offsets::CPUID))
    }
    pub fn chip_id(&self) -> [u8; 64] {
        array(&self.raw, offsets::CHIP_ID)
    }
    pub fn committed_tcb(&self) -> [u8; 8] {
        array(&self.raw, offsets::COMMITTED_TCB)
    }
    /// `[build, minor, major]`.
    pub fn current_version(&self) -> [u8; 3] {
        array(&self.raw, offsets::CURRENT_VERSION)
    }
    /// `[build, minor, major]`.
    pub fn committed_version(&self) -> [u8; 3] {
        array(&self.raw, offsets::COMMITTED_VERSION)
    }
    pub fn launch_tcb(&self) -> [u8; 8] {
        array(&self.raw, offsets::LAUNCH_TCB)
    }
    /// `(R, S)` as the 72-byte little-endian fields.
    pub fn signature(&self) -> ([u8; 72], [u8; 72]) {
        (
            array(&self.raw, offsets::SIGNATURE_R),
            array(&self.raw, offsets::SIGNATURE_S),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcb_layouts() {
        let raw = [3, 0, 0, 0, 0, 0, 8, 115];
        let t = Tcb::decode(raw, SnpProduct::Milan);
        assert_eq!(
            (t.bootloader, t.tee, t.snp, t.microcode, t.fmc),
            (3, 0, 8, 115, None)
        );
        assert_eq!(t.encode(SnpProduct::Milan), raw);
        let turin = [1, 2, 3, 4, 0, 0, 0, 9];
        let t = Tcb::decode(turin, SnpProduct::Turin);
        assert_eq!(
            (t.fmc, t.bootloader, t.tee, t.snp, t.microcode),
            (Some(1), 2, 3, 4, 9)
        );
        assert_eq!(t.encode(SnpProduct::Turin), turin);
        assert_eq!(t.to_string(), "fmc 1 bl 2 tee 3 snp 4 ucode 9");
    }

    #[test]
    fn cpuid_products() {
        assert_eq!(product_from_cpuid(0x19, 0x01), Some(SnpProduct::Milan));
        assert_eq!(product_from_cpuid(0x19, 0x11), Some(SnpProduct::Genoa));
        assert_eq!(product_from_cpuid(0x1A, 0x02), Some(SnpProduct::Turin));
        assert_eq!(product_from_cpuid(0x17, 0x31), None);
    }

    #[test]
    fn parse_rejects_wrong_length_and_version() {
        assert_eq!(
            SnpReport::parse(&[0; 100]),
            Err(ReportError::Length { len: 100 })
        );
        let mut raw = vec![0u8; REPORT_LEN];
        assert_eq!(
            SnpReport::parse(&raw),
            Err(ReportError::Version { version: 0 })
        );
        raw[0] = 2;
        raw[offsets::KEY_INFO] = 1 << 2;
        let r = SnpReport::parse(&raw).expect("parses");
        assert_eq!(r.signing_key(), SigningKey::Vlek);
        assert_eq!(r.cpuid(), None);
    }
}
