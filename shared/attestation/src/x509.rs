//! Small X.509 and time helpers shared by the verifiers (crate-internal).

use der::Decode as _;
use sha2::{Digest as _, Sha256};
use x509_cert::Certificate;
use x509_cert::name::Name;

/// OID of the X.520 common name.
const CN: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("2.5.4.3");

/// Splits PEM text into `(label, DER)` blocks, exactly as encoded (no re-serialization).
pub(crate) fn pem_blocks(text: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "PEM text is not UTF-8".to_owned())?;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(begin) = rest.find("-----BEGIN ") {
        let after = &rest[begin..];
        let label_end = after[11..]
            .find("-----")
            .ok_or_else(|| "unterminated PEM header".to_owned())?;
        let label = &after[11..11 + label_end];
        let end_marker = format!("-----END {label}-----");
        let end = after
            .find(&end_marker)
            .ok_or_else(|| format!("PEM block {label:?} has no END line"))?;
        let block = &after[..end + end_marker.len()];
        let (got_label, der) = pem_rfc7468::decode_vec(block.as_bytes())
            .map_err(|e| format!("PEM block {label:?}: {e}"))?;
        out.push((got_label.to_owned(), der));
        rest = &after[end + end_marker.len()..];
    }
    Ok(out)
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .is_some_and(|i| bytes[i..].starts_with(b"-----BEGIN "))
}

/// The DER certificates in `bytes` (one DER certificate, or PEM with any number of them).
pub(crate) fn der_certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if looks_like_pem(bytes) {
        let certs: Vec<Vec<u8>> = pem_blocks(bytes)?
            .into_iter()
            .filter(|(label, _)| label == "CERTIFICATE")
            .map(|(_, der)| der)
            .collect();
        if certs.is_empty() {
            return Err("the PEM text holds no CERTIFICATE block".to_owned());
        }
        for der in &certs {
            parse(der)?;
        }
        Ok(certs)
    } else {
        parse(bytes)?;
        Ok(vec![bytes.to_vec()])
    }
}

/// The DER CRLs in `bytes`: nothing for empty input, PEM `X509 CRL` blocks, or DER CRLs one
/// after the other.
pub(crate) fn der_crls(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Vec::new());
    }
    if looks_like_pem(bytes) {
        return Ok(pem_blocks(bytes)?
            .into_iter()
            .filter(|(label, _)| label == "X509 CRL")
            .map(|(_, der)| der)
            .collect());
    }
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let mut reader = der::SliceReader::new(rest).map_err(|e| e.to_string())?;
        let header = der::Header::decode(&mut reader).map_err(|e| format!("CRL: {e}"))?;
        let len = usize::try_from(der::Encode::encoded_len(&header).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?
            + usize::try_from(header.length).map_err(|e| e.to_string())?;
        let (one, tail) = rest
            .split_at_checked(len)
            .ok_or_else(|| "CRL: truncated DER".to_owned())?;
        out.push(one.to_vec());
        rest = tail;
    }
    Ok(out)
}

pub(crate) fn parse(der: &[u8]) -> Result<Certificate, String> {
    Certificate::from_der(der).map_err(|e| format!("not a DER X.509 certificate: {e}"))
}

/// The first common name of `name`, if it is a string.
pub(crate) fn common_name(name: &Name) -> Option<String> {
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            if atv.oid == CN {
                if let Ok(s) = atv.value.decode_as::<der::asn1::Utf8StringRef<'_>>() {
                    return Some(s.as_str().to_owned());
                }
                if let Ok(s) = atv.value.decode_as::<der::asn1::PrintableStringRef<'_>>() {
                    return Some(s.as_str().to_owned());
                }
                if let Ok(s) = atv.value.decode_as::<der::asn1::Ia5StringRef<'_>>() {
                    return Some(s.as_str().to_owned());
                }
            }
        }
    }
    None
}

pub(crate) fn subject_common_name(der: &[u8]) -> Result<String, String> {
    let cert = parse(der)?;
    Ok(common_name(&cert.tbs_certificate.subject).unwrap_or_default())
}

/// `(not_before, not_after)` in seconds since the Unix epoch.
pub(crate) fn validity(cert: &Certificate) -> (u64, u64) {
    let v = &cert.tbs_certificate.validity;
    (
        v.not_before.to_unix_duration().as_secs(),
        v.not_after.to_unix_duration().as_secs(),
    )
}

/// SHA-256 of the DER encoding.
pub(crate) fn fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn fmt_time(unix_secs: u64) -> String {
    der::DateTime::from_unix_duration(std::time::Duration::from_secs(unix_secs))
        .map(|d| d.to_string())
        .unwrap_or_else(|_| format!("{unix_secs} s after 1970"))
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (Intel's collateral dates) to Unix seconds.
pub(crate) fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> { s.get(r)?.parse().ok() };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let tail = &s[19..];
    let tail = tail
        .strip_prefix('.')
        .map_or(tail, |t| t.trim_start_matches(|c: char| c.is_ascii_digit()));
    if tail != "Z" {
        return None;
    }
    let dt = der::DateTime::new(
        u16::try_from(year).ok()?,
        u8::try_from(month).ok()?,
        u8::try_from(day).ok()?,
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
    )
    .ok()?;
    Some(dt.unix_duration().as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        let t = parse_rfc3339("2025-06-19T10:16:03Z").expect("parses");
        assert_eq!(fmt_time(t), "2025-06-19T10:16:03Z");
        assert_eq!(parse_rfc3339("2025-06-19T10:16:03.123Z"), Some(t));
        assert_eq!(parse_rfc3339("2025-06-19 10:16:03Z"), None);
        assert_eq!(parse_rfc3339("2025-06-19T10:16:03+01:00"), None);
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
    }

    #[test]
    fn der_crl_splitting() {
        assert!(der_crls(b"").expect("empty").is_empty());
        assert!(der_crls(&[0x30, 0x05, 1, 2]).is_err());
        let two = [0x30, 0x01, 0x00, 0x30, 0x00];
        assert_eq!(
            der_crls(&two).expect("two"),
            vec![vec![0x30, 1, 0], vec![0x30, 0]]
        );
    }
}
