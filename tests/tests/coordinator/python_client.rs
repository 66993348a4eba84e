//! An independent client: Python `grpcio`, compiling `shared/proto/seedward/v1/user.proto` at
//! test time, talks to the real daemon over TLS and checks the documented contract (states,
//! evidence binding, error reasons in trailers, the SHA-256 manifest chain, health and
//! reflection) with its own hashing. See `tests/python/client.py`.
//!
//! Needs `python3` with `grpcio` and `grpcio-tools` (plus `grpcio-health-checking` and
//! `grpcio-reflection`), which `scripts/install-test-deps.sh` installs and `scripts/test.sh`
//! always runs. Without them this test is SKIPPED with a loud message.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is the failure report"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn python_has_grpc() -> bool {
    Command::new("python3")
        .args(["-c", "import grpc, grpc_tools"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run_python(addr: &str, work: &Path, phase: &[&str]) {
    let root = repo_root();
    let output = Command::new("python3")
        .arg(root.join("tests/python/client.py"))
        .arg("--addr")
        .arg(addr)
        .arg("--proto-dir")
        .arg(root.join("shared/proto"))
        .arg("--work")
        .arg(work)
        .args(phase)
        .output()
        .expect("cannot run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("--- python client {phase:?} ---\n{stdout}{stderr}");
    assert!(
        output.status.success(),
        "the Python client failed in phase {phase:?}:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("phase {} passed", phase[0])),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Python's grpcio; scripts/test.sh installs it and runs this test"]
async fn python_grpcio_client_follows_the_documented_contract() {
    assert!(
        python_has_grpc(),
        "`python3 -c 'import grpc, grpc_tools'` failed: install the test dependencies with scripts/install-test-deps.sh (pip install grpcio grpcio-tools grpcio-health-checking grpcio-reflection)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("python");
    std::fs::create_dir_all(&work).unwrap();
    let process = start(&tmp.path().join("state")).await;

    // Before setup: status, evidence, refusal reasons, health, reflection.
    let addr = process.addr.clone();
    let w = work.clone();
    tokio::task::spawn_blocking(move || run_python(&addr, &w, &["uninitialized"]))
        .await
        .unwrap();

    // The Rust client sets up and updates once; Python checks what it serves.
    let client = connect(&process.addr).await;
    let keys = Keys::generate();
    let (manifest, policies) = keys.manifest(0);
    let (first, _secret) = first_set(&client, manifest, policies, &keys.owner).await;
    let second = update(&client, &keys, 1, digest(&first.transition_hash))
        .await
        .unwrap();
    let root_ca = tmp.path().join("coordinator-root-ca.pem");
    std::fs::write(&root_ca, &first.root_ca_cert).unwrap();

    let addr = process.addr.clone();
    let latest = hex::encode(&second.transition_hash);
    let root_ca = root_ca.to_string_lossy().into_owned();
    tokio::task::spawn_blocking(move || {
        run_python(
            &addr,
            &work,
            &[
                "ready",
                "--root-ca",
                &root_ca,
                "--expect-count",
                "2",
                "--expect-latest",
                &latest,
            ],
        )
    })
    .await
    .unwrap();
}
