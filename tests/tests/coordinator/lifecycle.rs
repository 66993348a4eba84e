//! The Coordinator's life cycle with the real binary and the operator's own flows
//! (`seedward::ops`): set → update → SIGKILL → restart → recovery required → pre-flight on the
//! unverified history → recover → ready with the same root CA key and the same history.
//! Also: SIGTERM is a clean shutdown (exit 0) and a restarted process holds no keys.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is the failure report"
)]

use std::time::Duration;

use crate::support::*;
use std::sync::Arc;

use seedward::client::evidence::AppraisalPolicy;
use seedward::ops::{self, CoordinatorState, OpsError, SigningKeySource, TrustLevel};
use seedward::workspace::{ROOT_CA_FILE, Workspace};
use seedward_attestation::EvidenceKind;
use seedward_shared::manifest::Manifest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_crash_restart_recover_keeps_root_ca_key_and_history() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let workspace = Workspace::new(tmp.path().join("workspace"));
    let keys = Keys::generate();

    // Setup through the operator's flow: seed shares, root CA and manifest land in the workspace.
    let mut process = start(&state).await;
    let policy = Arc::new(AppraisalPolicy::default());
    let conn = ops::connect(&process.addr, &workspace, &policy)
        .await
        .unwrap();
    assert_eq!(conn.trust, TrustLevel::FirstUse);
    let before = ops::status(&conn).await.unwrap();
    assert_eq!(before.state, CoordinatorState::Uninitialized);
    let evidence = before.evidence.as_ref().expect("evidence");
    assert_eq!(evidence.kind, EvidenceKind::None);
    assert!(!evidence.attested() && evidence.unattested());
    assert!(
        evidence.tls_key_matches && evidence.binding_ok,
        "{}",
        evidence.summary()
    );

    let (bytes, policies) = keys.manifest(0);
    let manifest = Manifest::parse(bytes).unwrap();
    // Development evidence: refused unless acknowledged, and nothing was sent.
    let refused = ops::set_first_manifest(&conn, &workspace, &manifest, policies.clone(), false)
        .await
        .unwrap_err();
    assert!(matches!(refused, OpsError::Unattested { .. }), "{refused}");
    assert_eq!(
        ops::status(&conn).await.unwrap().state,
        CoordinatorState::Uninitialized
    );
    let setup = ops::set_first_manifest(&conn, &workspace, &manifest, policies.clone(), true)
        .await
        .unwrap();
    assert_eq!((setup.generation, setup.seed_shares), (1, 1));

    // An update through the pinned connection, so the history has two generations.
    let pinned = ops::connect(&process.addr, &workspace, &policy)
        .await
        .unwrap();
    assert_eq!(pinned.trust, TrustLevel::Pinned);
    let (bytes, policies) = keys.manifest(1);
    let second = Manifest::parse(bytes).unwrap();
    let outcome = ops::update_manifest(
        &pinned,
        &workspace,
        &second,
        policies,
        &keys.workload,
        setup.transition,
    )
    .await
    .unwrap();
    assert_eq!(outcome.generation, 2);
    let ready = ops::status(&pinned).await.unwrap();
    assert_eq!(ready.state, CoordinatorState::Ready);
    assert_eq!(ready.latest, Some(outcome.transition));
    let root_before = ops::cert_public_key(ready.root_ca_pem.as_deref().unwrap()).unwrap();
    let mesh_before = ready.mesh_ca_pem.clone().unwrap();

    // Crash. The keys die with the process.
    process.kill();
    let process = start(&state).await;
    let conn = ops::connect(&process.addr, &workspace, &policy)
        .await
        .unwrap();
    assert_eq!(
        conn.trust,
        TrustLevel::PinMismatch,
        "a Coordinator awaiting recovery has no root CA key, so its certificate cannot chain to the pin"
    );
    let status = ops::status(&conn).await.unwrap();
    assert_eq!(status.state, CoordinatorState::RecoveryRequired);
    assert_eq!(status.generation, 2);
    assert_eq!(status.latest, Some(outcome.transition));
    assert!(status.root_ca_pem.is_none());
    let challenge = status.challenge.clone().expect("a recovery challenge");
    assert_eq!(challenge.id.len(), 16);
    assert_eq!(challenge.public_key.len(), 32);
    assert_eq!(challenge.nonce.len(), 32);
    assert_eq!(
        challenge.latest_transition_hash,
        outcome.transition.as_bytes().to_vec()
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        challenge.expires_at_unix_ms > now_ms,
        "the challenge is already expired"
    );
    // The evidence binds this connection's TLS key and the challenge key.
    let evidence = status.evidence.as_ref().unwrap();
    assert!(
        evidence.tls_key_matches && evidence.binding_ok,
        "{}",
        evidence.summary()
    );
    let raw = conn.client.status().await.unwrap();
    let raw_evidence = raw.evidence.unwrap();
    assert_eq!(
        raw_evidence.challenge_public_key,
        raw.challenge.unwrap().public_key
    );
    // An unused challenge is offered again while more than half of its lifetime is left, so
    // a flood of GetStatus calls cannot evict the one an owner is sealing to.
    let again = ops::status(&conn).await.unwrap().challenge.unwrap();
    assert_eq!(again.id, challenge.id);

    // The history is served unverified, so the owner can pre-flight; it still verifies with
    // the key derived from the seed share.
    let unverified = conn.client.manifests().await.unwrap();
    assert!(!unverified.verified);
    assert_eq!(unverified.manifests.len(), 2);
    assert!(unverified.root_ca_cert.is_empty());
    let share = ops::decrypt_share(&workspace, None, &keys.owner).unwrap();
    let key = *share.engine().unwrap().transaction_verifying_key();
    let audited =
        ops::audit_response(unverified, Some((key, SigningKeySource::SeedShare))).unwrap();
    assert!(audited.all_verified(), "{:?}", audited.failure);
    assert!(!audited.coordinator_verified);

    // Recover through the operator's flow.
    let preflight = ops::recovery_preflight(&conn, &share).await.unwrap();
    assert_eq!(
        (preflight.generation, preflight.latest),
        (2, outcome.transition)
    );
    let share_again = ops::decrypt_share(&workspace, None, &keys.owner).unwrap();
    let refused = ops::send_recovery(&conn, &keys.owner, share_again, &preflight, false)
        .await
        .unwrap_err();
    assert!(matches!(refused, OpsError::Unattested { .. }), "{refused}");
    let response = ops::send_recovery(&conn, &keys.owner, share, &preflight, true)
        .await
        .unwrap();
    assert_eq!(response.generation, 2);
    assert_eq!(
        response.latest_transition_hash,
        outcome.transition.as_bytes().to_vec()
    );
    let reverify = ops::reverify_after_recovery(&conn, &workspace, &preflight, &response)
        .await
        .unwrap();
    assert!(reverify.root_ca_matches_pin);
    assert!(reverify.history_unchanged);
    assert!(
        reverify.mesh_ca_changed,
        "a recovered Coordinator has a new mesh CA"
    );
    assert_ne!(response.mesh_ca_cert, mesh_before);

    // Ready again, pinned by the root CA key saved at setup.
    let pinned = ops::connect(&process.addr, &workspace, &policy)
        .await
        .unwrap();
    assert_eq!(pinned.trust, TrustLevel::Pinned);
    let after = ops::status(&pinned).await.unwrap();
    assert_eq!(after.state, CoordinatorState::Ready);
    assert_eq!(
        (after.generation, after.latest),
        (2, Some(outcome.transition))
    );
    assert!(after.challenge.is_none());
    let root_after = ops::cert_public_key(after.root_ca_pem.as_deref().unwrap()).unwrap();
    assert_eq!(
        root_after, root_before,
        "the root CA key is derived from the seed: stable across recoveries"
    );
    let saved = workspace.read(ROOT_CA_FILE).unwrap().unwrap();
    assert_eq!(
        ops::cert_public_key(&String::from_utf8(saved).unwrap()),
        Some(root_before)
    );

    let history = pinned.client.manifests().await.unwrap();
    assert!(history.verified);
    assert_eq!(history.policies.len(), 2);
    let share = ops::decrypt_share(&workspace, None, &keys.owner).unwrap();
    let key = *share.engine().unwrap().transaction_verifying_key();
    let audited = ops::audit_response(history, Some((key, SigningKeySource::SeedShare))).unwrap();
    assert!(audited.all_verified(), "{:?}", audited.failure);
    assert_eq!(audited.generation(), 2);
    assert_eq!(audited.latest.transition_hash(), outcome.transition);
    assert_eq!(audited.entries[0].manifest_bytes, manifest.raw());
    assert_eq!(audited.entries[1].manifest_bytes, second.raw());

    // A recovered Coordinator takes updates again.
    let (bytes, policies) = keys.manifest(2);
    let third = Manifest::parse(bytes).unwrap();
    let next = ops::update_manifest(
        &pinned,
        &workspace,
        &third,
        policies,
        &keys.workload,
        outcome.transition,
    )
    .await
    .unwrap();
    assert_eq!(next.generation, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_is_a_clean_shutdown_and_the_keys_do_not_survive_it() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let mut deployment = Deployment::new(&state).await;
    let latest = deployment.latest();

    assert!(deployment.process.terminate(), "SIGTERM must exit 0");
    let log = deployment.process.log();
    assert!(log.contains("shutting down"), "log:\n{log}");
    assert!(log.contains("Coordinator stopped"), "log:\n{log}");

    // A graceful stop is still a stop: keys are never persisted.
    deployment.process = start(&state).await;
    deployment.client = connect(&deployment.process.addr).await;
    let status = deployment.client.status().await.unwrap();
    assert_eq!(state_name(status.state), "recovery required");
    assert_eq!(
        (status.generation, digest(&status.latest_transition_hash)),
        (1, latest)
    );
    let recovered = deployment.recover().await;
    assert_eq!(digest(&recovered.latest_transition_hash), latest);

    // A SIGTERM while a client is connected and idle still exits 0, promptly.
    let started = std::time::Instant::now();
    assert!(deployment.process.terminate());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "shutdown took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_before_setup_stays_uninitialized() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let mut process = start(&state).await;
    let client = connect(&process.addr).await;
    assert_eq!(client.status().await.unwrap().state, UNINITIALIZED);
    process.kill();
    let process = start(&state).await;
    let client = connect(&process.addr).await;
    let status = client.status().await.unwrap();
    assert_eq!(status.state, UNINITIALIZED);
    assert!(status.challenge.is_none());
    assert_eq!(status.generation, 0);
    assert!(status.latest_transition_hash.is_empty());
}
