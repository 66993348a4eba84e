//! The `--json` output of every command: one `Serialize` type per command, so the schema of
//! docs/CLI.md lives in the code too. Field order is output order (`serde_json` keeps it);
//! every object is printed inside an [`Envelope`] (`ok` and `command` first).

use seedward::keystore::KeyInfo;
use seedward::ops::{AuditedHistory, EvidenceView};
use seedward_shared::manifest::ManifestDiff;
use serde::Serialize;
use serde_json::Value;

/// `{"ok": …, "command": …, <the command's own fields>}`.
#[derive(Serialize)]
pub struct Envelope<'a, T: Serialize> {
    pub ok: bool,
    pub command: &'a str,
    #[serde(flatten)]
    pub fields: &'a T,
}

/// Any command that failed: `{"error": {…}}`.
#[derive(Serialize)]
pub struct Failure<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Serialize)]
pub struct ErrorDetail<'a> {
    pub exit_code: u8,
    pub kind: &'a str,
    pub reason: Option<&'a str>,
    pub message: &'a str,
}

// ---- keys ------------------------------------------------------------------------------

/// `KEY` of docs/CLI.md.
#[derive(Serialize)]
pub struct Key<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub backend: &'a str,
    pub public_hex: &'a str,
    pub fingerprint: &'a str,
}

impl<'a> From<&'a KeyInfo> for Key<'a> {
    fn from(info: &'a KeyInfo) -> Self {
        Self {
            name: &info.name,
            kind: info.kind.as_str(),
            backend: info.backend.as_str(),
            public_hex: &info.public_hex,
            fingerprint: &info.fingerprint,
        }
    }
}

/// `keys generate`, `keys import`.
#[derive(Serialize)]
pub struct KeyAdded<'a> {
    pub key: Key<'a>,
    pub warning: Option<&'a str>,
}

/// `keys list`.
#[derive(Serialize)]
pub struct KeysList<'a> {
    pub backend: &'a str,
    pub warning: Option<&'a str>,
    pub keys: Vec<Key<'a>>,
}

/// `keys export`: `pem` only when the public key is printed rather than written.
#[derive(Serialize)]
pub struct KeysExport<'a> {
    pub name: &'a str,
    pub private: bool,
    pub out: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pem: Option<&'a str>,
}

// ---- manifest, workload-secret -----------------------------------------------------------

/// `manifest template`.
#[derive(Serialize)]
pub struct ManifestTemplate {
    pub manifest: String,
    pub policies: Vec<PolicyFile>,
}

#[derive(Serialize)]
pub struct PolicyFile {
    pub path: String,
    pub sha256: String,
}

/// `workload-secret`: `secret_hex` only when the secret is printed rather than written.
#[derive(Serialize)]
pub struct WorkloadSecret<'a> {
    pub id: &'a str,
    pub out: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_hex: Option<&'a str>,
}

// ---- status, set, verify, recover ------------------------------------------------------

/// `status`.
#[derive(Serialize)]
pub struct Status<'a> {
    pub coordinator: &'a str,
    pub trust: &'static str,
    pub state: &'static str,
    pub generation: u64,
    pub latest_transition: Option<String>,
    pub root_ca_fingerprint: Option<&'a str>,
    pub evidence: Option<Evidence<'a>>,
    pub version: &'a str,
    pub next_step: &'static str,
    /// The replica board (`--store etcd` only; absent for a single replica).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_set: Option<ReplicaSet<'a>>,
    /// Who recovered the answering replica last (absent when it was not recovered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_recovery: Option<Recovery<'a>>,
}

/// `status --json`'s `last_recovery`.
#[derive(Serialize)]
pub struct Recovery<'a> {
    /// `owner` or `peer`.
    pub by: &'a str,
    /// The owner key's fingerprint, or the peer replica's id.
    pub who: &'a str,
    pub at_unix_ms: i64,
}

/// `status --json`'s `replica_set`.
#[derive(Serialize)]
pub struct ReplicaSet<'a> {
    pub answered_by: &'a str,
    pub as_of_unix_ms: Option<i64>,
    pub error: Option<&'a str>,
    pub replicas: Vec<ReplicaJson<'a>>,
}

/// The Coordinator's evidence, as `status` and `recover` show it.
#[derive(Serialize)]
pub struct Evidence<'a> {
    pub kind: &'a str,
    pub attested: bool,
    pub tls_key_matches: bool,
    pub binding_ok: bool,
    pub summary: String,
    /// What the verdict was judged against.
    pub reference: &'static str,
    /// The verdict's named checks (`ok: null` = not performed).
    pub checks: &'a [seedward_attestation::Check],
}

impl<'a> Evidence<'a> {
    pub fn of(evidence: Option<&'a EvidenceView>) -> Option<Self> {
        evidence.map(|ev| Self {
            kind: ev.kind.as_str(),
            attested: ev.attested(),
            tls_key_matches: ev.tls_key_matches,
            binding_ok: ev.binding_ok,
            summary: ev.summary(),
            reference: ev.source.describe(),
            checks: &ev.verdict.checks,
        })
    }
}

/// `set`, the first one (setup).
#[derive(Serialize)]
pub struct SetSetup<'a> {
    pub mode: &'static str,
    pub transition: String,
    pub generation: u64,
    pub seed_shares: usize,
    pub files: Vec<String>,
    pub drill: Drill<'a>,
}

/// The share drill that ends a setup.
#[derive(Serialize)]
pub struct Drill<'a> {
    pub ok: bool,
    pub owner_fingerprint: &'a str,
    pub generation: u64,
    pub latest_transition: String,
    pub root_ca_matches: bool,
    /// Whole-seed shares: the saved signing key. Absent with a threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_key_file: Option<String>,
    /// Threshold shares: which share was checked against its commitment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<ThresholdShare>,
}

/// One owner's place in a k-of-n split.
#[derive(Serialize)]
pub struct ThresholdShare {
    pub threshold: usize,
    pub owners: usize,
    pub index: u8,
}

/// `set`, later ones (update).
#[derive(Serialize)]
pub struct SetUpdate<'a> {
    pub mode: &'static str,
    pub atomic: bool,
    pub base: String,
    pub transition: String,
    pub generation: u64,
    pub diff: Option<&'a ManifestDiff>,
}

/// `verify`.
#[derive(Serialize)]
pub struct Verify<'a> {
    pub coordinator: &'a str,
    pub trust: &'static str,
    pub generation: u64,
    pub latest_transition: String,
    pub key_source: &'static str,
    pub verified: bool,
    pub coordinator_claims_verified: bool,
    pub root_ca_matches_pin: Option<bool>,
    pub manifest_matches_workspace: Option<bool>,
    /// The Coordinator's evidence, judged against the workspace's `manifest.json`.
    pub evidence: Option<Evidence<'a>>,
    pub problems: &'a [String],
    pub folder: String,
    pub entries: Vec<Entry>,
}

/// `recover`.
#[derive(Serialize)]
pub struct Recover<'a> {
    pub coordinator: &'a str,
    pub state: &'static str,
    pub generation: u64,
    pub latest_transition: String,
    pub evidence: Option<Evidence<'a>>,
    pub root_ca_matches_pin: bool,
    pub history_unchanged: bool,
    pub mesh_ca_changed: bool,
    pub checklist: &'a [&'a str],
}

// ---- history ---------------------------------------------------------------------------

/// One audited history entry, as `verify` and `history list | verify-bundle` list them.
#[derive(Serialize)]
pub struct Entry {
    pub generation: u64,
    pub transition: String,
    pub previous: String,
    pub manifest: String,
    pub verified: bool,
    pub policies: Option<usize>,
}

impl Entry {
    pub fn all(h: &AuditedHistory) -> Vec<Self> {
        h.entries
            .iter()
            .map(|e| Self {
                generation: e.chain.generation,
                transition: e.chain.transition_hash.to_hex(),
                previous: e.chain.previous.to_hex(),
                manifest: e.chain.manifest_hash.to_hex(),
                verified: e.verified(),
                policies: e.manifest().map(|m| m.policies().len()),
            })
            .collect()
    }
}

/// `history list`.
#[derive(Serialize)]
pub struct HistoryList<'a> {
    pub generation: u64,
    pub latest_transition: String,
    pub key_source: &'static str,
    pub verified: bool,
    pub failure: Option<&'a str>,
    pub entries: Vec<Entry>,
}

/// `history show`.
#[derive(Serialize)]
pub struct HistoryShow<'a> {
    pub generation: u64,
    pub transition: String,
    pub previous: String,
    pub manifest_hash: String,
    pub verified: bool,
    pub manifest: &'a Value,
}

/// `history diff`.
#[derive(Serialize)]
pub struct HistoryDiff<'a> {
    pub from: u64,
    pub to: u64,
    pub from_manifest: String,
    pub to_manifest: String,
    pub diff: &'a ManifestDiff,
    pub raw_diff: Option<&'a str>,
}

/// `history export`.
#[derive(Serialize)]
pub struct HistoryExport {
    pub out: String,
    pub generation: u64,
    pub latest_transition: String,
    pub verified: bool,
    pub signing_key_included: bool,
}

/// `history verify-bundle`.
#[derive(Serialize)]
pub struct HistoryVerifyBundle<'a> {
    pub bundle: String,
    pub anchored: bool,
    pub anchor: &'a str,
    pub generation: u64,
    pub latest_transition: String,
    pub root_ca_matches: Option<bool>,
    pub missing_policies: &'a [String],
    pub problems: &'a [String],
    pub entries: Vec<Entry>,
}

/// `replicas --json`.
#[derive(Serialize)]
pub struct ReplicasJson<'a> {
    pub coordinator: &'a str,
    /// `false` for a single replica (`--store fs`).
    pub shared_store: bool,
    pub answered_by: Option<&'a str>,
    pub as_of_unix_ms: Option<i64>,
    pub error: Option<&'a str>,
    pub replicas: Vec<ReplicaJson<'a>>,
}

/// One replica in `replicas --json` (and in `status --json`'s `replica_set`).
#[derive(Serialize)]
pub struct ReplicaJson<'a> {
    pub id: &'a str,
    pub address: &'a str,
    pub state: &'static str,
    pub generation: u64,
    pub latest_transition: Option<String>,
    pub evidence_kind: &'a str,
    pub since_unix_ms: i64,
    pub last_error: Option<&'a str>,
    /// This is the replica that answered.
    pub answering: bool,
    /// Who recovered it last (absent when it was never recovered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_recovery: Option<Recovery<'a>>,
}

// ---- recovery sessions -----------------------------------------------------------------

fn unix_ms(at: std::time::SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `recover` (threshold), `recovery status`, `recovery cancel`.
#[derive(Serialize)]
pub struct Session {
    pub state: &'static str,
    pub session: Option<SessionOpen>,
    pub last_ended: Option<SessionEnded>,
    pub recovered: bool,
}

#[derive(Serialize)]
pub struct SessionOpen {
    pub id: String,
    pub threshold: u32,
    pub submitted: u32,
    pub remaining: u32,
    pub latest_transition: String,
    pub opened_at_unix_ms: u64,
    pub expires_at_unix_ms: u64,
    pub owners: Vec<SessionOwner>,
    pub wrong_shares: Vec<SessionWrongShare>,
}

#[derive(Serialize)]
pub struct SessionOwner {
    pub fingerprint: String,
    pub share_index: u32,
    pub submitted_at_unix_ms: Option<u64>,
    pub you: bool,
}

#[derive(Serialize)]
pub struct SessionWrongShare {
    pub fingerprint: String,
    pub share_index: u32,
    pub at_unix_ms: u64,
}

#[derive(Serialize)]
pub struct SessionEnded {
    pub id: String,
    pub outcome: String,
    pub detail: String,
    pub at_unix_ms: u64,
}

impl Session {
    pub fn of(status: &seedward::ops::SessionStatus) -> Self {
        Self {
            state: super::coordinator::state_label(status.state),
            session: status.session.as_ref().map(|s| SessionOpen {
                id: s.id_hex(),
                threshold: s.threshold,
                submitted: s.submitted,
                remaining: s.remaining,
                latest_transition: s.latest.to_hex(),
                opened_at_unix_ms: unix_ms(s.opened_at),
                expires_at_unix_ms: unix_ms(s.expires_at),
                owners: s
                    .owners
                    .iter()
                    .map(|o| SessionOwner {
                        fingerprint: o.fingerprint.clone(),
                        share_index: o.index,
                        submitted_at_unix_ms: o.submitted_at.map(unix_ms),
                        you: o.you,
                    })
                    .collect(),
                wrong_shares: s
                    .wrong_shares
                    .iter()
                    .map(|w| SessionWrongShare {
                        fingerprint: w.fingerprint.clone(),
                        share_index: w.index,
                        at_unix_ms: unix_ms(w.at),
                    })
                    .collect(),
            }),
            last_ended: status.last_ended.as_ref().map(|e| SessionEnded {
                id: e.id.clone(),
                outcome: e.outcome.clone(),
                detail: e.detail.clone(),
                at_unix_ms: unix_ms(e.at),
            }),
            recovered: status.recovered.is_some(),
        }
    }
}
