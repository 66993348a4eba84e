//! Criterion benches of the shared core: the seed engine, seed shares and recovery
//! envelopes.
//!
//! `cargo bench -p seedward-shared --bench core -- --warm-up-time 1 --measurement-time 2`

#![allow(
    clippy::expect_used,
    reason = "bench setup: a panic is the failure report"
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hkdf::Hkdf;
use rand_core::OsRng;
use seedward_shared::keys::OwnerKeyPair;
use seedward_shared::recovery::{RecoveryChallengeKey, open_recovery, seal_recovery};
use seedward_shared::seed::{Salt, Seed, SeedEngine};
use seedward_shared::seedshare::{open_seed, seal_seed};
use sha2::Sha256;

fn seed_engine(c: &mut Criterion) {
    let seed = Seed::generate(&mut OsRng);
    let salt = Salt::generate(&mut OsRng);
    c.bench_function(
        "seed_engine/new (4 HKDF + 2 det-keygen, 64-byte seed)",
        |b| b.iter(|| SeedEngine::new(black_box(&seed), black_box(&salt))),
    );

    let engine = SeedEngine::new(&seed, &salt).expect("engine");
    let mut group = c.benchmark_group("workload_secret");
    group.bench_function("derive_workload_secret (64 bytes)", |b| {
        b.iter(|| engine.derive_workload_secret(black_box("apps/v1/Deployment/default/web")))
    });
    // The same HKDF-SHA256 work without the engine: 64-byte IKM, 32-byte salt, same info.
    let ikm = [7u8; 64];
    group.bench_function("raw HKDF-SHA256 (64-byte IKM → 64 bytes)", |b| {
        b.iter(|| {
            let hkdf = Hkdf::<Sha256>::new(Some(salt.as_bytes()), black_box(&ikm));
            let mut okm = [0u8; 64];
            hkdf.expand_multi_info(
                &[b"WORKLOAD SECRET ID: ", b"apps/v1/Deployment/default/web"],
                &mut okm,
            )
            .expect("64 bytes is within HKDF's limit");
            okm
        })
    });
    group.finish();
}

fn seed_shares(c: &mut Criterion) {
    let owner = OwnerKeyPair::generate(&mut OsRng);
    let seed = Seed::generate(&mut OsRng);
    let share = seal_seed(&seed, &owner.public_key(), &mut OsRng).expect("seal");
    let mut group = c.benchmark_group("seed_share");
    group.bench_function("seal_seed (64-byte seed)", |b| {
        b.iter(|| seal_seed(black_box(&seed), black_box(&owner.public_key()), &mut OsRng))
    });
    group.bench_function("open_seed (64-byte seed)", |b| {
        b.iter(|| open_seed(black_box(&share), black_box(&owner)))
    });
    group.finish();
}

fn recovery(c: &mut Criterion) {
    let owner = OwnerKeyPair::generate(&mut OsRng);
    let challenge = RecoveryChallengeKey::generate(&mut OsRng);
    let seed = Seed::generate(&mut OsRng);
    let salt = Salt::generate(&mut OsRng);
    let (nonce, latest) = ([1u8; 32], [2u8; 32]);
    let envelope = seal_recovery(
        &owner,
        &challenge.public_key(),
        &nonce,
        &latest,
        &seed,
        &salt,
        &mut OsRng,
    )
    .expect("seal");
    let mut group = c.benchmark_group("recovery");
    group.bench_function("seal_recovery (auth mode, 64+32 bytes)", |b| {
        b.iter(|| {
            seal_recovery(
                &owner,
                black_box(&challenge.public_key()),
                &nonce,
                &latest,
                &seed,
                &salt,
                &mut OsRng,
            )
        })
    });
    group.bench_function("open_recovery (auth mode, 64+32 bytes)", |b| {
        b.iter(|| {
            open_recovery(
                &challenge,
                black_box(&owner.public_key()),
                &nonce,
                &latest,
                black_box(&envelope),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, seed_engine, seed_shares, recovery);
criterion_main!(benches);
