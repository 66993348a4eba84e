//! Refused requests in the log, at a bounded rate, with the peer's address.
//!
//! The first refusal of an RPC from an address is logged in full (INFO: rpc, peer, reason);
//! further refusals of that RPC from that address within [`WINDOW`] are only counted, and when
//! the window ends one line summarises them:
//! `37 refused Recover calls from 127.0.0.1 in the last 10 s (last reason CHALLENGE_INVALID)`.
//! A flood therefore costs at most two lines per address and RPC every ten seconds, and no
//! more than [`MAX_PEERS`] addresses are tracked at once (the rest are counted together as
//! "other peers").

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// How long refusals from one address are summarised into one line.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Most (address, RPC) pairs tracked at once.
pub const MAX_PEERS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Peer {
    Addr(IpAddr),
    Unknown,
    Others,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Addr(ip) => write!(f, "{ip}"),
            Peer::Unknown => f.write_str("an unknown address"),
            Peer::Others => f.write_str("other peers"),
        }
    }
}

struct Window {
    started: Instant,
    suppressed: u64,
    last_reason: String,
}

/// The rate-limited log of refusals.
#[derive(Default)]
pub struct RefusalLog {
    windows: Mutex<HashMap<(Peer, &'static str), Window>>,
}

impl RefusalLog {
    /// A log whose summaries are written every second by a task on the current Tokio runtime
    /// (if there is one) for as long as the log lives.
    pub fn new() -> Arc<Self> {
        let log = Arc::new(Self::default());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let weak: Weak<Self> = Arc::downgrade(&log);
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    match weak.upgrade() {
                        Some(log) => log.flush(Instant::now()),
                        None => break,
                    }
                }
            });
        }
        log
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(Peer, &'static str), Window>> {
        // Every change is a single insert, update or retain.
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one refused `rpc` from `peer` with `reason`.
    pub fn refused(&self, rpc: &'static str, peer: Option<IpAddr>, reason: &str) {
        let now = Instant::now();
        self.flush(now);
        let mut windows = self.lock();
        let mut key = (peer.map_or(Peer::Unknown, Peer::Addr), rpc);
        if !windows.contains_key(&key) && windows.len() >= MAX_PEERS {
            key.0 = Peer::Others;
        }
        match windows.get_mut(&key) {
            Some(window) => {
                window.suppressed += 1;
                reason.clone_into(&mut window.last_reason);
            }
            None => {
                tracing::info!(rpc, peer = %key.0, reason, "request refused");
                windows.insert(
                    key,
                    Window {
                        started: now,
                        suppressed: 0,
                        last_reason: reason.to_owned(),
                    },
                );
            }
        }
    }

    /// Writes the summary of every window that has ended and forgets it.
    pub fn flush(&self, now: Instant) {
        self.lock().retain(|(peer, rpc), window| {
            if now.saturating_duration_since(window.started) < WINDOW {
                return true;
            }
            if window.suppressed > 0 {
                tracing::warn!(
                    rpc = *rpc,
                    %peer,
                    count = window.suppressed,
                    "{} refused {rpc} calls from {peer} in the last {} s (last reason {})",
                    window.suppressed,
                    WINDOW.as_secs(),
                    window.last_reason,
                );
            }
            false
        });
    }

    /// How many (address, RPC) windows are open (tests).
    pub fn open_windows(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_bounded_per_peer_and_in_total() {
        let log = RefusalLog::default();
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        for _ in 0..1000 {
            log.refused("Recover", a, "CHALLENGE_INVALID");
        }
        assert_eq!(log.open_windows(), 1);
        log.refused("GetStatus", a, "STORAGE");
        assert_eq!(log.open_windows(), 2);
        for n in 0..(MAX_PEERS as u32 * 2) {
            log.refused("Recover", Some(IpAddr::from(n.to_be_bytes())), "X");
        }
        assert_eq!(
            log.open_windows(),
            MAX_PEERS + 1,
            "the rest are other peers"
        );
        log.flush(Instant::now() + WINDOW);
        assert_eq!(log.open_windows(), 0);
    }
}
