//! Crash safety of the real daemon on a real filesystem: a stream of signed updates, SIGKILL at
//! a random moment, restart, recover, verify — over and over on the same state directory.
//!
//! After every crash the recovered history must verify client-side (key derived from the
//! seed), hold every acknowledged update byte for byte, and end at the last acknowledged
//! update or at the one that was in flight when the process died: never older than an
//! acknowledged update, never torn.
//!
//! Default (CI-sized): 100 kills (about a minute on two cores). The long run of
//! docs/RELIABILITY.md:
//! `SEEDWARD_CRASH_ITERATIONS=1000 cargo test -p seedward-tests --test coordinator -- crash:: --nocapture`
//! (an explicit iteration count also lifts the time cap).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is the failure report"
)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;
use rand_core::{OsRng, RngCore};
use seedward_shared::history::Digest;

const DEFAULT_ITERATIONS: u64 = 100;
/// Without an explicit iteration count, stop starting new iterations after this long.
/// Only a guard against a machine far slower than CI: it is not a speed assertion, and it
/// still requires 20 iterations.
const TIME_CAP: Duration = Duration::from_secs(150);

/// What the client knows: the acknowledged history and the update in flight, if any.
#[derive(Debug, Clone)]
struct Progress {
    acked: Digest,
    acked_manifests: Vec<Vec<u8>>,
    in_flight: Option<(Digest, Vec<u8>)>,
    next_n: u64,
    acked_this_round: u64,
    /// How long the last acknowledged update took, in milliseconds.
    last_update_ms: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_updates_never_loses_or_tears_an_acknowledged_update() {
    let explicit = std::env::var("SEEDWARD_CRASH_ITERATIONS").ok().map(|v| {
        v.parse::<u64>()
            .expect("SEEDWARD_CRASH_ITERATIONS must be a number")
    });
    let iterations = explicit.unwrap_or(DEFAULT_ITERATIONS);

    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let keys = Arc::new(Keys::generate());
    let mut process = start(&state).await;
    let mut client = connect(&process.addr).await;
    let (manifest, policies) = keys.manifest(0);
    let (first, secret) = first_set(&client, manifest.clone(), policies, &keys.owner).await;
    let progress = Arc::new(Mutex::new(Progress {
        acked: digest(&first.transition_hash),
        acked_manifests: vec![manifest],
        in_flight: None,
        next_n: 1,
        acked_this_round: 0,
        last_update_ms: 50,
    }));

    let started = Instant::now();
    let (mut done, mut kills, mut landed_unacked, mut acked_total) = (0u64, 0u64, 0u64, 0u64);
    let mut max_generation = 1u64;
    let mut slowest_notice = Duration::ZERO;
    while done < iterations {
        if explicit.is_none() && started.elapsed() > TIME_CAP {
            break;
        }
        // A writer streams signed, atomic updates until the process dies under it.
        let writer = {
            let client = client.clone();
            let keys = keys.clone();
            let progress = progress.clone();
            tokio::spawn(async move {
                loop {
                    let (previous, n) = {
                        let p = progress.lock().unwrap();
                        (p.acked, p.next_n)
                    };
                    let (manifest, policies) = keys.manifest(n);
                    let proposed = proposed(previous, &manifest);
                    {
                        let mut p = progress.lock().unwrap();
                        p.in_flight = Some((proposed, manifest.clone()));
                        p.next_n += 1;
                    }
                    let request =
                        signed_update(&keys.workload, manifest.clone(), policies, previous, true);
                    let sent = Instant::now();
                    match client.set_manifest(request).await {
                        Ok(response) => {
                            assert_eq!(digest(&response.transition_hash), proposed);
                            let mut p = progress.lock().unwrap();
                            p.last_update_ms = sent.elapsed().as_millis() as u64;
                            p.acked = proposed;
                            p.acked_manifests.push(manifest);
                            p.in_flight = None;
                            p.acked_this_round += 1;
                        }
                        // The process died (connection reset or refused): a transport
                        // error, never a refusal by the Coordinator.
                        Err(status) => {
                            assert!(
                                seedward_tests::error_reason(&status).is_none(),
                                "the Coordinator refused an update: {}",
                                describe(&status)
                            );
                            return;
                        }
                    }
                }
            })
        };
        // On every other iteration the kill waits for this round's first acknowledged update,
        // then lands uniformly within 1.5× the time an update last took: anywhere inside the
        // next update (request in flight, blobs half-written, pointer swapped, answer not
        // yet sent) and sometimes between updates. The other iterations kill 0–50 ms into the
        // round, mostly around the first update.
        let window_ms = if done % 2 == 1 {
            let deadline = Instant::now() + Duration::from_secs(10);
            while progress.lock().unwrap().acked_this_round == 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            (progress.lock().unwrap().last_update_ms * 3 / 2).max(1)
        } else {
            51
        };
        let delay = Duration::from_millis(u64::from(OsRng.next_u32()) % window_ms);
        tokio::time::sleep(delay).await;
        process.kill();
        kills += 1;
        // The client's own request timeout is 30 s; a dead server must be noticed sooner.
        let killed = Instant::now();
        tokio::time::timeout(Duration::from_secs(40), writer)
            .await
            .expect("the writer noticed the crash")
            .unwrap();
        slowest_notice = slowest_notice.max(killed.elapsed());

        // Restart on the same directory and recover with the owner.
        process = start(&state).await;
        client = connect(&process.addr).await;
        let status = client.status().await.unwrap();
        assert_eq!(
            state_name(status.state),
            "recovery required",
            "iteration {done}"
        );
        let recovered = recover(&client, &keys.owner, &secret)
            .await
            .unwrap_or_else(|s| panic!("iteration {done}: recovery failed: {}", describe(&s)));
        let latest = digest(&recovered.latest_transition_hash);

        let expected = {
            let mut p = progress.lock().unwrap();
            acked_total += p.acked_this_round;
            p.acked_this_round = 0;
            if latest != p.acked {
                match p.in_flight.take() {
                    Some((hash, manifest)) if hash == latest => {
                        // Persisted, but the acknowledgement died with the process.
                        p.acked = hash;
                        p.acked_manifests.push(manifest);
                        landed_unacked += 1;
                    }
                    other => panic!(
                        "iteration {done}: recovered latest {latest} is neither the acknowledged {} nor the in-flight {:?}",
                        p.acked,
                        other.map(|(h, _)| h)
                    ),
                }
            }
            p.in_flight = None;
            p.acked_manifests.clone()
        };

        let history = client.manifests().await.unwrap();
        assert!(history.verified, "iteration {done}");
        assert_eq!(
            history.manifests, expected,
            "iteration {done}: the history differs from what was acknowledged"
        );
        let audited = audit(history, &secret);
        assert!(
            audited.all_verified(),
            "iteration {done}: {:?}",
            audited.failure
        );
        assert_eq!(recovered.generation, expected.len() as u64);
        max_generation = max_generation.max(recovered.generation);
        done += 1;
    }
    eprintln!(
        "crash loop: {done} iterations, {kills} kills, {acked_total} acknowledged updates, \
         {landed_unacked} unacknowledged updates that landed, max generation {max_generation}, \
         slowest notice of a crash by the client {slowest_notice:.1?}, {:.1?}",
        started.elapsed()
    );
    assert!(
        done >= iterations.min(20),
        "only {done} iterations ran in the time cap"
    );
    assert!(max_generation > 1, "no update was ever acknowledged");
}
