//! Secret byte strings.
//!
//! # Invariants
//! - The bytes are zeroized when the value is dropped.
//! - `Debug` never shows the bytes, only their length; there is no `Display`.
//! - The only way to read the bytes is the explicit [`SecretBytes::expose`].

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// An owned secret byte string (a seed, a derived secret, a private key's bytes).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Box<[u8]>);

impl SecretBytes {
    /// Takes ownership of `bytes`; the caller's buffer is moved, not copied.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes.into_boxed_slice())
    }

    /// Copies `bytes` into a new secret. The caller remains responsible for its own copy.
    pub fn copy_from(bytes: &[u8]) -> Self {
        Self(bytes.to_vec().into_boxed_slice())
    }

    /// The secret bytes. Every call site is a place where the secret leaves its box:
    /// keep them few and obvious.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<redacted, {} bytes>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = SecretBytes::copy_from(&[0xab; 40]);
        let shown = format!("{s:?} {s:#?}");
        assert!(!shown.to_lowercase().contains("ab"), "{shown}");
        assert!(shown.contains("<redacted, 40 bytes>"));
    }

    #[test]
    fn expose_returns_the_bytes() {
        let s = SecretBytes::new(vec![1, 2, 3]);
        assert_eq!(s.expose(), &[1, 2, 3]);
        assert_eq!(s.len(), 3);
        assert!(!s.is_empty());
    }
}
