//! The replica set on etcd (`--store etcd`, docs/HA.md): this replica's leased presence
//! record, kept current with its state; the board of every replica's record that
//! `GetStatus` serves; and the watch that turns this replica stale within a second of a
//! foreign update of `transitions/latest`.
//!
//! One task does all three, so that nothing here ever holds the core's lock or blocks a
//! request: it reads the core's status on a blocking thread (which also checks the store's
//! latest pointer — the core's refresh), publishes the record, and reads the set.
//!
//! | trigger | what the task does |
//! |---|---|
//! | start | reads the status, registers the record on a lease of [`PRESENCE_TTL`] (retried with backoff while etcd is unreachable) |
//! | a state change of the core | re-reads the status, updates the record (a new `since`) |
//! | an event of the latest-pointer watch | re-reads the status: a transition that is not a descendant of ours makes this replica stale at once |
//! | every [`POLL_INTERVAL`] | re-reads the status and the set; updates the record if anything in it changed |
//! | shutdown (the server stopped) | revokes the lease: the record vanishes at once |

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use seedward_etcd::{
    DEFAULT_PRESENCE_TTL, EtcdClient, Presence, ReplicaRecord, ReplicaState, list_replicas,
};
use seedward_shared::history::{HistoryStore, LatestEvent, LatestWatch};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::core::view::StatusReport;
use crate::core::{Coordinator, StateView};
use crate::error::StateName;
use crate::recoveries::Recoveries;

/// How long a crashed replica's record outlives it.
pub const PRESENCE_TTL: Duration = DEFAULT_PRESENCE_TTL;
/// How often the record is checked and the set re-read without a trigger.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The longest one status read or etcd call of the task may take before it is logged and
/// skipped (the next trigger tries again).
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// What `GetStatus` shows of the replica set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaBoard {
    /// This replica's `--replica-id`.
    pub self_id: String,
    /// Every live record, sorted by id.
    pub replicas: Vec<ReplicaRecord>,
    /// When the set was last read successfully, ms since the Unix epoch; 0 = never.
    pub as_of_unix_ms: u64,
    /// Why the set may be out of date.
    pub error: Option<String>,
}

/// The replica set as this replica sees it; shared by the task and the user API.
#[derive(Debug)]
pub struct ReplicaSet {
    client: EtcdClient,
    prefix: String,
    id: String,
    advertise: String,
    /// Where peers reach this replica's peer API (`--peer-listen`), if it serves one.
    peer_address: Option<String>,
    /// Who recovered this process, for the record.
    recoveries: Arc<Recoveries>,
    board: Mutex<ReplicaBoard>,
}

impl ReplicaSet {
    /// `advertise` is the `host:port` other replicas and operators reach this one at.
    /// `peer_address` is where its peer API is reached, if it serves one.
    pub fn new(
        client: EtcdClient,
        prefix: &str,
        id: &str,
        advertise: String,
        peer_address: Option<String>,
        recoveries: Arc<Recoveries>,
    ) -> Arc<Self> {
        Arc::new(Self {
            client,
            prefix: prefix.to_string(),
            id: id.to_string(),
            advertise,
            peer_address,
            recoveries,
            board: Mutex::new(ReplicaBoard {
                self_id: id.to_string(),
                ..ReplicaBoard::default()
            }),
        })
    }

    /// The board as last read.
    pub fn board(&self) -> ReplicaBoard {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, ReplicaBoard> {
        // Every change is one assignment: a poisoned lock still holds a whole board.
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the task (see the module docs). It ends, revoking the lease, when `stop`
    /// fires or is dropped (the server stopped).
    pub fn spawn<S: HistoryStore + 'static>(
        self: Arc<Self>,
        core: Arc<Coordinator<S>>,
        latest_watch: Option<Box<dyn LatestWatch>>,
        evidence_kind: &'static str,
        stop: oneshot::Receiver<()>,
    ) -> JoinHandle<()> {
        let states = core.subscribe();
        tokio::spawn(async move {
            Task {
                set: self,
                core,
                evidence_kind,
                state_since: None,
                last_error: None,
            }
            .run(states, latest_watch, stop)
            .await;
        })
    }

    async fn refresh_board(&self) {
        match tokio::time::timeout(STEP_TIMEOUT, list_replicas(&self.client, &self.prefix)).await {
            Ok(Ok(replicas)) => {
                let mut board = self.lock();
                board.replicas = replicas;
                board.as_of_unix_ms = now_ms();
                board.error = None;
            }
            Ok(Err(e)) => self.lock().error = Some(format!("cannot read the replica set: {e}")),
            Err(_) => {
                self.lock().error = Some(format!(
                    "reading the replica set took longer than {} s",
                    STEP_TIMEOUT.as_secs()
                ));
            }
        }
    }
}

struct Task<S: HistoryStore + 'static> {
    set: Arc<ReplicaSet>,
    core: Arc<Coordinator<S>>,
    evidence_kind: &'static str,
    /// The state of the record and when it was entered.
    state_since: Option<(StateName, u64)>,
    /// The last status read that failed, reported in the record.
    last_error: Option<String>,
}

impl<S: HistoryStore + 'static> Task<S> {
    async fn run(
        mut self,
        mut states: watch::Receiver<StateView>,
        mut latest_watch: Option<Box<dyn LatestWatch>>,
        mut stop: oneshot::Receiver<()>,
    ) {
        let mut presence: Option<Presence> = None;
        let mut backoff = Duration::from_millis(250);
        let mut next_register = tokio::time::Instant::now();
        let mut ticker = tokio::time::interval(POLL_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let record = self.record().await;
            match &presence {
                Some(p) if p.record() == record => {}
                Some(p) => {
                    if let Err(e) = with_timeout(p.update(record)).await {
                        tracing::warn!(error = %e, "cannot update this replica's presence record; retrying");
                    }
                }
                None if tokio::time::Instant::now() >= next_register => {
                    match with_timeout(Presence::register(
                        &self.set.client,
                        &self.set.prefix,
                        record,
                        PRESENCE_TTL,
                    ))
                    .await
                    {
                        Ok(p) => {
                            tracing::info!(key = %p.key(), ttl_s = PRESENCE_TTL.as_secs(), "presence registered in the replica set");
                            presence = Some(p);
                            backoff = Duration::from_millis(250);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot register this replica's presence; retrying");
                            next_register = tokio::time::Instant::now() + backoff;
                            backoff = (backoff * 2).min(Duration::from_secs(10));
                        }
                    }
                }
                None => {}
            }
            self.set.refresh_board().await;

            tokio::select! {
                _ = &mut stop => break,
                changed = states.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                event = next_event(&mut latest_watch) => match event {
                    Some(LatestEvent::Interrupted { reason }) => {
                        tracing::warn!(%reason, "the watch of transitions/latest was interrupted; polling meanwhile");
                    }
                    Some(_) => {
                        tracing::debug!("transitions/latest changed in the store; re-checking");
                    }
                    None => {
                        tracing::warn!("the watch of transitions/latest ended; polling every {} s instead", POLL_INTERVAL.as_secs());
                        latest_watch = None;
                    }
                },
                _ = ticker.tick() => {}
            }
        }
        if let Some(p) = presence {
            match with_timeout(p.shutdown()).await {
                Ok(()) => tracing::info!("presence record removed from the replica set"),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot remove the presence record; it expires with its lease")
                }
            }
        }
    }

    /// This replica's record now. Reading the status runs the core's check of the store's
    /// latest pointer, which is what makes a replica stale after a foreign update.
    async fn record(&mut self) -> ReplicaRecord {
        let core = self.core.clone();
        let read = tokio::time::timeout(
            STEP_TIMEOUT,
            tokio::task::spawn_blocking(move || core.state_report()),
        )
        .await;
        let report: Option<StatusReport> = match read {
            Ok(Ok(Ok(report))) => {
                self.last_error = None;
                Some(report)
            }
            Ok(Ok(Err(e))) => {
                self.last_error = Some(format!("status: {}", e.reason()));
                None
            }
            Ok(Err(_)) => {
                self.last_error = Some("status: the read did not complete".into());
                None
            }
            Err(_) => {
                self.last_error = Some(format!(
                    "status: the store did not answer within {} s",
                    STEP_TIMEOUT.as_secs()
                ));
                None
            }
        };
        let name = report
            .as_ref()
            .map(|r| r.state)
            .unwrap_or_else(|| self.core.state_name());
        let since = match self.state_since {
            Some((known, since)) if known == name => since,
            _ => {
                let now = now_ms();
                self.state_since = Some((name, now));
                now
            }
        };
        let previous = self
            .set
            .lock()
            .replicas
            .iter()
            .find(|r| r.id == self.set.id)
            .cloned();
        ReplicaRecord {
            id: self.set.id.clone(),
            address: self.set.advertise.clone(),
            peer_address: self.set.peer_address.clone(),
            state: replica_state(name),
            generation: report
                .as_ref()
                .map(|r| r.generation)
                .or(previous.as_ref().map(|r| r.generation))
                .unwrap_or(0),
            latest: report
                .as_ref()
                .and_then(|r| r.latest)
                .map(|d| d.to_string())
                .or_else(|| previous.and_then(|r| r.latest)),
            evidence_kind: self.evidence_kind.to_string(),
            since_unix_ms: since,
            last_error: self.last_error.clone(),
            // Only while ready: a process that lost its keys again was not recovered.
            last_recovery: (name == StateName::Ready)
                .then(|| self.set.recoveries.last())
                .flatten(),
            mesh_ca: report
                .as_ref()
                .and_then(|r| r.mesh_ca_pem.as_deref())
                .and_then(mesh_ca_fingerprint),
        }
    }
}

async fn next_event(watch: &mut Option<Box<dyn LatestWatch>>) -> Option<LatestEvent> {
    match watch {
        Some(w) => w.next().await,
        None => std::future::pending().await,
    }
}

async fn with_timeout<T, E: std::fmt::Display>(
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(STEP_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "etcd did not answer within {} s",
            STEP_TIMEOUT.as_secs()
        )),
    }
}

/// Lowercase hex SHA-256 of the SubjectPublicKeyInfo of the first certificate in `pem`.
pub fn mesh_ca_fingerprint(pem: &str) -> Option<String> {
    use sha2::Digest as _;
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&pem.contents).ok()?;
    Some(hex::encode(sha2::Sha256::digest(cert.public_key().raw)))
}

fn replica_state(name: StateName) -> ReplicaState {
    match name {
        StateName::Uninitialized => ReplicaState::Uninitialized,
        StateName::Ready => ReplicaState::Ready,
        StateName::RecoveryRequired => ReplicaState::RecoveryRequired,
        StateName::Stale => ReplicaState::Stale,
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
