//! The test signer end to end: reports signed like AMD firmware verify under the test anchor
//! (and say so), every knob makes the named check fail, and the configfs-tsm producer works
//! from another process against the fake tsm directory.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use seedward_attestation::snp::report::Tcb;
use seedward_attestation::testing::{
    DEFAULT_NOW, FakeTsm, FakeTsmConfig, ReportSpec, TestSigner, TestVek, VekSpec,
};
use seedward_attestation::tsm::{self, Detection, TsmError, TsmProducer};
use seedward_attestation::verdict::names;
use seedward_attestation::{
    Appraisal, CertKind, CertTable, Evidence, EvidenceKind, Revocation, TrustAnchors, Verdict,
    report_data, verify,
};
use seedward_shared::reference::{
    HexBytes, ReferenceValues, SnpGuestPolicy, SnpMinimumTcb, SnpPlatformInfo, SnpProduct,
    SnpReference,
};

const CHIP: [u8; 64] = [0xc1; 64];

/// A CHIP_ID as the product reports it (Turin's is 8 bytes, zero-padded).
fn chip(product: SnpProduct) -> [u8; 64] {
    let mut c = CHIP;
    if product == SnpProduct::Turin {
        c[8..].fill(0);
    }
    c
}
const POLICY_HASH: [u8; 32] = [0x5e; 32];

fn signer(product: SnpProduct) -> Arc<TestSigner> {
    static SIGNERS: OnceLock<Vec<Arc<TestSigner>>> = OnceLock::new();
    let all = SIGNERS.get_or_init(|| {
        SnpProduct::ALL
            .iter()
            .map(|p| Arc::new(TestSigner::new(*p).expect("test signer")))
            .collect()
    });
    all.iter()
        .find(|s| s.product == product)
        .cloned()
        .expect("every product")
}

fn vcek(product: SnpProduct) -> Arc<TestVek> {
    Arc::new(
        signer(product)
            .issue_vcek(&VekSpec::new(product, CHIP))
            .expect("vcek"),
    )
}

fn reference(product: SnpProduct) -> ReferenceValues {
    let spec = ReportSpec::new(product);
    ReferenceValues {
        snp: vec![SnpReference {
            product_name: product,
            trusted_measurement: HexBytes(spec.measurement),
            minimum_tcb: SnpMinimumTcb {
                bootloader: 3,
                tee: 0,
                snp: 8,
                microcode: 115,
            },
            guest_policy: SnpGuestPolicy::default(),
            platform_info: SnpPlatformInfo {
                smt_enabled: Some(true),
                ..SnpPlatformInfo::default()
            },
            allowed_chip_ids: vec![HexBytes(chip(product))],
        }],
        ..ReferenceValues::default()
    }
}

fn binding() -> [u8; 64] {
    report_data(&[0xab; 32], Some(&[0xcd; 32]))
}

fn spec(product: SnpProduct) -> ReportSpec {
    let mut s = ReportSpec::new(product);
    s.report_data = binding();
    s.host_data = POLICY_HASH;
    s.chip_id = chip(product);
    s
}

fn evidence(product: SnpProduct, spec: &ReportSpec, vek: &TestVek) -> Evidence {
    Evidence {
        kind: EvidenceKind::Snp,
        report: spec.sign(product, vek),
        certificates: signer(product).cert_table(vek).expect("table"),
        collateral: Vec::new(),
    }
}

fn appraise(
    evidence: &Evidence,
    reference: &ReferenceValues,
    anchors: &TrustAnchors,
    revocation: Revocation,
) -> Verdict {
    verify(
        evidence,
        &Appraisal {
            reference,
            report_data: Some(binding()),
            host_data: Some(POLICY_HASH),
            anchors,
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(DEFAULT_NOW),
            revocation,
        },
    )
}

fn explain(v: &Verdict) -> String {
    v.checks
        .iter()
        .filter(|c| !c.passed())
        .map(|c| {
            format!(
                "{} ({:?}): seen {} / expected {}",
                c.name, c.ok, c.seen, c.expected
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[track_caller]
fn assert_fails(v: &Verdict, check: &str) {
    assert!(!v.verified(), "must not verify");
    let c = v
        .check(check)
        .unwrap_or_else(|| panic!("no check {check}:\n{}", explain(v)));
    assert_eq!(c.ok, Some(false), "{check} must fail:\n{}", explain(v));
}

#[test]
fn signed_reports_verify_under_the_test_anchor_and_say_so() {
    for product in SnpProduct::ALL {
        let vek = vcek(product);
        let ev = evidence(product, &spec(product), &vek);
        let anchors = signer(product).anchors();
        let v = appraise(&ev, &reference(product), &anchors, Revocation::Waive);
        assert!(v.verified(), "{product}:\n{}", explain(&v));
        assert!(v.test_anchor_used());
        let chain = v.check(names::CHAIN).expect("chain");
        assert!(chain.seen.contains("test trust anchor"), "{}", chain.seen);
        assert!(chain.seen.contains("(NOT an AMD root)"), "{}", chain.seen);
        let json = serde_json::to_value(&v).expect("json");
        assert!(
            json["test_anchor"]
                .as_str()
                .expect("named")
                .contains("NOT an AMD root")
        );
        if product == SnpProduct::Turin {
            assert_eq!(json["claims"]["reported_tcb"]["fmc"], 1);
        }
        // AMD's pinned roots do not accept the test signer.
        let v = appraise(
            &ev,
            &reference(product),
            &TrustAnchors::amd(),
            Revocation::Waive,
        );
        assert_fails(&v, names::CHAIN);
        assert!(!v.test_anchor_used());
    }
}

#[test]
fn vlek_reports_verify_through_the_asvk() {
    let product = SnpProduct::Genoa;
    let vlek = signer(product)
        .issue_vlek(&VekSpec::new(product, CHIP))
        .expect("vlek");
    let mut s = spec(product);
    s.signing_key = 1;
    let ev = evidence(product, &s, &vlek);
    let v = appraise(
        &ev,
        &reference(product),
        &signer(product).anchors(),
        Revocation::Waive,
    );
    assert!(v.verified(), "{}", explain(&v));
    assert!(
        v.check(names::CHAIN)
            .expect("chain")
            .seen
            .starts_with("VLEK ← SEV-VLEK-Genoa")
    );
    // A VLEK cannot stand in for a VCEK.
    let mut s = spec(product);
    s.signing_key = 0;
    let mut ev = evidence(product, &s, &vlek);
    ev.certificates = CertTable::new()
        .with(CertKind::Vcek, vlek.der.clone())
        .to_bytes()
        .expect("table");
    let v = appraise(
        &ev,
        &reference(product),
        &signer(product).anchors(),
        Revocation::Waive,
    );
    assert_fails(&v, names::CHAIN);
}

#[test]
fn every_knob_fails_its_named_check() {
    let product = SnpProduct::Milan;
    let vek = vcek(product);
    let anchors = signer(product).anchors();
    let reference = reference(product);
    let check = |mutate: &dyn Fn(&mut ReportSpec), name: &str| {
        let mut s = spec(product);
        mutate(&mut s);
        let v = appraise(
            &evidence(product, &s, &vek),
            &reference,
            &anchors,
            Revocation::Waive,
        );
        assert_fails(&v, name);
        assert_eq!(v.check(names::SIGNATURE).and_then(|c| c.ok), Some(true));
    };
    check(&|s| s.measurement[0] ^= 1, names::MEASUREMENT);
    check(&|s| s.policy |= 1 << 19, names::GUEST_POLICY_DEBUG);
    check(&|s| s.policy |= 1 << 18, names::GUEST_POLICY);
    check(&|s| s.vmpl = 1, names::VMPL);
    check(&|s| s.report_data[0] ^= 1, names::REPORT_DATA);
    check(&|s| s.host_data[0] ^= 1, names::HOST_DATA);
    check(&|s| s.chip_id[0] ^= 1, names::CHIP_ID);
    check(&|s| s.chip_id[0] ^= 1, names::VCEK_HWID);
    check(&|s| s.platform_info = 0, names::PLATFORM_INFO);
    check(&|s| s.committed_tcb.snp = 7, names::TCB_COMMITTED);
    check(&|s| s.launch_tcb.microcode = 100, names::TCB_LAUNCH);
    check(&|s| s.reported_tcb.bootloader = 2, names::TCB_REPORTED);
    check(&|s| s.reported_tcb.bootloader = 2, names::VCEK_TCB);
    check(
        &|s| {
            s.version = 3;
            s.cpuid = [0x19, 0x11, 0x01];
        },
        names::VCEK_PRODUCT,
    );

    // A debug policy is accepted only where the reference allows it.
    let mut allow = reference.clone();
    allow.snp[0].guest_policy.debug = true;
    let mut s = spec(product);
    s.policy |= 1 << 19;
    let v = appraise(
        &evidence(product, &s, &vek),
        &allow,
        &anchors,
        Revocation::Waive,
    );
    assert!(v.verified(), "{}", explain(&v));

    // A VCEK that has expired at the verification time.
    let mut old = VekSpec::new(product, CHIP);
    old.not_after = DEFAULT_NOW - 1;
    let expired = signer(product).issue_vcek(&old).expect("vcek");
    let v = appraise(
        &evidence(product, &spec(product), &expired),
        &reference,
        &anchors,
        Revocation::Waive,
    );
    assert_fails(&v, names::VCEK_VALIDITY);

    // A VCEK for another TCB.
    let mut other = VekSpec::new(product, CHIP);
    other.tcb = Tcb {
        snp: 9,
        ..other.tcb
    };
    let wrong_tcb = signer(product).issue_vcek(&other).expect("vcek");
    let v = appraise(
        &evidence(product, &spec(product), &wrong_tcb),
        &reference,
        &anchors,
        Revocation::Waive,
    );
    assert_fails(&v, names::VCEK_TCB);

    // Signed by another product's signer: the chain ends in the wrong root.
    let genoa_vek = vcek(SnpProduct::Genoa);
    let mut ev = evidence(product, &spec(product), &vek);
    ev.report = spec(product).sign(product, &genoa_vek);
    let v = appraise(&ev, &reference, &anchors, Revocation::Waive);
    assert_fails(&v, names::SIGNATURE);
}

#[test]
fn crls_are_checked() {
    let product = SnpProduct::Milan;
    let s = signer(product);
    let vek = vcek(product);
    let anchors = s.anchors();
    let reference = reference(product);
    let base = evidence(product, &spec(product), &vek);
    let day = 86_400;

    let good = s
        .crl(&[&[0x77]], DEFAULT_NOW - day, DEFAULT_NOW + day)
        .expect("crl");
    let v = appraise(
        &Evidence {
            collateral: good.clone(),
            ..base.clone()
        },
        &reference,
        &anchors,
        Revocation::Require,
    );
    assert!(v.verified(), "{}", explain(&v));
    assert!(v.check(names::CRL).expect("crl").seen.contains("1 revoked"));

    // PEM works as well as DER.
    let pem = pem_rfc7468_encode("X509 CRL", &good);
    let v = appraise(
        &Evidence {
            collateral: pem.into_bytes(),
            ..base.clone()
        },
        &reference,
        &anchors,
        Revocation::Require,
    );
    assert!(v.verified(), "{}", explain(&v));

    let revoked = s
        .crl(&[&s.ask_serial()], DEFAULT_NOW - day, DEFAULT_NOW + day)
        .expect("crl");
    let v = appraise(
        &Evidence {
            collateral: revoked,
            ..base.clone()
        },
        &reference,
        &anchors,
        Revocation::Waive,
    );
    assert_fails(&v, names::CRL);
    assert!(
        v.check(names::CRL)
            .expect("crl")
            .seen
            .contains("is revoked")
    );

    let stale = s
        .crl(&[], DEFAULT_NOW - 3 * day, DEFAULT_NOW - day)
        .expect("crl");
    let v = appraise(
        &Evidence {
            collateral: stale,
            ..base.clone()
        },
        &reference,
        &anchors,
        Revocation::Require,
    );
    assert_fails(&v, names::CRL);

    // A CRL by another ARK (Genoa's test signer) is not this chain's.
    let foreign = signer(SnpProduct::Genoa)
        .crl(&[], DEFAULT_NOW - day, DEFAULT_NOW + day)
        .expect("crl");
    let v = appraise(
        &Evidence {
            collateral: foreign,
            ..base.clone()
        },
        &reference,
        &anchors,
        Revocation::Require,
    );
    assert_fails(&v, names::CRL);

    // The certificate table's CRL entry counts too.
    let mut table = CertTable::parse(&base.certificates).expect("table");
    table = table.with(CertKind::Crl, good);
    let v = appraise(
        &Evidence {
            certificates: table.to_bytes().expect("table"),
            ..base
        },
        &reference,
        &anchors,
        Revocation::Require,
    );
    assert!(v.verified(), "{}", explain(&v));
}

fn pem_rfc7468_encode(label: &str, der: &[u8]) -> String {
    use std::fmt::Write as _;
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        let _ = writeln!(out, "{}", String::from_utf8_lossy(line));
    }
    let _ = writeln!(out, "-----END {label}-----");
    out
}

#[test]
fn unattested_evidence_is_never_verified() {
    let ev = Evidence::unattested(binding());
    let dev = ReferenceValues::default();
    let v = appraise(&ev, &dev, &TrustAnchors::amd(), Revocation::Require);
    assert!(!v.verified());
    assert_eq!(v.kind, EvidenceKind::None);
    assert_eq!(v.check(names::SIGNATURE).map(|c| c.ok), Some(None));
    assert_eq!(v.check(names::CHAIN).map(|c| c.ok), Some(None));
    assert_eq!(v.check(names::REPORT_DATA).and_then(|c| c.ok), Some(true));
    assert_eq!(
        v.check(names::UNATTESTED_ALLOWED).and_then(|c| c.ok),
        Some(true)
    );
    let json = serde_json::to_value(&v).expect("json");
    assert_eq!(json["kind"], "none");
    assert_eq!(json["verified"], false);
    assert_eq!(json["checks"][0]["ok"], serde_json::Value::Null);

    // A production manifest refuses it outright.
    let v = appraise(
        &ev,
        &reference(SnpProduct::Milan),
        &TrustAnchors::amd(),
        Revocation::Require,
    );
    assert_fails(&v, names::UNATTESTED_ALLOWED);
    // A relayed binding is named.
    let other = Evidence::unattested([0; 64]);
    let v = appraise(&other, &dev, &TrustAnchors::amd(), Revocation::Require);
    assert_fails(&v, names::REPORT_DATA);
}

// ---------------------------------------------------------------------------------------------
// The producer, in a child process, against the fake tsm directory.

const CHILD_DIR: &str = "SEEDWARD_TSM_CHILD_DIR";
const CHILD_OUT: &str = "SEEDWARD_TSM_CHILD_OUT";

/// Not a test of its own: the body of the child process (does nothing without the env switch).
#[test]
fn tsm_child() {
    let (Ok(dir), Ok(out)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_OUT)) else {
        return;
    };
    let out = Path::new(&out);
    match TsmProducer::new(&dir)
        .privlevel(Some(0))
        .expect_kind(Some(EvidenceKind::Snp))
        .produce(&binding())
    {
        Ok(report) => {
            std::fs::write(out.join("report.bin"), &report.evidence.report).expect("write");
            std::fs::write(out.join("auxblob.bin"), &report.evidence.certificates).expect("write");
            std::fs::write(
                out.join("meta.txt"),
                format!(
                    "{} {} {} {}",
                    report.attempts,
                    report.generation,
                    report.provider.as_str(),
                    report.leftover_entry.is_some()
                ),
            )
            .expect("write");
        }
        Err(e) => {
            let kind = match e {
                TsmError::GenerationMoved { .. } => "generation-moved",
                TsmError::WrongProvider { .. } => "wrong-provider",
                _ => "other",
            };
            std::fs::write(out.join("error.txt"), format!("{kind}: {e}")).expect("write");
        }
    }
}

/// What the child produced.
enum Produced {
    Evidence { evidence: Evidence, meta: String },
    Error(String),
}

fn produce_in_child(config: FakeTsmConfig) -> (Produced, u32) {
    let product = SnpProduct::Milan;
    let root = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let server =
        FakeTsm::start(root.path(), signer(product), vcek(product), config).expect("server");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "tsm_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, root.path())
        .env(CHILD_OUT, out.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the producer");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the producer did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let served = server.served();
    drop(server);
    if let Ok(e) = std::fs::read_to_string(out.path().join("error.txt")) {
        return (Produced::Error(e), served);
    }
    let read = |f: &str| std::fs::read(out.path().join(f)).expect("child output");
    (
        Produced::Evidence {
            evidence: Evidence {
                kind: EvidenceKind::Snp,
                report: read("report.bin"),
                certificates: read("auxblob.bin"),
                collateral: Vec::new(),
            },
            meta: String::from_utf8_lossy(&read("meta.txt")).into_owned(),
        },
        served,
    )
}

fn produced_verdict(config: FakeTsmConfig) -> (Verdict, String) {
    let product = SnpProduct::Milan;
    match produce_in_child(config) {
        (Produced::Evidence { evidence, meta }, _) => (
            appraise(
                &evidence,
                &reference(product),
                &signer(product).anchors(),
                Revocation::Waive,
            ),
            meta,
        ),
        (Produced::Error(e), _) => panic!("the producer failed: {e}"),
    }
}

fn tsm_config() -> FakeTsmConfig {
    let mut c = FakeTsmConfig::new(SnpProduct::Milan);
    c.report.host_data = POLICY_HASH;
    c.report.chip_id = CHIP;
    c
}

#[test]
fn producer_in_another_process_then_verify() {
    let (v, meta) = produced_verdict(tsm_config());
    assert!(v.verified(), "{}", explain(&v));
    assert!(v.test_anchor_used());
    // One attempt; generation = privlevel + inblob writes; the entry of a plain directory
    // cannot be removed and is reported.
    assert_eq!(meta, "1 2 sev_guest true");
}

#[test]
fn producer_knobs_fail_their_checks() {
    let mut c = tsm_config();
    c.report.measurement[3] ^= 0xff;
    assert_fails(&produced_verdict(c).0, names::MEASUREMENT);

    let mut c = tsm_config();
    c.report.policy |= 1 << 19;
    assert_fails(&produced_verdict(c).0, names::GUEST_POLICY_DEBUG);

    let mut c = tsm_config();
    c.no_auxblob = true;
    let (v, _) = produced_verdict(c);
    assert_fails(&v, names::CHAIN);
    assert_eq!(v.check(names::SIGNATURE).map(|c| c.ok), Some(None));
}

#[test]
fn producer_retries_when_generation_moves() {
    let mut c = tsm_config();
    c.bump_generation = 1;
    let (v, meta) = produced_verdict(c);
    assert!(v.verified(), "{}", explain(&v));
    assert!(meta.starts_with("2 "), "{meta}");

    let mut c = tsm_config();
    c.bump_generation = 100;
    match produce_in_child(c) {
        (Produced::Error(e), served) => {
            assert!(e.starts_with("generation-moved"), "{e}");
            assert_eq!(served, tsm::DEFAULT_ATTEMPTS);
        }
        (Produced::Evidence { meta, .. }, _) => panic!("must fail, got {meta}"),
    }

    let mut c = tsm_config();
    c.provider = "tdx_guest".to_owned();
    match produce_in_child(c) {
        (Produced::Error(e), _) => assert!(e.starts_with("wrong-provider"), "{e}"),
        (Produced::Evidence { meta, .. }, _) => panic!("must fail, got {meta}"),
    }
}

#[test]
fn detection_reads_the_provider() {
    let root = tempfile::tempdir().expect("tempdir");
    let product = SnpProduct::Milan;
    let server =
        FakeTsm::start(root.path(), signer(product), vcek(product), tsm_config()).expect("server");
    assert_eq!(
        tsm::detect(root.path()),
        Detection::Tee {
            kind: EvidenceKind::Snp,
            provider: "sev_guest".to_owned()
        }
    );
    drop(server);
    let empty = tempfile::tempdir().expect("tempdir");
    assert!(matches!(
        tsm::detect(&empty.path().join("missing")),
        Detection::NoTee { .. }
    ));
}
