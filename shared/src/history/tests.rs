use std::sync::Barrier;

use p384::ecdsa::{SigningKey, VerifyingKey};
use proptest::prelude::*;

use super::*;

/// The scalar of the seed engine known-answer vector's transaction signing key
/// (docs/FORMATS.md, "Test vectors and where they come from").
const TX_KEY_SCALAR: &str = "5a58b771eef6bd6d2967b933ef3474e71bea849fd2b900f431dafe843d267b0b08875a95f4e442c6863663090c7c8576";
/// Its public key (uncompressed SEC1), from the same DER.
const TX_KEY_PUBLIC: &str = "04f38a9990332aa58557780eff947e75c78a3486bbebce9f80d3e1f98f57b71ceaa207df91394d0eed25307d03ee460785db0afa958567089885e34ea693d861dfaa567fb34e6b3da51de25dfaf2a32aef01fb9d654f895712f1f4468281cd8ee9";

fn signing_key() -> SigningKey {
    SigningKey::from_slice(&hex::decode(TX_KEY_SCALAR).expect("hex")).expect("scalar")
}

fn other_key() -> SigningKey {
    SigningKey::from_slice(&[7; 48]).expect("scalar")
}

fn vk(key: &SigningKey) -> VerifyingKey {
    *key.verifying_key()
}

fn d(hex: &str) -> Digest {
    hex.parse().expect("digest")
}

fn history() -> History<MemoryStore> {
    History::new(MemoryStore::new())
}

/// A small valid manifest, distinct per `n`, and its one policy document.
fn manifest_and_policy(n: usize) -> (Vec<u8>, Vec<u8>) {
    let policy = format!("policy {n} ✓").into_bytes();
    let manifest = format!(
        r#"{{"Policies":{{"{}":{{"SANs":["w{n}"],"Role":"coordinator"}}}},"ReferenceValues":{{"gen":{n}}},"WorkloadOwnerPubKeys":[],"SeedshareOwnerPubKeys":[]}}"#,
        Digest::of(&policy)
    )
    .into_bytes();
    (manifest, policy)
}

/// Appends `n` generations; returns the manifests and the final latest pointer.
fn build(h: &History<MemoryStore>, n: usize) -> (Vec<Vec<u8>>, LatestTransition) {
    let key = signing_key();
    let mut latest: Option<LatestTransition> = None;
    let mut manifests = Vec::new();
    for i in 0..n {
        let (m, p) = manifest_and_policy(i);
        let (_, new) = h.append(latest.as_ref(), &m, &[p], &key).expect("append");
        manifests.push(m);
        latest = Some(new);
    }
    (manifests, latest.expect("n > 0"))
}

// --- transitions -------------------------------------------------------------------------------

#[test]
fn transition_known_answers() {
    // Contrast's vector (internal/history/history_test.go).
    let t = Transition {
        manifest_hash: Digest::of(b"hello"),
        previous: Digest::of(b"world"),
    };
    assert_eq!(
        t.hash(),
        d("7305db9b2abccd706c256db3d97e5ff48d677cfe4d3a5904afb7da0e3950e1e2")
    );
    // Seedward's own: a first and a second transition (docs/FORMATS.md, worked example).
    let first = Transition::first(Digest::of(b"manifest"));
    assert_eq!(
        first.manifest_hash,
        d("05b3abf2579a5eb66403cd78be557fd860633a1fe2103c7642030defe32c657f")
    );
    assert!(first.is_first());
    assert_eq!(
        first.hash(),
        d("daca353b0137bfd625e5f14328fd0da64d748319cd2756e6d150288de30c3505")
    );
    let second = Transition::after(first.hash(), Digest::of(b"manifest 2"));
    assert!(!second.is_first());
    assert_eq!(
        second.hash(),
        d("0b72c3ba8b6f9dcf22775640871848c7fca7ebf201543f8a324935950df887d9")
    );
    let blob = second.to_bytes();
    assert_eq!(
        &blob[..32],
        Digest::of(b"manifest 2").as_bytes(),
        "manifest hash first"
    );
    assert_eq!(&blob[32..], first.hash().as_bytes(), "previous second");
    assert_eq!(Digest::of(&blob), second.hash());
}

#[test]
fn transition_blob_is_exactly_64_bytes() {
    let t = Transition::after(Digest::of(b"p"), Digest::of(b"m"));
    assert_eq!(Transition::from_bytes(&t.to_bytes()), Ok(t));
    for len in [0, 1, 32, 63, 65, 128] {
        assert_eq!(
            Transition::from_bytes(&vec![0; len]),
            Err(TransitionError::Length { len }),
        );
    }
}

// --- the latest pointer ------------------------------------------------------------------------

#[test]
fn known_answer_key_matches_design() {
    assert_eq!(
        hex::encode(vk(&signing_key()).to_encoded_point(false).as_bytes()),
        TX_KEY_PUBLIC
    );
}

#[test]
fn latest_sign_verify_round_trip() {
    let hash = Digest::of(b"t");
    let latest = LatestTransition::sign(hash, &signing_key()).expect("sign");
    assert_eq!(latest.transition_hash(), hash);
    latest.verify(&vk(&signing_key())).expect("verifies");
    assert_eq!(
        latest.verify(&vk(&other_key())),
        Err(TransitionError::BadSignature)
    );
    let bytes = latest.to_bytes();
    assert_eq!(&bytes[..32], hash.as_bytes());
    assert_eq!(&bytes[32..], latest.signature());
    assert_eq!(LatestTransition::from_bytes(&bytes), Ok(latest.clone()));
    assert_eq!(
        LatestTransition::from_parts(hash.as_bytes(), latest.signature()),
        Ok(latest)
    );
}

#[test]
fn latest_signature_is_deterministic_known_answer() {
    // RFC 6979 nonces: the KAT key and the first worked-example transition always give these
    // bytes. `openssl pkeyutl -verify` accepts them (see docs/FORMATS.md).
    let hash = d("daca353b0137bfd625e5f14328fd0da64d748319cd2756e6d150288de30c3505");
    let latest = LatestTransition::sign(hash, &signing_key()).expect("sign");
    assert_eq!(
        LatestTransition::sign(hash, &signing_key()).expect("sign"),
        latest
    );
    assert_eq!(hex::encode(latest.to_bytes()), LATEST_KAT);
}

const LATEST_KAT: &str = "daca353b0137bfd625e5f14328fd0da64d748319cd2756e6d150288de30c3505306402307de14adc29c11a0aafed6318e0869a4f692045885a8f49048c701aaf2cc4776b6f221ea010bfa37dc80bfdfa66107aaf02304002316fe6b379eff5d31246acb67a7c3f66b912efb23468cb74fda24f44f59a03cb551f1be42838d8a48fdf94d17f68";

#[test]
fn latest_signed_by_openssl_verifies() {
    // `openssl pkeyutl -sign` (OpenSSL 3.0, random nonce) with the KAT key over the raw 32-byte
    // hash: the same "hash is the digest" semantics as Go's ecdsa.SignASN1 in Contrast.
    let hash = "daca353b0137bfd625e5f14328fd0da64d748319cd2756e6d150288de30c3505";
    let sig = "3064023062fa25d4058166a53fc2a858296d6a80a630cb923e033b74294de2d45398b988672ced6be44532aeada65439bdba2f4c02301ed1958bfc8bdec236cc377bcb4140997d9465e9cb2052ecc6bd99dd79747a0066efadaff31f35a082cc8cfe0bb5edda";
    let latest = LatestTransition::from_bytes(&hex::decode(format!("{hash}{sig}")).expect("hex"))
        .expect("parse");
    latest
        .verify(&vk(&signing_key()))
        .expect("OpenSSL's signature verifies");
    // The hash is the digest itself: signing SHA-256(hash) or SHA-384(hash) would not verify.
    let rehashed = LatestTransition::from_parts(
        Digest::of(d(hash).as_bytes()).as_bytes(),
        latest.signature(),
    )
    .expect("parse");
    assert_eq!(
        rehashed.verify(&vk(&signing_key())),
        Err(TransitionError::BadSignature)
    );
}

#[test]
fn latest_parse_errors() {
    let good = LatestTransition::sign(Digest::of(b"t"), &signing_key())
        .expect("sign")
        .to_bytes();
    assert_eq!(
        LatestTransition::from_bytes(&[]),
        Err(TransitionError::LatestTooShort { len: 0 })
    );
    assert_eq!(
        LatestTransition::from_bytes(&good[..31]),
        Err(TransitionError::LatestTooShort { len: 31 })
    );
    assert_eq!(
        LatestTransition::from_bytes(&good[..32]),
        Err(TransitionError::MissingSignature)
    );
    assert_eq!(
        LatestTransition::from_bytes(&good[..good.len() - 1]),
        Err(TransitionError::MalformedSignature)
    );
    let mut extended = good.clone();
    extended.push(0);
    assert_eq!(
        LatestTransition::from_bytes(&extended),
        Err(TransitionError::MalformedSignature),
        "trailing bytes after the DER signature"
    );
    let mut raw_sig = good[..32].to_vec();
    raw_sig.extend_from_slice(&[1; 96]);
    assert_eq!(
        LatestTransition::from_bytes(&raw_sig),
        Err(TransitionError::MalformedSignature),
        "a fixed-size r‖s signature is not DER"
    );
    assert_eq!(
        LatestTransition::from_parts(&[0; 31], &good[32..]),
        Err(TransitionError::LatestTooShort { len: 31 })
    );
}

/// Contrast's GetLatest / GetLatestInsecure / HasLatest table, on the typed layer.
#[test]
fn latest_from_store() {
    let key = signing_key();
    let h = history();
    assert_eq!(h.has_latest(), Ok(false));
    assert_eq!(h.latest_unverified(), Ok(None), "absent");
    assert_eq!(h.latest_verified(&vk(&key)), Ok(None), "absent");

    let (_, latest) = build(&h, 1);
    assert_eq!(h.has_latest(), Ok(true));
    assert_eq!(h.latest_unverified(), Ok(Some(latest.clone())), "valid");
    assert_eq!(
        h.latest_verified(&vk(&key)),
        Ok(Some(latest.clone())),
        "valid"
    );
    assert_eq!(
        h.latest_verified(&vk(&other_key())),
        Err(HistoryError::Latest {
            source: TransitionError::BadSignature
        }),
        "wrong key"
    );

    let good = latest.to_bytes();
    let latest_key = StoreKey::latest();

    let mut hash_modified = good.clone();
    hash_modified[0] ^= 1;
    h.store().set(&latest_key, &hash_modified).expect("set");
    assert!(h.latest_unverified().expect("parses").is_some());
    assert_eq!(
        h.latest_verified(&vk(&key)),
        Err(HistoryError::Latest {
            source: TransitionError::BadSignature
        }),
        "hash modified"
    );

    let mut sig_modified = good.clone();
    let last = sig_modified.len() - 1;
    sig_modified[last] ^= 1;
    h.store().set(&latest_key, &sig_modified).expect("set");
    assert_eq!(
        h.latest_verified(&vk(&key)),
        Err(HistoryError::Latest {
            source: TransitionError::BadSignature
        }),
        "signature byte modified"
    );

    h.store().set(&latest_key, &good[..32]).expect("set");
    assert_eq!(h.has_latest(), Ok(true));
    assert_eq!(
        h.latest_unverified(),
        Err(HistoryError::Latest {
            source: TransitionError::MissingSignature
        }),
        "hash only"
    );
    assert_eq!(
        h.latest_verified(&vk(&key)),
        Err(HistoryError::Latest {
            source: TransitionError::MissingSignature
        }),
        "hash only"
    );
}

// --- set_latest --------------------------------------------------------------------------------

#[test]
fn set_latest_initial_and_update() {
    let key = signing_key();
    let h = history();
    let t1 = h
        .put_transition(&Transition::first(Digest::of(b"m1")))
        .expect("put");
    let l1 = h.set_latest(None, t1, &key).expect("initial");
    assert_eq!(l1.transition_hash(), t1);
    assert_eq!(h.latest_verified(&vk(&key)), Ok(Some(l1.clone())));
    let t2 = h
        .put_transition(&Transition::after(t1, Digest::of(b"m2")))
        .expect("put");
    let l2 = h.set_latest(Some(&l1), t2, &key).expect("update");
    assert_eq!(h.latest_unverified(), Ok(Some(l2)));
}

#[test]
fn set_latest_with_old_but_none_stored_conflicts() {
    let key = signing_key();
    let h = history();
    let t = h
        .put_transition(&Transition::first(Digest::of(b"m")))
        .expect("put");
    let imagined = LatestTransition::sign(t, &key).expect("sign");
    assert_eq!(
        h.set_latest(Some(&imagined), t, &key),
        Err(HistoryError::Conflict { current: None })
    );
    assert_eq!(h.latest_unverified(), Ok(None), "nothing written");
}

#[test]
fn set_latest_after_concurrent_change_conflicts() {
    let key = signing_key();
    let h = history();
    let t1 = h
        .put_transition(&Transition::first(Digest::of(b"m1")))
        .expect("put");
    let read = h.set_latest(None, t1, &key).expect("initial");
    // Someone else moves latest on.
    let theirs = h
        .put_transition(&Transition::after(t1, Digest::of(b"theirs")))
        .expect("put");
    h.set_latest(Some(&read), theirs, &key)
        .expect("their update");
    // We still hold the old pointer.
    let ours = h
        .put_transition(&Transition::after(t1, Digest::of(b"ours")))
        .expect("put");
    let err = h.set_latest(Some(&read), ours, &key).expect_err("stale");
    assert_eq!(
        err,
        HistoryError::Conflict {
            current: Some(theirs)
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the latest transition changed since it was read (it is now {theirs}); reload the history, review what changed, and retry"
        )
    );
    // A first set against an existing history conflicts too.
    assert_eq!(
        h.set_latest(None, ours, &key),
        Err(HistoryError::Conflict {
            current: Some(theirs)
        })
    );
    assert_eq!(
        h.latest_unverified()
            .expect("read")
            .map(|l| l.transition_hash()),
        Some(theirs)
    );
}

#[test]
fn set_latest_refuses_a_transition_that_is_not_stored() {
    let h = history();
    let missing = Digest::of(b"nowhere");
    assert_eq!(
        h.set_latest(None, missing, &signing_key()),
        Err(HistoryError::NotFound {
            key: StoreKey::transition(&missing)
        })
    );
    assert_eq!(h.has_latest(), Ok(false));
}

#[test]
fn conflict_with_a_damaged_pointer_is_reported() {
    let h = history();
    let t = h
        .put_transition(&Transition::first(Digest::of(b"m")))
        .expect("put");
    h.store().set(&StoreKey::latest(), &[1, 2, 3]).expect("set");
    assert_eq!(
        h.set_latest(None, t, &signing_key()),
        Err(HistoryError::Latest {
            source: TransitionError::LatestTooShort { len: 3 }
        })
    );
}

#[test]
fn ten_racing_updates_have_one_winner() {
    const RACERS: usize = 10;
    let key = signing_key();
    let h = history();
    let (_, old) = build(&h, 1);
    let candidates: Vec<Digest> = (0..RACERS)
        .map(|i| {
            h.put_transition(&Transition::after(
                old.transition_hash(),
                Digest::of(format!("racer {i}").as_bytes()),
            ))
            .expect("put")
        })
        .collect();
    let barrier = Barrier::new(RACERS);
    let results: Vec<Result<LatestTransition, HistoryError>> = std::thread::scope(|s| {
        let handles: Vec<_> = candidates
            .iter()
            .map(|candidate| {
                let (h, old, key, barrier) = (&h, &old, &key, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    h.set_latest(Some(old), *candidate, key)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("no panic"))
            .collect()
    });
    let winners: Vec<&LatestTransition> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let winner = winners[0].transition_hash();
    assert!(candidates.contains(&winner));
    for result in &results {
        if let Err(e) = result {
            assert_eq!(
                e,
                &HistoryError::Conflict {
                    current: Some(winner)
                }
            );
        }
    }
    assert_eq!(
        h.latest_verified(&vk(&key))
            .expect("verifies")
            .map(|l| l.transition_hash()),
        Some(winner)
    );
}

// --- content-addressed objects -----------------------------------------------------------------

#[test]
fn content_addressed_round_trips() {
    let h = history();
    let cases: [&[u8]; 5] = [
        b"",
        b"{}",
        "Grüße, 世界 🌍 — ünïcödé".as_bytes(),
        &[0, 255, 1, 254, 0x80, 0xc0],
        &[b'x'; 100_000],
    ];
    for bytes in cases {
        let m = h.put_manifest(bytes).expect("put");
        assert_eq!(m, Digest::of(bytes));
        assert_eq!(h.get_manifest(&m).expect("get"), bytes);
        assert_eq!(
            h.store().get(&StoreKey::manifest(&m)),
            Ok(Some(bytes.to_vec())),
            "stored verbatim"
        );
        let p = h.put_policy(bytes).expect("put");
        assert_eq!(h.get_policy(&p).expect("get"), bytes);
        assert_eq!(h.put_manifest(bytes), Ok(m), "idempotent");
    }
    let t = Transition::after(Digest::of(b"p"), Digest::of(b"m"));
    let th = h.put_transition(&t).expect("put");
    assert_eq!(
        h.store().get(&StoreKey::transition(&th)),
        Ok(Some(t.to_bytes().to_vec())),
        "exactly the 64-byte blob"
    );
    assert_eq!(h.get_transition(&th), Ok(t));
    assert_eq!(h.put_transition(&t), Ok(th), "idempotent");
}

#[test]
fn missing_objects_are_named() {
    let h = history();
    let x = Digest::of(b"x");
    assert_eq!(
        h.get_manifest(&x),
        Err(HistoryError::NotFound {
            key: StoreKey::manifest(&x)
        })
    );
    assert_eq!(
        h.get_policy(&x),
        Err(HistoryError::NotFound {
            key: StoreKey::policy(&x)
        })
    );
    assert_eq!(
        h.get_transition(&x),
        Err(HistoryError::NotFound {
            key: StoreKey::transition(&x)
        })
    );
}

#[test]
fn corrupt_objects_are_named() {
    let h = history();
    let m = h.put_manifest(b"manifest").expect("put");
    let key = StoreKey::manifest(&m);
    h.store().set(&key, b"tampered").expect("set");
    let err = h.get_manifest(&m).expect_err("corrupt");
    assert_eq!(
        err,
        HistoryError::Corrupt {
            key: key.clone(),
            actual: Digest::of(b"tampered")
        }
    );
    assert!(
        err.to_string().starts_with(&format!(
            "`manifests/{m}` is corrupt: its content hashes to "
        )),
        "{err}"
    );

    let p = h.put_policy(b"policy").expect("put");
    h.store().set(&StoreKey::policy(&p), b"other").expect("set");
    assert!(matches!(
        h.get_policy(&p),
        Err(HistoryError::Corrupt { .. })
    ));

    let t = h
        .put_transition(&Transition::first(Digest::of(b"m")))
        .expect("put");
    h.store()
        .set(&StoreKey::transition(&t), &[0; 64])
        .expect("set");
    assert!(matches!(
        h.get_transition(&t),
        Err(HistoryError::Corrupt { key, .. }) if key == StoreKey::transition(&t)
    ));
}

#[test]
fn transition_of_wrong_length_under_its_own_hash() {
    // Re-hashing passes, parsing must not.
    let h = history();
    let blob = [7u8; 65];
    let hash = Digest::of(&blob);
    h.store()
        .set(&StoreKey::transition(&hash), &blob)
        .expect("set");
    assert_eq!(
        h.get_transition(&hash),
        Err(HistoryError::Transition {
            key: StoreKey::transition(&hash),
            source: TransitionError::Length { len: 65 }
        })
    );
}

// --- walking -----------------------------------------------------------------------------------

#[test]
fn walk_from_zero_is_empty() {
    assert_eq!(history().walk(Digest::ZERO), Ok(vec![]));
}

#[test]
fn walk_from_unknown_hash_fails() {
    let x = Digest::of(b"unknown");
    assert_eq!(
        history().walk(x),
        Err(HistoryError::NotFound {
            key: StoreKey::transition(&x)
        })
    );
}

#[test]
fn walk_counts_exactly_despite_unrelated_transitions() {
    let h = history();
    let mut previous = Digest::ZERO;
    let mut expected = Vec::new();
    for i in 0..42 {
        let t = Transition::after(previous, Digest::of(format!("m{i}").as_bytes()));
        previous = h.put_transition(&t).expect("put");
        expected.push((previous, t));
        if i < 17 {
            // An unrelated transition (a lost race's orphan) next to every early one.
            h.put_transition(&Transition::after(
                previous,
                Digest::of(format!("orphan {i}").as_bytes()),
            ))
            .expect("put");
        }
    }
    assert_eq!(h.store().len(), 42 + 17);
    let chain = h.walk(previous).expect("walk");
    assert_eq!(chain.len(), 42);
    assert_eq!(chain, expected, "oldest first, exactly the chain");
    assert!(chain[0].1.is_first());
    for pair in chain.windows(2) {
        assert_eq!(pair[1].1.previous, pair[0].0);
    }
    // A walk from the middle stops at the root too.
    assert_eq!(h.walk(expected[9].0).expect("walk").len(), 10);
}

#[test]
fn walk_detects_cycles() {
    let a = Digest::of(b"a");
    let b = Digest::of(b"b");
    // A lying lookup: a → b → a.
    let lookup = |h: &Digest| {
        Ok(Transition::after(
            if *h == a { b } else { a },
            Digest::of(b"m"),
        ))
    };
    assert_eq!(
        walk_by(a, MAX_HISTORY_LEN, lookup),
        Err(HistoryError::Cycle { at: a })
    );
    let self_loop = |h: &Digest| Ok(Transition::after(*h, Digest::of(b"m")));
    assert_eq!(
        walk_by(b, MAX_HISTORY_LEN, self_loop),
        Err(HistoryError::Cycle { at: b })
    );
}

#[test]
fn walk_is_bounded() {
    // An endless chain of distinct hashes.
    let lookup = |h: &Digest| Ok(Transition::after(Digest::of(h.as_bytes()), *h));
    assert_eq!(
        walk_by(Digest::of(b"start"), 1000, lookup),
        Err(HistoryError::TooLong { limit: 1000 })
    );
    assert_eq!(MAX_HISTORY_LEN, 1_048_576);
}

#[test]
fn walk_propagates_lookup_errors() {
    let err = HistoryError::Store(StoreError::Io {
        key: "transitions/x".into(),
        message: "disk on fire".into(),
    });
    let lookup = |_: &Digest| Err(err.clone());
    assert_eq!(walk_by(Digest::of(b"x"), 10, lookup), Err(err.clone()));
}

// --- whole histories ---------------------------------------------------------------------------

#[test]
fn append_and_chain() {
    let key = signing_key();
    let h = history();
    assert_eq!(h.chain(&vk(&key)), Ok(None), "no history");
    assert_eq!(h.load_unverified(), Ok(None));
    let (manifests, latest) = build(&h, 3);
    let verified = h.chain(&vk(&key)).expect("chain").expect("some");
    assert_eq!(verified.generation(), 3);
    assert_eq!(verified.latest(), &latest);
    let stored: Vec<&[u8]> = verified
        .entries()
        .iter()
        .map(|e| e.manifest_bytes.as_slice())
        .collect();
    assert_eq!(
        stored,
        manifests.iter().map(Vec::as_slice).collect::<Vec<_>>()
    );
    assert_eq!(
        verified.current().map(|e| e.transition_hash),
        Some(latest.transition_hash())
    );
    // What the store holds rebuilds exactly from the manifests.
    let rebuilt = chain_from_manifests(&manifests);
    for (entry, (hash, t)) in verified.entries().iter().zip(&rebuilt) {
        assert_eq!((entry.transition_hash, entry.transition), (*hash, *t));
    }
    let policies = h.referenced_policies(verified.entries()).expect("policies");
    assert_eq!(policies.len(), 3);
    for (hash, bytes) in &policies {
        assert_eq!(Digest::of(bytes), *hash);
    }

    let unverified = h.load_unverified().expect("load").expect("some");
    assert_eq!(unverified.generation(), 3);
    assert_eq!(unverified.entries(), verified.entries());
    assert_eq!(
        unverified.clone().verify(&vk(&other_key())),
        Err(HistoryError::Latest {
            source: TransitionError::BadSignature
        })
    );
    assert_eq!(unverified.verify(&vk(&key)), Ok(verified.clone()));
    assert_eq!(
        h.chain(&vk(&other_key())),
        Err(HistoryError::Latest {
            source: TransitionError::BadSignature
        })
    );
    let (entries, l) = verified.into_parts();
    assert_eq!((entries.len(), l), (3, latest));
}

#[test]
fn append_with_stale_expected_old_conflicts_and_leaves_latest() {
    let key = signing_key();
    let h = history();
    let (_, first) = build(&h, 1);
    let (m2, p2) = manifest_and_policy(2);
    let (_, second) = h.append(Some(&first), &m2, &[&p2], &key).expect("append");
    let (m3, p3) = manifest_and_policy(3);
    assert_eq!(
        h.append(Some(&first), &m3, &[&p3], &key),
        Err(HistoryError::Conflict {
            current: Some(second.transition_hash())
        })
    );
    assert_eq!(h.latest_unverified(), Ok(Some(second)));
    assert_eq!(
        h.chain(&vk(&key)).expect("ok").expect("some").generation(),
        2
    );
}

#[test]
fn referenced_policies_reports_unparsable_manifests() {
    let key = signing_key();
    let h = history();
    h.append(None, b"not json", &[b"p"], &key).expect("append");
    let entries = h
        .chain(&vk(&key))
        .expect("chain")
        .expect("some")
        .into_parts()
        .0;
    assert!(matches!(
        h.referenced_policies(&entries),
        Err(HistoryError::Manifest { key, source: ManifestError::Syntax { .. } })
            if key == StoreKey::manifest(&Digest::of(b"not json"))
    ));
}

/// Everything the Coordinator checks before it serves or recovers a history.
fn audit(h: &History<MemoryStore>, key: &VerifyingKey) -> Result<(), HistoryError> {
    let verified = h.chain(key)?.ok_or(HistoryError::Latest {
        source: TransitionError::LatestTooShort { len: 0 },
    })?;
    h.referenced_policies(verified.entries())?;
    Ok(())
}

#[test]
fn every_single_byte_change_is_detected() {
    let key = signing_key();
    let h = history();
    build(&h, 3);
    let pristine = h.store().snapshot();
    audit(&h, &vk(&key)).expect("pristine history verifies");
    assert_eq!(
        pristine.len(),
        3 * 3 + 1,
        "3 manifests, 3 policies, 3 transitions, latest"
    );
    let mut checked = 0;
    for (store_key, value) in &pristine {
        let mut tampered: Vec<Vec<u8>> = Vec::new();
        for i in 0..value.len() {
            for mask in [0x01, 0xff] {
                let mut v = value.clone();
                v[i] ^= mask;
                tampered.push(v);
            }
        }
        let mut cuts = vec![0, 1, 31, 32, 33, value.len() / 2, value.len() - 1];
        cuts.retain(|&len| len < value.len());
        for len in cuts {
            tampered.push(value[..len].to_vec());
        }
        for suffix in [&[0u8][..], b" ", value] {
            let mut v = value.clone();
            v.extend_from_slice(suffix);
            tampered.push(v);
        }
        for v in tampered {
            h.store().set(store_key, &v).expect("set");
            assert!(
                audit(&h, &vk(&key)).is_err(),
                "undetected change of {store_key}: {}",
                hex::encode(&v)
            );
            checked += 1;
        }
        h.store().set(store_key, value).expect("restore");
    }
    audit(&h, &vk(&key)).expect("restored history verifies");
    assert!(checked > 1000, "{checked}");
}

#[test]
fn removing_any_object_is_detected() {
    let key = signing_key();
    let h = history();
    build(&h, 3);
    for (store_key, value) in h.store().snapshot() {
        h.store().remove(&store_key);
        let result = audit(&h, &vk(&key));
        assert!(result.is_err(), "removal of {store_key} undetected");
        h.store().set(&store_key, &value).expect("restore");
    }
}

// --- client-side verification ------------------------------------------------------------------

#[test]
fn verify_manifest_list_accepts_the_real_history() {
    let key = signing_key();
    let h = history();
    let (manifests, latest) = build(&h, 5);
    let entries = verify_manifest_list(&manifests, &latest, &vk(&key)).expect("verifies");
    assert_eq!(entries.len(), 5);
    let stored = h.chain(&vk(&key)).expect("chain").expect("some");
    for (i, (entry, stored)) in entries.iter().zip(stored.entries()).enumerate() {
        assert_eq!(entry.generation, i as u64 + 1);
        assert_eq!(entry.status, EntryStatus::Verified);
        assert_eq!(entry.transition_hash, stored.transition_hash);
        assert_eq!(entry.manifest_hash, Digest::of(&manifests[i]));
        assert_eq!(entry.previous, stored.transition.previous);
    }
    // From the separately transported parts, as GetManifests sends them.
    let parts =
        LatestTransition::from_parts(latest.transition_hash().as_bytes(), latest.signature())
            .expect("parts");
    assert!(verify_manifest_list(&manifests, &parts, &vk(&key)).is_ok());
}

#[test]
fn verify_manifest_list_failures_mark_entries() {
    let key = signing_key();
    let h = history();
    let (manifests, latest) = build(&h, 4);
    let unverified = |n: usize, why: &ChainError| vec![EntryStatus::Unverified(why.clone()); n];
    let statuses = |f: &ChainFailure| {
        f.entries
            .iter()
            .map(|e| e.status.clone())
            .collect::<Vec<_>>()
    };

    let failure =
        verify_manifest_list(&manifests, &latest, &vk(&other_key())).expect_err("wrong key");
    assert_eq!(failure.reason, ChainError::BadSignature);
    assert_eq!(statuses(&failure), unverified(4, &ChainError::BadSignature));

    let mut changed = manifests.clone();
    changed[1].push(b' ');
    let failure = verify_manifest_list(&changed, &latest, &vk(&key)).expect_err("changed");
    let computed = chain_from_manifests(&changed).last().expect("some").0;
    let why = ChainError::TipMismatch {
        computed,
        signed: latest.transition_hash(),
    };
    assert_eq!(failure.reason, why);
    assert_eq!(statuses(&failure), unverified(4, &why));
    assert!(
        failure
            .to_string()
            .contains("a manifest was changed, added, removed or reordered")
    );

    let mut reordered = manifests.clone();
    reordered.swap(0, 1);
    assert!(matches!(
        verify_manifest_list(&reordered, &latest, &vk(&key))
            .expect_err("reordered")
            .reason,
        ChainError::TipMismatch { .. }
    ));
    assert!(matches!(
        verify_manifest_list(&manifests[1..], &latest, &vk(&key))
            .expect_err("dropped")
            .reason,
        ChainError::TipMismatch { .. }
    ));
    assert!(matches!(
        verify_manifest_list(&manifests[..3], &latest, &vk(&key))
            .expect_err("truncated")
            .reason,
        ChainError::TipMismatch { .. }
    ));

    let mut extended = manifests.clone();
    extended.push(manifest_and_policy(9).0);
    extended.push(manifest_and_policy(10).0);
    let failure = verify_manifest_list(&extended, &latest, &vk(&key)).expect_err("extended");
    let why = ChainError::BeyondSignedTip {
        signed_generation: 4,
        total: 6,
    };
    assert_eq!(failure.reason, why);
    let mut expected = vec![EntryStatus::Verified; 4];
    expected.extend(unverified(2, &why));
    assert_eq!(statuses(&failure), expected);

    let failure = verify_manifest_list::<Vec<u8>>(&[], &latest, &vk(&key)).expect_err("empty");
    assert_eq!(failure.reason, ChainError::Empty);
    assert!(failure.entries.is_empty());
}

/// A long chain verifies whole; how its cost grows is measured by the `history` criterion
/// bench (docs/PERFORMANCE.md), not here.
#[test]
fn verify_manifest_list_verifies_a_long_chain() {
    // 100,000 generations: one signature check, 200,000 SHA-256 runs.
    let manifests: Vec<Vec<u8>> = (0..100_000u32).map(|i| i.to_le_bytes().to_vec()).collect();
    let tip = chain_from_manifests(&manifests).last().expect("some").0;
    let latest = LatestTransition::sign(tip, &signing_key()).expect("sign");
    let entries = verify_manifest_list(&manifests, &latest, &vk(&signing_key())).expect("verifies");
    assert_eq!(entries.len(), 100_000);
}

// --- properties --------------------------------------------------------------------------------

proptest! {
    #[test]
    fn transition_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        match Transition::from_bytes(&bytes) {
            Ok(t) => prop_assert_eq!(t.to_bytes().to_vec(), bytes.clone()),
            Err(e) => prop_assert_eq!(e, TransitionError::Length { len: bytes.len() }),
        }
    }

    #[test]
    fn latest_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(latest) = LatestTransition::from_bytes(&bytes) {
            prop_assert_eq!(latest.to_bytes(), bytes.clone());
            prop_assert!(latest.verify(&vk(&signing_key())).is_err());
        }
    }

    #[test]
    fn latest_with_a_der_looking_signature_never_panics(
        hash in any::<[u8; 32]>(),
        r in prop::collection::vec(any::<u8>(), 0..60),
        s in prop::collection::vec(any::<u8>(), 0..60),
    ) {
        let mut bytes = hash.to_vec();
        let inner_len = 4 + r.len() + s.len();
        bytes.extend([0x30, inner_len as u8, 0x02, r.len() as u8]);
        bytes.extend(&r);
        bytes.extend([0x02, s.len() as u8]);
        bytes.extend(&s);
        if let Ok(latest) = LatestTransition::from_bytes(&bytes) {
            prop_assert_eq!(latest.to_bytes(), bytes);
            prop_assert!(latest.verify(&vk(&signing_key())).is_err());
        }
    }

    #[test]
    fn transition_round_trip(m in any::<[u8; 32]>(), p in any::<[u8; 32]>()) {
        let t = Transition::after(Digest::from_bytes(p), Digest::from_bytes(m));
        prop_assert_eq!(Transition::from_bytes(&t.to_bytes()), Ok(t));
        prop_assert_eq!(t.hash(), Digest::of(&t.to_bytes()));
    }
}

/// The worked example of docs/FORMATS.md ("Manifest history"), byte for byte.
#[test]
fn worked_example_from_the_format_docs() {
    let manifest = br#"{"Policies":{},"ReferenceValues":{},"WorkloadOwnerPubKeys":[],"SeedshareOwnerPubKeys":[]}"#;
    let key = signing_key();
    let h = history();
    let (transition, latest) = h
        .append(None, manifest, &[] as &[&[u8]], &key)
        .expect("append");
    let manifest_hash = d("1bf8b4d0025aee4150e4c589dd8cccaef14f1dd86e3b7847a81b5b7009dbb408");
    assert_eq!(transition.manifest_hash, manifest_hash);
    assert_eq!(
        hex::encode(transition.to_bytes()),
        "1bf8b4d0025aee4150e4c589dd8cccaef14f1dd86e3b7847a81b5b7009dbb408\
         0000000000000000000000000000000000000000000000000000000000000000"
    );
    let transition_hash = d("321b9ce540f2387e9416dd203caff5e4f90c261723bd1d8b9cc95c3eed8eb6e8");
    assert_eq!(transition.hash(), transition_hash);
    assert_eq!(hex::encode(latest.to_bytes()), WORKED_EXAMPLE_LATEST);
    let keys: Vec<String> = h.store().keys().iter().map(ToString::to_string).collect();
    assert_eq!(
        keys,
        [
            format!("manifests/{manifest_hash}"),
            format!("transitions/{transition_hash}"),
            "transitions/latest".to_owned(),
        ]
    );
}

const WORKED_EXAMPLE_LATEST: &str = "321b9ce540f2387e9416dd203caff5e4f90c261723bd1d8b9cc95c3eed8eb6e8306402302c990acf541edc453e242d6a6839ad9b15bf66feee9874e320e665d5d4d31957fdfdc5c5af9fa0de47dfb8d4c72e5cc8023054ce53161bffebaa7d391f7c9dfa330c122caeb3fda19be71f95cc3a2bba217c7e527a4863a0bded7dc7107100cbc0c4";
