//! The whole operator lifecycle through the real `seedward` binary against a real
//! Coordinator process: keys, setup, verify, crash, recovery, update, history export and
//! offline verification, workload secrets. Outputs are compared with golden files.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::os::unix::fs::PermissionsExt as _;

use crate::cli_support::{Cli, golden, p, public_hex, write_changed, write_template};
use seedward_tests::{CoordinatorProcess, reference_values};

#[test]
fn lifecycle() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let ws = tmp.path().join("ws");
    let input = tmp.path().join("input");
    let mut coordinator = CoordinatorProcess::start(&state).unwrap();
    let mut cli = Cli::new(tmp.path(), &ws, &coordinator.addr);

    // Keys.
    let run = cli.run(&["keys", "generate", "--kind", "owner"]).ok();
    golden("keys-generate-owner.txt", &cli.normalize(&run.stdout));
    let run = cli
        .run(&["--json", "keys", "generate", "--kind", "workload"])
        .ok();
    golden("keys-generate-workload.json", &cli.normalize(&run.stdout));
    let run = cli.run(&["keys", "list"]).ok();
    golden("keys-list.txt", &cli.normalize(&run.stdout));
    let mode = std::fs::metadata(ws.join("keys/seedshare-owner.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Names are never reused.
    cli.run(&["keys", "generate", "--kind", "owner"]).code(1);
    // Public export; private only with --out and confirmation.
    let run = cli.run(&["keys", "export", "--kind", "owner"]).ok();
    assert!(
        run.stdout.starts_with("-----BEGIN PUBLIC KEY-----"),
        "{}",
        run.stdout
    );
    cli.run(&["keys", "export", "--kind", "owner", "--private"])
        .code(2);
    cli.run(&[
        "keys",
        "export",
        "--kind",
        "owner",
        "--private",
        "--out",
        "-",
    ])
    .code(2);
    let backup = tmp.path().join("owner-backup.pem");
    cli.run(&[
        "keys",
        "export",
        "--kind",
        "owner",
        "--private",
        "--out",
        p(&backup),
    ])
    .code(2);
    cli.run(&[
        "--yes",
        "--allow-unattested",
        "keys",
        "export",
        "--kind",
        "owner",
        "--private",
        "--out",
        p(&backup),
    ])
    .ok();
    assert_eq!(
        std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o600
    );
    cli.run(&[
        "--yes",
        "--allow-unattested",
        "keys",
        "export",
        "--kind",
        "owner",
        "--private",
        "--out",
        p(&backup),
    ])
    .code(1);

    let owner = public_hex(&cli, "seedshare-owner");
    let workload = public_hex(&cli, "workload-owner");
    let (manifest, policies) = write_template(&input, &owner, &workload);
    let mut set_args: Vec<String> = vec!["set".into(), "--manifest".into(), p(&manifest).into()];
    for pol in &policies {
        set_args.push("--policy".into());
        set_args.push(p(pol).into());
    }
    let set_args: Vec<&str> = set_args.iter().map(String::as_str).collect();

    // Setup.
    let run = cli.run(&["status"]).ok();
    golden("status-uninitialized.txt", &cli.normalize(&run.stdout));
    // Without a terminal and without --yes, nothing is sent.
    cli.run(&set_args).code(2);
    // --yes alone does not send a first manifest to an UNATTESTED Coordinator.
    let mut only_yes = vec!["--yes"];
    only_yes.extend(&set_args);
    let run = cli.run(&only_yes).code(4);
    assert!(
        run.stderr.contains("UNATTESTED") && run.stderr.contains("--allow-unattested"),
        "{}",
        run.stderr
    );
    let run = cli.run(&["--json", "status"]).ok();
    assert_eq!(run.json()["state"], "uninitialized", "{}", run.stdout);
    let mut with_yes = vec!["--yes", "--allow-unattested"];
    with_yes.extend(&set_args);
    let run = cli.run(&with_yes).ok();
    assert!(
        run.stdout
            .contains("your share recovers this Coordinator ✓"),
        "{}",
        run.stdout
    );
    golden("set-setup.txt", &cli.normalize(&run.stdout));
    assert_eq!(
        std::fs::metadata(ws.join("seed-shares.json"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let run = cli.run(&["--json", "status"]).ok();
    golden("status-ready.json", &cli.normalize(&run.stdout));

    // Verify.
    let run = cli.run(&["verify"]).ok();
    golden("verify.txt", &cli.normalize(&run.stdout));
    let verify = ws.join("verify");
    let manifests: Vec<_> = std::fs::read_dir(verify.join("manifests"))
        .unwrap()
        .collect();
    assert_eq!(manifests.len(), 1);
    assert_eq!(
        std::fs::read_dir(verify.join("policies")).unwrap().count(),
        2
    );
    for f in [
        "coordinator-root-ca.pem",
        "mesh-ca.pem",
        "latest-transition",
        "latest-signature",
    ] {
        assert!(verify.join(f).exists(), "{f}");
    }
    assert_eq!(
        std::fs::read_to_string(verify.join("latest-transition"))
            .unwrap()
            .trim()
            .len(),
        64
    );

    // Crash and recover.
    coordinator.kill();
    coordinator = CoordinatorProcess::start(&state).unwrap();
    cli.addr = coordinator.addr.clone();
    let run = cli.run(&["--json", "status"]).ok();
    assert_eq!(run.json()["state"], "recovery-required", "{}", run.stdout);
    cli.run(&["recover"]).code(2);
    // --yes alone does not send the seed to an UNATTESTED Coordinator; nothing leaves.
    let run = cli.run(&["--yes", "recover"]).code(4);
    assert!(run.stderr.contains("UNATTESTED"), "{}", run.stderr);
    let run = cli.run(&["--json", "status"]).ok();
    assert_eq!(run.json()["state"], "recovery-required", "{}", run.stdout);
    let run = cli.run(&["--yes", "--allow-unattested", "recover"]).ok();
    golden("recover.txt", &cli.normalize(&run.stdout));
    assert!(
        run.stdout.contains("restart every workload"),
        "{}",
        run.stdout
    );
    cli.run(&["verify"]).ok();
    // Nothing to recover any more.
    cli.run(&["--yes", "--allow-unattested", "recover"]).code(1);

    // Update, atomic against the audited latest.
    let v2 = input.join("manifest-v2.json");
    write_changed(&manifest, &v2, reference_values(2));
    let mut update: Vec<String> = vec![
        "--yes".into(),
        "--allow-unattested".into(),
        "set".into(),
        "--manifest".into(),
        p(&v2).into(),
        "--atomic".into(),
    ];
    for pol in &policies {
        update.push("--policy".into());
        update.push(p(pol).into());
    }
    let update: Vec<&str> = update.iter().map(String::as_str).collect();
    let run = cli.run(&update).ok();
    golden("set-update.txt", &cli.normalize(&run.stdout));
    let run = cli.run(&["--json", "verify"]).ok();
    golden("verify-after-update.json", &cli.normalize(&run.stdout));

    // History.
    let run = cli.run(&["history", "list"]).ok();
    golden("history-list.txt", &cli.normalize(&run.stdout));
    let run = cli.run(&["history", "diff", "1", "2", "--raw"]).ok();
    golden("history-diff.txt", &cli.normalize(&run.stdout));
    let run = cli.run(&["--json", "history", "show", "2"]).ok();
    assert_eq!(
        run.json()["manifest"]["ReferenceValues"],
        reference_values(2)
    );
    cli.run(&["history", "show", "9"]).code(2);
    let bundle = tmp.path().join("history.json");
    let run = cli.run(&["history", "export", "--out", p(&bundle)]).ok();
    golden("history-export.txt", &cli.normalize(&run.stdout));
    cli.run(&["history", "export", "--out", p(&bundle)]).code(1);

    // A stale atomic update: signed against generation 1's transition.
    let list = cli.run(&["--json", "history", "list"]).ok().json();
    let first = list["entries"][0]["transition"]
        .as_str()
        .unwrap()
        .to_string();
    let v3 = input.join("manifest-v3.json");
    write_changed(&manifest, &v3, reference_values(3));
    let mut stale: Vec<String> = vec![
        "--yes".into(),
        "--allow-unattested".into(),
        "set".into(),
        "--manifest".into(),
        p(&v3).into(),
        "--expect-latest".into(),
        first,
    ];
    for pol in &policies {
        stale.push("--policy".into());
        stale.push(p(pol).into());
    }
    let stale: Vec<&str> = stale.iter().map(String::as_str).collect();
    let run = cli.run(&stale).code(4);
    assert!(run.stderr.contains("STALE_LATEST"), "{}", run.stderr);
    let mut stale_json = vec!["--json"];
    stale_json.extend(&stale);
    let run = cli.run(&stale_json).code(4);
    assert_eq!(
        run.json()["error"]["reason"],
        "STALE_LATEST",
        "{}",
        run.stdout
    );
    assert_eq!(run.json()["error"]["exit_code"], 4);

    // Workload secrets: offline, stable, 128 hex characters, 0400 files.
    coordinator.kill();
    let a = cli
        .run(&["workload-secret", "--id", "apps/v1/Deployment/default/web"])
        .ok();
    let b = cli
        .run(&["workload-secret", "--id", "apps/v1/Deployment/default/web"])
        .ok();
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.stdout.trim().len(), 128);
    assert!(
        a.stdout
            .trim()
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    let other = cli.run(&["workload-secret", "--id", "db"]).ok();
    assert_ne!(other.stdout, a.stdout);
    let secret_file = tmp.path().join("web.secret");
    cli.run(&[
        "workload-secret",
        "--id",
        "apps/v1/Deployment/default/web",
        "--out",
        p(&secret_file),
    ])
    .ok();
    assert_eq!(
        std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o400
    );
    assert_eq!(
        std::fs::read_to_string(&secret_file).unwrap(),
        a.stdout.trim()
    );

    // Offline bundle verification, with the Coordinator gone.
    let signing_key = ws.join("history-signing-key.pem");
    let run = cli
        .run(&[
            "history",
            "verify-bundle",
            p(&bundle),
            "--signing-key",
            p(&signing_key),
        ])
        .ok();
    golden("verify-bundle-anchored.txt", &cli.normalize(&run.stdout));
    let run = cli.run(&["history", "verify-bundle", p(&bundle)]).ok();
    assert!(
        run.stdout.contains("self-consistent but not anchored"),
        "{}",
        run.stdout
    );
    let run = cli
        .run(&[
            "--json",
            "history",
            "verify-bundle",
            p(&bundle),
            "--seed-shares",
            p(&ws.join("seed-shares.json")),
        ])
        .ok();
    golden("verify-bundle-seed.json", &cli.normalize(&run.stdout));
    // A bundle with one flipped manifest byte fails.
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    let m0 = doc["manifests"][0].as_str().unwrap().to_string();
    let tampered = {
        use base64::Engine as _;
        use base64::engine::general_purpose::STANDARD;
        let mut bytes = STANDARD.decode(&m0).unwrap();
        bytes[10] ^= 1;
        STANDARD.encode(&bytes)
    };
    doc["manifests"][0] = serde_json::Value::String(tampered);
    let bad = tmp.path().join("tampered.json");
    std::fs::write(&bad, doc.to_string()).unwrap();
    cli.run(&[
        "history",
        "verify-bundle",
        p(&bad),
        "--signing-key",
        p(&signing_key),
    ])
    .code(3);
}

/// The documented lifecycle script (docs/CLI.md, assets/examples/lifecycle.sh) runs as is.
#[test]
fn lifecycle_script_runs() {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/examples/lifecycle.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg(seedward_tests::seedward_bin())
        .arg(seedward_tests::coordinator_bin())
        .env_remove("SEEDWARD_COORDINATOR")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "lifecycle.sh failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("== done: the whole lifecycle checks out"),
        "{stdout}"
    );
    assert!(
        stdout.contains("your share recovers this Coordinator ✓"),
        "{stdout}"
    );
}
