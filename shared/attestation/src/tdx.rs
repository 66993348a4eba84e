//! The Intel TDX verifier: DCAP quote verification with `dcap-qvl` (RustCrypto backend, no
//! collateral fetching), and Seedward's policy layer on top.
//!
//! 1. `report-format`: the quote parses, version 4 or 5, TEE type TDX (0x81), ECDSA P-256 key.
//! 2. `signature`: the quote's attestation key signs header ‖ TD report (ECDSA P-256/SHA-256),
//!    checked here on the raw bytes so that a changed body is named as such.
//! 3. `collateral`, `collateral-validity`: the DCAP collateral (PCK CRL + chain, root CA CRL,
//!    TCB info, QE identity) was supplied, and TCB info, QE identity and both CRLs are current
//!    at the verification time.
//! 4. `chain`: `dcap-qvl` verifies the PCK chain to Intel's SGX root CA (whose key id is pinned
//!    here as [`INTEL_ROOT_KEY_ID`]), the CRLs, the TCB info and QE identity signatures, the QE
//!    report and its binding of the attestation key, and matches the platform's TCB level.
//! 5. `tcb-status` and the reference entry (`measurement` = MRTD, `rtmrs`, `mr-seam`,
//!    `td-debug`, `td-attributes`, `xfam`, `tee-tcb-svn`, `qe-svn`, `pce-svn`); several entries
//!    are chosen between as for SNP ([`crate::snp::verify`]).
//! 6. `host-data`: MRCONFIGID == the policy hash followed by 16 zero bytes (the 32-byte hash
//!    in the first 32 of MRCONFIGID's 48 bytes); `report-data`.
//!
//! Debug TDs are refused by `td-debug` (not inside dcap-qvl, so that the verdict names it).

use dcap_qvl::configs::RustCryptoConfig;
use dcap_qvl::quote::{Quote, TDReport10};
use dcap_qvl::{QuoteClaims, QuoteCollateralV3};
use p256::ecdsa::signature::Verifier as _;
use seedward_shared::reference::{TdxReference, TdxTcbStatus};

use crate::binding::{Evidence, EvidenceKind};
use crate::verdict::{Check, Claims, TdxClaims, UnreadableClaims, Verdict, names};
use crate::{Appraisal, host_data_check, report_data_check, x509};

/// SHA-384 of the public key (uncompressed SEC1 point) of Intel's "Intel SGX Root CA", the
/// root every DCAP chain must end in.
pub const INTEL_ROOT_KEY_ID: &str = "46e403bd34f05a3f2817ab9badcaacc7ffc98e0f261008cd30dae936cace18d5dcf58eef31463613de1570d516200993";

const TEE_TYPE_TDX: u32 = 0x81;
/// ECDSA-256 with P-256 (the only DCAP attestation key type).
const KEY_TYPE_ECDSA_P256: u16 = 2;

const EVIDENCE_CHECKS: &[&str] = &[
    names::REPORT_FORMAT,
    names::SIGNATURE,
    names::COLLATERAL,
    names::COLLATERAL_VALIDITY,
    names::CHAIN,
];
const ENTRY_CHECKS: &[&str] = &[
    names::TCB_STATUS,
    names::MEASUREMENT,
    names::RTMRS,
    names::MR_SEAM,
    names::TD_DEBUG,
    names::TD_ATTRIBUTES,
    names::XFAM,
    names::TEE_TCB_SVN,
    names::QE_SVN,
    names::PCE_SVN,
];

struct AcceptAll;

impl dcap_qvl::Policy for AcceptAll {
    fn validate(&self, _: &QuoteClaims) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The outcome of `dcap-qvl`'s verification.
enum Dcap {
    /// No collateral to run it with.
    NotRun,
    Verified(Box<QuoteClaims>),
    /// Every signature and the chain verified, then no TCB level of Intel's TCB info matched the
    /// platform (or it is revoked).
    TcbUnmatched(String),
    Failed(String),
}

impl Dcap {
    fn claims(&self) -> Option<&QuoteClaims> {
        match self {
            Self::Verified(c) => Some(c),
            _ => None,
        }
    }
}

/// `dcap-qvl` 0.7 errors raised while matching the platform's TCB level: its `verify_impl`
/// raises them in steps 8–10, after the TCB info, QE identity, PCK chain, QE report and quote
/// signature steps (1–7) have all passed. The test on `tdx_quote_outdated` pins this.
fn tcb_level_error(message: &str) -> bool {
    message.contains("No matching TCB level found")
        || message.contains("TCB status is invalid: Revoked")
        || message.contains("is below minimum required from TDX module TCB levels")
}

/// Appraises TDX evidence. See the module docs.
pub fn verify(evidence: &Evidence, appraisal: &Appraisal<'_>) -> Verdict {
    let raw = evidence.report.as_slice();
    let quote = match Quote::parse(raw) {
        Ok(q) => q,
        Err(e) => {
            return unreadable(
                raw.len(),
                appraisal,
                format!("the quote does not parse: {e}"),
            );
        }
    };
    let Some(td) = quote.report.as_td10() else {
        return unreadable(
            raw.len(),
            appraisal,
            "the quote is an SGX quote, not a TD quote".to_owned(),
        );
    };
    let mut checks = Vec::new();
    let h = &quote.header;
    checks.push(Check::of(
        names::REPORT_FORMAT,
        matches!(h.version, 4 | 5)
            && h.tee_type == TEE_TYPE_TDX
            && h.attestation_key_type == KEY_TYPE_ECDSA_P256,
        format!(
            "quote version {}, TEE type 0x{:x}, attestation key type {}",
            h.version, h.tee_type, h.attestation_key_type
        ),
        "quote version 4 or 5, TEE type 0x81 (TDX), key type 2 (ECDSA P-256)",
        "the evidence is not a TDX quote; check the Coordinator's --attestation",
    ));
    checks.push(signature_check(raw, &quote));

    let at = appraisal.at_unix();
    let collateral: Result<QuoteCollateralV3, String> = if evidence.collateral.is_empty() {
        Err("no DCAP collateral supplied".to_owned())
    } else {
        serde_json::from_slice(&evidence.collateral)
            .map_err(|e| format!("the collateral is not DCAP collateral JSON: {e}"))
    };
    let collateral_hint = "put the DCAP collateral for this platform (PCK CRL and chain, root CA CRL, TCB info, QE identity) into the evidence or the collateral cache directory";
    match &collateral {
        Ok(_) => checks.push(Check::of(
            names::COLLATERAL,
            true,
            "DCAP collateral supplied",
            "DCAP collateral",
            "",
        )),
        Err(e) if evidence.collateral.is_empty() => checks.push(Check::not_performed(
            names::COLLATERAL,
            e.clone(),
            "DCAP collateral",
            collateral_hint,
        )),
        Err(e) => checks.push(Check::of(
            names::COLLATERAL,
            false,
            e.clone(),
            "DCAP collateral JSON",
            collateral_hint,
        )),
    }
    checks.push(match &collateral {
        Ok(c) => collateral_validity(c, at),
        Err(_) => Check::not_performed(
            names::COLLATERAL_VALIDITY,
            "no collateral",
            "current collateral",
            collateral_hint,
        ),
    });
    let dcap: Dcap = match &collateral {
        Err(_) => Dcap::NotRun,
        Ok(c) => match dcap_qvl::verify::QuoteVerifier::new_prod()
            .with_config::<RustCryptoConfig>()
            .allow_debug(true)
            .verify_with_policy(raw, c.clone(), at, &AcceptAll)
        {
            Ok(claims) => Dcap::Verified(Box::new(claims)),
            Err(e) => {
                let message = format!("{e:#}");
                if tcb_level_error(&message) {
                    Dcap::TcbUnmatched(message)
                } else {
                    Dcap::Failed(message)
                }
            }
        },
    };
    checks.push(match &dcap {
        Dcap::NotRun => Check::not_performed(
            names::CHAIN,
            "no collateral",
            "a PCK chain to Intel's SGX root CA",
            collateral_hint,
        ),
        Dcap::Verified(claims) => {
            let key_id = hex::encode(&claims.platform.root_key_id);
            Check::of(
                names::CHAIN,
                key_id == INTEL_ROOT_KEY_ID,
                format!(
                    "DCAP verification passed: PCK chain to the Intel SGX Root CA (key id {}…), FMSPC {}",
                    &key_id[..16.min(key_id.len())],
                    hex::encode_upper(claims.platform.pck.fmspc)
                ),
                format!("a chain to the Intel SGX Root CA (key id {}…)", &INTEL_ROOT_KEY_ID[..16]),
                "the quote does not chain to Intel's root: do not trust it",
            )
        }
        Dcap::TcbUnmatched(_) => Check::of(
            names::CHAIN,
            true,
            "PCK chain to dcap-qvl's Intel SGX Root CA, CRLs, TCB info and QE identity signatures, QE report and quote signature verified; the platform's TCB level then did not match (see tcb-status)",
            "a PCK chain to the Intel SGX Root CA",
            "",
        ),
        Dcap::Failed(e) => Check::of(
            names::CHAIN,
            false,
            format!("DCAP verification failed: {e}"),
            "a PCK chain to the Intel SGX Root CA, current CRLs, TCB info and QE identity",
            "the quote or its collateral is not genuine or not current: refresh the collateral; if it persists, do not trust the quote",
        ),
    });

    let entry = choose_entry(&quote, td, &dcap, appraisal);
    checks.push(entry.0);
    checks.extend(entry.1);

    let mut config = [0u8; 48];
    config.copy_from_slice(&td.mr_config_id);
    checks.push(host_data_check(&config, appraisal.host_data, "MRCONFIGID"));
    checks.push(report_data_check(
        Some(td.report_data),
        appraisal.report_data,
    ));

    let mut required = EVIDENCE_CHECKS.to_vec();
    required.push(names::REFERENCE);
    required.extend_from_slice(ENTRY_CHECKS);
    required.extend_from_slice(&[names::HOST_DATA, names::REPORT_DATA]);
    let claims = claims(&quote, td, dcap.claims());
    Verdict::new(
        EvidenceKind::Tdx,
        checks,
        Claims::Tdx(Box::new(claims)),
        Vec::new(),
        None,
        required,
    )
}

fn unreadable(len: usize, appraisal: &Appraisal<'_>, why: String) -> Verdict {
    let mut checks = vec![Check::of(
        names::REPORT_FORMAT,
        false,
        why,
        "a DCAP TD quote, version 4 or 5",
        "the evidence is not a TDX quote; check the Coordinator's --attestation",
    )];
    for name in EVIDENCE_CHECKS.iter().skip(1) {
        checks.push(Check::not_performed(
            name,
            "the quote did not parse",
            "",
            "fix the quote first",
        ));
    }
    checks.push(report_data_check(None, appraisal.report_data));
    Verdict::new(
        EvidenceKind::Tdx,
        checks,
        Claims::Unreadable(UnreadableClaims { report_len: len }),
        Vec::new(),
        None,
        EVIDENCE_CHECKS.to_vec(),
    )
}

fn signature_check(raw: &[u8], quote: &Quote) -> Check {
    let auth = quote.auth_data.clone().into_v3();
    let expected =
        "an ECDSA P-256 signature by the quote's attestation key over header and TD report";
    let hint = "the quote was altered: do not trust it";
    let mut sec1 = [0x04u8; 65];
    sec1[1..].copy_from_slice(&auth.ecdsa_attestation_key);
    let Some(signed) = raw.get(..quote.signed_length()) else {
        return Check::of(
            names::SIGNATURE,
            false,
            "the quote is truncated",
            expected,
            hint,
        );
    };
    let ok = match (
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1),
        p256::ecdsa::Signature::from_slice(&auth.ecdsa_signature),
    ) {
        (Ok(key), Ok(sig)) => key.verify(signed, &sig).is_ok(),
        _ => false,
    };
    Check::of(
        names::SIGNATURE,
        ok,
        if ok {
            "valid signature by the attestation key"
        } else {
            "the signature does not verify with the attestation key"
        },
        expected,
        hint,
    )
}

fn collateral_validity(c: &QuoteCollateralV3, at: u64) -> Check {
    let mut seen = Vec::new();
    let mut bad = Vec::new();
    let mut window = |what: &str, from: Option<u64>, until: Option<u64>| match (from, until) {
        (Some(from), Some(until)) => {
            seen.push(format!(
                "{what} {}..{}",
                x509::fmt_time(from),
                x509::fmt_time(until)
            ));
            if at < from || at > until {
                bad.push(what.to_owned());
            }
        }
        _ => {
            seen.push(format!("{what}: dates unreadable"));
            bad.push(what.to_owned());
        }
    };
    for (what, json) in [("TCB info", &c.tcb_info), ("QE identity", &c.qe_identity)] {
        let dates = serde_json::from_str::<serde_json::Value>(json)
            .ok()
            .map(|v| {
                let date = |k: &str| {
                    v.get(k)
                        .and_then(|d| d.as_str())
                        .and_then(x509::parse_rfc3339)
                };
                (date("issueDate"), date("nextUpdate"))
            });
        let (from, until) = dates.unwrap_or((None, None));
        window(what, from, until);
    }
    for (what, der) in [("root CA CRL", &c.root_ca_crl), ("PCK CRL", &c.pck_crl)] {
        let dates = <x509_cert::crl::CertificateList as der::Decode>::from_der(der)
            .ok()
            .map(|crl| {
                (
                    Some(crl.tbs_cert_list.this_update.to_unix_duration().as_secs()),
                    crl.tbs_cert_list
                        .next_update
                        .map(|t| t.to_unix_duration().as_secs()),
                )
            });
        let (from, until) = dates.unwrap_or((None, None));
        window(what, from, until);
    }
    Check::of(
        names::COLLATERAL_VALIDITY,
        bad.is_empty(),
        seen.join("; "),
        format!("all current at {}", x509::fmt_time(at)),
        format!(
            "{} not current at the verification time: fetch current collateral (Intel PCS or your PCCS) into the cache",
            bad.join(", ")
        ),
    )
}

fn choose_entry(
    quote: &Quote,
    td: &TDReport10,
    dcap: &Dcap,
    appraisal: &Appraisal<'_>,
) -> (Check, Vec<Check>) {
    let entries = &appraisal.reference.tdx;
    if entries.is_empty() {
        return (
            Check::of(
                names::REFERENCE,
                false,
                "the manifest has no ReferenceValues.tdx entry",
                "at least one ReferenceValues.tdx entry",
                "add the TDX reference values of the Coordinator's image to the manifest (docs/ATTESTATION.md)",
            ),
            ENTRY_CHECKS
                .iter()
                .map(|n| {
                    Check::not_performed(
                        n,
                        "no reference entry",
                        "",
                        "add a ReferenceValues.tdx entry",
                    )
                })
                .collect(),
        );
    }
    let evaluated: Vec<Vec<Check>> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| entry_checks(quote, td, dcap, e, i))
        .collect();
    let failures = |c: &Vec<Check>| c.iter().filter(|c| !c.passed()).count();
    let (index, checks) = evaluated
        .iter()
        .enumerate()
        .min_by_key(|(i, c)| (failures(c), *i))
        .map(|(i, c)| (i, c.clone()))
        .unwrap_or_default();
    let fails = failures(&checks);
    (
        Check::of(
            names::REFERENCE,
            fails == 0,
            if fails == 0 {
                format!(
                    "matches ReferenceValues.tdx[{index}] (of {})",
                    entries.len()
                )
            } else {
                format!(
                    "no entry matches; closest is ReferenceValues.tdx[{index}] (of {}) with {fails} failing check(s)",
                    entries.len()
                )
            },
            "any one ReferenceValues.tdx entry matches completely",
            format!("see the failing checks: they compare with ReferenceValues.tdx[{index}]"),
        ),
        checks,
    )
}

fn parse_status(s: &str) -> Option<TdxTcbStatus> {
    TdxTcbStatus::from_name(s)
}

fn entry_checks(
    quote: &Quote,
    td: &TDReport10,
    dcap: &Dcap,
    e: &TdxReference,
    i: usize,
) -> Vec<Check> {
    let at = format!("ReferenceValues.tdx[{i}]");
    let mut out = Vec::new();
    let allowed = e
        .allowed_tcb_statuses
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    out.push(match dcap {
        Dcap::NotRun | Dcap::Failed(_) => Check::not_performed(
            names::TCB_STATUS,
            "DCAP verification did not complete",
            allowed,
            "fix the chain and collateral first",
        ),
        Dcap::TcbUnmatched(message) => Check::of(
            names::TCB_STATUS,
            false,
            format!("no TCB level of Intel's TCB info matches the platform ({message})"),
            allowed,
            "the platform is older than every TCB level Intel lists for it, or revoked: update the host's firmware, microcode and TDX module; no reference value can accept it",
        ),
        Dcap::Verified(c) => {
            let status = c.tcb.status.to_string();
            let ok = parse_status(&status).is_some_and(|s| {
                s != TdxTcbStatus::Revoked && e.allowed_tcb_statuses.contains(&s)
            });
            let advisories = if c.tcb.advisory_ids.is_empty() {
                String::new()
            } else {
                format!(" (advisories {})", c.tcb.advisory_ids.join(", "))
            };
            Check::of(
                names::TCB_STATUS,
                ok,
                format!("{status}{advisories}"),
                allowed,
                format!("the platform's TCB is {status}: update the host's firmware/microcode/TDX module, or accept the status in {at}.AllowedTcbStatuses"),
            )
        }
    });
    out.push(Check::of(
        names::MEASUREMENT,
        td.mr_td == e.mr_td.0,
        hex::encode(td.mr_td),
        e.mr_td.to_hex(),
        format!("the TD was built from another image: deploy the expected image or set {at}.MrTd"),
    ));
    let rtmrs = [td.rt_mr0, td.rt_mr1, td.rt_mr2, td.rt_mr3];
    let wrong: Vec<String> = (0..4)
        .filter(|k| rtmrs[*k] != e.rtmrs[*k].0)
        .map(|k| format!("RTMR{k}"))
        .collect();
    out.push(Check::of(
        names::RTMRS,
        wrong.is_empty(),
        rtmrs.iter().map(hex::encode).collect::<Vec<_>>().join(" "),
        e.rtmrs.iter().map(|r| r.to_hex()).collect::<Vec<_>>().join(" "),
        format!("{} differ: the firmware, kernel, command line or initrd changed; deploy the expected ones or update {at}.Rtrms", wrong.join(", ")),
    ));
    out.push(match &e.mr_seam {
        None => Check::of(
            names::MR_SEAM,
            true,
            hex::encode(td.mr_seam),
            "any (MrSeam not set)",
            "",
        ),
        Some(want) => Check::of(
            names::MR_SEAM,
            td.mr_seam == want.0,
            hex::encode(td.mr_seam),
            want.to_hex(),
            format!("the host runs another TDX module: update {at}.MrSeam or the host"),
        ),
    });
    let seen_attr = u64::from_le_bytes(td.td_attributes);
    let want_attr = u64::from_le_bytes(e.td_attributes.0);
    let debug = seen_attr & 1 == 1;
    let debug_allowed = want_attr & 1 == 1;
    out.push(Check::of(
        names::TD_DEBUG,
        !debug || debug_allowed,
        if debug { "DEBUG set (the host can read the TD's memory)" } else { "DEBUG clear" },
        if debug_allowed { "DEBUG allowed by the reference" } else { "DEBUG clear" },
        format!("the TD was launched in debug mode: relaunch it without debug (set bit 0 of {at}.TdAttributes only for test deployments)"),
    ));
    out.push(Check::of(
        names::TD_ATTRIBUTES,
        seen_attr & !1 == want_attr & !1,
        hex::encode(td.td_attributes),
        format!("{} (DEBUG bit compared by td-debug)", e.td_attributes.to_hex()),
        format!("the TD's attributes differ: relaunch with the expected attributes or update {at}.TdAttributes"),
    ));
    out.push(Check::of(
        names::XFAM,
        td.xfam == e.xfam.0,
        hex::encode(td.xfam),
        e.xfam.to_hex(),
        format!("the TD's extended features differ: update {at}.Xfam or the VM configuration"),
    ));
    let low: Vec<String> = (0..16)
        .filter(|k| td.tee_tcb_svn[*k] < e.minimum_tee_tcb_svn.0[*k])
        .map(|k| format!("byte {k}"))
        .collect();
    out.push(Check::of(
        names::TEE_TCB_SVN,
        low.is_empty(),
        hex::encode(td.tee_tcb_svn),
        format!("≥ {} byte by byte", e.minimum_tee_tcb_svn.to_hex()),
        format!(
            "the TDX module is older than {at}.MinimumTeeTcbSvn ({}): update the host",
            low.join(", ")
        ),
    ));
    let h = &quote.header;
    out.push(Check::of(
        names::QE_SVN,
        h.qe_svn >= e.minimum_qe_svn,
        h.qe_svn.to_string(),
        format!("≥ {}", e.minimum_qe_svn),
        format!(
            "the quoting enclave is older than {at}.MinimumQeSvn: update the host's DCAP stack"
        ),
    ));
    out.push(Check::of(
        names::PCE_SVN,
        h.pce_svn >= e.minimum_pce_svn,
        h.pce_svn.to_string(),
        format!("≥ {}", e.minimum_pce_svn),
        format!("the provisioning enclave is older than {at}.MinimumPceSvn: update the host's DCAP stack"),
    ));
    out
}

fn claims(quote: &Quote, td: &TDReport10, dcap: Option<&QuoteClaims>) -> TdxClaims {
    TdxClaims {
        quote_version: quote.header.version,
        mr_td: hex::encode(td.mr_td),
        rtmrs: [
            hex::encode(td.rt_mr0),
            hex::encode(td.rt_mr1),
            hex::encode(td.rt_mr2),
            hex::encode(td.rt_mr3),
        ],
        mr_seam: hex::encode(td.mr_seam),
        mr_signer_seam: hex::encode(td.mr_signer_seam),
        mr_config_id: hex::encode(td.mr_config_id),
        mr_owner: hex::encode(td.mr_owner),
        mr_owner_config: hex::encode(td.mr_owner_config),
        td_attributes: hex::encode(td.td_attributes),
        debug: td.td_attributes[0] & 1 == 1,
        xfam: hex::encode(td.xfam),
        tee_tcb_svn: hex::encode(td.tee_tcb_svn),
        report_data: hex::encode(td.report_data),
        qe_svn: quote.header.qe_svn,
        pce_svn: quote.header.pce_svn,
        tcb_status: dcap.map(|c| c.tcb.status.to_string()),
        advisory_ids: dcap.map(|c| c.tcb.advisory_ids.clone()).unwrap_or_default(),
        fmspc: dcap.map(|c| hex::encode_upper(c.platform.pck.fmspc)),
    }
}
