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

/// The filtered timeline, computed once per (audit, filter) instead of on every frame and
/// key press: with 100,000 entries, filtering formats and searches every entry (about
/// 130 ms here), while a frame must take under 2 ms (docs/PERFORMANCE.md).
#[derive(Default)]
pub(super) struct VisibleCache(std::sync::Mutex<Option<CachedVisible>>);

/// (audit epoch, filter text, the indices it lets through).
type CachedVisible = (u64, String, std::sync::Arc<[usize]>);

impl Clone for VisibleCache {
    /// A clone starts empty: the cache is derived state, recomputed on first use.
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for VisibleCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VisibleCache")
    }
}

impl HistoryView {
    /// Indices of the entries the filter lets through, newest first. Cached per audit
    /// (set through [`HistoryView::set_audit`]) and filter text.
    pub fn visible(&self) -> std::sync::Arc<[usize]> {
        let filter = self
            .list
            .filter
            .as_ref()
            .map(|f| f.value.clone())
            .unwrap_or_default();
        // A poisoned lock only means a panic elsewhere mid-update: recompute.
        let mut cache = self
            .visible_cache
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut narrow_from = None;
        if let Some((epoch, cached_filter, indices)) = cache.as_ref()
            && *epoch == self.audit_epoch
        {
            if *cached_filter == filter {
                return indices.clone();
            }
            // Typing one more character: whatever the longer filter lets through, the
            // shorter one did (the match is a case-insensitive substring test), so only
            // the previous result needs searching.
            if filter
                .to_lowercase()
                .contains(&cached_filter.to_lowercase())
            {
                narrow_from = Some(indices.clone());
            }
        }
        let indices: std::sync::Arc<[usize]> = self.compute_visible(narrow_from.as_deref()).into();
        *cache = Some((self.audit_epoch, filter, indices.clone()));
        indices
    }

    /// The entries `filter` lets through, newest first; only among `within` (newest first)
    /// when given.
    fn compute_visible(&self, within: Option<&[usize]>) -> Vec<usize> {
        let Some(audit) = &self.audit else {
            return Vec::new();
        };
        let needle = match &self.list.filter {
            Some(f) if !f.value.is_empty() => f.value.to_lowercase(),
            _ => return (0..audit.entries.len()).rev().collect(),
        };
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

    pub fn selected(&self) -> Option<usize> {
        self.visible().get(self.list.cursor).copied()
    }

    /// Draws the rows of `visible` (indices into `audit.entries`) that fit, the cursor's
    /// row on the last line once the list is scrolled.
    pub(super) fn render_timeline(
        &self,
        audit: &AuditedHistory,
        visible: &[usize],
        frame: &mut Frame,
        area: Rect,
        theme: Theme,
    ) {
        let rows = area
            .height
            .saturating_sub(3 + u16::from(self.list.filter.is_some())) as usize;
        let offset = self.list.cursor.saturating_sub(rows.saturating_sub(1));
        let mut lines = vec![Line::styled(text::HISTORY_COLUMNS, theme.bold())];
        for (row, &i) in visible.iter().enumerate().skip(offset).take(rows) {
            let e = &audit.entries[i];
            let ok = e.verified();
            let (pol, own) = e
                .manifest
                .as_ref()
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
        lines.extend(self.list.filter_line(theme));
        frame.render_widget(Paragraph::new(lines).block(block(text::TIMELINE)), area);
    }
}
