//! The CI-sized fuzz run (docs/FUZZING.md): every committed corpus file and every
//! regression input of each cargo-fuzz target, replayed through the same harness the fuzzer
//! runs (`fuzz/targets.rs`), plus a bounded number of deterministic mutations of them (bit
//! flips, byte changes, truncations, insertions, deletions, splices). Needs neither
//! cargo-fuzz nor nightly.
//!
//! `cargo test -p seedward-tests --test fuzz_regressions -- --ignored write_seed_corpus`
//! rewrites `fuzz/corpus/` from the generator below (deterministic: same bytes every time).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

#[path = "../../fuzz/targets.rs"]
mod targets;

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};

use prost::Message;
use rand_core::{CryptoRng, RngCore};
use seedward_proto::v1 as pb;
use seedward_shared::history::{Digest, LatestTransition, Transition, chain_from_manifests};
use seedward_shared::keys::{OwnerKeyPair, WorkloadOwnerKeyPair};
use seedward_shared::manifest::Manifest;
use seedward_shared::seed::{Salt, Seed};
use seedward_shared::seedshare::encrypt_for_owners;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted by name (absent folder: none).
fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(read) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = read
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let data = fs::read(&p).unwrap();
            (p, data)
        })
        .collect()
}

fn run_one(target: &str, harness: fn(&[u8]), what: &str, data: &[u8]) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| harness(data))) {
        eprintln!(
            "fuzz target `{target}` failed on {what} ({} bytes): {}",
            data.len(),
            hex_preview(data)
        );
        resume_unwind(panic);
    }
}

fn hex_preview(data: &[u8]) -> String {
    let mut s: String = data.iter().take(512).map(|b| format!("{b:02x}")).collect();
    if data.len() > 512 {
        s.push('…');
    }
    s
}

/// SplitMix64: deterministic, seeded per target, good enough to pick mutations.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// One to four mutations of `data`, `other` as splice material.
    fn mutate(&mut self, data: &[u8], other: &[u8]) -> Vec<u8> {
        const INTERESTING: &[u8] = &[
            0x00, 0x01, 0x7f, 0x80, 0xff, b'"', b'{', b'}', b'[', b']', b',', b':', b'-', b'\n',
            b'0', b'a', b'A', b'=', b'\\',
        ];
        let mut out = data.to_vec();
        for _ in 0..=self.below(4) {
            let len = out.len();
            match self.below(8) {
                0 if len > 0 => {
                    let i = self.below(len);
                    out[i] ^= 1 << self.below(8);
                }
                1 if len > 0 => {
                    let i = self.below(len);
                    out[i] = INTERESTING[self.below(INTERESTING.len())];
                }
                2 if len > 0 => {
                    let i = self.below(len);
                    out[i] = self.next() as u8;
                }
                3 => out.truncate(self.below(len + 1)),
                4 => {
                    let i = self.below(len + 1);
                    let b = INTERESTING[self.below(INTERESTING.len())];
                    out.insert(i, b);
                }
                5 if len > 0 => {
                    let start = self.below(len);
                    let end = (start + 1 + self.below(16)).min(len);
                    out.drain(start..end);
                }
                6 if len > 0 => {
                    let start = self.below(len);
                    let end = (start + 1 + self.below(32)).min(len);
                    let chunk = out[start..end].to_vec();
                    let at = self.below(out.len() + 1);
                    out.splice(at..at, chunk);
                }
                _ if !other.is_empty() => {
                    let cut = self.below(len + 1);
                    let from = self.below(other.len());
                    out.truncate(cut);
                    out.extend_from_slice(&other[from..]);
                }
                _ => {}
            }
        }
        out
    }
}

/// Replays corpus and regressions, then `mutations` mutants spread over the corpus.
fn replay(target: &str, mutations: usize) {
    let harness = targets::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, f)| *f)
        .unwrap();
    let corpus = inputs("corpus", target);
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ is empty; run the write_seed_corpus test"
    );
    for (path, data) in corpus.iter().chain(&inputs("regressions", target)) {
        run_one(target, harness, &path.display().to_string(), data);
    }
    let seed = target.bytes().fold(0x5eed_u64, |h, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    });
    let mut mutator = Mutator(seed);
    for i in 0..mutations {
        let (_, data) = &corpus[i % corpus.len()];
        let (_, other) = &corpus[mutator.below(corpus.len())];
        let mutant = mutator.mutate(data, other);
        run_one(target, harness, &format!("mutation #{i}"), &mutant);
    }
}

#[test]
fn manifest() {
    replay("manifest", 3000);
}

#[test]
fn history() {
    replay("history", 3000);
}

#[test]
fn latest_verify() {
    // Each execution may verify an ECDSA P-384 signature twice: fewer mutants.
    replay("latest_verify", 300);
}

#[test]
fn seed_shares() {
    replay("seed_shares", 1500);
}

#[test]
fn key_import() {
    replay("key_import", 1500);
}

#[test]
fn proto_requests() {
    replay("proto_requests", 3000);
}

#[test]
fn every_target_has_a_test_and_a_fuzz_target() {
    for (name, _) in targets::TARGETS {
        assert!(
            fuzz_dir()
                .join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "fuzz/fuzz_targets/{name}.rs is missing"
        );
    }
    assert_eq!(
        targets::TARGETS.len(),
        6,
        "add a #[test] for the new target"
    );
}

// ---------------------------------------------------------------------------------------------
// The seed corpus generator

/// Deterministic bytes for test keys and seeds (not for real secrets).
struct CorpusRng(Mutator);

impl RngCore for CorpusRng {
    fn next_u32(&mut self) -> u32 {
        self.0.next() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.0.next() as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for CorpusRng {}

const MINIMAL_MANIFEST: &[u8] =
    br#"{"Policies":{},"ReferenceValues":{},"WorkloadOwnerPubKeys":[],"SeedshareOwnerPubKeys":[]}"#;

/// RFC 7748 §6.1 Alice's key as PKCS#8 PEM (docs/FORMATS.md §4).
const ALICE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VuBCIEIHcHbQpzGKV9PBbBclGyZkXfTC+H68CZKrF3+6UduSwq
-----END PRIVATE KEY-----
";

fn seed_corpus() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut rng = CorpusRng(Mutator(0xc0_ffee));
    let owner_a = OwnerKeyPair::from_secret_bytes(targets::OWNER_A_SECRET);
    let owner_b = OwnerKeyPair::from_secret_bytes(targets::OWNER_B_SECRET);
    let workload = WorkloadOwnerKeyPair::generate(&mut rng);
    let owner_hex = vec![owner_a.public_key().to_hex(), owner_b.public_key().to_hex()];
    let workload_hex = vec![workload.public_key().to_hex()];
    let template = Manifest::template(&owner_hex, &workload_hex);
    let mut out: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let mut add = |target: &'static str, name: &str, data: Vec<u8>| {
        out.push((target, name.to_owned(), data));
    };
    let joined = |parts: &[&[u8]]| parts.join(&0u8);

    // manifest
    add("manifest", "template.json", template.manifest.clone());
    add("manifest", "minimal.json", MINIMAL_MANIFEST.to_vec());
    let rich = format!(
        r#"{{"Policies":{{"{p}":{{"SANs":["web","10.0.0.1",""],"WorkloadSecretID":"db","Role":"Coordinator"}},"{P}":{{"SANs":[]}},"zz":{{"SANs":["x"],"Role":""}}}},"ReferenceValues":{{"snp":[{{"minimumTCB":{{"BootloaderVersion":3,"f":1.5e300}},"id":"a/b~c"}}],"tdx":null}},"WorkloadOwnerPubKeys":["{w}","{W}","00"],"SeedshareOwnerPubKeys":["{o}","{O}","0000000000000000000000000000000000000000000000000000000000000000"]}}"#,
        p = Digest::of(b"p"),
        P = Digest::of(b"p").to_hex().to_ascii_uppercase(),
        w = workload_hex[0],
        W = workload_hex[0].to_ascii_uppercase(),
        o = owner_hex[0],
        O = owner_hex[0].to_ascii_uppercase(),
    );
    add(
        "manifest",
        "invalid-every-issue.json",
        rich.clone().into_bytes(),
    );
    add(
        "manifest",
        "unknown-field.json",
        br#"{"Policies":{},"ReferenceValues":{},"WorkloadOwnerPubKeys":[],"SeedshareOwnerPubKeys":[],"policies":{}}"#.to_vec(),
    );
    add(
        "manifest",
        "duplicate-key.json",
        br#"{"Policies":{},"ReferenceValues":{"a":1,"a":2},"WorkloadOwnerPubKeys":[],"SeedshareOwnerPubKeys":[]}"#.to_vec(),
    );
    // Valid reference values of every platform, optional fields included
    // (docs/ATTESTATION.md): the strict parser's accepting path, and a diff into them.
    let mut with_reference: serde_json::Value = serde_json::from_slice(&template.manifest).unwrap();
    with_reference["ReferenceValues"] = serde_json::json!({
        "snp": [{
            "ProductName": "Genoa",
            "TrustedMeasurement": hex::encode([0x7a; 48]),
            "MinimumTCB": {
                "BootloaderVersion": 9, "TEEVersion": 0, "SNPVersion": 23, "MicrocodeVersion": 72
            },
            "GuestPolicy": {"ABIMajor": 1, "ABIMinor": 55, "SMT": true, "Debug": false},
            "PlatformInfo": {"SMTEnabled": true, "ECCEnabled": false},
            "AllowedChipIDs": [hex::encode([0xc3; 64])]
        }, {
            "ProductName": "Milan",
            "TrustedMeasurement": hex::encode([0x1e; 48]).to_ascii_uppercase(),
            "MinimumTCB": {
                "BootloaderVersion": 3, "TEEVersion": 0, "SNPVersion": 8, "MicrocodeVersion": 115
            }
        }],
        "tdx": [{
            "MrTd": hex::encode([0x11; 48]),
            "Rtrms": ([0x20_u8, 0x21, 0x22, 0x23].map(|b| hex::encode([b; 48]))),
            "MrSeam": hex::encode([0x5e; 48]),
            "TdAttributes": "0000001000000000",
            "Xfam": "e702060000000000",
            "MinimumTeeTcbSvn": "03000500000000000000000000000000",
            "MinimumQeSvn": 8,
            "MinimumPceSvn": 13,
            "AllowedTcbStatuses": ["UpToDate", "SWHardeningNeeded"]
        }],
        "none": {}
    });
    let with_reference = format!("{with_reference:#}\n").into_bytes();
    Manifest::parse_and_validate(with_reference.clone()).expect("valid reference values");
    add("manifest", "reference-values.json", with_reference.clone());
    add(
        "manifest",
        "diff-template-reference-values.bin",
        joined(&[&template.manifest, &with_reference]),
    );
    add(
        "manifest",
        "diff-template-minimal.bin",
        joined(&[&template.manifest, MINIMAL_MANIFEST]),
    );
    add(
        "manifest",
        "diff-template-rich.bin",
        joined(&[&template.manifest, rich.as_bytes()]),
    );

    // history
    let key = targets::kat_signing_key();
    let first = Transition::first(Digest::of(MINIMAL_MANIFEST));
    let latest = LatestTransition::sign(first.hash(), key).unwrap();
    add("history", "transition-first.bin", first.to_bytes().to_vec());
    let second = Transition::after(first.hash(), Digest::of(&template.manifest));
    add(
        "history",
        "transition-second.bin",
        second.to_bytes().to_vec(),
    );
    add("history", "latest.bin", latest.to_bytes());
    add(
        "history",
        "manifest-list.bin",
        joined(&[MINIMAL_MANIFEST, &template.manifest]),
    );

    // latest_verify: L ‖ latest ‖ manifests separated by 0x00
    let pointer = |latest: &LatestTransition, manifests: &[&[u8]]| {
        let bytes = latest.to_bytes();
        let mut out = vec![u8::try_from(bytes.len()).unwrap()];
        out.extend_from_slice(&bytes);
        out.extend_from_slice(&joined(manifests));
        out
    };
    add(
        "latest_verify",
        "verified-one.bin",
        pointer(&latest, &[MINIMAL_MANIFEST]),
    );
    let two = [MINIMAL_MANIFEST, template.manifest.as_slice()];
    let chain = chain_from_manifests(&two);
    let latest_two = LatestTransition::sign(chain[1].0, key).unwrap();
    add(
        "latest_verify",
        "verified-two.bin",
        pointer(&latest_two, &two),
    );
    add(
        "latest_verify",
        "beyond-signed-tip.bin",
        pointer(&latest, &two),
    );
    add(
        "latest_verify",
        "tip-mismatch.bin",
        pointer(&latest_two, &[MINIMAL_MANIFEST, rich.as_bytes()]),
    );
    add("latest_verify", "empty-list.bin", pointer(&latest, &[]));

    // seed_shares
    let seed = Seed::generate(&mut rng);
    let salt = Salt::generate(&mut rng);
    let both = encrypt_for_owners(
        &seed,
        &salt,
        &[owner_a.public_key(), owner_b.public_key()],
        &mut rng,
    )
    .unwrap();
    add(
        "seed_shares",
        "two-owners.json",
        both.to_json().into_bytes(),
    );
    let short = Seed::from_bytes(vec![7; 32]).unwrap();
    let only_b = encrypt_for_owners(&short, &salt, &[owner_b.public_key()], &mut rng).unwrap();
    add(
        "seed_shares",
        "owner-b-32-byte-seed.json",
        only_b.to_json().into_bytes(),
    );
    let none = encrypt_for_owners(&seed, &salt, &[], &mut rng).unwrap();
    add("seed_shares", "no-owners.json", none.to_json().into_bytes());
    add(
        "seed_shares",
        "go-omitempty.json",
        format!(r#"{{"SeedShares":null,"salt":"{}"}}"#, salt.to_base64()).into_bytes(),
    );
    let mut swapped = both.clone();
    swapped.seed_shares[0].public_key = owner_hex[1].to_ascii_uppercase();
    add(
        "seed_shares",
        "swapped-owner.json",
        swapped.to_json().into_bytes(),
    );

    // key_import: selector ‖ input
    let sel = |s: u8, data: &[u8]| [&[s][..], data].concat();
    add(
        "key_import",
        "0-owner-pkcs8.pem",
        sel(0, owner_a.to_pkcs8_pem().as_bytes()),
    );
    add(
        "key_import",
        "0-rfc7748-alice.pem",
        sel(0, ALICE_PEM.as_bytes()),
    );
    add(
        "key_import",
        "1-workload-pkcs8.pem",
        sel(1, workload.to_pkcs8_pem().as_bytes()),
    );
    let ec_params = "-----BEGIN EC PARAMETERS-----\nBgUrgQQAIg==\n-----END EC PARAMETERS-----\n";
    add(
        "key_import",
        "1-workload-sec1-with-params.pem",
        sel(
            1,
            format!("{ec_params}{}", &*workload.to_sec1_pem()).as_bytes(),
        ),
    );
    add(
        "key_import",
        "1-wrong-kind.pem",
        sel(1, owner_a.to_pkcs8_pem().as_bytes()),
    );
    add(
        "key_import",
        "2-owner-spki.pem",
        sel(2, owner_a.public_key().to_spki_pem().as_bytes()),
    );
    add(
        "key_import",
        "2-owner-spki.der",
        sel(2, &owner_a.public_key().to_spki_der()),
    );
    add("key_import", "2-owner.hex", sel(2, owner_hex[0].as_bytes()));
    add(
        "key_import",
        "3-workload-spki.pem",
        sel(3, workload.public_key().to_spki_pem().as_bytes()),
    );
    add(
        "key_import",
        "3-workload-spki.der",
        sel(3, &workload.public_key().to_spki_der()),
    );
    add(
        "key_import",
        "3-workload.hex",
        sel(3, workload_hex[0].as_bytes()),
    );
    add(
        "key_import",
        "4-owner-pkcs8.der",
        sel(4, owner_a.to_pkcs8_der().expose()),
    );
    add(
        "key_import",
        "4-workload-pkcs8.der",
        sel(4, workload.to_pkcs8_der().expose()),
    );
    add(
        "key_import",
        "4-workload-sec1.der",
        sel(4, workload.to_sec1_der().expose()),
    );
    add("key_import", "5-owner.hex", sel(5, owner_hex[1].as_bytes()));
    add(
        "key_import",
        "5-workload.hex",
        sel(5, workload_hex[0].as_bytes()),
    );

    // proto_requests: selector ‖ message
    let set = pb::SetManifestRequest {
        manifest: template.manifest.clone(),
        policies: template.policies.clone(),
        previous_transition_hash: Some(first.hash().as_bytes().to_vec()),
        signature: workload.sign_transition(second.hash().as_bytes()).unwrap(),
    };
    add(
        "proto_requests",
        "0-set-manifest.bin",
        sel(0, &set.encode_to_vec()),
    );
    let bare = pb::SetManifestRequest {
        manifest: MINIMAL_MANIFEST.to_vec(),
        ..Default::default()
    };
    add(
        "proto_requests",
        "0-set-minimal.bin",
        sel(0, &bare.encode_to_vec()),
    );
    let recover = pb::RecoverRequest {
        challenge_id: vec![0x11; 16],
        owner_public_key: owner_a.public_key().as_bytes().to_vec(),
        encapsulated_key: owner_b.public_key().as_bytes().to_vec(),
        ciphertext: vec![0x5a; 96 + 16],
    };
    add(
        "proto_requests",
        "1-recover.bin",
        sel(1, &recover.encode_to_vec()),
    );
    add("proto_requests", "2-empty.bin", sel(2, &[]));
    let mut parts: Vec<&[u8]> = vec![&template.manifest];
    parts.extend(template.policies.iter().map(Vec::as_slice));
    add(
        "proto_requests",
        "3-template-and-policies.bin",
        sel(3, &joined(&parts)),
    );
    add(
        "proto_requests",
        "3-template-missing-policy.bin",
        sel(3, &joined(&parts[..2])),
    );
    out
}

#[test]
#[ignore = "writes fuzz/corpus/; run it by hand after changing the generator"]
fn write_seed_corpus() {
    write_corpus_files();
}

pub fn write_corpus_files() {
    for (target, name, data) in seed_corpus() {
        let dir = fuzz_dir().join("corpus").join(target);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(name), data).unwrap();
    }
}
