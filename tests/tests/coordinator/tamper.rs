//! The tamper matrix: every kind of file of the on-disk history (`<state>/history/…`), damaged
//! every way (one byte flipped at several positions, truncated, deleted, a byte appended),
//! then the real daemon restarted on it. The Coordinator must fail closed:
//! - it never serves a damaged history as verified: `GetStatus`/`GetManifests` fail with
//!   DataLoss/HISTORY_CORRUPT naming the file, or serve it unverified and the client's own
//!   verification (with the key derived from the seed) rejects it;
//! - recovery with the right owner fails (WRONG_SEED for a damaged latest signature,
//!   HISTORY_CORRUPT for damaged blobs) and the state stays "recovery required";
//! - once the files are restored from a backup, the same daemon recovers without a restart.
//!
//! Stray files (a crash's `.tmp-*` leftovers, unrelated blobs) are harmless.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is the failure report"
)]

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::*;
use seedward::ops::SigningKeySource;
use seedward_proto::v1 as pb;
use seedward_shared::history::{Digest, Transition};
use seedward_tests::error_reason;
use tonic::Code;

/// A deployment with two generations, stopped, whose history is copied for every case.
struct Pristine {
    _tmp: tempfile::TempDir,
    state: PathBuf,
    keys: Keys,
    secret: Secret,
    /// Oldest first.
    manifests: Vec<Digest>,
    transitions: Vec<Digest>,
    policies: Vec<Digest>,
}

async fn pristine() -> Pristine {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("pristine");
    let mut d = Deployment::new(&state).await;
    let l1 = d.latest();
    let second = update(&d.client, &d.keys, 1, l1).await.unwrap();
    let l2 = digest(&second.transition_hash);
    let history = d.client.manifests().await.unwrap();
    d.process.kill();
    let manifests: Vec<Digest> = history.manifests.iter().map(|m| Digest::of(m)).collect();
    let policies: Vec<Digest> = history.policies.iter().map(|p| Digest::of(p)).collect();
    assert_eq!(manifests.len(), 2);
    assert_eq!(policies.len(), 2);
    assert_eq!(Transition::first(manifests[0]).hash(), l1);
    let Deployment { keys, secret, .. } = d;
    Pristine {
        _tmp: tmp,
        state,
        keys,
        secret,
        manifests,
        transitions: vec![l1, l2],
        policies,
    }
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    Flip(Position),
    Truncate(Length),
    Delete,
    Append,
    /// `transitions/latest` only: point the hash at the previous transition, keep the signature.
    Rollback,
    /// Swap the file's contents with the other blob of its kind (two well-formed blobs,
    /// each under the other's name).
    SwapWithSibling,
}

#[derive(Debug, Clone, Copy)]
enum Position {
    First,
    Middle,
    Last,
    /// Byte `n` from the start.
    At(usize),
}

#[derive(Debug, Clone, Copy)]
enum Length {
    Half,
    Zero,
    /// Keep the first `n` bytes.
    To(usize),
}

/// What a damaged store must lead to.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// `GetStatus` already fails, naming this key (an unparsable latest pointer: there is
    /// not even a transition hash to bind a challenge to).
    CorruptAtStatus(String),
    /// `GetStatus` says "recovery required"; `GetManifests` and `Recover` fail naming this key.
    CorruptAtRead(String),
    /// As `CorruptAtRead`, naming either key (both files are damaged; which one is read
    /// first is the store's business).
    CorruptAtReadEither(String, String),
    /// Served unverified; the client's verification and `Recover` (WRONG_SEED) reject it.
    BadSignature,
    /// Either of the above for `transitions/latest` (the damage may or may not leave
    /// well-formed DER).
    LatestCorruptOrBadSignature,
    /// No latest pointer: the store looks uninitialized; nothing is served.
    Uninitialized,
}

fn damage(path: &Path, how: Damage, pristine: &Pristine) {
    let mut bytes = fs::read(path).unwrap();
    let index = |p: Position, len: usize| match p {
        Position::First => 0,
        Position::Middle => len / 2,
        Position::Last => len - 1,
        Position::At(n) => n,
    };
    match how {
        Damage::Flip(p) => {
            let i = index(p, bytes.len());
            bytes[i] ^= 0x01;
            fs::write(path, bytes).unwrap();
        }
        Damage::Truncate(l) => {
            let keep = match l {
                Length::Half => bytes.len() / 2,
                Length::Zero => 0,
                Length::To(n) => n,
            };
            bytes.truncate(keep);
            fs::write(path, bytes).unwrap();
        }
        Damage::Delete => fs::remove_file(path).unwrap(),
        Damage::Append => {
            bytes.push(0);
            fs::write(path, bytes).unwrap();
        }
        Damage::Rollback => {
            bytes[..32].copy_from_slice(pristine.transitions[0].as_bytes());
            fs::write(path, bytes).unwrap();
        }
        Damage::SwapWithSibling => {
            let sibling = sibling_of(path);
            let other = fs::read(&sibling).unwrap();
            assert_ne!(bytes, other, "the two blobs must differ");
            fs::write(path, other).unwrap();
            fs::write(&sibling, bytes).unwrap();
        }
    }
}

/// The other blob of the same kind (the pristine history has two of each).
fn sibling_of(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap();
    let mut others: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p != path && p.file_name().is_some_and(|n| n.len() == 64) // hex keys only
        })
        .collect();
    others.sort();
    others.into_iter().next().expect("a sibling blob")
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Replaces `state/history` with the pristine copy (a restore from backup).
fn restore(pristine: &Pristine, state: &Path) {
    let history = state.join("history");
    fs::remove_dir_all(&history).unwrap();
    copy_dir(&pristine.state.join("history"), &history);
}

fn assert_corrupt(status: &tonic::Status, key: &str, context: &str) {
    assert_eq!(
        (status.code(), error_reason(status)),
        (Code::DataLoss, Some("HISTORY_CORRUPT")),
        "{context}: {}",
        describe(status)
    );
    assert!(
        status.message().contains(key),
        "{context}: {key} not named in: {}",
        status.message()
    );
}

/// Runs one case: copy, damage, start, check fail-closed, restore, recover.
async fn run_case(p: &Pristine, file: &str, how: Damage, expect: Expect) {
    let context = format!("{file} {how:?}");
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    copy_dir(&p.state, &state);
    damage(&state.join("history").join(file), how, p);

    let process = start(&state).await;
    let client = connect(&process.addr).await;
    let status = client.status().await;
    let manifests = client.manifests().await;

    let outcome = match (&status, &manifests) {
        (Err(s), Err(m)) => {
            assert_eq!(s.code(), m.code(), "{context}");
            assert_eq!(s.message(), m.message(), "{context}");
            Expect::CorruptAtStatus(s.message().to_string())
        }
        (Ok(st), Err(m)) if st.state == UNINITIALIZED => {
            assert_eq!(
                (m.code(), error_reason(m)),
                (Code::FailedPrecondition, Some("UNINITIALIZED")),
                "{context}: {}",
                describe(m)
            );
            Expect::Uninitialized
        }
        (Ok(st), Err(m)) => {
            assert_eq!(state_name(st.state), "recovery required", "{context}");
            Expect::CorruptAtRead(m.message().to_string())
        }
        (Ok(st), Ok(history)) => {
            assert_eq!(state_name(st.state), "recovery required", "{context}");
            assert!(
                !history.verified,
                "{context}: a damaged history was served as verified"
            );
            let audited = audit(history.clone(), &p.secret);
            assert!(
                !audited.all_verified(),
                "{context}: the client verified a damaged history"
            );
            assert_eq!(audited.key_source, SigningKeySource::SeedShare);
            Expect::BadSignature
        }
        (Err(s), Ok(_)) => panic!(
            "{context}: GetStatus failed but GetManifests worked: {}",
            describe(s)
        ),
    };

    // Check the outcome against the expectation, exactly where the expectation is exact.
    match (&expect, &outcome) {
        (Expect::CorruptAtStatus(key), Expect::CorruptAtStatus(_)) => {
            assert_corrupt(status.as_ref().unwrap_err(), key, &context);
        }
        (Expect::CorruptAtRead(key), Expect::CorruptAtRead(_)) => {
            assert_corrupt(manifests.as_ref().unwrap_err(), key, &context);
        }
        (Expect::CorruptAtReadEither(a, b), Expect::CorruptAtRead(message)) => {
            let key = if message.contains(a.as_str()) { a } else { b };
            assert_corrupt(manifests.as_ref().unwrap_err(), key, &context);
        }
        (Expect::BadSignature, Expect::BadSignature)
        | (Expect::Uninitialized, Expect::Uninitialized) => {}
        (Expect::LatestCorruptOrBadSignature, Expect::CorruptAtStatus(_)) => {
            assert_corrupt(status.as_ref().unwrap_err(), "transitions/latest", &context);
        }
        (Expect::LatestCorruptOrBadSignature, Expect::BadSignature) => {}
        _ => panic!("{context}: expected {expect:?}, got {outcome:?}"),
    }

    // Recovery with the right owner and the right seed fails closed.
    match &outcome {
        Expect::CorruptAtStatus(_) => {
            // No challenge can be had, so no seed can be sent; a made-up challenge is refused.
            let request = pb::RecoverRequest {
                challenge_id: random_bytes(16),
                owner_public_key: p.keys.owner.public_key().as_bytes().to_vec(),
                encapsulated_key: p.keys.owner.public_key().as_bytes().to_vec(),
                ciphertext: random_bytes(112),
            };
            let refused = client
                .recover(request)
                .await
                .expect_err("recovery must fail");
            assert!(
                matches!(
                    error_reason(&refused),
                    Some("HISTORY_CORRUPT") | Some("CHALLENGE_INVALID")
                ),
                "{context}: {}",
                describe(&refused)
            );
        }
        Expect::Uninitialized => {
            let request = pb::RecoverRequest {
                challenge_id: random_bytes(16),
                owner_public_key: p.keys.owner.public_key().as_bytes().to_vec(),
                encapsulated_key: p.keys.owner.public_key().as_bytes().to_vec(),
                ciphertext: random_bytes(112),
            };
            assert_refused(
                client.recover(request).await,
                Code::FailedPrecondition,
                "UNINITIALIZED",
            );
        }
        Expect::CorruptAtRead(_) => {
            let refused = recover(&client, &p.keys.owner, &p.secret).await;
            let refused = assert_refused(refused, Code::DataLoss, "HISTORY_CORRUPT");
            if let Expect::CorruptAtRead(key) = &expect {
                assert!(
                    refused.message().contains(key.as_str()),
                    "{context}: {}",
                    refused.message()
                );
            }
            let st = client.status().await.unwrap();
            assert_eq!(state_name(st.state), "recovery required", "{context}");
        }
        Expect::BadSignature => {
            let refused = recover(&client, &p.keys.owner, &p.secret).await;
            assert_refused(refused, Code::Unauthenticated, "WRONG_SEED");
            let st = client.status().await.unwrap();
            assert_eq!(state_name(st.state), "recovery required", "{context}");
        }
        Expect::LatestCorruptOrBadSignature | Expect::CorruptAtReadEither(..) => unreachable!(),
    }

    // Restored from a backup, the same process recovers (no restart needed) and serves the
    // original, verifying history.
    restore(p, &state);
    let recovered = recover(&client, &p.keys.owner, &p.secret)
        .await
        .unwrap_or_else(|s| {
            panic!(
                "{context}: recovery after the restore failed: {}",
                describe(&s)
            )
        });
    assert_eq!(
        digest(&recovered.latest_transition_hash),
        p.transitions[1],
        "{context}"
    );
    let history = client.manifests().await.unwrap();
    assert!(history.verified, "{context}");
    assert!(audit(history, &p.secret).all_verified(), "{context}");
}

fn hex_key(namespace: &str, hash: &Digest) -> String {
    format!("{namespace}/{}", hash.to_hex())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_blobs_fail_closed() {
    let p = pristine().await;
    let blob_damage = [
        Damage::Flip(Position::First),
        Damage::Flip(Position::Middle),
        Damage::Flip(Position::Last),
        Damage::Truncate(Length::Half),
        Damage::Truncate(Length::Zero),
        Damage::Delete,
        Damage::Append,
    ];
    let mut cases = 0;
    for how in blob_damage {
        // Manifests: the oldest and the active one. The transitions are intact, so the
        // Coordinator can still say where it stands; reading the manifests fails.
        for m in &p.manifests {
            let key = hex_key("manifests", m);
            run_case(&p, &key, how, Expect::CorruptAtRead(key.clone())).await;
            cases += 1;
        }
        let key = hex_key("policies", &p.policies[0]);
        run_case(&p, &key, how, Expect::CorruptAtRead(key.clone())).await;
        cases += 1;
        // Transitions: GetStatus still says "recovery required" (generation unknown: 0),
        // reading the history or recovering fails naming the file.
        for t in &p.transitions {
            let key = hex_key("transitions", t);
            run_case(&p, &key, how, Expect::CorruptAtRead(key.clone())).await;
            cases += 1;
        }
    }
    eprintln!("tamper matrix: {cases} damaged-blob cases failed closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_blobs_fail_closed() {
    let p = pristine().await;
    let kinds = [
        ("manifests", &p.manifests),
        ("policies", &p.policies),
        ("transitions", &p.transitions),
    ];
    for (namespace, hashes) in kinds {
        assert_eq!(hashes.len(), 2, "{namespace}");
        let (a, b) = (
            hex_key(namespace, &hashes[0]),
            hex_key(namespace, &hashes[1]),
        );
        run_case(
            &p,
            &a,
            Damage::SwapWithSibling,
            Expect::CorruptAtReadEither(a.clone(), b.clone()),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_latest_pointer_fails_closed() {
    let p = pristine().await;
    let latest = "transitions/latest";
    let flipped = |i: usize| {
        let mut bytes = p.transitions[1].to_bytes();
        bytes[i] ^= 0x01;
        hex_key("transitions", &Digest::from_bytes(bytes))
    };
    let cases = [
        // The hash: it now names a transition that does not exist.
        (
            Damage::Flip(Position::First),
            Expect::CorruptAtRead(flipped(0)),
        ),
        (
            Damage::Flip(Position::At(31)),
            Expect::CorruptAtRead(flipped(31)),
        ),
        // The DER signature's SEQUENCE tag: no longer DER.
        (
            Damage::Flip(Position::At(32)),
            Expect::CorruptAtStatus(latest.into()),
        ),
        // Inside the signature: still DER, no longer valid.
        (Damage::Flip(Position::Last), Expect::BadSignature),
        (
            Damage::Flip(Position::At(40)),
            Expect::LatestCorruptOrBadSignature,
        ),
        (
            Damage::Flip(Position::Middle),
            Expect::LatestCorruptOrBadSignature,
        ),
        // Rolled back to the previous transition with the current signature.
        (Damage::Rollback, Expect::BadSignature),
        (
            Damage::Truncate(Length::To(32)),
            Expect::CorruptAtStatus(latest.into()),
        ),
        (
            Damage::Truncate(Length::To(16)),
            Expect::CorruptAtStatus(latest.into()),
        ),
        (
            Damage::Truncate(Length::Half),
            Expect::CorruptAtStatus(latest.into()),
        ),
        (
            Damage::Truncate(Length::Zero),
            Expect::CorruptAtStatus(latest.into()),
        ),
        (Damage::Append, Expect::LatestCorruptOrBadSignature),
        (Damage::Delete, Expect::Uninitialized),
    ];
    for (how, expect) in cases {
        run_case(&p, latest, how, expect).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stray_files_are_harmless() {
    let p = pristine().await;
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    copy_dir(&p.state, &state);
    let history = state.join("history");
    // Leftovers of a crash mid-write, in every directory.
    for dir in ["", "manifests", "policies", "transitions"] {
        fs::write(
            history.join(dir).join(".tmp-latest-1234-00000000deadbeef"),
            b"torn",
        )
        .unwrap();
    }
    // An unrelated but well-formed transition, manifest and policy (e.g. a lost race's blobs).
    let manifest = p.keys.manifest(99).0;
    let manifest_hash = Digest::of(&manifest);
    fs::write(
        history.join(hex_key("manifests", &manifest_hash)),
        &manifest,
    )
    .unwrap();
    let orphan = Transition::after(p.transitions[0], manifest_hash);
    fs::write(
        history.join(hex_key("transitions", &orphan.hash())),
        orphan.to_bytes(),
    )
    .unwrap();
    fs::write(
        history.join(hex_key("policies", &Digest::of(b"orphan"))),
        b"orphan",
    )
    .unwrap();
    // Files that are not keys at all.
    fs::write(history.join("transitions/README"), b"not a key").unwrap();
    fs::write(history.join("notes.txt"), b"not a key").unwrap();

    let process = start(&state).await;
    let client = connect(&process.addr).await;
    let status = client.status().await.unwrap();
    assert_eq!(state_name(status.state), "recovery required");
    assert_eq!(status.generation, 2);
    let recovered = recover(&client, &p.keys.owner, &p.secret).await.unwrap();
    assert_eq!(digest(&recovered.latest_transition_hash), p.transitions[1]);
    let history = client.manifests().await.unwrap();
    assert_eq!(history.manifests.len(), 2);
    assert_eq!(history.policies.len(), 2, "orphan policies are not served");
    assert!(audit(history, &p.secret).all_verified());
    // And the store keeps working around them.
    let keys = &p.keys;
    let next = update(&client, keys, 2, p.transitions[1]).await.unwrap();
    assert_eq!(next.generation, 3);
}
