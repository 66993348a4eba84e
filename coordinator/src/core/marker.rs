//! The initialization marker: `<state-dir>/initialized`, written at the first set with the
//! first transition hash, so that a Coordinator whose history was deleted (but whose state
//! directory survived) refuses a new first set instead of silently creating a new seed.
//!
//! It raises the bar against an accidental or naive wipe of `transitions/latest`; someone who
//! can delete the history can delete this file too (docs/RELIABILITY.md).

use std::path::Path;

use seedward_shared::history::Digest;

use crate::error::CoreError;

/// Longest marker content read.
const LIMIT: u64 = 256;

/// The recorded first transition hash, if the marker exists.
pub(super) fn read(path: &Path) -> Result<Option<String>, CoreError> {
    let storage = |e: std::io::Error| {
        tracing::error!(marker = %path.display(), error = %e, "cannot read the initialization marker");
        CoreError::Storage(format!(
            "cannot read the initialization marker {}; see the Coordinator's log",
            path.display()
        ))
    };
    let (dir, name) = seedward_fs::Dir::parent_of(path, 0o700).map_err(storage)?;
    let Some(bytes) = dir.read(&name, LIMIT).map_err(storage)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    let first = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(64)
        .collect::<String>();
    Ok(Some(if first.is_empty() {
        "unknown".into()
    } else {
        first
    }))
}

/// Records the first transition (atomically, 0600).
pub(super) fn write(path: &Path, first: &Digest) -> std::io::Result<()> {
    let (dir, name) = seedward_fs::Dir::parent_of(path, 0o700)?;
    dir.write_atomic(&name, format!("{first}\n").as_bytes(), 0o600)
}
