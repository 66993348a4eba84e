//! The manifest: which workloads may join, which keys own the deployment, and what the
//! platform must measure. Parsed from raw bytes and *kept* as those bytes.
//!
//! # Wire format
//! A UTF-8 JSON object (no byte-order mark) with exactly these four fields, names
//! case-sensitive, each required:
//!
//! ```json
//! {
//!   "Policies": {
//!     "<64 hex: SHA-256 of a policy document>": {
//!       "SANs": ["<DNS name or IP>", ...],
//!       "WorkloadSecretID": "<optional; absent or \"\" = no workload secret>",
//!       "Role": "<optional; absent or \"\" = none, or \"coordinator\">"
//!     }
//!   },
//!   "ReferenceValues": { "<platform>": <anything> },
//!   "WorkloadOwnerPubKeys": ["<hex of a P-384 SubjectPublicKeyInfo DER>", ...],
//!   "SeedshareOwnerPubKeys": ["<hex of a 32-byte X25519 public key>", ...]
//! }
//! ```
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

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use p384::pkcs8::DecodePublicKey;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::history::Digest;

/// Field names of the manifest object.
const TOP_FIELDS: &[&str] = &[
    "Policies",
    "ReferenceValues",
    "WorkloadOwnerPubKeys",
    "SeedshareOwnerPubKeys",
];
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

/// Why bytes are not a well-formed manifest, or why a manifest and its policies do not fit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    #[error("the manifest is empty; generate one with `seedward manifest new`")]
    Empty,
    #[error(
        "the manifest starts with a UTF-8 byte-order mark; save it as UTF-8 without BOM (the hash covers every byte)"
    )]
    ByteOrderMark,
    #[error("the manifest is not valid JSON (line {line}, column {column}): {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "`{path}` appears twice; JSON parsers disagree on which copy counts, so remove one of them"
    )]
    DuplicateKey { path: String },
    #[error("{} must be {expected}, found {found}", at(.path))]
    WrongType {
        path: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{} has no field `{field}`; add it (an empty value is fine)", at(.path))]
    MissingField { path: String, field: &'static str },
    #[error("unknown field `{field}` at `{path}`, expected one of {}{}", list(.expected), hint(.suggestion))]
    UnknownField {
        path: String,
        field: String,
        expected: &'static [&'static str],
        /// A listed field that differs only in letter case.
        suggestion: Option<&'static str>,
    },
    #[error(transparent)]
    Invalid(ValidationErrors),
    #[error(
        "no policy document was supplied for {}; supply the document whose SHA-256 is each listed hash",
        hashes.iter().map(|h| format!("`Policies.{h}`")).collect::<Vec<_>>().join(", ")
    )]
    MissingPolicies { hashes: Vec<String> },
    #[error(
        "{} supplied policy document(s) are not in the manifest's `Policies` (SHA-256 {}); remove them or add their hashes to the manifest",
        hashes.len(), hashes.iter().map(Digest::to_string).collect::<Vec<_>>().join(", ")
    )]
    UnreferencedPolicies { hashes: Vec<Digest> },
}

fn at(path: &str) -> String {
    if path.is_empty() {
        "the manifest".to_owned()
    } else {
        format!("`{path}`")
    }
}

fn list(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn hint(suggestion: &Option<&str>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`? field names are case-sensitive)"),
        None => String::new(),
    }
}

/// What is wrong with an owner key string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyProblem {
    #[error("it is not hexadecimal")]
    NotHex,
    #[error("it is {len} bytes long, expected {expected}")]
    Length { len: usize, expected: usize },
    #[error(
        "it is a low-order X25519 point, which would make every shared secret zero; generate a real key"
    )]
    LowOrder,
    #[error(
        "it does not parse as a P-384 SubjectPublicKeyInfo (wrong curve, algorithm or encoding)"
    )]
    NotP384Spki,
}

/// One problem found by [`Manifest::validate`], with the path of the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationIssue {
    #[error(
        "`{path}`: a policy hash is the SHA-256 of the policy document as 64 hex characters; `{key}` is not"
    )]
    PolicyHash { path: String, key: String },
    #[error(
        "`{path}`: the same policy hash is already listed as `{first}` (hex is case-insensitive)"
    )]
    DuplicatePolicyHash { path: String, first: String },
    #[error(
        "`{path}`: unknown role `{role}`; use \"coordinator\" or leave `Role` out (roles are case-sensitive)"
    )]
    UnknownRole { path: String, role: String },
    #[error("`{path}`: empty SAN; remove it")]
    EmptySan { path: String },
    #[error(
        "`{path}`: not a workload owner key (hex of a P-384 public key's SubjectPublicKeyInfo DER): {problem}"
    )]
    WorkloadOwnerKey { path: String, problem: KeyProblem },
    #[error("`{path}`: not a seed share owner key (hex of a 32-byte X25519 public key): {problem}")]
    SeedshareOwnerKey { path: String, problem: KeyProblem },
    #[error("`{path}`: the same workload owner key is already listed at `{first}`; remove one")]
    DuplicateWorkloadOwner { path: String, first: String },
    #[error("`{path}`: the same seed share owner key is already listed at `{first}`; remove one")]
    DuplicateSeedshareOwner { path: String, first: String },
}

impl ValidationIssue {
    /// The path of the offending field, e.g. `WorkloadOwnerPubKeys[1]`.
    pub fn path(&self) -> &str {
        match self {
            Self::PolicyHash { path, .. }
            | Self::DuplicatePolicyHash { path, .. }
            | Self::UnknownRole { path, .. }
            | Self::EmptySan { path }
            | Self::WorkloadOwnerKey { path, .. }
            | Self::SeedshareOwnerKey { path, .. }
            | Self::DuplicateWorkloadOwner { path, .. }
            | Self::DuplicateSeedshareOwner { path, .. } => path,
        }
    }
}

/// Every problem [`Manifest::validate`] found (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(Vec<ValidationIssue>);

impl ValidationErrors {
    pub fn issues(&self) -> &[ValidationIssue] {
        &self.0
    }

    pub fn into_issues(self) -> Vec<ValidationIssue> {
        self.0
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "the manifest is invalid: {one}"),
            many => {
                write!(f, "the manifest has {} problems:", many.len())?;
                for issue in many {
                    write!(f, "\n- {issue}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ValidationErrors {}

/// Legal but probably unintended properties, for the UI to point out before a set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestWarning {
    #[error("no seed share owner keys: nobody can recover this Coordinator after a restart")]
    NoSeedshareOwners,
    #[error("no workload owner keys: this manifest can never be updated (immutable deployment)")]
    NoWorkloadOwners,
    #[error("no policy has the role \"coordinator\": Coordinator replicas cannot join the mesh")]
    NoCoordinatorPolicy,
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

        let hash = Digest::of(&raw);
        Ok(Self {
            raw,
            hash,
            policies,
            reference_values,
            workload_owner_pub_keys,
            seedshare_owner_pub_keys,
        })
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

    /// Checks every value and reports every problem: `Policies` (in key order), then
    /// `WorkloadOwnerPubKeys`, then `SeedshareOwnerPubKeys` (each in list order).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut issues = Vec::new();
        self.check_policy_section(&mut issues);
        self.check_workload_owners(&mut issues);
        self.check_seedshare_owners(&mut issues);
        into_result(issues, ())
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

    /// Whether both manifests name the same seed share owners, in any order and hex case.
    pub fn same_seedshare_owners(&self, other: &Manifest) -> bool {
        normalized_keys(&self.seedshare_owner_pub_keys)
            == normalized_keys(&other.seedshare_owner_pub_keys)
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
                if san.is_empty() {
                    issues.push(ValidationIssue::EmptySan {
                        path: format!("Policies.{key}.SANs[{i}]"),
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

fn lowercase_policies(m: &Manifest) -> BTreeMap<String, &PolicyEntry> {
    m.policies
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

fn policy_changes(old: &PolicyEntry, new: &PolicyEntry) -> Vec<PolicyFieldChange> {
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
fn set_diff(old: &[String], new: &[String]) -> (Vec<String>, Vec<String>) {
    let lower =
        |v: &[String]| -> Vec<String> { v.iter().map(|s| s.to_ascii_lowercase()).collect() };
    set_diff_exact(&lower(old), &lower(new))
}

fn set_diff_exact(old: &[String], new: &[String]) -> (Vec<String>, Vec<String>) {
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

fn diff_values(pointer: &mut String, old: &Value, new: &Value, out: &mut Vec<ValueChange>) {
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
fn push_token(pointer: &mut String, token: &str) {
    pointer.push('/');
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

fn parse_strict_json(raw: &[u8]) -> Result<Value, ManifestError> {
    if raw.is_empty() {
        return Err(ManifestError::Empty);
    }
    if raw.starts_with(&[0xef, 0xbb, 0xbf]) {
        return Err(ManifestError::ByteOrderMark);
    }
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(raw);
    let parsed = StrictValue {
        path: Path::Root,
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|value| de.end().map(|()| value));
    parsed.map_err(|e| match duplicate.take() {
        Some(path) => ManifestError::DuplicateKey { path },
        None => {
            let (line, column) = (e.line(), e.column());
            let full = e.to_string();
            let suffix = format!(" at line {line} column {column}");
            let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
            ManifestError::Syntax {
                line,
                column,
                message,
            }
        }
    })
}

/// Builds a [`Value`] like `serde_json::Value`'s own `Deserialize`, but rejects duplicate
/// object keys at any depth, recording the path in `duplicate`.
struct StrictValue<'a> {
    path: Path<'a>,
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(value) = seq.next_element_seed(StrictValue {
            path: Path::Index(&self.path, out.len()),
            duplicate: self.duplicate,
        })? {
            out.push(value);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(StrictValue {
                path: Path::Field(&self.path, &key),
                duplicate: self.duplicate,
            })?;
            if out.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some(Path::Field(&self.path, &key).to_string());
                return Err(de::Error::custom("duplicate key"));
            }
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(v: &Value, path: Path<'_>, expected: &'static str) -> ManifestError {
    ManifestError::WrongType {
        path: path.to_string(),
        expected,
        found: type_name(v),
    }
}

fn as_object<'v>(v: &'v Value, path: Path<'_>) -> Result<&'v Map<String, Value>, ManifestError> {
    v.as_object()
        .ok_or_else(|| wrong_type(v, path, "an object"))
}

fn check_fields(
    obj: &Map<String, Value>,
    path: Path<'_>,
    allowed: &'static [&'static str],
) -> Result<(), ManifestError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(field) => Err(ManifestError::UnknownField {
            path: Path::Field(&path, field).to_string(),
            field: field.clone(),
            expected: allowed,
            suggestion: allowed
                .iter()
                .find(|a| a.eq_ignore_ascii_case(field))
                .copied(),
        }),
    }
}

fn required<'v>(
    obj: &'v Map<String, Value>,
    path: Path<'_>,
    field: &'static str,
) -> Result<&'v Value, ManifestError> {
    obj.get(field).ok_or_else(|| ManifestError::MissingField {
        path: path.to_string(),
        field,
    })
}

fn string(v: &Value, path: Path<'_>) -> Result<String, ManifestError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| wrong_type(v, path, "a string"))
}

fn strings(v: &Value, path: Path<'_>) -> Result<Vec<String>, ManifestError> {
    let items = v
        .as_array()
        .ok_or_else(|| wrong_type(v, path, "an array of strings (use [] for none)"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| string(item, Path::Index(&path, i)))
        .collect()
}

fn policy_entry(v: &Value, path: Path<'_>) -> Result<PolicyEntry, ManifestError> {
    let obj = as_object(v, path)?;
    check_fields(obj, path, POLICY_FIELDS)?;
    let sans = strings(required(obj, path, "SANs")?, Path::Field(&path, "SANs"))?;
    let workload_secret_id = obj
        .get("WorkloadSecretID")
        .map(|v| string(v, Path::Field(&path, "WorkloadSecretID")))
        .transpose()?
        .filter(|id| !id.is_empty());
    let role = obj
        .get("Role")
        .map(|v| string(v, Path::Field(&path, "Role")))
        .transpose()?
        .map_or(Role::None, |r| Role::from_manifest(&r));
    Ok(PolicyEntry {
        sans,
        workload_secret_id,
        role,
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]
mod tests;
