//! The recovery board of a threshold deployment (k of n owners): who has sent their share,
//! how many are still needed, the time left and what happens next, refreshed while it is
//! open. Enter sends this workspace's share (after the typed confirmation), `x` cancels the
//! session. The protocol is docs/COORDINATOR.md, "Recovery sessions"; the ceremony
//! docs/RECOVERY.md.

use std::time::SystemTime;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::Outcome;
use crate::keystore::KeyKind;
use crate::ops::{CoordinatorState, SessionStatus};
use crate::ui::components::popup::{Confirmed, Popup};
use crate::ui::effects::{Effect, Event};
use crate::ui::keymap::{Action, Context};
use crate::ui::shared::KeysState;
use crate::ui::text;
use crate::ui::theme::Theme;

#[derive(Debug, Clone, Default)]
pub struct RecoveryBoard {
    /// The last answer of the Coordinator.
    pub status: Option<SessionStatus>,
    /// Why the last poll or action failed.
    pub error: Option<String>,
    /// What this owner's last action did.
    pub notice: Option<String>,
    /// A poll is in flight.
    pub polling: bool,
    /// A submission or cancel is in flight.
    pub busy: bool,
    /// A fixed clock for "sent … ago" and the time left (`None`: the system clock). Set by
    /// tests and documentation captures, so that a drawn board is reproducible.
    pub clock: Option<SystemTime>,
}

impl RecoveryBoard {
    /// A board whose first poll is being sent with it.
    pub fn opening() -> Self {
        Self {
            polling: true,
            ..Self::default()
        }
    }

    pub fn contexts(&self) -> Vec<Context> {
        vec![Context::Board]
    }

    /// The first seed share owner key of this workspace: the one whose share is sent.
    fn owner_key(keys: &KeysState) -> Option<String> {
        keys.of_kind(KeyKind::SeedShareOwner)
            .next()
            .map(|k| k.name.clone())
    }

    fn unattested(&self) -> bool {
        !self
            .status
            .as_ref()
            .and_then(|s| s.session.as_ref())
            .and_then(|s| s.evidence.as_ref())
            .is_some_and(|e| e.attested())
    }

    pub fn update(&mut self, action: Action, keys: &KeysState) -> Outcome {
        match action {
            Action::Back => Outcome::leave().and_refresh(),
            Action::Refresh => self.poll(),
            _ if self.busy => Outcome::none(),
            Action::Select => match Self::owner_key(keys) {
                None => Outcome::popup(Popup::error(text::BOARD_TITLE, text::BOARD_NO_KEY)),
                Some(key) => {
                    let unattested = self.unattested();
                    Outcome::popup(Popup::typed(
                        text::BOARD_SEND_TITLE,
                        text::board_send_body(&key, unattested),
                        text::confirm_word(unattested, text::CONFIRM_RECOVER_WORD),
                        Confirmed::SubmitShare { unattested },
                    ))
                }
            },
            Action::CancelSession => {
                let open = self.status.as_ref().is_some_and(|s| s.session.is_some());
                match (open, Self::owner_key(keys)) {
                    (false, _) => Outcome::popup(Popup::notice(
                        text::BOARD_TITLE,
                        text::BOARD_NOTHING_TO_CANCEL,
                    )),
                    (true, None) => {
                        Outcome::popup(Popup::error(text::BOARD_TITLE, text::BOARD_NO_KEY))
                    }
                    (true, Some(_)) => Outcome::popup(Popup::typed(
                        text::BOARD_CANCEL_TITLE,
                        text::board_cancel_body(),
                        text::BOARD_CANCEL_WORD,
                        Confirmed::CancelSession,
                    )),
                }
            }
            _ => Outcome::none(),
        }
    }

    /// The typed confirmation was given.
    pub fn confirmed(&mut self, then: Confirmed, keys: &KeysState) -> Vec<Effect> {
        let Some(owner_key) = Self::owner_key(keys) else {
            return Vec::new();
        };
        self.busy = true;
        self.notice = None;
        match then {
            Confirmed::SubmitShare { unattested } => vec![Effect::SubmitShare {
                owner_key,
                allow_unattested: unattested,
            }],
            Confirmed::CancelSession => vec![Effect::CancelSession { owner_key }],
            _ => {
                self.busy = false;
                Vec::new()
            }
        }
    }

    /// The periodic refresh: poll unless a poll is in flight.
    pub fn tick(&mut self) -> Vec<Effect> {
        if self.polling {
            return Vec::new();
        }
        self.polling = true;
        vec![Effect::PollSession]
    }

    fn poll(&mut self) -> Outcome {
        self.tick().into_iter().fold(Outcome::none(), Outcome::and)
    }

    pub fn on_event(&mut self, event: Event) -> Result<Outcome, Event> {
        Ok(match event {
            Event::SessionPolled(result) => {
                self.polling = false;
                match result {
                    Ok(status) => {
                        self.status = Some(*status);
                        self.error = None;
                    }
                    Err(e) => self.error = Some(e),
                }
                Outcome::none()
            }
            Event::SessionActed { result, submitted } => {
                self.busy = false;
                match result {
                    Ok(status) => {
                        self.notice = Some(
                            match (submitted, status.recovered.is_some()) {
                                (true, true) => text::BOARD_RECOVERED,
                                (true, false) => text::BOARD_SENT,
                                (false, _) => text::BOARD_CANCELLED,
                            }
                            .into(),
                        );
                        self.status = Some(*status);
                        self.error = None;
                        return Ok(Outcome::none().and_refresh());
                    }
                    Err(e) => self.error = Some(e),
                }
                Outcome::none()
            }
            other => return Err(other),
        })
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, keys: &KeysState, theme: Theme) {
        let lines = self.lines(keys, theme, self.clock.unwrap_or_else(SystemTime::now));
        let block = Block::default()
            .borders(Borders::ALL)
            .title(format!(" {} ", text::BOARD_TITLE));
        frame.render_widget(
            Paragraph::new(lines)
                .block(block)
                .wrap(Wrap { trim: false }),
            area,
        );
    }

    /// What the board shows at `now` (a parameter, so that tests draw a fixed board).
    pub fn lines(&self, keys: &KeysState, theme: Theme, now: SystemTime) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        let ours: Vec<&str> = keys
            .of_kind(KeyKind::SeedShareOwner)
            .map(|k| k.fingerprint.as_str())
            .collect();
        match self.status.as_ref() {
            None => lines.push(Line::styled(text::BOARD_LOADING, theme.dim())),
            Some(status) => match &status.session {
                None => {
                    lines.push(Line::styled(
                        text::board_no_session(status.state.label()),
                        theme.bold(),
                    ));
                    // A session only exists to bring a Coordinator back: say so instead of
                    // offering to send a share to one that needs none.
                    let needs_owners = matches!(
                        status.state,
                        CoordinatorState::RecoveryRequired | CoordinatorState::Stale
                    );
                    lines.push(Line::raw(if needs_owners {
                        text::BOARD_HOW_TO_START
                    } else {
                        text::BOARD_NOTHING_TO_RECOVER
                    }));
                }
                Some(s) => {
                    lines.push(Line::styled(
                        text::board_headline(s.threshold, s.owners.len(), s.submitted, s.remaining),
                        theme.bold(),
                    ));
                    lines.push(Line::raw(""));
                    for o in &s.owners {
                        let you = if ours.contains(&o.fingerprint.as_str()) {
                            "  (you)"
                        } else {
                            ""
                        };
                        let line = match o.submitted_at {
                            Some(at) => Line::styled(
                                format!(
                                    "✓ share {:>3}  {}  sent {}{you}",
                                    o.index,
                                    o.fingerprint,
                                    text::ago(now, at)
                                ),
                                theme.ok(),
                            ),
                            None => Line::raw(format!(
                                "· share {:>3}  {}  waiting{you}",
                                o.index, o.fingerprint
                            )),
                        };
                        lines.push(line);
                    }
                    for w in &s.wrong_shares {
                        lines.push(Line::styled(
                            text::board_wrong_share(&w.fingerprint, w.index),
                            theme.bad(),
                        ));
                    }
                    lines.push(Line::raw(""));
                    let left = s.time_left(now).as_secs();
                    lines.push(Line::raw(text::board_time_left(left)));
                    lines.push(Line::styled(text::board_next(s.remaining), theme.bold()));
                }
            },
        }
        if let Some(ended) = self.status.as_ref().and_then(|s| s.last_ended.as_ref()) {
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                text::board_last_ended(&ended.outcome, &ended.detail),
                theme.dim(),
            ));
        }
        if let Some(n) = &self.notice {
            lines.push(Line::raw(""));
            lines.push(Line::styled(n.clone(), theme.ok()));
        }
        if self.busy {
            lines.push(Line::styled(text::RUNNING, theme.warn()));
        }
        if let Some(e) = &self.error {
            lines.push(Line::raw(""));
            lines.push(Line::styled(e.clone(), theme.bad()));
        }
        lines
    }
}
