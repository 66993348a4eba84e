//! The reference entries: which one is shown, and its checks (check 8 of [`super`]).

use seedward_shared::reference::{SnpProduct, SnpReference};

use super::ENTRY_CHECKS;
use super::report::{SnpReport, Tcb, policy_bits};
use crate::Appraisal;
use crate::verdict::{Check, names};

/// The reference check and the chosen entry's checks.
pub(super) struct EntryOutcome {
    pub(super) reference: Check,
    pub(super) checks: Vec<Check>,
}

pub(super) fn choose_entry(
    report: &SnpReport,
    product: Option<SnpProduct>,
    layout: SnpProduct,
    appraisal: &Appraisal<'_>,
) -> EntryOutcome {
    let entries = &appraisal.reference.snp;
    if entries.is_empty() {
        return EntryOutcome {
            reference: Check::of(
                names::REFERENCE,
                false,
                "the manifest has no ReferenceValues.snp entry",
                "at least one ReferenceValues.snp entry",
                "add the SNP reference values of the Coordinator's image to the manifest (docs/ATTESTATION.md: getting reference values)",
            ),
            checks: ENTRY_CHECKS
                .iter()
                .map(|name| {
                    Check::not_performed(
                        name,
                        "no reference entry",
                        "",
                        "add a ReferenceValues.snp entry",
                    )
                })
                .collect(),
        };
    }
    let evaluated: Vec<Vec<Check>> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| entry_checks(report, product, layout, e, i))
        .collect();
    let failures = |c: &Vec<Check>| c.iter().filter(|c| !c.passed()).count();
    let (index, checks) = evaluated
        .iter()
        .enumerate()
        .min_by_key(|(i, c)| (failures(c), *i))
        .map(|(i, c)| (i, c.clone()))
        .unwrap_or_default();
    let fails = failures(&checks);
    let reference = Check::of(
        names::REFERENCE,
        fails == 0,
        if fails == 0 {
            format!(
                "matches ReferenceValues.snp[{index}] (of {})",
                entries.len()
            )
        } else {
            format!(
                "no entry matches; closest is ReferenceValues.snp[{index}] (of {}) with {fails} failing check(s)",
                entries.len()
            )
        },
        "any one ReferenceValues.snp entry matches completely",
        format!("see the failing checks: they compare with ReferenceValues.snp[{index}]"),
    );
    EntryOutcome { reference, checks }
}

pub(super) fn entry_checks(
    report: &SnpReport,
    product: Option<SnpProduct>,
    layout: SnpProduct,
    e: &SnpReference,
    i: usize,
) -> Vec<Check> {
    let at = format!("ReferenceValues.snp[{i}]");
    let mut out = Vec::with_capacity(ENTRY_CHECKS.len());
    out.push(Check::of(
        names::PRODUCT,
        product == Some(e.product_name),
        product.map_or("unknown (no verified chain)".to_owned(), |p| p.to_string()),
        e.product_name.to_string(),
        format!("the Coordinator runs on another AMD product: add an entry for it or fix {at}.ProductName"),
    ));
    out.push(Check::of(
        names::MEASUREMENT,
        report.measurement() == e.trusted_measurement.0,
        hex::encode(report.measurement()),
        e.trusted_measurement.to_hex(),
        format!("the launched image differs: deploy the expected image, or set {at}.TrustedMeasurement to the new image's launch measurement"),
    ));
    let min = Tcb {
        fmc: None,
        bootloader: e.minimum_tcb.bootloader,
        tee: e.minimum_tcb.tee,
        snp: e.minimum_tcb.snp,
        microcode: e.minimum_tcb.microcode,
    };
    for (name, raw, which) in [
        (names::TCB_REPORTED, report.reported_tcb(), "REPORTED_TCB"),
        (
            names::TCB_COMMITTED,
            report.committed_tcb(),
            "COMMITTED_TCB",
        ),
        (names::TCB_LAUNCH, report.launch_tcb(), "LAUNCH_TCB"),
    ] {
        let tcb = Tcb::decode(raw, layout);
        let low: Vec<&str> = [
            ("BootloaderVersion", tcb.bootloader, min.bootloader),
            ("TEEVersion", tcb.tee, min.tee),
            ("SNPVersion", tcb.snp, min.snp),
            ("MicrocodeVersion", tcb.microcode, min.microcode),
        ]
        .into_iter()
        .filter(|(_, seen, want)| seen < want)
        .map(|(field, _, _)| field)
        .collect();
        out.push(Check::of(
            name,
            low.is_empty(),
            format!("{which} {tcb}"),
            format!("≥ {min}"),
            format!(
                "the platform firmware is older than {at}.MinimumTCB ({}): update the host's firmware/microcode, or lower the minimum if you accept it",
                low.join(", ")
            ),
        ));
    }
    let debug = report.policy_bit(policy_bits::DEBUG);
    out.push(Check::of(
        names::GUEST_POLICY_DEBUG,
        !debug || e.guest_policy.debug,
        if debug { "DEBUG allowed (the host can read the guest's memory)" } else { "DEBUG not allowed" },
        if e.guest_policy.debug { "DEBUG allowed by the reference" } else { "DEBUG not allowed" },
        format!("the guest was launched with a debug policy: relaunch without debug (set {at}.GuestPolicy.Debug only for test deployments)"),
    ));
    out.push(guest_policy_check(report, e, &at));
    let expected_bits = e.platform_info.expected_bits();
    let info = report.platform_info();
    let wrong: Vec<String> = expected_bits
        .iter()
        .filter(|(_, bit, want)| (info >> bit & 1 == 1) != *want)
        .map(|(name, _, want)| format!("{name} is {}", !want))
        .collect();
    out.push(Check::of(
        names::PLATFORM_INFO,
        wrong.is_empty(),
        format!("0x{info:x}{}", if wrong.is_empty() { String::new() } else { format!(" ({})", wrong.join(", ")) }),
        if expected_bits.is_empty() {
            "any (PlatformInfo not set)".to_owned()
        } else {
            expected_bits
                .iter()
                .map(|(name, _, v)| format!("{name} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
        format!("the host's platform configuration differs: reconfigure the host or change {at}.PlatformInfo"),
    ));
    let chip = report.chip_id();
    let allowed = e.allowed_chip_ids.is_empty() || e.allowed_chip_ids.iter().any(|c| c.0 == chip);
    out.push(Check::of(
        names::CHIP_ID,
        allowed,
        hex::encode(chip),
        if e.allowed_chip_ids.is_empty() {
            "any chip (AllowedChipIDs not set)".to_owned()
        } else {
            format!("one of {} allowed chip IDs", e.allowed_chip_ids.len())
        },
        format!("the Coordinator runs on a machine not in {at}.AllowedChipIDs: move it, or add this chip ID"),
    ));
    out
}

pub(super) fn guest_policy_check(report: &SnpReport, e: &SnpReference, at: &str) -> Check {
    let p = &e.guest_policy;
    let mut problems = Vec::new();
    for (name, bit, allowed) in [
        ("SMT", policy_bits::SMT, p.smt),
        ("MigrateMA", policy_bits::MIGRATE_MA, p.migrate_ma),
        ("CXLAllowed", policy_bits::CXL_ALLOW, p.cxl_allowed),
    ] {
        if report.policy_bit(bit) && !allowed {
            problems.push(format!("{name} allowed but the reference forbids it"));
        }
    }
    for (name, bit, required) in [
        ("SingleSocket", policy_bits::SINGLE_SOCKET, p.single_socket),
        (
            "MemAES256XTS",
            policy_bits::MEM_AES_256_XTS,
            p.mem_aes_256_xts,
        ),
        ("RAPLDis", policy_bits::RAPL_DIS, p.rapl_dis),
        (
            "CipherTextHiding",
            policy_bits::CIPHERTEXT_HIDING,
            p.ciphertext_hiding,
        ),
        (
            "PageSwapDisable",
            policy_bits::PAGE_SWAP_DISABLE,
            p.page_swap_disable,
        ),
    ] {
        if required && !report.policy_bit(bit) {
            problems.push(format!("{name} required but not set"));
        }
    }
    let policy = report.policy();
    let abi = ((policy >> 8 & 0xff) as u8, (policy & 0xff) as u8);
    if abi < (p.abi_major, p.abi_minor) {
        problems.push(format!(
            "ABI {}.{} below {}.{}",
            abi.0, abi.1, p.abi_major, p.abi_minor
        ));
    }
    Check::of(
        names::GUEST_POLICY,
        problems.is_empty(),
        format!(
            "0x{policy:x}{}",
            if problems.is_empty() {
                String::new()
            } else {
                format!(": {}", problems.join("; "))
            }
        ),
        format!(
            "ABI ≥ {}.{}; may allow:{}{}{}; must set:{}{}{}{}{}",
            p.abi_major,
            p.abi_minor,
            if p.smt { " SMT" } else { "" },
            if p.migrate_ma { " MigrateMA" } else { "" },
            if p.cxl_allowed { " CXLAllowed" } else { "" },
            if p.single_socket { " SingleSocket" } else { "" },
            if p.mem_aes_256_xts {
                " MemAES256XTS"
            } else {
                ""
            },
            if p.rapl_dis { " RAPLDis" } else { "" },
            if p.ciphertext_hiding {
                " CipherTextHiding"
            } else {
                ""
            },
            if p.page_swap_disable {
                " PageSwapDisable"
            } else {
                ""
            },
        ),
        format!(
            "the guest's launch policy differs: relaunch with the expected policy or change {at}.GuestPolicy"
        ),
    )
}
