//! Offline audit material: the history bundle (`seedward-history-bundle/v1`) and the
//! `verify/` folder. Additions to [`crate::ops`] for `seedward history export`,
//! `seedward history verify-bundle` and `seedward verify`; nothing here talks to a
//! Coordinator.
//!
//! # Bundle format (`seedward-history-bundle/v1`)
//!
//! One JSON object (UTF-8):
//!
//! | field | type | content |
//! |---|---|---|
//! | `format` | string | exactly `seedward-history-bundle/v1` |
//! | `manifests` | array of string | every manifest, oldest first, standard base64 (with padding) of the exact bytes that were set |
//! | `policies` | array of string | every policy document the history references, base64 |
//! | `latest_transition` | string | 64 lowercase hex characters: the hash of the newest transition |
//! | `latest_signature` | string | base64 of the ASN.1 DER ECDSA P-384 signature over the raw 32-byte latest transition hash (the value of `transitions/latest` after its first 32 bytes) |
//! | `root_ca_pem` | string | the Coordinator's root CA certificate (PEM) |
//! | `mesh_ca_pem` | string | the mesh CA certificate at export time (PEM); informational |
//! | `signing_public_key_pem` | string or null | the history signing public key (SPKI PEM) that verified the history when it was exported; null when the exporter had no key |
//!
//! Verification re-hashes every manifest (transition `i` = SHA-256(SHA-256(manifest_i) ‖
//! transition_{i-1}), transition_0 = 32 zero bytes), requires the last one to equal
//! `latest_transition`, and checks `latest_signature` with a signing key. The key embedded
//! in the bundle only proves the bundle is *self-consistent*; it is *anchored* when the key
//! comes from outside the bundle: a saved `history-signing-key.pem`, or the seed share
//! (which also pins the root CA key).
//!
//! # The verify folder
//!
//! `seedward verify` writes the audited history as plain files, so that other tools can check it:
//! `manifests/<n>-<hash>.json` (n = generation from 1, zero-padded to 4 digits, oldest
//! first; hash = SHA-256 of the manifest, hex), `policies/<hash>`,
//! `coordinator-root-ca.pem`, `mesh-ca.pem`, `latest-transition` (64 hex characters),
//! `latest-signature` (hex of the DER signature).

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use p384::ecdsa::VerifyingKey;
use p384::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};
use seedward_proto::v1 as pb;
use seedward_shared::history::Digest;

use crate::ops::{AuditedHistory, OpsError, SigningKeySource, audit_response, cert_public_key};
use crate::workspace::WorkspaceError;

/// The value of a bundle's `format` field.
pub const BUNDLE_FORMAT: &str = "seedward-history-bundle/v1";

/// A history bundle. See the module docs for the format.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryBundle {
    pub format: String,
    pub manifests: Vec<String>,
    pub policies: Vec<String>,
    pub latest_transition: String,
    pub latest_signature: String,
    pub root_ca_pem: String,
    pub mesh_ca_pem: String,
    pub signing_public_key_pem: Option<String>,
}

fn invalid(message: impl Into<String>) -> OpsError {
    OpsError::Invalid(message.into())
}

impl HistoryBundle {
    /// Packs an audited history; `signing_key` is the key that verified it, if any.
    pub fn from_audit(
        history: &AuditedHistory,
        signing_key: Option<&VerifyingKey>,
    ) -> Result<Self, OpsError> {
        let signing_public_key_pem = signing_key
            .map(|k| {
                k.to_public_key_pem(LineEnding::LF)
                    .map_err(|e| invalid(format!("cannot encode the signing key: {e}")))
            })
            .transpose()?;
        Ok(Self {
            format: BUNDLE_FORMAT.to_string(),
            manifests: history
                .entries
                .iter()
                .map(|e| BASE64.encode(&e.manifest_bytes))
                .collect(),
            policies: history.policies.iter().map(|p| BASE64.encode(p)).collect(),
            latest_transition: history.latest.transition_hash().to_hex(),
            latest_signature: BASE64.encode(history.latest.signature()),
            root_ca_pem: history.root_ca_cert.clone(),
            mesh_ca_pem: history.mesh_ca_cert.clone(),
            signing_public_key_pem,
        })
    }

    /// Pretty JSON with a final newline.
    pub fn to_json(&self) -> Result<String, OpsError> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| invalid(format!("cannot encode the bundle: {e}")))?;
        text.push('\n');
        Ok(text)
    }

    pub fn from_json(text: &str) -> Result<Self, OpsError> {
        let bundle: Self = serde_json::from_str(text).map_err(|e| {
            invalid(format!(
                "not a Seedward history bundle ({e}); expected {BUNDLE_FORMAT} JSON"
            ))
        })?;
        if bundle.format != BUNDLE_FORMAT {
            return Err(invalid(format!(
                "unsupported bundle format {:?}; this seedward reads {BUNDLE_FORMAT}",
                bundle.format
            )));
        }
        Ok(bundle)
    }

    /// The bundle as the `GetManifests` response it was made from.
    pub fn to_response(&self) -> Result<pb::GetManifestsResponse, OpsError> {
        let decode = |what: &str, i: usize, s: &str| {
            BASE64
                .decode(s)
                .map_err(|e| invalid(format!("bundle {what}[{i}] is not base64: {e}")))
        };
        let manifests = self
            .manifests
            .iter()
            .enumerate()
            .map(|(i, s)| decode("manifests", i, s))
            .collect::<Result<Vec<_>, _>>()?;
        let policies = self
            .policies
            .iter()
            .enumerate()
            .map(|(i, s)| decode("policies", i, s))
            .collect::<Result<Vec<_>, _>>()?;
        let latest: Digest = self
            .latest_transition
            .parse()
            .map_err(|_| invalid("bundle latest_transition is not 64 hex characters"))?;
        let signature = BASE64
            .decode(&self.latest_signature)
            .map_err(|e| invalid(format!("bundle latest_signature is not base64: {e}")))?;
        Ok(pb::GetManifestsResponse {
            manifests,
            policies,
            root_ca_cert: self.root_ca_pem.clone(),
            mesh_ca_cert: self.mesh_ca_pem.clone(),
            latest_transition_hash: latest.as_bytes().to_vec(),
            latest_signature: signature,
            verified: false,
        })
    }

    /// The signing key the exporter embedded (not an anchor by itself).
    pub fn embedded_signing_key(&self) -> Result<Option<VerifyingKey>, OpsError> {
        self.signing_public_key_pem
            .as_deref()
            .map(|pem| {
                VerifyingKey::from_public_key_pem(pem).map_err(|_| {
                    invalid("bundle signing_public_key_pem is not a P-384 public key PEM")
                })
            })
            .transpose()
    }
}

/// What a bundle is checked against.
#[derive(Debug, Clone)]
pub enum BundleAnchor {
    /// A signing public key from outside the bundle (e.g. `history-signing-key.pem`).
    SigningKey(VerifyingKey),
    /// Keys derived from the operator's seed share: the signing key and the root CA key.
    SeedShare {
        signing_key: VerifyingKey,
        root_ca: p384::PublicKey,
    },
    /// Nothing from outside: only self-consistency can be checked.
    None,
}

/// The verdict on a bundle.
#[derive(Debug, Clone)]
pub struct BundleVerdict {
    pub audit: AuditedHistory,
    /// The signature was checked with a key from outside the bundle.
    pub anchored: bool,
    /// `signing-key`, `seed-share`, `embedded` (self-consistency only) or `none`.
    pub anchor: &'static str,
    /// With a seed-share anchor: whether the bundle's root CA key is the derived one.
    pub root_ca_matches: Option<bool>,
    /// Policy hashes the manifests reference but the bundle lacks.
    pub missing_policies: Vec<String>,
    /// Everything that does not hold, in words. Empty = all checks passed.
    pub problems: Vec<String>,
}

impl BundleVerdict {
    /// All checks passed (anchored or not).
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies a bundle offline.
pub fn verify_bundle(
    bundle: &HistoryBundle,
    anchor: &BundleAnchor,
) -> Result<BundleVerdict, OpsError> {
    let response = bundle.to_response()?;
    let embedded = bundle.embedded_signing_key()?;
    let mut problems = Vec::new();
    let (key, anchor_name, anchored) = match anchor {
        BundleAnchor::SigningKey(k) => (Some(*k), "signing-key", true),
        BundleAnchor::SeedShare { signing_key, .. } => (Some(*signing_key), "seed-share", true),
        BundleAnchor::None => match embedded {
            Some(k) => (Some(k), "embedded", false),
            None => (None, "none", false),
        },
    };
    if anchored
        && let (Some(embedded), Some(key)) = (embedded, key)
        && embedded != key
    {
        problems.push(
            "the bundle's embedded signing key is not the anchor key: the bundle was exported from another Coordinator or altered".into(),
        );
    }
    let root_ca_matches = match anchor {
        BundleAnchor::SeedShare { root_ca, .. } => {
            let matches = cert_public_key(&bundle.root_ca_pem).is_some_and(|k| k == *root_ca);
            if !matches {
                problems.push(
                    "the bundle's root CA key is not the one derived from your seed share".into(),
                );
            }
            Some(matches)
        }
        _ => None,
    };
    let source = match anchor {
        BundleAnchor::SeedShare { .. } => SigningKeySource::SeedShare,
        _ => SigningKeySource::SavedKey,
    };
    let audit = audit_response(response, key.map(|k| (k, source)))?;
    if let Some(failure) = &audit.failure {
        problems.push(failure.clone());
    }
    let present: std::collections::BTreeSet<String> = audit
        .policies
        .iter()
        .map(|p| Digest::of(p).to_hex())
        .collect();
    let mut missing_policies: Vec<String> = audit
        .entries
        .iter()
        .filter_map(|e| e.manifest())
        .flat_map(|m| m.policies().keys().map(|k| k.to_ascii_lowercase()))
        .filter(|h| !present.contains(h))
        .collect();
    missing_policies.sort();
    missing_policies.dedup();
    if !missing_policies.is_empty() {
        problems.push(format!(
            "{} referenced policy document(s) are missing from the bundle",
            missing_policies.len()
        ));
    }
    Ok(BundleVerdict {
        audit,
        anchored,
        anchor: anchor_name,
        root_ca_matches,
        missing_policies,
        problems,
    })
}

/// File names of bundles the TUI exports into the workspace start with this.
pub const BUNDLE_FILE_PREFIX: &str = "history-bundle-gen";

/// Writes `text` to the first free `history-bundle-gen<N>.json`, `…-gen<N>-2.json`, … in
/// `dir` (created with `create_new`: an existing file is never overwritten). Returns the
/// path and the SHA-256 of the bytes written.
pub fn write_new_bundle(
    dir: &Path,
    generation: u64,
    text: &str,
) -> Result<(PathBuf, Digest), OpsError> {
    use std::io::Write as _;
    let ioe = |path: &Path, e: std::io::Error| {
        OpsError::Workspace(WorkspaceError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    };
    fs::create_dir_all(dir).map_err(|e| ioe(dir, e))?;
    for i in 1..1000u32 {
        let name = if i == 1 {
            format!("{BUNDLE_FILE_PREFIX}{generation}.json")
        } else {
            format!("{BUNDLE_FILE_PREFIX}{generation}-{i}.json")
        };
        let path = dir.join(name);
        let mut file = match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(ioe(&path, e)),
        };
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| ioe(&path, e))?;
        return Ok((path, Digest::of(text.as_bytes())));
    }
    Err(invalid(format!(
        "too many {BUNDLE_FILE_PREFIX}{generation}-N.json files in {}; move some away",
        dir.display()
    )))
}

/// The entries of a verdict that do not verify, one line each: generation, manifest hash
/// and why (empty when every entry verifies).
pub fn failing_entries(verdict: &BundleVerdict) -> Vec<String> {
    verdict
        .audit
        .entries
        .iter()
        .filter_map(|e| match &e.chain.status {
            seedward_shared::history::EntryStatus::Unverified(reason) => Some(format!(
                "generation {} (manifest {}…): {reason}",
                e.chain.generation,
                e.chain.manifest_hash.short()
            )),
            _ => None,
        })
        .collect()
}

/// File name of generation `n` (from 1) in `manifests/`.
pub fn verify_manifest_file_name(generation: u64, hash: &Digest) -> String {
    format!("{generation:04}-{}.json", hash.to_hex())
}

/// Writes the verify folder at `dir` (see the module docs). The folder is built next to
/// `dir` and swapped in; a previous `dir` is kept as `<dir>.previous`.
pub fn write_verify_folder(dir: &Path, history: &AuditedHistory) -> Result<PathBuf, OpsError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "verify".into());
    let parent = dir.parent().unwrap_or_else(|| Path::new("."));
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let ioe = |path: &Path, e: std::io::Error| {
        OpsError::Workspace(WorkspaceError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    };
    let _ = fs::remove_dir_all(&tmp);
    let write = |rel: &str, bytes: &[u8]| -> Result<(), OpsError> {
        let path = tmp.join(rel);
        if let Some(p) = path.parent() {
            fs::create_dir_all(p).map_err(|e| ioe(p, e))?;
        }
        fs::write(&path, bytes).map_err(|e| ioe(&path, e))
    };
    let result = (|| {
        fs::create_dir_all(tmp.join("manifests")).map_err(|e| ioe(&tmp, e))?;
        fs::create_dir_all(tmp.join("policies")).map_err(|e| ioe(&tmp, e))?;
        for entry in &history.entries {
            let file =
                verify_manifest_file_name(entry.chain.generation, &entry.chain.manifest_hash);
            write(&format!("manifests/{file}"), &entry.manifest_bytes)?;
        }
        for policy in &history.policies {
            write(&format!("policies/{}", Digest::of(policy).to_hex()), policy)?;
        }
        write("coordinator-root-ca.pem", history.root_ca_cert.as_bytes())?;
        write("mesh-ca.pem", history.mesh_ca_cert.as_bytes())?;
        write(
            "latest-transition",
            format!("{}\n", history.latest.transition_hash().to_hex()).as_bytes(),
        )?;
        write(
            "latest-signature",
            format!("{}\n", hex::encode(history.latest.signature())).as_bytes(),
        )?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dir.exists() {
        let previous = parent.join(format!("{name}.previous"));
        let _ = fs::remove_dir_all(&previous);
        fs::rename(dir, &previous).map_err(|e| ioe(dir, e))?;
    }
    fs::rename(&tmp, dir).map_err(|e| ioe(dir, e))?;
    Ok(dir.to_path_buf())
}
