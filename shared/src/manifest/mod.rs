//! The manifest: which workloads may join, which keys own the deployment, and what the
//! platform must measure. Parsed from raw bytes and *kept* as those bytes.
//!
//! # Wire format
//! A UTF-8 JSON object (no byte-order mark) with these fields, names case-sensitive; the
//! first four are required, `SeedshareOwnerThreshold` is optional:
//!
//! ```json
//! {
//!   "Policies": {
//!     "<64 hex: SHA-256 of a policy document>": {
//!       "SANs": ["<DNS name, IP address or URI>", ...],
//!       "WorkloadSecretID": "<optional; absent or \"\" = no workload secret>",
//!       "Role": "<optional; absent or \"\" = none, or \"coordinator\">"
//!     }
//!   },
//!   "ReferenceValues": { "<platform>": <anything> },
//!   "WorkloadOwnerPubKeys": ["<hex of a P-384 SubjectPublicKeyInfo DER>", ...],
//!   "SeedshareOwnerPubKeys": ["<hex of a 32-byte X25519 public key>", ...],
//!   "SeedshareOwnerThreshold": <optional integer k, 1 ≤ k ≤ number of seed share owners>
//! }
//! ```
//!
//! `SeedshareOwnerThreshold` absent means 1: every owner holds the whole seed (the format and
//! behaviour of a manifest without the field). With k ≥ 2 the first set splits seed ‖ salt
//! into one Shamir share per owner, any k of which recover it (docs/FORMATS.md, "Threshold
//! seed shares"). It cannot change in a later manifest, like the owners themselves.
//!
//! The **manifest hash** is SHA-256 of the exact bytes received ([`Manifest::hash`]); nothing
//! is canonicalized or re-serialized, so two manifests that differ only in whitespace or key
//! order are different manifests. Hex is read in either case; Seedward writes lowercase.
//!
//! # Invariants
//! - [`Manifest::raw`] is byte for byte what [`Manifest::parse`] was given, and
//!   [`Manifest::hash`] is its SHA-256.
//! - A parsed manifest is *well-formed*: valid JSON, no duplicate key at any depth (which JSON
//!   parsers resolve differently, so a Coordinator and a client could read different
//!   manifests from the same bytes), no unknown or missing field, every field of its type.
//!   Whether its *values* are acceptable is [`Manifest::validate`]'s question, which reports
//!   every problem at once, each with its field path.
//!
//! # Roles
//! [`Role`] is `""`/absent ([`Role::None`]: an ordinary workload) or `"coordinator"`
//! ([`Role::Coordinator`]: the policy a Coordinator replica runs under, which later peer
//! recovery will authorize). Roles are case-sensitive. Any other string parses as
//! [`Role::Unrecognized`] so that validation can report it with its path alongside every
//! other problem; it never validates. Contrast's `node-installer` role is not accepted.

mod diff;
mod error;
mod parse;
mod san;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use p384::pkcs8::DecodePublicKey;
use serde_json::{Map, Value};

use crate::history::Digest;
pub use diff::{ManifestDiff, PolicyChange, PolicyFieldChange, ValueChange};
pub use error::{KeyProblem, ManifestError, ManifestWarning, ValidationErrors, ValidationIssue};
use parse::{as_object, check_fields, parse_strict_json, policy_entry, required, strings};
pub use san::{MAX_DNS_LEN, MAX_LABEL_LEN, MAX_URI_LEN, SanKind, check_san};

/// Field names of the manifest object.
const TOP_FIELDS: &[&str] = &[
    "Policies",
    "ReferenceValues",
    "WorkloadOwnerPubKeys",
    "SeedshareOwnerPubKeys",
    "SeedshareOwnerThreshold",
];
/// The largest number of owners a threshold manifest may have: Shamir shares over GF(2^8)
/// have indices 1..=255.
pub const MAX_THRESHOLD_OWNERS: usize = 255;
/// Field names of a policy entry.
const POLICY_FIELDS: &[&str] = &["SANs", "WorkloadSecretID", "Role"];

/// A parsed manifest that keeps its raw bytes.
#[derive(Clone)]
pub struct Manifest {
    raw: Vec<u8>,
    hash: Digest,
    policies: BTreeMap<String, PolicyEntry>,
    reference_values: Map<String, Value>,
    workload_owner_pub_keys: Vec<String>,
    seedshare_owner_pub_keys: Vec<String>,
    /// `SeedshareOwnerThreshold` as written (`None`: absent).
    seedshare_owner_threshold: Option<u64>,
}

/// What a policy grants the workload that runs under it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyEntry {
    /// Subject alternative names of the workload's mesh certificate.
    #[serde(rename = "SANs")]
    pub sans: Vec<String>,
    /// `None` when the field is absent or `""`: the workload gets no workload secret.
    #[serde(rename = "WorkloadSecretID")]
    pub workload_secret_id: Option<String>,
    #[serde(rename = "Role")]
    pub role: Role,
}

/// The role of a policy. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Role {
    /// `""` or absent: an ordinary workload.
    #[default]
    None,
    /// `"coordinator"`.
    Coordinator,
    /// Anything else, kept verbatim so that [`Manifest::validate`] can name it.
    Unrecognized(String),
}

impl Role {
    fn from_manifest(s: &str) -> Self {
        match s {
            "" => Self::None,
            "coordinator" => Self::Coordinator,
            other => Self::Unrecognized(other.to_owned()),
        }
    }

    /// The string as written in a manifest (`""` for [`Role::None`]).
    pub fn as_str(&self) -> &str {
        match self {
            Self::None => "",
            Self::Coordinator => "coordinator",
            Self::Unrecognized(s) => s,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("(none)"),
            other => f.write_str(other.as_str()),
        }
    }
}

impl serde::Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A manifest path, built on the stack while walking the JSON.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Field(Path::Root, name) => f.write_str(name),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

impl Manifest {
    /// Parses `raw` and keeps it. Checks well-formedness only; see [`validate`](Self::validate).
    pub fn parse(raw: Vec<u8>) -> Result<Self, ManifestError> {
        let value = parse_strict_json(&raw)?;
        let root = as_object(&value, Path::Root)?;
        check_fields(root, Path::Root, TOP_FIELDS)?;

        let policies_path = Path::Field(&Path::Root, "Policies");
        let mut policies = BTreeMap::new();
        for (hash, entry) in as_object(required(root, Path::Root, "Policies")?, policies_path)? {
            let path = Path::Field(&policies_path, hash);
            policies.insert(hash.clone(), policy_entry(entry, path)?);
        }

        let reference_values = as_object(
            required(root, Path::Root, "ReferenceValues")?,
            Path::Field(&Path::Root, "ReferenceValues"),
        )?
        .clone();
        let workload_owner_pub_keys = strings(
            required(root, Path::Root, "WorkloadOwnerPubKeys")?,
            Path::Field(&Path::Root, "WorkloadOwnerPubKeys"),
        )?;
        let seedshare_owner_pub_keys = strings(
            required(root, Path::Root, "SeedshareOwnerPubKeys")?,
            Path::Field(&Path::Root, "SeedshareOwnerPubKeys"),
        )?;

        let seedshare_owner_threshold = root
            .get("SeedshareOwnerThreshold")
            .map(|v| {
                v.as_u64().ok_or_else(|| {
                    parse::wrong_type(
                        v,
                        Path::Field(&Path::Root, "SeedshareOwnerThreshold"),
                        "a whole number (leave the field out for 1)",
                    )
                })
            })
            .transpose()?;

        let hash = Digest::of(&raw);
        Ok(Self {
            raw,
            hash,
            policies,
            reference_values,
            workload_owner_pub_keys,
            seedshare_owner_pub_keys,
            seedshare_owner_threshold,
        })
    }

    /// The same manifest with `SeedshareOwnerThreshold` set to `k` (replacing a value already
    /// written, else after the last field), pretty-printed like [`template`](Self::template),
    /// parsed and validated: a `k` outside 1..=owners is refused with the field-named error
    /// of [`validate`](Self::validate). The bytes, and so the hash, are new; the caller
    /// saves them where the user can see them.
    pub fn with_seedshare_owner_threshold(&self, k: u64) -> Result<Manifest, ManifestError> {
        let mut value = parse_strict_json(&self.raw)?;
        match value.as_object_mut() {
            Some(root) => {
                root.insert("SeedshareOwnerThreshold".to_owned(), Value::from(k));
            }
            // `self` was parsed, so the root is an object; name the problem all the same.
            None => {
                as_object(&value, Path::Root)?;
            }
        }
        Self::parse_and_validate(format!("{value:#}\n").into_bytes())
    }

    /// [`parse`](Self::parse), then [`validate`](Self::validate).
    pub fn parse_and_validate(raw: Vec<u8>) -> Result<Self, ManifestError> {
        let manifest = Self::parse(raw)?;
        manifest.validate().map_err(ManifestError::Invalid)?;
        Ok(manifest)
    }

    /// Exactly the bytes given to [`parse`](Self::parse).
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    pub fn into_raw(self) -> Vec<u8> {
        self.raw
    }

    /// SHA-256 of [`raw`](Self::raw).
    pub fn hash(&self) -> Digest {
        self.hash
    }

    /// Policy hash (as written) → entry.
    pub fn policies(&self) -> &BTreeMap<String, PolicyEntry> {
        &self.policies
    }

    pub fn reference_values(&self) -> &Map<String, Value> {
        &self.reference_values
    }

    /// As written.
    pub fn workload_owner_pub_keys(&self) -> &[String] {
        &self.workload_owner_pub_keys
    }

    /// As written.
    pub fn seedshare_owner_pub_keys(&self) -> &[String] {
        &self.seedshare_owner_pub_keys
    }

    /// How many seed share owners it takes to recover: `SeedshareOwnerThreshold`, 1 when
    /// absent. Only meaningful on a validated manifest (then `1 ≤ k ≤ owners`).
    pub fn seedshare_owner_threshold(&self) -> usize {
        self.seedshare_owner_threshold
            .map_or(1, |k| usize::try_from(k).unwrap_or(usize::MAX))
    }

    /// Whether the manifest writes `SeedshareOwnerThreshold` at all.
    pub fn has_seedshare_owner_threshold(&self) -> bool {
        self.seedshare_owner_threshold.is_some()
    }

    /// Checks every value and reports every problem: `Policies` (in key order), then
    /// `WorkloadOwnerPubKeys`, then `SeedshareOwnerPubKeys` (each in list order), then
    /// `SeedshareOwnerThreshold`.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut issues = Vec::new();
        self.check_policy_section(&mut issues);
        self.check_workload_owners(&mut issues);
        self.check_seedshare_owners(&mut issues);
        self.check_threshold(&mut issues);
        if let Err(errors) = self.reference() {
            issues.extend(
                errors
                    .issues()
                    .iter()
                    .map(|i| ValidationIssue::ReferenceValue {
                        path: i.path.clone(),
                        problem: i.problem.clone(),
                    }),
            );
        }
        into_result(issues, ())
    }

    /// The `ReferenceValues`, parsed strictly (docs/ATTESTATION.md).
    pub fn reference(
        &self,
    ) -> Result<crate::reference::ReferenceValues, crate::reference::ReferenceErrors> {
        crate::reference::ReferenceValues::parse(&self.reference_values)
    }

    /// The hash of the policy whose `Role` is `coordinator`: what a Coordinator's evidence
    /// must carry as HOST_DATA (SNP) or MRCONFIGID (TDX). `None` when there is none, or
    /// more than one (then no single launch policy is meant).
    pub fn coordinator_policy_hash(&self) -> Option<Digest> {
        let mut found = self
            .policies
            .iter()
            .filter(|(_, entry)| entry.role == Role::Coordinator)
            .filter_map(|(key, _)| key.parse::<Digest>().ok());
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }

    /// Properties that are legal but usually a mistake.
    pub fn warnings(&self) -> Vec<ManifestWarning> {
        let mut warnings = Vec::new();
        if self.seedshare_owner_pub_keys.is_empty() {
            warnings.push(ManifestWarning::NoSeedshareOwners);
        }
        if self.workload_owner_pub_keys.is_empty() {
            warnings.push(ManifestWarning::NoWorkloadOwners);
        }
        if !self
            .policies
            .values()
            .any(|entry| entry.role == Role::Coordinator)
        {
            warnings.push(ManifestWarning::NoCoordinatorPolicy);
        }
        warnings
    }

    /// The policy hashes, sorted. Fails with the `Policies` section's problems.
    /// The policy hashes a **stored** manifest references (the keys of its `Policies`
    /// object), sorted, without parsing or validating the rest of it: for re-reading a
    /// history whose manifests were validated when they were set and whose bytes are
    /// checked against their hashes (about a third of the cost of [`Manifest::parse`] plus
    /// [`Manifest::policy_hashes`], docs/PERFORMANCE.md). A key that is not 64 hex digits,
    /// or a document without a `Policies` object, is an error that says so.
    pub fn referenced_policy_hashes(raw: &[u8]) -> Result<Vec<Digest>, String> {
        #[derive(serde::Deserialize)]
        struct PoliciesOnly {
            #[serde(rename = "Policies")]
            policies: BTreeMap<String, serde::de::IgnoredAny>,
        }
        let parsed: PoliciesOnly = serde_json::from_slice(raw)
            .map_err(|e| format!("its Policies object does not parse: {e}"))?;
        let mut hashes = parsed
            .policies
            .keys()
            .map(|key| {
                key.parse::<Digest>()
                    .map_err(|_| format!("Policies.{key} is not a SHA-256 hash in hex"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        hashes.sort();
        hashes.dedup();
        Ok(hashes)
    }

    pub fn policy_hashes(&self) -> Result<Vec<Digest>, ValidationErrors> {
        let mut issues = Vec::new();
        let mut hashes = self.check_policy_section(&mut issues);
        hashes.sort();
        into_result(issues, hashes)
    }

    /// The decoded workload owner keys, in manifest order. Fails with that section's problems.
    pub fn workload_owner_keys(&self) -> Result<Vec<p384::PublicKey>, ValidationErrors> {
        let mut issues = Vec::new();
        let keys = self.check_workload_owners(&mut issues);
        into_result(issues, keys)
    }

    /// The decoded seed share owner keys, in manifest order. Fails with that section's problems.
    pub fn seedshare_owner_keys(&self) -> Result<Vec<[u8; 32]>, ValidationErrors> {
        let mut issues = Vec::new();
        let keys = self.check_seedshare_owners(&mut issues);
        into_result(issues, keys)
    }

    /// Checks that the supplied policy documents are exactly the manifest's policies: every
    /// `Policies` key is the SHA-256 of a supplied document ([`ManifestError::MissingPolicies`]
    /// otherwise, listing each missing hash) and every supplied document is referenced
    /// ([`ManifestError::UnreferencedPolicies`]: the history must not collect documents that
    /// no manifest names). Supplying the same document twice is harmless.
    pub fn check_policies<P: AsRef<[u8]>>(&self, policies: &[P]) -> Result<(), ManifestError> {
        let mut issues = Vec::new();
        let wanted: BTreeMap<Digest, &str> = self
            .check_policy_section_keys(&mut issues)
            .into_iter()
            .collect();
        into_result(issues, ()).map_err(ManifestError::Invalid)?;
        let supplied: BTreeSet<Digest> = policies.iter().map(|p| Digest::of(p.as_ref())).collect();
        let missing: Vec<String> = wanted
            .iter()
            .filter(|(hash, _)| !supplied.contains(hash))
            .map(|(_, key)| (*key).to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(ManifestError::MissingPolicies { hashes: missing });
        }
        let extra: Vec<Digest> = supplied
            .into_iter()
            .filter(|hash| !wanted.contains_key(hash))
            .collect();
        if !extra.is_empty() {
            return Err(ManifestError::UnreferencedPolicies { hashes: extra });
        }
        Ok(())
    }

    /// Whether both manifests name the same seed share owners, in any order and hex case,
    /// with the same threshold (absent and 1 are the same): the shares handed out at the
    /// first set stay valid only then.
    pub fn same_seedshare_owners(&self, other: &Manifest) -> bool {
        normalized_keys(&self.seedshare_owner_pub_keys)
            == normalized_keys(&other.seedshare_owner_pub_keys)
            && self.seedshare_owner_threshold() == other.seedshare_owner_threshold()
    }

    /// An example manifest for the given owners (hex as given), pretty-printed, with one
    /// Coordinator policy and one workload policy that has a workload secret, and the two
    /// example policy documents whose hashes it lists.
    pub fn template(seedshare_owner_hex: &[String], workload_owner_hex: &[String]) -> Template {
        let coordinator = Digest::of(EXAMPLE_COORDINATOR_POLICY);
        let workload = Digest::of(EXAMPLE_WORKLOAD_POLICY);
        let value = serde_json::json!({
            "Policies": {
                coordinator.to_string(): {
                    "SANs": ["coordinator", "coordinator.default.svc.cluster.local"],
                    "Role": "coordinator"
                },
                workload.to_string(): {
                    "SANs": ["web", "web.default.svc.cluster.local"],
                    "WorkloadSecretID": "apps/v1/Deployment/default/web"
                }
            },
            "ReferenceValues": {},
            "WorkloadOwnerPubKeys": workload_owner_hex,
            "SeedshareOwnerPubKeys": seedshare_owner_hex,
        });
        Template {
            manifest: format!("{value:#}\n").into_bytes(),
            policies: vec![
                EXAMPLE_COORDINATOR_POLICY.to_vec(),
                EXAMPLE_WORKLOAD_POLICY.to_vec(),
            ],
        }
    }

    /// Valid `Policies` hashes with the key as written; records problems of the keys only.
    fn check_policy_section_keys<'s>(
        &'s self,
        issues: &mut Vec<ValidationIssue>,
    ) -> Vec<(Digest, &'s str)> {
        let mut seen: BTreeMap<Digest, &str> = BTreeMap::new();
        for key in self.policies.keys() {
            let path = format!("Policies.{key}");
            match key.parse::<Digest>() {
                Err(_) => issues.push(ValidationIssue::PolicyHash {
                    path,
                    key: key.clone(),
                }),
                Ok(hash) => {
                    if let Some(first) = seen.get(&hash) {
                        issues.push(ValidationIssue::DuplicatePolicyHash {
                            path,
                            first: format!("Policies.{first}"),
                        });
                    } else {
                        seen.insert(hash, key);
                    }
                }
            }
        }
        seen.into_iter().collect()
    }

    fn check_policy_section(&self, issues: &mut Vec<ValidationIssue>) -> Vec<Digest> {
        let hashes = self.check_policy_section_keys(issues);
        for (key, entry) in &self.policies {
            for (i, san) in entry.sans.iter().enumerate() {
                let path = format!("Policies.{key}.SANs[{i}]");
                if san.is_empty() {
                    issues.push(ValidationIssue::EmptySan { path });
                } else if let Err(problem) = check_san(san) {
                    issues.push(ValidationIssue::BadSan {
                        path,
                        san: san::quoted(san),
                        problem,
                    });
                }
            }
            if let Role::Unrecognized(role) = &entry.role {
                issues.push(ValidationIssue::UnknownRole {
                    path: format!("Policies.{key}.Role"),
                    role: role.clone(),
                });
            }
        }
        hashes.into_iter().map(|(hash, _)| hash).collect()
    }

    fn check_threshold(&self, issues: &mut Vec<ValidationIssue>) {
        let Some(k) = self.seedshare_owner_threshold else {
            return;
        };
        let owners = self.seedshare_owner_pub_keys.len();
        let path = "SeedshareOwnerThreshold".to_owned();
        if k == 0 || k > owners as u64 {
            issues.push(ValidationIssue::SeedshareOwnerThreshold {
                path,
                threshold: k,
                owners,
            });
        } else if k > 1 && owners > MAX_THRESHOLD_OWNERS {
            issues.push(ValidationIssue::TooManyThresholdOwners { path, owners });
        }
    }

    fn check_workload_owners(&self, issues: &mut Vec<ValidationIssue>) -> Vec<p384::PublicKey> {
        let mut keys = Vec::new();
        let mut seen: Vec<(Vec<u8>, String)> = Vec::new();
        for (i, key_hex) in self.workload_owner_pub_keys.iter().enumerate() {
            let path = format!("WorkloadOwnerPubKeys[{i}]");
            let parsed = hex::decode(key_hex)
                .map_err(|_| KeyProblem::NotHex)
                .and_then(|der| {
                    p384::PublicKey::from_public_key_der(&der).map_err(|_| KeyProblem::NotP384Spki)
                });
            match parsed {
                Err(problem) => issues.push(ValidationIssue::WorkloadOwnerKey { path, problem }),
                Ok(key) => {
                    // Compare points, not encodings: a compressed and an uncompressed SPKI of
                    // the same key are the same owner.
                    let point = p384::EncodedPoint::from(&key).as_bytes().to_vec();
                    if let Some((_, first)) = seen.iter().find(|(p, _)| *p == point) {
                        issues.push(ValidationIssue::DuplicateWorkloadOwner {
                            path,
                            first: first.clone(),
                        });
                    } else {
                        seen.push((point, path));
                        keys.push(key);
                    }
                }
            }
        }
        keys
    }

    fn check_seedshare_owners(&self, issues: &mut Vec<ValidationIssue>) -> Vec<[u8; 32]> {
        let mut keys: Vec<[u8; 32]> = Vec::new();
        let mut paths: Vec<String> = Vec::new();
        for (i, key_hex) in self.seedshare_owner_pub_keys.iter().enumerate() {
            let path = format!("SeedshareOwnerPubKeys[{i}]");
            match decode_x25519(key_hex) {
                Err(problem) => issues.push(ValidationIssue::SeedshareOwnerKey { path, problem }),
                Ok(key) => {
                    if let Some(j) = keys.iter().position(|k| *k == key) {
                        issues.push(ValidationIssue::DuplicateSeedshareOwner {
                            path,
                            first: paths[j].clone(),
                        });
                    } else {
                        keys.push(key);
                        paths.push(path);
                    }
                }
            }
        }
        keys
    }
}

fn into_result<T>(issues: Vec<ValidationIssue>, ok: T) -> Result<T, ValidationErrors> {
    if issues.is_empty() {
        Ok(ok)
    } else {
        Err(ValidationErrors(issues))
    }
}

fn decode_x25519(key_hex: &str) -> Result<[u8; 32], KeyProblem> {
    let bytes = hex::decode(key_hex).map_err(|_| KeyProblem::NotHex)?;
    let key: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| KeyProblem::Length {
            len: bytes.len(),
            expected: 32,
        })?;
    // A low-order point times any clamped scalar is the identity: the shared secret is all
    // zeros, and HPKE would refuse to encrypt to it later. Catch it here, with a path.
    let probe = x25519_dalek::StaticSecret::from([0x5a; 32]);
    if !probe
        .diffie_hellman(&x25519_dalek::PublicKey::from(key))
        .was_contributory()
    {
        return Err(KeyProblem::LowOrder);
    }
    Ok(key)
}

fn normalized_keys(keys: &[String]) -> Vec<String> {
    let mut out: Vec<String> = keys.iter().map(|k| k.to_ascii_lowercase()).collect();
    out.sort();
    out
}

impl fmt::Debug for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manifest")
            .field("hash", &self.hash)
            .field("len", &self.raw.len())
            .field("policies", &self.policies)
            .field("workload_owner_pub_keys", &self.workload_owner_pub_keys)
            .field("seedshare_owner_pub_keys", &self.seedshare_owner_pub_keys)
            .finish_non_exhaustive()
    }
}

/// Manifests are equal when their bytes are.
impl PartialEq for Manifest {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for Manifest {}

/// An example manifest and the policy documents it references. See [`Manifest::template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub manifest: Vec<u8>,
    pub policies: Vec<Vec<u8>>,
}

const EXAMPLE_COORDINATOR_POLICY: &[u8] = b"# Seedward example policy document: the Coordinator.
# Seedward treats policies as opaque bytes: the manifest lists each by its SHA-256.
# Replace this file with your platform's policy (for example an initdata TOML document)
# and put its SHA-256 into the manifest's Policies in place of this one's.
role = \"coordinator\"
";

const EXAMPLE_WORKLOAD_POLICY: &[u8] = b"# Seedward example policy document: a workload called web.
# Seedward treats policies as opaque bytes: the manifest lists each by its SHA-256.
# Replace this file with your platform's policy (for example an initdata TOML document)
# and put its SHA-256 into the manifest's Policies in place of this one's.
workload = \"web\"
";

// ---------------------------------------------------------------------------------------------
// Semantic diff

// ---------------------------------------------------------------------------------------------
// Parsing

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]
mod tests;
