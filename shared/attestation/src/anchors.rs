//! Trust anchors: the roots a verdict may chain to.
//!
//! AMD's root keys (ARK) for Milan, Genoa and Turin, with the ASK (signs VCEKs) and ASVK (signs
//! VLEKs) they certify, are compiled into the binary from `data/amd/*-ask-ark-asvk.pem` (copies
//! of AMD's KDS `cert_chain` files) and **pinned**: each ARK's SHA-256 fingerprint (of its DER
//! encoding) must equal the constant below, or that product has no anchor at all and every
//! chain to it fails. Intel's SGX root CA for TDX is pinned inside `dcap-qvl` and checked again
//! through its key id ([`crate::tdx::INTEL_ROOT_KEY_ID`]).
//!
//! | product | ARK SHA-256 fingerprint |
//! |---|---|
//! | Milan | `69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd` |
//! | Genoa | `4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1` |
//! | Turin | `1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a` |
//!
//! A *test* anchor ([`TrustAnchors::with_test_ark`]) replaces AMD's roots with one made by a
//! test signer. Every verdict made under it says so in its `chain` check and through
//! [`crate::Verdict::test_anchor_used`].

use seedward_shared::reference::SnpProduct;
use x509_cert::Certificate;

use crate::x509;

/// SHA-256 fingerprints of AMD's ARK certificates (DER), per product.
pub const AMD_ARK_FINGERPRINTS: [(SnpProduct, &str); 3] = [
    (
        SnpProduct::Milan,
        "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
    ),
    (
        SnpProduct::Genoa,
        "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
    ),
    (
        SnpProduct::Turin,
        "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
    ),
];

const AMD_CHAINS: [(SnpProduct, &str); 3] = [
    (
        SnpProduct::Milan,
        include_str!("../data/amd/milan-ask-ark-asvk.pem"),
    ),
    (
        SnpProduct::Genoa,
        include_str!("../data/amd/genoa-ask-ark-asvk.pem"),
    ),
    (
        SnpProduct::Turin,
        include_str!("../data/amd/turin-ask-ark-asvk.pem"),
    ),
];

/// One certificate with its exact DER.
#[derive(Debug, Clone)]
pub struct AnchorCert {
    pub der: Vec<u8>,
    pub cert: Certificate,
}

impl AnchorCert {
    fn parse(der: &[u8]) -> Result<Self, String> {
        Ok(Self {
            der: der.to_vec(),
            cert: x509::parse(der)?,
        })
    }

    /// The subject's common name.
    pub fn common_name(&self) -> String {
        x509::common_name(&self.cert.tbs_certificate.subject).unwrap_or_default()
    }

    /// SHA-256 of the DER.
    pub fn fingerprint(&self) -> [u8; 32] {
        x509::fingerprint(&self.der)
    }
}

/// The root and the intermediates of one SNP product.
#[derive(Debug, Clone)]
pub struct SnpAnchor {
    pub product: SnpProduct,
    pub ark: AnchorCert,
    /// ASK (`SEV-<product>`) and ASVK (`SEV-VLEK-<product>`), whichever are known.
    pub intermediates: Vec<AnchorCert>,
    /// Made by a test signer, not AMD.
    pub test: bool,
}

impl SnpAnchor {
    /// How a `chain` check names this root.
    pub fn describe(&self) -> String {
        let fp = hex::encode(self.ark.fingerprint());
        if self.test {
            format!("test trust anchor {fp} (NOT an AMD root)")
        } else {
            format!("AMD ARK-{} (pinned SHA-256 {fp})", self.product)
        }
    }
}

/// Why a test anchor could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnchorError {
    #[error("the test ARK is not a usable certificate: {0}")]
    Ark(String),
    #[error("test intermediate {index} is not a usable certificate: {reason}")]
    Intermediate { index: usize, reason: String },
}

/// The roots verdicts may chain to. See the module docs.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    snp: Vec<SnpAnchor>,
    /// Products whose embedded certificates failed to load or to match their pin.
    load_problems: Vec<(SnpProduct, String)>,
}

impl TrustAnchors {
    /// AMD's pinned roots for Milan, Genoa and Turin.
    pub fn amd() -> Self {
        let mut snp = Vec::new();
        let mut load_problems = Vec::new();
        for (product, pem) in AMD_CHAINS {
            match load_amd(product, pem) {
                Ok(anchor) => snp.push(anchor),
                Err(problem) => load_problems.push((product, problem)),
            }
        }
        Self { snp, load_problems }
    }

    /// Trusts only a test root for `product` (whose intermediates must be named like AMD's:
    /// `SEV-<product>` for the ASK, `SEV-VLEK-<product>` for an ASVK). Verdicts made with it
    /// report the anchor as `test trust anchor <fingerprint> (NOT an AMD root)`.
    pub fn with_test_ark(
        product: SnpProduct,
        ark_der: &[u8],
        intermediates: &[&[u8]],
    ) -> Result<Self, AnchorError> {
        let ark = AnchorCert::parse(ark_der).map_err(AnchorError::Ark)?;
        let intermediates = intermediates
            .iter()
            .enumerate()
            .map(|(index, der)| {
                AnchorCert::parse(der).map_err(|reason| AnchorError::Intermediate { index, reason })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            snp: vec![SnpAnchor {
                product,
                ark,
                intermediates,
                test: true,
            }],
            load_problems: Vec::new(),
        })
    }

    /// A test root from a PEM bundle (the test ARK, named `ARK-<product>`, and its
    /// intermediates), as `--test-trust-anchor FILE` passes it. Everything verified with it
    /// is marked as made under a test anchor.
    pub fn test_from_pem(pem: &[u8]) -> Result<Self, AnchorError> {
        let ders = x509::der_certificates(pem).map_err(AnchorError::Ark)?;
        let mut ark = None;
        let mut intermediates = Vec::new();
        for der in ders {
            let cert = AnchorCert::parse(&der).map_err(AnchorError::Ark)?;
            let name = cert.common_name();
            match name.strip_prefix("ARK-").and_then(SnpProduct::from_name) {
                Some(product) => ark = Some((product, der)),
                None => intermediates.push(der),
            }
        }
        let (product, ark) = ark.ok_or_else(|| {
            AnchorError::Ark("no certificate named ARK-Milan, ARK-Genoa or ARK-Turin".into())
        })?;
        let refs: Vec<&[u8]> = intermediates.iter().map(Vec::as_slice).collect();
        Self::with_test_ark(product, &ark, &refs)
    }

    /// Keeps only the given products' roots.
    pub fn only(mut self, products: &[SnpProduct]) -> Self {
        self.snp.retain(|a| products.contains(&a.product));
        self
    }

    /// The root of `product`, if trusted.
    pub fn snp(&self, product: SnpProduct) -> Option<&SnpAnchor> {
        self.snp.iter().find(|a| a.product == product)
    }

    /// Whether any trusted root is a test root.
    pub fn is_test(&self) -> bool {
        self.snp.iter().any(|a| a.test)
    }

    /// Why a product's embedded root is missing (it failed to load or to match its pin).
    pub fn load_problem(&self, product: SnpProduct) -> Option<&str> {
        self.load_problems
            .iter()
            .find(|(p, _)| *p == product)
            .map(|(_, why)| why.as_str())
    }
}

fn load_amd(product: SnpProduct, pem: &str) -> Result<SnpAnchor, String> {
    let mut ark = None;
    let mut intermediates = Vec::new();
    for der in x509::der_certificates(pem.as_bytes())? {
        let cert = AnchorCert::parse(&der)?;
        let cn = cert.common_name();
        if cn == format!("ARK-{product}") {
            ark = Some(cert);
        } else if cn == format!("SEV-{product}") || cn == format!("SEV-VLEK-{product}") {
            intermediates.push(cert);
        } else {
            return Err(format!(
                "unexpected certificate {cn:?} in the {product} chain"
            ));
        }
    }
    let ark = ark.ok_or_else(|| format!("no ARK-{product} in the embedded chain"))?;
    let pinned = AMD_ARK_FINGERPRINTS
        .iter()
        .find(|(p, _)| *p == product)
        .map(|(_, fp)| *fp)
        .ok_or_else(|| format!("no pinned fingerprint for {product}"))?;
    let actual = hex::encode(ark.fingerprint());
    if actual != pinned {
        return Err(format!(
            "the embedded ARK-{product} has SHA-256 {actual}, not the pinned {pinned}"
        ));
    }
    Ok(SnpAnchor {
        product,
        ark,
        intermediates,
        test: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amd_roots_load_and_match_their_pins() {
        let anchors = TrustAnchors::amd();
        assert!(!anchors.is_test());
        for (product, fp) in AMD_ARK_FINGERPRINTS {
            assert_eq!(anchors.load_problem(product), None);
            let a = anchors.snp(product).expect("every product is trusted");
            assert_eq!(hex::encode(a.ark.fingerprint()), fp);
            let mut names: Vec<String> = a.intermediates.iter().map(|c| c.common_name()).collect();
            names.sort();
            assert_eq!(
                names,
                vec![format!("SEV-{product}"), format!("SEV-VLEK-{product}")]
            );
            assert!(a.describe().contains("pinned"));
        }
        // The vectors README quotes the first 8 bytes of the Milan ARK and ASK fingerprints.
        let milan = anchors.snp(SnpProduct::Milan).expect("milan");
        assert!(hex::encode(milan.ark.fingerprint()).starts_with("69d063b45344d26a"));
        assert!(
            milan
                .intermediates
                .iter()
                .any(|c| hex::encode(c.fingerprint()).starts_with("67d303bd3905fd38"))
        );
    }

    #[test]
    fn a_wrong_pin_removes_the_product() {
        let genoa_pem = AMD_CHAINS[1].1;
        let err = load_amd(SnpProduct::Milan, genoa_pem).expect_err("genoa certs are not milan's");
        assert!(err.contains("unexpected certificate"), "{err}");
        let only = TrustAnchors::amd().only(&[SnpProduct::Genoa]);
        assert!(only.snp(SnpProduct::Milan).is_none());
        assert!(only.snp(SnpProduct::Genoa).is_some());
    }
}
