//! The versioned endorsement key certificate (VCEK or VLEK) and AMD's extensions in it.
//!
//! # Wire format
//! AMD "VCEK Certificate and KDS Interface Specification" (57230), extensions under
//! `1.3.6.1.4.1.3704.1`:
//!
//! | OID suffix | name | encoding of the extension value |
//! |---|---|---|
//! | `.2` | productName | DER IA5String, e.g. `Milan-B0`, `Genoa` (the product is the part before `-`) |
//! | `.3.1` | blSPL | DER INTEGER |
//! | `.3.2` | teeSPL | DER INTEGER |
//! | `.3.3` | snpSPL | DER INTEGER |
//! | `.3.8` | ucodeSPL | DER INTEGER |
//! | `.3.9` | fmcSPL | DER INTEGER (Turin) |
//! | `.4` | hwID | the raw CHIP_ID bytes (64; 8 on Turin), not DER-wrapped (VCEK only) |
//! | `.5` | cspID | DER IA5String (VLEK only) |

use der::Decode as _;
use x509_cert::Certificate;

use crate::x509;

/// AMD's extension OIDs.
pub mod oids {
    use der::asn1::ObjectIdentifier;
    /// structVersion.
    pub const STRUCT_VERSION: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.1");
    pub const PRODUCT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.2");
    pub const BL_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
    pub const TEE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
    pub const SNP_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
    pub const UCODE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
    pub const FMC_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.9");
    pub const HWID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.4");
    pub const CSP_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.5");
}

/// VCEK (chip-unique) or VLEK (loaded by a cloud provider).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VekKind {
    Vcek,
    Vlek,
}

impl VekKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vcek => "VCEK",
            Self::Vlek => "VLEK",
        }
    }
}

/// AMD's extensions, each `None` when absent or malformed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VekExtensions {
    pub product_name: Option<String>,
    pub bl_spl: Option<u8>,
    pub tee_spl: Option<u8>,
    pub snp_spl: Option<u8>,
    pub ucode_spl: Option<u8>,
    pub fmc_spl: Option<u8>,
    pub hwid: Option<Vec<u8>>,
    pub csp_id: Option<String>,
}

impl VekExtensions {
    pub fn read(cert: &Certificate) -> Self {
        let mut out = Self::default();
        for ext in cert.tbs_certificate.extensions.iter().flatten() {
            let value = ext.extn_value.as_bytes();
            let spl = || u8::from_der(value).ok();
            let ia5 = || {
                der::asn1::Ia5StringRef::from_der(value)
                    .ok()
                    .map(|s| s.as_str().to_owned())
            };
            match ext.extn_id {
                id if id == oids::PRODUCT_NAME => out.product_name = ia5(),
                id if id == oids::BL_SPL => out.bl_spl = spl(),
                id if id == oids::TEE_SPL => out.tee_spl = spl(),
                id if id == oids::SNP_SPL => out.snp_spl = spl(),
                id if id == oids::UCODE_SPL => out.ucode_spl = spl(),
                id if id == oids::FMC_SPL => out.fmc_spl = spl(),
                id if id == oids::CSP_ID => out.csp_id = ia5(),
                id if id == oids::HWID => {
                    // AMD writes the raw bytes; accept a DER OCTET STRING too.
                    out.hwid = Some(match der::asn1::OctetStringRef::from_der(value) {
                        Ok(os) if value.len() != 64 && value.len() != 8 => os.as_bytes().to_vec(),
                        _ => value.to_vec(),
                    });
                }
                _ => {}
            }
        }
        out
    }

    /// The product part of productName (`Milan-B0` → `Milan`).
    pub fn product(&self) -> Option<&str> {
        self.product_name
            .as_deref()
            .map(|n| n.split('-').next().unwrap_or(n))
    }
}

/// A parsed VCEK or VLEK certificate.
#[derive(Debug, Clone)]
pub struct Vek {
    pub kind: VekKind,
    pub der: Vec<u8>,
    pub cert: Certificate,
    pub ext: VekExtensions,
}

impl Vek {
    pub fn parse(kind: VekKind, der: &[u8]) -> Result<Self, String> {
        let cert = x509::parse(der)?;
        let ext = VekExtensions::read(&cert);
        Ok(Self {
            kind,
            der: der.to_vec(),
            cert,
            ext,
        })
    }

    /// The issuer's common name (`SEV-Milan`, `SEV-VLEK-Genoa`, …).
    pub fn issuer_name(&self) -> String {
        x509::common_name(&self.cert.tbs_certificate.issuer).unwrap_or_default()
    }

    /// The SEC1 encoding of the subject public key.
    pub fn public_key_sec1(&self) -> &[u8] {
        self.cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes()
    }
}
