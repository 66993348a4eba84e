//! The TUI must not outlive its terminal. When the terminal hangs up (an SSH session drops,
//! a terminal window closes) the kernel sends SIGHUP, which normally ends the process. With
//! SIGHUP ignored (`nohup`, `trap '' HUP`, some supervisors) the process used to stay, spinning
//! a core inside the terminal reader for ever, with whatever it had decrypted still in memory.
//!
//! This runs the real `seedward` in a pseudo-terminal made by `script` (util-linux), with
//! SIGHUP ignored, against a real Coordinator; waits for its first frame; kills `script` (the
//! pty's master side goes away: a hangup); and checks that `seedward` exits.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use seedward_tests::{CoordinatorProcess, notify_when_seen, seedward_bin};

/// Longest wait for the first frame and for the exit.
const WAIT: Duration = Duration::from_secs(30);

/// Pids of live (not zombie) processes whose command line contains `needle`.
fn live_processes_with(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if !String::from_utf8_lossy(&cmdline).contains(needle) {
            continue;
        }
        // Field 3 of /proc/<pid>/stat is the state; Z is a zombie (it has exited).
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or("Z");
        if state != "Z" {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn the_tui_exits_when_its_terminal_hangs_up_even_with_sighup_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let coordinator = CoordinatorProcess::start(&tmp.path().join("state")).unwrap();
    // A workspace path unique to this test, to find the process by its command line.
    let ws = tmp.path().join("hangup-test-workspace");
    let ws_arg = ws.display().to_string();
    let inner = format!(
        "stty cols 100 rows 30; exec '{}' --coordinator {} --workspace '{}' --key-store file",
        seedward_bin().display(),
        coordinator.addr,
        ws_arg
    );
    // `trap '' HUP` sets SIGHUP to ignored; script and seedward inherit that.
    let outer = format!(
        "trap '' HUP; exec script -qfec \"{}\" /dev/null",
        inner.replace('"', "\\\"")
    );
    let mut script = Command::new("sh")
        .args(["-c", &outer])
        .env("TERM", "xterm-256color")
        .env("NO_COLOR", "1")
        .env("XDG_DATA_HOME", tmp.path().join("xdg-data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("run script (util-linux) for a pseudo-terminal");

    // The first frame: the title bar.
    let rx = notify_when_seen(script.stdout.take().unwrap(), b"Seedward");
    rx.recv_timeout(WAIT)
        .expect("the TUI drew no frame in its pseudo-terminal");
    let pids = live_processes_with(&ws_arg);
    assert!(
        pids.iter().any(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c).starts_with(&*seedward_bin().display().to_string())
            })
        }),
        "seedward is not running: {pids:?}"
    );
    // SIGHUP really is ignored in the TUI (bit 0 of SigIgn is signal 1).
    for pid in &pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let ignored = status
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .unwrap_or(0);
        assert_eq!(ignored & 1, 1, "SIGHUP is not ignored in process {pid}");
    }

    // Hang up: kill script, which holds the pty's master side.
    let status = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", script.id())])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = script.wait();

    let deadline = Instant::now() + WAIT;
    loop {
        let left = live_processes_with(&ws_arg);
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            for pid in &left {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
            panic!("seedward outlived its terminal: still running as {left:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Nothing was set up, and nothing half-written was left behind.
    assert!(!ws.join("seed-shares.json").exists());
}
