//! Issue #19, "the first ten minutes at 80×24": what a new operator tripped over, each as a
//! whole-screen test at the smallest supported size.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::PathBuf;

use seedward_shared::history::Digest;

use super::app;
use super::effects::{BundleExport, Effect, Event};
use super::keymap::Key;
use super::tests::{audited, draw, new_app, press, status, type_str, with_status};
use crate::ops::{CoordinatorState, TrustLevel};

/// The history screen at 80×24 with the audit done.
fn history_app() -> app::App {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Ready, TrustLevel::Pinned, 2),
    );
    press(&mut app, Key::Char('h'));
    app::on_event(&mut app, Event::Audited(Ok(Box::new(audited()))));
    app
}

#[test]
fn item1_verify_prompt_shows_the_typed_text_and_typing_replaces_the_offered_bundle() {
    let mut app = history_app();
    press(&mut app, Key::Char('x'));
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
    press(&mut app, Key::Enter);
    press(&mut app, Key::Char('v'));
    let offered = draw(&mut app, 80, 24);
    assert!(
        offered.contains("> /home/op/deploy/history-bundle-gen2.json█"),
        "the offered bundle is on its own line, in full:\n{offered}"
    );
    insta::assert_snapshot!("ux_history_verify_prompt_offered", offered);
    type_str(&mut app, "history-bundle-gen1.json");
    let typed = draw(&mut app, 80, 24);
    assert!(
        typed.contains("> history-bundle-gen1.json█"),
        "typing replaced the offered path and shows:\n{typed}"
    );
    let effects = press(&mut app, Key::Enter);
    assert!(
        matches!(effects.as_slice(), [Effect::VerifyBundle { path }]
            if path.as_path() == std::path::Path::new("history-bundle-gen1.json")),
        "{effects:?}"
    );
}

#[test]
fn item1_a_long_typed_path_keeps_its_end_in_view() {
    let mut app = history_app();
    press(&mut app, Key::Char('v'));
    let long = format!("{}/the-end.json", "deep/".repeat(30));
    type_str(&mut app, &long);
    let screen = draw(&mut app, 80, 24);
    assert!(screen.contains("the-end.json█"), "{screen}");
}

#[test]
fn item2_a_failed_audit_shows_its_advice_in_full_at_80x24() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Ready, TrustLevel::Pinned, 2),
    );
    press(&mut app, Key::Char('h'));
    let advice = "restore the store from a backup or a verified history bundle";
    let error = format!(
        "the Coordinator refused: `manifests/4f1d0c8e2b7a9d3c5e6f10213243546576879a0b1c2d3e4f5061728394a5e8e52` is corrupt: its content hashes to 0d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e, not to the hash in its name; {advice}"
    );
    app::on_event(&mut app, Event::Audited(Err(error)));
    let screen = draw(&mut app, 80, 24);
    let joined: String = screen.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        joined.contains(advice),
        "the advice is on screen:\n{screen}"
    );
    insta::assert_snapshot!("ux_history_audit_failed", screen);
}
