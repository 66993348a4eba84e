//! Every recorded vector in `testdata/` (see its README) verifies with its own values and fails,
//! with the right check named, when anything about it is wrong.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use seedward_attestation::snp::report::{SnpReport, Tcb};
use seedward_attestation::verdict::names;
use seedward_attestation::{
    Appraisal, CertKind, CertTable, Evidence, EvidenceKind, Revocation, TrustAnchors, Verdict,
    verify,
};
use seedward_shared::reference::{
    HexBytes, ReferenceValues, SnpGuestPolicy, SnpMinimumTcb, SnpPlatformInfo, SnpProduct,
    SnpReference, TdxReference, TdxTcbStatus,
};

fn testdata(path: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn at(unix: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(unix)
}

/// One SNP vector with everything needed to verify it with its own values.
struct SnpVector {
    product: SnpProduct,
    report: Vec<u8>,
    table: Vec<u8>,
    /// Inside the VEK's validity.
    now: u64,
    vmpl_ok: bool,
}

impl SnpVector {
    fn load(name: &'static str) -> Self {
        let (product, vek_kind, vek_file, now, vmpl_ok) = match name {
            // 2024-06-01
            "milan-1" => (
                SnpProduct::Milan,
                CertKind::Vcek,
                "vcek.der",
                1_717_200_000,
                true,
            ),
            "milan-2" => (
                SnpProduct::Milan,
                CertKind::Vcek,
                "vcek.der",
                1_717_200_000,
                true,
            ),
            // 2025-06-01
            "genoa-azure" => (
                SnpProduct::Genoa,
                CertKind::Vcek,
                "vcek.pem",
                1_748_736_000,
                true,
            ),
            "milan-vlek-aws" => (
                SnpProduct::Milan,
                CertKind::Vlek,
                "vlek.der",
                1_748_736_000,
                false,
            ),
            other => panic!("unknown vector {other}"),
        };
        let vek = testdata(&format!("snp/{name}/{vek_file}"));
        let table = CertTable::from_certificate_files(&[vek]).expect("classifies the VEK");
        assert_eq!(table.entries[0].kind, Some(vek_kind));
        Self {
            product,
            report: testdata(&format!("snp/{name}/report.bin")),
            table: table.to_bytes().expect("encodes"),
            now,
            vmpl_ok,
        }
    }

    fn parsed(&self) -> SnpReport {
        SnpReport::parse(&self.report).expect("parses")
    }

    fn evidence(&self) -> Evidence {
        Evidence {
            kind: EvidenceKind::Snp,
            report: self.report.clone(),
            certificates: self.table.clone(),
            collateral: Vec::new(),
        }
    }

    /// Reference values taken from the report itself.
    fn reference(&self) -> SnpReference {
        let r = self.parsed();
        let tcb = Tcb::decode(r.reported_tcb(), self.product);
        let policy = r.policy();
        SnpReference {
            product_name: self.product,
            trusted_measurement: HexBytes(r.measurement()),
            minimum_tcb: SnpMinimumTcb {
                bootloader: tcb.bootloader,
                tee: tcb.tee,
                snp: tcb.snp,
                microcode: tcb.microcode,
            },
            guest_policy: SnpGuestPolicy {
                abi_major: (policy >> 8 & 0xff) as u8,
                abi_minor: (policy & 0xff) as u8,
                ..SnpGuestPolicy::default()
            },
            platform_info: SnpPlatformInfo::default(),
            allowed_chip_ids: vec![HexBytes(r.chip_id())],
        }
    }

    fn verify_with(
        &self,
        evidence: &Evidence,
        reference: &ReferenceValues,
        anchors: &TrustAnchors,
        now: u64,
        report_data: [u8; 64],
        host_data: [u8; 32],
    ) -> Verdict {
        verify(
            evidence,
            &Appraisal {
                reference,
                report_data: Some(report_data),
                host_data: Some(host_data),
                anchors,
                at: at(now),
                revocation: Revocation::Waive,
            },
        )
    }

    fn verify_entries(&self, entries: Vec<SnpReference>) -> Verdict {
        let r = self.parsed();
        self.verify_with(
            &self.evidence(),
            &ReferenceValues {
                snp: entries,
                ..ReferenceValues::default()
            },
            &TrustAnchors::amd(),
            self.now,
            r.report_data(),
            r.host_data(),
        )
    }

    fn verify_own(&self) -> Verdict {
        self.verify_entries(vec![self.reference()])
    }
}

const VECTORS: [&str; 4] = ["milan-1", "milan-2", "genoa-azure", "milan-vlek-aws"];

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
    assert!(!c.hint.is_empty(), "{check} must say what to change");
}

#[test]
fn every_snp_vector_verifies_with_its_own_values() {
    for name in VECTORS {
        let vector = SnpVector::load(name);
        let v = vector.verify_own();
        if vector.vmpl_ok {
            assert!(v.verified(), "{name}:\n{}", explain(&v));
            assert!(!v.test_anchor_used());
            let chain = v.check(names::CHAIN).expect("chain");
            assert!(chain.seen.contains("pinned SHA-256"), "{}", chain.seen);
            assert!(v.waived.iter().any(|w| w.name == names::CRL));
        } else {
            // The AWS VLEK report was requested at VMPL 1: everything else about it is genuine.
            assert_eq!(v.failed(), vec![names::VMPL], "{name}:\n{}", explain(&v));
            assert!(
                v.check(names::CHAIN)
                    .expect("chain")
                    .seen
                    .starts_with("VLEK ← SEV-VLEK-Milan")
            );
            assert!(v.check(names::VCEK_HWID).is_none(), "no hwID for a VLEK");
        }
        let json = serde_json::to_value(&v).expect("serializes");
        assert_eq!(json["kind"], "snp");
        assert_eq!(json["claims"]["product"], vector.product.as_str());
    }
}

#[test]
fn our_report_parser_agrees_with_sev() {
    use sev::parser::ByteParser as _;
    for name in VECTORS {
        let vector = SnpVector::load(name);
        let ours = vector.parsed();
        let theirs = sev::firmware::guest::AttestationReport::from_bytes(&vector.report)
            .unwrap_or_else(|e| panic!("{name}: sev cannot parse: {e}"));
        assert_eq!(ours.version(), theirs.version, "{name}");
        assert_eq!(ours.measurement(), theirs.measurement, "{name}");
        assert_eq!(ours.report_data(), theirs.report_data, "{name}");
        assert_eq!(ours.host_data(), theirs.host_data, "{name}");
        assert_eq!(ours.chip_id(), theirs.chip_id, "{name}");
        assert_eq!(ours.vmpl(), theirs.vmpl, "{name}");
        assert_eq!(ours.policy(), u64::from(theirs.policy), "{name}");
        assert_eq!(ours.platform_info(), u64::from(theirs.plat_info), "{name}");
        let tcb = Tcb::decode(ours.reported_tcb(), vector.product);
        assert_eq!(
            (tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode),
            (
                theirs.reported_tcb.bootloader,
                theirs.reported_tcb.tee,
                theirs.reported_tcb.snp,
                theirs.reported_tcb.microcode
            ),
            "{name}"
        );
        let launch = Tcb::decode(ours.launch_tcb(), vector.product);
        assert_eq!(launch.microcode, theirs.launch_tcb.microcode, "{name}");
        let (r, s) = ours.signature();
        assert_eq!(&r, theirs.signature.r(), "{name}");
        assert_eq!(&s, theirs.signature.s(), "{name}");
    }
}

#[test]
fn a_one_byte_flip_of_the_signed_body_fails_the_signature() {
    for name in VECTORS {
        let vector = SnpVector::load(name);
        for pos in [
            0x004, 0x008, 0x050, 0x090, 0x0C0, 0x180, 0x1A0, 0x1F0, 0x29F,
        ] {
            let mut evidence = vector.evidence();
            evidence.report[pos] ^= 0x01;
            let r = vector.parsed();
            let v = vector.verify_with(
                &evidence,
                &ReferenceValues {
                    snp: vec![vector.reference()],
                    ..ReferenceValues::default()
                },
                &TrustAnchors::amd(),
                vector.now,
                r.report_data(),
                r.host_data(),
            );
            assert_fails(&v, names::SIGNATURE);
        }
        // A flip in the signature itself.
        let mut evidence = vector.evidence();
        evidence.report[0x2A0] ^= 0x80;
        let r = vector.parsed();
        let v = vector.verify_with(
            &evidence,
            &ReferenceValues {
                snp: vec![vector.reference()],
                ..ReferenceValues::default()
            },
            &TrustAnchors::amd(),
            vector.now,
            r.report_data(),
            r.host_data(),
        );
        assert_fails(&v, names::SIGNATURE);
        assert_eq!(
            v.check(names::CHAIN).and_then(|c| c.ok),
            Some(true),
            "the chain itself is fine"
        );
    }
}

#[test]
fn wrong_chains_fail() {
    let milan2 = SnpVector::load("milan-2");
    for invalid in ["vcek-invalid-legacy.der", "vcek-invalid-new.der"] {
        let table = CertTable::new()
            .with(CertKind::Vcek, testdata(&format!("snp/milan-2/{invalid}")))
            .to_bytes()
            .expect("encodes");
        let evidence = Evidence {
            certificates: table,
            ..milan2.evidence()
        };
        let r = milan2.parsed();
        let v = milan2.verify_with(
            &evidence,
            &ReferenceValues {
                snp: vec![milan2.reference()],
                ..ReferenceValues::default()
            },
            &TrustAnchors::amd(),
            milan2.now,
            r.report_data(),
            r.host_data(),
        );
        assert_fails(&v, names::CHAIN);
        assert_fails(&v, names::SIGNATURE);
        assert_fails(&v, names::VCEK_HWID);
    }

    // Genoa's ARK in the table of a Milan VCEK.
    let milan1 = SnpVector::load("milan-1");
    let genoa_ark = CertTable::from_certificate_files(&[std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/amd/genoa-ask-ark-asvk.pem"),
    )
    .expect("reads")])
    .expect("classifies");
    let ark = genoa_ark.get(CertKind::Ark).expect("an ARK").to_vec();
    let ask = genoa_ark.get(CertKind::Ask).expect("an ASK").to_vec();
    let vcek = testdata("snp/milan-1/vcek.der");
    let r = milan1.parsed();
    let reference = ReferenceValues {
        snp: vec![milan1.reference()],
        ..ReferenceValues::default()
    };
    for table in [
        CertTable::new()
            .with(CertKind::Vcek, vcek.clone())
            .with(CertKind::Ark, ark),
        CertTable::new()
            .with(CertKind::Vcek, vcek.clone())
            .with(CertKind::Ask, ask),
    ] {
        let evidence = Evidence {
            certificates: table.to_bytes().expect("encodes"),
            ..milan1.evidence()
        };
        let v = milan1.verify_with(
            &evidence,
            &reference,
            &TrustAnchors::amd(),
            milan1.now,
            r.report_data(),
            r.host_data(),
        );
        assert_fails(&v, names::CHAIN);
    }

    // The Milan ASK and ARK that came with milan-1 are the pinned ones: accepted.
    let with_chain =
        CertTable::from_certificate_files(&[vcek.clone(), testdata("snp/milan-1/ask-ark.pem")])
            .expect("classifies");
    let v = milan1.verify_with(
        &Evidence {
            certificates: with_chain.to_bytes().expect("encodes"),
            ..milan1.evidence()
        },
        &reference,
        &TrustAnchors::amd(),
        milan1.now,
        r.report_data(),
        r.host_data(),
    );
    assert!(v.verified(), "{}", explain(&v));

    // Only Genoa trusted: no root for Milan.
    let v = milan1.verify_with(
        &milan1.evidence(),
        &reference,
        &TrustAnchors::amd().only(&[SnpProduct::Genoa]),
        milan1.now,
        r.report_data(),
        r.host_data(),
    );
    assert_fails(&v, names::CHAIN);

    // Genoa's genuine VCEK for Milan's report: the chain holds, nothing else does.
    let genoa_vcek = CertTable::from_certificate_files(&[testdata("snp/genoa-azure/vcek.pem")])
        .expect("classifies");
    let v = milan1.verify_with(
        &Evidence {
            certificates: genoa_vcek.to_bytes().expect("encodes"),
            ..milan1.evidence()
        },
        &reference,
        &TrustAnchors::amd(),
        1_748_736_000,
        r.report_data(),
        r.host_data(),
    );
    assert_fails(&v, names::SIGNATURE);
    assert_fails(&v, names::VCEK_HWID);
    assert_fails(&v, names::PRODUCT);

    // No VCEK at all.
    let v = milan1.verify_with(
        &Evidence {
            certificates: Vec::new(),
            ..milan1.evidence()
        },
        &reference,
        &TrustAnchors::amd(),
        milan1.now,
        r.report_data(),
        r.host_data(),
    );
    assert_fails(&v, names::CHAIN);
    assert_eq!(v.check(names::SIGNATURE).map(|c| c.ok), Some(None));
    assert!(v.not_performed().contains(&names::SIGNATURE));
}

#[test]
fn a_time_outside_the_certificate_validity_fails() {
    for name in VECTORS {
        let vector = SnpVector::load(name);
        let r = vector.parsed();
        let reference = ReferenceValues {
            snp: vec![vector.reference()],
            ..ReferenceValues::default()
        };
        for when in [
            1_577_836_800, // 2020-01-01, before every VCEK/VLEK
            2_145_916_800, // 2038-01-01, after every VCEK/VLEK
        ] {
            let v = vector.verify_with(
                &vector.evidence(),
                &reference,
                &TrustAnchors::amd(),
                when,
                r.report_data(),
                r.host_data(),
            );
            assert_fails(&v, names::VCEK_VALIDITY);
        }
    }
}

#[test]
fn reference_mismatches_name_their_check() {
    for name in VECTORS {
        let vector = SnpVector::load(name);
        let own = vector.reference();

        let mut e = own.clone();
        e.trusted_measurement.0[0] ^= 1;
        let v = vector.verify_entries(vec![e]);
        assert_fails(&v, names::MEASUREMENT);
        assert_fails(&v, names::REFERENCE);

        let mut e = own.clone();
        e.minimum_tcb.snp = e.minimum_tcb.snp.saturating_add(1);
        let v = vector.verify_entries(vec![e]);
        assert_fails(&v, names::TCB_REPORTED);
        assert_fails(&v, names::TCB_COMMITTED);
        assert_fails(&v, names::TCB_LAUNCH);
        assert!(
            v.check(names::TCB_REPORTED)
                .expect("check")
                .hint
                .contains("SNPVersion")
        );

        let mut e = own.clone();
        e.allowed_chip_ids = vec![HexBytes([0x42; 64])];
        let v = vector.verify_entries(vec![e]);
        assert_fails(&v, names::CHIP_ID);

        let mut e = own.clone();
        e.product_name = SnpProduct::Turin;
        let v = vector.verify_entries(vec![e]);
        assert_fails(&v, names::PRODUCT);

        let mut e = own.clone();
        e.guest_policy.smt = false;
        let v = vector.verify_entries(vec![e]);
        assert_fails(&v, names::GUEST_POLICY);

        let mut e = own.clone();
        e.platform_info.smt_enabled = Some(!vector.parsed().platform_info() & 1 == 1);
        let v = vector.verify_entries(vec![e]);
        assert_fails(&v, names::PLATFORM_INFO);

        // The report's debug bit is clear, so allowing debug changes nothing.
        let mut e = own.clone();
        e.guest_policy.debug = true;
        let v = vector.verify_entries(vec![e]);
        assert_eq!(
            v.check(names::GUEST_POLICY_DEBUG).and_then(|c| c.ok),
            Some(true)
        );
    }
}

#[test]
fn report_data_and_host_data_mismatches_fail() {
    for name in VECTORS {
        let vector = SnpVector::load(name);
        let r = vector.parsed();
        let reference = ReferenceValues {
            snp: vec![vector.reference()],
            ..ReferenceValues::default()
        };
        let mut other = r.report_data();
        other[63] ^= 1;
        let v = vector.verify_with(
            &vector.evidence(),
            &reference,
            &TrustAnchors::amd(),
            vector.now,
            other,
            r.host_data(),
        );
        assert_fails(&v, names::REPORT_DATA);
        let v = vector.verify_with(
            &vector.evidence(),
            &reference,
            &TrustAnchors::amd(),
            vector.now,
            r.report_data(),
            [0x77; 32],
        );
        assert_fails(&v, names::HOST_DATA);
        // Without expectations the checks are not performed, and nothing verifies.
        let v = verify(
            &vector.evidence(),
            &Appraisal {
                reference: &reference,
                report_data: None,
                host_data: None,
                anchors: &TrustAnchors::amd(),
                at: at(vector.now),
                revocation: Revocation::Waive,
            },
        );
        assert!(!v.verified());
        assert_eq!(
            v.not_performed(),
            vec![names::HOST_DATA, names::REPORT_DATA]
        );
    }
}

#[test]
fn the_vlek_vector_fails_vmpl() {
    let vector = SnpVector::load("milan-vlek-aws");
    let v = vector.verify_own();
    assert_fails(&v, names::VMPL);
    assert_eq!(v.check(names::VMPL).expect("vmpl").seen, "1");
}

#[test]
fn without_a_crl_revocation_is_not_performed_unless_waived() {
    let vector = SnpVector::load("milan-1");
    let r = vector.parsed();
    let reference = ReferenceValues {
        snp: vec![vector.reference()],
        ..ReferenceValues::default()
    };
    let v = verify(
        &vector.evidence(),
        &Appraisal {
            reference: &reference,
            report_data: Some(r.report_data()),
            host_data: Some(r.host_data()),
            anchors: &TrustAnchors::amd(),
            at: at(vector.now),
            revocation: Revocation::Require,
        },
    );
    assert!(!v.verified());
    assert_eq!(v.not_performed(), vec![names::CRL]);
    assert!(v.failed().is_empty(), "{}", explain(&v));
    let crl = v.check(names::CRL).expect("crl");
    assert!(crl.hint.contains("/vcek/v1/Milan/crl"), "{}", crl.hint);
    // A CRL that is not a CRL fails.
    let v = verify(
        &Evidence {
            collateral: b"not a CRL".to_vec(),
            ..vector.evidence()
        },
        &Appraisal {
            reference: &reference,
            report_data: Some(r.report_data()),
            host_data: Some(r.host_data()),
            anchors: &TrustAnchors::amd(),
            at: at(vector.now),
            revocation: Revocation::Waive,
        },
    );
    assert_fails(&v, names::CRL);
}

#[test]
fn several_entries_any_one_matches_else_the_closest_is_shown() {
    let vector = SnpVector::load("milan-1");
    let own = vector.reference();
    let mut wrong_measurement = own.clone();
    wrong_measurement.trusted_measurement.0[5] ^= 1;
    let mut wrong_twice = wrong_measurement.clone();
    wrong_twice.product_name = SnpProduct::Genoa;

    let v = vector.verify_entries(vec![wrong_twice.clone(), own.clone()]);
    assert!(v.verified(), "{}", explain(&v));
    assert!(
        v.check(names::REFERENCE)
            .expect("reference")
            .seen
            .contains("snp[1] (of 2)")
    );

    let v = vector.verify_entries(vec![wrong_twice, wrong_measurement]);
    assert!(!v.verified());
    let reference = v.check(names::REFERENCE).expect("reference");
    assert!(
        reference.seen.contains("closest is ReferenceValues.snp[1]"),
        "{}",
        reference.seen
    );
    assert_eq!(v.failed(), vec![names::REFERENCE, names::MEASUREMENT]);

    let v = vector.verify_entries(Vec::new());
    assert_fails(&v, names::REFERENCE);
    assert!(v.not_performed().contains(&names::MEASUREMENT));
}

#[test]
fn a_truncated_report_is_named() {
    let vector = SnpVector::load("milan-1");
    let v = verify(
        &Evidence {
            report: vector.report[..1000].to_vec(),
            ..vector.evidence()
        },
        &Appraisal {
            reference: &ReferenceValues::default(),
            report_data: None,
            host_data: None,
            anchors: &TrustAnchors::amd(),
            at: at(vector.now),
            revocation: Revocation::Waive,
        },
    );
    assert_fails(&v, names::REPORT_FORMAT);
    assert_eq!(v.check(names::SIGNATURE).map(|c| c.ok), Some(None));
}

// ---------------------------------------------------------------------------------------------
// TDX

struct TdxVector {
    quote: Vec<u8>,
    collateral: Vec<u8>,
    /// TCB info issueDate + 1 h.
    now: u64,
}

fn tdx_vector(quote: &str, collateral: &str) -> TdxVector {
    let collateral = testdata(&format!("tdx/{collateral}"));
    let json: serde_json::Value = serde_json::from_slice(&collateral).expect("json");
    let tcb_info: serde_json::Value =
        serde_json::from_str(json["tcb_info"].as_str().expect("tcb_info")).expect("tcb info json");
    let issue = tcb_info["issueDate"].as_str().expect("issueDate");
    let issue = chrono_free_parse(issue);
    TdxVector {
        quote: testdata(&format!("tdx/{quote}")),
        collateral,
        now: issue + 3600,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` to Unix seconds (days-from-civil), independent of the crate's parser.
fn chrono_free_parse(s: &str) -> u64 {
    let n = |a: usize, b: usize| -> i64 { s[a..b].parse().expect("digits") };
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)).expect("after 1970")
}

fn tdx_reference(quote: &[u8]) -> TdxReference {
    let q = dcap_qvl::quote::Quote::parse(quote).expect("parses");
    let td = q.report.as_td10().expect("a TD quote");
    TdxReference {
        mr_td: HexBytes(td.mr_td),
        rtmrs: [
            HexBytes(td.rt_mr0),
            HexBytes(td.rt_mr1),
            HexBytes(td.rt_mr2),
            HexBytes(td.rt_mr3),
        ],
        mr_seam: Some(HexBytes(td.mr_seam)),
        td_attributes: HexBytes(td.td_attributes),
        xfam: HexBytes(td.xfam),
        minimum_tee_tcb_svn: HexBytes(td.tee_tcb_svn),
        minimum_qe_svn: q.header.qe_svn,
        minimum_pce_svn: q.header.pce_svn,
        allowed_tcb_statuses: vec![TdxTcbStatus::UpToDate],
    }
}

fn tdx_verify(v: &TdxVector, quote: &[u8], reference: TdxReference, now: u64) -> Verdict {
    let q = dcap_qvl::quote::Quote::parse(&v.quote).expect("parses");
    let td = q.report.as_td10().expect("td");
    let mut host = [0u8; 32];
    host.copy_from_slice(&td.mr_config_id[..32]);
    verify(
        &Evidence {
            kind: EvidenceKind::Tdx,
            report: quote.to_vec(),
            certificates: Vec::new(),
            collateral: v.collateral.clone(),
        },
        &Appraisal {
            reference: &ReferenceValues {
                tdx: vec![reference],
                ..ReferenceValues::default()
            },
            report_data: Some(td.report_data),
            host_data: Some(host),
            anchors: &TrustAnchors::amd(),
            at: at(now),
            revocation: Revocation::Require,
        },
    )
}

#[test]
fn tdx_quote_verifies_up_to_date() {
    let v = tdx_vector("tdx_quote", "tdx_quote_collateral.json");
    let verdict = tdx_verify(&v, &v.quote, tdx_reference(&v.quote), v.now);
    assert!(verdict.verified(), "{}", explain(&verdict));
    assert_eq!(
        verdict.check(names::TCB_STATUS).expect("status").seen,
        "UpToDate"
    );
    let json = serde_json::to_value(&verdict).expect("serializes");
    assert_eq!(json["claims"]["tcb_status"], "UpToDate");
    assert_eq!(json["claims"]["fmspc"], "B0C06F000000");
    assert!(
        verdict
            .check(names::CHAIN)
            .expect("chain")
            .seen
            .contains("Intel SGX Root CA")
    );
}

#[test]
fn tdx_quote_a_year_later_is_rejected() {
    let v = tdx_vector("tdx_quote", "tdx_quote_collateral.json");
    let verdict = tdx_verify(&v, &v.quote, tdx_reference(&v.quote), v.now + 365 * 86400);
    assert_fails(&verdict, names::COLLATERAL_VALIDITY);
    assert_fails(&verdict, names::CHAIN);
}

#[test]
fn tdx_outdated_quote_is_refused_and_named() {
    // Its platform is older than every TCB level of its own TCB info (dcap-qvl 0.7.1: "No
    // matching TCB level found", as Intel's QVL refuses an unsupported TCB): every signature
    // and the chain verify, the TCB status check fails, and no allowed status can accept it.
    let v = tdx_vector("tdx_quote_outdated", "tdx_quote_outdated_collateral.json");
    let verdict = tdx_verify(&v, &v.quote, tdx_reference(&v.quote), v.now);
    assert_fails(&verdict, names::TCB_STATUS);
    assert_eq!(
        verdict.failed(),
        vec![names::REFERENCE, names::TCB_STATUS],
        "{}",
        explain(&verdict)
    );
    assert_eq!(verdict.check(names::CHAIN).and_then(|c| c.ok), Some(true));
    let status = &verdict.check(names::TCB_STATUS).expect("status").seen;
    assert!(status.starts_with("no TCB level"), "{status}");
    let mut reference = tdx_reference(&v.quote);
    reference.allowed_tcb_statuses = TdxTcbStatus::ALL
        .into_iter()
        .filter(|s| *s != TdxTcbStatus::Revoked)
        .collect();
    assert_fails(
        &tdx_verify(&v, &v.quote, reference, v.now),
        names::TCB_STATUS,
    );
}

#[test]
fn tdx_status_outside_the_allowed_list_is_refused() {
    let v = tdx_vector("tdx_quote", "tdx_quote_collateral.json");
    let mut reference = tdx_reference(&v.quote);
    reference.allowed_tcb_statuses = vec![TdxTcbStatus::SWHardeningNeeded];
    let verdict = tdx_verify(&v, &v.quote, reference, v.now);
    assert_fails(&verdict, names::TCB_STATUS);
    assert!(
        verdict
            .check(names::TCB_STATUS)
            .expect("status")
            .hint
            .contains("AllowedTcbStatuses")
    );
}

#[test]
fn tdx_mismatches_name_their_check() {
    let v = tdx_vector("tdx_quote", "tdx_quote_collateral.json");
    let own = tdx_reference(&v.quote);

    let mut e = own.clone();
    e.mr_td.0[0] ^= 1;
    assert_fails(&tdx_verify(&v, &v.quote, e, v.now), names::MEASUREMENT);

    let mut e = own.clone();
    e.rtmrs[2].0[7] ^= 1;
    let verdict = tdx_verify(&v, &v.quote, e, v.now);
    assert_fails(&verdict, names::RTMRS);
    assert!(
        verdict
            .check(names::RTMRS)
            .expect("rtmrs")
            .hint
            .contains("RTMR2")
    );

    let mut e = own.clone();
    e.xfam.0[0] ^= 1;
    assert_fails(&tdx_verify(&v, &v.quote, e, v.now), names::XFAM);

    let mut e = own.clone();
    e.minimum_tee_tcb_svn.0[0] = e.minimum_tee_tcb_svn.0[0].saturating_add(1);
    assert_fails(&tdx_verify(&v, &v.quote, e, v.now), names::TEE_TCB_SVN);

    let mut e = own.clone();
    e.minimum_qe_svn = e.minimum_qe_svn.saturating_add(1);
    assert_fails(&tdx_verify(&v, &v.quote, e, v.now), names::QE_SVN);

    let mut e = own.clone();
    e.mr_seam = Some(HexBytes([0; 48]));
    assert_fails(&tdx_verify(&v, &v.quote, e, v.now), names::MR_SEAM);

    // A one-byte flip of the TD report body (MRTD at 48 + 136) is a signature failure.
    let mut quote = v.quote.clone();
    quote[48 + 136] ^= 1;
    let verdict = tdx_verify(&v, &quote, own.clone(), v.now);
    assert_fails(&verdict, names::SIGNATURE);
    assert_fails(&verdict, names::CHAIN);

    // No collateral: not performed, never verified.
    let verdict = verify(
        &Evidence {
            kind: EvidenceKind::Tdx,
            report: v.quote.clone(),
            certificates: Vec::new(),
            collateral: Vec::new(),
        },
        &Appraisal {
            reference: &ReferenceValues {
                tdx: vec![own],
                ..ReferenceValues::default()
            },
            report_data: None,
            host_data: None,
            anchors: &TrustAnchors::amd(),
            at: at(v.now),
            revocation: Revocation::Require,
        },
    );
    assert!(!verdict.verified());
    for name in [
        names::COLLATERAL,
        names::COLLATERAL_VALIDITY,
        names::CHAIN,
        names::TCB_STATUS,
    ] {
        assert_eq!(verdict.check(name).map(|c| c.ok), Some(None), "{name}");
    }
}

#[test]
fn tdx_debug_td_is_refused_unless_allowed() {
    // The sample TD is not a debug TD; a reference that expects the debug bit must still
    // accept it (debug *allowed*), while td-attributes compares the rest exactly.
    let v = tdx_vector("tdx_quote", "tdx_quote_collateral.json");
    let mut e = tdx_reference(&v.quote);
    e.td_attributes.0[0] |= 1;
    let verdict = tdx_verify(&v, &v.quote, e, v.now);
    assert!(verdict.verified(), "{}", explain(&verdict));
    let mut e = tdx_reference(&v.quote);
    e.td_attributes.0[3] ^= 0x10;
    assert_fails(&tdx_verify(&v, &v.quote, e, v.now), names::TD_ATTRIBUTES);
}
