//! Strict parsing of `ReferenceValues` (see [`super`] for the wire format).

use serde_json::{Map, Value};

use super::error::{ReferenceErrors, ReferenceIssue, ReferenceProblem};
use super::{
    HexBytes, NONE_FIELDS, PLATFORM_FIELDS, ROOT, ReferenceValues, SNP_FIELDS, SNP_PLATFORM_FIELDS,
    SNP_POLICY_FIELDS, SNP_TCB_FIELDS, SnpGuestPolicy, SnpMinimumTcb, SnpPlatformInfo, SnpProduct,
    SnpReference, TDX_FIELDS, TdxReference, TdxTcbStatus, UnattestedReference,
};

impl ReferenceValues {
    /// Parses the manifest's `ReferenceValues` object strictly; see the module docs.
    pub fn parse(map: &Map<String, Value>) -> Result<Self, ReferenceErrors> {
        let mut p = Parser::default();
        let root = ROOT.to_owned();
        p.unknown_fields(map, &root, PLATFORM_FIELDS);
        let mut values = ReferenceValues::default();
        if let Some(v) = map.get("snp") {
            let path = format!("{root}.snp");
            if let Some(list) = p.array(v, &path) {
                values.snp = list
                    .iter()
                    .enumerate()
                    .filter_map(|(i, e)| p.snp_entry(e, &format!("{path}[{i}]")))
                    .collect();
            }
        }
        if let Some(v) = map.get("tdx") {
            let path = format!("{root}.tdx");
            if let Some(list) = p.array(v, &path) {
                values.tdx = list
                    .iter()
                    .enumerate()
                    .filter_map(|(i, e)| p.tdx_entry(e, &format!("{path}[{i}]")))
                    .collect();
            }
        }
        if let Some(v) = map.get("none") {
            let path = format!("{root}.none");
            if let Some(obj) = p.object(v, &path) {
                p.unknown_fields(obj, &path, NONE_FIELDS);
                values.none = Some(UnattestedReference {});
            }
        }
        if p.issues.is_empty() {
            Ok(values)
        } else {
            Err(ReferenceErrors(p.issues))
        }
    }

    /// Whether evidence of the development kind `none` is acceptable at all (it is never
    /// *verified*): an explicit `"none"` entry, or no platform entry at all.
    pub fn allows_unattested(&self) -> bool {
        self.none.is_some() || (self.snp.is_empty() && self.tdx.is_empty())
    }

    /// No platform and no development entry: `{}`.
    pub fn is_empty(&self) -> bool {
        self.snp.is_empty() && self.tdx.is_empty() && self.none.is_none()
    }
}

#[derive(Default)]
pub(super) struct Parser {
    issues: Vec<ReferenceIssue>,
}

pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Parser {
    fn push(&mut self, path: &str, problem: ReferenceProblem) {
        self.issues.push(ReferenceIssue {
            path: path.to_owned(),
            problem,
        });
    }

    fn wrong_type(&mut self, v: &Value, path: &str, expected: &'static str) {
        self.push(
            path,
            ReferenceProblem::WrongType {
                expected,
                found: type_name(v),
            },
        );
    }

    fn unknown_fields(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        known: &'static [&'static str],
    ) {
        for key in obj.keys() {
            if !known.contains(&key.as_str()) {
                let suggestion = known.iter().copied().find(|k| k.eq_ignore_ascii_case(key));
                self.push(
                    &format!("{path}.{key}"),
                    ReferenceProblem::UnknownField {
                        field: key.clone(),
                        expected: known,
                        suggestion,
                    },
                );
            }
        }
    }

    fn object<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(o) => Some(o),
            other => {
                self.wrong_type(other, path, "an object");
                None
            }
        }
    }

    fn array<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v Vec<Value>> {
        match v {
            Value::Array(a) => Some(a),
            other => {
                self.wrong_type(other, path, "an array");
                None
            }
        }
    }

    fn required<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        path: &str,
        field: &'static str,
    ) -> Option<&'v Value> {
        let v = obj.get(field);
        if v.is_none() {
            self.push(path, ReferenceProblem::MissingField { field });
        }
        v
    }

    fn hex<const N: usize>(&mut self, v: &Value, path: &str) -> Option<HexBytes<N>> {
        let found = match v {
            Value::String(s) => match hex::decode(s) {
                Ok(bytes) => match <[u8; N]>::try_from(bytes.as_slice()) {
                    Ok(arr) => return Some(HexBytes(arr)),
                    Err(_) => format!("{} bytes", bytes.len()),
                },
                Err(_) => format!("{s:?}, which is not hexadecimal"),
            },
            other => type_name(other).to_owned(),
        };
        self.push(path, ReferenceProblem::Hex { len: N, found });
        None
    }

    fn integer(&mut self, v: &Value, path: &str, max: u64) -> Option<u64> {
        let found = match v {
            Value::Number(n) => match n.as_u64() {
                Some(x) if x <= max => return Some(x),
                _ => n.to_string(),
            },
            other => type_name(other).to_owned(),
        };
        self.push(path, ReferenceProblem::Integer { min: 0, max, found });
        None
    }

    fn u8(&mut self, v: &Value, path: &str) -> Option<u8> {
        self.integer(v, path, u64::from(u8::MAX))
            .and_then(|x| u8::try_from(x).ok())
    }

    fn u16(&mut self, v: &Value, path: &str) -> Option<u16> {
        self.integer(v, path, u64::from(u16::MAX))
            .and_then(|x| u16::try_from(x).ok())
    }

    fn boolean(&mut self, v: &Value, path: &str) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            other => {
                self.wrong_type(other, path, "true or false");
                None
            }
        }
    }

    /// An optional field parsed with `f`; `Ok(None)` when absent, `Err(())` when malformed.
    fn optional<T>(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        field: &str,
        f: impl FnOnce(&mut Self, &Value, &str) -> Option<T>,
    ) -> Result<Option<T>, ()> {
        match obj.get(field) {
            None => Ok(None),
            Some(v) => f(self, v, &format!("{path}.{field}")).map(Some).ok_or(()),
        }
    }

    fn snp_entry(&mut self, v: &Value, path: &str) -> Option<SnpReference> {
        let obj = self.object(v, path)?;
        self.unknown_fields(obj, path, SNP_FIELDS);

        let product_name = self
            .required(obj, path, "ProductName")
            .and_then(|v| self.product(v, &format!("{path}.ProductName")));
        let trusted_measurement = self
            .required(obj, path, "TrustedMeasurement")
            .and_then(|v| self.hex::<48>(v, &format!("{path}.TrustedMeasurement")));
        let minimum_tcb = self
            .required(obj, path, "MinimumTCB")
            .and_then(|v| self.snp_tcb(v, &format!("{path}.MinimumTCB")));
        let guest_policy = self.optional(obj, path, "GuestPolicy", Self::snp_policy);
        let platform_info = self.optional(obj, path, "PlatformInfo", Self::snp_platform);
        let chip_ids = self.optional(obj, path, "AllowedChipIDs", |p, v, path| {
            let list = p.array(v, path)?;
            let parsed: Vec<Option<HexBytes<64>>> = list
                .iter()
                .enumerate()
                .map(|(i, e)| p.hex::<64>(e, &format!("{path}[{i}]")))
                .collect();
            parsed.into_iter().collect::<Option<Vec<_>>>()
        });

        Some(SnpReference {
            product_name: product_name?,
            trusted_measurement: trusted_measurement?,
            minimum_tcb: minimum_tcb?,
            guest_policy: guest_policy.ok()?.unwrap_or_default(),
            platform_info: platform_info.ok()?.unwrap_or_default(),
            allowed_chip_ids: chip_ids.ok()?.unwrap_or_default(),
        })
    }

    fn product(&mut self, v: &Value, path: &str) -> Option<SnpProduct> {
        match v {
            Value::String(s) => {
                let p = SnpProduct::from_name(s);
                if p.is_none() {
                    self.push(path, ReferenceProblem::UnknownProduct { found: s.clone() });
                }
                p
            }
            other => {
                self.wrong_type(other, path, "a product name string");
                None
            }
        }
    }

    fn snp_tcb(&mut self, v: &Value, path: &str) -> Option<SnpMinimumTcb> {
        let obj = self.object(v, path)?;
        self.unknown_fields(obj, path, SNP_TCB_FIELDS);
        let mut field = |name: &'static str| {
            self.required(obj, path, name)
                .and_then(|v| self.u8(v, &format!("{path}.{name}")))
        };
        let bootloader = field("BootloaderVersion");
        let tee = field("TEEVersion");
        let snp = field("SNPVersion");
        let microcode = field("MicrocodeVersion");
        Some(SnpMinimumTcb {
            bootloader: bootloader?,
            tee: tee?,
            snp: snp?,
            microcode: microcode?,
        })
    }

    fn snp_policy(&mut self, v: &Value, path: &str) -> Option<SnpGuestPolicy> {
        let obj = self.object(v, path)?;
        self.unknown_fields(obj, path, SNP_POLICY_FIELDS);
        let d = SnpGuestPolicy::default();
        let mut ok = true;
        let mut byte =
            |p: &mut Self, name: &str, default: u8| match p.optional(obj, path, name, Self::u8) {
                Ok(v) => v.unwrap_or(default),
                Err(()) => {
                    ok = false;
                    default
                }
            };
        let abi_major = byte(self, "ABIMajor", d.abi_major);
        let abi_minor = byte(self, "ABIMinor", d.abi_minor);
        let mut flag = |p: &mut Self, name: &str, default: bool| match p.optional(
            obj,
            path,
            name,
            Self::boolean,
        ) {
            Ok(v) => v.unwrap_or(default),
            Err(()) => {
                ok = false;
                default
            }
        };
        let policy = SnpGuestPolicy {
            abi_major,
            abi_minor,
            smt: flag(self, "SMT", d.smt),
            migrate_ma: flag(self, "MigrateMA", d.migrate_ma),
            debug: flag(self, "Debug", d.debug),
            single_socket: flag(self, "SingleSocket", d.single_socket),
            cxl_allowed: flag(self, "CXLAllowed", d.cxl_allowed),
            mem_aes_256_xts: flag(self, "MemAES256XTS", d.mem_aes_256_xts),
            rapl_dis: flag(self, "RAPLDis", d.rapl_dis),
            ciphertext_hiding: flag(self, "CipherTextHiding", d.ciphertext_hiding),
            page_swap_disable: flag(self, "PageSwapDisable", d.page_swap_disable),
        };
        ok.then_some(policy)
    }

    fn snp_platform(&mut self, v: &Value, path: &str) -> Option<SnpPlatformInfo> {
        let obj = self.object(v, path)?;
        self.unknown_fields(obj, path, SNP_PLATFORM_FIELDS);
        let mut ok = true;
        let mut flag = |p: &mut Self, name: &str| match p.optional(obj, path, name, Self::boolean) {
            Ok(v) => v,
            Err(()) => {
                ok = false;
                None
            }
        };
        let info = SnpPlatformInfo {
            smt_enabled: flag(self, "SMTEnabled"),
            tsme_enabled: flag(self, "TSMEEnabled"),
            ecc_enabled: flag(self, "ECCEnabled"),
            rapl_disabled: flag(self, "RAPLDisabled"),
            ciphertext_hiding_enabled: flag(self, "CiphertextHidingEnabled"),
            alias_check_complete: flag(self, "AliasCheckComplete"),
        };
        ok.then_some(info)
    }

    fn tdx_entry(&mut self, v: &Value, path: &str) -> Option<TdxReference> {
        let obj = self.object(v, path)?;
        self.unknown_fields(obj, path, TDX_FIELDS);
        let mr_td = self
            .required(obj, path, "MrTd")
            .and_then(|v| self.hex::<48>(v, &format!("{path}.MrTd")));
        let rtmrs = self
            .required(obj, path, "Rtrms")
            .and_then(|v| self.rtmrs(v, &format!("{path}.Rtrms")));
        let mr_seam = self.optional(obj, path, "MrSeam", Self::hex::<48>);
        let td_attributes = self
            .required(obj, path, "TdAttributes")
            .and_then(|v| self.hex::<8>(v, &format!("{path}.TdAttributes")));
        let xfam = self
            .required(obj, path, "Xfam")
            .and_then(|v| self.hex::<8>(v, &format!("{path}.Xfam")));
        let minimum_tee_tcb_svn = self
            .required(obj, path, "MinimumTeeTcbSvn")
            .and_then(|v| self.hex::<16>(v, &format!("{path}.MinimumTeeTcbSvn")));
        let minimum_qe_svn = self.optional(obj, path, "MinimumQeSvn", Self::u16);
        let minimum_pce_svn = self.optional(obj, path, "MinimumPceSvn", Self::u16);
        let statuses = self.optional(obj, path, "AllowedTcbStatuses", Self::tcb_statuses);
        Some(TdxReference {
            mr_td: mr_td?,
            rtmrs: rtmrs?,
            mr_seam: mr_seam.ok()?,
            td_attributes: td_attributes?,
            xfam: xfam?,
            minimum_tee_tcb_svn: minimum_tee_tcb_svn?,
            minimum_qe_svn: minimum_qe_svn.ok()?.unwrap_or(0),
            minimum_pce_svn: minimum_pce_svn.ok()?.unwrap_or(0),
            allowed_tcb_statuses: statuses
                .ok()?
                .unwrap_or_else(|| vec![TdxTcbStatus::UpToDate]),
        })
    }

    fn rtmrs(&mut self, v: &Value, path: &str) -> Option<[HexBytes<48>; 4]> {
        let list = self.array(v, path)?;
        if list.len() != 4 {
            self.push(
                path,
                ReferenceProblem::Count {
                    expected: 4,
                    found: list.len(),
                },
            );
            return None;
        }
        let parsed: Vec<Option<HexBytes<48>>> = list
            .iter()
            .enumerate()
            .map(|(i, e)| self.hex::<48>(e, &format!("{path}[{i}]")))
            .collect();
        let all: Vec<HexBytes<48>> = parsed.into_iter().collect::<Option<_>>()?;
        <[HexBytes<48>; 4]>::try_from(all).ok()
    }

    fn tcb_statuses(&mut self, v: &Value, path: &str) -> Option<Vec<TdxTcbStatus>> {
        let list = self.array(v, path)?;
        if list.is_empty() {
            self.push(path, ReferenceProblem::NoTcbStatus);
            return None;
        }
        let mut ok = true;
        let mut out = Vec::new();
        for (i, e) in list.iter().enumerate() {
            let p = format!("{path}[{i}]");
            match e {
                Value::String(s) => match TdxTcbStatus::from_name(s) {
                    Some(TdxTcbStatus::Revoked) => {
                        ok = false;
                        self.push(&p, ReferenceProblem::RevokedAllowed);
                    }
                    Some(status) => {
                        if !out.contains(&status) {
                            out.push(status);
                        }
                    }
                    None => {
                        ok = false;
                        self.push(&p, ReferenceProblem::UnknownTcbStatus { found: s.clone() });
                    }
                },
                other => {
                    ok = false;
                    self.wrong_type(other, &p, "a TCB status string");
                }
            }
        }
        ok.then_some(out)
    }
}
