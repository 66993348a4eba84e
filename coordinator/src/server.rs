//! Wiring: the TLS listener, the gRPC services (user API, workload API, health, reflection),
//! shutdown.
//!
//! [`start`] is what the binary runs and what the `seedward` TUI embeds for its local
//! Coordinator on loopback.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use seedward_etcd::{EtcdClient, EtcdStore};
use seedward_proto::{FILE_DESCRIPTOR_SET, v1 as pb};
use seedward_shared::history::{HistoryStore, LatestWatch, WatchLatest as _};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tonic_health::ServingStatus;

use crate::backend::StoreConfig;
use crate::connections::{ActivityLayer, ConnectionLimits, LogLimiter, Registry};
use crate::core::{Coordinator, CoreConfig, StateView};
use crate::error::StateName;
use crate::evidence::{self, AttestationConfig};
use crate::peer::PeerConfig;
use crate::peer::client::Asker;
use crate::peer::server::{PeerService, PeerVerifier};
use crate::recoveries::Recoveries;
use crate::replicas::ReplicaSet;
use crate::service::UserService;
use crate::store::FsStore;
use crate::tls::TlsIdentity;
use crate::workload::WorkloadService;
use crate::workload_evidence::WorkloadVerifier;
use seedward_attestation::{EvidenceKind, Revocation, TrustAnchors};

/// Health service name that reports readiness (SERVING only when ready).
pub const READINESS_SERVICE: &str = "seedward.v1.UserApi";

/// Everything `start` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub state_dir: PathBuf,
    /// Extra DNS names for the TLS certificate (besides localhost and seedward-coordinator).
    pub dns_names: Vec<String>,
    pub core: CoreConfig,
    pub request_timeout: Duration,
    /// Largest gRPC message the server decodes.
    pub max_request_bytes: usize,
    /// Largest gRPC message the server sends (GetManifests of a long history).
    pub max_response_bytes: usize,
    /// Where the manifest history lives (`--store`; the state directory by default).
    pub store: StoreConfig,
    /// This replica's name in the replica set (`--replica-id`).
    pub replica_id: String,
    /// How this Coordinator produces its evidence (`--attestation`, `--tsm-dir`,
    /// `--collateral-dir`).
    pub attestation: AttestationConfig,
    /// How it verifies workloads' (and peers') evidence.
    pub verification: VerificationConfig,
    /// The connection cap, idle and handshake timeouts, keepalive, shutdown grace.
    pub connections: ConnectionLimits,
    /// Peer recovery between replicas (etcd only; crate::peer).
    pub peer: PeerConfig,
}

/// How evidence from others is verified.
#[derive(Debug, Clone, Default)]
pub struct VerificationConfig {
    /// A PEM bundle with a test ARK (and its ASK/ASVK) to trust *instead of* AMD's roots
    /// (`--test-trust-anchor`). For end-to-end tests with a test signer only.
    pub test_trust_anchor: Option<PathBuf>,
    /// Accept SNP evidence whose revocation could not be checked for lack of a CRL
    /// (`--waive-revocation-check`). The verdicts name the waiver.
    pub waive_revocation: bool,
}

impl VerificationConfig {
    /// The trust anchors: AMD's pinned roots, or the test anchor.
    pub fn anchors(&self) -> anyhow::Result<TrustAnchors> {
        let Some(path) = &self.test_trust_anchor else {
            return Ok(TrustAnchors::amd());
        };
        check_test_anchor_allowed()?;
        let pem = seedward_fs::Dir::parent_of(path, 0o700)
            .and_then(|(dir, name)| dir.read(&name, 1 << 20))
            .with_context(|| format!("cannot read the test trust anchor {}", path.display()))?
            .with_context(|| format!("{} does not exist", path.display()))?;
        let anchors = TrustAnchors::test_from_pem(&pem)
            .with_context(|| format!("{} is not a test ARK bundle", path.display()))?;
        tracing::warn!(
            file = %path.display(),
            "TEST TRUST ANCHOR IN USE: evidence signed by this test key is accepted instead of AMD's; never do this outside tests"
        );
        Ok(anchors)
    }

    pub fn revocation(&self) -> Revocation {
        if self.waive_revocation {
            Revocation::Waive
        } else {
            Revocation::Require
        }
    }
}

/// The environment variable a release build needs before it takes a test trust anchor.
pub const ALLOW_TEST_TRUST_ANCHOR_ENV: &str = "SEEDWARD_ALLOW_TEST_TRUST_ANCHOR";

/// Debug builds (the test suite) may use a test trust anchor; a release build only with
/// `SEEDWARD_ALLOW_TEST_TRUST_ANCHOR=1` as well, so that it can never be switched on by a
/// flag alone.
pub fn check_test_anchor_allowed() -> anyhow::Result<()> {
    if cfg!(debug_assertions) || std::env::var(ALLOW_TEST_TRUST_ANCHOR_ENV).is_ok_and(|v| v == "1")
    {
        Ok(())
    } else {
        anyhow::bail!(
            "--test-trust-anchor replaces AMD's roots with a test key; a release build accepts it only with {ALLOW_TEST_TRUST_ANCHOR_ENV}=1 set as well"
        )
    }
}

impl ServerConfig {
    pub fn new(listen: SocketAddr, state_dir: PathBuf) -> Self {
        Self {
            listen,
            dns_names: Vec::new(),
            // The initialization marker lives next to the history (core::marker).
            core: CoreConfig {
                init_marker: Some(state_dir.join("initialized")),
                generation_hint: Some(state_dir.join("generation")),
                ..CoreConfig::default()
            },
            state_dir,
            request_timeout: Duration::from_secs(30),
            max_request_bytes: 16 << 20,
            max_response_bytes: 1 << 30,
            store: StoreConfig::Fs,
            replica_id: "seedward-coordinator".into(),
            attestation: AttestationConfig::default(),
            verification: VerificationConfig::default(),
            connections: ConnectionLimits::default(),
            peer: PeerConfig::default(),
        }
    }
}

/// A running Coordinator server.
pub struct RunningServer {
    local_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
    state: tokio::sync::watch::Receiver<StateView>,
    tls_spki_sha256: [u8; 32],
    /// The replica-set task (etcd only) and what stops it: it revokes this replica's
    /// presence record once the server has stopped.
    replicas: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    registry: Arc<Registry>,
    shutdown_grace: Duration,
}

impl RunningServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn state(&self) -> StateName {
        self.state.borrow().name
    }

    pub fn tls_spki_sha256(&self) -> [u8; 32] {
        self.tls_spki_sha256
    }

    /// The number of client connections held right now (handshakes included).
    pub fn connections(&self) -> usize {
        self.registry.len()
    }

    /// Stops accepting and lets in-flight requests finish for at most the shutdown grace
    /// period (`ConnectionLimits::shutdown_grace`); then every connection still open is
    /// closed, whatever it is doing, and the server stops.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let result = self.stop_server().await;
        self.stop_replicas().await;
        result
    }

    /// Waits for the server task for the grace period, then closes what is left.
    async fn stop_server(&mut self) -> anyhow::Result<()> {
        let grace = self.shutdown_grace;
        match tokio::time::timeout(grace, &mut self.task).await {
            Ok(joined) => return joined.context("the server task panicked")?,
            Err(_) => {
                let closed = self.registry.evict_all();
                tracing::warn!(
                    connections = closed,
                    grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
                    "connections still open after the shutdown grace period: closed"
                );
            }
        }
        // Evicted connections end at their next poll; a server that still does not stop
        // (a request stuck on a blocking thread) is abandoned.
        match tokio::time::timeout(Duration::from_secs(1), &mut self.task).await {
            Ok(joined) => joined.context("the server task panicked")?,
            Err(_) => {
                self.task.abort();
                tracing::warn!("the server did not stop after closing every connection; abandoned");
                Ok(())
            }
        }
    }

    /// Stops the replica-set task (etcd only), which revokes this replica's presence.
    async fn stop_replicas(&mut self) {
        if let Some((stop, task)) = self.replicas.take() {
            let _ = stop.send(());
            if task.await.is_err() {
                tracing::warn!("the replica-set task panicked");
            }
        }
    }

    /// Waits until the server stops by itself (it does not, unless it fails).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let result = (&mut self.task).await.context("the server task panicked");
        self.stop_replicas().await;
        result?
    }
}

/// Opens the store, binds the listener and serves until shutdown.
pub async fn start(config: ServerConfig) -> anyhow::Result<RunningServer> {
    match &config.store {
        StoreConfig::Fs => {
            let history_dir = config.state_dir.join("history");
            let store = FsStore::open(&history_dir).with_context(|| {
                format!("cannot open the history store at {}", history_dir.display())
            })?;
            serve(store, config, None).await
        }
        StoreConfig::Etcd {
            etcd,
            prefix,
            advertise,
        } => {
            let store = EtcdStore::connect(etcd, prefix)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
                .context("cannot open the history store in etcd")?;
            tracing::info!(endpoints = %etcd.endpoints.join(","), %prefix, replica_id = %config.replica_id, "history store: etcd");
            let plan = ReplicaPlan {
                client: store.client().clone(),
                prefix: prefix.clone(),
                advertise: advertise.clone(),
                latest_watch: match store.watch_latest() {
                    Ok(watch) => Some(watch),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot watch transitions/latest; foreign updates are seen by polling");
                        None
                    }
                },
            };
            serve(store, config, Some(plan)).await
        }
    }
}

/// What a replica on a shared store needs to join the replica set (crate::replicas).
struct ReplicaPlan {
    client: EtcdClient,
    prefix: String,
    advertise: Option<String>,
    latest_watch: Option<Box<dyn LatestWatch>>,
}

/// Binds the listener and serves the Coordinator over `store` until shutdown.
async fn serve<S: HistoryStore + 'static>(
    store: S,
    config: ServerConfig,
    replica_plan: Option<ReplicaPlan>,
) -> anyhow::Result<RunningServer> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local_addr = listener.local_addr()?;

    let mut ips: Vec<IpAddr> = vec![
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
    ];
    if !local_addr.ip().is_unspecified() && !ips.contains(&local_addr.ip()) {
        ips.push(local_addr.ip());
    }
    // The store is synchronous (and the etcd store waits on this runtime): off the workers.
    let core_config = config.core.clone();
    let core = Arc::new(
        tokio::task::spawn_blocking(move || Coordinator::new(store, core_config))
            .await
            .context("opening the history store panicked")?
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("cannot read the history store")?,
    );
    let tls = Arc::new(
        TlsIdentity::generate(config.dns_names.clone(), ips, core.subscribe())
            .context("cannot create the TLS identity")?,
    );
    let tls_spki_sha256 = tls.spki_sha256();
    let attestation = config.attestation.clone();
    let evidence = tokio::task::spawn_blocking(move || evidence::provider(&attestation))
        .await
        .context("setting up attestation panicked")??;
    let workload_collateral = match &config.attestation.collateral_dir {
        Some(dir) if evidence.kind() != EvidenceKind::None => {
            evidence::load_collateral(evidence.kind(), dir)?
        }
        _ => Vec::new(),
    };
    let workload_collateral_for_peers = workload_collateral.clone();
    let workload_verifier = Arc::new(WorkloadVerifier::new(
        config.verification.anchors()?,
        config.verification.revocation(),
        workload_collateral,
    ));
    let recoveries = Arc::new(Recoveries::default());
    // The peer API only makes sense on a shared store; main refuses the flags otherwise.
    let peer_listener = match (config.peer.listen, &replica_plan) {
        (Some(addr), Some(_)) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on --peer-listen {addr}"))?,
        ),
        _ => None,
    };
    let peer_local = match &peer_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let mut own_peer_addresses: Vec<String> = peer_local.iter().map(|a| a.to_string()).collect();
    let replicas = replica_plan.map(|plan| {
        let advertise = plan.advertise.unwrap_or_else(|| {
            if local_addr.ip().is_unspecified() {
                format!("{}:{}", config.replica_id, local_addr.port())
            } else {
                local_addr.to_string()
            }
        });
        // Peers reach the peer API at the advertised host, on the peer port.
        let peer_address = peer_local.map(|peer| {
            let host = advertise
                .rsplit_once(':')
                .map(|(host, _)| host)
                .unwrap_or(advertise.as_str());
            format!("{host}:{}", peer.port())
        });
        own_peer_addresses.extend(peer_address.clone());
        let set = ReplicaSet::new(
            plan.client,
            &plan.prefix,
            &config.replica_id,
            advertise,
            peer_address,
            recoveries.clone(),
        );
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = set.clone().spawn(
            core.clone(),
            plan.latest_watch,
            evidence.kind().as_str(),
            stop_rx,
        );
        (set, stop_tx, task)
    });
    let state = core.subscribe();
    if core.state_name() == StateName::Uninitialized {
        tracing::warn!(
            store = %config.store.describe(&config.state_dir),
            "no manifest history in the store; if this Coordinator was set up before, the state directory (or etcd prefix) is wrong — do not run first-time setup against it"
        );
    }
    tracing::info!(
        listen = %local_addr,
        state_dir = %config.state_dir.display(),
        state = %core.state_name(),
        tls_spki_sha256 = %hex::encode(tls_spki_sha256),
        "Coordinator serving"
    );

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status("liveness", ServingStatus::Serving)
        .await;
    // Liveness fails while a store operation hangs (core::stall), logged once per stall.
    let liveness_task = {
        let core = core.clone();
        let health = health.clone();
        let store = config.store.describe(&config.state_dir);
        tokio::spawn(async move {
            let mut stalled = false;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                match (core.stalled_store_op(), stalled) {
                    (Some((running, what)), false) => {
                        tracing::error!(%store, operation = %what, seconds = running.as_secs(), "a store operation has not finished: liveness NOT_SERVING until it does (a hung mount, or a FIFO or device in the history?)");
                        health
                            .set_service_status("liveness", ServingStatus::NotServing)
                            .await;
                        stalled = true;
                    }
                    (None, true) => {
                        tracing::info!(%store, "the store answers again: liveness SERVING");
                        health
                            .set_service_status("liveness", ServingStatus::Serving)
                            .await;
                        stalled = false;
                    }
                    _ => {}
                }
            }
        })
    };
    let health_task = {
        let mut rx = core.subscribe();
        tokio::spawn(async move {
            loop {
                let status = if rx.borrow_and_update().name == StateName::Ready {
                    ServingStatus::Serving
                } else {
                    ServingStatus::NotServing
                };
                health.set_service_status("", status).await;
                health.set_service_status(READINESS_SERVICE, status).await;
                if rx.changed().await.is_err() {
                    break;
                }
            }
        })
    };

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("cannot build the reflection service")?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("cannot build the reflection service")?;

    let mut user_service = UserService::new(core.clone(), tls_spki_sha256, evidence.clone())
        .with_read_timeout(config.request_timeout)
        .with_write_timeout(config.request_timeout);
    user_service = user_service.with_recoveries(recoveries.clone());
    if let Some((set, _, _)) = &replicas {
        user_service = user_service.with_replicas(set.clone());
    }
    let peer_task = match peer_listener {
        Some(listener) => {
            let verifier = PeerVerifier {
                anchors: config.verification.anchors()?,
                revocation: config.verification.revocation(),
                collateral: workload_collateral_for_peers,
                allow_unattested: config.peer.allow_unattested,
            };
            if config.peer.allow_unattested {
                tracing::warn!(
                    "--allow-unattested-peers: this replica hands its seed to UNATTESTED peers (evidence kind none) and asks them for theirs; development only"
                );
            }
            tracing::info!(listen = ?peer_local, "peer API serving (mutual TLS)");
            Some(crate::peer::server::spawn(
                listener,
                &tls,
                PeerService::new(core.clone(), config.replica_id.clone(), verifier),
                config.connections.handshake_timeout,
            )?)
        }
        None => None,
    };
    let (asker_stop, asker_stop_rx) = oneshot::channel::<()>();
    let asker_task = match &replicas {
        Some((set, _, _)) if config.peer.asks() => Some(
            Asker {
                core: core.clone(),
                config: config.peer.clone(),
                identity: tls.clone(),
                evidence: evidence.clone(),
                replicas: Some(set.clone()),
                recoveries: recoveries.clone(),
                replica_id: config.replica_id.clone(),
                own_addresses: own_peer_addresses,
            }
            .spawn(asker_stop_rx),
        ),
        _ => None,
    };
    let user_api = pb::user_api_server::UserApiServer::new(user_service)
        .max_decoding_message_size(config.max_request_bytes)
        .max_encoding_message_size(config.max_response_bytes);

    let workload_api = pb::workload_api_server::WorkloadApiServer::new(WorkloadService::new(
        core.clone(),
        workload_verifier,
    ))
    .max_decoding_message_size(config.max_request_bytes);

    let acceptor = TlsAcceptor::from(Arc::new(
        tls.server_config().context("cannot configure TLS")?,
    ));
    let limits = config.connections.clone();
    let registry = Arc::new(Registry::default());
    let (conn_tx, conn_rx) = mpsc::channel(64);
    let accept_task = tokio::spawn(accept_loop(
        listener,
        acceptor,
        registry.clone(),
        limits.clone(),
        conn_tx,
    ));

    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let result = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(limits.keepalive_interval))
            .http2_keepalive_timeout(Some(limits.keepalive_timeout))
            .layer(ActivityLayer)
            .add_service(user_api)
            .add_service(workload_api)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .serve_with_incoming_shutdown(ReceiverStream::new(conn_rx), async {
                let _ = shutdown_rx.await;
            })
            .await;
        accept_task.abort();
        drop(asker_stop);
        if let Some(task) = asker_task {
            task.abort();
        }
        if let Some(task) = peer_task {
            task.abort();
        }
        health_task.abort();
        liveness_task.abort();
        tracing::info!("Coordinator stopped");
        result.context("the gRPC server failed")
    });

    Ok(RunningServer {
        local_addr,
        shutdown: Some(shutdown_tx),
        task,
        state,
        tls_spki_sha256,
        replicas: replicas.map(|(_, stop, task)| (stop, task)),
        registry,
        shutdown_grace: config.connections.shutdown_grace,
    })
}

/// Accepts TCP connections, keeps them under the cap, and hands each to a TLS handshake.
///
/// At the cap, the connection idle the longest is evicted to make room (so that idle
/// connections cannot lock out an operator); if every connection has a request in flight,
/// the new one is closed at once. Accept errors (EMFILE above all) and refusals are logged
/// at most once a second, with a count.
async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    registry: Arc<Registry>,
    limits: ConnectionLimits,
    conn_tx: mpsc::Sender<
        Result<tokio_rustls::server::TlsStream<crate::connections::TrackedIo>, std::io::Error>,
    >,
) {
    let accept_errors = LogLimiter::new(Duration::from_secs(1));
    let refusals = LogLimiter::new(Duration::from_secs(1));
    let handshake_failures = Arc::new(LogLimiter::new(Duration::from_secs(1)));
    loop {
        let accepted = listener.accept().await;
        if conn_tx.is_closed() {
            // The server is shutting down: stop listening.
            break;
        }
        let (tcp, peer) = match accepted {
            Ok(conn) => conn,
            Err(err) => {
                // Out of descriptors despite the cap (something else holds them): free one.
                let evicted = registry.evict_oldest_idle();
                if let Some(count) = accept_errors.admit() {
                    tracing::warn!(error = %err, count, connections = registry.len(), evicted_idle = ?evicted, "accept failed");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let cap = limits.effective_cap();
        if registry.len() >= cap {
            if let Some(evicted) = registry.evict_oldest_idle() {
                tracing::debug!(%peer, %evicted, cap, "at the connection cap: closed the connection idle the longest");
            } else {
                if let Some(count) = refusals.admit() {
                    tracing::warn!(%peer, cap, count, "connection refused: at the connection cap and every connection is busy");
                }
                drop(tcp);
                continue;
            }
        }
        // Small gRPC frames must not wait for Nagle's algorithm: without this every
        // response stalls against the client's delayed ACK (docs/PERFORMANCE.md).
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%peer, error = %err, "cannot set TCP_NODELAY");
        }
        let io = registry.track(tcp, peer, limits.idle_timeout);
        let acceptor = acceptor.clone();
        let conn_tx = conn_tx.clone();
        let handshake_timeout = limits.handshake_timeout;
        let handshake_failures = handshake_failures.clone();
        tokio::spawn(async move {
            let failure = match tokio::time::timeout(handshake_timeout, acceptor.accept(io)).await {
                Ok(Ok(tls)) => {
                    let _ = conn_tx.send(Ok(tls)).await;
                    return;
                }
                Ok(Err(err)) => err.to_string(),
                Err(_) => format!("timed out after {} s", handshake_timeout.as_secs()),
            };
            if let Some(count) = handshake_failures.admit() {
                tracing::info!(%peer, error = %failure, count, "TLS handshake failed");
            }
        });
    }
}
