//! Why bytes are not a manifest, or a manifest not a valid one: errors, validation issues
//! and warnings.

use std::fmt;

use crate::history::Digest;

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

pub(super) fn at(path: &str) -> String {
    if path.is_empty() {
        "the manifest".to_owned()
    } else {
        format!("`{path}`")
    }
}

pub(super) fn list(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn hint(suggestion: &Option<&str>) -> String {
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
    /// `san` is quoted, escaped and truncated for the message.
    #[error("`{path}`: {san} is not a DNS name, IP address or URI: {problem}")]
    BadSan {
        path: String,
        san: String,
        problem: String,
    },
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
    #[error(
        "`{path}`: {threshold} is not between 1 and the number of seed share owners ({owners}); \
         set how many owners it takes to recover, or leave the field out for 1"
    )]
    SeedshareOwnerThreshold {
        path: String,
        threshold: u64,
        owners: usize,
    },
    #[error(
        "`{path}`: a threshold above 1 supports at most 255 seed share owners, the manifest lists {owners}; \
         list fewer owners"
    )]
    TooManyThresholdOwners { path: String, owners: usize },
    /// A reference value (docs/ATTESTATION.md, "Reference values").
    #[error("`{path}`: {problem}")]
    ReferenceValue {
        path: String,
        problem: crate::reference::ReferenceProblem,
    },
}

impl ValidationIssue {
    /// The path of the offending field, e.g. `WorkloadOwnerPubKeys[1]`.
    pub fn path(&self) -> &str {
        match self {
            Self::PolicyHash { path, .. }
            | Self::DuplicatePolicyHash { path, .. }
            | Self::UnknownRole { path, .. }
            | Self::EmptySan { path }
            | Self::BadSan { path, .. }
            | Self::WorkloadOwnerKey { path, .. }
            | Self::SeedshareOwnerKey { path, .. }
            | Self::DuplicateWorkloadOwner { path, .. }
            | Self::DuplicateSeedshareOwner { path, .. }
            | Self::SeedshareOwnerThreshold { path, .. }
            | Self::TooManyThresholdOwners { path, .. }
            | Self::ReferenceValue { path, .. } => path,
        }
    }
}

/// Every problem [`Manifest::validate`] found (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub(super) Vec<ValidationIssue>);

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
