//! The history audit screen end to end in a pseudo-terminal (tmux) against a real
//! Coordinator process: `x` exports the audited history to a new bundle file in the
//! workspace (never overwriting one) and shows its path and SHA-256; `v` verifies a bundle
//! offline; a bundle with one flipped byte fails, naming the entry. Needs tmux.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use crate::cli_support::{Cli, p, public_hex, write_template};
use crate::tui_support::{Tmux, squash};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use seedward_shared::history::Digest;
use seedward_tests::CoordinatorProcess;

#[test]
fn export_a_bundle_and_verify_it_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let mut coordinator = CoordinatorProcess::start(&tmp.path().join("state")).unwrap();
    let ws = tmp.path().join("ws");
    let cli = Cli::new(tmp.path(), &ws, &coordinator.addr);
    cli.run(&["keys", "generate", "--kind", "owner"]).ok();
    cli.run(&["keys", "generate", "--kind", "workload"]).ok();
    let (manifest, policies) = write_template(
        &tmp.path().join("input"),
        &public_hex(&cli, "seedshare-owner"),
        &public_hex(&cli, "workload-owner"),
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

    let t = Tmux::start(
        tmp.path(),
        &[
            "--coordinator",
            &coordinator.addr,
            "--workspace",
            ws.to_str().unwrap(),
            "--key-store",
            "file",
        ],
    );
    t.wait_for("✓ ready");
    t.keys(&["h"]);
    t.wait_for("✓ every entry re-hashed and the latest signature verified");
    let screen = t.wait_for("x export bundle");
    assert!(screen.contains("v verify file"), "{screen}");

    // Export: a new file, its path and digest on screen.
    t.keys(&["x"]);
    let screen = t.wait_for("History bundle exported");
    let first = ws.join("history-bundle-gen1.json");
    let bytes = std::fs::read(&first).unwrap();
    let digest = Digest::of(&bytes).to_hex();
    assert!(squash(&screen).contains(&digest), "{screen}");
    assert!(
        squash(&screen).contains(&squash(first.to_str().unwrap())),
        "{screen}"
    );
    assert!(
        screen.contains("signing public key is included"),
        "{screen}"
    );
    t.keys(&["Enter"]);
    // Again: a second file; the first is left as it was.
    t.keys(&["x"]);
    t.wait_for("History bundle exported");
    let second = ws.join("history-bundle-gen1-2.json");
    assert!(second.exists());
    assert_eq!(std::fs::read(&first).unwrap(), bytes);
    t.keys(&["Enter"]);

    // The CLI verifies the TUI's bundle offline (Coordinator gone), anchored.
    coordinator.kill();
    let run = cli
        .run(&[
            "history",
            "verify-bundle",
            p(&first),
            "--signing-key",
            p(&ws.join("history-signing-key.pem")),
        ])
        .ok();
    assert!(
        run.stdout.contains("verified and anchored"),
        "{}",
        run.stdout
    );

    // Offline verification from the TUI: v offers the bundle just written.
    t.keys(&["v"]);
    t.wait_for("Path of the history bundle to verify");
    t.keys(&["Enter"]);
    let screen = t.wait_for("✓ Bundle verifies");
    assert!(screen.contains("history-signing-key.pem"), "{screen}");
    t.keys(&["Enter"]);

    // One flipped byte in the manifest: verification fails and names the entry.
    let mut doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let mut m = BASE64
        .decode(doc["manifests"][0].as_str().unwrap())
        .unwrap();
    m[10] ^= 1;
    let tampered_hash = Digest::of(&m).short();
    doc["manifests"][0] = serde_json::Value::String(BASE64.encode(&m));
    std::fs::write(ws.join("tampered.json"), doc.to_string()).unwrap();
    t.keys(&["v"]);
    t.wait_for("Path of the history bundle to verify");
    // Clear the offered path, type the tampered file's name (relative to the workspace).
    t.keys(&vec!["BSpace"; first.to_str().unwrap().chars().count() + 4]);
    t.type_text("tampered.json");
    t.keys(&["Enter"]);
    let screen = t.wait_for("Bundle does not verify");
    assert!(
        squash(&screen).contains(&squash(&format!(
            "✗ generation 1 (manifest {tampered_hash}…)"
        ))),
        "the entry is not named:\n{screen}"
    );
    t.keys(&["Enter", "Escape", "q"]);
    t.wait_for("SEEDWARD EXITED 0");
}
