//! Test helpers shared with the Coordinator's stores. Not part of the stable API.
//!
//! [`store_conformance_suite`] is the one definition of what a [`HistoryStore`] must do; every
//! store implementation (memory, filesystem, later etcd) runs it unchanged:
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

use super::{Digest, HistoryStore, StoreError, StoreKey};

/// Runs every store check against fresh stores from `make`. Panics on the first failure, with
/// a message naming the check.
pub fn store_conformance_suite<S: HistoryStore>(make: impl Fn() -> S) {
    missing_key_reads_as_none(&make());
    set_get_overwrite(&make());
    values_are_byte_exact(&make());
    keys_are_independent(&make());
    every_key_kind_works(&make());
    cas_semantics(&make());
    cas_conflict_reports_current_value(&make());
    cas_race_has_exactly_one_winner(&make());
}

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
