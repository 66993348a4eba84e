//! Mutual TLS between replicas (docs/HA.md, "Peer recovery", "What TLS proves").
//!
//! Each process has one TLS key ([`crate::tls::TlsIdentity`]). As a peer *server* it
//! presents the same certificate as its user API: issued by the root CA once it is ready,
//! self-signed before. As a *client* it presents the self-signed certificate of that key.
//! Neither side can check the other's certificate against a CA during the handshake: a
//! replica that needs recovery holds no root CA key, and the stored history holds no public
//! key at all (only a signature by the transaction signing key, which is derived from the
//! seed). So the handshake accepts any certificate whose key signs the handshake, and the
//! checks come after it:
//! - the server requires the asker's evidence to bind the SHA-256 of the asker's client
//!   certificate key (the key this connection proved possession of) and its one-time
//!   X25519 key: a relay cannot splice its own TLS session with someone else's evidence;
//! - the asker, once it opened the box, requires the server's certificate to be issued by
//!   the root CA derived from the seed it received, and the stored chain to verify with the
//!   signing key derived from it: an impostor holding a copied history but not the seed is
//!   refused.

use std::sync::{Arc, Mutex};

use rustls::DigitallySignedStruct;
use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DistinguishedName, SignatureScheme};

use crate::tls::TlsIdentity;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The peer server's TLS config: this process's identity, a client certificate required.
pub fn server_config(identity: &Arc<TlsIdentity>) -> Result<rustls::ServerConfig, rustls::Error> {
    let provider = provider();
    let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(AnyKeyClientVerifier { provider }))
        .with_cert_resolver(identity.clone());
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The leaf certificate a peer server presented, recorded by the client's verifier.
#[derive(Debug, Default, Clone)]
pub struct ObservedServer(Arc<Mutex<Option<Vec<u8>>>>);

impl ObservedServer {
    pub fn leaf(&self) -> Option<Vec<u8>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The asking side's TLS config: the self-signed certificate of `identity`'s key as the
/// client certificate; any server certificate is accepted and recorded in `observed`.
pub fn client_config(
    identity: &TlsIdentity,
    observed: ObservedServer,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = provider();
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RecordingServerVerifier { provider, observed }))
        .with_client_cert_resolver(Arc::new(ClientCert(identity.self_signed())));
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// SHA-256 of a certificate's SubjectPublicKeyInfo.
pub fn spki_sha256(der: &[u8]) -> Option<[u8; 32]> {
    use sha2::Digest as _;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(sha2::Sha256::digest(cert.public_key().raw).into())
}

/// Whether the certificate `leaf_der` is signed by the key of the certificate `root_der`.
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

#[derive(Debug)]
struct ClientCert(Arc<CertifiedKey>);

impl ResolvesClientCert for ClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Accepts any parseable client certificate whose key signs the handshake.
#[derive(Debug)]
struct AnyKeyClientVerifier {
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyKeyClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        x509_parser::parse_x509_certificate(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        Ok(ClientCertVerified::assertion())
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

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Accepts any parseable server certificate whose key signs the handshake, and records it.
#[derive(Debug)]
struct RecordingServerVerifier {
    provider: Arc<CryptoProvider>,
    observed: ObservedServer,
}

impl ServerCertVerifier for RecordingServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        x509_parser::parse_x509_certificate(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        *self.observed.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(end_entity.to_vec());
        Ok(ServerCertVerified::assertion())
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

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
