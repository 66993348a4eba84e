//! Workload credentials: what a workload receives from the workload API
//! (docs/WORKLOADS.md, "The workload API").
//!
//! A workload presents *evidence* naming its policy hash and a public key.
//! [`crate::workload_evidence::WorkloadVerifier`] turns the evidence into a
//! [`VerifiedWorkload`] (checking it against the active manifest's reference values); the
//! core looks the policy hash up in the active manifest and, if it is listed, hands out
//! what [`issue`] signs: a mesh certificate for the key with the entry's SANs, the mesh and
//! root CA certificates, and the workload secret when the entry names a
//! `WorkloadSecretID`. With development evidence (kind `none`, allowed only by a manifest
//! whose reference values allow it) the policy hash is merely claimed: anyone who can reach
//! the workload API can obtain any listed workload's secret.
//!
//! # Invariants
//! - The workload secret is held in a [`SecretBytes`] (zeroized on drop) and never appears
//!   in `Debug` output, logs or errors.
//! - The leaf carries exactly the policy entry's SANs; a SAN that parses as an IP address is
//!   an IP SAN, one with a `scheme://` is a URI SAN, every other one (including `*`
//!   wildcards) a DNS SAN. The common name is the first DNS SAN.

use std::fmt;
use std::net::IpAddr;

use rcgen::{PublicKeyData as _, SanType, SubjectPublicKeyInfo};
use seedward_proto::v1 as pb;
use seedward_shared::history::Digest;
use seedward_shared::manifest::PolicyEntry;
use seedward_shared::secret::SecretBytes;
use seedward_shared::seed::SeedEngine;

use crate::ca::CertificateAuthority;
use crate::error::CoreError;

/// Common name of a workload certificate whose policy entry lists no DNS name.
pub const WORKLOAD_FALLBACK_COMMON_NAME: &str = "Seedward Workload";

/// Evidence that a verifier accepted: the policy the workload runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedWorkload {
    policy_hash: Digest,
}

impl VerifiedWorkload {
    /// Only verifiers call this, after they checked the evidence.
    pub fn new(policy_hash: Digest) -> Self {
        Self { policy_hash }
    }

    pub fn policy_hash(&self) -> &Digest {
        &self.policy_hash
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A workload's public key: a DER SubjectPublicKeyInfo of an ECDSA P-256 or P-384 key.
#[derive(Clone)]
pub struct WorkloadPublicKey {
    spki: SubjectPublicKeyInfo,
}

impl fmt::Debug for WorkloadPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadPublicKey")
            .field("algorithm", &self.spki.algorithm())
            .finish()
    }
}

impl WorkloadPublicKey {
    /// Parses a DER SubjectPublicKeyInfo. P-384 points are checked to be on the curve;
    /// P-256 points are checked for their uncompressed shape (the crate has no P-256
    /// arithmetic; a bogus point only yields a certificate nobody can use).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, CoreError> {
        let bad = |message: &str| CoreError::InvalidArgument {
            field: "public_key",
            message: message.to_string(),
        };
        let spki = SubjectPublicKeyInfo::from_der(der).map_err(|_| {
            bad("not a DER SubjectPublicKeyInfo of an ECDSA P-256 or P-384 key; send the SPKI DER of the workload's key")
        })?;
        let point = rcgen::PublicKeyData::der_bytes(&spki);
        let alg = rcgen::PublicKeyData::algorithm(&spki);
        if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
            p384::PublicKey::from_sec1_bytes(point)
                .map_err(|_| bad("the P-384 point is not on the curve"))?;
        } else if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
            if point.len() != 65 || point.first() != Some(&0x04) {
                return Err(bad("the P-256 point must be uncompressed (65 bytes)"));
            }
        } else {
            return Err(bad(
                "unsupported key algorithm; use an ECDSA P-256 or P-384 key",
            ));
        }
        Ok(Self { spki })
    }
}

/// What a workload receives. The secret is redacted from `Debug`.
pub struct WorkloadCredentials {
    /// PEM: leaf, then mesh CA.
    pub cert_chain_pem: String,
    pub mesh_ca_pem: String,
    pub root_ca_pem: String,
    pub workload_secret: Option<SecretBytes>,
}

impl fmt::Debug for WorkloadCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadCredentials")
            .field("cert_chain_pem", &self.cert_chain_pem)
            .field(
                "workload_secret",
                &self.workload_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl From<WorkloadCredentials> for pb::GetCredentialsResponse {
    fn from(c: WorkloadCredentials) -> Self {
        pb::GetCredentialsResponse {
            cert_chain: c.cert_chain_pem,
            mesh_ca_cert: c.mesh_ca_pem,
            root_ca_cert: c.root_ca_pem,
            workload_secret: c.workload_secret.map(|s| s.expose().to_vec()),
        }
    }
}

/// Issues the credentials of `entry` for `key`: signs a leaf with the mesh CA. Needs no
/// lock: the caller took what it needs from the ready state (and derived the workload
/// secret) under the lock and released it, so signatures run in parallel.
pub fn issue(
    root_ca_pem: String,
    mesh_ca: &CertificateAuthority,
    entry: &PolicyEntry,
    key: &WorkloadPublicKey,
    workload_secret: Option<SecretBytes>,
) -> Result<WorkloadCredentials, CoreError> {
    let (sans, common_name) = sans(entry)?;
    let leaf = mesh_ca
        .issue_workload_leaf(&key.spki, &common_name, sans)
        .map_err(|e| CoreError::Internal(format!("cannot issue the workload certificate: {e}")))?;
    Ok(WorkloadCredentials {
        cert_chain_pem: format!("{}{}", leaf.pem, mesh_ca.cert().pem),
        mesh_ca_pem: mesh_ca.cert().pem.clone(),
        root_ca_pem,
        workload_secret,
    })
}

/// The workload secret of `entry`, if it names a `WorkloadSecretID`.
pub fn workload_secret(
    engine: &SeedEngine,
    policy_hash: &Digest,
    entry: &PolicyEntry,
) -> Result<Option<SecretBytes>, CoreError> {
    match entry.workload_secret_id.as_deref() {
        Some(id) if !id.is_empty() => Ok(Some(engine.derive_workload_secret(id).map_err(|e| {
            CoreError::Internal(format!(
                "cannot derive the workload secret of policy {policy_hash}: {e}"
            ))
        })?)),
        _ => Ok(None),
    }
}

/// The entry's SANs as certificate SANs, and the common name (first DNS SAN).
fn sans(entry: &PolicyEntry) -> Result<(Vec<SanType>, String), CoreError> {
    let mut out = Vec::new();
    let mut common_name = None;
    for san in &entry.sans {
        let bad = |what: &str| {
            CoreError::InvalidManifest(format!(
                "the SAN {:?} of the workload's policy entry is not a valid {what}; fix the manifest's SANs",
                truncate(san, 64)
            ))
        };
        let parsed = if let Ok(ip) = san.parse::<IpAddr>() {
            SanType::IpAddress(ip)
        } else if san.contains("://") {
            SanType::URI(san.clone().try_into().map_err(|_| bad("URI"))?)
        } else {
            common_name.get_or_insert_with(|| san.clone());
            SanType::DnsName(san.clone().try_into().map_err(|_| bad("DNS name"))?)
        };
        if !out.contains(&parsed) {
            out.push(parsed);
        }
    }
    Ok((
        out,
        common_name.unwrap_or_else(|| WORKLOAD_FALLBACK_COMMON_NAME.to_string()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys_must_be_p256_or_p384() {
        let p256 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        WorkloadPublicKey::from_spki_der(&p256.subject_public_key_info()).unwrap();
        let p384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        WorkloadPublicKey::from_spki_der(&p384.subject_public_key_info()).unwrap();
        let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        assert_eq!(
            WorkloadPublicKey::from_spki_der(&ed.subject_public_key_info())
                .unwrap_err()
                .reason()
                .as_str(),
            "INVALID_ARGUMENT"
        );
        assert!(WorkloadPublicKey::from_spki_der(b"garbage").is_err());
        // A P-384 SPKI whose point is off the curve.
        let mut der = p384.subject_public_key_info();
        let last = der.len() - 1;
        der[last] ^= 1;
        assert!(WorkloadPublicKey::from_spki_der(&der).is_err());
    }

    #[test]
    fn sans_are_split_into_dns_ip_and_uri() {
        let entry = PolicyEntry {
            sans: vec![
                "*".into(),
                "web".into(),
                "10.0.0.1".into(),
                "::1".into(),
                "spiffe://cluster/web".into(),
                "*.web.svc".into(),
                "web".into(),
            ],
            workload_secret_id: None,
            role: Default::default(),
        };
        let (sans, cn) = sans(&entry).unwrap();
        assert_eq!(cn, "*");
        assert_eq!(sans.len(), 6, "duplicates are dropped: {sans:?}");
        assert!(matches!(sans[2], SanType::IpAddress(_)));
        assert!(matches!(sans[4], SanType::URI(_)));
        assert!(matches!(sans[5], SanType::DnsName(_)));
        let (_, cn) = sans_of(&["10.0.0.1"]);
        assert_eq!(cn, WORKLOAD_FALLBACK_COMMON_NAME);
    }

    fn sans_of(list: &[&str]) -> (Vec<SanType>, String) {
        sans(&PolicyEntry {
            sans: list.iter().map(|s| s.to_string()).collect(),
            workload_secret_id: None,
            role: Default::default(),
        })
        .unwrap()
    }

    #[test]
    fn credentials_debug_redacts_the_secret() {
        let c = WorkloadCredentials {
            cert_chain_pem: String::new(),
            mesh_ca_pem: String::new(),
            root_ca_pem: String::new(),
            workload_secret: Some(SecretBytes::new(vec![0x5a; 64])),
        };
        let text = format!("{c:?}");
        assert!(text.contains("<redacted>"));
        assert!(!text.contains("90"), "{text}");
    }
}
