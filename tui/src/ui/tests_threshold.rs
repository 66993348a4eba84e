//! The setup wizard's recovery threshold step (k of n): asked only for a manifest with
//! several owners and no `SeedshareOwnerThreshold`, drawn at 80×24 (the capture in
//! docs/TUI.md), and the k chosen carried in the set request.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::PathBuf;

use seedward_shared::keys::OwnerKeyPair;
use seedward_shared::manifest::Manifest;

use super::app::{self, App};
use super::effects::{Effect, Event};
use super::keymap::Key;
use super::screens::Screen;
use super::screens::setup::SetupStep;
use super::tests::{
    draw, key_infos, loaded, new_app, owner_key, press, status, type_str, with_status, workload_key,
};
use crate::ops::{CoordinatorState, TrustLevel};

/// A template manifest for our owner key and `others` more (fixed keys), with `threshold`
/// written in when given.
fn manifest_of(others: u8, threshold: Option<u64>) -> (Manifest, Vec<Vec<u8>>) {
    let mut owners = vec![owner_key().public_key().to_hex()];
    for i in 0..others {
        owners.push(
            OwnerKeyPair::from_secret_bytes([20 + i; 32])
                .public_key()
                .to_hex(),
        );
    }
    let t = Manifest::template(&owners, &[workload_key().public_key().to_hex()]);
    let m = Manifest::parse(t.manifest).unwrap();
    let m = match threshold {
        Some(k) => m.with_seedshare_owner_threshold(k).unwrap(),
        None => m,
    };
    (m, t.policies)
}

fn step(app: &App) -> SetupStep {
    match &app.screen {
        Screen::Setup(w) => w.step,
        _ => panic!("not in the setup wizard"),
    }
}

/// The wizard with both keys chosen and `manifest` loaded, on the manifest step.
fn wizard_with(manifest: (Manifest, Vec<Vec<u8>>)) -> App {
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
    let (m, p) = manifest;
    app::on_event(&mut app, Event::ManifestLoaded(Box::new(loaded(m, p))));
    app
}

fn coordinator_checked(app: &mut App) {
    app::on_event(
        app,
        Event::Coordinator {
            status: Ok(Box::new(status(
                CoordinatorState::Uninitialized,
                TrustLevel::FirstUse,
                0,
            ))),
            workspace: Ok(()),
        },
    );
}

#[test]
fn two_of_three_is_asked_explained_and_carried_in_the_set_request() {
    let (m, p) = manifest_of(2, None);
    let loaded_hash = m.hash();
    let mut app = wizard_with((m, p.clone()));
    // Enter on the loaded manifest: the question, not the Coordinator yet.
    let effects = press(&mut app, Key::Enter);
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(step(&app), SetupStep::Threshold);
    insta::assert_snapshot!("setup_threshold_default", draw(&mut app, 80, 24));
    press(&mut app, Key::Char('j'));
    insta::assert_snapshot!("setup_threshold_2_of_3", draw(&mut app, 80, 24));
    press(&mut app, Key::Char('j'));
    let screen = draw(&mut app, 80, 24);
    assert!(
        screen.contains("Losing any one owner's key loses"),
        "{screen}"
    );
    // `/` filters as in every list: "/2 of" leaves 2 of 3; Enter ends the filter, Enter
    // chooses.
    press(&mut app, Key::Char('/'));
    type_str(&mut app, "2 of");
    press(&mut app, Key::Enter);
    let screen = draw(&mut app, 80, 24);
    assert!(screen.contains("› 2 of 3"), "{screen}");
    assert!(!screen.contains("3 of 3"), "{screen}");
    let effects = press(&mut app, Key::Enter);
    assert!(
        matches!(effects.as_slice(), [Effect::CheckCoordinator]),
        "{effects:?}"
    );
    assert_eq!(step(&app), SetupStep::Coordinator);

    // Esc from the Coordinator comes back to the question, on the k chosen.
    press(&mut app, Key::Esc);
    assert_eq!(step(&app), SetupStep::Threshold);
    let screen = draw(&mut app, 80, 24);
    assert!(screen.contains("› 2 of 3  (chosen)"), "{screen}");
    press(&mut app, Key::Enter);

    coordinator_checked(&mut app);
    assert!(press(&mut app, Key::Enter).is_empty());
    assert_eq!(step(&app), SetupStep::Confirm);
    insta::assert_snapshot!("setup_threshold_confirm", draw(&mut app, 80, 24));

    press(&mut app, Key::Enter);
    type_str(&mut app, "unattested");
    let effects = press(&mut app, Key::Enter);
    let [
        Effect::SetFirstManifest {
            manifest, policies, ..
        },
    ] = effects.as_slice()
    else {
        panic!("{effects:?}")
    };
    // The request carries k: the manifest bytes sent hold the field, validated.
    assert_eq!(manifest.seedshare_owner_threshold(), 2);
    assert!(manifest.has_seedshare_owner_threshold());
    let sent = Manifest::parse_and_validate(manifest.raw().to_vec()).unwrap();
    assert_eq!(sent.seedshare_owner_threshold(), 2);
    assert_ne!(manifest.hash(), loaded_hash);
    assert_eq!(manifest.seedshare_owner_pub_keys().len(), 3);
    assert_eq!(policies, &p);
}

#[test]
fn k_one_keeps_the_manifest_bytes() {
    let (m, p) = manifest_of(1, None);
    let raw = m.raw().to_vec();
    let mut app = wizard_with((m, p));
    press(&mut app, Key::Enter);
    assert_eq!(step(&app), SetupStep::Threshold);
    press(&mut app, Key::Enter); // the default: 1
    coordinator_checked(&mut app);
    press(&mut app, Key::Enter);
    press(&mut app, Key::Enter);
    type_str(&mut app, "unattested");
    let effects = press(&mut app, Key::Enter);
    let [Effect::SetFirstManifest { manifest, .. }] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    assert_eq!(
        manifest.raw(),
        raw.as_slice(),
        "absent means 1: not written"
    );
}

#[test]
fn a_manifest_that_sets_k_is_shown_not_asked() {
    let mut app = wizard_with(manifest_of(2, Some(3)));
    let screen = draw(&mut app, 80, 24);
    assert!(screen.contains("2/5 Manifest"), "{screen}");
    assert!(!screen.contains("Recovery threshold"), "{screen}");
    let effects = press(&mut app, Key::Enter);
    assert!(
        matches!(effects.as_slice(), [Effect::CheckCoordinator]),
        "{effects:?}"
    );
    coordinator_checked(&mut app);
    press(&mut app, Key::Enter);
    let screen = draw(&mut app, 80, 24);
    assert!(
        screen.contains("3 of 3 owners together (from the"),
        "{screen}"
    );
    // Esc goes back past the question that was not asked.
    press(&mut app, Key::Esc);
    press(&mut app, Key::Esc);
    assert_eq!(step(&app), SetupStep::Manifest);
}

#[test]
fn one_owner_is_not_asked() {
    let mut app = wizard_with(manifest_of(0, None));
    press(&mut app, Key::Enter);
    assert_eq!(step(&app), SetupStep::Coordinator);
    let screen = draw(&mut app, 80, 24);
    assert!(screen.contains("3/5 Coordinator"), "{screen}");
    assert!(!screen.contains("Recovery threshold"), "{screen}");
}

#[test]
fn loading_another_manifest_forgets_the_k_chosen() {
    let mut app = wizard_with(manifest_of(2, None));
    press(&mut app, Key::Enter);
    press(&mut app, Key::Char('j'));
    press(&mut app, Key::Enter);
    press(&mut app, Key::Esc);
    press(&mut app, Key::Esc);
    assert_eq!(step(&app), SetupStep::Manifest);
    let (m, p) = manifest_of(2, None);
    let mut l = loaded(m, p);
    l.path = PathBuf::from("/home/op/deploy/other.json");
    app::on_event(&mut app, Event::ManifestLoaded(Box::new(l)));
    let Screen::Setup(w) = &app.screen else {
        panic!()
    };
    assert_eq!(w.threshold, None);
    assert!(w.with_threshold.is_none());
}

#[test]
fn the_question_reads_in_plain_mode() {
    let mut app = wizard_with(manifest_of(2, None));
    app.plain = true;
    press(&mut app, Key::Enter);
    press(&mut app, Key::End);
    let screen = draw(&mut app, 80, 24);
    assert!(screen.is_ascii(), "{screen}");
    assert!(
        !screen.contains('?') || screen.contains("? help"),
        "{screen}"
    );
    assert!(screen.contains("> 3 of 3 - every owner"), "{screen}");
    assert!(
        screen.contains("Losing any one owner's key loses the deployment."),
        "{screen}"
    );
}
