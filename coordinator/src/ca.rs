//! The Coordinator's certificates: root CA, mesh CA, and its own TLS server certificate.
//!
//! # Invariants
//! - The root CA *key* is derived from the seed (`ROOT CA SEED`), so it is the same after
//!   every recovery; the root CA *certificate* is re-issued on each start (its serial and
//!   signature differ), which is why clients pin the root CA public key, never the certificate.
//! - The mesh CA key is random per manifest generation and per recovery, so seed holders
//!   cannot forge workload certificates (docs/FORMATS.md, "Deterministic P-384 keys").
//! - The Coordinator's TLS key lives as long as the process. Before the Coordinator is
//!   ready its certificate is self-signed; once ready it is re-issued by the root CA. The
//!   same key is bound into the evidence in both cases.

use p384::pkcs8::EncodePrivateKey;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, date_time_ymd,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest as _, Sha256};

/// Subject common names; clients show them, tests assert them.
pub const ROOT_CA_COMMON_NAME: &str = "Seedward Root CA";
pub const MESH_CA_COMMON_NAME: &str = "Seedward Mesh CA";
pub const COORDINATOR_COMMON_NAME: &str = "Seedward Coordinator";
const ORGANIZATION: &str = "Seedward";

/// DNS names every Coordinator certificate carries, besides the configured ones.
pub const DEFAULT_DNS_NAMES: &[&str] = &["localhost", "seedward-coordinator"];

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    #[error("could not encode a CA key for certificate issuance")]
    KeyEncoding,
    #[error("could not issue the {what} certificate: {source}")]
    Issue {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
}

/// An issued certificate with its PEM and DER forms.
#[derive(Clone)]
pub struct IssuedCert {
    pub pem: String,
    pub der: CertificateDer<'static>,
}

impl std::fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCert")
            .field("sha256", &hex::encode(Sha256::digest(&self.der)))
            .finish()
    }
}

/// A CA: its certificate and the issuer handle that signs with its key.
pub struct CertificateAuthority {
    cert: IssuedCert,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// The self-signed root CA for the (derived) root CA key.
    pub fn root(key: &p384::SecretKey) -> Result<Self, CaError> {
        let key_pair = rcgen_key(key)?;
        let params = ca_params(ROOT_CA_COMMON_NAME, None)?;
        let cert = params
            .self_signed(&key_pair)
            .map_err(|source| CaError::Issue {
                what: "root CA",
                source,
            })?;
        Ok(Self {
            cert: IssuedCert {
                pem: cert.pem(),
                der: cert.der().clone(),
            },
            issuer: Issuer::new(params, key_pair),
        })
    }

    /// The mesh CA for a (random) mesh CA key, issued by `root`.
    pub fn mesh(key: &p384::SecretKey, root: &CertificateAuthority) -> Result<Self, CaError> {
        let key_pair = rcgen_key(key)?;
        let params = ca_params(MESH_CA_COMMON_NAME, Some(0))?;
        let cert = params
            .signed_by(&key_pair, &root.issuer)
            .map_err(|source| CaError::Issue {
                what: "mesh CA",
                source,
            })?;
        Ok(Self {
            cert: IssuedCert {
                pem: cert.pem(),
                der: cert.der().clone(),
            },
            issuer: Issuer::new(params, key_pair),
        })
    }

    pub fn cert(&self) -> &IssuedCert {
        &self.cert
    }

    /// Issues a leaf certificate for `subject` with the given names.
    pub fn issue_leaf(
        &self,
        subject: &KeyPair,
        common_name: &str,
        dns_names: &[String],
        ip_addresses: &[std::net::IpAddr],
        client_and_server: bool,
    ) -> Result<IssuedCert, CaError> {
        let params = leaf_params(common_name, dns_names, ip_addresses, client_and_server)?;
        let cert = params
            .signed_by(subject, &self.issuer)
            .map_err(|source| CaError::Issue {
                what: "leaf",
                source,
            })?;
        Ok(IssuedCert {
            pem: cert.pem(),
            der: cert.der().clone(),
        })
    }
}

/// How long a workload's mesh certificate is valid (as in Contrast: one year). The mesh
/// CA changes with every manifest generation and recovery anyway, and workloads then
/// restart and fetch a new one.
pub const WORKLOAD_CERT_VALIDITY: std::time::Duration =
    std::time::Duration::from_secs(365 * 86_400);

impl CertificateAuthority {
    /// Issues a workload's mesh certificate: exactly the given SANs (no Coordinator
    /// defaults), extended key usage client and server auth, valid from an hour ago for
    /// [`WORKLOAD_CERT_VALIDITY`].
    pub fn issue_workload_leaf(
        &self,
        public_key: &impl rcgen::PublicKeyData,
        common_name: &str,
        sans: Vec<SanType>,
    ) -> Result<IssuedCert, CaError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(common_name);
        params.subject_alt_names = sans;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        // `time` without its `std` feature has no clock: count from the epoch instead.
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let now = date_time_ymd(1970, 1, 1) + since_epoch;
        params.not_before = now - std::time::Duration::from_secs(3600);
        params.not_after = now + WORKLOAD_CERT_VALIDITY;
        params.serial_number = Some(random_serial());
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(public_key, &self.issuer)
            .map_err(|source| CaError::Issue {
                what: "workload leaf",
                source,
            })?;
        Ok(IssuedCert {
            pem: cert.pem(),
            der: cert.der().clone(),
        })
    }
}

/// The Coordinator's TLS key pair: generated once per process.
pub struct TlsIdentityKey {
    key_pair: KeyPair,
}

impl std::fmt::Debug for TlsIdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentityKey")
            .field("spki_sha256", &hex::encode(self.spki_sha256()))
            .finish()
    }
}

impl TlsIdentityKey {
    /// A fresh P-384 key from the OS CSPRNG.
    pub fn generate() -> Result<Self, CaError> {
        let key = p384::SecretKey::random(&mut rand_core::OsRng);
        Ok(Self {
            key_pair: rcgen_key(&key)?,
        })
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo: what the evidence binds and clients compare.
    pub fn spki_sha256(&self) -> [u8; 32] {
        Sha256::digest(rcgen::PublicKeyData::subject_public_key_info(
            &self.key_pair,
        ))
        .into()
    }

    pub fn key_pair(&self) -> &KeyPair {
        &self.key_pair
    }

    pub fn private_key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pair.serialize_der()))
    }

    /// A self-signed certificate, used while no root CA key is in memory.
    pub fn self_signed(
        &self,
        dns_names: &[String],
        ips: &[std::net::IpAddr],
    ) -> Result<IssuedCert, CaError> {
        let params = leaf_params(COORDINATOR_COMMON_NAME, dns_names, ips, false)?;
        let cert = params
            .self_signed(&self.key_pair)
            .map_err(|source| CaError::Issue {
                what: "self-signed TLS",
                source,
            })?;
        Ok(IssuedCert {
            pem: cert.pem(),
            der: cert.der().clone(),
        })
    }
}

fn rcgen_key(key: &p384::SecretKey) -> Result<KeyPair, CaError> {
    let der = key.to_pkcs8_der().map_err(|_| CaError::KeyEncoding)?;
    let pkcs8 = PrivatePkcs8KeyDer::from(der.as_bytes());
    KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_ECDSA_P384_SHA384)
        .map_err(|_| CaError::KeyEncoding)
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn.push(DnType::CommonName, common_name);
    dn
}

fn ca_params(common_name: &str, path_len: Option<u8>) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(common_name);
    params.is_ca = IsCa::Ca(match path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = date_time_ymd(2025, 1, 1);
    params.not_after = date_time_ymd(2125, 1, 1);
    params.serial_number = Some(random_serial());
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

fn leaf_params(
    common_name: &str,
    dns_names: &[String],
    ips: &[std::net::IpAddr],
    client_and_server: bool,
) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(common_name);
    let mut sans = Vec::new();
    for name in DEFAULT_DNS_NAMES
        .iter()
        .map(|s| s.to_string())
        .chain(dns_names.iter().cloned())
    {
        let ia5 = name.try_into().map_err(|source| CaError::Issue {
            what: "leaf (DNS name)",
            source,
        })?;
        let san = SanType::DnsName(ia5);
        if !sans.contains(&san) {
            sans.push(san);
        }
    }
    for ip in ips {
        let san = SanType::IpAddress(*ip);
        if !sans.contains(&san) {
            sans.push(san);
        }
    }
    params.subject_alt_names = sans;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = if client_and_server {
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ]
    } else {
        vec![ExtendedKeyUsagePurpose::ServerAuth]
    };
    params.not_before = date_time_ymd(2025, 1, 1);
    params.not_after = date_time_ymd(2125, 1, 1);
    params.serial_number = Some(random_serial());
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

fn random_serial() -> rcgen::SerialNumber {
    use rand_core::RngCore;
    let mut bytes = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut bytes);
    bytes[0] &= 0x7f; // positive INTEGER
    rcgen::SerialNumber::from_slice(&bytes)
}

/// SHA-256 of a certificate's DER SubjectPublicKeyInfo, or `None` if it does not parse.
pub fn cert_spki_sha256(der: &[u8]) -> Option<[u8; 32]> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(Sha256::digest(cert.public_key().raw).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> p384::SecretKey {
        p384::SecretKey::random(&mut rand_core::OsRng)
    }

    #[test]
    fn root_is_self_signed_ca_with_the_given_key() {
        let k = key();
        let root = CertificateAuthority::root(&k).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&root.cert().der).unwrap();
        assert!(cert.is_ca());
        assert_eq!(cert.subject(), cert.issuer());
        assert!(
            cert.subject()
                .to_string()
                .contains(&format!("CN={ROOT_CA_COMMON_NAME}"))
        );
        let spki = p384::PublicKey::from_sec1_bytes(cert.public_key().subject_public_key.as_ref())
            .unwrap();
        assert_eq!(spki, k.public_key());
        cert.verify_signature(None).unwrap();
    }

    #[test]
    fn mesh_and_leaf_chain_to_root() {
        let root = CertificateAuthority::root(&key()).unwrap();
        let mesh = CertificateAuthority::mesh(&key(), &root).unwrap();
        let (_, root_cert) = x509_parser::parse_x509_certificate(&root.cert().der).unwrap();
        let (_, mesh_cert) = x509_parser::parse_x509_certificate(&mesh.cert().der).unwrap();
        mesh_cert
            .verify_signature(Some(root_cert.public_key()))
            .unwrap();
        assert!(mesh_cert.is_ca());

        let tls = TlsIdentityKey::generate().unwrap();
        let leaf = root
            .issue_leaf(
                tls.key_pair(),
                COORDINATOR_COMMON_NAME,
                &["coordinator.example".into()],
                &["127.0.0.1".parse().unwrap()],
                false,
            )
            .unwrap();
        let (_, leaf_cert) = x509_parser::parse_x509_certificate(&leaf.der).unwrap();
        leaf_cert
            .verify_signature(Some(root_cert.public_key()))
            .unwrap();
        assert_eq!(cert_spki_sha256(&leaf.der), Some(tls.spki_sha256()));
        assert!(!leaf_cert.is_ca());
    }

    #[test]
    fn root_key_is_stable_across_reissue() {
        let k = key();
        let a = CertificateAuthority::root(&k).unwrap();
        let b = CertificateAuthority::root(&k).unwrap();
        assert_ne!(a.cert().der, b.cert().der, "serial differs per issue");
        assert_eq!(
            cert_spki_sha256(&a.cert().der),
            cert_spki_sha256(&b.cert().der)
        );
    }
}
