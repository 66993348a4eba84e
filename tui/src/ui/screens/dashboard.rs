//! The dashboard: the Coordinator's status and the owner keys, and the keys that open the
//! other screens (each only in the Coordinator states where it makes sense).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::keys::KeysScreen;
use super::{Outcome, Screen};
use crate::ops::{CoordinatorState, StatusView};
use crate::ui::components::coordinator::{evidence_spans, state_line, trust_span};
use crate::ui::components::popup::Popup;
use crate::ui::components::replicas::board_lines;
use crate::ui::components::scroll_pane::wrap_lines;
use crate::ui::components::{block, label, truncate};
use crate::ui::effects::Effect;
use crate::ui::keymap::{Action, Context};
use crate::ui::shared::{Health, KeysState};
use crate::ui::text;
use crate::ui::theme::Theme;

pub fn contexts() -> Vec<Context> {
    vec![Context::Dashboard]
}

/// Applies a key's action; `state` is the Coordinator's as last refreshed.
pub fn update(action: Action, state: Option<CoordinatorState>) -> Outcome {
    match action {
        Action::Refresh => Outcome::none().and_refresh().and(Effect::ListKeys),
        Action::OpenSetup => match state {
            Some(CoordinatorState::Uninitialized) => {
                Outcome::open(Screen::Setup(Box::default())).and(Effect::ListKeys)
            }
            Some(other) => not_now(text::SETUP_TITLE, text::setup_not_possible(other.label())),
            None => not_now(text::SETUP_TITLE, text::NO_STATUS_YET),
        },
        Action::OpenRecovery => match state {
            Some(CoordinatorState::RecoveryRequired | CoordinatorState::Stale) => {
                Outcome::open(Screen::Recovery(Box::default())).and(Effect::ListKeys)
            }
            Some(other) => not_now(
                text::RECOVERY_TITLE,
                text::recovery_not_needed(other.label()),
            ),
            None => not_now(text::RECOVERY_TITLE, text::NO_STATUS_YET),
        },
        Action::OpenBoard => Outcome::open(Screen::Board(Box::new(
            super::board::RecoveryBoard::opening(),
        )))
        .and(Effect::PollSession),
        Action::OpenHistory => Outcome::open(Screen::History(Box::default())).and(Effect::Audit),
        Action::OpenUpdate => match state {
            Some(CoordinatorState::Ready) => Outcome::open(Screen::Update(Box::default()))
                .and(Effect::Audit)
                .and(Effect::ListManifests)
                .and(Effect::ListKeys),
            Some(other) => not_now(text::UPDATE_TITLE, text::update_not_possible(other.label())),
            None => not_now(text::UPDATE_TITLE, text::NO_STATUS_YET),
        },
        Action::OpenKeys => {
            Outcome::open(Screen::Keys(KeysScreen::default())).and(Effect::ListKeys)
        }
        _ => Outcome::none(),
    }
}

/// A screen that cannot open in the Coordinator's state: a notice that says why.
fn not_now(title: &str, why: impl Into<String>) -> Outcome {
    Outcome::popup(Popup::notice(title, why))
}

/// What the dashboard says besides the health and the keys.
pub struct Facts<'a> {
    /// The Coordinator's address (for the advice when it does not answer).
    pub address: &'a str,
    /// Auditor mode: the advice names the history only.
    pub read_only: bool,
}

/// Draws the dashboard: the Coordinator, the owner keys, and what to do next.
pub fn render(
    frame: &mut Frame,
    area: Rect,
    health: &Health,
    keys: &KeysState,
    facts: Facts<'_>,
    theme: Theme,
) {
    let Facts { address, read_only } = facts;
    let next_lines = match (health, health.status()) {
        (Health::Failed { .. }, last) => vec![Line::raw(text::next_unreachable(
            last.map_or(address, |s| s.address.as_str()),
        ))],
        (_, Some(_)) if read_only => vec![
            Line::raw(text::READ_ONLY_NEXT),
            Line::styled(text::READ_ONLY_KEYS, theme.bold()),
        ],
        (_, Some(s)) => vec![
            Line::raw(s.state.next_step()),
            Line::styled(text::dashboard_keys_hint(s.state.label()), theme.bold()),
        ],
        (_, None) => vec![Line::raw(text::NO_STATUS_YET)],
    };
    // "What to do next" takes the rows its advice needs (at least two).
    let next_rows = wrap_lines(&next_lines, area.width.saturating_sub(2) as usize)
        .len()
        .clamp(2, 5) as u16;
    let key_rows = keys.list.len().max(1) as u16 + 2 + u16::from(keys.warning.is_some());
    let inner_width = area.width.saturating_sub(2) as usize;
    // A Coordinator on a shared store (etcd) shows its replica set between the two.
    let board = health.status().and_then(|s| {
        s.replica_set.as_ref().map(|set| {
            let mut lines = board_lines(set, theme, inner_width);
            // Who did what (docs/HA.md): how the answering replica got its keys.
            if let Some(recovery) = &s.last_recovery {
                lines.push(Line::styled(
                    format!("{} was recovered {}", set.self_id, recovery.describe()),
                    theme.dim(),
                ));
            }
            lines
        })
    });
    // The Coordinator block (with its trust line) and the advice keep their rows; the board
    // takes what is left above three rows for the keys, at least its summary line.
    let spare = area.height.saturating_sub(9 + next_rows + 2 + 3);
    let board_rows = board
        .as_ref()
        .map_or(0, |b| (b.len() as u16 + 2).min(spare.max(3)));
    let [coord, board_area, keys_area, next] = Layout::vertical([
        Constraint::Length(9),
        Constraint::Length(board_rows),
        Constraint::Min(key_rows.min(8)),
        Constraint::Length(next_rows + 2),
    ])
    .areas(area);
    let mut lines = match health.status() {
        Some(status) => status_lines(status, theme, inner_width),
        None => vec![Line::from(vec![
            label(text::LABEL_STATE, theme),
            Span::styled("… unknown", theme.dim()),
        ])],
    };
    let connection = match health {
        Health::Connecting => Span::styled(text::HEALTH_CONNECTING, theme.dim()),
        Health::Ok { latency_ms, .. } => Span::styled(
            format!("{} · {}", text::health_ok(*latency_ms), text::REFRESHING),
            theme.ok(),
        ),
        Health::Failed { message, .. } => Span::styled(text::health_failed(message), theme.bad()),
    };
    lines.push(Line::from(vec![
        label(text::LABEL_CONNECTION, theme),
        connection,
    ]));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block(text::COORDINATOR_BLOCK))
            .wrap(Wrap { trim: false }),
        coord,
    );

    if let Some(board) = board {
        frame.render_widget(
            Paragraph::new(board).block(block(text::REPLICAS_BLOCK)),
            board_area,
        );
    }

    let mut key_lines = Vec::new();
    if let Some(w) = &keys.warning {
        key_lines.push(Line::styled(text::keyring_warning_line(w), theme.warn()));
    }
    if let Some(e) = &keys.error {
        key_lines.push(Line::styled(format!("✗ {e}"), theme.bad()));
    }
    if keys.list.is_empty() {
        key_lines.push(Line::raw(text::NO_KEYS));
    }
    for k in &keys.list {
        key_lines.push(Line::from(vec![
            Span::styled(format!("{:<18} ", truncate(&k.name, 18)), theme.bold()),
            Span::raw(format!("{:<9} ", k.kind.as_str())),
            Span::raw(format!("{:<8} ", k.backend.as_str())),
            Span::raw(k.fingerprint.clone()),
        ]));
    }
    frame.render_widget(
        Paragraph::new(key_lines)
            .block(block(text::KEYS_BLOCK))
            .wrap(Wrap { trim: false }),
        keys_area,
    );

    frame.render_widget(
        Paragraph::new(next_lines)
            .block(block(text::NEXT_BLOCK))
            .wrap(Wrap { trim: true }),
        next,
    );
}

fn status_lines(status: &StatusView, theme: Theme, width: usize) -> Vec<Line<'static>> {
    let hash_width = width.saturating_sub(14);
    vec![
        Line::from(vec![
            label(text::LABEL_STATE, theme),
            state_line(status.state, theme),
        ]),
        Line::from(vec![
            label(text::LABEL_GENERATION, theme),
            Span::raw(status.generation.to_string()),
        ]),
        Line::from(vec![
            label(text::LABEL_LATEST, theme),
            Span::raw(
                status
                    .latest
                    .map(|d| truncate(&d.to_string(), hash_width))
                    .unwrap_or_else(|| text::NONE_YET.into()),
            ),
        ]),
        Line::from(vec![
            label(text::LABEL_ROOT_CA, theme),
            Span::raw(
                status
                    .root_ca_fingerprint
                    .clone()
                    .unwrap_or_else(|| text::NONE_YET.into()),
            ),
        ]),
        Line::from({
            let mut s = vec![label(text::LABEL_EVIDENCE, theme)];
            s.extend(evidence_spans(status.evidence.as_ref(), theme));
            s
        }),
        Line::from(vec![
            label(text::LABEL_TRUST, theme),
            trust_span(status.trust, status.state, theme),
        ]),
    ]
}
