//! The recovery wizard, after a Coordinator restart: choose the owner key, decrypt the seed
//! share (held by the effect runner, never here), pre-flight, check the Coordinator's
//! identity, confirm by typing `recover`, send, re-verify, and a checklist. A failed step
//! says what happened; Enter retries it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::Line;
use seedward_proto::v1 as pb;

use super::Outcome;
use crate::keystore::{KeyInfo, KeyKind};
use crate::ops::{CoordinatorState, Preflight, Reverify};
use crate::ui::components::coordinator::coordinator_lines;
use crate::ui::components::list::{ListState, choice_lines};
use crate::ui::components::popup::{Confirmed, Popup};
use crate::ui::components::scroll_pane::{PaneScroll, ScrollPane};
use crate::ui::components::steps::{split_steps, step_list};
use crate::ui::effects::{Effect, Event};
use crate::ui::keymap::{Action, Context};
use crate::ui::shared::KeysState;
use crate::ui::text;
use crate::ui::theme::Theme;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryStep {
    Key,
    Decrypt,
    Preflight,
    Identity,
    Send,
    Reverify,
    Checklist,
}

impl RecoveryStep {
    pub const ALL: [RecoveryStep; 7] = [
        RecoveryStep::Key,
        RecoveryStep::Decrypt,
        RecoveryStep::Preflight,
        RecoveryStep::Identity,
        RecoveryStep::Send,
        RecoveryStep::Reverify,
        RecoveryStep::Checklist,
    ];

    pub fn index(self) -> usize {
        Self::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    pub fn title(self) -> &'static str {
        text::RECOVERY_STEPS[self.index()]
    }
}

/// How a step went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepState {
    Pending,
    Running,
    Done(String),
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct RecoveryWizard {
    pub step: RecoveryStep,
    pub states: Vec<StepState>,
    pub list: ListState,
    pub key: Option<String>,
    pub preflight: Option<Preflight>,
    pub response: Option<pb::RecoverResponse>,
    pub reverify: Option<Reverify>,
    /// The share is decrypted and held by the effect runner (never by the UI state).
    pub share_loaded: bool,
}

impl Default for RecoveryWizard {
    fn default() -> Self {
        Self::new()
    }
}

impl RecoveryWizard {
    pub fn new() -> Self {
        Self {
            step: RecoveryStep::Key,
            states: vec![StepState::Pending; RecoveryStep::ALL.len()],
            list: ListState::default(),
            key: None,
            preflight: None,
            response: None,
            reverify: None,
            share_loaded: false,
        }
    }

    pub fn state(&self, step: RecoveryStep) -> &StepState {
        &self.states[step.index()]
    }

    fn set(&mut self, step: RecoveryStep, state: StepState) {
        self.states[step.index()] = state;
    }

    pub fn in_ceremony(&self) -> bool {
        self.step != RecoveryStep::Checklist && self.key.is_some()
    }

    pub fn running(&self) -> bool {
        self.states.contains(&StepState::Running)
    }

    pub fn typing(&self) -> bool {
        self.list.filtering
    }

    pub fn contexts(&self) -> Vec<Context> {
        if self.step == RecoveryStep::Key {
            vec![Context::Recovery, Context::List]
        } else {
            vec![Context::Recovery]
        }
    }

    /// The seed share owner keys the filter lets through.
    fn owners<'k>(&self, keys: &'k KeysState) -> Vec<&'k KeyInfo> {
        keys.of_kind(KeyKind::SeedShareOwner)
            .filter(|k| self.list.matches(&format!("{} {}", k.name, k.fingerprint)))
            .collect()
    }

    /// Applies a key's action. Nothing moves while a step runs, except the filter.
    pub fn update(&mut self, action: Action, keys: &KeysState) -> Outcome {
        if self.list.type_filter(action) {
            return Outcome::none();
        }
        if action == Action::Back {
            if self.list.filter.is_some() {
                self.list.filter = None;
                return Outcome::none();
            }
            if self.running() {
                return Outcome::none();
            }
            // Esc leaves the wizard; with a share decrypted, nothing failed and nothing
            // finished, it asks first, as q does (the steps run on their own: there is no
            // step back). After a failure the screen says "Esc to leave", and it does.
            let failed = self
                .states
                .iter()
                .any(|s| matches!(s, StepState::Failed(_)));
            if self.in_ceremony() && self.share_loaded && !failed {
                return Outcome::popup(Popup::QuitConfirm {
                    flow: text::FLOW_RECOVERY,
                    quit: false,
                });
            }
            return leave();
        }
        if self.running() {
            return Outcome::none();
        }
        match self.step {
            RecoveryStep::Key => self.choose_key(action, keys),
            RecoveryStep::Decrypt | RecoveryStep::Preflight if action == Action::Select => {
                self.retry()
            }
            RecoveryStep::Identity if action == Action::Select => self.ask_to_confirm(),
            RecoveryStep::Checklist if action == Action::Select => leave(),
            _ => Outcome::none(),
        }
    }

    /// The key step: move through the owner keys; Enter decrypts the share with one.
    fn choose_key(&mut self, action: Action, keys: &KeysState) -> Outcome {
        let owners = self.owners(keys);
        if action != Action::Select {
            self.list.navigate(action, owners.len());
            return Outcome::none();
        }
        let Some(key) = owners.get(self.list.cursor) else {
            return Outcome::none();
        };
        let name = key.name.clone();
        let done = StepState::Done(text::key_chosen(&key.name, &key.fingerprint));
        self.key = Some(name.clone());
        self.set(RecoveryStep::Key, done);
        self.step = RecoveryStep::Decrypt;
        self.set(RecoveryStep::Decrypt, StepState::Running);
        Outcome::effect(Effect::DecryptShare { owner_key: name })
    }

    /// Enter after a failure retries the failed step, explicitly: a failed decryption goes
    /// back to choosing the key, a failed pre-flight runs again.
    fn retry(&mut self) -> Outcome {
        if let StepState::Failed(_) = self.state(RecoveryStep::Decrypt) {
            self.step = RecoveryStep::Key;
            self.key = None;
            self.set(RecoveryStep::Decrypt, StepState::Pending);
            self.set(RecoveryStep::Key, StepState::Pending);
            return Outcome::effect(Effect::ForgetShare);
        }
        if let StepState::Failed(_) = self.state(RecoveryStep::Preflight) {
            self.set(RecoveryStep::Preflight, StepState::Running);
            return Outcome::effect(Effect::Preflight);
        }
        Outcome::none()
    }

    /// Enter on the identity step: the typed confirmation.
    fn ask_to_confirm(&self) -> Outcome {
        let latest = self
            .preflight
            .as_ref()
            .map(|p| p.latest.to_string())
            .unwrap_or_default();
        let address = self
            .preflight
            .as_ref()
            .map(|p| p.status.address.clone())
            .unwrap_or_default();
        let unattested = !self
            .preflight
            .as_ref()
            .and_then(|p| p.status.evidence.as_ref())
            .is_some_and(|e| e.attested());
        Outcome::popup(Popup::typed(
            text::CONFIRM_RECOVER_TITLE,
            text::confirm_recover_body(&latest, &address, unattested),
            text::confirm_word(unattested, text::CONFIRM_RECOVER_WORD),
            Confirmed::Recover { unattested },
        ))
    }

    /// `recover` (or `unattested`) was typed: send the share.
    pub fn confirmed(&mut self, allow_unattested: bool) -> Vec<Effect> {
        let (Some(key), Some(preflight)) = (self.key.clone(), self.preflight.clone()) else {
            return Vec::new();
        };
        self.step = RecoveryStep::Send;
        self.set(
            RecoveryStep::Identity,
            StepState::Done(text::IDENTITY_CONFIRMED.into()),
        );
        self.set(RecoveryStep::Send, StepState::Running);
        vec![Effect::SendRecovery {
            owner_key: key,
            preflight: Box::new(preflight),
            allow_unattested,
        }]
    }

    /// Applies an effect's result; gives back the events this screen does not handle.
    pub fn on_event(&mut self, event: Event) -> Result<Outcome, Event> {
        Ok(match event {
            Event::Decrypted(result) => self.decrypted(result),
            Event::Preflighted(result) => {
                self.preflighted(result);
                Outcome::none()
            }
            Event::RecoverySent(result) => self.sent(result),
            Event::Reverified(result) => {
                self.reverified(result);
                Outcome::none().and_refresh()
            }
            other => return Err(other),
        })
    }

    fn decrypted(&mut self, result: Result<String, String>) -> Outcome {
        match result {
            Ok(fingerprint) => {
                self.share_loaded = true;
                self.set(
                    RecoveryStep::Decrypt,
                    StepState::Done(text::share_decrypted(&fingerprint)),
                );
                self.step = RecoveryStep::Preflight;
                self.set(RecoveryStep::Preflight, StepState::Running);
                Outcome::effect(Effect::Preflight)
            }
            Err(e) => {
                self.set(RecoveryStep::Decrypt, StepState::Failed(e));
                Outcome::none()
            }
        }
    }

    fn preflighted(&mut self, result: Result<Box<Preflight>, String>) {
        match result {
            Ok(preflight) => {
                self.set(
                    RecoveryStep::Preflight,
                    StepState::Done(text::preflight_ok(
                        preflight.generation,
                        &preflight.latest.short(),
                    )),
                );
                self.preflight = Some(*preflight);
                self.step = RecoveryStep::Identity;
            }
            Err(e) => self.set(RecoveryStep::Preflight, StepState::Failed(e)),
        }
    }

    fn sent(&mut self, result: Result<Box<pb::RecoverResponse>, String>) -> Outcome {
        self.share_loaded = false;
        match result {
            Ok(response) => {
                self.set(
                    RecoveryStep::Send,
                    StepState::Done(text::RECOVERY_ACCEPTED.into()),
                );
                self.step = RecoveryStep::Reverify;
                self.set(RecoveryStep::Reverify, StepState::Running);
                self.response = Some((*response).clone());
                let Some(preflight) = self.preflight.clone() else {
                    return Outcome::none();
                };
                Outcome::effect(Effect::Reverify {
                    preflight: Box::new(preflight),
                    response,
                })
            }
            Err(e) => {
                self.set(RecoveryStep::Send, StepState::Failed(e));
                Outcome::none()
            }
        }
    }

    fn reverified(&mut self, result: Result<Box<Reverify>, String>) {
        match result {
            Ok(rv) => {
                let ok = rv.root_ca_matches_pin && rv.history_unchanged;
                let state = if ok {
                    StepState::Done(text::REVERIFIED.into())
                } else {
                    StepState::Failed(text::reverify_problems(
                        rv.root_ca_matches_pin,
                        rv.history_unchanged,
                    ))
                };
                self.set(RecoveryStep::Reverify, state);
                self.reverify = Some(*rv);
                self.step = RecoveryStep::Checklist;
                self.set(RecoveryStep::Checklist, StepState::Done(String::new()));
            }
            Err(e) => self.set(RecoveryStep::Reverify, StepState::Failed(e)),
        }
    }

    /// Draws the steps on the left and the current step's pane on the right.
    pub fn render(
        &self,
        frame: &mut Frame,
        area: Rect,
        keys: &KeysState,
        theme: Theme,
        pane: &mut PaneScroll,
    ) {
        let (left, right) = split_steps(area);
        let rows = RecoveryStep::ALL
            .iter()
            .map(|s| {
                let (mark, style) = match self.state(*s) {
                    StepState::Done(_) => ("✓", theme.ok()),
                    StepState::Failed(_) => ("✗", theme.bad()),
                    StepState::Running => ("…", theme.warn()),
                    StepState::Pending if *s == self.step => {
                        ("▶", theme.bold().add_modifier(Modifier::REVERSED))
                    }
                    StepState::Pending => (" ", theme.dim()),
                };
                (s.title().to_string(), mark, style)
            })
            .collect();
        step_list(frame, left, text::RECOVERY_TITLE, rows);
        let width = right.width.saturating_sub(2) as usize;
        let lines = if self.step == RecoveryStep::Key {
            self.key_lines(keys, theme)
        } else {
            self.log_lines(width, theme)
        };
        let title = format!(
            "{}/{} {}",
            self.step.index() + 1,
            RecoveryStep::ALL.len(),
            self.step.title()
        );
        frame.render_stateful_widget(
            ScrollPane::new(&title, lines, Context::Recovery, theme),
            right,
            pane,
        );
    }

    /// The key step: the seed share owner keys to choose from.
    fn key_lines(&self, keys: &KeysState, theme: Theme) -> Vec<Line<'static>> {
        let mut lines = vec![Line::raw(text::RECOVERY_KEY_INTRO), Line::raw("")];
        let owners: Vec<String> = self
            .owners(keys)
            .iter()
            .map(|k| format!("{}  {}  ({})", k.name, k.fingerprint, k.backend.as_str()))
            .collect();
        if owners.is_empty() {
            lines.push(Line::styled(text::RECOVERY_NO_KEYS, theme.warn()));
        }
        lines.extend(choice_lines(&owners, self.list.cursor, theme));
        lines.extend(self.list.filter_line(owners.len(), theme));
        lines
    }

    /// The later steps: a log of the steps so far, then the current one's content, then
    /// what to do after a failure.
    fn log_lines(&self, width: usize, theme: Theme) -> Vec<Line<'static>> {
        let mut lines: Vec<Line<'static>> = Vec::new();
        for step in RecoveryStep::ALL.iter().take(self.step.index() + 1) {
            let line = match self.state(*step) {
                StepState::Done(m) if !m.is_empty() => {
                    Line::styled(format!("✓ {}: {m}", step.title()), theme.ok())
                }
                StepState::Failed(m) => {
                    Line::styled(format!("✗ {}: {m}", step.title()), theme.bad())
                }
                StepState::Running => Line::styled(
                    format!("… {}: {}", step.title(), text::RUNNING),
                    theme.warn(),
                ),
                _ => continue,
            };
            lines.push(line);
        }
        lines.push(Line::raw(""));
        match self.step {
            RecoveryStep::Identity => {
                lines.push(Line::styled(text::IDENTITY_INTRO, theme.bold()));
                if let Some(p) = &self.preflight {
                    lines.extend(coordinator_lines(&p.status, theme, width));
                }
            }
            RecoveryStep::Checklist => lines.extend(self.checklist_lines(theme)),
            _ => {}
        }
        let failed = self
            .states
            .iter()
            .position(|s| matches!(s, StepState::Failed(_)));
        if let Some(i) = failed {
            let next = if i == RecoveryStep::Decrypt.index() {
                text::RECOVERY_DECRYPT_FAILED
            } else {
                text::RECOVERY_NEXT_FAILED
            };
            lines.push(Line::styled(next, theme.bold()));
        }
        lines
    }

    /// The last step: what the re-verification found, and the checklist.
    fn checklist_lines(&self, theme: Theme) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        if let Some(rv) = &self.reverify {
            let check = |ok: bool, t: &str| {
                if ok {
                    Line::styled(format!("✓ {t}"), theme.ok())
                } else {
                    Line::styled(format!("✗ {t}"), theme.bad())
                }
            };
            lines.push(check(
                rv.status.state == CoordinatorState::Ready,
                "the Coordinator is ready",
            ));
            lines.push(check(
                rv.root_ca_matches_pin,
                "its root CA key equals the pinned one",
            ));
            lines.push(check(rv.history_unchanged, "the history is unchanged"));
            lines.push(Line::raw(""));
            if rv.mesh_ca_changed {
                lines.push(Line::styled(
                    "⚠ the mesh CA changed (new mesh-ca.pem saved)",
                    theme.warn(),
                ));
            }
            if let Some(note) = rv
                .status
                .replica_set
                .as_ref()
                .and_then(crate::ops::ReplicaSetView::peers_will_follow)
            {
                lines.push(Line::styled(format!("→ {note}"), theme.ok()));
            }
        }
        lines.push(Line::styled(text::CHECKLIST_HEAD, theme.bold()));
        for item in text::CHECKLIST {
            lines.push(Line::raw(item));
        }
        lines.push(Line::raw(""));
        lines.push(Line::styled(text::RECOVERY_DONE, theme.bold()));
        lines
    }
}

/// Leaving the wizard drops the decrypted share, if the runner still holds it, and
/// refreshes the status.
fn leave() -> Outcome {
    Outcome::leave()
        .and(Effect::ForgetShare)
        .and(Effect::Refresh)
}
