//! Presence: every replica keeps a record of itself in etcd under a lease, so that anyone
//! can list the replica set, and a replica that dies disappears from it on its own.
//!
//! # Wire format
//! Key `<prefix>/replicas/<id>`, value one JSON object ([`ReplicaRecord`]):
//!
//! ```json
//! {"id":"coordinator-0","address":"10.0.0.5:1313","peer_address":"10.0.0.5:1314",
//!  "state":"ready","generation":3,"latest":"<64 lowercase hex>","evidence_kind":"snp",
//!  "since_unix_ms":1767225600000,"last_error":null}
//! ```
//!
//! `state` is one of `uninitialized`, `ready`, `recovery_required`, `stale` (a reader maps
//! anything else to [`ReplicaState::Unknown`]); `peer_address`, `latest` and `last_error` may
//! be `null` or absent. Readers ignore fields they do not know, so fields can be added.
//!
//! # Invariants
//! - The record is attached to the replica's lease (TTL [`DEFAULT_PRESENCE_TTL`] unless
//!   configured). A background task renews it every third of the TTL; if the replica dies or
//!   loses etcd for longer than the TTL, etcd deletes the record.
//! - If the lease was lost anyway (etcd unreachable past the TTL, then back), the task grants
//!   a new lease and writes the current record again: presence heals itself.
//! - [`Presence::shutdown`] revokes the lease, deleting the record at once (a clean stop);
//!   dropping a [`Presence`] only stops renewing (the record expires after the TTL).
//! - Records hold no secret: ids, addresses, states, hashes, fixed error messages.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::pb::etcdserverpb as rpc;
use crate::{EtcdClient, EtcdError, LeaseId};

/// Default lease TTL of a presence record.
pub const DEFAULT_PRESENCE_TTL: Duration = Duration::from_secs(10);
/// Longest replica id (a DNS label set, like a hostname).
const MAX_ID_BYTES: usize = 253;

/// A replica's state as its record shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaState {
    Uninitialized,
    Ready,
    RecoveryRequired,
    Stale,
    /// A state this reader does not know (written by a newer replica).
    #[serde(other)]
    Unknown,
}

/// One replica's presence record (the JSON in the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaRecord {
    /// The replica's `--replica-id`; also the last segment of its key.
    pub id: String,
    /// Where clients reach its user API (`host:port`).
    pub address: String,
    /// Where peers reach its peer API, once it has one.
    #[serde(default)]
    pub peer_address: Option<String>,
    pub state: ReplicaState,
    /// Length of the history chain it serves (0 without history).
    pub generation: u64,
    /// Lowercase hex of the latest transition hash it knows; `None` without history.
    #[serde(default)]
    pub latest: Option<String>,
    /// Evidence kind it presents: `none`, `snp` or `tdx`.
    pub evidence_kind: String,
    /// When it entered `state`, milliseconds since the Unix epoch.
    pub since_unix_ms: u64,
    /// The last error an operator should see (a fixed, secret-free message), if any.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Who recovered this process last, if it was recovered (absent after a first set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_recovery: Option<RecoveryNote>,
    /// Lowercase hex SHA-256 of the SubjectPublicKeyInfo of the mesh CA it issues from,
    /// while ready: replicas at one latest must show the same (docs/HA.md, "One mesh CA").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh_ca: Option<String>,
}

/// Who recovered a replica, and when (docs/HA.md, "Who did what").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryNote {
    /// `owner` (a seed share owner's `Recover`) or `peer` (peer recovery).
    pub by: String,
    /// The owner key's fingerprint, or the serving peer's replica id.
    pub who: String,
    /// When it became ready, milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
}

/// An error of the presence API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PresenceError {
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    #[error(
        "`{0}` is not a usable replica id: use 1 to 253 ASCII letters, digits, `-`, `_` or `.` (a hostname); pass --replica-id"
    )]
    InvalidId(String),
    #[error("a presence update must keep the replica id `{registered}` (got `{got}`)")]
    IdChanged { registered: String, got: String },
    #[error("the presence record `{key}` is not valid JSON of a replica: {detail}")]
    Unreadable { key: String, detail: String },
}

impl ReplicaState {
    /// The name used in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaState::Uninitialized => "uninitialized",
            ReplicaState::Ready => "ready",
            ReplicaState::RecoveryRequired => "recovery_required",
            ReplicaState::Stale => "stale",
            ReplicaState::Unknown => "unknown",
        }
    }
}

/// Checks a replica id: 1–253 bytes of ASCII letters, digits, `-`, `_`, `.`; not `.`/`..`.
pub fn validate_replica_id(id: &str) -> Result<(), PresenceError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(PresenceError::InvalidId(id.chars().take(80).collect()))
    }
}

/// `<prefix>/replicas/`
fn replicas_prefix(prefix: &str) -> String {
    format!("{prefix}/replicas/")
}

/// Every live replica's record under `prefix`, sorted by id. Records that do not parse are
/// skipped with a warning naming their key (one broken writer must not hide the others).
pub async fn list_replicas(
    client: &EtcdClient,
    prefix: &str,
) -> Result<Vec<ReplicaRecord>, PresenceError> {
    let kvs = client
        .get_prefix(replicas_prefix(prefix).as_bytes())
        .await?;
    let mut records = Vec::with_capacity(kvs.len());
    for kv in kvs {
        match serde_json::from_slice::<ReplicaRecord>(&kv.value) {
            Ok(record) => records.push(record),
            Err(e) => tracing::warn!(
                key = %String::from_utf8_lossy(&kv.key),
                error = %e,
                "skipping an unreadable presence record"
            ),
        }
    }
    records.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(records)
}

/// This replica's registered presence: the lease, the record and the task renewing it.
pub struct Presence {
    client: EtcdClient,
    shared: Arc<Shared>,
    renewer: JoinHandle<()>,
}

/// What the renewing task and the owner share.
struct Shared {
    key: Vec<u8>,
    ttl: Duration,
    state: Mutex<PresenceState>,
}

struct PresenceState {
    lease: LeaseId,
    json: Vec<u8>,
    record: ReplicaRecord,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence")
            .field("key", &String::from_utf8_lossy(&self.shared.key))
            .field("ttl", &self.shared.ttl)
            .field("lease", &self.lease())
            .finish()
    }
}

impl Presence {
    /// Grants a lease of `ttl` (whole seconds, at least 1 s), writes `record` under
    /// `<prefix>/replicas/<record.id>` with it, and starts renewing it. A record left under
    /// the same id by a previous run of this replica (killed less than a TTL ago) is
    /// replaced; its old lease then expires without deleting the new record.
    pub async fn register(
        client: &EtcdClient,
        prefix: &str,
        record: ReplicaRecord,
        ttl: Duration,
    ) -> Result<Self, PresenceError> {
        validate_replica_id(&record.id)?;
        let key = format!("{}{}", replicas_prefix(prefix), record.id).into_bytes();
        let json = encode(&record);
        let (lease, _) = client.lease_grant(ttl).await?;
        if let Err(e) = put_record(client, &key, &json, lease).await {
            let _ = client.lease_revoke(lease).await;
            return Err(e.into());
        }
        let shared = Arc::new(Shared {
            key,
            ttl: ttl.max(Duration::from_secs(1)),
            state: Mutex::new(PresenceState {
                lease,
                json,
                record,
            }),
        });
        let renewer = tokio::spawn(renew(client.clone(), shared.clone()));
        Ok(Self {
            client: client.clone(),
            shared,
            renewer,
        })
    }

    /// Replaces the record (same id), under the current lease.
    pub async fn update(&self, record: ReplicaRecord) -> Result<(), PresenceError> {
        let json = encode(&record);
        let lease = {
            let mut state = self.shared.lock();
            if record.id != state.record.id {
                return Err(PresenceError::IdChanged {
                    registered: state.record.id.clone(),
                    got: record.id,
                });
            }
            state.json = json.clone();
            state.record = record;
            state.lease
        };
        put_record(&self.client, &self.shared.key, &json, lease).await?;
        Ok(())
    }

    /// The record as last set.
    pub fn record(&self) -> ReplicaRecord {
        self.shared.lock().record.clone()
    }

    /// The lease the record is attached to now (it changes if the lease had to be
    /// re-granted).
    pub fn lease(&self) -> LeaseId {
        self.shared.lock().lease
    }

    /// The record's etcd key.
    pub fn key(&self) -> String {
        String::from_utf8_lossy(&self.shared.key).into_owned()
    }

    /// Stops renewing and revokes the lease, which deletes the record at once.
    pub async fn shutdown(self) -> Result<(), PresenceError> {
        self.renewer.abort();
        let lease = self.lease();
        self.client.lease_revoke(lease).await?;
        Ok(())
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, PresenceState> {
        // Every critical section assigns whole fields; a panic cannot leave them half-set.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn encode(record: &ReplicaRecord) -> Vec<u8> {
    // Serializing a struct of strings, integers and options cannot fail; an empty record
    // would be skipped by readers rather than crash this replica.
    serde_json::to_vec(record).unwrap_or_default()
}

async fn put_record(
    client: &EtcdClient,
    key: &[u8],
    json: &[u8],
    lease: LeaseId,
) -> Result<(), EtcdError> {
    client.put(key, json, lease).await.map(|_| ())
}

/// Renews the lease every third of the TTL over one keep-alive stream; re-grants and
/// re-writes the record when the lease was lost (module docs). Runs until aborted or the
/// client is closed.
async fn renew(client: EtcdClient, shared: Arc<Shared>) {
    let every = (shared.ttl / 3).max(Duration::from_millis(300));
    let mut last_renewed = Instant::now();
    loop {
        if client.is_closed() {
            return;
        }
        match keep_alive(&client, &shared, every, &mut last_renewed).await {
            KeepAlive::Closed => return,
            KeepAlive::Expired => {
                tracing::warn!(key = %String::from_utf8_lossy(&shared.key), "the presence lease expired; granting a new one");
                if let Err(e) = regrant(&client, &shared).await {
                    tracing::warn!(error = %e, "cannot re-register presence; retrying");
                } else {
                    last_renewed = Instant::now();
                }
            }
            KeepAlive::Failed(reason) => {
                tracing::warn!(%reason, "presence keep-alive failed; reconnecting");
                // Past the TTL the lease is gone for sure: do not wait for etcd to say so.
                if last_renewed.elapsed() > shared.ttl && regrant(&client, &shared).await.is_ok() {
                    last_renewed = Instant::now();
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every.min(Duration::from_millis(500))) => {}
            _ = client.closed() => return,
        }
    }
}

enum KeepAlive {
    Closed,
    Expired,
    Failed(String),
}

async fn keep_alive(
    client: &EtcdClient,
    shared: &Shared,
    every: Duration,
    last_renewed: &mut Instant,
) -> KeepAlive {
    let first = rpc::LeaseKeepAliveRequest {
        id: shared.lock().lease,
    };
    let (requests, mut responses, endpoint) = match client.open_keep_alive(first).await {
        Ok(opened) => opened,
        Err(reason) => return KeepAlive::Failed(reason),
    };
    loop {
        let answer = tokio::select! {
            _ = client.closed() => return KeepAlive::Closed,
            answer = tokio::time::timeout(every, responses.message()) => answer,
        };
        match answer {
            Ok(Ok(Some(response))) if response.ttl > 0 => *last_renewed = Instant::now(),
            Ok(Ok(Some(_))) => return KeepAlive::Expired,
            Ok(Ok(None)) => {
                return KeepAlive::Failed(format!("{endpoint}: the keep-alive stream ended"));
            }
            Ok(Err(status)) => {
                return KeepAlive::Failed(format!(
                    "{endpoint}: {}",
                    crate::client::describe(&status)
                ));
            }
            Err(_) => {
                return KeepAlive::Failed(format!(
                    "{endpoint}: no keep-alive answer within {} ms",
                    every.as_millis()
                ));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = client.closed() => return KeepAlive::Closed,
        }
        let lease = shared.lock().lease;
        if requests
            .send(rpc::LeaseKeepAliveRequest { id: lease })
            .await
            .is_err()
        {
            return KeepAlive::Failed(format!("{endpoint}: the keep-alive stream closed"));
        }
    }
}

/// Grants a new lease and writes the current record under it.
async fn regrant(client: &EtcdClient, shared: &Shared) -> Result<(), EtcdError> {
    let (lease, _) = client.lease_grant(shared.ttl).await?;
    let json = {
        let mut state = shared.lock();
        state.lease = lease;
        state.json.clone()
    };
    put_record(client, &shared.key, &json, lease).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn record() -> ReplicaRecord {
        ReplicaRecord {
            id: "coordinator-0".into(),
            address: "10.0.0.5:1313".into(),
            peer_address: Some("10.0.0.5:1314".into()),
            state: ReplicaState::RecoveryRequired,
            generation: 3,
            latest: Some("ab".repeat(32)),
            evidence_kind: "snp".into(),
            since_unix_ms: 1_767_225_600_000,
            last_error: None,
            last_recovery: None,
            mesh_ca: None,
        }
    }

    #[test]
    fn record_json_is_the_documented_shape() {
        let json: serde_json::Value = serde_json::from_slice(&encode(&record())).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "coordinator-0", "address": "10.0.0.5:1313", "peer_address": "10.0.0.5:1314",
                "state": "recovery_required", "generation": 3, "latest": "ab".repeat(32),
                "evidence_kind": "snp", "since_unix_ms": 1_767_225_600_000u64, "last_error": null
            })
        );
    }

    #[test]
    fn readers_tolerate_new_fields_states_and_missing_options() {
        let parsed: ReplicaRecord = serde_json::from_str(
            r#"{"id":"b","address":"a:1","state":"draining","generation":0,
                "evidence_kind":"none","since_unix_ms":1,"new_field":true}"#,
        )
        .unwrap();
        assert_eq!(parsed.state, ReplicaState::Unknown);
        assert_eq!(
            (parsed.peer_address, parsed.latest, parsed.last_error),
            (None, None, None)
        );
    }

    #[test]
    fn replica_ids_are_hostname_like() {
        for good in ["coordinator-0", "a", "node_1.example", &"x".repeat(253)] {
            assert_eq!(validate_replica_id(good), Ok(()), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "ä", &"x".repeat(254)] {
            assert!(validate_replica_id(bad).is_err(), "{bad:?}");
        }
    }
}
