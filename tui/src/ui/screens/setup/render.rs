//! The setup wizard's pane, step by step, and its list of steps.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

use super::{KeyChoice, ManifestChoice, SetupStep, SetupWizard};
use crate::keystore::{KeyInfo, KeyKind};
use crate::ui::components::coordinator::{coordinator_lines, evidence_spans};
use crate::ui::components::list::choice_lines;
use crate::ui::components::manifest::{manifest_lines, validity_lines};
use crate::ui::components::scroll_pane::{PaneScroll, ScrollPane};
use crate::ui::components::steps::{split_steps, step_list};
use crate::ui::components::{busy_line, kind_word, label};
use crate::ui::effects::LoadedManifest;
use crate::ui::keymap::Context;
use crate::ui::shared::KeysState;
use crate::ui::text;
use crate::ui::theme::Theme;

impl SetupWizard {
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
        let steps = self.steps();
        let rows = steps
            .iter()
            .map(|s| {
                let (mark, style) = if s.index() < self.step.index()
                    || (*s == SetupStep::Drill && self.drill.is_some())
                {
                    ("✓", theme.ok())
                } else if *s == self.step {
                    ("▶", theme.bold().add_modifier(Modifier::REVERSED))
                } else {
                    (" ", theme.dim())
                };
                (s.title().to_string(), mark, style)
            })
            .collect();
        step_list(frame, left, text::SETUP_TITLE, rows);
        let width = right.width.saturating_sub(2) as usize;
        let lines = match self.step {
            SetupStep::Keys => self.keys_pane(keys, theme),
            SetupStep::Manifest => self.manifest_pane(theme, width),
            SetupStep::Threshold => self.threshold_pane(theme),
            SetupStep::Coordinator => self.coordinator_pane(theme, width),
            SetupStep::Confirm => self.confirm_pane(theme),
            SetupStep::Drill => self.drill_pane(theme),
        };
        let number = steps.iter().position(|s| *s == self.step).unwrap_or(0) + 1;
        let title = format!("{}/{} {}", number, steps.len(), self.step.title());
        frame.render_stateful_widget(
            ScrollPane::new(&title, lines, Context::Setup, theme),
            right,
            pane,
        );
    }

    /// Step 1: the chosen keys, then every choice (use, generate, import, immutable, continue).
    fn keys_pane(&self, keys: &KeysState, theme: Theme) -> Vec<Line<'static>> {
        let mut lines = vec![Line::raw(text::KEYS_STEP_INTRO), Line::raw("")];
        let chosen = |k: &Option<KeyInfo>| match k {
            Some(k) => Span::styled(
                format!("✓ {} ({}, {})", k.name, k.fingerprint, k.backend.as_str()),
                theme.ok(),
            ),
            None => Span::styled(text::NOT_CHOSEN, theme.bad()),
        };
        lines.push(Line::from(vec![Span::styled(
            format!("{}: ", text::OWNER_KEY_LABEL),
            theme.bold(),
        )]));
        lines.push(Line::from(vec![Span::raw("  "), chosen(&self.owner)]));
        lines.push(Line::from(vec![Span::styled(
            format!("{}: ", text::WORKLOAD_KEY_LABEL),
            theme.bold(),
        )]));
        if self.immutable {
            lines.push(Line::from(vec![
                Span::raw("  "),
                Span::styled(text::IMMUTABLE_CHOSEN, theme.warn()),
            ]));
            lines.push(Line::styled(text::IMMUTABLE_WARNING, theme.warn()));
        } else {
            lines.push(Line::from(vec![Span::raw("  "), chosen(&self.workload)]));
        }
        if let Some(w) = &keys.warning {
            lines.push(Line::styled(text::keyring_warning_line(w), theme.warn()));
        }
        lines.push(Line::raw(""));
        let items: Vec<String> = self
            .key_choices(keys)
            .iter()
            .map(|c| match c {
                KeyChoice::Use(kind, name) => {
                    let fp = keys
                        .list
                        .iter()
                        .find(|k| &k.name == name)
                        .map(|k| k.fingerprint.clone())
                        .unwrap_or_default();
                    let used = match kind {
                        KeyKind::SeedShareOwner => {
                            self.owner.as_ref().is_some_and(|o| &o.name == name)
                        }
                        KeyKind::WorkloadOwner => {
                            self.workload.as_ref().is_some_and(|o| &o.name == name)
                        }
                    };
                    let text = text::choice_use(name, &fp);
                    if used { format!("✓ {text}") } else { text }
                }
                KeyChoice::Generate(kind) => text::choice_generate(kind_word(*kind)),
                KeyChoice::Import(kind) => text::choice_import(kind_word(*kind)),
                KeyChoice::Immutable if self.immutable => text::CHOICE_IMMUTABLE_ON.into(),
                KeyChoice::Immutable => text::CHOICE_IMMUTABLE_OFF.into(),
                KeyChoice::Continue if self.keys_done() => text::CHOICE_CONTINUE.into(),
                KeyChoice::Continue => text::CHOICE_CONTINUE_BLOCKED.into(),
            })
            .collect();
        lines.extend(choice_lines(&items, self.list.cursor, theme));
        if let Some((kind, input)) = &self.import {
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                format!("{} — {}", kind_word(*kind), text::IMPORT_PROMPT),
                theme.bold(),
            ));
            lines.push(input.prompt_line(theme));
        }
        lines.extend(busy_line(self.busy, theme));
        lines
    }

    /// Step 2: the manifests to choose from, then the chosen one checked.
    fn manifest_pane(&self, theme: Theme, width: usize) -> Vec<Line<'static>> {
        let items: Vec<String> = self
            .manifest_choices()
            .iter()
            .map(|c| match c {
                ManifestChoice::Template => text::CHOICE_TEMPLATE.to_string(),
                ManifestChoice::File(f) => {
                    let loaded = self
                        .manifest
                        .as_ref()
                        .is_some_and(|m| m.path.file_name().is_some_and(|n| n == f.as_str()));
                    if loaded {
                        format!("{f}  (chosen)")
                    } else {
                        f.clone()
                    }
                }
            })
            .collect();
        let mut lines = choice_lines(&items, self.list.cursor, theme);
        lines.extend(self.list.filter_line(items.len(), theme));
        lines.extend(busy_line(self.busy, theme));
        lines.push(Line::raw(""));
        match &self.manifest {
            None => lines.push(Line::raw(text::MANIFEST_NONE)),
            Some(loaded) => {
                let owner = self.owner.as_ref().map(|k| k.public_hex.as_str());
                let workload = self.workload.as_ref().map(|k| k.public_hex.as_str());
                lines.extend(manifest_report(loaded, owner, workload, theme, width));
                match self.manifest_blocker() {
                    Some(b) => lines.push(Line::styled(format!("✗ {b}"), theme.bad())),
                    None => lines.push(Line::styled(text::MANIFEST_ENTER_AGAIN, theme.bold())),
                }
            }
        }
        lines
    }

    /// The threshold step: the question, k = 1..=n, what the highlighted k means, and what
    /// Enter does.
    fn threshold_pane(&self, theme: Theme) -> Vec<Line<'static>> {
        let owners = self.owner_count();
        let mut lines = vec![
            Line::styled(text::threshold_question(owners), theme.bold()),
            Line::raw(""),
        ];
        let choices = self.threshold_choices();
        let items: Vec<String> = choices
            .iter()
            .map(|&k| {
                let item = text::threshold_choice(k, owners);
                if self.threshold == Some(k) {
                    format!("{item}  (chosen)")
                } else {
                    item
                }
            })
            .collect();
        lines.extend(choice_lines(&items, self.list.cursor, theme));
        lines.extend(self.list.filter_line(items.len(), theme));
        lines.push(Line::raw(""));
        let Some(&k) = choices.get(self.list.cursor) else {
            return lines;
        };
        let style = if k == 1 || k == owners {
            theme.warn()
        } else {
            theme.ok()
        };
        for l in text::threshold_meaning(k, owners) {
            lines.push(Line::styled(l, style));
        }
        lines.push(Line::raw(""));
        match &self.threshold_error {
            Some(e) => lines.push(Line::styled(format!("✗ {e}"), theme.bad())),
            None => lines.push(Line::styled(text::threshold_enter(k), theme.bold())),
        }
        lines
    }

    /// Step 3: the Coordinator's identity and whether it can be set up.
    fn coordinator_pane(&self, theme: Theme, width: usize) -> Vec<Line<'static>> {
        let mut lines = vec![Line::raw(text::COORDINATOR_INTRO), Line::raw("")];
        if let Some(s) = &self.coordinator {
            lines.extend(coordinator_lines(s, theme, width));
            lines.push(Line::raw(""));
        }
        match self.coordinator_blocker() {
            None => lines.push(Line::styled(text::COORDINATOR_OK, theme.ok())),
            Some(b)
                if self.coordinator.is_none()
                    && self.coordinator_error.is_none()
                    && self.workspace_error.is_none() =>
            {
                lines.push(Line::styled(b, theme.warn()))
            }
            Some(b) => {
                lines.push(Line::styled(format!("✗ {b}"), theme.bad()));
                if self.coordinator_error.is_some() || self.workspace_error.is_some() {
                    lines.push(Line::raw(text::RETRY_HINT));
                }
            }
        }
        lines
    }

    /// Step 4: what will be set and written.
    fn confirm_pane(&self, theme: Theme) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        if let Some(m) = self.manifest_to_set() {
            let file = self
                .manifest
                .as_ref()
                .and_then(|l| l.path.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            lines.push(Line::from(vec![label("Manifest", theme), Span::raw(file)]));
            lines.push(Line::from(vec![
                label("Hash", theme),
                Span::raw(m.hash().short() + "…"),
            ]));
            lines.push(Line::from(vec![
                label("Contents", theme),
                Span::raw(format!(
                    "{} policies, {} seed share owner(s), {} workload owner(s)",
                    m.policies().len(),
                    m.seedshare_owner_pub_keys().len(),
                    m.workload_owner_pub_keys().len()
                )),
            ]));
            let owners = m.seedshare_owner_pub_keys().len();
            if owners >= 2 {
                lines.push(Line::from(vec![
                    label("Recovery", theme),
                    Span::raw(text::threshold_summary(
                        m.seedshare_owner_threshold(),
                        owners,
                        self.threshold.is_some(),
                    )),
                ]));
            }
        }
        if let Some(s) = &self.coordinator {
            lines.push(Line::from(vec![
                label("Coordinator", theme),
                Span::raw(s.address.clone()),
            ]));
            lines.push(Line::from({
                let mut spans = vec![label(text::LABEL_EVIDENCE, theme)];
                spans.extend(evidence_spans(s.evidence.as_ref(), theme));
                spans
            }));
        }
        if let Some(o) = &self.owner {
            lines.push(Line::from(vec![
                label("Your share", theme),
                Span::raw(format!("for '{}' ({})", o.name, o.fingerprint)),
            ]));
        }
        lines.push(Line::raw(""));
        lines.push(Line::styled(text::WILL_WRITE, theme.bold()));
        let manifest_file = match (&self.with_threshold, self.threshold) {
            (Some(_), Some(k)) => text::manifest_written_with_threshold(k),
            _ => "manifest.json".to_owned(),
        };
        for f in [
            "seed-shares.json (0600, never overwritten)",
            "coordinator-root-ca.pem (the pin for later connections)",
            "mesh-ca.pem",
            manifest_file.as_str(),
        ] {
            lines.push(Line::raw(format!("  {f}")));
        }
        lines.push(Line::raw(""));
        if let Some(e) = &self.set_error {
            lines.push(Line::styled(text::SET_FAILED, theme.bad()));
            lines.push(Line::styled(e.clone(), theme.bad()));
        } else if let Some(b) = self.busy {
            lines.push(Line::styled(b, theme.warn()));
        } else {
            lines.push(Line::styled(text::CONFIRM_INTRO, theme.bold()));
        }
        lines
    }

    /// Step 5: the set's outcome and the share drill's.
    fn drill_pane(&self, theme: Theme) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        if let Some(report) = &self.drill {
            let ok = if report.threshold_share.is_some() {
                text::THRESHOLD_DRILL_OK
            } else {
                text::DRILL_OK
            };
            lines.push(Line::styled(ok, theme.ok().add_modifier(Modifier::BOLD)));
            lines.push(Line::raw(""));
        }
        if let Some(o) = &self.outcome {
            lines.push(Line::styled(
                format!(
                    "{}: generation {}, transition {}…",
                    text::SET_DONE,
                    o.generation,
                    o.transition.short()
                ),
                theme.ok(),
            ));
            lines.push(Line::styled(text::FILES_WRITTEN, theme.bold()));
            let names: Vec<String> = o
                .files
                .iter()
                .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            lines.push(Line::raw(format!("  {}", names.join(", "))));
            lines.push(Line::raw(""));
        }
        if let Some(b) = self.busy {
            lines.push(Line::styled(b, theme.warn()));
        }
        if let Some(report) = &self.drill {
            let details = match &report.threshold_share {
                Some(t) => text::threshold_drill_details(
                    &report.owner_fingerprint,
                    t.index,
                    t.threshold,
                    t.owners,
                ),
                None => text::drill_details(
                    &report.owner_fingerprint,
                    report.generation,
                    &report.latest.short(),
                ),
            };
            for l in details {
                lines.push(Line::styled(l, theme.ok()));
            }
            lines.push(Line::raw(""));
            lines.push(Line::raw(text::SETUP_FINISHED));
        }
        if let Some(e) = &self.drill_error {
            lines.push(Line::styled(text::DRILL_FAILED, theme.bad()));
            lines.push(Line::styled(e.clone(), theme.bad()));
            lines.push(Line::raw(text::DRILL_RETRY));
        }
        lines
    }
}

/// Validation result, then the manifest structured.
fn manifest_report(
    loaded: &LoadedManifest,
    owner_hex: Option<&str>,
    workload_hex: Option<&str>,
    theme: Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let mut lines = validity_lines(loaded, theme);
    if loaded.parse_error.is_none()
        && let Some(m) = &loaded.manifest
    {
        lines.extend(manifest_lines(m, owner_hex, workload_hex, theme, width));
    }
    lines
}
