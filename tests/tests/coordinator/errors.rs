//! Every refusal of the real Coordinator, checked by exact gRPC code *and* the machine-readable
//! reason in the `seedward-error` metadata (clients branch on the reason, never on text).
//!
//! Beyond Contrast's `userapi_test.go`: a wrong-but-well-formed seed or salt has its own
//! error (Contrast returns Unknown); replayed and expired challenges; an envelope sealed by
//! another key than the claimed owner; seed share owners compared order-insensitively;
//! transport limits; and the daemon's trace log never contains the seed or the salt.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is the failure report"
)]

use std::time::Duration;

use crate::support::*;
use rand_core::OsRng;
use seedward_proto::v1 as pb;
use seedward_shared::history::Digest;
use seedward_shared::keys::{OwnerKeyPair, WorkloadOwnerKeyPair};
use seedward_shared::seed::{Salt, Seed};
use seedward_tests::error_reason;
use tonic::Code;

/// A Coordinator that restarted after its first manifest: recovery required.
async fn recovery_required(dir: &std::path::Path, extra: &[&str]) -> Deployment {
    let mut d = Deployment::new_with(dir, extra).await;
    d.process.kill();
    d.process = start_with(dir, extra).await;
    d.client = connect(&d.process.addr).await;
    assert_eq!(d.client.status().await.unwrap().state, RECOVERY_REQUIRED);
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_refusals_are_precise_and_leave_the_state_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let d = recovery_required(&tmp.path().join("state"), &[]).await;
    let stranger = OwnerKeyPair::generate(&mut OsRng);
    let client = &d.client;
    let still_recovery_required = || async move {
        let status = client.status().await.unwrap();
        assert_eq!(state_name(status.state), "recovery required");
    };

    // A key that is not a seed share owner of the stored manifest, with the right seed.
    let c = challenge(&d.client).await;
    let req = seal(
        &c,
        &stranger,
        &stranger.public_key(),
        &d.secret.seed,
        &d.secret.salt,
    );
    let status = assert_refused(
        d.client.recover(req).await,
        Code::PermissionDenied,
        "UNKNOWN_OWNER",
    );
    assert!(
        status
            .message()
            .contains(&stranger.public_key().fingerprint().to_string()),
        "{}",
        status.message()
    );
    still_recovery_required().await;

    // Sealed by another key than the claimed owner: the envelope does not open.
    let c = challenge(&d.client).await;
    let req = seal(
        &c,
        &stranger,
        &d.keys.owner.public_key(),
        &d.secret.seed,
        &d.secret.salt,
    );
    assert_refused(
        d.client.recover(req).await,
        Code::PermissionDenied,
        "ENVELOPE_REJECTED",
    );
    still_recovery_required().await;

    // The right owner, a well-formed but wrong seed (64 random bytes) with the right salt.
    let c = challenge(&d.client).await;
    let wrong_seed = Seed::generate(&mut OsRng);
    let req = seal(
        &c,
        &d.keys.owner,
        &d.keys.owner.public_key(),
        &wrong_seed,
        &d.secret.salt,
    );
    let status = assert_refused(
        d.client.recover(req).await,
        Code::Unauthenticated,
        "WRONG_SEED",
    );
    assert!(
        status.message().contains("does not verify"),
        "{}",
        status.message()
    );
    still_recovery_required().await;

    // The right seed with a wrong salt.
    let c2 = challenge(&d.client).await;
    let wrong_salt = Salt::generate(&mut OsRng);
    let req = seal(
        &c2,
        &d.keys.owner,
        &d.keys.owner.public_key(),
        &d.secret.seed,
        &wrong_salt,
    );
    assert_refused(
        d.client.recover(req).await,
        Code::Unauthenticated,
        "WRONG_SEED",
    );
    still_recovery_required().await;

    // A challenge is single-use, even after a failed attempt: replaying its id fails.
    let req = seal(
        &c,
        &d.keys.owner,
        &d.keys.owner.public_key(),
        &d.secret.seed,
        &d.secret.salt,
    );
    let status = assert_refused(
        d.client.recover(req).await,
        Code::FailedPrecondition,
        "CHALLENGE_INVALID",
    );
    assert!(
        status.message().contains("unknown or already used"),
        "{}",
        status.message()
    );
    // An id that was never issued.
    let mut bogus = challenge(&d.client).await;
    bogus.id = random_bytes(16);
    let req = seal(
        &bogus,
        &d.keys.owner,
        &d.keys.owner.public_key(),
        &d.secret.seed,
        &d.secret.salt,
    );
    assert_refused(
        d.client.recover(req).await,
        Code::FailedPrecondition,
        "CHALLENGE_INVALID",
    );
    still_recovery_required().await;

    // Malformed fields are InvalidArgument and name the field.
    let c = challenge(&d.client).await;
    let mut req = seal(
        &c,
        &d.keys.owner,
        &d.keys.owner.public_key(),
        &d.secret.seed,
        &d.secret.salt,
    );
    req.owner_public_key.truncate(31);
    let status = assert_refused(
        d.client.recover(req).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert!(
        status.message().contains("owner_public_key"),
        "{}",
        status.message()
    );
    let mut req = seal(
        &c,
        &d.keys.owner,
        &d.keys.owner.public_key(),
        &d.secret.seed,
        &d.secret.salt,
    );
    req.encapsulated_key.push(0);
    let status = assert_refused(
        d.client.recover(req).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert!(
        status.message().contains("encapsulated_key"),
        "{}",
        status.message()
    );

    // SetManifest and GetManifests in recovery: the first refused, the second unverified.
    let (manifest, policies) = d.keys.manifest(7);
    let req = signed_update(&d.keys.workload, manifest, policies, d.latest(), true);
    let status = assert_refused(
        d.client.set_manifest(req).await,
        Code::FailedPrecondition,
        "RECOVERY_REQUIRED",
    );
    assert!(status.message().contains("recover"), "{}", status.message());
    let history = d.client.manifests().await.unwrap();
    assert!(!history.verified);

    // And after all that, the right owner still recovers; the replayed challenge from
    // before the recovery stays dead.
    d.recover().await;
    assert_eq!(d.client.status().await.unwrap().state, READY);

    // Recover when ready.
    let req = pb::RecoverRequest {
        challenge_id: random_bytes(16),
        owner_public_key: d.keys.owner.public_key().as_bytes().to_vec(),
        encapsulated_key: OwnerKeyPair::generate(&mut OsRng)
            .public_key()
            .as_bytes()
            .to_vec(),
        ciphertext: random_bytes(112),
    };
    assert_refused(
        d.client.recover(req).await,
        Code::FailedPrecondition,
        "ALREADY_READY",
    );

    // The trace-level log of the whole session never contains the seed or the salt, in hex
    // or base64 (whole or the first 16 bytes).
    let log = d.process.log();
    assert!(
        log.contains("recovered"),
        "the log is empty or not at trace level:\n{log}"
    );
    for secret in [d.secret.seed.expose(), d.secret.salt.as_bytes().as_slice()] {
        for needle in [
            hex::encode(secret),
            hex::encode(&secret[..16]),
            hex::encode_upper(&secret[..16]),
            base64(secret),
            base64(&secret[..15]),
        ] {
            assert!(
                !log.contains(&needle),
                "the daemon log contains secret bytes ({needle})"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_challenge_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = recovery_required(&tmp.path().join("state"), &["--challenge-ttl-secs", "1"]).await;
    let c = challenge(&d.client).await;
    let lifetime = c.expires_at_unix_ms
        - std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
    assert!(
        (0..=1500).contains(&lifetime),
        "the challenge lives {lifetime} ms, not ~1 s"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let req = seal(
        &c,
        &d.keys.owner,
        &d.keys.owner.public_key(),
        &d.secret.seed,
        &d.secret.salt,
    );
    let status = assert_refused(
        d.client.recover(req).await,
        Code::FailedPrecondition,
        "CHALLENGE_INVALID",
    );
    assert!(status.message().contains("expired"), "{}", status.message());
    assert_eq!(d.client.status().await.unwrap().state, RECOVERY_REQUIRED);
    // A fresh challenge used at once works.
    d.recover().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_manifest_refusals() {
    let tmp = tempfile::tempdir().unwrap();
    let process = start(&tmp.path().join("state")).await;
    let client = connect(&process.addr).await;
    let keys = Keys::generate();

    // Nothing to read yet.
    let status = assert_refused(
        client.manifests().await,
        Code::FailedPrecondition,
        "UNINITIALIZED",
    );
    assert!(
        status.message().contains("set a manifest first"),
        "{}",
        status.message()
    );

    // Malformed manifests: InvalidArgument/INVALID_MANIFEST, naming the field.
    let owner = keys.owner.public_key().to_hex();
    let cases: Vec<(String, Vec<Vec<u8>>, &str)> = vec![
        (
            format!(r#"{{"Policies":{{}},"ReferenceValues":{{}},"WorkloadOwnerPubKeys":["zz"],"SeedshareOwnerPubKeys":["{owner}"]}}"#),
            vec![],
            "WorkloadOwnerPubKeys[0]",
        ),
        (
            r#"{"Policies":{},"ReferenceValues":{},"WorkloadOwnerPubKeys":[],"SeedshareOwnerPubKeys":["abcd"]}"#.into(),
            vec![],
            "SeedshareOwnerPubKeys[0]",
        ),
        (
            r#"{"Policies":{},"ReferenceValues":{},"WorkloadOwnerPubKeys":[]}"#.into(),
            vec![],
            "SeedshareOwnerPubKeys",
        ),
        (
            r#"{"policies":{},"ReferenceValues":{},"WorkloadOwnerPubKeys":[],"SeedshareOwnerPubKeys":[]}"#.into(),
            vec![],
            "`policies`",
        ),
        (
            r#"{"Policies":{"nothex":{"SANs":[]}},"ReferenceValues":{},"WorkloadOwnerPubKeys":[],"SeedshareOwnerPubKeys":[]}"#.into(),
            vec![],
            "Policies.nothex",
        ),
        (
            format!(
                r#"{{"Policies":{{"{}":{{"SANs":["web"]}}}},"ReferenceValues":{{}},"WorkloadOwnerPubKeys":[],"SeedshareOwnerPubKeys":[]}}"#,
                Digest::of(b"policy")
            ),
            vec![],
            "Policies.",
        ),
        // Reference values are parsed strictly (docs/ATTESTATION.md): no opaque JSON.
        (
            r#"{"Policies":{},"ReferenceValues":{"test":1},"WorkloadOwnerPubKeys":[],"SeedshareOwnerPubKeys":[]}"#.into(),
            vec![],
            "`ReferenceValues.test`: unknown field",
        ),
        (
            format!(
                r#"{{"Policies":{{}},"ReferenceValues":{{"snp":[{{"ProductName":"Milan","TrustedMeasurement":"{}","MinimumTCB":{{"BootloaderVersion":0,"TEEVersion":0,"SNPVersion":256,"MicrocodeVersion":0}}}}]}},"WorkloadOwnerPubKeys":[],"SeedshareOwnerPubKeys":[]}}"#,
                "0".repeat(96)
            ),
            vec![],
            "`ReferenceValues.snp[0].MinimumTCB.SNPVersion`: expected an integer 0–255",
        ),
        (
            r#"{"Policies":{},"ReferenceValues":{},"WorkloadOwnerPubKeys":[],"SeedshareOwnerPubKeys":[]}"#.into(),
            vec![b"unreferenced".to_vec()],
            "not in the manifest's `Policies`",
        ),
        ("{\"Policies\": {".into(), vec![], "not valid JSON"),
    ];
    for (manifest, policies, field) in cases {
        let result = client
            .set_manifest(pb::SetManifestRequest {
                manifest: manifest.into_bytes(),
                policies,
                previous_transition_hash: None,
                signature: vec![],
            })
            .await;
        let status = assert_refused(result, Code::InvalidArgument, "INVALID_MANIFEST");
        let message = status.message().to_lowercase();
        assert!(
            message.contains(&field.to_lowercase()),
            "{field} not in: {}",
            status.message()
        );
    }
    let empty = client.set_manifest(pb::SetManifestRequest::default()).await;
    let status = assert_refused(empty, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert!(
        status.message().contains("manifest"),
        "{}",
        status.message()
    );

    // An update (atomic against a non-zero previous, or signed) aimed at a Coordinator without
    // history: its state directory is missing. Never silently turned into a first set.
    let (manifest, policies) = keys.manifest(0);
    let expected = Digest::from_slice(&random_bytes(32)).unwrap();
    let result = client
        .set_manifest(pb::SetManifestRequest {
            manifest: manifest.clone(),
            policies: policies.clone(),
            previous_transition_hash: Some(expected.as_bytes().to_vec()),
            signature: vec![],
        })
        .await;
    let status = assert_refused(result, Code::FailedPrecondition, "NO_HISTORY");
    assert!(
        status.message().contains(&expected.to_hex()),
        "{}",
        status.message()
    );
    assert!(
        status
            .metadata()
            .get("seedward-latest-transition")
            .is_none()
    );
    let signed = signed_update(
        &keys.workload,
        manifest.clone(),
        policies.clone(),
        Digest::ZERO,
        false,
    );
    assert_refused(
        client.set_manifest(signed).await,
        Code::FailedPrecondition,
        "NO_HISTORY",
    );
    // A previous hash of the wrong length names the field.
    let result = client
        .set_manifest(pb::SetManifestRequest {
            manifest: manifest.clone(),
            policies: policies.clone(),
            previous_transition_hash: Some(random_bytes(5)),
            signature: vec![],
        })
        .await;
    let status = assert_refused(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert!(
        status.message().contains("previous_transition_hash"),
        "{}",
        status.message()
    );
    assert_eq!(client.status().await.unwrap().state, UNINITIALIZED);

    let (first, _secret) =
        first_set(&client, manifest.clone(), policies.clone(), &keys.owner).await;
    let l1 = digest(&first.transition_hash);

    // A second "first set" (atomic against no history) loses against the existing history.
    let result = client
        .set_manifest(pb::SetManifestRequest {
            manifest: keys.manifest(1).0,
            policies: policies.clone(),
            previous_transition_hash: Some(Digest::ZERO.as_bytes().to_vec()),
            signature: vec![],
        })
        .await;
    let status = assert_refused(result, Code::FailedPrecondition, "STALE_LATEST");
    assert_eq!(latest_metadata(&status), Some(l1.to_hex()));

    // Unsigned update.
    let (m1, p1) = keys.manifest(1);
    let mut req = signed_update(&keys.workload, m1.clone(), p1.clone(), l1, true);
    req.signature.clear();
    let status = assert_refused(
        client.set_manifest(req).await,
        Code::PermissionDenied,
        "BAD_SIGNATURE",
    );
    assert!(
        status.message().contains(&proposed(l1, &m1).to_hex()),
        "{}",
        status.message()
    );
    // Signed by a key that is not a workload owner.
    let other = WorkloadOwnerKeyPair::generate(&mut OsRng);
    let req = signed_update(&other, m1.clone(), p1.clone(), l1, true);
    assert_refused(
        client.set_manifest(req).await,
        Code::PermissionDenied,
        "BAD_SIGNATURE",
    );
    // Signed by the owner, but over another transition.
    let mut req = signed_update(&keys.workload, m1.clone(), p1.clone(), l1, true);
    req.signature = keys.workload.sign_transition(l1.as_bytes()).unwrap();
    assert_refused(
        client.set_manifest(req).await,
        Code::PermissionDenied,
        "BAD_SIGNATURE",
    );
    // Garbage signature bytes.
    let mut req = signed_update(&keys.workload, m1.clone(), p1.clone(), l1, true);
    req.signature = random_bytes(40);
    assert_refused(
        client.set_manifest(req).await,
        Code::PermissionDenied,
        "BAD_SIGNATURE",
    );

    // A valid atomic update.
    let second = client
        .set_manifest(signed_update(&keys.workload, m1, p1, l1, true))
        .await
        .unwrap();
    let l2 = digest(&second.transition_hash);
    assert_eq!(second.generation, 2);
    assert!(second.seed_share_document.is_none());

    // Atomic update against the stale l1: the current latest comes back in metadata.
    let (m, p) = keys.manifest(2);
    let status = assert_refused(
        client
            .set_manifest(signed_update(&keys.workload, m, p, l1, true))
            .await,
        Code::FailedPrecondition,
        "STALE_LATEST",
    );
    assert_eq!(latest_metadata(&status), Some(l2.to_hex()));
    assert!(
        status.message().contains(&l2.to_hex()),
        "{}",
        status.message()
    );
    // A bogus previous hash is stale too.
    let (m, p) = keys.manifest(2);
    let bogus = Digest::from_slice(&random_bytes(32)).unwrap();
    let status = assert_refused(
        client
            .set_manifest(signed_update(&keys.workload, m, p, bogus, true))
            .await,
        Code::FailedPrecondition,
        "STALE_LATEST",
    );
    assert_eq!(latest_metadata(&status), Some(l2.to_hex()));
    // A non-atomic update (signed against the real latest) still works.
    let (m, p) = keys.manifest(2);
    let third = client
        .set_manifest(signed_update(&keys.workload, m, p, l2, false))
        .await
        .unwrap();
    assert_eq!(third.generation, 3);
    let l3 = digest(&third.transition_hash);

    // Changing the seed share owners is refused even when properly signed.
    let stranger = OwnerKeyPair::generate(&mut OsRng);
    for owners in [vec![&stranger], vec![&keys.owner, &stranger], vec![]] {
        let (m, p) = manifest_for(&owners, &[&keys.workload], 9);
        let status = assert_refused(
            client
                .set_manifest(signed_update(&keys.workload, m, p, l3, true))
                .await,
            Code::PermissionDenied,
            "OWNERS_CHANGED",
        );
        assert!(
            status.message().contains("SeedshareOwnerPubKeys"),
            "{}",
            status.message()
        );
    }

    // Nothing above moved the history.
    let status = client.status().await.unwrap();
    assert_eq!(
        (status.generation, digest(&status.latest_transition_hash)),
        (3, l3)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_share_owners_may_be_reordered_but_not_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let process = start(&tmp.path().join("state")).await;
    let client = connect(&process.addr).await;
    let a = OwnerKeyPair::generate(&mut OsRng);
    let b = OwnerKeyPair::generate(&mut OsRng);
    let w = WorkloadOwnerKeyPair::generate(&mut OsRng);
    let (m, p) = manifest_for(&[&a, &b], &[&w], 0);
    let (first, secret_a) = first_set(&client, m, p, &a).await;
    let document = seedward::ops::document_from_proto(first.seed_share_document.unwrap()).unwrap();
    assert_eq!(document.seed_shares.len(), 2);
    let (seed_b, _) = document.open_with(&b).unwrap();
    assert_eq!(
        seed_b.expose(),
        secret_a.seed.expose(),
        "both owners hold the same seed"
    );

    // Contrast compares the owner lists order-sensitively; Seedward compares them as sets.
    let (m, p) = manifest_for(&[&b, &a], &[&w], 1);
    let l1 = digest(&first.transition_hash);
    client
        .set_manifest(signed_update(&w, m, p, l1, true))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_immutable_deployment_refuses_every_update() {
    let tmp = tempfile::tempdir().unwrap();
    let process = start(&tmp.path().join("state")).await;
    let client = connect(&process.addr).await;
    let owner = OwnerKeyPair::generate(&mut OsRng);
    let (m, p) = manifest_for(&[&owner], &[], 0);
    let (first, _) = first_set(&client, m, p, &owner).await;
    let l1 = digest(&first.transition_hash);
    let someone = WorkloadOwnerKeyPair::generate(&mut OsRng);
    for (m, p) in [
        manifest_for(&[&owner], &[], 1),
        manifest_for(&[&owner], &[&someone], 1),
    ] {
        let status = assert_refused(
            client
                .set_manifest(signed_update(&someone, m, p, l1, true))
                .await,
            Code::PermissionDenied,
            "UPDATES_DISABLED",
        );
        assert!(
            status.message().contains("immutable"),
            "{}",
            status.message()
        );
    }
}

/// Issue #15 item 3 (the liveness half): a store operation that never finished (a FIFO as
/// `transitions/latest`, a hung mount) left liveness SERVING. Now one that runs longer than
/// `--store-stall-secs` turns liveness NOT_SERVING, logged once with the store and the key,
/// and SERVING again once it finishes. The FIFO itself no longer blocks (reads open with
/// O_NONBLOCK and refuse non-regular files), so the hang here is the store's compare-and-swap
/// waiting for its `flock`, held by another process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_store_operation_fails_liveness_until_it_finishes() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let d = Deployment::new_with(&state, &["--store-stall-secs", "2"]).await;
    let connection = seedward::client::connect(&d.process.addr, seedward::client::Trust::FirstUse)
        .await
        .unwrap();
    let health = HealthClient::new(connection.channel.clone());
    let liveness = || {
        let mut health = health.clone();
        async move {
            health
                .check(HealthCheckRequest {
                    service: "liveness".into(),
                })
                .await
                .map(|r| r.into_inner().status)
                .ok()
        }
    };
    assert_eq!(liveness().await, Some(ServingStatus::Serving as i32));

    // Another process holds the store's lock: the update's compare-and-swap waits.
    // --no-fork: `flock` execs `sleep` itself, so killing it releases the lock.
    let mut holder = std::process::Command::new("flock")
        .arg("--no-fork")
        .arg(state.join("history/.lock"))
        .args(["sleep", "600"])
        .spawn()
        .expect("flock(1)");
    std::thread::sleep(Duration::from_millis(300));
    let writer = connect(&d.process.addr).await;
    let (manifest, policies) = d.keys.manifest(1);
    let request = signed_update(&d.keys.workload, manifest, policies, d.latest(), true);
    let hung = tokio::spawn(async move { writer.set_manifest(request).await });
    assert!(
        eventually(Duration::from_secs(30), || {
            let check = liveness();
            async move { check.await == Some(ServingStatus::NotServing as i32) }
        })
        .await,
        "liveness stayed SERVING while the store hung:\n{}",
        d.process.log()
    );
    let log = d.process.log();
    assert_eq!(
        log.matches("a store operation has not finished").count(),
        1,
        "logged once:\n{log}"
    );
    assert!(log.contains("transitions/latest"), "names the key:\n{log}");
    assert!(log.contains("history"), "names the store:\n{log}");

    // The lock is released: the update lands and liveness comes back.
    holder.kill().unwrap();
    holder.wait().unwrap();
    // The client may have given up waiting (its own timeout); the daemon finishes the update.
    let _ = hung.await.unwrap();
    assert!(
        eventually(Duration::from_secs(20), || {
            let check = liveness();
            async move { check.await == Some(ServingStatus::Serving as i32) }
        })
        .await,
        "liveness did not come back:\n{}",
        d.process.log()
    );
    assert!(d.process.log().contains("the store answers again"));
    let fresh = connect(&d.process.addr).await;
    assert_eq!(
        fresh.status().await.unwrap().generation,
        2,
        "the update landed"
    );
}

/// Issue #15 item 3 (the lock half): every store operation ran under the core's state lock,
/// so one that hung (here the update's compare-and-swap, waiting for a `flock` another
/// process holds) queued every later request behind it until its deadline: status, the
/// history, and workloads' certificates. Now the store is read and written outside the
/// lock, and writers are ordered by the store's compare-and-swap, so everything that does
/// not need that write is answered while it waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_answered_while_an_update_waits_for_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let d = Deployment::new_with(&state, &["--store-stall-secs", "1"]).await;
    let mut holder = std::process::Command::new("flock")
        .arg("--no-fork")
        .arg(state.join("history/.lock"))
        .args(["sleep", "600"])
        .spawn()
        .expect("flock(1)");
    std::thread::sleep(Duration::from_millis(300));
    let writer = connect(&d.process.addr).await;
    let (manifest, policies) = d.keys.manifest(1);
    let request = signed_update(&d.keys.workload, manifest, policies, d.latest(), true);
    let hung = tokio::spawn(async move { writer.set_manifest(request).await });
    // The daemon's own word that the update is stuck in the store.
    assert!(
        eventually(Duration::from_secs(30), || {
            let log = d.process.log();
            async move { log.contains("a store operation has not finished") }
        })
        .await,
        "the update did not reach the store:\n{}",
        d.process.log()
    );

    // Status, the history and a workload's credentials, all from fresh connections.
    let client = connect(&d.process.addr).await;
    let status = client
        .status()
        .await
        .expect("GetStatus while an update hangs");
    assert_eq!(status.state, READY);
    assert_eq!(status.generation, 1, "the hung update is not visible yet");
    let history = client
        .manifests()
        .await
        .expect("GetManifests while an update hangs");
    assert_eq!(history.manifests.len(), 1);
    let (_, policies) = d.keys.manifest(0);
    let secrets = tmp.path().join("workload");
    let out = std::process::Command::new(seedward_tests::bin_dir().join("seedward-initializer"))
        .arg("--coordinator")
        .arg(&d.process.addr)
        .args(["--attestation", "none"])
        .arg("--policy-hash")
        .arg(Digest::of(&policies[0]).to_hex())
        .arg("--secrets-root")
        .arg(&secrets)
        .args(["--max-wait-secs", "20", "--initial-backoff-ms", "100"])
        .env_remove("SEEDWARD_ROOT_CA")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the initializer got no credentials while an update hung:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.process.log()
    );
    assert!(secrets.join("tls-config/cert-chain.pem").is_file());
    assert!(!hung.is_finished(), "the update did not wait for the lock");

    // Released: the update lands, and the daemon serves it.
    holder.kill().unwrap();
    holder.wait().unwrap();
    let _ = hung.await.unwrap();
    assert!(
        eventually(Duration::from_secs(20), || {
            let client = client.clone();
            async move { client.status().await.is_ok_and(|s| s.generation == 2) }
        })
        .await,
        "the update did not land:\n{}",
        d.process.log()
    );
}

/// Issue #15 item 5(a): deleting `transitions/latest` and restarting let anyone run a fresh
/// first-time setup (a new seed). The state directory keeps `initialized` (the first
/// transition hash); a first set on the empty store is refused until the operator restarts
/// with `--allow-reinitialize`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_history_refuses_a_new_first_set_without_allow_reinitialize() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let mut d = Deployment::new(&state).await;
    let marker = state.join("initialized");
    let recorded = std::fs::read_to_string(&marker).expect("the first set writes the marker");
    assert_eq!(recorded.trim(), d.latest().to_hex());
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&marker).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    d.process.kill();
    std::fs::remove_file(state.join("history/transitions/latest")).unwrap();

    let process = start(&state).await;
    let client = connect(&process.addr).await;
    assert_eq!(client.status().await.unwrap().state, UNINITIALIZED);
    let attacker = Keys::generate();
    let (manifest, policies) = attacker.manifest(0);
    let request = pb::SetManifestRequest {
        manifest,
        policies,
        previous_transition_hash: None,
        signature: vec![],
    };
    let status = assert_refused(
        client.set_manifest(request.clone()).await,
        Code::FailedPrecondition,
        "NO_HISTORY",
    );
    for needle in [
        "initialized before",
        d.latest().to_hex().as_str(),
        "--allow-reinitialize",
    ] {
        assert!(
            status.message().contains(needle),
            "{needle:?} not in: {}",
            status.message()
        );
    }
    assert_eq!(client.status().await.unwrap().state, UNINITIALIZED);
    assert!(
        process.log().contains("initialized before"),
        "logged at start:\n{}",
        process.log()
    );
    drop(process);

    // The operator says the store was deliberately wiped: a new first set, a new marker.
    let process = start_with(&state, &["--allow-reinitialize"]).await;
    let client = connect(&process.addr).await;
    let (first, _) = first_set(&client, request.manifest, request.policies, &attacker.owner).await;
    let recorded = std::fs::read_to_string(&marker).unwrap();
    assert_eq!(recorded.trim(), digest(&first.transition_hash).to_hex());
}

/// Issue #15 item 9: a NUL SAN, a 100,000-character SAN and `***` were accepted and issued
/// into mesh certificates. Each is refused by the real daemon with the field's path, and
/// nothing is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_manifest_refuses_malformed_sans() {
    let tmp = tempfile::tempdir().unwrap();
    let process = start(&tmp.path().join("state")).await;
    let client = connect(&process.addr).await;
    let keys = Keys::generate();
    let owner = keys.owner.public_key().to_hex();
    let policy = b"policy".to_vec();
    let hash = Digest::of(&policy);
    let long = "a".repeat(100_000);
    for (san, shown, problem) in [
        ("***", r#""***""#, "wildcard"),
        ("\\u0000", r#""\0""#, "control character"),
        ("web\\u0000.svc", r#""web\0.svc""#, "control character"),
        (
            long.as_str(),
            "(100000 characters)",
            "at most 253 characters",
        ),
        ("a..b", r#""a..b""#, "empty labels"),
        ("spiffe://a b", r#""spiffe://a b""#, "RFC 3986"),
    ] {
        let manifest = format!(
            r#"{{"Policies":{{"{hash}":{{"SANs":["web.svc","{san}"]}}}},"ReferenceValues":{{}},"WorkloadOwnerPubKeys":[],"SeedshareOwnerPubKeys":["{owner}"]}}"#
        );
        let result = client
            .set_manifest(pb::SetManifestRequest {
                manifest: manifest.into_bytes(),
                policies: vec![policy.clone()],
                previous_transition_hash: None,
                signature: vec![],
            })
            .await;
        let status = assert_refused(result, Code::InvalidArgument, "INVALID_MANIFEST");
        let message = status.message();
        for needle in [
            format!("`Policies.{hash}.SANs[1]`"),
            shown.to_string(),
            "is not a DNS name, IP address or URI".to_string(),
            problem.to_string(),
        ] {
            assert!(message.contains(&needle), "{needle:?} not in: {message}");
        }
        assert!(
            message.len() < 1000,
            "the SAN is truncated: {} bytes",
            message.len()
        );
        assert!(!message.contains('\0'), "no raw NUL in the message");
    }
    // Nothing was set; DNS, IP and URI SANs together are accepted.
    assert_eq!(client.status().await.unwrap().state, UNINITIALIZED);
    let manifest = format!(
        r#"{{"Policies":{{"{hash}":{{"SANs":["web.svc","*.web.svc","10.0.0.1","::1","spiffe://cluster.local/ns/default/sa/web"]}}}},"ReferenceValues":{{}},"WorkloadOwnerPubKeys":[],"SeedshareOwnerPubKeys":["{owner}"]}}"#
    );
    client
        .set_manifest(pb::SetManifestRequest {
            manifest: manifest.into_bytes(),
            policies: vec![policy],
            previous_transition_hash: None,
            signature: vec![],
        })
        .await
        .expect("valid SANs are accepted");
    assert_eq!(client.status().await.unwrap().state, READY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_are_refused_and_the_daemon_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Deployment::new(&tmp.path().join("state")).await;

    // Over the 1 MiB manifest limit, under the transport limit: the core refuses it.
    let manifest = vec![b' '; (1 << 20) + 1];
    let result = d
        .client
        .set_manifest(pb::SetManifestRequest {
            manifest,
            ..Default::default()
        })
        .await;
    let status = assert_refused(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert!(
        status.message().contains("1048577 bytes"),
        "{}",
        status.message()
    );
    assert_eq!(d.client.status().await.unwrap().state, READY);

    // Too many policies, each small.
    let result = d
        .client
        .set_manifest(pb::SetManifestRequest {
            manifest: d.keys.manifest(1).0,
            policies: vec![vec![b'x'; 1]; 1025],
            ..Default::default()
        })
        .await;
    let status = assert_refused(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert!(
        status.message().contains("policies"),
        "{}",
        status.message()
    );

    // Over the 16 MiB transport limit: tonic refuses to decode it, before the core sees it.
    let result = d
        .client
        .set_manifest(pb::SetManifestRequest {
            manifest: vec![b' '; 17 << 20],
            ..Default::default()
        })
        .await;
    let status = result.expect_err("a 17 MiB message must be refused");
    assert_eq!(status.code(), Code::OutOfRange, "{}", describe(&status));
    assert!(
        error_reason(&status).is_none(),
        "refused by the transport, not the core"
    );
    assert!(
        status.message().contains("message length too large"),
        "{}",
        status.message()
    );

    // Still serving, on the same and on a new connection.
    assert_eq!(d.client.status().await.unwrap().state, READY);
    let fresh = connect(&d.process.addr).await;
    assert_eq!(fresh.status().await.unwrap().state, READY);
    assert_eq!(fresh.manifests().await.unwrap().manifests.len(), 1);
}

fn latest_metadata(status: &tonic::Status) -> Option<String> {
    status
        .metadata()
        .get("seedward-latest-transition")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Standard base64 with padding, written out so that the test needs no extra dependency.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_the_standard() {
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    let salt = Salt::from_bytes([7; 32]);
    assert_eq!(base64(salt.as_bytes()), salt.to_base64());
}
