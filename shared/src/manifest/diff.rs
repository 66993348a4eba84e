//! The semantic diff between two manifests, for the TUI and the CLI.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Manifest, PolicyEntry, Role};

/// What changed from one manifest to another, field by field. Pure data for the TUI and CLI.
///
/// Policy hashes and owner keys are compared as lowercase hex; SANs as sets (a reordering is
/// not a change). An empty diff between manifests with different hashes means the change was
/// formatting only (whitespace, key order, hex case).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ManifestDiff {
    /// Lowercase policy hash → entry.
    pub policies_added: Vec<(String, PolicyEntry)>,
    pub policies_removed: Vec<(String, PolicyEntry)>,
    pub policies_changed: Vec<PolicyChange>,
    pub reference_values: Vec<ValueChange>,
    pub workload_owners_added: Vec<String>,
    pub workload_owners_removed: Vec<String>,
    pub seedshare_owners_added: Vec<String>,
    pub seedshare_owners_removed: Vec<String>,
}

/// The changed fields of a policy present in both manifests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyChange {
    /// Lowercase policy hash.
    pub hash: String,
    pub changes: Vec<PolicyFieldChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PolicyFieldChange {
    Sans {
        added: Vec<String>,
        removed: Vec<String>,
    },
    WorkloadSecretId {
        old: Option<String>,
        new: Option<String>,
    },
    Role {
        old: Role,
        new: Role,
    },
}

/// A change inside `ReferenceValues`, located by an RFC 6901 JSON pointer relative to it
/// (`""` is `ReferenceValues` itself, `/snp/0/minimumTCB` a field inside).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueChange {
    Added {
        pointer: String,
        value: Value,
    },
    Removed {
        pointer: String,
        value: Value,
    },
    Changed {
        pointer: String,
        old: Value,
        new: Value,
    },
}

impl ValueChange {
    pub fn pointer(&self) -> &str {
        match self {
            Self::Added { pointer, .. }
            | Self::Removed { pointer, .. }
            | Self::Changed { pointer, .. } => pointer,
        }
    }
}

impl ManifestDiff {
    /// The changes that turn `old` into `new`.
    pub fn between(old: &Manifest, new: &Manifest) -> Self {
        let old_policies = lowercase_policies(old);
        let new_policies = lowercase_policies(new);
        let mut diff = Self::default();
        for (hash, entry) in &old_policies {
            match new_policies.get(hash) {
                None => diff.policies_removed.push((hash.clone(), (*entry).clone())),
                Some(new_entry) => {
                    let changes = policy_changes(entry, new_entry);
                    if !changes.is_empty() {
                        diff.policies_changed.push(PolicyChange {
                            hash: hash.clone(),
                            changes,
                        });
                    }
                }
            }
        }
        for (hash, entry) in &new_policies {
            if !old_policies.contains_key(hash) {
                diff.policies_added.push((hash.clone(), (*entry).clone()));
            }
        }
        let mut pointer = String::new();
        diff_values(
            &mut pointer,
            &Value::Object(old.reference_values.clone()),
            &Value::Object(new.reference_values.clone()),
            &mut diff.reference_values,
        );
        (diff.workload_owners_added, diff.workload_owners_removed) =
            set_diff(&old.workload_owner_pub_keys, &new.workload_owner_pub_keys);
        (diff.seedshare_owners_added, diff.seedshare_owners_removed) =
            set_diff(&old.seedshare_owner_pub_keys, &new.seedshare_owner_pub_keys);
        diff
    }

    /// No semantic change.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

pub(super) fn lowercase_policies(m: &Manifest) -> BTreeMap<String, &PolicyEntry> {
    m.policies
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

pub(super) fn policy_changes(old: &PolicyEntry, new: &PolicyEntry) -> Vec<PolicyFieldChange> {
    let mut changes = Vec::new();
    let (added, removed) = set_diff_exact(&old.sans, &new.sans);
    if !added.is_empty() || !removed.is_empty() {
        changes.push(PolicyFieldChange::Sans { added, removed });
    }
    if old.workload_secret_id != new.workload_secret_id {
        changes.push(PolicyFieldChange::WorkloadSecretId {
            old: old.workload_secret_id.clone(),
            new: new.workload_secret_id.clone(),
        });
    }
    if old.role != new.role {
        changes.push(PolicyFieldChange::Role {
            old: old.role.clone(),
            new: new.role.clone(),
        });
    }
    changes
}

/// (added, removed), case-insensitive, lowercase output, each in the order it appears.
pub(super) fn set_diff(old: &[String], new: &[String]) -> (Vec<String>, Vec<String>) {
    let lower =
        |v: &[String]| -> Vec<String> { v.iter().map(|s| s.to_ascii_lowercase()).collect() };
    set_diff_exact(&lower(old), &lower(new))
}

pub(super) fn set_diff_exact(old: &[String], new: &[String]) -> (Vec<String>, Vec<String>) {
    let old_set: BTreeSet<&String> = old.iter().collect();
    let new_set: BTreeSet<&String> = new.iter().collect();
    let mut added: Vec<String> = Vec::new();
    for s in new {
        if !old_set.contains(s) && !added.contains(s) {
            added.push(s.clone());
        }
    }
    let mut removed: Vec<String> = Vec::new();
    for s in old {
        if !new_set.contains(s) && !removed.contains(s) {
            removed.push(s.clone());
        }
    }
    (added, removed)
}

pub(super) fn diff_values(
    pointer: &mut String,
    old: &Value,
    new: &Value,
    out: &mut Vec<ValueChange>,
) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, va) in a {
                let len = pointer.len();
                push_token(pointer, key);
                match b.get(key) {
                    Some(vb) => diff_values(pointer, va, vb, out),
                    None => out.push(ValueChange::Removed {
                        pointer: pointer.clone(),
                        value: va.clone(),
                    }),
                }
                pointer.truncate(len);
            }
            for (key, vb) in b {
                if !a.contains_key(key) {
                    let len = pointer.len();
                    push_token(pointer, key);
                    out.push(ValueChange::Added {
                        pointer: pointer.clone(),
                        value: vb.clone(),
                    });
                    pointer.truncate(len);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let len = pointer.len();
                push_token(pointer, &i.to_string());
                match (a.get(i), b.get(i)) {
                    (Some(va), Some(vb)) => diff_values(pointer, va, vb, out),
                    (Some(va), None) => out.push(ValueChange::Removed {
                        pointer: pointer.clone(),
                        value: va.clone(),
                    }),
                    (None, Some(vb)) => out.push(ValueChange::Added {
                        pointer: pointer.clone(),
                        value: vb.clone(),
                    }),
                    (None, None) => {}
                }
                pointer.truncate(len);
            }
        }
        _ if old == new => {}
        _ => out.push(ValueChange::Changed {
            pointer: pointer.clone(),
            old: old.clone(),
            new: new.clone(),
        }),
    }
}

/// Appends `/token` with RFC 6901 escaping (`~` → `~0`, `/` → `~1`).
pub(super) fn push_token(pointer: &mut String, token: &str) {
    pointer.push('/');
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}
