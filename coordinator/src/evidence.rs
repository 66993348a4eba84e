//! Evidence: what the Coordinator offers as proof of what it is (docs/COORDINATOR.md,
//! "Evidence and TLS"; docs/ATTESTATION.md).
//!
//! Real deployments attest the Coordinator with a TEE report (AMD SEV-SNP, Intel TDX).
//! This machine has none, so the only backend here is the development one, kind
//! [`KIND_NONE`]: it attests nothing and says so. Every kind carries the same 64-byte
//! binding of the Coordinator's TLS key and its current recovery challenge key, so a TEE
//! backend only has to put `report_data` into its report's user-data field.
//!
//! # Wire format
//! `report_data = SHA-512( "seedward evidence v1" ‖ tls_spki_sha256 (32) ‖ challenge_public_key (0 or 32) )`

use sha2::{Digest as _, Sha512};

use seedward_proto::v1 as pb;

/// The development evidence kind: nothing attested.
pub const KIND_NONE: &str = "none";

/// Domain separation prefix of the evidence binding.
pub const EVIDENCE_BINDING_LABEL: &[u8] = b"seedward evidence v1";

/// The 64-byte binding of the TLS key and the challenge key.
pub fn report_data(
    tls_spki_sha256: &[u8; 32],
    challenge_public_key: Option<&[u8; 32]>,
) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update(EVIDENCE_BINDING_LABEL);
    h.update(tls_spki_sha256);
    if let Some(k) = challenge_public_key {
        h.update(k);
    }
    h.finalize().into()
}

/// Produces evidence for the Coordinator. A TEE backend implements this trait.
pub trait EvidenceProvider: Send + Sync + 'static {
    fn evidence(
        &self,
        tls_spki_sha256: &[u8; 32],
        challenge_public_key: Option<&[u8; 32]>,
    ) -> pb::Evidence;
}

/// The development provider: binds the keys, attests nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct UnattestedEvidence;

impl EvidenceProvider for UnattestedEvidence {
    fn evidence(
        &self,
        tls_spki_sha256: &[u8; 32],
        challenge_public_key: Option<&[u8; 32]>,
    ) -> pb::Evidence {
        pb::Evidence {
            kind: KIND_NONE.to_string(),
            tls_spki_sha256: tls_spki_sha256.to_vec(),
            challenge_public_key: challenge_public_key.map(|k| k.to_vec()).unwrap_or_default(),
            report_data: report_data(tls_spki_sha256, challenge_public_key).to_vec(),
            report: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_covers_both_keys() {
        let a = report_data(&[1; 32], None);
        let b = report_data(&[1; 32], Some(&[2; 32]));
        let c = report_data(&[1; 32], Some(&[3; 32]));
        let d = report_data(&[4; 32], Some(&[2; 32]));
        assert!(a != b && b != c && b != d);
        let ev = UnattestedEvidence.evidence(&[1; 32], Some(&[2; 32]));
        assert_eq!(ev.kind, KIND_NONE);
        assert_eq!(ev.report_data, b.to_vec());
        assert!(ev.report.is_empty());
    }

    #[test]
    fn binding_known_answer() {
        // Computed independently (Python hashlib) from the documented formula, so that a
        // client following docs/COORDINATOR.md gets the same bytes.
        assert_eq!(
            hex::encode(report_data(&[0; 32], Some(&[0x11; 32]))),
            "af504e85fdeea7b7a6a362cd070a070cf6a9f33b7a7aad0a396c43578284921f\
             0c8c9131b8be1cc45ad15dfe516ddfc9a21550a6fb0527d6628c1c5cb5f0d585"
        );
    }
}
