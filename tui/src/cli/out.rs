//! Output: human text or one JSON object, colours only on a terminal and never alone.

use std::io::{IsTerminal as _, Write as _};

use serde::Serialize;

use super::CliError;
use super::json::{Envelope, ErrorDetail, Failure};

/// How a command prints.
pub struct Out {
    json: bool,
    color: bool,
}

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

impl Out {
    pub fn new(json: bool, no_color: bool) -> Self {
        Self {
            json,
            color: !no_color && !json && std::io::stdout().is_terminal(),
        }
    }

    pub fn json(&self) -> bool {
        self.json
    }

    fn paint(&self, color: &str, text: &str) -> String {
        if self.color {
            format!("{color}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    /// `✓` (green on a terminal).
    pub fn check(&self) -> String {
        self.paint(GREEN, "✓")
    }

    /// `✗` (red on a terminal).
    pub fn cross(&self) -> String {
        self.paint(RED, "✗")
    }

    /// A whole line in red (an alarm that must not be missed; the text says it in words too).
    pub fn alarm(&self, text: &str) -> String {
        self.paint(RED, text)
    }

    /// `✓` or `✗`.
    pub fn mark(&self, ok: bool) -> String {
        if ok { self.check() } else { self.cross() }
    }

    /// A line of human text on stdout (nothing in JSON mode).
    pub fn line(&self, text: impl AsRef<str>) {
        if !self.json {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{}", text.as_ref());
        }
    }

    /// A warning on stderr, in both modes.
    pub fn warn(&self, text: &str) {
        let colored = !self.json && std::io::stderr().is_terminal() && self.color;
        let prefix = if colored {
            format!("{YELLOW}warning:{RESET}")
        } else {
            "warning:".to_string()
        };
        eprintln!("{prefix} {text}");
    }

    /// The command's JSON object (JSON mode only), one of the types of [`super::json`];
    /// `ok` and `command` come first.
    pub fn object(&self, command: &str, ok: bool, fields: &impl Serialize) {
        if !self.json {
            return;
        }
        let envelope = Envelope {
            ok,
            command,
            fields,
        };
        let mut stdout = std::io::stdout().lock();
        let text = serde_json::to_string_pretty(&envelope).unwrap_or_else(|_| "{}".into());
        let _ = writeln!(stdout, "{text}");
    }

    /// A value printed as it is (JSON mode only): for outputs with their own documented
    /// schema (`evidence verify` prints the verdict).
    pub fn json_value(&self, value: &impl Serialize) {
        if !self.json {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into());
        let _ = writeln!(stdout, "{text}");
    }

    /// Reports a failure and returns its exit code.
    pub fn fail(&self, command: &str, err: &CliError) -> u8 {
        if self.json && !err.reported {
            self.object(
                command,
                false,
                &Failure {
                    error: ErrorDetail {
                        exit_code: err.code,
                        kind: err.kind,
                        reason: err.reason.map(|r| r.as_str()),
                        message: &err.message,
                    },
                },
            );
        }
        let colored = !self.json && std::io::stderr().is_terminal() && self.color;
        let prefix = if colored {
            format!("{RED}error:{RESET}")
        } else {
            "error:".to_string()
        };
        eprintln!("{prefix} {}", err.message);
        err.code
    }
}
