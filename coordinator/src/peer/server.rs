//! The peer API's server side: a ready replica answers an asking replica whose evidence
//! verifies against the *active* manifest's reference values with the `coordinator`
//! policy, with seed ‖ salt ‖ mesh secret sealed to the asker's one-time key.
//!
//! # Checks, in order (each refusal names its reason)
//! 1. The request's shapes: a 32-byte one-time key, evidence present.
//! 2. The connection carried a client certificate; the evidence names its key
//!    (`tls_spki_sha256`) and the one-time key (`challenge_public_key`).
//! 3. This replica is ready (else `FAILED_PRECONDITION`, reason of the state).
//! 4. Kind `snp`/`tdx`: the report verifies (seedward_attestation::verify) with
//!    `report_data` = binding(client certificate key, one-time key), HOST_DATA/MRCONFIGID =
//!    the active manifest's `coordinator` policy hash, against its `ReferenceValues`.
//!    Kind `none`: only with `--allow-unattested-peers`, and then logged at WARN on every
//!    use; without it refused (`EVIDENCE_REJECTED`).
//! 5. Sealed under the core's lock for the manifest the evidence was checked against.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use seedward_attestation::{Appraisal, Evidence, EvidenceKind, Revocation, TrustAnchors, verify};
use seedward_proto::Reason;
use seedward_proto::v1 as pb;
use seedward_shared::history::HistoryStore;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::core::Coordinator;
use crate::error::CoreError;
use crate::evidence::report_data;
use crate::recoveries::BY_PEER;
use crate::tls::TlsIdentity;

/// How peers' evidence is verified.
#[derive(Debug, Clone)]
pub struct PeerVerifier {
    pub anchors: TrustAnchors,
    pub revocation: Revocation,
    /// Collateral this replica holds, used when the asker sends none.
    pub collateral: Vec<u8>,
    /// `--allow-unattested-peers`.
    pub allow_unattested: bool,
}

/// The `seedward.v1.PeerApi` service.
pub struct PeerService<S: HistoryStore + 'static> {
    core: Arc<Coordinator<S>>,
    replica_id: String,
    verifier: PeerVerifier,
}

impl<S: HistoryStore + 'static> PeerService<S> {
    pub fn new(core: Arc<Coordinator<S>>, replica_id: String, verifier: PeerVerifier) -> Self {
        Self {
            core,
            replica_id,
            verifier,
        }
    }
}

fn refused(reason: Reason, code: tonic::Code, message: String) -> Status {
    let mut status = Status::new(code, message);
    reason.attach(&mut status);
    status
}

fn evidence_refused(message: String) -> Status {
    refused(
        Reason::EvidenceRejected,
        tonic::Code::PermissionDenied,
        message,
    )
}

fn invalid(field: &'static str, message: String) -> Status {
    Status::from(CoreError::InvalidArgument { field, message })
}

#[tonic::async_trait]
impl<S: HistoryStore + 'static> pb::peer_api_server::PeerApi for PeerService<S> {
    async fn recover(
        &self,
        request: Request<pb::PeerRecoverRequest>,
    ) -> Result<Response<pb::PeerRecoverResponse>, Status> {
        let remote = request.remote_addr();
        let client_key = request
            .peer_certs()
            .and_then(|certs| certs.first().and_then(|c| super::tls::spki_sha256(c)));
        let req = request.into_inner();
        let asker = if seedward_etcd::validate_replica_id(&req.replica_id).is_ok() {
            req.replica_id.clone()
        } else {
            "(invalid id)".to_string()
        };
        let result = self.answer(req, client_key, &asker).await;
        if let Err(status) = &result {
            let reason = Reason::of(status);
            let why = reason.map(|r| r.as_str()).unwrap_or("-");
            // A refusal of the asker is worth a warning; "not ready myself" is not.
            if matches!(
                reason,
                Some(Reason::EvidenceRejected | Reason::InvalidArgument)
            ) {
                tracing::warn!(peer = %asker, remote = %Remote(remote), reason = %why, message = %status.message(), "refused a peer's recovery request");
            } else {
                tracing::info!(peer = %asker, remote = %Remote(remote), reason = %why, message = %status.message(), "could not serve a peer's recovery request");
            }
        }
        result.map(Response::new)
    }
}

impl<S: HistoryStore + 'static> PeerService<S> {
    async fn answer(
        &self,
        req: pb::PeerRecoverRequest,
        client_key: Option<[u8; 32]>,
        asker: &str,
    ) -> Result<pb::PeerRecoverResponse, Status> {
        let recipient: [u8; 32] = req
            .recipient_public_key
            .as_slice()
            .try_into()
            .map_err(|_| {
                invalid(
                    "recipient_public_key",
                    format!(
                        "must be a 32-byte X25519 public key, got {} bytes",
                        req.recipient_public_key.len()
                    ),
                )
            })?;
        let evidence = req
            .evidence
            .ok_or_else(|| invalid("evidence", "is missing".into()))?;
        let client_key = client_key.ok_or_else(|| {
            evidence_refused(
                "the connection carried no client certificate; a peer must present the certificate of the key its evidence binds".into(),
            )
        })?;
        if evidence.tls_spki_sha256 != client_key || evidence.challenge_public_key != recipient {
            return Err(evidence_refused(
                "the evidence does not name this connection's client certificate key and the request's one-time key".into(),
            ));
        }
        let core = self.core.clone();
        let reference = tokio::task::spawn_blocking(move || core.peer_reference())
            .await
            .map_err(|e| Status::from(CoreError::Internal(format!("peer_reference: {e}"))))??;
        let binding = report_data(&client_key, Some(&recipient));
        let kind = EvidenceKind::from_name(&evidence.kind).ok_or_else(|| {
            evidence_refused(format!(
                "unknown evidence kind {:?}; a peer sends \"snp\", \"tdx\" or (development) \"none\"",
                evidence.kind.chars().take(32).collect::<String>()
            ))
        })?;
        match kind {
            EvidenceKind::None => {
                if !self.verifier.allow_unattested {
                    return Err(evidence_refused(
                        "the asking replica is UNATTESTED (evidence kind \"none\") and this replica does not accept unattested peers; run the replicas in a TEE, or (development only) start every replica with --allow-unattested-peers".into(),
                    ));
                }
                if evidence.report_data != binding {
                    return Err(evidence_refused(
                        "the unattested evidence does not state the binding of this connection's key and the one-time key".into(),
                    ));
                }
                tracing::warn!(peer = %asker, "--allow-unattested-peers: handing the seed to an UNATTESTED peer (evidence kind none); nothing proves what that peer runs — development only");
            }
            kind => {
                let reference_values = match &*reference.active.reference {
                    Ok(values) => values,
                    Err(e) => {
                        return Err(evidence_refused(format!(
                            "the active manifest's ReferenceValues do not parse ({e}); no attested peer can be verified against them"
                        )));
                    }
                };
                let verdict = verify(
                    &Evidence {
                        kind,
                        report: evidence.report.clone(),
                        certificates: evidence.certificates.clone(),
                        collateral: if evidence.collateral.is_empty() {
                            self.verifier.collateral.clone()
                        } else {
                            evidence.collateral.clone()
                        },
                    },
                    &Appraisal {
                        reference: reference_values,
                        report_data: Some(binding),
                        host_data: reference.coordinator_policy.map(|d| *d.as_bytes()),
                        anchors: &self.verifier.anchors,
                        at: SystemTime::now(),
                        revocation: self.verifier.revocation,
                    },
                );
                if !verdict.verified() {
                    return Err(evidence_refused(format!(
                        "{} evidence of the asking replica did not verify against the active manifest's reference values and coordinator policy: {}",
                        kind.as_str(),
                        verdict.problems(120).join("; ")
                    )));
                }
            }
        }
        let core = self.core.clone();
        let manifest = reference.active.manifest_hash;
        let sealed = tokio::task::spawn_blocking(move || core.seal_for_peer(manifest, &recipient))
            .await
            .map_err(|e| Status::from(CoreError::Internal(format!("seal_for_peer: {e}"))))??;
        tracing::info!(peer = %asker, kind = kind.as_str(), latest = %sealed.latest, "sealed the secrets for a verified peer ({BY_PEER} recovery)");
        Ok(pb::PeerRecoverResponse {
            replica_id: self.replica_id.clone(),
            latest_transition_hash: sealed.latest.as_bytes().to_vec(),
            encapsulated_key: sealed.sealed.encapsulated_key.to_vec(),
            ciphertext: sealed.sealed.ciphertext,
            mesh_ca_cert: sealed.mesh_ca_pem,
            generation: sealed.generation,
        })
    }
}

struct Remote(Option<SocketAddr>);

impl std::fmt::Display for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(a) => write!(f, "{a}"),
            None => f.write_str("-"),
        }
    }
}

/// Serves the peer API on `listener` with mutual TLS until the task is aborted.
pub fn spawn<S: HistoryStore + 'static>(
    listener: TcpListener,
    identity: &Arc<TlsIdentity>,
    service: PeerService<S>,
    handshake_timeout: Duration,
) -> anyhow::Result<JoinHandle<()>> {
    let acceptor = TlsAcceptor::from(Arc::new(super::tls::server_config(identity)?));
    let (conn_tx, conn_rx) = tokio::sync::mpsc::channel(16);
    let accept = async move {
        loop {
            let (tcp, remote) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "peer API: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let conn_tx = conn_tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = conn_tx.send(Ok::<_, std::io::Error>(tls)).await;
                    }
                    Ok(Err(e)) => {
                        tracing::info!(%remote, error = %e, "peer API: TLS handshake failed")
                    }
                    Err(_) => tracing::info!(%remote, "peer API: TLS handshake timed out"),
                }
            });
        }
    };
    let api = pb::peer_api_server::PeerApiServer::new(service);
    // One task: aborting it stops accepting and serving alike.
    Ok(tokio::spawn(async move {
        let serve = tonic::transport::Server::builder()
            .add_service(api)
            .serve_with_incoming(ReceiverStream::new(conn_rx));
        tokio::select! {
            () = accept => {}
            served = serve => {
                if let Err(e) = served {
                    tracing::error!(error = %e, "the peer API stopped");
                }
            }
        }
    }))
}
