//! The client side of Seedward's TLS trust, shared by the console, the initializer and
//! any other client.
//!
//! A Coordinator's identity is a key, not a host name:
//! - [`Trust::FirstUse`]: nothing pinned. Any certificate is accepted and its leaf is
//!   recorded, so that the caller can check it afterwards (the initializer requires it to
//!   be signed by the root CA that the Coordinator then returns). In a TEE deployment the
//!   Coordinator's attestation would take this place.
//! - [`Trust::PinnedRoot`]: the server's certificate must be signed by the pinned root CA
//!   certificate's key. The root CA key is derived from the seed, so it survives restarts
//!   and recoveries; the certificate bytes may change.
//!
//! Host names are not checked in either mode; the pinned key is the identity.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tonic::transport::{Channel, Endpoint, Uri};

/// How the client decides whether the server is the right Coordinator.
#[derive(Clone)]
pub enum Trust {
    /// Accept any certificate and record it.
    FirstUse,
    /// Require a certificate signed by this root CA certificate's key (DER).
    PinnedRoot(CertificateDer<'static>),
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trust::FirstUse => f.write_str("FirstUse"),
            Trust::PinnedRoot(_) => f.write_str("PinnedRoot"),
        }
    }
}

/// Errors of the client transport. gRPC refusals are `tonic::Status` (see [`crate::Reason`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error(
        "invalid Coordinator address {0:?}: expected host:port, e.g. 127.0.0.1:1313 or seedward-coordinator:1313"
    )]
    BadAddress(String),
    #[error(
        "the pinned root CA is not a PEM certificate; use (or restore from a backup) the coordinator-root-ca.pem saved at setup"
    )]
    BadPin,
    #[error("cannot reach the Coordinator at {address}: {detail}")]
    Unreachable { address: String, detail: String },
}

impl Trust {
    /// Pins the first certificate in `pem` (its key is what counts).
    pub fn pinned_root_pem(pem: &str) -> Result<Self, ClientError> {
        let der = first_certificate_der(pem.as_bytes()).ok_or(ClientError::BadPin)?;
        Ok(Trust::PinnedRoot(CertificateDer::from(der)))
    }
}

/// The DER of the first certificate in a PEM text, if it parses as X.509.
pub fn first_certificate_der(pem: &[u8]) -> Option<Vec<u8>> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    if pem.label != "CERTIFICATE" {
        return None;
    }
    x509_parser::parse_x509_certificate(&pem.contents).ok()?;
    Some(pem.contents)
}

/// Whether the certificate `leaf_der` is signed by the key of the certificate `root_der`
/// (and is not the root itself).
pub fn signed_by(leaf_der: &[u8], root_der: &[u8]) -> bool {
    let (Ok((_, leaf)), Ok((_, root))) = (
        x509_parser::parse_x509_certificate(leaf_der),
        x509_parser::parse_x509_certificate(root_der),
    ) else {
        return false;
    };
    leaf.public_key().raw != root.public_key().raw
        && leaf.verify_signature(Some(root.public_key())).is_ok()
}

/// A TLS channel to a Coordinator and the leaf certificate it presented last.
#[derive(Clone)]
pub struct Connection {
    pub channel: Channel,
    observed: Arc<Mutex<Option<Vec<u8>>>>,
    locked: Arc<Mutex<Option<[u8; 32]>>>,
}

impl Connection {
    /// From now on, every handshake on this channel (a reconnect included) must present
    /// the TLS key the last handshake presented, whatever the trust mode said before. Call
    /// it once evidence has vouched for that key: a request that follows (a seed sent to a
    /// challenge) can then only reach the endpoint the evidence named. Returns the SHA-256
    /// of the key it locked to, or `None` if no handshake happened yet.
    pub fn lock_to_observed_key(&self) -> Option<[u8; 32]> {
        let key = self.observed_leaf().as_deref().and_then(leaf_spki_sha256)?;
        *self.locked.lock().unwrap_or_else(|e| e.into_inner()) = Some(key);
        Some(key)
    }

    /// DER of the leaf certificate the server presented on the last handshake.
    pub fn observed_leaf(&self) -> Option<Vec<u8>> {
        self.observed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Connects to `address` (`host:port`) with TLS 1.3 under `trust`.
pub async fn connect(address: &str, trust: Trust) -> Result<Connection, ClientError> {
    let bad = || ClientError::BadAddress(address.to_string());
    let uri: Uri = format!("https://{address}").parse().map_err(|_| bad())?;
    let host = uri.host().ok_or_else(bad)?.to_string();
    let port = uri.port_u16().ok_or_else(bad)?;
    let observed = Arc::new(Mutex::new(None));
    let locked = Arc::new(Mutex::new(None));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(KeyPinningVerifier {
        trust,
        observed: observed.clone(),
        locked: locked.clone(),
        provider: provider.clone(),
    });
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ClientError::Unreachable {
            address: address.to_string(),
            detail: e.to_string(),
        })?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    // Host names are not checked; any valid name will do for SNI.
    let server_name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
        .unwrap_or(ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()))
        .to_owned();
    let target = format!("{host}:{port}");
    // The connector does TLS itself; tonic must see a plain `http` URI.
    let plain: Uri = format!("http://{target}").parse().map_err(|_| bad())?;
    let channel = Endpoint::from(plain)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let connector = connector.clone();
            let server_name = server_name.clone();
            let target = target.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(target.as_str()).await?;
                // Small gRPC frames must not wait for Nagle's algorithm (40 ms stalls
                // against delayed ACKs; docs/PERFORMANCE.md).
                tcp.set_nodelay(true)?;
                let tls = connector.connect(server_name, tcp).await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await
        .map_err(|e| ClientError::Unreachable {
            address: address.to_string(),
            detail: error_chain(&e),
        })?;
    Ok(Connection {
        channel,
        observed,
        locked,
    })
}

/// SHA-256 of a certificate's SubjectPublicKeyInfo.
pub fn leaf_spki_sha256(der: &[u8]) -> Option<[u8; 32]> {
    use sha2::Digest as _;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(sha2::Sha256::digest(cert.public_key().raw).into())
}

/// Walks an error's sources into one line.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[derive(Debug)]
struct KeyPinningVerifier {
    trust: Trust,
    observed: Arc<Mutex<Option<Vec<u8>>>>,
    locked: Arc<Mutex<Option<[u8; 32]>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for KeyPinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let bad = || rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding);
        let (_, leaf) = x509_parser::parse_x509_certificate(end_entity).map_err(|_| bad())?;
        let locked = *self.locked.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(key) = locked
            && leaf_spki_sha256(end_entity) != Some(key)
        {
            // The endpoint changed since evidence vouched for it: a relay or an impostor.
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ));
        }
        // Recorded only for a handshake that is accepted, so it always describes the
        // connection the caller's requests travel on.
        let accept = || {
            *self.observed.lock().unwrap_or_else(|e| e.into_inner()) = Some(end_entity.to_vec());
            Ok(ServerCertVerified::assertion())
        };
        match &self.trust {
            Trust::FirstUse => accept(),
            Trust::PinnedRoot(root_der) => {
                if signed_by(end_entity, root_der) && leaf.validity().is_valid() {
                    accept()
                } else {
                    Err(rustls::Error::InvalidCertificate(
                        rustls::CertificateError::UnknownIssuer,
                    ))
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
