//! The OS keyring behind the `keyring` crate: entries, errors in words, the reachability probe.

use std::sync::mpsc;
use std::time::Duration;

use rand_core::{OsRng, RngCore};

use super::KEYRING_SERVICE;

/// How long the keyring probe may take before the keyring counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn keyring_entry(account: &str) -> keyring::Result<keyring::Entry> {
    keyring::Entry::new(KEYRING_SERVICE, account)
}

/// A keyring error in words, without anything the keyring returned as a secret.
pub(super) fn describe_keyring_error(err: &keyring::Error) -> String {
    match err {
        keyring::Error::PlatformFailure(e) => format!("platform failure: {e}"),
        keyring::Error::NoStorageAccess(e) => {
            format!("no access to the keyring (is it locked?): {e}")
        }
        keyring::Error::NoEntry => "no such entry".into(),
        keyring::Error::BadEncoding(_) => "the stored entry is not UTF-8 text".into(),
        keyring::Error::TooLong(attr, limit) => {
            format!("attribute {attr} is longer than the keyring's limit {limit}")
        }
        keyring::Error::Invalid(attr, reason) => format!("attribute {attr} is invalid: {reason}"),
        keyring::Error::Ambiguous(items) => {
            format!("{} entries match; remove the duplicates", items.len())
        }
        _ => "unknown keyring error".into(),
    }
}

/// Reads a random, non-existent entry: "no entry" means the keyring answers. Runs on a
/// thread with a timeout so that a keyring that never answers cannot hang the caller.
pub(super) fn probe_keyring(workspace_id: &str) -> Result<(), String> {
    let account = format!("probe:{:016x}:{workspace_id}", OsRng.next_u64());
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("seedward-keyring-probe".into())
        .spawn(move || {
            let result = keyring_entry(&account).and_then(|e| e.get_password().map(|_| ()));
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        return Err(format!("cannot start the keyring probe: {e}"));
    }
    match rx.recv_timeout(PROBE_TIMEOUT) {
        Ok(Err(keyring::Error::NoEntry)) => Ok(()),
        Ok(Ok(())) => Err("the keyring returned an entry that should not exist".into()),
        Ok(Err(e)) => Err(describe_keyring_error(&e)),
        Err(_) => Err(format!(
            "the keyring did not answer within {} s",
            PROBE_TIMEOUT.as_secs()
        )),
    }
}
