//! The gRPC client of the Coordinator's user API, over TLS with Seedward's own trust rules.
//!
//! # Trust
//! A Coordinator's identity is not a host name but a key
//! ([`seedward_coordinator::tls_client`] holds the verifier, shared with the initializer):
//! - [`Trust::FirstUse`]: before setup nothing is pinned. The connection is encrypted but
//!   any certificate is accepted; the client records the server's SPKI hash so that it can
//!   be compared with the `tls_spki_sha256` in the Coordinator's evidence (which a TEE
//!   backend would attest). The UI says "UNATTESTED" in this mode.
//! - [`Trust::PinnedRoot`]: after setup the server's certificate must be signed by the root
//!   CA key saved at setup (`coordinator-root-ca.pem`). The root CA key is derived from the
//!   seed, so it survives restarts and recoveries; the certificate itself may be re-issued.
//!
//! Host names are not checked in either mode; the pinned key is the identity.

use seedward_coordinator::tls_client::{self, TlsClientError};
use seedward_shared::proto::v1 as pb;
use sha2::{Digest as _, Sha256};
use tonic::transport::Channel;

pub use seedward_coordinator::tls_client::{Trust, error_chain};

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

impl From<TlsClientError> for ClientError {
    fn from(err: TlsClientError) -> Self {
        match err {
            TlsClientError::BadAddress(a) => ClientError::BadAddress(a),
            TlsClientError::BadPin => ClientError::BadPin,
            TlsClientError::Unreachable { address, detail } => {
                ClientError::Unreachable { address, detail }
            }
            other => ClientError::Unreachable {
                address: String::new(),
                detail: other.to_string(),
            },
        }
    }
}

/// A connected user-API client.
#[derive(Clone)]
pub struct CoordinatorClient {
    address: String,
    api: pb::user_api_client::UserApiClient<Channel>,
    connection: tls_client::Connection,
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
        tracing::debug!(
            address,
            pinned = !matches!(trust, Trust::FirstUse),
            "connecting"
        );
        let connection = tls_client::connect(address, trust).await?;
        tracing::debug!(address, "TLS session established");
        let api = pb::user_api_client::UserApiClient::new(connection.channel.clone())
            .max_decoding_message_size(MAX_RESPONSE_BYTES)
            .max_encoding_message_size(64 << 20);
        Ok(Self {
            address: address.to_string(),
            api,
            connection,
        })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// SHA-256 of the SPKI of the certificate the server presented on the last accepted
    /// handshake.
    pub fn observed_tls_spki_sha256(&self) -> Option<[u8; 32]> {
        let leaf = self.connection.observed_leaf()?;
        let (_, cert) = x509_parser::parse_x509_certificate(&leaf).ok()?;
        Some(Sha256::digest(cert.public_key().raw).into())
    }

    pub async fn status(&self) -> Result<pb::GetStatusResponse, tonic::Status> {
        let response = self.api.clone().get_status(pb::GetStatusRequest {}).await;
        traced("GetStatus", response)
    }

    pub async fn set_manifest(
        &self,
        req: pb::SetManifestRequest,
    ) -> Result<pb::SetManifestResponse, tonic::Status> {
        tracing::debug!(
            manifest_bytes = req.manifest.len(),
            policies = req.policies.len(),
            "SetManifest"
        );
        traced("SetManifest", self.api.clone().set_manifest(req).await)
    }

    pub async fn manifests(&self) -> Result<pb::GetManifestsResponse, tonic::Status> {
        let response = self
            .api
            .clone()
            .get_manifests(pb::GetManifestsRequest {})
            .await;
        traced("GetManifests", response)
    }

    pub async fn recover(
        &self,
        req: pb::RecoverRequest,
    ) -> Result<pb::RecoverResponse, tonic::Status> {
        traced("Recover", self.api.clone().recover(req).await)
    }
}

/// Logs an RPC's outcome (code and reason, never a payload) and unwraps the response.
fn traced<T>(
    rpc: &'static str,
    response: Result<tonic::Response<T>, tonic::Status>,
) -> Result<T, tonic::Status> {
    match response {
        Ok(response) => {
            tracing::debug!(rpc, "ok");
            Ok(response.into_inner())
        }
        Err(status) => {
            tracing::debug!(
                rpc,
                code = ?status.code(),
                reason = error_reason(&status).unwrap_or(""),
                message = status.message(),
                "refused or failed"
            );
            Err(status)
        }
    }
}

/// The machine-readable reason of a Coordinator error (`seedward-error` metadata).
pub fn error_reason(status: &tonic::Status) -> Option<&str> {
    status
        .metadata()
        .get("seedward-error")
        .and_then(|v| v.to_str().ok())
}
