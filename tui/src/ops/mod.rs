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
//! | [`session`] | threshold recovery: open or join the session, submit, follow, cancel |
//! | [`update`] | signed manifest updates, offline workload secrets |

mod audit;
mod connect;
mod recovery;
mod session;
mod setup;
mod update;

pub use audit::*;
pub use connect::*;
pub use recovery::*;
pub use session::*;
pub use setup::*;
pub use update::*;

use crate::client::{ClientError, Reason, error_chain, printable};
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
    /// The seed was sealed and sent, and then the recovery failed.
    #[error("{}", sent_but_failed(.cause, *.attested))]
    SentButFailed {
        cause: Box<OpsError>,
        attested: bool,
    },
    /// Development evidence and no acknowledgement: nothing was sent.
    #[error(
        "the Coordinator is UNATTESTED (evidence kind none): nothing proves that the process at this address is your Coordinator, or what it runs. {action} was not sent. If this is a development setup, acknowledge it explicitly (--allow-unattested, or type the word in the console)"
    )]
    Unattested { action: String },
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
        // Everything the server wrote is shown without control characters.
        let text = printable(status.message());
        let message = if reason.is_some() {
            text
        } else if text.contains("grpc-status header missing") {
            // An HTTP server, not a gRPC one, answered (a wrong port, a proxy's error page).
            format!(
                "the server at this address is not a Seedward Coordinator (it answered plain HTTP: {}); check the address and port",
                text.rsplit("mapped from ").next().unwrap_or(&text)
            )
        } else if status.code() == tonic::Code::Unavailable || status.code() == tonic::Code::Unknown
        {
            format!(
                "the Coordinator is unreachable: {}",
                printable(&error_chain(&status))
            )
        } else {
            text
        };
        OpsError::Refused {
            code: status.code(),
            reason,
            message,
        }
    }
}

fn sent_but_failed(cause: &OpsError, attested: bool) -> String {
    let exposure = if attested {
        "It was sealed to a one-time key of a Coordinator whose TEE evidence verified, so it went to that Coordinator only."
    } else {
        "It was sealed to a key that only UNATTESTED evidence vouched for: if that process was not your Coordinator (an impostor with a copy of the public history), THE SEED HAS LEFT. Treat it as exposed: set up a new deployment with a new seed, move the data and workload secrets over, and retire this one."
    };
    format!("your seed was sent, but the recovery failed: {cause}. {exposure}")
}
