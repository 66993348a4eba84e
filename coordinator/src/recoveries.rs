//! Who recovered this process, and when (docs/HA.md, "Who did what"): a seed share owner
//! (by key fingerprint) or a peer replica (by replica id). Kept in memory, shown by
//! `GetStatus` and in this replica's presence record; a restart forgets it, as it forgets
//! the keys.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

pub use seedward_etcd::RecoveryNote;

/// `RecoveryNote::by` of a recovery by a seed share owner.
pub const BY_OWNER: &str = "owner";
/// `RecoveryNote::by` of a peer recovery.
pub const BY_PEER: &str = "peer";

/// The last recovery of this process.
#[derive(Debug, Default)]
pub struct Recoveries {
    last: Mutex<Option<RecoveryNote>>,
}

impl Recoveries {
    /// A seed share owner with key fingerprint `fingerprint` recovered this process now.
    pub fn by_owner(&self, fingerprint: String) {
        self.set(BY_OWNER, fingerprint);
    }

    /// The peer replica `replica_id` recovered this process now.
    pub fn by_peer(&self, replica_id: String) {
        self.set(BY_PEER, replica_id);
    }

    fn set(&self, by: &str, who: String) {
        let at_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        // Every change is one assignment: a poisoned lock still holds a whole value.
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(RecoveryNote {
            by: by.to_string(),
            who,
            at_unix_ms,
        });
    }

    /// The last recovery, if any.
    pub fn last(&self) -> Option<RecoveryNote> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
