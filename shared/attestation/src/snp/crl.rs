//! The `crl` check: AMD's certificate revocation lists (check 6 of [`super`]).

use der::Encode as _;
use der::referenced::OwnedToRef as _;
use sha2::Sha384;
use x509_cert::Certificate;

use super::Chain;
use crate::binding::{CertKind, CertTable, Evidence};
use crate::verdict::{Check, names};
use crate::x509;

pub(super) fn crl_check(
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

pub(super) fn verify_crl_signature(
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
