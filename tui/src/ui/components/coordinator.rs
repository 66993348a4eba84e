//! The Coordinator as the screens show it: its state, its attestation evidence, how far it
//! is trusted, and the identity block the setup and recovery wizards ask to be checked.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::{label, truncate};
use crate::ops::{CoordinatorState, EvidenceView, StatusView, TrustLevel};
use crate::ui::text;
use crate::ui::theme::Theme;

pub fn state_line(state: CoordinatorState, theme: Theme) -> Span<'static> {
    let (mark, style) = match state {
        CoordinatorState::Ready => ("✓", theme.ok()),
        CoordinatorState::Uninitialized => ("○", theme.warn()),
        CoordinatorState::RecoveryRequired | CoordinatorState::Stale => ("✗", theme.bad()),
        CoordinatorState::Unknown => ("?", theme.warn()),
    };
    Span::styled(format!("{mark} {}", state.label()), style)
}

pub fn evidence_spans(ev: Option<&EvidenceView>, theme: Theme) -> Vec<Span<'static>> {
    match ev {
        None => vec![Span::styled(
            "✗ none: the Coordinator sent no evidence",
            theme.bad(),
        )],
        Some(ev) => {
            // The summary's first word is the verdict (ATTESTED / UNATTESTED / UNVERIFIED).
            let summary = ev.summary();
            let (verdict, rest) = summary.split_once(' ').unwrap_or((summary.as_str(), ""));
            let verdict = if ev.attested() {
                text::ATTESTED_BADGE.to_string()
            } else {
                format!(" {verdict} ")
            };
            let style = if ev.tls_key_matches && ev.binding_ok && ev.challenge_bound {
                Style::new()
            } else {
                theme.bad()
            };
            vec![
                Span::styled(verdict, theme.badge()),
                Span::raw(" "),
                Span::styled(rest.to_string(), style),
            ]
        }
    }
}

/// How far the connection is trusted. A pin mismatch is expected while recovery is
/// required (the Coordinator serves a self-signed certificate) and shown as such; a *ready*
/// Coordinator that is not from the pin is a takeover, shown as an alarm.
pub fn trust_span(trust: TrustLevel, state: CoordinatorState, theme: Theme) -> Span<'static> {
    match trust {
        TrustLevel::Pinned => Span::styled(text::TRUST_PINNED, theme.ok()),
        TrustLevel::PinMismatch if state == CoordinatorState::Ready => {
            Span::styled(text::TRUST_TAKEOVER, theme.bad())
        }
        TrustLevel::PinMismatch => Span::styled(text::TRUST_MISMATCH, theme.calm()),
        TrustLevel::MissingPin => Span::styled(text::TRUST_MISSING_PIN, theme.warn()),
        TrustLevel::FirstUse => Span::styled(text::TRUST_FIRST_USE, theme.calm()),
    }
}

/// One line per check of a TEE verdict: ✓/✗/–, the check, and for a failure what was seen,
/// what was expected and what to change.
pub fn verdict_lines(ev: &EvidenceView, theme: Theme, width: usize) -> Vec<Line<'static>> {
    if ev.unattested() {
        return Vec::new();
    }
    let mut lines = vec![Line::from(format!(
        "  checked against {}:",
        ev.source.describe()
    ))];
    for check in &ev.verdict.checks {
        let (mark, style) = match check.ok {
            Some(true) => ("✓", theme.ok()),
            Some(false) => ("✗", theme.bad()),
            None => ("–", theme.warn()),
        };
        let detail = match check.ok {
            Some(true) => truncate(&check.seen, width.saturating_sub(check.name.len() + 8)),
            Some(false) => truncate(
                &format!(
                    "seen {}, expected {}: {}",
                    check.seen, check.expected, check.hint
                ),
                width.saturating_sub(check.name.len() + 8),
            ),
            None => truncate(
                &format!("not performed: {}", check.hint),
                width.saturating_sub(check.name.len() + 8),
            ),
        };
        lines.push(Line::styled(
            format!("  {mark} {} {detail}", check.name),
            style,
        ));
    }
    lines
}

/// The TLS key of the evidence as `ab12:cd34:…`.
pub fn tls_fingerprint(ev: &EvidenceView) -> String {
    hex::decode(&ev.tls_spki_sha256)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(|b| seedward_shared::keys::Fingerprint::from_sha256(&b).to_string())
        .unwrap_or_else(|| ev.tls_spki_sha256.clone())
}

pub fn coordinator_lines(s: &StatusView, theme: Theme, width: usize) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::from(vec![
            label(text::LABEL_ADDRESS, theme),
            Span::raw(s.address.clone()),
        ]),
        Line::from(vec![
            label(text::LABEL_STATE, theme),
            state_line(s.state, theme),
        ]),
    ];
    if let Some(ev) = &s.evidence {
        lines.push(Line::from(vec![
            label(text::LABEL_TLS, theme),
            Span::raw(tls_fingerprint(ev)),
        ]));
    }
    lines.push(Line::from({
        let mut spans = vec![label(text::LABEL_EVIDENCE, theme)];
        spans.extend(evidence_spans(s.evidence.as_ref(), theme));
        spans
    }));
    if let Some(ev) = &s.evidence {
        let check = |ok: bool, yes: &str, no: &str| {
            if ok {
                Line::styled(format!("  ✓ {yes}"), theme.ok())
            } else {
                Line::styled(format!("  ✗ {no}"), theme.bad())
            }
        };
        lines.push(check(
            ev.tls_key_matches,
            "the evidence names this connection's TLS key",
            "the evidence names another TLS key than this connection's: do not continue",
        ));
        lines.push(check(
            ev.binding_ok && ev.challenge_bound,
            "report data binds the TLS and challenge keys",
            "report data does not bind the keys: do not continue",
        ));
    }
    lines.push(Line::from(vec![
        label(text::LABEL_TRUST, theme),
        trust_span(s.trust, s.state, theme),
    ]));
    if let Some(ev) = &s.evidence {
        lines.extend(verdict_lines(ev, theme, width));
    }
    if let Some(latest) = s.latest {
        lines.push(Line::from(vec![
            label(text::LABEL_LATEST, theme),
            Span::raw(truncate(&latest.to_string(), width.saturating_sub(14))),
        ]));
    }
    lines
}
