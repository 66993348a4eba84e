//! The real `seedward-coordinator` binary with `--store etcd` against a real 3-member etcd
//! cluster: the first set lands in etcd (not in the state directory), a SIGKILLed and
//! restarted process requires recovery, recovers, and a second replica on another state
//! directory sees the same history.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is the failure report"
)]

use std::path::Path;

use crate::support::*;
use seedward_tests::CoordinatorProcess;
use seedward_tests::etcd::EtcdCluster;

async fn start_on_etcd(state_dir: &Path, endpoints: &str, replica: &str) -> CoordinatorProcess {
    start_with(
        state_dir,
        &[
            "--store",
            "etcd",
            "--etcd-endpoints",
            endpoints,
            "--etcd-prefix",
            "/e2e/seedward",
            "--replica-id",
            replica,
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_set_restart_and_a_second_replica_share_the_history_in_etcd() {
    let cluster = EtcdCluster::start(3);
    let endpoints = cluster.endpoints_csv();
    let tmp = tempfile::tempdir().unwrap();
    let (state_a, state_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let keys = Keys::generate();

    let mut a = start_on_etcd(&state_a, &endpoints, "a").await;
    let client = connect(&a.addr).await;
    assert_eq!(client.status().await.unwrap().state, UNINITIALIZED);
    let (manifest, policies) = keys.manifest(0);
    let (first, secret) = first_set(&client, manifest, policies, &keys.owner).await;
    let latest = digest(&first.transition_hash);
    let status = client.status().await.unwrap();
    assert_eq!((status.state, status.generation), (READY, 1));
    assert!(
        !state_a.join("history/transitions/latest").exists(),
        "with --store etcd the history must not be written to the state directory"
    );

    // Crash and restart: the history is in etcd, the keys are gone.
    a.kill();
    let a = start_on_etcd(&state_a, &endpoints, "a").await;
    let client = connect(&a.addr).await;
    let status = client.status().await.unwrap();
    assert_eq!(
        (state_name(status.state), status.generation),
        ("recovery required", 1),
        "a restarted replica finds the history in etcd and needs recovery"
    );
    assert_eq!(digest(&status.latest_transition_hash), latest);
    let recovered = recover(&client, &keys.owner, &secret).await.unwrap();
    assert_eq!(recovered.generation, 1);
    assert_eq!(client.status().await.unwrap().state, READY);

    // A second replica on its own (empty) state directory shares the history.
    let b = start_on_etcd(&state_b, &endpoints, "b").await;
    let client_b = connect(&b.addr).await;
    let status = client_b.status().await.unwrap();
    assert_eq!(
        (state_name(status.state), status.generation),
        ("recovery required", 1)
    );
    assert_eq!(digest(&status.latest_transition_hash), latest);
    let history = client_b.manifests().await.unwrap();
    assert!(!history.verified);
    assert_eq!(history.manifests.len(), 1);
    assert!(audit(history, &secret).all_verified());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_etcd_stops_the_start_with_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let endpoints = format!("http://127.0.0.1:{port}");
    // Built (if the harness builds at all) before the clock starts.
    tokio::task::spawn_blocking(seedward_tests::coordinator_bin)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let error = tokio::task::spawn_blocking(move || {
        CoordinatorProcess::start_with(
            &dir,
            &[
                "--store",
                "etcd",
                "--etcd-endpoints",
                &endpoints,
                "--etcd-timeout-ms",
                "1000",
            ],
        )
        .err()
        .map(|e| format!("{e:#}"))
    })
    .await
    .unwrap()
    .expect("a Coordinator without etcd must not start");
    assert!(
        error.contains("cannot open the history store in etcd")
            && error.contains(&format!("127.0.0.1:{port}")),
        "{error}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
