//! The client side of a Seedward Coordinator, for every program that talks to one: the
//! `seedward` console and its subcommands, the workload initializer, the tests.
//!
//! | module | what it holds |
//! |---|---|
//! | [`tls`] | TLS 1.3 with Seedward's trust rules: a Coordinator is a key, not a host name (first use, or a pinned root CA key) |
//! | [`evidence`] | what a Coordinator's evidence proves about this connection (recomputed binding, offline TEE verification) |
//! | [`user`] | the user API client ([`CoordinatorClient`]) that logs every RPC's outcome, never a payload |
//!
//! Refusals are `tonic::Status` values; [`Reason::of`] reads their typed reason.

pub mod evidence;
pub mod tls;
pub mod user;

pub use seedward_proto::Reason;

/// A string from the server made safe for a terminal: control characters (C0, DEL, C1,
/// which carry escape sequences: cursor moves, window titles, OSC 52 clipboard writes) and
/// Unicode bidirectional overrides are replaced by `�`; tabs and line breaks by a space.
/// Everything a hostile Coordinator sends (version, error messages) goes through this
/// before it is printed or drawn.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => ' ',
            c if c.is_control() => '\u{fffd}',
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' => {
                '\u{fffd}'
            }
            c => c,
        })
        .collect()
}

pub use tls::{ClientError, Connection, Trust, connect, error_chain};
pub use user::{CoordinatorClient, MAX_RESPONSE_BYTES};

#[cfg(test)]
mod tests {
    #[test]
    fn escape_sequences_never_reach_the_terminal() {
        let hostile = "1.0\x1b[2K\r\x1b]0;owned\x07\x1b]52;c;ZXZpbA==\x07\u{9b}31m \u{202e}txt.exe";
        let shown = super::printable(hostile);
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert!(!shown.contains('\u{202e}'));
        assert!(shown.starts_with("1.0"));
    }
}
