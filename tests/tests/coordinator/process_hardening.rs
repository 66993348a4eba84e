//! The daemon, the initializer and `seedward` keep their memory out of core dumps
//! (issue #15, item 4; docs/COORDINATOR.md, "Secrets in memory").
//!
//! The test raises its own soft core limit to its hard limit, so that every process it
//! starts may dump a core of any size, and checks with a control process (`sleep`) that
//! this machine does write one on `SIGABRT` — otherwise the test cannot show anything and
//! fails saying so. Then each real binary runs as an unprivileged user (`nobody`), and
//! while it runs (the daemon READY, holding its derived keys):
//! - `/proc/<pid>/limits` shows a core size limit of 0, soft and hard;
//! - `/proc/<pid>/status` is owned by root, not by the process's user: the kernel's sign of
//!   a non-dumpable process (proc(5));
//! - `SIGABRT` kills it without a core (no `WCOREDUMP`, no `core*` file in its working
//!   directory).
//!
//! Raising a process's limit from outside needs `CAP_SYS_RESOURCE`, which containers often
//! lack; hence the readback through `/proc` rather than `prlimit --pid`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is the failure report"
)]

use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use seedward_tests::CoordinatorProcess;

/// `(soft, hard)` of "Max core file size" in `/proc/<pid>/limits`.
fn core_limit(pid: u32) -> Option<(String, String)> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))?;
    let mut fields = line["Max core file size".len()..].split_whitespace();
    Some((fields.next()?.to_string(), fields.next()?.to_string()))
}

/// Waits until the process has set its core limit to 0/0 (it does so first thing).
fn assert_core_limit_zero(pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let limit = core_limit(pid);
        if limit == Some(("0".into(), "0".into())) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: /proc/{pid}/limits says the core size limit is {limit:?}, not 0 (soft and hard)"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The unprivileged user the binaries run as.
const NOBODY: u32 = 65534;

/// Lets every child dump a core of any size: soft core limit up to the hard limit (no
/// privilege needed).
fn allow_cores_for_children() {
    let status = Command::new("prlimit")
        .args([
            "--pid",
            &std::process::id().to_string(),
            "--core=unlimited:",
        ])
        .status()
        .expect("prlimit (util-linux) is needed");
    assert!(
        status.success()
            && core_limit(std::process::id()) == Some(("unlimited".into(), "unlimited".into())),
        "cannot raise the test's own core limit to unlimited (hard limit {:?}): the test cannot show anything",
        core_limit(std::process::id())
    );
}

/// The owner of `/proc/<pid>/status`: the process's user if it is dumpable, root if not.
fn proc_owner(pid: u32) -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(format!("/proc/{pid}/status"))
        .unwrap()
        .uid()
}

fn assert_not_dumpable(pid: u32, what: &str) {
    assert_core_limit_zero(pid, what);
    assert_eq!(
        proc_owner(pid),
        0,
        "{what} runs as uid {NOBODY} and /proc/{pid}/status is not owned by root: it is dumpable"
    );
}

/// A directory `nobody` may work in.
fn open_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

fn abort_child(mut child: Child) -> ExitStatus {
    let _ = Command::new("kill")
        .args(["-ABRT", &child.id().to_string()])
        .status();
    child.wait().unwrap()
}

fn core_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("core"))
        })
        .collect()
}

/// The machine must dump an ordinary process's core, or nothing below means anything.
fn assert_machine_dumps_cores() {
    use std::os::unix::process::CommandExt as _;
    allow_cores_for_children();
    let dir = open_dir();
    let child = Command::new("sleep")
        .arg("60")
        .uid(NOBODY)
        .gid(NOBODY)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .spawn()
        .expect("sleep is needed");
    // The same readback must say "dumpable" for an ordinary process.
    let deadline = Instant::now() + Duration::from_secs(10);
    while proc_owner(child.id()) != NOBODY {
        assert!(
            Instant::now() < deadline,
            "/proc/{}/status of a dumpable process of uid {NOBODY} is not owned by it",
            child.id()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = abort_child(child);
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    assert!(
        status.core_dumped(),
        "this machine does not dump the core of an ordinary process (core_pattern {:?}, status {status}): \
         the test cannot show that the Seedward binaries are not dumped",
        pattern.trim()
    );
    if !pattern.starts_with('|') {
        assert!(
            !core_files(dir.path()).is_empty(),
            "the control process left no core file in its directory"
        );
    }
}

fn assert_no_core(status: ExitStatus, cwd: &Path, what: &str) {
    assert_eq!(
        status.signal(),
        Some(6),
        "{what} should have died of SIGABRT: {status}"
    );
    assert!(!status.core_dumped(), "{what} dumped a core: {status}");
    let cores = core_files(cwd);
    assert!(cores.is_empty(), "{what} left core files: {cores:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_daemon_is_not_dumpable() {
    use std::os::unix::process::CommandExt as _;
    assert_machine_dumps_cores();
    let dir = open_dir();
    // nobody creates its state directory in `dir` (0777) and runs there.
    let state = dir.path().join("state");
    let mut process =
        CoordinatorProcess::start_configured(&state, "info", &["--attestation", "none"], |cmd| {
            cmd.uid(NOBODY).gid(NOBODY);
        })
        .unwrap();
    // READY: the derived keys are in its memory.
    let client = crate::support::connect(&process.addr).await;
    let keys = crate::support::Keys::generate();
    let (manifest, policies) = keys.manifest(0);
    crate::support::first_set(&client, manifest, policies, &keys.owner).await;
    let status = client.status().await.unwrap();
    assert_eq!(
        status.state,
        crate::support::READY,
        "the daemon holds its keys"
    );

    let pid = process.pid().unwrap();
    assert_not_dumpable(pid, "the READY daemon");
    let status = process.abort().unwrap();
    // The harness runs the daemon in its state directory's parent.
    assert_no_core(status, dir.path(), "the READY daemon");
}

#[test]
fn the_initializer_is_not_dumpable() {
    use std::os::unix::process::CommandExt as _;
    assert_machine_dumps_cores();
    let dir = open_dir();
    // A Coordinator that accepts TCP and never answers: the initializer keeps trying, with
    // its freshly generated workload key in memory.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let child = Command::new(seedward_tests::bin_dir().join("seedward-initializer"))
        .arg("--coordinator")
        .arg(silent.local_addr().unwrap().to_string())
        .args(["--attestation", "none", "--policy-hash"])
        .arg("00".repeat(32))
        .arg("--secrets-root")
        .arg(dir.path().join("secrets"))
        .args(["--max-wait-secs", "60"])
        .env_remove("SEEDWARD_ROOT_CA")
        .uid(NOBODY)
        .gid(NOBODY)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert_not_dumpable(child.id(), "the initializer");
    assert_no_core(abort_child(child), dir.path(), "the initializer");
}

#[test]
fn seedward_is_not_dumpable() {
    use std::os::unix::process::CommandExt as _;
    assert_machine_dumps_cores();
    let dir = open_dir();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let child = Command::new(seedward_tests::seedward_bin())
        .arg("--coordinator")
        .arg(silent.local_addr().unwrap().to_string())
        .arg("status")
        .current_dir(dir.path())
        .env_remove("SEEDWARD_COORDINATOR")
        .env("HOME", dir.path())
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert_not_dumpable(child.id(), "seedward");
    assert_no_core(abort_child(child), dir.path(), "seedward");
}
