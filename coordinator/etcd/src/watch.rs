//! The etcd store's [`WatchLatest`]: each new value of `<prefix>/history/transitions/latest`,
//! pushed by etcd within milliseconds of the write, surviving member deaths and leader
//! changes.
//!
//! # How it follows etcd
//! 1. Read the pointer (linearizable) at store revision `R`; deliver its value.
//! 2. Watch the key from `R + 1` on the preferred member, so nothing written after the read
//!    is missed; deliver each event's value (`PUT` → the value, `DELETE` → `None`),
//!    remembering the revision of the last event seen.
//! 3. When the stream breaks (the member died, lost its leader — the `hasleader` metadata
//!    makes etcd cancel the watch then — or the connection went quiet past the HTTP/2
//!    keep-alive), deliver [`LatestEvent::Interrupted`] once, move to the next endpoint and
//!    reconnect with backoff. Back on a member: re-read the pointer; if it did not change
//!    since the last event seen, deliver that value again (the "back" signal) and watch from
//!    the read; if it changed, watch from the last seen revision + 1, so etcd replays every
//!    missed change in order.
//! 4. If etcd compacted the revisions the watch asked for, re-read and deliver the current
//!    value (the compacted intermediates are gone; the newest is what matters) and watch
//!    from there.
//!
//! The watch ends (its [`LatestWatch::next`] returns `None`) when the client is closed, and
//! its task stops at once when the [`LatestWatch`] is dropped.

use seedward_shared::history::{
    LatestEvent, LatestWatch, StoreError, StoreKey, WatchFuture, WatchLatest,
};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::pb::etcdserverpb as rpc;
use crate::pb::mvccpb::event::EventType;
use crate::{EtcdClient, EtcdError, EtcdStore};

/// Events buffered between the watch task and a slow consumer; beyond this the task waits.
const BUFFER: usize = 64;
const RETRY_STEP: Duration = Duration::from_millis(100);
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(1);

/// A running watch of the latest pointer; dropping it stops the watch task.
pub struct EtcdLatestWatch {
    events: mpsc::Receiver<LatestEvent>,
    task: JoinHandle<()>,
}

impl LatestWatch for EtcdLatestWatch {
    fn next(&mut self) -> WatchFuture<'_> {
        // `mpsc::Receiver::recv` is cancel safe: a dropped future loses no event.
        Box::pin(self.events.recv())
    }
}

impl Drop for EtcdLatestWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EtcdStore {
    /// [`WatchLatest::watch_latest`] with its concrete type.
    pub fn watch_latest_etcd(&self) -> EtcdLatestWatch {
        let (tx, events) = mpsc::channel(BUFFER);
        let follower = Follower {
            client: self.client().clone(),
            key: self.etcd_key(&StoreKey::latest()).into_bytes(),
            tx,
            last: None,
            seen_revision: 0,
            interrupted: false,
        };
        let task = self.handle().spawn(follower.run());
        EtcdLatestWatch { events, task }
    }
}

impl WatchLatest for EtcdStore {
    fn watch_latest(&self) -> Result<Box<dyn LatestWatch>, StoreError> {
        Ok(Box::new(self.watch_latest_etcd()))
    }
}

/// Why a watch stream stopped.
enum Break {
    /// The consumer or the client is gone: stop for good.
    Stop,
    /// The revisions asked for were compacted: re-read, no interruption.
    Compacted,
    /// The stream failed: an interruption.
    Failed(String),
}

struct Follower {
    client: EtcdClient,
    key: Vec<u8>,
    tx: mpsc::Sender<LatestEvent>,
    /// The last value delivered (`None`: nothing delivered yet).
    last: Option<Option<Vec<u8>>>,
    /// The revision of the last read or event seen; the watch resumes after it.
    seen_revision: i64,
    interrupted: bool,
}

impl Follower {
    async fn run(mut self) {
        let mut failures: u32 = 0;
        let mut resync = true;
        // Whether a re-read may resume from the last seen revision (not after a compaction,
        // which removed exactly those revisions).
        let mut replay = true;
        loop {
            if self.client.is_closed() {
                return;
            }
            let start = if resync {
                match self.read(replay).await {
                    Ok(Some(start)) => start,
                    Ok(None) => return,
                    Err(reason) => {
                        if !self.interrupt(reason).await {
                            return;
                        }
                        failures += 1;
                        self.pause(failures).await;
                        continue;
                    }
                }
            } else {
                self.seen_revision + 1
            };
            let create = rpc::WatchCreateRequest {
                key: self.key.clone(),
                start_revision: start,
                ..Default::default()
            };
            let (requests, mut stream, endpoint) = match self.client.open_watch(create).await {
                Ok(opened) => opened,
                Err(reason) => {
                    if !self.interrupt(reason).await {
                        return;
                    }
                    failures += 1;
                    self.pause(failures).await;
                    resync = true;
                    continue;
                }
            };
            failures = 0;
            tracing::debug!(%endpoint, start, "watching the latest pointer");
            let outcome = self.follow(&mut stream).await;
            drop(requests);
            match outcome {
                Break::Stop => return,
                Break::Compacted => {
                    tracing::info!(%endpoint, "watched revisions were compacted; re-reading the latest pointer");
                    resync = true;
                    replay = false;
                }
                Break::Failed(reason) => {
                    if let Some(index) = self.client.endpoints().iter().position(|e| *e == endpoint)
                    {
                        self.client.rotate_from(index);
                    }
                    if !self.interrupt(format!("{endpoint}: {reason}")).await {
                        return;
                    }
                    failures += 1;
                    self.pause(failures).await;
                    resync = true;
                    replay = true;
                }
            }
        }
    }

    /// Step 1 or 3 of the module docs. `Ok(Some(revision))`: where to watch from;
    /// `Ok(None)`: stop.
    async fn read(&mut self, replay: bool) -> Result<Option<i64>, String> {
        let (kv, revision) = match self.client.get(&self.key).await {
            Ok(read) => read,
            Err(EtcdError::Closed) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let unchanged = match (&kv, &self.last) {
            (_, None) => false,
            (Some(kv), Some(_)) => kv.mod_revision <= self.seen_revision,
            (None, Some(last)) => last.is_none(),
        };
        if replay && self.interrupted && self.last.is_some() && !unchanged {
            // Changed while we were away: let etcd replay every change in order.
            return Ok(Some(self.seen_revision + 1));
        }
        let value = kv.map(|kv| kv.value);
        let force = self.interrupted || self.last.is_none();
        if !self.deliver(value, force).await {
            return Ok(None);
        }
        self.seen_revision = revision;
        Ok(Some(revision + 1))
    }

    /// Step 2: delivers events until the stream stops.
    async fn follow(&mut self, stream: &mut tonic::Streaming<rpc::WatchResponse>) -> Break {
        loop {
            let message = tokio::select! {
                _ = self.tx.closed() => return Break::Stop,
                _ = self.client.closed() => return Break::Stop,
                message = stream.message() => message,
            };
            let response = match message {
                Ok(Some(response)) => response,
                Ok(None) => return Break::Failed("the watch stream ended".into()),
                Err(status) => return Break::Failed(crate::client::describe(&status)),
            };
            if response.compact_revision > 0 {
                return Break::Compacted;
            }
            if response.canceled {
                return Break::Failed(if response.cancel_reason.is_empty() {
                    "etcd cancelled the watch".into()
                } else {
                    response.cancel_reason
                });
            }
            for event in response.events {
                let Some(kv) = event.kv else { continue };
                self.seen_revision = self.seen_revision.max(kv.mod_revision);
                let value = if event.r#type == EventType::Delete as i32 {
                    None
                } else {
                    Some(kv.value)
                };
                // The first value after an interruption is the "back" signal.
                let force = self.interrupted;
                if !self.deliver(value, force).await {
                    return Break::Stop;
                }
            }
        }
    }

    /// Delivers `value` unless it equals the last one (and `force` is off). False: the
    /// consumer is gone.
    async fn deliver(&mut self, value: Option<Vec<u8>>, force: bool) -> bool {
        if !force && self.last.as_ref() == Some(&value) {
            return true;
        }
        self.last = Some(value.clone());
        self.interrupted = false;
        self.tx.send(LatestEvent::Value(value)).await.is_ok()
    }

    /// Reports an interruption once per outage. False: the consumer is gone.
    async fn interrupt(&mut self, reason: String) -> bool {
        tracing::warn!(%reason, "the watch of the latest pointer was interrupted; reconnecting");
        if self.interrupted {
            return !self.tx.is_closed();
        }
        self.interrupted = true;
        self.tx
            .send(LatestEvent::Interrupted { reason })
            .await
            .is_ok()
    }

    async fn pause(&self, failures: u32) {
        let pause = (RETRY_STEP * failures).min(MAX_RETRY_PAUSE);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = self.client.closed() => {}
        }
    }
}
