//! Test helpers shared with the Coordinator's stores. Not part of the stable API.
//!
//! [`store_conformance_suite`] is the one definition of what a [`HistoryStore`] must do; every
//! store implementation (memory, filesystem, etcd) runs it unchanged. It checks the key/value
//! contract (get/set/CAS, `Some(b"")` vs `None`, conflicts carrying the current value, rounds
//! of concurrent CAS with exactly one winner each) and the history-level invariants on top of
//! the store (append, chain walk, a stale or racing append is a typed conflict that leaves the
//! pointer alone). [`store_conformance_suite_with`] adds what only some stores have: a size
//! limit, and a second handle on the same data (another process or replica).
//!
//! ```text
//! #[test]
//! fn fs_store_conforms() {
//!     seedward_shared::history::testing::store_conformance_suite(|| {
//!         FsStore::open(tempfile::tempdir().unwrap().keep()).unwrap()
//!     });
//! }
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a panic is how a failed check is reported"
)]

use std::sync::Barrier;

use p384::ecdsa::SigningKey;

use super::{Digest, History, HistoryError, HistoryStore, LatestTransition, StoreError, StoreKey};

/// What a store offers beyond the common contract.
pub struct SuiteOptions<'a, S> {
    /// The largest value the store accepts, if it has a limit: a value one byte larger must
    /// be refused with [`StoreError::TooLarge`] naming this limit, and nothing written.
    pub max_value_bytes: Option<usize>,
    /// Opens a second handle on the same data as the given store (another process or replica
    /// would): writes through one must be seen by the other, and CAS must stay atomic across
    /// them.
    pub second_handle: Option<&'a (dyn Fn(&S) -> S + Sync)>,
}

impl<S> Default for SuiteOptions<'_, S> {
    fn default() -> Self {
        Self {
            max_value_bytes: None,
            second_handle: None,
        }
    }
}

/// Runs every store check against fresh stores from `make`. Panics on the first failure, with
/// a message naming the check.
pub fn store_conformance_suite<S: HistoryStore>(make: impl Fn() -> S) {
    store_conformance_suite_with(make, SuiteOptions::default());
}

/// [`store_conformance_suite`], plus the checks `options` enable.
pub fn store_conformance_suite_with<S: HistoryStore>(
    make: impl Fn() -> S,
    options: SuiteOptions<'_, S>,
) {
    missing_key_reads_as_none(&make());
    set_get_overwrite(&make());
    values_are_byte_exact(&make());
    keys_are_independent(&make());
    every_key_kind_works(&make());
    invalid_keys_never_reach_a_store();
    cas_semantics(&make());
    cas_conflict_reports_current_value(&make());
    cas_race_has_exactly_one_winner(&make());
    cas_rounds_across(&[&make(); RACERS]);
    history_append_walk_and_conflicts(&make());
    history_racing_appends_have_one_winner(&make());
    if let Some(limit) = options.max_value_bytes {
        values_over_the_limit_are_refused(&make(), limit);
    }
    if let Some(second) = options.second_handle {
        let store = make();
        let other = second(&store);
        handles_see_each_other(&store, &other);
        // Racing threads alternate between the two handles.
        let racers: Vec<&S> = (0..RACERS)
            .map(|i| if i % 2 == 0 { &store } else { &other })
            .collect();
        cas_rounds_across(&racers);
    }
}

/// How many threads race in the concurrency checks.
const RACERS: usize = 8;
/// How many rounds of racing CAS each concurrency check runs.
const ROUNDS: usize = 4;

fn key(namespace: &str, seed: &[u8]) -> StoreKey {
    StoreKey::parse(&format!("{namespace}/{}", Digest::of(seed))).expect("valid key")
}

fn missing_key_reads_as_none(store: &impl HistoryStore) {
    assert_eq!(
        store.get(&key("manifests", b"missing")),
        Ok(None),
        "get of a missing key must be Ok(None)"
    );
    assert_eq!(
        store.get(&StoreKey::latest()),
        Ok(None),
        "a fresh store has no latest pointer"
    );
}

fn set_get_overwrite(store: &impl HistoryStore) {
    let k = key("manifests", b"a");
    store.set(&k, b"v1").expect("set");
    assert_eq!(store.get(&k), Ok(Some(b"v1".to_vec())), "get after set");
    store.set(&k, b"v2").expect("overwrite");
    assert_eq!(
        store.get(&k),
        Ok(Some(b"v2".to_vec())),
        "get after overwrite"
    );
    store.set(&k, b"v2").expect("idempotent set");
    assert_eq!(store.get(&k), Ok(Some(b"v2".to_vec())), "idempotent set");
}

fn values_are_byte_exact(store: &impl HistoryStore) {
    let all_bytes: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let cases: [(&str, Vec<u8>); 5] = [
        ("every byte value", all_bytes),
        ("empty value", Vec::new()),
        (
            "non-ASCII UTF-8",
            "Grüße, 世界 🌍\r\n\0".as_bytes().to_vec(),
        ),
        (
            "1 MiB",
            (0..1 << 20).map(|i: u32| (i % 251) as u8).collect(),
        ),
        ("trailing newline", b"x\n".to_vec()),
    ];
    for (i, (what, value)) in cases.iter().enumerate() {
        let k = key("policies", &[i as u8]);
        store.set(&k, value).expect("set");
        assert_eq!(
            store.get(&k).expect("get").as_deref(),
            Some(value.as_slice()),
            "{what} must round-trip byte for byte"
        );
    }
}

fn keys_are_independent(store: &impl HistoryStore) {
    let d = Digest::of(b"same digest");
    let m = StoreKey::manifest(&d);
    let p = StoreKey::policy(&d);
    let t = StoreKey::transition(&d);
    store.set(&m, b"m").expect("set");
    store.set(&p, b"p").expect("set");
    store.set(&t, b"t").expect("set");
    assert_eq!(
        store.get(&m),
        Ok(Some(b"m".to_vec())),
        "namespaces must not alias"
    );
    assert_eq!(
        store.get(&p),
        Ok(Some(b"p".to_vec())),
        "namespaces must not alias"
    );
    assert_eq!(
        store.get(&t),
        Ok(Some(b"t".to_vec())),
        "namespaces must not alias"
    );
    assert_eq!(
        store.get(&StoreKey::latest()),
        Ok(None),
        "no latest was set"
    );
}

fn every_key_kind_works(store: &impl HistoryStore) {
    let d = Digest::of(b"kinds");
    for k in [
        StoreKey::manifest(&d),
        StoreKey::policy(&d),
        StoreKey::transition(&d),
        StoreKey::latest(),
        StoreKey::parse(&format!("other/{d}")).expect("valid key"),
    ] {
        store.set(&k, k.as_str().as_bytes()).expect("set");
        assert_eq!(
            store.get(&k),
            Ok(Some(k.as_str().as_bytes().to_vec())),
            "round trip of {k}"
        );
    }
}

fn cas_semantics(store: &impl HistoryStore) {
    let k = StoreKey::latest();
    assert_eq!(
        store.compare_and_swap(&k, Some(b"wrong"), b"v1"),
        Err(StoreError::Conflict { current: None }),
        "CAS with an old value on a missing key must fail"
    );
    assert_eq!(store.get(&k), Ok(None), "a failed CAS must not write");
    assert_eq!(
        store.compare_and_swap(&k, Some(b""), b"v1"),
        Err(StoreError::Conflict { current: None }),
        "an empty old value is not the same as a missing key"
    );
    store
        .compare_and_swap(&k, None, b"v1")
        .expect("CAS None -> v1 on a missing key must succeed");
    assert_eq!(store.get(&k), Ok(Some(b"v1".to_vec())));
    assert_eq!(
        store.compare_and_swap(&k, None, b"v1 again"),
        Err(StoreError::Conflict {
            current: Some(b"v1".to_vec())
        }),
        "CAS None -> v on an existing key must fail"
    );
    assert_eq!(
        store.compare_and_swap(&k, Some(b"wrong"), b"v2"),
        Err(StoreError::Conflict {
            current: Some(b"v1".to_vec())
        }),
        "CAS with a wrong old value must fail"
    );
    assert_eq!(
        store.compare_and_swap(&k, Some(b"v"), b"v2"),
        Err(StoreError::Conflict {
            current: Some(b"v1".to_vec())
        }),
        "CAS must compare whole values, not prefixes"
    );
    assert_eq!(store.get(&k), Ok(Some(b"v1".to_vec())), "failed CAS wrote");
    store
        .compare_and_swap(&k, Some(b"v1"), b"v2")
        .expect("CAS v1 -> v2 must succeed");
    assert_eq!(store.get(&k), Ok(Some(b"v2".to_vec())));
    store
        .compare_and_swap(&k, Some(b"v2"), b"v2")
        .expect("CAS to the same value must succeed");
    let other = key("manifests", b"cas on content keys");
    store
        .compare_and_swap(&other, None, b"x")
        .expect("CAS works on any valid key");
    assert_eq!(store.get(&other), Ok(Some(b"x".to_vec())));
}

fn cas_conflict_reports_current_value(store: &impl HistoryStore) {
    let k = StoreKey::latest();
    store.set(&k, b"\x00\xffcurrent").expect("set");
    match store.compare_and_swap(&k, Some(b"stale"), b"new") {
        Err(StoreError::Conflict { current }) => assert_eq!(
            current.as_deref(),
            Some(&b"\x00\xffcurrent"[..]),
            "Conflict must carry the current value byte for byte"
        ),
        other => panic!("expected Conflict, got {other:?}"),
    }
}

fn cas_race_has_exactly_one_winner(store: &impl HistoryStore) {
    const RACERS: usize = 8;
    let k = StoreKey::latest();
    let barrier = Barrier::new(RACERS);
    let results: Vec<(usize, Result<(), StoreError>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..RACERS)
            .map(|i| {
                let barrier = &barrier;
                let k = &k;
                s.spawn(move || {
                    barrier.wait();
                    (
                        i,
                        store.compare_and_swap(k, None, format!("racer {i}").as_bytes()),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("racer thread panicked"))
            .collect()
    });
    let winners: Vec<usize> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one CAS from None must win: {results:?}"
    );
    let winner_value = format!("racer {}", winners[0]).into_bytes();
    for (i, r) in &results {
        if *i != winners[0] {
            assert_eq!(
                r,
                &Err(StoreError::Conflict {
                    current: Some(winner_value.clone())
                }),
                "losers must see the winner's value"
            );
        }
    }
    assert_eq!(store.get(&k), Ok(Some(winner_value)));
}

fn invalid_keys_never_reach_a_store() {
    // A store is handed only `StoreKey`s, and these cannot be made: what could escape a
    // directory, alias another key or be read as a prefix never gets that far.
    for bad in [
        "../manifests",
        "manifests/../transitions/latest",
        "transitions/latest/",
        "/transitions/latest",
        "transitions/LATEST",
        "replicas/x",
        "",
    ] {
        assert!(
            matches!(StoreKey::parse(bad), Err(StoreError::InvalidKey { .. })),
            "{bad:?} must not be a store key"
        );
    }
}

/// `ROUNDS` rounds: in each, every racer CASes from the value the previous round left; exactly
/// one wins, and every loser's conflict carries the winner's value.
fn cas_rounds_across<S: HistoryStore>(racers: &[&S]) {
    let k = StoreKey::latest();
    let mut current: Option<Vec<u8>> = racers[0].get(&k).expect("get");
    for round in 0..ROUNDS {
        let barrier = Barrier::new(racers.len());
        let results: Vec<Result<(), StoreError>> = std::thread::scope(|s| {
            let handles: Vec<_> = racers
                .iter()
                .enumerate()
                .map(|(i, store)| {
                    let (barrier, k, current) = (&barrier, &k, &current);
                    s.spawn(move || {
                        barrier.wait();
                        store.compare_and_swap(
                            k,
                            current.as_deref(),
                            format!("round {round} racer {i}").as_bytes(),
                        )
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("racer thread panicked"))
                .collect()
        });
        let winners: Vec<usize> = (0..results.len()).filter(|i| results[*i].is_ok()).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one CAS must win: {results:?}"
        );
        let value = format!("round {round} racer {}", winners[0]).into_bytes();
        for (i, r) in results.iter().enumerate() {
            if i != winners[0] {
                assert_eq!(
                    r,
                    &Err(StoreError::Conflict {
                        current: Some(value.clone())
                    }),
                    "round {round}: a loser must see the winner's value"
                );
            }
        }
        for store in racers {
            assert_eq!(store.get(&k), Ok(Some(value.clone())), "round {round}");
        }
        current = Some(value);
    }
}

fn handles_see_each_other<S: HistoryStore>(a: &S, b: &S) {
    let k = key("manifests", b"shared handles");
    a.set(&k, b"from a").expect("set through a");
    assert_eq!(
        b.get(&k),
        Ok(Some(b"from a".to_vec())),
        "a write through one handle must be visible through the other"
    );
    let latest = StoreKey::latest();
    b.compare_and_swap(&latest, None, b"b first")
        .expect("CAS through b");
    assert_eq!(
        a.compare_and_swap(&latest, None, b"a first"),
        Err(StoreError::Conflict {
            current: Some(b"b first".to_vec())
        }),
        "CAS through one handle must see the other's write"
    );
}

fn values_over_the_limit_are_refused(store: &impl HistoryStore, limit: usize) {
    let k = key("manifests", b"too large");
    let at_limit: Vec<u8> = (0..limit).map(|i| (i % 253) as u8).collect();
    store
        .set(&k, &at_limit)
        .expect("a value of exactly the limit must be accepted");
    assert_eq!(
        store.get(&k).expect("get").as_deref(),
        Some(at_limit.as_slice()),
        "a value of exactly the limit must round-trip"
    );
    let over = vec![7u8; limit + 1];
    let k2 = key("manifests", b"one byte too large");
    match store.set(&k2, &over) {
        Err(StoreError::TooLarge {
            key: named,
            size,
            limit: l,
            remedy,
        }) => {
            assert_eq!((named.as_str(), size, l), (k2.as_str(), limit + 1, limit));
            assert!(
                !remedy.is_empty(),
                "TooLarge must say how to raise the limit"
            );
        }
        other => panic!("a value over the limit must be TooLarge, got {other:?}"),
    }
    assert_eq!(
        store.get(&k2),
        Ok(None),
        "a refused value must not be written"
    );
    let latest = StoreKey::latest();
    assert!(
        matches!(
            store.compare_and_swap(&latest, None, &over),
            Err(StoreError::TooLarge { limit: l, .. }) if l == limit
        ),
        "a CAS over the limit must be TooLarge"
    );
    assert_eq!(store.get(&latest), Ok(None), "a refused CAS must not write");
}

fn signing_key(byte: u8) -> SigningKey {
    SigningKey::from_slice(&[byte; 48]).expect("a valid P-384 scalar")
}

fn history_append_walk_and_conflicts(store: &impl HistoryStore) {
    let history = History::new(store);
    let key = signing_key(0x11);
    let mut latest: Option<LatestTransition> = None;
    let mut manifests = Vec::new();
    for i in 0..3u8 {
        let manifest = format!("{{\"generation\":{i}}}").into_bytes();
        let policy = format!("policy {i}").into_bytes();
        let (transition, new) = history
            .append(latest.as_ref(), &manifest, &[&policy], &key)
            .expect("append");
        assert_eq!(
            transition.previous,
            latest
                .as_ref()
                .map_or(Digest::ZERO, LatestTransition::transition_hash),
            "a transition must point at the previous latest"
        );
        assert_eq!(
            history.get_policy(&Digest::of(&policy)),
            Ok(policy),
            "the policy is stored before the pointer moves"
        );
        manifests.push(manifest);
        latest = Some(new);
    }
    let latest = latest.expect("three appends");
    let chain = history
        .chain(key.verifying_key())
        .expect("chain")
        .expect("a history");
    assert_eq!(chain.generation(), 3);
    assert_eq!(chain.latest(), &latest);
    let stored: Vec<&[u8]> = chain
        .entries()
        .iter()
        .map(|e| e.manifest_bytes.as_slice())
        .collect();
    let wanted: Vec<&[u8]> = manifests.iter().map(Vec::as_slice).collect();
    assert_eq!(
        stored, wanted,
        "the chain must list the manifests oldest first"
    );
    assert!(
        matches!(
            history.chain(signing_key(0x22).verifying_key()),
            Err(HistoryError::Latest { .. })
        ),
        "the chain must not verify with another key"
    );

    // An append against a stale pointer loses with a typed conflict naming the stored hash,
    // and leaves the pointer where it was (its objects are harmless orphans).
    let stale = chain.entries()[1].transition_hash;
    let stale_latest = LatestTransition::sign(stale, &key).expect("sign");
    assert_eq!(
        history.append(Some(&stale_latest), b"{\"late\":true}", &[b"late"], &key),
        Err(HistoryError::Conflict {
            current: Some(latest.transition_hash())
        }),
        "a stale append must be a conflict naming the current latest"
    );
    assert_eq!(
        history.latest_verified(key.verifying_key()),
        Ok(Some(latest.clone())),
        "a lost append must leave the pointer alone"
    );
    assert_eq!(
        history.append(None, b"{}", &[b"p"], &key),
        Err(HistoryError::Conflict {
            current: Some(latest.transition_hash())
        }),
        "a first set over an existing history must be a conflict"
    );
}

fn history_racing_appends_have_one_winner(store: &impl HistoryStore) {
    let key = signing_key(0x33);
    let history = History::new(store);
    let (_, first) = history
        .append(None, b"{\"base\":true}", &[b"base"], &key)
        .expect("first append");
    let barrier = Barrier::new(RACERS);
    let results: Vec<Result<LatestTransition, HistoryError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..RACERS)
            .map(|i| {
                let (barrier, key, first) = (&barrier, &key, &first);
                s.spawn(move || {
                    let history = History::new(store);
                    let manifest = format!("{{\"racer\":{i}}}").into_bytes();
                    barrier.wait();
                    history
                        .append(Some(first), &manifest, &[b"shared policy"], key)
                        .map(|(_, latest)| latest)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("racer thread panicked"))
            .collect()
    });
    let winners: Vec<&LatestTransition> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one racing append must win: {results:?}"
    );
    let winner = winners[0].transition_hash();
    for r in &results {
        if let Err(e) = r {
            assert_eq!(
                e,
                &HistoryError::Conflict {
                    current: Some(winner)
                },
                "a losing append must be a conflict naming the winner"
            );
        }
    }
    let chain = history
        .chain(key.verifying_key())
        .expect("chain")
        .expect("a history");
    assert_eq!(
        chain.generation(),
        2,
        "the winner extends the first transition"
    );
    assert_eq!(chain.latest().transition_hash(), winner);
}
