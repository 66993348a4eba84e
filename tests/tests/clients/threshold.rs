//! Threshold seed shares (k of n) end to end: the real Coordinator process and the real
//! `seedward` CLI, one workspace (and key store) per owner, as each owner would have on their
//! own machine. Setup with the share drill, recovery sessions joined by several owners with
//! progress shown, a wrong share named, cancel, expiry, a second session after a failed one,
//! the same owner twice, a restart mid-session, and offline workload secrets from k owners.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cli_support::{Cli, Run, p, public_hex};
use seedward_shared::keys::OwnerKeyPair;
use seedward_shared::seedshare::SeedShareDocument;
use seedward_shared::threshold;
use seedward_tests::CoordinatorProcess;

/// Every regular file under `dir`, with its bytes.
fn collect_files(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, out);
        } else if path.is_file() {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
}

/// The owners of one deployment, each with their own workspace.
struct Owners {
    clis: Vec<Cli>,
    fingerprints: Vec<String>,
}

impl Owners {
    /// `n` owner workspaces under `tmp/<tag>-owner-<i>`, each with its own owner key; the
    /// first also holds the workload owner key.
    fn new(tmp: &Path, tag: &str, n: usize, addr: &str) -> Self {
        let mut clis = Vec::new();
        let mut fingerprints = Vec::new();
        for i in 0..n {
            let cli = Cli::new(tmp, &tmp.join(format!("{tag}-owner-{i}")), addr);
            let run = cli
                .run(&["--json", "keys", "generate", "--kind", "owner"])
                .ok();
            fingerprints.push(
                run.json()["key"]["fingerprint"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
            if i == 0 {
                cli.run(&["keys", "generate", "--kind", "workload"]).ok();
            }
            clis.push(cli);
        }
        Self { clis, fingerprints }
    }

    fn at(&mut self, addr: &str) {
        for cli in &mut self.clis {
            cli.addr = addr.to_string();
        }
    }

    fn public_hexes(&self) -> Vec<String> {
        self.clis
            .iter()
            .map(|c| public_hex(c, "seedshare-owner"))
            .collect()
    }
}

/// Writes a k-of-n manifest for `owner_hexes` (and its policies) into `dir`; returns the
/// `set` arguments.
fn threshold_manifest(
    dir: &Path,
    owner_hexes: &[String],
    workload_hex: &str,
    k: usize,
) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    let t = seedward_shared::manifest::Manifest::template(owner_hexes, &[workload_hex.to_string()]);
    let mut value: serde_json::Value = serde_json::from_slice(&t.manifest).unwrap();
    value["SeedshareOwnerThreshold"] = k.into();
    let manifest = dir.join("manifest.json");
    std::fs::write(&manifest, format!("{value:#}\n")).unwrap();
    let mut args = vec!["set".to_string(), "--manifest".into(), p(&manifest).into()];
    for (i, policy) in t.policies.iter().enumerate() {
        let path = dir.join(format!("policy-{i}.toml"));
        std::fs::write(&path, policy).unwrap();
        args.push("--policy".into());
        args.push(p(&path).into());
    }
    args
}

/// First set from owner 0's workspace, then the seed share document, the root CA pin and
/// the manifest handed to every other owner (what the operator distributes after setup).
fn set_up(owners: &Owners, input: &Path, k: usize) -> Run {
    let workload = public_hex(&owners.clis[0], "workload-owner");
    let set = threshold_manifest(input, &owners.public_hexes(), &workload, k);
    let mut args = vec!["--yes", "--allow-unattested"];
    args.extend(set.iter().map(String::as_str));
    let run = owners.clis[0].run(&args).ok();
    for cli in &owners.clis[1..] {
        for file in [
            "seed-shares.json",
            "coordinator-root-ca.pem",
            "manifest.json",
        ] {
            std::fs::copy(
                owners.clis[0].workspace.join(file),
                cli.workspace.join(file),
            )
            .unwrap();
        }
    }
    run
}

fn run_history_key_saved(cli: &Cli) -> bool {
    cli.workspace.join("history-signing-key.pem").is_file()
}

fn recover(cli: &Cli) -> Run {
    cli.run(&["--yes", "--allow-unattested", "recover"])
}

fn recover_json(cli: &Cli) -> Run {
    cli.run(&["--json", "--yes", "--allow-unattested", "recover"])
}

fn session_status(cli: &Cli) -> serde_json::Value {
    cli.run(&["--json", "recovery", "status"]).ok().json()
}

fn state(cli: &Cli) -> String {
    cli.run(&["--json", "status"]).ok().json()["state"]
        .as_str()
        .unwrap()
        .to_string()
}

fn submitted(session: &serde_json::Value) -> Vec<String> {
    session["owners"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| !o["submitted_at_unix_ms"].is_null())
        .map(|o| o["fingerprint"].as_str().unwrap().to_string())
        .collect()
}

fn restart(coordinator: &mut CoordinatorProcess, state: &Path, ttl: &str) -> CoordinatorProcess {
    coordinator.kill();
    CoordinatorProcess::start_with(state, &["--recovery-session-ttl-secs", ttl]).unwrap()
}

#[test]
fn two_of_three_progress_same_owner_twice_and_offline_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let state_dir = tmp.path().join("state");
    let mut coordinator = CoordinatorProcess::start(&state_dir).unwrap();
    let mut owners = Owners::new(tmp.path(), "a", 3, &coordinator.addr);

    // Setup: the drill proves owner 0's share alone, without the others.
    let run = set_up(&owners, &tmp.path().join("input"), 2);
    assert!(
        run.stdout
            .contains("your share is intact ✓ (owner key ")
            && run.stdout.contains("share 1 of 3, matches its commitment); any 2 of the 3 owners recover this Coordinator together"),
        "{}",
        run.stdout
    );
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(owners.clis[0].workspace.join("seed-shares.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(doc["Threshold"], 2);
    assert_eq!(doc["SeedShares"].as_array().unwrap().len(), 3);
    assert_eq!(doc["SeedShares"][2]["ShareIndex"], 3);
    assert_eq!(
        doc["SeedShares"][2]["ShareCommitment"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    // The document carries the history signing public key: the drill verified the history
    // with it and saved it, and another owner, who has only the documents, audits with it.
    let key = doc["HistorySigningKey"].as_str().unwrap();
    assert_eq!(key.len(), 98, "SEC1 compressed P-384 in hex: {key}");
    assert!(
        run_history_key_saved(&owners.clis[0]),
        "the drill saved history-signing-key.pem"
    );
    let verified = owners.clis[1].run(&["verify"]).ok();
    assert!(
        verified
            .stdout
            .contains("HistorySigningKey of seed-shares.json"),
        "{}",
        verified.stdout
    );
    // A document whose key is not the history's fails the audit, naming it.
    let mut forged = doc.clone();
    forged["HistorySigningKey"] = serde_json::Value::String("02".to_owned() + &"aa".repeat(48));
    let forged_path = owners.clis[1].workspace.join("forged-shares.json");
    std::fs::write(&forged_path, format!("{forged:#}\n")).unwrap();
    let refused = owners.clis[1]
        .run(&["verify", "--seed-shares", forged_path.to_str().unwrap()])
        .code(3);
    assert!(
        refused.stdout.contains("HistorySigningKey")
            || refused.stderr.contains("HistorySigningKey"),
        "{}\n{}",
        refused.stdout,
        refused.stderr
    );

    // One share alone is not the seed.
    let run = owners.clis[1]
        .run(&["workload-secret", "--id", "apps/v1/Deployment/default/web"])
        .code(1);
    assert!(
        run.stderr
            .contains("this seed is split 2 of 3: 1 owner key(s) given, 2 are needed"),
        "{}",
        run.stderr
    );

    // Restart: the keys are gone; no session until someone opens one.
    coordinator = restart(&mut coordinator, &state_dir, "900");
    owners.at(&coordinator.addr);
    assert_eq!(state(&owners.clis[0]), "recovery-required");
    let status = session_status(&owners.clis[0]);
    assert!(status["session"].is_null(), "{status}");

    // Owner 2 submits first: progress, 1 to go.
    let run = recover(&owners.clis[2]).ok();
    assert!(
        run.stdout.contains("the Coordinator accepted your share"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("2 of 3 owners needed, 1 submitted, 1 to go"),
        "{}",
        run.stdout
    );
    let status = session_status(&owners.clis[1]);
    assert_eq!(status["session"]["remaining"], 1, "{status}");
    let text = owners.clis[1].run(&["status"]).ok();
    assert!(
        text.stdout
            .contains("recovery session open: 2 of 3 owners needed, 1 to go"),
        "{}",
        text.stdout
    );
    assert_eq!(
        submitted(&status["session"]),
        vec![owners.fingerprints[2].clone()]
    );
    let id = status["session"]["id"].as_str().unwrap().to_string();

    // The same owner again: the same share, no change (idempotent), same session.
    let run = recover_json(&owners.clis[2]).ok();
    let again = run.json();
    assert_eq!(again["session"]["submitted"], 1, "{again}");
    assert_eq!(again["session"]["id"], id.as_str());
    assert_eq!(state(&owners.clis[0]), "recovery-required");

    // Owner 0 completes it.
    let run = recover_json(&owners.clis[0]).ok();
    let done = run.json();
    assert_eq!(done["recovered"], true, "{done}");
    assert_eq!(done["state"], "ready", "{done}");
    assert!(done["session"].is_null(), "{done}");
    assert_eq!(done["last_ended"]["outcome"], "recovered");
    assert_eq!(state(&owners.clis[1]), "ready");

    // Offline: any two owners derive the same workload secret, and it is the one a whole
    // seed would give (the Coordinator's, checked through two different pairs).
    let key_file = |i: usize| -> PathBuf {
        let path = tmp.path().join(format!("owner-{i}.pem"));
        owners.clis[i]
            .run(&[
                "--yes",
                "--allow-unattested",
                "keys",
                "export",
                "--kind",
                "owner",
                "--private",
                "--out",
                p(&path),
            ])
            .ok();
        path
    };
    let (k1, k2) = (key_file(1), key_file(2));
    let id = "apps/v1/Deployment/default/web";
    let a = owners.clis[0]
        .run(&["workload-secret", "--id", id, "--other-owner-key", p(&k1)])
        .ok();
    let b = owners.clis[0]
        .run(&["workload-secret", "--id", id, "--other-owner-key", p(&k2)])
        .ok();
    let c = owners.clis[1]
        .run(&["workload-secret", "--id", id, "--other-owner-key", p(&k2)])
        .ok();
    assert_eq!(a.stdout.trim().len(), 128);
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.stdout, c.stdout);
    // The same owner twice is not two owners.
    let own = tmp.path().join("owner-0.pem");
    let _ = key_file(0);
    let run = owners.clis[0]
        .run(&["workload-secret", "--id", id, "--other-owner-key", p(&own)])
        .code(1);
    assert!(run.stderr.contains("is given twice"), "{}", run.stderr);
}

#[test]
fn three_of_five_wrong_share_named_cancel_and_a_second_session() {
    let tmp = tempfile::tempdir().unwrap();
    let state_a = tmp.path().join("state-a");
    let state_b = tmp.path().join("state-b");
    let mut coordinator = CoordinatorProcess::start(&state_a).unwrap();
    let other = CoordinatorProcess::start(&state_b).unwrap();
    let mut owners = Owners::new(tmp.path(), "b", 5, &coordinator.addr);
    set_up(&owners, &tmp.path().join("input"), 3);

    // The same owners also set up another deployment: owner 1 will pick up its document by
    // mistake. It is self-consistent (the local drill passes), but not this seed's share.
    let stray_ws = tmp.path().join("stray");
    let stray = Cli::new(tmp.path(), &stray_ws, &other.addr);
    std::fs::create_dir_all(stray_ws.join("keys")).unwrap();
    for entry in std::fs::read_dir(owners.clis[0].workspace.join("keys")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), stray_ws.join("keys").join(entry.file_name())).unwrap();
    }
    let workload = public_hex(&owners.clis[0], "workload-owner");
    let set = threshold_manifest(
        &tmp.path().join("input-b"),
        &owners.public_hexes(),
        &workload,
        3,
    );
    let mut args = vec!["--yes", "--allow-unattested"];
    args.extend(set.iter().map(String::as_str));
    stray.run(&args).ok();
    let wrong_doc = tmp.path().join("other-seed-shares.json");
    std::fs::copy(stray_ws.join("seed-shares.json"), &wrong_doc).unwrap();

    coordinator = restart(&mut coordinator, &state_a, "900");
    owners.at(&coordinator.addr);

    recover(&owners.clis[0]).ok();
    let run = owners.clis[1].run(&[
        "--yes",
        "--allow-unattested",
        "recover",
        "--seed-shares",
        p(&wrong_doc),
    ]);
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "the share sent by owner key {} is not share 2",
            owners.fingerprints[1]
        )) && run.stderr.contains("nobody else's progress is lost"),
        "{}",
        run.stderr
    );
    // Named in the session for everyone, and owner 0's progress is intact.
    let status = session_status(&owners.clis[4]);
    let session = &status["session"];
    assert_eq!(submitted(session), vec![owners.fingerprints[0].clone()]);
    assert_eq!(session["remaining"], 2);
    assert_eq!(
        session["wrong_shares"][0]["fingerprint"],
        owners.fingerprints[1].as_str()
    );
    assert_eq!(session["wrong_shares"][0]["share_index"], 2);
    let text = owners.clis[4].run(&["recovery", "status"]).ok();
    assert!(
        text.stdout.contains(&format!(
            "owner key {} sent a share that is not share 2",
            owners.fingerprints[1]
        )),
        "{}",
        text.stdout
    );

    // Owner 3 cancels it.
    let run = owners.clis[3].run(&["--json", "recovery", "cancel"]).ok();
    let cancelled = run.json();
    assert!(cancelled["session"].is_null(), "{cancelled}");
    assert_eq!(cancelled["last_ended"]["outcome"], "cancelled");
    assert_eq!(
        cancelled["last_ended"]["detail"],
        owners.fingerprints[3].as_str()
    );
    // Nothing to cancel any more.
    owners.clis[3].run(&["recovery", "cancel"]).code(1);

    // A second session: owner 1 with the right document, then 2 and 4.
    let first = recover_json(&owners.clis[1]).ok().json();
    assert_eq!(
        first["session"]["submitted"], 1,
        "progress does not carry over: {first}"
    );
    assert_ne!(
        first["session"]["id"], cancelled["last_ended"]["id"],
        "a new session"
    );
    let second = recover_json(&owners.clis[2]).ok().json();
    assert_eq!(second["session"]["remaining"], 1);
    let done = recover_json(&owners.clis[4]).ok().json();
    assert_eq!(done["state"], "ready", "{done}");
    assert_eq!(state(&owners.clis[0]), "ready");
    drop(other);
}

#[test]
fn expiry_and_a_restart_mid_session_drop_the_session() {
    let tmp = tempfile::tempdir().unwrap();
    let state_dir = tmp.path().join("state");
    let mut coordinator = CoordinatorProcess::start(&state_dir).unwrap();
    let mut owners = Owners::new(tmp.path(), "c", 3, &coordinator.addr);
    set_up(&owners, &tmp.path().join("input"), 2);

    // A short session: one share, then it runs out.
    coordinator = restart(&mut coordinator, &state_dir, "2");
    owners.at(&coordinator.addr);
    recover(&owners.clis[0]).ok();
    let deadline = Instant::now() + Duration::from_secs(60);
    let ended = loop {
        let status = session_status(&owners.clis[1]);
        if status["session"].is_null() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the session never expired: {status}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(ended["last_ended"]["outcome"], "expired", "{ended}");
    assert_eq!(state(&owners.clis[1]), "recovery-required");

    // A restart in the middle of a session: the session and its share are gone.
    coordinator = restart(&mut coordinator, &state_dir, "900");
    owners.at(&coordinator.addr);
    let run = recover_json(&owners.clis[1]).ok().json();
    assert_eq!(run["session"]["submitted"], 1);
    let log = coordinator.log();
    coordinator = restart(&mut coordinator, &state_dir, "900");
    owners.at(&coordinator.addr);
    let status = session_status(&owners.clis[2]);
    assert!(
        status["session"].is_null() && status["last_ended"].is_null(),
        "{status}"
    );
    // Nothing of the session was written to the state directory.
    let mut names: Vec<String> = std::fs::read_dir(state_dir.join("history"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["commitments", "manifests", "policies", "transitions"]
    );
    // Neither the share that was submitted nor the seed it is part of is in the
    // Coordinator's log (trace level) or any stored file.
    let document = SeedShareDocument::from_json(
        &std::fs::read_to_string(owners.clis[1].workspace.join("seed-shares.json")).unwrap(),
    )
    .unwrap();
    let pair = |i: usize| {
        let pem =
            std::fs::read_to_string(owners.clis[i].workspace.join("keys/seedshare-owner.pem"))
                .unwrap();
        OwnerKeyPair::from_pkcs8_pem(&pem).unwrap()
    };
    let shares = [
        document.open_key_share_with(&pair(1)).unwrap(),
        document.open_key_share_with(&pair(2)).unwrap(),
    ];
    let (seed, _) = threshold::combine(&shares, 2).unwrap();
    let secrets = [shares[0].expose()[1..].to_vec(), seed.expose().to_vec()];
    let mut stored = Vec::new();
    collect_files(&state_dir, &mut stored);
    assert!(
        log.contains("recovery share accepted"),
        "the log is the trace-level one"
    );
    for secret in &secrets {
        let hex = hex::encode(&secret[..16]);
        assert!(!log.contains(&hex), "the log holds secret bytes");
        for (path, bytes) in &stored {
            assert!(
                !bytes.windows(16).any(|w| w == &secret[..16]),
                "{} holds secret bytes",
                path.display()
            );
            assert!(!String::from_utf8_lossy(bytes).contains(&hex));
        }
    }

    // A fresh session after all that: two owners recover it.
    recover(&owners.clis[2]).ok();
    let done = recover_json(&owners.clis[1]).ok().json();
    assert_eq!(done["state"], "ready", "{done}");
}

#[test]
fn whole_seed_deployments_have_no_sessions() {
    let tmp = tempfile::tempdir().unwrap();
    let coordinator = CoordinatorProcess::start(&tmp.path().join("state")).unwrap();
    let owners = Owners::new(tmp.path(), "d", 1, &coordinator.addr);
    let status = session_status(&owners.clis[0]);
    assert_eq!(status["state"], "uninitialized");
    assert!(status["session"].is_null());
    let run = owners.clis[0].run(&["recovery", "cancel"]).code(1);
    assert!(
        run.stderr.contains("no recovery session is open"),
        "{}",
        run.stderr
    );
}

/// Whether `python3` has pyca/cryptography with HPKE (48 or later).
fn python_has_hpke() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "from cryptography.hazmat.primitives import hpke"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// An independent reader (tests/python/threshold_shares.py: pyca/cryptography's HPKE, its own
/// GF(2^8) arithmetic and HKDF) opens two owners' shares from the document as FORMATS.md
/// describes it, checks their commitments, combines them and derives the same workload secret
/// as `seedward workload-secret`.
#[test]
#[ignore = "needs python3 with pyca/cryptography 48 (HPKE); scripts/test.sh installs it and runs this test"]
fn an_independent_python_reader_combines_two_of_three() {
    assert!(
        python_has_hpke(),
        "`python3 -c 'from cryptography.hazmat.primitives import hpke'` failed: install the test dependencies with scripts/install-test-deps.sh (pip install 'cryptography>=48')"
    );
    let tmp = tempfile::tempdir().unwrap();
    let coordinator = CoordinatorProcess::start(&tmp.path().join("state")).unwrap();
    let owners = Owners::new(tmp.path(), "e", 3, &coordinator.addr);
    set_up(&owners, &tmp.path().join("input"), 2);
    let keys: Vec<PathBuf> = [0usize, 2]
        .iter()
        .map(|&i| {
            let path = tmp.path().join(format!("owner-{i}.pem"));
            owners.clis[i]
                .run(&[
                    "--yes",
                    "--allow-unattested",
                    "keys",
                    "export",
                    "--kind",
                    "owner",
                    "--private",
                    "--out",
                    p(&path),
                ])
                .ok();
            path
        })
        .collect();
    let id = "apps/v1/Deployment/default/web";
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/threshold_shares.py");
    let output = std::process::Command::new("python3")
        .arg(&script)
        .arg("--shares")
        .arg(owners.clis[0].workspace.join("seed-shares.json"))
        .arg("--key")
        .arg(&keys[0])
        .arg("--key")
        .arg(&keys[1])
        .arg("--id")
        .arg(id)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("ok: share 3 opens and matches its commitment"),
        "{stderr}"
    );
    let ours = owners.clis[1]
        .run(&[
            "workload-secret",
            "--id",
            id,
            "--other-owner-key",
            p(&keys[1]),
        ])
        .ok();
    assert_eq!(stdout.trim(), ours.stdout.trim());
    assert_eq!(ours.stdout.trim().len(), 128);
}

/// Without the stored commitments (deleted from the state directory), a stray share is
/// accepted and the k shares combine to a seed that does not verify the history: the session
/// fails naming the owners whose shares were combined, the Coordinator stays in recovery, and
/// a second session with the right shares recovers it.
#[test]
fn a_failed_session_names_the_owners_and_a_second_one_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let state_a = tmp.path().join("state-a");
    let mut coordinator = CoordinatorProcess::start(&state_a).unwrap();
    let other = CoordinatorProcess::start(&tmp.path().join("state-b")).unwrap();
    let mut owners = Owners::new(tmp.path(), "f", 3, &coordinator.addr);
    set_up(&owners, &tmp.path().join("input"), 2);

    // The same owners' other deployment: owner 1's stray document.
    let stray_ws = tmp.path().join("stray");
    let stray = Cli::new(tmp.path(), &stray_ws, &other.addr);
    std::fs::create_dir_all(stray_ws.join("keys")).unwrap();
    for entry in std::fs::read_dir(owners.clis[0].workspace.join("keys")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), stray_ws.join("keys").join(entry.file_name())).unwrap();
    }
    let workload = public_hex(&owners.clis[0], "workload-owner");
    let set = threshold_manifest(
        &tmp.path().join("input-b"),
        &owners.public_hexes(),
        &workload,
        2,
    );
    let mut args = vec!["--yes", "--allow-unattested"];
    args.extend(set.iter().map(String::as_str));
    stray.run(&args).ok();
    let wrong_doc = tmp.path().join("other-seed-shares.json");
    std::fs::copy(stray_ws.join("seed-shares.json"), &wrong_doc).unwrap();

    // No commitments to blame with.
    let commitments = state_a.join("history/commitments");
    for entry in std::fs::read_dir(&commitments).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    coordinator = restart(&mut coordinator, &state_a, "900");
    owners.at(&coordinator.addr);

    recover(&owners.clis[0]).ok();
    let run = owners.clis[1].run(&[
        "--yes",
        "--allow-unattested",
        "recover",
        "--seed-shares",
        p(&wrong_doc),
    ]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "the shares of {}, {} combine to a seed that does not verify the stored history",
            owners.fingerprints[0], owners.fingerprints[1]
        )),
        "{}",
        run.stderr
    );
    let status = session_status(&owners.clis[2]);
    assert!(status["session"].is_null(), "{status}");
    assert_eq!(status["last_ended"]["outcome"], "failed");
    assert_eq!(state(&owners.clis[2]), "recovery-required");

    // The second session, with the right shares.
    recover(&owners.clis[2]).ok();
    let done = recover_json(&owners.clis[1]).ok().json();
    assert_eq!(done["state"], "ready", "{done}");
    drop(other);
}
