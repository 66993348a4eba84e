//! The recovery wizard's pre-flight, end to end in a pseudo-terminal (tmux) against a real
//! Coordinator process that restarted: a seed share of another deployment, a tampered
//! `transitions/latest` and a tampered manifest blob in the Coordinator's state directory
//! are each caught before anything is sent, each with its own message saying what to do.
//! "Nothing sent" is checked on the Coordinator: it is still waiting for recovery, and its
//! log shows no `Recover` call.
//!
//! Deployments are set up with the CLI (faster; the setup wizard has its own test in
//! tui_e2e.rs). Needs tmux.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::{Path, PathBuf};

use crate::cli_support::{Cli, p, public_hex, write_template};
use crate::tui_support::{Tmux, squash};
use seedward_tests::CoordinatorProcess;

/// The right pane of the wizard (the step list is on the left).
const WIZARD_PANE: usize = 3;

/// Keys in `cli`'s workspace (or the owner key imported from `owner_pem`), then the first
/// set with the template manifest. The CLI also runs the share drill.
fn setup(cli: &Cli, input: &Path, owner_pem: Option<&Path>) {
    match owner_pem {
        Some(pem) => cli.run(&["keys", "import", "--kind", "owner", p(pem)]).ok(),
        None => cli.run(&["keys", "generate", "--kind", "owner"]).ok(),
    };
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

/// One deployment, set up and then restarted (a crash): it needs recovery.
struct Restarted {
    tmp: tempfile::TempDir,
    ws: PathBuf,
    state: PathBuf,
    coordinator: CoordinatorProcess,
}

fn restarted(damage: impl FnOnce(&Path)) -> Restarted {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let ws = tmp.path().join("ws");
    let mut coordinator = CoordinatorProcess::start(&state).unwrap();
    setup(
        &Cli::new(tmp.path(), &ws, &coordinator.addr),
        &tmp.path().join("input"),
        None,
    );
    coordinator.kill();
    damage(&state.join("history"));
    let coordinator = CoordinatorProcess::start(&state).unwrap();
    Restarted {
        tmp,
        ws,
        state,
        coordinator,
    }
}

/// Opens the TUI on `ws`, starts the recovery wizard, picks the owner key and waits for the
/// pre-flight to fail. Returns the session and the wizard pane's text.
fn failed_preflight(tmp: &Path, ws: &Path, coordinator: &CoordinatorProcess) -> (Tmux, String) {
    let t = Tmux::start(
        tmp,
        &[
            "--coordinator",
            &coordinator.addr,
            "--workspace",
            ws.to_str().unwrap(),
            "--key-store",
            "file",
        ],
    );
    t.wait_for("✗ recovery required");
    t.keys(&["r"]);
    t.wait_for("1/7 Owner key");
    t.wait_for("› seedshare-owner");
    t.keys(&["Enter"]);
    let screen = t.wait_for("✗ 3. Pre-flight");
    assert!(screen.contains("3/7 Pre-flight"), "{screen}");
    assert!(!screen.contains("4/7"), "{screen}");
    let pane = t.wait_for_pane(WIZARD_PANE, "Nothing further was sent");
    assert!(pane.contains("✓ Decrypt seed share"), "{pane}");
    (t, pane)
}

fn quit(t: Tmux) {
    t.keys(&["Escape"]);
    t.wait_for("What to do next");
    t.keys(&["q"]);
    t.wait_for("SEEDWARD EXITED 0");
}

/// The Coordinator still waits for recovery and was never asked to recover.
fn nothing_sent(tmp: &Path, ws: &Path, coordinator: &CoordinatorProcess) {
    let run = Cli::new(tmp, ws, &coordinator.addr)
        .run(&["--json", "status"])
        .ok();
    assert_eq!(run.json()["state"], "recovery-required", "{}", run.stdout);
    let log = coordinator.log();
    assert!(
        !log.contains("\"Recover\"") && !log.contains("rpc=Recover"),
        "the Coordinator saw a Recover call:\n{log}"
    );
}

/// The three diagnoses must stay apart: each message names its own cause only.
const OTHER_DEPLOYMENT: &str = "belongs to another deployment";
const LATEST_TAMPERED: &str = "latest pointer (transitions/latest in its state directory)";
const STORE_DAMAGED: &str = "reports a damaged file in its stored history";

fn only(pane: &str, expected: &str) {
    for phrase in [OTHER_DEPLOYMENT, LATEST_TAMPERED, STORE_DAMAGED] {
        assert_eq!(
            pane.contains(phrase),
            phrase == expected,
            "{phrase:?} in:\n{pane}"
        );
    }
    assert!(pane.contains("Nothing was sent"), "{pane}");
}

#[test]
fn preflight_refuses_a_seed_share_of_another_deployment() {
    let tmp = tempfile::tempdir().unwrap();
    // Deployments A and B with the same owner key.
    let state_a = tmp.path().join("state-a");
    let mut a = CoordinatorProcess::start(&state_a).unwrap();
    let b = CoordinatorProcess::start(&tmp.path().join("state-b")).unwrap();
    let ws_a = tmp.path().join("ws-a");
    let ws_b = tmp.path().join("ws-b");
    let cli_a = Cli::new(tmp.path(), &ws_a, &a.addr);
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
    let cli_b = Cli::new(tmp.path(), &ws_b, &b.addr);
    setup(&cli_b, &tmp.path().join("input-b"), Some(&owner_pem));
    a.kill();
    let a = CoordinatorProcess::start(&state_a).unwrap();

    // The operator mixed up the files: B's seed-shares.json in A's workspace. The share
    // decrypts (same owner key), so only the pre-flight can tell.
    std::fs::copy(ws_b.join("seed-shares.json"), ws_a.join("seed-shares.json")).unwrap();
    let (t, pane) = failed_preflight(tmp.path(), &ws_a, &a);
    only(&pane, OTHER_DEPLOYMENT);
    assert!(pane.contains("coordinator-root-ca.pem"), "{pane}");
    assert!(pane.contains("seed-shares.json"), "{pane}");
    quit(t);
    nothing_sent(tmp.path(), &ws_a, &a);
}

#[test]
fn preflight_catches_a_tampered_latest_pointer() {
    let latest = |history: &Path| history.join("transitions/latest");
    let mut original = Vec::new();
    let d = restarted(|history| {
        original = std::fs::read(latest(history)).unwrap();
        // A byte inside the DER signature: still DER, no longer a valid signature.
        let mut bytes = original.clone();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        std::fs::write(latest(history), bytes).unwrap();
    });
    let (t, pane) = failed_preflight(d.tmp.path(), &d.ws, &d.coordinator);
    only(&pane, LATEST_TAMPERED);
    assert!(pane.contains("tampered with"), "{pane}");
    assert!(pane.contains("Restore"), "{pane}");
    nothing_sent(d.tmp.path(), &d.ws, &d.coordinator);

    // What the message says works: restore the file (no restart) and retry with Enter.
    std::fs::write(latest(&d.state.join("history")), &original).unwrap();
    t.keys(&["Enter"]);
    let screen = t.wait_for("4/7 Check Coordinator");
    assert!(screen.contains("✓ Pre-flight"), "{screen}");
    // With a decrypted share in hand and no failed step, Esc asks before dropping it.
    t.keys(&["Escape"]);
    t.wait_for("Leave the recovery?");
    t.keys(&["y"]);
    t.wait_for("What to do next");
    t.keys(&["q"]);
    t.wait_for("SEEDWARD EXITED 0");
    nothing_sent(d.tmp.path(), &d.ws, &d.coordinator);
}

#[test]
fn preflight_catches_a_tampered_manifest_blob() {
    let mut name = String::new();
    let d = restarted(|history| {
        let file = std::fs::read_dir(history.join("manifests"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
            .unwrap();
        name = file.file_name().unwrap().to_string_lossy().into_owned();
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[5] ^= 0x01;
        std::fs::write(&file, bytes).unwrap();
    });
    let (t, pane) = failed_preflight(d.tmp.path(), &d.ws, &d.coordinator);
    only(&pane, STORE_DAMAGED);
    // The damaged file is named, so that it can be restored.
    assert!(
        squash(&pane).contains(&format!("manifests/{name}")),
        "manifests/{name} not named in:\n{pane}"
    );
    quit(t);
    nothing_sent(d.tmp.path(), &d.ws, &d.coordinator);
}
