//! Keeping a process's memory out of files: no core dump, no ptrace by same-user processes.
//!
//! [`harden`] is the first thing the daemon, the initializer and `seedward` do, before they
//! read or derive any secret:
//! - `RLIMIT_CORE` is set to 0 (soft **and** hard, so nothing in the process can raise it
//!   again): the kernel writes no core file, whatever `core_pattern` names a file;
//! - `prctl(PR_SET_DUMPABLE, 0)`: no core dump at all — also not to a `core_pattern` pipe
//!   such as systemd-coredump or apport, which ignore `RLIMIT_CORE` — and another process
//!   of the same user can neither `ptrace` it nor read `/proc/<pid>/mem` (only a process
//!   with `CAP_SYS_PTRACE` can).
//!
//! Not covered (docs/COORDINATOR.md, "Secrets in memory"): swap. Locking the secret
//! buffers needs `mlock` on raw pointers (no safe, well-kept wrapper is in the tree) and
//! `mlockall` would make every allocation beyond `RLIMIT_MEMLOCK` fail, which aborts a Rust
//! program; deployments run without swap (Kubernetes' default) or with encrypted swap, and
//! a confidential VM's memory is encrypted by the CPU.

use std::fmt;

use rustix::process::{DumpableBehavior, Resource, Rlimit};

/// What [`harden`] could not do.
#[derive(Debug)]
pub struct HardenError {
    what: &'static str,
    err: rustix::io::Errno,
}

impl fmt::Display for HardenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot {}: {}; refusing to hold secrets in a process that can be dumped",
            self.what, self.err
        )
    }
}

impl std::error::Error for HardenError {}

/// Makes this process non-dumpable and sets its core size limit to 0 (see the module docs).
/// Call it before any secret is in memory; an error means the process should not go on.
pub fn harden() -> Result<(), HardenError> {
    rustix::process::setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )
    .map_err(|err| HardenError {
        what: "set RLIMIT_CORE to 0",
        err,
    })?;
    rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable).map_err(|err| {
        HardenError {
            what: "make the process non-dumpable (prctl PR_SET_DUMPABLE)",
            err,
        }
    })?;
    Ok(())
}

/// Whether this process is dumpable (`prctl(PR_GET_DUMPABLE)`), for self-checks and tests.
pub fn is_dumpable() -> bool {
    !matches!(
        rustix::process::dumpable_behavior(),
        Ok(DumpableBehavior::NotDumpable)
    )
}

/// The soft limit on open files (`RLIMIT_NOFILE`), `None` when unlimited.
pub fn open_files_limit() -> Option<u64> {
    rustix::process::getrlimit(Resource::Nofile).current
}

#[cfg(test)]
mod tests {
    #[test]
    fn open_files_limit_is_reported() {
        // Every Linux process has a finite descriptor limit.
        assert!(super::open_files_limit().is_some_and(|n| n > 0));
    }
}
