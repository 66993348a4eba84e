//! Races against the real daemon: concurrent atomic updates (exactly one wins, the others get
//! a typed STALE_LATEST naming the winner), reads during a stream of writes (always a whole,
//! verifying history), and several daemons on one state directory (they adopt each other's
//! descendants, go stale on a foreign history, and never corrupt the store).
//! Contrast's `userapi_test.go` store races, against real processes and a real filesystem.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is the failure report"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cli_support::{Cli, p, public_hex, write_template};

use crate::support::*;
use seedward_proto::v1 as pb;
use seedward_shared::history::Digest;
use seedward_tests::{CoordinatorProcess, error_reason};
use tonic::Code;

fn latest_metadata(status: &tonic::Status) -> Option<String> {
    status
        .metadata()
        .get("seedward-latest-transition")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Sends all requests at once, each on its own connection; returns the results in order.
async fn concurrently(
    addrs: &[String],
    requests: Vec<pb::SetManifestRequest>,
) -> Vec<Result<pb::SetManifestResponse, tonic::Status>> {
    let mut clients = Vec::new();
    for i in 0..requests.len() {
        clients.push(connect(&addrs[i % addrs.len()]).await);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(requests.len()));
    let tasks: Vec<_> = requests
        .into_iter()
        .zip(clients)
        .map(|(request, client)| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                client.set_manifest(request).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

/// Exactly one success; every other result is STALE_LATEST naming the winner. Returns it.
#[track_caller]
fn one_winner(
    results: &[Result<pb::SetManifestResponse, tonic::Status>],
) -> pb::SetManifestResponse {
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one update must win: {results:?}");
    let winner = winners[0].clone();
    let hex = digest(&winner.transition_hash).to_hex();
    for result in results {
        if let Err(status) = result {
            assert_eq!(
                (status.code(), error_reason(status)),
                (Code::FailedPrecondition, Some("STALE_LATEST")),
                "{}",
                describe(status)
            );
            assert_eq!(latest_metadata(status).as_deref(), Some(hex.as_str()));
        }
    }
    winner
}

/// Rounds of ten racing updates, each round against the latest the previous one left.
/// CI runs 5 rounds; `SEEDWARD_RACE_ROUNDS=200` is the long run of docs/RELIABILITY.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_atomic_updates_exactly_one_wins() {
    let rounds: u64 = std::env::var("SEEDWARD_RACE_ROUNDS")
        .map(|v| v.parse().expect("SEEDWARD_RACE_ROUNDS must be a number"))
        .unwrap_or(5);
    let tmp = tempfile::tempdir().unwrap();
    let d = Deployment::new(&tmp.path().join("state")).await;
    let mut latest = d.latest();
    for round in 0..rounds {
        let requests = (1..=10)
            .map(|n| {
                let (m, p) = d.keys.manifest(round * 100 + n);
                signed_update(&d.keys.workload, m, p, latest, true)
            })
            .collect();
        let results = concurrently(std::slice::from_ref(&d.process.addr), requests).await;
        let winner = one_winner(&results);
        assert_eq!(winner.generation, round + 2, "round {round}");
        let status = d.client.status().await.unwrap();
        assert_eq!(
            (status.generation, status.latest_transition_hash),
            (round + 2, winner.transition_hash.clone()),
            "round {round}"
        );
        latest = digest(&winner.transition_hash);
    }
    let history = d.client.manifests().await.unwrap();
    assert_eq!(history.manifests.len() as u64, rounds + 1);
    assert!(audit(history, &d.secret).all_verified());
    eprintln!(
        "{rounds} rounds of 10 racing updates: exactly one winner each, {} refused with STALE_LATEST naming it",
        rounds * 9
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_during_a_stream_of_updates_always_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Arc::new(Deployment::new(&tmp.path().join("state")).await);
    let done = Arc::new(AtomicBool::new(false));
    const UPDATES: u64 = 25;

    let writer = {
        let d = d.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut latest = d.latest();
            for n in 1..=UPDATES {
                let response = update(&d.client, &d.keys, n, latest).await.unwrap();
                latest = digest(&response.transition_hash);
            }
            done.store(true, Ordering::SeqCst);
            latest
        })
    };
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let d = d.clone();
            let done = done.clone();
            tokio::spawn(async move {
                let client = connect(&d.process.addr).await;
                let mut reads = 0u64;
                let mut last_generation = 0;
                while !done.load(Ordering::SeqCst) || reads == 0 {
                    let history = client.manifests().await.unwrap();
                    assert!(history.verified);
                    let audited = audit(history, &d.secret);
                    assert!(audited.all_verified(), "{:?}", audited.failure);
                    assert!(
                        audited.generation() >= last_generation,
                        "a read went back in time"
                    );
                    last_generation = audited.generation();
                    reads += 1;
                }
                (reads, last_generation)
            })
        })
        .collect();
    let final_latest = writer.await.unwrap();
    let mut total = 0;
    for reader in readers {
        let (reads, _) = reader.await.unwrap();
        total += reads;
    }
    eprintln!("{total} concurrent reads during {UPDATES} updates, all verified");
    let history = d.client.manifests().await.unwrap();
    let audited = audit(history, &d.secret);
    assert!(audited.all_verified());
    assert_eq!(audited.generation(), UPDATES + 1);
    assert_eq!(audited.latest.transition_hash(), final_latest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_daemons_on_one_state_dir_adopt_each_other_and_never_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let a = Deployment::new(&state).await;
    let b_process = start(&state).await;
    let b = connect(&b_process.addr).await;

    // B finds A's history but holds no keys.
    assert_eq!(
        state_name(b.status().await.unwrap().state),
        "recovery required"
    );
    recover(&b, &a.keys.owner, &a.secret).await.unwrap();
    assert_eq!(b.status().await.unwrap().state, READY);

    // An update through A: B adopts it (a descendant signed by the same key).
    let l2 = digest(
        &update(&a.client, &a.keys, 1, a.latest())
            .await
            .unwrap()
            .transition_hash,
    );
    let status = b.status().await.unwrap();
    assert_eq!((status.state, status.generation), (READY, 2));
    assert_eq!(digest(&status.latest_transition_hash), l2);
    // And B builds on it; A adopts.
    let l3 = digest(&update(&b, &a.keys, 2, l2).await.unwrap().transition_hash);
    let status = a.client.status().await.unwrap();
    assert_eq!((status.state, status.generation), (READY, 3));
    assert_eq!(digest(&status.latest_transition_hash), l3);
    // A's own stale view is refused with the current latest, not silently forked.
    let refused = update(&a.client, &a.keys, 99, l2).await;
    let refused = assert_refused(refused, Code::FailedPrecondition, "STALE_LATEST");
    assert_eq!(latest_metadata(&refused), Some(l3.to_hex()));

    // Concurrent updates through both daemons against the same latest: the store's
    // compare-and-swap (flock across processes) lets exactly one through, every round.
    let addrs = [a.process.addr.clone(), b_process.addr.clone()];
    let mut latest = l3;
    let mut generation = 3;
    for round in 0..6u64 {
        let requests = (0..4u64)
            .map(|i| {
                let (m, p) = a.keys.manifest(100 + round * 10 + i);
                signed_update(&a.keys.workload, m, p, latest, true)
            })
            .collect();
        let results = concurrently(&addrs, requests).await;
        let winner = one_winner(&results);
        generation += 1;
        assert_eq!(winner.generation, generation, "round {round}");
        latest = digest(&winner.transition_hash);
    }

    // Both agree, and the history verifies from either side.
    for client in [&a.client, &b] {
        let status = client.status().await.unwrap();
        assert_eq!((status.state, status.generation), (READY, generation));
        assert_eq!(digest(&status.latest_transition_hash), latest);
        let history = client.manifests().await.unwrap();
        assert!(history.verified);
        let audited = audit(history, &a.secret);
        assert!(audited.all_verified(), "{:?}", audited.failure);
        assert_eq!(audited.generation(), generation);
    }

    // Restarted on the store they wrote, a third daemon recovers the same history.
    let c_process = start(&state).await;
    let c = connect(&c_process.addr).await;
    let recovered = recover(&c, &a.keys.owner, &a.secret).await.unwrap();
    assert_eq!(
        (
            digest(&recovered.latest_transition_hash),
            recovered.generation
        ),
        (latest, generation)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_first_sets_on_a_shared_store_one_wins_the_rest_recover() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let mut processes = Vec::new();
    for _ in 0..3 {
        processes.push(start(&state).await);
    }
    let addrs: Vec<String> = processes.iter().map(|p| p.addr.clone()).collect();
    let keys: Vec<Keys> = (0..3).map(|_| Keys::generate()).collect();
    let requests = keys
        .iter()
        .map(|k| {
            let (manifest, policies) = k.manifest(0);
            pb::SetManifestRequest {
                manifest,
                policies,
                previous_transition_hash: Some(Digest::ZERO.as_bytes().to_vec()),
                signature: vec![],
            }
        })
        .collect();
    // Send request i to daemon i.
    let results = concurrently(&addrs, requests).await;
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one first set must win: {results:?}"
    );
    let winner = winners[0].clone();
    let index = results.iter().position(Result::is_ok).unwrap();
    for status in results.iter().filter_map(|r| r.as_ref().err()) {
        // A loser that raced to the compare-and-swap learns the winner's hash; one that
        // started after the winner had committed already sees a history it has no keys for.
        match error_reason(status) {
            Some("STALE_LATEST") => assert_eq!(
                latest_metadata(status),
                Some(digest(&winner.transition_hash).to_hex())
            ),
            Some("RECOVERY_REQUIRED") => {}
            _ => panic!("unexpected: {}", describe(status)),
        }
        assert_eq!(status.code(), Code::FailedPrecondition);
    }
    let document =
        seedward::ops::document_from_proto(winner.seed_share_document.clone().unwrap()).unwrap();
    let (seed, salt) = document.open_with(&keys[index].owner).unwrap();
    let secret = Secret { seed, salt };

    for (i, addr) in addrs.iter().enumerate() {
        let client = connect(addr).await;
        let status = client.status().await.unwrap();
        if i == index {
            assert_eq!(status.state, READY);
            continue;
        }
        // The losers hold keys for a history that never became the latest: they must not be
        // ready. They see the winner's history and recover into it.
        assert_eq!(state_name(status.state), "recovery required", "daemon {i}");
        assert_eq!(status.latest_transition_hash, winner.transition_hash);
        let recovered = recover(&client, &keys[index].owner, &secret).await.unwrap();
        assert_eq!(recovered.latest_transition_hash, winner.transition_hash);
        let history = client.manifests().await.unwrap();
        assert!(history.verified);
        assert!(audit(history, &secret).all_verified());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_foreign_history_makes_a_ready_daemon_stale() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let a = Deployment::new(&state).await;
    // Another deployment, elsewhere; its history replaces ours under the running daemon
    // (e.g. a shared store restored from the wrong backup).
    let other = Deployment::new(&tmp.path().join("other")).await;
    let other_latest = other.latest();
    std::fs::remove_dir_all(state.join("history")).unwrap();
    copy_dir(&other.state_dir.join("history"), &state.join("history"));

    let status = a.client.status().await.unwrap();
    assert_eq!(state_name(status.state), "stale");
    assert_eq!(digest(&status.latest_transition_hash), other_latest);
    assert!(
        status.root_ca_cert.is_empty(),
        "a stale daemon has dropped its keys"
    );
    assert!(status.challenge.is_some());
    let history = a.client.manifests().await.unwrap();
    assert!(!history.verified);
    assert!(audit(history.clone(), &other.secret).all_verified());
    assert!(
        !audit(history, &a.secret).all_verified(),
        "our key does not verify the foreign history"
    );
    // Stale refuses updates, and our own seed does not recover it.
    let refused = update(&a.client, &a.keys, 1, a.latest()).await;
    assert_refused(refused, Code::FailedPrecondition, "STALE");
    let refused = recover(&a.client, &a.keys.owner, &a.secret).await;
    assert_refused(refused, Code::PermissionDenied, "UNKNOWN_OWNER");
    // The foreign history's owner recovers it.
    let recovered = recover(&a.client, &other.keys.owner, &other.secret)
        .await
        .unwrap();
    assert_eq!(digest(&recovered.latest_transition_hash), other_latest);
    assert_eq!(a.client.status().await.unwrap().state, READY);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Issue #15 item 1: anyone could burn the recovery challenge an owner was about to use —
/// `GetStatus` handed everyone the same challenge and `Recover` deleted it before checking
/// the envelope; a loop of `GetStatus` + `Recover(garbage)` made 4 of 5 real `seedward
/// recover` runs fail with CHALLENGE_INVALID, and wrote an INFO line per burn.
///
/// Here two attackers on the owner's own address loop `GetStatus` + `Recover` with a garbage
/// envelope claiming the real owner's key (the most a network attacker can do), while the
/// real `seedward recover` runs, `SEEDWARD_BURN_ROUNDS` times (default 3) across restarts.
/// Every real recovery succeeds, and the daemon's log stays bounded: one line per address
/// and RPC, then a summary every 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_recovers_cannot_burn_an_owners_challenge() {
    let rounds: usize = std::env::var("SEEDWARD_BURN_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let start = || CoordinatorProcess::start_logged(&state, "info", &[]).unwrap();
    let mut process = start();
    let cli = Cli::new(tmp.path(), &tmp.path().join("ws"), &process.addr);
    cli.run(&["keys", "generate", "--kind", "owner"]).ok();
    cli.run(&["keys", "generate", "--kind", "workload"]).ok();
    let owner_hex = public_hex(&cli, "seedshare-owner");
    let (manifest, policies) = write_template(
        &tmp.path().join("input"),
        &owner_hex,
        &public_hex(&cli, "workload-owner"),
    );
    let mut args = vec![
        "--yes",
        "--allow-unattested",
        "set",
        "--manifest",
        p(&manifest),
    ];
    for policy in &policies {
        args.extend(["--policy", p(policy)]);
    }
    cli.run(&args).ok();
    let owner = hex::decode(&owner_hex).unwrap();

    let mut attacks = 0u64;
    for round in 0..rounds {
        process.kill();
        process = start();
        let cli = Cli::new(tmp.path(), &tmp.path().join("ws"), &process.addr);
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let mut attackers = Vec::new();
        for _ in 0..2 {
            let (addr, stop, sent, owner) = (
                process.addr.clone(),
                stop.clone(),
                sent.clone(),
                owner.clone(),
            );
            attackers.push(tokio::spawn(async move {
                let client = connect(&addr).await;
                while !stop.load(Ordering::Relaxed) {
                    let Ok(status) = client.status().await else {
                        continue;
                    };
                    let Some(challenge) = status.challenge else {
                        // Recovered: keep sending, as an attacker would.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    };
                    let refused = client
                        .recover(pb::RecoverRequest {
                            challenge_id: challenge.id,
                            owner_public_key: owner.clone(),
                            encapsulated_key: random_bytes(32),
                            ciphertext: random_bytes(128),
                        })
                        .await
                        .expect_err("garbage never recovers");
                    // ALREADY_READY: the owner recovered since this GetStatus.
                    // CHALLENGE_INVALID: the owner's envelope used the challenge (one per
                    // address, and the owner is on this one) and the owner's recovery is
                    // still verifying the chain, without the state lock.
                    assert!(
                        matches!(
                            error_reason(&refused),
                            Some("ENVELOPE_REJECTED" | "ALREADY_READY" | "CHALLENGE_INVALID")
                        ),
                        "{refused:?}"
                    );
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        // The attack is under way before the owner starts.
        assert!(
            eventually(Duration::from_secs(30), || {
                let enough = sent.load(Ordering::Relaxed) >= 10;
                async move { enough }
            })
            .await
        );
        let run = tokio::task::spawn_blocking(move || {
            cli.run(&["--yes", "--allow-unattested", "recover"])
        })
        .await
        .unwrap();
        assert_eq!(
            run.code, 0,
            "round {round}: the real recovery failed under attack\nstdout:\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        );
        // On the last round, keep attacking until a 10 s window has been summarised.
        if round + 1 == rounds {
            assert!(
                eventually(Duration::from_secs(30), || {
                    let seen = process
                        .log()
                        .contains("refused Recover calls from 127.0.0.1 in the last 10 s");
                    async move { seen }
                })
                .await,
                "no summary line:\n{}",
                process.log()
            );
        }
        stop.store(true, Ordering::Relaxed);
        for attacker in attackers {
            attacker.await.unwrap();
        }
        let calls = sent.load(Ordering::Relaxed);
        attacks += calls;
        let log = process.log();
        let refusal_lines = log.lines().filter(|l| l.contains("refused")).count() as u64;
        // One "request refused" per (address, RPC) and window, plus one summary each.
        let windows = started.elapsed().as_secs() / 10 + 1;
        assert!(
            refusal_lines <= 2 * 2 * windows,
            "{refusal_lines} refusal lines for {calls} refused calls in {} windows:\n{log}",
            windows
        );
        assert!(
            log.lines()
                .any(|l| l.contains("request refused") && l.contains("127.0.0.1")),
            "refusals name the peer:\n{log}"
        );
        println!(
            "round {round}: recovered under {calls} garbage recoveries in {:.1} s; {refusal_lines} refusal log lines, {} log bytes",
            started.elapsed().as_secs_f64(),
            log.len()
        );
    }
    println!("{rounds} real recoveries, all succeeded, under {attacks} garbage recoveries");
}
