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

pub mod report;
pub mod vek;

use der::Encode as _;
use der::referenced::OwnedToRef as _;
use p384::ecdsa::signature::DigestVerifier as _;
use seedward_shared::reference::{SnpProduct, SnpReference};
use sev::certs::snp::Verifiable as _;
use sha2::{Digest as _, Sha384};
use x509_cert::Certificate;

use crate::anchors::{AnchorCert, SnpAnchor};
use crate::binding::{CertKind, CertTable, Evidence, EvidenceKind};
use crate::verdict::{
    Check, Claims, SnpClaims, SnpPlatformClaims, SnpPolicyClaims, TcbClaims, UnreadableClaims,
    Verdict, Waiver, names,
};
use crate::{Appraisal, Revocation, host_data_check, report_data_check, x509};
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

fn check_chain<'a>(
    vek: &Vek,
    table: &CertTable,
    appraisal: &Appraisal<'a>,
) -> Result<Chain<'a>, String> {
    let issuer = vek.issuer_name();
    let product = product_of_issuer(&issuer).ok_or_else(|| {
        format!(
            "the {} was issued by {issuer:?}, not by an AMD SEV signing key",
            vek.kind.as_str()
        )
    })?;
    let expected_issuer = match vek.kind {
        VekKind::Vcek => format!("SEV-{product}"),
        VekKind::Vlek => format!("SEV-VLEK-{product}"),
    };
    if issuer != expected_issuer {
        return Err(format!(
            "a {} must be issued by {expected_issuer}, this one by {issuer}",
            vek.kind.as_str()
        ));
    }
    let anchor = appraisal.anchors.snp(product).ok_or_else(|| {
        match appraisal.anchors.load_problem(product) {
            Some(why) => format!("no trusted ARK for {product}: {why}"),
            None => format!("no trusted ARK for {product} among the trust anchors"),
        }
    })?;
    let ark = sev_cert(&anchor.ark.cert);
    (&ark, &ark)
        .verify()
        .map_err(|e| format!("the ARK-{product} does not verify its own signature: {e}"))?;

    // Any ARK the evidence carries must be the trusted one.
    for der in table.all(CertKind::Ark) {
        if der != anchor.ark.der.as_slice() {
            return Err(format!(
                "the evidence carries an ARK (SHA-256 {}) that is not the trusted {}",
                hex::encode(x509::fingerprint(der)),
                anchor.describe()
            ));
        }
    }
    // Any ASK/ASVK the evidence carries must chain to the trusted ARK.
    let mut candidates: Vec<AnchorCert> = anchor.intermediates.clone();
    for der in table.all(CertKind::Ask) {
        let cert =
            x509::parse(der).map_err(|e| format!("the evidence's ASK is unreadable: {e}"))?;
        let cn = x509::common_name(&cert.tbs_certificate.subject).unwrap_or_default();
        (&ark, &sev_cert(&cert)).verify().map_err(|e| {
            format!("the evidence's {cn} is not signed by the trusted ARK-{product}: {e}")
        })?;
        if !candidates.iter().any(|c| c.der == der) {
            candidates.push(AnchorCert {
                der: der.to_vec(),
                cert,
            });
        }
    }
    let intermediate = candidates
        .into_iter()
        .find(|c| c.cert.tbs_certificate.subject == vek.cert.tbs_certificate.issuer)
        .ok_or_else(|| {
            format!("no {expected_issuer} certificate among the trust anchors or the evidence")
        })?;
    if intermediate.cert.tbs_certificate.issuer != anchor.ark.cert.tbs_certificate.subject {
        return Err(format!("{expected_issuer} is not issued by ARK-{product}"));
    }
    (&ark, &sev_cert(&intermediate.cert))
        .verify()
        .map_err(|e| format!("{expected_issuer} is not signed by ARK-{product}: {e}"))?;
    (&sev_cert(&intermediate.cert), &sev_cert(&vek.cert))
        .verify()
        .map_err(|e| {
            format!(
                "the {} is not signed by {expected_issuer}: {e}",
                vek.kind.as_str()
            )
        })?;
    Ok(Chain {
        product,
        anchor,
        intermediate,
    })
}

fn sev_cert(cert: &Certificate) -> sev::certs::snp::Certificate {
    sev::certs::snp::Certificate::from(cert.clone())
}

fn signature_check(report: &SnpReport, vek: &Vek) -> Check {
    let expected = format!(
        "an ECDSA P-384/SHA-384 signature by the {} over bytes 0x000..0x2A0",
        vek.kind.as_str()
    );
    let hint = "the report was altered or signed by another key: do not trust it";
    let (r, s) = report.signature();
    if r[48..].iter().chain(&s[48..]).any(|b| *b != 0) {
        return Check::of(
            names::SIGNATURE,
            false,
            "R or S has non-zero bytes above the 48th",
            expected,
            hint,
        );
    }
    let mut r_be: [u8; 48] = [0; 48];
    let mut s_be: [u8; 48] = [0; 48];
    for i in 0..48 {
        r_be[i] = r[47 - i];
        s_be[i] = s[47 - i];
    }
    let key = match p384::ecdsa::VerifyingKey::from_sec1_bytes(vek.public_key_sec1()) {
        Ok(k) => k,
        Err(_) => {
            return Check::of(
                names::SIGNATURE,
                false,
                format!("the {} key is not a P-384 public key", vek.kind.as_str()),
                expected,
                hint,
            );
        }
    };
    let sig = match p384::ecdsa::Signature::from_scalars(r_be, s_be) {
        Ok(sig) => sig,
        Err(_) => {
            return Check::of(
                names::SIGNATURE,
                false,
                "R or S is out of range",
                expected,
                hint,
            );
        }
    };
    let digest = Sha384::new_with_prefix(report.signed_bytes());
    let ok = key.verify_digest(digest, &sig).is_ok();
    Check::of(
        names::SIGNATURE,
        ok,
        if ok {
            format!("valid signature by the {}", vek.kind.as_str())
        } else {
            format!(
                "the signature does not verify with the {}",
                vek.kind.as_str()
            )
        },
        expected,
        hint,
    )
}

fn validity_check(name: &'static str, what: &str, cert: &Certificate, at: u64) -> Check {
    let (from, until) = x509::validity(cert);
    let ok = from <= at && at <= until;
    Check::of(
        name,
        ok,
        format!(
            "{what} valid {} to {}",
            x509::fmt_time(from),
            x509::fmt_time(until)
        ),
        format!("valid at {}", x509::fmt_time(at)),
        if at < from {
            format!("{what} is not yet valid: check the verification time (clock)")
        } else {
            format!("{what} has expired: the host must fetch a current certificate from AMD KDS")
        },
    )
}

fn hwid_check(report: &SnpReport, vek: &Vek) -> Check {
    let chip = report.chip_id();
    let expected = hex::encode(chip);
    match &vek.ext.hwid {
        None => Check::of(
            names::VCEK_HWID,
            false,
            "the VCEK has no hwID extension",
            expected,
            "the certificate is not a VCEK",
        ),
        Some(hwid) => {
            let ok = !hwid.is_empty()
                && hwid.len() <= chip.len()
                && chip[..hwid.len()] == hwid[..]
                && chip[hwid.len()..].iter().all(|b| *b == 0);
            Check::of(
                names::VCEK_HWID,
                ok,
                hex::encode(hwid),
                expected,
                if chip.iter().all(|b| *b == 0) {
                    "the report's CHIP_ID is masked (MaskChipId): a VCEK cannot be matched; launch without MaskChipId or use a VLEK"
                } else {
                    "the VCEK belongs to another chip: the host supplied the wrong VCEK (or the report is not from this machine)"
                },
            )
        }
    }
}

fn vek_tcb_check(report: &SnpReport, vek: &Vek, layout: SnpProduct) -> Check {
    let tcb = Tcb::decode(report.reported_tcb(), layout);
    let e = &vek.ext;
    let fmt = |v: Option<u8>| v.map_or("absent".to_owned(), |v| v.to_string());
    let mut seen = format!(
        "bl {} tee {} snp {} ucode {}",
        fmt(e.bl_spl),
        fmt(e.tee_spl),
        fmt(e.snp_spl),
        fmt(e.ucode_spl)
    );
    let mut ok = e.bl_spl == Some(tcb.bootloader)
        && e.tee_spl == Some(tcb.tee)
        && e.snp_spl == Some(tcb.snp)
        && e.ucode_spl == Some(tcb.microcode);
    if let Some(fmc) = tcb.fmc {
        seen = format!("fmc {} {seen}", fmt(e.fmc_spl));
        ok &= e.fmc_spl == Some(fmc);
    }
    Check::of(
        names::VCEK_TCB,
        ok,
        seen,
        format!("REPORTED_TCB {tcb}"),
        format!(
            "the {} was issued for another TCB: the host must supply the {} for the reported TCB",
            vek.kind.as_str(),
            vek.kind.as_str()
        ),
    )
}

fn vek_product_check(report: &SnpReport, vek: &Vek, product: Option<SnpProduct>) -> Check {
    let named = vek.ext.product();
    let cpuid = report.cpuid();
    let cpuid_product = cpuid.and_then(|c| product_from_cpuid(c[0], c[1]));
    let mut ok = product.is_some() && named == product.map(|p| p.as_str());
    let mut seen = format!(
        "productName {:?}",
        vek.ext.product_name.as_deref().unwrap_or("absent")
    );
    if let Some(c) = cpuid {
        seen.push_str(&format!(
            "; CPUID family {:02x}h model {:02x}h ({})",
            c[0],
            c[1],
            cpuid_product.map_or("unknown", |p| p.as_str())
        ));
        ok &= cpuid_product == product;
    }
    Check::of(
        names::VCEK_PRODUCT,
        ok,
        seen,
        format!(
            "the product of the chain: {}",
            product.map_or("unknown".to_owned(), |p| p.to_string())
        ),
        "the certificate or the report belongs to another AMD product than the chain: do not trust it",
    )
}

fn crl_check(
    evidence: &Evidence,
    table: Option<&CertTable>,
    chain: Option<&Chain<'_>>,
    at: u64,
) -> Option<Check> {
    let mut crls: Vec<Vec<u8>> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    match x509::der_crls(&evidence.collateral) {
        Ok(found) => crls.extend(found),
        Err(e) => problems.push(format!("the collateral is not a CRL: {e}")),
    }
    if let Some(t) = table {
        crls.extend(t.all(CertKind::Crl).map(<[u8]>::to_vec));
    }
    if crls.is_empty() && problems.is_empty() {
        return None;
    }
    let expected = "a CRL signed by the product's ARK, current at the verification time, revoking nothing in the chain";
    let hint = "fetch a current CRL from AMD KDS for this product; if it lists the ASK/ASVK, the platform's keys are revoked";
    let Some(chain) = chain else {
        return Some(Check::not_performed(
            names::CRL,
            "a CRL was supplied, but there is no verified chain to check it against",
            expected,
            "fix the chain first",
        ));
    };
    if !problems.is_empty() {
        return Some(Check::of(
            names::CRL,
            false,
            problems.join("; "),
            expected,
            hint,
        ));
    }
    let ark = &chain.anchor.ark.cert;
    let mut matched = false;
    let mut seen = Vec::new();
    for der in &crls {
        let crl = match <x509_cert::crl::CertificateList as der::Decode>::from_der(der) {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("a CRL does not parse: {e}"));
                continue;
            }
        };
        if crl.tbs_cert_list.issuer != ark.tbs_certificate.subject {
            seen.push(format!(
                "ignored a CRL issued by {}",
                x509::common_name(&crl.tbs_cert_list.issuer).unwrap_or_default()
            ));
            continue;
        }
        matched = true;
        if let Err(e) = verify_crl_signature(&crl, ark) {
            problems.push(format!(
                "the CRL's signature does not verify with the ARK: {e}"
            ));
            continue;
        }
        let this = crl.tbs_cert_list.this_update.to_unix_duration().as_secs();
        let next = crl
            .tbs_cert_list
            .next_update
            .map(|t| t.to_unix_duration().as_secs());
        if at < this || next.is_some_and(|n| at > n) {
            problems.push(format!(
                "the CRL is valid {} to {}, not at {}",
                x509::fmt_time(this),
                next.map_or("open end".to_owned(), x509::fmt_time),
                x509::fmt_time(at)
            ));
            continue;
        }
        let revoked: Vec<&x509_cert::crl::RevokedCert> = crl
            .tbs_cert_list
            .revoked_certificates
            .iter()
            .flatten()
            .collect();
        let serial = &chain.intermediate.cert.tbs_certificate.serial_number;
        if revoked.iter().any(|r| &r.serial_number == serial) {
            problems.push(format!(
                "{} (serial {}) is revoked",
                chain.intermediate.common_name(),
                hex::encode(serial.as_bytes())
            ));
            continue;
        }
        seen.push(format!(
            "CRL of ARK-{} from {} lists {} revoked, {} not among them",
            chain.product,
            x509::fmt_time(this),
            revoked.len(),
            chain.intermediate.common_name()
        ));
    }
    if !matched && problems.is_empty() {
        problems.push(format!("no CRL is issued by ARK-{}", chain.product));
    }
    Some(if problems.is_empty() {
        Check::of(names::CRL, true, seen.join("; "), expected, "")
    } else {
        seen.extend(problems);
        Check::of(names::CRL, false, seen.join("; "), expected, hint)
    })
}

fn verify_crl_signature(
    crl: &x509_cert::crl::CertificateList,
    ark: &Certificate,
) -> Result<(), String> {
    use rsa::signature::Verifier as _;
    const RSASSA_PSS: der::asn1::ObjectIdentifier =
        der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
    if crl.signature_algorithm.oid != RSASSA_PSS {
        return Err(format!(
            "unsupported algorithm {}",
            crl.signature_algorithm.oid
        ));
    }
    let key =
        rsa::RsaPublicKey::try_from(ark.tbs_certificate.subject_public_key_info.owned_to_ref())
            .map_err(|e| format!("the ARK's key is not RSA: {e}"))?;
    let tbs = crl.tbs_cert_list.to_der().map_err(|e| e.to_string())?;
    let sig =
        rsa::pss::Signature::try_from(crl.signature.raw_bytes()).map_err(|e| e.to_string())?;
    rsa::pss::VerifyingKey::<Sha384>::new(key)
        .verify(&tbs, &sig)
        .map_err(|e| e.to_string())
}

/// The reference check and the chosen entry's checks.
struct EntryOutcome {
    reference: Check,
    checks: Vec<Check>,
}

fn choose_entry(
    report: &SnpReport,
    product: Option<SnpProduct>,
    layout: SnpProduct,
    appraisal: &Appraisal<'_>,
) -> EntryOutcome {
    let entries = &appraisal.reference.snp;
    if entries.is_empty() {
        return EntryOutcome {
            reference: Check::of(
                names::REFERENCE,
                false,
                "the manifest has no ReferenceValues.snp entry",
                "at least one ReferenceValues.snp entry",
                "add the SNP reference values of the Coordinator's image to the manifest (docs/ATTESTATION.md: getting reference values)",
            ),
            checks: ENTRY_CHECKS
                .iter()
                .map(|name| {
                    Check::not_performed(
                        name,
                        "no reference entry",
                        "",
                        "add a ReferenceValues.snp entry",
                    )
                })
                .collect(),
        };
    }
    let evaluated: Vec<Vec<Check>> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| entry_checks(report, product, layout, e, i))
        .collect();
    let failures = |c: &Vec<Check>| c.iter().filter(|c| !c.passed()).count();
    let (index, checks) = evaluated
        .iter()
        .enumerate()
        .min_by_key(|(i, c)| (failures(c), *i))
        .map(|(i, c)| (i, c.clone()))
        .unwrap_or_default();
    let fails = failures(&checks);
    let reference = Check::of(
        names::REFERENCE,
        fails == 0,
        if fails == 0 {
            format!(
                "matches ReferenceValues.snp[{index}] (of {})",
                entries.len()
            )
        } else {
            format!(
                "no entry matches; closest is ReferenceValues.snp[{index}] (of {}) with {fails} failing check(s)",
                entries.len()
            )
        },
        "any one ReferenceValues.snp entry matches completely",
        format!("see the failing checks: they compare with ReferenceValues.snp[{index}]"),
    );
    EntryOutcome { reference, checks }
}

fn entry_checks(
    report: &SnpReport,
    product: Option<SnpProduct>,
    layout: SnpProduct,
    e: &SnpReference,
    i: usize,
) -> Vec<Check> {
    let at = format!("ReferenceValues.snp[{i}]");
    let mut out = Vec::with_capacity(ENTRY_CHECKS.len());
    out.push(Check::of(
        names::PRODUCT,
        product == Some(e.product_name),
        product.map_or("unknown (no verified chain)".to_owned(), |p| p.to_string()),
        e.product_name.to_string(),
        format!("the Coordinator runs on another AMD product: add an entry for it or fix {at}.ProductName"),
    ));
    out.push(Check::of(
        names::MEASUREMENT,
        report.measurement() == e.trusted_measurement.0,
        hex::encode(report.measurement()),
        e.trusted_measurement.to_hex(),
        format!("the launched image differs: deploy the expected image, or set {at}.TrustedMeasurement to the new image's launch measurement"),
    ));
    let min = Tcb {
        fmc: None,
        bootloader: e.minimum_tcb.bootloader,
        tee: e.minimum_tcb.tee,
        snp: e.minimum_tcb.snp,
        microcode: e.minimum_tcb.microcode,
    };
    for (name, raw, which) in [
        (names::TCB_REPORTED, report.reported_tcb(), "REPORTED_TCB"),
        (
            names::TCB_COMMITTED,
            report.committed_tcb(),
            "COMMITTED_TCB",
        ),
        (names::TCB_LAUNCH, report.launch_tcb(), "LAUNCH_TCB"),
    ] {
        let tcb = Tcb::decode(raw, layout);
        let low: Vec<&str> = [
            ("BootloaderVersion", tcb.bootloader, min.bootloader),
            ("TEEVersion", tcb.tee, min.tee),
            ("SNPVersion", tcb.snp, min.snp),
            ("MicrocodeVersion", tcb.microcode, min.microcode),
        ]
        .into_iter()
        .filter(|(_, seen, want)| seen < want)
        .map(|(field, _, _)| field)
        .collect();
        out.push(Check::of(
            name,
            low.is_empty(),
            format!("{which} {tcb}"),
            format!("≥ {min}"),
            format!(
                "the platform firmware is older than {at}.MinimumTCB ({}): update the host's firmware/microcode, or lower the minimum if you accept it",
                low.join(", ")
            ),
        ));
    }
    let debug = report.policy_bit(policy_bits::DEBUG);
    out.push(Check::of(
        names::GUEST_POLICY_DEBUG,
        !debug || e.guest_policy.debug,
        if debug { "DEBUG allowed (the host can read the guest's memory)" } else { "DEBUG not allowed" },
        if e.guest_policy.debug { "DEBUG allowed by the reference" } else { "DEBUG not allowed" },
        format!("the guest was launched with a debug policy: relaunch without debug (set {at}.GuestPolicy.Debug only for test deployments)"),
    ));
    out.push(guest_policy_check(report, e, &at));
    let expected_bits = e.platform_info.expected_bits();
    let info = report.platform_info();
    let wrong: Vec<String> = expected_bits
        .iter()
        .filter(|(_, bit, want)| (info >> bit & 1 == 1) != *want)
        .map(|(name, _, want)| format!("{name} is {}", !want))
        .collect();
    out.push(Check::of(
        names::PLATFORM_INFO,
        wrong.is_empty(),
        format!("0x{info:x}{}", if wrong.is_empty() { String::new() } else { format!(" ({})", wrong.join(", ")) }),
        if expected_bits.is_empty() {
            "any (PlatformInfo not set)".to_owned()
        } else {
            expected_bits
                .iter()
                .map(|(name, _, v)| format!("{name} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
        format!("the host's platform configuration differs: reconfigure the host or change {at}.PlatformInfo"),
    ));
    let chip = report.chip_id();
    let allowed = e.allowed_chip_ids.is_empty() || e.allowed_chip_ids.iter().any(|c| c.0 == chip);
    out.push(Check::of(
        names::CHIP_ID,
        allowed,
        hex::encode(chip),
        if e.allowed_chip_ids.is_empty() {
            "any chip (AllowedChipIDs not set)".to_owned()
        } else {
            format!("one of {} allowed chip IDs", e.allowed_chip_ids.len())
        },
        format!("the Coordinator runs on a machine not in {at}.AllowedChipIDs: move it, or add this chip ID"),
    ));
    out
}

fn guest_policy_check(report: &SnpReport, e: &SnpReference, at: &str) -> Check {
    let p = &e.guest_policy;
    let mut problems = Vec::new();
    for (name, bit, allowed) in [
        ("SMT", policy_bits::SMT, p.smt),
        ("MigrateMA", policy_bits::MIGRATE_MA, p.migrate_ma),
        ("CXLAllowed", policy_bits::CXL_ALLOW, p.cxl_allowed),
    ] {
        if report.policy_bit(bit) && !allowed {
            problems.push(format!("{name} allowed but the reference forbids it"));
        }
    }
    for (name, bit, required) in [
        ("SingleSocket", policy_bits::SINGLE_SOCKET, p.single_socket),
        (
            "MemAES256XTS",
            policy_bits::MEM_AES_256_XTS,
            p.mem_aes_256_xts,
        ),
        ("RAPLDis", policy_bits::RAPL_DIS, p.rapl_dis),
        (
            "CipherTextHiding",
            policy_bits::CIPHERTEXT_HIDING,
            p.ciphertext_hiding,
        ),
        (
            "PageSwapDisable",
            policy_bits::PAGE_SWAP_DISABLE,
            p.page_swap_disable,
        ),
    ] {
        if required && !report.policy_bit(bit) {
            problems.push(format!("{name} required but not set"));
        }
    }
    let policy = report.policy();
    let abi = ((policy >> 8 & 0xff) as u8, (policy & 0xff) as u8);
    if abi < (p.abi_major, p.abi_minor) {
        problems.push(format!(
            "ABI {}.{} below {}.{}",
            abi.0, abi.1, p.abi_major, p.abi_minor
        ));
    }
    Check::of(
        names::GUEST_POLICY,
        problems.is_empty(),
        format!(
            "0x{policy:x}{}",
            if problems.is_empty() {
                String::new()
            } else {
                format!(": {}", problems.join("; "))
            }
        ),
        format!(
            "ABI ≥ {}.{}; may allow:{}{}{}; must set:{}{}{}{}{}",
            p.abi_major,
            p.abi_minor,
            if p.smt { " SMT" } else { "" },
            if p.migrate_ma { " MigrateMA" } else { "" },
            if p.cxl_allowed { " CXLAllowed" } else { "" },
            if p.single_socket { " SingleSocket" } else { "" },
            if p.mem_aes_256_xts {
                " MemAES256XTS"
            } else {
                ""
            },
            if p.rapl_dis { " RAPLDis" } else { "" },
            if p.ciphertext_hiding {
                " CipherTextHiding"
            } else {
                ""
            },
            if p.page_swap_disable {
                " PageSwapDisable"
            } else {
                ""
            },
        ),
        format!(
            "the guest's launch policy differs: relaunch with the expected policy or change {at}.GuestPolicy"
        ),
    )
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
