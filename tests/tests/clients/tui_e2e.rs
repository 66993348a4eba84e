//! The TUI end to end through a real pseudo-terminal: tmux runs `seedward` against a real
//! Coordinator process; the test types with `tmux send-keys` and reads the screen with
//! `tmux capture-pane -p`, then checks the files the ceremony wrote.
//!
//! Needs tmux (scripts/install-test-deps.sh). Set SEEDWARD_TEST_SECRET_SERVICE=1 inside an
//! unlocked Secret Service session (dbus-run-session + gnome-keyring) to also run the setup
//! with `--key-store keyring`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::tui_support::Tmux;
use seedward_tests::CoordinatorProcess;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Drives step 1 in a fresh key store: generate both keys, continue. Returns the screen with
/// both keys chosen.
fn generate_both_keys(t: &Tmux) -> String {
    t.keys(&["s"]);
    t.wait_for("1/5 Owner keys");
    // With no keys, the first choice is "Create a new seed share owner key".
    t.keys(&["Enter"]);
    t.wait_for("✓ seedshare-owner");
    // Counted from the bottom (stable while keys are added above): Continue, Immutable,
    // Import workload, Create workload.
    t.keys(&["G", "k", "k", "k"]);
    t.wait_for("› Create a new workload owner key");
    t.keys(&["Enter"]);
    let screen = t.wait_for("✓ workload-owner");
    t.keys(&["G"]);
    t.wait_for("› Continue →");
    t.keys(&["Enter"]);
    t.wait_for("2/5 Manifest");
    screen
}

fn full_setup(key_store: &str) {
    let dir = tempfile::tempdir().unwrap();
    let coordinator = CoordinatorProcess::start(&dir.path().join("coordinator")).unwrap();
    let ws = dir.path().join("ws");
    let t = Tmux::start(
        dir.path(),
        &[
            "--coordinator",
            &coordinator.addr,
            "--workspace",
            ws.to_str().unwrap(),
            "--key-store",
            key_store,
        ],
    );
    t.wait_for("○ uninitialized");
    t.wait_for("UNATTESTED");

    let screen = generate_both_keys(&t);
    let backend = if key_store == "keyring" {
        "keyring"
    } else {
        "file"
    };
    assert!(
        screen.contains(&format!(", {backend})")),
        "keys not in the {backend} store:\n{screen}"
    );

    // 2. Manifest from the template.
    t.keys(&["Enter"]);
    t.wait_for("manifest.json: ✓ valid");
    let screen = t.wait_for("← your key");
    assert!(screen.contains("Policies (2)"), "{screen}");
    assert!(ws.join("manifest.json").exists());
    assert!(ws.join("policies").join("coordinator.policy").exists());
    t.keys(&["Enter"]);

    // 3. Coordinator.
    t.wait_for("3/5 Coordinator");
    let screen = t.wait_for("ready for its first manifest");
    assert!(screen.contains("UNATTESTED"), "{screen}");
    assert!(screen.contains(&coordinator.addr), "{screen}");
    t.keys(&["Enter"]);

    // 4. Confirm: nothing is written before the typed word.
    t.wait_for("4/5 Confirm and set");
    assert!(!ws.join("seed-shares.json").exists());
    t.keys(&["Enter"]);
    t.wait_for("Send the first manifest?");
    t.type_text("unattested");
    t.wait_for("✓ Enter to send");
    t.keys(&["Enter"]);

    // 5. Share drill.
    let screen = t.wait_for("your share recovers this Coordinator ✓");
    assert!(screen.contains("✓ manifest set"), "{screen}");
    let shares = ws.join("seed-shares.json");
    assert_eq!(mode(&shares), 0o600);
    assert!(
        std::fs::read_to_string(ws.join("coordinator-root-ca.pem"))
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    assert!(ws.join("mesh-ca.pem").exists());
    assert!(ws.join("history-signing-key.pem").exists());
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&shares).unwrap()).unwrap();
    assert_eq!(doc["SeedShares"].as_array().map(Vec::len), Some(1));

    // Back to the dashboard: ready and pinned.
    t.keys(&["Enter"]);
    t.wait_for("✓ ready");
    t.wait_for("✓ pinned");
    t.keys(&["q"]);
    t.wait_for("SEEDWARD EXITED 0");

    // A second workspace against the same, now initialized, Coordinator: setup is refused
    // and nothing is written.
    drop(t);
    let ws2 = dir.path().join("ws2");
    let t = Tmux::start(
        dir.path(),
        &[
            "--coordinator",
            &coordinator.addr,
            "--workspace",
            ws2.to_str().unwrap(),
            "--key-store",
            "file",
        ],
    );
    t.wait_for("✓ ready");
    t.keys(&["s"]);
    t.wait_for("Setup is only for an uninitialized Coordinator");
    assert!(!ws2.join("seed-shares.json").exists());
    assert!(!ws2.join("manifest.json").exists());
    t.keys(&["Enter", "q"]);
    t.wait_for("SEEDWARD EXITED 0");
    drop(t);

    // Kill the Coordinator (a crash) and start it again on the same state: the dashboard shows
    // recovery required, and the recovery wizard brings it back with the first workspace.
    let state_dir = coordinator.state_dir.clone();
    let mut coordinator = coordinator;
    coordinator.kill();
    let coordinator = CoordinatorProcess::start(&state_dir).unwrap();
    let t = Tmux::start(
        dir.path(),
        &[
            "--coordinator",
            &coordinator.addr,
            "--workspace",
            ws.to_str().unwrap(),
            "--key-store",
            key_store,
        ],
    );
    t.wait_for("✗ recovery required");
    t.keys(&["r"]);
    t.wait_for("1/7 Owner key");
    t.wait_for("› seedshare-owner");
    t.keys(&["Enter"]);
    let screen = t.wait_for("4/7 Check Coordinator");
    assert!(screen.contains("✓ Pre-flight"), "{screen}");
    t.keys(&["Enter"]);
    t.wait_for("Send your seed to this Coordinator?");
    t.type_text("unattested");
    t.keys(&["Enter"]);
    let screen = t.wait_for("Recovery finished");
    assert!(screen.contains("✓ the Coordinator is ready"), "{screen}");
    assert!(
        screen.contains("✓ its root CA key equals the pinned one"),
        "{screen}"
    );
    assert!(screen.contains("✓ the history is unchanged"), "{screen}");
    t.keys(&["Enter"]);
    t.wait_for("✓ ready");
    t.wait_for("✓ pinned");
    t.keys(&["q"]);
    t.wait_for("SEEDWARD EXITED 0");
}

#[test]
fn setup_wizard_end_to_end_with_file_keys() {
    full_setup("file");
}

#[test]
#[ignore = "needs an unlocked Secret Service; scripts/test.sh runs it inside one"]
fn setup_wizard_end_to_end_with_secret_service() {
    assert_eq!(
        std::env::var("SEEDWARD_TEST_SECRET_SERVICE").as_deref(),
        Ok("1"),
        "this test needs an unlocked Secret Service: run it through scripts/test.sh (which starts one) or set SEEDWARD_TEST_SECRET_SERVICE=1 inside such a session"
    );
    full_setup("keyring");
}

#[test]
fn a_manifest_that_does_not_parse_is_shown_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let coordinator = CoordinatorProcess::start(&dir.path().join("coordinator")).unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("broken.json"), b"{\"Policies\": ").unwrap();
    let t = Tmux::start(
        dir.path(),
        &[
            "--coordinator",
            &coordinator.addr,
            "--workspace",
            ws.to_str().unwrap(),
            "--key-store",
            "file",
        ],
    );
    t.wait_for("○ uninitialized");
    generate_both_keys(&t);
    t.keys(&["Down", "Enter"]);
    let screen = t.wait_for("is not valid JSON");
    assert!(screen.contains("broken.json"), "{screen}");
    // Enter again does not go on.
    t.keys(&["Enter"]);
    assert!(!t.screen().contains("3/5 Coordinator"));
    assert!(!ws.join("seed-shares.json").exists());
    assert!(!ws.join("manifest.json").exists());
    t.keys(&["Escape", "Escape", "Escape"]);
    t.wait_for("What to do next");
    t.keys(&["q"]);
    t.wait_for("SEEDWARD EXITED 0");
}

#[test]
fn a_key_file_of_the_wrong_type_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let coordinator = CoordinatorProcess::start(&dir.path().join("coordinator")).unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    // A P-384 key offered as the (X25519) seed share owner key.
    let wrong = seedward_shared::keys::WorkloadOwnerKeyPair::generate(&mut rand_core::OsRng);
    let pem_path = dir.path().join("p384.pem");
    std::fs::write(&pem_path, wrong.to_pkcs8_pem().as_bytes()).unwrap();
    let t = Tmux::start(
        dir.path(),
        &[
            "--coordinator",
            &coordinator.addr,
            "--workspace",
            ws.to_str().unwrap(),
            "--key-store",
            "file",
        ],
    );
    t.wait_for("○ uninitialized");
    t.keys(&["s"]);
    t.wait_for("1/5 Owner keys");
    t.keys(&["Down"]);
    t.wait_for("› Import the seed share owner key");
    t.keys(&["Enter"]);
    t.wait_for("Path of the PKCS#8 PEM file");
    t.type_text(pem_path.to_str().unwrap());
    t.keys(&["Enter"]);
    let screen = t.wait_for("✗ Key store");
    assert!(screen.contains("Error"), "{screen}");
    t.keys(&["Enter"]);
    let screen = t.wait_for("1/5 Owner keys");
    assert!(screen.contains("✗ not chosen"), "{screen}");
    // Nothing stored: no key files, and the index (if any) lists no key.
    let keys_dir = ws.join("keys");
    let stored = std::fs::read_dir(&keys_dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(stored, 0, "a key file was written");
    if let Ok(index) = std::fs::read_to_string(ws.join("seedward-keys.json")) {
        assert!(!index.contains("seedshare-owner"), "{index}");
    }
    t.keys(&["Escape", "q"]);
    t.wait_for("SEEDWARD EXITED 0");
}

#[test]
fn an_unreachable_coordinator_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let t = Tmux::start(
        dir.path(),
        &[
            "--coordinator",
            "127.0.0.1:1",
            "--workspace",
            ws.to_str().unwrap(),
            "--key-store",
            "file",
        ],
    );
    t.wait_for("✗ unreachable");
    t.keys(&["s"]);
    t.wait_for("not known yet");
    assert!(!ws.join("seed-shares.json").exists());
    t.keys(&["Enter", "q"]);
    t.wait_for("SEEDWARD EXITED 0");
}

/// A manifest with three owners and no `SeedshareOwnerThreshold`: the wizard asks for k, the
/// set sends the manifest with the k chosen, the workspace's `manifest.json` holds it (the
/// template it replaced is kept as `.previous`), the chosen file is untouched, and the share
/// document is split 2 of 3.
#[test]
fn setup_wizard_asks_for_k_and_sets_it() {
    let dir = tempfile::tempdir().unwrap();
    let coordinator = CoordinatorProcess::start(&dir.path().join("coordinator")).unwrap();
    let ws = dir.path().join("ws");
    let t = Tmux::start(
        dir.path(),
        &[
            "--coordinator",
            &coordinator.addr,
            "--workspace",
            ws.to_str().unwrap(),
            "--key-store",
            "file",
        ],
    );
    t.wait_for("○ uninitialized");
    generate_both_keys(&t);

    // The template (one owner, ours), then the same with two more owners as three.json.
    t.keys(&["Enter"]);
    t.wait_for("← your key");
    let template = std::fs::read(ws.join("manifest.json")).unwrap();
    let mut value: serde_json::Value = serde_json::from_slice(&template).unwrap();
    let owners = value["SeedshareOwnerPubKeys"].as_array_mut().unwrap();
    for b in [21u8, 22] {
        owners.push(
            seedward_shared::keys::OwnerKeyPair::from_secret_bytes([b; 32])
                .public_key()
                .to_hex()
                .into(),
        );
    }
    let three = format!("{value:#}\n");
    std::fs::write(ws.join("three.json"), &three).unwrap();
    // Back to step 1 and on again: the manifest list is read anew.
    t.keys(&["Escape"]);
    t.wait_for("1/5 Owner keys");
    t.keys(&["G"]);
    t.wait_for("› Continue →");
    t.keys(&["Enter"]);
    t.wait_for("2/5 Manifest");
    t.wait_for("three.json");
    t.keys(&["G"]);
    t.wait_for("› three.json");
    t.keys(&["Enter"]);
    t.wait_for("three.json  (chosen)");
    t.wait_for("three.json: ✓ valid");
    t.keys(&["Enter"]);

    // The question, with what each k means.
    t.wait_for("3/6 Recovery threshold");
    let screen = t.wait_for("How many of the 3 seed share owners");
    assert!(screen.contains("› 1 — any one owner"), "{screen}");
    assert!(screen.contains("owner's laptop key is"), "{screen}");
    t.keys(&["j"]);
    let screen = t.wait_for("› 2 of 3");
    assert!(screen.contains("no single owner can"), "{screen}");
    t.keys(&["Enter"]);

    t.wait_for("4/6 Coordinator");
    t.wait_for("ready for its first manifest");
    t.keys(&["Enter"]);
    t.wait_for("5/6 Confirm and set");
    t.wait_for("2 of 3 owners together (chosen here)");
    t.keys(&["Enter"]);
    t.wait_for("Send the first manifest?");
    t.type_text("unattested");
    t.wait_for("✓ Enter to send");
    t.keys(&["Enter"]);

    let screen = t.wait_for("your share is intact ✓");
    assert!(screen.contains("6/6 Share drill"), "{screen}");
    let set = std::fs::read(ws.join("manifest.json")).unwrap();
    let set: serde_json::Value = serde_json::from_slice(&set).unwrap();
    assert_eq!(set["SeedshareOwnerThreshold"], 2);
    assert_eq!(
        set["SeedshareOwnerPubKeys"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(
        std::fs::read(ws.join("manifest.json.previous")).unwrap(),
        template,
        "the template it replaced is kept"
    );
    assert_eq!(
        std::fs::read_to_string(ws.join("three.json")).unwrap(),
        three,
        "the file chosen is not touched"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.join("seed-shares.json")).unwrap())
            .unwrap();
    assert_eq!(doc["SeedShares"].as_array().map(Vec::len), Some(3));
    t.keys(&["Enter"]);
    t.wait_for("✓ ready");
    t.keys(&["q"]);
    t.wait_for("SEEDWARD EXITED 0");
}
