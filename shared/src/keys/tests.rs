use p384::ecdsa::Signature;
use p384::ecdsa::signature::hazmat::PrehashVerifier;
use p384::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rand_core::OsRng;

use super::*;

/// `openssl genpkey -algorithm X25519` (OpenSSL 3.0.19), generated once and pinned.
const OPENSSL_X25519_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VuBCIEIMDh9e8Dgw0Y3/yy8V1pXO+oD1nS+TuBFaF1i/W8ESNV
-----END PRIVATE KEY-----
";
/// `openssl pkey -in x.pem -pubout` of the key above.
const OPENSSL_X25519_PUB_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VuAyEA3ab29B40s/3k+T+kunt4ntiXzisERNHr2KtCe2VWBno=
-----END PUBLIC KEY-----
";
/// `openssl pkey -noout -text` of the key above.
const OPENSSL_X25519_PUB_HEX: &str =
    "dda6f6f41e34b3fde4f93fa4ba7b789ed897ce2b0444d1ebd8ab427b6556067a";

/// RFC 7748 §6.1 Alice's private key, wrapped by hand in PKCS#8 and passed through
/// `openssl pkey -inform DER` (which printed this PEM) and `-pubout`.
const RFC7748_ALICE_SECRET: &str =
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const RFC7748_ALICE_PUBLIC: &str =
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
const OPENSSL_ALICE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VuBCIEIHcHbQpzGKV9PBbBclGyZkXfTC+H68CZKrF3+6UduSwq
-----END PRIVATE KEY-----
";
const OPENSSL_ALICE_PUB_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VuAyEAhSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=
-----END PUBLIC KEY-----
";

/// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384`.
const OPENSSL_P384_PKCS8_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDDWKcEEFmhExdMDA0L2
EEROCGM4zX/GeeIkaTBbsC/w0xR7S+Rbzj/02gjAaWy2hr+hZANiAAT+kDo78bf3
UM80qP+7MP5l7hnvvtAVRQDjv3Qv9sdvvI/dQjh7P1nwWybqSadw9hl9anexmR2J
QPjCYQ9An6nAKMYbVeVkf5vxWAbN7rj2vYP3XdLvF/KrMmMybj91D04=
-----END PRIVATE KEY-----
";
/// `openssl pkey -pubout` of the key above.
const OPENSSL_P384_PKCS8_PUB_PEM: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE/pA6O/G391DPNKj/uzD+Ze4Z777QFUUA
4790L/bHb7yP3UI4ez9Z8Fsm6kmncPYZfWp3sZkdiUD4wmEPQJ+pwCjGG1XlZH+b
8VgGze649r2D913S7xfyqzJjMm4/dQ9O
-----END PUBLIC KEY-----
";
/// `openssl ecparam -name secp384r1 -genkey -noout` (SEC1, as Contrast writes).
const OPENSSL_P384_SEC1_PEM: &str = "-----BEGIN EC PRIVATE KEY-----
MIGkAgEBBDCCgqDfNbo9kj88x7NSU6kGvNs4RBsrLg8Z2oparFUpdU7Hy/MDdTfX
AsQMvcLd0+ugBwYFK4EEACKhZANiAARwbMEeqsDQaKSu+LBuYDk+08prK7EpT+TZ
DAF+2P92fhxUVhJt+wQElzfUC3sDDK4pyrgUnoz8F52ruNFK5jbWg3/CPXN/blB3
+Pp0FiWbGOz5c3eyIjan4HiCuc7MYZY=
-----END EC PRIVATE KEY-----
";
/// `openssl pkey -pubout` of the key above.
const OPENSSL_P384_SEC1_PUB_PEM: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEcGzBHqrA0GikrviwbmA5PtPKayuxKU/k
2QwBftj/dn4cVFYSbfsEBJc31At7AwyuKcq4FJ6M/Bedq7jRSuY21oN/wj1zf25Q
d/j6dBYlmxjs+XN3siI2p+B4grnOzGGW
-----END PUBLIC KEY-----
";
/// `openssl pkcs8 -topk8 -nocrypt` of the SEC1 key above.
const OPENSSL_P384_SEC1_AS_PKCS8_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDCCgqDfNbo9kj88x7NS
U6kGvNs4RBsrLg8Z2oparFUpdU7Hy/MDdTfXAsQMvcLd0+uhZANiAARwbMEeqsDQ
aKSu+LBuYDk+08prK7EpT+TZDAF+2P92fhxUVhJt+wQElzfUC3sDDK4pyrgUnoz8
F52ruNFK5jbWg3/CPXN/blB3+Pp0FiWbGOz5c3eyIjan4HiCuc7MYZY=
-----END PRIVATE KEY-----
";
/// `openssl ecparam -name secp384r1 -genkey` (without -noout: parameters first).
const OPENSSL_P384_WITH_PARAMS_PEM: &str = "-----BEGIN EC PARAMETERS-----
BgUrgQQAIg==
-----END EC PARAMETERS-----
-----BEGIN EC PRIVATE KEY-----
MIGkAgEBBDCjkN/bBSF65ebBclYi+4iEEm1gBLEhwFw51JRodqIpFqY2YkDonSqG
6q+TOYs18cSgBwYFK4EEACKhZANiAAR7hs0cV0FE/5K9Gl8SI8qe/NmGvY49z4GQ
1n2rOcSc8o46IfvEZvo9DC9ET0upbrtw9hlx6Y2/xA95EZtdWh2IicGR2lKd85Gs
6NewQRoea9rTrgyHYQPw0E2gFGJtJGk=
-----END EC PRIVATE KEY-----
";
/// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`.
const OPENSSL_P256_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgXncv16wG34NdnAs7
3cP9wZKVZrDO3vOH+sq+jkZHKwyhRANCAAS3YQzQumEZ/o+95DSdYQvPf60n+09y
L86cH9RBKwZi31AXF8gOA5FkvDnwUcKkbFjIUK7cPMdl/+AU3oCLbEa4
-----END PRIVATE KEY-----
";
/// `openssl genpkey -algorithm ED25519` and its public key.
const OPENSSL_ED25519_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEILJ0a0J9OaHdxKUyGWauf+UPBYdqGv8FZKdZTdOeijot
-----END PRIVATE KEY-----
";
const OPENSSL_ED25519_PUB_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAytkSFGadts+zfg9JXAW2YGNVqkh+CTgL5oBAs2FKV88=
-----END PUBLIC KEY-----
";
/// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024` (PKCS#8).
const OPENSSL_RSA_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIICdQIBADANBgkqhkiG9w0BAQEFAASCAl8wggJbAgEAAoGBAJ0/534lyVHgkeHq
njF2LJ4uqxCwzYlZund8FDw5iaKLUzcV7dCzTRRRh85SGeaNRi5oynXVr7qM1OKh
tUnMUguq7zN1Yth5LRWXJPZxG4akwffnqemgyd639DujvezFEz7+4vxvctEigvbA
VKxedrzKLQO4vA/7zx7XB5dtIzBTAgMBAAECgYAX+FPLUOs9ReQ28dKna4IloquE
4c6S71CTQiC7hXHLiz1mGjukIpDPVhZDhxRXppVaIbMq/yXIZAtXeJrv4utmirOQ
rz8bNYZH/NewcHTL5C2YUEueKCxEwupOvSTgIfZ3II4tDpjRNqUXpgh0h2mCzw4F
VvH6VIKmhL2oM+WIYQJBANBXblnAvA0QN+S9IxJYI1R6jQQ1JAp9J/sL4Nb0jJEW
N2tRsc3MsIWtHD2J58w2J6REzgmBfCUk9/tjYw6XECkCQQDBOIJ15F4B/AbFh9Mp
U+hWPL6ix2CThWzNo6/W/tlxKsTfVbI93bBInyk0OKLZ86YZBZEKbBrSYruAkD5f
8BwbAkBpcncFskj7i6Pef+QKWtW24jgRUxwkuufLZl2sLiYfINF33edSNDF71vwe
IXhSoW469CAcK4879ZQVhl4Sel7RAkAz5r4EdOdbmRsojCeIfmV2ZLLAftXOSpTD
WCivk51M7LQdWaObQqVLnJUw1dXIvc3sArbHGerKgILlMdnPY2vpAkA9NierO3UZ
q1TILyDSAiQdhurIWOJABRAKg6UfCfQZtARiiicSu33UccTGb+uxRkkEwY+T+mlw
fsUr3sHLW1oA
-----END PRIVATE KEY-----
";

// ---- X25519 ----

#[test]
fn openssl_x25519_key_imports_with_the_public_key_openssl_printed() {
    let pair = OwnerKeyPair::from_pkcs8_pem(OPENSSL_X25519_PEM).unwrap();
    assert_eq!(pair.public_key().to_hex(), OPENSSL_X25519_PUB_HEX);
    assert_eq!(
        OwnerPublicKey::from_spki_pem(OPENSSL_X25519_PUB_PEM).unwrap(),
        pair.public_key()
    );
    assert_eq!(pair.public_key().to_spki_pem(), OPENSSL_X25519_PUB_PEM);
}

#[test]
fn our_x25519_pkcs8_pem_is_byte_identical_to_openssls() {
    let pair = OwnerKeyPair::from_pkcs8_pem(OPENSSL_X25519_PEM).unwrap();
    assert_eq!(pair.to_pkcs8_pem().as_str(), OPENSSL_X25519_PEM);

    let secret: [u8; 32] = hex::decode(RFC7748_ALICE_SECRET)
        .unwrap()
        .try_into()
        .unwrap();
    let alice = OwnerKeyPair::from_secret_bytes(secret);
    assert_eq!(alice.public_key().to_hex(), RFC7748_ALICE_PUBLIC);
    assert_eq!(alice.to_pkcs8_pem().as_str(), OPENSSL_ALICE_PEM);
    assert_eq!(alice.public_key().to_spki_pem(), OPENSSL_ALICE_PUB_PEM);
    assert_eq!(
        hex::encode(alice.to_pkcs8_der().expose()),
        format!("302e020100300506032b656e04220420{RFC7748_ALICE_SECRET}")
    );
    assert_eq!(
        hex::encode(alice.public_key().to_spki_der()),
        format!("302a300506032b656e032100{RFC7748_ALICE_PUBLIC}")
    );
}

#[test]
fn generated_owner_keys_round_trip_through_pem() {
    let pair = OwnerKeyPair::generate(&mut OsRng);
    let back = OwnerKeyPair::from_pkcs8_pem(&pair.to_pkcs8_pem()).unwrap();
    assert_eq!(back.public_key(), pair.public_key());
    assert_eq!(back.secret_bytes(), pair.secret_bytes());
    // Clamped like OpenSSL's.
    assert_eq!(pair.secret_bytes()[0] & 7, 0);
    assert_eq!(pair.secret_bytes()[31] & 0xc0, 0x40);
    let public = pair.public_key();
    assert_eq!(OwnerPublicKey::from_hex(&public.to_hex()).unwrap(), public);
    assert_eq!(
        OwnerPublicKey::from_hex(&public.to_hex().to_uppercase()).unwrap(),
        public
    );
    assert_eq!(
        OwnerPublicKey::from_spki_pem(&public.to_spki_pem()).unwrap(),
        public
    );
}

#[test]
fn pkcs8_v2_with_public_key_is_checked() {
    // OneAsymmetricKey v2 (RFC 5958) with [1] publicKey, as some tools write it.
    let secret = hex::decode(RFC7748_ALICE_SECRET).unwrap();
    let public = hex::decode(RFC7748_ALICE_PUBLIC).unwrap();
    let v2 = |pk: &[u8]| {
        let mut der = hex::decode("3051020101300506032b656e04220420").unwrap();
        der.extend_from_slice(&secret);
        der.extend_from_slice(&[0x81, 0x21, 0x00]);
        der.extend_from_slice(pk);
        der
    };
    let pair = OwnerKeyPair::from_pkcs8_der(&v2(&public)).unwrap();
    assert_eq!(pair.public_key().to_hex(), RFC7748_ALICE_PUBLIC);
    let mut wrong = public.clone();
    wrong[0] ^= 1;
    assert_eq!(
        OwnerKeyPair::from_pkcs8_der(&v2(&wrong)).unwrap_err(),
        KeyError::PublicKeyMismatch
    );
}

#[test]
fn fingerprint_is_128_bits_in_eight_groups() {
    let public = OwnerPublicKey::from_hex(OPENSSL_X25519_PUB_HEX).unwrap();
    let fp = public.fingerprint().to_string();
    let digest = Sha256::digest(public.as_bytes());
    assert_eq!(fp.replace(':', ""), hex::encode(&digest[..16]));
    assert_eq!(fp.len(), 39);
    assert!(fp.split(':').all(|group| group.len() == 4), "{fp}");
    assert_eq!(fp.matches(':').count(), 7);
    assert_eq!(
        format!("{:?}", public.fingerprint()),
        format!("Fingerprint({fp})")
    );

    // A P-384 key is fingerprinted over its SPKI DER, the same form as an X.509 key's.
    let workload = WorkloadOwnerPublicKey::from_spki_pem(OPENSSL_P384_SEC1_PUB_PEM).unwrap();
    assert_eq!(
        workload.fingerprint(),
        Fingerprint::of(&workload.to_spki_der())
    );
    let spki_sha256: [u8; 32] = Sha256::digest(workload.to_spki_der()).into();
    assert_eq!(
        Fingerprint::from_sha256(&spki_sha256),
        workload.fingerprint()
    );
}

#[test]
fn owner_hex_errors() {
    assert!(matches!(
        OwnerPublicKey::from_hex("abcd"),
        Err(KeyError::Hex { .. })
    ));
    assert!(matches!(
        OwnerPublicKey::from_hex(&"zz".repeat(32)),
        Err(KeyError::Hex { .. })
    ));
    assert!(matches!(
        OwnerPublicKey::from_hex(&"00".repeat(33)),
        Err(KeyError::Hex { .. })
    ));
}

#[test]
fn low_order_public_keys_are_rejected() {
    // u = 0, u = 1, and the order-8 point from the curve25519 literature.
    for hex in [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    ] {
        assert_eq!(
            OwnerPublicKey::from_hex(hex).unwrap_err(),
            KeyError::LowOrderPublicKey,
            "{hex}"
        );
    }
}

#[test]
fn wrong_key_types_are_named_for_owner_keys() {
    let cases = [
        (OPENSSL_P384_PKCS8_PEM, "an ECDSA P-384 private key"),
        (
            OPENSSL_P384_SEC1_PEM,
            "an ECDSA P-384 private key (SEC1 `EC PRIVATE KEY`)",
        ),
        (OPENSSL_RSA_PEM, "an RSA private key"),
        (OPENSSL_ED25519_PEM, "an Ed25519 private key"),
        (OPENSSL_X25519_PUB_PEM, "an X25519 public key"),
    ];
    for (pem, found) in cases {
        let err = OwnerKeyPair::from_pkcs8_pem(pem).unwrap_err();
        match &err {
            KeyError::WrongKeyType { found: f, expected } => {
                assert_eq!(f, found);
                assert_eq!(*expected, EXPECTED_OWNER_PRIVATE);
            }
            other => panic!("{pem}: {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("X25519"), "{msg}");
    }
    let err = OwnerPublicKey::from_spki_pem(OPENSSL_ED25519_PUB_PEM).unwrap_err();
    assert_eq!(
        err,
        KeyError::WrongKeyType {
            found: "an Ed25519 public key".into(),
            expected: EXPECTED_OWNER_PUBLIC
        }
    );
    assert!(matches!(
        OwnerPublicKey::from_spki_pem(OPENSSL_P384_PKCS8_PUB_PEM),
        Err(KeyError::WrongKeyType { .. })
    ));
}

#[test]
fn not_pem_and_encrypted_pem_are_explained() {
    assert_eq!(
        OwnerKeyPair::from_pkcs8_pem("hello").unwrap_err(),
        KeyError::NoPemBlock {
            expected: PEM_LABEL_PRIVATE_KEY
        }
    );
    assert_eq!(
        OwnerKeyPair::from_pkcs8_pem(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
        )
        .unwrap_err(),
        KeyError::EncryptedKey
    );
    assert!(matches!(
        OwnerKeyPair::from_pkcs8_pem(
            "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n"
        ),
        Err(KeyError::Pem { .. })
    ));
    assert!(matches!(
        OwnerKeyPair::from_pkcs8_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n"),
        Err(KeyError::Pem { .. })
    ));
}

/// Found by fuzzing (fuzz/regressions/key_import/): an X25519 SubjectPublicKeyInfo with
/// NULL algorithm parameters was accepted, so one key had two accepted encodings.
#[test]
fn x25519_spki_with_parameters_is_refused() {
    let key = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    let good = hex::decode(format!("302a300506032b656e032100{key}")).unwrap();
    let with_null = hex::decode(format!("302c300706032b656e0500032100{key}")).unwrap();
    assert_eq!(OwnerPublicKey::from_spki_der(&good).unwrap().to_hex(), key);
    assert!(matches!(
        OwnerPublicKey::from_spki_der(&with_null),
        Err(KeyError::InvalidKey { .. })
    ));
}

/// Found by fuzzing (fuzz/regressions/key_import/): a BEGIN line without its closing
/// dashes made the label run into the base64 lines, which the error then repeated.
#[test]
fn malformed_begin_line_does_not_echo_the_key() {
    let body = "MC4CAQAwBQYDK2VuBCIEIHcHbQpzGKV9PBbBclGyZkXfTC+H68CZKrF3+6UduSwq";
    let pem = format!("-----BEGIN PRIVATE KEY\n{body}\n-----END PRIVATE KEY-----\n");
    for err in [
        OwnerKeyPair::from_pkcs8_pem(&pem).unwrap_err(),
        WorkloadOwnerKeyPair::from_pem(&pem).unwrap_err(),
    ] {
        assert!(matches!(err, KeyError::Pem { .. }), "{err:?}");
        assert!(!err.to_string().contains(body), "{err}");
        assert!(!format!("{err:?}").contains(body), "{err:?}");
    }
    let unterminated = format!("-----BEGIN {body}-----\n{body}\n");
    let err = OwnerKeyPair::from_pkcs8_pem(&unterminated).unwrap_err();
    assert!(!err.to_string().contains(body), "{err}");
}

#[test]
fn private_key_debug_is_redacted() {
    let pair = OwnerKeyPair::from_pkcs8_pem(OPENSSL_X25519_PEM).unwrap();
    let shown = format!("{pair:?} {pair:#?}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(!shown.contains("c0e1f5ef"), "{shown}");
    let workload = WorkloadOwnerKeyPair::from_pem(OPENSSL_P384_SEC1_PEM).unwrap();
    let shown = format!("{workload:?} {workload:#?}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(!shown.contains("8282a0df"), "{shown}");
}

// ---- P-384 ----

#[test]
fn openssl_p384_keys_import_in_all_three_shapes() {
    let pkcs8 = WorkloadOwnerKeyPair::from_pem(OPENSSL_P384_PKCS8_PEM).unwrap();
    assert_eq!(
        pkcs8.public_key(),
        WorkloadOwnerPublicKey::from_spki_pem(OPENSSL_P384_PKCS8_PUB_PEM).unwrap()
    );
    assert_eq!(pkcs8.public_key().to_spki_pem(), OPENSSL_P384_PKCS8_PUB_PEM);
    assert_eq!(pkcs8.to_pkcs8_pem().as_str(), OPENSSL_P384_PKCS8_PEM);

    let sec1 = WorkloadOwnerKeyPair::from_pem(OPENSSL_P384_SEC1_PEM).unwrap();
    assert_eq!(sec1.public_key().to_spki_pem(), OPENSSL_P384_SEC1_PUB_PEM);
    assert_eq!(sec1.to_sec1_pem().as_str(), OPENSSL_P384_SEC1_PEM);
    assert_eq!(sec1.to_pkcs8_pem().as_str(), OPENSSL_P384_SEC1_AS_PKCS8_PEM);

    let with_params = WorkloadOwnerKeyPair::from_pem(OPENSSL_P384_WITH_PARAMS_PEM).unwrap();
    let sec1_block = OPENSSL_P384_WITH_PARAMS_PEM
        .find("-----BEGIN EC PRIVATE KEY")
        .unwrap();
    assert_eq!(
        with_params.to_sec1_pem().as_str(),
        &OPENSSL_P384_WITH_PARAMS_PEM[sec1_block..]
    );
}

#[test]
fn our_p384_encoders_agree_with_the_rustcrypto_ones() {
    let pair = WorkloadOwnerKeyPair::generate(&mut OsRng);
    let secret = p384::SecretKey::from(pair.key.as_nonzero_scalar());
    let theirs = secret.to_pkcs8_der().unwrap();
    assert_eq!(pair.to_pkcs8_der().expose(), theirs.as_bytes());
    let theirs_pub = secret.public_key().to_public_key_der().unwrap();
    assert_eq!(pair.public_key().to_spki_der(), theirs_pub.as_bytes());
    let back = p384::SecretKey::from_pkcs8_der(pair.to_pkcs8_der().expose()).unwrap();
    assert_eq!(back.to_bytes(), secret.to_bytes());
    let sec1 = p384::SecretKey::from_sec1_der(pair.to_sec1_der().expose()).unwrap();
    assert_eq!(sec1.to_bytes(), secret.to_bytes());
    assert_eq!(pair.to_sec1_der().len(), 167);
    assert_eq!(pair.to_pkcs8_der().len(), 185);
    assert_eq!(pair.public_key().to_spki_der().len(), 120);
}

#[test]
fn workload_public_key_hex_round_trips() {
    let public = WorkloadOwnerKeyPair::generate(&mut OsRng).public_key();
    let hex = public.to_hex();
    assert_eq!(hex, hex.to_lowercase());
    assert_eq!(WorkloadOwnerPublicKey::from_hex(&hex).unwrap(), public);
    assert_eq!(
        WorkloadOwnerPublicKey::from_hex(&hex.to_uppercase()).unwrap(),
        public
    );
    assert!(matches!(
        WorkloadOwnerPublicKey::from_hex("xyz"),
        Err(KeyError::Hex { .. })
    ));
}

#[test]
fn sign_verify_round_trip_and_tamper() {
    let pair = WorkloadOwnerKeyPair::generate(&mut OsRng);
    let hash = [0x5a; 32];
    let sig = pair.sign_transition(&hash).unwrap();
    let public = pair.public_key();
    public.verify_transition(&hash, &sig).unwrap();

    let mut other = hash;
    other[31] ^= 1;
    assert!(matches!(
        public.verify_transition(&other, &sig),
        Err(KeyError::BadSignature { .. })
    ));
    for i in 0..sig.len() {
        let mut bad = sig.clone();
        bad[i] ^= 0x01;
        assert!(public.verify_transition(&hash, &bad).is_err(), "byte {i}");
    }
    let stranger = WorkloadOwnerKeyPair::generate(&mut OsRng).public_key();
    assert_eq!(
        stranger.verify_transition(&hash, &sig).unwrap_err(),
        KeyError::BadSignature {
            fingerprint: stranger.fingerprint()
        }
    );
}

#[test]
fn signing_digest_is_sha256_of_lowercase_hex() {
    let hash: [u8; 32] = core::array::from_fn(|i| i as u8 * 7);
    let text = hex::encode(hash);
    assert_eq!(text.len(), 64);
    assert_eq!(
        transition_signing_digest(&hash),
        <[u8; 32]>::from(Sha256::digest(text.as_bytes()))
    );
    // Signature over exactly that digest, verified with the plain RustCrypto API.
    let pair = WorkloadOwnerKeyPair::generate(&mut OsRng);
    let sig = Signature::from_der(&pair.sign_transition(&hash).unwrap()).unwrap();
    pair.key
        .verifying_key()
        .verify_prehash(&transition_signing_digest(&hash), &sig)
        .unwrap();
}

/// `printf %s "$(hex of 0x00,0x07,..)" | openssl dgst -sha256 -sign p384_sec1.pem`:
/// an OpenSSL-made signature over the same digest verifies.
#[test]
fn openssl_signature_verifies() {
    let hash: [u8; 32] = core::array::from_fn(|i| i as u8 * 7);
    let public = WorkloadOwnerPublicKey::from_spki_pem(OPENSSL_P384_SEC1_PUB_PEM).unwrap();
    let sig = hex::decode(OPENSSL_TRANSITION_SIGNATURE).unwrap();
    public.verify_transition(&hash, &sig).unwrap();
}

const OPENSSL_TRANSITION_SIGNATURE: &str = "3066023100efdb1927182ca4a47e65ce630743b4060bf47bf0dad468c2c1e4015261f85436b3549731497d3884f96b75e346bb72b5023100807e30029ca27a2362b49fa4827619c7ea5328888ce51a49bcdab55e93a5e0faae417bcd2d556fbd8d520f6482753321";

#[test]
fn wrong_key_types_are_named_for_workload_keys() {
    let cases = [
        (OPENSSL_X25519_PEM, "an X25519 private key"),
        (OPENSSL_P256_PEM, "an ECDSA P-256 private key"),
        (OPENSSL_RSA_PEM, "an RSA private key"),
        (OPENSSL_ED25519_PEM, "an Ed25519 private key"),
    ];
    for (pem, found) in cases {
        assert_eq!(
            WorkloadOwnerKeyPair::from_pem(pem).unwrap_err(),
            KeyError::WrongKeyType {
                found: found.into(),
                expected: EXPECTED_WORKLOAD_PRIVATE
            },
            "{pem}"
        );
    }
    assert_eq!(
        WorkloadOwnerPublicKey::from_spki_pem(OPENSSL_X25519_PUB_PEM).unwrap_err(),
        KeyError::WrongKeyType {
            found: "an X25519 public key".into(),
            expected: EXPECTED_WORKLOAD_PUBLIC
        }
    );
    assert_eq!(
        WorkloadOwnerKeyPair::from_pem(OPENSSL_P384_PKCS8_PUB_PEM).unwrap_err(),
        KeyError::WrongKeyType {
            found: "an ECDSA P-384 public key".into(),
            expected: EXPECTED_WORKLOAD_PRIVATE
        }
    );
}
