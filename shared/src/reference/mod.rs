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

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

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

/// What is wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceProblem {
    #[error("expected {expected}, found {found}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    #[error("missing field `{field}`")]
    MissingField { field: &'static str },
    #[error("unknown field `{field}`, expected {}{}", expected_list(.expected), case_hint(.suggestion))]
    UnknownField {
        field: String,
        expected: &'static [&'static str],
        /// An accepted field that differs only in letter case.
        suggestion: Option<&'static str>,
    },
    #[error("expected {len} bytes as {} hex characters, found {found}", len * 2)]
    Hex { len: usize, found: String },
    #[error("expected an integer {min}–{max}, found {found}")]
    Integer { min: u64, max: u64, found: String },
    #[error(
        "expected \"Milan\", \"Genoa\" or \"Turin\", found {found:?} (names are case-sensitive)"
    )]
    UnknownProduct { found: String },
    #[error("unknown TCB status {found:?}, expected one of {}", status_list())]
    UnknownTcbStatus { found: String },
    #[error("\"Revoked\" can never be allowed: a revoked platform's keys are compromised")]
    RevokedAllowed,
    #[error("expected exactly {expected} entries, found {found}")]
    Count { expected: usize, found: usize },
    #[error(
        "empty list: no TCB status would ever be accepted; leave the field out for [\"UpToDate\"]"
    )]
    NoTcbStatus,
}

fn expected_list(fields: &[&str]) -> String {
    if fields.is_empty() {
        "no fields here".to_owned()
    } else {
        fields
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn case_hint(suggestion: &Option<&str>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`? field names are case-sensitive)"),
        None => String::new(),
    }
}

fn status_list() -> String {
    TdxTcbStatus::ALL
        .iter()
        .filter(|s| **s != TdxTcbStatus::Revoked)
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One problem, with the path of the field (`ReferenceValues.snp[0].MinimumTCB.SNPVersion`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct ReferenceIssue {
    pub path: String,
    pub problem: ReferenceProblem,
}

/// Every problem [`ReferenceValues::parse`] found (never empty), in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceErrors(Vec<ReferenceIssue>);

impl ReferenceErrors {
    pub fn issues(&self) -> &[ReferenceIssue] {
        &self.0
    }

    pub fn into_issues(self) -> Vec<ReferenceIssue> {
        self.0
    }
}

impl fmt::Display for ReferenceErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "invalid reference values: {one}"),
            many => {
                write!(f, "the reference values have {} problems:", many.len())?;
                for issue in many {
                    write!(f, "\n- {issue}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ReferenceErrors {}

// ---------------------------------------------------------------------------------------------
// Parsing

impl ReferenceValues {
    /// Parses the manifest's `ReferenceValues` object strictly; see the module docs.
    pub fn parse(map: &Map<String, Value>) -> Result<Self, ReferenceErrors> {
        let mut p = Parser::default();
        let root = ROOT.to_owned();
        p.unknown_fields(map, &root, PLATFORM_FIELDS);
        let mut values = ReferenceValues::default();
        if let Some(v) = map.get("snp") {
            let path = format!("{root}.snp");
            if let Some(list) = p.array(v, &path) {
                values.snp = list
                    .iter()
                    .enumerate()
                    .filter_map(|(i, e)| p.snp_entry(e, &format!("{path}[{i}]")))
                    .collect();
            }
        }
        if let Some(v) = map.get("tdx") {
            let path = format!("{root}.tdx");
            if let Some(list) = p.array(v, &path) {
                values.tdx = list
                    .iter()
                    .enumerate()
                    .filter_map(|(i, e)| p.tdx_entry(e, &format!("{path}[{i}]")))
                    .collect();
            }
        }
        if let Some(v) = map.get("none") {
            let path = format!("{root}.none");
            if let Some(obj) = p.object(v, &path) {
                p.unknown_fields(obj, &path, NONE_FIELDS);
                values.none = Some(UnattestedReference {});
            }
        }
        if p.issues.is_empty() {
            Ok(values)
        } else {
            Err(ReferenceErrors(p.issues))
        }
    }

    /// Whether evidence of the development kind `none` is acceptable at all (it is never
    /// *verified*): an explicit `"none"` entry, or no platform entry at all.
    pub fn allows_unattested(&self) -> bool {
        self.none.is_some() || (self.snp.is_empty() && self.tdx.is_empty())
    }

    /// No platform and no development entry: `{}`.
    pub fn is_empty(&self) -> bool {
        self.snp.is_empty() && self.tdx.is_empty() && self.none.is_none()
    }
}

#[derive(Default)]
struct Parser {
    issues: Vec<ReferenceIssue>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Parser {
    fn push(&mut self, path: &str, problem: ReferenceProblem) {
        self.issues.push(ReferenceIssue {
            path: path.to_owned(),
            problem,
        });
    }

    fn wrong_type(&mut self, v: &Value, path: &str, expected: &'static str) {
        self.push(
            path,
            ReferenceProblem::WrongType {
                expected,
                found: type_name(v),
            },
        );
    }

    fn unknown_fields(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        known: &'static [&'static str],
    ) {
        for key in obj.keys() {
            if !known.contains(&key.as_str()) {
                let suggestion = known.iter().copied().find(|k| k.eq_ignore_ascii_case(key));
                self.push(
                    &format!("{path}.{key}"),
                    ReferenceProblem::UnknownField {
                        field: key.clone(),
                        expected: known,
                        suggestion,
                    },
                );
            }
        }
    }

    fn object<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(o) => Some(o),
            other => {
                self.wrong_type(other, path, "an object");
                None
            }
        }
    }

    fn array<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v Vec<Value>> {
        match v {
            Value::Array(a) => Some(a),
            other => {
                self.wrong_type(other, path, "an array");
                None
            }
        }
    }

    fn required<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        path: &str,
        field: &'static str,
    ) -> Option<&'v Value> {
        let v = obj.get(field);
        if v.is_none() {
            self.push(path, ReferenceProblem::MissingField { field });
        }
        v
    }

    fn hex<const N: usize>(&mut self, v: &Value, path: &str) -> Option<HexBytes<N>> {
        let found = match v {
            Value::String(s) => match hex::decode(s) {
                Ok(bytes) => match <[u8; N]>::try_from(bytes.as_slice()) {
                    Ok(arr) => return Some(HexBytes(arr)),
                    Err(_) => format!("{} bytes", bytes.len()),
                },
                Err(_) => format!("{s:?}, which is not hexadecimal"),
            },
            other => type_name(other).to_owned(),
        };
        self.push(path, ReferenceProblem::Hex { len: N, found });
        None
    }

    fn integer(&mut self, v: &Value, path: &str, max: u64) -> Option<u64> {
        let found = match v {
            Value::Number(n) => match n.as_u64() {
                Some(x) if x <= max => return Some(x),
                _ => n.to_string(),
            },
            other => type_name(other).to_owned(),
        };
        self.push(path, ReferenceProblem::Integer { min: 0, max, found });
        None
    }

    fn u8(&mut self, v: &Value, path: &str) -> Option<u8> {
        self.integer(v, path, u64::from(u8::MAX))
            .and_then(|x| u8::try_from(x).ok())
    }

    fn u16(&mut self, v: &Value, path: &str) -> Option<u16> {
        self.integer(v, path, u64::from(u16::MAX))
            .and_then(|x| u16::try_from(x).ok())
    }

    fn boolean(&mut self, v: &Value, path: &str) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            other => {
                self.wrong_type(other, path, "true or false");
                None
            }
        }
    }

    /// An optional field parsed with `f`; `Ok(None)` when absent, `Err(())` when malformed.
    fn optional<T>(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        field: &str,
        f: impl FnOnce(&mut Self, &Value, &str) -> Option<T>,
    ) -> Result<Option<T>, ()> {
        match obj.get(field) {
            None => Ok(None),
            Some(v) => f(self, v, &format!("{path}.{field}")).map(Some).ok_or(()),
        }
    }

    fn snp_entry(&mut self, v: &Value, path: &str) -> Option<SnpReference> {
        let obj = self.object(v, path)?;
        self.unknown_fields(obj, path, SNP_FIELDS);

        let product_name = self
            .required(obj, path, "ProductName")
            .and_then(|v| self.product(v, &format!("{path}.ProductName")));
        let trusted_measurement = self
            .required(obj, path, "TrustedMeasurement")
            .and_then(|v| self.hex::<48>(v, &format!("{path}.TrustedMeasurement")));
        let minimum_tcb = self
            .required(obj, path, "MinimumTCB")
            .and_then(|v| self.snp_tcb(v, &format!("{path}.MinimumTCB")));
        let guest_policy = self.optional(obj, path, "GuestPolicy", Self::snp_policy);
        let platform_info = self.optional(obj, path, "PlatformInfo", Self::snp_platform);
        let chip_ids = self.optional(obj, path, "AllowedChipIDs", |p, v, path| {
            let list = p.array(v, path)?;
            let parsed: Vec<Option<HexBytes<64>>> = list
                .iter()
                .enumerate()
                .map(|(i, e)| p.hex::<64>(e, &format!("{path}[{i}]")))
                .collect();
            parsed.into_iter().collect::<Option<Vec<_>>>()
        });

        Some(SnpReference {
            product_name: product_name?,
            trusted_measurement: trusted_measurement?,
            minimum_tcb: minimum_tcb?,
            guest_policy: guest_policy.ok()?.unwrap_or_default(),
            platform_info: platform_info.ok()?.unwrap_or_default(),
            allowed_chip_ids: chip_ids.ok()?.unwrap_or_default(),
        })
    }

    fn product(&mut self, v: &Value, path: &str) -> Option<SnpProduct> {
        match v {
            Value::String(s) => {
                let p = SnpProduct::from_name(s);
                if p.is_none() {
                    self.push(path, ReferenceProblem::UnknownProduct { found: s.clone() });
                }
                p
            }
            other => {
                self.wrong_type(other, path, "a product name string");
                None
            }
        }
    }

    fn snp_tcb(&mut self, v: &Value, path: &str) -> Option<SnpMinimumTcb> {
        let obj = self.object(v, path)?;
        self.unknown_fields(obj, path, SNP_TCB_FIELDS);
        let mut field = |name: &'static str| {
            self.required(obj, path, name)
                .and_then(|v| self.u8(v, &format!("{path}.{name}")))
        };
        let bootloader = field("BootloaderVersion");
        let tee = field("TEEVersion");
        let snp = field("SNPVersion");
        let microcode = field("MicrocodeVersion");
        Some(SnpMinimumTcb {
            bootloader: bootloader?,
            tee: tee?,
            snp: snp?,
            microcode: microcode?,
        })
    }

    fn snp_policy(&mut self, v: &Value, path: &str) -> Option<SnpGuestPolicy> {
        let obj = self.object(v, path)?;
        self.unknown_fields(obj, path, SNP_POLICY_FIELDS);
        let d = SnpGuestPolicy::default();
        let mut ok = true;
        let mut byte =
            |p: &mut Self, name: &str, default: u8| match p.optional(obj, path, name, Self::u8) {
                Ok(v) => v.unwrap_or(default),
                Err(()) => {
                    ok = false;
                    default
                }
            };
        let abi_major = byte(self, "ABIMajor", d.abi_major);
        let abi_minor = byte(self, "ABIMinor", d.abi_minor);
        let mut flag = |p: &mut Self, name: &str, default: bool| match p.optional(
            obj,
            path,
            name,
            Self::boolean,
        ) {
            Ok(v) => v.unwrap_or(default),
            Err(()) => {
                ok = false;
                default
            }
        };
        let policy = SnpGuestPolicy {
            abi_major,
            abi_minor,
            smt: flag(self, "SMT", d.smt),
            migrate_ma: flag(self, "MigrateMA", d.migrate_ma),
            debug: flag(self, "Debug", d.debug),
            single_socket: flag(self, "SingleSocket", d.single_socket),
            cxl_allowed: flag(self, "CXLAllowed", d.cxl_allowed),
            mem_aes_256_xts: flag(self, "MemAES256XTS", d.mem_aes_256_xts),
            rapl_dis: flag(self, "RAPLDis", d.rapl_dis),
            ciphertext_hiding: flag(self, "CipherTextHiding", d.ciphertext_hiding),
            page_swap_disable: flag(self, "PageSwapDisable", d.page_swap_disable),
        };
        ok.then_some(policy)
    }

    fn snp_platform(&mut self, v: &Value, path: &str) -> Option<SnpPlatformInfo> {
        let obj = self.object(v, path)?;
        self.unknown_fields(obj, path, SNP_PLATFORM_FIELDS);
        let mut ok = true;
        let mut flag = |p: &mut Self, name: &str| match p.optional(obj, path, name, Self::boolean) {
            Ok(v) => v,
            Err(()) => {
                ok = false;
                None
            }
        };
        let info = SnpPlatformInfo {
            smt_enabled: flag(self, "SMTEnabled"),
            tsme_enabled: flag(self, "TSMEEnabled"),
            ecc_enabled: flag(self, "ECCEnabled"),
            rapl_disabled: flag(self, "RAPLDisabled"),
            ciphertext_hiding_enabled: flag(self, "CiphertextHidingEnabled"),
            alias_check_complete: flag(self, "AliasCheckComplete"),
        };
        ok.then_some(info)
    }

    fn tdx_entry(&mut self, v: &Value, path: &str) -> Option<TdxReference> {
        let obj = self.object(v, path)?;
        self.unknown_fields(obj, path, TDX_FIELDS);
        let mr_td = self
            .required(obj, path, "MrTd")
            .and_then(|v| self.hex::<48>(v, &format!("{path}.MrTd")));
        let rtmrs = self
            .required(obj, path, "Rtrms")
            .and_then(|v| self.rtmrs(v, &format!("{path}.Rtrms")));
        let mr_seam = self.optional(obj, path, "MrSeam", Self::hex::<48>);
        let td_attributes = self
            .required(obj, path, "TdAttributes")
            .and_then(|v| self.hex::<8>(v, &format!("{path}.TdAttributes")));
        let xfam = self
            .required(obj, path, "Xfam")
            .and_then(|v| self.hex::<8>(v, &format!("{path}.Xfam")));
        let minimum_tee_tcb_svn = self
            .required(obj, path, "MinimumTeeTcbSvn")
            .and_then(|v| self.hex::<16>(v, &format!("{path}.MinimumTeeTcbSvn")));
        let minimum_qe_svn = self.optional(obj, path, "MinimumQeSvn", Self::u16);
        let minimum_pce_svn = self.optional(obj, path, "MinimumPceSvn", Self::u16);
        let statuses = self.optional(obj, path, "AllowedTcbStatuses", Self::tcb_statuses);
        Some(TdxReference {
            mr_td: mr_td?,
            rtmrs: rtmrs?,
            mr_seam: mr_seam.ok()?,
            td_attributes: td_attributes?,
            xfam: xfam?,
            minimum_tee_tcb_svn: minimum_tee_tcb_svn?,
            minimum_qe_svn: minimum_qe_svn.ok()?.unwrap_or(0),
            minimum_pce_svn: minimum_pce_svn.ok()?.unwrap_or(0),
            allowed_tcb_statuses: statuses
                .ok()?
                .unwrap_or_else(|| vec![TdxTcbStatus::UpToDate]),
        })
    }

    fn rtmrs(&mut self, v: &Value, path: &str) -> Option<[HexBytes<48>; 4]> {
        let list = self.array(v, path)?;
        if list.len() != 4 {
            self.push(
                path,
                ReferenceProblem::Count {
                    expected: 4,
                    found: list.len(),
                },
            );
            return None;
        }
        let parsed: Vec<Option<HexBytes<48>>> = list
            .iter()
            .enumerate()
            .map(|(i, e)| self.hex::<48>(e, &format!("{path}[{i}]")))
            .collect();
        let all: Vec<HexBytes<48>> = parsed.into_iter().collect::<Option<_>>()?;
        <[HexBytes<48>; 4]>::try_from(all).ok()
    }

    fn tcb_statuses(&mut self, v: &Value, path: &str) -> Option<Vec<TdxTcbStatus>> {
        let list = self.array(v, path)?;
        if list.is_empty() {
            self.push(path, ReferenceProblem::NoTcbStatus);
            return None;
        }
        let mut ok = true;
        let mut out = Vec::new();
        for (i, e) in list.iter().enumerate() {
            let p = format!("{path}[{i}]");
            match e {
                Value::String(s) => match TdxTcbStatus::from_name(s) {
                    Some(TdxTcbStatus::Revoked) => {
                        ok = false;
                        self.push(&p, ReferenceProblem::RevokedAllowed);
                    }
                    Some(status) => {
                        if !out.contains(&status) {
                            out.push(status);
                        }
                    }
                    None => {
                        ok = false;
                        self.push(&p, ReferenceProblem::UnknownTcbStatus { found: s.clone() });
                    }
                },
                other => {
                    ok = false;
                    self.wrong_type(other, &p, "a TCB status string");
                }
            }
        }
        ok.then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const M48: &str = "7a1e5c2600112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0011223344556677cd81841f";

    fn parse(v: Value) -> Result<ReferenceValues, ReferenceErrors> {
        match v {
            Value::Object(map) => ReferenceValues::parse(&map),
            _ => panic!("test input must be an object"),
        }
    }

    fn snp_ok() -> Value {
        json!({
            "ProductName": "Milan",
            "TrustedMeasurement": M48,
            "MinimumTCB": {"BootloaderVersion": 3, "TEEVersion": 0, "SNPVersion": 8, "MicrocodeVersion": 115}
        })
    }

    fn tdx_ok() -> Value {
        json!({
            "MrTd": M48,
            "Rtrms": [M48, M48, M48, M48],
            "TdAttributes": "0000001000000000",
            "Xfam": "e702060000000000",
            "MinimumTeeTcbSvn": "03000500000000000000000000000000"
        })
    }

    /// The single issue of a failed parse, as `(path, message)`.
    fn one_issue(v: Value) -> (String, String) {
        let errors = parse(v).expect_err("must fail");
        assert_eq!(errors.issues().len(), 1, "{errors}");
        let issue = &errors.issues()[0];
        (issue.path.clone(), issue.to_string())
    }

    #[test]
    fn empty_is_development() {
        let r = parse(json!({})).expect("valid");
        assert!(r.is_empty());
        assert!(r.allows_unattested());
    }

    #[test]
    fn full_entries_parse_with_defaults() {
        let r = parse(json!({"snp": [snp_ok()], "tdx": [tdx_ok()]})).expect("valid");
        assert!(!r.allows_unattested());
        let snp = &r.snp[0];
        assert_eq!(snp.product_name, SnpProduct::Milan);
        assert_eq!(snp.trusted_measurement.to_hex(), M48);
        assert_eq!(snp.minimum_tcb.microcode, 115);
        assert_eq!(snp.guest_policy, SnpGuestPolicy::default());
        assert!(!snp.guest_policy.debug && snp.guest_policy.smt);
        assert!(snp.allowed_chip_ids.is_empty());
        let tdx = &r.tdx[0];
        assert_eq!(tdx.allowed_tcb_statuses, vec![TdxTcbStatus::UpToDate]);
        assert_eq!(tdx.minimum_qe_svn, 0);
        assert!(tdx.mr_seam.is_none());
    }

    #[test]
    fn explicit_none_entry_allows_unattested_next_to_platforms() {
        let r = parse(json!({"snp": [snp_ok()], "none": {}})).expect("valid");
        assert!(r.allows_unattested());
        let (path, msg) = one_issue(json!({"none": {"Why": 1}}));
        assert_eq!(path, "ReferenceValues.none.Why");
        assert!(msg.contains("no fields here"), "{msg}");
        let (path, msg) = one_issue(json!({"none": true}));
        assert_eq!(path, "ReferenceValues.none");
        assert!(msg.contains("expected an object, found a boolean"), "{msg}");
    }

    #[test]
    fn hex_is_case_insensitive_and_serializes_lowercase() {
        let mut e = snp_ok();
        e["TrustedMeasurement"] = json!(M48.to_ascii_uppercase());
        let r = parse(json!({"snp": [e]})).expect("valid");
        let out = serde_json::to_value(&r).expect("serializes");
        assert_eq!(out["snp"][0]["TrustedMeasurement"], json!(M48));
        assert_eq!(out["snp"][0]["GuestPolicy"]["Debug"], json!(false));
        assert_eq!(out["snp"][0]["MinimumTCB"]["SNPVersion"], json!(8));
    }

    #[test]
    fn tcb_out_of_range_names_the_field() {
        let mut e = snp_ok();
        e["MinimumTCB"]["SNPVersion"] = json!(256);
        let (path, msg) = one_issue(json!({"snp": [e]}));
        assert_eq!(path, "ReferenceValues.snp[0].MinimumTCB.SNPVersion");
        assert_eq!(
            msg,
            "ReferenceValues.snp[0].MinimumTCB.SNPVersion: expected an integer 0–255, found 256"
        );
    }

    #[test]
    fn tcb_wrong_type_and_negative() {
        let mut e = snp_ok();
        e["MinimumTCB"]["TEEVersion"] = json!("0");
        e["MinimumTCB"]["BootloaderVersion"] = json!(-1);
        let errors = parse(json!({"snp": [e]})).expect_err("must fail");
        let msgs: Vec<String> = errors.issues().iter().map(|i| i.to_string()).collect();
        assert_eq!(
            msgs,
            vec![
                "ReferenceValues.snp[0].MinimumTCB.BootloaderVersion: expected an integer 0–255, found -1",
                "ReferenceValues.snp[0].MinimumTCB.TEEVersion: expected an integer 0–255, found a string",
            ]
        );
    }

    #[test]
    fn missing_fields_are_named() {
        let mut e = snp_ok();
        e.as_object_mut().map(|o| o.remove("MinimumTCB"));
        let (path, msg) = one_issue(json!({"snp": [e]}));
        assert_eq!(path, "ReferenceValues.snp[0]");
        assert!(msg.ends_with("missing field `MinimumTCB`"), "{msg}");

        let mut e = snp_ok();
        e["MinimumTCB"]
            .as_object_mut()
            .map(|o| o.remove("MicrocodeVersion"));
        let (path, msg) = one_issue(json!({"snp": [e]}));
        assert_eq!(path, "ReferenceValues.snp[0].MinimumTCB");
        assert!(msg.ends_with("missing field `MicrocodeVersion`"), "{msg}");
    }

    #[test]
    fn unknown_fields_are_named_with_case_hint() {
        let mut e = snp_ok();
        e["trustedMeasurement"] = json!(M48);
        let (path, msg) = one_issue(json!({"snp": [e]}));
        assert_eq!(path, "ReferenceValues.snp[0].trustedMeasurement");
        assert!(msg.contains("did you mean `TrustedMeasurement`"), "{msg}");

        let (path, msg) = one_issue(json!({"aks": {}}));
        assert_eq!(path, "ReferenceValues.aks");
        assert!(msg.contains("`snp`, `tdx`, `none`"), "{msg}");
    }

    #[test]
    fn bad_measurement_lengths_and_hex() {
        let mut e = snp_ok();
        e["TrustedMeasurement"] = json!("abcd");
        let (path, msg) = one_issue(json!({"snp": [e]}));
        assert_eq!(path, "ReferenceValues.snp[0].TrustedMeasurement");
        assert!(
            msg.ends_with("expected 48 bytes as 96 hex characters, found 2 bytes"),
            "{msg}"
        );

        let mut e = snp_ok();
        e["TrustedMeasurement"] = json!("zz");
        let (_, msg) = one_issue(json!({"snp": [e]}));
        assert!(msg.contains("not hexadecimal"), "{msg}");
    }

    #[test]
    fn unknown_product() {
        let mut e = snp_ok();
        e["ProductName"] = json!("milan");
        let (path, msg) = one_issue(json!({"snp": [e]}));
        assert_eq!(path, "ReferenceValues.snp[0].ProductName");
        assert!(msg.contains("case-sensitive"), "{msg}");
    }

    #[test]
    fn guest_policy_and_platform_info() {
        let mut e = snp_ok();
        e["GuestPolicy"] = json!({"Debug": true, "SMT": false, "ABIMajor": 1});
        e["PlatformInfo"] = json!({"SMTEnabled": true});
        let r = parse(json!({"snp": [e]})).expect("valid");
        let p = r.snp[0].guest_policy;
        assert!(p.debug && !p.smt && p.abi_major == 1 && !p.migrate_ma);
        assert_eq!(
            r.snp[0].platform_info.expected_bits(),
            vec![("SMTEnabled", 0, true)]
        );

        let mut e = snp_ok();
        e["GuestPolicy"] = json!({"Debug": "yes", "Debugg": true});
        let errors = parse(json!({"snp": [e]})).expect_err("must fail");
        let paths: Vec<&str> = errors.issues().iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "ReferenceValues.snp[0].GuestPolicy.Debugg",
                "ReferenceValues.snp[0].GuestPolicy.Debug"
            ]
        );

        let mut e = snp_ok();
        e["PlatformInfo"] = json!({"ECCEnabled": 1});
        let (path, msg) = one_issue(json!({"snp": [e]}));
        assert_eq!(path, "ReferenceValues.snp[0].PlatformInfo.ECCEnabled");
        assert!(
            msg.ends_with("expected true or false, found a number"),
            "{msg}"
        );
    }

    #[test]
    fn chip_ids() {
        let mut e = snp_ok();
        e["AllowedChipIDs"] = json!([hex::encode([7u8; 64]), "00"]);
        let (path, msg) = one_issue(json!({"snp": [e]}));
        assert_eq!(path, "ReferenceValues.snp[0].AllowedChipIDs[1]");
        assert!(msg.contains("expected 64 bytes"), "{msg}");
        let mut e = snp_ok();
        e["AllowedChipIDs"] = json!([hex::encode([7u8; 64])]);
        assert_eq!(
            parse(json!({"snp": [e]})).expect("valid").snp[0]
                .allowed_chip_ids
                .len(),
            1
        );
    }

    #[test]
    fn tdx_problems_all_reported_at_once() {
        let mut e = tdx_ok();
        e["Rtrms"] = json!([M48]);
        e["MinimumQeSvn"] = json!(70000);
        e["AllowedTcbStatuses"] = json!(["UpToDate", "Revoked", "Fine"]);
        e.as_object_mut().map(|o| o.remove("Xfam"));
        let errors = parse(json!({"tdx": [e]})).expect_err("must fail");
        let msgs: Vec<String> = errors.issues().iter().map(|i| i.to_string()).collect();
        assert_eq!(msgs.len(), 5, "{msgs:#?}");
        assert_eq!(
            msgs[0],
            "ReferenceValues.tdx[0].Rtrms: expected exactly 4 entries, found 1"
        );
        assert_eq!(msgs[1], "ReferenceValues.tdx[0]: missing field `Xfam`");
        assert!(
            msgs[2].starts_with("ReferenceValues.tdx[0].MinimumQeSvn: expected an integer 0–65535")
        );
        assert!(msgs[3].starts_with("ReferenceValues.tdx[0].AllowedTcbStatuses[1]: \"Revoked\""));
        assert!(
            msgs[4].starts_with("ReferenceValues.tdx[0].AllowedTcbStatuses[2]: unknown TCB status")
        );
        assert!(
            errors
                .to_string()
                .starts_with("the reference values have 5 problems:")
        );
    }

    #[test]
    fn tdx_empty_status_list_and_wrong_container() {
        let mut e = tdx_ok();
        e["AllowedTcbStatuses"] = json!([]);
        let (path, msg) = one_issue(json!({"tdx": [e]}));
        assert_eq!(path, "ReferenceValues.tdx[0].AllowedTcbStatuses");
        assert!(msg.contains("empty list"), "{msg}");
        let (path, msg) = one_issue(json!({"tdx": {}}));
        assert_eq!(path, "ReferenceValues.tdx");
        assert!(msg.ends_with("expected an array, found an object"), "{msg}");
        let (path, _) = one_issue(json!({"snp": [1]}));
        assert_eq!(path, "ReferenceValues.snp[0]");
    }

    #[test]
    fn tdx_optional_fields() {
        let mut e = tdx_ok();
        e["MrSeam"] = json!(M48);
        e["MinimumPceSvn"] = json!(13);
        e["AllowedTcbStatuses"] = json!(["UpToDate", "SWHardeningNeeded", "UpToDate"]);
        let r = parse(json!({"tdx": [e]})).expect("valid");
        let t = &r.tdx[0];
        assert_eq!(t.mr_seam.map(|m| m.to_hex()), Some(M48.to_owned()));
        assert_eq!(t.minimum_pce_svn, 13);
        assert_eq!(
            t.allowed_tcb_statuses,
            vec![TdxTcbStatus::UpToDate, TdxTcbStatus::SWHardeningNeeded]
        );
    }
}
