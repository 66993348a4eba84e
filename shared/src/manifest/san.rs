//! What a policy entry's `SANs` may hold: a DNS name, an IP address, or an absolute URI.
//!
//! The Coordinator issues each SAN into a workload's mesh certificate, so a SAN that no
//! X.509 verifier would match (a NUL byte, `***`, 100,000 characters) is refused when the
//! manifest is set, with its path, rather than issued.
//!
//! | kind | accepted when |
//! |---|---|
//! | IP address | it parses as an IPv4 dotted quad or an IPv6 literal (no brackets, no zone) |
//! | URI | it contains `://`: a scheme (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`), `://`, and a non-empty rest of printable ASCII from RFC 3986's character set; at most [`MAX_URI_LEN`] characters |
//! | DNS name | RFC 1123 labels (`A–Z a–z 0–9 -`, 1–63 characters, no leading or trailing `-`) joined by `.`, at most [`MAX_DNS_LEN`] characters, the last label not all digits; optionally `*.` in front (a wildcard is only ever the whole left-most label) |
//!
//! The classification is the one the Coordinator uses to issue the certificate: an IP if it
//! parses as one, else a URI if it contains `://`, else a DNS name.

use std::net::IpAddr;

/// Longest accepted DNS name (RFC 1035, without the trailing dot).
pub const MAX_DNS_LEN: usize = 253;
/// Longest accepted DNS label.
pub const MAX_LABEL_LEN: usize = 63;
/// Longest accepted URI SAN.
pub const MAX_URI_LEN: usize = 2048;

/// What kind of SAN a string is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SanKind {
    Dns,
    Ip,
    Uri,
}

/// Classifies and checks one SAN; the error says what is wrong with it.
pub fn check_san(san: &str) -> Result<SanKind, String> {
    if san.parse::<IpAddr>().is_ok() {
        return Ok(SanKind::Ip);
    }
    if let Some(bad) = san.chars().find(|c| c.is_control()) {
        return Err(format!("it contains the control character {bad:?}"));
    }
    if san.contains("://") {
        check_uri(san)?;
        return Ok(SanKind::Uri);
    }
    check_dns(san)?;
    Ok(SanKind::Dns)
}

fn check_uri(san: &str) -> Result<(), String> {
    if san.len() > MAX_URI_LEN {
        return Err(format!(
            "a URI SAN is at most {MAX_URI_LEN} characters; this one has {}",
            san.len()
        ));
    }
    let (scheme, rest) = san.split_once("://").unwrap_or((san, ""));
    let mut chars = scheme.chars();
    let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(format!(
            "the URI scheme {scheme:?} is not a letter followed by letters, digits, `+`, `-` or `.`"
        ));
    }
    if rest.is_empty() {
        return Err("the URI has nothing after `://`".into());
    }
    if let Some(bad) = rest.chars().find(|c| !is_uri_char(*c)) {
        return Err(format!(
            "the URI contains {bad:?}, which RFC 3986 does not allow (percent-encode it)"
        ));
    }
    Ok(())
}

/// RFC 3986 unreserved, reserved, and `%` of a percent-encoding.
fn is_uri_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

fn check_dns(san: &str) -> Result<(), String> {
    if san.len() > MAX_DNS_LEN {
        return Err(format!(
            "a DNS name is at most {MAX_DNS_LEN} characters; this one has {}",
            san.len()
        ));
    }
    let name = san.strip_prefix("*.").unwrap_or(san);
    let labels: Vec<&str> = name.split('.').collect();
    for label in &labels {
        if label.is_empty() {
            return Err(
                "a DNS name has no empty labels (`..`, or a leading or trailing `.`)".into(),
            );
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(format!(
                "a DNS label is at most {MAX_LABEL_LEN} characters; one has {}",
                label.len()
            ));
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(if bad == '*' {
                "a wildcard is only allowed as the whole left-most label (`*.example.com`)".into()
            } else {
                format!("{bad:?} is not allowed in a DNS name (letters, digits, `-` and `.`)")
            });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("the DNS label {label:?} starts or ends with `-`"));
        }
    }
    if labels
        .last()
        .is_some_and(|l| l.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(
            "the last label of a DNS name is not all digits (is it a malformed IP address?)".into(),
        );
    }
    Ok(())
}

/// `san` for an error message: at most 64 characters, control characters escaped.
pub(super) fn quoted(san: &str) -> String {
    const MAX: usize = 64;
    match san.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}… ({} characters)", &san[..cut], san.chars().count()),
        None => format!("{san:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_names_ips_and_uris() {
        for (san, kind) in [
            ("web", SanKind::Dns),
            ("web.default.svc.cluster.local", SanKind::Dns),
            ("*.web.svc", SanKind::Dns),
            ("a-b.c0", SanKind::Dns),
            ("3com.example", SanKind::Dns),
            ("10.0.0.1", SanKind::Ip),
            ("::1", SanKind::Ip),
            ("fe80::1:2", SanKind::Ip),
            ("spiffe://cluster.local/ns/default/sa/web", SanKind::Uri),
            ("https://example.com/a?b=c%20d#e", SanKind::Uri),
        ] {
            assert_eq!(check_san(san), Ok(kind), "{san}");
        }
        let longest = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        assert_eq!(longest.len(), 253);
        assert_eq!(check_san(&longest), Ok(SanKind::Dns));
    }

    #[test]
    fn refuses_what_was_accepted_before() {
        for (san, needle) in [
            ("***", "wildcard"),
            ("*", "wildcard"),
            ("a.*.b", "wildcard"),
            ("*.*.b", "wildcard"),
            ("\0", "control character"),
            ("web\0.svc", "control character"),
            ("web\n", "control character"),
            ("a..b", "empty labels"),
            (".a", "empty labels"),
            ("a.", "empty labels"),
            ("-a.b", "starts or ends"),
            ("a-.b", "starts or ends"),
            ("a_b", "'_' is not allowed"),
            ("wéb", "not allowed"),
            ("a b", "not allowed"),
            ("10.0.0.256", "all digits"),
            ("1.2.3", "all digits"),
            ("[::1]", "not allowed"),
            ("://x", "scheme"),
            ("1a://x", "scheme"),
            ("spiffe://", "nothing after"),
            ("spiffe://a b", "RFC 3986"),
            ("spiffe://a\"b", "RFC 3986"),
        ] {
            let err = check_san(san).expect_err(san);
            assert!(err.contains(needle), "{san:?}: {err}");
        }
        let long = "a".repeat(100_000);
        assert!(check_san(&long).unwrap_err().contains("at most 253"));
        assert!(
            check_san(&format!("{}.b", "a".repeat(64)))
                .unwrap_err()
                .contains("at most 63")
        );
        let long_uri = format!("spiffe://x/{}", "a".repeat(3000));
        assert!(check_san(&long_uri).unwrap_err().contains("at most 2048"));
    }

    #[test]
    fn quoting_escapes_and_truncates() {
        assert_eq!(quoted("a\0b"), "\"a\\0b\"");
        let q = quoted(&"x".repeat(100_000));
        assert!(q.len() < 100, "{q}");
        assert!(q.ends_with("(100000 characters)"), "{q}");
    }
}
