//! PEM in and out: the first key block of a text, errors that name what a block holds,
//! and RFC 7468 encoding (through `pem-rfc7468`).

use der::asn1::ObjectIdentifier;
use pem_rfc7468::LineEnding;
use pkcs8::PrivateKeyInfo;
use spki::SubjectPublicKeyInfoRef;
use zeroize::Zeroizing;

use super::{
    KeyError, OID_EC_PUBLIC_KEY, OID_ED448, OID_ED25519, OID_RSA, OID_SECP256K1, OID_SECP256R1,
    OID_SECP384R1, OID_SECP521R1, OID_X448, OID_X25519, PEM_LABEL_EC_PARAMETERS,
    PEM_LABEL_EC_PRIVATE_KEY, PEM_LABEL_PRIVATE_KEY, PEM_LABEL_PUBLIC_KEY, encoded,
};

/// PEM per RFC 7468: base64 in 64-column lines, LF line ends, a final newline.
pub(super) fn encode(label: &str, der: &[u8]) -> String {
    encoded(pem_rfc7468::encode_string(label, LineEnding::LF, der))
}

/// [`encode`] for a private key: the text is zeroized on drop. `encode_string` sizes its
/// buffer exactly before it writes, so no stray copy of the base64 is left behind.
pub(super) fn encode_secret(label: &str, der: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(encode(label, der))
}

/// The first PEM block of `text` that is not `EC PARAMETERS`, as (label, DER).
pub(super) fn first_block(
    text: &str,
    expected: &'static str,
) -> Result<(String, Zeroizing<Vec<u8>>), KeyError> {
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(KeyError::EncryptedKey);
    }
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let label_end =
            block["-----BEGIN ".len()..]
                .find("-----")
                .ok_or_else(|| KeyError::Pem {
                    reason: "unterminated BEGIN line".into(),
                })?;
        let label = &block["-----BEGIN ".len().."-----BEGIN ".len() + label_end];
        // A BEGIN line that lacks its closing dashes makes the "label" run on into the key's
        // base64 lines: never put such a label into a message (found by fuzzing,
        // fuzz/regressions/key_import/).
        if !is_pem_label(label) {
            return Err(KeyError::Pem {
                reason: "the -----BEGIN line is malformed; it must be a line of its own, \
                         like -----BEGIN PRIVATE KEY-----"
                    .into(),
            });
        }
        let end_marker = format!("-----END {label}-----");
        let end = block.find(&end_marker).ok_or_else(|| KeyError::Pem {
            reason: if KNOWN_PEM_LABELS.contains(&label) {
                format!("no matching -----END {label}----- line")
            } else {
                "no matching -----END line for the -----BEGIN line".into()
            },
        })?;
        let block_text = &block[..end + end_marker.len()];
        rest = &block[end + end_marker.len()..];
        if label == PEM_LABEL_EC_PARAMETERS {
            continue;
        }
        if label == "ENCRYPTED PRIVATE KEY" {
            return Err(KeyError::EncryptedKey);
        }
        let (label, der) =
            pem_rfc7468::decode_vec(block_text.as_bytes()).map_err(|e| KeyError::Pem {
                reason: e.to_string(),
            })?;
        return Ok((label.to_owned(), Zeroizing::new(der)));
    }
    Err(KeyError::NoPemBlock { expected })
}

/// Labels that may be repeated in an error message (all short, none from key material).
const KNOWN_PEM_LABELS: &[&str] = &[
    PEM_LABEL_PRIVATE_KEY,
    PEM_LABEL_EC_PRIVATE_KEY,
    PEM_LABEL_PUBLIC_KEY,
    PEM_LABEL_EC_PARAMETERS,
    "ENCRYPTED PRIVATE KEY",
    "RSA PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
    "CERTIFICATE",
];

/// An RFC 7468 label as real ones look: uppercase letters, digits and single inner spaces,
/// at most 64 characters. Anything else (a newline, base64 text) is a malformed BEGIN line.
fn is_pem_label(label: &str) -> bool {
    label.len() <= 64
        && !label.starts_with(' ')
        && !label.ends_with(' ')
        && !label.contains("  ")
        && label
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ')
}

/// The error for a PEM block whose label is not one we read.
pub(super) fn label_mismatch(label: &str, der: &[u8], expected: &'static str) -> KeyError {
    let found = match label {
        PEM_LABEL_EC_PRIVATE_KEY => match sec1::EcPrivateKey::try_from(der) {
            Ok(ec) => match ec.parameters {
                Some(sec1::EcParameters::NamedCurve(curve)) => format!(
                    "{} (SEC1 `EC PRIVATE KEY`)",
                    describe_algorithm(OID_EC_PUBLIC_KEY, Some(curve), "private key")
                ),
                None => "an EC private key (SEC1 `EC PRIVATE KEY`)".to_owned(),
            },
            Err(_) => "an EC private key (SEC1 `EC PRIVATE KEY`)".to_owned(),
        },
        "RSA PRIVATE KEY" => "an RSA private key (PKCS#1 `RSA PRIVATE KEY`)".to_owned(),
        "OPENSSH PRIVATE KEY" => "an OpenSSH private key".to_owned(),
        PEM_LABEL_PUBLIC_KEY => match SubjectPublicKeyInfoRef::try_from(der) {
            Ok(spki) => describe_algorithm(
                spki.algorithm.oid,
                spki.algorithm.parameters_oid().ok(),
                "public key",
            ),
            Err(_) => "a public key".to_owned(),
        },
        PEM_LABEL_PRIVATE_KEY => match PrivateKeyInfo::try_from(der) {
            Ok(info) => describe_algorithm(
                info.algorithm.oid,
                info.algorithm.parameters_oid().ok(),
                "private key",
            ),
            Err(_) => "a PKCS#8 private key".to_owned(),
        },
        "CERTIFICATE" => "a certificate, not a key".to_owned(),
        other => format!("a PEM block labelled `{other}`"),
    };
    KeyError::WrongKeyType { found, expected }
}

/// What a key is, for error messages: "an X25519 private key", "an ECDSA P-256 public
/// key", "an RSA private key", ... (`kind` is "private key" or "public key").
pub(super) fn describe_algorithm(
    oid: ObjectIdentifier,
    curve: Option<ObjectIdentifier>,
    kind: &str,
) -> String {
    let name = match oid {
        OID_X25519 => "X25519",
        OID_X448 => "X448",
        OID_ED25519 => "Ed25519",
        OID_ED448 => "Ed448",
        OID_RSA => "RSA",
        OID_EC_PUBLIC_KEY => match curve {
            Some(OID_SECP384R1) => "ECDSA P-384",
            Some(OID_SECP256R1) => "ECDSA P-256",
            Some(OID_SECP521R1) => "ECDSA P-521",
            Some(OID_SECP256K1) => "ECDSA secp256k1",
            Some(other) => return format!("an EC {kind} on curve {other}"),
            None => return format!("an EC {kind} without a named curve"),
        },
        other => return format!("a {kind} with algorithm OID {other}"),
    };
    format!("an {name} {kind}")
}
