//! Attestation end to end with the real `seedward-coordinator`, `seedward` and
//! `seedward-initializer` binaries (issue #14; docs/ATTESTATION.md, "The end-to-end test
//! with the real binaries").
//!
//! A test AMD (`seedward_tests::attest::TestPlatform`) signs SEV-SNP reports in a fake
//! configfs-tsm directory that the Coordinator (`--attestation snp --tsm-dir`) and the
//! initializer read exactly like the kernel's; every binary trusts that test root only
//! through the hidden `--test-trust-anchor`. The Coordinator hands out a CRL from
//! `--collateral-dir`, so no check is waived.
//!
//! - attested: first set, verify, restart → recover (no `--allow-unattested`) and the
//!   initializer's certificate all succeed and the output names the checks;
//! - fail closed, with the failing check named and nothing sent: a wrong measurement, a
//!   debug policy, an impostor with a copied history and its own (untrusted) signer, a relay
//!   whose TLS key the evidence does not bind;
//! - kind `none`: the impostor is refused unless the operator acknowledges UNATTESTED, and a
//!   relay that adds its own seed share owner in flight is caught by the first-set reply
//!   check.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::cli_support::{Cli, Run, p, public_hex, write_changed, write_template};
use rand_core::OsRng;
use seedward_attestation::testing::ReportSpec;
use seedward_shared::keys::OwnerKeyPair;
use seedward_shared::manifest::Manifest;
use seedward_tests::attest::{POLICY_DEBUG, TestPlatform, copy_dir, measurement, snp_reference};
use seedward_tests::mitm::{Mitm, Tamper};
use seedward_tests::{CoordinatorProcess, bin_dir};

/// A deployment's inputs: the workspace's CLI, the manifest and policies, the trust files.
struct Setup {
    tmp: tempfile::TempDir,
    cli: Cli,
    manifest: PathBuf,
    policies: Vec<PathBuf>,
    coordinator_policy: [u8; 32],
    workload_policy: [u8; 32],
    /// The trusted test ARK bundle (`--test-trust-anchor`).
    anchor: PathBuf,
    /// A CRL of the trusted test ARK (`--collateral-dir`).
    collateral: PathBuf,
}

impl Setup {
    /// Keys in a fresh workspace, and the template manifest with `reference` as its
    /// `ReferenceValues` (`None`: the template's `{}`, development).
    fn new(reference: Option<serde_json::Value>) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("ws");
        let cli = Cli::new(tmp.path(), &ws, "127.0.0.1:1");
        cli.run(&["keys", "generate", "--kind", "owner"]).ok();
        cli.run(&["keys", "generate", "--kind", "workload"]).ok();
        let input = tmp.path().join("input");
        let (manifest, policies) = write_template(
            &input,
            &public_hex(&cli, "seedshare-owner"),
            &public_hex(&cli, "workload-owner"),
        );
        if let Some(reference) = reference {
            write_changed(&manifest, &manifest, reference);
        }
        let parsed = Manifest::parse_and_validate(std::fs::read(&manifest).unwrap()).unwrap();
        let coordinator_policy = *parsed.coordinator_policy_hash().unwrap().as_bytes();
        let workload_policy = policies
            .iter()
            .map(|p| sha256(&std::fs::read(p).unwrap()))
            .find(|h| *h != coordinator_policy)
            .unwrap();
        let anchor = tmp.path().join("trust/test-ark.pem");
        std::fs::create_dir_all(anchor.parent().unwrap()).unwrap();
        TestPlatform::trusted().write_anchor(&anchor).unwrap();
        let collateral = tmp.path().join("collateral");
        TestPlatform::trusted().write_crl(&collateral).unwrap();
        Self {
            tmp,
            cli,
            manifest,
            policies,
            coordinator_policy,
            workload_policy,
            anchor,
            collateral,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// `seedward [flags] set --manifest … --policy …`.
    fn set(&self, flags: &[&str]) -> Run {
        let mut args: Vec<&str> = flags.to_vec();
        args.extend(["set", "--manifest", p(&self.manifest)]);
        for pol in &self.policies {
            args.extend(["--policy", p(pol)]);
        }
        self.cli.run(&args)
    }

    /// The client trusts the test root (as the CLI's global flag).
    fn trust_test_root(&mut self) {
        self.cli.global = vec!["--test-trust-anchor".into(), p(&self.anchor).into()];
    }

    /// Starts a Coordinator on state `state` with SEV-SNP evidence from `tsm`, trusting
    /// `anchor` for workloads and handing out the trusted CRL.
    fn snp_coordinator(&self, state: &str, tsm: &Path, anchor: &Path) -> CoordinatorProcess {
        CoordinatorProcess::start_with(
            &self.path(state),
            &[
                "--attestation",
                "snp",
                "--tsm-dir",
                p(tsm),
                "--test-trust-anchor",
                p(anchor),
                "--collateral-dir",
                p(&self.collateral),
            ],
        )
        .unwrap()
    }

    fn state(&self) -> String {
        let run = self.cli.run(&["--json", "status"]).ok();
        run.json()["state"].as_str().unwrap().to_owned()
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    *seedward_shared::history::Digest::of(bytes).as_bytes()
}

/// Stdout and stderr together: where a check is named does not matter, that it is does.
fn output(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

#[track_caller]
fn assert_names(run: &Run, needles: &[&str]) {
    let all = output(run);
    for needle in needles {
        assert!(
            all.contains(needle),
            "output does not name {needle:?}:\n{all}"
        );
    }
}

/// The line of check `name` (`✓ name …`, `✗ name: …`).
fn check_line<'a>(run: &'a Run, name: &str) -> &'a str {
    run.stdout
        .lines()
        .chain(run.stderr.lines())
        .find(|l| {
            let l = l.trim_start();
            l.starts_with(&format!("✓ {name} ")) || l.starts_with(&format!("✗ {name}:"))
        })
        .unwrap_or_else(|| panic!("no check line {name:?}:\n{}", output(run)))
}

/// `names` passed, and no check of the verdict failed or was not performed.
#[track_caller]
fn assert_all_passed(run: &Run, names: &[&str]) {
    assert_passed(run, names);
    let all = output(run);
    assert!(
        !all.lines().any(|l| l.trim_start().starts_with('✗')) && !all.contains("not performed"),
        "a check failed or was not performed:\n{all}"
    );
}

#[track_caller]
fn assert_passed(run: &Run, names: &[&str]) {
    for name in names {
        let line = check_line(run, name);
        assert!(line.trim_start().starts_with('✓'), "{name}: {line}");
    }
}

#[track_caller]
fn assert_failed(run: &Run, name: &str) {
    let line = check_line(run, name);
    assert!(line.trim_start().starts_with('✗'), "{name}: {line}");
}

/// Every check of a fully verified SEV-SNP verdict under the test root.
const SNP_CHECKS: &[&str] = &[
    "signature",
    "chain",
    "vcek-validity",
    "vcek-hwid",
    "vcek-tcb",
    "crl",
    "measurement",
    "tcb-reported",
    "guest-policy-debug",
    "chip-id",
    "vmpl",
    "host-data",
    "report-data",
];

#[test]
fn attested_set_verify_recover_and_workload_certificate() {
    let platform = TestPlatform::trusted();
    let mut setup = Setup::new(Some(snp_reference(measurement())));
    setup.trust_test_root();
    let tsm = setup.path("tsm-coordinator");
    let fake = platform
        .serve(&tsm, platform.report(setup.coordinator_policy))
        .unwrap();
    let mut coordinator = setup.snp_coordinator("state", &tsm, &setup.anchor);
    setup.cli.addr = coordinator.addr.clone();

    // First set: verified against the manifest being set; no --allow-unattested.
    let run = setup.set(&["--yes"]).ok();
    assert_all_passed(&run, SNP_CHECKS);
    assert_names(
        &run,
        &["attested (snp", "test trust anchor", "NOT an AMD root"],
    );
    assert!(!output(&run).contains("UNATTESTED"), "{}", output(&run));
    assert!(setup.cli.workspace.join("seed-shares.json").exists());
    assert!(fake.served() >= 2, "start-up probe and the client's status");

    // Verify: the evidence against the workspace's manifest.json, with the history.
    let run = setup.cli.run(&["verify"]).ok();
    assert_all_passed(&run, SNP_CHECKS);
    assert_names(&run, &["attested (snp"]);
    // A client that does not trust the test root (AMD's roots only) does not verify it.
    let global = std::mem::take(&mut setup.cli.global);
    let run = setup.cli.run(&["verify"]).code(3);
    assert_failed(&run, "chain");
    setup.cli.global = global;

    // Restart: recovery needs no acknowledgement, the evidence is attested and binds the
    // fresh challenge.
    coordinator.kill();
    let coordinator = setup.snp_coordinator("state", &tsm, &setup.anchor);
    setup.cli.addr = coordinator.addr.clone();
    assert_eq!(setup.state(), "recovery-required");
    let run = setup.cli.run(&["--yes", "recover"]).ok();
    assert_all_passed(&run, SNP_CHECKS);
    assert_names(&run, &["attested (snp"]);
    assert!(!output(&run).contains("UNATTESTED"), "{}", output(&run));
    assert_eq!(setup.state(), "ready");

    // The workload: its own fake TEE launched with the workload policy as HOST_DATA; the
    // Coordinator verifies it against the active manifest under the test root.
    let workload_tsm = setup.path("tsm-workload");
    let _workload_fake = platform
        .serve(&workload_tsm, platform.report(setup.workload_policy))
        .unwrap();
    let root = setup.path("workload");
    let out = initializer(&coordinator.addr, &workload_tsm, &root, &setup)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "initializer failed:\n{log}");
    let secret = std::fs::read_to_string(root.join("secrets/workload-secret-seed")).unwrap();
    assert_eq!(secret.len(), 128);
    assert!(root.join("tls-config/cert-chain.pem").exists());

    // The same workload launched in debug mode is refused, naming the check.
    let debug_tsm = setup.path("tsm-debug-workload");
    let mut debug_report = platform.report(setup.workload_policy);
    debug_report.policy |= POLICY_DEBUG;
    let _debug_fake = platform.serve(&debug_tsm, debug_report).unwrap();
    let out = initializer(&coordinator.addr, &debug_tsm, &setup.path("debug"), &setup)
        .args(["--max-wait-secs", "1"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{log}");
    assert!(log.contains("guest-policy-debug"), "{log}");
    assert!(!setup.path("debug/secrets/workload-secret-seed").exists());
}

/// `seedward-initializer --attestation snp` on `tsm`, pinned to the workspace's root CA;
/// its policy hash comes from the report's HOST_DATA.
fn initializer(addr: &str, tsm: &Path, root: &Path, setup: &Setup) -> Command {
    let mut cmd = Command::new(bin_dir().join("seedward-initializer"));
    cmd.args(["--coordinator", addr, "--attestation", "snp", "--tsm-dir"])
        .arg(tsm)
        .arg("--secrets-root")
        .arg(root)
        .arg("--root-ca")
        .arg(setup.cli.workspace.join("coordinator-root-ca.pem"))
        .args(["--initial-backoff-ms", "100"])
        .env_remove("SEEDWARD_COORDINATOR")
        .env_remove("SEEDWARD_POLICY_HASH")
        .stdin(Stdio::null());
    cmd
}

/// A first set to an attested Coordinator whose evidence does not match: refused with
/// `check` named, nothing sent (still uninitialized, no seed shares).
fn first_set_refused(reference: serde_json::Value, report: impl Fn(&mut ReportSpec), check: &str) {
    let platform = TestPlatform::trusted();
    let mut setup = Setup::new(Some(reference));
    setup.trust_test_root();
    let tsm = setup.path("tsm");
    let mut spec = platform.report(setup.coordinator_policy);
    report(&mut spec);
    let _fake = platform.serve(&tsm, spec).unwrap();
    let coordinator = setup.snp_coordinator("state", &tsm, &setup.anchor);
    setup.cli.addr = coordinator.addr.clone();
    let run = setup.set(&["--yes"]).code(3);
    assert_failed(&run, check);
    assert_names(&run, &["was not sent"]);
    // Acknowledging "unattested" does not help: the evidence is not unattested, it is wrong.
    let run = setup.set(&["--yes", "--allow-unattested"]).code(3);
    assert_failed(&run, check);
    assert_eq!(setup.state(), "uninitialized");
    assert!(!setup.cli.workspace.join("seed-shares.json").exists());
}

#[test]
fn wrong_measurement_is_refused_before_the_manifest_is_sent() {
    first_set_refused(snp_reference([0x11; 48]), |_| {}, "measurement");
}

#[test]
fn debug_policy_is_refused_before_the_manifest_is_sent() {
    first_set_refused(
        snp_reference(measurement()),
        |r| r.policy |= POLICY_DEBUG,
        "guest-policy-debug",
    );
}

#[test]
fn attested_impostor_with_a_copied_history_gets_no_seed() {
    let platform = TestPlatform::trusted();
    let mut setup = Setup::new(Some(snp_reference(measurement())));
    setup.trust_test_root();
    let tsm = setup.path("tsm");
    let _fake = platform
        .serve(&tsm, platform.report(setup.coordinator_policy))
        .unwrap();
    let mut genuine = setup.snp_coordinator("state", &tsm, &setup.anchor);
    setup.cli.addr = genuine.addr.clone();
    setup.set(&["--yes"]).ok();
    genuine.kill();

    // The impostor: the public history copied, its own signer (a root the client does not
    // trust) that reports the same measurement, policy and HOST_DATA.
    copy_dir(&setup.path("state"), &setup.path("impostor-state")).unwrap();
    let impostor_platform = TestPlatform::new().unwrap();
    let impostor_anchor = setup.path("impostor-ark.pem");
    impostor_platform.write_anchor(&impostor_anchor).unwrap();
    let impostor_tsm = setup.path("impostor-tsm");
    let _impostor_fake = impostor_platform
        .serve(
            &impostor_tsm,
            impostor_platform.report(setup.coordinator_policy),
        )
        .unwrap();
    let impostor = setup.snp_coordinator("impostor-state", &impostor_tsm, &impostor_anchor);
    setup.cli.addr = impostor.addr.clone();
    assert_eq!(setup.state(), "recovery-required");

    for flags in [&["--yes"][..], &["--yes", "--allow-unattested"][..]] {
        let mut args = flags.to_vec();
        args.push("recover");
        let run = setup.cli.run(&args).code(3);
        assert_failed(&run, "chain");
        assert_names(&run, &["NOT VERIFIED"]);
        // The seed never reached it.
        assert_eq!(setup.state(), "recovery-required");
    }
    assert!(
        !impostor.log().contains("recovered; Coordinator ready"),
        "{}",
        impostor.log()
    );
}

#[test]
fn relay_whose_tls_key_the_evidence_does_not_bind_is_refused() {
    let platform = TestPlatform::trusted();
    let mut setup = Setup::new(Some(snp_reference(measurement())));
    setup.trust_test_root();
    let tsm = setup.path("tsm");
    let _fake = platform
        .serve(&tsm, platform.report(setup.coordinator_policy))
        .unwrap();
    let coordinator = setup.snp_coordinator("state", &tsm, &setup.anchor);
    let relay = Mitm::start(
        &coordinator.addr,
        Tamper {
            forge_binding: true,
            add_owner: Some(OwnerKeyPair::generate(&mut OsRng).public_key().to_hex()),
            rewrite_transition: true,
        },
    )
    .unwrap();
    setup.cli.addr = relay.addr.clone();
    let run = setup.set(&["--yes"]).code(3);
    // The report is genuine and matches the manifest, but it binds the Coordinator's TLS
    // key, not the relay's that this connection saw.
    assert_passed(&run, &["signature", "chain", "measurement", "host-data"]);
    assert_failed(&run, "report-data");
    assert_names(&run, &["was not sent"]);
    assert_eq!(relay.seen().set_manifest, 0);
    setup.cli.addr = coordinator.addr.clone();
    assert_eq!(setup.state(), "uninitialized");
}

#[test]
fn unattested_impostor_with_a_copied_history_needs_the_operators_acknowledgement() {
    let setup_none = Setup::new(None);
    let mut setup = setup_none;
    let mut genuine =
        CoordinatorProcess::start_with(&setup.path("state"), &["--attestation", "none"]).unwrap();
    setup.cli.addr = genuine.addr.clone();
    setup.set(&["--yes", "--allow-unattested"]).ok();
    genuine.kill();

    copy_dir(&setup.path("state"), &setup.path("impostor-state")).unwrap();
    let impostor =
        CoordinatorProcess::start_with(&setup.path("impostor-state"), &["--attestation", "none"])
            .unwrap();
    setup.cli.addr = impostor.addr.clone();
    // --yes alone: refused (exit 4), and it says why.
    let run = setup.cli.run(&["--yes", "recover"]).code(4);
    assert_names(&run, &["UNATTESTED", "--allow-unattested"]);
    assert_eq!(setup.state(), "recovery-required");
    // With the acknowledgement it is the operator's explicit choice, and it says so.
    let run = setup.cli.run(&["--yes", "--allow-unattested", "recover"]);
    assert_names(&run, &["UNATTESTED"]);
    run.ok();
}

#[test]
fn unattested_relay_that_adds_an_owner_in_flight_is_caught() {
    for rewrite_transition in [false, true] {
        let mut setup = Setup::new(None);
        let coordinator =
            CoordinatorProcess::start_with(&setup.path("state"), &["--attestation", "none"])
                .unwrap();
        let relay = Mitm::start(
            &coordinator.addr,
            Tamper {
                forge_binding: true,
                add_owner: Some(OwnerKeyPair::generate(&mut OsRng).public_key().to_hex()),
                rewrite_transition,
            },
        )
        .unwrap();
        setup.cli.addr = relay.addr.clone();
        // Without the acknowledgement nothing is sent.
        let run = setup.set(&["--yes"]).code(4);
        assert_names(&run, &["UNATTESTED"]);
        assert_eq!(relay.seen().set_manifest, 0);
        // Acknowledged: the relay's forged development evidence binds its own key, so it gets
        // the manifest through and takes a seed share; the reply check must catch it.
        let run = setup.set(&["--yes", "--allow-unattested"]).code(3);
        assert_eq!(relay.seen().set_manifest, 1);
        assert!(relay.seen().stolen_share.is_some());
        if rewrite_transition {
            // The reply looks like the first transition of the bytes sent and holds exactly
            // the listed owners' shares: the share drill catches the served manifest.
            assert_names(
                &run,
                &[
                    "share drill right after setup failed",
                    "latest manifest is not the manifest.json this workspace set",
                ],
            );
        } else {
            // The reply's transition is not the first transition of the bytes sent: refused
            // before anything is saved.
            assert_names(&run, &["does not match the manifest you sent"]);
            assert!(!setup.cli.workspace.join("seed-shares.json").exists());
        }
        assert_names(
            &run,
            &[
                "manifest was changed on its way",
                "omeone else may hold the seed",
                "o not use this deployment",
            ],
        );
    }
}
