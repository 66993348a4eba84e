//! The gRPC client of the Coordinator's user API, over TLS with Seedward's own trust rules.
//!
//! # Trust
//! A Coordinator's identity is not a host name but a key ([`crate::tls`] holds the
//! verifier):
//! - [`Trust::FirstUse`]: before setup nothing is pinned. The connection is encrypted but
//!   any certificate is accepted; the client records the server's SPKI hash so that it can
//!   be compared with the `tls_spki_sha256` in the Coordinator's evidence, which a TEE
//!   attests.
//! - [`Trust::PinnedRoot`]: after setup the server's certificate must be signed by the root
//!   CA key saved at setup (`coordinator-root-ca.pem`). The root CA key is derived from the
//!   seed, so it survives restarts and recoveries; the certificate itself may be re-issued.
//!
//! Host names are not checked in either mode; the pinned key is the identity.

use seedward_proto::Reason;
use seedward_proto::v1 as pb;
use tonic::transport::Channel;

use crate::tls::{self, ClientError, Trust};

/// A connected user-API client.
#[derive(Clone)]
pub struct CoordinatorClient {
    address: String,
    api: pb::user_api_client::UserApiClient<Channel>,
    connection: tls::Connection,
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
        let connection = tls::connect(address, trust).await?;
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
        tls::leaf_spki_sha256(&self.connection.observed_leaf()?)
    }

    /// See [`tls::Connection::lock_to_observed_key`].
    pub fn lock_to_observed_key(&self) -> Option<[u8; 32]> {
        self.connection.lock_to_observed_key()
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

    /// The whole history, oldest first: read with `StreamManifests` (each entry checked
    /// against the chain as it arrives, memory bounded by what is kept), or with
    /// `GetManifests` from a Coordinator that does not offer the stream.
    pub async fn manifests(&self) -> Result<pb::GetManifestsResponse, tonic::Status> {
        match self.manifests_streamed(0).await {
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                self.manifests_unary().await
            }
            other => other,
        }
    }

    /// `GetManifests`: the history in one message.
    pub async fn manifests_unary(&self) -> Result<pb::GetManifestsResponse, tonic::Status> {
        let response = self
            .api
            .clone()
            .get_manifests(pb::GetManifestsRequest {})
            .await;
        traced("GetManifests", response)
    }

    /// `StreamManifests` with pages of about `page_bytes` (0: the server's default), read to
    /// the end. A stream that does not follow the chain from the latest transition it
    /// announced is `DATA_LOSS`, naming the entry.
    pub async fn manifests_streamed(
        &self,
        page_bytes: u32,
    ) -> Result<pb::GetManifestsResponse, tonic::Status> {
        let mut stream = traced(
            "StreamManifests",
            self.api
                .clone()
                .stream_manifests(pb::StreamManifestsRequest { page_bytes })
                .await,
        )?;
        let broken = |e: seedward_shared::history::StreamError| {
            tonic::Status::data_loss(format!(
                "the Coordinator's history stream is inconsistent: {e}"
            ))
        };
        let Some(first) = stream.message().await? else {
            return Err(tonic::Status::data_loss(
                "the Coordinator's history stream ended before its first page",
            ));
        };
        let latest = seedward_shared::history::Digest::from_slice(&first.latest_transition_hash)
            .map_err(|_| {
                tonic::Status::data_loss(
                    "the Coordinator's history stream announced a malformed latest transition hash",
                )
            })?;
        let mut reader = seedward_shared::history::ChainReader::new(latest);
        let mut response = pb::GetManifestsResponse {
            manifests: Vec::new(),
            policies: Vec::new(),
            root_ca_cert: first.root_ca_cert,
            mesh_ca_cert: first.mesh_ca_cert,
            latest_transition_hash: first.latest_transition_hash,
            latest_signature: first.latest_signature,
            verified: first.verified,
        };
        let mut page = Some((first.entries, first.policies));
        while let Some((entries, policies)) = page.take() {
            for entry in entries {
                reader
                    .push(
                        &entry.transition_hash,
                        &entry.previous_transition_hash,
                        &entry.manifest_hash,
                        entry.manifest,
                    )
                    .map_err(broken)?;
            }
            response.policies.extend(policies);
            page = stream.message().await?.map(|p| (p.entries, p.policies));
        }
        tracing::debug!(entries = reader.len(), "StreamManifests read");
        response.manifests = reader.finish().map_err(broken)?;
        Ok(response)
    }

    pub async fn recover(
        &self,
        req: pb::RecoverRequest,
    ) -> Result<pb::RecoverResponse, tonic::Status> {
        traced("Recover", self.api.clone().recover(req).await)
    }

    /// Joins the open recovery session, or opens one.
    pub async fn open_recovery_session(&self) -> Result<pb::RecoverySessionStatus, tonic::Status> {
        traced(
            "OpenRecoverySession",
            self.api
                .clone()
                .open_recovery_session(pb::OpenRecoverySessionRequest {})
                .await,
        )
    }

    /// The open recovery session, if any, and how the last one ended.
    pub async fn recovery_session(&self) -> Result<pb::RecoverySessionStatus, tonic::Status> {
        traced(
            "GetRecoverySession",
            self.api
                .clone()
                .get_recovery_session(pb::GetRecoverySessionRequest {})
                .await,
        )
    }

    pub async fn submit_recovery_share(
        &self,
        req: pb::RecoverySessionEnvelope,
    ) -> Result<pb::RecoverySessionStatus, tonic::Status> {
        traced(
            "SubmitRecoveryShare",
            self.api.clone().submit_recovery_share(req).await,
        )
    }

    pub async fn cancel_recovery_session(
        &self,
        req: pb::RecoverySessionEnvelope,
    ) -> Result<pb::RecoverySessionStatus, tonic::Status> {
        traced(
            "CancelRecoverySession",
            self.api.clone().cancel_recovery_session(req).await,
        )
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
                reason = Reason::of(&status).map_or("", Reason::as_str),
                message = status.message(),
                "refused or failed"
            );
            Err(status)
        }
    }
}
