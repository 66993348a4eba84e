//! Seedward's pure core, shared by the Coordinator daemon and the `seedward` client.
//!
//! Nothing in the crypto and history modules does I/O: the Coordinator and the
//! client decide where bytes come from and where they go.
//!
//! | module | what it holds |
//! |---|---|
//! | [`secret`] | secret newtypes: zeroized on drop, redacted `Debug` |
//! | [`seed`] | the seed engine: HKDF labels, det-keygen P-384, workload secrets |
//! | [`keys`] | seed share owner (X25519) and workload owner (P-384) keys, PEM/DER/hex |
//! | [`seedshare`] | HPKE seed shares and the `seed-shares.json` document |
//! | [`recovery`] | the HPKE auth-mode envelope that carries seed ‖ salt to a recovering Coordinator |
//! | [`peer`] | the HPKE box that carries seed ‖ salt ‖ mesh secret from a ready replica to an attested peer |
//! | [`manifest`] | the manifest model, raw-bytes hashing and validation |
//! | [`history`] | transitions, the signed latest pointer, chain walks, the store trait |

pub mod history;
pub mod keys;
pub mod manifest;
pub mod peer;
pub mod recovery;
pub mod reference;
pub mod secret;
pub mod seed;
pub mod seedshare;
pub mod session;
pub mod threshold;
