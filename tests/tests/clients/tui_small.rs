//! Issue #19, "the first ten minutes at 80×24", end to end: `seedward` in a tmux pane of
//! 80×24 (the smallest size it supports) against real Coordinators, each test one thing a new
//! operator tripped over. Needs tmux.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::Path;

use crate::cli_support::{Cli, p, public_hex, write_template};
use crate::tui_support::{Tmux, squash};
use seedward_tests::CoordinatorProcess;

/// Keys and the first set with the template manifest, through the CLI (faster).
fn set_up(cli: &Cli, input: &Path) {
    cli.run(&["keys", "generate", "--kind", "owner"]).ok();
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

fn client_args<'a>(addr: &'a str, ws: &'a Path) -> Vec<&'a str> {
    vec![
        "--coordinator",
        addr,
        "--workspace",
        ws.to_str().unwrap(),
        "--key-store",
        "file",
    ]
}

/// The row of the screen that holds `needle`.
fn row_with<'s>(screen: &'s str, needle: &str) -> &'s str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{screen}"))
}

#[test]
fn item1_the_verify_prompt_shows_what_is_typed_and_replaces_the_offered_path() {
    let tmp = tempfile::tempdir().unwrap();
    let coordinator = CoordinatorProcess::start(&tmp.path().join("state")).unwrap();
    let ws = tmp.path().join("ws");
    let cli = Cli::new(tmp.path(), &ws, &coordinator.addr);
    set_up(&cli, &tmp.path().join("input"));
    let t = Tmux::start_small(tmp.path(), &[], &client_args(&coordinator.addr, &ws));
    t.wait_for("✓ ready");
    t.keys(&["h"]);
    t.wait_for("✓ every entry re-hashed");
    t.keys(&["x"]);
    t.wait_for("History bundle exported");
    t.keys(&["Enter"]);
    std::fs::copy(
        ws.join("history-bundle-gen1.json"),
        ws.join("copy-of-the-bundle.json"),
    )
    .unwrap();
    t.keys(&["v"]);
    let screen = t.wait_for("Path of the history bundle to verify");
    // The offered path is on its own row, in full (the pane may wrap a long temp path).
    let field = row_with(&screen, "> ");
    assert!(field.ends_with('█'), "{screen}");
    assert!(
        squash(&screen).contains(&squash(
            ws.join("history-bundle-gen1.json").to_str().unwrap()
        )),
        "{screen}"
    );
    // Typing replaces it: what is typed shows, and is what gets verified.
    t.type_text("copy-of-the-bundle.json");
    let screen = t.wait_for("> copy-of-the-bundle.json█");
    assert!(!screen.contains("history-bundle-gen1.jsoncopy"), "{screen}");
    t.keys(&["Enter"]);
    let screen = t.wait_for("✓ Bundle verifies");
    assert!(screen.contains("copy-of-the-bundle.json"), "{screen}");
    t.keys(&["Enter"]);
    t.keys(&["Escape"]);
    t.keys(&["q"]);
    t.wait_for("SEEDWARD EXITED 0");
}

#[test]
fn item2_a_tampered_store_shows_the_advice_to_restore_it_at_80x24() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let mut coordinator = CoordinatorProcess::start(&state).unwrap();
    let ws = tmp.path().join("ws");
    set_up(
        &Cli::new(tmp.path(), &ws, &coordinator.addr),
        &tmp.path().join("input"),
    );
    coordinator.kill();
    let blob = std::fs::read_dir(state.join("history").join("manifests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .unwrap();
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[5] ^= 0x01;
    std::fs::write(&blob, bytes).unwrap();
    let coordinator = CoordinatorProcess::start(&state).unwrap();
    let t = Tmux::start_small(tmp.path(), &[], &client_args(&coordinator.addr, &ws));
    t.wait_for("recovery required");
    t.keys(&["h"]);
    let screen = t.wait_for("✗ ");
    // The whole message, to its advice, is on the screen at 80 columns.
    let deadline = std::time::Instant::now() + crate::tui_support::WAIT;
    let mut screen = screen;
    while !squash(&screen).contains(&squash("from a backup")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the advice to restore from a backup is cut off:\n{screen}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
        screen = t.screen();
    }
    assert!(screen.contains("is corrupt"), "{screen}");
    t.keys(&["Escape"]);
    t.keys(&["q"]);
    t.wait_for("SEEDWARD EXITED 0");
}

#[test]
fn item3_no_keyring_is_one_line_and_its_detail_is_behind_help() {
    let tmp = tempfile::tempdir().unwrap();
    let coordinator = CoordinatorProcess::start(&tmp.path().join("state")).unwrap();
    let ws = tmp.path().join("ws");
    // No session bus at all: the keyring cannot be reached, whatever runs around the test.
    let t = Tmux::start_small(
        tmp.path(),
        &[(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/seedward-test-bus",
        )],
        &[
            "--coordinator",
            &coordinator.addr,
            "--workspace",
            ws.to_str().unwrap(),
            "--key-store",
            "auto",
        ],
    );
    let screen = t.wait_for("○ uninitialized");
    let screen = if screen.contains("no OS keyring") {
        screen
    } else {
        t.wait_for("no OS keyring")
    };
    assert_eq!(
        screen.lines().filter(|l| l.contains("keyring")).count(),
        1,
        "one line:\n{screen}"
    );
    assert!(screen.contains("? says why and how to fix"), "{screen}");
    // The setup's choices stay in view.
    t.keys(&["s"]);
    let setup = t.wait_for("1/5 Owner keys");
    let setup = if setup.contains("Continue") {
        setup
    } else {
        t.wait_for("Continue")
    };
    assert!(
        setup.contains("Create a new seed share owner key"),
        "{setup}"
    );
    t.keys(&["Escape"]);
    t.wait_for("What to do next");
    t.keys(&["?"]);
    let help = t.wait_for("Key store");
    // The whole warning, with the keyring library's own detail, wrapped in the overlay.
    assert!(help.contains("To use a keyring"), "{help}");
    assert!(help.contains("/nonexistent/seedward-test-bus"), "{help}");
    t.keys(&["Escape"]);
    t.keys(&["q"]);
    t.wait_for("SEEDWARD EXITED 0");
}

#[test]
fn item13_a_second_seedward_on_the_same_state_dir_names_the_first_and_connects_to_it() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("local-state");
    let args = [
        "--state-dir",
        state.to_str().unwrap(),
        "--key-store",
        "file",
    ];
    let first = Tmux::start_at(tmp.path(), "first", &[], &args, (80, 24));
    let screen = first.wait_for("○ uninitialized");
    let lock = std::fs::read_to_string(state.join("seedward-console.lock")).unwrap();
    let pid = lock
        .lines()
        .find_map(|l| l.strip_prefix("pid="))
        .expect("the lock names its holder")
        .to_string();
    let address = lock
        .lines()
        .find_map(|l| l.strip_prefix("address="))
        .expect("the lock names the address")
        .to_string();
    assert!(screen.contains(&format!("local {address}")), "{screen}");

    // The second says who holds the state directory, and does not start a Coordinator.
    let second = Tmux::start_at(tmp.path(), "second", &[], &args, (80, 24));
    let said = second.wait_for("Type c and Enter to connect");
    let said_flat = squash(&said);
    assert!(
        said_flat.contains(&squash(&format!(
            "(pid {pid}) already runs the local Coordinator"
        ))),
        "{said}"
    );
    assert!(said_flat.contains(&squash(&address)), "{said}");
    second.type_text("c");
    second.keys(&["Enter"]);
    let screen = second.wait_for(&format!("Coordinator at {address}"));
    assert!(screen.contains("○ uninitialized"), "{screen}");

    // A third that answers Enter exits, having started nothing.
    let third = Tmux::start_at(tmp.path(), "third", &[], &args, (80, 24));
    third.wait_for("Type c and Enter to connect");
    third.keys(&["Enter"]);
    third.wait_for("nothing was started");
    third.wait_for("SEEDWARD EXITED 0");

    // When the first quits, the state directory is free again.
    second.keys(&["q"]);
    second.wait_for("SEEDWARD EXITED 0");
    first.keys(&["q"]);
    first.wait_for("SEEDWARD EXITED 0");
    let again = Tmux::start_at(tmp.path(), "again", &[], &args, (80, 24));
    let screen = again.wait_for("○ uninitialized");
    assert!(screen.contains("local 127.0.0.1:"), "{screen}");
    again.keys(&["q"]);
    again.wait_for("SEEDWARD EXITED 0");
}

/// Item 14, the small CLI fixes, through the real binary.
#[test]
fn item14_cli_names_the_right_flag_notes_an_unused_secret_id_and_needs_a_terminal_for_the_console()
{
    let tmp = tempfile::tempdir().unwrap();
    let coordinator = CoordinatorProcess::start(&tmp.path().join("state")).unwrap();
    let ws = tmp.path().join("ws");
    let cli = Cli::new(tmp.path(), &ws, &coordinator.addr);
    set_up(&cli, &tmp.path().join("input"));

    // `manifest template` twice names its own flag.
    let out = tmp.path().join("deploy");
    cli.run(&["manifest", "template", "--out-dir", p(&out)])
        .ok();
    let again = cli.run(&["manifest", "template", "--out-dir", p(&out)]);
    assert_ne!(again.code, 0);
    assert!(
        again.stderr.contains("choose another --out-dir"),
        "{}",
        again.stderr
    );

    // A WorkloadSecretID no policy uses: the secret is printed, with a note on stderr.
    let typo = cli
        .run(&["workload-secret", "--id", "apps/v1/Deployment/default/wbe"])
        .ok();
    assert_eq!(typo.stdout.trim().len(), 128, "{}", typo.stdout);
    assert!(
        typo.stderr
            .contains("no policy of the active manifest.json uses WorkloadSecretID"),
        "{}",
        typo.stderr
    );
    assert!(
        typo.stderr.contains("apps/v1/Deployment/default/web"),
        "{}",
        typo.stderr
    );
    let right = cli
        .run(&["workload-secret", "--id", "apps/v1/Deployment/default/web"])
        .ok();
    assert!(!right.stderr.contains("no policy"), "{}", right.stderr);

    // The console without a terminal points to the subcommands, and starts nothing.
    let console = cli.run(&[]);
    assert_ne!(console.code, 0);
    assert!(
        console.stderr.contains("needs an interactive terminal"),
        "{}",
        console.stderr
    );
    assert!(
        console.stderr.contains("seedward --help"),
        "{}",
        console.stderr
    );
}

/// Item 10: a new laptop with only `seed-shares.json` and the owner key (from backups). The
/// status works unpinned and says so; the recovery derives the root CA key from the seed,
/// checks the Coordinator against it after `Recover`, and writes the pin.
#[test]
fn item10_a_bare_seed_share_is_enough_to_recover_and_pin() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let mut coordinator = CoordinatorProcess::start(&state).unwrap();
    let old_ws = tmp.path().join("old-laptop");
    let old = Cli::new(tmp.path(), &old_ws, &coordinator.addr);
    set_up(&old, &tmp.path().join("input"));
    let backup = tmp.path().join("owner-backup.pem");
    old.run(&[
        "--yes",
        "keys",
        "export",
        "--kind",
        "owner",
        "--private",
        "--out",
        p(&backup),
    ])
    .ok();
    coordinator.kill();
    let coordinator = CoordinatorProcess::start(&state).unwrap();

    // The new workspace: the seed share file and the imported key, nothing else.
    let ws = tmp.path().join("new-laptop");
    let new = Cli::new(tmp.path(), &ws, &coordinator.addr);
    std::fs::copy(old_ws.join("seed-shares.json"), ws.join("seed-shares.json")).unwrap();
    new.run(&["keys", "import", "--kind", "owner", p(&backup)])
        .ok();
    assert!(!ws.join("coordinator-root-ca.pem").exists());
    let status = new.run(&["status"]).ok();
    assert!(status.stdout.contains("unpinned"), "{}", status.stdout);

    let t = Tmux::start_small(tmp.path(), &[], &client_args(&coordinator.addr, &ws));
    let screen = t.wait_for("recovery required");
    let screen = if screen.contains("! unpinned") {
        screen
    } else {
        t.wait_for("! unpinned")
    };
    assert!(!screen.contains("TAKEOVER"), "{screen}");
    t.keys(&["r"]);
    t.wait_for("› seedshare-owner");
    t.keys(&["Enter"]);
    t.wait_for("4/7 Check Coordinator");
    t.keys(&["Enter"]);
    t.wait_for("Send your seed to this Coordinator?");
    t.type_text("unattested");
    t.keys(&["Enter"]);
    t.wait_for("7/7 Checklist");
    let pin = std::fs::read_to_string(ws.join("coordinator-root-ca.pem")).unwrap();
    assert!(pin.contains("BEGIN CERTIFICATE"), "{pin}");
    // The pin is the deployment's root CA key: the recovered Coordinator is pinned from
    // the new workspace and from the old laptop's pin alike.
    let old = Cli::new(tmp.path(), &old_ws, &coordinator.addr);
    for cli in [&new, &old] {
        let status = cli.run(&["status"]).ok();
        assert!(
            status.stdout.contains("pinned (the certificate chains"),
            "{}",
            status.stdout
        );
    }
    t.keys(&["Enter"]);
    t.wait_for("✓ pinned");
    t.keys(&["q"]);
    t.wait_for("SEEDWARD EXITED 0");
}

/// Item 12: `TERM=dumb` gets the plain UI (no box drawing, no colour, ASCII marks next to
/// words), and `--read-only` binds no setup, recovery or update key at all.
#[test]
fn item12_term_dumb_is_plain_and_read_only_audits_only() {
    let tmp = tempfile::tempdir().unwrap();
    let coordinator = CoordinatorProcess::start(&tmp.path().join("state")).unwrap();
    let ws = tmp.path().join("ws");
    let cli = Cli::new(tmp.path(), &ws, &coordinator.addr);
    set_up(&cli, &tmp.path().join("input"));
    let mut args = client_args(&coordinator.addr, &ws);
    args.push("--read-only");
    let t = Tmux::start_small(tmp.path(), &[("TERM", "dumb")], &args);
    let screen = t.wait_for("+ ready");
    assert!(
        screen.is_ascii(),
        "only ASCII on a dumb terminal:\n{screen}"
    );
    assert!(screen.contains("+--"), "ASCII borders:\n{screen}");
    assert!(screen.contains("READ-ONLY"), "{screen}");
    // No setup / update key: s and u do nothing, not even a notice.
    t.keys(&["u"]);
    t.keys(&["s"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let screen = t.screen();
    assert!(screen.contains("What to do next"), "{screen}");
    assert!(!screen.contains("Manifest update"), "{screen}");
    assert!(!screen.contains("Notice"), "{screen}");
    // The history works.
    t.keys(&["h"]);
    let screen = t.wait_for("+ every entry re-hashed");
    assert!(screen.is_ascii(), "{screen}");
    t.keys(&["Escape"]);
    t.wait_for("What to do next");
    t.keys(&["q"]);
    t.wait_for("SEEDWARD EXITED 0");
}

/// Item 11: Ctrl-C ends the console with status 130, like a process ended by SIGINT.
#[test]
fn item11_ctrl_c_exits_130() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    let t = Tmux::start_small(
        tmp.path(),
        &[],
        &[
            "--coordinator",
            "127.0.0.1:1",
            "--workspace",
            ws.to_str().unwrap(),
            "--key-store",
            "file",
        ],
    );
    t.wait_for("What to do next");
    t.keys(&["C-c"]);
    t.wait_for("SEEDWARD EXITED 130");
}
