//! The manifest update screen end to end in a pseudo-terminal (tmux) against a real
//! Coordinator process: the semantic diff is shown; while the operator reviews, another
//! client (the CLI) lands an update; the operator's update, signed against the audited
//! latest transition, is refused (STALE_LATEST), explained, and shows what changed
//! meanwhile; nothing of it was set. Confirming again, against the fresh audit, lands it.
//! Needs tmux.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use crate::cli_support::{Cli, p, public_hex, write_changed, write_template};
use crate::tui_support::Tmux;
use seedward_tests::{CoordinatorProcess, reference_values};

/// The update screen is one full-width pane.
const PANE: usize = 1;

/// The `ReferenceValues` of the manifest of `generation`.
fn reference_values_of(cli: &Cli, generation: u64) -> serde_json::Value {
    let run = cli
        .run(&["--json", "history", "show", &generation.to_string()])
        .ok();
    run.json()["manifest"]["ReferenceValues"].clone()
}

fn generation(cli: &Cli) -> u64 {
    cli.run(&["--json", "history", "list"]).ok().json()["generation"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_stale_update_is_refused_and_shows_what_changed_meanwhile() {
    let tmp = tempfile::tempdir().unwrap();
    let coordinator = CoordinatorProcess::start(&tmp.path().join("state")).unwrap();
    let ws = tmp.path().join("ws");
    let cli = Cli::new(tmp.path(), &ws, &coordinator.addr);
    cli.run(&["keys", "generate", "--kind", "owner"]).ok();
    cli.run(&["keys", "generate", "--kind", "workload"]).ok();
    // The template's policy documents go to policies/ of the workspace, where the TUI
    // looks them up by hash.
    let (manifest, policies) = write_template(
        &ws.join("policies"),
        &public_hex(&cli, "seedshare-owner"),
        &public_hex(&cli, "workload-owner"),
    );
    let with_policies = |mut args: Vec<String>| {
        for pol in &policies {
            args.push("--policy".into());
            args.push(p(pol).into());
        }
        args
    };
    let set = with_policies(vec![
        "--yes".into(),
        "--allow-unattested".into(),
        "set".into(),
        "--manifest".into(),
        p(&manifest).into(),
    ]);
    cli.run(&set.iter().map(String::as_str).collect::<Vec<_>>())
        .ok();
    // The operator's new manifest in the workspace: it adds SEV-SNP reference values. The
    // other client's, elsewhere, only accepts unattested Coordinators explicitly: a change
    // that reads differently in the diffs.
    write_changed(&manifest, &ws.join("manifest-v2.json"), reference_values(2));
    let v3 = tmp.path().join("manifest-v3.json");
    let other = serde_json::json!({"none": {}});
    write_changed(&manifest, &v3, other.clone());

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
    t.wait_for("✓ pinned");
    t.keys(&["u"]);
    t.wait_for("✓ audited");
    t.wait_for("› manifest-v2.json");
    t.keys(&["Enter"]);
    let pane = t.wait_for_pane(PANE, "Press Enter, then type update");
    assert!(pane.contains("manifest-v2.json: ✓ valid"), "{pane}");
    assert!(
        pane.contains("Changes against the active manifest:"),
        "{pane}"
    );
    // A wrapped diff row repeats its `+ ` marker (#19): read the rows joined without it.
    let unwrapped = pane.replace(" + ", " ");
    assert!(
        pane.contains("+ ReferenceValues/none = {}")
            && unwrapped.contains("ReferenceValues/snp = [{\"ProductName\":\"Milan\""),
        "the semantic diff is shown:\n{pane}"
    );
    assert!(
        pane.contains("'workload-owner'"),
        "the signing key is named:\n{pane}"
    );

    // Meanwhile another client lands an update.
    let race = with_policies(vec![
        "--yes".into(),
        "--allow-unattested".into(),
        "set".into(),
        "--manifest".into(),
        p(&v3).into(),
        "--atomic".into(),
    ]);
    cli.run(&race.iter().map(String::as_str).collect::<Vec<_>>())
        .ok();
    assert_eq!(generation(&cli), 2);

    // The operator confirms the reviewed update: refused, explained, nothing set.
    t.keys(&["Enter"]);
    t.wait_for("Replace the active manifest?");
    t.type_text("update");
    t.wait_for("✓ Enter to send");
    t.keys(&["Enter"]);
    let pane = t.wait_for_pane(PANE, "What changed meanwhile");
    assert!(
        pane.contains("Someone else updated the manifest meanwhile; nothing of yours was set."),
        "{pane}"
    );
    // The Coordinator's typed refusal, and what to do next.
    assert!(pane.contains("the history changed"), "{pane}");
    t.wait_for_pane(PANE, "press Enter to sign your manifest against it");
    let pane = t.wait_for_pane(
        PANE,
        "(your audited version → the current one): + ReferenceValues/none = {}",
    );
    let meanwhile = pane
        .split("What changed meanwhile")
        .nth(1)
        .and_then(|rest| rest.split("The Active line above").next())
        .unwrap_or_else(|| panic!("{pane}"));
    assert!(
        !meanwhile.contains("ReferenceValues/snp"),
        "what changed meanwhile is the other client's change, not the operator's:\n{pane}"
    );
    // The re-audit moved the base to the other client's generation.
    t.wait_for_pane(PANE, "generation 2, transition");
    assert_eq!(generation(&cli), 2, "the stale update must not land");
    assert_eq!(reference_values_of(&cli, 2), other);

    // Confirming again signs against the fresh audit, and lands.
    t.keys(&["Enter"]);
    t.wait_for("Replace the active manifest?");
    t.type_text("update");
    t.keys(&["Enter"]);
    t.wait_for("✓ update set: generation 3");
    assert_eq!(generation(&cli), 3);
    assert_eq!(reference_values_of(&cli, 3), reference_values(2));
    t.keys(&["Enter"]);
    t.wait_for("What to do next");
    t.keys(&["q"]);
    t.wait_for("SEEDWARD EXITED 0");
}
