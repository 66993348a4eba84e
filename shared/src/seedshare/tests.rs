use super::*;
use proptest::prelude::*;
use rand_core::{OsRng, RngCore};

/// Replays fixed bytes as "randomness", to reproduce published HPKE vectors.
pub(crate) struct FixedRng(pub(crate) Vec<u8>);

impl RngCore for FixedRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert!(dest.len() <= self.0.len(), "FixedRng ran out of bytes");
        let rest = self.0.split_off(dest.len());
        dest.copy_from_slice(&self.0);
        self.0 = rest;
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for FixedRng {}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

// RFC 9180 Appendix A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
// ChaCha20Poly1305, mode 0 (base), first encryption (sequence number 0).
const A2_INFO: &str = "4f6465206f6e2061204772656369616e2055726e";
const A2_IKM_E: &str = "909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b";
const A2_IKM_R: &str = "1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df";
const A2_PK_RM: &str = "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a";
const A2_SK_RM: &str = "8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb";
const A2_ENC: &str = "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a";
const A2_PT: &str = "4265617574792069732074727574682c20747275746820626561757479";
const A2_AAD0: &str = "436f756e742d30";
const A2_CT0: &str =
    "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28";

#[test]
fn rfc9180_a2_1_base_mode_vector() {
    let (sk_r, pk_r) = Kem::derive_keypair(&h(A2_IKM_R));
    assert_eq!(hex::encode(pk_r.to_bytes()), A2_PK_RM);
    // RFC 9180 §7.1.2 says SerializePrivateKey clamps, and the hpke crate does; the
    // published skRm is the unclamped scalar, so compare after clamping both.
    let published = <Kem as hpke::Kem>::PrivateKey::from_bytes(&h(A2_SK_RM)).unwrap();
    assert_eq!(sk_r.to_bytes(), published.to_bytes());

    // Sender side, with ikmE replayed as the RNG output through our RNG bridge.
    let mut rng = FixedRng(h(A2_IKM_E));
    let (enc, ct) = hpke::single_shot_seal_with_rng::<Aead, Kdf, Kem>(
        &OpModeS::Base,
        &pk_r,
        &h(A2_INFO),
        &h(A2_PT),
        &h(A2_AAD0),
        &mut HpkeRng(&mut rng),
    )
    .unwrap();
    assert_eq!(hex::encode(enc.to_bytes()), A2_ENC);
    assert_eq!(hex::encode(&ct), A2_CT0);

    // Receiver side, through the owner key type this crate uses.
    let owner = OwnerKeyPair::from_secret_bytes(h(A2_SK_RM).try_into().unwrap());
    assert_eq!(owner.public_key().to_hex(), A2_PK_RM);
    let private = hpke_private_key(&owner).unwrap();
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&h(A2_ENC)).unwrap();
    let pt = hpke::single_shot_open::<Aead, Kdf, Kem>(
        &OpModeR::Base,
        &private,
        &enc,
        &h(A2_INFO),
        &h(A2_CT0),
        &h(A2_AAD0),
    )
    .unwrap();
    assert_eq!(hex::encode(pt), A2_PT);
}

/// The same keys through `seal_seed`: with ikmE as the RNG, `enc` is the RFC's.
#[test]
fn seal_seed_uses_the_rfc_key_schedule() {
    let owner = OwnerKeyPair::from_secret_bytes(h(A2_SK_RM).try_into().unwrap());
    let seed = Seed::copy_from(&[0x42; 64]).unwrap();
    let share = seal_seed(&seed, &owner.public_key(), &mut FixedRng(h(A2_IKM_E))).unwrap();
    assert_eq!(hex::encode(&share.encrypted_seed[..32]), A2_ENC);
    assert_eq!(share.encrypted_seed.len(), 32 + 64 + 16);
    assert_eq!(share.public_key, A2_PK_RM);
    assert_eq!(open_seed(&share, &owner).unwrap(), seed);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn open_inverts_seal(seed in proptest::collection::vec(any::<u8>(), 32..=128)) {
        let owner = OwnerKeyPair::generate(&mut OsRng);
        let seed = Seed::copy_from(&seed).unwrap();
        let share = seal_seed(&seed, &owner.public_key(), &mut OsRng).unwrap();
        prop_assert_eq!(share.encrypted_seed.len(), ENC_LEN + seed.len() + TAG_LEN);
        prop_assert_eq!(open_seed(&share, &owner).unwrap(), seed);
    }
}

#[test]
fn flipping_any_byte_of_encrypted_seed_fails() {
    let owner = OwnerKeyPair::generate(&mut OsRng);
    let seed = Seed::generate(&mut OsRng);
    let share = seal_seed(&seed, &owner.public_key(), &mut OsRng).unwrap();
    for i in 0..share.encrypted_seed.len() {
        let mut bad = share.clone();
        bad.encrypted_seed[i] ^= 0x80;
        assert_eq!(
            open_seed(&bad, &owner).unwrap_err(),
            SeedShareError::Decrypt {
                fingerprint: owner.public_key().fingerprint()
            },
            "byte {i}"
        );
    }
    let mut short = share.clone();
    short.encrypted_seed.truncate(40);
    assert!(matches!(
        open_seed(&short, &owner),
        Err(SeedShareError::Decrypt { .. })
    ));
}

#[test]
fn wrong_key_fails() {
    let owner = OwnerKeyPair::generate(&mut OsRng);
    let other = OwnerKeyPair::generate(&mut OsRng);
    let seed = Seed::generate(&mut OsRng);
    let share = seal_seed(&seed, &owner.public_key(), &mut OsRng).unwrap();
    // The share names its owner: a precise error before any decryption.
    assert_eq!(
        open_seed(&share, &other).unwrap_err(),
        SeedShareError::WrongOwnerKey {
            tried: other.public_key().fingerprint(),
            share_for: owner.public_key().fingerprint(),
        }
    );
    // A share relabelled for the other key still does not open: coarse error.
    let mut relabelled = share.clone();
    relabelled.public_key = other.public_key().to_hex();
    assert_eq!(
        open_seed(&relabelled, &other).unwrap_err(),
        SeedShareError::Decrypt {
            fingerprint: other.public_key().fingerprint()
        }
    );
    let msg = open_seed(&relabelled, &other).unwrap_err().to_string();
    assert!(
        msg.contains(&other.public_key().fingerprint().to_string()),
        "{msg}"
    );
    assert!(msg.contains("wrong owner key"), "{msg}");
}

/// `openssl genpkey -algorithm X25519` key from the `keys` tests.
#[test]
fn share_for_openssl_generated_key_opens() {
    let pem = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VuBCIEIMDh9e8Dgw0Y3/yy8V1pXO+oD1nS+TuBFaF1i/W8ESNV
-----END PRIVATE KEY-----
";
    let public = OwnerPublicKey::from_spki_pem(
        "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VuAyEA3ab29B40s/3k+T+kunt4ntiXzisERNHr2KtCe2VWBno=
-----END PUBLIC KEY-----
",
    )
    .unwrap();
    let seed = Seed::generate(&mut OsRng);
    let salt = Salt::generate(&mut OsRng);
    let doc = encrypt_for_owners(&seed, &salt, &[public], &mut OsRng).unwrap();
    let owner = OwnerKeyPair::from_pkcs8_pem(pem).unwrap();
    let (opened, opened_salt) = doc.open_with(&owner).unwrap();
    assert_eq!(opened, seed);
    assert_eq!(opened_salt, salt);
}

#[test]
fn open_with_finds_the_share_or_lists_the_present_keys() {
    let a = OwnerKeyPair::generate(&mut OsRng);
    let b = OwnerKeyPair::generate(&mut OsRng);
    let stranger = OwnerKeyPair::generate(&mut OsRng);
    let seed = Seed::generate(&mut OsRng);
    let salt = Salt::generate(&mut OsRng);
    let doc =
        encrypt_for_owners(&seed, &salt, &[a.public_key(), b.public_key()], &mut OsRng).unwrap();
    assert_eq!(doc.seed_shares.len(), 2);
    assert_eq!(doc.open_with(&b).unwrap(), (seed.clone(), salt));
    assert_eq!(doc.open_with(&a).unwrap().0, seed);
    let err = doc.open_with(&stranger).unwrap_err();
    assert_eq!(
        err,
        SeedShareError::NoShareForKey {
            fingerprint: stranger.public_key().fingerprint(),
            present: format!(
                "{}, {}",
                a.public_key().fingerprint(),
                b.public_key().fingerprint()
            ),
        }
    );
    // An uppercase PublicKey still matches (keys are compared, not strings).
    let mut upper = doc.clone();
    upper.seed_shares[1].public_key = upper.seed_shares[1].public_key.to_uppercase();
    assert_eq!(upper.open_with(&b).unwrap().0, seed);
}

#[test]
fn json_has_the_contrast_shape_and_round_trips_byte_exact() {
    let owner = OwnerKeyPair::generate(&mut OsRng);
    let doc = encrypt_for_owners(
        &Seed::generate(&mut OsRng),
        &Salt::generate(&mut OsRng),
        &[owner.public_key()],
        &mut OsRng,
    )
    .unwrap();
    let json = doc.to_json();
    let expected = format!(
        "{{\n  \"SeedShares\": [\n    {{\n      \"PublicKey\": \"{}\",\n      \"EncryptedSeed\": \"{}\"\n    }}\n  ],\n  \"salt\": \"{}\"\n}}\n",
        owner.public_key().to_hex(),
        BASE64.encode(&doc.seed_shares[0].encrypted_seed),
        doc.salt.to_base64()
    );
    assert_eq!(json, expected);
    let back = SeedShareDocument::from_json(&json).unwrap();
    assert_eq!(back, doc);
    assert_eq!(back.to_json(), json);
    // The serde Serialize impl agrees with to_json.
    assert_eq!(
        format!("{}\n", serde_json::to_string_pretty(&doc).unwrap()),
        json
    );
    // Compact JSON (as Contrast's CLI writes it) reads the same.
    let compact = serde_json::to_string(&doc).unwrap();
    assert!(
        compact.starts_with("{\"SeedShares\":[{\"PublicKey\":\""),
        "{compact}"
    );
    assert_eq!(SeedShareDocument::from_json(&compact).unwrap(), doc);
}

#[test]
fn json_is_strict() {
    let salt = BASE64.encode([7u8; 32]);
    let key = OwnerKeyPair::generate(&mut OsRng).public_key().to_hex();
    let err = |text: &str| match SeedShareDocument::from_json(text).unwrap_err() {
        SeedShareError::Json { reason } => reason,
        other => panic!("{other:?}"),
    };
    let r = err(&format!(r#"{{"SeedShares":[],"salt":"{salt}","Extra":1}}"#));
    assert!(r.contains("unknown field `Extra`"), "{r}");
    let r = err(&format!(
        r#"{{"SeedShares":[{{"PublicKey":"{key}","EncryptedSeed":"AAAA","x":1}}],"salt":"{salt}"}}"#
    ));
    assert!(r.contains("unknown field `x`"), "{r}");
    let r = err(&format!(
        r#"{{"SeedShares":[{{"PublicKey":"{key}","EncryptedSeed":"!!"}}],"salt":"{salt}"}}"#
    ));
    assert!(r.contains("EncryptedSeed is not standard base64"), "{r}");
    let r = err(r#"{"SeedShares":[],"salt":"%%%%"}"#);
    assert!(r.contains("salt is not standard base64"), "{r}");
    let r = err(r#"{"SeedShares":[],"salt":"AAAA"}"#);
    assert!(r.contains("salt is 3 bytes, it must be 32"), "{r}");
    let r = err(r#"{"SeedShares":[]}"#);
    assert!(r.contains("missing field `salt`"), "{r}");
    let r = err(&format!(r#"{{"seedShares":[],"salt":"{salt}"}}"#));
    assert!(r.contains("unknown field `seedShares`"), "{r}");
    let r = err(&format!(
        r#"{{"SeedShares":[{{"PublicKey":"abcd","EncryptedSeed":"AAAA"}}],"salt":"{salt}"}}"#
    ));
    assert!(r.contains("SeedShares[0].PublicKey"), "{r}");
    // Go's omitempty: zero owners may come as a missing or null list.
    for text in [
        format!(r#"{{"salt":"{salt}"}}"#),
        format!(r#"{{"SeedShares":null,"salt":"{salt}"}}"#),
    ] {
        let doc = SeedShareDocument::from_json(&text).unwrap();
        assert!(doc.seed_shares.is_empty());
    }
}

#[test]
fn errors_show_no_secret_bytes() {
    let owner = OwnerKeyPair::generate(&mut OsRng);
    let seed = Seed::copy_from(&[0xcd; 64]).unwrap();
    let mut share = seal_seed(&seed, &owner.public_key(), &mut OsRng).unwrap();
    share.encrypted_seed[40] ^= 1;
    let err = open_seed(&share, &owner).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("cdcd"), "{shown}");
}

/// The worked example of docs/FORMATS.md ("Seed shares"): the KAT seed
/// sealed to RFC 7748 Alice's key with ikmE = 00..1f. pyca/cryptography's HPKE
/// (an independent implementation) decrypts it, and a from-the-RFC Python key
/// schedule reproduces it byte for byte.
#[test]
fn formats_md_worked_example() {
    let alice = OwnerKeyPair::from_secret_bytes(
        h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
            .try_into()
            .unwrap(),
    );
    let seed = Seed::copy_from(&h(KAT_SEED)).unwrap();
    let salt = Salt::from_hex(KAT_SALT).unwrap();
    let doc = encrypt_for_owners(
        &seed,
        &salt,
        &[alice.public_key()],
        &mut FixedRng((0u8..32).collect()),
    )
    .unwrap();
    assert_eq!(
        hex::encode(&doc.seed_shares[0].encrypted_seed),
        "b1f1b840de7a3241b02748cf9b05b74dc8c5e8451298738817bd76aa8ebe8c2b\
             dda2146898504e185cf497a9dc4cb46bdb45cc56ccdb27df2acb10bf5ae65dba\
             56a41f5d20bd3c4df95ef8db25c3ec1b"
    );
    assert_eq!(doc.to_json(), FORMATS_MD_SEED_SHARES_JSON);
    assert_eq!(
        SeedShareDocument::from_json(FORMATS_MD_SEED_SHARES_JSON)
            .unwrap()
            .open_with(&alice)
            .unwrap(),
        (seed, salt)
    );
    assert_eq!(
        alice.public_key().fingerprint().to_string(),
        "300c:9c96:03b9:2a4b:39ed:3958:bf92:4011"
    );
}

fn owners(n: u8) -> Vec<OwnerKeyPair> {
    (1..=n)
        .map(|_| OwnerKeyPair::generate(&mut OsRng))
        .collect()
}

fn publics(owners: &[OwnerKeyPair]) -> Vec<OwnerPublicKey> {
    owners.iter().map(OwnerKeyPair::public_key).collect()
}

#[test]
fn threshold_one_is_the_whole_seed_document() {
    let owners = owners(2);
    let seed = Seed::generate(&mut OsRng);
    let salt = Salt::generate(&mut OsRng);
    let doc = shares_for_owners(&seed, &salt, &publics(&owners), 1, &mut OsRng).unwrap();
    assert_eq!(doc.threshold, None);
    assert!(doc.commitments().is_none());
    let json = doc.to_json();
    assert!(
        !json.contains("Threshold") && !json.contains("ShareIndex"),
        "{json}"
    );
    assert_eq!(doc.open_with(&owners[1]).unwrap(), (seed, salt));
}

#[test]
fn threshold_document_round_trips_and_any_two_of_three_recombine() {
    let owners = owners(3);
    let seed = Seed::generate(&mut OsRng);
    let salt = Salt::generate(&mut OsRng);
    let doc = shares_for_owners(&seed, &salt, &publics(&owners), 2, &mut OsRng).unwrap();
    let json = doc.to_json();
    let back = SeedShareDocument::from_json(&json).unwrap();
    assert_eq!(back, doc);
    assert_eq!(back.to_json(), json);
    assert_eq!(
        format!("{}\n", serde_json::to_string_pretty(&doc).unwrap()),
        json,
        "serde and to_json agree"
    );
    assert!(
        json.contains("\n  \"Threshold\": 2,\n  \"HistorySigningKey\": \""),
        "{json}"
    );
    // The public key the seed derives, compressed.
    let engine = crate::seed::SeedEngine::new(&seed, &salt).unwrap();
    assert_eq!(
        back.history_signing_key().unwrap(),
        Some(*engine.transaction_verifying_key())
    );
    // Only in threshold documents, and only a P-384 point.
    let whole = json.replace("\"Threshold\": 2,", "");
    let whole = whole.replace("\"ShareIndex\"", "\"x\"");
    assert!(SeedShareDocument::from_json(&whole).is_err());
    let bad = json.replace(
        doc.history_signing_key.as_deref().unwrap(),
        &"00".repeat(49),
    );
    let err = SeedShareDocument::from_json(&bad).unwrap_err();
    assert!(err.to_string().contains("HistorySigningKey"), "{err}");
    for (i, share) in doc.seed_shares.iter().enumerate() {
        assert_eq!(share.share_index, Some(i as u8 + 1));
        assert_eq!(share.encrypted_seed.len(), ENC_LEN + 1 + 64 + 32 + TAG_LEN);
    }
    // One owner alone: the drill passes, the seed stays out of reach.
    assert_eq!(
        doc.open_with(&owners[0]).unwrap_err(),
        SeedShareError::ThresholdShare {
            threshold: 2,
            owners: 3
        }
    );
    let shares: Vec<KeyShare> = owners
        .iter()
        .map(|o| doc.open_key_share_with(o).unwrap())
        .collect();
    for pair in [[0, 1], [0, 2], [2, 1]] {
        let chosen = [shares[pair[0]].clone(), shares[pair[1]].clone()];
        assert_eq!(
            threshold::combine(&chosen, 2).unwrap(),
            (seed.clone(), salt)
        );
    }
    let record = doc.commitments().unwrap();
    assert_eq!(record.threshold, 2);
    assert_eq!(record.entries.len(), 3);
    assert!(shares[2].matches(&record.of(&owners[2].public_key()).unwrap().commitment));
}

#[test]
fn a_share_that_is_not_its_commitment_is_named() {
    let owners = owners(2);
    let seed = Seed::generate(&mut OsRng);
    let salt = Salt::generate(&mut OsRng);
    let mut doc = shares_for_owners(&seed, &salt, &publics(&owners), 2, &mut OsRng).unwrap();
    doc.seed_shares[1].share_commitment = Some([0; 32]);
    assert_eq!(
        doc.open_key_share_with(&owners[1]).unwrap_err(),
        SeedShareError::CommitmentMismatch {
            fingerprint: owners[1].public_key().fingerprint(),
            index: 2
        }
    );
    // Owner 1's share sealed to owner 2 in owner 2's place: decrypts, wrong index.
    let mut swapped = shares_for_owners(&seed, &salt, &publics(&owners), 2, &mut OsRng).unwrap();
    let share0 = swapped.open_key_share_with(&owners[0]).unwrap();
    let mut resealed = seal_bytes(
        share0.expose(),
        THRESHOLD_SHARE_INFO,
        &owners[1].public_key(),
        &mut OsRng,
    )
    .unwrap();
    resealed.share_index = swapped.seed_shares[1].share_index;
    resealed.share_commitment = swapped.seed_shares[1].share_commitment;
    swapped.seed_shares[1] = resealed;
    assert!(matches!(
        swapped.open_key_share_with(&owners[1]),
        Err(SeedShareError::CommitmentMismatch { index: 2, .. })
    ));
}

#[test]
fn threshold_documents_are_strict() {
    let owners = owners(3);
    let doc = shares_for_owners(
        &Seed::generate(&mut OsRng),
        &Salt::generate(&mut OsRng),
        &publics(&owners),
        2,
        &mut OsRng,
    )
    .unwrap();
    let reason = |doc: &SeedShareDocument| match SeedShareDocument::from_json(&doc.to_json()) {
        Err(SeedShareError::Json { reason }) => reason,
        other => panic!("{other:?}"),
    };
    let mut bad = doc.clone();
    bad.threshold = Some(4);
    assert!(reason(&bad).contains("Threshold is 4"));
    let mut bad = doc.clone();
    bad.threshold = None;
    assert!(reason(&bad).contains("has no Threshold"));
    let mut bad = doc.clone();
    bad.seed_shares.swap(0, 1);
    assert!(reason(&bad).contains("SeedShares[0].ShareIndex is 2, expected 1"));
    let mut bad = doc.clone();
    bad.seed_shares[2].share_commitment = None;
    assert!(reason(&bad).contains("SeedShares[2] needs ShareIndex and ShareCommitment"));
    let text = doc
        .to_json()
        .replacen("\"ShareCommitment\": \"", "\"ShareCommitment\": \"zz", 1);
    assert!(SeedShareDocument::from_json(&text).is_err());
}

const KAT_SEED: &str = "ccebed634ddee7535cd593e1e200b19b780f3906d8782207fa09c59e87a07cb3";
const KAT_SALT: &str = "8c1b1225c5f6cb7eef6dbd8f77a1e1e149de031d6e3718e660a8b04c8e2b0037";
const FORMATS_MD_SEED_SHARES_JSON: &str = r#"{
  "SeedShares": [
    {
      "PublicKey": "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
      "EncryptedSeed": "sfG4QN56MkGwJ0jPmwW3TcjF6EUSmHOIF712qo6+jCvdohRomFBOGFz0l6ncTLRr20XMVszbJ98qyxC/WuZdulakH10gvTxN+V742yXD7Bs="
    }
  ],
  "salt": "jBsSJcX2y37vbb2Pd6Hh4UneAx1uNxjmYKiwTI4rADc="
}
"#;

/// A share made by pyca/cryptography 48 (`hpke.Suite(KEM.X25519, KDF.HKDF_SHA256,
/// AEAD.CHACHA20_POLY1305).encrypt(seed, public_key, info=b"seedshare")`, which
/// returns enc ‖ ct) for the OpenSSL-generated owner key: interop with another
/// HPKE implementation.
#[test]
fn share_made_by_pyca_cryptography_opens() {
    let owner = OwnerKeyPair::from_pkcs8_pem(
        "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VuBCIEIMDh9e8Dgw0Y3/yy8V1pXO+oD1nS+TuBFaF1i/W8ESNV
-----END PRIVATE KEY-----
",
    )
    .unwrap();
    let json = format!(
        r#"{{"SeedShares":[{{"PublicKey":"{}","EncryptedSeed":"ZP41dP3SONu5wV0mvN+SllsKq+DBVJnthcc4WQJkowDiotVGugg24eEolklP97XQ0FNNo30F3UMdMC4V2bddUrzWpI6vEMKKYFwOSAvxRSU="}}],"salt":"{}"}}"#,
        owner.public_key().to_hex(),
        Salt::from_hex(KAT_SALT).unwrap().to_base64()
    );
    let (seed, _) = SeedShareDocument::from_json(&json)
        .unwrap()
        .open_with(&owner)
        .unwrap();
    assert_eq!(hex::encode(seed.expose()), KAT_SEED);
}
