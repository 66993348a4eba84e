//! The outcome of appraising evidence: a list of named checks and the claims the evidence makes.
//!
//! # Wire format
//! [`Verdict`] serializes to the JSON that `seedward evidence verify --json` prints:
//!
//! ```json
//! {
//!   "ok": true,
//!   "verified": false,
//!   "kind": "snp",
//!   "checks": [
//!     {"name": "signature", "ok": true, "seen": "…", "expected": "…", "hint": "…"},
//!     {"name": "crl", "ok": null, "seen": "no CRL supplied", "expected": "…", "hint": "…"}
//!   ],
//!   "claims": { … kind-specific, see [`SnpClaims`] / [`TdxClaims`] / [`NoneClaims`] … },
//!   "waived": [{"name": "crl", "reason": "…"}],
//!   "test_anchor": null
//! }
//! ```
//!
//! `ok` is `true` for every verdict (the evidence was appraised); it exists so that a caller can
//! print `{"ok": false, "error": …}` for input it could not read, with the same top-level shape.
//! A check's `ok` is `true` (passed), `false` (failed) or `null` (not performed).
//!
//! # Invariants
//! - [`Verdict::verified`] is true only when every listed check passed (`Some(true)`), every
//!   check the kind requires is listed, and the kind is not `none`. A check that was not
//!   performed never counts as passed.
//! - Check names are stable (see [`names`]); a waived check is listed under `waived`, never
//!   among the checks.

use serde::Serialize;
use serde::ser::SerializeStruct as _;

use crate::binding::EvidenceKind;

/// Stable check names. docs/ATTESTATION.md explains each.
pub mod names {
    /// The report/quote parses and is of a supported version and signature algorithm.
    pub const REPORT_FORMAT: &str = "report-format";
    /// The report's signature verifies with the VCEK/VLEK (SNP) or the quote's attestation key (TDX).
    pub const SIGNATURE: &str = "signature";
    /// The signing key chains to a pinned root (AMD ARK; Intel SGX root CA via DCAP).
    pub const CHAIN: &str = "chain";
    /// SNP: the VCEK/VLEK is valid at the verification time.
    pub const VCEK_VALIDITY: &str = "vcek-validity";
    /// SNP: the ASK/ASVK and ARK are valid at the verification time.
    pub const CA_VALIDITY: &str = "ca-validity";
    /// SNP: the VCEK's hwID equals the report's CHIP_ID (VCEK only).
    pub const VCEK_HWID: &str = "vcek-hwid";
    /// SNP: the VCEK/VLEK's SPL extensions equal the report's REPORTED_TCB.
    pub const VCEK_TCB: &str = "vcek-tcb";
    /// SNP: the VCEK/VLEK's productName (and the report's CPUID) name the product of the ARK.
    pub const VCEK_PRODUCT: &str = "vcek-product";
    /// SNP: the CRL (from the collateral) is signed by the ARK, current, and revokes nothing in the chain.
    pub const CRL: &str = "crl";
    /// Some reference entry of the evidence's platform matches.
    pub const REFERENCE: &str = "reference";
    /// SNP: the product is the reference's `ProductName`.
    pub const PRODUCT: &str = "product";
    /// SNP `MEASUREMENT` == `TrustedMeasurement`; TDX `MRTD` == `MrTd`.
    pub const MEASUREMENT: &str = "measurement";
    /// SNP: REPORTED_TCB ≥ `MinimumTCB`.
    pub const TCB_REPORTED: &str = "tcb-reported";
    /// SNP: COMMITTED_TCB ≥ `MinimumTCB`.
    pub const TCB_COMMITTED: &str = "tcb-committed";
    /// SNP: LAUNCH_TCB ≥ `MinimumTCB`.
    pub const TCB_LAUNCH: &str = "tcb-launch";
    /// SNP: the guest policy's DEBUG bit is clear unless `GuestPolicy.Debug` allows it.
    pub const GUEST_POLICY_DEBUG: &str = "guest-policy-debug";
    /// SNP: the other guest policy bits and the ABI version fit `GuestPolicy`.
    pub const GUEST_POLICY: &str = "guest-policy";
    /// SNP: PLATFORM_INFO bits equal the ones `PlatformInfo` sets.
    pub const PLATFORM_INFO: &str = "platform-info";
    /// SNP: CHIP_ID is one of `AllowedChipIDs` (if set).
    pub const CHIP_ID: &str = "chip-id";
    /// SNP: the report was requested at VMPL 0.
    pub const VMPL: &str = "vmpl";
    /// SNP HOST_DATA / TDX MRCONFIGID == the expected policy hash.
    pub const HOST_DATA: &str = "host-data";
    /// The report's user data == the expected binding.
    pub const REPORT_DATA: &str = "report-data";
    /// TDX: DCAP collateral was supplied and parses.
    pub const COLLATERAL: &str = "collateral";
    /// TDX: TCB info, QE identity and both CRLs are current at the verification time.
    pub const COLLATERAL_VALIDITY: &str = "collateral-validity";
    /// TDX: the platform's TCB status is one of `AllowedTcbStatuses`.
    pub const TCB_STATUS: &str = "tcb-status";
    /// TDX: RTMR0..3 == `Rtrms`.
    pub const RTMRS: &str = "rtmrs";
    /// TDX: MRSEAM == `MrSeam` (if set).
    pub const MR_SEAM: &str = "mr-seam";
    /// TDX: the TD's DEBUG attribute is clear unless `TdAttributes` allows it.
    pub const TD_DEBUG: &str = "td-debug";
    /// TDX: TDATTRIBUTES (other than DEBUG) == `TdAttributes`.
    pub const TD_ATTRIBUTES: &str = "td-attributes";
    /// TDX: XFAM == `Xfam`.
    pub const XFAM: &str = "xfam";
    /// TDX: each byte of TEE_TCB_SVN ≥ `MinimumTeeTcbSvn`.
    pub const TEE_TCB_SVN: &str = "tee-tcb-svn";
    /// TDX: the quote header's QE SVN ≥ `MinimumQeSvn`.
    pub const QE_SVN: &str = "qe-svn";
    /// TDX: the quote header's PCE SVN ≥ `MinimumPceSvn`.
    pub const PCE_SVN: &str = "pce-svn";
    /// `none`: the manifest accepts unattested evidence at all.
    pub const UNATTESTED_ALLOWED: &str = "unattested-allowed";
}

/// One named check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    /// `Some(true)` passed, `Some(false)` failed, `None` not performed (never a pass).
    pub ok: Option<bool>,
    pub seen: String,
    pub expected: String,
    /// What to change when it fails (or why it was not performed).
    pub hint: String,
}

impl Check {
    pub fn new(
        name: &'static str,
        ok: Option<bool>,
        seen: impl Into<String>,
        expected: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            name,
            ok,
            seen: seen.into(),
            expected: expected.into(),
            hint: hint.into(),
        }
    }

    /// Passed if `ok`, else failed with `hint`.
    pub fn of(
        name: &'static str,
        ok: bool,
        seen: impl Into<String>,
        expected: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        let hint = if ok { String::new() } else { hint.into() };
        Self::new(name, Some(ok), seen, expected, hint)
    }

    pub fn not_performed(
        name: &'static str,
        why: impl Into<String>,
        expected: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::new(name, None, why, expected, hint)
    }

    pub fn passed(&self) -> bool {
        self.ok == Some(true)
    }

    pub fn failed(&self) -> bool {
        self.ok == Some(false)
    }
}

/// A check the caller explicitly chose not to require (for now only `crl`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiver {
    pub name: &'static str,
    pub reason: String,
}

/// The appraisal of one piece of evidence. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub kind: EvidenceKind,
    pub checks: Vec<Check>,
    pub claims: Claims,
    pub waived: Vec<Waiver>,
    /// `Some(description)` when the chain ended in a test trust anchor.
    pub test_anchor: Option<String>,
    /// Names that must be listed for the verdict to verify.
    required: Vec<&'static str>,
}

impl Verdict {
    pub(crate) fn new(
        kind: EvidenceKind,
        checks: Vec<Check>,
        claims: Claims,
        waived: Vec<Waiver>,
        test_anchor: Option<String>,
        required: Vec<&'static str>,
    ) -> Self {
        Self {
            kind,
            checks,
            claims,
            waived,
            test_anchor,
            required,
        }
    }

    /// True only if the kind attests something, every check passed, and every check the kind
    /// requires was made. See the module invariants.
    pub fn verified(&self) -> bool {
        self.kind != EvidenceKind::None
            && !self.checks.is_empty()
            && self.checks.iter().all(Check::passed)
            && self
                .required
                .iter()
                .all(|name| self.checks.iter().any(|c| c.name == *name))
    }

    /// The check with this name.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// Names of the checks that failed, in order.
    pub fn failed(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| c.failed())
            .map(|c| c.name)
            .collect()
    }

    /// Names of the checks that were not performed, in order.
    pub fn not_performed(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| c.ok.is_none())
            .map(|c| c.name)
            .collect()
    }

    /// Every check that did not pass, one line each: `name failed (seen …, expected …;
    /// hint)` or `name not performed (hint)`, each value cut at `max` characters. For
    /// refusals and logs (evidence carries no secret).
    pub fn problems(&self, max: usize) -> Vec<String> {
        let cut = |s: &str| -> String { s.chars().take(max).collect() };
        self.checks
            .iter()
            .filter(|c| c.ok != Some(true))
            .map(|c| match c.ok {
                Some(false) => format!(
                    "{} failed (seen {}, expected {}; {})",
                    c.name,
                    cut(&c.seen),
                    cut(&c.expected),
                    cut(&c.hint)
                ),
                _ => format!("{} not performed ({})", c.name, cut(&c.hint)),
            })
            .collect()
    }

    /// Names a verified verdict of this kind must list.
    pub fn required(&self) -> &[&'static str] {
        &self.required
    }

    /// Whether the chain ended in a test trust anchor instead of a vendor root: callers must
    /// say so loudly.
    pub fn test_anchor_used(&self) -> bool {
        self.test_anchor.is_some()
    }
}

impl Serialize for Verdict {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Verdict", 7)?;
        s.serialize_field("ok", &true)?;
        s.serialize_field("verified", &self.verified())?;
        s.serialize_field("kind", &self.kind)?;
        s.serialize_field("checks", &self.checks)?;
        s.serialize_field("claims", &self.claims)?;
        s.serialize_field("waived", &self.waived)?;
        s.serialize_field("test_anchor", &self.test_anchor)?;
        s.end()
    }
}

/// What the evidence claims, whether or not it verified. Serialized without a tag: the
/// verdict's `kind` says which.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Claims {
    None(NoneClaims),
    Snp(Box<SnpClaims>),
    Tdx(Box<TdxClaims>),
    /// The report could not be parsed.
    Unreadable(UnreadableClaims),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoneClaims {
    /// Hex; empty if the evidence did not carry 64 bytes.
    pub report_data: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreadableClaims {
    pub report_len: usize,
}

/// An SNP TCB_VERSION, decoded for the product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TcbClaims {
    /// The 8 bytes as in the report, hex.
    pub raw: String,
    /// Turin only.
    pub fmc: Option<u8>,
    pub bootloader: u8,
    pub tee: u8,
    pub snp: u8,
    pub microcode: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnpPolicyClaims {
    /// `0x…`.
    pub raw: String,
    pub abi_major: u8,
    pub abi_minor: u8,
    pub smt: bool,
    pub migrate_ma: bool,
    pub debug: bool,
    pub single_socket: bool,
    pub cxl_allowed: bool,
    pub mem_aes_256_xts: bool,
    pub rapl_dis: bool,
    pub ciphertext_hiding: bool,
    pub page_swap_disable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnpPlatformClaims {
    pub raw: String,
    pub smt_enabled: bool,
    pub tsme_enabled: bool,
    pub ecc_enabled: bool,
    pub rapl_disabled: bool,
    pub ciphertext_hiding_enabled: bool,
    pub alias_check_complete: bool,
}

/// Claims of an SNP attestation report (hex lowercase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnpClaims {
    pub version: u32,
    /// The product of the ARK the chain ended in; else the report's CPUID; else `None`.
    pub product: Option<String>,
    /// `"VCEK"`, `"VLEK"`, `"none"` or `"reserved"` (KEY_INFO.SIGNING_KEY).
    pub signing_key: &'static str,
    pub measurement: String,
    pub host_data: String,
    pub report_data: String,
    pub chip_id: String,
    pub vmpl: u32,
    pub guest_svn: u32,
    pub policy: SnpPolicyClaims,
    pub platform_info: SnpPlatformClaims,
    pub current_tcb: TcbClaims,
    pub reported_tcb: TcbClaims,
    pub committed_tcb: TcbClaims,
    pub launch_tcb: TcbClaims,
    pub id_key_digest: String,
    pub author_key_digest: String,
    pub family_id: String,
    pub image_id: String,
    /// `[family, model, stepping]` (report version 3 and later).
    pub cpuid: Option<[u8; 3]>,
    /// Firmware `major.minor.build`.
    pub current_firmware: String,
    pub committed_firmware: String,
}

/// Claims of a TDX quote (hex lowercase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TdxClaims {
    pub quote_version: u16,
    pub mr_td: String,
    pub rtmrs: [String; 4],
    pub mr_seam: String,
    pub mr_signer_seam: String,
    pub mr_config_id: String,
    pub mr_owner: String,
    pub mr_owner_config: String,
    pub td_attributes: String,
    pub debug: bool,
    pub xfam: String,
    pub tee_tcb_svn: String,
    pub report_data: String,
    pub qe_svn: u16,
    pub pce_svn: u16,
    /// From DCAP verification, if it succeeded.
    pub tcb_status: Option<String>,
    pub advisory_ids: Vec<String>,
    pub fmspc: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn verdict(oks: &[Option<bool>], required: Vec<&'static str>) -> Verdict {
        const NAMES: [&str; 6] = [
            names::SIGNATURE,
            names::CHAIN,
            names::MEASUREMENT,
            names::REPORT_DATA,
            names::HOST_DATA,
            names::CRL,
        ];
        let checks = oks
            .iter()
            .enumerate()
            .map(|(i, ok)| Check::new(NAMES[i % NAMES.len()], *ok, "s", "e", "h"))
            .collect();
        Verdict::new(
            EvidenceKind::Snp,
            checks,
            Claims::Unreadable(UnreadableClaims { report_len: 0 }),
            Vec::new(),
            None,
            required,
        )
    }

    #[test]
    fn verified_needs_every_check_and_the_required_ones() {
        assert!(verdict(&[Some(true), Some(true)], vec![names::SIGNATURE]).verified());
        assert!(!verdict(&[Some(true), None], vec![]).verified());
        assert!(!verdict(&[Some(true), Some(false)], vec![]).verified());
        assert!(!verdict(&[Some(true)], vec![names::SIGNATURE, names::CHAIN]).verified());
        assert!(!verdict(&[], vec![]).verified());
        let mut none = verdict(&[Some(true)], vec![]);
        none.kind = EvidenceKind::None;
        assert!(!none.verified());
    }

    #[test]
    fn json_shape() {
        let v = verdict(&[Some(true), None], vec![]);
        let json = serde_json::to_value(&v).expect("serializes");
        assert_eq!(json["ok"], serde_json::json!(true));
        assert_eq!(json["verified"], serde_json::json!(false));
        assert_eq!(json["kind"], serde_json::json!("snp"));
        assert_eq!(json["checks"][1]["ok"], serde_json::Value::Null);
        assert_eq!(json["checks"][0]["name"], serde_json::json!("signature"));
        for field in ["name", "ok", "seen", "expected", "hint"] {
            assert!(json["checks"][0].get(field).is_some(), "{field}");
        }
    }

    proptest! {
        /// The verdict never reports verified when any check is not performed.
        #[test]
        fn never_verified_with_a_check_not_performed(
            oks in proptest::collection::vec(proptest::option::of(any::<bool>()), 1..12),
            require_first in any::<bool>(),
        ) {
            let required = if require_first { vec![names::SIGNATURE] } else { vec![] };
            let v = verdict(&oks, required);
            if oks.iter().any(|o| o.is_none()) {
                prop_assert!(!v.verified());
            }
            prop_assert_eq!(v.verified(), oks.iter().all(|o| *o == Some(true)));
        }
    }
}
