//! The gRPC user API: a thin layer that converts requests into the core's domain values
//! ([`crate::convert`]), hands them to the core on a blocking thread and converts the
//! answers back. It also binds the evidence to this process's TLS key and the offered
//! challenge key, outside the core's lock. Errors become `Status` through
//! `From<CoreError>`, the one mapping in [`crate::error`].

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use seedward_proto::v1 as pb;
use seedward_shared::history::HistoryStore;
use tokio::sync::Semaphore;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::connections::peer_of;
use crate::convert;
use crate::core::Coordinator;
use crate::error::CoreError;
use crate::evidence::EvidenceProvider;
use crate::recoveries::Recoveries;
use crate::refusals::RefusalLog;
use crate::replicas::ReplicaSet;

/// The `seedward.v1.UserApi` service.
///
/// Every RPC is bounded by the request timeout and then answered `DEADLINE_EXCEEDED` (no
/// `seedward-error` reason). For `SetManifest` and `Recover` that answer says that the change
/// may still be made: the work runs on a blocking thread and completes even after the
/// answer, so the caller must look (status, history) before retrying. The client's own
/// deadline is as long (30 s), so the server's bound costs a first set nothing the client's
/// would not; what it buys is that a stuck write no longer holds the caller's stream open.
pub struct UserService<S: HistoryStore + 'static> {
    core: Arc<Coordinator<S>>,
    tls_spki_sha256: [u8; 32],
    evidence: Arc<dyn EvidenceProvider>,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// The replica set (etcd only), shown in `GetStatus`.
    replicas: Option<Arc<ReplicaSet>>,
    refusals: Arc<RefusalLog>,
    /// Whole-history reads in progress: `GetManifests` holds a whole history in memory
    /// (up to the core's limit), `StreamManifests` a few pages; both are bounded in number.
    whole_reads: Arc<Semaphore>,
    streams: Arc<Semaphore>,
    /// Who recovered this process (owners are recorded here, peers by crate::peer).
    recoveries: Arc<Recoveries>,
}

/// `GetManifests` calls served at once; more wait (within the read timeout).
const CONCURRENT_WHOLE_READS: usize = 2;
/// `StreamManifests` calls served at once; more wait (within the read timeout).
const CONCURRENT_STREAMS: usize = 8;
/// A stream's page size when the client asks for none, and the most it may ask for.
const DEFAULT_PAGE_BYTES: usize = 256 << 10;
const MAX_PAGE_BYTES: usize = 4 << 20;

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
            write_timeout: None,
            replicas: None,
            refusals: RefusalLog::new(),
            whole_reads: Arc::new(Semaphore::new(CONCURRENT_WHOLE_READS)),
            streams: Arc::new(Semaphore::new(CONCURRENT_STREAMS)),
            recoveries: Arc::default(),
        }
    }

    /// Records owner recoveries in, and shows the last recovery from, `recoveries`.
    pub fn with_recoveries(mut self, recoveries: Arc<Recoveries>) -> Self {
        self.recoveries = recoveries;
        self
    }

    /// Shows the replica set in `GetStatus`.
    pub fn with_replicas(mut self, replicas: Arc<ReplicaSet>) -> Self {
        self.replicas = Some(replicas);
        self
    }

    /// Bounds `GetStatus` and `GetManifests`.
    pub fn with_read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = Some(timeout);
        self
    }

    /// Bounds `SetManifest` and `Recover` (see the type's docs for what the answer means).
    pub fn with_write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = Some(timeout);
        self
    }

    /// Waits for one of `pool`'s permits, within the read timeout.
    async fn admit(
        &self,
        op: &'static str,
        pool: &Arc<Semaphore>,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, Status> {
        let acquire = pool.clone().acquire_owned();
        let permit = match self.read_timeout {
            Some(timeout) => tokio::time::timeout(timeout, acquire).await.map_err(|_| {
                Status::resource_exhausted(format!(
                    "too many {op} calls in progress on this Coordinator; retry"
                ))
            })?,
            None => acquire.await,
        };
        permit.map_err(|_| Status::unavailable("the Coordinator is shutting down"))
    }

    async fn read<T, F>(
        &self,
        op: &'static str,
        peer: Option<SocketAddr>,
        f: F,
    ) -> Result<Response<T>, Status>
    where
        T: Send + 'static,
        F: FnOnce(&Coordinator<S>) -> Result<T, CoreError> + Send + 'static,
    {
        self.bounded(op, peer, self.read_timeout, false, f).await
    }

    async fn write<T, F>(
        &self,
        op: &'static str,
        peer: Option<SocketAddr>,
        f: F,
    ) -> Result<Response<T>, Status>
    where
        T: Send + 'static,
        F: FnOnce(&Coordinator<S>) -> Result<T, CoreError> + Send + 'static,
    {
        self.bounded(op, peer, self.write_timeout, true, f).await
    }

    /// [`Self::run`] within `timeout`. A write that times out may still complete (its work
    /// runs on a blocking thread): the answer says so.
    async fn bounded<T, F>(
        &self,
        op: &'static str,
        peer: Option<SocketAddr>,
        timeout: Option<Duration>,
        write: bool,
        f: F,
    ) -> Result<Response<T>, Status>
    where
        T: Send + 'static,
        F: FnOnce(&Coordinator<S>) -> Result<T, CoreError> + Send + 'static,
    {
        let Some(timeout) = timeout else {
            return self.run(op, peer, f).await;
        };
        tokio::time::timeout(timeout, self.run(op, peer, f))
            .await
            .unwrap_or_else(|_| {
                let secs = timeout.as_secs();
                if write {
                    tracing::warn!(rpc = op, peer = %Peer(peer), timeout_secs = secs, "request timed out; it may still complete");
                    Err(Status::deadline_exceeded(format!(
                        "{op} did not finish within {secs} s and may still complete; check the Coordinator's status and history before retrying"
                    )))
                } else {
                    tracing::warn!(rpc = op, peer = %Peer(peer), timeout_secs = secs, "request timed out");
                    Err(Status::deadline_exceeded(format!(
                        "{op} took longer than {secs} s; the Coordinator may be overloaded or its storage slow; retry"
                    )))
                }
            })
    }

    async fn run<T, F>(
        &self,
        op: &'static str,
        peer: Option<SocketAddr>,
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
                self.refusals
                    .refused(op, peer.map(|a| a.ip()), err.reason().as_str());
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
        let board = self.replicas.as_ref().map(|r| r.board());
        let recoveries = self.recoveries.clone();
        let peer = peer_of(&request);
        self.read("GetStatus", peer, move |core| {
            // Each caller gets its own recovery challenge (core::challenge).
            let report = core.status_for(peer.map(|a| a.ip()))?;
            let ready = report.state == crate::error::StateName::Ready;
            // Produced after the core's lock is released: a TEE report may take a while.
            let challenge_key = report.challenge.as_ref().map(|c| c.public_key);
            let evidence = evidence.evidence(&tls_spki, challenge_key.as_ref())?;
            let mut response = convert::status_response(report, evidence);
            response.replica_set = board.map(convert::replica_set);
            // Only while ready: a process that lost its keys again was not recovered.
            // Read after the state: a peer recovery records itself before the state changes.
            if ready {
                response.last_recovery = recoveries.last().map(convert::recovery_note);
            }
            Ok(response)
        })
        .await
    }

    async fn set_manifest(
        &self,
        request: Request<pb::SetManifestRequest>,
    ) -> Result<Response<pb::SetManifestResponse>, Status> {
        let peer = peer_of(&request);
        let req = request.into_inner();
        self.write("SetManifest", peer, move |core| {
            core.set_manifest(convert::set_manifest_input(req)?)
                .map(convert::set_manifest_response)
        })
        .await
    }

    async fn get_manifests(
        &self,
        request: Request<pb::GetManifestsRequest>,
    ) -> Result<Response<pb::GetManifestsResponse>, Status> {
        let permit = self.admit("GetManifests", &self.whole_reads).await?;
        self.read("GetManifests", peer_of(&request), move |core| {
            let _permit = permit;
            core.manifests().map(convert::manifests_response)
        })
        .await
    }

    type StreamManifestsStream = ReceiverStream<Result<pb::ManifestsPage, Status>>;

    async fn stream_manifests(
        &self,
        request: Request<pb::StreamManifestsRequest>,
    ) -> Result<Response<Self::StreamManifestsStream>, Status> {
        let peer = peer_of(&request);
        let page_bytes = match request.get_ref().page_bytes {
            0 => DEFAULT_PAGE_BYTES,
            n => (n as usize).min(MAX_PAGE_BYTES),
        };
        let permit = self.admit("StreamManifests", &self.streams).await?;
        // One page in the channel, one being built: the stream's memory is two pages.
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let core = self.core.clone();
        let refusals = self.refusals.clone();
        let handle = tokio::runtime::Handle::current();
        // A receiver that stops reading for this long loses the stream (and its permit).
        let patience = self.read_timeout.unwrap_or(Duration::from_secs(30));
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let send = |item: Result<pb::ManifestsPage, Status>| {
                handle
                    .block_on(tokio::time::timeout(patience, tx.send(item)))
                    .is_ok_and(|sent| sent.is_ok())
            };
            let result =
                core.stream_manifests(page_bytes, |page| send(Ok(convert::manifests_page(page))));
            if let Err(err) = result {
                refusals.refused(
                    "StreamManifests",
                    peer.map(|a| a.ip()),
                    err.reason().as_str(),
                );
                send(Err(err.into()));
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn recover(
        &self,
        request: Request<pb::RecoverRequest>,
    ) -> Result<Response<pb::RecoverResponse>, Status> {
        let peer = peer_of(&request);
        let req = request.into_inner();
        let recoveries = self.recoveries.clone();
        self.write("Recover", peer, move |core| {
            let input = convert::recover_input(req)?;
            let fingerprint = input.owner.fingerprint().to_string();
            let outcome = core.recover(input)?;
            recoveries.by_owner(fingerprint);
            Ok(convert::recover_response(outcome))
        })
        .await
    }

    async fn open_recovery_session(
        &self,
        request: Request<pb::OpenRecoverySessionRequest>,
    ) -> Result<Response<pb::RecoverySessionStatus>, Status> {
        let peer = peer_of(&request);
        let session = self.session_status(|core| core.open_recovery_session());
        self.write("OpenRecoverySession", peer, session).await
    }

    async fn get_recovery_session(
        &self,
        request: Request<pb::GetRecoverySessionRequest>,
    ) -> Result<Response<pb::RecoverySessionStatus>, Status> {
        let peer = peer_of(&request);
        let session = self.session_status(|core| core.recovery_session());
        self.read("GetRecoverySession", peer, session).await
    }

    async fn submit_recovery_share(
        &self,
        request: Request<pb::RecoverySessionEnvelope>,
    ) -> Result<Response<pb::RecoverySessionStatus>, Status> {
        let peer = peer_of(&request);
        let req = request.into_inner();
        let session = self
            .session_status(move |core| core.submit_recovery_share(convert::session_input(req)?));
        self.write("SubmitRecoveryShare", peer, session).await
    }

    async fn cancel_recovery_session(
        &self,
        request: Request<pb::RecoverySessionEnvelope>,
    ) -> Result<Response<pb::RecoverySessionStatus>, Status> {
        let peer = peer_of(&request);
        let req = request.into_inner();
        let session = self
            .session_status(move |core| core.cancel_recovery_session(convert::session_input(req)?));
        self.write("CancelRecoverySession", peer, session).await
    }
}

impl<S: HistoryStore + 'static> UserService<S> {
    /// Runs a session call and converts its report, with evidence binding this connection's
    /// TLS key and the open session's key (produced after the core's lock is released).
    fn session_status<F>(
        &self,
        call: F,
    ) -> impl FnOnce(&Coordinator<S>) -> Result<pb::RecoverySessionStatus, CoreError> + Send + 'static
    where
        F: FnOnce(&Coordinator<S>) -> Result<crate::core::SessionReport, CoreError>
            + Send
            + 'static,
    {
        let tls_spki = self.tls_spki_sha256;
        let evidence = self.evidence.clone();
        move |core| {
            let report = call(core)?;
            let evidence = match &report.session {
                Some(session) => Some(evidence.evidence(&tls_spki, Some(&session.public_key))?),
                None => None,
            };
            Ok(convert::session_status(report, evidence))
        }
    }
}

/// A peer address for the log: `-` when the transport did not say (tests that call the
/// service directly).
struct Peer(Option<SocketAddr>);

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => write!(f, "{addr}"),
            None => f.write_str("-"),
        }
    }
}
