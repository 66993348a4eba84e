//! Secret hygiene over the whole operator lifecycle, with everything at trace level.
//!
//! The real daemon runs with `--log-level trace` (every crate: tonic, h2, rustls, ours) and
//! every `seedward` command runs with `SEEDWARD_LOG=trace` (its log goes to stderr). The
//! lifecycle covers keys (generated and imported through stdin), the first set, verify, a
//! crash, recovery refused for a wrong key and for a tampered share document, recovery,
//! an update, a stale update, every history command (the bundle verified with the seed),
//! a tampered store, and workload secrets. Then the TUI (in tmux, `SEEDWARD_LOG=trace`, its
//! log going to `seedward.log`) recovers the Coordinator through its wizard and audits the
//! history: its log and every screen it drew are searched too.
//!
//! Afterwards every byte anyone could read — the daemon's log, every command's stdout and
//! stderr (the workload secret's own stdout aside: printing it is that command's job), every
//! error message, the `Debug` output of every secret-holding type, every file the daemon
//! stores, the daemon's argv and environment — is searched for the seed, the salt, every key
//! derived from them, and both owners' private keys: in hex (both cases), base64 (standard
//! and URL-safe, padded or not), Rust's `Debug` of a byte slice, and prefixes of each, so a
//! truncated print is caught too. Zero hits. Files holding secrets must be 0600 or 0400.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::cli_support::{Cli, Run, p, public_hex, write_changed, write_template};
use crate::tui_support::Tmux;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use p384::pkcs8::DecodePrivateKey as _;
use seedward_shared::keys::{OwnerKeyPair, WorkloadOwnerKeyPair};
use seedward_shared::seed::SeedEngine;
use seedward_shared::seedshare::SeedShareDocument;
use seedward_tests::{CoordinatorProcess, reference_values};

/// A named secret and every printable form of it to look for.
struct Needles {
    what: String,
    forms: Vec<String>,
}

impl Needles {
    fn new(what: &str, secret: &[u8]) -> Self {
        assert!(secret.len() >= 16, "{what}: too short to search for");
        let mut forms = Vec::new();
        // The whole secret and its first 12 bytes (a truncated or partial print). 12 bytes
        // = 24 hex / 16 base64 characters: no chance collision in a few MB of logs.
        for part in [secret, &secret[..12]] {
            forms.push(hex::encode(part));
            forms.push(hex::encode_upper(part));
            // base64 at all three alignments, so the secret is found inside a longer
            // encoded blob too (the first full 4-character groups of each shift).
            for shift in 0..3 {
                let mut padded = vec![0u8; shift];
                padded.extend_from_slice(part);
                let skip = if shift == 0 { 0 } else { 4 };
                for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
                    let enc = engine.encode(&padded);
                    let usable = (enc.len() / 4) * 4;
                    if usable > skip + 8 {
                        forms.push(enc[skip..usable - 4].to_string());
                    }
                }
            }
            // Rust's Debug of a byte slice or Vec<u8>.
            forms.push(
                format!("{:?}", &part[..8])
                    .trim_end_matches(']')
                    .to_string(),
            );
        }
        forms.sort();
        forms.dedup();
        Self {
            what: what.to_string(),
            forms,
        }
    }

    fn assert_absent(&self, source: &str, text: &str) {
        for form in &self.forms {
            assert!(
                !text.contains(form.as_str()),
                "{source} contains {} (as {form:?})",
                self.what
            );
        }
    }

    fn assert_absent_bytes(&self, source: &str, bytes: &[u8], raw: &[u8]) {
        assert!(
            !bytes
                .windows(raw.len().min(16))
                .any(|w| w == &raw[..raw.len().min(16)]),
            "{source} contains the raw bytes of {}",
            self.what
        );
        self.assert_absent(source, &String::from_utf8_lossy(bytes));
    }
}

/// Everything a command printed, labelled for the failure message.
struct Transcript {
    outputs: Vec<(String, String)>,
}

impl Transcript {
    fn record(&mut self, args: &[&str], run: &Run, stdout_is_the_secret: bool) {
        let label = args.join(" ");
        if !stdout_is_the_secret {
            self.outputs
                .push((format!("stdout of `seedward {label}`"), run.stdout.clone()));
        }
        self.outputs
            .push((format!("stderr of `seedward {label}`"), run.stderr.clone()));
    }
}

fn run(cli: &Cli, t: &mut Transcript, args: &[&str], code: i32) -> Run {
    let result = cli.run(args).code(code);
    t.record(args, &result, false);
    result
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Keeps the daemon's log under `label`, SIGKILLs it, and starts it again at trace level on
/// the same state; `cli` follows it to its new address.
fn crash_and_restart(
    coordinator: &mut CoordinatorProcess,
    state: &Path,
    cli: &mut Cli,
    daemon_logs: &mut Vec<(String, String)>,
    label: &str,
) {
    daemon_logs.push((label.to_string(), coordinator.log()));
    coordinator.kill();
    *coordinator = CoordinatorProcess::start_logged(state, "trace", &[]).unwrap();
    cli.addr = coordinator.addr.clone();
}

#[test]
fn no_secret_reaches_a_log_an_error_a_debug_print_a_stored_file_or_argv() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let ws = tmp.path().join("ws");
    let input = tmp.path().join("input");
    std::fs::create_dir_all(&input).unwrap();
    let mut coordinator = CoordinatorProcess::start_logged(&state, "trace", &[]).unwrap();
    let mut cli = Cli::new(tmp.path(), &ws, &coordinator.addr);
    cli.env.push(("SEEDWARD_LOG".into(), "trace".into()));
    let mut t = Transcript {
        outputs: Vec::new(),
    };
    let mut daemon_logs = Vec::new();

    // Keys: the owner key generated, the workload key imported through stdin (never argv).
    run(&cli, &mut t, &["keys", "generate", "--kind", "owner"], 0);
    let workload_pair = WorkloadOwnerKeyPair::generate(&mut rand_core::OsRng);
    let workload_pem = workload_pair.to_pkcs8_pem();
    let import = ["keys", "import", "--kind", "workload", "-"];
    let r = cli.run_with_stdin(&import, Some(workload_pem.as_bytes()));
    t.record(&import, &r.ok(), false);
    run(&cli, &mut t, &["keys", "list"], 0);
    run(&cli, &mut t, &["--json", "keys", "list"], 0);
    // A second owner, who holds no share.
    run(
        &cli,
        &mut t,
        &["keys", "generate", "--kind", "owner", "--name", "stranger"],
        0,
    );

    // Setup.
    let owner = public_hex(&cli, "seedshare-owner");
    let workload = public_hex(&cli, "workload-owner");
    let (manifest, policies) = write_template(&input, &owner, &workload);
    let mut set: Vec<String> = vec![
        "--yes".into(),
        "--allow-unattested".into(),
        "set".into(),
        "--manifest".into(),
        p(&manifest).into(),
    ];
    for pol in &policies {
        set.push("--policy".into());
        set.push(p(pol).into());
    }
    let set: Vec<&str> = set.iter().map(String::as_str).collect();
    run(&cli, &mut t, &set, 0);
    run(&cli, &mut t, &["--json", "status"], 0);
    run(&cli, &mut t, &["verify"], 0);

    // What a reader must never see. The seed and salt come from the owner's own share.
    let owner_pem = std::fs::read_to_string(ws.join("keys/seedshare-owner.pem")).unwrap();
    let stranger_pem = std::fs::read_to_string(ws.join("keys/stranger.pem")).unwrap();
    let owner_pair = OwnerKeyPair::from_pkcs8_pem(&owner_pem).unwrap();
    let stranger_pair = OwnerKeyPair::from_pkcs8_pem(&stranger_pem).unwrap();
    let document = SeedShareDocument::from_json(
        &std::fs::read_to_string(ws.join("seed-shares.json")).unwrap(),
    )
    .unwrap();
    let (seed, salt) = document.open_with(&owner_pair).unwrap();
    let engine = SeedEngine::new(&seed, &salt).unwrap();
    let x25519_private = |pair: &OwnerKeyPair| {
        // PKCS#8 of an X25519 key: a fixed 16-byte header, then the 32-byte private key.
        let der = pair.to_pkcs8_der();
        der.expose()[der.expose().len() - 32..].to_vec()
    };
    let workload_scalar = p384::SecretKey::from_pkcs8_pem(&workload_pem)
        .unwrap()
        .to_bytes()
        .to_vec();
    let web_secret = engine
        .derive_workload_secret("apps/v1/Deployment/default/web")
        .unwrap();
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("the seed", seed.expose().to_vec()),
        (
            "the pod state seed",
            engine.pod_state_seed().expose().to_vec(),
        ),
        ("the history seed", engine.history_seed().expose().to_vec()),
        (
            "the transition signing key",
            engine.transaction_signing_key().to_bytes().to_vec(),
        ),
        ("the root CA key", engine.root_ca_key().to_bytes().to_vec()),
        ("the owner's private key", x25519_private(&owner_pair)),
        ("the stranger's private key", x25519_private(&stranger_pair)),
        ("the workload owner's private key", workload_scalar),
        ("a workload secret", web_secret.expose().to_vec()),
    ];
    // The salt travels in clear in seed-shares.json (docs/FORMATS.md, "seed-shares.json"),
    // so only the daemon must never print or store it.
    let salt_needles = Needles::new("the salt", salt.as_bytes());
    let needles: Vec<(Needles, Vec<u8>)> = secrets
        .iter()
        .map(|(what, bytes)| (Needles::new(what, bytes), bytes.clone()))
        .collect();
    // The private key files' PEM bodies, line by line.
    let pem_lines: Vec<String> = [&owner_pem, &stranger_pem, &*workload_pem]
        .iter()
        .flat_map(|pem| {
            pem.lines()
                .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();

    // The daemon's argv and environment while it holds the keys.
    let pid = coordinator.pid().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();

    // Crash, then refused recoveries: the wrong owner, and a tampered share document.
    crash_and_restart(
        &mut coordinator,
        &state,
        &mut cli,
        &mut daemon_logs,
        "the daemon log before the crash",
    );
    run(&cli, &mut t, &["--json", "status"], 0);
    let r = run(
        &cli,
        &mut t,
        &[
            "--yes",
            "--allow-unattested",
            "recover",
            "--owner-key",
            "stranger",
        ],
        3,
    );
    assert!(
        r.stderr.contains("no seed share for owner key"),
        "{}",
        r.stderr
    );
    let mut tampered_doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.join("seed-shares.json")).unwrap())
            .unwrap();
    tamper_first_ciphertext(&mut tampered_doc);
    let bad_shares = input.join("tampered-shares.json");
    std::fs::write(&bad_shares, tampered_doc.to_string()).unwrap();
    let r = cli.run(&[
        "--yes",
        "--allow-unattested",
        "recover",
        "--seed-shares",
        p(&bad_shares),
    ]);
    assert_ne!(
        r.code, 0,
        "a tampered share document recovered: {}",
        r.stdout
    );
    t.record(&["recover", "--seed-shares", "<tampered>"], &r, false);
    run(
        &cli,
        &mut t,
        &["--json", "--yes", "--allow-unattested", "recover"],
        0,
    );
    run(&cli, &mut t, &["verify"], 0);

    // An update, then a stale one.
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
    let update_args: Vec<&str> = update.iter().map(String::as_str).collect();
    run(&cli, &mut t, &update_args, 0);
    let list = run(&cli, &mut t, &["--json", "history", "list"], 0).json();
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
    let stale_args: Vec<&str> = stale.iter().map(String::as_str).collect();
    run(&cli, &mut t, &stale_args, 4);

    // History, the bundle verified offline with the seed.
    run(&cli, &mut t, &["history", "list"], 0);
    run(&cli, &mut t, &["history", "diff", "1", "2", "--raw"], 0);
    run(&cli, &mut t, &["--json", "history", "show", "2"], 0);
    let bundle = tmp.path().join("bundle.json");
    run(&cli, &mut t, &["history", "export", "--out", p(&bundle)], 0);
    let shares = ws.join("seed-shares.json");
    run(
        &cli,
        &mut t,
        &[
            "--json",
            "history",
            "verify-bundle",
            p(&bundle),
            "--seed-shares",
            p(&shares),
        ],
        0,
    );

    // Workload secrets: stdout is the secret by design; stderr and the file mode are checked.
    let ws_args = ["workload-secret", "--id", "apps/v1/Deployment/default/web"];
    let r = cli.run(&ws_args).ok();
    assert_eq!(r.stdout.trim(), hex::encode(web_secret.expose()));
    t.record(&ws_args, &r, true);
    let secret_file = tmp.path().join("web.secret");
    let ws_out = [
        "workload-secret",
        "--id",
        "apps/v1/Deployment/default/web",
        "--out",
        p(&secret_file),
    ];
    let r = cli.run(&ws_out).ok();
    t.record(&ws_out, &r, false);
    assert_eq!(
        std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o400
    );

    // A tampered store: one manifest byte flipped, then a restart. The audit fails loudly.
    let blob = files_under(&state.join("history/manifests"))
        .into_iter()
        .next()
        .expect("a stored manifest");
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[5] ^= 0x20;
    std::fs::write(&blob, &bytes).unwrap();
    crash_and_restart(
        &mut coordinator,
        &state,
        &mut cli,
        &mut daemon_logs,
        "the daemon log after recovery",
    );
    let r = cli.run(&["--yes", "--allow-unattested", "recover"]);
    assert_ne!(r.code, 0, "recovery onto a tampered store: {}", r.stdout);
    t.record(
        &["--yes", "--allow-unattested", "recover", "(tampered store)"],
        &r,
        false,
    );
    std::fs::write(&blob, {
        bytes[5] ^= 0x20;
        &bytes
    })
    .unwrap();
    let r = cli.run(&["--yes", "--allow-unattested", "recover"]).ok();
    t.record(
        &["--yes", "--allow-unattested", "recover", "(store repaired)"],
        &r,
        false,
    );

    // The TUI: a crash, then recovery through the wizard and an audit of the history, with
    // its own log at trace level. Every screen it drew is kept for the search.
    crash_and_restart(
        &mut coordinator,
        &state,
        &mut cli,
        &mut daemon_logs,
        "the daemon log before the TUI",
    );
    let tui_dir = tmp.path().join("tui");
    std::fs::create_dir_all(&tui_dir).unwrap();
    let mut screens = Vec::new();
    {
        let tui = Tmux::start_with_env(
            &tui_dir,
            &[("SEEDWARD_LOG", "trace")],
            &[
                "--coordinator",
                &coordinator.addr,
                "--workspace",
                p(&ws),
                "--key-store",
                "file",
            ],
        );
        screens.push(tui.wait_for("✗ recovery required"));
        tui.keys(&["r"]);
        screens.push(tui.wait_for("› seedshare-owner"));
        tui.keys(&["Enter"]);
        screens.push(tui.wait_for("4/7 Check Coordinator"));
        tui.keys(&["Enter"]);
        screens.push(tui.wait_for("Send your seed to this Coordinator?"));
        tui.type_text("unattested");
        tui.keys(&["Enter"]);
        screens.push(tui.wait_for("Recovery finished"));
        tui.keys(&["Enter"]);
        screens.push(tui.wait_for("✓ ready"));
        tui.keys(&["h"]);
        screens.push(tui.wait_for("✓ every entry re-hashed and the latest signature verified"));
        tui.keys(&["q"]);
        screens.push(tui.wait_for("SEEDWARD EXITED 0"));
    }
    let tui_log = std::fs::read_to_string(tui_dir.join("xdg-data/seedward/seedward.log"))
        .expect("the TUI's log file");
    assert!(
        tui_log.contains("TRACE") && tui_log.contains("rpc=\"Recover\""),
        "the TUI's log is not at trace level or misses the recovery"
    );
    t.outputs
        .push(("the TUI's seedward.log".to_string(), tui_log));
    for (i, screen) in screens.into_iter().enumerate() {
        t.outputs.push((format!("TUI screen {i}"), screen));
    }

    assert!(coordinator.terminate(), "graceful stop");
    daemon_logs.push((
        "the daemon log of the last run".to_string(),
        coordinator.log(),
    ));

    // The logs really are at trace level, on both sides, and really saw the lifecycle.
    let all_daemon: String = daemon_logs.iter().map(|(_, l)| l.as_str()).collect();
    assert!(
        all_daemon.contains("TRACE"),
        "the daemon log is not at trace level"
    );
    assert!(
        all_daemon.contains("recovered"),
        "the daemon log misses the recovery"
    );
    let all_cli: String = t.outputs.iter().map(|(_, o)| o.as_str()).collect();
    assert!(
        all_cli.contains("TRACE") && all_cli.contains("rpc=\"Recover\""),
        "the client logs are not at trace level or miss the RPCs"
    );
    eprintln!(
        "searched {} command outputs ({} bytes) and {} daemon log bytes for {} secrets in {} forms each",
        t.outputs.len(),
        all_cli.len(),
        all_daemon.len(),
        needles.len(),
        needles[0].0.forms.len()
    );

    // Debug output of every type that holds a secret.
    let debug_prints = [
        format!("{seed:?}"),
        format!("{engine:?}"),
        format!("{owner_pair:?}"),
        format!("{workload_pair:?}"),
        format!("{web_secret:?}"),
        format!("{document:?}"),
    ];

    for (needle, raw) in &needles {
        for (label, log) in &daemon_logs {
            needle.assert_absent(label, log);
        }
        for (label, text) in &t.outputs {
            needle.assert_absent(label, text);
        }
        for text in &debug_prints {
            needle.assert_absent("a Debug print", text);
        }
        needle.assert_absent_bytes("the daemon's argv", &cmdline, raw);
        needle.assert_absent_bytes("the daemon's environment", &environ, raw);
        for file in files_under(&state) {
            needle.assert_absent_bytes(
                &format!("the stored file {}", file.display()),
                &std::fs::read(&file).unwrap(),
                raw,
            );
        }
    }
    for (label, log) in &daemon_logs {
        salt_needles.assert_absent(label, log);
    }
    for file in files_under(&state) {
        salt_needles.assert_absent_bytes(
            &format!("the stored file {}", file.display()),
            &std::fs::read(&file).unwrap(),
            salt.as_bytes(),
        );
    }
    for line in &pem_lines {
        for (label, text) in t.outputs.iter().chain(daemon_logs.iter()) {
            assert!(
                !text.contains(line.as_str()),
                "{label} contains a line of a private key PEM"
            );
        }
    }

    // Secret files: private keys and the share document 0600, workload secrets 0400.
    for file in files_under(&ws.join("keys")) {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if text.contains("PRIVATE KEY") {
            assert_eq!(mode, 0o600, "{}", file.display());
        }
    }
    assert_eq!(
        std::fs::metadata(&shares).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// Flips one character inside the first share's encrypted seed (the document stays valid).
fn tamper_first_ciphertext(doc: &mut serde_json::Value) {
    let value = &mut doc["SeedShares"][0]["EncryptedSeed"];
    let text = value.as_str().expect("an EncryptedSeed").to_string();
    let mut chars: Vec<char> = text.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    *value = serde_json::Value::String(chars.into_iter().collect());
}
