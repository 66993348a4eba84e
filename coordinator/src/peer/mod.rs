//! Peer recovery between the replicas of one shared store (docs/HA.md, "Peer recovery").
//!
//! | module | what it holds |
//! |---|---|
//! | `tls` | mutual TLS between replicas and what it does (and does not) prove |
//! | `server` | the `seedward.v1.PeerApi` service: a ready replica verifies an asker's evidence and seals its secrets to it |
//! | `client` | the asking task: a replica without keys asks ready peers, with jittered, capped backoff |
//!
//! The core's side is `crate::core` (`peer_reference`, `seal_for_peer`,
//! `recover_from_peer`); the box is `seedward_shared::peer`.

pub mod client;
pub mod server;
pub mod tls;

use std::net::SocketAddr;
use std::time::Duration;

/// How this replica takes part in peer recovery (`--peer-listen`, `--peers`, `--peer-dns`,
/// `--allow-unattested-peers`, `--peer-retry-*`).
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Where the peer API listens; `None` = this replica serves no peer.
    pub listen: Option<SocketAddr>,
    /// Peers as `host:port`, asked in random order.
    pub peers: Vec<String>,
    /// A `name:port` resolved before every round; every address it yields is a peer (a
    /// Kubernetes headless service).
    pub dns: Option<String>,
    /// Development (evidence kind `none`): serve and ask unattested peers. Both sides need it.
    pub allow_unattested: bool,
    /// First pause after a round in which no peer helped; doubled up to `retry_max`, each
    /// pause drawn uniformly from its upper half.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// Bound of one request to one peer, connection included.
    pub request_timeout: Duration,
}

impl Default for PeerConfig {
    fn default() -> Self {
        Self {
            listen: None,
            peers: Vec::new(),
            dns: None,
            allow_unattested: false,
            retry_min: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl PeerConfig {
    /// Whether this replica asks peers at all: some source of peers is configured.
    pub fn asks(&self) -> bool {
        !self.peers.is_empty() || self.dns.is_some() || self.listen.is_some()
    }
}
