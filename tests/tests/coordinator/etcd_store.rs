//! The etcd storage layer against a real 3-member etcd cluster (Debian's `etcd`, started by
//! `seedward_tests::etcd::EtcdCluster`): the store conformance suite, the size limit,
//! bounded failures when etcd is gone, a SIGKILLed leader during a stream of history
//! appends, the watch of the latest pointer, and presence records.
//!
//! Timings measured here are printed (`cargo test … -- --nocapture`) and quoted in
//! docs/HA.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a panic is the failure report"
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use p384::ecdsa::SigningKey;
use seedward_etcd::{
    EtcdClient, EtcdConfig, EtcdStore, Presence, ReplicaRecord, ReplicaState, list_replicas,
};
use seedward_shared::history::testing::{SuiteOptions, store_conformance_suite_with};
use seedward_shared::history::{
    Digest, History, HistoryError, HistoryStore, LatestEvent, LatestTransition, LatestWatch,
    StoreError, StoreKey, Transition, WatchLatest,
};
use seedward_tests::etcd::EtcdCluster;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn config(endpoints: Vec<String>, timeout: Duration) -> EtcdConfig {
    let mut config = EtcdConfig::new(endpoints);
    config.request_timeout = timeout;
    config
}

fn client(rt: &tokio::runtime::Runtime, config: &EtcdConfig) -> EtcdClient {
    let _guard = rt.enter();
    EtcdClient::new(config).unwrap()
}

/// A prefix no other store in this test process uses.
fn fresh_prefix() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "/t{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn store(rt: &tokio::runtime::Runtime, client: &EtcdClient, prefix: &str) -> EtcdStore {
    EtcdStore::new(client.clone(), prefix, rt.handle().clone()).unwrap()
}

#[test]
fn the_conformance_suite_passes_on_a_real_cluster() {
    let cluster = EtcdCluster::start(3);
    let rt = runtime();
    let shared = client(&rt, &config(cluster.endpoints(), Duration::from_secs(5)));
    let started = Instant::now();
    // The second handle is a replica of its own: its own client and connections, listing
    // the members in another order.
    let mut reversed = cluster.endpoints();
    reversed.reverse();
    let second_config = config(reversed, Duration::from_secs(5));
    let second = |s: &EtcdStore| store(&rt, &client(&rt, &second_config), s.prefix());
    let limit = store(&rt, &shared, "/limit").max_value_bytes();
    assert_eq!(limit, 1_572_864 - 4096, "the documented limit");
    store_conformance_suite_with(
        || store(&rt, &shared, &fresh_prefix()),
        SuiteOptions {
            max_value_bytes: Some(limit),
            second_handle: Some(&second),
        },
    );
    println!("conformance suite on etcd: {:?}", started.elapsed());
}

#[test]
fn keys_and_values_are_the_documented_ones() {
    let cluster = EtcdCluster::start(1);
    let rt = runtime();
    let client = client(&rt, &config(cluster.endpoints(), Duration::from_secs(5)));
    let store = store(&rt, &client, "/deploy/a");
    let d = Digest::of(b"policy");
    store.set(&StoreKey::policy(&d), b"policy").unwrap();
    store
        .compare_and_swap(&StoreKey::latest(), None, b"pointer")
        .unwrap();
    let kvs = rt.block_on(client.get_prefix(b"/deploy/a/")).unwrap();
    let keys: Vec<(String, Vec<u8>)> = kvs
        .into_iter()
        .map(|kv| (String::from_utf8(kv.key).unwrap(), kv.value))
        .collect();
    assert_eq!(
        keys,
        vec![
            (
                format!("/deploy/a/history/policies/{d}"),
                b"policy".to_vec()
            ),
            (
                "/deploy/a/history/transitions/latest".to_string(),
                b"pointer".to_vec()
            ),
        ]
    );
    // Re-storing an unchanged blob makes no new etcd revision (no write at all).
    let key = format!("/deploy/a/history/policies/{d}");
    let (before, _) = rt.block_on(client.get(key.as_bytes())).unwrap();
    store.set(&StoreKey::policy(&d), b"policy").unwrap();
    let (after, _) = rt.block_on(client.get(key.as_bytes())).unwrap();
    assert_eq!(
        before.unwrap().mod_revision,
        after.unwrap().mod_revision,
        "an unchanged blob was rewritten"
    );
}

#[test]
fn an_unreachable_or_leaderless_etcd_is_an_io_error_within_the_timeout() {
    let timeout = Duration::from_millis(1500);
    let rt = runtime();
    // Nothing listens on these ports.
    let dead: Vec<String> = (0..2)
        .map(|_| {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            format!("http://127.0.0.1:{port}")
        })
        .collect();
    let nowhere = store(&rt, &client(&rt, &config(dead, timeout)), "/x");
    let started = Instant::now();
    let err = nowhere.get(&StoreKey::latest()).unwrap_err();
    let took = started.elapsed();
    let StoreError::Io { key, message } = &err else {
        panic!("expected Io, got {err:?}");
    };
    assert_eq!(key, "transitions/latest");
    assert!(
        message.contains("127.0.0.1") && message.contains("majority of the etcd members"),
        "{message}"
    );
    assert!(took < timeout + Duration::from_millis(700), "took {took:?}");
    println!("unreachable etcd: Io after {took:?}: {err}");

    // A member that is up but has lost its quorum (the other two SIGKILLed) refuses at once
    // ("no leader"): reads, writes and CAS all fail within the timeout, then work again.
    let mut cluster = EtcdCluster::start(3);
    let cut_off = store(
        &rt,
        &client(&rt, &config(vec![cluster.endpoints()[0].clone()], timeout)),
        &fresh_prefix(),
    );
    cut_off
        .set(&StoreKey::policy(&Digest::of(b"a")), b"a")
        .unwrap();
    cluster.kill(1);
    cluster.kill(2);
    for (what, result) in [
        ("get", cut_off.get(&StoreKey::latest()).map(|_| ())),
        (
            "set",
            cut_off.set(&StoreKey::policy(&Digest::of(b"b")), b"b"),
        ),
        (
            "cas",
            cut_off.compare_and_swap(&StoreKey::latest(), None, b"x"),
        ),
    ] {
        let started = Instant::now();
        assert!(
            matches!(result, Err(StoreError::Io { .. })),
            "{what} without quorum: {result:?}"
        );
        assert!(started.elapsed() < timeout + Duration::from_millis(700));
    }
    cluster.restart(1);
    cluster.restart(2);
    cluster.wait_healthy(Duration::from_secs(20));
    assert_eq!(cut_off.get(&StoreKey::policy(&Digest::of(b"b"))), Ok(None));
    cut_off
        .compare_and_swap(&StoreKey::latest(), None, b"x")
        .unwrap();
}

/// A history append whose answer may have been lost: if the store moved to exactly the
/// transition this append proposed, it was applied.
fn append_or_find(
    history: &History<&EtcdStore>,
    latest: Option<&LatestTransition>,
    manifest: &[u8],
    policy: &[u8],
    key: &SigningKey,
) -> Result<LatestTransition, HistoryError> {
    match history.append(latest, manifest, &[policy], key) {
        Ok((_, new)) => Ok(new),
        Err(e) => {
            let proposed = Transition::after(
                latest.map_or(Digest::ZERO, LatestTransition::transition_hash),
                Digest::of(manifest),
            )
            .hash();
            match history.latest_unverified() {
                Ok(Some(stored)) if stored.transition_hash() == proposed => Ok(stored),
                _ => Err(e),
            }
        }
    }
}

#[test]
fn a_sigkilled_leader_loses_no_acknowledged_append_and_writes_resume() {
    let mut cluster = EtcdCluster::start(3);
    let rt = runtime();
    let client = client(&rt, &config(cluster.endpoints(), Duration::from_secs(5)));
    let store = store(&rt, &client, &fresh_prefix());
    let history = History::new(&store);
    let key = SigningKey::from_slice(&[0x42; 48]).unwrap();
    let mut latest: Option<LatestTransition> = None;
    let mut acknowledged: Vec<Digest> = Vec::new();
    let mut errors = Vec::new();
    let mut killed_at = None;
    let mut resumed_after = None;
    let mut n = 0u32;
    while acknowledged.len() < 40 {
        if acknowledged.len() == 15 && killed_at.is_none() {
            let leader = cluster.wait_for_leader(Duration::from_secs(5)).unwrap();
            cluster.kill(leader);
            killed_at = Some(Instant::now());
            println!("SIGKILLed the leader, member {leader}");
        }
        let manifest = format!("{{\"n\":{n}}}");
        let policy = format!("policy {}", n % 3);
        match append_or_find(
            &history,
            latest.as_ref(),
            manifest.as_bytes(),
            policy.as_bytes(),
            &key,
        ) {
            Ok(new) => {
                if let (Some(at), None) = (killed_at, resumed_after) {
                    resumed_after = Some(at.elapsed());
                }
                acknowledged.push(new.transition_hash());
                latest = Some(new);
                n += 1;
            }
            Err(e) => {
                assert!(
                    matches!(e, HistoryError::Store(StoreError::Io { .. })),
                    "only I/O errors are expected while etcd elects a leader: {e}"
                );
                errors.push(e.to_string());
                // Retry the same append (a caller would re-read first; here nobody else writes).
                assert!(errors.len() < 20, "writes did not resume: {errors:#?}");
            }
        }
    }
    let resumed_after = resumed_after.unwrap();
    println!(
        "first append acknowledged {resumed_after:?} after the leader's SIGKILL; errors surfaced meanwhile: {}",
        errors.len()
    );
    assert!(
        resumed_after < Duration::from_secs(10),
        "writes resumed only after {resumed_after:?}"
    );
    // Every acknowledged append is in the chain, in order, and the chain verifies.
    let chain = history.chain(key.verifying_key()).unwrap().unwrap();
    let hashes: Vec<Digest> = chain.entries().iter().map(|e| e.transition_hash).collect();
    assert_eq!(
        hashes, acknowledged,
        "the chain must be exactly the acknowledged appends"
    );
    // And a fresh client (another replica) reads the same, through the surviving members.
    let other = EtcdStore::new(
        seedward_tests_client(&rt, &cluster),
        store.prefix(),
        rt.handle().clone(),
    )
    .unwrap();
    let other_chain = History::new(&other)
        .chain(key.verifying_key())
        .unwrap()
        .unwrap();
    assert_eq!(other_chain.latest(), chain.latest());
}

fn seedward_tests_client(rt: &tokio::runtime::Runtime, cluster: &EtcdCluster) -> EtcdClient {
    client(rt, &config(cluster.endpoints(), Duration::from_secs(5)))
}

/// The next event, or a panic after `within`.
fn next_event(
    rt: &tokio::runtime::Runtime,
    watch: &mut Box<dyn LatestWatch>,
    within: Duration,
) -> LatestEvent {
    rt.block_on(async { tokio::time::timeout(within, watch.next()).await })
        .unwrap_or_else(|_| panic!("no watch event within {within:?}"))
        .expect("the watch ended")
}

/// The next `Value` (skipping interruptions), and when it arrived.
fn next_value(
    rt: &tokio::runtime::Runtime,
    watch: &mut Box<dyn LatestWatch>,
    within: Duration,
) -> (Option<Vec<u8>>, Instant) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match next_event(rt, watch, left) {
            LatestEvent::Value(v) => return (v, Instant::now()),
            LatestEvent::Interrupted { reason } => println!("watch interrupted: {reason}"),
            other => panic!("unexpected event {other:?}"),
        }
    }
}

#[test]
fn the_watch_delivers_every_foreign_update_in_order() {
    let cluster = EtcdCluster::start(3);
    let rt = runtime();
    let prefix = fresh_prefix();
    let watcher = store(&rt, &seedward_tests_client(&rt, &cluster), &prefix);
    let writer = store(&rt, &seedward_tests_client(&rt, &cluster), &prefix);
    let mut watch = watcher.watch_latest().unwrap();
    assert_eq!(
        next_event(&rt, &mut watch, Duration::from_secs(5)),
        LatestEvent::Value(None),
        "the first event is the current value"
    );
    let mut latencies = Vec::new();
    let mut old: Option<Vec<u8>> = None;
    for i in 0..10 {
        let new = format!("latest {i}").into_bytes();
        // From the start of the write: the event may arrive before the writer's answer.
        let writing = Instant::now();
        writer
            .compare_and_swap(&StoreKey::latest(), old.as_deref(), &new)
            .unwrap();
        // A bound on waiting, not a latency target: the latency is printed and reported in
        // docs/HA.md.
        let (value, seen) = next_value(&rt, &mut watch, Duration::from_secs(10));
        assert_eq!(value.as_deref(), Some(new.as_slice()), "update {i}");
        latencies.push(seen - writing);
        old = Some(new);
    }
    latencies.sort();
    println!(
        "foreign update → watcher: median {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    // Rewriting the same bytes is not a new value.
    let same = old.clone().unwrap();
    writer
        .compare_and_swap(&StoreKey::latest(), Some(&same), &same)
        .unwrap();
    writer
        .compare_and_swap(&StoreKey::latest(), Some(&same), b"after")
        .unwrap();
    assert_eq!(
        next_value(&rt, &mut watch, Duration::from_secs(1))
            .0
            .as_deref(),
        Some(&b"after"[..])
    );
    // Closing the client ends the watch cleanly.
    watcher.client().close();
    let ended =
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(2), watch.next()).await });
    assert_eq!(ended, Ok(None), "the watch must end when the client closes");
}

#[test]
fn the_watch_survives_a_leader_kill_and_a_compaction() {
    let mut cluster = EtcdCluster::start(3);
    let rt = runtime();
    let prefix = fresh_prefix();
    let leader = cluster.wait_for_leader(Duration::from_secs(5)).unwrap();
    // The watcher talks to the leader first, so killing it breaks the watch stream.
    let mut endpoints = cluster.endpoints();
    endpoints.rotate_left(leader);
    let watcher = store(
        &rt,
        &client(&rt, &config(endpoints, Duration::from_secs(5))),
        &prefix,
    );
    let writer = store(&rt, &seedward_tests_client(&rt, &cluster), &prefix);
    writer
        .compare_and_swap(&StoreKey::latest(), None, b"v1")
        .unwrap();
    let mut watch = watcher.watch_latest().unwrap();
    assert_eq!(
        next_value(&rt, &mut watch, Duration::from_secs(5))
            .0
            .as_deref(),
        Some(&b"v1"[..])
    );

    cluster.kill(leader);
    let killed = Instant::now();
    assert!(
        matches!(
            next_event(&rt, &mut watch, Duration::from_secs(10)),
            LatestEvent::Interrupted { .. }
        ),
        "a broken watch says so"
    );
    // The writer's CAS waits out the election inside its deadline.
    let writing = Instant::now();
    writer
        .compare_and_swap(&StoreKey::latest(), Some(b"v1"), b"v2")
        .unwrap();
    println!(
        "a write started {:?} after the leader's SIGKILL was acknowledged after {:?}",
        writing - killed,
        writing.elapsed()
    );
    let (value, seen) = next_value(&rt, &mut watch, Duration::from_secs(5));
    let value = if value.as_deref() == Some(b"v1") {
        // The "back" signal came before the write: the change follows.
        next_value(&rt, &mut watch, Duration::from_secs(5)).0
    } else {
        value
    };
    assert_eq!(value.as_deref(), Some(&b"v2"[..]));
    println!(
        "after the leader's SIGKILL: v2 reached the watcher {:?} after its write started",
        seen - writing
    );
    let writing = Instant::now();
    writer
        .compare_and_swap(&StoreKey::latest(), Some(b"v2"), b"v3")
        .unwrap();
    let (value, seen) = next_value(&rt, &mut watch, Duration::from_secs(1));
    assert_eq!(value.as_deref(), Some(&b"v3"[..]));
    println!("after failover: update → watcher {:?}", seen - writing);

    // A watcher that only knows one member, which dies; while it is down the pointer moves
    // twice and etcd compacts those revisions away. Back, the watch re-reads and delivers
    // the newest value.
    cluster.restart(leader);
    cluster.wait_healthy(Duration::from_secs(20));
    let lonely_member = (leader + 1) % 3;
    let lonely = store(
        &rt,
        &client(
            &rt,
            &config(
                vec![cluster.endpoints()[lonely_member].clone()],
                Duration::from_secs(2),
            ),
        ),
        &prefix,
    );
    let mut lonely_watch = lonely.watch_latest().unwrap();
    assert_eq!(
        next_value(&rt, &mut lonely_watch, Duration::from_secs(5))
            .0
            .as_deref(),
        Some(&b"v3"[..])
    );
    cluster.kill(lonely_member);
    assert!(matches!(
        next_event(&rt, &mut lonely_watch, Duration::from_secs(10)),
        LatestEvent::Interrupted { .. }
    ));
    writer
        .compare_and_swap(&StoreKey::latest(), Some(b"v3"), b"v4")
        .unwrap();
    writer
        .compare_and_swap(&StoreKey::latest(), Some(b"v4"), b"v5")
        .unwrap();
    let (kv, revision) = rt
        .block_on(writer.client().get(writer.latest_key().as_bytes()))
        .unwrap();
    assert!(kv.is_some());
    rt.block_on(writer.client().compact(revision)).unwrap();
    cluster.restart(lonely_member);
    let (value, _) = next_value(&rt, &mut lonely_watch, Duration::from_secs(20));
    assert_eq!(
        value.as_deref(),
        Some(&b"v5"[..]),
        "the newest value after compaction"
    );
}

fn record(id: &str, state: ReplicaState) -> ReplicaRecord {
    ReplicaRecord {
        id: id.into(),
        address: format!("{id}.example:1313"),
        peer_address: None,
        state,
        generation: 1,
        latest: Some("ab".repeat(32)),
        evidence_kind: "none".into(),
        since_unix_ms: 1,
        last_error: None,
        last_recovery: None,
        mesh_ca: None,
    }
}

#[test]
fn presence_records_appear_update_survive_a_leader_kill_and_expire() {
    let mut cluster = EtcdCluster::start(3);
    let rt = runtime();
    let prefix = fresh_prefix();
    let ttl = Duration::from_secs(2);
    let reader = seedward_tests_client(&rt, &cluster);
    let ids = |rt: &tokio::runtime::Runtime| -> Vec<(String, ReplicaState)> {
        rt.block_on(list_replicas(&reader, &prefix))
            .unwrap()
            .into_iter()
            .map(|r| (r.id, r.state))
            .collect()
    };
    let a = rt
        .block_on(Presence::register(
            &seedward_tests_client(&rt, &cluster),
            &prefix,
            record("a", ReplicaState::RecoveryRequired),
            ttl,
        ))
        .unwrap();
    let b = rt
        .block_on(Presence::register(
            &seedward_tests_client(&rt, &cluster),
            &prefix,
            record("b", ReplicaState::Ready),
            ttl,
        ))
        .unwrap();
    assert_eq!(
        ids(&rt),
        [
            ("a".into(), ReplicaState::RecoveryRequired),
            ("b".into(), ReplicaState::Ready)
        ]
    );
    rt.block_on(a.update(record("a", ReplicaState::Ready)))
        .unwrap();
    assert_eq!(ids(&rt)[0], ("a".into(), ReplicaState::Ready));
    assert!(
        rt.block_on(a.update(record("not-a", ReplicaState::Ready)))
            .is_err()
    );

    // Renewed: still there after three TTLs, across a leader's SIGKILL.
    let leader = cluster.wait_for_leader(Duration::from_secs(5)).unwrap();
    cluster.kill(leader);
    std::thread::sleep(ttl * 3);
    assert_eq!(ids(&rt).len(), 2, "renewed records outlive their TTL");

    // A clean stop deletes the record at once.
    rt.block_on(b.shutdown()).unwrap();
    assert_eq!(ids(&rt), [("a".into(), ReplicaState::Ready)]);

    // A crashed replica (no more renewals) disappears within its TTL (plus etcd's expiry
    // check, every 500 ms).
    drop(a);
    let dropped = Instant::now();
    while !ids(&rt).is_empty() {
        assert!(
            dropped.elapsed() < ttl + Duration::from_secs(3),
            "a dead replica's record outlived its lease"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "a dead replica's record disappeared {:?} after its last renewal stopped (TTL {ttl:?})",
        dropped.elapsed()
    );
}

/// A CA, and leaf certificates it issued (valid for 127.0.0.1), as PEM files in `dir`.
struct Pki {
    ca: std::path::PathBuf,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Pki {
    fn new(dir: &std::path::Path, name: &str) -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let cert = params.self_signed(&key).unwrap();
        let ca = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&ca, cert.pem()).unwrap();
        Self {
            ca,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// `(cert.pem, key.pem)` of a leaf for 127.0.0.1, usable as server and client.
    fn leaf(&self, dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_path, key_path) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}-key.pem")),
        );
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }
}

#[test]
fn mutual_tls_to_etcd_works_and_wrong_credentials_are_refused() {
    use seedward_etcd::{ClientIdentity, EtcdTls};
    let pki_dir = tempfile::tempdir().unwrap();
    let dir = pki_dir.path();
    let pki = Pki::new(dir, "etcd");
    let (server_cert, server_key) = pki.leaf(dir, "server");
    let (client_cert, client_key) = pki.leaf(dir, "client");
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let cluster = EtcdCluster::start_in(
        1,
        &[
            "--cert-file",
            &path(&server_cert),
            "--key-file",
            &path(&server_key),
            "--trusted-ca-file",
            &path(&pki.ca),
            "--client-cert-auth",
        ],
        "https",
    );
    assert!(cluster.endpoints()[0].starts_with("https://"));
    let rt = runtime();
    let read = |p: &std::path::Path| std::fs::read(p).unwrap();
    let with_tls = |tls: EtcdTls| {
        let mut config = config(cluster.endpoints(), Duration::from_millis(1500));
        config.tls = Some(tls);
        store(&rt, &client(&rt, &config), "/tls")
    };

    let good = with_tls(EtcdTls {
        ca_pem: read(&pki.ca),
        client: Some(ClientIdentity {
            cert_pem: read(&client_cert),
            key_pem: read(&client_key),
        }),
    });
    good.compare_and_swap(&StoreKey::latest(), None, b"over mTLS")
        .unwrap();
    assert_eq!(
        good.get(&StoreKey::latest()),
        Ok(Some(b"over mTLS".to_vec()))
    );

    // No client certificate: etcd (--client-cert-auth) refuses the handshake.
    let anonymous = with_tls(EtcdTls {
        ca_pem: read(&pki.ca),
        client: None,
    });
    let started = Instant::now();
    let err = anonymous.get(&StoreKey::latest()).unwrap_err();
    let StoreError::Io { message, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("TLS to etcd") && message.contains("--etcd-cert"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "a TLS failure is not retried"
    );
    println!("no client certificate: {err}");

    // A CA that did not sign etcd's certificate: this side refuses the handshake.
    let other = Pki::new(dir, "other");
    let distrusting = with_tls(EtcdTls {
        ca_pem: read(&other.ca),
        client: Some(ClientIdentity {
            cert_pem: read(&client_cert),
            key_pem: read(&client_key),
        }),
    });
    let err = distrusting.get(&StoreKey::latest()).unwrap_err();
    let StoreError::Io { message, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("UnknownIssuer") && message.contains("--etcd-ca"),
        "{message}"
    );
    println!("wrong CA: {err}");
}
