//! The `seedward` binary's failure paths and exit codes against a real Coordinator:
//! wrong owner key, wrong seed, tampered history, unreachable Coordinator.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::{Path, PathBuf};

use crate::cli_support::{Cli, golden, p, public_hex, write_template};
use seedward_tests::CoordinatorProcess;

/// Generates keys in `cli`'s workspace (unless `owner_pem` imports one) and sets up the
/// Coordinator with the template manifest.
fn setup(cli: &Cli, input: &Path, owner_pem: Option<&Path>) {
    match owner_pem {
        Some(pem) => {
            cli.run(&["keys", "import", "--kind", "owner", p(pem)]).ok();
        }
        None => {
            cli.run(&["keys", "generate", "--kind", "owner"]).ok();
        }
    }
    cli.run(&["keys", "generate", "--kind", "workload"]).ok();
    let (manifest, policies) = write_template(
        input,
        &public_hex(cli, "seedshare-owner"),
        &public_hex(cli, "workload-owner"),
    );
    let mut args = vec![
        "--yes",
        "--allow-unattested",
        "set",
        "--manifest",
        p(&manifest),
    ];
    for pol in &policies {
        args.push("--policy");
        args.push(p(pol));
    }
    cli.run(&args).ok();
}

/// A Coordinator with its state in `<tmp>/state`, set up from the workspace `<tmp>/ws`.
/// Returns the state directory, the running Coordinator and the workspace's CLI.
fn set_up_deployment(tmp: &Path) -> (PathBuf, CoordinatorProcess, Cli) {
    let state = tmp.join("state");
    let coordinator = CoordinatorProcess::start(&state).unwrap();
    let cli = Cli::new(tmp, &tmp.join("ws"), &coordinator.addr);
    setup(&cli, &tmp.join("input"), None);
    (state, coordinator, cli)
}

#[test]
fn unreachable_coordinator_is_exit_5() {
    let tmp = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens there.
    let cli = Cli::new(tmp.path(), &tmp.path().join("ws"), "127.0.0.1:1");
    let run = cli.run(&["status"]).code(5);
    assert!(
        run.stderr
            .contains("cannot reach the Coordinator at 127.0.0.1:1"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--coordinator"), "{}", run.stderr);
    let run = cli.run(&["--json", "status"]).code(5);
    let v = run.json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["kind"], "unreachable");
    assert_eq!(v["error"]["exit_code"], 5);
    // A malformed address is not "unreachable".
    let bad = Cli::new(tmp.path(), &tmp.path().join("ws"), "not an address");
    assert_ne!(bad.run(&["status"]).code, 0);
}

#[test]
fn usage_errors_are_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let cli = Cli::new(tmp.path(), &tmp.path().join("ws"), "127.0.0.1:1");
    cli.run(&["history", "diff", "1"]).code(2);
    cli.run(&["keys", "generate", "--kind", "nope"]).code(2);
    cli.run(&["keys", "generate", "--name", "../escape"])
        .code(2);
}

#[test]
fn wrong_owner_key_is_refused_before_anything_is_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let mut coordinator = CoordinatorProcess::start(&state).unwrap();
    let ws = tmp.path().join("ws");
    let cli = Cli::new(tmp.path(), &ws, &coordinator.addr);
    setup(&cli, &tmp.path().join("input"), None);
    coordinator.kill();
    let coordinator = CoordinatorProcess::start(&state).unwrap();

    // Another operator's workspace: a different owner key, the same seed-shares.json.
    let other = tmp.path().join("other");
    let cli2 = Cli::new(tmp.path(), &other, &coordinator.addr);
    cli2.run(&["keys", "generate", "--kind", "owner"]).ok();
    for f in [
        "seed-shares.json",
        "coordinator-root-ca.pem",
        "manifest.json",
    ] {
        std::fs::copy(ws.join(f), other.join(f)).unwrap();
    }
    let run = cli2
        .run(&["--yes", "--allow-unattested", "recover"])
        .code(3);
    golden(
        "recover-wrong-owner.stderr.txt",
        &cli2.normalize(&run.stderr),
    );
    // The Coordinator is still waiting.
    let run = cli2.run(&["--json", "status"]).ok();
    assert_eq!(run.json()["state"], "recovery-required");
}

#[test]
fn wrong_seed_fails_the_preflight() {
    let tmp = tempfile::tempdir().unwrap();
    // Deployment A and deployment B, same owner key.
    let state_a = tmp.path().join("state-a");
    let mut a = CoordinatorProcess::start(&state_a).unwrap();
    let b = CoordinatorProcess::start(&tmp.path().join("state-b")).unwrap();
    let ws_a = tmp.path().join("ws-a");
    let ws_b = tmp.path().join("ws-b");
    let cli_a = Cli::new(tmp.path(), &ws_a, &a.addr);
    let cli_b = Cli::new(tmp.path(), &ws_b, &b.addr);
    setup(&cli_a, &tmp.path().join("input-a"), None);
    let owner_pem = tmp.path().join("owner.pem");
    cli_a
        .run(&[
            "--yes",
            "--allow-unattested",
            "keys",
            "export",
            "--kind",
            "owner",
            "--private",
            "--out",
            p(&owner_pem),
        ])
        .ok();
    setup(&cli_b, &tmp.path().join("input-b"), Some(&owner_pem));

    a.kill();
    let a = CoordinatorProcess::start(&state_a).unwrap();
    let cli_a = Cli::new(tmp.path(), &ws_a, &a.addr);
    let run = cli_a
        .run(&[
            "--yes",
            "--allow-unattested",
            "recover",
            "--seed-shares",
            p(&ws_b.join("seed-shares.json")),
        ])
        .code(3);
    assert!(run.stderr.contains("pre-flight"), "{}", run.stderr);
    assert!(run.stderr.contains("Nothing was sent"), "{}", run.stderr);
    // Diagnosed from the workspace's pin: the share is another deployment's.
    assert!(run.stderr.contains("another deployment"), "{}", run.stderr);
    golden(
        "recover-wrong-seed.stderr.txt",
        &cli_a.normalize(&run.stderr),
    );
    // The right share still works.
    cli_a.run(&["--yes", "--allow-unattested", "recover"]).ok();
}

#[test]
fn tampered_latest_pointer_fails_the_preflight_and_restoring_heals_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (state, mut coordinator, mut cli) = set_up_deployment(tmp.path());
    coordinator.kill();

    // A byte inside the DER signature: still DER, no longer a valid signature.
    let latest = state.join("history/transitions/latest");
    let original = std::fs::read(&latest).unwrap();
    let mut bytes = original.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&latest, &bytes).unwrap();

    let coordinator = CoordinatorProcess::start(&state).unwrap();
    cli.addr = coordinator.addr.clone();
    let run = cli.run(&["--yes", "--allow-unattested", "recover"]).code(3);
    assert!(
        run.stderr
            .contains("pre-flight: the Coordinator's latest pointer"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Nothing was sent"), "{}", run.stderr);
    assert!(!run.stderr.contains("another deployment"), "{}", run.stderr);
    let run = cli.run(&["--json", "status"]).ok();
    assert_eq!(run.json()["state"], "recovery-required");

    // What the message says works: restore the file, no restart, run it again.
    std::fs::write(&latest, &original).unwrap();
    cli.run(&["--yes", "--allow-unattested", "recover"]).ok();
    let run = cli.run(&["--json", "status"]).ok();
    assert_eq!(run.json()["state"], "ready");
}

#[test]
fn tampered_history_fails_verify_with_exit_3() {
    let tmp = tempfile::tempdir().unwrap();
    let (state, mut coordinator, mut cli) = set_up_deployment(tmp.path());
    cli.run(&["verify"]).ok();
    coordinator.kill();

    // Flip one byte of the stored manifest.
    let manifests = state.join("history/manifests");
    let file = std::fs::read_dir(&manifests)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[5] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();

    let coordinator = CoordinatorProcess::start(&state).unwrap();
    cli.addr = coordinator.addr.clone();
    let run = cli.run(&["verify"]);
    assert_eq!(
        run.code, 3,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let run = cli.run(&["--json", "verify"]);
    assert_eq!(
        run.code, 3,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert_eq!(run.json()["ok"], false);
    // And recovery refuses to send the seed to it.
    let run = cli.run(&["--yes", "--allow-unattested", "recover"]);
    assert_eq!(
        run.code, 3,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
}

/// A `seed-shares.json` that others can read still works (the shares are encrypted), but
/// `seedward` says so once, on stderr, with the fix; stdout (the command's output) is
/// untouched. A 0600 file gets no warning.
#[test]
fn a_seed_share_document_readable_by_others_is_warned_about_once() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let (_state, _coordinator, cli) = set_up_deployment(tmp.path());
    let shares = cli.workspace.join("seed-shares.json");
    assert_eq!(
        std::fs::metadata(&shares).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let quiet = cli.run(&["verify", "--use-seed-share"]).ok();
    assert!(
        !quiet.stderr.contains("chmod"),
        "no warning for a 0600 file:\n{}",
        quiet.stderr
    );

    std::fs::set_permissions(&shares, std::fs::Permissions::from_mode(0o644)).unwrap();
    let warned = cli.run(&["verify", "--use-seed-share"]).ok();
    let lines: Vec<&str> = warned
        .stderr
        .lines()
        .filter(|l| l.contains("seed-shares.json"))
        .collect();
    assert_eq!(lines.len(), 1, "one warning line:\n{}", warned.stderr);
    assert!(
        lines[0].starts_with("warning: ")
            && lines[0].contains("0644")
            && lines[0].contains(&format!("chmod 600 {}", shares.display())),
        "the warning names the mode and the fix: {}",
        lines[0]
    );
    assert!(!warned.stdout.contains("chmod"), "stdout stays the output");
}
