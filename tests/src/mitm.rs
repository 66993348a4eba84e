//! A machine in the middle: a TLS-terminating gRPC relay between a client and a real
//! Coordinator, with its own TLS key, that forwards the user API and tampers with it the way
//! an attacker would (docs/ATTESTATION.md, "Testing without a TEE").
//!
//! It cannot obtain the Coordinator's TLS key, so the client sees the relay's. What it can
//! do to evidence is limited to the unsigned fields: it rewrites `tls_spki_sha256` and
//! `report_data` to name its own key ([`Tamper::forge_binding`]). For kind `none` that is the
//! whole evidence, so the forgery is perfect; an SEV-SNP report signs the real binding, which
//! the relay cannot change. On `SetManifest` it can add its own key to
//! `SeedshareOwnerPubKeys` ([`Tamper::add_owner`]) and hide the share it got from the reply.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use seedward::client::{CoordinatorClient, Trust};
use seedward_proto::v1 as pb;
use seedward_proto::v1::user_api_server::{UserApi, UserApiServer};
use seedward_shared::history::Transition;
use seedward_shared::manifest::Manifest;
use tonic::{Request, Response, Status};

/// What the relay does to the traffic.
#[derive(Debug, Clone, Default)]
pub struct Tamper {
    /// Rewrite the evidence's claimed TLS key and `report_data` to bind the relay's own TLS
    /// key (and the offered challenge).
    pub forge_binding: bool,
    /// Add this X25519 public key (hex) to `SeedshareOwnerPubKeys` of a first manifest, and
    /// drop its seed share from the reply.
    pub add_owner: Option<String>,
    /// Also replace the reply's transition hash by the first transition of the manifest the
    /// client sent, so that only the owner list can give the relay away.
    pub rewrite_transition: bool,
}

/// What the relay saw (for the tests' assertions).
#[derive(Debug, Default)]
pub struct Seen {
    /// `SetManifest` requests it forwarded.
    pub set_manifest: u32,
    /// The seed share it obtained for its own key (it holds the private key in a real attack).
    pub stolen_share: Option<pb::SeedShare>,
    /// `Recover` requests it forwarded.
    pub recover: u32,
}

struct Relay {
    upstream: String,
    tls_spki_sha256: [u8; 32],
    tamper: Tamper,
    seen: Arc<Mutex<Seen>>,
}

impl Relay {
    async fn upstream(&self) -> Result<CoordinatorClient, Status> {
        CoordinatorClient::connect(&self.upstream, Trust::FirstUse)
            .await
            .map_err(|e| Status::unavailable(format!("relay: upstream: {e}")))
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[tonic::async_trait]
impl UserApi for Relay {
    async fn get_status(
        &self,
        _request: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::GetStatusResponse>, Status> {
        let mut status = self.upstream().await?.status().await?;
        if self.tamper.forge_binding
            && let Some(evidence) = status.evidence.as_mut()
        {
            let challenge: Option<[u8; 32]> =
                evidence.challenge_public_key.as_slice().try_into().ok();
            evidence.tls_spki_sha256 = self.tls_spki_sha256.to_vec();
            evidence.report_data =
                seedward_attestation::report_data(&self.tls_spki_sha256, challenge.as_ref())
                    .to_vec();
        }
        Ok(Response::new(status))
    }

    async fn set_manifest(
        &self,
        request: Request<pb::SetManifestRequest>,
    ) -> Result<Response<pb::SetManifestResponse>, Status> {
        let mut request = request.into_inner();
        self.seen().set_manifest += 1;
        let sent = request.manifest.clone();
        if let Some(owner) = &self.tamper.add_owner {
            let mut value: serde_json::Value = serde_json::from_slice(&request.manifest)
                .map_err(|e| Status::internal(format!("relay: {e}")))?;
            if let Some(owners) = value["SeedshareOwnerPubKeys"].as_array_mut() {
                owners.push(serde_json::Value::String(owner.clone()));
            }
            request.manifest = format!("{value:#}\n").into_bytes();
        }
        let mut reply = self.upstream().await?.set_manifest(request).await?;
        if let (Some(owner), Some(doc)) =
            (&self.tamper.add_owner, reply.seed_share_document.as_mut())
            && let Some(i) = doc.seed_shares.iter().position(|s| &s.public_key == owner)
        {
            self.seen().stolen_share = Some(doc.seed_shares.remove(i));
        }
        if self.tamper.rewrite_transition
            && let Ok(manifest) = Manifest::parse(sent)
        {
            reply.transition_hash = Transition::first(manifest.hash())
                .hash()
                .as_bytes()
                .to_vec();
        }
        Ok(Response::new(reply))
    }

    async fn get_manifests(
        &self,
        _request: Request<pb::GetManifestsRequest>,
    ) -> Result<Response<pb::GetManifestsResponse>, Status> {
        Ok(Response::new(self.upstream().await?.manifests().await?))
    }

    type StreamManifestsStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<pb::ManifestsPage, Status>> + Send>,
    >;

    /// Not relayed, as an older Coordinator would answer: the client falls back to
    /// `GetManifests`.
    async fn stream_manifests(
        &self,
        _request: Request<pb::StreamManifestsRequest>,
    ) -> Result<Response<Self::StreamManifestsStream>, Status> {
        Err(Status::unimplemented(
            "relay: StreamManifests is not relayed",
        ))
    }

    async fn recover(
        &self,
        request: Request<pb::RecoverRequest>,
    ) -> Result<Response<pb::RecoverResponse>, Status> {
        self.seen().recover += 1;
        Ok(Response::new(
            self.upstream().await?.recover(request.into_inner()).await?,
        ))
    }

    async fn open_recovery_session(
        &self,
        _request: Request<pb::OpenRecoverySessionRequest>,
    ) -> Result<Response<pb::RecoverySessionStatus>, Status> {
        Ok(Response::new(
            self.upstream().await?.open_recovery_session().await?,
        ))
    }

    async fn get_recovery_session(
        &self,
        _request: Request<pb::GetRecoverySessionRequest>,
    ) -> Result<Response<pb::RecoverySessionStatus>, Status> {
        Ok(Response::new(
            self.upstream().await?.recovery_session().await?,
        ))
    }

    async fn submit_recovery_share(
        &self,
        request: Request<pb::RecoverySessionEnvelope>,
    ) -> Result<Response<pb::RecoverySessionStatus>, Status> {
        Ok(Response::new(
            self.upstream()
                .await?
                .submit_recovery_share(request.into_inner())
                .await?,
        ))
    }

    async fn cancel_recovery_session(
        &self,
        request: Request<pb::RecoverySessionEnvelope>,
    ) -> Result<Response<pb::RecoverySessionStatus>, Status> {
        Ok(Response::new(
            self.upstream()
                .await?
                .cancel_recovery_session(request.into_inner())
                .await?,
        ))
    }
}

/// A running relay on `127.0.0.1:<port>`; stops when dropped.
pub struct Mitm {
    pub addr: String,
    /// SHA-256 of the relay's own TLS SubjectPublicKeyInfo (what a client sees through it).
    pub tls_spki_sha256: [u8; 32],
    seen: Arc<Mutex<Seen>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Mitm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mitm")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Mitm {
    /// Starts a relay to the Coordinator at `upstream` (`host:port`) with a fresh
    /// self-signed TLS key.
    pub fn start(upstream: &str, tamper: Tamper) -> anyhow::Result<Self> {
        let key = rcgen::KeyPair::generate().context("relay TLS key")?;
        let cert = rcgen::CertificateParams::new(vec!["coordinator".to_owned()])
            .context("relay certificate")?
            .self_signed(&key)
            .context("relay certificate")?;
        let tls_spki_sha256 = seedward::client::tls::leaf_spki_sha256(cert.der())
            .context("relay certificate SPKI")?;
        let identity = tonic::transport::Identity::from_pem(cert.pem(), key.serialize_pem());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let relay = Relay {
            upstream: upstream.to_owned(),
            tls_spki_sha256,
            tamper,
            seen: seen.clone(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("relay runtime")?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .context("relay listen")?;
        let addr: SocketAddr = listener.local_addr()?;
        let server = tonic::transport::Server::builder()
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .context("relay TLS")?
            .add_service(UserApiServer::new(relay));
        runtime.spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            let _ = server.serve_with_incoming(incoming).await;
        });
        Ok(Self {
            addr: addr.to_string(),
            tls_spki_sha256,
            seen,
            runtime: Some(runtime),
        })
    }

    /// What the relay saw so far.
    pub fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Mitm {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
