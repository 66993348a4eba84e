//! The chain, the report signature and what AMD's certificate extensions say (checks 2–5
//! of [`super`]).

use p384::ecdsa::signature::DigestVerifier as _;
use seedward_shared::reference::SnpProduct;
use sev::certs::snp::Verifiable as _;
use sha2::{Digest as _, Sha384};
use x509_cert::Certificate;

use super::report::{SnpReport, Tcb, product_from_cpuid};
use super::vek::{Vek, VekKind};
use super::{Chain, product_of_issuer};
use crate::anchors::AnchorCert;
use crate::binding::{CertKind, CertTable};
use crate::verdict::{Check, names};
use crate::{Appraisal, x509};

pub(super) fn check_chain<'a>(
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

pub(super) fn sev_cert(cert: &Certificate) -> sev::certs::snp::Certificate {
    sev::certs::snp::Certificate::from(cert.clone())
}

pub(super) fn signature_check(report: &SnpReport, vek: &Vek) -> Check {
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

pub(super) fn validity_check(name: &'static str, what: &str, cert: &Certificate, at: u64) -> Check {
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

pub(super) fn hwid_check(report: &SnpReport, vek: &Vek) -> Check {
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

pub(super) fn vek_tcb_check(report: &SnpReport, vek: &Vek, layout: SnpProduct) -> Check {
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

pub(super) fn vek_product_check(
    report: &SnpReport,
    vek: &Vek,
    product: Option<SnpProduct>,
) -> Check {
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
