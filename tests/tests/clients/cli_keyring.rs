//! The `seedward` binary with keys in a real Secret Service: generate, set up, crash,
//! recover, all with `--key-store keyring`, cross-checked with `secret-tool`.
//!
//! `scripts/test.sh` runs the suite inside a private D-Bus session with an unlocked
//! gnome-keyring and sets `SEEDWARD_TEST_SECRET_SERVICE=1`; with the variable set this
//! test must run and pass, never skip.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use crate::cli_support::{Cli, p, public_hex, write_template};
use seedward::keystore::{KEYRING_SERVICE, KeyKind, keyring_account, workspace_id};
use seedward_tests::CoordinatorProcess;

#[test]
#[ignore = "needs an unlocked Secret Service; scripts/test.sh runs it inside one"]
fn keys_in_the_secret_service_drive_the_whole_recovery() {
    assert_eq!(
        std::env::var("SEEDWARD_TEST_SECRET_SERVICE").as_deref(),
        Ok("1"),
        "this test needs an unlocked Secret Service: run it through scripts/test.sh (which starts one) or set SEEDWARD_TEST_SECRET_SERVICE=1 inside such a session"
    );
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let ws = tmp.path().join("ws");
    let mut coordinator = CoordinatorProcess::start(&state).unwrap();
    let mut cli = Cli::new(tmp.path(), &ws, &coordinator.addr);
    cli.key_store = "keyring";

    cli.run(&["keys", "generate", "--kind", "owner"]).ok();
    cli.run(&["keys", "generate", "--kind", "workload"]).ok();
    let list = cli.run(&["--json", "keys", "list"]).ok().json();
    assert_eq!(list["backend"], "keyring");
    assert!(
        list["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["backend"] == "keyring"),
        "{list}"
    );
    assert!(
        !ws.join("keys").exists(),
        "no key files with the keyring backend"
    );

    // An independent Secret Service client sees the entries.
    let id = workspace_id(&std::fs::canonicalize(&ws).unwrap());
    let out = std::process::Command::new("secret-tool")
        .args(["search", "--all", "service", KEYRING_SERVICE])
        .output()
        .expect("secret-tool must be installed when SEEDWARD_TEST_SECRET_SERVICE=1");
    let attributes: String = String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .filter(|l| l.starts_with("attribute."))
        .map(|l| format!("{l}\n"))
        .collect();
    for kind in [KeyKind::SeedShareOwner, KeyKind::WorkloadOwner] {
        let account = keyring_account(kind, kind.default_name(), &id);
        assert!(
            attributes.contains(&account),
            "secret-tool does not list {account}:\n{attributes}"
        );
    }

    // Setup, crash, recovery: the owner key comes from the keyring every time.
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
    let run = cli.run(&args).ok();
    assert!(
        run.stdout
            .contains("your share recovers this Coordinator ✓"),
        "{}",
        run.stdout
    );
    coordinator.kill();
    let coordinator = CoordinatorProcess::start(&state).unwrap();
    cli.addr = coordinator.addr.clone();
    cli.run(&["--yes", "--allow-unattested", "recover"]).ok();
    cli.run(&["verify", "--use-seed-share"]).ok();
}
