//! End-to-end test support: the real `seedward-coordinator` binary in a temp dir on a free
//! loopback port, and the real `seedward` binary.
//!
//! The binaries are built once per test process with the same cargo and profile that runs
//! the tests (`cargo build --bins`), so `cargo test --workspace` alone is enough.
//! `SEEDWARD_TEST_BIN_DIR=<dir>` uses the binaries in `<dir>` instead and builds nothing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub mod attest;
pub mod etcd;
pub mod mitm;

/// The workspace's target directory for the current profile.
pub fn bin_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Binaries built elsewhere (e.g. a snapshot while the tree is being edited): used as
        // they are, nothing is built.
        if let Some(dir) = std::env::var_os("SEEDWARD_TEST_BIN_DIR") {
            return PathBuf::from(dir);
        }
        // Test executables live in target/<profile>/deps/; the binaries one level up.
        let exe = std::env::current_exe().unwrap_or_default();
        let dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("target/debug"));
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        // Exactly the build scripts/test.sh runs first, so that here it is a no-op: building
        // only some packages would resolve features differently and rebuild dependencies.
        cmd.args(["build", "--workspace", "--bins", "--locked"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        // `cargo test` runs this binary with the variables cargo sets for a package
        // (CARGO_MANIFEST_DIR, CARGO_PKG_*, …). Handed on to this cargo they enter the
        // fingerprint of build scripts that watch them (ring: CARGO_MANIFEST_DIR), so this
        // build and a `cargo build` from a shell rebuilt ring and everything above it
        // (2–4 minutes) in turn.
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(is_package_variable) {
                cmd.env_remove(key);
            }
        }
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("cannot run cargo build: {e}"));
        assert!(status.success(), "building the binaries failed");
        dir
    })
    .clone()
}

/// A variable cargo sets for the package a test binary belongs to (not one that configures
/// cargo itself, like `CARGO_HOME` or `CARGO_TARGET_DIR`).
fn is_package_variable(name: &str) -> bool {
    matches!(
        name,
        "CARGO_MANIFEST_DIR"
            | "CARGO_MANIFEST_PATH"
            | "CARGO_CRATE_NAME"
            | "CARGO_PRIMARY_PACKAGE"
            | "CARGO_TARGET_TMPDIR"
            | "CARGO_RUSTC_CURRENT_DIR"
            | "OUT_DIR"
    ) || name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_BIN_")
}

pub fn coordinator_bin() -> PathBuf {
    bin_dir().join("seedward-coordinator")
}

pub fn seedward_bin() -> PathBuf {
    bin_dir().join("seedward")
}

/// Reads `output` (a child's stdout, e.g. a pseudo-terminal's) on a thread and sends the
/// moment `needle` first appears in it. It keeps draining afterwards, so the writer never
/// blocks on a full pipe; the channel closes when the output ends.
pub fn notify_when_seen(
    mut output: impl std::io::Read + Send + 'static,
    needle: &'static [u8],
) -> std::sync::mpsc::Receiver<Instant> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut found = false;
        let mut buf = [0u8; 4096];
        while let Ok(n) = output.read(&mut buf) {
            if n == 0 {
                break;
            }
            if found {
                continue;
            }
            seen.extend_from_slice(&buf[..n]);
            if seen.windows(needle.len()).any(|w| w == needle) {
                found = true;
                let _ = tx.send(Instant::now());
            }
        }
    });
    rx
}

/// A running Coordinator process.
pub struct CoordinatorProcess {
    child: Option<Child>,
    pub addr: String,
    pub state_dir: PathBuf,
    log: PathBuf,
}

impl CoordinatorProcess {
    /// Starts the daemon on `127.0.0.1:0` with `state_dir` and waits until it listens.
    pub fn start(state_dir: &Path) -> anyhow::Result<Self> {
        Self::start_with(state_dir, &[])
    }

    pub fn start_with(state_dir: &Path, extra: &[&str]) -> anyhow::Result<Self> {
        Self::start_logged(state_dir, "seedward_coordinator=trace,info", extra)
    }

    /// Like [`Self::start_with`], with `log_filter` as `--log-level` (EnvFilter syntax).
    pub fn start_logged(
        state_dir: &Path,
        log_filter: &str,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        Self::start_configured(state_dir, log_filter, extra, |_| {})
    }

    /// Like [`Self::start_logged`], with `configure` applied to the command last (another
    /// user, environment, …).
    pub fn start_configured(
        state_dir: &Path,
        log_filter: &str,
        extra: &[&str],
        configure: impl FnOnce(&mut Command),
    ) -> anyhow::Result<Self> {
        // The daemon creates the state directory itself (0700), as in production; the
        // harness only makes sure its parent, where the log goes, exists.
        let parent = state_dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)?;
        let log = state_dir.with_extension(format!("log-{}", rand_suffix()));
        let log_file = std::fs::File::create(&log)?;
        let mut command = Command::new(coordinator_bin());
        // A core file, should the daemon ever write one, lands next to its state directory,
        // not in the test's working directory (tests/tests/coordinator/process_hardening.rs looks there).
        if state_dir.is_absolute() {
            command.current_dir(parent);
        }
        command
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--state-dir")
            .arg(state_dir)
            .arg("--log-level")
            .arg(log_filter)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file);
        configure(&mut command);
        let mut child = command
            .spawn()
            .context("cannot start seedward-coordinator")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                let _ = child.wait();
                bail!(
                    "seedward-coordinator exited before listening; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if let Some(addr) = line
                .trim()
                .strip_prefix("seedward-coordinator listening on ")
            {
                let addr = addr.to_string();
                return Ok(Self {
                    child: Some(child),
                    addr,
                    state_dir: state_dir.to_path_buf(),
                    log,
                });
            }
            if Instant::now() > deadline {
                bail!("seedward-coordinator did not report its address");
            }
        }
    }

    /// SIGKILL: no cleanup, no flush — a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait: a graceful stop. Returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGABRT (the signal whose default action is a core dump) and wait: how it ended.
    pub fn abort(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-ABRT")
            .arg(child.id().to_string())
            .status();
        child.wait().ok()
    }

    /// Everything the daemon logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for CoordinatorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn rand_suffix() -> String {
    use rand_core::RngCore;
    format!("{:08x}", rand_core::OsRng.next_u32())
}

/// The raw `seedward-error` metadata of a refusal, exactly as it came over the wire. Tests
/// compare it with the documented literal names, so that a renamed reason fails here.
pub fn error_reason(status: &tonic::Status) -> Option<&str> {
    status
        .metadata()
        .get("seedward-error")
        .and_then(|v| v.to_str().ok())
}

/// Valid `ReferenceValues` (docs/ATTESTATION.md) that differ for every `n`: one SEV-SNP
/// entry whose `TrustedMeasurement` is `n` as 96 lowercase hex digits, and `"none": {}` so
/// that the development Coordinators the tests start (evidence kind `none`) stay acceptable.
/// Tests that only need distinct manifests put this into `ReferenceValues`, so that their
/// semantic diffs still show a reference-value change.
pub fn reference_values(n: u64) -> serde_json::Value {
    serde_json::json!({
        "none": {},
        "snp": [{
            "ProductName": "Milan",
            "TrustedMeasurement": format!("{n:096x}"),
            "MinimumTCB": {
                "BootloaderVersion": 0,
                "TEEVersion": 0,
                "SNPVersion": 0,
                "MicrocodeVersion": 0
            }
        }]
    })
}

#[cfg(test)]
mod tests {
    use seedward_shared::reference::ReferenceValues;

    #[test]
    fn reference_values_are_valid_distinct_and_allow_development_coordinators() {
        let parse = |n| {
            let value = super::reference_values(n);
            ReferenceValues::parse(value.as_object().expect("an object"))
                .unwrap_or_else(|e| panic!("reference_values({n}) is invalid: {e:?}"))
        };
        for n in [0, 1, 2, u64::MAX] {
            let values = parse(n);
            assert!(values.allows_unattested(), "{n}");
            assert_eq!(values.snp.len(), 1, "{n}");
        }
        assert_ne!(parse(1), parse(2));
        assert_eq!(
            super::reference_values(1)["snp"][0]["TrustedMeasurement"],
            format!("{}1", "0".repeat(95))
        );
    }
}
