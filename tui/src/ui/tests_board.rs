//! The recovery board of a threshold deployment, drawn at 80×24 (the captures in
//! docs/RECOVERY.md are these snapshots), and its keys.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use seedward_shared::history::Digest;

use super::app;
use super::components::popup::{Confirmed, Popup};
use super::effects::{Effect, Event};
use super::keymap::Key;
use super::screens::Screen;
use super::tests::{draw, key_infos, new_app, owner_key, press, status, with_status};
use crate::ops::{
    CoordinatorState, SessionEndedView, SessionInfo, SessionOwner, SessionStatus, TrustLevel,
    WrongShareView,
};

const NOW: u64 = 1_765_000_000;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn session(submitted: &[usize], wrong: bool) -> SessionStatus {
    let ours = owner_key().public_key().fingerprint().to_string();
    let fingerprints = [
        ours,
        "5e6f:0a1b:2c3d:4e5f:6071:8293:a4b5:c6d7".to_string(),
        "c0d1:e2f3:0415:2637:4859:6a7b:8c9d:aebf".to_string(),
    ];
    let owners: Vec<SessionOwner> = fingerprints
        .iter()
        .enumerate()
        .map(|(i, f)| SessionOwner {
            fingerprint: f.clone(),
            index: i as u32 + 1,
            submitted_at: submitted.contains(&i).then(|| at(NOW - 42)),
            you: false,
        })
        .collect();
    let count = submitted.len() as u32;
    SessionStatus {
        state: CoordinatorState::RecoveryRequired,
        session: Some(SessionInfo {
            id: [0x9f; 16],
            public_key: [9; 32],
            latest: Digest::of(b"latest transition"),
            threshold: 2,
            submitted: count,
            remaining: 2u32.saturating_sub(count),
            owners,
            opened_at: at(NOW - 65),
            expires_at: at(NOW + 835),
            wrong_shares: if wrong {
                vec![WrongShareView {
                    fingerprint: fingerprints[2].clone(),
                    index: 3,
                    at: at(NOW - 10),
                }]
            } else {
                Vec::new()
            },
            evidence: None,
        }),
        last_ended: Some(SessionEndedView {
            id: "aa".repeat(16),
            outcome: "cancelled".into(),
            detail: fingerprints[1].clone(),
            at: at(NOW - 300),
        }),
        recovered: None,
    }
}

fn board_app() -> super::app::App {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::RecoveryRequired, TrustLevel::Pinned, 3),
    );
    let effects = press(&mut app, Key::Char('b'));
    assert!(
        matches!(effects.as_slice(), [Effect::PollSession]),
        "{effects:?}"
    );
    let Screen::Board(board) = &mut app.screen else {
        panic!("b opens the board");
    };
    board.clock = Some(at(NOW));
    app
}

#[test]
fn board_shows_owners_progress_time_left_and_what_happens_next() {
    let mut app = board_app();
    insta::assert_snapshot!("board_loading", draw(&mut app, 80, 24));
    app::on_event(
        &mut app,
        Event::SessionPolled(Ok(Box::new(session(&[0], true)))),
    );
    let drawn = draw(&mut app, 80, 24);
    assert!(
        drawn.contains("2 of 3 owners needed: 1 sent, 1 to go"),
        "{drawn}"
    );
    assert!(drawn.contains("(you)"), "{drawn}");
    assert!(drawn.contains("time left: 13m 55s"), "{drawn}");
    insta::assert_snapshot!("board_one_of_two", drawn);
}

#[test]
fn board_polls_on_ticks_one_at_a_time() {
    let mut app = board_app();
    // The poll from opening is in flight: a tick asks for the status only.
    let effects = app::tick(&mut app);
    assert!(
        effects.iter().all(|e| !matches!(e, Effect::PollSession)),
        "{effects:?}"
    );
    app::on_event(
        &mut app,
        Event::SessionPolled(Ok(Box::new(session(&[], false)))),
    );
    let effects = app::tick(&mut app);
    assert!(
        effects.iter().any(|e| matches!(e, Effect::PollSession)),
        "{effects:?}"
    );
}

#[test]
fn enter_sends_after_the_typed_word_and_x_cancels_after_its_own() {
    let mut app = board_app();
    app::on_event(
        &mut app,
        Event::SessionPolled(Ok(Box::new(session(&[1], false)))),
    );
    assert!(key_infos().iter().any(|k| k.name == "seedshare-owner"));
    press(&mut app, Key::Enter);
    assert!(
        matches!(
            &app.popup,
            Some(Popup::Typed {
                expected: "unattested",
                then: Confirmed::SubmitShare { unattested: true },
                ..
            })
        ),
        "{:?}",
        app.popup
    );
    let mut effects = Vec::new();
    for c in "unattested".chars() {
        effects = press(&mut app, Key::Char(c));
    }
    effects.extend(press(&mut app, Key::Enter));
    assert!(
        effects.iter().any(|e| matches!(
            e,
            Effect::SubmitShare { owner_key, allow_unattested: true } if owner_key == "seedshare-owner"
        )),
        "{effects:?}"
    );
    let mut done = session(&[1], false);
    done.session = None;
    done.state = CoordinatorState::Ready;
    done.recovered = Some(Default::default());
    app::on_event(
        &mut app,
        Event::SessionActed {
            result: Ok(Box::new(done)),
            submitted: true,
        },
    );
    let drawn = draw(&mut app, 80, 24);
    assert!(drawn.contains("yours was the last share needed"), "{drawn}");

    // x: its own typed word, then the cancel effect.
    app::on_event(
        &mut app,
        Event::SessionPolled(Ok(Box::new(session(&[1], false)))),
    );
    press(&mut app, Key::Char('x'));
    assert!(
        matches!(
            &app.popup,
            Some(Popup::Typed {
                expected: "cancel",
                then: Confirmed::CancelSession,
                ..
            })
        ),
        "{:?}",
        app.popup
    );
    let mut effects = Vec::new();
    for c in "cancel".chars() {
        effects = press(&mut app, Key::Char(c));
    }
    effects.extend(press(&mut app, Key::Enter));
    assert!(
        effects.iter().any(
            |e| matches!(e, Effect::CancelSession { owner_key } if owner_key == "seedshare-owner")
        ),
        "{effects:?}"
    );
    // Esc goes back to the dashboard.
    app::on_event(
        &mut app,
        Event::SessionActed {
            result: Err("the recovery session is not open".into()),
            submitted: false,
        },
    );
    press(&mut app, Key::Esc);
    assert!(matches!(app.screen, Screen::Dashboard));
}

#[test]
fn a_threshold_manifest_says_how_many_owners_recover() {
    use super::components::manifest::manifest_lines;
    use super::theme::Theme;
    use seedward_shared::manifest::Manifest;
    let hexes: Vec<String> = (1..=3u8)
        .map(|i| {
            seedward_shared::keys::OwnerKeyPair::from_secret_bytes([i; 32])
                .public_key()
                .to_hex()
        })
        .collect();
    let t = Manifest::template(&hexes, &[]);
    let mut value: serde_json::Value = serde_json::from_slice(&t.manifest).unwrap();
    value["SeedshareOwnerThreshold"] = 2.into();
    let m = Manifest::parse_and_validate(value.to_string().into_bytes()).unwrap();
    let text: Vec<String> = manifest_lines(&m, None, None, Theme::new(false), 78)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        text.iter()
            .any(|l| l.contains("any 2 of the 3 owners recover together")),
        "{text:?}"
    );
    // Without the field: no line, as before.
    let plain = Manifest::parse_and_validate(t.manifest).unwrap();
    assert!(
        !manifest_lines(&plain, None, None, Theme::new(false), 78)
            .iter()
            .any(|l| l.to_string().contains("SeedshareOwnerThreshold"))
    );
}

#[test]
fn without_a_session_the_board_offers_to_start_one_only_when_owners_are_needed() {
    let no_session = |state| SessionStatus {
        state,
        session: None,
        last_ended: None,
        recovered: None,
    };
    let mut app = board_app();
    app::on_event(
        &mut app,
        Event::SessionPolled(Ok(Box::new(no_session(CoordinatorState::RecoveryRequired)))),
    );
    let drawn = draw(&mut app, 80, 24);
    assert!(drawn.contains("Press Enter to send your share"), "{drawn}");

    for state in [CoordinatorState::Uninitialized, CoordinatorState::Ready] {
        app::on_event(
            &mut app,
            Event::SessionPolled(Ok(Box::new(no_session(state)))),
        );
        let drawn = draw(&mut app, 80, 24);
        assert!(drawn.contains("Nothing to recover"), "{drawn}");
        assert!(!drawn.contains("Press Enter to send your share"), "{drawn}");
    }
}
