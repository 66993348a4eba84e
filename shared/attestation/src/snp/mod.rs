//! The AMD SEV-SNP verifier.
//!
//! `sev` (8, `crypto_nossl`) checks the RSA-PSS signatures of the chain (ARK self-signature,
//! ARK → ASK/ASVK, ASK/ASVK → VCEK/VLEK). Everything else is this module's policy layer, because
//! `sev` checks neither validity dates, CRLs, the VCEK extensions nor any reference value, and
//! verifies the report signature over a re-serialization rather than the bytes received:
//!
//! 1. `report-format`: 1184 bytes, version 2–5, SIGNATURE_ALGO 1, signed by a VCEK or VLEK.
//! 2. `chain`: the VCEK (or VLEK) from the certificate table; its issuer names the product
//!    (`SEV-Milan` / `SEV-VLEK-Milan`); the intermediate of that product (ASK for a VCEK, ASVK
//!    for a VLEK) signs it; the product's pinned ARK signs the intermediate and itself. Any ARK
//!    or ASK the evidence carries must be the pinned one or chain to it.
//! 3. `signature`: ECDSA P-384 / SHA-384 over the raw bytes `[0x000, 0x2A0)`, R and S read as
//!    72-byte little-endian fields (bytes above the 48th must be zero).
//! 4. `vcek-validity`, `ca-validity`: notBefore ≤ time ≤ notAfter.
//! 5. `vcek-hwid` (VCEK only), `vcek-tcb`, `vcek-product`: AMD's extensions match the report.
//! 6. `crl`: see [`crate::Revocation`].
//! 7. `vmpl`, `host-data`, `report-data`.
//! 8. The reference entries (`product`, `measurement`, `tcb-reported`, `tcb-committed`,
//!    `tcb-launch`, `guest-policy-debug`, `guest-policy`, `platform-info`, `chip-id`), see
//!    [`verify`] for how one entry is chosen.
//!
//! The current TCB is shown in the claims but not compared with `MinimumTCB`: the firmware
//! never runs below its committed TCB, which is compared, so a current-TCB check could never
//! fail on its own.

mod chain;
mod crl;
mod entry;
pub mod report;
pub mod vek;

use seedward_shared::reference::SnpProduct;

use crate::anchors::{AnchorCert, SnpAnchor};
use crate::binding::{CertKind, CertTable, Evidence, EvidenceKind};
use crate::verdict::{
    Check, Claims, SnpClaims, SnpPlatformClaims, SnpPolicyClaims, TcbClaims, UnreadableClaims,
    Verdict, Waiver, names,
};
use crate::{Appraisal, Revocation, host_data_check, report_data_check, x509};
use chain::{
    check_chain, hwid_check, signature_check, validity_check, vek_product_check, vek_tcb_check,
};
use crl::crl_check;
use entry::choose_entry;
use report::{SigningKey, SnpReport, Tcb, policy_bits, product_from_cpuid};
use vek::{Vek, VekKind};

/// Checks every SNP verdict lists, in order, before the reference entry's.
const EVIDENCE_CHECKS: &[&str] = &[
    names::REPORT_FORMAT,
    names::SIGNATURE,
    names::CHAIN,
    names::VCEK_VALIDITY,
    names::CA_VALIDITY,
    names::VCEK_TCB,
    names::VCEK_PRODUCT,
];
/// Checks made per reference entry.
const ENTRY_CHECKS: &[&str] = &[
    names::PRODUCT,
    names::MEASUREMENT,
    names::TCB_REPORTED,
    names::TCB_COMMITTED,
    names::TCB_LAUNCH,
    names::GUEST_POLICY_DEBUG,
    names::GUEST_POLICY,
    names::PLATFORM_INFO,
    names::CHIP_ID,
];

/// What the chain step established.
struct Chain<'a> {
    product: SnpProduct,
    anchor: &'a SnpAnchor,
    intermediate: AnchorCert,
}

/// Appraises SNP evidence.
///
/// **Several reference entries:** the evidence verifies if any one `snp` entry matches in
/// every check. The verdict shows the first entry that matches; if none does, the *closest*:
/// the one with the fewest failed checks, the first such in manifest order. The `reference`
/// check names the entry shown (`ReferenceValues.snp[1]`) and how many there are.
pub fn verify(evidence: &Evidence, appraisal: &Appraisal<'_>) -> Verdict {
    let report = match SnpReport::parse(&evidence.report) {
        Ok(r) => r,
        Err(e) => return unreadable(evidence, appraisal, e.to_string()),
    };
    let mut checks = Vec::new();
    let mut waived = Vec::new();

    // 1. Format.
    let key = report.signing_key();
    let format_ok = report.signature_algo() == report::SIG_ALGO_ECDSA_P384_SHA384
        && matches!(key, SigningKey::Vcek | SigningKey::Vlek)
        && !report.mask_chip_key();
    checks.push(Check::of(
        names::REPORT_FORMAT,
        format_ok,
        format!(
            "version {}, signature algorithm {}, signed by {}{}",
            report.version(),
            report.signature_algo(),
            key.as_str(),
            if report.mask_chip_key() { ", MASK_CHIP_KEY set (unsigned)" } else { "" }
        ),
        "version 2–5, signature algorithm 1 (ECDSA P-384/SHA-384), signed by the VCEK or VLEK",
        "the report is not signed by an AMD endorsement key; request it without MaskChipKey from a supported firmware",
    ));

    // 2. The VEK and its chain.
    let table = CertTable::parse(&evidence.certificates);
    let vek_kind = match key {
        SigningKey::Vlek => VekKind::Vlek,
        _ => VekKind::Vcek,
    };
    let vek: Result<Vek, String> = match &table {
        Err(e) => Err(format!("the certificate table is unreadable: {e}")),
        Ok(t) => {
            let cert_kind = match vek_kind {
                VekKind::Vcek => CertKind::Vcek,
                VekKind::Vlek => CertKind::Vlek,
            };
            match t.get(cert_kind) {
                None => Err(format!(
                    "the evidence carries no {} certificate (table: {})",
                    vek_kind.as_str(),
                    describe_table(t)
                )),
                Some(der) => Vek::parse(vek_kind, der).map_err(|e| {
                    format!("the {} certificate is unreadable: {e}", vek_kind.as_str())
                }),
            }
        }
    };
    let chain = match (&vek, &table) {
        (Ok(vek), Ok(table)) => check_chain(vek, table, appraisal),
        (Err(e), _) => Err(e.clone()),
        (_, Err(e)) => Err(format!("the certificate table is unreadable: {e}")),
    };
    let test_anchor = chain
        .as_ref()
        .ok()
        .filter(|c| c.anchor.test)
        .map(|c| c.anchor.describe());

    // The product decides the TCB layout: the chain's, else the report's CPUID.
    let product = match &chain {
        Ok(c) => Some(c.product),
        Err(_) => vek
            .as_ref()
            .ok()
            .and_then(|v| product_of_issuer(&v.issuer_name()))
            .or_else(|| report.cpuid().and_then(|c| product_from_cpuid(c[0], c[1]))),
    };
    let layout = product.unwrap_or(SnpProduct::Milan);

    // 3. Signature over the raw bytes.
    checks.push(match &vek {
        Ok(vek) => signature_check(&report, vek),
        Err(e) => Check::not_performed(
            names::SIGNATURE,
            format!("no signing key: {e}"),
            "an ECDSA P-384 signature by the VCEK/VLEK over bytes 0x000..0x2A0",
            "supply the VCEK/VLEK in the certificate table (auxblob) or with --cert",
        ),
    });
    checks.push(match &chain {
        Ok(c) => Check::of(
            names::CHAIN,
            true,
            format!(
                "{} ← {} ← {}",
                vek_kind.as_str(),
                c.intermediate.common_name(),
                c.anchor.describe()
            ),
            "a chain to a pinned AMD ARK",
            "",
        ),
        Err(why) => Check::of(
            names::CHAIN,
            false,
            why.clone(),
            format!(
                "{} ← {} ← pinned ARK",
                vek_kind.as_str(),
                if vek_kind == VekKind::Vcek { "ASK" } else { "ASVK" }
            ),
            "the evidence is not signed by a genuine AMD endorsement key: do not trust it; check the certificates the host supplies",
        ),
    });

    // 4. Validity.
    let at = appraisal.at_unix();
    checks.push(match &vek {
        Ok(v) => validity_check(names::VCEK_VALIDITY, vek_kind.as_str(), &v.cert, at),
        Err(_) => Check::not_performed(
            names::VCEK_VALIDITY,
            "no VCEK/VLEK",
            "a certificate valid at the verification time",
            "supply the VCEK/VLEK",
        ),
    });
    checks.push(match &chain {
        Ok(c) => {
            let inter = validity_check(
                names::CA_VALIDITY,
                &c.intermediate.common_name(),
                &c.intermediate.cert,
                at,
            );
            let root = validity_check(names::CA_VALIDITY, "ARK", &c.anchor.ark.cert, at);
            Check::of(
                names::CA_VALIDITY,
                inter.passed() && root.passed(),
                format!("{}; {}", inter.seen, root.seen),
                format!("both valid at {}", x509::fmt_time(at)),
                "check the verification time; an expired AMD root or intermediate needs a Seedward update",
            )
        }
        Err(_) => Check::not_performed(
            names::CA_VALIDITY,
            "no chain",
            "ASK/ASVK and ARK valid at the verification time",
            "fix the chain first",
        ),
    });

    // 5. Extensions.
    match &vek {
        Ok(v) => {
            if vek_kind == VekKind::Vcek {
                checks.push(hwid_check(&report, v));
            }
            checks.push(vek_tcb_check(&report, v, layout));
            checks.push(vek_product_check(&report, v, product));
        }
        Err(_) => {
            for name in [names::VCEK_HWID, names::VCEK_TCB, names::VCEK_PRODUCT] {
                if name == names::VCEK_HWID && vek_kind == VekKind::Vlek {
                    continue;
                }
                checks.push(Check::not_performed(
                    name,
                    "no VCEK/VLEK",
                    "the certificate's extensions match the report",
                    "supply the VCEK/VLEK",
                ));
            }
        }
    }

    // 6. Revocation.
    match crl_check(evidence, table.as_ref().ok(), chain.as_ref().ok(), at) {
        Some(check) => checks.push(check),
        None if appraisal.revocation == Revocation::Waive => waived.push(Waiver {
            name: names::CRL,
            reason: "no CRL was supplied and the caller waived revocation checking".to_owned(),
        }),
        None => checks.push(Check::not_performed(
            names::CRL,
            "no CRL supplied",
            format!(
                "AMD's CRL for {} (signed by its ARK, current)",
                product.map_or("the product".to_owned(), |p| p.to_string())
            ),
            format!(
                "put AMD's CRL (KDS /vcek/v1/{}/crl) into the collateral or the collateral cache directory",
                product.map_or("<product>", |p| p.as_str())
            ),
        )),
    }

    // 7. The entry-independent values.
    let entry = choose_entry(&report, product, layout, appraisal);
    checks.push(entry.reference);
    checks.extend(entry.checks);
    checks.push(Check::of(
        names::VMPL,
        report.vmpl() == 0,
        report.vmpl().to_string(),
        "0",
        "the report was requested at a lower privilege level (for example by a guest behind an SVSM); request it at VMPL 0",
    ));
    checks.push(host_data_check(
        &report.host_data(),
        appraisal.host_data,
        "HOST_DATA",
    ));
    checks.push(report_data_check(
        Some(report.report_data()),
        appraisal.report_data,
    ));

    let mut required: Vec<&'static str> = EVIDENCE_CHECKS.to_vec();
    if vek_kind == VekKind::Vcek {
        required.push(names::VCEK_HWID);
    }
    if waived.is_empty() {
        required.push(names::CRL);
    }
    required.push(names::REFERENCE);
    required.extend_from_slice(ENTRY_CHECKS);
    required.extend_from_slice(&[names::VMPL, names::HOST_DATA, names::REPORT_DATA]);

    let claims = Claims::Snp(Box::new(claims(&report, product, layout)));
    Verdict::new(
        EvidenceKind::Snp,
        checks,
        claims,
        waived,
        test_anchor,
        required,
    )
}

fn unreadable(evidence: &Evidence, appraisal: &Appraisal<'_>, why: String) -> Verdict {
    let mut checks = vec![Check::of(
        names::REPORT_FORMAT,
        false,
        why,
        "a 1184-byte SEV-SNP attestation report, version 2–5",
        "the evidence is not an SNP report; check that the Coordinator's --attestation matches its TEE",
    )];
    for name in EVIDENCE_CHECKS.iter().skip(1) {
        checks.push(Check::not_performed(
            name,
            "the report did not parse",
            "",
            "fix the report format first",
        ));
    }
    let mut required = EVIDENCE_CHECKS.to_vec();
    required.push(names::REPORT_DATA);
    checks.push(report_data_check(None, appraisal.report_data));
    Verdict::new(
        EvidenceKind::Snp,
        checks,
        Claims::Unreadable(UnreadableClaims {
            report_len: evidence.report.len(),
        }),
        Vec::new(),
        None,
        required,
    )
}

fn describe_table(t: &CertTable) -> String {
    if t.entries.is_empty() {
        return "empty".to_owned();
    }
    t.entries
        .iter()
        .map(|e| match e.kind {
            Some(k) => format!("{k:?}"),
            None => crate::binding::guid_string(&e.guid),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `SEV-Milan` / `SEV-VLEK-Milan` → Milan.
fn product_of_issuer(cn: &str) -> Option<SnpProduct> {
    let name = cn
        .strip_prefix("SEV-VLEK-")
        .or_else(|| cn.strip_prefix("SEV-"))?;
    SnpProduct::from_name(name)
}

fn tcb_claims(raw: [u8; 8], layout: SnpProduct) -> TcbClaims {
    let t = Tcb::decode(raw, layout);
    TcbClaims {
        raw: hex::encode(raw),
        fmc: t.fmc,
        bootloader: t.bootloader,
        tee: t.tee,
        snp: t.snp,
        microcode: t.microcode,
    }
}

fn claims(report: &SnpReport, product: Option<SnpProduct>, layout: SnpProduct) -> SnpClaims {
    let policy = report.policy();
    let bit = |b: u32| report.policy_bit(b);
    let info = report.platform_info();
    let ibit = |b: u32| info >> b & 1 == 1;
    let version = |v: [u8; 3]| format!("{}.{}.{}", v[2], v[1], v[0]);
    SnpClaims {
        version: report.version(),
        product: product.map(|p| p.to_string()),
        signing_key: report.signing_key().as_str(),
        measurement: hex::encode(report.measurement()),
        host_data: hex::encode(report.host_data()),
        report_data: hex::encode(report.report_data()),
        chip_id: hex::encode(report.chip_id()),
        vmpl: report.vmpl(),
        guest_svn: report.guest_svn(),
        policy: SnpPolicyClaims {
            raw: format!("0x{policy:x}"),
            abi_major: (policy >> 8 & 0xff) as u8,
            abi_minor: (policy & 0xff) as u8,
            smt: bit(policy_bits::SMT),
            migrate_ma: bit(policy_bits::MIGRATE_MA),
            debug: bit(policy_bits::DEBUG),
            single_socket: bit(policy_bits::SINGLE_SOCKET),
            cxl_allowed: bit(policy_bits::CXL_ALLOW),
            mem_aes_256_xts: bit(policy_bits::MEM_AES_256_XTS),
            rapl_dis: bit(policy_bits::RAPL_DIS),
            ciphertext_hiding: bit(policy_bits::CIPHERTEXT_HIDING),
            page_swap_disable: bit(policy_bits::PAGE_SWAP_DISABLE),
        },
        platform_info: SnpPlatformClaims {
            raw: format!("0x{info:x}"),
            smt_enabled: ibit(0),
            tsme_enabled: ibit(1),
            ecc_enabled: ibit(2),
            rapl_disabled: ibit(3),
            ciphertext_hiding_enabled: ibit(4),
            alias_check_complete: ibit(5),
        },
        current_tcb: tcb_claims(report.current_tcb(), layout),
        reported_tcb: tcb_claims(report.reported_tcb(), layout),
        committed_tcb: tcb_claims(report.committed_tcb(), layout),
        launch_tcb: tcb_claims(report.launch_tcb(), layout),
        id_key_digest: hex::encode(report.id_key_digest()),
        author_key_digest: hex::encode(report.author_key_digest()),
        family_id: hex::encode(report.family_id()),
        image_id: hex::encode(report.image_id()),
        cpuid: report.cpuid(),
        current_firmware: version(report.current_version()),
        committed_firmware: version(report.committed_version()),
    }
}
