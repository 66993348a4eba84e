//! A manifest as the screens show it: whether it is usable, its structure, and the semantic
//! difference between two of them.

use ratatui::text::{Line, Span};
use seedward_shared::manifest::{Manifest, ManifestDiff, PolicyFieldChange, ValueChange};

use super::{tail, truncate};
use crate::ui::effects::LoadedManifest;
use crate::ui::text;
use crate::ui::theme::Theme;

/// Whether a loaded manifest is usable: parse error, validation problems, policy problems,
/// warnings, or "✓ valid".
pub fn validity_lines(loaded: &LoadedManifest, theme: Theme) -> Vec<Line<'static>> {
    let name = loaded
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut lines = Vec::new();
    if let Some(e) = &loaded.parse_error {
        lines.push(Line::styled(format!("✗ {name}: {e}"), theme.bad()));
        return lines;
    }
    if loaded.is_valid() {
        lines.push(Line::from(vec![
            Span::styled(format!("{name}: "), theme.bold()),
            Span::styled(text::MANIFEST_VALID, theme.ok()),
        ]));
    }
    for (path, message) in &loaded.issues {
        let _ = path;
        lines.push(Line::styled(format!("✗ {message}"), theme.bad()));
    }
    if let Some(e) = &loaded.policy_error {
        lines.push(Line::styled(format!("✗ {e}"), theme.bad()));
    }
    for warning in &loaded.warnings {
        lines.push(Line::styled(format!("⚠ {warning}"), theme.warn()));
    }
    lines
}

/// A manifest, structured: hash, policies, owners, reference values.
pub fn manifest_lines(
    m: &Manifest,
    owner_hex: Option<&str>,
    workload_hex: Option<&str>,
    theme: Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let hex_width = width.saturating_sub(16);
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{}: ", text::LABEL_HASH), theme.bold()),
        Span::raw(truncate(&m.hash().to_string(), width.saturating_sub(15))),
    ])];
    lines.push(Line::styled(
        format!("{} ({})", text::LABEL_POLICIES, m.policies().len()),
        theme.bold(),
    ));
    for (hash, entry) in m.policies() {
        let role = entry.role.to_string();
        lines.push(Line::raw(format!("  {}  role {role}", truncate(hash, 16))));
        lines.push(Line::raw(truncate(
            &format!("      SANs {}", entry.sans.join(", ")),
            width,
        )));
        if let Some(secret) = &entry.workload_secret_id {
            lines.push(Line::raw(truncate(
                &format!("      workload secret {secret}"),
                width,
            )));
        }
    }
    lines.push(Line::styled(
        format!(
            "{} ({})",
            text::LABEL_SEEDSHARE_OWNERS,
            m.seedshare_owner_pub_keys().len()
        ),
        theme.bold(),
    ));
    if m.has_seedshare_owner_threshold() {
        lines.push(Line::styled(
            text::threshold_line(
                m.seedshare_owner_threshold(),
                m.seedshare_owner_pub_keys().len(),
            ),
            theme.warn(),
        ));
    }
    for k in m.seedshare_owner_pub_keys() {
        let mine = owner_hex.is_some_and(|o| o.eq_ignore_ascii_case(k));
        lines.push(Line::from({
            let mut spans = vec![Span::raw(format!("  {}", truncate(k, hex_width)))];
            if mine {
                spans.push(Span::styled(format!(" {}", text::YOUR_KEY), theme.ok()));
            }
            spans
        }));
    }
    lines.push(Line::styled(
        format!(
            "{} ({})",
            text::LABEL_WORKLOAD_OWNERS,
            m.workload_owner_pub_keys().len()
        ),
        theme.bold(),
    ));
    if m.workload_owner_pub_keys().is_empty() {
        lines.push(Line::styled(
            format!("  {}", text::NONE_IMMUTABLE),
            theme.warn(),
        ));
    }
    for k in m.workload_owner_pub_keys() {
        let mine = workload_hex.is_some_and(|o| o.eq_ignore_ascii_case(k));
        lines.push(owner_line(k, mine, hex_width, theme));
    }
    let refs = m.reference_values();
    lines.push(Line::from(vec![
        Span::styled(format!("{}: ", text::LABEL_REFERENCE_VALUES), theme.bold()),
        Span::raw(if refs.is_empty() {
            "{}".to_string()
        } else {
            refs.keys().cloned().collect::<Vec<_>>().join(", ")
        }),
    ]));
    lines
}

pub fn owner_line(hex: &str, mine: bool, width: usize, theme: Theme) -> Line<'static> {
    // P-384 SPKI hex shares a long common prefix; show its distinctive tail.
    let shown = if hex.len() > width && width > 4 {
        format!("…{}", &hex[hex.len() - (width - 1)..])
    } else {
        hex.to_string()
    };
    let mut spans = vec![Span::raw(format!("  {shown}"))];
    if mine {
        spans.push(Span::styled(format!(" {}", text::YOUR_KEY), theme.ok()));
    }
    Line::from(spans)
}

/// `, WorkloadSecretID X` for a policy that has one (an added policy's secret matters as
/// much as its SANs).
pub fn secret_id_part(id: Option<&str>) -> String {
    match id {
        Some(id) if !id.is_empty() => format!(", WorkloadSecretID {id}"),
        _ => String::new(),
    }
}

/// A semantic diff as lines: `+` added, `-` removed, `~` changed.
pub fn diff_lines(d: &ManifestDiff, theme: Theme) -> Vec<Line<'static>> {
    if d.is_empty() {
        return vec![Line::raw(text::DIFF_EMPTY)];
    }
    let mut out = Vec::new();
    let add = |s: String| Line::styled(format!("+ {s}"), theme.ok());
    let del = |s: String| Line::styled(format!("- {s}"), theme.bad());
    let chg = |s: String| Line::styled(format!("~ {s}"), theme.warn());
    for (hash, entry) in &d.policies_added {
        out.push(add(format!(
            "policy {} (role {}, SANs {}{})",
            truncate(hash, 16),
            entry.role,
            entry.sans.join(", "),
            secret_id_part(entry.workload_secret_id.as_deref())
        )));
    }
    for (hash, entry) in &d.policies_removed {
        out.push(del(format!(
            "policy {} (role {}, SANs {})",
            truncate(hash, 16),
            entry.role,
            entry.sans.join(", ")
        )));
    }
    for change in &d.policies_changed {
        for c in &change.changes {
            let what = match c {
                PolicyFieldChange::Sans { added, removed } => {
                    let mut parts = Vec::new();
                    if !added.is_empty() {
                        parts.push(format!("+{}", added.join(", +")));
                    }
                    if !removed.is_empty() {
                        parts.push(format!("-{}", removed.join(", -")));
                    }
                    format!("SANs {}", parts.join(" "))
                }
                PolicyFieldChange::WorkloadSecretId { old, new } => format!(
                    "secret ID {} → {}",
                    old.as_deref().unwrap_or("(none)"),
                    new.as_deref().unwrap_or("(none)")
                ),
                PolicyFieldChange::Role { old, new } => format!("role {old} → {new}"),
                _ => "changed".to_string(),
            };
            out.push(chg(format!(
                "policy {}: {what}",
                truncate(&change.hash, 16)
            )));
        }
    }
    for v in &d.reference_values {
        let p = if v.pointer().is_empty() {
            "/"
        } else {
            v.pointer()
        };
        out.push(match v {
            ValueChange::Added { value, .. } => add(format!("ReferenceValues{p} = {value}")),
            ValueChange::Removed { value, .. } => del(format!("ReferenceValues{p} = {value}")),
            ValueChange::Changed { old, new, .. } => {
                chg(format!("ReferenceValues{p}: {old} → {new}"))
            }
        });
    }
    for k in &d.workload_owners_added {
        out.push(add(format!("workload owner …{}", tail(k, 24))));
    }
    for k in &d.workload_owners_removed {
        out.push(del(format!("workload owner …{}", tail(k, 24))));
    }
    for k in &d.seedshare_owners_added {
        out.push(add(format!("seed share owner {}", truncate(k, 24))));
    }
    for k in &d.seedshare_owners_removed {
        out.push(del(format!("seed share owner {}", truncate(k, 24))));
    }
    out
}
