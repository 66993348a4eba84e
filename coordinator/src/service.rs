//! The gRPC user API: a thin layer that converts requests into the core's domain values
//! ([`crate::convert`]), hands them to the core on a blocking thread and converts the
//! answers back. It also binds the evidence to this process's TLS key and the offered
//! challenge key, outside the core's lock. Errors become `Status` through
//! `From<CoreError>`, the one mapping in [`crate::error`].

use std::net::IpAddr;
use std::sync::Arc;

use seedward_proto::v1 as pb;
use seedward_shared::history::HistoryStore;
use tonic::{Request, Response, Status};

use crate::convert;
use crate::core::Coordinator;
use crate::error::CoreError;
use crate::evidence::EvidenceProvider;
use crate::refusals::RefusalLog;

/// The `seedward.v1.UserApi` service.
///
/// Read-only RPCs are bounded by `read_timeout`. `SetManifest` and `Recover` are not: the
/// work runs on a blocking thread and completes even if the response is cancelled, so a
/// timeout would only hide from the caller that its change was made (and, on a first set,
/// lose the seed shares).
pub struct UserService<S: HistoryStore + 'static> {
    core: Arc<Coordinator<S>>,
    tls_spki_sha256: [u8; 32],
    evidence: Arc<dyn EvidenceProvider>,
    read_timeout: Option<std::time::Duration>,
    refusals: Arc<RefusalLog>,
}

impl<S: HistoryStore + 'static> UserService<S> {
    /// `tls_spki_sha256` is the SHA-256 of this process's TLS key (SPKI DER), which every
    /// evidence binds.
    pub fn new(
        core: Arc<Coordinator<S>>,
        tls_spki_sha256: [u8; 32],
        evidence: Arc<dyn EvidenceProvider>,
    ) -> Self {
        Self {
            core,
            tls_spki_sha256,
            evidence,
            read_timeout: None,
            refusals: RefusalLog::new(),
        }
    }

    /// Bounds `GetStatus` and `GetManifests`.
    pub fn with_read_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.read_timeout = Some(timeout);
        self
    }

    async fn read<T, F>(
        &self,
        op: &'static str,
        peer: Option<IpAddr>,
        f: F,
    ) -> Result<Response<T>, Status>
    where
        T: Send + 'static,
        F: FnOnce(&Coordinator<S>) -> Result<T, CoreError> + Send + 'static,
    {
        match self.read_timeout {
            Some(timeout) => tokio::time::timeout(timeout, self.run(op, peer, f))
                .await
                .unwrap_or_else(|_| {
                    Err(Status::deadline_exceeded(format!(
                        "{op} took longer than {} s; the Coordinator may be overloaded or its storage slow; retry",
                        timeout.as_secs()
                    )))
                }),
            None => self.run(op, peer, f).await,
        }
    }

    async fn run<T, F>(
        &self,
        op: &'static str,
        peer: Option<IpAddr>,
        f: F,
    ) -> Result<Response<T>, Status>
    where
        T: Send + 'static,
        F: FnOnce(&Coordinator<S>) -> Result<T, CoreError> + Send + 'static,
    {
        let core = self.core.clone();
        let result = tokio::task::spawn_blocking(move || f(&core))
            .await
            .map_err(|e| {
                Status::from(CoreError::Internal(format!("{op} did not complete: {e}")))
            })?;
        match result {
            Ok(v) => Ok(Response::new(v)),
            Err(err) => {
                // Rate-limited and summarised per peer (crate::refusals).
                self.refusals.refused(op, peer, err.reason().as_str());
                Err(err.into())
            }
        }
    }
}

#[tonic::async_trait]
impl<S: HistoryStore + 'static> pb::user_api_server::UserApi for UserService<S> {
    async fn get_status(
        &self,
        request: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::GetStatusResponse>, Status> {
        let tls_spki = self.tls_spki_sha256;
        let evidence = self.evidence.clone();
        let peer = peer_of(&request);
        self.read("GetStatus", peer, move |core| {
            // Each caller gets its own recovery challenge (core::challenge).
            let report = core.status_for(peer)?;
            // Produced after the core's lock is released: a TEE report may take a while.
            let challenge_key = report.challenge.as_ref().map(|c| c.public_key);
            let evidence = evidence.evidence(&tls_spki, challenge_key.as_ref())?;
            Ok(convert::status_response(report, evidence))
        })
        .await
    }

    async fn set_manifest(
        &self,
        request: Request<pb::SetManifestRequest>,
    ) -> Result<Response<pb::SetManifestResponse>, Status> {
        let peer = peer_of(&request);
        let req = request.into_inner();
        self.run("SetManifest", peer, move |core| {
            core.set_manifest(convert::set_manifest_input(req)?)
                .map(convert::set_manifest_response)
        })
        .await
    }

    async fn get_manifests(
        &self,
        request: Request<pb::GetManifestsRequest>,
    ) -> Result<Response<pb::GetManifestsResponse>, Status> {
        self.read("GetManifests", peer_of(&request), |core| {
            core.manifests().map(convert::manifests_response)
        })
        .await
    }

    async fn recover(
        &self,
        request: Request<pb::RecoverRequest>,
    ) -> Result<Response<pb::RecoverResponse>, Status> {
        let peer = peer_of(&request);
        let req = request.into_inner();
        self.run("Recover", peer, move |core| {
            core.recover(convert::recover_input(req)?)
                .map(convert::recover_response)
        })
        .await
    }
}

/// The TLS peer's IP address, when the transport knows it.
fn peer_of<T>(request: &Request<T>) -> Option<IpAddr> {
    request.remote_addr().map(|addr| addr.ip())
}
