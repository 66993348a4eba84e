//! The history audit: the timeline of every generation the Coordinator stored, verified
//! with the history signing key (`timeline.rs`); the selected generation in four views
//! (structured, raw, semantic diff, line diff, `detail.rs`); and history bundles (export the
//! audited history, verify a bundle file offline).

mod detail;
mod timeline;

use std::cell::Cell;
use std::path::PathBuf;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::Outcome;
use crate::ops::{AuditedHistory, SigningKeySource};
use crate::ui::components::input::{Edit, Input};
use crate::ui::components::list::ListState;
use crate::ui::components::scroll_pane::wrap_lines;
use crate::ui::effects::{Effect, Event};
use crate::ui::keymap::{Action, Context};
use crate::ui::text;
use crate::ui::theme::Theme;
use timeline::Timeline;

/// The views of the selected generation, in the order Tab cycles through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailView {
    Structured,
    Raw,
    Diff,
    LineDiff,
}

impl DetailView {
    pub fn next(self) -> Self {
        match self {
            DetailView::Structured => DetailView::Raw,
            DetailView::Raw => DetailView::Diff,
            DetailView::Diff => DetailView::LineDiff,
            DetailView::LineDiff => DetailView::Structured,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            DetailView::Structured => text::VIEW_STRUCTURED,
            DetailView::Raw => text::VIEW_RAW,
            DetailView::Diff => text::VIEW_DIFF,
            DetailView::LineDiff => text::VIEW_LINE_DIFF,
        }
    }
}

#[derive(Debug, Clone)]
pub struct HistoryView {
    /// Changed only with the timeline ([`HistoryView::set_audit`]).
    audit: Option<Box<AuditedHistory>>,
    pub error: Option<String>,
    pub loading: bool,
    /// The cursor and the filter; the filter changes only with the timeline.
    list: ListState,
    pub view: DetailView,
    /// Index of the generation marked as the "from" side of a diff.
    pub mark: Option<usize>,
    /// Lines scrolled in the detail pane.
    pub detail_scroll: u16,
    /// The largest useful `detail_scroll`, as the last frame found it (the pane's content
    /// and height are only known when drawing); scrolling down stops there.
    detail_max: Cell<u16>,
    /// Typing the path of a bundle to verify offline.
    pub bundle_input: Option<Input>,
    /// The bundle exported last from this screen (offered when verifying).
    pub last_bundle: Option<PathBuf>,
    /// An export or offline verification is running.
    pub bundle_busy: Option<&'static str>,
    /// The entries the filter lets through.
    timeline: Timeline,
}

impl Default for HistoryView {
    fn default() -> Self {
        Self::new()
    }
}

impl HistoryView {
    pub fn new() -> Self {
        Self {
            audit: None,
            error: None,
            loading: true,
            list: ListState::default(),
            view: DetailView::Structured,
            mark: None,
            detail_scroll: 0,
            detail_max: Cell::new(u16::MAX),
            bundle_input: None,
            last_bundle: None,
            bundle_busy: None,
            timeline: Timeline::default(),
        }
    }

    pub fn audit(&self) -> Option<&AuditedHistory> {
        self.audit.as_deref()
    }

    /// Replaces the audited history, and searches its timeline.
    pub fn set_audit(&mut self, audit: Option<Box<AuditedHistory>>) {
        self.audit = audit;
        self.timeline = Timeline::new(self.audit.as_deref(), filter_text(&self.list));
    }

    /// What the timeline is filtered by ("" for nothing).
    pub fn filter(&self) -> &str {
        filter_text(&self.list)
    }

    /// Filters the timeline by `text`, as if it had been typed after `/`.
    pub fn set_filter(&mut self, text: &str) {
        self.list.filter = Some(Input {
            value: text.to_string(),
            ..Input::default()
        });
        self.refilter();
    }

    pub fn cursor(&self) -> usize {
        self.list.cursor
    }

    /// Puts the cursor on the `index`th entry of the (filtered) timeline.
    pub fn set_cursor(&mut self, index: usize) {
        self.list.cursor = index;
    }

    /// Brings the timeline up to the filter, after anything that may have changed it.
    fn refilter(&mut self) {
        self.timeline
            .refilter(self.audit.as_deref(), filter_text(&self.list));
    }

    pub fn typing(&self) -> bool {
        self.list.filtering || self.bundle_input.is_some()
    }

    pub fn contexts(&self) -> Vec<Context> {
        vec![Context::History, Context::List]
    }

    /// Applies a key's action.
    pub fn update(&mut self, action: Action) -> Outcome {
        let outcome = self.handle(action);
        // A key may have typed into the filter, cleared it or started one.
        self.refilter();
        outcome
    }

    fn handle(&mut self, action: Action) -> Outcome {
        if self.bundle_input.is_some() {
            return self.type_bundle_path(action);
        }
        if self.list.type_filter(action) {
            return Outcome::none();
        }
        let len = self.visible().len();
        match action {
            Action::ExportBundle => return self.export_bundle(),
            Action::VerifyBundle => {
                if self.bundle_busy.is_none() {
                    // The bundle just exported is offered selected: typing replaces it.
                    let value = self
                        .last_bundle
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default();
                    self.bundle_input = Some(Input::prefilled(value));
                }
            }
            Action::Back if self.list.filter.is_some() => self.list.filter = None,
            Action::Back => return Outcome::leave(),
            Action::Refresh => {
                self.loading = true;
                return Outcome::effect(Effect::Audit);
            }
            Action::NextView => {
                self.view = self.view.next();
                self.detail_scroll = 0;
            }
            Action::Mark => self.mark = self.selected(),
            Action::ScrollDown => {
                self.detail_scroll = self
                    .detail_scroll
                    .saturating_add(5)
                    .min(self.detail_max.get());
            }
            Action::ScrollUp => {
                self.detail_scroll = self
                    .detail_scroll
                    .min(self.detail_max.get())
                    .saturating_sub(5);
            }
            other => {
                self.list.navigate(other, len);
                self.detail_scroll = 0;
            }
        }
        Outcome::none()
    }

    /// Keys while typing the path of a bundle to verify; Enter verifies it offline.
    fn type_bundle_path(&mut self, action: Action) -> Outcome {
        let Some(input) = self.bundle_input.as_mut() else {
            return Outcome::none();
        };
        match input.edit(action) {
            Edit::Typing => {}
            Edit::Cancel => self.bundle_input = None,
            Edit::Submit => {
                let path = PathBuf::from(input.value.trim());
                self.bundle_input = None;
                if !path.as_os_str().is_empty() {
                    self.bundle_busy = Some(text::VERIFYING_BUNDLE);
                    return Outcome::effect(Effect::VerifyBundle { path });
                }
            }
        }
        Outcome::none()
    }

    /// `x`: writes the audited history as a bundle (one at a time).
    fn export_bundle(&mut self) -> Outcome {
        if self.bundle_busy.is_some() {
            return Outcome::none();
        }
        let Some(audit) = self.audit.clone() else {
            return Outcome::none();
        };
        self.bundle_busy = Some(text::EXPORTING_BUNDLE);
        Outcome::effect(Effect::ExportBundle { audit })
    }

    /// Applies an effect's result; gives back the events this screen does not handle. (The
    /// shell reports a bundle's export or verification in a popup, whichever screen is open.)
    pub fn on_event(&mut self, event: Event) -> Result<Outcome, Event> {
        match event {
            Event::Audited(result) => {
                self.loading = false;
                match result {
                    Ok(audit) => {
                        self.set_audit(Some(audit));
                        self.error = None;
                        let len = self.visible().len();
                        self.list.clamp(len);
                    }
                    Err(e) => self.error = Some(e),
                }
            }
            Event::BundleExported(result) => {
                self.bundle_busy = None;
                if let Ok(export) = result {
                    self.last_bundle = Some(export.path);
                }
            }
            Event::BundleVerified(_) => self.bundle_busy = None,
            other => return Err(other),
        }
        Ok(Outcome::none())
    }

    /// Draws the bundle prompt or progress (if any), the audit's summary, the timeline on
    /// the left and the selected generation on the right.
    pub fn render(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let width = area.width as usize;
        // The prompt on its own rows, the field on the next, so the typed text always shows.
        let bundle_lines = match (&self.bundle_input, self.bundle_busy) {
            (Some(input), _) => {
                let mut lines =
                    wrap_lines(&[Line::styled(text::BUNDLE_PROMPT, theme.bold())], width);
                lines.push(input.prompt_line_fit(width, theme));
                lines
            }
            (None, Some(busy)) => wrap_lines(&[Line::styled(busy, theme.warn())], width),
            (None, None) => Vec::new(),
        };
        let area = if bundle_lines.is_empty() {
            area
        } else {
            let rows = u16::try_from(bundle_lines.len()).unwrap_or(u16::MAX);
            let [prompt, rest] =
                Layout::vertical([Constraint::Length(rows), Constraint::Min(3)]).areas(area);
            frame.render_widget(Paragraph::new(bundle_lines), prompt);
            rest
        };
        let Some(audit) = &self.audit else {
            // An audit that failed says why and what to do, in full: wrapped over as many
            // rows as it needs.
            let line = match (&self.error, self.loading) {
                (Some(e), _) => Line::styled(format!("✗ {e}"), theme.bad()),
                (None, true) => Line::styled(text::AUDITING, theme.warn()),
                (None, false) => Line::raw(""),
            };
            frame.render_widget(Paragraph::new(wrap_lines(&[line], width)), area);
            return;
        };
        let source = match audit.key_source {
            SigningKeySource::SeedShare => text::KEY_FROM_SEED,
            SigningKeySource::SavedKey => text::KEY_SAVED,
            SigningKeySource::ShareDocument => text::KEY_FROM_DOCUMENT,
            SigningKeySource::None => text::KEY_NONE,
        };
        let all = audit.all_verified();
        let summary_lines = wrap_lines(
            &[Line::styled(
                text::audit_summary(all, source, audit.failure.as_deref()),
                if all { theme.ok() } else { theme.bad() },
            )],
            width,
        );
        // The summary takes the rows it needs, leaving the timeline at least 8.
        let rows = u16::try_from(summary_lines.len())
            .unwrap_or(u16::MAX)
            .clamp(1, area.height.saturating_sub(8).max(1))
            + 1;
        let [summary, main] =
            Layout::vertical([Constraint::Length(rows), Constraint::Min(3)]).areas(area);
        frame.render_widget(Paragraph::new(summary_lines), summary);
        let [left, right] =
            Layout::horizontal([Constraint::Length(44), Constraint::Min(30)]).areas(main);
        self.render_timeline(audit, frame, left, theme);
        self.render_detail(audit, self.selected(), frame, right, theme);
    }
}

/// The text of a list's filter ("" for none).
fn filter_text(list: &ListState) -> &str {
    list.filter.as_ref().map_or("", |f| f.value.as_str())
}
