//! What every screen may read: the Coordinator's health as last refreshed and the key
//! store as last listed. The app shell owns both and updates them from effect results.

use crate::keystore::{KeyInfo, KeyKind};
use crate::ops::{CoordinatorState, StatusView};

/// The last refresh of the Coordinator's status.
#[derive(Debug, Clone)]
pub enum Health {
    Connecting,
    Ok {
        status: Box<StatusView>,
        latency_ms: u64,
    },
    Failed {
        message: String,
        last: Option<Box<StatusView>>,
    },
}

impl Health {
    pub fn status(&self) -> Option<&StatusView> {
        match self {
            Health::Ok { status, .. } => Some(status),
            Health::Failed { last, .. } => last.as_deref(),
            Health::Connecting => None,
        }
    }

    pub fn state(&self) -> Option<CoordinatorState> {
        self.status().map(|s| s.state)
    }
}

/// The key store as last listed.
#[derive(Debug, Clone, Default)]
pub struct KeysState {
    pub list: Vec<KeyInfo>,
    pub error: Option<String>,
    /// The key store's fallback warning (no OS keyring reachable).
    pub warning: Option<String>,
    pub backend: String,
}

impl KeysState {
    pub fn of_kind(&self, kind: KeyKind) -> impl Iterator<Item = &KeyInfo> {
        self.list.iter().filter(move |k| k.kind == kind)
    }

    /// `base`, or `base-2`, `base-3`, … whichever is not taken.
    pub fn free_name(&self, base: &str) -> String {
        let taken = |n: &str| self.list.iter().any(|k| k.name == n);
        if !taken(base) {
            return base.to_string();
        }
        (2..)
            .map(|i| format!("{base}-{i}"))
            .find(|n| !taken(n))
            .unwrap_or_else(|| base.to_string())
    }
}

/// The name a new key of `kind` gets (made free with [`KeysState::free_name`]).
pub fn default_name(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::SeedShareOwner => crate::keystore::DEFAULT_OWNER_KEY,
        KeyKind::WorkloadOwner => crate::keystore::DEFAULT_WORKLOAD_KEY,
    }
}
