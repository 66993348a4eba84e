//! What is wrong with a `ReferenceValues` object, field by field.

use std::fmt;

use super::TdxTcbStatus;

/// What is wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceProblem {
    #[error("expected {expected}, found {found}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    #[error("missing field `{field}`")]
    MissingField { field: &'static str },
    #[error("unknown field `{field}`, expected {}{}", expected_list(.expected), case_hint(.suggestion))]
    UnknownField {
        field: String,
        expected: &'static [&'static str],
        /// An accepted field that differs only in letter case.
        suggestion: Option<&'static str>,
    },
    #[error("expected {len} bytes as {} hex characters, found {found}", len * 2)]
    Hex { len: usize, found: String },
    #[error("expected an integer {min}–{max}, found {found}")]
    Integer { min: u64, max: u64, found: String },
    #[error(
        "expected \"Milan\", \"Genoa\" or \"Turin\", found {found:?} (names are case-sensitive)"
    )]
    UnknownProduct { found: String },
    #[error("unknown TCB status {found:?}, expected one of {}", status_list())]
    UnknownTcbStatus { found: String },
    #[error("\"Revoked\" can never be allowed: a revoked platform's keys are compromised")]
    RevokedAllowed,
    #[error("expected exactly {expected} entries, found {found}")]
    Count { expected: usize, found: usize },
    #[error(
        "empty list: no TCB status would ever be accepted; leave the field out for [\"UpToDate\"]"
    )]
    NoTcbStatus,
}

pub(super) fn expected_list(fields: &[&str]) -> String {
    if fields.is_empty() {
        "no fields here".to_owned()
    } else {
        fields
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub(super) fn case_hint(suggestion: &Option<&str>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`? field names are case-sensitive)"),
        None => String::new(),
    }
}

pub(super) fn status_list() -> String {
    TdxTcbStatus::ALL
        .iter()
        .filter(|s| **s != TdxTcbStatus::Revoked)
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One problem, with the path of the field (`ReferenceValues.snp[0].MinimumTCB.SNPVersion`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct ReferenceIssue {
    pub path: String,
    pub problem: ReferenceProblem,
}

/// Every problem [`ReferenceValues::parse`] found (never empty), in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceErrors(pub(super) Vec<ReferenceIssue>);

impl ReferenceErrors {
    pub fn issues(&self) -> &[ReferenceIssue] {
        &self.0
    }

    pub fn into_issues(self) -> Vec<ReferenceIssue> {
        self.0
    }
}

impl fmt::Display for ReferenceErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "invalid reference values: {one}"),
            many => {
                write!(f, "the reference values have {} problems:", many.len())?;
                for issue in many {
                    write!(f, "\n- {issue}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ReferenceErrors {}
