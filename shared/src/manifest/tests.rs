use p384::elliptic_curve::sec1::ToEncodedPoint;
use p384::pkcs8::EncodePublicKey;
use proptest::prelude::*;
use serde_json::json;

use super::*;

fn p384_key(k: u8) -> p384::PublicKey {
    let sk = p384::SecretKey::from_slice(&[k; 48]).expect("scalar in range");
    sk.public_key()
}

fn p384_hex(k: u8) -> String {
    hex::encode(p384_key(k).to_public_key_der().expect("encode").as_bytes())
}

/// The same key as a SubjectPublicKeyInfo with a compressed point.
fn p384_compressed_hex(k: u8) -> String {
    let point = p384_key(k).to_encoded_point(true);
    format!(
        "3046301006072a8648ce3d020106052b81040022033200{}",
        hex::encode(point.as_bytes())
    )
}

fn x25519_hex(k: u8) -> String {
    let secret = x25519_dalek::StaticSecret::from([k; 32]);
    hex::encode(x25519_dalek::PublicKey::from(&secret).as_bytes())
}

fn h(s: &str) -> String {
    Digest::of(s.as_bytes()).to_string()
}

fn manifest(value: &Value) -> Manifest {
    Manifest::parse(value.to_string().into_bytes()).expect("well-formed")
}

fn valid_value() -> Value {
    json!({
        "Policies": {
            h("coordinator"): {"SANs": ["coordinator"], "Role": "coordinator"},
            h("web"): {"SANs": ["web", "*.web"], "WorkloadSecretID": "web"},
        },
        "ReferenceValues": {"snp": [{
            "ProductName": "Milan",
            "TrustedMeasurement": "ab".repeat(48),
            "MinimumTCB": {"BootloaderVersion": 3, "TEEVersion": 0, "SNPVersion": 8, "MicrocodeVersion": 115}
        }]},
        "WorkloadOwnerPubKeys": [p384_hex(1)],
        "SeedshareOwnerPubKeys": [x25519_hex(1), x25519_hex(2)],
    })
}

fn parse_err(text: &str) -> ManifestError {
    Manifest::parse(text.as_bytes().to_vec()).expect_err("must not parse")
}

fn issues(value: &Value) -> Vec<ValidationIssue> {
    manifest(value)
        .validate()
        .expect_err("must not validate")
        .into_issues()
}

// --- raw bytes and hashing ---------------------------------------------------------------------

#[test]
fn keeps_raw_bytes_and_hashes_them_exactly() {
    let compact = valid_value().to_string().into_bytes();
    let pretty = format!("{:#}\n", valid_value()).into_bytes();
    let a = Manifest::parse(compact.clone()).expect("parse");
    let b = Manifest::parse(pretty.clone()).expect("parse");
    assert_eq!(a.raw(), compact.as_slice());
    assert_eq!(b.raw(), pretty.as_slice());
    assert_eq!(a.hash(), Digest::of(&compact));
    assert_eq!(b.hash(), Digest::of(&pretty));
    assert_ne!(a.hash(), b.hash(), "formatting is part of the hash");
    assert_ne!(a, b);
    assert!(
        ManifestDiff::between(&a, &b).is_empty(),
        "but not of the meaning"
    );
    assert_eq!(a.clone().into_raw(), compact);
}

#[test]
fn manifest_hash_known_answer() {
    // The smallest valid manifest; its hash is what the worked example in docs/FORMATS.md uses.
    let raw = br#"{"Policies":{},"ReferenceValues":{},"WorkloadOwnerPubKeys":[],"SeedshareOwnerPubKeys":[]}"#;
    let m = Manifest::parse(raw.to_vec()).expect("parse");
    m.validate().expect("valid");
    assert_eq!(
        m.hash().to_string(),
        "1bf8b4d0025aee4150e4c589dd8cccaef14f1dd86e3b7847a81b5b7009dbb408"
    );
}

#[test]
fn model_fields() {
    let m = manifest(&valid_value());
    m.validate().expect("valid");
    let web = &m.policies()[&h("web")];
    assert_eq!(web.sans, ["web", "*.web"]);
    assert_eq!(web.workload_secret_id.as_deref(), Some("web"));
    assert_eq!(web.role, Role::None);
    assert_eq!(m.policies()[&h("coordinator")].role, Role::Coordinator);
    assert_eq!(
        m.reference_values()["snp"][0]["MinimumTCB"]["BootloaderVersion"],
        3
    );
    let reference = m.reference().expect("reference values");
    assert_eq!(reference.snp[0].minimum_tcb.bootloader, 3);
    assert_eq!(
        m.coordinator_policy_hash(),
        Some(Digest::of(b"coordinator"))
    );
    assert_eq!(m.workload_owner_pub_keys(), [p384_hex(1)]);
    assert_eq!(m.seedshare_owner_keys().expect("keys").len(), 2);
    assert_eq!(m.workload_owner_keys().expect("keys"), [p384_key(1)]);
    let mut hashes = vec![Digest::of(b"coordinator"), Digest::of(b"web")];
    hashes.sort();
    assert_eq!(m.policy_hashes().expect("hashes"), hashes);
    assert!(m.warnings().is_empty());
}

#[test]
fn empty_workload_secret_id_and_role_mean_none() {
    let m = manifest(&json!({
        "Policies": {h("a"): {"SANs": [], "WorkloadSecretID": "", "Role": ""}},
        "ReferenceValues": {}, "WorkloadOwnerPubKeys": [], "SeedshareOwnerPubKeys": [],
    }));
    let entry = &m.policies()[&h("a")];
    assert_eq!(entry.workload_secret_id, None);
    assert_eq!(entry.role, Role::None);
    // Whitespace is an ID (Contrast's seed engine has a KAT for it).
    let m = manifest(&json!({
        "Policies": {h("a"): {"SANs": [], "WorkloadSecretID": " "}},
        "ReferenceValues": {}, "WorkloadOwnerPubKeys": [], "SeedshareOwnerPubKeys": [],
    }));
    assert_eq!(
        m.policies()[&h("a")].workload_secret_id.as_deref(),
        Some(" ")
    );
}

// --- well-formedness -----------------------------------------------------------------------------

#[test]
fn unknown_policy_field_names_path_and_suggests() {
    let key = h("web");
    let mut v = valid_value();
    v["Policies"][&key] = json!({"Sans": ["web"]});
    let err = parse_err(&v.to_string());
    assert_eq!(
        err,
        ManifestError::UnknownField {
            path: format!("Policies.{key}.Sans"),
            field: "Sans".into(),
            expected: POLICY_FIELDS,
            suggestion: Some("SANs"),
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "unknown field `Sans` at `Policies.{key}.Sans`, expected one of `SANs`, `WorkloadSecretID`, `Role` (did you mean `SANs`? field names are case-sensitive)"
        )
    );
}

#[test]
fn unknown_top_level_field() {
    let mut v = valid_value();
    v["Extra"] = json!(1);
    assert_eq!(
        parse_err(&v.to_string()),
        ManifestError::UnknownField {
            path: "Extra".into(),
            field: "Extra".into(),
            expected: TOP_FIELDS,
            suggestion: None,
        }
    );
}

#[test]
fn field_names_are_case_sensitive() {
    // Contrast's "broken manifest" test: Go binds `policies` to `Policies`; Seedward refuses
    // and says why.
    let err = parse_err(r#"{ "policies": 1 }"#);
    assert_eq!(
        err,
        ManifestError::UnknownField {
            path: "policies".into(),
            field: "policies".into(),
            expected: TOP_FIELDS,
            suggestion: Some("Policies"),
        }
    );
}

#[test]
fn missing_fields() {
    let mut v = valid_value();
    v.as_object_mut().expect("object").remove("ReferenceValues");
    let err = parse_err(&v.to_string());
    assert_eq!(
        err,
        ManifestError::MissingField {
            path: String::new(),
            field: "ReferenceValues"
        }
    );
    assert_eq!(
        err.to_string(),
        "the manifest has no field `ReferenceValues`; add it (an empty value is fine)"
    );
    let mut v = valid_value();
    v["Policies"][h("web")] = json!({"Role": "coordinator"});
    assert_eq!(
        parse_err(&v.to_string()),
        ManifestError::MissingField {
            path: format!("Policies.{}", h("web")),
            field: "SANs"
        }
    );
}

#[test]
fn wrong_types_name_the_path() {
    let cases: Vec<(Value, &str, &str, &str)> = vec![
        (json!([]), "", "an object", "an array"),
        (
            json!({"Policies": 1, "ReferenceValues": {}, "WorkloadOwnerPubKeys": [], "SeedshareOwnerPubKeys": []}),
            "Policies",
            "an object",
            "a number",
        ),
        (
            json!({"Policies": {}, "ReferenceValues": [], "WorkloadOwnerPubKeys": [], "SeedshareOwnerPubKeys": []}),
            "ReferenceValues",
            "an object",
            "an array",
        ),
        (
            json!({"Policies": {}, "ReferenceValues": {}, "WorkloadOwnerPubKeys": null, "SeedshareOwnerPubKeys": []}),
            "WorkloadOwnerPubKeys",
            "an array of strings (use [] for none)",
            "null",
        ),
        (
            json!({"Policies": {}, "ReferenceValues": {}, "WorkloadOwnerPubKeys": [], "SeedshareOwnerPubKeys": ["ab", 7]}),
            "SeedshareOwnerPubKeys[1]",
            "a string",
            "a number",
        ),
        (
            json!({"Policies": {"x": {"SANs": ["a", true]}}, "ReferenceValues": {}, "WorkloadOwnerPubKeys": [], "SeedshareOwnerPubKeys": []}),
            "Policies.x.SANs[1]",
            "a string",
            "a boolean",
        ),
        (
            json!({"Policies": {"x": {"SANs": [], "Role": null}}, "ReferenceValues": {}, "WorkloadOwnerPubKeys": [], "SeedshareOwnerPubKeys": []}),
            "Policies.x.Role",
            "a string",
            "null",
        ),
        (
            json!({"Policies": {"x": {"SANs": [], "WorkloadSecretID": 5}}, "ReferenceValues": {}, "WorkloadOwnerPubKeys": [], "SeedshareOwnerPubKeys": []}),
            "Policies.x.WorkloadSecretID",
            "a string",
            "a number",
        ),
        (
            json!({"Policies": {"x": "entry"}, "ReferenceValues": {}, "WorkloadOwnerPubKeys": [], "SeedshareOwnerPubKeys": []}),
            "Policies.x",
            "an object",
            "a string",
        ),
    ];
    for (value, path, expected, found) in cases {
        assert_eq!(
            parse_err(&value.to_string()),
            ManifestError::WrongType {
                path: path.into(),
                expected,
                found
            },
            "{value}"
        );
    }
    assert_eq!(
        parse_err("[]").to_string(),
        "the manifest must be an object, found an array"
    );
}

#[test]
fn duplicate_keys_are_rejected_at_any_depth() {
    let cases = [
        (
            r#"{"Policies":{},"Policies":{},"ReferenceValues":{},"WorkloadOwnerPubKeys":[],"SeedshareOwnerPubKeys":[]}"#.to_owned(),
            "Policies".to_owned(),
        ),
        (
            format!(
                r#"{{"Policies":{{"{a}":{{"SANs":["x"]}},"{a}":{{"SANs":["y"],"Role":"coordinator"}}}},"ReferenceValues":{{}},"WorkloadOwnerPubKeys":[],"SeedshareOwnerPubKeys":[]}}"#,
                a = h("a")
            ),
            format!("Policies.{}", h("a")),
        ),
        (
            r#"{"Policies":{},"ReferenceValues":{"snp":[{"v":1,"v":2}]},"WorkloadOwnerPubKeys":[],"SeedshareOwnerPubKeys":[]}"#.to_owned(),
            "ReferenceValues.snp[0].v".to_owned(),
        ),
    ];
    for (text, path) in cases {
        assert_eq!(parse_err(&text), ManifestError::DuplicateKey { path });
    }
}

#[test]
fn syntax_errors() {
    assert_eq!(Manifest::parse(Vec::new()), Err(ManifestError::Empty));
    let mut bom = vec![0xef, 0xbb, 0xbf];
    bom.extend_from_slice(valid_value().to_string().as_bytes());
    assert_eq!(Manifest::parse(bom), Err(ManifestError::ByteOrderMark));
    assert_eq!(
        parse_err("{\n  \"Policies\": {,\n}"),
        ManifestError::Syntax {
            line: 2,
            column: 16,
            message: "key must be a string".into()
        }
    );
    let ManifestError::Syntax { message, .. } = parse_err(&format!("{} x", valid_value())) else {
        panic!("expected a syntax error");
    };
    assert_eq!(message, "trailing characters");
    assert!(matches!(parse_err("   "), ManifestError::Syntax { .. }));
    assert!(matches!(
        Manifest::parse(b"{\"Policies\":\"\xff\"}".to_vec()),
        Err(ManifestError::Syntax { .. })
    ));
    // Deep nesting hits serde_json's recursion limit instead of the stack.
    let deep = format!(
        r#"{{"Policies":{{}},"ReferenceValues":{{"x":{}{}}},"WorkloadOwnerPubKeys":[],"SeedshareOwnerPubKeys":[]}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(matches!(parse_err(&deep), ManifestError::Syntax { .. }));
}

// --- validation ----------------------------------------------------------------------------------

#[test]
fn validation_lists_every_problem_with_its_path() {
    let good = h("good");
    let upper = h("dup").to_uppercase();
    let v = json!({
        "Policies": {
            "abc": {"SANs": ["a"]},
            good.clone(): {"SANs": ["ok", ""], "Role": "Coordinator"},
            h("dup"): {"SANs": []},
            upper.clone(): {"SANs": []},
        },
        "ReferenceValues": {},
        "WorkloadOwnerPubKeys": [
            p384_hex(1), "zz", "3059", p384_compressed_hex(1), p384_hex(2).to_uppercase(), p384_hex(2)
        ],
        "SeedshareOwnerPubKeys": [
            x25519_hex(1), "00".repeat(31), "00".repeat(32), x25519_hex(1).to_uppercase(), "xyz"
        ],
    });
    let found = issues(&v);
    // Policies are visited in key order: uppercase hex sorts before lowercase.
    let expected = vec![
        ValidationIssue::DuplicatePolicyHash {
            path: format!("Policies.{}", h("dup")),
            first: format!("Policies.{upper}"),
        },
        ValidationIssue::PolicyHash {
            path: "Policies.abc".into(),
            key: "abc".into(),
        },
        ValidationIssue::EmptySan {
            path: format!("Policies.{good}.SANs[1]"),
        },
        ValidationIssue::UnknownRole {
            path: format!("Policies.{good}.Role"),
            role: "Coordinator".into(),
        },
        ValidationIssue::WorkloadOwnerKey {
            path: "WorkloadOwnerPubKeys[1]".into(),
            problem: KeyProblem::NotHex,
        },
        ValidationIssue::WorkloadOwnerKey {
            path: "WorkloadOwnerPubKeys[2]".into(),
            problem: KeyProblem::NotP384Spki,
        },
        ValidationIssue::DuplicateWorkloadOwner {
            path: "WorkloadOwnerPubKeys[3]".into(),
            first: "WorkloadOwnerPubKeys[0]".into(),
        },
        ValidationIssue::DuplicateWorkloadOwner {
            path: "WorkloadOwnerPubKeys[5]".into(),
            first: "WorkloadOwnerPubKeys[4]".into(),
        },
        ValidationIssue::SeedshareOwnerKey {
            path: "SeedshareOwnerPubKeys[1]".into(),
            problem: KeyProblem::Length {
                len: 31,
                expected: 32,
            },
        },
        ValidationIssue::SeedshareOwnerKey {
            path: "SeedshareOwnerPubKeys[2]".into(),
            problem: KeyProblem::LowOrder,
        },
        ValidationIssue::DuplicateSeedshareOwner {
            path: "SeedshareOwnerPubKeys[3]".into(),
            first: "SeedshareOwnerPubKeys[0]".into(),
        },
        ValidationIssue::SeedshareOwnerKey {
            path: "SeedshareOwnerPubKeys[4]".into(),
            problem: KeyProblem::NotHex,
        },
    ];
    assert_eq!(found, expected);
    assert_eq!(found[0].path(), format!("Policies.{}", h("dup")));
    let message = ValidationErrors(found).to_string();
    assert!(
        message.starts_with("the manifest has 12 problems:\n- "),
        "{message}"
    );
    assert!(message.contains("unknown role `Coordinator`; use \"coordinator\""));

    // The typed accessors fail with their own section's problems only.
    let m = manifest(&v);
    assert_eq!(m.policy_hashes().expect_err("bad").issues().len(), 4);
    assert_eq!(m.workload_owner_keys().expect_err("bad").issues().len(), 4);
    assert_eq!(m.seedshare_owner_keys().expect_err("bad").issues().len(), 4);
    assert!(matches!(
        Manifest::parse_and_validate(m.raw().to_vec()),
        Err(ManifestError::Invalid(e)) if e.issues().len() == 12
    ));
}

#[test]
fn single_issue_message() {
    let mut v = valid_value();
    v["SeedshareOwnerPubKeys"] = json!(["00"]);
    let err = manifest(&v).validate().expect_err("invalid");
    assert_eq!(
        err.to_string(),
        "the manifest is invalid: `SeedshareOwnerPubKeys[0]`: not a seed share owner key (hex of a 32-byte X25519 public key): it is 1 bytes long, expected 32"
    );
}

#[test]
fn other_curves_and_algorithms_are_not_workload_owner_keys() {
    // A P-256 SubjectPublicKeyInfo (the generator point).
    let p256 = "3059301306072a8648ce3d020106082a8648ce3d030107034200046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";
    let mut v = valid_value();
    v["WorkloadOwnerPubKeys"] = json!([p256, x25519_hex(3)]);
    assert_eq!(
        issues(&v),
        vec![
            ValidationIssue::WorkloadOwnerKey {
                path: "WorkloadOwnerPubKeys[0]".into(),
                problem: KeyProblem::NotP384Spki
            },
            ValidationIssue::WorkloadOwnerKey {
                path: "WorkloadOwnerPubKeys[1]".into(),
                problem: KeyProblem::NotP384Spki
            },
        ]
    );
}

#[test]
fn compressed_and_uppercase_keys_are_accepted() {
    let mut v = valid_value();
    v["WorkloadOwnerPubKeys"] = json!([p384_compressed_hex(4), p384_hex(5).to_uppercase()]);
    v["SeedshareOwnerPubKeys"] = json!([x25519_hex(6).to_uppercase()]);
    let m = manifest(&v);
    m.validate().expect("valid");
    assert_eq!(
        m.workload_owner_keys().expect("keys"),
        [p384_key(4), p384_key(5)]
    );
}

#[test]
fn warnings() {
    let m = manifest(&json!({
        "Policies": {h("a"): {"SANs": []}},
        "ReferenceValues": {}, "WorkloadOwnerPubKeys": [], "SeedshareOwnerPubKeys": [],
    }));
    m.validate().expect("legal");
    assert_eq!(
        m.warnings(),
        [
            ManifestWarning::NoSeedshareOwners,
            ManifestWarning::NoWorkloadOwners,
            ManifestWarning::NoCoordinatorPolicy
        ]
    );
}

// --- policies ------------------------------------------------------------------------------------

#[test]
fn check_policies() {
    let m = manifest(&valid_value());
    let docs = [b"coordinator".to_vec(), b"web".to_vec()];
    assert_eq!(m.check_policies(&docs), Ok(()));
    assert_eq!(
        m.check_policies(&[docs[1].clone(), docs[0].clone(), docs[0].clone()]),
        Ok(()),
        "order and repetition do not matter"
    );
    let err = m.check_policies(&docs[..1]).expect_err("missing");
    assert_eq!(
        err,
        ManifestError::MissingPolicies {
            hashes: vec![h("web")]
        }
    );
    assert!(
        err.to_string()
            .contains(&format!("`Policies.{}`", h("web")))
    );
    assert_eq!(
        m.check_policies::<Vec<u8>>(&[]),
        Err(ManifestError::MissingPolicies {
            hashes: {
                let mut v = vec![h("coordinator"), h("web")];
                v.sort();
                v
            }
        })
    );
    assert_eq!(
        m.check_policies(&[docs[0].clone(), docs[1].clone(), b"extra".to_vec()]),
        Err(ManifestError::UnreferencedPolicies {
            hashes: vec![Digest::of(b"extra")]
        })
    );
    let mut v = valid_value();
    v["Policies"]["nothex"] = json!({"SANs": []});
    assert!(matches!(
        manifest(&v).check_policies(&docs),
        Err(ManifestError::Invalid(_))
    ));
    // Uppercase policy hashes match their documents too.
    let upper = json!({
        "Policies": {h("web").to_uppercase(): {"SANs": []}},
        "ReferenceValues": {}, "WorkloadOwnerPubKeys": [], "SeedshareOwnerPubKeys": [],
    });
    assert_eq!(manifest(&upper).check_policies(&[b"web"]), Ok(()));
}

#[test]
fn same_seedshare_owners_ignores_order_and_case() {
    let a = manifest(&valid_value());
    let mut v = valid_value();
    v["SeedshareOwnerPubKeys"] = json!([x25519_hex(2).to_uppercase(), x25519_hex(1)]);
    let b = manifest(&v);
    assert!(a.same_seedshare_owners(&b));
    v["SeedshareOwnerPubKeys"] = json!([x25519_hex(2)]);
    assert!(!a.same_seedshare_owners(&manifest(&v)));
    v["SeedshareOwnerPubKeys"] = json!([x25519_hex(1), x25519_hex(2), x25519_hex(3)]);
    assert!(!a.same_seedshare_owners(&manifest(&v)));
}

// --- template ------------------------------------------------------------------------------------

#[test]
fn template_is_valid_pretty_and_complete() {
    let t = Manifest::template(&[x25519_hex(1)], &[p384_hex(1)]);
    let text = String::from_utf8(t.manifest.clone()).expect("utf-8");
    assert!(text.starts_with("{\n  \"Policies\": {\n"), "{text}");
    assert!(text.ends_with("}\n"));
    let m = Manifest::parse_and_validate(t.manifest.clone()).expect("valid");
    assert_eq!(m.check_policies(&t.policies), Ok(()));
    assert!(m.warnings().is_empty());
    let entries: Vec<&PolicyEntry> = m.policies().values().collect();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.role == Role::Coordinator)
            .count(),
        1
    );
    assert_eq!(
        entries
            .iter()
            .filter_map(|e| e.workload_secret_id.as_deref())
            .collect::<Vec<_>>(),
        ["apps/v1/Deployment/default/web"]
    );
    assert_eq!(m.seedshare_owner_pub_keys(), [x25519_hex(1)]);
    // Deterministic: the same owners give the same bytes (and so the same hash).
    assert_eq!(Manifest::template(&[x25519_hex(1)], &[p384_hex(1)]), t);
    let empty = Manifest::parse_and_validate(Manifest::template(&[], &[]).manifest).expect("valid");
    assert_eq!(
        empty.warnings(),
        [
            ManifestWarning::NoSeedshareOwners,
            ManifestWarning::NoWorkloadOwners
        ]
    );
}

// --- diff ----------------------------------------------------------------------------------------

#[test]
fn diff_reports_each_kind_of_change() {
    let old = manifest(&json!({
        "Policies": {
            h("a"): {"SANs": ["a", "b"], "WorkloadSecretID": "id-a"},
            h("gone"): {"SANs": ["g"]},
            h("same"): {"SANs": ["s", "t"]},
        },
        "ReferenceValues": {
            "snp": [{"tcb": 1, "x/y": "old", "kept": true}, {"extra": 1}],
            "removed": null,
            "type": "string",
        },
        "WorkloadOwnerPubKeys": [p384_hex(1), p384_hex(2)],
        "SeedshareOwnerPubKeys": [x25519_hex(1)],
    }));
    let new = manifest(&json!({
        "Policies": {
            h("a"): {"SANs": ["b", "c"], "Role": "coordinator"},
            h("same").to_uppercase(): {"SANs": ["t", "s"]},
            h("new"): {"SANs": ["n"]},
        },
        "ReferenceValues": {
            "snp": [{"tcb": 2, "x/y": "new", "kept": true, "a~b": 0}],
            "type": ["array"],
            "tdx": {},
        },
        "WorkloadOwnerPubKeys": [p384_hex(2).to_uppercase(), p384_hex(3)],
        "SeedshareOwnerPubKeys": [x25519_hex(1)],
    }));
    let diff = ManifestDiff::between(&old, &new);
    assert_eq!(
        diff.policies_added,
        [(
            h("new"),
            PolicyEntry {
                sans: vec!["n".into()],
                workload_secret_id: None,
                role: Role::None
            }
        )]
    );
    assert_eq!(diff.policies_removed.len(), 1);
    assert_eq!(diff.policies_removed[0].0, h("gone"));
    assert_eq!(
        diff.policies_changed,
        [PolicyChange {
            hash: h("a"),
            changes: vec![
                PolicyFieldChange::Sans {
                    added: vec!["c".into()],
                    removed: vec!["a".into()]
                },
                PolicyFieldChange::WorkloadSecretId {
                    old: Some("id-a".into()),
                    new: None
                },
                PolicyFieldChange::Role {
                    old: Role::None,
                    new: Role::Coordinator
                },
            ]
        }]
    );
    assert_eq!(
        diff.reference_values,
        [
            ValueChange::Changed {
                pointer: "/snp/0/tcb".into(),
                old: json!(1),
                new: json!(2)
            },
            ValueChange::Changed {
                pointer: "/snp/0/x~1y".into(),
                old: json!("old"),
                new: json!("new")
            },
            ValueChange::Added {
                pointer: "/snp/0/a~0b".into(),
                value: json!(0)
            },
            ValueChange::Removed {
                pointer: "/snp/1".into(),
                value: json!({"extra": 1})
            },
            ValueChange::Removed {
                pointer: "/removed".into(),
                value: Value::Null
            },
            ValueChange::Changed {
                pointer: "/type".into(),
                old: json!("string"),
                new: json!(["array"])
            },
            ValueChange::Added {
                pointer: "/tdx".into(),
                value: json!({})
            },
        ]
    );
    // Pointers resolve in the manifests they came from.
    let old_rv = Value::Object(old.reference_values().clone());
    let new_rv = Value::Object(new.reference_values().clone());
    for change in &diff.reference_values {
        match change {
            ValueChange::Added { pointer, value } => {
                assert_eq!(new_rv.pointer(pointer), Some(value));
            }
            ValueChange::Removed { pointer, value } => {
                assert_eq!(old_rv.pointer(pointer), Some(value));
            }
            ValueChange::Changed { pointer, old, new } => {
                assert_eq!(old_rv.pointer(pointer), Some(old));
                assert_eq!(new_rv.pointer(pointer), Some(new));
            }
        }
    }
    assert_eq!(diff.workload_owners_added, [p384_hex(3)]);
    assert_eq!(diff.workload_owners_removed, [p384_hex(1)]);
    assert!(diff.seedshare_owners_added.is_empty());
    assert!(diff.seedshare_owners_removed.is_empty());
    assert!(!diff.is_empty());

    let back = ManifestDiff::between(&new, &old);
    assert_eq!(back.policies_added.len(), 1);
    assert_eq!(back.workload_owners_added, [p384_hex(1)]);
    assert!(ManifestDiff::between(&old, &old).is_empty());

    let json = serde_json::to_value(&diff).expect("serialize");
    assert_eq!(
        json["policies_changed"][0]["changes"][2]["role"]["new"],
        "coordinator"
    );
}

#[test]
fn diff_of_seedshare_owners() {
    let old = manifest(&valid_value());
    let mut v = valid_value();
    v["SeedshareOwnerPubKeys"] = json!([x25519_hex(2), x25519_hex(3)]);
    let diff = ManifestDiff::between(&old, &manifest(&v));
    assert_eq!(diff.seedshare_owners_added, [x25519_hex(3)]);
    assert_eq!(diff.seedshare_owners_removed, [x25519_hex(1)]);
}

// --- properties ----------------------------------------------------------------------------------

fn arb_manifest_value() -> impl Strategy<Value = Value> {
    // Valid SANs only (the SAN rules have their own tests in `san`).
    let san = "(\\*\\.)?[a-z]([a-z0-9-]{0,8}[a-z0-9])?(\\.[a-z][a-z0-9]{0,7}){0,3}";
    let entry = (
        prop::collection::vec(san, 0..4),
        prop::option::of("[ -~]{0,20}"),
        any::<bool>(),
    )
        .prop_map(|(sans, id, coordinator)| {
            let mut e = json!({"SANs": sans});
            if let Some(id) = id {
                e["WorkloadSecretID"] = json!(id);
            }
            if coordinator {
                e["Role"] = json!("coordinator");
            }
            e
        });
    let policies = prop::collection::btree_map(any::<[u8; 32]>(), entry, 0..4);
    // Reference values are validated strictly (tests in crate::reference); here they vary
    // between the shapes a valid manifest may have.
    let reference_values = prop::sample::select(vec![
        json!({}),
        json!({"none": {}}),
        json!({"snp": [{
            "ProductName": "Genoa",
            "TrustedMeasurement": "cd".repeat(48),
            "MinimumTCB": {"BootloaderVersion": 0, "TEEVersion": 0, "SNPVersion": 0, "MicrocodeVersion": 0}
        }], "none": {}}),
    ]);
    (
        policies,
        reference_values,
        prop::collection::btree_set(1u8..40, 0..3),
        prop::collection::btree_set(1u8..40, 0..3),
        any::<bool>(),
    )
        .prop_map(|(policies, rv, wo, so, upper)| {
            let policies: Map<String, Value> = policies
                .into_iter()
                .map(|(k, v)| {
                    let key = hex::encode(k);
                    (if upper { key.to_uppercase() } else { key }, v)
                })
                .collect();
            json!({
                "Policies": policies,
                "ReferenceValues": rv,
                "WorkloadOwnerPubKeys": wo.into_iter().map(p384_hex).collect::<Vec<_>>(),
                "SeedshareOwnerPubKeys": so.into_iter().map(x25519_hex).collect::<Vec<_>>(),
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parse_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(m) = Manifest::parse(bytes.clone()) {
            prop_assert_eq!(m.raw(), bytes.as_slice());
            let _ = m.validate();
        }
    }

    #[test]
    fn parse_never_panics_on_json_like_text(text in r#"[{}\[\]",:0-9a-zA-Z \\]{0,200}"#) {
        let _ = Manifest::parse(text.into_bytes());
    }

    #[test]
    fn valid_manifests_round_trip_raw_bytes(value in arb_manifest_value(), pretty in any::<bool>()) {
        let raw = if pretty { format!("{value:#}") } else { value.to_string() }.into_bytes();
        let m = Manifest::parse_and_validate(raw.clone()).expect("valid");
        prop_assert_eq!(m.raw(), raw.as_slice());
        prop_assert_eq!(m.hash(), Digest::of(&raw));
        prop_assert!(ManifestDiff::between(&m, &m).is_empty());
        let again = Manifest::parse(m.raw().to_vec()).expect("reparse");
        prop_assert_eq!(again.policies(), m.policies());
    }

    #[test]
    fn mutated_valid_manifests_never_panic(value in arb_manifest_value(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut raw = value.to_string().into_bytes();
        let i = pos.index(raw.len());
        raw[i] = byte;
        if let Ok(m) = Manifest::parse(raw) {
            let _ = m.validate();
            let _ = m.check_policies::<Vec<u8>>(&[]);
        }
    }
}

#[test]
fn referenced_policy_hashes_are_the_validated_ones() {
    let template = Manifest::template(&[], &[]);
    let manifest = Manifest::parse(template.manifest.clone()).unwrap();
    assert!(!manifest.policies().is_empty());
    assert_eq!(
        Manifest::referenced_policy_hashes(&template.manifest).unwrap(),
        manifest.policy_hashes().unwrap()
    );
    let err = Manifest::referenced_policy_hashes(br#"{"Policies": {"nothex": {}}}"#).unwrap_err();
    assert!(err.contains("Policies.nothex"), "{err}");
    let err = Manifest::referenced_policy_hashes(br#"{"ReferenceValues": {}}"#).unwrap_err();
    assert!(err.contains("Policies"), "{err}");
    assert!(Manifest::referenced_policy_hashes(b"not json").is_err());
}

// --- SeedshareOwnerThreshold -------------------------------------------------------------------

fn with_threshold(k: Value) -> Value {
    let mut value = valid_value();
    value["SeedshareOwnerThreshold"] = k;
    value
}

#[test]
fn threshold_absent_is_one_and_keeps_the_bytes() {
    let m = manifest(&valid_value());
    assert_eq!(m.seedshare_owner_threshold(), 1);
    assert!(!m.has_seedshare_owner_threshold());
    m.validate().expect("valid");
    assert!(!String::from_utf8_lossy(m.raw()).contains("Threshold"));
}

#[test]
fn threshold_between_one_and_owners_validates() {
    for k in [1, 2] {
        let m = manifest(&with_threshold(json!(k)));
        m.validate().expect("valid");
        assert_eq!(m.seedshare_owner_threshold(), k as usize);
        assert!(m.has_seedshare_owner_threshold());
    }
}

#[test]
fn with_threshold_writes_the_field_and_validates() {
    let m = manifest(&valid_value());
    let two = m.with_seedshare_owner_threshold(2).expect("2 of 2");
    assert_eq!(two.seedshare_owner_threshold(), 2);
    assert!(two.has_seedshare_owner_threshold());
    assert_ne!(two.hash(), m.hash(), "new bytes, new hash");
    assert_eq!(two.policies(), m.policies());
    assert_eq!(two.seedshare_owner_pub_keys(), m.seedshare_owner_pub_keys());
    // Setting it again replaces the value rather than writing the field twice.
    let one = two.with_seedshare_owner_threshold(1).expect("1 of 2");
    assert_eq!(one.seedshare_owner_threshold(), 1);
    assert_eq!(
        String::from_utf8_lossy(one.raw())
            .matches("SeedshareOwnerThreshold")
            .count(),
        1
    );
    // Out of range: the field-named validation error.
    let err = m.with_seedshare_owner_threshold(3).unwrap_err().to_string();
    assert!(err.contains("`SeedshareOwnerThreshold`"), "{err}");
}

#[test]
fn threshold_out_of_range_is_named() {
    for k in [0u64, 3, 1000] {
        let found = issues(&with_threshold(json!(k)));
        assert_eq!(
            found,
            vec![ValidationIssue::SeedshareOwnerThreshold {
                path: "SeedshareOwnerThreshold".into(),
                threshold: k,
                owners: 2,
            }]
        );
        let text = found[0].to_string();
        assert!(text.starts_with("`SeedshareOwnerThreshold`: "), "{text}");
        assert!(text.contains("leave the field out for 1"), "{text}");
    }
    // No owners at all: even 1, written out, names the problem.
    let mut value = with_threshold(json!(1));
    value["SeedshareOwnerPubKeys"] = json!([]);
    assert_eq!(
        issues(&value),
        vec![ValidationIssue::SeedshareOwnerThreshold {
            path: "SeedshareOwnerThreshold".into(),
            threshold: 1,
            owners: 0,
        }]
    );
}

#[test]
fn threshold_of_the_wrong_type_is_named() {
    for bad in [json!(-1), json!(1.5), json!("2"), json!(null)] {
        match Manifest::parse(with_threshold(bad.clone()).to_string().into_bytes()) {
            Err(ManifestError::WrongType { path, .. }) => {
                assert_eq!(path, "SeedshareOwnerThreshold", "{bad}")
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn a_changed_threshold_is_a_change_of_owners() {
    let one = manifest(&valid_value());
    let explicit_one = manifest(&with_threshold(json!(1)));
    let two = manifest(&with_threshold(json!(2)));
    assert!(one.same_seedshare_owners(&explicit_one));
    assert!(!one.same_seedshare_owners(&two));
    assert!(two.same_seedshare_owners(&two.clone()));
}
