//! Peer recovery between three real `seedward-coordinator` processes on a real 3-member
//! etcd cluster (docs/HA.md, "Peer recovery"): a first set through one replica makes the
//! others ready with no human; a SIGKILLed replica comes back by itself; after all three
//! stopped, one owner recovery brings back the rest; concurrent signed updates through
//! different replicas have one winner and every replica converges; every replica issues
//! workload certificates under one mesh CA. An impostor peer (a copied history with another
//! seed) and a peer without the development flag never make a replica ready.
//!
//! All replicas run with `--attestation none --allow-unattested-peers` (the development
//! mode; the attested path runs the same code with a TEE verdict instead of the flag) and
//! short backoffs (`--peer-retry-min-ms 100 --peer-retry-max-ms 1000`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is the failure report"
)]

use std::path::Path;
use std::time::Duration;

use seedward::client::tls::{first_certificate_der, signed_by};
use seedward::client::{CoordinatorClient, Trust, tls};
use seedward_proto::v1 as pb;
use seedward_tests::CoordinatorProcess;
use seedward_tests::error_reason;
use seedward_tests::etcd::EtcdCluster;

use crate::support::*;

const PREFIX: &str = "/e2e/peer";
/// Generous for a loaded 2-core machine; a healthy run takes well under a second per step.
const WAIT: Duration = Duration::from_secs(20);

async fn start_replica(
    dir: &Path,
    endpoints: &str,
    prefix: &str,
    id: &str,
    extra: &[&str],
) -> CoordinatorProcess {
    let mut args = vec![
        "--store",
        "etcd",
        "--etcd-endpoints",
        endpoints,
        "--etcd-prefix",
        prefix,
        "--replica-id",
        id,
    ];
    // Short backoffs, unless the test sets its own.
    if !extra.contains(&"--peer-retry-min-ms") {
        args.extend_from_slice(&["--peer-retry-min-ms", "100", "--peer-retry-max-ms", "1000"]);
    }
    args.extend_from_slice(extra);
    start_with(&dir.join(id), &args).await
}

/// A replica that serves and asks peers, in development mode.
async fn start_peer(dir: &Path, endpoints: &str, id: &str) -> CoordinatorProcess {
    start_replica(
        dir,
        endpoints,
        PREFIX,
        id,
        &[
            "--attestation",
            "none",
            "--peer-listen",
            "127.0.0.1:0",
            "--allow-unattested-peers",
        ],
    )
    .await
}

async fn state_of(client: &CoordinatorClient) -> &'static str {
    match client.status().await {
        Ok(status) => state_name(status.state),
        Err(_) => "unreachable",
    }
}

async fn all_ready(clients: Vec<&CoordinatorClient>) -> bool {
    for client in clients {
        if state_of(client).await != "ready" {
            return false;
        }
    }
    true
}

/// Who recovered the replica behind `client`: (by, who).
async fn recovered_by(client: &CoordinatorClient) -> Option<(String, String)> {
    let status = client.status().await.unwrap();
    status.last_recovery.map(|n| (n.by, n.who))
}

/// A workload's credentials from the replica at `addr` (kind `none`: the test manifests
/// allow unattested workloads).
async fn credentials(addr: &str, policy_hash: &[u8]) -> pb::GetCredentialsResponse {
    let connection = tls::connect(addr, Trust::FirstUse).await.unwrap();
    let mut client = pb::workload_api_client::WorkloadApiClient::new(connection.channel);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    client
        .get_credentials(pb::GetCredentialsRequest {
            evidence: Some(pb::WorkloadEvidence {
                kind: "none".into(),
                policy_hash: policy_hash.to_vec(),
                ..Default::default()
            }),
            public_key: rcgen::PublicKeyData::subject_public_key_info(&key),
        })
        .await
        .unwrap()
        .into_inner()
}

/// The first policy hash of a manifest.
fn policy_of(manifest: &[u8]) -> Vec<u8> {
    let value: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    let key = value["Policies"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    hex::decode(key).unwrap()
}

/// Whether every replica's workload certificate verifies under every replica's mesh CA.
async fn same_mesh_ca(addrs: &[&str], policy: &[u8]) -> bool {
    let mut issued = Vec::new();
    for addr in addrs {
        let creds = credentials(addr, policy).await;
        issued.push((
            first_certificate_der(creds.cert_chain.as_bytes()).unwrap(),
            first_certificate_der(creds.mesh_ca_cert.as_bytes()).unwrap(),
        ));
    }
    issued
        .iter()
        .all(|(leaf, _)| issued.iter().all(|(_, mesh)| signed_by(leaf, mesh)))
}

/// Every replica's workload certificate verifies under every replica's mesh CA.
async fn one_mesh_ca(addrs: &[&str], policy: &[u8]) {
    let mut issued = Vec::new();
    for addr in addrs {
        let creds = credentials(addr, policy).await;
        let leaf = first_certificate_der(creds.cert_chain.as_bytes()).unwrap();
        let mesh = first_certificate_der(creds.mesh_ca_cert.as_bytes()).unwrap();
        issued.push((addr.to_string(), leaf, mesh));
    }
    for (from, leaf, _) in &issued {
        for (other, _, mesh) in &issued {
            assert!(
                signed_by(leaf, mesh),
                "the workload certificate from {from} does not chain to the mesh CA of {other}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_recover_from_each_other_and_issue_under_one_mesh_ca() {
    let cluster = EtcdCluster::start(3);
    let endpoints = cluster.endpoints_csv();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let keys = Keys::generate();
    let mut a = start_peer(dir, &endpoints, "a").await;
    let mut b = start_peer(dir, &endpoints, "b").await;
    let mut c = start_peer(dir, &endpoints, "c").await;
    let (ca, cb, cc) = (
        connect(&a.addr).await,
        connect(&b.addr).await,
        connect(&c.addr).await,
    );

    // A first set through a: b and c become ready by peer recovery, with no request to them.
    let (manifest, policies) = keys.manifest(0);
    let policy = policy_of(&manifest);
    let (first, secret) = first_set(&ca, manifest, policies, &keys.owner).await;
    assert!(
        eventually(WAIT, || all_ready(vec![&ca, &cb, &cc])).await,
        "b: {}, c: {}\nlog of b:\n{}",
        state_of(&cb).await,
        state_of(&cc).await,
        b.log()
    );
    let statuses = [
        ca.status().await.unwrap(),
        cb.status().await.unwrap(),
        cc.status().await.unwrap(),
    ];
    for s in &statuses {
        assert_eq!(s.latest_transition_hash, first.transition_hash);
        assert_eq!(s.generation, 1);
        assert_eq!(
            first_certificate_der(s.root_ca_cert.as_bytes()).map(|d| tls::leaf_spki_sha256(&d)),
            first_certificate_der(first.root_ca_cert.as_bytes()).map(|d| tls::leaf_spki_sha256(&d)),
            "every replica serves the root CA derived from the one seed"
        );
    }
    assert_eq!(recovered_by(&ca).await, None, "a was set up, not recovered");
    for (client, me) in [(&cb, "b"), (&cc, "c")] {
        let (by, who) = recovered_by(client).await.expect("recorded");
        assert_eq!(by, "peer");
        assert!(
            ["a", "b", "c"].contains(&who.as_str()) && who != me,
            "{who}"
        );
    }
    assert!(b.log().contains("recovered from a peer; Coordinator ready"));
    // The seed crossed between replicas; it reached no log (they run at trace level).
    let seed_hex = hex::encode(secret.seed.expose());
    for process in [&a, &b, &c] {
        assert!(!process.log().contains(&seed_hex), "a log holds the seed");
    }
    one_mesh_ca(&[&a.addr, &b.addr, &c.addr], &policy).await;

    // Concurrent signed updates through the three replicas on the same latest: exactly one
    // wins, the others are told STALE_LATEST, and every replica converges on the winner.
    let latest = digest(&first.transition_hash);
    let (ra, rb, rc) = tokio::join!(
        update(&ca, &keys, 1, latest),
        update(&cb, &keys, 2, latest),
        update(&cc, &keys, 3, latest),
    );
    let results = [ra, rb, rc];
    let winners: Vec<&pb::SetManifestResponse> =
        results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for loser in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(
            error_reason(loser),
            Some("STALE_LATEST"),
            "{}",
            describe(loser)
        );
    }
    let won = winners[0].transition_hash.clone();
    assert!(
        eventually(WAIT, || async {
            for client in [&ca, &cb, &cc] {
                let s = client.status().await.unwrap();
                if state_name(s.state) != "ready" || s.latest_transition_hash != won {
                    return false;
                }
            }
            true
        })
        .await,
        "every replica adopts the winning update"
    );
    one_mesh_ca(&[&a.addr, &b.addr, &c.addr], &policy).await;

    // SIGKILL a and restart it: it recovers from b or c by itself.
    a.kill();
    let a = start_peer(dir, &endpoints, "a").await;
    let ca = connect(&a.addr).await;
    assert!(
        eventually(WAIT, || all_ready(vec![&ca])).await,
        "a: {}\n{}",
        state_of(&ca).await,
        a.log()
    );
    let (by, who) = recovered_by(&ca).await.unwrap();
    assert!(by == "peer" && (who == "b" || who == "c"), "{by} {who}");
    assert_eq!(ca.status().await.unwrap().latest_transition_hash, won);
    one_mesh_ca(&[&a.addr, &b.addr, &c.addr], &policy).await;

    // Stop all three; restart: nobody holds keys, so they wait. One owner recovery of b
    // brings back the other two.
    drop(a);
    b.kill();
    c.kill();
    let a = start_peer(dir, &endpoints, "a").await;
    let b = start_peer(dir, &endpoints, "b").await;
    let c = start_peer(dir, &endpoints, "c").await;
    let (ca, cb, cc) = (
        connect(&a.addr).await,
        connect(&b.addr).await,
        connect(&c.addr).await,
    );
    for client in [&ca, &cb, &cc] {
        assert_eq!(state_of(client).await, "recovery required");
    }
    recover(&cb, &keys.owner, &secret).await.unwrap();
    assert!(
        eventually(WAIT, || all_ready(vec![&ca, &cc])).await,
        "a: {}, c: {}",
        state_of(&ca).await,
        state_of(&cc).await
    );
    let (by, who) = recovered_by(&cb).await.unwrap();
    assert_eq!(
        (by.as_str(), who),
        ("owner", keys.owner.public_key().fingerprint().to_string())
    );
    for client in [&ca, &cc] {
        assert_eq!(recovered_by(client).await.unwrap().0, "peer");
    }
    one_mesh_ca(&[&a.addr, &b.addr, &c.addr], &policy).await;

    // The board and `seedward status --json` show who did what.
    let board = cb.status().await.unwrap().replica_set.unwrap();
    assert!(
        eventually(WAIT, || async {
            let board = cb.status().await.unwrap().replica_set.unwrap();
            board.replicas.len() == 3
                && board
                    .replicas
                    .iter()
                    .all(|r| r.last_recovery.is_some() && !r.peer_address.is_empty())
        })
        .await,
        "{board:?}"
    );
    let workspace = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(seedward_tests::seedward_bin())
        .args(["--workspace"])
        .arg(workspace.path())
        .args(["--coordinator", &a.addr, "--json", "status"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(json["last_recovery"]["by"], "peer", "{json}");

    // `seedward replicas --json` carries every replica's last recovery too.
    let out = std::process::Command::new(seedward_tests::seedward_bin())
        .args(["--workspace"])
        .arg(workspace.path())
        .args(["--coordinator", &a.addr, "--json", "replicas"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    let replicas = json["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 3, "{json}");
    for replica in replicas {
        let by = replica["last_recovery"]["by"].as_str().unwrap_or_default();
        assert!(by == "peer" || by == "owner", "{json}");
        assert!(
            replica["last_recovery"]["at_unix_ms"].as_i64().unwrap_or(0) > 0,
            "{json}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impostor_peer_or_one_without_the_development_flag_never_makes_a_replica_ready() {
    let cluster = EtcdCluster::start(3);
    let endpoints = cluster.endpoints_csv();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let keys = Keys::generate();
    let (manifest, policies) = keys.manifest(0);

    // The honest deployment: h sets the history and stays ready, but runs without
    // --allow-unattested-peers, so it refuses the unattested victim.
    let h = start_replica(
        dir,
        &endpoints,
        PREFIX,
        "h",
        &["--attestation", "none", "--peer-listen", "127.0.0.1:0"],
    )
    .await;
    let ch = connect(&h.addr).await;
    first_set(&ch, manifest.clone(), policies.clone(), &keys.owner).await;

    // The impostor: the same manifest (so the same first transition hash) under another
    // seed, on its own prefix, serving peers in development mode.
    let i = start_replica(
        dir,
        &endpoints,
        "/e2e/impostor",
        "i",
        &[
            "--attestation",
            "none",
            "--peer-listen",
            "127.0.0.1:0",
            "--allow-unattested-peers",
        ],
    )
    .await;
    let ci = connect(&i.addr).await;
    first_set(&ci, manifest, policies, &keys.owner).await;
    assert_eq!(
        ci.status().await.unwrap().latest_transition_hash,
        ch.status().await.unwrap().latest_transition_hash,
        "the impostor serves a copy of the history's transitions"
    );
    let impostor_peer = {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let set = ci.status().await.unwrap().replica_set.unwrap();
            let address = set
                .replicas
                .into_iter()
                .find(|r| r.id == "i")
                .map(|r| r.peer_address)
                .unwrap_or_default();
            if !address.is_empty() {
                break address;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the impostor's record names no peer address"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };

    // The victim asks both: h (from the board) refuses it, i sends a seed that does not
    // verify the history. It stays without keys.
    let v = start_replica(
        dir,
        &endpoints,
        PREFIX,
        "v",
        &[
            "--attestation",
            "none",
            "--allow-unattested-peers",
            "--peers",
            &impostor_peer,
        ],
    )
    .await;
    let cv = connect(&v.addr).await;
    assert!(
        eventually(WAIT, || async {
            let log = v.log();
            log.contains("REFUSED AN IMPOSTOR")
                && log.contains("this replica does not accept unattested peers")
        })
        .await,
        "{}",
        v.log()
    );
    let log = v.log();
    assert!(
        log.contains("i: the seed it sent does not verify the stored history"),
        "the impostor is named: {log}"
    );
    assert!(
        h.log().contains("refused a peer's recovery request"),
        "{}",
        h.log()
    );
    assert_eq!(state_of(&cv).await, "recovery required");
    // Another round later, still not ready.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(state_of(&cv).await, "recovery required");
    assert_eq!(recovered_by(&cv).await, None);

    // A replica without the flag does not even ask in development mode.
    let w = start_replica(
        dir,
        &endpoints,
        PREFIX,
        "w",
        &["--attestation", "none", "--peers", &impostor_peer],
    )
    .await;
    assert!(
        eventually(WAIT, || async { w.log().contains("peer recovery is off") }).await,
        "{}",
        w.log()
    );
    assert_eq!(state_of(&connect(&w.addr).await).await, "recovery required");
}

/// The attested path: replicas whose evidence is SEV-SNP from a fake configfs-tsm signed by
/// the test AMD (docs/ATTESTATION.md, "Testing without a TEE"), no development flag. A
/// replica launched with the manifest's `coordinator` policy recovers from a peer; one
/// launched with another policy (another HOST_DATA) is refused with the failed check named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attested_replicas_recover_from_each_other_and_one_launched_with_another_policy_does_not() {
    use seedward_tests::attest::{TestPlatform, measurement, snp_reference};

    let cluster = EtcdCluster::start(3);
    let endpoints = cluster.endpoints_csv();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let platform = TestPlatform::trusted();
    let anchor = dir.join("test-ark.pem");
    platform.write_anchor(&anchor).unwrap();
    let collateral = dir.join("collateral");
    platform.write_crl(&collateral).unwrap();

    let keys = Keys::generate();
    let (manifest, policies) = keys.manifest(0);
    let mut value: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    value["ReferenceValues"] = snp_reference(measurement());
    let manifest = format!("{value:#}\n").into_bytes();
    let coordinator_policy =
        *seedward_shared::manifest::Manifest::parse_and_validate(manifest.clone())
            .unwrap()
            .coordinator_policy_hash()
            .expect("the template names a coordinator policy")
            .as_bytes();

    let anchor = anchor.to_str().unwrap().to_string();
    let collateral = collateral.to_str().unwrap().to_string();
    let mut fakes = Vec::new();
    let mut start = |id: &'static str, host_data: [u8; 32]| {
        let tsm = dir.join(format!("tsm-{id}"));
        fakes.push(platform.serve(&tsm, platform.report(host_data)).unwrap());
        let tsm = tsm.to_str().unwrap().to_string();
        let (endpoints, anchor, collateral) =
            (endpoints.clone(), anchor.clone(), collateral.clone());
        async move {
            start_replica(
                dir,
                &endpoints,
                PREFIX,
                id,
                &[
                    "--attestation",
                    "snp",
                    "--tsm-dir",
                    &tsm,
                    "--test-trust-anchor",
                    &anchor,
                    "--collateral-dir",
                    &collateral,
                    "--peer-listen",
                    "127.0.0.1:0",
                ],
            )
            .await
        }
    };
    let a = start("a", coordinator_policy).await;
    let b = start("b", coordinator_policy).await;
    let c = start("c", [0x42; 32]).await;
    let (ca, cb, cc) = (
        connect(&a.addr).await,
        connect(&b.addr).await,
        connect(&c.addr).await,
    );
    first_set(&ca, manifest, policies, &keys.owner).await;
    assert!(
        eventually(WAIT, || all_ready(vec![&cb])).await,
        "b: {}\n{}",
        state_of(&cb).await,
        b.log()
    );
    assert_eq!(
        recovered_by(&cb).await,
        Some(("peer".to_string(), "a".to_string())),
        "b recovered from the only other ready replica"
    );
    assert!(
        eventually(WAIT, || async {
            let log = c.log();
            log.contains("peer recovery: refused") && log.contains("host-data")
        })
        .await,
        "c is refused with the failed check named:\n{}",
        c.log()
    );
    assert!(!a.log().contains("UNATTESTED peer"), "{}", a.log());
    assert_eq!(state_of(&cc).await, "recovery required");
}

/// Two owners recover two replicas at once while neither is ready (each draws its own mesh
/// secret): the replica ready second takes over the mesh CA of the one ready first, and
/// workloads get certificates under one mesh CA again, with no human.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_owner_recoveries_at_once_converge_on_one_mesh_ca() {
    let cluster = EtcdCluster::start(3);
    let endpoints = cluster.endpoints_csv();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let keys = Keys::generate();
    // A long pause between rounds, so that both owner recoveries land before a replica
    // asks its peer again.
    let slow = [
        "--attestation",
        "none",
        "--peer-listen",
        "127.0.0.1:0",
        "--allow-unattested-peers",
        "--peer-retry-min-ms",
        "8000",
        "--peer-retry-max-ms",
        "8000",
    ];
    let mut a = start_replica(dir, &endpoints, PREFIX, "a", &slow).await;
    let ca = connect(&a.addr).await;
    let (manifest, policies) = keys.manifest(0);
    let policy = policy_of(&manifest);
    let (_, secret) = first_set(&ca, manifest, policies, &keys.owner).await;
    a.kill();
    let a = start_replica(dir, &endpoints, PREFIX, "a", &slow).await;
    let b = start_replica(dir, &endpoints, PREFIX, "b", &slow).await;
    let (ca, cb) = (connect(&a.addr).await, connect(&b.addr).await);
    let (ra, rb) = tokio::join!(
        recover(&ca, &keys.owner, &secret),
        recover(&cb, &keys.owner, &secret)
    );
    ra.unwrap();
    rb.unwrap();
    for client in [&ca, &cb] {
        assert_eq!(recovered_by(client).await.unwrap().0, "owner");
    }
    assert!(
        eventually(WAIT, || async {
            same_mesh_ca(&[&a.addr, &b.addr], &policy).await
        })
        .await,
        "the two replicas still issue from two mesh CAs\n{}\n{}",
        a.log(),
        b.log()
    );
    assert!(
        format!("{}{}", a.log(), b.log()).contains("took over the mesh CA"),
        "the convergence is logged"
    );
}
