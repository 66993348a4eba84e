//! Load on the real daemon over TLS on loopback: many concurrent clients read status and
//! history while a writer streams signed updates and a third party keeps sending oversized
//! requests. Nothing may fail, every history read must verify and never go back in time,
//! oversized requests are refused without disturbing anyone, and the figures are printed.
//!
//! Default (CI-sized): 100 clients for 5 s. Longer runs, as in docs/RELIABILITY.md:
//! `SEEDWARD_LOAD_SECS=60 SEEDWARD_LOAD_CLIENTS=100 cargo test --release -p seedward-tests
//!  --test coordinator -- load:: --nocapture`
//!
//! This measures; it asserts no speed (figures belong in docs/, not in assertions).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is the failure report"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::support::*;
use seedward_proto::v1 as pb;
use seedward_tests::error_reason;
use tonic::Code;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a number"))
        })
        .unwrap_or(default)
}

/// Latencies of one kind of call.
#[derive(Default)]
struct Samples(Vec<Duration>);

impl Samples {
    fn line(&mut self, what: &str, elapsed: Duration) -> String {
        self.0.sort_unstable();
        let n = self.0.len();
        if n == 0 {
            return format!("{what:<13} no samples");
        }
        let at = |q: f64| self.0[((n as f64 * q) as usize).min(n - 1)];
        format!(
            "{what:<13} {n:>8} calls {:>9.0}/s   p50 {:>8.2?}   p99 {:>8.2?}   max {:>8.2?}",
            n as f64 / elapsed.as_secs_f64(),
            at(0.50),
            at(0.99),
            self.0[n - 1]
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_clients_read_while_updates_land_and_oversized_requests_bounce() {
    let seconds = env_number("SEEDWARD_LOAD_SECS", 5);
    let clients = env_number("SEEDWARD_LOAD_CLIENTS", 100);
    let tmp = tempfile::tempdir().unwrap();
    let d = Arc::new(Deployment::new(&tmp.path().join("state")).await);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();

    // The writer: signed atomic updates, back to back, each against the last acknowledged.
    let writer = {
        let d = d.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let client = connect(&d.process.addr).await;
            let mut latest = d.latest();
            let mut samples = Samples::default();
            let mut n = 1;
            while !stop.load(Ordering::SeqCst) {
                let t = Instant::now();
                let response = update(&client, &d.keys, n, latest)
                    .await
                    .unwrap_or_else(|s| panic!("update {n} failed: {}", describe(&s)));
                samples.0.push(t.elapsed());
                latest = digest(&response.transition_hash);
                n += 1;
            }
            (samples, n - 1, latest)
        })
    };

    // The abuser: requests over the core's 1 MiB manifest limit and over the 16 MiB
    // transport limit, alternately, on its own connection.
    let refused = Arc::new(AtomicU64::new(0));
    let abuser = {
        let d = d.clone();
        let stop = stop.clone();
        let refused = refused.clone();
        tokio::spawn(async move {
            let client = connect(&d.process.addr).await;
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let (size, expected) = if i.is_multiple_of(2) {
                    ((1 << 20) + 1, Code::InvalidArgument)
                } else {
                    (17 << 20, Code::OutOfRange)
                };
                let status = client
                    .set_manifest(pb::SetManifestRequest {
                        manifest: vec![b' '; size],
                        ..Default::default()
                    })
                    .await
                    .expect_err("an oversized request was accepted");
                assert_eq!(status.code(), expected, "{}", describe(&status));
                if expected == Code::InvalidArgument {
                    assert_eq!(error_reason(&status), Some("INVALID_ARGUMENT"));
                }
                refused.fetch_add(1, Ordering::SeqCst);
                i += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    // The readers: each its own TLS connection; three status reads to one history read.
    let audits = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..clients)
        .map(|id| {
            let d = d.clone();
            let stop = stop.clone();
            let audits = audits.clone();
            tokio::spawn(async move {
                let client = connect(&d.process.addr).await;
                let (mut status_samples, mut history_samples) =
                    (Samples::default(), Samples::default());
                let mut last_generation = 0u64;
                let mut i = id;
                while !stop.load(Ordering::SeqCst) {
                    if i.is_multiple_of(4) {
                        let t = Instant::now();
                        let history = client
                            .manifests()
                            .await
                            .unwrap_or_else(|s| panic!("GetManifests: {}", describe(&s)));
                        history_samples.0.push(t.elapsed());
                        assert!(history.verified, "client {id}: an unverified history");
                        let generation = history.manifests.len() as u64;
                        assert!(
                            generation >= last_generation,
                            "client {id}: the history went back from {last_generation} to {generation}"
                        );
                        last_generation = generation;
                        // The full client-side audit (derived key, every hash) on a sample.
                        if i.is_multiple_of(16) {
                            let audited = audit(history, &d.secret);
                            assert!(
                                audited.all_verified(),
                                "client {id}: {:?}",
                                audited.failure
                            );
                            assert_eq!(audited.generation(), generation);
                            audits.fetch_add(1, Ordering::SeqCst);
                        }
                    } else {
                        let t = Instant::now();
                        let status = client
                            .status()
                            .await
                            .unwrap_or_else(|s| panic!("GetStatus: {}", describe(&s)));
                        status_samples.0.push(t.elapsed());
                        assert_eq!(status.state, READY, "client {id}");
                    }
                    i += 1;
                }
                (status_samples, history_samples)
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::SeqCst);
    let (mut status_all, mut history_all) = (Samples::default(), Samples::default());
    for reader in readers {
        let (s, h) = reader.await.expect("a reader failed");
        status_all.0.extend(s.0);
        history_all.0.extend(h.0);
    }
    let (mut update_samples, updates, latest) = writer.await.expect("the writer failed");
    abuser.await.expect("the oversized-request sender failed");
    let elapsed = started.elapsed();

    // After the load: the daemon is fine and the history is exactly what the writer wrote.
    let history = d.client.manifests().await.unwrap();
    let audited = audit(history, &d.secret);
    assert!(audited.all_verified(), "{:?}", audited.failure);
    assert_eq!(audited.generation(), updates + 1);
    assert_eq!(audited.latest.transition_hash(), latest);
    assert!(updates > 0, "no update landed under load");
    assert!(
        refused.load(Ordering::SeqCst) >= 2,
        "the oversized requests did not run"
    );
    assert!(!status_all.0.is_empty() && !history_all.0.is_empty());

    eprintln!(
        "load: {clients} clients, {elapsed:.1?}, {} full audits, {} oversized requests refused, \
         0 errors, final generation {}",
        audits.load(Ordering::SeqCst),
        refused.load(Ordering::SeqCst),
        updates + 1
    );
    eprintln!("{}", status_all.line("GetStatus", elapsed));
    eprintln!("{}", history_all.line("GetManifests", elapsed));
    eprintln!("{}", update_samples.line("SetManifest", elapsed));
}
