//! The Coordinator's TLS identity: one key per process, a certificate that follows the state.
//!
//! Before the Coordinator is ready the certificate is self-signed; clients check its key
//! against the evidence. Once ready it is issued by the root CA, so clients that pinned the
//! root CA public key at setup can verify it. [`TlsIdentity`] is the rustls certificate
//! resolver: on every handshake it reads the core's [`StateView`] and presents the
//! certificate for it (issued from the current root CA once, then cached), so the
//! certificate can never lag behind the state and the core never calls into TLS.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::sync::watch;

use crate::ca::{COORDINATOR_COMMON_NAME, CaError, CertificateAuthority, TlsIdentityKey};
use crate::core::StateView;

/// The Coordinator's TLS key and the certificates it presents.
pub struct TlsIdentity {
    key: TlsIdentityKey,
    dns_names: Vec<String>,
    ips: Vec<IpAddr>,
    self_signed: Arc<CertifiedKey>,
    state: watch::Receiver<StateView>,
    /// The certificate issued by the root CA whose DER is the first element.
    issued: Mutex<Option<(Vec<u8>, Arc<CertifiedKey>)>>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// A fresh key with a self-signed certificate for the given names, following `state`.
    pub fn generate(
        dns_names: Vec<String>,
        ips: Vec<IpAddr>,
        state: watch::Receiver<StateView>,
    ) -> Result<Self, CaError> {
        let key = TlsIdentityKey::generate()?;
        let cert = key.self_signed(&dns_names, &ips)?;
        let self_signed = Arc::new(certified_key(&key, vec![cert.der])?);
        Ok(Self {
            key,
            dns_names,
            ips,
            self_signed,
            state,
            issued: Mutex::new(None),
        })
    }

    pub fn spki_sha256(&self) -> [u8; 32] {
        self.key.spki_sha256()
    }

    /// The self-signed certificate of this process's key: what it presents as a TLS
    /// *client* to its peers (crate::peer), whatever its state.
    pub fn self_signed(&self) -> Arc<CertifiedKey> {
        self.self_signed.clone()
    }

    /// The certificate to present now: issued by the root CA while ready, else self-signed.
    pub fn current(&self) -> Arc<CertifiedKey> {
        let root = self.state.borrow().root_ca.clone();
        match root {
            Some(root) => self.issued_by(&root).unwrap_or_else(|err| {
                tracing::error!(error = %err, "could not issue the TLS certificate from the root CA; presenting the self-signed one");
                self.self_signed.clone()
            }),
            None => self.self_signed.clone(),
        }
    }

    fn issued_by(&self, root: &CertificateAuthority) -> Result<Arc<CertifiedKey>, CaError> {
        // A poisoned lock only means a panic while swapping the cache; the value is whole.
        let mut cache = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        let root_der = root.cert().der.as_ref();
        if let Some((der, certified)) = &*cache
            && der.as_slice() == root_der
        {
            return Ok(certified.clone());
        }
        let leaf = root.issue_leaf(
            self.key.key_pair(),
            COORDINATOR_COMMON_NAME,
            &self.dns_names,
            &self.ips,
            false,
        )?;
        let certified = Arc::new(certified_key(
            &self.key,
            vec![leaf.der, root.cert().der.clone()],
        )?);
        *cache = Some((root_der.to_vec(), certified.clone()));
        Ok(certified)
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
        Some(self.current())
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
