//! Drawing. Everything here only *reads* the [`App`]; nothing changes state or does I/O.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::app::{App, Location};
use super::components::scroll_pane::PaneScroll;
use super::components::truncate;
use super::keymap::{self};
use super::screens::{Screen, dashboard};
use super::shared::Health;
use super::text;
use super::theme::Theme;

/// Smallest terminal the UI lays out for.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Draws the whole UI. The app is only read; the one thing written back is the wizard pane's
/// [`PaneScroll`], which the pane widget clamps to its content and measures, so that paging
/// in `update` needs no layout.
pub fn render(app: &mut App, frame: &mut Frame) {
    let mut pane = app.pane;
    draw(app, frame, &mut pane);
    app.pane = pane;
}

fn draw(app: &App, frame: &mut Frame, pane: &mut PaneScroll) {
    let theme = Theme::new(!app.no_color);
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, theme);
        return;
    }
    let [title, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    title_bar(app, frame, title, theme);
    match &app.screen {
        Screen::Dashboard => dashboard::render(frame, body, &app.health, &app.keys, theme),
        Screen::Setup(w) => w.render(frame, body, &app.keys, theme, pane),
        Screen::Recovery(r) => r.render(frame, body, &app.keys, theme, pane),
        Screen::History(h) => h.render(frame, body, theme),
        Screen::Update(u) => u.render(frame, body, &app.keys, theme, pane),
        Screen::Keys(k) => k.render(frame, body, &app.keys, theme),
    }
    status_bar(app, frame, status, theme);
    footer_bar(app, frame, footer, theme);
    if let Some(popup) = &app.popup {
        popup.render(frame, area, theme);
    }
}

fn too_small(frame: &mut Frame, area: Rect, theme: Theme) {
    let para = Paragraph::new(vec![
        Line::styled(text::TOO_SMALL_TITLE, theme.bold()),
        Line::raw(""),
        Line::raw(text::too_small(
            area.width,
            area.height,
            MIN_WIDTH,
            MIN_HEIGHT,
        )),
    ])
    .wrap(Wrap { trim: true });
    frame.render_widget(para, area);
}

fn title_bar(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let left = Line::from(vec![
        Span::styled(
            format!(" {} ", text::APP),
            theme.bold().add_modifier(Modifier::REVERSED),
        ),
        Span::raw(" "),
        Span::styled(app.screen.title(), theme.bold()),
    ]);
    frame.render_widget(Paragraph::new(left), area);
    let right =
        Line::from(vec![Span::styled("?", theme.key()), Span::raw(" help ")]).right_aligned();
    frame.render_widget(Paragraph::new(right), area);
}

fn status_bar(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let location = match &app.location {
        Location::Local { address, state_dir } => {
            text::local_location(address, &state_dir.display().to_string())
        }
        Location::Remote { address } => text::remote_location(address),
    };
    let (health, style) = match &app.health {
        Health::Connecting => (text::HEALTH_CONNECTING.to_string(), theme.dim()),
        Health::Ok { latency_ms, .. } => (text::health_ok(*latency_ms), theme.ok()),
        Health::Failed { .. } => ("✗ unreachable".to_string(), theme.bad()),
    };
    let width = area.width as usize;
    let health_len = health.chars().count() + 1;
    let location = truncate(&location, width.saturating_sub(health_len + 1));
    let pad = width.saturating_sub(location.chars().count() + health_len);
    let line = Line::from(vec![
        Span::raw(location),
        Span::raw(" ".repeat(pad)),
        Span::styled(health, style),
        Span::raw(" "),
    ]);
    frame.render_widget(
        Paragraph::new(line).style(theme.dim().add_modifier(Modifier::REVERSED)),
        area,
    );
}

fn footer_bar(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let mut spans = Vec::new();
    let mut used = 0usize;
    for (keys, hint) in keymap::hints(&app.contexts()) {
        let len = keys.chars().count() + hint.chars().count() + 3;
        if used + len > area.width as usize {
            break;
        }
        used += len;
        spans.push(Span::styled(keys, theme.key()));
        spans.push(Span::raw(format!(" {hint}  ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

// ----------------------------------------------------------------------------------------
// Dashboard
// ----------------------------------------------------------------------------------------

// ----------------------------------------------------------------------------------------
// Step lists
// ----------------------------------------------------------------------------------------

// ----------------------------------------------------------------------------------------
// Setup wizard
// ----------------------------------------------------------------------------------------

// ----------------------------------------------------------------------------------------
// Recovery wizard
// ----------------------------------------------------------------------------------------

// ----------------------------------------------------------------------------------------
// History audit
// ----------------------------------------------------------------------------------------

// ----------------------------------------------------------------------------------------
// Update
// ----------------------------------------------------------------------------------------

// ----------------------------------------------------------------------------------------
// Keys
// ----------------------------------------------------------------------------------------

// ----------------------------------------------------------------------------------------
// Popups
// ----------------------------------------------------------------------------------------
