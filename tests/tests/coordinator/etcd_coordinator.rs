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
use std::time::{Duration, Instant};

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

/// The replica board as replica `client` serves it: (id, state, generation) sorted by id.
async fn board(client: &seedward::client::CoordinatorClient) -> Vec<(String, &'static str, u64)> {
    let set = client
        .status()
        .await
        .unwrap()
        .replica_set
        .expect("a replica on etcd shows its replica set");
    set.replicas
        .into_iter()
        .map(|r| (r.id, state_name(r.state), r.generation))
        .collect()
}

fn row(id: &str, state: &'static str, generation: u64) -> (String, &'static str, u64) {
    (id.to_string(), state, generation)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replica_board_follows_every_replica_and_foreign_updates_without_a_request() {
    let cluster = EtcdCluster::start(3);
    let endpoints = cluster.endpoints_csv();
    let tmp = tempfile::tempdir().unwrap();
    let keys = Keys::generate();
    let a = start_on_etcd(&tmp.path().join("a"), &endpoints, "a").await;
    let b = start_on_etcd(&tmp.path().join("b"), &endpoints, "b").await;
    let mut c = start_on_etcd(&tmp.path().join("c"), &endpoints, "c").await;
    let client_a = connect(&a.addr).await;
    let client_b = connect(&b.addr).await;

    let status = client_a.status().await.unwrap();
    let set = status.replica_set.unwrap();
    assert_eq!(set.self_id, "a");
    assert!(set.as_of_unix_ms > 0, "the set was read");
    assert!(
        eventually(Duration::from_secs(5), || async {
            board(&client_a).await
                == vec![
                    row("a", "uninitialized", 0),
                    row("b", "uninitialized", 0),
                    row("c", "uninitialized", 0),
                ]
        })
        .await,
        "every replica registers: {:?}",
        board(&client_a).await
    );
    let address_of_b = client_a
        .status()
        .await
        .unwrap()
        .replica_set
        .unwrap()
        .replicas
        .into_iter()
        .find(|r| r.id == "b")
        .unwrap()
        .address;
    assert_eq!(
        address_of_b, b.addr,
        "the record advertises the listen address"
    );

    // The first set on a: b and c see the history in etcd on their own (no request to
    // them) and need recovery.
    let (manifest, policies) = keys.manifest(0);
    let (first, secret) = first_set(&client_a, manifest, policies, &keys.owner).await;
    let started = Instant::now();
    assert!(
        eventually(Duration::from_secs(5), || async {
            board(&client_a).await
                == vec![
                    row("a", "ready", 1),
                    row("b", "recovery required", 1),
                    row("c", "recovery required", 1),
                ]
        })
        .await,
        "{:?}",
        board(&client_a).await
    );
    println!(
        "first set seen by the other replicas after {:?}",
        started.elapsed()
    );

    // b recovers; then an update on a is adopted by b without anyone asking b.
    recover(&client_b, &keys.owner, &secret).await.unwrap();
    let latest = digest(&first.transition_hash);
    update(&client_a, &keys, 1, latest).await.unwrap();
    let started = Instant::now();
    assert!(
        eventually(Duration::from_secs(5), || async {
            board(&client_a).await
                == vec![
                    row("a", "ready", 2),
                    row("b", "ready", 2),
                    row("c", "recovery required", 2),
                ]
        })
        .await,
        "{:?}",
        board(&client_a).await
    );
    println!(
        "an update adopted by the other replicas after {:?}",
        started.elapsed()
    );

    // A graceful stop removes the record at once (its lease is revoked, not left to expire).
    let stopped = tokio::task::spawn_blocking(move || {
        let ok = c.terminate();
        (ok, Instant::now())
    })
    .await
    .unwrap();
    assert!(stopped.0, "SIGTERM stops the replica cleanly");
    assert!(
        eventually(Duration::from_secs(5), || async {
            board(&client_a).await.iter().all(|(id, _, _)| id != "c")
        })
        .await,
        "{:?}",
        board(&client_a).await
    );
    println!(
        "a stopped replica left the board {:?} after its exit",
        stopped.1.elapsed()
    );

    // The operator's view: `seedward replicas --json` against b, once b's own board (read
    // every second) no longer lists c either.
    assert!(
        eventually(Duration::from_secs(5), || async {
            board(&client_b).await.iter().all(|(id, _, _)| id != "c")
        })
        .await,
        "{:?}",
        board(&client_b).await
    );
    let workspace = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(seedward_tests::seedward_bin())
        .args(["--workspace"])
        .arg(workspace.path())
        .args(["--coordinator", &b.addr, "--json", "replicas"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["ok"], true, "{json}");
    assert_eq!(json["answered_by"], "b", "{json}");
    let ids: Vec<&str> = json["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b"], "{json}");
    assert!(
        json["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "ready" && r["generation"] == 2)
    );
}
