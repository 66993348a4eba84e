//! The Coordinator's TLS identity: one key per process, a certificate that follows the state.
//!
//! Before the Coordinator is ready the certificate is self-signed; clients check its key
//! against the evidence. Once ready it is issued by the root CA, so clients that pinned the
//! root CA public key at setup can verify it. [`TlsIdentity`] is the rustls certificate
//! resolver; swapping the certificate needs no restart of the listener.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::ca::{COORDINATOR_COMMON_NAME, CaError, CertificateAuthority, TlsIdentityKey};

/// The Coordinator's TLS key and its current certificate chain.
pub struct TlsIdentity {
    key: TlsIdentityKey,
    dns_names: Vec<String>,
    ips: Vec<IpAddr>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// A fresh key with a self-signed certificate for the given names.
    pub fn generate(dns_names: Vec<String>, ips: Vec<IpAddr>) -> Result<Self, CaError> {
        let key = TlsIdentityKey::generate()?;
        let cert = key.self_signed(&dns_names, &ips)?;
        let certified = certified_key(&key, vec![cert.der])?;
        Ok(Self {
            key,
            dns_names,
            ips,
            current: RwLock::new(Arc::new(certified)),
        })
    }

    pub fn spki_sha256(&self) -> [u8; 32] {
        self.key.spki_sha256()
    }

    /// Re-issues the certificate from `root` (the Coordinator became ready).
    pub fn issue_from(&self, root: &CertificateAuthority) -> Result<(), CaError> {
        let leaf = root.issue_leaf(
            self.key.key_pair(),
            COORDINATOR_COMMON_NAME,
            &self.dns_names,
            &self.ips,
            false,
        )?;
        let certified = certified_key(&self.key, vec![leaf.der, root.cert().der.clone()])?;
        self.replace(certified);
        Ok(())
    }

    /// Goes back to a self-signed certificate (the Coordinator lost its keys: stale).
    pub fn self_sign(&self) -> Result<(), CaError> {
        let cert = self.key.self_signed(&self.dns_names, &self.ips)?;
        let certified = certified_key(&self.key, vec![cert.der])?;
        self.replace(certified);
        Ok(())
    }

    fn replace(&self, certified: CertifiedKey) {
        // A poisoned lock only means a panic while swapping an Arc; the value is still whole.
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        *guard = Arc::new(certified);
    }

    /// The server config that serves this identity with ALPN h2.
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }
}

impl ResolvesServerCert for TlsIdentity {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
        Some(guard.clone())
    }
}

fn certified_key(
    key: &TlsIdentityKey,
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
) -> Result<CertifiedKey, CaError> {
    let signing = rustls::crypto::ring::sign::any_ecdsa_type(&key.private_key_der())
        .map_err(|_| CaError::KeyEncoding)?;
    Ok(CertifiedKey::new(chain, signing))
}
