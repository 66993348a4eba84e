//! The fuzz harness bodies, one `pub fn <target>(data: &[u8])` per cargo-fuzz target.
//!
//! This one file is compiled twice: by each `fuzz/fuzz_targets/<target>.rs` (through
//! `#[path = "../targets.rs"] mod targets;`) and by `tests/tests/fuzz_regressions.rs`, which
//! replays the committed corpus and regressions through the very same functions. It only
//! names crates both sides depend on: `seedward_shared`, `seedward_coordinator`, `prost`,
//! `tonic`, `p384`, `rand_core`, `serde_json`, `hex`, `base64`.
//!
//! Every harness checks invariants, not just "no panic": round trips, agreement between two
//! code paths that must agree, and that no error message repeats secret input bytes. A
//! broken invariant panics (`assert!`), which is how libFuzzer and the test report it.
//! The invariants are listed in docs/FUZZING.md.
#![allow(
    dead_code,
    reason = "each fuzz target uses one harness of this shared file"
)]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use p384::ecdsa::signature::hazmat::PrehashVerifier;
use p384::ecdsa::{Signature, SigningKey, VerifyingKey};
use prost::Message;
use seedward_coordinator::convert::{
    check_set_manifest_request, recover_input, set_manifest_input,
};
use seedward_coordinator::core::{CoreConfig, RecoverInput};
use seedward_coordinator::error::CoreError;
use seedward_proto::v1 as pb;
use seedward_shared::history::{
    ChainError, Digest, EntryStatus, LatestTransition, Transition, TransitionError,
    chain_from_manifests, verify_manifest_list,
};
use seedward_shared::keys::{
    KeyError, OwnerKeyPair, OwnerPublicKey, WorkloadOwnerKeyPair, WorkloadOwnerPublicKey,
};
use seedward_shared::manifest::{
    Manifest, ManifestDiff, ManifestError, ManifestWarning, ValueChange,
};
use seedward_shared::seed::{MAX_SEED_LEN, MIN_SEED_LEN};
use seedward_shared::seedshare::{SeedShareDocument, SeedShareError, open_seed};
use serde_json::{Map, Value};

/// A harness body: panics when an invariant breaks.
pub type Harness = fn(&[u8]);

/// Every target, by name: the test replays `fuzz/corpus/<name>/` and
/// `fuzz/regressions/<name>/` through the function.
pub const TARGETS: &[(&str, Harness)] = &[
    ("manifest", manifest),
    ("history", history),
    ("latest_verify", latest_verify),
    ("seed_shares", seed_shares),
    ("key_import", key_import),
    ("proto_requests", proto_requests),
];

/// The transaction signing key of the seed engine known-answer vector (SEC1 DER;
/// docs/FORMATS.md, "Deterministic P-384 keys"). The `latest_verify` corpus holds
/// pointers signed with it.
pub const KAT_TX_SIGNING_KEY_SEC1: &str = "3081a402010104305a58b771eef6bd6d2967b933ef3474e71bea849fd2b900f431dafe843d267b0b08875a95f4e442c6863663090c7c8576a00706052b81040022a16403620004f38a9990332aa58557780eff947e75c78a3486bbebce9f80d3e1f98f57b71ceaa207df91394d0eed25307d03ee460785db0afa958567089885e34ea693d861dfaa567fb34e6b3da51de25dfaf2a32aef01fb9d654f895712f1f4468281cd8ee9";

/// The seed share owner whose key opens the `seed_shares` corpus (a clamped test key).
pub const OWNER_A_SECRET: [u8; 32] = clamp([0x41; 32]);
/// A second owner, also named in the corpus documents.
pub const OWNER_B_SECRET: [u8; 32] = clamp([0x42; 32]);

const fn clamp(mut k: [u8; 32]) -> [u8; 32] {
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    k
}

pub fn kat_signing_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let der = hex::decode(KAT_TX_SIGNING_KEY_SEC1).expect("the KAT key is hex");
        let secret = p384::SecretKey::from_sec1_der(&der).expect("the KAT key is SEC1 DER");
        SigningKey::from(secret)
    })
}

fn kat_verifying_key() -> &'static VerifyingKey {
    static KEY: OnceLock<VerifyingKey> = OnceLock::new();
    KEY.get_or_init(|| *kat_signing_key().verifying_key())
}

fn owners() -> &'static [(OwnerKeyPair, [u8; 32]); 2] {
    static OWNERS: OnceLock<[(OwnerKeyPair, [u8; 32]); 2]> = OnceLock::new();
    OWNERS.get_or_init(|| {
        [
            (
                OwnerKeyPair::from_secret_bytes(OWNER_A_SECRET),
                OWNER_A_SECRET,
            ),
            (
                OwnerKeyPair::from_secret_bytes(OWNER_B_SECRET),
                OWNER_B_SECRET,
            ),
        ]
    })
}

// ---------------------------------------------------------------------------------------------
// Secret hygiene checks

/// `message` must not contain `secret` in hex (either case) or base64.
fn assert_not_in(message: &str, secret: &[u8], what: &str) {
    if secret.len() < 8 {
        return;
    }
    let hex = hex::encode(secret);
    assert!(
        !message.contains(&hex) && !message.contains(&hex.to_ascii_uppercase()),
        "error message contains the {what} in hex: {message}"
    );
    // Base64 of the secret at each of the three alignments, minus the partial edges.
    for skip in 0..3.min(secret.len()) {
        let b64 = BASE64.encode(&secret[skip..]);
        let core = &b64[..b64.len().saturating_sub(4)];
        if core.len() >= 12 {
            assert!(
                !message.contains(core),
                "error message contains the {what} in base64: {message}"
            );
        }
    }
}

/// An error about private key input must not repeat it: no 24-byte window of `der` in hex,
/// and no base64 line (24 characters or more) of the PEM text.
fn assert_no_input_echo(message: &str, pem_text: &str, der: &[u8]) {
    for line in pem_text.lines() {
        let line = line.trim();
        if line.len() >= 24 && !line.starts_with("-----") && !line.contains(' ') {
            assert!(
                !message.contains(line),
                "error message repeats a line of the private key PEM: {message}"
            );
        }
    }
    if der.len() >= 24 {
        let hex = hex::encode(der);
        for start in (0..=hex.len() - 48).step_by(2) {
            assert!(
                !message.contains(&hex[start..start + 48]),
                "error message repeats private key DER bytes: {message}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// manifest: parse, validate, policy check, warnings, semantic diff

/// Input: manifest bytes; a `0x00` byte (never inside valid JSON) splits off a second
/// manifest, which is diffed against the first.
pub fn manifest(data: &[u8]) {
    let (first, second) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let a = one_manifest(first);
    if let Some(second) = second {
        let b = one_manifest(second);
        if let (Some(a), Some(b)) = (a, b) {
            check_diff_pair(&a, &b);
        }
    }
}

fn one_manifest(data: &[u8]) -> Option<Manifest> {
    let m = match Manifest::parse(data.to_vec()) {
        Ok(m) => m,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            if data.is_empty() {
                assert_eq!(e, ManifestError::Empty);
            }
            // parse_and_validate fails the same way on malformed input.
            assert_eq!(Manifest::parse_and_validate(data.to_vec()).err(), Some(e));
            return None;
        }
    };
    // Raw bytes are kept and hashed exactly.
    assert_eq!(m.raw(), data);
    assert_eq!(m.hash(), Digest::of(data));
    // Parsing is deterministic, and equal bytes mean an empty diff.
    let again = Manifest::parse(data.to_vec()).expect("the same bytes parse twice");
    assert_eq!(again, m);
    assert_eq!(again.policies(), m.policies());
    assert_eq!(again.reference_values(), m.reference_values());
    assert!(ManifestDiff::between(&m, &m).is_empty(), "diff with itself");
    assert!(m.same_seedshare_owners(&m));

    // Structure → JSON → parse round trip: same meaning (empty diff), same validity.
    let reserialized = serialize(&m);
    let round = Manifest::parse(reserialized.clone()).unwrap_or_else(|e| {
        panic!(
            "a re-serialized manifest does not parse: {e}\n{}",
            String::from_utf8_lossy(&reserialized)
        )
    });
    assert_eq!(round.policies(), m.policies());
    assert_eq!(round.workload_owner_pub_keys(), m.workload_owner_pub_keys());
    assert_eq!(
        round.seedshare_owner_pub_keys(),
        m.seedshare_owner_pub_keys()
    );
    assert_diff_empty_but_float_noise(&ManifestDiff::between(&m, &round));
    assert_diff_empty_but_float_noise(&ManifestDiff::between(&round, &m));
    assert_eq!(round.validate(), m.validate());
    assert_eq!(round.warnings(), m.warnings());

    // Validation agrees with the per-section accessors.
    let validation = m.validate();
    let hashes = m.policy_hashes();
    let workload = m.workload_owner_keys();
    let seedshare = m.seedshare_owner_keys();
    let reference = m.reference();
    match &validation {
        Ok(()) => {
            let hashes = hashes.expect("valid manifest: policy hashes");
            assert_eq!(hashes.len(), m.policies().len());
            assert!(hashes.windows(2).all(|w| w[0] < w[1]), "sorted, unique");
            assert_eq!(
                workload.expect("valid manifest: workload keys").len(),
                m.workload_owner_pub_keys().len()
            );
            assert_eq!(
                seedshare.expect("valid manifest: seed share keys").len(),
                m.seedshare_owner_pub_keys().len()
            );
            let reference = reference.expect("valid manifest: reference values");
            assert_eq!(
                reference.snp.len(),
                m.reference_values()
                    .get("snp")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len)
            );
            assert_eq!(
                reference.tdx.len(),
                m.reference_values()
                    .get("tdx")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len)
            );
            assert!(Manifest::parse_and_validate(data.to_vec()).is_ok());
            // Policy documents: none supplied is fine only without policies, and every
            // missing hash is named; a document nobody references is refused.
            match m.check_policies::<&[u8]>(&[]) {
                Ok(()) => assert!(m.policies().is_empty()),
                Err(ManifestError::MissingPolicies { hashes }) => {
                    assert_eq!(hashes.len(), m.policies().len())
                }
                Err(other) => panic!("unexpected policy check error: {other}"),
            }
            if m.policies().is_empty() {
                let stray: &[u8] = b"a policy document no manifest names";
                assert!(matches!(
                    m.check_policies(&[stray]),
                    Err(ManifestError::UnreferencedPolicies { .. })
                ));
            }
        }
        Err(errors) => {
            assert!(!errors.issues().is_empty());
            assert!(!errors.to_string().is_empty());
            let mut reference_paths = Vec::new();
            for issue in errors.issues() {
                let path = issue.path();
                if path.starts_with("ReferenceValues.") {
                    reference_paths.push(path);
                    continue;
                }
                assert!(
                    path.starts_with("Policies.")
                        || path.starts_with("WorkloadOwnerPubKeys[")
                        || path.starts_with("SeedshareOwnerPubKeys["),
                    "issue path {path:?}"
                );
            }
            // The `ReferenceValues` issues are exactly those of the strict parser.
            let parser_paths: Vec<&str> = match &reference {
                Ok(_) => Vec::new(),
                Err(e) => e.issues().iter().map(|i| i.path.as_str()).collect(),
            };
            assert_eq!(reference_paths, parser_paths);
            assert!(
                hashes.is_err() || workload.is_err() || seedshare.is_err() || reference.is_err()
            );
            assert!(matches!(
                Manifest::parse_and_validate(data.to_vec()),
                Err(ManifestError::Invalid(_))
            ));
        }
    }
    let warnings = m.warnings();
    assert_eq!(
        warnings.contains(&ManifestWarning::NoSeedshareOwners),
        m.seedshare_owner_pub_keys().is_empty()
    );
    assert_eq!(
        warnings.contains(&ManifestWarning::NoWorkloadOwners),
        m.workload_owner_pub_keys().is_empty()
    );
    Some(m)
}

/// The manifest's structure written back as JSON (compact, fields in the documented order).
fn serialize(m: &Manifest) -> Vec<u8> {
    let mut policies = Map::new();
    for (hash, entry) in m.policies() {
        let mut obj = Map::new();
        obj.insert("SANs".into(), Value::from(entry.sans.clone()));
        if let Some(id) = &entry.workload_secret_id {
            obj.insert("WorkloadSecretID".into(), Value::from(id.clone()));
        }
        obj.insert("Role".into(), Value::from(entry.role.as_str()));
        policies.insert(hash.clone(), Value::Object(obj));
    }
    let mut root = Map::new();
    root.insert("Policies".into(), Value::Object(policies));
    root.insert(
        "ReferenceValues".into(),
        Value::Object(m.reference_values().clone()),
    );
    root.insert(
        "WorkloadOwnerPubKeys".into(),
        Value::from(m.workload_owner_pub_keys().to_vec()),
    );
    root.insert(
        "SeedshareOwnerPubKeys".into(),
        Value::from(m.seedshare_owner_pub_keys().to_vec()),
    );
    serde_json::to_vec(&Value::Object(root)).expect("a JSON value serializes")
}

/// serde_json (without `float_roundtrip`) may read a printed float back one ULP off; such a
/// change in `ReferenceValues` is the only one a round trip may show.
fn assert_diff_empty_but_float_noise(diff: &ManifestDiff) {
    let ManifestDiff {
        reference_values, ..
    } = diff;
    let rest = ManifestDiff {
        reference_values: Vec::new(),
        ..diff.clone()
    };
    assert!(rest.is_empty(), "round trip changed the manifest: {rest:?}");
    for change in reference_values {
        match change {
            ValueChange::Changed {
                old: Value::Number(a),
                new: Value::Number(b),
                ..
            } => {
                let (a, b) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
                assert!(
                    (a - b).abs() <= a.abs().max(b.abs()) * 1e-15,
                    "round trip changed a number: {change:?}"
                );
            }
            other => panic!("round trip changed ReferenceValues: {other:?}"),
        }
    }
}

/// `diff(a, b)` and `diff(b, a)` are mirror images.
fn check_diff_pair(a: &Manifest, b: &Manifest) {
    let ab = ManifestDiff::between(a, b);
    let ba = ManifestDiff::between(b, a);
    assert_eq!(ab.policies_added, ba.policies_removed);
    assert_eq!(ab.policies_removed, ba.policies_added);
    assert_eq!(ab.policies_changed.len(), ba.policies_changed.len());
    assert_eq!(ab.workload_owners_added, ba.workload_owners_removed);
    assert_eq!(ab.workload_owners_removed, ba.workload_owners_added);
    assert_eq!(ab.seedshare_owners_added, ba.seedshare_owners_removed);
    assert_eq!(ab.seedshare_owners_removed, ba.seedshare_owners_added);
    assert_eq!(ab.reference_values.len(), ba.reference_values.len());
    let mut mirrored: Vec<ValueChange> = ba
        .reference_values
        .iter()
        .map(|c| match c.clone() {
            ValueChange::Added { pointer, value } => ValueChange::Removed { pointer, value },
            ValueChange::Removed { pointer, value } => ValueChange::Added { pointer, value },
            ValueChange::Changed { pointer, old, new } => ValueChange::Changed {
                pointer,
                old: new,
                new: old,
            },
        })
        .collect();
    let mut forward = ab.reference_values.clone();
    mirrored.sort_by(|x, y| x.pointer().cmp(y.pointer()));
    forward.sort_by(|x, y| x.pointer().cmp(y.pointer()));
    assert_eq!(forward, mirrored);
    if a.same_seedshare_owners(b) {
        assert!(ab.seedshare_owners_added.is_empty() && ab.seedshare_owners_removed.is_empty());
    }
    if a.raw() == b.raw() {
        assert!(ab.is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// history: transition blobs, latest pointer decoding, chains from manifests

/// Input: read as a transition blob, as a latest pointer, and (split at `0x00`) as a
/// manifest list for `chain_from_manifests`. No signature is checked (see `latest_verify`).
pub fn history(data: &[u8]) {
    match Transition::from_bytes(data) {
        Ok(t) => {
            assert_eq!(data.len(), Transition::LEN);
            assert_eq!(&t.to_bytes()[..], data);
            assert_eq!(t.hash(), Digest::of(data));
            assert_eq!(t.is_first(), data[32..] == [0u8; 32]);
            assert_eq!(t, Transition::after(t.previous, t.manifest_hash));
        }
        Err(e) => {
            assert_ne!(data.len(), Transition::LEN);
            assert_eq!(e, TransitionError::Length { len: data.len() });
        }
    }

    match LatestTransition::from_bytes(data) {
        Ok(latest) => {
            assert!(data.len() > Digest::LEN);
            // Kept byte for byte, never re-encoded.
            assert_eq!(latest.to_bytes(), data);
            assert_eq!(latest.transition_hash().as_bytes(), &data[..32]);
            assert_eq!(latest.signature(), &data[32..]);
            assert_eq!(
                LatestTransition::from_parts(&data[..32], &data[32..]).as_ref(),
                Ok(&latest)
            );
            // FORMATS.md: a P-384 DER signature is at most 104 bytes.
            assert!(latest.signature().len() <= 104);
            // Strict DER: an accepted signature that decodes to (r, s) has exactly one
            // encoding, the one that was stored.
            if let Ok(sig) = Signature::from_der(latest.signature()) {
                assert_eq!(sig.to_der().as_bytes(), latest.signature());
            }
        }
        Err(e) => match e {
            TransitionError::LatestTooShort { len } => {
                assert!(data.len() < 32);
                assert_eq!(len, data.len());
            }
            TransitionError::MissingSignature => assert_eq!(data.len(), 32),
            TransitionError::MalformedSignature => assert!(data.len() > 32),
            other => panic!("unexpected latest pointer error: {other}"),
        },
    }

    let manifests: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    let chain = chain_from_manifests(&manifests);
    assert_eq!(chain.len(), manifests.len());
    let mut previous = Digest::ZERO;
    for ((hash, transition), m) in chain.iter().zip(&manifests) {
        assert_eq!(transition.previous, previous);
        assert_eq!(transition.manifest_hash, Digest::of(m));
        assert_eq!(*hash, transition.hash());
        assert_eq!(
            Transition::from_bytes(&transition.to_bytes()),
            Ok(*transition)
        );
        previous = *hash;
    }
    // A prefix of the list is a prefix of the chain.
    let prefix = chain_from_manifests(&manifests[..manifests.len() - 1]);
    assert_eq!(prefix[..], chain[..chain.len() - 1]);
}

// ---------------------------------------------------------------------------------------------
// latest_verify: signature verification and client-side chain verification

/// Input: `L` (1 byte) ‖ latest pointer (`L` bytes) ‖ manifests separated by `0x00`.
/// Verified with the KAT transaction signing key, as a client does after `GetManifests`.
pub fn latest_verify(data: &[u8]) {
    let Some((&len, rest)) = data.split_first() else {
        return;
    };
    let len = usize::from(len).min(rest.len());
    let (latest_bytes, list) = rest.split_at(len);
    let Ok(latest) = LatestTransition::from_bytes(latest_bytes) else {
        return;
    };
    let manifests: Vec<&[u8]> = if list.is_empty() {
        Vec::new()
    } else {
        list.split(|&b| b == 0).collect()
    };
    let key = kat_verifying_key();
    let chain = chain_from_manifests(&manifests);
    let signed = latest.transition_hash();

    // An independent check of what the pointer's signature means: ECDSA-P384 over the raw
    // 32-byte hash as the prehash, DER-encoded.
    let independent = || {
        Signature::from_der(latest.signature())
            .is_ok_and(|sig| key.verify_prehash(signed.as_bytes(), &sig).is_ok())
    };

    match verify_manifest_list(&manifests, &latest, key) {
        Ok(entries) => {
            // An accepted pointer really verifies, and the list rebuilds to it.
            assert!(
                independent(),
                "accepted a latest pointer that does not verify"
            );
            assert!(latest.verify(key).is_ok());
            assert!(!manifests.is_empty());
            assert_eq!(entries.len(), manifests.len());
            assert_eq!(entries.last().map(|e| e.transition_hash), Some(signed));
            for (i, (entry, (hash, transition))) in entries.iter().zip(&chain).enumerate() {
                assert_eq!(entry.status, EntryStatus::Verified);
                assert_eq!(entry.generation, i as u64 + 1);
                assert_eq!(entry.transition_hash, *hash);
                assert_eq!(entry.manifest_hash, transition.manifest_hash);
                assert_eq!(entry.previous, transition.previous);
            }
        }
        Err(failure) => {
            assert_eq!(failure.entries.len(), manifests.len());
            assert!(!failure.to_string().is_empty());
            let verified = failure
                .entries
                .iter()
                .take_while(|e| e.status == EntryStatus::Verified)
                .count();
            // Verified entries form a prefix.
            assert!(
                failure.entries[verified..]
                    .iter()
                    .all(|e| e.status != EntryStatus::Verified)
            );
            match failure.reason {
                ChainError::BadSignature => {
                    assert_eq!(verified, 0);
                }
                ChainError::Empty => {
                    assert!(independent(), "Empty reported for a bad signature");
                    assert!(manifests.is_empty());
                }
                ChainError::TipMismatch {
                    computed,
                    signed: s,
                } => {
                    assert!(independent(), "TipMismatch reported for a bad signature");
                    assert_eq!(s, signed);
                    assert_eq!(chain.last().map(|(h, _)| *h), Some(computed));
                    assert!(chain.iter().all(|(h, _)| *h != signed));
                    assert_eq!(verified, 0);
                }
                ChainError::BeyondSignedTip {
                    signed_generation,
                    total,
                } => {
                    assert!(
                        independent(),
                        "BeyondSignedTip reported for a bad signature"
                    );
                    assert_eq!(total, manifests.len() as u64);
                    assert!(signed_generation < total);
                    let k = usize::try_from(signed_generation).expect("small");
                    assert_eq!(verified, k);
                    assert_eq!(chain[k - 1].0, signed);
                }
                other => panic!("unexpected chain error: {other}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// seed_shares: seed-shares.json parsing and open attempts

/// Input: the text of a `seed-shares.json`. Valid documents are re-written and re-read, and
/// opened with two fixed owner keys (the corpus documents carry real shares for them).
pub fn seed_shares(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let doc = match SeedShareDocument::from_json(text) {
        Ok(doc) => doc,
        Err(e) => {
            assert!(matches!(e, SeedShareError::Json { .. }), "{e:?}");
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    // Round trip through the writer.
    let json = doc.to_json();
    let again = SeedShareDocument::from_json(&json)
        .unwrap_or_else(|e| panic!("to_json output does not read back: {e}\n{json}"));
    assert_eq!(again, doc);
    assert_eq!(again.to_json(), json);
    for share in &doc.seed_shares {
        assert!(OwnerPublicKey::from_hex(&share.public_key).is_ok());
    }

    for (owner, secret) in owners() {
        let public = owner.public_key();
        let has_share = doc
            .seed_shares
            .iter()
            .any(|s| OwnerPublicKey::from_hex(&s.public_key).ok() == Some(public));
        match doc.open_with(owner) {
            Ok((seed, salt)) => {
                assert!(has_share);
                assert_eq!(doc.threshold(), 1);
                assert_eq!(salt, doc.salt);
                assert!((MIN_SEED_LEN..=MAX_SEED_LEN).contains(&seed.len()));
            }
            Err(e) => {
                let message = e.to_string();
                assert_not_in(&message, secret, "owner private key");
                if doc.threshold() > 1 {
                    // One share of a k-of-n split is never opened as a seed.
                    assert!(matches!(e, SeedShareError::ThresholdShare { .. }), "{e:?}");
                } else if !has_share {
                    assert!(matches!(e, SeedShareError::NoShareForKey { .. }), "{e:?}");
                }
            }
        }
        if doc.threshold() > 1 {
            match doc.open_key_share_with(owner) {
                Ok(share) => {
                    assert!(has_share);
                    assert!(share.index() >= 1);
                }
                Err(e) => {
                    assert_not_in(&e.to_string(), secret, "owner private key");
                    assert_not_in(&format!("{e:?}"), secret, "owner private key");
                }
            }
        }
        for share in doc.seed_shares.iter().take(4) {
            let for_us = OwnerPublicKey::from_hex(&share.public_key).ok() == Some(public);
            match open_seed(share, owner) {
                Ok(seed) => {
                    assert!(for_us);
                    assert!((MIN_SEED_LEN..=MAX_SEED_LEN).contains(&seed.len()));
                }
                Err(e) => {
                    assert_not_in(&e.to_string(), secret, "owner private key");
                    assert_not_in(&format!("{e:?}"), secret, "owner private key");
                    assert_eq!(
                        matches!(e, SeedShareError::WrongOwnerKey { .. }),
                        !for_us,
                        "{e:?}"
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// key_import: what `seedward keys import` and the key store read

/// Input: a selector byte, then the key text or DER.
pub fn key_import(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match selector % 6 {
        0 => owner_private_pem(&text),
        1 => workload_private_pem(&text),
        2 => owner_public(&text, rest),
        3 => workload_public(&text, rest),
        4 => private_der(rest),
        _ => manifest_form(&text),
    }
}

fn pem_der(text: &str) -> Vec<u8> {
    // The DER of the first PEM block, when it decodes, for the echo check.
    text.find("-----BEGIN ")
        .and_then(|start| pem_rfc7468_free_decode(&text[start..]))
        .unwrap_or_default()
}

/// Base64 of the lines between the first BEGIN and END lines, leniently.
fn pem_rfc7468_free_decode(block: &str) -> Option<Vec<u8>> {
    let body: String = block
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .filter(|l| !l.contains(':'))
        .collect::<Vec<_>>()
        .concat();
    BASE64.decode(body.trim()).ok()
}

fn owner_private_pem(text: &str) {
    match OwnerKeyPair::from_pkcs8_pem(text) {
        Ok(pair) => {
            // What the key store does: normalize to PKCS#8 PEM, read it back later.
            let pem = pair.to_pkcs8_pem();
            let back = OwnerKeyPair::from_pkcs8_pem(&pem).expect("own PEM reads back");
            assert_eq!(back.public_key(), pair.public_key());
            let der = pair.to_pkcs8_der();
            let back = OwnerKeyPair::from_pkcs8_der(der.expose()).expect("own DER reads back");
            assert_eq!(back.public_key(), pair.public_key());
            assert_eq!(der.expose().len(), 48);
            assert!(OwnerPublicKey::from_hex(&pair.public_key().to_hex()).is_ok());
            assert!(!format!("{pair:?}").contains(&hex::encode(&der.expose()[16..])));
        }
        Err(e) => check_private_error(&e, text),
    }
}

fn workload_private_pem(text: &str) {
    match WorkloadOwnerKeyPair::from_pem(text) {
        Ok(pair) => {
            let public = pair.public_key();
            let pem = pair.to_pkcs8_pem();
            let back = WorkloadOwnerKeyPair::from_pem(&pem).expect("own PKCS#8 PEM reads back");
            assert_eq!(back.public_key(), public);
            let sec1 = pair.to_sec1_der();
            let back = WorkloadOwnerKeyPair::from_sec1_der(sec1.expose()).expect("own SEC1");
            assert_eq!(back.public_key(), public);
            assert_eq!(
                WorkloadOwnerPublicKey::from_hex(&public.to_hex()).as_ref(),
                Ok(&public)
            );
            let scalar = &sec1.expose()[8..56];
            assert!(!format!("{pair:?}").contains(&hex::encode(scalar)));
        }
        Err(e) => check_private_error(&e, text),
    }
}

fn check_private_error(e: &KeyError, text: &str) {
    let der = pem_der(text);
    for message in [e.to_string(), format!("{e:?}")] {
        assert!(!message.is_empty());
        assert_no_input_echo(&message, text, &der);
    }
}

fn owner_public(text: &str, der: &[u8]) {
    let check = |key: OwnerPublicKey| {
        assert_eq!(OwnerPublicKey::from_spki_der(&key.to_spki_der()), Ok(key));
        assert_eq!(OwnerPublicKey::from_spki_pem(&key.to_spki_pem()), Ok(key));
        assert_eq!(OwnerPublicKey::from_hex(&key.to_hex()), Ok(key));
        assert_eq!(OwnerPublicKey::from_bytes(*key.as_bytes()), Ok(key));
        assert_eq!(key.to_spki_der().len(), 44);
    };
    if let Ok(key) = OwnerPublicKey::from_spki_pem(text) {
        check(key);
    }
    if let Ok(key) = OwnerPublicKey::from_spki_der(der) {
        check(key);
        assert_eq!(key.to_spki_der(), der, "X25519 SPKI has one encoding");
    }
    if let Ok(key) = OwnerPublicKey::from_hex(text.trim_end()) {
        check(key);
    }
}

fn workload_public(text: &str, der: &[u8]) {
    let check = |key: WorkloadOwnerPublicKey| {
        assert_eq!(
            WorkloadOwnerPublicKey::from_spki_der(&key.to_spki_der()).as_ref(),
            Ok(&key)
        );
        assert_eq!(
            WorkloadOwnerPublicKey::from_spki_pem(&key.to_spki_pem()).as_ref(),
            Ok(&key)
        );
        assert_eq!(
            WorkloadOwnerPublicKey::from_hex(&key.to_hex()).as_ref(),
            Ok(&key)
        );
        assert_eq!(key.to_spki_der().len(), 120);
    };
    if let Ok(key) = WorkloadOwnerPublicKey::from_spki_pem(text) {
        check(key);
    }
    // The client and Coordinator (WorkloadOwnerPublicKey) and manifest validation
    // (p384's SPKI decoder) must accept exactly the same keys.
    let ours = WorkloadOwnerPublicKey::from_spki_der(der);
    let theirs = {
        use p384::pkcs8::DecodePublicKey;
        p384::PublicKey::from_public_key_der(der)
    };
    assert_eq!(
        ours.is_ok(),
        theirs.is_ok(),
        "workload owner key acceptance differs from manifest validation: {ours:?}"
    );
    if let Ok(key) = ours {
        check(key);
    }
    if let Ok(key) = WorkloadOwnerPublicKey::from_hex(text.trim_end()) {
        check(key);
    }
}

fn private_der(der: &[u8]) {
    let results = [
        OwnerKeyPair::from_pkcs8_der(der).map(|p| p.public_key().to_hex()),
        WorkloadOwnerKeyPair::from_pkcs8_der(der).map(|p| p.public_key().to_hex()),
        WorkloadOwnerKeyPair::from_sec1_der(der).map(|p| p.public_key().to_hex()),
    ];
    for result in results {
        if let Err(e) = result {
            for message in [e.to_string(), format!("{e:?}")] {
                assert_no_input_echo(&message, "", der);
            }
        }
    }
}

/// The manifest form of both key kinds: manifest validation and the key parsers the
/// Coordinator and client use must agree on every string.
fn manifest_form(text: &str) {
    let key = text.trim_end_matches('\n');
    let json = serde_json::json!({
        "Policies": {},
        "ReferenceValues": {},
        "WorkloadOwnerPubKeys": [key],
        "SeedshareOwnerPubKeys": [key],
    });
    let raw = serde_json::to_vec(&json).expect("a JSON value serializes");
    let m = Manifest::parse(raw).expect("a generated manifest parses");
    let issues = m
        .validate()
        .err()
        .map(|e| e.into_issues())
        .unwrap_or_default();
    let manifest_rejects = |prefix: &str| issues.iter().any(|i| i.path().starts_with(prefix));
    assert_eq!(
        !manifest_rejects("WorkloadOwnerPubKeys"),
        WorkloadOwnerPublicKey::from_hex(key).is_ok(),
        "manifest validation and WorkloadOwnerPublicKey::from_hex disagree on {key:?}"
    );
    assert_eq!(
        !manifest_rejects("SeedshareOwnerPubKeys"),
        OwnerPublicKey::from_hex(key).is_ok(),
        "manifest validation and OwnerPublicKey::from_hex disagree on {key:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// proto_requests: the user API's request decoding and the Coordinator's conversions

/// Input: a selector byte, then a protobuf message (or, for selector 3, manifest and policy
/// documents separated by `0x00`, wrapped into a `SetManifestRequest`).
pub fn proto_requests(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 4 {
        0 => {
            if let Ok(req) = pb::SetManifestRequest::decode(rest) {
                roundtrip(&req);
                set_manifest_request(&req);
            }
        }
        1 => {
            if let Ok(req) = pb::RecoverRequest::decode(rest) {
                roundtrip(&req);
                recover_request(req);
            }
        }
        2 => {
            if let Ok(req) = pb::GetStatusRequest::decode(rest) {
                assert!(req.encode_to_vec().is_empty());
            }
            if let Ok(req) = pb::GetManifestsRequest::decode(rest) {
                assert!(req.encode_to_vec().is_empty());
            }
        }
        _ => {
            let mut parts = rest.split(|&b| b == 0);
            let manifest = parts.next().unwrap_or_default().to_vec();
            let req = pb::SetManifestRequest {
                manifest,
                policies: parts.map(<[u8]>::to_vec).collect(),
                previous_transition_hash: None,
                signature: Vec::new(),
            };
            set_manifest_request(&req);
        }
    }
}

fn roundtrip<M: Message + Default + PartialEq + std::fmt::Debug>(msg: &M) {
    let bytes = msg.encode_to_vec();
    assert_eq!(bytes.len(), msg.encoded_len());
    let back = M::decode(bytes.as_slice()).expect("own encoding decodes");
    assert_eq!(&back, msg);
}

fn assert_invalid_argument(err: CoreError, fields: &[&str]) {
    match &err {
        CoreError::InvalidArgument { field, message } => {
            assert!(fields.contains(field), "unexpected field {field}");
            assert!(!message.is_empty());
        }
        CoreError::InvalidManifest(message) => assert!(!message.is_empty()),
        other => panic!("a request conversion failed with a non-argument error: {other:?}"),
    }
    let status = tonic::Status::from(err);
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(!status.message().is_empty());
}

fn set_manifest_request(req: &pb::SetManifestRequest) {
    // The shape check alone: only the previous transition hash can be malformed.
    let shaped = match set_manifest_input(req.clone()) {
        Ok(input) => {
            assert_eq!(
                input.previous.map(|d| d.as_bytes().to_vec()),
                req.previous_transition_hash
            );
            assert_eq!(input.manifest, req.manifest);
            assert_eq!(input.policies, req.policies);
            true
        }
        Err(e) => {
            assert_invalid_argument(e, &["previous_transition_hash"]);
            false
        }
    };
    let small = CoreConfig {
        max_manifest_bytes: 2048,
        max_policy_bytes: 256,
        max_policies: 4,
        ..CoreConfig::default()
    };
    for config in [CoreConfig::default(), small] {
        let sizes_ok = !req.manifest.is_empty()
            && req.manifest.len() <= config.max_manifest_bytes
            && req.policies.len() <= config.max_policies
            && req
                .policies
                .iter()
                .all(|p| p.len() <= config.max_policy_bytes);
        match check_set_manifest_request(&config, req) {
            Ok((_, m)) => {
                assert!(shaped && sizes_ok);
                assert_eq!(m.raw(), req.manifest.as_slice());
                assert!(m.validate().is_ok());
                assert!(m.check_policies(&req.policies).is_ok());
                // Every policy key has its document, every document its key.
                let supplied: std::collections::BTreeSet<String> = req
                    .policies
                    .iter()
                    .map(|p| Digest::of(p).to_hex())
                    .collect();
                let named: std::collections::BTreeSet<String> = m
                    .policies()
                    .keys()
                    .map(|k| k.to_ascii_lowercase())
                    .collect();
                assert_eq!(supplied, named);
            }
            Err(e) => {
                if shaped
                    && sizes_ok
                    && let Ok(m) = Manifest::parse_and_validate(req.manifest.clone())
                {
                    assert!(m.check_policies(&req.policies).is_err());
                }
                assert_invalid_argument(e, &["manifest", "policies", "previous_transition_hash"])
            }
        }
    }
}

fn recover_request(req: pb::RecoverRequest) {
    match recover_input(req.clone()) {
        Ok(RecoverInput {
            challenge_id,
            owner,
            envelope,
        }) => {
            assert_eq!(challenge_id, req.challenge_id);
            assert_eq!(owner.as_bytes().as_slice(), req.owner_public_key.as_slice());
            assert_eq!(
                envelope.encapsulated_key.as_slice(),
                req.encapsulated_key.as_slice()
            );
            assert_eq!(envelope.ciphertext, req.ciphertext);
        }
        Err(e) => {
            let message = e.to_string();
            // The ciphertext carries the sealed seed: never echoed.
            assert_not_in(&message, &req.ciphertext, "recovery ciphertext");
            assert_invalid_argument(e, &["owner_public_key", "encapsulated_key"]);
        }
    }
}
