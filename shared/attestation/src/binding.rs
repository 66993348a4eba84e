//! Evidence and its binding to the connection it vouches for (docs/ATTESTATION.md,
//! "Evidence kinds and the binding").
//!
//! # Wire format
//! `report_data = SHA-512( "seedward evidence v1" ‖ tls_spki_sha256 (32) ‖ challenge_public_key (0 or 32) )`,
//! 64 bytes, placed in the report's user-data field: SNP `REPORT_DATA` (offset 0x50), TDX
//! `REPORTDATA` (TD report offset 520 of the body). Every evidence kind carries the same binding.
//!
//! An [`Evidence`] is the domain form of what a Coordinator offers:
//!
//! | field | `none` | `snp` | `tdx` |
//! |---|---|---|---|
//! | `report` | the bare 64-byte `report_data` | the 1184-byte `ATTESTATION_REPORT` from `outblob` | the DCAP quote (v4/v5) from `outblob` |
//! | `certificates` | empty | the certificate table from `auxblob`, exactly as the kernel returns it ([`CertTable`]) | empty |
//! | `collateral` | empty | zero or more CRLs (DER or PEM `X509 CRL`), if the caller has them | DCAP collateral JSON (dcap-qvl `QuoteCollateralV3` field names), if available |
//!
//! # The SNP certificate table (`auxblob`)
//! GHCB specification (AMD 56421) §4.1.8.1, `MSG_REPORT_REQ` extended request: a sequence of
//! 24-byte entries `GUID (16) ‖ offset (u32 LE) ‖ length (u32 LE)`, terminated by an entry of 24
//! zero bytes; each `(offset, length)` locates one DER certificate (or CRL) relative to the start
//! of the table. GUIDs are stored in RFC 4122 byte order (the hex digits as written):
//!
//! | GUID | content |
//! |---|---|
//! | `63da758d-e664-4564-adc5-f4b93be8accd` | VCEK |
//! | `a8074bc2-a25a-483e-aae6-39c045a0b8a1` | VLEK |
//! | `4ab7b379-bbac-4fe4-a02f-05aef327c782` | ASK (or ASVK for a VLEK) |
//! | `c0b406a4-a803-4952-9743-3fb6014cd0ae` | ARK |
//! | `92f81bc3-5811-4d3d-97ff-d19f88dc67ea` | CRL |
//!
//! Bytes after the terminator that no entry points at (the kernel returns whole pages) are
//! ignored. An empty blob is an empty table.

use std::fmt;

use serde::Serialize;
use sha2::{Digest as _, Sha512};

/// Domain separation prefix of the evidence binding.
pub const EVIDENCE_BINDING_LABEL: &[u8] = b"seedward evidence v1";

/// The 64-byte binding of the TLS key and (while the Coordinator offers one) the recovery
/// challenge key. See the module docs.
pub fn report_data(
    tls_spki_sha256: &[u8; 32],
    challenge_public_key: Option<&[u8; 32]>,
) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update(EVIDENCE_BINDING_LABEL);
    h.update(tls_spki_sha256);
    if let Some(k) = challenge_public_key {
        h.update(k);
    }
    h.finalize().into()
}

/// Which TEE produced the evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EvidenceKind {
    /// Development: attests nothing.
    None,
    /// AMD SEV-SNP.
    Snp,
    /// Intel TDX.
    Tdx,
}

impl EvidenceKind {
    /// `"none"`, `"snp"` or `"tdx"`, as on the wire and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Snp => "snp",
            Self::Tdx => "tdx",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "none" => Some(Self::None),
            "snp" => Some(Self::Snp),
            "tdx" => Some(Self::Tdx),
            _ => None,
        }
    }
}

impl fmt::Display for EvidenceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a Coordinator (or a workload) offers as proof of what it is. See the module docs for
/// what each field holds per kind.
#[derive(Clone, PartialEq, Eq)]
pub struct Evidence {
    pub kind: EvidenceKind,
    pub report: Vec<u8>,
    pub certificates: Vec<u8>,
    pub collateral: Vec<u8>,
}

impl Evidence {
    /// Development evidence: binds `report_data`, attests nothing.
    pub fn unattested(report_data: [u8; 64]) -> Self {
        Self {
            kind: EvidenceKind::None,
            report: report_data.to_vec(),
            certificates: Vec::new(),
            collateral: Vec::new(),
        }
    }
}

impl fmt::Debug for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Evidence")
            .field("kind", &self.kind)
            .field("report_len", &self.report.len())
            .field("certificates_len", &self.certificates.len())
            .field("collateral_len", &self.collateral.len())
            .finish()
    }
}

/// The kind of an SNP certificate table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum CertKind {
    Vcek,
    Vlek,
    /// The ASK, or the ASVK that signs VLEKs (the table has one GUID for both).
    Ask,
    Ark,
    Crl,
}

impl CertKind {
    /// The GUID in table byte order (RFC 4122).
    pub fn guid(self) -> [u8; 16] {
        match self {
            Self::Vcek => GUID_VCEK,
            Self::Vlek => GUID_VLEK,
            Self::Ask => GUID_ASK,
            Self::Ark => GUID_ARK,
            Self::Crl => GUID_CRL,
        }
    }

    /// Whether a table may hold at most one entry of this kind. The ASK GUID is shared by the
    /// ASK and the ASVK, and there may be several CRLs.
    pub fn unique(self) -> bool {
        matches!(self, Self::Vcek | Self::Vlek | Self::Ark)
    }

    fn from_guid(guid: &[u8; 16]) -> Option<Self> {
        [Self::Vcek, Self::Vlek, Self::Ask, Self::Ark, Self::Crl]
            .into_iter()
            .find(|k| k.guid() == *guid)
    }
}

const GUID_VCEK: [u8; 16] = guid(
    0x63da758d,
    0xe664,
    0x4564,
    [0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd],
);
const GUID_VLEK: [u8; 16] = guid(
    0xa8074bc2,
    0xa25a,
    0x483e,
    [0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1],
);
const GUID_ASK: [u8; 16] = guid(
    0x4ab7b379,
    0xbbac,
    0x4fe4,
    [0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82],
);
const GUID_ARK: [u8; 16] = guid(
    0xc0b406a4,
    0xa803,
    0x4952,
    [0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae],
);
const GUID_CRL: [u8; 16] = guid(
    0x92f81bc3,
    0x5811,
    0x4d3d,
    [0x97, 0xff, 0xd1, 0x9f, 0x88, 0xdc, 0x67, 0xea],
);

/// A GUID in RFC 4122 byte order from its textual groups.
const fn guid(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    let a = a.to_be_bytes();
    let b = b.to_be_bytes();
    let c = c.to_be_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6],
        d[7],
    ]
}

/// Formats a table GUID as text.
pub fn guid_string(g: &[u8; 16]) -> String {
    let h = hex::encode(g);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// One entry of the certificate table.
#[derive(Clone, PartialEq, Eq)]
pub struct CertTableEntry {
    pub guid: [u8; 16],
    /// `None` for a GUID Seedward does not use (kept so that it can be named).
    pub kind: Option<CertKind>,
    pub data: Vec<u8>,
}

impl fmt::Debug for CertTableEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertTableEntry")
            .field("guid", &guid_string(&self.guid))
            .field("kind", &self.kind)
            .field("len", &self.data.len())
            .finish()
    }
}

/// The SNP certificate table. See the module docs for the format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertTable {
    pub entries: Vec<CertTableEntry>,
}

/// Why bytes are not a certificate table, or a certificate file is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertTableError {
    #[error("the certificate table has no terminating all-zero entry within its {len} bytes")]
    Unterminated { len: usize },
    #[error(
        "certificate table entry {index} ({guid}) points at bytes {offset}..{end}, outside the {len}-byte table"
    )]
    OutOfBounds {
        index: usize,
        guid: String,
        offset: usize,
        end: usize,
        len: usize,
    },
    #[error("the certificate table lists {kind:?} twice (entries {first} and {second})")]
    Duplicate {
        kind: CertKind,
        first: usize,
        second: usize,
    },
    #[error("certificate table entry {index} is too large to encode ({len} bytes)")]
    TooLarge { index: usize, len: usize },
    #[error("certificate {index} is neither DER nor PEM X.509: {reason}")]
    NotACertificate { index: usize, reason: String },
    #[error(
        "certificate {index} (subject {subject:?}) is not an AMD VCEK, VLEK, ASK, ASVK or ARK certificate"
    )]
    Unclassified { index: usize, subject: String },
}

const ENTRY_LEN: usize = 24;

impl CertTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a table as the kernel's `auxblob` returns it. An empty blob is an empty table.
    pub fn parse(bytes: &[u8]) -> Result<Self, CertTableError> {
        let mut entries: Vec<CertTableEntry> = Vec::new();
        if bytes.is_empty() {
            return Ok(Self { entries });
        }
        let mut index = 0usize;
        loop {
            let start = index * ENTRY_LEN;
            let Some(raw) = bytes.get(start..start + ENTRY_LEN) else {
                return Err(CertTableError::Unterminated { len: bytes.len() });
            };
            if raw.iter().all(|b| *b == 0) {
                break;
            }
            let mut guid = [0u8; 16];
            guid.copy_from_slice(&raw[..16]);
            let offset = u32::from_le_bytes([raw[16], raw[17], raw[18], raw[19]]) as usize;
            let length = u32::from_le_bytes([raw[20], raw[21], raw[22], raw[23]]) as usize;
            let end = offset.saturating_add(length);
            let Some(data) = bytes.get(offset..end) else {
                return Err(CertTableError::OutOfBounds {
                    index,
                    guid: guid_string(&guid),
                    offset,
                    end,
                    len: bytes.len(),
                });
            };
            let kind = CertKind::from_guid(&guid);
            if let Some(k) = kind
                && k.unique()
                && let Some(first) = entries.iter().position(|e| e.kind == Some(k))
            {
                return Err(CertTableError::Duplicate {
                    kind: k,
                    first,
                    second: index,
                });
            }
            entries.push(CertTableEntry {
                guid,
                kind,
                data: data.to_vec(),
            });
            index += 1;
        }
        Ok(Self { entries })
    }

    /// Adds an entry (builder style).
    pub fn with(mut self, kind: CertKind, der: Vec<u8>) -> Self {
        self.entries.push(CertTableEntry {
            guid: kind.guid(),
            kind: Some(kind),
            data: der,
        });
        self
    }

    /// Encodes the table: the entries, the terminator, then the data in entry order.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CertTableError> {
        let header = (self.entries.len() + 1) * ENTRY_LEN;
        let mut out =
            Vec::with_capacity(header + self.entries.iter().map(|e| e.data.len()).sum::<usize>());
        let mut offset = header;
        for (index, e) in self.entries.iter().enumerate() {
            let too_large = CertTableError::TooLarge {
                index,
                len: e.data.len(),
            };
            let off = u32::try_from(offset).map_err(|_| too_large.clone())?;
            let len = u32::try_from(e.data.len()).map_err(|_| too_large)?;
            out.extend_from_slice(&e.guid);
            out.extend_from_slice(&off.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            offset += e.data.len();
        }
        out.extend_from_slice(&[0u8; ENTRY_LEN]);
        for e in &self.entries {
            out.extend_from_slice(&e.data);
        }
        Ok(out)
    }

    /// The first entry of `kind`.
    pub fn get(&self, kind: CertKind) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|e| e.kind == Some(kind))
            .map(|e| e.data.as_slice())
    }

    /// Every entry of `kind`.
    pub fn all(&self, kind: CertKind) -> impl Iterator<Item = &[u8]> {
        self.entries
            .iter()
            .filter(move |e| e.kind == Some(kind))
            .map(|e| e.data.as_slice())
    }

    /// Builds a table from certificate files (DER, or PEM with one or more certificates), as an
    /// operator passes them with `--cert`: each certificate is classified by its subject's
    /// common name (`SEV-VCEK`, `SEV-VLEK`, `SEV-<product>` = ASK, `SEV-VLEK-<product>` = ASVK,
    /// `ARK-<product>`).
    pub fn from_certificate_files<B: AsRef<[u8]>>(files: &[B]) -> Result<Self, CertTableError> {
        let mut table = Self::new();
        let mut index = 0usize;
        for file in files {
            for der in crate::x509::der_certificates(file.as_ref())
                .map_err(|reason| CertTableError::NotACertificate { index, reason })?
            {
                let subject = crate::x509::subject_common_name(&der)
                    .map_err(|reason| CertTableError::NotACertificate { index, reason })?;
                let kind = match subject.as_str() {
                    "SEV-VCEK" => CertKind::Vcek,
                    "SEV-VLEK" => CertKind::Vlek,
                    s if s.starts_with("ARK-") => CertKind::Ark,
                    s if s.starts_with("SEV-") => CertKind::Ask,
                    _ => return Err(CertTableError::Unclassified { index, subject }),
                };
                if kind.unique()
                    && let Some(first) = table.entries.iter().position(|e| e.kind == Some(kind))
                {
                    return Err(CertTableError::Duplicate {
                        kind,
                        first,
                        second: table.entries.len(),
                    });
                }
                table = table.with(kind, der);
                index += 1;
            }
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_covers_both_keys() {
        let a = report_data(&[1; 32], None);
        let b = report_data(&[1; 32], Some(&[2; 32]));
        let c = report_data(&[1; 32], Some(&[3; 32]));
        let d = report_data(&[4; 32], Some(&[2; 32]));
        assert!(a != b && b != c && b != d);
        let ev = Evidence::unattested(b);
        assert_eq!(ev.kind, EvidenceKind::None);
        assert_eq!(ev.report, b.to_vec());
    }

    #[test]
    fn binding_known_answer() {
        // Computed independently (Python hashlib) from the documented formula.
        assert_eq!(
            hex::encode(report_data(&[0; 32], Some(&[0x11; 32]))),
            "af504e85fdeea7b7a6a362cd070a070cf6a9f33b7a7aad0a396c43578284921f\
             0c8c9131b8be1cc45ad15dfe516ddfc9a21550a6fb0527d6628c1c5cb5f0d585"
        );
    }

    #[test]
    fn guids_are_in_rfc4122_byte_order() {
        assert_eq!(
            guid_string(&GUID_VCEK),
            "63da758d-e664-4564-adc5-f4b93be8accd"
        );
        assert_eq!(
            guid_string(&GUID_VLEK),
            "a8074bc2-a25a-483e-aae6-39c045a0b8a1"
        );
        assert_eq!(
            guid_string(&GUID_ASK),
            "4ab7b379-bbac-4fe4-a02f-05aef327c782"
        );
        assert_eq!(
            guid_string(&GUID_ARK),
            "c0b406a4-a803-4952-9743-3fb6014cd0ae"
        );
        assert_eq!(
            guid_string(&GUID_CRL),
            "92f81bc3-5811-4d3d-97ff-d19f88dc67ea"
        );
        assert_eq!(&GUID_VCEK[..4], &[0x63, 0xda, 0x75, 0x8d]);
    }

    #[test]
    fn table_round_trip_and_page_padding() {
        let table = CertTable::new()
            .with(CertKind::Vcek, vec![1, 2, 3])
            .with(CertKind::Ask, vec![4; 10])
            .with(CertKind::Ark, vec![5; 7]);
        let mut bytes = table.to_bytes().expect("encodes");
        assert_eq!(bytes.len(), 4 * 24 + 3 + 10 + 7);
        bytes.resize(4096, 0);
        let parsed = CertTable::parse(&bytes).expect("parses");
        assert_eq!(parsed, table);
        assert_eq!(parsed.get(CertKind::Ask), Some(&[4u8; 10][..]));
        assert_eq!(parsed.get(CertKind::Vlek), None);
        assert_eq!(CertTable::parse(&[]).expect("empty"), CertTable::new());
    }

    #[test]
    fn table_errors() {
        let table = CertTable::new().with(CertKind::Vcek, vec![1, 2, 3]);
        let bytes = table.to_bytes().expect("encodes");
        // An entry whose data is in bounds, but no terminator after it.
        let mut raw = GUID_VCEK.to_vec();
        raw.extend_from_slice(&0u32.to_le_bytes());
        raw.extend_from_slice(&24u32.to_le_bytes());
        assert_eq!(
            CertTable::parse(&raw),
            Err(CertTableError::Unterminated { len: 24 })
        );
        // Cut inside the data.
        assert!(matches!(
            CertTable::parse(&bytes[..50]),
            Err(CertTableError::OutOfBounds { .. })
        ));
        // Point past the end.
        let mut bad = bytes.clone();
        bad[20] = 200;
        assert!(matches!(
            CertTable::parse(&bad),
            Err(CertTableError::OutOfBounds { index: 0, .. })
        ));
        let dup = CertTable::new()
            .with(CertKind::Vcek, vec![1])
            .with(CertKind::Vcek, vec![2])
            .to_bytes()
            .expect("encodes");
        assert!(matches!(
            CertTable::parse(&dup),
            Err(CertTableError::Duplicate {
                kind: CertKind::Vcek,
                first: 0,
                second: 1
            })
        ));
        // Unknown GUIDs are kept, not dropped.
        let mut other = table.clone();
        other.entries.push(CertTableEntry {
            guid: [9; 16],
            kind: None,
            data: vec![7],
        });
        let parsed = CertTable::parse(&other.to_bytes().expect("encodes")).expect("parses");
        assert_eq!(parsed.entries[1].kind, None);
    }
}
