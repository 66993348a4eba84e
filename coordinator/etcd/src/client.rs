//! [`EtcdClient`]: the few etcd v3 calls Seedward needs, typed, each bounded in time and
//! failing over between endpoints.
//!
//! # Failover and deadlines
//! The client keeps one lazily connected HTTP/2 channel per endpoint and sends each call to
//! the *preferred* one. A call that fails in a way another member could fix (connection
//! refused or reset, no answer in time, `etcdserver: no leader`, `leader changed`, `request
//! timed out`, too many requests) moves the preference to the next endpoint and is retried
//! there, with a short pause after each full round, until the call's deadline
//! ([`EtcdConfig::request_timeout`]) has passed; then it fails with
//! [`EtcdError::Unavailable`]. One attempt never takes more than half of the deadline, so a
//! member that accepts connections but never answers cannot use up a whole call.
//!
//! Every request carries etcd's `hasleader` metadata (clientv3's `WithRequireLeader`): a
//! member cut off from the leader refuses at once instead of queueing the request until its
//! own timeout, and cancels watch and keep-alive streams when it loses its leader, so they
//! move to a member that has one.
//!
//! # Retried writes
//! A write whose answer was lost may have been applied. [`EtcdClient::txn`] therefore says
//! whether an earlier attempt of the same call may have reached etcd, so that the caller can
//! tell "my own earlier attempt won" from "someone else won" (see
//! [`crate::store`]'s compare-and-swap).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Request, Status, Streaming};

use crate::pb::etcdserverpb as rpc;
use crate::{EtcdConfig, EtcdError};

pub use crate::pb::mvccpb::KeyValue;

/// An etcd lease ID.
pub type LeaseId = i64;

/// etcd's metadata key for "refuse unless you have a leader" (clientv3 `WithRequireLeader`).
const REQUIRE_LEADER_KEY: &str = "hasleader";
/// HTTP/2 pings on open streams. etcd's `--grpc-keepalive-min-time` (5 s) closes connections
/// that ping more often, and pings without an open stream are refused, hence the spacing
/// and no idle pings. A dead peer (no RST: a partition) is noticed after interval + timeout.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(6);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(3);
/// The pause after every full round of failed attempts grows by this much, up to
/// [`MAX_BACKOFF`].
const BACKOFF_STEP: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// The smallest per-attempt bound, whatever the call's deadline.
const MIN_ATTEMPT: Duration = Duration::from_millis(500);

/// A cheaply cloneable etcd v3 client; clones share connections and the endpoint preference.
#[derive(Clone)]
pub struct EtcdClient {
    inner: Arc<Inner>,
}

struct Inner {
    members: Vec<Member>,
    preferred: AtomicUsize,
    request_timeout: Duration,
    max_request_bytes: usize,
    closed: watch::Sender<bool>,
}

struct Member {
    url: String,
    channel: Channel,
}

impl std::fmt::Debug for EtcdClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdClient")
            .field("endpoints", &self.endpoints())
            .field("request_timeout", &self.inner.request_timeout)
            .finish_non_exhaustive()
    }
}

impl EtcdClient {
    /// Prepares connections to every endpoint without connecting (no I/O: an unreachable
    /// cluster shows at the first call). Must be called inside a Tokio runtime, which then
    /// drives the connections.
    pub fn new(config: &EtcdConfig) -> Result<Self, EtcdError> {
        config.validate()?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(EtcdError::Config(
                "EtcdClient::new must be called inside a Tokio runtime".into(),
            ));
        }
        let tls = match &config.tls {
            None => None,
            Some(tls) => {
                let mut tls_config =
                    ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&tls.ca_pem));
                if let Some(client) = &tls.client {
                    tls_config =
                        tls_config.identity(Identity::from_pem(&client.cert_pem, &client.key_pem));
                }
                Some(tls_config)
            }
        };
        let mut members = Vec::with_capacity(config.endpoints.len());
        for url in &config.endpoints {
            let mut endpoint = Endpoint::from_shared(url.clone())
                .map_err(|e| {
                    EtcdError::Config(format!("etcd endpoint `{url}` is not a valid URL: {e}"))
                })?
                .connect_timeout(config.connect_timeout)
                .tcp_nodelay(true)
                .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
                .keep_alive_timeout(KEEPALIVE_TIMEOUT)
                .keep_alive_while_idle(false);
            if let Some(tls) = &tls {
                endpoint = endpoint.tls_config(tls.clone()).map_err(|e| {
                    EtcdError::Config(format!(
                        "cannot use the TLS files for etcd endpoint `{url}`: {}; check --etcd-ca, --etcd-cert and --etcd-key (PEM)",
                        error_chain(&e)
                    ))
                })?;
            }
            members.push(Member {
                url: url.clone(),
                channel: endpoint.connect_lazy(),
            });
        }
        let (closed, _) = watch::channel(false);
        Ok(Self {
            inner: Arc::new(Inner {
                members,
                preferred: AtomicUsize::new(0),
                request_timeout: config.request_timeout,
                max_request_bytes: config.max_request_bytes,
                closed,
            }),
        })
    }

    pub fn endpoints(&self) -> Vec<&str> {
        self.inner.members.iter().map(|m| m.url.as_str()).collect()
    }

    /// The bound of one call, retries and failover included.
    pub fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    /// The etcd members' `--max-request-bytes`, as configured.
    pub fn max_request_bytes(&self) -> usize {
        self.inner.max_request_bytes
    }

    /// Ends every watch and keep-alive of this client (and its clones); later calls fail
    /// with [`EtcdError::Closed`]. Leases are not revoked here: see
    /// [`crate::Presence::shutdown`].
    pub fn close(&self) {
        self.inner.closed.send_replace(true);
    }

    pub fn is_closed(&self) -> bool {
        *self.inner.closed.borrow()
    }

    /// Resolves once [`close`](Self::close) was called.
    pub(crate) async fn closed(&self) {
        let mut rx = self.inner.closed.subscribe();
        // An error means the sender is gone, which cannot happen while `self` holds it.
        let _ = rx.wait_for(|closed| *closed).await;
    }

    /// The value of `key` and the store revision it was read at (linearizable).
    pub async fn get(&self, key: &[u8]) -> Result<(Option<KeyValue>, i64), EtcdError> {
        let request = rpc::RangeRequest {
            key: key.to_vec(),
            ..Default::default()
        };
        let (response, _) = self
            .unary("a read", request, |channel, request| async move {
                rpc::kv_client::KvClient::new(channel).range(request).await
            })
            .await?;
        let revision = response.header.map_or(0, |h| h.revision);
        Ok((response.kvs.into_iter().next(), revision))
    }

    /// Every key under `prefix`, in key order (linearizable).
    pub async fn get_prefix(&self, prefix: &[u8]) -> Result<Vec<KeyValue>, EtcdError> {
        let request = rpc::RangeRequest {
            key: prefix.to_vec(),
            range_end: prefix_end(prefix),
            ..Default::default()
        };
        let (response, _) = self
            .unary("a prefix read", request, |channel, request| async move {
                rpc::kv_client::KvClient::new(channel).range(request).await
            })
            .await?;
        Ok(response.kvs)
    }

    /// Puts `value` under `key`, attached to `lease` (0: none). Returns the new revision.
    pub async fn put(&self, key: &[u8], value: &[u8], lease: LeaseId) -> Result<i64, EtcdError> {
        let request = rpc::PutRequest {
            key: key.to_vec(),
            value: value.to_vec(),
            lease,
            ..Default::default()
        };
        let (response, _) = self
            .unary("a write", request, |channel, request| async move {
                rpc::kv_client::KvClient::new(channel).put(request).await
            })
            .await?;
        Ok(response.header.map_or(0, |h| h.revision))
    }

    /// Deletes `key`; returns how many keys were deleted (0 or 1).
    pub async fn delete(&self, key: &[u8]) -> Result<i64, EtcdError> {
        let request = rpc::DeleteRangeRequest {
            key: key.to_vec(),
            ..Default::default()
        };
        let (response, _) = self
            .unary("a delete", request, |channel, request| async move {
                rpc::kv_client::KvClient::new(channel)
                    .delete_range(request)
                    .await
            })
            .await?;
        Ok(response.deleted)
    }

    /// Runs one transaction. The `bool` is true when an earlier attempt of this same call
    /// failed in a way that leaves open whether etcd applied it (see the module docs).
    pub async fn txn(
        &self,
        request: rpc::TxnRequest,
    ) -> Result<(rpc::TxnResponse, bool), EtcdError> {
        self.unary("a transaction", request, |channel, request| async move {
            rpc::kv_client::KvClient::new(channel).txn(request).await
        })
        .await
    }

    /// Compacts etcd's key-value history up to `revision`: older revisions are gone, and a
    /// watch asking for them is cancelled with the compaction revision.
    pub async fn compact(&self, revision: i64) -> Result<(), EtcdError> {
        let request = rpc::CompactionRequest {
            revision,
            physical: true,
        };
        self.unary("a compaction", request, |channel, request| async move {
            rpc::kv_client::KvClient::new(channel)
                .compact(request)
                .await
        })
        .await?;
        Ok(())
    }

    /// Grants a lease of `ttl` (whole seconds, at least one). Returns its ID and the TTL etcd
    /// granted.
    pub async fn lease_grant(&self, ttl: Duration) -> Result<(LeaseId, Duration), EtcdError> {
        let request = rpc::LeaseGrantRequest {
            ttl: ttl.as_secs().max(1) as i64,
            id: 0,
        };
        let (response, _) = self
            .unary("a lease grant", request, |channel, request| async move {
                rpc::lease_client::LeaseClient::new(channel)
                    .lease_grant(request)
                    .await
            })
            .await?;
        if !response.error.is_empty() {
            return Err(EtcdError::Rejected {
                op: "a lease grant",
                code: "LeaseGrant".into(),
                message: response.error,
            });
        }
        Ok((response.id, Duration::from_secs(response.ttl.max(0) as u64)))
    }

    /// Revokes `lease`, deleting every key attached to it. A lease that no longer exists
    /// (expired) is not an error.
    pub async fn lease_revoke(&self, lease: LeaseId) -> Result<(), EtcdError> {
        let request = rpc::LeaseRevokeRequest { id: lease };
        match self
            .unary("a lease revoke", request, |channel, request| async move {
                rpc::lease_client::LeaseClient::new(channel)
                    .lease_revoke(request)
                    .await
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(EtcdError::Rejected { code, .. }) if code == format!("{:?}", Code::NotFound) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// `Maintenance.Status` of the member at `index` in the endpoint list, without failover
    /// (its member ID, the leader's member ID, its raft term): tells who leads.
    pub async fn member_status(&self, index: usize) -> Result<rpc::StatusResponse, EtcdError> {
        let member = self
            .inner
            .members
            .get(index)
            .ok_or_else(|| EtcdError::Config(format!("no etcd endpoint number {index}")))?;
        let budget = self.inner.request_timeout;
        let mut request = Request::new(rpc::StatusRequest {});
        request.set_timeout(budget);
        let mut client = rpc::maintenance_client::MaintenanceClient::new(member.channel.clone());
        match tokio::time::timeout(budget, client.status(request)).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(EtcdError::Unavailable {
                op: "a member status",
                endpoints: member.url.clone(),
                timeout: budget,
                last: describe(&status),
            }),
            Err(_) => Err(EtcdError::Unavailable {
                op: "a member status",
                endpoints: member.url.clone(),
                timeout: budget,
                last: "no answer".into(),
            }),
        }
    }

    /// Opens a watch stream on the preferred member and waits (at most one attempt's bound)
    /// until etcd confirms the watch. On failure the preference moves on, so the caller's
    /// next try goes elsewhere. Returns the request sender (keep it: dropping it ends the
    /// stream), the response stream, and the endpoint used.
    pub(crate) async fn open_watch(
        &self,
        create: rpc::WatchCreateRequest,
    ) -> Result<
        (
            mpsc::Sender<rpc::WatchRequest>,
            Streaming<rpc::WatchResponse>,
            String,
        ),
        String,
    > {
        let (index, member) = self.preferred();
        let budget = self.attempt_bound(self.inner.request_timeout);
        let (tx, rx) = mpsc::channel(4);
        let first = rpc::WatchRequest {
            request_union: Some(rpc::watch_request::RequestUnion::CreateRequest(create)),
        };
        if tx.send(first).await.is_err() {
            return Err("the watch request channel closed".into());
        }
        let mut request = Request::new(ReceiverStream::new(rx));
        request
            .metadata_mut()
            .insert(REQUIRE_LEADER_KEY, MetadataValue::from_static("true"));
        let opened = tokio::time::timeout(budget, async {
            let mut stream = rpc::watch_client::WatchClient::new(member.channel.clone())
                .watch(request)
                .await
                .map_err(|s| describe(&s))?
                .into_inner();
            match stream.message().await {
                Ok(Some(response)) if response.created && !response.canceled => {
                    Ok((stream, response))
                }
                Ok(Some(response)) => Err(format!(
                    "the watch was not created: {}",
                    if response.cancel_reason.is_empty() {
                        "no reason given".to_owned()
                    } else {
                        response.cancel_reason
                    }
                )),
                Ok(None) => Err("the watch stream ended at once".into()),
                Err(status) => Err(describe(&status)),
            }
        })
        .await;
        match opened {
            Ok(Ok((stream, _created))) => Ok((tx, stream, member.url.clone())),
            Ok(Err(e)) => {
                self.rotate_from(index);
                Err(format!("{}: {e}", member.url))
            }
            Err(_) => {
                self.rotate_from(index);
                Err(format!(
                    "{}: the watch was not confirmed within {} ms",
                    member.url,
                    budget.as_millis()
                ))
            }
        }
    }

    /// Opens a lease keep-alive stream on the preferred member with `first` as its first
    /// request (etcd sends the response headers only with the first answer, so the call
    /// completes only once a request is in flight). Same contract as
    /// [`open_watch`](Self::open_watch).
    pub(crate) async fn open_keep_alive(
        &self,
        first: rpc::LeaseKeepAliveRequest,
    ) -> Result<
        (
            mpsc::Sender<rpc::LeaseKeepAliveRequest>,
            Streaming<rpc::LeaseKeepAliveResponse>,
            String,
        ),
        String,
    > {
        let (index, member) = self.preferred();
        let budget = self.attempt_bound(self.inner.request_timeout);
        let (tx, rx) = mpsc::channel(4);
        if tx.send(first).await.is_err() {
            return Err("the keep-alive request channel closed".into());
        }
        let mut request = Request::new(ReceiverStream::new(rx));
        request
            .metadata_mut()
            .insert(REQUIRE_LEADER_KEY, MetadataValue::from_static("true"));
        let mut client = rpc::lease_client::LeaseClient::new(member.channel.clone());
        match tokio::time::timeout(budget, client.lease_keep_alive(request)).await {
            Ok(Ok(response)) => Ok((tx, response.into_inner(), member.url.clone())),
            Ok(Err(status)) => {
                self.rotate_from(index);
                Err(format!("{}: {}", member.url, describe(&status)))
            }
            Err(_) => {
                self.rotate_from(index);
                Err(format!(
                    "{}: no answer within {} ms",
                    member.url,
                    budget.as_millis()
                ))
            }
        }
    }

    /// Moves the preference away from the member at `index` (the endpoint a stream just
    /// failed on), unless another caller already did.
    pub(crate) fn rotate_from(&self, index: usize) {
        let n = self.inner.members.len();
        let _ = self.inner.preferred.compare_exchange(
            index,
            (index + 1) % n,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    fn preferred(&self) -> (usize, &Member) {
        let n = self.inner.members.len();
        let index = self.inner.preferred.load(Ordering::Relaxed) % n;
        (index, &self.inner.members[index])
    }

    fn attempt_bound(&self, remaining: Duration) -> Duration {
        remaining.min((self.inner.request_timeout / 2).max(MIN_ATTEMPT))
    }

    /// One unary call with failover and a deadline (module docs). Returns the answer and
    /// whether an earlier attempt may have reached etcd.
    async fn unary<Req, Resp, F, Fut>(
        &self,
        op: &'static str,
        request: Req,
        call: F,
    ) -> Result<(Resp, bool), EtcdError>
    where
        Req: Clone,
        F: Fn(Channel, Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
    {
        if self.is_closed() {
            return Err(EtcdError::Closed);
        }
        let deadline = Instant::now() + self.inner.request_timeout;
        let rounds_len = self.inner.members.len();
        let mut attempts = 0usize;
        let mut last = String::from("no attempt finished");
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(EtcdError::Unavailable {
                    op,
                    endpoints: self.endpoints().join(","),
                    timeout: self.inner.request_timeout,
                    last,
                });
            }
            let (index, member) = self.preferred();
            let budget = self.attempt_bound(remaining);
            let mut attempt = Request::new(request.clone());
            attempt.set_timeout(budget);
            attempt
                .metadata_mut()
                .insert(REQUIRE_LEADER_KEY, MetadataValue::from_static("true"));
            let outcome = tokio::time::timeout(budget, call(member.channel.clone(), attempt)).await;
            attempts += 1;
            match outcome {
                Ok(Ok(response)) => {
                    if attempts > 1 {
                        tracing::info!(op, endpoint = %member.url, attempts, "etcd call succeeded after failover");
                    }
                    return Ok((response.into_inner(), attempts > 1));
                }
                Ok(Err(status)) if tls_failure(&status) => {
                    return Err(EtcdError::Tls {
                        endpoint: member.url.clone(),
                        detail: describe(&status),
                    });
                }
                Ok(Err(status)) if !retryable(&status) => {
                    return Err(EtcdError::Rejected {
                        op,
                        code: format!("{:?}", status.code()),
                        message: status.message().to_owned(),
                    });
                }
                Ok(Err(status)) => last = format!("{}: {}", member.url, describe(&status)),
                Err(_) => {
                    last = format!("{}: no answer within {} ms", member.url, budget.as_millis())
                }
            }
            tracing::debug!(op, error = %last, "etcd call failed; trying the next endpoint");
            self.rotate_from(index);
            if attempts.is_multiple_of(rounds_len) {
                let pause = (BACKOFF_STEP * (attempts / rounds_len) as u32).min(MAX_BACKOFF);
                let remaining = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(pause.min(remaining)).await;
            }
        }
    }
}

/// Whether another attempt (on another member, or later) may succeed.
fn retryable(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Unknown
            | Code::Cancelled
            | Code::Internal
            | Code::ResourceExhausted
            | Code::Aborted
    )
}

/// Whether `status` is a failed TLS handshake (a certificate refused by either side), which
/// no retry fixes: every member of one cluster has certificates from the same CA.
fn tls_failure(status: &Status) -> bool {
    let text = describe(status);
    ["invalid peer certificate", "received fatal alert"]
        .iter()
        .any(|needle| text.contains(needle))
}

/// A status for logs and errors: code, message and the transport error behind it.
pub(crate) fn describe(status: &Status) -> String {
    let mut text = format!("{:?}: {}", status.code(), status.message());
    if let Some(source) = std::error::Error::source(status) {
        text.push_str(": ");
        text.push_str(&error_chain(source));
    }
    text
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}

/// The smallest key greater than every key that starts with `prefix` (etcd's `range_end`
/// for a prefix read).
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte was 0xff (or the prefix was empty): "to the end of the keyspace".
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key_after_the_prefix() {
        assert_eq!(prefix_end(b"/seedward/replicas/"), b"/seedward/replicas0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }

    #[test]
    fn only_transient_codes_are_retried() {
        for code in [Code::Unavailable, Code::DeadlineExceeded, Code::Unknown] {
            assert!(retryable(&Status::new(code, "x")), "{code:?}");
        }
        for code in [
            Code::InvalidArgument,
            Code::FailedPrecondition,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::NotFound,
            Code::OutOfRange,
        ] {
            assert!(!retryable(&Status::new(code, "x")), "{code:?}");
        }
    }
}
