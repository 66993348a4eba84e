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

/// What `keyring` reports with no session bus: raw D-Bus text over several lines.
const RAW_DBUS: &str = "platform failure: Using X11 for dbus-daemon autolaunch was disabled at compile time, set your DBUS_SESSION_BUS_ADDRESS instead\n\nthe D-Bus session bus is not reachable";

fn no_keyring(app: &mut app::App) {
    app::on_event(
        app,
        Event::Keys {
            result: Ok(Vec::new()),
            warning: Some(crate::keystore::fallback_warning(RAW_DBUS)),
            backend: "0600 files in the workspace (keys/)".into(),
        },
    );
}

#[test]
fn item3_no_keyring_is_one_line_and_the_detail_is_behind_help() {
    let mut app = new_app();
    app::on_event(
        &mut app,
        Event::Status {
            result: Ok(Box::new(status(
                CoordinatorState::Uninitialized,
                TrustLevel::FirstUse,
                0,
            ))),
            latency_ms: 3,
        },
    );
    no_keyring(&mut app);
    let screen = draw(&mut app, 80, 24);
    assert!(!screen.contains("X11"), "no raw D-Bus text:\n{screen}");
    let warning_rows = screen.lines().filter(|l| l.contains("keyring")).count();
    assert_eq!(warning_rows, 1, "{screen}");
    assert!(screen.contains("? says why"), "{screen}");
    insta::assert_snapshot!("ux_dashboard_no_keyring", screen);
    // The setup wizard's choices stay above the fold.
    press(&mut app, Key::Char('s'));
    let setup = draw(&mut app, 80, 24);
    assert!(!setup.contains("X11"), "{setup}");
    insta::assert_snapshot!("ux_setup_no_keyring", setup);
    press(&mut app, Key::Esc);
    // `?` shows the whole warning, on its own lines, with the detail.
    press(&mut app, Key::Char('?'));
    let help = draw(&mut app, 80, 24);
    let joined: String = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(joined.contains("Using X11 for"), "{help}");
    assert!(joined.contains("gnome-keyring"), "{help}");
}

#[test]
fn item11_help_stops_at_its_end() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Ready, TrustLevel::Pinned, 3),
    );
    press(&mut app, Key::Char('?'));
    draw(&mut app, 80, 24);
    for _ in 0..200 {
        press(&mut app, Key::Down);
    }
    let end = draw(&mut app, 80, 24);
    assert!(
        end.contains(super::text::HELP_END),
        "the end of help is in view:\n{end}"
    );
    let blank_rows = end
        .lines()
        .filter(|l| {
            l.trim_matches(|c: char| c == '│' || c.is_whitespace())
                .is_empty()
        })
        .count();
    // One Up moves at once (the position was clamped, not left far past the end).
    press(&mut app, Key::Up);
    let up = draw(&mut app, 80, 24);
    assert_ne!(up, end, "one Up scrolls back at once");
    assert!(blank_rows < 3, "no blank box past the end:\n{end}");
}

#[test]
fn item4_footers_keep_help_and_quit_and_the_status_bar_keeps_the_end_of_the_state_path() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(CoordinatorState::Ready, TrustLevel::Pinned, 3),
    );
    let screen = draw(&mut app, 80, 24);
    let footer = screen.lines().nth(23).unwrap();
    assert!(footer.ends_with("? help  q quit"), "{footer:?}");
    assert!(footer.contains("o owner keys"), "{footer:?}");
    let status_bar = screen.lines().nth(22).unwrap();
    assert!(
        status_bar.contains("/home/…/seedward/coordinator"),
        "the end of the state path shows: {status_bar:?}"
    );
    let mut history = history_app();
    for width in [80, 120] {
        let screen = draw(&mut history, width, 24);
        let footer = screen.lines().nth(23).unwrap();
        assert!(
            footer.ends_with("/ filter  ? help  q quit"),
            "{width}: {footer:?}"
        );
    }
}

#[test]
fn item4_fit_path_shortens_in_the_middle() {
    use super::app::fit_path;
    let p = "/srv/seedward/a/very/long/path/to/the/state/coordinator";
    assert_eq!(fit_path(p, 200), p);
    assert_eq!(fit_path(p, 30), "/srv/…/the/state/coordinator");
    assert!(fit_path(p, 30).chars().count() <= 30);
    assert_eq!(fit_path("/x/averyveryverylongname", 10), "…ylongname");
}

/// The style of the first cell of the row that contains `needle`, after the label.
fn style_of(app: &mut app::App, needle: &str) -> ratatui::style::Style {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|f| app::render(app, f)).unwrap();
    let buffer = terminal.backend().buffer().clone();
    for y in 0..24 {
        let row: String = (0..80)
            .map(|x| buffer[(x, y)].symbol().to_string())
            .collect();
        if let Some(byte) = row.find(needle) {
            let x = row[..byte].chars().count() as u16;
            return buffer[(x, y)].style();
        }
    }
    panic!("{needle:?} not on screen")
}

#[test]
fn item6_not_yet_recovered_is_calm_and_a_takeover_stays_red() {
    use ratatui::style::{Color, Modifier};
    let mut app = new_app();
    app.no_color = false;
    with_status(
        &mut app,
        status(
            CoordinatorState::RecoveryRequired,
            TrustLevel::PinMismatch,
            3,
        ),
    );
    let expected = style_of(&mut app, super::text::TRUST_MISMATCH);
    assert_ne!(expected.fg, Some(Color::Red), "{expected:?}");
    assert!(!expected.add_modifier.contains(Modifier::BOLD));
    assert!(!super::text::TRUST_MISMATCH.contains('✗'));
    with_status(
        &mut app,
        status(CoordinatorState::Ready, TrustLevel::PinMismatch, 3),
    );
    let takeover = style_of(&mut app, "✗ TAKEOVER");
    assert_eq!(takeover.fg, Some(Color::Red));
    assert_ne!(expected.fg, takeover.fg);
}

#[test]
fn item7_unreachable_says_what_to_check_and_an_http_server_is_named_as_such() {
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
    let screen = draw(&mut app, 80, 24);
    assert!(!screen.contains("wait for the first refresh"), "{screen}");
    let joined: String = screen.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        joined.contains("Nothing usable answers at 127.0.0.1:1313"),
        "{screen}"
    );
    assert!(joined.contains("F5 retries now"), "{screen}");
    insta::assert_snapshot!("ux_dashboard_unreachable", screen);
    let message = crate::ops::OpsError::from(tonic::Status::unknown(
        "grpc-status header missing, mapped from HTTP status code 404",
    ))
    .to_string();
    let line = super::text::health_failed(&message);
    assert!(
        line.starts_with(
            "✗ wrong server: the server at this address is not a Seedward Coordinator"
        ),
        "{line}"
    );
    assert!(!line.contains("refused"), "{line}");
    assert!(!line.contains("unreachable"), "{line}");
}

#[test]
fn item8_v_in_the_export_notice_verifies_at_once() {
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
    assert!(app.popup.is_some());
    press(&mut app, Key::Char('v'));
    assert!(app.popup.is_none(), "v closed the notice");
    assert!(app.typing(), "and opened the verify prompt");
    let effects = press(&mut app, Key::Enter);
    assert!(
        matches!(effects.as_slice(), [Effect::VerifyBundle { path: p }] if *p == path),
        "{effects:?}"
    );
    // An error message offers nothing: v does not act through it.
    app::on_event(&mut app, Event::BundleVerified(Err("no such file".into())));
    press(&mut app, Key::Char('v'));
    assert!(app.popup.is_some(), "an error stays until closed");
}

/// The update screen at the review of generation 2 of [`audited`], active generation 1.
fn update_review() -> app::App {
    use super::tests::{loaded, template};
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
        Event::Manifests(Ok(vec!["manifest-v2.json".into(), "manifest.json".into()])),
    );
    press(&mut app, Key::Enter);
    let new = audited().entries[1].manifest().cloned().unwrap();
    let mut candidate = loaded(new, template().1);
    candidate.path = PathBuf::from("/home/op/deploy/manifest-v2.json");
    app::on_event(&mut app, Event::ManifestLoaded(Box::new(candidate)));
    app
}

#[test]
fn item8_a_wrong_confirmation_word_is_said_and_the_update_names_manifest_previous() {
    let mut app = update_review();
    press(&mut app, Key::Enter);
    let ask = draw(&mut app, 80, 24);
    assert!(ask.contains("manifest.json.previous"), "{ask}");
    type_str(&mut app, "updte");
    let effects = press(&mut app, Key::Enter);
    assert!(effects.is_empty(), "nothing sent: {effects:?}");
    let wrong = draw(&mut app, 80, 24);
    assert!(
        wrong.contains("✗ \"updte\" is not \"update\": nothing was sent"),
        "{wrong}"
    );
    insta::assert_snapshot!("ux_update_wrong_word", wrong);
    type_str(&mut app, "update");
    let effects = press(&mut app, Key::Enter);
    assert!(
        matches!(effects.as_slice(), [Effect::UpdateManifest { .. }]),
        "{effects:?}"
    );
}

#[test]
fn item8_f5_reads_the_update_files_again() {
    let mut app = update_review();
    // Back to the files: they are read again.
    let effects = press(&mut app, Key::Esc);
    assert!(
        matches!(effects.as_slice(), [Effect::ListManifests]),
        "{effects:?}"
    );
    let effects = press(&mut app, Key::F(5));
    assert!(
        matches!(effects.as_slice(), [Effect::ListManifests]),
        "{effects:?}"
    );
    app::on_event(
        &mut app,
        Event::Manifests(Ok(vec![
            "manifest-v2.json".into(),
            "manifest-v3.json".into(),
            "manifest.json".into(),
        ])),
    );
    let screen = draw(&mut app, 80, 24);
    assert!(screen.contains("manifest-v3.json"), "{screen}");
}

#[test]
fn item9_esc_and_q_ask_the_same_plain_question_when_a_flow_is_unfinished() {
    use super::components::popup::Popup;
    use super::screens::Screen;
    use super::tests::owner_key;
    let recovering = || {
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
            Event::Preflighted(Ok(Box::new(crate::ops::Preflight {
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
        app
    };
    // Esc in the recovery with a share decrypted asks, in words used nowhere else.
    let mut app = recovering();
    press(&mut app, Key::Esc);
    assert!(
        matches!(app.popup, Some(Popup::QuitConfirm { quit: false, .. })),
        "{:?}",
        app.popup
    );
    let screen = draw(&mut app, 80, 24);
    assert!(screen.contains("Leave the recovery?"), "{screen}");
    assert!(!screen.contains("ceremony"), "{screen}");
    insta::assert_snapshot!("ux_recovery_leave_question", screen);
    // n stays; y leaves and forgets the share.
    press(&mut app, Key::Char('n'));
    assert!(matches!(app.screen, Screen::Recovery(_)));
    press(&mut app, Key::Esc);
    let effects = press(&mut app, Key::Char('y'));
    assert!(matches!(app.screen, Screen::Dashboard));
    assert!(!app.quit);
    assert!(
        effects.iter().any(|e| matches!(e, Effect::ForgetShare)),
        "{effects:?}"
    );
    // q asks the quit question.
    let mut app = recovering();
    press(&mut app, Key::Char('q'));
    let screen = draw(&mut app, 80, 24);
    assert!(screen.contains("Quit Seedward?"), "{screen}");
    press(&mut app, Key::Char('y'));
    assert!(app.quit);
    // Before anything was chosen, Esc just leaves.
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
    press(&mut app, Key::Esc);
    assert!(app.popup.is_none());
    assert!(matches!(app.screen, Screen::Dashboard));
}

#[test]
fn item5_keys_in_an_unreachable_keyring_are_not_said_to_be_in_files() {
    let mut app = new_app();
    with_status(
        &mut app,
        status(
            CoordinatorState::RecoveryRequired,
            TrustLevel::PinMismatch,
            3,
        ),
    );
    app::on_event(
        &mut app,
        Event::Keys {
            result: Ok(super::tests::key_infos()),
            warning: Some(crate::keystore::stranded_warning(
                "the keyring did not answer within 3 s",
                &["seedshare-owner", "workload-owner"],
            )),
            backend: "0600 files in the workspace (keys/)".into(),
        },
    );
    let screen = draw(&mut app, 80, 24);
    assert!(
        screen.contains(super::text::KEYRING_STRANDED_LINE),
        "{screen}"
    );
    assert!(!screen.contains("0600"), "{screen}");
    press(&mut app, Key::Char('?'));
    let help = draw(&mut app, 80, 24);
    assert!(help.contains("seedshare-owner, workload-owner"), "{help}");
    // Loading such a key fails with advice that can help: not --key-store file.
    let error = crate::keystore::KeyStoreError::Keyring {
        name: "seedshare-owner".into(),
        detail: "no access to the keyring (is it locked?)".into(),
    }
    .to_string();
    assert!(error.contains("start and unlock the keyring"), "{error}");
    assert!(!error.contains("or use --key-store file"), "{error}");
}

#[test]
fn item14_an_added_policy_shows_its_workload_secret_id_in_the_diff() {
    use super::tests::template;
    use seedward_shared::manifest::Manifest;
    let (old, _) = template();
    let mut doc: serde_json::Value = serde_json::from_slice(old.raw()).unwrap();
    doc["Policies"][&"ab".repeat(32)] = serde_json::json!({
        "SANs": ["db"],
        "WorkloadSecretID": "apps/v1/StatefulSet/default/db",
    });
    let new = Manifest::parse(doc.to_string().into_bytes()).unwrap();
    let diff = seedward_shared::manifest::ManifestDiff::between(&old, &new);
    let theme = super::theme::Theme::new(false);
    let lines = super::components::manifest::diff_lines(&diff, theme);
    let text: Vec<String> = lines.iter().map(ToString::to_string).collect();
    assert!(
        text.iter().any(|l| l.starts_with("+ policy")
            && l.contains("WorkloadSecretID apps/v1/StatefulSet/default/db")),
        "{text:?}"
    );
}

#[test]
fn item12_plain_mode_is_ascii_and_read_only_has_no_setup_recovery_or_update_keys() {
    let mut app = new_app();
    app.plain = true;
    with_status(
        &mut app,
        status(
            CoordinatorState::RecoveryRequired,
            TrustLevel::PinMismatch,
            3,
        ),
    );
    let screen = draw(&mut app, 80, 24);
    assert!(screen.is_ascii(), "{screen}");
    assert!(screen.contains("x recovery required"), "{screen}");
    insta::assert_snapshot!("ux_plain_dashboard", screen);

    let mut app = new_app();
    app.read_only = true;
    with_status(
        &mut app,
        status(
            CoordinatorState::RecoveryRequired,
            TrustLevel::PinMismatch,
            3,
        ),
    );
    let screen = draw(&mut app, 80, 24);
    assert!(screen.contains("READ-ONLY"), "{screen}");
    let footer = screen.lines().nth(23).unwrap();
    assert!(footer.starts_with("h history"), "{footer:?}");
    for key in ['s', 'r', 'u', 'o'] {
        assert!(press(&mut app, Key::Char(key)).is_empty());
        assert!(app.popup.is_none(), "{key}: {:?}", app.popup);
        assert!(matches!(app.screen, super::screens::Screen::Dashboard));
    }
    let effects = press(&mut app, Key::Char('h'));
    assert!(matches!(effects.as_slice(), [Effect::Audit]), "{effects:?}");
}

#[test]
fn item11_slash_starts_a_fresh_filter_says_no_matches_and_ctrl_keys_work() {
    let mut app = history_app();
    press(&mut app, Key::Char('/'));
    type_str(&mut app, "zzz-nothing");
    let screen = draw(&mut app, 80, 24);
    assert!(screen.contains("no matches"), "{screen}");
    press(&mut app, Key::Enter);
    // `/` again starts over instead of editing "zzz-nothing".
    press(&mut app, Key::Char('/'));
    let screen = draw(&mut app, 80, 24);
    assert!(!screen.contains("zzz-nothing"), "{screen}");
    assert!(!screen.contains("no matches"), "{screen}");
    press(&mut app, Key::Esc);
    // Ctrl-L asks for a redraw; Ctrl-C quits as interrupted (exit status 130).
    press(&mut app, Key::Ctrl('l'));
    assert!(app.redraw);
    press(&mut app, Key::Ctrl('c'));
    assert!(app.quit && app.interrupted);
}

#[test]
fn item11_wrapped_diff_lines_keep_their_marker_and_the_detail_pane_says_where_it_is() {
    use ratatui::text::Line;
    let line = Line::raw(format!(
        "+ policy {} (role none)",
        "svc.default.cluster ".repeat(6)
    ));
    let rows = super::components::scroll_pane::wrap_lines(&[line], 40);
    assert!(rows.len() > 2);
    for row in &rows {
        assert!(row.to_string().starts_with("+ "), "{rows:?}");
        assert!(row.width() <= 40, "{rows:?}");
    }
    // The history's detail pane at 80×24: the raw JSON does not fit, and its bottom border
    // says which lines show and which keys scroll.
    let mut app = history_app();
    press(&mut app, Key::Tab);
    let screen = draw(&mut app, 80, 24);
    assert!(screen.contains("lines 1–"), "{screen}");
    assert!(screen.contains("K/J"), "{screen}");
    press(&mut app, Key::Char('J'));
    let screen = draw(&mut app, 80, 24);
    assert!(screen.contains("lines 6–"), "{screen}");
    // J far past the end stops at the end; one K then moves up at once.
    for _ in 0..200 {
        press(&mut app, Key::Char('J'));
        draw(&mut app, 80, 24);
    }
    let end = draw(&mut app, 80, 24);
    let at_end = end
        .lines()
        .find(|l| l.contains("lines "))
        .unwrap()
        .to_string();
    press(&mut app, Key::Char('K'));
    let up = draw(&mut app, 80, 24);
    let after_k = up
        .lines()
        .find(|l| l.contains("lines "))
        .unwrap()
        .to_string();
    assert_ne!(at_end, after_k, "one K after overshooting must scroll up");
}

#[test]
fn item11_the_recovery_checklist_has_no_boxes_that_look_toggleable() {
    for item in super::text::CHECKLIST {
        assert!(!item.contains('☐'), "{item}");
        assert!(
            item.chars().next().is_some_and(|c| c.is_ascii_digit()),
            "{item}"
        );
    }
}
