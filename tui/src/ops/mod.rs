//! The operations layer: every operator action, as plain async functions over a connected
//! client and a workspace. The TUI runs them as effects off the UI task; the subcommands run
//! them directly. Nothing here prints or draws.
//!
//! Each flow is split into the steps the UI shows (e.g. recovery: decrypt → pre-flight →
//! confirm → send → re-verify), and each step returns a typed report or an [`OpsError`]
//! whose message says what happened and what to do next. No error carries secret bytes.

//!
//! | module | flow |
//! |---|---|
//! | [`connect`] | connecting with the workspace's pin, status, evidence appraisal |
//! | [`setup`] | first-time setup and the share drill |
//! | [`audit`] | history audit |
//! | [`recovery`] | decrypt → pre-flight → send → re-verify |
//! | [`update`] | signed manifest updates, offline workload secrets |

mod audit;
mod connect;
mod recovery;
mod setup;
mod update;

pub use audit::*;
pub use connect::*;
pub use recovery::*;
pub use setup::*;
pub use update::*;

use crate::client::{ClientError, Reason, error_chain};
use crate::workspace::WorkspaceError;

/// What went wrong in an operation, phrased for the operator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpsError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    /// The Coordinator refused; `reason` is its machine-readable reason.
    #[error("the Coordinator refused: {message}")]
    Refused {
        code: tonic::Code,
        reason: Option<Reason>,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
    /// Verification failed: the history, a signature, a key or a certificate does not check out.
    #[error("verification failed: {0}")]
    Verification(String),
}

impl OpsError {
    /// The Coordinator's reason (`STALE_LATEST`, `WRONG_SEED`, …), if it refused.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            OpsError::Refused { reason, .. } => *reason,
            _ => None,
        }
    }

    pub fn is_unreachable(&self) -> bool {
        matches!(self, OpsError::Client(ClientError::Unreachable { .. }))
            || matches!(
                self,
                OpsError::Refused {
                    code: tonic::Code::Unavailable,
                    reason: None,
                    ..
                }
            )
    }
}

impl From<tonic::Status> for OpsError {
    fn from(status: tonic::Status) -> Self {
        let reason = Reason::of(&status);
        let message = if reason.is_some() {
            status.message().to_string()
        } else if status.code() == tonic::Code::Unavailable || status.code() == tonic::Code::Unknown
        {
            format!("the Coordinator is unreachable: {}", error_chain(&status))
        } else {
            status.message().to_string()
        };
        OpsError::Refused {
            code: status.code(),
            reason,
            message,
        }
    }
}
