//! [`EtcdStore`]: the manifest history in etcd, for several Coordinator replicas.
//!
//! # Keys
//! Every history key `K` (see [`seedward_shared::history::store`]) is stored as the etcd key
//! `<prefix>/history/K` with exactly the bytes the filesystem store keeps in the file `K`:
//!
//! | etcd key | value |
//! |---|---|
//! | `<prefix>/history/manifests/<hex>` | the manifest bytes |
//! | `<prefix>/history/policies/<hex>` | the policy document |
//! | `<prefix>/history/transitions/<hex>` | the 64-byte transition blob |
//! | `<prefix>/history/transitions/latest` | transition hash ‖ DER signature |
//!
//! The prefix (default `/seedward`) starts with `/`, has no trailing `/` and no empty, `.` or
//! `..` segments, so one etcd cluster can hold several independent deployments side by side.
//! Presence records live next to the history, under `<prefix>/replicas/` ([`crate::presence`]).
//!
//! # Invariants
//! - `compare_and_swap` is **one** etcd transaction:
//!   `If(value(k) == old)` — or `If(create_revision(k) == 0)` when `old` is `None` —
//!   `Then(Put(k, new))`, `Else(Range(k))`; the `Else` answer becomes
//!   [`StoreError::Conflict`] with the value found. etcd fails a value comparison on a
//!   missing key, so `Some(b"")` (an existing empty value) and `None` stay different.
//! - A retried transaction whose first attempt may have been applied (its answer was lost
//!   to a leader change) and that then finds exactly `new` stored reports success: that
//!   value can only be its own write or an identical one, and the caller wanted it there.
//!   Without a retry, finding `new` is a conflict like any other value.
//! - `set` reads first and writes only when the stored bytes differ, so re-storing an
//!   unchanged content-addressed blob (a policy kept across updates) costs one read and
//!   makes no new etcd revision.
//! - Values are refused *before* anything is sent when a request would pass etcd's
//!   `--max-request-bytes` ([`StoreError::TooLarge`], naming the limit and the flags that
//!   raise it): [`EtcdStore::max_value_bytes`] = max request bytes − 4 KiB for the key and
//!   the request envelope. For `compare_and_swap` the limit applies to old and new together
//!   (both travel in the transaction); only the small latest pointer is ever swapped.
//! - Every call is bounded by the client's request timeout (failover included) and fails
//!   with [`StoreError::Io`] naming the endpoints and the last error: a partitioned etcd
//!   never hangs the Coordinator.
//! - The history layer writes blobs before it moves the pointer ([`History::append`]); this
//!   store adds no ordering of its own and needs none (each call completes before the next).
//!
//! [`History::append`]: seedward_shared::history::History::append

use std::future::Future;
use std::time::Duration;

use seedward_shared::history::{HistoryStore, StoreError, StoreKey};
use tokio::runtime::Handle;

use crate::error::REMEDY;
use crate::pb::etcdserverpb as rpc;
use crate::{EtcdClient, EtcdConfig, EtcdError};

/// Bytes of every request reserved for the key and the request envelope; the rest of
/// `--max-request-bytes` is for the value.
pub(crate) const REQUEST_OVERHEAD_BYTES: usize = 4096;
/// Longest accepted prefix (it is part of every key).
const MAX_PREFIX_BYTES: usize = 512;
/// How much longer than the client's own deadline a blocked caller waits for an answer
/// before it gives up on the runtime itself (a stuck or stopping runtime).
const RUNTIME_GRACE: Duration = Duration::from_secs(2);

/// A [`HistoryStore`] on etcd. See the module docs for keys, limits and invariants.
#[derive(Debug, Clone)]
pub struct EtcdStore {
    client: EtcdClient,
    prefix: String,
    handle: Handle,
}

impl EtcdStore {
    /// A store under `prefix` using `client`, whose calls run on the runtime behind
    /// `handle` (the one the client was created in). No I/O.
    pub fn new(client: EtcdClient, prefix: &str, handle: Handle) -> Result<Self, EtcdError> {
        validate_prefix(prefix)?;
        Ok(Self {
            client,
            prefix: prefix.to_owned(),
            handle,
        })
    }

    /// Creates the client (inside the current runtime), and checks that etcd answers by
    /// reading the latest pointer, so that a wrong endpoint or a dead cluster is reported at
    /// start-up, with the endpoints, rather than at the first request.
    pub async fn connect(config: &EtcdConfig, prefix: &str) -> Result<Self, EtcdError> {
        let client = EtcdClient::new(config)?;
        let store = Self::new(client, prefix, Handle::current())?;
        store.client.get(store.latest_key().as_bytes()).await?;
        Ok(store)
    }

    pub fn client(&self) -> &EtcdClient {
        &self.client
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The runtime the store's calls run on.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The etcd key of a history key: `<prefix>/history/<key>`.
    pub fn etcd_key(&self, key: &StoreKey) -> String {
        format!("{}/history/{key}", self.prefix)
    }

    /// `<prefix>/history/transitions/latest`.
    pub fn latest_key(&self) -> String {
        self.etcd_key(&StoreKey::latest())
    }

    /// The largest value `set` accepts (module docs).
    pub fn max_value_bytes(&self) -> usize {
        self.client
            .max_request_bytes()
            .saturating_sub(REQUEST_OVERHEAD_BYTES)
    }

    fn check_size(&self, key: &StoreKey, size: usize) -> Result<(), StoreError> {
        let limit = self.max_value_bytes();
        if size > limit {
            return Err(too_large(key, size, limit));
        }
        Ok(())
    }

    /// Runs `future` on the store's runtime and waits for it on this (blocking) thread.
    fn run<T: Send + 'static>(
        &self,
        key: &StoreKey,
        future: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(future.await);
        });
        match rx.recv_timeout(self.client.request_timeout() + RUNTIME_GRACE) {
            Ok(result) => result,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(StoreError::Io {
                key: key.to_string(),
                message: "the etcd call did not finish in time (the Coordinator's runtime is overloaded or stopping)".into(),
            }),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(StoreError::Io {
                key: key.to_string(),
                message: "the etcd call was dropped (the Coordinator is shutting down)".into(),
            }),
        }
    }
}

impl HistoryStore for EtcdStore {
    fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        let client = self.client.clone();
        let etcd_key = self.etcd_key(key);
        let k = key.clone();
        self.run(key, async move {
            let (kv, _) = client
                .get(etcd_key.as_bytes())
                .await
                .map_err(|e| store_error(&k, e))?;
            Ok(kv.map(|kv| kv.value))
        })
    }

    fn set(&self, key: &StoreKey, value: &[u8]) -> Result<(), StoreError> {
        self.check_size(key, value.len())?;
        let client = self.client.clone();
        let etcd_key = self.etcd_key(key);
        let value = value.to_vec();
        let k = key.clone();
        self.run(key, async move {
            let (stored, _) = client
                .get(etcd_key.as_bytes())
                .await
                .map_err(|e| store_error(&k, e))?;
            if stored.is_some_and(|kv| kv.value == value) {
                return Ok(());
            }
            client
                .put(etcd_key.as_bytes(), &value, 0)
                .await
                .map_err(|e| store_error(&k, e))?;
            Ok(())
        })
    }

    fn compare_and_swap(
        &self,
        key: &StoreKey,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<(), StoreError> {
        self.check_size(key, old.map_or(0, <[u8]>::len) + new.len())?;
        let client = self.client.clone();
        let etcd_key = self.etcd_key(key).into_bytes();
        let request = cas_request(etcd_key, old, new);
        let new = new.to_vec();
        let k = key.clone();
        self.run(key, async move {
            let (response, retried) = client
                .txn(request)
                .await
                .map_err(|e| store_error(&k, e))?;
            if response.succeeded {
                return Ok(());
            }
            let current = conflict_value(response).map_err(|e| store_error(&k, e))?;
            if retried && current.as_deref() == Some(new.as_slice()) {
                tracing::info!(key = %k, "a retried compare-and-swap found its own value: the lost attempt was applied");
                return Ok(());
            }
            Err(StoreError::Conflict { current })
        })
    }
}

/// The one transaction of `compare_and_swap` (module docs).
fn cas_request(key: Vec<u8>, old: Option<&[u8]>, new: &[u8]) -> rpc::TxnRequest {
    use rpc::compare::{CompareResult, CompareTarget, TargetUnion};
    let compare = match old {
        None => rpc::Compare {
            result: CompareResult::Equal as i32,
            target: CompareTarget::Create as i32,
            key: key.clone(),
            target_union: Some(TargetUnion::CreateRevision(0)),
            range_end: Vec::new(),
        },
        Some(old) => rpc::Compare {
            result: CompareResult::Equal as i32,
            target: CompareTarget::Value as i32,
            key: key.clone(),
            target_union: Some(TargetUnion::Value(old.to_vec())),
            range_end: Vec::new(),
        },
    };
    let put = rpc::RequestOp {
        request: Some(rpc::request_op::Request::RequestPut(rpc::PutRequest {
            key: key.clone(),
            value: new.to_vec(),
            ..Default::default()
        })),
    };
    let get = rpc::RequestOp {
        request: Some(rpc::request_op::Request::RequestRange(rpc::RangeRequest {
            key,
            ..Default::default()
        })),
    };
    rpc::TxnRequest {
        compare: vec![compare],
        success: vec![put],
        failure: vec![get],
    }
}

/// The value the `Else(Range(k))` branch found.
fn conflict_value(response: rpc::TxnResponse) -> Result<Option<Vec<u8>>, EtcdError> {
    let range = response
        .responses
        .into_iter()
        .next()
        .and_then(|op| match op.response {
            Some(rpc::response_op::Response::ResponseRange(range)) => Some(range),
            _ => None,
        })
        .ok_or_else(|| EtcdError::Protocol {
            op: "a compare-and-swap",
            detail: "the failed transaction carries no read of the key".into(),
        })?;
    Ok(range.kvs.into_iter().next().map(|kv| kv.value))
}

fn too_large(key: &StoreKey, size: usize, limit: usize) -> StoreError {
    StoreError::TooLarge {
        key: key.to_string(),
        size,
        limit,
        remedy: format!("the etcd store keeps each value in one etcd request; {REMEDY}"),
    }
}

/// Turns a client error into the store's: size errors stay typed, everything else is I/O
/// with the client's message (endpoints and last error; never a value).
fn store_error(key: &StoreKey, err: EtcdError) -> StoreError {
    match err {
        EtcdError::TooLarge { size, limit, .. } => too_large(key, size, limit),
        EtcdError::Rejected { ref message, .. } if message.contains("request is too large") => {
            StoreError::TooLarge {
                key: key.to_string(),
                size: 0,
                limit: 0,
                remedy: format!(
                    "etcd itself refused the request as too large, so its --max-request-bytes is lower than the Coordinator's --etcd-max-request-bytes; {REMEDY}"
                ),
            }
        }
        other => StoreError::Io {
            key: key.to_string(),
            message: other.to_string(),
        },
    }
}

/// Checks a key prefix against the rules in the module docs.
pub fn validate_prefix(prefix: &str) -> Result<(), EtcdError> {
    let bad = |why: &str| {
        Err(EtcdError::Config(format!(
            "--etcd-prefix `{}` {why}; use something like `/seedward` or `/prod/seedward`",
            prefix.chars().take(80).collect::<String>()
        )))
    };
    if prefix.len() > MAX_PREFIX_BYTES {
        return bad("is too long");
    }
    let Some(rest) = prefix.strip_prefix('/') else {
        return bad("must start with `/`");
    };
    for segment in rest.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return bad("has an empty, `.` or `..` segment (or a trailing `/`)");
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return bad("may hold only ASCII letters, digits, `-`, `_`, `.` and `/`");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_checked() {
        for good in ["/seedward", "/a/b", "/prod-1/seed_ward.v2"] {
            assert_eq!(validate_prefix(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "/",
            "seedward",
            "/seedward/",
            "//x",
            "/a//b",
            "/a/../b",
            "/a b",
            "/ä",
        ] {
            assert!(validate_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cas_is_one_transaction_with_the_documented_shape() {
        use rpc::compare::{CompareTarget, TargetUnion};
        let none = cas_request(b"k".to_vec(), None, b"new");
        assert_eq!(none.compare.len(), 1);
        assert_eq!(none.compare[0].target, CompareTarget::Create as i32);
        assert_eq!(
            none.compare[0].target_union,
            Some(TargetUnion::CreateRevision(0))
        );
        let empty = cas_request(b"k".to_vec(), Some(b""), b"new");
        assert_eq!(empty.compare[0].target, CompareTarget::Value as i32);
        assert_eq!(
            empty.compare[0].target_union,
            Some(TargetUnion::Value(Vec::new()))
        );
        assert!(matches!(
            empty.success[0].request,
            Some(rpc::request_op::Request::RequestPut(ref p)) if p.value == b"new" && p.key == b"k"
        ));
        assert!(matches!(
            empty.failure[0].request,
            Some(rpc::request_op::Request::RequestRange(ref r)) if r.key == b"k" && r.range_end.is_empty()
        ));
    }

    #[test]
    fn size_errors_name_the_limit_and_the_flags() {
        let key = StoreKey::latest();
        let err = too_large(&key, 2_000_000, 1_568_768).to_string();
        for needle in [
            "2000000",
            "1568768",
            "--max-request-bytes",
            "--etcd-max-request-bytes",
            "transitions/latest",
        ] {
            assert!(err.contains(needle), "{needle} missing from: {err}");
        }
    }
}
