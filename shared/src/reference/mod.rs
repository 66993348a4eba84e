//! Reference values: what a Coordinator's (or a workload's) attestation evidence must show.
//!
//! The manifest's `ReferenceValues` object names, per platform, one or more acceptable
//! configurations. Field names follow Contrast's manifest (`snp`, `tdx`, `ProductName`,
//! `TrustedMeasurement`, `MinimumTCB`, `MrTd`, `Rtrms`, …) so that an operator who knows one
//! knows the other. This module only parses and describes; the checks themselves live in the
//! `seedward-attestation` crate.
//!
//! # Wire format
//!
//! ```json
//! {
//!   "snp": [{
//!     "ProductName": "Milan" | "Genoa" | "Turin",
//!     "TrustedMeasurement": "<96 hex: the 48-byte launch measurement>",
//!     "MinimumTCB": {
//!       "BootloaderVersion": 0-255, "TEEVersion": 0-255,
//!       "SNPVersion": 0-255, "MicrocodeVersion": 0-255
//!     },
//!     "GuestPolicy": {                       // optional; every field optional
//!       "ABIMajor": 0-255, "ABIMinor": 0-255, // minimum ABI the policy must ask for (default 0.0)
//!       "SMT": true,                         // may the host use SMT (default true)
//!       "MigrateMA": false, "Debug": false, "CXLAllowed": false,   // may (default false)
//!       "SingleSocket": false, "MemAES256XTS": false, "RAPLDis": false,
//!       "CipherTextHiding": false, "PageSwapDisable": false        // must (default false)
//!     },
//!     "PlatformInfo": {                      // optional; a given field must equal the report's bit
//!       "SMTEnabled": bool, "TSMEEnabled": bool, "ECCEnabled": bool, "RAPLDisabled": bool,
//!       "CiphertextHidingEnabled": bool, "AliasCheckComplete": bool
//!     },
//!     "AllowedChipIDs": ["<128 hex: a 64-byte CHIP_ID>", ...]   // optional; absent or [] = any chip
//!   }],
//!   "tdx": [{
//!     "MrTd": "<96 hex>",
//!     "Rtrms": ["<96 hex>", "<96 hex>", "<96 hex>", "<96 hex>"],
//!     "MrSeam": "<96 hex>",                  // optional: absent = any TDX module build
//!     "TdAttributes": "<16 hex: 8 bytes>",
//!     "Xfam": "<16 hex: 8 bytes>",
//!     "MinimumTeeTcbSvn": "<32 hex: 16 bytes, compared byte by byte>",
//!     "MinimumQeSvn": 0-65535,               // optional, default 0
//!     "MinimumPceSvn": 0-65535,              // optional, default 0
//!     "AllowedTcbStatuses": ["UpToDate", ...] // optional, default ["UpToDate"]
//!   }],
//!   "none": {}                               // optional: the development kind is acceptable
//! }
//! ```
//!
//! Hex is read in either case and is always written lowercase. Every field name is
//! case-sensitive. A list under `snp` or `tdx` is a list of alternatives: evidence is accepted
//! when it matches any one entry completely.
//!
//! # The development kind `none`
//! Evidence of kind `none` attests nothing. A manifest accepts it only if it carries the
//! explicit entry `"none": {}`, or if it names no platform at all (`"ReferenceValues": {}`,
//! which has nothing to verify against and is therefore a development manifest by definition);
//! see [`ReferenceValues::allows_unattested`]. A manifest that lists `snp` or `tdx` values
//! without `"none"` refuses a Coordinator that attests nothing, whatever the operator
//! acknowledges. Even where it is allowed, unattested evidence is never *verified*: callers
//! still need the operator's explicit acknowledgement.
//!
//! # Invariants
//! - [`ReferenceValues::parse`] either returns values in which every field has its documented
//!   type, length and range, or reports *every* problem at once, each with the path of the
//!   field (`ReferenceValues.snp[0].MinimumTCB.SNPVersion`), in document order.
//! - Unknown fields are problems, named with the fields that are accepted there.
//! - `AllowedTcbStatuses` never contains `Revoked` and is never empty.

mod error;
mod parse;

use std::fmt;

pub use error::{ReferenceErrors, ReferenceIssue, ReferenceProblem};
use serde::Serialize;

/// The path prefix of every reported problem.
const ROOT: &str = "ReferenceValues";

/// Platform keys of `ReferenceValues`.
pub const PLATFORM_FIELDS: &[&str] = &["snp", "tdx", "none"];
/// Fields of an `snp` entry.
pub const SNP_FIELDS: &[&str] = &[
    "ProductName",
    "TrustedMeasurement",
    "MinimumTCB",
    "GuestPolicy",
    "PlatformInfo",
    "AllowedChipIDs",
];
/// Fields of `MinimumTCB`.
pub const SNP_TCB_FIELDS: &[&str] = &[
    "BootloaderVersion",
    "TEEVersion",
    "SNPVersion",
    "MicrocodeVersion",
];
/// Fields of `GuestPolicy`.
pub const SNP_POLICY_FIELDS: &[&str] = &[
    "ABIMajor",
    "ABIMinor",
    "SMT",
    "MigrateMA",
    "Debug",
    "SingleSocket",
    "CXLAllowed",
    "MemAES256XTS",
    "RAPLDis",
    "CipherTextHiding",
    "PageSwapDisable",
];
/// Fields of `PlatformInfo`.
pub const SNP_PLATFORM_FIELDS: &[&str] = &[
    "SMTEnabled",
    "TSMEEnabled",
    "ECCEnabled",
    "RAPLDisabled",
    "CiphertextHidingEnabled",
    "AliasCheckComplete",
];
/// Fields of a `tdx` entry.
pub const TDX_FIELDS: &[&str] = &[
    "MrTd",
    "Rtrms",
    "MrSeam",
    "TdAttributes",
    "Xfam",
    "MinimumTeeTcbSvn",
    "MinimumQeSvn",
    "MinimumPceSvn",
    "AllowedTcbStatuses",
];
/// Fields of the `none` entry (it has none).
pub const NONE_FIELDS: &[&str] = &[];

// ---------------------------------------------------------------------------------------------
// Types

/// Parsed `ReferenceValues`. Plain data: serializes back to the wire format (hex lowercase,
/// defaults written out), so a UI can show and diff it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReferenceValues {
    /// Acceptable AMD SEV-SNP configurations (any one must match).
    #[serde(rename = "snp", skip_serializing_if = "Vec::is_empty")]
    pub snp: Vec<SnpReference>,
    /// Acceptable Intel TDX configurations (any one must match).
    #[serde(rename = "tdx", skip_serializing_if = "Vec::is_empty")]
    pub tdx: Vec<TdxReference>,
    /// Present when the manifest explicitly accepts the development kind `none`.
    #[serde(rename = "none", skip_serializing_if = "Option::is_none")]
    pub none: Option<UnattestedReference>,
}

/// The explicit development entry `"none": {}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UnattestedReference {}

/// An AMD EPYC generation with SEV-SNP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum SnpProduct {
    Milan,
    Genoa,
    Turin,
}

impl SnpProduct {
    pub const ALL: [SnpProduct; 3] = [SnpProduct::Milan, SnpProduct::Genoa, SnpProduct::Turin];

    /// The name as written in reference values and in AMD's certificates (`ARK-<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Milan => "Milan",
            Self::Genoa => "Genoa",
            Self::Turin => "Turin",
        }
    }

    /// Parses the exact name (`"Milan"`, `"Genoa"`, `"Turin"`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for SnpProduct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Fixed-length bytes, written as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HexBytes<const N: usize>(pub [u8; N]);

impl<const N: usize> HexBytes<N> {
    pub fn as_bytes(&self) -> &[u8; N] {
        &self.0
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl<const N: usize> fmt::Display for HexBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl<const N: usize> fmt::Debug for HexBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexBytes({})", self.to_hex())
    }
}

impl<const N: usize> Serialize for HexBytes<N> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

/// One acceptable SEV-SNP configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnpReference {
    #[serde(rename = "ProductName")]
    pub product_name: SnpProduct,
    /// The launch measurement (`MEASUREMENT`, report offset 0x90).
    #[serde(rename = "TrustedMeasurement")]
    pub trusted_measurement: HexBytes<48>,
    /// Applied to the reported, committed and launch TCB.
    #[serde(rename = "MinimumTCB")]
    pub minimum_tcb: SnpMinimumTcb,
    #[serde(rename = "GuestPolicy")]
    pub guest_policy: SnpGuestPolicy,
    #[serde(rename = "PlatformInfo")]
    pub platform_info: SnpPlatformInfo,
    /// Empty: any chip.
    #[serde(rename = "AllowedChipIDs")]
    pub allowed_chip_ids: Vec<HexBytes<64>>,
}

/// Minimum security patch levels. All four are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SnpMinimumTcb {
    #[serde(rename = "BootloaderVersion")]
    pub bootloader: u8,
    #[serde(rename = "TEEVersion")]
    pub tee: u8,
    #[serde(rename = "SNPVersion")]
    pub snp: u8,
    #[serde(rename = "MicrocodeVersion")]
    pub microcode: u8,
}

/// What the guest policy (report offset 0x08) may allow and must require.
///
/// "May" bits (`SMT`, `MigrateMA`, `Debug`, `CXLAllowed`): a report whose policy allows
/// something the reference does not allow fails. "Must" bits (`SingleSocket`,
/// `MemAES256XTS`, `RAPLDis`, `CipherTextHiding`, `PageSwapDisable`): a reference that
/// requires one fails a report whose policy does not set it. The policy's ABI version
/// must be at least `ABIMajor.ABIMinor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SnpGuestPolicy {
    #[serde(rename = "ABIMajor")]
    pub abi_major: u8,
    #[serde(rename = "ABIMinor")]
    pub abi_minor: u8,
    #[serde(rename = "SMT")]
    pub smt: bool,
    #[serde(rename = "MigrateMA")]
    pub migrate_ma: bool,
    #[serde(rename = "Debug")]
    pub debug: bool,
    #[serde(rename = "SingleSocket")]
    pub single_socket: bool,
    #[serde(rename = "CXLAllowed")]
    pub cxl_allowed: bool,
    #[serde(rename = "MemAES256XTS")]
    pub mem_aes_256_xts: bool,
    #[serde(rename = "RAPLDis")]
    pub rapl_dis: bool,
    #[serde(rename = "CipherTextHiding")]
    pub ciphertext_hiding: bool,
    #[serde(rename = "PageSwapDisable")]
    pub page_swap_disable: bool,
}

impl Default for SnpGuestPolicy {
    /// Debug, migration agents and CXL refused; host SMT allowed (as on nearly every
    /// production host); nothing required; any ABI version.
    fn default() -> Self {
        Self {
            abi_major: 0,
            abi_minor: 0,
            smt: true,
            migrate_ma: false,
            debug: false,
            single_socket: false,
            cxl_allowed: false,
            mem_aes_256_xts: false,
            rapl_dis: false,
            ciphertext_hiding: false,
            page_swap_disable: false,
        }
    }
}

/// Expected `PLATFORM_INFO` bits (report offset 0x40). `None`: not compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SnpPlatformInfo {
    #[serde(rename = "SMTEnabled", skip_serializing_if = "Option::is_none")]
    pub smt_enabled: Option<bool>,
    #[serde(rename = "TSMEEnabled", skip_serializing_if = "Option::is_none")]
    pub tsme_enabled: Option<bool>,
    #[serde(rename = "ECCEnabled", skip_serializing_if = "Option::is_none")]
    pub ecc_enabled: Option<bool>,
    #[serde(rename = "RAPLDisabled", skip_serializing_if = "Option::is_none")]
    pub rapl_disabled: Option<bool>,
    #[serde(
        rename = "CiphertextHidingEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub ciphertext_hiding_enabled: Option<bool>,
    #[serde(rename = "AliasCheckComplete", skip_serializing_if = "Option::is_none")]
    pub alias_check_complete: Option<bool>,
}

impl SnpPlatformInfo {
    /// `(name, PLATFORM_INFO bit, expected)` for every field that is set.
    pub fn expected_bits(&self) -> Vec<(&'static str, u32, bool)> {
        [
            ("SMTEnabled", 0, self.smt_enabled),
            ("TSMEEnabled", 1, self.tsme_enabled),
            ("ECCEnabled", 2, self.ecc_enabled),
            ("RAPLDisabled", 3, self.rapl_disabled),
            ("CiphertextHidingEnabled", 4, self.ciphertext_hiding_enabled),
            ("AliasCheckComplete", 5, self.alias_check_complete),
        ]
        .into_iter()
        .filter_map(|(name, bit, v)| v.map(|v| (name, bit, v)))
        .collect()
    }
}

/// One acceptable TDX configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TdxReference {
    #[serde(rename = "MrTd")]
    pub mr_td: HexBytes<48>,
    #[serde(rename = "Rtrms")]
    pub rtmrs: [HexBytes<48>; 4],
    /// `None`: any TDX module build (its signer is still checked against Intel's TCB info).
    #[serde(rename = "MrSeam", skip_serializing_if = "Option::is_none")]
    pub mr_seam: Option<HexBytes<48>>,
    /// Compared bit for bit, except that the DEBUG bit (bit 0) set in the reference *allows*
    /// a debug TD rather than requiring one.
    #[serde(rename = "TdAttributes")]
    pub td_attributes: HexBytes<8>,
    #[serde(rename = "Xfam")]
    pub xfam: HexBytes<8>,
    /// Each of the 16 bytes of `TEE_TCB_SVN` must be at least the reference's byte.
    #[serde(rename = "MinimumTeeTcbSvn")]
    pub minimum_tee_tcb_svn: HexBytes<16>,
    #[serde(rename = "MinimumQeSvn")]
    pub minimum_qe_svn: u16,
    #[serde(rename = "MinimumPceSvn")]
    pub minimum_pce_svn: u16,
    /// Never empty, never `Revoked`.
    #[serde(rename = "AllowedTcbStatuses")]
    pub allowed_tcb_statuses: Vec<TdxTcbStatus>,
}

/// An Intel TCB status (TCB info `tcbStatus`), as Intel spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum TdxTcbStatus {
    UpToDate,
    SWHardeningNeeded,
    ConfigurationNeeded,
    ConfigurationAndSWHardeningNeeded,
    OutOfDate,
    OutOfDateConfigurationNeeded,
    TDRelaunchAdvised,
    TDRelaunchAdvisedConfigurationNeeded,
    /// Never accepted: listed so that a status can be named, refused when parsing references.
    Revoked,
}

impl TdxTcbStatus {
    pub const ALL: [TdxTcbStatus; 9] = [
        Self::UpToDate,
        Self::SWHardeningNeeded,
        Self::ConfigurationNeeded,
        Self::ConfigurationAndSWHardeningNeeded,
        Self::OutOfDate,
        Self::OutOfDateConfigurationNeeded,
        Self::TDRelaunchAdvised,
        Self::TDRelaunchAdvisedConfigurationNeeded,
        Self::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpToDate => "UpToDate",
            Self::SWHardeningNeeded => "SWHardeningNeeded",
            Self::ConfigurationNeeded => "ConfigurationNeeded",
            Self::ConfigurationAndSWHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            Self::OutOfDate => "OutOfDate",
            Self::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
            Self::TDRelaunchAdvised => "TDRelaunchAdvised",
            Self::TDRelaunchAdvisedConfigurationNeeded => "TDRelaunchAdvisedConfigurationNeeded",
            Self::Revoked => "Revoked",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for TdxTcbStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

// ---------------------------------------------------------------------------------------------
// Parsing

#[cfg(test)]
mod tests;
