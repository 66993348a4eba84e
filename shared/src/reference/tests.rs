use super::*;
use serde_json::{Value, json};

const M48: &str = "7a1e5c2600112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0011223344556677cd81841f";

fn parse(v: Value) -> Result<ReferenceValues, ReferenceErrors> {
    match v {
        Value::Object(map) => ReferenceValues::parse(&map),
        _ => panic!("test input must be an object"),
    }
}

fn snp_ok() -> Value {
    json!({
        "ProductName": "Milan",
        "TrustedMeasurement": M48,
        "MinimumTCB": {"BootloaderVersion": 3, "TEEVersion": 0, "SNPVersion": 8, "MicrocodeVersion": 115}
    })
}

fn tdx_ok() -> Value {
    json!({
        "MrTd": M48,
        "Rtrms": [M48, M48, M48, M48],
        "TdAttributes": "0000001000000000",
        "Xfam": "e702060000000000",
        "MinimumTeeTcbSvn": "03000500000000000000000000000000"
    })
}

/// The single issue of a failed parse, as `(path, message)`.
fn one_issue(v: Value) -> (String, String) {
    let errors = parse(v).expect_err("must fail");
    assert_eq!(errors.issues().len(), 1, "{errors}");
    let issue = &errors.issues()[0];
    (issue.path.clone(), issue.to_string())
}

#[test]
fn empty_is_development() {
    let r = parse(json!({})).expect("valid");
    assert!(r.is_empty());
    assert!(r.allows_unattested());
}

#[test]
fn full_entries_parse_with_defaults() {
    let r = parse(json!({"snp": [snp_ok()], "tdx": [tdx_ok()]})).expect("valid");
    assert!(!r.allows_unattested());
    let snp = &r.snp[0];
    assert_eq!(snp.product_name, SnpProduct::Milan);
    assert_eq!(snp.trusted_measurement.to_hex(), M48);
    assert_eq!(snp.minimum_tcb.microcode, 115);
    assert_eq!(snp.guest_policy, SnpGuestPolicy::default());
    assert!(!snp.guest_policy.debug && snp.guest_policy.smt);
    assert!(snp.allowed_chip_ids.is_empty());
    let tdx = &r.tdx[0];
    assert_eq!(tdx.allowed_tcb_statuses, vec![TdxTcbStatus::UpToDate]);
    assert_eq!(tdx.minimum_qe_svn, 0);
    assert!(tdx.mr_seam.is_none());
}

#[test]
fn explicit_none_entry_allows_unattested_next_to_platforms() {
    let r = parse(json!({"snp": [snp_ok()], "none": {}})).expect("valid");
    assert!(r.allows_unattested());
    let (path, msg) = one_issue(json!({"none": {"Why": 1}}));
    assert_eq!(path, "ReferenceValues.none.Why");
    assert!(msg.contains("no fields here"), "{msg}");
    let (path, msg) = one_issue(json!({"none": true}));
    assert_eq!(path, "ReferenceValues.none");
    assert!(msg.contains("expected an object, found a boolean"), "{msg}");
}

#[test]
fn hex_is_case_insensitive_and_serializes_lowercase() {
    let mut e = snp_ok();
    e["TrustedMeasurement"] = json!(M48.to_ascii_uppercase());
    let r = parse(json!({"snp": [e]})).expect("valid");
    let out = serde_json::to_value(&r).expect("serializes");
    assert_eq!(out["snp"][0]["TrustedMeasurement"], json!(M48));
    assert_eq!(out["snp"][0]["GuestPolicy"]["Debug"], json!(false));
    assert_eq!(out["snp"][0]["MinimumTCB"]["SNPVersion"], json!(8));
}

#[test]
fn tcb_out_of_range_names_the_field() {
    let mut e = snp_ok();
    e["MinimumTCB"]["SNPVersion"] = json!(256);
    let (path, msg) = one_issue(json!({"snp": [e]}));
    assert_eq!(path, "ReferenceValues.snp[0].MinimumTCB.SNPVersion");
    assert_eq!(
        msg,
        "ReferenceValues.snp[0].MinimumTCB.SNPVersion: expected an integer 0–255, found 256"
    );
}

#[test]
fn tcb_wrong_type_and_negative() {
    let mut e = snp_ok();
    e["MinimumTCB"]["TEEVersion"] = json!("0");
    e["MinimumTCB"]["BootloaderVersion"] = json!(-1);
    let errors = parse(json!({"snp": [e]})).expect_err("must fail");
    let msgs: Vec<String> = errors.issues().iter().map(|i| i.to_string()).collect();
    assert_eq!(
        msgs,
        vec![
            "ReferenceValues.snp[0].MinimumTCB.BootloaderVersion: expected an integer 0–255, found -1",
            "ReferenceValues.snp[0].MinimumTCB.TEEVersion: expected an integer 0–255, found a string",
        ]
    );
}

#[test]
fn missing_fields_are_named() {
    let mut e = snp_ok();
    e.as_object_mut().map(|o| o.remove("MinimumTCB"));
    let (path, msg) = one_issue(json!({"snp": [e]}));
    assert_eq!(path, "ReferenceValues.snp[0]");
    assert!(msg.ends_with("missing field `MinimumTCB`"), "{msg}");

    let mut e = snp_ok();
    e["MinimumTCB"]
        .as_object_mut()
        .map(|o| o.remove("MicrocodeVersion"));
    let (path, msg) = one_issue(json!({"snp": [e]}));
    assert_eq!(path, "ReferenceValues.snp[0].MinimumTCB");
    assert!(msg.ends_with("missing field `MicrocodeVersion`"), "{msg}");
}

#[test]
fn unknown_fields_are_named_with_case_hint() {
    let mut e = snp_ok();
    e["trustedMeasurement"] = json!(M48);
    let (path, msg) = one_issue(json!({"snp": [e]}));
    assert_eq!(path, "ReferenceValues.snp[0].trustedMeasurement");
    assert!(msg.contains("did you mean `TrustedMeasurement`"), "{msg}");

    let (path, msg) = one_issue(json!({"aks": {}}));
    assert_eq!(path, "ReferenceValues.aks");
    assert!(msg.contains("`snp`, `tdx`, `none`"), "{msg}");
}

#[test]
fn bad_measurement_lengths_and_hex() {
    let mut e = snp_ok();
    e["TrustedMeasurement"] = json!("abcd");
    let (path, msg) = one_issue(json!({"snp": [e]}));
    assert_eq!(path, "ReferenceValues.snp[0].TrustedMeasurement");
    assert!(
        msg.ends_with("expected 48 bytes as 96 hex characters, found 2 bytes"),
        "{msg}"
    );

    let mut e = snp_ok();
    e["TrustedMeasurement"] = json!("zz");
    let (_, msg) = one_issue(json!({"snp": [e]}));
    assert!(msg.contains("not hexadecimal"), "{msg}");
}

#[test]
fn unknown_product() {
    let mut e = snp_ok();
    e["ProductName"] = json!("milan");
    let (path, msg) = one_issue(json!({"snp": [e]}));
    assert_eq!(path, "ReferenceValues.snp[0].ProductName");
    assert!(msg.contains("case-sensitive"), "{msg}");
}

#[test]
fn guest_policy_and_platform_info() {
    let mut e = snp_ok();
    e["GuestPolicy"] = json!({"Debug": true, "SMT": false, "ABIMajor": 1});
    e["PlatformInfo"] = json!({"SMTEnabled": true});
    let r = parse(json!({"snp": [e]})).expect("valid");
    let p = r.snp[0].guest_policy;
    assert!(p.debug && !p.smt && p.abi_major == 1 && !p.migrate_ma);
    assert_eq!(
        r.snp[0].platform_info.expected_bits(),
        vec![("SMTEnabled", 0, true)]
    );

    let mut e = snp_ok();
    e["GuestPolicy"] = json!({"Debug": "yes", "Debugg": true});
    let errors = parse(json!({"snp": [e]})).expect_err("must fail");
    let paths: Vec<&str> = errors.issues().iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "ReferenceValues.snp[0].GuestPolicy.Debugg",
            "ReferenceValues.snp[0].GuestPolicy.Debug"
        ]
    );

    let mut e = snp_ok();
    e["PlatformInfo"] = json!({"ECCEnabled": 1});
    let (path, msg) = one_issue(json!({"snp": [e]}));
    assert_eq!(path, "ReferenceValues.snp[0].PlatformInfo.ECCEnabled");
    assert!(
        msg.ends_with("expected true or false, found a number"),
        "{msg}"
    );
}

#[test]
fn chip_ids() {
    let mut e = snp_ok();
    e["AllowedChipIDs"] = json!([hex::encode([7u8; 64]), "00"]);
    let (path, msg) = one_issue(json!({"snp": [e]}));
    assert_eq!(path, "ReferenceValues.snp[0].AllowedChipIDs[1]");
    assert!(msg.contains("expected 64 bytes"), "{msg}");
    let mut e = snp_ok();
    e["AllowedChipIDs"] = json!([hex::encode([7u8; 64])]);
    assert_eq!(
        parse(json!({"snp": [e]})).expect("valid").snp[0]
            .allowed_chip_ids
            .len(),
        1
    );
}

#[test]
fn tdx_problems_all_reported_at_once() {
    let mut e = tdx_ok();
    e["Rtrms"] = json!([M48]);
    e["MinimumQeSvn"] = json!(70000);
    e["AllowedTcbStatuses"] = json!(["UpToDate", "Revoked", "Fine"]);
    e.as_object_mut().map(|o| o.remove("Xfam"));
    let errors = parse(json!({"tdx": [e]})).expect_err("must fail");
    let msgs: Vec<String> = errors.issues().iter().map(|i| i.to_string()).collect();
    assert_eq!(msgs.len(), 5, "{msgs:#?}");
    assert_eq!(
        msgs[0],
        "ReferenceValues.tdx[0].Rtrms: expected exactly 4 entries, found 1"
    );
    assert_eq!(msgs[1], "ReferenceValues.tdx[0]: missing field `Xfam`");
    assert!(
        msgs[2].starts_with("ReferenceValues.tdx[0].MinimumQeSvn: expected an integer 0–65535")
    );
    assert!(msgs[3].starts_with("ReferenceValues.tdx[0].AllowedTcbStatuses[1]: \"Revoked\""));
    assert!(
        msgs[4].starts_with("ReferenceValues.tdx[0].AllowedTcbStatuses[2]: unknown TCB status")
    );
    assert!(
        errors
            .to_string()
            .starts_with("the reference values have 5 problems:")
    );
}

#[test]
fn tdx_empty_status_list_and_wrong_container() {
    let mut e = tdx_ok();
    e["AllowedTcbStatuses"] = json!([]);
    let (path, msg) = one_issue(json!({"tdx": [e]}));
    assert_eq!(path, "ReferenceValues.tdx[0].AllowedTcbStatuses");
    assert!(msg.contains("empty list"), "{msg}");
    let (path, msg) = one_issue(json!({"tdx": {}}));
    assert_eq!(path, "ReferenceValues.tdx");
    assert!(msg.ends_with("expected an array, found an object"), "{msg}");
    let (path, _) = one_issue(json!({"snp": [1]}));
    assert_eq!(path, "ReferenceValues.snp[0]");
}

#[test]
fn tdx_optional_fields() {
    let mut e = tdx_ok();
    e["MrSeam"] = json!(M48);
    e["MinimumPceSvn"] = json!(13);
    e["AllowedTcbStatuses"] = json!(["UpToDate", "SWHardeningNeeded", "UpToDate"]);
    let r = parse(json!({"tdx": [e]})).expect("valid");
    let t = &r.tdx[0];
    assert_eq!(t.mr_seam.map(|m| m.to_hex()), Some(M48.to_owned()));
    assert_eq!(t.minimum_pce_svn, 13);
    assert_eq!(
        t.allowed_tcb_statuses,
        vec![TdxTcbStatus::UpToDate, TdxTcbStatus::SWHardeningNeeded]
    );
}
