//! Strict verification of a LUKS2 header before the initializer opens a volume with it.
//!
//! The block device is untrusted storage: whoever controls it can rewrite its header, for
//! example add a keyslot with a passphrase they know, a token, or a weaker cipher. So the
//! initializer backs the header up to private memory, verifies the *copy* here, and opens
//! the device with `cryptsetup open --header <copy>`: the header that was checked is the
//! one that is used.
//!
//! # What is accepted (exactly what `luksFormat` in [`super::cryptsetup`] writes)
//! - Binary header: magic `LUKS\xba\xbe` (a primary header, not the secondary `SKUL\xba\xbe`),
//!   big-endian version 2.
//! - JSON metadata (`cryptsetup luksDump --dump-json-metadata`), parsed with unknown fields
//!   denied:
//!   - exactly one keyslot, `"0"`: type `luks2`, key size 64 bytes (AES-XTS with two 256-bit
//!     keys), AF `luks1` with 4000 stripes and `sha256`, area `raw` encrypted with
//!     `aes-xts-plain64` and a 64-byte key, KDF `argon2id` with a non-empty salt;
//!   - exactly one segment, `"0"`: type `crypt`, `aes-xts-plain64`, `iv_tweak` `"0"`, no
//!     flags, no integrity (dm-integrity is not used, see docs/WORKLOADS.md);
//!   - exactly one digest, `"0"`: type `pbkdf2` with `sha256` over keyslot `["0"]` and
//!     segment `["0"]`, non-empty salt and digest;
//!   - no tokens; config without flags or requirements.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The magic of a primary LUKS header.
pub const LUKS_MAGIC: &[u8; 6] = b"LUKS\xba\xbe";
/// The magic of the secondary LUKS2 header.
pub const LUKS_SECONDARY_MAGIC: &[u8; 6] = b"SKUL\xba\xbe";
/// The cipher the initializer formats with.
pub const CIPHER: &str = "aes-xts-plain64";
/// The volume key size in bytes (`--key-size 512` bits).
pub const KEY_SIZE_BYTES: u64 = 64;

/// Why a header is refused. Each names the first property that did not match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    #[error("the header is shorter than 8 bytes")]
    Truncated,
    #[error("the header does not start with the primary LUKS magic")]
    BadMagic,
    #[error("the header is LUKS version {0}, not 2")]
    BadVersion(u16),
    #[error("the JSON metadata does not parse as the expected LUKS2 layout: {0}")]
    Json(String),
    #[error("the header has {what}: {detail}")]
    Unexpected { what: &'static str, detail: String },
}

fn unexpected(what: &'static str, detail: impl Into<String>) -> HeaderError {
    HeaderError::Unexpected {
        what,
        detail: detail.into(),
    }
}

/// Checks the binary header at the start of a header backup.
pub fn verify_binary_header(header: &[u8]) -> Result<(), HeaderError> {
    let start = header.get(..8).ok_or(HeaderError::Truncated)?;
    if &start[..6] != LUKS_MAGIC {
        return Err(HeaderError::BadMagic);
    }
    let version = u16::from_be_bytes([start[6], start[7]]);
    if version != 2 {
        return Err(HeaderError::BadVersion(version));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    keyslots: BTreeMap<String, Keyslot>,
    tokens: BTreeMap<String, serde_json::Value>,
    segments: BTreeMap<String, Segment>,
    digests: BTreeMap<String, DigestEntry>,
    config: Config,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keyslot {
    #[serde(rename = "type")]
    kind: String,
    key_size: u64,
    af: Af,
    area: Area,
    kdf: Kdf,
    #[serde(default)]
    priority: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Af {
    #[serde(rename = "type")]
    kind: String,
    stripes: u64,
    hash: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Area {
    #[serde(rename = "type")]
    kind: String,
    offset: String,
    size: String,
    encryption: String,
    key_size: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Kdf {
    #[serde(rename = "type")]
    kind: String,
    time: u64,
    memory: u64,
    cpus: u64,
    salt: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Segment {
    #[serde(rename = "type")]
    kind: String,
    offset: String,
    size: String,
    iv_tweak: String,
    encryption: String,
    sector_size: u64,
    #[serde(default)]
    flags: Option<Vec<String>>,
    #[serde(default)]
    integrity: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DigestEntry {
    #[serde(rename = "type")]
    kind: String,
    keyslots: Vec<String>,
    segments: Vec<String>,
    hash: String,
    iterations: u64,
    salt: String,
    digest: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    json_size: String,
    keyslots_size: String,
    #[serde(default)]
    flags: Option<Vec<String>>,
    #[serde(default)]
    requirements: Option<serde_json::Value>,
}

fn expect_eq<T: PartialEq + std::fmt::Debug>(
    what: &'static str,
    actual: &T,
    expected: &T,
) -> Result<(), HeaderError> {
    if actual == expected {
        Ok(())
    } else {
        Err(unexpected(
            what,
            format!("{actual:?}, expected {expected:?}"),
        ))
    }
}

fn only<'a, V>(what: &'static str, map: &'a BTreeMap<String, V>) -> Result<&'a V, HeaderError> {
    match (map.len(), map.get("0")) {
        (1, Some(v)) => Ok(v),
        (n, _) => Err(unexpected(
            what,
            format!(
                "{n} entries {:?}; exactly one, \"0\", is allowed",
                map.keys().collect::<Vec<_>>()
            ),
        )),
    }
}

/// Verifies the JSON metadata of a LUKS2 header (see the module docs for what passes).
pub fn verify_json_metadata(json: &str) -> Result<(), HeaderError> {
    let meta: Metadata =
        serde_json::from_str(json).map_err(|e| HeaderError::Json(e.to_string()))?;

    let slot = only("keyslots", &meta.keyslots)?;
    expect_eq("a keyslot type", &slot.kind.as_str(), &"luks2")?;
    expect_eq("a keyslot key size", &slot.key_size, &KEY_SIZE_BYTES)?;
    expect_eq("a keyslot AF type", &slot.af.kind.as_str(), &"luks1")?;
    expect_eq("a keyslot AF stripe count", &slot.af.stripes, &4000)?;
    expect_eq("a keyslot AF hash", &slot.af.hash.as_str(), &"sha256")?;
    expect_eq("a keyslot area type", &slot.area.kind.as_str(), &"raw")?;
    expect_eq(
        "a keyslot area encryption",
        &slot.area.encryption.as_str(),
        &CIPHER,
    )?;
    expect_eq(
        "a keyslot area key size",
        &slot.area.key_size,
        &KEY_SIZE_BYTES,
    )?;
    expect_eq("a keyslot KDF", &slot.kdf.kind.as_str(), &"argon2id")?;
    if slot.kdf.salt.is_empty() {
        return Err(unexpected("a keyslot KDF salt", "empty"));
    }
    if slot.kdf.time == 0 || slot.kdf.memory == 0 || slot.kdf.cpus == 0 {
        return Err(unexpected("keyslot KDF costs", "a zero cost"));
    }
    let _ = (&slot.area.offset, &slot.area.size, slot.priority);

    if !meta.tokens.is_empty() {
        return Err(unexpected(
            "tokens",
            format!(
                "{:?}; none are allowed",
                meta.tokens.keys().collect::<Vec<_>>()
            ),
        ));
    }

    let segment = only("segments", &meta.segments)?;
    expect_eq("a segment type", &segment.kind.as_str(), &"crypt")?;
    expect_eq(
        "a segment encryption",
        &segment.encryption.as_str(),
        &CIPHER,
    )?;
    expect_eq("a segment IV tweak", &segment.iv_tweak.as_str(), &"0")?;
    if segment.flags.as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(unexpected("segment flags", format!("{:?}", segment.flags)));
    }
    if segment.integrity.is_some() {
        return Err(unexpected(
            "a segment integrity section",
            "the initializer does not use dm-integrity",
        ));
    }
    let _ = (&segment.offset, &segment.size, segment.sector_size);

    let digest = only("digests", &meta.digests)?;
    expect_eq("a digest type", &digest.kind.as_str(), &"pbkdf2")?;
    expect_eq("a digest hash", &digest.hash.as_str(), &"sha256")?;
    expect_eq("digest keyslots", &digest.keyslots, &vec!["0".to_string()])?;
    expect_eq("digest segments", &digest.segments, &vec!["0".to_string()])?;
    if digest.salt.is_empty() || digest.digest.is_empty() {
        return Err(unexpected("a digest", "an empty salt or digest"));
    }
    if digest.iterations == 0 {
        return Err(unexpected("a digest", "zero iterations"));
    }

    if meta.config.flags.as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(unexpected(
            "config flags",
            format!("{:?}", meta.config.flags),
        ));
    }
    if meta.config.requirements.is_some() {
        return Err(unexpected("config requirements", "none are allowed"));
    }
    let _ = (&meta.config.json_size, &meta.config.keyslots_size);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real `luksDump --dump-json-metadata` output of a volume formatted as the initializer
    /// formats it (cryptsetup 2.6.1). tests/tests/initializer/cryptsetup.rs checks a fresh one.
    pub const REAL: &str = r#"{"keyslots":{"0":{"type":"luks2","key_size":64,"af":{"type":"luks1","stripes":4000,"hash":"sha256"},"area":{"type":"raw","offset":"32768","size":"258048","encryption":"aes-xts-plain64","key_size":64},"kdf":{"type":"argon2id","time":15,"memory":65536,"cpus":2,"salt":"zPKR6KPwXxGXlJfmY6YL2AoFeLKs5GoE4eUTXZ8kNwA="}}},"tokens":{},"segments":{"0":{"type":"crypt","offset":"16777216","size":"dynamic","iv_tweak":"0","encryption":"aes-xts-plain64","sector_size":4096}},"digests":{"0":{"type":"pbkdf2","keyslots":["0"],"segments":["0"],"hash":"sha256","iterations":164870,"salt":"MT67QbeR5pImkjNYchabVbh7TFEnpNzYudLqmwR1JW4=","digest":"L2BFQUfEbYjfO6m3lRJfiSFDgfYcYdsNJkqfIplGsaw="}},"config":{"json_size":"12288","keyslots_size":"16744448"}}"#;

    #[test]
    fn accepts_the_real_header() {
        verify_json_metadata(REAL).unwrap();
    }

    #[test]
    fn binary_header() {
        let mut h = b"LUKS\xba\xbe\x00\x02rest".to_vec();
        verify_binary_header(&h).unwrap();
        h[..6].copy_from_slice(LUKS_SECONDARY_MAGIC);
        assert_eq!(verify_binary_header(&h), Err(HeaderError::BadMagic));
        let v4 = b"LUKS\xba\xbe\x00\x04".to_vec();
        assert_eq!(verify_binary_header(&v4), Err(HeaderError::BadVersion(4)));
        let v1 = b"LUKS\xba\xbe\x00\x01".to_vec();
        assert_eq!(verify_binary_header(&v1), Err(HeaderError::BadVersion(1)));
        assert_eq!(verify_binary_header(b"LUKS"), Err(HeaderError::Truncated));
    }
}
