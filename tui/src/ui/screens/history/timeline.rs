//! The timeline: every generation, newest first, narrowed by what is typed after `/`.
//! Only the rows on screen are formatted, and the filtered list is kept, so that a frame
//! stays cheap with 100,000 generations.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::HistoryView;
use crate::ops::AuditedHistory;
use crate::ui::components::block;
use crate::ui::text;
use crate::ui::theme::Theme;

/// The entries the filter lets through, newest first, kept with the filter text they were
/// searched for. With 100,000 entries a search formats and searches every entry (about
/// 130 ms here) while a frame must take under 2 ms (docs/PERFORMANCE.md): so the timeline is
/// searched when the audit or the filter changes, both of which happen in
/// [`HistoryView`]'s update, and drawing only reads it.
#[derive(Debug, Clone, Default)]
pub(super) struct Timeline {
    /// The filter text `visible` was searched for.
    filter: String,
    /// Indices into the audit's entries, newest first.
    visible: Vec<usize>,
}

impl Timeline {
    /// The timeline of `audit` (none: empty) under `filter`, searched from scratch.
    pub(super) fn new(audit: Option<&AuditedHistory>, filter: &str) -> Self {
        Self {
            filter: filter.to_string(),
            visible: search(audit, filter, None),
        }
    }

    /// Brings the timeline up to `filter`: nothing to do for the same text; typing one more
    /// character searches only the previous result, since whatever the longer filter lets
    /// through the shorter one did (the match is a case-insensitive substring test).
    pub(super) fn refilter(&mut self, audit: Option<&AuditedHistory>, filter: &str) {
        if self.filter == filter {
            return;
        }
        let narrows = filter.to_lowercase().contains(&self.filter.to_lowercase());
        let visible = search(audit, filter, narrows.then_some(self.visible.as_slice()));
        self.visible = visible;
        self.filter = filter.to_string();
    }

    pub(super) fn visible(&self) -> &[usize] {
        &self.visible
    }
}

/// The entries of `audit` that `filter` lets through, newest first; only among `within`
/// (newest first) when given.
fn search(audit: Option<&AuditedHistory>, filter: &str, within: Option<&[usize]>) -> Vec<usize> {
    let Some(audit) = audit else {
        return Vec::new();
    };
    if filter.is_empty() {
        return (0..audit.entries.len()).rev().collect();
    }
    let needle = filter.to_lowercase();
    // The searched line, "<generation> <transition hash> <manifest hash>", is digits and
    // lowercase hex only: it is built in one reused buffer and needs no lowercasing.
    let mut line = String::with_capacity(160);
    let mut keep = |i: usize| {
        use std::fmt::Write as _;
        let Some(e) = audit.entries.get(i) else {
            return false;
        };
        line.clear();
        // Writing into a String cannot fail.
        let _ = write!(
            line,
            "{} {} {}",
            e.chain.generation, e.chain.transition_hash, e.chain.manifest_hash
        );
        line.contains(needle.as_str())
    };
    match within {
        Some(within) => within.iter().copied().filter(|&i| keep(i)).collect(),
        None => (0..audit.entries.len())
            .rev()
            .filter(|&i| keep(i))
            .collect(),
    }
}

impl HistoryView {
    /// Indices of the entries the filter lets through, newest first.
    pub fn visible(&self) -> &[usize] {
        self.timeline.visible()
    }

    /// The entry under the cursor (an index into the audit's entries).
    pub fn selected(&self) -> Option<usize> {
        self.visible().get(self.list.cursor).copied()
    }

    /// Draws the rows of the timeline that fit, the cursor's row on the last line once the
    /// list is scrolled. Only those rows are formatted.
    pub(super) fn render_timeline(
        &self,
        audit: &AuditedHistory,
        frame: &mut Frame,
        area: Rect,
        theme: Theme,
    ) {
        let rows = area
            .height
            .saturating_sub(3 + u16::from(self.list.filter.is_some())) as usize;
        let offset = self.list.cursor.saturating_sub(rows.saturating_sub(1));
        let mut lines = vec![Line::styled(text::HISTORY_COLUMNS, theme.bold())];
        for (row, &i) in self.visible().iter().enumerate().skip(offset).take(rows) {
            let e = &audit.entries[i];
            let ok = e.verified();
            let (pol, own) = e
                .manifest()
                .map(|m| {
                    (
                        m.policies().len(),
                        m.seedshare_owner_pub_keys().len() + m.workload_owner_pub_keys().len(),
                    )
                })
                .unwrap_or((0, 0));
            let mark = if self.mark == Some(i) { "*" } else { " " };
            let line = format!(
                "{:>4}{mark}{} {}  {}  {:>3} {:>3}",
                e.chain.generation,
                if ok { "✓" } else { "✗" },
                &e.chain.transition_hash.to_hex()[..12],
                &e.chain.manifest_hash.to_hex()[..12],
                pol,
                own
            );
            let style = if row == self.list.cursor {
                theme.selected()
            } else if ok {
                Style::new()
            } else {
                theme.bad()
            };
            lines.push(Line::styled(line, style));
        }
        lines.extend(self.list.filter_line(self.visible().len(), theme));
        frame.render_widget(Paragraph::new(lines).block(block(text::TIMELINE)), area);
    }
}
