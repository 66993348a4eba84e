//! The asking side of peer recovery: while this replica is `RecoveryRequired` or `Stale`,
//! ask the ready peers one after the other; after a round in which none helped, wait
//! (jittered, doubling from `retry_min` up to `retry_max`) and ask again.
//!
//! # One request
//! 1. Draw a one-time X25519 key; produce evidence binding this process's TLS key (the
//!    client certificate the connection presents) and that key.
//! 2. Connect with mutual TLS, send `PeerApi.Recover`, open the box for the latest
//!    transition it names.
//! 3. Before anything changes: the server's certificate must be issued by the root CA
//!    derived from the received seed, and its mesh CA must be the one the received mesh
//!    secret derives. Then the core verifies the stored latest signature and every blob of
//!    the chain with the derived signing key, and only then becomes ready.
//!
//! A peer that fails any step is named in the log (at INFO when it cannot help now — not
//! ready, unreachable —, at WARN when it refused this replica or sent something malformed,
//! at ERROR for one whose secrets do not verify: an impostor) and the next one is asked.
//!
//! # Where peers come from, every round
//! `--peers` (static), `--peer-dns` (resolved anew), and the replica board: every other
//! replica whose presence record says `ready` and gives a `peer_address`. The addresses
//! prove nothing; what a peer sends is verified.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rand_core::{OsRng, RngCore as _};
use rustls::pki_types::ServerName;
use seedward_proto::Reason;
use seedward_proto::v1 as pb;
use seedward_shared::history::{Digest, HistoryStore};
use seedward_shared::peer::{PeerBox, open_peer_secrets};
use seedward_shared::recovery::RecoveryChallengeKey;
use seedward_shared::seed::SeedEngine;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tonic::transport::{Endpoint, Uri};

use super::PeerConfig;
use super::tls::{ObservedServer, client_config, signed_by};
use crate::ca::CertificateAuthority;
use crate::core::{Coordinator, StateView, mesh_ca_public_key};
use crate::error::{CoreError, StateName};
use crate::evidence::EvidenceProvider;
use crate::recoveries::Recoveries;
use crate::replicas::ReplicaSet;
use crate::tls::TlsIdentity;
use seedward_etcd::ReplicaState;

/// Everything the asking task needs.
pub struct Asker<S: HistoryStore + 'static> {
    pub core: Arc<Coordinator<S>>,
    pub config: PeerConfig,
    pub identity: Arc<TlsIdentity>,
    pub evidence: Arc<dyn EvidenceProvider>,
    pub replicas: Option<Arc<ReplicaSet>>,
    pub recoveries: Arc<Recoveries>,
    pub replica_id: String,
    /// This replica's own peer address(es), never asked.
    pub own_addresses: Vec<String>,
}

/// How often a ready replica compares its mesh CA with the replica set's (the board).
const MESH_CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// What one peer sent, checked against itself.
struct Fetched {
    peer_id: String,
    latest: Digest,
    secrets: seedward_shared::peer::PeerSecrets,
}

/// Why one peer did not help.
#[derive(Debug)]
enum Failure {
    /// Not worth a louder log line: unreachable, not ready, a race with the store.
    Transient(String),
    /// Refused this replica, or sent something this replica refuses.
    Refused(String),
    /// Its secrets do not verify the stored history, or its certificate is not the root
    /// CA's of the seed it sent: an impostor.
    Impostor(String),
}

impl<S: HistoryStore + 'static> Asker<S> {
    /// Starts the task; it stops when `stop` fires or is dropped.
    pub fn spawn(self, stop: oneshot::Receiver<()>) -> JoinHandle<()> {
        tokio::spawn(async move {
            tokio::select! {
                () = self.run() => {}
                _ = stop => {}
            }
        })
    }

    async fn run(self) {
        let mut states = self.core.subscribe();
        if self.evidence.kind() == seedward_attestation::EvidenceKind::None
            && !self.config.allow_unattested
        {
            tracing::warn!(
                "peer recovery is off: this replica is UNATTESTED (evidence kind none) and was started without --allow-unattested-peers, so no peer would hand it the seed; it needs an owner's recover"
            );
            return;
        }
        // The board is a source of peers: give its first read (at start-up) a moment, so
        // that the first round does not come up empty and wait out a backoff.
        if let Some(replicas) = &self.replicas {
            let until = tokio::time::Instant::now() + Duration::from_secs(2);
            while replicas.board().as_of_unix_ms == 0 && tokio::time::Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let mut backoff = self.config.retry_min;
        loop {
            if !needs_keys(&states) {
                backoff = self.config.retry_min;
                if let Some(address) = self.mesh_leader() {
                    self.sync_mesh(&address).await;
                }
                // Ready: look at the board again for another mesh CA now and then.
                tokio::select! {
                    changed = states.changed() => if changed.is_err() { return; },
                    () = tokio::time::sleep(MESH_CHECK_INTERVAL) => {}
                }
                continue;
            }
            if self.round().await {
                backoff = self.config.retry_min;
                continue;
            }
            // Jittered: uniformly in the upper half of the current pause.
            let half = backoff / 2;
            let jitter = Duration::from_millis(
                OsRng.next_u64() % (u64::try_from(half.as_millis()).unwrap_or(u64::MAX).max(1)),
            );
            let pause = half + jitter;
            tracing::debug!(
                pause_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
                "no peer recovered this replica; asking again later"
            );
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                changed = states.changed() => if changed.is_err() { return; },
            }
            backoff = (backoff * 2).min(self.config.retry_max);
        }
    }

    /// Asks every candidate once; true when one recovered this replica.
    async fn round(&self) -> bool {
        let candidates = self.candidates().await;
        if candidates.is_empty() {
            tracing::debug!("no peer to ask for recovery yet");
            return false;
        }
        for address in candidates {
            if !needs_keys(&self.core.subscribe()) {
                return true;
            }
            match tokio::time::timeout(self.config.request_timeout, self.ask(&address)).await {
                Ok(Ok(_)) => return true,
                Ok(Err(Failure::Transient(why))) => {
                    tracing::info!(peer = %address, reason = %why, "peer recovery: this peer cannot help now");
                }
                Ok(Err(Failure::Refused(why))) => {
                    tracing::warn!(peer = %address, reason = %why, "peer recovery: refused");
                }
                Ok(Err(Failure::Impostor(why))) => {
                    tracing::error!(peer = %address, reason = %why, "peer recovery: REFUSED AN IMPOSTOR; asking the next peer");
                }
                Err(_) => {
                    tracing::warn!(peer = %address, timeout_ms = u64::try_from(self.config.request_timeout.as_millis()).unwrap_or(u64::MAX), "peer recovery: no answer in time");
                }
            }
        }
        false
    }

    /// The peers to ask this round, in random order, without this replica.
    async fn candidates(&self) -> Vec<String> {
        let mut set: BTreeSet<String> = self.config.peers.iter().cloned().collect();
        if let Some(name) = &self.config.dns {
            match tokio::net::lookup_host(name.as_str()).await {
                Ok(addrs) => set.extend(addrs.map(|a| a.to_string())),
                Err(e) => tracing::warn!(name = %name, error = %e, "--peer-dns does not resolve"),
            }
        }
        if let Some(replicas) = &self.replicas {
            let board = replicas.board();
            set.extend(
                board
                    .replicas
                    .into_iter()
                    .filter(|r| r.id != self.replica_id && r.state == ReplicaState::Ready)
                    .filter_map(|r| r.peer_address),
            );
        }
        for own in &self.own_addresses {
            set.remove(own);
        }
        let mut list: Vec<String> = set.into_iter().collect();
        // Fisher-Yates: no peer is always asked first.
        for i in (1..list.len()).rev() {
            let j = usize::try_from(OsRng.next_u64() % (i as u64 + 1)).unwrap_or(0);
            list.swap(i, j);
        }
        list
    }

    /// While ready: the peer API address of the replica whose mesh CA this one should take
    /// over, if any. Among the ready replicas at this replica's latest transition (itself
    /// included) the one ready longest (then the smallest id) leads; a replica whose mesh CA
    /// differs from the leader's asks it (docs/HA.md, "One mesh CA"). Only a recovery by an
    /// owner while another replica was ready leads there.
    fn mesh_leader(&self) -> Option<String> {
        let board = self.replicas.as_ref()?.board();
        let me = board.replicas.iter().find(|r| r.id == self.replica_id)?;
        if me.state != ReplicaState::Ready || me.latest.is_none() {
            return None;
        }
        let mine = me.mesh_ca.as_ref()?;
        let leader = board
            .replicas
            .iter()
            .filter(|r| r.state == ReplicaState::Ready && r.latest == me.latest)
            .filter(|r| r.mesh_ca.is_some() && (r.id == me.id || r.peer_address.is_some()))
            .min_by(|a, b| (a.since_unix_ms, &a.id).cmp(&(b.since_unix_ms, &b.id)))?;
        (leader.id != me.id && leader.mesh_ca.as_ref() != Some(mine))
            .then(|| leader.peer_address.clone())
            .flatten()
    }

    /// Takes over the mesh secret of the replica at `address` (same seed, same latest).
    async fn sync_mesh(&self, address: &str) {
        let fetched = match tokio::time::timeout(self.config.request_timeout, self.fetch(address))
            .await
        {
            Ok(Ok(fetched)) => fetched,
            Ok(Err(why)) => {
                tracing::warn!(peer = %address, reason = ?why, "cannot take over the mesh CA of the replica ready longest");
                return;
            }
            Err(_) => {
                tracing::warn!(peer = %address, "cannot take over the mesh CA of the replica ready longest: no answer in time");
                return;
            }
        };
        let core = self.core.clone();
        let Fetched {
            peer_id,
            latest,
            secrets,
        } = fetched;
        let from = peer_id.clone();
        match tokio::task::spawn_blocking(move || core.adopt_mesh_secret(secrets, latest, &from))
            .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(peer = %peer_id, error = %e, "cannot take over that replica's mesh CA")
            }
            Err(e) => tracing::warn!(peer = %peer_id, error = %e, "taking over a mesh CA failed"),
        }
    }

    /// One request to one peer, and the recovery from its answer; the peer's id on success.
    async fn ask(&self, address: &str) -> Result<String, Failure> {
        let Fetched {
            peer_id,
            latest,
            secrets,
        } = self.fetch(address).await?;
        let core = self.core.clone();
        let from = peer_id.clone();
        let recoveries = self.recoveries.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            core.recover_from_peer(secrets, latest, &from, || {
                recoveries.by_peer(from.clone());
            })
        })
        .await
        .map_err(|e| Failure::Transient(format!("recovering: {e}")))?;
        match outcome {
            Ok(outcome) => {
                tracing::info!(peer = %peer_id, generation = outcome.generation, latest = %outcome.latest, "recovered by a peer");
                Ok(peer_id)
            }
            Err(CoreError::WrongSeed) => Err(Failure::Impostor(format!(
                "{peer_id}: the seed it sent does not verify the stored history (a copied history with another seed?)"
            ))),
            Err(e @ CoreError::Corrupt { .. }) => Err(Failure::Impostor(format!("{peer_id}: {e}"))),
            Err(e) => Err(Failure::Transient(format!("{peer_id}: {e}"))),
        }
    }

    /// One `PeerApi.Recover` to `address`: the opened box, after the checks of the sender's
    /// root CA and mesh CA (see the module docs).
    async fn fetch(&self, address: &str) -> Result<Fetched, Failure> {
        let key = RecoveryChallengeKey::generate(&mut OsRng);
        let recipient = key.public_key();
        let tls_key = self.identity.spki_sha256();
        let evidence = {
            let provider = self.evidence.clone();
            tokio::task::spawn_blocking(move || provider.evidence(&tls_key, Some(&recipient)))
                .await
                .map_err(|e| Failure::Transient(format!("producing evidence: {e}")))?
                .map_err(|e| Failure::Transient(format!("producing evidence: {e}")))?
        };
        let core = self.core.clone();
        let stored = tokio::task::spawn_blocking(move || core.state_report())
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|r| r.latest);
        let observed = ObservedServer::default();
        let channel = connect(address, &self.identity, observed.clone())
            .await
            .map_err(Failure::Transient)?;
        let mut client = pb::peer_api_client::PeerApiClient::new(channel);
        let response = client
            .recover(pb::PeerRecoverRequest {
                replica_id: self.replica_id.clone(),
                recipient_public_key: recipient.to_vec(),
                evidence: Some(evidence),
                latest_transition_hash: stored.map(|d| d.as_bytes().to_vec()).unwrap_or_default(),
            })
            .await
            .map_err(|status| match Reason::of(&status) {
                Some(Reason::EvidenceRejected | Reason::InvalidArgument) => {
                    Failure::Refused(format!("{}: {}", status.code(), status.message()))
                }
                _ => Failure::Transient(format!("{}: {}", status.code(), status.message())),
            })?
            .into_inner();
        let peer_id = if seedward_etcd::validate_replica_id(&response.replica_id).is_ok() {
            response.replica_id.clone()
        } else {
            address.to_string()
        };
        if peer_id == self.replica_id {
            return Err(Failure::Transient("that address is this replica".into()));
        }
        let latest = Digest::from_slice(&response.latest_transition_hash)
            .map_err(|_| Failure::Refused("its latest_transition_hash is not 32 bytes".into()))?;
        let encapsulated_key: [u8; 32] = response
            .encapsulated_key
            .as_slice()
            .try_into()
            .map_err(|_| Failure::Refused("its encapsulated_key is not 32 bytes".into()))?;
        let secrets = open_peer_secrets(
            &key,
            latest.as_bytes(),
            &PeerBox {
                encapsulated_key,
                ciphertext: response.ciphertext,
            },
        )
        .map_err(|e| Failure::Refused(format!("{peer_id}: {e}")))?;
        // The server's certificate must be issued by the root CA of the seed it sent, and
        // its mesh CA must be the one its mesh secret derives.
        let engine = SeedEngine::new(&secrets.seed, &secrets.salt).map_err(|e| {
            Failure::Refused(format!("{peer_id}: the seed it sent is unusable: {e}"))
        })?;
        let root = CertificateAuthority::root(engine.root_ca_key())
            .map_err(|e| Failure::Transient(format!("building the root CA: {e}")))?;
        drop(engine);
        let leaf = observed.leaf().unwrap_or_default();
        if !signed_by(&leaf, root.cert().der.as_ref()) {
            return Err(Failure::Impostor(format!(
                "{peer_id}: its TLS certificate is not issued by the root CA of the seed it sent"
            )));
        }
        let mesh_key = mesh_ca_public_key(&secrets.mesh, &latest)
            .map_err(|e| Failure::Transient(e.to_string()))?;
        if mesh_ca_key_of(&response.mesh_ca_cert).as_deref() != Some(mesh_key.as_slice()) {
            return Err(Failure::Impostor(format!(
                "{peer_id}: its mesh CA certificate is not the one its mesh secret derives"
            )));
        }
        Ok(Fetched {
            peer_id,
            latest,
            secrets,
        })
    }
}

fn needs_keys(states: &watch::Receiver<StateView>) -> bool {
    matches!(
        states.borrow().name,
        StateName::RecoveryRequired | StateName::Stale
    )
}

/// The SEC1 public key of the first certificate in `pem`.
fn mesh_ca_key_of(pem: &str) -> Option<Vec<u8>> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&pem.contents).ok()?;
    Some(cert.public_key().subject_public_key.data.to_vec())
}

/// A mutual-TLS channel to `address` (`host:port`).
async fn connect(
    address: &str,
    identity: &TlsIdentity,
    observed: ObservedServer,
) -> Result<tonic::transport::Channel, String> {
    let uri: Uri = format!("http://{address}")
        .parse()
        .map_err(|_| format!("{address:?} is not host:port"))?;
    let host = uri.host().ok_or("no host")?.to_string();
    let tls = client_config(identity, observed).map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let server_name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
        .unwrap_or(ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()))
        .to_owned();
    let target = address.to_string();
    Endpoint::from(uri)
        .connect_timeout(Duration::from_secs(3))
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let connector = connector.clone();
            let server_name = server_name.clone();
            let target = target.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(target.as_str()).await?;
                tcp.set_nodelay(true)?;
                let tls = connector.connect(server_name, tcp).await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await
        .map_err(|e| {
            let mut out = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                out.push_str(": ");
                out.push_str(&s.to_string());
                source = s.source();
            }
            out
        })
}
