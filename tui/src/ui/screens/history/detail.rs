//! The detail pane: the selected generation verified or not, then structured, raw, as a
//! semantic diff or as a line diff against the marked generation (or the one before).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use seedward_shared::history::EntryStatus;
use seedward_shared::manifest::ManifestDiff;

use super::{DetailView, HistoryView};
use crate::ops::AuditedHistory;
use crate::ui::components::block;
use crate::ui::components::manifest::{diff_lines, manifest_lines};
use crate::ui::components::scroll_pane::wrap_lines;
use crate::ui::keymap::{self, Action, Context};
use crate::ui::text;
use crate::ui::theme::Theme;

impl HistoryView {
    /// Draws the pane for the entry `selected` (an index into `audit.entries`), scrolled by
    /// the detail scroll.
    pub(super) fn render_detail(
        &self,
        audit: &AuditedHistory,
        selected: Option<usize>,
        frame: &mut Frame,
        area: Rect,
        theme: Theme,
    ) {
        let width = area.width.saturating_sub(2) as usize;
        let mut detail: Vec<Line> = Vec::new();
        let mut title = self.view.title().to_string();
        if let Some(sel) = selected {
            let e = &audit.entries[sel];
            title = format!("{} · generation {}", self.view.title(), e.chain.generation);
            if let EntryStatus::Unverified(reason) = &e.chain.status {
                detail.push(Line::styled(format!("✗ {reason}"), theme.bad()));
            } else {
                detail.push(Line::styled("✓ verified", theme.ok()));
            }
            match self.view {
                DetailView::Structured => match e.manifest() {
                    Some(m) => detail.extend(manifest_lines(m, None, None, theme, width)),
                    None => detail.push(Line::styled(text::UNPARSEABLE, theme.bad())),
                },
                DetailView::Raw => {
                    for l in String::from_utf8_lossy(&e.manifest_bytes).lines() {
                        detail.push(Line::raw(l.to_string()));
                    }
                }
                DetailView::Diff | DetailView::LineDiff => {
                    detail.extend(self.diff(audit, sel, theme));
                }
            }
        }
        // Wrapped here (diff rows keep their +/- marker); the bottom border says where the
        // pane is scrolled to when it does not fit.
        let rows = wrap_lines(&detail, width);
        let visible = area.height.saturating_sub(2) as usize;
        let max = rows.len().saturating_sub(visible);
        self.detail_max.set(u16::try_from(max).unwrap_or(u16::MAX));
        let offset = (self.detail_scroll as usize).min(max);
        let mut pane = block(&title);
        if rows.len() > visible {
            let keys = format!(
                "{}/{}",
                keymap::keys_of(Context::History, Action::ScrollUp),
                keymap::keys_of(Context::History, Action::ScrollDown)
            );
            let position = text::scroll_position(
                offset + 1,
                (offset + visible).min(rows.len()),
                rows.len(),
                &keys,
            );
            pane = pane.title_bottom(Line::styled(position, theme.bold()).right_aligned());
        }
        let shown: Vec<Line> = rows.into_iter().skip(offset).take(visible).collect();
        frame.render_widget(Paragraph::new(shown).block(pane), area);
    }

    /// Entry `sel` against the marked one, or else the one before it.
    fn diff(&self, audit: &AuditedHistory, sel: usize, theme: Theme) -> Vec<Line<'static>> {
        let e = &audit.entries[sel];
        let from = self
            .mark
            .filter(|m| *m != sel)
            .or_else(|| sel.checked_sub(1));
        let Some(f) = from else {
            return vec![Line::raw(text::DIFF_FIRST)];
        };
        let old = &audit.entries[f];
        let mut lines = vec![Line::styled(
            text::diff_against(old.chain.generation, e.chain.generation),
            theme.bold(),
        )];
        if self.view == DetailView::Diff {
            match (old.manifest(), e.manifest()) {
                (Some(a), Some(b)) => lines.extend(diff_lines(&ManifestDiff::between(a, b), theme)),
                _ => lines.push(Line::styled(text::UNPARSEABLE, theme.bad())),
            }
        } else {
            lines.extend(line_diff(&old.manifest_bytes, &e.manifest_bytes, theme));
        }
        lines
    }
}

/// A line diff of two manifests' bytes, with two lines of context around each change.
fn line_diff(old: &[u8], new: &[u8], theme: Theme) -> Vec<Line<'static>> {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let diff = similar::TextDiff::from_lines(old.as_ref(), new.as_ref());
    let mut out = Vec::new();
    for (i, group) in diff.grouped_ops(2).iter().enumerate() {
        if i > 0 {
            out.push(Line::styled("  ⋯", theme.dim()));
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let (sign, style) = match change.tag() {
                    similar::ChangeTag::Delete => ("-", theme.bad()),
                    similar::ChangeTag::Insert => ("+", theme.ok()),
                    similar::ChangeTag::Equal => (" ", theme.dim()),
                };
                out.push(Line::styled(
                    format!("{sign} {}", change.value().trim_end_matches('\n')),
                    style,
                ));
            }
        }
    }
    if out.is_empty() {
        out.push(Line::raw(text::DIFF_EMPTY));
    }
    out
}
