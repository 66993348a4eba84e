//! Whole-screen snapshots: the app driven by scripted keys (through the real keymap) and
//! scripted effect results, drawn into a `TestBackend`, compared with insta.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::PathBuf;

use p384::pkcs8::EncodePrivateKey;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use seedward_proto::v1 as pb;
use seedward_shared::history::{Digest, LatestTransition, Transition};
use seedward_shared::keys::{OwnerKeyPair, WorkloadOwnerKeyPair};
use seedward_shared::manifest::Manifest;

use super::app::{self, App, Location};
use super::components::popup::Popup;
use super::effects::{self, BundleExport, Effect, Event, LoadedManifest};
use super::keymap::{self, Key};
use super::screens::Screen;
use super::screens::history::HistoryView;
use super::screens::setup::SetupStep;
use super::screens::update::UpdateStep;
use crate::keystore::{Backend, KeyInfo, KeyKind};
use crate::ops::{
    self, CoordinatorState, DrillReport, EvidenceView, SetupOutcome, SigningKeySource, StatusView,
    TrustLevel,
};

pub(super) fn owner_key() -> OwnerKeyPair {
    OwnerKeyPair::from_secret_bytes([7; 32])
}

pub(super) fn workload_key() -> WorkloadOwnerKeyPair {
    let sk = p384::SecretKey::from_slice(&[0x11; 48]).unwrap();
    WorkloadOwnerKeyPair::from_pkcs8_der(sk.to_pkcs8_der().unwrap().as_bytes()).unwrap()
}

pub(super) fn key_infos() -> Vec<KeyInfo> {
    let o = owner_key().public_key();
    let w = workload_key().public_key();
    vec![
        KeyInfo {
            name: "seedshare-owner".into(),
            kind: KeyKind::SeedShareOwner,
            backend: Backend::Keyring,
            public_hex: o.to_hex(),
            fingerprint: o.fingerprint().to_string(),
        },
        KeyInfo {
            name: "workload-owner".into(),
            kind: KeyKind::WorkloadOwner,
            backend: Backend::Keyring,
            public_hex: w.to_hex(),
            fingerprint: w.fingerprint().to_string(),
        },
    ]
}

pub(super) fn status(state: CoordinatorState, trust: TrustLevel, generation: u64) -> StatusView {
    StatusView {
        address: "127.0.0.1:1313".into(),
        trust,
        state,
        generation,
        latest: (generation > 0).then(|| Digest::of(b"latest transition")),
        root_ca_pem: None,
        root_ca_fingerprint: (generation > 0)
            .then(|| "3f1c:9a0e:77b2:c4d1:0e5a:91f3:2b6c:d8e7".to_string()),
        mesh_ca_pem: None,
        evidence: Some(unattested_evidence()),
        challenge: None,
        version: "0.1.0".into(),
        replica_set: None,
        last_recovery: None,
    }
}

/// Development evidence that binds the connection it came on, as a real status shows it.
pub(super) fn unattested_evidence() -> EvidenceView {
    use crate::client::evidence::{AppraisalPolicy, Expectation, appraise};
    let tls: [u8; 32] = *Digest::of(b"tls key").as_bytes();
    let evidence = seedward_proto::v1::Evidence {
        kind: "none".into(),
        tls_spki_sha256: tls.to_vec(),
        report_data: seedward_attestation::report_data(&tls, None).to_vec(),
        ..Default::default()
    };
    appraise(
        &evidence,
        Some(tls),
        None,
        &Expectation::unknown(),
        &AppraisalPolicy::default(),
        std::time::SystemTime::UNIX_EPOCH,
    )
}

pub(super) fn new_app() -> App {
    App::new(
        Location::Local {
            address: "127.0.0.1:1313".into(),
            state_dir: PathBuf::from("/home/op/.local/share/seedward/coordinator"),
        },
        PathBuf::from("/home/op/deploy"),
        true,
    )
}

pub(super) fn with_status(app: &mut App, s: StatusView) {
    app::on_event(
        app,
        Event::Status {
            result: Ok(Box::new(s)),
            latency_ms: 3,
        },
    );
    app::on_event(
        app,
        Event::Keys {
            result: Ok(key_infos()),
            warning: None,
            backend: "OS keyring".into(),
        },
    );
}

/// Presses a key through the keymap, like the event loop does.
pub(super) fn press(app: &mut App, key: Key) -> Vec<Effect> {
    match keymap::action_for(&app.contexts(), key) {
        Some(action) => app::update(app, action),
        None => Vec::new(),
    }
}

pub(super) fn type_str(app: &mut App, s: &str) {
    for c in s.chars() {
        press(app, Key::Char(c));
    }
}

pub(super) fn draw(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| app::render(app, f)).unwrap();
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..height {
        let mut line = String::new();
        for x in 0..width {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub(super) fn template() -> (Manifest, Vec<Vec<u8>>) {
    let t = Manifest::template(
        &[owner_key().public_key().to_hex()],
        &[workload_key().public_key().to_hex()],
    );
    (Manifest::parse(t.manifest).unwrap(), t.policies)
}

pub(super) fn loaded(manifest: Manifest, policies: Vec<Vec<u8>>) -> LoadedManifest {
    LoadedManifest {
        path: PathBuf::from("/home/op/deploy/manifest.json"),
        warnings: manifest
            .warnings()
            .iter()
            .map(ToString::to_string)
            .collect(),
        manifest: Some(manifest),
        parse_error: None,
        issues: Vec::new(),
        policies,
        policy_error: None,
    }
}

#[test]
fn dashboard_in_each_state() {
    for (name, state, trust, generation) in [
        (
            "dashboard_uninitialized",
            CoordinatorState::Uninitialized,
            TrustLevel::FirstUse,
            0,
        ),
        (
            "dashboard_ready",
            CoordinatorState::Ready,
            TrustLevel::Pinned,
            3,
        ),
        (
            "dashboard_recovery_required",
            CoordinatorState::RecoveryRequired,
            TrustLevel::PinMismatch,
            3,
        ),
        (
            "dashboard_stale",
            CoordinatorState::Stale,
            TrustLevel::PinMismatch,
            4,
        ),
    ] {
        let mut app = new_app();
        with_status(&mut app, status(state, trust, generation));
        insta::assert_snapshot!(name, draw(&mut app, 80, 24));
    }
}

#[test]
fn dashboard_with_a_replica_board() {
    use crate::ops::{ReplicaSetView, ReplicaView};
    // Whole minutes ago, so that the rendered "… ago" cannot tick during the test.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let replica = |id: &str, state, generation, last_error: Option<&str>| ReplicaView {
        id: id.into(),
        address: format!("{id}.seedward-coordinator-headless.prod.svc:1313"),
        state,
        generation,
        latest: Some(Digest::of(format!("latest {generation}").as_bytes())),
        evidence_kind: "snp".into(),
        since_unix_ms: now - 150_000,
        last_error: last_error.map(Into::into),
        peer_address: None,
        last_recovery: None,
    };
    let mut s = status(CoordinatorState::Ready, TrustLevel::Pinned, 3);
    s.replica_set = Some(ReplicaSetView {
        self_id: "coordinator-0".into(),
        replicas: vec![
            replica("coordinator-0", CoordinatorState::Ready, 3, None),
            replica("coordinator-1", CoordinatorState::Ready, 3, None),
            replica(
                "coordinator-2",
                CoordinatorState::RecoveryRequired,
                2,
                Some("status: the store did not answer within 10 s"),
            ),
        ],
        as_of_unix_ms: Some(now - 200),
        error: None,
    });
    let mut app = new_app();
    with_status(&mut app, s.clone());
    let screen = draw(&mut app, 80, 24);
    assert!(screen.contains("2 of 3 ready"), "{screen}");
    assert!(screen.contains("recovery required"), "{screen}");
    insta::assert_snapshot!(screen);

    // Who did what: a replica recovered by a peer says so under its board.
    s.last_recovery = Some(crate::ops::RecoveryView {
        by: "peer".into(),
        who: "coordinator-1".into(),
        at_unix_ms: now - 150_000,
    });
    let mut app = new_app();
    with_status(&mut app, s);
    let screen = draw(&mut app, 100, 40);
    assert!(
        screen.contains("coordinator-0 was recovered by peer replica coordinator-1, 2 min ago"),
        "{screen}"
    );
}

#[test]
fn dashboard_unreachable_and_keyring_fallback() {
    let mut app = new_app();
    app::on_event(
        &mut app,
        Event::Status {
            result: Err(
                "cannot reach the Coordinator at 127.0.0.1:1313: connection refused".into(),
            ),
            latency_ms: 0,
        },
    );
    app::on_event(
        &mut app,
        Event::Keys {
            result: Ok(Vec::new()),
            warning: Some(crate::keystore::fallback_warning(
                "no Secret Service on the session bus",
            )),
            backend: "0600 files in the workspace (keys/)".into(),
        },
    );
    insta::assert_snapshot!(draw(&mut app, 80, 24));
}

#[test]
fn dashboard_at_120x40() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Ready, TrustLevel::Pinned, 3),
    );
    insta::assert_snapshot!(draw(&mut app, 120, 40));
}

#[test]
fn too_small_terminal() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Ready, TrustLevel::Pinned, 3),
    );
    insta::assert_snapshot!(draw(&mut app, 60, 20));
}

#[test]
fn help_overlay_comes_from_the_keymap() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Ready, TrustLevel::Pinned, 3),
    );
    press(&mut app, Key::Char('?'));
    assert!(matches!(app.popup, Some(Popup::Help { .. })));
    insta::assert_snapshot!(draw(&mut app, 80, 24));
    press(&mut app, Key::Esc);
    assert!(app.popup.is_none());
    press(&mut app, Key::F(1));
    assert!(matches!(app.popup, Some(Popup::Help { .. })));
}

#[test]
fn the_whole_setup_wizard() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Uninitialized, TrustLevel::FirstUse, 0),
    );
    let effects = press(&mut app, Key::Char('s'));
    assert!(matches!(app.screen, Screen::Setup(_)));
    assert!(effects.iter().all(|e| matches!(e, Effect::ListKeys)));

    // 1. Owner keys: use the existing ones.
    press(&mut app, Key::Enter); // use seedshare-owner
    for _ in 0..3 {
        press(&mut app, Key::Char('j'));
    }
    press(&mut app, Key::Enter); // use workload-owner
    insta::assert_snapshot!("setup_1_keys", draw(&mut app, 80, 24));
    for _ in 0..4 {
        press(&mut app, Key::Down);
    }
    let effects = press(&mut app, Key::Enter); // continue
    assert!(
        matches!(effects.as_slice(), [Effect::ListManifests]),
        "{effects:?}"
    );

    // 2. Manifest: from the template.
    app::on_event(&mut app, Event::Manifests(Ok(Vec::new())));
    let effects = press(&mut app, Key::Enter);
    assert!(
        matches!(effects.as_slice(), [Effect::UseTemplate { owner_hex, .. }] if owner_hex.len() == 1)
    );
    app::on_event(
        &mut app,
        Event::TemplateWritten(Ok(vec![PathBuf::from("/home/op/deploy/manifest.json")])),
    );
    let (m, p) = template();
    app::on_event(&mut app, Event::ManifestLoaded(Box::new(loaded(m, p))));
    insta::assert_snapshot!("setup_2_manifest", draw(&mut app, 80, 24));
    let effects = press(&mut app, Key::Enter);
    assert!(
        matches!(effects.as_slice(), [Effect::CheckCoordinator]),
        "{effects:?}"
    );

    // 3. Coordinator.
    app::on_event(
        &mut app,
        Event::Coordinator {
            status: Ok(Box::new(status(
                CoordinatorState::Uninitialized,
                TrustLevel::FirstUse,
                0,
            ))),
            workspace: Ok(()),
        },
    );
    insta::assert_snapshot!("setup_3_coordinator", draw(&mut app, 80, 24));
    assert!(press(&mut app, Key::Enter).is_empty());

    // 4. Confirm: nothing is sent until the word is typed.
    insta::assert_snapshot!("setup_4_confirm", draw(&mut app, 80, 24));
    assert!(press(&mut app, Key::Enter).is_empty());
    type_str(&mut app, "sex");
    assert!(
        press(&mut app, Key::Enter).is_empty(),
        "a wrong word sends nothing"
    );
    // The Coordinator is UNATTESTED: the usual word is not enough, only the word that
    // acknowledges it.
    type_str(&mut app, "set");
    assert!(
        press(&mut app, Key::Enter).is_empty(),
        "`set` does not acknowledge an unattested Coordinator"
    );
    type_str(&mut app, "unattested");
    insta::assert_snapshot!("setup_4_typed_confirmation", draw(&mut app, 80, 24));
    let effects = press(&mut app, Key::Enter);
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::SetFirstManifest {
                allow_unattested: true,
                ..
            }]
        ),
        "{effects:?}"
    );

    // q during the ceremony asks first.
    press(&mut app, Key::Char('q'));
    assert!(matches!(
        app.popup,
        Some(Popup::QuitConfirm { quit: true, .. })
    ));
    insta::assert_snapshot!("setup_quit_confirm", draw(&mut app, 80, 24));
    press(&mut app, Key::Char('n'));
    assert!(!app.quit);

    // 5. Set done → drill.
    let effects = app::on_event(
        &mut app,
        Event::SetDone(Ok(SetupOutcome {
            transition: Digest::of(b"t1"),
            generation: 1,
            seed_shares: 1,
            files: [
                "seed-shares.json",
                "coordinator-root-ca.pem",
                "mesh-ca.pem",
                "manifest.json",
            ]
            .iter()
            .map(|f| PathBuf::from("/home/op/deploy").join(f))
            .collect(),
        })),
    );
    assert!(
        matches!(effects.first(), Some(Effect::ShareDrill { owner_key }) if owner_key == "seedshare-owner")
    );
    app::on_event(
        &mut app,
        Event::DrillDone(Ok(Box::new(DrillReport {
            owner_fingerprint: owner_key().public_key().fingerprint().to_string(),
            generation: 1,
            latest: Digest::of(b"t1"),
            root_ca_matches: true,
            signing_key_file: Some(PathBuf::from("/home/op/deploy/history-signing-key.pem")),
            threshold_share: None,
        }))),
    );
    insta::assert_snapshot!("setup_5_drill", draw(&mut app, 80, 24));
    press(&mut app, Key::Enter);
    assert!(matches!(app.screen, Screen::Dashboard));
}

#[test]
fn setup_refuses_an_initialized_coordinator() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Uninitialized, TrustLevel::FirstUse, 0),
    );
    press(&mut app, Key::Char('s'));
    let Screen::Setup(w) = &mut app.screen else {
        panic!()
    };
    w.owner = Some(key_infos()[0].clone());
    w.workload = Some(key_infos()[1].clone());
    let (m, p) = template();
    w.manifest = Some(loaded(m, p));
    w.step = SetupStep::Coordinator;
    app::on_event(
        &mut app,
        Event::Coordinator {
            status: Ok(Box::new(status(
                CoordinatorState::Ready,
                TrustLevel::FirstUse,
                2,
            ))),
            workspace: Ok(()),
        },
    );
    insta::assert_snapshot!(draw(&mut app, 80, 24));
    // Enter does not go on.
    press(&mut app, Key::Enter);
    let Screen::Setup(w) = &app.screen else {
        panic!()
    };
    assert_eq!(w.step, SetupStep::Coordinator);
}

#[test]
fn setup_shows_a_manifest_that_does_not_parse() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Uninitialized, TrustLevel::FirstUse, 0),
    );
    press(&mut app, Key::Char('s'));
    let Screen::Setup(w) = &mut app.screen else {
        panic!()
    };
    w.owner = Some(key_infos()[0].clone());
    w.workload = Some(key_infos()[1].clone());
    w.step = SetupStep::Manifest;
    app::on_event(&mut app, Event::Manifests(Ok(vec!["broken.json".into()])));
    press(&mut app, Key::Down);
    let effects = press(&mut app, Key::Enter);
    assert!(matches!(effects.as_slice(), [Effect::LoadManifest { .. }]));
    let bad = effects::load_manifest(
        &crate::workspace::Workspace::new("/nonexistent"),
        std::path::Path::new("/dev/null"),
    );
    let mut bad = LoadedManifest {
        path: PathBuf::from("/home/op/deploy/broken.json"),
        ..bad
    };
    bad.parse_error = Some(
        Manifest::parse(b"{\"Policies\": {}, \"Foo\": 1}".to_vec())
            .unwrap_err()
            .to_string(),
    );
    app::on_event(&mut app, Event::ManifestLoaded(Box::new(bad)));
    insta::assert_snapshot!(draw(&mut app, 80, 24));
    // Enter on it again does not continue.
    assert!(press(&mut app, Key::Enter).is_empty());
}

#[test]
fn error_popup_for_a_key_of_the_wrong_type() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Uninitialized, TrustLevel::FirstUse, 0),
    );
    press(&mut app, Key::Char('s'));
    press(&mut app, Key::Down);
    press(&mut app, Key::Down); // import owner key
    press(&mut app, Key::Enter);
    type_str(&mut app, "workload.pem");
    insta::assert_snapshot!("setup_import_prompt", draw(&mut app, 80, 24));
    let effects = press(&mut app, Key::Enter);
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::ImportKey {
                kind: KeyKind::SeedShareOwner,
                ..
            }]
        ),
        "{effects:?}"
    );
    app::on_event(
        &mut app,
        Event::KeyAdded(Err(
            "key \"seedshare-owner-2\": the PEM holds a P-384 key, but a seed share owner key is X25519; nothing was stored"
                .into(),
        )),
    );
    insta::assert_snapshot!("error_popup", draw(&mut app, 80, 24));
    press(&mut app, Key::Enter);
    assert!(app.popup.is_none());
}

#[test]
fn typing_q_in_a_text_field_types() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Uninitialized, TrustLevel::FirstUse, 0),
    );
    press(&mut app, Key::Char('s'));
    press(&mut app, Key::Down);
    press(&mut app, Key::Down);
    press(&mut app, Key::Enter);
    type_str(&mut app, "q?");
    assert!(!app.quit);
    let Screen::Setup(w) = &app.screen else {
        panic!()
    };
    assert_eq!(w.import.as_ref().unwrap().1.value, "q?");
}

#[test]
fn recovery_wizard_steps() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(
            CoordinatorState::RecoveryRequired,
            TrustLevel::PinMismatch,
            3,
        ),
    );
    press(&mut app, Key::Char('r'));
    assert!(matches!(app.screen, Screen::Recovery(_)));
    insta::assert_snapshot!("recovery_1_key", draw(&mut app, 80, 24));
    let effects = press(&mut app, Key::Enter);
    assert!(matches!(effects.as_slice(), [Effect::DecryptShare { .. }]));
    let effects = app::on_event(
        &mut app,
        Event::Decrypted(Ok(owner_key().public_key().fingerprint().to_string())),
    );
    assert!(matches!(effects.as_slice(), [Effect::Preflight]));
    app::on_event(
        &mut app,
        Event::Preflighted(Ok(Box::new(ops::Preflight {
            status: status(
                CoordinatorState::RecoveryRequired,
                TrustLevel::PinMismatch,
                3,
            ),
            generation: 3,
            latest: Digest::of(b"latest transition"),
            root_key: p384::SecretKey::from_slice(&[0x33; 48])
                .unwrap()
                .public_key(),
            chain: vec![Digest::of(b"latest transition")],
            expectation: crate::client::evidence::Expectation::unknown(),
        }))),
    );
    insta::assert_snapshot!("recovery_4_identity", draw(&mut app, 80, 24));
    press(&mut app, Key::Enter);
    type_str(&mut app, "recover");
    assert!(
        press(&mut app, Key::Enter).is_empty(),
        "`recover` does not acknowledge an unattested Coordinator"
    );
    type_str(&mut app, "unattested");
    let effects = press(&mut app, Key::Enter);
    assert!(matches!(
        effects.as_slice(),
        [Effect::SendRecovery {
            allow_unattested: true,
            ..
        }]
    ));
    let effects = app::on_event(
        &mut app,
        Event::RecoverySent(Ok(Box::new(pb::RecoverResponse::default()))),
    );
    assert!(matches!(effects.as_slice(), [Effect::Reverify { .. }]));
    app::on_event(
        &mut app,
        Event::Reverified(Ok(Box::new(ops::Reverify {
            status: status(CoordinatorState::Ready, TrustLevel::Pinned, 3),
            root_ca_matches_pin: true,
            history_unchanged: true,
            mesh_ca_changed: true,
        }))),
    );
    insta::assert_snapshot!("recovery_7_checklist", draw(&mut app, 80, 24));
}

#[test]
fn recovery_preflight_failure_says_what_next() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(
            CoordinatorState::RecoveryRequired,
            TrustLevel::PinMismatch,
            3,
        ),
    );
    press(&mut app, Key::Char('r'));
    press(&mut app, Key::Enter);
    app::on_event(
        &mut app,
        Event::Decrypted(Ok(owner_key().public_key().fingerprint().to_string())),
    );
    app::on_event(
        &mut app,
        Event::Preflighted(Err(ops::PreflightFailure::OtherDeployment {
            derived: "3f1c:9a0e:77b2:c4d1:0e5a:91f3:2b6c:d8e7".into(),
            pinned: "a07e:5521:90bc:13d4:4e6f:0a9b:c2d8:7f31".into(),
        }
        .to_string())),
    );
    insta::assert_snapshot!(draw(&mut app, 80, 24));
    // Each diagnosis has its own words (the e2e tests check them against real stores).
    let messages = [
        ops::PreflightFailure::OtherDeployment {
            derived: "a".into(),
            pinned: "b".into(),
        }
        .to_string(),
        ops::PreflightFailure::LatestTampered.to_string(),
        ops::PreflightFailure::StoreDamaged {
            detail: "manifests/ab: hash mismatch".into(),
        }
        .to_string(),
    ];
    for (i, m) in messages.iter().enumerate() {
        assert!(m.contains("Nothing was sent"), "{m}");
        for (j, other) in messages.iter().enumerate() {
            assert_eq!(i == j, m == other);
        }
    }
}

#[test]
fn a_stale_update_is_explained_with_what_changed_meanwhile() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Ready, TrustLevel::Pinned, 1),
    );
    press(&mut app, Key::Char('u'));
    // Generation 1 as the operator audited it: its own latest pointer.
    let mut old = audited();
    old.entries.truncate(1);
    let sk = p384::ecdsa::SigningKey::from_slice(&[0x22; 48]).unwrap();
    old.latest = LatestTransition::sign(old.entries[0].chain.transition_hash, &sk).unwrap();
    app::on_event(&mut app, Event::Audited(Ok(Box::new(old))));
    app::on_event(
        &mut app,
        Event::Manifests(Ok(vec!["manifest-v2.json".into()])),
    );
    press(&mut app, Key::Enter);
    // The operator's candidate: a (valid) reference value added to generation 1.
    let (m1, policies) = template();
    let mut v: serde_json::Value = serde_json::from_slice(m1.raw()).unwrap();
    v["ReferenceValues"]["none"] = serde_json::json!({});
    let mine = Manifest::parse_and_validate(serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let mut candidate = loaded(mine, policies);
    candidate.path = PathBuf::from("/home/op/deploy/manifest-v2.json");
    app::on_event(&mut app, Event::ManifestLoaded(Box::new(candidate)));
    press(&mut app, Key::Enter);
    type_str(&mut app, "update");
    let effects = press(&mut app, Key::Enter);
    let Some(Effect::UpdateManifest { audited_latest, .. }) = effects.first() else {
        panic!("{effects:?}")
    };
    let signed_against = *audited_latest;
    // Someone else landed generation 2 meanwhile.
    let effects = app::on_event(
        &mut app,
        Event::Updated(Err((
            "the Coordinator refused: the history changed: the latest transition is now 805d1e93d76ff43b; fetch the history, review the change and retry against the new latest transition".into(),
            true,
        ))),
    );
    assert!(matches!(effects.as_slice(), [Effect::Audit]), "{effects:?}");
    app::on_event(&mut app, Event::Audited(Ok(Box::new(audited()))));
    let screen = draw(&mut app, 80, 24);
    assert!(screen.contains("Someone else updated"), "{screen}");
    insta::assert_snapshot!("update_3_stale_refused", screen);
    let Screen::Update(u) = &app.screen else {
        panic!()
    };
    assert_eq!(u.step, UpdateStep::Review);
    // Confirming again signs against the new latest transition.
    press(&mut app, Key::Enter);
    type_str(&mut app, "update");
    let effects = press(&mut app, Key::Enter);
    let Some(Effect::UpdateManifest { audited_latest, .. }) = effects.first() else {
        panic!("{effects:?}")
    };
    assert_ne!(*audited_latest, signed_against);
    assert_eq!(*audited_latest, audited().latest.transition_hash());
}

pub(super) fn audited() -> ops::AuditedHistory {
    let (m1, _) = template();
    let t2 = Manifest::template(
        &[owner_key().public_key().to_hex()],
        &[workload_key().public_key().to_hex()],
    );
    let text = String::from_utf8(t2.manifest)
        .unwrap()
        .replace("\"web\"", "\"web\", \"api\"");
    let m2 = Manifest::parse(text.into_bytes()).unwrap();
    let h1 = Transition::first(m1.hash()).hash();
    let h2 = Transition::after(h1, m2.hash()).hash();
    let sk = p384::ecdsa::SigningKey::from_slice(&[0x22; 48]).unwrap();
    let latest = LatestTransition::sign(h2, &sk).unwrap();
    let response = pb::GetManifestsResponse {
        manifests: vec![m1.raw().to_vec(), m2.raw().to_vec()],
        latest_transition_hash: h2.as_bytes().to_vec(),
        latest_signature: latest.signature().to_vec(),
        ..Default::default()
    };
    ops::audit_response(
        response,
        Some((*sk.verifying_key(), SigningKeySource::SavedKey)),
    )
    .unwrap()
}

#[test]
fn history_timeline_and_semantic_diff() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Ready, TrustLevel::Pinned, 2),
    );
    let effects = press(&mut app, Key::Char('h'));
    assert!(matches!(effects.as_slice(), [Effect::Audit]));
    app::on_event(&mut app, Event::Audited(Ok(Box::new(audited()))));
    insta::assert_snapshot!("history_structured", draw(&mut app, 100, 30));
    press(&mut app, Key::Tab);
    press(&mut app, Key::Tab);
    insta::assert_snapshot!("history_semantic_diff", draw(&mut app, 100, 30));
}

#[test]
fn history_filter_takes_typed_text() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Ready, TrustLevel::Pinned, 2),
    );
    press(&mut app, Key::Char('h'));
    let audit = audited();
    let first = audit.entries[0].chain.transition_hash.to_hex();
    app::on_event(&mut app, Event::Audited(Ok(Box::new(audit))));
    press(&mut app, Key::Char('/'));
    assert!(app.typing());
    // Letters that are also history keys (x exports, v verifies) must type, not act.
    type_str(&mut app, &first[..12]);
    let Screen::History(h) = &app.screen else {
        panic!("left the history screen")
    };
    assert_eq!(h.filter(), &first[..12]);
    assert_eq!(h.visible(), &[0], "only generation 1 matches");
    assert!(h.bundle_busy.is_none() && h.bundle_input.is_none());
    press(&mut app, Key::Enter);
    assert!(!app.typing());
    press(&mut app, Key::Esc);
    let Screen::History(h) = &app.screen else {
        panic!("Esc with a filter clears it first")
    };
    assert_eq!(h.visible().len(), 2);
}

#[test]
fn history_filter_narrowing_agrees_with_a_full_search() {
    let mut h = HistoryView::new();
    let audit = audited();
    let hashes: Vec<String> = audit
        .entries
        .iter()
        .flat_map(|e| {
            [
                e.chain.transition_hash.to_hex(),
                e.chain.manifest_hash.to_hex(),
            ]
        })
        .collect();
    h.set_audit(Some(Box::new(audit)));
    // Typing, widening with backspace, upper case, a jump to an unrelated filter, text that
    // matches nothing and then something again: after each, the kept (possibly narrowed)
    // timeline equals a search from scratch (a view given the audit after the filter).
    let mut filters = vec![String::new()];
    for hash in &hashes {
        for len in [1, 2, 5, 12, 64] {
            filters.push(hash[..len].to_string());
        }
        filters.push(hash[..3].to_uppercase());
        filters.push(hash[..2].to_string());
        filters.push(format!("{}zz", &hash[..4]));
        filters.push(format!("{} ", &hash[60..]));
    }
    filters.extend([
        "1 ".into(),
        "2".into(),
        "2 ".into(),
        " ".into(),
        String::new(),
    ]);
    let mut narrowed_to_one = false;
    for f in &filters {
        h.set_filter(f);
        let mut fresh = HistoryView::new();
        fresh.set_filter(f);
        fresh.set_audit(Some(Box::new(audited())));
        assert_eq!(h.visible(), fresh.visible(), "filter {f:?}");
        narrowed_to_one |= h.visible().len() == 1;
    }
    assert!(narrowed_to_one, "some filter must single out one entry");
}

#[test]
fn update_review_shows_the_semantic_diff() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Ready, TrustLevel::Pinned, 2),
    );
    let effects = press(&mut app, Key::Char('u'));
    assert!(effects.iter().any(|e| matches!(e, Effect::Audit)));
    // The active manifest is generation 1 of this history (the template).
    let mut audit = audited();
    audit.entries.truncate(1);
    app::on_event(&mut app, Event::Audited(Ok(Box::new(audit))));
    app::on_event(
        &mut app,
        Event::Manifests(Ok(vec!["manifest-v2.json".into(), "manifest.json".into()])),
    );
    insta::assert_snapshot!("update_1_pick", draw(&mut app, 80, 24));
    let effects = press(&mut app, Key::Enter);
    assert!(matches!(effects.as_slice(), [Effect::LoadManifest { .. }]));
    let full = audited();
    let new = full.entries[1].manifest().cloned().unwrap();
    let (_, policies) = template();
    let mut candidate = loaded(new, policies);
    candidate.path = PathBuf::from("/home/op/deploy/manifest-v2.json");
    app::on_event(&mut app, Event::ManifestLoaded(Box::new(candidate)));
    insta::assert_snapshot!("update_2_review", draw(&mut app, 80, 24));
}

#[test]
fn keys_screen_with_filter() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Ready, TrustLevel::Pinned, 2),
    );
    press(&mut app, Key::Char('o'));
    assert!(matches!(app.screen, Screen::Keys(_)));
    press(&mut app, Key::Char('/'));
    type_str(&mut app, "work");
    press(&mut app, Key::Enter);
    insta::assert_snapshot!(draw(&mut app, 80, 24));
}

/// docs/TUI.md embeds the keymap between markers; regenerate with SEEDWARD_UPDATE_DOCS=1.
#[test]
fn docs_keymap_table_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/TUI.md");
    let Ok(doc) = std::fs::read_to_string(&path) else {
        panic!("{} is missing", path.display());
    };
    let (begin, end) = ("<!-- keymap:begin -->\n", "<!-- keymap:end -->");
    let start = doc.find(begin).expect("begin marker") + begin.len();
    let stop = doc.find(end).expect("end marker");
    let table = keymap::markdown_table();
    if doc[start..stop] != table {
        if std::env::var("SEEDWARD_UPDATE_DOCS").as_deref() == Ok("1") {
            let updated = format!("{}{}{}", &doc[..start], table, &doc[stop..]);
            std::fs::write(&path, updated).unwrap();
        } else {
            panic!("docs/TUI.md's keymap table is stale; rerun with SEEDWARD_UPDATE_DOCS=1");
        }
    }
}

/// A valid manifest with `n` extra policies, so that its structured view is long.
pub(super) fn long_manifest(n: usize) -> Manifest {
    let t = Manifest::template(
        &[owner_key().public_key().to_hex()],
        &[workload_key().public_key().to_hex()],
    );
    let mut v: serde_json::Value = serde_json::from_slice(&t.manifest).unwrap();
    for i in 0..n {
        let hash = Digest::of(format!("policy {i}").as_bytes()).to_hex();
        v["Policies"][hash] = serde_json::json!({
            "SANs": [format!("svc-{i}"), format!("svc-{i}.default.svc.cluster.local")],
            "WorkloadSecretID": format!("apps/v1/Deployment/default/svc-{i}"),
        });
    }
    Manifest::parse(serde_json::to_vec_pretty(&v).unwrap()).unwrap()
}

pub(super) fn scroll_line(screen: &str) -> Option<&str> {
    screen
        .lines()
        .find(|l| l.contains(" lines ") && l.contains(" of "))
}

#[test]
fn setup_manifest_pane_scrolls_at_80x24() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Uninitialized, TrustLevel::FirstUse, 0),
    );
    press(&mut app, Key::Char('s'));
    let Screen::Setup(w) = &mut app.screen else {
        panic!()
    };
    w.owner = Some(key_infos()[0].clone());
    w.workload = Some(key_infos()[1].clone());
    w.step = SetupStep::Manifest;
    app::on_event(&mut app, Event::Manifests(Ok(vec!["manifest.json".into()])));
    let (_, policies) = template();
    app::on_event(
        &mut app,
        Event::ManifestLoaded(Box::new(loaded(long_manifest(12), policies))),
    );
    let top = draw(&mut app, 80, 24);
    assert!(
        scroll_line(&top).is_some_and(|l| l.contains("lines 1–19 of")),
        "{top}"
    );
    insta::assert_snapshot!("setup_2_manifest_long_top", top);
    // The hint comes from the keymap.
    assert!(top.contains("PgDn scroll"), "{top}");
    press(&mut app, Key::PageDown);
    assert_eq!(app.pane.offset(), 18);
    let second = draw(&mut app, 80, 24);
    assert!(
        scroll_line(&second).is_some_and(|l| l.contains("lines 19–37 of")),
        "{second}"
    );
    insta::assert_snapshot!("setup_2_manifest_long_page_2", second);
    // Scrolling stops at the end, and one PgUp from there moves up at once.
    for _ in 0..20 {
        press(&mut app, Key::PageDown);
    }
    let max = app.pane.max_offset();
    assert!(max > 18, "{max}");
    assert_eq!(app.pane.offset(), max);
    let end = draw(&mut app, 80, 24);
    let line = scroll_line(&end).unwrap();
    let total: String = line
        .split(" of ")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(line.contains(&format!("–{total} of {total}")), "{end}");
    assert!(
        end.contains("Press Enter again"),
        "the last line is reachable:\n{end}"
    );
    press(&mut app, Key::PageUp);
    assert_eq!(app.pane.offset(), max - 18);
    // Another step starts at the top.
    press(&mut app, Key::Esc);
    assert_eq!(app.pane.offset(), 0);
}

#[test]
fn recovery_pane_scrolls_at_80x24() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(
            CoordinatorState::RecoveryRequired,
            TrustLevel::PinMismatch,
            3,
        ),
    );
    press(&mut app, Key::Char('r'));
    press(&mut app, Key::Enter);
    app::on_event(
        &mut app,
        Event::Decrypted(Ok(owner_key().public_key().fingerprint().to_string())),
    );
    let mut p = ops::Preflight {
        status: status(
            CoordinatorState::RecoveryRequired,
            TrustLevel::PinMismatch,
            3,
        ),
        generation: 3,
        latest: Digest::of(b"latest transition"),
        root_key: p384::SecretKey::from_slice(&[0x33; 48])
            .unwrap()
            .public_key(),
        chain: vec![Digest::of(b"latest transition")],
        expectation: crate::client::evidence::Expectation::unknown(),
    };
    // Evidence that does not bind: two more warning lines, so the identity step overflows.
    if let Some(ev) = p.status.evidence.as_mut() {
        ev.tls_key_matches = false;
        ev.binding_ok = false;
    }
    app::on_event(&mut app, Event::Preflighted(Ok(Box::new(p))));
    let top = draw(&mut app, 80, 24);
    assert!(scroll_line(&top).is_some(), "{top}");
    insta::assert_snapshot!("recovery_4_identity_long_top", top);
    press(&mut app, Key::PageDown);
    let bottom = draw(&mut app, 80, 24);
    assert!(bottom.contains("Latest"), "{bottom}");
    insta::assert_snapshot!("recovery_4_identity_long_bottom", bottom);
}

#[test]
fn update_diff_scrolls_at_80x24() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Ready, TrustLevel::Pinned, 2),
    );
    press(&mut app, Key::Char('u'));
    let mut audit = audited();
    audit.entries.truncate(1);
    app::on_event(&mut app, Event::Audited(Ok(Box::new(audit))));
    app::on_event(
        &mut app,
        Event::Manifests(Ok(vec!["manifest-v2.json".into()])),
    );
    press(&mut app, Key::Enter);
    let (_, policies) = template();
    let mut candidate = loaded(long_manifest(30), policies);
    candidate.path = PathBuf::from("/home/op/deploy/manifest-v2.json");
    app::on_event(&mut app, Event::ManifestLoaded(Box::new(candidate)));
    let top = draw(&mut app, 80, 24);
    assert!(
        scroll_line(&top).is_some_and(|l| l.contains("lines 1–19 of")),
        "{top}"
    );
    insta::assert_snapshot!("update_2_review_long_top", top);
    for _ in 0..10 {
        press(&mut app, Key::PageDown);
    }
    let bottom = draw(&mut app, 80, 24);
    assert!(
        bottom.contains("Press Enter, then type update"),
        "the prompt at the end is reachable:\n{bottom}"
    );
    insta::assert_snapshot!("update_2_review_long_bottom", bottom);
}

#[test]
fn history_export_and_offline_verify_keys() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Ready, TrustLevel::Pinned, 2),
    );
    press(&mut app, Key::Char('h'));
    app::on_event(&mut app, Event::Audited(Ok(Box::new(audited()))));
    let screen = draw(&mut app, 100, 30);
    assert!(screen.contains("x export bundle"), "{screen}");
    let effects = press(&mut app, Key::Char('x'));
    assert!(
        matches!(effects.as_slice(), [Effect::ExportBundle { audit }] if audit.generation() == 2),
        "{effects:?}"
    );
    // A second x while the export runs does nothing.
    assert!(press(&mut app, Key::Char('x')).is_empty());
    let path = PathBuf::from("/home/op/deploy/history-bundle-gen2.json");
    app::on_event(
        &mut app,
        Event::BundleExported(Ok(BundleExport {
            path: path.clone(),
            digest: Digest::of(b"bundle bytes"),
            generation: 2,
            signing_key_included: true,
        })),
    );
    let screen = draw(&mut app, 100, 30);
    assert!(
        screen.contains(&Digest::of(b"bundle bytes").to_hex()),
        "{screen}"
    );
    insta::assert_snapshot!("history_bundle_exported", screen);
    press(&mut app, Key::Enter);
    // v offers the bundle just written; Enter verifies it offline.
    press(&mut app, Key::Char('v'));
    assert!(app.typing());
    let effects = press(&mut app, Key::Enter);
    assert!(
        matches!(effects.as_slice(), [Effect::VerifyBundle { path: p }] if *p == path),
        "{effects:?}"
    );
}

#[test]
fn exported_bundles_verify_offline_and_a_flipped_byte_names_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut audit = audited();
    audit.policies = template().1;
    let sk = p384::ecdsa::SigningKey::from_slice(&[0x22; 48]).unwrap();
    let key = *sk.verifying_key();
    let first = effects::export_bundle(dir.path(), &audit, Some(key)).unwrap();
    assert_eq!(first.path, dir.path().join("history-bundle-gen2.json"));
    assert!(first.signing_key_included);
    let bytes = std::fs::read(&first.path).unwrap();
    assert_eq!(Digest::of(&bytes), first.digest);
    // A second export never overwrites the first.
    let second = effects::export_bundle(dir.path(), &audit, Some(key)).unwrap();
    assert_eq!(second.path, dir.path().join("history-bundle-gen2-2.json"));
    assert_eq!(std::fs::read(&first.path).unwrap(), bytes);
    // A key that does not verify the history is not embedded.
    let other = *p384::ecdsa::SigningKey::from_slice(&[0x23; 48])
        .unwrap()
        .verifying_key();
    let third = effects::export_bundle(dir.path(), &audit, Some(other)).unwrap();
    assert!(!third.signing_key_included);

    let anchor = || {
        Some((
            crate::ops_bundle::BundleAnchor::SigningKey(key),
            "the test key".to_string(),
        ))
    };
    let ok = effects::verify_bundle_file(&first.path, anchor()).unwrap();
    assert!(ok.ok && ok.anchored, "{ok:?}");
    assert!(ok.failing.is_empty());

    // Flip one byte of the second manifest.
    let mut doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut m = b64.decode(doc["manifests"][1].as_str().unwrap()).unwrap();
    m[10] ^= 1;
    doc["manifests"][1] = serde_json::Value::String(b64.encode(&m));
    let bad = dir.path().join("tampered.json");
    std::fs::write(&bad, doc.to_string()).unwrap();
    let check = effects::verify_bundle_file(&bad, anchor()).unwrap();
    assert!(!check.ok);
    assert!(
        check
            .failing
            .iter()
            .any(|f| f.starts_with("generation 2 (manifest ")),
        "{check:?}"
    );
    let message = super::text::bundle_verified(&check);
    assert!(message.contains("✗ generation 2"), "{message}");
}
