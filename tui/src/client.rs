//! The gRPC client of the Coordinator's user API, over TLS with Seedward's own trust rules.
//!
//! # Trust
//! A Coordinator's identity is not a host name but a key:
//! - [`Trust::FirstUse`]: before setup nothing is pinned. The connection is encrypted but
//!   any certificate is accepted; the client records the server's SPKI hash so that it can
//!   be compared with the `tls_spki_sha256` in the Coordinator's evidence (which a TEE
//!   backend would attest). The UI says "UNATTESTED" in this mode.
//! - [`Trust::PinnedRoot`]: after setup the server's certificate must be signed by the root
//!   CA key saved at setup (`coordinator-root-ca.pem`). The root CA key is derived from the
//!   seed, so it survives restarts and recoveries; the certificate itself may be re-issued.
//!
//! Host names are not checked in either mode; the pinned key is the identity.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use seedward_shared::proto::v1 as pb;
use sha2::{Digest as _, Sha256};
use tonic::transport::{Channel, Endpoint, Uri};

/// How the client decides whether the server is the right Coordinator.
#[derive(Clone)]
pub enum Trust {
    /// Accept any certificate and record its key (before setup).
    FirstUse,
    /// Require a certificate signed by this root CA certificate's key (DER).
    PinnedRoot(CertificateDer<'static>),
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trust::FirstUse => f.write_str("FirstUse"),
            Trust::PinnedRoot(der) => {
                write!(f, "PinnedRoot(sha256:{})", hex::encode(Sha256::digest(der)))
            }
        }
    }
}

impl Trust {
    /// Pins the root CA certificate in `pem` (its key is what counts).
    pub fn pinned_root_pem(pem: &str) -> Result<Self, ClientError> {
        let der = first_certificate_der(pem).ok_or(ClientError::BadPin)?;
        // Reject a pin that does not even parse as a certificate.
        x509_parser::parse_x509_certificate(&der).map_err(|_| ClientError::BadPin)?;
        Ok(Trust::PinnedRoot(CertificateDer::from(der)))
    }
}

/// Errors of the client transport. gRPC errors are `tonic::Status`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("invalid Coordinator address {0:?}: expected host:port, e.g. 127.0.0.1:1313")]
    BadAddress(String),
    #[error(
        "the pinned root CA certificate does not parse; re-save coordinator-root-ca.pem from setup"
    )]
    BadPin,
    #[error("cannot reach the Coordinator at {address}: {detail}")]
    Unreachable { address: String, detail: String },
}

/// A connected user-API client.
#[derive(Clone)]
pub struct CoordinatorClient {
    address: String,
    api: pb::user_api_client::UserApiClient<Channel>,
    observed: Arc<Mutex<Option<[u8; 32]>>>,
}

impl std::fmt::Debug for CoordinatorClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorClient")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// Largest response the client accepts (GetManifests of a long history).
pub const MAX_RESPONSE_BYTES: usize = 1 << 30;

impl CoordinatorClient {
    /// Connects to `address` (`host:port`) with TLS under `trust`.
    pub async fn connect(address: &str, trust: Trust) -> Result<Self, ClientError> {
        let uri: Uri = format!("https://{address}")
            .parse()
            .map_err(|_| ClientError::BadAddress(address.to_string()))?;
        let host = uri
            .host()
            .ok_or_else(|| ClientError::BadAddress(address.to_string()))?
            .to_string();
        let port = uri
            .port_u16()
            .ok_or_else(|| ClientError::BadAddress(address.to_string()))?;
        let observed = Arc::new(Mutex::new(None));
        let verifier = Arc::new(SeedwardVerifier {
            trust,
            observed: observed.clone(),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
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
        let server_name = ServerName::try_from(host.clone())
            .unwrap_or_else(|_| {
                ServerName::try_from("seedward-coordinator")
                    .unwrap_or(ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()))
            })
            .to_owned();
        let target = format!("{host}:{port}");
        // The connector below does TLS itself; tonic must see a plain `http` URI, or (with its
        // TLS feature on) it refuses an `https` one that has no tonic TLS config.
        let plain: Uri = format!("http://{target}")
            .parse()
            .map_err(|_| ClientError::BadAddress(address.to_string()))?;
        let channel = Endpoint::from(plain)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let connector = connector.clone();
                let server_name = server_name.clone();
                let target = target.clone();
                async move {
                    let tcp = tokio::net::TcpStream::connect(target.as_str()).await?;
                    let tls = connector.connect(server_name, tcp).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(tls))
                }
            }))
            .await
            .map_err(|e| ClientError::Unreachable {
                address: address.to_string(),
                detail: error_chain(&e),
            })?;
        let api = pb::user_api_client::UserApiClient::new(channel)
            .max_decoding_message_size(MAX_RESPONSE_BYTES)
            .max_encoding_message_size(64 << 20);
        Ok(Self {
            address: address.to_string(),
            api,
            observed,
        })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// SHA-256 of the SPKI of the certificate the server presented on the last handshake.
    pub fn observed_tls_spki_sha256(&self) -> Option<[u8; 32]> {
        *self.observed.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub async fn status(&self) -> Result<pb::GetStatusResponse, tonic::Status> {
        Ok(self
            .api
            .clone()
            .get_status(pb::GetStatusRequest {})
            .await?
            .into_inner())
    }

    pub async fn set_manifest(
        &self,
        req: pb::SetManifestRequest,
    ) -> Result<pb::SetManifestResponse, tonic::Status> {
        Ok(self.api.clone().set_manifest(req).await?.into_inner())
    }

    pub async fn manifests(&self) -> Result<pb::GetManifestsResponse, tonic::Status> {
        Ok(self
            .api
            .clone()
            .get_manifests(pb::GetManifestsRequest {})
            .await?
            .into_inner())
    }

    pub async fn recover(
        &self,
        req: pb::RecoverRequest,
    ) -> Result<pb::RecoverResponse, tonic::Status> {
        Ok(self.api.clone().recover(req).await?.into_inner())
    }
}

/// The machine-readable reason of a Coordinator error (`seedward-error` metadata).
pub fn error_reason(status: &tonic::Status) -> Option<&str> {
    status
        .metadata()
        .get("seedward-error")
        .and_then(|v| v.to_str().ok())
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

fn first_certificate_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let begin = "-----BEGIN CERTIFICATE-----";
    let end = "-----END CERTIFICATE-----";
    let start = pem.find(begin)? + begin.len();
    let stop = start + pem[start..].find(end)?;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

#[derive(Debug)]
struct SeedwardVerifier {
    trust: Trust,
    observed: Arc<Mutex<Option<[u8; 32]>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for SeedwardVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let (_, leaf) = x509_parser::parse_x509_certificate(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        let spki: [u8; 32] = Sha256::digest(leaf.public_key().raw).into();
        *self.observed.lock().unwrap_or_else(|e| e.into_inner()) = Some(spki);
        match &self.trust {
            Trust::FirstUse => Ok(ServerCertVerified::assertion()),
            Trust::PinnedRoot(root_der) => {
                let (_, root) = x509_parser::parse_x509_certificate(root_der).map_err(|_| {
                    rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
                })?;
                let signed_by_root = leaf.verify_signature(Some(root.public_key())).is_ok();
                let is_root_itself = leaf.public_key().raw == root.public_key().raw;
                if signed_by_root && !is_root_itself && leaf.validity().is_valid() {
                    Ok(ServerCertVerified::assertion())
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
