//! A manifest update: pick the new manifest from the workspace, review it against the
//! audited active one (validity, the semantic diff, who signs), confirm by typing `update`,
//! and send it signed against the audited latest transition. If someone else updated
//! meanwhile, the refusal shows what changed and the review starts over on the new audit.

use std::path::PathBuf;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use seedward_shared::manifest::{Manifest, ManifestDiff};

use super::Outcome;
use crate::keystore::{KeyInfo, KeyKind};
use crate::ops::{AuditedHistory, UpdateOutcome};
use crate::ui::components::list::{ListState, choice_lines};
use crate::ui::components::manifest::{diff_lines, validity_lines};
use crate::ui::components::popup::{Confirmed, Popup};
use crate::ui::components::scroll_pane::{PaneScroll, ScrollPane};
use crate::ui::components::{busy_line, label, truncate};
use crate::ui::effects::{Effect, Event, LoadedManifest};
use crate::ui::keymap::{Action, Context};
use crate::ui::shared::KeysState;
use crate::ui::text;
use crate::ui::theme::Theme;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateStep {
    Pick,
    Review,
    Done,
}

#[derive(Debug, Clone)]
pub struct UpdateView {
    pub step: UpdateStep,
    pub audit: Option<Box<AuditedHistory>>,
    pub audit_error: Option<String>,
    pub files: Vec<String>,
    pub list: ListState,
    pub candidate: Option<LoadedManifest>,
    pub busy: Option<&'static str>,
    pub outcome: Option<UpdateOutcome>,
    pub error: Option<String>,
    /// After a lost race: the audit the refused update was based on; the diff from its active
    /// manifest to the new audit's shows what changed meanwhile.
    pub raced: Option<Box<AuditedHistory>>,
}

impl Default for UpdateView {
    fn default() -> Self {
        Self::new()
    }
}

impl UpdateView {
    pub fn new() -> Self {
        Self {
            step: UpdateStep::Pick,
            audit: None,
            audit_error: None,
            files: Vec::new(),
            list: ListState::default(),
            candidate: None,
            busy: Some(text::AUDITING),
            outcome: None,
            error: None,
            raced: None,
        }
    }

    pub fn visible_files(&self) -> Vec<String> {
        self.files
            .iter()
            .filter(|f| self.list.matches(f))
            .cloned()
            .collect()
    }

    pub fn active(&self) -> Option<&Manifest> {
        self.audit.as_ref()?.active()?.manifest()
    }

    /// The workload owner key of the store that the active manifest lists.
    pub fn signing_key<'k>(&self, keys: &'k KeysState) -> Option<&'k KeyInfo> {
        let active = self.active()?;
        keys.of_kind(KeyKind::WorkloadOwner).find(|k| {
            active
                .workload_owner_pub_keys()
                .iter()
                .any(|hex| hex.eq_ignore_ascii_case(&k.public_hex))
        })
    }

    /// Why the reviewed update cannot be sent, if it cannot.
    pub fn blocker(&self, keys: &KeysState) -> Option<String> {
        let candidate = self.candidate.as_ref()?;
        if !candidate.is_valid() {
            return Some(text::MANIFEST_INVALID.into());
        }
        let audit = self.audit.as_ref()?;
        if !audit.all_verified() {
            return Some(text::UPDATE_NEEDS_AUDIT.into());
        }
        let active = self.active()?;
        if candidate
            .manifest
            .as_ref()
            .is_some_and(|m| m.hash() == active.hash())
        {
            return Some(text::SAME_MANIFEST.into());
        }
        if active.workload_owner_pub_keys().is_empty() {
            return Some(text::IMMUTABLE.into());
        }
        if self.signing_key(keys).is_none() {
            return Some(text::NO_WORKLOAD_KEY.into());
        }
        if let Some(m) = &candidate.manifest
            && !m.same_seedshare_owners(active)
        {
            return Some(text::OWNERS_CHANGED.into());
        }
        None
    }

    pub fn typing(&self) -> bool {
        self.list.filtering
    }

    pub fn contexts(&self) -> Vec<Context> {
        if self.step == UpdateStep::Pick {
            vec![Context::Update, Context::List]
        } else {
            vec![Context::Update]
        }
    }

    /// Reviewing an update is a ceremony: quitting asks first.
    pub fn in_ceremony(&self) -> bool {
        self.step == UpdateStep::Review
    }

    /// Applies a key's action.
    pub fn update(&mut self, action: Action, keys: &KeysState) -> Outcome {
        if self.list.type_filter(action) {
            return Outcome::none();
        }
        if action == Action::Back {
            return self.back();
        }
        if self.busy.is_some() {
            return Outcome::none();
        }
        match self.step {
            // F5 reads the workspace's files again (a manifest copied in meanwhile).
            UpdateStep::Pick if action == Action::Refresh => Outcome::effect(Effect::ListManifests),
            UpdateStep::Pick => self.pick(action),
            UpdateStep::Review if action == Action::Select => self.ask_to_confirm(keys),
            UpdateStep::Done if action == Action::Select => Outcome::leave(),
            UpdateStep::Review | UpdateStep::Done => Outcome::none(),
        }
    }

    /// Esc: clears the filter, else goes back from the review to the files, else leaves
    /// (not while the update is being sent).
    fn back(&mut self) -> Outcome {
        if self.list.filter.is_some() {
            self.list.filter = None;
            return Outcome::none();
        }
        if self.busy == Some(text::UPDATING) {
            return Outcome::none();
        }
        match self.step {
            UpdateStep::Review => {
                self.step = UpdateStep::Pick;
                self.candidate = None;
                self.error = None;
                // The files may have changed while the review was open.
                Outcome::effect(Effect::ListManifests)
            }
            _ => Outcome::leave(),
        }
    }

    /// The pick step: move through the files; Enter loads one for review.
    fn pick(&mut self, action: Action) -> Outcome {
        let files = self.visible_files();
        if action != Action::Select {
            self.list.navigate(action, files.len());
            return Outcome::none();
        }
        match files.get(self.list.cursor) {
            Some(f) => {
                self.busy = Some(text::LOADING);
                Outcome::effect(Effect::LoadManifest {
                    path: PathBuf::from(f),
                })
            }
            None => Outcome::none(),
        }
    }

    /// Enter on the review: the typed confirmation, unless something blocks the update.
    fn ask_to_confirm(&mut self, keys: &KeysState) -> Outcome {
        if let Some(blocker) = self.blocker(keys) {
            self.error = Some(blocker);
            return Outcome::none();
        }
        let hash = self
            .candidate
            .as_ref()
            .and_then(|c| c.manifest.as_ref())
            .map(|m| m.hash().to_string())
            .unwrap_or_default();
        Outcome::popup(Popup::typed(
            text::CONFIRM_UPDATE_TITLE,
            text::confirm_update_body(&hash),
            text::CONFIRM_UPDATE_WORD,
            Confirmed::Update,
        ))
    }

    /// `update` was typed: sign and send, against the audited latest transition.
    pub fn confirmed(&mut self, keys: &KeysState) -> Vec<Effect> {
        let Some(key) = self.signing_key(keys).map(|k| k.name.clone()) else {
            return Vec::new();
        };
        let Some(candidate) = &self.candidate else {
            return Vec::new();
        };
        let Some(manifest) = &candidate.manifest else {
            return Vec::new();
        };
        let Some(latest) = self.audit.as_ref().map(|a| a.latest.transition_hash()) else {
            return Vec::new();
        };
        let effect = Effect::UpdateManifest {
            manifest: Box::new(manifest.clone()),
            policies: candidate.policies.clone(),
            key,
            audited_latest: latest,
        };
        self.busy = Some(text::UPDATING);
        self.error = None;
        vec![effect]
    }

    /// Applies an effect's result; gives back the events this screen does not handle.
    pub fn on_event(&mut self, event: Event) -> Result<Outcome, Event> {
        match event {
            Event::Manifests(Ok(files)) => {
                self.files = files;
                let len = self.visible_files().len();
                self.list.clamp(len);
            }
            Event::ManifestLoaded(loaded) => {
                self.busy = None;
                self.candidate = Some(*loaded);
                self.step = UpdateStep::Review;
                self.error = None;
            }
            Event::Audited(result) => {
                if self.busy == Some(text::AUDITING) {
                    self.busy = None;
                }
                match result {
                    Ok(audit) => {
                        self.audit = Some(audit);
                        self.audit_error = None;
                    }
                    Err(e) => self.audit_error = Some(e),
                }
            }
            Event::Updated(result) => return Ok(self.updated(result)),
            other => return Err(other),
        }
        Ok(Outcome::none())
    }

    fn updated(&mut self, result: Result<UpdateOutcome, (String, bool)>) -> Outcome {
        self.busy = None;
        match result {
            Ok(outcome) => {
                self.outcome = Some(outcome);
                self.step = UpdateStep::Done;
                Outcome::none().and_refresh().and(Effect::Audit)
            }
            Err((message, true)) => {
                // Someone else updated first: audit again, and keep the old audit as the
                // base of the "what changed meanwhile" diff.
                self.error = Some(format!("{} {}", text::STALE_MARK, text::sentence(&message)));
                self.raced = self.audit.clone();
                self.busy = Some(text::AUDITING);
                Outcome::effect(Effect::Audit)
            }
            Err((message, false)) => {
                self.error = Some(message);
                Outcome::none()
            }
        }
    }

    pub fn render(
        &self,
        frame: &mut Frame,
        area: Rect,
        keys: &KeysState,
        theme: Theme,
        pane: &mut PaneScroll,
    ) {
        let width = area.width.saturating_sub(2) as usize;
        let lines = self.lines(keys, width, theme);
        frame.render_stateful_widget(
            ScrollPane::new(text::UPDATE_TITLE, lines, Context::Update, theme),
            area,
            pane,
        );
    }

    /// The pane's content: the active manifest, then the step's.
    fn lines(&self, keys: &KeysState, width: usize, theme: Theme) -> Vec<Line<'static>> {
        let mut lines: Vec<Line<'static>> = Vec::new();
        if let Some(e) = &self.audit_error {
            lines.push(Line::styled(format!("✗ {e}"), theme.bad()));
        }
        if let Some(audit) = &self.audit {
            lines.push(Line::from(vec![
                label("Active", theme),
                Span::raw(format!(
                    "generation {}, transition {}… {}",
                    audit.generation(),
                    audit.latest.transition_hash().short(),
                    if audit.all_verified() {
                        "✓ audited"
                    } else {
                        "✗ not verified"
                    }
                )),
            ]));
        }
        match self.step {
            UpdateStep::Pick => {
                lines.push(Line::raw(""));
                lines.push(Line::styled(text::UPDATE_PICK, theme.bold()));
                let files = self.visible_files();
                if files.is_empty() {
                    lines.push(Line::raw(text::UPDATE_NO_FILES));
                }
                lines.extend(choice_lines(&files, self.list.cursor, theme));
                lines.extend(self.list.filter_line(files.len(), theme));
            }
            UpdateStep::Review => lines.extend(self.review_lines(keys, width, theme)),
            UpdateStep::Done => {
                if let Some(o) = &self.outcome {
                    lines.push(Line::raw(""));
                    lines.push(Line::styled(
                        text::update_done(o.generation, &o.transition.short()),
                        theme.ok(),
                    ));
                }
            }
        }
        lines.extend(busy_line(self.busy, theme));
        lines
    }

    /// The review: who signs, the candidate's validity and diff, what blocks it or how to
    /// send it, and after a lost race what changed meanwhile.
    fn review_lines(&self, keys: &KeysState, width: usize, theme: Theme) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        if let Some(key) = self.signing_key(keys) {
            lines.push(Line::from(vec![
                label(text::SIGN_WITH, theme),
                Span::raw(format!("'{}' ({})", key.name, key.fingerprint)),
            ]));
        }
        lines.push(Line::raw(""));
        if let Some(c) = &self.candidate {
            lines.extend(validity_lines(c, theme));
            if let Some(m) = &c.manifest {
                lines.push(Line::from(vec![
                    Span::styled(format!("{}: ", text::LABEL_HASH), theme.bold()),
                    Span::raw(truncate(&m.hash().to_string(), width.saturating_sub(15))),
                ]));
            }
            if let (Some(active), Some(new)) = (self.active(), c.manifest.as_ref()) {
                lines.push(Line::styled(
                    "Changes against the active manifest:",
                    theme.bold(),
                ));
                lines.extend(diff_lines(&ManifestDiff::between(active, new), theme));
            }
        }
        lines.push(Line::raw(""));
        match (&self.error, self.blocker(keys)) {
            (Some(e), _) => lines.push(Line::styled(format!("✗ {e}"), theme.bad())),
            (None, Some(b)) => lines.push(Line::styled(format!("✗ {b}"), theme.bad())),
            (None, None) => lines.push(Line::styled(
                format!(
                    "Press Enter, then type {} to sign and send.",
                    text::CONFIRM_UPDATE_WORD
                ),
                theme.bold(),
            )),
        }
        if let (Some(old), Some(now)) = (&self.raced, &self.audit)
            && let (Some(a), Some(b)) = (
                old.active().and_then(|e| e.manifest()),
                now.active().and_then(|e| e.manifest()),
            )
        {
            lines.push(Line::styled(text::CHANGED_MEANWHILE, theme.bold()));
            lines.extend(diff_lines(&ManifestDiff::between(a, b), theme));
            if self.busy.is_none() {
                lines.push(Line::styled(text::STALE_NEXT, theme.bold()));
            }
        }
        lines
    }
}
