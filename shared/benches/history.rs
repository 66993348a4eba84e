//! Criterion benches of the manifest history: client-side verification of a `GetManifests`
//! answer and the store-side chain walk, for 1, 1,000 and 100,000 transitions, against the
//! floor of the work they cannot avoid (SHA-256 of every blob, one P-384 verification).
//!
//! `cargo bench -p seedward-shared --bench history -- --warm-up-time 1 --measurement-time 3`

#![allow(
    clippy::expect_used,
    reason = "bench setup: a panic is the failure report"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use p384::ecdsa::SigningKey;
use p384::ecdsa::signature::hazmat::PrehashVerifier;
use seedward_shared::history::{
    Digest, History, LatestTransition, MemoryStore, Transition, chain_from_manifests,
    verify_manifest_list,
};

const SIZES: [usize; 3] = [1, 1_000, 100_000];

/// A realistic small manifest (about 600 bytes), distinct per generation.
fn manifest(generation: usize) -> Vec<u8> {
    format!(
        r#"{{
  "Policies": {{
    "{c}": {{ "SANs": ["coordinator", "coordinator.default.svc.cluster.local"], "Role": "coordinator" }},
    "{w}": {{ "SANs": ["web", "web.default.svc.cluster.local"], "WorkloadSecretID": "apps/v1/Deployment/default/web" }}
  }},
  "ReferenceValues": {{ "generation": {generation} }},
  "WorkloadOwnerPubKeys": [],
  "SeedshareOwnerPubKeys": ["{o}"]
}}
"#,
        c = Digest::of(b"coordinator policy"),
        w = Digest::of(b"web policy"),
        o = "ab".repeat(32),
    )
    .into_bytes()
}

struct Fixture {
    manifests: Vec<Vec<u8>>,
    latest: LatestTransition,
    history: History<MemoryStore>,
}

/// Builds the history directly (one signature at the end, not one per generation).
fn fixture(n: usize, key: &SigningKey) -> Fixture {
    let manifests: Vec<Vec<u8>> = (0..n).map(manifest).collect();
    let history = History::new(MemoryStore::new());
    let mut previous = Digest::ZERO;
    for m in &manifests {
        let manifest_hash = history.put_manifest(m).expect("put");
        previous = history
            .put_transition(&Transition::after(previous, manifest_hash))
            .expect("put");
    }
    let latest = history.set_latest(None, previous, key).expect("latest");
    Fixture {
        manifests,
        latest,
        history,
    }
}

fn configure(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: usize,
) {
    if n >= 100_000 {
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(8));
    } else {
        group.sample_size(30);
        group.measurement_time(Duration::from_secs(3));
    }
}

fn history(c: &mut Criterion) {
    let key = SigningKey::from_slice(&[7; 48]).expect("scalar");
    let vk = *key.verifying_key();

    // The floor, part 1: one P-384 verification of a 32-byte prehash.
    {
        let latest = LatestTransition::sign(Digest::of(b"t"), &key).expect("sign");
        let sig = p384::ecdsa::DerSignature::from_bytes(latest.signature()).expect("der");
        let mut group = c.benchmark_group("floor");
        group.sample_size(30);
        group.bench_function("p384 verify_prehash (one signature)", |b| {
            b.iter(|| {
                vk.verify_prehash(black_box(latest.transition_hash().as_bytes()), &sig)
                    .expect("valid")
            })
        });
        group.finish();
    }

    for n in SIZES {
        let f = fixture(n, &key);
        let bytes: usize = f.manifests.iter().map(Vec::len).sum();
        let mut group =
            c.benchmark_group(format!("history/{n} transitions ({bytes} manifest bytes)"));
        configure(&mut group, n);

        // The floor, part 2: SHA-256 of every manifest and every transition blob.
        group.bench_function(BenchmarkId::new("floor: sha256 of all blobs", n), |b| {
            b.iter(|| chain_from_manifests(black_box(&f.manifests)))
        });
        group.bench_function(BenchmarkId::new("verify_manifest_list", n), |b| {
            b.iter(|| verify_manifest_list(black_box(&f.manifests), &f.latest, &vk).expect("ok"))
        });
        group.bench_function(BenchmarkId::new("History::walk (memory store)", n), |b| {
            b.iter(|| {
                f.history
                    .walk(black_box(f.latest.transition_hash()))
                    .expect("ok")
            })
        });
        group.bench_function(BenchmarkId::new("History::chain (memory store)", n), |b| {
            b.iter(|| f.history.chain(black_box(&vk)).expect("ok"))
        });
        group.finish();
    }
}

criterion_group!(benches, history);
criterion_main!(benches);
